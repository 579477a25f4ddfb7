//! The reachability matrix, measured with real connections and compared with the policy.
//!
//! Two kinds of probe: every permitted flow is tried on each of its ports (TCP connect and echo,
//! UDP echo, ICMP echo) in each address family both ends have; and every ordered pair of places
//! (the zones and the gateway itself) is tried on a few common ports, most of which the policy
//! denies. What the policy says for each probe comes from `zonegate explain`'s library function,
//! so a probe is "as intended" when the measured result equals the explained verdict. All probes
//! run at once, each on its own thread: a denied probe costs its timeout, not the sum of them.

use crate::topo::Topology;
use crate::ui::{pad, Ui};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use zonegate_e2e::probe::{any_source, ping, tcp_reachable, udp_probe, TcpEcho, UdpEcho};
use zonegate_policy::explain::{explain, Packet, Query, Target, Verdict};
use zonegate_policy::model::Endpoint;
use zonegate_policy::net::Family;
use zonegate_policy::ports::{PortSpec, L4};
use zonegate_policy::Policy;

/// The name of the gateway as a place in the matrix.
pub const GATEWAY: &str = "gateway";
/// How long a probe the policy permits may take.
const ALLOWED_TIMEOUT: Duration = Duration::from_millis(2000);
/// How long to wait for a probe the policy denies (it costs exactly this).
const DENIED_TIMEOUT: Duration = Duration::from_millis(800);
/// Ports tried between every pair of places, besides the flows' own.
const BOUNDARY: [Proto; 3] = [Proto::Tcp(443), Proto::Tcp(22), Proto::Echo];

/// What a probe sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    Tcp(u16),
    Udp(u16),
    /// ICMP echo request (ICMPv6 for an IPv6 destination).
    Echo,
}

impl Proto {
    fn packet(self, family: Family) -> Packet {
        match (self, family) {
            (Proto::Tcp(p), _) => Packet {
                l4proto: 6,
                port: p,
            },
            (Proto::Udp(p), _) => Packet {
                l4proto: 17,
                port: p,
            },
            (Proto::Echo, Family::V4) => Packet {
                l4proto: 1,
                port: 8,
            },
            (Proto::Echo, Family::V6) => Packet {
                l4proto: 58,
                port: 128,
            },
        }
    }

    pub fn text(self, family: Family) -> String {
        match self {
            Proto::Tcp(p) => format!("tcp/{p}"),
            Proto::Udp(p) => format!("udp/{p}"),
            Proto::Echo if family == Family::V4 => "icmp/echo-request".into(),
            Proto::Echo => "icmpv6/echo-request".into(),
        }
    }
}

/// One end of a probe.
#[derive(Debug, Clone)]
pub struct End {
    /// Zone name, or [`GATEWAY`].
    pub place: String,
    /// Host name, or [`GATEWAY`].
    pub name: String,
    /// Namespace the probe starts in (for a source) or the listener runs in (destination).
    pub ns: String,
    /// None: the gateway as a source (the kernel picks the address).
    pub addr: Option<IpAddr>,
}

/// One connection attempt and what the policy says about it.
#[derive(Debug, Clone)]
pub struct Probe {
    pub from: End,
    pub to: End,
    pub dst: IpAddr,
    pub proto: Proto,
    /// The flow this probe exercises (flow probes).
    #[cfg_attr(not(test), allow(dead_code))]
    pub for_flow: Option<String>,
    /// The policy's verdict: accept?
    pub expect: bool,
    /// The flow that permits it, per explain.
    pub permitted_by: Option<String>,
    /// explain's reason, short.
    pub why: String,
}

impl Probe {
    pub fn family(&self) -> Family {
        Family::of(&self.dst)
    }

    pub fn describe(&self) -> String {
        let src = self
            .from
            .addr
            .map(|a| format!(" ({a})"))
            .unwrap_or_default();
        format!(
            "{}{src} -> {} ({}) {}",
            self.from.name,
            self.to.name,
            self.dst,
            self.proto.text(self.family())
        )
    }
}

/// A probe with its measured result.
#[derive(Debug, Clone)]
pub struct Measured {
    pub probe: Probe,
    pub reached: bool,
}

impl Measured {
    pub fn as_intended(&self) -> bool {
        self.reached == self.probe.expect
    }
}

/// Builds the probe plan for `topo` from `policy`.
pub fn plan(policy: &Policy, topo: &Topology) -> Result<Vec<Probe>, String> {
    let mut probes: Vec<Probe> = Vec::new();
    let mut seen = BTreeSet::new();
    for flow in policy.active_flows() {
        let Some(froms) = ends_of(policy, topo, &flow.from) else {
            continue;
        };
        let Some(tos) = ends_of(policy, topo, &flow.to) else {
            continue;
        };
        let (from, to) = (&froms[0], &tos[0]);
        let mut protos = BTreeSet::new();
        for spec in &flow.specs {
            match *spec {
                PortSpec::Ports {
                    proto: L4::Tcp, lo, ..
                } => {
                    protos.insert((Proto::Tcp(lo), None));
                }
                PortSpec::Ports {
                    proto: L4::Udp, lo, ..
                } => {
                    protos.insert((Proto::Udp(lo), None));
                }
                PortSpec::Icmp { lo, hi } if lo <= 8 && 8 <= hi => {
                    protos.insert((Proto::Echo, Some(Family::V4)));
                }
                PortSpec::Icmpv6 { lo, hi } if lo <= 128 && 128 <= hi => {
                    protos.insert((Proto::Echo, Some(Family::V6)));
                }
                _ => {}
            }
        }
        for (proto, only) in protos {
            for family in [Family::V4, Family::V6] {
                if only.is_some_and(|f| f != family) {
                    continue;
                }
                if let Some(p) = probe(policy, topo, from, to, proto, family, Some(&flow.id))? {
                    if seen.insert(key(&p)) {
                        probes.push(p);
                    }
                }
            }
        }
    }
    let places = places(policy, topo);
    for a in &places {
        for b in &places {
            if a.place == b.place {
                continue;
            }
            for proto in BOUNDARY {
                if let Some(p) = probe(policy, topo, a, b, proto, Family::V4, None)? {
                    if seen.insert(key(&p)) {
                        probes.push(p);
                    }
                }
            }
        }
    }
    Ok(probes)
}

fn key(p: &Probe) -> (String, Option<IpAddr>, IpAddr, Proto) {
    (p.from.ns.clone(), p.from.addr, p.dst, p.proto)
}

/// The representative end of every place: each zone's first host, and the gateway.
fn places(policy: &Policy, topo: &Topology) -> Vec<End> {
    let mut out: Vec<End> = topo
        .segments
        .iter()
        .filter_map(|s| ends_of(policy, topo, &Endpoint::Zone(s.zone.clone())))
        .map(|mut v| v.remove(0))
        .collect();
    out.push(gateway_end(topo));
    out
}

fn gateway_end(topo: &Topology) -> End {
    End {
        place: GATEWAY.into(),
        name: GATEWAY.into(),
        ns: topo.gw_ns.clone(),
        addr: None,
    }
}

/// The ends an endpoint stands for, one per address family where it has an address; None when
/// the lab has no such place.
fn ends_of(policy: &Policy, topo: &Topology, e: &Endpoint) -> Option<Vec<End>> {
    if *e == Endpoint::Gateway {
        return Some(vec![gateway_end(topo)]);
    }
    let zone = policy.endpoint_zone(e)?;
    let seg = topo.segment(zone)?;
    let host = match e {
        Endpoint::Zone(_) => seg.hosts.first()?.clone(),
        _ => {
            let names: Vec<String> = policy
                .endpoint_hosts(e)
                .iter()
                .map(|h| h.name.clone())
                .collect();
            seg.hosts.iter().find(|h| names.contains(&h.name))?.clone()
        }
    };
    let ends: Vec<End> = host
        .addrs
        .iter()
        .map(|a| End {
            place: zone.to_string(),
            name: host.name.clone(),
            ns: seg.ns.clone(),
            addr: Some(*a),
        })
        .collect();
    (!ends.is_empty()).then_some(ends)
}

/// One probe from `from` to `to` in `family`, if both ends have an address of it; the source
/// and destination are the ends' addresses of that family (the host's other addresses for
/// families other than the one given).
fn probe(
    policy: &Policy,
    topo: &Topology,
    from: &End,
    to: &End,
    proto: Proto,
    family: Family,
    for_flow: Option<&str>,
) -> Result<Option<Probe>, String> {
    let pick = |end: &End| -> Option<IpAddr> {
        if end.place == GATEWAY {
            return None;
        }
        let seg = topo.segment(&end.place)?;
        let host = seg.hosts.iter().find(|h| h.name == end.name)?;
        host.addrs.iter().copied().find(|a| Family::of(a) == family)
    };
    let src = pick(from);
    if from.place != GATEWAY && src.is_none() {
        return Ok(None);
    }
    let dst = if to.place == GATEWAY {
        // The gateway's address on the source's segment, as a host would address it.
        match topo.segment(&from.place).and_then(|s| s.gw_ip(family)) {
            Some(ip) => ip,
            None => return Ok(None),
        }
    } else {
        match pick(to) {
            Some(ip) => ip,
            None => return Ok(None),
        }
    };
    let seg_if = |place: &str| topo.segment(place).map(|s| s.gw_if.clone());
    let query = Query {
        src: src.map_or(Target::Gateway, Target::Address),
        dst: if to.place == GATEWAY {
            Target::Gateway
        } else {
            Target::Address(dst)
        },
        iif: seg_if(&from.place),
        oif: seg_if(&to.place),
        packet: Some(proto.packet(family)),
        sport: None,
    };
    let ex = explain(policy, &topo.gateway, &query).map_err(|e| {
        format!(
            "explain {} -> {} {}: {e}",
            from.name,
            to.name,
            proto.text(family)
        )
    })?;
    let why = match &ex.flow {
        Some(f) => format!("flow {}", f.id),
        None => format!("{:?}", ex.reason)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string(),
    };
    Ok(Some(Probe {
        from: End {
            addr: src,
            ..from.clone()
        },
        to: to.clone(),
        dst,
        proto,
        for_flow: for_flow.map(str::to_string),
        expect: ex.verdict == Verdict::Accept,
        permitted_by: ex.flow.map(|f| f.id),
        why,
    }))
}

/// Listeners for every probe's destination: TCP and UDP echo servers in the namespaces.
pub struct Listeners {
    _tcp: Vec<TcpEcho>,
    _udp: Vec<UdpEcho>,
}

/// Starts the echo servers the probes need.
pub fn listen(probes: &[Probe]) -> Result<Listeners, String> {
    let mut tcp: BTreeMap<&str, BTreeSet<u16>> = BTreeMap::new();
    let mut udp: BTreeMap<&str, BTreeSet<u16>> = BTreeMap::new();
    for p in probes {
        match p.proto {
            Proto::Tcp(port) => {
                tcp.entry(&p.to.ns).or_default().insert(port);
            }
            Proto::Udp(port) => {
                udp.entry(&p.to.ns).or_default().insert(port);
            }
            Proto::Echo => {}
        }
    }
    let mut l = Listeners {
        _tcp: Vec::new(),
        _udp: Vec::new(),
    };
    for (ns, ports) in tcp {
        for port in ports {
            // `[::]` also accepts IPv4 (dual stack).
            let bind = SocketAddr::new(IpAddr::from([0u16; 8]), port);
            l._tcp.push(
                TcpEcho::start(ns, bind).map_err(|e| format!("tcp echo on {ns} :{port}: {e}"))?,
            );
        }
    }
    for (ns, ports) in udp {
        for port in ports {
            for any in [IpAddr::from([0u8; 4]), IpAddr::from([0u16; 8])] {
                // One socket per address (replies leave from the address asked); a namespace
                // without addresses of a family has nothing to serve there.
                if let Ok(u) = UdpEcho::start(ns, SocketAddr::new(any, port)) {
                    l._udp.push(u);
                }
            }
        }
    }
    Ok(l)
}

/// Runs every probe at once and returns the results in plan order.
pub fn measure(probes: &[Probe]) -> Vec<Measured> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = probes.iter().map(|p| scope.spawn(move || run(p))).collect();
        probes
            .iter()
            .zip(handles)
            .map(|(p, h)| Measured {
                probe: p.clone(),
                reached: h.join().unwrap_or(false),
            })
            .collect()
    })
}

/// One probe; true if the other end answered.
pub fn run(p: &Probe) -> bool {
    let timeout = if p.expect {
        ALLOWED_TIMEOUT
    } else {
        DENIED_TIMEOUT
    };
    match p.proto {
        Proto::Tcp(port) => tcp_reachable(
            &p.from.ns,
            p.from.addr,
            SocketAddr::new(p.dst, port),
            timeout,
        ),
        Proto::Udp(port) => {
            let src = match p.from.addr {
                Some(a) => SocketAddr::new(a, 0),
                None => any_source(p.dst),
            };
            udp_probe(
                &p.from.ns,
                src,
                SocketAddr::new(p.dst, port),
                "zonegate-lab",
                timeout,
            )
            .is_ok()
        }
        Proto::Echo => ping(&p.from.ns, p.from.addr, p.dst, timeout),
    }
}

/// The matrix as text: rows are sources, columns destinations; a cell lists the flows measured
/// open, `·` when everything tried there was closed, and `✗` where a result differs from the
/// policy.
pub fn render(ui: &Ui, topo: &Topology, results: &[Measured]) -> String {
    let mut places: Vec<String> = topo.segments.iter().map(|s| s.zone.clone()).collect();
    places.push(GATEWAY.into());
    let mut cells: BTreeMap<(String, String), (BTreeSet<String>, bool)> = BTreeMap::new();
    for m in results {
        let cell = cells
            .entry((m.probe.from.place.clone(), m.probe.to.place.clone()))
            .or_default();
        if m.reached {
            if let Some(f) = &m.probe.permitted_by {
                cell.0.insert(f.clone());
            } else {
                cell.0.insert("open".into());
            }
        }
        if !m.as_intended() {
            cell.1 = true;
        }
    }
    let text_of = |from: &str, to: &str| -> (String, bool) {
        if from == to {
            return ("—".into(), false);
        }
        match cells.get(&(from.to_string(), to.to_string())) {
            None => ("".into(), false),
            Some((flows, bad)) => {
                let mut t = if flows.is_empty() {
                    "·".to_string()
                } else {
                    flows.iter().cloned().collect::<Vec<_>>().join(" ") + " ✓"
                };
                if *bad {
                    t = format!("✗ {t}");
                }
                (t, *bad)
            }
        }
    };
    let first = places.iter().map(|p| p.len()).max().unwrap_or(8).max(9) + 2;
    let width = places
        .iter()
        .flat_map(|f| places.iter().map(move |t| (f, t)))
        .map(|(f, t)| crate::ui::display_width(&text_of(f, t).0))
        .chain(places.iter().map(|p| p.len()))
        .max()
        .unwrap_or(8)
        + 2;
    let mut out = String::new();
    let mut header = pad("from \\ to", first);
    for p in &places {
        header.push_str(&pad(p, width));
    }
    let _ = writeln!(out, "{}", ui.bold(header.trim_end()));
    for f in &places {
        let mut line = pad(f, first);
        for t in &places {
            let (text, bad) = text_of(f, t);
            let shown = if bad {
                ui.red(&text)
            } else if text.ends_with('✓') {
                ui.green(&text)
            } else {
                ui.dim(&text)
            };
            line.push_str(&pad(&shown, width));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled() -> (Policy, Topology) {
        let text = include_str!("../../zones.toml");
        let checked = zonegate_policy::validate(
            "zones.toml",
            text,
            zonegate_policy::Date::parse("2026-11-25"),
        );
        let policy = checked.policy.expect("valid");
        let topo = Topology::from_policy(&policy, "gw1").expect("topology");
        (policy, topo)
    }

    #[test]
    fn every_active_flow_of_the_bundled_policy_is_probed_and_expected_open() {
        let (policy, topo) = bundled();
        let probes = plan(&policy, &topo).expect("plan");
        for f in policy.active_flows() {
            let mine: Vec<&Probe> = probes
                .iter()
                .filter(|p| p.for_flow.as_deref() == Some(&f.id))
                .collect();
            assert!(!mine.is_empty(), "flow {} has no probe", f.id);
            for p in mine {
                assert!(p.expect, "{}: {} expected closed", f.id, p.describe());
                assert_eq!(p.permitted_by.as_deref(), Some(f.id.as_str()));
            }
        }
    }

    #[test]
    fn mynumber_to_internet_is_expected_closed() {
        let (policy, topo) = bundled();
        let probes = plan(&policy, &topo).expect("plan");
        let mn_in: Vec<&Probe> = probes
            .iter()
            .filter(|p| p.from.place == "mynumber" && p.to.place == "internet")
            .collect();
        assert!(!mn_in.is_empty());
        assert!(mn_in.iter().all(|p| !p.expect));
    }
}
