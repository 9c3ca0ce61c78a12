//! The KAV endpoints on a core: what each answers, over the codec in `proto::kav`.
//!
//! [`screen`] decides what the head alone decides (route, token, local-only update
//! endpoints, the v1/v2 headers, CORS preflight), before any body byte is read, so a
//! refused upload is not received first. [`answer`] runs the endpoint on the body,
//! which lies in the connection's buffer and is scanned there.

use std::borrow::Cow;
use std::ops::Range;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use super::head::RequestHead;
use super::response::{Cors, Head, JSON, TEXT};
use super::Conn;
use crate::engine::DeepReport;
use crate::proto::kav::request::{self, Object, ScanParams};
use crate::proto::kav::response::{self as kavr, ObjectResult, Reason, ScanResult};
use crate::proto::kav::route::{self, Api, Endpoint, Route, RouteError};
use crate::proto::kav::{auth, objects};
use crate::server::core::Core;
use crate::server::files::{self, FileOutcome, Target};

/// A request that passed [`screen`].
pub struct Accepted {
    /// Where it goes.
    pub route: Route,
    /// The KAV protocol version of the answer: 3, or the v1/v2 header's.
    pub version: u8,
    /// `X-KAV-Timeout` (v1/v2).
    pub header_timeout: Option<Duration>,
}

/// An answer decided before the body: an error, or an OPTIONS answer.
pub struct Early {
    head: Head,
    /// The body.
    pub body: Vec<u8>,
}

impl Early {
    /// The head, closing the connection unless `keep`.
    pub fn head_with(&self, keep: bool) -> Head {
        let mut head = self.head.clone();
        head.close |= !keep;
        head
    }
}

/// One request as the endpoints see it.
struct Req<'h> {
    head: &'h RequestHead,
    api: Api,
    /// The KAV protocol version: 3, or the v1/v2 header's.
    version: u8,
    /// `X-KAV-Timeout` (v1/v2).
    header_timeout: Option<Duration>,
    /// The body: a range of the connection buffer.
    body: Range<usize>,
}

/// What an endpoint writes: the body, and for the access log the object's size and
/// the verdict.
#[derive(Default)]
struct Reply {
    out: Vec<u8>,
    logged: Option<(u64, String)>,
}

/// An endpoint's answer.
pub struct Answer {
    /// Its head.
    pub head: Head,
    /// Its body.
    pub body: Vec<u8>,
    /// What was scanned or checked, for the access log: object bytes and verdict.
    pub logged: Option<(u64, String)>,
}

fn error(status: u16, message: &str) -> (Head, Vec<u8>) {
    let mut body = Vec::new();
    kavr::write_error(&mut body, message);
    (Head::new(status, JSON), body)
}

/// The CORS headers for a request from `origin`, when CORS is configured.
fn cors_for(core: &Core, head: &RequestHead) -> Option<Cors> {
    let allowed = &core.shared.config.http.cors_allow_origin;
    if allowed.is_empty() || head.origin.is_none() {
        return None;
    }
    Some(Cors {
        origin: allowed.clone(),
        methods: None,
        headers: None,
    })
}

/// Checks what the head alone decides.
pub fn screen(core: &Rc<Core>, head: &RequestHead, local: bool) -> Result<Accepted, Box<Early>> {
    let config = &core.shared.config.http;
    let cors = cors_for(core, head);
    let early = |(mut h, body): (Head, Vec<u8>)| {
        h.cors = cors.clone();
        Box::new(Early { head: h, body })
    };
    let route = match route::route(&head.method, &head.path) {
        Ok(route) => route,
        Err(RouteError::NotFound) => {
            return Err(early(error(
                404,
                &format!("no such endpoint: {}", head.path),
            )))
        }
        Err(RouteError::MethodNotAllowed { allow }) => {
            let (mut h, body) = error(
                405,
                &format!("method {} is not allowed on {}", head.method, head.path),
            );
            h.allow = Some(allow);
            return Err(early((h, body)));
        }
    };
    let allow = route.endpoint.allow();
    if head.method == "OPTIONS" {
        // Preflights carry no token, so OPTIONS is answered before the token check.
        let mut h = Head::new(200, TEXT);
        match cors {
            Some(mut c) => {
                c.methods = Some(allow);
                c.headers = head.cors_request_headers.clone();
                h.cors = Some(c);
            }
            None => h.allow = Some(allow),
        }
        return Err(Box::new(Early {
            head: h,
            body: Vec::new(),
        }));
    }
    if config.auth.enabled {
        let token = head
            .token
            .as_deref()
            .and_then(|v| auth::extract_token(v, config.auth.bearer));
        let ok = token.is_some_and(|t| auth::verify(t, &core.shared.tokens));
        if !ok {
            let (mut h, body) = error(401, "Unauthorized");
            h.www_authenticate = Some(auth::www_authenticate(config.auth.bearer));
            return Err(early((h, body)));
        }
    }
    if matches!(
        route.endpoint,
        Endpoint::UpdateStart | Endpoint::UpdateStatus
    ) && !local
    {
        let (mut h, body) = error(405, "update is allowed from local clients only");
        h.allow = Some(allow);
        return Err(early((h, body)));
    }
    let (version, header_timeout) = match route.api {
        Api::V3 { .. } => (3, None),
        Api::Plain => {
            let version = request::parse_protocol_version(head.kav_version.as_deref())
                .map_err(|e| early(error(400, e.message())))?;
            let timeout = match head.kav_timeout.as_deref() {
                Some(v) => {
                    request::parse_timeout_header(v).map_err(|e| early(error(400, e.message())))?
                }
                None => None,
            };
            (version, timeout)
        }
    };
    Ok(Accepted {
        route,
        version,
        header_timeout,
    })
}

/// Runs the endpoint on the request's body (`body`, a range of the connection buffer).
pub async fn answer(
    conn: &mut Conn<'_>,
    head: &RequestHead,
    accepted: Accepted,
    body: Range<usize>,
) -> Answer {
    let core = conn.core.clone();
    let Accepted {
        route,
        version,
        header_timeout,
    } = accepted;
    let api = route.api;
    let content_type = match api {
        Api::V3 { .. } => JSON,
        Api::Plain => TEXT,
    };
    let req = Req {
        head,
        api,
        version,
        header_timeout,
        body,
    };
    let mut reply = Reply::default();
    let result: Result<u16, (u16, String)> = match route.endpoint {
        Endpoint::ScanMemory => scan_memory(&core, conn, &req, &mut reply).await,
        Endpoint::ScanFile => scan_path(&core, conn, &req, &mut reply).await,
        Endpoint::CheckUrl => check_url(&core, conn, &req, &mut reply),
        Endpoint::BasesDate => {
            kavr::write_bases_date(&mut reply.out, api, bases_date(&core));
            Ok(200)
        }
        Endpoint::Version => {
            kavr::write_version(&mut reply.out, api, &sdk_version());
            Ok(200)
        }
        Endpoint::LicenseInfo => {
            kavr::write_license(&mut reply.out, api);
            Ok(200)
        }
        Endpoint::GetStatistics => {
            let merged = crate::server::mesh::gather_stats(&core).await;
            kavr::write_statistics(&mut reply.out, api, &merged.total.stats.kav);
            Ok(200)
        }
        Endpoint::ClearStatistics => {
            crate::server::mesh::clear_kav_stats(&core).await;
            if matches!(api, Api::V3 { .. }) {
                kavr::write_cleared(&mut reply.out);
            }
            Ok(200)
        }
        Endpoint::UpdateStart => {
            let state = if core.shared.status().reloading {
                kavr::UpdateStart::AlreadyLaunched
            } else {
                crate::server::reload::request(&core);
                kavr::UpdateStart::Started
            };
            kavr::write_update_start(&mut reply.out, state);
            Ok(200)
        }
        Endpoint::UpdateStatus => {
            let status = core.shared.status();
            let last = status.last_reload.as_ref().map(|r| match r {
                crate::server::core::ReloadOutcome::Loaded { at, .. } => (true, unix(*at)),
                crate::server::core::ReloadOutcome::Failed { at, .. } => (false, unix(*at)),
            });
            let minor = match api {
                Api::V3 { minor } => minor,
                Api::Plain => 0,
            };
            kavr::write_update_status(
                &mut reply.out,
                minor,
                &kavr::UpdateStatus {
                    in_progress: status.reloading,
                    last,
                },
            );
            Ok(200)
        }
        Endpoint::KsnInfo => {
            kavr::write_ksninfo(&mut reply.out);
            Ok(200)
        }
    };
    let (status, content_type) = match result {
        Ok(status) => (status, content_type),
        Err((status, message)) => {
            reply.out.clear();
            kavr::write_error(&mut reply.out, &message);
            (status, JSON)
        }
    };
    let mut h = Head::new(status, content_type);
    h.kav_version = Some(version);
    h.cors = cors_for(&core, head);
    Answer {
        head: h,
        body: reply.out,
        logged: reply.logged,
    }
}

/// A result as the access log shows it (the v1 text form; `None`: timed out).
fn verdict_text(result: Option<&ScanResult<'_>>) -> String {
    let Some(result) = result else {
        return "SERVER_ERROR (timeout)".to_owned();
    };
    let mut text = Vec::new();
    let top = ObjectResult {
        object: Cow::Borrowed(""),
        result: *result,
        contains_office_macro: false,
    };
    kavr::write_scan_plain(&mut text, &top, &[]);
    String::from_utf8_lossy(&text).into_owned()
}

/// `Major.Minor.Build.Revision`, as KSE writes its SDK version.
fn sdk_version() -> String {
    format!("{}.0", env!("CARGO_PKG_VERSION"))
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The database's date: a .cvd/.cld's build time; else the newest database file's
/// modification time; else the load time.
fn bases_date(core: &Core) -> i64 {
    let db = core.db();
    if db.version.version > 0 {
        return db.version.time_unix;
    }
    db.files
        .iter()
        .filter_map(|(_, _, modified)| modified.map(unix))
        .max()
        .unwrap_or(db.version.time_unix)
}

/// The timeout that applies: the body's (v3), else the header's (v1/v2).
fn effective_timeout(params: Option<&ScanParams>, header: Option<Duration>) -> Option<Duration> {
    params.and_then(|p| p.timeout).or(header)
}

/// When a scan started now must end: the request's timeout, else
/// `limits.max_scan_time`.
fn scan_deadline(core: &Core, timeout: Option<Duration>) -> Option<Instant> {
    let limit = timeout.unwrap_or(core.shared.config.limits.max_scan_time);
    (!limit.is_zero()).then(|| Instant::now() + limit)
}

/// The object of a scan request, v3 JSON or v1/v2 plain: the options (v3 only) and
/// the path (scanfile) or the bytes' range in the connection buffer (scanmemory).
fn read_object(
    conn: &mut Conn<'_>,
    req: &Req<'_>,
    memory: bool,
) -> Result<(Option<ScanParams>, Object), (u16, String)> {
    let bad = |e: request::RequestError| (400, e.message().to_owned());
    let body = req.body.clone();
    match req.api {
        Api::V3 { .. } => {
            let (params, object) =
                request::parse_scan_v3(&mut conn.buf[body.clone()], memory).map_err(bad)?;
            let object = match object {
                Object::Memory(r) => Object::Memory(body.start + r.start..body.start + r.end),
                path => path,
            };
            Ok((Some(params), object))
        }
        Api::Plain => {
            let object = plain_object(conn, req, body)?;
            if memory {
                Ok((None, Object::Memory(object)))
            } else {
                let path = request::plain_path(&conn.buf[object]).map_err(bad)?;
                Ok((None, Object::Path(path)))
            }
        }
    }
}

/// One scanned object's answer, for scanmemory and scanfile alike.
struct ScanAnswer<'a> {
    /// `object` of the answer: `"memory"`, or the path.
    object: &'a str,
    /// `object` of a timeout answer: `"Memory"` (as KSE writes it), or the path.
    timeout_object: &'a str,
    /// Bytes scanned.
    bytes: u64,
    /// The v3 options, if any.
    params: Option<&'a ScanParams>,
    /// Echo `name` (scanmemory).
    echo_name: bool,
}

impl ScanAnswer<'_> {
    /// Counts the scan in the KAV statistics, notes it for the access log and writes
    /// the v3 or v1/v2 body; `results` is the top object and the sub-objects, `None`
    /// when the scan ran over its timeout. Returns the status.
    fn write(
        &self,
        core: &Core,
        api: Api,
        reply: &mut Reply,
        results: Option<(&ObjectResult<'_>, &[ObjectResult<'_>])>,
    ) -> u16 {
        let result = results.map(|(top, _)| top.result);
        core.stats.borrow_mut().kav.record_scan(
            self.bytes,
            result.as_ref().unwrap_or(&ScanResult::ServerError),
        );
        reply.logged = Some((self.bytes, verdict_text(result.as_ref())));
        let out = &mut reply.out;
        let Some((top, subs)) = results else {
            match api {
                Api::V3 { .. } => kavr::write_scan_timeout(out, self.timeout_object),
                Api::Plain => out.extend_from_slice(b"SERVER_ERROR"),
            }
            return 408;
        };
        match api {
            Api::V3 { minor } => {
                let p = self.params;
                let name = p.and_then(|p| p.name.as_deref()).filter(|_| self.echo_name);
                let omit_clean = p.is_none_or(|p| p.omit_clean);
                kavr::write_scan_v3(out, minor, top, name, subs, omit_clean);
            }
            Api::Plain => kavr::write_scan_plain(out, top, subs),
        }
        200
    }

    /// Writes the answer for a finished deep scan.
    fn write_report(
        &self,
        core: &Core,
        api: Api,
        reply: &mut Reply,
        report: &DeepReport<'_>,
    ) -> u16 {
        // Out of time with nothing found: the vendor's timeout answer. A detection
        // made before the deadline is answered (the verdict cannot get better).
        if report.timed_out && report.detections().next().is_none() {
            return self.write(core, api, reply, None);
        }
        let (top, subs) = objects::results_of(report, self.object);
        self.write(core, api, reply, Some((&top, &subs)))
    }
}

async fn scan_memory(
    core: &Rc<Core>,
    conn: &mut Conn<'_>,
    req: &Req<'_>,
    reply: &mut Reply,
) -> Result<u16, (u16, String)> {
    let (params, object) = read_object(conn, req, true)?;
    let Object::Memory(object) = object else {
        return Err((400, "object must be base64 text".into()));
    };
    let timeout = effective_timeout(params.as_ref(), req.header_timeout);
    core.yield_if_busy().await;
    let data = &conn.buf[object];
    let answer = ScanAnswer {
        object: "memory",
        timeout_object: "Memory",
        bytes: data.len() as u64,
        params: params.as_ref(),
        echo_name: true,
    };
    let deadline = scan_deadline(core, timeout);
    Ok(core
        .scan_deep(data, false, true, deadline, |report| {
            answer.write_report(core, req.api, reply, report)
        })
        .await)
}

/// The object of a v1/v2 scanmemory or scanfile body: the raw body, or the object part
/// of a v2 multipart body (v1 has no multipart form: its body is the object, whatever
/// its Content-Type says).
fn plain_object(
    conn: &Conn<'_>,
    req: &Req<'_>,
    body: Range<usize>,
) -> Result<Range<usize>, (u16, String)> {
    let boundary = req
        .head
        .content_type
        .as_deref()
        .filter(|_| req.version == 2)
        .and_then(request::multipart_boundary);
    match boundary {
        Some(boundary) => {
            let parts = request::split_multipart(&conn.buf[body.clone()], boundary)
                .map_err(|e| (400, e.message().to_owned()))?;
            Ok(body.start + parts.object.start..body.start + parts.object.end)
        }
        None => Ok(body),
    }
}

async fn scan_path(
    core: &Rc<Core>,
    conn: &mut Conn<'_>,
    req: &Req<'_>,
    reply: &mut Reply,
) -> Result<u16, (u16, String)> {
    let (params, object) = read_object(conn, req, false)?;
    let Object::Path(path) = object else {
        return Err((400, "object must be a path".into()));
    };
    if !path.starts_with('/') {
        return Err((400, format!("not a full path: {path}")));
    }
    let roots = &core.shared.scanning_paths;
    let real = match files::check(roots, std::path::Path::new(&path)) {
        Target::Allowed(real) => real,
        Target::Denied => {
            return Err((
                403,
                format!("access denied: {path} is not below http.scanning_paths"),
            ))
        }
        Target::Missing(e) => return Err((400, format!("cannot open {path}: {e}"))),
    };
    let timeout = effective_timeout(params.as_ref(), req.header_timeout);
    // Only a regular file's bytes are read; a directory or FIFO is skipped unread.
    let size = std::fs::metadata(&real)
        .ok()
        .filter(|m| m.is_file())
        .map_or(0, |m| m.len());
    let answer = ScanAnswer {
        object: &path,
        timeout_object: &path,
        bytes: size,
        params: params.as_ref(),
        echo_name: false,
    };
    let deadline = scan_deadline(core, timeout);
    let status = files::scan_file_below(core, roots, &real, false, true, deadline, |scanned| {
        let mut not_scanned = |result| {
            let top = ObjectResult::new(path.as_str(), result);
            answer.write(core, req.api, reply, Some((&top, &[])))
        };
        match scanned {
            Ok(report) => answer.write_report(core, req.api, reply, report),
            Err(FileOutcome::Clean | FileOutcome::Empty) => not_scanned(ScanResult::Clean),
            Err(FileOutcome::TooLarge) => {
                not_scanned(ScanResult::NonScanned(Some(Reason::Skipped)))
            }
            Err(FileOutcome::Found(_)) => not_scanned(ScanResult::ServerError),
            Err(FileOutcome::AccessDenied) => {
                not_scanned(ScanResult::NonScanned(Some(Reason::AccessDenied)))
            }
            Err(FileOutcome::Error(e)) if e == "Not a regular file" => {
                not_scanned(ScanResult::NonScanned(Some(Reason::Skipped)))
            }
            Err(FileOutcome::Error(_)) => not_scanned(ScanResult::ServerError),
        }
    })
    .await;
    Ok(status)
}

fn check_url(
    core: &Rc<Core>,
    conn: &mut Conn<'_>,
    req: &Req<'_>,
    reply: &mut Reply,
) -> Result<u16, (u16, String)> {
    let (api, body) = (req.api, req.body.clone());
    let Reply { out, logged } = reply;
    let url = match api {
        Api::V3 { .. } => {
            request::parse_checkurl_v3(&conn.buf[body])
                .map_err(|e| (400, e.message().to_owned()))?
                .1
        }
        Api::Plain => String::from_utf8_lossy(&conn.buf[body]).trim().to_owned(),
    };
    if url.is_empty() {
        return Err((400, "no URL given".into()));
    }
    let db = core.db();
    let category = db.urls.check(&url);
    core.stats.borrow_mut().kav.record_url(category.is_some());
    let detection = category.map(|c| c.detection_name());
    *logged = Some((
        url.len() as u64,
        detection.map_or_else(|| "CLEAN".to_owned(), |d| format!("DETECT {d}")),
    ));
    match api {
        Api::V3 { .. } => kavr::write_checkurl_v3(out, &url, detection),
        Api::Plain => kavr::write_checkurl_plain(out, detection),
    }
    Ok(200)
}
