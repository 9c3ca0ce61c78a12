use crate::proto::kav::inplace::{decode_json_base64, InplaceError};

fn decode(text: &str) -> Result<Vec<u8>, InplaceError> {
    let mut buf = text.as_bytes().to_vec();
    let len = decode_json_base64(&mut buf)?;
    Ok(buf[..len].to_vec())
}

#[test]
fn escapes() {
    assert_eq!(decode(r"\/\/\/\/"), Ok(vec![0xff; 3]));
    assert_eq!(decode(r"SGVs\r\n\tbG8="), Ok(b"Hello".to_vec()));
    assert_eq!(decode(r"SGVs\u0062G8="), Err(InplaceError::Escape(b'u')));
    assert_eq!(decode(r#"SGVs\"bG8="#), Err(InplaceError::Escape(b'"')));
    assert_eq!(decode("SGVsbG8=\\"), Err(InplaceError::DanglingEscape));
    assert_eq!(decode("SGVsbG8=!"), Err(InplaceError::Base64));
    assert_eq!(
        InplaceError::Escape(b'u').to_string(),
        r"unsupported escape \u"
    );
}

/// A long text with escapes far apart and close together decodes like its plain form.
#[test]
fn long_text() {
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let encoded = base64_simd::STANDARD.encode_to_string(&data);
    let text = encoded.replace('/', r"\/");
    assert!(text.len() > encoded.len());
    assert_eq!(decode(&text), Ok(data));
}
