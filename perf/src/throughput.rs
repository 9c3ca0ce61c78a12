//! `engine-bench throughput`: one signature set, one in-memory corpus, and side by side
//! the full ringscan scan, raw Hyperscan on whole-body regexes, raw Hyperscan on the
//! engine's own anchors, and MD5 of every file as a reference. Single thread by default
//! (pin it from outside with `taskset`); `--threads N` hands the files out to N threads,
//! each with its own scanner or scratch. One warm-up pass, then the best of N, with the
//! contenders interleaved within each pass so that drift hits all of them alike.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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
    /// Scan with this many threads: files are handed out one at a time to N threads,
    /// each with its own `Scanner` (raw rows: its own Hyperscan scratch) on one shared
    /// engine. 1 (the default) scans on the main thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
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
    /// Scanning threads (`--threads`; older results: 1).
    #[serde(default = "one")]
    pub threads: usize,
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

fn one() -> usize {
    1
}

/// What one sweep found: files matched, matches, errors.
#[derive(Clone, Copy, Default)]
struct Tally {
    matched: u64,
    matches: u64,
    errors: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.matched += o.matched;
        self.matches += o.matches;
        self.errors += o.errors;
    }
}

/// Runs `f` over every file: inline with one state, else on one thread per state, the
/// files handed out one at a time (sizes vary a lot, so no static split).
fn spread<S: Send>(
    states: &mut [S],
    files: &[Vec<u8>],
    f: impl Fn(&mut S, &[u8]) -> Tally + Sync,
) -> Tally {
    let mut total = Tally::default();
    if let [state] = states {
        for data in files {
            total += f(state, data);
        }
        return total;
    }
    let next = AtomicUsize::new(0);
    let (next, f) = (&next, &f);
    std::thread::scope(|s| {
        let workers: Vec<_> = states
            .iter_mut()
            .map(|state| {
                s.spawn(move || {
                    let mut t = Tally::default();
                    while let Some(data) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        t += f(state, data);
                    }
                    t
                })
            })
            .collect();
        for w in workers {
            total += w.join().expect("scan thread panicked");
        }
    });
    total
}

enum Contender {
    /// One scanner per thread.
    Ringscan(&'static str, Arc<Engine>, Vec<Scanner>),
    /// One scratch per thread.
    Raw(String, BlockDatabase, Vec<Scratch>),
    /// The thread count.
    Md5(usize),
}

impl Contender {
    fn name(&self) -> &str {
        match self {
            Contender::Ringscan(name, ..) => name,
            Contender::Raw(name, ..) => name,
            Contender::Md5(_) => "md5",
        }
    }

    /// One sweep over the corpus.
    fn sweep(&mut self, corpus: &Corpus, opts: ScanOptions) -> (Duration, Tally) {
        let start = Instant::now();
        let tally = match self {
            Contender::Ringscan(_, engine, scanners) => {
                let engine: &Engine = engine;
                spread(scanners, &corpus.files, |scanner, data| {
                    let report = scanner.scan(engine, data, opts);
                    match report.verdict() {
                        Verdict::Detected(_) => Tally {
                            matched: 1,
                            matches: 1,
                            errors: 0,
                        },
                        Verdict::Clean => Tally::default(),
                        Verdict::NotScanned(_) | Verdict::Error(_) => Tally {
                            errors: 1,
                            ..Tally::default()
                        },
                    }
                })
            }
            Contender::Raw(_, db, scratches) => {
                let db: &BlockDatabase = db;
                spread(scratches, &corpus.files, |scratch, data| {
                    let mut n = 0u64;
                    let r = db.scan(data, scratch, |_, _, _, _| {
                        n += 1;
                        Matching::Continue
                    });
                    Tally {
                        matched: (n > 0) as u64,
                        matches: n,
                        errors: r.is_err() as u64,
                    }
                })
            }
            Contender::Md5(threads) => spread(&mut vec![(); *threads], &corpus.files, |_, data| {
                std::hint::black_box(Md5::digest(data));
                Tally::default()
            }),
        };
        (start.elapsed(), tally)
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
        threads: args.threads as usize,
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
    let threads = out.threads;
    let scanners = |engine: &Engine| -> Result<Vec<Scanner>, String> {
        (0..threads)
            .map(|_| {
                let mut scanner = Scanner::new();
                scanner.prepare(engine)?;
                Ok(scanner)
            })
            .collect()
    };
    let engine = Arc::new(engine);
    let mut contenders = vec![
        Contender::Ringscan("ringscan", engine.clone(), scanners(&engine)?),
        // The same engine, raw bytes only: what the normalized-text pass costs.
        Contender::Ringscan("ringscan-raw-pass", engine.clone(), scanners(&engine)?),
    ];
    if let Some(files) = content_only(&args.sigs) {
        eprintln!("engine-bench: loading a content-only ringscan engine (.ndb/.ldb files only)");
        let (engine, _) = ringscan::db::load(&ringscan::db::LoadOptions {
            paths: files,
            strict: false,
            cache_dir: None,
        })
        .map_err(|e| e.to_string())?;
        let scanners = scanners(&engine)?;
        contenders.push(Contender::Ringscan(
            "ringscan-content",
            Arc::new(engine),
            scanners,
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
            let scratches = vec![scratch; threads];
            contenders.push(Contender::Raw(
                format!("raw-{}", what.name()),
                db,
                scratches,
            ));
        }
        Ok(Some(stats))
    };
    if !args.no_anchors {
        out.raw_anchors = raw(What::Anchors, "engine anchors, no verification")?;
    }
    if !args.no_raw {
        out.raw_full = raw(What::Full, "whole bodies as regexes")?;
    }
    contenders.push(Contender::Md5(threads));

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
            let (time, tally) = c.sweep(&corpus, opts);
            let Tally {
                matched,
                matches,
                errors,
            } = tally;
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
