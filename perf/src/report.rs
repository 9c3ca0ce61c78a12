//! Output: aligned tables on stdout, the same tables as Markdown for `summary.md`,
//! JSON and CSV files.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::clamscan::Reference;
use crate::compile::CompileStats;
use crate::scale::Scale;
use crate::throughput::Throughput;

/// Writes a file, creating its directory.
pub fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes pretty JSON.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    text.push('\n');
    write(path, &text)
}

/// A table with a title, header, rows and notes; rendered as text or Markdown.
pub struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    notes: Vec<String>,
}

impl Table {
    fn new(title: impl Into<String>, header: &[&str]) -> Self {
        Table {
            title: title.into(),
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Aligned text: first column left, the others right.
    pub fn text(&self) -> String {
        let mut w: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.len());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i == 0 {
                    let _ = write!(s, "{c:<width$}", width = w[0]);
                } else {
                    let _ = write!(s, "  {c:>width$}", width = w[i]);
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = format!("{}\n", self.title);
        out += &line(&self.header);
        for r in &self.rows {
            out += &line(r);
        }
        for n in &self.notes {
            out += &format!("  {n}\n");
        }
        out
    }

    /// GitHub Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!("{}\n\n", self.title);
        out += &format!("| {} |\n", self.header.join(" | "));
        out += &format!(
            "|{}\n",
            self.header
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
                .collect::<String>()
        );
        for r in &self.rows {
            out += &format!("| {} |\n", r.join(" | "));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                out += &format!("- {n}\n");
            }
        }
        out
    }
}

fn mib(bytes: f64) -> String {
    format!("{:.1}", bytes / (1024.0 * 1024.0))
}

fn kib_mib(kib: u64) -> String {
    mib(kib as f64 * 1024.0)
}

fn secs(s: f64) -> String {
    if s >= 100.0 {
        format!("{s:.0}")
    } else if s >= 10.0 {
        format!("{s:.1}")
    } else {
        format!("{s:.3}")
    }
}

fn dash() -> String {
    "-".into()
}

/// The throughput table.
pub fn throughput_tables(t: &Throughput) -> Table {
    let l = &t.ringscan_load;
    let mut tab = Table::new(
        format!(
            "Throughput: {} files, {:.1} MB; {}, best of {} passes after 1 warm-up{}",
            t.files,
            t.bytes as f64 / 1e6,
            if t.threads > 1 {
                format!("{} threads", t.threads)
            } else {
                "single thread".to_string()
            },
            t.passes,
            if t.allmatch {
                "; ringscan --allmatch"
            } else {
                ""
            }
        ),
        &[
            "contender",
            "compile s",
            "patterns",
            "dropped",
            "HS MiB",
            "RSS +MiB",
            "best s",
            "MB/s",
            "files/s",
            "matched files",
        ],
    );
    let raw_stats = |name: &str| -> Option<&CompileStats> {
        match name {
            "raw-full" => t.raw_full.as_ref(),
            "raw-anchors" => t.raw_anchors.as_ref(),
            _ => None,
        }
    };
    for r in &t.rows {
        let mut cells = vec![r.name.clone()];
        match r.name.as_str() {
            "ringscan-content" => cells.extend([dash(), dash(), dash(), dash(), dash()]),
            "ringscan" => cells.extend([
                secs(l.compile_s),
                l.anchors.to_string(),
                dash(),
                mib(l.hs_bytes as f64),
                kib_mib(l.rss_after_kib.saturating_sub(l.rss_before_kib)),
            ]),
            name => match raw_stats(name) {
                Some(s) => cells.extend([
                    secs(s.compile_s),
                    s.patterns.to_string(),
                    s.dropped.to_string(),
                    mib(s.hs_bytes as f64),
                    kib_mib(s.rss_delta_kib),
                ]),
                None => cells.extend([dash(), dash(), dash(), dash(), dash()]),
            },
        }
        cells.extend([
            secs(r.best_s),
            format!("{:.1}", r.mb_s),
            format!("{:.0}", r.files_s),
            r.matched_files.to_string(),
        ]);
        tab.rows.push(cells);
    }
    for (name, s) in [("raw-anchors", &t.raw_anchors), ("raw-full", &t.raw_full)] {
        if let Some(s) = s {
            if let Some(e) = &s.error {
                tab.rows.push(vec![
                    name.into(),
                    if e.contains("did not finish") {
                        format!(">{}", secs(s.total_s))
                    } else {
                        dash()
                    },
                    s.patterns.to_string(),
                    s.dropped.to_string(),
                    dash(),
                    dash(),
                    dash(),
                    "n/a".into(),
                    dash(),
                    dash(),
                ]);
                tab.notes.push(format!("{name}: {e}"));
            }
        }
    }
    tab.notes.push(format!(
        "ringscan load: {} signatures ({} ndb, {} ldb, {} hash), {} skipped; {} anchors ({} regex); parse {} s, compile {} s; tables {} MiB; VmHWM after load {} MiB",
        l.signatures, l.content, l.logical, l.hashes, l.skipped, l.anchors, l.regex_anchors,
        secs(l.parse_s), secs(l.compile_s), mib(l.table_bytes as f64), kib_mib(l.peak_after_kib)
    ));
    if let Some(s) = &t.raw_full {
        tab.notes.push(format!(
            "raw-full: whole bodies as regexes (DOTALL|SINGLEMATCH), {} compile attempt(s), compiler peak RSS {} MiB, {} lines not parsed{}",
            s.attempts,
            kib_mib(s.child_peak_rss_kib),
            s.unparsed,
            if s.dropped_examples.is_empty() {
                String::new()
            } else {
                format!("; refused e.g. {}", s.dropped_examples[0])
            }
        ));
    }
    if let Some(s) = &t.raw_anchors {
        tab.notes.push(format!(
            "raw-anchors: the engine's anchor database, no verification; compiler peak RSS {} MiB",
            kib_mib(s.child_peak_rss_kib)
        ));
    }
    tab.notes.push(format!(
        "matched files: ringscan = detections ({} scan errors); raw = files with any Hyperscan match; md5 = reference (every file hashed)",
        t.scan_errors
    ));
    if t.rows.iter().any(|r| r.name == "ringscan-content") {
        tab.notes.push(
            "ringscan-content: an engine on the .ndb/.ldb files only, the same patterns as the raw rows, raw bytes only (ScanOptions::normalize_text off); the ringscan row also hashes every file whose size some hash signature has, and matches ClamAV's normalized form of text-like objects in a second pass".into(),
        );
    }
    let ratio = |r: Option<f64>| r.map_or("n/a".to_string(), |r| format!("{r:.3}"));
    tab.notes.push(format!(
        "ratio, same patterns and one pass over raw bytes (ringscan-content, else ringscan-raw-pass)/raw-full: {} (target >= 0.9); whole ringscan/raw-full: {}; whole ringscan/raw-anchors: {}",
        ratio(t.content_ratio_vs_raw_full),
        ratio(t.ratio_vs_raw_full),
        ratio(t.ratio_vs_raw_anchors)
    ));
    tab
}

/// `throughput` on stdout.
pub fn throughput_table(t: &Throughput) -> String {
    throughput_tables(t).text()
}

/// `throughput` as CSV.
pub fn throughput_csv(t: &Throughput) -> String {
    let mut out =
        "contender,compile_s,patterns,hs_bytes,rss_delta_kib,best_s,mb_s,files_s,matched_files\n"
            .to_string();
    for r in &t.rows {
        let (c, p, b, m) = match r.name.as_str() {
            "ringscan" => {
                let l = &t.ringscan_load;
                (
                    l.compile_s,
                    l.anchors,
                    l.hs_bytes,
                    l.rss_after_kib.saturating_sub(l.rss_before_kib),
                )
            }
            "raw-full" | "raw-anchors" => {
                let s = if r.name == "raw-full" {
                    &t.raw_full
                } else {
                    &t.raw_anchors
                };
                s.as_ref().map_or((0.0, 0, 0, 0), |s| {
                    (s.compile_s, s.patterns, s.hs_bytes, s.rss_delta_kib)
                })
            }
            _ => (0.0, 0, 0, 0),
        };
        let _ = writeln!(
            out,
            "{},{c:.6},{p},{b},{m},{:.6},{:.3},{:.1},{}",
            r.name, r.best_s, r.mb_s, r.files_s, r.matched_files
        );
    }
    out
}

/// The scale table.
pub fn scale_tables(s: &Scale) -> Table {
    let mut tab = Table::new(
        "Scale: throughput as the content signature set grows (single thread)",
        &[
            "ndb",
            "hdb",
            "rs compile s",
            "rs HS MiB",
            "rs RSS +MiB",
            "rs MB/s",
            "rs raw-pass MB/s",
            "raw compile s",
            "raw HS MiB",
            "raw compiler peak MiB",
            "raw MB/s",
            "ratio raw-pass/raw",
            "anchors-only MB/s",
            "detections",
        ],
    );
    for row in &s.rows {
        let mut cells = vec![row.ndb.to_string(), row.hdb.to_string()];
        let Some(t) = &row.result else {
            cells.extend(std::iter::repeat_n(dash(), 12));
            tab.rows.push(cells);
            tab.notes.push(format!(
                "ndb {}: {}",
                row.ndb,
                row.error.as_deref().unwrap_or("no result")
            ));
            continue;
        };
        let l = &t.ringscan_load;
        let mbs = |name: &str| {
            t.rows
                .iter()
                .find(|r| r.name == name)
                .map_or("n/a".to_string(), |r| format!("{:.1}", r.mb_s))
        };
        cells.extend([
            secs(l.compile_s),
            mib(l.hs_bytes as f64),
            kib_mib(l.rss_after_kib.saturating_sub(l.rss_before_kib)),
            mbs("ringscan"),
            mbs("ringscan-raw-pass"),
        ]);
        match &t.raw_full {
            Some(f) if f.error.is_none() => cells.extend([
                secs(f.compile_s),
                mib(f.hs_bytes as f64),
                kib_mib(f.child_peak_rss_kib),
            ]),
            Some(f) => {
                cells.extend([
                    format!(">{}", secs(f.total_s)),
                    dash(),
                    kib_mib(f.child_peak_rss_kib),
                ]);
                tab.notes.push(format!(
                    "ndb {}: raw full-regex: {}",
                    row.ndb,
                    f.error.as_deref().unwrap_or_default()
                ));
            }
            None => cells.extend([dash(), dash(), dash()]),
        }
        if let Some(f) = t.raw_full.as_ref().filter(|f| f.dropped > 0) {
            tab.notes.push(format!(
                "ndb {}: raw full-regex dropped {} refused patterns",
                row.ndb, f.dropped
            ));
        }
        cells.extend([
            mbs("raw-full"),
            t.content_ratio_vs_raw_full
                .map_or("n/a".to_string(), |r| format!("{r:.3}")),
            mbs("raw-anchors"),
            t.detections.to_string(),
        ]);
        tab.rows.push(cells);
    }
    if let Some(t) = s.rows.iter().find_map(|r| r.result.as_ref()) {
        tab.notes.push(format!(
            "corpus {} files, {:.1} MB; best of {} passes; rs = ringscan full scan (raw bytes, then ClamAV's normalized form of text-like objects); rs raw-pass = the same engine on raw bytes only; raw = whole bodies as Hyperscan regexes; anchors-only = the engine's Hyperscan pass without verification",
            t.files,
            t.bytes as f64 / 1e6,
            t.passes
        ));
    }
    tab
}

/// `scale` on stdout.
pub fn scale_table(s: &Scale) -> String {
    scale_tables(s).text()
}

/// `scale` as CSV.
pub fn scale_csv(s: &Scale) -> String {
    let mut out =
        "ndb,hdb,contender,compile_s,hs_bytes,rss_delta_kib,compiler_peak_kib,mb_s,files_s,error\n"
            .to_string();
    for row in &s.rows {
        let Some(t) = &row.result else {
            let _ = writeln!(
                out,
                "{},{},,,,,,,,\"{}\"",
                row.ndb,
                row.hdb,
                row.error.as_deref().unwrap_or("").replace('"', "'")
            );
            continue;
        };
        let l = &t.ringscan_load;
        for name in ["ringscan", "raw-full", "raw-anchors"] {
            let r = t.rows.iter().find(|r| r.name == name);
            let (mb, fs) = r.map_or((String::new(), String::new()), |r| {
                (format!("{:.3}", r.mb_s), format!("{:.1}", r.files_s))
            });
            let (c, b, m, p, e) = match name {
                "ringscan" => (
                    l.compile_s,
                    l.hs_bytes,
                    l.rss_after_kib.saturating_sub(l.rss_before_kib),
                    l.peak_after_kib,
                    None,
                ),
                _ => {
                    let s = if name == "raw-full" {
                        &t.raw_full
                    } else {
                        &t.raw_anchors
                    };
                    match s {
                        Some(s) => (
                            s.compile_s,
                            s.hs_bytes,
                            s.rss_delta_kib,
                            s.child_peak_rss_kib,
                            s.error.clone(),
                        ),
                        None => continue,
                    }
                }
            };
            let _ = writeln!(
                out,
                "{},{},{name},{c:.6},{b},{m},{p},{mb},{fs},\"{}\"",
                row.ndb,
                row.hdb,
                e.unwrap_or_default().replace('"', "'")
            );
        }
    }
    out
}

/// The command-line reference table.
pub fn clamscan_tables(r: &Reference) -> Table {
    let mut tab = Table::new(
        format!(
            "Command line, single thread: {} files, {:.1} MB",
            r.files,
            r.bytes as f64 / 1e6
        ),
        &[
            "scanner",
            "load s",
            "load peak MiB",
            "total s",
            "scan s",
            "MB/s",
            "files/s",
            "peak RSS MiB",
            "FOUND",
        ],
    );
    for t in &r.tools {
        tab.rows.push(vec![
            t.tool.clone(),
            secs(t.load_s),
            kib_mib(t.load_peak_rss_kib),
            secs(t.total_s),
            secs(t.scan_s),
            format!("{:.1}", t.mb_s),
            format!("{:.0}", t.files_s),
            kib_mib(t.peak_rss_kib),
            t.found.to_string(),
        ]);
    }
    for t in &r.tools {
        tab.notes
            .push(format!("{}: {} ({})", t.tool, t.command, t.version));
        if let Some(e) = &t.error {
            tab.notes.push(format!("{}: {e}", t.tool));
        }
    }
    tab.notes.push(
        "load = wall time on an empty file; scan = corpus wall time minus load; clamscan also unpacks archives and normalizes text".into(),
    );
    tab.notes.push(format!(
        "peak RSS = the child's ru_maxrss from wait4 (floor: the measuring process's own {} MiB, which Linux folds in across exec)",
        kib_mib(r.parent_peak_rss_kib)
    ));
    tab
}

/// `clamscan` on stdout.
pub fn clamscan_table(r: &Reference) -> String {
    clamscan_tables(r).text()
}

/// `summary.md` from a results directory.
pub fn summary(dir: &Path) -> Result<String, String> {
    fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Option<Result<T, String>> {
        let bytes = std::fs::read(path).ok()?;
        Some(serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display())))
    }
    let mut out = String::from("# ringscan engine benchmark\n\n");
    let _ = writeln!(
        out,
        "Generated by `perf/engine.sh`; raw outputs (JSON, CSV, console) are next to this file.\n"
    );
    if let Ok(machine) = std::fs::read_to_string(dir.join("machine.txt")) {
        let _ = writeln!(out, "## Machine\n\n```\n{}\n```\n", machine.trim_end());
    }
    let mut any = false;
    if let Some(t) = read::<Throughput>(&dir.join("throughput.json")) {
        let t = t?;
        let _ = writeln!(out, "## {}", throughput_tables(&t).markdown().trim_end());
        let _ = writeln!(out, "\nSignatures: `{}`; corpus: `{}`.\n", t.sigs, t.corpus);
        any = true;
    }
    if let Some(s) = read::<Scale>(&dir.join("scale.json")) {
        let _ = writeln!(out, "## {}\n", scale_tables(&s?).markdown().trim_end());
        any = true;
    }
    if let Some(r) = read::<Reference>(&dir.join("clamscan.json")) {
        let _ = writeln!(out, "## {}\n", clamscan_tables(&r?).markdown().trim_end());
        any = true;
    }
    if !any {
        return Err(format!(
            "{}: no throughput.json, scale.json or clamscan.json",
            dir.display()
        ));
    }
    Ok(out)
}
