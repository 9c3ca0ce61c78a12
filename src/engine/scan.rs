//! The per-thread [`Scanner`] and what a scan returns.
//!
//! A scan is: hash signatures (a digest only when some signature has this size), then
//! one Hyperscan pass over the anchors with exact verification of each hit, then the
//! logical signatures whose subsignatures were touched, then the allow list for a
//! detection. All per-scan state lives in the scanner and is reset, not reallocated,
//! so a scan in the steady state allocates nothing.

use hyperscan::prelude::*;
use hyperscan::Scratch;

use super::compile::{Owner, Prepared};
use super::hashes::Digests;
use super::names::SigId;
use super::verify::{Dir, Walker};
use super::Engine;
use crate::formats;

/// Options of one scan.
#[derive(Clone, Copy, Debug)]
pub struct ScanOptions {
    /// Keep matching after the first detection (clamd's ALLMATCHSCAN, clamscan's
    /// `--allmatch`).
    pub all_matches: bool,
    /// Also match text objects in ClamAV's normalized form (default, as clamscan
    /// does). It costs a second pass over text-like objects, which ClamAV's text
    /// detection makes of most binary data too; off, only the raw bytes are matched.
    pub normalize_text: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            all_matches: false,
            normalize_text: true,
        }
    }
}

/// The outcome of a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// No signature matched.
    Clean,
    /// A signature matched; its name as clamd reports it.
    Detected(&'a str),
    /// The object was not scanned (limits, unsupported content ...).
    NotScanned(&'a str),
    /// The scan failed.
    Error(&'a str),
}

/// What [`Scanner::scan`] returns; borrows the scanner's buffers and the engine's names.
pub struct ScanReport<'a> {
    engine: &'a Engine,
    hits: &'a [SigId],
    error: Option<&'static str>,
    /// Verifications that ran out of step budget (counted as no match).
    pub budget_exhausted: u32,
}

impl<'a> ScanReport<'a> {
    /// The verdict: the first detection, or clean, or the error.
    pub fn verdict(&self) -> Verdict<'a> {
        if let Some(e) = self.error {
            return Verdict::Error(e);
        }
        match self.hits.first() {
            Some(&id) => Verdict::Detected(self.engine.name(id)),
            None => Verdict::Clean,
        }
    }

    /// The matching signatures, in the order found (one unless `all_matches`); the
    /// engine names them ([`Engine::name`]).
    pub fn ids(&self) -> &'a [SigId] {
        self.hits
    }

    /// The engine's error, if the scan failed.
    pub fn error(&self) -> Option<&'static str> {
        self.error
    }

    /// Every detection, in the order found (one unless `all_matches`).
    pub fn detections(&self) -> impl Iterator<Item = &'a str> + 'a {
        let engine = self.engine;
        self.hits.iter().map(move |&id| engine.name(id))
    }
}

/// Per-thread scanning state. Reuse one per thread; it follows engine reloads by
/// growing its scratch the first time it meets a new engine (call [`Scanner::prepare`]
/// to do that ahead of time, off the request path).
pub struct Scanner {
    scratch: Option<Scratch>,
    prepared_for: u64,
    hits: Vec<SigId>,
    counts: Vec<u32>,
    /// `stamp[ldb] == generation` marks a logical signature touched in this scan.
    stamp: Vec<u32>,
    touched: Vec<u32>,
    generation: u32,
    digests: Digests,
    /// The normalized copy of a text object, reused between scans.
    normalized: Vec<u8>,
}

/// The ClamAV target type of normalized text ("ASCII").
const TEXT_TARGET: u8 = 7;

impl Default for Scanner {
    fn default() -> Self {
        Self::new()
    }
}

impl Scanner {
    /// A scanner with no scratch yet.
    pub fn new() -> Self {
        Scanner {
            scratch: None,
            prepared_for: 0,
            hits: Vec::new(),
            counts: Vec::new(),
            stamp: Vec::new(),
            touched: Vec::new(),
            generation: 0,
            digests: Digests::default(),
            normalized: Vec::new(),
        }
    }

    /// Grows the scratch and counters for `engine`. Cheap when already done.
    pub fn prepare(&mut self, engine: &Engine) -> Result<(), String> {
        if self.prepared_for == engine.id {
            return Ok(());
        }
        // One scratch serves both databases once grown for each.
        for db in [&engine.hs, &engine.text_hs].into_iter().flatten() {
            match &mut self.scratch {
                Some(s) => db
                    .realloc_scratch(s)
                    .map(|_| ())
                    .map_err(|e| e.to_string())?,
                None => self.scratch = Some(db.alloc_scratch().map_err(|e| e.to_string())?),
            }
        }
        self.counts.clear();
        self.counts.resize(engine.total_subsigs as usize, 0);
        self.stamp.clear();
        self.stamp.resize(engine.ldbs.len(), 0);
        self.generation = 0;
        self.prepared_for = engine.id;
        Ok(())
    }

    /// One Hyperscan pass over `data` with verification and logical signatures.
    /// `file_type` overrides recognition: the normalized-text pass is type 7, and it
    /// runs the text database.
    fn content_pass(
        &mut self,
        engine: &Engine,
        data: &[u8],
        file_type: Option<u8>,
        all: bool,
    ) -> (Option<&'static str>, u32) {
        let db = if file_type == Some(TEXT_TARGET) {
            &engine.text_hs
        } else {
            &engine.hs
        };
        let (Some(db), Some(scratch)) = (db, &self.scratch) else {
            return (None, 0);
        };
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        self.touched.clear();
        let mut ctx = MatchCtx {
            engine,
            data,
            file_type,
            hits: &mut self.hits,
            counts: &mut self.counts,
            stamp: &mut self.stamp,
            touched: &mut self.touched,
            generation: self.generation,
            all,
            exhausted: 0,
        };
        let mut error = None;
        match db.scan(data, scratch, |id, _from, to, _flags| {
            ctx.on_anchor(id, to as usize)
        }) {
            Ok(()) => {}
            Err(hyperscan::Error::Hyperscan(hyperscan::HsError::ScanTerminated)) => {}
            Err(e) => {
                tracing::error!("hyperscan scan failed: {e}");
                error = Some("Hyperscan scan failed");
            }
        }
        ctx.finish_logical();
        (error, ctx.exhausted)
    }

    /// Scans `data` with `engine`.
    pub fn scan<'a>(
        &'a mut self,
        engine: &'a Engine,
        data: &[u8],
        opts: ScanOptions,
    ) -> ScanReport<'a> {
        self.hits.clear();
        self.digests.clear();
        let mut report_error: Option<&'static str> = None;
        let mut exhausted = 0u32;
        if let Err(e) = self.prepare(engine) {
            tracing::error!("allocating Hyperscan scratch: {e}");
            return ScanReport {
                engine,
                hits: &[],
                error: Some("Can't allocate memory"),
                budget_exhausted: 0,
            };
        }
        if data.len() > u32::MAX as usize {
            return ScanReport {
                engine,
                hits: &[],
                error: Some("object larger than 4 GiB"),
                budget_exhausted: 0,
            };
        }

        // ClamAV's order: the raw bytes' content signatures, then the hash
        // signatures, then the normalized text. It decides which detection is
        // reported first when several match (clamd reports a body signature over a
        // hash signature of the same object).
        let (error, spent) = self.content_pass(engine, data, None, opts.all_matches);
        report_error = report_error.or(error);
        exhausted += spent;

        if self.hits.is_empty() || opts.all_matches {
            let hits = &mut self.hits;
            engine
                .hashes
                .lookup_each(data, &mut self.digests, &mut |id| {
                    hits.push(SigId(id));
                    opts.all_matches
                });
        }
        // Text is also matched in ClamAV's normalized form (lower case, whitespace
        // runs folded), where target-7 signatures apply too (`formats/text.rs`).
        if (self.hits.is_empty() || opts.all_matches)
            && opts.normalize_text
            && engine.text_hs.is_some()
        {
            let mut normalized = std::mem::take(&mut self.normalized);
            if crate::formats::text::normalize_into(data, &mut normalized) {
                let (error, spent) =
                    self.content_pass(engine, &normalized, Some(TEXT_TARGET), opts.all_matches);
                report_error = report_error.or(error);
                exhausted += spent;
            }
            self.normalized = normalized;
        }

        // The allow list clears a detection of this exact object.
        if !self.hits.is_empty()
            && !engine.allow.is_empty()
            && engine.allow.lookup(data, &mut self.digests).is_some()
        {
            self.hits.clear();
        }
        ScanReport {
            engine,
            hits: &self.hits,
            error: report_error,
            budget_exhausted: exhausted,
        }
    }
}

struct MatchCtx<'s, 'e> {
    engine: &'e Engine,
    data: &'s [u8],
    file_type: Option<u8>,
    hits: &'s mut Vec<SigId>,
    counts: &'s mut [u32],
    stamp: &'s mut [u32],
    touched: &'s mut Vec<u32>,
    generation: u32,
    all: bool,
    exhausted: u32,
}

impl MatchCtx<'_, '_> {
    fn file_type(&mut self) -> u8 {
        *self
            .file_type
            .get_or_insert_with(|| formats::target_type(self.data))
    }

    fn target_ok(&mut self, target: u8) -> bool {
        target == 0 || self.file_type() == target
    }

    /// One anchor hit ending at `end`: verify every body it serves.
    fn on_anchor(&mut self, id: u32, end: usize) -> Matching {
        let engine = self.engine;
        for &p in engine.anchors.uses_of(id) {
            let prepared = &engine.anchors.prepared[p as usize];
            match prepared.owner {
                Owner::Content(c) => {
                    let info = engine.contents[c as usize];
                    if !self.all && !self.hits.is_empty() {
                        return Matching::Terminate;
                    }
                    if self.hits.contains(&info.sig) || !self.target_ok(info.target) {
                        continue;
                    }
                    if self.verify(prepared, end) {
                        self.hits.push(info.sig);
                        if !self.all {
                            return Matching::Terminate;
                        }
                    }
                }
                Owner::Subsig { ldb, sub } => {
                    if !self.ldb_applies(ldb) {
                        continue;
                    }
                    let info = &engine.ldbs[ldb as usize];
                    if self.verify(prepared, end) {
                        if self.stamp[ldb as usize] != self.generation {
                            self.stamp[ldb as usize] = self.generation;
                            self.touched.push(ldb);
                            let base = info.base as usize;
                            self.counts[base..base + info.nsub as usize]
                                .iter_mut()
                                .for_each(|c| *c = 0);
                        }
                        self.counts[info.base as usize + sub as usize] += 1;
                    }
                }
            }
        }
        Matching::Continue
    }

    /// Exact check of a body whose anchor ends at `end`.
    fn verify(&mut self, p: &Prepared, end: usize) -> bool {
        let Some(start) = end.checked_sub(p.anchor_len as usize) else {
            return false;
        };
        let size = self.data.len() as u64;
        let mut walker = Walker::new(self.data);
        let found = walker.walk(&p.rest, start, Dir::Forward, &mut |_| true)
            && walker.walk(&p.prefix_rev, start, Dir::Backward, &mut |s| {
                p.offset.allows(s as u64, size)
            });
        if walker.exhausted {
            self.exhausted += 1;
        }
        // A walk that ran out of budget proves nothing: no match.
        found && !walker.exhausted
    }

    /// Whether a logical signature's target type and size fit this object.
    fn ldb_applies(&mut self, ldb: u32) -> bool {
        let info = &self.engine.ldbs[ldb as usize];
        let size = self.data.len() as u64;
        let target = info.target;
        info.file_size
            .is_none_or(|(lo, hi)| (lo..=hi).contains(&size))
            && self.target_ok(target)
    }

    /// Evaluates the logical signatures whose subsignatures matched, then those that
    /// hold with no match and were not touched.
    fn finish_logical(&mut self) {
        let engine = self.engine;
        for i in 0..self.touched.len() {
            if !self.all && !self.hits.is_empty() {
                return;
            }
            let info = &engine.ldbs[self.touched[i] as usize];
            let base = info.base as usize;
            if info
                .expr
                .eval(&self.counts[base..base + info.nsub as usize])
                && !self.hits.contains(&info.sig)
            {
                self.hits.push(info.sig);
            }
        }
        for &ldb in &engine.ldbs_true_at_zero {
            if !self.all && !self.hits.is_empty() {
                return;
            }
            let sig = engine.ldbs[ldb as usize].sig;
            if self.stamp[ldb as usize] != self.generation
                && self.ldb_applies(ldb)
                && !self.hits.contains(&sig)
            {
                self.hits.push(sig);
            }
        }
    }
}
