//! Kaspersky Scan Engine's HTTP mode (`kavhttpd`): the KAV protocol v1, v2 and v3
//! (3.0 / 3.1) as a sans-IO codec. Facts and sources: `shared/specs/kav-protocol.md`
//! §1–§2.
//!
//! The server driver (`server/http*`) does the HTTP framing (request line, headers,
//! `Content-Length` bodies, keep-alive, status lines) and calls the pure functions
//! here: no sockets, no clock, no file system.
//!
//! - [`route`](mod@route): method + path → [`route::Route`] (v3.0, v3.1 or plain), 404 / 405.
//! - [`request`]: v3 JSON bodies, with the scanmemory Base64 `object` decoded in place
//!   in the caller's buffer (the private `inplace` module does the decoding); plain v1/v2 headers and
//!   bodies ([`plain`]); the v2 multipart body ([`multipart`]).
//! - [`response`]: every answer body, v3 JSON and plain text.
//! - [`stats`]: the getstatistics counters.
//! - [`auth`]: API tokens (stored as SHA-256 hashes, compared in constant time).
//!
//! # UNCONFIRMED in the spec, and the choice made here
//!
//! - **Endpoints under v3.1.** The vendor lists most endpoints under `v3.0` only;
//!   ViennaNET builds every path as `api/{ver}/<name>`. All 11 endpoints answer under
//!   both `/api/v3.0/` and `/api/v3.1/` (ksninfo too).
//! - **Path matching.** Exact: no trailing slash, no case folding, query ignored.
//!   `HEAD` is served where `GET` is; `Allow` lists only `OPTIONS, GET` / `OPTIONS, POST`,
//!   the vendor's form.
//! - **v3.1 `reason` values**: taken from the vendor's Russian 2.1 page (seed 003):
//!   `Canceled`, `Corrupted`, `Access denied`, `Skipped`, `Password protected`,
//!   `Max depth exceeded`. A NON_SCANNED without a known reason has no `reason` field.
//! - **Max depth in v3.0 / plain.** Not among the documented v3.0 texts, so it is
//!   written as plain `NON_SCANNED` (the documented "reason not determined" form),
//!   never as an invented `NON_SCANNED (MAX DEPTH EXCEEDED)` a strict client would reject.
//! - **Plain answer with sub-objects.** One line for the most severe result:
//!   DETECT > SERVER_ERROR > NON_SCANNED > CLEAN (first of equals), then
//!   ` AND CONTAINS OFFICE MACRO` if any object has a macro. No trailing line break.
//! - **Plain getstatistics layout**: `name: value` lines joined by `\n`, v3 order.
//! - **basesdate day padding**: zero-padded (`09.02.2014`) per the documented
//!   `DD.MM.YYYY`, though the one plain example shows `9.02.2014`.
//! - **update/status time zone**: UTC. `progress` is 0 while in progress (a reload has
//!   no percentage). v3.1's `action_needed`/`action_apply_period` are never written.
//! - **licenseinfo**: ringscan has no key and never expires; it answers the offline-key
//!   shape with [`response::LICENSE_NAME`] and `31.12.9999` (see
//!   [`response::LICENSE_EXPIRATION`]) so that date-parsing clients keep working.
//! - **timeout** (JSON `timeout`, `X-KAV-Timeout`): `0..=4294967295` ms for both,
//!   0 = no limit of its own; the JSON field as a number or a string of digits.
//! - **omitCleanSubobjectResults**: a bool, or the strings `"true"`/`"false"`.
//! - **scanmemory `object` escapes**: `\/` (the vendor's examples), `\r`, `\n`, `\t`
//!   and spaces (line-wrapped Base64) are accepted; other escapes are refused; `=`
//!   padding is optional.
//! - **v2 multipart**: delimiters as in RFC 2046 (line-start `--B`, preamble and
//!   epilogue ignored, LF or CRLF), part bodies without MIME headers, labels compared
//!   case-insensitively, header parts in any order, at most 3 parts, the object last.
//! - **Error bodies**: `{"error": message}` with the codec's own messages; which HTTP
//!   status goes with a bad body is the caller's choice (UNCONFIRMED in the spec).

pub mod auth;
mod inplace;
pub mod multipart;
pub mod objects;
pub mod plain;
pub mod request;
pub mod response;
pub mod route;
pub mod stats;

#[cfg(test)]
mod tests;

pub use request::{Object, RequestError, RequestErrorKind, ScanParams};
pub use response::{ObjectResult, Reason, ScanResult, UpdateStart, UpdateStatus};
pub use route::{route, Api, Endpoint, Route, RouteError};
pub use stats::KavCounters;
