//! Signature names in one arena: a million hash signatures must not mean a million
//! small allocations.

/// Index of a signature name; every signature of every kind has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SigId(pub u32);

/// All names, concatenated.
#[derive(Default)]
pub struct NameTable {
    text: String,
    ends: Vec<u32>,
}

impl NameTable {
    /// Appends a name (with `suffix`, e.g. `.UNOFFICIAL`) and returns its id.
    pub fn push(&mut self, name: &str, suffix: &str) -> SigId {
        self.text.push_str(name);
        self.text.push_str(suffix);
        self.ends.push(self.text.len() as u32);
        SigId(self.ends.len() as u32 - 1)
    }

    /// The name of `id`.
    pub fn get(&self, id: SigId) -> &str {
        let i = id.0 as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// Heap bytes.
    pub fn memory(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * 4
    }

    /// Releases spare capacity after loading.
    pub fn shrink(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}
