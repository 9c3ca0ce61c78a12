//! Builders and a server for `tests/containers.rs`: every container is made in the
//! test from standard tools (`zip`, `7z`, `gcab`, `cpio`, `tar`, `gzip`, `bzip2`,
//! `xz`, `zstd`, Python's standard library) or, where a tool cannot do it (the same
//! compressed member reused 16 times in a bomb, an OLE2 VBA project), by a few lines
//! here following the format's specification.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::support::{eicar, instream, noise, EICAR_HDB};

/// A test's directory: the database (EICAR by hash, a random marker by `.ndb`) and
/// room for the files it builds.
pub struct Work {
    pub dir: tempfile::TempDir,
    /// The database directory (`test.hdb`, `marker.ndb`).
    pub db: PathBuf,
    /// The random marker bytes the `.ndb` signature `Test.Marker` matches anywhere.
    pub marker: Vec<u8>,
}

impl Work {
    pub fn new() -> Work {
        let dir = tempfile::Builder::new()
            .prefix("rs-containers-")
            .tempdir()
            .unwrap();
        let db = dir.path().join("db");
        fs::create_dir(&db).unwrap();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            ^ u64::from(std::process::id());
        // 16 random bytes; no NUL or newline, so text formats carry them unchanged
        // through quoted-printable and the like.
        let marker: Vec<u8> = noise(64, seed)
            .into_iter()
            .filter(|b| !matches!(b, 0 | b'\n' | b'\r'))
            .take(16)
            .collect();
        assert_eq!(marker.len(), 16);
        fs::write(db.join("test.hdb"), format!("{EICAR_HDB}\n")).unwrap();
        fs::write(
            db.join("marker.ndb"),
            format!("Test.Marker:0:*:{}\n", hex(&marker)),
        )
        .unwrap();
        Work { dir, db, marker }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A sub-directory (created).
    pub fn sub(&self, name: &str) -> PathBuf {
        let p = self.path().join(name);
        fs::create_dir_all(&p).unwrap();
        p
    }

    /// Text with the marker in the middle. Compressible, so that a compressing
    /// container does not carry the marker bytes as they are (zip and 7z store
    /// incompressible members raw, and the marker would be found without unpacking).
    pub fn marked(&self, seed: u64) -> Vec<u8> {
        let line = |i: u64| format!("line {i} of seed {seed}: the quick brown fox\n");
        let mut v: Vec<u8> = (0..40).flat_map(|i| line(i).into_bytes()).collect();
        v.extend_from_slice(&self.marker);
        v.extend((40..60).flat_map(|i| line(i).into_bytes()));
        v
    }
}

pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `data` at `dir/rel`, parents created.
pub fn put(dir: &Path, rel: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, data).unwrap();
    p
}

/// Runs a command (in `cwd`), panics with its output unless it succeeds; its stdout.
#[track_caller]
pub fn run(cwd: &Path, prog: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(prog)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e} (scripts/deps.sh --test)"));
    assert!(
        out.status.success(),
        "{prog} {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs a shell line in `cwd`.
#[track_caller]
pub fn sh(cwd: &Path, line: &str) -> Vec<u8> {
    run(cwd, "sh", &["-c", line])
}

/// Runs Python code with arguments.
#[track_caller]
pub fn python(cwd: &Path, code: &str, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["-c", code];
    all.extend_from_slice(args);
    run(cwd, "python3", &all)
}

/// Regular files below `dir`, relative, sorted.
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_str().unwrap().to_owned());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Container kinds built from a directory of members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Zip,
    Tar,
    TarGz,
    TarBz2,
    TarXz,
    TarZst,
    SevenZip,
    Cab,
    Cpio,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Zip,
        Kind::Tar,
        Kind::TarGz,
        Kind::TarBz2,
        Kind::TarXz,
        Kind::TarZst,
        Kind::SevenZip,
        Kind::Cab,
        Kind::Cpio,
    ];

    pub fn ext(self) -> &'static str {
        match self {
            Kind::Zip => "zip",
            Kind::Tar => "tar",
            Kind::TarGz => "tar.gz",
            Kind::TarBz2 => "tar.bz2",
            Kind::TarXz => "tar.xz",
            Kind::TarZst => "tar.zst",
            Kind::SevenZip => "7z",
            Kind::Cab => "cab",
            Kind::Cpio => "cpio",
        }
    }

    /// A compressed stream around a tar: one more object level (the stream's content,
    /// whatever name the decompressor gives it).
    pub fn compressed(self) -> bool {
        matches!(
            self,
            Kind::TarGz | Kind::TarBz2 | Kind::TarXz | Kind::TarZst
        )
    }

    /// Whether members may sit in folders (gcab stores flat names).
    pub fn folders(self) -> bool {
        self != Kind::Cab
    }

    /// Packs every file below `src` into `out` (absolute).
    pub fn pack(self, src: &Path, out: &Path) {
        let files = files_below(src);
        let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
        let o = out.to_str().unwrap();
        let _ = fs::remove_file(out);
        match self {
            Kind::Zip => {
                let mut a = vec!["-q", "-X", "-D", o];
                a.append(&mut args);
                run(src, "zip", &a);
            }
            Kind::Tar => {
                let mut a = vec!["-cf", o];
                a.append(&mut args);
                run(src, "tar", &a);
            }
            Kind::TarGz | Kind::TarBz2 | Kind::TarXz | Kind::TarZst => {
                let tar = format!("{o}.tmp.tar");
                let mut a = vec!["-cf", tar.as_str()];
                a.append(&mut args);
                run(src, "tar", &a);
                let tool = match self {
                    Kind::TarGz => "gzip -c -n",
                    Kind::TarBz2 => "bzip2 -c",
                    Kind::TarXz => "xz -c",
                    _ => "zstd -q -c",
                };
                sh(src, &format!("{tool} '{tar}' > '{o}' && rm '{tar}'"));
            }
            Kind::SevenZip => {
                let mut a = vec!["a", "-bd", "-bso0", "-y", o];
                a.append(&mut args);
                run(src, "7z", &a);
            }
            Kind::Cab => {
                let mut a = vec!["-c", "-z", o];
                a.append(&mut args);
                run(src, "gcab", &a);
            }
            Kind::Cpio => {
                let list: String = files.iter().map(|f| format!("{f}\n")).collect();
                let mut child = Command::new("cpio")
                    .args(["-o", "--quiet", "-H", "newc", "-O", o])
                    .current_dir(src)
                    .stdin(Stdio::piped())
                    .spawn()
                    .expect("cpio");
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(list.as_bytes())
                    .unwrap();
                assert!(child.wait().unwrap().success(), "cpio failed");
            }
        }
    }
}

/// What a sub-object must be: a detection of EICAR or of the marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    Eicar,
    Marker,
}

impl Want {
    pub fn matches(self, name: &str) -> bool {
        match self {
            Want::Eicar => name.starts_with("Win.Test.EICAR_HDB-1"),
            Want::Marker => name.starts_with("Test.Marker"),
        }
    }
}

/// Builds `levels` archives of `kind` nested in each other; at each level `plant(level)`
/// says whether it holds `eicar.com` and whether `marker.bin`. The top level keeps its members
/// in `dir/` (except cab), the levels below at their root. Returns the expected
/// detections: (sub-object path pattern, what), `*` standing for any one name (the
/// content of a compressed stream).
pub fn nested(
    w: &Work,
    kind: Kind,
    levels: usize,
    plant: &dyn Fn(usize) -> (bool, bool),
    out: &Path,
) -> Vec<(String, Want)> {
    let inner_name = format!("inner.{}", kind.ext());
    let stage = tempfile::tempdir_in(w.path()).unwrap();
    let mut expect = Vec::new();
    // Prefix of the sub-object paths of level `l`.
    let mut prefixes = Vec::new();
    let mut prefix = String::new();
    for l in 0..levels {
        if kind.compressed() {
            prefix += "*//";
        }
        prefixes.push(prefix.clone());
        let dir = if l == 0 && kind.folders() { "dir/" } else { "" };
        prefix += &format!("{dir}{inner_name}//");
    }
    // Build from the innermost out.
    let mut inner: Option<Vec<u8>> = None;
    for l in (0..levels).rev() {
        let src = stage.path().join(format!("l{l}"));
        fs::create_dir(&src).unwrap();
        let dir = if l == 0 && kind.folders() { "dir/" } else { "" };
        let (with_eicar, with_marker) = plant(l);
        if with_eicar {
            put(&src, "eicar.com", &eicar());
            expect.push((format!("{}eicar.com", prefixes[l]), Want::Eicar));
        }
        if with_marker {
            put(&src, &format!("{dir}marker.bin"), &w.marked(l as u64 * 10));
            expect.push((format!("{}{dir}marker.bin", prefixes[l]), Want::Marker));
        }
        put(
            &src,
            "clean.txt",
            format!("clean file at level {l}\n").as_bytes(),
        );
        if let Some(data) = inner.take() {
            put(&src, &format!("{dir}{inner_name}"), &data);
        }
        let packed = stage.path().join(format!("l{l}.{}", kind.ext()));
        kind.pack(&src, &packed);
        inner = Some(fs::read(&packed).unwrap());
    }
    fs::write(out, inner.unwrap()).unwrap();
    expect
}

/// Whether `path` matches `pattern`, where `*` is any run of characters within one
/// `//`-separated name and `**` any run at all.
pub fn glob(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        if let Some(rest) = p.strip_prefix(b"**") {
            return (0..=s.len()).any(|i| go(rest, &s[i..]));
        }
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => {
                let mut i = 0;
                loop {
                    if go(rest, &s[i..]) {
                        return true;
                    }
                    if i >= s.len() || s[i..].starts_with(b"//") {
                        return false;
                    }
                    i += 1;
                }
            }
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
}

// ---------------------------------------------------------------------------------
// A zip writer for what the `zip` tool cannot make: one compressed member reused many
// times (a 42.zip-style bomb), members in a given order with given bytes.

/// One zip member: its name, (stored or raw-deflated) bytes, CRC and size.
pub struct ZipEntry {
    pub name: String,
    pub method: u16,
    pub data: std::rc::Rc<Vec<u8>>,
    pub crc: u32,
    pub size: u64,
}

impl ZipEntry {
    pub fn stored(name: &str, data: Vec<u8>) -> ZipEntry {
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        ZipEntry {
            name: name.into(),
            method: 0,
            size: data.len() as u64,
            crc: crc.sum(),
            data: std::rc::Rc::new(data),
        }
    }

    pub fn deflated(name: &str, data: &[u8]) -> ZipEntry {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        ZipEntry {
            name: name.into(),
            method: 8,
            size: data.len() as u64,
            crc: crc.sum(),
            data: std::rc::Rc::new(e.finish().unwrap()),
        }
    }

    /// A deflated entry whose data is `prefix` (a stored block, so each copy differs)
    /// then this entry's data, whose CRC state is `crc`: the compressed bytes are
    /// shared, not redone.
    pub fn prefixed(&self, name: &str, prefix: &[u8], crc: &flate2::Crc) -> ZipEntry {
        assert_eq!(self.method, 8);
        let len = prefix.len() as u16;
        let mut data = vec![0u8]; // BFINAL 0, BTYPE 00 (stored), byte-aligned
        data.extend_from_slice(&len.to_le_bytes());
        data.extend_from_slice(&(!len).to_le_bytes());
        data.extend_from_slice(prefix);
        data.extend_from_slice(&self.data);
        let mut all = flate2::Crc::new();
        all.update(prefix);
        all.combine(crc);
        ZipEntry {
            name: name.into(),
            method: 8,
            data: std::rc::Rc::new(data),
            crc: all.sum(),
            size: self.size + prefix.len() as u64,
        }
    }

    /// The same bytes under another name.
    pub fn renamed(&self, name: &str) -> ZipEntry {
        ZipEntry {
            name: name.into(),
            method: self.method,
            data: self.data.clone(),
            crc: self.crc,
            size: self.size,
        }
    }
}

/// A zip archive of `entries` (sizes must fit 32 bits).
pub fn zip_of(entries: &[ZipEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = out.len() as u32;
        let csize = e.data.len() as u32;
        let usize_ = u32::try_from(e.size).expect("no zip64 here");
        let name = e.name.as_bytes();
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&e.method.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // time
            v.extend_from_slice(&0x21u16.to_le_bytes()); // date 1980-01-01
            v.extend_from_slice(&e.crc.to_le_bytes());
            v.extend_from_slice(&csize.to_le_bytes());
            v.extend_from_slice(&usize_.to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(b"PK\x03\x04");
        common(&mut out);
        out.extend_from_slice(name);
        out.extend_from_slice(&e.data);
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        common(&mut central);
        central.extend_from_slice(&[0; 6]); // comment len, disk, internal attrs
        central.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

// ---------------------------------------------------------------------------------
// OLE2: an Office VBA project (`vbaProject.bin`), made with the `cfb` crate, its `dir`
// stream and module written per MS-OVBA.

/// MS-OVBA compression (2.4.1) with literal tokens only: valid, if not small.
pub fn ovba_compress(data: &[u8]) -> Vec<u8> {
    let mut out = vec![1u8];
    for chunk in data.chunks(4096) {
        let mut body = Vec::new();
        for group in chunk.chunks(8) {
            body.push(0); // flag byte: 8 literals
            body.extend_from_slice(group);
        }
        let header: u16 = ((body.len() + 2 - 3) as u16 & 0x0fff) | 0b011 << 12 | 1 << 15;
        out.extend_from_slice(&header.to_le_bytes());
        out.extend_from_slice(&body);
    }
    out
}

fn rec(out: &mut Vec<u8>, id: u16, data: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

/// The decompressed `VBA/dir` stream of a project with one standard module.
fn vba_dir(module: &str) -> Vec<u8> {
    let mut d = Vec::new();
    rec(&mut d, 0x0001, &1u32.to_le_bytes()); // SYSKIND win32
    rec(&mut d, 0x0002, &0x409u32.to_le_bytes()); // LCID
    rec(&mut d, 0x0014, &0x409u32.to_le_bytes()); // LCIDINVOKE
    rec(&mut d, 0x0003, &1252u16.to_le_bytes()); // CODEPAGE
    rec(&mut d, 0x0004, b"VBAProject"); // NAME
    rec(&mut d, 0x0005, b""); // DOCSTRING
    rec(&mut d, 0x0040, b"");
    rec(&mut d, 0x0006, b""); // HELPFILEPATH
    rec(&mut d, 0x003d, b"");
    rec(&mut d, 0x0007, &0u32.to_le_bytes()); // HELPCONTEXT
    rec(&mut d, 0x0008, &0u32.to_le_bytes()); // LIBFLAGS
                                              // VERSION: Reserved = 4, then major (u32) and minor (u16) outside the size.
    d.extend_from_slice(&0x0009u16.to_le_bytes());
    d.extend_from_slice(&4u32.to_le_bytes());
    d.extend_from_slice(&1u32.to_le_bytes());
    d.extend_from_slice(&0u16.to_le_bytes());
    rec(&mut d, 0x000c, b""); // CONSTANTS
    rec(&mut d, 0x003c, b"");
    rec(&mut d, 0x000f, &1u16.to_le_bytes()); // MODULES: count
    rec(&mut d, 0x0013, &0xffffu16.to_le_bytes()); // PROJECTCOOKIE
    rec(&mut d, 0x0019, module.as_bytes()); // MODULENAME
    rec(&mut d, 0x0047, &utf16(module));
    rec(&mut d, 0x001a, module.as_bytes()); // MODULESTREAMNAME
    rec(&mut d, 0x0032, &utf16(module));
    rec(&mut d, 0x001c, b""); // MODULEDOCSTRING
    rec(&mut d, 0x0048, b"");
    rec(&mut d, 0x0031, &0u32.to_le_bytes()); // MODULEOFFSET
    rec(&mut d, 0x001e, &0u32.to_le_bytes()); // MODULEHELPCONTEXT
    rec(&mut d, 0x002c, &0xffffu16.to_le_bytes()); // MODULECOOKIE
    rec(&mut d, 0x0021, b""); // MODULETYPE procedural
    rec(&mut d, 0x002b, b""); // terminator
    rec(&mut d, 0x0010, b""); // end of dir
    d
}

/// An OLE2 file with the given streams (paths like `VBA/dir`), storages created.
pub fn ole2(streams: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut cf =
        cfb::CompoundFile::create_with_version(cfb::Version::V3, std::io::Cursor::new(Vec::new()))
            .unwrap();
    for (path, data) in streams {
        let p = Path::new("/").join(path);
        if let Some(parent) = p.parent() {
            if parent != Path::new("/") && !cf.exists(parent) {
                cf.create_storage_all(parent).unwrap();
            }
        }
        let mut s = cf.create_stream(&p).unwrap();
        s.write_all(data).unwrap();
    }
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

/// A `vbaProject.bin` with one module `Module1` holding `source`.
pub fn vba_project(source: &str) -> Vec<u8> {
    let module = "Module1";
    ole2(&[
        (
            "PROJECT",
            format!("ID=\"{{00000000-0000-0000-0000-000000000000}}\"\r\nModule={module}\r\nName=\"VBAProject\"\r\n")
                .into_bytes(),
        ),
        ("PROJECTwm", b"Module1\0M\0o\0d\0u\0l\0e\x001\0\0\0\0\0".to_vec()),
        ("VBA/_VBA_PROJECT", vec![0xcc, 0x61, 0xff, 0xff, 0x00, 0x00, 0x00]),
        ("VBA/dir", ovba_compress(&vba_dir(module))),
        (
            "VBA/Module1",
            ovba_compress(
                format!("Attribute VB_Name = \"{module}\"\r\n{source}").as_bytes(),
            ),
        ),
    ])
}

// ---------------------------------------------------------------------------------
// The server: `ringscan serve` with a clamd UNIX socket and a KAV HTTP UNIX socket,
// the test's database, and optional `[limits]` lines.

pub struct Server {
    pub dir: tempfile::TempDir,
    pub clamd: PathBuf,
    pub http: PathBuf,
    /// `http.scanning_paths`.
    pub root: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Server {
    pub fn start(db: &Path, limits: &[&str]) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("rs-ctsrv-")
            .tempdir()
            .unwrap();
        let base = dir.path();
        let clamd = base.join("clamd.sock");
        let http = base.join("http.sock");
        let root = base.join("root");
        fs::create_dir(&root).unwrap();
        let q = |p: &Path| format!("{:?}", p.to_str().unwrap());
        let mut t = format!(
            "[server]\ncores = 1\nunix_socket = {}\ntcp = \"\"\nlog = \"warn\"\n\
             [database]\npaths = [{}]\ncache = false\n\
             [http]\ntcp = \"\"\nunix_socket = {}\nscanning_paths = [{}]\n\
             [limits]\n",
            q(&clamd),
            q(db),
            q(&http),
            q(&root)
        );
        for l in limits {
            t += l;
            t += "\n";
        }
        let cfg = base.join("ringscan.toml");
        fs::write(&cfg, t).unwrap();
        let log = base.join("server.log");
        let logfile = fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ringscan"))
            .arg("serve")
            .arg("--config")
            .arg(&cfg)
            .env("RINGSCAN_CACHE_DIR", base.join("cache"))
            .stdin(Stdio::null())
            .stdout(logfile.try_clone().unwrap())
            .stderr(logfile)
            .spawn()
            .expect("run ringscan serve");
        let mut s = Server {
            dir,
            clamd,
            http,
            root,
            log,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = s.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("ringscan serve exited ({st}); log:\n{}", s.log());
            }
            if s.try_clamd(b"zPING\0").is_ok_and(|r| r == b"PONG\0")
                && UnixStream::connect(&s.http).is_ok()
            {
                return s;
            }
            assert!(Instant::now() < deadline, "no PONG in 60 s:\n{}", s.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// A line of `/proc/PID/status`, in KiB (`VmHWM`, `VmRSS`).
    pub fn mem_kib(&self, key: &str) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {status}"))
    }

    fn try_clamd(&self, req: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut c = UnixStream::connect(&self.clamd)?;
        c.set_read_timeout(Some(Duration::from_secs(30)))?;
        c.write_all(req)?;
        let mut out = Vec::new();
        c.read_to_end(&mut out)?;
        Ok(out)
    }

    /// One clamd request on a fresh connection; the whole reply.
    pub fn clamd(&self, req: &[u8]) -> String {
        let r = self
            .try_clamd(req)
            .unwrap_or_else(|e| panic!("clamd request: {e}; log:\n{}", self.log()));
        String::from_utf8_lossy(&r).into_owned()
    }

    /// INSTREAM of `data`; the reply without its NUL.
    pub fn instream(&self, data: &[u8]) -> String {
        self.clamd(&instream(b'z', data, 1 << 16))
            .trim_end_matches('\0')
            .to_owned()
    }

    /// One HTTP request (`Connection: close`); (status, body).
    pub fn http(&self, path: &str, headers: &[&str], body: &[u8]) -> (u16, String) {
        let mut c = UnixStream::connect(&self.http)
            .unwrap_or_else(|e| panic!("connect http: {e}; log:\n{}", self.log()));
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Length: {}\r\n",
            body.len()
        );
        for h in headers {
            req += h;
            req += "\r\n";
        }
        req += "\r\n";
        let mut all = req.into_bytes();
        all.extend_from_slice(body);
        c.write_all(&all).unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("read http answer to {path}: {e}"));
        let text = String::from_utf8_lossy(&out).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP answer to {path}: {text:?}\n{}", self.log()));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, body.to_owned())
    }

    /// KAV `/api/v3.<minor>/scanmemory` of `data`, clean sub-objects kept; the JSON.
    pub fn scanmemory(&self, minor: u8, data: &[u8]) -> serde_json::Value {
        let body = format!(
            "{{\"omitCleanSubobjectResults\":false,\"object\":\"{}\"}}",
            super::http_support::base64(data)
        );
        let (status, text) = self.http(
            &format!("/api/v3.{minor}/scanmemory"),
            &["Content-Type: application/json"],
            body.as_bytes(),
        );
        assert_eq!(status, 200, "scanmemory: {text}\n{}", self.log());
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// KAV `/api/v3.0/scanfile` of a file under the root; the JSON.
    pub fn scanfile(&self, minor: u8, name: &str, data: &[u8]) -> serde_json::Value {
        let p = self.root.join(name);
        fs::write(&p, data).unwrap();
        let body = format!(
            "{{\"omitCleanSubobjectResults\":false,\"object\":{:?}}}",
            p.to_str().unwrap()
        );
        let (status, text) = self.http(
            &format!("/api/v3.{minor}/scanfile"),
            &["Content-Type: application/json"],
            body.as_bytes(),
        );
        assert_eq!(status, 200, "scanfile: {text}\n{}", self.log());
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// KAV v1 `/scanmemory` of the raw bytes; the plain answer.
    pub fn scanmemory_v1(&self, data: &[u8]) -> String {
        let (status, text) = self.http("/scanmemory", &["X-KAV-ProtocolVersion: 1"], data);
        assert_eq!(status, 200, "v1 scanmemory: {text}\n{}", self.log());
        text
    }

    /// Asserts the server still serves: PING and a small EICAR INSTREAM.
    #[track_caller]
    pub fn assert_serves(&mut self) {
        assert!(self.alive(), "the server died; log:\n{}", self.log());
        assert_eq!(self.clamd(b"zPING\0"), "PONG\0", "{}", self.log());
        let r = self.instream(&eicar());
        assert!(r.ends_with(" FOUND"), "EICAR after: {r}\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
