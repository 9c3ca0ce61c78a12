//! Extended signatures (`.ndb`): `Name:TargetType:Offset:HexSignature[:MinFL[:MaxFL]]`.

use super::body::check_parts;
use super::offset::Offset;
use super::{check_name, flevel_out_of_range, Body, Parsed, Skip};

/// A content signature: a body, where it may start, and which file type it targets.
#[derive(Clone, Debug)]
pub struct ContentSig {
    /// Malware name.
    pub name: String,
    /// ClamAV target type (0 = any).
    pub target: u8,
    /// Where the match may start.
    pub offset: Offset,
    /// The hex body.
    pub body: Body,
}

/// Parses one `.ndb` line.
pub fn parse_line(line: &str) -> Result<Parsed<ContentSig>, String> {
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() < 4 {
        return Err(format!(
            "expected Name:TargetType:Offset:HexSignature, found {} field(s)",
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
    let target: u8 = fields[1]
        .trim()
        .parse()
        .map_err(|_| format!("bad target type '{}'", fields[1]))?;
    if target > 14 {
        return Err(format!("unknown target type {target}"));
    }
    let body = Body::parse(fields[3].trim()).map_err(|e| format!("body: {e}"))?;
    check_parts(&body.elems).map_err(|e| format!("body: {}", e.reason))?;
    if let Some(reason) = flevel_out_of_range(fields.get(4).copied(), fields.get(5).copied())? {
        return skip(reason);
    }
    let offset = match Offset::parse(fields[2])? {
        Ok(o) => o,
        Err(unsupported) => return skip(unsupported.to_string()),
    };
    Ok(Parsed::Sig(ContentSig {
        name: name.into(),
        target,
        offset,
        body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields() {
        let Parsed::Sig(s) = parse_line("NDB.Test:0:EOF-10,2:41424344").unwrap() else {
            panic!()
        };
        assert_eq!(
            (s.name.as_str(), s.target, s.offset),
            ("NDB.Test", 0, Offset::Eof { back: 10, shift: 2 })
        );
        assert!(matches!(
            parse_line("T:1:EP+10:41424344"),
            Ok(Parsed::Skip(_))
        ));
        assert!(matches!(
            parse_line("T:0:*:41424344:250"),
            Ok(Parsed::Skip(_))
        ));
        assert!(matches!(
            parse_line("T:0:*:41424344:51:60"),
            Ok(Parsed::Skip(_))
        ));
        assert!(parse_line("T:0:*").is_err());
        assert!(parse_line("T:x:*:4142").is_err());
        assert!(parse_line("T:0:*:41g2").unwrap_err().contains("column 3"));
    }
}
