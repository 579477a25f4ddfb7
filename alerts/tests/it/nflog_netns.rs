//! NFLOG end to end, as root, in network namespaces this test creates (`zga<pid>x<n>...`,
//! deleted by a drop guard even when an assertion fails): a client namespace and a server
//! namespace joined through a gateway namespace with veth pairs. The gateway gets a tiny nft
//! table shaped like the compiled ones (`counter name "c1"`, a rate limit, `log prefix "zg:1 "
//! group G snaplen 28`, and for code 2 no snaplen at all, so the kernel copies payload bytes).
//! UDP packets with a recognisable payload cross it; the monitor must report addresses, ports and
//! the zone pair, 1,000 repeats must become one summary with the exact counter count, and no
//! payload byte may appear in an alert, the queue or a sink. A second test gives a denial a
//! per-source meter set with room for one source and a fallback log code for the rest: the
//! second source's samples must count as the denial's and raise one `log-meter:` alert, and a
//! window without them one `restored`. Without root they skip loudly (and fail when
//! ZONEGATE_E2E_REQUIRE=1, as in CI).

use crate::lab::{require_root, run, Lab};
use crate::receivers::Webhook;
use crate::{context, wait_until, TempDir};
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::thread;
use std::time::Duration;
use zonegate_alerts::config::*;
use zonegate_alerts::{parse_nft_counters, AlertPipeline, AlertsConfig, DeniedFlowMonitor};
use zonegate_policy::metadata::{LogCode, Reason, METADATA_FORMAT};
use zonegate_policy::Metadata;

const GROUP: u16 = 7;
/// 24 distinct bytes: any 8 consecutive of them in an output would be a leak.
const MARKER: &[u8] = b"ZgaPayloadMarker-Secret!";

fn metadata() -> Metadata {
    let code = |reason| LogCode {
        reason,
        hook: "forward".into(),
        from: Some("lgwan".into()),
        to: Some("mynumber".into()),
        sensitive: true,
        logged: true,
        meter_full: None,
    };
    Metadata {
        format: METADATA_FORMAT,
        compiler_version: "test".into(),
        policy: "saitama-fire-union".into(),
        revision: "2026-11".into(),
        gateway: "gw1".into(),
        policy_sha256: "0".repeat(64),
        source_sha256: "0".repeat(64),
        ruleset_sha256: "0".repeat(64),
        compiled_for: None,
        timezone: "Asia/Tokyo".into(),
        next_expiry: None,
        nflog_group: GROUP,
        interfaces: [("g0", "lgwan"), ("g1", "mynumber")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        sensitive_zones: vec!["mynumber".into()],
        log_codes: [(1, code(Reason::NoFlow)), (2, code(Reason::NoFlow))]
            .into_iter()
            .collect(),
        key_sets: Vec::new(),
        key_table: 0,
        flows: BTreeMap::new(),
        intra_marks: BTreeMap::new(),
        signer: None,
    }
}

/// What the compiler emits for a denial (prefix code, counter, limit, snaplen), plus a code 2
/// without snaplen: the socket's copy range is then the only cap and payload bytes arrive.
fn ruleset() -> String {
    format!(
        "table inet zga {{
            counter c1 {{ }}
            counter c2 {{ }}
            chain forward {{
                type filter hook forward priority filter; policy drop;
                iifname \"g0\" oifname \"g1\" udp dport 5353 counter name \"c1\" limit rate 20/second burst 50 packets log prefix \"zg:1 \" group {GROUP} snaplen 28 drop
                iifname \"g0\" oifname \"g1\" udp dport 5354 counter name \"c2\" log prefix \"zg:2 \" group {GROUP} drop
            }}
        }}"
    )
}

fn send(lab: &Lab, port: u16, count: usize) {
    send_from(lab, "10.20.0.2", port, count);
}

fn send_from(lab: &Lab, src: &'static str, port: u16, count: usize) {
    Lab::in_ns(&lab.a, move || {
        let s = UdpSocket::bind((src, 0)).unwrap();
        let mut payload = MARKER.to_vec();
        payload.extend_from_slice(&[b'.'; 64]);
        for i in 0..count {
            s.send_to(&payload, ("10.10.0.5", port)).unwrap();
            // Paced: a burst into a veth can overflow the backlog before our hook counts it.
            if i % 50 == 49 {
                thread::sleep(Duration::from_millis(2));
            }
        }
    });
}

/// Every file under `dir`, read whole.
fn all_bytes(dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            all_bytes(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.push((p.display().to_string(), b));
        }
    }
}

fn leaks(hay: &[u8]) -> bool {
    MARKER.windows(8).any(|w| hay.windows(8).any(|h| h == w))
}

#[test]
fn nflog_denied_flows_end_to_end_in_namespaces() {
    if !require_root("nflog_denied_flows_end_to_end_in_namespaces") {
        return;
    }
    let lab = Lab::new("g0", "g1");
    let gw = lab.gw.clone();
    run(
        &["ip", "netns", "exec", &gw, "nft", "-f", "-"],
        Some(&ruleset()),
    );
    let dir = TempDir::new("nflog");
    let hook = Webhook::start(0, 0);
    let out = dir.0.join("alerts.jsonl");
    let config = AlertsConfig {
        sinks: vec![
            crate::delivery::webhook_sink("hook", &hook.url, None),
            SinkConfig::File(FileConfig {
                path: out.clone(),
                ..Default::default()
            }),
        ],
        ..Default::default()
    };
    let p = AlertPipeline::start(&config, &dir.0, context()).unwrap();
    let meta = metadata();
    let (p2, m2) = (p.clone(), meta.clone());
    let monitor = Lab::in_ns(&gw, move || {
        DeniedFlowMonitor::start(&p2, &m2, &DeniedFlowConfig::default()).unwrap()
    });
    assert!(
        wait_until(Duration::from_secs(5), || p.metrics().nflog_bound),
        "NFLOG group not bound"
    );
    // A second listener on the same group in the same namespace is refused by the kernel.
    let second_dir = TempDir::new("nflog2");
    let second = AlertPipeline::start(
        &AlertsConfig {
            sinks: vec![SinkConfig::File(FileConfig {
                path: second_dir.0.join("a.jsonl"),
                ..Default::default()
            })],
            ..Default::default()
        },
        &second_dir.0,
        context(),
    )
    .unwrap();
    let (s2, m3) = (second.clone(), meta.clone());
    let second_monitor = Lab::in_ns(&gw, move || {
        DeniedFlowMonitor::start(&s2, &m3, &DeniedFlowConfig::default()).unwrap()
    });

    send(&lab, 5353, 1000);
    send(&lab, 5354, 5);
    // Let NFLOG's 50 ms batching deliver the samples before the window closes.
    assert!(wait_until(Duration::from_secs(5), || {
        p.metrics().nflog_samples >= 52
    }));
    thread::sleep(Duration::from_millis(300));
    let json = run(
        &[
            "ip", "netns", "exec", &gw, "nft", "-j", "list", "counters", "table", "inet", "zga",
        ],
        None,
    );
    let counters = parse_nft_counters(&json, "zga").unwrap();
    assert_eq!(counters[&1].packets, 1000, "every packet reached the hook");
    assert_eq!(counters[&2].packets, 5);
    monitor.reconcile(&counters);
    assert!(p.wait_delivered(Duration::from_secs(10)));

    let bodies = hook.bodies();
    let flows: Vec<&serde_json::Value> = bodies
        .iter()
        .filter(|b| b["type"] == "denied-flow")
        .collect();
    let of = |port: u64, phase: &str| -> Vec<&serde_json::Value> {
        flows
            .iter()
            .copied()
            .filter(|b| b["details"]["dst_port"] == port && b["details"]["phase"] == phase)
            .collect()
    };
    let first = of(5353, "first");
    assert_eq!(first.len(), 1, "{bodies:#?}");
    let d = &first[0]["details"];
    assert_eq!(d["src"], "10.20.0.2");
    assert_eq!(d["dst"], "10.10.0.5");
    assert_eq!(d["protocol"], "udp");
    assert_eq!(d["from_zone"], "lgwan");
    assert_eq!(d["to_zone"], "mynumber");
    assert_eq!(d["in_iface"], "g0");
    assert_eq!(d["out_iface"], "g1");
    assert_eq!(d["reason"], "no-flow");
    assert!(d["src_port"].as_u64().unwrap() > 0);
    assert_eq!(first[0]["severity"], "high");
    let summary = of(5353, "summary");
    assert_eq!(
        summary.len(),
        1,
        "one summary for 1,000 repeats: {bodies:#?}"
    );
    let s = &summary[0]["details"];
    assert_eq!(s["count"], 1000, "{s}");
    assert_eq!(s["count_exact"], true);
    let samples = s["samples"].as_u64().unwrap();
    assert!((1..1000).contains(&samples), "NFLOG is a sample: {samples}");
    assert_eq!(of(5354, "first").len(), 1);
    assert_eq!(of(5354, "summary")[0]["details"]["count"], 5);

    // No payload byte anywhere: alerts at the webhook, the file sink, the queue's files.
    let m = p.metrics();
    assert!(
        m.nflog_payload_bytes_discarded >= 5 * 20,
        "code 2 had no snaplen, so payload bytes reached the socket (and were discarded): {}",
        m.nflog_payload_bytes_discarded
    );
    for b in &bodies {
        assert!(!leaks(b.to_string().as_bytes()), "payload in an alert: {b}");
    }
    let mut files = Vec::new();
    all_bytes(&dir.0, &mut files);
    assert!(
        files.iter().any(|(n, _)| n.ends_with(".zgq")),
        "queue files scanned"
    );
    assert!(files.iter().any(|(n, _)| n.ends_with("alerts.jsonl")));
    for (name, bytes) in &files {
        assert!(!leaks(bytes), "payload bytes in {name}");
    }
    let text = p.render_metrics();
    assert!(
        text.contains(
            "zonegate_denied_packets_total{from=\"lgwan\",to=\"mynumber\",reason=\"no-flow\"} 1005"
        ),
        "{text}"
    );

    // The second listener could not bind and said so.
    assert!(second.wait_delivered(Duration::from_secs(10)));
    let second_alerts = std::fs::read_to_string(second_dir.0.join("a.jsonl")).unwrap();
    assert!(
        second_alerts.lines().any(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["type"] == "monitoring-degraded" && v["details"]["what"] == "nflog"
        }),
        "{second_alerts}"
    );
    assert!(!second.metrics().nflog_bound);

    second_monitor.stop();
    monitor.stop();
    second.shutdown(Duration::from_secs(3));
    p.shutdown(Duration::from_secs(3));
    drop(lab);
}

const METER_GROUP: u16 = 8;

/// A denial whose per-source meter set holds one source: the first source is logged under code
/// 3, every other one, the set being full, under the fallback code 4 (no counter of its own).
fn meter_ruleset() -> String {
    format!(
        "table inet zga {{
            counter c3 {{ }}
            set m3 {{
                type ipv4_addr
                size 1
                flags dynamic,timeout
                timeout 1m
            }}
            chain forward {{
                type filter hook forward priority filter; policy drop;
                iifname \"g0\" oifname \"g1\" udp dport 5355 counter name \"c3\" update @m3 {{ ip saddr limit rate 100/second burst 100 packets }} log prefix \"zg:3 \" group {METER_GROUP} snaplen 28 drop
                iifname \"g0\" oifname \"g1\" udp dport 5355 ip saddr != @m3 limit rate 100/second burst 100 packets log prefix \"zg:4 \" group {METER_GROUP} snaplen 28 drop
            }}
        }}"
    )
}

#[test]
fn a_full_log_meter_is_reported_and_its_samples_count_as_the_denial() {
    if !require_root("a_full_log_meter_is_reported_and_its_samples_count_as_the_denial") {
        return;
    }
    let lab = Lab::new("g0", "g1");
    let gw = lab.gw.clone();
    run(
        &["ip", "netns", "exec", &gw, "nft", "-f", "-"],
        Some(&meter_ruleset()),
    );
    run(
        &[
            "ip",
            "-n",
            &lab.a,
            "addr",
            "add",
            "10.20.0.3/22",
            "dev",
            "a0",
        ],
        None,
    );
    let dir = TempDir::new("meter");
    let hook = Webhook::start(0, 0);
    let config = AlertsConfig {
        sinks: vec![crate::delivery::webhook_sink("hook", &hook.url, None)],
        ..Default::default()
    };
    let p = AlertPipeline::start(&config, &dir.0, context()).unwrap();
    let mut meta = metadata();
    meta.nflog_group = METER_GROUP;
    let base = meta.log_codes[&1].clone();
    meta.log_codes = [
        (3, base.clone()),
        (
            4,
            LogCode {
                meter_full: Some("m3".into()),
                ..base
            },
        ),
    ]
    .into_iter()
    .collect();
    let p2 = p.clone();
    let monitor = Lab::in_ns(&gw, move || {
        DeniedFlowMonitor::start(&p2, &meta, &DeniedFlowConfig::default()).unwrap()
    });
    assert!(
        wait_until(Duration::from_secs(5), || p.metrics().nflog_bound),
        "NFLOG group not bound"
    );

    // The first source takes the meter's only slot; the second finds it full.
    send_from(&lab, "10.20.0.2", 5355, 3);
    send_from(&lab, "10.20.0.3", 5355, 5);
    let pair = (
        "lgwan".to_string(),
        "mynumber".to_string(),
        "no-flow".to_string(),
    );
    assert!(
        wait_until(Duration::from_secs(5), || {
            p.metrics().denied_samples.get(&pair).copied().unwrap_or(0) >= 8
        }),
        "samples: {:?}",
        p.metrics().denied_samples
    );
    let counters = || {
        let json = run(
            &[
                "ip", "netns", "exec", &gw, "nft", "-j", "list", "counters", "table", "inet", "zga",
            ],
            None,
        );
        parse_nft_counters(&json, "zga").unwrap()
    };
    let c = counters();
    assert_eq!(c[&3].packets, 8, "the base counter counts both sources");
    monitor.reconcile(&c);
    assert!(p.wait_delivered(Duration::from_secs(10)));
    let bodies = hook.bodies();
    let flows: Vec<&serde_json::Value> = bodies
        .iter()
        .filter(|b| b["type"] == "denied-flow")
        .collect();
    assert!(
        flows.iter().all(|b| b["details"]["code"] == 3),
        "fallback samples are reported under the base code: {bodies:#?}"
    );
    let firsts: Vec<_> = flows
        .iter()
        .filter(|b| b["details"]["phase"] == "first")
        .map(|b| b["details"]["src"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(firsts, vec!["10.20.0.2", "10.20.0.3"], "{bodies:#?}");
    let total: Vec<_> = flows
        .iter()
        .filter(|b| b["details"]["src"].is_null())
        .collect();
    assert_eq!(total.len(), 1, "{bodies:#?}");
    assert_eq!(total[0]["details"]["count"], 8);
    assert_eq!(total[0]["details"]["count_exact"], true);
    let meters = |bodies: &[serde_json::Value]| -> Vec<serde_json::Value> {
        bodies
            .iter()
            .filter(|b| b["type"] == "monitoring-degraded")
            .cloned()
            .collect()
    };
    let m = meters(&bodies);
    assert_eq!(
        m.len(),
        1,
        "one alert for the window, not one per sample: {bodies:#?}"
    );
    assert_eq!(m[0]["details"]["what"], "log-meter:m3");
    assert_eq!(m[0]["details"]["restored"], false);
    assert!(m[0]["details"]["lost"].is_null());
    assert_eq!(m[0]["severity"], "high");
    let detail = m[0]["details"]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("no-flow lgwan -> mynumber is full"),
        "{detail}"
    );

    // A window in which the metered source alone sends: the meter is reported restored.
    send_from(&lab, "10.20.0.2", 5355, 2);
    assert!(wait_until(Duration::from_secs(5), || {
        p.metrics().denied_samples.get(&pair).copied().unwrap_or(0) >= 10
    }));
    monitor.reconcile(&counters());
    assert!(p.wait_delivered(Duration::from_secs(10)));
    let bodies = hook.bodies();
    let m = meters(&bodies);
    assert_eq!(m.len(), 2, "{bodies:#?}");
    assert_eq!(m[1]["details"]["what"], "log-meter:m3");
    assert_eq!(m[1]["details"]["restored"], true);
    assert_eq!(m[1]["severity"], "low");

    monitor.stop();
    p.shutdown(Duration::from_secs(3));
    drop(lab);
}
