//! A minimal Prometheus text endpoint (`metrics_address` in agent.toml): answers any HTTP GET
//! with the counters of [`Status`]. Plain TCP, no TLS: bind it to a management address only.

use crate::status::Status;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The exposition text.
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
        "zonegate_applies_total",
        "Rulesets loaded.",
        "counter",
        s.applies.to_string(),
    );
    metric(
        "zonegate_drift_total",
        "Tamper bursts detected.",
        "counter",
        s.drift_count.to_string(),
    );
    metric(
        "zonegate_restores_total",
        "Restores of the baseline.",
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
    o.push_str(&format!(
        "# HELP zonegate_ruleset_info The loaded ruleset.\n# TYPE zonegate_ruleset_info gauge\nzonegate_ruleset_info{{revision=\"{}\",sha256=\"{}\",mode=\"{}\"}} 1\n",
        s.revision.clone().unwrap_or_default().replace('"', ""),
        s.ruleset_sha256.clone().unwrap_or_default(),
        s.mode
    ));
    o
}

/// Serves until the runtime stops.
pub async fn serve(listener: TcpListener, status: Arc<Mutex<Status>>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let body = render(&status.lock().unwrap_or_else(PoisonError::into_inner));
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
        let text = render(&s);
        assert!(text.contains("zonegate_drift_total 3"));
        assert!(text.contains("revision=\"2026-11\""));
    }
}
