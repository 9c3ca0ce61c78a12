use super::*;

/// Made by `testdata/make_sample.py` with Python's `email` package (CRLF line ends):
/// a quoted-printable text body holding a uuencoded block, a base64 `eicar.com`, and
/// a nested message/rfc822 with its own base64 attachment.
const SAMPLE: &[u8] = include_bytes!("testdata/sample.eml");
const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

use crate::formats::testutil::{drain, fuzz_with};

fn children(format: Format, data: &[u8]) -> Vec<(String, Vec<u8>, Option<Skip>)> {
    let u = open(format, Blob::owned(data.to_vec())).unwrap();
    drain(u, &Budget::default())
        .into_iter()
        .map(|n| match n {
            Next::Object(c) => (c.name, c.data.to_vec(), c.damaged),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn unix(b: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(b)
        .replace("\r\n", "\n")
        .into_bytes()
}

#[test]
fn mail_python_sample_yields_every_part_decoded() {
    let got = children(Format::Mail, SAMPLE);
    let names: Vec<&str> = got.iter().map(|c| c.0.as_str()).collect();
    // The uuencoded block sits in the text part, which the driver opens as
    // uuencoded text (the recognizer says so): it is not extracted here as well.
    assert_eq!(names, ["part-1", "eicar.com", "part-3"]);
    let text = unix(&got[0].1);
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.starts_with("Café naïve = equals, a long line xxxx"),
        "{text}"
    );
    assert!(text.contains(&format!("line {}\nbegin 644", "x".repeat(80))));
    assert_eq!(crate::formats::recognize(&got[0].1), Format::UuEncoded);
    let uu = children(Format::UuEncoded, &got[0].1);
    assert_eq!(uu.len(), 1);
    assert_eq!(uu[0].0, "payload.bin");
    assert_eq!(uu[0].1, b"uu payload\n".repeat(10));
    assert_eq!(uu[0].2, None);
    assert_eq!(got[1].1, EICAR);
    // The nested message is one child, the message itself; it opens as mail again.
    assert!(got[2].1.starts_with(b"From: inner@example.com"));
    assert!(
        memchr::memmem::find(&got[2].1, b"8521594937811595794").is_none(),
        "the outer boundary is not part of the nested message"
    );
    let inner = children(Format::Mail, &got[2].1);
    let names: Vec<&str> = inner.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, ["part-1", "inner.bin"]);
    assert_eq!(unix(&inner[0].1), b"inner body\n");
    assert_eq!(inner[1].1, b"inner attachment bytes\x00\x01");
}

#[test]
fn mail_plain_message_with_uu_and_duplicate_names() {
    let mut msg = b"From: x@y\nSubject: plain\n\nhello\n".to_vec();
    msg.extend_from_slice(&uu::encode("eicar.com", EICAR));
    msg.extend_from_slice(&uu::encode("eicar.com", b"second"));
    let got = children(Format::Mail, &msg);
    let names: Vec<&str> = got.iter().map(|c| c.0.as_str()).collect();
    // The body is uuencoded text: the driver opens it as such.
    assert_eq!(names, ["part-1"]);
    let uu = children(Format::UuEncoded, &got[0].1);
    assert_eq!(uu.len(), 2);
    assert_eq!(uu[0].1, EICAR);
    assert_eq!(uu[1].1, b"second");
    assert_ne!(uu[0].0, uu[1].0, "names stay unique");
    // Attachments with the same file name, and one named like a section.
    let msg = b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Disposition: attachment; filename=\"a/../x\"\n\none\n--b\nContent-Disposition: attachment; filename=x\n\ntwo\n--b\nContent-Type: application/octet-stream; name=part-1\n\nthree\n--b--\n";
    let got = children(Format::Mail, msg);
    let names: Vec<&str> = got.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, ["a_.._x", "x", "part-1"]);
    let mut names = Names::default();
    let many: Vec<String> = (0..5).map(|_| names.unique("a")).collect();
    assert_eq!(many, ["a", "a~2", "a~3", "a~4", "a~5"]);
    assert_eq!(names.unique("a~6"), "a~6");
    assert_eq!(names.unique("a"), "a~7");
    assert!(open(Format::Mail, Blob::borrowed(b"")).is_err());
}

#[test]
fn mail_many_parts_one_child_per_call_and_size_limit() {
    let mut msg = b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n".to_vec();
    for i in 0..3000 {
        msg.extend_from_slice(
            format!("--zz\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n", {
                let s = format!("part number {i}");
                base64_simd::STANDARD.encode_to_string(s.as_bytes())
            })
            .as_bytes(),
        );
    }
    msg.extend_from_slice(b"--zz--\r\n");
    let mut u = open(Format::Mail, Blob::borrowed(&msg)).unwrap();
    let budget = Budget::default();
    for i in 0..3000 {
        match u.next(&budget) {
            Next::Object(c) => {
                assert_eq!(c.name, format!("part-{}", i + 1));
                assert_eq!(&*c.data, format!("part number {i}").as_bytes());
            }
            other => panic!("{i}: {other:?}"),
        }
    }
    assert!(matches!(u.next(&budget), Next::End));
    let small = Budget {
        max_object: 20,
        ..Budget::default()
    };
    let got = drain(open(Format::Mail, Blob::borrowed(SAMPLE)).unwrap(), &small);
    let too_large = got
        .iter()
        .filter(|n| {
            matches!(
                n,
                Next::Skipped {
                    reason: Skip::TooLarge,
                    ..
                }
            )
        })
        .count();
    assert_eq!(too_large, 3, "{got:?}");
}

#[test]
fn mail_transfer_decoders_are_tolerant() {
    assert_eq!(
        base64_decode(b"SGVs\r\nbG8*!gd29y\nbGQ=", 100).unwrap(),
        b"Hello world"
    );
    assert_eq!(base64_decode(b"SGk=SGk=", 100).unwrap(), b"HiHi");
    assert!(base64_decode(b"SGVsbG8gd29ybGQ=", 5).is_none());
    assert_eq!(
        qp_decode(b"a=3Db=3d c=\r\nd=  \ne=ZZ=", 100).unwrap(),
        b"a=b= cde=ZZ"
    );
    assert!(qp_decode(b"0123456789", 5).is_none());
}

#[test]
fn mbox_splits_on_from_lines_after_empty_lines() {
    let mut mbox =
        b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\n>From here on, body\n\n".to_vec();
    mbox.extend_from_slice(b"From c@d Mon Jan  1 00:00:00 2024\r\n");
    mbox.extend_from_slice(SAMPLE);
    mbox.extend_from_slice(b"\r\nFrom e@f Tue Jan  2 00:00:00 2024\nSubject: three\n\nbye\n");
    let got = children(Format::Mbox, &mbox);
    let names: Vec<&str> = got.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, ["message-1", "message-2", "message-3"]);
    assert_eq!(got[0].1, b"Subject: one\n\n>From here on, body\n\n");
    assert!(got[1].1.starts_with(SAMPLE));
    assert_eq!(got[2].1, b"Subject: three\n\nbye\n");
    assert_eq!(children(Format::Mail, &got[1].1).len(), 3);
}

#[test]
fn uuencoded_text_yields_each_block() {
    let mut text = b"some preamble\n".to_vec();
    text.extend_from_slice(&uu::encode("eicar.com", EICAR));
    text.extend_from_slice(b"middle\n");
    text.extend_from_slice(&uu::encode("b.txt", b"bee"));
    let got = children(Format::UuEncoded, &text);
    assert_eq!(
        got,
        vec![
            ("eicar.com".into(), EICAR.to_vec(), None),
            ("b.txt".into(), b"bee".to_vec(), None)
        ]
    );
    let cut = &text[..text.len() - 6];
    let got = children(Format::UuEncoded, cut);
    assert_eq!(got[0].1, EICAR);
    assert_eq!(got[1].2, Some(Skip::Corrupted), "no end");
    assert!(open(Format::UuEncoded, Blob::borrowed(b"no blocks")).is_err());
}

/// Every prefix and seeded random byte flips of the valid inputs: no panic.
#[test]
fn mail_mbox_uu_survive_prefixes_and_flips() {
    let mut uu_text = uu::encode("x.bin", &[7u8; 200]);
    uu_text.extend_from_slice(&uu::encode("y.bin", b"why"));
    let mut mbox = b"From a Mon\n".to_vec();
    mbox.extend_from_slice(SAMPLE);
    fn mail(b: Blob<'_>) -> Result<Box<dyn Unpacker<'_> + '_>, Skip> {
        open(Format::Mail, b)
    }
    fn mbox_(b: Blob<'_>) -> Result<Box<dyn Unpacker<'_> + '_>, Skip> {
        open(Format::Mbox, b)
    }
    fn uu_(b: Blob<'_>) -> Result<Box<dyn Unpacker<'_> + '_>, Skip> {
        open(Format::UuEncoded, b)
    }
    // Flips biased to the bytes the parsers look for.
    let byte = |rand: &mut dyn FnMut() -> u64| match rand() % 4 {
        0 => b'=',
        1 => b'\n',
        2 => b'-',
        _ => rand() as u8,
    };
    fuzz_with(SAMPLE, 300, mail, byte);
    fuzz_with(&mbox, 300, mbox_, byte);
    fuzz_with(&uu_text, 300, uu_, byte);
}

#[test]
fn mail_deep_nesting_does_not_overflow() {
    for depth in [100, 2000, 50_000] {
        let mut msg = Vec::new();
        for _ in 0..depth {
            msg.extend_from_slice(b"Content-Type: message/rfc822\n\n");
        }
        msg.extend_from_slice(b"Subject: x\n\nbody\n");
        if let Ok(u) = open(Format::Mail, Blob::borrowed(&msg)) {
            drain(u, &Budget::default());
        }
        let mut msg = Vec::new();
        for i in 0..depth {
            msg.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n").as_bytes(),
            );
        }
        msg.extend_from_slice(b"\nleaf\n");
        let got = children(Format::Mail, &msg);
        assert_eq!(got.len(), 1, "{depth}");
    }
}
