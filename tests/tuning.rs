//! The production files in `tuning/`: the systemd unit passes `systemd-analyze verify`
//! and keeps its security and resource settings, `production.toml` is a valid config the
//! unit's numbers were sized for, the sysctl keys exist on this kernel, `ringscan serve`
//! starts under the unit's `LimitMEMLOCK`, and `irq-affinity.sh` refuses what it must.
//!
//! Needs `systemd-analyze` (package `systemd`: `scripts/deps.sh --test`); it does not
//! need systemd running. Nothing here changes a system setting.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringscan::server::config::Config;

const MIB: u64 = 1 << 20;
/// A transparent huge page: io_uring counts a registered buffer in THP-backed memory
/// by the whole huge pages it touches.
const HUGE_PAGE: u64 = 2 * MIB;
/// Rings per glommio executor (main, latency, poll), each registering the buffer.
const RINGS: u64 = 3;
/// What glommio logs when io_uring refuses a buffer registration (RLIMIT_MEMLOCK).
const REGISTRATION_WARNING: &str = "registering buffers";

fn tuning(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tuning")
        .join(rel)
}

/// A unit file as (section, key, value) in file order; keys may repeat.
fn parse_unit(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a key=value line in the unit: {line:?}"));
        out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
    }
    out
}

/// The values of `key` in `[Service]`.
fn service_values<'a>(unit: &'a [(String, String, String)], key: &str) -> Vec<&'a str> {
    unit.iter()
        .filter(|(s, k, _)| s == "Service" && k == key)
        .map(|(_, _, v)| v.as_str())
        .collect()
}

/// The one value of `key` in `[Service]`; panics if absent or repeated.
fn service_value<'a>(unit: &'a [(String, String, String)], key: &str) -> &'a str {
    match service_values(unit, key).as_slice() {
        [v] => v,
        [] => panic!("tuning/ringscan.service has no {key}="),
        many => panic!("tuning/ringscan.service sets {key}= {} times", many.len()),
    }
}

/// A systemd resource size ("192M", "8388608", "infinity"; K/M/G/T are powers of 1024).
fn parse_size(v: &str) -> u64 {
    if v == "infinity" {
        return u64::MAX;
    }
    let (num, mult) = match v.as_bytes().last() {
        Some(b'K') => (&v[..v.len() - 1], 1u64 << 10),
        Some(b'M') => (&v[..v.len() - 1], 1 << 20),
        Some(b'G') => (&v[..v.len() - 1], 1 << 30),
        Some(b'T') => (&v[..v.len() - 1], 1 << 40),
        _ => (v, 1),
    };
    num.parse::<u64>()
        .unwrap_or_else(|e| panic!("size {v:?}: {e}"))
        .saturating_mul(mult)
}

/// A systemd time span ("45s", "2min", "500ms", "30"); only the units used here.
fn parse_span(v: &str) -> Duration {
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..split]
        .parse()
        .unwrap_or_else(|e| panic!("span {v:?}: {e}"));
    match &v[split..] {
        "" | "s" | "sec" => Duration::from_secs(n),
        "ms" | "msec" => Duration::from_millis(n),
        "min" | "m" => Duration::from_secs(n * 60),
        other => panic!("span {v:?}: unit {other:?} not handled here"),
    }
}

/// A CPU list as systemd and the kernel write it ("2-15", "0 1 4", "0,2-3").
fn parse_cpus(v: &str) -> Vec<u32> {
    let mut cpus = Vec::new();
    for part in v.split([',', ' ']).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
                assert!(a <= b, "CPU range {part:?}");
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    cpus
}

/// Locked memory one executor may need: the io_memory buffer registered with each ring,
/// counted in whole huge pages, assuming it straddles one huge-page boundary (measured:
/// 6 MiB for 512K when it does not; tuning/measurements/memlock.txt).
fn memlock_per_executor(io_memory: u64) -> u64 {
    RINGS * (io_memory.div_ceil(HUGE_PAGE) + 1) * HUGE_PAGE
}

fn unit() -> Vec<(String, String, String)> {
    parse_unit(&fs::read_to_string(tuning("ringscan.service")).expect("tuning/ringscan.service"))
}

fn production_config() -> Config {
    Config::load(&tuning("production.toml"))
        .unwrap_or_else(|e| panic!("tuning/production.toml is not a valid config: {e}"))
}

/// `systemd-analyze`, or a panic that says how to get it.
fn systemd_analyze() -> Command {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`systemd-analyze` is not available; tests/tuning.rs verifies the unit with it: \
         run `scripts/deps.sh --test` (installs Debian's `systemd` package; systemd need \
         not be running)"
    );
    Command::new("systemd-analyze")
}

/// What `systemd-analyze verify` finds wrong with `unit` (a path ending in
/// `ringscan.service`). systemd 252 exits non-zero for some errors (a missing
/// executable) but only prints others, exiting 0: an unknown key, a value it cannot
/// parse ("...: Unknown key 'X' in section [Service], ignoring."). Those lines name the
/// unit file; so a problem is a non-zero exit or any stderr line that names the unit.
fn verify_problems(unit: &Path) -> Vec<String> {
    let out = systemd_analyze()
        .arg("verify")
        .arg(unit)
        .output()
        .expect("run systemd-analyze verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let name = unit.file_name().unwrap().to_str().unwrap();
    let mut problems: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains(name))
        .map(str::to_string)
        .collect();
    if !out.status.success() {
        problems.push(format!("exit {}: {}", out.status, stderr.trim()));
    }
    problems
}

/// A temporary directory the server can use whoever it runs as (see [`Runner`]).
fn open_tempdir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn mkdir_mode(p: &Path, mode: u32) {
    fs::create_dir_all(p).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// `tuning/production.toml` with its machine paths moved into `dir`: the sockets into
/// `dir/run`, the database into `dir/db` (one `.hdb` with EICAR), the clamd TCP port
/// chosen by the kernel and HTTP over TCP off (two port-0 listeners are refused as the
/// same address). Returns the config file's path.
fn production_config_in(dir: &Path) -> PathBuf {
    let run = dir.join("run");
    let db = dir.join("db");
    mkdir_mode(&run, 0o777);
    mkdir_mode(&db, 0o755);
    let hdb = db.join("test.hdb");
    fs::write(&hdb, format!("{}\n", support::EICAR_HDB)).unwrap();
    fs::set_permissions(&hdb, fs::Permissions::from_mode(0o644)).unwrap();
    let text = fs::read_to_string(tuning("production.toml")).unwrap();
    for original in [
        "/run/ringscan",
        "/var/lib/clamav",
        "127.0.0.1:3310",
        "127.0.0.1:9999",
    ] {
        assert!(
            text.contains(original),
            "tuning/production.toml no longer mentions {original}; update this test"
        );
    }
    let text = text
        .replace("/run/ringscan", run.to_str().unwrap())
        .replace("/var/lib/clamav", db.to_str().unwrap())
        .replace("127.0.0.1:3310", "127.0.0.1:0")
        .replace("\"127.0.0.1:9999\"", "\"\"");
    let path = dir.join("ringscan.toml");
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    path
}

/// The unit with ExecStart pointing at the binary cargo built and at `config`
/// (`systemd-analyze verify` checks that the executable exists), written as
/// `dir/ringscan.service`, after `edit`.
fn unit_copy(dir: &Path, config: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = fs::read_to_string(tuning("ringscan.service")).unwrap();
    let exec = "ExecStart=/usr/local/bin/ringscan serve --config /etc/ringscan/ringscan.toml";
    assert!(
        text.contains(exec),
        "tuning/ringscan.service no longer has `{exec}`; update this test"
    );
    let text = text.replace(
        exec,
        &format!(
            "ExecStart={} serve --config {}",
            env!("CARGO_BIN_EXE_ringscan"),
            config.display()
        ),
    );
    fs::create_dir_all(dir).unwrap();
    let path = dir.join("ringscan.service");
    fs::write(&path, edit(text)).unwrap();
    path
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    let dir = open_tempdir("rs-tuning-verify-");
    let config = production_config_in(dir.path());
    let good = unit_copy(&dir.path().join("good"), &config, |t| t);
    let problems = verify_problems(&good);
    assert!(
        problems.is_empty(),
        "systemd-analyze verify finds problems in tuning/ringscan.service:\n{}",
        problems.join("\n")
    );

    // The same judgement must catch a broken unit, or the check above proves nothing.
    let misspelled = unit_copy(&dir.path().join("misspelled"), &config, |t| {
        t.replace("ProtectSystem=strict", "ProtectSystm=strict")
    });
    let problems = verify_problems(&misspelled);
    assert!(
        problems.iter().any(|p| p.contains("ProtectSystm")),
        "a misspelled directive went unnoticed: {problems:?}"
    );
    let bad_value = unit_copy(&dir.path().join("bad-value"), &config, |t| {
        t.replace("Type=exec", "Type=execute")
    });
    let problems = verify_problems(&bad_value);
    assert!(
        problems.iter().any(|p| p.contains("execute")),
        "an invalid value went unnoticed: {problems:?}"
    );
    let missing_binary = unit_copy(&dir.path().join("missing-binary"), &config, |t| {
        t.replace(env!("CARGO_BIN_EXE_ringscan"), "/nonexistent/ringscan")
    });
    let problems = verify_problems(&missing_binary);
    assert!(
        problems.iter().any(|p| p.contains("/nonexistent/ringscan")),
        "a missing executable went unnoticed: {problems:?}"
    );
}

#[test]
fn unit_keeps_its_security_settings() {
    let unit = unit();
    for (key, want) in [
        ("Type", "exec"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
        ("DynamicUser", "yes"),
        ("RuntimeDirectory", "ringscan"),
        ("CacheDirectory", "ringscan"),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("CapabilityBoundingSet", ""),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(service_value(&unit, key), want, "{key}=");
    }
    let filters = service_values(&unit, "SystemCallFilter");
    assert!(filters.contains(&"@system-service"), "{filters:?}");
    for call in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
        assert!(
            filters
                .iter()
                .any(|f| !f.starts_with('~') && f.split(' ').any(|c| c == call)),
            "SystemCallFilter= does not allow {call}: {filters:?}"
        );
    }
    assert!(
        !filters
            .iter()
            .any(|f| f.starts_with('~') && f.contains("@resources")),
        "glommio pins executors with sched_setaffinity (@resources): {filters:?}"
    );
    assert!(
        service_values(&unit, "Environment").contains(&"RINGSCAN_CACHE_DIR=%C/ringscan"),
        "the compiled-database cache must go to the CacheDirectory"
    );
    // ringscan reloads on SIGHUP (src/server/mod.rs, Signals).
    assert_eq!(
        service_value(&unit, "ExecReload"),
        "/bin/kill -HUP $MAINPID"
    );
}

#[test]
fn unit_limits_fit_the_production_config() {
    let unit = unit();
    let config = production_config();

    // Sockets must be where the sandbox lets ringscan create them.
    let runtime = Path::new("/run").join(service_value(&unit, "RuntimeDirectory"));
    for socket in [&config.server.unix_socket, &config.http.unix_socket]
        .into_iter()
        .flatten()
    {
        assert!(
            socket.starts_with(&runtime),
            "{} is outside the unit's RuntimeDirectory {}",
            socket.display(),
            runtime.display()
        );
    }
    assert_eq!(
        config.server.cores, 0,
        "one executor per CPU of CPUAffinity="
    );

    let cpus = parse_cpus(service_value(&unit, "CPUAffinity"));
    assert!(!cpus.is_empty(), "CPUAffinity= names no CPU");
    let memlock = parse_size(service_value(&unit, "LimitMEMLOCK"));
    let need = cpus.len() as u64 * memlock_per_executor(config.server.io_memory);
    assert!(
        memlock >= need,
        "LimitMEMLOCK={memlock} is under {need}: {} executors (CPUAffinity=) x \
         {} per executor (io_memory {} x {RINGS} rings, in huge pages)",
        cpus.len(),
        memlock_per_executor(config.server.io_memory),
        config.server.io_memory
    );

    let nofile = parse_size(service_value(&unit, "LimitNOFILE"));
    let connections = (config.server.max_connections + config.http.max_sessions) as u64;
    assert!(
        nofile > connections + 1024,
        "LimitNOFILE={nofile} leaves no room beyond {connections} connections"
    );

    let stop = parse_span(service_value(&unit, "TimeoutStopSec"));
    assert!(
        stop > config.server.shutdown_grace,
        "TimeoutStopSec={stop:?} must exceed shutdown_grace {:?}, or systemd kills \
         requests the server is still finishing",
        config.server.shutdown_grace
    );
}

#[test]
fn sysctl_keys_exist_on_this_kernel() {
    let text = fs::read_to_string(tuning("sysctl.d/60-ringscan.conf")).unwrap();
    let mut keys = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key = value: {line:?}"));
        let (key, value) = (key.trim(), value.trim());
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        assert!(path.exists(), "{key}: no {}", path.display());
        // Same shape as the kernel's current value (one number, or three for tcp_rmem).
        let current = fs::read_to_string(&path).unwrap();
        assert_eq!(
            value.split_whitespace().count(),
            current.split_whitespace().count(),
            "{key} = {value:?}, the kernel has {current:?}"
        );
        for n in value.split_whitespace() {
            n.parse::<u64>()
                .unwrap_or_else(|e| panic!("{key} = {value:?}: {e}"));
        }
        keys += 1;
    }
    assert!(keys >= 3, "only {keys} settings in the sysctl file");
}

/// Runs `ringscan serve` as the unit would with respect to locked memory: with a given
/// RLIMIT_MEMLOCK and without CAP_IPC_LOCK (io_uring does not count registrations of a
/// process holding it, so as root the limit would prove nothing). As root it switches to
/// `nobody` (65534) and runs a copy of the binary from a world-readable directory.
struct Runner {
    // Removed after the server has stopped (fields drop after `Drop::drop`).
    _dir: tempfile::TempDir,
    child: Child,
    log: PathBuf,
    socket: PathBuf,
}

impl Runner {
    fn start(memlock: u64, cores: usize) -> Runner {
        let dir = open_tempdir("rs-tuning-memlock-");
        let config = production_config_in(dir.path());
        let cache = dir.path().join("cache");
        mkdir_mode(&cache, 0o777);
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let bin = if root {
            let copy = dir.path().join("ringscan");
            fs::copy(env!("CARGO_BIN_EXE_ringscan"), &copy).unwrap();
            fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
            copy
        } else {
            PathBuf::from(env!("CARGO_BIN_EXE_ringscan"))
        };
        let log = dir.path().join("server.log");
        let logfile = fs::File::create(&log).unwrap();
        let mut cmd = Command::new(&bin);
        cmd.args(["serve", "--cores", &cores.to_string(), "--config"])
            .arg(&config)
            .env("RINGSCAN_CACHE_DIR", &cache)
            .env_remove("RINGSCAN_LOG")
            .stdin(Stdio::null())
            .stdout(logfile.try_clone().unwrap())
            .stderr(logfile);
        let limit = libc::rlimit {
            rlim_cur: memlock,
            rlim_max: memlock,
        };
        // SAFETY: only async-signal-safe system calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if root
                    && (libc::setgroups(0, std::ptr::null()) != 0
                        || libc::setgid(65534) != 0
                        || libc::setuid(65534) != 0)
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start ringscan serve");
        let socket = dir.path().join("run/clamd.sock");
        Runner {
            _dir: dir,
            child,
            log,
            socket,
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// PONG within `wait`; `false` if the server exits or stays silent.
    fn answers_ping(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if let Ok(mut s) = UnixStream::connect(&self.socket) {
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut reply = Vec::new();
                if s.write_all(b"zPING\0").is_ok()
                    && s.read_to_end(&mut reply).is_ok()
                    && reply == b"PONG\0"
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Kernel-accounted pinned memory of the server, in bytes.
    fn pinned(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmPin:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn memlock_hard_limit() -> u64 {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `l`.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut l) }, 0);
    l.rlim_max
}

#[test]
fn serves_under_the_units_memlock_limit() {
    let unit_limit = parse_size(service_value(&unit(), "LimitMEMLOCK"));
    // A process without CAP_SYS_RESOURCE cannot go above its hard limit: then the test
    // runs under the hard limit, less than the unit would grant.
    let limit = unit_limit.min(memlock_hard_limit());
    let mut server = Runner::start(limit, 2);
    assert!(
        server.answers_ping(Duration::from_secs(60)),
        "ringscan serve --cores 2 under RLIMIT_MEMLOCK={limit} (the unit's LimitMEMLOCK, \
         {unit_limit}, capped by this process's hard limit) did not answer PING; log:\n{}",
        server.log()
    );
    // It must also scan: INSTREAM with EICAR.
    let mut conn = support::Conn::Unix(UnixStream::connect(&server.socket).unwrap());
    conn.set_read_timeout(Some(Duration::from_secs(10)));
    conn.send(&support::instream(b'z', &support::eicar(), 64 * 1024));
    let (reply, _) = conn.read_all();
    support::assert_bytes(
        &reply,
        format!("stream: {} FOUND\0", support::EICAR_NAME).as_bytes(),
        "INSTREAM EICAR under the unit's memlock limit",
    );
    let log = server.log();
    if limit == unit_limit {
        assert!(
            !log.contains(REGISTRATION_WARNING),
            "RLIMIT_MEMLOCK={limit} (the unit's) was too small for glommio's buffers \
             ({} bytes pinned); log:\n{log}",
            server.pinned()
        );
    } else {
        eprintln!(
            "note: tested under RLIMIT_MEMLOCK={limit}, this machine's hard limit, not the \
             unit's {unit_limit}; {} bytes pinned",
            server.pinned()
        );
    }
}

#[test]
fn a_memlock_limit_under_glommios_floor_is_caught() {
    // The control for the test above: 256 KiB is under glommio's 512 KiB minimum, so the
    // executors cannot start, and the check must see it.
    let mut server = Runner::start(256 << 10, 2);
    assert!(
        !server.answers_ping(Duration::from_secs(10)),
        "ringscan answered PING under RLIMIT_MEMLOCK=256K; the memlock test cannot tell \
         a sufficient limit from an insufficient one; log:\n{}",
        server.log()
    );
    let log = server.log();
    assert!(log.contains("MemLockLimit"), "log:\n{log}");
    // And the server says so and exits non-zero (what `Restart=on-failure` needs),
    // rather than leaving the cores that did start waiting for their missing peer.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = server.log();
    assert!(
        status.is_some_and(|s| !s.success()),
        "{status:?}; log:\n{log}"
    );
    assert!(log.contains("did not start"), "log:\n{log}");
}

#[test]
fn irq_affinity_script_refuses_to_strand_interrupts() {
    let script = tuning("irq-affinity.sh");
    let online = fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let online = online.trim();
    // Every online CPU as a scan CPU leaves interrupts nowhere to go.
    let out = Command::new(&script)
        .args(["--scan-cpus", online, "--dry-run"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no housekeeping CPU"),
        "{out:?}"
    );
    let out = Command::new(&script)
        .args(["--scan-cpus", "0-", "--dry-run"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a malformed list was accepted: {out:?}"
    );

    // A dry run on a machine with more than one CPU plans moves and writes nothing.
    let cpus = parse_cpus(online);
    if cpus.len() > 1 {
        let before = fs::read_to_string("/proc/irq/default_smp_affinity").ok();
        let last = cpus.last().unwrap().to_string();
        let out = Command::new(&script)
            .args(["--scan-cpus", &last, "--dry-run"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        assert!(stdout.contains("dry run"), "{stdout}");
        assert_eq!(
            fs::read_to_string("/proc/irq/default_smp_affinity").ok(),
            before
        );
    }
}
