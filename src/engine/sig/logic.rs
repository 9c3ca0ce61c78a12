//! The logical-expression language of ClamAV logical signatures (`.ldb`).
//!
//! A logical signature line is `Name;TargetDescription;LogicalExpression;Subsig0;Subsig1;…`.
//! This module parses the third field, the *logical expression*, into a small tree
//! ([`LogicExpr`]) and evaluates it against the per-subsignature match counts that the
//! matcher collected for one scanned object. It is pure: it works on `&str` and `&[u32]`.
//!
//! The grammar itself is documented in ClamAV's
//! `clamav-documentation/src/manual/Signatures/LogicalSignatures.md`; the *semantics* below
//! were taken from the one place ClamAV implements them, `cli_ac_chklsig()` in
//! `libclamav/matcher-ac.c` (the same function runs in "parse only" mode when `.ldb` files
//! are loaded by `load_oneldb()` in `libclamav/readdb.c`, and in evaluation mode from
//! `cli_lsig_eval()` in `libclamav/matcher.c`). ClamAV's function is a recursive splitter
//! over the raw text rather than a grammar-driven parser, which gives it a few unusual
//! properties; this module reproduces them on purpose so that a signature means the same
//! thing here as in ClamAV. No ClamAV code was copied; this is an independent implementation.
//!
//! # Design decisions (each observed in `cli_ac_chklsig`, `libclamav/matcher-ac.c`)
//!
//! * **Operands.** Decimal subsignature indexes `0..=63` (ClamAV allows at most 64
//!   subsignatures: `MAX_LDB_SUBSIGS` in `libclamav/readdb.h`; evaluation keeps the matched
//!   subsignatures in a 64-bit set). A larger index is rejected here at parse time.
//!   [`LogicExpr::max_index`] gives the highest index used; ClamAV's loader requires the
//!   number of subsignature fields to be exactly `max_index + 1` (`load_oneldb`), a check
//!   left to the caller.
//! * **`&` and `|` have the same precedence, and the grouping depends on where they are.**
//!   ClamAV splits an expression at its *first* operator outside parentheses, so at the top
//!   level (and in any operand of such a split) a chain groups to the right:
//!   `0&1|2` is `0&(1|2)` and `0|1&2` is `0|(1&2)`. But when a whole (sub)expression is one
//!   parenthesised group, it is split at the *last* operator directly inside that group, so
//!   inside parentheses the outer split groups to the left: `(0|1&2)` is `((0|1)&2)` and
//!   `(0&1|2&3)` is `((0&(1|2))&3)`. Mixed operators are *not* rejected by ClamAV, so they are
//!   accepted here with exactly this grouping. Write explicit parentheses to avoid surprises.
//! * **Count of a subsignature.** A bare index `N` is true when subsignature `N` matched at
//!   least once. `N=X`, `N>X`, `N<X` compare its match count `c` with `X` (`c == X`,
//!   `c > X`, `c < X`). So `N=0` is a negation ("did not match") and `N<X` is also true
//!   when `N` never matched. On a single subsignature the `,Y` part of `N=X,Y` is parsed but
//!   ignored, exactly as ClamAV does (it only reads `X` there).
//! * **Count of a group.** A modifier after a parenthesised group containing `&` or `|`
//!   (`(A|B)>X,Y` etc.) compares the group's *count* with `X`, and when `Y` is present and
//!   non-zero also requires that at least `Y` distinct subsignatures contributed. The count
//!   is the sum of the match counts of the operands that made the group true: every true
//!   operand passes its count (and its set of subsignature ids) up; a false operand, or an
//!   `&` that failed as a whole, passes `0`. If the group's expression is false its count is
//!   0, so `(0|1)=0` means "neither matched" and `(0|1)<3` is true when nothing matched.
//!   Both operands are always evaluated (there is no short-circuit), so `(0|1)>5` sums both.
//! * **Counted things pass their count up, and ids only sometimes.** A subsignature with a
//!   modifier that holds passes up its count and its id, even when the count is 0 (e.g.
//!   `0=0`), so `(0=0|1)>0,2` counts subsignature 0 as one of the distinct ones. A group
//!   *with* a modifier passes up its count but **no** ids, so in `((0|1)>0|2)>0,2` only
//!   subsignature 2 can count towards the `,2`. This is ClamAV's behaviour and is kept.
//! * **`(N)>X` is rejected.** ClamAV only treats a modifier as a group modifier when the
//!   parentheses contain an operator; `(0)>2` or `((0|1))>2` fail to load in ClamAV, so they
//!   are errors here too (write `0>2`, `(0|1)>2`). Plain redundant parentheses such as `(0)`
//!   or `((0|1))` are fine.
//! * **Strictness.** ClamAV reads numbers with `sscanf("%u")`, so it silently ignores
//!   some garbage (`0,5` loads as `0`, spaces are skipped). Here the text must be exactly
//!   the documented grammar: digits, `&`, `|`, `(`, `)`, `=`, `<`, `>`, `,`, no spaces, no
//!   trailing characters, numbers that fit in 32 bits. Every error names the 1-based column.
//! * **Limits.** Nesting (parentheses and operator chains) deeper than 512 levels is refused,
//!   so hostile input cannot exhaust the stack in the parser or the evaluator. Counts are
//!   added in 64 bits (ClamAV uses 32-bit wrapping arithmetic, which only differs after four
//!   billion matches). Indexes missing from the `counts` slice count as 0 matches.

use std::fmt;

/// The highest subsignature index an expression may reference (ClamAV allows 64 subsignatures).
pub const MAX_SUBSIG_INDEX: usize = 63;

/// Deepest nesting of groups and operator chains accepted by [`LogicExpr::parse`].
const MAX_DEPTH: usize = 512;

/// Why a logical expression could not be parsed.
///
/// `Display` gives the reason and, where there is one, the 1-based column, for example
/// `unexpected ')' at column 7`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicError {
    reason: String,
    column: Option<usize>,
}

impl LogicError {
    fn at(pos: usize, reason: impl Into<String>) -> Self {
        LogicError {
            reason: reason.into(),
            column: Some(pos + 1),
        }
    }

    /// The reason without the position, e.g. `unexpected ')'`.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The 1-based column (character position) the error refers to, if any.
    pub fn column(&self) -> Option<usize> {
        self.column
    }
}

impl fmt::Display for LogicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(col) => write!(f, "{} at column {}", self.reason, col),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for LogicError {}

/// Comparison of a count modifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Gt,
    Lt,
}

/// A count modifier `=X`, `>X`, `<X`, each with an optional `,Y` (`y == 0` when absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CountMod {
    cmp: Cmp,
    x: u32,
    y: u32,
}

impl CountMod {
    fn holds(&self, count: u64) -> bool {
        let x = u64::from(self.x);
        match self.cmp {
            Cmp::Eq => count == x,
            Cmp::Gt => count > x,
            Cmp::Lt => count < x,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    And,
    Or,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    /// A subsignature index with an optional count modifier (its `y` is ignored).
    Sub {
        index: u8,
        modifier: Option<CountMod>,
    },
    /// A binary operation; `modifier` is set when it came from a modified group `(…)>X,Y`.
    Bin {
        op: Op,
        lhs: Box<Node>,
        rhs: Box<Node>,
        modifier: Option<CountMod>,
    },
}

/// The result of evaluating a node: truth, the count it passes up, the ids it passes up.
#[derive(Clone, Copy)]
struct Outcome {
    ok: bool,
    count: u64,
    ids: u64,
}

const FALSE: Outcome = Outcome {
    ok: false,
    count: 0,
    ids: 0,
};

impl Node {
    fn eval(&self, counts: &[u32]) -> Outcome {
        match self {
            Node::Sub { index, modifier } => {
                let n = u64::from(counts.get(usize::from(*index)).copied().unwrap_or(0));
                let ok = match modifier {
                    Some(m) => m.holds(n),
                    None => n > 0,
                };
                if ok {
                    Outcome {
                        ok: true,
                        count: n,
                        ids: 1u64 << index,
                    }
                } else {
                    FALSE
                }
            }
            Node::Bin {
                op,
                lhs,
                rhs,
                modifier,
            } => {
                let l = lhs.eval(counts);
                let r = rhs.eval(counts);
                let ok = match op {
                    Op::And => l.ok && r.ok,
                    Op::Or => l.ok || r.ok,
                };
                let (count, ids) = if ok {
                    (l.count.saturating_add(r.count), l.ids | r.ids)
                } else {
                    (0, 0)
                };
                match modifier {
                    None if ok => Outcome { ok, count, ids },
                    None => FALSE,
                    Some(m) => {
                        if m.holds(count) && (m.y == 0 || ids.count_ones() >= m.y) {
                            // A modified group passes its count up but not its ids.
                            Outcome {
                                ok: true,
                                count,
                                ids: 0,
                            }
                        } else {
                            FALSE
                        }
                    }
                }
            }
        }
    }

    fn max_index(&self) -> usize {
        match self {
            Node::Sub { index, .. } => usize::from(*index),
            Node::Bin { lhs, rhs, .. } => lhs.max_index().max(rhs.max_index()),
        }
    }
}

fn fmt_modifier(f: &mut fmt::Formatter<'_>, m: &Option<CountMod>) -> fmt::Result {
    if let Some(m) = m {
        let c = match m.cmp {
            Cmp::Eq => '=',
            Cmp::Gt => '>',
            Cmp::Lt => '<',
        };
        write!(f, "{}{}", c, m.x)?;
        if m.y != 0 {
            write!(f, ",{}", m.y)?;
        }
    }
    Ok(())
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Sub { index, modifier } => {
                write!(f, "{}", index)?;
                fmt_modifier(f, modifier)
            }
            Node::Bin {
                op,
                lhs,
                rhs,
                modifier,
            } => {
                let c = match op {
                    Op::And => '&',
                    Op::Or => '|',
                };
                write!(f, "({}{}{})", lhs, c, rhs)?;
                fmt_modifier(f, modifier)
            }
        }
    }
}

/// A parsed ClamAV logical expression, ready to be evaluated many times.
///
/// Cheap to clone, immutable, `Send + Sync`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicExpr {
    root: Node,
    max_index: usize,
}

impl LogicExpr {
    /// Parses the logical-expression field of an `.ldb` line, e.g. `((0|1|2)>5,2)&(3|1)`.
    ///
    /// Errors name the reason and the column: empty text, characters outside the grammar,
    /// unbalanced parentheses, missing operands or numbers, indexes above 63, trailing text.
    pub fn parse(text: &str) -> Result<LogicExpr, LogicError> {
        if text.is_empty() {
            return Err(LogicError {
                reason: "empty logical expression".to_string(),
                column: None,
            });
        }
        if let Some((col, ch)) = text.chars().enumerate().find(|(_, c)| !c.is_ascii()) {
            return Err(LogicError::at(col, format!("unexpected '{}'", ch)));
        }
        let s = text.as_bytes();
        check_balance(s)?;
        let root = Parser { s }.expr(0, s.len(), 0)?;
        let max_index = root.max_index();
        Ok(LogicExpr { root, max_index })
    }

    /// The highest subsignature index the expression references, so that the loader can
    /// check it against the number of subsignatures on the line (ClamAV wants exactly
    /// `max_index() + 1` of them).
    pub fn max_index(&self) -> usize {
        self.max_index
    }

    /// Evaluates the expression. `counts[i]` is the number of matches of subsignature `i`
    /// in the scanned object; indexes beyond the slice count as 0.
    pub fn eval(&self, counts: &[u32]) -> bool {
        self.root.eval(counts).ok
    }
}

impl fmt::Display for LogicExpr {
    /// Writes the expression fully parenthesised, showing how it was grouped. The output
    /// parses back to an equivalent expression.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)
    }
}

/// Rejects an unmatched `)` or an unclosed `(` anywhere in the text.
fn check_balance(s: &[u8]) -> Result<(), LogicError> {
    let mut open: Vec<usize> = Vec::new();
    for (i, &b) in s.iter().enumerate() {
        if b == b'(' {
            open.push(i);
        } else if b == b')' && open.pop().is_none() {
            return Err(LogicError::at(i, "unexpected ')'"));
        }
    }
    match open.first() {
        Some(&i) => Err(LogicError::at(i, "missing ')' for '('")),
        None => Ok(()),
    }
}

fn op_of(b: u8) -> Option<Op> {
    match b {
        b'&' => Some(Op::And),
        b'|' => Some(Op::Or),
        _ => None,
    }
}

fn describe(b: u8) -> String {
    format!("unexpected '{}'", b as char)
}

/// Recursive parser over byte ranges of a balanced, ASCII expression.
struct Parser<'a> {
    s: &'a [u8],
}

impl Parser<'_> {
    fn byte(&self, i: usize) -> Option<u8> {
        self.s.get(i).copied()
    }

    /// Operators at nesting level 0 within `start..end`: the first one, or the last one.
    fn find_op(&self, start: usize, end: usize, last: bool) -> Option<(usize, Op)> {
        let mut depth = 0usize;
        let mut found = None;
        for i in start..end {
            let b = self.byte(i)?;
            match b {
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                _ => {
                    if depth == 0 {
                        if let Some(op) = op_of(b) {
                            found = Some((i, op));
                            if !last {
                                break;
                            }
                        }
                    }
                }
            }
        }
        found
    }

    /// Builds `lhs op rhs` from the two sides of the operator at `pos`, checking both exist.
    fn split(
        &self,
        (start, pos, end): (usize, usize, usize),
        op: Op,
        depth: usize,
        lhs_is_term: bool,
        modifier: Option<CountMod>,
    ) -> Result<Node, LogicError> {
        let name = if op == Op::And { '&' } else { '|' };
        if pos == start {
            return Err(LogicError::at(
                pos,
                format!("missing left operand for '{}'", name),
            ));
        }
        if pos + 1 == end {
            return Err(LogicError::at(
                pos,
                format!("missing right operand for '{}'", name),
            ));
        }
        let lhs = if lhs_is_term {
            self.term(start, pos, depth + 1)?
        } else {
            self.expr(start, pos, depth + 1)?
        };
        let rhs = self.expr(pos + 1, end, depth + 1)?;
        Ok(Node::Bin {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
            modifier,
        })
    }

    /// An expression: split at the first top-level operator (right-grouping chains).
    fn expr(&self, start: usize, end: usize, depth: usize) -> Result<Node, LogicError> {
        if depth > MAX_DEPTH {
            return Err(LogicError::at(start, "expression nested too deeply"));
        }
        match self.find_op(start, end, false) {
            Some((pos, op)) => self.split((start, pos, end), op, depth, true, None),
            None => self.term(start, end, depth),
        }
    }

    /// An operand without top-level operators: `N[mod]`, `(group)[mod]`, or `(term)`.
    fn term(&self, start: usize, end: usize, depth: usize) -> Result<Node, LogicError> {
        if depth > MAX_DEPTH {
            return Err(LogicError::at(start, "expression nested too deeply"));
        }
        let first = match self.byte(start) {
            Some(b) if start < end => b,
            _ => return Err(LogicError::at(start, "missing operand")),
        };
        if first.is_ascii_digit() {
            let (index, next) = self.number(start, end)?;
            if index as usize > MAX_SUBSIG_INDEX {
                return Err(LogicError::at(
                    start,
                    format!(
                        "subsignature index {} is out of range 0..{}",
                        index, MAX_SUBSIG_INDEX
                    ),
                ));
            }
            let (modifier, next) = self.modifier(next, end)?;
            self.expect_end(next, end)?;
            return Ok(Node::Sub {
                index: index as u8,
                modifier,
            });
        }
        if first != b'(' {
            return Err(LogicError::at(start, describe(first)));
        }
        let close = self.matching_paren(start, end)?;
        if close == start + 1 {
            return Err(LogicError::at(start, "empty parentheses"));
        }
        let (modifier, next) = self.modifier(close + 1, end)?;
        self.expect_end(next, end)?;
        match self.find_op(start + 1, close, true) {
            // A group with operators is split at its *last* operator (ClamAV's op1 case).
            Some((pos, op)) => self.split((start + 1, pos, close), op, depth, false, modifier),
            None => {
                if modifier.is_some() {
                    return Err(LogicError::at(
                        close + 1,
                        "a count modifier after parentheses needs '&' or '|' inside them \
                         (ClamAV rejects it; put the modifier on the subsignature)",
                    ));
                }
                self.term(start + 1, close, depth + 1)
            }
        }
    }

    fn matching_paren(&self, open: usize, end: usize) -> Result<usize, LogicError> {
        let mut depth = 0usize;
        for i in open..end {
            match self.byte(i) {
                Some(b'(') => depth += 1,
                Some(b')') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(i);
                    }
                }
                _ => {}
            }
        }
        Err(LogicError::at(open, "missing ')' for '('"))
    }

    fn expect_end(&self, pos: usize, end: usize) -> Result<(), LogicError> {
        if pos >= end {
            return Ok(());
        }
        match self.byte(pos) {
            Some(b) => Err(LogicError::at(pos, describe(b))),
            None => Ok(()),
        }
    }

    /// A decimal number that fits in `u32`, starting at `start` (which must be a digit).
    fn number(&self, start: usize, end: usize) -> Result<(u32, usize), LogicError> {
        let mut value: u32 = 0;
        let mut i = start;
        while i < end {
            match self.byte(i) {
                Some(b) if b.is_ascii_digit() => {
                    value = value
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u32::from(b - b'0')))
                        .ok_or_else(|| LogicError::at(start, "number too large"))?;
                    i += 1;
                }
                _ => break,
            }
        }
        Ok((value, i))
    }

    /// An optional count modifier `=X`, `>X`, `<X`, each optionally followed by `,Y`.
    fn modifier(&self, pos: usize, end: usize) -> Result<(Option<CountMod>, usize), LogicError> {
        if pos >= end {
            return Ok((None, pos));
        }
        let cmp = match self.byte(pos) {
            Some(b'=') => Cmp::Eq,
            Some(b'>') => Cmp::Gt,
            Some(b'<') => Cmp::Lt,
            _ => return Ok((None, pos)),
        };
        let digit_at = |i: usize| i < end && self.byte(i).is_some_and(|b| b.is_ascii_digit());
        if !digit_at(pos + 1) {
            let c = self.byte(pos).map(char::from).unwrap_or('?');
            return Err(LogicError::at(pos, format!("missing number after '{}'", c)));
        }
        let (x, mut next) = self.number(pos + 1, end)?;
        let mut y = 0;
        if next < end && self.byte(next) == Some(b',') {
            if !digit_at(next + 1) {
                return Err(LogicError::at(next, "missing number after ','"));
            }
            let (v, after) = self.number(next + 1, end)?;
            y = v;
            next = after;
        }
        Ok((Some(CountMod { cmp, x, y }), next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> LogicExpr {
        match LogicExpr::parse(s) {
            Ok(e) => e,
            Err(e) => panic!("{:?} failed to parse: {}", s, e),
        }
    }

    fn err(s: &str) -> String {
        match LogicExpr::parse(s) {
            Ok(e) => panic!("{:?} parsed unexpectedly as {}", s, e),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn single_subsig() {
        let e = p("0");
        assert_eq!(e.max_index(), 0);
        assert!(e.eval(&[1]));
        assert!(e.eval(&[7]));
        assert!(!e.eval(&[0]));
        assert!(!e.eval(&[])); // missing counts are zero
    }

    #[test]
    fn and_or_basics() {
        let a = p("0&1");
        assert!(a.eval(&[1, 1]));
        assert!(!a.eval(&[1, 0]));
        assert!(!a.eval(&[0, 1]));
        let o = p("0|1");
        assert!(o.eval(&[0, 1]));
        assert!(o.eval(&[1, 0]));
        assert!(!o.eval(&[0, 0]));
        assert_eq!(p("3|1|7").max_index(), 7);
    }

    #[test]
    fn mixed_operators_group_like_clamav() {
        // Top level: split at the first operator, so chains group to the right.
        assert_eq!(p("0&1|2").to_string(), "(0&(1|2))");
        assert_eq!(p("0|1&2").to_string(), "(0|(1&2))");
        assert!(p("0|1&2").eval(&[1, 0, 0])); // 0|(1&2), not (0|1)&2
        assert!(!p("0&1|2").eval(&[0, 0, 1])); // 0&(1|2), not (0&1)|2

        // Inside one group: split at the last operator.
        assert_eq!(p("(0|1&2)").to_string(), "((0|1)&2)");
        assert!(!p("(0|1&2)").eval(&[1, 0, 0]));
        assert_eq!(p("(0&1|2&3)").to_string(), "((0&(1|2))&3)");
        // Same-operator chains are unaffected.
        assert!(p("(0&1&2&3)&(4|1)").eval(&[1, 1, 1, 1, 0]));
        assert!(!p("(0&1&2&3)&(4|1)").eval(&[1, 1, 0, 1, 1]));
    }

    #[test]
    fn parentheses() {
        assert!(p("(0)").eval(&[1]));
        assert!(p("((0|1))").eval(&[0, 1]));
        assert!(p("(0|1)&(2|3)").eval(&[0, 1, 1, 0]));
        assert!(!p("(0|1)&(2|3)").eval(&[0, 1, 0, 0]));
        assert!(p("((0|1)&2)|3").eval(&[0, 0, 0, 1]));
    }

    #[test]
    fn subsig_count_modifiers() {
        let eq = p("0=2");
        assert!(eq.eval(&[2]));
        assert!(!eq.eval(&[1]));
        assert!(!eq.eval(&[3]));
        let gt = p("0>2");
        assert!(gt.eval(&[3]));
        assert!(!gt.eval(&[2]));
        let lt = p("0<2");
        assert!(lt.eval(&[1]));
        assert!(lt.eval(&[0])); // true even when it never matched
        assert!(!lt.eval(&[2]));
        // `,Y` on a single subsignature is ignored, as in ClamAV.
        assert!(p("0>1,5").eval(&[2]));
        assert!(p("0=1,9").eval(&[1]));
        assert!(p("0<3,2").eval(&[0]));
    }

    #[test]
    fn eq_zero_is_negation() {
        let e = p("0&1=0");
        assert!(e.eval(&[1, 0]));
        assert!(!e.eval(&[1, 1]));
        let g = p("(0|1)=0");
        assert!(g.eval(&[0, 0]));
        assert!(!g.eval(&[0, 1]));
        // A group that is false has count 0, so `<X` holds.
        assert!(p("(0|1)<3").eval(&[0, 0]));
    }

    #[test]
    fn group_count_modifiers() {
        let e = p("(0|1)=3");
        assert!(e.eval(&[1, 2]));
        assert!(!e.eval(&[1, 1]));
        let g = p("(0|1|2)>2");
        assert!(g.eval(&[1, 1, 1]));
        assert!(!g.eval(&[1, 1, 0]));
        let l = p("(0|1)<2");
        assert!(l.eval(&[1, 0]));
        assert!(!l.eval(&[1, 1]));
        // `&` group: count only when the whole `&` is true.
        let a = p("(0&1)>1");
        assert!(a.eval(&[1, 1]));
        assert!(!a.eval(&[5, 0]));
        // ,Y: distinct subsignatures.
        let y = p("(0|1|2)=4,2");
        assert!(y.eval(&[2, 2, 0]));
        assert!(!y.eval(&[4, 0, 0]));
        let yl = p("(0|1)<5,2");
        assert!(yl.eval(&[1, 1]));
        assert!(!yl.eval(&[2, 0]));
        let yg = p("(0|1)>1,2");
        assert!(yg.eval(&[1, 1]));
        assert!(!yg.eval(&[3, 0]));
        // ,0 means no distinct-subsignature requirement.
        assert!(p("(0|1)>1,0").eval(&[3, 0]));
    }

    #[test]
    fn docs_example() {
        // Sig2 from LogicalSignatures.md.
        let e = p("((0|1|2)>5,2)&(3|1)");
        assert_eq!(e.max_index(), 3);
        assert!(e.eval(&[3, 3, 0, 1]));
        assert!(e.eval(&[5, 0, 1, 1])); // 6 matches from 2 distinct subsigs
        assert!(!e.eval(&[6, 0, 0, 1])); // only one distinct subsig
        assert!(!e.eval(&[2, 2, 1, 1])); // 5 is not more than 5
        assert!(!e.eval(&[3, 0, 3, 0])); // (3|1) fails
                                         // Sig3.
        let s3 = p("((0|1|2|3)=2)&(4|1)");
        assert!(s3.eval(&[1, 1, 0, 0, 0]));
        assert!(!s3.eval(&[1, 2, 0, 0, 0]));
    }

    #[test]
    fn count_and_id_propagation_quirks() {
        // A subsignature whose modifier holds passes its id up even with count 0.
        let e = p("(0=0|1)>0,2");
        assert!(e.eval(&[0, 1]));
        // A modified group passes its count up but not its ids.
        let q = p("((0|1)>0|2)>0,2");
        assert!(!q.eval(&[1, 1, 1]));
        let c = p("((0|1)>1|2)>2");
        assert!(c.eval(&[1, 1, 1])); // 2 (from the inner group) + 1
        assert!(!c.eval(&[1, 0, 1]));
        // Both sides of `|` are summed, no short-circuit.
        assert!(p("(0|1)>5").eval(&[3, 3]));
    }

    #[test]
    fn limits_on_indexes() {
        assert_eq!(p("63").max_index(), 63);
        assert!(p("63").eval(&[1; 64]));
        assert_eq!(
            err("0|64"),
            "subsignature index 64 is out of range 0..63 at column 3"
        );
        assert!(err("4294967296").contains("number too large"));
        assert!(err("0>99999999999").contains("number too large at column 3"));
    }

    #[test]
    fn syntax_errors_have_positions() {
        assert_eq!(err(""), "empty logical expression");
        assert_eq!(err("(0|1))&2"), "unexpected ')' at column 6");
        assert_eq!(err("0&1|2)"), "unexpected ')' at column 6");
        assert_eq!(err("(0&1)|2)"), "unexpected ')' at column 8");
        assert_eq!(err("((0|1)"), "missing ')' for '(' at column 1");
        assert_eq!(err("&1"), "missing left operand for '&' at column 1");
        assert_eq!(err("0|"), "missing right operand for '|' at column 2");
        assert_eq!(err("0&&1"), "missing left operand for '&' at column 3");
        assert_eq!(err("(|1)"), "missing left operand for '|' at column 2");
        assert_eq!(err("(1|)"), "missing right operand for '|' at column 3");
        assert_eq!(err("()"), "empty parentheses at column 1");
        assert_eq!(err("0 & 1"), "unexpected ' ' at column 2");
        assert_eq!(err("0&1x"), "unexpected 'x' at column 4");
        assert_eq!(err("(0|1)2"), "unexpected '2' at column 6");
        assert_eq!(err("0,5"), "unexpected ',' at column 2");
        assert_eq!(err("0>"), "missing number after '>' at column 2");
        assert_eq!(err("(0|1)=,2"), "missing number after '=' at column 6");
        assert_eq!(err("(0|1)>5,"), "missing number after ',' at column 8");
        assert_eq!(err("0>1>2"), "unexpected '>' at column 4");
        assert_eq!(err("a"), "unexpected 'a' at column 1");
        assert_eq!(err("0|é"), "unexpected 'é' at column 3");
        assert!(err("(0)>2").starts_with("a count modifier after parentheses needs"));
        assert!(err("((0|1))>2").contains("at column 8"));
    }

    #[test]
    fn error_accessors() {
        let e = match LogicExpr::parse("0|1)") {
            Ok(_) => panic!("should fail"),
            Err(e) => e,
        };
        assert_eq!(e.reason(), "unexpected ')'");
        assert_eq!(e.column(), Some(4));
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert!(boxed.to_string().contains("column 4"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}0{}", "(".repeat(5000), ")".repeat(5000));
        assert!(err(&deep).contains("nested too deeply"));
        let chain = vec!["0"; 5000].join("|");
        assert!(err(&chain).contains("nested too deeply"));
        let ok = format!("{}0{}", "(".repeat(100), ")".repeat(100));
        assert!(p(&ok).eval(&[1]));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "((0|1|2)>5,2)&(3|1)",
            "0&1|2",
            "(0|1&2)",
            "0=0&(1<3|2>1,1)",
            "((0|1)>0|2)>0,2",
        ] {
            let e = p(s);
            let again = p(&e.to_string());
            assert_eq!(e, again, "{}", s);
        }
    }

    #[test]
    fn send_sync_clone() {
        fn assert_traits<T: Clone + std::fmt::Debug + Send + Sync>() {}
        assert_traits::<LogicExpr>();
        assert_traits::<LogicError>();
    }
}
