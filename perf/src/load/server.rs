//! The server process seen from outside, by pid, through `/proc` (Linux):
//!
//! - [`mem`]: `VmRSS` (resident now) and `VmHWM` (peak resident so far) from
//!   `/proc/PID/status`; [`reset_peak`] restarts `VmHWM` (`5 > /proc/PID/clear_refs`);
//! - [`cpu_seconds`]: user + system CPU of every thread, from `/proc/PID/stat`;
//! - [`Sampler`]: a thread that reads `VmRSS` every few milliseconds and keeps the
//!   maximum (and, optionally, the series), e.g. through a reload;
//! - [`launch`]: starts a server and times it from `spawn` until `zPING` answers
//!   `PONG` (the database load), then leaves it running;
//! - [`reload`]: `zRELOAD`, then memory until the new database serves;
//! - [`stop`]: SIGTERM, then SIGKILL after a grace period.
//!
//! Memory is the process's own: a server that forks workers would need their RSS added.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::clamd::Target;
use super::util::{parse_duration, unix_now, write_json};

/// Resident memory of a process, KiB.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Mem {
    /// `VmRSS`.
    pub rss_kib: u64,
    /// `VmHWM`: the peak since start or the last [`reset_peak`].
    pub hwm_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid`.
pub fn mem(pid: u32) -> io::Result<Mem> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> io::Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("/proc/{pid}/status: no {name} (a zombie?)"),
                )
            })
    };
    Ok(Mem {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// Resets `VmHWM` to the current RSS (Linux >= 4.0; needs the right to write
/// `/proc/PID/clear_refs`: same user, or root).
pub fn reset_peak(pid: u32) -> io::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

/// User + system CPU seconds of `pid`, all its threads (fields 14 and 15 of
/// `/proc/PID/stat`).
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad /proc/PID/stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state), so field n is f[n - 3].
    let ticks = |n: usize| {
        f.get(n - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((ticks(14) + ticks(15)) as f64 / hz)
}

/// Whether `pid` is gone or a zombie (dead, not reaped: it may not be our child).
pub fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(text) => matches!(
            text.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next()),
            Some("Z") | Some("X") | None
        ),
    }
}

/// What a [`Sampler`] saw.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Samples {
    /// Reads of `/proc/PID/status`.
    pub count: u64,
    /// The largest `VmRSS`, KiB.
    pub max_rss_kib: u64,
    /// The last `VmRSS`, KiB.
    pub last_rss_kib: u64,
    /// `(seconds since start, VmRSS KiB)`, when the series was kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<(f64, u64)>,
}

/// Reads `VmRSS` of a process every `interval` on its own thread until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Samples>,
}

impl Sampler {
    /// Starts sampling `pid`; `series`: keep every sample with its time.
    pub fn start(pid: u32, interval: Duration, series: bool) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                let t0 = Instant::now();
                let mut s = Samples::default();
                loop {
                    if let Ok(m) = mem(pid) {
                        s.count += 1;
                        s.max_rss_kib = s.max_rss_kib.max(m.rss_kib);
                        s.last_rss_kib = m.rss_kib;
                        if series {
                            s.series.push((t0.elapsed().as_secs_f64(), m.rss_kib));
                        }
                    }
                    if flag.load(Ordering::Relaxed) {
                        return s;
                    }
                    std::thread::sleep(interval);
                }
            })
            .expect("spawn the RSS sampler");
        Sampler { stop, handle }
    }

    /// Stops (after one last sample) and returns what was seen.
    pub fn stop(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// Polls `zPING` until `PONG`, every `poll`, for at most `timeout`; returns when it came.
/// `alive` is asked between tries (a server that died will never answer).
pub fn wait_ready(
    target: &Target,
    timeout: Duration,
    poll: Duration,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Result<Instant, String> {
    let start = Instant::now();
    let mut last = String::from("no try");
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(format!(
                "{target}: no PONG within {:.0} s ({last})",
                timeout.as_secs_f64()
            ));
        }
        // A server may accept while it is still loading and answer later: wait for the
        // reply as long as the deadline allows.
        match target.command("PING", left) {
            Ok(r) if r == "PONG" => return Ok(Instant::now()),
            Ok(r) => last = format!("PING answered {r:?}"),
            Err(e) => last = e.to_string(),
        }
        alive()?;
        std::thread::sleep(poll);
    }
}

/// Arguments of `ringscan-perf launch`.
#[derive(clap::Args, Debug, Clone)]
pub struct LaunchArgs {
    /// Where the server will answer: clamd+unix:/path or clamd+tcp:host:port.
    #[arg(long)]
    pub target: Target,
    /// The server's stdout and stderr go here [default: discarded].
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Write the server's pid here.
    #[arg(long)]
    pub pidfile: Option<PathBuf>,
    /// Write the result as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Give up (and kill the server) when PING has not answered PONG by then.
    #[arg(long, value_parser = parse_duration, default_value = "300s")]
    pub timeout: Duration,
    /// Time between PING tries.
    #[arg(long, value_parser = parse_duration, default_value = "10ms")]
    pub poll: Duration,
    /// A name for the report (e.g. clamd, ringscan).
    #[arg(long)]
    pub label: Option<String>,
    /// The server command line, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// What `launch` measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LaunchReport {
    /// `--label`.
    pub label: Option<String>,
    /// The command line.
    pub command: Vec<String>,
    /// The target polled.
    pub target: String,
    /// The server's pid (still running).
    pub pid: u32,
    /// From `spawn` until the first `PONG`, seconds: the database load, plus whatever
    /// else the server does before it serves.
    pub load_s: f64,
    /// RSS right after the first `PONG`.
    pub rss_kib: u64,
    /// `VmHWM` then: the peak while loading.
    pub peak_rss_kib: u64,
    /// CPU seconds the server used until then (all threads).
    pub cpu_s: f64,
    /// Unix time of the spawn.
    pub started_unix: f64,
}

/// `ringscan-perf launch`: start a server, time its start until it answers, leave it
/// running.
pub fn launch(args: &LaunchArgs) -> Result<LaunchReport, String> {
    let (prog, rest) = args
        .command
        .split_first()
        .ok_or("launch: no command given after --")?;
    let mut cmd = Command::new(prog);
    cmd.args(rest).stdin(Stdio::null());
    match &args.log {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let f2 = f.try_clone().map_err(|e| e.to_string())?;
            cmd.stdout(f).stderr(f2);
        }
        None => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    if let Target::Unix(path) = &args.target {
        if path.exists() {
            eprintln!(
                "ringscan-perf launch: {} exists already (a stale socket, or a server running?)",
                path.display()
            );
        }
    }
    let started_unix = unix_now();
    let t0 = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{prog}: {e}"))?;
    let pid = child.id();
    let log_hint = || {
        args.log
            .as_ref()
            .map(|p| format!("; see {}", p.display()))
            .unwrap_or_default()
    };
    let ready = wait_ready(&args.target, args.timeout, args.poll, || {
        match child.try_wait() {
            // The log hint is added once, below.
            Ok(Some(status)) => Err(format!("{prog} exited ({status}) before answering")),
            _ => Ok(()),
        }
    });
    let ready = match ready {
        Ok(t) => t,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{e}{}", log_hint()));
        }
    };
    let load_s = ready.duration_since(t0).as_secs_f64();
    let m = mem(pid).map_err(|e| format!("pid {pid}: {e}"))?;
    let report = LaunchReport {
        label: args.label.clone(),
        command: args.command.clone(),
        target: args.target.to_string(),
        pid,
        load_s,
        rss_kib: m.rss_kib,
        peak_rss_kib: m.hwm_kib,
        cpu_s: cpu_seconds(pid).unwrap_or(0.0),
        started_unix,
    };
    if let Some(p) = &args.pidfile {
        std::fs::write(p, format!("{pid}\n")).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if let Some(p) = &args.json {
        write_json(p, &report)?;
    }
    // The child keeps running after we exit (dropping a Child neither kills nor waits).
    drop(child);
    Ok(report)
}

/// When a reload counts as done (`--wait`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadWait {
    /// `log:FILE:TEXT`: TEXT appears in FILE after the RELOAD was sent (clamd logs
    /// `Database correctly reloaded`).
    Log(PathBuf, String),
    /// `version`: the VERSION reply differs from the one before.
    Version,
    /// `pong`: PING answers again (for a server that stops serving while it reloads).
    Pong,
    /// `none`: no signal; sample for `--settle` only.
    None,
}

impl std::str::FromStr for ReloadWait {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "version" => Ok(ReloadWait::Version),
            "pong" => Ok(ReloadWait::Pong),
            "none" => Ok(ReloadWait::None),
            _ => {
                let rest = s.strip_prefix("log:").ok_or_else(|| {
                    format!("{s:?}: expected log:FILE:TEXT, version, pong or none")
                })?;
                let (file, text) = rest
                    .split_once(':')
                    .filter(|(f, t)| !f.is_empty() && !t.is_empty())
                    .ok_or_else(|| format!("{s:?}: expected log:FILE:TEXT"))?;
                Ok(ReloadWait::Log(PathBuf::from(file), text.to_string()))
            }
        }
    }
}

/// Arguments of `ringscan-perf reload`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReloadArgs {
    /// The server: clamd+unix:/path or clamd+tcp:host:port.
    #[arg(long)]
    pub target: Target,
    /// Its pid (memory is read from /proc/PID).
    #[arg(long)]
    pub pid: u32,
    /// When the reload is done: log:FILE:TEXT, version, pong or none.
    #[arg(long, default_value = "none")]
    pub wait: ReloadWait,
    /// Keep sampling this long after done (the old database is freed after the switch).
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub settle: Duration,
    /// Give up waiting for done after this long (the report says so).
    #[arg(long, value_parser = parse_duration, default_value = "300s")]
    pub timeout: Duration,
    /// RSS sampling interval.
    #[arg(long, value_parser = parse_duration, default_value = "10ms")]
    pub interval: Duration,
    /// Write the result as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// A name for the report.
    #[arg(long)]
    pub label: Option<String>,
}

/// What `reload` measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ReloadReport {
    /// `--label`.
    pub label: Option<String>,
    /// The target.
    pub target: String,
    /// The pid.
    pub pid: u32,
    /// The reply to RELOAD (clamd: `RELOADING`).
    pub reply: String,
    /// How done was detected.
    pub wait: String,
    /// Whether it was (false: gave up after `--timeout`, or `--wait none`).
    pub done: bool,
    /// From sending RELOAD until done, seconds (`--wait none`: 0).
    pub reload_s: f64,
    /// RSS just before.
    pub rss_before_kib: u64,
    /// The largest sampled RSS from RELOAD until the end of `--settle`.
    pub peak_rss_sampled_kib: u64,
    /// `VmHWM` at the end, after it was reset just before RELOAD (0 when the reset was
    /// not allowed): the exact peak, samples or not.
    pub peak_rss_hwm_kib: u64,
    /// The larger of the two.
    pub peak_rss_kib: u64,
    /// RSS at the end of `--settle`.
    pub rss_after_kib: u64,
    /// CPU seconds the server used from RELOAD to the end.
    pub cpu_s: f64,
    /// Sampled `(s, KiB)`.
    pub series: Vec<(f64, u64)>,
}

/// `ringscan-perf reload`.
pub fn reload(args: &ReloadArgs) -> Result<ReloadReport, String> {
    let pid = args.pid;
    let timeout = Duration::from_secs(30);
    let version_before = match args.wait {
        ReloadWait::Version => Some(
            args.target
                .command("VERSION", timeout)
                .map_err(|e| format!("VERSION: {e}"))?,
        ),
        _ => None,
    };
    let log_start = match &args.wait {
        ReloadWait::Log(path, _) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        _ => 0,
    };
    let before = mem(pid).map_err(|e| format!("pid {pid}: {e}"))?;
    let reset = reset_peak(pid).is_ok();
    if !reset {
        eprintln!("ringscan-perf reload: cannot reset VmHWM of {pid}; relying on samples");
    }
    let cpu0 = cpu_seconds(pid).unwrap_or(0.0);
    let sampler = Sampler::start(pid, args.interval, true);
    let t0 = Instant::now();
    let reply = args
        .target
        .command("RELOAD", timeout)
        .map_err(|e| format!("RELOAD: {e}"));
    let reply = match reply {
        Ok(r) => r,
        Err(e) => {
            sampler.stop();
            return Err(e);
        }
    };
    let mut done_at = None;
    if args.wait != ReloadWait::None {
        while t0.elapsed() < args.timeout {
            let done = match &args.wait {
                ReloadWait::Log(path, text) => log_contains(path, log_start, text),
                ReloadWait::Version => args
                    .target
                    .command("VERSION", timeout)
                    .is_ok_and(|v| Some(&v) != version_before.as_ref()),
                ReloadWait::Pong => args
                    .target
                    .command("PING", timeout)
                    .is_ok_and(|r| r == "PONG"),
                ReloadWait::None => true,
            };
            if done {
                done_at = Some(t0.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    std::thread::sleep(args.settle);
    let samples = sampler.stop();
    let after = mem(pid).map_err(|e| format!("pid {pid}: {e}"))?;
    let hwm = if reset { after.hwm_kib } else { 0 };
    Ok(ReloadReport {
        label: args.label.clone(),
        target: args.target.to_string(),
        pid,
        reply,
        wait: match &args.wait {
            ReloadWait::Log(p, t) => format!("log:{}:{t}", p.display()),
            ReloadWait::Version => "version".into(),
            ReloadWait::Pong => "pong".into(),
            ReloadWait::None => format!("none (sampled {:.1} s)", args.settle.as_secs_f64()),
        },
        done: done_at.is_some(),
        reload_s: done_at.map(|d| d.as_secs_f64()).unwrap_or(0.0),
        rss_before_kib: before.rss_kib,
        peak_rss_sampled_kib: samples.max_rss_kib,
        peak_rss_hwm_kib: hwm,
        peak_rss_kib: samples.max_rss_kib.max(hwm),
        rss_after_kib: after.rss_kib,
        cpu_s: cpu_seconds(pid).unwrap_or(cpu0) - cpu0,
        series: samples.series,
    })
}

/// Whether `text` occurs in `path` after byte `from`.
fn log_contains(path: &PathBuf, from: u64, text: &str) -> bool {
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    if f.seek(SeekFrom::Start(from)).is_err() {
        return false;
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return false;
    }
    String::from_utf8_lossy(&buf).contains(text)
}

/// `ringscan-perf stop`: SIGTERM, wait up to `grace`, then SIGKILL.
pub fn stop(pid: u32, grace: Duration) -> Result<(), String> {
    if gone(pid) {
        return Ok(());
    }
    // SAFETY: kill(2) with a plain signal number.
    if unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) } != 0 {
        return Err(format!("kill {pid}: {}", io::Error::last_os_error()));
    }
    let t0 = Instant::now();
    while t0.elapsed() < grace {
        if gone(pid) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("ringscan-perf stop: {pid} still there after SIGTERM; SIGKILL");
    // SAFETY: as above.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(100));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process() {
        let me = std::process::id();
        let m = mem(me).unwrap();
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
        let _ = cpu_seconds(me).unwrap();
        assert!(!gone(me));
        let s = Sampler::start(me, Duration::from_millis(1), true);
        std::thread::sleep(Duration::from_millis(20));
        let s = s.stop();
        assert!(s.count >= 2 && s.max_rss_kib > 0 && !s.series.is_empty());
    }

    #[test]
    fn waits() {
        assert_eq!("none".parse::<ReloadWait>(), Ok(ReloadWait::None));
        assert_eq!(
            "log:/x/clamd.log:Database correctly reloaded".parse::<ReloadWait>(),
            Ok(ReloadWait::Log(
                "/x/clamd.log".into(),
                "Database correctly reloaded".into()
            ))
        );
        assert!("log:/x".parse::<ReloadWait>().is_err());
        assert!("later".parse::<ReloadWait>().is_err());
    }
}
