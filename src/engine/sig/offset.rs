//! Signature offsets (`*`, `n`, `n,maxshift`, `EOF-n`, `EOF-n,maxshift`, and the
//! executable-relative forms we recognise but cannot honour yet).
//!
//! An offset constrains where the *start* of a match may lie, which is why the
//! verifier checks it on the leftmost element rather than on the Hyperscan anchor.

use std::fmt;

/// Where a match may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Offset {
    /// Anywhere.
    Any,
    /// At `at ..= at + shift` from the start of the object.
    Abs {
        /// First allowed start.
        at: u64,
        /// How far beyond `at` the start may float.
        shift: u64,
    },
    /// At `size - back ..= size - back + shift`.
    Eof {
        /// Distance from the end.
        back: u64,
        /// How far beyond the start may float.
        shift: u64,
    },
}

/// An offset form we parse but do not support yet (it needs the PE/ELF parser).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedOffset(pub String);

impl fmt::Display for UnsupportedOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "offset '{}' needs executable parsing (not supported yet)",
            self.0
        )
    }
}

/// Result of parsing an offset: `Ok(Err(_))` is well-formed but unsupported.
pub type ParsedOffset = Result<Result<Offset, UnsupportedOffset>, String>;

impl Offset {
    /// Parses the offset field of an `.ndb` line or `.ldb` subsignature.
    pub fn parse(text: &str) -> ParsedOffset {
        let text = text.trim();
        if text == "*" {
            return Ok(Ok(Offset::Any));
        }
        let (base, shift) = match text.split_once(',') {
            Some((b, s)) => (b, Some(s)),
            None => (text, None),
        };
        let shift = match shift {
            Some(s) => s
                .parse::<u64>()
                .map_err(|_| format!("bad maxshift '{s}' in offset '{text}'"))?,
            None => 0,
        };
        if let Some(back) = base.strip_prefix("EOF-") {
            let back = back
                .parse::<u64>()
                .map_err(|_| format!("bad offset '{text}'"))?;
            return Ok(Ok(Offset::Eof { back, shift }));
        }
        if base.starts_with("EP")
            || base.starts_with("SL")
            || base.starts_with("SE")
            || base.starts_with('S')
            || base.starts_with("VI")
        {
            return Ok(Err(UnsupportedOffset(text.to_string())));
        }
        let at = base
            .parse::<u64>()
            .map_err(|_| format!("bad offset '{text}'"))?;
        Ok(Ok(Offset::Abs { at, shift }))
    }

    /// Whether a match starting at `start` in an object of `size` bytes is allowed.
    #[inline]
    pub fn allows(&self, start: u64, size: u64) -> bool {
        match *self {
            Offset::Any => true,
            Offset::Abs { at, shift } => start >= at && start - at <= shift,
            Offset::Eof { back, shift } => {
                let Some(at) = size.checked_sub(back) else {
                    return false;
                };
                start >= at && start - at <= shift
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(Offset::parse("*"), Ok(Ok(Offset::Any)));
        assert_eq!(
            Offset::parse("10"),
            Ok(Ok(Offset::Abs { at: 10, shift: 0 }))
        );
        assert_eq!(
            Offset::parse("10,5"),
            Ok(Ok(Offset::Abs { at: 10, shift: 5 }))
        );
        assert_eq!(
            Offset::parse("EOF-20"),
            Ok(Ok(Offset::Eof { back: 20, shift: 0 }))
        );
        assert!(matches!(Offset::parse("EP+10"), Ok(Err(_))));
        assert!(matches!(Offset::parse("S2+4"), Ok(Err(_))));
        assert!(Offset::parse("ten").is_err());
        assert!(Offset::parse("1,x").is_err());
    }

    #[test]
    fn allows() {
        let o = Offset::Abs { at: 10, shift: 5 };
        assert!(!o.allows(9, 100) && o.allows(10, 100) && o.allows(15, 100) && !o.allows(16, 100));
        let e = Offset::Eof { back: 4, shift: 0 };
        assert!(e.allows(96, 100) && !e.allows(95, 100) && !e.allows(0, 2));
    }
}
