//! `ringscan-perf`: load and memory measurements of a scan server (ClamAV's clamd or
//! `ringscan serve`; clamd protocol or KAV HTTP) from outside. A thin command line over
//! `ringscan_perf::load`; see `perf/README.md` ("Server: ringscan vs clamd", "HTTP").

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ringscan_perf::load::{
    closed, compare, headline, open, open_summary, plot, server, summary, sweep, util,
};

#[derive(Parser)]
#[command(
    name = "ringscan-perf",
    about = "Load and memory measurements of scan servers (clamd, ringscan serve): clamd protocol, KAV HTTP"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Closed-loop INSTREAM load: N clients, each sending its next object as soon as the
    /// previous answer is in; verdicts checked; throughput and latency percentiles.
    Closed(closed::Args),
    /// Open-loop load at a fixed rate: request i due at start + i/rate, N connections
    /// each taking the next due request when free; latency from the intended send time.
    Open(open::Args),
    /// Latency against throughput: the maximum (closed loop), then an open-loop run at
    /// each --loads share of it; a table, JSON and an SVG plot in --out.
    Sweep(sweep::Args),
    /// Draw sweeps (their <label>-sweep.json) together: latency against throughput, SVG.
    Plot(plot::Args),
    /// Two targets run in alternation (A B A B ...), closed or open loop, with the ratios
    /// B/A of throughput, p50 and p99 per pair and over the pairs.
    Compare(compare::Args),
    /// Start a server, time it until zPING answers PONG, print its RSS; leave it running.
    Launch(server::LaunchArgs),
    /// Send zRELOAD and follow the server's RSS until the reload is done.
    Reload(server::ReloadArgs),
    /// Stop a server: SIGTERM, then SIGKILL after the grace period.
    Stop {
        /// Its pid.
        #[arg(long)]
        pid: u32,
        /// How long to wait after SIGTERM.
        #[arg(long, value_parser = util::parse_duration, default_value = "10s")]
        grace: Duration,
    },
    /// Print summary.md for a perf/server.sh results directory.
    Summary {
        /// The results directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print summary.md for a perf/headline.sh results directory (ringscan against clamd).
    HeadlineSummary {
        /// The results directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print summary.md for a directory of open-loop runs (perf/http.sh).
    OpenSummary {
        /// The results directory (open-*.json, closed-*.json, machine.txt).
        #[arg(long)]
        dir: PathBuf,
    },
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Closed(a) => {
            closed::run(&a)?;
        }
        Cmd::Open(a) => {
            open::main(&a)?;
        }
        Cmd::Sweep(a) => {
            sweep::run(&a)?;
        }
        Cmd::Plot(a) => plot::main(&a)?,
        Cmd::Compare(a) => {
            compare::main(&a)?;
        }
        Cmd::Launch(a) => {
            let r = server::launch(&a)?;
            println!(
                "{}pid {}: PONG after {:.3} s; RSS {:.1} MiB, peak {:.1} MiB, CPU {:.2} s",
                r.label
                    .as_deref()
                    .map(|l| format!("[{l}] "))
                    .unwrap_or_default(),
                r.pid,
                r.load_s,
                r.rss_kib as f64 / 1024.0,
                r.peak_rss_kib as f64 / 1024.0,
                r.cpu_s
            );
        }
        Cmd::Reload(a) => {
            let r = server::reload(&a)?;
            if let Some(p) = &a.json {
                util::write_json(p, &r)?;
            }
            println!(
                "{}RELOAD -> {:?}; {}; RSS {:.1} MiB before, peak {:.1} MiB, {:.1} MiB after; CPU {:.2} s",
                r.label.as_deref().map(|l| format!("[{l}] ")).unwrap_or_default(),
                r.reply,
                if r.done {
                    format!("done after {:.3} s", r.reload_s)
                } else {
                    format!("done not detected ({})", r.wait)
                },
                r.rss_before_kib as f64 / 1024.0,
                r.peak_rss_kib as f64 / 1024.0,
                r.rss_after_kib as f64 / 1024.0,
                r.cpu_s
            );
        }
        Cmd::Stop { pid, grace } => server::stop(pid, grace)?,
        Cmd::Summary { dir } => print!("{}", summary::summary(&dir)?),
        Cmd::HeadlineSummary { dir } => print!("{}", headline::summary(&dir)?),
        Cmd::OpenSummary { dir } => print!("{}", open_summary::summary(&dir)?),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringscan-perf: {e}");
            ExitCode::from(2)
        }
    }
}
