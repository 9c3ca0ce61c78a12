//! Sockets shared by every protocol: where a server listens (a UNIX path or a TCP
//! `host:port`), one blocking stream of either kind, and a vectored `write_all`.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// A listening address: a UNIX stream socket or a TCP `host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A UNIX stream socket.
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

impl Endpoint {
    /// Parses what follows `<protocol>+unix:` (`unix` = true) or `<protocol>+tcp:`;
    /// `whole` is the full target text, for messages.
    pub fn parse(rest: &str, unix: bool, whole: &str) -> Result<Endpoint, String> {
        if unix {
            if rest.is_empty() {
                return Err(format!("{whole:?}: no socket path"));
            }
            Ok(Endpoint::Unix(PathBuf::from(rest)))
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                    Ok(Endpoint::Tcp(rest.to_string()))
                }
                _ => Err(format!("{whole:?}: expected HOST:PORT after the scheme")),
            }
        }
    }

    /// `unix:/path` or `tcp:host:port`: the part of a target after the protocol's `+`.
    pub fn scheme_and_address(&self) -> String {
        match self {
            Endpoint::Unix(p) => format!("unix:{}", p.display()),
            Endpoint::Tcp(a) => format!("tcp:{a}"),
        }
    }

    /// Connects, with `timeout` on the connect (TCP), and on every read and write. TCP
    /// gets `TCP_NODELAY`: requests are written whole, and Nagle would hold a short
    /// tail back until the previous segment is acknowledged.
    pub fn connect(&self, timeout: Duration) -> io::Result<Stream> {
        let limit = timeout.max(Duration::from_millis(1));
        let timeout = Some(limit);
        match self {
            Endpoint::Unix(path) => {
                let s = UnixStream::connect(path)?;
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)?;
                Ok(Stream::Unix(s))
            }
            Endpoint::Tcp(addr) => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                for a in addr.to_socket_addrs()? {
                    match TcpStream::connect_timeout(&a, limit) {
                        Ok(s) => {
                            s.set_nodelay(true)?;
                            s.set_read_timeout(timeout)?;
                            s.set_write_timeout(timeout)?;
                            return Ok(Stream::Tcp(s));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme_and_address())
    }
}

/// A connected blocking stream.
pub enum Stream {
    /// Over a UNIX socket.
    Unix(UnixStream),
    /// Over TCP.
    Tcp(TcpStream),
}

impl Stream {
    /// Sets the read timeout (at least 1 ms: zero would mean none).
    pub fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        let t = Some(t.max(Duration::from_millis(1)));
        match self {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write_vectored(bufs),
            Stream::Tcp(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `write_all` over several slices (std's is unstable): one `writev` when the socket
/// takes everything, more only when it takes part.
pub fn write_all_vectored(w: &mut impl Write, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "failed to write whole buffer",
                ))
            }
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            Endpoint::parse("/a/b", true, "x").unwrap(),
            Endpoint::Unix("/a/b".into())
        );
        assert!(Endpoint::parse("", true, "x").is_err());
        assert_eq!(
            Endpoint::parse("127.0.0.1:80", false, "x").unwrap(),
            Endpoint::Tcp("127.0.0.1:80".into())
        );
        assert_eq!(
            Endpoint::parse("[::1]:80", false, "x").unwrap(),
            Endpoint::Tcp("[::1]:80".into())
        );
        assert!(Endpoint::parse("localhost", false, "x").is_err());
        assert!(Endpoint::parse(":80", false, "x").is_err());
        assert!(Endpoint::parse("h:http", false, "x").is_err());
        assert_eq!(Endpoint::Tcp("h:1".into()).to_string(), "tcp:h:1");
    }
}
