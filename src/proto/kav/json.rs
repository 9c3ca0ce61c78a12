//! The KAV v3 scan response object (`kav-protocol.md` §1.4):
//! `{"object": ..., "scanResult": ..., "detectionName": ..., "containsOfficeMacro": "false"}`.
//!
//! `containsOfficeMacro` is written as the string `"false"`/`"true"`, as the vendor's
//! example shows and as ViennaNET's client expects (it also accepts booleans).

use std::borrow::Cow;

use serde::Serialize;

use crate::engine::Verdict;

/// One v3 response object.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ScanResponse<'a> {
    /// The scanned path (or `"memory"`).
    pub object: &'a str,
    /// `CLEAN`, `DETECT`, `NON_SCANNED (REASON)`, `SERVER_ERROR` (v3.0 form).
    #[serde(rename = "scanResult")]
    pub scan_result: Cow<'static, str>,
    /// The threat name, on `DETECT`.
    #[serde(rename = "detectionName", skip_serializing_if = "Option::is_none")]
    pub detection_name: Option<&'a str>,
    /// `"true"` / `"false"`.
    #[serde(rename = "containsOfficeMacro")]
    pub contains_office_macro: &'static str,
}

impl<'a> ScanResponse<'a> {
    /// The response for `verdict` on `object`.
    pub fn new(object: &'a str, verdict: Verdict<'a>) -> Self {
        let (scan_result, detection_name) = match verdict {
            Verdict::Clean => (Cow::Borrowed("CLEAN"), None),
            Verdict::Detected(name) => (Cow::Borrowed("DETECT"), Some(name)),
            Verdict::NotScanned(reason) => (Cow::Owned(format!("NON_SCANNED ({reason})")), None),
            Verdict::Error(_) => (Cow::Borrowed("SERVER_ERROR"), None),
        };
        ScanResponse {
            object,
            scan_result,
            detection_name,
            contains_office_macro: "false",
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        // Serializing plain strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(
            ScanResponse::new("/x/eicar", Verdict::Detected("EICAR-Test-File")).to_json(),
            r#"{"object":"/x/eicar","scanResult":"DETECT","detectionName":"EICAR-Test-File","containsOfficeMacro":"false"}"#
        );
        assert_eq!(
            ScanResponse::new("memory", Verdict::Clean).to_json(),
            r#"{"object":"memory","scanResult":"CLEAN","containsOfficeMacro":"false"}"#
        );
        assert!(
            ScanResponse::new("/p", Verdict::NotScanned("ACCESS DENIED"))
                .to_json()
                .contains("NON_SCANNED (ACCESS DENIED)")
        );
    }
}
