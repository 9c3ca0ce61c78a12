//! The compiled-database cache format: a versioned wrapper around a serialized
//! Hyperscan database, so a restart with the same signatures skips compilation.
//!
//! Layout: `MAGIC` (8 bytes), format version (u32 LE), key (32 bytes: SHA256 of the
//! anchor expressions, their flags, this format version and the Hyperscan version),
//! payload length (u64 LE), payload. Any mismatch is a typed error and the caller
//! recompiles; Hyperscan itself also refuses a database from another version or CPU.
//! Storage is the caller's business (`db/` keeps it on disk) through [`CompiledCache`].

use sha2::{Digest, Sha256};

use super::compile::AnchorExpr;

/// File magic.
pub const MAGIC: &[u8; 8] = b"RSCANHS\0";
/// Bumped whenever the anchor choice or the layout changes.
pub const FORMAT_VERSION: u32 = 2;

/// Where compiled databases are kept.
pub trait CompiledCache {
    /// The entry stored under `key`, if any.
    fn get(&self, key: &[u8; 32]) -> Option<Vec<u8>>;
    /// Stores an entry; failures are the cache's to log, never the load's.
    fn put(&self, key: &[u8; 32], bytes: &[u8]);
}

/// Why a cache entry was not used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CacheError {
    /// Not a cache file.
    #[error("bad magic")]
    BadMagic,
    /// Written by another format version.
    #[error("format version {actual}, expected {expected}")]
    InvalidVersion {
        /// Ours.
        expected: u32,
        /// The file's.
        actual: u32,
    },
    /// Built from other inputs.
    #[error("key mismatch")]
    KeyMismatch,
    /// Shorter than its header says.
    #[error("truncated")]
    Truncated,
    /// Hyperscan refused the payload.
    #[error("hyperscan: {0}")]
    Hyperscan(String),
}

/// The key for a set of anchors, each with its Hyperscan pattern id.
pub fn key(exprs: &[(usize, &AnchorExpr)]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(MAGIC);
    h.update(FORMAT_VERSION.to_le_bytes());
    h.update(hyperscan::version_str().to_bytes());
    for (id, e) in exprs {
        h.update((*id as u64).to_le_bytes());
        h.update((e.expr.len() as u64).to_le_bytes());
        h.update(e.expr.as_bytes());
        h.update([e.caseless as u8]);
    }
    h.finalize().into()
}

/// Wraps a serialized database.
pub fn encode(key: &[u8; 32], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 52);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Unwraps, checking magic, version, key and length.
pub fn decode<'a>(bytes: &'a [u8], key: &[u8; 32]) -> Result<&'a [u8], CacheError> {
    let header = 8 + 4 + 32 + 8;
    if bytes.len() < header {
        return Err(if bytes.starts_with(MAGIC) {
            CacheError::Truncated
        } else {
            CacheError::BadMagic
        });
    }
    if &bytes[..8] != MAGIC {
        return Err(CacheError::BadMagic);
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default());
    if version != FORMAT_VERSION {
        return Err(CacheError::InvalidVersion {
            expected: FORMAT_VERSION,
            actual: version,
        });
    }
    if &bytes[12..44] != key {
        return Err(CacheError::KeyMismatch);
    }
    let len = u64::from_le_bytes(bytes[44..52].try_into().unwrap_or_default());
    let payload = &bytes[header..];
    if payload.len() as u64 != len {
        return Err(CacheError::Truncated);
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_typed_errors() {
        let e = AnchorExpr {
            expr: "\\x41\\x42".into(),
            caseless: false,
        };
        let k = key(&[(0, &e)]);
        let enc = encode(&k, b"payload");
        assert_eq!(decode(&enc, &k), Ok(&b"payload"[..]));
        let caseless = AnchorExpr {
            caseless: true,
            ..e.clone()
        };
        assert_eq!(
            decode(&enc, &key(&[(0, &caseless)])),
            Err(CacheError::KeyMismatch)
        );
        assert_eq!(
            decode(&enc, &key(&[(1, &e)])),
            Err(CacheError::KeyMismatch),
            "ids count"
        );
        let mut old = enc.clone();
        old[8] = 0;
        assert_eq!(
            decode(&old, &k),
            Err(CacheError::InvalidVersion {
                expected: FORMAT_VERSION,
                actual: 0
            })
        );
        assert_eq!(
            decode(&enc[..enc.len() - 1], &k),
            Err(CacheError::Truncated)
        );
        assert_eq!(decode(b"garbage", &k), Err(CacheError::BadMagic));
    }
}
