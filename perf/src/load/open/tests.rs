use std::time::{Duration, Instant};

use super::*;
use crate::load::objects::ExpectSpec;
use crate::load::test_server::{self, Answer};

fn plan(rate: f64, warmup_ms: u64, duration_ms: u64, connections: u32) -> Plan {
    Plan {
        rate,
        warmup: Duration::from_millis(warmup_ms),
        duration: Duration::from_millis(duration_ms),
        drain: Duration::from_secs(2),
        connections,
    }
}

#[test]
fn schedule_times_and_counts() {
    let t0 = Instant::now();
    let s = Schedule::new(t0, &plan(100.0, 1000, 2000, 1));
    assert_eq!((s.warm(), s.total(), s.in_window()), (100, 300, 200));
    assert_eq!(s.at(0), t0);
    assert_eq!(s.at(150) - t0, Duration::from_millis(1500));
    // A rate that does not divide the times: every i with i/rate < t, no more.
    let s = Schedule::new(t0, &plan(3.0, 1000, 1000, 1));
    assert_eq!((s.warm(), s.total()), (3, 6));
    let s = Schedule::new(t0, &plan(2.5, 0, 1000, 1));
    assert_eq!((s.warm(), s.total()), (0, 3));
}

fn args(target: &str) -> (ClientArgs, ObjectArgs) {
    let client = ClientArgs {
        target: target.parse().unwrap(),
        timeout: Duration::from_secs(5),
        chunk: 65536,
        session: false,
    };
    let objects = ObjectArgs {
        corpus: None,
        size: Some(1024),
        eicar_share: 0.0,
        count: Some(20),
        seed: 1,
        expect: ExpectSpec::Auto,
        hash_hits: None,
    };
    (client, objects)
}

/// One request in the middle stalls 200 ms on a single connection: the requests queued
/// behind it are late by up to 200 ms, and since latency runs from the intended send
/// time, the tail shows it; the schedule does not slow down, so the achieved rate stays
/// at the offered one. (A closed loop would have seen one slow request among hundreds.)
#[test]
fn a_stall_shows_in_the_tail_not_in_the_rate() {
    const STALL_AT: u64 = 150;
    let srv = test_server::spawn(|n, head, body| {
        assert!(head.contains("X-KAV-ProtocolVersion: 1"), "{head}");
        assert_eq!(body.len(), 1024);
        if n == STALL_AT {
            std::thread::sleep(Duration::from_millis(200));
        }
        Answer::ok("CLEAN")
    });
    let (client, objects) = args(&format!("kav1+tcp:{}", srv.addr));
    let objects = source::load(&objects, &client).unwrap();
    let prepared = Prepared::new(&client.target, &objects.objects);
    let p = plan(200.0, 0, 2000, 1);
    let mut started = None;
    let out = run(&p, &client, &objects, &prepared, |t| started = Some(t));
    assert!(started.is_some());
    let rec = &out.rec;
    assert_eq!(rec.error_count(), 0, "{:?}", rec.examples);
    assert_eq!((rec.ok, out.sent, out.unsent), (400, 400, 0));
    assert_eq!(rec.connects, 1, "one keep-alive connection");
    let l = Latency::of(&rec.hist);
    // About 40 requests (10 %) queue behind the stall, late by 200, 195, ... ms.
    assert!(l.p99 >= 100.0, "{l:?}");
    assert!(l.max >= 180.0, "{l:?}");
    assert!(l.p50 < 20.0, "{l:?}");
    let late = rec.hist.count_between(50_000, u64::MAX);
    assert!((25..=45).contains(&late), "{late} requests over 50 ms");
    // The service time saw one slow request only.
    let svc = out.service.count_between(50_000, u64::MAX);
    assert!(svc <= 2, "{svc} slow service times");
    let achieved = rec.ok as f64 / out.span(&p).as_secs_f64();
    assert!(
        (achieved - 200.0).abs() / 200.0 < 0.05,
        "achieved {achieved:.1} req/s"
    );
}

/// Errors are counted by kind and are not samples; a server too slow for the schedule
/// leaves requests unsent once the drain runs out.
#[test]
fn errors_and_unsent() {
    let srv = test_server::spawn(|n, _, _| {
        if n % 2 == 0 {
            Answer::ok("DETECT Surprise")
        } else {
            let mut a = Answer::ok("");
            a.bytes = b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy".to_vec();
            a
        }
    });
    let (client, objects) = args(&format!("kav1+tcp:{}", srv.addr));
    let objects = source::load(&objects, &client).unwrap();
    let prepared = Prepared::new(&client.target, &objects.objects);
    let out = run(
        &plan(100.0, 0, 200, 2),
        &client,
        &objects,
        &prepared,
        |_| {},
    );
    let rec = &out.rec;
    assert_eq!(rec.ok, 0);
    assert_eq!(rec.errors.get(&ErrorKind::WrongVerdict), Some(&10));
    assert_eq!(rec.errors.get(&ErrorKind::HttpStatus), Some(&10));
    assert!(rec.hist.is_empty());

    let srv = test_server::spawn(|_, _, _| {
        std::thread::sleep(Duration::from_millis(100));
        Answer::ok("CLEAN")
    });
    let (client, objects) = args(&format!("kav1+tcp:{}", srv.addr));
    let objects = source::load(&objects, &client).unwrap();
    let prepared = Prepared::new(&client.target, &objects.objects);
    let mut p = plan(100.0, 0, 300, 1);
    p.drain = Duration::from_millis(100);
    let out = run(&p, &client, &objects, &prepared, |_| {});
    // 30 due; one 100 ms answer at a time for the 400 ms the schedule and drain allow.
    assert_eq!(out.schedule.in_window(), 30);
    assert!(out.unsent >= 20, "{} unsent", out.unsent);
    assert_eq!(out.sent + out.unsent, 30);
    let achieved = out.rec.ok as f64 / out.span(&p).as_secs_f64();
    assert!(achieved < 15.0, "achieved {achieved:.1} req/s");
}
