//! A deep scan's report as KAV results: the top object and every sub-object, each
//! with its path (`top//folder/eicar`), its result with what is inside it counted
//! (an archive holding a detection is DETECT, one holding a password-protected entry
//! is `NON_SCANNED (PASSWORD PROTECTED)`, as the vendor's example answers for
//! `test.zip`), and `containsOfficeMacro`.

use std::borrow::Cow;

use super::response::{ObjectResult, Reason, ScanResult};
use crate::engine::{DeepReport, ObjectReport, Overall};
use crate::formats::Skip;

/// The result of one object as KAV words it.
pub fn result_of<'a>(object: &ObjectReport<'a>) -> ScanResult<'a> {
    match object.overall() {
        Overall::Detected(name) => ScanResult::Detect(name),
        Overall::Error(_) => ScanResult::ServerError,
        Overall::NotScanned(skip) => ScanResult::NonScanned(Some(reason_of(skip))),
        Overall::Clean => ScanResult::Clean,
    }
}

/// Why a sub-object was not scanned, in the KAV vocabulary.
pub fn reason_of(skip: Skip) -> Reason {
    match skip {
        Skip::PasswordProtected => Reason::PasswordProtected,
        Skip::Corrupted => Reason::Corrupted,
        Skip::MaxDepth => Reason::MaxDepthExceeded,
        Skip::Timeout => Reason::Canceled,
        Skip::TooLarge | Skip::RatioExceeded | Skip::TooManyFiles | Skip::Unsupported => {
            Reason::Skipped
        }
    }
}

/// The top object (named `top`: the path, or `memory`) and the sub-objects, in walk
/// order.
pub fn results_of<'a>(
    report: &DeepReport<'a>,
    top: &'a str,
) -> (ObjectResult<'a>, Vec<ObjectResult<'a>>) {
    let first = report.top();
    let head = ObjectResult {
        object: Cow::Borrowed(top),
        result: result_of(first),
        contains_office_macro: first.macros,
    };
    let subs = report
        .sub_objects()
        .iter()
        .map(|o| ObjectResult {
            object: Cow::Owned(format!("{top}//{}", o.path)),
            result: result_of(o),
            contains_office_macro: o.macros,
        })
        .collect();
    (head, subs)
}
