//! Microsoft cabinets, decompressed with the `cab` crate (stored, MSZIP, LZX).
//!
//! The crate's [`cab::FileReader`] borrows its `Cabinet`, so it cannot be kept in the
//! unpacker between calls: each [`Unpacker::next`] extracts one whole file, through
//! the shared [`Decoding`] (size limit and ratio guard), stepped to the end inside
//! the call. The crate keeps no decoder state between `read_file` calls, so every
//! file is decoded from the start of its folder (CFFOLDER) up to its end: for a
//! solid folder of many files that is quadratic. The cost of each file is known
//! before decoding (its offset in the folder plus its size, from the directory), so
//! it is counted, and once a cabinet has cost more than [`WORK_FACTOR`] times the
//! object limit its remaining files are [`Skip::TooLarge`].
//!
//! The directory (CFHEADER, CFFOLDER, CFFILE, and the CFDATA block headers) is also
//! walked here by hand, because the crate keeps the numbers needed to bound the work
//! private (a file's offset in its folder, a folder's packed and unpacked sizes) and
//! panics indexing its block list when a file lies past its folder's data; such a
//! file is refused as [`Skip::Corrupted`] before the crate is asked for it.
//!
//! Limits: Quantum folders are [`Skip::Unsupported`] (the crate has no decoder);
//! files continued from or into another cabinet make the crate refuse the whole
//! cabinet; the crate finds files by name, so a second file of the same name is
//! [`Skip::Unsupported`] rather than its twin's data scanned twice. A file whose data
//! ends early is returned as what was decoded, marked [`Skip::Corrupted`].

use std::io::Cursor;

use cab::Cabinet;

use super::unpack::{Budget, Child, Decoded, Decoding, Next, Skip, Unpacker, RATIO_FLOOR};
use super::Blob;

/// A cabinet may cost this many times the object limit in decoding (files decoded
/// from their folder's start) before its remaining files are refused.
pub const WORK_FACTOR: u64 = 8;

/// A folder, as its header and data block headers describe it.
#[derive(Debug, Clone, Copy)]
struct Folder {
    /// Encoded bytes in its data blocks.
    packed: u64,
    /// Decoded bytes of its data blocks.
    unpacked: u64,
    quantum: bool,
}

/// A file, from the CFFILE table.
#[derive(Debug)]
struct File {
    name: String,
    size: u64,
    offset: u64,
    folder: usize,
    /// Another file before it has the same name.
    twin: bool,
}

/// A cabinet being read.
pub struct Cab<'a> {
    cabinet: Cabinet<Cursor<Blob<'a>>>,
    folders: Vec<Folder>,
    files: Vec<File>,
    index: usize,
    /// Bytes decoded so far, counting each file from its folder's start.
    work: u64,
}

/// Opens a cabinet: reads its directory.
pub fn open<'a>(data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    let (folders, mut files) = directory(&data).ok_or(Skip::Corrupted)?;
    let cabinet = Cabinet::new(data.reader()).map_err(|_| Skip::Corrupted)?;
    // The crate's names (it decodes them), in the same CFFILE order per folder.
    let mut names: Vec<_> = cabinet
        .folder_entries()
        .map(|f| {
            f.file_entries()
                .map(|e| e.name().to_owned())
                .collect::<Vec<_>>()
                .into_iter()
        })
        .collect();
    if names.len() != folders.len() {
        return Err(Skip::Corrupted);
    }
    let mut seen = std::collections::HashSet::new();
    for file in &mut files {
        file.name = names[file.folder].next().ok_or(Skip::Corrupted)?;
        file.twin = !seen.insert(file.name.clone());
    }
    Ok(Box::new(Cab {
        cabinet,
        folders,
        files,
        index: 0,
        work: 0,
    }))
}

/// Little-endian fields at offsets of a byte slice, `None` past its end.
struct Bytes<'b>(&'b [u8]);

impl Bytes<'_> {
    fn u8(&self, at: usize) -> Option<u8> {
        self.0.get(at).copied()
    }
    fn u16(&self, at: usize) -> Option<u16> {
        let b = self.0.get(at..at.checked_add(2)?)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&self, at: usize) -> Option<u32> {
        let b = self.0.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// The offset just past the NUL ending the string at `at`.
    fn past_string(&self, at: usize) -> Option<usize> {
        let nul = self.0.get(at..)?.iter().position(|&b| b == 0)?;
        at.checked_add(nul + 1)
    }
}

/// Folders and files as the directory lists them (file names are filled in from the
/// crate later).
fn directory(data: &[u8]) -> Option<(Vec<Folder>, Vec<File>)> {
    const RESERVE_PRESENT: u16 = 4;
    const PREV_CABINET: u16 = 1;
    const NEXT_CABINET: u16 = 2;
    let b = Bytes(data);
    if b.u32(0)? != u32::from_le_bytes(*b"MSCF") {
        return None;
    }
    let files_at = b.u32(16)? as usize;
    let folder_count = b.u16(26)? as usize;
    let file_count = b.u16(28)? as usize;
    let flags = b.u16(30)?;
    let mut at = 36;
    let (mut folder_reserve, mut data_reserve) = (0, 0);
    if flags & RESERVE_PRESENT != 0 {
        let header_reserve = b.u16(36)? as usize;
        folder_reserve = b.u8(38)? as usize;
        data_reserve = b.u8(39)? as usize;
        at = 40 + header_reserve;
    }
    for flag in [PREV_CABINET, NEXT_CABINET] {
        if flags & flag != 0 {
            at = b.past_string(at)?;
            at = b.past_string(at)?;
        }
    }
    let mut folders = Vec::with_capacity(folder_count);
    // Folders do not share data blocks, and a block header is 8 bytes: more blocks
    // than that are folders pointing at the same blocks (65535 folders of 65535
    // blocks each would be billions of steps).
    let mut budget = data.len() / 8 + 1;
    for _ in 0..folder_count {
        let mut block = b.u32(at)? as usize;
        let blocks = b.u16(at + 4)?;
        let quantum = b.u16(at + 6)? & 0x000f == 2;
        at = at.checked_add(8 + folder_reserve)?;
        let (mut packed, mut unpacked) = (0u64, 0u64);
        budget = budget.checked_sub(usize::from(blocks))?;
        for _ in 0..blocks {
            let size = b.u16(block.checked_add(4)?)? as usize;
            unpacked += u64::from(b.u16(block.checked_add(6)?)?);
            packed += size as u64;
            block = block.checked_add(8 + data_reserve + size)?;
        }
        folders.push(Folder {
            packed,
            unpacked,
            quantum,
        });
    }
    let mut files = Vec::with_capacity(file_count);
    let mut at = files_at;
    for _ in 0..file_count {
        let size = u64::from(b.u32(at)?);
        let offset = u64::from(b.u32(at + 4)?);
        let folder = b.u16(at + 8)? as usize;
        if folder >= folders.len() {
            return None;
        }
        at = b.past_string(at.checked_add(16)?)?;
        files.push(File {
            name: String::new(),
            size,
            offset,
            folder,
            twin: false,
        });
    }
    Some((folders, files))
}

impl<'a> Unpacker<'a> for Cab<'a> {
    fn next(&mut self, budget: &Budget) -> Next<'a> {
        let Some(file) = self.files.get(self.index) else {
            return Next::End;
        };
        self.index += 1;
        let name = file.name.clone();
        let skipped = |reason| Next::Skipped {
            name: name.clone(),
            reason,
        };
        let folder = self.folders[file.folder];
        if folder.quantum {
            return skipped(Skip::Unsupported);
        }
        if file.twin {
            return skipped(Skip::Unsupported);
        }
        if file.size > budget.max_object {
            return skipped(Skip::TooLarge);
        }
        if budget.max_ratio > 0
            && file.size > RATIO_FLOOR
            && file.size / folder.packed.max(1) > budget.max_ratio
        {
            return skipped(Skip::RatioExceeded);
        }
        let end = file.offset.saturating_add(file.size);
        if end > folder.unpacked {
            return skipped(Skip::Corrupted);
        }
        self.work = self.work.saturating_add(end);
        if self.work > budget.max_object.saturating_mul(WORK_FACTOR) {
            return skipped(Skip::TooLarge);
        }
        let reader = match self.cabinet.read_file(&name) {
            Ok(reader) => reader,
            Err(_) => return skipped(Skip::Corrupted),
        };
        let size = file.size;
        let mut decoding = Decoding::new(reader, folder.packed);
        loop {
            match decoding.step(budget) {
                Decoded::More => continue,
                Decoded::Done(bytes) if bytes.len() as u64 == size => {
                    return Next::Object(Child::new(name, Blob::owned(bytes)))
                }
                Decoded::Done(bytes) | Decoded::Truncated(bytes) => {
                    if bytes.is_empty() && size > 0 {
                        return skipped(Skip::Corrupted);
                    }
                    return Next::Object(Child {
                        name,
                        data: Blob::owned(bytes),
                        damaged: Some(Skip::Corrupted),
                    });
                }
                Decoded::Refused(reason) => return skipped(reason),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::testutil::objects;
    use crate::formats::testutil::{drain, fuzz};
    use std::process::Command;

    /// `gcab -c` (with `-z`: MSZIP) over `eicar.com`, `empty` and `big` (100 kB).
    fn gcab(mszip: bool) -> Vec<u8> {
        gcab_sized(mszip, 100_000)
    }

    fn gcab_sized(mszip: bool, size: u32) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("eicar.com"), b"EICAR body").unwrap();
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        let big: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("big"), big).unwrap();
        let mut cmd = Command::new("gcab");
        cmd.arg("-c");
        if mszip {
            cmd.arg("-z");
        }
        let out = cmd
            .arg("out.cab")
            .args(["eicar.com", "empty", "big"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        std::fs::read(dir.path().join("out.cab")).unwrap()
    }

    fn big() -> Vec<u8> {
        (0..100_000u32).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn stored_and_mszip_files() {
        for mszip in [false, true] {
            let cab = gcab(mszip);
            let got = drain(open(Blob::borrowed(&cab)).unwrap(), &Budget::default());
            assert_eq!(got.len(), 3, "{got:?}");
            assert_eq!(
                objects(&got),
                vec![
                    ("eicar.com".into(), b"EICAR body".to_vec(), None),
                    ("empty".into(), vec![], None),
                    ("big".into(), big(), None),
                ],
                "mszip {mszip}"
            );
        }
    }

    #[test]
    fn limits_truncation_and_quantum() {
        let cab = gcab(true);
        let small = Budget {
            max_object: 1000,
            ..Budget::default()
        };
        let got = drain(open(Blob::borrowed(&cab)).unwrap(), &small);
        assert_eq!(objects(&got).len(), 2);
        assert!(matches!(
            got.last(),
            Some(Next::Skipped { name, reason: Skip::TooLarge }) if name == "big"
        ));

        // Cut inside the data: the directory is whole, the last file is damaged or
        // refused, the earlier ones are read.
        let cut = &cab[..cab.len() - 50];
        match open(Blob::borrowed(cut)) {
            Ok(u) => {
                let got = drain(u, &Budget::default());
                assert_eq!(got.len(), 3, "{got:?}");
                assert_eq!(objects(&got)[0].1, b"EICAR body");
                match &got[2] {
                    Next::Object(c) => assert_eq!(c.damaged, Some(Skip::Corrupted)),
                    Next::Skipped { reason, .. } => assert_eq!(*reason, Skip::Corrupted),
                    other => panic!("{other:?}"),
                }
            }
            Err(e) => assert_eq!(e, Skip::Corrupted),
        }

        // A folder marked Quantum.
        let mut quantum = cab.clone();
        let folder = 36; // no reserve, no previous/next cabinet
        quantum[folder + 6..folder + 8].copy_from_slice(&0x1472u16.to_le_bytes());
        let got = drain(open(Blob::borrowed(&quantum)).unwrap(), &Budget::default());
        assert!(got.iter().all(|n| matches!(
            n,
            Next::Skipped {
                reason: Skip::Unsupported,
                ..
            }
        )));
        assert_eq!(got.len(), 3);

        assert_eq!(
            open(Blob::borrowed(b"MSCF\0\0\0\0short")).err(),
            Some(Skip::Corrupted)
        );
    }

    #[test]
    fn no_panic_on_damaged_input() {
        fuzz(&gcab_sized(false, 3000), 300, open);
        fuzz(&gcab_sized(true, 3000), 300, open);
    }
}
