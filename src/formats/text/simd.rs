//! The x86-64 SIMD path of ClamAV's script normalizer ([`super::normalize_append`]).
//!
//! Why hand-written: no crate implements `text_normalize_buffer` (`libclamav/textnorm.c`:
//! lowercase `A-Z`, fold each whitespace run to one space, drop control and high
//! bytes *without* ending a run, the run state carried across calls), and a
//! byte-at-a-time loop over it runs at a few hundred MB/s: every byte is a table
//! look-up, a data-dependent store position and a data-dependent whitespace state.
//! Here each 64-byte block costs a fixed amount of work, without data-dependent
//! branches but one for plain text (about 4 GB/s whatever the data; the
//! byte-at-a-time normalizer, kept as [`super::normalize_append_scalar`], is the
//! fallback and the tests' reference):
//!
//! 1. Classify each 16-byte vector with byte compares: `kept` (`0x21..=0x7f`: signed
//!    `> 0x20`), `ws` (`0x09..=0x0d` or `0x20`) and upper-case letters; all other
//!    bytes are dropped. The normalized vector is the input with `0x20` or-ed into
//!    the letters and raised to at least `0x20` (so whitespace becomes `' '`;
//!    dropped bytes are never stored, whatever they become). `movemask` gives one bit
//!    per byte: 64-bit masks `kept` and `ws` for the block.
//! 2. Plain text (`kept` all ones: no whitespace, nothing dropped) is stored as it
//!    is, 64 bytes out.
//! 3. Otherwise the whitespace folding is done on the masks. A whitespace byte is
//!    written iff the kept byte before it (dropped bytes are transparent) is not
//!    whitespace, or, before the block's first kept byte, iff the carried state
//!    says the last byte written was not a space. Put a mark on the byte after every
//!    `kept` byte (and on byte 0 for that carried state) and add the marks to the mask
//!    of dropped bytes: each mark's carry runs through the dropped bytes after it and
//!    stops at the next byte not dropped, setting its bit. (A carry never reaches a
//!    marked bit: the byte before a mark is in `kept`, which stops carries.) So
//!    `kept | (sum & ws)` is exactly the bytes to write, and the carry out of the top, or a last byte
//!    in `kept`, gives the state for the next block: no loop over bits, no branch.
//! 4. The bytes to write are left-packed 8 at a time with `pshufb`: [`PACK_LO`] and
//!    [`PACK_HI`] hold, for each 8-bit mask, the positions of its set bits, so each
//!    16-byte vector is packed by one shuffle whose mask is two table rows. The
//!    packed low half is stored at the output position, the packed high half right
//!    after its `popcnt` bytes. Every store is 8 bytes wide whatever the count, so a
//!    block may write up to 64 bytes past its output position: the output needs
//!    [`SLACK`](super::SLACK) bytes of capacity past it, and the garbage past the
//!    written bytes is overwritten by the next block or left outside the `Vec`'s
//!    length.
//!
//! The output is written straight into the `Vec`'s spare capacity, never zeroed
//! first. The last partial block is copied into a NUL-padded block: NUL bytes are
//! dropped without touching the whitespace state, so the padding changes nothing.
//!
//! The code needs SSSE3 (`pshufb`) and POPCNT, checked at run time once
//! ([`level`]); where AVX2 and BMI are present the same code is also compiled for
//! them (VEX encoding without register copies, BMI shifts: some 7% faster on the
//! Zen 1 this was measured on).

use std::arch::x86_64::{
    __m128i, _mm_add_epi8, _mm_and_si128, _mm_castsi128_pd, _mm_cmpeq_epi8, _mm_cmpgt_epi8,
    _mm_loadl_epi64, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    _mm_shuffle_epi8, _mm_storeh_pd, _mm_storel_epi64, _mm_storeu_si128, _mm_unpacklo_epi64,
};

use std::sync::atomic::{AtomicU8, Ordering};

use super::SLACK;

/// Input bytes per block: four 16-byte vectors, one bit each in a `u64` mask.
const BLOCK: usize = 64;

/// The normalizer's signature.
#[cfg(test)]
type Append = fn(&[u8], &mut Vec<u8>, &mut bool);

/// Normalizes `input` onto the end of `out` like [`super::normalize_append_scalar`]
/// if the CPU has SSSE3 and POPCNT (using AVX2 and BMI2 too where it has them);
/// returns false, doing nothing, if it has not.
#[inline]
pub(super) fn normalize_append(input: &[u8], out: &mut Vec<u8>, space: &mut bool) -> bool {
    match level() {
        // SAFETY: `level` found AVX2, BMI1, BMI2 and POPCNT (and SSSE3, which AVX2
        // implies).
        Level::Avx2 => unsafe { normalize_append_avx2(input, out, space) },
        // SAFETY: `level` found SSSE3 and POPCNT.
        Level::Ssse3 => unsafe { normalize_append_ssse3(input, out, space) },
        Level::None => return false,
    }
    true
}

/// The SIMD paths this CPU supports, each as a safe function (for the tests).
#[cfg(test)]
pub(super) fn supported() -> Vec<(&'static str, Append)> {
    let mut paths: Vec<(&'static str, Append)> = Vec::new();
    if level() == Level::Avx2 {
        // SAFETY: `level` found the features (see `normalize_append`).
        paths.push(("avx2", |i, o, s| unsafe { normalize_append_avx2(i, o, s) }));
    }
    if level() != Level::None {
        // SAFETY: `level` found the features (see `normalize_append`).
        paths.push(("ssse3", |i, o, s| unsafe {
            normalize_append_ssse3(i, o, s)
        }));
    }
    paths
}

/// The instruction sets the CPU offers the normalizer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Neither path: use the scalar normalizer.
    None,
    /// SSSE3 and POPCNT.
    Ssse3,
    /// That, and AVX2, BMI1, BMI2: the same code, VEX-encoded (three-operand, so
    /// without register copies).
    Avx2,
}

/// [`Level`], detected on the first call and cached (`is_x86_feature_detected!`
/// caches too, but one load here beats five there).
#[inline]
fn level() -> Level {
    static LEVEL: AtomicU8 = AtomicU8::new(u8::MAX);
    match LEVEL.load(Ordering::Relaxed) {
        0 => Level::None,
        1 => Level::Ssse3,
        2 => Level::Avx2,
        _ => {
            let level =
                if !(is_x86_feature_detected!("ssse3") && is_x86_feature_detected!("popcnt")) {
                    Level::None
                } else if is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("bmi1")
                    && is_x86_feature_detected!("bmi2")
                {
                    Level::Avx2
                } else {
                    Level::Ssse3
                };
            LEVEL.store(level as u8, Ordering::Relaxed);
            level
        }
    }
}

/// `pshufb` indices that left-pack 8 bytes: for each 8-bit keep mask, the positions
/// of its set bits in order, plus `offset`; then `0x80` (a zero byte).
const fn pack_table(offset: u8) -> [[u8; 8]; 256] {
    let mut t = [[0x80u8; 8]; 256];
    let mut m = 0;
    while m < 256 {
        let mut k = 0;
        let mut bit = 0;
        while bit < 8 {
            if m >> bit & 1 == 1 {
                t[m][k] = bit as u8 + offset;
                k += 1;
            }
            bit += 1;
        }
        m += 1;
    }
    t
}

/// Left-packs the low half of a vector.
static PACK_LO: [[u8; 8]; 256] = pack_table(0);
/// Left-packs the high half of a vector (indices 8..16).
static PACK_HI: [[u8; 8]; 256] = pack_table(8);

/// Defines a normalizer `$append` and its block function `$block` (called once, so
/// inlined) compiled for `$features`. `classify` and `pack` need only SSSE3 and
/// POPCNT, and are inlined into both with their features.
macro_rules! simd_normalizer {
    ($append:ident, $block:ident, $features:literal) => {
        /// [`super::normalize_append_scalar`] 64 bytes at a time: normalizes `input`
        /// onto the end of `out`, `space` being whether the last byte written was a
        /// folded whitespace run.
        ///
        /// # Safety
        ///
        /// The CPU must support the features enabled on it.
        #[target_feature(enable = $features)]
        unsafe fn $append(input: &[u8], out: &mut Vec<u8>, space: &mut bool) {
            out.reserve(input.len() + SLACK);
            let start = out.len();
            // Whether a whitespace byte would be written (the last byte written is
            // not a space): the opposite of `space`.
            let mut open = !*space;
            let mut n = 0usize;
            let whole = input.len() - input.len() % BLOCK;
            // The tail, padded with NUL bytes to a whole block.
            let mut pad = [0u8; BLOCK];
            pad[..input.len() - whole].copy_from_slice(&input[whole..]);
            // SAFETY: `dst` points at `out`'s spare capacity, which holds at least
            // `input.len() + SLACK` bytes. A block writes only within the `BLOCK`
            // bytes at `dst + n` and advances `n` by at most `BLOCK`, so before a
            // block `n` is at most its input offset `at` and its writes end before
            // `at + BLOCK <= input.len() + SLACK`. The blocks read are
            // `input[at..at + BLOCK]` (`at < whole`) and `pad`. `set_len` covers
            // exactly the `n` bytes written as output, all initialized.
            unsafe {
                let dst = out.as_mut_ptr().add(start);
                // One call site, so that the block is inlined here.
                for at in (0..input.len()).step_by(BLOCK) {
                    let src = if at < whole {
                        input.as_ptr().add(at)
                    } else {
                        pad.as_ptr()
                    };
                    n += $block(src, dst.add(n), &mut open);
                }
                out.set_len(start + n);
            }
            *space = !open;
        }

        /// Normalizes the `BLOCK` bytes at `src` to `dst`, writing within `BLOCK`
        /// bytes there (some past the output); returns how many bytes of output it
        /// wrote. `open`: whether a whitespace byte would be written.
        ///
        /// # Safety
        ///
        /// The features enabled on it; `src` readable and `dst` writable for `BLOCK`
        /// bytes.
        #[inline]
        #[target_feature(enable = $features)]
        unsafe fn $block(src: *const u8, dst: *mut u8, open: &mut bool) -> usize {
            let mut v = [_mm_set1_epi8(0); 4];
            let (mut kept, mut ws) = (0u64, 0u64);
            for (j, v) in v.iter_mut().enumerate() {
                // SAFETY: the caller guarantees `BLOCK` (4 x 16) readable bytes at
                // `src`.
                let x = unsafe { _mm_loadu_si128(src.add(16 * j).cast::<__m128i>()) };
                let (normalized, k, w) = classify(x);
                *v = normalized;
                kept |= k << (16 * j);
                ws |= w << (16 * j);
            }
            if kept == u64::MAX {
                // Plain text: nothing to drop or fold.
                for (j, v) in v.iter().enumerate() {
                    // SAFETY: the caller guarantees `BLOCK` writable bytes at `dst`.
                    unsafe { _mm_storeu_si128(dst.add(16 * j).cast::<__m128i>(), *v) };
                }
                *open = true;
                return BLOCK;
            }
            // A whitespace byte is written iff the kept byte before it is not
            // whitespace (or, before the first kept byte of the block, iff `open`).
            // Mark the byte after each `kept` byte, and bit 0 if `open`; adding the
            // marks to the mask of dropped bytes carries each mark through the
            // dropped bytes after it to the next byte kept or whitespace, setting its
            // bit, and no further. (A carry never arrives at a marked bit: the byte
            // before it is in `kept`, which stops carries.) So the whitespace bits
            // set in the sum are the ones written. The carry out of the top means
            // the block ends with a mark carried through dropped bytes: `open` for
            // the next block; so does a last byte in `kept`, whose mark falls off.
            let dropped = !(kept | ws);
            let (reached, carry) = dropped.overflowing_add(kept << 1 | u64::from(*open));
            let keep = kept | (reached & ws);
            *open = carry || kept >> 63 == 1;
            let mut n = 0;
            for (j, v) in v.iter().enumerate() {
                // SAFETY: `pack` writes within 16 bytes at `dst + n`; `n` is at most
                // `16 * j` here, so that is within the `BLOCK` writable bytes at `dst`.
                n += unsafe { pack(*v, (keep >> (16 * j)) as u32 & 0xffff, dst.add(n)) };
            }
            n
        }
    };
}

simd_normalizer!(
    normalize_append_ssse3,
    normalize_block_ssse3,
    "ssse3,popcnt"
);
simd_normalizer!(
    normalize_append_avx2,
    normalize_block_avx2,
    "avx2,bmi1,bmi2,popcnt"
);

/// One 16-byte vector classified: the normalized bytes (meaningful where kept) and
/// the masks of its kept non-whitespace bytes and of its whitespace bytes.
#[inline]
#[target_feature(enable = "ssse3,popcnt")]
unsafe fn classify(x: __m128i) -> (__m128i, u64, u64) {
    // `0x21..=0x7f`: the bytes above 0x20 read as signed.
    let kept = _mm_cmpgt_epi8(x, _mm_set1_epi8(0x20));
    // `A..=Z` moved to `0x66..=0x7f`; everything else lands at or below 0x65, or
    // negative.
    let upper = _mm_cmpgt_epi8(_mm_add_epi8(x, _mm_set1_epi8(0x25)), _mm_set1_epi8(0x65));
    // `0x09..=0x0d` moved to `-128..=-124`, nothing else is that low.
    let ws = _mm_or_si128(
        _mm_cmpgt_epi8(_mm_set1_epi8(-123), _mm_add_epi8(x, _mm_set1_epi8(0x77))),
        _mm_cmpeq_epi8(x, _mm_set1_epi8(0x20)),
    );
    let lowered = _mm_or_si128(x, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
    // Whitespace (and dropped control bytes, which are never stored) becomes a space.
    let normalized = _mm_max_epu8(lowered, _mm_set1_epi8(0x20));
    let k = _mm_movemask_epi8(kept) as u32 as u64;
    let w = _mm_movemask_epi8(ws) as u32 as u64;
    (normalized, k, w)
}

/// Stores the bytes of `v` selected by the 16-bit `keep` mask, in order, at `dst`
/// (writing within 16 bytes there); returns how many were selected.
///
/// # Safety
///
/// SSSE3 and POPCNT; `dst` writable for 16 bytes.
#[inline]
#[target_feature(enable = "ssse3,popcnt")]
unsafe fn pack(v: __m128i, keep: u32, dst: *mut u8) -> usize {
    let (lo, hi) = ((keep & 0xff) as usize, (keep >> 8 & 0xff) as usize);
    // SAFETY: `lo` and `hi` are below 256, so both rows exist, and a row is 8
    // readable bytes. The stores write 8 bytes at `dst` and at `dst + lo.count_ones()`
    // (at most 8): within the 16 bytes the caller guarantees.
    unsafe {
        let mask = _mm_unpacklo_epi64(
            _mm_loadl_epi64(PACK_LO[lo].as_ptr().cast::<__m128i>()),
            _mm_loadl_epi64(PACK_HI[hi].as_ptr().cast::<__m128i>()),
        );
        let packed = _mm_shuffle_epi8(v, mask);
        _mm_storel_epi64(dst.cast::<__m128i>(), packed);
        let low_count = lo.count_ones() as usize;
        _mm_storeh_pd(dst.add(low_count).cast::<f64>(), _mm_castsi128_pd(packed));
        low_count + hi.count_ones() as usize
    }
}
