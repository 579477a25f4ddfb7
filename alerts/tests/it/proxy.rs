//! The webhook through an HTTP proxy: a small real proxy on 127.0.0.1 (CONNECT tunnels and
//! absolute-form requests, HTTP Basic `Proxy-Authorization` checked, every request line logged)
//! in front of an HTTPS receiver that requires a client certificate and of the plain tiny_http
//! receiver. Alerts arrive through it; wrong credentials give a clear 407 error and nothing is
//! delivered (nor lost: they stay queued).

use crate::receivers::{fixture, Webhook};
use crate::{context, wait_until, TempDir};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;
use zonegate_alerts::config::*;
use zonegate_alerts::model::*;
use zonegate_alerts::queue::QueuedAlert;
use zonegate_alerts::{AlertPipeline, AlertsConfig};

/// `zonegate-gw1:s3cret:pw` in base64 (computed outside our code, with Python's base64).
const GOOD_BASIC: &str = "Basic em9uZWdhdGUtZ3cxOnMzY3JldDpwdw==";

/// (request line, Proxy-Authorization) per connection.
type ProxyLog = Arc<Mutex<Vec<(String, Option<String>)>>>;
/// Bodies received, and how many requests came with a client certificate.
type Received = (Arc<Mutex<Vec<String>>>, Arc<Mutex<usize>>);

/// A forward proxy: logs each connection's first request line and its Proxy-Authorization,
/// answers 407 when that is not [`GOOD_BASIC`], otherwise tunnels (CONNECT) or forwards.
struct TestProxy {
    port: u16,
    log: ProxyLog,
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl TestProxy {
    fn start() -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        // The thread ends with the test process; accept() blocks on an idle socket only.
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let l = l.clone();
                thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match client.read(&mut b) {
                            Ok(1) => head.push(b[0]),
                            _ => return,
                        }
                    }
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let line = text.lines().next().unwrap_or("").to_string();
                    let auth = text.lines().find_map(|h| {
                        let (k, v) = h.split_once(':')?;
                        k.eq_ignore_ascii_case("proxy-authorization")
                            .then(|| v.trim().to_string())
                    });
                    l.lock().unwrap().push((line.clone(), auth.clone()));
                    if auth.as_deref() != Some(GOOD_BASIC) {
                        let _ = client.write_all(
                            b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                              Proxy-Authenticate: Basic realm=\"test\"\r\n\
                              Content-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        return;
                    }
                    let mut parts = line.split(' ');
                    let (method, target) = (parts.next().unwrap(), parts.next().unwrap());
                    let upstream = if method == "CONNECT" {
                        let up = TcpStream::connect(target).unwrap();
                        client
                            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                            .unwrap();
                        up
                    } else {
                        // Absolute form: http://host:port/path; the request goes on as it came
                        // (HTTP/1.1 servers accept the absolute form).
                        let authority = target
                            .strip_prefix("http://")
                            .unwrap()
                            .split('/')
                            .next()
                            .unwrap();
                        let mut up = TcpStream::connect(authority).unwrap();
                        up.write_all(&head).unwrap();
                        up
                    };
                    let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                    let t = thread::spawn(move || pipe(c2, u2));
                    pipe(upstream, client);
                    let _ = t.join();
                });
            }
        });
        TestProxy { port, log }
    }

    fn lines(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(l, _)| l.clone())
            .collect()
    }
}

/// An HTTPS receiver (keep-alive, 200 to every POST) that requires a client certificate from
/// the test client CA; records bodies and the subject-bearing certificate it got.
fn mtls_webhook() -> (u16, Received) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let with_cert = Arc::new(Mutex::new(0usize));
    let (b, wc) = (bodies.clone(), with_cert.clone());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(fixture("client-ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .unwrap();
    let certs = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect::<Vec<_>>();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .unwrap(),
    );
    thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { return };
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    match tls.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0);
                while buf.len() < end + 4 + len {
                    match tls.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                if tls.conn.peer_certificates().is_some_and(|c| !c.is_empty()) {
                    *wc.lock().unwrap() += 1;
                }
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                b.lock().unwrap().push(body);
                buf.drain(..end + 4 + len);
                if tls
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .is_err()
                {
                    break;
                }
            }
        }
    });
    (port, (bodies, with_cert))
}

fn credentials(dir: &TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.0.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn hook(name: &str, url: String, proxy: u16, creds: std::path::PathBuf) -> WebhookConfig {
    WebhookConfig {
        common: SinkCommon {
            name: Some(name.into()),
            retry_initial_ms: 20,
            retry_max_ms: 200,
            ..Default::default()
        },
        url,
        timeout_secs: 5,
        ca_file: Some(fixture("ca.pem")),
        proxy: Some(format!("http://127.0.0.1:{proxy}")),
        proxy_credentials_file: Some(creds),
        ..Default::default()
    }
}

fn heartbeat(n: u64) -> AlertKind {
    AlertKind::Heartbeat(Heartbeat {
        mode: "enforce".into(),
        uptime_s: n,
        interval_s: 60,
        drift_count: None,
        queue_depth: 0,
        staged_change: None,
    })
}

#[test]
fn webhooks_go_through_an_authenticating_proxy_with_a_client_certificate() {
    let dir = TempDir::new("proxy");
    let proxy = TestProxy::start();
    let (https_port, (https_bodies, with_cert)) = mtls_webhook();
    let plain = Webhook::start(0, 0);
    let creds = credentials(&dir, "proxy.cred", "zonegate-gw1:s3cret:pw\n");
    let mut tunnelled = hook(
        "https-via-proxy",
        format!("https://127.0.0.1:{https_port}/hook"),
        proxy.port,
        creds.clone(),
    );
    tunnelled.client_cert_file = Some(fixture("client.pem"));
    tunnelled.client_key_file = Some(fixture("client.key"));
    let absolute = hook("http-via-proxy", plain.url.clone(), proxy.port, creds);
    let config = AlertsConfig {
        time_zone: Some("Asia/Tokyo".into()),
        sinks: vec![
            SinkConfig::Webhook(tunnelled),
            SinkConfig::Webhook(absolute),
        ],
        ..Default::default()
    };
    assert_eq!(config.validate(), vec![]);
    let p = AlertPipeline::start(&config, &dir.0.join("state"), context()).unwrap();
    let ids: BTreeSet<String> = (0..5).map(|n| p.emit(heartbeat(n)).to_string()).collect();
    assert!(
        wait_until(Duration::from_secs(20), || {
            https_bodies.lock().unwrap().len() >= 5 && plain.received.lock().unwrap().len() >= 5
        }),
        "{}\nproxy saw {:?}",
        p.render_metrics(),
        proxy.lines()
    );
    let got: BTreeSet<String> = https_bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            serde_json::from_str::<serde_json::Value>(b).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(got, ids);
    assert_eq!(plain.ids().into_iter().collect::<BTreeSet<_>>(), ids);
    assert_eq!(
        *with_cert.lock().unwrap(),
        https_bodies.lock().unwrap().len(),
        "every request came with the client certificate"
    );
    let lines = proxy.lines();
    assert!(
        lines.contains(&format!("CONNECT 127.0.0.1:{https_port} HTTP/1.1")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("POST {} HTTP/1.1", plain.url))),
        "{lines:?}"
    );
    assert!(proxy
        .log
        .lock()
        .unwrap()
        .iter()
        .all(|(_, a)| a.as_deref() == Some(GOOD_BASIC)));
    p.shutdown(Duration::from_secs(3));
}

#[test]
fn a_proxy_that_refuses_the_credentials_gives_a_clear_error_and_keeps_the_alerts() {
    let dir = TempDir::new("proxy407");
    let proxy = TestProxy::start();
    let (https_port, (https_bodies, _)) = mtls_webhook();
    let wrong = credentials(&dir, "proxy.cred", "zonegate-gw1:wrong\n");
    let mut config = hook(
        "https-via-proxy",
        format!("https://127.0.0.1:{https_port}/hook"),
        proxy.port,
        wrong.clone(),
    );
    config.client_cert_file = Some(fixture("client.pem"));
    config.client_key_file = Some(fixture("client.key"));
    // The sink itself, to read its error.
    let mut sink = zonegate_alerts::sink::build(&SinkConfig::Webhook(config.clone()), "t").unwrap();
    let alert = QueuedAlert {
        seq: 1,
        severity: Severity::Info,
        payload: br#"{"id":"0196-1","type":"heartbeat"}"#.to_vec(),
    };
    let err = sink.deliver(&alert).unwrap_err().to_string();
    assert!(
        err.contains("407") && err.contains(&wrong.display().to_string()),
        "{err}"
    );
    // A credentials file every user can read is refused before anything is sent.
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = proxy.lines().len();
    let err = sink.deliver(&alert).unwrap_err().to_string();
    assert!(err.contains("readable by every user"), "{err}");
    assert_eq!(proxy.lines().len(), before);
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Through the pipeline: failures are counted, nothing delivered, and after the file is
    // fixed the queued alerts arrive.
    let p = AlertPipeline::start(
        &AlertsConfig {
            sinks: vec![SinkConfig::Webhook(config)],
            ..Default::default()
        },
        &dir.0.join("state"),
        context(),
    )
    .unwrap();
    let ids: BTreeSet<String> = (0..3).map(|n| p.emit(heartbeat(n)).to_string()).collect();
    assert!(wait_until(Duration::from_secs(15), || {
        p.metrics().sinks[0].failed >= 2
    }));
    assert_eq!(p.metrics().sinks[0].sent, 0);
    assert!(https_bodies.lock().unwrap().is_empty());
    std::fs::write(&wrong, "zonegate-gw1:s3cret:pw\n").unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || https_bodies
            .lock()
            .unwrap()
            .len()
            >= 3),
        "{}",
        p.render_metrics()
    );
    let got: BTreeSet<String> = https_bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            serde_json::from_str::<serde_json::Value>(b).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(got, ids);
    p.shutdown(Duration::from_secs(3));
}
