//! BinHex 4.0 (`.hqx`), written by hand: no maintained crate reads it (Python dropped
//! its `binhex` module in 3.11; the Rust crates found are unmaintained or encode only).
//!
//! The format: a `(This file must be converted with BinHex 4.0)` line, then the data
//! between two `:` in a 64-character alphabet (6 bits each, line breaks ignored),
//! run-length encoded with `0x90` (`0x90 n`: the previous byte `n` times in all;
//! `0x90 0`: a literal `0x90`). The decoded stream is a header (name length, name, a
//! version byte, type, creator, flags, data fork length, resource fork length, CRC),
//! the data fork and its CRC, the resource fork and its CRC; the CRCs are CRC-16/XMODEM
//! (CCITT polynomial, initial 0).
//!
//! Children: the data fork, named by the embedded file name, and the resource fork if
//! not empty (`name.rsrc`). A fork larger than `budget.max_object` is skipped as too
//! large without being expanded (runs are skipped arithmetically, so an RLE bomb costs
//! no memory). A CRC mismatch or a truncated fork still yields what was decoded,
//! marked damaged ([`Skip::Corrupted`]). Each fork is expanded in one call.

use super::codec::Sextets;
use super::unpack::{Budget, Child, Next, Skip, Unpacker};
use super::Blob;

const ALPHABET: &[u8; 64] = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";

const TABLE: [u8; 256] = {
    let mut t = [255u8; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// The header line's start; recognizers look for it.
pub const MAGIC: &[u8] = b"(This file must be converted with BinHex";

/// CRC-16/XMODEM, as BinHex computes it.
fn crc16(crc: u16, data: &[u8]) -> u16 {
    let mut crc = crc;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The 6-bit decoded stream (still run-length encoded) and whether it ended with the
/// closing `:` (not truncated or broken by a foreign character).
fn decode_6bit(data: &[u8]) -> (Vec<u8>, bool) {
    let from = memchr::memmem::find(data, MAGIC).unwrap_or(0);
    let Some(colon) = memchr::memchr(b':', &data[from..]) else {
        return (Vec::new(), false);
    };
    let mut out = Vec::with_capacity((data.len() - from) / 4 * 3);
    let mut sextets = Sextets::default();
    for &c in &data[from + colon + 1..] {
        match c {
            b':' => return (out, true),
            b'\r' | b'\n' | b' ' | b'\t' => continue,
            _ => {}
        }
        let v = TABLE[c as usize];
        if v == 255 {
            return (out, false);
        }
        if let Some(byte) = sextets.push(v) {
            out.push(byte);
        }
    }
    (out, false)
}

/// The run-length decoder over the 6-bit decoded stream.
struct Rle {
    src: Vec<u8>,
    pos: usize,
    last: u8,
    /// Repeats of `last` still to emit.
    run: u64,
}

impl Rle {
    fn byte(&mut self) -> Option<u8> {
        loop {
            if self.run > 0 {
                self.run -= 1;
                return Some(self.last);
            }
            let b = *self.src.get(self.pos)?;
            self.pos += 1;
            if b != 0x90 {
                self.last = b;
                return Some(b);
            }
            let n = *self.src.get(self.pos)?;
            self.pos += 1;
            if n == 0 {
                self.last = 0x90;
                return Some(0x90);
            }
            // The previous byte was emitted once already.
            self.run = n as u64 - 1;
        }
    }

    /// Up to `n` bytes (fewer when the stream ends).
    fn take(&mut self, n: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(n.min(self.src.len() as u64 * 128) as usize);
        while (out.len() as u64) < n {
            match self.byte() {
                Some(b) => out.push(b),
                None => break,
            }
        }
        out
    }

    /// Skips `n` bytes, runs at once; whether all were there.
    fn skip(&mut self, mut n: u64) -> bool {
        while n > 0 {
            if self.run > 0 {
                let k = self.run.min(n);
                self.run -= k;
                n -= k;
                continue;
            }
            if self.byte().is_none() {
                return false;
            }
            n -= 1;
        }
        true
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.byte()?, self.byte()?]))
    }
}

/// A BinHex file being extracted.
struct BinHex {
    rle: Rle,
    name: String,
    data_len: u64,
    rsrc_len: u64,
    /// The header CRC did not match, or the encoded text broke off.
    damaged: bool,
    /// 0: the data fork next, 1: the resource fork, 2: done.
    fork: u8,
}

/// Opens the container.
pub fn open<'a>(data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    let (src, closed) = decode_6bit(&data);
    let mut rle = Rle {
        src,
        pos: 0,
        last: 0,
        run: 0,
    };
    let name_len = rle.byte().ok_or(Skip::Corrupted)?;
    if !(1..=63).contains(&name_len) {
        return Err(Skip::Corrupted);
    }
    // Name, version, type, creator, flags, data length, resource length.
    let rest = rle.take(name_len as u64 + 1 + 4 + 4 + 2 + 4 + 4);
    if rest.len() != name_len as usize + 19 {
        return Err(Skip::Corrupted);
    }
    let crc = rle.u16().ok_or(Skip::Corrupted)?;
    let mut header = vec![name_len];
    header.extend_from_slice(&rest);
    let want = crc16(0, &header);
    let n = name_len as usize;
    let be32 = |at: usize| u32::from_be_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]]);
    let name = super::codec::path_element(&String::from_utf8_lossy(&rest[..n]));
    let name = if name.trim().is_empty() {
        "binhex".to_owned()
    } else {
        name
    };
    Ok(Box::new(BinHex {
        data_len: be32(n + 11) as u64,
        rsrc_len: be32(n + 15) as u64,
        rle,
        name,
        damaged: want != crc || !closed,
        fork: 0,
    }))
}

impl<'a> Unpacker<'a> for BinHex {
    fn next(&mut self, budget: &Budget) -> Next<'a> {
        loop {
            let (len, name) = match self.fork {
                0 => (self.data_len, self.name.clone()),
                1 => (self.rsrc_len, format!("{}.rsrc", self.name)),
                _ => return Next::End,
            };
            self.fork += 1;
            if len == 0 {
                // An empty fork has its CRC only.
                self.rle.skip(2);
                continue;
            }
            if len > budget.max_object {
                if !self.rle.skip(len.saturating_add(2)) {
                    self.fork = 2;
                }
                return Next::Skipped {
                    name,
                    reason: Skip::TooLarge,
                };
            }
            let bytes = self.rle.take(len);
            let crc = self.rle.u16();
            let whole = bytes.len() as u64 == len;
            if !whole {
                self.fork = 2;
                if bytes.is_empty() {
                    return Next::Broken(Skip::Corrupted);
                }
            }
            let damaged = self.damaged || !whole || crc != Some(crc16(0, &bytes));
            return Next::Object(Child {
                name,
                data: Blob::owned(bytes),
                damaged: damaged.then_some(Skip::Corrupted),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BinHex 4.0 encoder, following the format description above.
    fn encode(name: &str, data: &[u8], rsrc: &[u8]) -> Vec<u8> {
        let mut plain = vec![name.len() as u8];
        plain.extend_from_slice(name.as_bytes());
        plain.push(0);
        plain.extend_from_slice(b"TEXTttxt");
        plain.extend_from_slice(&[0, 0]);
        plain.extend_from_slice(&(data.len() as u32).to_be_bytes());
        plain.extend_from_slice(&(rsrc.len() as u32).to_be_bytes());
        let crc = crc16(0, &plain);
        plain.extend_from_slice(&crc.to_be_bytes());
        for fork in [data, rsrc] {
            plain.extend_from_slice(fork);
            plain.extend_from_slice(&crc16(0, fork).to_be_bytes());
        }
        // Run-length encoding: runs of 3 to 255 of a byte other than 0x90.
        let mut rle = Vec::new();
        let mut i = 0;
        while i < plain.len() {
            let b = plain[i];
            if b == 0x90 {
                rle.extend_from_slice(&[0x90, 0]);
                i += 1;
                continue;
            }
            let run = plain[i..].iter().take(255).take_while(|&&x| x == b).count();
            rle.push(b);
            if run >= 3 {
                rle.extend_from_slice(&[0x90, run as u8]);
                i += run;
            } else {
                i += 1;
            }
        }
        hqx_text(&rle)
    }

    /// The 6-bit encoding of a run-length encoded stream, with the header line.
    fn hqx_text(rle: &[u8]) -> Vec<u8> {
        let mut chars = Vec::new();
        for g in rle.chunks(3) {
            let v = [g[0], *g.get(1).unwrap_or(&0), *g.get(2).unwrap_or(&0)];
            let all = (v[0] as u32) << 16 | (v[1] as u32) << 8 | v[2] as u32;
            let n = [2, 3, 4][g.len() - 1];
            for k in 0..n {
                chars.push(ALPHABET[(all >> (18 - 6 * k) & 63) as usize]);
            }
        }
        let mut out = b"(This file must be converted with BinHex 4.0)\r\n\r\n:".to_vec();
        for (k, line) in chars.chunks(64).enumerate() {
            if k > 0 {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(line);
        }
        out.extend_from_slice(b":\r\n");
        out
    }

    use crate::formats::testutil::{drain, fuzz_with};

    fn children(data: &[u8]) -> Vec<(String, Vec<u8>, Option<Skip>)> {
        drain(open(Blob::borrowed(data)).unwrap(), &Budget::default())
            .into_iter()
            .map(|n| match n {
                Next::Object(c) => (c.name, c.data.to_vec(), c.damaged),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn binhex_crc_and_alphabet() {
        assert_eq!(crc16(0, b"123456789"), 0x31c3, "CRC-16/XMODEM check value");
        let mut sorted = ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 64);
    }

    #[test]
    fn binhex_round_trips_both_forks() {
        let data: Vec<u8> = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR"
            .iter()
            .copied()
            .chain([0u8; 1000])
            .chain([0x90; 5])
            .chain((0..=255u8).cycle().take(3000))
            .collect();
        let rsrc = b"resource\x90\x90\x90fork".to_vec();
        let hqx = encode("Eicar File", &data, &rsrc);
        assert_eq!(
            children(&hqx),
            vec![
                ("Eicar File".into(), data.clone(), None),
                ("Eicar File.rsrc".into(), rsrc, None)
            ]
        );
        // No resource fork: one child.
        let hqx = encode("only", b"data", b"");
        assert_eq!(
            children(&hqx),
            vec![("only".into(), b"data".to_vec(), None)]
        );
    }

    #[test]
    fn binhex_damage_limits_and_truncation() {
        let data = b"hello binhex ".repeat(50);
        let hqx = encode("f", &data, b"rs");
        // A flipped data byte: the fork is still returned, marked corrupted.
        let mut text = String::from_utf8(hqx.clone()).unwrap();
        let at = text.find(':').unwrap() + 40;
        let c = text.as_bytes()[at];
        let swap = if c == b'a' { "b" } else { "a" };
        text.replace_range(at..at + 1, swap);
        let got = children(text.as_bytes());
        assert!(got.iter().any(|c| c.2 == Some(Skip::Corrupted)), "{got:?}");
        // Over the limit: skipped, and the resource fork still follows.
        let u = open(Blob::borrowed(&hqx)).unwrap();
        let small = Budget {
            max_object: 100,
            ..Budget::default()
        };
        let got = drain(u, &small);
        assert!(
            matches!(&got[..], [Next::Skipped { reason: Skip::TooLarge, .. }, Next::Object(c)] if &*c.data == b"rs"),
            "{got:?}"
        );
        // Truncated: the prefix of the data fork, damaged.
        let cut = &hqx[..hqx.len() / 2];
        let got = children(cut);
        assert_eq!(got.len(), 1);
        assert!(data.starts_with(&got[0].1) && got[0].2 == Some(Skip::Corrupted));
        assert!(open(Blob::borrowed(
            b"(This file must be converted with BinHex 4.0)\n:"
        ))
        .is_err());
        assert!(open(Blob::borrowed(b"nothing")).is_err());
    }

    #[test]
    fn binhex_rle_bomb_is_skipped_without_expanding() {
        // A data fork length of 4 GiB - 1, made of runs: skipped, not expanded.
        let mut rle = vec![1, b'x', 0];
        rle.extend_from_slice(b"TEXTttxt\0\0");
        rle.extend_from_slice(&u32::MAX.to_be_bytes());
        rle.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc16(0, &rle);
        rle.extend_from_slice(&crc.to_be_bytes());
        rle.push(b'A');
        for _ in 0..10_000 {
            rle.extend_from_slice(&[0x90, 255]);
        }
        let u = open(Blob::owned(hqx_text(&rle))).unwrap();
        let got = drain(u, &Budget::default());
        assert!(
            matches!(
                &got[..],
                [Next::Skipped {
                    reason: Skip::TooLarge,
                    ..
                }]
            ),
            "{got:?}"
        );
    }

    /// Every prefix and seeded random flips: no panic.
    #[test]
    fn binhex_survives_prefixes_and_flips() {
        let hqx = encode("n", &b"abc\x90\x90\x90\0\0\0\0\0".repeat(20), b"r");
        fuzz_with(&hqx, 300, open, |rand| ALPHABET[(rand() % 64) as usize]);
    }
}
