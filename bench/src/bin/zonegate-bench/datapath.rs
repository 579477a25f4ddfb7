//! Section 3: per-packet cost between two zone namespaces through the gateway namespace, for
//! (a) no ruleset, (a′) conntrack only, (b) zonegate, (c) the naive rule list; and (b) against
//! (c) as the number of flows grows.
//!
//! Each variant has a lab of its own with its ruleset loaded once, so variants are compared
//! without reloading; every round measures every variant once, in an order that rotates from
//! round to round, and ratios are taken within a round (same background load on both sides).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use zonegate_bench::naive::conntrack_only_ruleset;
use zonegate_bench::nft;
use zonegate_bench::scenario::{Scenario, DENIED_PORT};
use zonegate_bench::traffic::{
    link_stats, tcp_connect_loop, tcp_stream, udp_flood, udp_stream, Budget, Endpoints,
};
use zonegate_e2e::lab::Lab;

use crate::{progress, Config};

/// A ruleset variant of the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    /// (a) no ruleset: no conntrack either.
    None,
    /// (a′) conntrack on, everything accepted.
    CtOnly,
    /// (b) zonegate.
    Zonegate,
    /// (c) one rule per flow element.
    Naive,
}

impl Variant {
    pub fn label(self) -> &'static str {
        match self {
            Variant::None => "(a) no ruleset",
            Variant::CtOnly => "(a′) conntrack only",
            Variant::Zonegate => "(b) zonegate",
            Variant::Naive => "(c) naive, 1 rule/flow",
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            Variant::None => "a",
            Variant::CtOnly => "a_ct",
            Variant::Zonegate => "b",
            Variant::Naive => "c",
        }
    }
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// New TCP connections per second (SYN evaluated by the rules), counted by the server.
    NewConns,
    /// Denied UDP packets per second, counted at the gateway's ingress interface.
    Denied,
    /// TCP throughput of one permitted connection, counted by the receiver.
    TcpGbps,
    /// 18-byte UDP datagrams per second on one established permitted flow, counted by the
    /// receiver.
    SmallPps,
}

impl Metric {
    pub fn label(self) -> &'static str {
        match self {
            Metric::NewConns => "new TCP connections/s (permitted flow)",
            Metric::Denied => "denied UDP packets/s (gateway ingress)",
            Metric::TcpGbps => "TCP throughput, Gbit/s (permitted flow)",
            Metric::SmallPps => "UDP 18-byte payload, packets/s received (established)",
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            Metric::NewConns => "new_conns_per_s",
            Metric::Denied => "denied_pps",
            Metric::TcpGbps => "tcp_gbps",
            Metric::SmallPps => "udp_small_pps",
        }
    }
}

/// The results of one policy size.
#[derive(Debug)]
pub struct DpResult {
    /// Shared, so measuring can hold it while the result's counters are updated.
    pub scenario: Arc<Scenario>,
    /// Variants measured.
    pub variants: Vec<Variant>,
    /// Metrics measured.
    pub metrics: Vec<Metric>,
    /// Per (metric, variant): one value per round, in round order.
    pub samples: BTreeMap<(Metric, Variant), Vec<f64>>,
    /// Per variant: packets of the denied flood that the gateway forwarded anyway (must be 0
    /// for (b) and (c)).
    pub denied_forwarded: BTreeMap<Variant, u64>,
    /// Per variant: failed connection attempts in the connect loop.
    pub connect_failures: BTreeMap<Variant, u64>,
    /// Packet counts sent / received in the small-packet test, per variant (last round).
    pub small_sent_received: BTreeMap<Variant, (u64, u64)>,
    /// Kernel's view of the zonegate and naive rulesets.
    pub zonegate_kernel: nft::TableSize,
    pub naive_kernel: nft::TableSize,
}

struct VariantLab {
    variant: Variant,
    lab: Lab,
}

fn build_lab(s: &Scenario, variant: Variant) -> VariantLab {
    let lab = Lab::up(&s.lab_spec()).expect("build the data-path lab");
    let text = match variant {
        Variant::None => None,
        Variant::CtOnly => Some(conntrack_only_ruleset()),
        Variant::Zonegate => Some(s.zonegate.text.clone()),
        Variant::Naive => Some(s.naive.text.clone()),
    };
    if let Some(text) = text {
        nft::apply(lab.gw(), &text).expect("ruleset loads in the lab");
    }
    VariantLab { variant, lab }
}

/// Runs one metric once in one lab and returns the figure.
fn measure_one(
    cfg: &Config,
    s: &Scenario,
    vl: &VariantLab,
    metric: Metric,
    result: &mut DpResult,
) -> f64 {
    let (src, dst) = s.addrs();
    let ep = Endpoints::new(&vl.lab, 0, src, 1, dst).expect("probe addresses are lab addresses");
    let dur = cfg.duration;
    match metric {
        Metric::NewConns => {
            let c = tcp_connect_loop(
                &ep,
                s.probe.tcp_port,
                Duration::from_secs(1),
                Budget {
                    duration: dur,
                    max_count: 2_000_000,
                },
            )
            .expect("connect loop");
            *result.connect_failures.entry(vl.variant).or_default() += c.failed;
            c.accepted as f64 / c.elapsed.as_secs_f64()
        }
        Metric::Denied => {
            let gw = vl.lab.gw();
            let before_in = link_stats(gw, s.gw_if(0)).expect("gateway link stats");
            let before_out = link_stats(gw, s.gw_if(1)).expect("gateway link stats");
            let sent = udp_flood(
                &ep,
                DENIED_PORT,
                20_000,
                4096,
                18,
                Budget {
                    duration: dur,
                    max_count: 50_000_000,
                },
            )
            .expect("UDP flood");
            let after_in = link_stats(gw, s.gw_if(0)).expect("gateway link stats");
            let after_out = link_stats(gw, s.gw_if(1)).expect("gateway link stats");
            let arrived = after_in.rx_packets - before_in.rx_packets;
            // tx on the far side also carries a few ARP/ND packets; anything beyond that is
            // a flood packet that was forwarded.
            let forwarded = (after_out.tx_packets - before_out.tx_packets).saturating_sub(10);
            *result.denied_forwarded.entry(vl.variant).or_default() += forwarded;
            let _ = sent.packets;
            arrived as f64 / sent.elapsed.as_secs_f64()
        }
        Metric::TcpGbps => {
            let r = tcp_stream(
                &ep,
                s.probe.tcp_port,
                Budget {
                    duration: dur,
                    max_count: u64::MAX,
                },
            )
            .expect("TCP stream");
            r.count as f64 * 8.0 / r.elapsed.as_secs_f64().max(1e-9) / 1e9
        }
        Metric::SmallPps => {
            let r = udp_stream(
                &ep,
                41_000,
                s.probe.udp_port,
                18,
                Budget {
                    duration: dur,
                    max_count: 50_000_000,
                },
            )
            .expect("UDP stream");
            result
                .small_sent_received
                .insert(vl.variant, (r.sent, r.count));
            r.count as f64 / r.elapsed.as_secs_f64()
        }
    }
}

/// Checks that a lab enforces what it should before anything is timed: the probe flow's TCP
/// port connects in every variant.
fn sanity(s: &Scenario, vl: &VariantLab) {
    let (src, dst) = s.addrs();
    let ep = Endpoints::new(&vl.lab, 0, src, 1, dst).expect("probe addresses are lab addresses");
    let c = tcp_connect_loop(
        &ep,
        s.probe.tcp_port,
        Duration::from_secs(2),
        Budget {
            duration: Duration::from_secs(3),
            max_count: 3,
        },
    )
    .expect("connect loop");
    assert!(
        c.connected == 3 && c.failed == 0,
        "{}: the probe flow {} ({} -> {}:{}) does not connect ({c:?}): the lab or ruleset is broken",
        vl.variant.label(),
        s.probe.id,
        s.probe.src,
        s.probe.dst,
        s.probe.tcp_port
    );
}

/// Measures `metrics` for `variants` of scenario `s` over `cfg.rounds` rounds.
pub fn run(cfg: &Config, s: Scenario, variants: &[Variant], metrics: &[Metric]) -> DpResult {
    let mut all = run_many(cfg, vec![s], variants, metrics);
    all.remove(0)
}

/// Measures `metrics` for `variants` of every scenario, all labs built up front and measured
/// in the same rounds (order rotating), so figures of different scenarios are paired by round
/// like the variants of one scenario: a sweep over M is then not minutes apart.
pub fn run_many(
    cfg: &Config,
    scenarios: Vec<Scenario>,
    variants: &[Variant],
    metrics: &[Metric],
) -> Vec<DpResult> {
    let mut results: Vec<DpResult> = Vec::new();
    let mut labs: Vec<(usize, VariantLab)> = Vec::new();
    for (i, s) in scenarios.into_iter().enumerate() {
        progress(&format!(
            "data path N={} M={}: labs for {}",
            s.hosts,
            s.flows,
            variants
                .iter()
                .map(|v| v.key())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let mut result = DpResult {
            variants: variants.to_vec(),
            metrics: metrics.to_vec(),
            samples: BTreeMap::new(),
            denied_forwarded: BTreeMap::new(),
            connect_failures: BTreeMap::new(),
            small_sent_received: BTreeMap::new(),
            zonegate_kernel: nft::TableSize::default(),
            naive_kernel: nft::TableSize::default(),
            scenario: Arc::new(s),
        };
        for &v in variants {
            let vl = build_lab(&result.scenario, v);
            sanity(&result.scenario, &vl);
            match v {
                Variant::Zonegate => {
                    result.zonegate_kernel = nft::read_back(vl.lab.gw(), "zonegate")
                        .expect("read back zonegate")
                        .size;
                }
                Variant::Naive => {
                    result.naive_kernel = nft::read_back(vl.lab.gw(), "naive")
                        .expect("read back naive")
                        .size;
                }
                _ => {}
            }
            labs.push((i, vl));
        }
        results.push(result);
    }
    let sizes = results
        .iter()
        .map(|r| format!("M={}", r.scenario.flows))
        .collect::<Vec<_>>()
        .join(", ");
    for round in 0..cfg.rounds {
        progress(&format!(
            "data path {sizes}: round {}/{}",
            round + 1,
            cfg.rounds
        ));
        for &metric in metrics {
            for k in 0..labs.len() {
                let (i, vl) = &labs[(k + round) % labs.len()];
                let result = &mut results[*i];
                let scenario = Arc::clone(&result.scenario);
                let v = measure_one(cfg, &scenario, vl, metric, result);
                result
                    .samples
                    .entry((metric, vl.variant))
                    .or_default()
                    .push(v);
            }
        }
    }
    for result in &results {
        for v in [Variant::Zonegate, Variant::Naive] {
            let fwd = result.denied_forwarded.get(&v).copied().unwrap_or(0);
            assert!(
                fwd == 0 || !metrics.contains(&Metric::Denied),
                "{} at M={}: {fwd} packets of the denied flood were forwarded: the ruleset does not deny them",
                v.label(),
                result.scenario.flows
            );
        }
    }
    drop(labs);
    results
}

/// For profilers (`perf record -a -g -- zonegate-bench profile-datapath …`): one lab with
/// `variant` loaded, `metric` measured once for `cfg.duration`; returns the figure.
pub fn profile_once(cfg: &Config, s: &Scenario, variant: Variant, metric: Metric) -> f64 {
    let vl = build_lab(s, variant);
    sanity(s, &vl);
    let mut result = DpResult {
        variants: vec![variant],
        metrics: vec![metric],
        samples: BTreeMap::new(),
        denied_forwarded: BTreeMap::new(),
        connect_failures: BTreeMap::new(),
        small_sent_received: BTreeMap::new(),
        zonegate_kernel: nft::TableSize::default(),
        naive_kernel: nft::TableSize::default(),
        scenario: Arc::new(s.clone()),
    };
    measure_one(cfg, s, &vl, metric, &mut result)
}

/// Samples of a metric in round order, for the report.
pub fn samples(r: &DpResult, m: Metric, v: Variant) -> &[f64] {
    r.samples.get(&(m, v)).map_or(&[], Vec::as_slice)
}
