//! The agent's side of the alerts (docs/alerts.md): the durable alert pipeline of
//! `zonegate-alerts` plugged into the agent's event stream, and the NFLOG denied-flow monitor
//! driven by the ruleset the agent applied.
//!
//! - [`AlertSink`] is one [`EventSink`]: it converts every agent [`Event`] into its
//!   [`AlertKind`] ([`to_alert`]) and hands it to [`AlertPipeline::emit`], which never blocks
//!   (the pipeline writes to its on-disk queue and delivers from threads of its own), so a dead
//!   or slow collector cannot delay an apply or a repair. A `policy-applied` or
//!   `lockdown-applied` event first moves the alert context (policy, revision, ruleset hash) to
//!   the new ruleset, so the alert announcing a ruleset carries that ruleset's hash.
//! - [`Alerting`] is what the daemon keeps: the pipeline, the lock of its queue directory (one
//!   process per queue), and the [`DeniedFlowMonitor`] once a ruleset with metadata is in force.
//!   The daemon tells it about every ruleset load ([`Alerting::sync`]): the monitor learns the
//!   new log codes, and since a load replaces the table and restarts its counters, the counter
//!   baseline restarts with it.

use crate::config::AgentConfig;
use crate::events::{ApplyReason, Event, EventKind, EventSink};
use crate::state::{LastKnownGood, LkgKind};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::time::Duration;
use zonegate_alerts::model::{
    ApplyFailed, BypassCleared, BypassFound, DriftDetected, DriftRestored, FlowDiff as AlertFlows,
    FlowExpired, LockdownApplied, MonitoringDegraded, PolicyApplied, PolicyRejected,
    RestoresCapped, Writer as AlertWriter,
};
use zonegate_alerts::{
    parse_nft_counters, parse_nft_key_set, parse_nft_untracked, AlertContext, AlertKind,
    AlertPipeline, AlertsConfig, Counters, DeniedFlowMonitor, KeyCounts, StagedChange,
};
use zonegate_policy::Metadata;

/// The lock file in the queue directory: the queue is not safe for two writers.
const QUEUE_LOCK: &str = "agent.lock";

/// `start`, `reload`, ... as the alert schema spells them.
fn reason_text(r: ApplyReason) -> String {
    match r {
        ApplyReason::Start => "start",
        ApplyReason::Reload => "reload",
        ApplyReason::Expiry => "expiry",
        ApplyReason::Command => "command",
        ApplyReason::Rollback => "rollback",
        ApplyReason::Lockdown => "lockdown",
    }
    .to_string()
}

/// The alert an agent event becomes. `heartbeat` is None: [`AlertSink`] sends it through
/// [`AlertPipeline::heartbeat`], which adds the queue depth and interval.
pub fn to_alert(kind: &EventKind) -> Option<AlertKind> {
    Some(match kind {
        EventKind::PolicyApplied {
            reason,
            revision,
            ruleset_sha256,
            policy_sha256,
            flows,
            conntrack,
            duration_ms,
            previous_revision,
            previous_ruleset_sha256,
            signer,
            metadata,
        } => {
            let details = match metadata.as_deref() {
                Some(m) => match &m.current {
                    Some(current) => AlertFlows::between(m.previous.as_ref(), current),
                    None => AlertFlows::default(),
                },
                None => AlertFlows::default(),
            };
            // Without metadata (never the case for the agent's own events) the ids still tell.
            let details = if details.is_empty() && !flows.is_empty() && metadata.is_none() {
                ids_only(flows)
            } else {
                details
            };
            AlertKind::PolicyApplied(PolicyApplied {
                reason: reason_text(*reason),
                revision: revision.clone(),
                ruleset_sha256: ruleset_sha256.clone(),
                policy_sha256: (!policy_sha256.is_empty()).then(|| policy_sha256.clone()),
                previous_revision: previous_revision.clone(),
                previous_ruleset_sha256: previous_ruleset_sha256.clone(),
                flows: details,
                duration_ms: Some(*duration_ms),
                conntrack_removed: Some(conntrack.removed()),
                signer: signer.clone(),
            })
        }
        EventKind::LockdownApplied {
            reason,
            management_paths,
            ..
        } => AlertKind::LockdownApplied(LockdownApplied {
            reason: reason.clone(),
            management_paths: u32::try_from(*management_paths).unwrap_or(u32::MAX),
        }),
        EventKind::DriftDetected {
            summary,
            changes,
            diff,
            writer,
            repairing,
            detected_by,
        } => AlertKind::DriftDetected(DriftDetected {
            summary: summary.clone(),
            diff: diff.clone(),
            changes: changes.clone(),
            writer: writer.as_ref().map(|w| AlertWriter {
                pid: w.pid,
                comm: w.comm.clone(),
            }),
            // The agent says "repairing" (it restores at once); the alert says "repaired".
            repaired: *repairing,
            detected_by: detected_by.clone(),
        }),
        EventKind::DriftRestored {
            restores,
            burst_ms,
            conntrack,
            summaries,
            diff,
        } => AlertKind::DriftRestored(DriftRestored {
            restores: *restores,
            burst_ms: *burst_ms,
            repaired: true,
            diff: diff
                .clone()
                .or_else(|| (!summaries.is_empty()).then(|| summaries.join("\n"))),
            conntrack_removed: Some(conntrack.removed()),
        }),
        EventKind::RestoresCapped {
            restores_last_minute,
            cap,
            last_summary,
        } => AlertKind::RestoresCapped(RestoresCapped {
            restores_last_minute: *restores_last_minute,
            cap: *cap,
            last_summary: last_summary.clone(),
        }),
        EventKind::BypassFound {
            kind,
            subject,
            detail,
            why,
        } => AlertKind::BypassFound(BypassFound {
            kind: kind.clone(),
            subject: subject.clone(),
            detail: detail.clone(),
            why: why.clone(),
        }),
        EventKind::BypassCleared { kind, subject } => AlertKind::BypassCleared(BypassCleared {
            kind: kind.clone(),
            subject: subject.clone(),
        }),
        EventKind::FlowExpired { flows, on } => AlertKind::FlowExpired(FlowExpired {
            flows: flows.clone(),
            on: on.clone(),
        }),
        EventKind::ApplyFailed { stage, error, kept } => AlertKind::ApplyFailed(ApplyFailed {
            stage: stage.clone(),
            error: error.clone(),
            kept: kept.clone(),
        }),
        EventKind::PolicyRejected {
            path,
            diagnostics,
            kept,
        } => AlertKind::PolicyRejected(PolicyRejected {
            path: path.clone(),
            diagnostics: diagnostics.clone(),
            kept: kept.clone(),
        }),
        EventKind::MonitoringDegraded { what, detail } => {
            AlertKind::MonitoringDegraded(MonitoringDegraded {
                what: what.clone(),
                detail: detail.clone(),
                lost: None,
                restored: false,
            })
        }
        EventKind::Heartbeat { .. } => return None,
    })
}

/// Flow ids alone, for an applied event that carries no metadata.
fn ids_only(flows: &crate::events::FlowDiff) -> AlertFlows {
    let bare = |id: &String| zonegate_alerts::model::FlowSummary {
        id: id.clone(),
        from: String::new(),
        to: String::new(),
        from_zone: None,
        to_zone: None,
        ports: Vec::new(),
        expires: None,
        purpose: None,
        sensitive: false,
        defined_at: String::new(),
    };
    AlertFlows {
        added: flows.added.iter().map(bare).collect(),
        removed: flows.removed.iter().map(bare).collect(),
        changed: flows
            .changed
            .iter()
            .map(|id| zonegate_alerts::model::FlowChange {
                before: bare(id),
                after: bare(id),
            })
            .collect(),
    }
}

/// The envelope fields for what is loaded: the policy's metadata, or for a lockdown (no
/// metadata) the gateway and the lockdown ruleset's hash.
pub fn context_for(lkg: Option<&LastKnownGood>, gateway: &str) -> AlertContext {
    match lkg {
        Some(l) => match &l.metadata {
            Some(m) => AlertContext::from_metadata(m),
            None => AlertContext {
                gateway: gateway.to_string(),
                policy: None,
                ruleset_sha256: Some(l.ruleset_sha256.clone()),
            },
        },
        None => AlertContext {
            gateway: gateway.to_string(),
            policy: None,
            ruleset_sha256: None,
        },
    }
}

/// The event stream's way into the alert pipeline.
pub struct AlertSink {
    pipeline: AlertPipeline,
}

impl AlertSink {
    pub fn new(pipeline: AlertPipeline) -> AlertSink {
        AlertSink { pipeline }
    }
}

impl EventSink for AlertSink {
    fn send(&self, event: &Event) {
        match &event.kind {
            EventKind::Heartbeat {
                mode,
                drift_count,
                staged,
                ..
            } => {
                let staged = staged.as_ref().map(|s| StagedChange {
                    file_sha256: s.file_sha256.clone(),
                    since: s.since.clone(),
                });
                self.pipeline.heartbeat(mode, Some(*drift_count), staged);
                return;
            }
            EventKind::PolicyApplied { metadata, .. } => {
                if let Some(current) = metadata.as_ref().and_then(|m| m.current.as_ref()) {
                    self.pipeline
                        .set_context(AlertContext::from_metadata(current));
                }
            }
            EventKind::LockdownApplied { ruleset_sha256, .. } => {
                self.pipeline.set_context(AlertContext {
                    gateway: event.gateway.clone(),
                    policy: None,
                    ruleset_sha256: Some(ruleset_sha256.clone()),
                });
            }
            _ => {}
        }
        if let Some(kind) = to_alert(&event.kind) {
            self.pipeline.emit(kind);
        }
    }
}

/// The pipeline, its queue lock and the denied-flow monitor, owned by the daemon (or by a
/// one-shot `apply`).
pub struct Alerting {
    pub pipeline: AlertPipeline,
    config: AlertsConfig,
    /// NFLOG is read in enforce and monitor mode (dry-run touches nothing in the kernel).
    nflog_allowed: bool,
    denied: Option<DeniedFlowMonitor>,
    /// The backend's load count and ruleset hash the pipeline and the monitor last heard of.
    seen_writes: u64,
    seen_sha: Option<String>,
    /// Windows closed with the ruleset's counters.
    pub windows: u64,
    /// The per-key tables of the ruleset in force (from its metadata).
    key_sets: Vec<String>,
    _lock: Flock<File>,
}

/// Why the pipeline did not start (the agent then runs with log-only events).
#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    #[error("alert queue {path}: {source}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("alert queue {path} is in use by another process (pid {holder})")]
    Busy { path: String, holder: String },
    #[error(transparent)]
    Pipeline(#[from] zonegate_alerts::AlertError),
}

impl Alerting {
    /// The queue directory of `cfg`.
    pub fn queue_dir(cfg: &AgentConfig) -> PathBuf {
        cfg.alerts
            .queue_dir
            .clone()
            .unwrap_or_else(|| cfg.state_dir.join("alerts"))
    }

    /// Locks the queue directory and starts the pipeline, stamped with what `lkg` says is
    /// loaded (the first apply moves it on). A configured `queue_dir` that cannot be used falls
    /// back to the default under the state directory (with a warning), so a path typo does not
    /// silence the alerts.
    pub fn start(
        cfg: &AgentConfig,
        lkg: Option<&LastKnownGood>,
    ) -> Result<Alerting, AlertingError> {
        match Alerting::start_in(cfg, lkg) {
            Err(e)
                if cfg.alerts.queue_dir.is_some() && !matches!(e, AlertingError::Busy { .. }) =>
            {
                tracing::error!(error = %e, "The configured alert queue is unusable; using the default under the state directory.");
                let mut fallback = cfg.clone();
                fallback.alerts.queue_dir = None;
                Alerting::start_in(&fallback, lkg)
            }
            other => other,
        }
    }

    fn start_in(cfg: &AgentConfig, lkg: Option<&LastKnownGood>) -> Result<Alerting, AlertingError> {
        let dir = Alerting::queue_dir(cfg);
        let shown = dir.display().to_string();
        {
            // Like the state directory: 0700 for whatever this creates (the queue files are
            // 0600; alerts name hosts and addresses).
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|source| AlertingError::Dir {
                    path: shown.clone(),
                    source,
                })?;
        }
        let path = dir.join(QUEUE_LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| AlertingError::Dir {
                path: path.display().to_string(),
                source,
            })?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((_, _)) => {
                return Err(AlertingError::Busy {
                    path: shown,
                    holder: std::fs::read_to_string(&path)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                })
            }
        };
        {
            use std::io::Write;
            let _ = lock.set_len(0);
            let _ = writeln!(&mut *lock, "{}", std::process::id());
        }
        let pipeline =
            AlertPipeline::start(&cfg.alerts, &cfg.state_dir, context_for(lkg, &cfg.gateway))?;
        Ok(Alerting {
            pipeline,
            config: cfg.alerts.clone(),
            nflog_allowed: cfg.alerts.denied_flows.enabled
                && cfg.mode != crate::config::Mode::DryRun,
            denied: None,
            seen_writes: 0,
            seen_sha: None,
            windows: 0,
            key_sets: Vec::new(),
            _lock: lock,
        })
    }

    /// The sink for [`crate::events::Events::new`].
    pub fn sink(&self) -> AlertSink {
        AlertSink::new(self.pipeline.clone())
    }

    /// Heartbeat period (None: `heartbeat_secs = 0`, no heartbeats).
    pub fn heartbeat_every(&self) -> Option<Duration> {
        (self.config.heartbeat_secs > 0).then(|| Duration::from_secs(self.config.heartbeat_secs))
    }

    /// The aggregation window, when the monitor runs.
    pub fn denied_window(&self) -> Option<Duration> {
        self.denied.as_ref().map(DeniedFlowMonitor::window)
    }

    pub fn denied_running(&self) -> bool {
        self.denied.is_some()
    }

    /// What changed since the last call, given the backend's load count and what is loaded:
    /// the alert context follows the ruleset; the monitor follows its metadata. Returns what the
    /// caller must do about the counters.
    pub fn sync(&mut self, writes: u64, lkg: Option<&LastKnownGood>, gateway: &str) -> SyncNeed {
        let sha = lkg.map(|l| l.ruleset_sha256.as_str());
        if writes == self.seen_writes && sha == self.seen_sha.as_deref() {
            return SyncNeed::Nothing;
        }
        let replaced = writes != self.seen_writes;
        self.seen_writes = writes;
        self.seen_sha = sha.map(str::to_string);
        self.pipeline.set_context(context_for(lkg, gateway));
        let Some(meta) = lkg
            .filter(|l| l.kind == LkgKind::Policy)
            .and_then(|l| l.metadata.as_ref())
        else {
            return SyncNeed::Nothing;
        };
        self.key_sets = meta.key_sets.clone();
        match &self.denied {
            Some(d) => {
                // A new table counts from zero; its codes and zones apply from now.
                d.set_metadata(meta);
                if replaced {
                    SyncNeed::Nothing
                } else {
                    // Same counters, new metadata (adopted without a load): keep their values.
                    SyncNeed::CounterBaseline
                }
            }
            None if self.nflog_allowed => SyncNeed::StartMonitor(Box::new(meta.clone())),
            None => SyncNeed::Nothing,
        }
    }

    /// Binds NFLOG in this process's network namespace (the gateway's); a bind failure is not
    /// an error here: the monitor raises monitoring-degraded and retries.
    pub fn start_monitor(&mut self, meta: &Metadata) -> Result<(), zonegate_alerts::AlertError> {
        let d = DeniedFlowMonitor::start(&self.pipeline, meta, &self.config.denied_flows)?;
        self.denied = Some(d);
        Ok(())
    }

    /// Counter values already counted elsewhere (a restart that kept the table).
    pub fn set_counter_baseline(&self, counters: &Counters) {
        if let Some(d) = &self.denied {
            d.set_counter_baseline(counters);
        }
    }

    /// Closes the denied-flow window with the exact counts (and the per-key tables, when the
    /// ruleset has them and they could be read).
    pub fn reconcile(&mut self, counters: &Counters, keys: Option<&KeyCounts>) {
        if let Some(d) = &self.denied {
            match keys {
                Some(k) => d.reconcile_with_keys(counters, k),
                None => d.reconcile(counters),
            }
            self.windows += 1;
        }
    }

    /// Per-key values already counted elsewhere (a restart that kept the table).
    pub fn set_key_baseline(&self, keys: &KeyCounts) {
        if let Some(d) = &self.denied {
            d.set_key_baseline(keys);
        }
    }

    /// The per-key tables of the ruleset in force.
    pub fn key_sets(&self) -> &[String] {
        &self.key_sets
    }

    /// The denied-flow monitor's listener state and last windows, for the status.
    pub fn denied_status(&self) -> Option<crate::status::DeniedStatus> {
        self.denied.as_ref().map(|d| crate::status::DeniedStatus {
            listener: d.listener(),
            windows: d.recent_windows(),
        })
    }

    /// Stops the monitor, gives the sinks `deliver` to send what is queued, flushes and stops
    /// the pipeline (what is not delivered stays on disk for the next start).
    pub fn stop(self, deliver: Duration) {
        if let Some(d) = &self.denied {
            d.stop();
        }
        self.pipeline.flush(Duration::from_secs(5));
        self.pipeline.wait_delivered(deliver);
        self.pipeline.shutdown(Duration::from_secs(2));
    }
}

/// What [`Alerting::sync`] asks of the caller (which owns the kernel).
#[derive(Debug)]
pub enum SyncNeed {
    Nothing,
    /// Read the counters and pass them to [`Alerting::set_counter_baseline`].
    CounterBaseline,
    /// Start the monitor with this metadata, then set the counter baseline.
    StartMonitor(Box<Metadata>),
}

/// The per-key tables and untracked counters, from the listings of each table (`(name,
/// json)`) and the `nft -j list counters` output. A table that cannot be parsed is left out
/// (and said in the log); the others still count.
pub fn key_counts_from(sets: &[(String, String)], counters_json: &str) -> KeyCounts {
    let mut kc = KeyCounts::default();
    for (name, json) in sets {
        match parse_nft_key_set(json, zonegate_policy::names::TABLE, name, &mut kc) {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(set = %name, skipped = n, "Elements of a per-key table were not understood.")
            }
            Err(e) => tracing::warn!(set = %name, error = %e, "Cannot read a per-key table."),
        }
    }
    match parse_nft_untracked(counters_json, zonegate_policy::names::TABLE) {
        Ok(u) => kc.untracked = u,
        Err(e) => tracing::warn!(error = %e, "Cannot read the untracked counters."),
    }
    kc
}

/// The ruleset's named counters, from an `nft -j list counters` output.
pub fn counters_from(json: &str) -> Result<Counters, String> {
    parse_nft_counters(json, zonegate_policy::names::TABLE).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{AppliedMetadata, ConntrackReport, Events, FlowDiff, Writer};
    use crate::policy_source::compile_bytes;
    use crate::policy_source::tests::{clock_at, POLICY};

    fn meta(text: &str) -> Metadata {
        compile_bytes(
            "zones.toml",
            text.as_bytes(),
            "gw1",
            &clock_at("2027-01-01T00:00:00Z"),
        )
        .expect("compiles")
        .ruleset
        .metadata
    }

    const SIGNER: &str = "SHA256:0lmavsQIipJjppHWAnLYQbwa4wFO7xUPixpm7Knvh3o ciso@city.example";

    fn every_kind() -> Vec<EventKind> {
        let a = meta(POLICY);
        let mut b = meta(&POLICY.replace("tcp/8080", "tcp/9090"));
        b.signer = Some(SIGNER.into());
        vec![
            EventKind::PolicyApplied {
                reason: ApplyReason::Reload,
                revision: b.revision.clone(),
                ruleset_sha256: b.ruleset_sha256.clone(),
                policy_sha256: b.policy_sha256.clone(),
                flows: crate::agent::flow_diff(Some(&a), Some(&b)),
                conntrack: ConntrackReport {
                    revoked: 2,
                    ..ConntrackReport::default()
                },
                duration_ms: 12,
                previous_revision: Some(a.revision.clone()),
                previous_ruleset_sha256: Some(a.ruleset_sha256.clone()),
                signer: b.signer.clone(),
                metadata: Some(Box::new(AppliedMetadata {
                    previous: Some(a.clone()),
                    current: Some(b.clone()),
                })),
            },
            EventKind::LockdownApplied {
                reason: "no policy".into(),
                management_paths: 1,
                ruleset_sha256: "ab".into(),
            },
            EventKind::DriftDetected {
                summary: "chain forward: 1 rule(s) added".into(),
                changes: vec!["chain forward: rule added at 1: accept".into()],
                diff: "--- applied\n+++ observed\n+ chain forward rule 1: accept\n".into(),
                writer: Some(Writer {
                    pid: 7,
                    comm: "nft".into(),
                }),
                repairing: true,
                detected_by: Some("netlink-event".into()),
            },
            EventKind::DriftRestored {
                restores: 1,
                burst_ms: 1000,
                conntrack: ConntrackReport::default(),
                summaries: vec!["x".into()],
                diff: Some("+ x".into()),
            },
            EventKind::RestoresCapped {
                restores_last_minute: 600,
                cap: 600,
                last_summary: "x".into(),
            },
            EventKind::BypassFound {
                kind: "fwd".into(),
                subject: "table netdev t".into(),
                detail: "fwd to ens5".into(),
                why: "delivers around us".into(),
            },
            EventKind::BypassCleared {
                kind: "fwd".into(),
                subject: "table netdev t".into(),
            },
            EventKind::FlowExpired {
                flows: vec!["F-1".into()],
                on: "2027-03-31".into(),
            },
            EventKind::ApplyFailed {
                stage: "apply".into(),
                error: "nft said no".into(),
                kept: "revision r1".into(),
            },
            EventKind::PolicyRejected {
                path: "/etc/zonegate/zones.toml".into(),
                diagnostics: vec!["zones.toml:1:1: error[E001]: x".into()],
                kept: "revision r1".into(),
            },
            EventKind::MonitoringDegraded {
                what: "nflog".into(),
                detail: "group taken".into(),
            },
        ]
    }

    #[test]
    fn every_event_kind_has_an_alert_of_the_same_type() {
        for kind in every_kind() {
            let alert = to_alert(&kind).expect("converted");
            assert_eq!(alert.type_name(), kind.name(), "{kind:?}");
        }
        let hb = EventKind::Heartbeat {
            ruleset_sha256: String::new(),
            policy_sha256: String::new(),
            revision: String::new(),
            mode: "enforce".into(),
            drift_count: 0,
            uptime_s: 0,
            staged: None,
            signer: None,
        };
        assert!(to_alert(&hb).is_none(), "heartbeats go through heartbeat()");
    }

    #[test]
    fn drift_carries_the_diff_and_repaired_flag() {
        let kinds = every_kind();
        let Some(AlertKind::DriftDetected(d)) = to_alert(&kinds[2]) else {
            panic!("drift")
        };
        assert!(d.repaired);
        assert!(d.diff.contains("+ chain forward rule 1: accept"));
        assert_eq!(d.writer.map(|w| w.pid), Some(7));
        assert_eq!(d.detected_by.as_deref(), Some("netlink-event"));
    }

    #[test]
    fn policy_applied_carries_the_flow_diff_with_details() {
        let kinds = every_kind();
        let Some(AlertKind::PolicyApplied(p)) = to_alert(&kinds[0]) else {
            panic!("applied")
        };
        assert_eq!(p.reason, "reload");
        assert_eq!(p.conntrack_removed, Some(2));
        assert_eq!(p.flows.changed.len(), 1);
        let c = &p.flows.changed[0];
        assert_eq!(c.before.id, "F-1");
        assert!(c.before.ports.iter().any(|x| x.contains("8080")), "{c:?}");
        assert!(c.after.ports.iter().any(|x| x.contains("9090")), "{c:?}");
        assert!(!c.after.defined_at.is_empty());
        // Without metadata the ids still arrive.
        let bare = EventKind::PolicyApplied {
            reason: ApplyReason::Start,
            revision: "r".into(),
            ruleset_sha256: "s".into(),
            policy_sha256: String::new(),
            flows: FlowDiff {
                added: vec!["F-9".into()],
                ..FlowDiff::default()
            },
            conntrack: ConntrackReport::default(),
            duration_ms: 1,
            previous_revision: None,
            previous_ruleset_sha256: None,
            signer: None,
            metadata: None,
        };
        let Some(AlertKind::PolicyApplied(p)) = to_alert(&bare) else {
            panic!("applied")
        };
        assert_eq!(p.flows.added[0].id, "F-9");
        assert_eq!(p.policy_sha256, None);
    }

    #[test]
    fn the_sink_queues_every_event_and_moves_the_context_first() {
        let dir = crate::state::tests::temp_dir("alerting");
        let file = dir.join("alerts.jsonl");
        let config = AlertsConfig {
            sinks: vec![zonegate_alerts::SinkConfig::File(
                zonegate_alerts::config::FileConfig {
                    path: file.clone(),
                    ..Default::default()
                },
            )],
            ..Default::default()
        };
        let pipeline =
            AlertPipeline::start(&config, &dir, context_for(None, "gw1")).expect("pipeline starts");
        let events = Events::new("gw1", vec![Box::new(AlertSink::new(pipeline.clone()))]);
        for k in every_kind() {
            events.emit(k);
        }
        events.emit(EventKind::Heartbeat {
            ruleset_sha256: String::new(),
            policy_sha256: String::new(),
            revision: String::new(),
            mode: "enforce".into(),
            drift_count: 3,
            uptime_s: 0,
            staged: None,
            signer: Some(SIGNER.into()),
        });
        assert!(pipeline.wait_delivered(Duration::from_secs(10)));
        pipeline.shutdown(Duration::from_secs(2));
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&file)
            .expect("file sink")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines.len(), every_kind().len() + 1);
        let applied = &lines[0];
        assert_eq!(applied["type"], "policy-applied");
        // The alert announcing a ruleset carries that ruleset's hash.
        assert_eq!(
            applied["ruleset_sha256"],
            applied["details"]["ruleset_sha256"]
        );
        assert_eq!(lines[1]["type"], "lockdown-applied");
        assert_eq!(lines[1]["ruleset_sha256"], "ab");
        assert_eq!(lines[1]["policy"], serde_json::Value::Null);
        // The approving key travels in the details of policy-applied and, in the envelope's
        // policy, with every alert while that policy is in force (heartbeats included).
        assert_eq!(applied["details"]["signer"], SIGNER);
        assert_eq!(applied["policy"]["signer"], SIGNER);
        let hb = lines.last().expect("heartbeat");
        assert_eq!(hb["type"], "heartbeat");
        assert_eq!(hb["details"]["drift_count"], 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn counters_parse_from_nft_json() {
        let json = r#"{"nftables":[{"counter":{"family":"inet","name":"c11","table":"zonegate","handle":1,"packets":1000,"bytes":28000}}]}"#;
        assert_eq!(counters_from(json).expect("parses")[&11].packets, 1000);
        assert!(counters_from("nope").is_err());
    }
}
