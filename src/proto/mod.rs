//! Wire protocols as codecs over the engine: each turns requests into scans and
//! verdicts into the protocol's exact bytes, and knows no socket: the clamd socket
//! protocol, and Kaspersky Scan Engine's KAV protocol v1/v2/v3 (routes, request
//! bodies, answers, counters, API tokens; `ringscan scan --json` writes its v3 object).

pub mod clamd;
pub mod kav;
