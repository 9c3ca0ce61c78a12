//! Path commands (SCAN, CONTSCAN, MULTISCAN, ALLMATCHSCAN) and FILDES: which paths
//! may be scanned, walking directories as clamd does, and reading files for the
//! scanner.
//!
//! Every path is resolved (symlinks included) and must lie under one of the
//! configured `allowed_roots`; a path outside, or a symlink leading outside, is
//! answered `Access denied.` without revealing whether it exists. Files are read into
//! a per-core buffer that is reused from file to file; that read is a blocking
//! syscall on the core, normally served from the page cache. We read rather than
//! mmap because a file truncated by someone else while mapped would kill the whole
//! server with SIGBUS.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use super::core::Core;
use std::time::Instant;

use crate::engine::DeepReport;

/// The per-core file buffer keeps at most this much between files.
const RETAINED_FILE_BUFFER: usize = 8 << 20;

thread_local! {
    /// Each executor thread is one core: this is that core's file buffer.
    static FILE_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What scanning one file gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileOutcome {
    /// Nothing found.
    Clean,
    /// Detections (one, or all with ALLMATCHSCAN).
    Found(Vec<String>),
    /// A zero-length file (clamd skips it and says `Empty file` at top level).
    Empty,
    /// Over `max_file_size`: not read (clamd answers OK, KAV `NON_SCANNED (SKIPPED)`).
    TooLarge,
    /// Not readable by us, or outside the allowed roots.
    AccessDenied,
    /// Another failure, with clamd's wording.
    Error(String),
}

/// A path command's target, once checked.
pub enum Target {
    /// A file or directory inside the allowed roots (the resolved path).
    Allowed(PathBuf),
    /// Outside the roots, or through a symlink leading outside.
    Denied,
    /// It cannot be resolved (and its lexical form is inside the roots).
    Missing(io::Error),
}

/// The roots as resolved paths (symlinks followed), once at startup: every check
/// compares resolved paths.
pub fn canonical_roots(roots: &[PathBuf]) -> Vec<PathBuf> {
    roots
        .iter()
        .map(|r| r.canonicalize().unwrap_or_else(|_| lexical(r)))
        .collect()
}

/// Checks `path` against the allowed roots (as [`canonical_roots`] gives them).
pub fn check(roots: &[PathBuf], path: &Path) -> Target {
    match path.canonicalize() {
        Ok(real) if inside(roots, &real) => Target::Allowed(real),
        Ok(_) => Target::Denied,
        // Only say "no such file" for paths the client could scan if they existed:
        // no `..` (which could probe outside, `/etc/x/../..`), and the deepest part
        // that does exist resolves inside the roots.
        Err(e) if !has_parent_dir(path) && existing_ancestor_inside(roots, path) => {
            Target::Missing(e)
        }
        Err(_) => Target::Denied,
    }
}

fn has_parent_dir(path: &Path) -> bool {
    path.components().any(|c| c == Component::ParentDir)
}

fn existing_ancestor_inside(roots: &[PathBuf], path: &Path) -> bool {
    let absolute = lexical(path);
    absolute
        .ancestors()
        .find_map(|a| a.canonicalize().ok())
        .is_some_and(|real| inside(roots, &real))
}

/// Whether a resolved path lies below a resolved root.
pub fn inside(roots: &[PathBuf], path: &Path) -> bool {
    roots.iter().any(|root| path.starts_with(root))
}

/// `path` made absolute with `.` and `..` folded, without touching the filesystem.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    let joined;
    let path = if path.is_absolute() {
        path
    } else {
        joined = std::env::current_dir().unwrap_or_default().join(path);
        &joined
    };
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(p) => out.push(p),
            _ => {}
        }
    }
    out
}

/// One item of a directory walk, in walk order.
pub enum WalkItem {
    /// A regular file to scan.
    File(PathBuf),
    /// An entry that could not be examined (clamd: `File path check failure: ...`).
    StatError(PathBuf, io::Error),
}

/// Walks a file or directory as clamd's `cli_ftw` does for path commands: regular
/// files only, symlinks followed only as configured and never out of the roots (a
/// directory reached through a symlink is entered only if it resolves inside), at
/// most `max_depth` directory levels (0 = unlimited). Lazy: the caller scans as it
/// walks and yields the core between entries, so a huge tree neither stalls the core
/// nor piles up in memory.
pub fn walk<'a>(
    roots: &'a [PathBuf],
    root: &Path,
    follow_dirs: bool,
    follow_files: bool,
    max_depth: u32,
) -> impl Iterator<Item = WalkItem> + 'a {
    let mut walker = walkdir::WalkDir::new(root)
        .follow_links(follow_dirs)
        .sort_by_file_name();
    if max_depth > 0 {
        walker = walker.max_depth(max_depth as usize);
    }
    let fallback = root.to_path_buf();
    walker
        .into_iter()
        .filter_entry(move |e| {
            let linked_dir = e.file_type().is_dir() && e.path_is_symlink();
            !(linked_dir && entry_escapes(roots, e.path()))
        })
        .filter_map(move |entry| match entry {
            Err(e) => {
                let path = e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| fallback.clone());
                // Errors are reported with their path: only for paths inside.
                let shown = path
                    .parent()
                    .and_then(|p| p.canonicalize().ok())
                    .is_some_and(|p| inside(roots, &p));
                shown.then(|| WalkItem::StatError(path, e.into()))
            }
            Ok(entry) => {
                if entry.path_is_symlink() && !entry.file_type().is_dir() && !follow_files {
                    return None;
                }
                let regular = entry.file_type().is_file()
                    || (entry.path_is_symlink() && is_file(entry.path()));
                if !regular {
                    return None;
                }
                let path = entry.into_path();
                (!entry_escapes(roots, &path)).then_some(WalkItem::File(path))
            }
        })
}

fn is_file(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file())
        .unwrap_or(false)
}

fn entry_escapes(roots: &[PathBuf], path: &Path) -> bool {
    match path.canonicalize() {
        Ok(real) => !inside(roots, &real),
        Err(_) => true,
    }
}

/// Scans one file on this core, for the clamd path commands (`clamd.allowed_roots`).
pub async fn scan_file(core: &Core, path: &Path, all_matches: bool) -> FileOutcome {
    let deadline = scan_deadline(core);
    scan_file_below(
        core,
        &core.shared.roots,
        path,
        all_matches,
        false,
        deadline,
        clamd_outcome,
    )
    .await
}

/// Scans one file on this core; `path` was checked against `roots`, and the opened
/// file is checked again. `reply` gets the deep scan's report, or the outcome that
/// kept the file from being scanned (access denied, empty, an error).
pub async fn scan_file_below<R>(
    core: &Core,
    roots: &[PathBuf],
    path: &Path,
    all_matches: bool,
    whole_tree: bool,
    deadline: Option<Instant>,
    reply: impl FnOnce(Result<&DeepReport<'_>, FileOutcome>) -> R,
) -> R {
    // Non-blocking open: a path swapped for a FIFO after the walk must not block the
    // core in open(2); what is not a regular file once open is refused below.
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path);
    let out = match opened {
        Ok(file) if !opened_inside(roots, &file) => {
            // A component was swapped for a symlink after the walk checked it.
            drop(file);
            reply(Err(FileOutcome::AccessDenied))
        }
        Ok(file) if file.metadata().is_ok_and(|m| m.is_file()) => {
            scan_open_file(core, file, all_matches, whole_tree, deadline, reply).await
        }
        Ok(_) => reply(Err(FileOutcome::Error("Not a regular file".into()))),
        Err(e) => reply(Err(open_error(e))),
    };
    core.yield_if_busy().await;
    out
}

/// Whether what was opened really lies inside the roots: the kernel's own name for
/// the descriptor, so a symlink swapped in between check and open is caught.
fn opened_inside(roots: &[PathBuf], file: &File) -> bool {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .is_ok_and(|real| inside(roots, &real))
}

/// Scans a file received with FILDES.
pub async fn scan_fd(
    core: &Core,
    fd: OwnedFd,
    all_matches: bool,
) -> Result<FileOutcome, NotRegular> {
    let file = File::from(fd);
    match file.metadata() {
        Ok(m) if m.is_file() => Ok(scan_open_file(
            core,
            file,
            all_matches,
            false,
            scan_deadline(core),
            clamd_outcome,
        )
        .await),
        _ => Err(NotRegular),
    }
}

/// When a clamd scan started now must end (`limits.max_scan_time`, MaxScanTime).
pub fn scan_deadline(core: &Core) -> Option<Instant> {
    let limit = core.shared.config.limits.max_scan_time;
    (!limit.is_zero()).then(|| Instant::now() + limit)
}

/// The descriptor passed with FILDES is not a regular file (clamd refuses those).
#[derive(Debug)]
pub struct NotRegular;

fn open_error(e: io::Error) -> FileOutcome {
    if e.kind() == io::ErrorKind::PermissionDenied {
        FileOutcome::AccessDenied
    } else if e.kind() == io::ErrorKind::OutOfMemory {
        FileOutcome::Error("Can't allocate memory".into())
    } else {
        FileOutcome::Error(format!("Can't open file or directory ({e})"))
    }
}

async fn scan_open_file<R>(
    core: &Core,
    file: File,
    all_matches: bool,
    whole_tree: bool,
    deadline: Option<Instant>,
    reply: impl FnOnce(Result<&DeepReport<'_>, FileOutcome>) -> R,
) -> R {
    let size = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => return reply(Err(open_error(e))),
    };
    if size == 0 {
        return reply(Err(FileOutcome::Empty));
    }
    // Like clamd without AlertExceedsMax: a file over MaxFileSize is not scanned and
    // not reported.
    let limit = core.shared.config.limits.max_file_size;
    if limit != 0 && size > limit {
        return reply(Err(FileOutcome::TooLarge));
    }
    // The core's buffer is taken out for the scan, which yields: another file scan
    // on this core meanwhile reads into a buffer of its own.
    let mut buf = FILE_BUFFER.with(|cell| std::mem::take(&mut *cell.borrow_mut()));
    let out = match read_whole(core, &file, size, &mut buf).await {
        Err(e) => reply(Err(open_error(e))),
        Ok(()) => {
            drop(file);
            core.scan_deep(&buf, all_matches, whole_tree, deadline, |report| {
                reply(Ok(report))
            })
            .await
        }
    };
    if buf.capacity() <= RETAINED_FILE_BUFFER {
        FILE_BUFFER.with(|cell| *cell.borrow_mut() = buf);
    }
    out
}

/// Bytes read per `pread` before the core may yield.
const READ_PIECE: usize = 4 << 20;

/// Reads the file from offset 0 with `pread`, as clamd does: a descriptor passed with
/// FILDES may sit at any offset, and its offset (shared with the client) is left alone.
/// The buffer reserves the whole size up front (address space) and is filled a piece
/// at a time, yielding in between: a 200 MB file then costs the core's other requests
/// a few milliseconds at most, not one long read and a burst of page faults.
async fn read_whole(core: &Core, file: &File, size: u64, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    let size = usize::try_from(size).map_err(|_| io::ErrorKind::OutOfMemory)?;
    // A huge (say sparse) file is an error for this request, not an abort.
    buf.try_reserve_exact(size)
        .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    let mut at = 0usize;
    while at < size {
        let end = (at + READ_PIECE).min(size);
        buf.resize(end, 0);
        match file.read_at(&mut buf[at..end], at as u64) {
            Ok(0) => break, // shrank meanwhile: scan what is there
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        buf.truncate(at);
        core.yield_if_busy().await;
    }
    buf.truncate(at);
    Ok(())
}

/// What clamd answers for a file: the deep scan's outcome, or why it was not
/// scanned; a file over `max_file_size` is clean, as clamd without `AlertExceedsMax`.
fn clamd_outcome(scanned: Result<&DeepReport<'_>, FileOutcome>) -> FileOutcome {
    match scanned {
        Ok(report) => outcome_of(report),
        Err(FileOutcome::TooLarge) => FileOutcome::Clean,
        Err(other) => other,
    }
}

/// A deep scan's report as a clamd file outcome: every detection (one unless
/// ALLMATCHSCAN), or clean; what a limit left unscanned does not change it (clamd
/// without `AlertExceedsMax`).
pub fn outcome_of(report: &DeepReport<'_>) -> FileOutcome {
    let found: Vec<String> = report.detections().map(str::to_owned).collect();
    if !found.is_empty() {
        FileOutcome::Found(found)
    } else if let Some(e) = report.top().error {
        FileOutcome::Error(e.to_string())
    } else {
        FileOutcome::Clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_contain_only_their_subtrees() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("allowed");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("f"), b"x").unwrap();
        std::fs::write(dir.path().join("outside"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("link")).unwrap();
        let roots = canonical_roots(std::slice::from_ref(&root));
        assert!(matches!(check(&roots, &root.join("f")), Target::Allowed(_)));
        assert!(matches!(
            check(&roots, &root.join("../outside")),
            Target::Denied
        ));
        assert!(matches!(check(&roots, &root.join("link")), Target::Denied));
        assert!(matches!(
            check(&roots, &root.join("missing")),
            Target::Missing(_)
        ));
        assert!(matches!(
            check(&roots, Path::new("/etc/nonexistent-ringscan")),
            Target::Denied
        ));
        assert!(matches!(check(&[], &root.join("f")), Target::Denied));
        // Probing outside through `..` says nothing about existence.
        assert!(matches!(
            check(&roots, &root.join("missing/../../nothing-here")),
            Target::Denied
        ));
        assert!(matches!(
            check(&roots, &root.join("../outside/../allowed/missing")),
            Target::Denied
        ));
        // A directory outside, reachable by a symlink inside, is not entered.
        let away = dir.path().join("away");
        std::fs::create_dir(&away).unwrap();
        std::fs::write(away.join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(&away, root.join("dirlink")).unwrap();
        // A walk that follows symlinks still never leaves the roots.
        let items = walk(&roots, &root, true, true, 0);
        let files: Vec<_> = items
            .filter_map(|i| match i {
                WalkItem::File(p) => Some(p.file_name().unwrap().to_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(files, vec![std::ffi::OsString::from("f")]);
    }
}
