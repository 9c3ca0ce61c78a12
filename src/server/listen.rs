//! Listeners, for both protocols (clamd and KAV HTTP): TCP on every core, the UNIX
//! sockets accepted by one thread with connections spread over all cores.
//!
//! TCP: every core binds the same address; glommio sets SO_REUSEPORT, so the kernel
//! spreads connections over the cores by hashing the 4-tuple.
//!
//! UNIX: Linux does not balance AF_UNIX sockets with SO_REUSEPORT, and glommio's
//! `UnixListener` hides the descriptors we need for SCM_RIGHTS (FILDES). So one small
//! acceptor thread, off the cores, accepts on the sockets and passes each connection
//! to the core with the fewest open connections (ties rotate), as a descriptor sent
//! over that core's inbox (a SOCK_SEQPACKET pair, one message per connection, whose
//! one data byte names the protocol). The gauge of the chosen core is raised at
//! hand-off, so a burst of connections does not all pick the same core before any of
//! them has started. A protocol at its connection limit is not polled; its clients
//! wait in the backlog.

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

use super::core::{unless_stopped, ConnGuard, Core, Protocol, Shared};
use super::transport::Stream;

/// How often a full server looks again for a free connection slot.
const FULL_BACKOFF: Duration = Duration::from_millis(5);

/// Checks that `addr` is free (a plain bind, without SO_REUSEPORT, fails if anyone
/// listens there, even another ringscan) and resolves port 0 to a concrete port so
/// that every core binds the same one.
///
/// A port still busy is tried again for [`BUSY_PORT_WAIT`]: a previous ringscan that
/// has just exited keeps its listeners for a moment, because the kernel tears down an
/// exited process's io_uring (and the sockets it references) asynchronously. A restart
/// right after a stop would otherwise fail.
pub fn resolve_tcp(addr: SocketAddr) -> io::Result<SocketAddr> {
    let deadline = std::time::Instant::now() + BUSY_PORT_WAIT;
    loop {
        match std::net::TcpListener::bind(addr) {
            Ok(probe) => return probe.local_addr(),
            Err(e)
                if e.kind() == io::ErrorKind::AddrInUse && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

/// How long [`resolve_tcp`] waits for a busy port to be released.
const BUSY_PORT_WAIT: Duration = Duration::from_secs(3);

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

/// Binds a TCP listener with SO_REUSEPORT (every core binds the same address),
/// SO_REUSEADDR and the given listen(2) backlog; glommio's own `bind` fixes the
/// backlog at 1024.
fn bind_reuseport(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    use nix::sys::socket::{
        bind, listen, setsockopt, socket, sockopt, Backlog, SockProtocol, SockaddrStorage,
    };
    use std::os::fd::{FromRawFd, IntoRawFd};
    let family = if addr.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let fd = socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Tcp,
    )?;
    setsockopt(&fd, sockopt::ReusePort, &true)?;
    // Connections of a previous run still in TIME_WAIT on this port must not stop a
    // restart (std's TcpListener, the probe in `resolve_tcp`, sets it too).
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    listen(&fd, Backlog::new(backlog).unwrap_or(Backlog::MAXCONN))?;
    // SAFETY: `fd` is a bound, listening TCP socket whose ownership moves to glommio.
    Ok(unsafe { TcpListener::from_raw_fd(fd.into_raw_fd()) })
}

/// Sets the listen(2) backlog of an already listening socket (Linux applies a second
/// `listen` to the existing queue).
pub fn set_backlog(fd: &impl AsFd, backlog: u32) -> io::Result<()> {
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    nix::sys::socket::listen(
        fd,
        nix::sys::socket::Backlog::new(backlog).unwrap_or(nix::sys::socket::Backlog::MAXCONN),
    )?;
    Ok(())
}

/// The listen(2) backlog for a protocol's listeners.
fn backlog(core: &Core, protocol: Protocol) -> u32 {
    match protocol {
        Protocol::Clamd => CLAMD_BACKLOG,
        Protocol::Http => core.shared.config.http.backlog,
    }
}

/// Backlog of the clamd listeners (glommio's, kept; clamd's own default is 200).
pub const CLAMD_BACKLOG: u32 = 1024;

/// Counts a connection on this core as soon as the limits allow; `false` when
/// stopping (nothing counted).
async fn reserve_slot(core: &Core, protocol: Protocol) -> bool {
    while !core.shared.try_count_open(core.id, protocol) {
        if unless_stopped(core, glommio::timer::sleep(FULL_BACKOFF))
            .await
            .is_none()
        {
            return false;
        }
    }
    true
}

/// Waits until the server is under its connection limits; `false` when stopping.
async fn wait_for_slot(core: &Core, protocol: Protocol) -> bool {
    while core.shared.full(protocol) {
        if unless_stopped(core, glommio::timer::sleep(FULL_BACKOFF))
            .await
            .is_none()
        {
            return false;
        }
    }
    !core.stopping()
}

/// Accepts TCP connections of `protocol` on this core until it stops.
pub async fn tcp_accept_loop(core: Rc<Core>, addr: SocketAddr, protocol: Protocol) {
    let listener = match bind_reuseport(addr, backlog(&core, protocol)) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(core = core.id, %addr, error = %e, "cannot listen on TCP");
            return;
        }
    };
    loop {
        if !wait_for_slot(&core, protocol).await {
            break;
        }
        match unless_stopped(&core, listener.accept()).await {
            None => break,
            Some(Ok(stream)) => {
                // Another core may have taken the last slot while this one waited
                // in accept: the connection then waits here, unserved, as it would
                // have in the backlog (at most one per core).
                if !reserve_slot(&core, protocol).await {
                    break;
                }
                let guard = ConnGuard::adopt(&core.shared, core.id, protocol);
                spawn_connection(&core, Stream::tcp(stream), guard, protocol);
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

/// Starts the UNIX acceptor thread, for every UNIX listener (clamd and HTTP). It
/// ends when `stop` becomes readable (a byte is written to, or the other end of, that
/// socket is closed).
pub fn spawn_unix_acceptor(
    listeners: Vec<(std::os::unix::net::UnixListener, Protocol)>,
    inboxes: Vec<OwnedFd>,
    shared: Arc<Shared>,
    stop: OwnedFd,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ringscan-unix-accept".into())
        .spawn(move || unix_acceptor(listeners, inboxes, shared, stop))
}

fn unix_acceptor(
    listeners: Vec<(std::os::unix::net::UnixListener, Protocol)>,
    inboxes: Vec<OwnedFd>,
    shared: Arc<Shared>,
    stop: OwnedFd,
) {
    let mut next = 0usize;
    loop {
        // A protocol at its limit is not polled: its clients wait in the backlog
        // until a connection closes, which the timeout notices.
        let open: Vec<&(std::os::unix::net::UnixListener, Protocol)> = listeners
            .iter()
            .filter(|(_, protocol)| !shared.full(*protocol))
            .collect();
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|(l, _)| PollFd::new(l.as_fd(), PollFlags::POLLIN))
            .collect();
        fds.push(PollFd::new(stop.as_fd(), PollFlags::POLLIN));
        let timeout = if open.len() < listeners.len() {
            PollTimeout::from(FULL_BACKOFF.as_millis() as u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Err(Errno::EINTR) => continue,
            Err(e) => {
                tracing::error!(error = %e, "UNIX acceptor: poll failed");
                return;
            }
            Ok(_) => {}
        }
        let stop_ready = fds.last().and_then(|f| f.any()).unwrap_or(true);
        if stop_ready || shared.shutting_down.load(Ordering::Relaxed) {
            break;
        }
        let ready: Vec<usize> = (0..open.len())
            .filter(|&i| fds[i].any().unwrap_or(false))
            .collect();
        for i in ready {
            let (listener, protocol) = open[i];
            if !hand_off_one(listener, *protocol, &inboxes, &shared, &mut next) {
                tracing::debug!("UNIX acceptor stopped");
                return;
            }
        }
    }
    tracing::debug!("UNIX acceptor stopped");
}

/// Accepts one connection from `listener` and hands it to the least-loaded core.
/// `false` when shutdown began.
fn hand_off_one(
    listener: &std::os::unix::net::UnixListener,
    protocol: Protocol,
    inboxes: &[OwnedFd],
    shared: &Shared,
    next: &mut usize,
) -> bool {
    if shared.full(protocol) {
        // Full: leave connections in the backlog until one closes.
        return true;
    }
    {
        let conn = match listener.accept() {
            Ok((conn, _)) => OwnedFd::from(conn),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                return true
            }
            Err(e) => {
                tracing::warn!(error = %e, "UNIX accept failed");
                std::thread::sleep(FULL_BACKOFF);
                return true;
            }
        };
        if shared.shutting_down.load(Ordering::Relaxed) {
            // Shutdown began while this client connected: the cores stop taking
            // connections, so close it now rather than hand it to nobody.
            drop(conn);
            return false;
        }
        let target = least_loaded(shared, *next);
        *next = (target + 1) % shared.cores;
        // A TCP accept on a core may take the last slot between our check and here;
        // this connection is then served one over the limit rather than have the
        // acceptor (both protocols' UNIX sockets) wait for a slot.
        if !shared.try_count_open(target, protocol) {
            shared.count_open(target, protocol);
        }
        let raw = [conn.as_raw_fd()];
        let sent = sendmsg::<()>(
            inboxes[target].as_raw_fd(),
            &[io::IoSlice::new(&[protocol.tag()])],
            &[ControlMessage::ScmRights(&raw)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        );
        if let Err(e) = sent {
            // The core is gone (shutting down); the connection closes unanswered
            // before any request was read from it.
            tracing::warn!(core = target, error = %e, "cannot hand connection to core");
            shared.uncount_open(target, protocol);
        }
        // Our copy closes here; the core received its own descriptor.
    }
    true
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
            Some(Ok(_)) => serve_received(&core, &mut inbox, Protocol::from_tag(byte[0])),
        }
    }
    while matches!(inbox.try_read(&mut byte), Ok(n) if n > 0) {
        serve_received(&core, &mut inbox, Protocol::from_tag(byte[0]));
    }
}

/// Serves the connection that arrived with one inbox message (a SOCK_SEQPACKET read
/// returns exactly one message: the protocol byte and its descriptor).
fn serve_received(core: &Rc<Core>, inbox: &mut Stream, protocol: Protocol) {
    while let Some(fd) = inbox.take_fd() {
        let guard = ConnGuard::adopt(&core.shared, core.id, protocol);
        spawn_connection(core, Stream::unix(fd), guard, protocol);
    }
}

fn spawn_connection(core: &Rc<Core>, stream: Stream, guard: ConnGuard, protocol: Protocol) {
    core.stats.borrow_mut().connections += 1;
    let core = core.clone();
    glommio::spawn_local(async move {
        match protocol {
            Protocol::Clamd => super::clamd::serve_connection(&core, stream).await,
            Protocol::Http => super::http::serve_connection(&core, stream).await,
        }
        drop(guard);
    })
    .detach();
}
