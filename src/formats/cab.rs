//! PLACEHOLDER: being written (issue 7). Until then this format is opened as
//! not supported.

use super::{Blob, Skip, Unpacker};

/// Opens the container.
pub fn open<'a>(data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    let _ = data;
    Err(Skip::Unsupported)
}
