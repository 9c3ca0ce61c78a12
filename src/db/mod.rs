//! Signature databases on disk: files and directories handed to the engine's builder,
//! and the compiled-database cache kept as files. This is the only place the engine's
//! inputs touch the filesystem, so the CLI and the server load databases the same way.
//! URL lists (`.urls`) live among the database files and are read here too, by
//! [`load_url_lists`].

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::engine::{
    builtin, urls, CompiledCache, DbBuilder, Engine, LoadError, LoadReport, UrlList, UrlListError,
};

/// Why databases did not load.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A path could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The engine refused the contents.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A URL list has a bad line.
    #[error(transparent)]
    UrlList(#[from] UrlListError),
}

/// Options of a load.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Database files and directories; empty means the built-in database.
    pub paths: Vec<PathBuf>,
    /// Fail on any skipped signature.
    pub strict: bool,
    /// Where compiled databases are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
}

/// The default cache directory: `$RINGSCAN_CACHE_DIR`, else `$XDG_CACHE_HOME/ringscan`,
/// else `~/.cache/ringscan`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("RINGSCAN_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("ringscan"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ringscan"))
}

/// Loads and compiles the databases.
pub fn load(opts: &LoadOptions) -> Result<(Engine, LoadReport), DbError> {
    let mut builder = if opts.paths.is_empty() {
        builtin::builder()
    } else {
        DbBuilder::new()
    };
    builder = builder.strict(opts.strict);
    for path in &opts.paths {
        add_path(&mut builder, path)?;
    }
    let cache = opts.cache_dir.as_ref().map(|d| DiskCache::new(d.clone()));
    Ok(builder.build(cache.as_ref().map(|c| c as &dyn CompiledCache))?)
}

/// Loads the URL lists: the built-in one when `opts.paths` is empty, otherwise every
/// `.urls` file named directly or found in a database directory (not recursive, as
/// [`add_path`]). A bad line fails the whole load, so a reload keeps the old lists.
pub fn load_url_lists(opts: &LoadOptions) -> Result<UrlList, DbError> {
    if opts.paths.is_empty() {
        return Ok(urls::builtin());
    }
    let mut list = UrlList::default();
    for path in &opts.paths {
        let meta = fs::metadata(path).map_err(io_err(path))?;
        let files = if meta.is_dir() {
            dir_files(path)?
        } else {
            vec![path.clone()]
        };
        for file in files.iter().filter(|f| is_url_list(f)) {
            let bytes = fs::read(file).map_err(io_err(file))?;
            list.parse_bytes(&file.display().to_string(), &bytes)?;
        }
    }
    Ok(list)
}

/// Whether a file is a URL list, by its extension (`.urls`, any case).
fn is_url_list(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("urls"))
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DbError + '_ {
    move |source| DbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Adds a database file, or every database file of a directory (not recursive, as
/// ClamAV's database directory). When both `X.cvd` and `X.cld` exist, the newer
/// version is loaded, as freshclam leaves the older one behind.
pub fn add_path(builder: &mut DbBuilder, path: &Path) -> Result<(), DbError> {
    let meta = fs::metadata(path).map_err(io_err(path))?;
    let files = if meta.is_dir() {
        dir_files(path)?
    } else {
        vec![path.to_path_buf()]
    };
    let superseded = superseded_containers(&files);
    // URL lists are not read here: the builder would only drop them.
    for file in (files.iter()).filter(|f| !superseded.contains(f) && !is_url_list(f)) {
        let bytes = fs::read(file).map_err(io_err(file))?;
        builder.add_file(&file.display().to_string(), bytes, false)?;
    }
    Ok(())
}

/// The files of a database directory, sorted; subdirectories are not entered.
fn dir_files(dir: &Path) -> Result<Vec<PathBuf>, DbError> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Of each `X.cvd`/`X.cld` pair, the one with the lower header version.
fn superseded_containers(files: &[PathBuf]) -> Vec<PathBuf> {
    let version = |p: &Path| -> u32 {
        let mut head = [0u8; 512];
        let read = fs::File::open(p).and_then(|mut f| io::Read::read_exact(&mut f, &mut head));
        match read {
            Ok(()) => crate::engine::cvd::parse_header(&head).map_or(0, |h| h.version),
            Err(_) => 0,
        }
    };
    let mut out = Vec::new();
    for f in files {
        if f.extension().is_some_and(|e| e == "cvd") {
            let cld = f.with_extension("cld");
            if files.contains(&cld) {
                out.push(if version(f) > version(&cld) {
                    cld
                } else {
                    f.clone()
                });
            }
        }
    }
    out
}

/// Compiled databases as files `<dir>/<key>.hsdb`, written atomically (temp file and
/// rename) so a crash never leaves a torn entry; the newest few are kept.
pub struct DiskCache {
    dir: PathBuf,
}

/// How many cache entries survive pruning.
const KEEP_ENTRIES: usize = 4;
/// Age after which a leftover temp file is removed.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(600);

impl DiskCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: PathBuf) -> Self {
        DiskCache { dir }
    }

    fn path(&self, key: &[u8; 32]) -> PathBuf {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.hsdb"))
    }

    /// Keeps the newest entries, and removes temp files a killed writer left behind
    /// (older than [`STALE_TEMP`], so a concurrent writer's file survives).
    fn prune(&self) -> io::Result<()> {
        let now = std::time::SystemTime::now();
        let mut entries = Vec::new();
        for e in fs::read_dir(&self.dir)?.filter_map(|e| e.ok()) {
            let (path, Ok(modified)) = (e.path(), e.metadata().and_then(|m| m.modified())) else {
                continue;
            };
            let ext = path
                .extension()
                .map(|x| x.to_string_lossy().into_owned())
                .unwrap_or_default();
            if ext == "hsdb" {
                entries.push((modified, path));
            } else if ext.starts_with("tmp")
                && now
                    .duration_since(modified)
                    .is_ok_and(|age| age > STALE_TEMP)
            {
                let _ = fs::remove_file(path);
            }
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (_, p) in entries.into_iter().skip(KEEP_ENTRIES) {
            let _ = fs::remove_file(p);
        }
        Ok(())
    }
}

impl CompiledCache for DiskCache {
    fn get(&self, key: &[u8; 32]) -> Option<Vec<u8>> {
        fs::read(self.path(key)).ok()
    }

    fn put(&self, key: &[u8; 32], bytes: &[u8]) {
        let path = self.path(key);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let result = fs::create_dir_all(&self.dir)
            .and_then(|_| fs::write(&tmp, bytes))
            .and_then(|_| fs::rename(&tmp, &path))
            .and_then(|_| self.prune());
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            tracing::warn!("writing compiled-database cache {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::UrlCategory;

    const NDB: &str = "Test.Sig:0:*:72696e677363616e2d746573742d626f6479\n";

    fn opts(paths: Vec<PathBuf>) -> LoadOptions {
        LoadOptions {
            paths,
            ..LoadOptions::default()
        }
    }

    #[test]
    fn directory_with_signatures_and_url_list_loads_both() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("local.ndb"), NDB).unwrap();
        fs::write(
            dir.path().join("local.urls"),
            "# test list\nphishing phish.example/login\n",
        )
        .unwrap();
        fs::write(dir.path().join("more.URLS"), "adware ads.example\n").unwrap();
        // Lists in subdirectories are not read, as signature files are not.
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/x.urls"), "malicious sub.example\n").unwrap();
        let o = opts(vec![dir.path().to_path_buf()]);

        let (engine, report) = load(&o).unwrap();
        assert_eq!(engine.signature_count(), 1);
        assert!(report.notices.is_empty(), "{:?}", report.notices);
        assert_eq!(report.files.len(), 1, "{:?}", report.files);

        let list = load_url_lists(&o).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            list.check("https://phish.example/login/x"),
            Some(UrlCategory::Phishing)
        );
        assert_eq!(list.check("ads.example"), Some(UrlCategory::Adware));
        assert_eq!(list.check("sub.example"), None);
    }

    #[test]
    fn url_list_named_directly_and_builtin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("direct.urls");
        fs::write(&file, "riskware risky.example\n").unwrap();
        let ndb = dir.path().join("sigs.ndb");
        fs::write(&ndb, NDB).unwrap();
        let list = load_url_lists(&opts(vec![file, ndb])).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list.check("risky.example"), Some(UrlCategory::Riskware));

        let builtin = load_url_lists(&LoadOptions::default()).unwrap();
        assert!(!builtin.is_empty());
        assert_eq!(
            builtin.check("http://malware.testing.google.test/testing/malware/"),
            Some(UrlCategory::Malicious)
        );
    }

    #[test]
    fn bad_url_line_fails_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.ndb"), NDB).unwrap();
        let bad = dir.path().join("bad.urls");
        fs::write(&bad, "malicious ok.example\n\nsuspicious what.example\n").unwrap();
        let err = load_url_lists(&opts(vec![dir.path().to_path_buf()])).unwrap_err();
        assert!(matches!(err, DbError::UrlList(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("{}:3: unknown category", bad.display())),
            "{text}"
        );
    }

    #[test]
    fn builder_takes_url_lists_without_notice() {
        let mut b = builtin::builder();
        b.add_file("x.urls", b"not a signature\n".to_vec(), false)
            .unwrap();
        let (_, report) = b.build(None).unwrap();
        assert!(report.notices.is_empty(), "{:?}", report.notices);
        assert!(!report.files.iter().any(|f| f.ends_with(".urls")));
    }

    #[test]
    fn missing_path_is_an_io_error() {
        let err = load_url_lists(&opts(vec![PathBuf::from("/nonexistent/ringscan")]));
        assert!(matches!(err, Err(DbError::Io { .. })));
    }
}
