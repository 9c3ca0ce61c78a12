//! tar archives (POSIX ustar, GNU, pax), read with the `tar` crate.
//!
//! Members are not copied: each regular file is returned as a slice of the parent
//! blob, at the crate's `raw_file_position()` and `size()`. The crate's `entries()`
//! iterator borrows its archive, so the unpacker keeps only the offset of the next
//! header; each [`Unpacker::next`] call opens an `Archive` over the rest of the blob
//! (a reader over a zero-copy slice) and takes one member from it. GNU long names
//! (`L`), pax `path` and pax `size` records are applied by the crate, so names are
//! full paths (`folder/eicar`).
//!
//! Limits: directories, links, devices and FIFOs are not objects; GNU sparse members
//! are reported as [`Skip::Unsupported`] (their holes would have to be rebuilt, a
//! copy); pax *global* headers are applied by the crate only as far as it honours
//! them (it ignores them for paths). A member whose data runs past the end of the
//! blob is returned as what exists, marked [`Skip::Corrupted`]; a bad header checksum
//! or a broken header ends the archive as [`Next::Broken`].

use std::io;

use super::unpack::{Budget, Child, Next, Skip, Unpacker};
use super::Blob;

/// Members that are not objects (directories, links) walked over in one call before
/// returning [`Next::Pending`], so a tar of many of them does not hold the core.
const NON_FILES_PER_CALL: usize = 4096;

/// A tar archive being read.
pub struct Tar<'a> {
    data: Blob<'a>,
    /// Offset of the next header, or `None` once finished.
    next: Option<usize>,
}

/// Opens a tar archive. Its headers are read as the members are pulled.
pub fn open<'a>(data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    Ok(Box::new(Tar {
        data,
        next: Some(0),
    }))
}

/// What reading one header produced.
enum Member {
    File {
        name: String,
        start: u64,
        size: u64,
        next: u64,
    },
    Sparse {
        name: String,
        next: u64,
    },
    Other {
        next: u64,
    },
}

/// Reads the member (with its long-name and pax extension headers) at the start of
/// `rest`; offsets are relative to `rest`.
fn read_member(rest: &Blob<'_>) -> io::Result<Option<Member>> {
    let mut archive = tar::Archive::new(rest.reader());
    let mut entries = archive.entries_with_seek()?;
    let Some(entry) = entries.next() else {
        return Ok(None);
    };
    let entry = entry?;
    let start = entry.raw_file_position();
    let kind = entry.header().entry_type();
    let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
    let round = |size: u64| -> io::Result<u64> {
        size.checked_add(511)
            .map(|s| s & !511)
            .and_then(|s| start.checked_add(s))
            .ok_or_else(|| io::Error::other("size overflow"))
    };
    if kind.is_gnu_sparse() {
        // The stored bytes are the header's size field (the crate's `size()` is the
        // expanded size).
        let next = round(entry.header().entry_size()?)?;
        return Ok(Some(Member::Sparse { name, next }));
    }
    let size = entry.size();
    let next = round(size)?;
    if kind.is_file() || kind.is_contiguous() {
        Ok(Some(Member::File {
            name,
            start,
            size,
            next,
        }))
    } else {
        Ok(Some(Member::Other { next }))
    }
}

impl<'a> Unpacker<'a> for Tar<'a> {
    fn next(&mut self, budget: &Budget) -> Next<'a> {
        for _ in 0..NON_FILES_PER_CALL {
            let Some(at) = self.next else {
                return Next::End;
            };
            if at >= self.data.len() {
                self.next = None;
                return Next::End;
            }
            let rest = self.data.slice(at..self.data.len());
            let member = match read_member(&rest) {
                Ok(Some(member)) => member,
                Ok(None) => {
                    self.next = None;
                    return Next::End;
                }
                Err(_) => {
                    self.next = None;
                    return Next::Broken(Skip::Corrupted);
                }
            };
            let advance = |next: u64| usize::try_from(next).ok().and_then(|n| at.checked_add(n));
            match member {
                Member::Other { next } => self.next = advance(next),
                Member::Sparse { name, next } => {
                    self.next = advance(next);
                    return Next::Skipped {
                        name,
                        reason: Skip::Unsupported,
                    };
                }
                Member::File {
                    name,
                    start,
                    size,
                    next,
                } => {
                    self.next = advance(next);
                    if size > budget.max_object {
                        return Next::Skipped {
                            name,
                            reason: Skip::TooLarge,
                        };
                    }
                    // `start` is within `rest` (the header was read from it).
                    let start = start as usize;
                    let end = start.saturating_add(size as usize);
                    let damaged = if end > rest.len() {
                        // Nothing can follow a member cut off by the end.
                        self.next = None;
                        Some(Skip::Corrupted)
                    } else {
                        None
                    };
                    return Next::Object(Child {
                        name,
                        data: rest.slice(start..end),
                        damaged,
                    });
                }
            }
        }
        Next::Pending
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // Kept here for the modules that import them from tar's tests.
    pub(crate) use crate::formats::testutil::{drain, fuzz};

    fn objects<'a>(got: &[Next<'a>]) -> Vec<(String, Vec<u8>, Option<Skip>)> {
        got.iter()
            .filter_map(|n| match n {
                Next::Object(c) => Some((c.name.clone(), c.data.to_vec(), c.damaged)),
                _ => None,
            })
            .collect()
    }

    fn build(gnu: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let long = format!("{}/eicar", "d".repeat(120));
        let add = |b: &mut tar::Builder<Vec<u8>>, path: &str, body: &[u8]| {
            let mut h = if gnu {
                tar::Header::new_gnu()
            } else {
                tar::Header::new_ustar()
            };
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, path, body).unwrap();
        };
        add(&mut b, "folder/eicar", b"EICAR body");
        add(&mut b, &long, b"long one");
        add(&mut b, "empty", b"");
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_size(0);
        b.append_data(&mut dir, "folder/", &b""[..]).unwrap();
        add(&mut b, "third", &[b'x'; 1000]);
        b.into_inner().unwrap()
    }

    #[test]
    fn members_in_order_zero_copy_with_long_names() {
        let tar = build(true);
        let got = drain(open(Blob::borrowed(&tar)).unwrap(), &Budget::default());
        for n in &got {
            if let Next::Object(c) = n {
                assert!(!c.data.is_owned(), "zero-copy");
            }
        }
        let long = format!("{}/eicar", "d".repeat(120));
        assert_eq!(
            objects(&got),
            vec![
                ("folder/eicar".into(), b"EICAR body".to_vec(), None),
                (long, b"long one".to_vec(), None),
                ("empty".into(), vec![], None),
                ("third".into(), vec![b'x'; 1000], None),
            ]
        );
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn gnu_tar_and_pax_long_names() {
        let dir = tempfile::tempdir().unwrap();
        let deep = format!("folder/{}", "n".repeat(150));
        std::fs::create_dir_all(dir.path().join(&deep)).unwrap();
        std::fs::write(dir.path().join(&deep).join("eicar"), b"EICAR").unwrap();
        std::fs::write(dir.path().join("folder/eicar"), b"short").unwrap();
        for format in ["gnu", "pax"] {
            let out = std::process::Command::new("tar")
                .arg(format!("--format={format}"))
                .args(["-cf", "-", "-C"])
                .arg(dir.path())
                .args(["folder/eicar", &format!("{deep}/eicar")])
                .output()
                .unwrap();
            assert!(out.status.success());
            let got = drain(
                open(Blob::borrowed(&out.stdout)).unwrap(),
                &Budget::default(),
            );
            assert_eq!(
                objects(&got),
                vec![
                    ("folder/eicar".into(), b"short".to_vec(), None),
                    (format!("{deep}/eicar"), b"EICAR".to_vec(), None),
                ],
                "{format}"
            );
        }
    }

    #[test]
    fn truncation_corruption_and_limits() {
        let tar = build(false);
        // Cut inside the last member's data: it comes out as what exists, damaged.
        let third = tar.windows(5).position(|w| w == b"xxxxx").unwrap();
        let got = drain(
            open(Blob::borrowed(&tar[..third + 100])).unwrap(),
            &Budget::default(),
        );
        let objs = objects(&got);
        assert_eq!(objs.len(), 4);
        assert_eq!(
            objs[3],
            ("third".into(), vec![b'x'; 100], Some(Skip::Corrupted))
        );

        // A header checksum broken mid-archive.
        let mut bad = tar.clone();
        let second = 512 * 2; // header, one block of data
        bad[second + 10] ^= 0x55;
        let got = drain(open(Blob::borrowed(&bad)).unwrap(), &Budget::default());
        assert_eq!(objects(&got).len(), 1);
        assert!(matches!(got.last(), Some(Next::Broken(Skip::Corrupted))));

        // Garbage after the archive's end-of-archive blocks is not read; garbage
        // instead of them is a damaged archive.
        let mut tail = tar.clone();
        tail.extend_from_slice(&[0x41; 700]);
        let got = drain(open(Blob::borrowed(&tail)).unwrap(), &Budget::default());
        assert_eq!(objects(&got).len(), 4);
        let end = tar.len() - 1024;
        let mut garbage = tar[..end].to_vec();
        garbage.extend_from_slice(&[0x41; 1024]);
        let got = drain(open(Blob::borrowed(&garbage)).unwrap(), &Budget::default());
        assert_eq!(objects(&got).len(), 4);
        assert!(matches!(got.last(), Some(Next::Broken(Skip::Corrupted))));

        // Too large for the budget.
        let small = Budget {
            max_object: 500,
            ..Budget::default()
        };
        let got = drain(open(Blob::borrowed(&tar)).unwrap(), &small);
        assert_eq!(objects(&got).len(), 3);
        assert!(matches!(
            got.last(),
            Some(Next::Skipped { name, reason: Skip::TooLarge }) if name == "third"
        ));
    }

    #[test]
    fn no_panic_on_damaged_input() {
        fuzz(&build(true), 400, open);
    }
}
