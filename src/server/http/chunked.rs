//! `Transfer-Encoding: chunked` decoded in place: chunk data is moved down over the
//! size lines in front of it, inside the connection's buffer, as it arrives, and the
//! framing already read is dropped ([`Chunked::compact`]). The body ends up contiguous
//! at the front of the region, with no second buffer, and the region never holds much
//! more than the decoded body; the cost is one `memmove` per read (a `Content-Length`
//! body has none). httparse reads the size
//! lines; the framing around them (data CRLF, trailers) is here because no crate does
//! it in place.

/// Longest chunk-size line or trailer line accepted (extensions included).
const MAX_LINE: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
    /// Complete.
    Done,
}

/// Progress of a decode.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// More bytes are needed.
    NeedMore,
    /// The body is complete: `len` decoded bytes at the region's start, and the
    /// encoded body ended `end` bytes into the region (what follows is the next request).
    Done {
        /// Decoded body length.
        len: usize,
        /// Encoded length.
        end: usize,
    },
}

/// Why a chunked body was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// Broken framing (400).
    Malformed(&'static str),
    /// The decoded body grew over the limit (413).
    TooLarge,
}

/// An in-place chunked decoder over a region that starts at the body's first byte
/// and grows as bytes are read.
#[derive(Debug)]
pub struct Chunked {
    state: State,
    /// Decoded bytes, at the region's start.
    out: usize,
    /// Encoded bytes consumed (counted from the region's start).
    raw: usize,
    /// Trailer bytes read.
    trailers: usize,
    limit: u64,
}

impl Chunked {
    /// A decoder refusing bodies over `limit` decoded bytes.
    pub fn new(limit: u64) -> Chunked {
        Chunked {
            state: State::Size,
            out: 0,
            raw: 0,
            trailers: 0,
            limit,
        }
    }

    /// Decodes what `region` holds beyond what earlier calls consumed. `region` must
    /// start where it did before and hold at least the same bytes.
    pub fn advance(&mut self, region: &mut [u8]) -> Result<Progress, ChunkError> {
        loop {
            let pending = &region[self.raw..];
            match self.state {
                State::Done => {
                    return Ok(Progress::Done {
                        len: self.out,
                        end: self.raw,
                    })
                }
                State::Size => match httparse::parse_chunk_size(pending) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.raw += used;
                        // Subtracted, not added: a size of 2^64-1 must not wrap.
                        if size > self.limit.saturating_sub(self.out as u64) {
                            return Err(ChunkError::TooLarge);
                        }
                        self.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if pending.len() > MAX_LINE => {
                        return Err(ChunkError::Malformed("chunk size line too long"))
                    }
                    Ok(httparse::Status::Partial) => return Ok(Progress::NeedMore),
                    Err(_) => return Err(ChunkError::Malformed("bad chunk size")),
                },
                State::Data(left) => {
                    if pending.is_empty() {
                        return Ok(Progress::NeedMore);
                    }
                    let take = (pending.len() as u64).min(left) as usize;
                    region.copy_within(self.raw..self.raw + take, self.out);
                    self.raw += take;
                    self.out += take;
                    self.state = if take as u64 == left {
                        State::DataEnd
                    } else {
                        State::Data(left - take as u64)
                    };
                }
                State::DataEnd => match pending {
                    [b'\r', b'\n', ..] => {
                        self.raw += 2;
                        self.state = State::Size;
                    }
                    [b'\n', ..] => {
                        self.raw += 1;
                        self.state = State::Size;
                    }
                    [] | [b'\r'] => return Ok(Progress::NeedMore),
                    _ => return Err(ChunkError::Malformed("missing CRLF after chunk data")),
                },
                State::Trailers => match memchr::memchr(b'\n', pending) {
                    None if pending.len() > MAX_LINE => {
                        return Err(ChunkError::Malformed("trailer line too long"))
                    }
                    None => return Ok(Progress::NeedMore),
                    Some(nl) => {
                        // Trailer fields are read past, not used; their total is
                        // bounded so endless trailers cannot hold the connection.
                        let line = &pending[..nl];
                        self.raw += nl + 1;
                        self.trailers += nl + 1;
                        if line.is_empty() || line == b"\r" {
                            self.state = State::Done;
                        } else if self.trailers > MAX_LINE {
                            return Err(ChunkError::Malformed("trailers too long"));
                        }
                    }
                },
            }
        }
    }

    /// Drops the framing consumed so far: the encoded bytes not yet decoded move down
    /// to just after the decoded ones. Returns how many bytes the region shrank by;
    /// the caller shortens it by as much. Called after each [`Chunked::advance`] that
    /// needs more, so the region holds the decoded body plus at most one line of
    /// framing, whatever the chunk sizes, extensions or trailers.
    pub fn compact(&mut self, region: &mut [u8]) -> usize {
        let freed = self.raw - self.out;
        if freed > 0 {
            region.copy_within(self.raw.., self.out);
            self.raw = self.out;
        }
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `encoded` in pieces of the given sizes, as reads would deliver it.
    fn decode(
        encoded: &[u8],
        pieces: &[usize],
        limit: u64,
    ) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut region = Vec::new();
        let mut d = Chunked::new(limit);
        let mut at = 0;
        let mut dropped = 0;
        let mut sizes = pieces.iter().cycle();
        loop {
            let n = (*sizes.next().unwrap_or(&1)).max(1).min(encoded.len() - at);
            region.extend_from_slice(&encoded[at..at + n]);
            at += n;
            match d.advance(&mut region)? {
                Progress::Done { len, end } => return Ok((region[..len].to_vec(), end + dropped)),
                Progress::NeedMore if at == encoded.len() => {
                    return Err(ChunkError::Malformed("truncated (test)"))
                }
                Progress::NeedMore => {
                    // As the connection does after each read.
                    let freed = d.compact(&mut region);
                    region.truncate(region.len() - freed);
                    dropped += freed;
                    assert!(region.len() <= d.out + MAX_LINE + 2);
                }
            }
        }
    }

    #[test]
    fn decodes_in_any_split() {
        let encoded = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let body_end = encoded.len() - 4;
        for piece in 1..encoded.len() {
            let (body, end) = decode(encoded, &[piece], 1 << 20).unwrap();
            assert_eq!(body, b"hello world", "piece {piece}");
            assert_eq!(end, body_end);
        }
    }

    #[test]
    fn random_chunkings_round_trip() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..300 {
            let len = (next() % 5000) as usize;
            let body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut encoded = Vec::new();
            let mut at = 0;
            while at < body.len() {
                let n = ((next() % 700) as usize + 1).min(body.len() - at);
                encoded.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                encoded.extend_from_slice(&body[at..at + n]);
                encoded.extend_from_slice(b"\r\n");
                at += n;
            }
            encoded.extend_from_slice(b"0\r\n\r\n");
            let pieces: Vec<usize> = (0..5).map(|_| (next() % 900) as usize + 1).collect();
            let (decoded, end) = decode(&encoded, &pieces, 1 << 20).unwrap();
            assert_eq!(decoded, body);
            assert_eq!(end, encoded.len());
        }
    }

    #[test]
    fn refuses_bad_framing_and_oversize() {
        assert_eq!(
            decode(b"zz\r\nhello\r\n0\r\n\r\n", &[64], 100),
            Err(ChunkError::Malformed("bad chunk size"))
        );
        assert_eq!(
            decode(b"5\r\nhelloXX0\r\n\r\n", &[64], 100),
            Err(ChunkError::Malformed("missing CRLF after chunk data"))
        );
        assert_eq!(
            decode(b"5\r\nhello\r\n5\r\nhello\r\n0\r\n\r\n", &[64], 8),
            Err(ChunkError::TooLarge)
        );
        // A size that would overflow is refused by httparse, not wrapped.
        assert!(decode(b"fffffffffffffffffff\r\n", &[64], u64::MAX).is_err());
        // The largest size httparse takes, after some data: refused, not wrapped past
        // the limit (this once overflowed).
        assert_eq!(
            decode(b"1\r\nx\r\nffffffffffffffff\r\n", &[64], 100),
            Err(ChunkError::TooLarge)
        );
        // Endless trailers are refused.
        let trailers = "0\r\n".to_owned() + &"X-T: 1\r\n".repeat(1000) + "\r\n";
        assert_eq!(
            decode(trailers.as_bytes(), &[64], 100),
            Err(ChunkError::Malformed("trailers too long"))
        );
        let long = format!("5;{}\r\n", "x".repeat(MAX_LINE + 10));
        assert!(decode(long.as_bytes(), &[64], 100).is_err());
    }
}
