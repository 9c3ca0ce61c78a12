//! uudecode, written by hand: the format is a dozen lines of arithmetic and no
//! maintained crate decodes it (the `uuencode` crates on crates.io are unmaintained
//! toys that panic on bad input).
//!
//! A block is `begin <octal mode> <name>`, data lines, a zero-length line (`` ` `` or a
//! space) and `end`. Each data line starts with its decoded length (`32 + n`, `` ` ``
//! for 0) and holds `ceil(n / 3) * 4` characters of 6 bits each (`32 + v`, `` ` `` for
//! 0). Tolerated: trailing spaces stripped by mailers (the missing characters decode
//! as 0), extra characters after the data (some encoders add a checksum character),
//! CRLF line ends, and a missing `end` (the block is then reported damaged). Output is
//! bounded by the caller's limit.

use std::ops::Range;

/// One uuencoded block found in a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The file name on the `begin` line.
    pub name: String,
    /// The data lines (after the `begin` line, before `end`).
    pub lines: Range<usize>,
    /// Whether the `end` line was found.
    pub complete: bool,
}

/// The lines of `text` with their ranges (without the line end).
fn lines(text: &[u8], from: usize) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut pos = from;
    std::iter::from_fn(move || {
        if pos >= text.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &text[pos..]).map_or(text.len(), |i| pos + i);
        let start = pos;
        pos = end + 1;
        let mut stop = end;
        if stop > start && text[stop - 1] == b'\r' {
            stop -= 1;
        }
        Some(start..stop)
    })
}

/// The name on a `begin <mode> <name>` line, if it is one.
fn begin_name(line: &[u8]) -> Option<String> {
    let rest = line.strip_prefix(b"begin ")?;
    let digits = rest
        .iter()
        .take_while(|b| (b'0'..=b'7').contains(b))
        .count();
    if !(1..=4).contains(&digits) || rest.get(digits) != Some(&b' ') {
        return None;
    }
    let name = String::from_utf8_lossy(&rest[digits + 1..]);
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some(name.to_owned())
}

/// Whether `line` can be a uuencoded data line (all characters in `' '..='`'`).
fn is_data_line(line: &[u8]) -> bool {
    !line.is_empty() && line.iter().all(|b| (32..=96).contains(b))
}

/// The uuencoded blocks in `text`, in order.
pub fn blocks(text: &[u8]) -> Vec<Block> {
    let mut found = Vec::new();
    // Quick reject: most texts have no `begin ` at all.
    if memchr::memmem::find(text, b"begin ").is_none() {
        return found;
    }
    let mut it = lines(text, 0);
    while let Some(line) = it.next() {
        let Some(name) = begin_name(&text[line.clone()]) else {
            continue;
        };
        let start =
            memchr::memchr(b'\n', &text[line.end..]).map_or(text.len(), |i| line.end + i + 1);
        let mut end = start;
        let mut complete = false;
        for l in it.by_ref() {
            let bytes = &text[l.clone()];
            if bytes.trim_ascii_end() == b"end" {
                complete = true;
                break;
            }
            if !is_data_line(bytes) && !bytes.is_empty() {
                break;
            }
            end = l.end;
        }
        found.push(Block {
            name,
            lines: start..end.max(start),
            complete,
        });
    }
    found
}

/// Decodes the data lines of a block; `None` when the output would pass `max`.
pub fn decode(lines_text: &[u8], max: u64) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for line in lines(lines_text, 0) {
        let line = &lines_text[line];
        let Some((&len, chars)) = line.split_first() else {
            break;
        };
        if !(32..=96).contains(&len) {
            break;
        }
        let n = ((len - 32) & 63) as usize;
        if n == 0 {
            break;
        }
        if (out.len() + n) as u64 > max {
            return None;
        }
        let value = |i: usize| -> u32 {
            chars
                .get(i)
                .map_or(0, |&c| (c.wrapping_sub(32) & 63) as u32)
        };
        let mut left = n;
        let mut i = 0;
        while left > 0 {
            let group =
                (value(i) << 18) | (value(i + 1) << 12) | (value(i + 2) << 6) | value(i + 3);
            let bytes = [(group >> 16) as u8, (group >> 8) as u8, group as u8];
            let take = left.min(3);
            out.extend_from_slice(&bytes[..take]);
            left -= take;
            i += 4;
        }
    }
    Some(out)
}

#[cfg(test)]
pub(crate) fn encode(name: &str, data: &[u8]) -> Vec<u8> {
    let enc = |v: u8| if v == 0 { b'`' } else { v + 32 };
    let mut out = format!("begin 644 {name}\n").into_bytes();
    for chunk in data.chunks(45) {
        out.push(enc(chunk.len() as u8));
        for g in chunk.chunks(3) {
            let b = [g[0], *g.get(1).unwrap_or(&0), *g.get(2).unwrap_or(&0)];
            out.push(enc(b[0] >> 2));
            out.push(enc(((b[0] & 3) << 4) | (b[1] >> 4)));
            out.push(enc(((b[1] & 15) << 2) | (b[2] >> 6)));
            out.push(enc(b[2] & 63));
        }
        out.push(b'\n');
    }
    out.extend_from_slice(b"`\nend\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(text: &[u8]) -> Vec<(String, Vec<u8>, bool)> {
        blocks(text)
            .into_iter()
            .map(|b| {
                let data = decode(&text[b.lines.clone()], u64::MAX).unwrap();
                (b.name, data, b.complete)
            })
            .collect()
    }

    #[test]
    fn uu_round_trips_and_matches_python() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 256) as u8).collect();
        let text = encode("a.bin", &data);
        assert_eq!(decode_all(&text), vec![("a.bin".into(), data, true)]);
        // Python's binascii.b2a_uu("Cat") with backtick=False: spaces for zeros.
        let text = b"begin 600 cat.txt\r\n#0V%T\r\n \r\nend\r\n";
        assert_eq!(
            decode_all(text),
            vec![("cat.txt".into(), b"Cat".to_vec(), true)]
        );
    }

    #[test]
    fn uu_tolerates_stripped_lines_checksums_and_a_missing_end() {
        // "Hi" + NUL: the last char (value 0 as a space) stripped by a mailer.
        let text = b"text before\nbegin 644 x\n#2&D\n`\nend\ntext after\n";
        assert_eq!(decode_all(text), vec![("x".into(), b"Hi\0".to_vec(), true)]);
        // An extra checksum character after the data is ignored.
        let text = b"begin 644 y\n#0V%TX\n";
        assert_eq!(decode_all(text), vec![("y".into(), b"Cat".to_vec(), false)]);
        // Two blocks, the first unterminated and followed by prose.
        let mut text = b"begin 644 one\n#0V%T\nhello world\n".to_vec();
        text.extend_from_slice(&encode("two", b"second"));
        let got = decode_all(&text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], ("one".into(), b"Cat".to_vec(), false));
        assert_eq!(got[1], ("two".into(), b"second".to_vec(), true));
        assert!(decode(b"M".repeat(100).as_slice(), 10).is_none(), "bounded");
        assert!(blocks(b"begin here\nbegin 644 \nbegin 99 x\n").is_empty());
    }
}
