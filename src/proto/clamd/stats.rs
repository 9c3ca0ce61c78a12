//! The STATS reply.
//!
//! clamd's layout is clamd/thrmgr.c `thrmgr_printstats`, preceded by `N: ` inside
//! IDSESSION (session.c `command`, COMMAND_STATS: `if (conn->group)`):
//!
//! ```text
//! POOLS: 1\n
//! \n
//! STATE: VALID PRIMARY\n
//! THREADS: live 3  idle 1 max 10 idle-timeout 30\n     (two spaces before idle)
//! QUEUE: 0 items[ min_wait: %.6f max_wait: %.6f avg_wait: %.6f]\n
//! \tSTATS 0.000123 \n                                 (one line per active task)
//! \n
//! MEMSTATS: heap %.3fM mmap %.3fM used %.3fM free %.3fM releasable %.3fM pools %u pools_used %.3fM pools_total %.3fM\n
//! END<term>
//! ```
//!
//! Every line ends in `\n` whatever the framing; only `END` takes the request's
//! terminator. The format is documented as unstable, yet exporters parse it by
//! position: clamav-prometheus-exporter takes all `[0-9.]+` runs and reads live, idle,
//! max from matches 1-3, the queue from 5 and heap/mmap/used from 7-9, which only lines
//! up because clamd always lists the STATS request itself as an active task (it runs
//! on a worker thread). So keep [`Task::STATS_SELF`] first in `tasks`, and put nothing
//! new before MEMSTATS. ringscan's own lines follow MEMSTATS, before `END`:
//!
//! ```text
//! CORE 0: connections 12 active 1 scans 345\n
//! SCANS: total 345 clean 340 infected 3 errors 2\n
//! DATABASE: version 27000 signatures 8712345 time 1719859200\n
//! RELOAD: ok | RELOAD: failed <reason> | RELOAD: none\n
//! LATENCY: p50 120 p90 400 p99 2100 max 9000 us\n
//! ```

use std::io::Write;

use super::reply::Reply;

/// The `THREADS:` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Threads {
    /// Workers alive.
    pub live: u32,
    /// Workers idle.
    pub idle: u32,
    /// `MaxThreads`.
    pub max: u32,
    /// `IdleTimeout`, seconds.
    pub idle_timeout: u32,
}

/// Wait times of queued items, seconds (`print_queue`); only printed when the queue
/// is non-empty.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QueueWait {
    /// Shortest wait.
    pub min: f64,
    /// Longest wait.
    pub max: f64,
    /// Mean wait.
    pub avg: f64,
}

/// One active task line: `\t<command> <seconds> <file>`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Task<'a> {
    /// `SCAN`, `CONTSCAN`, `MULTISCAN`, `ALLMATCHSCAN`, `INSTREAM`, `FILDES`, `STATS`.
    pub command: &'a str,
    /// Seconds since the task started.
    pub elapsed: f64,
    /// The file being scanned (`instream(local)`, `instream(1.2.3.4@5678)`,
    /// `fd[7]`, a path), or empty.
    pub file: &'a [u8],
}

impl Task<'static> {
    /// The STATS request itself, as clamd always lists it (see the module docs).
    pub const STATS_SELF: Task<'static> = Task {
        command: "STATS",
        elapsed: 0.0,
        file: b"",
    };
}

/// `mallinfo` figures, MiB.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LibcMem {
    /// Heap (`arena`).
    pub heap: f64,
    /// mmap'ed (`hblkhd`).
    pub mmap: f64,
    /// In use.
    pub used: f64,
    /// Free.
    pub free: f64,
    /// Releasable (`keepcost`).
    pub releasable: f64,
}

/// One ringscan core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CoreStats {
    /// Connections accepted since start.
    pub connections: u64,
    /// Requests in progress now.
    pub active: u32,
    /// Scans completed.
    pub scans: u64,
}

/// Scan outcomes since start, all cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanCounters {
    /// Scans completed.
    pub total: u64,
    /// Clean.
    pub clean: u64,
    /// With a detection.
    pub infected: u64,
    /// Failed.
    pub errors: u64,
}

/// The loaded database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DatabaseStats {
    /// Version VERSION reports.
    pub version: u32,
    /// Signatures loaded.
    pub signatures: u64,
    /// Build time of that version, Unix seconds.
    pub time_unix: i64,
}

/// Outcome of the last reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReloadStatus<'a> {
    /// No reload since start.
    #[default]
    None,
    /// The last reload succeeded.
    Ok,
    /// The last reload failed; the old database keeps serving. Line breaks in the
    /// reason are written as spaces.
    Failed(&'a [u8]),
}

/// Scan latency percentiles, microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Maximum.
    pub max: u64,
}

/// Everything STATS prints; the server fills it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats<'a> {
    /// `THREADS:`.
    pub threads: Threads,
    /// `QUEUE: <n> items`.
    pub queue_items: u32,
    /// Queue wait times, when there are queued items.
    pub queue_wait: Option<QueueWait>,
    /// Active tasks; start with [`Task::STATS_SELF`].
    pub tasks: &'a [Task<'a>],
    /// `mallinfo` figures; `None` prints clamd's `N/A` form.
    pub mem: Option<LibcMem>,
    /// Engine memory pools counted (`pools %u`).
    pub pools: u32,
    /// Pool memory used, MiB.
    pub pools_used: f64,
    /// Pool memory reserved, MiB.
    pub pools_total: f64,
    /// ringscan: one line per core.
    pub cores: &'a [CoreStats],
    /// ringscan: scan counters.
    pub scans: Option<ScanCounters>,
    /// ringscan: the loaded database.
    pub database: Option<DatabaseStats>,
    /// ringscan: the last reload.
    pub reload: ReloadStatus<'a>,
    /// ringscan: latency percentiles.
    pub latency: Option<Latency>,
}

impl Reply {
    /// STATS (clamd/thrmgr.c `thrmgr_printstats` + ringscan lines), see the module
    /// docs for the layout.
    pub fn stats(&self, out: &mut Vec<u8>, stats: &Stats<'_>) {
        if let Some(id) = self.id.filter(|&id| id != 0) {
            let _ = write!(out, "{id}: ");
        }
        let s = stats;
        let t = s.threads;
        let _ = write!(
            out,
            "POOLS: 1\n\nSTATE: VALID PRIMARY\nTHREADS: live {}  idle {} max {} idle-timeout {}\nQUEUE: {} items",
            t.live, t.idle, t.max, t.idle_timeout, s.queue_items
        );
        if let Some(w) = s.queue_wait {
            let _ = write!(
                out,
                " min_wait: {:.6} max_wait: {:.6} avg_wait: {:.6}",
                w.min, w.max, w.avg
            );
        }
        out.push(b'\n');
        for task in s.tasks {
            let _ = write!(out, "\t{} {:.6} ", task.command, task.elapsed);
            out.extend_from_slice(task.file);
            out.push(b'\n');
        }
        out.push(b'\n');
        match s.mem {
            Some(m) => {
                let _ = write!(
                    out,
                    "MEMSTATS: heap {:.3}M mmap {:.3}M used {:.3}M free {:.3}M releasable {:.3}M",
                    m.heap, m.mmap, m.used, m.free, m.releasable
                );
            }
            None => out
                .extend_from_slice(b"MEMSTATS: heap N/A mmap N/A used N/A free N/A releasable N/A"),
        }
        let _ = writeln!(
            out,
            " pools {} pools_used {:.3}M pools_total {:.3}M",
            s.pools, s.pools_used, s.pools_total
        );
        for (i, c) in s.cores.iter().enumerate() {
            let _ = writeln!(
                out,
                "CORE {i}: connections {} active {} scans {}",
                c.connections, c.active, c.scans
            );
        }
        if let Some(c) = s.scans {
            let _ = writeln!(
                out,
                "SCANS: total {} clean {} infected {} errors {}",
                c.total, c.clean, c.infected, c.errors
            );
        }
        if let Some(d) = s.database {
            let _ = writeln!(
                out,
                "DATABASE: version {} signatures {} time {}",
                d.version, d.signatures, d.time_unix
            );
        }
        match s.reload {
            ReloadStatus::None => out.extend_from_slice(b"RELOAD: none\n"),
            ReloadStatus::Ok => out.extend_from_slice(b"RELOAD: ok\n"),
            ReloadStatus::Failed(reason) => {
                out.extend_from_slice(b"RELOAD: failed ");
                out.extend(reason.iter().map(|&b| match b {
                    b'\n' | b'\r' | 0 => b' ',
                    b => b,
                }));
                out.push(b'\n');
            }
        }
        if let Some(l) = s.latency {
            let _ = writeln!(
                out,
                "LATENCY: p50 {} p90 {} p99 {} max {} us",
                l.p50, l.p90, l.p99, l.max
            );
        }
        out.extend_from_slice(b"END");
        out.push(self.term);
    }
}
