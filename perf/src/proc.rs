//! Process measurements: this process's resident memory from `/proc/self/status`, and
//! child processes run to completion with their wall time and peak RSS (`wait4`).

use std::process::Command;
use std::time::{Duration, Instant};

/// Resident memory of this process, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rss {
    /// `VmRSS`: resident now.
    pub now_kib: u64,
    /// `VmHWM`: the peak so far.
    pub peak_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` (zero where `/proc` is unavailable).
pub fn rss() -> Rss {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Rss {
        now_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
    }
}

/// How a child process ended.
#[derive(Clone, Debug, Default)]
pub struct ChildRun {
    /// Exit code, when it exited.
    pub code: Option<i32>,
    /// The signal that killed it, when one did.
    pub signal: Option<i32>,
    /// From spawn to reaped.
    pub wall: Duration,
    /// Peak resident memory of that child alone (`ru_maxrss`), KiB.
    pub peak_rss_kib: u64,
    /// Killed by us after the timeout.
    pub timed_out: bool,
}

impl ChildRun {
    /// "exit 2", "signal 9", "killed after 300 s".
    pub fn describe(&self) -> String {
        if self.timed_out {
            format!("killed after {:.0} s", self.wall.as_secs_f64())
        } else if let Some(s) = self.signal {
            format!("killed by signal {s}")
        } else {
            format!("exit {}", self.code.unwrap_or(-1))
        }
    }
}

/// Runs `cmd` to completion and reaps it with `wait4`, so the peak RSS is this child's
/// own (`getrusage(RUSAGE_CHILDREN)` would be the maximum over every child so far).
///
/// Caveat: Linux folds the memory the child had at exec time into its `ru_maxrss`, and
/// a spawned child starts out sharing or copying ours, so the figure is really
/// `max(child's peak, our VmHWM at spawn)`. Callers keep themselves small while
/// spawning, or have the child report its own `VmHWM`.
/// With a timeout, the child is killed (SIGKILL) once it runs longer.
pub fn run_child(cmd: &mut Command, timeout: Option<Duration>) -> Result<ChildRun, String> {
    let start = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let mut timed_out = false;
    let mut nap = Duration::from_millis(1);
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is a valid value; wait4 only writes to the two
        // out-parameters, which outlive the call.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let flags = if timeout.is_some() && !timed_out {
            libc::WNOHANG
        } else {
            0
        };
        // SAFETY: see above; `pid` is our own unreaped child.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == pid {
            let wall = start.elapsed();
            return Ok(ChildRun {
                code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
                signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
                wall,
                peak_rss_kib: usage.ru_maxrss.max(0) as u64,
                timed_out,
            });
        }
        if r < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("wait4: {err}"));
        }
        // Still running (WNOHANG).
        if let Some(limit) = timeout {
            if start.elapsed() >= limit {
                // SAFETY: plain kill(2) of our own unreaped child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                timed_out = true;
                continue;
            }
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(100));
    }
}
