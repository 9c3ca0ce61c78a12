//! One core: the state a pinned executor owns, and the little that all cores share.
//!
//! [`Core`] lives in an `Rc` on its executor and is never touched by another thread:
//! the database handle, the Hyperscan scratch (inside [`Scanner`]), the counters and
//! histogram. Scans borrow it synchronously, so nothing on the scan path takes a lock
//! or writes a cache line another core reads.
//!
//! [`Shared`] is the process-wide part, in an `Arc`: configuration, open-connection
//! gauges (written when a connection opens or closes, read by the UNIX-socket
//! dispatcher to balance), the shutdown flag and the reload status behind a mutex that
//! only reloads and STATS take.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use crossbeam_utils::CachePadded;
use glommio::channels::channel_mesh::Senders;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::sync::Semaphore;

use super::config::Config;
use super::database::Database;
use super::mesh::CoreMsg;
use super::stats::CoreStats;
use crate::db::LoadOptions;
use crate::engine::{DeepLimits, DeepOptions, DeepReport, DeepScan, ScanOptions, Scanner};
use crate::formats::Blob;

/// What happened to the last reload, for STATS.
#[derive(Clone, Debug)]
pub enum ReloadOutcome {
    /// Published.
    Loaded {
        /// When.
        at: SystemTime,
        /// Generation published.
        generation: u64,
    },
    /// Failed; the previous database kept serving.
    Failed {
        /// When.
        at: SystemTime,
        /// Why.
        error: String,
    },
}

/// Database and reload state shown by STATS and VERSION.
#[derive(Clone, Debug, Default)]
pub struct ServerStatus {
    /// A reload is compiling now.
    pub reloading: bool,
    /// Successful reloads since start.
    pub reloads_ok: u64,
    /// Failed reloads since start.
    pub reloads_failed: u64,
    /// The last reload's outcome.
    pub last_reload: Option<ReloadOutcome>,
}

/// Process-wide state shared by every core.
pub struct Shared {
    /// The configuration in force.
    pub config: Config,
    /// Number of cores.
    pub cores: usize,
    /// Open connections per core.
    pub open: Box<[CachePadded<AtomicUsize>]>,
    /// Open connections in all.
    pub open_total: AtomicUsize,
    /// Open HTTP sessions in all (a subset of `open_total`), held under
    /// `http.max_sessions`.
    pub http_open: AtomicUsize,
    /// The HTTP mode's TLS setup, when `http.tls_certificate` is set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `http.scanning_paths`, resolved once.
    pub scanning_paths: Vec<PathBuf>,
    /// `http.auth.tokens`, parsed once.
    pub tokens: Vec<crate::proto::kav::auth::TokenHash>,
    /// Set once shutdown has begun.
    pub shutting_down: AtomicBool,
    /// Reload status.
    pub status: Mutex<ServerStatus>,
    /// Process start.
    pub started: Instant,
    /// The limits of every deep scan (`[limits]`, `[formats]`), built once.
    pub limits: DeepLimits,
    /// `clamd.allowed_roots`, resolved once.
    pub roots: Vec<PathBuf>,
    /// Dropping this wakes the UNIX acceptor thread and makes it stop.
    pub acceptor_stop: Mutex<Option<OwnedFd>>,
    /// The UNIX socket files we bound: path, device and inode, so that only ours are
    /// removed at exit.
    pub socket_files: Mutex<Vec<(PathBuf, u64, u64)>>,
}

impl Shared {
    /// New shared state for `cores` cores.
    pub fn new(config: Config, cores: usize, tls: Option<Arc<rustls::ServerConfig>>) -> Shared {
        Shared {
            limits: config.deep_limits(),
            roots: super::files::canonical_roots(&config.clamd.allowed_roots),
            scanning_paths: super::files::canonical_roots(&config.http.scanning_paths),
            // Validated with the configuration, so none is dropped here.
            tokens: config
                .http
                .auth
                .tokens
                .iter()
                .filter_map(|t| t.parse().ok())
                .collect(),
            tls,
            http_open: AtomicUsize::new(0),
            config,
            cores,
            open: (0..cores)
                .map(|_| CachePadded::new(AtomicUsize::new(0)))
                .collect(),
            open_total: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            status: Mutex::new(ServerStatus::default()),
            started: Instant::now(),
            acceptor_stop: Mutex::new(None),
            socket_files: Mutex::new(Vec::new()),
        }
    }

    /// How the databases are loaded, from the configuration.
    pub fn load_options(&self) -> LoadOptions {
        let db = &self.config.database;
        LoadOptions {
            paths: db.paths.clone(),
            strict: db.strict,
            cache_dir: if db.cache {
                db.cache_dir.clone().or_else(crate::db::default_cache_dir)
            } else {
                None
            },
        }
    }

    /// A copy of the reload status.
    pub fn status(&self) -> ServerStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Updates the reload status.
    pub fn update_status(&self, f: impl FnOnce(&mut ServerStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }
}

/// The protocol a listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// The clamd socket protocol.
    Clamd,
    /// Kaspersky Scan Engine's HTTP mode.
    Http,
}

impl Protocol {
    /// The byte that names the protocol in a UNIX connection hand-off.
    pub fn tag(self) -> u8 {
        match self {
            Protocol::Clamd => 0,
            Protocol::Http => 1,
        }
    }

    /// The protocol a hand-off byte names.
    pub fn from_tag(tag: u8) -> Protocol {
        if tag == 1 {
            Protocol::Http
        } else {
            Protocol::Clamd
        }
    }
}

/// Counts a connection as open on a core (and, for HTTP, as an HTTP session) until
/// dropped.
pub struct ConnGuard {
    shared: Arc<Shared>,
    core: usize,
    http: bool,
}

impl ConnGuard {
    /// Counts a new connection on `core`.
    pub fn open(shared: &Arc<Shared>, core: usize, protocol: Protocol) -> ConnGuard {
        shared.count_open(core, protocol);
        ConnGuard::adopt(shared, core, protocol)
    }

    /// Takes over a connection already counted (by the UNIX dispatcher).
    pub fn adopt(shared: &Arc<Shared>, core: usize, protocol: Protocol) -> ConnGuard {
        ConnGuard {
            shared: shared.clone(),
            core,
            http: protocol == Protocol::Http,
        }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let protocol = if self.http {
            Protocol::Http
        } else {
            Protocol::Clamd
        };
        self.shared.uncount_open(self.core, protocol);
    }
}

impl Shared {
    /// Counts a connection opening on `core`.
    pub fn count_open(&self, core: usize, protocol: Protocol) {
        self.open[core].fetch_add(1, Ordering::Relaxed);
        self.open_total.fetch_add(1, Ordering::Relaxed);
        if protocol == Protocol::Http {
            self.http_open.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Undoes [`Shared::count_open`] for a connection that never started.
    pub fn uncount_open(&self, core: usize, protocol: Protocol) {
        self.open[core].fetch_sub(1, Ordering::Relaxed);
        self.open_total.fetch_sub(1, Ordering::Relaxed);
        if protocol == Protocol::Http {
            self.http_open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Counts a connection opening on `core` if the limits allow it; `false` (and
    /// nothing counted) when the server is full. Reserving and checking are one step,
    /// so cores accepting at once cannot both take the last slot.
    pub fn try_count_open(&self, core: usize, protocol: Protocol) -> bool {
        let max = self.config.server.max_connections;
        if self.open_total.fetch_add(1, Ordering::Relaxed) >= max {
            self.open_total.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        if protocol == Protocol::Http
            && self.http_open.fetch_add(1, Ordering::Relaxed) >= self.config.http.max_sessions
        {
            self.http_open.fetch_sub(1, Ordering::Relaxed);
            self.open_total.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        self.open[core].fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Whether a new connection of `protocol` must wait for a free slot.
    pub fn full(&self, protocol: Protocol) -> bool {
        self.open_total.load(Ordering::Relaxed) >= self.config.server.max_connections
            || (protocol == Protocol::Http
                && self.http_open.load(Ordering::Relaxed) >= self.config.http.max_sessions)
    }
}

/// How long a task may keep its core before [`Core::yield_if_busy`] yields.
pub const YIELD_AFTER: std::time::Duration = std::time::Duration::from_millis(1);

/// A request buffer larger than this is freed rather than kept for reuse.
pub const BUFFER_RETAINED: usize = 8 << 20;
/// Bytes of idle request buffers a core keeps.
const POOL_BYTES: usize = 32 << 20;

/// A core's idle request buffers, reused across connections. Buffers keep their
/// length (their bytes are initialized once), so reuse costs nothing.
#[derive(Default)]
pub struct BufferPool {
    idle: RefCell<Vec<Vec<u8>>>,
    bytes: Cell<usize>,
}

impl BufferPool {
    /// The largest idle buffer, or an empty one.
    pub fn take(&self) -> Vec<u8> {
        let mut idle = self.idle.borrow_mut();
        match idle.pop() {
            Some(buf) => {
                self.bytes.set(self.bytes.get() - buf.len());
                buf
            }
            None => Vec::new(),
        }
    }

    /// Keeps `buf` for the next connection, within the pool's budget.
    pub fn give(&self, buf: Vec<u8>) {
        let len = buf.len();
        if len == 0 || len > BUFFER_RETAINED || self.bytes.get() + len > POOL_BYTES {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        idle.push(buf);
        // Largest last, so `take` hands out the one most likely to fit.
        idle.sort_unstable_by_key(Vec::len);
        self.bytes.set(self.bytes.get() + len);
    }
}

/// One core's state, owned by its executor.
pub struct Core {
    /// This core's index (its peer id in the mesh).
    pub id: usize,
    /// Process-wide state.
    pub shared: Arc<Shared>,
    db: RefCell<Arc<Database>>,
    scanner: RefCell<Scanner>,
    /// Counters and histogram.
    pub stats: RefCell<CoreStats>,
    /// Idle request buffers.
    pub buffers: BufferPool,
    mesh: Senders<CoreMsg>,
    replies: RefCell<HashMap<u64, LocalSender<CoreMsg>>>,
    next_request: Cell<u64>,
    stop: Semaphore,
    /// When this core last let other tasks run (see [`Core::yield_if_busy`]).
    last_yield: Cell<Instant>,
    /// Core 0 only: wakes the reload coordinator.
    pub(super) reload_wake: RefCell<Option<LocalSender<()>>>,
    /// Core 0 only: a reload was asked for and not started yet.
    pub(super) reload_pending: Cell<bool>,
}

impl Core {
    /// A core scanning with `db`; its scratch is sized for it here.
    pub fn new(id: usize, shared: Arc<Shared>, db: Arc<Database>, mesh: Senders<CoreMsg>) -> Core {
        let mut scanner = Scanner::new();
        if let Err(e) = scanner.prepare(&db.engine) {
            tracing::error!(core = id, error = %e, "cannot allocate Hyperscan scratch");
        }
        Core {
            id,
            shared,
            db: RefCell::new(db),
            scanner: RefCell::new(scanner),
            stats: RefCell::new(CoreStats::default()),
            buffers: BufferPool::default(),
            mesh,
            replies: RefCell::new(HashMap::new()),
            next_request: Cell::new(1),
            stop: Semaphore::new(0),
            last_yield: Cell::new(Instant::now()),
            reload_wake: RefCell::new(None),
            reload_pending: Cell::new(false),
        }
    }

    /// The database this core scans with now.
    pub fn db(&self) -> Arc<Database> {
        self.db.borrow().clone()
    }

    /// Switches to a new database: grows the scratch first, so the first scan on the
    /// new database finds it ready; a scratch that cannot grow keeps the old database.
    pub fn install(&self, db: Arc<Database>) {
        if let Err(e) = self.scanner.borrow_mut().prepare(&db.engine) {
            tracing::error!(core = self.id, error = %e, "scratch for new database failed; keeping the old one");
            return;
        }
        *self.db.borrow_mut() = db;
    }

    /// Scans `data` and everything inside it on this core, yielding between steps
    /// (one object, or one chunk of unpacking) so that the small requests queued
    /// behind a large archive are served meanwhile. `all_matches` is clamd's
    /// ALLMATCHSCAN; `whole_tree` goes on past the first detection (KAV lists every
    /// sub-object). The database is held for the whole scan: a reload meanwhile lets
    /// this scan finish on the one it started with. Records the scan.
    pub async fn scan_deep<R>(
        &self,
        data: &[u8],
        all_matches: bool,
        whole_tree: bool,
        deadline: Option<Instant>,
        reply: impl FnOnce(&DeepReport<'_>) -> R,
    ) -> R {
        let db = self.db();
        let started = Instant::now();
        let mut limits = self.shared.limits.clone();
        limits.deadline = deadline;
        let options = DeepOptions {
            scan: ScanOptions {
                all_matches,
                ..ScanOptions::default()
            },
            whole_tree: whole_tree || all_matches,
            limits,
        };
        let mut scan = DeepScan::new(&db.engine, Blob::borrowed(data), options);
        loop {
            // The scanner is borrowed for one step only: other tasks of this core
            // scan with it while this one is yielding.
            let finished = scan.step(&mut self.scanner.borrow_mut());
            if finished {
                break;
            }
            self.yield_if_busy().await;
        }
        let report = scan.finish();
        let found = report.detections().next().is_some();
        self.stats
            .borrow_mut()
            .record_scan(data.len(), started.elapsed(), found);
        reply(&report)
    }

    /// Lets the other tasks of this core run if this one has held it for a while.
    /// All of a core's tasks share one glommio task queue, where `yield_if_needed`
    /// never yields, so this yields once [`YIELD_AFTER`] has passed, through the
    /// reactor, so requests that arrived meanwhile are read and served: a long path
    /// command, a large archive or a burst of large scans lets small requests through.
    pub async fn yield_if_busy(&self) {
        if self.last_yield.get().elapsed() >= YIELD_AFTER {
            // glommio polls for I/O only between task-queue runs, and a queue runs
            // until its preempt timer (100 ms) says stop: a plain yield within the
            // queue would keep the requests that arrived meanwhile unread. A timer,
            // even of a microsecond, takes this task off the queue until the reactor
            // has run, which reads them; the yield after it lets the requests that
            // woke go first. (A 1 ms preempt timer also worked, but with it two test
            // runs under load saw a server stop answering until a debugger attached,
            // which looks like a missed wake-up; it was dropped.)
            glommio::executor().yield_now().await;
            glommio::timer::sleep(std::time::Duration::from_micros(1)).await;
            glommio::executor().yield_now().await;
            self.last_yield.set(Instant::now());
        }
    }

    /// Sends a message to another core (never to itself).
    pub async fn send(&self, to: usize, msg: CoreMsg) {
        debug_assert_ne!(to, self.id);
        if self.mesh.send_to(to, msg).await.is_err() {
            tracing::debug!(core = self.id, to, "core is gone; message dropped");
        }
    }

    /// Opens a reply channel for requests to other cores: replies carrying the
    /// returned id are delivered to the receiver until [`Core::close_replies`].
    pub fn open_replies(&self, capacity: usize) -> (u64, LocalReceiver<CoreMsg>) {
        let id = self.next_request.get();
        self.next_request.set(id + 1);
        let (tx, rx) = local_channel::new_bounded(capacity.max(1));
        self.replies.borrow_mut().insert(id, tx);
        (id, rx)
    }

    /// Closes a reply channel.
    pub fn close_replies(&self, id: u64) {
        self.replies.borrow_mut().remove(&id);
    }

    /// Routes a reply from another core to the request waiting for it.
    pub(super) fn deliver_reply(&self, id: u64, msg: CoreMsg) {
        if let Some(tx) = self.replies.borrow().get(&id) {
            // Channels are sized for every reply they can get; a full or closed one
            // means the requester gave up, and the reply is dropped.
            let _ = tx.try_send(msg);
        }
    }

    /// Stops this core: listeners close, idle connections end, busy ones finish
    /// their request.
    pub fn stop(&self) {
        self.stop.close();
    }

    /// Whether this core is stopping.
    pub fn stopping(&self) -> bool {
        self.shared.shutting_down.load(Ordering::Relaxed)
    }

    /// Completes when this core is told to stop.
    pub async fn stopped(&self) {
        // The semaphore has no permits; acquiring fails only once it is closed.
        let _ = self.stop.acquire(1).await;
    }

    /// Open connections on this core.
    pub fn open_connections(&self) -> usize {
        self.shared.open[self.id].load(Ordering::Relaxed)
    }

    /// Number of cores.
    pub fn cores(&self) -> usize {
        self.shared.cores
    }
}

/// Runs `fut` unless the core stops first (then `None`).
pub async fn unless_stopped<T>(
    core: &Core,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        core.stopped().await;
        None
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_pool_reuses_within_its_budget() {
        let pool = BufferPool::default();
        assert!(pool.take().is_empty());
        pool.give(vec![1; 1 << 20]);
        pool.give(vec![2; 4 << 20]);
        // The largest first, bytes as they were left (never zeroed again).
        let big = pool.take();
        assert_eq!((big.len(), big[0]), (4 << 20, 2));
        // Too large to keep, or empty: dropped.
        pool.give(vec![0; BUFFER_RETAINED + 1]);
        pool.give(Vec::new());
        assert_eq!(pool.take().len(), 1 << 20);
        assert!(pool.take().is_empty());
        // The budget caps what is kept.
        for _ in 0..(POOL_BYTES / BUFFER_RETAINED + 2) {
            pool.give(vec![0; BUFFER_RETAINED]);
        }
        assert!(pool.bytes.get() <= POOL_BYTES);
    }
}
