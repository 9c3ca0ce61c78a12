//! The signature model: what each ClamAV database line means once parsed, before any
//! compilation. One module per file format; each turns one line into a signature, a
//! [`Skip`] (understood but not supported, reported per signature) or an error
//! (malformed, reported with file and line by the loader).

pub mod body;
pub mod hash;
pub mod ldb;
pub mod logic;
pub mod ndb;
pub mod offset;

pub use body::{Body, Elem};
pub use hash::{HashKind, HashSig};
pub use ldb::{LogicalSig, Subsig};
pub use ndb::ContentSig;
pub use offset::Offset;

/// The functionality level this engine answers to in `Engine:` ranges and the
/// min/max flevel fields: ClamAV 1.4.6's (clamscan accepts a minimum of 216, not 217).
pub const ENGINE_FLEVEL: u32 = 216;

/// A line that is well-formed but uses something this engine does not support.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    /// Signature name, when the line got far enough to have one.
    pub name: String,
    /// What is not supported.
    pub reason: String,
}

/// What a line parser produced.
#[derive(Clone, Debug)]
pub enum Parsed<T> {
    /// A usable signature.
    Sig(T),
    /// Understood, not supported.
    Skip(Skip),
}

/// ClamAV target types (`appendix/FileTypes.md`).
pub fn target_name(t: u8) -> &'static str {
    match t {
        0 => "any",
        1 => "PE",
        2 => "OLE2",
        3 => "HTML",
        4 => "mail",
        5 => "graphics",
        6 => "ELF",
        7 => "ASCII text",
        9 => "Mach-O",
        10 => "PDF",
        11 => "Flash",
        12 => "Java class",
        _ => "unknown",
    }
}

/// Checks that a signature name has only the characters ClamAV allows in names
/// (`[A-Za-z0-9._-]`, plus `/` and others that real third-party sets use); we only
/// refuse what would break the wire protocols: control characters and separators.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty signature name".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || matches!(c, ':' | ';'))
    {
        return Err(format!("signature name has a forbidden character {c:?}"));
    }
    Ok(())
}

/// Parses a `min[:max]` flevel pair; `Some(reason)` when this engine is outside it.
pub fn flevel_out_of_range(min: Option<&str>, max: Option<&str>) -> Result<Option<String>, String> {
    let parse = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("bad functionality level '{s}'"))
    };
    if let Some(min) = min.filter(|s| !s.is_empty()) {
        let min = parse(min)?;
        if min > ENGINE_FLEVEL {
            return Ok(Some(format!(
                "needs functionality level {min}, engine has {ENGINE_FLEVEL}"
            )));
        }
    }
    if let Some(max) = max.filter(|s| !s.is_empty()) {
        let max = parse(max)?;
        if max < ENGINE_FLEVEL {
            return Ok(Some(format!("retired at functionality level {max}")));
        }
    }
    Ok(None)
}
