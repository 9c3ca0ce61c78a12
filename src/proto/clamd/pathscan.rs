//! What SCAN, CONTSCAN, MULTISCAN and ALLMATCHSCAN print for a path.
//!
//! A pure tally mirroring session.c `command` and scanner.c `scan_callback` /
//! `scan_pathchk`, driven by the events of libclamav's `cli_ftw` walk
//! (libclamav/others_common.c). The server walks the tree and scans; for each event it
//! calls the matching method here, which appends the line clamd would send (if any),
//! updates clamd's counters and says whether the walk goes on. [`PathScan::finish`]
//! prints the final `<path>: OK` by clamd's rule.
//!
//! clamd's rules, for SCAN / CONTSCAN / ALLMATCHSCAN:
//! - every callback counts in `total`, the top-level directory, skipped symlinks and
//!   special files included; excluded paths (`scan_pathchk`) do not;
//! - clean files print nothing; a detection prints `<file>: <name> FOUND` with the
//!   file's real path; ALLMATCHSCAN prints one such line per match, each counting as
//!   one infection (`clamd_virus_found_cb`);
//! - `Access denied.` and path-check failures are counted as errors and never stop;
//!   SCAN and ALLMATCHSCAN (both `TYPE_SCAN`) stop at the first detection *or* other
//!   scan error; CONTSCAN stops only on `Can't allocate memory`;
//! - at the end, unless the walk died on `Can't allocate memory`, `<path>: OK` iff
//!   `ok + error == total && error != total` with `ok = total - error - infected` in
//!   `unsigned` arithmetic, i.e. iff nothing was found and not everything failed. So a directory whose only file is unreadable
//!   still ends with `dir: OK` (the directory itself counted as ok), an empty
//!   directory prints `dir: OK`, and a non-existent path prints no OK.
//!
//! MULTISCAN of a directory (`TYPE_MULTISCAN`) hands each file to a worker job with
//! its own counters and judges by the jobs only (`thrmgr_group_waitforall`): a job is
//! ok (clean), error (error and no detection) or other (detection); directory, skip and
//! path-check events print their lines but do not count. An empty directory therefore
//! prints *no* OK, unlike SCAN. MULTISCAN never stops early, prints no `Excluded`
//! lines, and MULTISCAN of a path that `stat` shows is not a directory is CONTSCAN
//! ([`ScanKind::resolve`]).

use super::command::Command;
use super::reply::Reply;

/// Which path command is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScanKind {
    /// SCAN: stop at the first detection or scan error.
    Scan,
    /// CONTSCAN: keep going.
    ContScan,
    /// MULTISCAN of a directory: per-file jobs, judged by job outcomes.
    MultiScan,
    /// ALLMATCHSCAN: SCAN that reports every match of a file.
    AllMatchScan,
}

impl ScanKind {
    /// The kind for a path command, `None` for other commands.
    pub fn of(command: &Command<'_>) -> Option<ScanKind> {
        match command {
            Command::Scan(_) => Some(ScanKind::Scan),
            Command::ContScan(_) => Some(ScanKind::ContScan),
            Command::MultiScan(_) => Some(ScanKind::MultiScan),
            Command::AllMatchScan(_) => Some(ScanKind::AllMatchScan),
            _ => None,
        }
    }

    /// session.c `command`: "use MULTISCAN only for directories": when `stat` of the
    /// path succeeds and it is not a directory, MULTISCAN runs as CONTSCAN. When
    /// `stat` fails it stays MULTISCAN.
    pub fn resolve(self, stat_ok_and_not_dir: bool) -> ScanKind {
        match self {
            ScanKind::MultiScan if stat_ok_and_not_dir => ScanKind::ContScan,
            kind => kind,
        }
    }
}

/// A libclamav scan error, with clamd's text for it (libclamav/others.c
/// `cl_strerror`). Printed as `<path>: <text> ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScanError {
    /// `CL_EOPEN`: open failed with anything but EACCES.
    Open,
    /// `CL_ESTAT`.
    Stat,
    /// `CL_EREAD`.
    Read,
    /// `CL_EMAP`.
    Map,
    /// `CL_EMEM`: also stops CONTSCAN.
    Mem,
    /// `CL_ETIMEOUT` (`MaxScanTime`).
    Timeout,
    /// `CL_EMAXREC`.
    MaxRecursion,
    /// `CL_EMAXSIZE`.
    MaxSize,
    /// `CL_EMAXFILES`.
    MaxFiles,
    /// `CL_EFORMAT`.
    Format,
    /// `CL_EPARSE`.
    Parse,
    /// `CL_EUNPACK`.
    Unpack,
    /// `CL_ETMPFILE`.
    TmpFile,
    /// `CL_ETMPDIR`.
    TmpDir,
    /// `CL_ERROR`.
    Unspecified,
}

impl ScanError {
    /// `cl_strerror`'s text.
    pub const fn text(self) -> &'static str {
        match self {
            ScanError::Open => "Can't open file or directory",
            ScanError::Stat => "Can't get file status",
            ScanError::Read => "Can't read file",
            ScanError::Map => "Can't map file into memory",
            ScanError::Mem => "Can't allocate memory",
            ScanError::Timeout => "Exceeded time limit",
            ScanError::MaxRecursion => "Exceeded max recursion depth",
            ScanError::MaxSize => "Exceeded max scan size",
            ScanError::MaxFiles => "Exceeded max scan files",
            ScanError::Format => "Bad format or broken data",
            ScanError::Parse => "Can't parse data",
            ScanError::Unpack => "Can't unpack some data",
            ScanError::TmpFile => "Can't create temporary file",
            ScanError::TmpDir => "Can't create temporary directory",
            ScanError::Unspecified => "Unspecified error",
        }
    }
}

/// The result of scanning one regular, non-empty file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome<'a> {
    /// No detection.
    Clean,
    /// Detections, in match order. SCAN, CONTSCAN and MULTISCAN report the first;
    /// ALLMATCHSCAN reports all. An empty list is clamd's "CL_VIRUS but no virname"
    /// and is reported as `Can't allocate memory`.
    Found(&'a [&'a [u8]]),
    /// Opening the file failed with EACCES: `<path>: Access denied. ERROR`.
    AccessDenied,
    /// Any other scan failure.
    Error(ScanError),
}

/// A walk entry clamd's callback sees but does not scan (`cli_ftw_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skipped {
    /// A symlink not followed (`warning_skipped_link`). `cli_ftw_dir` drops `DT_LNK`
    /// entries without a callback, so this happens for the top-level path, or for
    /// entries whose `d_type` is unknown.
    Link,
    /// Neither file nor directory (`warning_skipped_special`); prints
    /// `Not supported file type ERROR` when it is the top-level path.
    Special,
    /// A directory beyond `MaxDirectoryRecursion` (`warning_skipped_dir`).
    DepthLimit,
    /// A file on /proc (`procdev` check in `scan_callback`).
    ProcFs,
}

/// Whether the walk goes on (`CL_SUCCESS`) or is aborted (`cli_ftw_dir`: "File tree
/// walk aborted").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flow {
    /// Visit the next entry.
    Continue,
    /// Stop walking; go to [`PathScan::finish`].
    Stop,
}

/// clamd's counters at the end of a path command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// `ok` as clamd computes it (may wrap for ALLMATCHSCAN, as in C).
    pub ok: u32,
    /// Errors counted.
    pub errors: u32,
    /// Detections: `total - (ok + error)`, clamd's `*virus`.
    pub infected: u32,
    /// Entries counted.
    pub total: u32,
    /// Whether the final `<path>: OK` was written.
    pub printed_ok: bool,
}

/// The tally for one SCAN / CONTSCAN / MULTISCAN / ALLMATCHSCAN.
#[derive(Debug, Clone)]
pub struct PathScan {
    kind: ScanKind,
    /// `scandata.total / errors / infected` (non-MULTISCAN).
    total: u32,
    errors: u32,
    infected: u32,
    /// Job exits for MULTISCAN (`group->exit_ok / exit_error / exit_total`).
    jobs_ok: u32,
    jobs_error: u32,
    jobs_total: u32,
    /// The walk ended on `CL_EMEM`: `command` returns before the final OK.
    out_of_memory: bool,
}

impl PathScan {
    /// A tally for `kind` (already [`ScanKind::resolve`]d).
    pub fn new(kind: ScanKind) -> PathScan {
        PathScan {
            kind,
            total: 0,
            errors: 0,
            infected: 0,
            jobs_ok: 0,
            jobs_error: 0,
            jobs_total: 0,
            out_of_memory: false,
        }
    }

    /// The kind this tally runs.
    pub fn kind(&self) -> ScanKind {
        self.kind
    }

    fn multi(&self) -> bool {
        self.kind == ScanKind::MultiScan
    }

    fn stops_on_error(&self) -> bool {
        matches!(self.kind, ScanKind::Scan | ScanKind::AllMatchScan)
    }

    /// The top-level path is a directory (`visit_directory_toplev`): counted, silent.
    /// Call before its entries.
    pub fn on_directory(&mut self) {
        if !self.multi() {
            self.total = self.total.wrapping_add(1);
        }
    }

    /// A regular, non-empty file was scanned (`visit_file`). `path` is what clamd
    /// prints for it: the file's `realpath`.
    pub fn on_file(
        &mut self,
        path: &[u8],
        outcome: FileOutcome<'_>,
        reply: &Reply,
        out: &mut Vec<u8>,
    ) -> Flow {
        if self.multi() {
            // A MULTISCANFILE job: scan_callback as TYPE_SCAN, then scanner_thread's
            // exit code. The job's own early return changes nothing visible.
            self.jobs_total = self.jobs_total.wrapping_add(1);
            match outcome {
                FileOutcome::Clean => self.jobs_ok = self.jobs_ok.wrapping_add(1),
                FileOutcome::Found([name, ..]) => reply.virus(out, path, name),
                FileOutcome::Found([]) => {
                    self.jobs_error = self.jobs_error.wrapping_add(1);
                    reply.scan_error(out, path, ScanError::Mem.text().as_bytes());
                }
                FileOutcome::AccessDenied => {
                    self.jobs_error = self.jobs_error.wrapping_add(1);
                    reply.access_denied(out, path);
                }
                FileOutcome::Error(e) => {
                    self.jobs_error = self.jobs_error.wrapping_add(1);
                    reply.scan_error(out, path, e.text().as_bytes());
                }
            }
            return Flow::Continue;
        }
        self.total = self.total.wrapping_add(1);
        match outcome {
            FileOutcome::Clean => Flow::Continue,
            FileOutcome::Found([]) => self.error(path, ScanError::Mem, reply, out),
            FileOutcome::Found(names) => {
                if self.kind == ScanKind::AllMatchScan {
                    // clamd_virus_found_cb: one line and one infection per match;
                    // scan_callback adds nothing after.
                    for name in names {
                        self.infected = self.infected.wrapping_add(1);
                        reply.virus(out, path, name);
                    }
                } else {
                    self.infected = self.infected.wrapping_add(1);
                    reply.virus(out, path, names[0]);
                }
                if self.stops_on_error() {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            }
            FileOutcome::AccessDenied => {
                // Returns CL_SUCCESS before the TYPE_SCAN check: never stops.
                self.errors = self.errors.wrapping_add(1);
                reply.access_denied(out, path);
                Flow::Continue
            }
            FileOutcome::Error(e) => self.error(path, e, reply, out),
        }
    }

    fn error(&mut self, path: &[u8], e: ScanError, reply: &Reply, out: &mut Vec<u8>) -> Flow {
        self.errors = self.errors.wrapping_add(1);
        reply.scan_error(out, path, e.text().as_bytes());
        if e == ScanError::Mem {
            self.out_of_memory = true;
            Flow::Stop
        } else if self.stops_on_error() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// A regular file of size 0. SCAN / CONTSCAN / ALLMATCHSCAN do not scan it and
    /// count it as ok. clamd would print `<path>: Empty file` for the top-level path,
    /// but its pointer test `msg == toplevel_path` never holds since `cli_ftw` passes
    /// a copy of the path, so nothing is printed. MULTISCAN's jobs scan it (they get no
    /// stat), which comes out clean.
    pub fn on_empty_file(&mut self) {
        if self.multi() {
            self.jobs_total = self.jobs_total.wrapping_add(1);
            self.jobs_ok = self.jobs_ok.wrapping_add(1);
        } else {
            self.total = self.total.wrapping_add(1);
        }
    }

    /// `stat`/`lstat` of a path, or `opendir` of a directory, failed (`error_stat`):
    /// `<path>: File path check failure: <strerror>. ERROR`, counted as an error
    /// (except under MULTISCAN); the walk goes on. `path` is the path as walked.
    pub fn on_path_error(
        &mut self,
        path: &[u8],
        strerror: &[u8],
        reply: &Reply,
        out: &mut Vec<u8>,
    ) -> Flow {
        if !self.multi() {
            self.total = self.total.wrapping_add(1);
            self.errors = self.errors.wrapping_add(1);
        }
        reply.path_check_failure(out, path, strerror);
        Flow::Continue
    }

    /// `scan_callback` begins with `cli_realpath` of the entry and, when that fails,
    /// prints `<path>: File path check failure: <strerror>. ERROR` without counting
    /// anything, then handles the event as usual. It fails for the paths a `stat`
    /// failed on (so `SCAN /nonexistent` gets that line twice: once from here, once
    /// from [`PathScan::on_path_error`]) and for dangling symlinks that are skipped.
    /// Not called for `opendir` failures (clamd passes no file name then).
    pub fn on_realpath_failure(
        &self,
        path: &[u8],
        strerror: &[u8],
        reply: &Reply,
        out: &mut Vec<u8>,
    ) {
        reply.path_check_failure(out, path, strerror);
    }

    /// An entry clamd's callback sees but skips. Counted (except under MULTISCAN);
    /// `Special` at the top level prints `<path>: Not supported file type ERROR`
    /// without counting an error, so the command still ends with `<path>: OK`.
    pub fn on_skipped(
        &mut self,
        what: Skipped,
        path: &[u8],
        toplevel: bool,
        reply: &Reply,
        out: &mut Vec<u8>,
    ) -> Flow {
        if !self.multi() {
            self.total = self.total.wrapping_add(1);
        }
        if what == Skipped::Special && toplevel {
            reply.not_supported_file_type(out, path);
        }
        Flow::Continue
    }

    /// `scan_pathchk` excluded a path (`ExcludePath`, or another filesystem with
    /// `CrossFilesystems no`): `<path>: Excluded` / `<path>: Excluded (another
    /// filesystem)` except under MULTISCAN; not counted. An excluded top-level path
    /// therefore ends the command with that line alone.
    pub fn on_excluded(
        &mut self,
        path: &[u8],
        other_filesystem: bool,
        reply: &Reply,
        out: &mut Vec<u8>,
    ) {
        if self.multi() {
            return;
        }
        if other_filesystem {
            reply.excluded_other_filesystem(out, path);
        } else {
            reply.excluded(out, path);
        }
    }

    /// End of the walk (session.c `command`): `<root>: OK` iff `ok + error == total
    /// && error != total`, and the walk was not aborted by `Can't allocate memory`
    /// (`cli_ftw` returning `CL_EMEM` makes `command` return before the test). `root` is the command's path as clamd keeps it: see
    /// [`trim_root`].
    pub fn finish(self, root: &[u8], reply: &Reply, out: &mut Vec<u8>) -> Summary {
        let (ok, errors, total) = if self.multi() {
            (self.jobs_ok, self.jobs_error, self.jobs_total)
        } else {
            let ok = self
                .total
                .wrapping_sub(self.errors)
                .wrapping_sub(self.infected);
            (ok, self.errors, self.total)
        };
        // `if (ret == CL_EMEM) return ...` comes before the OK test.
        let printed_ok = !self.out_of_memory && ok.wrapping_add(errors) == total && errors != total;
        if printed_ok {
            reply.ok(out, root);
        }
        Summary {
            ok,
            errors,
            infected: total.wrapping_sub(ok.wrapping_add(errors)),
            total,
            printed_ok,
        }
    }
}

/// The command path as clamd prints it at the end, and the path it walks.
///
/// `cli_ftw` trims the path in place before walking (`CLI_FTW_TRIM_SLASHES`): trailing
/// `/` are cut in clamd's own copy, so `SCAN /srv/dir/` ends with `/srv/dir: OK`; a
/// leading run of `//` is skipped for the walk only. Paths shorter than 2 bytes are
/// left alone. Returns `(printed, walked)`. When they start differently (leading
/// `//`), clamd's top-level checks fail, so pass `toplevel = false` to
/// [`PathScan::on_skipped`].
pub fn trim_root(path: &[u8]) -> (&[u8], &[u8]) {
    if path.len() < 2 {
        return (path, path);
    }
    let mut start = 0;
    while path[start] == b'/' && path.get(start + 1) == Some(&b'/') {
        start += 1;
    }
    let mut end = path.len();
    while end > start && path[end - 1] == b'/' {
        end -= 1;
    }
    (&path[..end], &path[start..end])
}
