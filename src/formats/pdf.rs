//! PDF: every `stream` … `endstream` body is a sub-object, decoded when its filter
//! is one this module knows.
//!
//! Written by hand, scanning leniently as ClamAV does, instead of with a PDF parser
//! (`lopdf`, `pdf`): malicious PDFs are malformed on purpose (wrong `/Length`, broken
//! cross-reference tables, truncated files, junk between objects) and full parsers
//! refuse them, which would hide exactly the streams worth scanning. So: find each
//! `stream` keyword, take the dictionary before it back to its `N G obj` header, take
//! the body by `/Length` when that lands on `endstream`, otherwise up to the next
//! `endstream` (or the end of the file).
//!
//! Filters: `/FlateDecode` (`/Fl`; zlib, or raw deflate when the zlib header is
//! missing) is inflated a chunk per call with the shared [`Decoding`] (size limit and
//! ratio guard); `/ASCIIHexDecode` (`/AHx`) and `/ASCII85Decode` (`/A85`) are decoded
//! in place, and may precede a Flate filter in a filter array. Anything else (images,
//! LZW, encryption) is returned as the raw stream bytes. A stream whose deflate data
//! breaks off is returned as far as it decoded, marked [`Skip::Corrupted`]; one that
//! does not inflate at all (encrypted documents, a lying `/Filter`) is returned raw.
//! Sub-objects are named `obj-<num>-<gen>`, or `stream-<k>` without an object header.

use std::io::{self, Read};

use flate2::{Decompress, FlushDecompress, Status};
use memchr::memmem;

use super::codec::hex_val;
use super::unpack::{Budget, Child, Decoded, Decoding, Next, Skip, Unpacker};
use super::Blob;

/// A PDF being scanned for streams.
pub struct Pdf<'a> {
    data: Blob<'a>,
    /// Where to look for the next `stream` keyword.
    pos: usize,
    /// Streams found so far (for `stream-<k>` names).
    count: usize,
    /// A Flate stream being inflated: its name, decoder and encoded bytes.
    pending: Option<(String, Decoding<Inflate<'a>>, Blob<'a>)>,
}

/// Opens a PDF. Never fails: a file without streams has no sub-objects.
pub fn open<'a>(data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    Ok(Box::new(Pdf {
        data,
        pos: 0,
        count: 0,
        pending: None,
    }))
}

/// A filter this module decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Filter {
    Flate,
    AsciiHex,
    Ascii85,
    Other,
}

/// One stream found: its name, dictionary and body.
struct Found {
    name: String,
    dict: std::ops::Range<usize>,
    body: std::ops::Range<usize>,
}

impl<'a> Pdf<'a> {
    /// Finds the next stream from `self.pos`, and moves past it.
    fn find(&mut self) -> Option<Found> {
        let blob = self.data.clone();
        let data: &[u8] = &blob;
        let mut from = self.pos;
        loop {
            let at = from + memmem::find(data.get(from..)?, b"stream")?;
            from = at + 6;
            // Not `endstream`, and a keyword: not inside a longer word.
            let before_ok = at == 0 || !data[at - 1].is_ascii_alphanumeric();
            let after = data.get(at + 6).copied();
            let after_ok = matches!(after, None | Some(b'\r' | b'\n' | b' ' | b'\t'));
            if !before_ok || !after_ok || data[..at].ends_with(b"end") {
                continue;
            }
            // The body starts after the end of line (spaces before it tolerated).
            let mut start = at + 6;
            while matches!(data.get(start), Some(b' ' | b'\t')) {
                start += 1;
            }
            if data.get(start) == Some(&b'\r') {
                start += 1;
            }
            if data.get(start) == Some(&b'\n') {
                start += 1;
            }
            // The dictionary: back to the last `obj` keyword since the previous stream.
            let window = self.pos.max(at.saturating_sub(64 << 10));
            let (name, dict_start) = match header(&data[window..at]) {
                Some((num, gen, end)) => (format!("obj-{num}-{gen}"), window + end),
                None => (format!("stream-{}", self.count), window),
            };
            let dict = dict_start..at;
            let end = body_end(data, start, &data[dict.clone()]);
            let next = memmem::find(&data[end..], b"endstream").map_or(data.len(), |i| end + i + 9);
            self.pos = next.max(start);
            self.count += 1;
            return Some(Found {
                name,
                dict,
                body: start..end,
            });
        }
    }

    /// Starts on one stream: a child at once, or an inflation to step.
    fn start(&mut self, found: Found, budget: &Budget) -> Next<'a> {
        let Found { name, dict, body } = found;
        let filters = filters(&self.data[dict]);
        let mut bytes = self.data.slice(body);
        for filter in filters {
            match filter {
                Filter::AsciiHex | Filter::Ascii85 => {
                    let limit = usize::try_from(budget.max_object).unwrap_or(usize::MAX);
                    let decoded = if filter == Filter::AsciiHex {
                        ascii_hex(&bytes, limit)
                    } else {
                        ascii85(&bytes, limit)
                    };
                    let Some(decoded) = decoded else {
                        return Next::Skipped {
                            name,
                            reason: Skip::TooLarge,
                        };
                    };
                    bytes = Blob::owned(decoded);
                }
                Filter::Flate => {
                    let packed = bytes.len() as u64;
                    let decoding = Decoding::new(Inflate::new(bytes.clone()), packed);
                    self.pending = Some((name, decoding, bytes));
                    return self.step(budget);
                }
                Filter::Other => break,
            }
        }
        if bytes.len() as u64 > budget.max_object {
            return Next::Skipped {
                name,
                reason: Skip::TooLarge,
            };
        }
        Next::Object(Child::new(name, bytes))
    }

    /// A step of the inflation in progress.
    fn step(&mut self, budget: &Budget) -> Next<'a> {
        let Some((_, decoding, _)) = self.pending.as_mut() else {
            return Next::Pending;
        };
        let step = decoding.step(budget);
        if matches!(step, Decoded::More) {
            return Next::Pending;
        }
        let Some((name, _, raw)) = self.pending.take() else {
            return Next::Pending;
        };
        match step {
            Decoded::Done(bytes) => Next::Object(Child::new(name, Blob::owned(bytes))),
            // Not deflate at all (an encrypted document, a lying /Filter): the bytes
            // as they are.
            Decoded::Truncated(bytes) if bytes.is_empty() => {
                if raw.len() as u64 > budget.max_object {
                    return Next::Skipped {
                        name,
                        reason: Skip::TooLarge,
                    };
                }
                Next::Object(Child::new(name, raw))
            }
            Decoded::Truncated(bytes) => Next::Object(Child {
                name,
                data: Blob::owned(bytes),
                damaged: Some(Skip::Corrupted),
            }),
            Decoded::Refused(reason) => Next::Skipped { name, reason },
            Decoded::More => Next::Pending,
        }
    }
}

impl<'a> Unpacker<'a> for Pdf<'a> {
    fn next(&mut self, budget: &Budget) -> Next<'a> {
        if self.pending.is_some() {
            return self.step(budget);
        }
        match self.find() {
            Some(found) => self.start(found, budget),
            None => Next::End,
        }
    }
}

/// The last `N G obj` header in `window`: object number, generation, and the offset
/// just after `obj`.
fn header(window: &[u8]) -> Option<(u64, u64, usize)> {
    let mut end = window.len();
    while let Some(at) = memmem::rfind(&window[..end], b"obj") {
        end = at;
        if window[..at].ends_with(b"end") {
            continue;
        }
        let before = &window[..at];
        let (gen, rest) = number_back(trim_back(before))?;
        let (num, _) = number_back(trim_back(rest))?;
        return Some((num, gen, at + 3));
    }
    None
}

fn trim_back(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    &s[..s.len() - n]
}

/// The decimal number ending `s`, and what precedes it.
fn number_back(s: &[u8]) -> Option<(u64, &[u8])> {
    let n = s.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 18 {
        return None;
    }
    let digits = std::str::from_utf8(&s[s.len() - n..]).ok()?;
    Some((digits.parse().ok()?, &s[..s.len() - n]))
}

/// Where the body starting at `start` ends: at `/Length` when that is a direct
/// number landing (after white space) on `endstream`, else before the next
/// `endstream` (less its end of line), else the end of the file.
fn body_end(data: &[u8], start: usize, dict: &[u8]) -> usize {
    if let Some(len) = length(dict) {
        if let Some(end) = start.checked_add(len).filter(|&e| e <= data.len()) {
            let rest = &data[end..];
            let ws = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
            if rest[ws..].starts_with(b"endstream") {
                return end;
            }
        }
    }
    match memmem::find(&data[start..], b"endstream") {
        Some(i) => {
            let mut end = start + i;
            if end > start && data[end - 1] == b'\n' {
                end -= 1;
            }
            if end > start && data[end - 1] == b'\r' {
                end -= 1;
            }
            end
        }
        None => data.len(),
    }
}

/// A direct `/Length N` (not `/Length N G R`).
fn length(dict: &[u8]) -> Option<usize> {
    let at = memmem::find(dict, b"/Length")?;
    let rest = &dict[at + 7..];
    if rest.first().is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None; // `/Length1` and the like
    }
    let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 15 {
        return None;
    }
    let after = &rest[n..];
    let after = &after[after.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    let is_ref = after.first().is_some_and(u8::is_ascii_digit);
    if is_ref {
        return None;
    }
    std::str::from_utf8(&rest[..n]).ok()?.parse().ok()
}

/// The filters of a stream dictionary, in order: `/Filter /Name` or
/// `/Filter [/A /B]`.
fn filters(dict: &[u8]) -> Vec<Filter> {
    let Some(at) = memmem::find(dict, b"/Filter") else {
        return Vec::new();
    };
    let rest = &dict[at + 7..];
    let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    let list = match rest.first() {
        Some(b'[') => {
            let close = memchr::memchr(b']', rest).unwrap_or(rest.len());
            &rest[1..close]
        }
        Some(b'/') => {
            let n = 1 + rest[1..].iter().take_while(|b| is_name_char(**b)).count();
            &rest[..n]
        }
        _ => return Vec::new(),
    };
    list.split(|b| *b == b'/')
        .map(|name| {
            let n = name.iter().take_while(|b| is_name_char(**b)).count();
            &name[..n]
        })
        .filter(|name| !name.is_empty())
        .take(8)
        .map(|name| match name {
            b"FlateDecode" | b"Fl" => Filter::Flate,
            b"ASCIIHexDecode" | b"AHx" => Filter::AsciiHex,
            b"ASCII85Decode" | b"A85" => Filter::Ascii85,
            _ => Filter::Other,
        })
        .collect()
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_graphic() && !b"/[]<>()%{}".contains(&b)
}

/// ASCIIHexDecode: hex digits up to `>`, white space and junk skipped, an odd last
/// digit completed with 0. `None` when the output would exceed `limit` bytes.
fn ascii_hex(src: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity((src.len() / 2).min(limit));
    let mut high: Option<u8> = None;
    for &b in src {
        if b == b'>' {
            break;
        }
        let Some(v) = hex_val(b) else {
            continue;
        };
        match high.take() {
            Some(h) => {
                if out.len() >= limit {
                    return None;
                }
                out.push(h << 4 | v);
            }
            None => high = Some(v),
        }
    }
    if let Some(h) = high {
        if out.len() >= limit {
            return None;
        }
        out.push(h << 4);
    }
    Some(out)
}

/// ASCII85Decode: groups of five `!`..`u`, `z` for four zeros, up to `~`; a last
/// partial group padded with `u`. `None` when the output would exceed `limit` bytes
/// (checked as it grows: `z` makes four bytes of one).
fn ascii85(src: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity((src.len() / 5 * 4 + 4).min(limit));
    let mut group = [0u8; 5];
    let mut n = 0;
    let body = src.strip_prefix(b"<~").unwrap_or(src);
    let room = |out: &Vec<u8>, k: usize| out.len() + k <= limit;
    for &b in body {
        match b {
            b'~' => break,
            b'z' if n == 0 => {
                if !room(&out, 4) {
                    return None;
                }
                out.extend_from_slice(&[0; 4]);
            }
            b'!'..=b'u' => {
                group[n] = b - b'!';
                n += 1;
                if n == 5 {
                    if !room(&out, 4) {
                        return None;
                    }
                    out.extend_from_slice(&a85_word(&group).to_be_bytes());
                    n = 0;
                }
            }
            _ => {}
        }
    }
    if n > 1 {
        for g in group.iter_mut().skip(n) {
            *g = 84;
        }
        if !room(&out, n - 1) {
            return None;
        }
        out.extend_from_slice(&a85_word(&group).to_be_bytes()[..n - 1]);
    }
    Some(out)
}

fn a85_word(group: &[u8; 5]) -> u32 {
    group
        .iter()
        .fold(0u32, |acc, &d| acc.wrapping_mul(85).wrapping_add(d as u32))
}

/// Inflates zlib, or raw deflate when the zlib header is missing, and reports a
/// stream that breaks off as an error (flate2's readers take it for the end).
struct Inflate<'a> {
    src: Blob<'a>,
    pos: usize,
    z: Decompress,
    done: bool,
}

impl<'a> Inflate<'a> {
    fn new(src: Blob<'a>) -> Self {
        let zlib = src.len() >= 2
            && src[0] & 0x0f == 8
            && (u16::from(src[0]) << 8 | u16::from(src[1])) % 31 == 0;
        Inflate {
            src,
            pos: 0,
            z: Decompress::new(zlib),
            done: false,
        }
    }
}

impl Read for Inflate<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        loop {
            let (in0, out0) = (self.z.total_in(), self.z.total_out());
            let status = self
                .z
                .decompress(&self.src[self.pos..], buf, FlushDecompress::None)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let used = (self.z.total_in() - in0) as usize;
            let made = (self.z.total_out() - out0) as usize;
            self.pos = (self.pos + used).min(self.src.len());
            if status == Status::StreamEnd {
                self.done = true;
                return Ok(made);
            }
            if made > 0 {
                return Ok(made);
            }
            if self.pos >= self.src.len() || used == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::testutil;
    use crate::formats::testutil::objects;
    use std::io::Write;

    const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn obj(out: &mut Vec<u8>, num: u32, dict: &str, body: &[u8]) {
        out.extend_from_slice(format!("{num} 0 obj\n<< {dict} >>\nstream\r\n").as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\nendstream\nendobj\n");
    }

    /// A PDF with a Flate stream holding EICAR, a wrong /Length, a hex stream, a
    /// filter array, a raw-deflate stream, an unknown filter and a headerless stream.
    fn sample() -> Vec<u8> {
        let mut pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec();
        let packed = zlib(EICAR);
        obj(
            &mut pdf,
            4,
            &format!("/Length {} /Filter /FlateDecode", packed.len()),
            &packed,
        );
        obj(&mut pdf, 5, "/Length 3 /Filter /Fl", &zlib(b"wrong length"));
        obj(
            &mut pdf,
            6,
            "/Length 7 0 R /Filter /ASCIIHexDecode",
            b"48 65 6c6C6f>",
        );
        let hexed: String = zlib(b"chained")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        obj(&mut pdf, 8, "/Filter [/AHx /FlateDecode]", hexed.as_bytes());
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(b"raw deflate").unwrap();
        obj(&mut pdf, 9, "/Filter /FlateDecode", &raw.finish().unwrap());
        obj(&mut pdf, 10, "/Filter /DCTDecode", b"\xff\xd8\xff jpeg");
        obj(&mut pdf, 11, "/Filter /A85", b"<~87cURD]i,\"Ebo80~>");
        pdf.extend_from_slice(b"junk << /Length 5 >>\nstream\nloose\nendstream\n%%EOF\n");
        pdf
    }

    fn drain(data: &[u8], budget: Budget) -> Vec<Next<'_>> {
        testutil::drain(open(Blob::borrowed(data)).unwrap(), &budget)
    }

    #[test]
    fn streams_decoded_and_named() {
        let pdf = sample();
        let got = objects(&drain(&pdf, Budget::default()));
        let want: Vec<(&str, &[u8])> = vec![
            ("obj-4-0", EICAR),
            ("obj-5-0", b"wrong length"),
            ("obj-6-0", b"Hello"),
            ("obj-8-0", b"chained"),
            ("obj-9-0", b"raw deflate"),
            ("obj-10-0", b"\xff\xd8\xff jpeg"),
            ("obj-11-0", b"Hello World!"),
            ("stream-7", b"loose"),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for ((name, data, damaged), (wn, wd)) in got.iter().zip(want) {
            assert_eq!((name.as_str(), data.as_slice(), *damaged), (wn, wd, None));
        }
    }

    #[test]
    fn truncated_deflate_is_damaged_with_its_prefix() {
        let text = b"some text long enough to be cut in the middle ".repeat(200);
        let packed = zlib(&text);
        let mut pdf = b"%PDF-1.5\n3 0 obj\n<< /Filter /FlateDecode >>\nstream\n".to_vec();
        pdf.extend_from_slice(&packed[..packed.len() / 2]);
        let got = objects(&drain(&pdf, Budget::default()));
        match got.as_slice() {
            [(name, data, Some(Skip::Corrupted))] => {
                assert_eq!(name, "obj-3-0");
                assert!(!data.is_empty() && text.starts_with(data));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_deflate_is_returned_raw() {
        let pdf = b"%PDF-1.5\n3 0 obj\n<< /Filter /FlateDecode >>\nstream\nnot deflate at all\nendstream\n";
        let got = objects(&drain(pdf, Budget::default()));
        assert_eq!(
            got,
            vec![("obj-3-0".into(), b"not deflate at all".to_vec(), None)]
        );
    }

    #[test]
    fn limits_and_chunks() {
        let zeros = vec![0u8; 3 << 20];
        let mut pdf = b"%PDF-1.5\n3 0 obj\n<< /Filter /FlateDecode >>\nstream\n".to_vec();
        pdf.extend_from_slice(&zlib(&zeros));
        pdf.extend_from_slice(b"\nendstream\n");
        let got = drain(
            &pdf,
            Budget {
                max_ratio: 100,
                ..Budget::default()
            },
        );
        assert!(
            matches!(
                got.as_slice(),
                [Next::Skipped {
                    reason: Skip::RatioExceeded,
                    ..
                }]
            ),
            "{got:?}"
        );
        let mut u = open(Blob::borrowed(&pdf)).unwrap();
        let budget = Budget {
            chunk: 1 << 20,
            ..Budget::default()
        };
        assert!(matches!(u.next(&budget), Next::Pending));
        let got = drain(&pdf, Budget::default());
        assert!(matches!(&got[..], [Next::Object(c)] if c.data.len() == 3 << 20));
        let small = Budget {
            max_object: 4,
            ..Budget::default()
        };
        let got = drain(b"1 0 obj <<>> stream\nabcdefgh\nendstream", small);
        assert!(matches!(
            &got[..],
            [Next::Skipped {
                reason: Skip::TooLarge,
                ..
            }]
        ));
    }

    #[test]
    fn ascii_filters_stop_at_the_limit() {
        // `z` makes four bytes of one: refused as it grows past the limit.
        let mut pdf = b"1 0 obj << /Filter /A85 >> stream\n".to_vec();
        pdf.extend_from_slice(&b"z".repeat(1000));
        pdf.extend_from_slice(b"~>\nendstream\n");
        let small = Budget {
            max_object: 1000,
            ..Budget::default()
        };
        let too_large = |got: &[Next<'_>]| {
            matches!(
                got,
                [Next::Skipped {
                    reason: Skip::TooLarge,
                    ..
                }]
            )
        };
        assert!(too_large(&drain(&pdf, small)));
        assert!(
            matches!(&drain(&pdf, Budget::default())[..], [Next::Object(c)] if c.data.len() == 4000)
        );
        assert_eq!(ascii85(&b"z".repeat(1000), 3999), None);
        assert_eq!(
            ascii85(&b"z".repeat(1000), 4000).map(|v| v.len()),
            Some(4000)
        );
        assert_eq!(ascii_hex(b"414243", 2), None);
        assert_eq!(ascii_hex(b"41424", 2), None);
        assert_eq!(ascii_hex(b"41424", 3).as_deref(), Some(&b"AB@"[..]));
        let hex = b"1 0 obj << /Filter /AHx >> stream\n4142434445>\nendstream\n";
        let tiny = Budget {
            max_object: 4,
            ..Budget::default()
        };
        assert!(too_large(&drain(hex, tiny)));
    }

    #[test]
    fn no_panic_on_prefixes_and_flips() {
        testutil::fuzz(&sample(), 400, open);
    }
}
