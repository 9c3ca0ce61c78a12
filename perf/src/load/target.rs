//! Every protocol behind one target syntax, and one client's connection state.
//!
//! Targets: `clamd+unix:/path`, `clamd+tcp:HOST:PORT` ([`clamd`]), `kav3+unix:/path`,
//! `kav3+tcp:HOST:PORT`, `kav1+unix:/path`, `kav1+tcp:HOST:PORT` ([`kav`]). A
//! [`Client`] is what one load thread holds: for clamd, nothing (a connection per
//! `INSTREAM`, as clamdscan does) or an `IDSESSION` (`--session`); for KAV, one keep-alive
//! HTTP/1.1 connection. [`Prepared`] holds the HTTP requests built once per object
//! before the clock starts.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::clamd::{self, parse_scan_reply, Reply, Session};
use super::kav;
use super::objects::{Check, Object};
use super::recorder::ErrorKind;
use super::util::{parse_duration, parse_size};

/// A server and the protocol to speak to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// clamd's socket protocol (`INSTREAM`).
    Clamd(clamd::Target),
    /// Kaspersky Scan Engine's HTTP mode (`scanmemory`, v1 or v3).
    Kav(kav::Target),
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.starts_with("clamd+") {
            s.parse().map(Target::Clamd)
        } else if s.starts_with("kav") {
            s.parse().map(Target::Kav)
        } else {
            Err(format!(
                "{s:?}: expected clamd+unix:/path, clamd+tcp:HOST:PORT, kav3+unix:/path, \
                 kav3+tcp:HOST:PORT, kav1+unix:/path or kav1+tcp:HOST:PORT"
            ))
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Clamd(t) => t.fmt(f),
            Target::Kav(t) => t.fmt(f),
        }
    }
}

impl Target {
    /// `clamd`, `kav1` or `kav3`.
    pub fn protocol(&self) -> &'static str {
        match self {
            Target::Clamd(_) => "clamd",
            Target::Kav(t) => t.version.as_str(),
        }
    }

    /// `unix` or `tcp`.
    pub fn transport(&self) -> &'static str {
        let unix = match self {
            Target::Clamd(t) => matches!(t, clamd::Target::Unix(_)),
            Target::Kav(t) => matches!(t.endpoint, super::net::Endpoint::Unix(_)),
        };
        if unix {
            "unix"
        } else {
            "tcp"
        }
    }
}

/// How clients talk to the server: the target and the per-request settings, shared by
/// `closed` and `open`.
#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// The server: clamd+unix:/path, clamd+tcp:HOST:PORT, kav3+unix:/path,
    /// kav3+tcp:HOST:PORT, kav1+unix:/path or kav1+tcp:HOST:PORT.
    #[arg(long)]
    pub target: Target,
    /// Socket timeout for connect and for every read and write.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub timeout: Duration,
    /// clamd: INSTREAM chunk size, the length each 4-byte header announces (clients
    /// differ; smaller chunks cost more writes and reads; clamd refuses a chunk beyond
    /// what is left of StreamMaxLength).
    #[arg(long, value_parser = parse_size, default_value = "64K")]
    pub chunk: u64,
    /// clamd: one IDSESSION connection per client instead of one connection per request
    /// (KAV targets always keep one connection per client alive).
    #[arg(long)]
    pub session: bool,
}

impl ClientArgs {
    /// What a request is, for reports: `instream` (a connection per request),
    /// `instream-session`, `kav1-keepalive`, `kav3-keepalive`.
    pub fn mode(&self) -> String {
        match &self.target {
            Target::Clamd(_) if self.session => "instream-session".into(),
            Target::Clamd(_) => "instream".into(),
            Target::Kav(t) => format!("{}-keepalive", t.version.as_str()),
        }
    }

    /// The chunk size as the clamd code takes it.
    pub fn chunk_bytes(&self) -> usize {
        self.chunk.clamp(1, u32::MAX as u64) as usize
    }
}

/// Requests built before the clock starts, one per object, in the objects' order
/// (empty for clamd, whose framing costs nothing to build).
#[derive(Default)]
pub struct Prepared {
    requests: Vec<kav::Request>,
}

impl Prepared {
    /// Builds every object's request for `target` (for KAV v3: the base64 JSON body).
    pub fn new(target: &Target, objects: &[Object]) -> Prepared {
        match target {
            Target::Clamd(_) => Prepared::default(),
            Target::Kav(t) => Prepared {
                requests: objects
                    .iter()
                    .map(|o| kav::Request::build(t, &o.data))
                    .collect(),
            },
        }
    }

    /// Object `i`'s request, if prepared.
    pub fn get(&self, i: usize) -> Option<&kav::Request> {
        self.requests.get(i)
    }
}

/// What one load thread holds: its connection, if the mode keeps one.
pub struct Client<'a> {
    args: &'a ClientArgs,
    state: State,
    /// Connections opened outside a session (clamd, one per request).
    connects: u64,
}

enum State {
    /// clamd, a connection per request.
    PerRequest,
    /// clamd `--session`: the IDSESSION, opened on demand, dropped after a failure.
    ClamdSession(Option<Session>),
    /// KAV: the keep-alive connection.
    Kav(kav::Session),
}

impl<'a> Client<'a> {
    /// A client with no connection yet.
    pub fn new(args: &'a ClientArgs) -> Client<'a> {
        let state = match &args.target {
            Target::Clamd(_) if args.session => State::ClamdSession(None),
            Target::Clamd(_) => State::PerRequest,
            Target::Kav(_) => State::Kav(kav::Session::default()),
        };
        Client {
            args,
            state,
            connects: 0,
        }
    }

    /// Opens the persistent connection now, when the mode has one, so that the first
    /// measured request does not pay for it.
    pub fn connect_ahead(&mut self) -> Result<(), (ErrorKind, String)> {
        let io = |e: std::io::Error| (ErrorKind::of_io(&e, true), e.to_string());
        match (&mut self.state, &self.args.target) {
            (State::ClamdSession(slot @ None), Target::Clamd(t)) => {
                *slot = Some(Session::open(t, self.args.timeout).map_err(io)?);
                self.connects += 1;
            }
            (State::Kav(s), Target::Kav(t)) => {
                s.ensure_connected(&t.endpoint, self.args.timeout)
                    .map_err(io)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Connections this client opened.
    pub fn connects(&self) -> u64 {
        match &self.state {
            State::Kav(s) => s.connects,
            _ => self.connects,
        }
    }

    /// Sends `obj` and returns the parsed answer. `prepared`: its request from
    /// [`Prepared`]; KAV builds one on the spot without it (the first pass).
    pub fn request(
        &mut self,
        obj: &Object,
        prepared: Option<&kav::Request>,
    ) -> Result<Reply, (ErrorKind, String)> {
        let timeout = self.args.timeout;
        let chunk = self.args.chunk_bytes();
        match (&mut self.state, &self.args.target) {
            (State::Kav(s), Target::Kav(t)) => match prepared {
                Some(req) => s.scan(t, req, &obj.data, timeout),
                None => s.scan(t, &kav::Request::build(t, &obj.data), &obj.data, timeout),
            },
            (State::ClamdSession(slot), Target::Clamd(t)) => {
                clamd_session_request(t, slot, &mut self.connects, obj, chunk, timeout)
            }
            (_, Target::Clamd(t)) => clamd_request(t, &mut self.connects, obj, chunk, timeout),
            (_, Target::Kav(_)) => Err((ErrorKind::Protocol, "client state mismatch".into())),
        }
    }

    /// Ends a clamd session politely (`zEND`); other connections just close.
    pub fn finish(self) {
        if let State::ClamdSession(Some(s)) = self.state {
            s.end();
        }
    }
}

fn io_err(connecting: bool) -> impl Fn(std::io::Error) -> (ErrorKind, String) {
    move |e| (ErrorKind::of_io(&e, connecting), e.to_string())
}

/// clamd, a fresh connection: connect, INSTREAM, reply, close.
fn clamd_request(
    target: &clamd::Target,
    connects: &mut u64,
    obj: &Object,
    chunk: usize,
    timeout: Duration,
) -> Result<Reply, (ErrorKind, String)> {
    let mut conn = target.connect(timeout).map_err(io_err(true))?;
    *connects += 1;
    if let Err(e) = conn.send_instream(&obj.data, chunk) {
        // The server may have answered and closed (size limit): say what it said.
        let _ = conn.set_read_timeout(Duration::from_millis(200));
        return match conn.read_reply() {
            Ok(r) => Err((ErrorKind::ServerError, format!("{r} (while sending: {e})"))),
            Err(_) => Err(io_err(false)(e)),
        };
    }
    let text = conn.read_reply().map_err(io_err(false))?;
    parse_scan_reply(&text, None).map_err(|e| (ErrorKind::Protocol, e))
}

/// clamd `--session`: INSTREAM inside the client's IDSESSION, opened on demand.
fn clamd_session_request(
    target: &clamd::Target,
    slot: &mut Option<Session>,
    connects: &mut u64,
    obj: &Object,
    chunk: usize,
    timeout: Duration,
) -> Result<Reply, (ErrorKind, String)> {
    let s = match slot {
        Some(s) => s,
        None => {
            *connects += 1;
            slot.insert(Session::open(target, timeout).map_err(io_err(true))?)
        }
    };
    let id = s.id();
    let result = s
        .conn()
        .send_instream(&obj.data, chunk)
        .and_then(|_| s.conn().read_reply())
        .map_err(io_err(false))
        .and_then(|text| parse_scan_reply(&text, Some(id)).map_err(|e| (ErrorKind::Protocol, e)));
    match &result {
        Ok(Reply::Clean) | Ok(Reply::Found(_)) => s.advance(),
        // After an error the server may have closed the session: start over.
        _ => *slot = None,
    }
    result
}

/// Checks an answer against the object's expectation: `Ok(true)` for a right detection,
/// `Ok(false)` for a right clean answer, the error kind otherwise.
pub fn judge(
    obj: &Object,
    reply: Result<Reply, (ErrorKind, String)>,
) -> Result<bool, (ErrorKind, String)> {
    match reply.map_err(|(kind, e)| (kind, format!("{}: {e}", obj.name)))? {
        Reply::Error(e) => Err((ErrorKind::ServerError, format!("{}: {e}", obj.name))),
        r => {
            let kind = match obj.expect.check(&r) {
                Check::Right => return Ok(matches!(r, Reply::Found(_))),
                Check::WrongVerdict => ErrorKind::WrongVerdict,
                Check::WrongName => ErrorKind::WrongName,
            };
            Err((
                kind,
                format!(
                    "{}: expected {}, got {r:?}",
                    obj.name,
                    obj.expect.describe()
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::objects::Expect;

    #[test]
    fn targets() {
        for t in [
            "clamd+unix:/a",
            "clamd+tcp:127.0.0.1:3310",
            "kav3+tcp:127.0.0.1:9999",
            "kav3+unix:/b",
            "kav1+tcp:h:1",
            "kav1+unix:/c",
        ] {
            let parsed: Target = t.parse().unwrap();
            assert_eq!(parsed.to_string(), t);
        }
        let t: Target = "kav3+unix:/b".parse().unwrap();
        assert_eq!((t.protocol(), t.transport()), ("kav3", "unix"));
        let t: Target = "clamd+tcp:h:1".parse().unwrap();
        assert_eq!((t.protocol(), t.transport()), ("clamd", "tcp"));
        assert!("http://h:1".parse::<Target>().is_err());
        assert!("kav2+tcp:h:1".parse::<Target>().is_err());
    }

    #[test]
    fn judging() {
        let obj = |expect| Object {
            name: "o".into(),
            data: vec![],
            expect,
        };
        let found = obj(Expect::Found(vec![]));
        assert_eq!(judge(&found, Ok(Reply::Found("Any".into()))), Ok(true));
        assert_eq!(
            judge(&found, Ok(Reply::Clean)).unwrap_err().0,
            ErrorKind::WrongVerdict
        );
        let clean = obj(Expect::Clean);
        assert_eq!(judge(&clean, Ok(Reply::Clean)), Ok(false));
        assert_eq!(
            judge(&clean, Ok(Reply::Error("SERVER_ERROR".into())))
                .unwrap_err()
                .0,
            ErrorKind::ServerError
        );
        assert_eq!(
            judge(&clean, Err((ErrorKind::HttpStatus, "HTTP 500".into())))
                .unwrap_err()
                .0,
            ErrorKind::HttpStatus
        );
        let named = obj(Expect::Found(vec!["A".into()]));
        assert_eq!(
            judge(&named, Ok(Reply::Found("B".into()))).unwrap_err().0,
            ErrorKind::WrongName
        );
    }
}
