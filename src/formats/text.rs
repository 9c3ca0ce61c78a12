//! Text objects and ClamAV's script normalizer: which objects ClamAV treats as text,
//! and the normalized copy of them that it matches target-0 and target-7 (`ASCII`)
//! signatures against. Semantics read from ClamAV 1.4 and checked against
//! `clamscan` 1.4.6; the code is written from those rules, not translated.
//!
//! # Which objects are text
//!
//! `cli_determine_fmap_type` (`libclamav/filetypes.c`) looks only at the first
//! [`TYPE_WINDOW`] (1024) bytes, in this order:
//!
//! 1. The offset-0 magic numbers of the built-in file types (`cli_compare_ftm_file`,
//!    the `0:` lines of `filetypes_int.h` valid at functionality level 215). A hit is
//!    never text, and several are plain words: `MZ`, `BM`, `MM`, `GIF`, `From `,
//!    `To: `, `Date: `, `Subject: `, `begin `, `[aliases]`, `{\rt`, `%PDF-` ...
//! 2. `cli_texttype` (`libclamav/textdet.c`) on that window:
//!    * `td_isascii`: no byte of class "never in text" (`0x00-0x06`, `0x0b`,
//!      `0x0e-0x1a`, `0x1c-0x1f`, `0x7f`); every byte >= `0x80` is allowed → ASCII.
//!    * `td_isutf8` comes next, but can never succeed where `td_isascii` failed: it
//!      rejects the same "never in text" bytes and `td_isascii` accepts every byte
//!      >= `0x80`. So `CL_TYPE_TEXT_UTF8` does not occur and UTF-8 text is ASCII.
//!    * `td_isutf16`: a BOM `FF FE` means little-endian, `FE FF` big-endian; without
//!      a BOM the data is read as *big-endian*. The code units from byte 2 on (the
//!      first two bytes are never checked; an odd last byte is ignored) are checked:
//!      a unit `FFFE` rejects; without a BOM, so does a unit below 128 that is not
//!      plain text. With a BOM such units are only counted, against a limit of half
//!      the window length in bytes that the count cannot reach, so any BOM'd window
//!      without an `FFFE` unit is UTF-16. And binary data is "UTF-16BE text" unless
//!      some even offset >= 2 holds `00 xx` with `xx` a control byte or NUL (e.g. an
//!      aligned `00 00`), `00 7f`, or `FF FE`.
//!    * anything else is binary data (not text).
//! 3. The built-in file-type signatures (`1:` lines of `filetypes_int.h`: HTML tags
//!    such as `<script`, `<html>`, `<a ... href`; mail header pairs; MHTML;
//!    `%PDF-x.`; Office XML; `MZ..PE\0\0`; MBR `55 AA` at 510; `.pyc`; LHA;
//!    self-extractor markers ...) run over the window (`cli_ac_scanbuff`). Hits are
//!    resolved in the order they complete: a hit replaces the current type when its
//!    type is greater in `cli_file_t` order, is a self-extractor or later type, or
//!    is `MSEXE`. A resolved type other than a self-extractor retypes the object
//!    (so `<script` then `PK\x03\x04` leaves it text). Otherwise, HTML in the window
//!    decoded as `cli_utf16toascii` (`libclamav/entconv.c`) does (`(hi << 4) + lo`
//!    per byte pair) retypes it, and so does HTML in the window converted by
//!    `encoding_normalize_toascii` when it starts with a UTF-16 mark (`FF FE`,
//!    `FE FF`, `<\0?\0`, `\0<\0?`).
//!
//! Then, in `cli_magic_scan` (`libclamav/scanners.c`), objects of 5 bytes or fewer
//! are not scanned at all, and for an ASCII-typed object the raw scan's file-type
//! pass over the *whole* object (`scanraw`, `dettype`) turns it into HTML when that
//! pass resolves to HTML (same resolution; the `EOF-512` DMG marker counts there);
//! HTML goes to the HTML normalizer instead of this one. Other types found there
//! (mail, self-extractors ...) leave the script scan in place; their extraction is
//! not modelled here.
//!
//! # Normalization
//!
//! Every text kind (ASCII, UTF-16LE, UTF-16BE) runs `cli_scanscript`
//! (`libclamav/scanners.c`) on its *raw bytes*; UTF-16 is not decoded. The rule is
//! `text_normalize_buffer` (`libclamav/textnorm.c`), byte by byte:
//!
//! * `A-Z` become `a-z`;
//! * `\t \n \v \f \r` and space are whitespace: a run of them becomes one space
//!   (a run at the start also gives one space; nothing is trimmed);
//! * the other bytes `0x21..=0x7f` are kept;
//! * every other control byte (NUL included) and every byte >= `0x80` is dropped
//!   *without* ending a whitespace run (`"a \0 b"` → `"a b"`, `"caf\u{e9}"` →
//!   `"caf"`).
//!
//! So UTF-16LE/BE text loses its zero bytes and becomes its ASCII letters, lowered.
//! Objects larger than `MaxScriptNormalize` ([`MAX_SCRIPT_NORMALIZE`], 20 MiB, the
//! original size) are not normalized.
//!
//! # How ClamAV scans the normalized stream
//!
//! Target-7 signatures match *only* the normalized stream (the raw scan of an ASCII
//! object uses the generic root only); target-0 signatures match the raw object and,
//! again, the normalized stream. Offsets count in the normalized stream.
//!
//! Unless target 7 has relative-offset (`EOF-n` ...) signatures, the stream is
//! scanned in buffers: input is normalized a page ([`PAGE`] bytes) at a time into a
//! buffer of [`SCAN_CHUNK`] + `carry` bytes, `carry` being the longest target-7
//! pattern (`maxpatlen` of root 7, 0 without target-7 signatures); when the next page
//! might not fit, the buffer is scanned, its last `carry` bytes are kept as the start
//! of the next buffer, and the whitespace state is reset (a whitespace run crossing
//! that point yields two spaces). The offset given to a buffer is the sum of the
//! lengths of the previous buffers, carried bytes included. A target-0 body spanning
//! two buffers is therefore missed (checked with clamscan). [`normalize_chunked_into`]
//! reproduces these buffers. `EOF-n` target-0 signatures never match in this mode.
//!
//! With relative-offset target-7 signatures, ClamAV writes the whole normalized
//! stream to a temporary file and scans it as one object (target 7 and 0, all offset
//! kinds, `EOF-n` relative to the normalized length): [`normalize_file_into`].
//! [`normalize_into`] gives the plain stream, which differs from both only at the
//! 128 KiB boundaries.
//!
//! # Use in the engine
//!
//! Scan the raw object as today (target 0 only for text: target 7 never sees raw
//! bytes). Then, if [`script_scan_applies`], scan the normalized copy with the
//! target-0 and target-7 signatures, offsets relative to the normalized stream:
//! per [`ScanWindow`] of [`normalize_chunked_into`] (`carry` = longest target-7
//! pattern, `0` if none), or the whole [`normalize_file_into`] output when some
//! target-7 signature has an `EOF-` offset. A match in either pass is a detection
//! of the object. Logical signatures are evaluated per pass on separate counts (a
//! subsignature matching only raw and one matching only normalized do not combine;
//! checked with clamscan); target-7 logical signatures see only the normalized pass.

use std::ops::Range;

#[cfg(target_arch = "x86_64")]
mod simd;

/// ClamAV types an object from its first 1024 bytes (`CL_FILE_MBUFF_SIZE`).
pub const TYPE_WINDOW: usize = 1024;

/// Objects of at most this many bytes are not scanned by ClamAV at all
/// (`cli_magic_scan`: "File is too small").
pub const MAX_IGNORED_LEN: usize = 5;

/// `MaxScriptNormalize` default (`CLI_DEFAULT_MAXSCRIPTNORMALIZE`): larger objects
/// are not normalized.
pub const MAX_SCRIPT_NORMALIZE: usize = 20 * 1024 * 1024;

/// `SCANBUFF`: the size of the buffers the normalized stream is scanned in.
pub const SCAN_CHUNK: usize = 131_072;

/// The fmap page size: the normalizer reads its input a page at a time.
pub const PAGE: usize = 4096;

/// How ClamAV classifies an object as text (`CL_TYPE_TEXT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextKind {
    /// `CL_TYPE_TEXT_ASCII`: plain ASCII, ISO-8859 or "extended ASCII" bytes.
    Ascii,
    /// `CL_TYPE_TEXT_UTF16LE`: starts with the BOM `FF FE`.
    Utf16Le,
    /// `CL_TYPE_TEXT_UTF16BE`: starts with `FE FF`, or has no BOM and passes the
    /// UTF-16 check read big-endian (this includes much random binary data).
    Utf16Be,
}

/// One buffer ClamAV's script scan hands to the matcher: `out[range]` of the `out`
/// filled by [`normalize_chunked_into`], scanned as if it started at stream offset
/// `base`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanWindow {
    /// The bytes of the buffer, as a range of the normalized output.
    pub range: Range<usize>,
    /// The offset ClamAV assigns to the first byte of the buffer.
    pub base: u64,
}

/// How ClamAV would classify the object as text, if at all (`None`: some other file
/// type, HTML, or binary data). Looks at the first [`TYPE_WINDOW`] bytes only.
pub fn text_kind(data: &[u8]) -> Option<TextKind> {
    let head = &data[..data.len().min(TYPE_WINDOW)];
    if magic_type_at_start(head) {
        return None;
    }
    let kind = texttype(head)?;
    if retyped_by_window(head) {
        return None;
    }
    Some(kind)
}

/// Whether ClamAV runs its script normalizer on `data`: a text kind, more than
/// [`MAX_IGNORED_LEN`] and at most [`MAX_SCRIPT_NORMALIZE`] bytes, and not an ASCII
/// object turned into HTML by a tag anywhere in it.
pub fn script_scan_applies(data: &[u8]) -> bool {
    if data.len() <= MAX_IGNORED_LEN || data.len() > MAX_SCRIPT_NORMALIZE {
        return false;
    }
    match text_kind(data) {
        None => false,
        Some(TextKind::Ascii) => !html_by_raw_scan(data),
        Some(_) => true,
    }
}

/// Appends the normalized form of `data` to `out` (cleared first), as ClamAV's script
/// normalizer does, as one stream; returns false (leaving `out` empty) if the object
/// is not text or normalization is not applicable ([`script_scan_applies`]).
///
/// The stream equals ClamAV's except at its 128 KiB buffer boundaries, where ClamAV
/// restarts whitespace folding and (in the default mode) misses bodies that span
/// two buffers; [`normalize_chunked_into`] and [`normalize_file_into`] reproduce
/// those exactly.
pub fn normalize_into(data: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    if !script_scan_applies(data) {
        return false;
    }
    out.reserve(data.len() + SLACK);
    let mut space = false;
    normalize_append(data, out, &mut space);
    true
}

/// Like [`normalize_into`], but reproduces the buffers ClamAV scans when target 7 has
/// no relative-offset signatures: `out` receives the normalized stream (each byte
/// once, whitespace state reset at every buffer boundary as ClamAV does) and
/// `windows` (cleared first) the buffers in order, each overlapping the previous one
/// by `carry` bytes (the longest target-7 pattern, 0 when there is none). Signatures
/// are to be matched within each window separately.
pub fn normalize_chunked_into(
    data: &[u8],
    carry: usize,
    out: &mut Vec<u8>,
    windows: &mut Vec<ScanWindow>,
) -> bool {
    chunked_with(data, carry, out, windows, normalize_append)
}

/// [`normalize_chunked_into`] with the normalizer as a parameter (the tests run it
/// with [`normalize_append_scalar`] too).
fn chunked_with(
    data: &[u8],
    carry: usize,
    out: &mut Vec<u8>,
    windows: &mut Vec<ScanWindow>,
    append: fn(&[u8], &mut Vec<u8>, &mut bool),
) -> bool {
    out.clear();
    windows.clear();
    if !script_scan_applies(data) {
        return false;
    }
    out.reserve(data.len() + SLACK);
    let capacity = SCAN_CHUNK + carry;
    let mut space = false;
    // The buffer being filled is out[win_start..]; after a flush it starts with
    // the `carry` bytes kept from the previous one.
    let mut win_start = 0usize;
    let mut base = 0u64;
    let mut at = 0usize;
    loop {
        let len = PAGE.min(data.len() - at);
        let used = out.len() - win_start;
        if len == 0 || used + len > capacity {
            windows.push(ScanWindow {
                range: win_start..out.len(),
                base,
            });
            base += used as u64;
            if len == 0 {
                break;
            }
            if used > carry {
                win_start = out.len() - carry;
            }
            space = false;
        }
        append(&data[at..at + len], out, &mut space);
        at += len;
    }
    true
}

/// Like [`normalize_into`], for when target 7 has relative-offset (`EOF-n` ...)
/// signatures: ClamAV then writes the normalized stream to a file and scans it as one
/// object, with offsets (`EOF-n` included) in that stream and no buffer boundaries.
/// The input is normalized in blocks of [`SCAN_CHUNK`] + `carry` bytes (`carry` as
/// for [`normalize_chunked_into`]) and the whitespace state resets at each block,
/// which this reproduces.
pub fn normalize_file_into(data: &[u8], carry: usize, out: &mut Vec<u8>) -> bool {
    file_with(data, carry, out, normalize_append)
}

/// [`normalize_file_into`] with the normalizer as a parameter.
fn file_with(
    data: &[u8],
    carry: usize,
    out: &mut Vec<u8>,
    append: fn(&[u8], &mut Vec<u8>, &mut bool),
) -> bool {
    out.clear();
    if !script_scan_applies(data) {
        return false;
    }
    out.reserve(data.len() + SLACK);
    for block in data.chunks(SCAN_CHUNK + carry) {
        let mut space = false;
        append(block, out, &mut space);
    }
    true
}

/// What `text_normalize_buffer` makes of each byte: 0 drops it, a space starts or
/// continues a whitespace run, anything else is written.
static NORMALIZED: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = match b {
            b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' => b' ',
            0x21..=0x7f => b.to_ascii_lowercase(),
            _ => 0,
        };
        i += 1;
    }
    t
};

/// Capacity past its output that [`normalize_append`] may use as scratch: callers
/// that reserve the input length plus this up front never make it reallocate.
const SLACK: usize = 64;

/// Normalizes `input` onto the end of `out`; `space` is whether the last byte
/// written was a folded whitespace run (carried across calls like ClamAV's state).
/// Uses the 64-bytes-at-a-time SIMD path (`text/simd.rs`) where the CPU has SSSE3,
/// else [`normalize_append_scalar`]; both give the same output.
fn normalize_append(input: &[u8], out: &mut Vec<u8>, space: &mut bool) {
    #[cfg(target_arch = "x86_64")]
    if simd::normalize_append(input, out, space) {
        return;
    }
    normalize_append_scalar(input, out, space);
}

/// The byte-at-a-time normalizer: the fallback without SSSE3 and the reference the
/// SIMD path is tested against.
fn normalize_append_scalar(input: &[u8], out: &mut Vec<u8>, space: &mut bool) {
    let start = out.len();
    out.resize(start + input.len(), 0);
    let buf = &mut out[start..];
    let mut n = 0;
    let mut sp = *space;
    // Every byte is written at `n`, which only advances past a kept one, so
    // `n <= i < buf.len()`; `n.min(i)` says so and lets the compiler drop the bounds
    // check. Blocks of 8 bytes without whitespace (most of them) take a path whose
    // only loop-carried state is `n`; the whitespace-run state is the slow path.
    let mut i = 0;
    while i + 8 <= input.len() {
        let block = &input[i..i + 8];
        let spaces = block
            .iter()
            .fold(false, |acc, &b| acc | (NORMALIZED[b as usize] == b' '));
        if spaces {
            for &b in block {
                normalize_byte(NORMALIZED[b as usize], buf, &mut n, i, &mut sp);
                i += 1;
            }
            continue;
        }
        let before = n;
        for &b in block {
            let c = NORMALIZED[b as usize];
            buf[n.min(i)] = c;
            n += usize::from(c != 0);
            i += 1;
        }
        sp &= n == before;
    }
    for &b in &input[i..] {
        normalize_byte(NORMALIZED[b as usize], buf, &mut n, i, &mut sp);
        i += 1;
    }
    out.truncate(start + n);
    *space = sp;
}

/// One byte of the general case: drops, writes, or folds into a whitespace run.
#[inline(always)]
fn normalize_byte(c: u8, buf: &mut [u8], n: &mut usize, i: usize, sp: &mut bool) {
    let is_space = c == b' ';
    buf[(*n).min(i)] = c;
    *n += usize::from(c != 0 && !(is_space && *sp));
    *sp = if c == 0 { *sp } else { is_space };
}

/// `textdet.c` byte classes: never in text, plain ASCII text, or high (ISO-8859 and
/// extended ASCII, both accepted by `td_isascii`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Never,
    Text,
    High,
}

const fn class(b: u8) -> Class {
    match b {
        0x07..=0x0a | 0x0c | 0x0d | 0x1b | 0x20..=0x7e => Class::Text,
        0x80..=0xff => Class::High,
        _ => Class::Never,
    }
}

/// `cli_texttype`: the text kind of a typing window, `None` for binary data.
fn texttype(w: &[u8]) -> Option<TextKind> {
    if w.iter().all(|&b| class(b) != Class::Never) {
        Some(TextKind::Ascii)
    } else {
        is_utf16(w)
    }
}

fn is_utf16(w: &[u8]) -> Option<TextKind> {
    if w.len() < 2 {
        return None;
    }
    let (little, bom) = match (w[0], w[1]) {
        (0xff, 0xfe) => (true, true),
        (0xfe, 0xff) => (false, true),
        _ => (false, false),
    };
    let mut bad = 0usize;
    for pair in w[2..].chunks_exact(2) {
        let unit = if little {
            u16::from_le_bytes([pair[0], pair[1]])
        } else {
            u16::from_be_bytes([pair[0], pair[1]])
        };
        if unit == 0xfffe {
            return None;
        }
        if unit < 128 && class(unit as u8) != Class::Text {
            if !bom {
                return None;
            }
            bad += 1;
        }
    }
    if bom && bad >= w.len() / 2 {
        return None;
    }
    Some(if little {
        TextKind::Utf16Le
    } else {
        TextKind::Utf16Be
    })
}

/// Offset-0 (and fixed-offset) magic numbers of the built-in file types valid at
/// functionality level 215 (`filetypes_int.h`, `0:` lines); any hit means "not text".
static MAGICS: &[(usize, &[u8])] = &[
    (0, b"\x1f\x8b"),
    (0, b"#@~^"),
    (0, b"(This file must be converted with BinHex 4.0)"),
    (0, b".RMF"),
    (0, b">From "),
    (0, b"BM"),
    (0, b"BZh"),
    (0, b"Date: "),
    (0, b"Delivered-To: "),
    (0, b"Delivery-date: "),
    (0, b"Envelope-to: "),
    (0, b"For: "),
    (0, b"From "),
    (0, b"From: "),
    (0, b"Hi. This is the qmail-send"),
    (0, b"ID3"),
    (0, b"ITSF"),
    (0, b"MZ"),
    (0, b"Message-ID: "),
    (0, b"Message-Id: "),
    (0, b"OggS"),
    (0, b"PK\x03\x04"),
    (0, b"PK00PK\x03\x04"),
    (0, b"RIFF"),
    (0, b"RIFX"),
    (0, b"Rar!"),
    (0, b"Received: "),
    (0, b"Return-Path: "),
    (0, b"Return-path: "),
    (0, b"SZDD"),
    (0, b"Subject: "),
    (0, b"To: "),
    (0, b"X-Apparently-To: "),
    (0, b"X-EVS"),
    (0, b"X-Envelope-From: "),
    (0, b"X-Original-To: "),
    (0, b"X-Real-To: "),
    (0, b"X-Sieve: "),
    (0, b"X-Symantec-"),
    (0, b"X-UIDL: "),
    (0, b"`\xea"),
    (0, b"begin "),
    (0, b"v:\nReceived: "),
    (0, b"v:\r\nReceived: "),
    (0, b"x\x9f>\""),
    (0, b"\x7fELF"),
    (0, b"\xb6\xb9\xac\xae\xfe\xff\xff\xff"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
    (0, b"\xff\xfb\x90"),
    (0, b"SIP-HIT (SIP/H"),
    (257, b"ustar"),
    (0, b"[aliases]"),
    (0, b"\xce\xfa\xed\xfe"),
    (0, b"\xcf\xfa\xed\xfe"),
    (0, b"\xfe\xed\xfa\xce"),
    (0, b"\xfe\xed\xfa\xcf"),
    (0, b"7z\xbc\xaf'\x1c"),
    (0, b"Received-SPF: "),
    (0, b"070701"),
    (0, b"070702"),
    (0, b"070707"),
    (0, b"q\xc7"),
    (0, b"\xc7q"),
    (0, b"%PDF-"),
    (0, b"SYMC\x01\x00"),
    (0, b"7\x7f\x06\x82\x00-\xe2\x18"),
    (0, b"7\x7f\x06\x83\x00-\xe2\x18"),
    (0, b"SQLite format 3\x00"),
    (0, b"\xd9\xd5\x05\xf9 \xa1c\xd7"),
    (0, b"FWS"),
    (0, b"MSCF\x00\x00\x00\x00"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n"),
    (0, b"\x00\x00\x01\xb3"),
    (0, b"\x00\x00\x01\xba"),
    (0, b"xar!"),
    (0, b"\xfd7zXZ\x00"),
    (512, b"EFI PART"),
    (4, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
    (0, b"HWP Document File V3.00 \x1a\x01\x02\x03\x04\x05"),
    (0, b"{\\rt"),
    (0, b"%!PS-Adobe-"),
    (
        0,
        b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00F",
    ),
    (0, b"CWS"),
    (0, b"EGGA"),
    (0, b"\x89PNG"),
    (0, b"GIF"),
    (0, b"\xff\xd8\xff"),
    (0, b"II*\x00"),
    (0, b"MM"),
    (0, b"{\n  \"Magic\":\"CLAMJSONv0\""),
    (0, b"ZWS"),
    (0, b"\xe4R\\{\x8c\xd8\xa7M\xae\xb1Sx\xd0)\x96\xd3"),
    (0, b"ALZ\x01"),
];

/// `.pyc` magic numbers of the `0:` lines: two bytes, then `\r\n`.
fn pyc_magic(head: &[u8]) -> bool {
    const PYC2: &[[u8; 2]] = &[
        [0x02, 0x09],
        [0x03, 0x09],
        [0x89, b'.'],
        [0x04, 0x17],
        [0x99, b'N'],
        [0xfc, 0xc4],
        [0xfd, 0xc4],
        [0x87, 0xc6],
        [0x88, 0xc6],
        [b'*', 0xeb],
        [b'+', 0xeb],
        [b'-', 0xed],
        [b'.', 0xed],
        [b';', 0xf2],
        [b'<', 0xf2],
        [b'E', 0xf2],
        [b'Y', 0xf2],
        [b'c', 0xf2],
        [b'm', 0xf2],
        [b'n', 0xf2],
        [b'w', 0xf2],
        [0x81, 0xf2],
        [0x8b, 0xf2],
        [0x8c, 0xf2],
        [0x95, 0xf2],
        [0x9f, 0xf2],
        [0xa9, 0xf2],
        [0xb3, 0xf2],
        [0xb4, 0xf2],
        [0xc7, 0xf2],
        [0xd1, 0xf2],
        [0xd2, 0xf2],
        [0xdb, 0xf2],
        [0xe5, 0xf2],
        [0xef, 0xf2],
        [0xf9, 0xf2],
        [0x03, 0xf3],
        [0x04, 0xf3],
        [0x0a, 0xf3],
        [0xb8, 0x0b],
        [0xc2, 0x0b],
        [0xcc, 0x0b],
        [0xd6, 0x0b],
        [0xe0, 0x0b],
        [0xea, 0x0b],
        [0xf4, 0x0b],
        [0xf5, 0x0b],
        [0xff, 0x0b],
        [0x09, 0x0c],
        [0x13, 0x0c],
        [0x1d, 0x0c],
        [0x1f, 0x0c],
        [b'\'', 0x0c],
        [b';', 0x0c],
        [b'E', 0x0c],
        [b'O', 0x0c],
        [b'X', 0x0c],
        [b'b', 0x0c],
        [b'l', 0x0c],
        [b'v', 0x0c],
        [0x80, 0x0c],
        [0x8a, 0x0c],
        [0x94, 0x0c],
        [0x9e, 0x0c],
        [0xb2, 0x0c],
        [0xbc, 0x0c],
        [0xc6, 0x0c],
        [0xd0, 0x0c],
        [0xda, 0x0c],
        [0xe4, 0x0c],
        [0xee, 0x0c],
        [0xf8, 0x0c],
        [0x02, 0x0d],
        [0x0c, 0x0d],
        [0x16, 0x0d],
        [0x17, 0x0d],
        [b' ', 0x0d],
        [b'!', 0x0d],
        [b'*', 0x0d],
        [b'+', 0x0d],
        [b',', 0x0d],
        [b'-', 0x0d],
        [b'/', 0x0d],
        [b'0', 0x0d],
        [b'1', 0x0d],
        [b'2', 0x0d],
        [b'3', 0x0d],
        [b'>', 0x0d],
        [b'?', 0x0d],
        [0xf0, 0x0d],
        [0x00, 0x01],
        [b'P', 0x01],
    ];
    head.len() >= 4 && &head[2..4] == b"\r\n" && PYC2.contains(&[head[0], head[1]])
}

fn magic_type_at_start(head: &[u8]) -> bool {
    MAGICS
        .iter()
        .any(|&(off, m)| head.get(off) == m.first() && head.get(off..off + m.len()) == Some(m))
        || pyc_magic(head)
}

/// The file types that ClamAV's built-in `1:` (Aho-Corasick) file-type signatures
/// can report for text-like data, in ClamAV's `cli_file_t` order, which decides
/// which of several hits wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ft {
    Msexe,
    MachoUnibin,
    Sis,
    Pdf,
    Java,
    PythonCompiled,
    LhaLzh,
    Mbr,
    Html,
    Mail,
    ZipSfx,
    RarSfx,
    SevenZipSfx,
    CabSfx,
    ArjSfx,
    Nulsft,
    Autoit,
    IshieldMsi,
    Iso9660,
    Dmg,
    Apm,
    Xdp,
    XmlWord,
    XmlXl,
    XmlHwp,
    Mhtml,
    Udf,
}

impl Ft {
    fn is_sfx(self) -> bool {
        matches!(
            self,
            Ft::ZipSfx | Ft::RarSfx | Ft::SevenZipSfx | Ft::CabSfx | Ft::ArjSfx
        )
    }
}

/// The outcome of a file-type scan (`cli_ac_scanbuff` in `AC_SCAN_FT` mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FtScan {
    None,
    Type(Ft),
    /// A `CL_TYPE_IGNORED` signature hit: the scan stops and the object is skipped.
    Ignored,
}

/// Runs the file-type signatures over `hay` and resolves the hits as
/// `cli_ac_scanbuff` does: in the order they complete, a hit replaces the current
/// type if its type is greater, is a self-extractor or later type, or is `MSEXE`.
/// `eof` enables the `EOF-512` DMG signature (only the whole-object scan computes
/// relative offsets).
fn ftype_scan(hay: &[u8], eof: bool, events: &mut Vec<(usize, Ft)>) -> FtScan {
    events.clear();
    html_events(hay, events);
    other_ftype_scan(hay, eof, events)
}

/// [`ftype_scan`] with the HTML hits already in `events`.
fn other_ftype_scan(hay: &[u8], eof: bool, events: &mut Vec<(usize, Ft)>) -> FtScan {
    if pdf_image(hay) {
        return FtScan::Ignored;
    }
    ftype_events(hay, eof, events);
    events.sort_by_key(|e| e.0);
    let mut cur: Option<Ft> = None;
    for &(_, t) in events.iter() {
        if cur.is_none_or(|c| t > c || t >= Ft::ZipSfx || t == Ft::Msexe) {
            cur = Some(t);
        }
    }
    cur.map_or(FtScan::None, FtScan::Type)
}

/// Whether `p` matches `hay` at `at`. With `fold`, uppercase letters of `p` match
/// either case; a NUL in `p` matches any byte.
fn matches_at(hay: &[u8], at: usize, p: &[u8], fold: bool) -> bool {
    hay.get(at..at + p.len()).is_some_and(|h| {
        p.iter().zip(h).all(|(&c, &b)| {
            c == 0 || b == c || (fold && c.is_ascii_uppercase() && b.to_ascii_uppercase() == c)
        })
    })
}

/// Positions in `from..=last_start` where `p` matches (see [`matches_at`]), found by
/// searching for the longest run of exact bytes in `p` and verifying around it.
fn find_pats<'a>(
    hay: &'a [u8],
    p: &'a [u8],
    fold: bool,
    from: usize,
    last_start: usize,
) -> impl Iterator<Item = usize> + 'a {
    let exact = |c: u8| c != 0 && !(fold && c.is_ascii_uppercase());
    let (mut off, mut len, mut run_start) = (0, 0, 0);
    for (i, &c) in p.iter().enumerate() {
        if !exact(c) {
            run_start = i + 1;
        } else if i + 1 - run_start > len {
            (off, len) = (run_start, i + 1 - run_start);
        }
    }
    let end = hay
        .len()
        .checked_sub(p.len())
        .map_or(0, |e| last_start.min(e) + 1);
    let span = if from < end {
        &hay[from + off..end + off + len - 1]
    } else {
        &[][..]
    };
    occurrences(span, &p[off..off + len])
        .map(move |i| from + i)
        .filter(move |&i| matches_at(hay, i, p, fold))
}

/// Occurrences of `needle` in `hay`.
fn occurrences<'a>(hay: &'a [u8], needle: &'a [u8]) -> memchr::memmem::FindIter<'a, 'a> {
    memchr::memmem::find_iter(hay, needle)
}

fn find_exact(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)
        .and_then(|h| occurrences(h, needle).next())
        .map(|i| i + from)
}

/// `(first, starts, gap, second, fold, type)`, the arguments of [`two_part`].
type TwoPart<'a> = (&'a [u8], (usize, usize), (usize, usize), &'a [u8], bool, Ft);

/// A two-part signature `first{gap_min-gap_max}second` whose first part starts in
/// `starts`; pushes a hit where each second part completes.
#[allow(clippy::too_many_arguments)]
fn two_part(
    hay: &[u8],
    first: &[u8],
    starts: (usize, usize),
    gap: (usize, usize),
    second: &[u8],
    fold: bool,
    t: Ft,
    events: &mut Vec<(usize, Ft)>,
) {
    for i in find_pats(hay, first, fold, starts.0, starts.1) {
        let s = i + first.len();
        if let Some(j) = find_pats(hay, second, fold, s + gap.0, s.saturating_add(gap.1)).next() {
            events.push((j + second.len(), t));
        }
    }
}

/// Every built-in `1:` file-type signature valid at functionality level 215 but the
/// HTML ones ([`html_events`]), as hits `(end, type)`. Written from
/// `filetypes_int.h`; `?` bytes are NUL in the patterns.
fn ftype_events(hay: &[u8], eof: bool, ev: &mut Vec<(usize, Ft)>) {
    const CT: &[u8] = b"\nContent-Type: ";
    const MV: &[u8] = b"\nMIME-Version: ";
    const ANY: usize = usize::MAX;
    let mut lit = |needle: &[u8], t: Ft| {
        for i in occurrences(hay, needle) {
            ev.push((i + needle.len(), t));
        }
    };
    lit(b"PK\x03\x04", Ft::ZipSfx);
    lit(b"Rar!\x1a\x07\0", Ft::RarSfx);
    lit(b"MSCF\0\0\0\0", Ft::CabSfx);
    lit(b"7z\xbc\xaf'\x1c", Ft::SevenZipSfx);
    lit(b"\xef\xbe\xad\xdeNullsoftInst", Ft::Nulsft);
    lit(b"<xdp:xdp", Ft::Xdp);
    for i in occurrences(
        hay,
        b"\xa3\x48\x4b\xbe\x98\x6c\x4a\xa9\x99\x4c\x53\x0a\x86\xd6\x48\x7dAU3!EA0",
    ) {
        if matches!(hay.get(i + 23), Some(b'5' | b'6')) {
            ev.push((i + 24, Ft::Autoit));
        }
    }
    for i in
        find_pats(hay, b"%PDF-\0.", false, 0, ANY).chain(find_pats(hay, b"%pdf-\0.", false, 0, ANY))
    {
        ev.push((i + 7, Ft::Pdf));
    }
    for i in occurrences(hay, b"`\xea") {
        if matches!(hay.get(i + 9..i + 11), Some([0..=2, 2])) {
            ev.push((i + 11, Ft::ArjSfx));
        }
    }
    for i in occurrences(hay, b"MZ") {
        let lo = i + 2 + 60;
        let hi = (i + 2 + 300 + 4).min(hay.len());
        if lo < hi {
            for j in occurrences(&hay[lo..hi], b"PE\0\0") {
                ev.push((lo + j + 4, Ft::Msexe));
            }
        }
    }
    for i in occurrences(hay, b"InstallShield\0") {
        let p = i + 14 + 292;
        if hay
            .get(p..p + 21)
            .is_some_and(|r| &r[..8] == b"\x06\0\0\0\0\0\0\0" && &r[16..] == b"\0\0\0\0\x01")
        {
            ev.push((p + 21, Ft::IshieldMsi));
        }
    }
    let udf_end = hay.len().min(32768 + 6);
    for i in occurrences(&hay[..udf_end], b"\0BEA01") {
        ev.push((i + 6, Ft::Udf));
    }
    for i in occurrences(hay, b"\x01CD001") {
        let lo = i + 6 + 2043;
        if lo < hay.len() {
            let hi = (i + 6 + 2443 + 5).min(hay.len());
            if let Some(j) = occurrences(&hay[lo..hi], b"CD001").next() {
                ev.push((lo + j + 5, Ft::Iso9660));
            }
        }
    }
    if eof && hay.len() >= 512 && hay[hay.len() - 512..].starts_with(b"koly") {
        ev.push((hay.len() - 508, Ft::Dmg));
    }
    if let Some(i) = find_pats(hay, b"\x19\x04\0\x10", false, 8, 20).next() {
        // (a NUL in a pattern is a wildcard; this one needs a real NUL)
        if hay[i + 2] == 0 {
            ev.push((i + 4, Ft::Sis));
        }
    }
    if hay.len() >= 8 && hay.starts_with(b"\xca\xfe\xba\xbe\0\0\0") && hay[7] < 0x40 {
        let t = if hay[7] < 0x20 {
            Ft::MachoUnibin
        } else {
            Ft::Java
        };
        ev.push((8, t));
    }
    if hay.len() >= 4 && &hay[1..4] == b"\r\r\n" {
        ev.push((4, Ft::PythonCompiled));
    }
    if let Some(m) = hay.get(2..7) {
        if (m.starts_with(b"-lh") && b"01234567dx".contains(&m[3]) && m[4] == b'-')
            || (m.starts_with(b"-lz") && b"s45".contains(&m[3]) && m[4] == b'-')
            || m == b"-pm0-"
        {
            ev.push((7, Ft::LhaLzh));
        }
    }
    if hay.len() >= 512 && hay[510..512] == [0x55, 0xaa] {
        ev.push((512, Ft::Mbr));
    }
    if hay.len() >= 516 && hay.starts_with(b"ER") && &hay[512..516] == b"PM\0\0" {
        ev.push((516, Ft::Apm));
    }
    const XML: &[u8] = b"<?xml version=\"1.0\"";
    if hay.starts_with(XML) {
        let n = XML.len();
        for (doc, t) in [
            (&b"<Workbook"[..], Ft::XmlXl),
            (b"<wordDocument", Ft::XmlWord),
            (b"<\0:Workbook", Ft::XmlXl),
            (b"<\0:wordDocument", Ft::XmlWord),
            (b"progid=\"Word.Document\"?>", Ft::XmlWord),
        ] {
            if let Some(j) = find_pats(hay, doc, false, n, n + 1024).next() {
                ev.push((j + doc.len(), t));
            }
        }
    }
    if hay.starts_with(b"\xef\xbb\xbf") && hay[3..].starts_with(XML) {
        if let Some(j) = find_exact(hay, b"<HWPML", 3 + XML.len()) {
            ev.push((j + 6, Ft::XmlHwp));
        }
    }
    // Mail and MHTML: `first{gap}second` with `first` starting in `starts`;
    // `fold`: uppercase letters match either case.
    #[rustfmt::skip]
    let two_parts: [TwoPart; 8] = [
        (b"\nFrom: ",       (0, 1024), (0, 1024), MV,           true,  Ft::Mail),
        (b"\nFrom: ",       (0, 1024), (0, 2048), CT,           true,  Ft::Mail),
        (MV,                (0, 1024), (0, 2048), CT,           true,  Ft::Mail),
        (b"\nMessage-Id: ", (0, 1024), (0, 1024), CT,           true,  Ft::Mail),
        (b"\nReceived: ",   (0, 2048), (0, 2048), CT,           true,  Ft::Mail),
        (b"Delivered-To:",  (0, 1024), (0, 256),  b"Received:", false, Ft::Mail),
        (&MV[1..],          (0, 0),    (0, 1024), CT,           true,  Ft::Mhtml),
        (MV,                (0, ANY),  (0, 1024), CT,           true,  Ft::Mhtml),
    ];
    for (first, starts, gap, second, fold, t) in two_parts {
        two_part(hay, first, starts, gap, second, fold, t, ev);
    }
}

/// The HTML file-type signatures: a tag from a fixed list (in the listed spellings
/// only), `<%@ LANGUAGE =` at offset 0, or `<a ` / `<A ` followed anywhere later by
/// `href` (`h` and `r` in either case, then `EF` or `ef`).
fn html_events(hay: &[u8], ev: &mut Vec<(usize, Ft)>) {
    const TAGS: &[&[u8]] = &[
        b"HEAD>", b"HTML>", b"Head>", b"Html>", b"IFRAME", b"IMG", b"Img", b"OBJECT", b"Object",
        b"SCRIPT", b"Script", b"TABLE", b"head>", b"html>", b"iframe", b"img", b"object",
        b"script", b"table",
    ];
    if hay.starts_with(b"<%@ LANGUAGE =") {
        ev.push((14, Ft::Html));
    }
    let mut anchor_end = None;
    for lt in memchr::memchr_iter(b'<', hay) {
        let rest = &hay[lt + 1..];
        match rest.first() {
            Some(b'a' | b'A') if anchor_end.is_none() && rest.get(1) == Some(&b' ') => {
                anchor_end = Some(lt + 3);
            }
            Some(b'H' | b'I' | b'O' | b'S' | b'T' | b'h' | b'i' | b'o' | b's' | b't') => {
                if let Some(t) = TAGS.iter().find(|t| rest.starts_with(t)) {
                    ev.push((lt + 1 + t.len(), Ft::Html));
                }
            }
            _ => {}
        }
    }
    if let Some(from) = anchor_end {
        for r in memchr::memchr2_iter(b'r', b'R', &hay[from..]).map(|i| i + from) {
            if r > from
                && hay[r - 1].eq_ignore_ascii_case(&b'h')
                && matches!(hay.get(r + 1..r + 3), Some(b"EF" | b"ef"))
            {
                ev.push((r + 3, Ft::Html));
            }
        }
    }
}

/// `/RGB\nID\n` and 24 `FF` bytes starting at 0..=128 (an ignored type).
fn pdf_image(hay: &[u8]) -> bool {
    const M: &[u8] = b"/RGB\nID\n";
    let hay = &hay[..hay.len().min(128 + M.len() + 24)];
    occurrences(hay, M).any(|i| {
        i <= 128
            && hay
                .get(i + M.len()..i + M.len() + 24)
                .is_some_and(|r| r.iter().all(|&b| b == 0xff))
    })
}

/// Whether the file-type pass over the typing window retypes the object
/// (`cli_determine_fmap_type`): any resolved type but a self-extractor, or else HTML
/// in the window decoded as `cli_utf16toascii` does (`(hi << 4) + lo` per byte
/// pair), or else, with a UTF-16 byte-order mark, HTML in the exactly decoded window.
fn retyped_by_window(head: &[u8]) -> bool {
    let mut events = Vec::new();
    match ftype_scan(head, false, &mut events) {
        FtScan::Ignored => return true,
        FtScan::Type(t) if !t.is_sfx() => return true,
        _ => {}
    }
    let mut buf = [0u8; TYPE_WINDOW / 2];
    let n = head.len() / 2;
    for (d, p) in buf.iter_mut().zip(head.chunks_exact(2)) {
        *d = (p[1] << 4).wrapping_add(p[0]);
    }
    if resolves_to_html(&buf[..n], false, &mut events) {
        return true;
    }
    let little = match head {
        [0xff, 0xfe, 0, 0, ..] | [0xfe, 0xff, 0, 0, ..] => return false,
        [0xff, 0xfe, _, _, ..] | [b'<', 0, b'?', 0, ..] => true,
        [0xfe, 0xff, _, _, ..] | [0, b'<', 0, b'?', ..] => false,
        _ => return false,
    };
    let n = entconv_decode(head, little, &mut buf);
    resolves_to_html(&buf[..n], false, &mut events)
}

/// Whether the file-type signatures over `hay` resolve to HTML (cheap when `hay`
/// has no HTML tag at all).
fn resolves_to_html(hay: &[u8], eof: bool, events: &mut Vec<(usize, Ft)>) -> bool {
    events.clear();
    html_events(hay, events);
    !events.is_empty() && other_ftype_scan(hay, eof, events) == FtScan::Type(Ft::Html)
}

/// `encoding_normalize_toascii` (`libclamav/entconv.c`) on a UTF-16 window: iconv to
/// UTF-16BE (input padded with zeros to a multiple of 4 bytes, a byte-order mark kept
/// as a character, stopping at an unpaired surrogate after one raw byte), then each
/// unit `u` becomes the byte `((u >> 8) << 4) + (u & 0xff)`, zeros dropped. Returns
/// the length written to `out`.
fn entconv_decode(head: &[u8], little: bool, out: &mut [u8]) -> usize {
    let mut padded = [0u8; TYPE_WINDOW + 4];
    padded[..head.len()].copy_from_slice(head);
    let len = head.len().div_ceil(4) * 4;
    let units = padded[..len].chunks_exact(2).map(|p| {
        if little {
            u16::from_le_bytes([p[0], p[1]])
        } else {
            u16::from_be_bytes([p[0], p[1]])
        }
    });
    let mut n = 0;
    let mut push = |c: u8| {
        if c != 0 && n < out.len() {
            out[n] = c;
            n += 1;
        }
    };
    let unit = |c: u16| (((c >> 8) << 4) + (c & 0xff)) as u8;
    let mut high: Option<(usize, u16)> = None;
    for (k, u) in units.enumerate() {
        let is_low = (0xdc00..0xe000).contains(&u);
        match high.take() {
            Some((_, h)) if is_low => {
                push(unit(h));
                push(unit(u));
                continue;
            }
            // An unpaired surrogate: iconv fails there; ClamAV emits one raw byte and
            // stops.
            Some((at, _)) => {
                push(padded[at]);
                return n;
            }
            None if is_low => {
                push(padded[2 * k]);
                return n;
            }
            None => {}
        }
        if (0xd800..0xdc00).contains(&u) {
            high = Some((2 * k, u));
        } else {
            push(unit(u));
        }
    }
    if let Some((at, _)) = high {
        push(padded[at]);
    }
    n
}

/// `scanraw`'s file-type pass over the whole object resolves to HTML, which turns an
/// ASCII object into HTML (`dettype`).
fn html_by_raw_scan(data: &[u8]) -> bool {
    resolves_to_html(data, true, &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(data: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        normalize_into(data, &mut out).then_some(out)
    }

    fn utf16le(s: &str, bom: bool) -> Vec<u8> {
        let mut v = if bom { vec![0xff, 0xfe] } else { vec![] };
        v.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        v
    }

    #[test]
    fn folds_case_and_whitespace() {
        let want = b"hello normalized world".to_vec();
        assert_eq!(norm(b"HELLO NORMALIZED WORLD"), Some(want.clone()));
        assert_eq!(norm(b"hello   normalized\t world"), Some(want.clone()));
        assert_eq!(norm(b"Hello\r\n\x0b\x0cNormalized \t World"), Some(want));
        assert_eq!(norm(b"  lead and trail \n\n").unwrap(), b" lead and trail ");
        assert_eq!(
            norm(b"punct: a+b=[c]; ~!{}|").unwrap(),
            b"punct: a+b=[c]; ~!{}|"
        );
        assert_eq!(norm(b"a \x1b\x7f b").unwrap(), b"a \x7f b");
    }

    #[test]
    fn drops_high_and_control_bytes_inside_whitespace_runs() {
        assert_eq!(
            norm("caf\u{e9}  \u{e9}  x Y".as_bytes()).unwrap(),
            b"caf x y"
        );
        assert_eq!(norm(b"ab \x1b cd\x1bEF").unwrap(), b"ab cdef");
    }

    #[test]
    fn utf16_loses_its_zero_bytes() {
        let le = utf16le("Hello  Normalized World", true);
        assert_eq!(text_kind(&le), Some(TextKind::Utf16Le));
        assert_eq!(norm(&le).unwrap(), b"hello normalized world");
        let nobom = utf16le("Hello Normalized World", false);
        assert_eq!(text_kind(&nobom), Some(TextKind::Utf16Be));
        assert_eq!(norm(&nobom).unwrap(), b"hello normalized world");
        let mut be = vec![0xfe, 0xff];
        be.extend("Hi There".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(text_kind(&be), Some(TextKind::Utf16Be));
        assert_eq!(norm(&be).unwrap(), b"hi there");
    }

    #[test]
    fn kinds() {
        assert_eq!(text_kind(b"plain text\r\n"), Some(TextKind::Ascii));
        assert_eq!(text_kind(b"latin1 \xe9t\xe9"), Some(TextKind::Ascii));
        assert_eq!(
            text_kind("\u{1b}x \u{e9}".as_bytes()),
            Some(TextKind::Ascii)
        );
        assert_eq!(text_kind("tab\u{1}é".as_bytes()), Some(TextKind::Utf16Be));
        assert_eq!(
            text_kind(b"ab\x00\x01cd"),
            None,
            "00 01 unit at an even offset"
        );
        assert_eq!(text_kind("é\u{7f}".as_bytes()), Some(TextKind::Utf16Be));
        assert_eq!(text_kind(b"x\x01\x00\x00yz"), None, "aligned NUL pair");
        assert_eq!(text_kind(b"x\x01\x00yz\x00"), Some(TextKind::Utf16Be));
        assert_eq!(
            text_kind(b"\x00\x00\x01zz"),
            Some(TextKind::Utf16Be),
            "bytes 0-1 unchecked"
        );
        assert_eq!(text_kind(b"ab\xff\xfe\x01b"), None, "FFFE unit");
        assert_eq!(text_kind(b"MZ is a word"), None);
        assert_eq!(text_kind(b"From me to you"), None);
        assert_eq!(text_kind(b"x\r\r\nabc"), None, ".pyc");
        assert_eq!(text_kind(b"hi <script>"), None, "HTML");
        assert_eq!(text_kind(b"a <a x=1 HrEF=y>"), None, "HTML");
        assert_eq!(text_kind(b"<a no link here"), Some(TextKind::Ascii));
        assert_eq!(text_kind(b"x\n%PDF-1.4 y"), None);
        let mut late = vec![b'x'; 2000];
        late.extend_from_slice(b"\x00\x00\x00\x00<script>");
        assert_eq!(
            text_kind(&late),
            Some(TextKind::Ascii),
            "window is 1024 bytes"
        );
        assert!(!script_scan_applies(&late), "raw scan finds the tag");
    }

    #[test]
    fn file_type_hits_resolve_in_order() {
        assert_eq!(
            text_kind(b"a <script> PK\x03\x04 b"),
            Some(TextKind::Utf16Be)
        );
        assert_eq!(
            text_kind(b"a PK\x03\x04 <script> b"),
            Some(TextKind::Utf16Be)
        );
        assert_eq!(
            text_kind(b"text <img> then %PDF-1.4"),
            None,
            "HTML outranks PDF"
        );
        assert_eq!(
            text_kind(b"text <img> then Rar!\x1a\x07\0"),
            Some(TextKind::Utf16Be)
        );
        assert_eq!(
            text_kind(b"x\r\r\n then 7z\xbc\xaf'\x1c"),
            Some(TextKind::Utf16Be)
        );
        let mut late = vec![b'z'; 1500];
        late.extend_from_slice(b" <img> PK\x03\x04 ");
        assert!(script_scan_applies(&late), "a self-extractor outranks HTML");
        late.extend_from_slice(b"<img>");
        assert!(script_scan_applies(&late), "HTML does not replace it");
    }

    #[test]
    fn html_seen_through_utf16_decoding() {
        assert_eq!(text_kind(&utf16le("abc <script> def", true)), None);
        assert_eq!(text_kind(&utf16le("abc <script> def", false)), None);
        let mut be = vec![0xfe, 0xff];
        be.extend("abc <table> def".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(text_kind(&be), None, "exact decoding after a BOM");
        let mut nobom = Vec::new();
        nobom.extend("abc <table> def".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(text_kind(&nobom), Some(TextKind::Utf16Be));
        let mut buf = [0u8; 16];
        let n = entconv_decode(
            &[0xff, 0xfe, b'a', 0, 0x41, 0x01, 0, 0xdc, b'b', 0],
            true,
            &mut buf,
        );
        assert_eq!(
            &buf[..n],
            b"\xdfaQ",
            "BOM kept, U+0141 folded, stops at a lone surrogate"
        );
    }

    #[test]
    fn bom_bad_units_threshold() {
        let mut v = vec![0xff, 0xfe];
        v.extend_from_slice(&[1, 0, 1, 0, b'a', 0, b'b', 0]);
        assert_eq!(is_utf16(&v), Some(TextKind::Utf16Le));
        v.extend_from_slice(&[1, 0]);
        assert_eq!(is_utf16(&v), Some(TextKind::Utf16Le));
        // With a BOM, bad units can never reach half the length: only FFFE rejects.
        let w = [0xff, 0xfe, 1, 0, 1, 0, 1, 0, 1];
        assert_eq!(is_utf16(&w), Some(TextKind::Utf16Le));
        assert_eq!(is_utf16(&[0xff, 0xfe, 1, 0, 0xfe, 0xff]), None);
    }

    #[test]
    fn small_and_large_objects_are_not_normalized() {
        assert_eq!(norm(b"HELLO"), None);
        assert!(norm(b"HELLO!").is_some());
        let big = vec![b'a'; MAX_SCRIPT_NORMALIZE + 1];
        assert_eq!(norm(&big), None);
        assert!(norm(&big[1..]).is_some());
    }

    #[test]
    fn chunked_windows() {
        let mut data = vec![b'X'; 300_000];
        data[PAGE * 32 - 1] = b' ';
        data[PAGE * 32] = b' ';
        let (mut out, mut win) = (Vec::new(), Vec::new());
        assert!(normalize_chunked_into(&data, 0, &mut out, &mut win));
        assert_eq!(win[0].range, 0..SCAN_CHUNK);
        assert_eq!(win[1].range.start, SCAN_CHUNK);
        assert_eq!(out[SCAN_CHUNK - 1], b' ');
        assert_eq!(out[SCAN_CHUNK], b' ', "whitespace state reset at the flush");
        assert_eq!(out.len(), 300_000);
        assert_eq!(win.last().unwrap().range.end, out.len());
        assert!(normalize_chunked_into(&data, 100, &mut out, &mut win));
        assert_eq!(win[1].range.start, win[0].range.end - 100);
        assert_eq!(win[1].base, win[0].range.len() as u64);
        let total: usize = win.iter().map(|w| w.range.len()).sum();
        assert_eq!(total, out.len() + 100 * (win.len() - 1));
    }

    /// A normalizer with `normalize_append`'s signature.
    type Append = fn(&[u8], &mut Vec<u8>, &mut bool);

    /// The normalizers checked against [`normalize_append_scalar`]: the dispatching
    /// one and each SIMD path the CPU supports.
    fn fast_appenders() -> Vec<Append> {
        #[allow(unused_mut)]
        let mut v: Vec<Append> = vec![normalize_append];
        #[cfg(target_arch = "x86_64")]
        v.extend(simd::supported().into_iter().map(|(_, f)| f));
        v
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn simd_paths_are_tested_here() {
        let names: Vec<_> = simd::supported()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        eprintln!("SIMD normalizer paths tested on this CPU: {names:?}");
        let ssse3 = is_x86_feature_detected!("ssse3") && is_x86_feature_detected!("popcnt");
        assert_eq!(names.contains(&"ssse3"), ssse3);
    }

    /// xorshift64: deterministic test data without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick(&mut self, from: &[u8]) -> u8 {
            from[self.below(from.len())]
        }
    }

    const WHITESPACE: &[u8] = b"\t\n\x0b\x0c\r ";
    const LETTERS: &[u8] =
        b"abcdefghijklmnopqrstuvwxyz0123456789.,;:!?=+-*/()[]{}\"'`~@#$%^&|_\\>\x7f";

    /// A byte that normalization drops: a control byte other than whitespace, or
    /// a high byte.
    fn dropped(rng: &mut Rng) -> u8 {
        loop {
            let b = rng.next() as u8;
            if NORMALIZED[b as usize] == 0 {
                return b;
            }
        }
    }

    /// `len` bytes, each whitespace, dropped or an upper-case letter with the given
    /// percent chances, else another kept byte (no `<`, so no HTML).
    fn mixed(rng: &mut Rng, len: usize, ws: usize, drop: usize, upper: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                let r = rng.below(100);
                if r < ws {
                    rng.pick(WHITESPACE)
                } else if r < ws + drop {
                    dropped(rng)
                } else if r < ws + drop + upper {
                    rng.pick(LETTERS).to_ascii_uppercase()
                } else {
                    rng.pick(LETTERS)
                }
            })
            .collect()
    }

    /// Densities (whitespace, dropped, upper-case, in percent) from plain text to
    /// mostly binary.
    const DENSITIES: [(usize, usize, usize); 10] = [
        (0, 0, 0),
        (0, 0, 50),
        (15, 0, 5),
        (15, 2, 5),
        (5, 30, 5),
        (30, 30, 10),
        (60, 20, 0),
        (2, 70, 2),
        (20, 75, 0),
        (0, 100, 0),
    ];

    /// Runs `append` over `input` split into the calls `splits` (ascending offsets),
    /// carrying the whitespace state, after an existing prefix.
    fn run(append: Append, input: &[u8], splits: &[usize], space: bool) -> (Vec<u8>, bool) {
        let mut out = b"prefix".to_vec();
        let mut sp = space;
        let mut at = 0;
        for &to in splits.iter().chain([&input.len()]) {
            append(&input[at..to], &mut out, &mut sp);
            at = to;
        }
        (out, sp)
    }

    /// Every fast normalizer gives the scalar output and final state for `input`,
    /// split into calls at `splits`, from both starting states.
    fn check_split(input: &[u8], splits: &[usize]) {
        for space in [false, true] {
            let want = run(normalize_append_scalar, input, &[], space);
            assert_eq!(
                run(normalize_append_scalar, input, splits, space),
                want,
                "scalar, splits {splits:?}"
            );
            for f in fast_appenders() {
                let got = run(f, input, splits, space);
                if got != want {
                    let at = got
                        .0
                        .iter()
                        .zip(&want.0)
                        .take_while(|(a, b)| a == b)
                        .count();
                    panic!(
                        "differs from the scalar normalizer at output byte {at} (lengths \
                         {} and {}, states {} and {}); space {space}, splits {splits:?}, \
                         input {:?}",
                        got.0.len(),
                        want.0.len(),
                        got.1,
                        want.1,
                        String::from_utf8_lossy(input)
                    );
                }
            }
        }
    }

    fn check(input: &[u8]) {
        check_split(input, &[]);
    }

    #[test]
    fn simd_every_byte_in_every_position() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut windows: Vec<Vec<u8>> = [b'a', b'Q', b' ', b'\n', 0, 0x1b, 0x80, 0xff]
            .iter()
            .map(|&b| vec![b; 64])
            .collect();
        windows.push(b"aB \t\0\xe9x  \r\n\x01Z".repeat(6)[..64].to_vec());
        windows.push(b" \0 \x80 \x0b\xff\t".repeat(8));
        for (ws, drop, upper) in [(15, 2, 5), (30, 30, 10), (10, 80, 5)] {
            windows.push(mixed(&mut rng, 64, ws, drop, upper));
        }
        for window in &windows {
            for pos in 0..64 {
                for b in 0..=255u8 {
                    let mut w = window.clone();
                    w[pos] = b;
                    check(&w);
                }
            }
        }
    }

    #[test]
    fn simd_random_densities_and_call_splits() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for (ws, drop, upper) in DENSITIES {
            for _ in 0..40 {
                let len = rng.below(3000);
                let input = mixed(&mut rng, len, ws, drop, upper);
                let mut splits: Vec<usize> =
                    (0..rng.below(6)).map(|_| rng.below(len + 1)).collect();
                splits.sort_unstable();
                check_split(&input, &splits);
            }
            let long = mixed(&mut rng, 200_000, ws, drop, upper);
            let splits: Vec<usize> = (1..48).map(|k| k * 4096 - k).collect();
            check_split(&long, &splits);
        }
    }

    #[test]
    fn simd_whitespace_runs_across_blocks_and_calls() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for start in 0..34 {
            for len in 1..34 {
                let mut input = b"xY".repeat(40);
                for b in &mut input[start..start + len] {
                    // Whitespace with dropped bytes mixed in (transparent to the run).
                    *b = if rng.below(3) == 0 {
                        dropped(&mut rng)
                    } else {
                        rng.pick(WHITESPACE)
                    };
                }
                for split in 0..=input.len() {
                    check_split(&input, &[split]);
                }
            }
        }
        // A run longer than several blocks, and one made only of dropped bytes after
        // a space.
        let mut input = b"x".repeat(20);
        input.extend(mixed(&mut rng, 100, 70, 30, 0));
        input.extend(b"y ");
        input.extend((0..70).map(|_| dropped(&mut rng)));
        input.extend(b" z");
        for split in 0..=input.len() {
            check_split(&input, &[split]);
        }
    }

    #[test]
    fn simd_all_lengths() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        for len in 0..=130 {
            for (ws, drop, upper) in DENSITIES {
                for _ in 0..4 {
                    check(&mixed(&mut rng, len, ws, drop, upper));
                }
            }
            check(&b"Plain".repeat(30)[..len]);
            check(&vec![b' '; len]);
            check(&vec![0; len]);
        }
    }

    /// Text data that the script normalizer applies to: a plain first 1024 bytes,
    /// then `mixed` bytes.
    fn script_data(rng: &mut Rng, len: usize, ws: usize, drop: usize, upper: usize) -> Vec<u8> {
        let mut data: Vec<u8> = (0..1024)
            .map(|i| {
                if i % 7 == 6 {
                    b' '
                } else {
                    b'a' + rng.below(26) as u8
                }
            })
            .collect();
        data.extend(mixed(rng, len - 1024, ws, drop, upper));
        assert!(script_scan_applies(&data));
        data
    }

    #[test]
    fn chunked_and_file_variants_match_scalar() {
        let mut rng = Rng(0x5555_aaaa_1234_9876);
        let sizes = [1030, 4096 * 3 + 5, SCAN_CHUNK + 4096, 400_000];
        for (k, (ws, drop, upper)) in DENSITIES.into_iter().enumerate() {
            let mut data = script_data(&mut rng, sizes[k % sizes.len()], ws, drop, upper);
            // Whitespace runs across page and buffer boundaries.
            let len = data.len();
            for edge in (PAGE..len).step_by(PAGE) {
                for b in &mut data[edge - 3..(edge + 3).min(len)] {
                    *b = rng.pick(WHITESPACE);
                }
            }
            let (mut want, mut got) = (Vec::new(), Vec::new());
            normalize_into(&data, &mut got);
            let mut space = false;
            normalize_append_scalar(&data, &mut want, &mut space);
            assert_eq!(got, want, "normalize_into");
            for carry in [0, 1, 100, PAGE] {
                let (mut want_win, mut got_win) = (Vec::new(), Vec::new());
                assert!(chunked_with(
                    &data,
                    carry,
                    &mut want,
                    &mut want_win,
                    normalize_append_scalar
                ));
                assert!(normalize_chunked_into(&data, carry, &mut got, &mut got_win));
                assert_eq!(
                    (&got, &got_win),
                    (&want, &want_win),
                    "chunked, carry {carry}"
                );
                assert!(file_with(&data, carry, &mut want, normalize_append_scalar));
                assert!(normalize_file_into(&data, carry, &mut got));
                assert_eq!(got, want, "file, carry {carry}");
            }
        }
    }
}
