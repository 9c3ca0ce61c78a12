//! The `ringscan` command line: argument definitions and dispatch. Each subcommand is
//! glue over the library in its own file; `main` maps outcomes to exit codes
//! (0 clean, 1 found, 2 error, as clamscan) and treats a closed stdout as success.

mod db_info;
mod scan;
mod serve;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::db::{default_cache_dir, LoadOptions};

/// ringscan: a malware scanner for ClamAV signature databases, on Hyperscan.
#[derive(Parser, Debug)]
#[command(name = "ringscan", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Scan files, directories or standard input (`-`); output like clamscan.
    Scan(scan::ScanArgs),
    /// Run the scan server (clamd protocol and KAV HTTP mode, on UNIX sockets and TCP).
    Serve(serve::ServeArgs),
    /// API tokens for the HTTP mode.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// Signature database tools.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Subcommand, Debug)]
enum DbCommand {
    /// Load databases and report counts, skipped signatures, compile time and memory.
    Info(db_info::InfoArgs),
}

/// Options shared by every command that loads databases.
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// Database file or directory (repeatable). Without it, the built-in database.
    #[arg(long = "db", short = 'd', value_name = "PATH")]
    pub db: Vec<PathBuf>,
    /// Fail when any signature would be skipped.
    #[arg(long)]
    pub strict: bool,
    /// Do not read or write the compiled-database cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Compiled-database cache directory [default: $RINGSCAN_CACHE_DIR,
    /// $XDG_CACHE_HOME/ringscan or ~/.cache/ringscan].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl DbArgs {
    fn load_options(&self, extra_paths: &[PathBuf]) -> LoadOptions {
        let mut paths = self.db.clone();
        paths.extend_from_slice(extra_paths);
        LoadOptions {
            paths,
            strict: self.strict,
            cache_dir: if self.no_cache {
                None
            } else {
                self.cache_dir.clone().or_else(default_cache_dir)
            },
        }
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        // The server sets up its own logging, from its configuration.
        Command::Serve(args) => serve::run(args),
        Command::Scan(args) => {
            init_logging();
            scan::run(args)
        }
        Command::Token { command } => token::run(command),
        Command::Db {
            command: DbCommand::Info(args),
        } => {
            init_logging();
            db_info::run(args)
        }
    };
    ExitCode::from(code)
}

/// Warnings and errors to stderr; `RINGSCAN_LOG` overrides the filter.
fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RINGSCAN_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
}

/// Whether an I/O error means the reader went away (`ringscan scan | head`).
fn is_broken_pipe(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}
