//! 7z archives, read with `sevenz-rust2` (headers, LZMA/LZMA2/BZip2/Deflate/PPMd/BCJ
//! filters, AES detection).
//!
//! - The headers are read at open; encrypted headers (`-mhe=on`) make the archive
//!   [`Skip::PasswordProtected`], damaged ones [`Skip::Corrupted`]. Decoders run on one
//!   thread and their dictionaries are limited to [`MEMORY_LIMIT_KB`].
//! - The crate decodes a block (a solid run of members) through a callback, which
//!   cannot be suspended across calls: one [`Unpacker::next`] decodes one block, or the
//!   part of it that fits in `max_object`, and queues its members. A block whose
//!   members add up to more than that is stopped there and decoded again from its
//!   start on the next call, skipping the members already handed out (so memory stays
//!   at about `max_object` plus one member, at the cost of decoding a large solid block
//!   more than once).
//! - Each member is bounded by `max_object` (its declared size first, then what is
//!   actually decoded) and the ratio guard, against the block's packed size; a member
//!   over the ratio guard ends its block (the rest of it is reported with that reason).
//! - Members of an encrypted block are [`Skip::PasswordProtected`]; a block that fails
//!   to decode reports its remaining members [`Skip::Corrupted`], with a member cut
//!   short (or failing its CRC) scanned as far as decoded and marked damaged.
//! - Directories, empty files and anti-items are skipped.

use std::collections::VecDeque;
use std::io::Cursor;

use sevenz_rust2::{Archive, BlockDecoder, Error, Password};

use super::unpack::{Decoded, Decoding, RATIO_FLOOR};
use super::{Blob, Budget, Child, Next, Skip, Unpacker};

/// Largest dictionary or model a decoder may allocate, and largest header buffer.
pub const MEMORY_LIMIT_KB: usize = 256 << 10;

/// A 7z archive being read.
pub struct SevenZ<'a> {
    source: Cursor<Blob<'a>>,
    archive: Archive,
    password: Password,
    /// Packed size of each block, for the ratio guard.
    block_packed: Vec<u64>,
    /// Members decoded and not yet handed out.
    queue: VecDeque<Next<'a>>,
    /// The block to decode next.
    block: usize,
    /// Members (positions in the block) of that block already handled.
    done_in_block: usize,
}

/// Opens a 7z archive.
pub fn open<'a>(data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    let mut source = data.reader();
    let password = Password::empty();
    let archive =
        Archive::read_with_memory_limit(&mut source, &password, MEMORY_LIMIT_KB).map_err(reason)?;
    let mut block_packed = vec![0u64; archive.blocks.len()];
    for (file, block) in archive
        .files
        .iter()
        .zip(&archive.stream_map.file_block_index)
    {
        if let Some(packed) = block.and_then(|b| block_packed.get_mut(b)) {
            *packed = packed.saturating_add(file.compressed_size);
        }
    }
    Ok(Box::new(SevenZ {
        source,
        archive,
        password,
        block_packed,
        queue: VecDeque::new(),
        block: 0,
        done_in_block: 0,
    }))
}

/// The reason an error from the crate means.
fn reason(e: Error) -> Skip {
    match e {
        Error::PasswordRequired | Error::MaybeBadPassword(_) => Skip::PasswordProtected,
        Error::UnsupportedCompressionMethod(_) | Error::ExternalUnsupported => Skip::Unsupported,
        _ => Skip::Corrupted,
    }
}

/// Whether a member is skipped silently (no content to scan).
fn empty(entry: &sevenz_rust2::ArchiveEntry) -> bool {
    !entry.has_stream || entry.is_directory || entry.is_anti_item || entry.size == 0
}

impl<'a> SevenZ<'a> {
    /// Decodes (the next part of) the current block into the queue.
    fn decode_block(&mut self, budget: &Budget) {
        let b = self.block;
        let first = self
            .archive
            .stream_map
            .block_first_file_index
            .get(b)
            .copied()
            .unwrap_or(usize::MAX);
        // The members of this block, by their position in it.
        let members: Vec<usize> = self
            .archive
            .stream_map
            .file_block_index
            .iter()
            .enumerate()
            .filter(|(_, block)| **block == Some(b))
            .map(|(i, _)| i)
            .collect();
        let name_of = |archive: &Archive, i: usize| {
            archive
                .files
                .get(i)
                .map(|f| f.name.clone())
                .unwrap_or_default()
        };
        // The rest of the block (from position `from`), reported with `why`.
        let rest = |archive: &Archive, from: usize, why: Skip, queue: &mut VecDeque<Next<'a>>| {
            for &i in &members {
                if i >= first.saturating_add(from)
                    && archive.files.get(i).is_some_and(|f| !empty(f))
                {
                    queue.push_back(Next::Skipped {
                        name: name_of(archive, i),
                        reason: why,
                    });
                }
            }
        };
        if members
            .first()
            .is_some_and(|&i| self.archive.is_file_encrypted(i))
        {
            rest(
                &self.archive,
                self.done_in_block,
                Skip::PasswordProtected,
                &mut self.queue,
            );
            self.block += 1;
            self.done_in_block = 0;
            return;
        }
        let packed = self.block_packed.get(b).copied().unwrap_or(0);
        let done = self.done_in_block;
        let mut position = 0usize;
        let mut held = 0u64;
        let mut stopped_at = None;
        let mut ended: Option<(usize, Skip)> = None;
        let mut out: Vec<Next<'a>> = Vec::new();
        let decoder = BlockDecoder::new_with_memory_limit(
            1,
            MEMORY_LIMIT_KB,
            b,
            &self.archive,
            &self.password,
            &mut self.source,
        );
        let result = decoder.for_each_entries(&mut |entry, reader| {
            let k = position;
            position += 1;
            if k < done || empty(entry) {
                return Ok(true);
            }
            if held > 0 && held >= budget.max_object {
                stopped_at = Some(k);
                return Ok(false);
            }
            let name = entry.name.clone();
            if entry.size > budget.max_object {
                out.push(Next::Skipped {
                    name,
                    reason: Skip::TooLarge,
                });
                return Ok(true);
            }
            if budget.max_ratio > 0
                && entry.size > RATIO_FLOOR
                && entry.size / packed.max(1) > budget.max_ratio
            {
                out.push(Next::Skipped {
                    name,
                    reason: Skip::RatioExceeded,
                });
                ended = Some((k + 1, Skip::RatioExceeded));
                return Ok(false);
            }
            let mut decoding = Decoding::new(reader, packed);
            let decoded = loop {
                match decoding.step(budget) {
                    Decoded::More => continue,
                    other => break other,
                }
            };
            match decoded {
                Decoded::Done(bytes) | Decoded::Truncated(bytes) if bytes.is_empty() => {
                    out.push(Next::Skipped {
                        name,
                        reason: Skip::Corrupted,
                    });
                }
                Decoded::Done(bytes) => {
                    held += bytes.len() as u64;
                    out.push(Next::Object(Child::new(name, Blob::owned(bytes))));
                }
                Decoded::Truncated(bytes) => {
                    held += bytes.len() as u64;
                    out.push(Next::Object(Child {
                        name,
                        data: Blob::owned(bytes),
                        damaged: Some(Skip::Corrupted),
                    }));
                }
                Decoded::Refused(Skip::RatioExceeded) => {
                    out.push(Next::Skipped {
                        name,
                        reason: Skip::RatioExceeded,
                    });
                    ended = Some((k + 1, Skip::RatioExceeded));
                    return Ok(false);
                }
                Decoded::Refused(why) => out.push(Next::Skipped { name, reason: why }),
                Decoded::More => {}
            }
            Ok(true)
        });
        let handled = position;
        self.queue.extend(out);
        match (result, ended, stopped_at) {
            (Ok(_), None, Some(k)) => {
                self.done_in_block = k;
                return;
            }
            (Ok(_), Some((from, why)), _) => rest(&self.archive, from, why, &mut self.queue),
            (Ok(_), None, None) => {}
            (Err(e), _, _) => {
                // The member being decoded when it failed is already queued (as
                // damaged) if the failure came through our reader; the rest is lost.
                rest(&self.archive, handled.max(done), reason(e), &mut self.queue)
            }
        }
        self.block += 1;
        self.done_in_block = 0;
    }
}

impl<'a> Unpacker<'a> for SevenZ<'a> {
    fn next(&mut self, budget: &Budget) -> Next<'a> {
        if let Some(next) = self.queue.pop_front() {
            return next;
        }
        if self.block >= self.archive.blocks.len() {
            return Next::End;
        }
        self.decode_block(budget);
        self.queue.pop_front().unwrap_or(Next::Pending)
    }
}

#[cfg(test)]
mod tests;
