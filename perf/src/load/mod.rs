//! Load generation against clamd-protocol servers, and what the server costs meanwhile.
//!
//! The pieces, kept apart so that an open-loop driver, sweeps and comparisons can reuse
//! them:
//!
//! - [`clamd`]: targets (`clamd+unix:/path`, `clamd+tcp:host:port`), connections and
//!   the wire protocol (`zINSTREAM`, `zIDSESSION`, plain commands), reply parsing;
//! - [`objects`]: the corpus in memory and the verdict each object should get;
//! - [`recorder`]: per-client latency histograms (HdrHistogram), error counts by kind,
//!   and the merged figures;
//! - [`closed`]: the closed-loop driver (`ringscan-perf closed`);
//! - [`server`]: the server process seen from outside: RSS and peak RSS, an RSS sampler,
//!   CPU time, start-up until the first `PONG`, memory through a `RELOAD`, stopping it;
//! - [`summary`]: `summary.md` for a `perf/server.sh` results directory.

pub mod clamd;
pub mod closed;
pub mod objects;
pub mod recorder;
pub mod server;
pub mod summary;
pub mod util;
