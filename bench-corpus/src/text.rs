//! English-like text and random bytes.
//!
//! Text files are the common case for an ICAP/mail scanner, and they matter
//! for the matcher: ASCII has a skewed byte distribution, so literal
//! prefilters see many more partial candidate hits than on random data. The
//! generator models that cheaply: a fixed vocabulary (about 100 real English
//! function words followed by syllable-built pseudo-words, 4096 in all)
//! drawn with a Zipf (1/rank) distribution, sentences of 4–20 words with
//! capitals, commas and full stops, lines wrapped at 72 columns and blank
//! lines between paragraphs. The vocabulary is built once from a fixed seed,
//! so it never depends on the corpus seed.

use std::sync::OnceLock;

use rand::{Rng, SeedableRng};

const COMMON: &[&str] = &[
    "the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has", "there",
    "been", "if", "more", "when", "will", "would", "who", "so", "no", "she", "other", "its", "may",
    "these", "what", "them", "than", "some", "him", "time", "into", "only", "do", "could", "new",
    "about", "two", "then", "first", "also", "any", "like", "our", "over", "such", "me", "after",
    "most", "made", "should", "between", "many", "before", "must", "through", "years", "where",
    "much", "your", "way", "well", "down", "because", "each", "just", "those", "people", "how",
    "too", "file", "system", "data", "report", "message", "server", "account",
];

const VOCAB: usize = 4096;
const TABLE_BITS: u32 = 16;

struct Words {
    words: Vec<Vec<u8>>,
    /// Uniform 16-bit value → word index, following the Zipf weights.
    table: Vec<u16>,
}

fn words() -> &'static Words {
    static W: OnceLock<Words> = OnceLock::new();
    W.get_or_init(|| {
        const ONSET: &[&str] = &[
            "b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br", "ch",
            "cl", "cr", "dr", "fl", "gr", "pl", "pr", "sh", "sl", "st", "th", "tr", "",
        ];
        const NUCLEUS: &[&str] = &[
            "a", "e", "i", "o", "u", "ea", "ou", "ai", "ie", "oo", "a", "e", "o",
        ];
        const CODA: &[&str] = &[
            "", "", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "rt", "ck", "m", "x",
        ];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x776f_7264_6c69_7374);
        let mut words: Vec<Vec<u8>> = COMMON.iter().map(|w| w.as_bytes().to_vec()).collect();
        let mut seen: std::collections::HashSet<Vec<u8>> = words.iter().cloned().collect();
        while words.len() < VOCAB {
            let syll = rng.gen_range(1..=4);
            let mut w = String::new();
            for _ in 0..syll {
                w.push_str(ONSET[rng.gen_range(0..ONSET.len())]);
                w.push_str(NUCLEUS[rng.gen_range(0..NUCLEUS.len())]);
            }
            w.push_str(CODA[rng.gen_range(0..CODA.len())]);
            let w = w.into_bytes();
            if w.len() >= 2 && seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let weights: Vec<f64> = (0..VOCAB).map(|r| 1.0 / (r as f64 + 1.0)).collect();
        let total: f64 = weights.iter().sum();
        let slots = 1usize << TABLE_BITS;
        let mut table = Vec::with_capacity(slots);
        let mut cum = 0.0;
        let mut w = 0usize;
        for s in 0..slots {
            let target = (s as f64 + 0.5) / slots as f64 * total;
            while w + 1 < VOCAB && cum + weights[w] < target {
                cum += weights[w];
                w += 1;
            }
            table.push(w as u16);
        }
        Words { words, table }
    })
}

/// Append `len` bytes of English-like text to `out`.
pub fn english_like_into<R: Rng + ?Sized>(rng: &mut R, len: usize, out: &mut Vec<u8>) {
    let w = words();
    let start = out.len();
    let end = start + len;
    out.reserve(len + 32);
    let mut col = 0usize;
    let mut left_in_sentence = 0u32;
    let mut sentences_left_in_para = 0u32;
    while out.len() < end {
        let r = rng.next_u64();
        let word = &w.words[w.table[(r & 0xffff) as usize] as usize];
        let mut capital = false;
        if left_in_sentence == 0 {
            if out.len() > start {
                out.push(b'.');
                col += 1;
            }
            if sentences_left_in_para == 0 {
                if out.len() > start {
                    out.extend_from_slice(b"\n\n");
                    col = 0;
                }
                sentences_left_in_para = 2 + ((r >> 16) % 6) as u32;
            }
            sentences_left_in_para -= 1;
            left_in_sentence = 4 + ((r >> 24) % 17) as u32;
            capital = true;
        } else if (r >> 32).is_multiple_of(12) {
            out.push(b',');
            col += 1;
        }
        left_in_sentence -= 1;
        if col > 0 && col + 1 + word.len() > 72 {
            out.push(b'\n');
            col = 0;
        } else if col > 0 {
            out.push(b' ');
            col += 1;
        }
        let at = out.len();
        out.extend_from_slice(word);
        if capital {
            out[at] = out[at].to_ascii_uppercase();
        }
        col += word.len();
    }
    out.truncate(end);
    if len > 0 {
        out[end - 1] = b'\n';
    }
}

/// `len` bytes of English-like text.
pub fn english_like<R: Rng + ?Sized>(rng: &mut R, len: usize) -> Vec<u8> {
    let mut v = Vec::new();
    english_like_into(rng, len, &mut v);
    v
}

/// `len` uniformly random bytes.
pub fn random_bytes<R: Rng + ?Sized>(rng: &mut R, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_ascii_and_sized() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for len in [0, 1, 10, 1000, 100_000] {
            let t = english_like(&mut rng, len);
            assert_eq!(t.len(), len);
            assert!(t.iter().all(|&c| c == b'\n' || (0x20..0x7f).contains(&c)));
        }
        let t = english_like(&mut rng, 100_000);
        let s = String::from_utf8(t).unwrap();
        assert!(s.contains(" the "));
        assert!(s.lines().all(|l| l.len() <= 80));
    }
}
