//! URL reputation lists for KAV `checkurl`: plain-text `.urls` files loaded with the
//! signature databases, asked "which category, if any, does this URL fall in?".
//!
//! # File format
//!
//! A list file has the extension `.urls` and is UTF-8 text. Blank lines and lines whose
//! first non-blank character is `#` are ignored (there are no trailing comments: `#`
//! may be part of a URL). Every other line is
//!
//! ```text
//! <category> <pattern>
//! ```
//!
//! separated by whitespace, where the category is `malicious`, `phishing`, `adware` or
//! `riskware` (any case) and the pattern is one of
//!
//! - a host: `evil.example`, `192.0.2.7`, `[2001:db8::1]`;
//! - a host and path: `evil.example/downloads/`;
//! - a URL with scheme: `http://evil.example:8080/a?b=1`.
//!
//! A malformed line fails the whole file with its line number, like a malformed
//! signature line: a reload with a broken list keeps the old database.
//!
//! # Matching
//!
//! - **Host**: a domain matches itself and every subdomain, at a label boundary
//!   (`evil.example` matches `a.evil.example`, not `notevil.example`). An IP address
//!   matches only itself.
//! - **Path**: matched by prefix at a segment boundary. `/a/b` matches `/a/b`, `/a/b/`,
//!   `/a/b/c` and `/a/b?q`, not `/a/bc`; a pattern path ending in `/` matches every
//!   path that starts with it; a host alone (path `/`) matches every path.
//! - **Query**: a pattern with a query matches only a URL with exactly that path and
//!   exactly that query (a tracking link names one resource, and a prefix of a query
//!   has no structure to respect).
//! - **Port**: a pattern with an explicit non-default port matches only URLs whose port
//!   (explicit or the scheme's default) is that port; without one, any port matches.
//! - **Scheme**: ignored. A host that serves malware over `http` serves it over `https`
//!   too; patterns may still carry a scheme (needed to write a port or to paste a URL).
//!   Only `http`, `https`, `ftp`, `ws` and `wss` are accepted; other schemes have no
//!   host to match, so a pattern with one is an error and a URL with one is clean.
//! - **Userinfo** and **fragment** are ignored.
//!
//! When several entries match, the category with the highest priority wins:
//! malicious > phishing > adware > riskware (KAV's order).
//!
//! # Canonical form
//!
//! Patterns and queried URLs go through the same canonicalization, so they compare as
//! plain strings: parsed by the WHATWG rules (the `url` crate), `http://` assumed when
//! there is no scheme; host lowercased, IDN to punycode, IPv4 forms such as `0x7f.1`
//! made dotted-decimal, IPv6 compressed, trailing dots dropped; default ports dropped;
//! dot segments resolved; runs of `/` in the path collapsed to one; percent-escapes of
//! unreserved characters decoded (`%7e` → `~`, `%41` → `A`) and the hex of the others
//! uppercased (`%2f` → `%2F`), in path and query; an empty query is no query. Paths and
//! queries stay case-sensitive.
//!
//! # Lookup
//!
//! Entries are kept in a map keyed by host. A query looks up each suffix of its host at a
//! label boundary (`a.b.example`, `b.example`, `example`), only as many labels as the
//! longest key has, and checks the path of the few entries found: no scan over the list.

use std::collections::HashMap;
use std::fmt;

use url::{Host, Url};

/// The built-in list (`builtin/builtin.urls`): test entries only, used when no
/// database paths are given, like the built-in signatures.
pub const BUILTIN: &str = include_str!("builtin/builtin.urls");

/// The built-in list, parsed.
pub fn builtin() -> UrlList {
    let mut list = UrlList::default();
    // A unit test parses it; a failure here can only be a broken build.
    if let Err(e) = list.parse("builtin.urls", BUILTIN) {
        tracing::error!("built-in URL list: {e}");
    }
    list
}

/// What a listed URL is. Ordered by priority: `Malicious` is the highest and sorts
/// first (`Malicious < Phishing`), so the winner among several is their minimum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UrlCategory {
    /// Serves malware (`MALICIOUS_URL`).
    Malicious,
    /// A phishing site (`PHISHING_URL`).
    Phishing,
    /// Serves adware (`ADWARE_URL`).
    Adware,
    /// Serves riskware (`RISKWARE_URL`).
    Riskware,
}

impl UrlCategory {
    /// The KAV `detectionName` for this category.
    pub fn detection_name(self) -> &'static str {
        match self {
            UrlCategory::Malicious => "MALICIOUS_URL",
            UrlCategory::Phishing => "PHISHING_URL",
            UrlCategory::Adware => "ADWARE_URL",
            UrlCategory::Riskware => "RISKWARE_URL",
        }
    }

    /// The category named in a list file (case-insensitive).
    fn from_word(word: &str) -> Option<Self> {
        [
            UrlCategory::Malicious,
            UrlCategory::Phishing,
            UrlCategory::Adware,
            UrlCategory::Riskware,
        ]
        .into_iter()
        .find(|c| c.word().eq_ignore_ascii_case(word))
    }

    /// The word a list file uses for this category.
    fn word(self) -> &'static str {
        match self {
            UrlCategory::Malicious => "malicious",
            UrlCategory::Phishing => "phishing",
            UrlCategory::Adware => "adware",
            UrlCategory::Riskware => "riskware",
        }
    }
}

impl fmt::Display for UrlCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// A line of a list file that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct UrlListError {
    /// The list file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// One listed pattern, stored under its host.
#[derive(Clone, Debug)]
struct Entry {
    /// Canonical path, starting with `/`.
    path: String,
    /// Canonical query; `Some` means path and query must match exactly.
    query: Option<String>,
    /// An explicit non-default port the URL must be on.
    port: Option<u16>,
    category: UrlCategory,
}

impl Entry {
    fn matches(&self, url: &Canonical) -> bool {
        if self.port.is_some_and(|p| url.effective_port != Some(p)) {
            return false;
        }
        match &self.query {
            Some(q) => url.path == self.path && url.query.as_deref() == Some(q.as_str()),
            None => path_prefix_matches(&self.path, &url.path),
        }
    }
}

/// Whether `pattern` is a prefix of `path` at a segment boundary.
fn path_prefix_matches(pattern: &str, path: &str) -> bool {
    if pattern.ends_with('/') {
        return path.starts_with(pattern);
    }
    match path.strip_prefix(pattern) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// A set of listed URLs by category. Immutable once loaded; share it with the engine.
#[derive(Clone, Debug, Default)]
pub struct UrlList {
    by_host: HashMap<String, Vec<Entry>>,
    entries: usize,
    /// The most labels any domain key has: suffixes longer than that cannot be keys, so a
    /// host with thousands of labels costs no more lookups than the longest key.
    max_labels: usize,
}

impl UrlList {
    /// Adds the entries of one list file, named `name` in errors. The file is all or
    /// nothing: on error nothing of it has been added. Returns how many entries it had.
    pub fn parse(&mut self, name: &str, text: &str) -> Result<usize, UrlListError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut parsed = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry = parse_line(line).map_err(|reason| UrlListError {
                file: name.to_string(),
                line: i + 1,
                reason,
            })?;
            parsed.push(entry);
        }
        let count = parsed.len();
        for (host, is_domain, entry) in parsed {
            if is_domain {
                self.max_labels = self.max_labels.max(host.split('.').count());
            }
            self.by_host.entry(host).or_default().push(entry);
        }
        self.entries += count;
        Ok(count)
    }

    /// [`parse`](Self::parse) for raw file contents: text that is not UTF-8 fails with
    /// the line of the first bad byte.
    pub fn parse_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<usize, UrlListError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.parse(name, text),
            Err(e) => {
                let before = bytes.get(..e.valid_up_to()).unwrap_or_default();
                Err(UrlListError {
                    file: name.to_string(),
                    line: before.iter().filter(|&&b| b == b'\n').count() + 1,
                    reason: "line is not valid UTF-8".into(),
                })
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The highest-priority category of the entries `url` matches; `None` when it
    /// matches none or is not a URL with a host.
    pub fn check(&self, url: &str) -> Option<UrlCategory> {
        if self.by_host.is_empty() {
            return None;
        }
        let url = canonicalize(url).ok()?;
        let mut best: Option<UrlCategory> = None;
        for key in host_keys(&url.host, url.is_domain, self.max_labels) {
            let Some(entries) = self.by_host.get(key) else {
                continue;
            };
            for e in entries.iter().filter(|e| e.matches(&url)) {
                if best.is_none_or(|b| e.category < b) {
                    best = Some(e.category);
                }
            }
            if best == Some(UrlCategory::Malicious) {
                break;
            }
        }
        best
    }
}

/// The keys to look up for a host: the host itself, then each shorter suffix at a label
/// boundary (domains only), skipping suffixes with more than `max_labels` labels.
fn host_keys(host: &str, is_domain: bool, max_labels: usize) -> impl Iterator<Item = &str> {
    let mut keys = Vec::new();
    if !is_domain {
        keys.push(host);
        return keys.into_iter();
    }
    // Suffixes from the shortest: every '.' from the right starts one.
    let mut labels = 0;
    let mut end = host.len();
    while labels < max_labels {
        labels += 1;
        match host.get(..end).and_then(|h| h.rfind('.')) {
            Some(dot) => {
                keys.push(host.get(dot + 1..).unwrap_or(host));
                end = dot;
            }
            None => {
                keys.push(host);
                break;
            }
        }
    }
    keys.into_iter()
}

/// One line, already trimmed and not a comment: `(host key, is a domain, entry)`.
fn parse_line(line: &str) -> Result<(String, bool, Entry), String> {
    let mut words = line.split_whitespace();
    let (Some(word), Some(pattern), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!(
            "expected '<category> <pattern>', found '{}'",
            truncate(line)
        ));
    };
    let category = UrlCategory::from_word(word).ok_or_else(|| {
        format!(
            "unknown category '{}' (expected malicious, phishing, adware or riskware)",
            truncate(word)
        )
    })?;
    let c = canonicalize(pattern).map_err(|e| format!("pattern '{}': {e}", truncate(pattern)))?;
    // A default port was already dropped by the parser; what is left must match.
    let port = c.explicit_port.then_some(c.effective_port).flatten();
    let entry = Entry {
        path: c.path,
        query: c.query,
        port,
        category,
    };
    Ok((c.host, c.is_domain, entry))
}

/// Keeps error messages short when a line is huge.
fn truncate(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", s.get(..i).unwrap_or(s)),
        None => s.to_string(),
    }
}

/// A URL reduced to what matching compares.
#[derive(Debug, PartialEq, Eq)]
struct Canonical {
    /// Domain without trailing dots, dotted IPv4, or `[compressed IPv6]`.
    host: String,
    is_domain: bool,
    /// The URL's port, explicit or the scheme's default.
    effective_port: Option<u16>,
    /// Whether the port was written and is not the scheme's default.
    explicit_port: bool,
    path: String,
    query: Option<String>,
}

/// Schemes with a host: the WHATWG "special" schemes except `file`.
const SCHEMES: &[&str] = &["http", "https", "ftp", "ws", "wss"];

/// The canonical form of a URL or pattern (see the module doc), or why there is none.
fn canonicalize(input: &str) -> Result<Canonical, String> {
    let input = input.trim();
    if input.is_empty() {
        return Err("empty".into());
    }
    let parsed = match scheme_of(input) {
        Some(scheme) if SCHEMES.iter().any(|s| scheme.eq_ignore_ascii_case(s)) => Url::parse(input),
        Some(scheme)
            if input
                .get(scheme.len()..)
                .is_some_and(|r| r.starts_with("://")) =>
        {
            return Err(format!("unsupported scheme '{}'", truncate(scheme)));
        }
        // `host:port/path` reads as scheme `host` to a URL parser: anything without a
        // known scheme or `://` is a bare host.
        _ => Url::parse(&format!("http://{input}")),
    }
    .map_err(|e| e.to_string())?;
    let (host, is_domain) = match parsed.host() {
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.');
            if d.is_empty() {
                return Err("empty host".into());
            }
            (d.to_ascii_lowercase(), true)
        }
        Some(Host::Ipv4(a)) => (a.to_string(), false),
        Some(Host::Ipv6(a)) => (format!("[{a}]"), false),
        None => return Err("no host".into()),
    };
    let path = collapse_slashes(&normalize_escapes(parsed.path()));
    let query = parsed
        .query()
        .filter(|q| !q.is_empty())
        .map(normalize_escapes);
    Ok(Canonical {
        host,
        is_domain,
        effective_port: parsed.port_or_known_default(),
        explicit_port: parsed.port().is_some(),
        path,
        query,
    })
}

/// The scheme of `input` when it starts with one (`ALPHA *(ALPHA / DIGIT / + - .) ":"`).
fn scheme_of(input: &str) -> Option<&str> {
    let colon = input.find(':')?;
    let scheme = input.get(..colon)?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok).then_some(scheme)
}

/// Decodes percent-escapes of unreserved characters and uppercases the hex of the
/// rest; a `%` not followed by two hex digits is left as it is.
fn normalize_escapes(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escape = match (b, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| (h << 4) | l),
            _ => None,
        };
        match escape {
            Some(v) if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') => {
                out.push(v);
                i += 3;
            }
            Some(v) => {
                out.extend_from_slice(format!("%{v:02X}").as_bytes());
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    // Only ASCII bytes were replaced by ASCII bytes, so the text is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// `//a///b` → `/a/b`.
fn collapse_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests;
