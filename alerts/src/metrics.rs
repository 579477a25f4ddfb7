//! Metrics of the alert pipeline and the denied-flow monitor, in Prometheus text format. The
//! live counters are atomics (and a few small maps behind mutexes) updated where things happen;
//! [`MetricsSnapshot`] is a plain copy and [`render`] turns one into text, so the agent can serve
//! it beside its own metrics and tests can check the text without a server.

use crate::model::Severity;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Per-sink counters.
#[derive(Debug, Default)]
pub(crate) struct SinkCounters {
    pub name: String,
    pub kind: String,
    pub queued: AtomicU64,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub rejected: AtomicU64,
    pub skipped: AtomicU64,
    pub pending: AtomicU64,
    pub up: AtomicBool,
}

/// Zone pair and reason: the labels of denied-packet counts.
pub type PairReason = (String, String, String);

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub sinks: Vec<Arc<SinkCounters>>,
    pub emitted: Mutex<BTreeMap<String, u64>>,
    pub queue_depth: AtomicU64,
    pub queue_bytes: AtomicU64,
    pub queue_cap_bytes: AtomicU64,
    pub queue_write_errors: AtomicU64,
    pub dropped: Mutex<BTreeMap<Severity, u64>>,
    pub nflog_bound: AtomicBool,
    pub nflog_samples: AtomicU64,
    pub nflog_lost: AtomicU64,
    pub nflog_overruns: AtomicU64,
    pub nflog_foreign: AtomicU64,
    pub nflog_payload_bytes_discarded: AtomicU64,
    pub denied_packets: Mutex<BTreeMap<PairReason, u64>>,
    pub denied_samples: Mutex<BTreeMap<PairReason, u64>>,
    pub windows: Mutex<WindowMetrics>,
    /// The NFLOG listener's state ("bound", "refused", ...).
    pub nflog_state: Mutex<String>,
}

/// The denied-flow windows: the last one's figures and running totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowMetrics {
    pub last: crate::nflog::aggregate::WindowFigures,
    pub closed: u64,
    pub scans: u64,
    pub untracked_packets: u64,
}

/// Adds a closed window to the metrics.
pub(crate) fn record_window(m: &Mutex<WindowMetrics>, f: &crate::nflog::aggregate::WindowFigures) {
    let mut w = m.lock().unwrap_or_else(PoisonError::into_inner);
    w.closed += 1;
    w.scans += f.scans;
    w.untracked_packets += f.untracked_packets.unwrap_or(0);
    w.last = f.clone();
}

pub(crate) fn add_to<K: Ord + Clone>(map: &Mutex<BTreeMap<K, u64>>, key: &K, n: u64) {
    let mut m = map.lock().unwrap_or_else(PoisonError::into_inner);
    match m.get_mut(key) {
        Some(v) => *v += n,
        None => {
            m.insert(key.clone(), n);
        }
    }
}

/// One sink's numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkSnapshot {
    pub name: String,
    pub kind: String,
    /// Alerts written to the queue while this sink was configured.
    pub queued: u64,
    /// Alerts delivered.
    pub sent: u64,
    /// Failed delivery attempts (each retry counts).
    pub failed: u64,
    /// Alerts the receiver refused outright and that were skipped.
    pub rejected: u64,
    /// Alerts below the sink's `min_severity`.
    pub skipped: u64,
    /// Alerts queued and not yet delivered.
    pub pending: u64,
    /// The last attempt succeeded.
    pub up: bool,
}

/// A copy of every metric.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub sinks: Vec<SinkSnapshot>,
    pub emitted: BTreeMap<String, u64>,
    pub queue_depth: u64,
    pub queue_bytes: u64,
    pub queue_cap_bytes: u64,
    pub queue_write_errors: u64,
    pub dropped: BTreeMap<Severity, u64>,
    pub nflog_bound: bool,
    pub nflog_samples: u64,
    /// Samples the kernel could not deliver (NFLOG sequence gaps).
    pub nflog_lost: u64,
    /// Receive-buffer overruns (ENOBUFS).
    pub nflog_overruns: u64,
    /// Packets on our group without a zonegate prefix.
    pub nflog_foreign: u64,
    /// Bytes past the transport header that reached the socket and were zeroed unread.
    pub nflog_payload_bytes_discarded: u64,
    /// Exact denied packets per (from zone, to zone, reason), from the counters.
    pub denied_packets: BTreeMap<PairReason, u64>,
    /// NFLOG samples per (from zone, to zone, reason).
    pub denied_samples: BTreeMap<PairReason, u64>,
    /// The denied-flow windows.
    pub windows: WindowMetrics,
    /// The NFLOG listener's state.
    pub nflog_state: String,
}

impl Metrics {
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let lock = |m: &Mutex<BTreeMap<PairReason, u64>>| {
            m.lock().unwrap_or_else(PoisonError::into_inner).clone()
        };
        MetricsSnapshot {
            sinks: self
                .sinks
                .iter()
                .map(|s| SinkSnapshot {
                    name: s.name.clone(),
                    kind: s.kind.clone(),
                    queued: s.queued.load(Ordering::Relaxed),
                    sent: s.sent.load(Ordering::Relaxed),
                    failed: s.failed.load(Ordering::Relaxed),
                    rejected: s.rejected.load(Ordering::Relaxed),
                    skipped: s.skipped.load(Ordering::Relaxed),
                    pending: s.pending.load(Ordering::Relaxed),
                    up: s.up.load(Ordering::Relaxed),
                })
                .collect(),
            emitted: self
                .emitted
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            queue_depth: self.queue_depth.load(Ordering::Relaxed),
            queue_bytes: self.queue_bytes.load(Ordering::Relaxed),
            queue_cap_bytes: self.queue_cap_bytes.load(Ordering::Relaxed),
            queue_write_errors: self.queue_write_errors.load(Ordering::Relaxed),
            dropped: self
                .dropped
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            nflog_bound: self.nflog_bound.load(Ordering::Relaxed),
            nflog_samples: self.nflog_samples.load(Ordering::Relaxed),
            nflog_lost: self.nflog_lost.load(Ordering::Relaxed),
            nflog_overruns: self.nflog_overruns.load(Ordering::Relaxed),
            nflog_foreign: self.nflog_foreign.load(Ordering::Relaxed),
            nflog_payload_bytes_discarded: self
                .nflog_payload_bytes_discarded
                .load(Ordering::Relaxed),
            denied_packets: lock(&self.denied_packets),
            denied_samples: lock(&self.denied_samples),
            windows: self
                .windows
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            nflog_state: self
                .nflog_state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

/// A label value with `\`, `"` and newlines escaped (exposition format).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

fn render_windows(o: &mut Out, w: &WindowMetrics) {
    let last = &w.last;
    let gauges: [(&str, &str, Option<u64>); 6] = [
        (
            "zonegate_denied_window_packets",
            "Denied packets in the last closed window (exact, from the ruleset's counters).",
            last.denied_packets,
        ),
        (
            "zonegate_denied_window_keys",
            "Distinct keys (code, source, destination, protocol, port) denied in the last window, from the per-key tables.",
            last.denied_keys,
        ),
        (
            "zonegate_denied_window_untracked_packets",
            "Denied packets of the last window that no per-key table could count (table full, or no transport header).",
            last.untracked_packets,
        ),
        (
            "zonegate_denied_window_scans",
            "Scan summaries of the last window.",
            Some(last.scans),
        ),
        (
            "zonegate_denied_window_samples",
            "NFLOG samples of the last window.",
            Some(last.samples),
        ),
        (
            "zonegate_denied_window_seconds",
            "Length of the last window.",
            Some(last.window_secs),
        ),
    ];
    for (name, help, v) in gauges {
        o.family(name, "gauge", help);
        if let Some(v) = v {
            o.sample(name, &[], v);
        }
    }
    let counters: [(&str, &str, u64); 3] = [
        (
            "zonegate_denied_windows_closed_total",
            "Denied-flow windows closed by the monitor.",
            w.closed,
        ),
        (
            "zonegate_denied_scans_total",
            "Scan summaries since the agent started.",
            w.scans,
        ),
        (
            "zonegate_denied_untracked_packets_total",
            "Denied packets no per-key table could count (table full, or no transport header).",
            w.untracked_packets,
        ),
    ];
    for (name, help, v) in counters {
        o.family(name, "counter", help);
        o.sample(name, &[], v);
    }
    o.family(
        "zonegate_denied_key_table_keys",
        "gauge",
        "Keys in each per-key table when last read.",
    );
    for (t, keys, _) in &last.tables {
        o.sample("zonegate_denied_key_table_keys", &[("table", t)], *keys);
    }
    o.family(
        "zonegate_denied_key_table_size",
        "gauge",
        "Room in each per-key table.",
    );
    for (t, _, size) in &last.tables {
        o.sample("zonegate_denied_key_table_size", &[("table", t)], *size);
    }
}

/// The Prometheus text for `m`.
pub fn render(m: &MetricsSnapshot) -> String {
    let mut o = Out(String::new());
    type SinkField = fn(&SinkSnapshot) -> u64;
    let sink_counters: [(&str, &str, SinkField); 5] = [
        (
            "zonegate_alerts_queued_total",
            "Alerts written to the durable queue for this sink.",
            |s| s.queued,
        ),
        (
            "zonegate_alerts_sent_total",
            "Alerts delivered by this sink.",
            |s| s.sent,
        ),
        (
            "zonegate_alerts_failed_total",
            "Failed delivery attempts of this sink (retries count).",
            |s| s.failed,
        ),
        (
            "zonegate_alerts_rejected_total",
            "Alerts the receiver refused outright (skipped after retries).",
            |s| s.rejected,
        ),
        (
            "zonegate_alerts_skipped_total",
            "Alerts below this sink's min_severity.",
            |s| s.skipped,
        ),
    ];
    for (name, help, get) in sink_counters {
        o.family(name, "counter", help);
        for s in &m.sinks {
            o.sample(name, &[("sink", &s.name), ("kind", &s.kind)], get(s));
        }
    }
    o.family(
        "zonegate_alerts_pending",
        "gauge",
        "Alerts queued and not yet delivered by this sink.",
    );
    for s in &m.sinks {
        o.sample(
            "zonegate_alerts_pending",
            &[("sink", &s.name), ("kind", &s.kind)],
            s.pending,
        );
    }
    o.family(
        "zonegate_alerts_sink_up",
        "gauge",
        "1 when the sink's last delivery attempt succeeded.",
    );
    for s in &m.sinks {
        o.sample(
            "zonegate_alerts_sink_up",
            &[("sink", &s.name), ("kind", &s.kind)],
            u64::from(s.up),
        );
    }
    o.family(
        "zonegate_alerts_emitted_total",
        "counter",
        "Alerts emitted, by type.",
    );
    for (t, n) in &m.emitted {
        o.sample("zonegate_alerts_emitted_total", &[("type", t)], *n);
    }
    o.family(
        "zonegate_alerts_queue_depth",
        "gauge",
        "Alerts in the queue that some sink has not delivered.",
    );
    o.sample("zonegate_alerts_queue_depth", &[], m.queue_depth);
    o.family(
        "zonegate_alerts_queue_bytes",
        "gauge",
        "Bytes of the queue on disk.",
    );
    o.sample("zonegate_alerts_queue_bytes", &[], m.queue_bytes);
    o.family(
        "zonegate_alerts_queue_cap_bytes",
        "gauge",
        "Size cap of the queue.",
    );
    o.sample("zonegate_alerts_queue_cap_bytes", &[], m.queue_cap_bytes);
    o.family(
        "zonegate_alerts_queue_write_errors_total",
        "counter",
        "Failed writes or fsyncs of the queue (alerts are kept in memory and retried).",
    );
    o.sample(
        "zonegate_alerts_queue_write_errors_total",
        &[],
        m.queue_write_errors,
    );
    o.family(
        "zonegate_alerts_dropped_total",
        "counter",
        "Alerts dropped by the queue's size cap, by severity.",
    );
    for s in Severity::ALL {
        o.sample(
            "zonegate_alerts_dropped_total",
            &[("severity", s.as_str())],
            m.dropped.get(&s).copied().unwrap_or(0),
        );
    }
    o.family(
        "zonegate_nflog_bound",
        "gauge",
        "1 while the agent holds the policy's NFLOG group.",
    );
    o.sample("zonegate_nflog_bound", &[], u64::from(m.nflog_bound));
    o.family(
        "zonegate_nflog_listener",
        "gauge",
        "1 for the NFLOG listener's current state (starting, bound, refused, rebinding, stopped).",
    );
    if !m.nflog_state.is_empty() {
        o.sample("zonegate_nflog_listener", &[("state", &m.nflog_state)], 1);
    }
    render_windows(&mut o, &m.windows);
    let nflog: [(&str, &str, u64); 5] = [
        (
            "zonegate_nflog_samples_total",
            "NFLOG samples received.",
            m.nflog_samples,
        ),
        (
            "zonegate_nflog_samples_lost_total",
            "NFLOG samples the kernel could not deliver (sequence gaps).",
            m.nflog_lost,
        ),
        (
            "zonegate_nflog_overruns_total",
            "NFLOG socket receive-buffer overruns (ENOBUFS).",
            m.nflog_overruns,
        ),
        (
            "zonegate_nflog_foreign_total",
            "Packets on the group without a zonegate prefix or with an unknown code.",
            m.nflog_foreign,
        ),
        (
            "zonegate_nflog_payload_bytes_discarded_total",
            "Bytes past the transport header that reached the socket and were zeroed unread.",
            m.nflog_payload_bytes_discarded,
        ),
    ];
    for (name, help, v) in nflog {
        o.family(name, "counter", help);
        o.sample(name, &[], v);
    }
    o.family(
        "zonegate_denied_packets_total",
        "counter",
        "Denied packets per zone pair and reason (exact, from the ruleset's counters).",
    );
    for ((from, to, reason), n) in &m.denied_packets {
        o.sample(
            "zonegate_denied_packets_total",
            &[("from", from), ("to", to), ("reason", reason)],
            *n,
        );
    }
    o.family(
        "zonegate_denied_samples_total",
        "counter",
        "NFLOG samples per zone pair and reason (rate-limited by the ruleset).",
    );
    for ((from, to, reason), n) in &m.denied_samples {
        o.sample(
            "zonegate_denied_samples_total",
            &[("from", from), ("to", to), ("reason", reason)],
            *n,
        );
    }
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labels_escaped_and_every_family_typed() {
        let mut m = MetricsSnapshot::default();
        m.sinks.push(SinkSnapshot {
            name: "web\"hook".into(),
            kind: "webhook".into(),
            sent: 3,
            up: true,
            ..Default::default()
        });
        m.denied_packets
            .insert(("lgwan".into(), "mynumber".into(), "no-flow".into()), 1000);
        let text = render(&m);
        assert!(
            text.contains("zonegate_alerts_sent_total{sink=\"web\\\"hook\",kind=\"webhook\"} 3")
        );
        assert!(text.contains(
            "zonegate_denied_packets_total{from=\"lgwan\",to=\"mynumber\",reason=\"no-flow\"} 1000"
        ));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} has no TYPE line"
            );
        }
    }
}
