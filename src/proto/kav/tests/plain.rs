use std::time::Duration;

use crate::proto::kav::plain::{parse_protocol_version, parse_timeout_header, plain_path};
use crate::proto::kav::request::RequestErrorKind;

#[test]
fn protocol_version() {
    assert_eq!(parse_protocol_version(Some(b"1")), Ok(1));
    assert_eq!(parse_protocol_version(Some(b"2")), Ok(2));
    assert_eq!(parse_protocol_version(Some(b" 2 ")), Ok(2));
    let missing = parse_protocol_version(None).unwrap_err();
    assert_eq!(missing.kind(), RequestErrorKind::Missing);
    assert!(missing.message().contains("X-KAV-ProtocolVersion"));
    for bad in [&b""[..], b"3", b"0", b"1.0", b"12", b"v1", b"one"] {
        let e = parse_protocol_version(Some(bad)).unwrap_err();
        assert_eq!(e.kind(), RequestErrorKind::Invalid, "{bad:?}");
    }
}

#[test]
fn timeout_header() {
    let ms = |n| Ok(Some(Duration::from_millis(n)));
    assert_eq!(parse_timeout_header(b"0"), Ok(None));
    assert_eq!(parse_timeout_header(b"000"), Ok(None));
    assert_eq!(parse_timeout_header(b"10"), ms(10));
    assert_eq!(parse_timeout_header(b" 10000 "), ms(10000));
    assert_eq!(parse_timeout_header(b"4294967295"), ms(4294967295));
    for bad in [
        &b""[..],
        b" ",
        b"4294967296",
        b"-1",
        b"+1",
        b"1a",
        b"1 0",
        b"1.5",
        b"0x10",
    ] {
        assert_eq!(
            parse_timeout_header(bad).unwrap_err().kind(),
            RequestErrorKind::Invalid,
            "{bad:?}"
        );
    }
}

#[test]
fn path_body() {
    assert_eq!(
        plain_path(b"/home/user/eicar"),
        Ok("/home/user/eicar".into())
    );
    assert_eq!(
        plain_path(b"/home/user/eicar\r\n"),
        Ok("/home/user/eicar".into())
    );
    assert_eq!(plain_path(b"/tmp/a b \n\n"), Ok("/tmp/a b".into()));
    assert_eq!(plain_path(" /tmp/é".as_bytes()), Ok(" /tmp/é".into()));
    assert_eq!(
        plain_path(b"").unwrap_err().kind(),
        RequestErrorKind::Missing
    );
    assert_eq!(
        plain_path(b"\r\n ").unwrap_err().kind(),
        RequestErrorKind::Missing
    );
    assert_eq!(
        plain_path(b"/tmp/\xff").unwrap_err().kind(),
        RequestErrorKind::Invalid
    );
    assert_eq!(
        plain_path(b"/tmp/a\0b").unwrap_err().kind(),
        RequestErrorKind::Invalid
    );
}
