//! PLACEHOLDER: being written (issue 7). Until then this format is opened as
//! not supported.

use super::{Blob, Format, Skip, Unpacker};

/// Opens a mail message, an mbox or uuencoded text.
pub fn open<'a>(format: Format, data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    let _ = (format, data);
    Err(Skip::Unsupported)
}
