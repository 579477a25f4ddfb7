//! The per-packet scenario: a generated policy of N hosts and M flows for gateway `gw1`, its
//! zonegate ruleset, the same policy as a naive rule list, and a lab that puts real sockets
//! on the addresses of one of its flows.
//!
//! The probe flow is the first host-to-host flow at or after position M/2 (flows are in id
//! order, which is also the order of the naive rule list), so in the naive ruleset a new
//! connection of the probe flow walks about half the list, like an average flow, and a denied
//! packet walks all of it. The lab has the two zones of the probe flow as two segments behind
//! the gateway namespace, with the gateway's interfaces named as in the policy (`ens3` My
//! Number, `ens4` LGWAN, `ens5` internet), so the compiled rulesets load unchanged.

use std::net::{IpAddr, Ipv4Addr};

use zonegate_e2e::lab::{LabSpec, SegmentSpec};
use zonegate_policy::generate::{policy as generate, Shape};
use zonegate_policy::model::{Endpoint, Policy};
use zonegate_policy::ports::{PortSpec, L4};
use zonegate_policy::{compile, validate, Ruleset};

use crate::naive::{naive_ruleset, Naive};

/// The gateway of generated policies.
pub const GATEWAY: &str = "gw1";
/// Denied traffic goes to this UDP port, which no generated flow opens (they use 1024 and up).
pub const DENIED_PORT: u16 = 9;

/// The zones of a generated policy that the lab can host: name, gateway interface, /16.
const ZONES: [(&str, &str, u8); 3] = [
    ("mynumber", "ens3", 10),
    ("lgwan", "ens4", 20),
    ("internet", "ens5", 30),
];

/// The flow whose addresses the lab carries.
#[derive(Debug, Clone)]
pub struct ProbeFlow {
    /// Flow id.
    pub id: String,
    /// Index in the policy's (id-ordered) flow list.
    pub index: usize,
    /// Source zone and address.
    pub from_zone: String,
    /// Source host address.
    pub src: Ipv4Addr,
    /// Destination zone.
    pub to_zone: String,
    /// Destination host address.
    pub dst: Ipv4Addr,
    /// The flow's TCP port.
    pub tcp_port: u16,
    /// The flow's UDP port.
    pub udp_port: u16,
    /// 1-based position of the flow's TCP rule in the naive chain.
    pub naive_position: usize,
}

/// Everything the per-packet benchmark needs for one policy size.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Hosts.
    pub hosts: usize,
    /// Flows.
    pub flows: usize,
    /// The generated zones.toml text.
    pub text: String,
    /// The validated policy.
    pub policy: Policy,
    /// zonegate's ruleset for gw1.
    pub zonegate: Ruleset,
    /// The same policy, one rule per flow element.
    pub naive: Naive,
    /// The flow the lab carries.
    pub probe: ProbeFlow,
}

impl Scenario {
    /// Generates, validates and compiles the policy of `hosts` hosts and `flows` flows (groups
    /// of 8 as in the compile bench), writes its naive form and picks the probe flow.
    pub fn new(hosts: usize, flows: usize) -> Result<Scenario, String> {
        let text = generate(Shape {
            hosts,
            flows,
            group_size: 8,
        });
        let checked = validate("generated.toml", &text, None);
        let policy = checked.policy.ok_or_else(|| {
            format!(
                "generated policy ({hosts} hosts, {flows} flows) is invalid:\n{}",
                checked.diagnostics.render_text()
            )
        })?;
        let zonegate = compile(&policy, GATEWAY).map_err(|e| e.to_string())?;
        let naive = naive_ruleset(&policy, GATEWAY).map_err(|e| e.to_string())?;
        let mut probe = pick_probe(&policy)?;
        let needle = format!(
            "ip saddr {} ip daddr {} tcp dport {} accept",
            probe.src, probe.dst, probe.tcp_port
        );
        probe.naive_position = naive
            .text
            .lines()
            .filter(|l| l.starts_with("\t\t") && !l.contains("type filter hook"))
            .position(|l| l.ends_with(&needle))
            .map(|p| p + 1)
            .ok_or_else(|| format!("no naive rule for the probe flow {}", probe.id))?;
        Ok(Scenario {
            hosts,
            flows,
            text,
            policy,
            zonegate,
            naive,
            probe,
        })
    }

    /// Two segments, the probe flow's source zone first: gateway `.255.254/16` on the zone's
    /// interface, the host namespace carrying the probe address of that side.
    pub fn lab_spec(&self) -> LabSpec {
        let seg = |zone: &str, addr: Ipv4Addr| -> SegmentSpec {
            let (_, iface, net) = ZONES
                .iter()
                .find(|(z, _, _)| *z == zone)
                .copied()
                .unwrap_or(ZONES[0]);
            SegmentSpec::new(
                iface,
                &[&format!("10.{net}.255.254/16")],
                &[&format!("{addr}/16")],
            )
        };
        LabSpec {
            segments: vec![
                seg(&self.probe.from_zone, self.probe.src),
                seg(&self.probe.to_zone, self.probe.dst),
            ],
        }
    }

    /// Gateway interface of the source (0) or destination (1) segment.
    pub fn gw_if(&self, side: usize) -> &'static str {
        let zone = if side == 0 {
            &self.probe.from_zone
        } else {
            &self.probe.to_zone
        };
        ZONES
            .iter()
            .find(|(z, _, _)| z == zone)
            .map_or("ens3", |(_, i, _)| i)
    }

    /// Source and destination addresses of the probe flow.
    pub fn addrs(&self) -> (IpAddr, IpAddr) {
        (IpAddr::V4(self.probe.src), IpAddr::V4(self.probe.dst))
    }
}

/// The single IPv4 address of a host endpoint, if it is one.
fn host_v4(policy: &Policy, e: &Endpoint) -> Option<Ipv4Addr> {
    let Endpoint::Host(h) = e else { return None };
    match policy.hosts.get(h)?.addresses.as_slice() {
        [IpAddr::V4(a)] => Some(*a),
        _ => None,
    }
}

/// A usable lab address: not the /16's network, broadcast or gateway address.
fn usable(a: Ipv4Addr) -> bool {
    let o = a.octets();
    !(o[2] == 0 && o[3] == 0) && !(o[2] == 255 && (o[3] == 255 || o[3] == 254))
}

fn pick_probe(policy: &Policy) -> Result<ProbeFlow, String> {
    let flows = &policy.flows;
    let n = flows.len();
    for k in 0..n {
        let index = (n / 2 + k) % n;
        let f = &flows[index];
        let (Some(fz), Some(tz)) = (f.from_zone.as_deref(), f.to_zone.as_deref()) else {
            continue;
        };
        let known = |z: &str| ZONES.iter().any(|(name, _, _)| *name == z);
        if f.expired || !known(fz) || !known(tz) || fz == tz {
            continue;
        }
        let (Some(src), Some(dst)) = (host_v4(policy, &f.from), host_v4(policy, &f.to)) else {
            continue;
        };
        if !usable(src) || !usable(dst) {
            continue;
        }
        let port = |l4: L4| {
            f.specs.iter().find_map(|s| match *s {
                PortSpec::Ports { proto, lo, hi } if proto == l4 && lo == hi => Some(lo),
                _ => None,
            })
        };
        let (Some(tcp_port), Some(udp_port)) = (port(L4::Tcp), port(L4::Udp)) else {
            continue;
        };
        return Ok(ProbeFlow {
            id: f.id.clone(),
            index,
            from_zone: fz.to_string(),
            src,
            to_zone: tz.to_string(),
            dst,
            tcp_port,
            udp_port,
            naive_position: 0,
        });
    }
    Err("no host-to-host flow with a TCP and a UDP port between two lab zones".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_a_middle_flow_and_builds_a_lab_spec() {
        let s = Scenario::new(1_000, 100).expect("scenario");
        assert!(s.probe.index >= 50, "{:?}", s.probe);
        assert_ne!(s.probe.from_zone, s.probe.to_zone);
        assert!(s.probe.naive_position > 2 && s.probe.naive_position < s.naive.rules);
        let spec = s.lab_spec();
        assert_eq!(spec.segments.len(), 2);
        assert_eq!(spec.segments[0].gw_if, s.gw_if(0));
        assert!(spec.segments[1].host_addrs[0].starts_with(&s.probe.dst.to_string()));
        // The compiled ruleset carries the probe flow as a map element.
        assert!(s.zonegate.text.contains(&s.probe.id));
    }
}
