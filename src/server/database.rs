//! The database a core scans with: a compiled engine and the URL lists loaded with it,
//! plus what VERSION and STATS report about them. Built on a background thread
//! ([`load`] is blocking CPU work) and shared immutably between cores as
//! `Arc<Database>`; a core swaps its `Arc` when a reload publishes a new one, and the
//! old one is freed when the last scan holding it ends.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::db::{self, DbError, LoadOptions};
use crate::engine::{DbVersion, Engine, UrlList};

/// A loaded, compiled database.
pub struct Database {
    /// The engine.
    pub engine: Engine,
    /// The URL lists KAV `checkurl` answers from, loaded and reloaded with the engine.
    pub urls: UrlList,
    /// Version of the newest `.cvd/.cld` (clamd's VERSION shows it).
    pub version: DbVersion,
    /// Signatures loaded.
    pub signatures: usize,
    /// Signatures skipped (unsupported features).
    pub skipped: usize,
    /// Which load this is: 1 at start, +1 per successful reload.
    pub generation: u64,
    /// When it was published.
    pub loaded_at: SystemTime,
    /// Parse plus compile time.
    pub load_time: Duration,
    /// Whether the compiled form came from the on-disk cache.
    pub from_cache: bool,
    /// Engine memory: Hyperscan databases plus tables (approximate).
    pub memory_bytes: usize,
    /// The database files as they were when loading started (see [`fingerprint`]).
    pub files: Fingerprint,
}

impl Database {
    /// Logs what was loaded, at startup and after each reload.
    pub fn log_loaded(&self, what: &str) {
        tracing::info!(
            generation = self.generation,
            signatures = self.signatures,
            url_entries = self.urls.len(),
            skipped = self.skipped,
            version = self.version.version,
            load_ms = self.load_time.as_millis() as u64,
            from_cache = self.from_cache,
            "{what}"
        );
    }
}

/// (path, size, mtime) of every file in the database paths, sorted. It covers every
/// file, not only signature files, so an added or changed `.urls` list triggers a
/// reload too.
pub type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// The files of `paths` (files, or directories one level deep as the loader reads
/// them) with size and modification time.
pub fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    let mut out = Vec::new();
    for p in paths {
        for entry in walkdir::WalkDir::new(p).max_depth(1).into_iter().flatten() {
            if let Ok(meta) = entry.metadata() {
                if meta.is_file() {
                    out.push((entry.into_path(), meta.len(), meta.modified().ok()));
                }
            }
        }
    }
    out.sort();
    out
}

/// Loads and compiles the databases named by `opts` (blocking; run it off the cores).
pub fn load(opts: &LoadOptions, generation: u64) -> Result<Database, DbError> {
    let started = Instant::now();
    // Taken before reading, so a change during the load shows as a change afterwards.
    let files = fingerprint(&opts.paths);
    // The lists first: they are quick, and a bad one fails the load before compiling.
    let urls = db::load_url_lists(opts)?;
    let (engine, report) = db::load(opts)?;
    Ok(Database {
        signatures: engine.signature_count(),
        version: report.version.clone(),
        skipped: report.skipped.len(),
        generation,
        loaded_at: SystemTime::now(),
        load_time: started.elapsed(),
        from_cache: report.from_cache,
        memory_bytes: report.hyperscan_bytes + report.table_bytes,
        files,
        engine,
        urls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reload watcher compares fingerprints: a new or changed URL list must show.
    #[test]
    fn fingerprint_notices_url_lists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.ndb"), "X:0:*:414243\n").unwrap();
        let paths = vec![dir.path().to_path_buf()];
        let before = fingerprint(&paths);
        let list = dir.path().join("a.urls");
        std::fs::write(&list, "malicious evil.example\n").unwrap();
        let added = fingerprint(&paths);
        assert_ne!(before, added);
        assert!(added.iter().any(|(p, _, _)| p == &list));
        std::fs::write(&list, "malicious evil.example\nphishing phish.example\n").unwrap();
        assert_ne!(added, fingerprint(&paths));
    }

    #[test]
    fn load_carries_the_url_lists() {
        let db = load(&LoadOptions::default(), 1).unwrap();
        assert!(!db.urls.is_empty());
        assert_eq!(
            db.urls
                .check("testsafebrowsing.appspot.com/s/phishing.html"),
            Some(crate::engine::UrlCategory::Phishing)
        );

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.ndb"), "X:0:*:414243\n").unwrap();
        std::fs::write(dir.path().join("a.urls"), "malicious evil.example\nbad\n").unwrap();
        let opts = LoadOptions {
            paths: vec![dir.path().to_path_buf()],
            ..LoadOptions::default()
        };
        assert!(matches!(load(&opts, 2), Err(DbError::UrlList(_))));
    }
}
