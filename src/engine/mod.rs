//! The signature engine: ClamAV databases in, verdicts out. Pure: no sockets, no files
//! (callers hand in bytes), no global state.
//!
//! The types follow the compile/scan split (see `../shared/STYLE.md`):
//! [`DbBuilder`] collects database files and `build`s an immutable [`Engine`]
//! (`Send + Sync`, shared by every core behind an `Arc`, replaced whole on reload);
//! each thread owns a [`Scanner`] (Hyperscan scratch and reusable buffers) and scans
//! with `scanner.scan(&engine, bytes)`. How bodies become Hyperscan anchors is in
//! `compile.rs`, how hits are verified exactly in `verify.rs`.

mod build;
pub mod builtin;
pub mod cache;
mod compile;
pub mod cvd;
pub mod deep;
mod hashes;
mod names;
mod report;
mod scan;
pub mod sig;
pub mod urls;
mod verify;

use std::sync::atomic::{AtomicU64, Ordering};

use hyperscan::BlockDatabase;

pub use build::{DbBuilder, LoadError};
pub use cache::{CacheError, CompiledCache};
pub use compile::seq_regex;
pub use deep::{DeepLimits, DeepOptions, DeepReport, DeepScan, ObjectReport, Overall};
pub use names::SigId;
pub use report::{Counts, DbVersion, LoadReport, SkipRecord};
pub use scan::{LargeScan, ScanOptions, ScanReport, Scanner, Verdict, SCAN_WINDOW};
pub use urls::{UrlCategory, UrlList, UrlListError};

/// A content signature's place in the engine.
#[derive(Clone, Copy, Debug)]
struct ContentInfo {
    sig: SigId,
    target: u8,
}

/// A logical signature's place in the engine.
#[derive(Clone, Debug)]
struct LdbInfo {
    sig: SigId,
    target: u8,
    file_size: Option<(u64, u64)>,
    expr: sig::logic::LogicExpr,
    /// First slot of its subsignature counters in the scanner.
    base: u32,
    nsub: u32,
}

/// A loaded, compiled signature database. Immutable; share it with `Arc`.
pub struct Engine {
    names: names::NameTable,
    hashes: hashes::HashIndex,
    allow: hashes::HashIndex,
    contents: Vec<ContentInfo>,
    ldbs: Vec<LdbInfo>,
    total_subsigs: u32,
    /// Logical signatures whose expression holds with no match at all (`0=0`,
    /// `(0|1)=0`, `0<1`): ClamAV evaluates every one on every object, so these can
    /// fire without any anchor hit.
    ldbs_true_at_zero: Vec<u32>,
    anchors: compile::AnchorTable,
    hs: Option<BlockDatabase>,
    /// The anchors that can occur in normalized text (same pattern ids as `hs`); `None`
    /// when there are none, and then text is not normalized at all.
    text_hs: Option<BlockDatabase>,
    version: DbVersion,
    signatures: usize,
    id: u64,
}

/// Gives every engine an identity, so a scanner knows when its scratch was grown for
/// another one.
static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);

impl Engine {
    /// The database version (newest container) and its build time.
    pub fn version(&self) -> &DbVersion {
        &self.version
    }

    /// Number of usable signatures.
    pub fn signature_count(&self) -> usize {
        self.signatures
    }

    /// The name of a signature.
    pub fn name(&self, id: SigId) -> &str {
        self.names.get(id)
    }

    /// Approximate heap bytes outside Hyperscan.
    fn table_memory(&self) -> usize {
        let prepared: usize = self
            .anchors
            .prepared
            .iter()
            .map(|p| (p.prefix_rev.len() + p.rest.len()) * std::mem::size_of::<sig::Elem>() + 96)
            .sum();
        self.names.memory()
            + self.hashes.memory()
            + self.allow.memory()
            + prepared
            + self.anchors.uses.len() * 4
            + self
                .anchors
                .exprs
                .iter()
                .map(|e| e.expr.len() + 32)
                .sum::<usize>()
            + self.contents.len() * std::mem::size_of::<ContentInfo>()
            + self.ldbs.len() * (std::mem::size_of::<LdbInfo>() + 64)
    }

    fn fresh_id() -> u64 {
        NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
