//! The corpus: every regular file under a directory, in a stable order.

use std::fs;
use std::path::{Path, PathBuf};

/// Every regular file under `dir` (recursively, symlinks not followed), sorted; an
/// empty corpus is an error.
pub fn walk(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let out = ringscan_perf::load::objects::walk(dir)?;
    if out.is_empty() {
        return Err(format!("{}: no files", dir.display()));
    }
    Ok(out)
}

/// Number of files and bytes under `dir`.
pub fn size(dir: &Path) -> Result<(usize, u64), String> {
    let files = walk(dir)?;
    let mut bytes = 0;
    for f in &files {
        bytes += fs::metadata(f)
            .map_err(|e| format!("{}: {e}", f.display()))?
            .len();
    }
    Ok((files.len(), bytes))
}

/// Every file under `dir`, read into memory.
pub struct Corpus {
    /// File contents, in walk order.
    pub files: Vec<Vec<u8>>,
    /// Their total size.
    pub bytes: u64,
}

/// Reads the whole corpus, but a top-level `manifest.tsv` (bench-corpus's list of the
/// files, no corpus object; `ringscan-perf closed` leaves it out too).
pub fn load(dir: &Path) -> Result<Corpus, String> {
    let mut files = Vec::new();
    let mut bytes = 0;
    for path in walk(dir)? {
        if path.parent() == Some(dir) && path.file_name().is_some_and(|n| n == "manifest.tsv") {
            continue;
        }
        let data = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        bytes += data.len() as u64;
        files.push(data);
    }
    Ok(Corpus { files, bytes })
}
