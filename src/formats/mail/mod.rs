//! Mail: one RFC 822/MIME message, an mbox of messages, and uuencoded text.
//!
//! - A message is parsed once when opened, with `mail-parser` (Stalwart's, best-effort
//!   on malformed MIME, never panics by its own account). Only the part tree and the
//!   byte ranges of the leaf parts are kept (its `Message` borrows the input and holds
//!   every part decoded, charset-converted for text); each leaf is then decoded again
//!   from its range when [`Unpacker::next`] reaches it, by the transfer decoders here
//!   (base64 and quoted-printable, both tolerant of junk), so the children are the
//!   exact bytes sent, not text converted to UTF-8. A part without transfer encoding is
//!   a zero-copy slice of the message.
//! - Children are named after the attachment's file name, otherwise after the part's
//!   IMAP section number (`part-1`, `part-2.1`); names are made unique with `~2`, `~3`.
//! - A nested `message/rfc822` part is one child, the nested message's bytes; the scan
//!   driver recognizes it as mail and recurses into it (not flattened here).
//! - Uuencoded blocks in text parts (and in uuencoded text, [`Format::UuEncoded`]) are
//!   children too, decoded by the hand-written [`uu`] module.
//! - An mbox is split on `From ` lines that start the data or follow an empty line;
//!   each message is a zero-copy slice named `message-N` (`>From ` is not unescaped).
//!
//! Limits: a decoded child larger than `budget.max_object` is skipped as too large;
//! each child is decoded in one call (bounded by that limit), not in chunks; headers
//! are not scanned as children (the driver scans the message itself).

pub mod uu;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Range;

use mail_parser::{Encoding, Message, MessageParser, MimeHeaders, PartType};

use super::blob::Blob;
use super::codec::{hex_val, Sextets};
use super::unpack::{Budget, Child, Next, Skip, Unpacker};
use super::Format;

/// Opens a mail message, an mbox or uuencoded text.
pub fn open<'a>(format: Format, data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    match format {
        Format::Mail => Ok(Box::new(Mime::open(data)?)),
        Format::Mbox => Ok(Box::new(Mbox { data, pos: 0, n: 0 })),
        Format::UuEncoded => {
            let mut names = Names::default();
            let mut queue = VecDeque::new();
            queue_uu(&data, &mut names, &mut queue);
            if queue.is_empty() {
                return Err(Skip::Corrupted);
            }
            Ok(Box::new(UuText { queue }))
        }
        _ => Err(Skip::Unsupported),
    }
}

/// Transfer encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transfer {
    Plain,
    Base64,
    QuotedPrintable,
}

/// A leaf part still to be extracted.
#[derive(Debug)]
struct Leaf {
    name: String,
    range: Range<usize>,
    transfer: Transfer,
    /// A `text/*` part: searched for uuencoded blocks.
    text: bool,
}

/// A uuencoded block still to be extracted.
struct UuJob<'a> {
    name: String,
    text: Blob<'a>,
    block: uu::Block,
}

/// Unique child names.
#[derive(Default)]
struct Names {
    taken: HashSet<String>,
    /// The last suffix tried per base name, so thousands of parts with one name cost
    /// linear time, not quadratic.
    suffix: HashMap<String, usize>,
}

impl Names {
    fn unique(&mut self, name: &str) -> String {
        // The driver joins names with `//`; keep a name one path element.
        let clean = super::codec::path_element(name);
        let clean = clean.trim();
        let base = if clean.is_empty() { "unnamed" } else { clean };
        let mut candidate = base.to_owned();
        let n = self.suffix.entry(base.to_owned()).or_insert(1);
        while !self.taken.insert(candidate.clone()) {
            *n += 1;
            candidate = format!("{base}~{n}");
        }
        candidate
    }
}

fn queue_uu<'a>(text: &Blob<'a>, names: &mut Names, queue: &mut VecDeque<UuJob<'a>>) {
    for block in uu::blocks(text) {
        queue.push_back(UuJob {
            name: names.unique(&block.name),
            text: text.clone(),
            block,
        });
    }
}

fn next_uu<'a>(job: UuJob<'a>, budget: &Budget) -> Next<'a> {
    match uu::decode(&job.text[job.block.lines.clone()], budget.max_object) {
        Some(bytes) => Next::Object(Child {
            name: job.name,
            data: Blob::owned(bytes),
            damaged: (!job.block.complete).then_some(Skip::Corrupted),
        }),
        None => Next::Skipped {
            name: job.name,
            reason: Skip::TooLarge,
        },
    }
}

/// Uuencoded text: its blocks.
struct UuText<'a> {
    queue: VecDeque<UuJob<'a>>,
}

impl<'a> Unpacker<'a> for UuText<'a> {
    fn next(&mut self, budget: &Budget) -> Next<'a> {
        match self.queue.pop_front() {
            Some(job) => next_uu(job, budget),
            None => Next::End,
        }
    }
}

/// A MIME message.
struct Mime<'a> {
    data: Blob<'a>,
    leaves: VecDeque<Leaf>,
    uu: VecDeque<UuJob<'a>>,
    names: Names,
}

impl<'a> Mime<'a> {
    fn open(data: Blob<'a>) -> Result<Self, Skip> {
        let mut names = Names::default();
        // `mail-parser` promises not to panic; should it anyway on some input, that
        // message is reported corrupted rather than failing the whole scan.
        let leaves = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            parse_leaves(&data, &mut names)
        }))
        .ok()
        .flatten()
        .ok_or(Skip::Corrupted)?;
        Ok(Mime {
            data,
            leaves,
            uu: VecDeque::new(),
            names,
        })
    }
}

/// The leaf parts of the message in `data`, in order; `None` when nothing parses.
fn parse_leaves(data: &[u8], names: &mut Names) -> Option<VecDeque<Leaf>> {
    let mut leaves = VecDeque::new();
    let message = MessageParser::new().parse(data)?;
    let parts = &message.parts;
    if parts.is_empty() {
        drop_flat(message);
        return None;
    }
    // Walk the part tree from the root (part 0) in order, without recursion (a
    // message may nest multiparts thousands deep); child ids only ever grow, which
    // rules out cycles.
    let mut stack: Vec<(usize, Vec<usize>)> = vec![(0, vec![1])];
    while let Some((id, path)) = stack.pop() {
        let Some(part) = parts.get(id) else { continue };
        if let PartType::Multipart(children) = &part.body {
            for (i, &child) in children.iter().enumerate().rev() {
                let child = child as usize;
                if child > id {
                    let mut p = path.clone();
                    p.push(i + 1);
                    stack.push((child, p));
                }
            }
            continue;
        }
        let len = data.len();
        let start = (part.offset_body as usize).min(len);
        let mut end = part.offset_end as usize;
        if end < start || end > len {
            end = len;
        }
        let transfer = match part.encoding {
            Encoding::Base64 => Transfer::Base64,
            Encoding::QuotedPrintable => Transfer::QuotedPrintable,
            Encoding::None => Transfer::Plain,
        };
        let section = if id == 0 && path.len() == 1 {
            "part-1".to_owned()
        } else {
            let rest: Vec<String> = path[1..].iter().map(|n| n.to_string()).collect();
            format!("part-{}", rest.join("."))
        };
        let name = part.attachment_name().map(str::to_owned).unwrap_or(section);
        leaves.push_back(Leaf {
            name: names.unique(&name),
            range: start..end,
            transfer,
            text: matches!(part.body, PartType::Text(_) | PartType::Html(_)),
        });
    }
    drop_flat(message);
    Some(leaves)
}

impl<'a> Unpacker<'a> for Mime<'a> {
    fn next(&mut self, budget: &Budget) -> Next<'a> {
        loop {
            if let Some(job) = self.uu.pop_front() {
                return next_uu(job, budget);
            }
            let Some(leaf) = self.leaves.pop_front() else {
                return Next::End;
            };
            let raw = self.data.slice(leaf.range.clone());
            let decoded = match leaf.transfer {
                Transfer::Plain if raw.len() as u64 > budget.max_object => None,
                Transfer::Plain => Some(raw),
                Transfer::Base64 => base64_decode(&raw, budget.max_object).map(Blob::owned),
                Transfer::QuotedPrintable => qp_decode(&raw, budget.max_object).map(Blob::owned),
            };
            let Some(decoded) = decoded else {
                return Next::Skipped {
                    name: leaf.name,
                    reason: Skip::TooLarge,
                };
            };
            if decoded.is_empty() {
                continue;
            }
            // A part that is itself recognized as uuencoded text is opened as such by
            // the driver; extracting its blocks here too would report them twice.
            if leaf.text && super::recognize(&decoded) != super::Format::UuEncoded {
                queue_uu(&decoded, &mut self.names, &mut self.uu);
            }
            return Next::Object(Child::new(leaf.name, decoded));
        }
    }
}

/// Drops a parsed message without recursion: `mail-parser` nests a message/rfc822
/// part's message inside its part, and the compiler's recursive drop overflows the
/// stack on some ten thousand levels (a few hundred kilobytes of headers).
fn drop_flat(message: Message<'_>) {
    let mut work = vec![message];
    while let Some(mut m) = work.pop() {
        for part in &mut m.parts {
            if let PartType::Message(inner) = std::mem::take(&mut part.body) {
                work.push(inner);
            }
        }
    }
}

/// An mbox: its messages, split lazily.
struct Mbox<'a> {
    data: Blob<'a>,
    pos: usize,
    n: usize,
}

impl Mbox<'_> {
    /// The start of the next `From ` separator line at or after `from` that begins the
    /// data or follows an empty line.
    fn separator(&self, from: usize) -> Option<usize> {
        let data = &self.data[..];
        if from == 0 && data.starts_with(b"From ") {
            return Some(0);
        }
        let mut at = from;
        while let Some(i) = memchr::memmem::find(&data[at..], b"\nFrom ") {
            let nl = at + i;
            let before = &data[..nl];
            if before.ends_with(b"\n") || before.ends_with(b"\n\r") || nl == 0 {
                return Some(nl + 1);
            }
            at = nl + 1;
        }
        None
    }
}

impl<'a> Unpacker<'a> for Mbox<'a> {
    fn next(&mut self, _budget: &Budget) -> Next<'a> {
        loop {
            let len = self.data.len();
            if self.pos >= len {
                return Next::End;
            }
            // Skip the `From ` line that starts this message, if any.
            let mut start = self.pos;
            if self.data[start..].starts_with(b"From ") {
                start = memchr::memchr(b'\n', &self.data[start..]).map_or(len, |i| start + i + 1);
            }
            let end = self.separator(start).unwrap_or(len);
            self.pos = end;
            let message = self.data.slice(start..end);
            if message.trim_ascii().is_empty() {
                continue;
            }
            self.n += 1;
            return Next::Object(Child::new(format!("message-{}", self.n), message));
        }
    }
}

const B64: [u8; 256] = {
    let mut t = [255u8; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Base64, skipping every byte outside the alphabet (line ends, junk mailers or
/// malware insert); `=` ends a group, and decoding goes on after it (concatenated
/// encodings). `None` when the output would pass `max`.
pub(crate) fn base64_decode(src: &[u8], max: u64) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity((src.len() / 4 * 3).min(max as usize));
    let mut sextets = Sextets::default();
    for &c in src {
        let v = B64[c as usize];
        if v == 255 {
            if c == b'=' {
                sextets.reset();
            }
            continue;
        }
        if let Some(byte) = sextets.push(v) {
            if out.len() as u64 >= max {
                return None;
            }
            out.push(byte);
        }
    }
    Some(out)
}

/// Quoted-printable: `=XX` (either case) is a byte, `=` at a line end a soft break,
/// any other `=` itself. `None` when the output would pass `max`.
pub(crate) fn qp_decode(src: &[u8], max: u64) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(src.len().min(max as usize));
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        if out.len() as u64 >= max {
            return None;
        }
        if c != b'=' {
            out.push(c);
            i += 1;
            continue;
        }
        let rest = &src[i + 1..];
        if let (Some(&h), Some(&l)) = (rest.first(), rest.get(1)) {
            if let (Some(h), Some(l)) = (hex_val(h), hex_val(l)) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        // A soft line break: `=`, optional trailing blanks, then the line end.
        let blanks = rest
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        match &rest[blanks..] {
            [b'\r', b'\n', ..] => i += 1 + blanks + 2,
            [b'\n', ..] => i += 1 + blanks + 1,
            [] => i += 1 + blanks,
            _ => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    Some(out)
}
