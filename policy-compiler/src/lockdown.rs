//! The lockdown ruleset: what a gateway runs when it has no valid policy and no last-known-good
//! one. Forwarding is dropped entirely; the gateway accepts only the declared management path
//! (so an administrator can always get in to fix things) and neighbour discovery.

use crate::model::{Endpoint, Policy};
use crate::names::{self, COMMENT_MAX, FAMILY, TABLE};
use crate::net::{Family, Range};
use crate::ports::PortSpec;
use std::fmt::Write as _;

/// One management opening: sources and the ports they may reach on the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Management {
    pub sources: Vec<Range>,
    pub specs: Vec<PortSpec>,
}

/// The management path a policy declares: every flow `to = "gateway"` on TCP/UDP.
pub fn management_from_policy(policy: &Policy) -> Vec<Management> {
    policy
        .active_flows()
        .filter(|f| f.to == Endpoint::Gateway)
        .map(|f| Management {
            sources: policy.endpoint_ranges(&f.from),
            specs: f
                .specs
                .iter()
                .filter(|s| matches!(s, PortSpec::Ports { .. }))
                .copied()
                .collect(),
        })
        .collect()
}

/// Renders the lockdown table (same table name, same atomic replace).
pub fn lockdown(management: &[Management], reason: &str) -> String {
    let mut elems = [Vec::new(), Vec::new()];
    for m in management {
        for s in &m.sources {
            for spec in &m.specs {
                if let PortSpec::Ports { proto, lo, hi } = spec {
                    let port = if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo}-{hi}")
                    };
                    elems[(s.family == Family::V6) as usize]
                        .push(format!("{s} . {} . {port}", proto.name()));
                }
            }
        }
    }
    for e in elems.iter_mut() {
        e.sort();
        e.dedup();
    }
    let mut out = String::new();
    let _ = writeln!(out, "# zonegate lockdown ruleset (generated; do not edit)");
    let _ = writeln!(
        out,
        "table {FAMILY} {TABLE}\ndelete table {FAMILY} {TABLE}\ntable {FAMILY} {TABLE} {{"
    );
    let _ = writeln!(
        out,
        "\tcomment \"{}\"",
        names::comment(&format!("zonegate lockdown: {reason}"), COMMENT_MAX)
    );
    for (name, typ, e) in [
        ("mgmt4", "ipv4_addr . inet_proto . inet_service", &elems[0]),
        ("mgmt6", "ipv6_addr . inet_proto . inet_service", &elems[1]),
    ] {
        let _ = writeln!(out, "\n\tset {name} {{\n\t\ttype {typ}\n\t\tflags interval");
        if !e.is_empty() {
            let _ = writeln!(out, "\t\telements = {{ {} }}", e.join(", "));
        }
        let _ = writeln!(out, "\t}}");
    }
    // Management connections are recognised by their original direction on both hooks, so a
    // session survives the switch to lockdown and replies leave.
    out.push_str(
        "\n\tchain input {\n\
         \t\ttype filter hook input priority filter; policy drop;\n\
         \t\tiifname \"lo\" accept\n\
         \t\tct state invalid drop\n\
         \t\tct direction original ip saddr . meta l4proto . th dport @mgmt4 accept\n\
         \t\tct direction original ip6 saddr . meta l4proto . th dport @mgmt6 accept\n\
         \t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept\n\
         \t}\n\
         \n\tchain forward {\n\
         \t\ttype filter hook forward priority filter; policy drop;\n\
         \t}\n\
         \n\tchain output {\n\
         \t\ttype filter hook output priority filter; policy drop;\n\
         \t\toifname \"lo\" accept\n\
         \t\tct direction reply ip daddr . meta l4proto . th sport @mgmt4 accept\n\
         \t\tct direction reply ip6 daddr . meta l4proto . th sport @mgmt6 accept\n\
         \t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } ip6 hoplimit 255 accept\n\
         \t}\n}\n",
    );
    out
}
