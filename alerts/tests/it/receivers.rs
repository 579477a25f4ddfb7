//! Receivers the tests start on 127.0.0.1: a webhook server (tiny_http, optionally failing the
//! first N requests), a syslog TCP or TLS server reading RFC 6587 octet-counted frames and
//! parsing each message with `syslog_rfc5424`, and a UDP syslog socket. Each records what it got
//! and stops when dropped.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A loopback port that was free a moment ago (for receivers that start "later").
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request the webhook receiver accepted (2xx).
#[derive(Debug, Clone)]
pub struct Received {
    pub body: String,
    pub authorization: Option<String>,
    pub idempotency_key: Option<String>,
}

pub struct Webhook {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    /// Requests answered (any status).
    pub requests: Arc<Mutex<usize>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Webhook {
    /// Listens on `port` (0: any); answers 503 to the first `fail_first` requests, then 200.
    pub fn start(port: u16, fail_first: usize) -> Webhook {
        let server = tiny_http::Server::http(("127.0.0.1", port)).unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(0usize));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, n, s) = (received.clone(), requests.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(50)) else {
                    continue;
                };
                let mut body = String::new();
                req.as_reader().read_to_string(&mut body).unwrap();
                let header = |name: &'static str| {
                    req.headers()
                        .iter()
                        .find(|h| h.field.equiv(name))
                        .map(|h| h.value.as_str().to_string())
                };
                let auth = header("Authorization");
                let key = header("Idempotency-Key");
                let count = {
                    let mut n = n.lock().unwrap();
                    *n += 1;
                    *n
                };
                let status = if count <= fail_first {
                    503
                } else {
                    r.lock().unwrap().push(Received {
                        body,
                        authorization: auth,
                        idempotency_key: key,
                    });
                    200
                };
                let _ =
                    req.respond(tiny_http::Response::from_string("ok").with_status_code(status));
            }
        });
        Webhook {
            url: format!("http://127.0.0.1:{port}/hooks/zonegate"),
            received,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect()
    }

    pub fn ids(&self) -> Vec<String> {
        self.bodies()
            .iter()
            .map(|b| b["id"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A syslog message as the receiving side parsed it.
#[derive(Debug, Clone)]
pub struct Syslog {
    pub parsed: syslog_rfc5424::SyslogMessage,
    pub raw: String,
}

impl Syslog {
    pub fn sd(&self, key: &str) -> Option<String> {
        self.parsed
            .sd
            .find_tuple("zonegate@32473", key)
            .map(|v| v.to_string())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.parsed.msg).unwrap()
    }
}

/// TCP (or TLS) syslog receiver with RFC 6587 octet-counting framing.
pub struct SyslogTcp {
    pub port: u16,
    pub messages: Arc<Mutex<Vec<Syslog>>>,
    /// Framing or parse errors (must stay empty).
    pub errors: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn server_tls() -> Arc<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    )
}

/// Reads octet-counted frames until EOF; each parsed with the RFC 5424 parser.
fn read_frames(stream: impl Read, messages: &Mutex<Vec<Syslog>>, errors: &Mutex<Vec<String>>) {
    let mut r = BufReader::new(stream);
    loop {
        let mut len = Vec::new();
        match r.read_until(b' ', &mut len) {
            Ok(0) => return,
            Ok(_) => {}
            Err(_) => return,
        }
        let digits = String::from_utf8_lossy(&len[..len.len().saturating_sub(1)]).to_string();
        let Ok(n) = digits.parse::<usize>() else {
            errors
                .lock()
                .unwrap()
                .push(format!("bad frame length {digits:?}"));
            return;
        };
        let mut msg = vec![0u8; n];
        if r.read_exact(&mut msg).is_err() {
            return;
        }
        let raw = String::from_utf8(msg).unwrap();
        match syslog_rfc5424::parse_message(&raw) {
            Ok(parsed) => messages.lock().unwrap().push(Syslog { parsed, raw }),
            Err(e) => errors.lock().unwrap().push(format!("{e}: {raw}")),
        }
    }
}

impl SyslogTcp {
    /// Listens on `port` (0: any), plain TCP or TLS with the fixture certificate.
    pub fn start(port: u16, tls: bool) -> SyslogTcp {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, e, s) = (messages.clone(), errors.clone(), stop.clone());
        let config = tls.then(server_tls);
        let thread = thread::spawn(move || {
            let mut conns = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        sock.set_nonblocking(false).unwrap();
                        sock.set_read_timeout(Some(Duration::from_millis(200)))
                            .unwrap();
                        let (m, e, s2) = (m.clone(), e.clone(), s.clone());
                        let config = config.clone();
                        conns.push(thread::spawn(move || {
                            let reader = StopReader { sock, stop: s2 };
                            match config {
                                None => read_frames(reader, &m, &e),
                                Some(cfg) => {
                                    let conn = rustls::ServerConnection::new(cfg).unwrap();
                                    let tls = rustls::StreamOwned::new(conn, reader);
                                    read_frames(tls, &m, &e);
                                }
                            }
                        }));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        SyslogTcp {
            port,
            messages,
            errors,
            stop,
            thread: Some(thread),
        }
    }

    pub fn ids(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.sd("id").unwrap())
            .collect()
    }
}

impl Drop for SyslogTcp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A socket read that retries timeouts until the receiver stops, then reports EOF.
pub struct StopReader {
    sock: TcpStream,
    stop: Arc<AtomicBool>,
}

impl StopReader {
    pub fn new(sock: TcpStream, stop: Arc<AtomicBool>) -> StopReader {
        StopReader { sock, stop }
    }
}

impl Read for StopReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.sock.read(buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if self.stop.load(Ordering::SeqCst) {
                        return Ok(0);
                    }
                }
                other => return other,
            }
        }
    }
}

impl std::io::Write for StopReader {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::Write::write(&mut self.sock, buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::Write::flush(&mut self.sock)
    }
}

/// Receives datagrams (UDP or a unix socket) and parses each as one RFC 5424 message.
pub fn parse_datagram(buf: &[u8]) -> Syslog {
    let raw = String::from_utf8(buf.to_vec()).unwrap();
    Syslog {
        parsed: syslog_rfc5424::parse_message(&raw).unwrap(),
        raw,
    }
}

pub fn udp_receiver() -> (UdpSocket, u16) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = s.local_addr().unwrap().port();
    (s, port)
}
