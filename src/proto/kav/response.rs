//! Response bodies, v3 JSON (`kav-protocol.md` §1.4, §1.5, §1.7) and plain v1/v2
//! text (§2). Each writer appends one complete body to `out`; status line and headers
//! are the caller's.
//!
//! JSON goes through serde_json with the vendor's field names and order; `/` is not
//! escaped (JSON does not require it, and every client's parser accepts both). Plain
//! bodies have no trailing line break (clients strip one if present; `Content-Length`
//! frames the body).

use std::borrow::Cow;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use time::OffsetDateTime;

use super::route::Api;
use super::stats::KavCounters;
use crate::engine::Verdict;

/// Why an object was not scanned (`NON_SCANNED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The scan was canceled (the timeout ran out).
    Canceled,
    /// The object is corrupted.
    Corrupted,
    /// The object could not be read.
    AccessDenied,
    /// The object was skipped (by a size limit or format rule).
    Skipped,
    /// The object is password protected.
    PasswordProtected,
    /// Archive nesting went deeper than allowed.
    MaxDepthExceeded,
}

impl Reason {
    /// The v3.0 and v1/v2 form: the whole `scanResult` text. `MaxDepthExceeded` is not
    /// among the vendor's v3.0 values, so it is written as plain `NON_SCANNED`, the
    /// documented form for "reason not determined" that every v3.0 client parses.
    pub fn v30_text(self) -> &'static str {
        match self {
            Reason::Canceled => "NON_SCANNED (CANCELED)",
            Reason::Corrupted => "NON_SCANNED (CORRUPTED)",
            Reason::AccessDenied => "NON_SCANNED (ACCESS DENIED)",
            Reason::Skipped => "NON_SCANNED (SKIPPED)",
            Reason::PasswordProtected => "NON_SCANNED (PASSWORD PROTECTED)",
            Reason::MaxDepthExceeded => "NON_SCANNED",
        }
    }

    /// The v3.1 `reason` field's value (the vendor's list, seed 003).
    pub fn v31_text(self) -> &'static str {
        match self {
            Reason::Canceled => "Canceled",
            Reason::Corrupted => "Corrupted",
            Reason::AccessDenied => "Access denied",
            Reason::Skipped => "Skipped",
            Reason::PasswordProtected => "Password protected",
            Reason::MaxDepthExceeded => "Max depth exceeded",
        }
    }

    /// Reads a reason word as the engine and the v3.0 text spell it (`"ACCESS DENIED"`,
    /// `"PASSWORD PROTECTED"`, ..., case-insensitive; v3.1 spellings too).
    pub fn parse(word: &str) -> Option<Reason> {
        const ALL: [Reason; 6] = [
            Reason::Canceled,
            Reason::Corrupted,
            Reason::AccessDenied,
            Reason::Skipped,
            Reason::PasswordProtected,
            Reason::MaxDepthExceeded,
        ];
        ALL.into_iter()
            .find(|r| r.v31_text().eq_ignore_ascii_case(word.trim()))
    }
}

/// One object's scan result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanResult<'a> {
    /// Nothing found.
    Clean,
    /// A detection, with its name.
    Detect(&'a str),
    /// Not scanned, with the reason when known.
    NonScanned(Option<Reason>),
    /// The engine failed (not the object's fault).
    ServerError,
}

impl<'a> ScanResult<'a> {
    /// Severity for the plain answer's summary: DETECT > SERVER_ERROR > NON_SCANNED >
    /// CLEAN. An engine failure ranks above a known non-scan reason because it says
    /// less about the object.
    fn severity(&self) -> u8 {
        match self {
            ScanResult::Clean => 0,
            ScanResult::NonScanned(_) => 1,
            ScanResult::ServerError => 2,
            ScanResult::Detect(_) => 3,
        }
    }
}

impl<'a> From<Verdict<'a>> for ScanResult<'a> {
    /// The engine's verdict as a KAV result; a not-scanned reason the KAV vocabulary
    /// lacks becomes a plain `NON_SCANNED`.
    fn from(verdict: Verdict<'a>) -> Self {
        match verdict {
            Verdict::Clean => ScanResult::Clean,
            Verdict::Detected(name) => ScanResult::Detect(name),
            Verdict::NotScanned(reason) => ScanResult::NonScanned(Reason::parse(reason)),
            Verdict::Error(_) => ScanResult::ServerError,
        }
    }
}

/// One object (the top one or a sub-object) and its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectResult<'a> {
    /// The path (scanfile), `"memory"` (scanmemory), or `parent//child` for a
    /// sub-object.
    pub object: Cow<'a, str>,
    /// The result.
    pub result: ScanResult<'a>,
    /// Whether an office macro was found.
    pub contains_office_macro: bool,
}

impl<'a> ObjectResult<'a> {
    /// `object` with `result` and no macro.
    pub fn new(object: impl Into<Cow<'a, str>>, result: ScanResult<'a>) -> Self {
        ObjectResult {
            object: object.into(),
            result,
            contains_office_macro: false,
        }
    }
}

/// Appends `value` as JSON.
fn put_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Only strings, integers, bools and maps of them are serialized, into a Vec:
    // serde_json has no error to give.
    let _ = serde_json::to_writer(out, value);
}

/// A v3 scan object as serialized.
#[derive(Serialize)]
struct V3Object<'b> {
    object: &'b str,
    #[serde(rename = "scanResult")]
    scan_result: &'static str,
    #[serde(rename = "detectionName", skip_serializing_if = "Option::is_none")]
    detection_name: Option<&'b str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'b str>,
    #[serde(rename = "containsOfficeMacro")]
    contains_office_macro: &'static str,
    #[serde(
        rename = "subObjectsScanResults",
        skip_serializing_if = "Option::is_none"
    )]
    subs: Option<V3Subs<'b>>,
}

impl<'b> V3Object<'b> {
    fn new(minor: u8, o: &'b ObjectResult<'_>) -> Self {
        let (scan_result, detection_name, reason) = match o.result {
            ScanResult::Clean => ("CLEAN", None, None),
            ScanResult::Detect(name) => ("DETECT", Some(name), None),
            ScanResult::NonScanned(reason) if minor >= 1 => {
                ("NON_SCANNED", None, reason.map(Reason::v31_text))
            }
            ScanResult::NonScanned(reason) => {
                (reason.map_or("NON_SCANNED", Reason::v30_text), None, None)
            }
            ScanResult::ServerError => ("SERVER_ERROR", None, None),
        };
        V3Object {
            object: &o.object,
            scan_result,
            detection_name,
            reason,
            name: None,
            contains_office_macro: if o.contains_office_macro {
                "true"
            } else {
                "false"
            },
            subs: None,
        }
    }
}

/// The `subObjectsScanResults` array, filtered while it is written.
struct V3Subs<'b> {
    minor: u8,
    subs: &'b [ObjectResult<'b>],
    omit_clean: bool,
}

impl V3Subs<'_> {
    fn kept(&self) -> impl Iterator<Item = &ObjectResult<'_>> {
        let omit_clean = self.omit_clean;
        self.subs
            .iter()
            .filter(move |s| !(omit_clean && s.result == ScanResult::Clean))
    }
}

impl Serialize for V3Subs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.kept().map(|s| V3Object::new(self.minor, s)))
    }
}

/// Writes a v3 scanfile/scanmemory answer (`kav-protocol.md` §1.4).
///
/// Field order: `object`, `scanResult`, `detectionName` (DETECT only), `reason`
/// (v3.1, NON_SCANNED with a known reason only), `name` (top object, when given),
/// `containsOfficeMacro` (`"true"`/`"false"` strings, as the vendor's example),
/// `subObjectsScanResults` (when a sub-object remains after dropping CLEAN ones under
/// `omit_clean`). In v3.0 the reason is part of `scanResult` (`NON_SCANNED (CORRUPTED)`).
pub fn write_scan_v3(
    out: &mut Vec<u8>,
    minor: u8,
    top: &ObjectResult<'_>,
    name: Option<&str>,
    subs: &[ObjectResult<'_>],
    omit_clean: bool,
) {
    let subs = V3Subs {
        minor,
        subs,
        omit_clean,
    };
    let mut object = V3Object::new(minor, top);
    object.name = name;
    if subs.kept().next().is_some() {
        object.subs = Some(subs);
    }
    put_json(out, &object);
}

/// Writes a plain v1/v2 scan answer: `CLEAN`, `DETECT <name>`, `NON_SCANNED (REASON)`
/// or `SERVER_ERROR`, for the most severe result over `top` and `subs` (DETECT >
/// SERVER_ERROR > NON_SCANNED > CLEAN, the first of equals), then ` AND CONTAINS
/// OFFICE MACRO` when any of them has a macro.
pub fn write_scan_plain(out: &mut Vec<u8>, top: &ObjectResult<'_>, subs: &[ObjectResult<'_>]) {
    let all = || std::iter::once(top).chain(subs);
    let mut worst = top.result;
    for o in all() {
        if o.result.severity() > worst.severity() {
            worst = o.result;
        }
    }
    match worst {
        ScanResult::Clean => out.extend_from_slice(b"CLEAN"),
        ScanResult::Detect(name) => {
            out.extend_from_slice(b"DETECT ");
            out.extend_from_slice(name.as_bytes());
        }
        ScanResult::NonScanned(reason) => {
            out.extend_from_slice(reason.map_or("NON_SCANNED", Reason::v30_text).as_bytes());
        }
        ScanResult::ServerError => out.extend_from_slice(b"SERVER_ERROR"),
    }
    if all().any(|o| o.contains_office_macro) {
        out.extend_from_slice(b" AND CONTAINS OFFICE MACRO");
    }
}

/// Writes a v3 checkurl answer: `{"url":...,"scanResult":"CLEAN"}` or with
/// `"scanResult":"DETECT","detectionName":<detection>` (`PHISHING_URL`, ...).
pub fn write_checkurl_v3(out: &mut Vec<u8>, url: &str, detection: Option<&str>) {
    #[derive(Serialize)]
    struct CheckUrl<'a> {
        url: &'a str,
        #[serde(rename = "scanResult")]
        scan_result: &'static str,
        #[serde(rename = "detectionName", skip_serializing_if = "Option::is_none")]
        detection_name: Option<&'a str>,
    }
    put_json(
        out,
        &CheckUrl {
            url,
            scan_result: if detection.is_some() {
                "DETECT"
            } else {
                "CLEAN"
            },
            detection_name: detection,
        },
    );
}

/// Writes a plain checkurl answer: `CLEAN` or `DETECT <detection>`.
pub fn write_checkurl_plain(out: &mut Vec<u8>, detection: Option<&str>) {
    match detection {
        None => out.extend_from_slice(b"CLEAN"),
        Some(name) => {
            out.extend_from_slice(b"DETECT ");
            out.extend_from_slice(name.as_bytes());
        }
    }
}

/// Appends a JSON object of one string field.
fn put_one(out: &mut Vec<u8>, key: &str, value: &str) {
    struct One<'a>(&'a str, &'a str);
    impl Serialize for One<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(self.0, self.1)?;
            map.end()
        }
    }
    put_json(out, &One(key, value));
}

/// Writes the v3 error body `{"error":"<message>"}`.
pub fn write_error(out: &mut Vec<u8>, message: &str) {
    put_one(out, "error", message);
}

/// Writes the 408 body for a scan that ran out of time (`kav-protocol.md` §1.7):
/// `{"object":<object>,"scanResult":"SERVER_ERROR"}`. The vendor's example has
/// `"Memory"` for scanmemory; for scanfile pass the path.
pub fn write_scan_timeout(out: &mut Vec<u8>, object: &str) {
    #[derive(Serialize)]
    struct Timeout<'a> {
        object: &'a str,
        #[serde(rename = "scanResult")]
        scan_result: &'static str,
    }
    put_json(
        out,
        &Timeout {
            object,
            scan_result: "SERVER_ERROR",
        },
    );
}

/// The UTC date and time of `unix_secs` (clamped to 1970..=9999).
fn utc(unix_secs: i64) -> OffsetDateTime {
    // 253402300799 is 9999-12-31T23:59:59Z, the last instant `time` always supports.
    OffsetDateTime::from_unix_timestamp(unix_secs.clamp(0, 253_402_300_799))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `DD.MM.YYYY hh:mm GMT`.
fn bases_date_text(unix_secs: i64) -> String {
    let t = utc(unix_secs);
    format!(
        "{:02}.{:02}.{:04} {:02}:{:02} GMT",
        t.day(),
        u8::from(t.month()),
        t.year(),
        t.hour(),
        t.minute()
    )
}

/// Writes the basesdate answer for the database dated `unix_secs`: v3
/// `{"databaseVersion":"DD.MM.YYYY hh:mm GMT"}`, plain
/// `database version: DD.MM.YYYY hh:mm GMT`. The day is zero-padded as the documented
/// format says, although the vendor's one plain example shows `9.02.2014`.
pub fn write_bases_date(out: &mut Vec<u8>, api: Api, unix_secs: i64) {
    let text = bases_date_text(unix_secs);
    match api {
        Api::V3 { .. } => put_one(out, "databaseVersion", &text),
        Api::Plain => {
            out.extend_from_slice(b"database version: ");
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// Writes the version answer: v3 `{"KAVSDKVersion":<version>}`, plain
/// `KAV SDK version: <version>`. The caller passes a four-part
/// Major.Minor.Build.Revision version (`0.1.0.0`), the form clients expect.
pub fn write_version(out: &mut Vec<u8>, api: Api, version: &str) {
    match api {
        Api::V3 { .. } => put_one(out, "KAVSDKVersion", version),
        Api::Plain => {
            out.extend_from_slice(b"KAV SDK version: ");
            out.extend_from_slice(version.as_bytes());
        }
    }
}

/// The `licenseName` ringscan reports: there is no key file, the software is open
/// source.
pub const LICENSE_NAME: &str = "ringscan open source (Apache-2.0), no license key";

/// The `licenseExpirationDate` ringscan reports: the license never expires, and a
/// client that parses the field as a `DD.MM.YYYY` date needs a date, so the last one
/// such clients can represent (`DateTime.MaxValue` in .NET) stands for "never".
pub const LICENSE_EXPIRATION: &str = "31.12.9999";

/// Writes the licenseinfo answer in the vendor's offline-key shape: v3
/// `{"licenseName":...,"licenseExpirationDate":"31.12.9999"}`, plain
/// `key file name: ...\nlicense expiration date: 31.12.9999`. See [`LICENSE_NAME`] and
/// [`LICENSE_EXPIRATION`] for the values.
pub fn write_license(out: &mut Vec<u8>, api: Api) {
    match api {
        Api::V3 { .. } => {
            #[derive(Serialize)]
            struct License {
                #[serde(rename = "licenseName")]
                name: &'static str,
                #[serde(rename = "licenseExpirationDate")]
                expiration: &'static str,
            }
            put_json(
                out,
                &License {
                    name: LICENSE_NAME,
                    expiration: LICENSE_EXPIRATION,
                },
            );
        }
        Api::Plain => {
            out.extend_from_slice(b"key file name: ");
            out.extend_from_slice(LICENSE_NAME.as_bytes());
            out.extend_from_slice(b"\nlicense expiration date: ");
            out.extend_from_slice(LICENSE_EXPIRATION.as_bytes());
        }
    }
}

/// Writes the getstatistics answer: v3 `{"statistics":{...}}` with the nine counters
/// in the vendor's order; plain, one `name: value` line per counter in the same order,
/// lines joined by `\n` (the vendor does not show its plain layout: UNCONFIRMED).
pub fn write_statistics(out: &mut Vec<u8>, api: Api, c: &KavCounters) {
    match api {
        Api::V3 { .. } => {
            #[derive(Serialize)]
            struct Statistics<'a> {
                statistics: Fields<'a>,
            }
            struct Fields<'a>(&'a KavCounters);
            impl Serialize for Fields<'_> {
                fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                    let fields = self.0.fields();
                    let mut map = serializer.serialize_map(Some(fields.len()))?;
                    for (name, value) in fields {
                        map.serialize_entry(name, &value)?;
                    }
                    map.end()
                }
            }
            put_json(
                out,
                &Statistics {
                    statistics: Fields(c),
                },
            );
        }
        Api::Plain => {
            for (i, (name, value)) in c.fields().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'\n');
                }
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value.to_string().as_bytes());
            }
        }
    }
}

/// Writes the v3 clearstatistics answer, `{"error":"CLEARED"}` (the vendor's key is
/// `error` even on success). The plain answer is an empty body.
pub fn write_cleared(out: &mut Vec<u8>) {
    put_one(out, "error", "CLEARED");
}

/// The outcome of `update/start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateStart {
    /// An update (database reload) was started.
    Started,
    /// One is already running.
    AlreadyLaunched,
    /// It could not be started.
    Error,
}

/// Writes the `update/start` answer: `{"status":"update started"}`,
/// `"update already launched"` or `"error while launching update"` (always HTTP 200).
pub fn write_update_start(out: &mut Vec<u8>, s: UpdateStart) {
    let status = match s {
        UpdateStart::Started => "update started",
        UpdateStart::AlreadyLaunched => "update already launched",
        UpdateStart::Error => "error while launching update",
    };
    put_one(out, "status", status);
}

/// The state `update/status` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateStatus {
    /// An update is running.
    pub in_progress: bool,
    /// The last finished update: whether it succeeded, and when (Unix seconds).
    pub last: Option<(bool, i64)>,
}

/// Writes the `update/status` answer (`kav-protocol.md` §1.5).
///
/// - In progress: `{"status":"in progress","progress":0}` (a database reload has no
///   meaningful percentage).
/// - Otherwise `{"status":"not started"}`, plus after a finished update
///   `"last_update_result"` (`"success"` or `"error while updating"`) and
///   `"last_update_time"` (`hh:mm:ss DD.MM.YYYY`, UTC: the vendor's time zone is
///   UNCONFIRMED).
///
/// v3.1's `action_needed` / `action_apply_period` are omitted for both minors: a
/// reload never needs a restart or reboot, and the vendor omits them when none is needed
/// (UNCONFIRMED).
pub fn write_update_status(out: &mut Vec<u8>, minor: u8, s: &UpdateStatus) {
    // Both minors write the same fields; see the doc comment.
    let _ = minor;
    #[derive(Serialize)]
    struct Status {
        status: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        progress: Option<u8>,
        #[serde(skip_serializing_if = "Option::is_none")]
        last_update_result: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        last_update_time: Option<String>,
    }
    let status = if s.in_progress {
        Status {
            status: "in progress",
            progress: Some(0),
            last_update_result: None,
            last_update_time: None,
        }
    } else {
        let (result, time) = match s.last {
            Some((ok, secs)) => {
                let t = utc(secs);
                (
                    Some(if ok {
                        "success"
                    } else {
                        "error while updating"
                    }),
                    Some(format!(
                        "{:02}:{:02}:{:02} {:02}.{:02}.{:04}",
                        t.hour(),
                        t.minute(),
                        t.second(),
                        t.day(),
                        u8::from(t.month()),
                        t.year()
                    )),
                )
            }
            None => (None, None),
        };
        Status {
            status: "not started",
            progress: None,
            last_update_result: result,
            last_update_time: time,
        }
    };
    put_json(out, &status);
}

/// Writes the v3.1 ksninfo answer for a server without KSN:
/// `{"ksnStatus":"KSN turned off"}`.
pub fn write_ksninfo(out: &mut Vec<u8>) {
    put_one(out, "ksnStatus", "KSN turned off");
}
