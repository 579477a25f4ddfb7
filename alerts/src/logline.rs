//! One log line per alert, with the alert's facts as fields, so the local log (the systemd
//! journal under systemd: agent/src/cli.rs) tells the same story as the sinks and can be
//! filtered: `journalctl -u zonegate-agent -p warning` shows the medium-and-above alerts, and
//! `journalctl ALERT_ID=...` finds the one a SIEM ticket names. Levels: critical and high are
//! ERROR (journal priority 3), medium WARN (4), low INFO (5), info DEBUG (not logged by default:
//! heartbeats every minute would drown the rest).

use crate::model::{Alert, AlertKind, Severity};

/// The flow ids, zone pair and source an alert is about, when it is about them.
#[derive(Default)]
struct Subject {
    flow_id: Option<String>,
    from_zone: Option<String>,
    to_zone: Option<String>,
    src: Option<String>,
    dst: Option<String>,
}

fn subject(kind: &AlertKind) -> Subject {
    match kind {
        AlertKind::DeniedFlow(f) | AlertKind::SensitiveFlowAccepted(f) => Subject {
            from_zone: f.from_zone.clone(),
            to_zone: f.to_zone.clone(),
            src: f.src.map(|a| a.to_string()),
            dst: f.dst.map(|a| a.to_string()),
            ..Default::default()
        },
        AlertKind::ScanSummary(s) => Subject {
            from_zone: s.from_zone.clone(),
            to_zone: (!s.to_zones.is_empty()).then(|| s.to_zones.join(",")),
            src: Some(s.src.to_string()),
            ..Default::default()
        },
        AlertKind::FlowExpired(e) => Subject {
            flow_id: Some(e.flows.join(",")),
            ..Default::default()
        },
        AlertKind::PolicyApplied(p) => {
            let ids: Vec<&str> = p
                .flows
                .added
                .iter()
                .chain(&p.flows.removed)
                .map(|f| f.id.as_str())
                .chain(p.flows.changed.iter().map(|c| c.after.id.as_str()))
                .collect();
            Subject {
                flow_id: (!ids.is_empty()).then(|| ids.join(",")),
                ..Default::default()
            }
        }
        _ => Subject::default(),
    }
}

/// Logs `alert` at the level of its severity, target `zonegate::alert`.
pub(crate) fn log(alert: &Alert) {
    let s = subject(&alert.kind);
    macro_rules! line {
        ($level:expr) => {
            tracing::event!(
                target: "zonegate::alert",
                $level,
                alert_id = %alert.id,
                event_type = alert.kind.type_name(),
                severity = alert.severity.as_str(),
                flow_id = s.flow_id.as_deref(),
                from_zone = s.from_zone.as_deref(),
                to_zone = s.to_zone.as_deref(),
                src = s.src.as_deref(),
                dst = s.dst.as_deref(),
                gateway = alert.gateway.as_str(),
                "Alert {} ({}): {}",
                alert.kind.type_name(),
                alert.severity,
                alert.summary
            )
        };
    }
    match alert.severity {
        Severity::Critical | Severity::High => line!(tracing::Level::ERROR),
        Severity::Medium => line!(tracing::Level::WARN),
        Severity::Low => line!(tracing::Level::INFO),
        Severity::Info => line!(tracing::Level::DEBUG),
    }
}
