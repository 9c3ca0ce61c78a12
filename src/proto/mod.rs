//! Wire protocols as codecs over the engine: each turns requests into scans and
//! verdicts into the protocol's exact bytes, and knows no socket: the clamd socket
//! protocol, and the KAV v3 response object (which `ringscan scan --json` writes).

pub mod clamd;
pub mod kav;
