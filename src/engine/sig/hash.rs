//! Hash signatures: `.hdb` (MD5), `.hsb` (SHA1/SHA256), and the `.fp`/`.sfp` allow lists
//! in the same formats. The hash type comes from the digest length, as in ClamAV
//! (`HashSignatures.md`), so an `.hdb` may hold a SHA256 line.

use super::{check_name, flevel_out_of_range, Parsed, Skip};

/// Digest algorithm, known from the hex length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashKind {
    /// 16 bytes.
    Md5,
    /// 20 bytes.
    Sha1,
    /// 32 bytes.
    Sha256,
}

impl HashKind {
    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashKind::Md5 => 16,
            HashKind::Sha1 => 20,
            HashKind::Sha256 => 32,
        }
    }

    /// All kinds, in index order.
    pub const ALL: [HashKind; 3] = [HashKind::Md5, HashKind::Sha1, HashKind::Sha256];

    /// Index into per-kind tables.
    pub fn index(self) -> usize {
        self as usize
    }

    fn from_hex_len(n: usize) -> Option<HashKind> {
        match n {
            32 => Some(HashKind::Md5),
            40 => Some(HashKind::Sha1),
            64 => Some(HashKind::Sha256),
            _ => None,
        }
    }
}

/// One hash signature (or allow-list entry), borrowing its name from the line: a
/// million of them are parsed per load, so no allocation per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashSig<'a> {
    /// Algorithm.
    pub kind: HashKind,
    /// The digest, `kind.digest_len()` bytes used.
    pub digest: [u8; 32],
    /// Object size, or `None` for `*`.
    pub size: Option<u64>,
    /// Malware name (or allow-list label).
    pub name: &'a str,
}

/// Decodes hex into `out`; `false` on a bad digit.
pub fn decode_hex(hex: &str, out: &mut [u8]) -> bool {
    let b = hex.as_bytes();
    if b.len() != out.len() * 2 {
        return false;
    }
    for (i, o) in out.iter_mut().enumerate() {
        let hi = (b[2 * i] as char).to_digit(16);
        let lo = (b[2 * i + 1] as char).to_digit(16);
        match (hi, lo) {
            (Some(h), Some(l)) => *o = (h * 16 + l) as u8,
            _ => return false,
        }
    }
    true
}

/// Parses `HashString:FileSize:MalwareName[:MinFL[:MaxFL]]`.
pub fn parse_line(line: &str) -> Result<Parsed<HashSig<'_>>, String> {
    // At most five fields matter; collecting into an array avoids a Vec per line.
    let mut fields = [""; 5];
    let mut n = 0;
    for (slot, f) in fields.iter_mut().zip(line.split(':')) {
        *slot = f;
        n += 1;
    }
    if n < 3 {
        return Err(format!(
            "expected HashString:FileSize:MalwareName, found {n} field(s)"
        ));
    }
    let fields = &fields[..n];
    let (hex, size, name) = (fields[0].trim(), fields[1].trim(), fields[2].trim());
    check_name(name)?;
    let kind = HashKind::from_hex_len(hex.len()).ok_or_else(|| {
        format!(
            "hash '{hex}' has {} hex digits; expected 32, 40 or 64",
            hex.len()
        )
    })?;
    let mut digest = [0u8; 32];
    if !decode_hex(hex, &mut digest[..kind.digest_len()]) {
        return Err(format!("hash '{hex}' is not hex"));
    }
    let size = if size == "*" {
        // ClamAV requires FLEVEL >= 73 on `*` lines; real sets always write it.
        if fields.get(3).is_none() {
            return Ok(Parsed::Skip(Skip {
                name: name.into(),
                reason: "'*' size needs a minimum functionality level field (':73')".into(),
            }));
        }
        None
    } else {
        match size.parse::<u64>() {
            Ok(0) => return Err("file size 0 is not allowed".into()),
            Ok(n) => Some(n),
            Err(_) => return Err(format!("bad file size '{size}'")),
        }
    };
    if let Some(reason) = flevel_out_of_range(fields.get(3).copied(), fields.get(4).copied())? {
        return Ok(Parsed::Skip(Skip {
            name: name.into(),
            reason,
        }));
    }
    Ok(Parsed::Sig(HashSig {
        kind,
        digest,
        size,
        name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(line: &str) -> HashSig<'_> {
        match parse_line(line).unwrap() {
            Parsed::Sig(s) => s,
            Parsed::Skip(s) => panic!("skipped: {s:?}"),
        }
    }

    #[test]
    fn kinds_by_length() {
        assert_eq!(
            sig("44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature").kind,
            HashKind::Md5
        );
        assert_eq!(
            sig("3395856ce81f2b7382dee72602f798b642f14140:68:E").kind,
            HashKind::Sha1
        );
        let s = sig("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:68:E");
        assert_eq!((s.kind, s.size), (HashKind::Sha256, Some(68)));
        assert_eq!(s.digest[0], 0x27);
    }

    #[test]
    fn star_size_needs_flevel() {
        assert_eq!(sig("44d88612fea8a8f36de82e1278abb02f:*:E:73").size, None);
        assert!(matches!(
            parse_line("44d88612fea8a8f36de82e1278abb02f:*:E"),
            Ok(Parsed::Skip(_))
        ));
    }

    #[test]
    fn malformed() {
        assert!(parse_line("44d8:68:E").is_err());
        assert!(parse_line("zzd88612fea8a8f36de82e1278abb02f:68:E").is_err());
        assert!(parse_line("44d88612fea8a8f36de82e1278abb02f:6x8:E").is_err());
        assert!(parse_line("44d88612fea8a8f36de82e1278abb02f:68").is_err());
        assert!(parse_line("44d88612fea8a8f36de82e1278abb02f:68:").is_err());
    }
}
