use super::*;
use crate::load::compare::{Mode, Run, Side};
use crate::load::objects::CorpusInfo;
use crate::load::sweep::SweepMax;
use crate::load::util::write_json;

fn lat(p50: f64, p99: f64, count: u64) -> Latency {
    Latency {
        count,
        p50,
        p99,
        max: p99 * 2.0,
        ..Latency::default()
    }
}

fn sweep_of(label: &str, max: f64, p99_at_50: f64, errors: u64) -> SweepReport {
    let point = |pct: f64, p99: f64| SweepPoint {
        load_pct: pct,
        offered_rate: max * pct / 100.0,
        achieved_rate: max * pct / 100.0,
        requests: 100,
        latency_ms: lat(p99 / 4.0, p99, 100),
        ..SweepPoint::default()
    };
    SweepReport {
        label: label.into(),
        connections: 4,
        object_bytes: 4096,
        max: SweepMax {
            measured: true,
            rate: max,
            errors,
            ..SweepMax::default()
        },
        points: vec![point(50.0, p99_at_50), point(90.0, p99_at_50 * 10.0)],
        ..SweepReport::default()
    }
}

fn run(pair: u32, side: Side, files_s: f64, mb_s: f64, p50: f64, errors: u64) -> Run {
    Run {
        pair,
        side,
        label: if side == Side::A { "clamd" } else { "ringscan" }.into(),
        target: String::new(),
        requests: 1000,
        files_s,
        mb_s,
        latency_ms: lat(p50, p50 * 3.0, 1000),
        errors,
        unsent: 0,
        started_unix: 0.0,
    }
}

fn compare_of(mode: Mode, runs: Vec<Run>) -> CompareReport {
    let pairs = compare::pairs(&runs);
    let summary = compare::summary(&pairs);
    CompareReport {
        a_label: CLAMD.into(),
        b_label: RINGSCAN.into(),
        a_target: String::new(),
        b_target: String::new(),
        mode,
        clients: 4,
        rate: (mode == Mode::Open).then_some(250.0),
        duration_s: 10.0,
        warmup_s: 2.0,
        corpus: CorpusInfo {
            files: 339,
            bytes: 200_000_000,
            ..CorpusInfo::default()
        },
        runs,
        pairs,
        summary,
        started_unix: 0.0,
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rsp-headline-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A whole results directory: the ratios in the table come from the files (throughput
/// median over the pairs, maxima, latency at 50 % and 90 %, load and reload), errors
/// from every run are added up per server.
#[test]
fn the_table_reads_every_file() {
    let dir = scratch("full");
    let sweeps = dir.join("sweep-4K");
    std::fs::create_dir_all(&sweeps).unwrap();
    for s in [
        sweep_of("clamd-4K", 500.0, 40.0, 0),
        sweep_of("ringscan-4K", 2000.0, 2.0, 3),
    ] {
        write_json(&sweep::file(&sweeps, &s.label, "sweep", "json"), &s).unwrap();
    }
    let corpus = compare_of(
        Mode::Closed,
        vec![
            run(1, Side::A, 100.0, 25.0, 40.0, 0),
            run(1, Side::B, 3000.0, 750.0, 1.0, 0),
            run(2, Side::A, 100.0, 20.0, 40.0, 0),
            run(2, Side::B, 4000.0, 1000.0, 1.0, 1),
        ],
    );
    write_json(&dir.join("compare-corpus.json"), &corpus).unwrap();
    let same = compare_of(
        Mode::Open,
        vec![
            run(1, Side::A, 250.0, 1.0, 8.0, 0),
            run(1, Side::B, 250.0, 1.0, 0.5, 0),
        ],
    );
    write_json(&dir.join("compare-4K.json"), &same).unwrap();
    for (name, load_s, reload_s) in [(CLAMD, 0.2, 1.5), (RINGSCAN, 0.6, 0.9)] {
        let l = LaunchReport {
            load_s,
            rss_kib: 100 * 1024,
            ..LaunchReport::default()
        };
        write_json(&dir.join(format!("{name}-launch.json")), &l).unwrap();
        let r = ReloadReport {
            label: None,
            target: String::new(),
            pid: 1,
            reply: "RELOADING".into(),
            wait: "log".into(),
            done: true,
            reload_s,
            rss_before_kib: 100 * 1024,
            peak_rss_sampled_kib: 150 * 1024,
            peak_rss_hwm_kib: 150 * 1024,
            peak_rss_kib: 150 * 1024,
            rss_after_kib: 100 * 1024,
            cpu_s: 1.0,
            series: Vec::new(),
        };
        write_json(&dir.join(format!("{name}-reload.json")), &r).unwrap();
    }
    let md = summary(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let row = |start: &str| -> String {
        md.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no row {start:?} in\n{md}"))
            .to_string()
    };
    // Throughput ratios per pair 30x and 40x: the median of two is their mean.
    let t = row("| **throughput**");
    assert!(t.contains("22.5 MB/s (100 req/s)"), "{t}");
    assert!(t.contains("875.0 MB/s (3500 req/s)"), "{t}");
    assert!(t.contains("**35.00x** (30.00-40.00, 2 pairs)"), "{t}");
    assert!(row("| **4K**: maximum").ends_with("| 500 req/s | 2000 req/s | 4.00x |"));
    let half = row("| 4K: p50 / p99 at 50 %");
    assert!(half.contains("10.0 / 40.0 ms at 250 req/s"), "{half}");
    assert!(half.contains("0.50 / 2.00 ms at 1000 req/s"), "{half}");
    assert!(half.ends_with("p99 0.05x |"), "{half}");
    assert!(row("| 4K: p50 / p99 at 90 %").contains("100 / 400 ms at 450 req/s"));
    let same_rate = row("| 4K: p50 / p99 at the same 250 req/s");
    assert!(same_rate.contains("p50 **0.06x** (1 pair)"), "{same_rate}");
    assert!(row("| database load").ends_with("| 3.00x |"));
    assert!(row("| reload").contains("0.90 s, RSS peak 150 MiB (1.50x before)"));
    assert!(row("| reload").ends_with("| 0.60x |"));
    // ringscan: 3 in the sweep's maximum run and 1 in a corpus run.
    assert_eq!(
        row("| errors"),
        "| errors and wrong verdicts, every run | 0 | 4 | |"
    );
    assert!(md.contains("![latency against throughput, 4K](sweep-4K.svg)"));
    assert!(md.contains("### clamd-4K: latency against throughput"));
}

/// A run cut short: only what exists is shown, nothing fails.
#[test]
fn missing_files_leave_rows_out() {
    let dir = scratch("partial");
    let l = LaunchReport {
        load_s: 0.5,
        ..LaunchReport::default()
    };
    write_json(&dir.join("ringscan-launch.json"), &l).unwrap();
    let md = summary(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        md.contains("| database load (spawn until PONG), RSS then | - | 0.50 s, RSS - | - |"),
        "{md}"
    );
    assert!(!md.contains("throughput**"), "{md}");
    assert!(!md.contains("maximum"), "{md}");
    assert!(summary(Path::new("/nonexistent/ringscan-perf")).is_err());
}
