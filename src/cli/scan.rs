//! `ringscan scan`: clamscan's interface on all cores.
//!
//! One walker thread lists the files, one worker per core reads and scans them (each
//! with its own `Scanner` and read buffer, like the server's cores), and the main
//! thread prints results in the order the walk produced them (a small reorder buffer),
//! so the output is the same whatever the number of workers. Output lines, the summary
//! and exit codes follow clamscan; `--json` writes one KAV v3 response object per file.

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
use crate::engine::{Engine, ScanOptions, Scanner, Verdict};
use crate::proto::kav::{response::write_scan_v3, ObjectResult};

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
}

/// A file to scan, numbered in walk order.
enum Job {
    File(u64, PathBuf),
    /// A path that could not be listed or opened: reported in its place.
    Failed(u64, String, io::Error),
}

enum Outcome {
    Clean,
    Found(Vec<String>),
    Failed(io::Error),
    Error(String),
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
    let opts = ScanOptions {
        all_matches: args.all_match,
        ..ScanOptions::default()
    };
    let mut totals = Totals::default();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut printer = Printer {
        json: args.json,
        infected_only: args.infected,
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
                outcome: scan(&engine, &mut Scanner::new(), &data, opts),
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
            std::thread::spawn(move || worker(&engine, opts, &rx, &tx))
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

fn worker(engine: &Engine, opts: ScanOptions, jobs: &Receiver<Job>, done: &Sender<Done>) {
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

fn scan(engine: &Engine, scanner: &mut Scanner, data: &[u8], opts: ScanOptions) -> Outcome {
    let report = scanner.scan(engine, data, opts);
    match report.verdict() {
        Verdict::Clean => Outcome::Clean,
        Verdict::Detected(_) => Outcome::Found(report.detections().map(str::to_string).collect()),
        Verdict::NotScanned(r) | Verdict::Error(r) => Outcome::Error(r.to_string()),
    }
}

struct Printer {
    json: bool,
    infected_only: bool,
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
        match &done.outcome {
            Outcome::Clean | Outcome::Found(_) => {
                totals.files += 1;
                totals.bytes += done.bytes;
            }
            Outcome::Failed(_) | Outcome::Error(_) => totals.errors += 1,
        }
        if let Outcome::Found(_) = done.outcome {
            totals.infected += 1;
        }
        if self.json {
            let verdict = match &done.outcome {
                Outcome::Clean => Verdict::Clean,
                Outcome::Found(names) => Verdict::Detected(&names[0]),
                Outcome::Failed(_) => Verdict::NotScanned("ACCESS DENIED"),
                Outcome::Error(e) => Verdict::Error(e),
            };
            let mut line = Vec::with_capacity(128);
            let top = ObjectResult::new(done.path.as_str(), verdict.into());
            write_scan_v3(&mut line, 0, &top, None, &[], true);
            line.push(b'\n');
            return out.write_all(&line);
        }
        match &done.outcome {
            Outcome::Clean if !self.infected_only => writeln!(out, "{}: OK", done.path),
            Outcome::Clean => Ok(()),
            Outcome::Found(names) => {
                for name in names {
                    writeln!(out, "{}: {name} FOUND", done.path)?;
                }
                Ok(())
            }
            Outcome::Failed(e) => {
                eprintln!("WARNING: {}: Can't access file", done.path);
                writeln!(out, "{}: {}", done.path, plain_io_error(e))
            }
            Outcome::Error(e) => writeln!(out, "{}: {e} ERROR", done.path),
        }
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
