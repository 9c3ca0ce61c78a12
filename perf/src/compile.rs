//! Hyperscan databases built outside the engine, each in a child process
//! (`engine-bench hs-compile`) so that a compile that runs too long or too large can be
//! killed without disturbing the measurements, and its peak memory is its own:
//!
//! - `full`: every usable `.ndb` body and `.ldb` subsignature body, translated whole with
//!   `ringscan::engine::seq_regex`, one pattern each (`DOTALL | SINGLEMATCH`, plus
//!   `CASELESS` for `::i`): what "just compile the signatures into Hyperscan" gives.
//!   Offsets, target types and `::f` edges are not expressed (a raw matcher would
//!   check them afterwards). Patterns Hyperscan refuses are dropped and counted.
//! - `anchors`: the engine's own anchor database, captured through the public
//!   [`CompiledCache`] hook of `DbBuilder::build`: the Hyperscan pass of a ringscan
//!   scan without any verification.
//!
//! The child writes the serialized database to `--out` and its figures to
//! `--out` with the extension `.json`; the parent deserializes the database.

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hyperscan::{BlockDatabase, Builder, HsError, Pattern, PatternFlags, Patterns};
use ringscan::engine::sig::{ldb, ndb, Parsed};
use ringscan::engine::{cache, cvd, seq_regex, CompiledCache, DbBuilder};
use serde::{Deserialize, Serialize};

use crate::proc;

/// Which database to build.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    /// Whole bodies as regexes.
    Full,
    /// The engine's anchors.
    Anchors,
}

impl What {
    /// `full` or `anchors`.
    pub fn name(self) -> &'static str {
        match self {
            What::Full => "full",
            What::Anchors => "anchors",
        }
    }
}

/// Arguments of the hidden `hs-compile` subcommand.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Signature database file or directory.
    #[arg(long)]
    pub sigs: PathBuf,
    /// Which database.
    #[arg(long, value_enum)]
    pub what: What,
    /// Where the serialized database goes (figures go next to it, `.json`).
    #[arg(long)]
    pub out: PathBuf,
}

/// What building one database took.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CompileStats {
    /// `full` or `anchors`.
    pub what: String,
    /// Patterns in the database.
    pub patterns: usize,
    /// Patterns Hyperscan refused (dropped).
    pub dropped: usize,
    /// The first few refusals, `message: expression` (truncated).
    pub dropped_examples: Vec<String>,
    /// Signature lines the parsers skipped or refused (not part of either database).
    pub unparsed: usize,
    /// Compile time (for `full`, the last, successful compile; see `attempts`).
    pub compile_s: f64,
    /// Wall time of the whole child, retries included.
    pub total_s: f64,
    /// Compiles tried (more than one when patterns had to be dropped).
    pub attempts: usize,
    /// Hyperscan database bytes.
    pub hs_bytes: usize,
    /// Peak RSS of the compiling child process (its VmHWM), KiB; 0 when unknown.
    pub child_peak_rss_kib: u64,
    /// RSS the deserialized database added to the measuring process, KiB.
    pub rss_delta_kib: u64,
    /// Why there is no database (timeout, refusal, crash).
    pub error: Option<String>,
}

/// Runs `hs-compile` (in the child).
pub fn run(args: &Args) -> Result<(), String> {
    let start = Instant::now();
    let mut stats = CompileStats {
        what: args.what.name().into(),
        ..Default::default()
    };
    let built = match args.what {
        What::Full => build_full(&args.sigs, &mut stats),
        What::Anchors => build_anchors(&args.sigs, &mut stats),
    };
    stats.total_s = start.elapsed().as_secs_f64();
    // Our own mm's peak: `ru_maxrss` as the parent sees it would also include the
    // parent's peak, which Linux folds into a child's maxrss across exec.
    stats.child_peak_rss_kib = proc::rss().peak_kib;
    let ok = match built {
        Ok(bytes) => {
            fs::write(&args.out, bytes).map_err(|e| format!("{}: {e}", args.out.display()))?;
            true
        }
        Err(e) => {
            stats.error = Some(e);
            false
        }
    };
    let json = serde_json::to_vec_pretty(&stats).map_err(|e| e.to_string())?;
    let stats_path = args.out.with_extension("json");
    fs::write(&stats_path, json).map_err(|e| format!("{}: {e}", stats_path.display()))?;
    if ok {
        Ok(())
    } else {
        Err(stats.error.unwrap_or_default())
    }
}

/// Runs `hs-compile` as a child (killed after `timeout`) and loads its database.
pub fn build_in_child(
    sigs: &Path,
    what: What,
    work: &Path,
    timeout: Duration,
) -> (Option<BlockDatabase>, CompileStats) {
    let out = work.join(format!("{}.hsdb", what.name()));
    let stats_path = out.with_extension("json");
    let _ = fs::remove_file(&out);
    let _ = fs::remove_file(&stats_path);
    let mut stats = CompileStats {
        what: what.name().into(),
        ..Default::default()
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            stats.error = Some(format!("current_exe: {e}"));
            return (None, stats);
        }
    };
    let mut cmd = Command::new(exe);
    cmd.arg("hs-compile")
        .arg("--sigs")
        .arg(sigs)
        .arg("--what")
        .arg(what.name())
        .arg("--out")
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let parent_peak = proc::rss().peak_kib;
    let run = match proc::run_child(&mut cmd, Some(timeout)) {
        Ok(r) => r,
        Err(e) => {
            stats.error = Some(e);
            return (None, stats);
        }
    };
    if let Some(s) = fs::read(&stats_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<CompileStats>(&b).ok())
    {
        stats = s;
    }
    if stats.child_peak_rss_kib == 0 && run.peak_rss_kib > parent_peak {
        // No report from the child (killed): wait4's figure, when it is the child's.
        stats.child_peak_rss_kib = run.peak_rss_kib;
    }
    if run.timed_out {
        stats.error = Some(format!(
            "compile did not finish in {} s (killed)",
            timeout.as_secs()
        ));
        stats.total_s = run.wall.as_secs_f64();
        return (None, stats);
    }
    if run.code != Some(0) {
        if stats.error.is_none() {
            stats.error = Some(format!("compiler child: {}", run.describe()));
        }
        return (None, stats);
    }
    let before = proc::rss().now_kib;
    let db = fs::read(&out)
        .map_err(|e| format!("{}: {e}", out.display()))
        .and_then(|bytes| {
            hyperscan::SerializedDatabase::deserialize::<hyperscan::BlockMode>(&bytes)
                .map_err(|e| format!("deserializing {}: {e}", out.display()))
        });
    let _ = fs::remove_file(&out);
    match db {
        Ok(db) => {
            stats.rss_delta_kib = proc::rss().now_kib.saturating_sub(before);
            (Some(db), stats)
        }
        Err(e) => {
            stats.error = Some(e);
            (None, stats)
        }
    }
}

/// Signature files of a database path, as `ringscan::db::add_path` takes them: a file,
/// or every file of a directory (not recursive).
fn db_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = fs::read_dir(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Non-empty, non-comment lines, as the engine's loader reads them.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &str> {
    bytes.split(|&b| b == b'\n').filter_map(|raw| {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw).ok()?;
        (!line.trim().is_empty() && !line.starts_with('#')).then_some(line)
    })
}

fn pattern(expr: String, caseless: bool, id: usize) -> Pattern {
    let mut flags = PatternFlags::DOTALL | PatternFlags::SINGLEMATCH;
    if caseless {
        flags |= PatternFlags::CASELESS;
    }
    Pattern {
        expression: expr,
        flags,
        id: Some(id),
        ext: Default::default(),
        som: None,
    }
}

/// Adds the patterns of one `.ndb`/`.ldb` text; returns the lines not used.
fn add_text(kind: &str, bytes: &[u8], out: &mut Vec<Pattern>) -> usize {
    let mut unparsed = 0;
    for line in lines(bytes) {
        match kind {
            "ndb" | "ndu" => match ndb::parse_line(line) {
                Ok(Parsed::Sig(s)) if ringscan::formats::target_supported(s.target).is_ok() => {
                    let id = out.len();
                    out.push(pattern(seq_regex(&s.body.elems), false, id));
                }
                _ => unparsed += 1,
            },
            "ldb" | "ldu" => match ldb::parse_line(line) {
                Ok(Parsed::Sig(s)) if ringscan::formats::target_supported(s.target).is_ok() => {
                    for sub in &s.subsigs {
                        for (body, _wide) in &sub.bodies {
                            let id = out.len();
                            out.push(pattern(seq_regex(&body.elems), sub.nocase, id));
                        }
                    }
                }
                _ => unparsed += 1,
            },
            _ => {}
        }
    }
    unparsed
}

/// Every usable body of the database path as a whole-body pattern.
pub fn full_patterns(sigs: &Path) -> Result<(Vec<Pattern>, usize), String> {
    let mut pats = Vec::new();
    let mut unparsed = 0;
    for file in db_files(sigs)? {
        let name = file.display().to_string();
        let ext = extension(&name);
        match ext.as_str() {
            "ndb" | "ndu" | "ldb" | "ldu" => {
                let bytes = fs::read(&file).map_err(|e| format!("{name}: {e}"))?;
                unparsed += add_text(&ext, &bytes, &mut pats);
            }
            "cvd" | "cld" => {
                let bytes = fs::read(&file).map_err(|e| format!("{name}: {e}"))?;
                let cvd = cvd::parse(&bytes).map_err(|e| format!("{name}: {e}"))?;
                for entry in &cvd.entries {
                    unparsed += add_text(&extension(&entry.name), &entry.data, &mut pats);
                }
            }
            _ => {}
        }
    }
    Ok((pats, unparsed))
}

fn refusal(stats: &mut CompileStats, message: &str, expr: &str) {
    stats.dropped += 1;
    if stats.dropped_examples.len() < 5 {
        let mut e: String = expr.chars().take(120).collect();
        if e.len() < expr.len() {
            e.push_str("...");
        }
        stats.dropped_examples.push(format!("{message}: {e}"));
    }
}

/// After this many refusals, patterns are checked one by one instead of recompiling
/// everything once per refusal.
const RETRIES_BEFORE_SINGLES: usize = 8;

fn build_full(sigs: &Path, stats: &mut CompileStats) -> Result<Vec<u8>, String> {
    let (pats, unparsed) = full_patterns(sigs)?;
    stats.unparsed = unparsed;
    let mut pats = Patterns(pats);
    loop {
        if pats.0.is_empty() {
            return Err("no pattern left to compile".into());
        }
        stats.attempts += 1;
        let start = Instant::now();
        let result: Result<BlockDatabase, hyperscan::Error> = pats.build();
        stats.compile_s = start.elapsed().as_secs_f64();
        match result {
            Ok(db) => {
                stats.patterns = pats.0.len();
                stats.hs_bytes = db.size().unwrap_or(0);
                return db
                    .serialize()
                    .map(|b| b.to_vec())
                    .map_err(|e| e.to_string());
            }
            Err(hyperscan::Error::Hyperscan(HsError::CompileError(err))) => {
                let Some(i) = err.expression().filter(|&i| i < pats.0.len()) else {
                    return Err(format!("Hyperscan: {}", err.message()));
                };
                let bad = pats.0.remove(i);
                refusal(stats, err.message(), &bad.expression);
                if stats.dropped >= RETRIES_BEFORE_SINGLES {
                    eprintln!(
                        "engine-bench: {} patterns refused so far; checking the rest one by one",
                        stats.dropped
                    );
                    let before = pats.0.len();
                    let mut kept = Vec::with_capacity(before);
                    for p in pats.0.drain(..) {
                        let one: Result<BlockDatabase, hyperscan::Error> = p.build();
                        match one {
                            Ok(_) => kept.push(p),
                            Err(e) => refusal(stats, &e.to_string(), &p.expression),
                        }
                    }
                    pats.0 = kept;
                }
            }
            Err(e) => return Err(format!("Hyperscan: {e}")),
        }
    }
}

/// A [`CompiledCache`] that never has an entry and keeps what is stored.
#[derive(Default)]
struct Capture {
    stored: RefCell<Option<([u8; 32], Vec<u8>)>>,
}

impl CompiledCache for Capture {
    fn get(&self, _key: &[u8; 32]) -> Option<Vec<u8>> {
        None
    }

    fn put(&self, key: &[u8; 32], bytes: &[u8]) {
        // The engine stores its anchor database first, then the normalized-text
        // subset; the first is the one measured.
        let mut stored = self.stored.borrow_mut();
        if stored.is_none() {
            *stored = Some((*key, bytes.to_vec()));
        }
    }
}

fn build_anchors(sigs: &Path, stats: &mut CompileStats) -> Result<Vec<u8>, String> {
    let mut builder = DbBuilder::new();
    ringscan::db::add_path(&mut builder, sigs).map_err(|e| e.to_string())?;
    let capture = Capture::default();
    let (_engine, report) = builder
        .build(Some(&capture as &dyn CompiledCache))
        .map_err(|e| e.to_string())?;
    stats.patterns = report.anchors;
    stats.unparsed = report.skipped.len();
    stats.compile_s = report.compile_time.as_secs_f64();
    stats.hs_bytes = report.hyperscan_bytes;
    stats.attempts = 1;
    let (key, entry) = capture
        .stored
        .into_inner()
        .ok_or("the engine stored no compiled database (no anchors?)")?;
    let payload = cache::decode(&entry, &key).map_err(|e| e.to_string())?;
    Ok(payload.to_vec())
}
