//! `summary.md` for a `perf/headline.sh` results directory: the one table a newcomer
//! reads (ringscan against clamd on the same machine, signatures and objects), then the
//! sweep tables and plots, then the comparisons run by run.
//!
//! What the directory holds (names fixed by the script):
//! - `machine.txt`; `<server>-launch.json` (start until PONG), `<server>-reload.json`;
//! - `compare-corpus.json`: `compare --mode closed` on the corpus (throughput);
//! - per size S: `sweep-S/<server>-S-sweep.json` (and each point's report beside it),
//!   `compare-S.json` (`compare --mode open` at half of clamd's maximum), `sweep-S.svg`.
//!
//! The servers are `clamd` (A in the comparisons) and `ringscan` (B): every ratio is
//! ringscan / clamd. A missing file leaves its rows out rather than failing, so a run cut
//! short still shows what it measured.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::compare::{self, CompareReport, Spread};
use super::open::OpenReport;
use super::recorder::Latency;
use super::server::{LaunchReport, ReloadReport};
use super::sweep::{self, SweepPoint, SweepReport};
use super::util::read_json;

/// The reference server (A).
const CLAMD: &str = "clamd";
/// The server under test (B).
const RINGSCAN: &str = "ringscan";

/// One object size's results.
struct SizeRuns {
    /// As in the directory names: `4K`, `1M`.
    name: String,
    clamd: Option<SweepReport>,
    ringscan: Option<SweepReport>,
    /// Open loop at one rate for both.
    same_rate: Option<CompareReport>,
    /// Largest RSS sampled during the sweep points, per server, KiB.
    clamd_rss_kib: u64,
    ringscan_rss_kib: u64,
}

fn read<T: serde::de::DeserializeOwned>(path: PathBuf) -> Option<T> {
    path.exists().then(|| read_json(&path).ok()).flatten()
}

/// The sizes present, from the `sweep-<size>` directories, smallest first.
fn sizes(dir: &Path) -> Result<Vec<String>, String> {
    let mut out: Vec<(u64, String)> = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let e = e.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(size) = name.strip_prefix("sweep-") {
            if e.path().is_dir() {
                let bytes = super::util::parse_size(size).unwrap_or(u64::MAX);
                out.push((bytes, size.to_string()));
            }
        }
    }
    out.sort();
    Ok(out.into_iter().map(|(_, s)| s).collect())
}

/// The largest server RSS sampled in a sweep's point reports.
fn sweep_rss_kib(dir: &Path, s: &SweepReport) -> u64 {
    s.points
        .iter()
        .filter_map(|p| {
            let r: OpenReport = read(sweep::file(dir, &s.label, &load_name(p), "json"))?;
            r.server
                .map(|sv| sv.samples.max_rss_kib.max(sv.after.rss_kib))
        })
        .max()
        .unwrap_or(0)
}

/// A point's name in file names (`50`, `12.5`), as `sweep` writes it.
fn load_name(p: &SweepPoint) -> String {
    sweep::load_name(p.load_pct)
}

fn load_size(dir: &Path, name: &str) -> SizeRuns {
    let sweep_dir = dir.join(format!("sweep-{name}"));
    let clamd: Option<SweepReport> = read(sweep::file(
        &sweep_dir,
        &format!("{CLAMD}-{name}"),
        "sweep",
        "json",
    ));
    let ringscan: Option<SweepReport> = read(sweep::file(
        &sweep_dir,
        &format!("{RINGSCAN}-{name}"),
        "sweep",
        "json",
    ));
    SizeRuns {
        name: name.to_string(),
        clamd_rss_kib: clamd.as_ref().map_or(0, |s| sweep_rss_kib(&sweep_dir, s)),
        ringscan_rss_kib: ringscan
            .as_ref()
            .map_or(0, |s| sweep_rss_kib(&sweep_dir, s)),
        clamd,
        ringscan,
        same_rate: read(dir.join(format!("compare-{name}.json"))),
    }
}

/// The point at `pct` % of the maximum.
fn at(s: &Option<SweepReport>, pct: f64) -> Option<&SweepPoint> {
    s.as_ref()?
        .points
        .iter()
        .find(|p| (p.load_pct - pct).abs() < 1e-9)
}

fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn mib(kib: u64) -> String {
    if kib == 0 {
        "-".into()
    } else {
        format!("{:.0} MiB", kib as f64 / 1024.0)
    }
}

fn ratio(b: f64, a: f64) -> String {
    if a > 0.0 && b > 0.0 {
        format!("{:.2}x", b / a)
    } else {
        "-".into()
    }
}

fn spread(s: &Option<Spread>) -> String {
    match s {
        Some(s) if s.n > 1 => format!(
            "**{:.2}x** ({:.2}-{:.2}, {} pairs)",
            s.median, s.min, s.max, s.n
        ),
        Some(s) => format!("**{:.2}x** (1 pair)", s.median),
        None => "-".into(),
    }
}

/// `p50 / p99` of a latency, ms.
fn p50_p99(l: &Latency) -> String {
    if l.count == 0 {
        "-".into()
    } else {
        format!("{} / {} ms", ms(l.p50), ms(l.p99))
    }
}

/// The mean of one side's runs in a comparison: req/s, MB/s, and the median run's
/// latency (by p50) so that the figures shown belong to one real run.
fn side_mean(r: &CompareReport, side: compare::Side) -> Option<(f64, f64, Latency)> {
    let mut runs: Vec<_> = r.runs.iter().filter(|x| x.side == side).collect();
    if runs.is_empty() {
        return None;
    }
    let n = runs.len() as f64;
    let files_s = runs.iter().map(|x| x.files_s).sum::<f64>() / n;
    let mb_s = runs.iter().map(|x| x.mb_s).sum::<f64>() / n;
    runs.sort_by(|x, y| x.latency_ms.p50.total_cmp(&y.latency_ms.p50));
    Some((files_s, mb_s, runs[runs.len() / 2].latency_ms.clone()))
}

/// Errors and wrong verdicts over every run in the directory's reports.
fn errors(corpus: &Option<CompareReport>, sizes: &[SizeRuns]) -> (u64, u64) {
    let mut clamd = 0;
    let mut ringscan = 0;
    let mut add_compare = |r: &CompareReport| {
        for run in &r.runs {
            match run.side {
                compare::Side::A => clamd += run.errors,
                compare::Side::B => ringscan += run.errors,
            }
        }
    };
    if let Some(r) = corpus {
        add_compare(r);
    }
    for s in sizes {
        if let Some(r) = &s.same_rate {
            add_compare(r);
        }
    }
    let sweep_errors = |s: &Option<SweepReport>| {
        s.as_ref().map_or(0, |s| {
            s.max.errors + s.points.iter().map(|p| p.errors).sum::<u64>()
        })
    };
    for s in sizes {
        clamd += sweep_errors(&s.clamd);
        ringscan += sweep_errors(&s.ringscan);
    }
    (clamd, ringscan)
}

/// Builds `summary.md` from a `perf/headline.sh` results directory.
pub fn summary(dir: &Path) -> Result<String, String> {
    let launch =
        |name: &str| -> Option<LaunchReport> { read(dir.join(format!("{name}-launch.json"))) };
    let reload =
        |name: &str| -> Option<ReloadReport> { read(dir.join(format!("{name}-reload.json"))) };
    let corpus: Option<CompareReport> = read(dir.join("compare-corpus.json"));
    let sizes: Vec<SizeRuns> = sizes(dir)?.iter().map(|s| load_size(dir, s)).collect();

    let mut out = String::new();
    let _ = writeln!(out, "# ringscan serve against clamd: the headline\n");
    if let Ok(m) = std::fs::read_to_string(dir.join("machine.txt")) {
        let _ = writeln!(out, "```\n{}\n```\n", m.trim_end());
    }
    let _ = writeln!(
        out,
        "Same machine, same signatures, same objects, same client code (`ringscan-perf`); \
         clamd protocol INSTREAM over the UNIX socket, a connection per request. Latency is \
         measured from each request's intended send time (open loop; coordinated omission \
         corrected by construction). Ratios are ringscan / clamd.\n"
    );
    let _ = writeln!(out, "| | clamd | ringscan | ringscan / clamd |");
    let _ = writeln!(out, "|---|---|---|---|");
    if let Some(c) = &corpus {
        let a = side_mean(c, compare::Side::A);
        let b = side_mean(c, compare::Side::B);
        if let (Some((af, am, al)), Some((bf, bm, bl))) = (a, b) {
            let _ = writeln!(
                out,
                "| **throughput**, corpus ({} files, {:.0} MB mixed), closed loop, {} clients | {:.1} MB/s ({:.0} req/s) | {:.1} MB/s ({:.0} req/s) | {} |",
                c.corpus.files,
                c.corpus.bytes as f64 / 1e6,
                c.clients,
                am,
                af,
                bm,
                bf,
                spread(&c.summary.throughput)
            );
            let _ = writeln!(
                out,
                "| latency p50 / p99 there (closed loop, median run) | {} | {} | |",
                p50_p99(&al),
                p50_p99(&bl)
            );
        }
    }
    for s in &sizes {
        let n = &s.name;
        let max = |x: &Option<SweepReport>| x.as_ref().map_or(0.0, |x| x.max.rate);
        let (ma, mb) = (max(&s.clamd), max(&s.ringscan));
        let _ = writeln!(
            out,
            "| **{n}**: maximum (closed loop, {} connections) | {:.0} req/s | {:.0} req/s | {} |",
            s.clamd
                .as_ref()
                .or(s.ringscan.as_ref())
                .map_or(0, |x| x.connections),
            ma,
            mb,
            ratio(mb, ma)
        );
        for pct in [50.0, 90.0] {
            let cell = |p: Option<&SweepPoint>| {
                p.map_or("-".into(), |p| {
                    format!("{} at {:.0} req/s", p50_p99(&p.latency_ms), p.achieved_rate)
                })
            };
            let (pa, pb) = (at(&s.clamd, pct), at(&s.ringscan, pct));
            let _ = writeln!(
                out,
                "| {n}: p50 / p99 at {pct:.0} % of its own maximum | {} | {} | p99 {} |",
                cell(pa),
                cell(pb),
                match (pa, pb) {
                    (Some(a), Some(b)) => ratio(b.latency_ms.p99, a.latency_ms.p99),
                    _ => "-".into(),
                }
            );
        }
        if let Some(c) = &s.same_rate {
            let a = side_mean(c, compare::Side::A);
            let b = side_mean(c, compare::Side::B);
            if let (Some((_, _, al)), Some((_, _, bl))) = (a, b) {
                let _ = writeln!(
                    out,
                    "| {n}: p50 / p99 at the same {:.0} req/s (half of clamd's maximum; median run) | {} | {} | p50 {}, p99 {} |",
                    c.rate.unwrap_or(0.0),
                    p50_p99(&al),
                    p50_p99(&bl),
                    spread(&c.summary.p50),
                    spread(&c.summary.p99)
                );
            }
        }
    }
    let (la, lb) = (launch(CLAMD), launch(RINGSCAN));
    if la.is_some() || lb.is_some() {
        let cell = |l: &Option<LaunchReport>| {
            l.as_ref().map_or("-".into(), |l| {
                format!("{:.2} s, RSS {}", l.load_s, mib(l.rss_kib))
            })
        };
        let _ = writeln!(
            out,
            "| database load (spawn until PONG), RSS then | {} | {} | {} |",
            cell(&la),
            cell(&lb),
            ratio(
                lb.as_ref().map_or(0.0, |l| l.load_s),
                la.as_ref().map_or(0.0, |l| l.load_s)
            )
        );
    }
    let rss_under_load = |f: fn(&SizeRuns) -> u64| sizes.iter().map(f).max().unwrap_or(0);
    let (ra, rb) = (
        rss_under_load(|s| s.clamd_rss_kib),
        rss_under_load(|s| s.ringscan_rss_kib),
    );
    if ra > 0 || rb > 0 {
        let _ = writeln!(
            out,
            "| RSS, largest sampled during the sweeps | {} | {} | {} |",
            mib(ra),
            mib(rb),
            ratio(rb as f64, ra as f64)
        );
    }
    let (da, db) = (reload(CLAMD), reload(RINGSCAN));
    if da.is_some() || db.is_some() {
        let cell = |r: &Option<ReloadReport>| {
            r.as_ref().map_or("-".into(), |r| {
                if r.done {
                    format!(
                        "{:.2} s, RSS peak {} ({:.2}x before)",
                        r.reload_s,
                        mib(r.peak_rss_kib),
                        r.peak_rss_kib as f64 / r.rss_before_kib.max(1) as f64
                    )
                } else {
                    format!("not seen done ({})", r.wait)
                }
            })
        };
        let _ = writeln!(
            out,
            "| reload (RELOAD until the new database serves), idle | {} | {} | {} |",
            cell(&da),
            cell(&db),
            ratio(
                db.as_ref().filter(|r| r.done).map_or(0.0, |r| r.reload_s),
                da.as_ref().filter(|r| r.done).map_or(0.0, |r| r.reload_s)
            )
        );
    }
    let (ea, eb) = errors(&corpus, &sizes);
    let _ = writeln!(
        out,
        "| errors and wrong verdicts, every run | {ea} | {eb} | |\n"
    );

    for s in &sizes {
        let _ = writeln!(out, "## {} objects\n", s.name);
        let _ = writeln!(
            out,
            "![latency against throughput, {}](sweep-{}.svg)\n",
            s.name, s.name
        );
        for x in [&s.clamd, &s.ringscan].into_iter().flatten() {
            let _ = writeln!(out, "{}", sweep::markdown(x));
        }
        if let Some(c) = &s.same_rate {
            let _ = writeln!(out, "### Same offered rate for both\n");
            let _ = writeln!(out, "{}", compare::markdown(c));
        }
    }
    if let Some(c) = &corpus {
        let _ = writeln!(out, "## Throughput on the corpus, run by run\n");
        let _ = writeln!(out, "{}", compare::markdown(c));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
