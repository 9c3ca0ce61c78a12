use crate::proto::kav::auth::*;

const EMPTY_SHA256: &str =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn hash_text_round_trip() {
    let h = hash_token("");
    assert_eq!(h.to_string(), EMPTY_SHA256);
    assert_eq!(EMPTY_SHA256.parse::<TokenHash>(), Ok(h));
    assert_eq!(
        EMPTY_SHA256
            .to_uppercase()
            .replace("SHA256", "sha256")
            .parse::<TokenHash>(),
        Ok(h)
    );
    let t = hash_token("secret");
    assert_eq!(t.to_string().parse::<TokenHash>(), Ok(t));
    assert_ne!(t, h);
    for bad in [
        "",
        "sha256:",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
        "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "sha256: 3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "sha256:é3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8",
    ] {
        assert!(bad.parse::<TokenHash>().is_err(), "{bad}");
    }
}

#[test]
fn verify_against_every_entry() {
    let allowed = [hash_token("alpha"), hash_token("bravo")];
    assert!(verify(b"alpha", &allowed));
    assert!(verify(b"bravo", &allowed));
    assert!(!verify(b"charlie", &allowed));
    assert!(!verify(b"alph", &allowed));
    assert!(!verify(b"", &allowed));
    assert!(!verify(b"alpha", &[]));
}

#[test]
fn new_tokens() {
    let a = new_token().unwrap();
    let b = new_token().unwrap();
    assert_ne!(a, b);
    assert_eq!(a.len(), 43);
    assert!(a
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    assert_eq!(
        base64_simd::URL_SAFE_NO_PAD
            .decode_to_vec(&a)
            .unwrap()
            .len(),
        32
    );
    assert!(verify(a.as_bytes(), &[hash_token(&a)]));
}

#[test]
fn extract() {
    assert_eq!(extract_token(b"Bearer abc", true), Some(&b"abc"[..]));
    assert_eq!(extract_token(b"bearer abc", true), Some(&b"abc"[..]));
    assert_eq!(extract_token(b"BEARER   abc ", true), Some(&b"abc"[..]));
    assert_eq!(extract_token(b" Bearer\tabc", true), Some(&b"abc"[..]));
    assert_eq!(extract_token(b"Bearer", true), None);
    assert_eq!(extract_token(b"Bearer   ", true), None);
    assert_eq!(extract_token(b"Bearerabc", true), None);
    assert_eq!(extract_token(b"Basic abc", true), None);
    assert_eq!(extract_token(b"abc", true), None);
    assert_eq!(extract_token(b"", true), None);
    assert_eq!(extract_token(b"abc", false), Some(&b"abc"[..]));
    assert_eq!(extract_token(b"  abc \t", false), Some(&b"abc"[..]));
    assert_eq!(
        extract_token(b"Bearer abc", false),
        Some(&b"Bearer abc"[..])
    );
    assert_eq!(extract_token(b"  ", false), None);
}

#[test]
fn challenges() {
    assert_eq!(
        www_authenticate(true),
        r#"Bearer realm="API Kaspersky Scan Engine""#
    );
    assert_eq!(
        www_authenticate(false),
        r#"Token realm="API Kaspersky Scan Engine""#
    );
}
