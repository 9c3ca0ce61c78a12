//! ZIP archives, read with the `zip` crate (central directory, local headers, the
//! rarer methods); the common methods are decoded here, a chunk per step.
//!
//! - The central directory is parsed at open (`ZipArchive`, which owns a reader over
//!   the blob); a damaged one makes the archive [`Skip::Corrupted`]. Whether it holds
//!   an Office macro project (`*vbaProject.bin`, OOXML) is decided there too.
//! - Entries come in central-directory order; directories are skipped.
//! - Stored entries are zero-copy slices of the archive (no CRC check: the bytes are
//!   scanned as they are; a member cut off by the end of the data is `damaged`).
//! - Deflate, bzip2, zstd and xz are decoded from a slice of the archive with the
//!   shared [`Decoding`] (a chunk per [`Unpacker::next`], size limit and ratio guard
//!   against the member's compressed size), the CRC checked at the end.
//! - Deflate64, LZMA and PPMd are decoded by the `zip` crate. Its `ZipFile` borrows the
//!   archive, so it cannot be kept across calls: such a member is decoded whole in one
//!   call, without yielding between chunks, its output still bounded by `max_object`
//!   and the ratio guard. On top of that output comes the decoder's own state: the
//!   LZMA dictionary (bounded by the declared size, itself checked against
//!   `max_object`) and the PPMd model, whose size (1 to 256 MiB) the entry's first two
//!   bytes ask for; it is read before the crate sees the entry, and a model over
//!   [`PPMD_MEMORY`] or `max_object` makes the member [`Skip::TooLarge`].
//! - So the output of a member never exceeds `max_object` plus one chunk; the memory
//!   in use does, by the decoder's state (xz's dictionary is limited to
//!   [`DECODER_MEMORY`], zstd's window to 128 MiB by the library, LZMA and PPMd as
//!   above).
//! - The declared uncompressed size is checked first (over the limit: refused without
//!   decoding) but not trusted: decoding is bounded either way.
//! - Encrypted members (ZipCrypto or AES) are [`Skip::PasswordProtected`]; methods the
//!   crate does not decode (implode, shrink, ...) are [`Skip::Unsupported`].
//! - Limitation: a zip without a readable central directory (truncated) is not
//!   recovered from its local headers; it is [`Skip::Corrupted`].

use std::io::{Cursor, Read};

use zip::{CompressionMethod, ZipArchive};

use super::unpack::{Decoded, Decoding, RATIO_FLOOR};
use super::{Blob, Budget, Child, Next, Skip, Unpacker};

/// Largest dictionary the xz decoder may allocate (zstd keeps its own 128 MiB window
/// limit; the crate's LZMA dictionary is bounded by the declared size, itself checked
/// against `max_object`).
const DECODER_MEMORY: u64 = 256 << 20;

/// Largest PPMd model accepted (a member's header may ask for up to 256 MiB).
const PPMD_MEMORY: u64 = 64 << 20;

/// The model size a PPMd member's parameters (its first two data bytes, little
/// endian: order - 1 in bits 0-3, model size in MiB - 1 in bits 4-11, restoration
/// method in bits 12-15; APPNOTE 5.10) ask for; `None` when they are cut off.
fn ppmd_memory(data: &[u8]) -> Option<u64> {
    let parameters = u16::from_le_bytes([*data.first()?, *data.get(1)?]);
    Some((u64::from((parameters >> 4) & 0xFF) + 1) << 20)
}

type Archive<'a> = ZipArchive<Cursor<Blob<'a>>>;

/// A ZIP archive being read.
pub struct Zip<'a> {
    data: Blob<'a>,
    archive: Archive<'a>,
    next_index: usize,
    current: Option<(String, Decoding<Box<dyn Read + 'a>>)>,
    macros: bool,
}

/// Opens a ZIP archive (or an OOXML document, a JAR, an APK...).
pub fn open<'a>(data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    let archive = ZipArchive::new(data.reader()).map_err(|_| Skip::Corrupted)?;
    let macros = archive.file_names_raw().any(is_vba_project);
    Ok(Box::new(Zip {
        data,
        archive,
        next_index: 0,
        current: None,
        macros,
    }))
}

fn is_vba_project(name: &[u8]) -> bool {
    const VBA: &[u8] = b"vbaproject.bin";
    name.len() >= VBA.len() && name[name.len() - VBA.len()..].eq_ignore_ascii_case(VBA)
}

/// Checks the CRC-32 of what passes through at the end of the stream; a mismatch is
/// an error (the [`Decoding`] then reports the object as damaged).
struct CrcCheck<R> {
    inner: R,
    crc: flate2::Crc,
    expected: u32,
}

impl<R: Read> Read for CrcCheck<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Retried here: `Decoding` would take an interrupted read for the end.
        let n = loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 && !buf.is_empty() && self.crc.sum() != self.expected {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "CRC-32 mismatch",
            ));
        }
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

/// What a member's method asks for.
enum Method {
    Stored,
    /// Decoded here from the packed bytes.
    Own,
    /// Decoded by the `zip` crate, in one call.
    Crate,
    Unsupported,
}

fn method(m: CompressionMethod) -> Method {
    match m {
        CompressionMethod::Stored => Method::Stored,
        CompressionMethod::Deflated
        | CompressionMethod::Bzip2
        | CompressionMethod::Zstd
        | CompressionMethod::Xz => Method::Own,
        CompressionMethod::Deflate64 | CompressionMethod::Lzma | CompressionMethod::Ppmd => {
            Method::Crate
        }
        _ => Method::Unsupported,
    }
}

/// A decoder for `packed` compressed with `m` (one of [`Method::Own`]).
fn own_decoder<'a>(m: CompressionMethod, packed: Blob<'a>) -> Option<Box<dyn Read + 'a>> {
    let source = packed.reader();
    Some(match m {
        CompressionMethod::Deflated => Box::new(flate2::bufread::DeflateDecoder::new(source)),
        CompressionMethod::Bzip2 => Box::new(bzip2::bufread::BzDecoder::new(source)),
        CompressionMethod::Xz => Box::new(liblzma::bufread::XzDecoder::new_stream(
            source,
            liblzma::stream::Stream::new_stream_decoder(DECODER_MEMORY, 0).ok()?,
        )),
        CompressionMethod::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(source).ok()?),
        _ => return None,
    })
}

/// The [`Next`] for the end of a decoding.
fn finished<'a>(name: String, decoded: Decoded) -> Next<'a> {
    match decoded {
        Decoded::More => Next::Pending,
        Decoded::Done(bytes) => Next::Object(Child::new(name, Blob::owned(bytes))),
        Decoded::Truncated(bytes) if bytes.is_empty() => Next::Skipped {
            name,
            reason: Skip::Corrupted,
        },
        Decoded::Truncated(bytes) => Next::Object(Child {
            name,
            data: Blob::owned(bytes),
            damaged: Some(Skip::Corrupted),
        }),
        Decoded::Refused(reason) => Next::Skipped { name, reason },
    }
}

impl<'a> Zip<'a> {
    /// Starts (or wholly handles) member `index`; `None` for one that is skipped
    /// silently (a directory).
    fn member(&mut self, index: usize, budget: &Budget) -> Option<Next<'a>> {
        let skipped = |name: String, reason| Some(Next::Skipped { name, reason });
        let Ok(entry) = self.archive.by_index_data(index) else {
            return skipped(format!("#{index}"), Skip::Corrupted);
        };
        let name = entry
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| String::from_utf8_lossy(entry.name_raw()).into_owned());
        if entry.is_dir() {
            return None;
        }
        if entry.encrypted() {
            return skipped(name, Skip::PasswordProtected);
        }
        let compression = entry.compression();
        let kind = method(compression);
        if matches!(kind, Method::Unsupported) {
            return skipped(name, Skip::Unsupported);
        }
        let (declared, packed, crc) = (entry.size(), entry.compressed_size(), entry.crc32());
        if declared > budget.max_object
            || (packed > budget.max_object && matches!(kind, Method::Stored))
        {
            return skipped(name, Skip::TooLarge);
        }
        if budget.max_ratio > 0
            && declared > RATIO_FLOOR
            && declared / packed.max(1) > budget.max_ratio
        {
            return skipped(name, Skip::RatioExceeded);
        }
        // The local header says where the data starts.
        let start = match self.archive.by_index_raw(index).map(|f| f.data_start()) {
            Ok(Some(start)) => start,
            _ => return skipped(name, Skip::Corrupted),
        };
        let total = self.data.len() as u64;
        let end = start.saturating_add(packed);
        let cut = end > total;
        let range = start.min(total) as usize..end.min(total) as usize;
        let bytes = self.data.slice(range);
        match kind {
            Method::Stored => {
                if cut && bytes.is_empty() {
                    return skipped(name, Skip::Corrupted);
                }
                Some(Next::Object(Child {
                    name,
                    data: bytes,
                    damaged: cut.then_some(Skip::Corrupted),
                }))
            }
            Method::Own => {
                let packed = bytes.len() as u64;
                let Some(reader) = own_decoder(compression, bytes) else {
                    return skipped(name, Skip::Corrupted);
                };
                let reader: Box<dyn Read + 'a> = Box::new(CrcCheck {
                    inner: reader,
                    crc: flate2::Crc::new(),
                    expected: crc,
                });
                self.current = Some((name, Decoding::new(reader, packed)));
                Some(self.step(budget))
            }
            Method::Crate => {
                let packed = bytes.len() as u64;
                if compression == CompressionMethod::Ppmd {
                    // The crate allocates the model the header asks for, whatever it is.
                    match ppmd_memory(&bytes) {
                        None => return skipped(name, Skip::Corrupted),
                        Some(memory) if memory > PPMD_MEMORY.min(budget.max_object) => {
                            return skipped(name, Skip::TooLarge)
                        }
                        Some(_) => {}
                    }
                }
                let file = match self.archive.by_index(index) {
                    Ok(file) => file,
                    Err(zip::result::ZipError::UnsupportedArchive(
                        zip::result::ZipError::PASSWORD_REQUIRED,
                    )) => return skipped(name, Skip::PasswordProtected),
                    Err(zip::result::ZipError::CompressionMethodNotSupported(_)) => {
                        return skipped(name, Skip::Unsupported)
                    }
                    Err(_) => return skipped(name, Skip::Corrupted),
                };
                let mut decoding = Decoding::new(file, packed);
                loop {
                    match decoding.step(budget) {
                        Decoded::More => continue,
                        other => return Some(finished(name, other)),
                    }
                }
            }
            Method::Unsupported => skipped(name, Skip::Unsupported),
        }
    }

    /// One step of the member being decoded.
    fn step(&mut self, budget: &Budget) -> Next<'a> {
        let Some((_, decoding)) = self.current.as_mut() else {
            return Next::Pending;
        };
        match decoding.step(budget) {
            Decoded::More => Next::Pending,
            other => {
                let name = self
                    .current
                    .take()
                    .map(|(name, _)| name)
                    .unwrap_or_default();
                finished(name, other)
            }
        }
    }
}

impl<'a> Unpacker<'a> for Zip<'a> {
    fn next(&mut self, budget: &Budget) -> Next<'a> {
        if self.current.is_some() {
            return self.step(budget);
        }
        while self.next_index < self.archive.len() {
            let index = self.next_index;
            self.next_index += 1;
            if let Some(next) = self.member(index, budget) {
                return next;
            }
        }
        Next::End
    }

    fn has_macros(&self) -> bool {
        self.macros
    }
}

#[cfg(test)]
mod tests;
