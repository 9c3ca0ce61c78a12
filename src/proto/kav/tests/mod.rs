//! The KAV codec's tests, one file per module.

mod auth;
mod inplace;
mod multipart;
mod plain;
mod request;
mod response;
mod route;
mod stats;

/// A tiny deterministic generator (xorshift64) for the property tests.
pub(super) struct XorShift(pub u64);

impl XorShift {
    /// The next value.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
