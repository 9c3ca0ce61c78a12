use std::time::Duration;

use super::XorShift;
use crate::proto::kav::request::{
    parse_checkurl_v3, parse_scan_v3, Object, RequestErrorKind, ScanParams,
};

/// Parses a scanmemory body and returns the decoded bytes.
fn memory(body: &str) -> Result<Vec<u8>, RequestErrorKind> {
    let mut buf = body.as_bytes().to_vec();
    match parse_scan_v3(&mut buf, true) {
        Ok((_, Object::Memory(range))) => Ok(buf.get(range).unwrap().to_vec()),
        Ok((_, other)) => panic!("not memory: {other:?}"),
        Err(e) => Err(e.kind()),
    }
}

/// Parses a scanfile body.
fn file(body: &str) -> Result<(ScanParams, Object), (RequestErrorKind, String)> {
    parse_scan_v3(&mut body.as_bytes().to_vec(), false)
        .map_err(|e| (e.kind(), e.message().to_owned()))
}

fn timeout_of(field: &str) -> Result<Option<Duration>, RequestErrorKind> {
    file(&format!(r#"{{"timeout":{field},"object":"/x"}}"#))
        .map(|(p, _)| p.timeout)
        .map_err(|e| e.0)
}

#[test]
fn scanfile_with_every_field() {
    let body = r#"{ "timeout": "10000", "omitCleanSubobjectResults": false,
        "url": "http:\/\/example.com", "hostIp": "233.252.0.1",
        "requestHeaders": "GET \/ HTTP\/1.1\r\nHost: example.com",
        "responseHeaders": "HTTP\/1.1 200 OK", "object": "\/home\/user\/eicar",
        "name": "invoice.docx", "unknownField": [1, {"a": null}] }"#;
    let (params, object) = file(body).unwrap();
    assert_eq!(object, Object::Path("/home/user/eicar".into()));
    assert_eq!(
        params,
        ScanParams {
            timeout: Some(Duration::from_millis(10000)),
            omit_clean: false,
            url: Some("http://example.com".into()),
            host_ip: Some("233.252.0.1".into()),
            request_headers: Some("GET / HTTP/1.1\r\nHost: example.com".into()),
            response_headers: Some("HTTP/1.1 200 OK".into()),
            name: Some("invoice.docx".into()),
        }
    );
}

#[test]
fn defaults() {
    let (params, object) = file(r#"{"object":"/x"}"#).unwrap();
    assert_eq!(params, ScanParams::default());
    assert!(params.omit_clean);
    assert_eq!(object, Object::Path("/x".into()));
    // null is absent.
    let (params, _) =
        file(r#"{"object":"/x","timeout":null,"omitCleanSubobjectResults":null,"url":null}"#)
            .unwrap();
    assert_eq!(params, ScanParams::default());
}

#[test]
fn timeout_forms() {
    let ms = |n| Ok(Some(Duration::from_millis(n)));
    assert_eq!(timeout_of(r#""10000""#), ms(10000));
    assert_eq!(timeout_of("10000"), ms(10000));
    assert_eq!(timeout_of("4294967295"), ms(4294967295));
    assert_eq!(timeout_of(r#""4294967295""#), ms(4294967295));
    assert_eq!(timeout_of("0"), Ok(None));
    assert_eq!(timeout_of(r#""0""#), Ok(None));
    assert_eq!(timeout_of("null"), Ok(None));
    for bad in [
        r#""abc""#,
        r#""""#,
        r#"" 10""#,
        r#""-1""#,
        "-1",
        "1.5",
        "1e3",
        "true",
        "[]",
        "{}",
        "4294967296",
        r#""4294967296""#,
        "99999999999999999999999",
    ] {
        assert_eq!(timeout_of(bad), Err(RequestErrorKind::Invalid), "{bad}");
    }
}

#[test]
fn omit_clean_forms() {
    let omit = |v: &str| {
        file(&format!(
            r#"{{"omitCleanSubobjectResults":{v},"object":"/x"}}"#
        ))
        .map(|(p, _)| p.omit_clean)
        .map_err(|e| e.0)
    };
    assert_eq!(omit("true"), Ok(true));
    assert_eq!(omit("false"), Ok(false));
    assert_eq!(omit(r#""true""#), Ok(true));
    assert_eq!(omit(r#""false""#), Ok(false));
    for bad in ["1", "0", r#""yes""#, r#""TRUE""#, "[]"] {
        assert_eq!(omit(bad), Err(RequestErrorKind::Invalid), "{bad}");
    }
}

#[test]
fn object_is_required() {
    for body in [r#"{}"#, r#"{"object":null}"#, r#"{"name":"x"}"#] {
        let (kind, message) = file(body).unwrap_err();
        assert_eq!(kind, RequestErrorKind::Missing);
        assert_eq!(message, "\"object\" is required");
        assert_eq!(memory(body), Err(RequestErrorKind::Missing));
    }
}

#[test]
fn not_a_json_object() {
    for body in [
        "",
        "   ",
        "[]",
        r#"["/x"]"#,
        r#""/x""#,
        "42",
        "null",
        "object=/x",
    ] {
        let (kind, _) = file(body).unwrap_err();
        assert_eq!(kind, RequestErrorKind::Json, "{body:?}");
    }
    for body in [
        r#"{"object":"/x""#,
        r#"{"object":"/x"} trailing"#,
        r#"{"object":"/x",}"#,
        "{\"object\":\"/\u{1}x\"}",
    ] {
        let (kind, message) = file(body).unwrap_err();
        assert_eq!(kind, RequestErrorKind::Json, "{body:?}");
        assert!(message.contains("line 1 column"), "{message}");
    }
    // Duplicate fields are refused rather than silently picked.
    assert_eq!(
        file(r#"{"object":"/a","object":"/b"}"#).unwrap_err().0,
        RequestErrorKind::Json
    );
    // Wrong types of plain string fields.
    assert_eq!(
        file(r#"{"object":"/a","url":5}"#).unwrap_err().0,
        RequestErrorKind::Json
    );
}

#[test]
fn scanfile_object_must_be_a_string() {
    for object in ["5", "true", "[]", r#"{"p":"/x"}"#] {
        let (kind, message) = file(&format!(r#"{{"object":{object}}}"#)).unwrap_err();
        assert_eq!(kind, RequestErrorKind::Invalid);
        assert_eq!(message, "\"object\" must be a string");
    }
}

#[test]
fn scanfile_object_is_unescaped() {
    let (_, object) = file(r#"{"object":"C:\\dir\\a \"q\" \u00e9"}"#).unwrap();
    assert_eq!(object, Object::Path("C:\\dir\\a \"q\" é".into()));
}

#[test]
fn scanmemory_decodes_in_place() {
    let body = r#"{"timeout":"5","object":"SGVsbG8sIHdvcmxkIQ==","name":"hello.txt"}"#;
    let mut buf = body.as_bytes().to_vec();
    let object_at = body.find("SGVs").unwrap();
    let (params, object) = parse_scan_v3(&mut buf, true).unwrap();
    let Object::Memory(range) = object else {
        panic!()
    };
    assert_eq!(&buf[range.clone()], b"Hello, world!");
    // The bytes lie where the text was; the rest of the body is untouched.
    assert_eq!(range.start, object_at);
    assert_eq!(&buf[..object_at], &body.as_bytes()[..object_at]);
    let after = object_at + "SGVsbG8sIHdvcmxkIQ==".len();
    assert_eq!(&buf[after..], &body.as_bytes()[after..]);
    assert_eq!(params.name.as_deref(), Some("hello.txt"));
    assert_eq!(params.timeout, Some(Duration::from_millis(5)));
}

#[test]
fn scanmemory_object_forms() {
    let ok = |text: &str, want: &[u8]| {
        assert_eq!(
            memory(&format!(r#"{{"object":"{text}"}}"#)),
            Ok(want.to_vec()),
            "{text}"
        );
    };
    ok("", b"");
    ok("SGVsbG8=", b"Hello");
    ok("SGVsbG8", b"Hello");
    ok("SGVsbA==", b"Hell");
    ok("SGVsbA", b"Hell");
    // `\/` as the vendor's examples write it: 0xff 0xff 0xff is "////".
    ok(r"\/\/\/\/", &[0xff, 0xff, 0xff]);
    ok(r"+\/+\/", &[0xfb, 0xff, 0xbf]);
    // Line breaks as JSON escapes, and spaces.
    ok(r"SGVs\r\nbG8=", b"Hello");
    ok(r"SGVs\nbG8=\n", b"Hello");
    ok(r"\tSGVs bG8=", b"Hello");
    ok(" SGVsbG8= ", b"Hello");
    // Whitespace only is an empty object.
    ok(r"\r\n", b"");
}

#[test]
fn scanmemory_bad_objects() {
    for text in [
        "SGV$bG8=",
        "SGVsbG8=x",
        "S",
        "SGVsb",
        "SGVsbG8===",
        "SG=sbG8=",
        "-_-_",
        r"SGVs\u0062G8=",
        r"SGVs\\bG8=",
        r#"SGVs\"bG8="#,
        r"SGVs\bbG8=",
        r"SGVs\fbG8=",
        "\u{e9}\u{e9}\u{e9}\u{e9}",
    ] {
        let mut buf = format!(r#"{{"object":"{text}"}}"#).into_bytes();
        let e = parse_scan_v3(&mut buf, true).unwrap_err();
        assert_eq!(e.kind(), RequestErrorKind::Base64, "{text}");
        assert!(
            e.message().starts_with("invalid base64 in \"object\""),
            "{}",
            e.message()
        );
    }
    for object in ["5", "null", "true", "[\"SGVs\"]", "{}"] {
        let got = memory(&format!(r#"{{"object":{object}}}"#));
        let want = if object == "null" {
            RequestErrorKind::Missing
        } else {
            RequestErrorKind::Invalid
        };
        assert_eq!(got, Err(want), "{object}");
    }
}

/// Random objects, encoded with or without padding, with `/` randomly escaped and
/// random line breaks: decoding in place gives the bytes back.
#[test]
fn scanmemory_round_trip_property() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for case in 0..1000 {
        let len = rng.below(200) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let encoded = if rng.below(2) == 0 {
            base64_simd::STANDARD.encode_to_string(&data)
        } else {
            base64_simd::STANDARD_NO_PAD.encode_to_string(&data)
        };
        let escape_slash = rng.below(3);
        let wrap = 1 + rng.below(80) as usize;
        let mut text = String::new();
        for (i, c) in encoded.chars().enumerate() {
            if i > 0 && i % wrap == 0 && rng.below(2) == 0 {
                text.push_str([r"\r\n", r"\n", r"\t", " "][rng.below(4) as usize]);
            }
            if c == '/' && (escape_slash == 0 || (escape_slash == 1 && rng.below(2) == 0)) {
                text.push_str(r"\/");
            } else {
                text.push(c);
            }
        }
        let body =
            format!(r#"{{"omitCleanSubobjectResults":true,"object":"{text}","name":"n{case}"}}"#);
        let mut buf = body.clone().into_bytes();
        let (params, object) =
            parse_scan_v3(&mut buf, true).unwrap_or_else(|e| panic!("{body}: {e}"));
        let Object::Memory(range) = object else {
            panic!()
        };
        assert_eq!(&buf[range.clone()], &data[..], "case {case}: {body}");
        assert_eq!(range.start, body.find(r#""object":""#).unwrap() + 10);
        assert_eq!(params.name, Some(format!("n{case}")));
    }
}

#[test]
fn checkurl() {
    assert_eq!(
        parse_checkurl_v3(
            br#"{"timeout":"10000","url":"http:\/\/example.com\/x","hostIp":"233.252.0.1"}"#
        ),
        Ok((
            Some(Duration::from_millis(10000)),
            "http://example.com/x".to_owned()
        ))
    );
    assert_eq!(
        parse_checkurl_v3(br#"{"url":"a"}"#),
        Ok((None, "a".to_owned()))
    );
    let kind = |b: &[u8]| parse_checkurl_v3(b).unwrap_err().kind();
    assert_eq!(kind(br#"{}"#), RequestErrorKind::Missing);
    assert_eq!(
        parse_checkurl_v3(br#"{}"#).unwrap_err().message(),
        "\"url\" is required"
    );
    assert_eq!(kind(br#"{"url":""}"#), RequestErrorKind::Invalid);
    assert_eq!(
        kind(br#"{"url":"a","timeout":"x"}"#),
        RequestErrorKind::Invalid
    );
    assert_eq!(kind(br#"{"url":5}"#), RequestErrorKind::Json);
    assert_eq!(kind(b"http://example.com"), RequestErrorKind::Json);
}

/// The scanmemory fast path (the object located by a top-level walk) must find only
/// the top-level `object` member, and give what the full parse gives or its error.
#[test]
fn scanmemory_fast_path_finds_only_the_top_level_object() {
    let decoded = |body: &str| memory(body).map(|b| String::from_utf8(b).unwrap());
    // "aGk=" is "hi"; "Ynll" is "bye".
    for (body, want) in [
        (r#"{"object":"aGk="}"#, Ok("hi")),
        (r#" { "object" : "aGk=" , "name" : "x" } "#, Ok("hi")),
        // Look-alikes inside other members are not the object.
        (
            r#"{"name":"\"object\":\"Ynll\"","object":"aGk="}"#,
            Ok("hi"),
        ),
        (r#"{"other":{"object":"Ynll"},"object":"aGk="}"#, Ok("hi")),
        (r#"{"x":["object","Ynll"],"object":"aGk="}"#, Ok("hi")),
        (r#"{"obj\u0065ct":"aGk="}"#, Ok("hi")),
        // Escapes inside the object text.
        (r#"{"object":"aG\nk=","timeout":1}"#, Ok("hi")),
        (
            r#"{"object":"a\"Gk=","timeout":1}"#,
            Err(RequestErrorKind::Base64),
        ),
        // Broken shapes get the full parse's error.
        (r#"{"object":"aGk=",}"#, Err(RequestErrorKind::Json)),
        (r#"{"object":"aGk="} x"#, Err(RequestErrorKind::Json)),
        (
            r#"{"object":"aGk=","object":"Ynll"}"#,
            Err(RequestErrorKind::Json),
        ),
        (r#"{"object":"aGk=""#, Err(RequestErrorKind::Json)),
        (r#"{"object":12}"#, Err(RequestErrorKind::Invalid)),
        (
            r#"{"timeout":"soon","object":"aGk="}"#,
            Err(RequestErrorKind::Invalid),
        ),
    ] {
        assert_eq!(decoded(body), want.map(str::to_owned), "{body}");
    }
}
