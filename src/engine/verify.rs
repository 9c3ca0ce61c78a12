//! Exact verification of a body around a Hyperscan anchor hit.
//!
//! Hyperscan finds only each body's *anchor* (its best run of fixed bytes, see
//! `compile.rs`); everything it cannot express exactly, or could express only at a cost
//! that grows with the signature set (long and unbounded gaps, offsets, alternatives
//! with negation, boundary assertions), is checked here, on the few positions where an
//! anchor hit. A body is split at its anchor: the part after it (`rest`, which starts
//! with the anchor itself) is matched forward from the anchor's start, the part before
//! it (`prefix_rev`, stored reversed) is matched backward, and each start position the
//! backward walk reaches is tested against the offset.
//!
//! The walk is a backtracking matcher over [`Elem`]s with a step budget, so a hostile
//! object cannot make one verification run away; a verification that runs out of budget
//! counts as no match and is counted in the scanner's statistics.

use super::sig::body::{boundary_bits, Class, Elem, Side};

/// Steps one verification may take before it gives up.
pub const STEP_BUDGET: u32 = 200_000;

/// Direction of a walk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dir {
    /// Towards the end of the object.
    Forward,
    /// Towards its start (positions are exclusive ends).
    Backward,
}

/// Reverses a sequence for backward walking. Edges keep their absolute side: they are
/// evaluated at a position, not relative to the direction.
pub fn reversed(seq: &[Elem]) -> Vec<Elem> {
    seq.iter()
        .rev()
        .map(|e| match e {
            Elem::Alt { alts, negated } => Elem::Alt {
                alts: alts.iter().map(|a| reversed(a)).collect(),
                negated: *negated,
            },
            other => other.clone(),
        })
        .collect()
}

/// One walk over one object.
pub struct Walker<'d> {
    data: &'d [u8],
    steps: u32,
    /// Set when the budget ran out.
    pub exhausted: bool,
}

impl<'d> Walker<'d> {
    /// A walker over `data` with a fresh budget.
    pub fn new(data: &'d [u8]) -> Self {
        Walker {
            data,
            steps: 0,
            exhausted: false,
        }
    }

    #[inline]
    fn byte_at(&self, pos: usize, dir: Dir) -> Option<u8> {
        match dir {
            Dir::Forward => self.data.get(pos).copied(),
            Dir::Backward => pos.checked_sub(1).map(|p| self.data[p]),
        }
    }

    #[inline]
    fn step(pos: usize, n: usize, dir: Dir) -> usize {
        match dir {
            Dir::Forward => pos + n,
            Dir::Backward => pos - n,
        }
    }

    fn room(&self, pos: usize, dir: Dir) -> usize {
        match dir {
            Dir::Forward => self.data.len() - pos,
            Dir::Backward => pos,
        }
    }

    fn edge(&self, class: Class, side: Side, negated: bool, pos: usize) -> bool {
        let outside = match side {
            Side::Before => pos.checked_sub(1).map(|p| self.data[p]),
            Side::After => self.data.get(pos).copied(),
        };
        let ok = match (outside, class, side) {
            (None, _, _) => true,
            (Some(b), Class::Boundary, Side::Before) => boundary_bits(b) & 1 != 0,
            (Some(b), Class::Boundary, Side::After) => boundary_bits(b) & 2 != 0,
            (Some(b), Class::Line, Side::Before) => b == b'\n',
            (Some(b), Class::Line, Side::After) => {
                b == b'\n' || (b == b'\r' && self.data.get(pos + 1) == Some(&b'\n'))
            }
            (Some(b), Class::NonAlnum, _) => !b.is_ascii_alphanumeric(),
            (Some(_), Class::WideNonAlnum, Side::Before) => {
                !(pos >= 2 && self.data[pos - 2].is_ascii_alphanumeric() && self.data[pos - 1] == 0)
            }
            (Some(_), Class::WideNonAlnum, Side::After) => {
                !(self.data[pos].is_ascii_alphanumeric() && self.data.get(pos + 1) == Some(&0))
            }
        };
        ok != negated
    }

    /// Walks `seq` from `pos` in `dir`, calling `done` with every position where a match
    /// of the whole sequence ends; stops and returns `true` as soon as `done` does.
    pub fn walk(
        &mut self,
        seq: &[Elem],
        pos: usize,
        dir: Dir,
        done: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        self.walk_cont(seq, None, pos, dir, done)
    }

    /// `walk` with a continuation: what must match after `seq` (alternatives continue
    /// into the rest of the body this way, without allocating).
    fn walk_cont(
        &mut self,
        seq: &[Elem],
        cont: Option<&Cont<'_>>,
        pos: usize,
        dir: Dir,
        done: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        let mut pos = pos;
        let mut i = 0;
        // Single-byte elements are matched in a loop; only branching ones recurse.
        while let Some(e) = seq.get(i) {
            self.steps += 1;
            if self.steps > STEP_BUDGET {
                self.exhausted = true;
                return false;
            }
            match e {
                Elem::Byte { value, mask } => match self.byte_at(pos, dir) {
                    Some(b) if b & mask == *value => pos = Self::step(pos, 1, dir),
                    _ => return false,
                },
                Elem::Set(set) => match self.byte_at(pos, dir) {
                    Some(b) if set.contains(b) => pos = Self::step(pos, 1, dir),
                    _ => return false,
                },
                Elem::Bytes(bytes) => {
                    let n = bytes.len();
                    let here = match dir {
                        Dir::Forward => self.data.get(pos..pos + n),
                        Dir::Backward => pos.checked_sub(n).map(|s| &self.data[s..pos]),
                    };
                    if here != Some(&bytes[..]) {
                        return false;
                    }
                    pos = Self::step(pos, n, dir);
                }
                Elem::Edge {
                    class,
                    side,
                    negated,
                } => {
                    if !self.edge(*class, *side, *negated, pos) {
                        return false;
                    }
                }
                Elem::Gap { min, max } => {
                    let room = self.room(pos, dir);
                    let min = *min as usize;
                    if min > room {
                        return false;
                    }
                    let max = max.map_or(room, |m| (m as usize).min(room));
                    let rest = &seq[i + 1..];
                    if rest.is_empty() && cont.is_none() {
                        // A trailing gap: every length is an end (offsets may need any).
                        for k in min..=max {
                            self.steps += 1;
                            if self.steps > STEP_BUDGET {
                                self.exhausted = true;
                                return false;
                            }
                            if done(Self::step(pos, k, dir)) {
                                return true;
                            }
                        }
                        return false;
                    }
                    // With exact bytes at a fixed distance ahead, jump straight to their
                    // occurrences instead of trying every gap length.
                    if let Some((skip, needle)) = needle_ahead(rest) {
                        return self.gap_to_needle(
                            needle,
                            skip,
                            rest,
                            cont,
                            pos,
                            (min, max),
                            dir,
                            done,
                        );
                    }
                    for k in min..=max {
                        if self.walk_cont(rest, cont, Self::step(pos, k, dir), dir, done)
                            || self.exhausted
                        {
                            return !self.exhausted;
                        }
                    }
                    return false;
                }
                Elem::Alt {
                    alts,
                    negated: false,
                } => {
                    let next = Cont {
                        seq: &seq[i + 1..],
                        next: cont,
                    };
                    for alt in alts {
                        if self.walk_cont(alt, Some(&next), pos, dir, done) || self.exhausted {
                            return !self.exhausted;
                        }
                    }
                    return false;
                }
                Elem::Alt {
                    alts,
                    negated: true,
                } => {
                    let len = e.fixed_len().unwrap_or(0) as usize;
                    if len > self.room(pos, dir) {
                        return false;
                    }
                    for alt in alts {
                        // Out of budget is not "no alternative matched": give up.
                        if self.walk(alt, pos, dir, &mut |_| true) || self.exhausted {
                            return false;
                        }
                    }
                    pos = Self::step(pos, len, dir);
                }
            }
            i += 1;
        }
        match cont {
            Some(c) => self.walk_cont(c.seq, c.next, pos, dir, done),
            None => done(pos),
        }
    }

    /// A gap followed, `skip` bytes later, by exact bytes: try only the gap lengths
    /// where they occur, nearest first (overlapping occurrences included, so no
    /// candidate is missed).
    #[allow(clippy::too_many_arguments)]
    fn gap_to_needle(
        &mut self,
        needle: &[u8],
        skip: usize,
        rest: &[Elem],
        cont: Option<&Cont<'_>>,
        pos: usize,
        (min, max): (usize, usize),
        dir: Dir,
        done: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        let data = self.data;
        let n = needle.len();
        match dir {
            Dir::Forward => {
                // Candidate starts q in [pos+min, pos+max] with data[q+skip..][..n] == needle.
                let end = (pos + max + skip + n).min(data.len());
                let finder = memchr::memmem::Finder::new(needle);
                let mut from = pos + min + skip;
                while from + n <= end {
                    let Some(off) = finder.find(&data[from..end]) else {
                        break;
                    };
                    let q = from + off - skip;
                    if self.walk_cont(rest, cont, q, dir, done) || self.exhausted {
                        return !self.exhausted;
                    }
                    from = q + skip + 1;
                }
            }
            Dir::Backward => {
                // Candidate ends p in [pos-max, pos-min] with data[..p-skip] ending in needle.
                let p_hi = pos - min;
                let p_lo = (pos - max).max(n + skip);
                if p_hi < p_lo {
                    return false;
                }
                let finder = memchr::memmem::FinderRev::new(needle);
                let start = p_lo - skip - n;
                let mut to = p_hi - skip;
                while to >= start + n {
                    let Some(off) = finder.rfind(&data[start..to]) else {
                        break;
                    };
                    let p = start + off + n + skip;
                    if self.walk_cont(rest, cont, p, dir, done) || self.exhausted {
                        return !self.exhausted;
                    }
                    to = p - skip - 1;
                }
            }
        }
        false
    }
}

/// The first exact bytes of `seq` that sit at a fixed distance from its start:
/// `(distance, bytes)`. Elements are in walk order, so this serves both directions.
fn needle_ahead(seq: &[Elem]) -> Option<(usize, &[u8])> {
    let mut skip = 0usize;
    for e in seq {
        match e {
            Elem::Bytes(b) => return Some((skip, b)),
            Elem::Byte { value, mask: 0xff } => return Some((skip, std::slice::from_ref(value))),
            Elem::Edge { .. } => {}
            other => skip += other.fixed_len()? as usize,
        }
    }
    None
}

/// What remains to match after the current sequence.
struct Cont<'a> {
    seq: &'a [Elem],
    next: Option<&'a Cont<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sig::Body;

    fn finds(body: &str, data: &[u8]) -> bool {
        let b = Body::parse(body).unwrap();
        (0..=data.len())
            .any(|start| Walker::new(data).walk(&b.elems, start, Dir::Forward, &mut |_| true))
    }

    fn finds_backward(body: &str, data: &[u8]) -> bool {
        let b = Body::parse(body).unwrap();
        let rev = reversed(&b.elems);
        (0..=data.len()).any(|end| Walker::new(data).walk(&rev, end, Dir::Backward, &mut |_| true))
    }

    fn both(body: &str, data: &[u8]) -> bool {
        let f = finds(body, data);
        assert_eq!(
            f,
            finds_backward(body, data),
            "directions disagree on {body}"
        );
        f
    }

    #[test]
    fn bytes_wildcards_nibbles() {
        assert!(both("414243", b"xxABCxx"));
        assert!(!both("414244", b"xxABCxx"));
        assert!(both("41??43", b"AzC"));
        assert!(both("4?42", b"OB"));
        assert!(!both("4?42", b"aB"));
        assert!(both("?142", b"qB"));
    }

    #[test]
    fn gaps() {
        assert!(both("4142*4344", b"AB.........CD"));
        assert!(both("4142{2-4}4344", b"AB..CD"));
        assert!(both("4142{2-4}4344", b"AB....CD"));
        assert!(!both("4142{2-4}4344", b"AB.....CD"));
        assert!(!both("4142{2-4}4344", b"AB.CD"));
        assert!(both("4142{-2}4344", b"ABCD"));
        assert!(both("4142{3-}4344", b"AB...CD"));
        assert!(!both("4142{3-}4344", b"AB..CD"));
        assert!(both("4142{3}4344", b"AB...CD"));
        assert!(both("41[1-2]42", b"A.B"));
        assert!(both("4142*43*4445", b"AB.C..C..DE"));
    }

    #[test]
    fn alternatives_and_negation() {
        assert!(both("41(42|43)44", b"ACD"));
        assert!(!both("41(42|43)44", b"AED"));
        assert!(both("41!(42|43)44", b"AED"));
        assert!(!both("41!(42|43)44", b"ABD"));
        assert!(both("41(4242|4343)44", b"ACCD"));
        assert!(both("41(42|4343|45??46)47", b"AE.FG"));
        assert!(both("41(42|4343|45??46)47", b"ACCG"));
        assert!(both("41!(4242|4343)44", b"ABCD"));
        assert!(!both("41!(4242|4343)44", b"ABBD"));
    }

    #[test]
    fn classes() {
        assert!(both("(B)41424344(B)", b"x ABCD y"));
        assert!(!both("(B)41424344(B)", b"xABCD y"));
        assert!(both("(B)41424344(B)", b"ABCD"));
        assert!(both("4142(W)4344", b"AB-CD"));
        assert!(!both("4142(W)4344", b"ABxCD"));
        assert!(both("4142(L)4344", b"AB\r\nCD"));
        assert!(both("4142(L)4344", b"AB\nCD"));
        assert!(!both("4142(L)4344", b"AB\rCD"));
        assert!(both("(L)41424344", b"x\nABCD"));
        assert!(!both("(L)41424344", b"x ABCD"));
    }

    #[test]
    fn far_gaps_and_overlapping_candidates() {
        let mut data = b"start".to_vec();
        data.extend(std::iter::repeat_n(b'.', 1_000_000));
        data.extend_from_slice(b"end");
        let packed =
            |body: &str| crate::engine::compile::pack_bytes(&Body::parse(body).unwrap().elems);
        let fwd = packed("7374617274*656e64");
        let mut w = Walker::new(&data);
        assert!(
            w.walk(&fwd, 0, Dir::Forward, &mut |_| true),
            "a megabyte gap is one memmem, not a million steps"
        );
        let rev = reversed(&fwd);
        let mut w = Walker::new(&data);
        assert!(w.walk(&rev, data.len(), Dir::Backward, &mut |_| true));
        // "AAB" after a gap in "AAAB": the candidate at 1 overlaps the one at 0.
        let b = packed("58*414142");
        assert!(Walker::new(b"XAAAB").walk(&b, 0, Dir::Forward, &mut |_| true));
        assert!(Walker::new(b"XAAAB").walk(&reversed(&b), 5, Dir::Backward, &mut |_| true));
        // Exact bytes a fixed distance after the gap: `*??(41|42)4343`.
        let b = packed("58*??(41|42)4343");
        assert!(Walker::new(b"X....zBCC").walk(&b, 0, Dir::Forward, &mut |_| true));
        assert!(!Walker::new(b"X....zCCC").walk(&b, 0, Dir::Forward, &mut |_| true));
        assert!(Walker::new(b"X....zBCC").walk(&reversed(&b), 9, Dir::Backward, &mut |_| true));
        let b = packed("4141{1}42*5a");
        assert!(Walker::new(b"AAAAB..Z").walk(&b, 1, Dir::Forward, &mut |_| true));
    }

    #[test]
    fn budget_stops_pathological_walks() {
        let b = Body::parse("4141*4141*4141*4141*4242").unwrap();
        let data = vec![b'A'; 20_000];
        let mut w = Walker::new(&data);
        assert!(!w.walk(&b.elems, 0, Dir::Forward, &mut |_| true));
        assert!(w.exhausted);
    }
}
