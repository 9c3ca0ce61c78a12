//! Kaspersky Scan Engine's HTTP mode (the KAV protocol), client side: targets, requests
//! built once per object, one keep-alive HTTP/1.1 connection, response reading and what
//! the answers mean.
//!
//! Two request forms (`/work/shared/specs/kav-protocol.md` §1-2):
//!
//! - **v3**: `POST /api/v3.0/scanmemory`, body `{"timeout":"10000","object":"<base64>"}`;
//!   the answer is JSON with `scanResult` `CLEAN` or `DETECT` (KSE 1.0 wrote `DETECTED`)
//!   and `detectionName`;
//! - **v1**: `POST /scanmemory` with `X-KAV-ProtocolVersion: 1` and `X-KAV-Timeout`, the
//!   raw object as the body; the answer is `text/plain` `CLEAN` or `DETECT <name>`
//!   (perhaps followed by ` AND CONTAINS OFFICE MACRO`).
//!
//! The request head and (v3) body are built before the clock starts, so that a request
//! costs one `writev`: the head, then the prepared body or the object's bytes. Responses
//! must carry `Content-Length` (or close the connection); chunked bodies are a protocol
//! error, since the server under test is not meant to send them.

use std::fmt;
use std::io::{self, IoSlice, Read};
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;

use super::clamd::Reply;
use super::net::{write_all_vectored, Endpoint, Stream};
use super::recorder::ErrorKind;

/// The scan timeout every request asks for, ms (`"timeout"` in v3, `X-KAV-Timeout` in v1).
pub const SCAN_TIMEOUT_MS: u32 = 10_000;

/// A response head longer than this is a protocol error.
const MAX_HEAD: usize = 64 << 10;

/// A response body longer than this is a protocol error (scan answers are short).
const MAX_BODY: usize = 16 << 20;

/// Which KAV request form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `POST /scanmemory`, raw body, plain-text answer.
    V1,
    /// `POST /api/v3.0/scanmemory`, base64 in JSON, JSON answer.
    V3,
}

impl Version {
    /// `kav1` or `kav3`, the target prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "kav1",
            Version::V3 => "kav3",
        }
    }
}

/// Where a KAV HTTP server listens and which form to speak: `kav3+tcp:HOST:PORT`,
/// `kav3+unix:/path`, `kav1+tcp:HOST:PORT`, `kav1+unix:/path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The request form.
    pub version: Version,
    /// The socket.
    pub endpoint: Endpoint,
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (version, rest) = if let Some(r) = s.strip_prefix("kav3+") {
            (Version::V3, r)
        } else if let Some(r) = s.strip_prefix("kav1+") {
            (Version::V1, r)
        } else {
            return Err(format!("{s:?}: expected kav1+... or kav3+..."));
        };
        let endpoint = if let Some(path) = rest.strip_prefix("unix:") {
            Endpoint::parse(path, true, s)?
        } else if let Some(addr) = rest.strip_prefix("tcp:") {
            Endpoint::parse(addr, false, s)?
        } else {
            return Err(format!(
                "{s:?}: expected {}+unix:/path or {}+tcp:HOST:PORT",
                version.as_str(),
                version.as_str()
            ));
        };
        Ok(Target { version, endpoint })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}", self.version.as_str(), self.endpoint)
    }
}

/// One object's request, built once: the head (request line and headers, through the
/// blank line) and, for v3, the JSON body; v1 sends the object's own bytes.
#[derive(Clone, Debug)]
pub struct Request {
    head: Vec<u8>,
    body: Option<Vec<u8>>,
}

impl Request {
    /// Builds the request that scans `data` on `target`.
    pub fn build(target: &Target, data: &[u8]) -> Request {
        let host = match &target.endpoint {
            Endpoint::Tcp(a) => a.as_str(),
            // HTTP/1.1 requires a Host; a UNIX socket has none of its own.
            Endpoint::Unix(_) => "localhost",
        };
        match target.version {
            Version::V3 => {
                let b64 = base64::engine::general_purpose::STANDARD;
                let mut body = String::with_capacity(data.len() / 3 * 4 + 48);
                body.push_str(&format!(
                    "{{\"timeout\":\"{SCAN_TIMEOUT_MS}\",\"object\":\""
                ));
                b64.encode_string(data, &mut body);
                body.push_str("\"}");
                let body = body.into_bytes();
                let head = format!(
                    "POST /api/v3.0/scanmemory HTTP/1.1\r\nHost: {host}\r\n\
                     Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                Request {
                    head: head.into_bytes(),
                    body: Some(body),
                }
            }
            Version::V1 => {
                let head = format!(
                    "POST /scanmemory HTTP/1.1\r\nHost: {host}\r\nX-KAV-ProtocolVersion: 1\r\n\
                     X-KAV-Timeout: {SCAN_TIMEOUT_MS}\r\nContent-Type: application/octet-stream\r\n\
                     Content-Length: {}\r\n\r\n",
                    data.len()
                );
                Request {
                    head: head.into_bytes(),
                    body: None,
                }
            }
        }
    }

    /// The bytes after the head: the prepared body, or `data` (the object) for v1.
    pub fn body<'a>(&'a self, data: &'a [u8]) -> &'a [u8] {
        self.body.as_deref().unwrap_or(data)
    }

    /// The request line and headers.
    pub fn head(&self) -> &[u8] {
        &self.head
    }
}

/// A response: status, body, and whether the connection ends after it.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
    /// `Connection: close`, or HTTP/1.0 without `Connection: keep-alive`.
    pub close: bool,
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum ExchangeError {
    /// The socket failed. `nothing_back`: not one byte of a response had arrived.
    Io {
        /// The error.
        error: io::Error,
        /// No byte of the response had been read.
        nothing_back: bool,
    },
    /// The response was not well-formed HTTP, or had no usable length.
    Protocol(String),
}

impl ExchangeError {
    /// A kept-alive connection the server had already closed: the request never
    /// reached it, so it may go again on a fresh connection.
    fn is_stale(&self) -> bool {
        use io::ErrorKind as K;
        matches!(self, ExchangeError::Io { error, nothing_back: true }
            if matches!(error.kind(), K::UnexpectedEof | K::BrokenPipe | K::ConnectionReset | K::ConnectionAborted))
    }

    fn into_kind(self) -> (ErrorKind, String) {
        match self {
            ExchangeError::Io { error, .. } => (ErrorKind::of_io(&error, false), error.to_string()),
            ExchangeError::Protocol(m) => (ErrorKind::Protocol, m),
        }
    }
}

/// What a response head says about the body.
struct Head {
    len: usize,
    status: u16,
    content_length: Option<usize>,
    close: bool,
    chunked: bool,
}

/// Parses a complete response head at the start of `buf`; `None` while it is partial.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            let shown = String::from_utf8_lossy(&buf[..buf.len().min(80)]).into_owned();
            return Err(format!("bad response head ({e}): {shown:?}"));
        }
    };
    let mut head = Head {
        len,
        status: resp.code.unwrap_or(0),
        content_length: None,
        // HTTP/1.0 closes unless it says keep-alive.
        close: resp.version == Some(0),
        chunked: false,
    };
    for h in resp.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .trim()
                .parse()
                .map_err(|_| format!("bad Content-Length {value:?}"))?;
            if head.content_length.is_some_and(|m| m != n) {
                return Err("two different Content-Length headers".into());
            }
            head.content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    head.close = false;
                }
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = true;
        }
    }
    Ok(Some(head))
}

/// One connection to a KAV server, and the bytes read past the last response.
pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects, with `timeout` on the connect and on every read and write.
    pub fn connect(endpoint: &Endpoint, timeout: Duration) -> io::Result<Conn> {
        Ok(Conn {
            stream: endpoint.connect(timeout)?,
            buf: Vec::new(),
        })
    }

    /// Sends `req` (one `writev`: head and body) and reads the response.
    pub fn exchange(&mut self, req: &Request, data: &[u8]) -> Result<Response, ExchangeError> {
        let mut slices = [IoSlice::new(req.head()), IoSlice::new(req.body(data))];
        write_all_vectored(&mut self.stream, &mut slices).map_err(|error| ExchangeError::Io {
            error,
            nothing_back: self.buf.is_empty(),
        })?;
        self.read_response()
    }

    /// Reads one response (skipping `1xx` ones).
    pub fn read_response(&mut self) -> Result<Response, ExchangeError> {
        loop {
            let head = loop {
                match parse_head(&self.buf).map_err(ExchangeError::Protocol)? {
                    Some(h) => break h,
                    None if self.buf.len() > MAX_HEAD => {
                        return Err(ExchangeError::Protocol(format!(
                            "response head longer than {MAX_HEAD} bytes"
                        )))
                    }
                    None => {
                        if self.read_more(4096)? == 0 {
                            return Err(self.eof("before the end of the response head"));
                        }
                    }
                }
            };
            if (100..200).contains(&head.status) {
                self.buf.drain(..head.len);
                continue;
            }
            if head.chunked {
                return Err(ExchangeError::Protocol(
                    "chunked response (expected Content-Length)".into(),
                ));
            }
            let body_len = match head.content_length {
                Some(n) if n > MAX_BODY => {
                    return Err(ExchangeError::Protocol(format!(
                        "Content-Length {n} over {MAX_BODY}"
                    )))
                }
                Some(n) => n,
                None if head.status == 204 || head.status == 304 => 0,
                None if head.close => return self.body_to_eof(head),
                None => {
                    return Err(ExchangeError::Protocol(format!(
                        "HTTP {} without Content-Length on a kept-alive connection",
                        head.status
                    )))
                }
            };
            let end = head.len + body_len;
            while self.buf.len() < end {
                if self.read_more(end - self.buf.len())? == 0 {
                    return Err(self.eof("inside the response body"));
                }
            }
            let body = self.buf[head.len..end].to_vec();
            self.buf.drain(..end);
            return Ok(Response {
                status: head.status,
                body,
                close: head.close,
            });
        }
    }

    /// A body delimited by the end of the connection (no `Content-Length`).
    fn body_to_eof(&mut self, head: Head) -> Result<Response, ExchangeError> {
        while self.read_more(4096)? > 0 {
            if self.buf.len() > head.len + MAX_BODY {
                return Err(ExchangeError::Protocol(format!(
                    "response body over {MAX_BODY} bytes"
                )));
            }
        }
        let body = self.buf.get(head.len..).unwrap_or_default().to_vec();
        self.buf.clear();
        Ok(Response {
            status: head.status,
            body,
            close: true,
        })
    }

    /// Reads what is there (up to `want` bytes, at least 4 KiB of room) onto `buf`.
    fn read_more(&mut self, want: usize) -> Result<usize, ExchangeError> {
        let old = self.buf.len();
        self.buf.resize(old + want.clamp(4096, 1 << 20), 0);
        loop {
            match self.stream.read(&mut self.buf[old..]) {
                Ok(n) => {
                    self.buf.truncate(old + n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.buf.truncate(old);
                    return Err(ExchangeError::Io {
                        error,
                        nothing_back: old == 0,
                    });
                }
            }
        }
    }

    fn eof(&self, when: &str) -> ExchangeError {
        ExchangeError::Io {
            error: io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed {when}"),
            ),
            nothing_back: self.buf.is_empty(),
        }
    }
}

/// A client's keep-alive connection, opened on demand and again after the server closed
/// it (`Connection: close`, an idle timeout, a request limit).
#[derive(Default)]
pub struct Session {
    conn: Option<Conn>,
    /// Connections opened.
    pub connects: u64,
}

impl Session {
    /// Opens the connection now if there is none (before the clock starts).
    pub fn ensure_connected(&mut self, endpoint: &Endpoint, timeout: Duration) -> io::Result<()> {
        if self.conn.is_none() {
            self.conn = Some(Conn::connect(endpoint, timeout)?);
            self.connects += 1;
        }
        Ok(())
    }

    /// Scans `data` with the prepared `req`. A kept-alive connection found closed before
    /// any answer came is replaced and the request sent once more.
    pub fn scan(
        &mut self,
        target: &Target,
        req: &Request,
        data: &[u8],
        timeout: Duration,
    ) -> Result<Reply, (ErrorKind, String)> {
        let mut retried = false;
        loop {
            let reused = self.conn.is_some();
            self.ensure_connected(&target.endpoint, timeout)
                .map_err(|e| (ErrorKind::of_io(&e, true), e.to_string()))?;
            let Some(conn) = self.conn.as_mut() else {
                return Err((ErrorKind::Connect, "no connection".into()));
            };
            match conn.exchange(req, data) {
                Ok(resp) => {
                    if resp.close {
                        self.conn = None;
                    }
                    return verdict(target.version, &resp);
                }
                Err(e) => {
                    self.conn = None;
                    if reused && !retried && e.is_stale() {
                        retried = true;
                        continue;
                    }
                    return Err(e.into_kind());
                }
            }
        }
    }
}

/// What a response means: a 200 with a scan verdict, or an error by kind.
pub fn verdict(version: Version, resp: &Response) -> Result<Reply, (ErrorKind, String)> {
    if resp.status != 200 {
        return Err((
            ErrorKind::HttpStatus,
            format!("HTTP {}: {}", resp.status, excerpt(&resp.body)),
        ));
    }
    match version {
        Version::V1 => parse_v1(&resp.body),
        Version::V3 => parse_v3(&resp.body),
    }
    .map_err(|e| (ErrorKind::Protocol, e))
}

/// The first 200 characters of a body, for messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let t: String = text.chars().take(200).collect();
    if t.len() < text.len() {
        format!("{t:?}...")
    } else {
        format!("{t:?}")
    }
}

/// A v1 body: `CLEAN`, `DETECT <name>` (or `DETECTED <name>`), perhaps followed by
/// ` AND CONTAINS OFFICE MACRO`; `NON_SCANNED ...` and `SERVER_ERROR` are
/// [`Reply::Error`].
pub fn parse_v1(body: &[u8]) -> Result<Reply, String> {
    let text =
        std::str::from_utf8(body).map_err(|_| format!("v1 body not UTF-8: {}", excerpt(body)))?;
    let text = text.trim_end_matches(['\r', '\n']);
    let verdict = text
        .strip_suffix(" AND CONTAINS OFFICE MACRO")
        .unwrap_or(text);
    if verdict == "CLEAN" {
        return Ok(Reply::Clean);
    }
    for word in ["DETECT ", "DETECTED "] {
        if let Some(name) = verdict.strip_prefix(word) {
            return Ok(Reply::Found(name.trim().to_string()));
        }
    }
    if verdict.starts_with("NON_SCANNED") || verdict == "SERVER_ERROR" {
        return Ok(Reply::Error(verdict.to_string()));
    }
    Err(format!("unexpected v1 body {}", excerpt(body)))
}

/// A v3 body: JSON with `scanResult` `CLEAN` or `DETECT`/`DETECTED` (and
/// `detectionName`); other results (`NON_SCANNED ...`, `SERVER_ERROR`, ...) and
/// `{"error": ...}` are [`Reply::Error`].
pub fn parse_v3(body: &[u8]) -> Result<Reply, String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("v3 body not JSON ({e}): {}", excerpt(body)))?;
    let Some(result) = v.get("scanResult").and_then(|r| r.as_str()) else {
        if let Some(err) = v.get("error").and_then(|e| e.as_str()) {
            return Ok(Reply::Error(format!("error: {err}")));
        }
        return Err(format!("v3 body without scanResult: {}", excerpt(body)));
    };
    Ok(match result {
        "CLEAN" => Reply::Clean,
        "DETECT" | "DETECTED" => Reply::Found(
            v.get("detectionName")
                .and_then(|n| n.as_str())
                .unwrap_or_default()
                .to_string(),
        ),
        other => Reply::Error(other.to_string()),
    })
}

#[cfg(test)]
mod tests;
