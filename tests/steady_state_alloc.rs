//! A scan in the steady state allocates nothing: every per-scan buffer lives in the
//! `Scanner` and is reset, not reallocated. Checked with a counting global allocator
//! (this test binary has only this one test, so no other thread allocates meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ringscan::engine::{DbBuilder, ScanOptions, Scanner, Verdict};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn scanning_allocates_nothing_after_warm_up() {
    let data = b"alpha .. bravo ** charlie delta needle-in-a-haystack".repeat(200);
    let md5 = "0123456789abcdef0123456789abcdef";
    let mut b = DbBuilder::new();
    b.add_file(
        "t.ndb",
        b"A:0:*:616c706861*627261766f\nN:0:*:6e656564(6c|4c)65{2-40}686179\n".to_vec(),
        false,
    )
    .unwrap();
    b.add_file(
        "t.ldb",
        b"L;Target:0;(0|1)>2;636861726c6965;64656c7461::i\n".to_vec(),
        false,
    )
    .unwrap();
    b.add_file(
        "t.hdb",
        format!("{md5}:{}:H\n", data.len()).into_bytes(),
        false,
    )
    .unwrap();
    let (engine, _) = b.build(None).unwrap();
    let mut scanner = Scanner::new();
    let all = ScanOptions {
        all_matches: true,
        ..ScanOptions::default()
    };
    // Warm-up: scratch and counters grow here.
    assert_eq!(scanner.scan(&engine, &data, all).detections().count(), 3);

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..100 {
        let report = scanner.scan(&engine, &data, all);
        assert!(matches!(report.verdict(), Verdict::Detected(_)));
        let report = scanner.scan(&engine, b"nothing to see", ScanOptions::default());
        assert_eq!(report.verdict(), Verdict::Clean);
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations during steady-state scans");
}
