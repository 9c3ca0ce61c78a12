use crate::proto::kav::multipart::{multipart_boundary, split_multipart, Multipart};
use crate::proto::kav::request::RequestErrorKind;

#[test]
fn boundary_parameter() {
    let b = |ct: &str| {
        multipart_boundary(ct.as_bytes()).map(|b| String::from_utf8(b.to_vec()).unwrap())
    };
    assert_eq!(b("multipart/mixed; boundary=B").as_deref(), Some("B"));
    assert_eq!(b("multipart/mixed;boundary=B").as_deref(), Some("B"));
    assert_eq!(
        b("Multipart/Mixed; BOUNDARY=xyz-1").as_deref(),
        Some("xyz-1")
    );
    assert_eq!(
        b(r#"multipart/mixed; boundary="a b:c""#).as_deref(),
        Some("a b:c")
    );
    assert_eq!(
        b("multipart/mixed; charset=utf-8; boundary = B2 ").as_deref(),
        Some("B2")
    );
    assert_eq!(b(" multipart/mixed ; boundary=B").as_deref(), Some("B"));
    for none in [
        "multipart/mixed",
        "multipart/mixed; boundary=",
        r#"multipart/mixed; boundary="""#,
        r#"multipart/mixed; boundary="a\"b""#,
        r#"multipart/mixed; boundary="open"#,
        "multipart/form-data; boundary=B",
        "text/plain; boundary=B",
        "application/octet-stream",
        "",
        "multipart/mixed; notboundary=B",
    ] {
        assert_eq!(b(none), None, "{none}");
    }
}

/// Splits `body` and returns (request headers, response headers, object) as text.
fn split(body: &str) -> Result<(Option<String>, Option<String>, String), RequestErrorKind> {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    split_multipart(body.as_bytes(), b"B")
        .map(|m: Multipart<'_>| {
            (
                m.request_headers.map(text),
                m.response_headers.map(text),
                text(&body.as_bytes()[m.object]),
            )
        })
        .map_err(|e| e.kind())
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

#[test]
fn all_three_parts_crlf_and_lf() {
    let crlf = "--B\r\nRequest headers\r\nGET /files/test.exe HTTP/1.1\r\nHost: example.com\r\n\
                --B\r\nResponse headers\r\nHTTP/1.1 200 OK\r\n--B\r\nX5O!P%@AP\r\n--B--\r\n";
    assert_eq!(
        split(crlf),
        Ok((
            some("GET /files/test.exe HTTP/1.1\r\nHost: example.com"),
            some("HTTP/1.1 200 OK"),
            "X5O!P%@AP".to_owned()
        ))
    );
    let lf = crlf.replace("\r\n", "\n");
    assert_eq!(
        split(&lf),
        Ok((
            some("GET /files/test.exe HTTP/1.1\nHost: example.com"),
            some("HTTP/1.1 200 OK"),
            "X5O!P%@AP".to_owned()
        ))
    );
}

#[test]
fn header_parts_are_optional_and_in_any_order() {
    assert_eq!(
        split("--B\r\n/tmp/file\r\n--B--"),
        Ok((None, None, "/tmp/file".into()))
    );
    assert_eq!(
        split("--B\r\nResponse headers\r\nHTTP/1.1 200 OK\r\n--B\r\nobj\r\n--B--\r\n"),
        Ok((None, some("HTTP/1.1 200 OK"), "obj".into()))
    );
    assert_eq!(
        split("--B\nresponse HEADERS\nR\n--B\nREQUEST headers\nQ\n--B\nobj\n--B--"),
        Ok((some("Q"), some("R"), "obj".into()))
    );
    // An empty header part.
    assert_eq!(
        split("--B\r\nRequest headers\r\n--B\r\nobj\r\n--B--"),
        Ok((some(""), None, "obj".into()))
    );
}

#[test]
fn empty_object() {
    assert_eq!(split("--B\r\n\r\n--B--"), Ok((None, None, String::new())));
    assert_eq!(split("--B\r\n--B--"), Ok((None, None, String::new())));
    assert_eq!(split("--B\n--B--\n"), Ok((None, None, String::new())));
}

#[test]
fn boundary_text_inside_the_object() {
    let object = "a--B b\r\nx --B--\r\n--BC\r\n---B\r\n\r\nend";
    let body = format!("--B\r\n{object}\r\n--B--\r\n");
    assert_eq!(split(&body), Ok((None, None, object.into())));
    // Binary content, bare CRs and line breaks at the end of the object are kept
    // (only the one line break before the delimiter is the delimiter's).
    let object = "\0\x01\r\r\n\n\r\n";
    let body = format!("--B\r\n{object}\r\n--B--");
    assert_eq!(split(&body), Ok((None, None, object.into())));
}

#[test]
fn preamble_padding_and_epilogue() {
    assert_eq!(
        split("preamble text\r\n--B  \r\nRequest headers\r\nQ\r\n--B\t\r\nobj\r\n--B--  epilogue\r\nmore"),
        Ok((some("Q"), None, "obj".into()))
    );
}

#[test]
fn malformed_bodies() {
    let bad = |body: &str| assert_eq!(split(body), Err(RequestErrorKind::Multipart), "{body:?}");
    // No delimiter at all, or not at a line start.
    bad("");
    bad("just bytes");
    bad("x--B\r\nobj\r\n--B--");
    // Missing closing delimiter.
    bad("--B\r\nobj\r\n");
    bad("--B\r\nobj\r\n--B");
    bad("--B\r\nobj\r\n--BB--");
    bad("--B\r\nRequest headers\r\nQ\r\n");
    // Header parts without an object.
    bad("--B\r\nRequest headers\r\nQ\r\n--B--");
    bad("--B--\r\n");
    // More than three parts, or the boundary at a line start inside the object.
    bad("--B\r\nRequest headers\r\nQ\r\n--B\r\nResponse headers\r\nR\r\n--B\r\nobj\r\n--B\r\nobj2\r\n--B--");
    bad("--B\r\nobj\r\n--B\r\nmore\r\n--B--");
    bad("--B\r\nRequest headers\r\nQ\r\n--B\r\nRequest headers\r\nQ2\r\n--B\r\nobj\r\n--B--");
}

#[test]
fn object_range_points_into_the_body() {
    let body = b"--B\r\nRequest headers\r\nQ\r\n--B\r\n\xff\xfeBIN\r\n--B--\r\n";
    let m = split_multipart(body, b"B").unwrap();
    assert_eq!(&body[m.object.clone()], b"\xff\xfeBIN");
    assert_eq!(m.request_headers, Some(&b"Q"[..]));
}
