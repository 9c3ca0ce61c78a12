//! Listeners: TCP on every core, the UNIX socket on core 0 with connections spread
//! over all cores.
//!
//! TCP: every core binds the same address; glommio sets SO_REUSEPORT, so the kernel
//! spreads connections over the cores by hashing the 4-tuple.
//!
//! UNIX: Linux does not balance AF_UNIX sockets with SO_REUSEPORT, and glommio's
//! `UnixListener` hides the descriptors we need for SCM_RIGHTS (FILDES). So one small
//! acceptor thread, off the cores, accepts on the socket and passes each connection
//! to the core with the fewest open connections (ties rotate), as a descriptor sent
//! over that core's inbox (a SOCK_SEQPACKET pair, one message per connection). The
//! gauge of the chosen core is raised at hand-off, so a burst of connections does not
//! all pick the same core before any of them has started.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use glommio::net::TcpListener;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};

use super::core::{unless_stopped, ConnGuard, Core, Shared};
use super::transport::Stream;

/// How often a full server looks again for a free connection slot.
const FULL_BACKOFF: Duration = Duration::from_millis(5);

/// Checks that `addr` is free (a plain bind, without SO_REUSEPORT, fails if anyone
/// listens there, even another ringscan) and resolves port 0 to a concrete port so
/// that every core binds the same one.
pub fn resolve_tcp(addr: SocketAddr) -> io::Result<SocketAddr> {
    let probe = std::net::TcpListener::bind(addr)?;
    probe.local_addr()
}

/// Prepares the UNIX socket path: a stale socket file (nobody answers on it) is
/// removed, as clamd does; a live one is an error.
pub fn prepare_unix_path(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(_) => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "{}: socket file is in use by another process",
                        path.display()
                    ),
                ));
            }
            std::fs::remove_file(path)
        }
    }
}

/// Sets the socket file's permission bits (clamd's LocalSocketMode).
pub fn chmod_socket(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Waits until the server is under its connection limit; `false` when stopping.
async fn wait_for_slot(core: &Core) -> bool {
    let max = core.shared.config.server.max_connections;
    while core.shared.open_total.load(Ordering::Relaxed) >= max {
        if unless_stopped(core, glommio::timer::sleep(FULL_BACKOFF))
            .await
            .is_none()
        {
            return false;
        }
    }
    !core.stopping()
}

/// Accepts TCP connections on this core until it stops.
pub async fn tcp_accept_loop(core: Rc<Core>, addr: SocketAddr) {
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(core = core.id, %addr, error = %e, "cannot listen on TCP");
            return;
        }
    };
    loop {
        if !wait_for_slot(&core).await {
            break;
        }
        match unless_stopped(&core, listener.accept()).await {
            None => break,
            Some(Ok(stream)) => {
                let guard = ConnGuard::open(&core.shared, core.id);
                spawn_connection(&core, Stream::tcp(stream), guard);
            }
            Some(Err(e)) => {
                tracing::warn!(core = core.id, error = %e, "TCP accept failed");
                glommio::timer::sleep(FULL_BACKOFF).await;
            }
        }
    }
    tracing::debug!(core = core.id, "TCP listener closed");
}

/// The acceptor's end of every core's inbox, and the cores' ends.
pub struct Inboxes {
    /// Written by the acceptor thread, one per core.
    pub senders: Vec<OwnedFd>,
    /// Read by each core, one per core.
    pub receivers: Vec<OwnedFd>,
}

impl Inboxes {
    /// One SOCK_SEQPACKET pair per core.
    pub fn new(cores: usize) -> io::Result<Inboxes> {
        let mut senders = Vec::with_capacity(cores);
        let mut receivers = Vec::with_capacity(cores);
        for _ in 0..cores {
            let (a, b) = socketpair(
                AddressFamily::Unix,
                SockType::SeqPacket,
                None,
                SockFlag::SOCK_CLOEXEC,
            )?;
            senders.push(a);
            receivers.push(b);
        }
        Ok(Inboxes { senders, receivers })
    }
}

/// Starts the UNIX acceptor thread. It ends when `stop` becomes readable (a byte is
/// written to, or the other end of, that socket is closed).
pub fn spawn_unix_acceptor(
    listener: std::os::unix::net::UnixListener,
    inboxes: Vec<OwnedFd>,
    shared: Arc<Shared>,
    stop: OwnedFd,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ringscan-unix-accept".into())
        .spawn(move || unix_acceptor(listener, inboxes, shared, stop))
}

fn unix_acceptor(
    listener: std::os::unix::net::UnixListener,
    inboxes: Vec<OwnedFd>,
    shared: Arc<Shared>,
    stop: OwnedFd,
) {
    let mut next = 0usize;
    let max = shared.config.server.max_connections;
    loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(e) => {
                tracing::error!(error = %e, "UNIX acceptor: poll failed");
                return;
            }
            Ok(_) => {}
        }
        if fds[1].any().unwrap_or(true) || shared.shutting_down.load(Ordering::Relaxed) {
            break;
        }
        if shared.open_total.load(Ordering::Relaxed) >= max {
            // Full: leave connections in the backlog until one closes.
            std::thread::sleep(FULL_BACKOFF);
            continue;
        }
        let conn = match listener.accept() {
            Ok((conn, _)) => OwnedFd::from(conn),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                continue
            }
            Err(e) => {
                tracing::warn!(error = %e, "UNIX accept failed");
                std::thread::sleep(FULL_BACKOFF);
                continue;
            }
        };
        if shared.shutting_down.load(Ordering::Relaxed) {
            // Shutdown began while this client connected: the cores stop taking
            // connections, so close it now rather than hand it to nobody.
            drop(conn);
            break;
        }
        let target = least_loaded(&shared, next);
        next = (target + 1) % shared.cores;
        shared.open[target].fetch_add(1, Ordering::Relaxed);
        shared.open_total.fetch_add(1, Ordering::Relaxed);
        let raw = [conn.as_raw_fd()];
        let sent = sendmsg::<()>(
            inboxes[target].as_raw_fd(),
            &[io::IoSlice::new(&[0u8])],
            &[ControlMessage::ScmRights(&raw)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        );
        if let Err(e) = sent {
            // The core is gone (shutting down); the connection closes unanswered
            // before any request was read from it.
            tracing::warn!(core = target, error = %e, "cannot hand connection to core");
            shared.open[target].fetch_sub(1, Ordering::Relaxed);
            shared.open_total.fetch_sub(1, Ordering::Relaxed);
        }
        // Our copy closes here; the core received its own descriptor.
    }
    tracing::debug!("UNIX acceptor stopped");
}

/// The core with the fewest open connections, searching from `start` so that ties
/// rotate.
fn least_loaded(shared: &Shared, start: usize) -> usize {
    let n = shared.cores;
    (0..n)
        .map(|i| (start + i) % n)
        .min_by_key(|&i| shared.open[i].load(Ordering::Relaxed))
        .unwrap_or(0)
}

/// Receives UNIX connections from this core's inbox until the core stops; then
/// takes the ones already handed over, so that a request a client sent just before
/// shutdown is still answered.
pub async fn inbox_loop(core: Rc<Core>, inbox: OwnedFd) {
    let mut inbox = Stream::unix(inbox);
    let mut byte = [0u8; 16];
    loop {
        match unless_stopped(&core, inbox.read(&mut byte)).await {
            None => break,
            Some(Ok(0)) => return,
            Some(Err(e)) => {
                tracing::error!(core = core.id, error = %e, "inbox read failed");
                return;
            }
            Some(Ok(_)) => serve_received(&core, &mut inbox),
        }
    }
    while matches!(inbox.try_read(&mut byte), Ok(n) if n > 0) {
        serve_received(&core, &mut inbox);
    }
}

fn serve_received(core: &Rc<Core>, inbox: &mut Stream) {
    while let Some(fd) = inbox.take_fd() {
        let guard = ConnGuard::adopt(&core.shared, core.id);
        spawn_connection(core, Stream::unix(fd), guard);
    }
}

fn spawn_connection(core: &Rc<Core>, stream: Stream, guard: ConnGuard) {
    core.stats.borrow_mut().connections += 1;
    let core = core.clone();
    glommio::spawn_local(async move {
        super::clamd::serve_connection(&core, stream).await;
        drop(guard);
    })
    .detach();
}
