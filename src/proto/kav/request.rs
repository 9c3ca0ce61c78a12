//! Request bodies: the v3 JSON scan and checkurl bodies (`kav-protocol.md` §1.3), and,
//! re-exported from their own modules, the plain v1/v2 headers and bodies
//! ([`super::plain`]) and the v2 multipart body ([`super::multipart`]).
//!
//! A scanmemory body can be as large as the server accepts (the vendor's default cap
//! is 100 MB), so its Base64 `object` is never copied: a top-level walk finds its text
//! (serde_json reads the keys and the other members), and the `inplace` module decodes
//! it inside the caller's buffer. Bodies of another shape go through serde_json whole,
//! which names what is wrong.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

pub use super::multipart::{multipart_boundary, split_multipart, Multipart};
pub use super::plain::{parse_protocol_version, parse_timeout_header, plain_path};

/// The options of a v3 scan request (every field but `object`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanParams {
    /// The scan timeout; `None` when absent or 0 (no limit of its own).
    pub timeout: Option<Duration>,
    /// `omitCleanSubobjectResults`: drop CLEAN entries from `subObjectsScanResults`.
    /// Defaults to `true`.
    pub omit_clean: bool,
    /// `url`: the object's origin (scan context, `kav-protocol.md` §1.6).
    pub url: Option<String>,
    /// `hostIp`: the IP of the host that served `url`.
    pub host_ip: Option<String>,
    /// `requestHeaders`: raw request header text of the transaction.
    pub request_headers: Option<String>,
    /// `responseHeaders`: raw response header text of the transaction.
    pub response_headers: Option<String>,
    /// `name`: the object's name, echoed in the scanmemory response.
    pub name: Option<String>,
}

impl Default for ScanParams {
    fn default() -> Self {
        ScanParams {
            timeout: None,
            omit_clean: true,
            url: None,
            host_ip: None,
            request_headers: None,
            response_headers: None,
            name: None,
        }
    }
}

/// The object to scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    /// scanfile: the path on the server host.
    Path(String),
    /// scanmemory: the decoded bytes, as a range of the body buffer they were decoded
    /// into.
    Memory(Range<usize>),
}

/// What kind of fault a [`RequestError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestErrorKind {
    /// The body is not JSON, or not a JSON object.
    Json,
    /// A mandatory field or header is missing.
    Missing,
    /// A field or header has a value of the wrong type or range.
    Invalid,
    /// The scanmemory `object` is not valid Base64.
    Base64,
    /// The v2 multipart body does not follow the format.
    Multipart,
}

/// A request the codec cannot accept. The message is meant for the client: it goes in
/// `{"error": message}` (v3) or in the plain-text answer (v1/v2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestError {
    kind: RequestErrorKind,
    message: String,
}

impl RequestError {
    /// An error of `kind` with `message`.
    pub fn new(kind: RequestErrorKind, message: impl Into<String>) -> Self {
        RequestError {
            kind,
            message: message.into(),
        }
    }

    /// The kind of fault.
    pub fn kind(&self) -> RequestErrorKind {
        self.kind
    }

    /// The message for the client.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RequestError {}

/// The v3 scan body as serde sees it. `object`, `timeout` and
/// `omitCleanSubobjectResults` stay raw: `object` so that its place in the body is
/// known, the other two because they come in two JSON types.
#[derive(Deserialize)]
struct ScanBody<'a> {
    #[serde(borrow, default)]
    timeout: Option<&'a RawValue>,
    #[serde(rename = "omitCleanSubobjectResults", borrow, default)]
    omit_clean: Option<&'a RawValue>,
    #[serde(default)]
    url: Option<String>,
    #[serde(rename = "hostIp", default)]
    host_ip: Option<String>,
    #[serde(rename = "requestHeaders", default)]
    request_headers: Option<String>,
    #[serde(rename = "responseHeaders", default)]
    response_headers: Option<String>,
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
    #[serde(default)]
    name: Option<String>,
}

/// The checkurl body; `hostIp` is accepted and ignored (ringscan has no reputation
/// service to pass it to).
#[derive(Deserialize)]
struct CheckUrlBody<'a> {
    #[serde(borrow, default)]
    timeout: Option<&'a RawValue>,
    #[serde(default)]
    url: Option<String>,
}

/// Parses a v3 scanfile (`memory == false`) or scanmemory (`memory == true`) body.
///
/// For scanmemory the Base64 `object` is decoded in place: on success the decoded
/// bytes lie in `body[range]` for the returned [`Object::Memory`]`(range)`, and the
/// rest of `body` around the object is left as it was, except the object's own span.
/// Nothing proportional to the object's size is allocated. The object text may escape
/// `/` as `\/` (the vendor's examples do), break lines with `\r`/`\n`/`\t` escapes or
/// contain spaces, and may lack its `=` padding.
pub fn parse_scan_v3(body: &mut [u8], memory: bool) -> Result<(ScanParams, Object), RequestError> {
    if memory {
        if let Some(span) = locate_object(body) {
            return parse_memory_fast(body, span);
        }
    }
    let base = body.as_ptr() as usize;
    let (params, object) = {
        let parsed: ScanBody<'_> = parse_json_object(body)?;
        let params = scan_params(&parsed)?;
        let raw = parsed.object.ok_or_else(|| {
            RequestError::new(RequestErrorKind::Missing, "\"object\" is required")
        })?;
        let object = if memory {
            // Only the span is kept, so that the borrow of `body` ends here.
            let start = (raw.get().as_ptr() as usize).wrapping_sub(base);
            Err(start..start.wrapping_add(raw.get().len()))
        } else {
            Ok(Object::Path(json_string(raw, "object")?))
        };
        (params, object)
    };
    let object = match object {
        Ok(path) => path,
        Err(span) => Object::Memory(decode_object(body, span)?),
    };
    Ok((params, object))
}

/// The scanmemory fast path: serde_json reads every member but the object (a copy of
/// the body with `"object": ""`, a few hundred bytes), and the object's text, found by
/// [`locate_object`], goes straight to the in-place decoder. serde_json would otherwise
/// walk the whole Base64 text once more, byte by byte (a quarter of the CPU time of a
/// 1 MiB v3 request when measured).
fn parse_memory_fast(
    body: &mut [u8],
    span: Range<usize>,
) -> Result<(ScanParams, Object), RequestError> {
    let mut rest = Vec::with_capacity(body.len() - span.len() + 2);
    rest.extend_from_slice(&body[..span.start]);
    rest.extend_from_slice(b"\"\"");
    rest.extend_from_slice(&body[span.end..]);
    let parsed: ScanBody<'_> = parse_json_object(&rest)?;
    let params = scan_params(&parsed)?;
    Ok((params, Object::Memory(decode_object(body, span)?)))
}

/// The span of the top-level `"object"` member's string value (quotes included), or
/// `None` when the body does not have that shape (then the full serde_json parse runs
/// and reports what is wrong). Keys and the other members' values are read by
/// serde_json; the object's text is skipped with `memchr2`, escapes honoured.
fn locate_object(body: &[u8]) -> Option<Range<usize>> {
    let ws = |at: usize| {
        at + body
            .get(at..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .count()
    };
    // One JSON value (key or member value) starting at `at`; returns where it ends.
    let value_end = |at: usize| -> Option<usize> {
        let mut values =
            serde_json::Deserializer::from_slice(body.get(at..)?).into_iter::<&RawValue>();
        values.next()?.ok()?;
        Some(at + values.byte_offset())
    };
    let mut at = ws(0);
    if body.get(at) != Some(&b'{') {
        return None;
    }
    at += 1;
    let mut found = None;
    loop {
        at = ws(at);
        match body.get(at)? {
            b'}' if found.is_none() => return None,
            b'}' => break,
            b'"' => {}
            _ => return None,
        }
        let key_end = value_end(at)?;
        let is_object = &body[at..key_end] == b"\"object\"";
        at = ws(key_end);
        if body.get(at) != Some(&b':') {
            return None;
        }
        at = ws(at + 1);
        let end = if is_object && body.get(at) == Some(&b'"') {
            let end = string_end(body, at)?;
            if found.replace(at..end).is_some() {
                // A repeated key: serde_json's error says so.
                return None;
            }
            end
        } else {
            value_end(at)?
        };
        at = ws(end);
        match body.get(at)? {
            b',' => at += 1,
            b'}' => break,
            _ => return None,
        }
    }
    (ws(at + 1) == body.len()).then_some(found?)
}

/// The end (after the closing quote) of the JSON string starting at `body[start]`.
fn string_end(body: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    loop {
        let i = memchr::memchr2(b'"', b'\\', body.get(at..)?)?;
        match body[at + i] {
            b'"' => return Some(at + i + 1),
            _ => at += i + 2,
        }
    }
}

/// The options of a parsed scan body.
fn scan_params(parsed: &ScanBody<'_>) -> Result<ScanParams, RequestError> {
    Ok(ScanParams {
        timeout: parsed.timeout.map(json_timeout).transpose()?.flatten(),
        omit_clean: parsed
            .omit_clean
            .map(json_bool)
            .transpose()?
            .unwrap_or(true),
        url: parsed.url.clone(),
        host_ip: parsed.host_ip.clone(),
        request_headers: parsed.request_headers.clone(),
        response_headers: parsed.response_headers.clone(),
        name: parsed.name.clone(),
    })
}

/// Decodes the Base64 JSON string at `span` of `body` in place.
fn decode_object(body: &mut [u8], span: Range<usize>) -> Result<Range<usize>, RequestError> {
    let not_string = || {
        RequestError::new(
            RequestErrorKind::Invalid,
            "\"object\" must be a Base64 string",
        )
    };
    // The raw value borrowed from `body` lies inside it; checked anyway, so that a
    // change in serde_json's internals gives an error, not a wrong slice.
    let text = body.get_mut(span.clone()).ok_or_else(not_string)?;
    let inner = match text {
        [b'"', inner @ .., b'"'] => inner,
        _ => return Err(not_string()),
    };
    let len = super::inplace::decode_json_base64(inner).map_err(|e| {
        RequestError::new(
            RequestErrorKind::Base64,
            format!("invalid base64 in \"object\": {e}"),
        )
    })?;
    let start = span.start + 1;
    Ok(start..start + len)
}

/// Parses a v3 checkurl body: the timeout and the mandatory, non-empty `url`.
pub fn parse_checkurl_v3(body: &[u8]) -> Result<(Option<Duration>, String), RequestError> {
    let parsed: CheckUrlBody<'_> = parse_json_object(body)?;
    let timeout = parsed.timeout.map(json_timeout).transpose()?.flatten();
    match parsed.url {
        Some(url) if !url.is_empty() => Ok((timeout, url)),
        Some(_) => Err(RequestError::new(
            RequestErrorKind::Invalid,
            "\"url\" must not be empty",
        )),
        None => Err(RequestError::new(
            RequestErrorKind::Missing,
            "\"url\" is required",
        )),
    }
}

/// Deserializes `body`, which must be one JSON object. The check for `{` comes first
/// because serde's derived structs also accept a JSON array of the fields in order.
fn parse_json_object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, RequestError> {
    let first = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    if first != Some(&b'{') {
        return Err(RequestError::new(
            RequestErrorKind::Json,
            "the request body must be a JSON object",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| RequestError::new(RequestErrorKind::Json, format!("invalid JSON body: {e}")))
}

/// A JSON string field's value.
fn json_string(raw: &RawValue, field: &str) -> Result<String, RequestError> {
    serde_json::from_str(raw.get()).map_err(|_| {
        RequestError::new(
            RequestErrorKind::Invalid,
            format!("\"{field}\" must be a string"),
        )
    })
}

/// `timeout`: milliseconds as a JSON number or a string of digits (both forms are in
/// the vendor's docs), in `0..=4294967295` like `X-KAV-Timeout`; 0 means no limit.
fn json_timeout(raw: &RawValue) -> Result<Option<Duration>, RequestError> {
    let text = raw.get();
    let millis = if text.starts_with('"') {
        serde_json::from_str::<String>(text)
            .ok()
            .and_then(|s| super::plain::parse_millis(s.as_bytes()))
    } else {
        super::plain::parse_millis(text.as_bytes())
    };
    millis.ok_or_else(|| {
        RequestError::new(
            RequestErrorKind::Invalid,
            "\"timeout\" must be a number of milliseconds from 0 to 4294967295",
        )
    })
}

/// `omitCleanSubobjectResults`: a JSON bool, or the strings `"true"`/`"false"`.
fn json_bool(raw: &RawValue) -> Result<bool, RequestError> {
    match raw.get() {
        "true" | "\"true\"" => Ok(true),
        "false" | "\"false\"" => Ok(false),
        _ => Err(RequestError::new(
            RequestErrorKind::Invalid,
            "\"omitCleanSubobjectResults\" must be true or false",
        )),
    }
}
