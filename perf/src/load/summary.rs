//! `summary.md` for a `perf/server.sh` results directory.
//!
//! Files read (each optional; a server with none is left out):
//!
//! - `machine.txt`: the machine and run parameters, quoted as is;
//! - `<server>-launch.json` ([`LaunchReport`]): load time and memory after it;
//! - `<server>-closed-<round>.json` ([`ClosedReport`]): one per round, merged;
//! - `<server>-reload.json` ([`ReloadReport`]);
//! - `<server>-skipped.txt`: why a server was not measured;
//! - `engine.json`: `engine-bench throughput` on the same signatures and corpus.
//!
//! Servers: `clamd` and `ringscan`; ratios are ringscan over clamd.

use std::fmt::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;

use super::closed::ClosedReport;
use super::recorder::{decode_histogram, Latency};
use super::server::{LaunchReport, ReloadReport};
use super::util::read_json;

/// The servers compared, in column order.
pub const SERVERS: [&str; 2] = ["clamd", "ringscan"];

/// One server's files.
#[derive(Default)]
struct Server {
    name: &'static str,
    launch: Option<LaunchReport>,
    rounds: Vec<ClosedReport>,
    reload: Option<ReloadReport>,
    skipped: Option<String>,
}

impl Server {
    fn read(dir: &Path, name: &'static str) -> Result<Server, String> {
        let mut s = Server {
            name,
            ..Default::default()
        };
        let launch = dir.join(format!("{name}-launch.json"));
        if launch.exists() {
            s.launch = Some(read_json(&launch)?);
        }
        let reload = dir.join(format!("{name}-reload.json"));
        if reload.exists() {
            s.reload = Some(read_json(&reload)?);
        }
        let skipped = dir.join(format!("{name}-skipped.txt"));
        if skipped.exists() {
            s.skipped = Some(
                std::fs::read_to_string(&skipped)
                    .map_err(|e| format!("{}: {e}", skipped.display()))?
                    .trim()
                    .to_string(),
            );
        }
        let mut rounds: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with(&format!("{name}-closed-")) && n.ends_with(".json")
                })
            })
            .collect();
        rounds.sort();
        for r in rounds {
            s.rounds.push(read_json(&r)?);
        }
        Ok(s)
    }

    fn measured(&self) -> bool {
        self.launch.is_some() || !self.rounds.is_empty()
    }

    /// Mean MB/s and files/s over the rounds.
    fn rates(&self) -> Option<(f64, f64)> {
        if self.rounds.is_empty() {
            return None;
        }
        let n = self.rounds.len() as f64;
        Some((
            self.rounds.iter().map(|r| r.mb_s).sum::<f64>() / n,
            self.rounds.iter().map(|r| r.files_s).sum::<f64>() / n,
        ))
    }

    /// Latency over every round (histograms merged).
    fn latency(&self) -> Option<Latency> {
        let mut all: Option<Histogram<u64>> = None;
        for r in &self.rounds {
            let h = decode_histogram(&r.histogram).ok()?;
            match &mut all {
                Some(a) => a.add(&h).ok()?,
                None => all = Some(h),
            }
        }
        all.map(|h| Latency::of(&h))
    }

    fn errors(&self) -> (u64, Vec<String>) {
        let mut kinds = std::collections::BTreeMap::<String, u64>::new();
        for r in &self.rounds {
            for (k, n) in &r.errors_by_kind {
                *kinds.entry(k.clone()).or_default() += n;
            }
        }
        (
            kinds.values().sum(),
            kinds.iter().map(|(k, n)| format!("{k} {n}")).collect(),
        )
    }
}

fn mib(kib: u64) -> String {
    format!("{:.0}", kib as f64 / 1024.0)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".into(),
    }
}

/// Builds `summary.md` from a results directory.
pub fn summary(dir: &Path) -> Result<String, String> {
    let servers: Vec<Server> = SERVERS
        .iter()
        .map(|n| Server::read(dir, n))
        .collect::<Result<_, _>>()?;
    let engine: Option<serde_json::Value> = {
        let p = dir.join("engine.json");
        if p.exists() {
            Some(read_json(&p)?)
        } else {
            None
        }
    };
    let mut out = String::new();
    let _ = writeln!(out, "# Server: ringscan vs clamd\n");
    if let Ok(m) = std::fs::read_to_string(dir.join("machine.txt")) {
        let _ = writeln!(out, "```\n{}\n```\n", m.trim_end());
    }
    for s in &servers {
        if let Some(why) = &s.skipped {
            let _ = writeln!(out, "**{}: not measured.** {why}\n", s.name);
        }
    }
    let shown: Vec<&Server> = servers.iter().filter(|s| s.measured()).collect();
    if shown.is_empty() {
        let _ = writeln!(out, "No server results in {}.", dir.display());
        return Ok(out);
    }
    let both = shown.len() == 2;
    let mut header = String::from("| |");
    let mut rule = String::from("|---|");
    for s in &shown {
        let _ = write!(header, " {} |", s.name);
        rule.push_str("---:|");
    }
    if both {
        header.push_str(" ringscan / clamd |");
        rule.push_str("---:|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    // One row: label, a cell per server, and the ratio of the numbers when both exist.
    let mut row = |label: &str, cell: &dyn Fn(&Server) -> (String, Option<f64>)| {
        let cells: Vec<(String, Option<f64>)> = shown.iter().map(|s| cell(s)).collect();
        let mut line = format!("| {label} |");
        for (text, _) in &cells {
            let _ = write!(line, " {text} |");
        }
        if both {
            let _ = write!(line, " {} |", ratio(cells[1].1, cells[0].1));
        }
        let _ = writeln!(out, "{line}");
    };
    let dash = || ("–".to_string(), None);
    row("database load: spawn until the first PONG, s", &|s| {
        s.launch
            .as_ref()
            .map(|l| (format!("{:.2}", l.load_s), Some(l.load_s)))
            .unwrap_or_else(dash)
    });
    row("RSS right after load, MiB", &|s| {
        s.launch
            .as_ref()
            .map(|l| (mib(l.rss_kib), Some(l.rss_kib as f64)))
            .unwrap_or_else(dash)
    });
    row("peak RSS while loading (VmHWM), MiB", &|s| {
        s.launch
            .as_ref()
            .map(|l| (mib(l.peak_rss_kib), Some(l.peak_rss_kib as f64)))
            .unwrap_or_else(dash)
    });
    row(
        "**INSTREAM over UNIX, closed loop: MB/s** (each round)",
        &|s| match s.rates() {
            Some((mb, _)) => {
                let each: Vec<String> = s.rounds.iter().map(|r| format!("{:.1}", r.mb_s)).collect();
                (format!("**{mb:.1}** ({})", each.join(", ")), Some(mb))
            }
            None => dash(),
        },
    );
    row("files/s", &|s| match s.rates() {
        Some((_, f)) => (format!("{f:.1}"), Some(f)),
        None => dash(),
    });
    let lat = |pick: fn(&Latency) -> f64| {
        move |s: &Server| -> (String, Option<f64>) {
            match s.latency() {
                Some(l) if l.count > 0 => (format!("{:.1}", pick(&l)), Some(pick(&l))),
                _ => ("–".to_string(), None),
            }
        }
    };
    row("latency p50, ms", &lat(|l| l.p50));
    row("latency p90, ms", &lat(|l| l.p90));
    row("latency p99, ms", &lat(|l| l.p99));
    row("latency p99.9, ms", &lat(|l| l.p999));
    row("latency max, ms", &lat(|l| l.max));
    row("requests answered right (all rounds)", &|s| {
        if s.rounds.is_empty() {
            return dash();
        }
        let n: u64 = s.rounds.iter().map(|r| r.requests).sum();
        (n.to_string(), None)
    });
    row("errors and wrong verdicts", &|s| {
        if s.rounds.is_empty() {
            return dash();
        }
        let (n, kinds) = s.errors();
        if n == 0 {
            ("0".into(), None)
        } else {
            (format!("**{n}** ({})", kinds.join(", ")), None)
        }
    });
    let server_after = |s: &Server| s.rounds.last().and_then(|r| r.server.clone());
    row("RSS steady: after the load runs, MiB", &|s| {
        server_after(s)
            .map(|v| (mib(v.after.rss_kib), Some(v.after.rss_kib as f64)))
            .unwrap_or_else(dash)
    });
    row("max RSS sampled under load, MiB", &|s| {
        let m = s
            .rounds
            .iter()
            .filter_map(|r| r.server.as_ref().map(|v| v.samples.max_rss_kib))
            .max();
        m.map(|k| (mib(k), Some(k as f64))).unwrap_or_else(dash)
    });
    row("server CPU per GB answered, s", &|s| {
        let v: Vec<f64> = s
            .rounds
            .iter()
            .filter_map(|r| r.server.as_ref().map(|v| v.cpu_s_per_gb))
            .collect();
        if v.is_empty() {
            return dash();
        }
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (format!("{m:.1}"), Some(m))
    });
    row("reload: RELOAD until done, s", &|s| match &s.reload {
        Some(r) if r.done => (format!("{:.2}", r.reload_s), Some(r.reload_s)),
        Some(r) if r.wait.starts_with("none") => ("no done signal".into(), None),
        Some(r) => (format!("not seen within the timeout ({})", r.wait), None),
        None => dash(),
    });
    row("reload: RSS before, MiB", &|s| {
        s.reload
            .as_ref()
            .map(|r| (mib(r.rss_before_kib), Some(r.rss_before_kib as f64)))
            .unwrap_or_else(dash)
    });
    row("**reload: peak RSS, MiB**", &|s| {
        s.reload
            .as_ref()
            .map(|r| {
                (
                    format!("**{}**", mib(r.peak_rss_kib)),
                    Some(r.peak_rss_kib as f64),
                )
            })
            .unwrap_or_else(dash)
    });
    row("reload: RSS after, MiB", &|s| {
        s.reload
            .as_ref()
            .map(|r| (mib(r.rss_after_kib), Some(r.rss_after_kib as f64)))
            .unwrap_or_else(dash)
    });
    let _ = writeln!(out);
    if both && shown[0].rounds.len() == shown[1].rounds.len() && !shown[0].rounds.is_empty() {
        let pairs: Vec<String> = shown[0]
            .rounds
            .iter()
            .zip(&shown[1].rounds)
            .map(|(c, r)| ratio(Some(r.mb_s), Some(c.mb_s)))
            .collect();
        let _ = writeln!(
            out,
            "MB/s ringscan / clamd round by round (each pair ran back to back): {}.\n",
            pairs.join(", ")
        );
    }
    for s in &shown {
        if let Some(r) = s.reload.as_ref().filter(|r| !r.done) {
            let _ = writeln!(
                out,
                "{}'s reload: no signal that it was done ({}); the peak is over the whole \
                 sampling window.\n",
                s.name, r.wait
            );
        }
    }

    if let Some(e) = &engine {
        let row = e["rows"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["name"] == "ringscan"));
        if let Some(r) = row {
            let mb = r["mb_s"].as_f64().unwrap_or(0.0);
            let files = r["files_s"].as_f64().unwrap_or(0.0);
            let threads = e["threads"].as_u64().unwrap_or(1);
            let _ = writeln!(
                out,
                "Raw engine in process (`engine-bench throughput --threads {threads}`, the \
                 `ringscan` row: full scan, default options, corpus in memory, no sockets): \
                 **{mb:.1} MB/s**, {files:.1} files/s, {} detections in {} files.\n",
                e["detections"].as_u64().unwrap_or(0),
                e["files"].as_u64().unwrap_or(0),
            );
            let _ = writeln!(
                out,
                "| server MB/s over the ringscan engine's in-process MB/s | ratio |\n|---|---:|"
            );
            for s in &shown {
                if let Some((smb, _)) = s.rates() {
                    let _ = writeln!(out, "| {} | {} |", s.name, ratio(Some(smb), Some(mb)));
                }
            }
            let _ = writeln!(out);
        }
    }

    if let Some(r) = shown.iter().find_map(|s| s.rounds.first()) {
        let _ = writeln!(
            out,
            "Closed loop: {} clients, {} (`{}`), chunk {} B, {:.0} s per round after {:.0} s \
             warm-up; corpus {} files, {:.1} MB ({} expected FOUND; expectations: {}).\n",
            r.concurrency,
            if r.mode == "instream" {
                "one connection per request"
            } else {
                "one IDSESSION per client"
            },
            r.mode,
            r.chunk,
            r.duration_s,
            r.warmup_s,
            r.corpus.files,
            r.corpus.bytes as f64 / 1e6,
            r.corpus.expect_found,
            r.corpus.expect_source,
        );
    }
    let _ = writeln!(
        out,
        "Notes:\n\n\
         - Latency is closed-loop: from connect until the whole reply, with each client \
           sending its next request only after the previous answer. It is the service time \
           at this concurrency (queueing inside the server included), not the latency at a \
           given arrival rate; a closed loop slows down with the server, so it cannot show \
           coordinated omission's effect (an open-loop run at a fixed rate can).\n\
         - The clients run on the same machine and, unless machine.txt says otherwise, on \
           the same cores as the server: client CPU (in the JSON) is taken from the server.\n\
         - Wrong verdicts and errors are counted, never latency samples. RSS is the server \
           process's own (VmRSS); the reload peak is VmHWM after a reset, or the 10 ms \
           samples where the reset is not allowed.\n\
         - Raw JSON: `*-launch.json`, `*-closed-*.json` (with the HdrHistogram), \
           `*-reload.json` (with the RSS series), `engine.json`."
    );
    Ok(out)
}
