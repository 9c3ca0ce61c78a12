//! The ClamAV hex body syntax (`.ndb` bodies, `.ldb` subsignatures) parsed into a
//! [`Body`]: a flat list of [`Elem`]s that the verifier walks in either direction.
//!
//! The grammar follows `BodySignatureFormat.md` of the ClamAV documentation:
//! hex bytes, `??`, nibble wildcards `a?` / `?a`, gaps `*` `{n}` `{-n}` `{n-}` `{n-m}`,
//! anchored short gaps `[x-y]`, alternatives `(aa|bb)` / `(aabb|ccdd)` / generic
//! variable-length ones, their negation `!(..)`, and the classes `(B)` `(L)` `(W)`.
//!
//! One decision shapes the representation: ClamAV treats a class at the very start or
//! end of a body as an assertion about the byte *outside* the match (the
//! `AC_BOUNDARY_LEFT/RIGHT` flags of `matcher-ac.c`), while inside the body it consumes
//! bytes. We model the first as a zero-width [`Elem::Edge`] and the second as an
//! ordinary byte set or alternative, so the matcher needs no special cases.

use std::fmt;

/// A set of byte values, as a 256-bit map.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ByteSet([u64; 4]);

impl ByteSet {
    /// The empty set.
    pub const EMPTY: ByteSet = ByteSet([0; 4]);

    /// Adds `b`.
    pub fn insert(&mut self, b: u8) {
        self.0[(b >> 6) as usize] |= 1 << (b & 63);
    }

    /// Whether `b` is in the set.
    #[inline]
    pub fn contains(&self, b: u8) -> bool {
        self.0[(b >> 6) as usize] & (1 << (b & 63)) != 0
    }

    /// The complement.
    pub fn negate(&self) -> ByteSet {
        ByteSet([!self.0[0], !self.0[1], !self.0[2], !self.0[3]])
    }

    /// Builds a set from a predicate.
    pub fn from_fn(f: impl Fn(u8) -> bool) -> ByteSet {
        let mut s = ByteSet::EMPTY;
        for b in 0..=255u8 {
            if f(b) {
                s.insert(b);
            }
        }
        s
    }

    /// Number of members.
    pub fn len(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    /// Whether the set has no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Iterates the members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(move |&b| self.contains(b))
    }
}

impl fmt::Debug for ByteSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ByteSet{{{} members}}", self.len())
    }
}

/// The three character classes of the body syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// `(B)`: a word boundary.
    Boundary,
    /// `(L)`: a line marker (LF or CRLF).
    Line,
    /// `(W)`: a non-alphanumeric byte.
    NonAlnum,
    /// The `::f` test of a `::w` subsignature: the outside *wide* character is not an
    /// alphanumeric followed by NUL (ClamAV checks two bytes there).
    WideNonAlnum,
}

/// Which side of the match an [`Elem::Edge`] looks at, in scan direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The byte just before the match (or the start of the object).
    Before,
    /// The byte just after the match (or the end of the object).
    After,
}

/// One element of a body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Elem {
    /// One byte that matches when `byte & mask == value` (`mask` 0xff exact, 0xf0/0x0f
    /// nibbles, 0x00 any byte).
    Byte {
        /// Expected bits.
        value: u8,
        /// Bits that must equal `value`.
        mask: u8,
    },
    /// One byte from a set.
    Set(ByteSet),
    /// A run of exact bytes. The parser never emits it; `compile.rs` packs runs of
    /// exact [`Elem::Byte`]s into it for verification (one memcmp instead of a loop over
    /// 40-byte elements, and a byte of memory per byte).
    Bytes(Box<[u8]>),
    /// One of several byte sequences. `negated` alternatives are fixed-length: they
    /// match any sequence of that length equal to none of them.
    Alt {
        /// The alternatives; none contains a gap without an upper bound.
        alts: Vec<Vec<Elem>>,
        /// `!(..)`.
        negated: bool,
    },
    /// `min..=max` arbitrary bytes; `max == None` means no upper bound.
    Gap {
        /// Fewest bytes skipped.
        min: u32,
        /// Most bytes skipped, if bounded.
        max: Option<u32>,
    },
    /// A zero-width test of the byte outside the match (see the module comment).
    Edge {
        /// Which class the outside byte must belong to.
        class: Class,
        /// Which outside byte.
        side: Side,
        /// `!(B)` and friends: the test is inverted.
        negated: bool,
    },
}

impl Elem {
    /// The exact byte this element matches, if it matches exactly one.
    pub fn exact_byte(&self) -> Option<u8> {
        match *self {
            Elem::Byte { value, mask: 0xff } => Some(value),
            _ => None,
        }
    }

    /// Length in bytes if every match of this element has the same length.
    pub fn fixed_len(&self) -> Option<u32> {
        match self {
            Elem::Byte { .. } | Elem::Set(_) => Some(1),
            Elem::Bytes(b) => Some(b.len() as u32),
            Elem::Edge { .. } => Some(0),
            Elem::Gap { min, max } if Some(*min) == *max => Some(*min),
            Elem::Gap { .. } => None,
            Elem::Alt { alts, .. } => {
                let first = seq_fixed_len(alts.first()?)?;
                alts.iter()
                    .all(|a| seq_fixed_len(a) == Some(first))
                    .then_some(first)
            }
        }
    }

    /// Most bytes one match of this element can span, if bounded.
    pub fn max_len(&self) -> Option<u32> {
        match self {
            Elem::Gap { max, .. } => *max,
            Elem::Alt { alts, .. } => alts
                .iter()
                .map(|a| seq_max_len(a))
                .try_fold(0, |m, l| Some(m.max(l?))),
            other => other.fixed_len(),
        }
    }
}

/// Length of a sequence if fixed.
pub fn seq_fixed_len(seq: &[Elem]) -> Option<u32> {
    seq.iter()
        .try_fold(0u32, |acc, e| Some(acc.saturating_add(e.fixed_len()?)))
}

/// Longest span of a sequence if bounded.
pub fn seq_max_len(seq: &[Elem]) -> Option<u32> {
    seq.iter()
        .try_fold(0u32, |acc, e| Some(acc.saturating_add(e.max_len()?)))
}

/// The byte classes ClamAV's `(B)` accepts, as a table: bit 0 set means the byte may
/// stand *before* a word (left boundary), bit 1 means it may stand *after* one.
/// Values restated from ClamAV's `matcher-ac.c` `boundary[]` table.
pub fn boundary_bits(b: u8) -> u8 {
    match b {
        b' ' | b'-' | b'/' | b'_' => 3,
        b'\n' | b'\r' | b'"' | b'\'' | b'=' | b'>' => 2,
        b'.' | b'<' | b'@' => 1,
        _ => 0,
    }
}

/// Whether `b` satisfies a consuming class (inside a body).
pub fn class_set(class: Class) -> ByteSet {
    match class {
        Class::Boundary => ByteSet::from_fn(|b| boundary_bits(b) != 0),
        Class::NonAlnum | Class::WideNonAlnum => ByteSet::from_fn(|b| !b.is_ascii_alphanumeric()),
        Class::Line => ByteSet::from_fn(|b| b == b'\n'),
    }
}

/// A parsed hex body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Body {
    /// The elements, in match order.
    pub elems: Vec<Elem>,
}

/// Why a body did not parse. `at` is a byte index into the hex text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyError {
    /// Byte index of the problem.
    pub at: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.reason, self.at + 1)
    }
}

impl std::error::Error for BodyError {}

fn err<T>(at: usize, reason: impl Into<String>) -> Result<T, BodyError> {
    Err(BodyError {
        at,
        reason: reason.into(),
    })
}

/// Largest gap bound accepted; keeps verification bounded and matches what real
/// databases use (ClamAV rejects nothing this large in practice either).
pub const MAX_GAP: u32 = 1 << 20;

impl Body {
    /// Parses a hex body.
    pub fn parse(text: &str) -> Result<Body, BodyError> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
            depth: 0,
        };
        let mut elems = p.seq(false)?;
        if p.i != p.s.len() {
            return err(p.i, format!("unexpected '{}'", p.s[p.i] as char));
        }
        if elems.is_empty() {
            return err(0, "empty body");
        }
        edges_from_classes(&mut elems);
        Ok(Body { elems })
    }

    /// Applies the `::w` modifier: every exact byte becomes the byte followed by NUL
    /// (ClamAV's "wide" is interleaved ASCII, not real UTF-16).
    pub fn widened(&self) -> Body {
        fn widen(seq: &[Elem]) -> Vec<Elem> {
            let mut out = Vec::with_capacity(seq.len() * 2);
            for e in seq {
                match e {
                    // ClamAV leaves gaps as they are: `{3}` skips three bytes, not
                    // three wide characters.
                    Elem::Gap { .. } | Elem::Edge { .. } => out.push(e.clone()),
                    Elem::Alt { alts, negated } => out.push(Elem::Alt {
                        alts: alts.iter().map(|a| widen(a)).collect(),
                        negated: *negated,
                    }),
                    _ => {
                        out.push(e.clone());
                        out.push(Elem::Byte {
                            value: 0,
                            mask: 0xff,
                        });
                    }
                }
            }
            out
        }
        Body {
            elems: widen(&self.elems),
        }
    }
}

/// Gaps of at least this many bytes split a body into parts (ClamAV rewrites shorter
/// fixed ones as `??` runs, which do not split).
const SPLITTING_GAP: u32 = 128;

/// ClamAV's structural rules for database bodies (`.ndb` and `.ldb` lines check them;
/// [`Body::parse`] alone accepts any well-formed syntax), which it enforces by
/// refusing the database as malformed (checked against clamscan 1.4): a body neither starts nor ends with an
/// unbounded or variable gap, and each part between splitting gaps holds two
/// consecutive fixed bytes. The second rule is also what lets every body anchor.
pub fn check_parts(elems: &[Elem]) -> Result<(), BodyError> {
    let variable = |e: &Elem| match e {
        Elem::Gap { min, max } => Some(*min) != *max,
        _ => false,
    };
    if elems.first().is_some_and(variable) {
        return err(0, "a body cannot start with a variable gap");
    }
    if elems.last().is_some_and(variable) {
        return err(0, "a body cannot end with a variable gap");
    }
    let splits = |e: &Elem| match e {
        Elem::Gap { min, max } => max.is_none_or(|m| m >= SPLITTING_GAP) || *min >= SPLITTING_GAP,
        _ => false,
    };
    for (n, part) in elems.split(splits).enumerate() {
        let has_pair = part
            .windows(2)
            .any(|w| w[0].exact_byte().is_some() && w[1].exact_byte().is_some());
        if !has_pair {
            return err(
                0,
                format!("part {} has no two consecutive fixed bytes", n + 1),
            );
        }
    }
    Ok(())
}

/// Deepest nesting of alternatives accepted: ClamAV's own grammar has no nesting; a
/// bound keeps the recursive parser and matcher far from the stack's end.
pub const MAX_NESTING: usize = 8;

/// A class that starts or ends the body tests the outside byte.
fn edges_from_classes(elems: &mut [Elem]) {
    fn as_edge(e: &Elem, side: Side) -> Option<Elem> {
        if let Elem::Alt { alts, negated } = e {
            if let [single] = alts.as_slice() {
                if let [Elem::Edge { class, .. }] = single.as_slice() {
                    return Some(Elem::Edge {
                        class: *class,
                        side,
                        negated: *negated,
                    });
                }
            }
        }
        None
    }
    let last = elems.len() - 1;
    for (i, e) in elems.iter_mut().enumerate() {
        let side = if i == last && i != 0 {
            Side::After
        } else {
            Side::Before
        };
        match as_edge(e, side) {
            Some(edge) if i == 0 || i == last => *e = edge,
            Some(Elem::Edge { class, negated, .. }) => *e = consuming_class(class, negated),
            _ => {}
        }
    }
}

/// A class in the middle of a body consumes bytes.
fn consuming_class(class: Class, negated: bool) -> Elem {
    match (class, negated) {
        (Class::Line, false) => Elem::Alt {
            alts: vec![
                vec![Elem::Byte {
                    value: b'\n',
                    mask: 0xff,
                }],
                vec![
                    Elem::Byte {
                        value: b'\r',
                        mask: 0xff,
                    },
                    Elem::Byte {
                        value: b'\n',
                        mask: 0xff,
                    },
                ],
            ],
            negated: false,
        },
        (c, false) => Elem::Set(class_set(c)),
        (c, true) => Elem::Set(class_set(c).negate()),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Parses elements until end of input, or `|` / `)` when inside alternatives.
    fn seq(&mut self, nested: bool) -> Result<Vec<Elem>, BodyError> {
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                b'|' | b')' if nested => break,
                b'*' => {
                    if nested {
                        return err(self.i, "'*' is not allowed inside alternatives");
                    }
                    self.i += 1;
                    out.push(Elem::Gap { min: 0, max: None });
                }
                b'{' => {
                    let gap = self.brace_gap()?;
                    if nested && matches!(gap, Elem::Gap { max: None, .. }) {
                        return err(self.i, "unbounded gap inside alternatives");
                    }
                    out.push(gap);
                }
                b'[' => out.push(self.bracket_gap()?),
                b'(' | b'!' => out.push(self.group()?),
                _ => out.push(self.hex_byte()?),
            }
        }
        Ok(out)
    }

    fn nibble(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }

    fn hex_byte(&mut self) -> Result<Elem, BodyError> {
        let at = self.i;
        let (Some(&hi), Some(&lo)) = (self.s.get(at), self.s.get(at + 1)) else {
            return err(at, "odd number of hex digits");
        };
        self.i += 2;
        let (hv, hm) = match hi {
            b'?' => (0, 0),
            c => (
                Self::nibble(c).ok_or(BodyError {
                    at,
                    reason: format!("bad hex digit '{}'", c as char),
                })? << 4,
                0xf0,
            ),
        };
        let (lv, lm) = match lo {
            b'?' => (0, 0),
            c => (
                Self::nibble(c).ok_or(BodyError {
                    at: at + 1,
                    reason: format!("bad hex digit '{}'", c as char),
                })?,
                0x0f,
            ),
        };
        Ok(Elem::Byte {
            value: hv | lv,
            mask: hm | lm,
        })
    }

    fn number(&mut self) -> Result<Option<u32>, BodyError> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if start == self.i {
            return Ok(None);
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        match text.parse::<u32>() {
            Ok(n) if n <= MAX_GAP => Ok(Some(n)),
            _ => err(start, format!("gap bound {text} too large (max {MAX_GAP})")),
        }
    }

    /// `{n}`, `{-n}`, `{n-}`, `{n-m}`.
    fn brace_gap(&mut self) -> Result<Elem, BodyError> {
        let open = self.i;
        self.i += 1;
        let lo = self.number()?;
        let gap = if self.peek() == Some(b'-') {
            self.i += 1;
            let hi = self.number()?;
            match (lo, hi) {
                (None, None) => return err(open, "empty gap '{-}'"),
                (lo, hi) => Elem::Gap {
                    min: lo.unwrap_or(0),
                    max: hi,
                },
            }
        } else {
            match lo {
                Some(n) => Elem::Gap {
                    min: n,
                    max: Some(n),
                },
                None => return err(open, "gap needs a number"),
            }
        };
        if self.peek() != Some(b'}') {
            return err(self.i, "expected '}'");
        }
        self.i += 1;
        if let Elem::Gap {
            min,
            max: Some(max),
        } = gap
        {
            if max < min {
                return err(open, format!("gap {{{min}-{max}}} has max below min"));
            }
        }
        Ok(gap)
    }

    /// `[x-y]`, a short gap next to a single-byte anchor (y ≤ 32 in ClamAV).
    fn bracket_gap(&mut self) -> Result<Elem, BodyError> {
        let open = self.i;
        self.i += 1;
        let lo = self.number()?.ok_or(BodyError {
            at: self.i,
            reason: "expected a number after '['".into(),
        })?;
        if self.peek() != Some(b'-') {
            return err(self.i, "expected '-' in '[x-y]'");
        }
        self.i += 1;
        let hi = self.number()?.ok_or(BodyError {
            at: self.i,
            reason: "expected a number in '[x-y]'".into(),
        })?;
        if self.peek() != Some(b']') {
            return err(self.i, "expected ']'");
        }
        self.i += 1;
        if hi < lo || hi > 32 {
            return err(open, format!("'[{lo}-{hi}]' needs x <= y <= 32"));
        }
        Ok(Elem::Gap {
            min: lo,
            max: Some(hi),
        })
    }

    /// `(B)`, `(L)`, `(W)`, `(aa|bb)`, `!(..)`.
    fn group(&mut self) -> Result<Elem, BodyError> {
        let open = self.i;
        if self.depth >= MAX_NESTING {
            return err(
                open,
                format!("alternatives nested deeper than {MAX_NESTING}"),
            );
        }
        self.depth += 1;
        let group = self.group_inner(open);
        self.depth -= 1;
        group
    }

    fn group_inner(&mut self, open: usize) -> Result<Elem, BodyError> {
        let negated = self.peek() == Some(b'!');
        if negated {
            self.i += 1;
            if self.peek() != Some(b'(') {
                return err(self.i, "expected '(' after '!'");
            }
        }
        self.i += 1;
        // Classes: a single letter in parentheses.
        if let (Some(&c), Some(&b')')) = (self.s.get(self.i), self.s.get(self.i + 1)) {
            let class = match c {
                b'B' => Some(Class::Boundary),
                b'L' => Some(Class::Line),
                b'W' => Some(Class::NonAlnum),
                _ => None,
            };
            if let Some(class) = class {
                self.i += 2;
                // Wrapped as a one-alternative Alt so `edges_from_classes` can tell a
                // class apart from other elements; it is rewritten there.
                return Ok(Elem::Alt {
                    alts: vec![vec![Elem::Edge {
                        class,
                        side: Side::Before,
                        negated: false,
                    }]],
                    negated,
                });
            }
        }
        let mut alts = Vec::new();
        loop {
            let alt = self.seq(true)?;
            if alt.is_empty() {
                return err(self.i, "empty alternative");
            }
            alts.push(alt);
            match self.peek() {
                Some(b'|') => self.i += 1,
                Some(b')') => {
                    self.i += 1;
                    break;
                }
                _ => return err(open, "unclosed '('"),
            }
        }
        if alts.len() < 2 {
            return err(open, "an alternative needs at least two choices");
        }
        // Single-byte alternatives are a byte set.
        if alts
            .iter()
            .all(|a| a.len() == 1 && a[0].exact_byte().is_some())
        {
            let mut set = ByteSet::EMPTY;
            for a in &alts {
                if let Some(b) = a[0].exact_byte() {
                    set.insert(b);
                }
            }
            return Ok(Elem::Set(if negated { set.negate() } else { set }));
        }
        let alt = Elem::Alt { alts, negated };
        if negated && alt.fixed_len().is_none() {
            return err(
                open,
                "a negated alternative needs choices of one fixed length",
            );
        }
        Ok(alt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: u8) -> Elem {
        Elem::Byte {
            value: v,
            mask: 0xff,
        }
    }

    #[test]
    fn bytes_and_wildcards() {
        let body = Body::parse("41??4??2").unwrap();
        assert_eq!(
            body.elems,
            vec![
                b(0x41),
                Elem::Byte { value: 0, mask: 0 },
                Elem::Byte {
                    value: 0x40,
                    mask: 0xf0
                },
                Elem::Byte {
                    value: 0x02,
                    mask: 0x0f
                }
            ]
        );
    }

    #[test]
    fn gaps() {
        let body = Body::parse("4142*4344{3}4546{-4}4748{5-}494a{2-9}4b4c[1-3]4d").unwrap();
        let gaps: Vec<_> = body
            .elems
            .iter()
            .filter(|e| matches!(e, Elem::Gap { .. }))
            .cloned()
            .collect();
        assert_eq!(
            gaps,
            vec![
                Elem::Gap { min: 0, max: None },
                Elem::Gap {
                    min: 3,
                    max: Some(3)
                },
                Elem::Gap {
                    min: 0,
                    max: Some(4)
                },
                Elem::Gap { min: 5, max: None },
                Elem::Gap {
                    min: 2,
                    max: Some(9)
                },
                Elem::Gap {
                    min: 1,
                    max: Some(3)
                },
            ]
        );
    }

    #[test]
    fn alternatives() {
        let body = Body::parse("41(42|43)44").unwrap();
        assert!(matches!(&body.elems[1], Elem::Set(s) if s.len() == 2 && s.contains(0x42)));
        let body = Body::parse("41!(42|43)44").unwrap();
        assert!(matches!(&body.elems[1], Elem::Set(s) if s.len() == 254 && !s.contains(0x42)));
        let body = Body::parse("41(4243|4445)46").unwrap();
        assert!(matches!(&body.elems[1], Elem::Alt { alts, negated: false } if alts.len() == 2));
        let body = Body::parse("41(42|4344|45??46)47").unwrap();
        assert!(matches!(&body.elems[1], Elem::Alt { alts, .. } if alts.len() == 3));
        assert!(
            Body::parse("41!(42|4344)45").is_err(),
            "negated alternatives must be fixed length"
        );
    }

    #[test]
    fn classes_at_edges_and_inside() {
        let body = Body::parse("(B)4142(W)4344(L)").unwrap();
        assert_eq!(
            body.elems[0],
            Elem::Edge {
                class: Class::Boundary,
                side: Side::Before,
                negated: false
            }
        );
        assert!(matches!(&body.elems[3], Elem::Set(s) if s.contains(b' ') && !s.contains(b'a')));
        assert_eq!(
            body.elems[6],
            Elem::Edge {
                class: Class::Line,
                side: Side::After,
                negated: false
            }
        );
    }

    #[test]
    fn errors_name_the_column() {
        let e = Body::parse("41g2").unwrap_err();
        assert_eq!(e.to_string(), "bad hex digit 'g' at column 3");
        assert!(Body::parse("414").is_err());
        assert!(Body::parse("41{3").is_err());
        assert!(Body::parse("41{5-2}42").is_err());
        assert!(Body::parse("41(42").is_err());
        assert!(Body::parse("41[1-40]42").is_err());
        assert!(Body::parse("").is_err());
        assert!(Body::parse("41(42|*)").is_err());
    }

    #[test]
    fn widen_interleaves_nul() {
        let w = Body::parse("4142").unwrap().widened();
        assert_eq!(w.elems, vec![b(0x41), b(0), b(0x42), b(0)]);
    }
}
