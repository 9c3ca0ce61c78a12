//! Small decoding helpers shared by the hand-written formats.

/// A name taken from the data as one path element: `/`, `\` and control characters
/// become `_` (the driver joins names with `//`).
pub(crate) fn path_element(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The value of one hex digit (either case), `None` for anything else.
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Packs 6-bit values (base64, BinHex) into bytes, most significant bits first.
#[derive(Debug, Default)]
pub(crate) struct Sextets {
    acc: u32,
    bits: u32,
}

impl Sextets {
    /// Adds one 6-bit value; the byte it completes, if any.
    pub(crate) fn push(&mut self, v: u8) -> Option<u8> {
        self.acc = (self.acc << 6) | u32::from(v & 63);
        self.bits += 6;
        if self.bits < 8 {
            return None;
        }
        self.bits -= 8;
        let byte = (self.acc >> self.bits) as u8;
        self.acc &= (1 << self.bits) - 1;
        Some(byte)
    }

    /// Drops a partial byte (base64's `=` ends a group).
    pub(crate) fn reset(&mut self) {
        *self = Sextets::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits() {
        for b in 0..=255u8 {
            let want = (b as char).to_digit(16).map(|v| v as u8);
            assert_eq!(hex_val(b), want, "{b:#x}");
        }
    }

    #[test]
    fn sextets_pack_msb_first() {
        // "TWFu" in base64 is "Man": 19, 22, 5, 46.
        let mut s = Sextets::default();
        let out: Vec<u8> = [19, 22, 5, 46].iter().filter_map(|&v| s.push(v)).collect();
        assert_eq!(out, b"Man");
        s.push(1);
        s.reset();
        assert_eq!(s.push(19), None);
    }
}
