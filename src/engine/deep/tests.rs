//! The driver on nested compressed streams (the formats every build has), with a
//! one-signature database: detection at every depth, each limit, and what reaches the
//! parent.

use std::io::Write;
use std::time::{Duration, Instant};

use super::*;
use crate::engine::DbBuilder;

const MARK: &[u8] = b"ringscan-deep-test-marker";

fn engine() -> Engine {
    let mut b = DbBuilder::new();
    let hex: String = MARK.iter().map(|b| format!("{b:02x}")).collect();
    b.add_file("t.ndb", format!("Deep.Mark:0:*:{hex}").into_bytes(), false)
        .unwrap();
    b.build(None).unwrap().0
}

fn gzip(name: &str, data: &[u8]) -> Vec<u8> {
    let mut e = flate2::GzBuilder::new()
        .filename(name)
        .write(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// `levels` gzip layers around `inner`, named l1 (innermost) ... ln.
fn nested(levels: usize, inner: &[u8]) -> Vec<u8> {
    let mut data = inner.to_vec();
    for i in 1..=levels {
        data = gzip(&format!("l{i}"), &data);
    }
    data
}

fn run(data: &[u8], options: DeepOptions) -> Vec<(String, Overall<'static>, u32)> {
    let engine = Box::leak(Box::new(engine()));
    let mut scanner = Scanner::new();
    let report = DeepScan::new(engine, Blob::borrowed(data), options).run(&mut scanner);
    report
        .objects
        .iter()
        .map(|o| (o.path.clone(), o.overall(), o.depth))
        .collect()
}

fn whole_tree() -> DeepOptions {
    DeepOptions {
        whole_tree: true,
        ..DeepOptions::default()
    }
}

#[test]
fn finds_the_marker_at_every_depth_and_reports_it_up() {
    for levels in 0..5 {
        let got = run(&nested(levels, MARK), whole_tree());
        assert_eq!(got.len(), levels + 1, "{got:?}");
        assert!(
            got.iter()
                .all(|(_, o, _)| *o == Overall::Detected("Deep.Mark.UNOFFICIAL")),
            "{got:?}"
        );
        let deepest = &got[levels];
        assert_eq!(deepest.2 as usize, levels);
        let want: Vec<String> = (1..=levels).rev().map(|i| format!("l{i}")).collect();
        assert_eq!(deepest.0, want.join("//"));
    }
}

#[test]
fn clean_objects_are_clean_and_the_first_detection_ends_a_clamd_style_scan() {
    let got = run(&nested(2, b"harmless"), DeepOptions::default());
    assert!(got.iter().all(|(_, o, _)| *o == Overall::Clean), "{got:?}");
    // The marker in the outer layer's own bytes: stored gzip is not used, so put it
    // in a file name (gzip FNAME is raw bytes in the header).
    let outer = gzip("ringscan-deep-test-marker", &nested(3, b"x"));
    let got = run(&outer, DeepOptions::default());
    assert_eq!(got.len(), 1, "stops at the top: {got:?}");
    let got = run(&outer, whole_tree());
    assert_eq!(got.len(), 5, "goes on: {got:?}");
}

#[test]
fn nesting_past_max_recursion_is_not_opened() {
    let options = DeepOptions {
        limits: DeepLimits {
            max_recursion: 2,
            ..DeepLimits::default()
        },
        ..whole_tree()
    };
    // As clamd: with a limit of 2, depth 2 is not reached; the container at depth 1
    // is not opened.
    let got = run(&nested(4, MARK), options);
    assert_eq!(got.len(), 2, "depths 0, 1: {got:?}");
    assert_eq!(got[1].1, Overall::NotScanned(Skip::MaxDepth));
    assert_eq!(got[0].1, Overall::NotScanned(Skip::MaxDepth), "reported up");
}

#[test]
fn size_ratio_and_file_limits_skip_with_their_reason() {
    // A bomb in miniature: 8 MiB of zeros deflate about 1000:1.
    let mut e = flate2::GzBuilder::new()
        .filename("zeros")
        .write(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; 8 << 20]).unwrap();
    let zeros = e.finish().unwrap();
    let limit = |l: DeepLimits| DeepOptions {
        limits: l,
        ..whole_tree()
    };
    let got = run(&zeros, limit(DeepLimits::default()));
    assert_eq!(
        got[1].1,
        Overall::NotScanned(Skip::RatioExceeded),
        "{got:?}"
    );
    let got = run(
        &zeros,
        limit(DeepLimits {
            max_ratio: 0,
            max_file_size: 1 << 20,
            ..DeepLimits::default()
        }),
    );
    assert_eq!(got[1].1, Overall::NotScanned(Skip::TooLarge), "{got:?}");
    let got = run(
        &zeros,
        limit(DeepLimits {
            max_ratio: 0,
            max_scan_size: 2 << 20,
            ..DeepLimits::default()
        }),
    );
    assert_eq!(got[1].1, Overall::NotScanned(Skip::TooLarge), "{got:?}");
    let got = run(
        &nested(3, MARK),
        limit(DeepLimits {
            max_files: 3,
            ..DeepLimits::default()
        }),
    );
    assert_eq!(got.len(), 3, "the top and 2 members: {got:?}");
    assert_eq!(got[0].1, Overall::NotScanned(Skip::TooManyFiles));
}

#[test]
fn skipped_formats_and_damaged_streams() {
    let options = DeepOptions {
        limits: DeepLimits {
            skip_formats: vec![Format::Gzip],
            ..DeepLimits::default()
        },
        ..whole_tree()
    };
    let got = run(&nested(1, MARK), options);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, Overall::NotScanned(Skip::Unsupported));
    // A truncated stream: the prefix is scanned, and still found.
    let text = [&b"padding ".repeat(5000)[..], MARK, &b" tail".repeat(5000)].concat();
    let packed = gzip("t", &text);
    let cut = &packed[..packed.len() * 3 / 4];
    let got = run(cut, whole_tree());
    assert_eq!(
        got[1].1,
        Overall::Detected("Deep.Mark.UNOFFICIAL"),
        "{got:?}"
    );
    let got = run(&packed[..packed.len() / 10], whole_tree());
    assert!(
        got.iter()
            .any(|(_, o, _)| *o == Overall::NotScanned(Skip::Corrupted)),
        "{got:?}"
    );
}

#[test]
fn a_past_deadline_stops_the_walk() {
    let options = DeepOptions {
        limits: DeepLimits {
            deadline: Some(Instant::now() - Duration::from_millis(1)),
            ..DeepLimits::default()
        },
        ..whole_tree()
    };
    let engine = engine();
    let mut scanner = Scanner::new();
    let data = nested(3, MARK);
    let report = DeepScan::new(&engine, Blob::borrowed(&data), options).run(&mut scanner);
    assert!(report.timed_out);
    assert_eq!(report.top().overall(), Overall::NotScanned(Skip::Timeout));
}

#[test]
fn steps_are_small() {
    // 16 MiB of varied bytes in a gzip: decoded a chunk per step, not at once.
    let data: Vec<u8> = (0..16u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let packed = gzip("big", &data);
    let engine = engine();
    let mut scanner = Scanner::new();
    let mut scan = DeepScan::new(&engine, Blob::borrowed(&packed), whole_tree());
    let mut steps = 0;
    while !scan.step(&mut scanner) {
        steps += 1;
    }
    assert!(steps >= 16, "{steps} steps");
    assert_eq!(scan.finish().objects.len(), 2);
}

#[test]
fn a_large_object_is_scanned_a_window_per_step() {
    // 1 MiB of varied bytes with the marker near the end, scanned in 64 KiB windows:
    // found, in about 16 steps, exactly as in one piece.
    let mut data: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let at = data.len() - 1000;
    data[at..at + MARK.len()].copy_from_slice(MARK);
    let engine = engine();
    let mut scanner = Scanner::new();
    let mut scan =
        DeepScan::new(&engine, Blob::borrowed(&data), whole_tree()).with_windows(64 << 10);
    let mut steps = 0;
    while !scan.step(&mut scanner) {
        steps += 1;
        // Another object scanned on the same scanner between steps.
        scanner.scan(&engine, b"unrelated small object", ScanOptions::default());
    }
    assert!(steps >= 16, "{steps} steps");
    let report = scan.finish();
    assert_eq!(
        report.top().overall(),
        Overall::Detected("Deep.Mark.UNOFFICIAL")
    );
    let whole = DeepScan::new(&engine, Blob::borrowed(&data), whole_tree()).run(&mut scanner);
    assert_eq!(whole.top().overall(), report.top().overall());
}

#[test]
fn hostile_names_are_cut() {
    let long = "n".repeat(10_000);
    let mut data = MARK.to_vec();
    for _ in 0..30 {
        data = gzip(&long, &data);
    }
    let options = DeepOptions {
        limits: DeepLimits {
            max_recursion: 41,
            ..DeepLimits::default()
        },
        ..whole_tree()
    };
    let got = run(&data, options);
    assert_eq!(got.len(), 31);
    assert!(
        got.iter()
            .all(|(p, _, _)| p.len() <= MAX_PATH + MAX_NAME + 16),
        "paths bounded"
    );
    assert_eq!(got[1].0.len(), MAX_NAME);
    assert_eq!(got[30].1, Overall::Detected("Deep.Mark.UNOFFICIAL"));
}
