//! Per-core counters and scan-latency histograms.
//!
//! Each core owns one [`CoreStats`] and is its only writer: recording a scan is a few
//! integer additions and one HdrHistogram increment, with no atomics, locks or shared
//! cache lines. Totals exist only when someone asks (STATS, getstatistics): the asking
//! core collects a [`CoreSnapshot`] from every core over the mesh and adds them up in
//! [`Merged`].

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::proto::kav::stats::KavCounters;

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes, 3 significant
/// digits: about 30 KiB per core.
const LATENCY_MAX_US: u64 = 600_000_000;

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("static histogram bounds are valid")
}

/// What one core counts. Owned by the core, never shared; a copy travels to the
/// core that merges (see [`CoreSnapshot`]).
#[derive(Clone, Debug)]
pub struct CoreStats {
    /// Connections accepted by (or handed to) this core since start.
    pub connections: u64,
    /// Protocol requests (commands) handled.
    pub requests: u64,
    /// Objects scanned.
    pub scans: u64,
    /// Bytes scanned.
    pub bytes: u64,
    /// Scans with a detection.
    pub found: u64,
    /// Requests answered with an error.
    pub errors: u64,
    /// Scan latency, from the last byte received to the verdict, in microseconds.
    pub latency_us: Histogram<u64>,
    /// The KAV HTTP mode's nine counters (`getstatistics`); HTTP requests only.
    pub kav: KavCounters,
    /// HTTP requests answered, by status class: 2xx, 4xx, 5xx.
    pub http_status: [u64; 3],
}

impl Default for CoreStats {
    fn default() -> Self {
        CoreStats {
            connections: 0,
            requests: 0,
            scans: 0,
            bytes: 0,
            found: 0,
            errors: 0,
            latency_us: new_histogram(),
            kav: KavCounters::default(),
            http_status: [0; 3],
        }
    }
}

impl CoreStats {
    /// Records one scan.
    pub fn record_scan(&mut self, bytes: usize, took: Duration, found: bool) {
        self.scans += 1;
        self.bytes += bytes as u64;
        self.found += u64::from(found);
        let us = (took.as_micros() as u64).clamp(1, LATENCY_MAX_US);
        // Saturated above: a value over the bound is recorded at the bound.
        self.latency_us.saturating_record(us);
    }

    /// Adds another core's counts to these.
    fn add(&mut self, other: &CoreStats) {
        self.connections += other.connections;
        self.requests += other.requests;
        self.scans += other.scans;
        self.bytes += other.bytes;
        self.found += other.found;
        self.errors += other.errors;
        self.kav.add(&other.kav);
        for (mine, theirs) in self.http_status.iter_mut().zip(other.http_status) {
            *mine += theirs;
        }
        // Same bounds on every core, so adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
    }

    /// A copy to send to the core that merges.
    pub fn snapshot(&self, core: usize, open_connections: usize) -> CoreSnapshot {
        CoreSnapshot {
            core,
            open_connections,
            stats: self.clone(),
        }
    }
}

/// One core's counters at one moment, sent across cores on request.
#[derive(Clone, Debug)]
pub struct CoreSnapshot {
    /// The core.
    pub core: usize,
    /// Connections open now.
    pub open_connections: usize,
    /// Its counters since start.
    pub stats: CoreStats,
}

/// Every core's snapshot and their sum.
pub struct Merged {
    /// Per core, in core order.
    pub cores: Vec<CoreSnapshot>,
    /// The sum of all cores (its `core` field is meaningless).
    pub total: CoreSnapshot,
}

impl Merged {
    /// Adds up snapshots (any order; sorted by core here).
    pub fn new(mut cores: Vec<CoreSnapshot>) -> Merged {
        cores.sort_by_key(|c| c.core);
        let mut total = CoreStats::default().snapshot(usize::MAX, 0);
        for c in &cores {
            total.open_connections += c.open_connections;
            total.stats.add(&c.stats);
        }
        Merged { cores, total }
    }
}

/// This process's resident memory, MiB (from /proc/self/statm; 0 if unreadable).
pub fn resident_mib() -> f64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    (pages * page) as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_counters_and_histograms() {
        let mut a = CoreStats::default();
        let mut b = CoreStats::default();
        a.connections = 2;
        b.connections = 3;
        a.record_scan(100, Duration::from_micros(50), false);
        b.record_scan(200, Duration::from_millis(5), true);
        b.record_scan(1, Duration::from_secs(3600), false);
        let m = Merged::new(vec![b.snapshot(1, 4), a.snapshot(0, 1)]);
        assert_eq!(m.cores[0].core, 0);
        let t = &m.total.stats;
        assert_eq!(t.connections, 5);
        assert_eq!(m.total.open_connections, 5);
        assert_eq!(t.scans, 3);
        assert_eq!(t.bytes, 301);
        assert_eq!(t.found, 1);
        assert_eq!(t.latency_us.len(), 3);
        assert!(t.latency_us.max() >= LATENCY_MAX_US / 2);
        assert!(t.latency_us.min() <= 50);
    }
}
