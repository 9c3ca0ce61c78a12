//! Replies, byte for byte.
//!
//! The four shapes are session.c's `conn_reply_single` (`path: status`),
//! `conn_reply` (`path: msg status`), `conn_reply_virus` (`file: name FOUND`) and
//! `conn_reply_error` (`msg ERROR`), each optionally prefixed with the session id
//! (`N: `, only when the id is non-zero: `if (conn->id)`) and ended by the request's
//! terminator. The concrete texts below are the literals clamd passes to them, with
//! the C function that sends each one. VERSION and VERSIONCOMMANDS mirror session.c
//! `print_ver` and `print_commands`.
//!
//! clamd formats with `mdprintf` (`%s`), so a path or name is written as given; a NUL
//! in it would end the C string, which cannot happen with clamd's own inputs. Nothing
//! here escapes or checks bytes: the caller passes what clamd would have printed.

use std::io::Write;

use time::{OffsetDateTime, UtcOffset};

use super::command::{Framing, COMMAND_NAMES};

/// Where and how to answer: the session id (`None`, or `Some(0)`, outside IDSESSION:
/// no prefix) and the terminator of the request being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The IDSESSION request number; replies get `N: ` when it is non-zero.
    pub id: Option<u32>,
    /// The byte the reply ends with: [`Framing::terminator`] of the request.
    pub term: u8,
}

/// The database stamp VERSION prints, from `cl_engine_get_num(CL_ENGINE_DB_VERSION /
/// CL_ENGINE_DB_TIME)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbStamp {
    /// The highest database version loaded (daily's, normally); 0 when unknown, and
    /// then clamd prints `ClamAV <version>` alone.
    pub version: u32,
    /// The build time of that database, Unix seconds.
    pub time_unix: i64,
    /// clamd prints the time with `ctime_r`, in the daemon's local time zone; pass the
    /// offset of the zone ringscan should pretend to run in (`UtcOffset::UTC` for the
    /// usual container with `TZ` unset).
    pub utc_offset: UtcOffset,
}

impl DbStamp {
    /// No database version: VERSION prints `ClamAV <version>` only.
    pub const NONE: DbStamp = DbStamp {
        version: 0,
        time_unix: 0,
        utc_offset: UtcOffset::UTC,
    };
}

const OK: &[u8] = b"OK";
const ERROR: &[u8] = b"ERROR";

impl Reply {
    /// A reply with the given session id and terminator.
    pub const fn new(id: Option<u32>, term: u8) -> Reply {
        Reply { id, term }
    }

    /// A reply to a request framed as `framing`.
    pub const fn for_framing(id: Option<u32>, framing: Framing) -> Reply {
        Reply {
            id,
            term: framing.terminator(),
        }
    }

    fn prefix(&self, out: &mut Vec<u8>) {
        if let Some(id) = self.id.filter(|&id| id != 0) {
            // `%u: `; writing to a Vec cannot fail.
            let _ = write!(out, "{id}: ");
        }
    }

    fn path(out: &mut Vec<u8>, path: Option<&[u8]>) {
        if let Some(path) = path {
            out.extend_from_slice(path);
            out.extend_from_slice(b": ");
        }
    }

    /// `conn_reply_single`: `[N: ][path: ]status<term>`.
    pub fn single(&self, out: &mut Vec<u8>, path: Option<&[u8]>, status: &[u8]) {
        self.prefix(out);
        Self::path(out, path);
        out.extend_from_slice(status);
        out.push(self.term);
    }

    /// `conn_reply`: `[N: ][path: ]msg status<term>`.
    pub fn reply(&self, out: &mut Vec<u8>, path: Option<&[u8]>, msg: &[u8], status: &[u8]) {
        self.prefix(out);
        Self::path(out, path);
        out.extend_from_slice(msg);
        out.push(b' ');
        out.extend_from_slice(status);
        out.push(self.term);
    }

    /// `conn_reply_virus`: `[N: ]file: name FOUND<term>` (`stream` for INSTREAM,
    /// `fd[N]` for FILDES, the real path for path scans).
    pub fn virus(&self, out: &mut Vec<u8>, file: &[u8], name: &[u8]) {
        self.prefix(out);
        out.extend_from_slice(file);
        out.extend_from_slice(b": ");
        out.extend_from_slice(name);
        out.extend_from_slice(b" FOUND");
        out.push(self.term);
    }

    /// `conn_reply_error`: `[N: ]msg ERROR<term>`.
    pub fn error(&self, out: &mut Vec<u8>, msg: &[u8]) {
        self.reply(out, None, msg, ERROR);
    }

    /// `conn_reply_errno`: `[N: ][path: ]msg strerror. ERROR<term>`, where `strerror`
    /// is the C library's text for errno (`No such file or directory`).
    pub fn errno(&self, out: &mut Vec<u8>, path: Option<&[u8]>, msg: &[u8], strerror: &[u8]) {
        self.prefix(out);
        Self::path(out, path);
        out.extend_from_slice(msg);
        out.push(b' ');
        out.extend_from_slice(strerror);
        out.extend_from_slice(b". ERROR");
        out.push(self.term);
    }

    /// `[N: ]PONG` (session.c `execute_or_dispatch_command`, COMMAND_PING).
    pub fn pong(&self, out: &mut Vec<u8>) {
        self.single(out, None, b"PONG");
    }

    /// `[N: ]UNKNOWN COMMAND`: unknown command outside IDSESSION, or END without
    /// IDSESSION (`conn_reply_single`, `execute_or_dispatch_command`).
    pub fn unknown_command(&self, out: &mut Vec<u8>) {
        self.single(out, None, b"UNKNOWN COMMAND");
    }

    /// `[N: ]COMMAND UNAVAILABLE`: SHUTDOWN, RELOAD, SELFCHECK, VERSION or STATS
    /// disabled by configuration (`EnableShutdownCommand` … `EnableStatsCommand`).
    /// clamd then ends the connection (return 1), even inside IDSESSION.
    pub fn command_unavailable(&self, out: &mut Vec<u8>) {
        self.single(out, None, b"COMMAND UNAVAILABLE");
    }

    /// `RELOADING<term>`, for RELOAD and SELFCHECK. clamd writes it with a bare
    /// `mdprintf`, never with an id (both commands are refused inside IDSESSION).
    pub fn reloading(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"RELOADING");
        out.push(self.term);
    }

    /// `DBUPTODATE<term>` for SELFCHECK, bare `mdprintf` like [`Reply::reloading`].
    pub fn db_up_to_date(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"DBUPTODATE");
        out.push(self.term);
    }

    /// `[N: ]path: OK` (`conn_reply_single(conn, path, "OK")`); `stream: OK` for a
    /// clean INSTREAM, `fd[N]: OK` for FILDES (scanner.c `scanfd`).
    pub fn ok(&self, out: &mut Vec<u8>, path: &[u8]) {
        self.single(out, Some(path), OK);
    }

    /// `[N: ]INSTREAM size limit exceeded. ERROR` (server-th.c `handle_stream`,
    /// `conn_reply_error`): sent when a chunk header asks for more than the quota
    /// left; clamd then closes the connection.
    pub fn instream_size_limit_exceeded(&self, out: &mut Vec<u8>) {
        self.error(out, b"INSTREAM size limit exceeded.");
    }

    /// `[N: ]No file descriptor received. ERROR`: FILDES whose message carried no
    /// SCM_RIGHTS descriptor (session.c `dispatch_command`). This is what clients see
    /// (`unit_tests/check_clamd.c`); the session ends.
    pub fn fildes_no_fd(&self, out: &mut Vec<u8>) {
        self.error(out, b"No file descriptor received.");
    }

    /// `[N: ]FILDES: didn't receive file descriptor. ERROR` (session.c `command`).
    /// Unreachable in clamd: `dispatch_command` answers [`Reply::fildes_no_fd`] first.
    pub fn fildes_not_received(&self, out: &mut Vec<u8>) {
        self.error(out, b"FILDES: didn't receive file descriptor.");
    }

    /// `[N: ]Command invalid inside IDSESSION. ERROR` (session.c
    /// `execute_or_dispatch_command`); clamd then closes the connection.
    pub fn invalid_in_session(&self, out: &mut Vec<u8>) {
        self.error(out, b"Command invalid inside IDSESSION.");
    }

    /// A legacy (unprefixed) command inside IDSESSION (server-th.c
    /// `parse_dispatch_cmd`, then `recvloop`): two lines,
    /// `[N: ]Only nCMDS\n and zCMDS\0 are accepted inside IDSESSION. ERROR` (the
    /// backslashes are literal: the C source escapes them) and
    /// `[N: ]Error processing command. ERROR`, then the connection closes. `self` must
    /// carry the id the command would have had and the terminator of the *previous*
    /// command in the session (clamd has not switched `term` yet).
    pub fn legacy_in_session(&self, out: &mut Vec<u8>) {
        self.error(
            out,
            b"Only nCMDS\\n and zCMDS\\0 are accepted inside IDSESSION.",
        );
        self.error_processing_command(out);
    }

    /// `[N: ]Error processing command. ERROR` (server-th.c `recvloop`): after a
    /// failed dispatch, or when bytes follow a non-session command in the same read.
    pub fn error_processing_command(&self, out: &mut Vec<u8>) {
        self.error(out, b"Error processing command.");
    }

    /// `[N: ]PROTOCOL ERROR: ancillary data sent without FILDES. ERROR` (server-th.c
    /// `parse_dispatch_cmd`): a descriptor arrived with another command.
    pub fn protocol_error_ancillary(&self, out: &mut Vec<u8>) {
        self.error(out, b"PROTOCOL ERROR: ancillary data sent without FILDES.");
    }

    /// `[N: ]Error writing to temporary file ERROR` (server-th.c `handle_stream`; no
    /// period in clamd's text).
    pub fn temp_write_error(&self, out: &mut Vec<u8>) {
        self.error(out, b"Error writing to temporary file");
    }

    /// `[N: ]path: Access denied. ERROR`: the file could not be opened with EACCES
    /// (scanner.c `scan_callback` on `CL_EACCES`). Not the text for a path that does
    /// not exist: that is [`Reply::path_check_failure`].
    pub fn access_denied(&self, out: &mut Vec<u8>, path: &[u8]) {
        self.reply(out, Some(path), b"Access denied.", ERROR);
    }

    /// `[N: ]path: File path check failure: <strerror>. ERROR` (scanner.c
    /// `scan_callback`, `conn_reply_errno`): `lstat`/`stat`/`opendir`/`realpath`
    /// failed, e.g. `/nonexistent: File path check failure: No such file or
    /// directory. ERROR` (`unit_tests/check_clamd.c` `NONEXISTENT_REPLY`).
    pub fn path_check_failure(&self, out: &mut Vec<u8>, path: &[u8], strerror: &[u8]) {
        self.errno(out, Some(path), b"File path check failure:", strerror);
    }

    /// `[N: ]path: Not supported file type ERROR` (scanner.c `scan_callback`, only for
    /// the top-level path; no period).
    pub fn not_supported_file_type(&self, out: &mut Vec<u8>, path: &[u8]) {
        self.reply(out, Some(path), b"Not supported file type", ERROR);
    }

    /// `[N: ]path: Empty file` (scanner.c `scan_callback`, only for the top-level
    /// path; a status, not an error).
    pub fn empty_file(&self, out: &mut Vec<u8>, path: &[u8]) {
        self.single(out, Some(path), b"Empty file");
    }

    /// `[N: ]path: Excluded` (scanner.c `scan_pathchk`, `ExcludePath` matched).
    pub fn excluded(&self, out: &mut Vec<u8>, path: &[u8]) {
        self.single(out, Some(path), b"Excluded");
    }

    /// `[N: ]path: Excluded (another filesystem)` (scanner.c `scan_pathchk`,
    /// `CrossFilesystems no`).
    pub fn excluded_other_filesystem(&self, out: &mut Vec<u8>, path: &[u8]) {
        self.single(out, Some(path), b"Excluded (another filesystem)");
    }

    /// `[N: ]file: Not a regular file ERROR` (scanner.c `scanfd`: FILDES of a
    /// non-regular descriptor; `file` is `fd[N]`).
    pub fn not_regular_file(&self, out: &mut Vec<u8>, file: &[u8]) {
        self.reply(out, Some(file), b"Not a regular file", ERROR);
    }

    /// `[N: ]path: <cl_strerror> ERROR`: a scan failed (scanner.c `scan_callback`,
    /// `scanfd`), e.g. `stream: Can't allocate memory ERROR`.
    pub fn scan_error(&self, out: &mut Vec<u8>, path: &[u8], cl_strerror: &[u8]) {
        self.reply(out, Some(path), cl_strerror, ERROR);
    }

    /// `[N: ]file: name(md5:size) FOUND`, the ExtendedDetectionInfo form. Current
    /// clamd writes it only to its *log* (scanner.c `scan_callback`, `scanfd`); the
    /// socket always gets [`Reply::virus`]. Only the removed STREAM command
    /// (`scanstream`, no caller left) sent this form to clients.
    pub fn virus_extended(
        &self,
        out: &mut Vec<u8>,
        file: &[u8],
        name: &[u8],
        md5: &[u8],
        size: u64,
    ) {
        self.prefix(out);
        out.extend_from_slice(file);
        out.extend_from_slice(b": ");
        out.extend_from_slice(name);
        out.push(b'(');
        out.extend_from_slice(md5);
        let _ = write!(out, ":{size}) FOUND");
        out.push(self.term);
    }

    /// `[N: ]path: ALLMATCHSCAN command disabled by clamd configuration. ERROR`
    /// (session.c `command`, `AllowAllMatchScan no`).
    pub fn allmatchscan_disabled(&self, out: &mut Vec<u8>, path: &[u8]) {
        self.reply(
            out,
            Some(path),
            b"ALLMATCHSCAN command disabled by clamd configuration.",
            ERROR,
        );
    }

    /// `[N: ]path: Not enough threads for multiscan. Increase MaxThreads. ERROR`
    /// (session.c `command`): clamd refuses a MULTISCAN of a directory unless
    /// `running_multiscans + 1 < MaxThreads`.
    pub fn multiscan_not_enough_threads(&self, out: &mut Vec<u8>, path: &[u8]) {
        self.reply(
            out,
            Some(path),
            b"Not enough threads for multiscan. Increase MaxThreads.",
            ERROR,
        );
    }

    /// VERSION (session.c `print_ver`): `[N: ]ClamAV <version>/<db>/<ctime><term>`,
    /// or `[N: ]ClamAV <version><term>` when `db.version` is 0. `<ctime>` is
    /// `ctime_r` without its newline, e.g. `Mon Jul  1 18:43:46 2024`; a time whose
    /// low 32 bits exceed `0x7fffffff` prints `invalid timestam` (`cli_ctime` writes
    /// `invalid timestamp` and `print_ver` cuts the last byte, believing it a
    /// newline). The id prefix is written separately by clamd but lands the same.
    pub fn version(&self, out: &mut Vec<u8>, engine_version: &str, db: DbStamp) {
        self.prefix(out);
        print_ver(out, engine_version, db);
        out.push(self.term);
    }

    /// VERSIONCOMMANDS (session.c `print_commands`), as clamd 1.4 (Debian's 1.4.6)
    /// answers, without SELFCHECK: that command came later, and clients that compare
    /// lists know the 1.4 one (ringscan still accepts SELFCHECK). Layout: the VERSION text ended by `|`
    /// instead of the terminator, then ` COMMANDS:` and ` NAME` for every entry of
    /// clamd's command table in table order (all of them, enabled or not), then the
    /// terminator:
    /// `ClamAV 1.4.3/27000/<ctime>| COMMANDS: SCAN QUIT RELOAD PING CONTSCAN
    /// VERSIONCOMMANDS VERSION END SHUTDOWN MULTISCAN FILDES STATS IDSESSION INSTREAM
    /// DETSTATSCLEAR DETSTATS ALLMATCHSCAN` (one line). Not gated by
    /// `EnableVersionCommand`.
    pub fn version_commands(&self, out: &mut Vec<u8>, engine_version: &str, db: DbStamp) {
        self.prefix(out);
        print_ver(out, engine_version, db);
        out.extend_from_slice(b"| COMMANDS:");
        for name in COMMAND_NAMES.iter().filter(|&&n| n != "SELFCHECK") {
            out.push(b' ');
            out.extend_from_slice(name.as_bytes());
        }
        out.push(self.term);
    }
}

/// `COMMAND READ TIMED OUT\n` (server-th.c `recvloop`): no complete command within
/// `CommandReadTimeout`. Always `\n`, never an id; clamd then closes.
pub fn command_read_timed_out(out: &mut Vec<u8>) {
    out.extend_from_slice(b"COMMAND READ TIMED OUT\n");
}

fn print_ver(out: &mut Vec<u8>, engine_version: &str, db: DbStamp) {
    out.extend_from_slice(b"ClamAV ");
    out.extend_from_slice(engine_version.as_bytes());
    if db.version != 0 {
        let _ = write!(out, "/{}/", db.version);
        ctime(out, db.time_unix, db.utc_offset);
    }
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `cli_ctime` (libclamav/others_common.c) as `print_ver` uses it: `ctime_r`'s
/// `"%.3s %.3s%3d %.2d:%.2d:%.2d %d"` in local time, minus the newline.
fn ctime(out: &mut Vec<u8>, t: i64, offset: UtcOffset) {
    // `if ((uint32_t)(*timep) > 0x7fffffff)` → "invalid timestamp", and print_ver
    // then cuts the final byte.
    if (t as u32) > 0x7fff_ffff {
        out.extend_from_slice(b"invalid timestam");
        return;
    }
    // Beyond the `time` crate's range (year 9999): glibc would print a longer year;
    // treat it as ctime_r failing (cli_ctime returns " ", print_ver cuts it to "").
    let Some(dt) = OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|utc| utc.checked_to_offset(offset))
    else {
        return;
    };
    let _ = write!(
        out,
        "{} {}{:3} {:02}:{:02}:{:02} {}",
        WEEKDAYS[dt.weekday().number_days_from_monday() as usize],
        MONTHS[u8::from(dt.month()) as usize - 1],
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.year()
    );
}
