//! Issue 15, the SOC's side with the real agent: `zonegate-agent run` in a gateway namespace with
//! agent.toml asking for `summary_lang = "ja"`, a CEF and a LEEF syslog sink (TCP, one message per
//! line) and a webhook through an HTTP proxy with credentials from a file. A tamper and a denied
//! attempt must reach the CEF and LEEF receivers as records that independent parsers
//! (`cef2hashmap`, `leef2hashmap`) read back to the same facts as the file sink's JSON, and the
//! webhook through the proxy (which checks `Proxy-Authorization` and logs each request line).
//! Every receiver listens on the gateway namespace's loopback.

mod agent_support;

use agent_support::receivers::*;
use agent_support::*;
use cef2hashmap::CefToHashMap;
use leef2hashmap::LeefToHashMap;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use zonegate_e2e::lab::in_ns;

const POLICY: &str = r#"version = 1
[policy]
name = "siem-e2e"
revision = "r1"
profile = "none"
timezone = "Asia/Tokyo"
log = { group = 100, rate = "20/second", burst = 50 }

[zones.mynumber]
role = "mynumber"
networks = ["10.10.0.0/24"]
[zones.lgwan]
role = "lgwan"
networks = ["10.20.0.0/24"]
[zones.internet]
role = "internet"
networks = ["10.30.0.0/24"]

[[flow]]
id = "F-1"
from = "lgwan"
to = "mynumber"
ports = ["tcp/7000"]
purpose = "e2e"
approved_by = "test"

[gateways.gw1]
interfaces = { mynumber = ["ens3"], lgwan = ["ens4"], internet = ["ens5"] }
"#;

const CEF_PORT: u16 = 15514;
const LEEF_PORT: u16 = 15515;
const WEBHOOK_PORT: u16 = 18090;
const PROXY_PORT: u16 = 13128;
/// `zonegate:pr0xy-pass` in base64 (computed with Python's base64, not our encoder).
const GOOD_BASIC: &str = "Basic em9uZWdhdGU6cHIweHktcGFzcw==";
const WAIT: Duration = Duration::from_secs(20);

/// Lines received on 127.0.0.1:`port` in `ns` (RFC 6587 newline framing).
struct Lines {
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Lines {
    fn start(ns: &str, port: u16) -> Lines {
        let listener = listen(ns, port);
        listener.set_nonblocking(true).expect("nonblocking");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (lines.clone(), stop.clone());
        thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        sock.set_nonblocking(false).expect("blocking");
                        let l = l.clone();
                        thread::spawn(move || {
                            for line in BufReader::new(sock).lines() {
                                let Ok(line) = line else { return };
                                l.lock().expect("lines").push(line);
                            }
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Lines { lines, stop }
    }

    fn all(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// An HTTP forward proxy on 127.0.0.1:`port` in `ns` for absolute-form requests: 407 without
/// [`GOOD_BASIC`], otherwise the request goes on to its origin (connected inside `ns`). Logs
/// each connection's request line and credentials.
/// (request line, Proxy-Authorization) per proxied connection.
type ProxyLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

fn proxy(ns: &str, port: u16) -> ProxyLog {
    let listener = listen(ns, port);
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let ns = ns.to_string();
    // Ends with the test process; accept() waits on an idle loopback socket only.
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let (l, ns) = (l.clone(), ns.clone());
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
                l.lock().expect("log").push((line.clone(), auth.clone()));
                if auth.as_deref() != Some(GOOD_BASIC) {
                    let _ = client.write_all(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                }
                let Some(authority) = line
                    .split(' ')
                    .nth(1)
                    .and_then(|t| t.strip_prefix("http://"))
                    .and_then(|t| t.split('/').next())
                    .map(str::to_string)
                else {
                    return;
                };
                let Ok(mut up) = in_ns(&ns, move || TcpStream::connect(authority)) else {
                    return;
                };
                if up.write_all(&head).is_err() {
                    return;
                }
                let (Ok(c2), Ok(u2)) = (client.try_clone(), up.try_clone()) else {
                    return;
                };
                let t = thread::spawn(move || pipe(c2, u2));
                pipe(up, client);
                let _ = t.join();
            });
        }
    });
    log
}

fn wait<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(t) = f() {
            return Some(t);
        }
        if Instant::now() > end {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn file_alerts(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn cef(lines: &[String]) -> Vec<HashMap<String, String>> {
    lines
        .iter()
        .map(|l| {
            CefToHashMap::to_hashmap(&l.as_str(), false)
                .unwrap_or_else(|e| panic!("not CEF ({e:?}): {l}"))
        })
        .collect()
}

fn leef(lines: &[String]) -> Vec<HashMap<String, String>> {
    lines
        .iter()
        .map(|l| {
            LeefToHashMap::to_hashmap(&l.as_str(), false)
                .unwrap_or_else(|e| panic!("not LEEF ({e:?}): {l}"))
        })
        .collect()
}

#[test]
fn the_agent_speaks_cef_leef_and_webhook_through_a_proxy_in_japanese_too() {
    let Some(gw) = Gw::up(POLICY, "") else {
        return;
    };
    let ns = gw.lab.gw().to_string();
    let file = gw.dir.join("alerts.jsonl");
    let cred = gw.dir.join("proxy.cred");
    std::fs::write(&cred, "zonegate:pr0xy-pass\n").expect("cred");
    std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    gw.write_config(&format!(
        r#"[alerts]
time_zone = "Asia/Tokyo"
summary_lang = "ja"
[[alerts.sinks]]
kind = "syslog"
name = "sentinel"
format = "cef"
transport = "tcp"
address = "127.0.0.1:{CEF_PORT}"
retry_initial_ms = 100
retry_max_ms = 400
[[alerts.sinks]]
kind = "syslog"
name = "qradar"
format = "leef"
transport = "tcp"
address = "127.0.0.1:{LEEF_PORT}"
retry_initial_ms = 100
retry_max_ms = 400
[[alerts.sinks]]
kind = "webhook"
name = "soc"
url = "http://127.0.0.1:{WEBHOOK_PORT}/hooks/zonegate"
proxy = "http://127.0.0.1:{PROXY_PORT}"
proxy_credentials_file = "{}"
retry_initial_ms = 100
retry_max_ms = 400
[[alerts.sinks]]
kind = "file"
name = "file"
path = "{}"
"#,
        cred.display(),
        file.display()
    ));
    // agent.toml's new keys are known: no warning, no skipped sink.
    let out = gw.agent(&["validate"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        !err.contains("unknown key") && !err.contains("skipped"),
        "{err}"
    );
    let cef_rx = Lines::start(&ns, CEF_PORT);
    let leef_rx = Lines::start(&ns, LEEF_PORT);
    let hook = Webhook::start(&ns, WEBHOOK_PORT, 0);
    let proxy_log = proxy(&ns, PROXY_PORT);
    let agent = gw.run();

    // A tamper and a denied LGWAN -> My Number attempt.
    wait(WAIT, || {
        file_alerts(&file)
            .iter()
            .any(|a| a["type"] == "policy-applied")
            .then_some(())
    })
    .expect("no policy-applied alert");
    let before = gw.table();
    gw.nft(&[
        "insert",
        "rule",
        "inet",
        "zonegate",
        "forward",
        "ip",
        "saddr",
        "10.30.0.5",
        "accept",
    ]);
    assert!(
        gw.wait_table(&before, Duration::from_secs(3)),
        "not repaired"
    );
    let lg = gw.lab.host(1).to_string();
    in_ns(&lg, || {
        let s = std::net::UdpSocket::bind(("10.20.0.5", 40404)).expect("bind");
        s.send_to(b"x", ("10.10.0.5", 5353)).expect("send");
    });
    let (drift, denied) = wait(WAIT, || {
        let all = file_alerts(&file);
        let d = all.iter().find(|a| a["type"] == "drift-detected")?.clone();
        let f = all
            .iter()
            .find(|a| a["type"] == "denied-flow" && a["details"]["dst_port"] == 5353)?
            .clone();
        Some((d, f))
    })
    .unwrap_or_else(|| {
        panic!(
            "alerts missing: {:#?}\n{}",
            file_alerts(&file),
            agent.dump()
        )
    });
    assert!(drift["summary_ja"]
        .as_str()
        .is_some_and(|s| s.contains("改変を検知")));
    assert!(denied["summary_ja"]
        .as_str()
        .is_some_and(|s| s.contains("通信を遮断")));

    // CEF, read by cef2hashmap.
    let by_id = |maps: Vec<HashMap<String, String>>, key: &str, id: &str| {
        maps.into_iter()
            .find(|m| m.get(key).map(String::as_str) == Some(id))
    };
    let id = |a: &Value| a["id"].as_str().expect("id").to_string();
    let c = wait(WAIT, || {
        by_id(cef(&cef_rx.all()), "externalId", &id(&drift))
    })
    .expect("the drift alert in CEF");
    assert_eq!(c["signatureId"], "drift-detected");
    assert_eq!(c["severity"], "8", "{c:?}");
    assert_eq!(c["syslog_severity"], "3");
    assert_eq!(c["sproc"], "nft");
    assert_eq!(c["summaryJa"], drift["summary_ja"].as_str().expect("ja"));
    let c = wait(WAIT, || {
        by_id(cef(&cef_rx.all()), "externalId", &id(&denied))
    })
    .expect("the denied-flow alert in CEF");
    assert_eq!(
        (c["src"].as_str(), c["dst"].as_str(), c["dpt"].as_str()),
        ("10.20.0.5", "10.10.0.5", "5353")
    );
    assert_eq!(
        (c["fromZone"].as_str(), c["toZone"].as_str()),
        ("lgwan", "mynumber")
    );
    assert_eq!(c["severity"], "8", "a denial into My Number is high");

    // LEEF, read by leef2hashmap (which lower-cases attribute keys).
    let l = wait(WAIT, || {
        by_id(leef(&leef_rx.all()), "alertid", &id(&denied))
    })
    .expect("the denied-flow alert in LEEF");
    assert_eq!(l["eventId"], "denied-flow");
    assert_eq!(
        (l["src"].as_str(), l["dstport"].as_str()),
        ("10.20.0.5", "5353")
    );
    assert_eq!(l["sev"], "8");
    assert_eq!(l["summaryja"], denied["summary_ja"].as_str().expect("ja"));

    // The webhook, through the proxy, with the credentials of the file.
    wait(WAIT, || {
        let ids: Vec<String> = hook.all().iter().map(id).collect();
        (ids.contains(&id(&drift)) && ids.contains(&id(&denied))).then_some(())
    })
    .expect("the webhook did not get both alerts through the proxy");
    let log = proxy_log.lock().expect("log").clone();
    assert!(
        log.iter().any(|(line, _)| line
            == &format!("POST http://127.0.0.1:{WEBHOOK_PORT}/hooks/zonegate HTTP/1.1")),
        "{log:?}"
    );
    assert!(
        log.iter().all(|(_, a)| a.as_deref() == Some(GOOD_BASIC)),
        "{log:?}"
    );
    agent.stop();
}
