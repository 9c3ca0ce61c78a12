//! ringscan: a malware-scanning appliance. ClamAV signature databases compiled into
//! Hyperscan, served over the clamd and KAV protocols by one pinned executor per core.
//!
//! Layout, one folder per concern:
//! - `engine/`: signature loading, compilation, scanning and verdicts; pure, no I/O;
//! - `db/`: database files on disk (paths, directories, the compiled-database cache);
//! - `formats/`: recognizing and unpacking objects;
//! - `proto/`: wire protocols as codecs over the engine (clamd, KAV v1/v2/v3);
//! - `cli/`: the `ringscan` command line.
//!
//! ```
//! use ringscan::engine::{builtin, ScanOptions, Scanner, Verdict};
//!
//! let (engine, _report) = builtin::builder().build(None).unwrap();
//! let mut scanner = Scanner::new();
//! let report = scanner.scan(&engine, b"harmless bytes", ScanOptions::default());
//! assert_eq!(report.verdict(), Verdict::Clean);
//! ```
#![deny(missing_docs)]

pub mod cli;
pub mod db;
pub mod engine;
pub mod formats;
pub mod proto;
pub mod server;
