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
//! Buffers, per connection and reused from request to request: `cmd` holds command
//! bytes (clamd's `PATH_MAX + 8`), `body` receives INSTREAM chunks, which are decoded
//! in place and scanned there (no copy, no temporary file), and `out` collects reply
//! bytes. `body` comes from the core's buffer pool and goes back to it when the
//! connection ends: clamd clients open a connection per request, and a fresh buffer
//! each time would be allocated, zeroed and page-faulted in for every object.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use glommio::channels::local_channel::LocalReceiver;

use md5::{Digest, Md5};

use super::core::{unless_stopped, Core, ReloadOutcome};
use super::files::{self, FileOutcome as FileResult, Target, WalkItem};
use super::mesh::CoreMsg;
use super::transport::Stream;
use crate::proto::clamd::pathscan::trim_root;
use crate::proto::clamd::stats::{
    CoreStats as CoreLine, DatabaseStats, Latency, LibcMem, ReloadStatus, ScanCounters, Stats,
    Task, Threads,
};
use crate::proto::clamd::{
    command_read_timed_out, Command, DbStamp, Dechunker, FileOutcome, Flow, Frame, Framing,
    PathScan, Progress, Reply, ScanError, ScanKind, Skipped, COMMAND_BUFFER_SIZE,
};

/// What VERSION reports as the engine version.
pub const ENGINE_VERSION: &str = concat!("ringscan-", env!("CARGO_PKG_VERSION"));

/// The smallest read into the INSTREAM buffer.
const BODY_READ: usize = 64 << 10;
/// A read may take a whole announced chunk, up to this much at once.
const BODY_READ_MAX: usize = 4 << 20;
/// Past this, an INSTREAM buffer stops doubling (see `Conn::grow_body`).
const LARGE_STREAM: usize = 8 << 20;
/// The most a read may grow the INSTREAM buffer by, beyond what it holds.
const GROW_STEP: usize = 256 << 10;
/// Chunks from this size on are read exactly up to the next header.
const EXACT_READ_MIN: usize = 16 << 10;
/// MULTISCAN files in flight on other cores.
const MULTISCAN_WINDOW: usize = 64;

/// How much to read next, given the payload still due for the current chunk. A read
/// that ends right after the next chunk's header leaves every payload byte where it
/// belongs, so the dechunker has nothing to move (the header is overwritten by the
/// next payload). For small chunks one larger read costs less than one syscall per
/// chunk, and the dechunker moves the few bytes.
fn read_size(chunk_remaining: usize) -> usize {
    let through_next_header = chunk_remaining + 4;
    if through_next_header >= EXACT_READ_MIN {
        through_next_header.min(BODY_READ_MAX)
    } else {
        BODY_READ
    }
}

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
        carry: Vec::new(),
        // Taken from the core's pool at the first INSTREAM, given back at the end.
        body: Vec::new(),
        out: Vec::with_capacity(256),
        session: None,
        last_term: b'\n',
    };
    conn.run().await;
    core.buffers.give(std::mem::take(&mut conn.body));
}

struct Connection {
    core: Rc<Core>,
    stream: Stream,
    cmd: Vec<u8>,
    cmd_len: usize,
    /// Bytes received after an INSTREAM that do not fit in `cmd` (pipelined session
    /// requests); they are consumed before the socket is read again.
    carry: Vec<u8>,
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
            let next = self.execute(request, reply).await;
            // A descriptor belongs to the FILDES whose extra byte carried it; pipelined
            // FILDES (clamdscan --multiscan --fdpass) deliver it while earlier commands
            // still wait in the buffer. One left over once the buffer is drained came
            // with something else.
            if self.cmd_len == 0 && self.stream.has_fds() {
                reply.protocol_error_ancillary(&mut self.out);
                let _ = self.flush().await;
                return;
            }
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
            if !self.carry.is_empty() {
                let n = self.carry.len().min(self.cmd.len() - self.cmd_len);
                self.cmd[self.cmd_len..self.cmd_len + n].copy_from_slice(&self.carry[..n]);
                self.cmd_len += n;
                self.carry.drain(..n);
                continue;
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
            Command::Fildes => return self.fildes(reply).await,
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
        let carried = self.cmd_len + self.carry.len();
        if self.body.is_empty() {
            self.body = self.core.buffers.take();
        }
        self.grow_body(carried + BODY_READ);
        self.body[..self.cmd_len].copy_from_slice(&self.cmd[..self.cmd_len]);
        self.body[self.cmd_len..carried].copy_from_slice(&self.carry);
        self.cmd_len = 0;
        self.carry.clear();
        let mut filled = carried;
        loop {
            match dechunker.feed(&mut self.body, filled) {
                Progress::NeedMore { read_at, .. } => {
                    // The buffer grows with what arrives, not with what a chunk header
                    // announces: a header alone must not make the server allocate.
                    let room = self.body.len().saturating_sub(read_at);
                    let want =
                        read_size(dechunker.chunk_remaining() as usize).min(room.max(GROW_STEP));
                    self.grow_body(read_at + want);
                    let read = {
                        let buf = &mut self.body[read_at..read_at + want];
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
                    let rest = &self.body[leftover];
                    let n = rest.len().min(self.cmd.len());
                    self.cmd[..n].copy_from_slice(&rest[..n]);
                    self.cmd_len = n;
                    self.carry.extend_from_slice(&rest[n..]);
                    self.scan_body(object_len, reply).await;
                    if self.body.len() > super::core::BUFFER_RETAINED {
                        self.body = Vec::new();
                    }
                    self.core.yield_if_busy().await;
                    return Next::Continue;
                }
            }
        }
    }

    /// Makes `body` at least `len` bytes long. Small streams grow by doubling. Once a
    /// stream passes [`LARGE_STREAM`], the buffer reserves room for the whole quota
    /// at once and grows by what the next read needs: a reservation is address space
    /// only (pages are touched as data arrives), and it spares the copy and the burst
    /// of page faults that doubling a 100 MB buffer costs the core in one go (tens of
    /// milliseconds, which the small requests on this core would wait).
    fn grow_body(&mut self, len: usize) {
        if self.body.len() >= len {
            return;
        }
        if len <= LARGE_STREAM {
            let new_len = len.max(self.body.len() * 2).max(BODY_READ);
            self.body.resize(new_len, 0);
            return;
        }
        let quota = usize::try_from(self.config().stream_max_length).unwrap_or(usize::MAX);
        let room = quota.saturating_add(BODY_READ_MAX + 64);
        if self.body.capacity() < room {
            // Falls back to ordinary growth when the address space is not there.
            let _ = self.body.try_reserve_exact(room - self.body.len());
        }
        self.body.resize(len, 0);
    }

    /// Scans the stream and what is inside it, and answers as clamd does: the first
    /// detection (every one under ALLMATCHSCAN, which INSTREAM never is), or OK. A
    /// sub-object a limit left unscanned does not change the answer, as with clamd
    /// without `AlertExceedsMax`/`AlertEncrypted`.
    async fn scan_body(&mut self, len: usize, reply: Reply) {
        let extended = self.config().extended_detection_info;
        let deadline = files::scan_deadline(&self.core);
        let data = &self.body[..len];
        let out = &mut self.out;
        let peer = &self.stream;
        self.core
            .scan_deep(data, false, false, deadline, |report| {
                match report.detections().next() {
                    Some(name) => {
                        // clamd sends the plain form on the socket and the extended
                        // form (name(md5:size)) only to its log, when
                        // ExtendedDetectionInfo is on.
                        reply.virus(out, b"stream", name.as_bytes());
                        if extended {
                            let md5 = hex(&Md5::digest(data));
                            tracing::info!(peer = %peer.peer(), "stream: {name}({md5}:{len}) FOUND");
                        } else {
                            tracing::info!(peer = %peer.peer(), size = len, "stream: {name} FOUND");
                        }
                    }
                    None => match report.top().error {
                        Some(e) => reply.scan_error(out, b"stream", e.as_bytes()),
                        None => reply.ok(out, b"stream"),
                    },
                }
            })
            .await;
    }

    /// FILDES: scan the descriptor that came with the command's extra byte.
    async fn fildes(&mut self, reply: Reply) -> Next {
        let Some(fd) = self.stream.take_fd() else {
            // clamd ends the connection (the session too) after this error.
            reply.fildes_no_fd(&mut self.out);
            self.core.stats.borrow_mut().errors += 1;
            return Next::Close;
        };
        let name = format!("fd[{}]", std::os::fd::AsRawFd::as_raw_fd(&fd));
        match files::scan_fd(&self.core, fd, false).await {
            Err(_) => reply.not_regular_file(&mut self.out, name.as_bytes()),
            Ok(FileResult::Found(names)) => {
                for n in names.iter().take(1) {
                    reply.virus(&mut self.out, name.as_bytes(), n.as_bytes());
                }
            }
            Ok(FileResult::Clean | FileResult::Empty | FileResult::TooLarge) => {
                reply.ok(&mut self.out, name.as_bytes())
            }
            Ok(FileResult::AccessDenied) => reply.access_denied(&mut self.out, name.as_bytes()),
            Ok(FileResult::Error(e)) => {
                reply.scan_error(&mut self.out, name.as_bytes(), e.as_bytes())
            }
        }
        Next::Continue
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

    /// STATS: clamd's lines, with every core's counters merged, then ringscan's.
    async fn stats(&mut self, reply: Reply) {
        let core = self.core.clone();
        let merged = super::mesh::gather_stats(&core).await;
        let db = core.db();
        let status = core.shared.status();
        let cores = merged.cores.len() as u32;
        let busy = merged
            .cores
            .iter()
            .filter(|c| c.open_connections > 0)
            .count() as u32;
        let lines: Vec<CoreLine> = merged
            .cores
            .iter()
            .map(|c| CoreLine {
                connections: c.stats.connections,
                active: c.open_connections as u32,
                scans: c.stats.scans,
            })
            .collect();
        let total = &merged.total.stats;
        let rss = super::stats::resident_mib();
        let reason;
        let reload = match &status.last_reload {
            None => ReloadStatus::None,
            Some(ReloadOutcome::Loaded { .. }) => ReloadStatus::Ok,
            Some(ReloadOutcome::Failed { error, .. }) => {
                reason = error.clone();
                ReloadStatus::Failed(reason.as_bytes())
            }
        };
        let h = &total.latency_us;
        let stats = Stats {
            threads: Threads {
                live: cores,
                idle: cores - busy.min(cores),
                max: cores,
                idle_timeout: core.shared.config.clamd.idle_timeout.as_secs() as u32,
            },
            queue_items: 0,
            queue_wait: None,
            tasks: &[Task::STATS_SELF],
            mem: Some(LibcMem {
                heap: rss,
                mmap: 0.0,
                used: rss,
                free: 0.0,
                releasable: 0.0,
            }),
            pools: 1,
            pools_used: db.memory_bytes as f64 / (1024.0 * 1024.0),
            pools_total: db.memory_bytes as f64 / (1024.0 * 1024.0),
            cores: &lines,
            scans: Some(ScanCounters {
                total: total.scans,
                clean: total.scans - total.found,
                infected: total.found,
                errors: total.errors,
            }),
            database: Some(DatabaseStats {
                version: db.version.version,
                signatures: db.signatures as u64,
                time_unix: db.version.time_unix,
            }),
            reload,
            latency: (!h.is_empty()).then(|| Latency {
                p50: h.value_at_quantile(0.5),
                p90: h.value_at_quantile(0.9),
                p99: h.value_at_quantile(0.99),
                max: h.max(),
            }),
        };
        reply.stats(&mut self.out, &stats);
    }

    /// SCAN, CONTSCAN, MULTISCAN, ALLMATCHSCAN: walk, scan, and report as clamd.
    async fn path_command(&mut self, kind: ScanKind, path: &[u8], reply: Reply) -> Next {
        if self.session.is_some() && kind != ScanKind::Scan {
            reply.invalid_in_session(&mut self.out);
            return Next::Close;
        }
        let core = self.core.clone();
        let config = &core.shared.config.clamd;
        let (printed, walked) = trim_root(path);
        if kind == ScanKind::AllMatchScan && !config.allow_all_match_scan {
            reply.allmatchscan_disabled(&mut self.out, printed);
            return Next::Continue;
        }
        let target = Path::new(OsStr::from_bytes(walked));
        let real = match files::check(&core.shared.roots, target) {
            Target::Allowed(real) => real,
            Target::Denied => {
                // Outside the allowed roots: clamd's reply for a file it may not read.
                reply.access_denied(&mut self.out, printed);
                core.stats.borrow_mut().errors += 1;
                return Next::Continue;
            }
            Target::Missing(e) => {
                // clamd 1.4 prints this once (its realpath failure and the stat
                // error share one line in practice).
                let mut tally = PathScan::new(kind);
                let text = strerror(&e);
                tally.on_path_error(printed, text.as_bytes(), &reply, &mut self.out);
                tally.finish(printed, &reply, &mut self.out);
                core.stats.borrow_mut().errors += 1;
                return Next::Continue;
            }
        };
        let meta = match std::fs::metadata(&real) {
            Ok(m) => m,
            Err(e) => {
                let mut tally = PathScan::new(kind);
                tally.on_path_error(printed, strerror(&e).as_bytes(), &reply, &mut self.out);
                tally.finish(printed, &reply, &mut self.out);
                return Next::Continue;
            }
        };
        let mut tally = PathScan::new(kind.resolve(!meta.is_dir()));
        if meta.is_dir() {
            tally.on_directory();
        } else if !meta.is_file() {
            tally.on_skipped(Skipped::Special, printed, true, &reply, &mut self.out);
            tally.finish(printed, &reply, &mut self.out);
            return Next::Continue;
        }
        let items = files::walk(
            &core.shared.roots,
            &real,
            config.follow_directory_symlinks,
            config.follow_file_symlinks,
            config.max_directory_recursion,
        );
        let result = if tally.kind() == ScanKind::MultiScan {
            self.multiscan(items, &mut tally, reply).await
        } else {
            self.scan_items(items, &mut tally, reply).await
        };
        if result.is_err() {
            return Next::Close;
        }
        tally.finish(printed, &reply, &mut self.out);
        Next::Continue
    }

    /// Scans walked items in order on this core.
    async fn scan_items(
        &mut self,
        items: impl Iterator<Item = WalkItem>,
        tally: &mut PathScan,
        reply: Reply,
    ) -> std::io::Result<()> {
        let all = tally.kind() == ScanKind::AllMatchScan;
        for item in items {
            let flow = match item {
                WalkItem::File(path) => {
                    let outcome = files::scan_file(&self.core, &path, all).await;
                    record(tally, &path, &outcome, &reply, &mut self.out)
                }
                WalkItem::StatError(path, e) => tally.on_path_error(
                    path.as_os_str().as_bytes(),
                    strerror(&e).as_bytes(),
                    &reply,
                    &mut self.out,
                ),
            };
            self.flush_if_large().await?;
            if flow == Flow::Stop {
                break;
            }
        }
        Ok(())
    }

    /// MULTISCAN: files go round-robin to every core (this one included), at most
    /// [`MULTISCAN_WINDOW`] in flight; results are reported as they come back, in any
    /// order, as clamd's worker threads do.
    async fn multiscan(
        &mut self,
        items: impl Iterator<Item = WalkItem>,
        tally: &mut PathScan,
        reply: Reply,
    ) -> std::io::Result<()> {
        let core = self.core.clone();
        let cores = core.cores();
        let (request, replies) = core.open_replies(MULTISCAN_WINDOW);
        let mut in_flight = 0usize;
        let mut next_core = core.id;
        let mut result = Ok(());
        for item in items {
            let path = match item {
                WalkItem::File(path) => path,
                WalkItem::StatError(path, e) => {
                    tally.on_path_error(
                        path.as_os_str().as_bytes(),
                        strerror(&e).as_bytes(),
                        &reply,
                        &mut self.out,
                    );
                    continue;
                }
            };
            next_core = (next_core + 1) % cores;
            if next_core == core.id {
                let outcome = files::scan_file(&core, &path, false).await;
                record(tally, &path, &outcome, &reply, &mut self.out);
            } else {
                while in_flight >= MULTISCAN_WINDOW {
                    in_flight -= 1;
                    self.take_multiscan_reply(&replies, tally, reply).await;
                }
                core.send(
                    next_core,
                    CoreMsg::ScanFile {
                        from: core.id,
                        request,
                        path,
                    },
                )
                .await;
                in_flight += 1;
            }
            if let Err(e) = self.flush_if_large().await {
                result = Err(e);
                break;
            }
        }
        while in_flight > 0 {
            in_flight -= 1;
            self.take_multiscan_reply(&replies, tally, reply).await;
        }
        core.close_replies(request);
        result
    }

    /// Waits for one file's result from another core; a core that stopped (shutdown)
    /// or went silent for `read_timeout` ends the wait rather than the connection.
    async fn take_multiscan_reply(
        &mut self,
        replies: &LocalReceiver<CoreMsg>,
        tally: &mut PathScan,
        reply: Reply,
    ) {
        let limit = self.config().read_timeout;
        if let Ok(Some(CoreMsg::ScanFileReply { path, outcome, .. })) =
            with_timeout(limit, replies.recv()).await
        {
            record(tally, &path, &outcome, &reply, &mut self.out);
        }
    }

    /// Sends what is buffered once it is large, so a long walk streams its lines.
    async fn flush_if_large(&mut self) -> std::io::Result<()> {
        if self.out.len() >= 16 << 10 {
            self.flush().await
        } else {
            Ok(())
        }
    }
}

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

/// Feeds one file's outcome to the tally, which writes clamd's line for it.
fn record(
    tally: &mut PathScan,
    path: &Path,
    outcome: &FileResult,
    reply: &Reply,
    out: &mut Vec<u8>,
) -> Flow {
    let path = path.as_os_str().as_bytes();
    match outcome {
        FileResult::Empty => {
            tally.on_empty_file();
            Flow::Continue
        }
        FileResult::Clean | FileResult::TooLarge => {
            tally.on_file(path, FileOutcome::Clean, reply, out)
        }
        FileResult::Found(names) => {
            let names: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
            tally.on_file(path, FileOutcome::Found(&names), reply, out)
        }
        FileResult::AccessDenied => tally.on_file(path, FileOutcome::AccessDenied, reply, out),
        FileResult::Error(_) => {
            tally.on_file(path, FileOutcome::Error(ScanError::Read), reply, out)
        }
    }
}

/// The C library's text for an I/O error, as clamd prints it (`No such file or
/// directory`), without Rust's ` (os error N)`.
fn strerror(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_end_after_the_next_header_for_large_chunks() {
        assert_eq!(read_size(64 << 10), (64 << 10) + 4);
        assert_eq!(read_size(EXACT_READ_MIN), EXACT_READ_MIN + 4);
        // Small chunks: one larger read; huge ones: capped.
        assert_eq!(read_size(100), BODY_READ);
        assert_eq!(read_size(0), BODY_READ);
        assert_eq!(read_size(100 << 20), BODY_READ_MAX);
    }

    #[test]
    fn strerror_is_the_c_text() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(strerror(&e), "No such file or directory");
    }
}
