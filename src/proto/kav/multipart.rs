//! The v2 multipart body (`kav-protocol.md` §2, KSE page 181078).
//!
//! Not RFC 2046 multipart: parts have no MIME headers. A part is recognised by its
//! first line, `Request headers` or `Response headers`; the part that starts with
//! neither is the object (a path for scanfile, the content for scanmemory), and it
//! comes last. At most three parts, each label at most once.
//!
//! Delimiters follow RFC 2046 otherwise, as the vendor's example does: a delimiter is
//! `--boundary` at the start of a line, optionally followed by spaces or tabs, then
//! CRLF or LF; the line break before it belongs to the delimiter, not to the part; the
//! close delimiter is `--boundary--`; text before the first delimiter (preamble) and
//! after the close (epilogue) is ignored. LF alone is accepted wherever CRLF is.
//! Boundary text that is not at the start of a line is content.

use std::ops::Range;

use super::request::{RequestError, RequestErrorKind};

/// The `boundary` parameter of a `multipart/mixed` Content-Type, or `None` when the
/// type is something else or has no usable boundary.
///
/// The media type and the parameter name compare case-insensitively; the value may be
/// a token or a quoted string (a quoted string with a backslash escape is refused, as
/// the boundary is returned as a slice of `content_type`).
pub fn multipart_boundary(content_type: &[u8]) -> Option<&[u8]> {
    let mut params = content_type.split(|&b| b == b';');
    let media = params.next()?.trim_ascii();
    if !media.eq_ignore_ascii_case(b"multipart/mixed") {
        return None;
    }
    params.find_map(|param| {
        let (name, value) = split_once(param, b'=')?;
        if !name.trim_ascii().eq_ignore_ascii_case(b"boundary") {
            return None;
        }
        let value = value.trim_ascii();
        let value = match value {
            [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => inner,
            [b'"', ..] => return None,
            token => token,
        };
        (!value.is_empty()).then_some(value)
    })
}

/// A split v2 multipart body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Multipart<'a> {
    /// The `Request headers` part without its label line.
    pub request_headers: Option<&'a [u8]>,
    /// The `Response headers` part without its label line.
    pub response_headers: Option<&'a [u8]>,
    /// Where the object lies in the body (the last part).
    pub object: Range<usize>,
}

/// What ends a part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DelimiterKind {
    /// `--boundary` line: another part follows.
    Part,
    /// `--boundary--`: the body's parts end.
    Close,
}

/// A delimiter found in the body.
#[derive(Clone, Copy, Debug)]
struct Delimiter {
    kind: DelimiterKind,
    /// Where the preceding part's content ends (before the delimiter's line break).
    content_end: usize,
    /// Where the next part starts (after the delimiter line), for [`DelimiterKind::Part`].
    next: usize,
}

/// Splits a v2 multipart body with `boundary` (from [`multipart_boundary`]).
pub fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Result<Multipart<'a>, RequestError> {
    let first = find_delimiter(body, boundary, 0).ok_or_else(|| {
        error(format!(
            "the body has no --{} delimiter",
            String::from_utf8_lossy(boundary)
        ))
    })?;
    if first.kind == DelimiterKind::Close {
        return Err(error("the multipart body has no object part"));
    }
    let mut split = Multipart {
        request_headers: None,
        response_headers: None,
        object: 0..0,
    };
    let mut start = first.next;
    // Header parts first; the loop ends at the object part, at most the third.
    loop {
        let part = body.get(start..).unwrap_or_default();
        let slot = match header_label(part) {
            Some(Label::Request) if split.request_headers.is_none() => &mut split.request_headers,
            Some(Label::Response) if split.response_headers.is_none() => {
                &mut split.response_headers
            }
            _ => break,
        };
        let end = find_delimiter(body, boundary, start)
            .ok_or_else(|| error("the multipart body has no closing delimiter"))?;
        if end.kind == DelimiterKind::Close {
            return Err(error("the multipart body has no object part"));
        }
        let content = body.get(start..end.content_end).unwrap_or_default();
        *slot = Some(after_label_line(content));
        start = end.next;
    }
    let end = find_delimiter(body, boundary, start)
        .ok_or_else(|| error("the multipart body has no closing delimiter"))?;
    if end.kind == DelimiterKind::Part {
        return Err(error(
            "the multipart body has more than 3 parts (or the object contains the boundary)",
        ));
    }
    split.object = start..end.content_end;
    Ok(split)
}

/// A multipart error.
fn error(message: impl Into<String>) -> RequestError {
    RequestError::new(RequestErrorKind::Multipart, message)
}

/// The label of a header part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    Request,
    Response,
}

/// The label a part starts with: the whole first line, compared case-insensitively.
fn header_label(part: &[u8]) -> Option<Label> {
    let line = part.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.eq_ignore_ascii_case(b"Request headers") {
        Some(Label::Request)
    } else if line.eq_ignore_ascii_case(b"Response headers") {
        Some(Label::Response)
    } else {
        None
    }
}

/// A header part's content after its label line (empty when the label line is all).
fn after_label_line(content: &[u8]) -> &[u8] {
    match memchr::memchr(b'\n', content) {
        Some(i) => content.get(i + 1..).unwrap_or_default(),
        None => &[],
    }
}

/// The first delimiter at or after `from`.
///
/// The line break before `--boundary` is the content's end; when the part is empty
/// that line break is the previous delimiter line's own, so `content_end` is clamped
/// to `from`.
fn find_delimiter(body: &[u8], boundary: &[u8], from: usize) -> Option<Delimiter> {
    let haystack = body.get(from..)?;
    let mut needle = Vec::with_capacity(boundary.len() + 2);
    needle.extend_from_slice(b"--");
    needle.extend_from_slice(boundary);
    for hit in memchr::memmem::find_iter(haystack, &needle) {
        let at = from + hit;
        if at != 0 && body.get(at - 1) != Some(&b'\n') {
            continue;
        }
        let after = at + needle.len();
        let content_end = if at >= 2 && body.get(at - 2..at) == Some(b"\r\n") {
            at - 2
        } else {
            at.saturating_sub(1)
        }
        .max(from);
        let rest = body.get(after..).unwrap_or_default();
        if rest.starts_with(b"--") {
            return Some(Delimiter {
                kind: DelimiterKind::Close,
                content_end,
                next: body.len(),
            });
        }
        let pad = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        let eol = match rest.get(pad..) {
            Some([b'\r', b'\n', ..]) => 2,
            Some([b'\n', ..]) => 1,
            // `--boundaryX...`: a longer boundary or content, not a delimiter.
            _ => continue,
        };
        return Some(Delimiter {
            kind: DelimiterKind::Part,
            content_end,
            next: after + pad + eol,
        });
    }
    None
}

/// `s` split at the first `sep`.
fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = memchr::memchr(sep, s)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}
