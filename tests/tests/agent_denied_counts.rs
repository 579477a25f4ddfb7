//! Exact per-key counts and scan detection from the ruleset's per-key tables, with the real
//! agent, real NFLOG and real traffic through a gateway namespace: interleaved floods from three
//! sources to two destinations in one window give three exact per-key counts; a 40-port scan in
//! 0.2 s and a 1,000-port scan in 1 s each give exactly one `scan-summary` with the right
//! distinct counts and few per-port alerts, whatever the log meters let through; packets a full
//! per-key table cannot key are counted and reported (alert, status, metrics).
//!
//! Each burst of traffic starts right after the agent closed a window (seen in its status), so
//! it falls in one window (4 s, the traffic lasts at most about a second).

mod agent_support;

use agent_support::receivers::{fetch_metrics, file_alerts, of_type, sample};
use agent_support::Gw;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};
use zonegate_e2e::lab::{LabSpec, SegmentSpec};
use zonegate_e2e::spoof;

/// My Number on ens3, LGWAN on ens4, the internet side (a catch-all zone) on ens5. `KEYS` is
/// replaced by the `[policy] log` line.
const POLICY: &str = r#"version = 1
[policy]
name = "counts-e2e"
revision = "r1"
profile = "none"
timezone = "Asia/Tokyo"
LOG

[zones.mynumber]
role = "mynumber"
networks = ["10.10.0.0/24"]
[zones.lgwan]
role = "lgwan"
networks = ["10.20.0.0/24"]
[zones.internet]
role = "external"
networks = ["0.0.0.0/0"]

[hosts.mn-app]
zone = "mynumber"
addresses = ["10.10.0.5"]
[hosts.lg-term]
zone = "lgwan"
addresses = ["10.20.0.5"]

[[flow]]
id = "F-1"
from = "lg-term"
to = "mn-app"
ports = ["tcp/7000"]
purpose = "e2e"
approved_by = "test"

[gateways.gw1]
interfaces = { mynumber = ["ens3"], lgwan = ["ens4"], internet = ["ens5"] }
"#;

const WAIT: Duration = Duration::from_secs(30);
const WINDOW_SECS: u64 = 4;

fn policy(key_table: Option<u32>) -> String {
    let log = match key_table {
        Some(n) => {
            format!("log = {{ group = 100, rate = \"20/second\", burst = 50, key_table = {n} }}")
        }
        None => "log = { group = 100, rate = \"20/second\", burst = 50 }".to_string(),
    };
    POLICY.replace("LOG", &log)
}

fn spec() -> LabSpec {
    LabSpec {
        segments: vec![
            SegmentSpec::new("ens3", &["10.10.0.1/24"], &["10.10.0.5/24"]),
            SegmentSpec::new("ens4", &["10.20.0.1/24"], &["10.20.0.5/24"]),
            SegmentSpec::new("ens5", &["10.30.0.1/24"], &["10.30.0.5/24"]),
        ],
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn sa(s: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip(s), port)
}

/// Starts the agent with the file sink, 4-second windows and metrics on loopback.
fn start(gw: &Gw, metrics_port: u16) -> (agent_support::Running, PathBuf) {
    let file = gw.dir.join("alerts.jsonl");
    gw.write_config(&format!(
        "metrics_address = \"127.0.0.1:{metrics_port}\"\n[alerts]\ntime_zone = \"Asia/Tokyo\"\n[alerts.denied_flows]\nwindow_secs = {WINDOW_SECS}\n[[alerts.sinks]]\nkind = \"file\"\nname = \"file\"\npath = \"{}\"\n",
        file.display()
    ));
    let agent = gw.run();
    (agent, file)
}

fn status(gw: &Gw) -> Value {
    let out = gw.agent_ok(&["status", "--format", "json"], 0);
    serde_json::from_str(&out).expect("status JSON")
}

/// Waits until the agent closes its next denied-flow window (the status counts them).
fn wait_window_closed(gw: &Gw) {
    let before = status(gw)["denied_windows"].as_u64().unwrap_or(0);
    let end = Instant::now() + WAIT;
    while status(gw)["denied_windows"].as_u64().unwrap_or(0) == before {
        assert!(Instant::now() < end, "no denied-flow window closed");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (on the file sink) for an alert matching `pred`.
fn wait_alert(file: &Path, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + WAIT;
    loop {
        let all = file_alerts(file);
        if let Some(a) = all.iter().find(|a| pred(a)) {
            return a.clone();
        }
        if Instant::now() > end {
            panic!("no {what} alert; got:\n{}", summaries(&all));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn summaries(all: &[Value]) -> String {
    all.iter()
        .map(|a| format!("{} {} {}", a["type"], a["severity"], a["summary"]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// SYNs from `src` to `ports` ports of `dst` (from 20000 up), spread evenly over `over`: sent in
/// chunks every 10 ms.
fn paced_scan(ns: &str, src: &str, dst: &str, ports: u16, over: Duration) {
    let syns: Vec<Vec<u8>> = (0..ports)
        .map(|i| spoof::tcp_syn_packet(sa(src, 41234), sa(dst, 20000 + i)).expect("syn"))
        .collect();
    let ticks = (over.as_millis() / 10).max(1) as usize;
    let per_tick = syns.len().div_ceil(ticks);
    let start = Instant::now();
    for (i, chunk) in syns.chunks(per_tick).enumerate() {
        let due = start + Duration::from_millis(10 * i as u64);
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            thread::sleep(d);
        }
        spoof::send_ip_many(ns, "eth0", chunk).expect("send scan");
    }
}

fn flows_from<'a>(all: &'a [Value], src: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|a| a["type"] == "denied-flow" && a["details"]["src"] == src)
        .collect()
}

fn scans_from<'a>(all: &'a [Value], src: &str) -> Vec<&'a Value> {
    of_type(all, "scan-summary")
        .into_iter()
        .filter(|a| a["details"]["src"] == src)
        .collect()
}

#[test]
fn interleaved_floods_get_one_exact_count_per_key() {
    let Some(gw) = Gw::up_with(&spec(), &policy(None), "") else {
        return;
    };
    let (agent, file) = start(&gw, 19461);
    // Three LGWAN sources to two My Number hosts, udp/5353, interleaved in one burst: 1,000,
    // 700 and 300 datagrams. The log meters let about a dozen samples of each through.
    let keys = [
        ("10.20.0.5", "10.10.0.5", 1000u64),
        ("10.20.0.6", "10.10.0.6", 700),
        ("10.20.0.7", "10.10.0.5", 300),
    ];
    let mut flood = Vec::new();
    for i in 0..1000u64 {
        for (src, dst, n) in keys {
            if i < n {
                flood.push(spoof::udp_packet(sa(src, 40000), sa(dst, 5353), b"f").expect("udp"));
            }
        }
    }
    wait_window_closed(&gw);
    spoof::send_ip_many(gw.lab.host(1), "eth0", &flood).expect("flood");
    for (src, dst, n) in keys {
        let s = wait_alert(&file, "per-key summary", |a| {
            a["type"] == "denied-flow"
                && a["details"]["phase"] == "summary"
                && a["details"]["src"] == src
        });
        assert_eq!(s["details"]["dst"], dst, "{s}");
        assert_eq!(s["details"]["dst_port"], 5353, "{s}");
        assert_eq!(s["details"]["protocol"], "udp", "{s}");
        assert_eq!(s["details"]["count"], n, "{src}: {s}");
        assert_eq!(s["details"]["count_exact"], true, "{s}");
        assert_eq!(s["details"]["pair_count"], 2000, "{s}");
    }
    // One summary per key, and no pair roll-up: every packet is in an exact per-key count.
    let all = file_alerts(&file);
    for (src, _, _) in keys {
        let n = flows_from(&all, src)
            .iter()
            .filter(|a| a["details"]["phase"] == "summary")
            .count();
        assert_eq!(n, 1, "{}", summaries(&all));
    }
    assert!(
        all.iter()
            .all(|a| !(a["type"] == "denied-flow" && a["details"]["phase"] == "rollup")),
        "{}",
        summaries(&all)
    );
    // The status shows the window's figures and the listener's state.
    let st = status(&gw);
    assert_eq!(st["denied"]["listener"]["state"], "bound", "{st}");
    let windows = st["denied"]["windows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        windows
            .iter()
            .any(|w| w["denied_packets"] == 2000 && w["denied_keys"] == 3),
        "{st}"
    );
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn scans_of_40_ports_in_a_fifth_of_a_second_and_1000_in_a_second_give_one_summary_each() {
    let Some(gw) = Gw::up_with(&spec(), &policy(None), "") else {
        return;
    };
    let (agent, file) = start(&gw, 19462);
    let ns = gw.lab.host(2).to_string();
    for (src, ports, over) in [
        ("10.30.0.5", 40u16, Duration::from_millis(200)),
        ("10.30.0.6", 1000, Duration::from_secs(1)),
    ] {
        wait_window_closed(&gw);
        paced_scan(&ns, src, "10.20.0.5", ports, over);
        let s = wait_alert(&file, "scan-summary", |a| {
            a["type"] == "scan-summary" && a["details"]["src"] == src
        });
        assert_eq!(s["details"]["distinct_ports"], u64::from(ports), "{s}");
        assert_eq!(s["details"]["distinct_destinations"], 1, "{s}");
        assert_eq!(s["details"]["packets"], u64::from(ports), "{s}");
        assert_eq!(s["details"]["distinct_exact"], true, "{s}");
        assert_eq!(s["details"]["to_zones"][0], "lgwan", "{s}");
        // The next window closes without another summary of this scan.
        wait_window_closed(&gw);
        let all = file_alerts(&file);
        assert_eq!(scans_from(&all, src).len(), 1, "{}", summaries(&all));
        // Per-port alerts: only the first few samples' `first` alerts.
        let per_port = flows_from(&all, src);
        assert!(
            per_port.len() <= 4 && per_port.iter().all(|a| a["details"]["phase"] == "first"),
            "{}",
            summaries(&all)
        );
    }
    let st = status(&gw);
    let windows = st["denied"]["windows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        windows
            .iter()
            .any(|w| w["largest_scan"] == serde_json::json!([1, 1000])),
        "{st}"
    );
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn a_full_per_key_table_counts_and_reports_what_it_could_not_key() {
    // Room for 16 keys per table: a 40-port scan fills it after 16 ports.
    let Some(gw) = Gw::up_with(&spec(), &policy(Some(16)), "") else {
        return;
    };
    let (agent, file) = start(&gw, 19463);
    wait_window_closed(&gw);
    paced_scan(
        gw.lab.host(2),
        "10.30.0.5",
        "10.20.0.5",
        40,
        Duration::from_millis(200),
    );
    let d = wait_alert(&file, "monitoring-degraded key-table", |a| {
        a["type"] == "monitoring-degraded" && a["details"]["what"] == "key-table"
    });
    assert_eq!(d["details"]["lost"], 24, "{d}");
    assert_eq!(d["details"]["restored"], false, "{d}");
    // The pair's total stays exact, beside the keys the table could hold.
    let roll = wait_alert(&file, "pair roll-up", |a| {
        a["type"] == "denied-flow" && a["details"]["phase"] == "rollup"
    });
    assert_eq!(roll["details"]["count"], 40, "{roll}");
    assert_eq!(roll["details"]["count_exact"], true, "{roll}");
    // The scan is still recognised from the 16 keys it could hold, and says its distinct
    // counts are a lower bound.
    let s = wait_alert(&file, "scan-summary", |a| {
        a["type"] == "scan-summary" && a["details"]["src"] == "10.30.0.5"
    });
    assert_eq!(s["details"]["distinct_ports"], 16, "{s}");
    assert_eq!(s["details"]["distinct_exact"], false, "{s}");
    // Status and metrics carry the same.
    let st = status(&gw);
    let windows = st["denied"]["windows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        windows.iter().any(|w| w["untracked_packets"] == 24
            && w["tables"].as_array().is_some_and(|t| t
                .iter()
                .any(|t| t[0] == "denykeys4" && t[1] == 16 && t[2] == 16))),
        "{st}"
    );
    let text = fetch_metrics(gw.lab.gw(), 19463);
    assert_eq!(
        sample(&text, "zonegate_denied_untracked_packets_total", &[]),
        Some(24.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "zonegate_nflog_listener", &[("state", "bound")]),
        Some(1.0),
        "{text}"
    );
    // The next window without new keys says the table counts everything again.
    wait_alert(&file, "key-table restored", |a| {
        a["type"] == "monitoring-degraded"
            && a["details"]["what"] == "key-table"
            && a["details"]["restored"] == true
    });
    assert_eq!(agent.stop(), Some(0));
}
