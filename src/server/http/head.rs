//! The request head: httparse reads the request line and headers in place, and the
//! few header values the KAV endpoints need are copied out (they are small), so that
//! the body that follows in the same buffer can then be borrowed mutably.

use std::fmt;

/// Most headers one request may have; more is answered 431, like a head too large.
const MAX_HEADERS: usize = 64;

/// How the body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// What the server needs from a request head.
#[derive(Debug, Default)]
pub struct RequestHead {
    /// The method, as sent.
    pub method: String,
    /// The request target.
    pub path: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Bytes of the head, request line to the blank line included.
    pub len: usize,
    /// Body framing.
    pub framing: Option<Framing>,
    /// The client wants the connection kept open after this request.
    pub keep_alive: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// `X-KAV-ProtocolVersion`.
    pub kav_version: Option<Vec<u8>>,
    /// `X-KAV-Timeout`.
    pub kav_timeout: Option<Vec<u8>>,
    /// `Content-Type`.
    pub content_type: Option<Vec<u8>>,
    /// `Origin` (CORS).
    pub origin: Option<String>,
    /// `Access-Control-Request-Headers` (CORS preflight).
    pub cors_request_headers: Option<String>,
    /// The value of the configured token header.
    pub token: Option<Vec<u8>>,
}

impl RequestHead {
    /// The body framing; a head without one has no body.
    pub fn framing(&self) -> Framing {
        self.framing.unwrap_or(Framing::None)
    }
}

/// Why a head was refused; each maps to one HTTP status.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Over the header count (431; the size limit is checked by the reader).
    TooManyHeaders,
    /// Not HTTP/1.x syntax (400).
    Malformed(String),
    /// A `Transfer-Encoding` other than chunked (501).
    UnsupportedEncoding(String),
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::TooManyHeaders => write!(f, "too many headers (at most {MAX_HEADERS})"),
            HeadError::Malformed(why) => write!(f, "malformed request: {why}"),
            HeadError::UnsupportedEncoding(te) => {
                write!(f, "unsupported Transfer-Encoding: {te}")
            }
        }
    }
}

/// Parses the head at the start of `buf`: `Ok(None)` until the blank line has arrived.
/// `token_header` names the header that carries the API token.
pub fn parse(buf: &[u8], token_header: &str) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    };
    let minor_version = req.version.unwrap_or(1);
    let mut head = RequestHead {
        method: req.method.unwrap_or_default().to_owned(),
        path: req.path.unwrap_or_default().to_owned(),
        minor_version,
        len,
        // HTTP/1.1 connections persist unless closed; HTTP/1.0 ones only when asked.
        keep_alive: minor_version >= 1,
        ..RequestHead::default()
    };
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for h in req.headers.iter() {
        let name = h.name;
        let value = h.value;
        let text = || String::from_utf8_lossy(value).trim().to_owned();
        if name.eq_ignore_ascii_case("content-length") {
            let parsed = std::str::from_utf8(value)
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| HeadError::Malformed(format!("bad Content-Length {:?}", text())))?;
            // Repeated lengths must agree (RFC 9112 §6.3): a disagreement is how
            // request smuggling starts.
            if length.is_some_and(|l| l != parsed) {
                return Err(HeadError::Malformed("conflicting Content-Length".into()));
            }
            length = Some(parsed);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let codings = text().to_ascii_lowercase();
            let last = codings.rsplit(',').next().unwrap_or("").trim().to_owned();
            if last != "chunked" || codings.split(',').filter(|c| c.trim() == "chunked").count() > 1
            {
                return Err(HeadError::UnsupportedEncoding(codings));
            }
            if codings
                .split(',')
                .any(|c| !matches!(c.trim(), "chunked" | "identity"))
            {
                return Err(HeadError::UnsupportedEncoding(codings));
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in String::from_utf8_lossy(value).split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && minor_version == 0 {
                    head.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = text().eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case("x-kav-protocolversion") {
            head.kav_version = Some(value.to_vec());
        } else if name.eq_ignore_ascii_case("x-kav-timeout") {
            head.kav_timeout = Some(value.to_vec());
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value.to_vec());
        } else if name.eq_ignore_ascii_case("origin") {
            head.origin = Some(text());
        } else if name.eq_ignore_ascii_case("access-control-request-headers") {
            head.cors_request_headers = Some(text());
        }
        if name.eq_ignore_ascii_case(token_header) {
            head.token = Some(value.to_vec());
        }
    }
    head.framing = Some(match (chunked, length) {
        (true, Some(_)) => {
            // RFC 9112 §6.1: a server may reject it, and must close after it anyway.
            return Err(HeadError::Malformed(
                "both Transfer-Encoding and Content-Length".into(),
            ));
        }
        (true, None) => Framing::Chunked,
        (false, Some(0)) | (false, None) => Framing::None,
        (false, Some(n)) => Framing::Length(n),
    });
    Ok(Some(head))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<RequestHead>, HeadError> {
        parse(text.as_bytes(), "Authorization")
    }

    #[test]
    fn partial_until_the_blank_line() {
        assert!(head("POST /scanmemory HTTP/1.1\r\nContent-Le")
            .unwrap()
            .is_none());
        let h = head("POST /scanmemory HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap()
            .unwrap();
        assert_eq!(h.len, 48);
        assert_eq!(h.framing(), Framing::Length(5));
        assert!(h.keep_alive);
    }

    #[test]
    fn keep_alive_by_version_and_connection() {
        let h = |t: &str| head(t).unwrap().unwrap().keep_alive;
        assert!(!h("GET /version HTTP/1.0\r\n\r\n"));
        assert!(h("GET /version HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!h("GET /version HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(h(
            "GET /version HTTP/1.1\r\nConnection: TE, keep-alive\r\n\r\n"
        ));
    }

    #[test]
    fn framing_rules() {
        let f = |t: &str| head(t).map(|h| h.unwrap().framing());
        assert_eq!(
            f("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            f("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n"),
            Ok(Framing::Length(3))
        );
        assert!(matches!(
            f("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            f("POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            f("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            f("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            f("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Err(HeadError::UnsupportedEncoding(_))
        ));
        assert!(matches!(
            f("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n"),
            Err(HeadError::UnsupportedEncoding(_))
        ));
        assert_eq!(f("GET / HTTP/1.1\r\n\r\n"), Ok(Framing::None));
    }

    #[test]
    fn kav_headers_and_token() {
        let h = head(
            "POST /scanmemory HTTP/1.0\r\nX-KAV-ProtocolVersion: 1\r\nx-kav-timeout: 10000\r\n\
             X-KAV-ObjectURL: [from:a@b.example]\r\nauthorization: Bearer abc\r\n\
             Expect: 100-continue\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.kav_version.as_deref(), Some(&b"1"[..]));
        assert_eq!(h.kav_timeout.as_deref(), Some(&b"10000"[..]));
        assert_eq!(h.token.as_deref(), Some(&b"Bearer abc"[..]));
        assert!(h.expect_continue);
    }

    #[test]
    fn garbage_and_header_floods_are_errors() {
        assert!(matches!(
            head("\x01\x02 / HTTP/1.1\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        let mut flood = String::from("GET / HTTP/1.1\r\n");
        for i in 0..(MAX_HEADERS + 1) {
            flood.push_str(&format!("X-{i}: y\r\n"));
        }
        flood.push_str("\r\n");
        assert_eq!(head(&flood).err(), Some(HeadError::TooManyHeaders));
    }
}
