use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;

use super::*;
use crate::load::test_server::{self, Answer, TestServer};
use crate::load::util::read_json;

/// Arrival times at both servers, tagged with the side.
type Arrivals = Arc<Mutex<Vec<(Instant, Side)>>>;

/// A KAV v1 test server that takes `service` per request and logs each arrival.
fn server(service: Duration, side: Side, log: &Arrivals) -> TestServer {
    let log = log.clone();
    test_server::spawn(move |_, _, _| {
        log.lock().unwrap().push((Instant::now(), side));
        std::thread::sleep(service);
        Answer::ok("CLEAN")
    })
}

fn args(a: &TestServer, b: &TestServer, mode: Mode) -> Args {
    Args {
        a: format!("kav1+tcp:{}", a.addr).parse().unwrap(),
        b: format!("kav1+tcp:{}", b.addr).parse().unwrap(),
        a_label: "fast".into(),
        b_label: "slow".into(),
        objects: test_server::small_clean_objects(),
        timeout: Duration::from_secs(5),
        chunk: 65536,
        session: false,
        pairs: 2,
        mode,
        concurrency: 1,
        rate: None,
        connections: 2,
        drain: Duration::from_secs(2),
        duration: Duration::from_millis(600),
        warmup: Duration::from_millis(200),
        a_pid: None,
        b_pid: None,
        json: None,
        out: None,
        quiet: true,
    }
}

/// The order in which the servers saw requests, runs of one side collapsed: "ABAB"
/// when the runs alternated and never overlapped.
fn order(log: &Arrivals) -> String {
    let mut v = log.lock().unwrap().clone();
    v.sort_by_key(|(t, _)| *t);
    let mut s = String::new();
    for (_, side) in v {
        let c = match side {
            Side::A => 'A',
            Side::B => 'B',
        };
        if !s.ends_with(c) {
            s.push(c);
        }
    }
    s
}

fn in_range(x: Option<f64>, lo: f64, hi: f64) -> bool {
    x.is_some_and(|x| (lo..=hi).contains(&x))
}

/// Closed loop, one client: A answers in 2 ms, B in 4 ms, so B serves about half as
/// many requests (B/A 0.5; the client's own time per request, the same on both, pushes
/// it a little towards 1) and its p50 is about twice A's. The servers' own logs show
/// the runs went A, B, A, B without overlap, and the report lists them in that order.
#[test]
fn closed_pairs_alternate_and_ratios_follow_the_service_time() {
    let log = Arrivals::default();
    let a = server(Duration::from_millis(2), Side::A, &log);
    let b = server(Duration::from_millis(4), Side::B, &log);
    let mut args = args(&a, &b, Mode::Closed);
    let dir = std::env::temp_dir().join(format!("ringscan-compare-{}", std::process::id()));
    args.out = Some(dir.clone());
    args.json = Some(dir.join("compare.json"));
    let (objects, own_b) = load(&args).unwrap();
    assert!(own_b.is_none(), "synthetic objects are shared");
    let r = drive(&args, &objects, &objects).unwrap();
    eprint!("{}", text(&r));

    let seen: Vec<(u32, Side, &str)> = r
        .runs
        .iter()
        .map(|x| (x.pair, x.side, x.label.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (1, Side::A, "fast"),
            (1, Side::B, "slow"),
            (2, Side::A, "fast"),
            (2, Side::B, "slow")
        ]
    );
    assert_eq!(order(&log), "ABAB");
    assert!(r.runs.iter().all(|x| x.errors == 0 && x.requests > 50));

    assert_eq!(r.pairs.len(), 2);
    for p in &r.pairs {
        assert!(!p.suspect);
        assert!(in_range(p.throughput, 0.35, 0.7), "{p:?}");
        assert!(in_range(p.p50, 1.5, 2.6), "{p:?}");
    }
    let s = &r.summary;
    assert!(in_range(s.throughput.as_ref().map(|x| x.median), 0.35, 0.7));
    assert!(in_range(s.throughput_geomean, 0.35, 0.7), "{s:?}");
    assert_eq!(s.suspect_pairs, 0);

    // The table: a row per pair and the summary; the Markdown the same.
    let t = text(&r);
    assert_eq!(t.lines().count(), 5, "{t}");
    assert!(t.contains("slow/fast over 2 pairs"), "{t}");
    assert!(!t.contains("warning"), "{t}");
    let md = markdown(&r);
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| ")).count(),
        3,
        "{md}"
    );

    // Every run's report, and the comparison, on disk (the JSON as main writes it).
    write_json(args.json.as_deref().unwrap(), &r).unwrap();
    for name in ["fast-1", "slow-1", "fast-2", "slow-2"] {
        let c: closed::ClosedReport = read_json(&dir.join(format!("{name}.json"))).unwrap();
        assert_eq!(c.label.as_deref(), Some(&name[..4]));
    }
    let back: CompareReport = read_json(&dir.join("compare.json")).unwrap();
    assert_eq!(back.runs.len(), 4);
    assert_eq!(back.pairs[1].throughput, r.pairs[1].throughput);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Open loop at 100 req/s, far below both servers' capacity (2 connections: 1000 and
/// 500 req/s): both achieve the offered rate, so the throughput ratio is 1, while the
/// latency shows B's slower answers.
#[test]
fn open_pairs_same_rate_different_latency() {
    let log = Arrivals::default();
    let a = server(Duration::from_millis(2), Side::A, &log);
    let b = server(Duration::from_millis(4), Side::B, &log);
    let mut args = args(&a, &b, Mode::Open);
    args.rate = Some(100.0);
    let (objects, _) = load(&args).unwrap();
    let r = drive(&args, &objects, &objects).unwrap();
    eprint!("{}", text(&r));
    assert_eq!(order(&log), "ABAB");
    assert_eq!(r.rate, Some(100.0));
    for x in &r.runs {
        // 100 req/s over 0.6 s.
        assert_eq!((x.requests, x.unsent, x.errors), (60, 0, 0), "{x:?}");
    }
    for p in &r.pairs {
        assert!(in_range(p.throughput, 0.95, 1.05), "{p:?}");
        assert!(p.p50.is_some_and(|x| x > 1.3), "{p:?}");
    }
}

fn run(pair: u32, side: Side, files_s: f64, p50: f64, errors: u64) -> Run {
    Run {
        pair,
        side,
        label: format!("{side:?}"),
        target: "kav1+tcp:h:1".into(),
        requests: 100,
        files_s,
        mb_s: 0.0,
        latency_ms: Latency {
            count: u64::from(p50 > 0.0),
            p50,
            p99: p50 * 2.0,
            ..Default::default()
        },
        errors,
        unsent: 0,
        started_unix: 0.0,
    }
}

/// Ratios are B/A, matched by pair; the median of an even count is the mean of the
/// middle two; the geometric mean treats 2x and 0.5x alike; a run with errors marks its
/// pair and the report warns; a zero throughput on A gives no ratio.
#[test]
fn ratios_and_their_summary() {
    let runs = vec![
        run(1, Side::A, 100.0, 1.0, 0),
        run(1, Side::B, 200.0, 4.0, 0),
        run(2, Side::A, 100.0, 2.0, 0),
        run(2, Side::B, 50.0, 1.0, 3),
        run(3, Side::B, 80.0, 1.0, 0),
        run(3, Side::A, 100.0, 1.0, 0),
        run(4, Side::A, 0.0, 1.0, 0),
        run(4, Side::B, 10.0, 3.0, 0),
        run(5, Side::A, 100.0, 1.0, 0),
        run(5, Side::B, 0.0, 0.0, 9),
    ];
    let p = pairs(&runs);
    let thr: Vec<Option<f64>> = p.iter().map(|x| x.throughput).collect();
    assert_eq!(thr, [Some(2.0), Some(0.5), Some(0.8), None, Some(0.0)]);
    assert_eq!(p[0].p50, Some(4.0));
    assert_eq!(p[1].p99, Some(0.5));
    let suspect: Vec<bool> = p.iter().map(|x| x.suspect).collect();
    assert_eq!(suspect, [false, true, false, false, true]);
    // B answered nothing in pair 5: no latency to compare.
    assert_eq!((p[4].p50, p[4].p99), (None, None));

    let s = summary(&p);
    let t = s.throughput.clone().unwrap();
    // 0, 0.5, 0.8, 2 (pair 4 has none): the middle two of four, (0.5 + 0.8) / 2.
    assert_eq!((t.n, t.min, t.max), (4, 0.0, 2.0));
    assert!((t.median - 0.65).abs() < 1e-12, "{t:?}");
    // A pair where B served nothing makes the geometric mean 0; without it,
    // (2 x 0.5 x 0.8)^(1/3).
    assert_eq!(s.throughput_geomean, Some(0.0));
    let first3 = summary(&p[..3]).throughput_geomean.unwrap();
    assert!((first3 - 0.8f64.cbrt()).abs() < 1e-12, "{first3}");
    // p50 ratios 4, 0.5, 1, 3: (1 + 3) / 2.
    assert_eq!(s.p50.as_ref().unwrap().median, 2.0);
    assert_eq!(s.suspect_pairs, 2);

    let report = CompareReport {
        a_label: "A".into(),
        b_label: "B".into(),
        a_target: "a".into(),
        b_target: "b".into(),
        mode: Mode::Closed,
        clients: 1,
        rate: None,
        duration_s: 1.0,
        warmup_s: 0.0,
        corpus: CorpusInfo::default(),
        runs,
        pairs: p,
        summary: s,
        started_unix: 0.0,
    };
    let t = text(&report);
    assert!(
        t.contains("warning: runs with errors: B pair 2 (3 errors)"),
        "{t}"
    );
    assert!(t.lines().any(|l| l.starts_with("2*")), "{t}");
    assert!(markdown(&report).contains("| 2 (suspect) |"));
}

/// The command line: defaults, and open mode refused without a rate.
#[test]
fn command_line() {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }
    let base = [
        "x",
        "--a",
        "kav1+tcp:h:1",
        "--b",
        "clamd+unix:/s",
        "--size",
        "4K",
    ];
    let cli = Cli::try_parse_from(base).unwrap();
    let a = cli.args;
    assert_eq!((a.pairs, a.mode, a.concurrency), (3, Mode::Closed, 4));
    assert_eq!((a.a_label.as_str(), a.b_label.as_str()), ("A", "B"));
    assert_eq!(a.b.protocol(), "clamd");
    assert_eq!(a.client(Side::B).target, a.b);
    assert_eq!(a.duration, Duration::from_secs(10));
    assert!(Cli::try_parse_from(base.iter().chain(&["--mode", "open"])).is_err());
    let cli = Cli::try_parse_from(base.iter().chain(&["--mode", "open", "--rate", "50"])).unwrap();
    assert_eq!(cli.args.rate, Some(50.0));
    let mut same = cli.args;
    same.b_label = "A".into();
    assert!(same.check().is_err());
}
