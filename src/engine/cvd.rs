//! ClamAV signature database containers: `.cvd` and `.cld` files.
//!
//! A container is a 512-byte ASCII header followed by a tar archive of the signature files:
//!
//! ```text
//! ClamAV-VDB:<build time>:<version>:<#sigs>:<flevel>:<md5>:<dsig>:<builder>[:<build time secs>]
//! ```
//!
//! padded with spaces to 512 bytes. In a `.cvd` the archive is gzip'd; in a `.cld` (what
//! freshclam leaves after applying `.cdiff` updates) it is a plain tar. This module is pure:
//! [`parse_header`] and [`parse`] work on bytes already in memory and return every regular
//! file of the archive as a [`CvdEntry`]; [`Cvd::verify_info`] checks the entries against the
//! `*.info` manifest inside the archive.
//!
//! # Behaviour learned from ClamAV (`libclamav/cvd.c`, `libclamav/readdb.c`, `libclamav/str.c`)
//!
//! No ClamAV code was copied; this is an independent implementation of the same format.
//!
//! * **Header** (`cl_cvdparse`, `cl_cvdhead`, `cli_cvdverify` in `cvd.c`): must start with
//!   `ClamAV-VDB:`; the text ends at the first NUL, CR or LF and trailing spaces are
//!   padding. Fields are separated by `:`; field 8 (build time in seconds) is optional in
//!   old files. ClamAV reads numbers with `atoi`, so garbage becomes 0 there; here a
//!   non-numeric version, signature count, flevel or build time is an error
//!   (`bad version field 'x'`), and so is an empty required field. Fields after the ninth
//!   are ignored, as in ClamAV. The build time text is written with strftime
//!   `"%d %b %Y %H-%M %z"` (e.g. `22 Jun 2021 14-58 -0400`); see
//!   [`CvdHeader::database_time_unix`].
//! * **Compressed or not** (`cli_tgzload` in `cvd.c`): ClamAV treats the archive as a plain
//!   tar when the bytes at offset 512 start with `COPYING` (the first member sigtool
//!   writes), and as gzip otherwise. This module does the same and, in addition, treats it
//!   as a plain tar when it carries the `ustar` magic at offset 257 of the archive, so a
//!   `.cld` whose first member is not `COPYING` still loads.
//! * **MD5** (`cli_cvdverify` in `cvd.c`, and `verify_rsa_dsig` in ClamAV's
//!   `libclamav_rust/src/cvd.rs`): the header's MD5 field is the plain MD5 of *everything
//!   after the 512-byte header* (the `.tar.gz` bytes), in lowercase hex. [`parse`] checks it
//!   for gzip'd archives when the field is 32 hex digits. ClamAV skips this check for
//!   `.cld` files (`cli_cvdverify(..., skipsig)` with `skipsig` set for the `.cld` type),
//!   because the header of a `.cld` is carried over from the `.cvd` it was built from; a
//!   plain-tar archive is therefore not MD5-checked here either. A field that is not 32 hex
//!   digits is treated as absent (ClamAV's Rust reader does the same).
//! * **Digital signatures are not verified.** The header `dsig` is an RSA signature of the
//!   MD5 made with Talos's private key in ClamAV's own encoding (`cli_versig` in
//!   `dsig.c`), and the `DSIG:` line of the `.info` file signs a SHA-256 of the lines above
//!   it (`cli_loadinfo` in `readdb.c`). Checking them needs ClamAV's public keys and
//!   signature scheme, which this crate does not implement. The fields are exposed
//!   ([`CvdHeader::dsig`]) but a file with a forged signature and a correct MD5 parses.
//!   Newer ClamAV releases also ship external `.cvd.sign` files; those are not handled here.
//! * **Tar members** (`cli_tgzload`, `cli_untgz` in `cvd.c`): ClamAV rejects member names
//!   containing `/`, directories and any type other than a regular file; so does this
//!   module. (GNU long-name and PAX records are resolved by the `tar` crate.)
//! * **`.info` manifest** (`cli_loadinfo` in `readdb.c`, the dbinfo checks in
//!   `cli_tgzload`/`cli_cvdload`): a `ClamAV-VDB:` header line, then `name:size:sha256`
//!   lines (size decimal, SHA-256 64 hex digits), then a `DSIG:` line after which nothing is
//!   read. ClamAV rejects a database whose files differ in size or SHA-256 from the
//!   manifest, and also one whose `.info` header has another version, signature count,
//!   flevel or build time than the container header (`cli_cvdload`: "Corrupted CVD
//!   header"); [`Cvd::verify_info`] does both and also reports a listed file that is missing
//!   from the archive. Blank lines are skipped.
//!
//! # Limits
//!
//! Decompression is streamed; a member larger than [`MAX_ENTRY_SIZE`] (1 GiB), more than
//! [`MAX_ENTRIES`] (10,000) members, or more than [`MAX_TOTAL_SIZE`] (4 GiB) of
//! decompressed data is an error, never a panic or an unbounded allocation.

use std::fmt::Write as _;
use std::io::{self, Read};

use flate2::read::GzDecoder;
use md5::{Digest, Md5};
use sha2::Sha256;
use thiserror::Error;

/// Size of the ASCII header at the start of every `.cvd`/`.cld` file.
pub const HEADER_LEN: usize = 512;

/// Largest archive member [`parse`] accepts, in bytes (1 GiB).
pub const MAX_ENTRY_SIZE: u64 = 1 << 30;

/// Most archive members [`parse`] accepts.
pub const MAX_ENTRIES: usize = 10_000;

/// Most decompressed archive bytes [`parse`] reads (4 GiB), whatever the member sizes.
pub const MAX_TOTAL_SIZE: u64 = 4 << 30;

const MAGIC: &[u8] = b"ClamAV-VDB:";

/// The fields of a container header (`ClamAV-VDB:…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CvdHeader {
    /// Build time as written by sigtool, e.g. `22 Jun 2021 14-58 -0400`.
    pub build_time_text: String,
    /// Database version (e.g. the daily number).
    pub version: u32,
    /// Number of signatures the database declares.
    pub signatures: u64,
    /// Minimum functionality level (FLEVEL) of the engine the database is meant for.
    pub flevel: u32,
    /// The MD5 field: hex MD5 of everything after the header (checked by [`parse`]).
    pub md5: String,
    /// The digital signature field. Not verified by this crate (see the module docs).
    pub dsig: String,
    /// Name of whoever built the database.
    pub builder: String,
    /// Build time in seconds since the Unix epoch, when the header has that field.
    pub build_time_unix: Option<i64>,
}

impl CvdHeader {
    /// The build time as Unix seconds: [`CvdHeader::build_time_unix`] when present, or else
    /// parsed from [`CvdHeader::build_time_text`] (`"%d %b %Y %H-%M %z"`, English month
    /// abbreviations). `None` when neither is usable.
    pub fn database_time_unix(&self) -> Option<i64> {
        self.build_time_unix
            .or_else(|| parse_build_time(&self.build_time_text))
    }
}

/// One regular file from the container's archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CvdEntry {
    /// Member name, e.g. `daily.ndb` (never contains `/`).
    pub name: String,
    /// Member contents.
    pub data: Vec<u8>,
}

/// A parsed container: header plus every file of its archive, in archive order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cvd {
    /// The 512-byte header.
    pub header: CvdHeader,
    /// `true` for a gzip'd archive (`.cvd`), `false` for a plain tar (`.cld`).
    pub compressed: bool,
    /// The files of the archive.
    pub entries: Vec<CvdEntry>,
}

/// Why a container could not be parsed or verified.
#[derive(Debug, Error)]
pub enum CvdError {
    /// The data does not start with `ClamAV-VDB:`.
    #[error("not a ClamAV database: header does not start with ClamAV-VDB")]
    NotClamav,
    /// Fewer than 512 bytes were given.
    #[error("truncated header: {0} bytes, a ClamAV database header is 512")]
    TruncatedHeader(usize),
    /// The header text is not valid UTF-8.
    #[error("malformed header: not ASCII text")]
    HeaderNotText,
    /// A required header field is missing or empty.
    #[error("malformed header: missing {0} field")]
    MissingField(&'static str),
    /// A numeric header field does not hold a number.
    #[error("bad {field} field '{value}'")]
    BadField {
        /// Which field.
        field: &'static str,
        /// Its text.
        value: String,
    },
    /// Nothing follows the header.
    #[error("truncated database: no archive after the 512-byte header")]
    NoArchive,
    /// The MD5 of the archive differs from the header's MD5 field.
    #[error("MD5 mismatch: header says {expected}, archive has {actual}")]
    Md5Mismatch {
        /// MD5 from the header.
        expected: String,
        /// MD5 of the bytes after the header.
        actual: String,
    },
    /// The gzip stream could not be decompressed.
    #[error("corrupt gzip stream: {0}")]
    CorruptGzip(String),
    /// The tar archive is malformed or truncated.
    #[error("corrupt tar archive: {0}")]
    CorruptTar(String),
    /// A tar member that ClamAV does not allow (directory, link, path with `/`).
    #[error("unsupported archive member '{name}': {reason}")]
    UnsupportedEntry {
        /// Member name as stored.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A member is larger than [`MAX_ENTRY_SIZE`].
    #[error("archive member '{name}' is {size} bytes, over the {limit}-byte limit")]
    EntryTooLarge {
        /// Member name.
        name: String,
        /// Its declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// More than [`MAX_ENTRIES`] members.
    #[error("archive has more than {0} members")]
    TooManyEntries(usize),
    /// More than [`MAX_TOTAL_SIZE`] decompressed bytes.
    #[error("archive decompresses to more than {0} bytes")]
    ArchiveTooLarge(u64),
    /// No `*.info` member to verify against.
    #[error("no .info file in the database")]
    NoInfo,
    /// A malformed line in the `.info` file.
    #[error("{info} line {line}: {reason}")]
    InfoSyntax {
        /// Name of the `.info` member.
        info: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The `.info` header line disagrees with the container header.
    #[error("{info} header has {field} {listed}, the database header has {actual}")]
    InfoHeaderMismatch {
        /// Name of the `.info` member.
        info: String,
        /// Which field differs.
        field: &'static str,
        /// Value in the `.info` header.
        listed: String,
        /// Value in the container header.
        actual: String,
    },
    /// A file listed in the `.info` is not in the archive.
    #[error("{info} lists {name}, which is missing from the database")]
    InfoMissingEntry {
        /// Name of the `.info` member.
        info: String,
        /// The missing file.
        name: String,
    },
    /// A file's size differs from the `.info` listing.
    #[error("{info} lists {name} with size {expected}, content has {actual}")]
    InfoSizeMismatch {
        /// Name of the `.info` member.
        info: String,
        /// The file.
        name: String,
        /// Size in the `.info`.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// A file's SHA-256 differs from the `.info` listing.
    #[error("{info} lists {name} with sha256 {expected}, content has {actual}")]
    InfoHashMismatch {
        /// Name of the `.info` member.
        info: String,
        /// The file.
        name: String,
        /// SHA-256 in the `.info` (as written).
        expected: String,
        /// SHA-256 of the content.
        actual: String,
    },
}

/// Parses the 512-byte header at the start of a `.cvd`/`.cld` file.
///
/// Only the first 512 bytes of `first_512` are looked at; fewer is an error
/// ([`CvdError::TruncatedHeader`]) unless the bytes given already show that this is not a
/// ClamAV database ([`CvdError::NotClamav`]).
pub fn parse_header(first_512: &[u8]) -> Result<CvdHeader, CvdError> {
    let n = first_512.len().min(MAGIC.len());
    if first_512.get(..n) != MAGIC.get(..n) {
        return Err(CvdError::NotClamav);
    }
    let head = first_512
        .get(..HEADER_LEN)
        .ok_or(CvdError::TruncatedHeader(first_512.len()))?;
    let end = head
        .iter()
        .position(|&b| b == 0 || b == b'\n' || b == b'\r')
        .unwrap_or(head.len());
    let text = std::str::from_utf8(&head[..end]).map_err(|_| CvdError::HeaderNotText)?;
    parse_header_text(text.trim_end_matches(' '))
}

/// Parses a header line (without padding); shared with the `.info` header line.
fn parse_header_text(text: &str) -> Result<CvdHeader, CvdError> {
    let fields: Vec<&str> = text.split(':').collect();
    if fields.first() != Some(&"ClamAV-VDB") {
        return Err(CvdError::NotClamav);
    }
    let field = |i: usize, name: &'static str| -> Result<&str, CvdError> {
        match fields.get(i) {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(CvdError::MissingField(name)),
        }
    };
    let build_time_text = field(1, "build time")?.to_string();
    let version = number(field(2, "version")?, "version")?;
    let signatures = number(field(3, "signature count")?, "signature count")?;
    let flevel = number(field(4, "functionality level")?, "functionality level")?;
    let md5 = field(5, "MD5")?.to_string();
    let dsig = field(6, "digital signature")?.to_string();
    let builder = field(7, "builder")?.to_string();
    let build_time_unix = match fields.get(8) {
        Some(s) if !s.is_empty() => Some(number::<i64>(s, "build time seconds")?),
        _ => None,
    };
    Ok(CvdHeader {
        build_time_text,
        version,
        signatures,
        flevel,
        md5,
        dsig,
        builder,
        build_time_unix,
    })
}

/// A decimal field: ASCII digits only (no sign, no spaces) that fit the type.
fn number<T: std::str::FromStr>(s: &str, field: &'static str) -> Result<T, CvdError> {
    let bad = || CvdError::BadField {
        field,
        value: s.to_string(),
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    s.parse().map_err(|_| bad())
}

/// Parses `"%d %b %Y %H-%M %z"`, e.g. `22 Jun 2021 14-58 -0400`, into Unix seconds.
fn parse_build_time(text: &str) -> Option<i64> {
    let mut parts = text.split_whitespace();
    let (day, month, year, hm, zone) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if parts.next().is_some() {
        return None;
    }
    let digits = |s: &str, max_len: usize| -> Option<u32> {
        if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let day = u8::try_from(digits(day, 2)?).ok()?;
    let month = parse_month(month)?;
    let year = i32::try_from(digits(year, 4)?).ok()?;
    let (h, m) = hm.split_once('-')?;
    let hour = u8::try_from(digits(h, 2)?).ok()?;
    let minute = u8::try_from(digits(m, 2)?).ok()?;
    let (sign, zone_digits) = match zone.as_bytes().first()? {
        b'+' => (1i8, &zone[1..]),
        b'-' => (-1i8, &zone[1..]),
        _ => return None,
    };
    if zone_digits.len() != 4 {
        return None;
    }
    let zone_h = i8::try_from(digits(&zone_digits[..2], 2)?).ok()?;
    let zone_m = i8::try_from(digits(&zone_digits[2..], 2)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let clock = time::Time::from_hms(hour, minute, 0).ok()?;
    let offset = time::UtcOffset::from_hms(sign * zone_h, sign * zone_m, 0).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_offset(offset)
            .unix_timestamp(),
    )
}

fn parse_month(s: &str) -> Option<time::Month> {
    use time::Month::*;
    const MONTHS: [(&str, time::Month); 12] = [
        ("jan", January),
        ("feb", February),
        ("mar", March),
        ("apr", April),
        ("may", May),
        ("jun", June),
        ("jul", July),
        ("aug", August),
        ("sep", September),
        ("oct", October),
        ("nov", November),
        ("dec", December),
    ];
    let lower = s.to_ascii_lowercase();
    MONTHS.iter().find(|(n, _)| *n == lower).map(|&(_, m)| m)
}

fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{:02x}", b);
    }
    s
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parses a whole `.cvd` or `.cld` file: the header, then every member of its archive.
///
/// The archive is a plain tar when it starts with `COPYING` or has the `ustar` magic, and
/// gzip'd otherwise ([`Cvd::compressed`]). For a gzip'd archive the header MD5 is checked
/// against the MD5 of the bytes after the header (when the field is 32 hex digits). Every
/// member must be a regular file without `/` in its name. See the module docs for limits.
pub fn parse(bytes: &[u8]) -> Result<Cvd, CvdError> {
    let header = parse_header(bytes)?;
    let body = match bytes.get(HEADER_LEN..) {
        Some(b) if !b.is_empty() => b,
        _ => return Err(CvdError::NoArchive),
    };
    let ustar = body.get(257..262) == Some(b"ustar".as_slice());
    let compressed = !(body.starts_with(b"COPYING") || ustar);
    let entries = if compressed {
        if is_hex(&header.md5, 32) {
            let actual = to_hex(&Md5::digest(body));
            if !actual.eq_ignore_ascii_case(&header.md5) {
                return Err(CvdError::Md5Mismatch {
                    expected: header.md5.clone(),
                    actual,
                });
            }
        }
        untar(GzDecoder::new(body), true, MAX_TOTAL_SIZE)?
    } else {
        untar(body, false, MAX_TOTAL_SIZE)?
    };
    Ok(Cvd {
        header,
        compressed,
        entries,
    })
}

/// What went wrong below the tar reader.
enum SourceFailure {
    Stream(String),
    TooLarge,
}

/// Counts the bytes read from the (possibly decompressing) source, enforces
/// [`MAX_TOTAL_SIZE`] and remembers the source's own errors, so that they can be told
/// apart from tar errors after the `tar` crate has wrapped them.
struct Tap<R> {
    inner: R,
    total: u64,
    limit: u64,
    failure: Option<SourceFailure>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.total = self.total.saturating_add(n as u64);
                if self.total > self.limit {
                    self.failure = Some(SourceFailure::TooLarge);
                    return Err(io::Error::other("archive size limit exceeded"));
                }
                Ok(n)
            }
            Err(e) => {
                if self.failure.is_none() {
                    self.failure = Some(SourceFailure::Stream(e.to_string()));
                }
                Err(e)
            }
        }
    }
}

fn untar<R: Read>(source: R, compressed: bool, limit: u64) -> Result<Vec<CvdEntry>, CvdError> {
    let mut tap = Tap {
        inner: source,
        total: 0,
        limit,
        failure: None,
    };
    let result = read_members(&mut tap).and_then(|entries| {
        // Read to the end so that a gzip stream's CRC and length trailer get checked.
        io::copy(&mut tap, &mut io::sink())
            .map(|_| entries)
            .map_err(|e| CvdError::CorruptTar(e.to_string()))
    });
    match (result, tap.failure) {
        (_, Some(SourceFailure::TooLarge)) => Err(CvdError::ArchiveTooLarge(limit)),
        (Err(_), Some(SourceFailure::Stream(msg))) if compressed => Err(CvdError::CorruptGzip(msg)),
        (Err(_), Some(SourceFailure::Stream(msg))) => Err(CvdError::CorruptTar(msg)),
        (result, _) => result,
    }
}

fn tar_error(e: io::Error) -> CvdError {
    CvdError::CorruptTar(e.to_string())
}

fn read_members<R: Read>(source: &mut R) -> Result<Vec<CvdEntry>, CvdError> {
    let mut archive = tar::Archive::new(source);
    let mut entries = Vec::new();
    for member in archive.entries().map_err(tar_error)? {
        let mut member = member.map_err(tar_error)?;
        if entries.len() >= MAX_ENTRIES {
            return Err(CvdError::TooManyEntries(MAX_ENTRIES));
        }
        let raw_name = member.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_name).into_owned();
        let unsupported = |reason: &str| CvdError::UnsupportedEntry {
            name: name.clone(),
            reason: reason.to_string(),
        };
        let kind = member.header().entry_type();
        if kind.is_dir() {
            return Err(unsupported(
                "directories are not allowed in a ClamAV database",
            ));
        }
        if !kind.is_file() {
            return Err(unsupported(&format!(
                "type flag '{}' is not a regular file",
                char::from(kind.as_byte()).escape_default()
            )));
        }
        if raw_name.is_empty() || std::str::from_utf8(&raw_name).is_err() {
            return Err(unsupported("name is empty or not UTF-8"));
        }
        if raw_name.contains(&b'/') {
            return Err(unsupported("path separators are not allowed"));
        }
        let size = member.size();
        if size > MAX_ENTRY_SIZE {
            return Err(CvdError::EntryTooLarge {
                name,
                size,
                limit: MAX_ENTRY_SIZE,
            });
        }
        // Do not trust the declared size for the initial allocation.
        let mut data = Vec::with_capacity(size.min(1 << 20) as usize);
        (&mut member)
            .take(size)
            .read_to_end(&mut data)
            .map_err(tar_error)?;
        if data.len() as u64 != size {
            return Err(CvdError::CorruptTar(format!(
                "member '{}' is truncated: {} of {} bytes",
                name,
                data.len(),
                size
            )));
        }
        entries.push(CvdEntry { name, data });
    }
    Ok(entries)
}

impl Cvd {
    /// Checks the archive against its `*.info` manifest (the first member whose name ends
    /// in `.info`, case-insensitively).
    ///
    /// Every `name:size:sha256` line must name a member of the archive with exactly that
    /// size and SHA-256; the manifest's `ClamAV-VDB:` header line, if present, must agree
    /// with the container header on version, signature count, flevel and build time. Lines
    /// from `DSIG:` on are not read (the signature itself is not verified). Members not
    /// listed in the manifest are not checked.
    pub fn verify_info(&self) -> Result<(), CvdError> {
        let info = self
            .entries
            .iter()
            .find(|e| e.name.to_ascii_lowercase().ends_with(".info"))
            .ok_or(CvdError::NoInfo)?;
        let info_name = info.name.as_str();
        let syntax = |line: usize, reason: String| CvdError::InfoSyntax {
            info: info_name.to_string(),
            line,
            reason,
        };
        let text =
            std::str::from_utf8(&info.data).map_err(|_| syntax(1, "not UTF-8 text".into()))?;
        for (i, raw) in text.split('\n').enumerate() {
            let lineno = i + 1;
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            if line.starts_with("DSIG:") {
                break;
            }
            if line.starts_with("ClamAV-VDB:") {
                let listed = parse_header_text(line).map_err(|e| syntax(lineno, e.to_string()))?;
                self.compare_info_header(info_name, &listed)?;
                continue;
            }
            let fields: Vec<&str> = line.split(':').collect();
            let [name, size, sha] = fields.as_slice() else {
                return Err(syntax(
                    lineno,
                    format!("expected name:size:sha256, got '{}'", line),
                ));
            };
            let size: u64 = number(size, "size").map_err(|e| syntax(lineno, e.to_string()))?;
            if !is_hex(sha, 64) {
                return Err(syntax(lineno, format!("bad sha256 '{}'", sha)));
            }
            let entry = self
                .entries
                .iter()
                .find(|e| e.name == *name)
                .ok_or_else(|| CvdError::InfoMissingEntry {
                    info: info_name.to_string(),
                    name: name.to_string(),
                })?;
            let actual_size = entry.data.len() as u64;
            if actual_size != size {
                return Err(CvdError::InfoSizeMismatch {
                    info: info_name.to_string(),
                    name: name.to_string(),
                    expected: size,
                    actual: actual_size,
                });
            }
            let actual = to_hex(&Sha256::digest(&entry.data));
            if !actual.eq_ignore_ascii_case(sha) {
                return Err(CvdError::InfoHashMismatch {
                    info: info_name.to_string(),
                    name: name.to_string(),
                    expected: sha.to_string(),
                    actual,
                });
            }
        }
        Ok(())
    }

    fn compare_info_header(&self, info: &str, listed: &CvdHeader) -> Result<(), CvdError> {
        let ours = &self.header;
        let checks: [(&'static str, String, String); 4] = [
            (
                "version",
                listed.version.to_string(),
                ours.version.to_string(),
            ),
            (
                "signature count",
                listed.signatures.to_string(),
                ours.signatures.to_string(),
            ),
            (
                "functionality level",
                listed.flevel.to_string(),
                ours.flevel.to_string(),
            ),
            (
                "build time seconds",
                listed.build_time_unix.unwrap_or(0).to_string(),
                ours.build_time_unix.unwrap_or(0).to_string(),
            ),
        ];
        for (field, l, a) in checks {
            if l != a {
                return Err(CvdError::InfoHeaderMismatch {
                    info: info.to_string(),
                    field,
                    listed: l,
                    actual: a,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    const REAL_HEADER: &str = "ClamAV-VDB:22 Jun 2021 14-58 -0400:1:0:81:\
        a4ab60ae8b1e6dcbbe0e4bbd4e7fd90b:\
        ttQeKz9Z0kqMTeP9ZyRY8gt2mFiEHDhdPMHYyxVlRGmsd6sfkEe4Zgq9Aj6mGeb3M3d2xgdZnNsLivDkc00b6c:\
        micasnyd:1624388302";

    fn pad_header(text: &str) -> Vec<u8> {
        let mut h = text.as_bytes().to_vec();
        assert!(h.len() <= HEADER_LEN);
        h.resize(HEADER_LEN, b' ');
        h
    }

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).expect("append");
        }
        b.into_inner().expect("finish tar")
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).expect("gzip write");
        e.finish().expect("gzip finish")
    }

    fn sha256_hex(d: &[u8]) -> String {
        to_hex(&Sha256::digest(d))
    }

    fn header_line(md5: &str) -> String {
        format!("ClamAV-VDB:22 Jun 2021 14-58 -0400:7:2:81:{md5}:sig:tester:1624388302")
    }

    const NDB: &[u8] = b"Test.Sig-1:0:*:414243444546\n";
    const HDB: &[u8] = b"44d88612fea8a8f36de82e1278abb02f:68:Test.Eicar-1\n";

    fn info_for(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut s = header_line("x") + "\n";
        for (name, data) in files {
            s += &format!("{}:{}:{}\n", name, data.len(), sha256_hex(data));
        }
        s += "DSIG:notverified\n";
        s.into_bytes()
    }

    /// A .cvd: header with the right MD5, then a gzip'd tar.
    fn make_cvd(files: &[(&str, &[u8])]) -> Vec<u8> {
        let body = gzip(&tar_of(files));
        let md5 = to_hex(&Md5::digest(&body));
        let mut out = pad_header(&header_line(&md5));
        out.extend_from_slice(&body);
        out
    }

    fn make_cld(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = pad_header(&header_line("00000000000000000000000000000000"));
        out.extend_from_slice(&tar_of(files));
        out
    }

    fn standard_files() -> Vec<(&'static str, Vec<u8>)> {
        let info = info_for(&[("test.ndb", NDB), ("test.hdb", HDB)]);
        vec![
            ("COPYING", b"license text\n".to_vec()),
            ("test.info", info),
            ("test.ndb", NDB.to_vec()),
            ("test.hdb", HDB.to_vec()),
        ]
    }

    fn as_refs<'a>(v: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
        v.iter().map(|(n, d)| (*n, d.as_slice())).collect()
    }

    fn ok<T>(r: Result<T, CvdError>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn fails<T: std::fmt::Debug>(r: Result<T, CvdError>) -> CvdError {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn real_header() {
        let h = ok(parse_header(&pad_header(REAL_HEADER)));
        assert_eq!(h.build_time_text, "22 Jun 2021 14-58 -0400");
        assert_eq!(h.version, 1);
        assert_eq!(h.signatures, 0);
        assert_eq!(h.flevel, 81);
        assert_eq!(h.md5, "a4ab60ae8b1e6dcbbe0e4bbd4e7fd90b");
        assert!(h.dsig.starts_with("ttQeKz") && h.dsig.ends_with("00b6c"));
        assert_eq!(h.builder, "micasnyd");
        assert_eq!(h.build_time_unix, Some(1_624_388_302));
        assert_eq!(h.database_time_unix(), Some(1_624_388_302));
        // The text form agrees with the seconds field to the minute (14:58 -04:00).
        let from_text = parse_build_time(&h.build_time_text);
        assert_eq!(from_text, Some(1_624_388_302 - 22));
    }

    #[test]
    fn header_without_seconds_uses_text_time() {
        let text = "ClamAV-VDB:02 Jan 2020 03-04 +0100:5:10:60:abc:dsig:builder";
        let h = ok(parse_header(&pad_header(text)));
        assert_eq!(h.build_time_unix, None);
        // 2020-01-02 02:04 UTC
        assert_eq!(h.database_time_unix(), Some(1_577_930_640));
        let bad = CvdHeader {
            build_time_text: "yesterday".into(),
            ..h
        };
        assert_eq!(bad.database_time_unix(), None);
    }

    #[test]
    fn header_ends_at_newline_or_nul() {
        let mut h = pad_header("ClamAV-VDB:t:1:2:3:m:d:b:4");
        h[26] = b'\n';
        h[27] = b'X';
        assert_eq!(ok(parse_header(&h)).build_time_unix, Some(4));
        let mut z = pad_header("ClamAV-VDB:t:1:2:3:m:d:b:4");
        z[26] = 0;
        z[27] = 0xff; // not UTF-8, but after the end of the text
        assert_eq!(ok(parse_header(&z)).version, 1);
    }

    #[test]
    fn header_errors() {
        assert_eq!(
            fails(parse_header(b"ClamAV-VDB:22 Jun")).to_string(),
            "truncated header: 17 bytes, a ClamAV database header is 512"
        );
        assert!(matches!(
            fails(parse_header(b"")),
            CvdError::TruncatedHeader(0)
        ));
        assert_eq!(
            fails(parse_header(b"PK\x03\x04 zip file")).to_string(),
            "not a ClamAV database: header does not start with ClamAV-VDB"
        );
        assert!(matches!(
            fails(parse_header(&pad_header("Hello world, this is text"))),
            CvdError::NotClamav
        ));
        assert_eq!(
            fails(parse_header(&pad_header("ClamAV-VDB:t:x:2:3:m:d:b:4"))).to_string(),
            "bad version field 'x'"
        );
        assert_eq!(
            fails(parse_header(&pad_header("ClamAV-VDB:t:1:-2:3:m:d:b:4"))).to_string(),
            "bad signature count field '-2'"
        );
        assert_eq!(
            fails(parse_header(&pad_header("ClamAV-VDB:t:1:2:3:m:d:b:4x"))).to_string(),
            "bad build time seconds field '4x'"
        );
        assert_eq!(
            fails(parse_header(&pad_header("ClamAV-VDB:t:1:2:3:m:d"))).to_string(),
            "malformed header: missing builder field"
        );
        assert_eq!(
            fails(parse_header(&pad_header(
                "ClamAV-VDB:t:1:2:99999999999:m:d:b"
            )))
            .to_string(),
            "bad functionality level field '99999999999'"
        );
        assert!(matches!(
            fails(parse_header(&pad_header("ClamAV-VDB:t:1::3:m:d:b"))),
            CvdError::MissingField("signature count")
        ));
        let mut nonutf = pad_header("ClamAV-VDB:t:1:2:3:m:d:b");
        nonutf[20] = 0xff;
        assert!(matches!(
            fails(parse_header(&nonutf)),
            CvdError::HeaderNotText
        ));
    }

    #[test]
    fn good_cvd() {
        let files = standard_files();
        let bytes = make_cvd(&as_refs(&files));
        let cvd = ok(parse(&bytes));
        assert!(cvd.compressed);
        assert_eq!(cvd.header.version, 7);
        let names: Vec<&str> = cvd.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["COPYING", "test.info", "test.ndb", "test.hdb"]);
        assert_eq!(cvd.entries[2].data, NDB);
        ok(cvd.verify_info());
    }

    #[test]
    fn good_cld() {
        let files = standard_files();
        let bytes = make_cld(&as_refs(&files));
        let cvd = ok(parse(&bytes));
        assert!(!cvd.compressed);
        assert_eq!(cvd.entries.len(), 4);
        assert_eq!(cvd.entries[3].data, HDB);
        ok(cvd.verify_info());
    }

    #[test]
    fn plain_tar_not_starting_with_copying() {
        let bytes = make_cld(&[("main.hdb", HDB)]);
        assert_eq!(&bytes[HEADER_LEN..HEADER_LEN + 8], b"main.hdb");
        let cvd = ok(parse(&bytes));
        assert!(!cvd.compressed);
        assert_eq!(cvd.entries[0].name, "main.hdb");
    }

    #[test]
    fn empty_member_and_empty_archive() {
        let cvd = ok(parse(&make_cvd(&[("COPYING", b""), ("x.ndb", NDB)])));
        assert_eq!(cvd.entries[0].data, b"");
        assert_eq!(cvd.entries[1].data, NDB);
        let empty = ok(parse(&make_cvd(&[])));
        assert!(empty.entries.is_empty());
        assert!(matches!(empty.verify_info(), Err(CvdError::NoInfo)));
    }

    #[test]
    fn truncated_file() {
        let bytes = make_cvd(&as_refs(&standard_files()));
        assert!(matches!(
            fails(parse(&bytes[..300])),
            CvdError::TruncatedHeader(300)
        ));
        assert!(matches!(
            fails(parse(&bytes[..HEADER_LEN])),
            CvdError::NoArchive
        ));
        // A truncated plain tar.
        let cld = make_cld(&as_refs(&standard_files()));
        let cut = &cld[..HEADER_LEN + 512 + 700];
        assert!(matches!(fails(parse(cut)), CvdError::CorruptTar(_)));
    }

    #[test]
    fn truncated_gzip() {
        let body = gzip(&tar_of(&[("COPYING", b"c"), ("a.ndb", NDB)]));
        let cut = &body[..body.len() - 10];
        let mut bytes = pad_header(&header_line(&to_hex(&Md5::digest(cut))));
        bytes.extend_from_slice(cut);
        let e = fails(parse(&bytes));
        assert!(matches!(e, CvdError::CorruptGzip(_)), "{e}");
    }

    #[test]
    fn not_clamav() {
        let mut bytes = vec![b'A'; 2000];
        bytes[..4].copy_from_slice(b"\x7fELF");
        assert!(matches!(fails(parse(&bytes)), CvdError::NotClamav));
    }

    #[test]
    fn corrupt_gzip() {
        // Garbage where the gzip stream should be; the MD5 matches so the gzip error shows.
        let body = b"this is not gzip data at all, not a tar either".to_vec();
        let mut bytes = pad_header(&header_line(&to_hex(&Md5::digest(&body))));
        bytes.extend_from_slice(&body);
        let e = fails(parse(&bytes));
        assert!(matches!(e, CvdError::CorruptGzip(_)), "{e}");
        assert!(e.to_string().starts_with("corrupt gzip stream: "), "{e}");

        // A valid gzip header with a damaged deflate stream / CRC.
        let mut body = gzip(&tar_of(&[("COPYING", b"x"), ("a.ndb", NDB)]));
        let n = body.len();
        body[n - 6] ^= 0xff; // inside the CRC32 trailer
        let mut bytes = pad_header(&header_line(&to_hex(&Md5::digest(&body))));
        bytes.extend_from_slice(&body);
        let e = fails(parse(&bytes));
        assert!(matches!(e, CvdError::CorruptGzip(_)), "{e}");
    }

    #[test]
    fn md5_mismatch() {
        let mut bytes = make_cvd(&as_refs(&standard_files()));
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        let e = fails(parse(&bytes));
        assert!(matches!(e, CvdError::Md5Mismatch { .. }), "{e}");
        assert!(e.to_string().starts_with("MD5 mismatch: header says "));
        // A header MD5 that is not 32 hex digits is not checked.
        let body = gzip(&tar_of(&[("a.ndb", NDB)]));
        let mut unchecked = pad_header(&header_line("none"));
        unchecked.extend_from_slice(&body);
        assert_eq!(ok(parse(&unchecked)).entries.len(), 1);
    }

    #[test]
    fn info_size_mismatch() {
        let mut files = standard_files();
        files[2].1 = b"Test.Sig-1:0:*:41424344454647\n".to_vec(); // test.ndb changed
        let cvd = ok(parse(&make_cvd(&as_refs(&files))));
        let e = fails(cvd.verify_info());
        assert!(matches!(e, CvdError::InfoSizeMismatch { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "test.info lists test.ndb with size {}, content has {}",
                NDB.len(),
                NDB.len() + 2
            )
        );
    }

    #[test]
    fn info_hash_mismatch() {
        let mut files = standard_files();
        files[3].1 = b"44d88612fea8a8f36de82e1278abb02f:68:Test.Eicar-2\n".to_vec();
        let cvd = ok(parse(&make_cld(&as_refs(&files))));
        let e = fails(cvd.verify_info());
        let expected = sha256_hex(HDB);
        let actual = sha256_hex(&files[3].1);
        assert_eq!(
            e.to_string(),
            format!("test.info lists test.hdb with sha256 {expected}, content has {actual}")
        );
    }

    #[test]
    fn info_missing_entry_and_syntax() {
        let info = info_for(&[("gone.ndb", NDB)]);
        let cvd = ok(parse(&make_cvd(&[("test.info", &info)])));
        assert_eq!(
            fails(cvd.verify_info()).to_string(),
            "test.info lists gone.ndb, which is missing from the database"
        );

        let bad = format!("{}\nfoo.ndb:12\n", header_line("x"));
        let cvd = ok(parse(&make_cvd(&[("x.info", bad.as_bytes())])));
        assert_eq!(
            fails(cvd.verify_info()).to_string(),
            "x.info line 2: expected name:size:sha256, got 'foo.ndb:12'"
        );

        let bad = "foo.ndb:1x:00\n";
        let cvd = ok(parse(&make_cvd(&[("x.info", bad.as_bytes())])));
        assert_eq!(
            fails(cvd.verify_info()).to_string(),
            "x.info line 1: bad size field '1x'"
        );
        let bad = "foo.ndb:1:00\n";
        let cvd = ok(parse(&make_cvd(&[("x.info", bad.as_bytes())])));
        assert!(fails(cvd.verify_info()).to_string().contains("bad sha256"));
    }

    #[test]
    fn info_stops_at_dsig_and_checks_header() {
        // Lines after DSIG: are not read.
        let mut info = info_for(&[("a.ndb", NDB)]);
        info.extend_from_slice(b"missing.ndb:1:");
        info.extend_from_slice(sha256_hex(b"x").as_bytes());
        info.extend_from_slice(b"\r\n");
        let cvd = ok(parse(&make_cvd(&[("a.info", &info), ("a.ndb", NDB)])));
        ok(cvd.verify_info());

        // CRLF line endings and blank lines are fine.
        let crlf = format!(
            "{}\r\n\r\na.ndb:{}:{}\r\n",
            header_line("x"),
            NDB.len(),
            sha256_hex(NDB).to_uppercase()
        );
        let cvd = ok(parse(&make_cld(&[
            ("a.info", crlf.as_bytes()),
            ("a.ndb", NDB),
        ])));
        ok(cvd.verify_info());

        // The .info header must agree with the container header.
        let other = "ClamAV-VDB:22 Jun 2021 14-58 -0400:8:2:81:x:sig:tester:1624388302\n";
        let cvd = ok(parse(&make_cvd(&[("a.info", other.as_bytes())])));
        assert_eq!(
            fails(cvd.verify_info()).to_string(),
            "a.info header has version 8, the database header has 7"
        );
    }

    #[test]
    fn rejects_directories_and_slashes() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(0o755);
        h.set_cksum();
        b.append_data(&mut h, "dir", io::empty()).expect("dir");
        let tarball = b.into_inner().expect("tar");
        let mut bytes = pad_header(&header_line("x"));
        bytes.extend_from_slice(&gzip(&tarball));
        let e = fails(parse(&bytes));
        assert!(matches!(e, CvdError::UnsupportedEntry { .. }), "{e}");

        let bytes = make_cvd(&[("sub/evil.ndb", NDB)]);
        let e = fails(parse(&bytes));
        assert!(e.to_string().contains("path separators"), "{e}");

        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_link_name("/etc/passwd").expect("link name");
        b.append_data(&mut h, "link", io::empty()).expect("link");
        let mut bytes = pad_header(&header_line("x"));
        bytes.extend_from_slice(&b.into_inner().expect("tar"));
        let e = fails(parse(&bytes));
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn oversized_member_is_refused_before_reading() {
        // A header that claims a 2 GiB member, with no data behind it.
        let mut h = tar::Header::new_gnu();
        h.set_path("huge.ndb").expect("path");
        h.set_size(2 << 30);
        h.set_mode(0o644);
        h.set_cksum();
        let mut bytes = pad_header(&header_line("x"));
        bytes.extend_from_slice(h.as_bytes());
        bytes.extend_from_slice(&[0u8; 1024]);
        let e = fails(parse(&bytes));
        assert!(
            matches!(e, CvdError::EntryTooLarge { size, .. } if size == 2 << 30),
            "{e}"
        );
    }

    #[test]
    fn too_many_members() {
        let names: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("f{i}.ndb")).collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let bytes = make_cvd(&files);
        assert!(matches!(
            fails(parse(&bytes)),
            CvdError::TooManyEntries(MAX_ENTRIES)
        ));
    }

    #[test]
    fn total_size_limit() {
        let tarball = tar_of(&[("a.ndb", &[b'A'; 5000][..])]);
        let e = fails(untar(GzDecoder::new(gzip(&tarball).as_slice()), true, 4096));
        assert!(matches!(e, CvdError::ArchiveTooLarge(4096)), "{e}");
        let e = fails(untar(tarball.as_slice(), false, 4096));
        assert!(matches!(e, CvdError::ArchiveTooLarge(4096)), "{e}");
        assert_eq!(ok(untar(tarball.as_slice(), false, 1 << 20)).len(), 1);
    }

    #[test]
    fn error_is_std_error() {
        let e: Box<dyn std::error::Error + Send + Sync> = Box::new(CvdError::NoInfo);
        assert_eq!(e.to_string(), "no .info file in the database");
    }
}
