//! `engine-bench throughput`: one signature set, one in-memory corpus, and side by side
//! the full ringscan scan, raw Hyperscan on whole-body regexes, raw Hyperscan on the
//! engine's own anchors, and MD5 of every file as a reference. Single thread (pin it
//! from outside with `taskset`); one warm-up pass, then the best of N, with the
//! contenders interleaved within each pass so that drift hits all of them alike.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use hyperscan::{BlockDatabase, Matching, Scratch};
use md5::{Digest, Md5};
use ringscan::engine::{Engine, ScanOptions, Scanner, Verdict};
use serde::{Deserialize, Serialize};

use crate::compile::{self, CompileStats, What};
use crate::corpus::{self, Corpus};
use crate::proc;
use crate::report;

/// Arguments of `throughput`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Signature database directory or file (what `ringscan --db` takes).
    #[arg(long)]
    pub sigs: PathBuf,
    /// Corpus directory (scanned recursively, every regular file).
    #[arg(long)]
    pub corpus: PathBuf,
    /// Timed passes after the warm-up; the best one counts.
    #[arg(long, default_value_t = 3)]
    pub passes: usize,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write one CSV line per contender here.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Give up on a raw Hyperscan compile after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub raw_timeout: u64,
    /// Leave out raw Hyperscan on whole-body regexes.
    #[arg(long)]
    pub no_raw: bool,
    /// Leave out raw Hyperscan on the engine's anchors.
    #[arg(long)]
    pub no_anchors: bool,
    /// Scratch directory for the compiled raw databases [default: a temporary one].
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// No table on stdout.
    #[arg(long)]
    pub quiet: bool,
    /// ringscan keeps matching after the first detection (`ScanOptions::all_matches`),
    /// as the raw rows always scan whole files.
    #[arg(long)]
    pub allmatch: bool,
}

/// What loading the ringscan engine took.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RingscanLoad {
    /// Usable signatures.
    pub signatures: usize,
    /// Content (`.ndb`) signatures.
    pub content: usize,
    /// Logical (`.ldb`) signatures.
    pub logical: usize,
    /// Hash signatures (MD5, SHA1, SHA256).
    pub hashes: usize,
    /// Skipped signatures.
    pub skipped: usize,
    /// Distinct anchors.
    pub anchors: usize,
    /// Of those, regex windows.
    pub regex_anchors: usize,
    /// Parse time (LoadReport).
    pub parse_s: f64,
    /// Hyperscan compile time (LoadReport).
    pub compile_s: f64,
    /// Wall time of `ringscan::db::load` (file reads included).
    pub load_wall_s: f64,
    /// Hyperscan database bytes.
    pub hs_bytes: usize,
    /// Engine tables besides Hyperscan (approximate, LoadReport).
    pub table_bytes: usize,
    /// VmRSS before the load (corpus already in memory), KiB.
    pub rss_before_kib: u64,
    /// VmRSS with the engine loaded, KiB.
    pub rss_after_kib: u64,
    /// VmHWM right after the load (compile peak included), KiB.
    pub peak_after_kib: u64,
}

/// One contender's timing.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Row {
    /// `ringscan`, `raw-full`, `raw-anchors`, `md5`.
    pub name: String,
    /// Best pass, seconds.
    pub best_s: f64,
    /// Every timed pass, seconds.
    pub pass_s: Vec<f64>,
    /// Corpus MB (10^6 bytes) per second in the best pass.
    pub mb_s: f64,
    /// Files per second in the best pass.
    pub files_s: f64,
    /// Files with at least one match (ringscan: detections).
    pub matched_files: u64,
    /// Match callbacks (raw rows) or detections (ringscan).
    pub matches: u64,
}

/// Everything `throughput` measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Throughput {
    /// Signature path.
    pub sigs: String,
    /// Corpus directory.
    pub corpus: String,
    /// Corpus files.
    pub files: usize,
    /// Corpus bytes.
    pub bytes: u64,
    /// Timed passes.
    pub passes: usize,
    /// ringscan ran with `all_matches`.
    pub allmatch: bool,
    /// Hyperscan library version.
    pub hyperscan: String,
    /// The ringscan load.
    pub ringscan_load: RingscanLoad,
    /// Raw Hyperscan, whole-body regexes.
    pub raw_full: Option<CompileStats>,
    /// Raw Hyperscan, the engine's anchors.
    pub raw_anchors: Option<CompileStats>,
    /// Timings.
    pub rows: Vec<Row>,
    /// Files ringscan reported infected.
    pub detections: u64,
    /// Files ringscan could not scan (errors).
    pub scan_errors: u64,
    /// ringscan (whole database, hashes included) MB/s over raw full-regex MB/s.
    pub ratio_vs_raw_full: Option<f64>,
    /// Content-only ringscan MB/s (the full one when the set has no hash signatures)
    /// over raw full-regex MB/s: the same patterns on both sides; target >= 0.9.
    pub content_ratio_vs_raw_full: Option<f64>,
    /// ringscan MB/s over raw anchors MB/s.
    pub ratio_vs_raw_anchors: Option<f64>,
    /// VmHWM at the end, KiB.
    pub peak_rss_kib: u64,
}

enum Contender {
    Ringscan(&'static str, Rc<Engine>, Box<Scanner>),
    Raw(String, BlockDatabase, Scratch),
    Md5,
}

impl Contender {
    fn name(&self) -> &str {
        match self {
            Contender::Ringscan(name, ..) => name,
            Contender::Raw(name, ..) => name,
            Contender::Md5 => "md5",
        }
    }

    /// One sweep over the corpus: (time, files matched, matches, errors).
    fn sweep(&mut self, corpus: &Corpus, opts: ScanOptions) -> (Duration, u64, u64, u64) {
        let (mut matched, mut matches, mut errors) = (0u64, 0u64, 0u64);
        let start = Instant::now();
        match self {
            Contender::Ringscan(_, engine, scanner) => {
                for data in &corpus.files {
                    let report = scanner.scan(engine, data, opts);
                    match report.verdict() {
                        Verdict::Detected(_) => {
                            matched += 1;
                            matches += 1;
                        }
                        Verdict::Clean => {}
                        Verdict::NotScanned(_) | Verdict::Error(_) => errors += 1,
                    }
                }
            }
            Contender::Raw(_, db, scratch) => {
                for data in &corpus.files {
                    let mut n = 0u64;
                    let r = db.scan(data.as_slice(), scratch, |_, _, _, _| {
                        n += 1;
                        Matching::Continue
                    });
                    if r.is_err() {
                        errors += 1;
                    }
                    matched += (n > 0) as u64;
                    matches += n;
                }
            }
            Contender::Md5 => {
                for data in &corpus.files {
                    std::hint::black_box(Md5::digest(data));
                }
            }
        }
        (start.elapsed(), matched, matches, errors)
    }
}

/// Runs the measurement.
pub fn measure(args: &Args) -> Result<Throughput, String> {
    let work_owned = args.work.is_none();
    let work = match &args.work {
        Some(w) => w.clone(),
        None => std::env::temp_dir().join(format!("engine-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let result = measure_in(args, &work);
    if work_owned {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

fn measure_in(args: &Args, work: &Path) -> Result<Throughput, String> {
    eprintln!("engine-bench: reading corpus {}", args.corpus.display());
    let corpus = corpus::load(&args.corpus)?;
    let mut out = Throughput {
        sigs: args.sigs.display().to_string(),
        corpus: args.corpus.display().to_string(),
        files: corpus.files.len(),
        bytes: corpus.bytes,
        passes: args.passes.max(1),
        hyperscan: hyperscan::version_str().to_string_lossy().into_owned(),
        ..Default::default()
    };

    eprintln!(
        "engine-bench: loading ringscan engine from {}",
        args.sigs.display()
    );
    let before = proc::rss();
    let t = Instant::now();
    let (engine, rep) = ringscan::db::load(&ringscan::db::LoadOptions {
        paths: vec![args.sigs.clone()],
        strict: false,
        cache_dir: None,
    })
    .map_err(|e| e.to_string())?;
    let load_wall = t.elapsed();
    let after = proc::rss();
    let c = &rep.counts;
    out.ringscan_load = RingscanLoad {
        signatures: c.total(),
        content: c.content,
        logical: c.logical,
        hashes: c.md5 + c.sha1 + c.sha256,
        skipped: rep.skipped.len(),
        anchors: rep.anchors,
        regex_anchors: rep.regex_anchors,
        parse_s: rep.parse_time.as_secs_f64(),
        compile_s: rep.compile_time.as_secs_f64(),
        load_wall_s: load_wall.as_secs_f64(),
        hs_bytes: rep.hyperscan_bytes,
        table_bytes: rep.table_bytes,
        rss_before_kib: before.now_kib,
        rss_after_kib: after.now_kib,
        peak_after_kib: after.peak_kib,
    };
    let engine = Rc::new(engine);
    let mut scanner = Scanner::new();
    scanner.prepare(&engine)?;
    let mut raw_pass = Scanner::new();
    raw_pass.prepare(&engine)?;
    let mut contenders = vec![
        Contender::Ringscan("ringscan", engine.clone(), Box::new(scanner)),
        // The same engine, raw bytes only: what the normalized-text pass costs.
        Contender::Ringscan("ringscan-raw-pass", engine, Box::new(raw_pass)),
    ];
    if let Some(files) = content_only(&args.sigs) {
        eprintln!("engine-bench: loading a content-only ringscan engine (.ndb/.ldb files only)");
        let (engine, _) = ringscan::db::load(&ringscan::db::LoadOptions {
            paths: files,
            strict: false,
            cache_dir: None,
        })
        .map_err(|e| e.to_string())?;
        let mut scanner = Scanner::new();
        scanner.prepare(&engine)?;
        contenders.push(Contender::Ringscan(
            "ringscan-content",
            Rc::new(engine),
            Box::new(scanner),
        ));
    }

    let timeout = Duration::from_secs(args.raw_timeout);
    let mut raw = |what: What, label: &str| -> Result<Option<CompileStats>, String> {
        eprintln!("engine-bench: compiling raw Hyperscan ({label}) in a child process");
        let (db, stats) = compile::build_in_child(&args.sigs, what, work, timeout);
        match (&db, &stats.error) {
            (_, Some(e)) => eprintln!("engine-bench: raw {label}: {e}"),
            _ => eprintln!(
                "engine-bench: raw {label}: {} patterns ({} dropped) in {:.2} s",
                stats.patterns, stats.dropped, stats.compile_s
            ),
        }
        if let Some(db) = db {
            let scratch = db.alloc_scratch().map_err(|e| e.to_string())?;
            contenders.push(Contender::Raw(format!("raw-{}", what.name()), db, scratch));
        }
        Ok(Some(stats))
    };
    if !args.no_anchors {
        out.raw_anchors = raw(What::Anchors, "engine anchors, no verification")?;
    }
    if !args.no_raw {
        out.raw_full = raw(What::Full, "whole bodies as regexes")?;
    }
    contenders.push(Contender::Md5);

    let mut rows: Vec<Row> = contenders
        .iter()
        .map(|c| Row {
            name: c.name().into(),
            best_s: f64::INFINITY,
            ..Default::default()
        })
        .collect();
    let opts = ScanOptions {
        all_matches: args.allmatch,
        ..ScanOptions::default()
    };
    out.allmatch = args.allmatch;
    for pass in 0..=out.passes {
        for (c, row) in contenders.iter_mut().zip(rows.iter_mut()) {
            // The like-for-like row does the raw pass only, as raw Hyperscan does: no
            // second pass over ClamAV's normalized form of text-like objects.
            let opts = if matches!(row.name.as_str(), "ringscan-content" | "ringscan-raw-pass") {
                ScanOptions {
                    normalize_text: false,
                    ..opts
                }
            } else {
                opts
            };
            let (time, matched, matches, errors) = c.sweep(&corpus, opts);
            let secs = time.as_secs_f64();
            if pass == 0 {
                eprintln!("engine-bench: warm-up {:<12} {:>8.3} s", row.name, secs);
                continue;
            }
            row.pass_s.push(secs);
            if secs < row.best_s {
                row.best_s = secs;
            }
            row.matched_files = matched;
            row.matches = matches;
            if row.name == "ringscan" {
                out.detections = matched;
                out.scan_errors = errors;
            }
        }
    }
    for row in &mut rows {
        row.mb_s = corpus.bytes as f64 / 1e6 / row.best_s;
        row.files_s = corpus.files.len() as f64 / row.best_s;
    }
    let mbs = |name: &str| rows.iter().find(|r| r.name == name).map(|r| r.mb_s);
    if let Some(ring) = mbs("ringscan") {
        out.ratio_vs_raw_full = mbs("raw-full").map(|r| ring / r);
        out.ratio_vs_raw_anchors = mbs("raw-anchors").map(|r| ring / r);
    }
    // The like-for-like figure: the same patterns, no hash signatures on either side,
    // one pass over the raw bytes.
    let content = mbs("ringscan-content").or(mbs("ringscan-raw-pass"));
    out.content_ratio_vs_raw_full = content.zip(mbs("raw-full")).map(|(a, b)| a / b);
    out.rows = rows;
    out.peak_rss_kib = proc::rss().peak_kib;
    Ok(out)
}

/// When `sigs` is a directory holding hash signature files besides `.ndb`/`.ldb` ones
/// (and no containers), its `.ndb`/`.ldb` files: the set the raw databases are built
/// from, so that a ringscan engine on them alone compares like for like.
fn content_only(sigs: &Path) -> Option<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(sigs)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let ext = |p: &PathBuf| {
        p.extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default()
    };
    let has = |exts: &[&str]| files.iter().any(|f| exts.contains(&ext(f).as_str()));
    if !has(&["hdb", "hsb", "hdu", "hsu", "mdb", "msb", "mdu", "msu"]) || has(&["cvd", "cld"]) {
        return None;
    }
    let content: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| matches!(ext(f).as_str(), "ndb" | "ndu" | "ldb" | "ldu"))
        .collect();
    (!content.is_empty()).then_some(content)
}

/// `engine-bench throughput`.
pub fn run(args: &Args) -> Result<(), String> {
    let t = measure(args)?;
    if let Some(path) = &args.json {
        report::write_json(path, &t)?;
    }
    if let Some(path) = &args.csv {
        report::write(path, &report::throughput_csv(&t))?;
    }
    if !args.quiet {
        print!("{}", report::throughput_table(&t));
    }
    Ok(())
}
