//! A tiny blocking HTTP/1.1 server for the tests: a thread per connection, each request
//! handed to a closure that says what to answer and whether to close afterwards.
//! [`Freeze`] stalls every connection at once for a while, as a GC pause or a database
//! reload in a real server would. [`client_args`] and [`small_clean_objects`] are the
//! load options the tests point at it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::objects::ExpectSpec;
use super::source::ObjectArgs;
use super::target::ClientArgs;

/// What the handler answers: the whole response, and whether to close after it.
pub struct Answer {
    /// Bytes written back (status line, headers, body).
    pub bytes: Vec<u8>,
    /// Close the connection after writing.
    pub close: bool,
}

impl Answer {
    /// `200 OK`, `text/plain`, with a Content-Length, connection kept.
    pub fn ok(body: &str) -> Answer {
        Answer {
            bytes: format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
            close: false,
        }
    }
}

/// A whole-server stall from `from` to `until`: a handler that calls [`Freeze::hold`]
/// does not answer before `until` if the request arrives inside that span, on every
/// connection alike.
#[derive(Clone, Copy, Debug)]
pub struct Freeze {
    /// When it begins.
    pub from: Instant,
    /// When it ends.
    pub until: Instant,
}

impl Freeze {
    /// A freeze of `len` beginning `delay` from now.
    pub fn after(delay: Duration, len: Duration) -> Freeze {
        let from = Instant::now() + delay;
        Freeze {
            from,
            until: from + len,
        }
    }

    /// Waits out the freeze if it is on now.
    pub fn hold(&self) {
        let now = Instant::now();
        if now >= self.from && now < self.until {
            std::thread::sleep(self.until - now);
        }
    }
}

/// A running server.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicU64>,
}

/// One request's head and body (Content-Length framed); `None` at end of stream.
fn read_request(s: &mut TcpStream, pending: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    loop {
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..i]).into_owned();
            let len = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let end = i + 4 + len;
            while pending.len() < end {
                let mut buf = [0u8; 65536];
                let n = s.read(&mut buf).ok()?;
                if n == 0 {
                    return None;
                }
                pending.extend_from_slice(&buf[..n]);
            }
            let body = pending[i + 4..end].to_vec();
            pending.drain(..end);
            return Some((head, body));
        }
        let mut buf = [0u8; 65536];
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        pending.extend_from_slice(&buf[..n]);
    }
}

/// Starts a server on 127.0.0.1 (any port). `handler(n, head, body)` gets the 0-based
/// number of the request over all connections.
pub fn spawn<F>(handler: F) -> TestServer
where
    F: Fn(u64, &str, &[u8]) -> Answer + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicU64::new(0));
    let count = Arc::new(AtomicU64::new(0));
    let handler = Arc::new(handler);
    let acc = accepted.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { return };
            acc.fetch_add(1, Ordering::SeqCst);
            let (handler, count) = (handler.clone(), count.clone());
            std::thread::spawn(move || {
                let mut pending = Vec::new();
                while let Some((head, body)) = read_request(&mut s, &mut pending) {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    let a = handler(n, &head, &body);
                    if s.write_all(&a.bytes).is_err() || a.close {
                        return;
                    }
                }
            });
        }
    });
    TestServer { addr, accepted }
}

/// Client options for `target` (e.g. `kav1+tcp:ADDR`): 5 s timeout, 64 KiB chunks.
pub fn client_args(target: &str) -> ClientArgs {
    ClientArgs {
        target: target.parse().expect("a target"),
        timeout: Duration::from_secs(5),
        chunk: 65536,
        session: false,
    }
}

/// Twenty synthetic 1 KiB objects, none with EICAR (the test servers answer CLEAN).
pub fn small_clean_objects() -> ObjectArgs {
    ObjectArgs {
        corpus: None,
        size: Some(1024),
        eicar_share: 0.0,
        count: Some(20),
        seed: 1,
        expect: ExpectSpec::Auto,
        hash_hits: None,
    }
}
