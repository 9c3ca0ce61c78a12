//! Kaspersky Scan Engine's HTTP-mode protocol (KAV v3), see
//! `../shared/specs/kav-protocol.md`. So far: the scan response object.

pub mod json;
