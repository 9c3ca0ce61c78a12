//! What a database load did: counts per format, every skipped signature with its file,
//! line and reason, notices, and compile figures. `ringscan db info` prints it; the
//! server will log it on every (re)load.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// One signature left out, and why.
#[derive(Clone, Debug, Serialize)]
pub struct SkipRecord {
    /// Database file (inside a container: `main.cvd:main.ndb`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// Signature name, when known.
    pub name: String,
    /// Why it was left out.
    pub reason: String,
}

/// Signatures loaded, by kind.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    /// MD5 hash signatures.
    pub md5: usize,
    /// SHA1 hash signatures.
    pub sha1: usize,
    /// SHA256 hash signatures.
    pub sha256: usize,
    /// Allow-list entries (`.fp`, `.sfp`).
    pub allow: usize,
    /// Ignore-list entries (`.ign`, `.ign2`).
    pub ignore_entries: usize,
    /// Signatures dropped because an ignore list names them.
    pub ignored: usize,
    /// Content (`.ndb`) signatures.
    pub content: usize,
    /// Logical (`.ldb`) signatures.
    pub logical: usize,
}

impl Counts {
    /// Every usable signature.
    pub fn total(&self) -> usize {
        self.md5 + self.sha1 + self.sha256 + self.content + self.logical
    }
}

/// The version of the newest `.cvd`/`.cld` loaded: what clamd's `VERSION` and the KAV
/// API's `basesdate` report.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct DbVersion {
    /// Container version number (0 when no container was loaded).
    pub version: u32,
    /// Database build time, Unix seconds (load time when no container was loaded).
    pub time_unix: i64,
}

/// The whole report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadReport {
    /// Database files read, in load order.
    pub files: Vec<String>,
    /// Signatures loaded.
    pub counts: Counts,
    /// Every skipped signature.
    pub skipped: Vec<SkipRecord>,
    /// Unknown files and other remarks.
    pub notices: Vec<String>,
    /// Distinct Hyperscan anchors (literals plus regex windows).
    pub anchors: usize,
    /// Of those, regex windows.
    pub regex_anchors: usize,
    /// Of those, the ones in the normalized-text database (anchors that can occur in
    /// normalized text, of target 0 or 7 signatures).
    pub text_anchors: usize,
    /// Time to parse the text.
    #[serde(serialize_with = "secs")]
    pub parse_time: Duration,
    /// Time to compile (or load from cache) the Hyperscan database.
    #[serde(serialize_with = "secs")]
    pub compile_time: Duration,
    /// Whether the Hyperscan database came from the compiled-database cache.
    pub from_cache: bool,
    /// Hyperscan database bytes.
    pub hyperscan_bytes: usize,
    /// Engine memory besides Hyperscan (tables, names, verification data), approximate.
    pub table_bytes: usize,
    /// Database version.
    pub version: DbVersion,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        writeln!(f, "Files: {}", self.files.len())?;
        for file in &self.files {
            writeln!(f, "  {file}")?;
        }
        writeln!(
            f,
            "Database version: {} ({})",
            self.version.version, self.version.time_unix
        )?;
        writeln!(f, "Signatures loaded: {}", c.total())?;
        writeln!(f, "  hash MD5:     {}", c.md5)?;
        writeln!(f, "  hash SHA1:    {}", c.sha1)?;
        writeln!(f, "  hash SHA256:  {}", c.sha256)?;
        writeln!(f, "  content ndb:  {}", c.content)?;
        writeln!(f, "  logical ldb:  {}", c.logical)?;
        writeln!(f, "  allow list:   {}", c.allow)?;
        writeln!(
            f,
            "  ignore list:  {} entries, {} signatures ignored",
            c.ignore_entries, c.ignored
        )?;
        writeln!(f, "Skipped: {}", self.skipped.len())?;
        for s in &self.skipped {
            writeln!(f, "  {}:{}: {}: {}", s.file, s.line, s.name, s.reason)?;
        }
        for n in &self.notices {
            writeln!(f, "Notice: {n}")?;
        }
        writeln!(
            f,
            "Anchors: {} ({} regex windows, {} for normalized text)",
            self.anchors, self.regex_anchors, self.text_anchors
        )?;
        writeln!(f, "Parse time: {:.3} s", self.parse_time.as_secs_f64())?;
        writeln!(
            f,
            "Compile time: {:.3} s{}",
            self.compile_time.as_secs_f64(),
            if self.from_cache { " (from cache)" } else { "" }
        )?;
        writeln!(
            f,
            "Memory: Hyperscan {} KiB, tables {} KiB",
            self.hyperscan_bytes / 1024,
            self.table_bytes / 1024
        )
    }
}
