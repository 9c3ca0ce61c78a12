//! `ringscan-perf sweep`: latency against throughput at fixed shares of the measured
//! maximum.
//!
//! One maximum rate is not enough to compare servers: what matters is the latency a
//! client sees at the loads it will really offer, and where the curve turns up. So:
//!
//! 1. the maximum: a closed loop ([`closed::drive`]) with `--connections` clients; its
//!    right answers per second are the maximum (or `--max-rate` skips it). Errors there
//!    do not stop the sweep; they are reported beside the maximum;
//! 2. one open-loop run ([`open::drive`]) per `--loads` share of that maximum, on the
//!    same connections and the same objects (loaded once), latency from the intended
//!    send time;
//! 3. a [`SweepReport`] (JSON), a Markdown table ([`markdown`]) and an SVG plot
//!    ([`plot::latency_vs_throughput`]).
//!
//! Files in `--out DIR`, named after `--label`: `<label>-max.json` (the closed loop's
//! [`ClosedReport`](super::closed::ClosedReport)), `<label>-<load>.json` (each point's
//! [`OpenReport`]), `<label>-<load>.hlog` (each point's interval log, from `open`'s
//! `--hlog`), `<label>-sweep.json`, `<label>-sweep.md`, `<label>-sweep.svg`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::closed;
use super::objects::{CorpusInfo, Objects};
use super::open::{self, OpenReport};
use super::open_summary::size_label;
use super::plot;
use super::recorder::Latency;
use super::source::{self, ObjectArgs};
use super::target::ClientArgs;
use super::util::{parse_duration, unix_now, write_json};

/// RSS sampling interval of every run (with `--server-pid`): `open`'s and `closed`'s
/// default.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// Arguments of `ringscan-perf sweep`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The server and how to talk to it.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The objects.
    #[command(flatten)]
    pub objects: ObjectArgs,
    /// Connections (threads): the closed loop's clients and every point's connections.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub connections: u32,
    /// Offered loads, percent of the maximum, in the order they run.
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = parse_load,
        default_value = "25,50,75,90,100"
    )]
    pub loads: Vec<f64>,
    /// The closed loop that finds the maximum: measured part.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub max_duration: Duration,
    /// The closed loop that finds the maximum: warm-up.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub max_warmup: Duration,
    /// Take this as the maximum (requests per second) instead of measuring it.
    #[arg(long, value_parser = open::parse_rate)]
    pub max_rate: Option<f64>,
    /// Each point: measured part of the schedule.
    #[arg(long, value_parser = parse_duration, default_value = "8s")]
    pub duration: Duration,
    /// Each point: schedule before the measured part.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub warmup: Duration,
    /// Each point: late requests still start this long after the schedule's end.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub drain: Duration,
    /// The server's pid, passed to every run (its RSS and CPU time).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Names the files and the plot's legend (e.g. ringscan-4k, clamd-4k).
    #[arg(long)]
    pub label: String,
    /// Where the files go (created).
    #[arg(long)]
    pub out: PathBuf,
    /// No table on stdout, no progress on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// A load in percent of the maximum: above 0, at most 200.
pub fn parse_load(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches('%');
    match t.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 200.0 => Ok(p),
        _ => Err(format!(
            "bad load {s:?}: percent of the maximum, in (0, 200]"
        )),
    }
}

/// The maximum the loads are shares of.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SweepMax {
    /// Measured by the closed loop (false: given with `--max-rate`, the rest is empty).
    pub measured: bool,
    /// Right answers per second: the maximum.
    pub rate: f64,
    /// Their MB (10^6 bytes) per second.
    pub mb_s: f64,
    /// The closed loop's window, seconds.
    pub duration_s: f64,
    /// Its warm-up, seconds.
    pub warmup_s: f64,
    /// Right answers in the window.
    pub requests: u64,
    /// The closed loop's latency (from the actual send: the service time at this
    /// concurrency), ms.
    pub latency_ms: Latency,
    /// Requests that failed or got a wrong verdict.
    pub errors: u64,
    /// By kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// The first few error messages.
    pub error_examples: Vec<String>,
}

/// One open-loop run of the sweep.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Offered load, percent of the maximum.
    pub load_pct: f64,
    /// Offered requests per second.
    pub offered_rate: f64,
    /// Right answers per second over the span (see [`OpenReport::achieved_rate`]).
    pub achieved_rate: f64,
    /// Their MB (10^6 bytes) per second.
    pub mb_s: f64,
    /// Right answers in the window.
    pub requests: u64,
    /// Latency from the intended send time, ms.
    pub latency_ms: Latency,
    /// Service time, from the actual send, ms.
    pub service_ms: Latency,
    /// Requests that failed or got a wrong verdict.
    pub errors: u64,
    /// Of those, timeouts.
    pub timeouts: u64,
    /// Errors by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Window requests never sent (the drain ran out): the server fell that far behind.
    pub unsent: u64,
}

impl SweepPoint {
    /// The point of an open-loop report.
    pub fn of(load_pct: f64, r: &OpenReport) -> SweepPoint {
        SweepPoint {
            load_pct,
            offered_rate: r.offered_rate,
            achieved_rate: r.achieved_rate,
            mb_s: r.mb_s,
            requests: r.requests,
            latency_ms: r.latency_ms.clone(),
            service_ms: r.service_ms.clone(),
            errors: r.errors,
            timeouts: r.timeouts,
            errors_by_kind: r.errors_by_kind.clone(),
            unsent: r.unsent,
        }
    }
}

/// Everything a sweep measured: `<label>-sweep.json`, what `plot` reads.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SweepReport {
    /// `--label`.
    pub label: String,
    /// The target.
    pub target: String,
    /// `instream`, `instream-session`, `kav1-keepalive`, `kav3-keepalive`.
    pub mode: String,
    /// Connections, of the closed loop and of every point.
    pub connections: u32,
    /// The objects.
    pub corpus: CorpusInfo,
    /// Their mean size, bytes.
    pub object_bytes: u64,
    /// Each point's measured part, seconds.
    pub duration_s: f64,
    /// Each point's warm-up, seconds.
    pub warmup_s: f64,
    /// Each point's drain allowance, seconds.
    pub drain_s: f64,
    /// The maximum.
    pub max: SweepMax,
    /// The points, in the order they ran.
    pub points: Vec<SweepPoint>,
    /// Unix time of the start.
    pub started_unix: f64,
}

/// `DIR/<label>-<what>.<ext>`.
pub fn file(out: &Path, label: &str, what: &str, ext: &str) -> PathBuf {
    out.join(format!("{label}-{what}.{ext}"))
}

/// A load as it appears in file names and tables: `25`, `12.5`.
pub fn load_name(pct: f64) -> String {
    format!("{pct}")
}

/// The closed loop that finds the maximum.
fn closed_args(args: &Args) -> closed::Args {
    closed::Args {
        client: args.client.clone(),
        objects: args.objects.clone(),
        concurrency: args.connections,
        duration: Some(args.max_duration),
        requests: None,
        warmup: Some(args.max_warmup),
        server_pid: args.server_pid,
        sample_interval: SAMPLE_INTERVAL,
        label: Some(format!("{}-max", args.label)),
        json: None,
        quiet: true,
    }
}

/// The open loop of one point: `load_pct` % of `max_rate`.
fn open_args(args: &Args, load_pct: f64, max_rate: f64) -> open::Args {
    let load = load_name(load_pct);
    open::Args {
        client: args.client.clone(),
        objects: args.objects.clone(),
        rate: max_rate * load_pct / 100.0,
        duration: args.duration,
        warmup: args.warmup,
        connections: args.connections,
        drain: args.drain,
        server_pid: args.server_pid,
        sample_interval: SAMPLE_INTERVAL,
        label: Some(format!("{}-{load}", args.label)),
        json: None,
        hlog: Some(file(&args.out, &args.label, &load, "hlog")),
        quiet: true,
    }
}

/// Refuses what would make the files collide or name nothing.
fn check(args: &Args) -> Result<(), String> {
    if args.label.is_empty() || args.label.contains(['/', '\\']) || args.label.starts_with('.') {
        return Err(format!(
            "--label {:?}: it names files, so no slashes and no leading dot",
            args.label
        ));
    }
    if args.loads.is_empty() {
        return Err("--loads: give at least one".into());
    }
    for (i, a) in args.loads.iter().enumerate() {
        if args.loads[..i].contains(a) {
            return Err(format!(
                "--loads: {a} twice (its files would be overwritten)"
            ));
        }
    }
    Ok(())
}

/// Step 1: the maximum, from the closed loop (written to `<label>-max.json`) or given.
fn maximum(args: &Args, objects: &Objects) -> Result<SweepMax, String> {
    if let Some(rate) = args.max_rate {
        let mean = objects.bytes as f64 / objects.objects.len().max(1) as f64;
        return Ok(SweepMax {
            measured: false,
            rate,
            mb_s: rate * mean / 1e6,
            ..SweepMax::default()
        });
    }
    let r = closed::drive(&closed_args(args), objects)?;
    write_json(&file(&args.out, &args.label, "max", "json"), &r)?;
    if r.requests == 0 || r.files_s <= 0.0 {
        return Err(format!(
            "the closed loop got no right answers ({} errors{}), so there is no maximum to \
             take shares of",
            r.errors,
            r.error_examples
                .first()
                .map(|e| format!("; first: {e}"))
                .unwrap_or_default()
        ));
    }
    Ok(SweepMax {
        measured: true,
        rate: r.files_s,
        mb_s: r.mb_s,
        duration_s: r.window_s,
        warmup_s: r.warmup_s,
        requests: r.requests,
        latency_ms: r.latency_ms,
        errors: r.errors,
        errors_by_kind: r.errors_by_kind,
        error_examples: r.error_examples,
    })
}

/// The whole sweep on loaded objects: the maximum, every point, and the files
/// (`--out` is created). Progress goes to stderr unless `--quiet`.
pub fn sweep(args: &Args, objects: &Objects) -> Result<SweepReport, String> {
    check(args)?;
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let say = |m: String| {
        if !args.quiet {
            eprintln!("ringscan-perf: sweep [{}]: {m}", args.label);
        }
    };
    let started_unix = unix_now();
    let max = maximum(args, objects)?;
    say(format!(
        "maximum {:.1} req/s{}",
        max.rate,
        if max.measured {
            format!(
                " (closed loop, {} connections, {} errors)",
                args.connections, max.errors
            )
        } else {
            " (--max-rate)".into()
        }
    ));
    let mut points = Vec::with_capacity(args.loads.len());
    for &load in &args.loads {
        let a = open_args(args, load, max.rate);
        let r = open::drive(&a, objects)?;
        write_json(&file(&args.out, &args.label, &load_name(load), "json"), &r)?;
        say(format!(
            "{} % = {:.1} req/s offered: achieved {:.1} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            load_name(load),
            r.offered_rate,
            r.achieved_rate,
            r.latency_ms.p50,
            r.latency_ms.p99,
            r.errors
        ));
        points.push(SweepPoint::of(load, &r));
    }
    let report = SweepReport {
        label: args.label.clone(),
        target: args.client.target.to_string(),
        mode: args.client.mode(),
        connections: args.connections,
        corpus: objects.info(),
        object_bytes: objects.bytes / objects.objects.len().max(1) as u64,
        duration_s: args.duration.as_secs_f64(),
        warmup_s: args.warmup.as_secs_f64(),
        drain_s: args.drain.as_secs_f64(),
        max,
        points,
        started_unix,
    };
    write_json(&file(&args.out, &args.label, "sweep", "json"), &report)?;
    let md = file(&args.out, &args.label, "sweep", "md");
    std::fs::write(&md, markdown(&report)).map_err(|e| format!("{}: {e}", md.display()))?;
    plot::latency_vs_throughput(
        &[&report],
        &plot::title_of(&report),
        &file(&args.out, &args.label, "sweep", "svg"),
    )?;
    Ok(report)
}

/// `ringscan-perf sweep`: loads the objects once, runs [`sweep`], prints the table.
pub fn run(args: &Args) -> Result<SweepReport, String> {
    check(args)?;
    let objects = source::load(&args.objects, &args.client)?;
    if !args.quiet {
        eprintln!(
            "ringscan-perf: {} objects, {:.1} MB in memory; sweep of {} over {} connections, loads {:?} %",
            objects.objects.len(),
            objects.bytes as f64 / 1e6,
            args.client.target,
            args.connections,
            args.loads
        );
    }
    let report = sweep(args, &objects)?;
    if !args.quiet {
        print!("{}", markdown(&report));
        println!(
            "\nfiles: {}",
            file(&args.out, &args.label, "sweep", "{json,md,svg}").display()
        );
    }
    Ok(report)
}

/// `timeout 3, io 2`.
fn kinds(by_kind: &BTreeMap<String, u64>) -> String {
    by_kind
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Markdown table: one row per point, the maximum and the setting above it.
pub fn markdown(r: &SweepReport) -> String {
    let mut s = String::new();
    let c = &r.corpus;
    let _ = writeln!(s, "### {}: latency against throughput\n", r.label);
    let _ = writeln!(
        s,
        "{} ({}), {} connections; {} objects of {} mean ({} expected FOUND; {}).\n",
        r.target,
        r.mode,
        r.connections,
        c.files,
        size_label(r.object_bytes),
        c.expect_found,
        c.dir
    );
    let m = &r.max;
    if m.measured {
        let _ = writeln!(
            s,
            "Maximum: **{:.1} req/s**, {:.2} MB/s (closed loop, {} clients, {:.1} s after {:.1} s \
             warm-up; latency from the actual send p50 {:.2} ms, p99 {:.2} ms); errors {}{}.\n",
            m.rate,
            m.mb_s,
            r.connections,
            m.duration_s,
            m.warmup_s,
            m.latency_ms.p50,
            m.latency_ms.p99,
            m.errors,
            if m.errors > 0 {
                format!(" (**{}**)", kinds(&m.errors_by_kind))
            } else {
                String::new()
            }
        );
    } else {
        let _ = writeln!(
            s,
            "Maximum: **{:.1} req/s**, {:.2} MB/s (given with --max-rate, not measured).\n",
            m.rate, m.mb_s
        );
    }
    let _ = writeln!(
        s,
        "Each point: open loop at the offered rate for {:.1} s after {:.1} s warm-up; latency \
         in ms from the intended send time.\n",
        r.duration_s, r.warmup_s
    );
    let _ = writeln!(
        s,
        "| load | offered req/s | achieved req/s | MB/s | p50 | p90 | p99 | p99.9 | p99.99 | max | errors |"
    );
    let _ = writeln!(
        s,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for p in &r.points {
        let l = &p.latency_ms;
        let _ = writeln!(
            s,
            "| {} % | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            load_name(p.load_pct),
            p.offered_rate,
            p.achieved_rate,
            p.mb_s,
            l.p50,
            l.p90,
            l.p99,
            l.p999,
            l.p9999,
            l.max,
            p.errors
        );
    }
    // What the table's columns cannot say: errors by kind, requests never sent.
    let notes: Vec<String> = r
        .points
        .iter()
        .filter(|p| p.errors > 0 || p.unsent > 0)
        .map(|p| {
            let mut parts = Vec::new();
            if p.errors > 0 {
                parts.push(format!("errors {}", kinds(&p.errors_by_kind)));
            }
            if p.unsent > 0 {
                parts.push(format!("{} not sent (the drain ran out)", p.unsent));
            }
            format!("- {} %: {}", load_name(p.load_pct), parts.join("; "))
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(s, "\n{}", notes.join("\n"));
    }
    s
}

#[cfg(test)]
mod tests;
