//! Which endpoint a request line names (`kav-protocol.md` §1.2 and §2).
//!
//! v3 paths carry their version (`/api/v3.0/...`, `/api/v3.1/...`); the plain v1/v2
//! paths (`/scanfile`, ...) take theirs from the `X-KAV-ProtocolVersion` header, which
//! the caller reads with [`super::request::parse_protocol_version`].
//!
//! Matching is exact: no trailing slash, no case folding, no percent-decoding (the
//! vendor documents none of these). The query string is ignored.

/// The protocol family a path belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// `/api/v3.<minor>/...`; `minor` is 0 or 1.
    V3 {
        /// 0 for `v3.0`, 1 for `v3.1`.
        minor: u8,
    },
    /// The plain-text v1/v2 paths; the version comes from `X-KAV-ProtocolVersion`.
    Plain,
}

/// One KAV HTTP endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `scanfile` (POST): scan a path on the server host.
    ScanFile,
    /// `scanmemory` (POST): scan the body (v3: a Base64 `object`; v1/v2: raw bytes).
    ScanMemory,
    /// `checkurl` (POST): URL reputation.
    CheckUrl,
    /// `basesdate` (GET): the signature database's date.
    BasesDate,
    /// `version` (GET): the product version.
    Version,
    /// `licenseinfo` (GET): the license.
    LicenseInfo,
    /// `getstatistics` (GET): the counters.
    GetStatistics,
    /// `clearstatistics` (POST): reset the counters.
    ClearStatistics,
    /// `update/start` (POST, v3 only): start a database update.
    UpdateStart,
    /// `update/status` (GET, v3 only): the update's progress.
    UpdateStatus,
    /// `ksninfo` (GET, v3 only): the cloud (KSN) status.
    KsnInfo,
}

/// A routed request: the protocol family and the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// The protocol family.
    pub api: Api,
    /// The endpoint.
    pub endpoint: Endpoint,
}

/// Why a request line does not route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No endpoint has this path (answer 404).
    NotFound,
    /// The path is known but the method is not allowed there (answer 405 with this
    /// `Allow` value).
    MethodNotAllowed {
        /// The `Allow` header value, as [`Endpoint::allow`] gives it.
        allow: &'static str,
    },
}

/// Every endpoint with its path name (the part after `/api/v3.x/` or `/`).
const ENDPOINTS: [(&str, Endpoint); 11] = [
    ("scanfile", Endpoint::ScanFile),
    ("scanmemory", Endpoint::ScanMemory),
    ("checkurl", Endpoint::CheckUrl),
    ("basesdate", Endpoint::BasesDate),
    ("version", Endpoint::Version),
    ("licenseinfo", Endpoint::LicenseInfo),
    ("getstatistics", Endpoint::GetStatistics),
    ("clearstatistics", Endpoint::ClearStatistics),
    ("update/start", Endpoint::UpdateStart),
    ("update/status", Endpoint::UpdateStatus),
    ("ksninfo", Endpoint::KsnInfo),
];

impl Endpoint {
    /// Whether the endpoint is written to with POST (otherwise it is read with GET).
    pub fn is_post(self) -> bool {
        matches!(
            self,
            Endpoint::ScanFile
                | Endpoint::ScanMemory
                | Endpoint::CheckUrl
                | Endpoint::ClearStatistics
                | Endpoint::UpdateStart
        )
    }

    /// The `Allow` header value for OPTIONS and 405 answers: `"OPTIONS, POST"` or
    /// `"OPTIONS, GET"`, the vendor's form (`kav-protocol.md` §1.1). HEAD is served on
    /// GET endpoints but, as there, not listed.
    pub fn allow(self) -> &'static str {
        if self.is_post() {
            "OPTIONS, POST"
        } else {
            "OPTIONS, GET"
        }
    }

    /// The endpoint's path name (`"scanmemory"`, `"update/start"`, ...), for logs.
    pub fn name(self) -> &'static str {
        ENDPOINTS
            .iter()
            .find(|(_, e)| *e == self)
            .map_or("", |(name, _)| name)
    }

    /// Whether the plain v1/v2 paths have this endpoint (update and KSN are v3 only).
    pub fn in_plain(self) -> bool {
        !matches!(
            self,
            Endpoint::UpdateStart | Endpoint::UpdateStatus | Endpoint::KsnInfo
        )
    }
}

/// Routes a request line's method and target.
///
/// `OPTIONS` on a known path routes (the caller answers it with [`Endpoint::allow`]);
/// `HEAD` is accepted wherever `GET` is. Any other method that does not match the
/// endpoint's gives [`RouteError::MethodNotAllowed`]; methods are case-sensitive, as
/// HTTP's are.
pub fn route(method: &str, path: &str) -> Result<Route, RouteError> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let (api, name) = if let Some(rest) = path.strip_prefix("/api/v3.") {
        let (minor, name) = if let Some(name) = rest.strip_prefix("0/") {
            (0, name)
        } else if let Some(name) = rest.strip_prefix("1/") {
            (1, name)
        } else {
            return Err(RouteError::NotFound);
        };
        (Api::V3 { minor }, name)
    } else if let Some(name) = path.strip_prefix('/') {
        (Api::Plain, name)
    } else {
        return Err(RouteError::NotFound);
    };
    let endpoint = ENDPOINTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, e)| *e)
        .filter(|e| api != Api::Plain || e.in_plain())
        .ok_or(RouteError::NotFound)?;
    let allowed = match method {
        "OPTIONS" => true,
        "POST" => endpoint.is_post(),
        "GET" | "HEAD" => !endpoint.is_post(),
        _ => false,
    };
    if allowed {
        Ok(Route { api, endpoint })
    } else {
        Err(RouteError::MethodNotAllowed {
            allow: endpoint.allow(),
        })
    }
}
