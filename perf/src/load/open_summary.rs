//! `summary.md` for a directory of open-loop runs (`perf/http.sh`).
//!
//! Files read:
//!
//! - `machine.txt` (optional): quoted as is;
//! - `closed-*.json` ([`ClosedReport`], optional): the closed-loop run that found the
//!   maximum rate for a size; offered rates are shown as a share of it;
//! - `open-*.json` ([`OpenReport`]): one row each.
//!
//! Then, per size and offered rate, HTTP over clamd on the same transport: achieved
//! rate, p50 and p99 of `kav3` and `kav1` over `clamd`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::closed::ClosedReport;
use super::open::OpenReport;
use super::util::read_json;

/// Targets in table order: transport, then protocol.
fn order(r: &OpenReport) -> (u64, u64, usize, usize) {
    let proto = ["clamd", "kav3", "kav1"]
        .iter()
        .position(|p| *p == r.protocol)
        .unwrap_or(3);
    let transport = usize::from(r.transport != "unix");
    (
        r.object_bytes,
        (r.offered_rate * 1000.0) as u64,
        transport,
        proto,
    )
}

/// `4 KiB`, `1 MiB`, or bytes.
pub fn size_label(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

fn files(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, String> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"))
        })
        .collect();
    out.sort();
    Ok(out)
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() {
        format!("{:.2}", a / b)
    } else {
        "–".into()
    }
}

/// Builds `summary.md` from a results directory.
pub fn summary(dir: &Path) -> Result<String, String> {
    let mut closed: Vec<ClosedReport> = files(dir, "closed-")?
        .iter()
        .map(|p| read_json(p))
        .collect::<Result<_, _>>()?;
    closed.sort_by_key(|c| c.corpus.bytes / c.corpus.files.max(1) as u64);
    let mut runs: Vec<OpenReport> = files(dir, "open-")?
        .iter()
        .map(|p| read_json(p))
        .collect::<Result<_, _>>()?;
    runs.sort_by_key(order);
    let max_rate = |bytes: u64| {
        closed
            .iter()
            .find(|c| c.corpus.files > 0 && c.corpus.bytes / c.corpus.files as u64 == bytes)
            .map(|c| c.files_s)
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# KAV HTTP vs clamd protocol: open loop at fixed rates\n"
    );
    if let Ok(m) = std::fs::read_to_string(dir.join("machine.txt")) {
        let _ = writeln!(out, "```\n{}\n```\n", m.trim_end());
    }
    let mut targets: Vec<&str> = runs.iter().map(|r| r.target.as_str()).collect();
    targets.sort();
    targets.dedup();
    if !targets.is_empty() {
        let _ = writeln!(out, "Targets: {}.\n", targets.join(", "));
    }
    if !closed.is_empty() {
        let _ = writeln!(
            out,
            "Maximum rate (closed loop, the rates below are shares of it):\n"
        );
        for c in &closed {
            let per = c.corpus.bytes / (c.corpus.files.max(1) as u64);
            let _ = writeln!(
                out,
                "- {}: {} with {} clients: **{:.1} req/s**, {:.1} MB/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
                size_label(per),
                c.target,
                c.concurrency,
                c.files_s,
                c.mb_s,
                c.latency_ms.p50,
                c.latency_ms.p99,
                c.errors
            );
        }
        let _ = writeln!(out);
    }
    if runs.is_empty() {
        let _ = writeln!(out, "No open-loop results in {}.", dir.display());
        return Ok(out);
    }
    let _ = writeln!(
        out,
        "| size | target | offered req/s | achieved req/s | MB/s | p50 ms | p99 ms | p99.9 ms | max ms | errors |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for r in &runs {
        let share = max_rate(r.object_bytes)
            .filter(|m| *m > 0.0)
            .map(|m| format!(" ({:.0} %)", 100.0 * r.offered_rate / m))
            .unwrap_or_default();
        let mut errors = r.errors.to_string();
        if r.errors > 0 {
            let kinds: Vec<String> = r
                .errors_by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            errors = format!("**{}** ({})", r.errors, kinds.join(", "));
        }
        if r.unsent > 0 {
            errors = format!("{errors}, **{} not sent**", r.unsent);
        }
        let l = &r.latency_ms;
        let _ = writeln!(
            out,
            "| {} | {}+{} | {:.1}{share} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {errors} |",
            size_label(r.object_bytes),
            r.protocol,
            r.transport,
            r.offered_rate,
            r.achieved_rate,
            r.mb_s,
            l.p50,
            l.p99,
            l.p999,
            l.max
        );
    }
    let _ = writeln!(out);

    // HTTP over clamd, same size, rate and transport.
    let mut lines = Vec::new();
    for c in runs.iter().filter(|r| r.protocol == "clamd") {
        let same = |p: &str| {
            runs.iter().find(|r| {
                r.protocol == p
                    && r.transport == c.transport
                    && r.object_bytes == c.object_bytes
                    && (r.offered_rate - c.offered_rate).abs() < 1e-6
            })
        };
        let mut line = format!(
            "| {} | {:.1} | {} |",
            size_label(c.object_bytes),
            c.offered_rate,
            c.transport
        );
        let mut any = false;
        for p in ["kav3", "kav1"] {
            match same(p) {
                Some(h) => {
                    any = true;
                    let _ = write!(
                        line,
                        " {} | {} | {} |",
                        ratio(h.achieved_rate, c.achieved_rate),
                        ratio(h.latency_ms.p50, c.latency_ms.p50),
                        ratio(h.latency_ms.p99, c.latency_ms.p99)
                    );
                }
                None => line.push_str(" – | – | – |"),
            }
        }
        if any {
            lines.push(line);
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(
            out,
            "HTTP / clamd at the same size, offered rate and transport (achieved req/s: 1.00 = \
             same throughput; latency: below 1 = HTTP faster):\n\n\
             | size | offered req/s | transport | kav3 achieved | kav3 p50 | kav3 p99 | kav1 achieved | kav1 p50 | kav1 p99 |\n\
             |---|---:|---|---:|---:|---:|---:|---:|---:|"
        );
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = writeln!(out);
    }
    if let Some(r) = runs.first() {
        let clamd_mode = runs
            .iter()
            .find(|r| r.protocol == "clamd")
            .map(|r| r.mode.as_str())
            .unwrap_or("instream");
        let _ = writeln!(
            out,
            "Open loop: requests due at fixed times (start + i/rate) for {:.0} s after {:.0} s \
             warm-up, {} connections per target, each taking the next due request when free; \
             latency from the intended send time (queueing behind a slow answer counts). \
             Achieved rate: right answers to the window's requests over the time until the \
             last of them (at least the window). clamd requests: `{clamd_mode}`{}; KAV \
             requests on one keep-alive HTTP/1.1 connection per client, v3 with the base64 \
             JSON body built before the run. Errors and wrong verdicts are counted, never \
             latency samples. Raw JSON: `closed-*.json`, `open-*.json` (with the \
             HdrHistogram, V2 deflated, base64).",
            r.duration_s,
            r.warmup_s,
            r.connections,
            if clamd_mode == "instream" {
                " (a fresh connection per request, as clamdscan does)"
            } else {
                " (one IDSESSION per client)"
            }
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::recorder::Latency;

    fn run(protocol: &str, transport: &str, rate: f64, achieved: f64, p50: f64) -> OpenReport {
        OpenReport {
            target: format!("{protocol}+{transport}:x"),
            protocol: protocol.into(),
            transport: transport.into(),
            object_bytes: 1 << 20,
            offered_rate: rate,
            achieved_rate: achieved,
            latency_ms: Latency {
                p50,
                p99: p50 * 4.0,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn table_and_ratios() {
        let dir = std::env::temp_dir().join(format!("ringscan-perf-osum-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let w = |name: &str, r: &OpenReport| {
            crate::load::util::write_json(&dir.join(name), r).unwrap();
        };
        w("open-a.json", &run("kav3", "unix", 50.0, 45.0, 4.0));
        w("open-b.json", &run("clamd", "unix", 50.0, 50.0, 2.0));
        w("open-c.json", &run("kav1", "tcp", 50.0, 50.0, 3.0));
        let mut closed = ClosedReport {
            target: "clamd+unix:/s".into(),
            files_s: 100.0,
            ..Default::default()
        };
        closed.corpus.files = 4;
        closed.corpus.bytes = 4 << 20;
        crate::load::util::write_json(&dir.join("closed-1M.json"), &closed).unwrap();
        let s = summary(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        // clamd before kav3 on unix, then tcp.
        let clamd = s.find("| 1 MiB | clamd+unix | 50.0 (50 %)").unwrap();
        let kav3 = s.find("| 1 MiB | kav3+unix |").unwrap();
        let kav1 = s.find("| 1 MiB | kav1+tcp |").unwrap();
        assert!(clamd < kav3 && kav3 < kav1, "{s}");
        assert!(
            s.contains("| 1 MiB | 50.0 | unix | 0.90 | 2.00 | 2.00 | – | – | – |"),
            "{s}"
        );
        // No clamd on tcp: no ratio line for it.
        assert!(!s.contains("| 1 MiB | 50.0 | tcp |"), "{s}");
        assert!(s.contains("**100.0 req/s**"), "{s}");
        assert!(
            s.contains("Targets: clamd+unix:x, kav1+tcp:x, kav3+unix:x."),
            "{s}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(size_label(4096), "4 KiB");
        assert_eq!(size_label(1 << 20), "1 MiB");
        assert_eq!(size_label(1000), "1000 B");
    }
}
