//! `engine-bench scale`: the throughput curve as the content signature set grows. For
//! each size, a set is generated with `bench_corpus::signatures` (same seed, so the
//! smaller sets' bodies are drawn from the same stream), written to a work directory,
//! and measured by a fresh `engine-bench throughput` child, so every row's memory
//! figures start from a clean process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bench_corpus::{signatures, SigConfig};
use serde::{Deserialize, Serialize};

use crate::proc;
use crate::report;
use crate::throughput::Throughput;

/// Arguments of `scale`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Corpus directory (scanned recursively).
    #[arg(long)]
    pub corpus: PathBuf,
    /// Content (`.ndb`) signature counts, one row each.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    pub ndb: Vec<usize>,
    /// Hash (`.hdb`) signatures added to every row.
    #[arg(long, default_value_t = 0)]
    pub hdb: usize,
    /// Logical (`.ldb`) signatures added to every row.
    #[arg(long, default_value_t = 0)]
    pub ldb: usize,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Timed passes per row after the warm-up.
    #[arg(long, default_value_t = 3)]
    pub passes: usize,
    /// Give up on a raw Hyperscan compile after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub raw_timeout: u64,
    /// Where the generated sets go [default: a temporary directory, removed after].
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write one CSV line per row and contender here.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// ringscan keeps matching after the first detection (see `throughput --allmatch`).
    #[arg(long)]
    pub allmatch: bool,
}

/// One signature-set size.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ScaleRow {
    /// Content signatures generated.
    pub ndb: usize,
    /// Hash signatures generated.
    pub hdb: usize,
    /// Logical signatures generated.
    pub ldb: usize,
    /// The measurement, when the child produced one.
    pub result: Option<Throughput>,
    /// Why not.
    pub error: Option<String>,
}

/// Everything `scale` measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Scale {
    /// Corpus directory.
    pub corpus: String,
    /// Seed of the generated sets.
    pub seed: u64,
    /// Rows, in the order asked.
    pub rows: Vec<ScaleRow>,
}

fn write_set(dir: &Path, args: &Args, ndb: usize) -> Result<(), String> {
    let set = signatures(&SigConfig {
        seed: args.seed,
        ndb,
        hdb: args.hdb,
        ldb: args.ldb,
        ..SigConfig::default()
    });
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files = vec![("gen.ndb", &set.ndb)];
    if args.hdb > 0 {
        files.push(("gen.hdb", &set.hdb));
    }
    if args.ldb > 0 {
        files.push(("gen.ldb", &set.ldb));
    }
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn row(args: &Args, work: &Path, ndb: usize) -> ScaleRow {
    let mut row = ScaleRow {
        ndb,
        hdb: args.hdb,
        ldb: args.ldb,
        ..Default::default()
    };
    let dir = work.join(format!("ndb-{ndb}"));
    let sigs = dir.join("sigs");
    eprintln!(
        "engine-bench scale: {ndb} ndb, {} hdb, {} ldb -> {}",
        args.hdb,
        args.ldb,
        sigs.display()
    );
    if let Err(e) = write_set(&sigs, args, ndb) {
        row.error = Some(e);
        return row;
    }
    let json = dir.join("throughput.json");
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            row.error = Some(format!("current_exe: {e}"));
            return row;
        }
    };
    let mut cmd = Command::new(exe);
    cmd.arg("throughput")
        .arg("--sigs")
        .arg(&sigs)
        .arg("--corpus")
        .arg(&args.corpus)
        .arg("--passes")
        .arg(args.passes.to_string())
        .arg("--raw-timeout")
        .arg(args.raw_timeout.to_string())
        .arg("--work")
        .arg(dir.join("hs"))
        .arg("--json")
        .arg(&json)
        .arg("--quiet")
        .args(args.allmatch.then_some("--allmatch"))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    match proc::run_child(&mut cmd, None) {
        Ok(run) if run.code == Some(0) => {
            match std::fs::read(&json)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(t) => row.result = Some(t),
                Err(e) => row.error = Some(format!("{}: {e}", json.display())),
            }
        }
        Ok(run) => row.error = Some(format!("throughput child: {}", run.describe())),
        Err(e) => row.error = Some(e),
    }
    let _ = std::fs::remove_dir_all(dir.join("hs"));
    row
}

/// `engine-bench scale`.
pub fn run(args: &Args) -> Result<(), String> {
    let owned = args.work.is_none();
    let work = match &args.work {
        Some(w) => w.clone(),
        None => std::env::temp_dir().join(format!("engine-bench-scale-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut out = Scale {
        corpus: args.corpus.display().to_string(),
        seed: args.seed,
        rows: Vec::new(),
    };
    for &n in &args.ndb {
        out.rows.push(row(args, &work, n));
        // Partial results survive a later row's crash or an interrupted run.
        if let Some(path) = &args.json {
            report::write_json(path, &out)?;
        }
    }
    if owned {
        let _ = std::fs::remove_dir_all(&work);
    }
    if let Some(path) = &args.csv {
        report::write(path, &report::scale_csv(&out))?;
    }
    print!("{}", report::scale_table(&out));
    Ok(())
}
