//! Response heads. Every answer carries `Content-Length` (so keep-alive clients know
//! where it ends) and is written with its body in one `write`.

use std::cell::RefCell;
use std::io::Write;

/// `Server` header: the vendor's product token first, for clients that look for it.
const SERVER: &str = "KAVHTTPD/1.0 ringscan/0.1.0";

/// One response's head fields.
#[derive(Debug, Clone)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// `X-KAV-ProtocolVersion`, if the endpoint speaks KAV.
    pub kav_version: Option<u8>,
    /// `Allow` (405, and OPTIONS without CORS).
    pub allow: Option<&'static str>,
    /// `WWW-Authenticate` (401).
    pub www_authenticate: Option<&'static str>,
    /// `Access-Control-Allow-Origin`, and for a preflight the methods and headers.
    pub cors: Option<Cors>,
    /// Close the connection after this answer.
    pub close: bool,
}

/// CORS response headers.
#[derive(Debug, Clone)]
pub struct Cors {
    /// The configured origin.
    pub origin: String,
    /// For a preflight (OPTIONS): the endpoint's methods.
    pub methods: Option<&'static str>,
    /// For a preflight: the request headers the client asked to send.
    pub headers: Option<String>,
}

/// JSON bodies (v3 and every error).
pub const JSON: &str = "application/json";
/// Plain-text bodies (v1 and v2 answers).
pub const TEXT: &str = "text/plain";

impl Head {
    /// A head with `status` and `content_type`, nothing else.
    pub fn new(status: u16, content_type: &'static str) -> Head {
        Head {
            status,
            content_type,
            kav_version: None,
            allow: None,
            www_authenticate: None,
            cors: None,
            close: false,
        }
    }
}

/// The reason phrase of the statuses we send.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Writes the head for a body of `body_len` bytes into `out`.
pub fn write_head(out: &mut Vec<u8>, head: &Head, body_len: usize) {
    // Writes into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nServer: {SERVER}\r\nDate: ",
        head.status,
        reason(head.status)
    );
    with_date(|date| out.extend_from_slice(date));
    let _ = write!(
        out,
        "\r\nContent-Type: {}\r\nContent-Length: {body_len}\r\n",
        head.content_type
    );
    if let Some(v) = head.kav_version {
        let _ = write!(out, "X-KAV-ProtocolVersion: {v}\r\n");
    }
    if let Some(allow) = head.allow {
        let _ = write!(out, "Allow: {allow}\r\n");
    }
    if let Some(auth) = head.www_authenticate {
        let _ = write!(out, "WWW-Authenticate: {auth}\r\n");
    }
    if let Some(cors) = &head.cors {
        let _ = write!(out, "Access-Control-Allow-Origin: {}\r\n", cors.origin);
        if let Some(methods) = cors.methods {
            let _ = write!(out, "Access-Control-Allow-Methods: {methods}\r\n");
        }
        if let Some(headers) = &cors.headers {
            let _ = write!(out, "Access-Control-Allow-Headers: {headers}\r\n");
        }
        out.extend_from_slice(b"Vary: Origin\r\n");
    }
    out.extend_from_slice(if head.close {
        b"Connection: close\r\n\r\n"
    } else {
        b"Connection: keep-alive\r\n\r\n"
    });
}

thread_local! {
    /// This core's `Date` value and the second it was made for: formatted once a
    /// second, not once per response.
    static DATE: RefCell<(u64, Vec<u8>)> = const { RefCell::new((u64::MAX, Vec::new())) };
}

/// Calls `f` with the current IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn with_date(f: impl FnOnce(&[u8])) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    DATE.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.0 != now {
            cell.1 = imf_fixdate(now).into_bytes();
            cell.0 = now;
        }
        f(&cell.1);
    });
}

fn imf_fixdate(unix: u64) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "Thu, 01 Jan 1970 00:00:00 GMT".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_imf_fixdate() {
        assert_eq!(imf_fixdate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn head_lines() {
        let mut out = Vec::new();
        let mut head = Head::new(405, JSON);
        head.allow = Some("OPTIONS, GET");
        head.kav_version = Some(3);
        head.close = true;
        write_head(&mut out, &head, 12);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\nServer: KAVHTTPD/1.0"));
        for line in [
            "\r\nContent-Type: application/json\r\n",
            "\r\nContent-Length: 12\r\n",
            "\r\nX-KAV-ProtocolVersion: 3\r\n",
            "\r\nAllow: OPTIONS, GET\r\n",
        ] {
            assert!(text.contains(line), "{line:?} in {text}");
        }
        assert!(text.ends_with("\r\nConnection: close\r\n\r\n"));
    }
}
