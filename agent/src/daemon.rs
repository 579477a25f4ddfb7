//! `zonegate-agent run`: start up fail-closed, then watch and repair, on one task.
//!
//! Start: read the last-known-good (its compile time floors the clock), read the live table,
//! compile the policy. Enforce: apply it unless the same ruleset is already loaded; with no valid
//! policy load the LKG; with neither, keep a loaded zonegate table (unless it is a lockdown and
//! agent.toml names management entries: then the agent's lockdown with them), else load the lockdown.
//! Monitor and dry-run never write: they take the LKG's listing (or the live table) as the
//! baseline and report.
//!
//! Then one `select!` loop: netlink generation notices (foreign writer, or ENOBUFS: compare),
//! a periodic full compare, link changes and foreign writes (bypass scan), SIGHUP and settled
//! policy writes (reload), the expiry timerfd (recompile at the boundary, or at once after a
//! clock step), control-socket requests (apply, confirm-ok), the confirmation deadline
//! (rollback), heartbeats and systemd watchdog pings. SIGTERM stops the loop and leaves the
//! ruleset in place.

use crate::agent::{Agent, Current, Loaded, PolicyOutcome, Restore};
use crate::alerting::{counters_from, key_counts_from, Alerting, SyncNeed};
use crate::apply::{AnyWatch, NoWatch};
use crate::backend::nft::NftBackend;
use crate::backend::{Backend, Kernel, ReadOnly};
use crate::bypass::{self, Inventory};
use crate::change_control::{self, OnWrite};
use crate::config::{AgentConfig, Mode};
use crate::conntrack;
use crate::control::{self, Request, Response};
use crate::debounce::{Burst, Limiter, RestoreCap};
use crate::drift::{diff, explained_by, notice_lines};
use crate::events::{ApplyReason, ConntrackReport, EventKind, Events, Writer};
use crate::listing::TableState;
use crate::netlink::conntrack::CtEntry;
use crate::netlink::link::{self, LinkEvents};
use crate::netlink::nftables::{Batch, GenWatch, NftMonitor};
use crate::netlink::notices::Pending;
use crate::notify::Notifier;
use crate::plan;
use crate::policy_source;
use crate::state::LastKnownGood;
use crate::status::Status;
use crate::watch_file::{PolicyWatch, SETTLE};
use sha2::Digest as _;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

/// Shortest time between two compares of a burst (the leading edge is immediate).
const COMPARE_GAP: Duration = Duration::from_millis(5);
/// A tamper burst ends after this long without drift.
const BURST_QUIET: Duration = Duration::from_secs(1);
/// Compare delay after a foreign transaction that did not name our table.
const UNTOUCHED_DELAY: Duration = Duration::from_millis(100);
/// Shortest time between two bypass scans.
const SCAN_GAP: Duration = Duration::from_millis(500);
/// Heartbeat period without an alert pipeline (with one: `[alerts] heartbeat_secs`).
const HEARTBEAT: Duration = Duration::from_secs(60);
/// `detected_by` of drift found by the periodic full compare.
const PERIODIC: &str = "periodic-compare";
/// Most time a clean stop gives the alert sinks to deliver what is queued (the rest stays on
/// disk for the next start).
const STOP_DELIVERY: Duration = Duration::from_secs(1);
/// Foreign transactions whose notices are kept for one compare.
const MAX_NOTICE_TXNS: usize = 16;
/// Restores in a row that do not converge before the agent stops restoring for a minute.
const NOT_CONVERGING_MAX: u32 = 3;
/// Most tamper-window connections remembered.
const WINDOW_MAX: usize = 100_000;
/// Expiry timer when no flow expires: re-check daily (and on every clock step).
const DAILY: Duration = Duration::from_secs(24 * 3600);

type Core = Agent<Kernel<NftBackend>, AnyWatch>;
type ListingResult = Result<Option<TableState>, String>;

/// A full compare in flight. Its listing (70 ms for a 10,000-host table, plus parsing) is taken
/// off the loop so that a tamper arriving meanwhile is repaired at once, not after it.
struct Inflight {
    id: u64,
    abort: [tokio::task::AbortHandle; 2],
    cause: Option<&'static str>,
    purpose: Purpose,
}

/// Why a listing is being taken.
enum Purpose {
    /// A full compare: report and repair drift.
    Compare,
    /// The check at the quiet end of a burst (drift-restored when clean).
    BurstEnd,
    /// The read-back of our own restore: must equal the baseline; then conntrack upkeep with
    /// the tamper window's connections.
    Verify { window: Vec<CtEntry>, blind: bool },
}
type ControlMsg = (Request, oneshot::Sender<Response>);

/// A pending `apply --confirm`.
struct Confirm {
    deadline: Instant,
    previous: Option<LastKnownGood>,
}

pub struct Daemon {
    agent: Core,
    limiter: Limiter,
    compare_at: Option<Instant>,
    burst: Burst,
    burst_report: ConntrackReport,
    burst_summaries: Vec<String>,
    cap: RestoreCap,
    not_converging: u32,
    window_open: bool,
    window: Vec<CtEntry>,
    /// A foreign transaction named our table during an active burst: restore without listing
    /// first (the burst's diff is already reported).
    fast_restore: bool,
    /// A foreign transaction named our table outside a burst (enforce): repair at once, with
    /// a listing started just before the repair as the evidence.
    repair_first: bool,
    /// What the kernel's notices said those transactions did (evidence when the listing came
    /// after the repair).
    notices: Vec<Pending>,
    /// A listing, compile or apply ran since the heap was last trimmed.
    heap_dirty: bool,
    /// The full compare whose listing is being taken off the loop, if any.
    inflight: Option<Inflight>,
    /// Where finished listings arrive (`run` holds the receiver).
    listings: mpsc::UnboundedSender<(u64, ListingResult)>,
    listings_rx: Option<mpsc::UnboundedReceiver<(u64, ListingResult)>>,
    next_listing: u64,
    /// A compare was asked for while one was in flight: run another when it is in.
    compare_again: Option<&'static str>,
    last_writer: Option<Writer>,
    reported_drift: Option<String>,
    scan_at: Option<Instant>,
    last_scan: Option<Instant>,
    inventory: Inventory,
    settle_at: Option<Instant>,
    confirm: Option<Confirm>,
    /// The policy file differs from the applied policy (a change saved, not applied).
    staged: Option<change_control::Staged>,
    overflow_reported: Option<Instant>,
    status: Arc<Mutex<Status>>,
    notifier: Notifier,
    /// The alert pipeline and the denied-flow monitor (None: events are only logged).
    alerting: Option<Alerting>,
    /// What scheduled the pending compare (the drift alert's `detected_by`).
    compare_cause: Option<&'static str>,
    /// The diff reported when the current burst began (for drift-restored).
    burst_diff: Option<String>,
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(3600 * 24 * 365)
}

fn tokio_at(t: Option<Instant>) -> tokio::time::Instant {
    tokio::time::Instant::from_std(t.unwrap_or_else(far))
}

/// Registers a duplicate of `fd` with the runtime, for readiness only (the owner keeps reading
/// through its own descriptor of the same socket).
// `AsyncFd::new` is deprecated in favour of the `unsafe` `register`, whose contract is that the
// descriptor stays open while registered. We hand over an `OwnedFd` that the `AsyncFd` owns for
// its whole life, so the contract holds; the workspace forbids `unsafe`, hence the old name.
#[allow(deprecated)]
fn async_fd(fd: impl AsFd) -> Option<AsyncFd<OwnedFd>> {
    fd.as_fd()
        .try_clone_to_owned()
        .ok()
        .and_then(|o| AsyncFd::new(o).ok())
}

/// Builds the agent for `cfg` (real kernel, read-only unless enforcing).
pub fn build(cfg: AgentConfig, events: Events) -> Core {
    let kernel = if cfg.mode.writes() {
        Kernel::Write(NftBackend::default())
    } else {
        Kernel::Read(ReadOnly {
            inner: NftBackend::default(),
            mode: cfg.mode.as_str(),
        })
    };
    let watch = match NftMonitor::open() {
        Ok(m) => AnyWatch::Netlink(m),
        Err(e) => {
            events.emit(EventKind::MonitoringDegraded {
                what: "no netlink notices".into(),
                detail: format!(
                    "cannot subscribe to nftables notices ({e}): drift is found by the periodic compare only"
                ),
            });
            AnyWatch::Blind(NoWatch)
        }
    };
    let ct: Arc<dyn conntrack::ConntrackTable> = if cfg.mode.writes() {
        Arc::new(conntrack::Netlink)
    } else {
        Arc::new(conntrack::Disabled)
    };
    Agent::new(cfg, kernel, watch, ct, events)
}

impl Daemon {
    pub fn new(agent: Core, alerting: Option<Alerting>) -> Daemon {
        let cap = RestoreCap::new(agent.cfg.max_restores_per_minute);
        let (listings, listings_rx) = mpsc::unbounded_channel();
        Daemon {
            agent,
            limiter: Limiter::new(COMPARE_GAP),
            compare_at: None,
            burst: Burst::new(BURST_QUIET),
            burst_report: ConntrackReport::default(),
            burst_summaries: Vec::new(),
            cap,
            not_converging: 0,
            window_open: false,
            window: Vec::new(),
            fast_restore: false,
            repair_first: false,
            notices: Vec::new(),
            heap_dirty: true,
            inflight: None,
            listings,
            listings_rx: Some(listings_rx),
            next_listing: 0,
            compare_again: None,
            last_writer: None,
            reported_drift: None,
            scan_at: None,
            last_scan: None,
            inventory: Inventory::default(),
            settle_at: None,
            confirm: None,
            staged: None,
            overflow_reported: None,
            status: Arc::new(Mutex::new(Status::default())),
            notifier: Notifier::from_env(),
            alerting,
            compare_cause: None,
            burst_diff: None,
        }
    }

    fn mode(&self) -> Mode {
        self.agent.cfg.mode
    }

    /// Start-up: fail closed, never gated by the policy's validity.
    pub async fn start(&mut self) {
        let lkg = self.agent.load_lkg();
        let live = match self.agent.observe().await {
            Ok(l) => l,
            Err(e) => {
                self.agent.events.emit(EventKind::MonitoringDegraded {
                    what: "cannot read the live table".into(),
                    detail: e.to_string(),
                });
                None
            }
        };
        let compiled = policy_source::load(&self.agent.cfg, &self.agent.clock);
        if self.mode() != Mode::Enforce {
            self.start_read_only(lkg, live, compiled);
            return;
        }
        // Adopt what is loaded when it is exactly the LKG.
        if let Some(l) = &lkg {
            if l.baseline.is_some() && l.baseline == live {
                self.agent.stats.last_apply = Some(l.applied_at.clone());
                self.agent.current = Some(Current { lkg: l.clone() });
            }
        }
        match compiled {
            Ok(c) => {
                let loaded =
                    self.agent.current.as_ref().is_some_and(|cur| {
                        cur.lkg.ruleset_sha256 == c.ruleset.metadata.ruleset_sha256
                    });
                if loaded {
                    info!(revision = %c.ruleset.metadata.revision, "Ruleset already loaded.");
                } else if self
                    .agent
                    .apply_compiled(&c, ApplyReason::Start, Vec::new())
                    .await
                    .is_err()
                    && self.agent.current.is_none()
                {
                    // Nothing of ours is loaded (a raced apply keeps its text as current).
                    self.fall_back(lkg, live.as_ref(), "the policy did not load")
                        .await;
                }
            }
            Err(e) => {
                if e.is_missing() {
                    warn!(
                        "{}",
                        policy_source::missing_policy_next_step(
                            &self.agent.cfg.policy,
                            crate::conflicts::lang_from_env()
                        )
                    );
                }
                let diagnostics = match &e {
                    policy_source::LoadError::Rejected { diagnostics } => diagnostics.clone(),
                    other => vec![other.to_string()],
                };
                self.agent.events.emit(EventKind::PolicyRejected {
                    path: self.agent.cfg.policy.display().to_string(),
                    diagnostics,
                    kept: lkg
                        .as_ref()
                        .map(|l| format!("last-known-good revision {}", l.revision))
                        .unwrap_or_else(|| "no last-known-good".into()),
                });
                if self.agent.current.is_none() {
                    self.fall_back(lkg, live.as_ref(), "no valid policy").await;
                }
            }
        }
    }

    /// No usable policy: the LKG, else keep a loaded zonegate table, else lockdown.
    /// A loaded lockdown (the boot unit's static one, which opens nothing) is the exception:
    /// it is replaced by the agent's lockdown when agent.toml names management entries, so a
    /// gateway without a policy stays reachable on its declared management path (issue 17).
    async fn fall_back(
        &mut self,
        lkg: Option<LastKnownGood>,
        live: Option<&crate::listing::TableState>,
        why: &str,
    ) {
        if let Some(l) = lkg {
            if self.agent.apply_lkg(l, ApplyReason::Start).await.is_ok() {
                return;
            }
        }
        // A lockdown table is recognised by its shape (nft 1.0.6 lists no table comment in
        // JSON): its only sets are the management sets, and forward has no rule.
        let live_lockdown = live.is_some_and(|t| {
            t.sets.keys().map(String::as_str).eq(["mgmt4", "mgmt6"])
                && t.chains.get("forward").is_some_and(|c| c.rules.is_empty())
        });
        let replace = live_lockdown && !self.agent.cfg.lockdown_management.is_empty();
        if live.is_some() && !replace {
            if self.agent.current.is_none() {
                self.agent.events.emit(EventKind::MonitoringDegraded {
                    what: "keeping the loaded zonegate table".into(),
                    detail: format!(
                        "{why} and no last-known-good: the zonegate table already loaded stays (not replaced by lockdown); drift in it cannot be repaired until a valid policy is applied"
                    ),
                });
            }
            return;
        }
        let _ = self.agent.apply_lockdown(why, None).await;
    }

    fn start_read_only(
        &mut self,
        lkg: Option<LastKnownGood>,
        live: Option<crate::listing::TableState>,
        compiled: Result<policy_source::Compiled, policy_source::LoadError>,
    ) {
        let repairing = false;
        let mut baseline = live.clone();
        let mut base_lkg = lkg.clone();
        if let Ok(c) = &compiled {
            let p = plan::plan(c, live.as_ref(), lkg.as_ref());
            let same = lkg
                .as_ref()
                .is_some_and(|l| l.ruleset_sha256 == c.ruleset.metadata.ruleset_sha256);
            if same {
                baseline = lkg.as_ref().and_then(|l| l.baseline.clone());
            }
            if p.has_changes() {
                let mut changes = p.flow_details.clone();
                if let plan::Live::Drifted { changes: d } = &p.live {
                    changes.extend(d.iter().cloned());
                }
                if p.live == plan::Live::Missing {
                    changes.push("table inet zonegate missing".into());
                }
                let verb = if self.mode() == Mode::DryRun {
                    "enforce would apply"
                } else {
                    "the live table differs from the policy"
                };
                let diff = changes
                    .iter()
                    .map(|c| format!("~ {c}"))
                    .collect::<Vec<_>>()
                    .join("\n");
                self.agent.events.emit(EventKind::DriftDetected {
                    summary: format!("{verb} (plan {})", p.plan_hash),
                    changes,
                    diff,
                    writer: None,
                    repairing,
                    detected_by: Some("start".into()),
                });
            }
        } else if let Some(l) = &lkg {
            baseline = l.baseline.clone();
        }
        if base_lkg.is_none() {
            if let Ok(c) = &compiled {
                base_lkg = Some(LastKnownGood {
                    format: crate::state::LKG_FORMAT,
                    kind: crate::state::LkgKind::Policy,
                    compiled_at: String::new(),
                    applied_at: String::new(),
                    source_sha256: c.source_sha256.clone(),
                    ruleset_sha256: c.ruleset.metadata.ruleset_sha256.clone(),
                    revision: c.ruleset.metadata.revision.clone(),
                    ruleset_text: c.ruleset.text.clone(),
                    metadata: Some(c.ruleset.metadata.clone()),
                    baseline: None,
                    flows: c.flows.clone(),
                    retired_marks: Default::default(),
                });
            }
        }
        if let Some(mut l) = base_lkg {
            l.baseline = baseline;
            self.agent.current = Some(Current { lkg: l });
        }
    }

    fn refresh_status(&self) {
        let a = &self.agent;
        let mut s = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        s.pid = std::process::id();
        s.gateway = a.cfg.gateway.clone();
        s.mode = a.cfg.mode.as_str().into();
        s.kind = a.current.as_ref().map(|c| {
            match c.lkg.kind {
                crate::state::LkgKind::Policy => "policy",
                crate::state::LkgKind::Lockdown => "lockdown",
            }
            .to_string()
        });
        s.revision = a.current.as_ref().map(|c| c.lkg.revision.clone());
        s.policy_name = a
            .current
            .as_ref()
            .and_then(|c| c.lkg.metadata.as_ref())
            .map(|m| m.policy.clone());
        s.signer = a.current.as_ref().and_then(Current::signer);
        s.ruleset_sha256 = a.current.as_ref().map(|c| c.lkg.ruleset_sha256.clone());
        s.policy_sha256 = a
            .current
            .as_ref()
            .and_then(|c| c.lkg.metadata.as_ref())
            .map(|m| m.policy_sha256.clone());
        s.baseline_verified = a.current.as_ref().is_some_and(|c| c.baseline().is_some());
        s.last_apply = a.stats.last_apply.clone();
        s.applies = a.stats.applies;
        s.drift_count = a.stats.drift_count;
        s.last_drift = a.stats.last_drift.clone();
        s.last_drift_at = a.stats.last_drift_at.clone();
        s.restores = a.stats.restores;
        s.repairs = a.stats.repairs;
        s.apply_failures = a.stats.apply_failures;
        s.last_apply_ms = a.stats.last_apply_ms;
        s.apply_ms_total = a.stats.apply_ms_total;
        s.conntrack_removed = a.stats.conntrack_removed;
        s.denied_windows = self.alerting.as_ref().map_or(0, |al| al.windows);
        s.denied = self.alerting.as_ref().and_then(Alerting::denied_status);
        s.bypass_findings = self.inventory.lines();
        s.uptime_s = a.started.elapsed().as_secs();
        s.staged_change = self.staged.clone();
        s.awaiting_confirmation_s = self.confirm.as_ref().map(|c| {
            c.deadline
                .saturating_duration_since(Instant::now())
                .as_secs()
        });
    }

    fn schedule_compare(&mut self, now: Instant) {
        let due = self.limiter.due(now);
        self.compare_at = Some(self.compare_at.map_or(due, |t| t.min(due)));
    }

    /// [`Daemon::schedule_compare`], remembering the first cause of the pending compare.
    /// A kernel notice names itself over a pending periodic compare.
    fn schedule_compare_for(&mut self, now: Instant, cause: &'static str) {
        if self.compare_at.is_none() || cause != PERIODIC {
            self.compare_cause = Some(cause);
        }
        self.schedule_compare(now);
    }

    /// Tells the alerts about what is loaded after anything that may have written the table:
    /// the context follows the ruleset; the denied-flow monitor follows its metadata (started
    /// once a ruleset with metadata is in force) and its counter baseline follows the table.
    async fn sync_alerts(&mut self) {
        let Some(al) = self.alerting.as_mut() else {
            return;
        };
        let writes = self.agent.kernel.writes();
        let need = al.sync(
            writes,
            self.agent.current.as_ref().map(|c| &c.lkg),
            &self.agent.cfg.gateway,
        );
        let need_baseline = match need {
            SyncNeed::Nothing => false,
            SyncNeed::CounterBaseline => true,
            SyncNeed::StartMonitor(meta) => match al.start_monitor(&meta) {
                Ok(()) => true,
                Err(e) => {
                    self.agent.events.emit(EventKind::MonitoringDegraded {
                        what: "nflog".into(),
                        detail: format!("the denied-flow monitor did not start: {e}"),
                    });
                    false
                }
            },
        };
        if need_baseline {
            if let Some((c, keys)) = self.read_counts().await {
                if let Some(al) = &self.alerting {
                    al.set_counter_baseline(&c);
                    if let Some(k) = &keys {
                        al.set_key_baseline(k);
                    }
                }
            }
        }
    }

    /// The counters and, when the ruleset has them, the per-key tables (read right after the
    /// counters; parsed off the runtime's thread, since a full table is 65,536 elements).
    async fn read_counts(
        &self,
    ) -> Option<(
        zonegate_alerts::Counters,
        Option<zonegate_alerts::KeyCounts>,
    )> {
        let json = match self.agent.kernel.list_counters().await {
            Ok(Some(json)) => json,
            Ok(None) => return None,
            Err(e) => {
                warn!(error = %e, "Cannot read the ruleset's counters.");
                return None;
            }
        };
        let counters = match counters_from(&json) {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "Cannot read the ruleset's counters.");
                return None;
            }
        };
        let names: Vec<String> = self
            .alerting
            .as_ref()
            .map(|al| al.key_sets().to_vec())
            .unwrap_or_default();
        if names.is_empty() {
            return Some((counters, None));
        }
        let mut sets = Vec::new();
        for name in names {
            match self.agent.kernel.list_key_set(&name).await {
                Ok(Some(j)) => sets.push((name, j)),
                Ok(None) => {}
                Err(e) => {
                    warn!(set = %name, error = %e, "Cannot read a per-key table; this window's counts are per zone pair only.");
                    return Some((counters, None));
                }
            }
        }
        match tokio::task::spawn_blocking(move || key_counts_from(&sets, &json)).await {
            Ok(k) => Some((counters, Some(k))),
            Err(e) => {
                warn!(error = %e, "Cannot parse the per-key tables.");
                Some((counters, None))
            }
        }
    }

    /// Closes the denied-flow window with the exact counts (once per window, and before a
    /// planned apply replaces the table and its counters).
    async fn reconcile_denied(&mut self) {
        if !self.alerting.as_ref().is_some_and(Alerting::denied_running) {
            return;
        }
        if let Some((c, keys)) = self.read_counts().await {
            if let Some(al) = self.alerting.as_mut() {
                al.reconcile(&c, keys.as_ref());
            }
        }
    }

    fn schedule_scan(&mut self, now: Instant) {
        let due = match self.last_scan {
            Some(l) if now < l + SCAN_GAP => l + SCAN_GAP,
            _ => now,
        };
        self.scan_at = Some(self.scan_at.map_or(due, |t| t.min(due)));
    }

    /// Generation notices: foreign writers trigger a compare and a bypass scan.
    fn on_batch(&mut self, batch: Batch) {
        let now = Instant::now();
        let me = std::process::id();
        let mut first_foreign = None;
        let mut touched = false;
        for (i, g) in batch.generations.iter().enumerate() {
            if g.pid != me && !self.agent.own_pids.contains(&g.pid) {
                first_foreign.get_or_insert(i);
                touched |= g.touched_ours;
                if g.touched_ours && self.notices.len() < MAX_NOTICE_TXNS {
                    self.notices.push(g.notices.clone());
                }
                if g.touched_ours || self.last_writer.is_none() {
                    self.last_writer = Some(Writer {
                        pid: g.pid,
                        comm: g.comm.clone(),
                    });
                }
            }
        }
        for (idx, e) in batch.new_connections {
            let after_foreign = first_foreign.is_some_and(|f| idx > f);
            if (self.window_open || after_foreign) && self.window.len() < WINDOW_MAX {
                self.window.push(e);
            }
        }
        if first_foreign.is_some() {
            self.window_open = true;
            if touched {
                let enforce = self.mode() == Mode::Enforce;
                self.fast_restore |= self.burst.active() && enforce;
                self.repair_first |= !self.burst.active() && enforce;
                self.schedule_compare_for(now, "netlink-event");
            } else {
                // Another table changed: our table is compared too, just not in a hurry.
                self.schedule_compare_for(now + UNTOUCHED_DELAY, "netlink-event");
            }
            self.schedule_scan(now);
        }
        if batch.overflow {
            if self
                .overflow_reported
                .is_none_or(|t| now.duration_since(t) > Duration::from_secs(60))
            {
                self.overflow_reported = Some(now);
                self.agent.events.emit(EventKind::MonitoringDegraded {
                    what: "netlink notices lost".into(),
                    detail: "the kernel dropped nftables notices (ENOBUFS); comparing the whole table now".into(),
                });
            }
            self.window_open = true;
            self.schedule_compare_for(now, "netlink-overflow");
            self.schedule_scan(now);
        }
    }

    /// Gives back the heap of the last listing or compile, once no tamper burst is running
    /// (inside one, the next repair would only fault the same pages in again).
    fn trim_heap(&mut self) {
        if self.heap_dirty && !self.burst.active() {
            self.heap_dirty = false;
            crate::memory::release_free_heap();
        }
    }

    /// Compares the live table with the baseline and repairs it (enforce).
    async fn compare(&mut self) {
        self.heap_dirty = true;
        let now = Instant::now();
        self.limiter.ran(now);
        self.compare_at = None;
        let cause = self.compare_cause.take();
        let notices = std::mem::take(&mut self.notices);
        let repair_first = std::mem::take(&mut self.repair_first);
        if self.mode() == Mode::Enforce {
            match &self.agent.current {
                None => {
                    // Kept an unknown table with no policy and no LKG: if it disappears, lock down.
                    if let Ok(None) = self.agent.observe().await {
                        let _ = self
                            .agent
                            .apply_lockdown(
                                "no policy, no last-known-good, and the zonegate table was removed",
                                None,
                            )
                            .await;
                    }
                    return;
                }
                Some(c) if c.baseline().is_none() => {
                    // A raced apply: restoring establishes the baseline.
                    self.cancel_listing();
                    let window = std::mem::take(&mut self.window);
                    if let Restore::Raced = self.agent.restore(window).await {
                        self.schedule_compare(Instant::now());
                    }
                    return;
                }
                Some(_) => {}
            }
        }
        let enforce = self.mode() == Mode::Enforce;
        let fast = std::mem::take(&mut self.fast_restore) && enforce && self.burst.active();
        if fast {
            // Mid-burst: the burst's diff is reported; repair first, the read-back verifies.
            self.burst.drift(now);
            self.restore_now(now, "tamper continues (mid-burst repair)".into())
                .await;
            return;
        }
        if repair_first && enforce {
            self.repair_then_report(now, cause, notices).await;
            return;
        }
        if self.inflight.is_some() {
            // That listing may predate what asked for this compare: another follows it.
            self.compare_again.get_or_insert(cause.unwrap_or(PERIODIC));
            return;
        }
        self.start_listing(cause, Purpose::Compare);
    }

    /// Starts a full compare: the listing runs off the loop and arrives in `compared`.
    fn start_listing(&mut self, cause: Option<&'static str>, purpose: Purpose) {
        let listing = match self.agent.kernel.reader().start_list_table() {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, "Cannot list the table.");
                if let Purpose::Verify { window, .. } = purpose {
                    self.window.extend(window);
                }
                return;
            }
        };
        self.next_listing += 1;
        let id = self.next_listing;
        let tx = self.listings.clone();
        let inner = listing.abort_handle();
        let forward = tokio::spawn(async move {
            let r = listing.await.unwrap_or_else(|e| Err(e.to_string()));
            let _ = tx.send((id, r));
        });
        self.inflight = Some(Inflight {
            id,
            abort: [inner, forward.abort_handle()],
            cause,
            purpose,
        });
    }

    /// Drops the compare in flight: the kernel is about to be written, so its listing is stale.
    fn cancel_listing(&mut self) {
        if let Some(i) = self.inflight.take() {
            for a in i.abort {
                a.abort();
            }
            if let Purpose::Verify { window, .. } = i.purpose {
                // The next restore's upkeep takes these connections.
                self.window.extend(window);
            }
        }
    }

    /// A full compare's listing is in: report and repair drift, or end the burst.
    async fn compared(&mut self, id: u64, result: ListingResult) {
        if self.inflight.as_ref().is_none_or(|i| i.id != id) {
            return; // cancelled
        }
        let Some(inflight) = self.inflight.take() else {
            return;
        };
        self.heap_dirty = true;
        let now = Instant::now();
        match inflight.purpose {
            Purpose::BurstEnd => self.burst_checked(result, now),
            Purpose::Compare => self.compared_full(result, inflight.cause, now).await,
            Purpose::Verify { window, blind } => self.verified(result, window, blind, now).await,
        }
        if let Some(cause) = self.compare_again.take() {
            self.schedule_compare_for(now, cause);
        }
    }

    async fn compared_full(
        &mut self,
        result: ListingResult,
        cause: Option<&'static str>,
        now: Instant,
    ) {
        let observed = match result {
            Ok(o) => o,
            Err(e) => {
                warn!(error = %e, "Cannot compare the table.");
                return;
            }
        };
        let Some(baseline) = self.baseline() else {
            return;
        };
        let drift = diff(Some(baseline), observed.as_ref());
        let enforce = self.mode() == Mode::Enforce;
        if drift.is_empty() {
            self.reported_drift = None;
            if !self.burst.active() {
                self.window_open = false;
                self.window.clear();
            }
            return;
        }
        let summary = drift.summary();
        let new_burst = self.burst.drift(now);
        if new_burst {
            self.burst_summaries.clear();
        }
        if new_burst && (enforce || self.reported_drift.as_deref() != Some(summary.as_str())) {
            self.burst_report = ConntrackReport::default();
            self.report_drift(
                summary.clone(),
                drift.lines(),
                drift.diff_text(),
                cause.unwrap_or(PERIODIC),
            );
        } else {
            self.note_summary(&summary);
        }
        if !enforce {
            return;
        }
        self.restore_now(now, summary).await;
    }

    /// Repairs first, reports after: the tamper of a large table is undone in the time of one
    /// load instead of a listing, a compare and a load. The evidence is a listing started just
    /// before the repair, when the notices account for all it shows (a listing overtaken by the
    /// repair, or taken while it commits, is not evidence); failing that, what the kernel's
    /// change notices said.
    async fn repair_then_report(
        &mut self,
        now: Instant,
        cause: Option<&'static str>,
        notices: Vec<Pending>,
    ) {
        self.cancel_listing();
        let snapshot = match &self.agent.kernel {
            Kernel::Write(b) => b
                .start_list_table()
                .inspect_err(|e| warn!(error = %e, "Cannot list the table before repairing it."))
                .ok(),
            Kernel::Read(_) => None,
        };
        self.burst.drift(now);
        self.burst_summaries.clear();
        self.burst_report = ConntrackReport::default();
        let from_notices = notice_lines(&notices, self.baseline());
        self.restore_now(now, summary_of(&from_notices)).await;
        let observed = match snapshot {
            Some(task) => match task.await.unwrap_or_else(|e| Err(e.to_string())) {
                Ok(state) => Some(state),
                Err(e) => {
                    warn!(error = %e, "Listing the table before the repair failed.");
                    None
                }
            },
            None => None,
        };
        let drift = observed.map(|o| diff(self.baseline(), o.as_ref()));
        match drift {
            Some(d) if !d.is_empty() && explained_by(&d, &notices) => {
                // The notices' own account follows the listing's, so the alert reads the same
                // whoever won the race between the listing and the repair.
                let mut text = d.diff_text();
                if !from_notices.is_empty() {
                    text.push_str("The kernel's change notices for table inet zonegate said:\n");
                    for l in &from_notices {
                        text.push_str(l);
                        text.push('\n');
                    }
                }
                self.report_drift(d.summary(), d.lines(), text, cause.unwrap_or(PERIODIC))
            }
            _ => {
                let mut diff = String::from(
                    "No listing shows this write on its own (the table was listed while or after \
                     it was repaired, or the write changed nothing visible); the kernel's change \
                     notices for table inet zonegate said:\n",
                );
                for l in &from_notices {
                    diff.push_str(l);
                    diff.push('\n');
                }
                self.report_drift(
                    summary_of(&from_notices),
                    from_notices,
                    diff,
                    cause.unwrap_or(PERIODIC),
                );
            }
        }
    }

    fn baseline(&self) -> Option<&TableState> {
        self.agent.current.as_ref().and_then(Current::baseline)
    }

    fn note_summary(&mut self, summary: &str) {
        if self.burst_summaries.len() < 20 && !self.burst_summaries.iter().any(|s| s == summary) {
            self.burst_summaries.push(summary.to_string());
        }
    }

    /// Counts a new drift and raises its event.
    fn report_drift(&mut self, summary: String, changes: Vec<String>, diff: String, cause: &str) {
        self.note_summary(&summary);
        let enforce = self.mode() == Mode::Enforce;
        self.agent.stats.drift_count += 1;
        self.agent.stats.last_drift = Some(summary.clone());
        self.agent.stats.last_drift_at = Some(jiff::Timestamp::now().to_string());
        self.reported_drift = Some(summary.clone());
        self.burst_diff = Some(diff.clone());
        self.agent.events.emit(EventKind::DriftDetected {
            summary,
            changes,
            diff,
            writer: self.last_writer.clone(),
            repairing: enforce,
            detected_by: Some(cause.to_string()),
        });
    }

    /// Restores the baseline (within the per-minute cap) and handles the outcome.
    async fn restore_now(&mut self, now: Instant, summary: String) {
        self.cancel_listing();
        if !self.cap.allow(now) {
            if !self.cap.reported {
                self.cap.reported = true;
                let recent = self.cap.recent(now);
                self.agent.events.emit(EventKind::RestoresCapped {
                    restores_last_minute: recent,
                    cap: self.cap.cap(),
                    last_summary: summary,
                });
            }
            self.compare_at = self.cap.next_allowed();
            return;
        }
        let window = std::mem::take(&mut self.window);
        match self.agent.restore_load(window).await {
            Loaded::Verify { window, blind } => {
                self.burst.restores += 1;
                self.start_listing(None, Purpose::Verify { window, blind });
            }
            Loaded::Raced { window, touched } => {
                self.burst.restores += 1;
                self.window.extend(window);
                // The writer is still at it: repair again without listing first.
                self.fast_restore |= touched && self.mode() == Mode::Enforce;
                self.schedule_compare(Instant::now());
            }
            Loaded::Failed(e) => {
                self.agent.apply_failed("restore", &e);
                self.compare_at = Some(Instant::now() + Duration::from_secs(1));
            }
            Loaded::NoBaseline => {}
        }
        // Keep the burst alive until the quiet period after the last repair.
        self.burst.drift(Instant::now());
    }

    /// The read-back of a restore is in: converged (conntrack upkeep), or another writer got
    /// in between (compare again), or the restore does not converge (after three in a row,
    /// stop restoring for a minute and say so).
    async fn verified(
        &mut self,
        result: ListingResult,
        window: Vec<CtEntry>,
        blind: bool,
        now: Instant,
    ) {
        let observed = match result {
            Ok(o) => o,
            Err(e) => {
                self.window.extend(window);
                self.agent.apply_failed("restore read-back", &e);
                self.compare_at = Some(now + Duration::from_secs(1));
                return;
            }
        };
        if observed.is_some() && observed.as_ref() == self.baseline() {
            self.not_converging = 0;
            let report = self.agent.restore_upkeep(window).await;
            merge(&mut self.burst_report, &report);
            return;
        }
        self.window.extend(window);
        // A writer may have committed after our load; its notice may still be queued.
        let batch = self.agent.watch.drain();
        self.on_batch(batch);
        let raced = blind || self.fast_restore || self.repair_first;
        if raced {
            self.schedule_compare(now);
            return;
        }
        let drift = diff(self.baseline(), observed.as_ref());
        self.not_converging += 1;
        if self.not_converging >= NOT_CONVERGING_MAX {
            self.cap.exhaust(now);
            self.cap.reported = true;
            self.not_converging = 0;
            let recent = self.cap.recent(now);
            self.agent.events.emit(EventKind::RestoresCapped {
                restores_last_minute: recent,
                cap: self.cap.cap(),
                last_summary: format!("restores do not converge: {}", drift.summary()),
            });
            self.compare_at = self.cap.next_allowed();
        } else {
            self.schedule_compare(now);
        }
    }

    /// A burst went quiet: confirm the table is clean (off the loop) and report the repair.
    /// The burst stays open until that check is in, so a tamper meanwhile belongs to it.
    fn end_burst(&mut self) {
        let now = Instant::now();
        if self.burst.ends_at().is_none_or(|end| now < end) {
            return;
        }
        if self.mode() != Mode::Enforce {
            self.end_quiet_burst(now);
            return;
        }
        self.cancel_listing();
        self.start_listing(None, Purpose::BurstEnd);
        if self.inflight.is_none() {
            // Cannot even list: look again after another quiet period.
            self.burst.drift(now);
        }
    }

    /// Ends the burst; its length.
    fn end_quiet_burst(&mut self, now: Instant) -> Option<Duration> {
        let len = self.burst.end_if_quiet(now)?;
        self.window_open = false;
        self.window.clear();
        Some(len)
    }

    /// The end-of-burst check is in.
    fn burst_checked(&mut self, result: ListingResult, now: Instant) {
        let clean = match (&result, self.baseline()) {
            (Ok(Some(observed)), Some(baseline)) => observed == baseline,
            _ => false,
        };
        if !clean {
            if let Err(e) = result {
                warn!(error = %e, "Cannot confirm the repair; looking again.");
                self.burst.drift(now);
            } else {
                self.schedule_compare(now);
            }
            return;
        }
        let Some(len) = self.end_quiet_burst(now) else {
            return;
        };
        self.agent.stats.repairs += 1;
        self.agent.events.emit(EventKind::DriftRestored {
            restores: self.burst.restores,
            burst_ms: len.as_millis() as u64,
            conntrack: std::mem::take(&mut self.burst_report),
            summaries: std::mem::take(&mut self.burst_summaries),
            diff: self.burst_diff.take(),
        });
    }

    async fn scan(&mut self) {
        self.heap_dirty = true;
        let now = Instant::now();
        self.last_scan = Some(now);
        self.scan_at = None;
        let mut findings = Vec::new();
        match self.agent.kernel.list_tables().await {
            Ok(tables) => {
                for t in tables {
                    if t.family == zonegate_policy::names::FAMILY
                        && t.name == zonegate_policy::names::TABLE
                    {
                        continue;
                    }
                    if !bypass::plain_name(&t.name) {
                        findings.push(bypass::Finding {
                            kind: "foreign-table".into(),
                            subject: format!("table {} (unusual name)", t.family),
                            detail: format!("{:?}", t.name),
                            why: "a table whose name nft cannot be asked about safely".into(),
                        });
                        continue;
                    }
                    if let Ok(Some(listing)) = self.agent.kernel.list_other(&t).await {
                        findings.extend(bypass::scan_table(&t.family, &t.name, &listing));
                    }
                }
            }
            Err(e) => warn!(error = %e, "Cannot list tables for the bypass scan."),
        }
        let zone_ifaces = self
            .agent
            .current
            .as_ref()
            .and_then(|c| c.lkg.metadata.as_ref())
            .map(|m| m.interfaces.clone())
            .unwrap_or_default();
        if let Ok(Ok(links)) = tokio::task::spawn_blocking(link::dump).await {
            findings.extend(bypass::scan_links(&links, &zone_ifaces));
        }
        let read = |p: &str| std::fs::read_to_string(format!("/proc/sys/net/{p}")).ok();
        let ifaces: Vec<String> = zone_ifaces.keys().cloned().collect();
        findings.extend(bypass::scan_sysctls(&read, &ifaces));
        findings.extend(bypass::scan_arp(&read, &zone_ifaces));
        let read_net = |p: &str| std::fs::read_to_string(format!("/proc/net/{p}")).ok();
        findings.extend(bypass::scan_legacy(&read_net));
        for e in self.inventory.update(findings) {
            self.agent.events.emit(e);
        }
        self.agent.stats.bypass_findings = self.inventory.lines();
    }

    /// SIGHUP, settled writes with `auto_apply`, expiry, control `apply`; afterwards the
    /// staged change is looked at again (an apply of the file clears it).
    async fn reload(
        &mut self,
        reason: ApplyReason,
        plan_hash: Option<&str>,
        force: bool,
    ) -> PolicyOutcome {
        let o = self.reload_file(reason, plan_hash, force).await;
        self.look_for_staged();
        o
    }

    async fn reload_file(
        &mut self,
        reason: ApplyReason,
        plan_hash: Option<&str>,
        force: bool,
    ) -> PolicyOutcome {
        self.heap_dirty = true;
        self.cancel_listing();
        if self.mode() != Mode::Enforce {
            let compiled = policy_source::load(&self.agent.cfg, &self.agent.clock);
            return match compiled {
                Ok(c) => {
                    let live = self.agent.observe().await.ok().flatten();
                    let lkg = self.agent.current.as_ref().map(|c| c.lkg.clone());
                    let p = plan::plan(&c, live.as_ref(), lkg.as_ref());
                    info!(plan = %p.plan_hash, changes = p.has_changes(), "Policy reloaded; not applied in this mode.");
                    PolicyOutcome::Unchanged {
                        revision: c.ruleset.metadata.revision.clone(),
                    }
                }
                Err(e) => {
                    self.agent.events.emit(EventKind::PolicyRejected {
                        path: self.agent.cfg.policy.display().to_string(),
                        diagnostics: match &e {
                            policy_source::LoadError::Rejected { diagnostics } => {
                                diagnostics.clone()
                            }
                            other => vec![other.to_string()],
                        },
                        kept: "nothing is written in this mode".into(),
                    });
                    PolicyOutcome::Rejected {
                        message: e.to_string(),
                    }
                }
            };
        }
        let window = std::mem::take(&mut self.window);
        drop(window);
        // An apply replaces the table and restarts its counters: close the denied-flow window
        // with what they counted so far, so no denied packet goes uncounted.
        self.reconcile_denied().await;
        self.agent.apply_policy_file(reason, plan_hash, force).await
    }

    /// A settled write of the policy file: staged (the default), or applied with a confirm
    /// window when agent.toml opts in to `auto_apply`.
    async fn on_settled_write(&mut self) {
        let cfg = &self.agent.cfg;
        match change_control::on_settled_write(cfg.auto_apply, cfg.auto_apply_confirm) {
            OnWrite::Stage => {
                self.look_for_staged();
                if let Some(s) = &self.staged {
                    info!(
                        file_sha256 = %s.file_sha256,
                        since = %s.since,
                        "The policy file changed and is staged, not applied; apply it with `zonegate-agent apply` (or `systemctl reload zonegate-agent`) after `zonegate-agent plan`."
                    );
                }
            }
            OnWrite::ApplyWithConfirm(window) if self.mode() == Mode::Enforce => {
                let previous = self.agent.current.as_ref().map(|c| c.lkg.clone());
                let o = self.reload(ApplyReason::Reload, None, false).await;
                if matches!(o, PolicyOutcome::Applied { .. }) {
                    self.confirm = Some(Confirm {
                        deadline: Instant::now() + window,
                        previous,
                    });
                    warn!(
                        window_s = window.as_secs(),
                        "Applied a settled write of the policy (auto_apply); it is rolled back unless `zonegate-agent apply --confirm-ok` arrives in time."
                    );
                } else {
                    info!(outcome = ?o, "A settled write of the policy was not applied.");
                }
                self.look_for_staged();
            }
            OnWrite::ApplyWithConfirm(_) => {
                let o = self.reload(ApplyReason::Reload, None, false).await;
                info!(outcome = ?o, "Policy re-read after a settled write; not applied in this mode.");
                self.look_for_staged();
            }
        }
    }

    /// Compares the policy file on disk with the applied policy.
    fn look_for_staged(&mut self) {
        let file = std::fs::read(&self.agent.cfg.policy)
            .ok()
            .map(|b| crate::listing::hex(&sha2::Sha256::digest(&b)));
        let applied = self
            .agent
            .current
            .as_ref()
            .filter(|c| c.lkg.kind == crate::state::LkgKind::Policy)
            .map(|c| c.lkg.source_sha256.clone());
        self.staged = change_control::staged_after(
            file.as_deref(),
            applied.as_deref(),
            self.staged.take(),
            jiff::Timestamp::now(),
        );
    }

    async fn rollback(&mut self, previous: Option<LastKnownGood>) {
        self.heap_dirty = true;
        self.cancel_listing();
        match previous {
            Some(l) => {
                self.reconcile_denied().await;
                let _ = self.agent.apply_lkg(l, ApplyReason::Rollback).await;
            }
            None => self.agent.apply_failed(
                "rollback",
                "no previous ruleset was recorded; the unconfirmed ruleset stays",
            ),
        }
        self.look_for_staged();
    }

    async fn on_control(&mut self, req: Request) -> Response {
        match req {
            Request::Status => {
                self.refresh_status();
                let mut r = Response::ok("status");
                r.status = Some(
                    self.status
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone(),
                );
                r
            }
            Request::ConfirmOk => match self.confirm.take() {
                Some(_) => Response::ok("Confirmed: the new ruleset stays."),
                None => Response::err("No apply is awaiting confirmation."),
            },
            Request::Reload => {
                outcome_response(self.reload(ApplyReason::Reload, None, false).await)
            }
            Request::Apply {
                plan_hash,
                confirm_s,
            } => {
                if self.mode() != Mode::Enforce {
                    return Response::err(format!(
                        "the agent runs in {} mode and does not write; change mode in agent.toml",
                        self.mode().as_str()
                    ));
                }
                let previous = self.agent.current.as_ref().map(|c| c.lkg.clone());
                let outcome = self
                    .reload(ApplyReason::Command, plan_hash.as_deref(), true)
                    .await;
                let applied = matches!(outcome, PolicyOutcome::Applied { .. });
                let mut r = outcome_response(outcome);
                if applied {
                    if let Some(s) = confirm_s {
                        self.confirm = Some(Confirm {
                            deadline: Instant::now() + Duration::from_secs(s.min(3600)),
                            previous,
                        });
                        r.message.push_str(&format!(
                            "\nConfirm within {s} s with `zonegate-agent apply --confirm-ok`, or it is rolled back."
                        ));
                    }
                }
                r
            }
        }
    }

    fn arm_expiry(&self, timer: &nix::sys::timerfd::TimerFd) {
        use nix::sys::time::{TimeSpec, TimeValLike};
        use nix::sys::timerfd::{Expiration, TimerSetTimeFlags};
        let now = jiff::Timestamp::now();
        let boundary = self
            .agent
            .current
            .as_ref()
            .and_then(|c| c.lkg.metadata.as_ref())
            .and_then(|m| {
                m.next_expiry
                    .as_ref()
                    .and_then(|d| crate::clock::expiry_boundary(d, &m.timezone).ok())
            })
            .filter(|b| *b > now)
            .unwrap_or_else(|| now + jiff::SignedDuration::from_secs(DAILY.as_secs() as i64));
        let ts = TimeSpec::nanoseconds(boundary.as_nanosecond() as i64);
        let _ = timer.set(
            Expiration::OneShot(ts),
            TimerSetTimeFlags::TFD_TIMER_ABSTIME | TimerSetTimeFlags::TFD_TIMER_CANCEL_ON_SET,
        );
    }

    /// The main loop; returns when asked to stop.
    pub async fn run(mut self, control: Option<tokio::net::UnixListener>) {
        let Some(mut listings_rx) = self.listings_rx.take() else {
            return;
        };
        let (ctl_tx, mut ctl_rx) = mpsc::channel::<ControlMsg>(16);
        if let Some(listener) = control {
            let status = self.status.clone();
            tokio::spawn(serve_control(listener, ctl_tx, status));
        }
        if let Some(addr) = self.agent.cfg.metrics_address.clone() {
            match tokio::net::TcpListener::bind(&addr).await {
                Ok(l) => {
                    let alerts = self.alerting.as_ref().map(|a| a.pipeline.clone());
                    tokio::spawn(crate::metrics::serve(l, self.status.clone(), alerts));
                }
                Err(e) => {
                    self.agent.events.emit(EventKind::MonitoringDegraded {
                        what: "metrics endpoint".into(),
                        detail: format!("cannot listen on {addr}: {e}"),
                    });
                }
            }
        }
        let nft_fd = match &self.agent.watch {
            AnyWatch::Netlink(m) => async_fd(m.socket()),
            AnyWatch::Blind(_) => None,
        };
        let mut links = LinkEvents::open().ok();
        let link_fd = links.as_ref().and_then(|l| async_fd(l.socket()));
        let policy_watch = PolicyWatch::open(&self.agent.cfg.policy).ok();
        let policy_fd = policy_watch.as_ref().and_then(async_fd);
        let timer = nix::sys::timerfd::TimerFd::new(
            nix::sys::timerfd::ClockId::CLOCK_REALTIME,
            nix::sys::timerfd::TimerFlags::TFD_NONBLOCK
                | nix::sys::timerfd::TimerFlags::TFD_CLOEXEC,
        )
        .ok();
        if let Some(t) = &timer {
            self.arm_expiry(t);
        }
        let timer_fd = timer.as_ref().and_then(async_fd);
        let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            warn!("Cannot install signal handlers.");
            return;
        };
        let mut periodic = tokio::time::interval(self.agent.cfg.check_interval);
        periodic.tick().await;
        let heartbeat_every = match &self.alerting {
            Some(a) => a.heartbeat_every(),
            None => Some(HEARTBEAT),
        };
        let mut heartbeat = heartbeat_every.map(|every| {
            let mut i = tokio::time::interval(every);
            // After a stall, one heartbeat, not a burst of them.
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        self.sync_alerts().await;
        let mut denied_tick: Option<tokio::time::Interval> = None;
        let watchdog_every = Notifier::watchdog_interval().unwrap_or(Duration::from_secs(3600));
        let mut watchdog = tokio::time::interval(watchdog_every);
        self.schedule_scan(Instant::now());
        self.refresh_status();
        let ready = match &self.agent.current {
            Some(c) => format!("{} revision {}", self.mode().as_str(), c.revision()),
            None => format!("{} without a ruleset", self.mode().as_str()),
        };
        self.trim_heap();
        self.notifier.ready(&ready);
        info!(mode = self.mode().as_str(), "Watching.");
        loop {
            if denied_tick.is_none() {
                if let Some(w) = self.alerting.as_ref().and_then(Alerting::denied_window) {
                    let mut i = tokio::time::interval_at(tokio::time::Instant::now() + w, w);
                    // A late window closes once: two back to back would split its counts.
                    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    denied_tick = Some(i);
                }
            }
            // While the end-of-burst check is in flight, its result ends the burst; while a
            // restore's read-back is, the burst is not over.
            let burst_end = self.burst.ends_at().filter(|_| {
                !self
                    .inflight
                    .as_ref()
                    .is_some_and(|i| !matches!(i.purpose, Purpose::Compare))
            });
            let confirm_at = self.confirm.as_ref().map(|c| c.deadline);
            tokio::select! {
                biased;
                _ = term.recv() => break,
                _ = int.recv() => break,
                r = readable(&nft_fd) => {
                    if let Ok(mut guard) = r {
                        let batch = self.agent.watch.drain();
                        guard.clear_ready();
                        self.on_batch(batch);
                    }
                }
                _ = tokio::time::sleep_until(tokio_at(self.compare_at)), if self.compare_at.is_some() => {
                    self.compare().await;
                }
                Some((id, listing)) = listings_rx.recv() => {
                    self.compared(id, listing).await;
                }
                _ = hup.recv() => {
                    let o = self.reload(ApplyReason::Reload, None, false).await;
                    info!(outcome = ?o, "Reloaded on SIGHUP.");
                    if let Some(t) = &timer { self.arm_expiry(t); }
                }
                r = readable(&link_fd) => {
                    if let Ok(mut guard) = r {
                        if let Some(l) = links.as_mut() { l.drain(); }
                        guard.clear_ready();
                        self.schedule_scan(Instant::now());
                    }
                }
                r = readable(&policy_fd) => {
                    if let Ok(mut guard) = r {
                        let (activity, finished) = policy_watch.as_ref().map(|w| w.drain()).unwrap_or_default();
                        guard.clear_ready();
                        if finished || (activity && self.settle_at.is_some()) {
                            self.settle_at = Some(Instant::now() + SETTLE);
                        }
                    }
                }
                _ = tokio::time::sleep_until(tokio_at(self.settle_at)), if self.settle_at.is_some() => {
                    self.settle_at = None;
                    self.on_settled_write().await;
                    if let Some(t) = &timer { self.arm_expiry(t); }
                }
                r = readable(&timer_fd) => {
                    if let Ok(mut guard) = r {
                        let mut buf = [0u8; 8];
                        let stepped = match timer.as_ref().map(|t| nix::unistd::read(t, &mut buf)) {
                            Some(Err(nix::errno::Errno::ECANCELED)) => true,
                            Some(Err(nix::errno::Errno::EAGAIN)) => { guard.clear_ready(); continue; }
                            _ => false,
                        };
                        guard.clear_ready();
                        if stepped {
                            self.agent.events.emit(EventKind::MonitoringDegraded {
                                what: "clock stepped".into(),
                                detail: format!("the wall clock was set; now {}; re-evaluating expiry", jiff::Timestamp::now()),
                            });
                        }
                        let o = self.reload(ApplyReason::Expiry, None, false).await;
                        info!(outcome = ?o, stepped, "Re-evaluated expiry.");
                        if let Some(t) = &timer { self.arm_expiry(t); }
                    }
                }
                Some((req, reply)) = ctl_rx.recv() => {
                    let resp = self.on_control(req).await;
                    let _ = reply.send(resp);
                    if let Some(t) = &timer { self.arm_expiry(t); }
                }
                _ = tokio::time::sleep_until(tokio_at(confirm_at)), if confirm_at.is_some() => {
                    if let Some(c) = self.confirm.take() {
                        warn!("No confirmation arrived; rolling back.");
                        self.rollback(c.previous).await;
                    }
                }
                _ = tokio::time::sleep_until(tokio_at(burst_end)), if burst_end.is_some() => {
                    self.end_burst();
                }
                _ = tokio::time::sleep_until(tokio_at(self.scan_at)), if self.scan_at.is_some() => {
                    self.scan().await;
                }
                _ = periodic.tick() => {
                    self.schedule_compare_for(Instant::now(), PERIODIC);
                    self.schedule_scan(Instant::now());
                }
                _ = tick(&mut heartbeat) => {
                    self.refresh_status();
                    let s = self.status.lock().unwrap_or_else(PoisonError::into_inner).clone();
                    let mode = if s.kind.as_deref() == Some("lockdown") {
                        "lockdown".to_string()
                    } else {
                        s.mode
                    };
                    self.agent.events.emit(EventKind::Heartbeat {
                        ruleset_sha256: s.ruleset_sha256.unwrap_or_default(),
                        policy_sha256: s.policy_sha256.unwrap_or_default(),
                        revision: s.revision.unwrap_or_default(),
                        mode,
                        drift_count: s.drift_count,
                        uptime_s: s.uptime_s,
                        staged: self.staged.clone(),
                        signer: s.signer,
                    });
                }
                _ = tick(&mut denied_tick) => {
                    self.reconcile_denied().await;
                }
                _ = watchdog.tick() => {
                    self.notifier.watchdog();
                }
            }
            self.sync_alerts().await;
            self.refresh_status();
            self.trim_heap();
        }
        self.notifier.stopping();
        info!("Stopping; the ruleset stays loaded.");
        if let Some(a) = self.alerting.take() {
            // Off the runtime's thread: the sinks get a moment, the queue is flushed to disk.
            let _ = tokio::task::spawn_blocking(move || a.stop(STOP_DELIVERY)).await;
        }
    }
}

/// One line for a list of notice lines.
fn summary_of(lines: &[String]) -> String {
    match lines.len() {
        0 => "a foreign write to table inet zonegate with no visible change".into(),
        1..=3 => lines.join("; "),
        n => format!("{}; ... ({} more)", lines[..3].join("; "), n - 3),
    }
}

/// Resolves at the interval's next tick; never when there is none.
async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Resolves when the fd is readable; never when there is no fd.
async fn readable(
    fd: &Option<AsyncFd<OwnedFd>>,
) -> std::io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, OwnedFd>> {
    match fd {
        Some(fd) => fd.readable().await,
        None => std::future::pending().await,
    }
}

fn merge(total: &mut ConntrackReport, r: &ConntrackReport) {
    total.examined += r.examined;
    total.revoked += r.revoked;
    total.mismatched += r.mismatched;
    total.tamper_window += r.tamper_window;
    if r.error.is_some() {
        total.error = r.error.clone();
    }
}

fn outcome_response(o: PolicyOutcome) -> Response {
    match o {
        PolicyOutcome::Applied { revision } => Response::ok(format!("Applied revision {revision}.")),
        PolicyOutcome::Unchanged { revision } => {
            Response::ok(format!("Revision {revision} is already loaded; nothing to do."))
        }
        PolicyOutcome::Rejected { message } => Response::err(format!(
            "The policy was rejected; the current ruleset stays.\n{message}"
        )),
        PolicyOutcome::Failed { message } => Response::err(format!(
            "The apply failed; the current ruleset stays.\n{message}"
        )),
        PolicyOutcome::PlanChanged { expected, actual } => Response::err(format!(
            "The plan changed since it was printed (expected {expected}, now {actual}); run `zonegate-agent plan` again."
        )),
    }
}

/// Accepts control connections; answers `status` from the snapshot, forwards the rest to the
/// main loop (the only writer).
async fn serve_control(
    listener: tokio::net::UnixListener,
    tx: mpsc::Sender<ControlMsg>,
    status: Arc<Mutex<Status>>,
) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let tx = tx.clone();
        let status = status.clone();
        tokio::spawn(async move {
            let resp = match control::read_request(&mut stream).await {
                Err(e) => Response::err(e.to_string()),
                Ok(Request::Status) => {
                    let mut r = Response::ok("status");
                    r.status = Some(
                        status
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .clone(),
                    );
                    r
                }
                Ok(req) => {
                    let (rtx, rrx) = oneshot::channel();
                    if tx.send((req, rtx)).await.is_err() {
                        Response::err("the agent is stopping")
                    } else {
                        rrx.await
                            .unwrap_or_else(|_| Response::err("the agent is stopping"))
                    }
                }
            };
            let _ = control::write_response(&mut stream, &resp).await;
        });
    }
}

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn run(
    cfg: AgentConfig,
    events: Events,
    alerting: Option<Alerting>,
) -> Result<(), String> {
    let state = crate::state::StateDir::new(&cfg.state_dir);
    let _lock = if cfg.mode.writes() {
        Some(state.lock().map_err(|e| e.to_string())?)
    } else {
        None
    };
    let control = match control::bind(&cfg.status_socket).await {
        Ok(l) => Some(l),
        Err(e) => {
            events.emit(EventKind::MonitoringDegraded {
                what: "control socket".into(),
                detail: format!("cannot listen on {}: {e}", cfg.status_socket.display()),
            });
            None
        }
    };
    let socket_path = cfg.status_socket.clone();
    let mut daemon = Daemon::new(build(cfg, events), alerting);
    daemon.start().await;
    daemon.look_for_staged();
    daemon.run(control).await;
    let _ = std::fs::remove_file(socket_path);
    Ok(())
}
