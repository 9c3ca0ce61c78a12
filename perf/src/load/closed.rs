//! The closed-loop driver: N client threads, each sending its next request as soon as
//! the previous reply is in. Blocking sockets, one thread per client.
//!
//! A clamd request is what clamdscan (`--stream`) or pyclamd sends: a fresh connection,
//! `zINSTREAM\0`, the object in `--chunk`-sized chunks, the zero-length chunk, the
//! reply, close. With `--session`, each client keeps one `zIDSESSION\0` connection and
//! sends its INSTREAMs on it one at a time (reconnecting after an error). A KAV request
//! (`kav1+`/`kav3+` targets) goes on the client's keep-alive HTTP connection
//! ([`kav`](super::kav)).
//!
//! Objects are handed out round-robin from one shared counter, so every client cycles
//! through the whole corpus and the mix over the run is the corpus's mix.
//!
//! The window: with `--duration`, requests completing between the end of `--warmup`
//! and the deadline are samples; clients start nothing after the deadline, and what is
//! in flight then completes but is not counted. With `--requests`, the window runs from
//! the end of the warm-up to the last completion. Throughput is right answers (and
//! their bytes) in the window over its length.
//!
//! What the latency is: from before `connect` (or, on a kept connection, before the
//! first byte of the request) until the whole reply is read. In a closed loop that is the
//! service time at this concurrency, queueing inside the server included; the load
//! adapts to the server, so a stall delays the next requests instead of being sampled
//! by them (coordinated omission). It is not the latency clients at a given arrival
//! rate would see; that needs an open-loop run at a fixed rate.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::objects::{CorpusInfo, Objects};
use super::recorder::{encode_histogram, spectrum, ErrorKind, Latency, Recorder};
use super::server::{self, Mem, Sampler, Samples};
use super::source::{self, ObjectArgs};
use super::target::{judge, Client, ClientArgs, Prepared};
use super::util::{parse_duration, unix_now, write_json};

/// Arguments of `ringscan-perf closed`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The server and how to talk to it.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The objects.
    #[command(flatten)]
    pub objects: ObjectArgs,
    /// Concurrent clients (threads), each with one request in flight.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Measure for this long after the warm-up (e.g. 20s, 2m) [default: 20s unless
    /// --requests].
    #[arg(long, value_parser = parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// Send this many requests in all (warm-up included), then stop.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Answers completing this early are not samples [default: 2s with a duration, 0s
    /// with --requests].
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// The server's pid: its RSS is sampled and its CPU time read around the window.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// RSS sampling interval (with --server-pid).
    #[arg(long, value_parser = parse_duration, default_value = "100ms")]
    pub sample_interval: Duration,
    /// A name for the report (e.g. clamd, ringscan).
    #[arg(long)]
    pub label: Option<String>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// No text report on stdout.
    #[arg(long)]
    pub quiet: bool,
}

/// The server during the run (with `--server-pid`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ServerDuring {
    /// Its pid.
    pub pid: u32,
    /// Before the warm-up.
    pub before: Mem,
    /// After the last answer: the steady state with every worker warmed up.
    pub after: Mem,
    /// Sampled RSS from start to end (warm-up included).
    pub samples: Samples,
    /// CPU seconds (all threads) inside the window.
    pub cpu_s: f64,
    /// CPU seconds per GB (10^9 bytes) answered in the window.
    pub cpu_s_per_gb: f64,
}

/// Everything `closed` measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ClosedReport {
    /// `--label`.
    pub label: Option<String>,
    /// The target.
    pub target: String,
    /// `instream` (connection per request), `instream-session`, `kav1-keepalive` or
    /// `kav3-keepalive`.
    pub mode: String,
    /// Clients.
    pub concurrency: u32,
    /// INSTREAM chunk bytes (clamd).
    pub chunk: u64,
    /// Connections the clients opened.
    #[serde(default)]
    pub connects: u64,
    /// The corpus.
    pub corpus: CorpusInfo,
    /// Requested duration, seconds (0 with --requests).
    pub duration_s: f64,
    /// Requested requests (0 with --duration).
    pub requests_limit: u64,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// The measured window, seconds.
    pub window_s: f64,
    /// Right answers in the window.
    pub requests: u64,
    /// Of those, FOUND.
    pub found: u64,
    /// Of those, OK.
    pub clean: u64,
    /// Payload bytes of those.
    pub bytes: u64,
    /// Right answers outside the window (warm-up, tail): not samples.
    pub outside_window: u64,
    /// Requests that failed or got a wrong verdict, whenever they happened.
    pub errors: u64,
    /// By kind.
    pub errors_by_kind: std::collections::BTreeMap<String, u64>,
    /// The first few error messages.
    pub error_examples: Vec<String>,
    /// Right answers per second.
    pub files_s: f64,
    /// Their MB (10^6 bytes) per second.
    pub mb_s: f64,
    /// Latency of right answers, ms.
    pub latency_ms: Latency,
    /// The same with HdrHistogram's correction for coordinated omission: each sample
    /// longer than a client's mean cycle (concurrency / throughput) adds the samples
    /// that the requests it held back would have had at a steady arrival rate. An
    /// estimate; an open-loop run measures it.
    #[serde(default)]
    pub latency_corrected_ms: Latency,
    /// `(percentile, ms)` for plots.
    pub percentiles_ms: Vec<(f64, f64)>,
    /// The latency histogram (µs), HdrHistogram V2 compressed, base64.
    pub histogram: String,
    /// CPU seconds this client process used (all threads) over the run.
    pub client_cpu_s: f64,
    /// The server, when --server-pid was given.
    pub server: Option<ServerDuring>,
    /// Unix time of the start.
    pub started_unix: f64,
}

/// The server's CPU seconds when the window opened and closed.
#[derive(Default)]
struct CpuMarks {
    warm_end: Mutex<Option<f64>>,
    deadline: Mutex<Option<f64>>,
}

impl CpuMarks {
    /// Reads the server's CPU time into `slot` unless some client did already.
    fn mark(&self, slot: &Mutex<Option<f64>>, pid: u32) {
        let mut at = slot.lock().unwrap();
        if at.is_none() {
            *at = server::cpu_seconds(pid).ok();
        }
    }
}

/// CPU seconds of this process.
fn self_cpu() -> f64 {
    server::cpu_seconds(std::process::id()).unwrap_or(0.0)
}

/// Runs the closed loop on loaded objects.
pub fn drive(args: &Args, objects: &Objects) -> Result<ClosedReport, String> {
    let duration = match (args.duration, args.requests) {
        (Some(d), _) => Some(d),
        (None, None) => Some(Duration::from_secs(20)),
        (None, Some(_)) => None,
    };
    let warmup = args.warmup.unwrap_or(if duration.is_some() {
        Duration::from_secs(2)
    } else {
        Duration::ZERO
    });
    let n_obj = objects.objects.len() as u64;
    let prepared = Prepared::new(&args.client.target, &objects.objects);
    let next = AtomicU64::new(0);
    let last_done_ns = AtomicU64::new(0);

    let sampler = args
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
    let start = Instant::now();
    let warm_end = start + warmup;
    let deadline = duration.map(|d| warm_end + d);
    // Server CPU at the window's edges, read by whichever client crosses one first.
    let marks = CpuMarks::default();
    if warmup.is_zero() {
        if let Some((pid, ..)) = &sampler {
            marks.mark(&marks.warm_end, *pid);
        }
    }

    let mut total = Recorder::new();
    std::thread::scope(|s| {
        let clients: Vec<_> = (0..args.concurrency)
            .map(|_| {
                let (next, last_done_ns, marks, prepared) =
                    (&next, &last_done_ns, &marks, &prepared);
                let sampler_pid = sampler.as_ref().map(|(pid, ..)| *pid);
                s.spawn(move || {
                    let mut rec = Recorder::new();
                    let mut client = Client::new(&args.client);
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if args.requests.is_some_and(|max| n >= max) {
                            break;
                        }
                        let t0 = Instant::now();
                        if deadline.is_some_and(|d| t0 >= d) {
                            if let Some(pid) = sampler_pid {
                                marks.mark(&marks.deadline, pid);
                            }
                            break;
                        }
                        if t0 >= warm_end {
                            if let Some(pid) = sampler_pid {
                                marks.mark(&marks.warm_end, pid);
                            }
                        }
                        let i = (n % n_obj) as usize;
                        let Some(obj) = objects.objects.get(i) else {
                            break;
                        };
                        let reply = client.request(obj, prepared.get(i));
                        let t1 = Instant::now();
                        match judge(obj, reply) {
                            Ok(found) => {
                                let inside = t1 >= warm_end && deadline.is_none_or(|d| t1 <= d);
                                if inside {
                                    rec.record_ok(t1 - t0, obj.data.len() as u64, found);
                                    let ns = (t1 - start).as_nanos() as u64;
                                    last_done_ns.fetch_max(ns, Ordering::Relaxed);
                                } else {
                                    rec.outside_window += 1;
                                }
                            }
                            Err((kind, msg)) => rec.record_error(kind, || msg),
                        }
                    }
                    rec.connects = client.connects();
                    client.finish();
                    rec
                })
            })
            .collect();
        for c in clients {
            match c.join() {
                Ok(rec) => total.merge(&rec),
                Err(_) => total.record_error(ErrorKind::Io, || "a client thread panicked".into()),
            }
        }
    });
    let end = Instant::now();
    let client_cpu_s = self_cpu() - cpu_client0;

    let window_end = match deadline {
        Some(d) => d.min(end),
        None => start + Duration::from_nanos(last_done_ns.load(Ordering::Relaxed)),
    };
    let window_s = window_end.saturating_duration_since(warm_end).as_secs_f64();
    let server = sampler.map(|(pid, before, sampler)| {
        let cpu_end = marks
            .deadline
            .lock()
            .unwrap()
            .or_else(|| server::cpu_seconds(pid).ok())
            .unwrap_or(0.0);
        let samples = sampler.stop();
        let after = server::mem(pid).unwrap_or_default();
        let cpu_s = marks
            .warm_end
            .lock()
            .unwrap()
            .map(|c0| cpu_end - c0)
            .unwrap_or(0.0);
        ServerDuring {
            pid,
            before,
            after,
            samples,
            cpu_s,
            cpu_s_per_gb: if total.bytes > 0 {
                cpu_s / (total.bytes as f64 / 1e9)
            } else {
                0.0
            },
        }
    });
    let rate = |x: f64| if window_s > 0.0 { x / window_s } else { 0.0 };
    let cycle_us = if total.ok > 0 {
        (f64::from(args.concurrency) * window_s / total.ok as f64 * 1e6) as u64
    } else {
        0
    };
    let corrected = if cycle_us > 0 {
        total.hist.clone_correct(cycle_us)
    } else {
        total.hist.clone()
    };
    Ok(ClosedReport {
        label: args.label.clone(),
        target: args.client.target.to_string(),
        mode: args.client.mode(),
        concurrency: args.concurrency,
        chunk: args.client.chunk_bytes() as u64,
        connects: total.connects,
        corpus: objects.info(),
        duration_s: duration.map(|d| d.as_secs_f64()).unwrap_or(0.0),
        requests_limit: args.requests.unwrap_or(0),
        warmup_s: warmup.as_secs_f64(),
        window_s,
        requests: total.ok,
        found: total.found,
        clean: total.clean,
        bytes: total.bytes,
        outside_window: total.outside_window,
        errors: total.error_count(),
        errors_by_kind: total
            .errors
            .iter()
            .map(|(k, n)| (k.as_str().to_string(), *n))
            .collect(),
        error_examples: total.examples.clone(),
        files_s: rate(total.ok as f64),
        mb_s: rate(total.bytes as f64 / 1e6),
        latency_ms: Latency::of(&total.hist),
        latency_corrected_ms: Latency::of(&corrected),
        percentiles_ms: spectrum(&total.hist),
        histogram: encode_histogram(&total.hist),
        client_cpu_s,
        server,
        started_unix,
    })
}

/// The text report.
pub fn text(r: &ClosedReport) -> String {
    let mut s = String::new();
    use std::fmt::Write as _;
    let c = &r.corpus;
    let _ = writeln!(
        s,
        "{}{} {}, {} clients, chunk {} B; corpus {} files, {:.1} MB ({} expected FOUND, {} OK, {} unchecked; {})",
        r.label.as_deref().map(|l| format!("[{l}] ")).unwrap_or_default(),
        r.target,
        r.mode,
        r.concurrency,
        r.chunk,
        c.files,
        c.bytes as f64 / 1e6,
        c.expect_found,
        c.expect_clean,
        c.unchecked,
        c.expect_source
    );
    let _ = writeln!(
        s,
        "window {:.2} s after {:.1} s warm-up: {} requests ({} FOUND, {} OK), {} outside the window",
        r.window_s, r.warmup_s, r.requests, r.found, r.clean, r.outside_window
    );
    let errs: Vec<String> = r
        .errors_by_kind
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(
        s,
        "errors {}{}",
        r.errors,
        if errs.is_empty() {
            String::new()
        } else {
            format!(" ({})", errs.join(", "))
        }
    );
    for e in &r.error_examples {
        let _ = writeln!(s, "  {e}");
    }
    let _ = writeln!(s, "throughput {:.1} files/s, {:.1} MB/s", r.files_s, r.mb_s);
    let l = &r.latency_ms;
    let _ = writeln!(
        s,
        "latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  p99.99 {:.2}  max {:.2}  (mean {:.2}, min {:.2})",
        l.p50, l.p90, l.p99, l.p999, l.p9999, l.max, l.mean, l.min
    );
    let c = &r.latency_corrected_ms;
    let _ = writeln!(
        s,
        "  corrected (HdrHistogram, expected interval {:.2} ms)  p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        if r.files_s > 0.0 { f64::from(r.concurrency) / r.files_s * 1e3 } else { 0.0 },
        c.p50, c.p99, c.p999, c.max
    );
    let _ = writeln!(
        s,
        "client CPU {:.1} s; connections opened {}",
        r.client_cpu_s, r.connects
    );
    if let Some(sv) = &r.server {
        let _ = writeln!(
            s,
            "server pid {}: RSS {:.1} MiB before, {:.1} MiB max sampled, {:.1} MiB after; CPU {:.1} s in the window ({:.1} s/GB)",
            sv.pid,
            sv.before.rss_kib as f64 / 1024.0,
            sv.samples.max_rss_kib as f64 / 1024.0,
            sv.after.rss_kib as f64 / 1024.0,
            sv.cpu_s,
            sv.cpu_s_per_gb
        );
    }
    s
}

/// `ringscan-perf closed`.
pub fn run(args: &Args) -> Result<ClosedReport, String> {
    let objects = source::load(&args.objects, &args.client)?;
    eprintln!(
        "ringscan-perf: {} objects, {:.1} MB in memory; {} clients against {}",
        objects.objects.len(),
        objects.bytes as f64 / 1e6,
        args.concurrency,
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
