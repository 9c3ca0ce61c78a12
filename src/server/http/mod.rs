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
//! the same buffer, which grows (doubling) as the bytes arrive, up to the announced
//! size (bounded by `http.max_request_size`); a declared size alone commits no memory.
//! The body is scanned there: v1 raw bodies as they are, v3 base64 objects after
//! decoding in place (the decoded bytes overwrite the text they came from), v2
//! multipart objects as a sub-slice. A chunked body is decoded in place as it arrives
//! and its framing dropped (one `memmove` per read). Nothing is written to disk.
//! Pipelined requests are served from where the last one ended; bytes move to the
//! front only when the buffer is full.
//!
//! **Connection rules.** Keep-alive per `http.keep_alive*` (HTTP/1.1 by default,
//! HTTP/1.0 with `Connection: keep-alive`), pipelined requests answered in order,
//! `Expect: 100-continue` answered once the head is accepted (a refused head gets its
//! final status instead, and the connection closes). A head over
//! `http.max_header_size` gets 431, a request over `http.max_request_size` 413, a
//! request not received within `http.session_timeout` 408 `{"error": "Session
//! Timeout"}`. After an error whose body was not read, the connection closes, since
//! what follows on it cannot be trusted to be a request. Every close after an answer
//! shuts the write side first and reads what the client still sends for a moment, so
//! the kernel does not reset the connection over unread bytes and destroy the answer.

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
/// A buffer larger than this goes back to [`INITIAL_BUFFER`] once its request is
/// served, so a kept-alive connection does not hold its largest request's memory.
const SHRINK_ABOVE: usize = 8 << 20;
/// How long, and how many bytes, a closing connection reads and drops.
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 16 << 20;

/// How a read ended when it gave no bytes.
enum ReadEnd {
    /// The peer closed (or reset) the connection, or the core is stopping while the
    /// connection was idle.
    Closed,
    /// The deadline passed.
    TimedOut,
    /// The buffer could not grow.
    NoMemory,
}

/// One HTTP connection on one core.
pub struct Conn<'c> {
    core: &'c Rc<Core>,
    stream: Stream,
    /// The connection's buffer: `buf[start..filled]` holds bytes read and not yet
    /// served; the request being served starts at `start`.
    buf: Vec<u8>,
    start: usize,
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
    // A handshake is short: it gets the idle allowance, not a whole session's.
    let handshake_time = config.keep_alive_timeout.min(config.session_timeout);
    let stream = match (&core.shared.tls, &stream) {
        (Some(tls), Stream::Tcp(_)) => {
            let handshake = glommio::timer::timeout(handshake_time, async {
                Ok(stream.tls(tls.clone()).await)
            });
            match handshake.await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(core = core.id, error = %e, "TLS handshake failed");
                    return;
                }
                Err(e) => {
                    tracing::debug!(core = core.id, error = %e, "TLS handshake timed out");
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
        start: 0,
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
            if !self.serve(head, started).await {
                return;
            }
        }
    }

    /// Bytes read and not yet served.
    fn pending(&self) -> usize {
        self.filled - self.start
    }

    /// Waits for a whole request head. `None`: the connection is to close (an error
    /// answer, if one was due, has been sent).
    async fn read_head(&mut self) -> Option<(RequestHead, Instant)> {
        let config = &self.core.shared.config.http;
        let max_head = config.max_header_size as usize;
        let mut started = (self.pending() > 0).then(Instant::now);
        loop {
            let end = self.filled.min(self.start + max_head + 1);
            match head::parse(&self.buf[self.start..end], &config.auth.header) {
                Ok(Some(head)) => {
                    return Some((head, started.unwrap_or_else(Instant::now)));
                }
                Ok(None) if self.pending() > max_head => {
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
                // Idle, before the first request or between requests: the keep-alive
                // timeout, and a stopping core closes the connection.
                None => {
                    let deadline = Instant::now() + config.keep_alive_timeout;
                    match unless_stopped(self.core, self.read_more(deadline, None)).await {
                        Some(r) => r,
                        None => Err(ReadEnd::Closed),
                    }
                }
                Some(t) => self.read_more(t + config.session_timeout, None).await,
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

    /// Reads more bytes before `deadline`. When the buffer is full, the unserved
    /// bytes move to its front, or it grows (doubling) up to `want` bytes past
    /// `start` when given: a body's announced size is allocated as it arrives.
    async fn read_more(
        &mut self,
        deadline: Instant,
        want: Option<usize>,
    ) -> Result<usize, ReadEnd> {
        if self.filled == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.filled, 0);
                self.filled -= self.start;
                self.start = 0;
            } else {
                let mut len = (self.buf.len() * 2).max(self.filled + READ_ROOM);
                if let Some(want) = want {
                    len = len.min(self.start + want).max(self.filled + 1);
                }
                self.grow_to(len)?;
            }
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
        let framing = head.framing();
        let mut keep = config.keep_alive
            && head.keep_alive
            // RFC 9112 §6.1: a chunked HTTP/1.0 request ends with the connection.
            && !(framing == Framing::Chunked && head.minor_version == 0)
            && (config.keep_alive_max_requests == 0
                || self.served < config.keep_alive_max_requests)
            && !self.core.stopping();
        let limit = config.max_request_size.saturating_sub(head.len as u64);
        // Body bytes of this request already read.
        let here = (self.pending() - head.len) as u64;

        // Everything that can be decided from the head is, before the body is read.
        let early = kav::screen(self.core, &head, self.local);
        if let (Framing::Length(n), Ok(_)) = (framing, &early) {
            if n > limit {
                return self
                    .finish_error(&head, 413, "request too large (http.max_request_size)")
                    .await;
            }
        }
        let accepted = match early {
            Ok(accepted) => accepted,
            Err(refusal) => {
                let body_pending = match framing {
                    Framing::None => false,
                    Framing::Length(n) => here < n,
                    Framing::Chunked => true,
                };
                keep &= !body_pending;
                if !body_pending {
                    // A body already here is dropped with its request.
                    let body_len = match framing {
                        Framing::Length(n) => n as usize,
                        _ => 0,
                    };
                    self.consume(head.len + body_len);
                }
                let sent = self
                    .send(&refusal.head_with(keep), &refusal.body, &head, started)
                    .await;
                return self.after_answer(keep && sent).await;
            }
        };

        // RFC 9110 §10.1.1: the expectation is ignored in an HTTP/1.0 request.
        if head.expect_continue && head.minor_version >= 1 {
            let waiting = match framing {
                Framing::None => false,
                Framing::Length(n) => here < n,
                Framing::Chunked => true,
            };
            if waiting && !self.write_raw(b"HTTP/1.1 100 Continue\r\n\r\n").await {
                return false;
            }
        }

        let (body, consumed) = match self.read_body(&head, framing, limit, started).await {
            Ok(Some(body)) => body,
            // The client went away: nobody to answer.
            Ok(None) => return false,
            Err((status, message)) => return self.finish_error(&head, status, message).await,
        };

        let answer = kav::answer(self, &head, accepted, body).await;
        let mut head_out = answer.head;
        head_out.close |= !keep;
        let keep = !head_out.close;
        let sent = self
            .send_logged(
                &head_out,
                &answer.body,
                &head,
                started,
                answer.logged.as_ref(),
            )
            .await;
        self.consume(consumed);
        self.after_answer(keep && sent).await
    }

    /// Reads the body: `Ok(Some((range of the body in the buffer, bytes of the request
    /// from `start` to drop once answered)))`, `Ok(None)` when the client left, or the
    /// status and message of a refusal.
    async fn read_body(
        &mut self,
        head: &RequestHead,
        framing: Framing,
        limit: u64,
        started: Instant,
    ) -> Result<Option<(Range<usize>, usize)>, (u16, &'static str)> {
        let timeout = self.core.shared.config.http.session_timeout;
        let deadline = started + timeout;
        // Offsets from `start`: a read may move the unserved bytes to the front.
        let body_at = head.len;
        let fail = |end: ReadEnd| match end {
            ReadEnd::TimedOut => Err((408, "Session Timeout")),
            ReadEnd::NoMemory => Err((503, "out of memory")),
            ReadEnd::Closed => Ok(None),
        };
        match framing {
            Framing::None => Ok(Some((self.start + body_at..self.start + body_at, body_at))),
            Framing::Length(n) => {
                let end = body_at + n as usize;
                while self.pending() < end {
                    if let Err(e) = self.read_more(deadline, Some(end)).await {
                        return fail(e);
                    }
                }
                Ok(Some((self.start + body_at..self.start + end, end)))
            }
            Framing::Chunked => {
                let mut decoder = Chunked::new(limit);
                loop {
                    let region = &mut self.buf[self.start + body_at..self.filled];
                    match decoder.advance(region) {
                        Ok(Progress::Done { len, end }) => {
                            let at = self.start + body_at;
                            return Ok(Some((at..at + len, body_at + end)));
                        }
                        Ok(Progress::NeedMore) => {
                            // Framing read so far is dropped, so the buffer holds
                            // the body and little more.
                            self.filled -= decoder.compact(region);
                        }
                        Err(ChunkError::TooLarge) => {
                            return Err((413, "request too large (http.max_request_size)"))
                        }
                        Err(ChunkError::Malformed(why)) => return Err((400, why)),
                    }
                    if let Err(e) = self.read_more(deadline, None).await {
                        return fail(e);
                    }
                }
            }
        }
    }

    /// Marks `n` bytes from `start` as served. A buffer grown large for one request
    /// shrinks back once it is served.
    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.filled);
        if self.start == self.filled {
            self.start = 0;
            self.filled = 0;
        }
        if self.buf.len() > SHRINK_ABOVE && self.pending() <= INITIAL_BUFFER {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
            self.buf.truncate(INITIAL_BUFFER);
            self.buf.shrink_to_fit();
        }
    }

    /// After an answer: `keep` goes on; otherwise the connection closes gracefully.
    async fn after_answer(&mut self, keep: bool) -> bool {
        if !keep {
            self.close().await;
        }
        keep
    }

    /// Answers an error with `{"error": message}`, then closes.
    async fn finish_error(&mut self, head: &RequestHead, status: u16, message: &str) -> bool {
        let mut body = Vec::new();
        crate::proto::kav::response::write_error(&mut body, message);
        let mut out = Head::new(status, JSON);
        out.close = true;
        self.send(&out, &body, head, Instant::now()).await;
        self.after_answer(false).await
    }

    /// Closes after a last answer: shuts the write side (the client sees the end at
    /// once), then reads and drops what the client still sends for a moment. Closing
    /// with unread bytes makes the kernel send a reset, which can destroy the answer
    /// before the client reads it.
    async fn close(&mut self) {
        let _ = glommio::timer::timeout(LINGER_TIME, async { Ok(self.stream.close_write().await) })
            .await;
        let deadline = Instant::now() + LINGER_TIME;
        let mut dropped = 0usize;
        while dropped < LINGER_BYTES {
            self.start = 0;
            self.filled = 0;
            match self.read_more(deadline, None).await {
                Ok(n) => dropped += n,
                Err(_) => break,
            }
        }
        self.start = 0;
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
        self.close().await;
    }

    /// Writes a whole answer and logs the request; `false` if it could not be sent.
    async fn send(
        &mut self,
        out: &Head,
        body: &[u8],
        head: &RequestHead,
        started: Instant,
    ) -> bool {
        self.send_logged(out, body, head, started, None).await
    }

    /// Writes a whole answer and logs the request, with what was scanned: one access
    /// log line per request (target `ringscan::access`; detections at info, the rest at
    /// debug), never the object itself. `false` if the answer could not be sent.
    async fn send_logged(
        &mut self,
        out: &Head,
        body: &[u8],
        head: &RequestHead,
        started: Instant,
        scanned: Option<&(u64, String)>,
    ) -> bool {
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
        let sent = self.write_raw(&bytes).await;
        self.out = bytes;
        sent
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

    /// Writes bytes within the session timeout; `false` if they could not be sent
    /// (a half-written answer then ends the connection).
    async fn write_raw(&mut self, bytes: &[u8]) -> bool {
        let timeout: Duration = self.core.shared.config.http.session_timeout;
        let stream = &mut self.stream;
        matches!(
            glommio::timer::timeout(timeout, async { Ok(stream.write_all(bytes).await) }).await,
            Ok(Ok(()))
        )
    }
}
