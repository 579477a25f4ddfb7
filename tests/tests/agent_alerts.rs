//! Issue 6 end to end: the `zonegate-agent` binary runs in a gateway namespace with a three-zone
//! policy (My Number, LGWAN, internet) and `[alerts]` sinks pointing at receivers the test starts
//! on the gateway namespace's loopback: a webhook (tiny_http), a TCP syslog server parsing every
//! message with an independent RFC 5424 parser, and the JSON-lines file sink. Covered: a tamper
//! gives exactly one drift alert with the diff at each sink; a policy change gives a
//! policy-applied alert with the flow diff; a denied My Number -> internet attempt gives one
//! high-severity alert and 1,000 repeats one summary with the exact count; a port scan gives one
//! scan summary; no alert or queued record holds payload bytes; collectors down (then failing
//! the first attempts) lose nothing, also across a SIGKILL and a restart; the NFLOG group held by
//! someone else is reported while enforcement goes on; a stuck collector delays neither repair
//! nor apply; a one-shot `apply` queues its alert for the next agent; the metrics endpoint shows
//! the same numbers.

mod agent_support;

use agent_support::receivers::*;
use agent_support::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};
use zonegate_e2e::lab::in_ns;

/// The customer's three domains on one gateway: ens3 My Number, ens4 LGWAN, ens5 internet
/// (the interfaces and addresses of `agent_support::spec`).
const POLICY_R1: &str = r#"version = 1
[policy]
name = "alerts-e2e"
revision = "r1"
profile = "none"
timezone = "Asia/Tokyo"
log = { group = 100, rate = "20/second", burst = 50 }

[zones.mynumber]
role = "mynumber"
display_name = "マイナンバー利用事務系"
networks = ["10.10.0.0/24"]
[zones.lgwan]
role = "lgwan"
networks = ["10.20.0.0/24"]
[zones.internet]
role = "internet"
networks = ["10.30.0.0/24"]

[hosts.mn-app]
zone = "mynumber"
addresses = ["10.10.0.5"]
[hosts.lg-term]
zone = "lgwan"
addresses = ["10.20.0.5"]
[hosts.web]
zone = "internet"
addresses = ["10.30.0.5"]

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

const MN: &str = "10.10.0.5";
const LG: &str = "10.20.0.5";
const WEB: &str = "10.30.0.5";

/// Ports on the gateway namespace's loopback (each test has its own namespace).
const WEBHOOK_PORT: u16 = 18080;
const STUCK_PORT: u16 = 18081;
const SYSLOG_PORT: u16 = 16514;
const METRICS_PORT: u16 = 19469;

/// Bytes every denied test packet carries; none of them may reach an alert or the queue.
const MARKER: &[u8] = b"Q7xZ-MN9k2W-PIIv3Rt-8yHqLp0";

/// Revision r2: F-2 added (internet -> LGWAN, tcp/8080).
fn policy_r2() -> String {
    POLICY_R1.replace("revision = \"r1\"", "revision = \"r2\"").replace(
        "[gateways.gw1]",
        "[[flow]]\nid = \"F-2\"\nfrom = \"web\"\nto = \"lg-term\"\nports = [\"tcp/8080\"]\npurpose = \"e2e change\"\napproved_by = \"test\"\n\n[gateways.gw1]",
    )
}

/// Generous: on a loaded 2-core machine a webhook delivery can stall for seconds.
const WAIT: Duration = Duration::from_secs(30);

/// agent.toml lines after the harness's own: metrics, `[alerts]` with a webhook, a TCP syslog
/// sink and the file sink (fast retries), plus `extra` inside `[alerts]`.
fn alerts_config(file: &Path, webhook_port: u16, timeout_secs: u64, extra: &str) -> String {
    format!(
        r#"metrics_address = "127.0.0.1:{METRICS_PORT}"
[alerts]
time_zone = "Asia/Tokyo"
{extra}
[[alerts.sinks]]
kind = "webhook"
name = "soc-hook"
url = "http://127.0.0.1:{webhook_port}/hooks/zonegate"
timeout_secs = {timeout_secs}
retry_initial_ms = 100
retry_max_ms = 400
[[alerts.sinks]]
kind = "syslog"
name = "siem"
transport = "tcp"
address = "127.0.0.1:{SYSLOG_PORT}"
timeout_secs = 2
retry_initial_ms = 100
retry_max_ms = 400
[[alerts.sinks]]
kind = "file"
name = "file"
path = "{}"
"#,
        file.display()
    )
}

/// The counter of the no-flow denial `from` -> `to` in the policy compiled for gw1.
fn pair_counter(policy: &str, from: &str, to: &str) -> String {
    let checked = zonegate_policy::validate("zones.toml", policy, None);
    let p = checked.policy.expect("test policy valid");
    let r = zonegate_policy::compile(&p, "gw1").expect("compiles");
    zonegate_e2e::zonelab::counter_for(&r, |c| {
        c.reason == zonegate_policy::metadata::Reason::NoFlow
            && c.from.as_deref() == Some(from)
            && c.to.as_deref() == Some(to)
    })
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

fn metrics(gw: &Gw) -> String {
    fetch_metrics(gw.lab.gw(), METRICS_PORT)
}

fn metric(gw: &Gw, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(&metrics(gw), name, labels).unwrap_or(-1.0)
}

fn ids(alerts: &[Value]) -> BTreeSet<String> {
    distinct(alerts).0
}

fn types(alerts: &[Value]) -> String {
    alerts
        .iter()
        .map(|a| {
            format!(
                "{} {} {}",
                a["type"].as_str().unwrap_or("?"),
                a["severity"].as_str().unwrap_or("?"),
                a["summary"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sends `count` UDP datagrams carrying [`MARKER`] from `src` (inside `ns`) to `dst`, in
/// batches of 50 a millisecond apart (so no veth backlog drops any: every one reaches the
/// gateway and its counter).
fn send_udp(ns: &str, src: &str, dst: &str, port: u16, count: usize) {
    let (src, dst) = (src.to_string(), dst.to_string());
    in_ns(ns, move || {
        let s = UdpSocket::bind((src.as_str(), 40404)).expect("bind");
        for i in 0..count {
            s.send_to(MARKER, (dst.as_str(), port)).expect("send");
            if i % 50 == 49 {
                thread::sleep(Duration::from_millis(1));
            }
        }
    });
}

/// The first 8-byte window of [`MARKER`] found in `haystack`, if any.
fn payload_in(haystack: &[u8]) -> Option<String> {
    MARKER
        .windows(8)
        .find(|w| haystack.windows(8).any(|h| h == *w))
        .map(|w| String::from_utf8_lossy(w).into_owned())
}

fn queue_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .map(|p| {
                    let b = std::fs::read(&p).unwrap_or_default();
                    (p, b)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_tamper_and_a_policy_change_reach_every_sink_once_with_their_diffs() {
    let Some(gw) = Gw::up(POLICY_R1, "") else {
        return;
    };
    let file = gw.dir.join("alerts.jsonl");
    gw.write_config(&alerts_config(&file, WEBHOOK_PORT, 2, ""));
    let hook = Webhook::start(gw.lab.gw(), WEBHOOK_PORT, 0);
    let syslog = SyslogTcp::start(gw.lab.gw(), SYSLOG_PORT);
    let agent = gw.run();

    // Start: the apply and the first heartbeat, stamped with the ruleset in force.
    let applied = wait(WAIT, || {
        let a = hook.all();
        let p = of_type(&a, "policy-applied").first().cloned().cloned();
        (!of_type(&a, "heartbeat").is_empty())
            .then_some(p)
            .flatten()
    })
    .unwrap_or_else(|| panic!("no start alerts:\n{}", types(&hook.all())));
    let sha1 = applied["details"]["ruleset_sha256"]
        .as_str()
        .expect("hash")
        .to_string();
    assert_eq!(applied["ruleset_sha256"], sha1.as_str());
    assert_eq!(applied["policy"]["revision"], "r1");
    let hb = hook.all().into_iter().find(|a| a["type"] == "heartbeat");
    let hb = hb.expect("heartbeat");
    assert_eq!(hb["ruleset_sha256"], sha1.as_str(), "{hb}");
    assert_eq!(hb["details"]["mode"], "enforce");

    // A tamper in the gateway namespace: repaired, one drift alert at each sink with the diff.
    let before = gw.table();
    gw.nft(&[
        "insert", "rule", "inet", "zonegate", "forward", "ip", "saddr", WEB, "accept",
    ]);
    assert!(
        gw.wait_table(&before, Duration::from_secs(3)),
        "not repaired"
    );
    let all_restored = || {
        let n = [hook.all(), syslog.alerts(), file_alerts(&file)]
            .iter()
            .filter(|a| !of_type(a, "drift-restored").is_empty())
            .count();
        (n == 3).then_some(())
    };
    wait(WAIT, all_restored).unwrap_or_else(|| {
        panic!(
            "drift-restored missing:\nwebhook:\n{}\nsyslog:\n{}",
            types(&hook.all()),
            types(&syslog.alerts())
        )
    });
    let mut drift_ids = BTreeSet::new();
    for (sink, alerts) in [
        ("webhook", hook.all()),
        ("syslog", syslog.alerts()),
        ("file", file_alerts(&file)),
    ] {
        let drifts = of_type(&alerts, "drift-detected");
        assert_eq!(drifts.len(), 1, "{sink}:\n{}", types(&alerts));
        let d = drifts[0];
        assert_eq!(d["severity"], "high", "{sink}: {d}");
        assert_eq!(d["ruleset_sha256"], sha1.as_str(), "{sink}: {d}");
        assert_eq!(d["details"]["repaired"], true, "{sink}: {d}");
        assert_eq!(d["details"]["writer"]["comm"], "nft", "{sink}: {d}");
        // The netlink notice finds it (a periodic compare running at that very moment may
        // find it first).
        let by = d["details"]["detected_by"].as_str().unwrap_or_default();
        assert!(
            by == "netlink-event" || by == "periodic-compare",
            "{sink}: {d}"
        );
        // The added rule, whoever won the race between the agent's listing and its repair: a
        // repair-first report always shows the kernel notice's own rule (its expressions
        // decoded), with the listing's line when the listing saw it; a drift found by a
        // listing compare shows the listing's line.
        let diff = d["details"]["diff"].as_str().unwrap_or_default();
        let from_notice = |l: &str| {
            l.starts_with("chain forward: rule added (handle ")
                && l.ends_with(&format!(": ip saddr {WEB} accept"))
        };
        let from_listing = |l: &str| {
            l.starts_with("+ chain forward rule 1:") && l.contains(WEB) && l.contains("accept")
        };
        let shown = diff.lines().any(|l| from_notice(l) || from_listing(l));
        assert!(shown, "{sink}: no added rule in the diff ({by}):\n{diff}");
        drift_ids.insert(d["id"].as_str().unwrap_or_default().to_string());
        let restored = of_type(&alerts, "drift-restored");
        assert_eq!(restored.len(), 1, "{sink}");
        assert_eq!(restored[0]["details"]["repaired"], true);
    }
    assert_eq!(drift_ids.len(), 1, "the same alert at every sink");
    // The syslog side, read by an independent RFC 5424 parser.
    let msgs = syslog.all();
    let m = msgs
        .iter()
        .find(|m| m.sd("type").as_deref() == Some("drift-detected"))
        .expect("drift message");
    assert_eq!(
        m.parsed.severity,
        syslog_rfc5424::SyslogSeverity::SEV_ERR,
        "{}",
        m.raw
    );
    assert_eq!(m.parsed.appname.as_deref(), Some("zonegate"));
    assert_eq!(m.sd("ruleset_sha256").as_deref(), Some(sha1.as_str()));
    assert_eq!(m.sd("id"), drift_ids.iter().next().cloned());
    assert!(syslog.errors.lock().expect("errors").is_empty());

    // A policy change, applied (`systemctl reload`): the flow diff in the security team's terms.
    gw.write_policy(&policy_r2());
    agent.signal("HUP");
    let find_r2 = |alerts: &[Value]| {
        alerts
            .iter()
            .find(|a| a["type"] == "policy-applied" && a["details"]["revision"] == "r2")
            .cloned()
    };
    wait(WAIT, || {
        let n = [hook.all(), syslog.alerts(), file_alerts(&file)]
            .iter()
            .filter(|a| find_r2(a).is_some())
            .count();
        (n == 3).then_some(())
    })
    .unwrap_or_else(|| panic!("no r2 policy-applied:\n{}", agent.dump()));
    let p = find_r2(&hook.all()).expect("r2");
    let sha2 = p["details"]["ruleset_sha256"].as_str().expect("hash");
    assert_ne!(sha2, sha1);
    assert_eq!(
        p["ruleset_sha256"], sha2,
        "the envelope names the new ruleset"
    );
    assert_eq!(p["policy"]["revision"], "r2");
    assert_eq!(p["severity"], "medium");
    assert_eq!(p["details"]["reason"], "reload");
    assert_eq!(p["details"]["previous_revision"], "r1");
    assert_eq!(p["details"]["previous_ruleset_sha256"], sha1.as_str());
    let flows = &p["details"]["flows"];
    assert_eq!(flows["added"].as_array().map(Vec::len), Some(1), "{p}");
    assert_eq!(flows["removed"].as_array().map(Vec::len), Some(0), "{p}");
    assert_eq!(flows["changed"].as_array().map(Vec::len), Some(0), "{p}");
    let f2 = &flows["added"][0];
    assert_eq!(f2["id"], "F-2");
    assert_eq!(f2["from"], "web");
    assert_eq!(f2["to"], "lg-term");
    assert_eq!(f2["from_zone"], "internet");
    assert_eq!(f2["to_zone"], "lgwan");
    assert_eq!(f2["ports"][0], "tcp/8080");
    assert_eq!(f2["sensitive"], false);
    assert!(
        f2["defined_at"]
            .as_str()
            .unwrap_or_default()
            .contains("zones.toml:"),
        "{f2}"
    );
    assert_eq!(
        find_r2(&syslog.alerts()).map(|a| a["id"].clone()),
        Some(p["id"].clone())
    );

    // The metrics endpoint says the same.
    let m = wait(WAIT, || {
        let m = metrics(&gw);
        let sent = sample(&m, "zonegate_alerts_sent_total", &[("sink", "soc-hook")])?;
        let depth = sample(&m, "zonegate_alerts_queue_depth", &[])?;
        (sent as usize == hook.all().len() && depth == 0.0).then_some(m)
    })
    .unwrap_or_else(|| panic!("metrics disagree:\n{}", metrics(&gw)));
    let v = |name: &str, labels: &[(&str, &str)]| sample(&m, name, labels).unwrap_or(-1.0);
    assert_eq!(v("zonegate_applies_total", &[("result", "ok")]), 2.0, "{m}");
    assert_eq!(v("zonegate_applies_total", &[("result", "failed")]), 0.0);
    assert_eq!(v("zonegate_apply_duration_seconds_count", &[]), 2.0);
    assert!(v("zonegate_last_apply_duration_seconds", &[]) > 0.0, "{m}");
    assert_eq!(v("zonegate_drift_total", &[]), 1.0);
    assert_eq!(v("zonegate_repairs_total", &[]), 1.0);
    assert!(v("zonegate_restores_total", &[]) >= 1.0);
    assert_eq!(
        v(
            "zonegate_ruleset_info",
            &[("revision", "r2"), ("sha256", sha2)]
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        v("zonegate_alerts_failed_total", &[("sink", "soc-hook")]),
        0.0
    );
    assert_eq!(
        v(
            "zonegate_alerts_emitted_total",
            &[("type", "drift-detected")]
        ),
        1.0
    );
    assert_eq!(
        v("zonegate_alerts_sent_total", &[("sink", "siem")]) as usize,
        ids(&syslog.alerts()).len(),
        "{m}"
    );
    assert_eq!(
        hook.key_mismatches
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert_eq!(agent.stop(), Some(0));
}

/// Waits for the agent to close its next denied-flow window (with the counters), after the
/// `after`-th; returns the count.
fn next_window(gw: &Gw, after: f64) -> f64 {
    wait(Duration::from_secs(20), || {
        let n = metric(gw, "zonegate_denied_windows_total", &[]);
        (n > after).then_some(n)
    })
    .expect("no denied-flow window closed")
}

#[test]
fn denied_attempts_are_counted_exactly_scans_summarised_and_no_payload_is_kept() {
    let Some(gw) = Gw::up(POLICY_R1, "") else {
        return;
    };
    let file = gw.dir.join("alerts.jsonl");
    // No syslog receiver in this test: that sink keeps every record in the queue, which is
    // therefore checked for payload bytes along with the sinks.
    gw.write_config(&alerts_config(
        &file,
        WEBHOOK_PORT,
        2,
        "[alerts.denied_flows]\nwindow_secs = 4\n",
    ));
    let hook = Webhook::start(gw.lab.gw(), WEBHOOK_PORT, 0);
    let agent = gw.run();
    wait(WAIT, || {
        (metric(&gw, "zonegate_nflog_bound", &[]) == 1.0).then_some(())
    })
    .expect("NFLOG not bound");
    let from_mn = |alerts: &[Value]| -> Vec<Value> {
        alerts
            .iter()
            .filter(|a| a["type"] == "denied-flow" && a["details"]["src"] == MN)
            .cloned()
            .collect()
    };

    // Window 1: one denied attempt My Number -> internet, and a port scan LGWAN -> internet
    // (40 ports over 2 s: NFLOG samples it at 5/s after a burst of 10, enough for a scan).
    let w0 = next_window(&gw, metric(&gw, "zonegate_denied_windows_total", &[]));
    let mn_web = pair_counter(POLICY_R1, "mynumber", "internet");
    let c11_before = zonegate_e2e::zonelab::counter(&gw.lab, &mn_web);
    let scan_ns = gw.lab.host(1).to_string();
    let scanner = thread::spawn(move || {
        in_ns(&scan_ns, || {
            let s = UdpSocket::bind((LG, 40405)).expect("bind");
            for port in 41000..41040u16 {
                s.send_to(MARKER, (WEB, port)).expect("send");
                thread::sleep(Duration::from_millis(50));
            }
        })
    });
    send_udp(gw.lab.host(0), MN, WEB, 5353, 1);
    let first = wait(WAIT, || from_mn(&hook.all()).first().cloned())
        .unwrap_or_else(|| panic!("no denied-flow alert:\n{}", types(&hook.all())));
    assert_eq!(first["severity"], "high", "{first}");
    let d = &first["details"];
    assert_eq!(d["phase"], "first");
    assert_eq!(d["reason"], "no-flow");
    assert_eq!(d["from_zone"], "mynumber");
    assert_eq!(d["to_zone"], "internet");
    assert_eq!(d["dst"], WEB);
    assert_eq!(d["protocol"], "udp");
    assert_eq!(d["dst_port"], 5353);
    assert_eq!(d["sensitive"], true);
    assert_eq!(d["count"], 1);
    scanner.join().expect("scanner");
    let w1 = next_window(&gw, w0);
    // Window 2 (starts now): 1,000 repeats of the same attempt.
    send_udp(gw.lab.host(0), MN, WEB, 5353, 1000);
    // Window 1's alerts: the scan summary, with the scan's exact packet count and distinct
    // ports from the ruleset's per-key table (no pair roll-up: every packet has its key).
    let after_w1 = wait(WAIT, || {
        let a = hook.all();
        (!of_type(&a, "scan-summary").is_empty()).then_some(a)
    })
    .unwrap_or_else(|| panic!("window 1 not summarised:\n{}", types(&hook.all())));
    assert_eq!(
        from_mn(&after_w1).len(),
        1,
        "one attempt, one alert:\n{}",
        types(&after_w1)
    );
    let scans: Vec<&Value> = of_type(&after_w1, "scan-summary");
    assert_eq!(scans.len(), 1, "{}", types(&after_w1));
    let s = &scans[0]["details"];
    assert_eq!(s["src"], LG);
    assert_eq!(s["from_zone"], "lgwan");
    assert_eq!(s["to_zones"][0], "internet");
    assert_eq!(s["distinct_ports"], 40, "{s}");
    assert_eq!(s["packets"], 40, "{s}");
    assert_eq!(s["distinct_exact"], true, "{s}");
    assert_eq!(scans[0]["severity"], "medium");

    // After window 2: one summary with the exact count.
    next_window(&gw, w1);
    let summary = wait(WAIT, || {
        from_mn(&hook.all())
            .into_iter()
            .find(|a| a["details"]["phase"] == "summary")
    })
    .unwrap_or_else(|| panic!("no summary:\n{}", types(&hook.all())));
    let c11 = zonegate_e2e::zonelab::counter(&gw.lab, &mn_web) - c11_before;
    assert_eq!(c11, 1001, "the kernel counted every packet");
    assert_eq!(summary["severity"], "high");
    assert_eq!(summary["details"]["count"], 1000, "{summary}");
    assert_eq!(summary["details"]["count_exact"], true);
    assert_eq!(summary["details"]["pair_count"], 1000);
    assert!(summary["details"]["samples"].as_u64().unwrap_or(0) < 1000);
    let all = hook.all();
    assert_eq!(from_mn(&all).len(), 2, "{}", types(&all));
    assert_eq!(of_type(&all, "scan-summary").len(), 1);

    // Metrics: exact denied counts per zone pair and reason, nothing lost.
    let m = metrics(&gw);
    let v = |name: &str, labels: &[(&str, &str)]| sample(&m, name, labels).unwrap_or(-1.0);
    let mn = [
        ("from", "mynumber"),
        ("to", "internet"),
        ("reason", "no-flow"),
    ];
    assert_eq!(v("zonegate_denied_packets_total", &mn), 1001.0, "{m}");
    let lg = [("from", "lgwan"), ("to", "internet"), ("reason", "no-flow")];
    assert_eq!(v("zonegate_denied_packets_total", &lg), 40.0, "{m}");
    assert_eq!(v("zonegate_nflog_samples_lost_total", &[]), 0.0);
    assert_eq!(
        v("zonegate_alerts_emitted_total", &[("type", "scan-summary")]),
        1.0
    );

    // No payload anywhere: webhook bodies, the file sink, the queue on disk (which still holds
    // every record: the syslog collector never came up).
    let bodies = serde_json::to_vec(&all).expect("json");
    assert_eq!(payload_in(&bodies), None, "payload in a webhook body");
    let file_bytes = std::fs::read(&file).expect("file sink");
    assert_eq!(payload_in(&file_bytes), None, "payload in the file sink");
    let queue = queue_bytes(&gw.state_dir().join("alerts"));
    let first_id = first["id"].as_str().expect("id").as_bytes();
    assert!(
        queue
            .iter()
            .any(|(_, b)| b.windows(first_id.len()).any(|w| w == first_id)),
        "the queue should still hold the first alert"
    );
    for (path, bytes) in &queue {
        assert_eq!(payload_in(bytes), None, "payload in {}", path.display());
    }
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn collectors_down_then_failing_lose_nothing_across_a_sigkill_and_restart() {
    let Some(gw) = Gw::up(POLICY_R1, "") else {
        return;
    };
    let file = gw.dir.join("alerts.jsonl");
    gw.write_config(&alerts_config(&file, WEBHOOK_PORT, 2, ""));
    let restored = |n: usize| {
        let f = file.clone();
        move || (of_type(&file_alerts(&f), "drift-restored").len() >= n).then_some(())
    };

    // Run 1, nothing listening: alerts wait in the queue. A tamper, repaired; once its alerts
    // are on disk (the file sink reads them from the queue), SIGKILL.
    let first = gw.run();
    let before = gw.table();
    gw.nft(&[
        "insert", "rule", "inet", "zonegate", "forward", "ip", "saddr", WEB, "accept",
    ]);
    assert!(gw.wait_table(&before, Duration::from_secs(3)));
    wait(WAIT, restored(1)).expect("run 1: drift alerts not durable");
    first.kill();

    // Run 2, collectors still down: another tamper.
    let second = gw.run();
    gw.nft(&["add", "rule", "inet", "zonegate", "input", "accept"]);
    assert!(gw.wait_table(&before, Duration::from_secs(3)));
    wait(WAIT, restored(2)).expect("run 2: drift alerts not durable");
    assert_eq!(
        metric(&gw, "zonegate_alerts_sent_total", &[("sink", "soc-hook")]),
        0.0
    );

    // The collectors come back; the webhook still fails its first 3 requests.
    let hook = Webhook::start(gw.lab.gw(), WEBHOOK_PORT, 3);
    let syslog = SyslogTcp::start(gw.lab.gw(), SYSLOG_PORT);
    let all_in = wait(Duration::from_secs(20), || {
        let want = ids(&file_alerts(&file));
        (ids(&hook.all()) == want && ids(&syslog.alerts()) == want).then_some(want)
    })
    .unwrap_or_else(|| {
        panic!(
            "not everything arrived:\nfile:\n{}\nwebhook:\n{}\nsyslog:\n{}",
            types(&file_alerts(&file)),
            types(&hook.all()),
            types(&syslog.alerts())
        )
    });
    let received = hook.all();
    // Both runs' alerts are there: the start apply of run 1, two tampers, two heartbeats.
    let distinct_of = |t: &str| {
        let of: Vec<Value> = of_type(&received, t).into_iter().cloned().collect();
        ids(&of).len()
    };
    assert_eq!(distinct_of("policy-applied"), 1, "{}", types(&received));
    assert_eq!(distinct_of("drift-detected"), 2, "{}", types(&received));
    assert_eq!(distinct_of("drift-restored"), 2);
    assert_eq!(distinct_of("heartbeat"), 2);
    assert!(hook.requests.load(std::sync::atomic::Ordering::SeqCst) >= all_in.len() + 3);
    let m = wait(WAIT, || {
        let m = metrics(&gw);
        // All three at one scrape: a heartbeat emitted between the sinks' pending counts and
        // the queue depth is delivered a moment later.
        (sample(&m, "zonegate_alerts_pending", &[("sink", "soc-hook")]) == Some(0.0)
            && sample(&m, "zonegate_alerts_pending", &[("sink", "siem")]) == Some(0.0)
            && sample(&m, "zonegate_alerts_queue_depth", &[]) == Some(0.0))
        .then_some(m)
    })
    .unwrap_or_else(|| panic!("still pending:\n{}", metrics(&gw)));
    assert!(
        sample(&m, "zonegate_alerts_failed_total", &[("sink", "soc-hook")]).unwrap_or(0.0) >= 3.0,
        "{m}"
    );
    assert_eq!(sample(&m, "zonegate_alerts_queue_depth", &[]), Some(0.0));
    let (_, hook_dups) = distinct(&received);
    let (_, syslog_dups) = distinct(&syslog.alerts());
    eprintln!(
        "collectors down + SIGKILL: {} distinct alerts from 2 runs; webhook {} deliveries ({} ids twice), syslog {} ({} ids twice), {} webhook requests",
        all_in.len(),
        received.len(),
        hook_dups,
        syslog.all().len(),
        syslog_dups,
        hook.requests.load(std::sync::atomic::Ordering::SeqCst)
    );
    assert_eq!(second.stop(), Some(0));
}

#[test]
fn a_held_nflog_group_is_reported_and_a_stuck_collector_delays_nothing() {
    let Some(gw) = Gw::up(POLICY_R1, "") else {
        return;
    };
    let file = gw.dir.join("alerts.jsonl");
    // The webhook accepts connections and never answers; its timeout is 5 s per attempt.
    gw.write_config(&alerts_config(&file, STUCK_PORT, 5, ""));
    let _stuck = Stuck::start(gw.lab.gw(), STUCK_PORT);
    // Another process's NFLOG listener holds the policy's group (100) in the gateway namespace.
    let holder = in_ns(gw.lab.gw(), || {
        zonegate_alerts::nflog::bind(100, 1 << 16).expect("hold NFLOG group 100")
    });
    let agent = gw.run();
    let degraded = wait(WAIT, || {
        file_alerts(&file).into_iter().find(|a| {
            a["type"] == "monitoring-degraded"
                && a["details"]["what"] == "nflog"
                && a["details"]["restored"] == false
        })
    })
    .unwrap_or_else(|| panic!("no nflog degraded alert:\n{}", types(&file_alerts(&file))));
    assert_eq!(degraded["severity"], "high");

    // Enforcement goes on, at full speed, with the webhook stuck and NFLOG unavailable.
    let before = gw.table();
    let t0 = Instant::now();
    gw.nft(&[
        "insert", "rule", "inet", "zonegate", "forward", "ip", "saddr", WEB, "accept",
    ]);
    assert!(
        gw.wait_table(&before, Duration::from_secs(2)),
        "not repaired"
    );
    let repair = t0.elapsed();
    let t1 = Instant::now();
    gw.write_policy(&policy_r2());
    agent.signal("HUP");
    agent
        .wait_until(Duration::from_secs(5), |evs| {
            evs.iter()
                .find(|e| e["event"] == "policy-applied" && e["revision"] == "r2")
                .cloned()
        })
        .unwrap_or_else(|| panic!("r2 not applied:\n{}", agent.dump()));
    let apply = t1.elapsed();
    assert!(
        repair < Duration::from_millis(1000),
        "repair took {repair:?}"
    );
    wait(WAIT, || {
        let f = file_alerts(&file);
        (!of_type(&f, "drift-restored").is_empty()
            && f.iter()
                .any(|a| a["type"] == "policy-applied" && a["details"]["revision"] == "r2"))
        .then_some(())
    })
    .unwrap_or_else(|| panic!("file sink behind:\n{}", types(&file_alerts(&file))));

    // The group is released: the monitor binds it and says so, and denied attempts are seen.
    drop(holder);
    wait(Duration::from_secs(20), || {
        file_alerts(&file).into_iter().find(|a| {
            a["type"] == "monitoring-degraded"
                && a["details"]["what"] == "nflog"
                && a["details"]["restored"] == true
        })
    })
    .unwrap_or_else(|| panic!("no nflog restored alert:\n{}", types(&file_alerts(&file))));
    send_udp(gw.lab.host(0), MN, WEB, 5353, 1);
    wait(WAIT, || {
        file_alerts(&file)
            .into_iter()
            .find(|a| a["type"] == "denied-flow" && a["details"]["src"] == MN)
    })
    .unwrap_or_else(|| panic!("no denied-flow alert:\n{}", types(&file_alerts(&file))));
    let m = metrics(&gw);
    assert_eq!(sample(&m, "zonegate_nflog_bound", &[]), Some(1.0), "{m}");
    assert_eq!(
        sample(&m, "zonegate_alerts_sink_up", &[("sink", "soc-hook")]),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "zonegate_alerts_sent_total", &[("sink", "soc-hook")]),
        Some(0.0)
    );
    assert!(sample(&m, "zonegate_alerts_pending", &[("sink", "soc-hook")]).unwrap_or(0.0) > 0.0);
    let t2 = Instant::now();
    assert_eq!(agent.stop(), Some(0));
    let stop = t2.elapsed();
    assert!(stop < Duration::from_secs(8), "stop took {stop:?}");
    eprintln!(
        "stuck collector: tamper repaired in {repair:?}, policy change applied in {apply:?} (settle delay included), clean stop in {stop:?}"
    );
}

#[test]
fn a_one_shot_apply_queues_its_alert_and_the_next_agent_delivers_it() {
    let Some(gw) = Gw::up(POLICY_R1, "") else {
        return;
    };
    let file = gw.dir.join("alerts.jsonl");
    gw.write_config(&alerts_config(&file, WEBHOOK_PORT, 2, ""));
    // No agent and no collector: `apply` queues the alert (the file sink has it at once).
    let t0 = Instant::now();
    let out = gw.agent_ok(&["apply"], 0);
    let took = t0.elapsed();
    assert!(out.contains("Applied revision r1"), "{out}");
    let queued = file_alerts(&file);
    let applied = of_type(&queued, "policy-applied");
    assert_eq!(applied.len(), 1, "{}", types(&queued));
    let id = applied[0]["id"].clone();
    assert!(took < Duration::from_secs(10), "apply took {took:?}");
    // The agent starts (the ruleset is loaded already: nothing is applied again) and delivers it.
    let hook = Webhook::start(gw.lab.gw(), WEBHOOK_PORT, 0);
    let agent = gw.run();
    let got = wait(WAIT, || {
        let a = hook.all();
        a.iter().any(|x| x["type"] == "heartbeat").then_some(a)
    })
    .unwrap_or_else(|| panic!("nothing delivered:\n{}", types(&hook.all())));
    let applied: Vec<&Value> = of_type(&got, "policy-applied");
    assert_eq!(applied.len(), 1, "{}", types(&got));
    assert_eq!(applied[0]["id"], id);
    assert_eq!(agent.named("policy-applied").len(), 0, "{}", agent.dump());
    assert_eq!(agent.stop(), Some(0));
}
