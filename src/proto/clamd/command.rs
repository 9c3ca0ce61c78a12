//! Command framing and parsing.
//!
//! Mirrors clamd's `get_cmd` (clamd/server-th.c) for finding where a command ends, and
//! `parse_command` with its `commands[]` table (clamd/session.c) for what it means.
//! The admission rule for IDSESSION is `execute_or_dispatch_command`'s first switch
//! (session.c), the legacy-inside-session rule `parse_dispatch_cmd` (server-th.c).
//!
//! Framing, as `get_cmd` does it:
//! - `z…\0`: up to the first NUL. The text is taken as is (no `\r` stripping).
//! - `n…\n`: up to the first `\n`; the text is cut at an embedded NUL (C string) and
//!   trailing `\r`/`\n` are removed (`cli_chomp`). clamd advances by the *chomped*
//!   length + 1, so `nPING\r\n` consumes 6 bytes and leaves the `\n`; [`parse_frame`]
//!   reports the same `consumed`. Inside IDSESSION that stray byte then parses as a
//!   legacy command and ends the session, exactly as it does with clamd.
//! - anything else is legacy, "one packet = one command": the text runs to the first
//!   `\n` or, without one, to the end of what has been received so far; it is never
//!   incomplete. It is cut at NUL and chomped (`PING\r\n` works).
//!
//! A prefixed command that does not find its terminator within
//! [`COMMAND_BUFFER_SIZE`] bytes is [`Frame::TooLong`]:
//! clamd's buffer is then full, its next `read_fd_data` fails, and it closes the
//! connection without a reply (clamd_others.c `read_fd_data`, server-th.c `recvloop`).

use memchr::memchr;

use super::COMMAND_BUFFER_SIZE;

/// How a command was delimited; replies use the same terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// `z` prefix, NUL-terminated (`zPING\0`): clamd's recommended form.
    Null,
    /// `n` prefix, newline-terminated (`nPING\n`).
    Newline,
    /// No prefix: one packet is one command, optionally ended by `\n` (or `\r\n`).
    Legacy,
}

impl Framing {
    /// The byte clamd ends its replies with: NUL for `z`, `\n` for `n` and for legacy
    /// commands (`get_cmd` sets `*term = '\n'` before looking at the prefix).
    pub const fn terminator(self) -> u8 {
        match self {
            Framing::Null => 0,
            Framing::Newline | Framing::Legacy => b'\n',
        }
    }

    /// The prefix byte a client sends, if any.
    pub const fn prefix(self) -> Option<u8> {
        match self {
            Framing::Null => Some(b'z'),
            Framing::Newline => Some(b'n'),
            Framing::Legacy => None,
        }
    }
}

/// A parsed clamd command, borrowing its argument from the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command<'a> {
    /// `SCAN <path>`: scan a file or directory, stop at the first detection.
    Scan(&'a [u8]),
    /// `SHUTDOWN`, or its alias `QUIT` (both `COMMAND_SHUTDOWN` in clamd).
    Shutdown,
    /// `RELOAD`: reload the databases, reply `RELOADING`.
    Reload,
    /// `SELFCHECK`: `DBUPTODATE` or `RELOADING`.
    SelfCheck,
    /// `PING`: `PONG`.
    Ping,
    /// `CONTSCAN <path>`: like SCAN, but keep going after detections.
    ContScan(&'a [u8]),
    /// `VERSIONCOMMANDS`: version plus the command list.
    VersionCommands,
    /// `VERSION`.
    Version,
    /// `END`: ends an IDSESSION (`UNKNOWN COMMAND` outside one).
    End,
    /// `MULTISCAN <path>`: parallel directory scan.
    MultiScan(&'a [u8]),
    /// `FILDES`: scan a file descriptor passed as SCM_RIGHTS.
    Fildes,
    /// `STATS`.
    Stats,
    /// `IDSESSION`: start a session.
    IdSession,
    /// `INSTREAM`: chunked stream follows.
    Instream,
    /// `DETSTATSCLEAR`: parsed, does nothing, replies nothing.
    DetStatsClear,
    /// `DETSTATS`: parsed, does nothing, replies nothing.
    DetStats,
    /// `ALLMATCHSCAN <path>`: SCAN reporting every match in a file.
    AllMatchScan(&'a [u8]),
    /// Anything else, a missing argument, trailing garbage, or a prefix-only command
    /// sent without prefix. clamd replies `UNKNOWN COMMAND` (outside IDSESSION).
    Unknown,
}

#[derive(Clone, Copy)]
enum Kind {
    Scan,
    Shutdown,
    Reload,
    SelfCheck,
    Ping,
    ContScan,
    VersionCommands,
    Version,
    End,
    MultiScan,
    Fildes,
    Stats,
    IdSession,
    Instream,
    DetStatsClear,
    DetStats,
    AllMatchScan,
}

struct Entry {
    name: &'static str,
    kind: Kind,
    need_arg: bool,
    support_old: bool,
}

const fn e(name: &'static str, kind: Kind, need_arg: bool, support_old: bool) -> Entry {
    Entry {
        name,
        kind,
        need_arg,
        support_old,
    }
}

/// session.c `commands[]`, same order: `parse_command` takes the first entry that is a
/// prefix of the text, and `print_commands` lists them in this order.
const COMMANDS: [Entry; 18] = [
    e("SCAN", Kind::Scan, true, true),
    e("QUIT", Kind::Shutdown, false, true),
    e("RELOAD", Kind::Reload, false, true),
    e("SELFCHECK", Kind::SelfCheck, false, true),
    e("PING", Kind::Ping, false, true),
    e("CONTSCAN", Kind::ContScan, true, true),
    // must come before VERSION: common prefix
    e("VERSIONCOMMANDS", Kind::VersionCommands, false, false),
    e("VERSION", Kind::Version, false, true),
    e("END", Kind::End, false, false),
    e("SHUTDOWN", Kind::Shutdown, false, true),
    e("MULTISCAN", Kind::MultiScan, true, true),
    e("FILDES", Kind::Fildes, false, true),
    e("STATS", Kind::Stats, false, false),
    e("IDSESSION", Kind::IdSession, false, false),
    e("INSTREAM", Kind::Instream, false, false),
    e("DETSTATSCLEAR", Kind::DetStatsClear, false, true),
    e("DETSTATS", Kind::DetStats, false, true),
    e("ALLMATCHSCAN", Kind::AllMatchScan, true, false),
];

/// The names VERSIONCOMMANDS lists, in clamd's order (`print_commands` walks
/// `commands[]`, enabled or not; `unit_tests/check_clamd.c` `VCMDS_REPLY`).
pub const COMMAND_NAMES: [&str; 18] = {
    let mut names = [""; 18];
    let mut i = 0;
    while i < COMMANDS.len() {
        names[i] = COMMANDS[i].name;
        i += 1;
    }
    names
};

impl<'a> Command<'a> {
    /// The path argument of SCAN, CONTSCAN, MULTISCAN and ALLMATCHSCAN.
    pub fn path(&self) -> Option<&'a [u8]> {
        match *self {
            Command::Scan(p)
            | Command::ContScan(p)
            | Command::MultiScan(p)
            | Command::AllMatchScan(p) => Some(p),
            _ => None,
        }
    }

    /// Whether clamd accepts this command inside IDSESSION (session.c
    /// `execute_or_dispatch_command`): FILDES, SCAN, END, INSTREAM, VERSION, PING,
    /// STATS, VERSIONCOMMANDS. Any other command, `Unknown` and a nested IDSESSION
    /// included, gets [`Reply::invalid_in_session`](super::Reply::invalid_in_session)
    /// and the session ends (clamd drops the group and closes the connection).
    pub fn allowed_in_session(&self) -> bool {
        matches!(
            self,
            Command::Fildes
                | Command::Scan(_)
                | Command::End
                | Command::Instream
                | Command::Version
                | Command::Ping
                | Command::Stats
                | Command::VersionCommands
        )
    }

    /// Whether clamd accepts the command without a `z`/`n` prefix (`support_old`).
    pub fn supports_legacy(&self) -> bool {
        !matches!(
            self,
            Command::VersionCommands
                | Command::End
                | Command::Stats
                | Command::IdSession
                | Command::Instream
                | Command::AllMatchScan(_)
        )
    }
}

fn build(kind: Kind, arg: &[u8]) -> Command<'_> {
    match kind {
        Kind::Scan => Command::Scan(arg),
        Kind::Shutdown => Command::Shutdown,
        Kind::Reload => Command::Reload,
        Kind::SelfCheck => Command::SelfCheck,
        Kind::Ping => Command::Ping,
        Kind::ContScan => Command::ContScan(arg),
        Kind::VersionCommands => Command::VersionCommands,
        Kind::Version => Command::Version,
        Kind::End => Command::End,
        Kind::MultiScan => Command::MultiScan(arg),
        Kind::Fildes => Command::Fildes,
        Kind::Stats => Command::Stats,
        Kind::IdSession => Command::IdSession,
        Kind::Instream => Command::Instream,
        Kind::DetStatsClear => Command::DetStatsClear,
        Kind::DetStats => Command::DetStats,
        Kind::AllMatchScan => Command::AllMatchScan(arg),
    }
}

/// The text up to the first NUL: clamd handles commands as C strings.
fn c_str(s: &[u8]) -> &[u8] {
    match memchr(0, s) {
        Some(i) => &s[..i],
        None => s,
    }
}

/// `cli_chomp` (libclamav/str.c): strip trailing `\r` and `\n`.
fn chomp(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = s {
        s = rest;
    }
    s
}

/// Parse a command's text (prefix and terminator already removed), mirroring
/// session.c `parse_command`:
/// - the first `commands[]` entry whose name is a prefix of the text decides, even
///   when it then rejects the text (`DETSTATSCLEARX` is not `DETSTATS`);
/// - a command taking a path needs at least one byte after its name, and the path is
///   everything after the *one* byte following the name, whatever that byte is:
///   `SCAN /x` → `/x`, `SCAN  /x` → ` /x`, `SCANX/x` → `/x`, `SCAN ` → empty path;
///   no byte at all → `Unknown`;
/// - any byte after a command without argument → `Unknown` (trailing garbage);
/// - `legacy` (sent without prefix) and not `support_old` → `Unknown`.
///
/// The text is cut at its first NUL, as clamd sees it.
pub fn parse_command(text: &[u8], legacy: bool) -> Command<'_> {
    let text = c_str(text);
    for entry in &COMMANDS {
        let Some(rest) = text.strip_prefix(entry.name.as_bytes()) else {
            continue;
        };
        let arg: &[u8] = if entry.need_arg {
            match rest {
                [] => return Command::Unknown,
                [_, arg @ ..] => arg,
            }
        } else if !rest.is_empty() {
            return Command::Unknown;
        } else {
            &[]
        };
        if legacy && !entry.support_old {
            return Command::Unknown;
        }
        return build(entry.kind, arg);
    }
    Command::Unknown
}

/// What the start of a command buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// No complete command yet: read more. Also returned for a complete FILDES whose
    /// one extra byte (the one carrying the SCM_RIGHTS data) has not arrived yet;
    /// clamd waits for it (`MODE_WAITANCILL`).
    Incomplete,
    /// A prefixed command without terminator filled clamd's whole command buffer
    /// ([`COMMAND_BUFFER_SIZE`]). clamd closes the
    /// connection without replying.
    TooLong,
    /// A command.
    Complete {
        /// Bytes to drop from the front of the buffer, as clamd advances its `pos`:
        /// prefix, text and terminator; for FILDES also the extra byte after the
        /// terminator; for `n…\r\n` one less than the line (see the module docs).
        consumed: usize,
        /// How it was framed; replies end with `framing.terminator()`.
        framing: Framing,
        /// The command.
        command: Command<'a>,
    },
}

/// Find and parse the command at the start of `buf` (server-th.c `get_cmd` +
/// session.c `parse_command`).
///
/// Call it on the bytes received so far, after each read. A legacy command (no `z`/`n`
/// prefix) is complete as soon as anything is there, like clamd's "one packet = one
/// command": read at most [`COMMAND_BUFFER_SIZE`] bytes
/// per read into an empty command buffer to see the packets clamd would see. Only the
/// first `COMMAND_BUFFER_SIZE` bytes of `buf` are looked at.
///
/// The caller then applies, in clamd's order: a `Legacy` frame inside IDSESSION →
/// [`Reply::legacy_in_session`](super::Reply::legacy_in_session) and close, before
/// the command is even parsed; a command not
/// [`allowed_in_session`](Command::allowed_in_session) inside IDSESSION →
/// [`Reply::invalid_in_session`](super::Reply::invalid_in_session) and close.
pub fn parse_frame(buf: &[u8]) -> Frame<'_> {
    let Some(&first) = buf.first() else {
        return Frame::Incomplete;
    };
    let window = &buf[..buf.len().min(COMMAND_BUFFER_SIZE)];
    // `len` is clamd's `cmdlen`: it advances by `cmdlen + 1`.
    let (framing, text, len) = match first {
        b'z' => {
            let Some(end) = memchr(0, window) else {
                return incomplete_or_too_long(buf);
            };
            (Framing::Null, &buf[1..end], end)
        }
        b'n' => {
            let Some(end) = memchr(b'\n', window) else {
                return incomplete_or_too_long(buf);
            };
            // `*len = cli_chomp(buf->buffer + off)`: the C string from the prefix on.
            let line = chomp(c_str(&buf[..end]));
            (Framing::Newline, &line[1..], line.len())
        }
        _ => {
            let end = memchr(b'\n', window).unwrap_or(window.len());
            (Framing::Legacy, chomp(c_str(&buf[..end])), end)
        }
    };
    let command = parse_command(text, framing == Framing::Legacy);
    let mut len = len;
    if command == Command::Fildes {
        // `if (buf->buffer + buf->off <= cmd + strlen("FILDES\n"))`: wait for the byte
        // that carries the descriptor, then eat it (`cmdlen++`).
        let text_start = usize::from(framing != Framing::Legacy);
        if buf.len() <= text_start + "FILDES\n".len() {
            return Frame::Incomplete;
        }
        len += 1;
    }
    Frame::Complete {
        // A legacy packet without `\n` is all clamd has; it never holds more than
        // its buffer.
        consumed: (len + 1).min(window.len()),
        framing,
        command,
    }
}

fn incomplete_or_too_long(buf: &[u8]) -> Frame<'_> {
    if buf.len() >= COMMAND_BUFFER_SIZE {
        Frame::TooLong
    } else {
        Frame::Incomplete
    }
}
