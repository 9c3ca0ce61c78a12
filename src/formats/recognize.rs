//! The format recognizer: what an object is, from its content (magic numbers), never
//! from its name. It decides which unpacker opens a container and which formats
//! `formats.skip` (KSE's `FormatsToSkipScanning`) leaves unscanned.
//!
//! Names: every format has a short name (`zip`, `jpeg`) and, where Kaspersky Scan
//! Engine's Format Recognizer lists it (`kav-protocol.md` §3), its `KAV_FF_*` name;
//! both are accepted in the configuration.

/// A recognized format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Format {
    // Containers, each with an unpacker.
    Zip,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
    Tar,
    SevenZip,
    Cpio,
    Cab,
    Rar,
    Mail,
    Mbox,
    UuEncoded,
    Ole2,
    Pdf,
    Rtf,
    BinHex,
    // Executables.
    Pe,
    Elf,
    MachO,
    JavaClass,
    // Images.
    Jpeg,
    Gif,
    Png,
    Bmp,
    Tiff,
    Emf,
    Eps,
    Psd,
    Cdr,
    // Audio.
    Mp3,
    Flac,
    Ape,
    Ogg,
    Aac,
    Wma,
    Ac3,
    Wav,
    Mka,
    Ra,
    Midi,
    Cda,
    // Video.
    Flv,
    F4v,
    Avi,
    ThreeGpp,
    Divx,
    Mkv,
    Mov,
    Asf,
    Rm,
    Vob,
    Bik,
    Swf,
    // Text.
    Html,
    Csv,
    RegText,
    Text,
    /// Nothing recognized: binary data.
    Unknown,
}

impl Format {
    /// Whether an unpacker exists for it.
    pub fn is_container(self) -> bool {
        use Format::*;
        matches!(
            self,
            Zip | Gzip
                | Bzip2
                | Xz
                | Zstd
                | Tar
                | SevenZip
                | Cpio
                | Cab
                | Rar
                | Mail
                | Mbox
                | UuEncoded
                | Ole2
                | Pdf
                | Rtf
                | BinHex
        )
    }
}

/// Recognizes `data`.
pub fn recognize(data: &[u8]) -> Format {
    let starts = |m: &[u8]| data.starts_with(m);
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK00PK\x03\x04") {
        Format::Zip
    } else if starts(&[0x1f, 0x8b]) {
        Format::Gzip
    } else if starts(b"BZh") && data.len() > 3 && (b'1'..=b'9').contains(&data[3]) {
        Format::Bzip2
    } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Format::Xz
    } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Format::Zstd
    } else if starts(&[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c]) {
        Format::SevenZip
    } else if starts(b"Rar!\x1a\x07") {
        Format::Rar
    } else if starts(b"MSCF\0\0\0\0") {
        Format::Cab
    } else if starts(b"070701") || starts(b"070702") || starts(b"070707") || starts(&[0xc7, 0x71]) {
        Format::Cpio
    } else if starts(&[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]) {
        Format::Ole2
    } else if is_tar(data) {
        Format::Tar
    } else if starts(b"{\\rtf") {
        Format::Rtf
    } else if memchr::memmem::find(&data[..data.len().min(1021)], b"%PDF-").is_some() {
        Format::Pdf
    } else {
        Format::Unknown
    }
}

/// A POSIX/GNU tar header: `ustar` at 257, or a valid octal header checksum.
fn is_tar(data: &[u8]) -> bool {
    if data.len() < 512 {
        return false;
    }
    if &data[257..262] == b"ustar" {
        return true;
    }
    let field = &data[148..156];
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    if digits.is_empty() {
        return false;
    }
    let Ok(want) = u32::from_str_radix(std::str::from_utf8(&digits).unwrap_or("x"), 8) else {
        return false;
    };
    let sum: u32 = data[..512]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum();
    sum == want && data[0] != 0
}
