//! RAR archives (RAR 1.5 to 5), read with the `unrar` crate, which wraps RARLAB's
//! C++ unrar library. No maintained pure-Rust RAR decoder exists.
//!
//! The library opens archives by path only. No temporary file is written: the bytes
//! are copied into an anonymous memory file (`memfd_create`, never on disk, gone when
//! the unpacker drops it) and the library opens `/proc/self/fd/N`.
//!
//! Multi-volume archives are refused ([`Skip::Unsupported`]) at open, and a member
//! split into another volume ends the archive: the library would open the "next
//! volume" by a name made from `/proc/self/fd/N`, another descriptor of this
//! process. Other limits: the library extracts a member in one call (not a chunk per
//! call) into a vector; its size is checked against the budget from the header
//! first (the library writes no more than the header's size). Encrypted members are
//! [`Skip::PasswordProtected`], an archive with encrypted headers cannot be opened
//! (the same reason). In a solid archive, skipping a member still decodes it. The
//! ratio guard compares the member's size with the whole archive's.

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
    Ok(Box::new(Rar {
        archive: Some(archive),
        packed: data.len() as u64,
        _memfd: memfd,
    }))
}

impl<'a> Unpacker<'a> for Rar {
    fn next(&mut self, budget: &Budget) -> Next<'a> {
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
        let refused = if !header.is_file() {
            Some(None)
        } else if header.is_encrypted() {
            Some(Some(Skip::PasswordProtected))
        } else if size > budget.max_object {
            Some(Some(Skip::TooLarge))
        } else if budget.max_ratio > 0
            && size > RATIO_FLOOR
            && size / self.packed.max(1) > budget.max_ratio
        {
            Some(Some(Skip::RatioExceeded))
        } else {
            None
        };
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
    fn no_panic_on_damaged_input() {
        fuzz(VERSION, 300, open);
        fuzz(SOLID, 100, open);
    }
}
