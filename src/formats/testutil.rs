//! Test helpers shared by the format modules' tests.

use super::unpack::{Budget, Next, Skip, Unpacker};
use super::Blob;

/// Pulls every result from an unpacker (not `Pending`, not `End`); panics when it
/// does not finish within a million calls.
pub(crate) fn drain<'a>(mut u: Box<dyn Unpacker<'a> + 'a>, budget: &Budget) -> Vec<Next<'a>> {
    drain_mut(&mut *u, budget)
}

/// [`drain`], keeping the unpacker (to ask [`Unpacker::has_macros`] after).
pub(crate) fn drain_mut<'a>(u: &mut (dyn Unpacker<'a> + 'a), budget: &Budget) -> Vec<Next<'a>> {
    let mut out = Vec::new();
    for _ in 0..1_000_000 {
        match u.next(budget) {
            Next::Pending => continue,
            Next::End => return out,
            n => out.push(n),
        }
    }
    panic!("the unpacker did not finish");
}

/// The extracted objects among `got`: name, bytes and damage.
pub(crate) fn objects(got: &[Next<'_>]) -> Vec<(String, Vec<u8>, Option<Skip>)> {
    got.iter()
        .filter_map(|n| match n {
            Next::Object(c) => Some((c.name.clone(), c.data.to_vec(), c.damaged)),
            _ => None,
        })
        .collect()
}

/// A deterministic xorshift64 generator (no dependency).
pub(crate) fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Feeds every prefix of `valid` and `flips` seeded random byte changes of it to
/// `open`, draining each: none may panic or fail to finish.
pub(crate) fn fuzz(
    valid: &[u8],
    flips: usize,
    open: impl for<'a> Fn(Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip>,
) {
    fuzz_with(valid, flips, open, |rand| rand() as u8);
}

/// [`fuzz`], with the replacement bytes drawn by `byte` (to keep flips inside an
/// alphabet, for text encodings).
pub(crate) fn fuzz_with(
    valid: &[u8],
    flips: usize,
    open: impl for<'a> Fn(Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip>,
    mut byte: impl FnMut(&mut dyn FnMut() -> u64) -> u8,
) {
    let budget = Budget::default();
    for cut in 0..=valid.len() {
        if let Ok(u) = open(Blob::borrowed(&valid[..cut])) {
            drain(u, &budget);
        }
    }
    if valid.is_empty() {
        return;
    }
    let mut rand = xorshift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..flips {
        let mut bad = valid.to_vec();
        for _ in 0..1 + rand() % 4 {
            let i = (rand() % bad.len() as u64) as usize;
            bad[i] = byte(&mut rand);
        }
        if let Ok(u) = open(Blob::owned(bad)) {
            drain(u, &budget);
        }
    }
}
