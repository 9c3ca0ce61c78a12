//! The `ringscan` command line, run as a user runs it: real binary, real files.
//!
//! - `scan`: clamscan-style lines, exit codes, recursion, stdin, JSON, all-match;
//! - `db info`: counts, skips with file and line, malformed lines, `--strict`;
//! - containers: a `.cvd` built here loads with official names and its version;
//! - the compiled-database cache: written, reused, and a damaged entry is recompiled.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use md5::Digest;

fn ringscan(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringscan"))
        .args(args)
        .env("RINGSCAN_CACHE_DIR", cache)
        .output()
        .expect("run ringscan")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn eicar() -> Vec<u8> {
    [
        &b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$"[..],
        b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
    ]
    .concat()
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, data).unwrap();
    p.display().to_string()
}

/// `127.0.0.1:PORT` with a port that was free a moment ago.
fn free_tcp_addr() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().to_string()
}

#[test]
fn scan_builtin_found_clean_and_missing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "eicar.com", &eicar());
    let good = write(dir.path(), "clean.txt", b"hello");
    let o = ringscan(&["scan", "--no-summary", &bad, &good], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        format!("{bad}: Win.Test.EICAR_HDB-1 FOUND\n{good}: OK\n")
    );

    let o = ringscan(&["scan", &good], dir.path());
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(
        out.contains("----------- SCAN SUMMARY -----------"),
        "{out}"
    );
    assert!(
        out.contains("Scanned files: 1\nInfected files: 0\n"),
        "{out}"
    );

    let missing = dir.path().join("nope").display().to_string();
    let o = ringscan(&["scan", "--no-summary", &missing, &bad], dir.path());
    assert_eq!(
        o.status.code(),
        Some(2),
        "an error wins over a detection, as in clamscan"
    );
    assert_eq!(
        stdout(&o),
        format!("{missing}: No such file or directory\n{bad}: Win.Test.EICAR_HDB-1 FOUND\n")
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("Can't access file"));
}

#[test]
fn scan_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringscan"))
        .args(["scan", "--no-summary", "-"])
        .env("RINGSCAN_CACHE_DIR", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&eicar()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(stdout(&o), "stdin: Win.Test.EICAR_HDB-1 FOUND\n");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn scan_directories_in_walk_order_on_many_workers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    let mut expected_flat = Vec::new();
    for i in 0..40 {
        let data = if i % 7 == 0 {
            eicar()
        } else {
            format!("file {i}").into_bytes()
        };
        let p = write(&root, &format!("f{i:02}"), &data);
        expected_flat.push(if i % 7 == 0 {
            format!("{p}: Win.Test.EICAR_HDB-1 FOUND")
        } else {
            format!("{p}: OK")
        });
    }
    let nested = write(&root, "sub/deep/eicar", &eicar());
    let root_s = root.display().to_string();

    let o = ringscan(&["scan", "--no-summary", "-j", "4", &root_s], dir.path());
    assert_eq!(
        stdout(&o).lines().collect::<Vec<_>>(),
        expected_flat,
        "without -r only the top level"
    );

    let o = ringscan(&["scan", "-r", "-j", "4", &root_s], dir.path());
    let out = stdout(&o);
    assert!(
        out.contains(&format!("{nested}: Win.Test.EICAR_HDB-1 FOUND")),
        "{out}"
    );
    assert!(
        out.contains("Scanned directories: 3\nScanned files: 41\nInfected files: 7\n"),
        "{out}"
    );
    // Same output whatever the number of workers.
    let one = ringscan(
        &["scan", "-r", "--no-summary", "-j", "1", &root_s],
        dir.path(),
    );
    let four = ringscan(
        &["scan", "-r", "--no-summary", "-j", "4", &root_s],
        dir.path(),
    );
    assert_eq!(stdout(&one), stdout(&four));
}

#[test]
fn scan_json_writes_kav_v3_objects() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "e", &eicar());
    let good = write(dir.path(), "g", b"fine");
    let o = ringscan(&["scan", "--json", &bad, &good], dir.path());
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["object"], bad.as_str());
    assert_eq!(lines[0]["scanResult"], "DETECT");
    assert_eq!(lines[0]["detectionName"], "Win.Test.EICAR_HDB-1");
    assert_eq!(lines[0]["containsOfficeMacro"], "false");
    assert_eq!(lines[1]["scanResult"], "CLEAN");
    assert!(lines[1].get("detectionName").is_none());
}

#[test]
fn allmatch_reports_every_signature() {
    let dir = tempfile::tempdir().unwrap();
    let db = write(
        dir.path(),
        "t.ndb",
        b"A.One:0:*:616c706861\nB.Two:0:*:627261766f\n",
    );
    let f = write(dir.path(), "f", b"alpha bravo");
    let o = ringscan(&["scan", "--no-summary", "--db", &db, &f], dir.path());
    assert_eq!(stdout(&o).lines().count(), 1);
    let o = ringscan(
        &["scan", "--no-summary", "--allmatch", "--db", &db, &f],
        dir.path(),
    );
    assert_eq!(
        stdout(&o),
        format!("{f}: A.One.UNOFFICIAL FOUND\n{f}: B.Two.UNOFFICIAL FOUND\n")
    );
}

#[test]
fn db_info_reports_skips_and_malformed_lines() {
    let dir = tempfile::tempdir().unwrap();
    let dbdir = dir.path().join("db");
    write(
        &dbdir,
        "a.ndb",
        b"Good:0:*:41424344\nPe.Only:1:EP+10:41424344\n",
    );
    write(&dbdir, "b.ldb", b"Pcre.Sig;Target:0;0&1;41424344;0/abc/\n");
    write(
        &dbdir,
        "c.mdb",
        b"1024:44d88612fea8a8f36de82e1278abb02f:Section.Sig\n",
    );
    write(&dbdir, "notes.txt", b"not a database");
    let d = dbdir.display().to_string();
    let o = ringscan(&["db", "info", "--no-cache", &d], dir.path());
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);
    assert!(out.contains("content ndb:  1\n"), "{out}");
    assert!(out.contains("Skipped: 3\n"), "{out}");
    assert!(
        out.contains("a.ndb:2: Pe.Only: offset 'EP+10' needs executable parsing"),
        "{out}"
    );
    assert!(
        out.contains("b.ldb:1: Pcre.Sig: subsignature 1: PCRE"),
        "{out}"
    );
    assert!(
        out.contains("c.mdb:1: 1024: .mdb signatures are not supported yet"),
        "{out}"
    );
    assert!(
        out.contains("notes.txt: unknown database file type, ignored"),
        "{out}"
    );

    let o = ringscan(&["db", "info", "--no-cache", "--strict", &d], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("a.ndb:2: Pe.Only"));

    let bad = write(
        dir.path(),
        "bad.hdb",
        b"44d88612fea8a8f36de82e1278abb02f:68:Ok\nnot-a-hash:12:Bad\n",
    );
    let o = ringscan(&["db", "info", "--no-cache", &bad], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{bad}:2: hash 'not-a-hash'")),
        "{err}"
    );
    // A broken database is also fatal to scan: nothing is scanned with half a database.
    let o = ringscan(&["scan", "--db", &bad, &bad], dir.path());
    assert_eq!(o.status.code(), Some(2));
}

/// A `.cvd` as ClamAV builds it: header, then a gzip'd tar with an `.info` listing
/// each file's size and SHA256; the header MD5 covers everything after byte 512.
fn build_cvd(version: u32, files: &[(&str, &[u8])]) -> Vec<u8> {
    let time = 1_700_000_000u64;
    let mut info = format!(
        "ClamAV-VDB:14 Nov 2023 22-13 +0000:{version}:{}:90:X:X:ringscan:{time}\n",
        files.len()
    );
    for (name, data) in files {
        let sha: String = sha2::Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        info.push_str(&format!("{name}:{}:{sha}\n", data.len()));
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data).unwrap();
    };
    add("COPYING", b"test");
    add("test.info", info.as_bytes());
    for (name, data) in files {
        add(name, data);
    }
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let body = gz.finish().unwrap();
    let md5: String = md5::Md5::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let header = format!(
        "ClamAV-VDB:14 Nov 2023 22-13 +0000:{version}:{}:90:{md5}:X:ringscan:{time}",
        files.len()
    );
    let mut out = format!("{header:<512}").into_bytes();
    out.extend_from_slice(&body);
    out
}

#[test]
fn cvd_signatures_are_official_and_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let cvd = build_cvd(
        42,
        &[("test.ndb", b"Cvd.Test.Sig:0:*:636f6e7461696e6572\n")],
    );
    let path = write(dir.path(), "test.cvd", &cvd);
    let f = write(dir.path(), "f", b"inside a container file");
    let o = ringscan(
        &["scan", "--no-summary", "--no-cache", "--db", &path, &f],
        dir.path(),
    );
    assert_eq!(
        stdout(&o),
        format!("{f}: Cvd.Test.Sig FOUND\n"),
        "no .UNOFFICIAL for container signatures"
    );
    let o = ringscan(&["db", "info", "--json", "--no-cache", &path], dir.path());
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["version"]["version"], 42);
    assert_eq!(report["version"]["time_unix"], 1_700_000_000);

    let mut corrupt = cvd.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let bad = write(dir.path(), "bad.cvd", &corrupt);
    let o = ringscan(&["db", "info", "--no-cache", &bad], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.cvd"));
}

#[test]
fn compiled_database_cache_is_reused_and_survives_damage() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let db = write(
        dir.path(),
        "t.ndb",
        b"A:0:*:6361636865\nB:0:*:4142??43*444546\n",
    );
    let info = |args: &[&str]| -> serde_json::Value {
        let mut all = vec![
            "db",
            "info",
            "--json",
            "--cache-dir",
            cache.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        serde_json::from_slice(&ringscan(&all, dir.path()).stdout).unwrap()
    };
    assert_eq!(info(&[&db])["from_cache"], false);
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert_eq!(
        entries.len(),
        2,
        "the anchor database and the normalized-text one"
    );
    assert_eq!(info(&[&db])["from_cache"], true);

    // Damage an entry: it is refused, recompiled and rewritten; scanning still works.
    let entry = entries.into_iter().next().unwrap().unwrap().path();
    std::fs::write(&entry, b"RSCANHS\0garbage").unwrap();
    assert_eq!(info(&[&db])["from_cache"], false);
    assert_eq!(info(&[&db])["from_cache"], true);
    let f = write(dir.path(), "f", b"a cache hit");
    let o = ringscan(
        &[
            "scan",
            "--no-summary",
            "--cache-dir",
            cache.to_str().unwrap(),
            "--db",
            &db,
            &f,
        ],
        dir.path(),
    );
    assert_eq!(stdout(&o), format!("{f}: A.UNOFFICIAL FOUND\n"));

    // Other signatures, other key.
    let db2 = write(dir.path(), "u.ndb", b"C:0:*:6f74686572\n");
    assert_eq!(info(&[&db2])["from_cache"], false);
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("many");
    for i in 0..3000 {
        write(&root, &format!("f{i:04}"), format!("file {i}").as_bytes());
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringscan"))
        .args(["scan", "-r", root.to_str().unwrap()])
        .env("RINGSCAN_CACHE_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.ends_with(": OK\n"), "{first}");
    // The reader (say `head -1`) is gone: ringscan stops quietly with success.
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `serve` flags: `""` switches a listener off, for UNIX paths as for addresses (clap's
/// path parser refuses empty values, so this once failed before the server started).
#[test]
fn serve_flags_switch_listeners_off_with_empty_values() {
    use std::io::{Read, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let addr = free_tcp_addr();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringscan"))
        .args([
            "serve",
            "--no-cache",
            "--cores",
            "1",
            "--unix",
            "",
            "--tcp",
            "",
        ])
        .args(["--http", &addr, "--http-unix", ""])
        .current_dir(dir.path())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut answer = String::new();
    for _ in 0..200 {
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            s.write_all(b"GET /api/v3.0/version HTTP/1.0\r\n\r\n")
                .unwrap();
            s.read_to_string(&mut answer).unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.ends_with("{\"KAVSDKVersion\":\"0.1.0.0\"}"),
        "{answer}"
    );
    // No socket file was made for the switched-off UNIX listeners.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// The executors are pinned inside the process's CPU affinity mask (what `taskset`,
/// systemd's `CPUAffinity=` and a cpuset cgroup set), not over every online CPU: started
/// on the last CPU only with two cores, both executors run there, and it serves.
#[test]
fn serve_pins_its_cores_inside_the_affinity_mask() {
    use std::io::{Read, Write as _};
    use std::os::unix::process::CommandExt;
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = online - 1;
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s.sock");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringscan"));
    cmd.args([
        "serve",
        "--no-cache",
        "--cores",
        "2",
        "--tcp",
        "",
        "--http",
        "",
    ])
    .arg("--unix")
    .arg(&sock)
    .stderr(Stdio::null());
    // SAFETY: sched_setaffinity is a plain system call, safe between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let mut set = nix::sched::CpuSet::new();
            set.set(cpu).map_err(std::io::Error::from)?;
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
                .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut pong = Vec::new();
    for _ in 0..200 {
        if let Ok(mut s) = std::os::unix::net::UnixStream::connect(&sock) {
            s.write_all(b"zPING\0").unwrap();
            s.read_to_end(&mut pong).unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut cores = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{}/task", child.id())).unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if !comm.starts_with("ringscan-core") {
            continue;
        }
        let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
        let allowed = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(|v| v.trim().to_string());
        cores.push((comm.trim().to_string(), allowed));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(pong, b"PONG\0");
    // Two executors, each with (at least) one helper thread, all on that CPU.
    assert!(cores.len() >= 2, "{cores:?}");
    let want = cpu.to_string();
    for (name, allowed) in &cores {
        assert_eq!(allowed.as_deref(), Some(want.as_str()), "{name}: {cores:?}");
    }
}

/// A restart on the same TCP port right after the previous run was killed works,
/// although that run's connections are still in TIME_WAIT there (the server closes clamd
/// connections after the reply, so the TIME_WAIT is on its side: the listeners set
/// SO_REUSEADDR) and its listener lingers until the kernel has torn down its io_uring
/// (the start waits a moment for a busy port).
#[test]
fn serve_restarts_on_a_port_with_connections_in_time_wait() {
    use std::io::{Read, Write as _};
    let addr = free_tcp_addr();
    let dir = tempfile::tempdir().unwrap();
    let ping = |n: usize| -> usize {
        let mut pongs = 0;
        for _ in 0..n {
            let Ok(mut s) = std::net::TcpStream::connect(&addr) else {
                continue;
            };
            let mut reply = Vec::new();
            if s.write_all(b"zPING\0").is_ok() && s.read_to_end(&mut reply).is_ok() {
                pongs += usize::from(reply == b"PONG\0");
            }
        }
        pongs
    };
    for run in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringscan"))
            .args([
                "serve",
                "--no-cache",
                "--cores",
                "1",
                "--unix",
                "",
                "--http",
                "",
            ])
            .args(["--tcp", &addr])
            .current_dir(dir.path())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut up = false;
        for _ in 0..200 {
            if ping(1) == 1 {
                up = true;
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        let served = if up { ping(20) } else { 0 };
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        assert!(
            up && served == 20,
            "run {run}: {served} of 20 PINGs answered; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A TCP port another process listens on is a clear start-up error (after the short
/// wait for a port being released), and the exit status says it failed.
#[test]
fn serve_refuses_a_port_another_process_holds() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ringscan"))
        .args([
            "serve",
            "--no-cache",
            "--cores",
            "1",
            "--unix",
            "",
            "--http",
            "",
        ])
        .args(["--tcp", &addr])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("tcp {addr}: Address already in use")),
        "{stderr}"
    );
    // It waited for the port (3 s), then gave up instead of hanging.
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(2) && waited < std::time::Duration::from_secs(30),
        "{waited:?}"
    );
    drop(holder);
}
