//! cpio archives: "new ASCII" (`070701`, and `070702` with checksums), "old ASCII"
//! / odc (`070707`) and old binary (`0x71c7`, either byte order).
//!
//! Written by hand, not with the `cpio` crate: the crate reads newc only (no odc, no
//! binary), and its reader consumes member data through `Read` instead of saying
//! where it lies, so members could not be zero-copy slices. The headers are fixed
//! records of a few numbers, parsed here with checked arithmetic; each regular file
//! is returned as a slice of the parent blob.
//!
//! Limits: directories, links, devices are not objects; a hard-linked file in newc
//! carries its data on the last of its names only (the others are empty objects, as
//! the format stores them); checksums of `070702` are not verified. A member whose
//! data runs past the end is returned as what exists, marked [`Skip::Corrupted`]; a
//! bad header, or the end of the data before the `TRAILER!!!` member, ends the
//! archive as [`Next::Broken`].

use super::unpack::{Budget, Child, Next, Skip, Unpacker};
use super::Blob;

/// Members that are not objects walked over in one call before [`Next::Pending`].
const NON_FILES_PER_CALL: usize = 4096;

/// `S_IFMT` and `S_IFREG`.
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;

/// A cpio archive being read.
pub struct Cpio<'a> {
    data: Blob<'a>,
    /// Offset of the next header, `None` once finished.
    next: Option<usize>,
}

/// Opens a cpio archive; headers are read as members are pulled.
pub fn open<'a>(data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    if header_kind(&data).is_none() {
        return Err(Skip::Corrupted);
    }
    Ok(Box::new(Cpio {
        data,
        next: Some(0),
    }))
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Newc,
    Odc,
    BinaryLe,
    BinaryBe,
}

fn header_kind(at: &[u8]) -> Option<Kind> {
    if at.starts_with(b"070701") || at.starts_with(b"070702") {
        Some(Kind::Newc)
    } else if at.starts_with(b"070707") {
        Some(Kind::Odc)
    } else if at.starts_with(&[0xc7, 0x71]) {
        Some(Kind::BinaryLe)
    } else if at.starts_with(&[0x71, 0xc7]) {
        Some(Kind::BinaryBe)
    } else {
        None
    }
}

/// One parsed header: where the member's data lies (relative to the archive) and
/// where the next header starts.
#[derive(Debug)]
struct Header {
    name: String,
    mode: u32,
    data_start: usize,
    size: u64,
    next: u64,
}

/// A number in `radix` from a fixed-width ASCII field.
fn number(field: &[u8], radix: u32) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    u64::from_str_radix(text, radix).ok()
}

fn align(n: u64, to: u64) -> Option<u64> {
    Some(n.checked_add(to - 1)? / to * to)
}

/// Parses the header at `at`; `None` when it is not a whole, valid header.
fn parse(data: &[u8], at: usize) -> Option<Header> {
    let h = data.get(at..)?;
    let kind = header_kind(h)?;
    let (name_start, name_size, size, mode, pad) = match kind {
        Kind::Newc => {
            let f = |i: usize| number(h.get(6 + 8 * i..14 + 8 * i)?, 16);
            (110, f(11)?, f(6)?, f(1)?, 4)
        }
        Kind::Odc => {
            let f = |r: std::ops::Range<usize>| number(h.get(r)?, 8);
            (76, f(59..65)?, f(65..76)?, f(18..24)?, 1)
        }
        Kind::BinaryLe | Kind::BinaryBe => {
            let w = |i: usize| -> Option<u64> {
                let b = h.get(2 * i..2 * i + 2)?;
                Some(u64::from(match kind {
                    Kind::BinaryLe => u16::from_le_bytes([b[0], b[1]]),
                    _ => u16::from_be_bytes([b[0], b[1]]),
                }))
            };
            (26, w(10)?, (w(11)? << 16) | w(12)?, w(3)?, 2)
        }
    };
    let name_end = (name_start as u64).checked_add(name_size)?;
    let name = h.get(name_start..usize::try_from(name_end).ok()?)?;
    // The name is NUL-terminated (its size counts the NUL).
    let name = name.split(|&b| b == 0).next().unwrap_or(name);
    let data_start = align(name_end, pad)?;
    let next = align(data_start.checked_add(size)?, pad)?;
    Some(Header {
        name: String::from_utf8_lossy(name).into_owned(),
        mode: u32::try_from(mode).ok()?,
        data_start: at.checked_add(usize::try_from(data_start).ok()?)?,
        size,
        next: (at as u64).checked_add(next)?,
    })
}

impl<'a> Unpacker<'a> for Cpio<'a> {
    fn next(&mut self, budget: &Budget) -> Next<'a> {
        for _ in 0..NON_FILES_PER_CALL {
            let Some(at) = self.next else {
                return Next::End;
            };
            let Some(header) = parse(&self.data, at) else {
                // A damaged header, or the data ended before the trailer.
                self.next = None;
                return Next::Broken(Skip::Corrupted);
            };
            if header.name == "TRAILER!!!" {
                self.next = None;
                return Next::End;
            }
            self.next = usize::try_from(header.next).ok();
            if header.mode & S_IFMT != S_IFREG {
                continue;
            }
            if header.size > budget.max_object {
                return Next::Skipped {
                    name: header.name,
                    reason: Skip::TooLarge,
                };
            }
            let end = header.data_start.saturating_add(header.size as usize);
            let damaged = if end > self.data.len() {
                self.next = None;
                Some(Skip::Corrupted)
            } else {
                None
            };
            return Next::Object(Child {
                name: header.name,
                data: self.data.slice(header.data_start..end),
                damaged,
            });
        }
        Next::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::testutil::{drain, fuzz};
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Runs `cpio -o -H <format>` in a directory holding `folder/eicar`, `empty` and
    /// `big` (1000 bytes) and a directory.
    fn cpio(format: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("folder")).unwrap();
        std::fs::write(dir.path().join("folder/eicar"), b"EICAR body").unwrap();
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        std::fs::write(dir.path().join("big"), [b'x'; 1000]).unwrap();
        let mut child = Command::new("cpio")
            .args(["-o", "--quiet", "-H", format])
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"folder\nfolder/eicar\nempty\nbig\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        out.stdout
    }

    fn objects(got: &[Next<'_>]) -> Vec<(String, Vec<u8>, Option<Skip>)> {
        got.iter()
            .filter_map(|n| match n {
                Next::Object(c) => {
                    assert!(!c.data.is_owned(), "zero-copy");
                    Some((c.name.clone(), c.data.to_vec(), c.damaged))
                }
                _ => None,
            })
            .collect()
    }

    fn expected() -> Vec<(String, Vec<u8>, Option<Skip>)> {
        vec![
            ("folder/eicar".into(), b"EICAR body".to_vec(), None),
            ("empty".into(), vec![], None),
            ("big".into(), vec![b'x'; 1000], None),
        ]
    }

    #[test]
    fn newc_odc_and_binary_members_zero_copy() {
        for format in ["newc", "crc", "odc", "bin"] {
            let archive = cpio(format);
            assert!(open(Blob::borrowed(&archive)).is_ok(), "{format}");
            let got = drain(open(Blob::borrowed(&archive)).unwrap(), &Budget::default());
            assert_eq!(got.len(), 3, "{format}: {got:?}");
            assert_eq!(objects(&got), expected(), "{format}");
        }
    }

    #[test]
    fn truncation_corruption_and_limits() {
        for format in ["newc", "odc"] {
            let archive = cpio(format);
            let big = archive.windows(5).position(|w| w == b"xxxxx").unwrap();
            let got = drain(
                open(Blob::borrowed(&archive[..big + 10])).unwrap(),
                &Budget::default(),
            );
            let mut want = expected();
            want[2] = ("big".into(), vec![b'x'; 10], Some(Skip::Corrupted));
            assert_eq!(objects(&got), want, "{format}");
            assert_eq!(got.len(), 3);

            // A damaged header mid-archive.
            let second = archive.windows(5).position(|w| w == b"empty").unwrap();
            let header = archive[..second]
                .windows(6)
                .rposition(|w| w == b"070701" || w == b"070707")
                .unwrap();
            let mut bad = archive.clone();
            bad[header + 20] = b'z';
            let got = drain(open(Blob::borrowed(&bad)).unwrap(), &Budget::default());
            assert_eq!(objects(&got).len(), 1, "{format}");
            assert!(matches!(got.last(), Some(Next::Broken(Skip::Corrupted))));

            // No trailer.
            let trailer = archive
                .windows(10)
                .position(|w| w == b"TRAILER!!!")
                .unwrap();
            let trailer = archive[..trailer]
                .windows(6)
                .rposition(|w| w == b"070701" || w == b"070707")
                .unwrap();
            let got = drain(
                open(Blob::borrowed(&archive[..trailer])).unwrap(),
                &Budget::default(),
            );
            assert_eq!(objects(&got).len(), 3, "{format}");
            assert!(matches!(got.last(), Some(Next::Broken(Skip::Corrupted))));

            let small = Budget {
                max_object: 500,
                ..Budget::default()
            };
            let got = drain(open(Blob::borrowed(&archive)).unwrap(), &small);
            assert!(matches!(
                got.last(),
                Some(Next::Skipped { name, reason: Skip::TooLarge }) if name == "big"
            ));
        }
        assert_eq!(
            open(Blob::borrowed(b"not cpio")).err(),
            Some(Skip::Corrupted)
        );
    }

    #[test]
    fn no_panic_on_damaged_input() {
        for format in ["newc", "odc", "bin"] {
            fuzz(&cpio(format), 300, open);
        }
    }
}
