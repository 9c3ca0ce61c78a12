//! The open-loop driver: requests at a fixed rate, whatever the server does.
//!
//! Request `i` has an intended send time, `start + i / rate`. Each of N connections
//! (one thread each, a [`Client`]) takes the next request in order when it is free,
//! waits for its intended time if that is still ahead, sends it and reads the answer.
//! When every connection is busy, requests wait their turn, and **latency is measured
//! from the intended time**, so the wait counts: a stall is sampled by every request it
//! delays, not hidden by a load generator that slows down with the server (coordinated
//! omission). Service time (from the actual send) is kept beside it. The threads sleep
//! until a request is due (no spinning: the client shares the cores with the server),
//! so latency also holds the client's wake-up delay, tens of microseconds; the gap
//! between the two medians at a light load shows it.
//!
//! The window: requests whose intended time falls after `--warmup` and before
//! `warmup + duration` are samples (their answers, whenever they come); warm-up answers
//! are counted apart. Once the schedule has run out, connections still start requests
//! that are late for `--drain` more; what is left then is reported as not sent.
//! Achieved rate: right answers in the window over the time from the window's start to
//! the last of their completions (at least the duration), so a server that falls behind
//! shows a lower rate and not only a longer latency. Errors and wrong verdicts are
//! counted by kind, never latency samples.
//!
//! The pieces are kept apart for sweeps and comparisons: [`Schedule`] (intended times),
//! [`run`] (the load on given objects, returning [`Outcome`]), [`drive`] (one run with
//! the server probed, an [`OpenReport`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::closed::ServerDuring;
use super::objects::{CorpusInfo, Objects};
use super::recorder::{
    encode_histogram, spectrum, write_interval_log, ErrorKind, Latency, Recorder,
};
use super::server::{self, Sampler};
use super::source::{self, ObjectArgs};
use super::target::{judge, Client, ClientArgs, Prepared};
use super::util::{parse_duration, unix_now, write_json};

/// Arguments of `ringscan-perf open`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The server and how to talk to it.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The objects.
    #[command(flatten)]
    pub objects: ObjectArgs,
    /// Offered load, requests per second: request i is due at start + i/rate.
    #[arg(long, value_parser = parse_rate)]
    pub rate: f64,
    /// Measured part of the schedule (e.g. 10s, 1m).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Schedule before the measured part; its answers are not samples.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub warmup: Duration,
    /// Connections (threads), each with at most one request in flight.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub connections: u32,
    /// After the schedule's end, late requests still start for this long; the rest are
    /// reported as not sent.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub drain: Duration,
    /// The server's pid: its RSS is sampled and its CPU time read at the window's edges.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// RSS sampling interval (with --server-pid).
    #[arg(long, value_parser = parse_duration, default_value = "100ms")]
    pub sample_interval: Duration,
    /// A name for the report.
    #[arg(long)]
    pub label: Option<String>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the latency histogram as an HdrHistogram interval log (V2, one interval per
    /// second of the window) here: what HistogramLogAnalyzer and hdr-plot read.
    #[arg(long)]
    pub hlog: Option<PathBuf>,
    /// No text report on stdout.
    #[arg(long)]
    pub quiet: bool,
}

/// A positive, finite request rate (also for `sweep --max-rate` and `compare --rate`).
pub fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!("bad rate {s:?}: requests per second, above 0")),
    }
}

/// The load to offer: rate, warm-up, measured duration, drain, connections.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Requests per second.
    pub rate: f64,
    /// Scheduled before the window.
    pub warmup: Duration,
    /// The window.
    pub duration: Duration,
    /// Late starts allowed after the schedule's end.
    pub drain: Duration,
    /// Connections.
    pub connections: u32,
}

/// Intended send times: request `i` at `start + i / rate`.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    start: Instant,
    rate: f64,
    warm: u64,
    total: u64,
}

/// How many of 0, 1, 2, ... are below `x` (x >= 0).
fn below(x: f64) -> u64 {
    x.max(0.0).ceil() as u64
}

impl Schedule {
    /// The schedule of `plan` from `start`.
    pub fn new(start: Instant, plan: &Plan) -> Schedule {
        Schedule {
            start,
            rate: plan.rate,
            warm: below(plan.warmup.as_secs_f64() * plan.rate),
            total: below((plan.warmup + plan.duration).as_secs_f64() * plan.rate),
        }
    }

    /// When request `i` is due.
    pub fn at(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// Requests due in the warm-up (the first ones).
    pub fn warm(&self) -> u64 {
        self.warm
    }

    /// Requests due in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Requests due in the window.
    pub fn in_window(&self) -> u64 {
        self.total - self.warm
    }

    /// The start.
    pub fn start(&self) -> Instant {
        self.start
    }
}

/// What a run saw.
pub struct Outcome {
    /// The schedule it followed.
    pub schedule: Schedule,
    /// Latency from the intended time (right answers in the window), counts, errors.
    pub rec: Recorder,
    /// Service time: from the actual send until the answer (same requests), µs.
    pub service: Histogram<u64>,
    /// The latency samples again, split by the second of the window they completed in
    /// (index 0: the first second), for the interval log.
    pub intervals: Vec<Histogram<u64>>,
    /// Window requests sent.
    pub sent: u64,
    /// Window requests never sent (the drain ran out).
    pub unsent: u64,
    /// When the last window answer came (the window's start when none did).
    pub last_done: Instant,
    /// When every connection had finished.
    pub end: Instant,
}

impl Outcome {
    /// From the window's start until the last window answer, at least the duration:
    /// the time the server took to answer the window's requests.
    pub fn span(&self, plan: &Plan) -> Duration {
        let window_start = self.schedule.start() + plan.warmup;
        self.last_done
            .saturating_duration_since(window_start)
            .max(plan.duration)
    }
}

/// Runs the schedule of `plan` against `client`'s target with `objects` (round-robin by
/// request number); `prepared` holds their requests. `at_start` runs on the calling
/// thread once the schedule's start is set (every connection opened), before the
/// clients finish; it gets the start (to read server counters at the window's edges).
pub fn run(
    plan: &Plan,
    client: &ClientArgs,
    objects: &Objects,
    prepared: &Prepared,
    at_start: impl FnOnce(Instant),
) -> Outcome {
    let n_obj = objects.objects.len().max(1) as u64;
    let next = AtomicU64::new(0);
    let sent = AtomicU64::new(0);
    let last_done_ns = AtomicU64::new(0);
    let start_cell: OnceLock<Instant> = OnceLock::new();
    let ready = Barrier::new(plan.connections as usize + 1);
    let mut total = Recorder::new();
    let mut service = new_histogram();
    let mut intervals: Vec<Histogram<u64>> = Vec::new();
    let schedule = std::thread::scope(|s| {
        let workers: Vec<_> = (0..plan.connections)
            .map(|_| {
                let (next, sent, last_done_ns, start_cell, ready) =
                    (&next, &sent, &last_done_ns, &start_cell, &ready);
                s.spawn(move || {
                    let mut rec = Recorder::new();
                    let mut svc = new_histogram();
                    let mut by_second: Vec<Histogram<u64>> = Vec::new();
                    let mut c = Client::new(client);
                    // Keep-alive connections open before the clock starts; a failure
                    // here is retried by the first request.
                    let _ = c.connect_ahead();
                    ready.wait();
                    let sched = Schedule::new(*start_cell.get_or_init(Instant::now), plan);
                    let last_start = sched.at(sched.total()) + plan.drain;
                    let window_start = sched.start() + plan.warmup;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= sched.total() {
                            break;
                        }
                        let due = sched.at(i);
                        let now = Instant::now();
                        if now > last_start {
                            break;
                        }
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        let in_window = i >= sched.warm();
                        if in_window {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        let k = (i % n_obj) as usize;
                        let Some(obj) = objects.objects.get(k) else {
                            break;
                        };
                        let t_send = Instant::now();
                        let reply = c.request(obj, prepared.get(k));
                        let t_done = Instant::now();
                        match judge(obj, reply) {
                            Ok(found) if in_window => {
                                rec.record_ok(t_done - due, obj.data.len() as u64, found);
                                svc.saturating_record(micros(t_done - t_send));
                                let second = (t_done - window_start.min(t_done)).as_secs() as usize;
                                if by_second.len() <= second {
                                    by_second.resize_with(second + 1, new_histogram);
                                }
                                by_second[second].saturating_record(micros(t_done - due));
                                let ns = (t_done - sched.start()).as_nanos() as u64;
                                last_done_ns.fetch_max(ns, Ordering::Relaxed);
                            }
                            Ok(_) => rec.outside_window += 1,
                            Err((kind, msg)) => rec.record_error(kind, || msg),
                        }
                    }
                    rec.connects = c.connects();
                    c.finish();
                    (rec, svc, by_second)
                })
            })
            .collect();
        ready.wait();
        let sched = Schedule::new(*start_cell.get_or_init(Instant::now), plan);
        at_start(sched.start());
        for w in workers {
            match w.join() {
                Ok((rec, svc, by_second)) => {
                    total.merge(&rec);
                    let _ = service.add(&svc);
                    if intervals.len() < by_second.len() {
                        intervals.resize_with(by_second.len(), new_histogram);
                    }
                    for (all, one) in intervals.iter_mut().zip(&by_second) {
                        let _ = all.add(one);
                    }
                }
                Err(_) => total.record_error(ErrorKind::Io, || "a client thread panicked".into()),
            }
        }
        sched
    });
    let sent = sent.load(Ordering::Relaxed);
    let window_start = schedule.start() + plan.warmup;
    let last_done = schedule.start() + Duration::from_nanos(last_done_ns.load(Ordering::Relaxed));
    Outcome {
        schedule,
        rec: total,
        service,
        intervals,
        sent,
        unsent: schedule.in_window().saturating_sub(sent),
        last_done: last_done.max(window_start),
        end: Instant::now(),
    }
}

fn new_histogram() -> Histogram<u64> {
    Recorder::new().hist
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

/// Everything `open` measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OpenReport {
    /// `--label`.
    pub label: Option<String>,
    /// The target.
    pub target: String,
    /// `clamd`, `kav1`, `kav3`.
    pub protocol: String,
    /// `unix` or `tcp`.
    pub transport: String,
    /// `instream`, `instream-session`, `kav1-keepalive`, `kav3-keepalive`.
    pub mode: String,
    /// Connections (threads).
    pub connections: u32,
    /// The objects.
    pub corpus: CorpusInfo,
    /// Their mean size, bytes.
    pub object_bytes: u64,
    /// Offered rate, requests per second.
    pub offered_rate: f64,
    /// Offered MB/s (10^6 bytes of objects).
    pub offered_mb_s: f64,
    /// The window, seconds.
    pub duration_s: f64,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// Drain allowance, seconds.
    pub drain_s: f64,
    /// From the window's start to its last answer (at least the duration), seconds.
    pub span_s: f64,
    /// Requests due in the window.
    pub scheduled: u64,
    /// Of those, sent.
    pub sent: u64,
    /// Of those, never sent (the drain ran out).
    pub unsent: u64,
    /// Right answers to window requests.
    pub requests: u64,
    /// Of those, FOUND.
    pub found: u64,
    /// Of those, OK.
    pub clean: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Right answers to warm-up requests (not samples).
    pub outside_window: u64,
    /// Right answers per second over the span.
    pub achieved_rate: f64,
    /// Their MB (10^6 bytes) per second over the span.
    pub mb_s: f64,
    /// Requests that failed or got a wrong verdict (warm-up included).
    pub errors: u64,
    /// Of those, timeouts.
    pub timeouts: u64,
    /// By kind.
    pub errors_by_kind: std::collections::BTreeMap<String, u64>,
    /// The first few error messages.
    pub error_examples: Vec<String>,
    /// Latency from the intended send time, ms.
    pub latency_ms: Latency,
    /// Service time, from the actual send, ms.
    pub service_ms: Latency,
    /// `(percentile, ms)` of the latency, for plots.
    pub percentiles_ms: Vec<(f64, f64)>,
    /// The latency histogram (µs), HdrHistogram V2 compressed, base64.
    pub histogram: String,
    /// Connections the clients opened (more than `connections` = reconnects).
    pub connects: u64,
    /// CPU seconds this client process used over the run.
    pub client_cpu_s: f64,
    /// The server, when --server-pid was given (CPU seconds in the window).
    pub server: Option<ServerDuring>,
    /// Unix time of the start.
    pub started_unix: f64,
}

/// Runs `open` on loaded objects: the load, the server probes, the report.
pub fn drive(args: &Args, objects: &Objects) -> Result<OpenReport, String> {
    let plan = Plan {
        rate: args.rate,
        warmup: args.warmup,
        duration: args.duration,
        drain: args.drain,
        connections: args.connections,
    };
    let prepared = Prepared::new(&args.client.target, &objects.objects);
    let probe = args
        .server_pid
        .map(|pid| -> Result<_, String> {
            let before = server::mem(pid).map_err(|e| format!("server pid {pid}: {e}"))?;
            Ok((
                pid,
                before,
                Sampler::start(pid, args.sample_interval, false),
            ))
        })
        .transpose()?;
    let cpu_client0 = self_cpu();
    let started_unix = unix_now();
    let mut server_cpu = None;
    let out = run(&plan, &args.client, objects, &prepared, |start| {
        // The server's CPU at the window's edges, read from here while clients run.
        if let Some((pid, ..)) = &probe {
            sleep_until(start + plan.warmup);
            let c0 = server::cpu_seconds(*pid).ok();
            sleep_until(start + plan.warmup + plan.duration);
            let c1 = server::cpu_seconds(*pid).ok();
            server_cpu = c0.zip(c1).map(|(a, b)| b - a);
        }
    });
    let client_cpu_s = self_cpu() - cpu_client0;
    let rec = &out.rec;
    let server = probe.map(|(pid, before, sampler)| {
        let samples = sampler.stop();
        let after = server::mem(pid).unwrap_or_default();
        let cpu_s = server_cpu.unwrap_or(0.0);
        // CPU over the window against the bytes due in it (answers may come later).
        let window_bytes = (rec.bytes as f64).max(1.0);
        ServerDuring {
            pid,
            before,
            after,
            samples,
            cpu_s,
            cpu_s_per_gb: cpu_s / (window_bytes / 1e9),
        }
    });
    if let Some(path) = &args.hlog {
        let window_unix = started_unix + plan.warmup.as_secs_f64();
        let tag = args.label.as_deref().unwrap_or("latency");
        write_interval_log(path, window_unix, &out.intervals, tag)?;
    }
    let span_s = out.span(&plan).as_secs_f64();
    let per_s = |x: f64| if span_s > 0.0 { x / span_s } else { 0.0 };
    let object_bytes = objects.bytes / (objects.objects.len().max(1) as u64);
    Ok(OpenReport {
        label: args.label.clone(),
        target: args.client.target.to_string(),
        protocol: args.client.target.protocol().into(),
        transport: args.client.target.transport().into(),
        mode: args.client.mode(),
        connections: plan.connections,
        corpus: objects.info(),
        object_bytes,
        offered_rate: plan.rate,
        offered_mb_s: plan.rate * objects.bytes as f64 / objects.objects.len().max(1) as f64 / 1e6,
        duration_s: plan.duration.as_secs_f64(),
        warmup_s: plan.warmup.as_secs_f64(),
        drain_s: plan.drain.as_secs_f64(),
        span_s,
        scheduled: out.schedule.in_window(),
        sent: out.sent,
        unsent: out.unsent,
        requests: rec.ok,
        found: rec.found,
        clean: rec.clean,
        bytes: rec.bytes,
        outside_window: rec.outside_window,
        achieved_rate: per_s(rec.ok as f64),
        mb_s: per_s(rec.bytes as f64 / 1e6),
        errors: rec.error_count(),
        timeouts: rec.errors.get(&ErrorKind::Timeout).copied().unwrap_or(0),
        errors_by_kind: rec
            .errors
            .iter()
            .map(|(k, n)| (k.as_str().to_string(), *n))
            .collect(),
        error_examples: rec.examples.clone(),
        latency_ms: Latency::of(&rec.hist),
        service_ms: Latency::of(&out.service),
        percentiles_ms: spectrum(&rec.hist),
        histogram: encode_histogram(&rec.hist),
        connects: rec.connects,
        client_cpu_s,
        server,
        started_unix,
    })
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// CPU seconds of this process.
fn self_cpu() -> f64 {
    server::cpu_seconds(std::process::id()).unwrap_or(0.0)
}

/// The text report.
pub fn text(r: &OpenReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let c = &r.corpus;
    let _ = writeln!(
        s,
        "{}{} {}, {} connections; objects {} x {} B mean ({} expected FOUND; {})",
        r.label
            .as_deref()
            .map(|l| format!("[{l}] "))
            .unwrap_or_default(),
        r.target,
        r.mode,
        r.connections,
        c.files,
        r.object_bytes,
        c.expect_found,
        c.dir
    );
    let _ = writeln!(
        s,
        "offered {:.1} req/s ({:.2} MB/s) for {:.1} s after {:.1} s warm-up: {} due, {} sent, {} not sent",
        r.offered_rate, r.offered_mb_s, r.duration_s, r.warmup_s, r.scheduled, r.sent, r.unsent
    );
    let _ = writeln!(
        s,
        "achieved {:.1} req/s, {:.2} MB/s over {:.2} s: {} right ({} FOUND, {} OK)",
        r.achieved_rate, r.mb_s, r.span_s, r.requests, r.found, r.clean
    );
    let errs: Vec<String> = r
        .errors_by_kind
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(
        s,
        "errors {} (timeouts {}){}",
        r.errors,
        r.timeouts,
        if errs.is_empty() {
            String::new()
        } else {
            format!(": {}", errs.join(", "))
        }
    );
    for e in &r.error_examples {
        let _ = writeln!(s, "  {e}");
    }
    let l = &r.latency_ms;
    let _ = writeln!(
        s,
        "latency ms (from the intended send)  p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  p99.99 {:.2}  max {:.2}",
        l.p50, l.p90, l.p99, l.p999, l.p9999, l.max
    );
    let v = &r.service_ms;
    let _ = writeln!(
        s,
        "service ms (from the actual send)    p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  p99.99 {:.2}  max {:.2}",
        v.p50, v.p90, v.p99, v.p999, v.p9999, v.max
    );
    let _ = writeln!(
        s,
        "connections opened {}; client CPU {:.1} s",
        r.connects, r.client_cpu_s
    );
    if let Some(sv) = &r.server {
        let _ = writeln!(
            s,
            "server pid {}: RSS {:.1} MiB before, {:.1} MiB max sampled, {:.1} MiB after; CPU {:.1} s in the window",
            sv.pid,
            sv.before.rss_kib as f64 / 1024.0,
            sv.samples.max_rss_kib as f64 / 1024.0,
            sv.after.rss_kib as f64 / 1024.0,
            sv.cpu_s
        );
    }
    s
}

/// `ringscan-perf open`.
pub fn main(args: &Args) -> Result<OpenReport, String> {
    let objects = source::load(&args.objects, &args.client)?;
    eprintln!(
        "ringscan-perf: {} objects, {:.1} MB in memory; {} req/s over {} connections against {}",
        objects.objects.len(),
        objects.bytes as f64 / 1e6,
        args.rate,
        args.connections,
        args.client.target
    );
    let report = drive(args, &objects)?;
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
