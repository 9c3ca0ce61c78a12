//! Load generation against scan servers (clamd protocol, Kaspersky's KAV HTTP protocol),
//! and what the server costs meanwhile.
//!
//! The pieces, kept apart so that sweeps and comparisons can reuse them:
//!
//! - [`net`]: UNIX and TCP endpoints and streams, shared by the protocols;
//! - [`clamd`]: clamd targets (`clamd+unix:/path`, `clamd+tcp:host:port`), connections
//!   and the wire protocol (`zINSTREAM`, `zIDSESSION`, plain commands), reply parsing;
//! - [`kav`]: KAV HTTP targets (`kav3+tcp:`, `kav3+unix:`, `kav1+tcp:`, `kav1+unix:`),
//!   requests built once per object, the keep-alive connection, response parsing;
//! - [`target`]: one target syntax over both, the per-thread [`target::Client`], and
//!   the verdict check;
//! - [`objects`]: a corpus in memory and the verdict each object should get;
//!   [`synthetic`]: seeded random objects of one size, a share with EICAR;
//!   [`source`]: the command-line choice between them;
//! - [`recorder`]: per-client latency histograms (HdrHistogram), error counts by kind,
//!   and the merged figures;
//! - [`closed`]: the closed-loop driver (`ringscan-perf closed`);
//! - [`open`]: the open-loop driver at a fixed rate (`ringscan-perf open`);
//! - [`sweep`]: latency against throughput at shares of the maximum; [`plot`]: its SVG;
//! - [`compare`]: two targets run in alternation, ratios per pair (`ringscan-perf compare`);
//! - [`headline`]: `summary.md` for `perf/headline.sh` (ringscan against clamd);
//! - [`server`]: the server process seen from outside: RSS and peak RSS, an RSS sampler,
//!   CPU time, start-up until the first `PONG`, memory through a `RELOAD`, stopping it;
//! - [`summary`]: `summary.md` for a `perf/server.sh` results directory;
//!   [`open_summary`]: `summary.md` for open-loop runs (`perf/http.sh`).

pub mod clamd;
pub mod closed;
pub mod compare;
pub mod headline;
pub mod kav;
pub mod net;
pub mod objects;
pub mod open;
pub mod open_summary;
pub mod plot;
pub mod recorder;
pub mod server;
pub mod source;
pub mod summary;
pub mod sweep;
pub mod synthetic;
pub mod target;
pub mod util;

#[cfg(test)]
mod test_server;
