//! SIEM formats end to end: a pipeline with a syslog sink in RFC 3164, CEF or LEEF sends every
//! kind of alert over TCP (newline framing, as those collectors read it) to a receiver on
//! 127.0.0.1, and each line is parsed by a parser written by someone else: `syslog_loose` (the
//! RFC 3164 parser of the Vector project), `cef2hashmap` and `leef2hashmap` (CEF and LEEF to
//! maps). What they read must equal the alert JSON the file sink wrote for the same id.

use crate::receivers::StopReader;
use crate::{context, one_of_each, wait_until, TempDir};
use cef2hashmap::CefToHashMap;
use leef2hashmap::LeefToHashMap;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;
use zonegate_alerts::config::*;
use zonegate_alerts::{AlertPipeline, AlertsConfig};

/// TCP receiver of LF-terminated lines (RFC 6587 non-transparent framing).
struct LineReceiver {
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LineReceiver {
    fn start() -> LineReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (lines.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut conns = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        sock.set_nonblocking(false).unwrap();
                        sock.set_read_timeout(Some(Duration::from_millis(200)))
                            .unwrap();
                        let (l, s2) = (l.clone(), s.clone());
                        conns.push(thread::spawn(move || {
                            let r = BufReader::new(StopReader::new(sock, s2));
                            for line in r.lines() {
                                let Ok(line) = line else { return };
                                l.lock().unwrap().push(line);
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
        LineReceiver {
            port,
            lines,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for LineReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends one of each alert through a syslog sink in `format` (with `summary_lang = "ja"`) and a
/// file sink; returns the received lines and the alerts by id, as the file sink wrote them.
fn send_all(tag: &str, format: SyslogFormat) -> (Vec<String>, BTreeMap<String, serde_json::Value>) {
    let dir = TempDir::new(tag);
    let rx = LineReceiver::start();
    let file = dir.0.join("alerts.jsonl");
    let config = AlertsConfig {
        time_zone: Some("Asia/Tokyo".into()),
        summary_lang: SummaryLang::Ja,
        sinks: vec![
            SinkConfig::Syslog(SyslogConfig {
                common: SinkCommon {
                    name: Some(tag.into()),
                    retry_initial_ms: 20,
                    retry_max_ms: 200,
                    ..Default::default()
                },
                transport: SyslogTransport::Tcp,
                address: format!("127.0.0.1:{}", rx.port),
                format,
                hostname: Some("gw1.example.lg.jp".into()),
                timeout_secs: 2,
                ..Default::default()
            }),
            SinkConfig::File(FileConfig {
                common: SinkCommon {
                    name: Some("file".into()),
                    ..Default::default()
                },
                path: file.clone(),
                ..Default::default()
            }),
        ],
        ..Default::default()
    };
    let p = AlertPipeline::start(&config, &dir.0.join("state"), context()).unwrap();
    let kinds = one_of_each();
    for k in &kinds {
        p.emit(k.clone());
    }
    assert!(
        wait_until(Duration::from_secs(20), || rx.lines.lock().unwrap().len()
            >= kinds.len()),
        "{format:?}: {} of {} lines arrived",
        rx.lines.lock().unwrap().len(),
        kinds.len()
    );
    assert!(p.wait_delivered(Duration::from_secs(10)));
    p.shutdown(Duration::from_secs(3));
    let alerts: BTreeMap<String, serde_json::Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_string(), v)
        })
        .collect();
    assert_eq!(alerts.len(), kinds.len());
    // summary_lang = "ja": every type has its Japanese line beside the English one.
    for a in alerts.values() {
        let ja = a["summary_ja"].as_str().unwrap_or("");
        assert!(
            ja.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)),
            "{} has no Japanese summary: {ja:?}",
            a["type"]
        );
        assert!(!a["summary"].as_str().unwrap().is_empty());
    }
    let lines = rx.lines.lock().unwrap().clone();
    assert_eq!(lines.len(), kinds.len(), "one line per alert: {lines:#?}");
    (lines, alerts)
}

/// The syslog severity the sink must use for an alert severity (RFC 5424 table 2 codes).
fn syslog_severity(s: &str) -> u8 {
    match s {
        "critical" => 2,
        "high" => 3,
        "medium" => 4,
        "low" => 5,
        _ => 6,
    }
}

fn detail(a: &serde_json::Value, key: &str) -> Option<String> {
    match &a["details"][key] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[test]
fn rfc3164_messages_parse_with_syslog_loose() {
    let (lines, alerts) = send_all("rfc3164", SyslogFormat::Rfc3164);
    for line in &lines {
        let m = syslog_loose::parse_message_with_year_exact(
            line,
            |_| 2026,
            syslog_loose::Variant::RFC3164,
        )
        .unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(m.protocol, syslog_loose::Protocol::RFC3164, "{line}");
        let alert: serde_json::Value = serde_json::from_str(m.msg)
            .unwrap_or_else(|e| panic!("MSG is not the alert JSON ({e}): {line}"));
        let id = alert["id"].as_str().unwrap();
        assert_eq!(
            &alert, &alerts[id],
            "MSG is the alert as the file sink has it"
        );
        assert_eq!(m.hostname, Some("gw1.example.lg.jp"));
        assert_eq!(m.appname, Some("zonegate"));
        assert_eq!(
            m.procid,
            Some(syslog_loose::ProcId::PID(std::process::id() as i32))
        );
        assert_eq!(
            m.facility,
            Some(syslog_loose::SyslogFacility::LOG_LOCAL0),
            "{line}"
        );
        assert_eq!(
            m.severity.map(|s| s as u8),
            Some(syslog_severity(alert["severity"].as_str().unwrap())),
            "{line}"
        );
        // The wall-clock time of the alert's own offset (Asia/Tokyo), to the second.
        let ts = m.timestamp.expect("a timestamp");
        assert_eq!(
            ts.naive_local().format("%Y-%m-%dT%H:%M:%S").to_string(),
            alert["time"].as_str().unwrap()[..19],
            "{line}"
        );
    }
}

#[test]
fn cef_records_parse_with_cef2hashmap() {
    let (lines, alerts) = send_all("cef", SyslogFormat::Cef);
    let mut seen = 0;
    for line in &lines {
        let map: HashMap<String, String> = CefToHashMap::to_hashmap(&line.as_str(), false)
            .unwrap_or_else(|e| panic!("{e:?}: {line}"));
        let id = &map["externalId"];
        let alert = &alerts[id];
        assert_eq!(map["deviceVendor"], "zonegate");
        assert_eq!(map["deviceProduct"], "zonegate-agent");
        assert_eq!(
            map["deviceVersion"],
            alert["agent_version"].as_str().unwrap()
        );
        assert_eq!(map["signatureId"], alert["type"].as_str().unwrap());
        assert_eq!(map["cat"], alert["type"].as_str().unwrap());
        let sev = alert["severity"].as_str().unwrap();
        let want_sev = match sev {
            "critical" => "10",
            "high" => "8",
            "medium" => "5",
            "low" => "3",
            _ => "1",
        };
        assert_eq!(map["severity"], want_sev, "{line}");
        assert_eq!(map["severityName"], sev);
        // The syslog header before the record.
        assert_eq!(
            map["syslog_severity"],
            syslog_severity(sev).to_string(),
            "{line}"
        );
        assert_eq!(map["syslog_facility"], "16");
        // The parser leaves extension escapes in place; undo the ones of the CEF spec.
        let unescape = |s: &str| {
            s.replace("\\n", "\n")
                .replace("\\r", "\r")
                .replace("\\=", "=")
                .replace("\\\\", "\\")
        };
        assert_eq!(
            unescape(&map["msg"]),
            alert["summary"].as_str().unwrap(),
            "{line}"
        );
        assert_eq!(
            map["summaryJa"],
            alert["summary_ja"].as_str().unwrap(),
            "{line}"
        );
        assert_eq!(map["dvchost"], alert["host"].as_str().unwrap());
        assert_eq!(map["deviceExternalId"], "gw1");
        assert_eq!(map["policyRevision"], "2026-11");
        let ts: jiff::Timestamp = alert["time"].as_str().unwrap().parse().unwrap();
        assert_eq!(map["rt"], ts.as_millisecond().to_string());
        if let Some(src) = detail(alert, "src").filter(|_| alert["type"] != "scan-summary") {
            seen += 1;
            assert_eq!(map["src"], src);
            assert_eq!(map["dst"], detail(alert, "dst").unwrap());
            assert_eq!(map["spt"], detail(alert, "src_port").unwrap());
            assert_eq!(map["dpt"], detail(alert, "dst_port").unwrap());
            assert_eq!(map["proto"], detail(alert, "protocol").unwrap());
            assert_eq!(map["cnt"], detail(alert, "count").unwrap());
            assert_eq!(map["fromZone"], detail(alert, "from_zone").unwrap());
            assert_eq!(map["toZone"], detail(alert, "to_zone").unwrap());
            assert_eq!(map["reason"], detail(alert, "reason").unwrap());
        }
        if alert["type"] == "scan-summary" {
            assert_eq!(map["src"], detail(alert, "src").unwrap());
        }
        if alert["type"] == "drift-detected" {
            assert_eq!(map["sproc"], "nft");
            assert_eq!(map["spid"], "4242");
        }
    }
    assert!(seen >= 2, "flow alerts carry their addresses");
}

#[test]
fn leef_records_parse_with_leef2hashmap() {
    let (lines, alerts) = send_all("leef", SyslogFormat::Leef);
    let mut seen = 0;
    for line in &lines {
        let map: HashMap<String, String> = LeefToHashMap::to_hashmap(&line.as_str(), false)
            .unwrap_or_else(|e| panic!("{e:?}: {line}"));
        // leef2hashmap lower-cases attribute keys.
        let id = &map["alertid"];
        let alert = &alerts[id];
        assert_eq!(map["deviceVendor"], "zonegate");
        assert_eq!(map["deviceProduct"], "zonegate-agent");
        assert_eq!(map["eventId"], alert["type"].as_str().unwrap());
        assert_eq!(map["cat"], alert["type"].as_str().unwrap());
        let sev = alert["severity"].as_str().unwrap();
        let want_sev = match sev {
            "critical" => "10",
            "high" => "8",
            "medium" => "5",
            "low" => "3",
            _ => "1",
        };
        assert_eq!(map["sev"], want_sev, "{line}");
        assert_eq!(map["severityname"], sev);
        assert_eq!(map["syslog_severity"], syslog_severity(sev).to_string());
        assert_eq!(map["devtime"], alert["time"].as_str().unwrap());
        assert_eq!(map["summary"], alert["summary"].as_str().unwrap());
        assert_eq!(map["summaryja"], alert["summary_ja"].as_str().unwrap());
        assert_eq!(map["gateway"], "gw1");
        assert_eq!(
            map["rulesetsha256"],
            alert["ruleset_sha256"].as_str().unwrap()
        );
        if let Some(src) = detail(alert, "src").filter(|_| alert["type"] != "scan-summary") {
            seen += 1;
            assert_eq!(map["src"], src);
            assert_eq!(map["dst"], detail(alert, "dst").unwrap());
            assert_eq!(map["srcport"], detail(alert, "src_port").unwrap());
            assert_eq!(map["dstport"], detail(alert, "dst_port").unwrap());
            assert_eq!(map["proto"], detail(alert, "protocol").unwrap());
            assert_eq!(map["count"], detail(alert, "count").unwrap());
            assert_eq!(map["fromzone"], detail(alert, "from_zone").unwrap());
        }
    }
    assert!(seen >= 2, "flow alerts carry their addresses");
}
