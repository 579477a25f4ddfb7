//! A minimal Prometheus text endpoint (`metrics_address` in agent.toml): answers any HTTP GET
//! with the agent's own counters ([`Status`]) followed by the alert pipeline's (alerts queued,
//! sent and failed per sink, queue depth, NFLOG samples and losses, denied packets per zone pair
//! and reason; docs/alerts.md). Plain TCP, no TLS: bind it to a management address only.

use crate::status::Status;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zonegate_alerts::AlertPipeline;

/// A label value with `\`, `"` and newlines escaped (exposition format).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The agent's own exposition text.
pub fn render(s: &Status) -> String {
    let mut o = String::new();
    let mut metric = |name: &str, help: &str, kind: &str, value: String| {
        o.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    };
    metric("zonegate_up", "The agent is running.", "gauge", "1".into());
    metric(
        "zonegate_uptime_seconds",
        "Seconds since the agent started.",
        "gauge",
        s.uptime_s.to_string(),
    );
    metric(
        "zonegate_drift_total",
        "Tamper bursts detected (drift-detected events).",
        "counter",
        s.drift_count.to_string(),
    );
    metric(
        "zonegate_repairs_total",
        "Tamper bursts repaired: the table equals the applied ruleset again (drift-restored events).",
        "counter",
        s.repairs.to_string(),
    );
    metric(
        "zonegate_restores_total",
        "Restores of the baseline (a tamper loop needs several per burst).",
        "counter",
        s.restores.to_string(),
    );
    metric(
        "zonegate_conntrack_removed_total",
        "Conntrack entries removed by upkeep.",
        "counter",
        s.conntrack_removed.to_string(),
    );
    metric(
        "zonegate_bypass_findings",
        "Current bypass findings.",
        "gauge",
        s.bypass_findings.len().to_string(),
    );
    metric(
        "zonegate_last_apply_duration_seconds",
        "Duration of the last successful apply (check, load, read-back, conntrack upkeep).",
        "gauge",
        secs(s.last_apply_ms),
    );
    metric(
        "zonegate_denied_windows_total",
        "Denied-flow windows closed with the ruleset's exact counters.",
        "counter",
        s.denied_windows.to_string(),
    );
    o.push_str(&format!(
        "# HELP zonegate_applies_total Rulesets loaded (ok) and applies or restores that failed.\n# TYPE zonegate_applies_total counter\nzonegate_applies_total{{result=\"ok\"}} {}\nzonegate_applies_total{{result=\"failed\"}} {}\n",
        s.applies, s.apply_failures
    ));
    o.push_str(&format!(
        "# HELP zonegate_apply_duration_seconds Time spent in successful applies.\n# TYPE zonegate_apply_duration_seconds summary\nzonegate_apply_duration_seconds_sum {}\nzonegate_apply_duration_seconds_count {}\n",
        secs(s.apply_ms_total),
        s.applies
    ));
    o.push_str(&format!(
        "# HELP zonegate_ruleset_info The loaded ruleset: policy revision and ruleset SHA-256 (compare with `zonegate matrix`).\n# TYPE zonegate_ruleset_info gauge\nzonegate_ruleset_info{{kind=\"{}\",revision=\"{}\",sha256=\"{}\",policy_sha256=\"{}\",mode=\"{}\"}} 1\n",
        label(&s.kind.clone().unwrap_or_default()),
        label(&s.revision.clone().unwrap_or_default()),
        label(&s.ruleset_sha256.clone().unwrap_or_default()),
        label(&s.policy_sha256.clone().unwrap_or_default()),
        label(&s.mode)
    ));
    o.push_str(&format!(
        "# HELP zonegate_policy_staged 1 while the policy file differs from the applied policy (a saved change not yet applied).\n# TYPE zonegate_policy_staged gauge\nzonegate_policy_staged {}\n",
        u8::from(s.staged_change.is_some())
    ));
    fleet_metrics(&mut o, s);
    if let Some(st) = &s.staged_change {
        o.push_str(&format!(
            "# HELP zonegate_policy_staged_since_seconds When the staged change was first seen (seconds since the Unix epoch).\n# TYPE zonegate_policy_staged_since_seconds gauge\nzonegate_policy_staged_since_seconds {}\n",
            st.since_unix
        ));
    }
    o
}

/// The gateway's identity for fleet views (`zonegate fleet`, packaging/grafana): one
/// `zonegate_gateway_info` series whose labels say which policy and ruleset run here (joined to
/// the other series by `instance`), and the time of the last apply.
fn fleet_metrics(o: &mut String, s: &Status) {
    let v = |x: &Option<String>| label(x.as_deref().unwrap_or_default());
    o.push_str(&format!(
        "# HELP zonegate_gateway_info The gateway and what runs on it: policy name and revision, policy and ruleset SHA-256, the approving key (empty without signatures), mode and kind.\n# TYPE zonegate_gateway_info gauge\nzonegate_gateway_info{{gateway=\"{}\",policy=\"{}\",revision=\"{}\",policy_sha256=\"{}\",ruleset_sha256=\"{}\",signer=\"{}\",mode=\"{}\",kind=\"{}\"}} 1\n",
        label(&s.gateway),
        v(&s.policy_name),
        v(&s.revision),
        v(&s.policy_sha256),
        v(&s.ruleset_sha256),
        v(&s.signer),
        label(&s.mode),
        v(&s.kind),
    ));
    if let Some(at) = s
        .last_apply
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    {
        o.push_str(&format!(
            "# HELP zonegate_last_apply_timestamp_seconds When the running ruleset was last applied (seconds since the Unix epoch).\n# TYPE zonegate_last_apply_timestamp_seconds gauge\nzonegate_last_apply_timestamp_seconds {}\n",
            at.as_second()
        ));
    }
}

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// The whole exposition: the agent's metrics, then the alert pipeline's when there is one.
pub fn render_all(s: &Status, alerts: Option<&AlertPipeline>) -> String {
    let mut text = render(s);
    if let Some(p) = alerts {
        text.push_str(&p.render_metrics());
    }
    text
}

/// Serves until the runtime stops.
pub async fn serve(
    listener: TcpListener,
    status: Arc<Mutex<Status>>,
    alerts: Option<AlertPipeline>,
) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let snapshot = status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let body = render_all(&snapshot, alerts.as_ref());
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(2), sock.read(&mut buf)).await;
            let resp = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let s = Status {
            drift_count: 3,
            revision: Some("2026-11".into()),
            ..Status::default()
        };
        let applied = Status {
            gateway: "gw1".into(),
            policy_name: Some("city".into()),
            last_apply: Some("2026-12-01T00:00:00Z".into()),
            signer: Some("SHA256:abc ciso@city.example".into()),
            ..s.clone()
        };
        let t = render(&applied);
        assert!(
            t.contains("zonegate_last_apply_timestamp_seconds 1796083200\n"),
            "{t}"
        );
        assert!(t.contains("gateway=\"gw1\",policy=\"city\""), "{t}");
        assert!(t.contains("signer=\"SHA256:abc ciso@city.example\""), "{t}");
        let text = render(&s);
        assert!(text.contains("zonegate_drift_total 3"));
        assert!(text.contains("revision=\"2026-11\""));
        assert!(text.contains("zonegate_applies_total{result=\"failed\"} 0"));
        assert!(
            text.contains("zonegate_gateway_info{gateway=\"\",policy=\"\",revision=\"2026-11\"")
        );
        assert!(!text.contains("zonegate_last_apply_timestamp_seconds"));
        // Every sample line parses as `name{labels} value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or_default();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
