//! The HTTP-mode server under test for `tests/kav_http.rs`: [`HttpServer::start`] runs
//! `ringscan serve --config FILE` in a fresh temporary directory with the `[http]`
//! listeners a [`Setup`] asks for, and waits until it answers. Requests then go through
//! the real `curl` ([`HttpServer::curl`]) or raw sockets ([`HttpServer::raw`]).
//!
//! The database is the built-in one (no `[database] paths`): it detects EICAR as
//! [`EICAR_NAME`] and holds the test URL list (`src/engine/builtin/builtin.urls`).
#![allow(dead_code)]

use std::cell::Cell;
use std::fs;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::support::{show, Conn};

/// The built-in database's name for EICAR.
pub const EICAR_NAME: &str = "Win.Test.EICAR_HDB-1";

/// The vendor's realm, in `WWW-Authenticate`.
pub const REALM: &str = "realm=\"API Kaspersky Scan Engine\"";

/// What to start.
#[derive(Clone, Debug)]
pub struct Setup {
    /// A TCP listener on a free port (`http.tcp`).
    pub tcp: bool,
    /// The host the TCP listener binds (`127.0.0.1` unless set, e.g. `0.0.0.0`).
    pub tcp_host: &'static str,
    /// A UNIX socket (`http.unix_socket`, `DIR/http.sock`).
    pub unix: bool,
    /// TLS on the TCP listener, with a self-signed certificate made by `openssl`.
    pub tls: bool,
    /// `http.session_timeout`.
    pub session_timeout: &'static str,
    /// `http.keep_alive_timeout`.
    pub keep_alive_timeout: &'static str,
    /// More `key = value` lines for `[http]`.
    pub http: Vec<String>,
    /// Lines for `[http.auth]`, if any.
    pub auth: Vec<String>,
    /// `server.log`, the log filter (the server's default when `None`).
    pub log: Option<&'static str>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            tcp: true,
            tcp_host: "127.0.0.1",
            unix: true,
            tls: false,
            session_timeout: "2s",
            keep_alive_timeout: "2s",
            http: Vec::new(),
            auth: Vec::new(),
            log: None,
        }
    }
}

/// Which listener a request goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The TCP listener (`https://` when the server has TLS).
    Tcp,
    /// The UNIX socket.
    Unix,
}

/// A server (running, or started and expected to fail). Dropping it kills it.
pub struct HttpServer {
    dir: tempfile::TempDir,
    /// `http.scanning_paths`: files scanfile may read go here.
    pub root: PathBuf,
    /// Outside the scanning paths.
    pub outside: PathBuf,
    /// The TCP listener's address (as the test connects to it: `127.0.0.1:port`).
    pub tcp: Option<SocketAddr>,
    /// The UNIX socket.
    pub unix: Option<PathBuf>,
    /// The self-signed certificate, when TLS is on (curl's `--cacert`).
    pub ca: Option<PathBuf>,
    log: PathBuf,
    child: Option<Child>,
    /// Numbers curl's output files.
    calls: Cell<u32>,
}

/// One curl run.
#[derive(Debug)]
pub struct Reply {
    /// curl's exit code (0: a response was received, whatever its status).
    pub exit: i32,
    /// The final status (0 when none).
    pub status: u16,
    /// Every response head curl saw, interim ones (100 Continue) included.
    pub heads: String,
    /// The final response head.
    pub head: String,
    /// The body.
    pub body: Vec<u8>,
    /// curl's stderr (`-v` output goes there).
    pub stderr: String,
}

impl Reply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of header `name` in the final head (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<String> {
        header_of(&self.head, name)
    }
}

/// The value of header `name` in a response head.
pub fn header_of(head: &str, name: &str) -> Option<String> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// Asserts status and exact body of a curl reply.
#[track_caller]
pub fn assert_reply(r: &Reply, status: u16, body: &str, what: &str) {
    assert!(
        r.status == status && r.body == body.as_bytes(),
        "{what}:\n  got  {} {:?}\n  want {status} {body:?}\n  head {:?}\n  curl exit {} stderr {}",
        r.status,
        show(&r.body),
        r.head,
        r.exit,
        r.stderr
    );
}

/// One response read from a raw connection.
#[derive(Debug)]
pub struct RawReply {
    /// Its status.
    pub status: u16,
    /// Its head, status line to the blank line (excluded).
    pub head: String,
    /// Its body (by `Content-Length`).
    pub body: Vec<u8>,
}

impl RawReply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<String> {
        header_of(&self.head, name)
    }
}

/// A raw client connection that reads HTTP responses one by one.
pub struct Raw {
    conn: Conn,
    buf: Vec<u8>,
}

impl Raw {
    /// Writes `data`; a server that closed already is not an error here.
    pub fn send(&mut self, data: &[u8]) {
        self.conn.send(data);
    }

    /// Sets the read timeout.
    pub fn set_read_timeout(&self, d: Duration) {
        self.conn.set_read_timeout(Some(d));
    }

    /// Shuts the write side (the server sees EOF).
    pub fn shutdown_write(&self) {
        self.conn.shutdown_write();
    }

    /// A clone of the underlying TCP stream (for a writer thread).
    pub fn tcp_clone(&self) -> TcpStream {
        match &self.conn {
            Conn::Tcp(s) => s.try_clone().unwrap(),
            Conn::Unix(_) => panic!("not a TCP connection"),
        }
    }

    /// Reads more bytes; `Ok(0)` at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        let mut b = [0u8; 65536];
        let n = self.conn.read(&mut b)?;
        self.buf.extend_from_slice(&b[..n]);
        Ok(n)
    }

    /// Whether nothing arrives for `d` (the connection stays open and silent).
    pub fn silent_for(&mut self, d: Duration) -> bool {
        self.set_read_timeout(d);
        let silent = match self.fill() {
            Err(e) => matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            Ok(_) => false,
        };
        self.set_read_timeout(Duration::from_secs(10));
        silent
    }

    /// Reads one response; `None` if the connection closed (or reset) before one
    /// byte of it. Panics on a timeout or a response cut short.
    pub fn response(&mut self) -> Option<RawReply> {
        self.read_response(true)
    }

    /// Reads the response to a HEAD request: a head, no body whatever its
    /// `Content-Length` says.
    pub fn head_response(&mut self) -> Option<RawReply> {
        self.read_response(false)
    }

    fn read_response(&mut self, with_body: bool) -> Option<RawReply> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            match self.fill() {
                Ok(0) if self.buf.is_empty() => return None,
                Ok(0) => panic!("closed inside a response head: {:?}", show(&self.buf)),
                Ok(_) => {}
                Err(e) if self.buf.is_empty() && is_reset(&e) => return None,
                Err(e) => panic!("reading a response head: {e}; got {:?}", show(&self.buf)),
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let status = status_of(&head);
        // Interim answers (100 Continue) have no body.
        let len: usize = if (100..200).contains(&status) || !with_body {
            0
        } else {
            header_of(&head, "content-length")
                .unwrap_or_else(|| panic!("no Content-Length in {head:?}"))
                .parse()
                .unwrap()
        };
        let end = head_end + 4 + len;
        while self.buf.len() < end {
            match self.fill() {
                Ok(0) => panic!("closed inside a body: {:?}", show(&self.buf)),
                Ok(_) => {}
                Err(e) => panic!("reading a body: {e}; got {:?}", show(&self.buf)),
            }
        }
        let body = self.buf[head_end + 4..end].to_vec();
        self.buf.drain(..end);
        Some(RawReply { status, head, body })
    }

    /// Reads until the server closes; the bytes that came first. Panics if it stays
    /// open past the read timeout.
    pub fn until_closed(&mut self) -> Vec<u8> {
        loop {
            match self.fill() {
                Ok(0) => return std::mem::take(&mut self.buf),
                Ok(_) => {}
                Err(e) if is_reset(&e) => return std::mem::take(&mut self.buf),
                Err(e) => panic!(
                    "the server did not close the connection: {e}; got {:?}",
                    show(&self.buf)
                ),
            }
        }
    }

    /// Whether the server closed the connection within the read timeout (no bytes
    /// may come first).
    pub fn is_closed(&mut self) -> bool {
        match self.fill() {
            Ok(0) => true,
            Ok(_) => panic!("unexpected bytes: {:?}", show(&self.buf)),
            Err(e) if is_reset(&e) => true,
            Err(_) => false,
        }
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// The status of a head's status line.
fn status_of(head: &str) -> u16 {
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"))
}

/// The first place of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= c.len() {
                out.push(A[(n >> shift) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A JSON string literal of `s` (quotes, backslashes and control bytes escaped).
pub fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A required external program; panics with a clear message when it is missing.
#[track_caller]
pub fn require(prog: &str) {
    if let Err(e) = Command::new(prog).arg("--version").output() {
        // openssl has `version`, not `--version`, but a missing program fails to spawn
        // either way.
        panic!(
            "`{prog}` is not available ({e}); the KAV HTTP tests need curl and openssl: \
             run `scripts/deps.sh --test` or install them (apt-get install curl openssl)"
        );
    }
}

/// A free TCP port of 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().unwrap().port()
}

fn toml_str(p: &Path) -> String {
    let s = p.to_str().expect("UTF-8 temp path");
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `ringscan token new`: (token, `sha256:...` hash).
pub fn new_token() -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringscan"))
        .args(["token", "new"])
        .output()
        .expect("run ringscan token new");
    assert!(out.status.success(), "ringscan token new: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let token = text
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap_or_else(|| panic!("no `token: ` line in {text:?}"))
        .trim()
        .to_owned();
    let hash = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("tokens = [\""))
        .and_then(|l| l.strip_suffix("\"]"))
        .unwrap_or_else(|| panic!("no `tokens = [...]` line in {text:?}"))
        .to_owned();
    assert!(hash.starts_with("sha256:"), "{hash}");
    (token, hash)
}

/// A self-signed certificate for localhost and 127.0.0.1: (certificate, key).
fn make_cert(dir: &Path) -> (PathBuf, PathBuf) {
    require("openssl");
    let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args(["-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-days", "1", "-subj", "/CN=localhost", "-addext"])
        .arg("subjectAltName=DNS:localhost,IP:127.0.0.1")
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

impl HttpServer {
    /// Starts a server and waits until every listener answers.
    pub fn start(setup: Setup) -> HttpServer {
        let mut s = HttpServer::launch(setup);
        s.wait_ready();
        s
    }

    /// Starts a server without waiting for it.
    pub fn launch(setup: Setup) -> HttpServer {
        require("curl");
        let dir = tempfile::Builder::new()
            .prefix("rs-kav-")
            .tempdir()
            .expect("temp dir");
        let base = dir.path().to_path_buf();
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        let root = base.join("root");
        let outside = base.join("outside");
        fs::create_dir(&root).unwrap();
        fs::create_dir(&outside).unwrap();
        let port = setup.tcp.then(free_port);
        let unix = setup.unix.then(|| base.join("http.sock"));
        let mut t = String::new();
        t += "[server]\ncores = 2\nunix_socket = \"\"\ntcp = \"\"\n";
        if let Some(log) = setup.log {
            t += &format!("log = \"{log}\"\n");
        }
        t += "[database]\ncache = false\n";
        t += "[http]\n";
        t += &format!(
            "tcp = \"{}\"\n",
            port.map(|p| format!("{}:{p}", setup.tcp_host))
                .unwrap_or_default()
        );
        t += &format!(
            "unix_socket = {}\n",
            unix.as_deref()
                .map(toml_str)
                .unwrap_or_else(|| "\"\"".into())
        );
        t += &format!("scanning_paths = [{}]\n", toml_str(&root));
        t += &format!("session_timeout = \"{}\"\n", setup.session_timeout);
        t += &format!("keep_alive_timeout = \"{}\"\n", setup.keep_alive_timeout);
        let ca = if setup.tls {
            let (cert, key) = make_cert(&base);
            t += &format!(
                "tls_certificate = {}\ntls_key = {}\n",
                toml_str(&cert),
                toml_str(&key)
            );
            Some(cert)
        } else {
            None
        };
        for line in &setup.http {
            t += line;
            t += "\n";
        }
        if !setup.auth.is_empty() {
            t += "[http.auth]\n";
            for line in &setup.auth {
                t += line;
                t += "\n";
            }
        }
        let cfg = base.join("ringscan.toml");
        fs::write(&cfg, &t).unwrap();
        let log = base.join("server.log");
        let logfile = fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ringscan"))
            .arg("serve")
            .arg("--config")
            .arg(&cfg)
            .env("RINGSCAN_CACHE_DIR", base.join("cache"))
            .stdin(Stdio::null())
            .stdout(logfile.try_clone().unwrap())
            .stderr(logfile)
            .spawn()
            .expect("run ringscan serve");
        HttpServer {
            dir,
            root,
            outside,
            tcp: port.map(|p| SocketAddr::from(([127, 0, 0, 1], p))),
            unix,
            ca,
            log,
            child: Some(child),
            calls: Cell::new(0),
        }
    }

    /// The server's resident memory, KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().expect("server running").id();
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: i32) {
        let pid = self.child.as_ref().expect("server running").id();
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
    }

    /// What the server wrote to stdout and stderr.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Waits for the server to exit by itself, at most `within`; `None` if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let vias: Vec<Via> = [
            self.tcp.map(|_| Via::Tcp),
            self.unix.as_ref().map(|_| Via::Unix),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut pending = vias;
        loop {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "ringscan exited ({st}) before answering; its log:\n{}",
                    self.log()
                );
            }
            pending.retain(|&via| !self.answers(via));
            if pending.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ringscan did not answer on {pending:?} within 30 s; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether `GET /api/v3.0/version` gets any HTTP answer on `via`.
    fn answers(&self, via: Via) -> bool {
        if via == Via::Tcp && self.ca.is_some() {
            let r = self.curl(via, "/api/v3.0/version", &["--max-time", "2"]);
            return r.status != 0;
        }
        let Ok(mut c) = self.try_raw(via) else {
            return false;
        };
        c.set_read_timeout(Duration::from_secs(2));
        c.send(b"GET /api/v3.0/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut out = Vec::new();
        let _ = c.conn.read_to_end(&mut out);
        out.starts_with(b"HTTP/1.1 ")
    }

    /// The URL of `path` as curl reaches it over `via`.
    pub fn url(&self, via: Via, path: &str) -> String {
        match via {
            Via::Tcp => {
                let a = self.tcp.expect("no TCP listener");
                let scheme = if self.ca.is_some() { "https" } else { "http" };
                format!("{scheme}://{a}{path}")
            }
            Via::Unix => format!("http://localhost{path}"),
        }
    }

    /// The curl options that reach the listener (`--unix-socket`, `--cacert`).
    pub fn curl_base(&self, via: Via) -> Vec<String> {
        let mut v = vec!["-sS".to_owned(), "--max-time".to_owned(), "30".to_owned()];
        match via {
            Via::Unix => {
                v.push("--unix-socket".into());
                v.push(
                    self.unix
                        .as_ref()
                        .expect("no UNIX socket")
                        .to_str()
                        .unwrap()
                        .into(),
                );
            }
            Via::Tcp => {
                if let Some(ca) = &self.ca {
                    v.push("--cacert".into());
                    v.push(ca.to_str().unwrap().into());
                }
            }
        }
        v
    }

    /// Runs curl on `path` over `via` with `args` (method, data, headers...).
    pub fn curl(&self, via: Via, path: &str, args: &[&str]) -> Reply {
        self.curl_url(via, &self.url(via, path), args)
    }

    /// Runs curl on a full `url` with the options of `via`.
    pub fn curl_url(&self, via: Via, url: &str, args: &[&str]) -> Reply {
        let n = self.calls.get();
        self.calls.set(n + 1);
        let body = self.dir.path().join(format!("curl{n}.body"));
        let head = self.dir.path().join(format!("curl{n}.head"));
        let out = Command::new("curl")
            .args(self.curl_base(via))
            .arg("-o")
            .arg(&body)
            .arg("-D")
            .arg(&head)
            .args(["-w", "%{http_code}"])
            .args(args)
            .arg(url)
            .output()
            .expect("run curl");
        let heads = fs::read_to_string(&head).unwrap_or_default();
        let last = heads
            .trim_end_matches("\r\n")
            .rsplit("\r\n\r\n")
            .next()
            .unwrap_or("")
            .to_owned();
        let reply = Reply {
            exit: out.status.code().unwrap_or(-1),
            status: String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0),
            heads,
            head: last,
            body: fs::read(&body).unwrap_or_default(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let _ = fs::remove_file(&body);
        let _ = fs::remove_file(&head);
        reply
    }

    /// POSTs `body` as curl `--data-binary` (from a file, so any bytes go through).
    pub fn post(&self, via: Via, path: &str, body: &[u8], args: &[&str]) -> Reply {
        let n = self.calls.get();
        let file = self.dir.path().join(format!("post{n}.data"));
        fs::write(&file, body).unwrap();
        let data = format!("@{}", file.display());
        let mut all = vec!["--data-binary", data.as_str()];
        all.extend_from_slice(args);
        let r = self.curl(via, path, &all);
        let _ = fs::remove_file(&file);
        r
    }

    /// A raw connection to `via` (read timeout 10 s).
    pub fn raw(&self, via: Via) -> Raw {
        self.try_raw(via)
            .unwrap_or_else(|e| panic!("connect {via:?}: {e}; server log:\n{}", self.log()))
    }

    fn try_raw(&self, via: Via) -> io::Result<Raw> {
        let conn = match via {
            Via::Tcp => Conn::Tcp(TcpStream::connect(self.tcp.expect("no TCP listener"))?),
            Via::Unix => Conn::Unix(UnixStream::connect(
                self.unix.as_ref().expect("no UNIX socket"),
            )?),
        };
        conn.set_read_timeout(Some(Duration::from_secs(10)));
        Ok(Raw {
            conn,
            buf: Vec::new(),
        })
    }

    /// One request on a fresh raw connection; its first response.
    pub fn ask(&self, via: Via, req: &[u8]) -> RawReply {
        let mut c = self.raw(via);
        c.send(req);
        c.response().unwrap_or_else(|| {
            panic!(
                "closed without an answer to {:?}; server log:\n{}",
                show(&req[..req.len().min(200)]),
                self.log()
            )
        })
    }

    /// A file under the scanning paths.
    pub fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.root.join(name);
        fs::write(&p, data).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        p
    }

    /// The v3 getstatistics body, from a fresh curl.
    pub fn statistics(&self, via: Via) -> String {
        let r = self.curl(via, "/api/v3.0/getstatistics", &[]);
        assert_eq!(r.status, 200, "getstatistics: {r:?}");
        r.text()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The getstatistics body with these nine counters, in the vendor's order.
pub fn stats_body(c: [u64; 9]) -> String {
    format!(
        "{{\"statistics\":{{\"total_requests\":{},\"infected_requests\":{},\
         \"protected_requests\":{},\"error_requests\":{},\"engine_errors\":{},\
         \"processed_data\":{},\"infected_data\":{},\"processed_urls\":{},\
         \"infected_urls\":{}}}}}",
        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
    )
}
