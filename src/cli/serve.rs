//! `ringscan serve`: the scan server. Settings come from the built-in defaults, then
//! the config file, then these flags.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::server::config::{Config, LogFormat};

/// Arguments of `ringscan serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// TOML configuration file (every key: tuning/ringscan.toml).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database file or directory (repeatable); replaces `database.paths`. Without
    /// either, the built-in database.
    #[arg(long = "db", short = 'd', value_name = "PATH")]
    db: Vec<PathBuf>,
    /// UNIX socket path; "" disables it [default: ringscan.sock].
    #[arg(long, value_name = "PATH")]
    // OsString, not PathBuf: clap's PathBuf parser refuses the empty value that
    // switches a listener off.
    unix: Option<OsString>,
    /// TCP address; "" disables it [default: 127.0.0.1:3310].
    #[arg(long, value_name = "ADDR")]
    tcp: Option<String>,
    /// HTTP (KAV protocol) TCP address; "" disables it [default: 127.0.0.1:9999].
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    /// HTTP (KAV protocol) UNIX socket path; "" disables it [default: none].
    #[arg(long = "http-unix", value_name = "PATH")]
    http_unix: Option<OsString>,
    /// Executors, one per core [default: every CPU].
    #[arg(long, value_name = "N")]
    cores: Option<usize>,
    /// Allow path commands (SCAN, CONTSCAN, MULTISCAN, ALLMATCHSCAN) below this
    /// directory (repeatable; added to `clamd.allowed_roots`).
    #[arg(long = "allow-root", value_name = "DIR")]
    allow_root: Vec<PathBuf>,
    /// Allow KAV scanfile below this file or directory (repeatable; added to
    /// `http.scanning_paths`, KSE's ScanningPaths).
    #[arg(long = "scanning-path", value_name = "PATH")]
    scanning_path: Vec<PathBuf>,
    /// Do not read or write the compiled-database cache.
    #[arg(long)]
    no_cache: bool,
    /// Reload when database files change (clamd's SelfCheck).
    #[arg(long)]
    watch: bool,
}

/// A listener address from a flag; "" disables the listener.
fn parse_addr(flag: &str, text: &str) -> Result<Option<SocketAddr>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<SocketAddr>()
        .map(Some)
        .map_err(|e| format!("{flag} {text}: {e}"))
}

impl ServeArgs {
    /// The configuration: defaults, then the file, then the flags.
    fn config(&self) -> Result<Config, String> {
        let mut config = match &self.config {
            Some(path) => Config::load(path).map_err(|e| e.to_string())?,
            None => Config::default(),
        };
        if !self.db.is_empty() {
            config.database.paths = self.db.clone();
        }
        if let Some(unix) = &self.unix {
            config.server.unix_socket = (!unix.is_empty()).then(|| PathBuf::from(unix));
        }
        if let Some(tcp) = &self.tcp {
            config.server.tcp = parse_addr("--tcp", tcp)?;
        }
        if let Some(http) = &self.http {
            config.http.tcp = parse_addr("--http", http)?;
        }
        if let Some(unix) = &self.http_unix {
            config.http.unix_socket = (!unix.is_empty()).then(|| PathBuf::from(unix));
        }
        if let Some(cores) = self.cores {
            config.server.cores = cores;
        }
        config
            .clamd
            .allowed_roots
            .extend(self.allow_root.iter().cloned());
        config
            .http
            .scanning_paths
            .extend(self.scanning_path.iter().cloned());
        if self.no_cache {
            config.database.cache = false;
        }
        if self.watch {
            config.database.watch = true;
        }
        // Flags can break what the file had right (say, no listener left).
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// Runs the server; the exit code.
pub fn run(args: ServeArgs) -> u8 {
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ringscan serve: {e}");
            return 2;
        }
    };
    init_logging(&config);
    match crate::server::serve(config) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("ringscan serve: {e}");
            2
        }
    }
}

/// Logs to stderr: `RINGSCAN_LOG` if set, else the configured filter.
fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RINGSCAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.server.log));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter);
    match config.server.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
