//! The alert pipeline: [`AlertPipeline::emit`] stamps an [`AlertKind`] into an [`Alert`],
//! serialises it and puts it in a bounded in-memory inbox; it never waits for a disk or a
//! network. A writer thread moves the inbox into the durable [`Queue`] in batches (one fsync per
//! batch); only then do the sink threads, one per sink, see the alerts. Each sink thread reads
//! from its own cursor, delivers one alert at a time, retries with exponential backoff and
//! jitter, and moves its cursor after delivery. A dead or slow sink therefore only grows its own
//! backlog (bounded by the queue cap); it cannot delay `emit` or any other sink.
//!
//! If the writer cannot keep up (a disk stalled in fsync), the inbox holds up to
//! [`INBOX_CAP`] alerts and then drops the oldest of the lowest severity, like the queue's cap,
//! and reports it in the next queue-overflow alert.

use crate::config::{AlertsConfig, SinkConfig, SummaryLang};
use crate::id::EventId;
use crate::metrics::{self, Metrics, MetricsSnapshot, SinkCounters};
use crate::model::{
    Alert, AlertContext, AlertKind, Heartbeat, MonitoringDegraded, QueueOverflow, Severity,
    StagedChange, SCHEMA_NAME, SCHEMA_VERSION,
};
use crate::queue::{DropReport, Queue, QueueError};
use crate::sink::{self, Backoff, Sink, SinkError};
use jiff::tz::TimeZone;
use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Alerts held in memory while the writer is behind.
pub const INBOX_CAP: usize = 10_000;
/// Records a sink reads from the queue at a time (and at most this many repeat after a crash).
const SINK_BATCH: usize = 64;
/// Attempts at an alert the receiver refuses (HTTP 400/413/415/422) before it is skipped.
const REJECTED_ATTEMPTS: u32 = 3;
/// At most one queue-overflow alert per this long; drops in between are added up.
const OVERFLOW_ALERT_EVERY: Duration = Duration::from_secs(60);

/// Failures that stop the pipeline from starting. A bad sink is not one of them: it is skipped
/// with a monitoring-degraded alert.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The durable queue could not be opened or recovered.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// `time_zone` names no known zone.
    #[error("unknown time zone {name:?}: {source}")]
    TimeZone {
        name: String,
        #[source]
        source: jiff::Error,
    },
    /// A pipeline thread could not be started.
    #[error("starting the {what} thread: {source}")]
    Thread {
        what: String,
        #[source]
        source: io::Error,
    },
}

struct Pending {
    severity: Severity,
    time: String,
    payload: Vec<u8>,
}

#[derive(Default)]
struct Inbox {
    items: VecDeque<Pending>,
    /// Emits so far (numbers the inbox items).
    emitted: u64,
    /// Dropped from the inbox since the last overflow alert.
    dropped: DropReport,
}

struct SinkSlot {
    counters: Arc<SinkCounters>,
    min_severity: Severity,
    retry_initial: Duration,
    retry_max: Duration,
    /// Bumped by the writer after each append; the sink waits on it when idle.
    generation: Mutex<u64>,
    wake: Condvar,
}

struct Inner {
    context: RwLock<AlertContext>,
    host: String,
    tz: TimeZone,
    started: Instant,
    heartbeat_secs: u64,
    summary_lang: SummaryLang,
    inbox: Mutex<Inbox>,
    inbox_cv: Condvar,
    /// Highest emit number the writer has taken care of (written, or dropped and counted).
    processed: Mutex<u64>,
    processed_cv: Condvar,
    queue: Mutex<Queue>,
    sinks: Vec<SinkSlot>,
    metrics: Metrics,
    stop: AtomicBool,
    stop_lock: Mutex<()>,
    stop_cv: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in one pipeline thread must not take the others (or emit) down with it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The handle the agent keeps: cheap to clone, shareable between threads.
#[derive(Clone)]
pub struct AlertPipeline {
    inner: Arc<Inner>,
}

/// RFC 3339 with milliseconds and the zone's offset, e.g. `2026-04-01T10:00:00.123+09:00`.
pub(crate) fn format_time(ts: jiff::Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

impl AlertPipeline {
    /// Opens the queue (in `config.queue_dir`, or `alerts/` under `state_dir`), recovers what a
    /// previous run left undelivered, and starts the writer and one thread per usable sink.
    /// Sinks that cannot work (bad URL, unknown facility) are skipped, each with a
    /// monitoring-degraded alert, so a sink typo never stops enforcement.
    pub fn start(
        config: &AlertsConfig,
        state_dir: &Path,
        context: AlertContext,
    ) -> Result<AlertPipeline, AlertError> {
        let tz = match &config.time_zone {
            Some(name) => TimeZone::get(name).map_err(|source| AlertError::TimeZone {
                name: name.clone(),
                source,
            })?,
            None => TimeZone::system(),
        };
        let dir = config
            .queue_dir
            .clone()
            .unwrap_or_else(|| state_dir.join("alerts"));
        let names = config.sink_names();
        let problems = config.validate();
        let mut degraded: Vec<MonitoringDegraded> = Vec::new();
        let mut built: Vec<(String, &SinkConfig, Box<dyn Sink>)> = Vec::new();
        for (cfg, name) in config.sinks.iter().zip(&names) {
            let own: Vec<&str> = problems
                .iter()
                .filter(|p| &p.sink == name)
                .map(|p| p.message.as_str())
                .collect();
            if !own.is_empty() {
                tracing::error!(sink = %name, problems = %own.join("; "), "Skipped an alert sink with an unusable configuration.");
                degraded.push(MonitoringDegraded {
                    what: format!("sink:{name}"),
                    detail: format!("sink not started: {}", own.join("; ")),
                    lost: None,
                    restored: false,
                });
                continue;
            }
            match sink::build(cfg, name) {
                Ok(s) => built.push((name.clone(), cfg, s)),
                Err(e) => {
                    tracing::error!(sink = %name, error = %e, "Skipped an alert sink that could not be built.");
                    degraded.push(MonitoringDegraded {
                        what: format!("sink:{name}"),
                        detail: format!("sink not started: {e}"),
                        lost: None,
                        restored: false,
                    });
                }
            }
        }
        let active: Vec<String> = built.iter().map(|(n, _, _)| n.clone()).collect();
        let queue = Queue::open(&dir, &active, config.queue_max_bytes)?;
        let rec = queue.recovery().clone();
        tracing::info!(
            dir = %dir.display(),
            records = rec.records,
            segments = rec.segments,
            truncated_bytes = rec.truncated_bytes,
            sinks = active.len(),
            "Opened the alert queue."
        );
        let mut metrics = Metrics::default();
        let mut slots = Vec::new();
        for (name, cfg, _) in &built {
            let counters = Arc::new(SinkCounters {
                name: name.clone(),
                kind: cfg.kind().to_string(),
                up: AtomicBool::new(true),
                ..Default::default()
            });
            metrics.sinks.push(counters.clone());
            let common = cfg.common();
            slots.push(SinkSlot {
                counters,
                min_severity: common.min_severity,
                retry_initial: Duration::from_millis(common.retry_initial_ms.max(1)),
                retry_max: Duration::from_millis(common.retry_max_ms.max(1)),
                generation: Mutex::new(0),
                wake: Condvar::new(),
            });
        }
        metrics
            .queue_cap_bytes
            .store(queue.cap_bytes(), Ordering::Relaxed);
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        let inner = Arc::new(Inner {
            context: RwLock::new(context),
            host,
            tz,
            started: Instant::now(),
            heartbeat_secs: config.heartbeat_secs,
            summary_lang: config.summary_lang,
            inbox: Mutex::new(Inbox::default()),
            inbox_cv: Condvar::new(),
            processed: Mutex::new(0),
            processed_cv: Condvar::new(),
            queue: Mutex::new(queue),
            sinks: slots,
            metrics,
            stop: AtomicBool::new(false),
            stop_lock: Mutex::new(()),
            stop_cv: Condvar::new(),
            threads: Mutex::new(Vec::new()),
        });
        let pipeline = AlertPipeline { inner };
        pipeline.refresh_queue_metrics();
        let writer = {
            let inner = pipeline.inner.clone();
            thread::Builder::new()
                .name("zg-alert-writer".into())
                .spawn(move || writer_loop(&inner))
                .map_err(|source| AlertError::Thread {
                    what: "alert writer".into(),
                    source,
                })?
        };
        lock(&pipeline.inner.threads).push(writer);
        for (idx, (name, _, sink)) in built.into_iter().enumerate() {
            let inner = pipeline.inner.clone();
            let handle = thread::Builder::new()
                .name(format!("zg-sink-{idx}"))
                .spawn(move || sink_loop(&inner, idx, sink))
                .map_err(|source| AlertError::Thread {
                    what: format!("sink {name}"),
                    source,
                })?;
            lock(&pipeline.inner.threads).push(handle);
        }
        for d in degraded {
            pipeline.emit(AlertKind::MonitoringDegraded(d));
        }
        Ok(pipeline)
    }

    /// Stamps `kind` with an id, the time and the current context and queues it; returns the
    /// id at once. Never blocks on I/O: the alert reaches the disk within one writer cycle
    /// (milliseconds; [`AlertPipeline::flush`] waits for it) and the sinks after that.
    pub fn emit(&self, mut kind: AlertKind) -> EventId {
        kind.bound();
        let severity = kind.severity();
        let id = EventId::generate();
        let context = self
            .inner
            .context
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let time = format_time(jiff::Timestamp::now(), &self.inner.tz);
        let type_name = kind.type_name();
        let alert = Alert {
            schema: SCHEMA_NAME.into(),
            schema_version: SCHEMA_VERSION,
            id: id.clone(),
            severity,
            time: time.clone(),
            gateway: context.gateway,
            host: self.inner.host.clone(),
            policy: context.policy,
            ruleset_sha256: context.ruleset_sha256,
            summary: kind.summary(),
            summary_ja: (self.inner.summary_lang == SummaryLang::Ja).then(|| kind.summary_ja()),
            agent_version: env!("CARGO_PKG_VERSION").into(),
            kind,
        };
        crate::logline::log(&alert);
        let payload = serde_json::to_vec(&alert).unwrap_or_else(|e| {
            // Cannot happen with these types; if it ever does, the team still hears of it.
            tracing::error!(error = %e, id = %id, "Could not serialise an alert.");
            serde_json::json!({"schema": SCHEMA_NAME, "schema_version": SCHEMA_VERSION,
                "id": id.as_str(), "type": type_name, "severity": severity, "time": time,
                "summary": "alert could not be serialised"})
            .to_string()
            .into_bytes()
        });
        metrics::add_to(&self.inner.metrics.emitted, &type_name.to_string(), 1);
        let mut inbox = lock(&self.inner.inbox);
        inbox.emitted += 1;
        inbox.items.push_back(Pending {
            severity,
            time,
            payload,
        });
        if inbox.items.len() > INBOX_CAP {
            drop_one(&mut inbox);
        }
        drop(inbox);
        self.inner.inbox_cv.notify_one();
        id
    }

    /// Replaces the gateway/policy/ruleset fields stamped on later alerts (after each apply).
    pub fn set_context(&self, context: AlertContext) {
        *self
            .inner
            .context
            .write()
            .unwrap_or_else(PoisonError::into_inner) = context;
    }

    pub fn context(&self) -> AlertContext {
        self.inner
            .context
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Emits a heartbeat (call it every `heartbeat_secs` from the agent's main loop, so a stuck
    /// loop shows as missing heartbeats). The envelope carries the ruleset hash.
    pub fn heartbeat(
        &self,
        mode: &str,
        drift_count: Option<u64>,
        staged_change: Option<StagedChange>,
    ) -> EventId {
        // The gauge, not the queue: the queue's lock can be held across an fsync, and a
        // heartbeat must never wait for a disk.
        let queue_depth = self.inner.metrics.queue_depth.load(Ordering::Relaxed);
        self.emit(AlertKind::Heartbeat(Heartbeat {
            mode: mode.to_string(),
            uptime_s: self.inner.started.elapsed().as_secs(),
            interval_s: self.inner.heartbeat_secs,
            drift_count,
            queue_depth,
            staged_change,
        }))
    }

    /// Waits until every alert emitted before the call is on disk (fsynced) or accounted as
    /// dropped; false on timeout. For shutdown and tests; never on the enforcement path.
    pub fn flush(&self, timeout: Duration) -> bool {
        let target = lock(&self.inner.inbox).emitted;
        self.inner.inbox_cv.notify_one();
        let deadline = Instant::now() + timeout;
        let mut processed = lock(&self.inner.processed);
        while *processed < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            processed = self
                .inner
                .processed_cv
                .wait_timeout(processed, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Waits until every sink has delivered (or skipped) everything in the queue; false on
    /// timeout. For shutdown and tests.
    pub fn wait_delivered(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if !self.flush(timeout) {
            return false;
        }
        loop {
            let done = {
                let q = lock(&self.inner.queue);
                (0..self.inner.sinks.len()).all(|i| q.pending(i) == 0)
            };
            if done {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Numbers for the metrics endpoint.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// The Prometheus text of [`AlertPipeline::metrics`].
    pub fn render_metrics(&self) -> String {
        metrics::render(&self.metrics())
    }

    /// The time zone alert times are written in.
    pub(crate) fn time_zone(&self) -> TimeZone {
        self.inner.tz.clone()
    }

    pub(crate) fn counters(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Flushes, then stops every thread; waits at most `timeout` in all. Alerts still queued
    /// stay on disk for the next start.
    pub fn shutdown(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        self.flush(timeout);
        self.inner.stop.store(true, Ordering::SeqCst);
        {
            let _g = lock(&self.inner.stop_lock);
            self.inner.stop_cv.notify_all();
        }
        self.inner.inbox_cv.notify_all();
        for slot in &self.inner.sinks {
            slot.wake.notify_all();
        }
        let handles: Vec<JoinHandle<()>> = lock(&self.inner.threads).drain(..).collect();
        for h in handles {
            // A sink blocked in a connect or TLS handshake finishes within its timeout; we do
            // not wait longer than ours for it.
            while !h.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }

    fn refresh_queue_metrics(&self) {
        let q = lock(&self.inner.queue);
        self.update_metrics_from(&q);
    }

    fn update_metrics_from(&self, q: &Queue) {
        let m = &self.inner.metrics;
        m.queue_depth.store(q.depth(), Ordering::Relaxed);
        m.queue_bytes.store(q.bytes(), Ordering::Relaxed);
        for (i, slot) in self.inner.sinks.iter().enumerate() {
            slot.counters.pending.store(q.pending(i), Ordering::Relaxed);
        }
    }
}

/// Drops the oldest inbox item of the lowest severity present.
fn drop_one(inbox: &mut Inbox) {
    let Some(min) = inbox.items.iter().map(|p| p.severity).min() else {
        return;
    };
    if let Some(pos) = inbox.items.iter().position(|p| p.severity == min) {
        if let Some(p) = inbox.items.remove(pos) {
            inbox.dropped.dropped += 1;
            *inbox.dropped.by_severity.entry(p.severity).or_default() += 1;
            if inbox.dropped.oldest_time.is_none() {
                inbox.dropped.oldest_time = Some(p.time);
            }
        }
    }
}

fn merge(into: &mut DropReport, from: DropReport) {
    into.dropped += from.dropped;
    for (s, n) in from.by_severity {
        *into.by_severity.entry(s).or_default() += n;
    }
    if into.oldest_time.is_none() {
        into.oldest_time = from.oldest_time;
    }
}

fn writer_loop(inner: &Arc<Inner>) {
    let pipeline = AlertPipeline {
        inner: inner.clone(),
    };
    let mut overflow = DropReport::default();
    let mut last_overflow_alert: Option<Instant> = None;
    loop {
        let (batch, top, dropped) = {
            let mut inbox = lock(&inner.inbox);
            if inbox.items.is_empty() && !inner.stop.load(Ordering::SeqCst) {
                inbox = inner
                    .inbox_cv
                    .wait_timeout(inbox, Duration::from_secs(1))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            let batch: Vec<Pending> = inbox.items.drain(..).collect();
            let dropped = std::mem::take(&mut inbox.dropped);
            (batch, inbox.emitted, dropped)
        };
        merge(&mut overflow, dropped);
        if !batch.is_empty() {
            let records: Vec<(Severity, Vec<u8>)> = batch
                .iter()
                .map(|p| (p.severity, p.payload.clone()))
                .collect();
            let mut failures = 0u32;
            loop {
                let result = {
                    let mut q = lock(&inner.queue);
                    let r = q.append(&records);
                    pipeline.update_metrics_from(&q);
                    r
                };
                match result {
                    Ok((seqs, report)) => {
                        for slot in &inner.sinks {
                            slot.counters
                                .queued
                                .fetch_add(seqs.len() as u64, Ordering::Relaxed);
                        }
                        if report.dropped > 0 {
                            let mut d = lock(&inner.metrics.dropped);
                            for (s, n) in &report.by_severity {
                                *d.entry(*s).or_default() += n;
                            }
                        }
                        merge(&mut overflow, report);
                        break;
                    }
                    Err(e) => {
                        // The batch stays in memory and is retried: a full or failing disk must
                        // not silently eat alerts, and emit must not block on it either.
                        inner
                            .metrics
                            .queue_write_errors
                            .fetch_add(1, Ordering::Relaxed);
                        if failures.is_multiple_of(30) {
                            tracing::error!(error = %e, alerts = records.len(), "Could not write alerts to the queue; retrying.");
                        }
                        failures += 1;
                        if inner.stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let g = lock(&inner.stop_lock);
                        let _ = inner.stop_cv.wait_timeout(g, Duration::from_secs(1));
                    }
                }
            }
            {
                let mut p = lock(&inner.processed);
                *p = top.max(*p);
            }
            inner.processed_cv.notify_all();
            for slot in &inner.sinks {
                *lock(&slot.generation) += 1;
                slot.wake.notify_all();
            }
        } else {
            let mut p = lock(&inner.processed);
            *p = top.max(*p);
            inner.processed_cv.notify_all();
        }
        if overflow.dropped > 0
            && last_overflow_alert.is_none_or(|t| t.elapsed() >= OVERFLOW_ALERT_EVERY)
        {
            let (queue_bytes, cap_bytes) = {
                let q = lock(&inner.queue);
                (q.bytes(), q.cap_bytes())
            };
            let report = std::mem::take(&mut overflow);
            pipeline.emit(AlertKind::QueueOverflow(QueueOverflow {
                dropped: report.dropped,
                dropped_by_severity: report.by_severity,
                oldest_dropped: report.oldest_time,
                queue_bytes,
                cap_bytes,
            }));
            last_overflow_alert = Some(Instant::now());
        }
        if inner.stop.load(Ordering::SeqCst) && lock(&inner.inbox).items.is_empty() {
            return;
        }
    }
}

/// Sleeps `d` unless the pipeline stops first; returns whether it is stopping.
fn sleep_or_stop(inner: &Inner, d: Duration) -> bool {
    let g = lock(&inner.stop_lock);
    if inner.stop.load(Ordering::SeqCst) {
        return true;
    }
    let _ = inner.stop_cv.wait_timeout(g, d);
    inner.stop.load(Ordering::SeqCst)
}

fn sink_loop(inner: &Arc<Inner>, idx: usize, mut sink: Box<dyn Sink>) {
    let pipeline = AlertPipeline {
        inner: inner.clone(),
    };
    let Some(slot) = inner.sinks.get(idx) else {
        return;
    };
    let name = slot.counters.name.clone();
    let c = &slot.counters;
    let mut backoff = Backoff::new(slot.retry_initial, slot.retry_max);
    let mut outage_since: Option<Instant> = None;
    let mut failures_in_outage = 0u64;
    // Moves the cursor past what was delivered, after the sink made it stick.
    let commit = |sink: &mut Box<dyn Sink>, next: &mut Option<u64>| {
        let Some(n) = next.take() else {
            return;
        };
        if let Err(e) = sink.flush() {
            tracing::warn!(sink = %name, error = %e, "Could not flush an alert sink; its alerts will be delivered again.");
            return;
        }
        let mut q = lock(&inner.queue);
        if let Err(e) = q.ack(idx, n) {
            tracing::error!(sink = %name, error = %e, "Could not record delivered alerts; they will be delivered again.");
        }
        pipeline.update_metrics_from(&q);
    };
    while !inner.stop.load(Ordering::SeqCst) {
        let generation = *lock(&slot.generation);
        let batch = match lock(&inner.queue).read(idx, SINK_BATCH) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(sink = %name, error = %e, "Could not read the alert queue.");
                if sleep_or_stop(inner, Duration::from_secs(1)) {
                    return;
                }
                continue;
            }
        };
        if batch.is_empty() {
            let g = lock(&slot.generation);
            if *g == generation && !inner.stop.load(Ordering::SeqCst) {
                let _ = slot.wake.wait_timeout(g, Duration::from_secs(1));
            }
            continue;
        }
        let mut next: Option<u64> = None;
        'records: for record in batch {
            if record.severity < slot.min_severity {
                c.skipped.fetch_add(1, Ordering::Relaxed);
                next = Some(record.seq + 1);
                continue;
            }
            let mut rejected = 0u32;
            loop {
                match sink.deliver(&record) {
                    Ok(()) => {
                        c.sent.fetch_add(1, Ordering::Relaxed);
                        c.up.store(true, Ordering::Relaxed);
                        if let Some(since) = outage_since.take() {
                            tracing::info!(sink = %name, after_s = since.elapsed().as_secs(), failures = failures_in_outage, "Alert sink delivers again.");
                        }
                        failures_in_outage = 0;
                        backoff.reset();
                        next = Some(record.seq + 1);
                        break;
                    }
                    Err(e) => {
                        c.failed.fetch_add(1, Ordering::Relaxed);
                        c.up.store(false, Ordering::Relaxed);
                        if let SinkError::Rejected { status } = e {
                            rejected += 1;
                            if rejected >= REJECTED_ATTEMPTS {
                                c.rejected.fetch_add(1, Ordering::Relaxed);
                                tracing::error!(sink = %name, seq = record.seq, status, "Alert sink rejected an alert repeatedly; skipped it.");
                                next = Some(record.seq + 1);
                                break;
                            }
                        }
                        if outage_since.is_none() {
                            outage_since = Some(Instant::now());
                            tracing::warn!(sink = %name, error = %e, "Alert sink failed; retrying with backoff.");
                        } else if failures_in_outage.is_multiple_of(20) {
                            tracing::warn!(sink = %name, error = %e, failures = failures_in_outage, "Alert sink still failing.");
                        }
                        failures_in_outage += 1;
                        // What went through before the failure is recorded now: an outage of
                        // an hour must not keep it pending (and repeat it after a crash).
                        commit(&mut sink, &mut next);
                        if sleep_or_stop(inner, backoff.next_delay()) {
                            break 'records;
                        }
                    }
                }
            }
        }
        commit(&mut sink, &mut next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_with_offset() {
        let ts: jiff::Timestamp = "2026-04-01T01:02:03.4567Z".parse().unwrap();
        let tz = TimeZone::get("Asia/Tokyo").unwrap();
        assert_eq!(format_time(ts, &tz), "2026-04-01T10:02:03.456+09:00");
        assert_eq!(
            format_time(ts, &TimeZone::UTC),
            "2026-04-01T01:02:03.456+00:00"
        );
    }
}
