//! `ringscan-perf compare`: two targets measured in alternation, A B A B ..., and the
//! ratio B/A of every pair.
//!
//! Why alternate: on a shared or noisy machine the figures drift over minutes (other
//! jobs, CPU frequency, the page cache, a server still warming up). All of A then all of
//! B puts that drift into the ratio; an A run and the B run right after it see nearly
//! the same machine, so a pair's ratio cancels whatever drifts slowly against a pair's
//! length, and the spread of the ratios over the pairs shows what is left. The order is
//! strictly A, B, A, B: never two runs of one side back to back.
//!
//! A run is the closed loop ([`closed::drive`], `--mode closed`: capacity at
//! `--concurrency`) or the open loop at a fixed rate ([`open::drive`], `--mode open`:
//! latency at `--rate`, where both targets should achieve the same throughput), with
//! the same objects, client options, duration and warm-up for both sides.
//!
//! Every ratio is **B/A**: throughput (right answers per second; above 1, B serves more),
//! p50 and p99 latency (below 1, B answers sooner). The summary gives, per ratio, the
//! median and the range over the pairs, and the geometric mean of the throughput ratios
//! (the mean under which 2x and 0.5x cancel). Errors are not latency samples, so a
//! server that fails fast can look fast: a run with errors marks its pair as suspect,
//! and the text report warns.
//!
//! Objects are made or read once, before the first run. Expected verdicts learned by a
//! first pass (a corpus without a manifest) are learned from each target apart, since
//! two servers may name one detection differently; otherwise both sides share one set.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::closed;
use super::objects::{CorpusInfo, ExpectSpec, Objects};
use super::open;
use super::recorder::Latency;
use super::source::{self, ObjectArgs};
use super::target::{ClientArgs, Target};
use super::util::{parse_duration, parse_size, unix_now, write_json};

/// Arguments of `ringscan-perf compare`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Target A, the reference (same syntax as --target of closed and open).
    #[arg(long)]
    pub a: Target,
    /// Target B, compared with A: ratios are B/A.
    #[arg(long)]
    pub b: Target,
    /// A's name in reports and in --out file names.
    #[arg(long, default_value = "A")]
    pub a_label: String,
    /// B's name in reports and in --out file names.
    #[arg(long, default_value = "B")]
    pub b_label: String,
    /// The objects, the same for both targets.
    #[command(flatten)]
    pub objects: ObjectArgs,
    /// Socket timeout for connect and for every read and write.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub timeout: Duration,
    /// clamd targets: INSTREAM chunk size.
    #[arg(long, value_parser = parse_size, default_value = "64K")]
    pub chunk: u64,
    /// clamd targets: one IDSESSION connection per client.
    #[arg(long)]
    pub session: bool,
    /// Pairs of runs (A then B each).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub pairs: u32,
    /// closed: capacity at --concurrency; open: latency at a fixed --rate.
    #[arg(long, value_enum, default_value_t = Mode::Closed)]
    pub mode: Mode,
    /// Closed mode: concurrent clients.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Open mode (required there): offered requests per second.
    #[arg(long, required_if_eq("mode", "open"), value_parser = open::parse_rate)]
    pub rate: Option<f64>,
    /// Open mode: connections.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub connections: u32,
    /// Open mode: late requests still start for this long after the schedule's end.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub drain: Duration,
    /// Measured part of each run.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Warm-up before each run's window (not samples).
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub warmup: Duration,
    /// A's server pid: its CPU and RSS go into the --out reports.
    #[arg(long)]
    pub a_pid: Option<u32>,
    /// B's server pid.
    #[arg(long)]
    pub b_pid: Option<u32>,
    /// Write the comparison ([`CompareReport`]) as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write every run's full report here as LABEL-PAIR.json.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No table on stdout and no progress on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// What one run is.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The closed loop: each client sends as soon as its answer is in.
    Closed,
    /// The open loop at a fixed rate.
    Open,
}

/// Which target a run measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// The reference.
    A,
    /// The one compared with it.
    B,
}

/// One run's figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Run {
    /// Its pair, from 1.
    pub pair: u32,
    /// A or B.
    pub side: Side,
    /// That side's label.
    pub label: String,
    /// That side's target.
    pub target: String,
    /// Right answers in the window.
    pub requests: u64,
    /// Right answers per second.
    pub files_s: f64,
    /// Their MB (10^6 bytes) per second.
    pub mb_s: f64,
    /// Latency of right answers, ms (open mode: from the intended send time).
    pub latency_ms: Latency,
    /// Failed requests and wrong verdicts.
    pub errors: u64,
    /// Open mode: window requests never sent (the server fell too far behind).
    pub unsent: u64,
    /// Unix time of the run's start.
    pub started_unix: f64,
}

/// One pair's ratios, B/A; `None` where A's figure is zero, or a run is missing or has
/// no latency samples.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pair {
    /// The pair, from 1.
    pub pair: u32,
    /// Throughput (right answers per second), B/A.
    pub throughput: Option<f64>,
    /// p50 latency, B/A.
    pub p50: Option<f64>,
    /// p99 latency, B/A.
    pub p99: Option<f64>,
    /// A run of the pair had errors (or a side is missing): the ratios are suspect.
    pub suspect: bool,
}

/// One ratio over the pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Pairs that had the ratio.
    pub n: usize,
    /// Their median (the mean of the middle two for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

/// The ratios over all pairs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Throughput B/A.
    pub throughput: Option<Spread>,
    /// Geometric mean of the throughput ratios (0 when B served nothing in a pair).
    pub throughput_geomean: Option<f64>,
    /// p50 B/A.
    pub p50: Option<Spread>,
    /// p99 B/A.
    pub p99: Option<Spread>,
    /// Pairs marked suspect (counted in the figures above all the same).
    pub suspect_pairs: u32,
}

/// Everything `compare` measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompareReport {
    /// A's label.
    pub a_label: String,
    /// B's label.
    pub b_label: String,
    /// A's target.
    pub a_target: String,
    /// B's target.
    pub b_target: String,
    /// closed or open.
    pub mode: Mode,
    /// Clients (closed) or connections (open) per run.
    pub clients: u32,
    /// Open mode: the offered rate, requests per second.
    pub rate: Option<f64>,
    /// Each run's window, seconds.
    pub duration_s: f64,
    /// Each run's warm-up, seconds.
    pub warmup_s: f64,
    /// The objects (A's expectations).
    pub corpus: CorpusInfo,
    /// Every run, in the order run: A, B, A, B, ...
    pub runs: Vec<Run>,
    /// Every pair's ratios.
    pub pairs: Vec<Pair>,
    /// The ratios over the pairs.
    pub summary: Summary,
    /// Unix time of the first run's start.
    pub started_unix: f64,
}

impl Args {
    /// The client options for one side.
    pub fn client(&self, side: Side) -> ClientArgs {
        ClientArgs {
            target: match side {
                Side::A => self.a.clone(),
                Side::B => self.b.clone(),
            },
            timeout: self.timeout,
            chunk: self.chunk,
            session: self.session,
        }
    }

    /// One side's label.
    pub fn label(&self, side: Side) -> &str {
        match side {
            Side::A => &self.a_label,
            Side::B => &self.b_label,
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.a_label == self.b_label {
            return Err(format!(
                "--a-label and --b-label are both {:?}",
                self.a_label
            ));
        }
        match (self.mode, self.rate) {
            (Mode::Open, None) => Err("--mode open needs --rate".into()),
            (Mode::Open, Some(r)) if !(r.is_finite() && r > 0.0) => {
                Err(format!("bad --rate {r}: requests per second, above 0"))
            }
            _ => Ok(()),
        }
    }
}

/// Whether the expected verdicts come from a first pass against the target, as
/// [`Objects::load`] decides it: then each target needs its own pass.
fn learns_from_target(o: &ObjectArgs) -> bool {
    match (&o.corpus, o.size) {
        (Some(dir), None) => match o.expect {
            ExpectSpec::FirstPass => true,
            ExpectSpec::Auto => !dir.join("manifest.tsv").exists(),
            _ => false,
        },
        _ => false,
    }
}

/// The objects for A, and for B when its verdicts must be learned apart (else B uses
/// A's).
pub fn load(args: &Args) -> Result<(Objects, Option<Objects>), String> {
    let a = source::load(&args.objects, &args.client(Side::A))?;
    let b = if learns_from_target(&args.objects) {
        Some(source::load(&args.objects, &args.client(Side::B))?)
    } else {
        None
    };
    Ok((a, b))
}

/// A label as a file name: anything but letters, digits, `-`, `_` and `.` becomes `_`.
fn file_label(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One run of one side; its full report goes to `--out` when given.
fn one_run(args: &Args, side: Side, pair: u32, objects: &Objects) -> Result<Run, String> {
    let client = args.client(side);
    let label = args.label(side).to_string();
    let server_pid = match side {
        Side::A => args.a_pid,
        Side::B => args.b_pid,
    };
    let out = args
        .out
        .as_ref()
        .map(|d| d.join(format!("{}-{pair}.json", file_label(&label))));
    let target = client.target.to_string();
    let run = match args.mode {
        Mode::Closed => {
            let a = closed::Args {
                client,
                objects: args.objects.clone(),
                concurrency: args.concurrency,
                duration: Some(args.duration),
                requests: None,
                warmup: Some(args.warmup),
                server_pid,
                sample_interval: Duration::from_millis(100),
                label: Some(label.clone()),
                json: None,
                quiet: true,
            };
            let r = closed::drive(&a, objects)?;
            save(out.as_deref(), &r)?;
            Run {
                pair,
                side,
                label,
                target,
                requests: r.requests,
                files_s: r.files_s,
                mb_s: r.mb_s,
                latency_ms: r.latency_ms,
                errors: r.errors,
                unsent: 0,
                started_unix: r.started_unix,
            }
        }
        Mode::Open => {
            let a = open::Args {
                client,
                objects: args.objects.clone(),
                rate: args.rate.ok_or("--mode open needs --rate")?,
                duration: args.duration,
                warmup: args.warmup,
                connections: args.connections,
                drain: args.drain,
                server_pid,
                sample_interval: Duration::from_millis(100),
                label: Some(label.clone()),
                json: None,
                hlog: None,
                quiet: true,
            };
            let r = open::drive(&a, objects)?;
            save(out.as_deref(), &r)?;
            Run {
                pair,
                side,
                label,
                target,
                requests: r.requests,
                files_s: r.achieved_rate,
                mb_s: r.mb_s,
                latency_ms: r.latency_ms,
                errors: r.errors,
                unsent: r.unsent,
                started_unix: r.started_unix,
            }
        }
    };
    Ok(run)
}

fn save<T: Serialize>(path: Option<&Path>, report: &T) -> Result<(), String> {
    path.map_or(Ok(()), |p| write_json(p, report))
}

/// Runs the pairs, A then B each time; `a` and `b` are each side's objects.
pub fn drive(args: &Args, a: &Objects, b: &Objects) -> Result<CompareReport, String> {
    args.check()?;
    let started_unix = unix_now();
    let mut runs = Vec::with_capacity(2 * args.pairs as usize);
    for pair in 1..=args.pairs {
        for (side, objects) in [(Side::A, a), (Side::B, b)] {
            let run = one_run(args, side, pair, objects)?;
            if !args.quiet {
                eprintln!(
                    "ringscan-perf: pair {pair}/{} {}: {:.1} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                    args.pairs, run.label, run.files_s, run.latency_ms.p50, run.latency_ms.p99, run.errors
                );
            }
            runs.push(run);
        }
    }
    let pairs = pairs(&runs);
    Ok(CompareReport {
        a_label: args.a_label.clone(),
        b_label: args.b_label.clone(),
        a_target: args.a.to_string(),
        b_target: args.b.to_string(),
        mode: args.mode,
        clients: match args.mode {
            Mode::Closed => args.concurrency,
            Mode::Open => args.connections,
        },
        rate: args.rate.filter(|_| args.mode == Mode::Open),
        duration_s: args.duration.as_secs_f64(),
        warmup_s: args.warmup.as_secs_f64(),
        corpus: a.info(),
        summary: summary(&pairs),
        pairs,
        runs,
        started_unix,
    })
}

/// `b / a` when both are positive and finite.
fn ratio(b: f64, a: f64) -> Option<f64> {
    (a > 0.0 && b >= 0.0 && a.is_finite() && b.is_finite()).then(|| b / a)
}

/// Every pair's ratios, in pair order, from the runs (matched by pair and side).
pub fn pairs(runs: &[Run]) -> Vec<Pair> {
    let mut numbers: Vec<u32> = runs.iter().map(|r| r.pair).collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers
        .into_iter()
        .map(|pair| {
            let find = |side| runs.iter().find(|r| r.pair == pair && r.side == side);
            match (find(Side::A), find(Side::B)) {
                (Some(a), Some(b)) => {
                    // A run without samples has no latency, not a latency of 0.
                    let sampled = a.latency_ms.count > 0 && b.latency_ms.count > 0;
                    let lat = |f: fn(&Latency) -> f64| {
                        ratio(f(&b.latency_ms), f(&a.latency_ms)).filter(|_| sampled)
                    };
                    Pair {
                        pair,
                        throughput: ratio(b.files_s, a.files_s),
                        p50: lat(|l| l.p50),
                        p99: lat(|l| l.p99),
                        suspect: a.errors > 0 || b.errors > 0,
                    }
                }
                _ => Pair {
                    pair,
                    throughput: None,
                    p50: None,
                    p99: None,
                    suspect: true,
                },
            }
        })
        .collect()
}

/// Median and range of the present values.
fn spread(values: impl Iterator<Item = Option<f64>>) -> Option<Spread> {
    let mut v: Vec<f64> = values.flatten().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Spread {
        n,
        median,
        min: v[0],
        max: v[n - 1],
    })
}

/// The ratios over the pairs (suspect pairs included, and counted).
pub fn summary(pairs: &[Pair]) -> Summary {
    let logs: Vec<f64> = pairs
        .iter()
        .filter_map(|p| p.throughput)
        // ln 0 is -inf: one pair where B served nothing makes the mean 0, as it should.
        .map(f64::ln)
        .collect();
    Summary {
        throughput: spread(pairs.iter().map(|p| p.throughput)),
        throughput_geomean: (!logs.is_empty())
            .then(|| (logs.iter().sum::<f64>() / logs.len() as f64).exp()),
        p50: spread(pairs.iter().map(|p| p.p50)),
        p99: spread(pairs.iter().map(|p| p.p99)),
        suspect_pairs: pairs.iter().filter(|p| p.suspect).count() as u32,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.3}"))
}

fn fmt_spread(s: &Option<Spread>) -> String {
    s.as_ref().map_or("-".into(), |s| {
        format!("{:.3} ({:.3}..{:.3})", s.median, s.min, s.max)
    })
}

/// The two runs of a pair.
fn sides(r: &CompareReport, pair: u32) -> (Option<&Run>, Option<&Run>) {
    let find = |side| r.runs.iter().find(|x| x.pair == pair && x.side == side);
    (find(Side::A), find(Side::B))
}

fn thr(run: Option<&Run>) -> String {
    run.map_or("-".into(), |x| format!("{:.1}", x.files_s))
}

fn lat(run: Option<&Run>) -> String {
    run.map_or("-".into(), |x| {
        format!("{:.2}/{:.2}", x.latency_ms.p50, x.latency_ms.p99)
    })
}

/// What was compared, in one line.
fn headline(r: &CompareReport) -> String {
    let how = match (r.mode, r.rate) {
        (Mode::Open, Some(rate)) => format!("open loop at {rate} req/s, {} connections", r.clients),
        _ => format!("closed loop, {} clients", r.clients),
    };
    format!(
        "{} = {}, {} = {}; {how}; {} pairs of {:.1} s after {:.1} s warm-up; ratios {}/{}",
        r.a_label,
        r.a_target,
        r.b_label,
        r.b_target,
        r.pairs.len(),
        r.duration_s,
        r.warmup_s,
        r.b_label,
        r.a_label
    )
}

/// The summary line.
fn summary_line(r: &CompareReport) -> String {
    let s = &r.summary;
    format!(
        "{}/{} over {} pairs, median (min..max): throughput {}, geomean {}; p50 {}; p99 {}",
        r.b_label,
        r.a_label,
        r.pairs.len(),
        fmt_spread(&s.throughput),
        fmt_ratio(s.throughput_geomean),
        fmt_spread(&s.p50),
        fmt_spread(&s.p99)
    )
}

/// The warning about runs with errors, if any.
fn warning(r: &CompareReport) -> Option<String> {
    let bad: Vec<String> = r
        .runs
        .iter()
        .filter(|x| x.errors > 0)
        .map(|x| format!("{} pair {} ({} errors)", x.label, x.pair, x.errors))
        .collect();
    (!bad.is_empty()).then(|| {
        format!(
            "warning: runs with errors: {}; their pairs (marked *) have suspect ratios",
            bad.join(", ")
        )
    })
}

/// The text report: one row per pair, then the summary line.
pub fn text(r: &CompareReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", headline(r));
    let (a, b) = (&r.a_label, &r.b_label);
    let _ = writeln!(
        s,
        "{:<5} {:>12} {:>12} {:>8} {:>17} {:>17} {:>8} {:>8}",
        "pair",
        format!("{a} req/s"),
        format!("{b} req/s"),
        "thr B/A",
        format!("{a} p50/p99 ms"),
        format!("{b} p50/p99 ms"),
        "p50 B/A",
        "p99 B/A"
    );
    for p in &r.pairs {
        let (ra, rb) = sides(r, p.pair);
        let _ = writeln!(
            s,
            "{:<5} {:>12} {:>12} {:>8} {:>17} {:>17} {:>8} {:>8}",
            format!("{}{}", p.pair, if p.suspect { "*" } else { "" }),
            thr(ra),
            thr(rb),
            fmt_ratio(p.throughput),
            lat(ra),
            lat(rb),
            fmt_ratio(p.p50),
            fmt_ratio(p.p99)
        );
    }
    let _ = writeln!(s, "{}", summary_line(r));
    if let Some(w) = warning(r) {
        let _ = writeln!(s, "{w}");
    }
    s
}

/// The same as a Markdown table and list, for scripts that collect results.
pub fn markdown(r: &CompareReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}\n", headline(r));
    let (a, b) = (&r.a_label, &r.b_label);
    let _ = writeln!(
        s,
        "| pair | {a} req/s | {b} req/s | throughput {b}/{a} | {a} p50 / p99 ms | {b} p50 / p99 ms | p50 {b}/{a} | p99 {b}/{a} |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for p in &r.pairs {
        let (ra, rb) = sides(r, p.pair);
        let _ = writeln!(
            s,
            "| {}{} | {} | {} | {} | {} | {} | {} | {} |",
            p.pair,
            if p.suspect { " (suspect)" } else { "" },
            thr(ra),
            thr(rb),
            fmt_ratio(p.throughput),
            lat(ra).replace('/', " / "),
            lat(rb).replace('/', " / "),
            fmt_ratio(p.p50),
            fmt_ratio(p.p99)
        );
    }
    let _ = writeln!(s, "\n- {}", summary_line(r));
    if let Some(w) = warning(r) {
        let _ = writeln!(s, "- **{w}**");
    }
    s
}

/// `ringscan-perf compare`.
pub fn main(args: &Args) -> Result<CompareReport, String> {
    args.check()?;
    let (a, b_own) = load(args)?;
    let b = b_own.as_ref().unwrap_or(&a);
    if !args.quiet {
        eprintln!(
            "ringscan-perf: {} objects, {:.1} MB in memory; {} pairs, {} then {}",
            a.objects.len(),
            a.bytes as f64 / 1e6,
            args.pairs,
            args.a,
            args.b
        );
    }
    let report = drive(args, &a, b)?;
    if let Some(p) = &args.json {
        write_json(p, &report)?;
    }
    if !args.quiet {
        print!("{}", text(&report));
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
