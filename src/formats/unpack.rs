//! The unpacker interface every container format implements, and the shared
//! bounded, chunked decoder the compressed formats use.
//!
//! An unpacker is *pulled*: [`Unpacker::next`] returns one sub-object, or says it did
//! a slice of work ([`Next::Pending`]) and wants to be called again. The scan driver
//! (`engine/deep.rs`) yields the core between calls, and no unpacker needs to be
//! async. How long one call holds the core depends on the format. Members returned
//! as slices (tar, cpio, zip Stored) cost little; those decoded through a
//! [`Decoding`] kept across calls (gzip/bzip2/xz/zstd, zip Deflate/bzip2/zstd/xz, PDF
//! Flate streams) stop after `budget.chunk` bytes. The others decode a whole member
//! in one call (zip Deflate64/LZMA/PPMd, cab, rar, mail parts, binhex, OLE2 streams
//! and VBA modules, RTF objects, PDF ASCIIHex/ASCII85 streams; 7z a solid block, up
//! to `max_object`): such a call holds the core for one member, whose output is
//! bounded by `budget.max_object`, so one large archive can hold a core for as long
//! as decoding `max_object` bytes takes. Unpackers own their state
//! (clones of the parent's [`Blob`], decoders that own their readers), so the driver
//! can keep a stack of them across those yields.

use std::io::Read;

use super::blob::Blob;

/// Why a sub-object (or a container's remaining contents) was not scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Skip {
    /// Encrypted: needs a password.
    PasswordProtected,
    /// Damaged or truncated beyond reading.
    Corrupted,
    /// Larger than `max_file_size`, or than what is left of `max_scan_size`.
    TooLarge,
    /// Expands beyond the compression-ratio guard (a decompression bomb).
    RatioExceeded,
    /// More sub-objects than `max_files`.
    TooManyFiles,
    /// Nested deeper than `max_recursion`.
    MaxDepth,
    /// The per-object deadline passed.
    Timeout,
    /// A format listed in `formats.skip`, or a method no decoder here supports.
    Unsupported,
}

impl Skip {
    /// A short description for logs and the CLI's verbose listing.
    pub fn describe(self) -> &'static str {
        match self {
            Skip::PasswordProtected => "password protected",
            Skip::Corrupted => "corrupted",
            Skip::TooLarge => "over the size limit",
            Skip::RatioExceeded => "over the compression-ratio limit",
            Skip::TooManyFiles => "over the file-count limit",
            Skip::MaxDepth => "max depth exceeded",
            Skip::Timeout => "scan time limit reached",
            Skip::Unsupported => "skipped",
        }
    }
}

/// One extracted sub-object.
#[derive(Debug)]
pub struct Child<'a> {
    /// Its name inside the container (`folder/eicar`); joined to the parent's path
    /// with `//`.
    pub name: String,
    /// Its bytes.
    pub data: Blob<'a>,
    /// Set when only part of it could be extracted (a truncated stream): the part is
    /// scanned, and the object is reported with this reason unless something is found.
    pub damaged: Option<Skip>,
}

impl<'a> Child<'a> {
    /// A whole sub-object.
    pub fn new(name: impl Into<String>, data: Blob<'a>) -> Self {
        Child {
            name: name.into(),
            data,
            damaged: None,
        }
    }
}

/// What one call of [`Unpacker::next`] produced.
#[derive(Debug)]
pub enum Next<'a> {
    /// A sub-object to scan.
    Object(Child<'a>),
    /// A sub-object that could not be extracted; it is reported as not scanned.
    Skipped {
        /// Its name inside the container.
        name: String,
        /// Why.
        reason: Skip,
    },
    /// A slice of work was done (a chunk decoded); call again.
    Pending,
    /// The rest of the container cannot be read (damaged); what was extracted so far
    /// stands, and the container is reported with this reason.
    Broken(Skip),
    /// No more sub-objects.
    End,
}

/// The limits an unpacker works within, set by the driver before each call.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Largest sub-object to extract: `max_file_size`, or what is left of
    /// `max_scan_size` if less. Larger ones are [`Skip::TooLarge`].
    pub max_object: u64,
    /// Largest decoded/encoded size ratio accepted for an object larger than
    /// [`RATIO_FLOOR`]; 0 = no guard.
    pub max_ratio: u64,
    /// Bytes to decode per call before returning [`Next::Pending`].
    pub chunk: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_object: 100 << 20,
            max_ratio: 0,
            chunk: DECODE_CHUNK,
        }
    }
}

/// Decoded bytes per step: large enough that the per-step overhead vanishes, small
/// enough that a step takes well under a millisecond (inflate runs at 300 MB/s to
/// 1 GB/s); measured in `perf/containers.sh`, 1 MiB steps kept small requests on
/// the same core waiting several milliseconds.
pub const DECODE_CHUNK: usize = 256 << 10;

/// Below this decoded size the ratio guard does not apply: small objects of zeros or
/// repeated text compress far beyond any sane ratio and are harmless.
pub const RATIO_FLOOR: u64 = 1 << 20;

/// A container format's reader.
pub trait Unpacker<'a> {
    /// The next sub-object, or a slice of work towards it.
    fn next(&mut self, budget: &Budget) -> Next<'a>;

    /// Whether the container holds an Office macro project (VBA), reported as
    /// `containsOfficeMacro`. Asked after the last [`Unpacker::next`].
    fn has_macros(&self) -> bool {
        false
    }
}

/// A compressed stream being decoded into an owned object, a chunk per step, within
/// the size limit and the ratio guard.
pub struct Decoding<R> {
    reader: R,
    out: Vec<u8>,
    /// Encoded size, for the ratio guard.
    packed: u64,
}

/// What one [`Decoding::step`] produced.
#[derive(Debug)]
pub enum Decoded {
    /// The whole object.
    Done(Vec<u8>),
    /// Not finished; step again.
    More,
    /// The stream broke off: the bytes decoded so far.
    Truncated(Vec<u8>),
    /// Refused by a limit.
    Refused(Skip),
}

impl<R: Read> Decoding<R> {
    /// Decodes `reader`, whose encoded size is `packed` bytes.
    pub fn new(reader: R, packed: u64) -> Self {
        Decoding {
            reader,
            out: Vec::new(),
            packed,
        }
    }

    /// Bytes decoded so far (what [`Decoding::step`] has produced and not yet
    /// handed back).
    pub fn produced(&self) -> u64 {
        self.out.len() as u64
    }

    /// Decodes up to `budget.chunk` more bytes.
    pub fn step(&mut self, budget: &Budget) -> Decoded {
        let goal = self.out.len() + budget.chunk.max(1);
        let mut interrupts = 0u32;
        while self.out.len() < goal {
            // Read in pieces into spare capacity; grow by doubling (bounded below by
            // the limit check), so a large object reallocates a few times only.
            if self.out.capacity() - self.out.len() < 64 << 10 {
                let want = (self.out.capacity()).clamp(64 << 10, 16 << 20);
                if self.out.try_reserve(want).is_err() {
                    return Decoded::Refused(Skip::TooLarge);
                }
            }
            let len = self.out.len();
            let room = (self.out.capacity() - len).min(goal - len);
            self.out.resize(len + room, 0);
            let got = match self.reader.read(&mut self.out[len..]) {
                Ok(n) => n,
                // Nothing read, and not the end: try again (a bounded number of
                // times, so a reader that only ever interrupts cannot spin forever).
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted && interrupts < 64 => {
                    interrupts += 1;
                    self.out.truncate(len);
                    continue;
                }
                Err(_) => {
                    self.out.truncate(len);
                    return Decoded::Truncated(std::mem::take(&mut self.out));
                }
            };
            self.out.truncate(len + got);
            if self.out.len() as u64 > budget.max_object {
                return Decoded::Refused(Skip::TooLarge);
            }
            if budget.max_ratio > 0
                && self.out.len() as u64 > RATIO_FLOOR
                && self.out.len() as u64 / self.packed.max(1) > budget.max_ratio
            {
                return Decoded::Refused(Skip::RatioExceeded);
            }
            if got == 0 && room > 0 {
                return Decoded::Done(std::mem::take(&mut self.out));
            }
        }
        Decoded::More
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn run(packed: &[u8], budget: Budget) -> (Decoded, usize) {
        let mut d = Decoding::new(flate2::read::GzDecoder::new(packed), packed.len() as u64);
        let mut steps = 0;
        loop {
            steps += 1;
            match d.step(&budget) {
                Decoded::More => continue,
                other => return (other, steps),
            }
        }
    }

    #[test]
    fn decodes_in_chunks() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let budget = Budget {
            max_object: 10 << 20,
            max_ratio: 0,
            chunk: 1 << 20,
        };
        let (out, steps) = run(&gz(&data), budget);
        assert!(matches!(out, Decoded::Done(ref v) if *v == data));
        assert!(steps >= 3, "a chunk per step, {steps} steps");
    }

    /// Returns `Interrupted` before every other read.
    struct Flaky<R> {
        inner: R,
        flip: bool,
    }

    impl<R: Read> Read for Flaky<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.flip = !self.flip;
            if self.flip {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            self.inner.read(buf)
        }
    }

    #[test]
    fn interrupted_reads_are_retried() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let reader = Flaky {
            inner: &data[..],
            flip: false,
        };
        let mut d = Decoding::new(reader, data.len() as u64);
        let budget = Budget {
            chunk: 100_000,
            ..Budget::default()
        };
        assert!(matches!(d.step(&budget), Decoded::More));
        assert_eq!(d.produced(), 100_000);
        loop {
            match d.step(&budget) {
                Decoded::More => continue,
                Decoded::Done(out) => break assert_eq!(out, data),
                other => panic!("{other:?}"),
            }
        }
        // A reader that only interrupts ends as truncated, not in a spin.
        struct Always;
        impl Read for Always {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::Interrupted.into())
            }
        }
        let mut d = Decoding::new(Always, 1);
        assert!(matches!(d.step(&budget), Decoded::Truncated(ref v) if v.is_empty()));
    }

    #[test]
    fn limits_refuse_and_truncation_keeps_the_prefix() {
        let zeros = vec![0u8; 8 << 20];
        let packed = gz(&zeros);
        let small = Budget {
            max_object: 1 << 20,
            ..Budget::default()
        };
        assert!(matches!(
            run(&packed, small).0,
            Decoded::Refused(Skip::TooLarge)
        ));
        let ratio = Budget {
            max_ratio: 100,
            ..Budget::default()
        };
        assert!(matches!(
            run(&packed, ratio).0,
            Decoded::Refused(Skip::RatioExceeded)
        ));
        let text = b"some text that is long enough to matter ".repeat(1000);
        let packed = gz(&text);
        let cut = &packed[..packed.len() / 2];
        match run(cut, Budget::default()).0 {
            Decoded::Truncated(prefix) => assert!(text.starts_with(&prefix)),
            other => panic!("{other:?}"),
        }
    }
}
