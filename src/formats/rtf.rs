//! RTF: objects embedded with `\objdata` (OLE1 objects written as hex), the way
//! exploit documents carry their payload (an OLE2 file, a `Package` holding an
//! executable).
//!
//! Written by hand: no maintained crate extracts RTF objects, and the lenient scan
//! malware needs is short. Each `\objdata` group is hex-decoded (white space, nested
//! groups' braces and control words skipped, as Word does; up to the `}` closing the
//! group), within the size limit. When the decoded bytes parse as an OLE1 object
//! (MS-OLEDS 2.2.4: version, format id 2 = embedded, class, topic and item names,
//! native data size and data), the sub-object is the native data, named by the class
//! (`Package`, `Word.Document.8`); otherwise it is the whole decoded data, named
//! `objdata-<k>`. `\pict` pictures and `\bin` binary runs are not extracted.

use memchr::memmem;

use super::codec::hex_val;
use super::unpack::{Budget, Child, Next, Skip, Unpacker};
use super::Blob;

/// An RTF document being scanned for embedded objects.
pub struct Rtf<'a> {
    data: Blob<'a>,
    pos: usize,
    count: usize,
    /// Names given so far, so that a second object of a class gets `~2`.
    names: std::collections::HashMap<String, usize>,
}

/// `\objdata` words handled in one call before returning [`Next::Pending`] when
/// none gave an object.
const GROUPS_PER_CALL: usize = 64;

/// Opens an RTF document. Never fails: a document without objects has none.
pub fn open<'a>(data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    Ok(Box::new(Rtf {
        data,
        pos: 0,
        count: 0,
        names: std::collections::HashMap::new(),
    }))
}

impl<'a> Unpacker<'a> for Rtf<'a> {
    fn next(&mut self, budget: &Budget) -> Next<'a> {
        let data: &[u8] = &self.data;
        let mut from = self.pos;
        let mut handled = 0usize;
        loop {
            // Bound the work of one call: many `\objdata` words that yield nothing
            // (empty groups, longer control words) return to the driver now and then.
            if handled >= GROUPS_PER_CALL {
                self.pos = from;
                return Next::Pending;
            }
            handled += 1;
            let Some(at) = data.get(from..).and_then(|d| memmem::find(d, b"\\objdata")) else {
                self.pos = data.len();
                return Next::End;
            };
            let at = from + at + 8;
            from = at;
            if data.get(at).is_some_and(u8::is_ascii_alphabetic) {
                continue; // a longer control word
            }
            let mut start = at;
            while data
                .get(start)
                .is_some_and(|b| *b == b'-' || b.is_ascii_digit())
            {
                start += 1;
            }
            let limit = usize::try_from(budget.max_object).unwrap_or(usize::MAX);
            let (decoded, end) = hex_group(&data[start..], limit);
            self.pos = start + end;
            let k = self.count;
            self.count += 1;
            let Some(decoded) = decoded else {
                return Next::Skipped {
                    name: format!("objdata-{k}"),
                    reason: Skip::TooLarge,
                };
            };
            if decoded.is_empty() {
                // Go on past what the group took (an unclosed group runs to the end
                // of the file: searching again inside it would read it again).
                from = self.pos;
                continue;
            }
            let blob = Blob::owned(decoded);
            return match ole1(&blob) {
                Some((class, range, whole)) => Next::Object(Child {
                    // Unique, as mail's names are: a second `Package` is `Package~2`.
                    name: {
                        let seen = self.names.entry(class.clone()).or_insert(0);
                        *seen += 1;
                        if *seen == 1 {
                            class
                        } else {
                            format!("{class}~{seen}")
                        }
                    },
                    data: blob.slice(range),
                    damaged: if whole { None } else { Some(Skip::Corrupted) },
                }),
                None => Next::Object(Child::new(format!("objdata-{k}"), blob)),
            };
        }
    }
}

/// Hex-decodes a group's contents up to its closing `}`: the bytes (`None` when
/// more than `limit`) and where decoding stopped.
fn hex_group(src: &[u8], limit: usize) -> (Option<Vec<u8>>, usize) {
    let mut out = Vec::new();
    let mut high: Option<u8> = None;
    let mut depth = 0usize;
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        i += 1;
        match b {
            b'{' => depth += 1,
            b'}' if depth == 0 => return (Some(out), i),
            b'}' => depth -= 1,
            b'\\' => {
                // A control word (letters, an optional numeric parameter, one space),
                // or a control symbol (`\'hh` with its two digits).
                match src.get(i) {
                    Some(c) if c.is_ascii_alphabetic() => {
                        while src.get(i).is_some_and(u8::is_ascii_alphabetic) {
                            i += 1;
                        }
                        if src.get(i) == Some(&b'-') {
                            i += 1;
                        }
                        while src.get(i).is_some_and(u8::is_ascii_digit) {
                            i += 1;
                        }
                        if src.get(i) == Some(&b' ') {
                            i += 1;
                        }
                    }
                    Some(b'\'') => i += 3,
                    Some(_) => i += 1,
                    None => {}
                }
            }
            _ => {
                let Some(v) = hex_val(b) else {
                    continue;
                };
                match high.take() {
                    Some(h) => {
                        if out.len() >= limit {
                            return (None, i);
                        }
                        out.push(h << 4 | v);
                    }
                    None => high = Some(v),
                }
            }
        }
    }
    (Some(out), src.len())
}

/// An OLE1 embedded object: its class name, the native data's range, and whether
/// the data is whole.
fn ole1(data: &[u8]) -> Option<(String, std::ops::Range<usize>, bool)> {
    let u32_at = |p: usize| -> Option<u32> {
        let b = data.get(p..p.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let _version = u32_at(0)?;
    if u32_at(4)? != 2 {
        return None;
    }
    let mut p = 8;
    let mut class = String::new();
    for field in 0..3 {
        let len = u32_at(p)? as usize;
        let text = data.get(p + 4..(p + 4).checked_add(len)?)?;
        if field == 0 {
            class = text
                .iter()
                .take_while(|b| **b != 0)
                .map(|&b| if b.is_ascii_graphic() { b as char } else { '_' })
                .collect();
        }
        p += 4 + len;
    }
    let size = u32_at(p)? as usize;
    let start = p + 4;
    let end = start.saturating_add(size);
    if class.is_empty() {
        class = "ole1".into();
    }
    Some((class, start..end.min(data.len()), end <= data.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::testutil;

    const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    fn lpstr(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u32 + 1).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }

    fn ole1_object(class: &str, native: &[u8]) -> Vec<u8> {
        let mut o = 0x0501u32.to_le_bytes().to_vec();
        o.extend_from_slice(&2u32.to_le_bytes());
        lpstr(&mut o, class);
        lpstr(&mut o, "");
        lpstr(&mut o, "");
        o.extend_from_slice(&(native.len() as u32).to_le_bytes());
        o.extend_from_slice(native);
        o
    }

    fn hex_lines(data: &[u8]) -> String {
        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
        hex.as_bytes()
            .chunks(64)
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    fn sample() -> Vec<u8> {
        let mut ole2 = std::io::Cursor::new(Vec::new());
        {
            use std::io::Write;
            let mut cf =
                cfb::CompoundFile::create_with_version(cfb::Version::V3, &mut ole2).unwrap();
            cf.create_stream("/WordDocument")
                .unwrap()
                .write_all(EICAR)
                .unwrap();
            cf.flush().unwrap();
        }
        let ole2 = ole2.into_inner();
        format!(
            "{{\\rtf1\\ansi{{\\object\\objemb{{\\*\\objclass Package}}\\objw100{{\\*\\objdata \r\n{}}}}}\
             \\par text {{\\object\\objemb{{\\*\\objdata{{\\*\\junk}}{}}}}}\
             {{\\object{{\\*\\objdata 4{{}}1\\'4142 43 }}}}}}",
            hex_lines(&ole1_object("Package", EICAR)),
            hex_lines(&ole1_object("Word.Document.8", &ole2)),
        )
        .into_bytes()
    }

    fn drain(data: &[u8], budget: Budget) -> Vec<Next<'_>> {
        testutil::drain(open(Blob::borrowed(data)).unwrap(), &budget)
    }

    #[test]
    fn embedded_objects() {
        let rtf = sample();
        let got: Vec<(String, Vec<u8>, Option<Skip>)> = drain(&rtf, Budget::default())
            .into_iter()
            .map(|n| match n {
                Next::Object(c) => (c.name, c.data.to_vec(), c.damaged),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], ("Package".into(), EICAR.to_vec(), None));
        assert_eq!(got[1].0, "Word.Document.8");
        // The native data is the OLE2 document itself, which opens in turn.
        let mut inner = crate::formats::ole2::open(Blob::owned(got[1].1.clone())).unwrap();
        match inner.next(&Budget::default()) {
            Next::Object(c) => assert_eq!((c.name.as_str(), &*c.data), ("WordDocument", EICAR)),
            other => panic!("{other:?}"),
        }
        assert_eq!(got[2], ("objdata-2".into(), b"\x41\x42\x43".to_vec(), None));
    }

    #[test]
    fn limits_and_truncation() {
        let rtf = sample();
        let got = drain(
            &rtf,
            Budget {
                max_object: 10,
                ..Budget::default()
            },
        );
        assert!(matches!(
            &got[0],
            Next::Skipped {
                reason: Skip::TooLarge,
                ..
            }
        ));
        // Cut inside the first object's native data: what is there, marked damaged.
        let cut = memmem::find(&rtf, b"\\par").unwrap() - 40;
        match drain(&rtf[..cut], Budget::default()).as_slice() {
            [Next::Object(c)] => {
                assert_eq!(c.damaged, Some(Skip::Corrupted));
                assert!(EICAR.starts_with(&c.data));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn many_unclosed_empty_groups_take_linear_time() {
        // Each unclosed group runs to the end of the file; handled once, not once
        // per `\objdata`.
        let mut rtf = b"{\\rtf1".to_vec();
        rtf.extend_from_slice(&b"\\objdata ".repeat(200_000));
        let started = std::time::Instant::now();
        let mut u = open(Blob::borrowed(&rtf)).unwrap();
        let mut calls = 0;
        loop {
            calls += 1;
            match u.next(&Budget::default()) {
                Next::Pending => continue,
                Next::End => break,
                other => panic!("{other:?}"),
            }
        }
        assert!(calls <= 2, "{calls} calls");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // Empty groups that do close: a call returns after a bounded number.
        let rtf = b"{\\objdata}".repeat(10_000);
        let mut u = open(Blob::borrowed(&rtf)).unwrap();
        assert!(matches!(u.next(&Budget::default()), Next::Pending));
        let mut calls = 1;
        while !matches!(u.next(&Budget::default()), Next::End) {
            calls += 1;
        }
        assert!(calls >= 10_000 / GROUPS_PER_CALL, "{calls} calls");
    }

    #[test]
    fn no_panic_on_prefixes_and_flips() {
        testutil::fuzz(&sample(), 400, open);
    }
}
