//! RAR archives (RAR 1.5 to 5), read with the `unrar` crate, which wraps RARLAB's
//! C++ unrar library. No maintained pure-Rust RAR decoder exists.
//!
//! The library opens archives by path only. No temporary file is written: the bytes
//! are copied into an anonymous memory file (`memfd_create`, never on disk, gone when
//! the unpacker drops it) and the library opens `/proc/self/fd/N`. That copy costs
//! one more archive's size of memory (shmem pages, charged to this process's memory
//! cgroup) for as long as the archive is being read.
//!
//! Multi-volume archives are refused ([`Skip::Unsupported`]) at open, and a member
//! split into another volume ends the archive: the library would open the "next
//! volume" by a name made from `/proc/self/fd/N`, another descriptor of this
//! process. Other limits: the library extracts a member in one call (not a chunk per
//! call) into a vector; its size is checked against the budget from the header
//! first (the library writes no more than the header's size). Encrypted members are
//! [`Skip::PasswordProtected`], an archive with encrypted headers cannot be opened
//! (the same reason).
//!
//! The library does not expose a member's packed size, so the ratio guard is
//! cumulative: the declared sizes of the members extracted so far, plus this one's,
//! against the whole archive's size (once the sum is over [`RATIO_FLOOR`]). A member
//! that would exceed it is [`Skip::RatioExceeded`]; in a non-solid archive it is
//! skipped undecoded and the next ones are still read. In a solid archive, skipping a
//! member still decodes it (later members depend on it), so a member refused for its
//! size or the ratio guard ends the archive: it is reported, then the rest of the
//! archive is [`Next::Broken`] with the same reason.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;

use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use unrar::{CursorBeforeHeader, OpenArchive, Process, VolumeInfo};

use super::unpack::{Budget, Child, Next, Skip, Unpacker, RATIO_FLOOR};
use super::Blob;

/// A RAR archive being read.
pub struct Rar {
    /// The archive, positioned before the next header; `None` once finished.
    archive: Option<OpenArchive<Process, CursorBeforeHeader>>,
    /// The archive's size, for the ratio guard.
    packed: u64,
    /// Declared sizes of the members extracted so far, for the ratio guard.
    extracted: u64,
    /// Whether the archive is solid (a skipped member is decoded all the same).
    solid: bool,
    /// Set when a solid archive was stopped: the reason the rest is not read.
    stopped: Option<Skip>,
    /// The memory file the library reads; kept open while it does.
    _memfd: File,
}

/// Opens a RAR archive.
pub fn open<'a>(data: Blob<'a>) -> Result<Box<dyn Unpacker<'a> + 'a>, Skip> {
    let fd = memfd_create(c"ringscan-rar", MemFdCreateFlag::MFD_CLOEXEC)
        .map_err(|_| Skip::Unsupported)?;
    let mut memfd = File::from(fd);
    memfd.write_all(&data).map_err(|_| Skip::TooLarge)?;
    let path = format!("/proc/self/fd/{}", memfd.as_raw_fd());
    let archive = unrar::Archive::new(&path)
        .open_for_processing()
        .map_err(|e| match e.code {
            unrar::error::Code::MissingPassword | unrar::error::Code::BadPassword => {
                Skip::PasswordProtected
            }
            unrar::error::Code::NoMemory => Skip::TooLarge,
            _ => Skip::Corrupted,
        })?;
    if archive.volume_info() != VolumeInfo::None {
        return Err(Skip::Unsupported);
    }
    let solid = archive.is_solid();
    Ok(Box::new(Rar {
        archive: Some(archive),
        packed: data.len() as u64,
        extracted: 0,
        solid,
        stopped: None,
        _memfd: memfd,
    }))
}

impl<'a> Unpacker<'a> for Rar {
    fn next(&mut self, budget: &Budget) -> Next<'a> {
        if let Some(reason) = self.stopped.take() {
            return Next::Broken(reason);
        }
        let Some(archive) = self.archive.take() else {
            return Next::End;
        };
        let entry = match archive.read_header() {
            Ok(Some(entry)) => entry,
            Ok(None) => return Next::End,
            Err(_) => return Next::Broken(Skip::Corrupted),
        };
        let header = entry.entry();
        let name = header.filename.to_string_lossy().into_owned();
        if header.is_split() {
            return Next::Broken(Skip::Unsupported);
        }
        let size = header.unpacked_size;
        let total = self.extracted.saturating_add(size);
        let refused = if !header.is_file() {
            Some(None)
        } else if header.is_encrypted() {
            Some(Some(Skip::PasswordProtected))
        } else if size > budget.max_object {
            Some(Some(Skip::TooLarge))
        } else if budget.max_ratio > 0
            && total > RATIO_FLOOR
            && total / self.packed.max(1) > budget.max_ratio
        {
            Some(Some(Skip::RatioExceeded))
        } else {
            None
        };
        if let Some(Some(reason @ (Skip::TooLarge | Skip::RatioExceeded))) = refused {
            if self.solid {
                // Skipping it would decode it; the members after it need it decoded.
                self.stopped = Some(reason);
                return Next::Skipped { name, reason };
            }
        }
        if let Some(reason) = refused {
            return match entry.skip() {
                Ok(archive) => {
                    self.archive = Some(archive);
                    match reason {
                        Some(reason) => Next::Skipped { name, reason },
                        None => Next::Pending,
                    }
                }
                Err(_) => Next::Broken(Skip::Corrupted),
            };
        }
        match entry.read() {
            Ok((bytes, archive)) => {
                self.archive = Some(archive);
                self.extracted = total;
                Next::Object(Child::new(name, Blob::owned(bytes)))
            }
            // The library keeps what it decoded to itself on an error (bad CRC,
            // damaged data); the rest of the archive is not read.
            Err(_) => Next::Skipped {
                name,
                reason: Skip::Corrupted,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tar::tests::{drain, fuzz};
    use super::*;

    /// From the `unrar` crate's test data (unrar-0.5.8/data/).
    const VERSION: &[u8] = include_bytes!("../../bench-corpus/fixtures/rar/version.rar");
    const CRYPTED: &[u8] = include_bytes!("../../bench-corpus/fixtures/rar/crypted.rar");
    const SOLID: &[u8] = include_bytes!("../../bench-corpus/fixtures/rar/solid.rar");

    #[test]
    fn members_from_memory() {
        let got = drain(open(Blob::borrowed(VERSION)).unwrap(), &Budget::default());
        match got.as_slice() {
            [Next::Object(c)] => {
                assert_eq!(c.name, "VERSION");
                assert_eq!(&*c.data, b"unrar-0.4.0");
            }
            other => panic!("{other:?}"),
        }
        let got = drain(open(Blob::borrowed(SOLID)).unwrap(), &Budget::default());
        assert!(!got.is_empty());
        assert!(
            got.iter()
                .all(|n| matches!(n, Next::Object(c) if c.damaged.is_none())),
            "{got:?}"
        );
    }

    #[test]
    fn encrypted_and_limits() {
        let got = drain(open(Blob::borrowed(CRYPTED)).unwrap(), &Budget::default());
        assert!(!got.is_empty());
        assert!(
            got.iter().any(|n| matches!(
                n,
                Next::Skipped {
                    reason: Skip::PasswordProtected,
                    ..
                }
            )),
            "{got:?}"
        );
        let small = Budget {
            max_object: 3,
            ..Budget::default()
        };
        let got = drain(open(Blob::borrowed(VERSION)).unwrap(), &small);
        assert!(
            matches!(
                got.as_slice(),
                [Next::Skipped {
                    reason: Skip::TooLarge,
                    ..
                }]
            ),
            "{got:?}"
        );
    }

    #[test]
    fn a_refused_member_of_a_solid_archive_ends_it() {
        let small = Budget {
            max_object: 3,
            ..Budget::default()
        };
        let got = drain(open(Blob::borrowed(SOLID)).unwrap(), &small);
        assert!(
            matches!(
                got.as_slice(),
                [
                    Next::Skipped {
                        reason: Skip::TooLarge,
                        ..
                    },
                    Next::Broken(Skip::TooLarge)
                ]
            ),
            "{got:?}"
        );
    }

    #[test]
    fn no_panic_on_damaged_input() {
        fuzz(VERSION, 300, open);
        fuzz(SOLID, 100, open);
    }
}
