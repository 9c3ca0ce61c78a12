use super::*;
use std::io::Write;
use std::process::Command;

use zip::write::SimpleFileOptions;

const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Drains an unpacker: everything but `Pending`/`End`, and how many calls it took.
fn drain<'a>(mut u: Box<dyn Unpacker<'a> + 'a>, budget: Budget) -> (Vec<Next<'a>>, usize) {
    let mut out = Vec::new();
    for calls in 1..100_000 {
        match u.next(&budget) {
            Next::Pending => {}
            Next::End => return (out, calls),
            n => out.push(n),
        }
    }
    panic!("the unpacker did not terminate");
}

fn objects<'a>(got: &'a [Next<'a>]) -> Vec<(&'a str, &'a Child<'a>)> {
    got.iter()
        .map(|n| match n {
            Next::Object(c) => (c.name.as_str(), c),
            other => panic!("not an object: {other:?}"),
        })
        .collect()
}

fn build(method: CompressionMethod, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(method);
    for (name, data) in files {
        if name.ends_with('/') {
            w.add_directory(*name, options).unwrap();
        } else {
            w.start_file(*name, options).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

fn text() -> Vec<u8> {
    b"some text, long enough to be compressed by every method. ".repeat(200)
}

#[test]
fn each_method_round_trips_with_folder_names() {
    let text = text();
    let files: &[(&str, &[u8])] = &[
        ("folder/", b""),
        ("folder/eicar", EICAR),
        ("folder/sub/text.txt", &text),
    ];
    for method in [
        CompressionMethod::Stored,
        CompressionMethod::Deflated,
        CompressionMethod::Bzip2,
        CompressionMethod::Zstd,
        CompressionMethod::Xz,
    ] {
        let zip = build(method, files);
        let (got, _) = drain(open(Blob::borrowed(&zip)).unwrap(), Budget::default());
        let objects = objects(&got);
        assert_eq!(objects.len(), 2, "{method:?}: {got:?}");
        assert_eq!(objects[0].0, "folder/eicar");
        assert_eq!(&*objects[0].1.data, EICAR, "{method:?}");
        assert_eq!(objects[1].0, "folder/sub/text.txt");
        assert_eq!(&*objects[1].1.data, &text[..], "{method:?}");
        for (_, c) in &objects {
            assert_eq!(c.damaged, None, "{method:?}");
            assert_eq!(
                c.data.is_owned(),
                method != CompressionMethod::Stored,
                "{method:?}: stored members are slices of the archive"
            );
        }
    }
}

#[test]
fn a_large_member_is_decoded_a_chunk_per_call() {
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let zip = build(CompressionMethod::Deflated, &[("big", &data)]);
    let budget = Budget {
        chunk: 1 << 20,
        ..Budget::default()
    };
    let (got, calls) = drain(open(Blob::borrowed(&zip)).unwrap(), budget);
    assert_eq!(&*objects(&got)[0].1.data, &data[..]);
    assert!(calls >= 4, "{calls} calls");
}

fn tool(dir: &std::path::Path, program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(status.success(), "{program} {args:?}");
}

#[test]
fn deflate64_lzma_and_ppmd_written_by_7z() {
    let dir = tempfile::tempdir().unwrap();
    let text = text();
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    std::fs::write(dir.path().join("folder/text.txt"), &text).unwrap();
    for method in ["Deflate64", "LZMA", "PPMd"] {
        let out = format!("{method}.zip");
        tool(
            dir.path(),
            "7z",
            &["a", "-tzip", &format!("-mm={method}"), &out, "folder"],
        );
        let zip = std::fs::read(dir.path().join(&out)).unwrap();
        let (got, _) = drain(open(Blob::borrowed(&zip)).unwrap(), Budget::default());
        let objects = objects(&got);
        assert_eq!(objects.len(), 1, "{method}: {got:?}");
        assert_eq!(objects[0].0, "folder/text.txt");
        assert_eq!(&*objects[0].1.data, &text[..], "{method}");
        for end in (0..zip.len()).step_by(7) {
            if let Ok(u) = open(Blob::borrowed(&zip[..end])) {
                drain(u, Budget::default());
            }
        }
    }
}

#[test]
fn zipcrypto_and_aes_members_are_password_protected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("eicar.com"), EICAR).unwrap();
    std::fs::write(dir.path().join("clear.txt"), b"clear").unwrap();
    tool(
        dir.path(),
        "zip",
        &["-q", "-P", "secret", "out.zip", "eicar.com"],
    );
    tool(dir.path(), "zip", &["-q", "out.zip", "clear.txt"]);
    let zip = std::fs::read(dir.path().join("out.zip")).unwrap();
    let (got, _) = drain(open(Blob::borrowed(&zip)).unwrap(), Budget::default());
    match got.as_slice() {
        [Next::Skipped { name, reason }, Next::Object(clear)] => {
            assert_eq!(name, "eicar.com");
            assert_eq!(*reason, Skip::PasswordProtected);
            assert_eq!(&*clear.data, b"clear");
        }
        other => panic!("{other:?}"),
    }
    // WinZip AES, written by 7z.
    tool(
        dir.path(),
        "7z",
        &[
            "a",
            "-tzip",
            "-psecret",
            "-mem=AES256",
            "aes.zip",
            "eicar.com",
        ],
    );
    let zip = std::fs::read(dir.path().join("aes.zip")).unwrap();
    let (got, _) = drain(open(Blob::borrowed(&zip)).unwrap(), Budget::default());
    assert!(
        matches!(got.as_slice(), [Next::Skipped { name, reason: Skip::PasswordProtected }]
            if name == "eicar.com"),
        "{got:?}"
    );
}

#[test]
fn ooxml_macros_are_found_in_the_central_directory() {
    for (name, macros) in [
        ("word/vbaProject.bin", true),
        ("xl/vbaProject.bin", true),
        ("PPT/VBAPROJECT.BIN", true),
        ("word/document.xml", false),
    ] {
        let zip = build(
            CompressionMethod::Deflated,
            &[
                ("[Content_Types].xml", b"<Types/>"),
                (name, b"\xd0\xcf\x11\xe0"),
            ],
        );
        let mut u = open(Blob::borrowed(&zip)).unwrap();
        assert_eq!(u.has_macros(), macros, "{name}");
        let mut names = Vec::new();
        loop {
            match u.next(&Budget::default()) {
                Next::Object(c) => names.push(c.name),
                Next::End => break,
                Next::Pending => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            names,
            ["[Content_Types].xml", name],
            "members are still children"
        );
        assert_eq!(u.has_macros(), macros);
    }
}

/// Positions of the uncompressed-size fields (local header, central header) of the
/// first member.
fn size_fields(zip: &[u8]) -> (usize, usize) {
    let local = memchr::memmem::find(zip, b"PK\x03\x04").unwrap() + 22;
    let central = memchr::memmem::find(zip, b"PK\x01\x02").unwrap() + 24;
    (local, central)
}

#[test]
fn a_bomb_is_refused_and_memory_stays_bounded() {
    let zeros = vec![0u8; 50 << 20];
    let zip = build(CompressionMethod::Deflated, &[("zeros", &zeros)]);
    drop(zeros);
    let ratio = Budget {
        max_ratio: 100,
        ..Budget::default()
    };
    let small = Budget {
        max_object: 4 << 20,
        ..Budget::default()
    };
    let refused = |zip: &[u8], budget, want| {
        let (got, _) = drain(open(Blob::borrowed(zip)).unwrap(), budget);
        match got.as_slice() {
            [Next::Skipped { name, reason }] => {
                assert_eq!((name.as_str(), *reason), ("zeros", want))
            }
            other => panic!("{other:?}"),
        }
    };
    refused(&zip, ratio, Skip::RatioExceeded);
    refused(&zip, small, Skip::TooLarge);

    // The declared size lies (1000 bytes): decoding is bounded all the same.
    let mut liar = zip.clone();
    let (local, central) = size_fields(&liar);
    for at in [local, central] {
        liar[at..at + 4].copy_from_slice(&1000u32.to_le_bytes());
    }
    refused(&liar, ratio, Skip::RatioExceeded);
    refused(&liar, small, Skip::TooLarge);
    // Step by step: no object ever exceeds max_object.
    let mut u = open(Blob::borrowed(&liar)).unwrap();
    loop {
        match u.next(&small) {
            Next::Pending => {}
            Next::Object(c) => assert!(c.data.len() as u64 <= small.max_object),
            Next::End => break,
            Next::Skipped { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn damage_is_reported() {
    let text = text();
    let zip = build(
        CompressionMethod::Deflated,
        &[("a.txt", &text), ("b", EICAR)],
    );
    // A wrong CRC: the content is still scanned, marked damaged.
    let mut bad_crc = zip.clone();
    let central = memchr::memmem::find(&bad_crc, b"PK\x01\x02").unwrap() + 16;
    bad_crc[central] ^= 0xff;
    let (got, _) = drain(open(Blob::borrowed(&bad_crc)).unwrap(), Budget::default());
    match got.as_slice() {
        [Next::Object(a), Next::Object(b)] => {
            assert_eq!((&*a.data, a.damaged), (&text[..], Some(Skip::Corrupted)));
            assert_eq!((&*b.data, b.damaged), (EICAR, None));
        }
        other => panic!("{other:?}"),
    }
    // Garbage in the deflate stream: damaged or skipped as corrupted, the rest read.
    let mut bad_data = zip.clone();
    let data = memchr::memmem::find(&bad_data, b"a.txt").unwrap() + 5;
    for b in &mut bad_data[data + 2..data + 20] {
        *b = 0xff;
    }
    let (got, _) = drain(open(Blob::borrowed(&bad_data)).unwrap(), Budget::default());
    assert!(
        matches!(
            &got[0],
            Next::Object(Child {
                damaged: Some(Skip::Corrupted),
                ..
            }) | Next::Skipped {
                reason: Skip::Corrupted,
                ..
            }
        ),
        "{got:?}"
    );
    assert!(matches!(&got[1], Next::Object(b) if &*b.data == EICAR));
    // No central directory.
    assert_eq!(
        open(Blob::borrowed(b"PK\x03\x04 not a zip")).err(),
        Some(Skip::Corrupted)
    );
    assert_eq!(
        open(Blob::borrowed(&zip[..zip.len() - 30])).err(),
        Some(Skip::Corrupted)
    );
}

#[test]
fn truncations_and_byte_flips_never_panic() {
    let text = text();
    let mut zip = Vec::new();
    for method in [
        CompressionMethod::Stored,
        CompressionMethod::Deflated,
        CompressionMethod::Bzip2,
        CompressionMethod::Zstd,
        CompressionMethod::Xz,
    ] {
        let one = build(
            method,
            &[("d/", b""), ("d/eicar", EICAR), ("t", &text[..2000])],
        );
        zip.push(one);
    }
    for sample in &zip {
        crate::formats::testutil::fuzz(sample, 600 / zip.len(), |b| open(b));
    }
}

#[test]
fn a_ppmd_model_over_the_limit_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("text.txt"), text()).unwrap();
    tool(
        dir.path(),
        "7z",
        &["a", "-tzip", "-mm=PPMd", "p.zip", "text.txt"],
    );
    let zip = std::fs::read(dir.path().join("p.zip")).unwrap();
    let start = ZipArchive::new(Cursor::new(&zip[..]))
        .unwrap()
        .by_index_raw(0)
        .unwrap()
        .data_start()
        .unwrap() as usize;
    let memory = ppmd_memory(&zip[start..]).unwrap();
    let refused = |zip: &[u8], budget: Budget| {
        let (got, _) = drain(open(Blob::borrowed(zip)).unwrap(), budget);
        matches!(
            got.as_slice(),
            [Next::Skipped {
                reason: Skip::TooLarge,
                ..
            }]
        )
    };
    assert!(!refused(&zip, Budget::default()));
    // A model larger than max_object (which the text itself is not).
    let small = Budget {
        max_object: memory - 1,
        ..Budget::default()
    };
    assert!(refused(&zip, small));
    // A header asking for a 256 MiB model.
    let mut big = zip.clone();
    let parameters = u16::from_le_bytes([big[start], big[start + 1]]) | 0xFF << 4;
    big[start..start + 2].copy_from_slice(&parameters.to_le_bytes());
    assert_eq!(ppmd_memory(&big[start..]), Some(256 << 20));
    let large = Budget {
        max_object: 1 << 30,
        ..Budget::default()
    };
    assert!(refused(&big, large));
}
