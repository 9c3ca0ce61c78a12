//! Deterministic generators for ringscan benchmark and test inputs.
//!
//! Nothing large is committed to the repository: signature databases and
//! file corpora are generated on demand from a seed, and the same seed always
//! gives byte-identical output (every generator uses ChaCha8 streams derived
//! from the seed; no global RNG, no clock, no hash-map iteration order).
//!
//! - [`sigs`]: ClamAV `.ndb` / `.hdb` / `.ldb` signature sets shaped like
//!   the official databases, plus *plants* (concrete byte strings that
//!   match chosen signatures) as ground truth.
//! - [`corpus`]: a mixed corpus (random bytes, English-like text, zip
//!   archives) with log-uniform sizes, planted signature instances and EICAR
//!   files, and a `manifest.tsv` recording what each file should trigger.
//! - [`text`]: the English-like text and random-byte generators.
//! - [`eicar`]: the EICAR test file, assembled from two halves so that this
//!   source file is not itself flagged by scanners.
//!
//! The `bench-corpus` binary wraps these (`bench-corpus sigs ...`,
//! `bench-corpus corpus ...`); see the crate README.

pub mod body;
pub mod corpus;
pub mod sigs;
pub mod text;

#[cfg(test)]
mod testmatch;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use body::{from_hex, to_hex};
pub use corpus::{
    corpus, generate, CorpusConfig, CorpusIter, FileKind, GeneratedFile, Manifest, ManifestEntry,
};
pub use sigs::{
    hash_sources_from_dir, parse_plants, read_plants, signatures, HashHit, HashSource, Plant,
    PlantOffset, SigConfig, SigSet,
};

/// Name recorded in the manifest for EICAR files (the name in
/// `fixtures/eicar.hdb`; current official databases say
/// `Win.Test.EICAR_HDB-1`).
pub const EICAR_NAME: &str = "Eicar-Test-Signature";
/// MD5 of [`eicar()`].
pub const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";

/// The 68-byte EICAR test file.
pub fn eicar() -> Vec<u8> {
    let mut v = Vec::with_capacity(68);
    v.extend_from_slice(br"X5O!P%@AP[4\PZX54(P^)7CC)7}$");
    v.extend_from_slice(b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
    v
}

/// ChaCha8 stream `stream` of `seed`.
pub(crate) fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// Parse a size like `4096`, `1KiB`, `4MiB`, `200MB`, `1G`.
/// `K`/`KiB`/`M`/`MiB`/`G`/`GiB` are powers of 1024; `KB`/`MB`/`GB` powers
/// of 1000. Case-insensitive.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "kb" => 1e3,
        "m" | "mib" => 1024.0 * 1024.0,
        "mb" => 1e6,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "gb" => 1e9,
        u => return Err(format!("unknown size unit {u:?} in {s:?}")),
    };
    let n: f64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    Ok((n * mult).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    #[test]
    fn eicar_is_exact() {
        let e = eicar();
        assert_eq!(e.len(), 68);
        assert_eq!(to_hex(&Md5::digest(&e)), EICAR_MD5);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("1KiB").unwrap(), 1024);
        assert_eq!(parse_size("4MiB").unwrap(), 4 << 20);
        assert_eq!(parse_size("200MB").unwrap(), 200_000_000);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert!(parse_size("3 parsecs").is_err());
    }
}
