//! Differential tests: `ringscan scan` against ClamAV's `clamscan` on the same
//! generated signature databases and the same generated files.
//!
//! Every case is one file, named after the case, with the set of detection names we
//! expect. A group of cases shares one database directory and is scanned by both tools
//! in one invocation each (`--allmatch`, so every matching signature is reported). The
//! test fails when, for any file, ringscan's set of names differs from clamscan's
//! ("ENGINE DISAGREES"), or when clamscan itself differs from the expectation written
//! here ("EXPECTATION WRONG": the case does not test what it claims to). All
//! mismatches of a group are printed as one table.
//!
//! Files are built from uniformly random bytes around explicit markers. Random bytes
//! matter: data that looks like text (ASCII, or UTF-16 because of regular NULs) is
//! normalized by ClamAV and matched a second time, lower-cased and with whitespace
//! folded; that behaviour has its own test (`text_files_are_normalized`).
//!
//! `clamscan` must be installed (`scripts/deps.sh --test`); the tests fail otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::Sha256;

// ---------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------

/// One scanned file and what it should trigger (names without `.UNOFFICIAL`).
struct Case {
    name: String,
    data: Vec<u8>,
    expect: BTreeSet<String>,
}

/// Cases sharing one database directory.
#[derive(Default)]
struct Group {
    /// Database file name → content (lines).
    dbs: BTreeMap<String, String>,
    cases: Vec<Case>,
}

impl Group {
    /// Appends a signature line to database file `db` (e.g. `"t.ndb"`).
    fn sig(&mut self, db: &str, line: impl AsRef<str>) {
        let text = self.dbs.entry(db.to_string()).or_default();
        text.push_str(line.as_ref());
        text.push('\n');
    }

    /// Adds a case whose file is `middle` between random bytes ([`embed`]).
    fn embedded(&mut self, name: &str, middle: &[u8], expect: &[&str]) {
        self.case(name, embed(name, middle), expect);
    }

    /// Adds a case; `expect` lists the signature names the file must trigger.
    fn case(&mut self, name: &str, data: Vec<u8>, expect: &[&str]) {
        assert!(
            !data.is_empty(),
            "{name}: clamscan reports empty files specially"
        );
        assert!(
            !self.cases.iter().any(|c| c.name == name),
            "duplicate case {name}"
        );
        self.cases.push(Case {
            name: name.to_string(),
            data,
            expect: expect.iter().map(|s| s.to_string()).collect(),
        });
    }
}

/// Names per file (by file name); an empty set means `OK`.
type Verdicts = BTreeMap<String, BTreeSet<String>>;

fn clamscan_available() {
    match Command::new("clamscan").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`clamscan --version` failed ({}); the differential tests need ClamAV: \
             run scripts/deps.sh --test (CI installs it)",
            o.status
        ),
        Err(e) => panic!(
            "clamscan is not installed ({e}); the differential tests need it as the \
             reference: run scripts/deps.sh --test (CI installs it)"
        ),
    }
}

/// Parses clamscan-style output (`PATH: OK`, `PATH: NAME FOUND`, one line per name
/// with `--allmatch`). Any other per-file line is an error for that file.
fn parse_output(tool: &str, stdout: &str, files: &[PathBuf]) -> Verdicts {
    let by_path: BTreeMap<String, String> = files
        .iter()
        .map(|p| {
            (
                p.display().to_string(),
                p.file_name().unwrap().to_string_lossy().into_owned(),
            )
        })
        .collect();
    let mut out = Verdicts::new();
    let mut problems = Vec::new();
    for line in stdout.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((path, what)) = line.rsplit_once(": ") else {
            problems.push(format!("unparsed line {line:?}"));
            continue;
        };
        let Some(file) = by_path.get(path) else {
            problems.push(format!("line for an unknown path: {line:?}"));
            continue;
        };
        let names = out.entry(file.clone()).or_default();
        if what == "OK" {
            continue;
        }
        match what.strip_suffix(" FOUND") {
            Some(name) => {
                names.insert(name.to_string());
            }
            None => problems.push(format!("{file}: {what}")),
        }
    }
    for file in by_path.values() {
        if !out.contains_key(file) {
            problems.push(format!("{file}: no result line"));
        }
    }
    assert!(
        problems.is_empty(),
        "{tool} output could not be used:\n  {}\n--- stdout ---\n{stdout}",
        problems.join("\n  ")
    );
    out
}

fn run_tool(tool: &str, mut cmd: Command, files: &[PathBuf]) -> Verdicts {
    cmd.args(files);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 0 clean, 1 found, 2 error (a malformed database among them).
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{tool} failed ({}):\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout}",
        out.status
    );
    parse_output(tool, &stdout, files)
}

fn clamscan(db: &Path, files: &[PathBuf]) -> Verdicts {
    let mut cmd = Command::new("clamscan");
    cmd.args(["--no-summary", "--allmatch"]).arg("-d").arg(db);
    run_tool("clamscan", cmd, files)
}

fn ringscan(db: &Path, cache: &Path, files: &[PathBuf]) -> Verdicts {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringscan"));
    cmd.env("RINGSCAN_CACHE_DIR", cache)
        .args(["scan", "--no-cache", "--allmatch", "--no-summary", "--db"])
        .arg(db);
    run_tool("ringscan", cmd, files)
}

/// A temp dir for one group, removed on drop unless `DIFFERENTIAL_KEEP` is set: then
/// it is kept and its path printed, so the files and databases can be fed to the tools
/// by hand.
struct WorkDir {
    path: PathBuf,
    _guard: Option<tempfile::TempDir>,
}

fn work_dir(title: &str) -> WorkDir {
    let tmp = tempfile::Builder::new()
        .prefix("ringscan-differential-")
        .tempdir()
        .unwrap();
    if std::env::var_os("DIFFERENTIAL_KEEP").is_some() {
        let path = tmp.keep();
        println!("{title}: files kept in {}", path.display());
        WorkDir { path, _guard: None }
    } else {
        WorkDir {
            path: tmp.path().to_path_buf(),
            _guard: Some(tmp),
        }
    }
}

fn show(names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        "OK".into()
    } else {
        names.iter().cloned().collect::<Vec<_>>().join(" ")
    }
}

/// Writes the group to a temp dir, scans it with both tools and panics with a table
/// of every mismatch.
fn check(title: &str, group: &Group) {
    clamscan_available();
    let tmp = work_dir(title);
    let db = tmp.path.join("db");
    let data = tmp.path.join("files");
    let cache = tmp.path.join("cache");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    for (name, text) in &group.dbs {
        std::fs::write(db.join(name), text).unwrap();
    }
    let mut files = Vec::new();
    for c in &group.cases {
        let p = data.join(&c.name);
        std::fs::write(&p, &c.data).unwrap();
        files.push(p);
    }
    let expected: Verdicts = group
        .cases
        .iter()
        .map(|c| {
            let names = c.expect.iter().map(|n| format!("{n}.UNOFFICIAL")).collect();
            (c.name.clone(), names)
        })
        .collect();
    compare(
        title,
        &group.dbs,
        &expected,
        &clamscan(&db, &files),
        &ringscan(&db, &cache, &files),
    );
}

fn compare(
    title: &str,
    dbs: &BTreeMap<String, String>,
    expected: &Verdicts,
    clam: &Verdicts,
    ring: &Verdicts,
) {
    let empty = BTreeSet::new();
    let mut rows = Vec::new();
    let (mut engine, mut expectation) = (0, 0);
    for (file, exp) in expected {
        let c = clam.get(file).unwrap_or(&empty);
        let r = ring.get(file).unwrap_or(&empty);
        let mut what = Vec::new();
        if r != c {
            engine += 1;
            what.push("ENGINE DISAGREES");
        }
        if c != exp {
            expectation += 1;
            what.push("EXPECTATION WRONG");
        }
        if !what.is_empty() {
            rows.push([file.clone(), show(exp), show(c), show(r), what.join(", ")]);
        }
    }
    println!(
        "{title}: {} files, {engine} engine disagreement(s), {expectation} wrong expectation(s)",
        expected.len()
    );
    if rows.is_empty() {
        return;
    }
    let head = ["file", "expected", "clamscan", "ringscan", "problem"];
    let mut width = head.map(str::len);
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut table = String::new();
    for row in std::iter::once(&head.map(String::from)).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(width)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(table, "| {} |", cells.join(" | "));
    }
    let mut sigs = String::new();
    for (name, text) in dbs {
        if text.len() < 20_000 {
            let _ = writeln!(sigs, "--- {name} ---\n{text}");
        } else {
            let _ = writeln!(sigs, "--- {name} --- ({} bytes, not shown)", text.len());
        }
    }
    panic!(
        "{title}: {} of {} files mismatch ({engine} ringscan≠clamscan, {expectation} \
         clamscan≠expected)\n{table}\nsignatures:\n{sigs}",
        rows.len(),
        expected.len()
    );
}

// ---------------------------------------------------------------------------------
// Data helpers
// ---------------------------------------------------------------------------------

/// Deterministic, uniformly random bytes (splitmix64).
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Filler: random bytes that ClamAV types as binary data. It starts with `f7` (no
/// file magic begins so) and four NULs: without an aligned NUL pair ClamAV takes most
/// random data for UTF-16 text (`td_isutf16` only rejects 16-bit units below 128 that
/// are not text characters) and also matches it after normalization.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut out = random_bytes(len, seed);
    for (b, v) in out.iter_mut().zip([0xf7, 0, 0, 0, 0]) {
        *b = v;
    }
    out
}

/// Seeds noise from a label so every case gets different bytes.
fn seed_of(label: &str) -> u64 {
    label.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// `noise(pre) + middle + noise(post)`, the noise seeded from `label`.
fn wrap(label: &str, pre: usize, middle: &[u8], post: usize) -> Vec<u8> {
    let s = seed_of(label);
    let mut v = noise(pre, s);
    v.extend_from_slice(middle);
    let mut tail = noise(post + 1, s ^ 0xa5a5);
    tail.remove(0); // the first byte is fixed by `noise`
    v.extend_from_slice(&tail);
    v
}

/// 100 random bytes, `middle`, 100 random bytes.
fn embed(label: &str, middle: &[u8]) -> Vec<u8> {
    wrap(label, 100, middle, 100)
}

/// Concatenates byte strings.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Lower-case hex of bytes, for signature bodies.
fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `n` filler bytes that match none of the markers (no ASCII letters or digits).
fn gap(n: usize) -> Vec<u8> {
    (0..n).map(|i| 0x80 | (i as u8).wrapping_mul(37)).collect()
}

fn md5_hex(b: &[u8]) -> String {
    hex(&Md5::digest(b))
}

fn sha1_hex(b: &[u8]) -> String {
    hex(&Sha1::digest(b))
}

fn sha256_hex(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

/// `b` as ClamAV "wide" text (each byte followed by NUL).
fn wide(b: &[u8]) -> Vec<u8> {
    b.iter().flat_map(|&c| [c, 0]).collect()
}

/// A minimal, valid PE32 file (one `.text` section) whose section data holds `payload`.
fn pe_file(payload: &[u8]) -> Vec<u8> {
    fn put16(v: &mut [u8], at: usize, x: u16) {
        v[at..at + 2].copy_from_slice(&x.to_le_bytes());
    }
    fn put32(v: &mut [u8], at: usize, x: u32) {
        v[at..at + 4].copy_from_slice(&x.to_le_bytes());
    }
    assert!(payload.len() <= 0x1f0);
    let mut f = vec![0u8; 0x400];
    f[..2].copy_from_slice(b"MZ");
    put32(&mut f, 0x3c, 0x40); // e_lfanew
    f[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    put16(&mut f, coff, 0x14c); // i386
    put16(&mut f, coff + 2, 1); // sections
    put16(&mut f, coff + 16, 0xe0); // optional header size
    put16(&mut f, coff + 18, 0x0102); // executable, 32-bit
    let opt = coff + 20;
    put16(&mut f, opt, 0x10b); // PE32
    f[opt + 2] = 1; // linker version
    put32(&mut f, opt + 4, 0x200); // size of code
    put32(&mut f, opt + 16, 0x1000); // entry point
    put32(&mut f, opt + 20, 0x1000); // base of code
    put32(&mut f, opt + 24, 0x1000); // base of data
    put32(&mut f, opt + 28, 0x40_0000); // image base
    put32(&mut f, opt + 32, 0x1000); // section alignment
    put32(&mut f, opt + 36, 0x200); // file alignment
    put16(&mut f, opt + 40, 4); // OS version
    put16(&mut f, opt + 48, 4); // subsystem version
    put32(&mut f, opt + 56, 0x2000); // size of image
    put32(&mut f, opt + 60, 0x200); // size of headers
    put16(&mut f, opt + 68, 2); // GUI
    put32(&mut f, opt + 72, 0x10_0000); // stack reserve
    put32(&mut f, opt + 76, 0x1000); // stack commit
    put32(&mut f, opt + 80, 0x10_0000); // heap reserve
    put32(&mut f, opt + 84, 0x1000); // heap commit
    put32(&mut f, opt + 92, 16); // data directories
    let sec = opt + 0xe0;
    f[sec..sec + 5].copy_from_slice(b".text");
    put32(&mut f, sec + 8, 0x1000); // virtual size
    put32(&mut f, sec + 12, 0x1000); // virtual address
    put32(&mut f, sec + 16, 0x200); // raw size
    put32(&mut f, sec + 20, 0x200); // raw pointer
    put32(&mut f, sec + 36, 0x6000_0020); // code, execute, read
    f[0x200] = 0xc3; // ret at the entry point
    f[0x210..0x210 + payload.len()].copy_from_slice(payload);
    f
}

// ---------------------------------------------------------------------------------
// Hash signatures (.hdb, .hsb)
// ---------------------------------------------------------------------------------

#[test]
fn hash_signatures() {
    let mut g = Group::default();
    let f = |label: &str| embed(label, label.as_bytes());

    // MD5 with size.
    let md5 = f("hash_md5_hit");
    g.sig(
        "t.hdb",
        format!("{}:{}:Diff.Hash.Md5", md5_hex(&md5), md5.len()),
    );
    g.case("hash_md5_hit", md5.clone(), &["Diff.Hash.Md5"]);
    let mut same_size = md5.clone();
    same_size[7] ^= 1;
    g.case("hash_md5_same_size_other_bytes", same_size, &[]);
    g.case("hash_md5_one_byte_longer", cat(&[&md5, b"\0"]), &[]);

    // The right MD5 with the wrong size does not match.
    let wrong = f("hash_md5_wrong_size");
    g.sig(
        "t.hdb",
        format!(
            "{}:{}:Diff.Hash.Md5WrongSize",
            md5_hex(&wrong),
            wrong.len() + 1
        ),
    );
    g.case("hash_md5_wrong_size", wrong, &[]);

    // MD5 with `*` size (needs the :73 functionality level).
    let star = f("hash_md5_star_hit");
    g.sig(
        "t.hdb",
        format!("{}:*:Diff.Hash.Md5Star:73", md5_hex(&star)),
    );
    g.case("hash_md5_star_hit", star.clone(), &["Diff.Hash.Md5Star"]);
    g.case("hash_md5_star_other", cat(&[&star, b"x"]), &[]);

    // SHA256 in an .hdb (the type comes from the digest length).
    let s256 = f("hash_sha256_in_hdb_hit");
    g.sig(
        "t.hdb",
        format!("{}:{}:Diff.Hash.Sha256Hdb", sha256_hex(&s256), s256.len()),
    );
    g.case(
        "hash_sha256_in_hdb_hit",
        s256.clone(),
        &["Diff.Hash.Sha256Hdb"],
    );
    let mut other = s256.clone();
    other[150] ^= 0x40;
    g.case("hash_sha256_in_hdb_other", other, &[]);

    // .hsb: SHA1 and SHA256, with size and with `*`.
    let s1 = f("hash_sha1_hit");
    g.sig(
        "t.hsb",
        format!("{}:{}:Diff.Hash.Sha1", sha1_hex(&s1), s1.len()),
    );
    g.case("hash_sha1_hit", s1.clone(), &["Diff.Hash.Sha1"]);
    let mut other = s1.clone();
    other[3] ^= 0x10;
    g.case("hash_sha1_other", other, &[]);

    let s1s = f("hash_sha1_star_hit");
    g.sig(
        "t.hsb",
        format!("{}:*:Diff.Hash.Sha1Star:73", sha1_hex(&s1s)),
    );
    g.case("hash_sha1_star_hit", s1s, &["Diff.Hash.Sha1Star"]);

    let h256 = f("hash_sha256_hsb_hit");
    g.sig(
        "t.hsb",
        format!("{}:{}:Diff.Hash.Sha256", sha256_hex(&h256), h256.len()),
    );
    g.case("hash_sha256_hsb_hit", h256, &["Diff.Hash.Sha256"]);

    let h256s = f("hash_sha256_hsb_star_hit");
    g.sig(
        "t.hsb",
        format!("{}:*:Diff.Hash.Sha256Star:73", sha256_hex(&h256s)),
    );
    g.case(
        "hash_sha256_hsb_star_hit",
        h256s.clone(),
        &["Diff.Hash.Sha256Star"],
    );
    g.case("hash_sha256_hsb_star_other", h256s[1..].to_vec(), &[]);

    let wrong1 = f("hash_sha1_wrong_size");
    g.sig(
        "t.hsb",
        format!(
            "{}:{}:Diff.Hash.Sha1WrongSize",
            sha1_hex(&wrong1),
            wrong1.len() - 1
        ),
    );
    g.case("hash_sha1_wrong_size", wrong1, &[]);

    // One file, three hash kinds: --allmatch reports all of them.
    let multi = f("hash_all_kinds");
    g.sig(
        "t.hdb",
        format!("{}:{}:Diff.Hash.MultiMd5", md5_hex(&multi), multi.len()),
    );
    g.sig(
        "t.hsb",
        format!("{}:{}:Diff.Hash.MultiSha1", sha1_hex(&multi), multi.len()),
    );
    g.sig(
        "t.hsb",
        format!("{}:*:Diff.Hash.MultiSha256:73", sha256_hex(&multi)),
    );
    g.case(
        "hash_all_kinds",
        multi,
        &[
            "Diff.Hash.MultiMd5",
            "Diff.Hash.MultiSha1",
            "Diff.Hash.MultiSha256",
        ],
    );

    // A hash line whose functionality level is above ClamAV's (and ringscan's) is
    // skipped by both.
    let future = f("hash_md5_future_flevel");
    g.sig(
        "t.hdb",
        format!("{}:{}:Diff.Hash.Future:250", md5_hex(&future), future.len()),
    );
    g.case("hash_md5_future_flevel", future, &[]);

    // SHA1 and SHA256 of one file, no MD5.
    let two = f("hash_sha1_and_sha256");
    g.sig(
        "t.hsb",
        format!("{}:{}:Diff.Hash.TwoSha1", sha1_hex(&two), two.len()),
    );
    g.sig(
        "t.hsb",
        format!("{}:{}:Diff.Hash.TwoSha256", sha256_hex(&two), two.len()),
    );
    g.case(
        "hash_sha1_and_sha256",
        two,
        &["Diff.Hash.TwoSha1", "Diff.Hash.TwoSha256"],
    );

    // A hash signature and body signatures on the same file: --allmatch reports all.
    g.sig(
        "t.ndb",
        format!("Diff.Hash.BodyNdb:0:*:{}", hex(b"HASHBODYMARK")),
    );
    g.sig(
        "t.ldb",
        format!("Diff.Hash.BodyLdb;Target:0;0;{}", hex(b"HASHBODYMARK")),
    );
    let both = embed("hash_and_bodies", b"HASHBODYMARK");
    g.sig(
        "t.hdb",
        format!("{}:{}:Diff.Hash.BodyMd5", md5_hex(&both), both.len()),
    );
    g.case(
        "hash_and_bodies",
        both,
        &[
            "Diff.Hash.BodyMd5",
            "Diff.Hash.BodyNdb",
            "Diff.Hash.BodyLdb",
        ],
    );

    g.case("hash_unrelated", f("hash_unrelated"), &[]);
    check("hash signatures", &g);
}

// ---------------------------------------------------------------------------------
// Allow list (.fp, .sfp) and ignore list (.ign2)
// ---------------------------------------------------------------------------------

#[test]
fn allow_and_ignore_lists() {
    let mut g = Group::default();
    let marker = b"LISTFPMARK01";
    g.sig("t.ndb", format!("Diff.List.Body:0:*:{}", hex(marker)));

    // .fp (MD5 with size) clears a file that a body signature detects.
    let allowed = embed("list_fp_md5_allowed", marker);
    g.sig(
        "t.fp",
        format!("{}:{}:Allowed.Md5", md5_hex(&allowed), allowed.len()),
    );
    g.case("list_fp_md5_allowed", allowed, &[]);
    g.embedded("list_fp_md5_not_listed", marker, &["Diff.List.Body"]);

    // An .fp entry with the wrong size does not allow.
    let wrong = embed("list_fp_md5_wrong_size", marker);
    g.sig(
        "t.fp",
        format!("{}:{}:Allowed.WrongSize", md5_hex(&wrong), wrong.len() + 3),
    );
    g.case("list_fp_md5_wrong_size", wrong, &["Diff.List.Body"]);

    // .fp with `*` size.
    let star = embed("list_fp_md5_star_allowed", marker);
    g.sig("t.fp", format!("{}:*:Allowed.Star:73", md5_hex(&star)));
    g.case("list_fp_md5_star_allowed", star, &[]);

    // .sfp: SHA1 and SHA256 allow lists.
    let s1 = embed("list_sfp_sha1_allowed", marker);
    g.sig(
        "t.sfp",
        format!("{}:{}:Allowed.Sha1", sha1_hex(&s1), s1.len()),
    );
    g.case("list_sfp_sha1_allowed", s1, &[]);
    let s256 = embed("list_sfp_sha256_allowed", marker);
    g.sig(
        "t.sfp",
        format!("{}:{}:Allowed.Sha256", sha256_hex(&s256), s256.len()),
    );
    g.case("list_sfp_sha256_allowed", s256, &[]);

    // The allow list also beats a hash signature and a logical signature.
    let hashed = embed("list_fp_beats_hash_and_ldb", b"LISTLDBMARK2");
    g.sig(
        "t.hdb",
        format!("{}:{}:Diff.List.Hash", md5_hex(&hashed), hashed.len()),
    );
    g.sig(
        "t.ldb",
        format!("Diff.List.Ldb;Target:0;0;{}", hex(b"LISTLDBMARK2")),
    );
    g.sig(
        "t.fp",
        format!("{}:{}:Allowed.Hashed", md5_hex(&hashed), hashed.len()),
    );
    g.case("list_fp_beats_hash_and_ldb", hashed, &[]);
    g.embedded("list_ldb_not_listed", b"LISTLDBMARK2", &["Diff.List.Ldb"]);

    // .ign2: the ignored name is dropped, a sibling with the same body is not.
    let ign = b"LISTIGNMARK3";
    g.sig("t.ndb", format!("Diff.List.Ignored:0:*:{}", hex(ign)));
    g.sig("t.ndb", format!("Diff.List.Kept:0:*:{}", hex(ign)));
    g.sig("t.ign2", "Diff.List.Ignored");
    g.embedded("list_ign2_body", ign, &["Diff.List.Kept"]);
    // ... and it works on hash and logical signatures too.
    let ih = embed("list_ign2_hash_and_ldb", b"LISTIGNLDB4");
    g.sig(
        "t.hdb",
        format!("{}:{}:Diff.List.IgnoredHash", md5_hex(&ih), ih.len()),
    );
    g.sig(
        "t.ldb",
        format!("Diff.List.IgnoredLdb;Target:0;0;{}", hex(b"LISTIGNLDB4")),
    );
    g.sig("t.ign2", "Diff.List.IgnoredHash");
    g.sig("t.ign2", "Diff.List.IgnoredLdb");
    g.case("list_ign2_hash_and_ldb", ih, &[]);

    // An .ign2 line carrying the .UNOFFICIAL suffix ignores nothing.
    g.sig(
        "t.ndb",
        format!("Diff.List.Suffixed:0:*:{}", hex(b"LISTSUFFIX5")),
    );
    g.sig("t.ign2", "Diff.List.Suffixed.UNOFFICIAL");
    g.embedded(
        "list_ign2_with_suffix",
        b"LISTSUFFIX5",
        &["Diff.List.Suffixed"],
    );

    // Database files with CRLF line ends and a comment line; an upper-case digest.
    let crlf = embed("list_crlf_files", b"LISTCRLF1 LISTCRLF2 LISTCRLF3");
    g.sig(
        "crlf.ndb",
        format!(
            "# a comment\r\nDiff.List.CrlfNdb:0:*:{}\r\nDiff.List.CrlfIgnored:0:*:{}\r",
            hex(b"LISTCRLF1"),
            hex(b"LISTCRLF2")
        ),
    );
    g.sig(
        "crlf.ldb",
        format!("Diff.List.CrlfLdb;Target:0;0;{}\r", hex(b"LISTCRLF3")),
    );
    g.sig("crlf.ign2", "Diff.List.CrlfIgnored\r");
    g.sig(
        "crlf.hdb",
        format!(
            "{}:{}:Diff.List.CrlfUpperMd5\r",
            md5_hex(&crlf).to_uppercase(),
            crlf.len()
        ),
    );
    g.case(
        "list_crlf_files",
        crlf,
        &[
            "Diff.List.CrlfNdb",
            "Diff.List.CrlfLdb",
            "Diff.List.CrlfUpperMd5",
        ],
    );

    g.embedded("list_clean", b"LISTCLEAN", &[]);
    check("allow and ignore lists", &g);
}

// ---------------------------------------------------------------------------------
// .ndb bodies
// ---------------------------------------------------------------------------------

#[test]
fn ndb_bodies() {
    let mut g = Group::default();
    let ndb = "t.ndb";

    // Literal bytes (case-sensitive).
    g.sig(
        ndb,
        format!("Diff.Ndb.Literal:0:*:{}", hex(b"NDBLITERAL01")),
    );
    g.embedded("ndb_literal_hit", b"NDBLITERAL01", &["Diff.Ndb.Literal"]);
    g.embedded("ndb_literal_other_case", b"NDBLiteral01", &[]);
    g.embedded("ndb_literal_truncated", b"NDBLITERAL0", &[]);

    // A leading fixed gap is `??`s: ClamAV accepts it (variable ones it refuses).
    g.sig(
        ndb,
        format!("Diff.Ndb.LeadFixed:0:0:{{4}}{}", hex(b"NDBLEADGAP")),
    );
    g.case(
        "ndb_lead_fixed_gap_hit",
        b"....NDBLEADGAP and more".to_vec(),
        &["Diff.Ndb.LeadFixed"],
    );
    g.case(
        "ndb_lead_fixed_gap_short",
        b"...NDBLEADGAP and more".to_vec(),
        &[],
    );
    g.case(
        "ndb_literal_at_start",
        cat(&[b"NDBLITERAL01", &noise(64, 1)]),
        &["Diff.Ndb.Literal"],
    );
    g.case(
        "ndb_literal_at_end",
        cat(&[&noise(64, 2), b"NDBLITERAL01"]),
        &["Diff.Ndb.Literal"],
    );

    // ?? any byte.
    g.sig(
        ndb,
        format!("Diff.Ndb.AnyByte:0:*:{}??{}", hex(b"NDBANY"), hex(b"ZZ")),
    );
    g.embedded("ndb_anybyte_hit", b"NDBANY\x9aZZ!", &["Diff.Ndb.AnyByte"]);
    g.embedded("ndb_anybyte_missing_byte", b"NDBANYZZ!", &[]);

    // Nibbles: a? fixes the high nibble, ?a the low one.
    g.sig(
        ndb,
        format!(
            "Diff.Ndb.NibbleHigh:0:*:{}4?{}",
            hex(b"NDBNIBH"),
            hex(b"ZZ")
        ),
    );
    g.embedded(
        "ndb_nibble_high_hit",
        b"NDBNIBH\x4eZZ",
        &["Diff.Ndb.NibbleHigh"],
    );
    g.embedded("ndb_nibble_high_miss", b"NDBNIBH\x5eZZ", &[]);
    g.sig(
        ndb,
        format!("Diff.Ndb.NibbleLow:0:*:{}?4{}", hex(b"NDBNIBL"), hex(b"ZZ")),
    );
    g.embedded(
        "ndb_nibble_low_hit",
        b"NDBNIBL\xe4ZZ",
        &["Diff.Ndb.NibbleLow"],
    );
    g.embedded("ndb_nibble_low_miss", b"NDBNIBL\xe5ZZ", &[]);

    // * any number of bytes.
    g.sig(
        ndb,
        format!(
            "Diff.Ndb.Star:0:*:{}*{}",
            hex(b"NDBSTAR1"),
            hex(b"NDBSTAR2")
        ),
    );
    g.embedded(
        "ndb_star_far",
        &cat(&[b"NDBSTAR1", &gap(3000), b"NDBSTAR2"]),
        &["Diff.Ndb.Star"],
    );
    g.embedded("ndb_star_adjacent", b"NDBSTAR1NDBSTAR2", &["Diff.Ndb.Star"]);
    g.embedded("ndb_star_wrong_order", b"NDBSTAR2 NDBSTAR1", &[]);
    g.embedded("ndb_star_first_part_only", b"NDBSTAR1", &[]);

    // Bounded gaps: {n} (n < 128 is ?? repeated; 200 splits the body), {-n}, {n-},
    // {n-m} (small, and large enough to split). Lengths: (gap, matches?).
    type GapCase<'a> = (&'a str, &'a str, &'a [(usize, bool)]);
    let gaps: &[GapCase] = &[
        ("GapN", "{3}", &[(3, true), (2, false), (4, false)]),
        (
            "GapBig",
            "{200}",
            &[(200, true), (199, false), (201, false)],
        ),
        ("GapMax", "{-4}", &[(0, true), (4, true), (5, false)]),
        ("GapMin", "{3-}", &[(3, true), (700, true), (2, false)]),
        (
            "GapRange",
            "{2-5}",
            &[(2, true), (5, true), (1, false), (6, false)],
        ),
        (
            "GapWide",
            "{100-300}",
            &[(100, true), (300, true), (99, false), (301, false)],
        ),
    ];
    for (sig, text, lens) in gaps {
        let (first, last) = (format!("NDB{sig}1"), format!("NDB{sig}2"));
        g.sig(
            ndb,
            format!(
                "Diff.Ndb.{sig}:0:*:{}{text}{}",
                hex(first.as_bytes()),
                hex(last.as_bytes())
            ),
        );
        let name = format!("Diff.Ndb.{sig}");
        let expect = [name.as_str()];
        for &(n, hit) in *lens {
            let name = format!("ndb_{}_len{n}", sig.to_lowercase());
            let data = cat(&[first.as_bytes(), &gap(n), last.as_bytes()]);
            g.embedded(&name, &data, if hit { &expect } else { &[] });
        }
    }
    // A first part that occurs twice: only the second is close enough to the last.
    g.embedded(
        "ndb_gaprange_retry",
        &cat(&[
            b"NDBGapRange1",
            &gap(9),
            b"NDBGapRange1",
            &gap(3),
            b"NDBGapRange2",
        ]),
        &["Diff.Ndb.GapRange"],
    );

    // [x-y] next to a single-byte anchor, on either side.
    g.sig(
        ndb,
        format!("Diff.Ndb.BracketLeft:0:*:5a[1-3]{}", hex(b"NDBBRKL")),
    );
    for (n, hit) in [(1, true), (3, true), (0, false), (4, false)] {
        let name = format!("ndb_bracket_left_len{n}");
        g.case(
            &name,
            // gap(4) keeps random bytes (a stray "Z") away from the anchor.
            embed(&name, &cat(&[&gap(4), b"Z", &gap(n), b"NDBBRKL"])),
            if hit { &["Diff.Ndb.BracketLeft"] } else { &[] },
        );
    }
    g.sig(
        ndb,
        format!("Diff.Ndb.BracketRight:0:*:{}[2-4]5a", hex(b"NDBBRKR")),
    );
    for (n, hit) in [(2, true), (4, true), (1, false), (5, false)] {
        let name = format!("ndb_bracket_right_len{n}");
        g.embedded(
            &name,
            &cat(&[b"NDBBRKR", &gap(n), b"Z", &gap(4)]),
            if hit { &["Diff.Ndb.BracketRight"] } else { &[] },
        );
    }

    // (aa|bb) single-byte alternatives, and !(aa|bb).
    g.sig(
        ndb,
        format!("Diff.Ndb.Alt:0:*:{}(61|62){}", hex(b"NDBALT"), hex(b"ZZ")),
    );
    g.embedded("ndb_alt_first", b"NDBALTaZZ", &["Diff.Ndb.Alt"]);
    g.embedded("ndb_alt_second", b"NDBALTbZZ", &["Diff.Ndb.Alt"]);
    g.embedded("ndb_alt_neither", b"NDBALTcZZ", &[]);
    g.sig(
        ndb,
        format!(
            "Diff.Ndb.NotAlt:0:*:{}!(61|62){}",
            hex(b"NDBNALT"),
            hex(b"ZZ")
        ),
    );
    g.embedded("ndb_notalt_other", b"NDBNALTcZZ", &["Diff.Ndb.NotAlt"]);
    g.embedded("ndb_notalt_listed", b"NDBNALTbZZ", &[]);

    // Alternatives at the start and at the end of a body.
    g.sig(
        ndb,
        format!("Diff.Ndb.AltStart:0:*:(41|42){}", hex(b"NDBALTS")),
    );
    g.embedded("ndb_alt_at_start_hit", b"BNDBALTS", &["Diff.Ndb.AltStart"]);
    g.embedded("ndb_alt_at_start_miss", b"CNDBALTS", &[]);
    g.sig(
        ndb,
        format!("Diff.Ndb.AltEnd:0:*:{}(41|42)", hex(b"NDBALTE")),
    );
    g.embedded("ndb_alt_at_end_hit", b"NDBALTEA", &["Diff.Ndb.AltEnd"]);
    g.embedded("ndb_alt_at_end_miss", b"NDBALTEC", &[]);

    // Fixed-length multi-byte alternatives, plain and negated.
    g.sig(
        ndb,
        format!(
            "Diff.Ndb.MultiAlt:0:*:{}(6162|6364){}",
            hex(b"NDBMALT"),
            hex(b"ZZ")
        ),
    );
    g.embedded("ndb_multialt_first", b"NDBMALTabZZ", &["Diff.Ndb.MultiAlt"]);
    g.embedded(
        "ndb_multialt_second",
        b"NDBMALTcdZZ",
        &["Diff.Ndb.MultiAlt"],
    );
    g.embedded("ndb_multialt_mixed", b"NDBMALTadZZ", &[]);
    g.sig(
        ndb,
        format!(
            "Diff.Ndb.NotMultiAlt:0:*:{}!(6162|6364){}",
            hex(b"NDBNMALT"),
            hex(b"ZZ")
        ),
    );
    g.embedded(
        "ndb_notmultialt_other",
        b"NDBNMALTadZZ",
        &["Diff.Ndb.NotMultiAlt"],
    );
    g.embedded("ndb_notmultialt_listed", b"NDBNMALTcdZZ", &[]);

    // Generic (variable-length) alternatives.
    g.sig(
        ndb,
        format!(
            "Diff.Ndb.GenericAlt:0:*:{}(61|6263){}",
            hex(b"NDBGALT"),
            hex(b"ZZ")
        ),
    );
    g.embedded(
        "ndb_genericalt_short",
        b"NDBGALTaZZ",
        &["Diff.Ndb.GenericAlt"],
    );
    g.embedded(
        "ndb_genericalt_long",
        b"NDBGALTbcZZ",
        &["Diff.Ndb.GenericAlt"],
    );
    g.embedded("ndb_genericalt_partial", b"NDBGALTbZZ", &[]);

    // Classes (B) (L) (W): at the start and end they test the byte outside the match
    // (or the file boundary); in the middle they consume bytes.
    g.sig(ndb, format!("Diff.Ndb.BStart:0:*:(B){}", hex(b"NDBCLSB1")));
    g.sig(ndb, format!("Diff.Ndb.BEnd:0:*:{}(B)", hex(b"NDBCLSB2")));
    g.sig(
        ndb,
        format!("Diff.Ndb.BMid:0:*:{}(B){}", hex(b"NDBCLSB3"), hex(b"ZZ")),
    );
    g.sig(ndb, format!("Diff.Ndb.LStart:0:*:(L){}", hex(b"NDBCLSL1")));
    g.sig(ndb, format!("Diff.Ndb.LEnd:0:*:{}(L)", hex(b"NDBCLSL2")));
    g.sig(
        ndb,
        format!("Diff.Ndb.LMid:0:*:{}(L){}", hex(b"NDBCLSL3"), hex(b"ZZ")),
    );
    g.sig(ndb, format!("Diff.Ndb.WStart:0:*:(W){}", hex(b"NDBCLSW1")));
    g.sig(ndb, format!("Diff.Ndb.WEnd:0:*:{}(W)", hex(b"NDBCLSW2")));
    g.sig(
        ndb,
        format!("Diff.Ndb.WMid:0:*:{}(W){}", hex(b"NDBCLSW3"), hex(b"ZZ")),
    );
    g.sig(
        ndb,
        format!("Diff.Ndb.NotWStart:0:*:!(W){}", hex(b"NDBCLSN1")),
    );
    g.sig(
        ndb,
        format!("Diff.Ndb.NotBEnd:0:*:{}!(B)", hex(b"NDBCLSN2")),
    );
    let classes: &[(&str, &[u8], &[&str])] = &[
        // (B) before: only bytes ClamAV marks as left boundaries (space - / _ . < @).
        ("ndb_bstart_space", b" NDBCLSB1", &["Diff.Ndb.BStart"]),
        ("ndb_bstart_dot", b".NDBCLSB1", &["Diff.Ndb.BStart"]),
        ("ndb_bstart_at", b"@NDBCLSB1", &["Diff.Ndb.BStart"]),
        ("ndb_bstart_quote", b"\"NDBCLSB1", &[]),
        ("ndb_bstart_newline", b"\nNDBCLSB1", &[]),
        ("ndb_bstart_letter", b"aNDBCLSB1", &[]),
        // (B) after: right boundaries (space - / _ \n \r " ' = >).
        ("ndb_bend_space", b"NDBCLSB2 ", &["Diff.Ndb.BEnd"]),
        ("ndb_bend_quote", b"NDBCLSB2\"", &["Diff.Ndb.BEnd"]),
        ("ndb_bend_gt", b"NDBCLSB2>", &["Diff.Ndb.BEnd"]),
        ("ndb_bend_cr", b"NDBCLSB2\r", &["Diff.Ndb.BEnd"]),
        ("ndb_bend_dot", b"NDBCLSB2.", &[]),
        ("ndb_bend_lt", b"NDBCLSB2<", &[]),
        ("ndb_bend_letter", b"NDBCLSB2a", &[]),
        // (B) in the middle: any boundary byte.
        ("ndb_bmid_space", b"NDBCLSB3 ZZ", &["Diff.Ndb.BMid"]),
        ("ndb_bmid_dot", b"NDBCLSB3.ZZ", &["Diff.Ndb.BMid"]),
        ("ndb_bmid_quote", b"NDBCLSB3\"ZZ", &["Diff.Ndb.BMid"]),
        ("ndb_bmid_letter", b"NDBCLSB3aZZ", &[]),
        ("ndb_bmid_none", b"NDBCLSB3ZZ!", &[]),
        // (L): LF before; LF or CRLF after; in the middle LF or CRLF.
        ("ndb_lstart_lf", b"\nNDBCLSL1", &["Diff.Ndb.LStart"]),
        ("ndb_lstart_cr", b"\rNDBCLSL1", &[]),
        ("ndb_lstart_letter", b"aNDBCLSL1", &[]),
        ("ndb_lend_lf", b"NDBCLSL2\n", &["Diff.Ndb.LEnd"]),
        ("ndb_lend_crlf", b"NDBCLSL2\r\n", &["Diff.Ndb.LEnd"]),
        ("ndb_lend_cr_alone", b"NDBCLSL2\rx", &[]),
        ("ndb_lend_letter", b"NDBCLSL2a", &[]),
        ("ndb_lmid_lf", b"NDBCLSL3\nZZ", &["Diff.Ndb.LMid"]),
        ("ndb_lmid_crlf", b"NDBCLSL3\r\nZZ", &["Diff.Ndb.LMid"]),
        ("ndb_lmid_cr_alone", b"NDBCLSL3\rZZ", &[]),
        ("ndb_lmid_letter", b"NDBCLSL3aZZ", &[]),
        // (W): a non-alphanumeric byte.
        ("ndb_wstart_percent", b"%NDBCLSW1", &["Diff.Ndb.WStart"]),
        ("ndb_wstart_high", b"\xe9NDBCLSW1", &["Diff.Ndb.WStart"]),
        ("ndb_wstart_digit", b"7NDBCLSW1", &[]),
        ("ndb_wend_percent", b"NDBCLSW2%", &["Diff.Ndb.WEnd"]),
        ("ndb_wend_letter", b"NDBCLSW2q", &[]),
        ("ndb_wmid_underscore", b"NDBCLSW3_ZZ", &["Diff.Ndb.WMid"]),
        ("ndb_wmid_letter", b"NDBCLSW3aZZ", &[]),
        // Negated classes.
        (
            "ndb_notwstart_letter",
            b"aNDBCLSN1",
            &["Diff.Ndb.NotWStart"],
        ),
        ("ndb_notwstart_space", b" NDBCLSN1", &[]),
        ("ndb_notbend_letter", b"NDBCLSN2a", &["Diff.Ndb.NotBEnd"]),
        ("ndb_notbend_space", b"NDBCLSN2 ", &[]),
    ];
    for (name, middle, expect) in classes {
        g.embedded(name, middle, expect);
    }
    // Classes against the start and the end of the file.
    g.case(
        "ndb_bstart_bof",
        cat(&[b"NDBCLSB1", &noise(50, 3)]),
        &["Diff.Ndb.BStart"],
    );
    g.case(
        "ndb_bend_eof",
        cat(&[&noise(50, 4), b"NDBCLSB2"]),
        &["Diff.Ndb.BEnd"],
    );
    g.case(
        "ndb_lstart_bof",
        cat(&[b"NDBCLSL1", &noise(50, 5)]),
        &["Diff.Ndb.LStart"],
    );
    g.case(
        "ndb_lend_eof",
        cat(&[&noise(50, 6), b"NDBCLSL2"]),
        &["Diff.Ndb.LEnd"],
    );
    g.case(
        "ndb_wstart_bof",
        cat(&[b"NDBCLSW1", &noise(50, 7)]),
        &["Diff.Ndb.WStart"],
    );
    g.case(
        "ndb_wend_eof",
        cat(&[&noise(50, 8), b"NDBCLSW2"]),
        &["Diff.Ndb.WEnd"],
    );

    // Everything at once.
    g.sig(
        ndb,
        format!(
            "Diff.Ndb.Combined:0:*:(W){}??4?(6162|6364){{2-4}}{}*{}!(00|ff){}(B)",
            hex(b"NDBCOMBO"),
            hex(b"NDBMID"),
            hex(b"NDBTAIL"),
            hex(b"ZZ")
        ),
    );
    g.embedded(
        "ndb_combined_hit",
        &cat(&[
            b" NDBCOMBO\x01Jcd",
            &gap(3),
            b"NDBMID",
            &gap(40),
            b"NDBTAILxZZ ",
        ]),
        &["Diff.Ndb.Combined"],
    );
    g.embedded(
        "ndb_combined_miss",
        &cat(&[
            b" NDBCOMBO\x01Jcd",
            &gap(3),
            b"NDBMID",
            &gap(40),
            b"NDBTAIL\xffZZ ",
        ]),
        &[],
    );

    // Functionality levels on .ndb lines: in range, too new, retired.
    g.sig(
        ndb,
        format!("Diff.Ndb.FlevelOk:0:*:{}:51", hex(b"NDBFLEVEL1")),
    );
    g.sig(
        ndb,
        format!("Diff.Ndb.FlevelNew:0:*:{}:250", hex(b"NDBFLEVEL1")),
    );
    g.sig(
        ndb,
        format!("Diff.Ndb.FlevelOld:0:*:{}:51:60", hex(b"NDBFLEVEL1")),
    );
    // The boundary: ClamAV 1.4.6 is at level 216.
    g.sig(
        ndb,
        format!("Diff.Ndb.FlevelEdge:0:*:{}:216", hex(b"NDBFLEVEL1")),
    );
    g.sig(
        ndb,
        format!("Diff.Ndb.FlevelPast:0:*:{}:217", hex(b"NDBFLEVEL1")),
    );
    g.sig(
        ndb,
        format!("Diff.Ndb.FlevelMax:0:*:{}:51:216", hex(b"NDBFLEVEL1")),
    );
    g.embedded(
        "ndb_flevel",
        b"NDBFLEVEL1",
        &[
            "Diff.Ndb.FlevelOk",
            "Diff.Ndb.FlevelEdge",
            "Diff.Ndb.FlevelMax",
        ],
    );

    // ?? and negated alternatives at the edges need a byte there.
    g.sig(
        ndb,
        format!("Diff.Ndb.AnyFirst:0:*:??{}", hex(b"NDBQSTART")),
    );
    g.case(
        "ndb_anyfirst_bof",
        cat(&[b"NDBQSTART", &noise(50, 20)]),
        &[],
    );
    g.case(
        "ndb_anyfirst_at1",
        cat(&[b"xNDBQSTART", &noise(50, 21)]),
        &["Diff.Ndb.AnyFirst"],
    );
    g.sig(ndb, format!("Diff.Ndb.AnyLast:0:*:{}??", hex(b"NDBQEND1")));
    g.case("ndb_anylast_eof", cat(&[&noise(50, 22), b"NDBQEND1"]), &[]);
    g.embedded("ndb_anylast_hit", b"NDBQEND1x", &["Diff.Ndb.AnyLast"]);
    g.sig(
        ndb,
        format!("Diff.Ndb.NotAltLast:0:*:{}!(61|62)", hex(b"NDBNAE1")),
    );
    g.case(
        "ndb_notalt_last_eof",
        cat(&[&noise(50, 23), b"NDBNAE1"]),
        &[],
    );
    g.embedded("ndb_notalt_last_hit", b"NDBNAE1c", &["Diff.Ndb.NotAltLast"]);
    g.sig(
        ndb,
        format!("Diff.Ndb.NotAltFirst:0:*:!(61|62){}", hex(b"NDBNAS1")),
    );
    g.case(
        "ndb_notalt_first_bof",
        cat(&[b"NDBNAS1", &noise(50, 24)]),
        &[],
    );
    g.embedded(
        "ndb_notalt_first_hit",
        b"cNDBNAS1",
        &["Diff.Ndb.NotAltFirst"],
    );

    // Upper-case hex digits in a body.
    g.sig(
        ndb,
        format!("Diff.Ndb.UpperHex:0:*:{}", hex(b"NDBUPPER").to_uppercase()),
    );
    g.embedded("ndb_upper_hex", b"NDBUPPER", &["Diff.Ndb.UpperHex"]);

    g.embedded("ndb_clean", b"NDB nothing here", &[]);
    check(".ndb bodies", &g);
}

// ---------------------------------------------------------------------------------
// .ndb offsets
// ---------------------------------------------------------------------------------

#[test]
fn ndb_offsets() {
    let mut g = Group::default();
    let ndb = "t.ndb";
    let at = |label: &str, start: usize, m: &[u8], tail: usize| wrap(label, start, m, tail);

    g.sig(ndb, format!("Diff.Off.Zero:0:0:{}", hex(b"OFFZERO1")));
    g.case(
        "off_zero_hit",
        at("off_zero_hit", 0, b"OFFZERO1", 80),
        &["Diff.Off.Zero"],
    );
    g.case("off_zero_at1", at("off_zero_at1", 1, b"OFFZERO1", 80), &[]);

    g.sig(ndb, format!("Diff.Off.Abs:0:10:{}", hex(b"OFFABS01")));
    for (pos, hit) in [(10, true), (9, false), (11, false)] {
        let name = format!("off_abs10_at{pos}");
        g.case(
            &name,
            at(&name, pos, b"OFFABS01", 80),
            if hit { &["Diff.Off.Abs"] } else { &[] },
        );
    }

    g.sig(ndb, format!("Diff.Off.Shift:0:10,5:{}", hex(b"OFFSHIFT")));
    for (pos, hit) in [(10, true), (13, true), (15, true), (9, false), (16, false)] {
        let name = format!("off_abs10shift5_at{pos}");
        g.case(
            &name,
            at(&name, pos, b"OFFSHIFT", 80),
            if hit { &["Diff.Off.Shift"] } else { &[] },
        );
    }

    // EOF-n: the match starts n bytes before the end.
    g.sig(ndb, format!("Diff.Off.Eof:0:EOF-20:{}", hex(b"OFFEOF01")));
    for (back, hit) in [(20, true), (19, false), (21, false)] {
        let name = format!("off_eof20_back{back}");
        g.case(
            &name,
            at(&name, 90, b"OFFEOF01", back - 8),
            if hit { &["Diff.Off.Eof"] } else { &[] },
        );
    }
    g.sig(
        ndb,
        format!("Diff.Off.EofShift:0:EOF-20,5:{}", hex(b"OFFEOFSH")),
    );
    for (back, hit) in [(20, true), (17, true), (15, true), (21, false), (14, false)] {
        let name = format!("off_eof20shift5_back{back}");
        g.case(
            &name,
            at(&name, 90, b"OFFEOFSH", back - 8),
            if hit { &["Diff.Off.EofShift"] } else { &[] },
        );
    }
    // EOF-n longer than the file.
    g.sig(
        ndb,
        format!("Diff.Off.EofBig:0:EOF-5000:{}", hex(b"OFFEOFBG")),
    );
    g.case(
        "off_eof5000_small_file",
        at("off_eof5000_small_file", 5, b"OFFEOFBG", 50),
        &[],
    );

    // Offsets on bodies with gaps and wildcards: the offset is where the match starts.
    g.sig(
        ndb,
        format!(
            "Diff.Off.AbsGap:0:10:{}{{2-4}}{}",
            hex(b"OFFGAP1"),
            hex(b"OFFGAP2")
        ),
    );
    g.case(
        "off_abs_gap_hit",
        at(
            "off_abs_gap_hit",
            10,
            &cat(&[b"OFFGAP1", &gap(3), b"OFFGAP2"]),
            60,
        ),
        &["Diff.Off.AbsGap"],
    );
    g.case(
        "off_abs_gap_late",
        at(
            "off_abs_gap_late",
            11,
            &cat(&[b"OFFGAP1", &gap(3), b"OFFGAP2"]),
            60,
        ),
        &[],
    );
    g.sig(
        ndb,
        format!("Diff.Off.AbsWild:0:12,2:??{}", hex(b"OFFWILD1")),
    );
    g.case(
        "off_abs_wild_hit",
        at("off_abs_wild_hit", 13, b"OFFWILD1", 60),
        &["Diff.Off.AbsWild"],
    );
    g.case(
        "off_abs_wild_late",
        at("off_abs_wild_late", 16, b"OFFWILD1", 60),
        &[],
    );
    g.sig(
        ndb,
        format!(
            "Diff.Off.EofStar:0:EOF-40:{}*{}",
            hex(b"OFFSTAR1"),
            hex(b"OFFSTAR2")
        ),
    );
    g.case(
        "off_eof_star_hit",
        at(
            "off_eof_star_hit",
            70,
            &cat(&[b"OFFSTAR1", &gap(10), b"OFFSTAR2"]),
            14,
        ),
        &["Diff.Off.EofStar"],
    );
    g.case(
        "off_eof_star_miss",
        at(
            "off_eof_star_miss",
            70,
            &cat(&[b"OFFSTAR1", &gap(10), b"OFFSTAR2"]),
            15,
        ),
        &[],
    );
    g.sig(
        ndb,
        format!("Diff.Off.ClassStart:0:20:(W){}", hex(b"OFFCLASS")),
    );
    g.case(
        "off_class_hit",
        at("off_class_hit", 19, b" OFFCLASS", 60),
        &["Diff.Off.ClassStart"],
    );

    check(".ndb offsets", &g);
}

// ---------------------------------------------------------------------------------
// Target types
// ---------------------------------------------------------------------------------

#[test]
fn target_types() {
    let mut g = Group::default();
    let payload = b"TGTPEMARK1 TGTANYMARK1 TGTLDBMARK1";
    g.sig(
        "t.ndb",
        format!("Diff.Target.PeNdb:1:*:{}", hex(b"TGTPEMARK1")),
    );
    g.sig(
        "t.ndb",
        format!("Diff.Target.AnyNdb:0:*:{}", hex(b"TGTANYMARK1")),
    );
    g.sig(
        "t.ldb",
        format!(
            "Diff.Target.PeLdb;Engine:51-255,Target:1;0;{}",
            hex(b"TGTLDBMARK1")
        ),
    );
    let all = [
        "Diff.Target.PeNdb",
        "Diff.Target.AnyNdb",
        "Diff.Target.PeLdb",
    ];
    g.case("target_pe_file", pe_file(payload), &all);
    g.case(
        "target_not_pe",
        wrap("target_not_pe", 300, payload, 100),
        &["Diff.Target.AnyNdb"],
    );
    // "MZ" without a PE header: ClamAV types it as an MS executable by its magic.
    let mut mz = wrap("target_mz_without_pe_header", 300, payload, 100);
    mz[..2].copy_from_slice(b"MZ");
    g.case("target_mz_without_pe_header", mz, &all);

    // Types recognised by magic bytes: a target-N signature per type, and files
    // that carry every marker behind one magic.
    let types = [2u8, 5, 6, 9, 10, 11, 12];
    let marker = |t: u8| format!("TGTTYPE{t:02}X");
    for t in types {
        g.sig(
            "t.ndb",
            format!("Diff.Target.Type{t}:{t}:*:{}", hex(marker(t).as_bytes())),
        );
    }
    let markers: Vec<u8> = types
        .iter()
        .flat_map(|&t| format!(" {} ", marker(t)).into_bytes())
        .collect();
    let typed: &[(&str, &[u8], u8)] = &[
        ("target_ole2", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 2),
        ("target_png", b"\x89PNG\r\n\x1a\n", 5),
        ("target_gif", b"GIF89a", 5),
        ("target_jpeg", b"\xff\xd8\xff\xe0", 5),
        ("target_bmp", b"BM", 5),
        ("target_tiff", b"II*\0", 5),
        ("target_elf", b"\x7fELF\x02\x01\x01", 6),
        ("target_macho64", b"\xcf\xfa\xed\xfe", 9),
        ("target_macho32", b"\xfe\xed\xfa\xce", 9),
        ("target_macho_fat", b"\xca\xfe\xba\xbe\0\0\0\x02", 9),
        ("target_pdf", b"%PDF-1.4\n", 10),
        ("target_swf", b"FWS\x0a", 11),
        ("target_java_class", b"\xca\xfe\xba\xbe\0\0\0\x34", 12),
    ];
    for (name, magic, t) in typed {
        let expect = format!("Diff.Target.Type{t}");
        g.case(
            name,
            cat(&[magic, &noise(200, seed_of(name)), &markers, &noise(100, 1)]),
            &[expect.as_str()],
        );
    }
    g.case(
        "target_untyped",
        cat(&[&noise(200, 2), &markers, &noise(100, 3)]),
        &[],
    );
    // "%PDF-" not at the start: ClamAV looks for it in the first 1021 bytes only.
    for (at, hit) in [(500, true), (1016, true), (1019, false), (1100, false)] {
        let name = format!("target_pdf_magic_at{at}");
        g.case(
            &name,
            cat(&[
                &noise(at, seed_of(&name)),
                b"%PDF-1.4\n",
                &markers,
                &noise(100, 4),
            ]),
            if hit { &["Diff.Target.Type10"] } else { &[] },
        );
    }
    // A file that is only "BM" and a marker (no room for a BMP header).
    g.sig(
        "t.ndb",
        format!("Diff.Target.ShortBmp:5:*:{}", hex(b"TGTBM")),
    );
    g.case(
        "target_bmp_7_bytes",
        b"BMTGTBM".to_vec(),
        &["Diff.Target.ShortBmp"],
    );
    check("target types", &g);
}

// ---------------------------------------------------------------------------------
// .ldb logical signatures
// ---------------------------------------------------------------------------------

/// A file with the given markers, each separated by random bytes.
fn ldb_file(label: &str, markers: &[&[u8]]) -> Vec<u8> {
    let mut v = noise(60, seed_of(label));
    for (i, m) in markers.iter().enumerate() {
        v.extend_from_slice(m);
        let mut sep = noise(21, seed_of(label) ^ (i as u64 + 1));
        sep.remove(0);
        v.extend_from_slice(&sep);
    }
    v
}

#[test]
fn ldb_logic() {
    let mut g = Group::default();
    let ldb = "t.ldb";
    let add = |g: &mut Group, name: &str, expr: &str, subs: &[&[u8]]| {
        let subs: Vec<String> = subs.iter().map(|s| hex(s)).collect();
        g.sig(ldb, format!("{name};Target:0;{expr};{}", subs.join(";")));
    };
    let (a, b): (&[u8], &[u8]) = (b"LGCAND_A", b"LGCAND_B");

    add(&mut g, "Diff.Ldb.And", "0&1", &[a, b]);
    g.case(
        "ldb_and_both",
        ldb_file("ldb_and_both", &[a, b]),
        &["Diff.Ldb.And"],
    );
    g.case(
        "ldb_and_reversed",
        ldb_file("ldb_and_reversed", &[b, a]),
        &["Diff.Ldb.And"],
    );
    g.case("ldb_and_one", ldb_file("ldb_and_one", &[a]), &[]);

    let (a, b): (&[u8], &[u8]) = (b"LGCOR_A", b"LGCOR_B");
    add(&mut g, "Diff.Ldb.Or", "0|1", &[a, b]);
    g.case(
        "ldb_or_first",
        ldb_file("ldb_or_first", &[a]),
        &["Diff.Ldb.Or"],
    );
    g.case(
        "ldb_or_second",
        ldb_file("ldb_or_second", &[b]),
        &["Diff.Ldb.Or"],
    );
    g.case("ldb_or_none", ldb_file("ldb_or_none", &[b"LGCOR_C"]), &[]);

    let (a, b, c): (&[u8], &[u8], &[u8]) = (b"LGCPAR_A", b"LGCPAR_B", b"LGCPAR_C");
    add(&mut g, "Diff.Ldb.Paren", "(0|1)&2", &[a, b, c]);
    g.case(
        "ldb_paren_b_c",
        ldb_file("ldb_paren_b_c", &[b, c]),
        &["Diff.Ldb.Paren"],
    );
    g.case("ldb_paren_a_b", ldb_file("ldb_paren_a_b", &[a, b]), &[]);
    g.case("ldb_paren_c", ldb_file("ldb_paren_c", &[c]), &[]);

    let (a, b, c, d): (&[u8], &[u8], &[u8], &[u8]) =
        (b"LGCNEST_A", b"LGCNEST_B", b"LGCNEST_C", b"LGCNEST_D");
    add(
        &mut g,
        "Diff.Ldb.Nested",
        "((0&1)|(2&3))&(0|3)",
        &[a, b, c, d],
    );
    g.case(
        "ldb_nested_ab",
        ldb_file("ldb_nested_ab", &[a, b]),
        &["Diff.Ldb.Nested"],
    );
    g.case(
        "ldb_nested_cd",
        ldb_file("ldb_nested_cd", &[c, d]),
        &["Diff.Ldb.Nested"],
    );
    g.case("ldb_nested_bc", ldb_file("ldb_nested_bc", &[b, c]), &[]);

    // Counts on one subsignature.
    let a: &[u8] = b"LGCEQ2_A";
    add(&mut g, "Diff.Ldb.Eq2", "0=2", &[a]);
    g.case(
        "ldb_eq2_two",
        ldb_file("ldb_eq2_two", &[a, a]),
        &["Diff.Ldb.Eq2"],
    );
    g.case("ldb_eq2_one", ldb_file("ldb_eq2_one", &[a]), &[]);
    g.case("ldb_eq2_three", ldb_file("ldb_eq2_three", &[a, a, a]), &[]);

    let (a, b): (&[u8], &[u8]) = (b"LGCEQ0_A", b"LGCEQ0_B");
    add(&mut g, "Diff.Ldb.Eq0", "0&1=0", &[a, b]);
    g.case(
        "ldb_eq0_without",
        ldb_file("ldb_eq0_without", &[a]),
        &["Diff.Ldb.Eq0"],
    );
    g.case("ldb_eq0_with", ldb_file("ldb_eq0_with", &[a, b]), &[]);

    let a: &[u8] = b"LGCGT2_A";
    add(&mut g, "Diff.Ldb.Gt2", "0>2", &[a]);
    g.case(
        "ldb_gt2_three",
        ldb_file("ldb_gt2_three", &[a, a, a]),
        &["Diff.Ldb.Gt2"],
    );
    g.case("ldb_gt2_two", ldb_file("ldb_gt2_two", &[a, a]), &[]);

    let (a, b): (&[u8], &[u8]) = (b"LGCLT2_A", b"LGCLT2_B");
    add(&mut g, "Diff.Ldb.Lt2", "0&1<2", &[a, b]);
    g.case(
        "ldb_lt2_one",
        ldb_file("ldb_lt2_one", &[a, b]),
        &["Diff.Ldb.Lt2"],
    );
    g.case(
        "ldb_lt2_zero",
        ldb_file("ldb_lt2_zero", &[a]),
        &["Diff.Ldb.Lt2"],
    );
    g.case("ldb_lt2_two", ldb_file("ldb_lt2_two", &[a, b, b]), &[]);

    // Counts on groups, with the distinct-subsignature part.
    let (a, b, c): (&[u8], &[u8], &[u8]) = (b"LGCGXY_A", b"LGCGXY_B", b"LGCGXY_C");
    add(&mut g, "Diff.Ldb.GroupGtXY", "(0|1|2)>2,2", &[a, b, c]);
    g.case(
        "ldb_group_gt_xy_hit",
        ldb_file("ldb_group_gt_xy_hit", &[a, b, a]),
        &["Diff.Ldb.GroupGtXY"],
    );
    g.case(
        "ldb_group_gt_xy_one_sub",
        ldb_file("ldb_group_gt_xy_one_sub", &[a, a, a, a]),
        &[],
    );
    g.case(
        "ldb_group_gt_xy_too_few",
        ldb_file("ldb_group_gt_xy_too_few", &[a, c]),
        &[],
    );

    let (a, b): (&[u8], &[u8]) = (b"LGCGEQ_A", b"LGCGEQ_B");
    add(&mut g, "Diff.Ldb.GroupEqXY", "(0|1)=2,2", &[a, b]);
    g.case(
        "ldb_group_eq_xy_hit",
        ldb_file("ldb_group_eq_xy_hit", &[a, b]),
        &["Diff.Ldb.GroupEqXY"],
    );
    g.case(
        "ldb_group_eq_xy_same",
        ldb_file("ldb_group_eq_xy_same", &[a, a]),
        &[],
    );
    g.case(
        "ldb_group_eq_xy_three",
        ldb_file("ldb_group_eq_xy_three", &[a, b, b]),
        &[],
    );

    let (a, b, c): (&[u8], &[u8], &[u8]) = (b"LGCGGT_A", b"LGCGGT_B", b"LGCGGT_C");
    add(&mut g, "Diff.Ldb.GroupGt", "(0|1)>1&2", &[a, b, c]);
    g.case(
        "ldb_group_gt_hit",
        ldb_file("ldb_group_gt_hit", &[a, a, c]),
        &["Diff.Ldb.GroupGt"],
    );
    g.case(
        "ldb_group_gt_low",
        ldb_file("ldb_group_gt_low", &[b, c]),
        &[],
    );

    let (a, b, c): (&[u8], &[u8], &[u8]) = (b"LGCGLT_A", b"LGCGLT_B", b"LGCGLT_C");
    add(&mut g, "Diff.Ldb.GroupLt", "(0|1)<3&2", &[a, b, c]);
    g.case(
        "ldb_group_lt_two",
        ldb_file("ldb_group_lt_two", &[a, b, c]),
        &["Diff.Ldb.GroupLt"],
    );
    g.case(
        "ldb_group_lt_none",
        ldb_file("ldb_group_lt_none", &[c]),
        &["Diff.Ldb.GroupLt"],
    );
    g.case(
        "ldb_group_lt_three",
        ldb_file("ldb_group_lt_three", &[a, b, a, c]),
        &[],
    );

    // The example from the ClamAV documentation.
    let (a, b, c, d): (&[u8], &[u8], &[u8], &[u8]) = (b"koteko", b"ala", b"zolw", b"stefan");
    add(
        &mut g,
        "Diff.Ldb.DocExample",
        "((0|1|2)>5,2)&(3|1)",
        &[a, b, c, d],
    );
    g.case(
        "ldb_doc_example_hit",
        ldb_file("ldb_doc_example_hit", &[a, a, a, a, c, c, d]),
        &["Diff.Ldb.DocExample"],
    );
    g.case(
        "ldb_doc_example_one_kind",
        ldb_file("ldb_doc_example_one_kind", &[a, a, a, a, a, a, d]),
        &[],
    );

    // Overlapping matches of one subsignature each count.
    let a: &[u8] = b"zyzy";
    add(&mut g, "Diff.Ldb.Overlap3", "0=3", &[a]);
    g.case(
        "ldb_overlap_three",
        ldb_file("ldb_overlap_three", &[b"zyzyzyzy"]),
        &["Diff.Ldb.Overlap3"],
    );
    g.case(
        "ldb_overlap_two",
        ldb_file("ldb_overlap_two", &[b"zyzyzy"]),
        &[],
    );

    // Two logical signatures sharing a subsignature, with different counts; an
    // .ndb body equal to it, at a fixed offset and anywhere.
    let a: &[u8] = b"LGCSHARED";
    add(&mut g, "Diff.Ldb.SharedTwice", "0>1", &[a]);
    add(&mut g, "Diff.Ldb.SharedOnce", "0=1", &[a]);
    g.sig("t.ndb", format!("Diff.Ldb.SharedNdbAt0:0:0:{}", hex(a)));
    g.sig("t.ndb", format!("Diff.Ldb.SharedNdbAny:0:*:{}", hex(a)));
    g.case(
        "ldb_shared_twice",
        ldb_file("ldb_shared_twice", &[a, a]),
        &["Diff.Ldb.SharedTwice", "Diff.Ldb.SharedNdbAny"],
    );
    g.case(
        "ldb_shared_once_at0",
        cat(&[a, &noise(50, 30)]),
        &[
            "Diff.Ldb.SharedOnce",
            "Diff.Ldb.SharedNdbAt0",
            "Diff.Ldb.SharedNdbAny",
        ],
    );

    // Subsignature offsets.
    let off = format!(
        "Diff.Ldb.Offsets;Target:0;0&1&2;0:{};EOF-30:{};40,10:{}",
        hex(b"LGCOFF_A"),
        hex(b"LGCOFF_B"),
        hex(b"LGCOFF_C")
    );
    g.sig(ldb, off);
    let off_file = |label: &str, c_at: usize, b_back: usize| {
        let mut v = b"LGCOFF_A".to_vec();
        v.extend_from_slice(&noise(c_at - 8, seed_of(label)));
        v.extend_from_slice(b"LGCOFF_C");
        v.extend_from_slice(&noise(60, seed_of(label) ^ 1));
        v.extend_from_slice(b"LGCOFF_B");
        v.extend_from_slice(&noise(b_back - 8, seed_of(label) ^ 2));
        v
    };
    g.case(
        "ldb_offsets_hit",
        off_file("ldb_offsets_hit", 40, 30),
        &["Diff.Ldb.Offsets"],
    );
    g.case(
        "ldb_offsets_shifted",
        off_file("ldb_offsets_shifted", 50, 30),
        &["Diff.Ldb.Offsets"],
    );
    g.case(
        "ldb_offsets_c_late",
        off_file("ldb_offsets_c_late", 51, 30),
        &[],
    );
    g.case(
        "ldb_offsets_b_early",
        off_file("ldb_offsets_b_early", 40, 31),
        &[],
    );

    // Subsignatures with body syntax.
    g.sig(
        ldb,
        format!(
            "Diff.Ldb.Bodies;Target:0;0&1;{}*{};{}(61|62)??{}",
            hex(b"LGCBODY1"),
            hex(b"LGCBODY2"),
            hex(b"LGCBODY3"),
            hex(b"ZZ")
        ),
    );
    g.case(
        "ldb_bodies_hit",
        ldb_file(
            "ldb_bodies_hit",
            &[b"LGCBODY1", b"LGCBODY2", b"LGCBODY3b!ZZ"],
        ),
        &["Diff.Ldb.Bodies"],
    );
    g.case(
        "ldb_bodies_miss",
        ldb_file(
            "ldb_bodies_miss",
            &[b"LGCBODY1", b"LGCBODY2", b"LGCBODY3c!ZZ"],
        ),
        &[],
    );

    check(".ldb logic", &g);
}

/// Expressions that are true when nothing matched (`=0`, `<X`): ClamAV evaluates
/// every logical signature for every file, so these fire on files that contain none
/// of their subsignatures. Their own group, since they fire on every file.
#[test]
fn ldb_true_without_matches() {
    let mut g = Group::default();
    let ldb = "t.ldb";
    g.sig(
        ldb,
        format!(
            "Diff.Empty.NoneOf;Target:0;(0|1)=0;{};{}",
            hex(b"LEMPTYA1"),
            hex(b"LEMPTYB1")
        ),
    );
    g.sig(
        ldb,
        format!("Diff.Empty.LessThanOne;Target:0;0<1;{}", hex(b"LEMPTYC1")),
    );
    g.sig(
        ldb,
        format!(
            "Diff.Empty.NotOr;Target:0;0=0|1;{};{}",
            hex(b"LEMPTYD1"),
            hex(b"LEMPTYD2")
        ),
    );
    g.sig(
        ldb,
        format!(
            "Diff.Empty.SizedNoneOf;Engine:51-255,Target:0,FileSize:100-200;0=0;{}",
            hex(b"LEMPTYE1")
        ),
    );
    let all = [
        "Diff.Empty.NoneOf",
        "Diff.Empty.LessThanOne",
        "Diff.Empty.NotOr",
    ];
    g.case("empty_nothing", wrap("empty_nothing", 150, b"", 150), &all);
    g.case(
        "empty_nothing_sized",
        wrap("empty_nothing_sized", 50, b"", 100),
        &[
            "Diff.Empty.NoneOf",
            "Diff.Empty.LessThanOne",
            "Diff.Empty.NotOr",
            "Diff.Empty.SizedNoneOf",
        ],
    );
    g.embedded(
        "empty_with_a",
        b"LEMPTYA1",
        &["Diff.Empty.LessThanOne", "Diff.Empty.NotOr"],
    );
    g.embedded(
        "empty_with_c",
        b"LEMPTYC1",
        &["Diff.Empty.NoneOf", "Diff.Empty.NotOr"],
    );
    g.embedded(
        "empty_with_d1",
        b"LEMPTYD1",
        &["Diff.Empty.NoneOf", "Diff.Empty.LessThanOne"],
    );
    check(".ldb true without matches", &g);
}

#[test]
fn ldb_modifiers_and_tdb() {
    let mut g = Group::default();
    let ldb = "t.ldb";
    let e81 = "Engine:81-255,Target:0";

    // ::i nocase.
    g.sig(
        ldb,
        format!("Diff.Mod.Nocase;{e81};0;{}::i", hex(b"lgcnocase1")),
    );
    g.embedded("mod_i_mixed", b"LgCnOcAsE1", &["Diff.Mod.Nocase"]);
    g.embedded("mod_i_exact", b"lgcnocase1", &["Diff.Mod.Nocase"]);
    g.embedded("mod_i_other", b"LgCnOcAsE2", &[]);

    // ::w wide only; ::wa wide and ascii.
    g.sig(
        ldb,
        format!("Diff.Mod.Wide;{e81};0;{}::w", hex(b"LGCWIDE1")),
    );
    g.embedded("mod_w_wide", &wide(b"LGCWIDE1"), &["Diff.Mod.Wide"]);
    g.embedded("mod_w_ascii", b"LGCWIDE1", &[]);
    g.sig(
        ldb,
        format!("Diff.Mod.WideAscii;{e81};0;{}::wa", hex(b"LGCWIDEA")),
    );
    g.embedded("mod_wa_wide", &wide(b"LGCWIDEA"), &["Diff.Mod.WideAscii"]);
    g.embedded("mod_wa_ascii", b"LGCWIDEA", &["Diff.Mod.WideAscii"]);
    g.embedded("mod_wa_neither", b"LGCWIDE_", &[]);

    // ::iw wide, any case.
    g.sig(
        ldb,
        format!("Diff.Mod.WideNocase;{e81};0;{}::iw", hex(b"lgcwidei")),
    );
    g.embedded("mod_iw_hit", &wide(b"LGCWideI"), &["Diff.Mod.WideNocase"]);

    // ::f fullword: non-alphanumeric bytes or the file boundary on both sides.
    g.sig(ldb, format!("Diff.Mod.Full;{e81};0;{}::f", hex(b"LGCFULL")));
    let full: &[(&str, &[u8], &[&str])] = &[
        ("mod_f_spaces", b" LGCFULL ", &["Diff.Mod.Full"]),
        ("mod_f_underscore", b"_LGCFULL_", &["Diff.Mod.Full"]),
        ("mod_f_high_bytes", b"\xe9LGCFULL\xe9", &["Diff.Mod.Full"]),
        ("mod_f_letter_before", b"aLGCFULL ", &[]),
        ("mod_f_digit_after", b" LGCFULL7", &[]),
    ];
    for (name, middle, expect) in full {
        g.embedded(name, middle, expect);
    }
    g.case(
        "mod_f_bof",
        cat(&[b"LGCFULL ", &noise(40, 9)]),
        &["Diff.Mod.Full"],
    );
    g.case(
        "mod_f_eof",
        cat(&[&noise(40, 10), b" LGCFULL"]),
        &["Diff.Mod.Full"],
    );
    g.sig(
        ldb,
        format!("Diff.Mod.FullNocase;{e81};0;{}::fi", hex(b"lgcfulli")),
    );
    g.embedded("mod_fi_hit", b" LgcFullI ", &["Diff.Mod.FullNocase"]);
    g.embedded("mod_fi_miss", b"xLgcFullI ", &[]);

    // ::fw: for wide matches ClamAV looks at the neighbouring *wide* character.
    g.sig(
        ldb,
        format!("Diff.Mod.FullWide;{e81};0;{}::fw", hex(b"LGCFULW")),
    );
    g.embedded(
        "mod_fw_wide_spaces",
        &wide(b" LGCFULW "),
        &["Diff.Mod.FullWide"],
    );
    g.embedded("mod_fw_wide_letter_before", &wide(b"aLGCFULW "), &[]);
    g.embedded("mod_fw_wide_letter_after", &wide(b" LGCFULWa"), &[]);
    g.embedded(
        "mod_fw_ascii_letter_before",
        &cat(&[b"\x01z", &wide(b"LGCFULW ")]),
        &["Diff.Mod.FullWide"],
    );

    // Target, FileSize and Engine in the target description block.
    g.sig(
        ldb,
        format!(
            "Diff.Tdb.Target0;Engine:51-255,Target:0;0;{}",
            hex(b"LGCTARGET0")
        ),
    );
    g.embedded("tdb_target0", b"LGCTARGET0", &["Diff.Tdb.Target0"]);
    g.sig(
        ldb,
        format!(
            "Diff.Tdb.FileSize;Engine:51-255,Target:0,FileSize:200-300;0;{}",
            hex(b"LGCFSIZE")
        ),
    );
    for (len, hit) in [(200, true), (300, true), (199, false), (301, false)] {
        let name = format!("tdb_filesize_200to300_len{len}");
        g.case(
            &name,
            wrap(&name, 50, b"LGCFSIZE", len - 58),
            if hit { &["Diff.Tdb.FileSize"] } else { &[] },
        );
    }
    g.sig(
        ldb,
        format!(
            "Diff.Tdb.Engine;Engine:81-255,Target:0;0;{}",
            hex(b"LGCENGINE")
        ),
    );
    g.sig(
        ldb,
        format!(
            "Diff.Tdb.EngineFuture;Engine:250-255,Target:0;0;{}",
            hex(b"LGCENGINE")
        ),
    );
    g.sig(
        ldb,
        format!(
            "Diff.Tdb.EngineOld;Engine:20-60,Target:0;0;{}",
            hex(b"LGCENGINE")
        ),
    );
    g.embedded("tdb_engine", b"LGCENGINE", &["Diff.Tdb.Engine"]);

    // ::a alone is the plain (ascii) form.
    g.sig(
        ldb,
        format!("Diff.Mod.Ascii;{e81};0;{}::a", hex(b"LGCASCII")),
    );
    g.embedded("mod_a_ascii", b"LGCASCII", &["Diff.Mod.Ascii"]);
    g.embedded("mod_a_wide", &wide(b"LGCASCII"), &[]);

    // ::i also applies inside alternatives, and only to ASCII letters.
    g.sig(
        ldb,
        format!(
            "Diff.Mod.NocaseAlt;{e81};0;{}(61|62){}::i",
            hex(b"lgc"),
            hex(b"noc")
        ),
    );
    g.embedded("mod_i_alt_upper", b"LGCBNOC", &["Diff.Mod.NocaseAlt"]);
    g.embedded("mod_i_alt_lower", b"lgcanoc", &["Diff.Mod.NocaseAlt"]);
    g.embedded("mod_i_alt_other", b"LGCCNOC", &[]);
    g.sig(
        ldb,
        format!("Diff.Mod.NocaseHigh;{e81};0;{}e9::i", hex(b"lgchigh")),
    );
    g.embedded("mod_i_high_same", b"LGCHIGH\xe9", &["Diff.Mod.NocaseHigh"]);
    g.embedded("mod_i_high_latin1_case", b"lgchigh\xc9", &[]);

    // ::w with gaps and alternatives: ClamAV widens the bytes, not the gaps.
    g.sig(
        ldb,
        format!(
            "Diff.Mod.WideGap;{e81};0;{}{{3}}{}::w",
            hex(b"LGCWG1"),
            hex(b"LGCWG2")
        ),
    );
    g.embedded(
        "mod_w_gap_3_bytes",
        &cat(&[&wide(b"LGCWG1"), &gap(3), &wide(b"LGCWG2")]),
        &["Diff.Mod.WideGap"],
    );
    g.embedded(
        "mod_w_gap_6_bytes",
        &cat(&[&wide(b"LGCWG1"), &gap(6), &wide(b"LGCWG2")]),
        &[],
    );
    g.sig(
        ldb,
        format!(
            "Diff.Mod.WideStar;{e81};0;{}*{}::w",
            hex(b"LGCWS1"),
            hex(b"LGCWS2")
        ),
    );
    g.embedded(
        "mod_w_star",
        &cat(&[&wide(b"LGCWS1"), &gap(33), &wide(b"LGCWS2")]),
        &["Diff.Mod.WideStar"],
    );
    g.sig(
        ldb,
        format!(
            "Diff.Mod.WideAlt;{e81};0;{}(61|62){}::w",
            hex(b"LGCWA1"),
            hex(b"LGCWA2")
        ),
    );
    g.embedded(
        "mod_w_alt_wide",
        &wide(b"LGCWA1bLGCWA2"),
        &["Diff.Mod.WideAlt"],
    );
    g.embedded(
        "mod_w_alt_narrow",
        &cat(&[&wide(b"LGCWA1"), b"b", &wide(b"LGCWA2")]),
        &[],
    );

    g.embedded("mod_clean", b"LGC nothing", &[]);
    check(".ldb modifiers and TDB", &g);
}

// ---------------------------------------------------------------------------------
// Files larger than ClamAV's scan buffer (128 KiB)
// ---------------------------------------------------------------------------------

#[test]
fn large_files() {
    const CHUNK: usize = 128 * 1024;
    const LEN: usize = 300 * 1024;
    let big = |label: &str, puts: &[(usize, &[u8])]| {
        let mut v = noise(LEN, seed_of(label));
        for (at, m) in puts {
            v[*at..*at + m.len()].copy_from_slice(m);
        }
        v
    };
    let mut g = Group::default();
    let ndb = "t.ndb";
    g.sig(
        ndb,
        format!("Diff.Big.Literal:0:*:{}", hex(b"BIGSTRADDLE1")),
    );
    for at in [CHUNK - 12, CHUNK - 6, CHUNK + 1, 2 * CHUNK - 6, LEN - 12] {
        let name = format!("big_literal_at{at}");
        g.case(
            &name,
            big(&name, &[(at, b"BIGSTRADDLE1")]),
            &["Diff.Big.Literal"],
        );
    }
    g.sig(
        ndb,
        format!(
            "Diff.Big.Gap:0:*:{}{{10-20}}{}",
            hex(b"BIGGAP01"),
            hex(b"BIGGAP02")
        ),
    );
    g.case(
        "big_gap_across_chunks",
        big(
            "big_gap_across_chunks",
            &[(CHUNK - 12, b"BIGGAP01"), (CHUNK + 11, b"BIGGAP02")],
        ),
        &["Diff.Big.Gap"],
    );
    g.case(
        "big_gap_too_wide",
        big(
            "big_gap_too_wide",
            &[(CHUNK - 12, b"BIGGAP01"), (CHUNK + 17, b"BIGGAP02")],
        ),
        &[],
    );
    g.sig(
        ndb,
        format!(
            "Diff.Big.Star:0:*:{}*{}",
            hex(b"BIGSTAR1"),
            hex(b"BIGSTAR2")
        ),
    );
    g.case(
        "big_star_far_apart",
        big(
            "big_star_far_apart",
            &[(1000, b"BIGSTAR1"), (290_000, b"BIGSTAR2")],
        ),
        &["Diff.Big.Star"],
    );
    g.sig(ndb, format!("Diff.Big.Eof:0:EOF-100:{}", hex(b"BIGEOF01")));
    g.case(
        "big_eof_hit",
        big("big_eof_hit", &[(LEN - 100, b"BIGEOF01")]),
        &["Diff.Big.Eof"],
    );
    g.case(
        "big_eof_miss",
        big("big_eof_miss", &[(LEN - 101, b"BIGEOF01")]),
        &[],
    );
    g.sig(ndb, format!("Diff.Big.Abs:0:200000,4:{}", hex(b"BIGABS01")));
    g.case(
        "big_abs_hit",
        big("big_abs_hit", &[(200_004, b"BIGABS01")]),
        &["Diff.Big.Abs"],
    );
    g.case(
        "big_abs_miss",
        big("big_abs_miss", &[(200_005, b"BIGABS01")]),
        &[],
    );
    // A right-side class just past the first chunk. (Not tested: a match ending
    // exactly at offset 131072, where clamscan takes the chunk end for the end of the
    // file and accepts `(B)`, `(L)` and `(W)` whatever the next byte is.)
    g.sig(ndb, format!("Diff.Big.BEnd:0:*:{}(B)", hex(b"BIGBEND1")));
    g.case(
        "big_bend_after_chunk_hit",
        big("big_bend_after_chunk_hit", &[(CHUNK - 7, b"BIGBEND1 ")]),
        &["Diff.Big.BEnd"],
    );
    g.case(
        "big_bend_after_chunk_miss",
        big("big_bend_after_chunk_miss", &[(CHUNK - 7, b"BIGBEND1a")]),
        &[],
    );
    g.sig(
        "t.ldb",
        format!(
            "Diff.Big.Ldb;Target:0;0>1&1;{};EOF-10:{}",
            hex(b"BIGLDB01"),
            hex(b"BIGLDB02")
        ),
    );
    g.case(
        "big_ldb_hit",
        big(
            "big_ldb_hit",
            &[
                (10, b"BIGLDB01"),
                (CHUNK - 3, b"BIGLDB01"),
                (LEN - 10, b"BIGLDB02"),
            ],
        ),
        &["Diff.Big.Ldb"],
    );
    g.case(
        "big_ldb_once",
        big(
            "big_ldb_once",
            &[(CHUNK - 3, b"BIGLDB01"), (LEN - 10, b"BIGLDB02")],
        ),
        &[],
    );
    let hashed = big("big_md5", &[]);
    g.sig(
        "t.hdb",
        format!("{}:{}:Diff.Big.Md5", md5_hex(&hashed), hashed.len()),
    );
    g.case("big_md5", hashed, &["Diff.Big.Md5"]);
    check("large files", &g);
}

// ---------------------------------------------------------------------------------
// Text normalization (a known difference: ringscan has no normalizer yet)
// ---------------------------------------------------------------------------------

/// ClamAV matches target-0 signatures a second time on normalized text (lower case,
/// whitespace folded), for ASCII files and for UTF-16 data it converts first.
#[test]
fn text_files_are_normalized() {
    let mut g = Group::default();
    g.sig(
        "t.ndb",
        format!("Diff.Text.Lower:0:*:{}", hex(b"hello normalized world")),
    );
    g.case(
        "text_exact",
        b"Some text: hello normalized world.\n".to_vec(),
        &["Diff.Text.Lower"],
    );
    g.case(
        "text_upper_case",
        b"Some text: HELLO NORMALIZED WORLD.\n".to_vec(),
        &["Diff.Text.Lower"],
    );
    g.case(
        "text_extra_spaces",
        b"Some text: hello   normalized\t world.\n".to_vec(),
        &["Diff.Text.Lower"],
    );
    g.case(
        "text_utf16le_upper",
        wide(b"Some text: HELLO NORMALIZED WORLD.\n"),
        &["Diff.Text.Lower"],
    );
    g.case(
        "text_random_bytes_seen_as_utf16",
        cat(&[
            &random_bytes(100, 11),
            b"HELLO NORMALIZED WORLD",
            &random_bytes(100, 12),
        ]),
        // clamscan --debug: "Recognized UTF-16LE character data" for these bytes.
        &["Diff.Text.Lower"],
    );
    // Target 7 (ASCII text) sees only the normalized copy of text objects.
    g.sig(
        "t7.ndb",
        format!("Diff.Text.Target7:7:*:{}", hex(b"only in normalized text")),
    );
    g.sig(
        "t7o.ndb",
        format!(
            "Diff.Text.Target7Offset:7:0:{}",
            hex(b" starts after folding")
        ),
    );
    g.case(
        "text_target7_upper",
        b"ONLY   IN NORMALIZED TEXT\n".to_vec(),
        &["Diff.Text.Target7"],
    );
    g.case(
        "text_target7_not_in_binary_with_nul_pairs",
        cat(&[&[0xf7, 0, 0, 0, 0], b"only in normalized text".as_slice()]),
        &[],
    );
    g.case(
        "text_target7_offset_in_normalized_stream",
        b"\t\t  STARTS   AFTER folding\n".to_vec(),
        &["Diff.Text.Target7Offset"],
    );
    g.case(
        "text_target7_offset_elsewhere",
        b"x starts after folding\n".to_vec(),
        &[],
    );
    check("text normalization", &g);
}

// ---------------------------------------------------------------------------------
// A generated set (bench-corpus)
// ---------------------------------------------------------------------------------

#[test]
fn generated_corpus() {
    use bench_corpus::{
        corpus, hash_sources_from_dir, signatures, CorpusConfig, FileKind, SigConfig,
    };

    clamscan_available();
    let tmp = work_dir("generated corpus");
    let db = tmp.path.join("db");
    let files_dir = tmp.path.join("files");
    std::fs::create_dir_all(&db).unwrap();

    let mut sig_cfg = SigConfig {
        seed: 7,
        ndb: 500,
        hdb: 2000,
        ldb: 50,
        plant_share: 0.2,
        ..Default::default()
    };
    let plants = signatures(&sig_cfg).plants;
    let corpus_cfg = CorpusConfig {
        seed: 7,
        files: Some(200),
        min_size: 1024,
        max_size: 64 * 1024,
        plant_share: 0.4,
        eicar_share: 0.02,
        text_share: 0.4,
        zip_share: 0.1,
        ..Default::default()
    };
    let manifest = corpus(&corpus_cfg, &plants, &files_dir).unwrap();
    // Some .hdb lines become the real hashes of corpus files (the ndb/ldb sections
    // are drawn from their own streams, so the plants stay valid).
    // EICAR files are left out: their hash is already eicar.hdb's, and a hash listed
    // twice is reported under one name only (by both tools).
    let eicars: BTreeSet<&str> = manifest
        .entries
        .iter()
        .filter(|e| e.kind == FileKind::Eicar)
        .map(|e| e.file.as_str())
        .collect();
    sig_cfg.hash_sources = hash_sources_from_dir(&files_dir, 25, 7).unwrap();
    sig_cfg
        .hash_sources
        .retain(|h| !eicars.contains(h.file.as_str()));
    let set = signatures(&sig_cfg);
    assert_eq!(set.plants, plants, "plants changed with hash sources");
    std::fs::write(db.join("gen.ndb"), &set.ndb).unwrap();
    std::fs::write(db.join("gen.hdb"), &set.hdb).unwrap();
    std::fs::write(db.join("gen.ldb"), &set.ldb).unwrap();
    std::fs::write(
        db.join("eicar.hdb"),
        format!(
            "{}:{}:{}\n",
            bench_corpus::EICAR_MD5,
            bench_corpus::eicar().len(),
            bench_corpus::EICAR_NAME
        ),
    )
    .unwrap();

    let mut expected = Verdicts::new();
    for e in &manifest.entries {
        expected
            .entry(e.file.clone())
            .or_default()
            .extend(e.planted.iter().map(|n| format!("{n}.UNOFFICIAL")));
    }
    for h in &set.hash_hits {
        expected
            .get_mut(&h.file)
            .unwrap_or_else(|| panic!("hash hit for unknown file {}", h.file))
            .insert(format!("{}.UNOFFICIAL", h.name));
    }
    let files: Vec<PathBuf> = manifest
        .entries
        .iter()
        .map(|e| files_dir.join(&e.file))
        .collect();
    let planted = expected.values().filter(|s| !s.is_empty()).count();
    println!(
        "generated corpus: {} files ({planted} with expected detections), {} bytes",
        files.len(),
        manifest.total_bytes()
    );
    assert!(
        planted >= 40,
        "too few planted files ({planted}) to be useful"
    );
    let clam = clamscan(&db, &files);
    let ring = ringscan(&db, &tmp.path.join("cache"), &files);
    let dbs = BTreeMap::from([
        ("gen.ndb".to_string(), set.ndb.clone()),
        ("gen.hdb".to_string(), set.hdb.clone()),
        ("gen.ldb".to_string(), set.ldb.clone()),
    ]);
    compare("generated corpus", &dbs, &expected, &clam, &ring);
}
