//! Logical signatures (`.ldb`): `Name;TargetDescriptionBlock;LogicalExpression;Subsig0;...`.
//!
//! Supported: TDB keys `Engine`, `Target`, `FileSize`; hex subsignatures with an
//! optional offset and the `::i w a f` modifiers. Everything else that ClamAV accepts
//! (PCRE, byte compare, macros, PE/icon keys ...) makes the whole signature a
//! [`Skip`] with the reason, so a load report shows exactly what was left out.

use super::logic::LogicExpr;
use super::offset::Offset;
use super::{check_name, Body, Parsed, Skip, ENGINE_FLEVEL};

/// One subsignature after modifiers are applied.
#[derive(Clone, Debug)]
pub struct Subsig {
    /// Where a match may start.
    pub offset: Offset,
    /// The bodies any of which makes a match: the plain one and/or the wide one
    /// (`true`: wide, which changes what `::f` looks at).
    pub bodies: Vec<(Body, bool)>,
    /// `::i`: ASCII letters match either case.
    pub nocase: bool,
    /// `::f`: the match must be delimited by non-alphanumeric bytes or the object ends.
    pub fullword: bool,
}

/// A logical signature.
#[derive(Clone, Debug)]
pub struct LogicalSig {
    /// Malware name.
    pub name: String,
    /// `Target:` (0 or absent = any).
    pub target: u8,
    /// `FileSize:min-max`, inclusive.
    pub file_size: Option<(u64, u64)>,
    /// The logical expression over subsignature match counts.
    pub expr: LogicExpr,
    /// Subsignatures, indexed as in the expression.
    pub subsigs: Vec<Subsig>,
}

fn range(value: &str, key: &str) -> Result<(u64, u64), String> {
    let bad = || format!("bad {key} range '{value}'");
    let (lo, hi) = match value.split_once('-') {
        Some((lo, hi)) => (
            lo.trim().parse().map_err(|_| bad())?,
            hi.trim().parse().map_err(|_| bad())?,
        ),
        None => {
            let v = value.trim().parse().map_err(|_| bad())?;
            (v, v)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo, hi))
}

/// Parses one `.ldb` line.
pub fn parse_line(line: &str) -> Result<Parsed<LogicalSig>, String> {
    let fields: Vec<&str> = line.split(';').collect();
    if fields.len() < 4 {
        return Err(format!(
            "expected Name;TDB;Expression;Subsig..., found {} field(s)",
            fields.len()
        ));
    }
    let name = fields[0].trim();
    check_name(name)?;
    let skip = |reason: String| {
        Ok(Parsed::Skip(Skip {
            name: name.into(),
            reason,
        }))
    };
    let subsig_texts = &fields[3..];
    if subsig_texts.len() > 64 {
        return Err(format!(
            "{} subsignatures; at most 64 are allowed",
            subsig_texts.len()
        ));
    }

    let mut target = None;
    let mut engine_min = None;
    let mut file_size = None;
    let mut unsupported = Vec::new();
    for (i, kv) in fields[1].split(',').enumerate() {
        let (key, value) = kv
            .split_once(':')
            .ok_or_else(|| format!("TDB entry '{kv}' is not Key:Value"))?;
        match key.trim() {
            "Engine" => {
                if i != 0 {
                    return Err("TDB 'Engine' must come first".into());
                }
                let (lo, hi) = range(value, "Engine")?;
                engine_min = Some(lo);
                if !(lo..=hi).contains(&(ENGINE_FLEVEL as u64)) {
                    return skip(format!(
                        "Engine:{value} excludes functionality level {ENGINE_FLEVEL}"
                    ));
                }
            }
            "Target" => {
                target = Some(
                    value
                        .trim()
                        .parse::<u8>()
                        .map_err(|_| format!("bad Target '{value}'"))?,
                );
            }
            "FileSize" => file_size = Some(range(value, "FileSize")?),
            other @ ("EntryPoint" | "NumberOfSections" | "Container" | "Intermediates"
            | "IconGroup1" | "IconGroup2" | "HandlerType") => {
                unsupported.push(format!("TDB key {other}"))
            }
            other => return Err(format!("unknown TDB key '{other}'")),
        }
    }

    // ClamAV refuses both as a malformed database (checked against clamscan 1.4).
    let target = target.ok_or("TDB needs a Target")?;
    if file_size.is_some() && engine_min.is_none_or(|lo| lo < 51) {
        return Err("TDB FileSize needs Engine:51 or later".into());
    }

    let expr =
        LogicExpr::parse(fields[2].trim()).map_err(|e| format!("logical expression: {e}"))?;
    if expr.max_index() >= subsig_texts.len() {
        return Err(format!(
            "expression uses subsignature {} but the line has {}",
            expr.max_index(),
            subsig_texts.len()
        ));
    }

    let mut subsigs = Vec::with_capacity(subsig_texts.len());
    for (i, text) in subsig_texts.iter().enumerate() {
        match parse_subsig(text.trim()) {
            Ok(Ok(s)) => subsigs.push(s),
            Ok(Err(reason)) => unsupported.push(format!("subsignature {i}: {reason}")),
            Err(e) => return Err(format!("subsignature {i}: {e}")),
        }
    }
    if !unsupported.is_empty() {
        return skip(unsupported.join("; "));
    }
    Ok(Parsed::Sig(LogicalSig {
        name: name.into(),
        target,
        file_size,
        expr,
        subsigs,
    }))
}

/// `Ok(Err(reason))` for a well-formed but unsupported subsignature.
fn parse_subsig(text: &str) -> Result<Result<Subsig, String>, String> {
    if text.is_empty() {
        return Err("empty subsignature".into());
    }
    if text.starts_with("${") || text.contains("}$") {
        return Ok(Err("macro subsignatures are not supported".into()));
    }
    let (main, mods) = match text.split_once("::") {
        Some((m, mods)) => (m, mods),
        None => (text, ""),
    };
    if main.contains('/') {
        return Ok(Err("PCRE subsignatures are not supported".into()));
    }
    if main.contains("(>>") || main.contains("(<<") || main.contains("#") {
        return Ok(Err("byte-compare subsignatures are not supported".into()));
    }
    let (offset, hex) = match main.split_once(':') {
        Some((o, h)) => match Offset::parse(o)? {
            Ok(o) => (o, h),
            Err(u) => return Ok(Err(u.to_string())),
        },
        None => (Offset::Any, main),
    };
    let (mut nocase, mut wide, mut ascii, mut fullword) = (false, false, false, false);
    for c in mods.chars() {
        match c {
            'i' => nocase = true,
            'w' => wide = true,
            'a' => ascii = true,
            'f' => fullword = true,
            c => return Err(format!("unknown subsignature modifier '{c}'")),
        }
    }
    let body = Body::parse(hex).map_err(|e| e.to_string())?;
    super::body::check_parts(&body.elems).map_err(|e| e.reason)?;
    let mut bodies = Vec::new();
    if ascii || !wide {
        bodies.push((body.clone(), false));
    }
    if wide {
        bodies.push((body.widened(), true));
    }
    Ok(Ok(Subsig {
        offset,
        bodies,
        nocase,
        fullword,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(line: &str) -> LogicalSig {
        match parse_line(line).unwrap() {
            Parsed::Sig(s) => s,
            Parsed::Skip(s) => panic!("skipped: {s:?}"),
        }
    }

    fn skipped(line: &str) -> String {
        match parse_line(line).unwrap() {
            Parsed::Skip(s) => s.reason,
            Parsed::Sig(_) => panic!("not skipped"),
        }
    }

    #[test]
    fn doc_examples() {
        let s = sig("Sig2;Target:0;((0|1|2)>5,2)&(3|1);6b6f74656b;616c61;7a6f6c77;73746566616e");
        assert_eq!(s.subsigs.len(), 4);
        let s = sig("Win.Test.SmolEXE;Engine:90-255,Target:1;0;1552:536d6f6c204558450a");
        assert_eq!(
            (s.target, s.subsigs[0].offset),
            (1, Offset::Abs { at: 1552, shift: 0 })
        );
    }

    #[test]
    fn modifiers() {
        let s = sig("M;Engine:81-255,Target:0;0&1;68656c6c6f::iwfa;EOF-5:414243::w");
        assert!(s.subsigs[0].nocase && s.subsigs[0].fullword);
        assert_eq!(s.subsigs[0].bodies.len(), 2, "::wa gives ascii and wide");
        assert_eq!(s.subsigs[1].bodies.len(), 1, "::w alone gives only wide");
        assert_eq!(s.subsigs[1].bodies[0].0.elems.len(), 6);
        assert_eq!(s.file_size, None);
        assert_eq!(
            sig("F;Engine:51-255,Target:0,FileSize:10-20;0;4142").file_size,
            Some((10, 20))
        );
    }

    #[test]
    fn unsupported_is_reported() {
        assert!(skipped("P;Target:0;0&1;4142;0/abc/i").contains("PCRE"));
        assert!(skipped("P;Target:1,EntryPoint:1-2;0;4142").contains("EntryPoint"));
        assert!(skipped("P;Target:0;0&1;4142;${1-2}0$").contains("macro"));
        assert!(skipped("P;Target:0;0;EP+1:4142").contains("executable"));
        assert!(skipped("P;Engine:300-400,Target:0;0;4142").contains("Engine"));
    }

    #[test]
    fn malformed() {
        assert!(parse_line("X;Target:0;0&1;4142")
            .unwrap_err()
            .contains("subsignature 1"));
        assert!(parse_line("X;Target:0;0").is_err());
        assert!(parse_line("X;Target:0,Engine:1-2;0;4142").is_err());
        assert!(parse_line("X;Bogus:1;0;4142").is_err());
        assert!(parse_line("X;Target:0;0;41g2").is_err());
        assert!(parse_line("X;Target:0;0;4142::q").is_err());
    }
}
