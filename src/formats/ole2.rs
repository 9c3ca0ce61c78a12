//! OLE2 compound files (Word/Excel 97-2003 documents, `vbaProject.bin`, MSI), read
//! with the `cfb` crate.
//!
//! Every stream is a sub-object named by its path inside the file
//! (`Macros/VBA/Module1`; control characters in names, as in `\x01Ole10Native`,
//! are written as `\xNN`). A VBA project (a storage named `VBA` holding a `dir`
//! stream, or a `_VBA_PROJECT` stream) sets [`Unpacker::has_macros`]; its module
//! source is stored MS-OVBA compressed (`ole2/ovba.rs`, written by hand), so after
//! the streams each module named in the project's `dir` stream is also given
//! decompressed, as `<storage>/<module>.vba`, so signatures on macro text match as
//! they do in ClamAV.
//!
//! `cfb` is not written for hostile input: every call into it runs under
//! `catch_unwind`, and a panic ends the container as [`Skip::Corrupted`].

mod ovba;

use std::collections::VecDeque;
use std::io::{Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::unpack::{Budget, Child, Next, Skip, Unpacker};
use super::Blob;

type File<'a> = cfb::CompoundFile<Cursor<Blob<'a>>>;

/// An open compound file.
pub struct Ole2<'a> {
    file: File<'a>,
    /// Streams still to return: path inside the file, and length.
    streams: VecDeque<(String, u64)>,
    /// VBA storages whose `dir` stream is still to read.
    projects: VecDeque<String>,
    /// Modules still to decompress: storage, stream name, source offset; those of
    /// one stream queued together.
    modules: VecDeque<(String, String, u32)>,
    /// The module stream last read, so a stream holding several modules is read
    /// once.
    module_stream: Option<ModuleStream>,
    macros: bool,
    broken: bool,
}

/// A module stream read: its path, and its bytes with their damage (`None` when it
/// could not be read).
type ModuleStream = (String, Option<(Vec<u8>, Option<Skip>)>);

/// Opens a compound file; `Err(Corrupted)` when `cfb` cannot read its header and
/// directory.
pub fn open<'a>(data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    let opened = catch_unwind(AssertUnwindSafe(|| -> Option<Ole2<'a>> {
        let file = cfb::CompoundFile::open(data.reader()).ok()?;
        let mut streams = VecDeque::new();
        let mut projects = VecDeque::new();
        let mut macros = false;
        for entry in file.walk() {
            let path = entry.path().to_string_lossy().into_owned();
            let path = path.trim_start_matches('/').to_owned();
            if entry.is_stream() {
                if entry.name().eq_ignore_ascii_case("_VBA_PROJECT") {
                    macros = true;
                }
                streams.push_back((path, entry.len()));
            } else if entry.is_storage()
                && entry.name().eq_ignore_ascii_case("VBA")
                && file.is_stream(format!("/{path}/dir"))
            {
                macros = true;
                projects.push_back(path);
            }
        }
        Some(Ole2 {
            file,
            streams,
            projects,
            modules: VecDeque::new(),
            module_stream: None,
            macros,
            broken: false,
        })
    }));
    match opened {
        Ok(Some(ole)) => Ok(Box::new(ole)),
        _ => Err(Skip::Corrupted),
    }
}

/// A name made printable: control characters as `\xNN`.
fn printable(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if (c as u32) < 0x20 || c == '\u{7f}' {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// How reading a stream went.
enum Got {
    Whole(Vec<u8>),
    Partial(Vec<u8>),
    TooLarge,
    Failed,
}

impl<'a> Ole2<'a> {
    /// Reads a stream, at most `max` bytes.
    fn read(&mut self, path: &str, max: u64) -> Got {
        let Ok(stream) = self.file.open_stream(format!("/{path}")) else {
            return Got::Failed;
        };
        if stream.len() > max {
            return Got::TooLarge;
        }
        let mut out = Vec::new();
        match stream.take(max.saturating_add(1)).read_to_end(&mut out) {
            Ok(_) if out.len() as u64 > max => Got::TooLarge,
            Ok(_) => Got::Whole(out),
            Err(_) if out.is_empty() => Got::Failed,
            Err(_) => Got::Partial(out),
        }
    }

    fn step(&mut self, budget: &Budget) -> Next<'a> {
        if let Some((path, len)) = self.streams.pop_front() {
            let name = printable(&path);
            if len > budget.max_object {
                return Next::Skipped {
                    name,
                    reason: Skip::TooLarge,
                };
            }
            return match self.read(&path, budget.max_object) {
                Got::Whole(bytes) => Next::Object(Child::new(name, Blob::owned(bytes))),
                Got::Partial(bytes) => Next::Object(Child {
                    name,
                    data: Blob::owned(bytes),
                    damaged: Some(Skip::Corrupted),
                }),
                Got::TooLarge => Next::Skipped {
                    name,
                    reason: Skip::TooLarge,
                },
                Got::Failed => Next::Skipped {
                    name,
                    reason: Skip::Corrupted,
                },
            };
        }
        if let Some((storage, stream, offset)) = self.modules.pop_front() {
            let path = format!("{storage}/{stream}");
            let name = printable(&format!("{path}.vba"));
            if self.module_stream.as_ref().map(|(p, _)| p) != Some(&path) {
                self.module_stream = None; // free the previous stream first
                let read = match self.read(&path, budget.max_object) {
                    Got::Whole(b) => Some((b, None)),
                    Got::Partial(b) => Some((b, Some(Skip::Corrupted))),
                    Got::TooLarge | Got::Failed => None,
                };
                self.module_stream = Some((path, read));
            }
            let Some((_, Some((bytes, damaged)))) = &self.module_stream else {
                return Next::Pending;
            };
            let damaged = *damaged;
            if bytes.len() as u64 > budget.max_object {
                return Next::Pending;
            }
            let Some(packed) = bytes.get(offset as usize..) else {
                return Next::Pending;
            };
            let max = usize::try_from(budget.max_object).unwrap_or(usize::MAX);
            return match ovba::decompress(packed, max) {
                Some(source) => Next::Object(Child {
                    name,
                    data: Blob::owned(source),
                    damaged,
                }),
                None => Next::Pending,
            };
        }
        self.module_stream = None;
        while let Some(storage) = self.projects.pop_front() {
            let (Got::Whole(packed) | Got::Partial(packed)) =
                self.read(&format!("{storage}/dir"), budget.max_object)
            else {
                continue;
            };
            // The dir stream is small; bound it generously but well below any limit.
            let Some(dir) = ovba::decompress(&packed, 16 << 20) else {
                continue;
            };
            // One stream's modules together, in the order streams are first named,
            // so each stream is read once.
            let mut by_stream: Vec<(String, Vec<u32>)> = Vec::new();
            let mut index = std::collections::HashMap::new();
            for (stream, offset) in modules(&dir) {
                let k = *index.entry(stream.clone()).or_insert_with(|| {
                    by_stream.push((stream, Vec::new()));
                    by_stream.len() - 1
                });
                by_stream[k].1.push(offset);
            }
            for (stream, offsets) in by_stream {
                for offset in offsets {
                    self.modules
                        .push_back((storage.clone(), stream.clone(), offset));
                }
            }
            if !self.modules.is_empty() {
                return Next::Pending;
            }
        }
        Next::End
    }
}

impl<'a> Unpacker<'a> for Ole2<'a> {
    fn next(&mut self, budget: &Budget) -> Next<'a> {
        if self.broken {
            return Next::End;
        }
        match catch_unwind(AssertUnwindSafe(|| self.step(budget))) {
            Ok(next) => next,
            Err(_) => {
                self.broken = true;
                Next::Broken(Skip::Corrupted)
            }
        }
    }

    fn has_macros(&self) -> bool {
        self.macros
    }
}

/// The modules a decompressed `dir` stream (MS-OVBA 2.3.4.2) names: stream name
/// (MODULESTREAMNAME, 0x001A) and source offset (MODULEOFFSET, 0x0031). The stream
/// is a sequence of `id: u16, size: u32, data` records, except PROJECTVERSION
/// (0x0009), whose size field says 4 and is followed by 6 bytes. Best effort: a
/// damaged record ends the parse with the modules found so far. Each (stream,
/// offset) pair is given once, and at most [`MAX_MODULES`] of them: a crafted `dir`
/// stream can name millions.
fn modules(dir: &[u8]) -> Vec<(String, u32)> {
    let mut found = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut push = |found: &mut Vec<(String, u32)>, s: String, offset: u32| {
        if found.len() < MAX_MODULES
            && !s.is_empty()
            && !s.contains('/')
            && seen.insert((s.clone(), offset))
        {
            found.push((s, offset));
        }
    };
    let mut stream: Option<String> = None;
    let mut offset = 0u32;
    let mut p = 0usize;
    while p + 6 <= dir.len() && found.len() < MAX_MODULES {
        let id = u16::from_le_bytes([dir[p], dir[p + 1]]);
        let mut size =
            u32::from_le_bytes([dir[p + 2], dir[p + 3], dir[p + 4], dir[p + 5]]) as usize;
        if id == 0x0009 {
            size = 6;
        }
        let start = p + 6;
        let Some(data) = start.checked_add(size).and_then(|end| dir.get(start..end)) else {
            break;
        };
        p = start + size;
        match id {
            0x0019 => {
                // MODULENAME: a new module starts.
                if let Some(s) = stream.take() {
                    push(&mut found, s, offset);
                }
                offset = 0;
            }
            0x001a => stream = Some(String::from_utf8_lossy(data).into_owned()),
            0x0031 if data.len() >= 4 => {
                offset = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            }
            0x002b => {
                if let Some(s) = stream.take() {
                    push(&mut found, s, offset);
                }
                offset = 0;
            }
            _ => {}
        }
    }
    if let Some(s) = stream {
        push(&mut found, s, offset);
    }
    found
}

/// Most VBA modules taken from one project's `dir` stream (Office allows far fewer).
const MAX_MODULES: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::testutil;
    use std::io::Write;

    const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    fn record(out: &mut Vec<u8>, id: u16, data: &[u8]) {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }

    /// A `dir` stream naming modules (stream name, offset), as Office writes its
    /// records (the informational ones abridged).
    fn dir_stream(mods: &[(&str, u32)]) -> Vec<u8> {
        let mut d = Vec::new();
        record(&mut d, 0x0001, &1u32.to_le_bytes()); // PROJECTSYSKIND
        record(&mut d, 0x0003, &1252u16.to_le_bytes()); // PROJECTCODEPAGE
        record(&mut d, 0x0004, b"VBAProject"); // PROJECTNAME
                                               // PROJECTVERSION: size says 4, 6 bytes follow.
        d.extend_from_slice(&0x0009u16.to_le_bytes());
        d.extend_from_slice(&4u32.to_le_bytes());
        d.extend_from_slice(&[1, 0, 0, 0, 2, 0]);
        record(&mut d, 0x000f, &(mods.len() as u16).to_le_bytes()); // PROJECTMODULES
        record(&mut d, 0x0013, &0xffffu16.to_le_bytes()); // PROJECTCOOKIE
        for (name, offset) in mods {
            record(&mut d, 0x0019, name.as_bytes());
            record(&mut d, 0x001a, name.as_bytes());
            record(
                &mut d,
                0x0032,
                &name
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect::<Vec<_>>(),
            );
            record(&mut d, 0x0031, &offset.to_le_bytes());
            record(&mut d, 0x0021, &[]); // MODULETYPE procedural
            record(&mut d, 0x002b, &[]); // terminator
        }
        record(&mut d, 0x0010, &[]);
        ovba::compress_literals(&d)
    }

    fn build(with_vba: bool) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        {
            let mut cf =
                cfb::CompoundFile::create_with_version(cfb::Version::V3, &mut buf).unwrap();
            cf.create_stream("/WordDocument")
                .unwrap()
                .write_all(&[0xec, 0xa5, 0xc1, 0x00].repeat(50))
                .unwrap();
            cf.create_stream("/\u{1}CompObj")
                .unwrap()
                .write_all(b"compobj")
                .unwrap();
            if with_vba {
                cf.create_storage_all("/Macros/VBA").unwrap();
                cf.create_stream("/Macros/VBA/dir")
                    .unwrap()
                    .write_all(&dir_stream(&[("Module1", 16)]))
                    .unwrap();
                let source = b"Attribute VB_Name = \"Module1\"\r\nSub AutoOpen()\r\n  MsgBox \"";
                let mut module = vec![0xaau8; 16]; // the p-code before the source
                let mut text = source.to_vec();
                text.extend_from_slice(EICAR);
                module.extend_from_slice(&ovba::compress_literals(&text));
                cf.create_stream("/Macros/VBA/Module1")
                    .unwrap()
                    .write_all(&module)
                    .unwrap();
                cf.create_stream("/Macros/VBA/_VBA_PROJECT")
                    .unwrap()
                    .write_all(&[0xcc, 0x61, 0xff, 0xff, 0, 0, 0])
                    .unwrap();
            }
            cf.flush().unwrap();
        }
        buf.into_inner()
    }

    fn drain(data: &[u8]) -> Result<(Vec<Next<'_>>, bool), Skip> {
        let mut u = open(Blob::borrowed(data))?;
        let out = testutil::drain_mut(&mut *u, &Budget::default());
        Ok((out, u.has_macros()))
    }

    fn objects(got: &[Next<'_>]) -> Vec<(String, Vec<u8>)> {
        got.iter()
            .filter_map(|n| match n {
                Next::Object(c) => Some((c.name.clone(), c.data.to_vec())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn word_document_with_macros() {
        let file = build(true);
        let (got, macros) = drain(&file).unwrap();
        assert!(macros);
        let objs = objects(&got);
        let names: Vec<&str> = objs.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "WordDocument",
            "\\x01CompObj",
            "Macros/VBA/dir",
            "Macros/VBA/Module1",
            "Macros/VBA/_VBA_PROJECT",
            "Macros/VBA/Module1.vba",
        ] {
            assert!(names.contains(&want), "{want} in {names:?}");
        }
        let source = &objs.iter().find(|(n, _)| n.ends_with(".vba")).unwrap().1;
        assert!(source.starts_with(b"Attribute VB_Name"));
        assert!(source.ends_with(EICAR));
    }

    #[test]
    fn word_document_without_macros() {
        let file = build(false);
        let (got, macros) = drain(&file).unwrap();
        assert!(!macros);
        assert_eq!(objects(&got).len(), 2, "{got:?}");
    }

    #[test]
    fn standalone_vba_project_bin() {
        // vbaProject.bin from an OOXML file: the VBA storage at the root.
        let mut buf = Cursor::new(Vec::new());
        {
            let mut cf =
                cfb::CompoundFile::create_with_version(cfb::Version::V3, &mut buf).unwrap();
            cf.create_storage("/VBA").unwrap();
            cf.create_stream("/VBA/dir")
                .unwrap()
                .write_all(&dir_stream(&[("ThisWorkbook", 0)]))
                .unwrap();
            cf.create_stream("/VBA/ThisWorkbook")
                .unwrap()
                .write_all(&ovba::compress_literals(b"Sub Workbook_Open()"))
                .unwrap();
            cf.flush().unwrap();
        }
        let file = buf.into_inner();
        let (got, macros) = drain(&file).unwrap();
        assert!(macros);
        assert!(objects(&got).contains(&(
            "VBA/ThisWorkbook.vba".into(),
            b"Sub Workbook_Open()".to_vec()
        )));
    }

    #[test]
    fn size_limit_and_damage() {
        let file = build(true);
        let mut u = open(Blob::borrowed(&file)).unwrap();
        let budget = Budget {
            max_object: 100,
            ..Budget::default()
        };
        let mut too_large = 0;
        loop {
            match u.next(&budget) {
                Next::End => break,
                Next::Skipped {
                    reason: Skip::TooLarge,
                    ..
                } => too_large += 1,
                Next::Object(c) => assert!(c.data.len() <= 100),
                _ => {}
            }
        }
        assert!(too_large >= 1);
        assert!(matches!(
            open(Blob::borrowed(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1garbage")).err(),
            Some(Skip::Corrupted)
        ));
    }

    #[test]
    fn dir_parse_survives_anything() {
        let raw = ovba::decompress(&dir_stream(&[("A", 1), ("Bee", 2)]), 1 << 20).unwrap();
        assert_eq!(modules(&raw), vec![("A".into(), 1), ("Bee".into(), 2)]);
        for cut in 0..raw.len() {
            let _ = modules(&raw[..cut]);
        }
    }

    #[test]
    fn many_module_records_read_the_stream_once() {
        // 100,000 module records naming one 1 MiB stream, at offsets past its end:
        // each stream read once, at most MAX_MODULES tried, a call per failure.
        let mods: Vec<(String, u32)> = (0..100_000u32)
            .map(|i| ("Module1".to_string(), (2 << 20) + i))
            .collect();
        let refs: Vec<(&str, u32)> = mods.iter().map(|(n, o)| (n.as_str(), *o)).collect();
        let dir = dir_stream(&refs);
        let raw = ovba::decompress(&dir, 16 << 20).unwrap();
        assert_eq!(modules(&raw).len(), MAX_MODULES);
        // Pairs given once each, in order.
        let twice = ovba::decompress(
            &dir_stream(&[("A", 1), ("A", 1), ("B", 1), ("A", 2)]),
            1 << 20,
        )
        .unwrap();
        assert_eq!(
            modules(&twice),
            vec![("A".into(), 1), ("B".into(), 1), ("A".into(), 2)]
        );
        let mut buf = Cursor::new(Vec::new());
        {
            let mut cf =
                cfb::CompoundFile::create_with_version(cfb::Version::V3, &mut buf).unwrap();
            cf.create_storage("/VBA").unwrap();
            cf.create_stream("/VBA/dir")
                .unwrap()
                .write_all(&dir)
                .unwrap();
            cf.create_stream("/VBA/Module1")
                .unwrap()
                .write_all(&vec![0x55u8; 1 << 20])
                .unwrap();
            cf.flush().unwrap();
        }
        let file = buf.into_inner();
        let started = std::time::Instant::now();
        let mut u = open(Blob::borrowed(&file)).unwrap();
        let (mut calls, mut pending) = (0, 0);
        loop {
            calls += 1;
            match u.next(&Budget::default()) {
                Next::End => break,
                Next::Pending => pending += 1,
                _ => {}
            }
            assert!(calls < 10_000);
        }
        assert!(pending >= MAX_MODULES, "{pending} pending of {calls} calls");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn no_panic_on_prefixes_and_flips() {
        testutil::fuzz(&build(true), 300, open);
    }
}
