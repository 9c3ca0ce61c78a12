//! `engine-bench clamscan`: the command-line scanners end to end, for reference.
//! `clamscan --no-summary -d SIGS` and `ringscan scan --no-cache -j 1 --db SIGS`, each
//! run once on an empty file (its load time) and once on the corpus (`-r`); the scan
//! time is the difference. Peak RSS is each child's own `ru_maxrss` from `wait4`.
//! clamscan does more than ringscan on the same files (it unpacks archives, normalizes
//! HTML and text, parses PE), so this is a reference point, not a like-for-like race.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::corpus;
use crate::proc;
use crate::report;

/// Arguments of `clamscan`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Signature database directory or file (given to both scanners).
    #[arg(long)]
    pub sigs: PathBuf,
    /// Corpus directory.
    #[arg(long)]
    pub corpus: PathBuf,
    /// The ringscan binary [default: next to engine-bench, i.e. target/release/ringscan
    /// under the workspace root].
    #[arg(long)]
    pub ringscan: Option<PathBuf>,
    /// The clamscan binary.
    #[arg(long, default_value = "clamscan")]
    pub clamscan: PathBuf,
    /// Extra argument for clamscan (repeatable), e.g. `--clamscan-arg=--scan-archive=no`.
    #[arg(long, allow_hyphen_values = true)]
    pub clamscan_arg: Vec<String>,
    /// Runs of each command; the fastest counts.
    #[arg(long, default_value_t = 1)]
    pub passes: usize,
    /// Scratch directory (the empty file, the scanners' output) [default: temporary].
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// One scanner's figures.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Tool {
    /// `clamscan` or `ringscan`.
    pub tool: String,
    /// First line of `--version`.
    pub version: String,
    /// The corpus command line.
    pub command: String,
    /// Wall time on an empty file: database load and start-up, seconds.
    pub load_s: f64,
    /// Peak RSS of the empty-file run, KiB.
    pub load_peak_rss_kib: u64,
    /// Wall time on the corpus, seconds.
    pub total_s: f64,
    /// `total_s - load_s`.
    pub scan_s: f64,
    /// Corpus MB per second of scan time.
    pub mb_s: f64,
    /// Corpus files per second of scan time.
    pub files_s: f64,
    /// Peak RSS of the corpus run, KiB.
    pub peak_rss_kib: u64,
    /// `FOUND` lines of the corpus run.
    pub found: usize,
    /// Exit code of the corpus run (0 clean, 1 found, 2 error).
    pub exit: Option<i32>,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Everything `clamscan` measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Reference {
    /// Signature path.
    pub sigs: String,
    /// Corpus directory.
    pub corpus: String,
    /// Corpus files.
    pub files: usize,
    /// Corpus bytes.
    pub bytes: u64,
    /// This process's VmHWM before the runs, KiB: the peak RSS figures cannot be
    /// below it (Linux folds the parent's memory into a child's `ru_maxrss`).
    pub parent_peak_rss_kib: u64,
    /// The scanners.
    pub tools: Vec<Tool>,
}

/// The ringscan built with this binary (same target directory: normally
/// `target/release/ringscan` under the workspace root), else the workspace root's.
fn default_ringscan() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("ringscan")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/ringscan"))
}

fn version(bin: &Path, arg: &str) -> String {
    Command::new(bin)
        .arg(arg)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Runs `bin args... target` `passes` times; the fastest run's figures.
fn best_run(
    bin: &Path,
    args: &[String],
    target: &Path,
    passes: usize,
    out: &Path,
) -> Result<(proc::ChildRun, usize), String> {
    let mut best: Option<(proc::ChildRun, usize)> = None;
    for _ in 0..passes.max(1) {
        let stdout = File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .arg(target)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::null());
        let run = proc::run_child(&mut cmd, None)?;
        let found = std::fs::read_to_string(out)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.ends_with(" FOUND"))
            .count();
        if best.as_ref().is_none_or(|(b, _)| run.wall < b.wall) {
            best = Some((run, found));
        }
    }
    best.ok_or_else(|| "no run".into())
}

fn measure_tool(
    tool: &str,
    bin: &Path,
    args: Vec<String>,
    a: &Args,
    work: &Path,
    files: usize,
    bytes: u64,
) -> Tool {
    let mut t = Tool {
        tool: tool.into(),
        version: version(bin, "--version"),
        ..Default::default()
    };
    let mut recursive = args.clone();
    recursive.push("-r".into());
    t.command = format!(
        "{} {} {}",
        bin.display(),
        recursive.join(" "),
        a.corpus.display()
    );
    let empty = work.join("empty");
    let out = work.join(format!("{tool}.out"));
    eprintln!("engine-bench: {tool} on an empty file (load time)");
    let load = best_run(bin, &args, &empty, a.passes, &out);
    eprintln!("engine-bench: {} -r {}", tool, a.corpus.display());
    let full = best_run(bin, &recursive, &a.corpus, a.passes, &out);
    match (load, full) {
        (Ok((load, _)), Ok((full, found))) => {
            t.load_s = load.wall.as_secs_f64();
            t.load_peak_rss_kib = load.peak_rss_kib;
            t.total_s = full.wall.as_secs_f64();
            t.scan_s = (t.total_s - t.load_s).max(1e-9);
            t.mb_s = bytes as f64 / 1e6 / t.scan_s;
            t.files_s = files as f64 / t.scan_s;
            t.peak_rss_kib = full.peak_rss_kib;
            t.found = found;
            t.exit = full.code;
            if !matches!(load.code, Some(0 | 1)) || !matches!(full.code, Some(0 | 1)) {
                t.error = Some(format!(
                    "empty-file run: {}, corpus run: {}",
                    load.describe(),
                    full.describe()
                ));
            }
        }
        (Err(e), _) | (_, Err(e)) => t.error = Some(e),
    }
    t
}

/// `engine-bench clamscan`.
pub fn run(a: &Args) -> Result<(), String> {
    let owned = a.work.is_none();
    let work = match &a.work {
        Some(w) => w.clone(),
        None => std::env::temp_dir().join(format!("engine-bench-cli-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    File::create(work.join("empty")).map_err(|e| format!("{}: {e}", work.display()))?;
    let (files, bytes) = corpus::size(&a.corpus)?;
    let sigs = a.sigs.display().to_string();

    let mut clam_args = vec!["--no-summary".to_string(), "-d".into(), sigs.clone()];
    clam_args.extend(a.clamscan_arg.iter().cloned());
    let ringscan = a.ringscan.clone().unwrap_or_else(default_ringscan);
    let ring_args: Vec<String> = ["scan", "--no-cache", "--no-summary", "-j", "1", "--db"]
        .iter()
        .map(|s| s.to_string())
        .chain([sigs.clone()])
        .collect();

    let parent_peak_rss_kib = proc::rss().peak_kib;
    let out = Reference {
        parent_peak_rss_kib,
        sigs,
        corpus: a.corpus.display().to_string(),
        files,
        bytes,
        tools: vec![
            measure_tool("clamscan", &a.clamscan, clam_args, a, &work, files, bytes),
            measure_tool("ringscan", &ringscan, ring_args, a, &work, files, bytes),
        ],
    };
    if owned {
        let _ = std::fs::remove_dir_all(&work);
    }
    if let Some(path) = &a.json {
        report::write_json(path, &out)?;
    }
    print!("{}", report::clamscan_table(&out));
    Ok(())
}
