//! The MS-OVBA compression (section 2.4.1) that VBA projects store their `dir`
//! stream and module source in: a signature byte 0x01, then chunks of at most 4096
//! decompressed bytes, each a literal copy or a sequence of flag bytes, literal
//! tokens and copy tokens. Written by hand: no maintained crate decodes it (the
//! `ovba` crate is a small single-author reader), and it is fifty lines.
//!
//! Decoding is lenient, as scanning needs: a damaged chunk ends the output where it
//! breaks instead of failing, and the output never exceeds the caller's bound.

/// Decompresses a CompressedContainer, at most `max` bytes of output. `None` when the
/// signature byte is missing; otherwise what could be decoded.
pub fn decompress(src: &[u8], max: usize) -> Option<Vec<u8>> {
    if src.first() != Some(&1) {
        return None;
    }
    let mut out = Vec::new();
    let mut pos = 1;
    while pos + 2 <= src.len() && out.len() < max {
        let header = u16::from_le_bytes([src[pos], src[pos + 1]]);
        let end = (pos + (header & 0x0fff) as usize + 3).min(src.len());
        let data = pos + 2;
        pos = end;
        if header & 0x8000 == 0 {
            // A raw chunk: 4096 bytes stored as they are.
            let take = (end - data).min(max - out.len());
            out.extend_from_slice(&src[data..data + take]);
            continue;
        }
        if !chunk(&src[data..end], &mut out, max) {
            break;
        }
    }
    out.truncate(max);
    Some(out)
}

/// Decodes one compressed chunk's token sequences onto `out`; false when it is
/// damaged (a copy token reaching before the chunk) or `max` is reached.
fn chunk(src: &[u8], out: &mut Vec<u8>, max: usize) -> bool {
    let start = out.len();
    let mut p = 0;
    while p < src.len() {
        let flags = src[p];
        p += 1;
        for bit in 0..8 {
            if p >= src.len() {
                return true;
            }
            if (flags >> bit) & 1 == 0 {
                out.push(src[p]);
                p += 1;
            } else {
                if p + 2 > src.len() {
                    return true;
                }
                let token = u16::from_le_bytes([src[p], src[p + 1]]);
                p += 2;
                let done = out.len() - start;
                let mut bits = 4;
                while bits < 12 && (1usize << bits) < done {
                    bits += 1;
                }
                let length = (token & (0xffff >> bits)) as usize + 3;
                let offset = (token >> (16 - bits)) as usize + 1;
                if offset > done {
                    return false;
                }
                for _ in 0..length {
                    let b = out[out.len() - offset];
                    out.push(b);
                }
            }
            if out.len() >= max {
                return false;
            }
        }
    }
    true
}

/// A valid container holding `data` as literal tokens only (chunks of 3000 bytes so
/// the chunk size fits its 12 bits): the tests' compressor.
#[cfg(test)]
pub fn compress_literals(data: &[u8]) -> Vec<u8> {
    let mut out = vec![1u8];
    for piece in data.chunks(3000) {
        let mut body = Vec::new();
        for group in piece.chunks(8) {
            body.push(0);
            body.extend_from_slice(group);
        }
        let header = 0xb000u16 | (body.len() as u16 + 2 - 3);
        out.extend_from_slice(&header.to_le_bytes());
        out.extend_from_slice(&body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect()
    }

    #[test]
    fn spec_example_no_compression() {
        // MS-OVBA 3.2.1.
        let packed = hex("01 19 B0 00 61 62 63 64 65 66 67 68 00 69 6A 6B 6C 6D 6E 6F 70 00 71 72 73 74 75 76 2E");
        assert_eq!(
            decompress(&packed, 1 << 20).unwrap(),
            b"abcdefghijklmnopqrstuv."
        );
    }

    #[test]
    fn spec_example_copy_tokens() {
        // MS-OVBA 3.2.2.
        let packed = hex(
            "01 2F B0 00 23 61 61 61 62 63 64 65 82 66 00 70 61 67 68 69 6A 01 38 08 61 6B 6C 00 30 \
             6D 6E 6F 70 06 71 02 70 04 10 72 73 74 75 76 10 77 78 79 7A 00 3C",
        );
        assert_eq!(
            decompress(&packed, 1 << 20).unwrap(),
            b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa"
        );
        // Bounded output: the prefix only.
        assert_eq!(decompress(&packed, 10).unwrap(), b"#aaabcdefa");
    }

    #[test]
    fn raw_chunks_literals_and_damage() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 97) as u8).collect();
        assert_eq!(
            decompress(&compress_literals(&data), 1 << 20).unwrap(),
            data
        );
        let mut raw = vec![1u8, 0xff, 0x3f];
        raw.extend_from_slice(&data[..4096]);
        assert_eq!(decompress(&raw, 1 << 20).unwrap(), &data[..4096]);
        assert!(decompress(b"\x02abc", 100).is_none());
        // A copy token at the chunk start reaches before it: stop, no panic.
        assert_eq!(decompress(&hex("01 05 B0 01 00 00"), 100).unwrap(), b"");
        for cut in 0..40 {
            let packed = compress_literals(b"Attribute VB_Name = \"Module1\"");
            let _ = decompress(&packed[..cut.min(packed.len())], 100);
        }
    }
}
