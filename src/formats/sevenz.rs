//! 7z archives, read with `sevenz-rust2` (headers, LZMA/LZMA2/BZip2/Deflate/PPMd/BCJ
//! filters, AES detection).
//!
//! - The headers are read at open; encrypted headers (`-mhe=on`) make the archive
//!   [`Skip::PasswordProtected`], damaged ones [`Skip::Corrupted`]. Decoders run on one
//!   thread; a decoder's dictionary or model, and the header buffer, are limited to
//!   [`MEMORY_LIMIT_KB`] (about 64 MiB: the LZMA dictionary `7z -mx=9` writes; a block
//!   asking for more, such as PPMd at `-mx=9`, is [`Skip::TooLarge`]). The limit is
//!   fixed (the headers are read before any budget is known), not scaled with it.
//! - The crate decodes a block (a solid run of members) through a callback, which
//!   cannot be suspended across calls: one [`Unpacker::next`] decodes one block, or the
//!   part of it that fits in `max_object`, and queues its members. A block whose
//!   members add up to more than that is stopped there and decoded again from its
//!   start on the next call, skipping the members already handed out (so memory stays
//!   at about `max_object` plus one member, at the cost of decoding a large solid block
//!   more than once: the crate decodes, and discards, every member before the ones
//!   wanted).
//! - Before a block is decoded, the sum of its members' declared sizes is checked
//!   against the ratio guard with the block's packed size: over it, every member of
//!   the block is [`Skip::RatioExceeded`] and nothing is decoded (a small archive with
//!   a solid block of gigabytes of zeros is refused at once).
//! - Each member is bounded by `max_object`: a member declared larger is
//!   [`Skip::TooLarge`] without being decoded, and ends its block (in a solid block
//!   the members after it cannot be reached without decoding it; they are reported
//!   with the same reason). What is actually decoded is bounded by the declared size
//!   (the crate's reader stops there), `max_object` and the ratio guard; a member
//!   refused while decoding ends its block the same way.
//! - Members of an encrypted block are [`Skip::PasswordProtected`]; a block that fails
//!   to decode reports its remaining members [`Skip::Corrupted`], with a member cut
//!   short (or failing its CRC) scanned as far as decoded and marked damaged.
//! - Directories, empty files and anti-items are skipped.

use std::collections::VecDeque;
use std::io::Cursor;

use sevenz_rust2::{Archive, BlockDecoder, Error, Password};

use super::unpack::{Decoded, Decoding, RATIO_FLOOR};
use super::{Blob, Budget, Child, Next, Skip, Unpacker};

/// Largest dictionary or model a decoder may allocate (a 64 MiB dictionary, what
/// `7z -mx=9` writes, plus the decoder's own state), and largest header buffer.
pub const MEMORY_LIMIT_KB: usize = 65 << 10;

/// A 7z archive being read.
pub struct SevenZ<'a> {
    source: Cursor<Blob<'a>>,
    archive: Archive,
    password: Password,
    /// Packed size of each block, for the ratio guard.
    block_packed: Vec<u64>,
    /// Sum of the declared sizes of each block's members, for the ratio guard.
    block_declared: Vec<u64>,
    /// The members (file indices, ascending) of each block.
    block_members: Vec<Vec<usize>>,
    /// Members decoded and not yet handed out.
    queue: VecDeque<Next<'a>>,
    /// The block to decode next.
    block: usize,
    /// Members (positions in the block) of that block already handled.
    done_in_block: usize,
}

/// Opens a 7z archive.
pub fn open<'a>(data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    // An archive with no files is the 32-byte signature header with a next-header
    // size of 0 (what 7-Zip writes); the crate calls that an error.
    if data.len() == 32 && data[12..32].iter().all(|&b| b == 0) {
        return Ok(Box::new(Empty));
    }
    let mut source = data.reader();
    let password = Password::empty();
    let archive =
        Archive::read_with_memory_limit(&mut source, &password, MEMORY_LIMIT_KB).map_err(reason)?;
    let blocks = archive.blocks.len();
    let mut block_packed = vec![0u64; blocks];
    let mut block_declared = vec![0u64; blocks];
    let mut block_members = vec![Vec::new(); blocks];
    for (i, (file, block)) in archive
        .files
        .iter()
        .zip(&archive.stream_map.file_block_index)
        .enumerate()
    {
        let Some(b) = *block else { continue };
        if let (Some(packed), Some(declared), Some(members)) = (
            block_packed.get_mut(b),
            block_declared.get_mut(b),
            block_members.get_mut(b),
        ) {
            *packed = packed.saturating_add(file.compressed_size);
            *declared = declared.saturating_add(file.size);
            members.push(i);
        }
    }
    Ok(Box::new(SevenZ {
        source,
        archive,
        password,
        block_packed,
        block_declared,
        block_members,
        queue: VecDeque::new(),
        block: 0,
        done_in_block: 0,
    }))
}

/// A 7z archive with no files.
struct Empty;

impl<'a> Unpacker<'a> for Empty {
    fn next(&mut self, _budget: &Budget) -> Next<'a> {
        Next::End
    }
}

/// The reason an error from the crate means.
fn reason(e: Error) -> Skip {
    match e {
        Error::PasswordRequired | Error::MaybeBadPassword(_) => Skip::PasswordProtected,
        Error::UnsupportedCompressionMethod(_) | Error::ExternalUnsupported => Skip::Unsupported,
        Error::MaxMemLimited { .. } => Skip::TooLarge,
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
        let members: &[usize] = self.block_members.get(b).map_or(&[], |m| m.as_slice());
        let name_of = |archive: &Archive, i: usize| {
            archive
                .files
                .get(i)
                .map(|f| f.name.clone())
                .unwrap_or_default()
        };
        // The rest of the block (from position `from`), reported with `why`.
        let rest = |archive: &Archive, from: usize, why: Skip, queue: &mut VecDeque<Next<'a>>| {
            for &i in members {
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
        let declared = self.block_declared.get(b).copied().unwrap_or(0);
        let done = self.done_in_block;
        // The whole block against the ratio guard, before anything of it is decoded.
        if budget.max_ratio > 0
            && declared > RATIO_FLOOR
            && declared / packed.max(1) > budget.max_ratio
        {
            rest(&self.archive, done, Skip::RatioExceeded, &mut self.queue);
            self.block += 1;
            self.done_in_block = 0;
            return;
        }
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
            // Refused without decoding; the members after it in the block could only
            // be reached by decoding it, so the block ends here.
            if entry.size > budget.max_object {
                out.push(Next::Skipped {
                    name,
                    reason: Skip::TooLarge,
                });
                ended = Some((k + 1, Skip::TooLarge));
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
                // Returning `Ok(true)` would have the crate decode the rest of it.
                Decoded::Refused(why) => {
                    out.push(Next::Skipped { name, reason: why });
                    ended = Some((k + 1, why));
                    return Ok(false);
                }
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
