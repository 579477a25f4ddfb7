//! 100,000 denied packets per second through the NFLOG path, measured (root only; it builds a
//! namespace lab and skips loudly otherwise):
//!
//! `cargo bench -p zonegate-alerts --bench nflog_flood` (ZGA_BENCH_RATE, ZGA_BENCH_SECS to vary).
//!
//! A client namespace floods UDP at a fixed rate through a gateway namespace running the real
//! compiled ruleset of the repository's zones.toml (gateway gw1, the veths named ens4 = lgwan
//! and ens3 = mynumber), so every packet is a denied lgwan -> mynumber attempt: code 11, a
//! counter, the pair limit and the per-source meter, then NFLOG. The monitor and the pipeline
//! (file sink) run in this process; the sender is a child process (this binary with
//! `--flood-sender`) so its CPU is not counted as ours. Reported per run: packets sent and
//! counted by the kernel, the exact count the alerts carry after reconciliation, NFLOG samples
//! received and lost, alerts emitted, CPU of this process and of the monitor thread, the slowest
//! `emit` and the delivery latency of a heartbeat sent during the flood, and whether the
//! ruleset listing changed. A last run replaces the ruleset by one that logs every packet
//! (no limit): the worst case for the listener.

#[path = "../tests/it/lab.rs"]
#[allow(dead_code)]
mod lab;

use lab::{run, Lab};
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zonegate_alerts::config::{FileConfig, SinkConfig};
use zonegate_alerts::{
    parse_nft_counters, AlertContext, AlertPipeline, AlertsConfig, Counters, DeniedFlowConfig,
    DeniedFlowMonitor,
};
use zonegate_policy::metadata::Reason;
use zonegate_policy::{compile, validate_bytes, Date, Metadata};

/// CPU seconds (user + system) of `/proc/self/stat` or one task's stat file. USER_HZ is 100 on
/// Linux for every architecture we build for.
fn cpu_seconds(stat: &Path) -> f64 {
    let text = std::fs::read_to_string(stat).unwrap_or_default();
    let after = text.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the command: state is index 0, so utime (14th overall) is index 11.
    (ticks(11) + ticks(12)) / 100.0
}

fn thread_cpu(name: &str) -> f64 {
    let mut total = 0.0;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for e in dir.flatten() {
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            if comm.trim() == name {
                total += cpu_seconds(&e.path().join("stat"));
            }
        }
    }
    total
}

fn sender(args: &[String]) {
    let rate: f64 = args[0].parse().unwrap();
    let secs: f64 = args[1].parse().unwrap();
    let ports: u16 = args[2].parse().unwrap();
    // Resolve the gateway's MAC before the clock starts (the packet itself is denied).
    let warm = UdpSocket::bind("10.20.0.2:0").unwrap();
    let _ = warm.send_to(b"warm-up", ("10.20.0.1", 9));
    std::thread::sleep(Duration::from_millis(100));
    // Two threads: one core cannot push 100,000 packets/s through the full ruleset, since the
    // kernel's forward path and nft run in the sending thread's context.
    let threads = 2u64;
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let s = UdpSocket::bind("10.20.0.2:0").unwrap();
                let payload = [0x5au8; 64];
                let (mut sent, mut errors) = (0u64, 0u64);
                let share = rate / threads as f64;
                loop {
                    let el = start.elapsed().as_secs_f64();
                    if el >= secs {
                        break;
                    }
                    let target = (el * share) as u64;
                    while sent < target {
                        let n = sent * threads + t;
                        let port = 1000 + (n % u64::from(ports)) as u16;
                        match s.send_to(&payload, ("10.10.0.5", port)) {
                            Ok(_) => sent += 1,
                            Err(_) => {
                                errors += 1;
                                break;
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
                (sent, errors)
            })
        })
        .collect();
    let (mut sent, mut errors) = (0u64, 0u64);
    for h in handles {
        let (s, e) = h.join().unwrap();
        sent += s;
        errors += e;
    }
    println!("sent {sent} {errors} {:.3}", start.elapsed().as_secs_f64());
}

struct Run {
    name: String,
    sent: u64,
    send_errors: u64,
    seconds: f64,
    counted: u64,
    alert_count: Option<u64>,
    samples: u64,
    lost: u64,
    overruns: u64,
    alerts: BTreeMap<String, u64>,
    process_cpu: f64,
    monitor_cpu: f64,
    slowest_emit: Duration,
    heartbeat_latency: Duration,
    ruleset_unchanged: bool,
}

fn counters(gw: &str, table: &str) -> Counters {
    let json = run(
        &[
            "ip", "netns", "exec", gw, "nft", "-j", "list", "counters", "table", "inet", table,
        ],
        None,
    );
    parse_nft_counters(&json, table).unwrap()
}

fn listing(gw: &str, table: &str) -> String {
    let text = run(
        &[
            "ip", "netns", "exec", gw, "nft", "list", "table", "inet", table,
        ],
        None,
    );
    // Counter values and dynamic meter contents change with traffic; the rules must not.
    text.lines()
        .filter(|l| !l.contains("packets ") && !l.trim_start().starts_with("elements"))
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[allow(clippy::too_many_arguments)]
fn flood(
    name: &str,
    code: u32,
    lab: &Lab,
    table: &str,
    pipeline: &AlertPipeline,
    monitor: &DeniedFlowMonitor,
    out: &Path,
    rate: u64,
    secs: u64,
    ports: u16,
) -> Run {
    let before_listing = listing(&lab.gw, table);
    // Close the previous window so this run's summaries hold this run's packets only.
    monitor.reconcile(&counters(&lab.gw, table));
    pipeline.wait_delivered(Duration::from_secs(30));
    let c0 = counters(&lab.gw, table);
    let m0 = pipeline.metrics();
    let (cpu0, mon0) = (
        cpu_seconds(Path::new("/proc/self/stat")),
        thread_cpu("zg-nflog"),
    );
    let lines_before = std::fs::read_to_string(out).map_or(0, |t| t.lines().count());
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lab.a])
        .arg(&exe)
        .args([
            "--flood-sender",
            &rate.to_string(),
            &secs.to_string(),
            &ports.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // While it runs: how long does emit take, and how long until an alert is in the sink?
    let mut slowest_emit = Duration::ZERO;
    let mut heartbeat_latency = Duration::ZERO;
    std::thread::sleep(Duration::from_millis(500));
    let mut probes = 0;
    while child.try_wait().unwrap().is_none() {
        let t = Instant::now();
        let id = pipeline.heartbeat("bench", None, None).to_string();
        slowest_emit = slowest_emit.max(t.elapsed());
        if probes < 3 {
            while t.elapsed() < Duration::from_secs(10)
                && !std::fs::read_to_string(out)
                    .unwrap_or_default()
                    .contains(&id)
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            heartbeat_latency = heartbeat_latency.max(t.elapsed());
            probes += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    let line = String::from_utf8_lossy(&output.stdout).into_owned();
    let parts: Vec<&str> = line.split_whitespace().collect();
    let sent: u64 = parts.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let send_errors: u64 = parts.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let seconds: f64 = parts.get(3).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    // NFLOG batches for up to 50 ms; let the last samples arrive before closing the window.
    std::thread::sleep(Duration::from_millis(500));
    let c1 = counters(&lab.gw, table);
    monitor.reconcile(&c1);
    pipeline.wait_delivered(Duration::from_secs(60));
    let (cpu1, mon1) = (
        cpu_seconds(Path::new("/proc/self/stat")),
        thread_cpu("zg-nflog"),
    );
    let m1 = pipeline.metrics();
    let counted = c1.get(&code).map_or(0, |v| v.packets) - c0.get(&code).map_or(0, |v| v.packets);
    let text = std::fs::read_to_string(out).unwrap_or_default();
    let mut alerts: BTreeMap<String, u64> = BTreeMap::new();
    let mut alert_count = None;
    for l in text.lines().skip(lines_before) {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let t = v["type"].as_str().unwrap_or("?").to_string();
        if t == "denied-flow"
            && v["details"]["code"] == code
            && v["details"]["count_exact"] == true
            && v["details"]["phase"] != "first"
        {
            // The key summary (one key) or the pair-level total (many keys) with the counter.
            let is_pair = v["details"]["src"].is_null();
            if is_pair || ports == 1 {
                alert_count = Some(v["details"]["count"].as_u64().unwrap_or(0));
            }
        }
        *alerts.entry(t).or_default() += 1;
    }
    Run {
        name: name.to_string(),
        sent,
        send_errors,
        seconds,
        counted,
        alert_count,
        samples: m1.nflog_samples - m0.nflog_samples,
        lost: m1.nflog_lost - m0.nflog_lost,
        overruns: m1.nflog_overruns - m0.nflog_overruns,
        alerts,
        process_cpu: cpu1 - cpu0,
        monitor_cpu: mon1 - mon0,
        slowest_emit,
        heartbeat_latency,
        ruleset_unchanged: listing(&lab.gw, table) == before_listing,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--flood-sender") {
        sender(&args[i + 1..]);
        return;
    }
    if !lab::require_root("nflog_flood bench") {
        return;
    }
    let rate: u64 = std::env::var("ZGA_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let secs: u64 = std::env::var("ZGA_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let zones = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../zones.toml");
    let bytes = std::fs::read(&zones).unwrap();
    let checked = validate_bytes("zones.toml", &bytes, Date::parse("2026-11-25"));
    let policy = checked.policy.expect("zones.toml validates");
    let ruleset = compile(&policy, "gw1").unwrap();
    let metadata: Metadata = ruleset.metadata.clone();
    // The code of "new connection lgwan -> mynumber, no flow" (codes are numbered by the
    // compiler; look it up rather than assume).
    let code = metadata
        .log_codes
        .iter()
        .find(|(_, c)| {
            c.reason == Reason::NoFlow
                && c.meter_full.is_none()
                && c.hook == "forward"
                && c.from.as_deref() == Some("lgwan")
                && c.to.as_deref() == Some("mynumber")
        })
        .map(|(n, _)| *n)
        .expect("zones.toml denies lgwan -> mynumber by default");

    let lab = Lab::new("ens4", "ens3");
    run(
        &["ip", "netns", "exec", &lab.gw, "nft", "-f", "-"],
        Some(&ruleset.text),
    );
    let dir = std::env::temp_dir().join(format!("zga-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("alerts.jsonl");
    let config = AlertsConfig {
        sinks: vec![SinkConfig::File(FileConfig {
            path: out.clone(),
            max_bytes: 1 << 30,
            ..Default::default()
        })],
        ..Default::default()
    };
    let pipeline =
        AlertPipeline::start(&config, &dir, AlertContext::from_metadata(&metadata)).unwrap();
    let (p, m) = (pipeline.clone(), metadata.clone());
    let monitor = Lab::in_ns(&lab.gw, move || {
        DeniedFlowMonitor::start(&p, &m, &DeniedFlowConfig::default()).unwrap()
    });
    let mut runs = Vec::new();
    std::thread::sleep(Duration::from_millis(300));
    runs.push(flood(
        "compiled ruleset, one key (udp/1000)",
        code,
        &lab,
        "zonegate",
        &pipeline,
        &monitor,
        &out,
        rate,
        secs,
        1,
    ));
    runs.push(flood(
        "compiled ruleset, port scan (1,000 ports)",
        code,
        &lab,
        "zonegate",
        &pipeline,
        &monitor,
        &out,
        rate,
        secs,
        1000,
    ));
    // Worst case: every packet logged, no limit in the kernel.
    let log_all = format!(
        "delete table inet zonegate\ntable inet zgall {{
            counter c{code} {{ }}
            chain forward {{
                type filter hook forward priority filter; policy drop;
                iifname \"ens4\" oifname \"ens3\" counter name \"c{code}\" log prefix \"zg:{code} \" group {} snaplen 28 drop
            }}
        }}",
        metadata.nflog_group
    );
    run(
        &["ip", "netns", "exec", &lab.gw, "nft", "-f", "-"],
        Some(&log_all),
    );
    monitor.set_metadata(&metadata);
    runs.push(flood(
        "every packet logged (no limit), port scan",
        code,
        &lab,
        "zgall",
        &pipeline,
        &monitor,
        &out,
        rate,
        secs,
        1000,
    ));
    // The cost of emit itself, with the flood over: 10,000 in a row, each timed.
    let mut times: Vec<Duration> = (0..10_000)
        .map(|_| {
            let t = Instant::now();
            pipeline.heartbeat("bench", None, None);
            t.elapsed()
        })
        .collect();
    times.sort();
    let emit_median = times[times.len() / 2];
    let emit_p99 = times[times.len() * 99 / 100];
    let emit_max = times[times.len() - 1];
    monitor.stop();
    pipeline.shutdown(Duration::from_secs(5));
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "\nNFLOG flood: {rate} packets/s for {secs} s per run, {} cores\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| run | sent (rate) | kernel counter | count in alerts | NFLOG samples | lost | overruns | alerts | CPU process | CPU monitor thread | slowest emit | heartbeat to sink | ruleset unchanged |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &runs {
        let alerts: Vec<String> = r.alerts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        println!(
            "| {} | {} ({:.0}/s{}) | {} | {} | {} | {} | {} | {} | {:.1}% | {:.1}% | {:.2} ms | {:.1} ms | {} |",
            r.name,
            r.sent,
            r.sent as f64 / r.seconds.max(0.001),
            if r.send_errors > 0 { format!(", {} send errors", r.send_errors) } else { String::new() },
            r.counted,
            r.alert_count.map_or("-".into(), |c| c.to_string()),
            r.samples,
            r.lost,
            r.overruns,
            alerts.join(", "),
            100.0 * r.process_cpu / r.seconds.max(0.001),
            100.0 * r.monitor_cpu / r.seconds.max(0.001),
            r.slowest_emit.as_secs_f64() * 1000.0,
            r.heartbeat_latency.as_secs_f64() * 1000.0,
            if r.ruleset_unchanged { "yes" } else { "NO" },
        );
    }
    println!(
        "\nemit(): median {:.1} µs, p99 {:.1} µs, max {:.2} ms over 10,000 calls",
        emit_median.as_secs_f64() * 1e6,
        emit_p99.as_secs_f64() * 1e6,
        emit_max.as_secs_f64() * 1e3
    );
}
