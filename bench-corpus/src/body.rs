//! Model of a ClamAV hex body signature (the part after the offset in an
//! `.ndb` line, or one `.ldb` subsignature).
//!
//! A body is a list of *parts* separated by *gaps*. A part is a fixed-length
//! run of byte tokens: static bytes, `??`, nibble wildcards (`a?`, `?a`) and
//! single-byte alternatives (`(aa|bb)`). Gaps are `*`, `{n-m}` or `{n}`.
//!
//! ClamAV needs two consecutive static bytes in every part; the generator is
//! stricter and keeps a run of at least [`MIN_STATIC_RUN`] static bytes in
//! each part, and never starts or ends a part with a wildcard, so every body
//! is well inside what ClamAV (and a literal-prefilter engine such as
//! Hyperscan) can handle.

use rand::Rng;

/// Minimum run of consecutive static bytes kept in every part.
pub const MIN_STATIC_RUN: usize = 4;
/// Largest upper bound used in a `{n-m}` / `{n}` gap.
pub const MAX_GAP: u32 = 64;
/// Largest number of random bytes a concrete instance puts in a `*` gap.
pub const MAX_STAR_FILL: usize = 32;

/// One fixed-width position of a part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A static byte.
    Byte(u8),
    /// `??`
    Any,
    /// `h?`: high nibble fixed (value 0..16).
    High(u8),
    /// `?l`: low nibble fixed (value 0..16).
    Low(u8),
    /// `(aa|bb|...)`: one of these bytes.
    Alt(Vec<u8>),
}

/// Separator between two parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gap {
    /// `*`: any number of bytes.
    Star,
    /// `{n-m}`: n to m bytes inclusive.
    Range(u32, u32),
    /// `{n}`: exactly n bytes.
    Exact(u32),
}

/// A whole hex body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Body {
    pub parts: Vec<Vec<Tok>>,
    /// `gaps[i]` sits between `parts[i]` and `parts[i + 1]`.
    pub gaps: Vec<Gap>,
}

/// Knobs for [`gen_body`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyParams {
    /// Total byte positions (gaps excluded), inclusive range.
    pub min_len: usize,
    pub max_len: usize,
    /// Put wildcards / alternatives in parts that are long enough.
    pub wildcards: bool,
    /// Split the body with gaps.
    pub gaps: bool,
    /// `*` allowed as a gap (not for offset-anchored signatures).
    pub allow_star: bool,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn push_hex_byte(out: &mut String, b: u8) {
    out.push(HEX[(b >> 4) as usize] as char);
    out.push(HEX[(b & 15) as usize] as char);
}

/// Lowercase hex of a byte string.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        push_hex_byte(&mut s, b);
    }
    s
}

/// Parse lowercase or uppercase hex (even length) into bytes.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    fn nib(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|p| Some(nib(p[0])? << 4 | nib(p[1])?))
        .collect()
}

fn random_wild<R: Rng>(rng: &mut R) -> Tok {
    match rng.gen_range(0..10u8) {
        0..=3 => Tok::Any,
        4 | 5 => Tok::High(rng.gen_range(0..16)),
        6 | 7 => Tok::Low(rng.gen_range(0..16)),
        _ => {
            let n = rng.gen_range(2..=4usize);
            let mut v: Vec<u8> = Vec::with_capacity(n);
            while v.len() < n {
                let b: u8 = rng.gen();
                if !v.contains(&b) {
                    v.push(b);
                }
            }
            Tok::Alt(v)
        }
    }
}

fn gen_part<R: Rng>(rng: &mut R, len: usize, wildcards: bool) -> Vec<Tok> {
    let mut toks: Vec<Tok> = (0..len).map(|_| Tok::Byte(rng.gen())).collect();
    // Need room for a static anchor plus a non-edge position outside it.
    if wildcards && len >= MIN_STATIC_RUN + 2 {
        let anchor = rng.gen_range(0..=len - MIN_STATIC_RUN);
        let candidates: Vec<usize> = (1..len - 1)
            .filter(|&i| i < anchor || i >= anchor + MIN_STATIC_RUN)
            .collect();
        let mut placed = false;
        for &i in &candidates {
            if rng.gen_bool(0.35) {
                toks[i] = random_wild(rng);
                placed = true;
            }
        }
        if !placed && !candidates.is_empty() {
            let i = candidates[rng.gen_range(0..candidates.len())];
            toks[i] = random_wild(rng);
        }
    }
    toks
}

fn gen_gap<R: Rng>(rng: &mut R, allow_star: bool) -> Gap {
    match rng.gen_range(0..3u8) {
        0 if allow_star => Gap::Star,
        0 | 1 => {
            let n = rng.gen_range(1..=16);
            Gap::Range(n, rng.gen_range(n + 1..=MAX_GAP))
        }
        _ => Gap::Exact(rng.gen_range(1..=MAX_GAP)),
    }
}

/// Generate a random body.
pub(crate) fn gen_body<R: Rng>(rng: &mut R, p: &BodyParams) -> Body {
    let len = rng.gen_range(p.min_len..=p.max_len);
    let max_parts = (len / MIN_STATIC_RUN).min(4);
    let nparts = if p.gaps && max_parts >= 2 {
        rng.gen_range(2..=max_parts)
    } else {
        1
    };
    let mut sizes = vec![MIN_STATIC_RUN; nparts];
    for _ in 0..len - MIN_STATIC_RUN * nparts {
        let i = rng.gen_range(0..nparts);
        sizes[i] += 1;
    }
    let parts = sizes
        .iter()
        .map(|&l| gen_part(rng, l, p.wildcards))
        .collect();
    let gaps = (1..nparts).map(|_| gen_gap(rng, p.allow_star)).collect();
    Body { parts, gaps }
}

/// Generate an ASCII-looking static string for a `::i` (nocase) subsig.
pub(crate) fn gen_ascii<R: Rng>(rng: &mut R, min_len: usize, max_len: usize) -> Vec<u8> {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123456789 ._-";
    let len = rng.gen_range(min_len..=max_len);
    (0..len)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())])
        .collect()
}

/// Random letter case for a nocase instance.
pub(crate) fn randomize_case<R: Rng>(rng: &mut R, s: &[u8]) -> Vec<u8> {
    s.iter()
        .map(|&c| {
            if c.is_ascii_alphabetic() && rng.gen_bool(0.5) {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

impl Body {
    /// Append the ClamAV hex text of this body to `out`.
    pub fn render(&self, out: &mut String) {
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                match self.gaps[i - 1] {
                    Gap::Star => out.push('*'),
                    Gap::Range(n, m) => {
                        out.push_str(&format!("{{{n}-{m}}}"));
                    }
                    Gap::Exact(n) => out.push_str(&format!("{{{n}}}")),
                }
            }
            for t in part {
                match t {
                    Tok::Byte(b) => push_hex_byte(out, *b),
                    Tok::Any => out.push_str("??"),
                    Tok::High(h) => {
                        out.push(HEX[*h as usize] as char);
                        out.push('?');
                    }
                    Tok::Low(l) => {
                        out.push('?');
                        out.push(HEX[*l as usize] as char);
                    }
                    Tok::Alt(v) => {
                        out.push('(');
                        for (j, b) in v.iter().enumerate() {
                            if j > 0 {
                                out.push('|');
                            }
                            push_hex_byte(out, *b);
                        }
                        out.push(')');
                    }
                }
            }
        }
    }

    /// Largest number of bytes a match can span, or `None` with a `*` gap.
    pub fn max_span(&self) -> Option<usize> {
        let mut n: usize = self.parts.iter().map(Vec::len).sum();
        for g in &self.gaps {
            n += match g {
                Gap::Star => return None,
                Gap::Range(_, m) => *m as usize,
                Gap::Exact(m) => *m as usize,
            };
        }
        Some(n)
    }

    /// A concrete byte string that this body matches from its first to its
    /// last byte: every wildcard and alternative resolved, every gap given a
    /// concrete length filled with random bytes.
    pub fn concrete<R: Rng>(&self, rng: &mut R) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                let fill = match self.gaps[i - 1] {
                    Gap::Star => rng.gen_range(0..=MAX_STAR_FILL),
                    Gap::Range(n, m) => rng.gen_range(n..=m) as usize,
                    Gap::Exact(n) => n as usize,
                };
                out.extend((0..fill).map(|_| rng.gen::<u8>()));
            }
            for t in part {
                out.push(match t {
                    Tok::Byte(b) => *b,
                    Tok::Any => rng.gen(),
                    Tok::High(h) => h << 4 | rng.gen_range(0..16u8),
                    Tok::Low(l) => rng.gen_range(0..16u8) << 4 | l,
                    Tok::Alt(v) => v[rng.gen_range(0..v.len())],
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn hex_roundtrip() {
        let v: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex(&to_hex(&v)).unwrap(), v);
        assert!(from_hex("abc").is_none());
        assert!(from_hex("zz").is_none());
    }

    #[test]
    fn parts_keep_static_anchor() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let p = BodyParams {
            min_len: 12,
            max_len: 40,
            wildcards: true,
            gaps: true,
            allow_star: true,
        };
        for _ in 0..2000 {
            let b = gen_body(&mut rng, &p);
            assert_eq!(b.gaps.len() + 1, b.parts.len());
            for part in &b.parts {
                let mut run = 0;
                let mut best = 0;
                for t in part {
                    if matches!(t, Tok::Byte(_)) {
                        run += 1;
                        best = best.max(run);
                    } else {
                        run = 0;
                    }
                }
                assert!(best >= MIN_STATIC_RUN);
                assert!(matches!(part.first(), Some(Tok::Byte(_))));
                assert!(matches!(part.last(), Some(Tok::Byte(_))));
            }
        }
    }
}
