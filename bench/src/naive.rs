//! The comparison rulesets of the per-packet benchmark.
//!
//! [`naive_ruleset`] writes the same policy the way a list-based firewall would: one forward
//! chain, the usual `ct state established,related accept` first, then one rule per flow element
//! (`iifname X oifname Y ip saddr A ip daddr B tcp dport P accept`: per pair of interfaces, per
//! address family, per port specification), then `drop`. A new or denied packet walks the list
//! until a rule matches, so its cost grows with the number of flows: that is what zonegate's
//! per-pair interval maps avoid. Group endpoints become anonymous sets
//! (`ip saddr { a, b }`), zone endpoints match any address, flows to or from the gateway itself
//! are left out (they do not touch the forward path), and there is no anti-spoofing.
//!
//! [`conntrack_only_ruleset`] is a baseline between "no ruleset" and a real one: connection
//! tracking is switched on in the gateway namespace but every packet is accepted, so the
//! difference to zonegate is the cost of its rules alone.

use std::fmt::Write as _;
use zonegate_policy::model::{Endpoint, IntraZone, Policy};
use zonegate_policy::net::{Family, Range};
use zonegate_policy::ports::PortSpec;

/// Name of the naive ruleset's table (`table inet naive`).
pub const NAIVE_TABLE: &str = "naive";
/// Name of the conntrack-only baseline's table.
pub const CT_ONLY_TABLE: &str = "ctonly";

/// Why a comparison ruleset could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NaiveError {
    /// The policy declares no gateway of that name.
    UnknownGateway(String),
}

impl std::fmt::Display for NaiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NaiveError::UnknownGateway(g) => write!(f, "the policy declares no gateway {g:?}"),
        }
    }
}

impl std::error::Error for NaiveError {}

/// A naive ruleset and its size.
#[derive(Debug, Clone)]
pub struct Naive {
    /// Input for `nft -f`: replaces `table inet naive` in one transaction.
    pub text: String,
    /// Rules in the forward chain, the final drop included.
    pub rules: usize,
}

/// Renders `policy` for `gateway` as one rule per flow element in a single forward chain.
pub fn naive_ruleset(policy: &Policy, gateway: &str) -> Result<Naive, NaiveError> {
    let gw = policy
        .gateways
        .get(gateway)
        .ok_or_else(|| NaiveError::UnknownGateway(gateway.to_string()))?;
    let mut rules: Vec<String> = vec![
        "ct state established,related accept".into(),
        "ct state invalid drop".into(),
    ];
    if policy.intra_zone == IntraZone::Accept {
        for zone in gw.zones() {
            let ifaces = gw.interfaces_of(zone);
            for a in &ifaces {
                for b in &ifaces {
                    rules.push(format!("iifname \"{a}\" oifname \"{b}\" accept"));
                }
            }
        }
    }
    for flow in policy.active_flows() {
        if flow.from == Endpoint::Gateway || flow.to == Endpoint::Gateway {
            continue;
        }
        let (Some(fz), Some(tz)) = (flow.from_zone.as_deref(), flow.to_zone.as_deref()) else {
            continue;
        };
        let src = addr_match(policy, &flow.from);
        let dst = addr_match(policy, &flow.to);
        for a in gw.interfaces_of(fz) {
            for b in gw.interfaces_of(tz) {
                for family in families(&src, &dst) {
                    for spec in &flow.specs {
                        let Some(l4) = l4_match(spec, family) else {
                            continue;
                        };
                        let mut r = format!("iifname \"{a}\" oifname \"{b}\"");
                        for (dir, m) in [("saddr", &src), ("daddr", &dst)] {
                            if let Some(set) = m.for_family(family) {
                                let ip = if family == Some(Family::V6) {
                                    "ip6"
                                } else {
                                    "ip"
                                };
                                let _ = write!(r, " {ip} {dir} {set}");
                            }
                        }
                        let _ = write!(r, " {l4} accept");
                        rules.push(r);
                    }
                }
            }
        }
    }
    rules.push("counter drop".into());
    let mut text = format!(
        "table inet {NAIVE_TABLE}\ndelete table inet {NAIVE_TABLE}\ntable inet {NAIVE_TABLE} {{\n\tchain forward {{\n\t\ttype filter hook forward priority filter; policy drop;\n"
    );
    for r in &rules {
        let _ = writeln!(text, "\t\t{r}");
    }
    text.push_str("\t}\n}\n");
    Ok(Naive {
        text,
        rules: rules.len(),
    })
}

/// The conntrack-only baseline: conntrack on, everything accepted.
pub fn conntrack_only_ruleset() -> String {
    format!(
        "table inet {CT_ONLY_TABLE}\ndelete table inet {CT_ONLY_TABLE}\ntable inet {CT_ONLY_TABLE} {{\n\tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n\t\tct state established,related accept\n\t\tcounter accept\n\t}}\n}}\n"
    )
}

/// What an endpoint matches on addresses.
#[derive(Debug, Clone)]
enum AddrMatch {
    /// A zone: any address (the interface binds it to the zone).
    Any,
    /// Hosts or groups: their addresses per family.
    Ranges { v4: Vec<Range>, v6: Vec<Range> },
}

impl AddrMatch {
    /// The nft literal for `family` (`None` = any family, zone on both sides), or `None` for
    /// "no address match needed".
    fn for_family(&self, family: Option<Family>) -> Option<String> {
        let (AddrMatch::Ranges { v4, v6 }, Some(f)) = (self, family) else {
            return None;
        };
        let list = if f == Family::V4 { v4 } else { v6 };
        match list.as_slice() {
            [one] => Some(one.to_string()),
            many => Some(format!(
                "{{ {} }}",
                many.iter()
                    .map(Range::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    fn has(&self, f: Family) -> bool {
        match self {
            AddrMatch::Any => true,
            AddrMatch::Ranges { v4, v6 } => !if f == Family::V4 { v4 } else { v6 }.is_empty(),
        }
    }
}

fn addr_match(policy: &Policy, e: &Endpoint) -> AddrMatch {
    match e {
        Endpoint::Zone(_) | Endpoint::Gateway => AddrMatch::Any,
        Endpoint::Host(_) | Endpoint::Group(_) => {
            let ranges = policy.endpoint_ranges(e);
            let (v4, v6) = ranges.into_iter().partition(|r| r.family == Family::V4);
            AddrMatch::Ranges { v4, v6 }
        }
    }
}

/// The families a rule is needed for: `[None]` when neither end names addresses.
fn families(src: &AddrMatch, dst: &AddrMatch) -> Vec<Option<Family>> {
    if matches!((src, dst), (AddrMatch::Any, AddrMatch::Any)) {
        return vec![None];
    }
    [Family::V4, Family::V6]
        .into_iter()
        .filter(|f| src.has(*f) && dst.has(*f))
        .map(Some)
        .collect()
}

/// The transport match of a port specification in `family`, or `None` when the specification
/// cannot occur in that family (ICMP in IPv6 and the reverse).
fn l4_match(spec: &PortSpec, family: Option<Family>) -> Option<String> {
    Some(match *spec {
        PortSpec::Ports { proto, lo, hi } if lo == hi => format!("{} dport {lo}", proto.name()),
        PortSpec::Ports { proto, lo, hi } => format!("{} dport {lo}-{hi}", proto.name()),
        PortSpec::Icmp { .. } if family == Some(Family::V6) => return None,
        PortSpec::Icmpv6 { .. } if family == Some(Family::V4) => return None,
        PortSpec::Icmp { lo: 0, hi: 255 } => "meta l4proto icmp".into(),
        PortSpec::Icmpv6 { lo: 0, hi: 255 } => "meta l4proto ipv6-icmp".into(),
        PortSpec::Icmp { lo, hi } if lo == hi => format!("icmp type {lo}"),
        PortSpec::Icmp { lo, hi } => format!("icmp type {lo}-{hi}"),
        PortSpec::Icmpv6 { lo, hi } if lo == hi => format!("icmpv6 type {lo}"),
        PortSpec::Icmpv6 { lo, hi } => format!("icmpv6 type {lo}-{hi}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zonegate_policy::generate::{policy, Shape};

    const SMALL: &str = r#"
version = 1
[policy]
name = "t"
revision = "1"
profile = "none"
[zones.a]
networks = ["10.1.0.0/16", "fd00:1::/64"]
[zones.b]
networks = ["10.2.0.0/16"]
[hosts.x]
zone = "a"
addresses = ["10.1.0.5", "fd00:1::5"]
[hosts.y]
zone = "b"
addresses = ["10.2.0.7"]
[hosts.z]
zone = "a"
addresses = ["10.1.0.6"]
[groups.xz]
members = ["x", "z"]
[[flow]]
id = "F1"
from = "x"
to = "y"
ports = ["tcp/443", "udp/5000-5010", "icmp/echo-request"]
purpose = "p"
approved_by = "q"
[[flow]]
id = "F2"
from = "xz"
to = "b"
ports = ["tcp/22"]
purpose = "p"
approved_by = "q"
[[flow]]
id = "F3"
from = "a"
to = "gateway"
ports = ["tcp/22"]
purpose = "p"
approved_by = "q"
[gateways.g]
interfaces = { a = ["e1"], b = ["e2"] }
"#;

    fn checked(text: &str) -> Policy {
        let c = zonegate_policy::validate("t.toml", text, None);
        match c.policy {
            Some(p) => p,
            None => panic!("{}", c.diagnostics.render_text()),
        }
    }

    #[test]
    fn one_rule_per_flow_element() {
        let n = naive_ruleset(&checked(SMALL), "g").expect("gateway g");
        let lines: Vec<&str> = n.text.lines().map(str::trim).collect();
        for want in [
            "iifname \"e1\" oifname \"e2\" ip saddr 10.1.0.5 ip daddr 10.2.0.7 tcp dport 443 accept",
            "iifname \"e1\" oifname \"e2\" ip saddr 10.1.0.5 ip daddr 10.2.0.7 udp dport 5000-5010 accept",
            "iifname \"e1\" oifname \"e2\" ip saddr 10.1.0.5 ip daddr 10.2.0.7 icmp type 8 accept",
            "iifname \"e1\" oifname \"e2\" ip saddr 10.1.0.5-10.1.0.6 tcp dport 22 accept",
            "iifname \"e1\" oifname \"e2\" ip6 saddr fd00:1::5 tcp dport 22 accept",
            "iifname \"e1\" oifname \"e1\" accept",
            "counter drop",
        ] {
            assert!(lines.contains(&want), "missing {want:?} in\n{}", n.text);
        }
        // Flows to the gateway are not forwarded traffic.
        assert!(!n.text.contains("F3"));
        // 2 ct rules + 2 intra-zone + 3 (F1) + 2 (F2, two families) + drop.
        assert_eq!(n.rules, 10, "{}", n.text);
    }

    #[test]
    fn generated_policy_has_two_rules_per_flow() {
        let text = policy(Shape {
            hosts: 200,
            flows: 50,
            group_size: 0,
        });
        let p = checked(&text);
        let n = naive_ruleset(&p, "gw1").expect("gw1");
        // 2 ct rules, 4 zones with one interface each, tcp + udp per flow, the drop.
        assert_eq!(n.rules, 2 + 4 + 2 * 50 + 1);
        assert!(naive_ruleset(&p, "nope").is_err());
    }
}
