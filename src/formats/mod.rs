//! Recognizing what an object is, by content, and unpacking containers.
//!
//! - [`recognize`](recognize::recognize) names the format (`recognize.rs`); the
//!   ClamAV target type that `.ndb`/`.ldb` signatures name is [`target_type`] below,
//!   and text has ClamAV's normalized form (`text.rs`).
//! - Each container format has its own module implementing [`Unpacker`]
//!   (`unpack.rs`), pulled one sub-object at a time by the scan driver
//!   (`engine/deep.rs`). A maintained crate does the format's work wherever one exists;
//!   the modules written by hand say why in their first lines.

pub mod binhex;
pub mod blob;
pub mod cab;
pub(crate) mod codec;
pub mod compress;
pub mod cpio;
pub mod mail;
pub mod ole2;
pub mod pdf;
pub mod rar;
pub mod recognize;
pub mod rtf;
pub mod sevenz;
pub mod tar;
#[cfg(test)]
pub(crate) mod testutil;
pub mod text;
pub mod unpack;
pub mod zip;

pub use blob::Blob;
pub use recognize::{recognize, Format};
pub use unpack::{Budget, Child, Next, Skip, Unpacker};

/// Opens a container of a recognized format; `Err` when it cannot even be opened
/// (damaged, encrypted as a whole, or a format without an unpacker).
pub fn open_container<'a>(
    format: Format,
    data: Blob<'a>,
) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    match format {
        Format::Gzip | Format::Bzip2 | Format::Xz | Format::Zstd => compress::open(format, data),
        Format::Zip => zip::open(data),
        Format::Tar => tar::open(data),
        Format::SevenZip => sevenz::open(data),
        Format::Cpio => cpio::open(data),
        Format::Cab => cab::open(data),
        Format::Rar => rar::open(data),
        Format::Mail | Format::Mbox | Format::UuEncoded => mail::open(format, data),
        Format::BinHex => binhex::open(data),
        Format::Ole2 => ole2::open(data),
        Format::Pdf => pdf::open(data),
        Format::Rtf => rtf::open(data),
        _ => Err(Skip::Unsupported),
    }
}

/// The ClamAV target type (`appendix/FileTypes.md`) of `data`, 0 when none applies.
///
/// Only types recognisable from magic bytes are returned. ASCII text (7) is never
/// returned here: ClamAV matches it against the *normalized* copy of text objects,
/// which the scanner makes with [`text::normalize_into`] and scans as type 7. HTML (3)
/// and mail (4) need normalizers that do not exist yet; their signatures are refused
/// at load (see [`target_supported`]).
pub fn target_type(data: &[u8]) -> u8 {
    if is_pe(data) {
        1
    } else if data.starts_with(&[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]) {
        2
    } else if is_graphics(data) {
        5
    } else if data.starts_with(b"\x7fELF") {
        6
    } else if is_macho(data) {
        9
    } else if memchr::memmem::find(&data[..data.len().min(PDF_MAGIC_WINDOW)], b"%PDF-").is_some() {
        10
    } else if data.len() >= 3 && matches!(&data[..3], b"FWS" | b"CWS" | b"ZWS") {
        11
    } else if is_java_class(data) {
        12
    } else {
        0
    }
}

/// ClamAV finds `%PDF-` only when it starts within the first 1017 bytes (checked
/// against clamscan 1.4: at 1016 it is a PDF, at 1019 not).
const PDF_MAGIC_WINDOW: usize = 1016 + 5;

/// Whether signatures of this target type can be honoured; `Err` says why not.
pub fn target_supported(target: u8) -> Result<(), String> {
    match target {
        0 | 1 | 2 | 5 | 6 | 7 | 9 | 10 | 11 | 12 => Ok(()),
        3 | 4 => Err(format!(
            "target type {target} ({}) is matched on normalized content; that normalizer is not implemented yet",
            crate::engine::sig::target_name(target)
        )),
        other => Err(format!("target type {other} is not supported")),
    }
}

/// ClamAV types anything starting with `MZ` as an executable (`CL_TYPE_MSEXE`), and
/// target 1 applies to it, PE header or not.
fn is_pe(data: &[u8]) -> bool {
    data.starts_with(b"MZ")
}

/// Like ClamAV's offset-0 magic list, `GIF` and `MM` (TIFF) alone make graphics.
fn is_graphics(data: &[u8]) -> bool {
    data.starts_with(b"\x89PNG\r\n\x1a\n")
        || data.starts_with(b"GIF")
        || data.starts_with(&[0xff, 0xd8, 0xff])
        || data.starts_with(b"BM")
        || data.starts_with(b"II*\0")
        || data.starts_with(b"MM")
}

fn is_macho(data: &[u8]) -> bool {
    let fat =
        data.len() >= 8 && data.starts_with(&[0xca, 0xfe, 0xba, 0xbe]) && !is_java_class(data);
    fat || data.len() >= 4
        && matches!(
            [data[0], data[1], data[2], data[3]],
            [0xfe, 0xed, 0xfa, 0xce]
                | [0xce, 0xfa, 0xed, 0xfe]
                | [0xfe, 0xed, 0xfa, 0xcf]
                | [0xcf, 0xfa, 0xed, 0xfe]
        )
}

/// `CAFEBABE` is shared by Java classes and Mach-O fat binaries; a class file has a
/// major version of at least 45 where a fat binary has a small architecture count.
fn is_java_class(data: &[u8]) -> bool {
    data.len() >= 8
        && data.starts_with(&[0xca, 0xfe, 0xba, 0xbe])
        && u16::from_be_bytes([data[6], data[7]]) >= 45
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_types() {
        let mut pe = vec![0u8; 0x80];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x40;
        pe[0x40..0x44].copy_from_slice(b"PE\0\0");
        assert_eq!(target_type(&pe), 1);
        assert_eq!(
            target_type(b"MZ without a PE header"),
            1,
            "as ClamAV types it"
        );
        assert_eq!(
            target_type(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2]),
            9,
            "Mach-O fat binary"
        );
        assert_eq!(target_type(b"BMshort"), 5);
        let mut pdf = vec![b' '; 1016];
        pdf.extend_from_slice(b"%PDF-1.4");
        assert_eq!(target_type(&pdf), 10);
        pdf.splice(0..0, *b"   ");
        assert_eq!(target_type(&pdf), 0);
        assert_eq!(target_type(b"\x7fELF\x02\x01"), 6);
        assert_eq!(target_type(b"%PDF-1.7\n"), 10);
        assert_eq!(target_type(b"\x89PNG\r\n\x1a\n...."), 5);
        assert_eq!(target_type(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52]), 12);
        assert_eq!(target_type(b"hello"), 0);
        assert!(target_supported(3).is_err() && target_supported(7).is_ok());
    }
}
