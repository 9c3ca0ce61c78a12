use crate::proto::kav::response::{Reason, ScanResult};
use crate::proto::kav::stats::KavCounters;

#[test]
fn the_vendors_example() {
    // Two infected 102-byte objects and one phishing URL: total 3, infected 3.
    let mut c = KavCounters::default();
    c.record_scan(102, &ScanResult::Detect("EICAR-Test-File"));
    c.record_scan(102, &ScanResult::Detect("EICAR-Test-File"));
    c.record_url(true);
    assert_eq!(
        c,
        KavCounters {
            total_requests: 3,
            infected_requests: 3,
            processed_data: 204,
            infected_data: 204,
            processed_urls: 1,
            infected_urls: 1,
            ..KavCounters::default()
        }
    );
}

#[test]
fn each_result() {
    let mut c = KavCounters::default();
    c.record_scan(10, &ScanResult::Clean);
    c.record_scan(20, &ScanResult::NonScanned(Some(Reason::Corrupted)));
    c.record_scan(40, &ScanResult::NonScanned(None));
    c.record_scan(80, &ScanResult::ServerError);
    c.record_url(false);
    assert_eq!(
        c,
        KavCounters {
            total_requests: 5,
            error_requests: 2,
            engine_errors: 1,
            processed_data: 70,
            processed_urls: 1,
            ..KavCounters::default()
        }
    );
}

#[test]
fn add_sums_and_saturates() {
    let mut a = KavCounters::default();
    a.record_scan(5, &ScanResult::Detect("x"));
    let mut b = KavCounters::default();
    b.record_url(true);
    b.record_scan(7, &ScanResult::Clean);
    let mut sum = a;
    sum.add(&b);
    assert_eq!(sum.total_requests, 3);
    assert_eq!(sum.infected_requests, 2);
    assert_eq!(sum.processed_data, 12);
    assert_eq!(sum.infected_data, 5);
    assert_eq!(sum.infected_urls, 1);
    let mut full = KavCounters {
        processed_data: u64::MAX - 1,
        ..KavCounters::default()
    };
    full.add(&sum);
    assert_eq!(full.processed_data, u64::MAX);
    full.record_scan(10, &ScanResult::Clean);
    assert_eq!(full.processed_data, u64::MAX);
    let names: Vec<_> = sum.fields().iter().map(|f| f.0).collect();
    assert_eq!(names[0], "total_requests");
    assert_eq!(names[8], "infected_urls");
}
