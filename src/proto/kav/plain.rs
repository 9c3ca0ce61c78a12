//! The plain v1/v2 request headers and bodies (`kav-protocol.md` §2): the mandatory
//! `X-KAV-ProtocolVersion`, `X-KAV-Timeout`, and the scanfile body (a bare path).

use std::time::Duration;

use super::request::{RequestError, RequestErrorKind};

/// Reads `X-KAV-ProtocolVersion` (mandatory on the plain paths): `1` or `2`, spaces
/// around allowed. `None` (header absent) and any other value are errors.
pub fn parse_protocol_version(value: Option<&[u8]>) -> Result<u8, RequestError> {
    let value = value.ok_or_else(|| {
        RequestError::new(
            RequestErrorKind::Missing,
            "the X-KAV-ProtocolVersion header is required",
        )
    })?;
    match value.trim_ascii() {
        b"1" => Ok(1),
        b"2" => Ok(2),
        _ => Err(RequestError::new(
            RequestErrorKind::Invalid,
            "unsupported X-KAV-ProtocolVersion (expected 1 or 2)",
        )),
    }
}

/// Reads `X-KAV-Timeout`: the scan timeout in milliseconds, `0..=4294967295`, spaces
/// around allowed; 0 means no limit of its own (`None`).
pub fn parse_timeout_header(value: &[u8]) -> Result<Option<Duration>, RequestError> {
    parse_millis(value.trim_ascii()).ok_or_else(|| {
        RequestError::new(
            RequestErrorKind::Invalid,
            "X-KAV-Timeout must be a number of milliseconds from 0 to 4294967295",
        )
    })
}

/// Milliseconds as ASCII digits in `0..=u32::MAX`: `Some(None)` for 0, `None` when
/// not a number in range.
pub(crate) fn parse_millis(digits: &[u8]) -> Option<Option<Duration>> {
    if digits.is_empty() {
        return None;
    }
    let mut ms: u32 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        ms = ms.checked_mul(10)?.checked_add(u32::from(d - b'0'))?;
    }
    Some((ms != 0).then(|| Duration::from_millis(u64::from(ms))))
}

/// The v1/v2 scanfile body: the path, with trailing CR, LF and spaces trimmed (clients
/// may end it with a line break). It must be non-empty UTF-8 without NUL bytes (no file
/// system can open such a path, and the answer should say why).
pub fn plain_path(body: &[u8]) -> Result<String, RequestError> {
    let end = body
        .iter()
        .rposition(|b| !matches!(b, b'\r' | b'\n' | b' '))
        .map_or(0, |i| i + 1);
    let path = body.get(..end).unwrap_or_default();
    if path.is_empty() {
        return Err(RequestError::new(
            RequestErrorKind::Missing,
            "the request body must be the path to scan",
        ));
    }
    if path.contains(&0) {
        return Err(RequestError::new(
            RequestErrorKind::Invalid,
            "the path contains a NUL byte",
        ));
    }
    match std::str::from_utf8(path) {
        Ok(p) => Ok(p.to_owned()),
        Err(_) => Err(RequestError::new(
            RequestErrorKind::Invalid,
            "the path is not valid UTF-8",
        )),
    }
}
