//! `ringscan_perf`: the library half of the perf crate.
//!
//! [`load`] drives a scan server (ClamAV's `clamd` or `ringscan serve`, over the clamd
//! protocol or KAV HTTP) and measures it from outside; the `ringscan-perf` binary is a
//! thin command line over it. (`engine-bench` keeps its own modules inside its binary.)

pub mod load;
