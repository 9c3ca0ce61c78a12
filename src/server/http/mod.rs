//! Kaspersky Scan Engine's HTTP mode (KAV protocol v1, v2 and v3) on the scan cores:
//! HTTP/1.1 connections over TCP, TLS or a UNIX socket, served by the core that owns
//! them, with the endpoints in [`kav`] over the sans-IO codec in `proto::kav`.
//!
//! - [`head`]: the request head (httparse) and the headers we use;
//! - [`chunked`]: chunked bodies decoded in place;
//! - [`response`]: response heads;
//! - [`kav`]: the endpoints;
//! - [`tls`]: the rustls configuration.
//!
//! **How a body reaches the scanner without copies.** Each connection reads into one
//! buffer taken from its core's pool (reused across connections, never zeroed again).
//! The head is parsed in place. A `Content-Length` body is read straight after it into
//! the same buffer, which grows once to the announced size (bounded by
//! `http.max_request_size`), and is scanned there: v1 raw bodies as they are, v3
//! base64 objects after decoding in place (the decoded bytes overwrite the text they
//! came from), v2 multipart objects as a sub-slice. A chunked body is compacted in
//! place as it arrives (one `memmove` per chunk). Nothing is written to disk.
//!
//! **Connection rules.** Keep-alive per `http.keep_alive*` (HTTP/1.1 by default,
//! HTTP/1.0 with `Connection: keep-alive`), pipelined requests answered in order,
//! `Expect: 100-continue` answered once the head is accepted (a refused head gets its
//! final status instead, and the connection closes). A head over
//! `http.max_header_size` gets 431, a request over `http.max_request_size` 413, a
//! request not received within `http.session_timeout` 408 `{"error": "Session
//! Timeout"}`. After an error whose body was not read, the connection closes, since
//! what follows on it cannot be trusted to be a request.

pub mod chunked;
pub mod head;
pub mod kav;
pub mod response;
pub mod tls;

use std::ops::Range;
use std::rc::Rc;
use std::time::{Duration, Instant};

use self::chunked::{ChunkError, Chunked, Progress};
use self::head::{Framing, HeadError, RequestHead};
use self::response::{Head, JSON};
use super::core::{unless_stopped, Core};
use super::transport::Stream;

/// Least room a full buffer grows by.
const READ_ROOM: usize = 16 << 10;
/// First size of a connection's buffer.
const INITIAL_BUFFER: usize = 64 << 10;
/// How long, and how many bytes, a refused upload is read and dropped before closing.
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 16 << 20;

/// How a read ended when it gave no bytes.
enum ReadEnd {
    /// The peer closed (or reset) the connection.
    Closed,
    /// The deadline passed.
    TimedOut,
    /// The core is stopping and the connection was idle.
    Stopping,
    /// The buffer could not grow.
    NoMemory,
}

/// One HTTP connection on one core.
pub struct Conn<'c> {
    core: &'c Rc<Core>,
    stream: Stream,
    /// The connection's buffer: `buf[..filled]` holds bytes read and not yet served.
    buf: Vec<u8>,
    filled: usize,
    /// Answers are built here, head and body, then written at once.
    out: Vec<u8>,
    /// Requests answered.
    served: u64,
    /// A UNIX socket, or TCP from loopback (KAV's "local client").
    local: bool,
    peer: String,
}

/// Serves one HTTP connection until it closes.
pub async fn serve_connection(core: &Rc<Core>, stream: Stream) {
    let config = &core.shared.config.http;
    let stream = match (&core.shared.tls, &stream) {
        (Some(tls), Stream::Tcp(_)) => {
            let handshake = glommio::timer::timeout(config.session_timeout, async {
                Ok(stream.tls(tls.clone()).await)
            });
            match handshake.await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(core = core.id, error = %e, "TLS handshake failed");
                    return;
                }
                Err(e) => {
                    tracing::debug!(core = core.id, error = %e, "TLS handshake failed");
                    return;
                }
            }
        }
        _ => stream,
    };
    let mut buf = core.buffers.take();
    if buf.len() < INITIAL_BUFFER {
        buf.resize(INITIAL_BUFFER, 0);
    }
    let mut conn = Conn {
        core,
        local: stream.is_local(),
        peer: stream.peer(),
        stream,
        buf,
        filled: 0,
        out: Vec::with_capacity(1024),
        served: 0,
    };
    conn.run().await;
    core.buffers.give(conn.buf);
}

impl Conn<'_> {
    async fn run(&mut self) {
        loop {
            let Some((head, started)) = self.read_head().await else {
                return;
            };
            self.served += 1;
            let keep = self.serve(head, started).await;
            if !keep {
                return;
            }
        }
    }

    /// Waits for a whole request head. `None`: the connection is to close (an error
    /// answer, if one was due, has been sent).
    async fn read_head(&mut self) -> Option<(RequestHead, Instant)> {
        let config = &self.core.shared.config.http;
        let max_head = config.max_header_size as usize;
        let mut started = (self.filled > 0).then(Instant::now);
        loop {
            let window = &self.buf[..self.filled.min(max_head + 1)];
            match head::parse(window, &config.auth.header) {
                Ok(Some(head)) => {
                    return Some((head, started.unwrap_or_else(Instant::now)));
                }
                Ok(None) if self.filled > max_head => {
                    self.refuse(431, "request head too large").await;
                    return None;
                }
                Ok(None) => {}
                Err(HeadError::TooManyHeaders) => {
                    self.refuse(431, &HeadError::TooManyHeaders.to_string())
                        .await;
                    return None;
                }
                Err(e @ HeadError::UnsupportedEncoding(_)) => {
                    self.refuse(501, &e.to_string()).await;
                    return None;
                }
                Err(e) => {
                    self.refuse(400, &e.to_string()).await;
                    return None;
                }
            }
            let read = match started {
                // Idle between requests: the keep-alive timeout (the session timeout
                // before the first), and a stopping core closes the connection.
                None => {
                    let idle = if self.served == 0 {
                        config.session_timeout
                    } else {
                        config.keep_alive_timeout
                    };
                    let deadline = Instant::now() + idle;
                    match unless_stopped(self.core, self.read_more(deadline)).await {
                        Some(r) => r,
                        None => Err(ReadEnd::Stopping),
                    }
                }
                Some(t) => self.read_more(t + config.session_timeout).await,
            };
            match read {
                Ok(_) => {
                    started.get_or_insert_with(Instant::now);
                }
                Err(ReadEnd::TimedOut) if started.is_some() => {
                    self.refuse(408, "Session Timeout").await;
                    return None;
                }
                Err(ReadEnd::NoMemory) => {
                    self.refuse(503, "out of memory").await;
                    return None;
                }
                Err(_) => return None,
            }
        }
    }

    /// Reads more bytes into the buffer, growing it only when full (a `Content-Length`
    /// body has had it sized exactly beforehand), before `deadline`.
    async fn read_more(&mut self, deadline: Instant) -> Result<usize, ReadEnd> {
        if self.filled == self.buf.len() {
            let want = (self.buf.len() * 2).max(self.filled + READ_ROOM);
            self.grow_to(want)?;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadEnd::TimedOut);
        }
        let filled = self.filled;
        let stream = &mut self.stream;
        let buf = &mut self.buf[filled..];
        let read = glommio::timer::timeout(left, async { Ok(stream.read(buf).await) }).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => Err(ReadEnd::Closed),
            Ok(Ok(n)) => {
                self.filled += n;
                Ok(n)
            }
            Err(_) => Err(ReadEnd::TimedOut),
        }
    }

    /// Grows the buffer to at least `len` bytes.
    fn grow_to(&mut self, len: usize) -> Result<(), ReadEnd> {
        if self.buf.len() >= len {
            return Ok(());
        }
        // A failed allocation answers 503 instead of aborting the process.
        self.buf
            .try_reserve_exact(len - self.buf.len())
            .map_err(|_| ReadEnd::NoMemory)?;
        self.buf.resize(len, 0);
        Ok(())
    }

    /// Answers one request; `false` when the connection must close after it.
    async fn serve(&mut self, head: RequestHead, started: Instant) -> bool {
        let config = &self.core.shared.config.http;
        let mut keep = config.keep_alive
            && head.keep_alive
            && (config.keep_alive_max_requests == 0
                || self.served < config.keep_alive_max_requests)
            && !self.core.stopping();
        let limit = config.max_request_size.saturating_sub(head.len as u64);

        // Everything that can be decided from the head is, before the body is read.
        let early = kav::screen(self.core, &head, self.local);
        let framing = head.framing();
        let refused_early = early.is_err();
        if let Framing::Length(n) = framing {
            if n > limit && !refused_early {
                return self
                    .finish_error(
                        &head,
                        413,
                        "request too large (http.max_request_size)",
                        false,
                    )
                    .await;
            }
        }
        let route = match early {
            Ok(route) => route,
            Err(refusal) => {
                let body_pending = match framing {
                    Framing::None => false,
                    Framing::Length(n) => ((self.filled - head.len) as u64) < n,
                    Framing::Chunked => true,
                };
                keep &= !body_pending;
                if !body_pending {
                    // A body already here is dropped with its request.
                    self.consume(head.len + body_len_known(framing));
                }
                self.send(&refusal.head_with(keep), &refusal.body, &head, started)
                    .await;
                if body_pending {
                    self.linger().await;
                }
                return keep;
            }
        };

        // RFC 9110 §10.1.1: the expectation is ignored in an HTTP/1.0 request.
        if head.expect_continue && head.minor_version >= 1 && framing != Framing::None {
            let waiting = match framing {
                Framing::Length(n) => ((self.filled - head.len) as u64) < n,
                _ => true,
            };
            if waiting && !self.write_raw(b"HTTP/1.1 100 Continue\r\n\r\n").await {
                return false;
            }
        }

        let body = match self.read_body(&head, framing, limit, started).await {
            Ok(body) => body,
            Err((status, message)) => {
                return self.finish_error(&head, status, message, false).await;
            } // The client went away: nobody to answer.
        };
        let Some((body, consumed)) = body else {
            return false;
        };

        let answer = kav::answer(self, &head, route, body, started).await;
        let mut head_out = answer.head;
        head_out.close |= !keep;
        let keep = !head_out.close;
        self.send_logged(
            &head_out,
            &answer.body,
            &head,
            started,
            answer.logged.as_ref(),
        )
        .await;
        self.consume(consumed);
        keep
    }

    /// Reads the body: `Ok(Some((range of the body in the buffer, bytes of the request
    /// to drop once answered)))`, `Ok(None)` when the client left, or the status and
    /// message of a refusal.
    async fn read_body(
        &mut self,
        head: &RequestHead,
        framing: Framing,
        limit: u64,
        started: Instant,
    ) -> Result<Option<(Range<usize>, usize)>, (u16, &'static str)> {
        let timeout = self.core.shared.config.http.session_timeout;
        let deadline = started + timeout;
        let start = head.len;
        match framing {
            Framing::None => Ok(Some((start..start, start))),
            Framing::Length(n) => {
                let end = start + n as usize;
                if self.grow_to(end).is_err() {
                    return Err((503, "out of memory"));
                }
                while self.filled < end {
                    match self.read_more(deadline).await {
                        Ok(_) => {}
                        Err(ReadEnd::TimedOut) => return Err((408, "Session Timeout")),
                        Err(ReadEnd::NoMemory) => return Err((503, "out of memory")),
                        Err(_) => return Ok(None),
                    }
                }
                Ok(Some((start..end, end)))
            }
            Framing::Chunked => {
                let mut decoder = Chunked::new(limit);
                loop {
                    let region = &mut self.buf[start..self.filled];
                    match decoder.advance(region) {
                        Ok(Progress::Done { len, end }) => {
                            return Ok(Some((start..start + len, start + end)))
                        }
                        Ok(Progress::NeedMore) => {}
                        Err(ChunkError::TooLarge) => {
                            return Err((413, "request too large (http.max_request_size)"))
                        }
                        Err(ChunkError::Malformed(why)) => return Err((400, why)),
                    }
                    match self.read_more(deadline).await {
                        Ok(_) => {}
                        Err(ReadEnd::TimedOut) => return Err((408, "Session Timeout")),
                        Err(ReadEnd::NoMemory) => return Err((503, "out of memory")),
                        Err(_) => return Ok(None),
                    }
                }
            }
        }
    }

    /// Drops the first `n` bytes of the buffer (a request served); pipelined bytes
    /// after them move to the front.
    fn consume(&mut self, n: usize) {
        let n = n.min(self.filled);
        self.buf.copy_within(n..self.filled, 0);
        self.filled -= n;
    }

    /// Answers an error with `{"error": message}`, then closes unless `keep`.
    async fn finish_error(
        &mut self,
        head: &RequestHead,
        status: u16,
        message: &str,
        keep: bool,
    ) -> bool {
        let mut body = Vec::new();
        crate::proto::kav::response::write_error(&mut body, message);
        let mut out = Head::new(status, JSON);
        out.close = !keep;
        self.send(&out, &body, head, Instant::now()).await;
        if !keep {
            self.linger().await;
        }
        keep
    }

    /// Before closing on a client that may still be sending (a refused body): reads
    /// and drops what arrives for a moment. Closing with unread bytes makes the kernel
    /// send a reset, which can destroy the error answer before the client reads it.
    async fn linger(&mut self) {
        let deadline = Instant::now() + LINGER_TIME;
        let mut dropped = 0usize;
        while dropped < LINGER_BYTES {
            self.filled = 0;
            match self.read_more(deadline).await {
                Ok(n) => dropped += n,
                Err(_) => break,
            }
        }
        self.filled = 0;
    }

    /// Answers an error on a request whose head was not understood, and closes.
    async fn refuse(&mut self, status: u16, message: &str) {
        let mut body = Vec::new();
        crate::proto::kav::response::write_error(&mut body, message);
        let mut out = Head::new(status, JSON);
        out.close = true;
        self.count_status(status);
        tracing::debug!(
            target: "ringscan::access",
            core = self.core.id,
            peer = %self.peer,
            status,
            error = message,
            "refused"
        );
        let mut bytes = std::mem::take(&mut self.out);
        bytes.clear();
        response::write_head(&mut bytes, &out, body.len());
        bytes.extend_from_slice(&body);
        self.write_raw(&bytes).await;
        self.out = bytes;
        self.linger().await;
    }

    /// Writes a whole answer and logs the request.
    async fn send(&mut self, out: &Head, body: &[u8], head: &RequestHead, started: Instant) {
        self.send_logged(out, body, head, started, None).await;
    }

    /// Writes a whole answer and logs the request, with what was scanned: one access
    /// log line per request (target `ringscan::access`; detections at info, the rest at
    /// debug), never the object itself.
    async fn send_logged(
        &mut self,
        out: &Head,
        body: &[u8],
        head: &RequestHead,
        started: Instant,
        scanned: Option<&(u64, String)>,
    ) {
        self.count_status(out.status);
        let (object_bytes, verdict) = match scanned {
            Some((bytes, verdict)) => (Some(*bytes), Some(verdict.as_str())),
            None => (None, None),
        };
        let us = started.elapsed().as_micros() as u64;
        macro_rules! access {
            ($level:expr) => {
                tracing::event!(
                    target: "ringscan::access",
                    $level,
                    core = self.core.id,
                    peer = %self.peer,
                    method = %head.method,
                    path = %head.path,
                    status = out.status,
                    object_bytes,
                    verdict,
                    us,
                    "answered"
                )
            };
        }
        // Detections at info, as the clamd side logs them; every other request at
        // debug (`server.log = "info,ringscan::access=debug"` for a full access log),
        // as KSE's request log is off by default: a line per request costs about 5 %
        // of a small request's CPU.
        if verdict.is_some_and(|v| v.starts_with("DETECT")) {
            access!(tracing::Level::INFO);
        } else {
            access!(tracing::Level::DEBUG);
        }
        let mut bytes = std::mem::take(&mut self.out);
        bytes.clear();
        response::write_head(&mut bytes, out, body.len());
        // HEAD is answered like GET, without the body.
        if head.method != "HEAD" {
            bytes.extend_from_slice(body);
        }
        self.write_raw(&bytes).await;
        self.out = bytes;
    }

    fn count_status(&self, status: u16) {
        let mut stats = self.core.stats.borrow_mut();
        stats.requests += 1;
        let class = match status {
            200..=299 => 0,
            400..=499 => 1,
            _ => 2,
        };
        stats.http_status[class] += 1;
        if status >= 400 {
            stats.errors += 1;
        }
    }

    /// Writes bytes within the session timeout; `false` if they could not be sent.
    async fn write_raw(&mut self, bytes: &[u8]) -> bool {
        let timeout: Duration = self.core.shared.config.http.session_timeout;
        let stream = &mut self.stream;
        matches!(
            glommio::timer::timeout(timeout, async { Ok(stream.write_all(bytes).await) }).await,
            Ok(Ok(()))
        )
    }
}

/// The body length of a framing already known to be fully buffered.
fn body_len_known(framing: Framing) -> usize {
    match framing {
        Framing::Length(n) => n as usize,
        _ => 0,
    }
}
