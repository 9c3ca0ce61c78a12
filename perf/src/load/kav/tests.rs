use std::io::Write;

use base64::Engine as _;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;

use super::*;
use crate::load::test_server::{self, Answer};

fn conn_pair() -> (Conn, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    (
        Conn {
            stream: Stream::Unix(a),
            buf: Vec::new(),
        },
        b,
    )
}

#[test]
fn targets() {
    let t: Target = "kav3+tcp:127.0.0.1:9999".parse().unwrap();
    assert_eq!(t.version, Version::V3);
    assert_eq!(t.endpoint, Endpoint::Tcp("127.0.0.1:9999".into()));
    assert_eq!(t.to_string(), "kav3+tcp:127.0.0.1:9999");
    let t: Target = "kav1+unix:/tmp/.kavhttpd".parse().unwrap();
    assert_eq!(t.version, Version::V1);
    assert_eq!(t.endpoint, Endpoint::Unix("/tmp/.kavhttpd".into()));
    assert_eq!(t.to_string(), "kav1+unix:/tmp/.kavhttpd");
    for bad in [
        "kav2+tcp:h:1",
        "kav3+tcp:h",
        "kav3+unix:",
        "kav3:h:1",
        "kav1+udp:h:1",
    ] {
        assert!(bad.parse::<Target>().is_err(), "{bad}");
    }
}

#[test]
fn v3_request_carries_base64_json() {
    let t: Target = "kav3+tcp:10.0.0.1:80".parse().unwrap();
    let data: Vec<u8> = (0..=255u8).collect();
    let r = Request::build(&t, &data);
    let head = String::from_utf8(r.head().to_vec()).unwrap();
    assert!(
        head.starts_with("POST /api/v3.0/scanmemory HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nHost: 10.0.0.1:80\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"));
    let body = r.body(b"ignored");
    assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["timeout"], "10000");
    let obj = base64::engine::general_purpose::STANDARD
        .decode(v["object"].as_str().unwrap())
        .unwrap();
    assert_eq!(obj, data);
}

#[test]
fn v1_request_sends_the_object() {
    let t: Target = "kav1+unix:/s".parse().unwrap();
    let r = Request::build(&t, b"abc");
    let head = String::from_utf8(r.head().to_vec()).unwrap();
    assert!(head.starts_with("POST /scanmemory HTTP/1.1\r\nHost: localhost\r\n"));
    assert!(head.contains("\r\nX-KAV-ProtocolVersion: 1\r\n"));
    assert!(head.contains("\r\nX-KAV-Timeout: 10000\r\n"));
    assert!(head.contains("\r\nContent-Length: 3\r\n"));
    assert_eq!(r.body(b"abc"), b"abc");
}

#[test]
fn v1_bodies() {
    assert_eq!(parse_v1(b"CLEAN"), Ok(Reply::Clean));
    assert_eq!(parse_v1(b"CLEAN\r\n"), Ok(Reply::Clean));
    assert_eq!(
        parse_v1(b"CLEAN AND CONTAINS OFFICE MACRO"),
        Ok(Reply::Clean)
    );
    assert_eq!(
        parse_v1(b"DETECT EICAR-Test-File\n"),
        Ok(Reply::Found("EICAR-Test-File".into()))
    );
    assert_eq!(
        parse_v1(b"DETECTED Win.Test.EICAR_HDB-1 AND CONTAINS OFFICE MACRO"),
        Ok(Reply::Found("Win.Test.EICAR_HDB-1".into()))
    );
    assert_eq!(
        parse_v1(b"NON_SCANNED (PASSWORD PROTECTED)"),
        Ok(Reply::Error("NON_SCANNED (PASSWORD PROTECTED)".into()))
    );
    assert_eq!(
        parse_v1(b"SERVER_ERROR"),
        Ok(Reply::Error("SERVER_ERROR".into()))
    );
    assert!(parse_v1(b"OK").is_err());
    assert!(parse_v1(b"").is_err());
    assert!(parse_v1(b"\xff\xfe").is_err());
}

#[test]
fn v3_bodies() {
    assert_eq!(
        parse_v3(br#"{"object":"memory","scanResult":"CLEAN","containsOfficeMacro":"false"}"#),
        Ok(Reply::Clean)
    );
    assert_eq!(
        parse_v3(br#"{"object":"memory","scanResult":"DETECT","detectionName":"Eicar-Signature"}"#),
        Ok(Reply::Found("Eicar-Signature".into()))
    );
    assert_eq!(
        parse_v3(br#"{"scanResult":"DETECTED","detectionName":"X"}"#),
        Ok(Reply::Found("X".into()))
    );
    assert_eq!(
        parse_v3(br#"{"object":"Memory","scanResult":"SERVER_ERROR"}"#),
        Ok(Reply::Error("SERVER_ERROR".into()))
    );
    assert_eq!(
        parse_v3(br#"{"error":"Session Timeout"}"#),
        Ok(Reply::Error("error: Session Timeout".into()))
    );
    assert!(parse_v3(b"CLEAN").is_err());
    assert!(parse_v3(br#"{"object":"memory"}"#).is_err());
}

#[test]
fn status_other_than_200_is_an_error_kind() {
    let r = Response {
        status: 400,
        body: br#"{"error":"bad json"}"#.to_vec(),
        close: false,
    };
    let (kind, msg) = verdict(Version::V3, &r).unwrap_err();
    assert_eq!(kind, ErrorKind::HttpStatus);
    assert!(msg.contains("HTTP 400"), "{msg}");
    let r = Response {
        status: 200,
        body: b"maybe".to_vec(),
        close: false,
    };
    assert_eq!(verdict(Version::V1, &r).unwrap_err().0, ErrorKind::Protocol);
}

#[test]
fn keep_alive_responses_back_to_back_and_split() {
    let (mut c, mut peer) = conn_pair();
    let w = std::thread::spawn(move || {
        peer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nCLEANHTTP/1.1 200 OK\r\nCont")
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        peer.write_all(b"ent-Length: 8\r\nServer: x\r\n\r\nDETECT ")
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        peer.write_all(b"X").unwrap();
        peer
    });
    let r = c.read_response().unwrap();
    assert_eq!(
        (r.status, r.body.as_slice(), r.close),
        (200, &b"CLEAN"[..], false)
    );
    let r = c.read_response().unwrap();
    assert_eq!(
        (r.status, r.body.as_slice(), r.close),
        (200, &b"DETECT X"[..], false)
    );
    drop(w.join().unwrap());
    let e = c.read_response().unwrap_err();
    assert!(e.is_stale(), "{e:?}");
}

#[test]
fn close_and_http10_and_unframed_bodies() {
    let (mut c, mut peer) = conn_pair();
    peer.write_all(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nCLEAN",
    )
    .unwrap();
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.close), (200, true));

    let (mut c, mut peer) = conn_pair();
    peer.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nCLEAN")
        .unwrap();
    assert!(c.read_response().unwrap().close);

    let (mut c, mut peer) = conn_pair();
    peer.write_all(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 5\r\n\r\nCLEAN")
        .unwrap();
    assert!(!c.read_response().unwrap().close);

    // No length, but the connection ends the body.
    let (mut c, mut peer) = conn_pair();
    peer.write_all(b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\nno scan")
        .unwrap();
    drop(peer);
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.body.as_slice()), (500, &b"no scan"[..]));

    for bad in [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nCLEAN\r\n0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\n\r\nCLEAN",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"SSH-2.0-OpenSSH\r\n\r\n",
    ] {
        let (mut c, mut peer) = conn_pair();
        peer.write_all(bad).unwrap();
        match c.read_response() {
            Err(ExchangeError::Protocol(_)) => {}
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bad)),
        }
    }

    // Closed inside the body: an I/O error, not stale (part of the answer came).
    let (mut c, mut peer) = conn_pair();
    peer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nCL")
        .unwrap();
    drop(peer);
    let e = c.read_response().unwrap_err();
    assert!(!e.is_stale(), "{e:?}");
}

/// One connection serves every request while the server keeps it; a server that closes
/// after each answer, with or without saying so, costs a reconnect but no error.
#[test]
fn session_keeps_alive_and_reconnects() {
    let srv = test_server::spawn(|_, head, body| {
        assert!(head.starts_with("POST /scanmemory HTTP/1.1"), "{head}");
        Answer::ok(if body == b"bad" {
            "DETECT Bad"
        } else {
            "CLEAN"
        })
    });
    let t: Target = format!("kav1+tcp:{}", srv.addr).parse().unwrap();
    let mut s = Session::default();
    let to = Duration::from_secs(5);
    for i in 0..10 {
        let data: &[u8] = if i % 2 == 0 { b"fine" } else { b"bad" };
        let want = if i % 2 == 0 {
            Reply::Clean
        } else {
            Reply::Found("Bad".into())
        };
        assert_eq!(s.scan(&t, &Request::build(&t, data), data, to), Ok(want));
    }
    assert_eq!(s.connects, 1);
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);

    // Says Connection: close: the client opens a new connection for the next request.
    let srv = test_server::spawn(|_, _, _| {
        let mut a = Answer::ok("CLEAN");
        a.bytes =
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nCLEAN".to_vec();
        a.close = true;
        a
    });
    let t: Target = format!("kav1+tcp:{}", srv.addr).parse().unwrap();
    let mut s = Session::default();
    let req = Request::build(&t, b"x");
    for _ in 0..3 {
        assert_eq!(s.scan(&t, &req, b"x", to), Ok(Reply::Clean));
    }
    assert_eq!(s.connects, 3);

    // Closes without saying so (an idle timeout): the next request finds the connection
    // dead before any answer, and goes again on a fresh one.
    let srv = test_server::spawn(|_, _, _| {
        let mut a = Answer::ok("CLEAN");
        a.close = true;
        a
    });
    let t: Target = format!("kav1+tcp:{}", srv.addr).parse().unwrap();
    let mut s = Session::default();
    let req = Request::build(&t, b"x");
    for _ in 0..3 {
        assert_eq!(s.scan(&t, &req, b"x", to), Ok(Reply::Clean));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.connects, 3);
}

#[test]
fn connect_failure_is_a_connect_error() {
    let dir = std::env::temp_dir().join(format!("ringscan-perf-kav-{}", std::process::id()));
    let t: Target = format!("kav3+unix:{}/absent.sock", dir.display())
        .parse()
        .unwrap();
    let mut s = Session::default();
    let req = Request::build(&t, b"x");
    let (kind, _) = s.scan(&t, &req, b"x", Duration::from_secs(1)).unwrap_err();
    assert_eq!(kind, ErrorKind::Connect);
}
