use crate::proto::kav::route::{route, Api, Endpoint, Route, RouteError};

/// Every endpoint: path name, whether it is POST, whether plain paths have it.
const TABLE: [(&str, Endpoint, bool, bool); 11] = [
    ("scanfile", Endpoint::ScanFile, true, true),
    ("scanmemory", Endpoint::ScanMemory, true, true),
    ("checkurl", Endpoint::CheckUrl, true, true),
    ("basesdate", Endpoint::BasesDate, false, true),
    ("version", Endpoint::Version, false, true),
    ("licenseinfo", Endpoint::LicenseInfo, false, true),
    ("getstatistics", Endpoint::GetStatistics, false, true),
    ("clearstatistics", Endpoint::ClearStatistics, true, true),
    ("update/start", Endpoint::UpdateStart, true, false),
    ("update/status", Endpoint::UpdateStatus, false, false),
    ("ksninfo", Endpoint::KsnInfo, false, false),
];

fn check_path(path: &str, api: Api, endpoint: Endpoint, post: bool) {
    let ok = Ok(Route { api, endpoint });
    let allow = if post {
        "OPTIONS, POST"
    } else {
        "OPTIONS, GET"
    };
    let not_allowed = Err(RouteError::MethodNotAllowed { allow });
    let (right, wrong) = if post {
        ("POST", "GET")
    } else {
        ("GET", "POST")
    };
    assert_eq!(route(right, path), ok, "{right} {path}");
    assert_eq!(route("OPTIONS", path), ok, "OPTIONS {path}");
    assert_eq!(route(wrong, path), not_allowed, "{wrong} {path}");
    assert_eq!(route("PUT", path), not_allowed, "PUT {path}");
    assert_eq!(route("DELETE", path), not_allowed, "DELETE {path}");
    // Methods are case-sensitive.
    assert_eq!(
        route(&right.to_lowercase(), path),
        not_allowed,
        "lowercase {path}"
    );
    let head = if post { not_allowed } else { ok };
    assert_eq!(route("HEAD", path), head, "HEAD {path}");
    // The query string is ignored.
    assert_eq!(route(right, &format!("{path}?a=1&b")), ok, "{path}?query");
    assert_eq!(endpoint.allow(), allow);
}

#[test]
fn every_v3_endpoint_under_both_minors() {
    for minor in [0u8, 1] {
        for (name, endpoint, post, _) in TABLE {
            let path = format!("/api/v3.{minor}/{name}");
            check_path(&path, Api::V3 { minor }, endpoint, post);
        }
    }
}

#[test]
fn plain_endpoints() {
    for (name, endpoint, post, plain) in TABLE {
        let path = format!("/{name}");
        if plain {
            check_path(&path, Api::Plain, endpoint, post);
        } else {
            assert_eq!(route("GET", &path), Err(RouteError::NotFound), "{path}");
            assert_eq!(route("POST", &path), Err(RouteError::NotFound), "{path}");
            assert_eq!(route("OPTIONS", &path), Err(RouteError::NotFound), "{path}");
        }
    }
}

#[test]
fn unknown_paths_are_not_found() {
    for path in [
        "",
        "/",
        "scanfile",
        "/scanfile/",
        "/api/v3.0/scanfile/",
        "/api/v3.0/",
        "/api/v3.0",
        "/api/v3.2/scanfile",
        "/api/v3/scanfile",
        "/api/v2.0/scanfile",
        "/api/v3.0//scanfile",
        "/API/v3.0/scanfile",
        "/api/v3.0/ScanFile",
        "/api/v3.0/update",
        "/api/v3.0/update/",
        "/api/v3.0/unknown",
        "/update",
        "/api/v3.10/scanfile",
        "/api/v3.0/scanfile%20",
        "http://host/api/v3.0/scanfile",
    ] {
        for method in ["GET", "POST", "OPTIONS"] {
            assert_eq!(
                route(method, path),
                Err(RouteError::NotFound),
                "{method} {path:?}"
            );
        }
    }
}

#[test]
fn names_are_the_path_names() {
    for (name, endpoint, post, _) in TABLE {
        assert_eq!(endpoint.name(), name);
        assert_eq!(endpoint.is_post(), post);
    }
}
