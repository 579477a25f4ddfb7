//! The agent's one typed event stream. Everything the security team must hear about (a policy
//! applied, drift found and repaired, a bypass, an expiry, a failure) is an [`EventKind`];
//! [`Events::emit`] stamps it with a unique id and a time and hands it to every [`EventSink`].
//! Sinks must not block: enforcement never waits for a collector. The sinks: [`TracingSink`]
//! (structured logs), [`StdoutJsonSink`] (`run --events-stdout`), and
//! [`crate::alerting::AlertSink`], which turns every event into an alert of the durable alert
//! pipeline (webhook, syslog, JSON-lines file; docs/alerts.md).

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use zonegate_policy::Metadata;

/// Severity as an operator reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    /// An operator must act (or a boundary may be open).
    Critical,
}

/// Why a ruleset was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApplyReason {
    Start,
    Reload,
    Expiry,
    Command,
    Rollback,
    Lockdown,
}

/// Flows added, removed or changed by an apply, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlowDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Same id, different endpoints, ports or mark (narrowed or widened).
    pub changed: Vec<String>,
}

impl FlowDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// What conntrack upkeep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConntrackReport {
    /// Entries examined.
    pub examined: u64,
    /// Mark names a flow that is no longer in the policy.
    pub revoked: u64,
    /// Mark names a live flow but the tuple is outside it (narrowed flow, forged mark).
    pub mismatched: u64,
    /// Created while our table was tampered with and not a legitimate flow's.
    pub tamper_window: u64,
    /// Set when upkeep could not run (the reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ConntrackReport {
    pub fn removed(&self) -> u64 {
        self.revoked + self.mismatched + self.tamper_window
    }
}

/// The compiled metadata before and after an apply: what the alert sinks need to describe the
/// flows that changed (endpoints, ports, zones, file:line) and to stamp later alerts with the
/// new policy. In-process only: not part of the JSON event.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedMetadata {
    pub previous: Option<Metadata>,
    pub current: Option<Metadata>,
}

/// Who committed a foreign change, from the NEWGEN message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Writer {
    pub pid: u32,
    pub comm: String,
}

/// One event, without its id and time.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    /// A ruleset is loaded and verified (read back equal to what was loaded).
    PolicyApplied {
        reason: ApplyReason,
        revision: String,
        ruleset_sha256: String,
        policy_sha256: String,
        flows: FlowDiff,
        conntrack: ConntrackReport,
        duration_ms: u64,
        /// The ruleset this one replaced (None: nothing of ours was loaded before).
        #[serde(skip_serializing_if = "Option::is_none")]
        previous_revision: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        previous_ruleset_sha256: Option<String>,
        /// The key that approved the policy (`SHA256:... comment`), when signatures are checked.
        #[serde(skip_serializing_if = "Option::is_none")]
        signer: Option<String>,
        /// For the alert sinks (not serialised).
        #[serde(skip)]
        metadata: Option<Box<AppliedMetadata>>,
    },
    /// The lockdown ruleset is loaded: no valid policy and no last-known-good.
    LockdownApplied {
        reason: String,
        management_paths: usize,
        ruleset_sha256: String,
    },
    /// Our table differs from the baseline. One per tamper burst.
    DriftDetected {
        summary: String,
        changes: Vec<String>,
        /// Readable diff: `-` as applied (the baseline), `+` as observed.
        diff: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        writer: Option<Writer>,
        /// true: the agent repairs it (enforce); false: report only.
        repairing: bool,
        /// netlink-event, netlink-overflow, periodic-compare or start.
        #[serde(skip_serializing_if = "Option::is_none")]
        detected_by: Option<String>,
    },
    /// A tamper burst is over and the table equals the baseline again.
    DriftRestored {
        restores: u64,
        burst_ms: u64,
        conntrack: ConntrackReport,
        /// Every distinct drift summary seen during the burst (at most 20).
        summaries: Vec<String>,
        /// The diff reported when the burst began.
        #[serde(skip_serializing_if = "Option::is_none")]
        diff: Option<String>,
    },
    /// Restores did not converge (or exceeded the cap): the agent stops restoring for a while.
    RestoresCapped {
        restores_last_minute: u32,
        cap: u32,
        last_summary: String,
    },
    /// Something outside our table can deliver traffic around it.
    BypassFound {
        kind: String,
        subject: String,
        detail: String,
        why: String,
    },
    /// A previously reported bypass is gone.
    BypassCleared { kind: String, subject: String },
    /// Flows passed their `expires` date and were removed from the ruleset.
    FlowExpired { flows: Vec<String>, on: String },
    /// A ruleset could not be loaded; the current one stays.
    ApplyFailed {
        stage: String,
        error: String,
        kept: String,
    },
    /// The policy file does not validate; the current ruleset stays.
    PolicyRejected {
        path: String,
        diagnostics: Vec<String>,
        kept: String,
    },
    /// The agent cannot see everything it should (events lost, clock earlier than the LKG...).
    MonitoringDegraded { what: String, detail: String },
    /// Periodic proof of life with the ruleset hash the SIEM compares with the approved one.
    Heartbeat {
        ruleset_sha256: String,
        /// SHA-256 of the canonical policy (empty in lockdown).
        policy_sha256: String,
        revision: String,
        mode: String,
        drift_count: u64,
        uptime_s: u64,
        /// A saved policy file not yet applied.
        staged: Option<crate::change_control::Staged>,
        /// The key that approved the policy in force, when signatures are checked.
        #[serde(skip_serializing_if = "Option::is_none")]
        signer: Option<String>,
    },
}

impl EventKind {
    /// Short kebab-case name (the serde tag).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::PolicyApplied { .. } => "policy-applied",
            EventKind::LockdownApplied { .. } => "lockdown-applied",
            EventKind::DriftDetected { .. } => "drift-detected",
            EventKind::DriftRestored { .. } => "drift-restored",
            EventKind::RestoresCapped { .. } => "restores-capped",
            EventKind::BypassFound { .. } => "bypass-found",
            EventKind::BypassCleared { .. } => "bypass-cleared",
            EventKind::FlowExpired { .. } => "flow-expired",
            EventKind::ApplyFailed { .. } => "apply-failed",
            EventKind::PolicyRejected { .. } => "policy-rejected",
            EventKind::MonitoringDegraded { .. } => "monitoring-degraded",
            EventKind::Heartbeat { .. } => "heartbeat",
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            EventKind::PolicyApplied { .. }
            | EventKind::DriftRestored { .. }
            | EventKind::BypassCleared { .. }
            | EventKind::FlowExpired { .. }
            | EventKind::Heartbeat { .. } => Severity::Info,
            EventKind::PolicyRejected { .. } | EventKind::MonitoringDegraded { .. } => {
                Severity::Warning
            }
            EventKind::LockdownApplied { .. }
            | EventKind::DriftDetected { .. }
            | EventKind::RestoresCapped { .. }
            | EventKind::BypassFound { .. }
            | EventKind::ApplyFailed { .. } => Severity::Critical,
        }
    }
}

/// An event as sinks see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Unique per agent run: `<boot id>-<sequence>`.
    pub id: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub gateway: String,
    pub severity: Severity,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Where events go. Implementations must return quickly (queue, never block on the network).
pub trait EventSink: Send + Sync {
    fn send(&self, event: &Event);
}

/// The event stream: ids, time stamps, fan-out to sinks.
pub struct Events {
    gateway: String,
    boot: String,
    seq: AtomicU64,
    sinks: Vec<Box<dyn EventSink>>,
}

impl Events {
    pub fn new(gateway: &str, sinks: Vec<Box<dyn EventSink>>) -> Events {
        let now = jiff::Timestamp::now();
        Events {
            gateway: gateway.to_string(),
            boot: format!("{:x}{:04x}", now.as_second(), std::process::id() & 0xffff),
            seq: AtomicU64::new(0),
            sinks,
        }
    }

    /// Stamps `kind` and sends it to every sink; returns the event.
    pub fn emit(&self, kind: EventKind) -> Event {
        let n = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let event = Event {
            id: format!("{}-{n}", self.boot),
            time: jiff::Timestamp::now().to_string(),
            gateway: self.gateway.clone(),
            severity: kind.severity(),
            kind,
        };
        for sink in &self.sinks {
            sink.send(&event);
        }
        event
    }
}

/// Logs every event with tracing: the kind's fields as one JSON field, a short message.
pub struct TracingSink;

impl EventSink for TracingSink {
    fn send(&self, event: &Event) {
        let fields = serde_json::to_string(&event.kind).unwrap_or_default();
        let name = event.kind.name();
        match event.severity {
            Severity::Info => {
                tracing::info!(id = %event.id, event = name, %fields, "{}", message(&event.kind))
            }
            Severity::Warning => {
                tracing::warn!(id = %event.id, event = name, %fields, "{}", message(&event.kind))
            }
            Severity::Critical => {
                tracing::error!(id = %event.id, event = name, %fields, "{}", message(&event.kind))
            }
        }
    }
}

/// Writes every event as one JSON line to standard output (`run --events-stdout`), which the
/// end-to-end tests read; the alerting work's JSON-lines file sink does the same into a file.
pub struct StdoutJsonSink;

impl EventSink for StdoutJsonSink {
    fn send(&self, event: &Event) {
        use std::io::Write;
        if let Ok(line) = serde_json::to_string(event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// Keeps every event in memory (tests, and the status socket's "last drift").
#[derive(Clone, Default)]
pub struct MemorySink {
    pub events: Arc<Mutex<Vec<Event>>>,
}

impl MemorySink {
    pub fn take(&self) -> Vec<Event> {
        match self.events.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }
}

impl EventSink for MemorySink {
    fn send(&self, event: &Event) {
        if let Ok(mut v) = self.events.lock() {
            v.push(event.clone());
        }
    }
}

/// The short capitalised message of a log line.
fn message(kind: &EventKind) -> String {
    match kind {
        EventKind::PolicyApplied { revision, .. } => format!("Applied policy revision {revision}."),
        EventKind::LockdownApplied { reason, .. } => format!("Loaded lockdown ruleset: {reason}."),
        EventKind::DriftDetected { summary, .. } => format!("Drift detected: {summary}."),
        EventKind::DriftRestored { restores, .. } => {
            format!("Drift repaired ({restores} restore(s)).")
        }
        EventKind::RestoresCapped { .. } => "Restores do not converge; capped.".into(),
        EventKind::BypassFound { kind, subject, .. } => format!("Bypass found: {kind} {subject}."),
        EventKind::BypassCleared { kind, subject } => format!("Bypass gone: {kind} {subject}."),
        EventKind::FlowExpired { flows, .. } => format!("Flows expired: {}.", flows.join(", ")),
        EventKind::ApplyFailed { stage, .. } => format!("Apply failed at {stage}."),
        EventKind::PolicyRejected { path, .. } => format!("Policy rejected: {path}."),
        EventKind::MonitoringDegraded { what, .. } => format!("Monitoring degraded: {what}."),
        EventKind::Heartbeat { .. } => "Heartbeat.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_events_reach_sinks() {
        let mem = MemorySink::default();
        let events = Events::new("gw1", vec![Box::new(mem.clone())]);
        let a = events.emit(EventKind::MonitoringDegraded {
            what: "x".into(),
            detail: "y".into(),
        });
        let b = events.emit(EventKind::FlowExpired {
            flows: vec!["F-1".into()],
            on: "2027-04-01".into(),
        });
        assert_ne!(a.id, b.id);
        let got = mem.take();
        assert_eq!(got.len(), 2);
        let json = serde_json::to_value(&got[1]).expect("json");
        assert_eq!(json["event"], "flow-expired");
        assert_eq!(json["gateway"], "gw1");
        assert_eq!(json["severity"], "info");
    }
}
