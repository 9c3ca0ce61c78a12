//! [`LargeScan`] against [`Scanner::scan`]: stepped to the end in small windows, it
//! must find exactly the same signatures in the same order, whatever the window size,
//! with bodies, gaps, counts and offsets straddling window boundaries.

use md5::Digest;

use super::*;
use crate::engine::DbBuilder;

/// Builds an engine from `(file name, contents)` pairs.
fn engine(files: &[(&str, &str)]) -> Engine {
    let mut b = DbBuilder::new();
    for (name, text) in files {
        b.add_file(name, text.as_bytes().to_vec(), false).unwrap();
    }
    b.build(None).unwrap().0
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn md5_hex(data: &[u8]) -> String {
    md5::Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// xorshift64*: deterministic pseudo-random data per seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Content signatures of every kind the windows must not break.
fn ndb() -> String {
    [
        format!("Lit:0:*:{}", hex("needlexyz")),
        "Wild:0:*:6e6565??646c65".to_string(),
        format!("Star:0:*:{}*{}", hex("HEAD"), hex("TAIL")),
        format!("Range:0:*:{}{{10-40}}{}", hex("gap"), hex("end")),
        format!("Alt:0:*:{}(6161|6262){}", hex("al"), hex("tx")),
        "Window:0:*:6161??6262??6363??6464??6565??6666??6767??6868".to_string(),
        format!("Start:0:0:{}", hex("MAGIC")),
        format!("Tail:0:EOF-20:{}", hex("TRAILER")),
        format!("Text:0:*:{}", hex("hello world")),
        format!("Seven:7:*:{}", hex("script kiddie")),
    ]
    .join("\n")
}

/// Logical signatures with counts (which double reporting would break), a
/// conjunction, and one that holds with no match at all.
fn ldb() -> String {
    [
        format!("More2;Target:0;0>2;{}", hex("alpha")),
        format!("Both;Target:0;0&1;{};{}", hex("bravo"), hex("charlie")),
        format!("Neither;Target:0;(0|1)=0;{};{}", hex("delta"), hex("echo")),
        format!("Exactly3;Target:0;0=3;{}", hex("foxtrot")),
        format!(
            "Distinct;Target:0;(0|1|2)>3,2;{};{};{}",
            hex("golf"),
            hex("hotel"),
            hex("india")
        ),
    ]
    .join("\n")
}

/// Instances of the bodies above (and near misses) to plant in the data.
fn instance(rng: &mut Rng) -> Vec<u8> {
    let junk = |rng: &mut Rng, n: usize| -> Vec<u8> {
        (0..n).map(|_| b'.' + (rng.below(20) as u8)).collect()
    };
    match rng.below(22) {
        0 => b"needlexyz".to_vec(),
        1 => b"nee!dle".to_vec(),
        2 => b"HEAD".to_vec(),
        3 => b"TAIL".to_vec(),
        4 => {
            let n = 5 + rng.below(45);
            [b"gap".to_vec(), junk(rng, n), b"end".to_vec()].concat()
        }
        5 => b"alaatx".to_vec(),
        6 => b"albbtx".to_vec(),
        7 => {
            let mut w = b"aa.bb.cc.dd.ee.ff.gg.hh".to_vec();
            for i in (2..w.len()).step_by(3) {
                w[i] = rng.next() as u8;
            }
            w
        }
        8 | 9 => b"alpha".to_vec(),
        10 => b"bravo".to_vec(),
        11 => b"charlie".to_vec(),
        12 => b"delta".to_vec(),
        13 => b"echo".to_vec(),
        14..=16 => b"foxtrot".to_vec(),
        17 => b"golf".to_vec(),
        18 => b"hotel".to_vec(),
        19 => b"india".to_vec(),
        20 => b"HELLO  \t WORLD".to_vec(),
        _ => b"Script   Kiddie".to_vec(),
    }
}

/// A few KB of random bytes (or text) with bodies planted across the boundaries of
/// windows of `window` bytes, and sometimes at the start and `EOF-20`.
fn object(seed: u64, window: usize, text: bool) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let len = 1000 + rng.below(4000);
    let mut data: Vec<u8> = (0..len)
        .map(|_| {
            if text {
                b"abcdefghijklmnopqrstuvwxyz  \n"[rng.below(29)]
            } else {
                rng.next() as u8
            }
        })
        .collect();
    let plants = 3 + rng.below(25);
    for _ in 0..plants {
        let body = instance(&mut rng);
        // Across a window boundary as often as not, anywhere otherwise.
        let at = if rng.below(3) > 0 {
            let boundary = window * (1 + rng.below((len / window).max(1)));
            boundary.saturating_sub(rng.below(body.len() + 1))
        } else {
            rng.below(len)
        };
        let at = at.min(len - body.len());
        data[at..at + body.len()].copy_from_slice(&body);
    }
    if rng.below(4) == 0 {
        data[..5].copy_from_slice(b"MAGIC");
    }
    if rng.below(4) == 0 {
        data[len - 20..len - 13].copy_from_slice(b"TRAILER");
    }
    data
}

fn opts(all_matches: bool) -> ScanOptions {
    ScanOptions {
        all_matches,
        ..ScanOptions::default()
    }
}

/// Steps a [`LargeScan`] to the end; its ids, error and the number of steps.
fn stepped(
    scanner: &mut Scanner,
    engine: &Engine,
    data: &[u8],
    opts: ScanOptions,
    window: usize,
) -> (Vec<SigId>, Option<&'static str>, usize) {
    let mut large = LargeScan::new(engine, data.len(), opts).with_window(window);
    let mut steps = 1;
    while !large.step(scanner, engine, data) {
        steps += 1;
        assert!(steps < 10 * data.len() + 10, "a large scan that never ends");
    }
    assert!(large.is_done());
    assert!(large.step(scanner, engine, data), "done stays done");
    let report = large.report(engine);
    (report.ids().to_vec(), report.error(), steps)
}

fn one_scan(scanner: &mut Scanner, engine: &Engine, data: &[u8], opts: ScanOptions) -> Vec<SigId> {
    let report = scanner.scan(engine, data, opts);
    assert_eq!(report.error(), None);
    report.ids().to_vec()
}

fn names(engine: &Engine, ids: &[SigId]) -> Vec<String> {
    ids.iter().map(|&id| engine.name(id).to_string()).collect()
}

#[test]
fn windows_find_exactly_what_one_scan_finds() {
    let e = engine(&[("t.ndb", &ndb()), ("t.ldb", &ldb())]);
    let mut scanner = Scanner::new();
    let mut detected = 0;
    let mut seen = std::collections::HashSet::new();
    for seed in 0..60u64 {
        for &window in &[1usize, 23, 24, 64, 100, 257] {
            for text in [false, true] {
                let data = object(seed * 7 + window as u64, window, text);
                for all in [true, false] {
                    let want = one_scan(&mut scanner, &e, &data, opts(all));
                    let (got, error, _) = stepped(&mut scanner, &e, &data, opts(all), window);
                    assert_eq!(error, None);
                    assert_eq!(
                        names(&e, &got),
                        names(&e, &want),
                        "seed {seed}, window {window}, text {text}, all {all}"
                    );
                    detected += usize::from(!want.is_empty());
                    seen.extend(names(&e, &want));
                }
            }
        }
    }
    // The data really exercised the signatures.
    assert!(detected > 500, "only {detected} objects detected");
    for name in [
        "Lit", "Wild", "Star", "Range", "Alt", "Window", "Start", "Tail", "Text", "Seven", "More2",
        "Both", "Neither", "Exactly3", "Distinct",
    ] {
        assert!(
            seen.contains(&format!("{name}.UNOFFICIAL")),
            "{name} never matched: {seen:?}"
        );
    }
}

#[test]
fn counts_across_boundaries_are_not_doubled() {
    // Three "foxtrot"s, each straddling a boundary of 64-byte windows: `0=3` holds,
    // and would not if a hit in the overlap were counted twice.
    let e = engine(&[("t.ldb", &ldb())]);
    let mut data = vec![b'.'; 64 * 8];
    for k in 1..=3 {
        let at = 64 * k * 2 - 3;
        data[at..at + 7].copy_from_slice(b"foxtrot");
    }
    let mut scanner = Scanner::new();
    for window in [1, 20, 64, 65, 1000] {
        let (got, _, _) = stepped(&mut scanner, &e, &data, opts(true), window);
        assert_eq!(
            names(&e, &got),
            vec!["Exactly3.UNOFFICIAL", "Neither.UNOFFICIAL"],
            "window {window}"
        );
        assert_eq!(got, one_scan(&mut scanner, &e, &data, opts(true)));
    }
}

#[test]
fn hash_and_allow_lists_apply_after_the_windows() {
    let data = object(42, 64, false);
    let md5 = md5_hex(&data);
    let hdb = format!("{md5}:{}:Hash", data.len());
    let fp = format!("{md5}:{}:Allowed", data.len());
    let mut scanner = Scanner::new();
    for files in [
        vec![("t.hdb", hdb.as_str())],
        vec![
            ("t.hdb", hdb.as_str()),
            ("t.ndb", &ndb()),
            ("t.ldb", &ldb()),
        ],
        vec![
            ("t.hdb", hdb.as_str()),
            ("t.ndb", &ndb()),
            ("t.fp", fp.as_str()),
        ],
    ] {
        let e = engine(&files);
        for all in [true, false] {
            for window in [1, 64, 100] {
                let want = one_scan(&mut scanner, &e, &data, opts(all));
                let (got, _, _) = stepped(&mut scanner, &e, &data, opts(all), window);
                assert_eq!(names(&e, &got), names(&e, &want), "{files:?} all {all}");
            }
        }
    }
    let e = engine(&[("t.hdb", &hdb)]);
    let (got, _, _) = stepped(&mut scanner, &e, &data, opts(true), 64);
    assert_eq!(names(&e, &got), vec!["Hash.UNOFFICIAL"]);
    let e = engine(&[("t.hdb", &hdb), ("t.fp", &fp)]);
    let (got, _, _) = stepped(&mut scanner, &e, &data, opts(true), 64);
    assert!(got.is_empty());
}

#[test]
fn the_scanner_scans_other_objects_between_steps() {
    let e = engine(&[("t.ndb", &ndb()), ("t.ldb", &ldb())]);
    // Another engine too: the scratch is regrown for it and back.
    let other_engine = engine(&[("o.ndb", &format!("Other:0:*:{}", hex("alpha")))]);
    let mut scanner = Scanner::new();
    for seed in 0..20u64 {
        for text in [false, true] {
            let data = object(seed, 100, text);
            let others = [
                object(seed + 1000, 64, !text),
                object(seed + 2000, 100, text),
            ];
            for all in [true, false] {
                let want = one_scan(&mut scanner, &e, &data, opts(all));
                let other_want: Vec<_> = others
                    .iter()
                    .map(|o| one_scan(&mut scanner, &e, o, opts(all)))
                    .collect();
                let mut large = LargeScan::new(&e, data.len(), opts(all)).with_window(100);
                let mut i = 0;
                while !large.step(&mut scanner, &e, &data) {
                    let o = &others[i % 2];
                    assert_eq!(one_scan(&mut scanner, &e, o, opts(all)), other_want[i % 2]);
                    if i % 3 == 0 {
                        let r = scanner.scan(&other_engine, o, opts(true));
                        assert_eq!(r.error(), None);
                    }
                    i += 1;
                }
                assert_eq!(large.report(&e).error(), None);
                assert_eq!(
                    names(&e, large.report(&e).ids()),
                    names(&e, &want),
                    "seed {seed}, text {text}, all {all}"
                );
            }
        }
    }
}

#[test]
fn two_large_scans_interleaved_on_one_scanner() {
    let e = engine(&[("t.ndb", &ndb()), ("t.ldb", &ldb())]);
    let mut scanner = Scanner::new();
    for seed in 0..20u64 {
        let a = object(seed, 64, false);
        let b = object(seed + 500, 100, true);
        let want_a = one_scan(&mut scanner, &e, &a, opts(true));
        let want_b = one_scan(&mut scanner, &e, &b, opts(true));
        let mut la = LargeScan::new(&e, a.len(), opts(true)).with_window(64);
        let mut lb = LargeScan::new(&e, b.len(), opts(true)).with_window(100);
        let (mut da, mut db) = (false, false);
        while !(da && db) {
            da = da || la.step(&mut scanner, &e, &a);
            db = db || lb.step(&mut scanner, &e, &b);
        }
        assert_eq!(la.report(&e).ids(), &want_a[..], "seed {seed}");
        assert_eq!(lb.report(&e).ids(), &want_b[..], "seed {seed}");
    }
}

#[test]
fn a_200_window_object_takes_200_steps() {
    let e = engine(&[("t.ndb", &ndb()), ("t.ldb", &ldb())]);
    let mut scanner = Scanner::new();
    let mut data = vec![0u8; 200 * 64];
    // A detection in the last window only, and a count that needs all of them.
    data[200 * 64 - 30..200 * 64 - 21].copy_from_slice(b"needlexyz");
    let (got, error, steps) = stepped(&mut scanner, &e, &data, opts(false), 64);
    assert_eq!(error, None);
    assert!(steps >= 200, "{steps} steps");
    assert_eq!(names(&e, &got), vec!["Lit.UNOFFICIAL"]);
    // The default window: one step for a small object.
    let mut large = LargeScan::new(&e, data.len(), opts(false));
    assert!(large.step(&mut scanner, &e, &data));
}

#[test]
fn first_match_ends_the_content_pass() {
    let e = engine(&[("t.ndb", &ndb())]);
    let mut scanner = Scanner::new();
    let mut data = vec![0u8; 200 * 64];
    data[10..19].copy_from_slice(b"needlexyz");
    let (got, _, steps) = stepped(&mut scanner, &e, &data, opts(false), 64);
    assert_eq!(names(&e, &got), vec!["Lit.UNOFFICIAL"]);
    assert_eq!(steps, 1);
    let (_, _, steps) = stepped(&mut scanner, &e, &data, opts(true), 64);
    assert!(steps >= 200);
}

#[test]
fn a_changed_object_or_engine_is_an_error() {
    let e = engine(&[("t.ndb", &ndb())]);
    let mut scanner = Scanner::new();
    let data = vec![0u8; 1000];
    let mut large = LargeScan::new(&e, data.len(), opts(true)).with_window(64);
    assert!(!large.step(&mut scanner, &e, &data));
    assert!(large.step(&mut scanner, &e, &data[..999]));
    assert_eq!(
        large.report(&e).error(),
        Some("object changed during the scan")
    );
    let other = engine(&[("t.ndb", &ndb())]);
    let mut large = LargeScan::new(&e, data.len(), opts(true)).with_window(64);
    assert!(large.step(&mut scanner, &other, &data));
    assert_eq!(
        large.report(&e).error(),
        Some("engine changed during the scan")
    );
}

#[test]
fn empty_and_tiny_objects() {
    let e = engine(&[("t.ndb", &ndb()), ("t.ldb", &ldb())]);
    let mut scanner = Scanner::new();
    for data in [&b""[..], b"x", b"alpha", b"MAGIC", b"needlexyz"] {
        for all in [true, false] {
            let want = one_scan(&mut scanner, &e, data, opts(all));
            let (got, _, _) = stepped(&mut scanner, &e, data, opts(all), 1);
            assert_eq!(got, want, "{data:?}");
        }
    }
}
