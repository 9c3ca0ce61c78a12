use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::load::test_server::{self, Answer};

/// What the test server spends on a request when it should be steady: one connection
/// then saturates near 1 / 4 ms = 250 req/s (less the round trip).
const SERVICE: Duration = Duration::from_millis(4);

/// Service times of 1 ms or 10 ms (a third of them, picked by a hash of the request
/// number), 4 ms on average. Near saturation, runs of long ones build a queue that the
/// short ones drain slowly, so waiting shows; at a quarter of the rate, requests 16 ms
/// apart never wait. (With a constant 4 ms, a rate equal to the capacity queues only on
/// the machine's noise, and the test would measure that.)
fn varied(n: u64) -> Duration {
    // SplitMix64's finaliser: consecutive numbers, independent-looking picks.
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    Duration::from_millis(if z.is_multiple_of(3) { 10 } else { 1 })
}

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringscan-perf-sweep-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Sweep arguments against `kav1+tcp:addr`: 1 KiB synthetic clean objects, short runs.
fn args(addr: std::net::SocketAddr, loads: &[f64], out: &Path) -> Args {
    Args {
        client: test_server::client_args(&format!("kav1+tcp:{addr}")),
        objects: test_server::small_clean_objects(),
        connections: 1,
        loads: loads.to_vec(),
        max_duration: Duration::from_secs(1),
        max_warmup: Duration::from_millis(200),
        max_rate: None,
        duration: Duration::from_secs(1),
        warmup: Duration::from_millis(200),
        drain: Duration::from_secs(2),
        server_pid: None,
        label: "t".into(),
        out: out.to_path_buf(),
        quiet: true,
    }
}

fn near(a: f64, b: f64, share: f64) -> bool {
    (a - b).abs() <= b * share
}

/// A server that takes 4 ms per request on average on one connection: the closed loop
/// finds about 250 req/s; the points are offered their shares of what it found; at
/// light loads they get all of it, and at 100 % requests queue, so the tail grows.
/// Every file is written.
#[test]
fn sweep_finds_the_maximum_and_queueing_shows_at_full_load() {
    let srv = test_server::spawn(|n, _, _| {
        std::thread::sleep(varied(n));
        Answer::ok("CLEAN")
    });
    let out = out_dir("full");
    let a = args(srv.addr, &[25.0, 50.0, 100.0], &out);
    let objects = source::load(&a.objects, &a.client).unwrap();
    let r = sweep(&a, &objects).unwrap();
    // Shown when an assertion fails.
    println!("{}", markdown(&r));

    assert!(r.max.measured);
    assert!(
        (150.0..=300.0).contains(&r.max.rate),
        "maximum {} req/s for 4 ms per request",
        r.max.rate
    );
    assert_eq!(r.max.errors, 0, "{:?}", r.max.error_examples);
    assert_eq!(r.points.len(), 3);
    for (p, load) in r.points.iter().zip([25.0, 50.0, 100.0]) {
        assert_eq!(p.load_pct, load);
        assert!(
            near(p.offered_rate, r.max.rate * load / 100.0, 1e-9),
            "{load} %: offered {} of {}",
            p.offered_rate,
            r.max.rate
        );
        assert_eq!(
            (p.errors, p.timeouts),
            (0, 0),
            "{load} %: {:?}",
            p.errors_by_kind
        );
        assert!(p.latency_ms.count > 0);
    }
    for p in &r.points[..2] {
        assert!(
            near(p.achieved_rate, p.offered_rate, 0.05),
            "{} %: achieved {} of {} offered",
            p.load_pct,
            p.achieved_rate,
            p.offered_rate
        );
        assert_eq!(p.unsent, 0);
    }
    // Every answer takes 1 ms at least, and the latency holds it.
    assert!(
        r.points[0].latency_ms.min >= 0.99,
        "{:?}",
        r.points[0].latency_ms
    );
    let (light, full) = (&r.points[0].latency_ms, &r.points[2].latency_ms);
    assert!(
        full.p99 > light.p99,
        "p99 at 100 %: {} ms, at 25 %: {} ms",
        full.p99,
        light.p99
    );

    for f in [
        "max.json",
        "25.json",
        "50.json",
        "100.json",
        "sweep.json",
        "sweep.md",
        "sweep.svg",
    ] {
        assert!(out.join(format!("t-{f}")).is_file(), "t-{f} missing");
    }
    let back: SweepReport =
        crate::load::util::read_json(&file(&out, "t", "sweep", "json")).unwrap();
    assert_eq!(back.points.len(), 3);
    assert_eq!(back.max.rate, r.max.rate);
    let point: OpenReport = crate::load::util::read_json(&file(&out, "t", "50", "json")).unwrap();
    assert_eq!(point.offered_rate, r.points[1].offered_rate);
    let md = std::fs::read_to_string(file(&out, "t", "sweep", "md")).unwrap();
    assert_eq!(md, markdown(&r));
    let svg = std::fs::read_to_string(file(&out, "t", "sweep", "svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("t p50"));
    let _ = std::fs::remove_dir_all(&out);
}

/// Wrong verdicts in the closed loop do not stop the sweep: the maximum comes from the
/// right answers, and the errors stand beside it in the JSON and the table.
#[test]
fn errors_while_finding_the_maximum_are_reported_not_fatal() {
    let srv = test_server::spawn(|n, _, _| {
        std::thread::sleep(SERVICE);
        // Three wrong verdicts early in the closed loop (requests 0-49 are its warm-up
        // and first window requests), none after.
        if matches!(n, 10 | 60 | 61) {
            Answer::ok("DETECT Fake.Virus")
        } else {
            Answer::ok("CLEAN")
        }
    });
    let out = out_dir("errors");
    let mut a = args(srv.addr, &[50.0], &out);
    a.max_duration = Duration::from_millis(600);
    a.duration = Duration::from_millis(500);
    let objects = source::load(&a.objects, &a.client).unwrap();
    let r = sweep(&a, &objects).unwrap();
    assert_eq!(r.max.errors, 3, "{:?}", r.max.error_examples);
    assert_eq!(r.max.errors_by_kind.get("wrong-verdict"), Some(&3));
    assert!(r.max.rate > 0.0);
    assert_eq!(r.points.len(), 1);
    assert_eq!(r.points[0].errors, 0);
    let md = markdown(&r);
    assert!(md.contains("errors 3 (**wrong-verdict 3**)"), "{md}");
    let json = std::fs::read_to_string(file(&out, "t", "sweep", "json")).unwrap();
    assert!(json.contains("\"wrong-verdict\": 3"), "{json}");
    let _ = std::fs::remove_dir_all(&out);
}

/// `--max-rate` skips the closed loop: no `-max.json`, no request before the points,
/// and the offered rates are shares of the given rate.
#[test]
fn a_given_maximum_is_not_measured() {
    let requests = Arc::new(AtomicU64::new(0));
    let seen = requests.clone();
    let srv = test_server::spawn(move |_, _, _| {
        seen.fetch_add(1, Ordering::SeqCst);
        Answer::ok("CLEAN")
    });
    let out = out_dir("given");
    let mut a = args(srv.addr, &[20.0, 40.0], &out);
    a.max_rate = Some(200.0);
    a.duration = Duration::from_millis(500);
    a.warmup = Duration::ZERO;
    let objects = source::load(&a.objects, &a.client).unwrap();
    let r = sweep(&a, &objects).unwrap();
    assert!(!r.max.measured);
    assert_eq!(r.max.rate, 200.0);
    assert!(!file(&out, "t", "max", "json").exists());
    let offered: Vec<f64> = r.points.iter().map(|p| p.offered_rate).collect();
    assert_eq!(offered, [40.0, 80.0]);
    // Only the points' requests reached the server: 0.5 s at 40 and at 80 req/s.
    assert_eq!(requests.load(Ordering::SeqCst), 20 + 40);
    assert!(markdown(&r).contains("given with --max-rate"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn loads_and_labels() {
    assert_eq!(parse_load("25").unwrap(), 25.0);
    assert_eq!(parse_load("12.5%").unwrap(), 12.5);
    assert_eq!(parse_load("200").unwrap(), 200.0);
    for bad in ["0", "-5", "200.5", "x", "NaN"] {
        assert!(parse_load(bad).is_err(), "{bad}");
    }
    assert_eq!(load_name(12.5), "12.5");
    assert_eq!(load_name(100.0), "100");
    let srv = test_server::spawn(|_, _, _| Answer::ok("CLEAN"));
    let out = out_dir("check");
    let mut a = args(srv.addr, &[25.0, 50.0, 25.0], &out);
    assert!(check(&a).unwrap_err().contains("twice"));
    a.loads = vec![25.0];
    a.label = "../x".into();
    assert!(check(&a).is_err());
    a.label = "clamd-4k".into();
    assert!(check(&a).is_ok());
    // A point's open loop: its share of the maximum, and its interval log beside it.
    let o = open_args(&a, 50.0, 300.0);
    assert_eq!(o.rate, 150.0);
    assert_eq!(
        o.hlog.as_deref(),
        Some(out.join("clamd-4k-50.hlog").as_path())
    );
    assert_eq!(closed_args(&a).concurrency, a.connections);
}

/// The table: a row per point in run order, the load's figures in it, notes for what
/// the columns cannot hold.
#[test]
fn markdown_rows() {
    let point = |load: f64, p99: f64, unsent: u64| SweepPoint {
        load_pct: load,
        offered_rate: 10.0 * load,
        achieved_rate: 9.5 * load,
        latency_ms: Latency {
            count: 10,
            p50: 1.0,
            p99,
            ..Latency::default()
        },
        unsent,
        ..SweepPoint::default()
    };
    let r = SweepReport {
        label: "x".into(),
        max: SweepMax {
            measured: true,
            rate: 1000.0,
            ..SweepMax::default()
        },
        points: vec![
            point(90.0, 7.25, 0),
            point(25.0, 1.5, 0),
            point(150.0, 300.0, 42),
        ],
        ..SweepReport::default()
    };
    let md = markdown(&r);
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(" % |"))
        .collect();
    assert_eq!(rows.len(), 3, "{md}");
    assert!(
        rows[0].starts_with("| 90 % | 900.0 | 855.0 |"),
        "{}",
        rows[0]
    );
    assert!(rows[0].contains("| 7.25 |"), "{}", rows[0]);
    assert!(rows[1].starts_with("| 25 % |"));
    assert!(md.contains("- 150 %: 42 not sent"), "{md}");
    assert!(md.contains("**1000.0 req/s**"));
}
