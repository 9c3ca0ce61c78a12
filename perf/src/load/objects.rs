//! The objects to send: every file of a corpus directory, read into memory before the
//! clock starts, and the verdict each one should get.
//!
//! Expectations come from, in order of preference:
//!
//! - `bench-corpus`'s `manifest.tsv` in the corpus directory (the planted signature
//!   name, or clean), plus `hash-hits.tsv` from `bench-corpus sigs --hash-from`
//!   (`name<TAB>file`: files whose MD5 became a `.hdb` line), given with `--hash-hits`;
//! - an `--expect FILE` of `file<TAB>OK` / `file<TAB>FOUND[<TAB>name[,name...]]` lines;
//! - a first pass: every object sent once, one at a time, before the measurement; its
//!   verdicts become the expectations, so the run checks consistency under load.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use super::clamd::{base_name, Reply};

/// The verdict an object should get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// No expectation: any OK or FOUND reply counts as right.
    Unchecked,
    /// `stream: OK`.
    Clean,
    /// `stream: <name> FOUND` with one of these names (`.UNOFFICIAL` ignored); any name
    /// when the list is empty. More than one when the object carries several
    /// signatures: a server that stops at the first detection may report either.
    Found(Vec<String>),
}

/// How a reply compares with the expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// As expected.
    Right,
    /// OK where FOUND was expected, or FOUND where OK was.
    WrongVerdict,
    /// FOUND, but under a name not expected.
    WrongName,
}

impl Expect {
    /// Compares a clean or found reply (errors are counted before this).
    pub fn check(&self, reply: &Reply) -> Check {
        match (self, reply) {
            (Expect::Unchecked, _) => Check::Right,
            (Expect::Clean, Reply::Clean) => Check::Right,
            (Expect::Found(names), Reply::Found(got)) => {
                let got = base_name(got);
                if names.is_empty() || names.iter().any(|n| base_name(n) == got) {
                    Check::Right
                } else {
                    Check::WrongName
                }
            }
            _ => Check::WrongVerdict,
        }
    }

    /// `OK`, `FOUND name`, `FOUND a|b`, `unchecked`.
    pub fn describe(&self) -> String {
        match self {
            Expect::Unchecked => "unchecked".into(),
            Expect::Clean => "OK".into(),
            Expect::Found(n) if n.is_empty() => "FOUND".into(),
            Expect::Found(n) => format!("FOUND {}", n.join("|")),
        }
    }

    fn add_name(&mut self, name: &str) {
        match self {
            Expect::Found(names) => {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
            }
            _ => *self = Expect::Found(vec![name.to_string()]),
        }
    }
}

/// One object: its name (path relative to the corpus directory), bytes, expectation.
pub struct Object {
    /// Path relative to the corpus directory.
    pub name: String,
    /// The whole file.
    pub data: Vec<u8>,
    /// What the server should answer.
    pub expect: Expect,
}

/// Where the expectations come from (`--expect`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectSpec {
    /// `manifest.tsv` when the corpus has one, else a first pass.
    Auto,
    /// `manifest.tsv`, required.
    Manifest,
    /// A first pass over the objects.
    FirstPass,
    /// No checks.
    None,
    /// A `file<TAB>OK|FOUND[<TAB>names]` file.
    File(PathBuf),
}

impl FromStr for ExpectSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => ExpectSpec::Auto,
            "manifest" => ExpectSpec::Manifest,
            "first-pass" => ExpectSpec::FirstPass,
            "none" => ExpectSpec::None,
            "" => return Err("empty --expect".into()),
            path => ExpectSpec::File(PathBuf::from(path)),
        })
    }
}

/// The corpus in memory.
pub struct Objects {
    /// The corpus directory.
    pub dir: PathBuf,
    /// In a stable order (sorted paths).
    pub objects: Vec<Object>,
    /// Total bytes.
    pub bytes: u64,
    /// Where the expectations came from, in words.
    pub expect_source: String,
    /// The spec resolved to a first pass that is still to be run ([`Objects::learn`]).
    pub needs_first_pass: bool,
}

/// A summary of the corpus for reports.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct CorpusInfo {
    /// The directory.
    pub dir: String,
    /// Objects.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Objects expected FOUND.
    pub expect_found: usize,
    /// Objects expected OK.
    pub expect_clean: usize,
    /// Objects not checked.
    pub unchecked: usize,
    /// Where the expectations came from.
    pub expect_source: String,
}

impl Objects {
    /// Reads every regular file under `dir` (recursively, symlinks not followed) except
    /// a top-level `manifest.tsv`, and attaches the expectations.
    pub fn load(dir: &Path, spec: &ExpectSpec, hash_hits: Option<&Path>) -> Result<Self, String> {
        let mut objects = Vec::new();
        let mut bytes = 0u64;
        for path in walk(dir)? {
            let rel = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            if rel == "manifest.tsv" {
                continue;
            }
            let data = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            bytes += data.len() as u64;
            objects.push(Object {
                name: rel,
                data,
                expect: Expect::Unchecked,
            });
        }
        if objects.is_empty() {
            return Err(format!("{}: no files", dir.display()));
        }
        let mut set = Objects {
            dir: dir.to_path_buf(),
            objects,
            bytes,
            expect_source: "none (verdicts not checked)".into(),
            needs_first_pass: false,
        };
        let manifest = dir.join("manifest.tsv");
        match spec {
            ExpectSpec::None => {}
            ExpectSpec::FirstPass => set.needs_first_pass = true,
            ExpectSpec::Auto if !manifest.exists() => set.needs_first_pass = true,
            ExpectSpec::Auto | ExpectSpec::Manifest => {
                let text = fs::read_to_string(&manifest)
                    .map_err(|e| format!("{}: {e}", manifest.display()))?;
                let m = bench_corpus::Manifest::parse(&text)
                    .map_err(|e| format!("{}: {e}", manifest.display()))?;
                let mut by_name: HashMap<&str, Expect> = HashMap::new();
                for e in &m.entries {
                    by_name.insert(
                        &e.file,
                        match &e.planted {
                            Some(n) => Expect::Found(vec![n.clone()]),
                            None => Expect::Clean,
                        },
                    );
                }
                let mut missing = 0;
                for o in &mut set.objects {
                    match by_name.get(o.name.as_str()) {
                        Some(e) => o.expect = e.clone(),
                        None => missing += 1,
                    }
                }
                set.expect_source = format!("{}", manifest.display());
                if missing > 0 {
                    eprintln!(
                        "ringscan-perf: {missing} files are not in {} and are not checked",
                        manifest.display()
                    );
                }
            }
            ExpectSpec::File(path) => {
                let text =
                    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let table =
                    parse_expect_file(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                for o in &mut set.objects {
                    if let Some(e) = table.get(o.name.as_str()) {
                        o.expect = e.clone();
                    }
                }
                set.expect_source = format!("{}", path.display());
            }
        }
        if let (Some(path), false) = (hash_hits, set.needs_first_pass) {
            let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut n = 0;
            for (no, line) in text.lines().enumerate() {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (name, file) = line.split_once('\t').ok_or_else(|| {
                    format!("{} line {}: expected name<TAB>file", path.display(), no + 1)
                })?;
                if let Some(o) = set.objects.iter_mut().find(|o| o.name == file) {
                    o.expect.add_name(name);
                    n += 1;
                }
            }
            set.expect_source += &format!(" + {} ({n} hash hits)", path.display());
        }
        Ok(set)
    }

    /// The first pass: `scan` every object once, in order; its verdicts become the
    /// expectations. Any error ends it.
    pub fn learn(
        &mut self,
        mut scan: impl FnMut(&Object) -> Result<Reply, String>,
    ) -> Result<(), String> {
        for o in &mut self.objects {
            let reply = scan(o).map_err(|e| format!("first pass, {}: {e}", o.name))?;
            o.expect = match reply {
                Reply::Clean => Expect::Clean,
                Reply::Found(n) => Expect::Found(vec![base_name(&n).to_string()]),
                Reply::Error(e) => return Err(format!("first pass, {}: {e}", o.name)),
            };
        }
        self.needs_first_pass = false;
        self.expect_source = "first pass (consistency under load)".into();
        Ok(())
    }

    /// Counts for reports.
    pub fn info(&self) -> CorpusInfo {
        let mut info = CorpusInfo {
            dir: self.dir.display().to_string(),
            files: self.objects.len(),
            bytes: self.bytes,
            expect_source: self.expect_source.clone(),
            ..Default::default()
        };
        for o in &self.objects {
            match o.expect {
                Expect::Unchecked => info.unchecked += 1,
                Expect::Clean => info.expect_clean += 1,
                Expect::Found(_) => info.expect_found += 1,
            }
        }
        info
    }
}

/// `file<TAB>OK` / `file<TAB>FOUND[<TAB>name[,name...]]` lines; `#` comments.
pub fn parse_expect_file(text: &str) -> Result<HashMap<&str, Expect>, String> {
    let mut out = HashMap::new();
    for (no, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split('\t');
        let file = f.next().unwrap_or_default();
        let expect = match f.next() {
            Some("OK") => Expect::Clean,
            Some("FOUND") => Expect::Found(
                f.next()
                    .map(|n| {
                        n.split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            other => {
                return Err(format!(
                    "line {}: expected file<TAB>OK or file<TAB>FOUND[<TAB>name], got {other:?}",
                    no + 1
                ))
            }
        };
        out.insert(file, expect);
    }
    Ok(out)
}

/// Every regular file under `dir` (recursively, symlinks not followed), sorted.
pub fn walk(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let entry = entry.map_err(|e| format!("{}: {e}", d.display()))?;
            let kind = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        let found = Expect::Found(vec!["A".into(), "B".into()]);
        assert_eq!(
            found.check(&Reply::Found("B.UNOFFICIAL".into())),
            Check::Right
        );
        assert_eq!(found.check(&Reply::Found("C".into())), Check::WrongName);
        assert_eq!(found.check(&Reply::Clean), Check::WrongVerdict);
        assert_eq!(
            Expect::Clean.check(&Reply::Found("A".into())),
            Check::WrongVerdict
        );
        assert_eq!(
            Expect::Found(vec![]).check(&Reply::Found("Z".into())),
            Check::Right
        );
        assert_eq!(Expect::Unchecked.check(&Reply::Clean), Check::Right);
    }

    #[test]
    fn expect_file() {
        let t = parse_expect_file("# c\na.bin\tOK\nb.bin\tFOUND\nc.bin\tFOUND\tX,Y\n").unwrap();
        assert_eq!(t["a.bin"], Expect::Clean);
        assert_eq!(t["b.bin"], Expect::Found(vec![]));
        assert_eq!(t["c.bin"], Expect::Found(vec!["X".into(), "Y".into()]));
        assert!(parse_expect_file("a\tMAYBE\n").is_err());
    }

    #[test]
    fn manifest_and_hash_hits() {
        let dir =
            std::env::temp_dir().join(format!("ringscan-perf-objects-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("a.bin"), b"aaaa").unwrap();
        fs::write(dir.join("b.com"), b"bb").unwrap();
        fs::write(dir.join("sub/c.txt"), b"c").unwrap();
        fs::write(
            dir.join("manifest.tsv"),
            "#file\tsize\tkind\tplanted\na.bin\t4\trandom\t\nb.com\t2\teicar\tEicar-Test-Signature\n",
        )
        .unwrap();
        let hits = dir.join("hits.tsv");
        fs::write(&hits, "Bench.Hdb.Hit-1-1\ta.bin\n").unwrap();
        // hits.tsv itself is a corpus file here; harmless for the test.
        let set = Objects::load(&dir, &ExpectSpec::Auto, Some(&hits)).unwrap();
        let get = |n: &str| &set.objects.iter().find(|o| o.name == n).unwrap().expect;
        assert_eq!(
            *get("a.bin"),
            Expect::Found(vec!["Bench.Hdb.Hit-1-1".into()])
        );
        assert_eq!(
            *get("b.com"),
            Expect::Found(vec!["Eicar-Test-Signature".into()])
        );
        assert_eq!(*get("sub/c.txt"), Expect::Unchecked);
        assert!(set.objects.iter().all(|o| o.name != "manifest.tsv"));
        assert_eq!(set.bytes, 4 + 2 + 1 + 24);
        let _ = fs::remove_dir_all(&dir);
    }
}
