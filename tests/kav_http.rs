//! `ringscan serve` as Kaspersky Scan Engine's HTTP mode (`kavhttpd`), driven by the
//! real `curl` and by raw sockets (`/work/shared/specs/kav-protocol.md` §1-§2).
//!
//! - v3 endpoints over TCP: every one, with exact bodies and the counters they move;
//!   checkurl against the built-in URL list;
//! - the same over the UNIX socket and over TLS;
//! - v1/v2: raw-bytes scanmemory as rspamd and Nextcloud send it (also replayed byte
//!   for byte), the v2 multipart body, scanfile and checkurl, the text endpoints;
//! - HTTP: 404/405/OPTIONS/CORS, keep-alive, pipelining, `Connection: close`,
//!   keep-alive limits, chunked bodies, `Expect: 100-continue`, the size limits
//!   (413/431), malformed requests, session timeouts (408) and vanishing clients;
//! - the scan timeout (408 `SERVER_ERROR`, counted as an engine error);
//! - API tokens (`[http.auth]`): Bearer and a custom header, over UNIX, TLS and TCP,
//!   and the refusal to start with tokens on plain TCP;
//! - update endpoints from a non-local client (405).
//!
//! Each test starts its own server (`HttpServer::start`, `tests/support/http.rs`) with
//! the built-in database, which detects EICAR as `Win.Test.EICAR_HDB-1`. `curl` and
//! `openssl` must be installed; a missing one fails its test with that hint.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use http_support::{
    assert_reply, base64, find, header_of, json_str, new_token, stats_body, HttpServer, Reply,
    Setup, Via, EICAR_NAME, REALM,
};
use support::{eicar, noise, show};

// ---------------------------------------------------------------------------------
// Expected bodies and formats.

/// The v3 answer for a scanned object.
fn v3_result(object: &str, detection: Option<&str>, name: Option<&str>) -> String {
    let mut s = format!("{{\"object\":{}", json_str(object));
    match detection {
        Some(d) => {
            s += &format!(
                ",\"scanResult\":\"DETECT\",\"detectionName\":{}",
                json_str(d)
            )
        }
        None => s += ",\"scanResult\":\"CLEAN\"",
    }
    if let Some(n) = name {
        s += &format!(",\"name\":{}", json_str(n));
    }
    s + ",\"containsOfficeMacro\":\"false\"}"
}

/// The v3 scanmemory body for `data`, with more JSON fields before `object`.
fn memory_body(data: &[u8], fields: &str) -> Vec<u8> {
    format!("{{{fields}\"object\":\"{}\"}}", base64(data)).into_bytes()
}

/// Asserts an error answer: `status`, `Content-Type: application/json`, and a body that
/// is exactly one JSON object `{"error": <string>}` whose message contains `contains`.
#[track_caller]
fn assert_error(content_type: Option<String>, body: &[u8], contains: &str, what: &str) {
    let value: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{what}: body {:?} is not JSON: {e}", show(body)));
    let message = value
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("error"))
        .and_then(|m| m.as_str())
        .unwrap_or_else(|| panic!("{what}: body {:?} is not {{\"error\": ...}}", show(body)));
    assert!(
        message.contains(contains),
        "{what}: error message {message:?} lacks {contains:?}"
    );
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "{what}: Content-Type"
    );
}

/// [`assert_error`] on a curl reply, status included.
#[track_caller]
fn assert_curl_error(r: &Reply, status: u16, contains: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: status; reply {r:?}");
    assert_error(r.header("content-type"), &r.body, contains, what);
}

/// [`assert_error`] on a raw reply, status included.
#[track_caller]
fn assert_raw_error(r: &http_support::RawReply, status: u16, contains: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: status; reply {r:?}");
    assert_error(r.header("content-type"), &r.body, contains, what);
}

/// Whether `s` is made of the pattern's pieces: `9` a digit, anything else itself.
fn shaped(s: &str, pattern: &str) -> bool {
    s.len() == pattern.len()
        && s.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
            b'9' => c.is_ascii_digit(),
            p => c == p,
        })
}

/// `DD.MM.YYYY hh:mm GMT`, a real date.
#[track_caller]
fn assert_bases_date(text: &str) {
    assert!(shaped(text, "99.99.9999 99:99 GMT"), "bases date {text:?}");
    let n = |r: std::ops::Range<usize>| text[r].parse::<u32>().unwrap();
    assert!((1..=31).contains(&n(0..2)), "day in {text:?}");
    assert!((1..=12).contains(&n(3..5)), "month in {text:?}");
    assert!(n(6..10) >= 2024, "year in {text:?}");
    assert!(n(11..13) < 24 && n(14..16) < 60, "time in {text:?}");
}

/// `{"KAVSDKVersion":"A.B.C.D"}`.
#[track_caller]
fn assert_version_body(body: &str) {
    let v = body
        .strip_prefix("{\"KAVSDKVersion\":\"")
        .and_then(|b| b.strip_suffix("\"}"))
        .unwrap_or_else(|| panic!("version body {body:?}"));
    let parts: Vec<&str> = v.split('.').collect();
    assert!(
        parts.len() == 4
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        "version {v:?} is not Major.Minor.Build.Revision"
    );
}

const LICENSE: &str = "{\"licenseName\":\"ringscan open source (Apache-2.0), no license key\",\
                       \"licenseExpirationDate\":\"31.12.9999\"}";

/// Headers every v3 answer carries.
#[track_caller]
fn assert_v3_head(r: &Reply, what: &str) {
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json"),
        "{what}"
    );
    assert_eq!(
        r.header("x-kav-protocolversion").as_deref(),
        Some("3"),
        "{what}"
    );
    assert!(
        r.header("server")
            .is_some_and(|s| s.starts_with("KAVHTTPD/")),
        "{what}: Server header in {:?}",
        r.head
    );
    assert!(
        r.header("date").is_some_and(|d| d.ends_with(" GMT")),
        "{what}: Date"
    );
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string()),
        "{what}: Content-Length"
    );
}

/// The plain text of a clean file and of a clean memory object.
const CLEAN_FILE: &[u8] = b"just text\n";
const HELLO: &[u8] = b"hello world";

// ---------------------------------------------------------------------------------
// 1. v3 over TCP.

/// Every v3 endpoint over TCP, with exact bodies; the counters after them.
#[test]
fn v3_endpoints_over_tcp() {
    let s = HttpServer::start(Setup::default());
    let t = Via::Tcp;
    assert_eq!(
        s.statistics(t),
        stats_body([0; 9]),
        "a fresh server counts nothing"
    );

    // scanmemory: EICAR with a name (echoed), timeout as a string, the vendor's
    // octet-stream content type.
    let r = s.post(
        t,
        "/api/v3.0/scanmemory",
        &memory_body(&eicar(), "\"timeout\":\"10000\",\"name\":\"invoice.docx\","),
        &["-H", "Content-Type: application/octet-stream"],
    );
    assert_reply(
        &r,
        200,
        &v3_result("memory", Some(EICAR_NAME), Some("invoice.docx")),
        "scanmemory EICAR",
    );
    assert_v3_head(&r, "scanmemory");
    // Clean; timeout as a number; omitCleanSubobjectResults both ways.
    let clean = v3_result("memory", None, None);
    let r = s.post(
        t,
        "/api/v3.0/scanmemory",
        &memory_body(
            HELLO,
            "\"timeout\":10000,\"omitCleanSubobjectResults\":true,",
        ),
        &[],
    );
    assert_reply(&r, 200, &clean, "scanmemory clean, numeric timeout");
    let r = s.post(
        t,
        "/api/v3.0/scanmemory",
        &memory_body(HELLO, "\"omitCleanSubobjectResults\":false,\"url\":\"http://example.com\",\
                              \"hostIp\":\"233.252.0.1\",\"requestHeaders\":\"GET / HTTP/1.1\\r\\n\","),
        &[],
    );
    assert_reply(&r, 200, &clean, "scanmemory clean, every optional field");
    // v3.1.
    let r = s.post(t, "/api/v3.1/scanmemory", &memory_body(&eicar(), ""), &[]);
    assert_reply(
        &r,
        200,
        &v3_result("memory", Some(EICAR_NAME), None),
        "v3.1 scanmemory",
    );
    // Base64 with `/` escaped as `\/`, as the vendor's examples escape it.
    let slashy = b"\xff\xff\xffok";
    assert_eq!(base64(slashy), "////b2s=");
    let r = s.post(
        t,
        "/api/v3.0/scanmemory",
        br#"{"object":"\/\/\/\/b2s="}"#,
        &[],
    );
    assert_reply(&r, 200, &clean, "scanmemory with escaped slashes");

    // scanfile.
    let bad = s.file("eicar.com", &eicar());
    let good = s.file("clean.txt", CLEAN_FILE);
    let file_body = |p: &str| format!("{{\"timeout\":\"10000\",\"object\":{}}}", json_str(p));
    let bad_s = bad.to_str().unwrap();
    let good_s = good.to_str().unwrap();
    let r = s.post(t, "/api/v3.0/scanfile", file_body(bad_s).as_bytes(), &[]);
    assert_reply(
        &r,
        200,
        &v3_result(bad_s, Some(EICAR_NAME), None),
        "scanfile EICAR",
    );
    let r = s.post(t, "/api/v3.1/scanfile", file_body(good_s).as_bytes(), &[]);
    assert_reply(&r, 200, &v3_result(good_s, None, None), "scanfile clean");
    let escaped = format!("{{\"object\":\"{}\"}}", bad_s.replace('/', "\\/"));
    let r = s.post(t, "/api/v3.0/scanfile", escaped.as_bytes(), &[]);
    assert_reply(
        &r,
        200,
        &v3_result(bad_s, Some(EICAR_NAME), None),
        "scanfile, \\/ path",
    );
    // Not regular files: NON_SCANNED (SKIPPED); v3.1 puts the reason in its own field.
    let fifo = s.root.join("fifo");
    mkfifo(&fifo);
    let fifo_s = fifo.to_str().unwrap();
    let r = s.post(t, "/api/v3.0/scanfile", file_body(fifo_s).as_bytes(), &[]);
    assert_reply(
        &r,
        200,
        &format!(
            "{{\"object\":{},\"scanResult\":\"NON_SCANNED (SKIPPED)\",\"containsOfficeMacro\":\"false\"}}",
            json_str(fifo_s)
        ),
        "v3.0 scanfile of a FIFO",
    );
    let r = s.post(t, "/api/v3.1/scanfile", file_body(fifo_s).as_bytes(), &[]);
    assert_reply(
        &r,
        200,
        &format!(
            "{{\"object\":{},\"scanResult\":\"NON_SCANNED\",\"reason\":\"Skipped\",\
             \"containsOfficeMacro\":\"false\"}}",
            json_str(fifo_s)
        ),
        "v3.1 scanfile of a FIFO",
    );
    // Refused paths: outside, `..`, a symlink out, missing.
    let out = s.outside.join("secret.txt");
    std::fs::write(&out, eicar()).unwrap();
    let r = s.post(
        t,
        "/api/v3.0/scanfile",
        file_body(out.to_str().unwrap()).as_bytes(),
        &[],
    );
    assert_curl_error(&r, 403, "", "scanfile outside scanning_paths");
    let dotdot = format!("{}/../outside/secret.txt", s.root.display());
    let r = s.post(t, "/api/v3.0/scanfile", file_body(&dotdot).as_bytes(), &[]);
    assert_curl_error(&r, 403, "", "scanfile .. escape");
    let link = s.root.join("link");
    std::os::unix::fs::symlink(&out, &link).unwrap();
    let r = s.post(
        t,
        "/api/v3.0/scanfile",
        file_body(link.to_str().unwrap()).as_bytes(),
        &[],
    );
    assert_curl_error(&r, 403, "", "scanfile symlink out of scanning_paths");
    let missing = s.root.join("missing.bin");
    let r = s.post(
        t,
        "/api/v3.0/scanfile",
        file_body(missing.to_str().unwrap()).as_bytes(),
        &[],
    );
    assert_curl_error(&r, 400, "", "scanfile of a missing file");
    let r = s.post(
        t,
        "/api/v3.0/scanfile",
        b"{\"object\":\"relative/path\"}",
        &[],
    );
    assert!(
        matches!(r.status, 400 | 403),
        "relative scanfile path: {r:?}"
    );

    // Bodies the codec refuses (none is counted).
    for (body, what) in [
        (&b"{\"object\":"[..], "truncated JSON"),
        (b"not json", "not JSON"),
        (b"[\"aGk=\"]", "a JSON array"),
        (b"{}", "no object"),
        (b"{\"object\":\"!!!!\"}", "bad base64"),
        (b"{\"object\":12}", "object not a string"),
        (b"{\"timeout\":\"soon\",\"object\":\"aGk=\"}", "bad timeout"),
        (
            b"{\"omitCleanSubobjectResults\":3,\"object\":\"aGk=\"}",
            "bad omitClean",
        ),
    ] {
        let r = s.post(t, "/api/v3.0/scanmemory", body, &[]);
        assert_curl_error(&r, 400, "", what);
    }
    let r = s.post(t, "/api/v3.0/scanmemory", b"{\"object\":\"!!!!\"}", &[]);
    assert_curl_error(&r, 400, "base64", "bad base64 says so");

    // Counted so far: memory 68 (DETECT) + 11 + 11 + 68 (DETECT) + 5, files 68 (DETECT)
    // + 10 + 68 (DETECT), and two FIFOs not scanned (error_requests, 0 bytes).
    let data = 68 + 11 + 11 + 68 + 5 + 68 + 10 + 68;
    assert_eq!(
        s.statistics(t),
        stats_body([10, 4, 0, 2, 0, data, 4 * 68, 0, 0]),
        "counters after 10 scans, 4 of them EICAR, 2 not scanned"
    );
    // A directory is not scanned either: NON_SCANNED, and none of its bytes counted.
    let r = s.post(
        t,
        "/api/v3.0/scanfile",
        file_body(s.root.to_str().unwrap()).as_bytes(),
        &[],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.text()
            .contains("\"scanResult\":\"NON_SCANNED (SKIPPED)\""),
        "directory: {}",
        r.text()
    );
    assert_eq!(
        s.statistics(t),
        stats_body([11, 4, 0, 3, 0, data, 4 * 68, 0, 0]),
        "a directory adds a request not scanned, and no bytes"
    );

    // The GET endpoints.
    let r = s.curl(t, "/api/v3.0/basesdate", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_v3_head(&r, "basesdate");
    let date = r
        .text()
        .strip_prefix("{\"databaseVersion\":\"")
        .and_then(|b| b.strip_suffix("\"}"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("basesdate body {:?}", r.text()));
    assert_bases_date(&date);
    for path in ["/api/v3.0/version", "/api/v3.1/version"] {
        let r = s.curl(t, path, &[]);
        assert_eq!(r.status, 200, "{r:?}");
        assert_v3_head(&r, path);
        assert_version_body(&r.text());
    }
    let r = s.curl(t, "/api/v3.0/licenseinfo", &[]);
    assert_reply(&r, 200, LICENSE, "licenseinfo");
    let r = s.curl(t, "/api/v3.1/ksninfo", &[]);
    assert_reply(&r, 200, "{\"ksnStatus\":\"KSN turned off\"}", "ksninfo");
    assert_eq!(
        r.header("x-kav-protocolversion").as_deref(),
        Some("3"),
        "ksninfo is v3"
    );
    // HEAD on a GET endpoint: the head, no body.
    let mut c = s.raw(t);
    c.send(b"HEAD /api/v3.0/licenseinfo HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v3.0/licenseinfo HTTP/1.1\r\nHost: x\r\n\r\n");
    let head_reply = c.head_response().expect("HEAD answered");
    assert_eq!(head_reply.status, 200, "HEAD: {head_reply:?}");
    assert_eq!(
        head_reply.header("content-type").as_deref(),
        Some("application/json"),
        "HEAD"
    );
    // The GET answer must start right after the HEAD answer's head.
    let after = c.response().expect("GET after HEAD answered");
    assert_eq!(
        (after.status, after.text()),
        (200, LICENSE.to_owned()),
        "GET after HEAD"
    );

    // clearstatistics: POST only, answers CLEARED, zeroes everything.
    let r = s.curl(t, "/api/v3.0/clearstatistics", &[]);
    assert_curl_error(&r, 405, "", "GET clearstatistics");
    assert_eq!(r.header("allow").as_deref(), Some("OPTIONS, POST"));
    let r = s.post(t, "/api/v3.0/clearstatistics", b"{}", &[]);
    assert_reply(&r, 200, "{\"error\":\"CLEARED\"}", "clearstatistics");
    assert_eq!(
        s.statistics(t),
        stats_body([0; 9]),
        "counters after clearstatistics"
    );

    // update: nothing run yet, then a reload from loopback.
    let r = s.curl(t, "/api/v3.0/update/status", &[]);
    assert_reply(
        &r,
        200,
        "{\"status\":\"not started\"}",
        "update/status before any",
    );
    let r = s.post(t, "/api/v3.0/update/start", b"{}", &[]);
    assert_reply(&r, 200, "{\"status\":\"update started\"}", "update/start");
    let deadline = Instant::now() + Duration::from_secs(20);
    let done = loop {
        let r = s.curl(t, "/api/v3.1/update/status", &[]);
        assert_eq!(r.status, 200, "{r:?}");
        let text = r.text();
        if text.contains("last_update_result") {
            break text;
        }
        assert_eq!(
            text, "{\"status\":\"in progress\",\"progress\":0}",
            "while updating"
        );
        assert!(Instant::now() < deadline, "update did not finish: {text}");
        thread::sleep(Duration::from_millis(50));
    };
    let time = done
        .strip_prefix(
            "{\"status\":\"not started\",\"last_update_result\":\"success\",\"last_update_time\":\"",
        )
        .and_then(|t| t.strip_suffix("\"}"))
        .unwrap_or_else(|| panic!("update/status after the update: {done}"));
    assert!(
        shaped(time, "99:99:99 99.99.9999"),
        "last_update_time {time:?}"
    );
    // The reloaded database still detects.
    let r = s.post(t, "/api/v3.0/scanmemory", &memory_body(&eicar(), ""), &[]);
    assert_reply(
        &r,
        200,
        &v3_result("memory", Some(EICAR_NAME), None),
        "after update",
    );
    assert_eq!(s.statistics(t), stats_body([1, 1, 0, 0, 0, 68, 68, 0, 0]));
}

/// checkurl against the built-in URL list: every category, clean, errors, counters.
#[test]
fn v3_checkurl_builtin_list() {
    let s = HttpServer::start(Setup::default());
    let t = Via::Tcp;
    let check = |url: &str, fields: &str| {
        let body = format!("{{{fields}\"url\":{}}}", json_str(url));
        s.post(t, "/api/v3.0/checkurl", body.as_bytes(), &[])
    };
    let detect = |url: &str, name: &str| {
        format!(
            "{{\"url\":{},\"scanResult\":\"DETECT\",\"detectionName\":\"{name}\"}}",
            json_str(url)
        )
    };
    let r = check(
        "http://example.com/",
        "\"timeout\":\"10000\",\"hostIp\":\"233.252.0.1\",",
    );
    assert_reply(
        &r,
        200,
        "{\"url\":\"http://example.com/\",\"scanResult\":\"CLEAN\"}",
        "clean URL",
    );
    assert_v3_head(&r, "checkurl");
    for (url, name) in [
        (
            "http://testsafebrowsing.appspot.com/s/phishing.html",
            "PHISHING_URL",
        ),
        (
            "https://www.malware.testing.google.test/any/path?q=1",
            "MALICIOUS_URL",
        ),
        (
            "http://testsafebrowsing.appspot.com/s/unwanted.html",
            "ADWARE_URL",
        ),
        ("riskware.testing.ringscan.test/x", "RISKWARE_URL"),
    ] {
        let r = check(url, "\"timeout\":10000,");
        assert_reply(&r, 200, &detect(url, name), url);
    }
    // A host that only ends with a listed one is clean.
    let r = check("http://notmalware.testing.google.test.example/", "");
    assert_eq!(
        r.text(),
        "{\"url\":\"http://notmalware.testing.google.test.example/\",\"scanResult\":\"CLEAN\"}"
    );
    for (body, what) in [
        (&b"{}"[..], "no url"),
        (b"{\"url\":\"\"}", "empty url"),
        (b"{\"url\":", "bad JSON"),
    ] {
        let r = s.post(t, "/api/v3.0/checkurl", body, &[]);
        assert_curl_error(&r, 400, "", what);
    }
    // v1: the URL is the body.
    let r = s.post(
        t,
        "/checkurl",
        b"http://testsafebrowsing.appspot.com/s/phishing.html",
        &["-H", "X-KAV-ProtocolVersion: 1"],
    );
    assert_reply(&r, 200, "DETECT PHISHING_URL", "v1 checkurl phishing");
    let r = s.post(
        t,
        "/checkurl",
        b"http://example.com/\r\n",
        &["-H", "X-KAV-ProtocolVersion: 1"],
    );
    assert_reply(&r, 200, "CLEAN", "v1 checkurl clean");
    // 8 URLs checked (6 v3, 2 v1), 5 of them listed; URLs count no data.
    assert_eq!(s.statistics(t), stats_body([8, 5, 0, 0, 0, 0, 0, 8, 5]));
}

// ---------------------------------------------------------------------------------
// 2. UNIX socket and TLS.

/// scanmemory and version over the UNIX socket and over TLS; plain HTTP to the TLS
/// port gets no HTTP answer.
#[test]
fn unix_socket_and_tls() {
    let s = HttpServer::start(Setup {
        tls: true,
        ..Setup::default()
    });
    for via in [Via::Unix, Via::Tcp] {
        let what = |w: &str| format!("{w} over {via:?}");
        let r = s.curl(via, "/api/v3.0/version", &[]);
        assert_eq!(r.status, 200, "{}: {r:?}", what("version"));
        assert_version_body(&r.text());
        assert_v3_head(&r, &what("version"));
        let r = s.post(
            via,
            "/api/v3.0/scanmemory",
            &memory_body(&eicar(), "\"name\":\"x\","),
            &[],
        );
        assert_reply(
            &r,
            200,
            &v3_result("memory", Some(EICAR_NAME), Some("x")),
            &what("EICAR"),
        );
        let r = s.post(via, "/api/v3.1/scanmemory", &memory_body(HELLO, ""), &[]);
        assert_reply(&r, 200, &v3_result("memory", None, None), &what("clean"));
        let r = s.post(
            via,
            "/scanmemory",
            &eicar(),
            &["-H", "X-KAV-ProtocolVersion: 1"],
        );
        assert_reply(&r, 200, &format!("DETECT {EICAR_NAME}"), &what("v1"));
    }
    // The TLS port speaks TLS only.
    let a = s.tcp.unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "%{http_code}"])
        .arg(format!("http://{a}/api/v3.0/version"))
        .output()
        .unwrap();
    assert!(
        !out.status.success() && out.stdout.ends_with(b"000"),
        "plain HTTP to the TLS port must get no HTTP answer: {out:?}"
    );
    let mut c = s.raw(Via::Tcp);
    c.set_read_timeout(Duration::from_secs(5));
    c.send(b"GET /api/v3.0/version HTTP/1.1\r\nHost: x\r\n\r\n");
    let got = c.until_closed();
    assert!(
        !got.starts_with(b"HTTP/"),
        "plain answer on the TLS port: {:?}",
        show(&got)
    );
    // A TLS client that never says hello is dropped after the session timeout (2 s).
    let mut c = s.raw(Via::Tcp);
    c.set_read_timeout(Duration::from_secs(8));
    let since = Instant::now();
    assert!(c.is_closed(), "a silent TLS connection must be closed");
    assert!(
        since.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        since.elapsed()
    );
    // A client that does not trust the certificate fails; the server keeps serving.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(s.url(Via::Tcp, "/api/v3.0/version"))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "curl without --cacert must refuse the certificate"
    );
    let r = s.curl(Via::Tcp, "/api/v3.0/licenseinfo", &[]);
    assert_reply(&r, 200, LICENSE, "TLS after the failed attempts");
    assert_eq!(
        s.statistics(Via::Unix),
        stats_body([6, 4, 0, 0, 0, 2 * (68 + 11 + 68), 4 * 68, 0, 0])
    );
}

// ---------------------------------------------------------------------------------
// 3. v1 / v2.

/// Raw-bytes scanmemory as rspamd and Nextcloud send it, replayed byte for byte; the
/// v2 multipart body; scanfile and the text endpoints.
#[test]
fn plain_v1_v2() {
    let s = HttpServer::start(Setup::default());
    let t = Via::Tcp;
    let v1 = [
        "-H",
        "X-KAV-ProtocolVersion: 1",
        "-H",
        "X-KAV-Timeout: 10000",
    ];
    let r = s.post(t, "/scanmemory", &eicar(), &v1);
    assert_reply(
        &r,
        200,
        &format!("DETECT {EICAR_NAME}"),
        "v1 scanmemory EICAR",
    );
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(r.header("x-kav-protocolversion").as_deref(), Some("1"));
    let r = s.post(t, "/scanmemory", HELLO, &v1);
    assert_reply(&r, 200, "CLEAN", "v1 scanmemory clean");

    // Nextcloud's request, byte for byte, over HTTP/1.0: answered, then closed.
    let mut req = format!(
        "POST /scanmemory HTTP/1.0\r\nX-KAV-ProtocolVersion: 1\r\nX-KAV-Timeout: 10000\r\n\
         Content-Length: {}\r\n\r\n",
        eicar().len()
    )
    .into_bytes();
    req.extend_from_slice(&eicar());
    let mut c = s.raw(t);
    c.send(&req);
    let r = c.response().expect("answer");
    assert_eq!(
        (r.status, r.text()),
        (200, format!("DETECT {EICAR_NAME}")),
        "{r:?}"
    );
    assert_eq!(r.header("x-kav-protocolversion").as_deref(), Some("1"));
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(
        r.header("connection").as_deref(),
        Some("close"),
        "HTTP/1.0 closes"
    );
    assert!(c.is_closed(), "HTTP/1.0 without keep-alive must close");
    // rspamd's, with the sender as the object URL.
    let mut req = format!(
        "POST /scanmemory HTTP/1.0\r\nX-KAV-ProtocolVersion: 1\r\nX-KAV-Timeout: 10000\r\n\
         X-KAV-ObjectURL: [from:a@b.example]\r\nContent-Length: {}\r\n\r\n",
        HELLO.len()
    )
    .into_bytes();
    req.extend_from_slice(HELLO);
    let r = s.ask(t, &req);
    assert_eq!((r.status, r.text()), (200, "CLEAN".to_owned()), "{r:?}");
    let mut req = format!(
        "POST /scanmemory HTTP/1.1\r\nHost: x\r\nX-KAV-ProtocolVersion: 2\r\n\
         X-KAV-ObjectURL: http://example.com/x.exe\r\nX-KAV-HostIP: 233.252.0.1\r\n\
         Content-Length: {}\r\n\r\n",
        eicar().len()
    )
    .into_bytes();
    req.extend_from_slice(&eicar());
    let r = s.ask(t, &req);
    assert_eq!(
        (r.status, r.text()),
        (200, format!("DETECT {EICAR_NAME}")),
        "v2 raw: {r:?}"
    );
    assert_eq!(r.header("x-kav-protocolversion").as_deref(), Some("2"));

    // The version header is mandatory and must be 1 or 2; the timeout must be a number.
    let r = s.post(t, "/scanmemory", &eicar(), &["-H", "X-KAV-Timeout: 10000"]);
    assert_curl_error(&r, 400, "X-KAV-ProtocolVersion", "no X-KAV-ProtocolVersion");
    let r = s.post(
        t,
        "/scanmemory",
        &eicar(),
        &["-H", "X-KAV-ProtocolVersion: 3"],
    );
    assert_curl_error(&r, 400, "X-KAV-ProtocolVersion", "X-KAV-ProtocolVersion: 3");
    let r = s.post(
        t,
        "/scanmemory",
        &eicar(),
        &[
            "-H",
            "X-KAV-ProtocolVersion: 1",
            "-H",
            "X-KAV-Timeout: soon",
        ],
    );
    assert_curl_error(&r, 400, "X-KAV-Timeout", "X-KAV-Timeout: soon");

    // v2 multipart (KSE page 181078): request and response header parts, then the
    // object, which must come out exactly (the signature is EICAR's MD5 and size).
    let mut body = b"--B\r\nRequest headers\r\nGET /files/test.exe HTTP/1.1\r\nHost: example.com\r\n\r\n\
                     --B\r\nResponse headers\r\nHTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n\
                     --B\r\n"
        .to_vec();
    body.extend_from_slice(&eicar());
    body.extend_from_slice(b"\r\n--B--\r\n");
    let v2 = [
        "-H",
        "X-KAV-ProtocolVersion: 2",
        "-H",
        "X-KAV-Timeout: 10",
        "-H",
        "Content-Type: multipart/mixed; boundary=B",
    ];
    let r = s.post(t, "/scanmemory", &body, &v2);
    assert_reply(&r, 200, &format!("DETECT {EICAR_NAME}"), "v2 multipart");
    assert_eq!(r.header("x-kav-protocolversion").as_deref(), Some("2"));
    // Only the object part, LF line breaks.
    let mut body = b"--B\n".to_vec();
    body.extend_from_slice(&eicar());
    body.extend_from_slice(b"\n--B--\n");
    let r = s.post(t, "/scanmemory", &body, &v2);
    assert_reply(
        &r,
        200,
        &format!("DETECT {EICAR_NAME}"),
        "v2 multipart, object only",
    );
    let quoted = [
        "-H",
        "X-KAV-ProtocolVersion: 2",
        "-H",
        "Content-Type: Multipart/Mixed; charset=x; boundary=\"B\"",
    ];
    let r = s.post(t, "/scanmemory", &body, &quoted);
    assert_reply(
        &r,
        200,
        &format!("DETECT {EICAR_NAME}"),
        "v2 multipart, quoted boundary",
    );
    let r = s.post(
        t,
        "/scanmemory",
        b"--B\r\nRequest headers\r\nX: y\r\n--B--\r\n",
        &v2,
    );
    assert_curl_error(&r, 400, "", "v2 multipart without an object");

    // scanfile: the path is the body (a trailing line break is allowed).
    let bad = s.file("eicar.com", &eicar());
    let good = s.file("clean.txt", CLEAN_FILE);
    let r = s.post(
        t,
        "/scanfile",
        format!("{}\n", bad.display()).as_bytes(),
        &["-H", "X-KAV-ProtocolVersion: 1"],
    );
    assert_reply(
        &r,
        200,
        &format!("DETECT {EICAR_NAME}"),
        "v1 scanfile EICAR",
    );
    let r = s.post(
        t,
        "/scanfile",
        good.to_str().unwrap().as_bytes(),
        &["-H", "X-KAV-ProtocolVersion: 1"],
    );
    assert_reply(&r, 200, "CLEAN", "v1 scanfile clean");
    let mut mp = b"--B\r\n".to_vec();
    mp.extend_from_slice(bad.to_str().unwrap().as_bytes());
    mp.extend_from_slice(b"\r\n--B--\r\n");
    let r = s.post(t, "/scanfile", &mp, &v2);
    assert_reply(
        &r,
        200,
        &format!("DETECT {EICAR_NAME}"),
        "v2 multipart scanfile",
    );
    let fifo = s.root.join("fifo");
    mkfifo(&fifo);
    let r = s.post(
        t,
        "/scanfile",
        fifo.to_str().unwrap().as_bytes(),
        &["-H", "X-KAV-ProtocolVersion: 1"],
    );
    assert_reply(&r, 200, "NON_SCANNED (SKIPPED)", "v1 scanfile of a FIFO");
    let out = s.outside.join("x.txt");
    std::fs::write(&out, b"x").unwrap();
    let r = s.post(
        t,
        "/scanfile",
        out.to_str().unwrap().as_bytes(),
        &["-H", "X-KAV-ProtocolVersion: 1"],
    );
    assert_eq!(r.status, 403, "v1 scanfile outside: {r:?}");

    // The text endpoints.
    let h1 = ["-H", "X-KAV-ProtocolVersion: 1"];
    let r = s.curl(t, "/basesdate", &h1);
    assert_eq!(r.status, 200, "{r:?}");
    let date = r.text();
    assert_bases_date(
        date.strip_prefix("database version: ")
            .unwrap_or_else(|| panic!("v1 basesdate {date:?}")),
    );
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    let r = s.curl(t, "/version", &h1);
    let text = r.text();
    let v = text
        .strip_prefix("KAV SDK version: ")
        .unwrap_or_else(|| panic!("v1 version {text:?}"));
    assert_version_body(&format!("{{\"KAVSDKVersion\":\"{v}\"}}"));
    let r = s.curl(t, "/licenseinfo", &h1);
    assert_reply(
        &r,
        200,
        "key file name: ringscan open source (Apache-2.0), no license key\n\
         license expiration date: 31.12.9999",
        "v1 licenseinfo",
    );
    // Counted: memory 68 D, 11, 68 D (1.0), 11, 68 D (v2), multipart 68 D three times;
    // files 68 D, 10, 68 D (multipart), a FIFO not scanned (0 bytes).
    let r = s.curl(t, "/getstatistics", &h1);
    let data = 8 * 68 + 11 + 11 + 10;
    assert_reply(
        &r,
        200,
        &format!(
            "total_requests: 12\ninfected_requests: 8\nprotected_requests: 0\n\
             error_requests: 1\nengine_errors: 0\nprocessed_data: {data}\n\
             infected_data: {}\nprocessed_urls: 0\ninfected_urls: 0",
            8 * 68
        ),
        "v1 getstatistics",
    );
    let r = s.post(t, "/clearstatistics", b"", &h1);
    assert_reply(&r, 200, "", "v1 clearstatistics");
    assert_eq!(r.header("content-length").as_deref(), Some("0"));
    assert_eq!(s.statistics(t), stats_body([0; 9]));
    // No plain update or KSN endpoints.
    for path in ["/update/start", "/update/status", "/ksninfo"] {
        let r = s.curl(t, path, &h1);
        assert_curl_error(&r, 404, "", path);
    }
}

// ---------------------------------------------------------------------------------
// 4. HTTP behaviour.

/// 404, 405 with `Allow`, OPTIONS, and CORS.
#[test]
fn routing_options_and_cors() {
    let s = HttpServer::start(Setup {
        unix: false,
        http: vec!["cors_allow_origin = \"http://example.com\"".into()],
        ..Setup::default()
    });
    let t = Via::Tcp;
    for path in [
        "/api/v3.0/nothing",
        "/api/v4.0/version",
        "/api/v3.0/version/",
        "/api/v3.2/version",
        "/",
        "/API/V3.0/VERSION",
    ] {
        let r = s.curl(t, path, &[]);
        assert_curl_error(&r, 404, "", path);
        assert_eq!(r.header("allow"), None, "{path}");
    }
    // The query string is ignored.
    let r = s.curl(t, "/api/v3.0/licenseinfo?x=1", &[]);
    assert_reply(&r, 200, LICENSE, "query string");
    for (method, path, allow) in [
        ("POST", "/api/v3.0/version", "OPTIONS, GET"),
        ("GET", "/api/v3.0/scanmemory", "OPTIONS, POST"),
        ("PUT", "/api/v3.0/scanfile", "OPTIONS, POST"),
        ("DELETE", "/api/v3.0/getstatistics", "OPTIONS, GET"),
        ("GET", "/api/v3.0/update/start", "OPTIONS, POST"),
    ] {
        let r = s.curl(t, path, &["-X", method]);
        assert_curl_error(&r, 405, "", &format!("{method} {path}"));
        assert_eq!(r.header("allow").as_deref(), Some(allow), "{method} {path}");
    }
    // OPTIONS without Origin: Allow.
    for (path, allow) in [
        ("/api/v3.0/scanmemory", "OPTIONS, POST"),
        ("/api/v3.0/version", "OPTIONS, GET"),
        ("/scanmemory", "OPTIONS, POST"),
    ] {
        let r = s.curl(t, path, &["-X", "OPTIONS"]);
        assert_reply(&r, 200, "", path);
        assert_eq!(r.header("content-length").as_deref(), Some("0"), "{path}");
        assert_eq!(r.header("allow").as_deref(), Some(allow), "{path}");
        assert_eq!(r.header("access-control-allow-origin"), None, "{path}");
    }
    // With Origin and CORS configured: the CORS headers instead of Allow.
    let r = s.curl(
        t,
        "/api/v3.0/scanmemory",
        &[
            "-X",
            "OPTIONS",
            "-H",
            "Origin: http://example.com",
            "-H",
            "Access-Control-Request-Method: POST",
            "-H",
            "Access-Control-Request-Headers: content-type",
        ],
    );
    assert_reply(&r, 200, "", "CORS preflight");
    assert_eq!(r.header("content-length").as_deref(), Some("0"));
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("http://example.com")
    );
    assert_eq!(
        r.header("access-control-allow-methods").as_deref(),
        Some("OPTIONS, POST")
    );
    assert_eq!(
        r.header("access-control-allow-headers").as_deref(),
        Some("content-type")
    );
    assert_eq!(r.header("allow"), None, "CORS preflight has no Allow");
    let r = s.curl(
        t,
        "/api/v3.0/version",
        &["-X", "OPTIONS", "-H", "Origin: http://example.com"],
    );
    assert_eq!(
        r.header("access-control-allow-methods").as_deref(),
        Some("OPTIONS, GET")
    );
    // A CORS request gets the origin on the answer too.
    let r = s.curl(
        t,
        "/api/v3.0/licenseinfo",
        &["-H", "Origin: http://example.com"],
    );
    assert_reply(&r, 200, LICENSE, "CORS GET");
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("http://example.com")
    );
    let r = s.post(
        t,
        "/api/v3.0/scanmemory",
        &memory_body(&eicar(), ""),
        &["-H", "Origin: http://example.com"],
    );
    assert_reply(
        &r,
        200,
        &v3_result("memory", Some(EICAR_NAME), None),
        "CORS POST",
    );
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("http://example.com")
    );

    // Without CORS configured, an Origin changes nothing.
    let plain = HttpServer::start(Setup {
        unix: false,
        ..Setup::default()
    });
    let r = plain.curl(
        t,
        "/api/v3.0/scanmemory",
        &["-X", "OPTIONS", "-H", "Origin: http://example.com"],
    );
    assert_reply(&r, 200, "", "OPTIONS with Origin, no CORS");
    assert_eq!(r.header("allow").as_deref(), Some("OPTIONS, POST"));
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = plain.curl(
        t,
        "/api/v3.0/licenseinfo",
        &["-H", "Origin: http://example.com"],
    );
    assert_eq!(r.header("access-control-allow-origin"), None);
}

/// Keep-alive: curl reuses one connection; pipelined requests are answered in order;
/// `Connection: close` and HTTP/1.0 close; idle connections close after
/// `keep_alive_timeout`; `keep_alive_max_requests` closes after that many.
#[test]
fn keep_alive_and_pipelining() {
    let s = HttpServer::start(Setup::default());
    let t = Via::Tcp;

    // Three URLs on one curl command line: one connection.
    let out = Command::new("curl")
        .args(["-sv", "--max-time", "20"])
        .arg(s.url(t, "/api/v3.0/version"))
        .arg(s.url(t, "/api/v3.0/licenseinfo"))
        .arg(s.url(t, "/api/v3.0/ksninfo"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "curl: {stderr}");
    assert_eq!(
        stderr.matches("Re-using existing connection").count(),
        2,
        "curl must reuse its connection twice:\n{stderr}"
    );
    assert!(
        stdout.starts_with("{\"KAVSDKVersion\":\"")
            && stdout.ends_with(&format!(
                "\"}}{LICENSE}{{\"ksnStatus\":\"KSN turned off\"}}"
            )),
        "three bodies: {stdout}"
    );

    // Pipelining: three requests in one write (one with a body, one refused), answered
    // in order on the same connection.
    let scan = memory_body(&eicar(), "");
    let mut req = b"GET /api/v3.0/version HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    req.extend_from_slice(
        format!(
            "POST /api/v3.0/scanmemory HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            scan.len()
        )
        .as_bytes(),
    );
    req.extend_from_slice(&scan);
    req.extend_from_slice(b"GET /api/v3.0/nothing HTTP/1.1\r\nHost: x\r\n\r\n");
    req.extend_from_slice(b"GET /api/v3.0/licenseinfo HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut c = s.raw(t);
    c.send(&req);
    let r1 = c.response().expect("answer 1");
    assert_eq!(r1.status, 200);
    assert_version_body(&r1.text());
    assert_eq!(r1.header("connection").as_deref(), Some("keep-alive"));
    let r2 = c.response().expect("answer 2");
    assert_eq!(
        (r2.status, r2.text()),
        (200, v3_result("memory", Some(EICAR_NAME), None))
    );
    let r3 = c.response().expect("answer 3");
    assert_raw_error(&r3, 404, "", "pipelined 404");
    let r4 = c.response().expect("answer 4");
    assert_eq!((r4.status, r4.text()), (200, LICENSE.to_owned()));
    // Then Connection: close on the same connection: answered, marked, closed.
    c.send(b"GET /api/v3.1/ksninfo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r5 = c.response().expect("answer 5");
    assert_eq!(r5.status, 200);
    assert_eq!(r5.header("connection").as_deref(), Some("close"));
    assert!(c.is_closed(), "Connection: close must close");
    // Requests after a Connection: close in the same write are not answered.
    let mut c = s.raw(t);
    c.send(b"GET /api/v3.0/version HTTP/1.1\r\nConnection: close\r\n\r\nGET /api/v3.0/version HTTP/1.1\r\n\r\n");
    assert_eq!(c.response().expect("first").status, 200);
    assert!(c.is_closed(), "nothing after Connection: close");

    // HTTP/1.0 with keep-alive stays open.
    let mut c = s.raw(t);
    c.send(b"GET /api/v3.0/licenseinfo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.response().expect("1.0 keep-alive");
    assert_eq!(
        r.header("connection").as_deref(),
        Some("keep-alive"),
        "{r:?}"
    );
    c.send(b"GET /api/v3.0/licenseinfo HTTP/1.0\r\n\r\n");
    let r = c.response().expect("1.0 second request");
    assert_eq!((r.status, r.text()), (200, LICENSE.to_owned()));
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(c.is_closed());

    // An idle keep-alive connection closes after keep_alive_timeout (2 s).
    let mut c = s.raw(t);
    c.send(b"GET /api/v3.0/version HTTP/1.1\r\n\r\n");
    assert_eq!(c.response().expect("idle test").status, 200);
    let idle = Instant::now();
    c.set_read_timeout(Duration::from_secs(6));
    assert!(c.is_closed(), "idle connection still open after 6 s");
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_millis(4500),
        "closed after {waited:?}, keep_alive_timeout is 2 s"
    );

    // keep_alive_max_requests = 2: the second answer closes.
    let m = HttpServer::start(Setup {
        unix: false,
        http: vec!["keep_alive_max_requests = 2".into()],
        ..Setup::default()
    });
    let mut c = m.raw(t);
    c.send(b"GET /api/v3.0/version HTTP/1.1\r\n\r\nGET /api/v3.0/version HTTP/1.1\r\n\r\nGET /api/v3.0/version HTTP/1.1\r\n\r\n");
    let r = c.response().expect("first of two");
    assert_eq!(r.header("connection").as_deref(), Some("keep-alive"));
    let r = c.response().expect("second of two");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection").as_deref(), Some("close"), "{r:?}");
    assert!(c.is_closed(), "the third request must not be answered");

    // keep_alive = false: every answer closes.
    let k = HttpServer::start(Setup {
        unix: false,
        http: vec!["keep_alive = false".into()],
        ..Setup::default()
    });
    let mut c = k.raw(t);
    c.send(b"GET /api/v3.0/version HTTP/1.1\r\n\r\nGET /api/v3.0/version HTTP/1.1\r\n\r\n");
    let r = c.response().expect("keep_alive off");
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(c.is_closed());
}

/// Chunked bodies, `Expect: 100-continue`, the size limits, malformed requests.
#[test]
fn bodies_limits_and_malformed_requests() {
    let s = HttpServer::start(Setup {
        unix: false,
        http: vec![
            "max_request_size = \"4M\"".into(),
            "max_header_size = \"4K\"".into(),
        ],
        ..Setup::default()
    });
    let t = Via::Tcp;
    let detect_v3 = v3_result("memory", Some(EICAR_NAME), None);

    // Chunked upload by curl.
    let r = s.post(
        t,
        "/api/v3.0/scanmemory",
        &memory_body(&eicar(), ""),
        &["-H", "Transfer-Encoding: chunked"],
    );
    assert_reply(&r, 200, &detect_v3, "curl chunked upload");
    // Chunked by hand: 7-byte chunks, an extension, a trailer; v1 raw bytes.
    let mut req = b"POST /scanmemory HTTP/1.1\r\nHost: x\r\nX-KAV-ProtocolVersion: 1\r\n\
                    Transfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for (i, piece) in eicar().chunks(7).enumerate() {
        if i == 2 {
            req.extend_from_slice(format!("{:X};name=value\r\n", piece.len()).as_bytes());
        } else {
            req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        }
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
    req.extend_from_slice(b"GET /api/v3.0/licenseinfo HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut c = s.raw(t);
    c.send(&req);
    let r = c.response().expect("chunked answer");
    assert_eq!(
        (r.status, r.text()),
        (200, format!("DETECT {EICAR_NAME}")),
        "hand-chunked"
    );
    let r = c.response().expect("request after the chunked one");
    assert_eq!(
        (r.status, r.text()),
        (200, LICENSE.to_owned()),
        "after chunked"
    );
    // Bad chunk size.
    let r = s.ask(
        t,
        b"POST /scanmemory HTTP/1.1\r\nX-KAV-ProtocolVersion: 1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    );
    assert_raw_error(&r, 400, "", "bad chunk size");

    // A 2 MiB object: curl sends `Expect: 100-continue` and waits for the 100.
    let big: Vec<u8> = noise(1536 << 10, 7);
    let body = memory_body(&big, "");
    assert!(body.len() > 2 << 20);
    let r = s.post(t, "/api/v3.0/scanmemory", &body, &[]);
    assert_reply(&r, 200, &v3_result("memory", None, None), "2 MiB object");
    assert!(
        r.heads.starts_with("HTTP/1.1 100 Continue\r\n"),
        "no 100 Continue: {:?}",
        r.heads
    );
    // The 100 comes before the body is sent.
    let mut c = s.raw(t);
    c.send(
        format!(
            "POST /scanmemory HTTP/1.1\r\nHost: x\r\nX-KAV-ProtocolVersion: 1\r\n\
             Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            eicar().len()
        )
        .as_bytes(),
    );
    c.set_read_timeout(Duration::from_secs(5));
    let r = c.response().expect("interim answer");
    assert_eq!(r.status, 100, "{r:?}");
    assert!(r.head.starts_with("HTTP/1.1 100 Continue"), "{r:?}");
    c.send(&eicar());
    let r = c.response().expect("final answer");
    assert_eq!((r.status, r.text()), (200, format!("DETECT {EICAR_NAME}")));
    // HTTP/1.0 has no 100 Continue (RFC 9110 §10.1.1): the expectation is ignored.
    let mut c = s.raw(t);
    let mut request = format!(
        "POST /scanmemory HTTP/1.0\r\nX-KAV-ProtocolVersion: 1\r\n\
         Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        eicar().len()
    )
    .into_bytes();
    request.extend_from_slice(&eicar());
    c.send(&request);
    let r = c.response().expect("HTTP/1.0 answer");
    assert_eq!((r.status, r.text()), (200, format!("DETECT {EICAR_NAME}")));
    // A head refused at once gets its final status instead of 100, and the
    // connection closes (the body will not be read).
    let mut c = s.raw(t);
    c.send(
        b"POST /api/v3.0/nothing HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
    );
    let r = c.response().expect("refused head");
    assert_raw_error(&r, 404, "", "404 instead of 100");
    assert!(c.is_closed());

    // Over max_request_size (4M), declared: 413 before the body.
    let mut c = s.raw(t);
    c.send(b"POST /api/v3.0/scanmemory HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n");
    let r = c.response().expect("413");
    assert_raw_error(&r, 413, "", "declared too large");
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(c.is_closed());
    // curl with 5 MB: the 413 comes in place of the 100.
    let huge = vec![b'a'; 5_000_000];
    let r = s.post(t, "/scanmemory", &huge, &["-H", "X-KAV-ProtocolVersion: 1"]);
    assert_curl_error(&r, 413, "", "curl 5 MB");
    // Chunked, over the limit while it arrives.
    let mut c = s.raw(t);
    c.send(b"POST /scanmemory HTTP/1.1\r\nHost: x\r\nX-KAV-ProtocolVersion: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
    let mut w = c.tcp_clone();
    let writer = thread::spawn(move || {
        let chunk = [&b"10000\r\n"[..], &vec![b'a'; 0x10000], b"\r\n"].concat();
        for _ in 0..100 {
            if w.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let r = c.response().expect("chunked 413");
    assert_raw_error(&r, 413, "", "chunked too large");
    drop(c);
    writer.join().unwrap();

    // Over max_header_size (4K): 431, by curl and raw.
    let long = format!("X-Long: {}", "a".repeat(5000));
    let r = s.curl(t, "/api/v3.0/version", &["-H", &long]);
    assert_curl_error(&r, 431, "", "long header");
    let mut many = b"GET /api/v3.0/version HTTP/1.1\r\n".to_vec();
    for i in 0..100 {
        many.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let r = s.ask(t, &many);
    assert_raw_error(&r, 431, "", "too many headers");

    // Malformed requests.
    for (req, status, what) in [
        (&b"GARBAGE\r\n\r\n"[..], 400, "garbage request line"),
        (b"GET /api/v3.0/version HTTP/9.9\r\n\r\n", 400, "HTTP/9.9"),
        (
            b"GET /api/v3.0/version HTTP/1.1\r\nBad Header\r\n\r\n",
            400,
            "header without colon",
        ),
        (
            b"POST /scanmemory HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            400,
            "conflicting Content-Length",
        ),
        (
            b"POST /scanmemory HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            400,
            "negative length",
        ),
        (
            b"POST /scanmemory HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "Content-Length and chunked",
        ),
        (
            b"POST /scanmemory HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
            "gzip",
        ),
    ] {
        let mut c = s.raw(t);
        c.send(req);
        let r = c.response().unwrap_or_else(|| panic!("{what}: no answer"));
        assert_raw_error(&r, status, "", what);
        assert_eq!(r.header("connection").as_deref(), Some("close"), "{what}");
        assert!(c.is_closed(), "{what}: must close");
    }
    let r = s.post(t, "/api/v3.0/scanmemory", b"{\"object\":\"aGk=\"", &[]);
    assert_curl_error(&r, 400, "", "malformed JSON");
    let r = s.post(t, "/api/v3.0/scanmemory", b"{\"object\":\"a$b\"}", &[]);
    assert_curl_error(&r, 400, "base64", "bad base64");
    // A refused body that was read whole keeps the connection.
    let mut c = s.raw(t);
    c.send(b"POST /api/v3.0/scanmemory HTTP/1.1\r\nContent-Length: 2\r\n\r\n{]GET /api/v3.0/licenseinfo HTTP/1.1\r\n\r\n");
    assert_raw_error(
        &c.response().expect("bad JSON"),
        400,
        "",
        "bad JSON, pipelined",
    );
    assert_eq!(c.response().expect("after bad JSON").text(), LICENSE);

    // Still serving.
    let r = s.post(t, "/api/v3.0/scanmemory", &memory_body(&eicar(), ""), &[]);
    assert_reply(&r, 200, &detect_v3, "after all the above");
}

/// Session timeouts (1 s): a lying Content-Length, a slow head, a slow body get 408
/// `{"error":"Session Timeout"}`; a silent connection closes; a vanished client
/// does not disturb the server.
#[test]
fn session_timeouts_and_vanishing_clients() {
    let s = HttpServer::start(Setup {
        unix: false,
        session_timeout: "1s",
        keep_alive_timeout: "1s",
        ..Setup::default()
    });
    let t = Via::Tcp;
    let timeout_body = "{\"error\":\"Session Timeout\"}";
    let check_408 = |r: &http_support::RawReply, since: Instant, what: &str| {
        let took = since.elapsed();
        assert_eq!(
            (r.status, r.text()),
            (408, timeout_body.to_owned()),
            "{what}: {r:?}"
        );
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json"),
            "{what}"
        );
        assert!(
            took >= Duration::from_millis(800) && took < Duration::from_secs(4),
            "{what}: 408 after {took:?}, session_timeout is 1 s"
        );
    };

    // Declares 100 bytes, sends 10, waits.
    let mut c = s.raw(t);
    let since = Instant::now();
    c.send(b"POST /scanmemory HTTP/1.1\r\nX-KAV-ProtocolVersion: 1\r\nContent-Length: 100\r\n\r\n0123456789");
    let r = c.response().expect("408 for a lying Content-Length");
    check_408(&r, since, "lying Content-Length");
    assert!(c.is_closed());
    // Same with a v3 body.
    let mut c = s.raw(t);
    let since = Instant::now();
    c.send(b"POST /api/v3.0/scanmemory HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"object\":");
    check_408(
        &c.response().expect("408 v3"),
        since,
        "lying Content-Length, v3",
    );

    // Trickling: one byte every 150 ms, past the session timeout.
    let trickle = |data: Vec<u8>, what: &str| {
        let mut c = s.raw(t);
        let mut w = c.tcp_clone();
        let since = Instant::now();
        let writer = thread::spawn(move || {
            for b in data {
                if w.write_all(&[b]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(150));
            }
        });
        let r = c
            .response()
            .unwrap_or_else(|| panic!("{what}: closed without 408"));
        check_408(&r, since, what);
        drop(c);
        writer.join().unwrap();
    };
    trickle(
        b"POST /scanmemory HTTP/1.1\r\nX-KAV-ProtocolVersion: 1\r\nContent-Length: 5\r\n\r\nabcde"
            .to_vec(),
        "slow head",
    );
    let mut body =
        b"POST /scanmemory HTTP/1.1\r\nX-KAV-ProtocolVersion: 1\r\nContent-Length: 40\r\n\r\n"
            .to_vec();
    let head_len = body.len();
    body.extend_from_slice(&[b'x'; 40]);
    {
        // The head at once, then the body slowly.
        let mut c = s.raw(t);
        c.send(&body[..head_len]);
        let mut w = c.tcp_clone();
        let rest = body[head_len..].to_vec();
        let since = Instant::now();
        let writer = thread::spawn(move || {
            for b in rest {
                if w.write_all(&[b]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(150));
            }
        });
        let r = c.response().expect("slow body: closed without 408");
        check_408(&r, since, "slow body");
        drop(c);
        writer.join().unwrap();
    }
    // Chunked, slowly.
    trickle(
        b"POST /scanmemory HTTP/1.1\r\nX-KAV-ProtocolVersion: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n"
            .to_vec(),
        "slow chunked body",
    );

    // A connection that sends nothing is closed without an answer.
    let mut c = s.raw(t);
    c.set_read_timeout(Duration::from_secs(5));
    let since = Instant::now();
    assert!(c.is_closed(), "a silent connection must be closed");
    assert!(since.elapsed() < Duration::from_secs(4));

    // Clients that vanish mid-head and mid-body, closing (FIN) or resetting (RST);
    // then the server serves.
    for partial in [
        &b"POST /scanmemory HTTP/1.1\r\nX-KAV-Proto"[..],
        b"POST /scanmemory HTTP/1.1\r\nX-KAV-ProtocolVersion: 1\r\nContent-Length: 1000\r\n\r\nabc",
        b"POST /api/v3.0/scanmemory HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ] {
        for reset in [false, true] {
            let mut c = s.raw(t);
            c.send(partial);
            thread::sleep(Duration::from_millis(20));
            if reset {
                c.tcp_clone().set_linger_zero();
            }
            drop(c);
        }
    }
    let r = s.post(t, "/api/v3.0/scanmemory", &memory_body(&eicar(), ""), &[]);
    assert_reply(
        &r,
        200,
        &v3_result("memory", Some(EICAR_NAME), None),
        "after vanished clients",
    );
    // Nothing was counted but the last scan.
    assert_eq!(s.statistics(t), stats_body([1, 1, 0, 0, 0, 68, 68, 0, 0]));
}

/// Makes a FIFO (scanfile must not block on it).
fn mkfifo(path: &std::path::Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// `SO_LINGER` 0: the close sends a reset.
trait Linger {
    fn set_linger_zero(&self);
}

impl Linger for TcpStream {
    fn set_linger_zero(&self) {
        use std::os::fd::AsRawFd;
        let l = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt on an open socket with a pointer to a live linger struct
        // and its size.
        let rc = unsafe {
            libc::setsockopt(
                self.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&l as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "SO_LINGER");
    }
}

// ---------------------------------------------------------------------------------
// 5. Scan timeout.

/// A 1 ms scan timeout on a 64 MiB object: 408 with the vendor's SERVER_ERROR body,
/// counted as an engine error (v3 memory, v1 memory, v3 file).
#[test]
fn scan_timeout_is_server_error() {
    let s = HttpServer::start(Setup {
        unix: false,
        session_timeout: "60s",
        http: vec!["max_request_size = \"200M\"".into()],
        ..Setup::default()
    });
    let t = Via::Tcp;
    // Text-like bytes: words from a small alphabet, so the engine sees text.
    let mut big = Vec::with_capacity(64 << 20);
    let words = noise(1 << 16, 3);
    let mut i = 0usize;
    while big.len() < 64 << 20 {
        let w = words[i % words.len()];
        big.extend_from_slice(
            &b"lorem ipsum dolor sit amet consectetur adipiscing elit\n"[..(w as usize % 40) + 8],
        );
        i += 1;
    }
    big.truncate(64 << 20);
    let r = s.post(
        t,
        "/api/v3.0/scanmemory",
        &memory_body(&big, "\"timeout\":\"1\","),
        &[],
    );
    assert_reply(
        &r,
        408,
        "{\"object\":\"Memory\",\"scanResult\":\"SERVER_ERROR\"}",
        "v3 scan timeout",
    );
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let r = s.post(
        t,
        "/scanmemory",
        &big,
        &["-H", "X-KAV-ProtocolVersion: 1", "-H", "X-KAV-Timeout: 1"],
    );
    assert_reply(&r, 408, "SERVER_ERROR", "v1 scan timeout");
    let path = s.file("big.txt", &big);
    let body = format!(
        "{{\"timeout\":1,\"object\":{}}}",
        json_str(path.to_str().unwrap())
    );
    let r = s.post(t, "/api/v3.0/scanfile", body.as_bytes(), &[]);
    assert_reply(
        &r,
        408,
        &format!(
            "{{\"object\":{},\"scanResult\":\"SERVER_ERROR\"}}",
            json_str(path.to_str().unwrap())
        ),
        "v3 scanfile timeout",
    );
    // Three engine errors, no data counted for them.
    assert_eq!(s.statistics(t), stats_body([3, 0, 0, 0, 3, 0, 0, 0, 0]));
    // A timeout of 0 means none: the same object scans.
    let r = s.post(
        t,
        "/scanmemory",
        &big,
        &["-H", "X-KAV-ProtocolVersion: 1", "-H", "X-KAV-Timeout: 0"],
    );
    assert_reply(&r, 200, "CLEAN", "X-KAV-Timeout: 0");
}

// ---------------------------------------------------------------------------------
// 6. API tokens.

/// Tokens on a plain TCP listener are refused at startup unless allowed.
#[test]
fn auth_refuses_plain_tcp_unless_allowed() {
    let (token, hash) = new_token();
    let auth = vec![
        "enabled = true".to_owned(),
        format!("tokens = [\"{hash}\"]"),
    ];
    let mut s = HttpServer::launch(Setup {
        unix: false,
        auth: auth.clone(),
        ..Setup::default()
    });
    let status = s
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("ringscan serves tokens over plain TCP; log:\n{}", s.log()));
    assert!(!status.success(), "exit status {status}");
    assert!(
        s.log().contains("http.auth.enabled"),
        "the error must name http.auth.enabled:\n{}",
        s.log()
    );

    let mut auth = auth;
    auth.push("allow_plain_tcp = true".into());
    let s = HttpServer::start(Setup {
        unix: false,
        auth,
        ..Setup::default()
    });
    let r = s.curl(
        Via::Tcp,
        "/api/v3.0/licenseinfo",
        &["-H", &format!("Authorization: Bearer {token}")],
    );
    assert_reply(&r, 200, LICENSE, "allow_plain_tcp");
    let r = s.curl(Via::Tcp, "/api/v3.0/licenseinfo", &[]);
    assert_curl_error(&r, 401, "", "allow_plain_tcp, no token");
}

/// Bearer tokens over the UNIX socket and TLS: none, wrong, unprefixed → 401 with
/// the vendor's `WWW-Authenticate`; the right one (either of two) → 200.
#[test]
fn auth_bearer_tokens() {
    let (token, hash) = new_token();
    let (token2, hash2) = new_token();
    assert_ne!(token, token2);
    let s = HttpServer::start(Setup {
        tls: true,
        auth: vec![
            "enabled = true".into(),
            format!("tokens = [\"{hash}\", \"{hash2}\"]"),
        ],
        ..Setup::default()
    });
    let bearer = format!("Authorization: Bearer {token}");
    let bearer2 = format!("Authorization: Bearer {token2}");
    let challenge = format!("Bearer {REALM}");
    for via in [Via::Unix, Via::Tcp] {
        let what = |w: &str| format!("{w} over {via:?}");
        let wrong = format!("Authorization: Bearer {}x", &token[..token.len() - 1]);
        let bare = format!("Authorization: {token}");
        let basic = format!("Authorization: Basic {token}");
        for (args, w) in [
            (vec![], "no token"),
            (vec!["-H", wrong.as_str()], "wrong token"),
            (vec!["-H", bare.as_str()], "token without Bearer"),
            (vec!["-H", basic.as_str()], "Basic scheme"),
            (vec!["-H", "Authorization: Bearer "], "empty token"),
        ] {
            let r = s.curl(via, "/api/v3.0/version", &args);
            assert_curl_error(&r, 401, "", &what(w));
            assert_eq!(
                r.header("www-authenticate"),
                Some(challenge.clone()),
                "{}",
                what(w)
            );
            // A refused upload is refused too.
            let mut post = args.clone();
            post.extend(["-H", "X-KAV-ProtocolVersion: 1"]);
            let r = s.post(via, "/scanmemory", &eicar(), &post);
            assert_eq!(r.status, 401, "{}: {r:?}", what(w));
        }
        let r = s.curl(via, "/api/v3.0/licenseinfo", &["-H", &bearer]);
        assert_reply(&r, 200, LICENSE, &what("right token"));
        let r = s.curl(via, "/api/v3.0/licenseinfo", &["-H", &bearer2]);
        assert_reply(&r, 200, LICENSE, &what("second token"));
        let r = s.post(
            via,
            "/api/v3.0/scanmemory",
            &memory_body(&eicar(), ""),
            &["-H", &bearer],
        );
        assert_reply(
            &r,
            200,
            &v3_result("memory", Some(EICAR_NAME), None),
            &what("scan with token"),
        );
        let r = s.post(
            via,
            "/scanmemory",
            &eicar(),
            &["-H", &bearer, "-H", "X-KAV-ProtocolVersion: 1"],
        );
        assert_reply(
            &r,
            200,
            &format!("DETECT {EICAR_NAME}"),
            &what("v1 with token"),
        );
        // Preflights carry no token.
        let r = s.curl(via, "/api/v3.0/scanmemory", &["-X", "OPTIONS"]);
        assert_reply(&r, 200, "", &what("OPTIONS without token"));
    }
}

/// `bearer = false` with `header = "X-Api-Token"`: the bare token in that header.
#[test]
fn auth_custom_header() {
    let (token, hash) = new_token();
    let s = HttpServer::start(Setup {
        auth: vec![
            "enabled = true".into(),
            "bearer = false".into(),
            "header = \"X-Api-Token\"".into(),
            "allow_plain_tcp = true".into(),
            format!("tokens = [\"{hash}\"]"),
        ],
        ..Setup::default()
    });
    let challenge = format!("Token {REALM}");
    let good = format!("X-Api-Token: {token}");
    let in_bearer = format!("X-Api-Token: Bearer {token}");
    let in_authorization = format!("Authorization: Bearer {token}");
    let bare_authorization = format!("Authorization: {token}");
    for via in [Via::Unix, Via::Tcp] {
        let r = s.curl(via, "/api/v3.0/licenseinfo", &["-H", &good]);
        assert_reply(&r, 200, LICENSE, "X-Api-Token");
        for (h, what) in [
            (None, "no token"),
            (Some(&in_bearer), "Bearer prefix in X-Api-Token"),
            (Some(&in_authorization), "Authorization: Bearer"),
            (Some(&bare_authorization), "bare token in Authorization"),
        ] {
            let args: Vec<&str> = h.map(|h| vec!["-H", h.as_str()]).unwrap_or_default();
            let r = s.curl(via, "/api/v3.0/licenseinfo", &args);
            assert_curl_error(&r, 401, "", what);
            assert_eq!(
                r.header("www-authenticate"),
                Some(challenge.clone()),
                "{what}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// 7. Local-only update endpoints.

/// update/start and update/status from a non-loopback address get 405; from loopback
/// and the UNIX socket they answer.
#[test]
fn update_only_from_local_clients() {
    let s = HttpServer::start(Setup {
        tcp_host: "0.0.0.0",
        ..Setup::default()
    });
    let port = s.tcp.unwrap().port();
    let r = s.curl(Via::Unix, "/api/v3.0/update/status", &[]);
    assert_reply(
        &r,
        200,
        "{\"status\":\"not started\"}",
        "update/status over UNIX",
    );
    let r = s.curl(Via::Tcp, "/api/v3.1/update/status", &[]);
    assert_reply(
        &r,
        200,
        "{\"status\":\"not started\"}",
        "update/status from loopback",
    );

    let ip = Command::new("hostname")
        .arg("-I")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|w| w.parse::<std::net::Ipv4Addr>().ok())
                .find(|a| !a.is_loopback() && !a.is_unspecified())
        });
    let Some(ip) = ip else {
        eprintln!("NOTE: no non-loopback IPv4 address here (hostname -I); the remote-client 405 is not checked");
        return;
    };
    for (method, path, allow) in [
        ("POST", "/api/v3.0/update/start", "OPTIONS, POST"),
        ("GET", "/api/v3.0/update/status", "OPTIONS, GET"),
        ("GET", "/api/v3.1/update/status", "OPTIONS, GET"),
    ] {
        let url = format!("http://{ip}:{port}{path}");
        let mut args = vec!["-X", method];
        if method == "POST" {
            args.extend(["--data-binary", "{}"]);
        }
        let r = s.curl_url(Via::Tcp, &url, &args);
        assert_curl_error(&r, 405, "", &format!("{method} {url} (remote)"));
        assert_eq!(r.header("allow").as_deref(), Some(allow), "{url}");
    }
    // Other endpoints are served to the remote client.
    let r = s.curl_url(
        Via::Tcp,
        &format!("http://{ip}:{port}/api/v3.0/licenseinfo"),
        &[],
    );
    assert_reply(&r, 200, LICENSE, "licenseinfo from a remote client");
    // The refused update/start started nothing.
    let r = s.curl(Via::Unix, "/api/v3.0/update/status", &[]);
    assert_reply(
        &r,
        200,
        "{\"status\":\"not started\"}",
        "no update was started",
    );
    // From loopback it starts.
    let r = s.post(Via::Tcp, "/api/v3.0/update/start", b"{}", &[]);
    assert_reply(
        &r,
        200,
        "{\"status\":\"update started\"}",
        "update/start from loopback",
    );
}

/// `header_of` and `find` (the helpers the assertions rely on).
#[test]
fn helpers() {
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b : c";
    assert_eq!(header_of(head, "content-length").as_deref(), Some("3"));
    assert_eq!(header_of(head, "x-a").as_deref(), Some("b : c"));
    assert_eq!(header_of(head, "http/1.1 200 ok"), None);
    assert_eq!(find(b"abcabc", b"ca"), Some(2));
    assert_eq!(base64(b"EICAR"), "RUlDQVI=");
    assert_eq!(base64(b"EI"), "RUk=");
    assert!(shaped("01.02.2025 10:11 GMT", "99.99.9999 99:99 GMT"));
    assert!(!shaped("1.02.2025 10:11 GMT", "99.99.9999 99:99 GMT"));
}

/// `http.max_sessions`: a connection over the limit waits (in the backlog, over TCP
/// and over the UNIX socket) until a session closes, then is served. SIGTERM then
/// removes the HTTP socket file and the server exits 0.
#[test]
fn session_limit_and_shutdown() {
    let mut s = HttpServer::start(Setup {
        http: vec!["max_sessions = 1".into()],
        ..Setup::default()
    });
    let version = b"GET /api/v3.0/version HTTP/1.1\r\nHost: x\r\n\r\n";
    for via in [Via::Unix, Via::Tcp] {
        // Session A holds the only slot (kept alive after its answer).
        let mut a = s.raw(via);
        a.send(version);
        let r = a.response().expect("A answered");
        assert_eq!(r.status, 200, "{via:?}: {r:?}");
        // Session B connects (the kernel queues it) but is not served meanwhile.
        let mut b = s.raw(via);
        b.send(version);
        assert!(
            b.silent_for(Duration::from_millis(700)),
            "{via:?}: B served beyond max_sessions"
        );
        // A closes: B is taken from the backlog and answered.
        drop(a);
        let r = b.response().expect("B answered once A closed");
        assert_eq!(r.status, 200, "{via:?}: {r:?}");
    }
    let sock = s.unix.clone().expect("unix socket");
    assert!(sock.exists());
    s.signal(libc::SIGTERM);
    let status = s
        .wait_exit(Duration::from_secs(20))
        .expect("exits on SIGTERM");
    assert!(status.success(), "{status}: {}", s.log());
    assert!(!sock.exists(), "HTTP socket file left behind");
}

/// What a client can do to the server's memory and CPU through framing: bodies that
/// are announced but not sent commit no memory, chunk framing and trailers are
/// bounded, a chunk size of 2^64-1 is refused, a flood of pipelined requests is
/// answered in order, and a connection that reaches its request limit closes without
/// destroying its last answers.
#[test]
fn framing_abuse_is_bounded() {
    let s = HttpServer::start(Setup {
        unix: false,
        http: vec![
            "max_request_size = \"100M\"".into(),
            "keep_alive_max_requests = 3000".into(),
        ],
        ..Setup::default()
    });
    let t = Via::Tcp;
    let before = s.rss_kib();
    // 30 uploads announcing 90 MB each and sending 10 bytes: 2.7 GB if the announced
    // size were allocated up front.
    let mut holders: Vec<_> = (0..30)
        .map(|_| {
            let mut c = s.raw(t);
            c.send(
                b"POST /scanmemory HTTP/1.1\r\nX-KAV-ProtocolVersion: 1\r\n\
                  Content-Length: 90000000\r\n\r\n0123456789",
            );
            c
        })
        .collect();
    thread::sleep(Duration::from_millis(500));
    let during = s.rss_kib();
    assert!(
        during < before + 200 * 1024,
        "RSS grew from {before} KiB to {during} KiB for bodies that never came"
    );
    holders.clear();

    // A chunk size of 2^64-1 after a first chunk: 413, not a wrap past the limit.
    let mut c = s.raw(t);
    c.send(
        b"POST /scanmemory HTTP/1.1\r\nX-KAV-ProtocolVersion: 1\r\n\
          Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\nffffffffffffffff\r\n",
    );
    let r = c.response().expect("answer to a huge chunk");
    assert_eq!(r.status, 413, "{r:?}");
    // Endless trailers: 400.
    let mut c = s.raw(t);
    let mut req = b"POST /scanmemory HTTP/1.1\r\nX-KAV-ProtocolVersion: 1\r\n\
          Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n"
        .to_vec();
    for _ in 0..2000 {
        req.extend_from_slice(b"X-Trailer: 1\r\n");
    }
    c.send(&req);
    let r = c.response().expect("answer to endless trailers");
    assert_eq!(r.status, 400, "{r:?}");

    // A chunked HTTP/1.0 request is answered, then the connection ends even though
    // keep-alive was asked for (RFC 9112 §6.1).
    let mut c = s.raw(t);
    c.send(
        b"POST /scanmemory HTTP/1.0\r\nConnection: keep-alive\r\nX-KAV-ProtocolVersion: 1\r\n\
          Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    );
    let r = c.response().expect("answer to a chunked HTTP/1.0 request");
    assert_eq!((r.status, r.text()), (200, "CLEAN".to_owned()), "{r:?}");
    assert_eq!(r.header("connection").as_deref(), Some("close"), "{r:?}");
    assert!(c.is_closed());

    // 2000 pipelined requests in one write: every answer, in order.
    let mut c = s.raw(t);
    let mut flood = Vec::new();
    for i in 0..2000 {
        let path = if i % 2 == 0 { "/version" } else { "/basesdate" };
        flood.extend_from_slice(
            format!("GET {path} HTTP/1.1\r\nX-KAV-ProtocolVersion: 1\r\n\r\n").as_bytes(),
        );
    }
    c.send(&flood);
    for i in 0..2000 {
        let r = c.response().unwrap_or_else(|| panic!("answer {i}"));
        assert_eq!(r.status, 200, "answer {i}: {r:?}");
        let want = if i % 2 == 0 {
            "KAV SDK version"
        } else {
            "database version"
        };
        assert!(r.text().starts_with(want), "answer {i}: {}", r.text());
    }

    // v1 has no multipart form: a multipart Content-Type leaves the body whole.
    let body = format!(
        "--B\r\n{}\r\n--B--\r\n",
        String::from_utf8(eicar()).unwrap()
    );
    let r = s.post(
        t,
        "/scanmemory",
        body.as_bytes(),
        &[
            "-H",
            "X-KAV-ProtocolVersion: 1",
            "-H",
            "Content-Type: multipart/mixed; boundary=B",
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.text(),
        "CLEAN",
        "v1 scanned the multipart text as one object"
    );
    // A relative scanfile path is not a full path.
    let r = s.post(t, "/api/v3.0/scanfile", br#"{"object":"eicar.txt"}"#, &[]);
    assert_eq!(r.status, 400, "{r:?}");
}

/// A connection that reaches `keep_alive_max_requests` with more requests pipelined
/// behind: the answers up to the limit all arrive whole, then the connection ends
/// (no reset destroying them).
#[test]
fn closing_with_pipelined_requests_keeps_the_answers() {
    let s = HttpServer::start(Setup {
        unix: false,
        http: vec!["keep_alive_max_requests = 3".into()],
        ..Setup::default()
    });
    let mut c = s.raw(Via::Tcp);
    let mut flood = Vec::new();
    for _ in 0..50 {
        flood.extend_from_slice(b"GET /version HTTP/1.1\r\nX-KAV-ProtocolVersion: 1\r\n\r\n");
    }
    flood.extend_from_slice(&vec![b'x'; 256 << 10]);
    c.send(&flood);
    for i in 0..3 {
        let r = c.response().unwrap_or_else(|| panic!("answer {i}"));
        assert_eq!(r.status, 200, "answer {i}: {r:?}");
        let close = r.header("connection").map(|v| v.to_ascii_lowercase());
        assert_eq!(
            close.as_deref() == Some("close"),
            i == 2,
            "answer {i}: {r:?}"
        );
    }
    assert!(c.is_closed());
}

/// The access log: with `ringscan::access=debug`, one line per request with the
/// client, endpoint, status, object size and verdict, and never the object itself;
/// at the default level only detections.
#[test]
fn access_log_has_the_request_but_not_the_object() {
    let s = HttpServer::start(Setup {
        unix: false,
        log: Some("info,ringscan::access=debug"),
        ..Setup::default()
    });
    let t = Via::Tcp;
    let clean = b"a harmless object, 41 bytes long........";
    for (object, verdict) in [
        (eicar(), format!("DETECT {EICAR_NAME}")),
        (clean.to_vec(), "CLEAN".to_owned()),
    ] {
        let body = format!(r#"{{"object":"{}"}}"#, base64(&object));
        let r = s.post(t, "/api/v3.0/scanmemory", body.as_bytes(), &[]);
        assert_eq!(r.status, 200, "{r:?}");
        let log = s.log();
        let line = log
            .lines()
            .filter(|l| l.contains("ringscan::access"))
            .find(|l| {
                l.contains(&format!("verdict=\"{verdict}\""))
                    || l.contains(&format!("verdict={verdict}"))
            })
            .unwrap_or_else(|| panic!("no access line with {verdict}:\n{log}"));
        for field in [
            "peer=127.0.0.1:".to_owned(),
            "path=/api/v3.0/scanmemory".to_owned(),
            "status=200".to_owned(),
            format!("object_bytes={}", object.len()),
        ] {
            assert!(line.contains(&field), "{field} missing in {line}");
        }
        let text = String::from_utf8_lossy(&object).into_owned();
        assert!(!log.contains(&text), "the object is in the log:\n{log}");
        assert!(
            !log.contains(&base64(&object)),
            "the object is in the log:\n{log}"
        );
    }
    // At the default level, only the detection is logged.
    let quiet = HttpServer::start(Setup {
        unix: false,
        ..Setup::default()
    });
    for object in [eicar(), clean.to_vec()] {
        let body = format!(r#"{{"object":"{}"}}"#, base64(&object));
        assert_eq!(
            quiet
                .post(t, "/api/v3.0/scanmemory", body.as_bytes(), &[])
                .status,
            200
        );
    }
    let log = quiet.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ringscan::access"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("DETECT"), "{log}");
}

/// A dual-stack listener (`[::]`) sees an IPv4 loopback client as
/// `::ffff:127.0.0.1`, which is still local: the update endpoints answer.
#[test]
fn ipv4_mapped_loopback_is_local() {
    let s = HttpServer::start(Setup {
        unix: false,
        tcp_host: "[::]",
        log: Some("info,ringscan::access=debug"),
        ..Setup::default()
    });
    let r = s.curl(Via::Tcp, "/api/v3.0/update/status", &[]);
    assert_eq!(r.status, 200, "{r:?}\n{}", s.log());
    assert!(r.text().contains("\"status\""), "{r:?}");
}
