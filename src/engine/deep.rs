//! The scan of one object *and everything inside it*: the driver that walks into
//! containers, scanning each object's bytes with the [`Scanner`] and opening the
//! containers among them with `formats`' unpackers.
//!
//! It is a state machine pulled by [`DeepScan::step`], one unit of work per call (one
//! object scanned, or one unpacker step: a sub-object extracted or a chunk decoded), so
//! the server can yield its core between steps: a 200 MB archive shares the core with
//! the small requests behind it. Nothing here blocks or does I/O; the caller decides
//! when to step (the server yields, the CLI just loops).
//!
//! Limits, as clamd and the KAV configuration name them ([`DeepLimits`]):
//! `max_recursion` (KSE `MaxArchivesScanningDepth`; as in clamd, nothing at that
//! depth or deeper is scanned: the container whose contents would be is reported
//! `Max depth exceeded` instead of opened), `max_files` (sub-objects per scan, refused ones
//! included), `max_file_size` (per object), `max_scan_size` (bytes scanned per scan;
//! decoding that a limit refused is charged against twice that), a compression-ratio
//! guard, and a deadline. What a limit stops is reported as not scanned with the
//! reason, never silently dropped. The objects decoded and held at once are bounded
//! by `max_scan_size` (what is scanned) plus one object being decoded; the decoders'
//! own state (a 7z dictionary, a RAR copy) comes on top, per open container.
//!
//! Results ([`ObjectReport`]) come in walk order, the top object first. Each carries
//! its own detections and what was found in it, so every protocol can print what it
//! needs: clamd the first detection (all with ALLMATCHSCAN), KAV v3 every sub-object,
//! v1/v2 the summary. An unpacker that panics on hostile input (crates are not all
//! hardened) is caught here and its container is reported corrupted.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use super::scan::SCAN_WINDOW;
use super::{Engine, LargeScan, ScanOptions, Scanner, SigId};
use crate::formats::{self, Blob, Budget, Format, Next, Skip, Unpacker};

/// Limits of one deep scan. 0 switches a size or count limit off.
#[derive(Clone, Debug)]
pub struct DeepLimits {
    /// Largest object scanned or extracted (clamd `MaxFileSize`).
    pub max_file_size: u64,
    /// Bytes scanned per scan, sub-objects included (clamd `MaxScanSize`).
    pub max_scan_size: u64,
    /// Objects at this depth or deeper are not scanned; the top object is depth 0
    /// (clamd `MaxRecursion`, KSE `MaxArchivesScanningDepth`).
    pub max_recursion: u32,
    /// Sub-objects per scan: extraction stops at the `max_files`-th, as clamd's does
    /// (clamd `MaxFiles`).
    pub max_files: u32,
    /// Largest decoded/encoded ratio of a sub-object over 1 MiB.
    pub max_ratio: u64,
    /// When to give up (KAV `timeout`, clamd `MaxScanTime`).
    pub deadline: Option<Instant>,
    /// Formats not scanned at all (KSE `FormatsToSkipScanning`).
    pub skip_formats: Vec<Format>,
}

impl Default for DeepLimits {
    /// clamd's defaults.
    fn default() -> Self {
        DeepLimits {
            max_file_size: 100 << 20,
            max_scan_size: 400 << 20,
            max_recursion: 17,
            max_files: 10_000,
            max_ratio: 250,
            deadline: None,
            skip_formats: Vec::new(),
        }
    }
}

/// One scanned (or skipped) object.
#[derive(Clone, Debug)]
pub struct ObjectReport<'e> {
    /// Its path below the top object, names joined by `//` (`x.zip//folder/eicar`);
    /// empty for the top object.
    pub path: String,
    /// Nesting depth (top = 0).
    pub depth: u32,
    /// The recognized format (`Unknown` when it was never read).
    pub format: Format,
    /// Signatures matching its own bytes (the first only, unless all matches).
    pub detections: Vec<&'e str>,
    /// The first detection among the objects inside it.
    pub found_inside: Option<&'e str>,
    /// Why it, or part of it, was not scanned.
    pub skipped: Option<Skip>,
    /// The first reason something inside it was not scanned.
    pub skipped_inside: Option<Skip>,
    /// The engine failed on it.
    pub error: Option<&'static str>,
    /// The engine failed on an object inside it.
    pub error_inside: Option<&'static str>,
    /// It, or something inside it, holds an Office macro project.
    pub macros: bool,
}

/// An object's result with what is inside it counted, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overall<'e> {
    /// A detection (its own first, else the first inside).
    Detected(&'e str),
    /// The engine failed.
    Error(&'static str),
    /// Not (fully) scanned.
    NotScanned(Skip),
    /// Nothing found and everything scanned.
    Clean,
}

impl<'e> ObjectReport<'e> {
    fn new(path: String, depth: u32) -> Self {
        ObjectReport {
            path,
            depth,
            format: Format::Unknown,
            detections: Vec::new(),
            found_inside: None,
            skipped: None,
            skipped_inside: None,
            error: None,
            error_inside: None,
            macros: false,
        }
    }

    /// Its result, what is inside it included.
    pub fn overall(&self) -> Overall<'e> {
        if let Some(name) = self.detections.first().copied().or(self.found_inside) {
            Overall::Detected(name)
        } else if let Some(e) = self.error.or(self.error_inside) {
            Overall::Error(e)
        } else if let Some(s) = self.skipped.or(self.skipped_inside) {
            Overall::NotScanned(s)
        } else {
            Overall::Clean
        }
    }
}

/// What a finished deep scan found.
#[derive(Debug)]
pub struct DeepReport<'e> {
    /// Every object in walk order; `objects[0]` is the top one.
    pub objects: Vec<ObjectReport<'e>>,
    /// Bytes scanned, sub-objects included.
    pub scanned_bytes: u64,
    /// The deadline passed before the scan finished.
    pub timed_out: bool,
}

impl<'e> DeepReport<'e> {
    /// The top object's report.
    pub fn top(&self) -> &ObjectReport<'e> {
        &self.objects[0]
    }

    /// Every detection, in walk order (clamd ALLMATCHSCAN).
    pub fn detections(&self) -> impl Iterator<Item = &'e str> + '_ {
        self.objects
            .iter()
            .flat_map(|o| o.detections.iter().copied())
    }

    /// The sub-objects (all but the top one).
    pub fn sub_objects(&self) -> &[ObjectReport<'e>] {
        &self.objects[1..]
    }
}

/// Options of a deep scan.
#[derive(Clone, Debug, Default)]
pub struct DeepOptions {
    /// Per-object engine options (`all_matches`: every signature of each object).
    pub scan: ScanOptions,
    /// Go on after the first detection (clamd ALLMATCHSCAN; KAV, which lists every
    /// sub-object). Off, the scan ends at the first detection, as clamd's does.
    pub whole_tree: bool,
    /// The limits.
    pub limits: DeepLimits,
}

/// Longest sub-object name kept in a path, in bytes.
pub const MAX_NAME: usize = 255;
/// Longest sub-object path, in bytes (about).
pub const MAX_PATH: usize = 4096;

/// A member name as it goes into a path: `//` separates levels, so runs of `/` are
/// folded and leading ones dropped (`a//b` → `a/b`, `/abs` → `abs`); control
/// characters become `_`; an empty name is `?`.
fn clean_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '/' if out.is_empty() || out.ends_with('/') => {}
            c if c.is_control() => out.push('_'),
            c => out.push(c),
        }
    }
    if out.is_empty() {
        out.push('?');
    }
    out
}

/// The last `max` bytes of `s` (at a character boundary).
fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// The first `max` bytes of `s` (at a character boundary).
fn head(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

struct Frame<'a> {
    unpacker: Box<dyn Unpacker<'a> + 'a>,
    /// The container's report.
    report: usize,
    depth: u32,
}

/// An object whose bytes are being scanned.
struct Scanning<'a> {
    index: usize,
    data: Blob<'a>,
    format: Format,
    depth: u32,
    damaged: Option<Skip>,
}

struct Pending<'a> {
    data: Blob<'a>,
    path: String,
    depth: u32,
    damaged: Option<Skip>,
    parent: Option<usize>,
}

/// A deep scan in progress. Step it until [`DeepScan::step`] says it is done.
pub struct DeepScan<'a, 'e> {
    engine: &'e Engine,
    options: DeepOptions,
    next_object: Option<Pending<'a>>,
    stack: Vec<Frame<'a>>,
    /// Parent of each report (`None` for the top).
    parents: Vec<Option<usize>>,
    objects: Vec<ObjectReport<'e>>,
    scanned_bytes: u64,
    /// Decoding refused by a limit, as an upper bound of what it cost.
    refused_bytes: u64,
    files: u32,
    timed_out: bool,
    stopped: bool,
    /// A large object being scanned a window per step.
    large: Option<(Scanning<'a>, LargeScan)>,
    /// Objects larger than this are scanned a window per step.
    large_object: usize,
}

impl<'a, 'e> DeepScan<'a, 'e> {
    /// A scan of `data` with `engine`.
    pub fn new(engine: &'e Engine, data: Blob<'a>, options: DeepOptions) -> Self {
        DeepScan {
            engine,
            options,
            next_object: Some(Pending {
                data,
                path: String::new(),
                depth: 0,
                damaged: None,
                parent: None,
            }),
            stack: Vec::new(),
            parents: Vec::new(),
            objects: Vec::new(),
            scanned_bytes: 0,
            refused_bytes: 0,
            files: 0,
            timed_out: false,
            stopped: false,
            large: None,
            large_object: SCAN_WINDOW,
        }
    }

    /// Scans objects larger than `bytes` a window of `bytes` per step (tests use
    /// small ones; the default is [`SCAN_WINDOW`]).
    pub fn with_windows(mut self, bytes: usize) -> Self {
        self.large_object = bytes.max(1);
        self
    }

    /// Scans to the end without yielding (the CLI, tests).
    pub fn run(mut self, scanner: &mut Scanner) -> DeepReport<'e> {
        while !self.step(scanner) {}
        self.finish()
    }

    /// Does one unit of work; `true` when the scan is finished.
    pub fn step(&mut self, scanner: &mut Scanner) -> bool {
        if self.stopped {
            return true;
        }
        if self
            .options
            .limits
            .deadline
            .is_some_and(|d| Instant::now() >= d)
        {
            self.timed_out = true;
            if let Some(top) = self.objects.first_mut() {
                top.skipped.get_or_insert(Skip::Timeout);
            }
            self.stop();
            return true;
        }
        if self.large.is_some() {
            self.large_step(scanner);
        } else if let Some(object) = self.next_object.take() {
            self.scan_object(scanner, object);
        } else if !self.stack.is_empty() {
            self.unpack_step();
        } else {
            self.stopped = true;
        }
        self.stopped
    }

    /// The report. Call after [`DeepScan::step`] returned `true`.
    pub fn finish(mut self) -> DeepReport<'e> {
        self.stop();
        if self.objects.is_empty() {
            // Stopped before the top object was scanned (a deadline already past).
            let mut top = ObjectReport::new(String::new(), 0);
            top.skipped = Some(Skip::Timeout);
            self.objects.push(top);
        }
        DeepReport {
            objects: self.objects,
            scanned_bytes: self.scanned_bytes,
            timed_out: self.timed_out,
        }
    }

    /// Ends the walk: open containers are closed (their results propagated).
    fn stop(&mut self) {
        if self.timed_out {
            // What was still open was not scanned to its end.
            for frame in &self.stack {
                self.objects[frame.report]
                    .skipped
                    .get_or_insert(Skip::Timeout);
            }
        }
        self.next_object = None;
        if let Some((object, _)) = self.large.take() {
            // Cut short (the deadline): what it was is not known.
            self.objects[object.index]
                .skipped
                .get_or_insert(Skip::Timeout);
            self.propagate(object.index);
        }
        while !self.stack.is_empty() {
            self.pop_frame();
        }
        self.stopped = true;
    }

    fn push_report(&mut self, path: String, depth: u32, parent: Option<usize>) -> usize {
        self.objects.push(ObjectReport::new(path, depth));
        self.parents.push(parent);
        self.objects.len() - 1
    }

    fn scan_object(&mut self, scanner: &mut Scanner, object: Pending<'a>) {
        let index = self.push_report(object.path, object.depth, object.parent);
        let limits = &self.options.limits;
        let data = object.data;
        let len = data.len() as u64;
        let over = |limit: u64, size: u64| limit != 0 && size > limit;
        // MaxScanSize bounds what the contents add; the input itself is scanned.
        let too_large = over(limits.max_file_size, len)
            || (object.depth > 0 && over(limits.max_scan_size, self.scanned_bytes + len));
        let skip = too_large.then_some(Skip::TooLarge);
        if let Some(reason) = skip {
            self.objects[index].skipped = Some(reason);
            self.propagate(index);
            return;
        }
        let format = formats::recognize(&data);
        self.objects[index].format = format;
        if self.options.limits.skip_formats.contains(&format) {
            self.objects[index].skipped = Some(Skip::Unsupported);
            self.propagate(index);
            return;
        }
        self.scanned_bytes += len;
        let engine = self.engine;
        let object = Scanning {
            index,
            data,
            format,
            depth: object.depth,
            damaged: object.damaged,
        };
        if object.data.len() > self.large_object {
            // Scanned a window per step, so the core can yield in between.
            let scan = LargeScan::new(engine, object.data.len(), self.options.scan)
                .with_window(self.large_object);
            self.large = Some((object, scan));
            return;
        }
        let report = scanner.scan(engine, &object.data, self.options.scan);
        let (ids, error) = (report.ids().to_vec(), report.error());
        self.object_scanned(object, &ids, error);
    }

    /// One window of a large object's scan; its results once the last is done.
    fn large_step(&mut self, scanner: &mut Scanner) {
        let Some((object, mut scan)) = self.large.take() else {
            return;
        };
        let engine = self.engine;
        if !scan.step(scanner, engine, &object.data) {
            self.large = Some((object, scan));
            return;
        }
        let report = scan.report(engine);
        let (ids, error) = (report.ids().to_vec(), report.error());
        self.object_scanned(object, &ids, error);
    }

    /// An object's bytes are scanned: records the result, and opens it if it is a
    /// container.
    fn object_scanned(&mut self, object: Scanning<'a>, ids: &[SigId], error: Option<&'static str>) {
        let engine = self.engine;
        let index = object.index;
        let detections: Vec<&'e str> = ids.iter().map(|&id| engine.name(id)).collect();
        let found = !detections.is_empty();
        let this = &mut self.objects[index];
        this.detections = detections;
        this.error = error;
        this.skipped = object.damaged;
        if found && !self.options.whole_tree {
            self.propagate(index);
            self.stop();
            return;
        }
        let format = object.format;
        if format.is_container() {
            // As clamd: nothing deeper than `max_recursion - 1` is scanned, so a
            // container whose contents would be that deep is not opened.
            if object.depth + 1 >= self.options.limits.max_recursion {
                self.objects[index].skipped.get_or_insert(Skip::MaxDepth);
            } else {
                let data = object.data;
                let opened =
                    catch_unwind(AssertUnwindSafe(|| formats::open_container(format, data)))
                        .unwrap_or(Err(Skip::Corrupted));
                match opened {
                    Ok(unpacker) => {
                        self.stack.push(Frame {
                            unpacker,
                            report: index,
                            depth: object.depth,
                        });
                        return; // propagated when the frame ends
                    }
                    Err(reason) => {
                        self.objects[index].skipped.get_or_insert(reason);
                    }
                }
            }
        }
        self.propagate(index);
    }

    fn unpack_step(&mut self) {
        let limits = &self.options.limits;
        let left = if limits.max_scan_size == 0 {
            u64::MAX
        } else {
            limits.max_scan_size.saturating_sub(self.scanned_bytes)
        };
        let max_file = if limits.max_file_size == 0 {
            u64::MAX
        } else {
            limits.max_file_size
        };
        let budget = Budget {
            max_object: left.min(max_file),
            max_ratio: limits.max_ratio,
            chunk: formats::unpack::DECODE_CHUNK,
        };
        let frame = self.stack.last_mut().expect("a frame");
        let next = catch_unwind(AssertUnwindSafe(|| frame.unpacker.next(&budget)))
            .unwrap_or(Next::Broken(Skip::Corrupted));
        let (report, depth) = (frame.report, frame.depth);
        match next {
            Next::Pending => {}
            Next::End => self.pop_frame(),
            Next::Broken(reason) => {
                self.objects[report].skipped.get_or_insert(reason);
                self.pop_frame();
            }
            Next::Skipped { name, reason } => {
                // A refused sub-object counts as a file, and the decoding it may have
                // cost before it was refused is charged to the scan size, so an
                // archive of many refused members cannot make unbounded work.
                self.files += 1;
                self.refused_bytes += match reason {
                    Skip::TooLarge => budget.max_object,
                    Skip::RatioExceeded => formats::unpack::RATIO_FLOOR,
                    _ => 0,
                };
                if let Some(limit) = self.over_file_or_work_limit() {
                    self.objects[report].skipped.get_or_insert(limit);
                    while !self.stack.is_empty() {
                        self.pop_frame();
                    }
                    return;
                }
                let path = self.child_path(report, &name);
                let index = self.push_report(path, depth + 1, Some(report));
                self.objects[index].skipped = Some(reason);
                self.propagate(index);
            }
            Next::Object(child) => {
                self.files += 1;
                if let Some(limit) = self.over_file_or_work_limit() {
                    // clamd stops extracting for the rest of the scan.
                    self.objects[report].skipped.get_or_insert(limit);
                    while !self.stack.is_empty() {
                        self.pop_frame();
                    }
                    return;
                }
                let path = self.child_path(report, &child.name);
                self.next_object = Some(Pending {
                    data: child.data,
                    path,
                    depth: depth + 1,
                    damaged: child.damaged,
                    parent: Some(report),
                });
            }
        }
    }

    /// Past `max_files`, or decoding refused for more than twice `max_scan_size`:
    /// extraction stops for the rest of the scan, as clamd's does at MaxFiles.
    fn over_file_or_work_limit(&self) -> Option<Skip> {
        let limits = &self.options.limits;
        // clamd with MaxFiles N scans N - 1 members (checked with clamscan 1.4.6).
        if limits.max_files != 0 && self.files >= limits.max_files {
            Some(Skip::TooManyFiles)
        } else if limits.max_scan_size != 0
            && self.refused_bytes > limits.max_scan_size.saturating_mul(2)
        {
            Some(Skip::TooLarge)
        } else {
            None
        }
    }

    /// `parent//name`, with the name cut to [`MAX_NAME`] bytes (its end kept) and
    /// the path to [`MAX_PATH`] (deeper names replace the middle with `...`): names
    /// come from the archive, and a hostile one must not make the report huge.
    fn child_path(&self, parent: usize, name: &str) -> String {
        let name = clean_name(name);
        let name = tail(&name, MAX_NAME);
        let parent = &self.objects[parent].path;
        if parent.is_empty() {
            name.to_owned()
        } else if parent.len() + name.len() > MAX_PATH {
            format!("{}//...//{name}", head(parent, MAX_PATH / 2))
        } else {
            format!("{parent}//{name}")
        }
    }

    /// Closes the innermost container: its macro flag is read and its result passed
    /// up.
    fn pop_frame(&mut self) {
        if let Some(frame) = self.stack.pop() {
            let macros =
                catch_unwind(AssertUnwindSafe(|| frame.unpacker.has_macros())).unwrap_or(false);
            self.objects[frame.report].macros |= macros;
            self.propagate(frame.report);
        }
    }

    /// Passes an object's finished result to its parent.
    fn propagate(&mut self, index: usize) {
        let Some(parent) = self.parents[index] else {
            return;
        };
        let child = &self.objects[index];
        let found = child.detections.first().copied().or(child.found_inside);
        let skipped = child.skipped.or(child.skipped_inside);
        let error = child.error.or(child.error_inside);
        let macros = child.macros;
        let p = &mut self.objects[parent];
        if p.error_inside.is_none() {
            p.error_inside = error;
        }
        if p.found_inside.is_none() {
            p.found_inside = found;
        }
        if p.skipped_inside.is_none() {
            p.skipped_inside = skipped;
        }
        p.macros |= macros;
    }
}

#[cfg(test)]
mod tests;
