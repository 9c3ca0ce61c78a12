//! Synthetic ClamAV signature sets: `.ndb`, `.hdb` and `.ldb` text, plus
//! *plants* (concrete byte strings known to match selected signatures).
//!
//! What it models and why:
//! - **`.ndb` body signatures** stress the literal/regex compiler: 12–40
//!   byte random bodies, a share with wildcards (`??`, `a?`, `?a`,
//!   `(aa|bb)`), a share split by gaps (`*`, `{n-m}`, `{n}`), and a small
//!   share anchored at `n`, `n,maxshift` or `EOF-n`. Random bytes make the
//!   literals high-entropy, like real malware sigs, so the background corpus
//!   produces essentially no accidental hits: every hit is a plant.
//! - **`.hdb` hash signatures** model the bulk of `main.cvd` (millions of MD5
//!   lines): random digests with log-uniform sizes (1 KiB..4 MiB), which
//!   exercises the size-keyed hash lookup. Optionally some lines carry the
//!   real MD5 and size of corpus files, so there are known hash hits.
//! - **`.ldb` logical signatures** use 2–4 hex subsigs (some `::i` nocase
//!   ASCII) and conservative expressions (`0&1`, `0|1`, `(0|1)&2`,
//!   `(0|1)>1`, `(0|1)=2`, ...) that reference every subsig, all forms the
//!   ClamAV docs show.
//! - **Plants** give ground truth for tests and benches: for a share of the
//!   ndb/ldb sigs, a concrete matching byte string (wildcards resolved, gaps
//!   filled) and where it must go; [`crate::corpus`] embeds them in files.
//!
//! Every section draws from its own ChaCha stream, so changing `--hdb` does
//! not change the `.ndb` output and vice versa.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use rand::seq::index;
use rand::Rng;

use crate::body::{self, gen_body, Body, BodyParams};
use crate::rng_for;

const STREAM_NDB: u64 = 1;
const STREAM_NDB_PLANTS: u64 = 2;
const STREAM_HDB: u64 = 3;
const STREAM_HDB_HITS: u64 = 4;
const STREAM_LDB: u64 = 5;
const STREAM_LDB_PLANTS: u64 = 6;
const STREAM_HASH_PICK: u64 = 7;

/// Knobs for [`signatures`].
#[derive(Clone, Debug)]
pub struct SigConfig {
    pub seed: u64,
    /// Number of `.ndb` lines.
    pub ndb: usize,
    /// Number of `.hdb` lines (hash hits included).
    pub hdb: usize,
    /// Number of `.ldb` lines.
    pub ldb: usize,
    /// Share of body sigs / hex subsigs with wildcards or alternatives.
    pub wildcard_share: f64,
    /// Share of body sigs split by gaps (half of this for ldb subsigs).
    pub gap_share: f64,
    /// Share of `.ndb` sigs with an `n`, `n,maxshift` or `EOF-n` offset.
    pub offset_share: f64,
    /// Share of `.ldb` subsigs that are `::i` nocase ASCII strings.
    pub nocase_share: f64,
    /// Share of ndb and of ldb sigs that get a [`Plant`].
    pub plant_share: f64,
    /// Size range of random `.hdb` lines (log-uniform).
    pub hdb_min_size: u64,
    pub hdb_max_size: u64,
    /// Real files whose MD5/size replace random `.hdb` lines (hash hits);
    /// see [`hash_sources_from_dir`]. At most `hdb` of them are used.
    pub hash_sources: Vec<HashSource>,
}

impl Default for SigConfig {
    fn default() -> Self {
        SigConfig {
            seed: 1,
            ndb: 10_000,
            hdb: 100_000,
            ldb: 100,
            wildcard_share: 0.3,
            gap_share: 0.2,
            offset_share: 0.05,
            nocase_share: 0.3,
            plant_share: 0.02,
            hdb_min_size: 1024,
            hdb_max_size: 4 << 20,
            hash_sources: Vec::new(),
        }
    }
}

/// Where a plant must be placed in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlantOffset {
    /// `*`: anywhere.
    Anywhere,
    /// The string must start at this absolute offset.
    Absolute(u64),
    /// `EOF-n`: the string must start `n` bytes before the end of the file.
    FromEof(u64),
}

impl std::fmt::Display for PlantOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlantOffset::Anywhere => f.write_str("*"),
            PlantOffset::Absolute(n) => write!(f, "{n}"),
            PlantOffset::FromEof(n) => write!(f, "EOF-{n}"),
        }
    }
}

impl std::str::FromStr for PlantOffset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "*" {
            Ok(PlantOffset::Anywhere)
        } else if let Some(n) = s.strip_prefix("EOF-") {
            n.parse()
                .map(PlantOffset::FromEof)
                .map_err(|e| format!("bad offset {s:?}: {e}"))
        } else {
            s.parse()
                .map(PlantOffset::Absolute)
                .map_err(|e| format!("bad offset {s:?}: {e}"))
        }
    }
}

/// A concrete byte string that matches (part of) signature `name`.
///
/// An `.ndb` sig has one plant line; an `.ldb` sig has one line per subsig
/// instance needed to satisfy its expression, all with the same name, and
/// all of them must go into the same file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plant {
    pub name: String,
    pub offset: PlantOffset,
    pub bytes: Vec<u8>,
}

impl Plant {
    /// `name\toffset\thex` (no newline), the `plants.txt` line format.
    pub fn to_line(&self) -> String {
        format!(
            "{}\t{}\t{}",
            self.name,
            self.offset,
            body::to_hex(&self.bytes)
        )
    }
}

/// Parse `plants.txt` text; blank lines and `#` comments are skipped.
pub fn parse_plants(text: &str) -> Result<Vec<Plant>, String> {
    let mut out = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split('\t');
        let (Some(name), Some(off), Some(hex), None) = (f.next(), f.next(), f.next(), f.next())
        else {
            return Err(format!(
                "plants line {}: expected 3 tab-separated fields",
                no + 1
            ));
        };
        let bytes =
            body::from_hex(hex).ok_or_else(|| format!("plants line {}: bad hex", no + 1))?;
        if bytes.is_empty() {
            return Err(format!("plants line {}: empty byte string", no + 1));
        }
        out.push(Plant {
            name: name.to_string(),
            offset: off
                .parse()
                .map_err(|e| format!("plants line {}: {e}", no + 1))?,
            bytes,
        });
    }
    Ok(out)
}

/// Read and parse a `plants.txt` file.
pub fn read_plants(path: &Path) -> io::Result<Vec<Plant>> {
    let text = std::fs::read_to_string(path)?;
    parse_plants(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A real file to turn into an `.hdb` hash hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashSource {
    /// Label, normally the path relative to the corpus dir.
    pub file: String,
    pub md5: [u8; 16],
    pub size: u64,
}

impl HashSource {
    pub fn from_bytes(file: impl Into<String>, data: &[u8]) -> Self {
        HashSource {
            file: file.into(),
            md5: Md5::digest(data).into(),
            size: data.len() as u64,
        }
    }
}

/// Pick up to `max` regular files under `dir` (recursively, sorted by path,
/// `manifest.tsv` skipped, empty files skipped since ClamAV ignores them),
/// chosen deterministically from `seed`, and hash them.
pub fn hash_sources_from_dir(dir: &Path, max: usize, seed: u64) -> io::Result<Vec<HashSource>> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64)>) -> io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                walk(&e.path(), out)?;
            } else if ft.is_file() && e.file_name() != "manifest.tsv" {
                let len = e.metadata()?.len();
                if len > 0 {
                    out.push((e.path(), len));
                }
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    let mut rng = rng_for(seed, STREAM_HASH_PICK);
    let k = max.min(files.len());
    let mut picked: Vec<usize> = index::sample(&mut rng, files.len(), k).into_vec();
    picked.sort_unstable();
    picked
        .into_iter()
        .map(|i| {
            let (path, _) = &files[i];
            let data = std::fs::read(path)?;
            let rel = path.strip_prefix(dir).unwrap_or(path);
            Ok(HashSource::from_bytes(rel.to_string_lossy(), &data))
        })
        .collect()
}

/// An `.hdb` line that is the hash of a real file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashHit {
    pub name: String,
    pub file: String,
}

/// Generated signature databases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SigSet {
    /// `gen.ndb` text.
    pub ndb: String,
    /// `gen.hdb` text.
    pub hdb: String,
    /// `gen.ldb` text.
    pub ldb: String,
    /// Plants for a share of the ndb and ldb sigs (ndb first).
    pub plants: Vec<Plant>,
    /// `.hdb` lines that are hashes of [`SigConfig::hash_sources`].
    pub hash_hits: Vec<HashHit>,
}

impl SigSet {
    /// `plants.txt` text.
    pub fn plants_text(&self) -> String {
        let mut s = String::new();
        for p in &self.plants {
            s.push_str(&p.to_line());
            s.push('\n');
        }
        s
    }

    /// `hash-hits.tsv` text: `name\tfile` lines.
    pub fn hash_hits_text(&self) -> String {
        let mut s = String::new();
        for h in &self.hash_hits {
            let _ = writeln!(s, "{}\t{}", h.name, h.file);
        }
        s
    }

    /// Write `gen.ndb`, `gen.hdb`, `gen.ldb`, `plants.txt` and
    /// `hash-hits.tsv` into `dir` (created if missing).
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("gen.ndb"), &self.ndb)?;
        std::fs::write(dir.join("gen.hdb"), &self.hdb)?;
        std::fs::write(dir.join("gen.ldb"), &self.ldb)?;
        std::fs::write(dir.join("plants.txt"), self.plants_text())?;
        std::fs::write(dir.join("hash-hits.tsv"), self.hash_hits_text())?;
        Ok(())
    }
}

/// Generate a signature set. Same config → byte-identical output.
pub fn signatures(cfg: &SigConfig) -> SigSet {
    let mut set = SigSet::default();
    gen_ndb(cfg, &mut set);
    gen_ldb(cfg, &mut set);
    gen_hdb(cfg, &mut set);
    set
}

fn plant_indices(seed: u64, stream: u64, n: usize, share: f64) -> HashSet<usize> {
    let k = ((n as f64) * share.clamp(0.0, 1.0)).ceil() as usize;
    let mut rng = rng_for(seed, stream);
    index::sample(&mut rng, n, k.min(n)).into_iter().collect()
}

enum NdbOffset {
    Any,
    Abs(u64),
    Shift(u64, u64),
    Eof(u64),
}

fn gen_ndb(cfg: &SigConfig, set: &mut SigSet) {
    let mut rng = rng_for(cfg.seed, STREAM_NDB);
    let mut prng = rng_for(cfg.seed, STREAM_NDB_PLANTS);
    let planted = plant_indices(cfg.seed, STREAM_NDB_PLANTS + 100, cfg.ndb, cfg.plant_share);
    let mut out = String::with_capacity(cfg.ndb * 80);
    for i in 0..cfg.ndb {
        let wild = rng.gen_bool(cfg.wildcard_share.clamp(0.0, 1.0));
        let gaps = rng.gen_bool(cfg.gap_share.clamp(0.0, 1.0));
        let anchored = rng.gen_bool(cfg.offset_share.clamp(0.0, 1.0));
        let body = gen_body(
            &mut rng,
            &BodyParams {
                min_len: 12,
                max_len: 40,
                wildcards: wild,
                gaps,
                allow_star: !anchored,
            },
        );
        let offset = if anchored {
            match rng.gen_range(0..3u8) {
                0 => NdbOffset::Abs(rng.gen_range(0..=512)),
                1 => NdbOffset::Shift(rng.gen_range(0..=512), rng.gen_range(1..=64)),
                _ => {
                    let span = body.max_span().expect("anchored bodies have no *") as u64;
                    NdbOffset::Eof(span + rng.gen_range(0..=256))
                }
            }
        } else {
            NdbOffset::Any
        };
        let name = format!("Bench.Ndb.Gen-{i}-1");
        out.push_str(&name);
        out.push_str(":0:");
        match offset {
            NdbOffset::Any => out.push('*'),
            NdbOffset::Abs(n) => {
                let _ = write!(out, "{n}");
            }
            NdbOffset::Shift(n, s) => {
                let _ = write!(out, "{n},{s}");
            }
            NdbOffset::Eof(n) => {
                let _ = write!(out, "EOF-{n}");
            }
        }
        out.push(':');
        body.render(&mut out);
        out.push('\n');
        if planted.contains(&i) {
            let offset = match offset {
                NdbOffset::Any => PlantOffset::Anywhere,
                NdbOffset::Abs(n) => PlantOffset::Absolute(n),
                NdbOffset::Shift(n, s) => PlantOffset::Absolute(n + prng.gen_range(0..=s)),
                NdbOffset::Eof(n) => PlantOffset::FromEof(n),
            };
            set.plants.push(Plant {
                name,
                offset,
                bytes: body.concrete(&mut prng),
            });
        }
    }
    set.ndb = out;
}

/// Logical expression over subsig indexes.
enum Expr {
    Sub(usize),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// `(e)>x`
    Gt(Box<Expr>, u32),
    /// `(e)=x`
    Eq(Box<Expr>, u32),
}

impl Expr {
    fn render(&self, out: &mut String) {
        fn child(e: &Expr, out: &mut String) {
            if let Expr::Sub(i) = e {
                let _ = write!(out, "{i}");
            } else {
                out.push('(');
                e.render(out);
                out.push(')');
            }
        }
        match self {
            Expr::Sub(i) => {
                let _ = write!(out, "{i}");
            }
            Expr::And(v) | Expr::Or(v) => {
                let op = if matches!(self, Expr::And(_)) {
                    '&'
                } else {
                    '|'
                };
                for (j, e) in v.iter().enumerate() {
                    if j > 0 {
                        out.push(op);
                    }
                    child(e, out);
                }
            }
            Expr::Gt(e, x) => {
                child(e, out);
                let _ = write!(out, ">{x}");
            }
            Expr::Eq(e, x) => {
                child(e, out);
                let _ = write!(out, "={x}");
            }
        }
    }

    /// Subsig instances to plant so the expression is true. Counted forms
    /// (`>1`, `=2`) get one instance each of two distinct subsigs, which
    /// satisfies both the "total matches" and "distinct subsigs" readings.
    fn plan<R: Rng>(&self, rng: &mut R, out: &mut Vec<usize>) {
        match self {
            Expr::Sub(i) => out.push(*i),
            Expr::And(v) => v.iter().for_each(|e| e.plan(rng, out)),
            Expr::Or(v) => v[rng.gen_range(0..v.len())].plan(rng, out),
            Expr::Gt(e, _) | Expr::Eq(e, _) => {
                if let Expr::Or(v) = &**e {
                    for s in v.iter().take(2) {
                        s.plan(rng, out);
                    }
                }
            }
        }
    }
}

fn gen_expr<R: Rng>(rng: &mut R, n: usize) -> Expr {
    use Expr::*;
    let s = Sub;
    match n {
        2 => match rng.gen_range(0..4u8) {
            0 => And(vec![s(0), s(1)]),
            1 => Or(vec![s(0), s(1)]),
            2 => Gt(Box::new(Or(vec![s(0), s(1)])), 1),
            _ => Eq(Box::new(Or(vec![s(0), s(1)])), 2),
        },
        3 => match rng.gen_range(0..4u8) {
            0 => And(vec![Or(vec![s(0), s(1)]), s(2)]),
            1 => And(vec![s(0), s(1), s(2)]),
            2 => Or(vec![And(vec![s(0), s(1)]), s(2)]),
            _ => And(vec![Gt(Box::new(Or(vec![s(0), s(1)])), 1), s(2)]),
        },
        _ => match rng.gen_range(0..3u8) {
            0 => And(vec![Or(vec![s(0), s(1)]), Or(vec![s(2), s(3)])]),
            1 => And(vec![s(0), s(1), s(2), s(3)]),
            _ => And(vec![Or(vec![s(0), s(1), s(2)]), s(3)]),
        },
    }
}

enum Subsig {
    Hex(Body),
    Nocase(Vec<u8>),
}

fn gen_ldb(cfg: &SigConfig, set: &mut SigSet) {
    let mut rng = rng_for(cfg.seed, STREAM_LDB);
    let mut prng = rng_for(cfg.seed, STREAM_LDB_PLANTS);
    let planted = plant_indices(cfg.seed, STREAM_LDB_PLANTS + 100, cfg.ldb, cfg.plant_share);
    let mut out = String::with_capacity(cfg.ldb * 160);
    for i in 0..cfg.ldb {
        let n = rng.gen_range(2..=4usize);
        let expr = gen_expr(&mut rng, n);
        let subs: Vec<Subsig> = (0..n)
            .map(|_| {
                if rng.gen_bool(cfg.nocase_share.clamp(0.0, 1.0)) {
                    Subsig::Nocase(body::gen_ascii(&mut rng, 8, 20))
                } else {
                    let p = BodyParams {
                        min_len: 8,
                        max_len: 24,
                        wildcards: rng.gen_bool(cfg.wildcard_share.clamp(0.0, 1.0)),
                        gaps: rng.gen_bool((cfg.gap_share / 2.0).clamp(0.0, 1.0)),
                        allow_star: true,
                    };
                    Subsig::Hex(gen_body(&mut rng, &p))
                }
            })
            .collect();
        let name = format!("Bench.Ldb.Gen-{i}-1");
        out.push_str(&name);
        out.push_str(";Engine:81-255,Target:0;");
        expr.render(&mut out);
        for sub in &subs {
            out.push(';');
            match sub {
                Subsig::Hex(b) => b.render(&mut out),
                Subsig::Nocase(s) => {
                    out.push_str(&body::to_hex(s));
                    out.push_str("::i");
                }
            }
        }
        out.push('\n');
        if planted.contains(&i) {
            let mut plan = Vec::new();
            expr.plan(&mut prng, &mut plan);
            for j in plan {
                let bytes = match &subs[j] {
                    Subsig::Hex(b) => b.concrete(&mut prng),
                    Subsig::Nocase(s) => body::randomize_case(&mut prng, s),
                };
                set.plants.push(Plant {
                    name: name.clone(),
                    offset: PlantOffset::Anywhere,
                    bytes,
                });
            }
        }
    }
    set.ldb = out;
}

fn gen_hdb(cfg: &SigConfig, set: &mut SigSet) {
    let mut rng = rng_for(cfg.seed, STREAM_HDB);
    let k = cfg.hash_sources.len().min(cfg.hdb);
    let mut hit_at: Vec<usize> = {
        let mut hrng = rng_for(cfg.seed, STREAM_HDB_HITS);
        index::sample(&mut hrng, cfg.hdb, k).into_vec()
    };
    hit_at.sort_unstable();
    let mut next_hit = hit_at
        .iter()
        .copied()
        .zip(cfg.hash_sources.iter())
        .peekable();
    let (lo, hi) = (
        (cfg.hdb_min_size.max(1) as f64).ln(),
        (cfg.hdb_max_size.max(cfg.hdb_min_size).max(1) as f64).ln(),
    );
    let mut out = String::with_capacity(cfg.hdb * 64);
    for i in 0..cfg.hdb {
        // Always draw, so hash hits do not shift the random lines.
        let digest: [u8; 16] = rng.gen();
        let size = log_uniform(&mut rng, lo, hi);
        if next_hit.peek().is_some_and(|&(at, _)| at == i) {
            let (_, src) = next_hit.next().unwrap();
            let name = format!("Bench.Hdb.Hit-{i}-1");
            let _ = writeln!(out, "{}:{}:{}", body::to_hex(&src.md5), src.size, name);
            set.hash_hits.push(HashHit {
                name,
                file: src.file.clone(),
            });
        } else {
            for b in digest {
                body::push_hex_byte(&mut out, b);
            }
            let _ = writeln!(out, ":{size}:Bench.Hdb.Gen-{i}-1");
        }
    }
    set.hdb = out;
}

/// Log-uniform integer in `[e^lo, e^hi]`.
pub(crate) fn log_uniform<R: Rng>(rng: &mut R, lo: f64, hi: f64) -> u64 {
    let x = if hi > lo { rng.gen_range(lo..hi) } else { lo };
    let (min, max) = (lo.exp().round() as u64, hi.exp().round() as u64);
    (x.exp().round() as u64).clamp(min, max)
}
