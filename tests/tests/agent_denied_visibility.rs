//! What the security team is told about denials, with the real agent, real NFLOG and real
//! traffic through a dual-stack gateway namespace (the attack review behind the data path's
//! second round): an IPv6 connection into My Number raises its alert like an IPv4 one; scans
//! whose packets carry IPv4 options or an IPv6 destination-options header are reported with
//! their ports; a flood that fills one zone pair's log meter neither blinds another pair nor,
//! once its meter is full, makes a later scanner on the same pair anonymous, and the full meter
//! is reported.

mod agent_support;

use agent_support::receivers::{file_alerts, of_type};
use agent_support::Gw;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};
use zonegate_e2e::lab::{LabSpec, SegmentSpec};
use zonegate_e2e::probe::tcp_reachable;
use zonegate_e2e::spoof;

/// My Number on ens3, LGWAN on ens4, the internet side (a catch-all zone) on ens5.
const POLICY: &str = r#"version = 1
[policy]
name = "visibility-e2e"
revision = "r1"
profile = "none"
timezone = "Asia/Tokyo"
log = { group = 100, rate = "20/second", burst = 50 }

[zones.mynumber]
role = "mynumber"
networks = ["10.10.0.0/24", "fd00:10::/64"]
[zones.lgwan]
role = "lgwan"
networks = ["10.20.0.0/24", "fd00:20::/64"]
[zones.internet]
role = "external"
networks = ["0.0.0.0/0", "::/0"]

[hosts.mn-app]
zone = "mynumber"
addresses = ["10.10.0.5", "fd00:10::5"]
[hosts.lg-term]
zone = "lgwan"
addresses = ["10.20.0.5", "fd00:20::5"]

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

const WAIT: Duration = Duration::from_secs(20);

fn spec() -> LabSpec {
    LabSpec {
        segments: vec![
            SegmentSpec::new(
                "ens3",
                &["10.10.0.1/24", "fd00:10::1/64"],
                &["10.10.0.5/24", "fd00:10::5/64"],
            ),
            SegmentSpec::new(
                "ens4",
                &["10.20.0.1/24", "fd00:20::1/64"],
                &["10.20.0.5/24", "fd00:20::5/64"],
            ),
            SegmentSpec::new(
                "ens5",
                &["10.30.0.1/24", "fd00:30::1/64"],
                &["10.30.0.5/24", "fd00:30::5/64"],
            ),
        ],
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn sa(s: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip(s), port)
}

/// Starts the agent with the file sink and short windows; returns it and the sink's path.
fn start(gw: &Gw) -> (agent_support::Running, std::path::PathBuf) {
    let file = gw.dir.join("alerts.jsonl");
    gw.write_config(&format!(
        "[alerts]\ntime_zone = \"Asia/Tokyo\"\n[alerts.denied_flows]\nwindow_secs = 3\n[[alerts.sinks]]\nkind = \"file\"\nname = \"file\"\npath = \"{}\"\n",
        file.display()
    ));
    let agent = gw.run();
    (agent, file)
}

/// Waits (on the file sink, which the agent appends to) for an alert matching `pred`.
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

/// SYNs from `src` to ports `ports` of `dst`, one every 50 ms (so the per-source log budget of
/// 5 a second after a burst of 10 lets enough samples through for a scan), each transformed by
/// `shape` (options, extension headers) first.
fn scan(
    ns: &str,
    src: &str,
    dst: &str,
    ports: std::ops::Range<u16>,
    shape: impl Fn(Vec<u8>) -> Vec<u8>,
) {
    for port in ports {
        let syn = spoof::tcp_syn_packet(sa(src, 41234), sa(dst, port)).expect("syn");
        spoof::send_ip(ns, "eth0", &shape(syn)).expect("send");
        thread::sleep(Duration::from_millis(50));
    }
}

fn scan_summary_of<'a>(all: &'a [Value], src: &str) -> Vec<&'a Value> {
    of_type(all, "scan-summary")
        .into_iter()
        .filter(|a| a["details"]["src"] == src)
        .collect()
}

#[test]
fn ipv6_connections_into_my_number_and_scans_with_options_are_reported_with_their_ports() {
    let Some(gw) = Gw::up_with(&spec(), POLICY, "") else {
        return;
    };
    let (agent, file) = start(&gw);
    // A permitted IPv6 connection into My Number: its sensitive-flow-accepted alert.
    tcp_reachable(
        gw.lab.host(1),
        Some(ip("fd00:20::5")),
        sa("fd00:10::5", 7000),
        Duration::from_millis(500),
    );
    let a = wait_alert(&file, "IPv6 sensitive-flow-accepted", |a| {
        a["type"] == "sensitive-flow-accepted" && a["details"]["src"] == "fd00:20::5"
    });
    assert_eq!(a["details"]["dst"], "fd00:10::5", "{a}");
    assert_eq!(a["details"]["dst_port"], 7000, "{a}");
    // A scan of My Number from the internet side whose SYNs carry 8 bytes of IPv4 options
    // (NOP padding and a timestamp option header), and one over IPv6 with a destination-options
    // header: each reported with its ports and summarised as a scan.
    let opts = [1u8, 1, 1, 1, 1, 1, 1, 0];
    let ns = gw.lab.host(2).to_string();
    let v4 = thread::spawn(move || {
        scan(&ns, "10.30.0.5", "10.10.0.5", 42000..42040, |p| {
            spoof::with_ipv4_options(&p, &opts).expect("options")
        })
    });
    scan(
        gw.lab.host(2),
        "fd00:30::5",
        "fd00:10::5",
        43000..43040,
        |p| spoof::with_ipv6_destination_options(&p).expect("ext header"),
    );
    v4.join().expect("v4 scan");
    for (src, lo) in [("10.30.0.5", 42000u64), ("fd00:30::5", 43000)] {
        let first = wait_alert(&file, "denied-flow with a port", |a| {
            a["type"] == "denied-flow"
                && a["details"]["src"] == src
                && a["details"]["dst_port"].is_u64()
        });
        let port = first["details"]["dst_port"].as_u64().unwrap_or(0);
        assert!(
            (lo..lo + 40).contains(&port),
            "{src}: port {port} of the scan: {first}"
        );
        let s = wait_alert(&file, "scan-summary", |a| {
            a["type"] == "scan-summary" && a["details"]["src"] == src
        });
        assert!(
            s["details"]["distinct_ports"].as_u64().unwrap_or(0) >= 16,
            "{s}"
        );
        assert_eq!(s["severity"], "high", "a scan of My Number: {s}");
    }
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn a_flood_that_fills_a_log_meter_leaves_later_scans_reported_and_says_so() {
    let Some(gw) = Gw::up_with(&spec(), POLICY, "") else {
        return;
    };
    let (agent, file) = start(&gw);
    // 17,000 denied datagrams internet -> LGWAN from distinct internet sources: more than that
    // pair's per-source meter holds (16,384).
    let flood: Vec<Vec<u8>> = (0..17_000u32)
        .map(|i| {
            let src = std::net::Ipv4Addr::from(0x6440_0000 + i);
            spoof::udp_packet(
                SocketAddr::new(src.into(), 40000),
                sa("10.20.0.5", 5140),
                b"f",
            )
            .expect("udp")
        })
        .collect();
    spoof::send_ip_many(gw.lab.host(2), "eth0", &flood).expect("flood");
    // A scan of My Number from LGWAN (another pair, another meter): reported in full.
    scan(
        gw.lab.host(1),
        "10.20.0.5",
        "10.10.0.5",
        44000..44040,
        |p| p,
    );
    // A new scanner on the flooded pair, internet -> LGWAN, whose source the full meter cannot
    // hold: logged by the fallback rule, still with its source and ports.
    scan(
        gw.lab.host(2),
        "10.30.0.5",
        "10.20.0.5",
        45000..45040,
        |p| p,
    );
    for (src, lo) in [("10.20.0.5", 44000u64), ("10.30.0.5", 45000)] {
        let s = wait_alert(&file, "scan-summary", |a| {
            a["type"] == "scan-summary" && a["details"]["src"] == src
        });
        assert!(
            s["details"]["distinct_ports"].as_u64().unwrap_or(0) >= 16,
            "{s}"
        );
        let first = wait_alert(&file, "denied-flow with a port", |a| {
            a["type"] == "denied-flow"
                && a["details"]["src"] == src
                && a["details"]["dst_port"].is_u64()
        });
        let port = first["details"]["dst_port"].as_u64().unwrap_or(0);
        assert!((lo..lo + 40).contains(&port), "{src}: port {port}: {first}");
    }
    let degraded = wait_alert(&file, "monitoring-degraded for the full meter", |a| {
        a["type"] == "monitoring-degraded"
            && a["details"]["what"]
                .as_str()
                .is_some_and(|w| w.starts_with("log-meter:meter4-"))
    });
    assert_eq!(degraded["details"]["restored"], false, "{degraded}");
    let all = file_alerts(&file);
    assert_eq!(
        scan_summary_of(&all, "10.20.0.5").len(),
        1,
        "{}",
        summaries(&all)
    );
    assert_eq!(agent.stop(), Some(0));
}
