//! Single-stream compressors: gzip (flate2), bzip2 (bzip2), xz (liblzma) and zstd
//! (zstd). Each holds one sub-object, decoded a chunk per step with the shared
//! [`Decoding`], so a large stream yields the core between chunks and is refused as
//! soon as it passes the size limit or the ratio guard.
//!
//! The sub-object is named as the stream's own header names it (gzip `FNAME`),
//! otherwise after the format (`gzip`), as in `/tmp/x.tar.gz//x.tar`.

use std::io::{BufReader, Cursor, Read};

use super::blob::Blob;
use super::unpack::{Budget, Child, Decoded, Decoding, Next, Skip, Unpacker};
use super::Format;

type Source<'a> = BufReader<Cursor<Blob<'a>>>;

/// A compressed stream.
pub struct Stream<'a> {
    decoding: Option<Decoding<Box<dyn Read + 'a>>>,
    name: Option<String>,
    fallback: &'static str,
}

/// Opens a gzip, bzip2, xz or zstd stream.
pub fn open<'a>(format: Format, data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    let packed = data.len() as u64;
    let source: Source<'a> = BufReader::new(data.reader());
    let (reader, name, fallback): (Box<dyn Read + 'a>, _, _) = match format {
        Format::Gzip => {
            let decoder = flate2::bufread::MultiGzDecoder::new(source);
            let name = decoder
                .header()
                .and_then(|h| h.filename())
                .map(|f| String::from_utf8_lossy(f).into_owned());
            (Box::new(decoder), name, "gzip")
        }
        Format::Bzip2 => (
            Box::new(bzip2::bufread::MultiBzDecoder::new(source)),
            None,
            "bzip2",
        ),
        Format::Xz => (
            Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(source)),
            None,
            "xz",
        ),
        Format::Zstd => (
            Box::new(
                zstd::stream::read::Decoder::with_buffer(source).map_err(|_| Skip::Corrupted)?,
            ),
            None,
            "zstd",
        ),
        _ => return Err(Skip::Unsupported),
    };
    Ok(Box::new(Stream {
        decoding: Some(Decoding::new(reader, packed)),
        name,
        fallback,
    }))
}

impl<'a> Unpacker<'a> for Stream<'a> {
    fn next(&mut self, budget: &Budget) -> Next<'a> {
        let Some(decoding) = self.decoding.as_mut() else {
            return Next::End;
        };
        let step = decoding.step(budget);
        let name = || {
            self.name
                .clone()
                .unwrap_or_else(|| self.fallback.to_owned())
        };
        match step {
            Decoded::More => Next::Pending,
            Decoded::Done(bytes) => {
                self.decoding = None;
                Next::Object(Child::new(name(), Blob::owned(bytes)))
            }
            Decoded::Truncated(bytes) => {
                self.decoding = None;
                if bytes.is_empty() {
                    return Next::Broken(Skip::Corrupted);
                }
                Next::Object(Child {
                    name: name(),
                    data: Blob::owned(bytes),
                    damaged: Some(Skip::Corrupted),
                })
            }
            Decoded::Refused(reason) => {
                self.decoding = None;
                Next::Skipped {
                    name: name(),
                    reason,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn drain<'a>(u: Box<dyn Unpacker<'a> + 'a>) -> Vec<Next<'a>> {
        crate::formats::testutil::drain(u, &Budget::default())
    }

    fn one_object(format: Format, packed: Vec<u8>) -> (String, Vec<u8>) {
        let got = drain(open(format, Blob::owned(packed)).unwrap());
        match got.as_slice() {
            [Next::Object(c)] if c.damaged.is_none() => (c.name.clone(), c.data.to_vec()),
            other => panic!("{format:?}: {other:?}"),
        }
    }

    #[test]
    fn each_compressor_round_trips() {
        let data = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR".repeat(100);
        let mut gz = flate2::GzBuilder::new()
            .filename("inner.txt")
            .write(Vec::new(), flate2::Compression::default());
        gz.write_all(&data).unwrap();
        assert_eq!(
            one_object(Format::Gzip, gz.finish().unwrap()),
            ("inner.txt".into(), data.clone())
        );
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(&data).unwrap();
        assert_eq!(
            one_object(Format::Bzip2, bz.finish().unwrap()),
            ("bzip2".into(), data.clone())
        );
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&data).unwrap();
        assert_eq!(
            one_object(Format::Xz, xz.finish().unwrap()),
            ("xz".into(), data.clone())
        );
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        assert_eq!(one_object(Format::Zstd, zst), ("zstd".into(), data));
    }

    #[test]
    fn a_truncated_stream_yields_its_prefix_as_damaged() {
        let data = b"0123456789abcdef".repeat(10_000);
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        let got = drain(open(Format::Zstd, Blob::owned(zst[..zst.len() / 2].to_vec())).unwrap());
        match got.as_slice() {
            [Next::Object(c)] => {
                assert_eq!(c.damaged, Some(Skip::Corrupted));
                assert!(data.starts_with(&c.data));
            }
            [Next::Broken(Skip::Corrupted)] => {}
            other => panic!("{other:?}"),
        }
        let got = drain(open(Format::Gzip, Blob::owned(b"\x1f\x8bgarbage".to_vec())).unwrap());
        assert!(
            matches!(got.as_slice(), [Next::Broken(Skip::Corrupted)]),
            "{got:?}"
        );
    }
}
