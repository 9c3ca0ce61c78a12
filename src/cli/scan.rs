//! `ringscan scan`: clamscan's interface on all cores.
//!
//! One walker thread lists the files, one worker per core reads and scans them (each
//! with its own `Scanner` and read buffer, like the server's cores), and the main
//! thread prints results in the order the walk produced them (a small reorder buffer),
//! so the output is the same whatever the number of workers. Output lines, the summary
//! and exit codes follow clamscan; `--json` writes one KAV v3 response object per file.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use crossbeam_channel::{bounded, Receiver, Sender};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::DbArgs;
use crate::db;
use crate::engine::{
    DeepLimits, DeepOptions, DeepScan, Engine, ObjectReport, Overall, ScanOptions, Scanner,
};
use crate::formats::Blob;
use crate::proto::kav::{objects, response::write_scan_v3, ObjectResult, Reason, ScanResult};

/// Arguments of `scan`.
#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Files or directories to scan; `-` reads standard input.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    db: DbArgs,
    /// Write one KAV v3 response object (JSON) per file instead of clamscan lines.
    #[arg(long)]
    json: bool,
    /// Scan directories recursively.
    #[arg(short = 'r', long)]
    recursive: bool,
    /// Report every matching signature, not only the first (clamscan `--allmatch`).
    #[arg(short = 'z', long = "allmatch", alias = "all-match")]
    all_match: bool,
    /// Print only infected files.
    #[arg(short = 'i', long)]
    infected: bool,
    /// Do not print the summary.
    #[arg(long)]
    no_summary: bool,
    /// Worker threads [default: all cores].
    #[arg(short = 'j', long, value_name = "N")]
    jobs: Option<usize>,
    /// List every sub-object found inside containers, with its result
    /// (`archive.zip//folder/eicar: Eicar FOUND`); with `--json`, keep clean ones in
    /// `subObjectsScanResults`.
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Objects at this nesting depth or deeper are not scanned, the file itself
    /// being depth 0 (clamscan `--max-recursion`).
    #[arg(long, value_name = "N", default_value_t = 17,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    max_recursion: u32,
    /// Sub-objects extracted per file; 0 = no limit (clamscan `--max-files`).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_files: u32,
    /// Largest object scanned, a file or one inside it; 0 = no limit (clamscan
    /// `--max-filesize`).
    #[arg(long, value_name = "SIZE", default_value = "100M", value_parser = size)]
    max_filesize: u64,
    /// Bytes scanned per file, contents included; 0 = no limit (clamscan
    /// `--max-scansize`).
    #[arg(long, value_name = "SIZE", default_value = "400M", value_parser = size)]
    max_scansize: u64,
    /// Largest decoded/encoded ratio of a sub-object over 1 MiB; 0 = no guard.
    #[arg(long, value_name = "N", default_value_t = 250)]
    max_ratio: u64,
}

fn size(text: &str) -> Result<u64, String> {
    crate::server::config::parse_size(text)
}

impl ScanArgs {
    fn deep_options(&self) -> DeepOptions {
        DeepOptions {
            scan: ScanOptions {
                all_matches: self.all_match,
                ..ScanOptions::default()
            },
            // The listing wants every sub-object; clamscan's lines only the first
            // detection (all with --allmatch).
            whole_tree: self.all_match || self.verbose || self.json,
            limits: DeepLimits {
                max_file_size: self.max_filesize,
                max_scan_size: self.max_scansize,
                max_recursion: self.max_recursion,
                max_files: self.max_files,
                max_ratio: self.max_ratio,
                deadline: None,
                skip_formats: Vec::new(),
            },
        }
    }
}

/// A file to scan, numbered in walk order.
enum Job {
    File(u64, PathBuf),
    /// A path that could not be listed or opened: reported in its place.
    Failed(u64, String, io::Error),
}

enum Outcome {
    /// Scanned: the top object's result and every sub-object's.
    Scanned(Vec<Object>),
    Failed(io::Error),
}

/// One object's result, owned (it crosses from the worker to the printer).
struct Object {
    /// Below the file (`x.zip//eicar`); empty for the file itself.
    path: String,
    /// Its own detections.
    detections: Vec<String>,
    /// Its result, what is inside counted.
    overall: Overall<'static>,
    /// Detection name for `overall` when it is a detection.
    found: Option<String>,
    macros: bool,
}

impl Object {
    fn of(o: &ObjectReport<'_>) -> Object {
        let (overall, found) = match o.overall() {
            Overall::Detected(name) => (Overall::Detected(""), Some(name.to_owned())),
            Overall::Error(e) => (Overall::Error(e), None),
            Overall::NotScanned(s) => (Overall::NotScanned(s), None),
            Overall::Clean => (Overall::Clean, None),
        };
        Object {
            path: o.path.clone(),
            detections: o.detections.iter().map(|d| d.to_string()).collect(),
            overall,
            found,
            macros: o.macros,
        }
    }

    fn result(&self) -> ScanResult<'_> {
        match self.overall {
            Overall::Detected(_) => ScanResult::Detect(self.found.as_deref().unwrap_or("")),
            Overall::Error(_) => ScanResult::ServerError,
            Overall::NotScanned(s) => ScanResult::NonScanned(Some(objects::reason_of(s))),
            Overall::Clean => ScanResult::Clean,
        }
    }
}

struct Done {
    seq: u64,
    path: String,
    bytes: u64,
    outcome: Outcome,
}

#[derive(Default)]
struct Totals {
    dirs: u64,
    files: u64,
    infected: u64,
    errors: u64,
    bytes: u64,
}

/// Runs the scan; returns the exit code.
pub fn run(args: ScanArgs) -> u8 {
    let start = Instant::now();
    let start_date = time::OffsetDateTime::now_utc();
    let (engine, _report) = match db::load(&args.db.load_options(&[])) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return 2;
        }
    };
    let engine = Arc::new(engine);
    let opts = args.deep_options();
    let mut totals = Totals::default();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut printer = Printer {
        json: args.json,
        infected_only: args.infected,
        verbose: args.verbose,
    };

    let (stdin_args, path_args): (Vec<_>, Vec<_>) =
        args.paths.iter().partition(|p| p.as_os_str() == "-");
    if !stdin_args.is_empty() {
        let mut data = Vec::new();
        let done = match io::stdin().lock().read_to_end(&mut data) {
            Ok(_) => Done {
                seq: 0,
                path: "stdin".into(),
                bytes: data.len() as u64,
                outcome: scan(&engine, &mut Scanner::new(), &data, &opts),
            },
            Err(e) => Done {
                seq: 0,
                path: "stdin".into(),
                bytes: 0,
                outcome: Outcome::Failed(e),
            },
        };
        if printer.print(&mut out, &done, &mut totals).is_err() {
            return 0;
        }
    }

    let workers = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let (job_tx, job_rx) = bounded::<Job>(workers * 64);
    let (done_tx, done_rx) = bounded::<Done>(workers * 64);
    let paths: Vec<PathBuf> = path_args.into_iter().cloned().collect();
    let recursive = args.recursive;
    let walker = std::thread::spawn(move || walk(&paths, recursive, &job_tx));
    let pool: Vec<_> = (0..workers)
        .map(|_| {
            let (rx, tx, engine) = (job_rx.clone(), done_tx.clone(), engine.clone());
            let opts = opts.clone();
            std::thread::spawn(move || worker(&engine, &opts, &rx, &tx))
        })
        .collect();
    drop((job_rx, done_tx));

    let progress = progress_bar(args.json);
    let stdout_is_terminal = io::stdout().is_terminal();
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    let mut broken_pipe = false;
    for done in done_rx.iter() {
        progress.inc(1);
        pending.insert(done.seq, done);
        while let Some(done) = pending.remove(&next) {
            next += 1;
            if broken_pipe {
                continue;
            }
            // Lines go out between two frames of the progress line, so the two never
            // tear each other on a terminal.
            let printed = progress.suspend(|| {
                printer.print(&mut out, &done, &mut totals)?;
                if stdout_is_terminal {
                    out.flush()?;
                }
                Ok::<_, io::Error>(())
            });
            broken_pipe = printed.is_err();
        }
    }
    progress.finish_and_clear();
    totals.dirs = walker.join().unwrap_or(0);
    for w in pool {
        let _ = w.join();
    }
    if broken_pipe {
        return 0;
    }
    if !args.json && !args.no_summary {
        let _ = summary(&mut out, &engine, &totals, start, start_date);
    }
    let _ = out.flush();
    if totals.errors > 0 {
        2
    } else if totals.infected > 0 {
        1
    } else {
        0
    }
}

fn progress_bar(json: bool) -> ProgressBar {
    let target = if json {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(None, target);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {pos} files scanned [{elapsed}]") {
        bar.set_style(style);
    }
    bar
}

/// Lists files in walk order; returns the number of directories scanned.
fn walk(paths: &[PathBuf], recursive: bool, jobs: &Sender<Job>) -> u64 {
    let mut seq = 0u64;
    let mut dirs = 0u64;
    let send = |job: Job| jobs.send(job).is_ok();
    for path in paths {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                if !send(Job::Failed(seq, path.display().to_string(), e)) {
                    return dirs;
                }
                seq += 1;
                continue;
            }
        };
        if !meta.is_dir() {
            if !send(Job::File(seq, path.clone())) {
                return dirs;
            }
            seq += 1;
            continue;
        }
        let depth = if recursive { usize::MAX } else { 1 };
        for entry in walkdir::WalkDir::new(path)
            .max_depth(depth)
            .sort_by_file_name()
        {
            let job = match entry {
                Ok(e) if e.file_type().is_dir() => {
                    dirs += 1;
                    continue;
                }
                Ok(e) if e.file_type().is_file() => Job::File(seq, e.into_path()),
                Ok(_) => continue, // symlinks and special files are not followed, as clamscan
                Err(e) => {
                    let p = e
                        .path()
                        .map_or_else(|| path.display().to_string(), |p| p.display().to_string());
                    Job::Failed(
                        seq,
                        p,
                        e.into_io_error()
                            .unwrap_or_else(|| io::Error::other("walk failed")),
                    )
                }
            };
            if !send(job) {
                return dirs;
            }
            seq += 1;
        }
    }
    dirs
}

fn worker(engine: &Engine, opts: &DeepOptions, jobs: &Receiver<Job>, done: &Sender<Done>) {
    let mut scanner = Scanner::new();
    let mut buf = Vec::new();
    for job in jobs.iter() {
        let result = match job {
            Job::Failed(seq, path, e) => Done {
                seq,
                path,
                bytes: 0,
                outcome: Outcome::Failed(e),
            },
            Job::File(seq, path) => {
                let shown = path.display().to_string();
                match read_into(&path, &mut buf) {
                    Ok(()) => Done {
                        seq,
                        path: shown,
                        bytes: buf.len() as u64,
                        outcome: scan(engine, &mut scanner, &buf, opts),
                    },
                    Err(e) => Done {
                        seq,
                        path: shown,
                        bytes: 0,
                        outcome: Outcome::Failed(e),
                    },
                }
            }
        };
        if done.send(result).is_err() {
            return;
        }
    }
}

/// Reads a file into a reused buffer (not mmap: a file truncated while mapped would
/// kill the process with SIGBUS).
fn read_into(path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    File::open(path)?.read_to_end(buf)?;
    Ok(())
}

fn scan(engine: &Engine, scanner: &mut Scanner, data: &[u8], opts: &DeepOptions) -> Outcome {
    let report = DeepScan::new(engine, Blob::borrowed(data), opts.clone()).run(scanner);
    Outcome::Scanned(report.objects.iter().map(Object::of).collect())
}

struct Printer {
    json: bool,
    infected_only: bool,
    verbose: bool,
}

/// `strerror` text without Rust's " (os error N)" suffix, as clamscan prints it.
fn plain_io_error(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl Printer {
    fn print(&mut self, out: &mut impl Write, done: &Done, totals: &mut Totals) -> io::Result<()> {
        let objects = match &done.outcome {
            Outcome::Scanned(objects) => objects,
            Outcome::Failed(e) => {
                totals.errors += 1;
                if self.json {
                    let top = ObjectResult::new(
                        done.path.as_str(),
                        ScanResult::NonScanned(Some(Reason::AccessDenied)),
                    );
                    return self.json_line(out, &top, &[]);
                }
                eprintln!("WARNING: {}: Can't access file", done.path);
                return writeln!(out, "{}: {}", done.path, plain_io_error(e));
            }
        };
        let top = &objects[0];
        let error = matches!(top.overall, Overall::Error(_));
        if error {
            totals.errors += 1;
        } else {
            totals.files += 1;
            totals.bytes += done.bytes;
        }
        let detections: Vec<&str> = objects
            .iter()
            .flat_map(|o| o.detections.iter().map(String::as_str))
            .collect();
        if !detections.is_empty() {
            totals.infected += 1;
        }
        if self.json {
            let head = ObjectResult {
                object: Cow::Borrowed(done.path.as_str()),
                result: top.result(),
                contains_office_macro: top.macros,
            };
            let subs: Vec<ObjectResult<'_>> = objects[1..]
                .iter()
                .map(|o| ObjectResult {
                    object: Cow::Owned(format!("{}//{}", done.path, o.path)),
                    result: o.result(),
                    contains_office_macro: o.macros,
                })
                .collect();
            return self.json_line(out, &head, &subs);
        }
        if self.verbose {
            for o in &objects[1..] {
                let shown = format!("{}//{}", done.path, o.path);
                match (&o.overall, o.detections.first()) {
                    (_, Some(_)) => {
                        for name in &o.detections {
                            writeln!(out, "{shown}: {name} FOUND")?;
                        }
                    }
                    // Found inside: the line of the object inside says what.
                    (Overall::Detected(_), None) => {}
                    (Overall::NotScanned(s), None) => {
                        writeln!(out, "{shown}: Not scanned ({})", s.describe())?
                    }
                    (Overall::Error(e), None) => writeln!(out, "{shown}: {e} ERROR")?,
                    _ if self.infected_only => {}
                    (Overall::Clean, None) => writeln!(out, "{shown}: OK{}", macro_note(o.macros))?,
                }
            }
        }
        if let Overall::Error(e) = top.overall {
            return writeln!(out, "{}: {e} ERROR", done.path);
        }
        if detections.is_empty() {
            if !self.infected_only {
                writeln!(out, "{}: OK{}", done.path, macro_note(top.macros))?;
            }
            return Ok(());
        }
        for name in detections {
            writeln!(out, "{}: {name} FOUND", done.path)?;
        }
        Ok(())
    }

    fn json_line(
        &self,
        out: &mut impl Write,
        top: &ObjectResult<'_>,
        subs: &[ObjectResult<'_>],
    ) -> io::Result<()> {
        let mut line = Vec::with_capacity(128);
        write_scan_v3(&mut line, 0, top, None, subs, !self.verbose);
        line.push(b'\n');
        out.write_all(&line)
    }
}

/// What the verbose listing adds to a clean object holding an Office macro.
fn macro_note(macros: bool) -> &'static str {
    if macros {
        " (contains an Office macro)"
    } else {
        ""
    }
}

fn summary(
    out: &mut impl Write,
    engine: &Engine,
    t: &Totals,
    start: Instant,
    start_date: time::OffsetDateTime,
) -> io::Result<()> {
    let fmt = time::macros::format_description!("[year]:[month]:[day] [hour]:[minute]:[second]");
    let elapsed = start.elapsed().as_secs_f64();
    let mb = t.bytes as f64 / (1024.0 * 1024.0);
    let end_date = time::OffsetDateTime::now_utc();
    writeln!(out, "\n----------- SCAN SUMMARY -----------")?;
    writeln!(out, "Known viruses: {}", engine.signature_count())?;
    writeln!(
        out,
        "Engine version: ringscan {}",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(out, "Scanned directories: {}", t.dirs)?;
    writeln!(out, "Scanned files: {}", t.files)?;
    writeln!(out, "Infected files: {}", t.infected)?;
    if t.errors > 0 {
        writeln!(out, "Total errors: {}", t.errors)?;
    }
    writeln!(out, "Data scanned: {mb:.2} MB")?;
    writeln!(out, "Data read: {mb:.2} MB (ratio 1.00:1)")?;
    writeln!(
        out,
        "Time: {elapsed:.3} sec ({} m {} s)",
        elapsed as u64 / 60,
        elapsed as u64 % 60
    )?;
    writeln!(
        out,
        "Start Date: {}",
        start_date.format(&fmt).unwrap_or_default()
    )?;
    writeln!(
        out,
        "End Date:   {}",
        end_date.format(&fmt).unwrap_or_default()
    )
}
