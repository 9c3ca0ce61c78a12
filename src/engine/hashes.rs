//! Hash signatures and allow lists, keyed by object size.
//!
//! Each digest kind has one sorted vector of `(size, digest, id)`. A scan first asks
//! whether any entry has the object's size (or `*`); only then is the digest computed
//! (the expensive part) and looked up by binary search. Sorted vectors rather than hash
//! maps: 1M MD5 entries take 32 MB this way, and building is one sort.

use md5::Digest;

use super::sig::{HashKind, HashSig};

/// Size used in the index for `*` (any size) entries.
const ANY_SIZE: u64 = u64::MAX;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry<const N: usize> {
    size: u64,
    digest: [u8; N],
    id: u32,
}

struct Table<const N: usize> {
    entries: Vec<Entry<N>>,
    has_any_size: bool,
}

impl<const N: usize> Default for Table<N> {
    fn default() -> Self {
        Table {
            entries: Vec::new(),
            has_any_size: false,
        }
    }
}

impl<const N: usize> Table<N> {
    fn push(&mut self, sig: &HashSig, id: u32) {
        let mut digest = [0u8; N];
        digest.copy_from_slice(&sig.digest[..N]);
        let size = sig.size.unwrap_or(ANY_SIZE);
        self.has_any_size |= size == ANY_SIZE;
        self.entries.push(Entry { size, digest, id });
    }

    fn finish(&mut self) {
        self.entries.sort_unstable();
        self.entries
            .dedup_by(|a, b| a.size == b.size && a.digest == b.digest);
        self.entries.shrink_to_fit();
    }

    fn wants(&self, size: u64) -> bool {
        self.has_any_size || self.find_size(size).is_some()
    }

    fn find_size(&self, size: u64) -> Option<usize> {
        let i = self.entries.partition_point(|e| e.size < size);
        (self.entries.get(i)?.size == size).then_some(i)
    }

    fn lookup(&self, size: u64, digest: &[u8]) -> Option<u32> {
        for s in [size, ANY_SIZE] {
            let Some(i) = self.find_size(s) else { continue };
            let run = &self.entries[i..];
            let end = run.partition_point(|e| e.size == s);
            let run = &run[..end];
            if let Ok(j) = run.binary_search_by(|e| e.digest.as_slice().cmp(digest)) {
                return Some(run[j].id);
            }
        }
        None
    }
}

/// Hash signatures of every kind.
#[derive(Default)]
pub struct HashIndex {
    md5: Table<16>,
    sha1: Table<20>,
    sha256: Table<32>,
}

/// Digests of one object, computed at most once each.
#[derive(Default)]
pub struct Digests {
    md5: Option<[u8; 16]>,
    sha1: Option<[u8; 20]>,
    sha256: Option<[u8; 32]>,
}

impl Digests {
    /// Forgets the previous object's digests.
    pub fn clear(&mut self) {
        *self = Digests::default();
    }

    fn get(&mut self, kind: HashKind, data: &[u8]) -> &[u8] {
        match kind {
            HashKind::Md5 => self
                .md5
                .get_or_insert_with(|| md5::Md5::digest(data).into()),
            HashKind::Sha1 => self
                .sha1
                .get_or_insert_with(|| sha1::Sha1::digest(data).into()),
            HashKind::Sha256 => self
                .sha256
                .get_or_insert_with(|| sha2::Sha256::digest(data).into()),
        }
    }
}

impl HashIndex {
    /// Adds a signature under `id`.
    pub fn push(&mut self, sig: &HashSig, id: u32) {
        match sig.kind {
            HashKind::Md5 => self.md5.push(sig, id),
            HashKind::Sha1 => self.sha1.push(sig, id),
            HashKind::Sha256 => self.sha256.push(sig, id),
        }
    }

    /// Sorts; call once after the last `push`.
    pub fn finish(&mut self) {
        self.md5.finish();
        self.sha1.finish();
        self.sha256.finish();
    }

    /// Number of distinct entries.
    pub fn len(&self) -> usize {
        self.md5.entries.len() + self.sha1.entries.len() + self.sha256.entries.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes.
    pub fn memory(&self) -> usize {
        self.md5.entries.capacity() * std::mem::size_of::<Entry<16>>()
            + self.sha1.entries.capacity() * std::mem::size_of::<Entry<20>>()
            + self.sha256.entries.capacity() * std::mem::size_of::<Entry<32>>()
    }

    /// The id of a signature matching `data`, computing only the digests some entry of
    /// this size needs.
    pub fn lookup(&self, data: &[u8], digests: &mut Digests) -> Option<u32> {
        let mut found = None;
        self.lookup_each(data, digests, &mut |id| {
            found = Some(id);
            false
        });
        found
    }

    /// Calls `each` with every matching signature (at most one per digest kind) until it
    /// returns `false`.
    pub fn lookup_each(
        &self,
        data: &[u8],
        digests: &mut Digests,
        each: &mut dyn FnMut(u32) -> bool,
    ) {
        let size = data.len() as u64;
        if self.md5.wants(size) {
            if let Some(id) = self.md5.lookup(size, digests.get(HashKind::Md5, data)) {
                if !each(id) {
                    return;
                }
            }
        }
        if self.sha1.wants(size) {
            if let Some(id) = self.sha1.lookup(size, digests.get(HashKind::Sha1, data)) {
                if !each(id) {
                    return;
                }
            }
        }
        if self.sha256.wants(size) {
            if let Some(id) = self
                .sha256
                .lookup(size, digests.get(HashKind::Sha256, data))
            {
                each(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sig::{hash::parse_line, Parsed};

    fn index(lines: &[&str]) -> HashIndex {
        let mut idx = HashIndex::default();
        for (i, l) in lines.iter().enumerate() {
            let Ok(Parsed::Sig(s)) = parse_line(l) else {
                panic!("{l}")
            };
            idx.push(&s, i as u32);
        }
        idx.finish();
        idx
    }

    #[test]
    fn size_gates_digest() {
        let data = b"hello world";
        let md5 = format!("{:x}", md5::Md5::digest(data));
        let sha256 = format!("{:x}", sha2::Sha256::digest(data));
        let idx = index(&[&format!("{md5}:11:A"), &format!("{sha256}:*:B:73")]);
        let mut d = Digests::default();
        assert_eq!(idx.lookup(data, &mut d), Some(0));
        let idx = index(&[&format!("{md5}:12:A")]);
        d.clear();
        assert_eq!(idx.lookup(data, &mut d), None);
        assert!(
            d.md5.is_none(),
            "no digest computed when no entry has this size"
        );
        let idx = index(&[&format!("{sha256}:*:B:73")]);
        d.clear();
        assert_eq!(idx.lookup(data, &mut d), Some(0));
    }
}
