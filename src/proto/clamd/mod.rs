//! The clamd socket protocol as a sans-IO codec: byte slices in, byte vectors out.
//!
//! ringscan answers clamd clients (clamdscan, clamav-milter, pyclamd, the many
//! `INSTREAM` libraries, monitoring exporters) byte for byte as clamd does. Every rule
//! here was checked against clamd's own source (Cisco-Talos/clamav, `clamd/session.c`,
//! `clamd/server-th.c`, `clamd/scanner.c`, `clamd/thrmgr.c`, `clamd/clamd_others.c`,
//! `libclamav/others_common.c`) and its socket tests (`unit_tests/check_clamd.c`); each
//! submodule names the C function it mirrors. The facts are restated in
//! `shared/specs/clamd-icap-signatures.md` §1; where that summary and the C differ, the
//! C wins and the difference is written down next to the code.
//!
//! Why hand-written: clamd's wire format is not a general framing. Commands are
//! NUL- or newline-terminated with a one-letter prefix, or "one packet = one command"
//! without it; INSTREAM is a length-prefixed chunk stream with a cumulative quota that
//! shares the socket with the command stream; replies carry an optional `N: ` session
//! prefix and echo the request's terminator. No crate implements these quirks, and
//! the quirks are what clients depend on.
//!
//! No sockets, no filesystem, no clock, no allocation of its own: the server reads
//! into its buffers, asks this module what the bytes mean, and appends replies to a
//! `Vec<u8>` it owns.
//!
//! - [`command`]: framing and command parsing (`get_cmd` + `parse_command`), the
//!   IDSESSION admission rule.
//! - [`reply`]: every reply clamd writes (`conn_reply*`, `print_ver`,
//!   `print_commands`), including VERSION / VERSIONCOMMANDS.
//! - [`instream`]: the INSTREAM chunk decoder (`handle_stream`), in place.
//! - [`pathscan`]: which lines SCAN / CONTSCAN / MULTISCAN / ALLMATCHSCAN print for a
//!   walk (`command` + `scan_callback`).
//! - [`stats`]: the STATS text (`thrmgr_printstats`) plus ringscan's own lines.
//!
//! Session numbering (server-th.c `parse_dispatch_cmd`): outside IDSESSION replies
//! carry no id. `IDSESSION` itself takes id 0 and answers nothing; every later command
//! (END included) takes the next id, starting at 1; an INSTREAM keeps its id until its
//! zero-length chunk arrives. Replies inside a session echo the terminator of the
//! command they answer.

pub mod command;
pub mod instream;
pub mod pathscan;
pub mod reply;
pub mod stats;

#[cfg(test)]
mod tests;

pub use command::{parse_command, parse_frame, Command, Frame, Framing};
pub use instream::{Dechunker, Progress};
pub use pathscan::{trim_root, FileOutcome, Flow, PathScan, ScanError, ScanKind, Skipped, Summary};
pub use reply::{command_read_timed_out, DbStamp, Reply};
pub use stats::Stats;

/// `PATH_MAX` on Linux, which sizes clamd's per-connection command buffer.
pub const PATH_MAX: usize = 4096;

/// clamd's per-connection receive buffer: `PATH_MAX + 8` bytes (clamd_others.c
/// `buf_init`). A prefixed command, prefix and terminator included, must fit in it;
/// a legacy (unprefixed) command is at most this many bytes of one read.
pub const COMMAND_BUFFER_SIZE: usize = PATH_MAX + 8;

/// Default `StreamMaxLength`: 100 MiB (`CLI_DEFAULT_MAXFILESIZE`, libclamav/default.h;
/// common/optparser.c). The INSTREAM quota, on the sum of all chunk lengths.
pub const DEFAULT_STREAM_MAX_LENGTH: u64 = 100 * 1024 * 1024;
