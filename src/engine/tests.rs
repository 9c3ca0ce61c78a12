//! Tier-1 engine tests: one-line assertions, each building a tiny database from
//! signature lines and scanning bytes through the whole path (parse, anchor, Hyperscan,
//! verification, logic, hashes, allow and ignore lists).

use md5::Digest;

use super::*;

/// Builds an engine from `(file name, contents)` pairs.
fn engine(files: &[(&str, &str)]) -> Engine {
    let mut b = DbBuilder::new();
    for (name, text) in files {
        b.add_file(name, text.as_bytes().to_vec(), false).unwrap();
    }
    b.build(None).unwrap().0
}

/// Every detection of `data`, in all-match mode.
fn detections(files: &[(&str, &str)], data: &[u8]) -> Vec<String> {
    let e = engine(files);
    let mut s = Scanner::new();
    let r = s.scan(
        &e,
        data,
        ScanOptions {
            all_matches: true,
            ..ScanOptions::default()
        },
    );
    r.detections().map(str::to_string).collect()
}

macro_rules! ndb_match {
    ($body:expr, $data:expr) => {
        assert_eq!(
            detections(&[("t.ndb", &format!("T:0:*:{}", $body))], $data),
            vec!["T.UNOFFICIAL"],
            "{} should match {:?}",
            $body,
            String::from_utf8_lossy($data)
        )
    };
    ($offset:expr, $body:expr, $data:expr) => {
        assert_eq!(
            detections(&[("t.ndb", &format!("T:0:{}:{}", $offset, $body))], $data),
            vec!["T.UNOFFICIAL"],
            "{}:{} should match",
            $offset,
            $body
        )
    };
}

macro_rules! ndb_clean {
    ($body:expr, $data:expr) => {
        assert!(
            detections(&[("t.ndb", &format!("T:0:*:{}", $body))], $data).is_empty(),
            "{} should not match {:?}",
            $body,
            String::from_utf8_lossy($data)
        )
    };
    ($offset:expr, $body:expr, $data:expr) => {
        assert!(
            detections(&[("t.ndb", &format!("T:0:{}:{}", $offset, $body))], $data).is_empty(),
            "{}:{} should not match",
            $offset,
            $body
        )
    };
}

macro_rules! ldb_match {
    ($line:expr, $data:expr) => {
        assert_eq!(
            detections(&[("t.ldb", $line)], $data).len(),
            1,
            "{} should match",
            $line
        )
    };
}

macro_rules! ldb_clean {
    ($line:expr, $data:expr) => {
        assert!(
            detections(&[("t.ldb", $line)], $data).is_empty(),
            "{} should not match",
            $line
        )
    };
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn ndb_literals() {
    ndb_match!(hex("needle"), b"hay needle hay");
    ndb_clean!(hex("needle"), b"hay needl hay");
    ndb_match!(hex("ab"), b"xxab");
    ndb_match!(hex("needle"), b"needle");
}

#[test]
fn ndb_wildcards() {
    ndb_match!("6e65??646c65", b"ne.dle");
    ndb_match!("6e65?56c65", b"neUle");
    ndb_clean!("6e65?56c65", b"neVle");
    ndb_match!("6e654?6c65", b"neAle");
    ndb_clean!("6e654?6c65", b"neale");
}

#[test]
fn ndb_gaps() {
    ndb_match!("6e6565*646c65", b"nee..........dle");
    ndb_match!("6e6565{3}646c65", b"nee...dle");
    ndb_clean!("6e6565{3}646c65", b"nee....dle");
    ndb_match!("6e6565{-3}646c65", b"needle");
    ndb_match!("6e6565{2-}646c65", b"nee.....dle");
    ndb_clean!("6e6565{2-}646c65", b"nee.dle");
    ndb_match!("6e6565{1-4}646c65", b"nee.dle");
    ndb_match!("6e6565{1-4}646c65", b"nee....dle");
    ndb_clean!("6e6565{1-4}646c65", b"nee.....dle");
    ndb_match!("6e6565[1-2]64", b"nee.d");
    ndb_match!(
        "6e6565{300-400}646c65",
        &[b"nee".as_slice(), &[b'.'; 350], b"dle"].concat()
    );
    ndb_clean!(
        "6e6565{300-400}646c65",
        &[b"nee".as_slice(), &[b'.'; 450], b"dle"].concat()
    );
}

#[test]
fn ndb_alternatives() {
    ndb_match!("6e65(65|45)646c65", b"neEdle");
    ndb_clean!("6e65(65|45)646c65", b"neXdle");
    ndb_match!("6e65!(65|45)646c65", b"neXdle");
    ndb_clean!("6e65!(65|45)646c65", b"needle");
    ndb_match!("6e65(6565|4545)646c65", b"neEEdle");
    ndb_match!("6e65(65|4545|58??58)646c65", b"neX.Xdle");
    ndb_match!("(61|62)(63|64)(65|66)6768", b"adegh");
}

#[test]
fn ndb_classes() {
    ndb_match!("(B)6e65656c65(B)", b"a neele b");
    ndb_clean!("(B)6e65656c65(B)", b"aneele b");
    ndb_match!("6e6565(W)6c65", b"nee-le");
    ndb_clean!("6e6565(W)6c65", b"neexle");
    ndb_match!("6e6565(L)6c65", b"nee\r\nle");
}

#[test]
fn ndb_offsets() {
    ndb_match!("0", hex("head"), b"head...");
    ndb_clean!("0", hex("head"), b".head..");
    ndb_match!("2,3", hex("head"), b"..head..");
    ndb_match!("2,3", hex("head"), b".....head");
    ndb_clean!("2,3", hex("head"), b"......head");
    ndb_match!("EOF-4", hex("tail"), b"....tail");
    ndb_clean!("EOF-4", hex("tail"), b"....tail.");
    ndb_match!("EOF-5,1", hex("tail"), b"....tail");
    ndb_match!("0", "68656164*7461696c", b"head.....tail");
    ndb_clean!("1", "68656164*7461696c", b"head.....tail");
}

#[test]
fn ndb_target_types() {
    let pe_sig = [("t.ndb", "T:1:*:4142434445")];
    assert!(detections(&pe_sig, b"ABCDE in a text file").is_empty());
    let mut pe = vec![0u8; 0x80];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3c] = 0x40;
    pe[0x40..0x44].copy_from_slice(b"PE\0\0");
    pe.extend_from_slice(b"ABCDE");
    assert_eq!(detections(&pe_sig, &pe), vec!["T.UNOFFICIAL"]);
}

#[test]
fn ldb_logic_and_counts() {
    let line = format!(
        "L;Engine:81-255,Target:0;0&1;{};{}",
        hex("alpha"),
        hex("bravo")
    );
    ldb_match!(&line, b"alpha and bravo");
    ldb_clean!(&line, b"alpha only");
    let line = format!("L;Target:0;0|1;{};{}", hex("alpha"), hex("bravo"));
    ldb_match!(&line, b"bravo only");
    let line = format!("L;Target:0;0=2;{}", hex("alpha"));
    ldb_match!(&line, b"alpha alpha");
    ldb_clean!(&line, b"alpha alpha alpha");
    let line = format!("L;Target:0;0>1;{}", hex("alpha"));
    ldb_match!(&line, b"alpha alpha");
    ldb_clean!(&line, b"alpha");
    let line = format!("L;Target:0;(0|1)>1,2;{};{}", hex("alpha"), hex("bravo"));
    ldb_match!(&line, b"alpha bravo");
    ldb_clean!(&line, b"alpha alpha");
}

#[test]
fn ldb_modifiers_and_tdb() {
    let line = format!("L;Engine:81-255,Target:0;0;{}::i", hex("Alpha"));
    ldb_match!(&line, b"xx ALPHA xx");
    let line = format!("L;Engine:81-255,Target:0;0;{}::w", hex("alpha"));
    ldb_match!(&line, b"a\0l\0p\0h\0a\0");
    ldb_clean!(&line, b"alpha");
    let line = format!("L;Engine:81-255,Target:0;0;{}::wa", hex("alpha"));
    ldb_match!(&line, b"alpha");
    let line = format!("L;Engine:81-255,Target:0;0;{}::f", hex("alpha"));
    ldb_match!(&line, b"an alpha.");
    ldb_clean!(&line, b"alphabet");
    let line = format!("L;Engine:51-255,Target:0,FileSize:5-10;0;{}", hex("alpha"));
    ldb_match!(&line, b"alpha!");
    ldb_clean!(&line, b"alpha and much more");
    let line = format!("L;Target:0;0;2:{}", hex("alpha"));
    ldb_match!(&line, b"..alpha");
    ldb_clean!(&line, b"...alpha");
}

#[test]
fn hashes_allow_and_ignore() {
    let data = b"some object";
    let md5: String = md5::Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let hdb = format!("{md5}:{}:Hash.Sig", data.len());
    assert_eq!(
        detections(&[("t.hdb", &hdb)], data),
        vec!["Hash.Sig.UNOFFICIAL"]
    );
    assert!(detections(&[("t.hdb", &hdb)], b"other object").is_empty());
    let fp = format!("{md5}:{}:Allowed", data.len());
    assert!(detections(&[("t.hdb", &hdb), ("t.fp", &fp)], data).is_empty());
    let other = "Other:0:*:4142434445";
    assert!(detections(
        &[("t.hdb", &hdb), ("t.ign2", "Hash.Sig"), ("o.ndb", other)],
        data
    )
    .is_empty());
    // Ignore lists apply whatever the order the files came in.
    assert!(detections(
        &[("t.ign2", "Hash.Sig"), ("t.hdb", &hdb), ("o.ndb", other)],
        data
    )
    .is_empty());
    // `name:md5` entries apply only to the line with that MD5.
    let line_md5: String = md5::Md5::digest(hdb.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let ign = format!("Hash.Sig:{line_md5}");
    assert!(detections(&[("t.hdb", &hdb), ("t.ign2", &ign), ("o.ndb", other)], data).is_empty());
    let ign = format!("Hash.Sig:{}", "0".repeat(32));
    assert_eq!(
        detections(&[("t.hdb", &hdb), ("t.ign2", &ign)], data).len(),
        1
    );
}

#[test]
fn first_match_mode_stops_at_one() {
    let e = engine(&[(
        "t.ndb",
        &format!("A:0:*:{}\nB:0:*:{}", hex("alpha"), hex("bravo")),
    )]);
    let mut s = Scanner::new();
    let r = s.scan(&e, b"alpha bravo", ScanOptions::default());
    assert_eq!(r.detections().count(), 1);
    assert!(matches!(r.verdict(), Verdict::Detected(_)));
}

#[test]
fn builtin_detects_eicar_only_exactly() {
    let (e, report) = builtin::builder().build(None).unwrap();
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let eicar = [
        &b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$"[..],
        b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
    ]
    .concat();
    let mut s = Scanner::new();
    assert_eq!(
        s.scan(&e, &eicar, ScanOptions::default()).verdict(),
        Verdict::Detected("Win.Test.EICAR_HDB-1")
    );
    let mut longer = eicar.clone();
    longer.push(b'x');
    assert_eq!(
        s.scan(&e, &longer, ScanOptions::default()).verdict(),
        Verdict::Clean
    );
}

#[test]
fn malformed_lines_name_file_and_line() {
    let mut b = DbBuilder::new();
    b.add_file(
        "bad.ndb",
        b"Good:0:*:41424344\nBad:0:*:41g2\n".to_vec(),
        false,
    )
    .unwrap();
    let err = b.build(None).err().unwrap().to_string();
    assert_eq!(err, "bad.ndb:2: body: bad hex digit 'g' at column 3");
}

#[test]
fn bodies_clamav_refuses_are_malformed() {
    for body in [
        "*41424344",
        "{10-20}41424344",
        "41424344*",
        "41424344{2-4}",
        "41??",
        "41(42|43)",
        "????",
        "{4}",
        "4142*43??44",
    ] {
        let mut b = DbBuilder::new();
        b.add_file("t.ndb", format!("T:0:*:{body}").into_bytes(), false)
            .unwrap();
        assert!(
            matches!(b.build(None), Err(LoadError::Malformed { .. })),
            "{body} must be refused"
        );
    }
    // What ClamAV accepts: a fixed trailing gap, a short one inside a part.
    ndb_match!("41424344{2}", b"ABCDxx");
    ndb_match!("{2}41424344", b"xxABCD");
    ndb_clean!("{2}41424344", b"xABCD");
    ndb_match!("0", "??41424344", b"xABCD");
    ndb_match!("4142??43", b"ABxC");
    let deep = format!("4142{}43{}", "(44|".repeat(20), ")".repeat(20));
    let mut b = DbBuilder::new();
    b.add_file("t.ndb", format!("T:0:*:{deep}").into_bytes(), false)
        .unwrap();
    let err = b.build(None).err().unwrap().to_string();
    assert!(err.contains("nested deeper"), "{err}");
}

#[test]
fn skips_are_reported_and_strict_fails() {
    let text = b"Ok:0:*:41424344\nPe:1:EP+0:41424344\n".to_vec();
    let mut b = DbBuilder::new();
    b.add_file("s.ndb", text.clone(), false).unwrap();
    let (_, report) = b.build(None).unwrap();
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(
        (report.skipped[0].line, report.skipped[0].name.as_str()),
        (2, "Pe")
    );
    let mut b = DbBuilder::new().strict(true);
    b.add_file("s.ndb", text, false).unwrap();
    assert!(b.build(None).err().unwrap().to_string().contains("strict"));
}

#[test]
fn scanner_follows_a_new_engine() {
    let e1 = engine(&[("a.ndb", &format!("A:0:*:{}", hex("alpha")))]);
    let e2 = engine(&[(
        "b.ndb",
        &format!("B:0:*:{}\nC:0:*:{}", hex("bravo"), "6162??(63|64)65{2-8}66"),
    )]);
    let mut s = Scanner::new();
    assert_eq!(
        s.scan(&e1, b"alpha", ScanOptions::default()).verdict(),
        Verdict::Detected("A.UNOFFICIAL")
    );
    assert_eq!(
        s.scan(&e2, b"bravo", ScanOptions::default()).verdict(),
        Verdict::Detected("B.UNOFFICIAL")
    );
    assert_eq!(
        s.scan(&e1, b"bravo", ScanOptions::default()).verdict(),
        Verdict::Clean
    );
}

#[test]
fn engine_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
}

/// A tiny deterministic generator, so the robustness test needs no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random body text and random data: parsing, anchoring and verification must never
/// panic, whatever a database line or an object holds.
#[test]
fn random_bodies_never_panic() {
    const ALPHABET: &[u8] = b"0123456789abcdef0123456789abcdef????**{}{}[]()||!-,BLW";
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0;
    for _ in 0..60_000 {
        let len = 1 + rng.below(24);
        let text: String = (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())] as char)
            .collect();
        let Ok(body) = sig::Body::parse(&text) else {
            continue;
        };
        parsed += 1;
        let mut anchors = compile::AnchorBuilder::default();
        if anchors
            .add(
                &body.elems,
                sig::Offset::Any,
                compile::Owner::Content(0),
                rng.below(2) == 0,
                None,
                true,
            )
            .is_err()
        {
            continue;
        }
        let table = anchors.finish();
        let p = &table.prepared[0];
        let data: Vec<u8> = (0..rng.below(64))
            .map(|_| b"\x00\x01ab\n\r -"[rng.below(8)])
            .collect();
        for start in 0..=data.len() {
            let mut w = verify::Walker::new(&data);
            let _ = w.walk(&p.rest, start, verify::Dir::Forward, &mut |_| false);
            let _ = w.walk(&p.prefix_rev, start, verify::Dir::Backward, &mut |_| false);
        }
    }
    assert!(
        parsed > 1500,
        "the generator must produce valid bodies too ({parsed})"
    );
}
