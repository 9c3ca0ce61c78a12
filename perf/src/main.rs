//! `engine-bench`: measures the ringscan engine side by side with raw Hyperscan on the
//! same patterns and with clamscan. See `perf/README.md`.
//!
//! - `throughput`: one signature set, one corpus in memory, single thread;
//! - `scale`: the same at growing content signature counts;
//! - `clamscan`: the command-line scanners end to end;
//! - `summary`: `summary.md` from a results directory.

mod clamscan;
mod compile;
mod corpus;
mod proc;
mod report;
mod scale;
mod throughput;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "engine-bench",
    about = "ringscan engine benchmarks: against raw Hyperscan on the same patterns, and against clamscan"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Scan throughput of ringscan, raw Hyperscan (whole-body regexes and the engine's
    /// anchors) and MD5 on one signature set and an in-memory corpus.
    Throughput(throughput::Args),
    /// Throughput, compile time and memory at growing content signature counts.
    Scale(scale::Args),
    /// clamscan and the ringscan command line end to end: load time, scan rate, peak RSS.
    Clamscan(clamscan::Args),
    /// Print summary.md for a results directory (throughput.json, scale.json,
    /// clamscan.json, machine.txt).
    Summary {
        /// The results directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Compile one raw database (used by `throughput` in a child process).
    #[command(hide = true)]
    HsCompile(compile::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.cmd {
        Cmd::Throughput(a) => throughput::run(a),
        Cmd::Scale(a) => scale::run(a),
        Cmd::Clamscan(a) => clamscan::run(a),
        Cmd::Summary { dir } => report::summary(dir).map(|s| print!("{s}")),
        Cmd::HsCompile(a) => compile::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("engine-bench: {e}");
            ExitCode::from(2)
        }
    }
}
