//! Turns NFLOG samples into a bounded number of alerts. Pure: no socket, no clock of its own
//! (the caller passes `Instant` and wall time), so every rule here is unit-tested with plain
//! values.
//!
//! - A key is (log code = zone pair and reason, source, destination, protocol, port). Its first
//!   sample in a window produces a `first` alert at once; its repeats are counted and reported
//!   in one `summary` when the window closes. A key that stays busy gets one summary per window
//!   and no new `first`.
//! - Exact counts come from the ruleset's counters, handed to [`Aggregator::close_window`]:
//!   when a zone pair/reason saw a single key in the window, that key's count is the counter's
//!   delta (exact); otherwise keys carry their sample counts and one pair-level summary carries
//!   the exact total.
//! - Bounds: a key table per class (sensitive zones have their own), a token-bucket alert budget
//!   per class (a flood elsewhere cannot spend the My Number budget), at most a few `first`
//!   alerts per source per window, and a source that tries many destinations/ports in one window
//!   becomes a scanner with a single `scan-summary`. What does not fit is rolled up per zone
//!   pair, so nothing disappears from the counts.
//! - Fallback codes: the ruleset meters log samples per source, one meter set per log code;
//!   when that set is full a fallback rule logs the denial under a code of its own whose
//!   [`LogCode::meter_full`] names the set, and which has no counter (the base code's counter
//!   counts every packet of the denial). Its samples are taken as samples of the base code (the
//!   one code with the same reason, hook and zones), and each window that saw any of them raises
//!   one `monitoring-degraded` per meter (`what: "log-meter:NAME"`); the first window after
//!   that without any raises one `restored`.

use super::counters::Counters;
use super::keys::{KeyCounts, KeyId, TableFill};
use super::parse::{protocol_name, Family, Headers};
use crate::config::DeniedFlowConfig;
use crate::model::{AlertKind, FlowEvent, FlowPhase, MonitoringDegraded, ScanSummary};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::time::Instant;
use zonegate_policy::metadata::{LogCode, Reason};
use zonegate_policy::Metadata;

/// Destinations and ports listed in a scan summary.
const SCAN_LIST: usize = 16;
/// Distinct destinations/ports counted per scanner (beyond: "at least").
const SCAN_DISTINCT_MAX: usize = 4096;

/// One logged packet, headers only, with its interfaces resolved to names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedPacket {
    /// The `zg:N` code.
    pub code: u32,
    pub headers: Headers,
    pub in_iface: Option<String>,
    pub out_iface: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Class {
    Normal = 0,
    Sensitive = 1,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FlowKey {
    code: u32,
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    /// Destination port, or ICMP type.
    port: Option<u16>,
}

#[derive(Debug, Clone)]
struct KeyState {
    class: Class,
    sample: DeniedPacket,
    from: Option<String>,
    to: Option<String>,
    samples: u64,
    first_seen: Timestamp,
    last_seen: Timestamp,
    /// A `first` alert went out for it in this window.
    first_this_window: bool,
}

#[derive(Debug, Default)]
struct ScanState {
    dsts: HashSet<IpAddr>,
    ports: HashSet<(u8, u16)>,
    dst_list: Vec<IpAddr>,
    port_list: Vec<String>,
    samples: u64,
    from: Option<String>,
    to: BTreeSet<String>,
    reasons: BTreeSet<String>,
    codes: BTreeMap<u32, u64>,
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
    /// Exact packets, from the per-key tables.
    packets: Option<u64>,
    /// The distinct counts come from per-key tables that missed none of the source's packets.
    distinct_exact: bool,
}

#[derive(Debug)]
struct SourceState {
    class: Class,
    targets: HashSet<(IpAddr, u8, Option<u16>)>,
    firsts: u32,
    scanning: bool,
    active: bool,
    scan: ScanState,
}

#[derive(Debug, Clone, Default)]
struct Rollup {
    keys: u64,
    samples: u64,
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
}

#[derive(Debug, Clone)]
struct TokenBucket {
    per_sec: f64,
    capacity: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    fn per_minute(n: u32) -> TokenBucket {
        let n = f64::from(n.max(1));
        TokenBucket {
            per_sec: n / 60.0,
            capacity: n,
            tokens: n,
            last: None,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.per_sec).min(self.capacity);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The denial a per-source log meter set serves, as a meter alert names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MeterDenial {
    reason: Reason,
    from: Option<String>,
    to: Option<String>,
}

impl MeterDenial {
    fn of(code: &LogCode) -> MeterDenial {
        MeterDenial {
            reason: code.reason,
            from: code.from.clone(),
            to: code.to.clone(),
        }
    }

    /// "no-flow lgwan -> mynumber".
    fn describe(&self) -> String {
        let zone = |z: &Option<String>| z.clone().unwrap_or_else(|| "any zone".into());
        format!(
            "{} {} -> {}",
            self.reason.as_str(),
            zone(&self.from),
            zone(&self.to)
        )
    }
}

/// A meter whose fallback code was seen in the current window.
#[derive(Debug, Clone)]
struct FullMeter {
    denial: MeterDenial,
    samples: u64,
}

/// Fallback code -> base code: for each code with `meter_full`, the one code without it that has
/// the same reason, hook and zones. A fallback code with no such code (or, against the
/// compiler's promise, several) is left out and stays a code of its own.
fn base_codes(codes: &BTreeMap<u32, LogCode>) -> BTreeMap<u32, u32> {
    let mut out = BTreeMap::new();
    for (n, c) in codes.iter().filter(|(_, c)| c.meter_full.is_some()) {
        let bases: Vec<u32> = codes
            .iter()
            .filter(|(_, b)| {
                b.meter_full.is_none()
                    && b.reason == c.reason
                    && b.hook == c.hook
                    && b.from == c.from
                    && b.to == c.to
            })
            .map(|(b, _)| *b)
            .collect();
        match bases.as_slice() {
            [base] => {
                out.insert(*n, *base);
            }
            _ => tracing::warn!(
                code = n,
                candidates = bases.len(),
                "A meter-full log code has no single base code; its samples are counted on their own."
            ),
        }
    }
    out
}

/// What observing one packet produced.
#[derive(Debug, Default)]
pub struct Observation {
    /// Alerts to emit now (`first`).
    pub alerts: Vec<AlertKind>,
    /// (from, to, reason) of the packet, for the samples metric; None for an unknown code.
    pub pair: Option<(String, String, String)>,
}

/// What closing a window produced.
#[derive(Debug, Default)]
pub struct WindowReport {
    pub alerts: Vec<AlertKind>,
    /// Exact denied packets per (from, to, reason) in the window, from the counters.
    pub denied: Vec<((String, String, String), u64)>,
    /// The window's figures (also kept in [`Aggregator::recent_windows`]).
    pub figures: WindowFigures,
}

/// What one closed window saw, for `zonegate-agent status` and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowFigures {
    /// When the window closed (RFC 3339).
    pub closed_at: String,
    pub window_secs: u64,
    /// Exact denied packets (the ruleset's counters); None when the window closed without them.
    pub denied_packets: Option<u64>,
    /// Distinct keys (code, source, destination, protocol, port) that denied packets in the
    /// window, from the per-key tables; None without them.
    pub denied_keys: Option<u64>,
    /// Packets whose key could not be stored in a per-key table (table full, or no transport
    /// header): not in any per-key count, but in `denied_packets`.
    pub untracked_packets: Option<u64>,
    /// Sources reported as scanners (one `scan-summary` each).
    pub scans: u64,
    /// The largest scan: distinct destinations and ports of one source.
    pub largest_scan: Option<(u64, u64)>,
    /// NFLOG samples received.
    pub samples: u64,
    /// Alerts the window produced.
    pub alerts: u64,
    /// Fill of each per-key table when read.
    pub tables: Vec<(String, u64, u64)>,
}

/// Closed windows kept for the status.
const RECENT_WINDOWS: usize = 5;

/// The aggregation state. See the module documentation.
#[derive(Debug)]
pub struct Aggregator {
    cfg: DeniedFlowConfig,
    tz: TimeZone,
    codes: BTreeMap<u32, LogCode>,
    interfaces: BTreeMap<String, String>,
    sensitive: BTreeSet<String>,
    window_started: Timestamp,
    keys: HashMap<FlowKey, KeyState>,
    key_counts: [usize; 2],
    sources: HashMap<IpAddr, SourceState>,
    rollups: BTreeMap<u32, Rollup>,
    budgets: [TokenBucket; 2],
    last_counters: BTreeMap<u32, u64>,
    /// Fallback code -> base code (see [`base_codes`]).
    base: BTreeMap<u32, u32>,
    /// Meters whose fallback code was seen in this window, by meter set name.
    meters_full: BTreeMap<String, FullMeter>,
    /// Meters reported full for the previous window (a window without them is a `restored`).
    meters_degraded: BTreeMap<String, MeterDenial>,
    /// Per-key table values at the last read (absolute, as the kernel counts).
    last_keys: HashMap<KeyId, u64>,
    /// Untracked counters (`uN`) at the last read.
    last_untracked: BTreeMap<u32, u64>,
    /// A per-key table could not hold every key in the previous window.
    keys_degraded: bool,
    samples_in_window: u64,
    recent: VecDeque<WindowFigures>,
}

fn label(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "unknown".into())
}

impl Aggregator {
    pub fn new(cfg: DeniedFlowConfig, metadata: &Metadata, tz: TimeZone, now: Timestamp) -> Self {
        let mut a = Aggregator {
            budgets: [
                TokenBucket::per_minute(cfg.alerts_per_minute),
                TokenBucket::per_minute(cfg.sensitive_alerts_per_minute),
            ],
            cfg,
            tz,
            codes: BTreeMap::new(),
            interfaces: BTreeMap::new(),
            sensitive: BTreeSet::new(),
            window_started: now,
            keys: HashMap::new(),
            key_counts: [0, 0],
            sources: HashMap::new(),
            rollups: BTreeMap::new(),
            last_counters: BTreeMap::new(),
            base: BTreeMap::new(),
            meters_full: BTreeMap::new(),
            meters_degraded: BTreeMap::new(),
            last_keys: HashMap::new(),
            last_untracked: BTreeMap::new(),
            keys_degraded: false,
            samples_in_window: 0,
            recent: VecDeque::new(),
        };
        a.set_metadata(metadata);
        a
    }

    /// A new ruleset is in force: its codes, interfaces and sensitive zones apply from now, and
    /// its counters start at zero (the table was replaced).
    pub fn set_metadata(&mut self, metadata: &Metadata) {
        self.codes = metadata.log_codes.clone();
        self.base = base_codes(&self.codes);
        self.interfaces = metadata.interfaces.clone();
        self.sensitive = metadata.sensitive_zones.iter().cloned().collect();
        self.last_counters.clear();
        self.last_keys.clear();
        self.last_untracked.clear();
    }

    /// Per-key values already reported elsewhere (the agent restarted without replacing the
    /// ruleset): the next window counts from them.
    pub fn set_key_baseline(&mut self, keys: &KeyCounts) {
        self.last_keys = keys.keys.clone();
        self.last_untracked = keys.untracked.clone();
    }

    /// The figures of the last closed windows, oldest first.
    pub fn recent_windows(&self) -> Vec<WindowFigures> {
        self.recent.iter().cloned().collect()
    }

    /// Every (from, to, reason) the ruleset's counters can report, so the metrics show each pair
    /// at 0 before its first denial: Prometheus' `increase()` cannot see an increment in a
    /// series that is born with it (the fleet report and alert rules of issue 18 rely on it).
    pub fn denied_pairs(&self) -> Vec<(String, String, String)> {
        self.codes
            .iter()
            .filter(|(code, _)| !self.base.contains_key(code))
            .map(|(_, lc)| {
                (
                    label(&lc.from),
                    label(&lc.to),
                    lc.reason.as_str().to_string(),
                )
            })
            .collect()
    }

    /// Counter values already reported elsewhere (the agent restarted without replacing the
    /// ruleset): the next window counts from them, not from zero.
    pub fn set_counter_baseline(&mut self, counters: &Counters) {
        self.last_counters = counters.iter().map(|(c, v)| (*c, v.packets)).collect();
    }

    fn time(&self, ts: Timestamp) -> String {
        crate::pipeline::format_time(ts, &self.tz)
    }

    /// Zones of a packet: from its log code, else from its interfaces.
    fn zones(&self, code: &LogCode, pkt: &DeniedPacket) -> (Option<String>, Option<String>) {
        let by_iface =
            |i: &Option<String>| i.as_ref().and_then(|i| self.interfaces.get(i)).cloned();
        let from = code.from.clone().or_else(|| by_iface(&pkt.in_iface));
        let to = code.to.clone().or_else(|| match code.hook.as_str() {
            "input" => Some("gateway".to_string()),
            _ => by_iface(&pkt.out_iface),
        });
        (from, to)
    }

    fn max_keys(&self, class: Class) -> usize {
        match class {
            Class::Normal => self.cfg.max_keys,
            Class::Sensitive => self.cfg.max_sensitive_keys,
        }
    }

    /// Whether `code` is one of ours (else the packet is foreign to zonegate).
    pub fn knows(&self, code: u32) -> bool {
        self.codes.contains_key(&code)
    }

    /// Whether a denial of `code` between `from` and `to` is of the sensitive class (own budget
    /// and key table, high severity). Neighbour discovery never is: it is link-local noise,
    /// and a busy My Number segment must not spend the budget of real attempts with it.
    fn is_sensitive(&self, code: &LogCode, from: &Option<String>, to: &Option<String>) -> bool {
        code.reason != Reason::NeighbourDiscovery
            && (code.sensitive
                || [from, to]
                    .into_iter()
                    .flatten()
                    .any(|z| self.sensitive.contains(z)))
    }

    /// Takes one sample into account; returns the alerts to send now.
    pub fn observe(&mut self, pkt: &DeniedPacket, now: Instant, wall: Timestamp) -> Observation {
        let Some(logged) = self.codes.get(&pkt.code) else {
            return Observation::default();
        };
        self.samples_in_window += 1;
        if let Some(meter) = &logged.meter_full {
            let denial = MeterDenial::of(logged);
            self.meters_full
                .entry(meter.clone())
                .or_insert(FullMeter { denial, samples: 0 })
                .samples += 1;
        }
        // A fallback code's sample is a sample of its base code from here on.
        let rebased;
        let pkt = match self.base.get(&pkt.code) {
            Some(base) => {
                rebased = DeniedPacket {
                    code: *base,
                    ..pkt.clone()
                };
                &rebased
            }
            None => pkt,
        };
        let Some(code) = self.codes.get(&pkt.code).cloned() else {
            return Observation::default();
        };
        let (from, to) = self.zones(&code, pkt);
        let sensitive = self.is_sensitive(&code, &from, &to);
        let class = if sensitive {
            Class::Sensitive
        } else {
            Class::Normal
        };
        let mut obs = Observation {
            alerts: Vec::new(),
            pair: Some((label(&from), label(&to), code.reason.as_str().to_string())),
        };
        let h = &pkt.headers;
        let port = h.dst_port.or(h.icmp_type.map(u16::from));
        let key = FlowKey {
            code: pkt.code,
            src: h.src,
            dst: h.dst,
            protocol: h.protocol,
            port,
        };
        if let Some(k) = self.keys.get_mut(&key) {
            k.samples += 1;
            k.last_seen = wall;
            if let Some(s) = self.sources.get_mut(&h.src) {
                s.active = true;
            }
            return obs;
        }
        let source_cap = self.cfg.max_keys + self.cfg.max_sensitive_keys;
        if !self.sources.contains_key(&h.src) && self.sources.len() >= source_cap {
            self.roll_up(pkt.code, wall, true);
            return obs;
        }
        let source = self.sources.entry(h.src).or_insert_with(|| SourceState {
            class,
            targets: HashSet::new(),
            firsts: 0,
            scanning: false,
            active: true,
            scan: ScanState::default(),
        });
        source.active = true;
        if class == Class::Sensitive {
            source.class = Class::Sensitive;
        }
        if source.scanning {
            add_to_scan(&mut source.scan, pkt, &code, &from, &to, wall);
            return obs;
        }
        source.targets.insert((h.dst, h.protocol, port));
        if source.targets.len() >= self.cfg.scan_threshold.max(2) {
            // Many destinations or ports from one source in one window: from now on one scan
            // summary stands for all of them, including the keys it already had.
            source.scanning = true;
            let src = h.src;
            let absorbed: Vec<FlowKey> =
                self.keys.keys().filter(|k| k.src == src).cloned().collect();
            let mut scan = ScanState::default();
            for k in absorbed {
                if let Some(state) = self.keys.remove(&k) {
                    self.key_counts[state.class as usize] -= 1;
                    let kcode = self
                        .codes
                        .get(&k.code)
                        .cloned()
                        .unwrap_or_else(|| code.clone());
                    for _ in 0..state.samples.min(1) {
                        add_to_scan(
                            &mut scan,
                            &state.sample,
                            &kcode,
                            &state.from,
                            &state.to,
                            state.first_seen,
                        );
                    }
                    scan.samples += state.samples.saturating_sub(1);
                    *scan.codes.entry(k.code).or_default() += state.samples.saturating_sub(1);
                    scan.last_seen = scan.last_seen.max(Some(state.last_seen));
                }
            }
            add_to_scan(&mut scan, pkt, &code, &from, &to, wall);
            if let Some(s) = self.sources.get_mut(&src) {
                s.scan = scan;
            }
            return obs;
        }
        let firsts = source.firsts;
        if self.key_counts[class as usize] >= self.max_keys(class) {
            self.roll_up(pkt.code, wall, true);
            return obs;
        }
        let mut state = KeyState {
            class,
            sample: pkt.clone(),
            from,
            to,
            samples: 1,
            first_seen: wall,
            last_seen: wall,
            first_this_window: false,
        };
        let may_alert = firsts < self.cfg.first_alerts_per_source;
        if may_alert && self.budgets[class as usize].take(now) {
            if let Some(s) = self.sources.get_mut(&h.src) {
                s.firsts += 1;
            }
            state.first_this_window = true;
            obs.alerts.push(self.flow_alert(
                &code,
                &state,
                FlowPhase::First,
                1,
                true,
                None,
                None,
                wall,
            ));
        }
        self.keys.insert(key, state);
        self.key_counts[class as usize] += 1;
        obs
    }

    fn roll_up(&mut self, code: u32, wall: Timestamp, new_key: bool) {
        let r = self.rollups.entry(code).or_default();
        r.keys += u64::from(new_key);
        r.samples += 1;
        r.first_seen = r.first_seen.or(Some(wall));
        r.last_seen = Some(wall);
    }

    #[allow(clippy::too_many_arguments)]
    fn flow_alert(
        &self,
        code: &LogCode,
        k: &KeyState,
        phase: FlowPhase,
        count: u64,
        exact: bool,
        pair_count: Option<u64>,
        keys: Option<u64>,
        end: Timestamp,
    ) -> AlertKind {
        let h = &k.sample.headers;
        let event = FlowEvent {
            phase,
            reason: code.reason.as_str().to_string(),
            code: k.sample.code,
            hook: code.hook.clone(),
            from_zone: k.from.clone(),
            to_zone: k.to.clone(),
            in_iface: k.sample.in_iface.clone(),
            out_iface: k.sample.out_iface.clone(),
            family: Some(h.family.as_str().to_string()),
            src: Some(h.src),
            dst: Some(h.dst),
            protocol: Some(protocol_name(h.protocol)),
            src_port: h.src_port,
            dst_port: h.dst_port,
            icmp_type: h.icmp_type,
            icmp_code: h.icmp_code,
            sensitive: k.class == Class::Sensitive,
            count,
            count_exact: exact,
            samples: k.samples,
            pair_count,
            keys,
            first_seen: self.time(if phase == FlowPhase::First {
                k.first_seen
            } else {
                k.first_seen.max(self.window_started)
            }),
            last_seen: self.time(if phase == FlowPhase::First {
                k.first_seen
            } else {
                k.last_seen.min(end)
            }),
            window_secs: self.cfg.window_secs,
        };
        wrap(code.reason, event)
    }

    /// Closes the window: summaries of repeats (with exact counts when `counters` are given),
    /// scan summaries, pair-level roll-ups; then starts the next window.
    pub fn close_window(
        &mut self,
        counters: Option<&Counters>,
        now: Instant,
        wall: Timestamp,
    ) -> WindowReport {
        self.close_window_with_keys(counters, None, now, wall)
    }

    /// Per-key deltas since the last read; a value below the last one means the key was
    /// forgotten (idle past the table's timeout) and counted again from zero.
    fn key_deltas(&mut self, keys: &KeyCounts) -> (HashMap<KeyId, u64>, BTreeMap<u32, u64>) {
        let mut out = HashMap::new();
        for (k, v) in &keys.keys {
            let last = self.last_keys.get(k).copied().unwrap_or(0);
            let d = if *v >= last { v - last } else { *v };
            if d > 0 {
                out.insert(*k, d);
            }
        }
        self.last_keys = keys.keys.clone();
        let mut untracked = BTreeMap::new();
        for (c, v) in &keys.untracked {
            let last = self.last_untracked.get(c).copied().unwrap_or(0);
            let d = if *v >= last { v - last } else { *v };
            if d > 0 {
                untracked.insert(*c, d);
            }
        }
        self.last_untracked = keys.untracked.clone();
        (out, untracked)
    }

    /// The packet a kernel key stands for, when no NFLOG sample of it arrived.
    fn key_sample(k: &KeyId) -> DeniedPacket {
        let family = family_of(&k.src);
        DeniedPacket {
            code: k.code,
            headers: Headers {
                family,
                src: k.src,
                dst: k.dst,
                protocol: k.protocol,
                src_port: None,
                dst_port: k.has_port().then_some(k.port),
                icmp_type: k.is_icmp().then_some((k.port >> 8) as u8),
                icmp_code: k.is_icmp().then_some((k.port & 0xff) as u8),
            },
            in_iface: None,
            out_iface: None,
        }
    }

    /// The sample table's key of a kernel key (ICMP: the type only, as samples are keyed).
    fn flow_key(k: &KeyId) -> FlowKey {
        FlowKey {
            code: k.code,
            src: k.src,
            dst: k.dst,
            protocol: k.protocol,
            port: if k.has_port() {
                Some(k.port)
            } else if k.is_icmp() {
                Some(k.port >> 8)
            } else {
                None
            },
        }
    }

    /// Sources whose kernel keys in the window reach the scan threshold become scanners, with
    /// distinct counts taken from the kernel (no sample limit hides a port there).
    fn kernel_scanners(
        &mut self,
        deltas: &HashMap<KeyId, u64>,
        untracked: &BTreeMap<u32, u64>,
    ) -> HashSet<IpAddr> {
        let mut by_src: HashMap<IpAddr, Vec<(&KeyId, u64)>> = HashMap::new();
        for (k, d) in deltas {
            by_src.entry(k.src).or_default().push((k, *d));
        }
        let threshold = self.cfg.scan_threshold.max(2);
        let mut out = HashSet::new();
        for (src, mut keys) in by_src {
            let targets: HashSet<(IpAddr, u8, Option<u16>)> = keys
                .iter()
                .map(|(k, _)| {
                    let f = Self::flow_key(k);
                    (f.dst, f.protocol, f.port)
                })
                .collect();
            if targets.len() < threshold {
                continue;
            }
            keys.sort_by_key(|(k, _)| (k.dst, k.protocol, k.port));
            let mut scan = match self.sources.get_mut(&src) {
                Some(s) if s.scanning => std::mem::take(&mut s.scan),
                _ => ScanState::default(),
            };
            // Keys the samples tracked for this source are part of the scan now.
            let absorbed: Vec<FlowKey> =
                self.keys.keys().filter(|k| k.src == src).cloned().collect();
            let mut class = Class::Normal;
            for k in absorbed {
                if let Some(state) = self.keys.remove(&k) {
                    self.key_counts[state.class as usize] -= 1;
                    if state.class == Class::Sensitive {
                        class = Class::Sensitive;
                    }
                    scan.samples += state.samples;
                    scan.first_seen = Some(
                        scan.first_seen
                            .map_or(state.first_seen, |f| f.min(state.first_seen)),
                    );
                    scan.last_seen = Some(
                        scan.last_seen
                            .map_or(state.last_seen, |l| l.max(state.last_seen)),
                    );
                }
            }
            let mut packets = 0;
            scan.codes.clear();
            for (k, d) in &keys {
                packets += d;
                *scan.codes.entry(k.code).or_default() += d;
                let f = Self::flow_key(k);
                if scan.dsts.len() < SCAN_DISTINCT_MAX
                    && scan.dsts.insert(k.dst)
                    && scan.dst_list.len() < SCAN_LIST
                {
                    scan.dst_list.push(k.dst);
                }
                let port = f.port.unwrap_or(0);
                if scan.ports.len() < SCAN_DISTINCT_MAX
                    && scan.ports.insert((k.protocol, port))
                    && scan.port_list.len() < SCAN_LIST
                {
                    scan.port_list
                        .push(format!("{}/{}", protocol_name(k.protocol), port));
                }
                if let Some(code) = self.codes.get(&k.code).cloned() {
                    if scan.from.is_none() {
                        scan.from = code.from.clone();
                    }
                    if let Some(t) = &code.to {
                        scan.to.insert(t.clone());
                    }
                    scan.reasons.insert(code.reason.as_str().to_string());
                    if self.is_sensitive(&code, &code.from, &code.to) {
                        class = Class::Sensitive;
                    }
                }
            }
            scan.packets = Some(packets);
            // Packets of the source's codes that no table could key may hide more targets.
            scan.distinct_exact = keys.iter().all(|(k, _)| !untracked.contains_key(&k.code));
            let source = self.sources.entry(src).or_insert_with(|| SourceState {
                class,
                targets: HashSet::new(),
                firsts: 0,
                scanning: true,
                active: true,
                scan: ScanState::default(),
            });
            source.scanning = true;
            source.active = true;
            if class == Class::Sensitive {
                source.class = Class::Sensitive;
            }
            source.scan = scan;
            out.insert(src);
        }
        out
    }

    /// Closes the window: like [`Aggregator::close_window`], with the per-key tables' values
    /// when the agent read them: every key's summary then carries its exact count, scans are
    /// recognised from the distinct keys of a source (not from samples), and packets the
    /// tables could not key are reported.
    pub fn close_window_with_keys(
        &mut self,
        counters: Option<&Counters>,
        key_counts: Option<&KeyCounts>,
        now: Instant,
        wall: Timestamp,
    ) -> WindowReport {
        let mut report = WindowReport::default();
        let (kdeltas, untracked) = match key_counts {
            Some(kc) => {
                let (d, u) = self.key_deltas(kc);
                (Some(d), u)
            }
            None => (None, BTreeMap::new()),
        };
        let kernel_scanners = match &kdeltas {
            Some(d) => self.kernel_scanners(d, &untracked),
            None => HashSet::new(),
        };
        let window_secs = (wall.as_second() - self.window_started.as_second()).max(1) as u64;
        // Counter deltas; a counter below its last value means the table was replaced.
        let mut deltas: BTreeMap<u32, u64> = BTreeMap::new();
        if let Some(counters) = counters {
            for (code, v) in counters {
                if self.base.contains_key(code) {
                    // A fallback code's packets are in its base code's counter already.
                    continue;
                }
                let last = self.last_counters.get(code).copied().unwrap_or(0);
                let d = if v.packets >= last {
                    v.packets - last
                } else {
                    v.packets
                };
                self.last_counters.insert(*code, v.packets);
                if d > 0 {
                    deltas.insert(*code, d);
                    if let Some(lc) = self.codes.get(code) {
                        let (from, to) = (label(&lc.from), label(&lc.to));
                        report
                            .denied
                            .push(((from, to, lc.reason.as_str().to_string()), d));
                    }
                }
            }
        }
        // Scanners first: they matter more than single keys when the budget is short.
        let mut scanners: Vec<(IpAddr, Class)> = self
            .sources
            .iter()
            .filter(|(_, s)| s.scanning && s.scan.samples > 0)
            .map(|(ip, s)| (*ip, s.class))
            .collect();
        scanners.sort_by_key(|(ip, c)| (std::cmp::Reverse(*c), *ip));
        let mut scanned_codes: BTreeMap<u32, u64> = BTreeMap::new();
        for (ip, class) in scanners {
            let Some(s) = self.sources.get(&ip) else {
                continue;
            };
            for (c, n) in &s.scan.codes {
                *scanned_codes.entry(*c).or_default() += n;
            }
            if self.budgets[class as usize].take(now) {
                let scan = &s.scan;
                report.alerts.push(AlertKind::ScanSummary(ScanSummary {
                    src: ip,
                    from_zone: scan.from.clone(),
                    to_zones: scan.to.iter().cloned().collect(),
                    distinct_destinations: scan.dsts.len() as u64,
                    distinct_ports: scan.ports.len() as u64,
                    destinations: scan.dst_list.clone(),
                    ports: scan.port_list.clone(),
                    samples: scan.samples,
                    packets: scan.packets,
                    distinct_exact: scan.distinct_exact,
                    reasons: scan.reasons.iter().cloned().collect(),
                    sensitive: class == Class::Sensitive,
                    first_seen: self.time(scan.first_seen.unwrap_or(self.window_started)),
                    last_seen: self.time(scan.last_seen.unwrap_or(wall)),
                    window_secs,
                }));
            } else {
                let codes: Vec<(u32, u64)> = s.scan.codes.iter().map(|(c, n)| (*c, *n)).collect();
                for (c, n) in codes {
                    let r = self.rollups.entry(c).or_default();
                    r.keys += 1;
                    r.samples += n;
                }
            }
        }
        // Keys, grouped by code.
        let mut by_code: BTreeMap<u32, Vec<FlowKey>> = BTreeMap::new();
        for (k, s) in &self.keys {
            if s.samples > 0 {
                by_code.entry(k.code).or_default().push(k.clone());
            }
        }
        let mut figures = WindowFigures {
            window_secs,
            samples: std::mem::take(&mut self.samples_in_window),
            ..WindowFigures::default()
        };
        if let Some(kc) = key_counts {
            figures.tables = kc
                .tables
                .iter()
                .map(|t: &TableFill| (t.name.clone(), t.keys, t.size))
                .collect();
        }
        if let Some(kdeltas) = &kdeltas {
            figures.denied_keys = Some(kdeltas.len() as u64);
            figures.untracked_packets = Some(untracked.values().sum());
            self.kernel_keys(
                kdeltas,
                &kernel_scanners,
                &untracked,
                &deltas,
                &scanned_codes,
                &mut by_code,
                now,
                wall,
                &mut report,
            );
            self.untracked_alerts(&untracked, key_counts, &mut report);
        }
        let mut all_codes: BTreeSet<u32> = by_code.keys().copied().collect();
        if kdeltas.is_none() {
            all_codes.extend(deltas.keys().copied());
            all_codes.extend(self.rollups.keys().copied());
            all_codes.extend(scanned_codes.keys().copied());
        }
        for code in all_codes {
            let Some(lc) = self.codes.get(&code).cloned() else {
                continue;
            };
            let mut keys = by_code.remove(&code).unwrap_or_default();
            keys.sort_by_key(|k| (k.src, k.dst, k.protocol, k.port));
            let delta = deltas.get(&code).copied();
            let scanned = scanned_codes.get(&code).copied().unwrap_or(0);
            let rolled = self.rollups.remove(&code).unwrap_or_default();
            let single = keys.len() == 1 && scanned == 0 && rolled.samples == 0;
            let mut samples_total = scanned + rolled.samples;
            let mut pair_needed = !single;
            // Keys that had an entry but whose summary did not fit the budget.
            let mut folded = 0u64;
            let mut exemplar: Option<KeyState> = None;
            for k in &keys {
                let Some(state) = self.keys.get(k).cloned() else {
                    continue;
                };
                samples_total += state.samples;
                let (count, exact) = match (single, delta) {
                    (true, Some(d)) => (d.max(state.samples), true),
                    _ => (state.samples, false),
                };
                let needed = if state.first_this_window {
                    count > 1
                } else {
                    count >= 1
                };
                if needed {
                    if self.budgets[state.class as usize].take(now) {
                        report.alerts.push(self.flow_alert(
                            &lc,
                            &state,
                            FlowPhase::Summary,
                            count,
                            exact,
                            delta,
                            None,
                            wall,
                        ));
                    } else {
                        folded += 1;
                        pair_needed = true;
                    }
                }
                exemplar.get_or_insert(state);
            }
            let total = match delta {
                Some(d) => Some(d),
                None if rolled.keys > 0 || folded > 0 || scanned > 0 => Some(samples_total),
                None => None,
            };
            let Some(total) = total else { continue };
            if !pair_needed || total == 0 {
                continue;
            }
            let sensitive = self.is_sensitive(&lc, &lc.from, &lc.to);
            let event = FlowEvent {
                phase: if rolled.keys + folded > 0 {
                    FlowPhase::Rollup
                } else {
                    FlowPhase::Summary
                },
                reason: lc.reason.as_str().to_string(),
                code,
                hook: lc.hook.clone(),
                from_zone: lc
                    .from
                    .clone()
                    .or_else(|| exemplar.as_ref().and_then(|e| e.from.clone())),
                to_zone: lc
                    .to
                    .clone()
                    .or_else(|| exemplar.as_ref().and_then(|e| e.to.clone())),
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
                count: total,
                count_exact: delta.is_some(),
                samples: samples_total,
                pair_count: delta,
                keys: Some(keys.len() as u64 + rolled.keys),
                first_seen: self.time(rolled.first_seen.unwrap_or(self.window_started)),
                last_seen: self.time(rolled.last_seen.unwrap_or(wall)),
                window_secs,
            };
            report.alerts.push(wrap(lc.reason, event));
        }
        self.meter_alerts(&mut report);
        // Next window: keep what was busy (its repeats continue without a new `first`), forget
        // the rest, reset per-window limits.
        self.keys.retain(|_, s| s.samples > 0);
        for s in self.keys.values_mut() {
            s.samples = 0;
            s.first_this_window = false;
        }
        self.key_counts = [0, 0];
        for s in self.keys.values() {
            self.key_counts[s.class as usize] += 1;
        }
        self.sources.retain(|_, s| s.active);
        for s in self.sources.values_mut() {
            s.active = false;
            s.firsts = 0;
            s.targets.clear();
            s.scan = ScanState::default();
        }
        self.rollups.clear();
        self.window_started = wall;
        figures.closed_at = self.time(wall);
        figures.denied_packets = counters.map(|_| deltas.values().sum());
        figures.largest_scan = report
            .alerts
            .iter()
            .filter_map(|a| match a {
                AlertKind::ScanSummary(s) => Some((s.distinct_destinations, s.distinct_ports)),
                _ => None,
            })
            .max_by_key(|(d, p)| d * 65536 + p);
        figures.alerts = report.alerts.len() as u64;
        figures.scans = report
            .alerts
            .iter()
            .filter(|a| matches!(a, AlertKind::ScanSummary(_)))
            .count() as u64;
        self.recent.push_back(figures.clone());
        while self.recent.len() > RECENT_WINDOWS {
            self.recent.pop_front();
        }
        report.figures = figures;
        report
    }

    /// Summaries from the per-key tables: one per key outside scans, with its exact count
    /// (details from its samples when there are any), and one pair-level summary per code
    /// whose packets the keys do not all stand for (untracked packets, keys folded for the
    /// alert budget, or sampled keys the tables lack). The keys handled here leave `by_code`.
    #[allow(clippy::too_many_arguments)]
    fn kernel_keys(
        &mut self,
        kdeltas: &HashMap<KeyId, u64>,
        scanners: &HashSet<IpAddr>,
        untracked: &BTreeMap<u32, u64>,
        deltas: &BTreeMap<u32, u64>,
        scanned_codes: &BTreeMap<u32, u64>,
        by_code: &mut BTreeMap<u32, Vec<FlowKey>>,
        now: Instant,
        wall: Timestamp,
        report: &mut WindowReport,
    ) {
        let mut per_code: BTreeMap<u32, Vec<(KeyId, u64)>> = BTreeMap::new();
        for (k, d) in kdeltas {
            if !scanners.contains(&k.src) {
                per_code.entry(k.code).or_default().push((*k, *d));
            }
        }
        let mut codes: BTreeSet<u32> = per_code.keys().copied().collect();
        codes.extend(by_code.keys().copied());
        codes.extend(untracked.keys().copied());
        codes.extend(self.rollups.keys().copied());
        for code in codes {
            let Some(lc) = self.codes.get(&code).cloned() else {
                continue;
            };
            let mut keys = per_code.remove(&code).unwrap_or_default();
            keys.sort();
            let delta = deltas.get(&code).copied();
            let mut sampled: HashSet<FlowKey> = by_code
                .remove(&code)
                .unwrap_or_default()
                .into_iter()
                .filter(|k| !scanners.contains(&k.src))
                .collect();
            let rolled = self.rollups.remove(&code).unwrap_or_default();
            let mut folded = 0u64;
            let mut samples_total = rolled.samples + scanned_codes.get(&code).copied().unwrap_or(0);
            let mut exemplar: Option<KeyState> = None;
            for (k, count) in &keys {
                let fk = Self::flow_key(k);
                let state = match self.keys.get(&fk) {
                    Some(st) if sampled.remove(&fk) => st.clone(),
                    Some(st) => KeyState {
                        samples: 0,
                        first_this_window: false,
                        ..st.clone()
                    },
                    None => {
                        let pkt = Self::key_sample(k);
                        let (from, to) = self.zones(&lc, &pkt);
                        let sensitive = self.is_sensitive(&lc, &from, &to);
                        KeyState {
                            class: if sensitive {
                                Class::Sensitive
                            } else {
                                Class::Normal
                            },
                            sample: pkt,
                            from,
                            to,
                            samples: 0,
                            first_seen: self.window_started,
                            last_seen: wall,
                            first_this_window: false,
                        }
                    }
                };
                samples_total += state.samples;
                let needed = if state.first_this_window {
                    *count > 1
                } else {
                    *count >= 1
                };
                if needed {
                    if self.budgets[state.class as usize].take(now) {
                        report.alerts.push(self.flow_alert(
                            &lc,
                            &state,
                            FlowPhase::Summary,
                            *count,
                            true,
                            delta,
                            None,
                            wall,
                        ));
                    } else {
                        folded += 1;
                    }
                }
                exemplar.get_or_insert(state);
            }
            // Sampled keys the tables do not have (their packets are untracked).
            for fk in &sampled {
                if let Some(st) = self.keys.get(fk) {
                    samples_total += st.samples;
                    folded += 1;
                    exemplar.get_or_insert(st.clone());
                }
            }
            let lost = untracked.get(&code).copied().unwrap_or(0);
            if folded == 0 && lost == 0 && rolled.keys == 0 {
                continue;
            }
            let Some(total) = delta else { continue };
            let sensitive = self.is_sensitive(&lc, &lc.from, &lc.to);
            let event = FlowEvent {
                phase: FlowPhase::Rollup,
                reason: lc.reason.as_str().to_string(),
                code,
                hook: lc.hook.clone(),
                from_zone: lc
                    .from
                    .clone()
                    .or_else(|| exemplar.as_ref().and_then(|e| e.from.clone())),
                to_zone: lc
                    .to
                    .clone()
                    .or_else(|| exemplar.as_ref().and_then(|e| e.to.clone())),
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
                count: total,
                count_exact: true,
                samples: samples_total,
                pair_count: delta,
                keys: Some(keys.len() as u64 + sampled.len() as u64),
                first_seen: self.time(rolled.first_seen.unwrap_or(self.window_started)),
                last_seen: self.time(rolled.last_seen.unwrap_or(wall)),
                window_secs: self.cfg.window_secs,
            };
            report.alerts.push(wrap(lc.reason, event));
        }
    }

    /// One `monitoring-degraded` (`key-table`) for a window in which packets could not be
    /// keyed, one `restored` for the first window after that in which all could.
    fn untracked_alerts(
        &mut self,
        untracked: &BTreeMap<u32, u64>,
        key_counts: Option<&KeyCounts>,
        report: &mut WindowReport,
    ) {
        let lost: u64 = untracked.values().sum();
        let tables = key_counts
            .map(|kc| {
                kc.tables
                    .iter()
                    .map(|t| format!("{} {}/{}", t.name, t.keys, t.size))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        if lost > 0 {
            let pairs: Vec<String> = untracked
                .iter()
                .filter_map(|(c, n)| {
                    self.codes
                        .get(c)
                        .map(|lc| format!("{} ({n})", MeterDenial::of(lc).describe()))
                })
                .collect();
            report
                .alerts
                .push(AlertKind::MonitoringDegraded(MonitoringDegraded {
                    what: "key-table".into(),
                    detail: format!(
                        "{lost} denied packets could not be counted per key (per-key table full, or no transport header) in the last window: {}; per-key tables {tables}; the totals per zone pair stay exact",
                        pairs.join(", ")
                    ),
                    lost: Some(lost),
                    restored: false,
                }));
            self.keys_degraded = true;
        } else if self.keys_degraded {
            report
                .alerts
                .push(AlertKind::MonitoringDegraded(MonitoringDegraded {
                    what: "key-table".into(),
                    detail: format!(
                        "every denied packet was counted per key in the last window again; per-key tables {tables}"
                    ),
                    lost: None,
                    restored: true,
                }));
            self.keys_degraded = false;
        }
    }

    /// One `monitoring-degraded` per meter that was full in the closing window, one `restored`
    /// per meter that was full in the window before and not in this one.
    fn meter_alerts(&mut self, report: &mut WindowReport) {
        let full = std::mem::take(&mut self.meters_full);
        for (name, m) in &full {
            report
                .alerts
                .push(AlertKind::MonitoringDegraded(MonitoringDegraded {
                    what: format!("log-meter:{name}"),
                    detail: format!(
                        "the per-source log meter of {} is full, so new sources of that denial are logged only under the global rate limit ({} such samples in the window): sources may be missing from the samples; the counter stays exact",
                        m.denial.describe(),
                        m.samples
                    ),
                    lost: None,
                    restored: false,
                }));
        }
        let previous = std::mem::take(&mut self.meters_degraded);
        for (name, denial) in previous {
            if !full.contains_key(&name) {
                report
                    .alerts
                    .push(AlertKind::MonitoringDegraded(MonitoringDegraded {
                        what: format!("log-meter:{name}"),
                        detail: format!(
                            "the per-source log meter of {} was not full in the last window: every source of that denial is logged under its per-source limit again",
                            denial.describe()
                        ),
                        lost: None,
                        restored: true,
                    }));
            }
        }
        self.meters_degraded = full.into_iter().map(|(n, m)| (n, m.denial)).collect();
    }

    /// Tracked keys (for tests and the bench).
    pub fn tracked_keys(&self) -> usize {
        self.keys.len()
    }
}

fn wrap(reason: Reason, event: FlowEvent) -> AlertKind {
    if reason == Reason::AcceptedSensitive {
        AlertKind::SensitiveFlowAccepted(event)
    } else {
        AlertKind::DeniedFlow(event)
    }
}

fn add_to_scan(
    scan: &mut ScanState,
    pkt: &DeniedPacket,
    code: &LogCode,
    from: &Option<String>,
    to: &Option<String>,
    wall: Timestamp,
) {
    let h = &pkt.headers;
    scan.samples += 1;
    *scan.codes.entry(pkt.code).or_default() += 1;
    if scan.dsts.len() < SCAN_DISTINCT_MAX
        && scan.dsts.insert(h.dst)
        && scan.dst_list.len() < SCAN_LIST
    {
        scan.dst_list.push(h.dst);
    }
    let port = h.dst_port.or(h.icmp_type.map(u16::from)).unwrap_or(0);
    if scan.ports.len() < SCAN_DISTINCT_MAX
        && scan.ports.insert((h.protocol, port))
        && scan.port_list.len() < SCAN_LIST
    {
        scan.port_list
            .push(format!("{}/{}", protocol_name(h.protocol), port));
    }
    if scan.from.is_none() {
        scan.from = from.clone();
    }
    if let Some(t) = to {
        scan.to.insert(t.clone());
    }
    scan.reasons.insert(code.reason.as_str().to_string());
    scan.first_seen = Some(scan.first_seen.map_or(wall, |f| f.min(wall)));
    scan.last_seen = Some(scan.last_seen.map_or(wall, |l| l.max(wall)));
}

/// The family of an address (for tests building packets).
pub fn family_of(ip: &IpAddr) -> Family {
    match ip {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nflog::counters::CounterValue;
    use std::time::Duration;
    use zonegate_policy::metadata::METADATA_FORMAT;

    fn code(reason: Reason, from: &str, to: &str, sensitive: bool) -> LogCode {
        LogCode {
            reason,
            hook: "forward".into(),
            from: Some(from.into()),
            to: Some(to.into()),
            sensitive,
            logged: true,
            meter_full: None,
        }
    }

    fn fallback(reason: Reason, from: &str, to: &str, sensitive: bool, meter: &str) -> LogCode {
        LogCode {
            meter_full: Some(meter.into()),
            ..code(reason, from, to, sensitive)
        }
    }

    pub(crate) fn meta() -> Metadata {
        Metadata {
            format: METADATA_FORMAT,
            compiler_version: "0".into(),
            policy: "p".into(),
            revision: "r".into(),
            gateway: "gw1".into(),
            policy_sha256: "a".into(),
            source_sha256: "b".into(),
            ruleset_sha256: "c".into(),
            compiled_for: None,
            timezone: "Asia/Tokyo".into(),
            next_expiry: None,
            nflog_group: 100,
            interfaces: [
                ("ens3", "mynumber"),
                ("ens4", "lgwan"),
                ("ens5", "internet"),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
            sensitive_zones: vec!["mynumber".into()],
            log_codes: [
                (11, code(Reason::NoFlow, "lgwan", "mynumber", true)),
                (12, code(Reason::NoFlow, "lgwan", "internet", false)),
                (
                    10,
                    code(Reason::AcceptedSensitive, "lgwan", "mynumber", true),
                ),
                // Fallbacks of 12 and 11 (their per-source meters full), and one whose base
                // code is not in the metadata.
                (
                    13,
                    fallback(Reason::NoFlow, "lgwan", "internet", false, "m12"),
                ),
                (
                    14,
                    fallback(Reason::NoFlow, "lgwan", "mynumber", true, "m11"),
                ),
                (
                    15,
                    fallback(Reason::Spoofed, "internet", "lgwan", false, "m15"),
                ),
                (
                    16,
                    code(Reason::NeighbourDiscovery, "lgwan", "mynumber", true),
                ),
                (
                    19,
                    LogCode {
                        reason: Reason::UnknownInterface,
                        hook: "forward".into(),
                        from: None,
                        to: None,
                        sensitive: false,
                        logged: true,
                        meter_full: None,
                    },
                ),
            ]
            .into_iter()
            .collect(),
            key_sets: Vec::new(),
            key_table: 0,
            flows: BTreeMap::new(),
            intra_marks: BTreeMap::new(),
            signer: None,
        }
    }

    fn pkt(code: u32, src: &str, dst: &str, port: u16) -> DeniedPacket {
        let src: IpAddr = src.parse().unwrap();
        DeniedPacket {
            code,
            headers: Headers {
                family: family_of(&src),
                src,
                dst: dst.parse().unwrap(),
                protocol: 17,
                src_port: Some(40000),
                dst_port: Some(port),
                icmp_type: None,
                icmp_code: None,
            },
            in_iface: Some("ens4".into()),
            out_iface: Some("ens3".into()),
        }
    }

    struct Clock {
        start: Instant,
        wall: Timestamp,
        t: Duration,
    }

    impl Clock {
        fn new() -> Clock {
            Clock {
                start: Instant::now(),
                wall: "2026-04-01T00:00:00Z".parse().unwrap(),
                t: Duration::ZERO,
            }
        }
        fn at(&mut self, ms: u64) -> (Instant, Timestamp) {
            self.t = Duration::from_millis(ms);
            (self.start + self.t, self.wall + self.t)
        }
    }

    fn agg(cfg: DeniedFlowConfig, c: &mut Clock) -> Aggregator {
        let (_, w) = c.at(0);
        Aggregator::new(cfg, &meta(), TimeZone::UTC, w)
    }

    fn counters(pairs: &[(u32, u64)]) -> Counters {
        pairs
            .iter()
            .map(|(c, p)| {
                (
                    *c,
                    CounterValue {
                        packets: *p,
                        bytes: p * 28,
                    },
                )
            })
            .collect()
    }

    fn flows(alerts: &[AlertKind]) -> Vec<&FlowEvent> {
        alerts
            .iter()
            .filter_map(|a| match a {
                AlertKind::DeniedFlow(f) | AlertKind::SensitiveFlowAccepted(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn first_at_once_then_one_summary_with_the_exact_counter_count() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        let mut firsts = Vec::new();
        // 1,000 packets, of which the ruleset's limit let 50 through as samples.
        for i in 0..50 {
            let (now, wall) = c.at(i * 10);
            firsts.extend(
                a.observe(&pkt(11, "10.20.0.2", "10.10.0.5", 53), now, wall)
                    .alerts,
            );
        }
        assert_eq!(firsts.len(), 1);
        let f = flows(&firsts)[0];
        assert_eq!((f.phase, f.count, f.sensitive), (FlowPhase::First, 1, true));
        assert_eq!(firsts[0].severity(), crate::model::Severity::High);
        let (now, wall) = c.at(60_000);
        let r = a.close_window(Some(&counters(&[(11, 1000), (12, 0)])), now, wall);
        let f = flows(&r.alerts);
        assert_eq!(f.len(), 1, "{:?}", r.alerts);
        assert_eq!(
            (f[0].phase, f[0].count, f[0].count_exact, f[0].samples),
            (FlowPhase::Summary, 1000, true, 50)
        );
        assert_eq!(
            r.denied,
            vec![(("lgwan".into(), "mynumber".into(), "no-flow".into()), 1000)]
        );
        // Still going in the next window: a summary, no new first.
        let (now, wall) = c.at(61_000);
        assert!(a
            .observe(&pkt(11, "10.20.0.2", "10.10.0.5", 53), now, wall)
            .alerts
            .is_empty());
        let (now, wall) = c.at(120_000);
        let r = a.close_window(Some(&counters(&[(11, 1500)])), now, wall);
        let f = flows(&r.alerts);
        assert_eq!((f.len(), f[0].count, f[0].count_exact), (1, 500, true));
        // A quiet window forgets the key; the next packet is a first again.
        let (now, wall) = c.at(180_000);
        assert!(a
            .close_window(Some(&counters(&[(11, 1500)])), now, wall)
            .alerts
            .is_empty());
        let (now, wall) = c.at(181_000);
        assert_eq!(
            a.observe(&pkt(11, "10.20.0.2", "10.10.0.5", 53), now, wall)
                .alerts
                .len(),
            1
        );
    }

    #[test]
    fn a_single_first_needs_no_summary_and_a_reset_counter_is_not_negative() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        let (now, wall) = c.at(1);
        assert_eq!(
            a.observe(&pkt(12, "10.20.0.2", "10.30.0.5", 80), now, wall)
                .alerts
                .len(),
            1
        );
        let (now, wall) = c.at(60_000);
        assert!(a
            .close_window(Some(&counters(&[(12, 1)])), now, wall)
            .alerts
            .is_empty());
        // The ruleset was replaced: counter restarted at 3.
        let (now, wall) = c.at(61_000);
        a.observe(&pkt(12, "10.20.0.2", "10.30.0.5", 80), now, wall);
        let (now, wall) = c.at(120_000);
        let r = a.close_window(Some(&counters(&[(12, 0)])), now, wall);
        assert!(flows(&r.alerts).iter().all(|f| f.count >= 1));
    }

    #[test]
    fn a_port_scan_is_one_scan_summary() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        let mut now_alerts = Vec::new();
        for port in 1..=200u16 {
            let (now, wall) = c.at(u64::from(port));
            now_alerts.extend(
                a.observe(&pkt(12, "10.20.0.66", "10.30.0.5", port), now, wall)
                    .alerts,
            );
        }
        assert!(now_alerts.len() <= 4, "{}", now_alerts.len());
        let (now, wall) = c.at(60_000);
        let r = a.close_window(Some(&counters(&[(12, 200)])), now, wall);
        let scans: Vec<&ScanSummary> = r
            .alerts
            .iter()
            .filter_map(|a| match a {
                AlertKind::ScanSummary(s) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(scans.len(), 1, "{:?}", r.alerts);
        assert_eq!(scans[0].distinct_ports, 200);
        assert_eq!(scans[0].samples, 200);
        assert_eq!(scans[0].ports.len(), SCAN_LIST);
        // Plus one exact pair-level count; no per-port summaries.
        let f = flows(&r.alerts);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].src, f[0].count, f[0].count_exact), (None, 200, true));
    }

    #[test]
    fn a_flood_elsewhere_cannot_spend_the_sensitive_budget() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        let mut normal = 0;
        for i in 0..2000u32 {
            let (now, wall) = c.at(u64::from(i));
            let src = format!("10.20.{}.{}", i / 250, i % 250 + 1);
            normal += a
                .observe(&pkt(12, &src, "10.30.0.5", 80), now, wall)
                .alerts
                .len();
        }
        // 60 per minute, refilled at one a second over the two seconds of the flood.
        assert!((60..=62).contains(&normal), "{normal}");
        let (now, wall) = c.at(3000);
        let s = a.observe(&pkt(11, "10.20.9.9", "10.10.0.5", 53), now, wall);
        assert_eq!(s.alerts.len(), 1, "sensitive first alert still goes out");
        let (now, wall) = c.at(60_000);
        let r = a.close_window(Some(&counters(&[(11, 1), (12, 2000)])), now, wall);
        // The 1,940 keys without an alert of their own are one roll-up with the exact total.
        let rollups: Vec<&FlowEvent> = flows(&r.alerts)
            .into_iter()
            .filter(|f| f.phase == FlowPhase::Rollup)
            .collect();
        assert_eq!(rollups.len(), 1);
        assert_eq!((rollups[0].count, rollups[0].count_exact), (2000, true));
        assert_eq!(rollups[0].keys, Some(2000));
        assert!(r.alerts.len() < 70, "{}", r.alerts.len());
    }

    #[test]
    fn the_key_table_is_bounded() {
        let mut c = Clock::new();
        let cfg = DeniedFlowConfig {
            max_keys: 100,
            ..Default::default()
        };
        let mut a = agg(cfg, &mut c);
        for i in 0..1000u32 {
            let (now, wall) = c.at(u64::from(i));
            let src = format!("10.21.{}.{}", i / 250, i % 250 + 1);
            a.observe(&pkt(12, &src, "10.30.0.5", 80), now, wall);
        }
        assert_eq!(a.tracked_keys(), 100);
        let (now, wall) = c.at(60_000);
        let r = a.close_window(None, now, wall);
        let roll = flows(&r.alerts)
            .into_iter()
            .find(|f| f.phase == FlowPhase::Rollup)
            .unwrap();
        assert!(!roll.count_exact);
        assert!(roll.keys.unwrap() >= 900);
    }

    #[test]
    fn several_keys_on_one_pair_keep_sample_counts_and_the_pair_gets_the_exact_total() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        for i in 0..10 {
            let (now, wall) = c.at(i);
            a.observe(&pkt(12, "10.20.0.2", "10.30.0.5", 80), now, wall);
            a.observe(&pkt(12, "10.20.0.3", "10.30.0.5", 443), now, wall);
        }
        let (now, wall) = c.at(60_000);
        let r = a.close_window(Some(&counters(&[(12, 777)])), now, wall);
        let f = flows(&r.alerts);
        let keys: Vec<_> = f.iter().filter(|f| f.src.is_some()).collect();
        assert_eq!(keys.len(), 2);
        assert!(keys
            .iter()
            .all(|k| k.count == 10 && !k.count_exact && k.pair_count == Some(777)));
        let pair: Vec<_> = f.iter().filter(|f| f.src.is_none()).collect();
        assert_eq!(
            (pair.len(), pair[0].count, pair[0].count_exact),
            (1, 777, true)
        );
    }

    #[test]
    fn codes_without_samples_still_report_exact_counts_and_unknown_codes_are_ignored() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        let (now, wall) = c.at(1);
        let o = a.observe(&pkt(99, "10.20.0.2", "10.30.0.5", 80), now, wall);
        assert!(o.alerts.is_empty() && o.pair.is_none());
        assert!(!a.knows(99));
        let (now, wall) = c.at(60_000);
        let r = a.close_window(Some(&counters(&[(12, 5)])), now, wall);
        let f = flows(&r.alerts);
        assert_eq!((f.len(), f[0].count, f[0].src), (1, 5, None));
    }

    #[test]
    fn sensitive_accepts_and_interface_zones() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        let (now, wall) = c.at(1);
        let o = a.observe(&pkt(10, "10.20.1.11", "10.10.0.30", 443), now, wall);
        assert!(matches!(o.alerts[0], AlertKind::SensitiveFlowAccepted(_)));
        // Code 19 has no zones: the interfaces tell (ens4 -> lgwan, ens3 -> mynumber).
        let o = a.observe(&pkt(19, "10.20.0.2", "10.10.0.5", 53), now, wall);
        let f = flows(&o.alerts)[0];
        assert_eq!(
            (f.from_zone.as_deref(), f.to_zone.as_deref(), f.sensitive),
            (Some("lgwan"), Some("mynumber"), true)
        );
    }

    fn meter_alerts(alerts: &[AlertKind]) -> Vec<&MonitoringDegraded> {
        alerts
            .iter()
            .filter_map(|a| match a {
                AlertKind::MonitoringDegraded(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn scans(alerts: &[AlertKind]) -> Vec<&ScanSummary> {
        alerts
            .iter()
            .filter_map(|a| match a {
                AlertKind::ScanSummary(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn fallback_codes_map_to_the_one_base_code_with_the_same_fields() {
        let mut c = Clock::new();
        let a = agg(DeniedFlowConfig::default(), &mut c);
        assert_eq!(
            a.base,
            [(13, 12), (14, 11)].into_iter().collect::<BTreeMap<_, _>>()
        );
        // Two candidates: ambiguous, the fallback stays a code of its own.
        let mut m = meta();
        m.log_codes
            .insert(17, code(Reason::NoFlow, "lgwan", "internet", false));
        assert_eq!(base_codes(&m.log_codes).get(&13), None);
        assert_eq!(base_codes(&m.log_codes).get(&14), Some(&11));
        // Another hook is another denial.
        let mut m = meta();
        if let Some(c) = m.log_codes.get_mut(&13) {
            c.hook = "input".into();
        }
        assert_eq!(base_codes(&m.log_codes).get(&13), None);
    }

    #[test]
    fn fallback_samples_count_as_the_base_code_and_each_full_window_raises_one_meter_alert() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        let (now, wall) = c.at(1);
        let first_a = a.observe(&pkt(12, "10.20.0.2", "10.30.0.5", 80), now, wall);
        assert_eq!(first_a.alerts.len(), 1);
        // A new source while the meter set is full: logged under the fallback code 13.
        let first_b = a.observe(&pkt(13, "10.20.0.3", "10.30.0.5", 443), now, wall);
        let f = flows(&first_b.alerts);
        assert_eq!(f.len(), 1, "a fallback sample is a first like any other");
        assert_eq!((f[0].code, f[0].reason.as_str()), (12, "no-flow"));
        assert_eq!(
            first_b.pair,
            Some(("lgwan".into(), "internet".into(), "no-flow".into()))
        );
        // The same key again, once metered and once not: one key.
        for i in 0..4 {
            let (now, wall) = c.at(10 + i);
            let code = if i % 2 == 0 { 13 } else { 12 };
            a.observe(&pkt(code, "10.20.0.3", "10.30.0.5", 443), now, wall);
        }
        assert_eq!(a.tracked_keys(), 2);
        let (now, wall) = c.at(60_000);
        // A counter the compiler does not emit for a fallback code would count twice: ignored.
        let r = a.close_window(Some(&counters(&[(12, 900), (13, 400)])), now, wall);
        assert_eq!(
            r.denied,
            vec![(("lgwan".into(), "internet".into(), "no-flow".into()), 900)]
        );
        let f = flows(&r.alerts);
        assert!(f.iter().all(|f| f.code == 12), "{f:?}");
        let pair: Vec<_> = f.iter().filter(|f| f.src.is_none()).collect();
        assert_eq!(pair.len(), 1);
        assert_eq!((pair[0].count, pair[0].count_exact), (900, true));
        let key_b: Vec<_> = f
            .iter()
            .filter(|f| f.src == Some("10.20.0.3".parse().unwrap()))
            .collect();
        assert_eq!((key_b.len(), key_b[0].samples), (1, 5));
        let m = meter_alerts(&r.alerts);
        assert_eq!(m.len(), 1, "{:?}", r.alerts);
        assert_eq!(m[0].what, "log-meter:m12");
        assert_eq!((m[0].lost, m[0].restored), (None, false));
        assert!(
            m[0].detail
                .contains("per-source log meter of no-flow lgwan -> internet is full")
                && m[0].detail.contains("global rate limit")
                && m[0].detail.contains("counter stays exact"),
            "{}",
            m[0].detail
        );
        assert_eq!(
            r.alerts
                .iter()
                .filter(|a| a.severity() == crate::model::Severity::High)
                .count(),
            1
        );
        // Still full in the next window: one alert again (per window, not per sample).
        for i in 0..50 {
            let (now, wall) = c.at(61_000 + i);
            a.observe(&pkt(13, "10.20.0.9", "10.30.0.5", 443), now, wall);
        }
        let (now, wall) = c.at(120_000);
        let r = a.close_window(Some(&counters(&[(12, 2000)])), now, wall);
        let m = meter_alerts(&r.alerts);
        assert_eq!((m.len(), m[0].restored), (1, false));
        assert!(m[0].detail.contains("(50 such samples"), "{}", m[0].detail);
        // A window with metered samples only: restored, once.
        let (now, wall) = c.at(121_000);
        a.observe(&pkt(12, "10.20.0.9", "10.30.0.5", 443), now, wall);
        let (now, wall) = c.at(180_000);
        let r = a.close_window(Some(&counters(&[(12, 2001)])), now, wall);
        let m = meter_alerts(&r.alerts);
        assert_eq!(m.len(), 1, "{:?}", r.alerts);
        assert_eq!(
            (m[0].what.as_str(), m[0].restored, m[0].lost),
            ("log-meter:m12", true, None)
        );
        assert_eq!(
            r.alerts
                .iter()
                .find(|a| matches!(a, AlertKind::MonitoringDegraded(_)))
                .map(|a| a.severity()),
            Some(crate::model::Severity::Low)
        );
        let (now, wall) = c.at(240_000);
        let r = a.close_window(Some(&counters(&[(12, 2001)])), now, wall);
        assert!(meter_alerts(&r.alerts).is_empty());
    }

    #[test]
    fn a_single_key_seen_only_through_the_fallback_gets_the_base_counter_exactly() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        for i in 0..10 {
            let (now, wall) = c.at(i);
            a.observe(&pkt(14, "10.20.0.2", "10.10.0.5", 53), now, wall);
        }
        let (now, wall) = c.at(60_000);
        let r = a.close_window(Some(&counters(&[(11, 1000)])), now, wall);
        let f = flows(&r.alerts);
        assert_eq!(f.len(), 1, "{:?}", r.alerts);
        assert_eq!(
            (
                f[0].code,
                f[0].phase,
                f[0].count,
                f[0].count_exact,
                f[0].samples,
                f[0].sensitive
            ),
            (11, FlowPhase::Summary, 1000, true, 10, true)
        );
        let m = meter_alerts(&r.alerts);
        assert_eq!(m.len(), 1);
        assert!(m[0].detail.contains("no-flow lgwan -> mynumber"));
    }

    #[test]
    fn a_scan_half_metered_half_through_the_fallback_is_one_scan_of_the_base_code() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        for port in 1..=100u16 {
            let (now, wall) = c.at(u64::from(port));
            let code = if port % 2 == 0 { 12 } else { 13 };
            a.observe(&pkt(code, "10.20.0.66", "10.30.0.5", port), now, wall);
        }
        let (now, wall) = c.at(60_000);
        let r = a.close_window(Some(&counters(&[(12, 100)])), now, wall);
        let s = scans(&r.alerts);
        assert_eq!(s.len(), 1, "{:?}", r.alerts);
        assert_eq!((s[0].distinct_ports, s[0].samples), (100, 100));
        assert_eq!(s[0].reasons, vec!["no-flow".to_string()]);
        let f = flows(&r.alerts);
        assert_eq!(f.len(), 1, "{:?}", r.alerts);
        assert_eq!((f[0].code, f[0].count, f[0].count_exact), (12, 100, true));
        assert_eq!(meter_alerts(&r.alerts).len(), 1);
    }

    #[test]
    fn a_fallback_without_a_base_code_is_its_own_code_and_meters_are_reported_apart() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        let (now, wall) = c.at(1);
        let o = a.observe(&pkt(15, "192.0.2.7", "10.20.0.2", 22), now, wall);
        let f = flows(&o.alerts);
        assert_eq!((f[0].code, f[0].reason.as_str()), (15, "spoofed"));
        a.observe(&pkt(14, "10.20.0.2", "10.10.0.5", 53), now, wall);
        let (now, wall) = c.at(60_000);
        let r = a.close_window(Some(&counters(&[(11, 1), (12, 0)])), now, wall);
        let mut what: Vec<&str> = meter_alerts(&r.alerts)
            .iter()
            .map(|m| m.what.as_str())
            .collect();
        what.sort();
        assert_eq!(what, vec!["log-meter:m11", "log-meter:m15"]);
    }

    #[test]
    fn neighbour_discovery_never_spends_the_sensitive_budget() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        let mut nd = pkt(16, "fe80::1", "ff02::1:ff00:5", 0);
        nd.headers.protocol = 58;
        nd.headers.dst_port = None;
        nd.headers.src_port = None;
        nd.headers.icmp_type = Some(135);
        let (now, wall) = c.at(1);
        let o = a.observe(&nd, now, wall);
        let f = flows(&o.alerts);
        assert_eq!(
            (f[0].reason.as_str(), f[0].sensitive),
            ("neighbour-discovery", false)
        );
        assert_eq!(o.alerts[0].severity(), crate::model::Severity::Info);
        // The sensitive budget is untouched: 120 My Number firsts still go out at once.
        let mut sensitive = 0;
        for i in 0..120u32 {
            let src = format!("10.20.{}.{}", i / 250, i % 250 + 1);
            sensitive += a
                .observe(&pkt(11, &src, "10.10.0.5", 53), now, wall)
                .alerts
                .len();
        }
        assert_eq!(sensitive, 120);
    }

    fn key(code: u32, src: &str, dst: &str, port: u16) -> KeyId {
        KeyId {
            code,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            protocol: 17,
            port,
        }
    }

    fn kcounts(keys: &[(KeyId, u64)], untracked: &[(u32, u64)]) -> KeyCounts {
        KeyCounts {
            keys: keys.iter().copied().collect(),
            untracked: untracked.iter().copied().collect(),
            tables: vec![super::TableFill {
                name: "denykeys4s".into(),
                keys: keys.len() as u64,
                size: 64,
            }],
        }
    }

    #[test]
    fn per_key_tables_make_every_key_count_exact_whatever_else_the_pair_saw() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        // Three sources to two destinations, interleaved; only a few samples got through.
        let (k1, k2, k3) = (
            key(11, "10.20.0.1", "10.10.0.5", 5353),
            key(11, "10.20.0.2", "10.10.0.6", 5353),
            key(11, "10.20.0.3", "10.10.0.5", 5353),
        );
        for (i, src) in ["10.20.0.1", "10.20.0.2", "10.20.0.3"].iter().enumerate() {
            let (n, w) = c.at(10 + i as u64);
            let dst = if i == 1 { "10.10.0.6" } else { "10.10.0.5" };
            a.observe(&pkt(11, src, dst, 5353), n, w);
        }
        let (n, w) = c.at(1000);
        let r = a.close_window_with_keys(
            Some(&counters(&[(11, 2501)])),
            Some(&kcounts(&[(k1, 1000), (k2, 1), (k3, 1500)], &[])),
            n,
            w,
        );
        let f = flows(&r.alerts);
        let summaries: Vec<(Option<IpAddr>, u64, bool)> = f
            .iter()
            .filter(|f| f.phase == FlowPhase::Summary)
            .map(|f| (f.src, f.count, f.count_exact))
            .collect();
        assert_eq!(
            summaries,
            vec![(Some(k1.src), 1000, true), (Some(k3.src), 1500, true)],
            "{:#?}",
            r.alerts
        );
        // The single packet of k2 was its `first` alert; no pair roll-up is needed.
        assert!(f.iter().all(|f| f.phase != FlowPhase::Rollup));
        assert_eq!(r.figures.denied_keys, Some(3));
        assert_eq!(r.figures.denied_packets, Some(2501));
        // Next window: deltas against this read.
        let (n, w) = c.at(2000);
        let r = a.close_window_with_keys(
            Some(&counters(&[(11, 2511)])),
            Some(&kcounts(&[(k1, 1010), (k2, 1), (k3, 1500)], &[])),
            n,
            w,
        );
        let f = flows(&r.alerts);
        assert_eq!(
            f.iter()
                .map(|f| (f.src, f.count, f.count_exact))
                .collect::<Vec<_>>(),
            vec![(Some(k1.src), 10, true)]
        );
    }

    #[test]
    fn a_scan_is_recognised_from_the_keys_not_the_samples() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        // 40 ports, of which the log meter let 11 samples through.
        let keys: Vec<(KeyId, u64)> = (0..40)
            .map(|p| (key(11, "10.20.0.9", "10.10.0.5", 1000 + p), 1))
            .collect();
        let mut firsts = 0;
        for p in 0..11 {
            let (n, w) = c.at(10 + p);
            firsts += a
                .observe(&pkt(11, "10.20.0.9", "10.10.0.5", 1000 + p as u16), n, w)
                .alerts
                .len();
        }
        let (n, w) = c.at(1000);
        let r = a.close_window_with_keys(
            Some(&counters(&[(11, 40)])),
            Some(&kcounts(&keys, &[])),
            n,
            w,
        );
        let s = scans(&r.alerts);
        assert_eq!(s.len(), 1, "{:#?}", r.alerts);
        assert_eq!(
            (
                s[0].distinct_destinations,
                s[0].distinct_ports,
                s[0].packets,
                s[0].distinct_exact
            ),
            (1, 40, Some(40), true)
        );
        assert!(flows(&r.alerts).is_empty(), "{:#?}", r.alerts);
        assert_eq!(
            firsts,
            DeniedFlowConfig::default().first_alerts_per_source as usize
        );
        assert_eq!(r.figures.scans, 1);
        assert_eq!(r.figures.largest_scan, Some((1, 40)));
    }

    #[test]
    fn untracked_packets_are_reported_then_restored() {
        let mut c = Clock::new();
        let mut a = agg(DeniedFlowConfig::default(), &mut c);
        let k1 = key(11, "10.20.0.1", "10.10.0.5", 53);
        let (n, w) = c.at(1000);
        let r = a.close_window_with_keys(
            Some(&counters(&[(11, 130)])),
            Some(&kcounts(&[(k1, 100)], &[(11, 30)])),
            n,
            w,
        );
        let degraded: Vec<&MonitoringDegraded> = r
            .alerts
            .iter()
            .filter_map(|a| match a {
                AlertKind::MonitoringDegraded(m) => Some(m),
                _ => None,
            })
            .collect();
        assert_eq!(degraded.len(), 1);
        assert_eq!(
            (
                degraded[0].what.as_str(),
                degraded[0].lost,
                degraded[0].restored
            ),
            ("key-table", Some(30), false)
        );
        // The pair's exact total is reported beside the key it could count.
        let f = flows(&r.alerts);
        assert!(f
            .iter()
            .any(|f| f.phase == FlowPhase::Rollup && f.count == 130 && f.count_exact));
        assert!(f
            .iter()
            .any(|f| f.src == Some(k1.src) && f.count == 100 && f.count_exact));
        assert_eq!(r.figures.untracked_packets, Some(30));
        let (n, w) = c.at(2000);
        let r = a.close_window_with_keys(
            Some(&counters(&[(11, 131)])),
            Some(&kcounts(&[(k1, 101)], &[(11, 30)])),
            n,
            w,
        );
        assert!(r.alerts.iter().any(|a| matches!(a,
            AlertKind::MonitoringDegraded(m) if m.what == "key-table" && m.restored)));
    }
}
