//! Integration tests of zonegate-alerts with real components on loopback only: a webhook
//! receiver (tiny_http) and syslog receivers (TCP with octet counting, TLS, UDP, a unix
//! socket; messages parsed by the independent `syslog_rfc5424` crate) started by the tests on
//! 127.0.0.1, a child process killed with SIGKILL, and, as root, real NFLOG from a network
//! namespace lab. One test binary for the crate (fewer links on our two cores).

mod crash;
mod delivery;
mod lab;
mod nflog_netns;
mod proxy;
mod receivers;
mod schema;
mod siem;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use zonegate_alerts::model::*;
use zonegate_alerts::AlertContext;

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "zga-it-{}-{}-{}",
            tag,
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `f` until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

pub fn context() -> AlertContext {
    AlertContext {
        gateway: "gw1".into(),
        policy: Some(PolicyRef {
            name: "saitama-fire-union".into(),
            revision: "2026-11".into(),
            sha256: None,
            signer: None,
        }),
        ruleset_sha256: Some("6abf74b6".repeat(8)),
    }
}

/// One alert of every kind, so a test that sends them all covers the whole schema.
pub fn one_of_each() -> Vec<AlertKind> {
    let flow = FlowSummary {
        id: "F-001".into(),
        from: "lg-terminals".into(),
        to: "mn-vdi".into(),
        from_zone: Some("lgwan".into()),
        to_zone: Some("mynumber".into()),
        ports: vec!["tcp/443".into()],
        expires: Some("2027-03-31".into()),
        purpose: Some("給与事務の画面転送".into()),
        sensitive: true,
        defined_at: "zones.toml:118".into(),
    };
    let fe = FlowEvent {
        phase: FlowPhase::First,
        reason: "no-flow".into(),
        code: 11,
        hook: "forward".into(),
        from_zone: Some("lgwan".into()),
        to_zone: Some("mynumber".into()),
        in_iface: Some("ens4".into()),
        out_iface: Some("ens3".into()),
        family: Some("ipv4".into()),
        src: Some("10.20.0.2".parse().unwrap()),
        dst: Some("10.10.0.5".parse().unwrap()),
        protocol: Some("udp".into()),
        src_port: Some(40000),
        dst_port: Some(53),
        icmp_type: None,
        icmp_code: None,
        sensitive: true,
        count: 1,
        count_exact: true,
        samples: 1,
        pair_count: None,
        keys: None,
        first_seen: "2026-04-01T10:00:00.000+09:00".into(),
        last_seen: "2026-04-01T10:00:00.000+09:00".into(),
        window_secs: 60,
    };
    vec![
        AlertKind::PolicyApplied(PolicyApplied {
            reason: "reload".into(),
            revision: "2026-11".into(),
            ruleset_sha256: "ab".repeat(32),
            policy_sha256: Some("cd".repeat(32)),
            previous_revision: Some("2026-10".into()),
            previous_ruleset_sha256: Some("ef".repeat(32)),
            flows: FlowDiff {
                added: vec![flow.clone()],
                removed: vec![],
                changed: vec![],
            },
            duration_ms: Some(120),
            conntrack_removed: Some(0),
            signer: Some(
                "SHA256:0lmavsQIipJjppHWAnLYQbwa4wFO7xUPixpm7Knvh3o ciso@city.example".into(),
            ),
        }),
        AlertKind::LockdownApplied(LockdownApplied {
            reason: "no valid policy".into(),
            management_paths: 1,
        }),
        AlertKind::DriftDetected(DriftDetected {
            summary: "rule inserted in chain forward".into(),
            diff: "  chain forward {\n+   ip saddr 10.30.0.0/24 accept\n".into(),
            changes: vec!["+ rule forward: ip saddr 10.30.0.0/24 accept".into()],
            writer: Some(Writer {
                pid: 4242,
                comm: "nft".into(),
            }),
            repaired: true,
            detected_by: Some("netlink-event".into()),
        }),
        AlertKind::DriftRestored(DriftRestored {
            restores: 1,
            burst_ms: 12,
            repaired: true,
            diff: None,
            conntrack_removed: Some(2),
        }),
        AlertKind::RestoresCapped(RestoresCapped {
            restores_last_minute: 30,
            cap: 30,
            last_summary: "table deleted".into(),
        }),
        AlertKind::BypassFound(BypassFound {
            kind: "fwd".into(),
            subject: "table netdev evil".into(),
            detail: "fwd to ens5".into(),
            why: "netdev fwd delivers before our hooks".into(),
        }),
        AlertKind::BypassCleared(BypassCleared {
            kind: "fwd".into(),
            subject: "table netdev evil".into(),
        }),
        AlertKind::DeniedFlow(fe.clone()),
        AlertKind::SensitiveFlowAccepted(FlowEvent {
            reason: "accepted-sensitive".into(),
            ..fe
        }),
        AlertKind::ScanSummary(ScanSummary {
            src: "10.30.0.66".parse().unwrap(),
            from_zone: Some("internet".into()),
            to_zones: vec!["lgwan".into()],
            distinct_destinations: 1,
            distinct_ports: 200,
            destinations: vec!["10.20.0.10".parse().unwrap()],
            ports: vec!["tcp/22".into()],
            samples: 200,
            packets: Some(200),
            distinct_exact: true,
            reasons: vec!["no-flow".into()],
            sensitive: false,
            first_seen: "2026-04-01T10:00:00.000+09:00".into(),
            last_seen: "2026-04-01T10:00:59.000+09:00".into(),
            window_secs: 60,
        }),
        AlertKind::FlowExpired(FlowExpired {
            flows: vec!["F-001".into()],
            on: "2027-03-31".into(),
        }),
        AlertKind::ApplyFailed(ApplyFailed {
            stage: "load".into(),
            error: "nft: Error: Could not process rule".into(),
            kept: "previous ruleset".into(),
        }),
        AlertKind::PolicyRejected(PolicyRejected {
            path: "/etc/zonegate/zones.toml".into(),
            diagnostics: vec!["zones.toml:12:7: error[E014]: unknown zone \"dmz\"".into()],
            kept: "2026-10".into(),
        }),
        AlertKind::MonitoringDegraded(MonitoringDegraded {
            what: "nflog".into(),
            detail: "group 100 held by another process".into(),
            lost: None,
            restored: false,
        }),
        AlertKind::QueueOverflow(QueueOverflow {
            dropped: 3,
            dropped_by_severity: [(Severity::Info, 3)].into_iter().collect(),
            oldest_dropped: None,
            queue_bytes: 1,
            cap_bytes: 2,
        }),
        AlertKind::Heartbeat(Heartbeat {
            mode: "enforce".into(),
            uptime_s: 60,
            interval_s: 60,
            drift_count: Some(0),
            queue_depth: 0,
            staged_change: None,
        }),
    ]
}
