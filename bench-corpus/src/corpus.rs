//! Mixed file corpus: random bytes, English-like text and zip archives, with
//! planted signature instances and EICAR files as ground truth.
//!
//! What it models and why:
//! - **Sizes** are log-uniform between `min_size` and `max_size`, like the
//!   heavy-tailed size mix of mail attachments and web downloads: many small
//!   files (per-file overhead dominates) and a few big ones (throughput
//!   dominates).
//! - **Kinds**: random bytes (compressed/encrypted payloads, the best case
//!   for a literal prefilter), English-like text (skewed byte distribution,
//!   more prefilter candidates) and zip archives mixing stored and deflated
//!   text/random members (the container path: the scanner must unpack to
//!   see member content).
//! - **Plants**: a share of files gets one plant group from
//!   [`crate::sigs::Plant`] (all lines of one signature) at the offset it
//!   requires, so each planted file has exactly one expected detection.
//!   Plants go into random/text files; with `plant_in_zip` a share of them
//!   goes inside a zip member instead (offsets then count from the member
//!   start).
//! - **EICAR** files are exactly the 68-byte test string, since ClamAV's
//!   EICAR hash signature only matches the exact file.
//!
//! File `i`'s content comes from its own ChaCha stream, and the plan (size,
//! kind, plant) from a separate one, so output is byte-identical for a seed
//! whatever the consumer does with earlier files.

use std::io::{self, Cursor, Seek, SeekFrom, Write};
use std::path::Path;

use rand::seq::SliceRandom;
use rand::Rng;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::sigs::{Plant, PlantOffset};
use crate::text::{english_like_into, random_bytes};
use crate::{eicar, rng_for, EICAR_NAME};

const STREAM_PLAN: u64 = 0;
const STREAM_PLANT_ORDER: u64 = 1;
const STREAM_FILE_BASE: u64 = 1 << 32;

/// Knobs for [`corpus`] / [`generate`].
#[derive(Clone, Debug)]
pub struct CorpusConfig {
    pub seed: u64,
    /// Stop after this many files (`None`: no file limit).
    pub files: Option<usize>,
    /// Stop once this many bytes were produced (`None`: no byte limit).
    /// With neither limit set, 2000 files are generated.
    pub total_bytes: Option<u64>,
    pub min_size: u64,
    pub max_size: u64,
    /// Share of (non-EICAR) files that are text; `zip_share` zip; the rest
    /// random bytes.
    pub text_share: f64,
    pub zip_share: f64,
    /// Share of files that carry one plant group (if plants are given).
    pub plant_share: f64,
    /// Share of files that are the 68-byte EICAR file.
    pub eicar_share: f64,
    /// Let planted files be zip archives (plant inside a member).
    pub plant_in_zip: bool,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        CorpusConfig {
            seed: 1,
            files: Some(2000),
            total_bytes: None,
            min_size: 1024,
            max_size: 4 << 20,
            text_share: 0.4,
            zip_share: 0.2,
            plant_share: 0.02,
            eicar_share: 0.01,
            plant_in_zip: false,
        }
    }
}

/// What a corpus file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    Random,
    Text,
    Zip,
    Eicar,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Random => "random",
            FileKind::Text => "text",
            FileKind::Zip => "zip",
            FileKind::Eicar => "eicar",
        }
    }

    fn ext(self) -> &'static str {
        match self {
            FileKind::Random => "bin",
            FileKind::Text => "txt",
            FileKind::Zip => "zip",
            FileKind::Eicar => "com",
        }
    }
}

impl std::str::FromStr for FileKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "random" => FileKind::Random,
            "text" => FileKind::Text,
            "zip" => FileKind::Zip,
            "eicar" => FileKind::Eicar,
            _ => return Err(format!("unknown file kind {s:?}")),
        })
    }
}

/// One `manifest.tsv` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    /// File name relative to the corpus dir.
    pub file: String,
    pub size: u64,
    pub kind: FileKind,
    /// Name of the planted signature, or [`EICAR_NAME`] for EICAR files.
    pub planted: Option<String>,
}

/// The corpus manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
}

/// Header line of `manifest.tsv`.
pub const MANIFEST_HEADER: &str = "#file\tsize\tkind\tplanted";

impl Manifest {
    pub fn total_bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    /// `manifest.tsv` text: [`MANIFEST_HEADER`], then
    /// `file\tsize\tkind\tplanted-name-or-empty` lines.
    pub fn to_tsv(&self) -> String {
        let mut s = String::with_capacity(self.entries.len() * 40 + 40);
        s.push_str(MANIFEST_HEADER);
        s.push('\n');
        for e in &self.entries {
            s.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                e.file,
                e.size,
                e.kind.as_str(),
                e.planted.as_deref().unwrap_or("")
            ));
        }
        s
    }

    /// Parse `manifest.tsv` text (`#` lines skipped).
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut entries = Vec::new();
        for (no, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 4 {
                return Err(format!("manifest line {}: expected 4 fields", no + 1));
            }
            entries.push(ManifestEntry {
                file: f[0].to_string(),
                size: f[1]
                    .parse()
                    .map_err(|e| format!("manifest line {}: {e}", no + 1))?,
                kind: f[2].parse()?,
                planted: (!f[3].is_empty()).then(|| f[3].to_string()),
            });
        }
        Ok(Manifest { entries })
    }

    /// Read `DIR/manifest.tsv`.
    pub fn read(dir: &Path) -> io::Result<Manifest> {
        let text = std::fs::read_to_string(dir.join("manifest.tsv"))?;
        Manifest::parse(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// One generated file, in memory.
#[derive(Clone, Debug)]
pub struct GeneratedFile {
    pub entry: ManifestEntry,
    pub data: Vec<u8>,
}

/// All plant lines of one signature.
#[derive(Clone, Debug)]
struct PlantGroup<'a> {
    name: &'a str,
    items: Vec<&'a Plant>,
}

impl PlantGroup<'_> {
    /// Smallest buffer that can hold the group.
    fn min_len(&self) -> u64 {
        let mut anywhere = 0u64;
        let mut fixed = 0u64;
        for p in &self.items {
            let l = p.bytes.len() as u64;
            match p.offset {
                PlantOffset::Anywhere => anywhere += l,
                PlantOffset::Absolute(n) => fixed = fixed.max(n + l),
                PlantOffset::FromEof(n) => fixed = fixed.max(n.max(l)),
            }
        }
        fixed.max(anywhere)
    }

    /// Overwrite parts of `buf` with the group's strings. `Anywhere` items
    /// go in order at random non-overlapping positions.
    fn apply<R: Rng>(&self, rng: &mut R, buf: &mut [u8]) {
        let len = buf.len() as u64;
        let anywhere: Vec<&Plant> = self
            .items
            .iter()
            .copied()
            .filter(|p| p.offset == PlantOffset::Anywhere)
            .collect();
        let need: u64 = anywhere.iter().map(|p| p.bytes.len() as u64).sum();
        let free = len.saturating_sub(need);
        let mut cuts: Vec<u64> = (0..anywhere.len())
            .map(|_| rng.gen_range(0..=free))
            .collect();
        cuts.sort_unstable();
        let mut used = 0u64;
        for (p, cut) in anywhere.iter().zip(cuts) {
            let at = (cut + used) as usize;
            buf[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
            used += p.bytes.len() as u64;
        }
        for p in &self.items {
            let at = match p.offset {
                PlantOffset::Anywhere => continue,
                PlantOffset::Absolute(n) => n,
                PlantOffset::FromEof(n) => len - n,
            } as usize;
            buf[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
        }
    }
}

fn group_plants(plants: &[Plant]) -> Vec<PlantGroup<'_>> {
    let mut groups: Vec<PlantGroup<'_>> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for p in plants {
        let gi = *index.entry(p.name.as_str()).or_insert_with(|| {
            groups.push(PlantGroup {
                name: &p.name,
                items: Vec::new(),
            });
            groups.len() - 1
        });
        groups[gi].items.push(p);
    }
    groups
}

/// Iterator over generated files; see [`generate`].
pub struct CorpusIter<'a> {
    cfg: CorpusConfig,
    groups: Vec<PlantGroup<'a>>,
    order: Vec<usize>,
    plan: rand_chacha::ChaCha8Rng,
    index: usize,
    planted: usize,
    bytes: u64,
    lo: f64,
    hi: f64,
}

/// Generate the corpus in memory, file by file (nothing is written).
pub fn generate<'a>(cfg: &CorpusConfig, plants: &'a [Plant]) -> CorpusIter<'a> {
    let mut cfg = cfg.clone();
    cfg.min_size = cfg.min_size.max(1);
    cfg.max_size = cfg.max_size.max(cfg.min_size);
    if cfg.files.is_none() && cfg.total_bytes.is_none() {
        cfg.files = Some(2000);
    }
    let groups = group_plants(plants);
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.shuffle(&mut rng_for(cfg.seed, STREAM_PLANT_ORDER));
    CorpusIter {
        lo: (cfg.min_size as f64).ln(),
        hi: (cfg.max_size as f64).ln(),
        plan: rng_for(cfg.seed, STREAM_PLAN),
        cfg,
        groups,
        order,
        index: 0,
        planted: 0,
        bytes: 0,
    }
}

impl Iterator for CorpusIter<'_> {
    type Item = GeneratedFile;

    fn next(&mut self) -> Option<GeneratedFile> {
        if self.cfg.files.is_some_and(|n| self.index >= n)
            || self.cfg.total_bytes.is_some_and(|n| self.bytes >= n)
        {
            return None;
        }
        let i = self.index;
        self.index += 1;
        let cfg = &self.cfg;
        // Plan: a fixed number of draws per file.
        let size = crate::sigs::log_uniform(&mut self.plan, self.lo, self.hi);
        let special: f64 = self.plan.gen();
        let kind_draw: f64 = self.plan.gen();
        let mut rng = rng_for(cfg.seed, STREAM_FILE_BASE + i as u64);

        let eicar_share = cfg.eicar_share.clamp(0.0, 1.0);
        let (kind, group, data) = if special < eicar_share {
            (FileKind::Eicar, None, eicar())
        } else {
            let planted = !self.groups.is_empty() && special < eicar_share + cfg.plant_share;
            let group = planted.then(|| {
                let g = &self.groups[self.order[self.planted % self.order.len()]];
                self.planted += 1;
                g
            });
            let text = cfg.text_share.clamp(0.0, 1.0);
            let zip = cfg.zip_share.clamp(0.0, 1.0);
            let mut kind = if kind_draw < text {
                FileKind::Text
            } else if kind_draw < text + zip {
                FileKind::Zip
            } else {
                FileKind::Random
            };
            if kind == FileKind::Zip && group.is_some() && !cfg.plant_in_zip {
                // Keep the text/random ratio among planted files.
                let u = (kind_draw - text) / zip.max(1e-9);
                kind = if u < text / (1.0 - zip).max(1e-9) {
                    FileKind::Text
                } else {
                    FileKind::Random
                };
            }
            let data = match kind {
                FileKind::Zip => build_zip(&mut rng, size, cfg.min_size, cfg.max_size, group),
                _ => {
                    let size = size.max(group.map_or(0, |g| g.min_len())) as usize;
                    let mut data = if kind == FileKind::Text {
                        let mut v = Vec::new();
                        english_like_into(&mut rng, size, &mut v);
                        v
                    } else {
                        random_bytes(&mut rng, size)
                    };
                    if let Some(g) = group {
                        g.apply(&mut rng, &mut data);
                    }
                    data
                }
            };
            (kind, group, data)
        };
        let planted = match kind {
            FileKind::Eicar => Some(EICAR_NAME.to_string()),
            _ => group.map(|g| g.name.to_string()),
        };
        self.bytes += data.len() as u64;
        Some(GeneratedFile {
            entry: ManifestEntry {
                file: format!("{i:06}.{}", kind.ext()),
                size: data.len() as u64,
                kind,
                planted,
            },
            data,
        })
    }
}

/// Generate the corpus into `dir` (created if missing): one file per entry
/// plus `manifest.tsv`. Returns the manifest.
pub fn corpus(cfg: &CorpusConfig, plants: &[Plant], dir: &Path) -> io::Result<Manifest> {
    std::fs::create_dir_all(dir)?;
    let mut manifest = Manifest::default();
    for f in generate(cfg, plants) {
        std::fs::write(dir.join(&f.entry.file), &f.data)?;
        manifest.entries.push(f.entry);
    }
    std::fs::write(dir.join("manifest.tsv"), manifest.to_tsv())?;
    Ok(manifest)
}

/// `Cursor<Vec<u8>>` whose length the caller can read while a `ZipWriter`
/// owns it.
struct Tracked {
    inner: Cursor<Vec<u8>>,
    len: std::rc::Rc<std::cell::Cell<u64>>,
}

impl Write for Tracked {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.len.set(self.inner.get_ref().len() as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Tracked {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Per-member room reserved for its central-directory entry (46 + name).
const CD_ENTRY: u64 = 46 + 16;
const MAX_MEMBERS: usize = 64;

/// A zip of roughly `size` bytes (kept within `[min, max]` when the range
/// allows it) mixing stored/deflated text/random members. With a plant
/// group, the first member carries it.
fn build_zip<R: Rng>(
    rng: &mut R,
    size: u64,
    min: u64,
    max: u64,
    group: Option<&PlantGroup<'_>>,
) -> Vec<u8> {
    // Stop slack: the loop ends with < STOP bytes of budget unused.
    const STOP: u64 = 512;
    let target = size.max(min + STOP + 256).min(max);
    let len = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let mut w = ZipWriter::new(Tracked {
        inner: Cursor::new(Vec::with_capacity(target as usize + 1024)),
        len: len.clone(),
    });
    let mut members = 0usize;
    let mut content = Vec::new();
    loop {
        let text = rng.gen_bool(0.6);
        let deflate = if text {
            rng.gen_bool(0.8)
        } else {
            rng.gen_bool(0.3)
        };
        let opts = if deflate {
            SimpleFileOptions::default()
                .compression_method(CompressionMethod::Deflated)
                .compression_level(Some(1))
        } else {
            SimpleFileOptions::default().compression_method(CompressionMethod::Stored)
        };
        // Fixed timestamp: deterministic even if another crate in the
        // build turns on zip's `time` feature (which defaults to "now").
        let opts = opts.last_modified_time(zip::DateTime::default());
        let name = format!("member-{members:03}.{}", if text { "txt" } else { "bin" });
        w.start_file(name, opts).expect("zip to memory");
        members += 1;
        // Previous member is finished and the local header of this one is
        // written, so `len` is exact here.
        let reserve = CD_ENTRY * members as u64 + 22 + 64;
        let budget = target.saturating_sub(len.get() + reserve);
        // Deflate can expand random data slightly.
        let budget = budget - budget / 256;
        let last = members >= MAX_MEMBERS || budget < 2 * STOP;
        let mut raw = if last {
            budget
        } else {
            let lo = STOP.min(budget);
            rng.gen_range(lo..=budget)
        };
        if members == 1 {
            if let Some(g) = group {
                raw = raw.max(g.min_len());
            }
        }
        content.clear();
        if text {
            english_like_into(rng, raw as usize, &mut content);
        } else {
            content.resize(raw as usize, 0);
            rng.fill_bytes(&mut content);
        }
        if members == 1 {
            if let Some(g) = group {
                g.apply(rng, &mut content);
            }
        }
        w.write_all(&content).expect("zip to memory");
        if last {
            break;
        }
        // Compressed text leaves budget over; keep adding members until the
        // archive is close to the target.
        let left = target.saturating_sub(len.get() + CD_ENTRY * (members as u64 + 1) + 22 + 64);
        if left < STOP {
            break;
        }
    }
    w.finish().expect("zip to memory").inner.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_sizes_in_bounds_and_readable() {
        let mut rng = rng_for(9, 9);
        for &size in &[1u64, 1024, 5000, 70_000, 1 << 20] {
            let z = build_zip(&mut rng, size, 1024, 1 << 20, None);
            let n = z.len() as u64;
            assert!((1024..=1 << 20).contains(&n), "size {size} -> {n}");
            let mut a = zip::ZipArchive::new(Cursor::new(&z)).unwrap();
            for j in 0..a.len() {
                let mut f = a.by_index(j).unwrap();
                io::copy(&mut f, &mut io::sink()).unwrap();
            }
        }
    }
}
