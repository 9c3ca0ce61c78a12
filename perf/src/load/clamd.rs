//! The clamd socket protocol, client side: where the server is, one connection, the
//! `z`-framed commands, `INSTREAM` and `IDSESSION`, and what the replies mean.
//!
//! Only the NUL-terminated (`z`) form is spoken: the server answers with the terminator
//! the client used, so every reply ends at the first NUL.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::net::{write_all_vectored, Endpoint, Stream};

/// Replies longer than this are a protocol error (STATS is the longest legitimate one).
const MAX_REPLY: usize = 1 << 20;

/// Where a clamd-protocol server listens: `clamd+unix:/path/to/sock` or
/// `clamd+tcp:127.0.0.1:3310`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A UNIX stream socket (clamd's `LocalSocket`).
    Unix(PathBuf),
    /// `host:port` (clamd's `TCPSocket`).
    Tcp(String),
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("clamd+unix:") {
            if path.is_empty() {
                return Err(format!("{s:?}: no socket path"));
            }
            Ok(Target::Unix(PathBuf::from(path)))
        } else if let Some(addr) = s.strip_prefix("clamd+tcp:") {
            if !addr.contains(':') {
                return Err(format!("{s:?}: expected clamd+tcp:HOST:PORT"));
            }
            Ok(Target::Tcp(addr.to_string()))
        } else {
            Err(format!(
                "{s:?}: expected clamd+unix:/path/to/sock or clamd+tcp:HOST:PORT"
            ))
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Unix(p) => write!(f, "clamd+unix:{}", p.display()),
            Target::Tcp(a) => write!(f, "clamd+tcp:{a}"),
        }
    }
}

/// An open connection: the socket and whatever was read past the last reply.
pub struct Conn {
    stream: Stream,
    pending: Vec<u8>,
}

impl Target {
    /// The socket address.
    pub fn endpoint(&self) -> Endpoint {
        match self {
            Target::Unix(p) => Endpoint::Unix(p.clone()),
            Target::Tcp(a) => Endpoint::Tcp(a.clone()),
        }
    }

    /// Connects, with `timeout` on the connect (TCP), and on every read and write.
    pub fn connect(&self, timeout: Duration) -> io::Result<Conn> {
        Ok(Conn {
            stream: self.endpoint().connect(timeout)?,
            pending: Vec::new(),
        })
    }

    /// One plain command on a fresh connection (`PING`, `VERSION`, `RELOAD`, `STATS`):
    /// sends `z<cmd>\0` and returns the reply without its NUL.
    pub fn command(&self, cmd: &str, timeout: Duration) -> io::Result<String> {
        let mut conn = self.connect(timeout)?;
        conn.send_command(cmd)?;
        conn.read_reply()
    }
}

impl Conn {
    /// Sends `z<cmd>\0`.
    pub fn send_command(&mut self, cmd: &str) -> io::Result<()> {
        let mut framed = Vec::with_capacity(cmd.len() + 2);
        framed.push(b'z');
        framed.extend_from_slice(cmd.as_bytes());
        framed.push(0);
        self.stream.write_all(&framed)
    }

    /// Sends `zINSTREAM\0`, `data` in chunks of at most `chunk` bytes (each a 4-byte
    /// big-endian length and the bytes), then the zero-length chunk. Vectored writes:
    /// the command and the end marker ride with the first and last chunk.
    pub fn send_instream(&mut self, data: &[u8], chunk: usize) -> io::Result<()> {
        const CMD: &[u8] = b"zINSTREAM\0";
        const END: &[u8] = &[0, 0, 0, 0];
        let chunk = chunk.clamp(1, u32::MAX as usize);
        if data.is_empty() {
            return write_all_vectored(
                &mut self.stream,
                &mut [IoSlice::new(CMD), IoSlice::new(END)],
            );
        }
        let n = data.len().div_ceil(chunk);
        for (i, part) in data.chunks(chunk).enumerate() {
            let len = (part.len() as u32).to_be_bytes();
            let mut slices: [IoSlice<'_>; 4] = [
                IoSlice::new(if i == 0 { CMD } else { &[] }),
                IoSlice::new(&len),
                IoSlice::new(part),
                IoSlice::new(if i + 1 == n { END } else { &[] }),
            ];
            write_all_vectored(&mut self.stream, &mut slices)?;
        }
        Ok(())
    }

    /// Reads one NUL-terminated reply and returns it without the NUL (lossy UTF-8).
    pub fn read_reply(&mut self) -> io::Result<String> {
        let mut scanned = 0;
        loop {
            if let Some(i) = memchr(&self.pending[scanned..]) {
                let end = scanned + i;
                let text = String::from_utf8_lossy(&self.pending[..end]).into_owned();
                self.pending.drain(..=end);
                return Ok(text);
            }
            scanned = self.pending.len();
            if scanned > MAX_REPLY {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("reply longer than {MAX_REPLY} bytes without a NUL"),
                ));
            }
            let mut buf = [0u8; 4096];
            let n = match self.stream.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    if self.pending.is_empty() {
                        "connection closed before a reply".to_string()
                    } else {
                        format!(
                            "connection closed inside a reply: {:?}",
                            String::from_utf8_lossy(&self.pending)
                        )
                    },
                ));
            }
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    /// Sets the read timeout (e.g. short, to collect an error reply after a failed write).
    pub fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(t)
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == 0)
}

/// What a scan reply says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `stream: OK`.
    Clean,
    /// `stream: <name> FOUND`; the name without clamd's `(md5:size)` extended info.
    Found(String),
    /// Anything ending in ` ERROR` (`stream: Can't allocate memory ERROR`,
    /// `INSTREAM size limit exceeded. ERROR`), the whole text.
    Error(String),
}

/// Parses the reply to `INSTREAM` (its NUL already gone). `session_id`: inside an
/// IDSESSION, the `N: ` prefix the reply must carry.
pub fn parse_scan_reply(text: &str, session_id: Option<u64>) -> Result<Reply, String> {
    let body = match session_id {
        Some(id) => {
            let (n, rest) = text
                .split_once(": ")
                .ok_or_else(|| format!("session reply without an id: {text:?}"))?;
            if n.parse::<u64>().ok() != Some(id) {
                return Err(format!("expected the reply to request {id}, got {text:?}"));
            }
            rest
        }
        None => text,
    };
    if body.ends_with(" ERROR") || body == "ERROR" {
        return Ok(Reply::Error(body.to_string()));
    }
    let verdict = body
        .strip_prefix("stream: ")
        .ok_or_else(|| format!("unexpected reply {text:?}"))?;
    if verdict == "OK" {
        return Ok(Reply::Clean);
    }
    if let Some(name) = verdict.strip_suffix(" FOUND") {
        let name = strip_extended_info(name);
        if name.is_empty() {
            return Err(format!("FOUND without a name: {text:?}"));
        }
        return Ok(Reply::Found(name.to_string()));
    }
    Err(format!("unexpected reply {text:?}"))
}

/// `Name(44d8...:68)` -> `Name` (clamd's `ExtendedDetectionInfo yes`).
fn strip_extended_info(name: &str) -> &str {
    if let Some(open) = name.strip_suffix(')').and_then(|n| n.rfind('(')) {
        let inner = &name[open + 1..name.len() - 1];
        if let Some((hash, size)) = inner.split_once(':') {
            if !hash.is_empty()
                && hash.bytes().all(|b| b.is_ascii_hexdigit())
                && size.bytes().all(|b| b.is_ascii_digit())
            {
                return &name[..open];
            }
        }
    }
    name
}

/// A detection name as the expectations write it: without `.UNOFFICIAL`, the suffix
/// clamd gives names from databases that are not Cisco's signed ones.
pub fn base_name(name: &str) -> &str {
    name.strip_suffix(".UNOFFICIAL").unwrap_or(name)
}

/// An `IDSESSION`: several `INSTREAM`s on one connection, one at a time.
pub struct Session {
    conn: Conn,
    next_id: u64,
}

impl Session {
    /// Connects and sends `zIDSESSION\0`.
    pub fn open(target: &Target, timeout: Duration) -> io::Result<Session> {
        let mut conn = target.connect(timeout)?;
        conn.send_command("IDSESSION")?;
        Ok(Session { conn, next_id: 1 })
    }

    /// The connection, to send the next request on.
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// The id the next reply must carry; call [`Session::advance`] once it came.
    pub fn id(&self) -> u64 {
        self.next_id
    }

    /// Moves on to the next request id.
    pub fn advance(&mut self) {
        self.next_id += 1;
    }

    /// Sends `zEND\0` (best effort) and closes.
    pub fn end(mut self) {
        let _ = self.conn.send_command("END");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn targets() {
        assert_eq!(
            "clamd+unix:/run/clamd.sock".parse::<Target>().unwrap(),
            Target::Unix("/run/clamd.sock".into())
        );
        assert_eq!(
            "clamd+tcp:127.0.0.1:3310".parse::<Target>().unwrap(),
            Target::Tcp("127.0.0.1:3310".into())
        );
        assert!("clamd+tcp:localhost".parse::<Target>().is_err());
        assert!("unix:/x".parse::<Target>().is_err());
        assert!("clamd+unix:".parse::<Target>().is_err());
        let t: Target = "clamd+unix:/a/b".parse().unwrap();
        assert_eq!(t.to_string(), "clamd+unix:/a/b");
    }

    #[test]
    fn replies() {
        assert_eq!(parse_scan_reply("stream: OK", None), Ok(Reply::Clean));
        assert_eq!(
            parse_scan_reply("stream: Eicar-Test-Signature.UNOFFICIAL FOUND", None),
            Ok(Reply::Found("Eicar-Test-Signature.UNOFFICIAL".into()))
        );
        assert_eq!(
            parse_scan_reply(
                "stream: Win.Test.EICAR_HDB-1(44d88612fea8a8f36de82e1278abb02f:68) FOUND",
                None
            ),
            Ok(Reply::Found("Win.Test.EICAR_HDB-1".into()))
        );
        assert_eq!(
            parse_scan_reply("INSTREAM size limit exceeded. ERROR", None),
            Ok(Reply::Error("INSTREAM size limit exceeded. ERROR".into()))
        );
        assert_eq!(parse_scan_reply("3: stream: OK", Some(3)), Ok(Reply::Clean));
        assert!(parse_scan_reply("2: stream: OK", Some(3)).is_err());
        assert!(parse_scan_reply("stream: OK", Some(1)).is_err());
        assert!(parse_scan_reply("UNKNOWN COMMAND", None).is_err());
        assert!(parse_scan_reply("PONG", None).is_err());
        assert_eq!(base_name("X.UNOFFICIAL"), "X");
        assert_eq!(base_name("X"), "X");
    }

    /// INSTREAM framing on a socket pair: command, chunks, end marker.
    #[test]
    fn instream_framing() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut conn = Conn {
            stream: Stream::Unix(a),
            pending: Vec::new(),
        };
        let data: Vec<u8> = (0..10u8).collect();
        conn.send_instream(&data, 4).unwrap();
        conn.send_instream(&[], 4).unwrap();
        drop(conn);
        let mut got = Vec::new();
        b.read_to_end(&mut got).unwrap();
        let mut want = b"zINSTREAM\0".to_vec();
        for part in data.chunks(4) {
            want.extend_from_slice(&(part.len() as u32).to_be_bytes());
            want.extend_from_slice(part);
        }
        want.extend_from_slice(&[0, 0, 0, 0]);
        want.extend_from_slice(b"zINSTREAM\0\0\0\0\0");
        assert_eq!(got, want);
    }

    #[test]
    fn replies_split_at_nul() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut conn = Conn {
            stream: Stream::Unix(a),
            pending: Vec::new(),
        };
        b.write_all(b"1: stream: OK\x002: PONG\x00").unwrap();
        assert_eq!(conn.read_reply().unwrap(), "1: stream: OK");
        assert_eq!(conn.read_reply().unwrap(), "2: PONG");
        drop(b);
        assert!(conn.read_reply().is_err());
    }
}
