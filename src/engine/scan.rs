//! The per-thread [`Scanner`] and what a scan returns.
//!
//! A scan is: hash signatures (a digest only when some signature has this size), then
//! one Hyperscan pass over the anchors with exact verification of each hit, then the
//! logical signatures whose subsignatures were touched, then the allow list for a
//! detection. All per-scan state lives in the scanner and is reset, not reallocated,
//! so a scan in the steady state allocates nothing.
//!
//! [`LargeScan`] does the same scan of one large object in windows, one per step, so
//! a cooperative executor can yield between them; its result is identical.

use hyperscan::prelude::*;
use hyperscan::{BlockDatabase, Scratch};

use super::compile::{Owner, Prepared, MAX_WINDOW};
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

/// What [`Scanner::scan`] and [`LargeScan::report`] return; borrows the scan state's
/// buffers and the engine's names.
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
///
/// The Hyperscan scratch is the expensive part and is per thread; the per-scan state
/// ([`ScanState`]: hits, logical counters, digests) is separate so that a
/// [`LargeScan`] can keep its own across yields while the same scanner (and scratch)
/// serves other objects in between.
pub struct Scanner {
    scratch: Option<Scratch>,
    /// The engine the scratch was grown for.
    scratch_for: u64,
    state: ScanState,
    /// The normalized copy of a text object, reused between scans.
    normalized: Vec<u8>,
}

/// The state of one scan: what it found, the logical signatures' counters and the
/// object's digests. [`Scanner`] reuses one for every [`Scanner::scan`] (reset, not
/// reallocated); each [`LargeScan`] owns one, so its counters survive the scans the
/// scanner runs between two of its steps.
struct ScanState {
    /// The engine `counts` and `stamp` are sized for (0: none yet).
    engine: u64,
    hits: Vec<SigId>,
    counts: Vec<u32>,
    /// `stamp[ldb] == generation` marks a logical signature touched in this pass.
    stamp: Vec<u32>,
    touched: Vec<u32>,
    generation: u32,
    digests: Digests,
}

/// The ClamAV target type of normalized text ("ASCII").
const TEXT_TARGET: u8 = 7;

/// Bytes of new content one [`LargeScan::step`] hands to Hyperscan: 256 KiB, well
/// under a millisecond of scanning (the server's yield period), so small requests
/// queued on the same executor core are not held up behind a large object.
pub const SCAN_WINDOW: usize = 256 << 10;

/// How far consecutive windows overlap: every anchor is at most [`MAX_WINDOW`] bytes
/// long, so any match ending in a window starts at most this many bytes before the
/// previous window's end, and is seen whole there.
const OVERLAP: usize = MAX_WINDOW as usize - 1;

impl Default for Scanner {
    fn default() -> Self {
        Self::new()
    }
}

impl ScanState {
    fn new() -> Self {
        ScanState {
            engine: 0,
            hits: Vec::new(),
            counts: Vec::new(),
            stamp: Vec::new(),
            touched: Vec::new(),
            generation: 0,
            digests: Digests::default(),
        }
    }

    /// Sizes the counters for `engine`. Cheap when already done.
    fn prepare(&mut self, engine: &Engine) {
        if self.engine == engine.id {
            return;
        }
        self.counts.clear();
        self.counts.resize(engine.total_subsigs as usize, 0);
        self.stamp.clear();
        self.stamp.resize(engine.ldbs.len(), 0);
        self.generation = 0;
        self.engine = engine.id;
    }

    /// Starts a content pass: no logical signature touched yet.
    fn begin_pass(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        self.touched.clear();
    }

    /// The matching context of the current pass over `data` (the whole object).
    fn ctx<'s, 'e>(
        &'s mut self,
        engine: &'e Engine,
        data: &'s [u8],
        file_type: Option<u8>,
        all: bool,
    ) -> MatchCtx<'s, 'e> {
        MatchCtx {
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
        }
    }

    /// Whether the scan goes on after the content pass: nothing found yet, or all
    /// matches wanted.
    fn wants_more(&self, all: bool) -> bool {
        self.hits.is_empty() || all
    }

    /// The hash signatures, after the raw content pass (ClamAV's order).
    fn hash_pass(&mut self, engine: &Engine, data: &[u8], all: bool) {
        if self.wants_more(all) {
            let hits = &mut self.hits;
            engine
                .hashes
                .lookup_each(data, &mut self.digests, &mut |id| {
                    hits.push(SigId(id));
                    all
                });
        }
    }

    /// The allow list clears a detection of this exact object.
    fn allow_pass(&mut self, engine: &Engine, data: &[u8]) {
        if !self.hits.is_empty()
            && !engine.allow.is_empty()
            && engine.allow.lookup(data, &mut self.digests).is_some()
        {
            self.hits.clear();
        }
    }
}

/// The database a pass runs: the text one for normalized text (type 7).
fn pass_db(engine: &Engine, file_type: Option<u8>) -> Option<&BlockDatabase> {
    if file_type == Some(TEXT_TARGET) {
        engine.text_hs.as_ref()
    } else {
        engine.hs.as_ref()
    }
}

/// How one Hyperscan call over a window ended.
enum WindowEnd {
    /// Scanned to its end.
    Done,
    /// The callback stopped it (first match found, not all wanted).
    Terminated,
    /// Hyperscan failed.
    Failed,
}

/// Scans `ctx.data[ws..we]`, reporting anchor hits to the verifier with absolute end
/// offsets. Hits ending at or before `seen_to` (the previous window's end) were
/// reported by that window already and are dropped; every anchor is fixed-length and
/// at most [`MAX_WINDOW`] bytes, so with `ws <= seen_to - OVERLAP` each match is
/// reported exactly once across the windows, as one scan of the whole object would.
fn scan_window(
    db: &BlockDatabase,
    scratch: &Scratch,
    ctx: &mut MatchCtx<'_, '_>,
    (ws, we): (usize, usize),
    seen_to: Option<usize>,
) -> WindowEnd {
    let data = ctx.data;
    match db.scan(&data[ws..we], scratch, |id, _from, to, _flags| {
        let end = ws + to as usize;
        if seen_to.is_some_and(|s| end <= s) {
            return Matching::Continue;
        }
        ctx.on_anchor(id, end)
    }) {
        Ok(()) => WindowEnd::Done,
        Err(hyperscan::Error::Hyperscan(hyperscan::HsError::ScanTerminated)) => {
            WindowEnd::Terminated
        }
        Err(e) => {
            tracing::error!("hyperscan scan failed: {e}");
            WindowEnd::Failed
        }
    }
}

impl Scanner {
    /// A scanner with no scratch yet.
    pub fn new() -> Self {
        Scanner {
            scratch: None,
            scratch_for: 0,
            state: ScanState::new(),
            normalized: Vec::new(),
        }
    }

    /// Grows the scratch and counters for `engine`. Cheap when already done. Touches
    /// only this scanner's own scan state, never a [`LargeScan`]'s.
    pub fn prepare(&mut self, engine: &Engine) -> Result<(), String> {
        self.prepare_scratch(engine)?;
        self.state.prepare(engine);
        Ok(())
    }

    /// Grows the scratch for `engine`.
    fn prepare_scratch(&mut self, engine: &Engine) -> Result<(), String> {
        if self.scratch_for == engine.id {
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
        self.scratch_for = engine.id;
        Ok(())
    }

    /// One Hyperscan pass over `data` with verification and logical signatures.
    /// `file_type` overrides recognition: the normalized-text pass is type 7, and it
    /// runs the text database.
    fn content_pass(
        state: &mut ScanState,
        scratch: Option<&Scratch>,
        engine: &Engine,
        data: &[u8],
        file_type: Option<u8>,
        all: bool,
    ) -> (Option<&'static str>, u32) {
        let (Some(db), Some(scratch)) = (pass_db(engine, file_type), scratch) else {
            return (None, 0);
        };
        state.begin_pass();
        let mut ctx = state.ctx(engine, data, file_type, all);
        let error = match scan_window(db, scratch, &mut ctx, (0, data.len()), None) {
            WindowEnd::Done | WindowEnd::Terminated => None,
            WindowEnd::Failed => Some("Hyperscan scan failed"),
        };
        ctx.finish_logical();
        (error, ctx.exhausted)
    }

    /// Scans `data` with `engine`, in one go. For objects so large that one
    /// Hyperscan call would hold the thread too long, see [`LargeScan`].
    pub fn scan<'a>(
        &'a mut self,
        engine: &'a Engine,
        data: &[u8],
        opts: ScanOptions,
    ) -> ScanReport<'a> {
        self.state.hits.clear();
        self.state.digests.clear();
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
        let Scanner {
            scratch,
            state,
            normalized,
            ..
        } = self;

        // ClamAV's order: the raw bytes' content signatures, then the hash
        // signatures, then the normalized text. It decides which detection is
        // reported first when several match (clamd reports a body signature over a
        // hash signature of the same object).
        let (error, spent) = Self::content_pass(
            state,
            scratch.as_ref(),
            engine,
            data,
            None,
            opts.all_matches,
        );
        report_error = report_error.or(error);
        exhausted += spent;

        state.hash_pass(engine, data, opts.all_matches);
        // Text is also matched in ClamAV's normalized form (lower case, whitespace
        // runs folded), where target-7 signatures apply too (`formats/text.rs`).
        if state.wants_more(opts.all_matches)
            && opts.normalize_text
            && engine.text_hs.is_some()
            && crate::formats::text::normalize_into(data, normalized)
        {
            let (error, spent) = Self::content_pass(
                state,
                scratch.as_ref(),
                engine,
                normalized,
                Some(TEXT_TARGET),
                opts.all_matches,
            );
            report_error = report_error.or(error);
            exhausted += spent;
        }

        state.allow_pass(engine, data);
        ScanReport {
            engine,
            hits: &self.state.hits,
            error: report_error,
            budget_exhausted: exhausted,
        }
    }
}

/// Where a [`LargeScan`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Windows of the raw content pass.
    Raw,
    /// Windows of the normalized-text pass.
    Text,
    /// Finished; the report is final.
    Done,
}

/// A scan of one large object in windows, resumable across yields, with exactly the
/// result [`Scanner::scan`] gives.
///
/// Why: one Hyperscan block scan of a 100 MB object holds the thread for 100+ ms, and
/// on a cooperative executor every small request queued on that core waits for it.
/// A `LargeScan` scans [`SCAN_WINDOW`] bytes per [`step`](LargeScan::step), so the
/// caller can yield between steps; the same [`Scanner`] (its scratch) may scan other
/// objects in between, because this scan's own state (hits, logical counters,
/// digests) lives here. It borrows nothing, so it can be held across `.await`s.
///
/// Exactness: consecutive windows overlap by `MAX_WINDOW - 1` bytes (every anchor is
/// fixed-length and no longer), hits already reported by the previous window are
/// dropped, and hits are verified against the whole object with absolute offsets, so
/// every anchor hit is verified exactly once, in the same order, as in one scan
/// (offsets such as `EOF-n`, gaps and logical counts across window boundaries
/// included). After the last raw window come, as in [`Scanner::scan`], the logical
/// signatures, the hash signatures, the normalized-text pass (itself in windows, only
/// for the text objects it applies to) and the allow list.
pub struct LargeScan {
    state: ScanState,
    opts: ScanOptions,
    len: usize,
    window: usize,
    stage: Stage,
    /// End of the last window of the current pass (`None` before its first).
    scanned_to: Option<usize>,
    /// The object's recognized type, kept between windows of the raw pass.
    file_type: Option<u8>,
    /// The normalized copy of a text object, for the text pass.
    normalized: Vec<u8>,
    error: Option<&'static str>,
    exhausted: u32,
}

impl LargeScan {
    /// A scan of an object of `len` bytes with `engine`, in windows of
    /// [`SCAN_WINDOW`] bytes. Every [`step`](Self::step) must get the same engine and
    /// the same `len` bytes.
    pub fn new(engine: &Engine, len: usize, opts: ScanOptions) -> LargeScan {
        let mut state = ScanState::new();
        state.prepare(engine);
        let mut scan = LargeScan {
            state,
            opts,
            len,
            window: SCAN_WINDOW,
            stage: Stage::Raw,
            scanned_to: None,
            file_type: None,
            normalized: Vec::new(),
            error: None,
            exhausted: 0,
        };
        if len > u32::MAX as usize {
            scan.fail("object larger than 4 GiB");
        }
        scan
    }

    /// Scans `window` bytes per step instead of [`SCAN_WINDOW`] (at least one).
    pub fn with_window(mut self, window: usize) -> LargeScan {
        self.window = window.max(1);
        self
    }

    /// Whether the scan is finished ([`step`](Self::step) returned true).
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Ends the scan with an error and no detection, as [`Scanner::scan`] reports one.
    fn fail(&mut self, error: &'static str) {
        self.state.hits.clear();
        self.error = Some(error);
        self.stage = Stage::Done;
    }

    /// Does one window of work with `scanner`'s scratch; true when the scan is
    /// finished and [`report`](Self::report) final. `data` is the whole object, the
    /// same bytes at every step (verification reads around the window). The steps
    /// after the last raw window also run the logical and hash signatures, the
    /// normalized-text windows and the allow list.
    pub fn step(&mut self, scanner: &mut Scanner, engine: &Engine, data: &[u8]) -> bool {
        if self.stage == Stage::Done {
            return true;
        }
        if engine.id != self.state.engine {
            tracing::error!("large scan stepped with another engine");
            self.fail("engine changed during the scan");
            return true;
        }
        if data.len() != self.len {
            tracing::error!(
                "large scan of {} bytes stepped with {} bytes",
                self.len,
                data.len()
            );
            self.fail("object changed during the scan");
            return true;
        }
        if let Err(e) = scanner.prepare_scratch(engine) {
            tracing::error!("allocating Hyperscan scratch: {e}");
            self.fail("Can't allocate memory");
            return true;
        }
        let all = self.opts.all_matches;
        let scratch = scanner.scratch.as_ref();
        match self.stage {
            Stage::Raw => {
                if !self.window_step(scratch, engine, data, None) {
                    return false;
                }
                self.state.hash_pass(engine, data, all);
                self.scanned_to = None;
                if self.state.wants_more(all)
                    && self.opts.normalize_text
                    && engine.text_hs.is_some()
                    && crate::formats::text::normalize_into(data, &mut self.normalized)
                {
                    // Normalizing was this step's work; the text windows follow.
                    self.stage = Stage::Text;
                    return false;
                }
            }
            Stage::Text => {
                let normalized = std::mem::take(&mut self.normalized);
                let pass_done = self.window_step(scratch, engine, &normalized, Some(TEXT_TARGET));
                self.normalized = normalized;
                if !pass_done {
                    return false;
                }
                self.normalized = Vec::new();
            }
            Stage::Done => return true,
        }
        self.state.allow_pass(engine, data);
        self.stage = Stage::Done;
        true
    }

    /// One window of the current pass over `data`; true when the pass is over (its
    /// logical signatures evaluated).
    fn window_step(
        &mut self,
        scratch: Option<&Scratch>,
        engine: &Engine,
        data: &[u8],
        file_type: Option<u8>,
    ) -> bool {
        // As in `Scanner::content_pass`: no database, no pass (and no logic).
        let (Some(db), Some(scratch)) = (pass_db(engine, file_type), scratch) else {
            return true;
        };
        let all = self.opts.all_matches;
        if self.scanned_to.is_none() {
            self.state.begin_pass();
        }
        let seen_to = self.scanned_to;
        let ws = seen_to.map_or(0, |s| s.saturating_sub(OVERLAP));
        let we = seen_to
            .map_or(0, |s| s)
            .saturating_add(self.window)
            .min(data.len());
        let known_type = if file_type.is_some() {
            file_type
        } else {
            self.file_type
        };
        let mut ctx = self.state.ctx(engine, data, known_type, all);
        let end = scan_window(db, scratch, &mut ctx, (ws, we), seen_to);
        let pass_over = match end {
            WindowEnd::Done => we == data.len(),
            WindowEnd::Terminated => true,
            WindowEnd::Failed => {
                self.error = self.error.or(Some("Hyperscan scan failed"));
                true
            }
        };
        if pass_over {
            ctx.finish_logical();
        }
        let (spent, seen_type) = (ctx.exhausted, ctx.file_type);
        self.exhausted += spent;
        if file_type.is_none() {
            self.file_type = seen_type;
        }
        self.scanned_to = Some(we);
        pass_over
    }

    /// What the scan found so far; final once [`step`](Self::step) returned true.
    pub fn report<'a>(&'a self, engine: &'a Engine) -> ScanReport<'a> {
        ScanReport {
            engine,
            hits: &self.state.hits,
            error: self.error,
            budget_exhausted: self.exhausted,
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

#[cfg(test)]
mod tests;
