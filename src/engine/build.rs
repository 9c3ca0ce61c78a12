//! `DbBuilder`: database files in, an immutable [`Engine`] out.
//!
//! Files are only collected by `add_file`; parsing happens in `build`, in a fixed order
//! (ignore lists, then allow lists, then signatures), so an `.ign2` applies to every
//! file whatever order the caller added them in, as in ClamAV. The builder does no I/O:
//! callers hand it bytes (`db/` reads files and directories, the built-in set is
//! compiled into the binary), and the compiled-database cache is a trait.

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hyperscan::prelude::*;
use hyperscan::Serialized;
use md5::Digest;

use super::cache::{self, CompiledCache};
use super::compile::{AnchorBuilder, Owner};
use super::cvd;
use super::hashes::HashIndex;
use super::names::NameTable;
use super::report::{DbVersion, LoadReport, SkipRecord};
use super::sig::body::Class;
use super::sig::{hash, ldb, ndb, Parsed};
use super::{ContentInfo, Engine, LdbInfo};
use crate::formats::target_supported;

/// Why a database did not load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A malformed line.
    #[error("{file}:{line}: {reason}")]
    Malformed {
        /// Database file.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A skipped signature under `--strict`.
    #[error("{file}:{line}: {name}: {reason} (strict mode)")]
    Strict {
        /// Database file.
        file: String,
        /// 1-based line.
        line: usize,
        /// Signature name.
        name: String,
        /// Why it would be skipped.
        reason: String,
    },
    /// A container that does not parse or verify.
    #[error("{file}: {reason}")]
    Container {
        /// Database file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// Hyperscan refused the anchors.
    #[error("compiling the database: {0}")]
    Compile(String),
    /// Nothing usable was loaded.
    #[error("no signatures loaded")]
    Empty,
}

/// What kind of database a file is, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Ignore,
    Allow,
    Hash,
    Content,
    Logical,
    Container,
    /// `.urls`: URL lists, loaded by `db::load_url_lists`, not signatures.
    UrlList,
    Unsupported,
    Unknown,
}

fn kind_of(name: &str) -> Kind {
    let ext = name
        .rsplit_once('.')
        .map_or("", |(_, e)| e)
        .to_ascii_lowercase();
    match ext.as_str() {
        "ign" | "ign2" => Kind::Ignore,
        "fp" | "sfp" => Kind::Allow,
        "hdb" | "hsb" | "hdu" | "hsu" => Kind::Hash,
        "ndb" | "ndu" => Kind::Content,
        "ldb" | "ldu" => Kind::Logical,
        "cvd" | "cld" | "cud" => Kind::Container,
        "urls" => Kind::UrlList,
        "mdb" | "mdu" | "msb" | "msu" | "imp" | "db" | "cdb" | "cfg" | "crb" | "cbc" | "ftm"
        | "pdb" | "gdb" | "wdb" | "idb" | "yar" | "yara" | "pwdb" | "hwp" | "sdb" | "zmd"
        | "rmd" | "mpd" | "yrb" => Kind::Unsupported,
        _ => Kind::Unknown,
    }
}

struct Source {
    name: String,
    bytes: Vec<u8>,
    official: bool,
}

/// Collects database files, then builds an [`Engine`].
#[derive(Default)]
pub struct DbBuilder {
    sources: Vec<Source>,
    strict: bool,
    notices: Vec<String>,
    version: Option<DbVersion>,
}

/// Parsed state while building.
#[derive(Default)]
struct Loading {
    report: LoadReport,
    names: NameTable,
    hashes: HashIndex,
    allow: HashIndex,
    anchors: AnchorBuilder,
    contents: Vec<ContentInfo>,
    ldbs: Vec<LdbInfo>,
    total_subsigs: u32,
    /// Ignored names, with the MD5s of the lines they apply to (empty: any line).
    ignore: HashMap<String, Vec<[u8; 16]>>,
}

impl DbBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// With `--strict`: a signature that would be skipped fails the load instead.
    pub fn strict(mut self, yes: bool) -> Self {
        self.strict = yes;
        self
    }

    /// Adds one database file by name (the extension selects the format). `official`
    /// marks signatures that keep their names without `.UNOFFICIAL` (containers always
    /// are; this flag is for the built-in set).
    pub fn add_file(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
        official: bool,
    ) -> Result<(), LoadError> {
        match kind_of(name) {
            Kind::Container => self.add_container(name, &bytes),
            // Not signatures: `db::load_url_lists` reads them; accepted here so that a
            // database directory with lists in it loads without a notice.
            Kind::UrlList => Ok(()),
            Kind::Unknown => {
                self.notices
                    .push(format!("{name}: unknown database file type, ignored"));
                Ok(())
            }
            _ => {
                self.sources.push(Source {
                    name: name.into(),
                    bytes,
                    official,
                });
                Ok(())
            }
        }
    }

    fn add_container(&mut self, name: &str, bytes: &[u8]) -> Result<(), LoadError> {
        let container_err = |reason: String| LoadError::Container {
            file: name.into(),
            reason,
        };
        let parsed = cvd::parse(bytes).map_err(|e| container_err(e.to_string()))?;
        parsed
            .verify_info()
            .map_err(|e| container_err(e.to_string()))?;
        let time = parsed.header.database_time_unix().unwrap_or(0);
        let newer = DbVersion {
            version: parsed.header.version,
            time_unix: time,
        };
        if self
            .version
            .as_ref()
            .is_none_or(|v| (v.time_unix, v.version) < (newer.time_unix, newer.version))
        {
            self.version = Some(newer);
        }
        for entry in parsed.entries {
            let inner = format!("{name}:{}", entry.name);
            match kind_of(&entry.name) {
                Kind::Unknown => {
                    // COPYING, *.info and friends: expected inside containers.
                    let base = entry.name.to_ascii_lowercase();
                    if !(base == "copying" || base.ends_with(".info")) {
                        self.notices
                            .push(format!("{inner}: unknown database file type, ignored"));
                    }
                }
                Kind::Container => self
                    .notices
                    .push(format!("{inner}: nested container ignored")),
                Kind::UrlList => self
                    .notices
                    .push(format!("{inner}: URL list inside a container ignored")),
                _ => self.sources.push(Source {
                    name: inner,
                    bytes: entry.data,
                    official: true,
                }),
            }
        }
        Ok(())
    }

    /// Parses everything, compiles the anchors (or loads them from `cache`) and returns
    /// the engine with its load report.
    pub fn build(
        self,
        cache: Option<&dyn CompiledCache>,
    ) -> Result<(Engine, LoadReport), LoadError> {
        let parse_start = Instant::now();
        let mut st = Loading::default();
        st.report.notices = self.notices;
        let mut sources = self.sources;
        // Stable: within a kind, the caller's order is kept.
        sources.sort_by_key(|s| kind_of(&s.name));
        // Consumed one by one: each file's text is freed as soon as it is parsed.
        for src in sources {
            st.report.files.push(src.name.clone());
            load_source(&mut st, &src, self.strict)?;
        }
        st.hashes.finish();
        st.allow.finish();
        st.names.shrink();
        st.report.parse_time = parse_start.elapsed();
        if st.report.counts.total() == 0 {
            return Err(LoadError::Empty);
        }

        let compile_start = Instant::now();
        let table = st.anchors.finish();
        let all: Vec<(usize, &super::compile::AnchorExpr)> =
            table.exprs.iter().enumerate().collect();
        let text: Vec<(usize, &super::compile::AnchorExpr)> = all
            .iter()
            .copied()
            .filter(|(i, _)| table.text[*i])
            .collect();
        let compiled = compile_anchors(&all, cache).and_then(|(hs, from_cache)| {
            let (text_hs, text_from_cache) = compile_anchors(&text, cache)?;
            Ok((
                hs,
                text_hs,
                from_cache && (text.is_empty() || text_from_cache),
            ))
        });
        let (hs, text_hs, from_cache) = compiled.map_err(|(e, anchor)| {
            // Name the signature behind the refused anchor, so the error is actionable.
            let owner = anchor
                .and_then(|a| table.uses_of(a as u32).first().copied())
                .map(|p| match table.prepared[p as usize].owner {
                    Owner::Content(c) => st.names.get(st.contents[c as usize].sig).to_string(),
                    Owner::Subsig { ldb, sub } => {
                        format!(
                            "{} subsignature {sub}",
                            st.names.get(st.ldbs[ldb as usize].sig)
                        )
                    }
                });
            match (owner, anchor) {
                (Some(name), Some(a)) => {
                    LoadError::Compile(format!("{e} (anchor /{}/ of {name})", table.exprs[a].expr))
                }
                _ => LoadError::Compile(e),
            }
        })?;
        st.report.compile_time = compile_start.elapsed();
        st.report.from_cache = from_cache;
        st.report.anchors = table.exprs.len();
        st.report.regex_anchors = table.exprs.iter().filter(|e| !is_literal(&e.expr)).count();
        st.report.text_anchors = text.len();
        st.report.hyperscan_bytes = [&hs, &text_hs]
            .iter()
            .filter_map(|db| db.as_ref().and_then(|db| db.size().ok()))
            .sum();
        st.report.version = self.version.unwrap_or_else(|| DbVersion {
            version: 0,
            time_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        });
        let ldbs_true_at_zero = (st.ldbs.iter().enumerate())
            .filter(|(_, l)| l.expr.eval(&vec![0; l.nsub as usize]))
            .map(|(i, _)| i as u32)
            .collect();
        let engine = Engine {
            names: st.names,
            hashes: st.hashes,
            allow: st.allow,
            contents: st.contents,
            ldbs: st.ldbs,
            total_subsigs: st.total_subsigs,
            ldbs_true_at_zero,
            anchors: table,
            hs,
            text_hs,
            version: st.report.version.clone(),
            signatures: st.report.counts.total(),
            id: Engine::fresh_id(),
        };
        st.report.table_bytes = engine.table_memory();
        Ok((engine, st.report))
    }
}

fn is_literal(expr: &str) -> bool {
    expr.len().is_multiple_of(4)
        && expr
            .as_bytes()
            .chunks(4)
            .all(|c| c[0] == b'\\' && c[1] == b'x')
}

/// Compiles the anchors, or takes them from the cache when its key matches. An error
/// carries the index of the refused anchor when Hyperscan names one.
fn compile_anchors(
    exprs: &[(usize, &super::compile::AnchorExpr)],
    cache: Option<&dyn CompiledCache>,
) -> Result<(Option<BlockDatabase>, bool), (String, Option<usize>)> {
    if exprs.is_empty() {
        return Ok((None, false));
    }
    let key = cache::key(exprs);
    if let Some(cache) = cache {
        if let Some(bytes) = cache.get(&key) {
            match cache::decode(&bytes, &key).and_then(|payload| {
                payload
                    .deserialize::<hyperscan::Block>()
                    .map_err(|e| cache::CacheError::Hyperscan(e.to_string()))
            }) {
                Ok(db) => return Ok((Some(db), true)),
                Err(e) => tracing::info!("compiled-database cache entry not used: {e}"),
            }
        }
    }
    let patterns: Patterns = exprs
        .iter()
        .map(|&(i, a)| {
            let mut flags = CompileFlags::DOTALL;
            if a.caseless {
                flags |= CompileFlags::CASELESS;
            }
            Pattern {
                expression: a.expr.clone(),
                flags,
                id: Some(i),
                ext: Default::default(),
                som: None,
            }
        })
        .collect();
    let db: BlockDatabase = patterns.build().map_err(|e| {
        let index = match &e {
            hyperscan::Error::Hyperscan(hyperscan::HsError::CompileError(c)) => {
                c.expression().and_then(|n| exprs.get(n)).map(|(id, _)| *id)
            }
            _ => None,
        };
        (e.to_string(), index)
    })?;
    if let Some(cache) = cache {
        match db.serialize() {
            Ok(bytes) => cache.put(&key, &cache::encode(&key, &bytes)),
            Err(e) => tracing::warn!("serializing the compiled database: {e}"),
        }
    }
    Ok((Some(db), false))
}

fn lines(src: &Source) -> impl Iterator<Item = (usize, Result<&str, String>)> {
    src.bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = std::str::from_utf8(raw).map_err(|_| "line is not valid UTF-8".to_string());
            match line {
                Ok(l) if l.trim().is_empty() || l.starts_with('#') => None,
                other => Some((i + 1, other)),
            }
        })
}

/// What one line did not do: either the line is malformed (the load fails) or the
/// signature is left out with a reason (the load goes on, unless strict).
enum LineError {
    Malformed(String),
    Skip { name: String, reason: String },
}

impl From<String> for LineError {
    fn from(reason: String) -> Self {
        LineError::Malformed(reason)
    }
}

/// The signature of a parsed line, or its skip as a line error.
fn usable<T>(parsed: Parsed<T>) -> Result<T, LineError> {
    match parsed {
        Parsed::Sig(sig) => Ok(sig),
        Parsed::Skip(s) => Err(skip(&s.name, s.reason)),
    }
}

/// Whether a content or logical signature goes in: `Ok(false)` when an ignore list
/// names it, a skip when its target type is not supported.
fn admitted(st: &mut Loading, name: &str, target: u8, line: &str) -> Result<bool, LineError> {
    if ignored(st, name, line) {
        return Ok(false);
    }
    target_supported(target).map_err(|reason| skip(name, reason))?;
    Ok(true)
}

fn skip(name: &str, reason: impl Into<String>) -> LineError {
    LineError::Skip {
        name: name.into(),
        reason: reason.into(),
    }
}

fn load_source(st: &mut Loading, src: &Source, strict: bool) -> Result<(), LoadError> {
    let kind = kind_of(src.name.rsplit(':').next().unwrap_or(&src.name));
    let suffix = if src.official { "" } else { ".UNOFFICIAL" };
    for (line_no, line) in lines(src) {
        let result = line
            .map_err(LineError::Malformed)
            .and_then(|line| match kind {
                Kind::Ignore => load_ignore(st, line),
                Kind::Allow => load_allow(st, line),
                Kind::Hash => load_hash(st, line, suffix),
                Kind::Content => load_content(st, line, suffix),
                Kind::Logical => load_logical(st, line, suffix),
                Kind::Unsupported => {
                    let name = line.split([':', ';']).next().unwrap_or("");
                    let ext = src.name.rsplit_once('.').map_or("", |(_, e)| e);
                    Err(skip(
                        name,
                        format!(".{ext} signatures are not supported yet"),
                    ))
                }
                Kind::Container | Kind::UrlList | Kind::Unknown => Ok(()),
            });
        let (file, line) = (src.name.clone(), line_no);
        match result {
            Ok(()) => {}
            Err(LineError::Malformed(reason)) => {
                return Err(LoadError::Malformed { file, line, reason })
            }
            Err(LineError::Skip { name, reason }) if strict => {
                return Err(LoadError::Strict {
                    file,
                    line,
                    name,
                    reason,
                })
            }
            Err(LineError::Skip { name, reason }) => st.report.skipped.push(SkipRecord {
                file,
                line,
                name,
                reason,
            }),
        }
    }
    Ok(())
}

/// `.ign2` is `name[:md5-of-the-line]`; the old `.ign` is `file:line:name`.
fn load_ignore(st: &mut Loading, line: &str) -> Result<(), LineError> {
    let (name, md5) = match line.split_once(':') {
        Some((a, rest)) if rest.contains(':') => (rest.rsplit(':').next().unwrap_or(a), None),
        Some((a, m)) => (a, Some(m)),
        None => (line, None),
    };
    let entry = st.ignore.entry(name.trim().to_string()).or_default();
    if let Some(m) = md5 {
        let mut d = [0u8; 16];
        if !hash::decode_hex(m.trim(), &mut d) {
            return Err(format!("'{m}' is not an MD5").into());
        }
        entry.push(d);
    }
    st.report.counts.ignore_entries += 1;
    Ok(())
}

fn load_allow(st: &mut Loading, line: &str) -> Result<(), LineError> {
    let sig = usable(hash::parse_line(line)?)?;
    st.allow.push(&sig, 0);
    st.report.counts.allow += 1;
    Ok(())
}

fn load_hash(st: &mut Loading, line: &str, suffix: &str) -> Result<(), LineError> {
    let sig = usable(hash::parse_line(line)?)?;
    if ignored(st, sig.name, line) {
        return Ok(());
    }
    let id = st.names.push(sig.name, suffix);
    st.hashes.push(&sig, id.0);
    match sig.kind {
        hash::HashKind::Md5 => st.report.counts.md5 += 1,
        hash::HashKind::Sha1 => st.report.counts.sha1 += 1,
        hash::HashKind::Sha256 => st.report.counts.sha256 += 1,
    }
    Ok(())
}

fn load_content(st: &mut Loading, line: &str, suffix: &str) -> Result<(), LineError> {
    let sig = usable(ndb::parse_line(line)?)?;
    if !admitted(st, &sig.name, sig.target, line)? {
        return Ok(());
    }
    let owner = Owner::Content(st.contents.len() as u32);
    let text = matches!(sig.target, 0 | 7);
    st.anchors
        .add(&sig.body.elems, sig.offset, owner, false, None, text)
        .map_err(|reason| skip(&sig.name, reason))?;
    let id = st.names.push(&sig.name, suffix);
    st.contents.push(ContentInfo {
        sig: id,
        target: sig.target,
    });
    st.report.counts.content += 1;
    Ok(())
}

fn load_logical(st: &mut Loading, line: &str, suffix: &str) -> Result<(), LineError> {
    let sig = usable(ldb::parse_line(line)?)?;
    if !admitted(st, &sig.name, sig.target, line)? {
        return Ok(());
    }
    // All bodies must anchor, or the signature is skipped whole; the anchor builder is
    // only touched once every body is known to anchor.
    for (sub, s) in sig.subsigs.iter().enumerate() {
        if s.bodies
            .iter()
            .any(|(body, _)| super::compile::choose_anchor(&body.elems).is_none())
        {
            return Err(skip(
                &sig.name,
                format!("subsignature {sub}: body has no fixed bytes to anchor on"),
            ));
        }
    }
    let index = st.ldbs.len() as u32;
    let text = matches!(sig.target, 0 | 7);
    for (sub, s) in sig.subsigs.iter().enumerate() {
        for (body, wide) in &s.bodies {
            let word = if *wide {
                Class::WideNonAlnum
            } else {
                Class::NonAlnum
            };
            let owner = Owner::Subsig {
                ldb: index,
                sub: sub as u8,
            };
            st.anchors
                .add(
                    &body.elems,
                    s.offset,
                    owner,
                    s.nocase,
                    s.fullword.then_some(word),
                    text,
                )
                .map_err(LineError::Malformed)?;
        }
    }
    let id = st.names.push(&sig.name, suffix);
    st.ldbs.push(LdbInfo {
        sig: id,
        target: sig.target,
        file_size: sig.file_size,
        expr: sig.expr,
        base: st.total_subsigs,
        nsub: sig.subsigs.len() as u32,
    });
    st.total_subsigs += sig.subsigs.len() as u32;
    st.report.counts.logical += 1;
    Ok(())
}

/// Whether an ignore list names this signature (and, for `name:md5` entries, this line).
fn ignored(st: &mut Loading, name: &str, line: &str) -> bool {
    let Some(md5s) = st.ignore.get(name) else {
        return false;
    };
    let hit = md5s.is_empty() || {
        let d: [u8; 16] = md5::Md5::digest(line.as_bytes()).into();
        md5s.contains(&d)
    };
    if hit {
        st.report.counts.ignored += 1;
    }
    hit
}
