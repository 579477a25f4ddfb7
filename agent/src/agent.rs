//! The agent's core, shared by the daemon (`run`) and the one-shot `apply`: load a compiled
//! policy (or the lockdown) with a verified baseline, store it as last-known-good, keep
//! conntrack consistent, compare the live table with the baseline, restore it. Every kernel
//! write goes through `&mut self`, so writes are serialised by construction: the daemon owns
//! one `Agent` and calls it from one task.

use crate::apply::{load_verified, ApplyError, Verified};
use crate::backend::Backend;
use crate::clock::Clock;
use crate::config::AgentConfig;
use crate::conntrack::{self, ConntrackTable};
use crate::drift::{diff, Drift};
use crate::events::{AppliedMetadata, ApplyReason, ConntrackReport, EventKind, Events, FlowDiff};
use crate::listing::{normalise, TableState};
use crate::netlink::conntrack::CtEntry;
use crate::netlink::nftables::{GenWatch, Generation};
use crate::policy_source::{Compiled, FlowIndex};
use crate::state::{LastKnownGood, LkgKind, StateDir, LKG_FORMAT};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;
use thiserror::Error;
use zonegate_policy::lockdown::{lockdown, management_from_policy, Management};
use zonegate_policy::Metadata;

#[derive(Debug, Error)]
pub enum AgentError {
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Backend(#[from] crate::backend::BackendError),
    #[error(transparent)]
    Listing(#[from] crate::listing::ListingError),
}

/// What the agent loaded and how the kernel listed it.
#[derive(Debug, Clone)]
pub struct Current {
    /// Its `baseline` (the read-back listing) is the one copy the agent keeps: None while no
    /// clean read-back was possible (a writer raced every attempt).
    pub lkg: LastKnownGood,
}

impl Current {
    pub fn baseline(&self) -> Option<&TableState> {
        self.lkg.baseline.as_ref()
    }

    pub fn revision(&self) -> &str {
        &self.lkg.revision
    }

    /// The key that approved the loaded policy, when signatures are checked.
    pub fn signer(&self) -> Option<String> {
        self.lkg.metadata.as_ref().and_then(|m| m.signer.clone())
    }
}

/// Counters for `status`.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub last_apply: Option<String>,
    pub applies: u64,
    pub drift_count: u64,
    pub last_drift: Option<String>,
    pub last_drift_at: Option<String>,
    pub restores: u64,
    /// Tamper bursts repaired (the table equals the baseline again).
    pub repairs: u64,
    pub conntrack_removed: u64,
    pub bypass_findings: Vec<String>,
    /// Applies and restores that failed (apply-failed events).
    pub apply_failures: u64,
    /// Duration of the last successful apply, and the sum over all of them.
    pub last_apply_ms: u64,
    pub apply_ms_total: u64,
}

/// What the first half of a restore did.
#[derive(Debug)]
pub enum Loaded {
    /// Loaded; verify with a listing, then pass `window` to [`Agent::restore_upkeep`]. `blind`:
    /// notices were lost, so a differing read-back may be another writer's, not ours.
    Verify {
        window: Vec<CtEntry>,
        blind: bool,
    },
    /// Another writer committed right after our load (`touched`: in our table): compare, or
    /// restore, again.
    Raced {
        window: Vec<CtEntry>,
        touched: bool,
    },
    Failed(String),
    NoBaseline,
}

/// Outcome of one restore.
#[derive(Debug)]
pub enum Restore {
    /// The table equals the baseline again.
    Converged(ConntrackReport),
    /// Another writer changed the table again while we restored: compare again.
    Raced,
    /// Nobody else wrote and the table still differs: a restore loop in the making.
    NotConverging(Drift),
    /// The load failed.
    Failed(String),
    /// There is nothing to restore to.
    NoBaseline,
}

pub struct Agent<B: Backend, W: GenWatch> {
    pub cfg: AgentConfig,
    pub kernel: B,
    pub watch: W,
    pub conntrack: Arc<dyn ConntrackTable>,
    pub events: Events,
    pub state: StateDir,
    pub clock: Clock,
    pub current: Option<Current>,
    pub stats: Stats,
    pub started: Instant,
    /// Pids of our own nft children (their NEWGENs are not foreign).
    pub own_pids: Vec<u32>,
}

fn now_text() -> String {
    jiff::Timestamp::now().to_string()
}

/// Flows added, removed or changed between two metadata.
pub fn flow_diff(old: Option<&Metadata>, new: Option<&Metadata>) -> FlowDiff {
    let empty = std::collections::BTreeMap::new();
    let a = old.map(|m| &m.flows).unwrap_or(&empty);
    let b = new.map(|m| &m.flows).unwrap_or(&empty);
    FlowDiff {
        added: b.keys().filter(|k| !a.contains_key(*k)).cloned().collect(),
        removed: a.keys().filter(|k| !b.contains_key(*k)).cloned().collect(),
        changed: b
            .iter()
            .filter(|(k, v)| a.get(*k).is_some_and(|o| o != *v))
            .map(|(k, _)| k.clone())
            .collect(),
    }
}

impl<B: Backend, W: GenWatch> Agent<B, W> {
    pub fn new(
        cfg: AgentConfig,
        kernel: B,
        watch: W,
        conntrack: Arc<dyn ConntrackTable>,
        events: Events,
    ) -> Agent<B, W> {
        let state = StateDir::new(&cfg.state_dir);
        Agent {
            cfg,
            kernel,
            watch,
            conntrack,
            events,
            state,
            clock: Clock::default(),
            current: None,
            stats: Stats::default(),
            started: Instant::now(),
            own_pids: Vec::new(),
        }
    }

    /// Reads the LKG and raises the clock floor to its compile time.
    pub fn load_lkg(&mut self) -> Option<LastKnownGood> {
        match self.state.load_lkg() {
            Ok(Some(lkg)) => {
                if let Ok(t) = lkg.compiled_at.parse::<jiff::Timestamp>() {
                    self.clock.raise_floor(t);
                }
                Some(lkg)
            }
            Ok(None) => None,
            Err(e) => {
                self.events.emit(EventKind::MonitoringDegraded {
                    what: "last-known-good unreadable".into(),
                    detail: e.to_string(),
                });
                None
            }
        }
    }

    /// The live table, normalised.
    pub async fn observe(&self) -> Result<Option<TableState>, AgentError> {
        let listing = self.kernel.list_table().await?;
        Ok(normalise(listing.as_ref())?)
    }

    /// Drift of the live table from the baseline (None when there is no baseline).
    pub async fn compare(&self) -> Result<Option<Drift>, AgentError> {
        let Some(baseline) = self.current.as_ref().and_then(Current::baseline) else {
            return Ok(None);
        };
        let observed = self.observe().await?;
        Ok(Some(diff(Some(baseline), observed.as_ref())))
    }

    fn note_verified(&mut self, v: &Verified) -> Vec<Generation> {
        self.remember_own_pid(v.receipt.pid);
        v.foreign.clone()
    }

    /// Our nft child's pid, so its generation notices are not taken for a tamper.
    fn remember_own_pid(&mut self, pid: u32) {
        self.own_pids.push(pid);
        if self.own_pids.len() > 64 {
            self.own_pids.remove(0);
        }
    }

    async fn run_upkeep(
        &mut self,
        flows: FlowIndex,
        retired: BTreeSet<u32>,
        window: Vec<CtEntry>,
    ) -> ConntrackReport {
        if !self.cfg.mode.writes() {
            return ConntrackReport::default();
        }
        let table = self.conntrack.clone();
        let report = tokio::task::spawn_blocking(move || {
            conntrack::upkeep(table.as_ref(), &flows, &retired, &window)
        })
        .await
        .unwrap_or_else(|e| ConntrackReport {
            error: Some(format!("conntrack upkeep crashed: {e}")),
            ..ConntrackReport::default()
        });
        self.stats.conntrack_removed += report.removed();
        report
    }

    /// Loads a compiled policy, verifies it, stores it as LKG, runs conntrack upkeep and emits
    /// `policy-applied` (and `flow-expired` for flows that just expired). Emits `apply-failed`
    /// and keeps the current ruleset on failure.
    pub async fn apply_compiled(
        &mut self,
        compiled: &Compiled,
        reason: ApplyReason,
        window: Vec<CtEntry>,
    ) -> Result<Vec<Generation>, AgentError> {
        let t0 = Instant::now();
        let text = &compiled.ruleset.text;
        let meta = &compiled.ruleset.metadata;
        let result = load_verified(&self.kernel, &mut self.watch, text, None, true).await;
        let verified = match result {
            Ok(v) => v,
            Err(e) => {
                self.apply_failed("apply", &e.to_string());
                if matches!(e, ApplyError::Raced { .. }) {
                    // The text is loaded, but no clean baseline: keep trying from the loop.
                    self.current = Some(Current {
                        lkg: self.lkg_for(compiled, None),
                    });
                }
                return Err(e.into());
            }
        };
        let foreign = self.note_verified(&verified);
        let previous = self.current.as_ref().map(|c| c.lkg.clone());
        let mut lkg = self.lkg_for(compiled, Some(verified.baseline.clone()));
        lkg.retire_from(previous.as_ref());
        self.state.store_lkg(&lkg)?;
        if let Ok(t) = lkg.compiled_at.parse::<jiff::Timestamp>() {
            self.clock.raise_floor(t);
        }
        let flows = flow_diff(
            previous.as_ref().and_then(|p| p.metadata.as_ref()),
            Some(meta),
        );
        let expired_now: Vec<String> = previous
            .as_ref()
            .and_then(|p| p.metadata.as_ref())
            .map(|m| {
                compiled
                    .expired
                    .iter()
                    .filter(|id| m.flows.contains_key(*id))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut window = window;
        window.extend(verified.new_connections.iter().cloned());
        let report = self
            .run_upkeep(lkg.flows.clone(), lkg.retired_marks.clone(), window)
            .await;
        self.current = Some(Current { lkg });
        self.stats.applies += 1;
        self.stats.last_apply = Some(now_text());
        if !expired_now.is_empty() {
            self.events.emit(EventKind::FlowExpired {
                flows: expired_now,
                on: compiled.today.clone(),
            });
        }
        let duration_ms = t0.elapsed().as_millis() as u64;
        self.note_duration(duration_ms);
        self.events.emit(EventKind::PolicyApplied {
            reason,
            revision: meta.revision.clone(),
            ruleset_sha256: meta.ruleset_sha256.clone(),
            policy_sha256: meta.policy_sha256.clone(),
            flows,
            conntrack: report,
            duration_ms,
            previous_revision: previous.as_ref().map(|p| p.revision.clone()),
            previous_ruleset_sha256: previous.as_ref().map(|p| p.ruleset_sha256.clone()),
            signer: meta.signer.clone(),
            metadata: Some(Box::new(AppliedMetadata {
                previous: previous.as_ref().and_then(|p| p.metadata.clone()),
                current: Some(meta.clone()),
            })),
        });
        Ok(foreign)
    }

    fn lkg_for(&self, compiled: &Compiled, baseline: Option<TableState>) -> LastKnownGood {
        let meta = &compiled.ruleset.metadata;
        LastKnownGood {
            format: LKG_FORMAT,
            kind: LkgKind::Policy,
            compiled_at: self.clock.now().at.to_string(),
            applied_at: now_text(),
            source_sha256: compiled.source_sha256.clone(),
            ruleset_sha256: meta.ruleset_sha256.clone(),
            revision: meta.revision.clone(),
            ruleset_text: compiled.ruleset.text.clone(),
            metadata: Some(meta.clone()),
            baseline,
            flows: compiled.flows.clone(),
            retired_marks: BTreeSet::new(),
        }
    }

    /// Loads an LKG's text again (start-up with an invalid policy, rollback).
    pub async fn apply_lkg(
        &mut self,
        lkg: LastKnownGood,
        reason: ApplyReason,
    ) -> Result<(), AgentError> {
        let t0 = Instant::now();
        let v = match load_verified(&self.kernel, &mut self.watch, &lkg.ruleset_text, None, true)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                self.apply_failed("apply last-known-good", &e.to_string());
                return Err(e.into());
            }
        };
        self.note_verified(&v);
        let previous = self.current.as_ref().map(|c| c.lkg.clone());
        let mut lkg = lkg;
        lkg.baseline = Some(v.baseline.clone());
        lkg.applied_at = now_text();
        lkg.retire_from(previous.as_ref());
        self.state.store_lkg(&lkg)?;
        let report = self
            .run_upkeep(lkg.flows.clone(), lkg.retired_marks.clone(), Vec::new())
            .await;
        let flows = flow_diff(
            previous.as_ref().and_then(|p| p.metadata.as_ref()),
            lkg.metadata.as_ref(),
        );
        self.stats.applies += 1;
        self.stats.last_apply = Some(now_text());
        let duration_ms = t0.elapsed().as_millis() as u64;
        self.note_duration(duration_ms);
        self.events.emit(EventKind::PolicyApplied {
            reason,
            revision: lkg.revision.clone(),
            ruleset_sha256: lkg.ruleset_sha256.clone(),
            policy_sha256: lkg
                .metadata
                .as_ref()
                .map(|m| m.policy_sha256.clone())
                .unwrap_or_default(),
            flows,
            conntrack: report,
            duration_ms,
            previous_revision: previous.as_ref().map(|p| p.revision.clone()),
            previous_ruleset_sha256: previous.as_ref().map(|p| p.ruleset_sha256.clone()),
            signer: lkg.metadata.as_ref().and_then(|m| m.signer.clone()),
            metadata: Some(Box::new(AppliedMetadata {
                previous: previous.as_ref().and_then(|p| p.metadata.clone()),
                current: lkg.metadata.clone(),
            })),
        });
        self.current = Some(Current { lkg });
        Ok(())
    }

    /// Loads the lockdown ruleset: forwarding closed, the management path kept (from the
    /// given policy if any, else agent.toml's `lockdown.management`).
    pub async fn apply_lockdown(
        &mut self,
        reason: &str,
        management: Option<Vec<Management>>,
    ) -> Result<(), AgentError> {
        let mgmt = management.unwrap_or_else(|| self.cfg.lockdown_management.clone());
        let text = lockdown(&mgmt, reason);
        let v = match load_verified(&self.kernel, &mut self.watch, &text, None, true).await {
            Ok(v) => v,
            Err(e) => {
                self.apply_failed("lockdown", &e.to_string());
                return Err(e.into());
            }
        };
        self.note_verified(&v);
        let sha = crate::listing::hex(&<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
        let lockdown_sha = sha.clone();
        let lkg = LastKnownGood {
            format: LKG_FORMAT,
            kind: LkgKind::Lockdown,
            compiled_at: self.clock.now().at.to_string(),
            applied_at: now_text(),
            source_sha256: String::new(),
            ruleset_sha256: sha,
            revision: "lockdown".into(),
            ruleset_text: text,
            metadata: None,
            baseline: Some(v.baseline.clone()),
            flows: FlowIndex::default(),
            retired_marks: self
                .current
                .as_ref()
                .map(|c| c.lkg.retired_marks.clone())
                .unwrap_or_default(),
        };
        self.state.store_lkg(&lkg)?;
        self.current = Some(Current { lkg });
        self.stats.applies += 1;
        self.stats.last_apply = Some(now_text());
        self.events.emit(EventKind::LockdownApplied {
            reason: reason.to_string(),
            management_paths: mgmt.len(),
            ruleset_sha256: lockdown_sha,
        });
        Ok(())
    }

    /// Restores the baseline in one transaction and runs conntrack upkeep with the tamper
    /// window's new connections.
    pub async fn restore(&mut self, window: Vec<CtEntry>) -> Restore {
        let Some(cur) = self.current.as_ref() else {
            return Restore::NoBaseline;
        };
        // Borrowed, not cloned: a 10,000-host baseline is megabytes, and restores come in bursts.
        let expected = cur.lkg.baseline.as_ref();
        let had_baseline = expected.is_some();
        // One attempt when the expected listing is known; establishing a first baseline after a
        // raced apply may take the usual retries.
        let attempts = if had_baseline {
            1
        } else {
            crate::apply::MAX_ATTEMPTS
        };
        let result = crate::apply::load_verified_with(
            &self.kernel,
            &mut self.watch,
            &cur.lkg.ruleset_text,
            expected,
            false,
            attempts,
        )
        .await;
        self.stats.restores += 1;
        match result {
            Ok(v) => {
                self.note_verified(&v);
                let Some(cur) = self.current.as_mut() else {
                    return Restore::NoBaseline;
                };
                if !had_baseline {
                    // First clean read-back after a raced apply: it becomes the baseline.
                    cur.lkg.baseline = Some(v.baseline.clone());
                    if let Err(e) = self.state.store_lkg(&cur.lkg) {
                        self.apply_failed("store last-known-good", &e.to_string());
                    }
                }
                let Some(cur) = self.current.as_ref() else {
                    return Restore::NoBaseline;
                };
                let flows = cur.lkg.flows.clone();
                let retired = cur.lkg.retired_marks.clone();
                let report = self.run_upkeep(flows, retired, window).await;
                if v.foreign_after {
                    return Restore::Raced;
                }
                Restore::Converged(report)
            }
            Err(ApplyError::Raced { .. }) => Restore::Raced,
            Err(ApplyError::Mismatch { drift }) => Restore::NotConverging(drift),
            Err(e) => Restore::Failed(e.to_string()),
        }
    }

    /// The first half of a restore of a known baseline: its ruleset loaded in one transaction.
    /// The read-back that proves the restore converged is the caller's, which takes it off its
    /// loop (a 10,000-host listing takes as long as the load) and then calls
    /// [`Agent::restore_upkeep`].
    pub async fn restore_load(&mut self, mut window: Vec<CtEntry>) -> Loaded {
        let Some(cur) = self.current.as_ref().filter(|c| c.baseline().is_some()) else {
            return Loaded::NoBaseline;
        };
        let pre = self.watch.drain();
        window.extend(pre.new_connections.into_iter().map(|(_, e)| e));
        let result = self.kernel.apply(&cur.lkg.ruleset_text).await;
        self.stats.restores += 1;
        let receipt = match result {
            Ok(r) => r,
            Err(e) => return Loaded::Failed(ApplyError::Load(e).to_string()),
        };
        // Our NEWGEN is queued before nft exits: this drain holds it, so the loop never takes
        // our own restore for a tamper (also in a PID namespace, where `split` finds it by name).
        let post = self.watch.drain();
        window.extend(post.new_connections.iter().map(|(_, e)| e.clone()));
        self.remember_own_pid(receipt.pid);
        let s = crate::apply::split(&post, receipt.pid, &self.own_pids);
        if !s.foreign_after.is_empty() {
            let touched = s.foreign_after.iter().any(|g| g.touched_ours);
            return Loaded::Raced { window, touched };
        }
        let blind = post.overflow || s.ours.is_none() || !self.watch.reliable();
        Loaded::Verify { window, blind }
    }

    /// The second half of a restore whose read-back matched: conntrack upkeep.
    pub async fn restore_upkeep(&mut self, window: Vec<CtEntry>) -> ConntrackReport {
        let Some(cur) = self.current.as_ref() else {
            return ConntrackReport::default();
        };
        let flows = cur.lkg.flows.clone();
        let retired = cur.lkg.retired_marks.clone();
        self.run_upkeep(flows, retired, window).await
    }

    fn note_duration(&mut self, ms: u64) {
        self.stats.last_apply_ms = ms;
        self.stats.apply_ms_total += ms;
    }

    pub fn apply_failed(&mut self, stage: &str, error: &str) {
        self.stats.apply_failures += 1;
        let kept = match &self.current {
            Some(c) => format!("revision {}", c.revision()),
            None => "whatever the kernel has loaded".into(),
        };
        self.events.emit(EventKind::ApplyFailed {
            stage: stage.to_string(),
            error: error.to_string(),
            kept,
        });
    }

    /// Management path of a compiled policy (for lockdown).
    pub fn management_of(compiled: &Compiled) -> Vec<Management> {
        management_from_policy(&compiled.policy)
    }
}

/// What became of a request to apply the policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyOutcome {
    Applied {
        revision: String,
    },
    /// The compiled ruleset is the one loaded already.
    Unchanged {
        revision: String,
    },
    /// The policy does not validate (or cannot be read); the current ruleset stays.
    Rejected {
        message: String,
    },
    /// The ruleset did not load; the current one stays.
    Failed {
        message: String,
    },
    /// `--plan-hash` no longer matches.
    PlanChanged {
        expected: String,
        actual: String,
    },
}

impl<B: Backend, W: GenWatch> Agent<B, W> {
    /// Reads the policy file once, compiles it and applies it (SIGHUP, settled writes, expiry,
    /// `apply`). A bad policy raises `policy-rejected` and changes nothing.
    pub async fn apply_policy_file(
        &mut self,
        reason: ApplyReason,
        plan_hash: Option<&str>,
        force: bool,
    ) -> PolicyOutcome {
        let path = self.cfg.policy.clone();
        let compiled = match crate::policy_source::load(&self.cfg, &self.clock) {
            Ok(c) => c,
            Err(e) => {
                let diagnostics = match &e {
                    crate::policy_source::LoadError::Rejected { diagnostics } => {
                        diagnostics.clone()
                    }
                    other => vec![other.to_string()],
                };
                let kept = match &self.current {
                    Some(c) => format!("revision {}", c.revision()),
                    None => "whatever the kernel has loaded".into(),
                };
                self.events.emit(EventKind::PolicyRejected {
                    path: path.display().to_string(),
                    diagnostics: diagnostics.clone(),
                    kept,
                });
                return PolicyOutcome::Rejected {
                    message: format!("{e}\n{}", diagnostics.join("\n")),
                };
            }
        };
        if compiled.clock_behind_floor {
            self.events.emit(EventKind::MonitoringDegraded {
                what: "clock behind last-known-good".into(),
                detail: format!(
                    "the clock reads earlier than the last-known-good's compile time; expiry uses {}",
                    compiled.today
                ),
            });
        }
        if let Some(expected) = plan_hash {
            let live = match self.observe().await {
                Ok(l) => l,
                Err(e) => {
                    return PolicyOutcome::Failed {
                        message: e.to_string(),
                    }
                }
            };
            let lkg = self.current.as_ref().map(|c| c.lkg.clone());
            let p = crate::plan::plan(&compiled, live.as_ref(), lkg.as_ref());
            if p.plan_hash != expected {
                return PolicyOutcome::PlanChanged {
                    expected: expected.to_string(),
                    actual: p.plan_hash,
                };
            }
        }
        let revision = compiled.ruleset.metadata.revision.clone();
        let same = self.current.as_ref().is_some_and(|c| {
            c.baseline().is_some()
                && c.lkg.ruleset_sha256 == compiled.ruleset.metadata.ruleset_sha256
        });
        if same && !force {
            return PolicyOutcome::Unchanged { revision };
        }
        match self.apply_compiled(&compiled, reason, Vec::new()).await {
            Ok(_) => PolicyOutcome::Applied { revision },
            Err(e) => PolicyOutcome::Failed {
                message: e.to_string(),
            },
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::backend::fake::{FakeBackend, FakeWatch};
    use crate::config::{AgentConfig, Mode};
    use crate::events::MemorySink;
    use crate::policy_source::compile_bytes;
    use crate::policy_source::tests::{clock_at, POLICY};
    use crate::state::tests::temp_dir;
    use serde_json::json;
    use std::time::Duration;

    pub fn config(dir: &std::path::Path) -> AgentConfig {
        AgentConfig {
            policy: dir.join("zones.toml"),
            gateway: "gw1".into(),
            mode: Mode::Enforce,
            state_dir: dir.join("state"),
            check_interval: Duration::from_secs(30),
            status_socket: dir.join("agent.sock"),
            metrics_address: None,
            max_restores_per_minute: 600,
            lockdown_management: Vec::new(),
            auto_apply: false,
            auto_apply_confirm: Duration::from_secs(120),
            alerts: Default::default(),
            alert_problems: Vec::new(),
            trusted_keys: Vec::new(),
            signature: None,
        }
    }

    fn agent() -> (Agent<FakeBackend, FakeWatch>, FakeBackend, MemorySink) {
        let dir = temp_dir("agent");
        let b = FakeBackend::new();
        let w = FakeWatch::new(&b);
        let mem = MemorySink::default();
        let events = Events::new("gw1", vec![Box::new(mem.clone())]);
        let a = Agent::new(
            config(&dir),
            b.clone(),
            w,
            Arc::new(conntrack::Disabled),
            events,
        );
        (a, b, mem)
    }

    fn compiled(text: &str) -> Compiled {
        compile_bytes(
            "zones.toml",
            text.as_bytes(),
            "gw1",
            &clock_at("2027-01-01T00:00:00Z"),
        )
        .expect("compiles")
    }

    #[tokio::test(flavor = "current_thread")]
    async fn apply_stores_lkg_and_baseline_equals_read_back() {
        let (mut a, b, mem) = agent();
        let c = compiled(POLICY);
        a.apply_compiled(&c, ApplyReason::Start, Vec::new())
            .await
            .expect("applies");
        let lkg = a.state.load_lkg().expect("lkg").expect("stored");
        assert_eq!(lkg.ruleset_text, c.ruleset.text);
        let live = normalise(b.kernel().table.as_ref()).expect("listing");
        assert_eq!(lkg.baseline, live);
        assert!(a
            .compare()
            .await
            .expect("compare")
            .expect("drift")
            .is_empty());
        let ev = mem.take();
        assert!(ev.iter().any(|e| e.kind.name() == "policy-applied"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn tamper_is_detected_and_restored() {
        let (mut a, b, _mem) = agent();
        a.apply_compiled(&compiled(POLICY), ApplyReason::Start, Vec::new())
            .await
            .expect("applies");
        b.kernel().tamper(|t| {
            if let Some(items) = t
                .as_mut()
                .and_then(|v| v.get_mut("nftables"))
                .and_then(|n| n.as_array_mut())
            {
                items.push(json!({"rule": {"family": "inet", "table": "zonegate", "chain": "forward", "expr": [{"fake": "accept"}]}}));
            }
        });
        let d = a.compare().await.expect("compare").expect("baseline");
        assert_eq!(d.summary(), "chain forward: 1 rule(s) added");
        assert!(matches!(a.restore(Vec::new()).await, Restore::Converged(_)));
        assert!(a
            .compare()
            .await
            .expect("compare")
            .expect("baseline")
            .is_empty());
        // Deleting the table is repaired the same way.
        b.kernel().tamper(|t| *t = None);
        let d = a.compare().await.expect("compare").expect("baseline");
        assert_eq!(d.summary(), "table inet zonegate missing");
        assert!(matches!(a.restore(Vec::new()).await, Restore::Converged(_)));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn failed_apply_keeps_the_current_ruleset() {
        let (mut a, b, mem) = agent();
        a.apply_compiled(&compiled(POLICY), ApplyReason::Start, Vec::new())
            .await
            .expect("applies");
        let before = b.kernel().table.clone();
        b.kernel().fail_next = Some("Error: Could not process rule".into());
        let changed = compiled(&POLICY.replace("tcp/8080", "tcp/8081"));
        assert!(a
            .apply_compiled(&changed, ApplyReason::Reload, Vec::new())
            .await
            .is_err());
        assert_eq!(b.kernel().table, before);
        assert!(mem.take().iter().any(|e| e.kind.name() == "apply-failed"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn lockdown_loads_and_is_the_lkg() {
        let (mut a, b, mem) = agent();
        a.apply_lockdown("no policy", None).await.expect("lockdown");
        assert!(b.kernel().applied[0].contains("lockdown"));
        let lkg = a.state.load_lkg().expect("lkg").expect("stored");
        assert_eq!(lkg.kind, LkgKind::Lockdown);
        assert!(mem
            .take()
            .iter()
            .any(|e| e.kind.name() == "lockdown-applied"));
    }

    #[test]
    fn flow_diff_by_id() {
        let a = compiled(POLICY).ruleset.metadata;
        let b = compiled(&POLICY.replace("tcp/8080", "tcp/9090"))
            .ruleset
            .metadata;
        let d = flow_diff(Some(&a), Some(&b));
        assert_eq!(d.changed, vec!["F-1".to_string()]);
        assert!(d.added.is_empty() && d.removed.is_empty());
        assert_eq!(flow_diff(None, Some(&a)).added.len(), 2);
    }
}
