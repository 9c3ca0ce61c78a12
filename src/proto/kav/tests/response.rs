use crate::engine::Verdict;
use crate::proto::kav::response::*;
use crate::proto::kav::route::Api;
use crate::proto::kav::stats::KavCounters;

const V30: Api = Api::V3 { minor: 0 };
const V31: Api = Api::V3 { minor: 1 };

/// The text one writer appends.
fn text(write: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = b"prefix:".to_vec();
    write(&mut out);
    // Writers append; they never touch what is already there.
    let s = String::from_utf8(out).unwrap();
    s.strip_prefix("prefix:").unwrap().to_owned()
}

fn obj<'a>(object: &'a str, result: ScanResult<'a>) -> ObjectResult<'a> {
    ObjectResult::new(object, result)
}

fn macro_obj<'a>(object: &'a str, result: ScanResult<'a>) -> ObjectResult<'a> {
    ObjectResult {
        contains_office_macro: true,
        ..ObjectResult::new(object, result)
    }
}

fn v3(
    minor: u8,
    top: &ObjectResult<'_>,
    name: Option<&str>,
    subs: &[ObjectResult<'_>],
    omit: bool,
) -> String {
    text(|out| write_scan_v3(out, minor, top, name, subs, omit))
}

#[test]
fn v3_top_objects() {
    let eicar = obj("/home/user/eicar", ScanResult::Detect("EICAR-Test-File"));
    let want = r#"{"object":"/home/user/eicar","scanResult":"DETECT","detectionName":"EICAR-Test-File","containsOfficeMacro":"false"}"#;
    assert_eq!(v3(0, &eicar, None, &[], true), want);
    assert_eq!(v3(1, &eicar, None, &[], true), want);
    assert_eq!(
        v3(0, &obj("memory", ScanResult::Clean), None, &[], true),
        r#"{"object":"memory","scanResult":"CLEAN","containsOfficeMacro":"false"}"#
    );
    assert_eq!(
        v3(
            1,
            &macro_obj("memory", ScanResult::Clean),
            Some("invoice.docx"),
            &[],
            true
        ),
        r#"{"object":"memory","scanResult":"CLEAN","name":"invoice.docx","containsOfficeMacro":"true"}"#
    );
    assert_eq!(
        v3(0, &obj("/x", ScanResult::ServerError), None, &[], true),
        r#"{"object":"/x","scanResult":"SERVER_ERROR","containsOfficeMacro":"false"}"#
    );
    // JSON escaping of odd paths; `/` is not escaped.
    assert_eq!(
        v3(0, &obj("/a \"b\"\\c\n", ScanResult::Clean), None, &[], true),
        r#"{"object":"/a \"b\"\\c\n","scanResult":"CLEAN","containsOfficeMacro":"false"}"#
    );
}

#[test]
fn non_scanned_reasons() {
    let table = [
        (
            Some(Reason::Canceled),
            "NON_SCANNED (CANCELED)",
            Some("Canceled"),
        ),
        (
            Some(Reason::Corrupted),
            "NON_SCANNED (CORRUPTED)",
            Some("Corrupted"),
        ),
        (
            Some(Reason::AccessDenied),
            "NON_SCANNED (ACCESS DENIED)",
            Some("Access denied"),
        ),
        (
            Some(Reason::Skipped),
            "NON_SCANNED (SKIPPED)",
            Some("Skipped"),
        ),
        (
            Some(Reason::PasswordProtected),
            "NON_SCANNED (PASSWORD PROTECTED)",
            Some("Password protected"),
        ),
        (
            Some(Reason::MaxDepthExceeded),
            "NON_SCANNED",
            Some("Max depth exceeded"),
        ),
        (None, "NON_SCANNED", None),
    ];
    for (reason, v30, v31) in table {
        let o = obj("/p", ScanResult::NonScanned(reason));
        assert_eq!(
            v3(0, &o, None, &[], true),
            format!(r#"{{"object":"/p","scanResult":"{v30}","containsOfficeMacro":"false"}}"#)
        );
        let reason_field = v31.map_or(String::new(), |r| format!(r#","reason":"{r}""#));
        assert_eq!(
            v3(1, &o, Some("n"), &[], true),
            format!(
                r#"{{"object":"/p","scanResult":"NON_SCANNED"{reason_field},"name":"n","containsOfficeMacro":"false"}}"#
            )
        );
        assert_eq!(text(|out| write_scan_plain(out, &o, &[])), v30);
    }
}

#[test]
fn sub_objects() {
    let top = obj("/a.tar", ScanResult::Detect("EICAR-Test-File"));
    let subs = [
        obj("/a.tar//clean.txt", ScanResult::Clean),
        macro_obj(
            "/a.tar//folder/eicar",
            ScanResult::Detect("EICAR-Test-File"),
        ),
        obj(
            "/a.tar//x.zip",
            ScanResult::NonScanned(Some(Reason::PasswordProtected)),
        ),
    ];
    let head = r#"{"object":"/a.tar","scanResult":"DETECT","detectionName":"EICAR-Test-File","containsOfficeMacro":"false","subObjectsScanResults":["#;
    let clean =
        r#"{"object":"/a.tar//clean.txt","scanResult":"CLEAN","containsOfficeMacro":"false"}"#;
    let eicar = r#"{"object":"/a.tar//folder/eicar","scanResult":"DETECT","detectionName":"EICAR-Test-File","containsOfficeMacro":"true"}"#;
    let zip30 = r#"{"object":"/a.tar//x.zip","scanResult":"NON_SCANNED (PASSWORD PROTECTED)","containsOfficeMacro":"false"}"#;
    let zip31 = r#"{"object":"/a.tar//x.zip","scanResult":"NON_SCANNED","reason":"Password protected","containsOfficeMacro":"false"}"#;
    assert_eq!(
        v3(0, &top, None, &subs, true),
        format!("{head}{eicar},{zip30}]}}")
    );
    assert_eq!(
        v3(0, &top, None, &subs, false),
        format!("{head}{clean},{eicar},{zip30}]}}")
    );
    assert_eq!(
        v3(1, &top, None, &subs, true),
        format!("{head}{eicar},{zip31}]}}")
    );
    // `name` only on the top object.
    let named = v3(1, &top, Some("t.tar"), &subs, true);
    assert_eq!(named.matches("\"name\"").count(), 1);
    assert!(
        named.contains(r#""containsOfficeMacro":"false","#)
            && named.contains(r#""name":"t.tar","containsOfficeMacro""#)
    );
    // Only CLEAN subs and omit_clean: no array at all.
    let clean_only = [subs[0].clone(), subs[0].clone()];
    assert_eq!(
        v3(
            0,
            &obj("/a.tar", ScanResult::Clean),
            None,
            &clean_only,
            true
        ),
        r#"{"object":"/a.tar","scanResult":"CLEAN","containsOfficeMacro":"false"}"#
    );
    assert_eq!(
        v3(
            0,
            &obj("/a.tar", ScanResult::Clean),
            None,
            &clean_only,
            false
        ),
        format!(
            r#"{{"object":"/a.tar","scanResult":"CLEAN","containsOfficeMacro":"false","subObjectsScanResults":[{clean},{clean}]}}"#
        )
    );
}

#[test]
fn plain_scan_answers() {
    let plain = |top: &ObjectResult<'_>, subs: &[ObjectResult<'_>]| {
        text(|out| write_scan_plain(out, top, subs))
    };
    assert_eq!(plain(&obj("/x", ScanResult::Clean), &[]), "CLEAN");
    assert_eq!(
        plain(&obj("/x", ScanResult::Detect("EICAR-Test-File")), &[]),
        "DETECT EICAR-Test-File"
    );
    assert_eq!(
        plain(&obj("/x", ScanResult::ServerError), &[]),
        "SERVER_ERROR"
    );
    assert_eq!(
        plain(&macro_obj("/x", ScanResult::Clean), &[]),
        "CLEAN AND CONTAINS OFFICE MACRO"
    );
    assert_eq!(
        plain(&macro_obj("/x", ScanResult::Detect("W97M.Bad")), &[]),
        "DETECT W97M.Bad AND CONTAINS OFFICE MACRO"
    );
    // The most severe result over top and subs; the first detection's name.
    let subs = [
        obj("/x//a", ScanResult::NonScanned(Some(Reason::Corrupted))),
        obj("/x//b", ScanResult::Detect("First")),
        macro_obj("/x//c", ScanResult::Detect("Second")),
    ];
    assert_eq!(
        plain(&obj("/x", ScanResult::Clean), &subs),
        "DETECT First AND CONTAINS OFFICE MACRO"
    );
    assert_eq!(
        plain(&obj("/x", ScanResult::Clean), &subs[..1]),
        "NON_SCANNED (CORRUPTED)"
    );
    assert_eq!(
        plain(&obj("/x", ScanResult::Detect("Top")), &subs),
        "DETECT Top AND CONTAINS OFFICE MACRO"
    );
    assert_eq!(
        plain(&obj("/x", ScanResult::ServerError), &subs[..1]),
        "SERVER_ERROR"
    );
    assert_eq!(
        plain(
            &obj("/x", ScanResult::NonScanned(None)),
            &[obj("/x//a", ScanResult::NonScanned(Some(Reason::Skipped)))]
        ),
        "NON_SCANNED"
    );
    assert_eq!(
        plain(
            &obj("/x", ScanResult::Clean),
            &[obj("/x//a", ScanResult::Clean)]
        ),
        "CLEAN"
    );
}

#[test]
fn checkurl_answers() {
    assert_eq!(
        text(|out| write_checkurl_v3(out, "http://example.com/a", Some("PHISHING_URL"))),
        r#"{"url":"http://example.com/a","scanResult":"DETECT","detectionName":"PHISHING_URL"}"#
    );
    assert_eq!(
        text(|out| write_checkurl_v3(out, "http://example.com/", None)),
        r#"{"url":"http://example.com/","scanResult":"CLEAN"}"#
    );
    assert_eq!(
        text(|out| write_checkurl_plain(out, Some("MALICIOUS_URL"))),
        "DETECT MALICIOUS_URL"
    );
    assert_eq!(text(|out| write_checkurl_plain(out, None)), "CLEAN");
}

#[test]
fn errors_and_timeouts() {
    assert_eq!(
        text(|out| write_error(out, "\"object\" is required")),
        r#"{"error":"\"object\" is required"}"#
    );
    assert_eq!(
        text(|out| write_error(out, "Session Timeout")),
        r#"{"error":"Session Timeout"}"#
    );
    assert_eq!(
        text(|out| write_scan_timeout(out, "Memory")),
        r#"{"object":"Memory","scanResult":"SERVER_ERROR"}"#
    );
    assert_eq!(
        text(|out| write_scan_timeout(out, "/tmp/x")),
        r#"{"object":"/tmp/x","scanResult":"SERVER_ERROR"}"#
    );
    assert_eq!(text(write_cleared), r#"{"error":"CLEARED"}"#);
}

#[test]
fn bases_date_and_version() {
    assert_eq!(
        text(|out| write_bases_date(out, V30, 1_548_873_480)),
        r#"{"databaseVersion":"30.01.2019 18:38 GMT"}"#
    );
    assert_eq!(
        text(|out| write_bases_date(out, V31, 1_548_873_480)),
        r#"{"databaseVersion":"30.01.2019 18:38 GMT"}"#
    );
    assert_eq!(
        text(|out| write_bases_date(out, Api::Plain, 1_391_958_239)),
        "database version: 09.02.2014 15:03 GMT"
    );
    assert_eq!(
        text(|out| write_bases_date(out, Api::Plain, -5)),
        "database version: 01.01.1970 00:00 GMT"
    );
    assert_eq!(
        text(|out| write_bases_date(out, Api::Plain, i64::MAX)),
        "database version: 31.12.9999 23:59 GMT"
    );
    assert_eq!(
        text(|out| write_version(out, V30, "0.1.0.0")),
        r#"{"KAVSDKVersion":"0.1.0.0"}"#
    );
    assert_eq!(
        text(|out| write_version(out, Api::Plain, "0.1.0.0")),
        "KAV SDK version: 0.1.0.0"
    );
}

#[test]
fn license() {
    assert_eq!(
        text(|out| write_license(out, V30)),
        r#"{"licenseName":"ringscan open source (Apache-2.0), no license key","licenseExpirationDate":"31.12.9999"}"#
    );
    assert_eq!(
        text(|out| write_license(out, Api::Plain)),
        "key file name: ringscan open source (Apache-2.0), no license key\nlicense expiration date: 31.12.9999"
    );
}

#[test]
fn statistics() {
    let c = KavCounters {
        total_requests: 3,
        infected_requests: 3,
        protected_requests: 0,
        error_requests: 1,
        engine_errors: 2,
        processed_data: 204,
        infected_data: 204,
        processed_urls: 1,
        infected_urls: 1,
    };
    assert_eq!(
        text(|out| write_statistics(out, V30, &c)),
        r#"{"statistics":{"total_requests":3,"infected_requests":3,"protected_requests":0,"error_requests":1,"engine_errors":2,"processed_data":204,"infected_data":204,"processed_urls":1,"infected_urls":1}}"#
    );
    assert_eq!(
        text(|out| write_statistics(out, Api::Plain, &c)),
        "total_requests: 3\ninfected_requests: 3\nprotected_requests: 0\nerror_requests: 1\nengine_errors: 2\n\
         processed_data: 204\ninfected_data: 204\nprocessed_urls: 1\ninfected_urls: 1"
    );
    let big = KavCounters {
        processed_data: u64::MAX,
        ..KavCounters::default()
    };
    assert!(text(|out| write_statistics(out, V31, &big))
        .contains(r#""processed_data":18446744073709551615,"#));
}

#[test]
fn update_answers() {
    assert_eq!(
        text(|out| write_update_start(out, UpdateStart::Started)),
        r#"{"status":"update started"}"#
    );
    assert_eq!(
        text(|out| write_update_start(out, UpdateStart::AlreadyLaunched)),
        r#"{"status":"update already launched"}"#
    );
    assert_eq!(
        text(|out| write_update_start(out, UpdateStart::Error)),
        r#"{"status":"error while launching update"}"#
    );
    for minor in [0, 1] {
        let status = |s: UpdateStatus| text(|out| write_update_status(out, minor, &s));
        assert_eq!(
            status(UpdateStatus {
                in_progress: false,
                last: None
            }),
            r#"{"status":"not started"}"#
        );
        assert_eq!(
            status(UpdateStatus {
                in_progress: false,
                last: Some((true, 1_548_882_233))
            }),
            r#"{"status":"not started","last_update_result":"success","last_update_time":"21:03:53 30.01.2019"}"#
        );
        assert_eq!(
            status(UpdateStatus {
                in_progress: false,
                last: Some((false, 1_548_882_233))
            }),
            r#"{"status":"not started","last_update_result":"error while updating","last_update_time":"21:03:53 30.01.2019"}"#
        );
        assert_eq!(
            status(UpdateStatus {
                in_progress: true,
                last: Some((true, 1))
            }),
            r#"{"status":"in progress","progress":0}"#
        );
    }
    assert_eq!(text(write_ksninfo), r#"{"ksnStatus":"KSN turned off"}"#);
}

#[test]
fn from_engine_verdicts() {
    assert_eq!(ScanResult::from(Verdict::Clean), ScanResult::Clean);
    assert_eq!(
        ScanResult::from(Verdict::Detected("X")),
        ScanResult::Detect("X")
    );
    assert_eq!(
        ScanResult::from(Verdict::Error("io")),
        ScanResult::ServerError
    );
    assert_eq!(
        ScanResult::from(Verdict::NotScanned("ACCESS DENIED")),
        ScanResult::NonScanned(Some(Reason::AccessDenied))
    );
    assert_eq!(
        ScanResult::from(Verdict::NotScanned("too big")),
        ScanResult::NonScanned(None)
    );
    for r in [
        Reason::Canceled,
        Reason::Corrupted,
        Reason::AccessDenied,
        Reason::Skipped,
        Reason::PasswordProtected,
        Reason::MaxDepthExceeded,
    ] {
        assert_eq!(Reason::parse(r.v31_text()), Some(r));
        assert_eq!(Reason::parse(&r.v31_text().to_uppercase()), Some(r));
    }
}
