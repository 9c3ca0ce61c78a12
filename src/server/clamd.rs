//! The clamd protocol on one connection: reads commands, runs them on this core and
//! writes clamd's exact replies. Parsing and reply bytes live in `proto::clamd`; this
//! file is the I/O and the decisions.
//!
//! Connection life, as clamd's `recvloop`: outside IDSESSION a connection carries one
//! command and is closed after its reply; inside, commands follow one another, each
//! reply prefixed by its request number, until END, EOF, an error or the idle
//! timeout. Replies come in request order (clamd may reorder them; clients must accept
//! either).
//!
//! Buffers, all per connection and reused from request to request: `cmd` holds
//! command bytes (clamd's `PATH_MAX + 8`), `body` receives INSTREAM chunks, which are
//! decoded in place and scanned there (no copy, no temporary file), and `out` collects
//! reply bytes.

use std::rc::Rc;
use std::time::Duration;

use md5::{Digest, Md5};

use super::core::{unless_stopped, Core};
use super::files::{self, FileOutcome as FileResult, Target, WalkItem};
use super::mesh::CoreMsg;
use super::transport::Stream;
use crate::engine::Verdict;
use crate::proto::clamd::{
    command_read_timed_out, Command, DbStamp, Dechunker, FileOutcome, Flow, Frame, Framing,
    PathScan, Progress, Reply, ScanKind, COMMAND_BUFFER_SIZE,
};

/// What VERSION reports as the engine version.
pub const ENGINE_VERSION: &str = concat!("ringscan-", env!("CARGO_PKG_VERSION"));

/// The smallest read into the INSTREAM buffer.
const BODY_READ: usize = 64 << 10;
/// A read may take a whole announced chunk, up to this much at once.
const BODY_READ_MAX: usize = 4 << 20;
/// Bigger INSTREAM buffers are released after the request.
const BODY_RETAINED: usize = 8 << 20;

/// A command with its argument copied out of the command buffer.
enum Request {
    Simple(Command<'static>),
    Path(ScanKind, Vec<u8>),
}

/// Why a connection ends.
enum Next {
    /// Wait for the next command (inside IDSESSION).
    Continue,
    /// Close the connection.
    Close,
}

/// Serves one connection until it closes.
pub async fn serve_connection(core: &Rc<Core>, stream: Stream) {
    let mut conn = Connection {
        core: core.clone(),
        stream,
        cmd: vec![0; COMMAND_BUFFER_SIZE],
        cmd_len: 0,
        body: Vec::new(),
        out: Vec::with_capacity(256),
        session: None,
        last_term: b'\n',
    };
    conn.run().await;
}

struct Connection {
    core: Rc<Core>,
    stream: Stream,
    cmd: Vec<u8>,
    cmd_len: usize,
    body: Vec<u8>,
    out: Vec<u8>,
    /// Inside IDSESSION: the number the next request gets.
    session: Option<u32>,
    /// Terminator of the previous command (some session errors use it).
    last_term: u8,
}

impl Connection {
    fn config(&self) -> &super::config::ClamdConfig {
        &self.core.shared.config.clamd
    }

    async fn run(&mut self) {
        loop {
            let Some((framing, request)) = self.next_command().await else {
                return;
            };
            self.core.stats.borrow_mut().requests += 1;
            let reply = Reply::for_framing(self.session, framing);
            if self.session.is_some() && framing == Framing::Legacy {
                Reply::new(self.session, self.last_term).legacy_in_session(&mut self.out);
                let _ = self.flush().await;
                return;
            }
            self.last_term = framing.terminator();
            if self.stream.has_fds() && !matches!(request, Request::Simple(Command::Fildes)) {
                reply.protocol_error_ancillary(&mut self.out);
                let _ = self.flush().await;
                return;
            }
            let next = self.execute(request, reply).await;
            if self.flush().await.is_err() {
                return;
            }
            match next {
                Next::Close => return,
                Next::Continue if self.session.is_none() || self.core.stopping() => return,
                Next::Continue => {
                    if let Some(id) = &mut self.session {
                        *id += 1;
                    }
                }
            }
        }
    }

    /// Reads until a whole command is buffered; `None` closes the connection (EOF,
    /// timeout, oversize command, shutdown while idle).
    async fn next_command(&mut self) -> Option<(Framing, Request)> {
        loop {
            match crate::proto::clamd::parse_frame(&self.cmd[..self.cmd_len]) {
                Frame::Complete {
                    consumed,
                    framing,
                    command,
                } => {
                    let request = match ScanKind::of(&command) {
                        Some(kind) => {
                            Request::Path(kind, command.path().unwrap_or_default().to_vec())
                        }
                        None => Request::Simple(without_argument(command)),
                    };
                    self.cmd.copy_within(consumed..self.cmd_len, 0);
                    self.cmd_len -= consumed;
                    return Some((framing, request));
                }
                // clamd closes without a reply.
                Frame::TooLong => return None,
                Frame::Incomplete => {}
            }
            if self.cmd_len == self.cmd.len() {
                return None;
            }
            let timeout = if self.session.is_some() && self.cmd_len == 0 {
                self.config().idle_timeout
            } else {
                self.config().command_read_timeout
            };
            let read = {
                let buf = &mut self.cmd[self.cmd_len..];
                let stream = &mut self.stream;
                // Idle connections end at shutdown; a half-read command too.
                unless_stopped(&self.core, with_timeout(timeout, stream.read(buf))).await
            };
            match read {
                None => return None,
                Some(Err(Timeout)) => {
                    if self.session.is_none() || self.cmd_len > 0 {
                        command_read_timed_out(&mut self.out);
                        let _ = self.flush().await;
                    }
                    return None;
                }
                Some(Ok(Err(_)) | Ok(Ok(0))) => return None,
                Some(Ok(Ok(n))) => self.cmd_len += n,
            }
        }
    }

    async fn execute(&mut self, request: Request, reply: Reply) -> Next {
        let command = match request {
            Request::Path(kind, path) => return self.path_command(kind, &path, reply).await,
            Request::Simple(command) => command,
        };
        let in_session = self.session.is_some();
        if in_session && !command.allowed_in_session() {
            reply.invalid_in_session(&mut self.out);
            return Next::Close;
        }
        // An Rc clone (not atomic) keeps the config borrowed apart from `self`.
        let core = self.core.clone();
        let config = &core.shared.config.clamd;
        match command {
            Command::Ping => reply.pong(&mut self.out),
            Command::Version if !config.enable_version_command => {
                reply.command_unavailable(&mut self.out)
            }
            Command::Version => reply.version(&mut self.out, ENGINE_VERSION, db_stamp(&core)),
            Command::VersionCommands => {
                reply.version_commands(&mut self.out, ENGINE_VERSION, db_stamp(&core))
            }
            Command::Reload if !config.enable_reload_command => {
                reply.command_unavailable(&mut self.out)
            }
            Command::Reload => {
                super::reload::request(&self.core);
                reply.reloading(&mut self.out);
            }
            Command::SelfCheck => {
                if super::reload::databases_changed(&self.core) {
                    super::reload::request(&self.core);
                    reply.reloading(&mut self.out);
                } else {
                    reply.db_up_to_date(&mut self.out);
                }
            }
            Command::Shutdown if !config.enable_shutdown_command => {
                reply.command_unavailable(&mut self.out)
            }
            Command::Shutdown => {
                super::begin_shutdown(&self.core).await;
                return Next::Close;
            }
            Command::IdSession => {
                // clamd numbers the requests of a session from 1.
                self.session = Some(0);
            }
            Command::End => {
                if in_session {
                    return Next::Close;
                }
                reply.unknown_command(&mut self.out);
            }
            Command::Stats if !config.enable_stats_command => {
                reply.command_unavailable(&mut self.out)
            }
            Command::Stats => self.stats(reply).await,
            Command::Instream => return self.instream(reply).await,
            Command::Fildes => self.fildes(reply),
            Command::DetStats | Command::DetStatsClear => {}
            Command::Unknown => {
                reply.unknown_command(&mut self.out);
                self.core.stats.borrow_mut().errors += 1;
                return Next::Close;
            }
            // Path commands arrive as Request::Path.
            Command::Scan(_)
            | Command::ContScan(_)
            | Command::MultiScan(_)
            | Command::AllMatchScan(_) => {
                reply.unknown_command(&mut self.out);
            }
        }
        Next::Continue
    }

    /// INSTREAM: chunks are decoded in place in `body` and scanned there.
    async fn instream(&mut self, reply: Reply) -> Next {
        let quota = self.config().stream_max_length;
        let read_timeout = self.config().read_timeout;
        let mut dechunker = Dechunker::new(quota);
        // Bytes that came with the command are the start of the stream.
        let carried = self.cmd_len;
        self.grow_body(carried + BODY_READ);
        self.body[..carried].copy_from_slice(&self.cmd[..carried]);
        self.cmd_len = 0;
        let mut filled = carried;
        loop {
            match dechunker.feed(&mut self.body, filled) {
                Progress::NeedMore { read_at, .. } => {
                    let want =
                        (dechunker.chunk_remaining() as usize + 4).clamp(BODY_READ, BODY_READ_MAX);
                    self.grow_body(read_at + want);
                    let read = {
                        let buf = &mut self.body[read_at..];
                        with_timeout(read_timeout, self.stream.read(buf)).await
                    };
                    match read {
                        Ok(Ok(n)) if n > 0 => filled = read_at + n,
                        // EOF or error mid-stream: clamd closes without a reply.
                        Ok(_) => return Next::Close,
                        Err(Timeout) => return Next::Close,
                    }
                }
                Progress::LimitExceeded => {
                    reply.instream_size_limit_exceeded(&mut self.out);
                    self.core.stats.borrow_mut().errors += 1;
                    return Next::Close;
                }
                Progress::Done {
                    object_len,
                    leftover,
                } => {
                    // Inside a session the bytes after the stream are the next commands.
                    let rest = leftover.len().min(self.cmd.len());
                    self.cmd[..rest]
                        .copy_from_slice(&self.body[leftover.start..leftover.start + rest]);
                    self.cmd_len = rest;
                    self.scan_body(object_len, reply);
                    if self.body.len() > BODY_RETAINED {
                        self.body = Vec::new();
                    }
                    glommio::yield_if_needed().await;
                    return Next::Continue;
                }
            }
        }
    }

    /// Makes `body` at least `len` bytes long (growing by doubling, so a large stream
    /// reallocates a logarithmic number of times).
    fn grow_body(&mut self, len: usize) {
        if self.body.len() < len {
            let new_len = len.max(self.body.len() * 2).max(BODY_READ);
            self.body.resize(new_len, 0);
        }
    }

    fn scan_body(&mut self, len: usize, reply: Reply) {
        let extended = self.config().extended_detection_info;
        let data = &self.body[..len];
        let out = &mut self.out;
        let verdict_found = self
            .core
            .scan(data, false, |report| match report.verdict() {
                Verdict::Detected(name) => {
                    if extended {
                        let md5 = hex(&Md5::digest(data));
                        reply.virus_extended(
                            out,
                            b"stream",
                            name.as_bytes(),
                            md5.as_bytes(),
                            len as u64,
                        );
                    } else {
                        reply.virus(out, b"stream", name.as_bytes());
                    }
                    true
                }
                Verdict::Clean | Verdict::NotScanned(_) => {
                    reply.ok(out, b"stream");
                    false
                }
                Verdict::Error(e) => {
                    reply.scan_error(out, b"stream", e.as_bytes());
                    false
                }
            });
        let _ = verdict_found;
    }

    /// FILDES: scan the descriptor that came with the command's extra byte.
    fn fildes(&mut self, reply: Reply) {
        let Some(fd) = self.stream.take_fd() else {
            reply.fildes_no_fd(&mut self.out);
            self.core.stats.borrow_mut().errors += 1;
            return;
        };
        let name = format!("fd[{}]", std::os::fd::AsRawFd::as_raw_fd(&fd));
        match files::scan_fd(&self.core, fd, false) {
            Err(_) => reply.not_regular_file(&mut self.out, name.as_bytes()),
            Ok(FileResult::Found(names)) => {
                for n in names.iter().take(1) {
                    reply.virus(&mut self.out, name.as_bytes(), n.as_bytes());
                }
            }
            Ok(FileResult::Clean | FileResult::Empty) => reply.ok(&mut self.out, name.as_bytes()),
            Ok(FileResult::AccessDenied) => reply.access_denied(&mut self.out, name.as_bytes()),
            Ok(FileResult::Error(e)) => {
                reply.scan_error(&mut self.out, name.as_bytes(), e.as_bytes())
            }
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let timeout = self.config().send_buf_timeout.max(Duration::from_secs(1));
        let result = match with_timeout(timeout, self.stream.write_all(&self.out)).await {
            Ok(r) => r,
            Err(Timeout) => Err(std::io::ErrorKind::TimedOut.into()),
        };
        self.out.clear();
        result
    }

    async fn stats(&mut self, _reply: Reply) {
        todo_stats();
    }

    async fn path_command(&mut self, _kind: ScanKind, _path: &[u8], _reply: Reply) -> Next {
        Next::Close
    }
}

fn todo_stats() {}

/// The database version VERSION shows.
fn db_stamp(core: &Core) -> DbStamp {
    let db = core.db();
    DbStamp {
        version: db.version.version,
        time_unix: db.version.time_unix,
        utc_offset: time::UtcOffset::UTC,
    }
}

/// A command without a path argument, detached from the command buffer.
fn without_argument(command: Command<'_>) -> Command<'static> {
    match command {
        Command::Shutdown => Command::Shutdown,
        Command::Reload => Command::Reload,
        Command::SelfCheck => Command::SelfCheck,
        Command::Ping => Command::Ping,
        Command::VersionCommands => Command::VersionCommands,
        Command::Version => Command::Version,
        Command::End => Command::End,
        Command::Fildes => Command::Fildes,
        Command::Stats => Command::Stats,
        Command::IdSession => Command::IdSession,
        Command::Instream => Command::Instream,
        Command::DetStatsClear => Command::DetStatsClear,
        Command::DetStats => Command::DetStats,
        Command::Unknown
        | Command::Scan(_)
        | Command::ContScan(_)
        | Command::MultiScan(_)
        | Command::AllMatchScan(_) => Command::Unknown,
    }
}

/// A deadline passed.
struct Timeout;

async fn with_timeout<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, Timeout> {
    glommio::timer::timeout(limit, async { Ok(fut.await) })
        .await
        .map_err(|_| Timeout)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
