//! Synthetic objects of one size class, made in memory: seeded random bytes, a share of
//! them carrying the EICAR test string at a random offset.
//!
//! What the server should answer: FOUND (any name) for the EICAR carriers, OK for the
//! rest. The string is inside other bytes, so only a signature that matches it anywhere
//! finds it: ClamAV's EICAR signature (and ringscan's built-in one) is a hash of the
//! exact 68-byte file and misses it. `perf/http.sh` serves an `.ndb` with the string
//! (`Eicar-Test-Signature:0:*:<hex>`) for that reason.
//!
//! The same seed, size, count and share always give the same bytes (SplitMix64; no
//! clock, no global RNG).

use std::path::PathBuf;

use super::objects::{Expect, Object, Objects};

/// The objects to make.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// Bytes per object.
    pub size: u64,
    /// Share of objects with the EICAR string, 0 to 1.
    pub eicar_share: f64,
    /// Objects; `None`: [`default_count`].
    pub count: Option<usize>,
    /// Seed.
    pub seed: u64,
}

/// Enough objects that the clients do not resend the same few bytes (32 MiB worth),
/// between 20 and 1000, rounded up to a multiple of 10 so that a 10 % share is exact.
pub fn default_count(size: u64) -> usize {
    let n = (32u64 << 20) / size.max(1);
    (n.clamp(20, 1000) as usize).div_ceil(10) * 10
}

/// The largest total this makes, so that a typo does not eat the machine's memory.
const MAX_TOTAL: u64 = 4 << 30;

/// SplitMix64: small, fast, and good enough for filler bytes and picks.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let b = self.next().to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
    }
}

impl Spec {
    /// Checks the numbers and makes the objects.
    pub fn generate(&self) -> Result<Objects, String> {
        let eicar = bench_corpus::eicar();
        let count = self.count.unwrap_or_else(|| default_count(self.size));
        if self.size == 0 || count == 0 {
            return Err("--size and --count must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.eicar_share) {
            return Err(format!(
                "--eicar-share {} is not between 0 and 1",
                self.eicar_share
            ));
        }
        if self.eicar_share > 0.0 && self.size < eicar.len() as u64 {
            return Err(format!(
                "--size {} is smaller than the EICAR string ({} bytes)",
                self.size,
                eicar.len()
            ));
        }
        let total = self.size.saturating_mul(count as u64);
        if total > MAX_TOTAL {
            return Err(format!(
                "{count} objects of {} bytes: over {} GiB in memory",
                self.size,
                MAX_TOTAL >> 30
            ));
        }
        let size = self.size as usize;
        let mut rng = SplitMix64(self.seed);
        // Which objects carry EICAR: exactly round(count x share) of them, spread by a
        // seeded shuffle so that round-robin clients meet them evenly.
        let infected = ((count as f64 * self.eicar_share).round() as usize).min(count);
        let mut order: Vec<usize> = (0..count).collect();
        for i in (1..count).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let mut carries = vec![false; count];
        for &i in order.iter().take(infected) {
            carries[i] = true;
        }
        let mut objects = Vec::with_capacity(count);
        for (i, &with_eicar) in carries.iter().enumerate() {
            let mut data = vec![0u8; size];
            rng.fill(&mut data);
            let (name, expect) = if with_eicar {
                let at = rng.below((size - eicar.len()) as u64 + 1) as usize;
                data[at..at + eicar.len()].copy_from_slice(&eicar);
                (
                    format!("synthetic-{i:04}-eicar@{at}"),
                    Expect::Found(vec![]),
                )
            } else {
                (format!("synthetic-{i:04}"), Expect::Clean)
            };
            objects.push(Object { name, data, expect });
        }
        Ok(Objects {
            dir: PathBuf::from(self.describe_with(count)),
            objects,
            bytes: total,
            expect_source: format!(
                "synthetic: {infected} with EICAR at a random offset (FOUND, any name), the rest OK"
            ),
            needs_first_pass: false,
        })
    }

    /// `synthetic:size=4096,count=1000,eicar-share=0.1,seed=1`, the source in reports.
    fn describe_with(&self, count: usize) -> String {
        format!(
            "synthetic:size={},count={count},eicar-share={},seed={}",
            self.size, self.eicar_share, self.seed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(size: u64, share: f64, count: Option<usize>) -> Spec {
        Spec {
            size,
            eicar_share: share,
            count,
            seed: 7,
        }
    }

    #[test]
    fn counts() {
        assert_eq!(default_count(4096), 1000);
        assert_eq!(default_count(1 << 20), 40);
        assert_eq!(default_count(64 << 20), 20);
        assert_eq!(default_count(1), 1000);
    }

    #[test]
    fn share_placement_and_determinism() {
        let a = spec(4096, 0.1, Some(50)).generate().unwrap();
        let b = spec(4096, 0.1, Some(50)).generate().unwrap();
        assert_eq!(a.objects.len(), 50);
        assert_eq!(a.bytes, 50 * 4096);
        let eicar = bench_corpus::eicar();
        let mut found = 0;
        for (x, y) in a.objects.iter().zip(&b.objects) {
            assert_eq!(x.data, y.data);
            assert_eq!(x.data.len(), 4096);
            let has = x.data.windows(eicar.len()).any(|w| w == eicar.as_slice());
            assert_eq!(has, x.expect == Expect::Found(vec![]), "{}", x.name);
            found += usize::from(has);
        }
        assert_eq!(found, 5);
        assert_eq!(a.info().expect_found, 5);
        // Offsets differ; objects differ.
        let offsets: std::collections::BTreeSet<_> = a
            .objects
            .iter()
            .filter_map(|o| o.name.split_once('@').map(|(_, at)| at.to_string()))
            .collect();
        assert!(offsets.len() > 1);
        assert_ne!(a.objects[0].data, a.objects[1].data);
        let c = Spec {
            seed: 8,
            ..spec(4096, 0.1, Some(50))
        }
        .generate()
        .unwrap();
        assert_ne!(a.objects[0].data, c.objects[0].data);
    }

    #[test]
    fn edges() {
        // The string exactly fills the object.
        let o = spec(68, 1.0, Some(3)).generate().unwrap();
        assert!(o.objects.iter().all(|o| o.data == bench_corpus::eicar()));
        assert_eq!(spec(5, 0.0, Some(2)).generate().unwrap().objects.len(), 2);
        assert!(spec(67, 0.1, Some(10)).generate().is_err());
        assert!(spec(4096, 1.5, None).generate().is_err());
        assert!(spec(0, 0.0, None).generate().is_err());
        assert!(spec(1 << 30, 0.0, Some(10)).generate().is_err());
    }
}
