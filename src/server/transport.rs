//! One client connection, TCP or UNIX, behind one read/write interface.
//!
//! UNIX connections are read with `recvmsg` so that file descriptors passed with
//! SCM_RIGHTS (clamd's FILDES) are caught with the byte they travel with; a plain
//! `recv` would silently close them. glommio's `UnixStream` has no ancillary-data API,
//! (and no `AsRawFd`), so UNIX connections are made from descriptors we accepted
//! ourselves (see `listen`): the read is a non-blocking `recvmsg` on that descriptor,
//! and when nothing is there yet we wait on glommio's `peek`, which completes when
//! data arrives without consuming it. TCP connections use glommio's reads directly.

use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpStream, UnixStream};
use nix::errno::Errno;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

/// Descriptors one connection may hold unclaimed (pipelined FILDES deliver theirs
/// ahead of execution); more are closed on arrival.
const MAX_PENDING_FDS: usize = 16;
/// The most descriptors one SCM_RIGHTS message can carry on Linux.
const SCM_MAX_FD: usize = 253;

/// A client connection.
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// TLS over TCP (the HTTP mode with `http.tls_certificate`).
    Tls(Box<futures_rustls::server::TlsStream<TcpStream>>),
    /// UNIX socket, with descriptors received and not yet claimed by FILDES.
    Unix {
        /// The socket.
        stream: UnixStream,
        /// Its descriptor (owned by `stream`).
        fd: RawFd,
        /// Received descriptors, oldest first.
        fds: Vec<OwnedFd>,
    },
}

impl Stream {
    /// Takes over a connected UNIX socket.
    pub fn unix(socket: OwnedFd) -> Stream {
        let fd = socket.into_raw_fd();
        // SAFETY: `fd` is a connected socket whose ownership moves to glommio here.
        let stream = unsafe { UnixStream::from_raw_fd(fd) };
        Stream::Unix {
            stream,
            fd,
            fds: Vec::new(),
        }
    }

    /// Wraps a TCP connection (Nagle off: replies are small and awaited).
    pub fn tcp(stream: TcpStream) -> Stream {
        let _ = stream.set_nodelay(true);
        Stream::Tcp(stream)
    }

    /// Runs the TLS handshake on a TCP connection.
    pub async fn tls(self, config: std::sync::Arc<rustls::ServerConfig>) -> io::Result<Stream> {
        match self {
            Stream::Tcp(tcp) => {
                let acceptor = futures_rustls::TlsAcceptor::from(config);
                Ok(Stream::Tls(Box::new(acceptor.accept(tcp).await?)))
            }
            other => Ok(other),
        }
    }

    /// Whether this is a UNIX-socket connection (FILDES is only valid there).
    pub fn is_unix(&self) -> bool {
        matches!(self, Stream::Unix { .. })
    }

    /// Whether the peer is on this host: a UNIX socket, or TCP from a loopback address.
    pub fn is_local(&self) -> bool {
        match self {
            Stream::Unix { .. } => true,
            // Canonical: `::ffff:127.0.0.1` on a dual-stack listener is loopback too.
            Stream::Tcp(s) => s
                .peer_addr()
                .is_ok_and(|a| a.ip().to_canonical().is_loopback()),
            Stream::Tls(s) => s
                .get_ref()
                .0
                .peer_addr()
                .is_ok_and(|a| a.ip().to_canonical().is_loopback()),
        }
    }

    /// The peer, for logs.
    pub fn peer(&self) -> String {
        let tcp_peer = |s: &TcpStream| {
            s.peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "tcp:?".into())
        };
        match self {
            Stream::Tcp(s) => tcp_peer(s),
            Stream::Tls(s) => tcp_peer(s.get_ref().0),
            Stream::Unix { .. } => "unix".into(),
        }
    }

    /// Reads some bytes; 0 means the peer closed.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
            Stream::Unix { stream, fd, fds } => loop {
                match recv_with_fds(*fd, buf, fds) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        let mut probe = [0u8; 1];
                        if stream.peek(&mut probe).await? == 0 {
                            return Ok(0);
                        }
                    }
                    other => return other,
                }
            },
        }
    }

    /// Reads what is already there without waiting (UNIX only; TCP reports
    /// `WouldBlock`).
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix { fd, fds, .. } => recv_with_fds(*fd, buf, fds),
            Stream::Tcp(_) | Stream::Tls(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Writes all of `data`.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(data).await,
            // rustls buffers records; flushed so the answer leaves now.
            Stream::Tls(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Stream::Unix { stream, .. } => stream.write_all(data).await,
        }
    }

    /// Shuts the write side (TLS: after its close_notify); reads still work.
    pub async fn close_write(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.close().await,
            Stream::Tls(s) => s.close().await,
            Stream::Unix { stream, .. } => stream.close().await,
        }
    }

    /// Takes the oldest received descriptor.
    pub fn take_fd(&mut self) -> Option<OwnedFd> {
        match self {
            Stream::Unix { fds, .. } if !fds.is_empty() => Some(fds.remove(0)),
            _ => None,
        }
    }

    /// Whether descriptors arrived that no FILDES claimed.
    pub fn has_fds(&self) -> bool {
        matches!(self, Stream::Unix { fds, .. } if !fds.is_empty())
    }
}

/// One non-blocking `recvmsg`, keeping any SCM_RIGHTS descriptors (close-on-exec).
fn recv_with_fds(fd: RawFd, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<usize> {
    // Room for the most one message can carry (the kernel's SCM_MAX_FD): with less,
    // the descriptors that did fit would be installed but unreadable (MSG_CTRUNC),
    // and leak. Those over MAX_PENDING_FDS are closed below.
    let mut cmsg = nix::cmsg_space!([RawFd; SCM_MAX_FD]);
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        fd,
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| match e {
        Errno::EAGAIN => io::Error::from(io::ErrorKind::WouldBlock),
        e => io::Error::from(e),
    })?;
    let n = msg.bytes;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmRights(received) = c {
                for raw in received {
                    // SAFETY: the kernel just installed this descriptor in our table
                    // for us; nothing else owns it.
                    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                    if fds.len() < MAX_PENDING_FDS {
                        fds.push(owned);
                    }
                }
            }
        }
    }
    Ok(n)
}
