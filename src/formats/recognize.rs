//! The format recognizer: what an object is, from its content (magic numbers and a
//! look at its first few KiB), never from its name. It decides which unpacker opens a
//! container and which formats `formats.skip` (KSE's `FormatsToSkipScanning`) leaves
//! unscanned. It is not ClamAV's type detection: the target type that signatures name
//! is [`target_type`](super::target_type), which follows ClamAV's own (looser) rules.
//!
//! # What is recognized, and how
//!
//! [`recognize`] looks at most at the first [`WINDOW`] bytes and never allocates. The
//! checks run in this order; the first that matches wins:
//!
//! 1. **Containers by magic at offset 0**: zip (`PK\3\4`, `PK\5\6`, `PK00PK\3\4`),
//!    gzip, bzip2 (`BZh1`..`BZh9`), xz, zstd, 7z, rar (`Rar!\x1a\x07`), cab
//!    (`MSCF\0\0\0\0`), cpio (newc/crc/odc ASCII and binary), OLE2; then tar (`ustar` at
//!    257 or a valid octal header checksum) and RTF (`{\rtf`).
//! 2. **Executables**: `MZ` is PE (as ClamAV types it, PE header or not); `\x7fELF`;
//!    the four thin Mach-O magics; `CAFEBABE` is a Java class when its major version
//!    (bytes 6..8) is at least 45 and a Mach-O fat binary otherwise, as
//!    [`target_type`](super::target_type) decides.
//! 3. **Images**: JPEG `FFD8FF`, `GIF87a`/`GIF89a`, PNG, BMP (`BM`, zero reserved
//!    words and a known DIB header size), TIFF (`II*\0`, `MM\0*`), EMF (record type 1
//!    and ` EMF` at 40), EPS (`%!PS-Adobe-` with `EPSF` on the first line, or the
//!    binary `C5D0D3C6` header), PSD (`8BPS` version 1 or 2).
//! 4. **RIFF** (`RIFF....` + form): `WAVE` wav, `AVI ` avi (DivX when `divx`/`DIVX`
//!    appears in the first KiB, its codec FourCC), `CDR*`/`cdr*` CorelDRAW, `CDDA` CD
//!    audio track.
//! 5. **Audio and video by magic**: FLAC `fLaC`, APE `MAC `, Ogg `OggS\0`, MIDI `MThd`,
//!    RealAudio `.ra\xfd`, RealMedia `.RMF`, FLV `FLV\x01`, SWF `FWS`/`CWS`/`ZWS` with
//!    a plausible version, Bink `BIK`/`KB2` + a revision letter, MPEG program stream
//!    (VOB) `000001BA`; ISO BMFF `ftyp` at 4 by its major brand (`f4v `/`f4p `/`f4a `/
//!    `f4b ` F4V, `3gp*`/`3g2*` 3GPP, anything else, `qt  ` included, MOV) and old
//!    QuickTime (`moov`/`mdat`/`wide`/`pnot` at 4); ASF (header GUID `3026B275...`):
//!    WMA when the header has an audio stream and no video stream, ASF otherwise;
//!    Matroska/WebM (EBML `1A45DFA3`, DocType `matroska` or `webm`): MKA when the
//!    tracks seen in the window are audio only, MKV otherwise; MP3 (`ID3v2` tag, or an
//!    MPEG layer III frame header with valid bitrate and sample-rate indexes); AAC
//!    (ADTS header, `FFF1`/`FFF9` with a valid sample-rate index); AC-3 (`0B77` with
//!    valid `fscod`/`frmsizecod`).
//! 6. **PDF**: `%PDF-` starting within the first 1017 bytes, as ClamAV finds it.
//! 7. **Text-like**, on the first 4 KiB with a UTF-8 BOM skipped or UTF-16 (with BOM)
//!    narrowed on the stack: registry export (`Windows Registry Editor Version 5.00`
//!    or `REGEDIT4`), mbox (`From addr date` then mail headers), mail (after optional
//!    whitespace, a block of at least two `Name: value` header lines, one of them a
//!    usual mail header: `From`, `Received`, `Return-Path`, `Delivered-To`,
//!    `Message-ID`, `MIME-Version`, `Subject`, `Date`, `To`, `Content-Type`, `X-*`...),
//!    BinHex (`(This file must be converted with BinHex`), uuencode (`begin NNN name`
//!    then a valid uuencoded line), HTML (`<html`, `<!doctype html`, `<head`, `<body`,
//!    `<script`, `<iframe`, any case, in the first KiB, where the text starts with `<`
//!    or the tag starts a line), then, only for text, CSV (the first lines have the
//!    same number of `,` or `;` outside quotes) and plain text (valid UTF-8 or UTF-16,
//!    no NUL, at most 1% control characters).
//! 8. Anything else is [`Format::Unknown`].
//!
//! # Names
//!
//! Every format has a short lowercase name ([`Format::name`]: `zip`, `7z`, `jpeg`,
//! `text`) and, where Kaspersky Scan Engine's Format Recognizer lists it
//! (`kav-protocol.md` §3), its `KAV_FF_*` name ([`Format::kav_name`]). Executables'
//! `KAV_FF_EXECUTABLE_PE`/`_ELF`/`_MACHO`/`_JAVA` are ringscan's own: Kaspersky's
//! constants for them are unconfirmed. Containers have no `KAV_FF_*` name.
//! [`Format::from_name`] accepts either, in any case, plus `KAV_FF_GENERAL_HTML_STRICT`
//! (HTML) and `KAV_FF_VIDEO_RTMP` (FLV, the stream format RTMP carries).

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

/// Every format with its short name and `KAV_FF_*` name, in declaration order.
const NAMES: &[(Format, &str, Option<&str>)] = {
    use Format::*;
    &[
        (Zip, "zip", None),
        (Gzip, "gzip", None),
        (Bzip2, "bzip2", None),
        (Xz, "xz", None),
        (Zstd, "zstd", None),
        (Tar, "tar", None),
        (SevenZip, "7z", None),
        (Cpio, "cpio", None),
        (Cab, "cab", None),
        (Rar, "rar", None),
        (Mail, "mail", None),
        (Mbox, "mbox", None),
        (UuEncoded, "uuencoded", None),
        (Ole2, "ole2", None),
        (Pdf, "pdf", None),
        (Rtf, "rtf", None),
        (BinHex, "binhex", None),
        (Pe, "pe", Some("KAV_FF_EXECUTABLE_PE")),
        (Elf, "elf", Some("KAV_FF_EXECUTABLE_ELF")),
        (MachO, "macho", Some("KAV_FF_EXECUTABLE_MACHO")),
        (JavaClass, "java", Some("KAV_FF_EXECUTABLE_JAVA")),
        (Jpeg, "jpeg", Some("KAV_FF_IMAGE_JPEG")),
        (Gif, "gif", Some("KAV_FF_IMAGE_GIF")),
        (Png, "png", Some("KAV_FF_IMAGE_PNG")),
        (Bmp, "bmp", Some("KAV_FF_IMAGE_BMP")),
        (Tiff, "tiff", Some("KAV_FF_IMAGE_TIFF")),
        (Emf, "emf", Some("KAV_FF_IMAGE_EMF")),
        (Eps, "eps", Some("KAV_FF_IMAGE_EPS")),
        (Psd, "psd", Some("KAV_FF_IMAGE_PSD")),
        (Cdr, "cdr", Some("KAV_FF_IMAGE_CDR")),
        (Mp3, "mp3", Some("KAV_FF_AUDIO_MP3")),
        (Flac, "flac", Some("KAV_FF_AUDIO_FLAC")),
        (Ape, "ape", Some("KAV_FF_AUDIO_APE")),
        (Ogg, "ogg", Some("KAV_FF_AUDIO_OGG")),
        (Aac, "aac", Some("KAV_FF_AUDIO_AAC")),
        (Wma, "wma", Some("KAV_FF_AUDIO_WMA")),
        (Ac3, "ac3", Some("KAV_FF_AUDIO_AC3")),
        (Wav, "wav", Some("KAV_FF_AUDIO_WAV")),
        (Mka, "mka", Some("KAV_FF_AUDIO_MKA")),
        (Ra, "ra", Some("KAV_FF_AUDIO_RA")),
        (Midi, "midi", Some("KAV_FF_AUDIO_MIDI")),
        (Cda, "cda", Some("KAV_FF_AUDIO_CDA")),
        (Flv, "flv", Some("KAV_FF_VIDEO_FLV")),
        (F4v, "f4v", Some("KAV_FF_VIDEO_F4V")),
        (Avi, "avi", Some("KAV_FF_VIDEO_AVI")),
        (ThreeGpp, "3gpp", Some("KAV_FF_VIDEO_3GPP")),
        (Divx, "divx", Some("KAV_FF_VIDEO_DIVX")),
        (Mkv, "mkv", Some("KAV_FF_VIDEO_MKV")),
        (Mov, "mov", Some("KAV_FF_VIDEO_MOV")),
        (Asf, "asf", Some("KAV_FF_VIDEO_ASF")),
        (Rm, "rm", Some("KAV_FF_VIDEO_RM")),
        (Vob, "vob", Some("KAV_FF_VIDEO_VOB")),
        (Bik, "bik", Some("KAV_FF_VIDEO_BIK")),
        (Swf, "swf", Some("KAV_FF_MULTIMEDIA_SWF")),
        (Html, "html", Some("KAV_FF_GENERAL_HTML")),
        (Csv, "csv", Some("KAV_FF_GENERAL_CSV")),
        (RegText, "reg", Some("KAV_FF_TEXT_REG")),
        (Text, "text", Some("KAV_FF_GENERAL_TXT")),
        (Unknown, "unknown", None),
    ]
};

/// Every format, in declaration order.
const ALL: [Format; NAMES.len()] = {
    let mut all = [Format::Unknown; NAMES.len()];
    let mut i = 0;
    while i < NAMES.len() {
        all[i] = NAMES[i].0;
        i += 1;
    }
    all
};

/// Other names [`Format::from_name`] accepts.
const ALIASES: &[(&str, Format)] = &[
    ("KAV_FF_GENERAL_HTML_STRICT", Format::Html),
    ("KAV_FF_VIDEO_RTMP", Format::Flv),
];

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

    /// Every format, [`Format::Unknown`] last.
    pub fn all() -> &'static [Format] {
        &ALL
    }

    fn entry(self) -> &'static (Format, &'static str, Option<&'static str>) {
        // `NAMES` is in declaration order, so the discriminant indexes it.
        &NAMES[self as usize]
    }

    /// The short lowercase name (`zip`, `7z`, `jpeg`, `text`, `unknown`).
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// The `KAV_FF_*` name where Kaspersky's Format Recognizer lists the format
    /// (`kav-protocol.md` §3); `KAV_FF_EXECUTABLE_*` are ringscan's own, Kaspersky's
    /// being unconfirmed. `None` for containers and [`Format::Unknown`].
    pub fn kav_name(self) -> Option<&'static str> {
        self.entry().2
    }

    /// The format a short name or `KAV_FF_*` name (any case) stands for.
    pub fn from_name(s: &str) -> Option<Format> {
        let s = s.trim();
        NAMES
            .iter()
            .find(|(_, short, kav)| {
                short.eq_ignore_ascii_case(s) || kav.is_some_and(|k| k.eq_ignore_ascii_case(s))
            })
            .map(|e| e.0)
            .or_else(|| {
                ALIASES
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(s))
                    .map(|e| e.1)
            })
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How much of an object [`recognize`] looks at.
pub const WINDOW: usize = 4096;

/// ClamAV finds `%PDF-` only when it starts within the first 1017 bytes.
const PDF_WINDOW: usize = 1016 + 5;

/// How far into the text the HTML tags are looked for.
const HTML_WINDOW: usize = 1024;

/// Recognizes `data` from its first [`WINDOW`] bytes.
pub fn recognize(data: &[u8]) -> Format {
    let head = &data[..data.len().min(WINDOW)];
    if let Some(f) = container_magic(head) {
        f
    } else if let Some(f) = executable(head) {
        f
    } else if let Some(f) = image(head) {
        f
    } else if let Some(f) = riff(head) {
        f
    } else if let Some(f) = media(head) {
        f
    } else if memchr::memmem::find(&head[..head.len().min(PDF_WINDOW)], b"%PDF-").is_some() {
        Format::Pdf
    } else {
        text_like(head, data.len() > head.len())
    }
}

fn u16be(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32le(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn u32be(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn container_magic(d: &[u8]) -> Option<Format> {
    let starts = |m: &[u8]| d.starts_with(m);
    Some(
        if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK00PK\x03\x04") {
            Format::Zip
        } else if starts(&[0x1f, 0x8b]) {
            Format::Gzip
        } else if starts(b"BZh") && d.len() > 3 && (b'1'..=b'9').contains(&d[3]) {
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
        } else if starts(b"070701")
            || starts(b"070702")
            || starts(b"070707")
            || starts(&[0xc7, 0x71])
            || starts(&[0x71, 0xc7])
        {
            Format::Cpio
        } else if starts(&[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]) {
            Format::Ole2
        } else if is_tar(d) {
            Format::Tar
        } else if starts(b"{\\rtf") {
            Format::Rtf
        } else {
            return None;
        },
    )
}

/// A POSIX/GNU tar header: `ustar` at 257, or a valid octal header checksum.
fn is_tar(data: &[u8]) -> bool {
    if data.len() < 512 {
        return false;
    }
    if &data[257..262] == b"ustar" {
        return true;
    }
    if data[0] == 0 {
        return false;
    }
    // The checksum: octal digits, optionally after spaces, ended by NUL or space.
    let mut want: u32 = 0;
    let mut digits = 0;
    for &b in data[148..156].iter().skip_while(|b| **b == b' ') {
        if !(b'0'..=b'7').contains(&b) {
            break;
        }
        want = want * 8 + u32::from(b - b'0');
        digits += 1;
    }
    if digits == 0 {
        return false;
    }
    let sum: u32 = data[..148]
        .iter()
        .chain(&data[156..512])
        .map(|&b| u32::from(b))
        .sum::<u32>()
        + 8 * u32::from(b' ');
    sum == want
}

fn executable(d: &[u8]) -> Option<Format> {
    if d.starts_with(b"MZ") {
        return Some(Format::Pe);
    }
    if d.starts_with(b"\x7fELF") {
        return Some(Format::Elf);
    }
    match u32be(d, 0)? {
        0xfeed_face | 0xcefa_edfe | 0xfeed_facf | 0xcffa_edfe => Some(Format::MachO),
        // Shared by Java classes and fat binaries: a class file's major version is at
        // least 45, a fat binary's architecture count is small.
        0xcafe_babe => match u16be(d, 6)? {
            45.. => Some(Format::JavaClass),
            _ => Some(Format::MachO),
        },
        _ => None,
    }
}

fn image(d: &[u8]) -> Option<Format> {
    let starts = |m: &[u8]| d.starts_with(m);
    Some(if starts(&[0xff, 0xd8, 0xff]) {
        Format::Jpeg
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Format::Gif
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Format::Png
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Format::Tiff
    } else if starts(b"8BPS") && matches!(u16be(d, 4), Some(1 | 2)) {
        Format::Psd
    } else if starts(&[0xc5, 0xd0, 0xd3, 0xc6]) || is_eps_text(d) {
        Format::Eps
    } else if u32le(d, 0) == Some(1) && d.get(40..44) == Some(b" EMF") {
        Format::Emf
    } else if is_bmp(d) {
        Format::Bmp
    } else {
        return None;
    })
}

/// `%!PS-Adobe-3.0 EPSF-3.0`: the DSC header line naming EPSF.
fn is_eps_text(d: &[u8]) -> bool {
    if !d.starts_with(b"%!PS-Adobe-") {
        return false;
    }
    let line = &d[..memchr::memchr2(b'\n', b'\r', d).unwrap_or(d.len())];
    memchr::memmem::find(line, b"EPSF").is_some()
}

/// `BM`, zero reserved words, and a known DIB header size.
fn is_bmp(d: &[u8]) -> bool {
    d.starts_with(b"BM")
        && u32le(d, 6) == Some(0)
        && matches!(u32le(d, 14), Some(12 | 16 | 40 | 52 | 56 | 64 | 108 | 124))
        && u32le(d, 10).is_some_and(|off| off >= 26)
}

fn riff(d: &[u8]) -> Option<Format> {
    if !d.starts_with(b"RIFF") {
        return None;
    }
    let form = d.get(8..12)?;
    Some(match form {
        b"WAVE" => Format::Wav,
        b"AVI " => {
            let kib = &d[..d.len().min(1024)];
            if memchr::memmem::find(kib, b"divx").is_some()
                || memchr::memmem::find(kib, b"DIVX").is_some()
            {
                Format::Divx
            } else {
                Format::Avi
            }
        }
        b"CDDA" => Format::Cda,
        _ if form.starts_with(b"CDR") || form.starts_with(b"cdr") => Format::Cdr,
        _ => return None,
    })
}

/// The ASF header object's GUID, and the stream types of its stream properties.
const ASF_HEADER: [u8; 16] = [
    0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11, 0xa6, 0xd9, 0x00, 0xaa, 0x00, 0x62, 0xce, 0x6c,
];
const ASF_AUDIO_MEDIA: [u8; 16] = [
    0x40, 0x9e, 0x69, 0xf8, 0x4d, 0x5b, 0xcf, 0x11, 0xa8, 0xfd, 0x00, 0x80, 0x5f, 0x5c, 0x44, 0x2b,
];
const ASF_VIDEO_MEDIA: [u8; 16] = [
    0xc0, 0xef, 0x19, 0xbc, 0x4d, 0x5b, 0xcf, 0x11, 0xa8, 0xfd, 0x00, 0x80, 0x5f, 0x5c, 0x44, 0x2b,
];

fn media(d: &[u8]) -> Option<Format> {
    let starts = |m: &[u8]| d.starts_with(m);
    let has = |m: &[u8]| memchr::memmem::find(d, m).is_some();
    Some(if starts(b"fLaC") {
        Format::Flac
    } else if starts(b"MAC ") {
        Format::Ape
    } else if starts(b"OggS\0") {
        Format::Ogg
    } else if starts(b"MThd\0\0\0\x06") {
        Format::Midi
    } else if starts(b".ra\xfd") {
        Format::Ra
    } else if starts(b".RMF") {
        Format::Rm
    } else if starts(b"FLV\x01") {
        Format::Flv
    } else if (starts(b"FWS") || starts(b"CWS") || starts(b"ZWS"))
        && d.len() >= 8
        && (1..=64).contains(&d[3])
    {
        Format::Swf
    } else if (starts(b"BIK") || starts(b"KB2")) && d.len() >= 4 && d[3].is_ascii_alphabetic() {
        Format::Bik
    } else if starts(&[0, 0, 1, 0xba]) {
        Format::Vob
    } else if let Some(f) = iso_bmff(d) {
        f
    } else if starts(&ASF_HEADER) {
        if has(&ASF_AUDIO_MEDIA) && !has(&ASF_VIDEO_MEDIA) {
            Format::Wma
        } else {
            Format::Asf
        }
    } else if starts(&[0x1a, 0x45, 0xdf, 0xa3]) {
        return matroska(d);
    } else if starts(b"ID3") && d.len() >= 10 && (2..=4).contains(&d[3]) && d[4] != 0xff {
        Format::Mp3
    } else if is_adts(d) {
        Format::Aac
    } else if is_mp3_frame(d) {
        Format::Mp3
    } else if starts(&[0x0b, 0x77]) && d.len() >= 6 && d[4] >> 6 != 3 && d[4] & 0x3f < 38 {
        Format::Ac3
    } else {
        return None;
    })
}

/// ISO base media (`ftyp` at 4, by major brand) and old QuickTime (a top-level atom).
fn iso_bmff(d: &[u8]) -> Option<Format> {
    let size = u32be(d, 0)?;
    let kind = d.get(4..8)?;
    if kind == b"ftyp" && size >= 12 {
        let brand = d.get(8..12)?;
        Some(match brand {
            b"f4v " | b"f4p " | b"f4a " | b"f4b " => Format::F4v,
            _ if brand.starts_with(b"3gp") || brand.starts_with(b"3g2") => Format::ThreeGpp,
            _ => Format::Mov,
        })
    } else if matches!(kind, b"moov" | b"mdat" | b"wide" | b"pnot") && (size >= 8 || size <= 1) {
        Some(Format::Mov)
    } else {
        None
    }
}

/// Matroska or WebM by the EBML DocType; audio-only when the track types seen in the
/// window (`TrackType` elements, `83 81 nn`) are audio (2) and none is video (1).
fn matroska(d: &[u8]) -> Option<Format> {
    let ebml_head = &d[..d.len().min(64)];
    let is = |m: &[u8]| memchr::memmem::find(ebml_head, m).is_some();
    if !is(b"matroska") && !is(b"webm") {
        return None;
    }
    let audio = memchr::memmem::find(d, &[0x83, 0x81, 0x02]).is_some();
    let video = memchr::memmem::find(d, &[0x83, 0x81, 0x01]).is_some();
    Some(if audio && !video {
        Format::Mka
    } else {
        Format::Mkv
    })
}

/// An AAC ADTS header: 12 sync bits, layer 0, a valid sampling-frequency index.
fn is_adts(d: &[u8]) -> bool {
    d.len() >= 7 && d[0] == 0xff && d[1] & 0xf6 == 0xf0 && (d[2] >> 2) & 0x0f < 13
}

/// An MPEG audio layer III frame header with valid version, bitrate and sample rate.
fn is_mp3_frame(d: &[u8]) -> bool {
    d.len() >= 4
        && d[0] == 0xff
        && d[1] & 0xe0 == 0xe0
        && (d[1] >> 3) & 3 != 1
        && (d[1] >> 1) & 3 == 1
        && !matches!(d[2] >> 4, 0 | 15)
        && (d[2] >> 2) & 3 != 3
        && d[3] & 3 != 2
}

/// The text-like formats, on `head` (the window; `truncated` when the object goes on).
fn text_like(head: &[u8], truncated: bool) -> Format {
    if head.is_empty() {
        return Format::Unknown;
    }
    let mut narrow = [0u8; WINDOW / 2];
    let (view, is_text) = if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        match narrow_utf16(&head[2..], head[0] == 0xfe, &mut narrow) {
            Some(n) => (&narrow[..n], few_controls(&narrow[..n])),
            None => return Format::Unknown,
        }
    } else {
        let view = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
        (view, is_utf8_prefix(view) && few_controls(view))
    };
    let trimmed = view.trim_ascii_start();
    if view.starts_with(b"Windows Registry Editor Version 5.00") || view.starts_with(b"REGEDIT4") {
        Format::RegText
    } else if is_mbox(view) {
        Format::Mbox
    } else if is_mail_headers(trimmed) {
        Format::Mail
    } else if memchr::memmem::find(view, b"(This file must be converted with BinHex").is_some() {
        Format::BinHex
    } else if is_uuencoded(view) {
        Format::UuEncoded
    } else if is_html(trimmed) {
        Format::Html
    } else if !is_text {
        Format::Unknown
    } else if is_csv(view, truncated) {
        Format::Csv
    } else {
        Format::Text
    }
}

/// UTF-16 (after its BOM) narrowed into `out`: ASCII kept, anything else `?`. `None`
/// when it holds a NUL or a broken surrogate pair.
fn narrow_utf16(d: &[u8], big_endian: bool, out: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    let mut want_low = false;
    for pair in d.chunks_exact(2).take(out.len()) {
        let u = if big_endian {
            u16::from_be_bytes([pair[0], pair[1]])
        } else {
            u16::from_le_bytes([pair[0], pair[1]])
        };
        let low = (0xdc00..0xe000).contains(&u);
        if u == 0 || want_low != low {
            return None;
        }
        want_low = (0xd800..0xdc00).contains(&u);
        out[n] = if u < 0x80 { u as u8 } else { b'?' };
        n += 1;
    }
    Some(n)
}

/// Valid UTF-8, allowing a character cut by the end of the window.
fn is_utf8_prefix(d: &[u8]) -> bool {
    match std::str::from_utf8(d) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && d.len() - e.valid_up_to() < 4,
    }
}

/// No NUL, and at most 1% other control characters (tab, line breaks, form feed and
/// escape not counted).
fn few_controls(d: &[u8]) -> bool {
    let mut controls = 0;
    for &b in d {
        match b {
            0 => return false,
            b'\t' | b'\n' | b'\r' | 0x0c | 0x1b => {}
            0x01..=0x1f | 0x7f => controls += 1,
            _ => {}
        }
    }
    controls * 100 <= d.len()
}

/// Lines without their `\r`.
fn lines(d: &[u8]) -> impl Iterator<Item = &[u8]> {
    d.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// Header names that make a block of `Name: value` lines mail.
const MAIL_HEADERS: &[&[u8]] = &[
    b"From",
    b"Received",
    b"Return-Path",
    b"Delivered-To",
    b"Message-ID",
    b"MIME-Version",
    b"Subject",
    b"Date",
    b"To",
    b"Cc",
    b"Reply-To",
    b"Sender",
    b"Content-Type",
    b"Content-Transfer-Encoding",
    b"DKIM-Signature",
    b"Authentication-Results",
];

/// The name of a `Name: value` header line (RFC 5322 ftext: printable, no colon).
fn header_name(line: &[u8]) -> Option<&[u8]> {
    let colon = memchr::memchr(b':', line)?;
    let name = &line[..colon];
    (!name.is_empty() && name.len() <= 76 && name.iter().all(|b| (33..=126).contains(b)))
        .then_some(name)
}

/// Whether the value part of a header line is free of control characters.
fn header_chars_ok(line: &[u8]) -> bool {
    line.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// A first block of at least two header lines (continuations allowed), one of them a
/// usual mail header.
fn is_mail_headers(d: &[u8]) -> bool {
    let mut headers = 0;
    let mut known = false;
    for (i, line) in lines(d).take(64).enumerate() {
        if line.is_empty() {
            break;
        }
        if !header_chars_ok(line) {
            return false;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if i == 0 {
                return false;
            }
            continue;
        }
        let Some(name) = header_name(line) else {
            if i == 0 {
                return false;
            }
            break;
        };
        headers += 1;
        known |= MAIL_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h))
            || name.len() > 2 && name[..2].eq_ignore_ascii_case(b"X-");
    }
    headers >= 2 && known
}

/// `From sender date` (with a `hh:mm` time) and then mail headers.
fn is_mbox(d: &[u8]) -> bool {
    let Some(rest) = d.strip_prefix(b"From ") else {
        return false;
    };
    let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    let first = &rest[..end];
    let sender_len = first
        .iter()
        .take_while(|b| !b.is_ascii_whitespace())
        .count();
    let has_time = first.windows(5).any(|w| {
        w[0].is_ascii_digit()
            && w[1].is_ascii_digit()
            && w[2] == b':'
            && w[3].is_ascii_digit()
            && w[4].is_ascii_digit()
    });
    sender_len > 0
        && has_time
        && header_chars_ok(first.strip_suffix(b"\r").unwrap_or(first))
        && end < rest.len()
        && is_mail_headers(&rest[end + 1..])
}

/// A `begin NNN name` line (octal mode) followed by a valid uuencoded line.
fn is_uuencoded(d: &[u8]) -> bool {
    let mut it = lines(d);
    while let Some(line) = it.next() {
        let Some(rest) = line.strip_prefix(b"begin ") else {
            continue;
        };
        let mode = rest
            .iter()
            .take_while(|b| (b'0'..=b'7').contains(b))
            .count();
        let named = rest.len() > mode + 1 && rest[mode] == b' ';
        if (3..=4).contains(&mode) && named && it.next().is_some_and(is_uu_line) {
            return true;
        }
    }
    false
}

/// A uuencoded line: a length character, then that many bytes' worth of characters in
/// `' '..='`'` (trailing padding tolerated).
fn is_uu_line(line: &[u8]) -> bool {
    let Some((&len, body)) = line.split_first() else {
        return false;
    };
    if !(b' '..=b'`').contains(&len) || !body.iter().all(|b| (b' '..=b'`').contains(b)) {
        return false;
    }
    let n = usize::from((len - b' ') & 63);
    if n == 0 {
        return false;
    }
    let full = n.div_ceil(3) * 4;
    let least = (n * 4).div_ceil(3);
    (least..=full + 2).contains(&body.len())
}

/// An HTML tag in the first KiB, where the text starts with `<` or the tag starts a
/// line.
fn is_html(d: &[u8]) -> bool {
    const TAGS: &[&[u8]] = &[
        b"<html",
        b"<!doctype html",
        b"<head",
        b"<body",
        b"<script",
        b"<iframe",
    ];
    let w = &d[..d.len().min(HTML_WINDOW)];
    if memchr::memchr(0, w).is_some() {
        return false;
    }
    let starts_tagged = w.first() == Some(&b'<');
    memchr::memchr_iter(b'<', w).any(|at| {
        let line_start = w[..at]
            .iter()
            .rev()
            .take_while(|&&b| b != b'\n')
            .all(|&b| b == b' ' || b == b'\t');
        (starts_tagged || line_start)
            && TAGS.iter().any(|tag| {
                w.get(at..at + tag.len())
                    .is_some_and(|s| s.eq_ignore_ascii_case(tag))
                    && w.get(at + tag.len())
                        .is_none_or(|&b| b == b'>' || b == b'/' || b.is_ascii_whitespace())
            })
    })
}

/// The first lines (at most 8, complete ones only) have the same number of `,` or of
/// `;` outside double quotes: at least one in three lines or more, at least two in
/// two lines.
fn is_csv(d: &[u8], truncated: bool) -> bool {
    for sep in [b',', b';'] {
        let mut count = None;
        let mut n = 0;
        let mut same = true;
        let mut segments = d.split(|&b| b == b'\n').peekable();
        while let Some(line) = segments.next() {
            let last = segments.peek().is_none();
            if last && (truncated || line.is_empty()) {
                break;
            }
            let mut quoted = false;
            let mut c = 0usize;
            for &b in line {
                if b == b'"' {
                    quoted = !quoted;
                } else if b == sep && !quoted {
                    c += 1;
                }
            }
            if *count.get_or_insert(c) != c {
                same = false;
                break;
            }
            n += 1;
            if n == 8 {
                break;
            }
        }
        let c = count.unwrap_or(0);
        if same && (n >= 3 && c >= 1 || n == 2 && c >= 2) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pad(mut v: Vec<u8>, len: usize) -> Vec<u8> {
        v.resize(len.max(v.len()), 0);
        v
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn le32(v: u32) -> [u8; 4] {
        v.to_le_bytes()
    }

    fn riff(form: &[u8], body: &[u8]) -> Vec<u8> {
        let size = (4 + body.len()) as u32;
        cat(&[b"RIFF", &le32(size), form, body])
    }

    fn gzip() -> Vec<u8> {
        let mut gz = flate2::GzBuilder::new()
            .filename("a.txt")
            .write(Vec::new(), flate2::Compression::default());
        gz.write_all(b"hello\n").unwrap();
        gz.finish().unwrap()
    }

    fn zip() -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("a.txt", opts).unwrap();
        w.write_all(b"hello\n").unwrap();
        w.finish().unwrap().into_inner()
    }

    fn tar(gnu: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = if gnu {
            tar::Header::new_old()
        } else {
            tar::Header::new_ustar()
        };
        h.set_path("a.txt").unwrap();
        h.set_size(6);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &b"hello\n"[..]).unwrap();
        b.into_inner().unwrap()
    }

    /// An ASF header object holding one stream properties object of `stream_type`.
    fn asf(stream_type: &[u8; 16]) -> Vec<u8> {
        const STREAM_PROPERTIES: [u8; 16] = [
            0x91, 0x07, 0xdc, 0xb7, 0xb7, 0xa9, 0xcf, 0x11, 0x8e, 0xe6, 0x00, 0xc0, 0x0c, 0x20,
            0x53, 0x65,
        ];
        let mut sp = cat(&[&STREAM_PROPERTIES, &78u64.to_le_bytes(), stream_type]);
        sp = pad(sp, 78);
        let size = (30 + sp.len()) as u64;
        cat(&[&ASF_HEADER, &size.to_le_bytes(), &le32(1), &[1, 2], &sp])
    }

    /// An EBML header with `doctype`, then a Segment/Tracks/TrackEntry per track type.
    fn matroska(doctype: &[u8], tracks: &[u8]) -> Vec<u8> {
        let mut doc = vec![0x42, 0x82, 0x80 | doctype.len() as u8];
        doc.extend_from_slice(doctype);
        let mut ebml = vec![0x1a, 0x45, 0xdf, 0xa3, 0x80 | (doc.len() + 4) as u8];
        ebml.extend_from_slice(&[0x42, 0x86, 0x81, 0x01]);
        ebml.extend_from_slice(&doc);
        let mut entries = Vec::new();
        for (i, &t) in tracks.iter().enumerate() {
            entries.extend_from_slice(&[0xae, 0x86, 0xd7, 0x81, i as u8 + 1, 0x83, 0x81, t]);
        }
        ebml.extend_from_slice(&[0x18, 0x53, 0x80, 0x67, 0x01, 0, 0, 0, 0, 0, 0, 0x40]);
        ebml.extend_from_slice(&[0x16, 0x54, 0xae, 0x6b, 0x80 | entries.len() as u8]);
        ebml.extend_from_slice(&entries);
        ebml
    }

    fn ftyp(brand: &[u8]) -> Vec<u8> {
        cat(&[
            &[0, 0, 0, 0x18],
            b"ftyp",
            brand,
            &[0, 0, 0, 0],
            brand,
            b"isom",
        ])
    }

    fn bmp() -> Vec<u8> {
        let mut v = cat(&[b"BM", &le32(58), &[0; 4], &le32(54), &le32(40)]);
        v.extend_from_slice(&le32(1)); // width
        v.extend_from_slice(&le32(1)); // height
        v.extend_from_slice(&[1, 0, 24, 0]);
        pad(v, 58)
    }

    fn emf() -> Vec<u8> {
        let mut v = cat(&[&le32(1), &le32(108)]);
        v = pad(v, 40);
        v.extend_from_slice(b" EMF");
        v.extend_from_slice(&le32(0x10000));
        pad(v, 108)
    }

    fn ole2() -> Vec<u8> {
        let mut v = vec![0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
        v = pad(v, 24);
        v.extend_from_slice(&[0x3e, 0, 3, 0, 0xfe, 0xff, 9, 0, 6, 0]);
        pad(v, 512)
    }

    fn pe() -> Vec<u8> {
        let mut v = pad(b"MZ\x90\0\x03".to_vec(), 0x80);
        v[0x3c] = 0x40;
        v[0x40..0x44].copy_from_slice(b"PE\0\0");
        v[0x44..0x46].copy_from_slice(&0x8664u16.to_le_bytes());
        v
    }

    const MAIL: &[u8] = b"Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n\
\tby mail.example.com with ESMTP id 12345\r\n\
From: Alice <alice@example.org>\r\n\
To: bob@example.com\r\n\
Subject: the report\r\n\
Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
Hello Bob.\r\n";

    /// One realistic sample of every format, made by the real encoder where a crate
    /// here has one.
    fn samples() -> Vec<(Format, Vec<u8>)> {
        use Format::*;
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(b"hello\n").unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(b"hello\n").unwrap();
        let mut mbox = b"From alice@example.org Mon Nov 23 10:00:00 2026\n".to_vec();
        mbox.extend(MAIL.iter().filter(|&&b| b != b'\r'));
        let uu = b"some notes\n\nbegin 644 hello.txt\n\
M:&5L;&\\@=V]R;&0L(\'1H:7,@:7,@82!U=65N8V]D960@=&5S=\"!F:6QE(\'=I\n\
*<VAO<G0@=&%I;   \n`\nend\n";
        let reg16: Vec<u8> = "\u{feff}Windows Registry Editor Version 5.00\r\n\r\n[HKEY_CURRENT_USER\\Software\\X]\r\n\"a\"=\"b\"\r\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let mp3_frame = pad(vec![0xff, 0xfb, 0x90, 0x64], 417);
        vec![
            (Zip, zip()),
            (Gzip, gzip()),
            (Bzip2, bz.finish().unwrap()),
            (Xz, xz.finish().unwrap()),
            (Zstd, zstd::encode_all(&b"hello\n"[..], 3).unwrap()),
            (Tar, tar(false)),
            (Tar, tar(true)),
            // `7z a` and `gcab -c` output's first 32 bytes.
            (
                SevenZip,
                b"7z\xbc\xaf\x27\x1c\x00\x04\xca\x4e\x53\xd6\x0a\0\0\0\0\0\0\0\x52\0\0\0\0\0\0\0\x4b\xaa\xb2\x9a"
                    .to_vec(),
            ),
            // `cpio -o -H newc`.
            (
                Cpio,
                b"070701009900C2000081A4000000000000000000000001\
6B0465BA00000006000000FE0000000000000000000000000000000600000000a.txt\0hello\n"
                    .to_vec(),
            ),
            (
                Cab,
                b"MSCF\0\0\0\0P\0\0\0\0\0\0\0,\0\0\0\0\0\0\0\x03\x01\x01\0\x01\0\0\0".to_vec(),
            ),
            (Rar, b"Rar!\x1a\x07\x01\x00\x33\x92\xb5\xe5\x0a\x01\x05\x06\x00\x05\x01\x01\x80\x80\x00".to_vec()),
            (Mail, MAIL.to_vec()),
            (Mail, [b"\r\n  \n", MAIL].concat()),
            (Mbox, mbox),
            (UuEncoded, uu.to_vec()),
            (Ole2, ole2()),
            (Pdf, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec()),
            (Pdf, [&[b' '; 1000][..], b"%PDF-1.4\n"].concat()),
            (Rtf, b"{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Times;}} Hello\\par }".to_vec()),
            (
                BinHex,
                b"(This file must be converted with BinHex 4.0)\r\r:$f*TEQKPH#jdCA0d,R0TG!\"6594%8dP8)3#3\"!".to_vec(),
            ),
            (Pe, pe()),
            (Pe, b"MZ".to_vec()),
            (
                Elf,
                b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0\x3e\0\x01\0\0\0\xd0\x23\0\0\0\0\0\0".to_vec(),
            ),
            (MachO, b"\xcf\xfa\xed\xfe\x0c\0\0\x01\0\0\0\0\x02\0\0\0".to_vec()),
            (MachO, b"\xfe\xed\xfa\xce\0\0\0\x12\0\0\0\0".to_vec()),
            (MachO, b"\xca\xfe\xba\xbe\0\0\0\x02\x01\0\0\x07\0\0\0\x03".to_vec()),
            (JavaClass, b"\xca\xfe\xba\xbe\0\0\0\x34\0\x1d\x0a\0\x06\0\x0f".to_vec()),
            (Jpeg, b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0".to_vec()),
            (Jpeg, b"\xff\xd8\xff\xe1\x00\x16Exif\0\0".to_vec()),
            (Gif, b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff!\xf9\x04\x01\0\0\0\0,".to_vec()),
            (Gif, b"GIF87a\x0a\0\x0a\0\x91\0\0".to_vec()),
            (Png, b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec()),
            (Bmp, bmp()),
            (Tiff, b"II*\0\x08\0\0\0\x0a\0\0\x01\x03\0".to_vec()),
            (Tiff, b"MM\0*\0\0\0\x08\0\x0a\x01\0".to_vec()),
            (Emf, emf()),
            (Eps, b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n%%EndComments\n".to_vec()),
            (Eps, b"\xc5\xd0\xd3\xc6\x20\0\0\0\x10\x02\0\0\0\0\0\0".to_vec()),
            (Psd, b"8BPS\0\x01\0\0\0\0\0\0\0\x03\0\0\0\x01\0\0\0\x01\0\x08\0\x03".to_vec()),
            (Cdr, riff(b"CDRA", b"vrsn\x02\0\0\0\x2c\x01")),
            (Cdr, riff(b"cdr7", b"vrsn\x02\0\0\0\xbc\x02")),
            (Mp3, b"ID3\x04\0\0\0\0\x02\x01TIT2\0\0\0\x05\0\0\0song".to_vec()),
            (Mp3, mp3_frame),
            (Mp3, b"\xff\xf3\x84\xc4\0\0".to_vec()),
            (Flac, b"fLaC\0\0\0\x22\x10\0\x10\0\0\0\x0e\0".to_vec()),
            (Ape, b"MAC \x96\x0f\0\0\x34\0\0\0\x18\0\0\0".to_vec()),
            (Ogg, b"OggS\0\x02\0\0\0\0\0\0\0\0\x36\x12\0\0\0\0\0\0\x01vorbis".to_vec()),
            (Aac, b"\xff\xf1\x50\x80\x02\x1f\xfc\x21\x00".to_vec()),
            (Aac, b"\xff\xf9\x4c\x80\x02\x1f\xfc".to_vec()),
            (Wma, asf(&ASF_AUDIO_MEDIA)),
            (Ac3, b"\x0b\x77\x3e\x71\x0e\x40\xe1\xff".to_vec()),
            (
                Wav,
                riff(
                    b"WAVE",
                    b"fmt \x10\0\0\0\x01\0\x01\0\x44\xac\0\0\x88\x58\x01\0\x02\0\x10\0data\0\0\0\0",
                ),
            ),
            (Mka, matroska(b"matroska", &[2])),
            (Ra, b".ra\xfd\0\x04\0\0.ra4".to_vec()),
            (Midi, b"MThd\0\0\0\x06\0\x01\0\x02\x01\xe0MTrk".to_vec()),
            (Cda, riff(b"CDDA", b"fmt \x18\0\0\0\x01\0\x01\0")),
            (Flv, b"FLV\x01\x05\0\0\0\x09\0\0\0\0\x12".to_vec()),
            (F4v, ftyp(b"f4v ")),
            (
                Avi,
                riff(b"AVI ", b"LIST\xc0\0\0\0hdrlavih\x38\0\0\0\x35\x82\0\0strhvidsH264"),
            ),
            (ThreeGpp, ftyp(b"3gp5")),
            (ThreeGpp, ftyp(b"3g2a")),
            (
                Divx,
                riff(b"AVI ", b"LIST\xc0\0\0\0hdrlavih\x38\0\0\0\x35\x82\0\0strhvidsdivx"),
            ),
            (Mkv, matroska(b"matroska", &[1, 2])),
            (Mkv, matroska(b"webm", &[1])),
            (Mov, ftyp(b"qt  ")),
            (Mov, ftyp(b"isom")),
            (Mov, b"\0\0\0\x08wide\0\x10\0\0mdat".to_vec()),
            (Asf, asf(&ASF_VIDEO_MEDIA)),
            (Rm, b".RMF\0\0\0\x12\0\x01\0\0\0\0\0\x05PROP".to_vec()),
            (Vob, b"\0\0\x01\xba\x44\0\x04\0\x04\x01\x01\x89\xc3\xf8".to_vec()),
            (Bik, b"BIKi\x10\x20\0\0\x64\0\0\0".to_vec()),
            (Swf, b"FWS\x0a\x20\0\0\0\x78\0\x05".to_vec()),
            (Swf, b"CWS\x0d\x20\x11\0\0x\x9c".to_vec()),
            (Html, b"<!DOCTYPE html>\n<html><head><title>x</title></head></html>\n".to_vec()),
            (Html, b"\xef\xbb\xbf\n  <HTML>\n<BODY onload=x()>".to_vec()),
            (Html, b"<!-- generated -->\n<script>document.write('x')</script>".to_vec()),
            (Html, b"some junk text first\n<iframe src=\"http://x\" width=0>".to_vec()),
            (Csv, b"name,age,city\nalice,30,paris\nbob,25,\"new york, ny\"\n".to_vec()),
            (Csv, b"a;b;c\r\n1;2;3\r\n".to_vec()),
            (RegText, b"Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\X]\r\n".to_vec()),
            (RegText, b"REGEDIT4\n\n[HKEY_CURRENT_USER\\X]\n".to_vec()),
            (RegText, reg16),
            (Text, "Hello, world.\nThis is plain text, café.\n".as_bytes().to_vec()),
            (
                Text,
                "\u{feff}UTF-16 text\r\n"
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect(),
            ),
            (Unknown, (0u8..=255).cycle().take(600).collect()),
        ]
    }

    #[test]
    fn every_sample_is_recognized() {
        let samples = samples();
        for (want, data) in &samples {
            assert_eq!(
                recognize(data),
                *want,
                "{want:?}: {:02x?}",
                &data[..data.len().min(48)]
            );
        }
        for f in Format::all() {
            assert!(samples.iter().any(|(g, _)| g == f), "no sample of {f:?}");
        }
    }

    #[test]
    fn never_panics_on_a_prefix() {
        for (_, data) in samples() {
            for n in 0..=data.len().min(64) {
                recognize(&data[..n]);
            }
        }
        assert_eq!(recognize(b""), Format::Unknown);
    }

    #[test]
    fn negatives() {
        let junk: Vec<u8> = (0..2000u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert_eq!(recognize(&junk), Format::Unknown);
        let mut from = b"From: x@y\r\n".to_vec();
        from.extend_from_slice(&junk);
        assert_eq!(
            recognize(&from),
            Format::Unknown,
            "a From: line in binary junk"
        );
        assert_eq!(
            recognize(b"From: alice\n\nhello\n"),
            Format::Text,
            "one header is not mail"
        );
        assert_eq!(
            recognize(b"Name: x\nAge: 3\n\nbody\n"),
            Format::Text,
            "headers, none of them mail's"
        );
        let mut late = b"Notes on markup.\n".repeat(70);
        late.extend_from_slice(b"<html>\n");
        assert_eq!(recognize(&late), Format::Text, "<html> after the first KiB");
        assert_eq!(
            recognize(b"Wrap the page in the <html> element, then <body>.\n"),
            Format::Text,
            "tags mentioned in prose"
        );
        assert_eq!(recognize(b"<header>not html</header>\n"), Format::Text);
        assert_eq!(recognize(b"Hello, world.\nBye.\n"), Format::Text, "not csv");
        assert_eq!(
            recognize(b"From bob\nSubject: x\nTo: y\n\n"),
            Format::Text,
            "mbox without a date"
        );
        assert_eq!(
            recognize(b"begin 644 x.txt\nnot uu data at all!\n"),
            Format::Text
        );
        assert_eq!(
            recognize(b"BM plain text"),
            Format::Text,
            "BM without a header"
        );
        assert_eq!(recognize(b"RIFF\x10\0\0\0WEBPVP8 "), Format::Unknown);
        assert_eq!(
            recognize(b"%!PS-Adobe-3.0\n%%Pages: 1\n"),
            Format::Text,
            "PostScript, not EPS"
        );
        assert_eq!(
            recognize(b"\x1a\x45\xdf\xa3\x84\x42\x82\x81x"),
            Format::Unknown
        );
        assert_eq!(recognize(b"\xca\xfe\xba\xbe"), Format::Unknown);
        let mut nul = b"text".to_vec();
        nul.push(0);
        assert_eq!(recognize(&nul), Format::Unknown);
    }

    #[test]
    fn binary_cpio_in_both_byte_orders() {
        // An old binary header (magic 0o070707 = 0x71c7) in each byte order.
        let mut le = [0u8; 26];
        let mut be = [0u8; 26];
        for (i, w) in [0x71c7u16, 0, 0, 0o100644, 0, 0, 1, 0, 0, 0, 2, 0, 1]
            .iter()
            .enumerate()
        {
            le[2 * i..2 * i + 2].copy_from_slice(&w.to_le_bytes());
            be[2 * i..2 * i + 2].copy_from_slice(&w.to_be_bytes());
        }
        for header in [le, be] {
            let mut data = header.to_vec();
            data.extend_from_slice(b"a\0x\0");
            assert_eq!(recognize(&data), Format::Cpio, "{:02x?}", &data[..2]);
            assert!(crate::formats::cpio::open(crate::formats::Blob::borrowed(&data)).is_ok());
        }
    }

    #[test]
    fn tar_checksum_is_parsed_in_place() {
        let mut t = tar(true);
        assert_eq!(recognize(&t), Format::Tar);
        t[0] ^= 1;
        assert_ne!(recognize(&t), Format::Tar, "checksum no longer matches");
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(Format::all().len(), NAMES.len());
        assert_eq!(Format::all().last(), Some(&Format::Unknown));
        for (i, &f) in Format::all().iter().enumerate() {
            assert_eq!(f as usize, i, "NAMES follows the declaration order");
            assert_eq!(Format::from_name(f.name()), Some(f));
            assert_eq!(Format::from_name(&f.name().to_uppercase()), Some(f));
            assert_eq!(f.to_string(), f.name());
            if let Some(k) = f.kav_name() {
                assert!(k.starts_with("KAV_FF_"));
                assert_eq!(Format::from_name(k), Some(f));
                assert_eq!(Format::from_name(&k.to_lowercase()), Some(f));
            }
            assert_eq!(
                f.kav_name().is_none(),
                f.is_container() || f == Format::Unknown
            );
        }
        assert_eq!(
            Format::from_name("KAV_FF_GENERAL_HTML_STRICT"),
            Some(Format::Html)
        );
        assert_eq!(Format::from_name("kav_ff_video_rtmp"), Some(Format::Flv));
        assert_eq!(Format::from_name("KAV_FF_GENERAL_TXT"), Some(Format::Text));
        assert_eq!(Format::from_name("7Z"), Some(Format::SevenZip));
        assert_eq!(Format::from_name("KAV_FF_NOPE"), None);
        let mut names: Vec<&str> = Format::all().iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Format::all().len(), "short names are unique");
    }
}
