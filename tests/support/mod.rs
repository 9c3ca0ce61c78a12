//! The server under test for `tests/clamd_clients.rs`: one function, [`start`], starts it
//! in a fresh temporary directory (database, allowed root, sockets, log), and the same
//! assertions then run against it whichever it is:
//!
//! - by default, `ringscan serve --config FILE` (the binary cargo built for this test);
//! - with `RINGSCAN_TEST_SERVER=clamd`, Debian's real `/usr/sbin/clamd` (package
//!   `clamav-daemon`, `scripts/deps.sh --test --clamd`), given the same signature files.
//!   This is how every expected byte string in the tests was confirmed; CI runs ringscan only.
//!
//! What "the same" means where the two differ by design:
//! - ringscan's `[clamd] allowed_roots` has no clamd equivalent. A path outside it must get
//!   the reply clamd gives for a file it may not read. So, run as root, clamd runs as the
//!   `clamav` user (`User clamav`) and the files of [`Server::outside_file`] are root's,
//!   mode 0600: clamd really cannot open them and says `PATH: Access denied. ERROR`.
//! - ringscan's `command_read_timeout` is clamd's `CommandReadTimeout` (whole seconds).
#![allow(dead_code)]

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// EICAR, built here so the repository never holds the file itself.
pub fn eicar() -> Vec<u8> {
    [
        &b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$"[..],
        b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
    ]
    .concat()
}

/// The `.hdb` line every server gets (file `test.hdb`): EICAR by MD5 and size, under the
/// name ClamAV's official database gives it.
pub const EICAR_HDB: &str = "44d88612fea8a8f36de82e1278abb02f:68:Win.Test.EICAR_HDB-1";

/// What clamd reports for it: the file is not part of a signed container, so clamd
/// appends `.UNOFFICIAL` (confirmed against clamd 1.4.6).
pub const EICAR_NAME: &str = "Win.Test.EICAR_HDB-1.UNOFFICIAL";

/// `StreamMaxLength` / `stream_max_length` of every server: 1 MiB.
pub const STREAM_MAX: usize = 1 << 20;

/// Which server [`start`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ringscan,
    Clamd,
}

/// `RINGSCAN_TEST_SERVER`: unset, empty or `ringscan` → ringscan; `clamd` → real clamd.
pub fn kind() -> Kind {
    match std::env::var("RINGSCAN_TEST_SERVER").as_deref() {
        Err(_) | Ok("") | Ok("ringscan") => Kind::Ringscan,
        Ok("clamd") => Kind::Clamd,
        Ok(other) => panic!("RINGSCAN_TEST_SERVER={other:?}: expected `ringscan` or `clamd`"),
    }
}

/// How to start the server.
#[derive(Clone, Debug)]
pub struct Options {
    /// Listen on a UNIX socket (`DIR/server.sock`).
    pub unix: bool,
    /// Listen on TCP, on a free port of 127.0.0.1.
    pub tcp: bool,
    /// `command_read_timeout` / `CommandReadTimeout`, in seconds; `None`: the default.
    pub command_read_timeout: Option<u32>,
    /// Database files: (file name, contents).
    pub db: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            unix: true,
            tcp: false,
            command_read_timeout: None,
            db: vec![("test.hdb".into(), format!("{EICAR_HDB}\n"))],
        }
    }
}

/// A running server and its directory. Dropping it kills the server if still running.
pub struct Server {
    pub kind: Kind,
    dir: tempfile::TempDir,
    /// The allowed root (`[clamd] allowed_roots`): files to scan by path go here.
    pub root: PathBuf,
    /// Outside the allowed root; see [`Server::outside_file`].
    pub outside: PathBuf,
    /// The database directory.
    pub db: PathBuf,
    pub unix: Option<PathBuf>,
    pub tcp: Option<SocketAddr>,
    log: PathBuf,
    child: Option<Child>,
}

/// Which socket to talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Unix,
    Tcp,
}

/// Starts the server under test and waits until it answers `zPING\0` with `PONG\0`.
pub fn start(opts: Options) -> Server {
    assert!(opts.unix || opts.tcp, "a server needs a socket");
    let kind = kind();
    let dir = tempfile::Builder::new()
        .prefix("rs-clamd-")
        .tempdir()
        .expect("temp dir");
    let base = dir.path().to_path_buf();
    let root = base.join("files");
    let outside = base.join("outside");
    let db = base.join("db");
    for d in [&root, &outside, &db] {
        fs::create_dir(d).unwrap();
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
    for (name, text) in &opts.db {
        write_0644(&db.join(name), text.as_bytes());
    }
    let unix = opts.unix.then(|| base.join("server.sock"));
    let tcp = opts.tcp.then(free_port);
    let log = base.join("server.log");
    let mut server = Server {
        kind,
        dir,
        root,
        outside,
        db,
        unix,
        tcp,
        log,
        child: None,
    };
    let logfile = fs::File::create(&server.log).unwrap();
    let mut cmd = match kind {
        Kind::Ringscan => server.ringscan_command(&opts),
        Kind::Clamd => server.clamd_command(&opts),
    };
    cmd.stdin(Stdio::null())
        .stdout(logfile.try_clone().unwrap())
        .stderr(logfile);
    let child = cmd.spawn().unwrap_or_else(|e| match kind {
        Kind::Ringscan => panic!("cannot run {:?}: {e}", cmd.get_program()),
        Kind::Clamd => panic!(
            "cannot run /usr/sbin/clamd ({e}); RINGSCAN_TEST_SERVER=clamd needs Debian's \
             clamav-daemon: run `scripts/deps.sh --test --clamd`"
        ),
    });
    server.child = Some(child);
    server.wait_ready();
    server
}

fn write_0644(path: &Path, data: &[u8]) {
    fs::write(path, data).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
}

fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().unwrap()
}

fn toml_str(p: &Path) -> String {
    let s = p.to_str().expect("UTF-8 temp path");
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The uid of the `clamav` user, when this runs as root and the user exists.
fn clamav_uid() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions; getpwnam gets a NUL-terminated name and its
    // result is read at once, before any other call that could reuse the static buffer.
    unsafe {
        if libc::geteuid() != 0 {
            return None;
        }
        let pw = libc::getpwnam(c"clamav".as_ptr());
        if pw.is_null() {
            return None;
        }
        Some(((*pw).pw_uid, (*pw).pw_gid))
    }
}

impl Server {
    fn ringscan_command(&self, opts: &Options) -> Command {
        let cfg = self.dir.path().join("ringscan.toml");
        let mut t = String::new();
        t += "[server]\ncores = 2\n";
        t += &format!(
            "unix_socket = {}\n",
            self.unix
                .as_deref()
                .map(toml_str)
                .unwrap_or_else(|| "\"\"".into())
        );
        t += &format!(
            "tcp = \"{}\"\n",
            self.tcp.map(|a| a.to_string()).unwrap_or_default()
        );
        t += &format!(
            "[database]\npaths = [{}]\ncache = false\n",
            toml_str(&self.db)
        );
        t += &format!(
            "[clamd]\nallowed_roots = [{}]\nstream_max_length = \"1M\"\n\
             enable_shutdown_command = true\n",
            toml_str(&self.root)
        );
        if let Some(s) = opts.command_read_timeout {
            t += &format!("command_read_timeout = \"{s}s\"\n");
        }
        // The clamd tests do not use the HTTP mode; its default port would collide
        // between servers running in parallel.
        t += "[http]\ntcp = \"\"\n";
        fs::write(&cfg, t).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringscan"));
        cmd.arg("serve")
            .arg("--config")
            .arg(&cfg)
            .env("RINGSCAN_CACHE_DIR", self.dir.path().join("cache"));
        cmd
    }

    fn clamd_command(&self, opts: &Options) -> Command {
        let cfg = self.dir.path().join("clamd.conf");
        let mut t = String::new();
        if let Some(p) = &self.unix {
            t += &format!("LocalSocket {}\n", p.display());
        }
        if let Some(a) = self.tcp {
            t += &format!("TCPSocket {}\nTCPAddr {}\n", a.port(), a.ip());
        }
        t += &format!("DatabaseDirectory {}\n", self.db.display());
        t += "Foreground true\nStreamMaxLength 1M\nLogTime false\n";
        if let Some(s) = opts.command_read_timeout {
            t += &format!("CommandReadTimeout {s}\n");
        }
        if let Some((uid, gid)) = clamav_uid() {
            // clamd binds its sockets after dropping to this user: it must own the dir.
            t += "User clamav\n";
            // SAFETY: a NUL-terminated path of a directory this process created.
            let c = std::ffi::CString::new(self.dir.path().as_os_str().as_encoded_bytes()).unwrap();
            assert_eq!(unsafe { libc::chown(c.as_ptr(), uid, gid) }, 0, "chown");
        }
        fs::write(&cfg, t).unwrap();
        let mut cmd = Command::new("/usr/sbin/clamd");
        cmd.arg("--foreground")
            .arg(format!("--config-file={}", cfg.display()));
        cmd
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "{:?} server exited ({st}) before answering PING; its log:\n{}",
                    self.kind,
                    self.log()
                );
            }
            let mut ready = true;
            for via in self.vias() {
                ready &= matches!(self.try_ask(via, b"zPING\0"), Ok(r) if r == b"PONG\0");
            }
            if ready {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{:?} server did not answer PING within 60 s; its log:\n{}",
                    self.kind,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The sockets it listens on.
    pub fn vias(&self) -> Vec<Via> {
        let mut v = Vec::new();
        if self.unix.is_some() {
            v.push(Via::Unix);
        }
        if self.tcp.is_some() {
            v.push(Via::Tcp);
        }
        v
    }

    /// What the server wrote to stdout/stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// A file under the allowed root (parents created), readable by everyone.
    pub fn file(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.root.join(rel);
        let mut d = p.parent().unwrap().to_path_buf();
        fs::create_dir_all(&d).unwrap();
        while d.starts_with(&self.root) {
            fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
            d.pop();
        }
        write_0644(&p, data);
        p
    }

    /// A file outside the allowed root: ringscan must refuse it by path; for real clamd
    /// (run as `clamav`) it is root's, mode 0600, so clamd cannot open it either.
    pub fn outside_file(&self, name: &str, data: &[u8]) -> PathBuf {
        if self.kind == Kind::Clamd {
            assert!(
                clamav_uid().is_some(),
                "the clamd run of the allowed-root tests needs root and the clamav user"
            );
        }
        let p = self.outside.join(name);
        fs::write(&p, data).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    /// Adds or replaces a database file (picked up at the next reload).
    pub fn db_file(&self, name: &str, text: &str) {
        let tmp = self.db.join(format!(".{name}.tmp"));
        write_0644(&tmp, text.as_bytes());
        fs::rename(&tmp, self.db.join(name)).unwrap();
    }

    /// A clamd.conf for clamdscan: `LocalSocket PATH`, or `TCPSocket PORT` + `TCPAddr`.
    pub fn clamdscan_conf(&self, via: Via) -> PathBuf {
        let (name, text) = match via {
            Via::Unix => (
                "clamdscan-unix.conf",
                format!("LocalSocket {}\n", self.unix.as_ref().unwrap().display()),
            ),
            Via::Tcp => {
                let a = self.tcp.unwrap();
                (
                    "clamdscan-tcp.conf",
                    format!("TCPSocket {}\nTCPAddr {}\n", a.port(), a.ip()),
                )
            }
        };
        let p = self.dir.path().join(name);
        fs::write(&p, text).unwrap();
        p
    }

    /// Connects; reads time out after 10 s.
    pub fn connect(&self, via: Via) -> Conn {
        self.try_connect(via)
            .unwrap_or_else(|e| panic!("connect {via:?}: {e}\nserver log:\n{}", self.log()))
    }

    pub fn try_connect(&self, via: Via) -> io::Result<Conn> {
        let c = match via {
            Via::Unix => Conn::Unix(UnixStream::connect(
                self.unix.as_ref().expect("no UNIX socket"),
            )?),
            Via::Tcp => Conn::Tcp(TcpStream::connect(self.tcp.expect("no TCP socket"))?),
        };
        c.set_read_timeout(Some(Duration::from_secs(10)));
        Ok(c)
    }

    /// One request on a fresh connection: sends `req`, then reads until the server
    /// closes (a reset counts as closing). Panics if it does not close within 10 s.
    pub fn ask(&self, via: Via, req: &[u8]) -> Vec<u8> {
        let mut c = self.connect(via);
        c.send(req);
        let (reply, end) = c.read_all();
        assert_ne!(
            end,
            End::Timeout,
            "no close within 10 s after {:?}; got {:?}",
            show(&req[..req.len().min(80)]),
            show(&reply)
        );
        reply
    }

    /// [`Server::ask`] on the UNIX socket, or on TCP when there is none.
    pub fn ask1(&self, req: &[u8]) -> Vec<u8> {
        self.ask(self.vias()[0], req)
    }

    fn try_ask(&self, via: Via, req: &[u8]) -> io::Result<Vec<u8>> {
        let mut c = self.try_connect(via)?;
        c.set_read_timeout(Some(Duration::from_secs(2)));
        c.write_all(req)?;
        let mut out = Vec::new();
        c.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Sends a signal to the server.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0, "kill {sig}");
    }

    /// Waits for the server to exit by itself (after SHUTDOWN or a signal), at most 30 s.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.child = None;
                panic!(
                    "server still running 30 s after being told to stop; log:\n{}",
                    { fs::read_to_string(&self.log).unwrap_or_default() }
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then [`Server::wait_exit`].
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit()
    }

    /// Scans `data` with INSTREAM until the reply differs from `before`, or 20 s pass;
    /// returns the last reply. Reloads are asynchronous in clamd: the old engine answers
    /// until the new one is ready.
    pub fn instream_until_changed(&self, data: &[u8], before: &[u8]) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self.ask1(&instream(b'z', data, 64 * 1024));
            if r != before || Instant::now() > deadline {
                return r;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// How a read-until-close ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Orderly close.
    Eof,
    /// ECONNRESET / EPIPE: closed with our data unread.
    Reset,
    /// Still open when the read timeout passed.
    Timeout,
}

/// A client connection.
pub enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    pub fn set_read_timeout(&self, d: Option<Duration>) {
        match self {
            Conn::Unix(s) => s.set_read_timeout(d).unwrap(),
            Conn::Tcp(s) => s.set_read_timeout(d).unwrap(),
        }
    }

    pub fn shutdown_write(&self) {
        let _ = match self {
            Conn::Unix(s) => s.shutdown(Shutdown::Write),
            Conn::Tcp(s) => s.shutdown(Shutdown::Write),
        };
    }

    /// Writes all of `data`; a server that has closed already is not an error here (the
    /// reply, or its absence, is what the test checks).
    pub fn send(&mut self, data: &[u8]) {
        match self.write_all(data) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) => {}
            Err(e) => panic!("send: {e}"),
        }
    }

    /// Reads until close or the read timeout.
    pub fn read_all(&mut self) -> (Vec<u8>, End) {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match self.read(&mut buf) {
                Ok(0) => return (out, End::Eof),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return (out, End::Timeout)
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                    ) =>
                {
                    return (out, End::Reset)
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Reads one reply: bytes up to and including `term` (`\0` or `\n`). A multi-line
    /// reply (STATS) ends with `END` + `term`; pass `b"END\0"`-style ends to
    /// [`Conn::read_until`] for those.
    pub fn read_reply(&mut self, term: u8) -> Vec<u8> {
        self.read_until(&[term])
    }

    /// Reads byte by byte until the data read ends with `end` (panics on close/timeout).
    pub fn read_until(&mut self, end: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while !out.ends_with(end) {
            match self.read(&mut b) {
                Ok(1) => out.push(b[0]),
                Ok(_) => panic!("closed before {:?}; got {:?}", show(end), show(&out)),
                Err(e) => panic!("read before {:?}: {e}; got {:?}", show(end), show(&out)),
            }
        }
        out
    }

    /// The raw fd, for `sendmsg`.
    pub fn fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        match self {
            Conn::Unix(s) => s.as_raw_fd(),
            Conn::Tcp(s) => s.as_raw_fd(),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(b),
            Conn::Tcp(s) => s.read(b),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(b),
            Conn::Tcp(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One INSTREAM chunk: 4-byte big-endian length, then the data.
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(data);
    v
}

/// A whole INSTREAM request with prefix `z` or `n`: the command, `data` in chunks of at
/// most `chunk_size` bytes, and the zero-length chunk.
pub fn instream(prefix: u8, data: &[u8], chunk_size: usize) -> Vec<u8> {
    let term = if prefix == b'z' { b'\0' } else { b'\n' };
    let mut v = vec![prefix];
    v.extend_from_slice(b"INSTREAM");
    v.push(term);
    for c in data.chunks(chunk_size.max(1)) {
        v.extend(chunk(c));
    }
    v.extend(chunk(b""));
    v
}

/// Bytes as a readable string: `\0` shown as `\0`, other control bytes escaped.
pub fn show(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

/// Asserts a reply byte for byte, showing both escaped on failure.
#[track_caller]
pub fn assert_bytes(got: &[u8], want: &[u8], what: &str) {
    assert!(
        got == want,
        "{what}:\n  got  {:?}\n  want {:?}",
        show(got),
        show(want)
    );
}

/// Deterministic pseudo-random bytes (no `rand` dependency needed).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A required external program; panics with the install hint when it is missing.
#[track_caller]
pub fn require_program(prog: &str, arg: &str) {
    match Command::new(prog).arg(arg).output() {
        Ok(_) => {}
        Err(e) => panic!(
            "`{prog}` is not available ({e}); these tests need it: run `scripts/deps.sh --test`"
        ),
    }
}

/// The Python of the venv that `scripts/deps.sh --test` makes (`target/test-venv`, with
/// the PyPI client `clamd`), or `RINGSCAN_TEST_PYTHON`.
pub fn venv_python() -> PathBuf {
    let py = std::env::var_os("RINGSCAN_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python")
        });
    let ok = Command::new(&py)
        .args(["-c", "import clamd"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} cannot `import clamd` (the PyPI clamd client); run `scripts/deps.sh --test`",
        py.display()
    );
    py
}
