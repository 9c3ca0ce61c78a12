//! Configuration of `ringscan serve`: the `ringscan.toml` schema, its defaults, parsing and
//! validation.
//!
//! Precedence, lowest first: built-in defaults < configuration file < command-line flags.
//! This module provides the first two ([`Config::default`], [`Config::load`],
//! [`Config::from_toml_str`]). Flags are applied by the caller, which overwrites the public
//! fields of the loaded [`Config`] and then calls [`Config::validate`] again.
//!
//! `tuning/ringscan.toml` is the annotated example: every key, at its default, with the
//! clamd.conf option it corresponds to. An empty file is valid and means "all defaults".
//! Where clamd has the same option the default is clamd's (checked against clamd's
//! `common/optparser.c`, `libclamav/default.h` and `clamd/*.c`).
//!
//! Value forms:
//! - sizes: a byte count as an integer (`1048576`) or a string, or a string with a K, M or G
//!   suffix in either case (`"512K"`, `"100m"`, `"1G"`; powers of 1024), as in clamd.conf;
//! - durations: `"500ms"`, `"30s"`, `"2m"`, `"1h"`, or an integer (or digit-only string) that
//!   counts **seconds**, as clamd's `ReadTimeout` etc. do. `clamd.send_buf_timeout` and
//!   `limits.max_scan_time` correspond to options that clamd counts in milliseconds, so there
//!   a bare number other than 0 is refused and a unit is required;
//! - `""` switches off `server.unix_socket` and `server.tcp`, and means "the default location"
//!   for `database.cache_dir`.
//!
//! Errors ([`ConfigError`]) read `<file>: <section.key>: <reason>`, e.g.
//! `ringscan.toml: clamd.stream_max_length: expected a size like "100M", found "ten"`.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Smallest accepted `server.io_memory`; glommio rounds anything smaller up to this.
pub const MIN_IO_MEMORY: u64 = 64 * KIB;
/// Largest accepted `server.io_memory` (per executor; it is locked memory).
pub const MAX_IO_MEMORY: u64 = GIB;
/// Largest accepted `clamd.stream_max_length`: 4 GiB, as INSTREAM chunk lengths are `u32`.
pub const MAX_STREAM_MAX_LENGTH: u64 = 4 * GIB;
/// Largest accepted `limits.max_recursion`; clamd refuses more (`CLI_MAX_MAXRECLEVEL`).
pub const MAX_RECURSION_LIMIT: u32 = 100;
/// Largest accepted duration for any key (30 days): keeps `Instant + Duration` from
/// overflowing in timers.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Origin named in errors that do not come from a file ([`Config::from_toml_str`],
/// [`Config::validate`]).
const NO_FILE: &str = "config";

/// The whole configuration of `ringscan serve`: one field per TOML table.
///
/// `Deserialize` is derived so the structs document the schema, but read files with
/// [`Config::load`] or [`Config::from_toml_str`]: they name keys in errors and validate.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[server]`: listeners, executors, logging.
    pub server: ServerConfig,
    /// `[database]`: which signatures to load and how.
    pub database: DatabaseConfig,
    /// `[clamd]`: the clamd protocol front end.
    pub clamd: ClamdConfig,
    /// `[limits]`: per-scan resource limits.
    pub limits: Limits,
    /// `[http]`: Kaspersky Scan Engine's HTTP mode (KAV protocol v1, v2, v3).
    pub http: HttpConfig,
    /// `[formats]`: the format recognizer's settings.
    pub formats: FormatsConfig,
}

/// `[formats]`: the format recognizer's settings (KSE `FormatRecognizerSettings`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FormatsConfig {
    /// Formats not scanned at all, answered `NON_SCANNED (SKIPPED)`: short names
    /// (`jpeg`, `mp3`, `text`) or KSE's (`KAV_FF_IMAGE_JPEG`), case-insensitive. KSE
    /// `FormatsToSkipScanning`. Default none.
    pub skip: Vec<String>,
}

impl Config {
    /// The limits of one deep scan (`[limits]`, `[formats]`), with no deadline (the
    /// protocol sets it). Names in `formats.skip` were checked by validation.
    pub fn deep_limits(&self) -> crate::engine::DeepLimits {
        let mut limits = self.limits.deep();
        limits.skip_formats = self
            .formats
            .skip
            .iter()
            .filter_map(|name| crate::formats::Format::from_name(name))
            .collect();
        limits
    }
}

/// `[server]`: listeners, executors, logging.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Number of executors (pinned threads); 0 = one per CPU. Default 0. Checked against
    /// the CPUs available by the server, not here.
    pub cores: usize,
    /// Unix socket to listen on (relative = to the working directory); `None` (`""` in the
    /// file) disables it. clamd `LocalSocket`. Default `ringscan.sock`.
    #[serde(deserialize_with = "de::optional_path")]
    pub unix_socket: Option<PathBuf>,
    /// Permissions of the Unix socket, from an octal string such as `"660"`; at most 0o777.
    /// clamd `LocalSocketMode`; clamd without it chmods the socket to 0o666, the default here.
    #[serde(deserialize_with = "de::octal_mode")]
    pub unix_socket_mode: u32,
    /// TCP address to listen on; `None` (`""` in the file) disables it. clamd `TCPAddr` +
    /// `TCPSocket`. Default `127.0.0.1:3310` (clamd: TCP off unless `TCPSocket` is set).
    #[serde(deserialize_with = "de::optional_socket_addr")]
    pub tcp: Option<SocketAddr>,
    /// Open client connections allowed over all executors; further accepts are answered
    /// with an error and closed. At least 1. Default 10000.
    pub max_connections: usize,
    /// Bytes of registered I/O buffers per glommio executor, [`MIN_IO_MEMORY`] to
    /// [`MAX_IO_MEMORY`]. Counts against `RLIMIT_MEMLOCK`. Default 512 KiB.
    #[serde(deserialize_with = "de::size")]
    pub io_memory: u64,
    /// How long SHUTDOWN or SIGTERM waits for requests in flight; 0 = do not wait.
    /// Default 30 s.
    #[serde(deserialize_with = "de::duration")]
    pub shutdown_grace: Duration,
    /// `tracing` filter directives, e.g. `info,ringscan::server=debug`; not empty. Their
    /// syntax is checked when the subscriber is installed. Default `info`.
    pub log: String,
    /// Log line format. Default [`LogFormat::Text`].
    pub log_format: LogFormat,
}

/// Format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (`"text"`).
    #[default]
    Text,
    /// One JSON object per line (`"json"`).
    Json,
}

/// `[database]`: which signatures to load and how.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Files or directories of ClamAV databases; empty = the built-in set. clamd
    /// `DatabaseDirectory` (one directory there). Default empty.
    pub paths: Vec<PathBuf>,
    /// Treat any skipped (unsupported) signature as an error. Default false.
    pub strict: bool,
    /// Reuse compiled Hyperscan databases from the cache directory. Default true.
    pub cache: bool,
    /// Cache directory; `None` (`""` in the file) = `$RINGSCAN_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/ringscan`, else `~/.cache/ringscan`. Default `None`.
    #[serde(deserialize_with = "de::optional_path")]
    pub cache_dir: Option<PathBuf>,
    /// Poll `paths` and reload when they change. clamd `SelfCheck` (there always on).
    /// Default false.
    pub watch: bool,
    /// Poll interval for `watch`, 1 s to [`MAX_DURATION`]. clamd `SelfCheck` (600 s).
    #[serde(deserialize_with = "de::duration")]
    pub watch_interval: Duration,
}

/// `[clamd]`: the clamd protocol front end.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClamdConfig {
    /// Absolute directories below which the path commands (SCAN, CONTSCAN, MULTISCAN,
    /// ALLMATCHSCAN) may read; empty = path commands are denied. No clamd equivalent
    /// (clamd reads anything its user can). Default empty.
    pub allowed_roots: Vec<PathBuf>,
    /// INSTREAM quota in bytes, 1 to [`MAX_STREAM_MAX_LENGTH`]. clamd `StreamMaxLength`
    /// (100M).
    #[serde(deserialize_with = "de::size")]
    pub stream_max_length: u64,
    /// Time allowed for the first command after connecting. clamd `CommandReadTimeout` (30 s).
    #[serde(deserialize_with = "de::duration")]
    pub command_read_timeout: Duration,
    /// Time allowed between pieces of INSTREAM data. clamd `ReadTimeout` (120 s).
    #[serde(deserialize_with = "de::duration")]
    pub read_timeout: Duration,
    /// Time an IDSESSION may wait for its next command. clamd `IdleTimeout` (30 s).
    #[serde(deserialize_with = "de::duration")]
    pub idle_timeout: Duration,
    /// Time a reply may wait on a full socket send buffer. clamd `SendBufTimeout`
    /// (500 ms; clamd counts milliseconds, so the file needs a unit).
    #[serde(deserialize_with = "de::duration_with_unit")]
    pub send_buf_timeout: Duration,
    /// Allow RELOAD. clamd `EnableReloadCommand` (yes).
    pub enable_reload_command: bool,
    /// Allow SHUTDOWN / QUIT. clamd `EnableShutdownCommand` (yes).
    pub enable_shutdown_command: bool,
    /// Allow VERSION. clamd `EnableVersionCommand` (yes).
    pub enable_version_command: bool,
    /// Allow STATS. clamd `EnableStatsCommand` (yes).
    pub enable_stats_command: bool,
    /// Allow ALLMATCHSCAN. clamd `AllowAllMatchScan` (yes).
    pub allow_all_match_scan: bool,
    /// Reply `Name(md5:size) FOUND` instead of `Name FOUND`. clamd `ExtendedDetectionInfo`
    /// (no).
    pub extended_detection_info: bool,
    /// Follow symlinks to regular files in path commands. clamd `FollowFileSymlinks` (no).
    pub follow_file_symlinks: bool,
    /// Follow symlinks to directories in path commands. clamd `FollowDirectorySymlinks` (no).
    pub follow_directory_symlinks: bool,
    /// Deepest directory level scanned by path commands; 0 = no limit, as in clamd.
    /// clamd `MaxDirectoryRecursion` (15).
    pub max_directory_recursion: u32,
}

/// `[limits]`: per-scan resource limits. As in clamd, 0 disables a limit, except
/// `max_recursion`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Bytes scanned per input, contents of containers included; 0 = no limit. clamd
    /// `MaxScanSize` (400M).
    #[serde(deserialize_with = "de::size")]
    pub max_scan_size: u64,
    /// Largest file (the input or one inside it) scanned; 0 = no limit. clamd
    /// `MaxFileSize` (100M).
    #[serde(deserialize_with = "de::size")]
    pub max_file_size: u64,
    /// Container nesting depth, 1 to [`MAX_RECURSION_LIMIT`] (clamd refuses 0 and more
    /// than 100). clamd `MaxRecursion` (17).
    pub max_recursion: u32,
    /// Files scanned per container; 0 = no limit. clamd `MaxFiles` (10000).
    pub max_files: u32,
    /// Time one scan may take; 0 = no limit. clamd `MaxScanTime` (120000 ms; clamd counts
    /// milliseconds, so the file needs a unit).
    #[serde(deserialize_with = "de::duration_with_unit")]
    pub max_scan_time: Duration,
    /// Largest decoded/encoded size ratio of a sub-object over 1 MiB (the guard against
    /// decompression bombs such as 42.zip); 0 = no guard. clamd has no such option (it
    /// relies on `MaxScanSize`); 250 leaves room for text and sparse data.
    pub max_compression_ratio: u64,
}

impl Limits {
    /// The limits of one deep scan, with no deadline (the protocol sets it).
    pub fn deep(&self) -> crate::engine::DeepLimits {
        crate::engine::DeepLimits {
            max_file_size: self.max_file_size,
            max_scan_size: self.max_scan_size,
            max_recursion: self.max_recursion,
            max_files: self.max_files,
            max_ratio: self.max_compression_ratio,
            deadline: None,
            skip_formats: Vec::new(),
        }
    }
}

/// `[http]`: Kaspersky Scan Engine's HTTP mode (KAV protocol v1, v2 and v3), served by
/// the same cores as the clamd protocol. Each key names its `kavhttpd.xml` element.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// TCP address; `None` (`""` in the file) disables it. KSE `ConnectionString`
    /// (`http://ip:port`, or `https://` when `tls_certificate` is set). Default
    /// `127.0.0.1:9999`, the port rspamd's and KSE's Windows defaults use.
    #[serde(deserialize_with = "de::optional_socket_addr")]
    pub tcp: Option<SocketAddr>,
    /// UNIX socket; `None` (`""`) disables it. KSE `ConnectionString` `/tmp/.kavhttpd`.
    /// Default `None`.
    #[serde(deserialize_with = "de::optional_path")]
    pub unix_socket: Option<PathBuf>,
    /// Permissions of the UNIX socket, an octal string. Default `"666"`.
    #[serde(deserialize_with = "de::octal_mode")]
    pub unix_socket_mode: u32,
    /// HTTP sessions (connections) open at once over all cores; more wait in the
    /// backlog. KSE `MaxHTTPSessionsNum` (10 there; a thread-per-core server holds
    /// many more). Default 1000.
    pub max_sessions: usize,
    /// listen(2) backlog of the HTTP listeners. KSE `MaxIncomingConnectionsNum` (100).
    /// Default 1024.
    pub backlog: u32,
    /// Largest request, header and body, in bytes; more is answered 413. KSE
    /// `MaxTCPFileSize` (104857600).
    #[serde(deserialize_with = "de::size")]
    pub max_request_size: u64,
    /// Largest request head (request line and headers); more is answered 431.
    /// Default 16K (no KSE equivalent).
    #[serde(deserialize_with = "de::size")]
    pub max_header_size: u64,
    /// Time to receive a request once its first byte arrived, and to send the answer;
    /// over it while receiving: 408 `{"error": "Session Timeout"}`. KSE
    /// `SessionTimeout` (1000 ms there, which fails uploads of a few MB on slow links).
    /// Default 30 s.
    #[serde(deserialize_with = "de::duration")]
    pub session_timeout: Duration,
    /// Keep connections open between requests. KSE `KeepAliveSettings/Enabled` (1).
    pub keep_alive: bool,
    /// How long an idle connection waits for its next request (and for its first one,
    /// and for a TLS handshake). KSE `KeepAliveSettings/TimeoutMs` (5000).
    #[serde(deserialize_with = "de::duration")]
    pub keep_alive_timeout: Duration,
    /// Requests per connection; the last answer says `Connection: close`; 0 = no
    /// limit. KSE `KeepAliveSettings/MaxRequests` (1000).
    pub keep_alive_max_requests: u64,
    /// Origin allowed by CORS (`Access-Control-Allow-Origin`); `""` = CORS off. KSE
    /// `CORS/AccessControlAllowOrigin`. Default off.
    pub cors_allow_origin: String,
    /// PEM certificate chain; with `tls_key`, the TCP listener speaks HTTPS only. KSE
    /// `TlsCertificateFile`. Default none.
    #[serde(deserialize_with = "de::optional_path")]
    pub tls_certificate: Option<PathBuf>,
    /// PEM private key of `tls_certificate`. KSE `TlsCertificateKeyFile`.
    #[serde(deserialize_with = "de::optional_path")]
    pub tls_key: Option<PathBuf>,
    /// Absolute files or directories that `scanfile` may read; empty = scanfile is
    /// refused. KSE `DirectorySettings/ScanningPaths`. Default empty.
    pub scanning_paths: Vec<PathBuf>,
    /// `[http.auth]`: API tokens.
    pub auth: HttpAuthConfig,
}

/// `[http.auth]`: API tokens (KSE `AuthSettings`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpAuthConfig {
    /// Require a token on every request. KSE `UseAccessToken` (0).
    pub enabled: bool,
    /// Header carrying the token. KSE `AuthRequestField` (`Authorization`).
    pub header: String,
    /// The header value is `Bearer <token>` rather than the bare token. KSE
    /// `UseBearerAuthScheme` (1).
    pub bearer: bool,
    /// Accepted tokens, as `sha256:<hex>` hashes (`ringscan token new` prints one);
    /// the tokens themselves are never stored. KSE `AccessTokens` (stored in clear there).
    pub tokens: Vec<String>,
    /// Accept tokens on plain (non-TLS) TCP. Off, the server refuses to start with
    /// tokens on and a plain TCP listener, since the tokens would cross the network in
    /// clear. UNIX sockets are local and always allowed. Default false.
    pub allow_plain_tcp: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            tcp: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 9999))),
            unix_socket: None,
            unix_socket_mode: 0o666,
            max_sessions: 1000,
            backlog: 1024,
            max_request_size: 100 * MIB,
            max_header_size: 16 * KIB,
            session_timeout: Duration::from_secs(30),
            keep_alive: true,
            keep_alive_timeout: Duration::from_millis(5000),
            keep_alive_max_requests: 1000,
            cors_allow_origin: String::new(),
            tls_certificate: None,
            tls_key: None,
            scanning_paths: Vec::new(),
            auth: HttpAuthConfig::default(),
        }
    }
}

impl Default for HttpAuthConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            header: "Authorization".to_owned(),
            bearer: true,
            tokens: Vec::new(),
            allow_plain_tcp: false,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            cores: 0,
            unix_socket: Some(PathBuf::from("ringscan.sock")),
            unix_socket_mode: 0o666,
            tcp: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 3310))),
            max_connections: 10_000,
            io_memory: 512 * KIB,
            shutdown_grace: Duration::from_secs(30),
            log: "info".to_owned(),
            log_format: LogFormat::Text,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            paths: Vec::new(),
            strict: false,
            cache: true,
            cache_dir: None,
            watch: false,
            watch_interval: Duration::from_secs(600),
        }
    }
}

impl Default for ClamdConfig {
    fn default() -> Self {
        Self {
            allowed_roots: Vec::new(),
            stream_max_length: 100 * MIB,
            command_read_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(30),
            send_buf_timeout: Duration::from_millis(500),
            enable_reload_command: true,
            enable_shutdown_command: true,
            enable_version_command: true,
            enable_stats_command: true,
            allow_all_match_scan: true,
            extended_detection_info: false,
            follow_file_symlinks: false,
            follow_directory_symlinks: false,
            max_directory_recursion: 15,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_scan_size: 400 * MIB,
            max_file_size: 100 * MIB,
            max_recursion: 17,
            max_files: 10_000,
            max_scan_time: Duration::from_secs(120),
            max_compression_ratio: 250,
        }
    }
}

/// Why a configuration was refused. Display: `<file>: <section.key>: <reason>`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file, as given.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML.
    #[error("{origin}: line {line}, column {column}: invalid TOML: {message}")]
    Syntax {
        /// The file, or `config` for text not read from a file.
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in characters) of the error.
        column: usize,
        /// What the TOML parser expected.
        message: String,
    },
    /// A key is unknown, has a value of the wrong form, or is out of bounds.
    #[error("{origin}: {key}: {reason}")]
    Invalid {
        /// The file, or `config` for text not read from a file or for [`Config::validate`].
        origin: String,
        /// Dotted key, e.g. `clamd.stream_max_length` (a table name for table-wide errors).
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl ConfigError {
    /// The dotted key the error is about, if it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }

    fn invalid(origin: &str, key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            origin: origin.to_owned(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl Config {
    /// Parses and validates a configuration; keys absent from `text` keep their defaults.
    /// Errors name the origin `config`.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Self::parse(text, NO_FILE)
    }

    /// Reads, parses and validates the configuration file at `path`; errors name `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: origin.clone(),
            source,
        })?;
        Self::parse(&text, &origin)
    }

    /// Checks the bounds of every field and that at least one listener is configured. Call
    /// it again after applying command-line flags; errors name the origin `config`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check(NO_FILE)
    }

    fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| syntax_error(origin, text, &e))?;
        let mut config = Config::default();
        for (name, value) in table {
            match name.as_str() {
                "server" => config.server = section(origin, &name, value)?,
                "database" => config.database = section(origin, &name, value)?,
                "clamd" => config.clamd = section(origin, &name, value)?,
                "limits" => config.limits = section(origin, &name, value)?,
                "http" => config.http = section(origin, &name, value)?,
                "formats" => config.formats = section(origin, &name, value)?,
                _ => return Err(unknown_top_level(origin, &name)),
            }
        }
        config.check(origin)?;
        Ok(config)
    }

    fn check(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: String| Err(ConfigError::invalid(origin, key, reason));
        let (s, d, c, l) = (&self.server, &self.database, &self.clamd, &self.limits);

        let h = &self.http;
        if s.unix_socket.is_none() && s.tcp.is_none() && h.tcp.is_none() && h.unix_socket.is_none()
        {
            return bad(
                "server",
                "no listener: server.unix_socket, server.tcp, http.tcp and http.unix_socket \
                 are all disabled"
                    .into(),
            );
        }
        if s.unix_socket
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return bad("server.unix_socket", "must not be an empty path".into());
        }
        if s.unix_socket_mode > 0o777 {
            return bad(
                "server.unix_socket_mode",
                format!(
                    "must be at most 777 (octal), found {:o}",
                    s.unix_socket_mode
                ),
            );
        }
        if s.max_connections == 0 {
            return bad(
                "server.max_connections",
                "must be at least 1, found 0".into(),
            );
        }
        if !(MIN_IO_MEMORY..=MAX_IO_MEMORY).contains(&s.io_memory) {
            return bad(
                "server.io_memory",
                format!(
                    "must be from {} to {}, found {}",
                    fmt_size(MIN_IO_MEMORY),
                    fmt_size(MAX_IO_MEMORY),
                    fmt_size(s.io_memory)
                ),
            );
        }
        check_duration(origin, "server.shutdown_grace", s.shutdown_grace, false)?;
        if s.log.trim().is_empty() {
            return bad("server.log", "must not be empty (e.g. \"info\")".into());
        }

        if d.paths.iter().any(|p| p.as_os_str().is_empty()) {
            return bad("database.paths", "must not contain an empty path".into());
        }
        if d.cache_dir
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return bad("database.cache_dir", "must not be an empty path".into());
        }
        check_duration(origin, "database.watch_interval", d.watch_interval, true)?;
        if d.watch_interval < Duration::from_secs(1) {
            return bad(
                "database.watch_interval",
                format!(
                    "must be at least 1s, found {}",
                    fmt_duration(d.watch_interval)
                ),
            );
        }

        if let Some(root) = c.allowed_roots.iter().find(|p| !p.is_absolute()) {
            return bad(
                "clamd.allowed_roots",
                format!(
                    "must hold absolute directories, found {:?}",
                    root.display().to_string()
                ),
            );
        }
        if !(1..=MAX_STREAM_MAX_LENGTH).contains(&c.stream_max_length) {
            return bad(
                "clamd.stream_max_length",
                format!(
                    "must be from 1 to {}, found {}",
                    fmt_size(MAX_STREAM_MAX_LENGTH),
                    fmt_size(c.stream_max_length)
                ),
            );
        }
        check_duration(
            origin,
            "clamd.command_read_timeout",
            c.command_read_timeout,
            true,
        )?;
        check_duration(origin, "clamd.read_timeout", c.read_timeout, true)?;
        check_duration(origin, "clamd.idle_timeout", c.idle_timeout, true)?;
        check_duration(origin, "clamd.send_buf_timeout", c.send_buf_timeout, true)?;

        if !(1..=MAX_RECURSION_LIMIT).contains(&l.max_recursion) {
            return bad(
                "limits.max_recursion",
                format!(
                    "must be from 1 to {MAX_RECURSION_LIMIT}, found {}",
                    l.max_recursion
                ),
            );
        }
        check_duration(origin, "limits.max_scan_time", l.max_scan_time, false)?;
        for name in &self.formats.skip {
            if crate::formats::Format::from_name(name).is_none() {
                return bad(
                    "formats.skip",
                    format!("unknown format {name:?} (a short name like \"jpeg\" or a KSE name like \"KAV_FF_IMAGE_JPEG\")"),
                );
            }
        }
        self.check_http(origin)
    }

    fn check_http(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: String| Err(ConfigError::invalid(origin, key, reason));
        let h = &self.http;
        if h.unix_socket
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return bad("http.unix_socket", "must not be an empty path".into());
        }
        if h.unix_socket.is_some() && h.unix_socket == self.server.unix_socket {
            return bad(
                "http.unix_socket",
                "must differ from server.unix_socket".into(),
            );
        }
        if h.tcp.is_some() && h.tcp == self.server.tcp {
            return bad("http.tcp", "must differ from server.tcp".into());
        }
        if h.unix_socket_mode > 0o777 {
            return bad(
                "http.unix_socket_mode",
                format!(
                    "must be at most 777 (octal), found {:o}",
                    h.unix_socket_mode
                ),
            );
        }
        if h.max_sessions == 0 {
            return bad("http.max_sessions", "must be at least 1, found 0".into());
        }
        if h.backlog == 0 {
            return bad("http.backlog", "must be at least 1, found 0".into());
        }
        if h.max_request_size == 0 {
            return bad("http.max_request_size", "must be more than 0".into());
        }
        if !(1024..=MIB).contains(&h.max_header_size) {
            return bad(
                "http.max_header_size",
                format!(
                    "must be from 1K to 1M, found {}",
                    fmt_size(h.max_header_size)
                ),
            );
        }
        check_duration(origin, "http.session_timeout", h.session_timeout, true)?;
        check_duration(
            origin,
            "http.keep_alive_timeout",
            h.keep_alive_timeout,
            true,
        )?;
        if h.tls_certificate.is_some() != h.tls_key.is_some() {
            return bad(
                "http.tls_certificate",
                "tls_certificate and tls_key go together: set both or neither".into(),
            );
        }
        if let Some(path) = h.scanning_paths.iter().find(|p| !p.is_absolute()) {
            return bad(
                "http.scanning_paths",
                format!(
                    "must hold absolute paths, found {:?}",
                    path.display().to_string()
                ),
            );
        }
        let a = &h.auth;
        if a.header.is_empty() || !a.header.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return bad(
                "http.auth.header",
                format!("must be an HTTP header name, found {:?}", a.header),
            );
        }
        if let Some(t) = a
            .tokens
            .iter()
            .find(|t| t.parse::<crate::proto::kav::auth::TokenHash>().is_err())
        {
            return bad(
                "http.auth.tokens",
                format!(
                    "expected \"sha256:<64 hex digits>\" as printed by `ringscan token new`, found {t:?}"
                ),
            );
        }
        if a.enabled && a.tokens.is_empty() {
            return bad(
                "http.auth.tokens",
                "auth is enabled but no token is configured; add one from `ringscan token new`"
                    .into(),
            );
        }
        if a.enabled && h.tcp.is_some() && h.tls_certificate.is_none() && !a.allow_plain_tcp {
            return bad(
                "http.auth.enabled",
                "tokens would cross the network in clear on the plain TCP listener: set \
                 http.tls_certificate and http.tls_key, or http.auth.allow_plain_tcp = true"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Checks `value <= MAX_DURATION` and, when `positive`, `value > 0`.
fn check_duration(
    origin: &str,
    key: &str,
    value: Duration,
    positive: bool,
) -> Result<(), ConfigError> {
    if positive && value.is_zero() {
        return Err(ConfigError::invalid(
            origin,
            key,
            "must be more than 0, found 0s",
        ));
    }
    if value > MAX_DURATION {
        return Err(ConfigError::invalid(
            origin,
            key,
            format!(
                "must be at most {}, found {}",
                fmt_duration(MAX_DURATION),
                fmt_duration(value)
            ),
        ));
    }
    Ok(())
}

/// Deserializes one table, key by key first so that errors name the key.
fn section<T: DeserializeOwned>(
    origin: &str,
    name: &str,
    value: toml::Value,
) -> Result<T, ConfigError> {
    let toml::Value::Table(table) = value else {
        return Err(ConfigError::invalid(
            origin,
            name,
            format!("expected a table [{name}], found {}", describe(&value)),
        ));
    };
    let known = fields::of::<T>();
    for (key, value) in &table {
        let dotted = format!("{name}.{key}");
        if !known.contains(&key.as_str()) {
            return Err(ConfigError::invalid(
                origin,
                dotted,
                format!("unknown key (known: {})", known.join(", ")),
            ));
        }
        let mut one = toml::Table::new();
        one.insert(key.clone(), value.clone());
        T::deserialize(toml::Value::Table(one))
            .map_err(|e| ConfigError::invalid(origin, dotted, reason(e.message(), value)))?;
    }
    // Every key deserialized alone; this only fails on errors that need the whole table.
    T::deserialize(toml::Value::Table(table))
        .map_err(|e| ConfigError::invalid(origin, name, e.message().to_owned()))
}

fn unknown_top_level(origin: &str, name: &str) -> ConfigError {
    let sections = fields::of::<Config>();
    let owners: [(&str, &[&str]); 5] = [
        ("server", fields::of::<ServerConfig>()),
        ("database", fields::of::<DatabaseConfig>()),
        ("clamd", fields::of::<ClamdConfig>()),
        ("limits", fields::of::<Limits>()),
        ("http", fields::of::<HttpConfig>()),
    ];
    let reason = match owners.iter().find(|(_, keys)| keys.contains(&name)) {
        Some((owner, _)) => format!(
            "unknown top-level key; it belongs in the [{owner}] table (known tables: {})",
            sections.join(", ")
        ),
        None => format!("unknown key (known: {})", sections.join(", ")),
    };
    ConfigError::invalid(origin, name, reason)
}

fn syntax_error(origin: &str, text: &str, error: &toml::de::Error) -> ConfigError {
    let at = error.span().map_or(0, |span| span.start).min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let message = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    ConfigError::Syntax {
        origin: origin.to_owned(),
        line,
        column,
        message,
    }
}

/// Rewrites serde's "invalid type/value: X, expected Y" as "expected Y, found <raw value>".
fn reason(message: &str, raw: &toml::Value) -> String {
    let rest = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "));
    let Some((found, expected)) = rest.and_then(|r| r.rsplit_once(", expected ")) else {
        return message.to_owned();
    };
    let expected = match expected {
        "usize" | "u64" => "a non-negative integer",
        "u32" => "an integer from 0 to 4294967295",
        "a sequence" => "an array",
        "path string" => "a path string",
        other => other,
    };
    let found = match raw {
        // The error may be about one element; serde's description is the precise one.
        toml::Value::Array(_) | toml::Value::Table(_) => found.to_owned(),
        _ => describe(raw),
    };
    format!("expected {expected}, found {found}")
}

fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => format!("the date-time {d}"),
        toml::Value::Array(_) => "an array".to_owned(),
        toml::Value::Table(_) => "a table".to_owned(),
    }
}

const SIZE_EXPECTED: &str = "a size like \"100M\"";
const DURATION_EXPECTED: &str = "a duration like \"30s\", \"500ms\" or \"2m\"";
const MS_DURATION_EXPECTED: &str = "a duration with a unit like \"120000ms\" or \"120s\" \
     (the clamd option counts milliseconds, so a bare number is ambiguous)";

/// Parses a size: digits, optionally followed by K, M or G (either case, powers of 1024).
/// The error is a reason such as `expected a size like "100M", found "ten"`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("expected {SIZE_EXPECTED}, found {text:?}");
    let (digits, multiplier) = match text.as_bytes().last() {
        Some(b'k' | b'K') => (&text[..text.len() - 1], KIB),
        Some(b'm' | b'M') => (&text[..text.len() - 1], MIB),
        Some(b'g' | b'G') => (&text[..text.len() - 1], GIB),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Parses a duration: digits followed by `ms`, `s`, `m` or `h`, or digits alone (seconds).
/// The error is a reason such as `expected a duration like "30s", ..., found "soon"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_duration_inner(text, false)
}

fn parse_duration_inner(text: &str, unit_required: bool) -> Result<Duration, String> {
    let expected = if unit_required {
        MS_DURATION_EXPECTED
    } else {
        DURATION_EXPECTED
    };
    let bad = || format!("expected {expected}, found {text:?}");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(bad());
    }
    let too_large = || format!("{text:?} is too large");
    let n: u64 = digits.parse().map_err(|_| too_large())?;
    let seconds = |factor: u64| {
        n.checked_mul(factor)
            .map(Duration::from_secs)
            .ok_or_else(too_large)
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(3600),
        "" if !unit_required || n == 0 => seconds(1),
        _ => Err(bad()),
    }
}

fn fmt_size(bytes: u64) -> String {
    for (unit, suffix) in [(GIB, "G"), (MIB, "M"), (KIB, "K")] {
        if bytes >= unit && bytes & (unit - 1) == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// `deserialize_with` helpers; their messages become the reasons of [`ConfigError`].
mod de {
    use super::*;
    use serde::de::{Error, Unexpected, Visitor};
    use serde::Deserializer;

    struct SizeVisitor;

    impl Visitor<'_> for SizeVisitor {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(SIZE_EXPECTED)
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<u64, E> {
            parse_size(v).map_err(E::custom)
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
        }
    }

    /// A size in bytes: integer, or string with optional K/M/G suffix.
    pub(super) fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(SizeVisitor)
    }

    struct DurationVisitor {
        unit_required: bool,
    }

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(if self.unit_required {
                MS_DURATION_EXPECTED
            } else {
                DURATION_EXPECTED
            })
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<Duration, E> {
            parse_duration_inner(v, self.unit_required).map_err(E::custom)
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<Duration, E> {
            if self.unit_required && v != 0 {
                return Err(E::invalid_value(Unexpected::Unsigned(v), &self));
            }
            Ok(Duration::from_secs(v))
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<Duration, E> {
            match u64::try_from(v) {
                Ok(v) => self.visit_u64(v),
                Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
            }
        }
    }

    /// A duration; a bare integer counts seconds.
    pub(super) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor {
            unit_required: false,
        })
    }

    /// A duration for an option clamd counts in milliseconds: a unit is required (except 0).
    pub(super) fn duration_with_unit<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor {
            unit_required: true,
        })
    }

    /// A path, `""` = `None`.
    pub(super) fn optional_path<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<PathBuf>, D::Error> {
        let s = String::deserialize(d)?;
        Ok((!s.is_empty()).then(|| PathBuf::from(s)))
    }

    /// A socket address such as `127.0.0.1:3310` or `[::1]:3310`, `""` = `None`.
    pub(super) fn optional_socket_addr<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SocketAddr>, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Ok(None);
        }
        s.parse().map(Some).map_err(|_| {
            D::Error::custom(format!(
                "expected an address like \"127.0.0.1:3310\" or \"[::1]:3310\", \
                 or \"\" to disable, found {s:?}"
            ))
        })
    }

    struct ModeVisitor;

    impl Visitor<'_> for ModeVisitor {
        type Value = u32;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an octal mode as a string, like \"660\"")
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<u32, E> {
            let octal =
                !v.is_empty() && v.len() <= 4 && v.bytes().all(|b| (b'0'..=b'7').contains(&b));
            match u32::from_str_radix(v, 8) {
                Ok(mode) if octal && mode <= 0o777 => Ok(mode),
                _ => Err(E::custom(format!(
                    "expected an octal mode from \"000\" to \"777\", like \"660\", found {v:?}"
                ))),
            }
        }
    }

    /// A Unix permission mode written as an octal string.
    pub(super) fn octal_mode<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        d.deserialize_any(ModeVisitor)
    }
}

/// The field names of a `#[derive(Deserialize)]` struct, read from what it passes to
/// `deserialize_struct`, so the "known keys" lists cannot drift from the structs.
mod fields {
    use serde::de::{self, Deserialize, Visitor};
    use std::fmt;

    #[derive(Debug)]
    struct Fields(&'static [&'static str]);

    impl fmt::Display for Fields {
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("field probe")
        }
    }

    impl std::error::Error for Fields {}

    impl de::Error for Fields {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Fields(&[])
        }
    }

    struct Probe;

    impl<'de> de::Deserializer<'de> for Probe {
        type Error = Fields;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
            Err(Fields(&[]))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Fields> {
            Err(Fields(fields))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    /// Field names of `T`, in declaration order; empty if `T` is not a struct.
    pub(super) fn of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
        match T::deserialize(Probe) {
            Err(Fields(fields)) => fields,
            Ok(_) => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../tuning/ringscan.toml");

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "ringscan.toml")
    }

    fn err(text: &str) -> String {
        parse(text).expect_err(text).to_string()
    }

    fn key_of(text: &str) -> String {
        parse(text)
            .expect_err(text)
            .key()
            .expect("an Invalid error")
            .to_owned()
    }

    #[test]
    fn defaults_match_clamd() {
        let c = Config::default();
        assert_eq!(c.server.cores, 0);
        assert_eq!(c.server.unix_socket, Some(PathBuf::from("ringscan.sock")));
        assert_eq!(c.server.unix_socket_mode, 0o666);
        assert_eq!(c.server.tcp, Some("127.0.0.1:3310".parse().unwrap()));
        assert_eq!(c.server.max_connections, 10_000);
        assert_eq!(c.server.io_memory, 512 * 1024);
        assert_eq!(c.server.shutdown_grace, Duration::from_secs(30));
        assert_eq!(c.server.log, "info");
        assert_eq!(c.server.log_format, LogFormat::Text);
        assert!(c.database.paths.is_empty());
        assert!(!c.database.strict && c.database.cache && !c.database.watch);
        assert_eq!(c.database.cache_dir, None);
        assert_eq!(c.database.watch_interval, Duration::from_secs(600));
        assert!(c.clamd.allowed_roots.is_empty());
        assert_eq!(c.clamd.stream_max_length, 100 << 20);
        assert_eq!(c.clamd.command_read_timeout, Duration::from_secs(30));
        assert_eq!(c.clamd.read_timeout, Duration::from_secs(120));
        assert_eq!(c.clamd.idle_timeout, Duration::from_secs(30));
        assert_eq!(c.clamd.send_buf_timeout, Duration::from_millis(500));
        assert!(c.clamd.enable_reload_command && c.clamd.enable_shutdown_command);
        assert!(c.clamd.enable_version_command && c.clamd.enable_stats_command);
        assert!(c.clamd.allow_all_match_scan);
        assert!(!c.clamd.extended_detection_info);
        assert!(!c.clamd.follow_file_symlinks && !c.clamd.follow_directory_symlinks);
        assert_eq!(c.clamd.max_directory_recursion, 15);
        assert_eq!(c.limits.max_scan_size, 400 << 20);
        assert_eq!(c.limits.max_file_size, 100 << 20);
        assert_eq!(c.limits.max_recursion, 17);
        assert_eq!(c.limits.max_files, 10_000);
        assert_eq!(c.limits.max_scan_time, Duration::from_millis(120_000));
        c.validate().unwrap();
    }

    #[test]
    fn empty_and_comment_only_files_are_defaults() {
        assert_eq!(Config::from_toml_str("").unwrap(), Config::default());
        assert_eq!(
            Config::from_toml_str("# nothing\n\n[server]\n[limits]\n").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn example_file_is_the_defaults() {
        assert_eq!(parse(EXAMPLE).unwrap(), Config::default());
    }

    #[test]
    fn example_file_has_every_key() {
        let table: toml::Table = toml::from_str(EXAMPLE).unwrap();
        let sections: [(&str, &[&str]); 6] = [
            ("server", fields::of::<ServerConfig>()),
            ("database", fields::of::<DatabaseConfig>()),
            ("clamd", fields::of::<ClamdConfig>()),
            ("limits", fields::of::<Limits>()),
            ("http", fields::of::<HttpConfig>()),
            ("formats", fields::of::<FormatsConfig>()),
        ];
        assert_eq!(fields::of::<Config>().len(), sections.len());
        for (name, keys) in sections {
            let section = table[name].as_table().unwrap();
            assert_eq!(section.len(), keys.len(), "[{name}]");
            for key in keys {
                assert!(section.contains_key(*key), "{name}.{key} missing");
            }
        }
    }

    #[test]
    fn field_probe_reads_struct_fields() {
        let server = fields::of::<ServerConfig>();
        assert_eq!(server.first(), Some(&"cores"));
        assert!(server.contains(&"log_format"));
        assert_eq!(
            fields::of::<Config>(),
            ["server", "database", "clamd", "limits", "http", "formats"]
        );
    }

    #[test]
    fn size_forms() {
        let cases: &[(&str, u64)] = &[
            ("\"100M\"", 100 << 20),
            ("\"100m\"", 100 << 20),
            ("\"512K\"", 512 << 10),
            ("\"512k\"", 512 << 10),
            ("\"1G\"", 1 << 30),
            ("\"4g\"", 4 << 30),
            ("\"1048576\"", 1 << 20),
            ("1048576", 1 << 20),
            ("\"4294967296\"", 4 << 30),
        ];
        for (value, bytes) in cases {
            let c = parse(&format!("[clamd]\nstream_max_length = {value}")).unwrap();
            assert_eq!(c.clamd.stream_max_length, *bytes, "{value}");
        }
        let c = parse("[limits]\nmax_scan_size = 0\nmax_file_size = \"0\"").unwrap();
        assert_eq!((c.limits.max_scan_size, c.limits.max_file_size), (0, 0));
        assert_eq!(parse_size("25M"), Ok(25 << 20));
        for bad in ["", "ten", "10MB", "1.5M", "-1", "M", " 1M", "1 M", "0x10"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_size("99999999999999G").unwrap_err(),
            "\"99999999999999G\" is too large"
        );
    }

    #[test]
    fn duration_forms() {
        let cases: &[(&str, Duration)] = &[
            ("\"30s\"", Duration::from_secs(30)),
            ("\"500ms\"", Duration::from_millis(500)),
            ("\"2m\"", Duration::from_secs(120)),
            ("\"1h\"", Duration::from_secs(3600)),
            ("\"45\"", Duration::from_secs(45)),
            ("45", Duration::from_secs(45)),
        ];
        for (value, expected) in cases {
            let c = parse(&format!("[clamd]\nread_timeout = {value}")).unwrap();
            assert_eq!(c.clamd.read_timeout, *expected, "{value}");
        }
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "s", "30x", "-1s", "1.5s", "30 s", "30S", "2min"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_duration("99999999999999999h").is_err());
    }

    #[test]
    fn millisecond_options_need_a_unit() {
        let a = parse("[limits]\nmax_scan_time = \"120000ms\"").unwrap();
        let b = parse("[limits]\nmax_scan_time = \"120s\"").unwrap();
        assert_eq!(a.limits.max_scan_time, b.limits.max_scan_time);
        assert_eq!(a.limits.max_scan_time, Duration::from_secs(120));
        let off = parse("[limits]\nmax_scan_time = 0").unwrap();
        assert_eq!(off.limits.max_scan_time, Duration::ZERO);
        let c = parse("[clamd]\nsend_buf_timeout = \"200ms\"").unwrap();
        assert_eq!(c.clamd.send_buf_timeout, Duration::from_millis(200));
        assert_eq!(
            err("[limits]\nmax_scan_time = 120000"),
            "ringscan.toml: limits.max_scan_time: expected a duration with a unit like \
             \"120000ms\" or \"120s\" (the clamd option counts milliseconds, so a bare number \
             is ambiguous), found 120000"
        );
        assert_eq!(
            key_of("[clamd]\nsend_buf_timeout = \"500\""),
            "clamd.send_buf_timeout"
        );
    }

    #[test]
    fn other_value_forms() {
        let c = parse(
            "[server]\nunix_socket = \"\"\ntcp = \"[::1]:3311\"\nunix_socket_mode = \"0660\"\n\
             log_format = \"json\"\n[database]\npaths = [\"/var/lib/clamav\", \"x.ndb\"]\n\
             cache_dir = \"/tmp/c\"\n[clamd]\nallowed_roots = [\"/srv\"]",
        )
        .unwrap();
        assert_eq!(c.server.unix_socket, None);
        assert_eq!(c.server.tcp, Some("[::1]:3311".parse().unwrap()));
        assert_eq!(c.server.unix_socket_mode, 0o660);
        assert_eq!(c.server.log_format, LogFormat::Json);
        assert_eq!(c.database.paths.len(), 2);
        assert_eq!(c.database.cache_dir, Some(PathBuf::from("/tmp/c")));
        assert_eq!(c.clamd.allowed_roots, [PathBuf::from("/srv")]);
        let c = parse("[server]\ntcp = \"\"").unwrap();
        assert_eq!(c.server.tcp, None);
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            err("[clamd]\nstream_max_length = \"ten\""),
            "ringscan.toml: clamd.stream_max_length: expected a size like \"100M\", found \"ten\""
        );
        assert_eq!(
            err("[server]\ntpc = \"127.0.0.1:3310\""),
            "ringscan.toml: server.tpc: unknown key (known: cores, unix_socket, \
             unix_socket_mode, tcp, max_connections, io_memory, shutdown_grace, log, log_format)"
        );
        assert_eq!(
            err("[sever]\ncores = 2"),
            "ringscan.toml: sever: unknown key (known: server, database, clamd, limits, http, formats)"
        );
        assert_eq!(
            err("cores = 2"),
            "ringscan.toml: cores: unknown top-level key; it belongs in the [server] table \
             (known tables: server, database, clamd, limits, http, formats)"
        );
        assert_eq!(
            err("[server]\ncores = 1\n\nmax_connections = = 3\n"),
            "ringscan.toml: line 4, column 19: invalid TOML: invalid string; \
             expected `\"`, `'`"
        );
        assert_eq!(
            err("[server]\ncores = \"two\""),
            "ringscan.toml: server.cores: expected a non-negative integer, found \"two\""
        );
        assert_eq!(
            err("[server]\ncores = -1"),
            "ringscan.toml: server.cores: expected a non-negative integer, found -1"
        );
        assert_eq!(
            err("[database]\nstrict = \"yes\""),
            "ringscan.toml: database.strict: expected a boolean, found \"yes\""
        );
        assert_eq!(
            err("[database]\npaths = [\"/a\", 3]"),
            "ringscan.toml: database.paths: expected a path string, found integer `3`"
        );
        assert_eq!(
            err("[server]\nlog_format = \"xml\""),
            "ringscan.toml: server.log_format: unknown variant `xml`, expected `text` or `json`"
        );
        assert_eq!(
            err("[server]\nunix_socket_mode = 666"),
            "ringscan.toml: server.unix_socket_mode: expected an octal mode as a string, \
             like \"660\", found 666"
        );
        assert_eq!(
            err("[server]\nunix_socket_mode = \"800\""),
            "ringscan.toml: server.unix_socket_mode: expected an octal mode from \"000\" to \
             \"777\", like \"660\", found \"800\""
        );
        assert_eq!(
            err("[server]\ntcp = \"localhost:3310\""),
            "ringscan.toml: server.tcp: expected an address like \"127.0.0.1:3310\" or \
             \"[::1]:3310\", or \"\" to disable, found \"localhost:3310\""
        );
        assert_eq!(
            err("[clamd]\nread_timeout = \"soon\""),
            "ringscan.toml: clamd.read_timeout: expected a duration like \"30s\", \"500ms\" or \
             \"2m\", found \"soon\""
        );
        assert_eq!(
            err("[clamd]\nread_timeout = -5"),
            "ringscan.toml: clamd.read_timeout: expected a duration like \"30s\", \"500ms\" or \
             \"2m\", found -5"
        );
        assert_eq!(
            err("[clamd]\nstream_max_length = \"5G\""),
            "ringscan.toml: clamd.stream_max_length: must be from 1 to 4G, found 5G"
        );
        assert_eq!(
            err("[limits]\nmax_recursion = 0"),
            "ringscan.toml: limits.max_recursion: must be from 1 to 100, found 0"
        );
        assert_eq!(
            err("[limits]\nmax_files = 5000000000"),
            "ringscan.toml: limits.max_files: expected an integer from 0 to 4294967295, \
             found 5000000000"
        );
        assert_eq!(
            err("[clamd]\nidle_timeout = 0"),
            "ringscan.toml: clamd.idle_timeout: must be more than 0, found 0s"
        );
        assert_eq!(
            err("[server]\nunix_socket = \"\"\ntcp = \"\"\n[http]\ntcp = \"\""),
            "ringscan.toml: server: no listener: server.unix_socket, server.tcp, http.tcp \
             and http.unix_socket are all disabled"
        );
        assert_eq!(
            err("server = 3"),
            "ringscan.toml: server: expected a table [server], found 3"
        );
        assert_eq!(
            err("[clamd]\nallowed_roots = [\"srv\"]"),
            "ringscan.toml: clamd.allowed_roots: must hold absolute directories, found \"srv\""
        );
        assert_eq!(
            err("[server]\nio_memory = \"1K\""),
            "ringscan.toml: server.io_memory: must be from 64K to 1G, found 1K"
        );
        assert_eq!(
            err("[server]\ncores = 1\ncores = 2"),
            "ringscan.toml: line 3, column 1: invalid TOML: duplicate key `cores` in table \
             `server`"
        );
    }

    #[test]
    fn every_error_names_its_key() {
        let cases = [
            ("[server]\ncores = 1.5", "server.cores"),
            ("[server]\nunix_socket = 1", "server.unix_socket"),
            (
                "[server]\nunix_socket_mode = \"rw\"",
                "server.unix_socket_mode",
            ),
            ("[server]\ntcp = \"3310\"", "server.tcp"),
            ("[server]\nmax_connections = 0", "server.max_connections"),
            ("[server]\nio_memory = \"2G\"", "server.io_memory"),
            (
                "[server]\nshutdown_grace = \"31d\"",
                "server.shutdown_grace",
            ),
            (
                "[server]\nshutdown_grace = \"800h\"",
                "server.shutdown_grace",
            ),
            ("[server]\nlog = \"\"", "server.log"),
            ("[server]\nlog_format = 1", "server.log_format"),
            ("[database]\npaths = \"/x\"", "database.paths"),
            ("[database]\npaths = [\"\"]", "database.paths"),
            ("[database]\nstrict = 1", "database.strict"),
            ("[database]\ncache = \"no\"", "database.cache"),
            ("[database]\ncache_dir = false", "database.cache_dir"),
            ("[database]\nwatch = 0", "database.watch"),
            (
                "[database]\nwatch_interval = \"500ms\"",
                "database.watch_interval",
            ),
            ("[database]\nwatchinterval = 1", "database.watchinterval"),
            ("[clamd]\nallowed_roots = [1]", "clamd.allowed_roots"),
            ("[clamd]\nstream_max_length = 0", "clamd.stream_max_length"),
            (
                "[clamd]\ncommand_read_timeout = \"0s\"",
                "clamd.command_read_timeout",
            ),
            ("[clamd]\nread_timeout = \"1d\"", "clamd.read_timeout"),
            ("[clamd]\nidle_timeout = true", "clamd.idle_timeout"),
            ("[clamd]\nsend_buf_timeout = 500", "clamd.send_buf_timeout"),
            (
                "[clamd]\nsend_buf_timeout = \"0ms\"",
                "clamd.send_buf_timeout",
            ),
            (
                "[clamd]\nenable_reload_command = \"yes\"",
                "clamd.enable_reload_command",
            ),
            (
                "[clamd]\nenable_shutdown_command = 1",
                "clamd.enable_shutdown_command",
            ),
            (
                "[clamd]\nenable_version_command = 1",
                "clamd.enable_version_command",
            ),
            (
                "[clamd]\nenable_stats_command = 1",
                "clamd.enable_stats_command",
            ),
            (
                "[clamd]\nallow_all_match_scan = 1",
                "clamd.allow_all_match_scan",
            ),
            (
                "[clamd]\nextended_detection_info = 1",
                "clamd.extended_detection_info",
            ),
            (
                "[clamd]\nfollow_file_symlinks = 1",
                "clamd.follow_file_symlinks",
            ),
            (
                "[clamd]\nfollow_directory_symlinks = 1",
                "clamd.follow_directory_symlinks",
            ),
            (
                "[clamd]\nmax_directory_recursion = -1",
                "clamd.max_directory_recursion",
            ),
            ("[limits]\nmax_scan_size = \"1T\"", "limits.max_scan_size"),
            ("[limits]\nmax_file_size = -1", "limits.max_file_size"),
            ("[limits]\nmax_recursion = 101", "limits.max_recursion"),
            ("[limits]\nmax_files = -1", "limits.max_files"),
            (
                "[limits]\nmax_scan_time = \"2 minutes\"",
                "limits.max_scan_time",
            ),
            ("[limits]\nmax_scan_time = \"31d\"", "limits.max_scan_time"),
            ("[limits]\nmax_scan_time = \"721h\"", "limits.max_scan_time"),
            ("[limits]\nMaxScanSize = \"1M\"", "limits.MaxScanSize"),
            ("limits = []", "limits"),
        ];
        for (text, key) in cases {
            let e = parse(text).expect_err(text);
            assert_eq!(e.key(), Some(key), "{text}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("ringscan.toml: {key}: ")),
                "{e}"
            );
        }
    }

    #[test]
    fn load_names_the_file() {
        let dir = std::env::temp_dir().join(format!("ringscan-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ringscan.toml");
        std::fs::write(&path, "[limits]\nmax_files = 7\n").unwrap();
        assert_eq!(Config::load(&path).unwrap().limits.max_files, 7);
        std::fs::write(&path, "[limits]\nmax_files = \"7\"\n").unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: limits.max_files: ", path.display())),
            "{e}"
        );
        std::fs::remove_file(&path).unwrap();
        let e = Config::load(&path).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }));
        assert!(e
            .to_string()
            .starts_with(&format!("{}: cannot read: ", path.display())));
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn from_toml_str_and_validate_name_config() {
        let c = parse("[formats]\nskip = [\"KAV_FF_IMAGE_JPEG\", \"mp3\", \"Kav_Ff_General_Txt\"]")
            .unwrap();
        use crate::formats::Format;
        assert_eq!(
            c.deep_limits().skip_formats,
            vec![Format::Jpeg, Format::Mp3, Format::Text]
        );
        assert_eq!(
            err("[formats]\nskip = [\"KAV_FF_NOPE\"]"),
            "ringscan.toml: formats.skip: unknown format \"KAV_FF_NOPE\" (a short name like \"jpeg\" or a KSE name like \"KAV_FF_IMAGE_JPEG\")"
        );
        let e = Config::from_toml_str("[limits]\nmax_recursion = 0").unwrap_err();
        assert!(
            e.to_string().starts_with("config: limits.max_recursion: "),
            "{e}"
        );
        // Flags are applied by the caller, then validated again.
        let mut c = Config::from_toml_str("").unwrap();
        c.clamd.stream_max_length = 0;
        let e = c.validate().unwrap_err();
        assert_eq!(e.key(), Some("clamd.stream_max_length"));
        c.clamd.stream_max_length = parse_size("25M").unwrap();
        c.server.unix_socket_mode = 0o1777;
        assert_eq!(
            c.validate().unwrap_err().key(),
            Some("server.unix_socket_mode")
        );
    }

    #[test]
    fn whole_table_deserialization_agrees() {
        // The serde derive alone (what `deny_unknown_fields` guards) reads the example too.
        let direct: Config = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(direct, Config::default());
        assert!(toml::from_str::<Config>("[server]\ntpc = 1").is_err());
    }

    const TOKEN: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn http_defaults_follow_kavhttpd() {
        let h = Config::default().http;
        assert_eq!(h.tcp, Some("127.0.0.1:9999".parse().unwrap()));
        assert_eq!(h.unix_socket, None);
        assert_eq!(h.max_request_size, 100 << 20);
        assert!(h.keep_alive);
        assert_eq!(h.keep_alive_timeout, Duration::from_secs(5));
        assert_eq!(h.keep_alive_max_requests, 1000);
        assert!(!h.auth.enabled && h.auth.bearer);
        assert_eq!(h.auth.header, "Authorization");
    }

    #[test]
    fn http_section_is_checked() {
        assert_eq!(
            key_of("[http]\ntls_certificate = \"/c.pem\"\n"),
            "http.tls_certificate"
        );
        assert_eq!(
            key_of("[http]\nscanning_paths = [\"rel\"]\n"),
            "http.scanning_paths"
        );
        assert_eq!(key_of("[http]\nmax_sessions = 0\n"), "http.max_sessions");
        assert_eq!(key_of("[http]\ntcp = \"127.0.0.1:3310\"\n"), "http.tcp");
        assert_eq!(
            key_of("[http.auth]\ntokens = [\"secret\"]\n"),
            "http.auth.tokens"
        );
        assert_eq!(key_of("[http.auth]\nenabled = true\n"), "http.auth.tokens");
        // Tokens on plain TCP are refused unless allowed; a UNIX-only or TLS setup is fine.
        let on = format!("[http.auth]\nenabled = true\ntokens = [\"{TOKEN}\"]\n");
        assert_eq!(key_of(&on), "http.auth.enabled");
        assert!(err(&on).contains("in clear"));
        parse(&format!("{on}allow_plain_tcp = true\n")).unwrap();
        parse(&format!(
            "[http]\ntcp = \"\"\nunix_socket = \"/run/k.sock\"\n{on}"
        ))
        .unwrap();
        parse(&format!(
            "[http]\ntls_certificate = \"/c.pem\"\ntls_key = \"/k.pem\"\n{on}"
        ))
        .unwrap();
        assert!(err("[http]\nbogus = 1\n").contains("unknown key"));
    }

    #[test]
    fn no_listener_at_all_is_refused() {
        let text = "[server]\nunix_socket = \"\"\ntcp = \"\"\n[http]\ntcp = \"\"\n";
        assert_eq!(key_of(text), "server");
        // The HTTP listener alone is enough.
        parse("[server]\nunix_socket = \"\"\ntcp = \"\"\n").unwrap();
    }
}
