//! [`Blob`]: the bytes of one object while a scan walks into it.
//!
//! The top object is borrowed from the request buffer (zero-copy, as every protocol
//! hands it over); what an unpacker decodes is owned by the scan and shared by
//! reference count. A stored member of an archive (a tar entry, a stored zip entry, an
//! OLE2 stream in one run of sectors) is a slice of its parent: no copy either.
//! `Rc`, not `Arc`: one scan runs on one core from start to end.

use std::ops::{Deref, Range};
use std::rc::Rc;

/// Shared, sliceable bytes of an object.
#[derive(Clone)]
pub struct Blob<'a> {
    src: Src<'a>,
    start: usize,
    end: usize,
}

#[derive(Clone)]
enum Src<'a> {
    Borrowed(&'a [u8]),
    Owned(Rc<Vec<u8>>),
}

impl<'a> Blob<'a> {
    /// Bytes the caller keeps (the request buffer).
    pub fn borrowed(data: &'a [u8]) -> Self {
        Blob {
            src: Src::Borrowed(data),
            start: 0,
            end: data.len(),
        }
    }

    /// Bytes decoded by an unpacker (moved in, not copied).
    pub fn owned(data: Vec<u8>) -> Self {
        let end = data.len();
        Blob {
            src: Src::Owned(Rc::new(data)),
            start: 0,
            end,
        }
    }

    /// A part of these bytes, without copying; the range is clamped to the blob.
    pub fn slice(&self, range: Range<usize>) -> Blob<'a> {
        let len = self.end - self.start;
        let end = range.end.min(len);
        let start = range.start.min(end);
        Blob {
            src: self.src.clone(),
            start: self.start + start,
            end: self.start + end,
        }
    }

    /// A reader over the bytes (`Read + Seek`), for crates that want one. It owns a
    /// clone of the blob, so it can live as long as an unpacker does.
    pub fn reader(&self) -> std::io::Cursor<Blob<'a>> {
        std::io::Cursor::new(self.clone())
    }

    /// Whether the bytes were decoded by the scan (not borrowed from the caller).
    pub fn is_owned(&self) -> bool {
        matches!(self.src, Src::Owned(_))
    }
}

impl Deref for Blob<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        let all: &[u8] = match &self.src {
            Src::Borrowed(b) => b,
            Src::Owned(v) => v,
        };
        &all[self.start..self.end]
    }
}

impl AsRef<[u8]> for Blob<'_> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for Blob<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom};

    #[test]
    fn slices_share_and_clamp() {
        let b = Blob::owned(b"hello world".to_vec());
        let w = b.slice(6..11);
        assert_eq!(&*w, b"world");
        assert_eq!(&*w.slice(1..3), b"or");
        assert_eq!(&*w.slice(3..99), b"ld");
        assert!(w.slice(9..12).is_empty());
        let top = Blob::borrowed(b"abc");
        assert!(!top.is_owned() && b.is_owned());
        let mut r = w.reader();
        r.seek(SeekFrom::Start(2)).unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "rld");
    }
}
