use super::*;

/// A list from `(category, pattern)` lines.
fn list(text: &str) -> UrlList {
    let mut l = UrlList::default();
    l.parse("test.urls", text).expect("test list parses");
    l
}

/// `(host, path, query)` of a canonical form.
type Parts = Option<(String, String, Option<String>)>;

/// `(host, path, query)` of the canonical form, or `None` when there is none.
fn canon(url: &str) -> Parts {
    canonicalize(url).ok().map(|c| (c.host, c.path, c.query))
}

fn parts(host: &str, path: &str, query: Option<&str>) -> Parts {
    Some((host.into(), path.into(), query.map(Into::into)))
}

#[test]
fn canonical_forms() {
    let table: &[(&str, Parts)] = &[
        // Case: host lowercased, path kept.
        (
            "HTTP://EVIL.Example/A/b",
            parts("evil.example", "/A/b", None),
        ),
        // No scheme: http assumed; host alone gets path "/".
        ("evil.example", parts("evil.example", "/", None)),
        ("evil.example:8080/x", parts("evil.example", "/x", None)),
        ("//evil.example/x", parts("evil.example", "/x", None)),
        // Trailing dots of the host.
        ("http://evil.example./x", parts("evil.example", "/x", None)),
        ("evil.example../", parts("evil.example", "/", None)),
        // Percent-encoding: unreserved decoded, the rest uppercased.
        ("x.example/%7euser", parts("x.example", "/~user", None)),
        (
            "x.example/%41%2d%5F%2e1",
            parts("x.example", "/A-_.1", None),
        ),
        ("x.example/a%2fb", parts("x.example", "/a%2Fb", None)),
        ("x.example/a b", parts("x.example", "/a%20b", None)),
        ("x.example/%zz%4", parts("x.example", "/%zz%4", None)),
        ("x.example/é", parts("x.example", "/%C3%A9", None)),
        (
            "x.example/a?q=%7e%3d",
            parts("x.example", "/a", Some("q=~%3D")),
        ),
        // Host escapes are decoded by the parser.
        ("http://%65vil.example/", parts("evil.example", "/", None)),
        // Dot segments, also escaped ones.
        ("x.example/a/./b/../c", parts("x.example", "/a/c", None)),
        ("x.example/a/%2e%2E/c", parts("x.example", "/c", None)),
        ("x.example/../../a", parts("x.example", "/a", None)),
        // Repeated slashes.
        ("x.example//a///b/", parts("x.example", "/a/b/", None)),
        // Fragment and userinfo dropped, empty query is none.
        (
            "http://u:p@x.example/a?#frag",
            parts("x.example", "/a", None),
        ),
        ("x.example/a#f?g", parts("x.example", "/a", None)),
        // IDN to punycode.
        (
            "http://bücher.example/",
            parts("xn--bcher-kva.example", "/", None),
        ),
        ("BÜCHER.example", parts("xn--bcher-kva.example", "/", None)),
        // IP literals.
        ("http://192.0.2.7/", parts("192.0.2.7", "/", None)),
        ("http://0xc0.0.2.7/", parts("192.0.2.7", "/", None)),
        ("http://3221225991/", parts("192.0.2.7", "/", None)),
        (
            "http://[2001:DB8:0:0::1]:81/",
            parts("[2001:db8::1]", "/", None),
        ),
        ("[::1]/a", parts("[::1]", "/a", None)),
        // Other schemes, and garbage.
        ("javascript:alert(1)", None),
        ("file:///etc/passwd", None),
        ("gopher://x.example/", None),
        ("", None),
        ("   ", None),
        ("http://", None),
        ("http://[::1", None),
        ("http://a b/", None),
        ("http://./", None),
    ];
    for (input, want) in table {
        assert_eq!(&canon(input), want, "canonical form of {input:?}");
    }
}

#[test]
fn ports() {
    let c = canonicalize("https://x.example/").unwrap();
    assert_eq!((c.effective_port, c.explicit_port), (Some(443), false));
    let c = canonicalize("http://x.example:80/").unwrap();
    assert_eq!((c.effective_port, c.explicit_port), (Some(80), false));
    let c = canonicalize("x.example:8080").unwrap();
    assert_eq!((c.effective_port, c.explicit_port), (Some(8080), true));
    assert!(canonicalize("x.example:99999").is_err());
}

#[test]
fn detection_names_and_priority() {
    use UrlCategory::*;
    let names: Vec<_> = [Malicious, Phishing, Adware, Riskware]
        .iter()
        .map(|c| c.detection_name())
        .collect();
    assert_eq!(
        names,
        [
            "MALICIOUS_URL",
            "PHISHING_URL",
            "ADWARE_URL",
            "RISKWARE_URL"
        ]
    );
    assert!(Malicious < Phishing && Phishing < Adware && Adware < Riskware);
    assert_eq!(UrlCategory::from_word("PhIsHiNg"), Some(Phishing));
    assert_eq!(UrlCategory::from_word("spam"), None);
}

#[test]
fn host_suffix_at_label_boundary() {
    let l = list("malicious evil.example\n");
    for hit in [
        "evil.example",
        "http://evil.example/",
        "https://EVIL.EXAMPLE./any/path?q#f",
        "a.evil.example",
        "x.y.z.evil.example:8443/p",
        "ftp://user@evil.example/",
        "ws://evil.example/socket",
    ] {
        assert_eq!(l.check(hit), Some(UrlCategory::Malicious), "{hit}");
    }
    for miss in [
        "notevil.example",
        "evil.example.com",
        "example",
        "evil-example",
        "http://good.example/evil.example",
        "http://good.example/?u=evil.example",
    ] {
        assert_eq!(l.check(miss), None, "{miss}");
    }
}

#[test]
fn ip_hosts_match_exactly() {
    let l = list("phishing 192.0.2.7\nphishing [2001:db8::1]/login\n");
    assert_eq!(l.check("http://192.0.2.7/x"), Some(UrlCategory::Phishing));
    assert_eq!(l.check("http://0300.0.2.7/"), Some(UrlCategory::Phishing));
    assert_eq!(l.check("http://1.192.0.2.7/"), None);
    assert_eq!(l.check("http://192.0.2.70/"), None);
    assert_eq!(
        l.check("https://[2001:db8:0::1]:8443/login/form"),
        Some(UrlCategory::Phishing)
    );
    assert_eq!(l.check("http://[2001:db8::1]/logout"), None);
    assert_eq!(l.check("http://[2001:db8::2]/login"), None);
}

#[test]
fn path_prefix_at_segment_boundary() {
    let l = list("adware x.example/a/b\n");
    for hit in [
        "x.example/a/b",
        "x.example/a/b/",
        "x.example/a/b/c",
        "x.example/a/b?q=1",
        "x.example/a//b",
        "x.example/a/c/../b/d",
        "x.example/%61/b",
        "sub.x.example/a/b",
    ] {
        assert_eq!(l.check(hit), Some(UrlCategory::Adware), "{hit}");
    }
    for miss in [
        "x.example/a/bc",
        "x.example/a",
        "x.example/",
        "x.example/A/b",
        "x.example/b/a/b",
    ] {
        assert_eq!(l.check(miss), None, "{miss}");
    }
}

#[test]
fn pattern_path_ending_in_slash() {
    let l = list("adware x.example/dl/\n");
    assert_eq!(l.check("x.example/dl/"), Some(UrlCategory::Adware));
    assert_eq!(l.check("x.example/dl/setup.exe"), Some(UrlCategory::Adware));
    assert_eq!(l.check("x.example/dl"), None);
    assert_eq!(l.check("x.example/dlx/"), None);
}

#[test]
fn percent_encoding_matches_both_ways() {
    let l = list("phishing x.example/%7euser\nphishing y.example/~user/a%2fb\n");
    assert_eq!(l.check("x.example/~user/page"), Some(UrlCategory::Phishing));
    assert_eq!(l.check("x.example/%7Euser"), Some(UrlCategory::Phishing));
    assert_eq!(
        l.check("y.example/%7euser/a%2Fb"),
        Some(UrlCategory::Phishing)
    );
    // An escaped slash is not a segment boundary.
    assert_eq!(l.check("y.example/~user/a/b"), None);
}

#[test]
fn query_must_match_exactly() {
    let l = list("phishing x.example/login?id=7\n");
    assert_eq!(l.check("x.example/login?id=7"), Some(UrlCategory::Phishing));
    assert_eq!(
        l.check("x.example/login?id=%37#top"),
        Some(UrlCategory::Phishing)
    );
    assert_eq!(l.check("x.example/login?id=77"), None);
    assert_eq!(l.check("x.example/login?id=7&x=1"), None);
    assert_eq!(l.check("x.example/login"), None);
    assert_eq!(l.check("x.example/login/more?id=7"), None);
}

#[test]
fn ports_and_schemes() {
    let l = list(
        "malicious http://x.example:8080/\n\
         phishing https://y.example:443/\n\
         adware http://z.example:443/\n",
    );
    assert_eq!(l.check("x.example:8080/a"), Some(UrlCategory::Malicious));
    assert_eq!(
        l.check("https://x.example:8080/"),
        Some(UrlCategory::Malicious)
    );
    assert_eq!(l.check("x.example/a"), None);
    assert_eq!(l.check("x.example:8081/a"), None);
    // A default port in the pattern constrains nothing; the scheme is ignored.
    assert_eq!(
        l.check("http://y.example:8000/"),
        Some(UrlCategory::Phishing)
    );
    assert_eq!(l.check("ftp://y.example/"), Some(UrlCategory::Phishing));
    // Port 443 written for http: https on its default port is on it.
    assert_eq!(l.check("https://z.example/"), Some(UrlCategory::Adware));
    assert_eq!(l.check("http://z.example/"), None);
}

#[test]
fn highest_priority_wins() {
    let l = list(
        "riskware example.org\n\
         adware ads.example.org\n\
         phishing ads.example.org/login\n\
         malicious ads.example.org/login/payload\n\
         riskware ads.example.org/login/payload\n",
    );
    assert_eq!(l.check("www.example.org"), Some(UrlCategory::Riskware));
    assert_eq!(l.check("ads.example.org/banner"), Some(UrlCategory::Adware));
    assert_eq!(
        l.check("ads.example.org/login"),
        Some(UrlCategory::Phishing)
    );
    assert_eq!(
        l.check("a.ads.example.org/login/payload/x"),
        Some(UrlCategory::Malicious)
    );
    assert_eq!(l.len(), 5);
}

#[test]
fn file_syntax() {
    let mut l = UrlList::default();
    let text = "\u{feff}# a comment\n\n   \n  # indented comment\r\n\
                MALICIOUS\tevil.example  \r\n  Phishing   phish.example\n";
    assert_eq!(l.parse("a.urls", text), Ok(2));
    assert_eq!(l.parse("b.urls", "adware ads.example\n"), Ok(1));
    assert_eq!(l.len(), 3);
    assert!(!l.is_empty());
    assert_eq!(l.check("evil.example"), Some(UrlCategory::Malicious));
    assert_eq!(l.check("phish.example"), Some(UrlCategory::Phishing));
    assert_eq!(l.check("ads.example"), Some(UrlCategory::Adware));
    assert!(UrlList::default().is_empty());
    assert_eq!(UrlList::default().check("evil.example"), None);
}

#[test]
fn parse_errors_name_file_and_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("# c\nmalicious\n", 2, "expected '<category> <pattern>'"),
        (
            "malicious a.example extra\n",
            1,
            "expected '<category> <pattern>'",
        ),
        ("\n\nspam a.example\n", 3, "unknown category 'spam'"),
        (
            "malicious ok.example\nphishing http://[::1\n",
            2,
            "pattern 'http://[::1'",
        ),
        (
            "adware gopher://a.example/\n",
            1,
            "unsupported scheme 'gopher'",
        ),
        ("adware file:///etc\n", 1, "unsupported scheme 'file'"),
        ("riskware a.example:99999\n", 1, "pattern 'a.example:99999'"),
        ("riskware http://./\n", 1, "empty host"),
    ];
    for (text, line, reason) in cases {
        let mut l = UrlList::default();
        let err = l.parse("bad.urls", text).expect_err(text);
        assert_eq!(
            (err.file.as_str(), err.line),
            ("bad.urls", *line),
            "{text:?}"
        );
        assert!(err.reason.contains(reason), "{text:?}: {}", err.reason);
        assert!(err.to_string().starts_with(&format!("bad.urls:{line}: ")));
        // All or nothing: the good lines before the bad one were not added.
        assert!(l.is_empty(), "{text:?}");
        assert_eq!(l.check("ok.example"), None);
    }
}

#[test]
fn parse_bytes_reports_bad_utf8_line() {
    let mut l = UrlList::default();
    let err = l
        .parse_bytes(
            "bin.urls",
            b"malicious a.example\nmalicious b\xff.example\n",
        )
        .unwrap_err();
    assert_eq!(err.line, 2);
    assert!(err.reason.contains("UTF-8"));
    assert_eq!(l.parse_bytes("ok.urls", b"malicious a.example\n"), Ok(1));
}

#[test]
fn long_error_text_is_truncated() {
    let long = "x".repeat(1000);
    let err = UrlList::default()
        .parse("t.urls", &format!("{long} a.example"))
        .unwrap_err();
    assert!(err.reason.len() < 200, "{}", err.reason);
}

#[test]
fn garbage_never_matches_or_panics() {
    let l = list("malicious evil.example\nmalicious 192.0.2.7\n");
    let huge_host = format!("http://{}evil.example/", "a.".repeat(50_000));
    assert_eq!(l.check(&huge_host), Some(UrlCategory::Malicious));
    for junk in [
        "",
        "%",
        "http://%zz/",
        "http://[",
        "http://evil.example:port/",
        "::::",
        "\u{0}\u{1}",
        "mailto:x@evil.example.invalid",
        "data:text/html,evil.example",
        "http://evil%00.example/",
        "🙂",
        "http://xn--/",
        &"/".repeat(10_000),
    ] {
        assert_eq!(l.check(junk), None, "{junk:?}");
    }
}

#[test]
fn host_keys_are_bounded_by_the_longest_key() {
    let keys: Vec<_> = host_keys("a.b.c.example", true, 2).collect();
    assert_eq!(keys, ["example", "c.example"]);
    let keys: Vec<_> = host_keys("a.example", true, 5).collect();
    assert_eq!(keys, ["example", "a.example"]);
    let keys: Vec<_> = host_keys("192.0.2.7", false, 5).collect();
    assert_eq!(keys, ["192.0.2.7"]);
    assert_eq!(host_keys("a.example", true, 0).count(), 0);
}

#[test]
fn builtin_list() {
    let mut l = UrlList::default();
    assert_eq!(l.parse("builtin.urls", BUILTIN), Ok(5));
    let l = builtin();
    assert_eq!(l.len(), 5);
    use UrlCategory::*;
    for (url, want) in [
        (
            "http://malware.testing.google.test/testing/malware/",
            Some(Malicious),
        ),
        (
            "https://testsafebrowsing.appspot.com/s/malware.html",
            Some(Malicious),
        ),
        (
            "http://testsafebrowsing.appspot.com/s/phishing.html",
            Some(Phishing),
        ),
        ("testsafebrowsing.appspot.com/s/unwanted.html", Some(Adware)),
        ("http://riskware.testing.ringscan.test/x", Some(Riskware)),
        ("https://testsafebrowsing.appspot.com/", None),
        ("https://example.com/", None),
    ] {
        assert_eq!(l.check(url), want, "{url}");
    }
}
