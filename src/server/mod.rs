//! The scan server: one pinned glommio executor per core, each owning its share of
//! the listeners, a Hyperscan scratch, its buffers and its counters.
//!
//! - [`core`]: what a core owns, and the little all cores share.
//! - [`listen`]: TCP on every core (SO_REUSEPORT), the UNIX sockets (clamd and
//!   HTTP) accepted by one thread and spread over all cores.
//! - [`transport`]: one connection, TCP, TLS or UNIX (with SCM_RIGHTS descriptors).
//! - [`clamd`]: the clamd protocol driver, over the codec in `proto::clamd`.
//! - [`http`]: Kaspersky Scan Engine's HTTP mode, over the codec in `proto::kav`.
//! - [`files`]: path commands: allowed roots, directory walks, file reads.
//! - [`mesh`]: messages between cores.
//! - [`reload`]: hot reload, compiled off the cores and published to each.
//! - [`database`], [`stats`], [`config`].
//!
//! Life of the process: [`serve`] loads the database (a broken one stops startup,
//! unlike a reload), binds, starts the executors and waits for them. Shutdown
//! (SIGTERM, SIGINT or SHUTDOWN) goes through core 0, which tells every core to stop
//! accepting; cores end idle connections, let busy ones finish their request (up to
//! `shutdown_grace`), and return; the socket file is removed and the process exits 0.

pub mod clamd;
pub mod config;
pub mod core;
pub mod database;
pub mod files;
pub mod http;
pub mod listen;
pub mod mesh;
pub mod reload;
pub mod stats;
pub mod transport;

use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{CpuSet, LocalExecutorBuilder, Placement, PoolPlacement};

use self::config::Config;
use self::core::{unless_stopped, Core, Protocol, Shared};
use self::database::Database;
use self::mesh::CoreMsg;

/// Capacity of each core-to-core channel.
const MESH_CAPACITY: usize = 1024;
/// How often a stopping core checks whether its connections are done.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// Why the server could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database did not load at startup.
    #[error("database: {0}")]
    Database(#[from] crate::db::DbError),
    /// A listener could not be set up.
    #[error("{what}: {source}")]
    Listen {
        /// Which listener.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The executors could not start.
    #[error("executors: {0}")]
    Executor(String),
}

/// Runs the server until it is shut down.
pub fn serve(config: Config) -> Result<(), ServeError> {
    let cpus = usable_cpus();
    let cores = match config.server.cores {
        0 => cpus.len(),
        n => n,
    };
    if cores > cpus.len() {
        tracing::warn!(
            cores,
            cpus = cpus.len(),
            "more cores than CPUs; executors will share CPUs"
        );
    }

    let tcp = match config.server.tcp {
        Some(addr) => Some(
            listen::resolve_tcp(addr).map_err(|source| ServeError::Listen {
                what: format!("tcp {addr}"),
                source,
            })?,
        ),
        None => None,
    };
    let http_tcp = match config.http.tcp {
        Some(addr) => Some(
            listen::resolve_tcp(addr).map_err(|source| ServeError::Listen {
                what: format!("http tcp {addr}"),
                source,
            })?,
        ),
        None => None,
    };
    let tls =
        match (&config.http.tls_certificate, &config.http.tls_key) {
            (Some(cert), Some(key)) => Some(http::tls::server_config(cert, key).map_err(
                |source| ServeError::Listen {
                    what: "http tls".into(),
                    source,
                },
            )?),
            _ => None,
        };
    let unix = config.server.unix_socket.clone();
    let http_unix = config.http.unix_socket.clone();
    let mut unix_listeners = Vec::new();
    if let Some(path) = &unix {
        let listener = bind_unix(path, config.server.unix_socket_mode)?;
        unix_listeners.push((listener, Protocol::Clamd));
    }
    if let Some(path) = &http_unix {
        let listener = bind_unix(path, config.http.unix_socket_mode)?;
        listen::set_backlog(&listener, config.http.backlog).map_err(|source| {
            ServeError::Listen {
                what: format!("unix socket {}", path.display()),
                source,
            }
        })?;
        unix_listeners.push((listener, Protocol::Http));
    }
    let signals = Signals::install().map_err(|source| ServeError::Listen {
        what: "signal handlers".into(),
        source,
    })?;

    let shared = Arc::new(Shared::new(config, cores, tls));
    for path in unix.iter().chain(http_unix.iter()) {
        if let Ok(m) = std::fs::symlink_metadata(path) {
            use std::os::unix::fs::MetadataExt;
            if let Ok(mut files) = shared.socket_files.lock() {
                files.push((path.clone(), m.dev(), m.ino()));
            }
        }
    }
    let db = Arc::new(database::load(&shared.load_options(), 1)?);
    db.log_loaded("database loaded");

    let inboxes = listen::Inboxes::new(cores).map_err(|source| ServeError::Listen {
        what: "core inboxes".into(),
        source,
    })?;
    let mut acceptor = None;
    if !unix_listeners.is_empty() {
        let listener = unix_listeners;
        let (stop_read, stop_write) =
            std::os::unix::net::UnixStream::pair().map_err(|source| ServeError::Listen {
                what: "acceptor stop pipe".into(),
                source,
            })?;
        if let Ok(mut slot) = shared.acceptor_stop.lock() {
            *slot = Some(stop_write.into());
        }
        let thread = listen::spawn_unix_acceptor(
            listener,
            inboxes.senders,
            shared.clone(),
            stop_read.into(),
        )
        .map_err(|source| ServeError::Listen {
            what: "acceptor thread".into(),
            source,
        })?;
        acceptor = Some(thread);
    }
    let mut inbox_receivers = inboxes.receivers.into_iter();
    let mesh = MeshBuilder::<CoreMsg, _>::full(cores, MESH_CAPACITY);
    let io_memory = shared.config.server.io_memory as usize;
    let mut signals = Some(signals);
    let mut handles = Vec::with_capacity(cores);
    let (start_tx, start_rx) = std::sync::mpsc::channel();
    for index in 0..cores {
        let cpu = cpus[index % cpus.len()];
        let ctx = CoreStart {
            shared: shared.clone(),
            db: db.clone(),
            mesh: mesh.clone(),
            tcp,
            http_tcp,
            inbox: inbox_receivers.next(),
            signals: if index == 0 { signals.take() } else { None },
            started: StartReport {
                index,
                tx: start_tx.clone(),
                sent: false,
            },
        };
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("ringscan-core{index}"))
            .io_memory(io_memory.max(64 << 10))
            // One helper thread, not pinned: database compiles run there, on
            // whichever CPU is least busy rather than on this core's.
            .blocking_thread_pool_placement(PoolPlacement::Unbound(1))
            .spawn(move || run_core(ctx))
            .map_err(|e| ServeError::Executor(e.to_string()))?;
        handles.push(Some(handle));
    }
    drop(db);
    drop(start_tx);
    for _ in 0..cores {
        match start_rx.recv() {
            Ok((_, true)) => {}
            Ok((index, false)) => {
                let why = match handles[index].take().map(|h| h.join()) {
                    Some(Err(e)) => e.to_string(),
                    _ => "it could not join the core mesh".into(),
                };
                drop(shared.acceptor_stop.lock().ok().and_then(|mut s| s.take()));
                remove_socket_file(&shared);
                // The cores that did start wait in the mesh for this one; returning
                // ends the process, and them with it.
                return Err(ServeError::Executor(format!(
                    "core {index} (CPU {}) did not start: {why}",
                    cpus[index % cpus.len()]
                )));
            }
            Err(_) => break,
        }
    }
    tracing::info!(
        cores,
        tcp = ?tcp,
        unix = ?unix,
        "ringscan serving the clamd protocol"
    );
    if http_tcp.is_some() || http_unix.is_some() {
        tracing::info!(
            tcp = ?http_tcp,
            tls = shared.tls.is_some(),
            unix = ?http_unix,
            "ringscan serving the KAV HTTP protocol"
        );
    }
    for h in handles.into_iter().flatten() {
        if let Err(e) = h.join() {
            tracing::error!(error = %e, "executor ended abnormally");
        }
    }
    // Normally stopped by shutdown already; this covers cores that died.
    drop(shared.acceptor_stop.lock().ok().and_then(|mut s| s.take()));
    if let Some(thread) = acceptor {
        let _ = thread.join();
    }
    remove_socket_file(&shared);
    tracing::info!("ringscan stopped");
    Ok(())
}

/// Removes our socket files, unless no longer ours: a server started during our
/// shutdown grace may have bound the same path.
fn remove_socket_file(shared: &Shared) {
    let files = shared
        .socket_files
        .lock()
        .map(|mut s| std::mem::take(&mut *s))
        .unwrap_or_default();
    for (path, dev, ino) in files {
        let still_ours = std::fs::symlink_metadata(&path).is_ok_and(|m| {
            std::os::unix::fs::MetadataExt::dev(&m) == dev
                && std::os::unix::fs::MetadataExt::ino(&m) == ino
        });
        if still_ours {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Binds the UNIX socket (clearing a stale socket file) and sets its mode.
fn bind_unix(
    path: &std::path::Path,
    mode: u32,
) -> Result<std::os::unix::net::UnixListener, ServeError> {
    let err = |source| ServeError::Listen {
        what: format!("unix socket {}", path.display()),
        source,
    };
    listen::prepare_unix_path(path).map_err(err)?;
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(err)?;
    // A client that gives up between poll and accept must not block the acceptor.
    listener.set_nonblocking(true).map_err(err)?;
    listen::chmod_socket(path, mode).map_err(err)?;
    Ok(listener)
}

/// The CPUs the executors are pinned to: the online CPUs in this process's affinity
/// mask. The mask is what `taskset`, systemd's `CPUAffinity=` and a cpuset cgroup
/// (`AllowedCPUs=`, containers) set; pinning outside it would either ignore the
/// operator's choice (affinity) or fail outright (cpuset).
fn usable_cpus() -> Vec<usize> {
    let online: Vec<usize> = CpuSet::online()
        .map(|set| set.iter().map(|l| l.cpu).collect())
        .unwrap_or_default();
    let allowed = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok();
    let mut cpus: Vec<usize> = online
        .iter()
        .copied()
        .filter(|&cpu| allowed.is_none_or(|set| set.is_set(cpu).unwrap_or(false)))
        .collect();
    cpus.sort_unstable();
    cpus.dedup();
    if cpus.is_empty() {
        // No usable answer from the kernel: let the first CPU stand for all.
        cpus = online.into_iter().min().into_iter().collect();
    }
    if cpus.is_empty() {
        cpus.push(0);
    }
    cpus
}

/// Tells `serve` whether an executor came up. [`StartReport::ready`] once it has
/// joined the core mesh; dropped before that (the executor could not be built: no
/// io_uring, a CPU it may not run on; or the mesh failed) it reports a failure. The
/// other executors would otherwise wait in the mesh for their missing peer forever,
/// and the server would look started while serving nothing.
struct StartReport {
    index: usize,
    tx: std::sync::mpsc::Sender<(usize, bool)>,
    sent: bool,
}

impl StartReport {
    fn ready(mut self) {
        let _ = self.tx.send((self.index, true));
        self.sent = true;
    }
}

impl Drop for StartReport {
    fn drop(&mut self) {
        if !self.sent {
            let _ = self.tx.send((self.index, false));
        }
    }
}

/// What one executor starts with.
struct CoreStart {
    shared: Arc<Shared>,
    db: Arc<Database>,
    mesh: MeshBuilder<CoreMsg, glommio::channels::channel_mesh::Full>,
    tcp: Option<std::net::SocketAddr>,
    http_tcp: Option<std::net::SocketAddr>,
    inbox: Option<OwnedFd>,
    signals: Option<Signals>,
    started: StartReport,
}

async fn run_core(ctx: CoreStart) {
    let (senders, receivers) = match ctx.mesh.join().await {
        Ok(pair) => {
            ctx.started.ready();
            pair
        }
        Err(e) => {
            tracing::error!(error = ?e, "cannot join the core mesh");
            return;
        }
    };
    let id = senders.peer_id();
    let core = Rc::new(Core::new(id, ctx.shared.clone(), ctx.db, senders));
    mesh::spawn_receivers(&core, receivers);

    if let Some(addr) = ctx.tcp {
        glommio::spawn_local(listen::tcp_accept_loop(core.clone(), addr, Protocol::Clamd)).detach();
    }
    if let Some(addr) = ctx.http_tcp {
        glommio::spawn_local(listen::tcp_accept_loop(core.clone(), addr, Protocol::Http)).detach();
    }
    if id == 0 {
        reload::start(&core);
        let db_config = &core.shared.config.database;
        if db_config.watch {
            reload::start_watch(&core, db_config.watch_interval);
        }
        if let Some(signals) = ctx.signals {
            signals.spawn_watchers(&core);
        }
    }
    if let Some(inbox) = ctx.inbox {
        glommio::spawn_local(listen::inbox_loop(core.clone(), inbox)).detach();
    }

    core.stopped().await;
    let deadline = Instant::now() + core.shared.config.server.shutdown_grace;
    while core.open_connections() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(DRAIN_POLL).await;
    }
    if core.open_connections() > 0 {
        tracing::warn!(
            core = id,
            open = core.open_connections(),
            "shutdown grace over; closing busy connections"
        );
    }
}

/// Starts shutdown from any core: core 0 tells every core to stop.
pub async fn begin_shutdown(core: &Rc<Core>) {
    if core.id != 0 {
        core.send(0, CoreMsg::Shutdown).await;
        return;
    }
    if core.shared.shutting_down.swap(true, Ordering::SeqCst) {
        return;
    }
    tracing::info!("shutting down: no new connections, finishing requests in flight");
    // The acceptor thread stops when its stop socket closes.
    drop(
        core.shared
            .acceptor_stop
            .lock()
            .ok()
            .and_then(|mut s| s.take()),
    );
    // Clients fail fast from now on instead of queueing on a socket nobody accepts.
    remove_socket_file(&core.shared);
    for to in (0..core.cores()).filter(|&c| c != core.id) {
        core.send(to, CoreMsg::Stop).await;
    }
    core.stop();
}

/// Returns memory freed by a replaced database to the OS now rather than when the
/// allocator gets to it, so RSS after a reload comes back to the steady state.
pub fn release_free_memory() {
    // SAFETY: mi_collect only walks the calling thread's heap and the shared segment
    // cache; it is documented as callable at any time.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// Signal delivery into core 0: signal-hook writes a byte into a socket pair for each
/// signal, and core 0 reads the other end like any socket, so no executor is ever
/// interrupted in the middle of a scan.
struct Signals {
    reload: OwnedFd,
    stop: OwnedFd,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR2};
        use signal_hook::low_level::pipe;
        let (reload_read, reload_write) = std::os::unix::net::UnixStream::pair()?;
        pipe::register(SIGHUP, reload_write.try_clone()?)?;
        pipe::register(SIGUSR2, reload_write)?;
        let (stop_read, stop_write) = std::os::unix::net::UnixStream::pair()?;
        pipe::register(SIGTERM, stop_write.try_clone()?)?;
        pipe::register(SIGINT, stop_write)?;
        Ok(Signals {
            reload: reload_read.into(),
            stop: stop_read.into(),
        })
    }

    fn spawn_watchers(self, core: &Rc<Core>) {
        // SAFETY: each descriptor is a connected socket we own; glommio takes it over.
        let reload = unsafe { glommio::net::UnixStream::from_raw_fd(self.reload.into_raw_fd()) };
        let stop = unsafe { glommio::net::UnixStream::from_raw_fd(self.stop.into_raw_fd()) };
        let c = core.clone();
        glommio::spawn_local(async move {
            let mut reload = reload;
            let mut buf = [0u8; 64];
            while let Some(Ok(n)) = unless_stopped(&c, reload.read(&mut buf)).await {
                if n == 0 {
                    break;
                }
                tracing::info!("reload signal received");
                reload::request(&c);
            }
        })
        .detach();
        let c = core.clone();
        glommio::spawn_local(async move {
            let mut stop = stop;
            let mut buf = [0u8; 64];
            if let Some(Ok(n)) = unless_stopped(&c, stop.read(&mut buf)).await {
                if n > 0 {
                    tracing::info!("termination signal received");
                    begin_shutdown(&c).await;
                }
            }
        })
        .detach();
    }
}
