//! INSTREAM chunk decoding, in place.
//!
//! After `zINSTREAM\0` (or `nINSTREAM\n`) the client sends chunks
//! `<u32 big-endian length><length bytes>` and ends with a zero length. clamd
//! (server-th.c `handle_stream`) appends each chunk's bytes to a temporary file and
//! scans the file once the zero-length chunk arrives. ringscan scans from memory, so
//! [`Dechunker`] strips the 4-byte headers *inside the receive buffer*: payload bytes
//! are moved down over the headers (`copy_within`), and the object ends up
//! contiguous at the start of the same buffer. No second buffer, no temporary file,
//! each received byte is moved at most once per [`Dechunker::feed`].
//!
//! It is hand-written because no crate does clamd's framing (big-endian u32 lengths,
//! zero terminator, cumulative quota checked at the header, trailing bytes that belong
//! to the next IDSESSION command), and because decoding in place is the point.
//!
//! Quota, exactly as `handle_stream`: it starts at `StreamMaxLength`
//! ([`DEFAULT_STREAM_MAX_LENGTH`](super::DEFAULT_STREAM_MAX_LENGTH) by default); when a
//! non-zero chunk header arrives, `if (chunksize > quota)` the stream fails, otherwise
//! `quota -= chunksize`. So the limit is on the sum of all chunk lengths, a stream of
//! exactly `StreamMaxLength` bytes passes, and the failure is reported as soon as the
//! offending header is read, before its payload. A zero header ends the stream before
//! any quota check, so an empty stream always passes, even with `StreamMaxLength 0`
//! (which clamd does not treat as "unlimited": every non-empty stream fails).
//! On failure clamd replies
//! [`Reply::instream_size_limit_exceeded`](super::Reply::instream_size_limit_exceeded)
//! and closes the connection; on EOF before the zero chunk it closes without a reply.
//!
//! # Buffer use
//!
//! ```text
//! buf: [ decoded object | ≤3 bytes of a split header | new raw bytes ... ]
//!        0 ..object_len   object_len ..read_at          read_at ..filled
//! ```
//!
//! Put any bytes that followed the INSTREAM command in the command buffer at
//! `buf[0..n]` and call `feed(buf, n)`. On [`Progress::NeedMore`] read from the socket
//! into `buf[read_at..]` and call `feed(buf, read_at + bytes_read)`. The decoded
//! object never exceeds the quota, so a buffer of `StreamMaxLength + 3 + R` bytes,
//! `R` being the largest read, never needs to grow; to stay small for small objects,
//! grow on demand before each read (`buf.resize(read_at + R, 0)`, doubling), possibly
//! up to `read_at + chunk_remaining() + 4` to take a whole announced chunk (already
//! accounted against the quota) in one read.

use std::ops::Range;

/// What [`Dechunker::feed`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Read more raw bytes into `buf[read_at..]`, then call `feed` again with
    /// `filled = read_at + n`.
    NeedMore {
        /// Where the next raw bytes go (just after the decoded bytes and any part of a
        /// chunk header already received).
        read_at: usize,
        /// The fewest further bytes that let decoding progress: the rest of a chunk
        /// header, or 1 inside a chunk's payload.
        want_at_least: usize,
    },
    /// The zero-length chunk arrived: the object is `buf[..object_len]`.
    Done {
        /// Length of the decoded object at the start of the buffer.
        object_len: usize,
        /// Raw bytes received after the zero-length chunk. Inside IDSESSION they are
        /// the next commands: move them to the command buffer. clamd ignores them
        /// outside a session (the connection is done).
        leftover: Range<usize>,
    },
    /// A chunk header asked for more than the quota left. Reply
    /// [`Reply::instream_size_limit_exceeded`](super::Reply::instream_size_limit_exceeded)
    /// and close the connection.
    LimitExceeded,
}

/// Decodes one INSTREAM body in place (server-th.c `handle_stream`).
#[derive(Debug, Clone)]
pub struct Dechunker {
    /// Bytes still allowed (`buf->quota`).
    quota: u64,
    /// Payload bytes still due for the current chunk (`buf->chunksize`).
    chunk_left: u32,
    /// Decoded bytes at the start of the buffer.
    out: usize,
    /// Raw bytes kept after them: a header split across reads (0..=3).
    pending: usize,
    /// Set once the stream ended or failed; `feed` then repeats it.
    finished: Option<Progress>,
}

impl Dechunker {
    /// A decoder for one stream, with `StreamMaxLength` as quota.
    pub fn new(stream_max_length: u64) -> Dechunker {
        Dechunker {
            quota: stream_max_length,
            chunk_left: 0,
            out: 0,
            pending: 0,
            finished: None,
        }
    }

    /// Where the next raw bytes must be written (`object_len() + pending header`).
    pub fn read_at(&self) -> usize {
        self.out + self.pending
    }

    /// Decoded bytes so far, at the start of the buffer.
    pub fn object_len(&self) -> usize {
        self.out
    }

    /// Quota left for further chunks.
    pub fn quota_left(&self) -> u64 {
        self.quota
    }

    /// Payload bytes still due for the chunk being received (already counted against
    /// the quota), 0 between chunks.
    pub fn chunk_remaining(&self) -> u32 {
        self.chunk_left
    }

    /// Decode the raw bytes in `buf[self.read_at() - pending .. filled]`, that is: the
    /// bytes the last [`Progress::NeedMore`] asked for are at `buf[read_at..filled]`.
    ///
    /// Payload bytes are moved down to `buf[object_len..]`; a partial header is moved
    /// right after them. Once [`Progress::Done`] or [`Progress::LimitExceeded`] has
    /// been returned, further calls return it again and touch nothing.
    ///
    /// # Panics
    ///
    /// If `filled` is less than [`Dechunker::read_at`] or more than `buf.len()`.
    pub fn feed(&mut self, buf: &mut [u8], filled: usize) -> Progress {
        if let Some(done) = &self.finished {
            return done.clone();
        }
        assert!(
            self.read_at() <= filled && filled <= buf.len(),
            "Dechunker::feed: filled {filled} outside {}..={}",
            self.read_at(),
            buf.len()
        );
        let mut read = self.out;
        let mut write = self.out;
        loop {
            if self.chunk_left > 0 {
                let n = (filled - read).min(self.chunk_left as usize);
                if n == 0 {
                    break;
                }
                if read != write {
                    buf.copy_within(read..read + n, write);
                }
                read += n;
                write += n;
                self.chunk_left -= n as u32;
                continue;
            }
            if filled - read < 4 {
                break;
            }
            let len = u32::from_be_bytes([buf[read], buf[read + 1], buf[read + 2], buf[read + 3]]);
            read += 4;
            if len == 0 {
                // "chunksize 0 marks end of stream", checked before the quota.
                let done = Progress::Done {
                    object_len: write,
                    leftover: read..filled,
                };
                self.out = write;
                self.pending = 0;
                self.finished = Some(done.clone());
                return done;
            }
            if u64::from(len) > self.quota {
                self.out = write;
                self.pending = 0;
                self.finished = Some(Progress::LimitExceeded);
                return Progress::LimitExceeded;
            }
            self.quota -= u64::from(len);
            self.chunk_left = len;
        }
        // Only a split header (< 4 bytes) can be left; keep it next to the object.
        let pending = filled - read;
        debug_assert!(pending < 4 && (pending == 0 || self.chunk_left == 0));
        if read != write {
            buf.copy_within(read..filled, write);
        }
        self.out = write;
        self.pending = pending;
        Progress::NeedMore {
            read_at: write + pending,
            want_at_least: if self.chunk_left > 0 { 1 } else { 4 - pending },
        }
    }
}
