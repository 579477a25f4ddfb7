//! The security team's side of the alerts, started by a test on the loopback of the GATEWAY
//! namespace (where the agent runs): a webhook server (tiny_http, optionally answering 503 to
//! the first N requests), a TCP syslog server reading RFC 6587 octet-counted frames and parsing
//! each message with an independent RFC 5424 parser (`syslog_rfc5424`), a webhook that accepts
//! connections and never answers (a stuck collector), and the agent's metrics endpoint. Sockets
//! are created on a thread inside the namespace and stay there; serving threads are ordinary.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;
use zonegate_e2e::lab::in_ns;

/// Binds `127.0.0.1:port` inside `ns`.
pub fn listen(ns: &str, port: u16) -> TcpListener {
    in_ns(ns, move || TcpListener::bind(("127.0.0.1", port)))
        .unwrap_or_else(|e| panic!("bind 127.0.0.1:{port} in {ns}: {e}"))
}

/// A webhook receiver: records each accepted (2xx) body with its Idempotency-Key.
pub struct Webhook {
    pub bodies: Arc<Mutex<Vec<Value>>>,
    /// Requests answered, any status.
    pub requests: Arc<AtomicUsize>,
    /// Idempotency-Key headers that did not equal the body's id.
    pub key_mismatches: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Webhook {
    /// Listens on 127.0.0.1:`port` in `ns`; answers 503 to the first `fail_first` requests.
    pub fn start(ns: &str, port: u16, fail_first: usize) -> Webhook {
        let server =
            tiny_http::Server::from_listener(listen(ns, port), None).expect("tiny_http server");
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let key_mismatches = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, n, k, s) = (
            bodies.clone(),
            requests.clone(),
            key_mismatches.clone(),
            stop.clone(),
        );
        let thread = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(50)) else {
                    continue;
                };
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let key = req
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Idempotency-Key"))
                    .map(|h| h.value.as_str().to_string());
                let count = n.fetch_add(1, Ordering::SeqCst) + 1;
                let status = if count <= fail_first {
                    503
                } else {
                    match serde_json::from_str::<Value>(&body) {
                        Ok(v) => {
                            if key.as_deref() != v["id"].as_str() {
                                k.fetch_add(1, Ordering::SeqCst);
                            }
                            b.lock().expect("bodies").push(v);
                            200
                        }
                        Err(_) => 400,
                    }
                };
                let _ =
                    req.respond(tiny_http::Response::from_string("ok").with_status_code(status));
            }
        });
        Webhook {
            bodies,
            requests,
            key_mismatches,
            stop,
            thread: Some(thread),
        }
    }

    pub fn all(&self) -> Vec<Value> {
        self.bodies.lock().expect("bodies").clone()
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

/// One syslog message as the receiving side parsed it.
#[derive(Debug, Clone)]
pub struct SyslogMsg {
    pub parsed: syslog_rfc5424::SyslogMessage,
    pub raw: String,
}

impl SyslogMsg {
    /// A parameter of the `zonegate@32473` structured-data element.
    pub fn sd(&self, key: &str) -> Option<String> {
        self.parsed
            .sd
            .find_tuple("zonegate@32473", key)
            .map(|v| v.to_string())
    }

    /// MSG: the alert JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.parsed.msg).unwrap_or(Value::Null)
    }
}

/// A TCP syslog receiver (RFC 6587 octet counting, RFC 5424 messages).
pub struct SyslogTcp {
    pub messages: Arc<Mutex<Vec<SyslogMsg>>>,
    /// Framing or parse errors (must stay empty).
    pub errors: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Reads octet-counted frames until EOF, each parsed as RFC 5424. Blocking: the thread ends
/// when the sender closes the connection (the agent stops or dies).
fn read_frames(stream: TcpStream, messages: &Mutex<Vec<SyslogMsg>>, errors: &Mutex<Vec<String>>) {
    let mut r = BufReader::new(stream);
    loop {
        let mut len = Vec::new();
        match r.read_until(b' ', &mut len) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let digits = String::from_utf8_lossy(&len[..len.len().saturating_sub(1)]).to_string();
        let Ok(n) = digits.parse::<usize>() else {
            errors
                .lock()
                .expect("errors")
                .push(format!("bad frame length {digits:?}"));
            return;
        };
        let mut msg = vec![0u8; n];
        if r.read_exact(&mut msg).is_err() {
            return;
        }
        let raw = String::from_utf8_lossy(&msg).into_owned();
        match syslog_rfc5424::parse_message(&raw) {
            Ok(parsed) => messages
                .lock()
                .expect("messages")
                .push(SyslogMsg { parsed, raw }),
            Err(e) => errors.lock().expect("errors").push(format!("{e}: {raw}")),
        }
    }
}

impl SyslogTcp {
    pub fn start(ns: &str, port: u16) -> SyslogTcp {
        let listener = listen(ns, port);
        listener.set_nonblocking(true).expect("nonblocking");
        let messages = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, e, s) = (messages.clone(), errors.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        let _ = sock.set_nonblocking(false);
                        let (m, e) = (m.clone(), e.clone());
                        thread::spawn(move || read_frames(sock, &m, &e));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        SyslogTcp {
            messages,
            errors,
            stop,
            thread: Some(thread),
        }
    }

    pub fn all(&self) -> Vec<SyslogMsg> {
        self.messages.lock().expect("messages").clone()
    }

    /// The alert JSON of every message.
    pub fn alerts(&self) -> Vec<Value> {
        self.all().iter().map(SyslogMsg::json).collect()
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

/// A collector that accepts connections (the kernel completes them into the backlog) and never
/// reads or answers: every request hangs until the sink's own timeout.
pub struct Stuck {
    _listener: TcpListener,
}

impl Stuck {
    pub fn start(ns: &str, port: u16) -> Stuck {
        Stuck {
            _listener: listen(ns, port),
        }
    }
}

/// `GET /metrics` from the agent's endpoint inside `ns`; the body.
pub fn fetch_metrics(ns: &str, port: u16) -> String {
    in_ns(ns, move || -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        Ok(text
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default())
    })
    .unwrap_or_default()
}

/// The value of the sample `name{labels...}` whose labels include all of `labels`.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, have) = match series.split_once('{') {
                Some((m, rest)) => (m, parse_labels(rest.trim_end_matches('}'))),
                None => (series, BTreeMap::new()),
            };
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| have.get(*k).map(String::as_str) == Some(*v)))
            .then(|| value.parse().ok())
            .flatten()
        })
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while let Some((k, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(if n == 'n' { '\n' } else { n });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(k.trim_start_matches(',').to_string(), value);
        rest = &after[end..];
    }
    out
}

/// Distinct ids of a list of alerts, and how many arrived more than once.
pub fn distinct(alerts: &[Value]) -> (BTreeSet<String>, usize) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for a in alerts {
        if let Some(id) = a["id"].as_str() {
            *counts.entry(id.to_string()).or_default() += 1;
        }
    }
    let dups = counts.values().filter(|n| **n > 1).count();
    (counts.into_keys().collect(), dups)
}

/// The JSON lines of the file sink (an absent file: none yet).
pub fn file_alerts(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Alerts of `type`.
pub fn of_type<'a>(alerts: &'a [Value], t: &str) -> Vec<&'a Value> {
    alerts.iter().filter(|a| a["type"] == t).collect()
}
