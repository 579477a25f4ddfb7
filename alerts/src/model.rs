//! The alert model: one versioned JSON document per event, the same bytes at every sink. An
//! [`Alert`] is the envelope (schema version, id, severity, time, gateway, policy, ruleset hash,
//! a one-line summary) around an [`AlertKind`], whose serde tag is the `type` and whose content is
//! the `details`. docs/alerts.md is the schema's reference; a test renders every kind so a change
//! of shape shows up in review. Nothing here does I/O.

use crate::id::EventId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use zonegate_policy::metadata::FlowMeta;
use zonegate_policy::Metadata;

/// The schema's name, constant across versions: receivers route on it.
pub const SCHEMA_NAME: &str = "zonegate-alert";
/// Bumped on any change a receiver could notice other than a new optional field or a new `type`.
pub const SCHEMA_VERSION: u32 = 1;

/// Longest readable diff carried by a drift alert. A flush of a 10,000-element ruleset would
/// otherwise make one alert megabytes long, which webhooks and syslog collectors reject.
pub const MAX_DIFF_BYTES: usize = 32 * 1024;
/// Longest list (changes, diagnostics, flows) carried in one alert.
pub const MAX_LIST_ITEMS: usize = 200;

/// How urgently the security team should look. Ordered: `Info < Low < ... < Critical`; the
/// queue drops the lowest first when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Proof of life and routine changes (heartbeat).
    Info,
    /// Worth a look at the next review (a flow expired, a denied flow outside sensitive zones).
    Low,
    /// A change of the enforced policy, spoofed sources, scans outside sensitive zones.
    Medium,
    /// Drift that was repaired, bypasses, anything touching a My Number (sensitive) zone.
    High,
    /// A boundary may be open right now: unrepaired drift, failed apply, lockdown.
    Critical,
}

impl Severity {
    /// All severities, lowest first (the queue's drop order).
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// RFC 5424 severity (section 6.2.1): critical 2, error 3, warning 4, notice 5, info 6.
    pub fn syslog(self) -> u8 {
        match self {
            Severity::Critical => 2,
            Severity::High => 3,
            Severity::Medium => 4,
            Severity::Low => 5,
            Severity::Info => 6,
        }
    }

    /// The one-byte code stored in queue records.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_code(code: u8) -> Option<Severity> {
        Severity::ALL.get(usize::from(code)).copied()
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which policy an alert was raised under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    /// `[policy] name` of zones.toml.
    pub name: String,
    /// `[policy] revision`.
    pub revision: String,
    /// SHA-256 of the canonical policy: what `zonegate matrix` prints as the policy's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The key that approved the policy (`SHA256:... comment`), when the agent checks
    /// signatures (agent.toml `trusted_keys`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// The envelope fields that come from the agent's state rather than from the event: set with
/// [`crate::AlertPipeline::set_context`] whenever a ruleset is applied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertContext {
    /// Gateway name (`[gateways.NAME]`).
    pub gateway: String,
    /// The policy in force; None before the first apply (lockdown, no last-known-good).
    pub policy: Option<PolicyRef>,
    /// SHA-256 of the ruleset in force (what `matrix` prints and the SIEM compares).
    pub ruleset_sha256: Option<String>,
}

impl AlertContext {
    /// The context of a compiled ruleset.
    pub fn from_metadata(metadata: &Metadata) -> AlertContext {
        AlertContext {
            gateway: metadata.gateway.clone(),
            policy: Some(PolicyRef {
                name: metadata.policy.clone(),
                revision: metadata.revision.clone(),
                sha256: Some(metadata.policy_sha256.clone()),
                signer: metadata.signer.clone(),
            }),
            ruleset_sha256: Some(metadata.ruleset_sha256.clone()),
        }
    }
}

/// One alert as every sink receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Always [`SCHEMA_NAME`].
    pub schema: String,
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Unique per event (UUID version 7 layout); a receiver deduplicates on it, since delivery is
    /// at least once.
    pub id: EventId,
    pub severity: Severity,
    /// When the event happened, RFC 3339 with the offset of the gateway's time zone.
    pub time: String,
    pub gateway: String,
    /// The host name of the machine (may differ from the gateway name).
    pub host: String,
    pub policy: Option<PolicyRef>,
    pub ruleset_sha256: Option<String>,
    /// One human-readable line (chat messages, syslog viewers).
    pub summary: String,
    /// The same line in Japanese, when agent.toml has `[alerts] summary_lang = "ja"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_ja: Option<String>,
    /// The agent's version.
    pub agent_version: String,
    /// `type` and `details`.
    #[serde(flatten)]
    pub kind: AlertKind,
}

/// What happened. The serde tag is the alert's `type`; the content is its `details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "details", rename_all = "kebab-case")]
pub enum AlertKind {
    /// A ruleset was loaded and verified, with the flows it added, removed or changed.
    PolicyApplied(PolicyApplied),
    /// The lockdown ruleset was loaded (no valid policy and no last-known-good).
    LockdownApplied(LockdownApplied),
    /// Our table differs from what was applied. One per tamper burst.
    DriftDetected(DriftDetected),
    /// A tamper burst is over and the table equals the applied ruleset again.
    DriftRestored(DriftRestored),
    /// Restores did not converge; the agent stopped restoring for a while.
    RestoresCapped(RestoresCapped),
    /// Something outside our table can deliver traffic around it.
    BypassFound(BypassFound),
    /// A previously reported bypass is gone.
    BypassCleared(BypassCleared),
    /// Packets the policy does not permit tried to cross a boundary (aggregated, counted).
    DeniedFlow(FlowEvent),
    /// A permitted new connection into a sensitive (My Number) zone, which is logged by policy.
    SensitiveFlowAccepted(FlowEvent),
    /// One source tried many destinations or ports within one window.
    ScanSummary(ScanSummary),
    /// Flows passed their `expires` date and were removed from the ruleset.
    FlowExpired(FlowExpired),
    /// A ruleset could not be loaded; the current one stays.
    ApplyFailed(ApplyFailed),
    /// The policy file does not validate; the current ruleset stays.
    PolicyRejected(PolicyRejected),
    /// The agent cannot see everything it should (NFLOG group taken, events lost).
    MonitoringDegraded(MonitoringDegraded),
    /// The alert queue hit its size cap and dropped alerts (oldest low-severity first).
    QueueOverflow(QueueOverflow),
    /// Periodic proof of life; the envelope carries the ruleset hash.
    Heartbeat(Heartbeat),
}

/// Details of `policy-applied`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PolicyApplied {
    /// start, reload, expiry, command, rollback.
    pub reason: String,
    pub revision: String,
    pub ruleset_sha256: String,
    /// SHA-256 of the canonical policy (`matrix` prints it for auditors).
    pub policy_sha256: Option<String>,
    pub previous_revision: Option<String>,
    pub previous_ruleset_sha256: Option<String>,
    pub flows: FlowDiff,
    pub duration_ms: Option<u64>,
    /// Conntrack entries removed by the upkeep after the apply.
    pub conntrack_removed: Option<u64>,
    /// The key that approved the policy, when the agent checks signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// Flows added, removed or changed between two compiled rulesets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FlowDiff {
    pub added: Vec<FlowSummary>,
    pub removed: Vec<FlowSummary>,
    /// Same id, different endpoints, ports, expiry or mark.
    pub changed: Vec<FlowChange>,
}

/// One flow as the security team reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSummary {
    pub id: String,
    /// Zone, host or group name, or "gateway".
    pub from: String,
    pub to: String,
    pub from_zone: Option<String>,
    pub to_zone: Option<String>,
    pub ports: Vec<String>,
    pub expires: Option<String>,
    pub purpose: Option<String>,
    /// Touches a sensitive (My Number, mynumber-like or critical) zone.
    pub sensitive: bool,
    /// file:line in zones.toml.
    pub defined_at: String,
}

/// A flow whose definition changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowChange {
    pub before: FlowSummary,
    pub after: FlowSummary,
}

impl FlowDiff {
    /// The flows that differ between `old` (None: nothing was applied before) and `new`.
    pub fn between(old: Option<&Metadata>, new: &Metadata) -> FlowDiff {
        let summary = |m: &Metadata, id: &str, f: &FlowMeta| FlowSummary {
            id: id.to_string(),
            from: f.from.clone(),
            to: f.to.clone(),
            from_zone: f.from_zone.clone(),
            to_zone: f.to_zone.clone(),
            ports: f.ports.clone(),
            expires: f.expires.clone(),
            purpose: f.purpose.clone(),
            sensitive: [&f.from_zone, &f.to_zone]
                .into_iter()
                .flatten()
                .any(|z| m.sensitive_zones.contains(z)),
            defined_at: f.defined_at.clone(),
        };
        let mut diff = FlowDiff::default();
        let empty = BTreeMap::new();
        let old_flows = old.map_or(&empty, |m| &m.flows);
        for (id, f) in &new.flows {
            match old_flows.get(id) {
                None => diff.added.push(summary(new, id, f)),
                Some(before) if before != f => {
                    let old = old.unwrap_or(new);
                    diff.changed.push(FlowChange {
                        before: summary(old, id, before),
                        after: summary(new, id, f),
                    });
                }
                Some(_) => {}
            }
        }
        if let Some(old) = old {
            for (id, f) in &old.flows {
                if !new.flows.contains_key(id) {
                    diff.removed.push(summary(old, id, f));
                }
            }
        }
        diff
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// Whether an added or changed flow now reaches a sensitive zone.
    pub fn opens_sensitive(&self) -> bool {
        self.added.iter().any(|f| f.sensitive) || self.changed.iter().any(|c| c.after.sensitive)
    }
}

/// Details of `lockdown-applied`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockdownApplied {
    pub reason: String,
    /// Management paths that stay open.
    pub management_paths: u32,
}

/// Who committed a foreign change (from the nftables NEWGEN message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Writer {
    pub pid: u32,
    pub comm: String,
}

/// Details of `drift-detected`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DriftDetected {
    /// One line: what kind of change.
    pub summary: String,
    /// Readable diff of the applied and the observed table (`-` applied, `+` observed),
    /// truncated at [`MAX_DIFF_BYTES`].
    pub diff: String,
    /// The changes one per line (chains, rules, elements), at most [`MAX_LIST_ITEMS`].
    pub changes: Vec<String>,
    pub writer: Option<Writer>,
    /// true: the agent repairs it (enforce mode); false: it is only reported (monitor mode or
    /// restores capped), so the boundary may be open.
    pub repaired: bool,
    /// netlink-event or periodic-compare.
    pub detected_by: Option<String>,
}

/// Details of `drift-restored`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DriftRestored {
    /// Restores it took (a tamper loop needs several).
    pub restores: u64,
    /// From the first foreign change to the last restore.
    pub burst_ms: u64,
    /// Always true: the table equals the applied ruleset again.
    pub repaired: bool,
    /// The diff that was undone, if the agent keeps it.
    pub diff: Option<String>,
    pub conntrack_removed: Option<u64>,
}

/// Details of `restores-capped`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoresCapped {
    pub restores_last_minute: u32,
    pub cap: u32,
    pub last_summary: String,
}

/// Details of `bypass-found`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BypassFound {
    /// fwd, dup, queue, redirect, notrack, helper, ct-mark, bridge, tc, xdp, iptables, sysctl.
    pub kind: String,
    /// Where: a table/chain, an interface, a sysctl.
    pub subject: String,
    pub detail: String,
    /// Why it lets traffic around zonegate.
    pub why: String,
}

/// Details of `bypass-cleared`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BypassCleared {
    pub kind: String,
    pub subject: String,
}

/// Which alert of an aggregation key this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowPhase {
    /// The first packet of a key seen in this window: sent at once.
    First,
    /// The window closed: how many packets the key (or its zone pair) sent in it.
    Summary,
    /// Keys that got no alert of their own (rate cap, full key table), folded per zone pair.
    Rollup,
}

/// Details of `denied-flow` and `sensitive-flow-accepted`. Only header fields: never payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowEvent {
    pub phase: FlowPhase,
    /// no-flow, spoofed, revoked, pre-existing, unknown-interface, untracked, invalid,
    /// icmp-error-refused, neighbour-discovery, gateway-error, accepted-sensitive.
    pub reason: String,
    /// The log code ("zg:N" prefix, counter cN).
    pub code: u32,
    /// prerouting, forward, input or output.
    pub hook: String,
    pub from_zone: Option<String>,
    pub to_zone: Option<String>,
    pub in_iface: Option<String>,
    pub out_iface: Option<String>,
    /// ipv4 or ipv6; None for a summary without a sample.
    pub family: Option<String>,
    /// None in a summary of packets that no NFLOG sample described.
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    /// tcp, udp, icmp, icmpv6, sctp, udplite, or the protocol number.
    pub protocol: Option<String>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// Touches a sensitive zone: high severity, own alert budget.
    pub sensitive: bool,
    /// Packets this alert stands for (the first alert: 1).
    pub count: u64,
    /// true when `count` comes from the kernel counter (exact), false when it is the number of
    /// NFLOG samples (a lower bound: the ruleset rate-limits logging, counters count all).
    pub count_exact: bool,
    /// NFLOG samples of this key in the window.
    pub samples: u64,
    /// Exact packets denied for this log code (zone pair and reason) in the window, from the
    /// counters, when the agent reconciled them.
    pub pair_count: Option<u64>,
    /// Distinct keys folded into a rollup (or a pair summary without a single key).
    pub keys: Option<u64>,
    pub first_seen: String,
    pub last_seen: String,
    pub window_secs: u64,
}

/// Details of `scan-summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanSummary {
    pub src: IpAddr,
    pub from_zone: Option<String>,
    pub to_zones: Vec<String>,
    pub distinct_destinations: u64,
    pub distinct_ports: u64,
    /// Up to 16 destinations, in order of first sight.
    pub destinations: Vec<IpAddr>,
    /// Up to 16 "proto/port" strings, in order of first sight.
    pub ports: Vec<String>,
    /// NFLOG samples from the source in the window.
    pub samples: u64,
    /// Exact denied packets from the source in the window (per-key tables); None when the
    /// window closed without them.
    #[serde(default)]
    pub packets: Option<u64>,
    /// true when the distinct counts come from the per-key tables (every destination and port
    /// tried, not only the sampled ones).
    #[serde(default)]
    pub distinct_exact: bool,
    pub reasons: Vec<String>,
    pub sensitive: bool,
    pub first_seen: String,
    pub last_seen: String,
    pub window_secs: u64,
}

/// Details of `flow-expired`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowExpired {
    pub flows: Vec<String>,
    /// The day (policy time zone) they expired after.
    pub on: String,
}

/// Details of `apply-failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyFailed {
    /// check, load, verify.
    pub stage: String,
    pub error: String,
    /// What stays in force: "previous ruleset", "last-known-good", "lockdown".
    pub kept: String,
}

/// Details of `policy-rejected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRejected {
    pub path: String,
    /// `zones.toml:12:7: error[E014]: ...` lines, at most [`MAX_LIST_ITEMS`].
    pub diagnostics: Vec<String>,
    pub kept: String,
}

/// Details of `monitoring-degraded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitoringDegraded {
    /// nflog, nftables-events, counters, clock, sink:NAME, log-meter:NAME (a per-source log
    /// meter set of the ruleset is full).
    pub what: String,
    pub detail: String,
    /// Events known to be lost, when countable.
    pub lost: Option<u64>,
    /// true: the component works again (sent once after a degraded one).
    pub restored: bool,
}

/// Details of `queue-overflow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueOverflow {
    /// Alerts dropped since the last queue-overflow alert.
    pub dropped: u64,
    pub dropped_by_severity: BTreeMap<Severity, u64>,
    /// Time of the oldest dropped alert.
    pub oldest_dropped: Option<String>,
    pub queue_bytes: u64,
    pub cap_bytes: u64,
}

/// Details of `heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// enforce, monitor, dry-run, lockdown.
    pub mode: String,
    pub uptime_s: u64,
    /// Seconds until the next heartbeat: a SIEM alarms after missing two.
    pub interval_s: u64,
    pub drift_count: Option<u64>,
    /// Alerts not yet delivered to the slowest sink.
    pub queue_depth: u64,
    /// The policy file on the gateway differs from the applied policy: a change is staged and
    /// not yet applied (None when the file is what runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_change: Option<StagedChange>,
}

/// A saved policy file that has not been applied yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedChange {
    /// SHA-256 of the file's bytes (empty when the file cannot be read).
    pub file_sha256: String,
    /// When the file was first seen to differ from the applied policy (RFC 3339).
    pub since: String,
}

impl AlertKind {
    /// The `type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            AlertKind::PolicyApplied(_) => "policy-applied",
            AlertKind::LockdownApplied(_) => "lockdown-applied",
            AlertKind::DriftDetected(_) => "drift-detected",
            AlertKind::DriftRestored(_) => "drift-restored",
            AlertKind::RestoresCapped(_) => "restores-capped",
            AlertKind::BypassFound(_) => "bypass-found",
            AlertKind::BypassCleared(_) => "bypass-cleared",
            AlertKind::DeniedFlow(_) => "denied-flow",
            AlertKind::SensitiveFlowAccepted(_) => "sensitive-flow-accepted",
            AlertKind::ScanSummary(_) => "scan-summary",
            AlertKind::FlowExpired(_) => "flow-expired",
            AlertKind::ApplyFailed(_) => "apply-failed",
            AlertKind::PolicyRejected(_) => "policy-rejected",
            AlertKind::MonitoringDegraded(_) => "monitoring-degraded",
            AlertKind::QueueOverflow(_) => "queue-overflow",
            AlertKind::Heartbeat(_) => "heartbeat",
        }
    }

    /// The severity this kind of event gets (docs/alerts.md has the table).
    pub fn severity(&self) -> Severity {
        match self {
            AlertKind::PolicyApplied(p) if p.flows.opens_sensitive() => Severity::High,
            AlertKind::PolicyApplied(p) if p.flows.is_empty() => Severity::Info,
            AlertKind::PolicyApplied(_) => Severity::Medium,
            AlertKind::LockdownApplied(_) => Severity::Critical,
            AlertKind::DriftDetected(d) if d.repaired => Severity::High,
            AlertKind::DriftDetected(_) => Severity::Critical,
            AlertKind::DriftRestored(_) => Severity::Medium,
            AlertKind::RestoresCapped(_) => Severity::Critical,
            AlertKind::BypassFound(_) => Severity::High,
            AlertKind::BypassCleared(_) => Severity::Low,
            // Link-local noise, never a sign of tampering, in any zone.
            AlertKind::DeniedFlow(f) if f.reason == "neighbour-discovery" => Severity::Info,
            AlertKind::DeniedFlow(f) if f.sensitive => Severity::High,
            AlertKind::DeniedFlow(f) if f.reason == "spoofed" => Severity::Medium,
            // An ICMP error that is not the peer's: a covert channel attempt across a boundary.
            AlertKind::DeniedFlow(f) if f.reason == "icmp-error-refused" => Severity::Medium,
            // no-flow, invalid, gateway-error and the rest outside sensitive zones.
            AlertKind::DeniedFlow(_) => Severity::Low,
            AlertKind::SensitiveFlowAccepted(_) => Severity::Medium,
            // A host soliciting many neighbours through a forwarding path is noise, not a scan.
            AlertKind::ScanSummary(s)
                if !s.reasons.is_empty()
                    && s.reasons.iter().all(|r| r == "neighbour-discovery") =>
            {
                Severity::Info
            }
            AlertKind::ScanSummary(s) if s.sensitive => Severity::High,
            AlertKind::ScanSummary(_) => Severity::Medium,
            AlertKind::FlowExpired(_) => Severity::Low,
            AlertKind::ApplyFailed(_) => Severity::Critical,
            AlertKind::PolicyRejected(_) => Severity::High,
            AlertKind::MonitoringDegraded(m) if m.restored => Severity::Low,
            AlertKind::MonitoringDegraded(_) => Severity::High,
            AlertKind::QueueOverflow(_) => Severity::High,
            AlertKind::Heartbeat(_) => Severity::Info,
        }
    }

    /// One readable line for chat messages and syslog viewers.
    pub fn summary(&self) -> String {
        match self {
            AlertKind::PolicyApplied(p) => format!(
                "Policy revision {} applied ({}): {} flows added, {} removed, {} changed{}",
                p.revision,
                p.reason,
                p.flows.added.len(),
                p.flows.removed.len(),
                p.flows.changed.len(),
                if p.flows.opens_sensitive() {
                    "; opens a path into a sensitive zone"
                } else {
                    ""
                }
            ),
            AlertKind::LockdownApplied(l) => format!("Lockdown applied: {}", l.reason),
            AlertKind::DriftDetected(d) => format!(
                "Drift of the zonegate table{}: {} ({})",
                d.writer
                    .as_ref()
                    .map(|w| format!(" by {}[{}]", w.comm, w.pid))
                    .unwrap_or_default(),
                d.summary,
                if d.repaired {
                    "repaired"
                } else {
                    "NOT repaired"
                }
            ),
            AlertKind::DriftRestored(d) => format!(
                "Table restored after {} restores in {} ms",
                d.restores, d.burst_ms
            ),
            AlertKind::RestoresCapped(r) => format!(
                "Restores capped ({} in the last minute, cap {}): {}",
                r.restores_last_minute, r.cap, r.last_summary
            ),
            AlertKind::BypassFound(b) => format!("Bypass found ({}): {}", b.kind, b.subject),
            AlertKind::BypassCleared(b) => format!("Bypass cleared ({}): {}", b.kind, b.subject),
            AlertKind::DeniedFlow(f) => format!("Denied {}", flow_line(f)),
            AlertKind::SensitiveFlowAccepted(f) => {
                format!("Accepted into sensitive zone {}", flow_line(f))
            }
            AlertKind::ScanSummary(s) => format!(
                "Scan from {} ({}): {} destinations, {} ports, {} samples in {} s",
                s.src,
                s.from_zone.as_deref().unwrap_or("?"),
                s.distinct_destinations,
                s.distinct_ports,
                s.samples,
                s.window_secs
            ),
            AlertKind::FlowExpired(e) => {
                format!("Flows expired on {}: {}", e.on, e.flows.join(", "))
            }
            AlertKind::ApplyFailed(a) => {
                format!("Apply failed at {}: {} (kept {})", a.stage, a.error, a.kept)
            }
            AlertKind::PolicyRejected(p) => format!(
                "Policy {} rejected with {} diagnostics (kept {})",
                p.path,
                p.diagnostics.len(),
                p.kept
            ),
            AlertKind::MonitoringDegraded(m) if m.restored => {
                format!("Monitoring restored: {}", m.what)
            }
            AlertKind::MonitoringDegraded(m) => {
                format!("Monitoring degraded: {}: {}", m.what, m.detail)
            }
            AlertKind::QueueOverflow(q) => format!(
                "Alert queue full ({} of {} bytes): {} alerts dropped",
                q.queue_bytes, q.cap_bytes, q.dropped
            ),
            AlertKind::Heartbeat(h) => format!(
                "Heartbeat: mode {}, up {} s, {} alerts queued",
                h.mode, h.uptime_s, h.queue_depth
            ),
        }
    }

    /// Cuts fields that could make one alert too long for a collector (see [`MAX_DIFF_BYTES`]),
    /// marking each cut so nobody mistakes a shortened diff for the whole.
    pub fn bound(&mut self) {
        match self {
            AlertKind::DriftDetected(d) => {
                truncate_text(&mut d.diff, MAX_DIFF_BYTES);
                truncate_list(&mut d.changes);
            }
            AlertKind::DriftRestored(d) => {
                if let Some(diff) = d.diff.as_mut() {
                    truncate_text(diff, MAX_DIFF_BYTES);
                }
            }
            AlertKind::PolicyRejected(p) => truncate_list(&mut p.diagnostics),
            AlertKind::FlowExpired(e) => truncate_list(&mut e.flows),
            AlertKind::PolicyApplied(p) => {
                p.flows.added.truncate(MAX_LIST_ITEMS);
                p.flows.removed.truncate(MAX_LIST_ITEMS);
                p.flows.changed.truncate(MAX_LIST_ITEMS);
            }
            AlertKind::ApplyFailed(a) => truncate_text(&mut a.error, MAX_DIFF_BYTES),
            _ => {}
        }
    }
}

fn flow_line(f: &FlowEvent) -> String {
    let endpoint = |addr: Option<IpAddr>, port: Option<u16>| match (addr, port) {
        (Some(IpAddr::V6(a)), Some(p)) => format!("[{a}]:{p}"),
        (Some(a), Some(p)) => format!("{a}:{p}"),
        (Some(a), None) => a.to_string(),
        (None, _) => "*".to_string(),
    };
    let what = match f.phase {
        FlowPhase::First => "first attempt".to_string(),
        FlowPhase::Summary => format!(
            "{} packets in {} s{}",
            f.count,
            f.window_secs,
            if f.count_exact { "" } else { " (sampled)" }
        ),
        FlowPhase::Rollup => format!(
            "{} packets of {} keys in {} s (rolled up)",
            f.count,
            f.keys.unwrap_or(0),
            f.window_secs
        ),
    };
    format!(
        "{} -> {} {} {} -> {} ({}): {}",
        f.from_zone.as_deref().unwrap_or("?"),
        f.to_zone.as_deref().unwrap_or("?"),
        f.protocol.as_deref().unwrap_or("ip"),
        endpoint(f.src, f.src_port),
        endpoint(f.dst, f.dst_port),
        f.reason,
        what
    )
}

fn truncate_text(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let total = text.len();
    text.truncate(cut);
    text.push_str(&format!("\n... [truncated: {total} bytes in all]"));
}

fn truncate_list(items: &mut Vec<String>) {
    if items.len() > MAX_LIST_ITEMS {
        let total = items.len();
        items.truncate(MAX_LIST_ITEMS);
        items.push(format!("... [truncated: {total} items in all]"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_codes_round_trip_and_order() {
        for s in Severity::ALL {
            assert_eq!(Severity::from_code(s.code()), Some(s));
        }
        assert!(Severity::Info < Severity::Critical);
        assert_eq!(Severity::from_code(9), None);
    }

    fn denied(reason: &str, sensitive: bool) -> AlertKind {
        AlertKind::DeniedFlow(FlowEvent {
            phase: FlowPhase::First,
            reason: reason.into(),
            code: 1,
            hook: "forward".into(),
            from_zone: Some("lgwan".into()),
            to_zone: Some("internet".into()),
            in_iface: None,
            out_iface: None,
            family: None,
            src: None,
            dst: None,
            protocol: None,
            src_port: None,
            dst_port: None,
            icmp_type: None,
            icmp_code: None,
            sensitive,
            count: 1,
            count_exact: true,
            samples: 1,
            pair_count: None,
            keys: None,
            first_seen: String::new(),
            last_seen: String::new(),
            window_secs: 60,
        })
    }

    #[test]
    fn denied_flow_severity_by_reason_and_sensitivity() {
        use Severity::*;
        for (reason, outside, sensitive) in [
            ("no-flow", Low, High),
            ("spoofed", Medium, High),
            ("invalid", Low, High),
            ("icmp-error-refused", Medium, High),
            ("gateway-error", Low, High),
            ("neighbour-discovery", Info, Info),
            ("untracked", Low, High),
        ] {
            assert_eq!(denied(reason, false).severity(), outside, "{reason}");
            assert_eq!(
                denied(reason, true).severity(),
                sensitive,
                "{reason} (sensitive)"
            );
        }
    }

    #[test]
    fn a_scan_of_neighbour_discovery_only_is_info() {
        let scan = |reasons: &[&str], sensitive: bool| {
            AlertKind::ScanSummary(ScanSummary {
                src: "fe80::1".parse().unwrap(),
                from_zone: Some("lgwan".into()),
                to_zones: vec!["mynumber".into()],
                distinct_destinations: 20,
                distinct_ports: 1,
                destinations: Vec::new(),
                ports: Vec::new(),
                samples: 20,
                packets: None,
                distinct_exact: false,
                reasons: reasons.iter().map(|r| r.to_string()).collect(),
                sensitive,
                first_seen: String::new(),
                last_seen: String::new(),
                window_secs: 60,
            })
            .severity()
        };
        assert_eq!(scan(&["neighbour-discovery"], true), Severity::Info);
        assert_eq!(
            scan(&["neighbour-discovery", "no-flow"], true),
            Severity::High
        );
        assert_eq!(scan(&["invalid"], false), Severity::Medium);
        assert_eq!(scan(&[], false), Severity::Medium);
    }

    #[test]
    fn truncation_keeps_char_boundaries_and_says_so() {
        let mut s = "あ".repeat(MAX_DIFF_BYTES);
        truncate_text(&mut s, MAX_DIFF_BYTES);
        assert!(s.len() < MAX_DIFF_BYTES + 64);
        assert!(s.ends_with("bytes in all]"));
    }
}
