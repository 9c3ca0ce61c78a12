use super::*;
use std::path::Path;
use std::process::Command;

const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Drains an unpacker: everything but `Pending`/`End`.
fn drain<'a>(mut u: Box<dyn Unpacker<'a> + 'a>, budget: Budget) -> Vec<Next<'a>> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        match u.next(&budget) {
            Next::Pending => {}
            Next::End => return out,
            n => out.push(n),
        }
    }
    panic!("the unpacker did not terminate");
}

fn objects<'a>(got: &'a [Next<'a>]) -> Vec<(&'a str, &'a [u8], Option<Skip>)> {
    got.iter()
        .map(|n| match n {
            Next::Object(c) => (c.name.as_str(), &*c.data, c.damaged),
            other => panic!("not an object: {other:?}"),
        })
        .collect()
}

/// Runs `7z a <args> out.7z <inputs>` in `dir` and returns the archive.
fn seven_zip(dir: &Path, args: &[&str], inputs: &[&str]) -> Vec<u8> {
    let out = dir.join("out.7z");
    let _ = std::fs::remove_file(&out);
    let status = Command::new("7z")
        .arg("a")
        .args(args)
        .arg(&out)
        .args(inputs)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("7z");
    assert!(status.success(), "7z {args:?}");
    std::fs::read(out).unwrap()
}

fn text() -> Vec<u8> {
    b"some text, long enough to be compressed by every method. ".repeat(200)
}

/// `folder/eicar`, `folder/sub/text.txt`, an empty file and an empty directory.
fn tree(dir: &Path) -> Vec<u8> {
    std::fs::create_dir_all(dir.join("folder/sub")).unwrap();
    std::fs::create_dir_all(dir.join("folder/empty_dir")).unwrap();
    std::fs::write(dir.join("folder/eicar"), EICAR).unwrap();
    let text = text();
    std::fs::write(dir.join("folder/sub/text.txt"), &text).unwrap();
    std::fs::write(dir.join("folder/empty"), b"").unwrap();
    text
}

#[test]
fn methods_and_solidity_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let text = tree(dir.path());
    for args in [
        &[][..],
        &["-ms=off"],
        &["-m0=BZip2"],
        &["-m0=PPMd"],
        &["-m0=Copy"],
        &["-m0=Deflate"],
        &["-m0=LZMA", "-mf=BCJ"],
    ] {
        let archive = seven_zip(dir.path(), args, &["folder"]);
        let got = drain(open(Blob::borrowed(&archive)).unwrap(), Budget::default());
        let mut objects = objects(&got);
        objects.sort_by_key(|o| o.0);
        assert_eq!(
            objects,
            [
                ("folder/eicar", EICAR, None),
                ("folder/sub/text.txt", &text[..], None)
            ],
            "{args:?}"
        );
    }
}

#[test]
fn a_method_without_a_decoder_is_unsupported() {
    // sevenz-rust2 has no Deflate64 decoder.
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let archive = seven_zip(dir.path(), &["-m0=Deflate64", "-ms=off"], &["folder"]);
    let got = drain(open(Blob::borrowed(&archive)).unwrap(), Budget::default());
    assert_eq!(got.len(), 2, "{got:?}");
    for n in &got {
        assert!(
            matches!(
                n,
                Next::Skipped {
                    reason: Skip::Unsupported,
                    ..
                }
            ),
            "{n:?}"
        );
    }
}

#[test]
fn encrypted_archives_are_password_protected() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let content = seven_zip(dir.path(), &["-psecret"], &["folder"]);
    let got = drain(open(Blob::borrowed(&content)).unwrap(), Budget::default());
    assert_eq!(got.len(), 2, "{got:?}");
    for n in &got {
        assert!(
            matches!(
                n,
                Next::Skipped {
                    reason: Skip::PasswordProtected,
                    name
                } if name.starts_with("folder/")
            ),
            "{n:?}"
        );
    }
    let headers = seven_zip(dir.path(), &["-psecret", "-mhe=on"], &["folder"]);
    assert_eq!(
        open(Blob::borrowed(&headers)).err(),
        Some(Skip::PasswordProtected)
    );
}

#[test]
fn a_bomb_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("zeros"), vec![0u8; 30 << 20]).unwrap();
    std::fs::write(dir.path().join("small"), EICAR).unwrap();
    let archive = seven_zip(dir.path(), &["-ms=off"], &["zeros", "small"]);
    let ratio = Budget {
        max_ratio: 100,
        ..Budget::default()
    };
    let small = Budget {
        max_object: 1 << 20,
        ..Budget::default()
    };
    for (budget, why) in [(ratio, Skip::RatioExceeded), (small, Skip::TooLarge)] {
        let got = drain(open(Blob::borrowed(&archive)).unwrap(), budget);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got.iter()
                .any(|n| matches!(n, Next::Skipped { name, reason }
                if name == "zeros" && *reason == why)),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|n| matches!(n, Next::Object(c) if &*c.data == EICAR)),
            "{got:?}"
        );
    }
}

#[test]
fn a_solid_block_larger_than_max_object_is_read_in_parts() {
    let dir = tempfile::tempdir().unwrap();
    let mut want = Vec::new();
    for f in 0..5u32 {
        let data: Vec<u8> = (0..1_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(f) >> 13) as u8)
            .collect();
        let name = format!("f{f}");
        std::fs::write(dir.path().join(&name), &data).unwrap();
        want.push((name, data));
    }
    let names: Vec<&str> = want.iter().map(|(n, _)| n.as_str()).collect();
    let archive = seven_zip(dir.path(), &["-ms=on"], &names);
    let budget = Budget {
        max_object: 2_500_000,
        ..Budget::default()
    };
    let mut u = open(Blob::borrowed(&archive)).unwrap();
    let mut got = Vec::new();
    loop {
        match u.next(&budget) {
            Next::Pending => {}
            Next::End => break,
            Next::Object(c) => {
                assert!(c.data.len() as u64 <= budget.max_object);
                got.push((c.name, c.data.to_vec()));
            }
            other => panic!("{other:?}"),
        }
    }
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn damage_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let text = tree(dir.path());
    let archive = seven_zip(dir.path(), &["-m0=Copy"], &["folder"]);
    // Overwrite a stored byte of the text: it fails its CRC, is scanned all the same.
    let mut bad = archive.clone();
    let at = memchr::memmem::find(&bad, &text[..64]).unwrap() + 10;
    bad[at] ^= 0x55;
    let got = drain(open(Blob::borrowed(&bad)).unwrap(), Budget::default());
    let text_damaged = got.iter().any(|n| match n {
        Next::Object(c) => c.name == "folder/sub/text.txt" && c.damaged == Some(Skip::Corrupted),
        Next::Skipped { name, reason } => {
            name == "folder/sub/text.txt" && *reason == Skip::Corrupted
        }
        _ => false,
    });
    assert!(text_damaged, "{got:?}");
    assert_eq!(
        open(Blob::borrowed(&archive[..archive.len() - 10])).err(),
        Some(Skip::Corrupted)
    );
    assert_eq!(
        open(Blob::borrowed(b"7z\xbc\xaf\x27\x1c garbage")).err(),
        Some(Skip::Corrupted)
    );
}

#[test]
fn truncations_and_byte_flips_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let mut samples = Vec::new();
    for args in [
        &[][..],
        &["-ms=off", "-m0=BZip2"],
        &["-m0=Copy"],
        &["-psecret"],
    ] {
        let archive = seven_zip(dir.path(), args, &["folder"]);
        samples.push(archive);
    }
    for sample in &samples {
        crate::formats::testutil::fuzz(sample, 600 / samples.len(), |b| open(b));
    }
}

/// A sparse file of `len` zero bytes (nothing written).
fn zeros(path: &Path, len: u64) {
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

#[test]
fn a_solid_block_bomb_is_refused_without_decoding() {
    // 256 files of 1 MiB of zeros in one solid block: a few kB packed, and no member
    // over RATIO_FLOOR (the guard per member never applies); only the block as a
    // whole gives the ratio away.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bomb")).unwrap();
    for f in 0..256 {
        zeros(&dir.path().join(format!("bomb/z{f:03}")), RATIO_FLOOR);
    }
    // One solid block (`-ms=on` alone splits it at `-mx=1`).
    let archive = seven_zip(dir.path(), &["-ms=2g", "-mx=1", "-mmt=2"], &["bomb"]);
    assert!(archive.len() < 1 << 20, "{} bytes", archive.len());
    let blocks = Archive::read(&mut Cursor::new(&archive), &Password::empty())
        .unwrap()
        .blocks
        .len();
    assert_eq!(blocks, 1);
    let budget = Budget {
        max_object: 100 << 20,
        max_ratio: 100,
        chunk: 1 << 20,
    };
    let started = std::time::Instant::now();
    let got = drain(open(Blob::borrowed(&archive)).unwrap(), budget);
    let elapsed = started.elapsed();
    assert_eq!(got.len(), 256, "{got:?}");
    for n in &got {
        assert!(
            matches!(
                n,
                Next::Skipped {
                    reason: Skip::RatioExceeded,
                    ..
                }
            ),
            "{n:?}"
        );
    }
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn a_too_large_member_ends_its_solid_block_without_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let text = text();
    let names = ["a.bin", "big.bin", "c.bin", "d.bin"];
    for name in names {
        if name == "big.bin" {
            zeros(&dir.path().join(name), 256 << 20);
        } else {
            std::fs::write(dir.path().join(name), [name.as_bytes(), &text].concat()).unwrap();
        }
    }
    let archive = seven_zip(dir.path(), &["-ms=2g", "-mx=1", "-mmt=2"], &names);
    // The order the archive holds them in, in one solid block.
    let read = Archive::read(&mut Cursor::new(&archive), &Password::empty()).unwrap();
    assert_eq!(read.blocks.len(), 1);
    let order: Vec<String> = read.files.iter().map(|f| f.name.clone()).collect();
    let big = order.iter().position(|n| n == "big.bin").unwrap();
    let budget = Budget {
        max_object: 1 << 20,
        max_ratio: 0,
        chunk: 1 << 20,
    };
    let started = std::time::Instant::now();
    let got = drain(open(Blob::borrowed(&archive)).unwrap(), budget);
    let elapsed = started.elapsed();
    assert_eq!(got.len(), names.len(), "{got:?}");
    for (i, name) in order.iter().enumerate() {
        let n = got
            .iter()
            .find(|n| match n {
                Next::Object(c) => &c.name == name,
                Next::Skipped { name: s, .. } => s == name,
                _ => false,
            })
            .unwrap_or_else(|| panic!("{name}: {got:?}"));
        if i < big {
            assert!(
                matches!(n, Next::Object(c) if c.data.ends_with(&text)),
                "{n:?}"
            );
        } else {
            assert!(
                matches!(
                    n,
                    Next::Skipped {
                        reason: Skip::TooLarge,
                        ..
                    }
                ),
                "{n:?}"
            );
        }
    }
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
}
