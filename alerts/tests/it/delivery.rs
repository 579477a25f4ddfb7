//! Delivery to real receivers on loopback: every alert at every sink with the documented
//! schema, receivers down then up, TLS with and without a trusted CA, UDP and unix-socket
//! syslog, file rotation, a stuck sink that must not delay emit or the other sinks, and the
//! queue's size cap.

use crate::receivers::{self, fixture, free_port, SyslogTcp, Webhook};
use crate::{context, one_of_each, wait_until, TempDir};
use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zonegate_alerts::config::*;
use zonegate_alerts::model::*;
use zonegate_alerts::{Alert, AlertPipeline, AlertsConfig};

fn fast(name: &str) -> SinkCommon {
    SinkCommon {
        name: Some(name.into()),
        retry_initial_ms: 20,
        retry_max_ms: 200,
        ..Default::default()
    }
}

pub fn webhook_sink(name: &str, url: &str, token: Option<std::path::PathBuf>) -> SinkConfig {
    SinkConfig::Webhook(WebhookConfig {
        common: fast(name),
        url: url.into(),
        bearer_token_file: token,
        timeout_secs: 2,
        ..Default::default()
    })
}

fn syslog_sink(name: &str, transport: SyslogTransport, address: String) -> SinkConfig {
    SinkConfig::Syslog(SyslogConfig {
        common: fast(name),
        transport,
        address,
        timeout_secs: 2,
        ..Default::default()
    })
}

fn file_sink(name: &str, path: std::path::PathBuf, max_bytes: u64, keep: u32) -> SinkConfig {
    SinkConfig::File(FileConfig {
        common: fast(name),
        path,
        max_bytes,
        keep,
    })
}

fn start(dir: &TempDir, sinks: Vec<SinkConfig>) -> AlertPipeline {
    let config = AlertsConfig {
        sinks,
        time_zone: Some("Asia/Tokyo".into()),
        ..Default::default()
    };
    AlertPipeline::start(&config, &dir.0, context()).unwrap()
}

fn heartbeat(n: u64) -> AlertKind {
    AlertKind::Heartbeat(Heartbeat {
        mode: format!("enforce-{n}"),
        uptime_s: n,
        interval_s: 60,
        drift_count: None,
        queue_depth: 0,
        staged_change: None,
    })
}

#[test]
fn every_alert_reaches_every_sink_in_the_documented_schema() {
    let dir = TempDir::new("each");
    let hook = Webhook::start(0, 0);
    let syslog = SyslogTcp::start(0, false);
    let token = dir.0.join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let out = dir.0.join("out/alerts.jsonl");
    let p = start(
        &dir,
        vec![
            webhook_sink("hook", &hook.url, Some(token)),
            syslog_sink(
                "siem",
                SyslogTransport::Tcp,
                format!("127.0.0.1:{}", syslog.port),
            ),
            file_sink("file", out.clone(), 10 << 20, 3),
        ],
    );
    let kinds = one_of_each();
    let ids: Vec<String> = kinds
        .iter()
        .map(|k| p.emit(k.clone()).to_string())
        .collect();
    assert!(
        p.wait_delivered(Duration::from_secs(20)),
        "{}",
        p.render_metrics()
    );
    let want: BTreeSet<String> = ids.iter().cloned().collect();

    // Webhook: one POST per alert, bearer token, idempotency key = id.
    let got = hook.received.lock().unwrap().clone();
    assert_eq!(got.len(), ids.len());
    for r in &got {
        assert_eq!(r.authorization.as_deref(), Some("Bearer s3cret-token"));
        let alert: Alert = serde_json::from_str(&r.body).unwrap();
        assert_eq!(r.idempotency_key.as_deref(), Some(alert.id.as_str()));
        assert_eq!(alert.schema, "zonegate-alert");
        assert_eq!(alert.schema_version, SCHEMA_VERSION);
        assert_eq!(alert.gateway, "gw1");
        assert_eq!(alert.policy.as_ref().unwrap().revision, "2026-11");
        assert!(alert.time.ends_with("+09:00"), "{}", alert.time);
        alert
            .time
            .parse::<jiff::Timestamp>()
            .unwrap_or_else(|e| panic!("time {:?} is not RFC 3339: {e}", alert.time));
        assert!(!alert.summary.is_empty());
        assert_eq!(alert.severity, alert.kind.severity());
    }
    assert_eq!(hook.ids().into_iter().collect::<BTreeSet<_>>(), want);
    let types: BTreeSet<String> = hook
        .bodies()
        .iter()
        .map(|b| b["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types.len(), kinds.len(), "every type once: {types:?}");

    // Syslog: RFC 5424 as an independent parser reads it, structured data, JSON MSG.
    assert!(
        syslog.errors.lock().unwrap().is_empty(),
        "{:?}",
        syslog.errors
    );
    let msgs = syslog.messages.lock().unwrap().clone();
    assert_eq!(msgs.len(), ids.len());
    let bodies = hook.bodies();
    for m in &msgs {
        let id = m.sd("id").unwrap();
        assert_eq!(m.parsed.version, 1);
        assert!(
            m.raw.starts_with('<') && !m.raw.contains('\u{feff}'),
            "{}",
            m.raw
        );
        assert_eq!(m.parsed.appname.as_deref(), Some("zonegate"));
        assert_eq!(m.parsed.msgid, m.sd("type"));
        assert_eq!(m.sd("gateway").as_deref(), Some("gw1"));
        assert_eq!(m.sd("revision").as_deref(), Some("2026-11"));
        assert!(m.parsed.timestamp.is_some());
        let body = bodies.iter().find(|b| b["id"] == id.as_str()).unwrap();
        assert_eq!(&m.json(), body, "syslog MSG is the same alert JSON");
        let sev = m.sd("severity").unwrap();
        let expected = match sev.as_str() {
            "critical" => syslog_rfc5424::SyslogSeverity::SEV_CRIT,
            "high" => syslog_rfc5424::SyslogSeverity::SEV_ERR,
            "medium" => syslog_rfc5424::SyslogSeverity::SEV_WARNING,
            "low" => syslog_rfc5424::SyslogSeverity::SEV_NOTICE,
            _ => syslog_rfc5424::SyslogSeverity::SEV_INFO,
        };
        assert_eq!(m.parsed.severity, expected);
        assert_eq!(
            m.parsed.facility,
            syslog_rfc5424::SyslogFacility::LOG_LOCAL0
        );
    }

    // File: one JSON document per line.
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), ids.len());
    let file_ids: BTreeSet<String> = lines
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(file_ids, want);

    let m = p.metrics();
    for s in &m.sinks {
        assert_eq!((s.sent, s.pending), (ids.len() as u64, 0), "{s:?}");
    }
    let text = p.render_metrics();
    assert!(text.contains(&format!(
        "zonegate_alerts_sent_total{{sink=\"hook\",kind=\"webhook\"}} {}",
        ids.len()
    )));
    p.shutdown(Duration::from_secs(5));
}

#[test]
fn receivers_down_for_the_first_attempts_then_everything_arrives_once() {
    let dir = TempDir::new("down");
    // The webhook answers 503 to its first 5 requests; syslog is not listening at all yet.
    let hook = Webhook::start(0, 5);
    let syslog_port = free_port();
    let p = start(
        &dir,
        vec![
            webhook_sink("hook", &hook.url, None),
            syslog_sink(
                "siem",
                SyslogTransport::Tcp,
                format!("127.0.0.1:{syslog_port}"),
            ),
        ],
    );
    let ids: BTreeSet<String> = (0..40).map(|n| p.emit(heartbeat(n)).to_string()).collect();
    assert!(wait_until(Duration::from_secs(10), || {
        p.metrics().sinks.iter().all(|s| s.failed >= 3)
    }));
    let syslog = SyslogTcp::start(syslog_port, false);
    assert!(
        p.wait_delivered(Duration::from_secs(20)),
        "{}",
        p.render_metrics()
    );
    let hook_ids = hook.ids();
    let syslog_ids = syslog.ids();
    assert_eq!(hook_ids.iter().cloned().collect::<BTreeSet<_>>(), ids);
    assert_eq!(syslog_ids.iter().cloned().collect::<BTreeSet<_>>(), ids);
    // No crash in between: each arrived exactly once.
    assert_eq!(hook_ids.len(), ids.len());
    assert_eq!(syslog_ids.len(), ids.len());
    assert!(*hook.requests.lock().unwrap() >= 45);
    let text = p.render_metrics();
    assert!(text.contains("zonegate_alerts_failed_total{sink=\"siem\",kind=\"syslog\"}"));
    let m = p.metrics();
    assert!(m.sinks.iter().all(|s| s.failed > 0 && s.sent == 40 && s.up));
    p.shutdown(Duration::from_secs(5));
}

#[test]
fn a_stuck_sink_delays_neither_emit_nor_the_other_sinks() {
    let dir = TempDir::new("stuck");
    // Accepts connections and never answers: the worst webhook there is.
    let black_hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = black_hole.local_addr().unwrap().port();
    let held = Arc::new(AtomicBool::new(true));
    let h = held.clone();
    let keeper = std::thread::spawn(move || {
        black_hole.set_nonblocking(true).unwrap();
        let mut conns = Vec::new();
        while h.load(Ordering::SeqCst) {
            if let Ok((s, _)) = black_hole.accept() {
                conns.push(s);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let out = dir.0.join("alerts.jsonl");
    let p = start(
        &dir,
        vec![
            webhook_sink("stuck", &format!("http://127.0.0.1:{port}/"), None),
            file_sink("file", out.clone(), 64 << 20, 1),
        ],
    );
    let t = Instant::now();
    let mut slowest = Duration::ZERO;
    for n in 0..2000 {
        let e = Instant::now();
        p.emit(heartbeat(n));
        slowest = slowest.max(e.elapsed());
    }
    let total = t.elapsed();
    // A blocked emit would wait for the sink's 2 s timeout; the margins below only absorb
    // scheduling on a loaded 2-core machine.
    assert!(
        total < Duration::from_millis(1500),
        "2,000 emits took {total:?}"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "slowest emit {slowest:?}"
    );
    assert!(wait_until(Duration::from_secs(20), || {
        std::fs::read_to_string(&out).map_or(0, |t| t.lines().count()) == 2000
    }));
    let m = p.metrics();
    let stuck = m.sinks.iter().find(|s| s.name == "stuck").unwrap();
    assert_eq!(stuck.sent, 0);
    assert!(stuck.pending >= 1999, "{stuck:?}");
    p.shutdown(Duration::from_secs(3));
    held.store(false, Ordering::SeqCst);
    keeper.join().unwrap();
    eprintln!("2,000 emits with a stuck sink: {total:?} in all, slowest {slowest:?}");
}

#[test]
fn file_sink_rotates_by_size_and_keeps_every_line_whole() {
    let dir = TempDir::new("rotate");
    let out = dir.0.join("alerts.jsonl");
    let p = start(&dir, vec![file_sink("file", out.clone(), 8192, 50)]);
    let ids: Vec<String> = (0..150).map(|n| p.emit(heartbeat(n)).to_string()).collect();
    assert!(p.wait_delivered(Duration::from_secs(20)));
    p.shutdown(Duration::from_secs(5));
    let mut files = vec![out.clone()];
    for n in 1..=50 {
        let f = dir.0.join(format!("alerts.jsonl.{n}"));
        if f.exists() {
            files.push(f);
        }
    }
    assert!(files.len() > 5, "rotated {} times", files.len() - 1);
    // Oldest file first: .N ... .1, then the live one.
    let mut seen = Vec::new();
    for f in files.iter().skip(1).rev().chain(std::iter::once(&files[0])) {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            text.len() as u64 <= 8192,
            "{} is {} bytes",
            f.display(),
            text.len()
        );
        assert!(text.is_empty() || text.ends_with('\n'));
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            seen.push(v["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        seen, ids,
        "every alert once, in order, across the rotated files"
    );

    // With keep = 2 only two rotated files remain beside the live one.
    let dir2 = TempDir::new("rotate2");
    let out2 = dir2.0.join("a.jsonl");
    let p = start(&dir2, vec![file_sink("file", out2.clone(), 8192, 2)]);
    for n in 0..150 {
        p.emit(heartbeat(n));
    }
    assert!(p.wait_delivered(Duration::from_secs(20)));
    p.shutdown(Duration::from_secs(5));
    let names: BTreeSet<String> = std::fs::read_dir(&dir2.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("a.jsonl"))
        .collect();
    assert_eq!(
        names,
        ["a.jsonl", "a.jsonl.1", "a.jsonl.2"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

/// A one-connection-at-a-time HTTPS server answering 200 to every POST (keep-alive).
fn tls_webhook() -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    use rustls::pki_types::pem::PemObject;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let b = bodies.clone();
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect::<Vec<_>>();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap(),
    );
    std::thread::spawn(move || {
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
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                b.lock().unwrap().push(body);
                buf.drain(..end + 4 + len);
                // A chunked answer, to exercise that path of the client too.
                if tls
                    .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
                    .is_err()
                {
                    break;
                }
            }
        }
    });
    (port, bodies)
}

#[test]
fn tls_sinks_verify_certificates_by_default() {
    let dir = TempDir::new("tls");
    let syslog = SyslogTcp::start(0, true);
    let (https_port, https_bodies) = tls_webhook();
    let ca = fixture("ca.pem");
    let trusted_syslog = SinkConfig::Syslog(SyslogConfig {
        common: fast("syslog-tls"),
        transport: SyslogTransport::Tls,
        address: format!("127.0.0.1:{}", syslog.port),
        ca_file: Some(ca.clone()),
        timeout_secs: 2,
        ..Default::default()
    });
    let trusted_hook = SinkConfig::Webhook(WebhookConfig {
        common: fast("https"),
        url: format!("https://127.0.0.1:{https_port}/hook"),
        ca_file: Some(ca.clone()),
        timeout_secs: 2,
        ..Default::default()
    });
    // The same servers with the system's CAs: our test CA is not among them.
    let untrusted_syslog = SinkConfig::Syslog(SyslogConfig {
        common: fast("syslog-untrusted"),
        transport: SyslogTransport::Tls,
        address: format!("127.0.0.1:{}", syslog.port),
        timeout_secs: 2,
        ..Default::default()
    });
    let untrusted_hook = SinkConfig::Webhook(WebhookConfig {
        common: fast("https-untrusted"),
        url: format!("https://localhost:{https_port}/hook"),
        timeout_secs: 2,
        ..Default::default()
    });
    let p = start(
        &dir,
        vec![
            trusted_syslog,
            trusted_hook,
            untrusted_syslog,
            untrusted_hook,
        ],
    );
    let ids: BTreeSet<String> = (0..5).map(|n| p.emit(heartbeat(n)).to_string()).collect();
    assert!(
        wait_until(Duration::from_secs(15), || {
            let m = p.metrics();
            let get = |n: &str| m.sinks.iter().find(|s| s.name == n).unwrap().clone();
            get("syslog-tls").sent == 5
                && get("https").sent == 5
                && get("syslog-untrusted").failed >= 2
                && get("https-untrusted").failed >= 2
        }),
        "{}",
        p.render_metrics()
    );
    let m = p.metrics();
    for name in ["syslog-untrusted", "https-untrusted"] {
        assert_eq!(m.sinks.iter().find(|s| s.name == name).unwrap().sent, 0);
    }
    assert_eq!(syslog.ids().into_iter().collect::<BTreeSet<_>>(), ids);
    let https_ids: BTreeSet<String> = https_bodies
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
    assert_eq!(https_ids, ids);
    p.shutdown(Duration::from_secs(3));
}

#[test]
fn udp_and_unix_socket_syslog_carry_parsable_messages() {
    let dir = TempDir::new("dgram");
    let (udp, port) = receivers::udp_receiver();
    let sock_path = dir.0.join("log.sock");
    let unix = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    unix.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let p = start(
        &dir,
        vec![
            syslog_sink("udp", SyslogTransport::Udp, format!("127.0.0.1:{port}")),
            syslog_sink(
                "unix",
                SyslogTransport::Unix,
                sock_path.display().to_string(),
            ),
        ],
    );
    let kinds = one_of_each();
    let ids: BTreeSet<String> = kinds
        .iter()
        .map(|k| p.emit(k.clone()).to_string())
        .collect();
    let mut buf = vec![0u8; 65536];
    let mut got_udp = BTreeSet::new();
    let mut got_unix = BTreeSet::new();
    for _ in 0..kinds.len() {
        let n = udp.recv(&mut buf).unwrap();
        let m = receivers::parse_datagram(&buf[..n]);
        assert_eq!(
            m.sd("id"),
            Some(m.json()["id"].as_str().unwrap().to_string())
        );
        got_udp.insert(m.sd("id").unwrap());
        let n = unix.recv(&mut buf).unwrap();
        got_unix.insert(receivers::parse_datagram(&buf[..n]).sd("id").unwrap());
    }
    assert_eq!(got_udp, ids);
    assert_eq!(got_unix, ids);
    p.shutdown(Duration::from_secs(3));
}

#[test]
fn the_queue_cap_drops_oldest_low_severity_first_and_says_so() {
    let dir = TempDir::new("cap");
    let port = free_port();
    let config = AlertsConfig {
        queue_max_bytes: 1024 * 1024,
        sinks: vec![webhook_sink(
            "hook",
            &format!("http://127.0.0.1:{port}/"),
            None,
        )],
        ..Default::default()
    };
    let p = AlertPipeline::start(&config, &dir.0, context()).unwrap();
    let mut critical = HashSet::new();
    for n in 0..4000u64 {
        if n % 40 == 0 {
            critical.insert(
                p.emit(AlertKind::ApplyFailed(ApplyFailed {
                    stage: "load".into(),
                    error: format!("failure {n}"),
                    kept: "previous ruleset".into(),
                }))
                .to_string(),
            );
        } else {
            p.emit(heartbeat(n));
        }
    }
    assert!(p.flush(Duration::from_secs(20)));
    let m = p.metrics();
    assert!(m.queue_bytes <= m.queue_cap_bytes, "{m:?}");
    assert!(m.dropped.get(&Severity::Info).copied().unwrap_or(0) > 0);
    assert_eq!(m.dropped.get(&Severity::Critical), None);
    let hook = Webhook::start(port, 0);
    assert!(
        p.wait_delivered(Duration::from_secs(60)),
        "{}",
        p.render_metrics()
    );
    let bodies = hook.bodies();
    let got: HashSet<String> = bodies
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        critical.is_subset(&got),
        "every critical alert survived the cap"
    );
    let overflow: Vec<&serde_json::Value> = bodies
        .iter()
        .filter(|b| b["type"] == "queue-overflow")
        .collect();
    assert_eq!(overflow.len(), 1);
    assert!(overflow[0]["details"]["dropped"].as_u64().unwrap() > 0);
    assert_eq!(overflow[0]["severity"], "high");
    p.shutdown(Duration::from_secs(3));
}

#[test]
fn a_sink_with_a_bad_configuration_is_skipped_with_an_alert() {
    let dir = TempDir::new("badcfg");
    let out = dir.0.join("a.jsonl");
    let p = start(
        &dir,
        vec![
            webhook_sink("bad", "ftp://nowhere", None),
            file_sink("file", out.clone(), 1 << 20, 1),
        ],
    );
    assert!(p.wait_delivered(Duration::from_secs(10)));
    let text = std::fs::read_to_string(&out).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(v["type"], "monitoring-degraded");
    assert_eq!(v["details"]["what"], "sink:bad");
    assert_eq!(p.metrics().sinks.len(), 1);
    p.shutdown(Duration::from_secs(3));
}

#[test]
fn config_reads_from_agent_toml() {
    let text = r#"
        queue_max_bytes = 2097152
        time_zone = "Asia/Tokyo"
        [denied_flows]
        window_secs = 30
        [[sinks]]
        kind = "webhook"
        url = "https://soc.example.jp/hook"
        bearer_token_file = "/etc/zonegate/webhook.token"
        min_severity = "high"
        [[sinks]]
        kind = "syslog"
        transport = "tls"
        address = "10.20.0.114:6514"
        facility = "local3"
        [[sinks]]
        kind = "file"
        path = "/var/log/zonegate/alerts.jsonl"
        future_key = 1
    "#;
    let c: AlertsConfig = toml::from_str(text).unwrap();
    assert_eq!(c.denied_flows.window_secs, 30);
    assert_eq!(c.denied_flows.max_keys, 4096);
    assert_eq!(c.sinks.len(), 3);
    match &c.sinks[0] {
        SinkConfig::Webhook(w) => {
            assert!(w.tls_verify, "verification is on by default");
            assert_eq!(w.common.min_severity, Severity::High);
        }
        other => panic!("{other:?}"),
    }
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    assert_eq!(
        c.sink_names(),
        vec![
            "webhook-soc.example.jp",
            "syslog-tls-10.20.0.114_6514",
            "file-alerts.jsonl"
        ]
    );
}
