//! Test-only: a tiny parser and matcher for the signature constructs this
//! crate generates, working from the *text* of the databases, so the tests
//! check the serialized lines and not just the in-memory model.

use std::collections::HashMap;

use crate::body::MIN_STATIC_RUN;
use crate::corpus::{generate, CorpusConfig, FileKind};
use crate::sigs::{parse_plants, signatures, HashSource, Plant, PlantOffset, SigConfig};
use crate::{eicar, EICAR_NAME};

#[derive(Debug, Clone)]
enum T {
    Byte(u8),
    Mask(u8, u8), // (mask, value)
    Alt(Vec<u8>),
}

#[derive(Debug, Clone, Copy)]
enum G {
    Star,
    Range(usize, usize),
}

#[derive(Debug)]
struct Pat {
    parts: Vec<Vec<T>>,
    gaps: Vec<G>,
    nocase: bool,
}

fn hexval(c: u8) -> Result<u8, String> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(format!("bad hex char {:?}", c as char)),
    }
}

fn parse_num(s: &[u8], i: &mut usize) -> Result<usize, String> {
    let st = *i;
    while *i < s.len() && s[*i].is_ascii_digit() {
        *i += 1;
    }
    std::str::from_utf8(&s[st..*i])
        .unwrap()
        .parse()
        .map_err(|_| "expected number".to_string())
}

/// Parse a generated hex body (lowercase only), checking ClamAV-safety rules.
fn parse_body(text: &str) -> Result<Pat, String> {
    let (text, nocase) = match text.strip_suffix("::i") {
        Some(t) => (t, true),
        None => (text, false),
    };
    let s = text.as_bytes();
    let mut parts = vec![Vec::new()];
    let mut gaps = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'*' => {
                gaps.push(G::Star);
                parts.push(Vec::new());
                i += 1;
            }
            b'{' => {
                i += 1;
                let n = parse_num(s, &mut i)?;
                let m = if s.get(i) == Some(&b'-') {
                    i += 1;
                    parse_num(s, &mut i)?
                } else {
                    n
                };
                if s.get(i) != Some(&b'}') || m < n || m > 64 {
                    return Err(format!("bad gap in {text}"));
                }
                i += 1;
                gaps.push(G::Range(n, m));
                parts.push(Vec::new());
            }
            b'(' => {
                let end = text[i..].find(')').ok_or("unclosed (")? + i;
                let alts: Result<Vec<u8>, String> = text[i + 1..end]
                    .split('|')
                    .map(|a| {
                        let b = a.as_bytes();
                        if b.len() != 2 {
                            return Err(format!("bad alternative {a:?}"));
                        }
                        Ok(hexval(b[0])? << 4 | hexval(b[1])?)
                    })
                    .collect();
                let alts = alts?;
                if alts.len() < 2 {
                    return Err("alternative needs 2 options".into());
                }
                parts.last_mut().unwrap().push(T::Alt(alts));
                i = end + 1;
            }
            _ => {
                let (a, b) = (s[i], *s.get(i + 1).ok_or("odd hex length")?);
                let tok = match (a, b) {
                    (b'?', b'?') => T::Mask(0, 0),
                    (b'?', l) => T::Mask(0x0f, hexval(l)?),
                    (h, b'?') => T::Mask(0xf0, hexval(h)? << 4),
                    (h, l) => T::Byte(hexval(h)? << 4 | hexval(l)?),
                };
                parts.last_mut().unwrap().push(tok);
                i += 2;
            }
        }
    }
    for p in &parts {
        let (mut run, mut best) = (0, 0);
        for t in p {
            if matches!(t, T::Byte(_)) {
                run += 1;
                best = best.max(run);
            } else {
                run = 0;
            }
        }
        if best < MIN_STATIC_RUN {
            return Err(format!(
                "part without {MIN_STATIC_RUN} static bytes in {text}"
            ));
        }
        if !matches!(p.first(), Some(T::Byte(_))) || !matches!(p.last(), Some(T::Byte(_))) {
            return Err(format!("part with wildcard at an edge in {text}"));
        }
    }
    Ok(Pat {
        parts,
        gaps,
        nocase,
    })
}

fn tok_matches(t: &T, b: u8, nocase: bool) -> bool {
    match t {
        T::Byte(x) if nocase => x.eq_ignore_ascii_case(&b),
        T::Byte(x) => *x == b,
        T::Mask(m, v) => b & m == *v,
        T::Alt(v) => v.contains(&b),
    }
}

/// Does `pat` match exactly the whole of `data`?
fn full_match(pat: &Pat, data: &[u8]) -> bool {
    fn go(pat: &Pat, data: &[u8], pos: usize, k: usize) -> bool {
        let part = &pat.parts[k];
        if pos + part.len() > data.len() {
            return false;
        }
        if !part
            .iter()
            .zip(&data[pos..])
            .all(|(t, &b)| tok_matches(t, b, pat.nocase))
        {
            return false;
        }
        let end = pos + part.len();
        if k + 1 == pat.parts.len() {
            return end == data.len();
        }
        let (lo, hi) = match pat.gaps[k] {
            G::Star => (0, data.len() - end),
            G::Range(n, m) => (n, m),
        };
        (lo..=hi).any(|g| go(pat, data, end + g, k + 1))
    }
    go(pat, data, 0, 0)
}

/// Evaluate a generated logical expression given per-subsig match counts.
/// Returns (truth, total count of matches of subsigs inside).
fn eval_expr(s: &[u8], i: &mut usize, counts: &[u32]) -> Result<(bool, u32), String> {
    let mut acc: Option<(bool, u32)> = None;
    let mut op = 0u8;
    loop {
        let (mut v, mut c) = if s.get(*i) == Some(&b'(') {
            *i += 1;
            let r = eval_expr(s, i, counts)?;
            if s.get(*i) != Some(&b')') {
                return Err("expected )".into());
            }
            *i += 1;
            r
        } else {
            let n = parse_num(s, i)?;
            let c = *counts.get(n).ok_or("subsig index out of range")?;
            (c > 0, c)
        };
        if let Some(&m) = s.get(*i).filter(|m| matches!(m, b'>' | b'=' | b'<')) {
            *i += 1;
            let x = parse_num(s, i)? as u32;
            v = match m {
                b'>' => c > x,
                b'=' => c == x,
                _ => c < x,
            };
            c = u32::from(v);
        }
        acc = Some(match (acc, op) {
            (None, _) => (v, c),
            (Some((a, ac)), b'&') => (a && v, ac + c),
            (Some((a, ac)), _) => (a || v, ac + c),
        });
        match s.get(*i) {
            Some(&o @ (b'&' | b'|')) => {
                if op != 0 && op != o {
                    return Err("mixed & and | without parentheses".into());
                }
                op = o;
                *i += 1;
            }
            _ => return Ok(acc.unwrap()),
        }
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

enum Off {
    Any,
    Abs(u64, u64),
    Eof(u64),
}

fn parse_ndb(line: &str) -> Result<(String, Off, Pat), String> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() != 4 || f[1] != "0" || !valid_name(f[0]) {
        return Err(format!("bad ndb line {line}"));
    }
    let off = if f[2] == "*" {
        Off::Any
    } else if let Some(n) = f[2].strip_prefix("EOF-") {
        Off::Eof(n.parse().map_err(|_| "bad EOF offset")?)
    } else if let Some((n, s)) = f[2].split_once(',') {
        let n = n.parse().map_err(|_| "bad offset")?;
        Off::Abs(n, n + s.parse::<u64>().map_err(|_| "bad shift")?)
    } else {
        let n = f[2].parse().map_err(|_| "bad offset")?;
        Off::Abs(n, n)
    };
    Ok((f[0].to_string(), off, parse_body(f[3])?))
}

fn small_cfg(seed: u64) -> SigConfig {
    SigConfig {
        seed,
        ndb: 3000,
        hdb: 2000,
        ldb: 400,
        plant_share: 0.1,
        ..SigConfig::default()
    }
}

#[test]
fn signatures_are_deterministic() {
    let a = signatures(&small_cfg(5));
    let b = signatures(&small_cfg(5));
    assert_eq!(a, b);
    let c = signatures(&small_cfg(6));
    assert_ne!(a.ndb, c.ndb);
    assert_ne!(a.hdb, c.hdb);
    // Sections are independent: more hdb lines leave ndb/ldb unchanged.
    let d = signatures(&SigConfig {
        hdb: 50,
        ..small_cfg(5)
    });
    assert_eq!(a.ndb, d.ndb);
    assert_eq!(a.ldb, d.ldb);
    assert_eq!(a.plants, d.plants);
    assert!(a.hdb.starts_with(&d.hdb));
}

#[test]
fn ndb_lines_valid_and_shaped() {
    let set = signatures(&small_cfg(1));
    let (mut wild, mut gaps, mut offs, mut n) = (0, 0, 0, 0);
    for line in set.ndb.lines() {
        let (_, off, pat) = parse_ndb(line).unwrap();
        n += 1;
        let len: usize = pat.parts.iter().map(Vec::len).sum();
        let stars = pat.gaps.iter().filter(|g| matches!(g, G::Star)).count();
        assert!((12..=40).contains(&len), "{line}");
        wild += pat.parts.iter().flatten().any(|t| !matches!(t, T::Byte(_))) as usize;
        gaps += !pat.gaps.is_empty() as usize;
        if !matches!(off, Off::Any) {
            offs += 1;
            assert_eq!(stars, 0, "anchored sigs have no *: {line}");
        }
    }
    assert_eq!(n, 3000);
    let share = |k: usize| k as f64 / n as f64;
    assert!((0.2..0.35).contains(&share(wild)), "wildcards {wild}");
    assert!((0.13..0.27).contains(&share(gaps)), "gaps {gaps}");
    assert!((0.02..0.08).contains(&share(offs)), "offsets {offs}");
}

#[test]
fn hdb_and_ldb_lines_valid() {
    let set = signatures(&small_cfg(2));
    assert_eq!(set.hdb.lines().count(), 2000);
    for line in set.hdb.lines() {
        let f: Vec<&str> = line.split(':').collect();
        assert_eq!(f.len(), 3, "{line}");
        assert_eq!(f[0].len(), 32);
        assert!(f[0]
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let size: u64 = f[1].parse().unwrap();
        assert!((1024..=4 << 20).contains(&size));
        assert!(valid_name(f[2]));
    }
    assert_eq!(set.ldb.lines().count(), 400);
    let mut nocase = 0;
    for line in set.ldb.lines() {
        let f: Vec<&str> = line.split(';').collect();
        assert!(valid_name(f[0]));
        assert_eq!(f[1], "Engine:81-255,Target:0");
        let subs = &f[3..];
        assert!((2..=4).contains(&subs.len()), "{line}");
        for s in subs {
            let p = parse_body(s).unwrap();
            nocase += p.nocase as usize;
            if p.nocase {
                assert!(p.parts[0]
                    .iter()
                    .all(|t| matches!(t, T::Byte(b) if b.is_ascii_graphic() || *b == b' ')));
            }
        }
        // Every subsig is referenced by the expression.
        for k in 0..subs.len() {
            assert!(f[2].contains(&k.to_string()), "{line}");
        }
        let mut i = 0;
        eval_expr(f[2].as_bytes(), &mut i, &vec![0; subs.len()]).unwrap();
        assert_eq!(i, f[2].len(), "expression fully parsed: {line}");
    }
    assert!(nocase > 0);
}

#[test]
fn plants_match_their_signatures() {
    let set = signatures(&small_cfg(3));
    let plants = parse_plants(&set.plants_text()).unwrap();
    assert_eq!(plants, set.plants);
    let ndb: HashMap<String, (Off, Pat)> = set
        .ndb
        .lines()
        .map(|l| {
            let (n, o, p) = parse_ndb(l).unwrap();
            (n, (o, p))
        })
        .collect();
    let ldb: HashMap<&str, Vec<&str>> = set
        .ldb
        .lines()
        .map(|l| (l.split(';').next().unwrap(), l.split(';').collect()))
        .collect();
    let mut by_name: HashMap<&str, Vec<&Plant>> = HashMap::new();
    for p in &plants {
        by_name.entry(&p.name).or_default().push(p);
    }
    let (mut n_ndb, mut n_ldb) = (0, 0);
    for (name, ps) in by_name {
        if let Some((off, pat)) = ndb.get(name) {
            n_ndb += 1;
            assert_eq!(ps.len(), 1);
            let p = ps[0];
            assert!(full_match(pat, &p.bytes), "{name}");
            match (off, p.offset) {
                (Off::Any, PlantOffset::Anywhere) => {}
                (Off::Abs(a, b), PlantOffset::Absolute(n)) => assert!((*a..=*b).contains(&n)),
                (Off::Eof(n), PlantOffset::FromEof(m)) => {
                    assert_eq!(*n, m);
                    assert!(p.bytes.len() as u64 <= m);
                }
                _ => panic!("offset mismatch for {name}"),
            }
        } else {
            n_ldb += 1;
            let f = &ldb[name];
            let pats: Vec<Pat> = f[3..].iter().map(|s| parse_body(s).unwrap()).collect();
            let mut counts = vec![0u32; pats.len()];
            for p in &ps {
                assert_eq!(p.offset, PlantOffset::Anywhere);
                let hits: Vec<usize> = (0..pats.len())
                    .filter(|&k| full_match(&pats[k], &p.bytes))
                    .collect();
                assert!(!hits.is_empty(), "{name}: plant matches no subsig");
                for k in hits {
                    counts[k] += 1;
                }
            }
            let mut i = 0;
            let (ok, _) = eval_expr(f[2].as_bytes(), &mut i, &counts).unwrap();
            assert!(ok, "{name}: plants do not satisfy {} ({counts:?})", f[2]);
        }
    }
    assert_eq!(n_ndb, 300);
    assert_eq!(n_ldb, 40);
}

#[test]
fn hash_hits_use_real_files() {
    let sources: Vec<HashSource> = (0..10)
        .map(|k| HashSource::from_bytes(format!("f{k}"), &vec![k as u8; 100 + k]))
        .collect();
    let set = signatures(&SigConfig {
        hash_sources: sources.clone(),
        ..small_cfg(4)
    });
    assert_eq!(set.hash_hits.len(), 10);
    for (h, s) in set.hash_hits.iter().zip(&sources) {
        let want = format!("{}:{}:{}", crate::to_hex(&s.md5), s.size, h.name);
        assert!(set.hdb.lines().any(|l| l == want), "{want}");
        assert_eq!(h.file, s.file);
    }
    assert_eq!(set.hdb.lines().count(), 2000);
    // The random lines are the same as without hits.
    let plain = signatures(&small_cfg(4));
    let differing = plain
        .hdb
        .lines()
        .zip(set.hdb.lines())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differing, 10);
}

fn corpus_cfg(seed: u64) -> CorpusConfig {
    CorpusConfig {
        seed,
        files: Some(400),
        min_size: 1024,
        max_size: 256 << 10,
        plant_share: 0.1,
        eicar_share: 0.02,
        ..CorpusConfig::default()
    }
}

#[test]
fn corpus_is_deterministic_on_disk() {
    let set = signatures(&small_cfg(1));
    let cfg = CorpusConfig {
        files: Some(60),
        ..corpus_cfg(11)
    };
    let base = std::env::temp_dir().join(format!("bench-corpus-test-{}", std::process::id()));
    let (a, b) = (base.join("a"), base.join("b"));
    let ma = crate::corpus(&cfg, &set.plants, &a).unwrap();
    let mb = crate::corpus(&cfg, &set.plants, &b).unwrap();
    assert_eq!(ma, mb);
    assert_eq!(crate::Manifest::read(&a).unwrap(), ma);
    for e in &ma.entries {
        let (x, y) = (
            std::fs::read(a.join(&e.file)).unwrap(),
            std::fs::read(b.join(&e.file)).unwrap(),
        );
        assert_eq!(x.len() as u64, e.size);
        assert!(x == y, "{} differs", e.file);
    }
    let other = generate(&corpus_cfg(12), &set.plants).next().unwrap();
    let first = generate(&cfg, &set.plants).next().unwrap();
    assert_ne!(other.data, first.data);
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn corpus_sizes_kinds_and_plants() {
    let set = signatures(&small_cfg(1));
    let cfg = corpus_cfg(7);
    let mut by_name: HashMap<&str, Vec<&Plant>> = HashMap::new();
    for p in &set.plants {
        by_name.entry(&p.name).or_default().push(p);
    }
    let mut kinds: HashMap<FileKind, usize> = HashMap::new();
    let (mut below_gm, mut planted, mut n) = (0, 0, 0);
    let gm = ((cfg.min_size * cfg.max_size) as f64).sqrt() as u64;
    for f in generate(&cfg, &set.plants) {
        n += 1;
        let e = &f.entry;
        *kinds.entry(e.kind).or_default() += 1;
        assert_eq!(f.data.len() as u64, e.size);
        if e.kind == FileKind::Eicar {
            assert_eq!(f.data, eicar());
            assert_eq!(e.planted.as_deref(), Some(EICAR_NAME));
            continue;
        }
        assert!(
            (cfg.min_size..=cfg.max_size).contains(&e.size),
            "{} has size {}",
            e.file,
            e.size
        );
        below_gm += (e.size < gm) as usize;
        match e.kind {
            FileKind::Zip => {
                assert!(f.data.starts_with(b"PK\x03\x04"));
                let mut a = zip::ZipArchive::new(std::io::Cursor::new(&f.data)).unwrap();
                assert!(!a.is_empty());
                std::io::copy(&mut a.by_index(0).unwrap(), &mut std::io::sink()).unwrap();
            }
            FileKind::Text if e.planted.is_none() => {
                assert!(f.data.is_ascii());
            }
            _ => {}
        }
        if let Some(name) = &e.planted {
            planted += 1;
            assert_ne!(e.kind, FileKind::Zip);
            for p in &by_name[name.as_str()] {
                let at = match p.offset {
                    PlantOffset::Absolute(n) => Some(n as usize),
                    PlantOffset::FromEof(n) => Some(f.data.len() - n as usize),
                    PlantOffset::Anywhere => None,
                };
                match at {
                    Some(at) => assert_eq!(&f.data[at..at + p.bytes.len()], &p.bytes[..]),
                    None => assert!(
                        f.data.windows(p.bytes.len()).any(|w| w == p.bytes),
                        "{name} not in {}",
                        e.file
                    ),
                }
            }
        }
    }
    assert_eq!(n, 400);
    // Log-uniform: about half the files are below the geometric mean.
    let frac = below_gm as f64 / (n - kinds[&FileKind::Eicar]) as f64;
    assert!((0.4..0.6).contains(&frac), "below geometric mean: {frac}");
    assert!((20..=60).contains(&planted), "planted {planted}");
    for k in [FileKind::Text, FileKind::Random, FileKind::Zip] {
        assert!(kinds[&k] > 40, "{kinds:?}");
    }
}

#[test]
fn plants_inside_zip_members() {
    let set = signatures(&small_cfg(1));
    let cfg = CorpusConfig {
        plant_share: 0.5,
        zip_share: 0.9,
        text_share: 0.05,
        plant_in_zip: true,
        files: Some(60),
        ..corpus_cfg(8)
    };
    let mut seen = 0;
    for f in generate(&cfg, &set.plants) {
        let (FileKind::Zip, Some(name)) = (f.entry.kind, &f.entry.planted) else {
            continue;
        };
        seen += 1;
        let mut a = zip::ZipArchive::new(std::io::Cursor::new(&f.data)).unwrap();
        let mut m = Vec::new();
        std::io::Read::read_to_end(&mut a.by_index(0).unwrap(), &mut m).unwrap();
        for p in set.plants.iter().filter(|p| &p.name == name) {
            assert!(m.windows(p.bytes.len()).any(|w| w == p.bytes), "{name}");
        }
    }
    assert!(seen > 10);
}

#[test]
fn total_bytes_stop_condition() {
    let cfg = CorpusConfig {
        files: None,
        total_bytes: Some(2 << 20),
        ..corpus_cfg(3)
    };
    let files: Vec<_> = generate(&cfg, &[]).collect();
    let total: u64 = files.iter().map(|f| f.data.len() as u64).sum();
    assert!(total >= 2 << 20);
    assert!(total - files.last().unwrap().data.len() as u64 <= 2 << 20);
}

/// Does `pat` match somewhere in `data`? (Quadratic; small inputs only.)
fn find_match(pat: &Pat, data: &[u8]) -> bool {
    (0..data.len()).any(|i| (i + 1..=data.len()).any(|j| full_match(pat, &data[i..j])))
}

#[test]
fn fixtures_parse_and_match() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let sample = read("test-ldb-sample.txt");
    let test_string = read("clamav-test-string.txt");
    let ndb: Vec<_> = read("test.ndb")
        .lines()
        .map(|l| parse_ndb(l).unwrap())
        .collect();
    assert_eq!(ndb.len(), 2);
    assert!(find_match(&ndb[0].2, test_string.as_bytes()));
    assert!(!find_match(&ndb[1].2, test_string.as_bytes()));
    assert!(find_match(&ndb[1].2, sample.as_bytes()));
    for line in read("test.ldb").lines() {
        let f: Vec<&str> = line.split(';').collect();
        let counts: Vec<u32> = f[3..]
            .iter()
            .map(|s| find_match(&parse_body(s).unwrap(), sample.as_bytes()) as u32)
            .collect();
        let mut i = 0;
        assert!(
            eval_expr(f[2].as_bytes(), &mut i, &counts).unwrap().0,
            "{line}"
        );
    }
    assert!(read("eicar.hdb").starts_with(&format!("{}:68:", crate::EICAR_MD5)));
    let fp = HashSource::from_bytes("x", test_string.as_bytes());
    let want = format!("{}:{}:", crate::to_hex(&fp.md5), fp.size);
    assert!(read("test.fp").starts_with(&want));
    assert_eq!(read("test.ign2").trim(), ndb[1].0);
}
