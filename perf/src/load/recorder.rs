//! What the clients saw: one [`Recorder`] per client thread (no sharing while the load
//! runs), merged at the end. Latencies go into an HdrHistogram in microseconds (3
//! significant digits, 1 µs to 1 h); requests that failed or got a wrong verdict are
//! counted by kind and are never latency samples.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Why a request does not count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The connection could not be opened.
    Connect,
    /// A read or write hit `--timeout`.
    Timeout,
    /// The connection failed or closed while sending or reading.
    Io,
    /// The server answered `... ERROR` (clamd), or a scan result that is neither clean
    /// nor a detection (KAV: `NON_SCANNED`, `SERVER_ERROR`, `{"error": ...}`).
    ServerError,
    /// An HTTP status other than 200.
    HttpStatus,
    /// A reply that is not a scan verdict (or a session reply with the wrong id).
    Protocol,
    /// OK where FOUND was expected, or FOUND where OK was.
    WrongVerdict,
    /// FOUND under another name than expected.
    WrongName,
}

impl ErrorKind {
    /// The key in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::ServerError => "server-error",
            ErrorKind::HttpStatus => "http-status",
            ErrorKind::Protocol => "protocol",
            ErrorKind::WrongVerdict => "wrong-verdict",
            ErrorKind::WrongName => "wrong-name",
        }
    }

    /// Sorts an I/O error into connect (when `connecting`), timeout or io.
    pub fn of_io(e: &std::io::Error, connecting: bool) -> ErrorKind {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::WouldBlock | K::TimedOut => ErrorKind::Timeout,
            _ if connecting => ErrorKind::Connect,
            _ => ErrorKind::Io,
        }
    }
}

/// One client's counts.
pub struct Recorder {
    /// Latency of every right answer inside the window, µs.
    pub hist: Histogram<u64>,
    /// Right answers inside the window.
    pub ok: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Of those, FOUND.
    pub found: u64,
    /// Of those, OK.
    pub clean: u64,
    /// Right answers that completed before the window (warm-up) or after it.
    pub outside_window: u64,
    /// Failed or wrong requests, by kind (whenever they happened).
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Connections opened (one per request for plain INSTREAM; one per client for a
    /// session or keep-alive, plus any reconnects).
    pub connects: u64,
    /// The first few error messages, for the report.
    pub examples: Vec<String>,
}

/// How many error messages a report keeps.
const EXAMPLES: usize = 8;

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Recorder {
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
            ok: 0,
            bytes: 0,
            found: 0,
            clean: 0,
            outside_window: 0,
            errors: BTreeMap::new(),
            connects: 0,
            examples: Vec::new(),
        }
    }

    /// A right answer inside the window.
    pub fn record_ok(&mut self, latency: Duration, bytes: u64, found: bool) {
        self.hist
            .saturating_record((latency.as_micros() as u64).max(1));
        self.ok += 1;
        self.bytes += bytes;
        if found {
            self.found += 1;
        } else {
            self.clean += 1;
        }
    }

    /// A request that does not count.
    pub fn record_error(&mut self, kind: ErrorKind, message: impl FnOnce() -> String) {
        *self.errors.entry(kind).or_default() += 1;
        if self.examples.len() < EXAMPLES {
            self.examples
                .push(format!("{}: {}", kind.as_str(), message()));
        }
    }

    /// Adds another client's counts.
    pub fn merge(&mut self, o: &Recorder) {
        self.hist.add(&o.hist).expect("same bounds");
        self.ok += o.ok;
        self.bytes += o.bytes;
        self.found += o.found;
        self.clean += o.clean;
        self.outside_window += o.outside_window;
        self.connects += o.connects;
        for (k, n) in &o.errors {
            *self.errors.entry(*k).or_default() += n;
        }
        for e in &o.examples {
            if self.examples.len() < EXAMPLES {
                self.examples.push(e.clone());
            }
        }
    }

    /// All errors.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Latency figures in milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub stdev: f64,
    /// Percentiles.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// 99.99th percentile (absent from reports written before it was added).
    #[serde(default)]
    pub p9999: f64,
    /// Largest.
    pub max: f64,
}

impl Latency {
    /// From a µs histogram.
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1e3;
        Latency {
            count: h.len(),
            min: ms(h.min()),
            mean: h.mean() / 1e3,
            stdev: h.stdev() / 1e3,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            p9999: ms(h.value_at_quantile(0.9999)),
            max: ms(h.max()),
        }
    }
}

/// The percentile spectrum, `(percentile, ms)` pairs, for plots: halving steps to
/// 99.99 % and the maximum.
pub fn spectrum(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for q in [
        0.0, 0.25, 0.5, 0.75, 0.875, 0.9, 0.9375, 0.95, 0.96875, 0.98, 0.99, 0.995, 0.999, 0.9995,
        0.9999,
    ] {
        out.push((q * 100.0, h.value_at_quantile(q) as f64 / 1e3));
    }
    out.push((100.0, h.max() as f64 / 1e3));
    out
}

/// The histogram in HdrHistogram's compressed V2 format, base64: what other HdrHistogram
/// tools read, and what [`decode_histogram`] merges across runs.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    if V2DeflateSerializer::new().serialize(h, &mut bytes).is_err() {
        return String::new();
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Writes `intervals` (µs histograms, one per second from `start_unix`, seconds since
/// the epoch) as an HdrHistogram interval log: the text format with one compressed V2
/// histogram per line that HdrHistogram's `HistogramLogAnalyzer`, `hdr-plot` and
/// `HistogramLogProcessor` read. Values stay in microseconds; the max column is in
/// milliseconds (`MaxValueDivisor` 1000). Empty seconds are written as empty intervals
/// so that a stall with no completions still shows as a gap in time.
pub fn write_interval_log(
    path: &std::path::Path,
    start_unix: f64,
    intervals: &[Histogram<u64>],
    tag: &str,
) -> Result<(), String> {
    use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
    use std::time::{Duration, UNIX_EPOCH};
    let start = UNIX_EPOCH + Duration::from_secs_f64(start_unix.max(0.0));
    // Tags may not hold ',' ' ' or '\n' (the log's separators).
    let tag: String = tag
        .chars()
        .map(|c| {
            if c == ',' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut text = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut w = IntervalLogWriterBuilder::new()
        .add_comment("ringscan-perf: latency from the intended send time, microseconds")
        .with_start_time(start)
        .with_base_time(start)
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut text, &mut serializer)
        .map_err(|e| format!("interval log: {e}"))?;
    let empty = Recorder::new().hist;
    for (i, h) in intervals.iter().enumerate() {
        let h = if h.is_empty() { &empty } else { h };
        w.write_histogram(
            h,
            Duration::from_secs(i as u64),
            Duration::from_secs(1),
            Tag::new(&tag),
        )
        .map_err(|e| format!("interval log: {e}"))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The inverse of [`encode_histogram`].
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("histogram: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_round_trip() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        for ms in 1..=100u64 {
            a.record_ok(Duration::from_millis(ms), 10, ms % 10 == 0);
        }
        b.record_ok(Duration::from_secs(2), 5, false);
        b.record_error(ErrorKind::WrongVerdict, || "x: expected OK".into());
        a.merge(&b);
        assert_eq!(a.ok, 101);
        assert_eq!(a.bytes, 1005);
        assert_eq!(a.found, 10);
        assert_eq!(a.error_count(), 1);
        let l = Latency::of(&a.hist);
        assert!((l.p50 - 51.0).abs() < 0.1, "{l:?}");
        assert!((l.max - 2000.0).abs() < 2.0, "{l:?}");
        let back = decode_histogram(&encode_histogram(&a.hist)).unwrap();
        assert_eq!(back.len(), a.hist.len());
        assert_eq!(back.value_at_quantile(0.99), a.hist.value_at_quantile(0.99));
    }

    /// The interval log: one line per second (an empty one too), read back by
    /// HdrHistogram's own parser, with the tag cleaned and the max in milliseconds.
    #[test]
    fn interval_log_round_trip() {
        let mut first = Recorder::new();
        for ms in 1..=100u64 {
            first.record_ok(Duration::from_millis(ms), 10, false);
        }
        let mut second = Recorder::new();
        second.record_ok(Duration::from_millis(300), 1, false);
        let dir = std::env::temp_dir().join(format!("rsp-hlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.hlog");
        let none = Recorder::new().hist;
        write_interval_log(&path, 1.7e9, &[first.hist, none, second.hist], "x y").unwrap();
        let text = std::fs::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
        let mut counts = Vec::new();
        for e in IntervalLogIterator::new(&text) {
            if let LogEntry::Interval(iv) = e.unwrap() {
                assert_eq!(iv.tag().map(|t| t.as_str()), Some("x_y"));
                let b = base64::engine::general_purpose::STANDARD
                    .decode(iv.encoded_histogram())
                    .unwrap();
                let h: Histogram<u64> = Deserializer::new().deserialize(&mut b.as_slice()).unwrap();
                counts.push((iv.start_timestamp().as_secs(), h.len(), iv.max()));
            }
        }
        assert_eq!(counts.len(), 3, "{counts:?}");
        assert_eq!((counts[0].0, counts[0].1), (0, 100));
        assert_eq!((counts[1].0, counts[1].1), (1, 0));
        assert_eq!((counts[2].0, counts[2].1), (2, 1));
        assert!((counts[2].2 - 300.0).abs() < 1.0, "max in ms: {counts:?}");
    }
}
