//! Turning bodies into one Hyperscan block-mode database of *anchors*.
//!
//! Why anchors rather than whole signatures as regexes: a ClamAV body is mostly fixed
//! bytes with a few gaps, classes and alternatives. Compiled whole, 100k such regexes
//! take minutes to compile, fail on long bounded gaps ("Pattern too large"), and drag
//! Hyperscan off its literal engines (FDR/Teddy). So each body contributes its best run
//! of fixed bytes (a *literal anchor*, up to [`MAX_ANCHOR`] bytes, rare bytes preferred);
//! identical anchors are shared; a body with no run of [`MIN_LITERAL`] fixed bytes gets
//! a short fixed-length regex window instead. On a hit, `verify.rs` checks the whole
//! body exactly. Throughput then follows the literal matcher, which is what keeps it
//! flat as the set grows (see `perf/README.md` for the curve).

use std::collections::HashMap;
use std::fmt::Write;

use super::sig::body::{seq_fixed_len, ByteSet, Class, Elem, Side};
use super::sig::Offset;
use super::verify::reversed;

/// Longest literal anchor: longer ones give Hyperscan no more selectivity.
pub const MAX_ANCHOR: usize = 16;
/// Shortest run of fixed bytes used as a literal on its own.
pub const MIN_LITERAL: usize = 3;
/// Longest fixed-length window used as a regex anchor, in bytes.
pub const MAX_WINDOW: u32 = 24;

/// Who a prepared body belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A content (`.ndb`) signature, by index into the engine's content table.
    Content(u32),
    /// Subsignature `sub` of logical signature `ldb`.
    Subsig {
        /// Index into the engine's logical table.
        ldb: u32,
        /// Subsignature index.
        sub: u8,
    },
}

/// A body split at its anchor, ready for verification.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// Elements before the anchor, reversed (matched backward from the anchor start).
    pub prefix_rev: Vec<Elem>,
    /// The anchor and everything after it (matched forward from the anchor start).
    pub rest: Vec<Elem>,
    /// Length of the anchor in bytes (Hyperscan reports its end).
    pub anchor_len: u32,
    /// Where the whole match may start.
    pub offset: Offset,
    /// The signature it belongs to.
    pub owner: Owner,
}

/// The Hyperscan expression of an anchor, and whether it is caseless.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AnchorExpr {
    /// Hyperscan regex text (literals are `\xHH` escaped).
    pub expr: String,
    /// `HS_FLAG_CASELESS`.
    pub caseless: bool,
}

/// All anchors of a database, deduplicated, and which prepared bodies each one serves.
#[derive(Default, Debug)]
pub struct AnchorTable {
    /// Distinct anchors; the Hyperscan pattern id is the index.
    pub exprs: Vec<AnchorExpr>,
    /// For anchor `i`, whether it can occur in normalized text and serves a signature
    /// that applies there (target 0 or 7): only these go into the text database.
    pub text: Vec<bool>,
    /// For anchor `i`, `uses[starts[i]..starts[i + 1]]` are indexes into `prepared`.
    pub starts: Vec<u32>,
    /// Flattened use lists.
    pub uses: Vec<u32>,
    /// Every prepared body.
    pub prepared: Vec<Prepared>,
}

/// Collects prepared bodies and assigns anchors.
#[derive(Default)]
pub struct AnchorBuilder {
    index: HashMap<AnchorExpr, u32>,
    exprs: Vec<AnchorExpr>,
    text: Vec<bool>,
    per_anchor: Vec<Vec<u32>>,
    prepared: Vec<Prepared>,
}

impl AnchorBuilder {
    /// Adds a body. `nocase` makes ASCII letters match either case; `fullword` names the
    /// class the bytes around the match must belong to (`::f`: non-alphanumeric, or for a
    /// wide body a non-alphanumeric wide character), the object's ends always qualify.
    /// `text`: the signature applies to normalized text too (target 0 or 7).
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        elems: &[Elem],
        offset: Offset,
        owner: Owner,
        nocase: bool,
        fullword: Option<Class>,
        text: bool,
    ) -> Result<(), String> {
        let (start, end, literal) =
            choose_anchor(elems).ok_or("body has no fixed bytes to anchor on")?;
        let text = text && can_occur_in_normalized_text(&elems[start..end], nocase);
        let expr = if literal {
            let mut s = String::new();
            for e in &elems[start..end] {
                let _ = write!(s, "\\x{:02x}", e.exact_byte().unwrap_or(0));
            }
            s
        } else {
            seq_regex(&elems[start..end])
        };
        let anchor_len =
            seq_fixed_len(&elems[start..end]).ok_or("anchor window is not of fixed length")?;
        let mut elems: Vec<Elem> = if nocase {
            elems.iter().map(caseless).collect()
        } else {
            elems.to_vec()
        };
        let mut prefix = elems[..start].to_vec();
        let mut rest = elems.split_off(start);
        if let Some(class) = fullword {
            let word = |side| Elem::Edge {
                class,
                side,
                negated: false,
            };
            prefix.insert(0, word(Side::Before));
            rest.push(word(Side::After));
        }
        let key = AnchorExpr {
            expr,
            caseless: nocase,
        };
        let id = *self.index.entry(key.clone()).or_insert_with(|| {
            self.exprs.push(key);
            self.text.push(false);
            self.per_anchor.push(Vec::new());
            (self.exprs.len() - 1) as u32
        });
        self.text[id as usize] |= text;
        self.per_anchor[id as usize].push(self.prepared.len() as u32);
        self.prepared.push(Prepared {
            prefix_rev: reversed(&pack_bytes(&prefix)),
            rest: pack_bytes(&rest),
            anchor_len,
            offset,
            owner,
        });
        Ok(())
    }

    /// Freezes into a table.
    pub fn finish(self) -> AnchorTable {
        let mut starts = Vec::with_capacity(self.per_anchor.len() + 1);
        let mut uses = Vec::with_capacity(self.prepared.len());
        for list in &self.per_anchor {
            starts.push(uses.len() as u32);
            uses.extend_from_slice(list);
        }
        starts.push(uses.len() as u32);
        AnchorTable {
            exprs: self.exprs,
            text: self.text,
            starts,
            uses,
            prepared: self.prepared,
        }
    }
}

impl AnchorTable {
    /// The prepared bodies served by anchor `id`.
    #[inline]
    pub fn uses_of(&self, id: u32) -> &[u32] {
        let i = id as usize;
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.uses[a as usize..b as usize],
            _ => &[],
        }
    }
}

/// How selective a byte is as part of an anchor: bytes that fill real files (NUL,
/// 0xFF, spaces, common ASCII letters, x86 padding) count for less.
fn byte_weight(b: u8) -> u32 {
    match b {
        0x00 | 0xff => 1,
        b' ' | b'\n' | b'\r' | b'\t' | 0x90 | 0xcc | b'0' => 2,
        b'a'..=b'z' => 3,
        _ => 4,
    }
}

/// Picks the anchor: `(start, end, literal)` as an element range. A literal anchor is the
/// highest-scoring window of up to [`MAX_ANCHOR`] exact bytes; without a run of
/// [`MIN_LITERAL`] exact bytes, a fixed-length window of at most [`MAX_WINDOW`] bytes
/// around the best run becomes a regex anchor.
pub fn choose_anchor(elems: &[Elem]) -> Option<(usize, usize, bool)> {
    let mut best: Option<(u32, usize, usize)> = None;
    let mut i = 0;
    while i < elems.len() {
        if elems[i].exact_byte().is_none() {
            i += 1;
            continue;
        }
        let run_start = i;
        while i < elems.len() && elems[i].exact_byte().is_some() {
            i += 1;
        }
        let run = &elems[run_start..i];
        let w = run.len().min(MAX_ANCHOR);
        for s in 0..=run.len() - w {
            let score: u32 = run[s..s + w]
                .iter()
                .filter_map(Elem::exact_byte)
                .map(byte_weight)
                .sum();
            if best.is_none_or(|(b, _, _)| score > b) {
                best = Some((score, run_start + s, run_start + s + w));
            }
        }
    }
    if let Some((_, s, e)) = best {
        if e - s >= MIN_LITERAL {
            return Some((s, e, true));
        }
    }
    // Regex window: grow around the best short run (or the first fixed element)
    // through fixed-length elements, up to MAX_WINDOW bytes.
    let seed = best.map(|(_, s, _)| s).or_else(|| {
        elems
            .iter()
            .position(|e| e.fixed_len().is_some_and(|l| l > 0))
    })?;
    let fixed = |e: &Elem| e.fixed_len().is_some() && !matches!(e, Elem::Edge { .. });
    let (mut s, mut e) = (seed, seed + 1);
    let mut len = elems[seed].fixed_len()?;
    loop {
        let mut grew = false;
        if e < elems.len() && fixed(&elems[e]) && len + elems[e].fixed_len()? <= MAX_WINDOW {
            len += elems[e].fixed_len()?;
            e += 1;
            grew = true;
        }
        if s > 0 && fixed(&elems[s - 1]) && len + elems[s - 1].fixed_len()? <= MAX_WINDOW {
            s -= 1;
            len += elems[s].fixed_len()?;
            grew = true;
        }
        if !grew {
            break;
        }
    }
    // Trim wildcard bytes at the window's ends: they add no selectivity.
    while e - s > 1 && matches!(elems[e - 1], Elem::Byte { mask: 0, .. } | Elem::Gap { .. }) {
        e -= 1;
    }
    while e - s > 1 && matches!(elems[s], Elem::Byte { mask: 0, .. } | Elem::Gap { .. }) {
        s += 1;
    }
    (len > 0).then_some((s, e, false))
}

/// Packs runs of two or more exact bytes into [`Elem::Bytes`] (inside alternatives too).
pub fn pack_bytes(seq: &[Elem]) -> Vec<Elem> {
    let mut out = Vec::with_capacity(seq.len());
    let mut run: Vec<u8> = Vec::new();
    let flush = |run: &mut Vec<u8>, out: &mut Vec<Elem>| match run.len() {
        0 => {}
        1 => out.push(Elem::Byte {
            value: run[0],
            mask: 0xff,
        }),
        _ => out.push(Elem::Bytes(std::mem::take(run).into_boxed_slice())),
    };
    for e in seq {
        if let Some(b) = e.exact_byte() {
            run.push(b);
            continue;
        }
        flush(&mut run, &mut out);
        run.clear();
        match e {
            Elem::Alt { alts, negated } => out.push(Elem::Alt {
                alts: alts.iter().map(|a| pack_bytes(a)).collect(),
                negated: *negated,
            }),
            other => out.push(other.clone()),
        }
    }
    flush(&mut run, &mut out);
    out.shrink_to_fit();
    out
}

/// Whether an anchor can occur in ClamAV's normalized text, which holds only a space
/// (never two in a row), `!`..`~` without capitals, and DEL (see
/// `formats/text.rs`). Signatures whose anchor cannot are not scanned against
/// normalized text at all, and when none can, text is not normalized: a random-byte
/// signature set costs nothing extra on text. Elements other than exact bytes are
/// assumed to fit (a conservative answer only costs a scan).
fn can_occur_in_normalized_text(anchor: &[Elem], nocase: bool) -> bool {
    let mut previous_space = false;
    for e in anchor {
        let Some(b) = e.exact_byte() else {
            previous_space = false;
            continue;
        };
        let b = if nocase { b.to_ascii_lowercase() } else { b };
        let fits =
            b == b' ' && !previous_space || (0x21..=0x7f).contains(&b) && !b.is_ascii_uppercase();
        if !fits {
            return false;
        }
        previous_space = b == b' ';
    }
    true
}

/// An exact ASCII letter becomes the set of both cases.
fn caseless(e: &Elem) -> Elem {
    match e {
        Elem::Byte { value, mask: 0xff } if value.is_ascii_alphabetic() => {
            let mut set = ByteSet::EMPTY;
            set.insert(value.to_ascii_lowercase());
            set.insert(value.to_ascii_uppercase());
            Elem::Set(set)
        }
        Elem::Set(set) => {
            let mut out = set.clone();
            for b in set.iter().filter(u8::is_ascii_alphabetic) {
                out.insert(b.to_ascii_lowercase());
                out.insert(b.to_ascii_uppercase());
            }
            Elem::Set(out)
        }
        Elem::Alt { alts, negated } => Elem::Alt {
            alts: alts
                .iter()
                .map(|a| a.iter().map(caseless).collect())
                .collect(),
            negated: *negated,
        },
        other => other.clone(),
    }
}

fn class_regex(out: &mut String, set: &ByteSet) {
    out.push('[');
    let mut b = 0u16;
    while b < 256 {
        if !set.contains(b as u8) {
            b += 1;
            continue;
        }
        let lo = b;
        while b + 1 < 256 && set.contains((b + 1) as u8) {
            b += 1;
        }
        if lo == b {
            let _ = write!(out, "\\x{lo:02x}");
        } else {
            let _ = write!(out, "\\x{lo:02x}-\\x{b:02x}");
        }
        b += 1;
    }
    out.push(']');
}

/// The Hyperscan regex for a sequence (compile with `HS_FLAG_DOTALL`). Exact where
/// Hyperscan can be; negated alternatives become "any bytes of that length" and edges
/// are dropped, both over-approximations that verification makes exact.
pub fn seq_regex(seq: &[Elem]) -> String {
    let mut out = String::new();
    push_regex(&mut out, seq);
    out
}

fn push_regex(out: &mut String, seq: &[Elem]) {
    for e in seq {
        match e {
            Elem::Byte { value, mask: 0xff } => {
                let _ = write!(out, "\\x{value:02x}");
            }
            Elem::Byte { mask: 0, .. } => out.push('.'),
            Elem::Byte { value, mask } => {
                class_regex(out, &ByteSet::from_fn(|b| b & mask == *value))
            }
            Elem::Set(set) => class_regex(out, set),
            Elem::Bytes(bytes) => {
                for b in bytes.iter() {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
            Elem::Alt {
                alts,
                negated: false,
            } => {
                out.push_str("(?:");
                for (i, a) in alts.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    push_regex(out, a);
                }
                out.push(')');
            }
            Elem::Alt { negated: true, .. } => {
                let _ = write!(out, ".{{{}}}", e.fixed_len().unwrap_or(0));
            }
            Elem::Gap {
                min,
                max: Some(max),
            } => {
                let _ = write!(out, ".{{{min},{max}}}");
            }
            Elem::Gap { min, max: None } => {
                let _ = write!(out, ".{{{min},}}");
            }
            Elem::Edge { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sig::Body;

    fn anchor(body: &str) -> (usize, usize, bool) {
        choose_anchor(&Body::parse(body).unwrap().elems).unwrap()
    }

    #[test]
    fn prefers_long_rare_runs() {
        assert_eq!(anchor("4142*434445464748"), (3, 9, true));
        assert_eq!(anchor("000000000000*41424344"), (7, 11, true));
        let (s, e, lit) = anchor(&"41".repeat(40));
        assert_eq!((e - s, lit), (MAX_ANCHOR, true));
    }

    #[test]
    fn short_runs_get_a_regex_window() {
        let (s, e, lit) = anchor("4142??4?43(44|45)*46");
        assert!(!lit);
        assert_eq!((s, e), (0, 6));
        let b = Body::parse("4142??4?43(44|45)*46").unwrap();
        assert_eq!(
            seq_regex(&b.elems[s..e]),
            "\\x41\\x42.[\\x40-\\x4f]\\x43[\\x44-\\x45]"
        );
    }

    #[test]
    fn shares_identical_anchors() {
        let mut b = AnchorBuilder::default();
        let body = Body::parse("41424344").unwrap();
        for (owner, nocase) in [(0, false), (1, false), (2, true)] {
            let owner = Owner::Content(owner);
            b.add(&body.elems, Offset::Any, owner, nocase, None, true)
                .unwrap();
        }
        let t = b.finish();
        assert_eq!(t.exprs.len(), 2);
        assert_eq!(t.uses_of(0), &[0, 1]);
        assert_eq!(t.uses_of(1), &[2]);
    }

    #[test]
    fn text_anchors_are_those_normalized_text_can_hold() {
        let mut b = AnchorBuilder::default();
        for (body, nocase, applies) in [
            ("68656c6c6f20776f726c64", false, true), // "hello world"
            ("48656c6c6f", false, true),             // "Hello": capital
            ("48656c6c6f", true, true),              // ... but ::i
            ("6162632020646566", false, true),       // two spaces in a row
            ("00010203", false, true),               // binary
            ("6162636465", false, false),            // target 1
        ] {
            let e = Body::parse(body).unwrap().elems;
            b.add(&e, Offset::Any, Owner::Content(0), nocase, None, applies)
                .unwrap();
        }
        assert_eq!(
            b.finish().text,
            vec![true, false, true, false, false, false]
        );
    }

    #[test]
    fn no_fixed_bytes_is_an_error() {
        let mut b = AnchorBuilder::default();
        let body = Body {
            elems: vec![Elem::Gap { min: 0, max: None }],
        };
        assert!(b
            .add(
                &body.elems,
                Offset::Any,
                Owner::Content(0),
                false,
                None,
                true
            )
            .is_err());
    }
}
