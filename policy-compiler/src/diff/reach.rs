//! Reachability that a change adds or takes away on one gateway: `new ∖ old` and `old ∖ new`
//! of the owned boxes (space.rs), each piece owned by the flow of the policy that permits it,
//! then factored into readable lines: merged source and destination addresses (named as a
//! zone, group or host where the addresses are exactly theirs), merged ports, flow ids.

use super::boxes::{difference_all, overlaps, Boxed};
use super::space::{icmp_proto, intra_boxes, Owned, PathKey, Space};
use crate::model::Policy;
use crate::net::{Family, Range};
use crate::ports::{icmp_name, icmpv6_name};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What changed for one zone pair of one gateway, in one direction (gained or lost).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairChange {
    pub gateway: String,
    /// Zone name, or `gateway` for the gateway itself.
    pub from: String,
    pub to: String,
    pub lines: Vec<ReachLine>,
}

/// Sources × destinations × ports, permitted by `flows`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ReachLine {
    /// `ipv4` or `ipv6`; absent when the line holds for both families.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    pub src: Vec<AddrItem>,
    pub dst: Vec<AddrItem>,
    /// `tcp/443`, `tcp/8000-8010`, `udp`, `icmp/echo-request`, `icmpv6`, `proto 47`, or `all`
    /// (every protocol and port: intra-zone traffic).
    pub ports: Vec<String>,
    /// Flow ids (or `intra_zone`) of the policy that permits it.
    pub flows: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AddrKind {
    /// The gateway itself.
    Gateway,
    /// Every address of the family.
    Any,
    /// Exactly the zone's own addresses.
    Zone,
    Group,
    Host,
    /// Addresses no name covers exactly.
    Range,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct AddrItem {
    pub kind: AddrKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Merged ranges (`10.20.1.11`, `10.20.0.0/22`, `10.20.1.11-10.20.1.12`); empty for the
    /// gateway, `any` and zones.
    pub addresses: Vec<String>,
}

/// `a ∖ b`, path by path; each piece keeps its owner in `a`.
pub fn minus(a: &Space, b: &Space) -> Space {
    let none = Vec::new();
    a.iter()
        .map(|(k, owned)| {
            let theirs = b.get(k).unwrap_or(&none);
            (
                k.clone(),
                owned.iter().flat_map(|o| rest(o, theirs)).collect(),
            )
        })
        .filter(|(_, v): &(PathKey, Vec<Owned>)| !v.is_empty())
        .collect()
}

fn rest(o: &Owned, theirs: &[Owned]) -> Vec<Owned> {
    let hits: Vec<&Boxed> = theirs
        .iter()
        .map(|t| &t.dims)
        .filter(|d| overlaps(d, &o.dims))
        .collect();
    difference_all(&o.dims, hits)
        .into_iter()
        .map(|dims| Owned {
            dims,
            flow: o.flow.clone(),
        })
        .collect()
}

/// The readable form of a difference: one entry per zone pair, both families folded together.
pub fn describe(p: &Policy, gateway: &str, pieces: &Space) -> Vec<PairChange> {
    let mut pairs: BTreeMap<(String, String), Vec<ReachLine>> = BTreeMap::new();
    for (k, owned) in pieces {
        let lines = factor(owned)
            .into_iter()
            .map(|f| name_line(p, k, f))
            .collect::<Vec<_>>();
        pairs
            .entry((k.from.clone(), k.to.clone()))
            .or_default()
            .extend(lines);
    }
    pairs
        .into_iter()
        .map(|((from, to), lines)| PairChange {
            gateway: gateway.to_string(),
            from,
            to,
            lines: fold_families(lines),
        })
        .collect()
}

/// Intervals of one dimension, merged.
type Set = Vec<(u128, u128)>;

/// A factored line before naming: sources × destinations × (protocol, port) pairs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Factored {
    src: Set,
    dst: Set,
    pp: Vec<((u128, u128), (u128, u128))>,
    flows: BTreeSet<String>,
}

/// Groups disjoint boxes into lines: by source, then destination, then ports, then owners.
fn factor(owned: &[Owned]) -> Vec<Factored> {
    let by_src = group(owned.iter().filter_map(|o| match o.dims.as_slice() {
        [s, d, p, t] => Some(((vec![*d], vec![(*p, *t)], o.flow.clone()), *s)),
        _ => None,
    }));
    let by_dst = group(by_src.into_iter().flat_map(|((d, pp, f), s)| {
        d.into_iter()
            .map(move |d| ((s.clone(), pp.clone(), f.clone()), d))
    }));
    let by_pp = group_pp(by_dst.into_iter().map(|((s, pp, f), d)| ((s, d, f), pp)));
    let mut by_flow: BTreeMap<(Set, Set, Vec<_>), BTreeSet<String>> = BTreeMap::new();
    for ((s, d, f), pp) in by_pp {
        by_flow.entry((s, d, pp)).or_default().insert(f);
    }
    by_flow
        .into_iter()
        .map(|((src, dst, pp), flows)| Factored {
            src,
            dst,
            pp,
            flows,
        })
        .collect()
}

/// Collects the intervals of one dimension under the rest of the line, merged.
fn group<K: Ord>(items: impl Iterator<Item = (K, (u128, u128))>) -> BTreeMap<K, Set> {
    let mut m: BTreeMap<K, Set> = BTreeMap::new();
    for (k, iv) in items {
        m.entry(k).or_default().push(iv);
    }
    m.into_iter().map(|(k, v)| (k, merge(v))).collect()
}

type Pp = ((u128, u128), (u128, u128));

/// Collects (protocol, port) pairs under the rest of the line, ports merged per protocol.
fn group_pp<K: Ord>(items: impl Iterator<Item = (K, Vec<Pp>)>) -> BTreeMap<K, Vec<Pp>> {
    let mut m: BTreeMap<K, Vec<Pp>> = BTreeMap::new();
    for (k, pp) in items {
        m.entry(k).or_default().extend(pp);
    }
    m.into_iter().map(|(k, v)| (k, merge_pp(v))).collect()
}

fn merge(mut v: Set) -> Set {
    v.sort_unstable();
    let mut out: Set = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn merge_pp(mut v: Vec<Pp>) -> Vec<Pp> {
    v.sort_unstable();
    let mut out: Vec<Pp> = Vec::with_capacity(v.len());
    for (p, o) in v {
        match out.last_mut() {
            Some((lp, lo)) if *lp == p && o.0 <= lo.1.saturating_add(1) => lo.1 = lo.1.max(o.1),
            _ => out.push((p, o)),
        }
    }
    out
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    }
}

fn name_line(p: &Policy, k: &PathKey, f: Factored) -> ReachLine {
    ReachLine {
        family: Some(family_name(k.family).to_string()),
        src: name_addrs(p, &k.from, k.family, &f.src),
        dst: name_addrs(p, &k.to, k.family, &f.dst),
        ports: ports_text(k.family, &f.pp),
        flows: f.flows.into_iter().collect(),
    }
}

fn ranges(fam: Family, set: &[(u128, u128)]) -> Vec<Range> {
    set.iter()
        .map(|&(lo, hi)| Range {
            family: fam,
            lo,
            hi,
        })
        .collect()
}

fn texts(rs: &[Range]) -> Vec<String> {
    rs.iter().map(|r| r.to_string()).collect()
}

fn item(kind: AddrKind, name: Option<&str>, addresses: Vec<String>) -> AddrItem {
    AddrItem {
        kind,
        name: name.map(str::to_string),
        addresses,
    }
}

/// Names an address set on one side of a path: the gateway, any, the zone, a host, a group,
/// or range by range (hosts where a range is exactly theirs).
fn name_addrs(p: &Policy, side: &str, fam: Family, set: &[(u128, u128)]) -> Vec<AddrItem> {
    let rs = ranges(fam, set);
    if side == crate::model::GATEWAY {
        return vec![item(AddrKind::Gateway, None, Vec::new())];
    }
    if set == [(0, fam.max())] {
        return vec![item(AddrKind::Any, None, Vec::new())];
    }
    let own: Vec<Range> = p
        .ownership
        .ranges_of(&side.to_string())
        .into_iter()
        .filter(|r| r.family == fam)
        .collect();
    if own == rs {
        return vec![item(AddrKind::Zone, Some(side), Vec::new())];
    }
    if let Some(h) = p
        .hosts
        .values()
        .find(|h| host_ranges(p, &h.name, fam) == rs)
    {
        return vec![item(AddrKind::Host, Some(&h.name), texts(&rs))];
    }
    if let Some(g) = p
        .groups
        .values()
        .find(|g| group_ranges(p, &g.name, fam) == rs)
    {
        return vec![item(AddrKind::Group, Some(&g.name), texts(&rs))];
    }
    rs.iter().flat_map(|r| name_range(p, fam, r)).collect()
}

fn host_ranges(p: &Policy, host: &str, fam: Family) -> Vec<Range> {
    let e = crate::model::Endpoint::Host(host.to_string());
    p.endpoint_ranges(&e)
        .into_iter()
        .filter(|r| r.family == fam)
        .collect()
}

fn group_ranges(p: &Policy, group: &str, fam: Family) -> Vec<Range> {
    let e = crate::model::Endpoint::Group(group.to_string());
    p.endpoint_ranges(&e)
        .into_iter()
        .filter(|r| r.family == fam)
        .collect()
}

/// One range as the hosts whose addresses fill it exactly, or as itself.
fn name_range(p: &Policy, fam: Family, r: &Range) -> Vec<AddrItem> {
    let inside: Vec<(&str, Vec<Range>)> = p
        .hosts
        .values()
        .map(|h| (h.name.as_str(), host_ranges(p, &h.name, fam)))
        .filter(|(_, rs)| !rs.is_empty() && rs.iter().all(|x| r.lo <= x.lo && x.hi <= r.hi))
        .collect();
    let union = crate::net::merge(inside.iter().flat_map(|(_, rs)| rs.clone()).collect());
    if union != [*r] {
        return vec![item(AddrKind::Range, None, vec![r.to_string()])];
    }
    inside
        .into_iter()
        .map(|(n, rs)| item(AddrKind::Host, Some(n), texts(&rs)))
        .collect()
}

/// Port texts; `all` when the line covers every protocol and port (intra-zone traffic).
fn ports_text(fam: Family, pp: &[Pp]) -> Vec<String> {
    let all: Vec<Pp> = intra_boxes(fam).iter().map(|b| (b[2], b[3])).collect();
    if pp == all.as_slice() {
        return vec!["all".to_string()];
    }
    pp.iter().map(|&(p, o)| port_text(fam, p, o)).collect()
}

fn port_text(fam: Family, (plo, phi): (u128, u128), (lo, hi): (u128, u128)) -> String {
    let span = |name: &str| match (lo, hi) {
        (0 | 1, 65535) => name.to_string(),
        (a, b) if a == b => format!("{name}/{a}"),
        (a, b) => format!("{name}/{a}-{b}"),
    };
    if plo != phi {
        return match (lo, hi) {
            (0, 65535) => format!("proto {plo}-{phi}"),
            _ => format!("proto {plo}-{phi} port {lo}-{hi}"),
        };
    }
    match plo {
        6 => span("tcp"),
        17 => span("udp"),
        132 => span("sctp"),
        n if n == icmp_proto(fam) => icmp_text(fam, lo, hi),
        n => match (lo, hi) {
            (0, 65535) => format!("proto {n}"),
            _ => format!("proto {n} port {lo}-{hi}"),
        },
    }
}

fn icmp_text(fam: Family, lo: u128, hi: u128) -> String {
    let proto = match fam {
        Family::V4 => "icmp",
        Family::V6 => "icmpv6",
    };
    if (lo, hi) == (0, 255) {
        return proto.to_string();
    }
    let name = |t: u128| {
        let t = u8::try_from(t).ok();
        let n = match fam {
            Family::V4 => t.and_then(icmp_name),
            Family::V6 => t.and_then(icmpv6_name),
        };
        n.map_or_else(|| t.unwrap_or_default().to_string(), str::to_string)
    };
    if lo == hi {
        format!("{proto}/{}", name(lo))
    } else {
        format!("{proto}/{lo}-{hi}")
    }
}

/// Lines that read the same for IPv4 and IPv6 (same names, ports and flows) become one line.
fn fold_families(lines: Vec<ReachLine>) -> Vec<ReachLine> {
    let sig = |l: &ReachLine| {
        let names = |v: &[AddrItem]| -> Vec<(AddrKind, Option<String>)> {
            v.iter().map(|a| (a.kind, a.name.clone())).collect()
        };
        (
            names(&l.src),
            names(&l.dst),
            l.ports.clone(),
            l.flows.clone(),
        )
    };
    let mut out: Vec<ReachLine> = Vec::new();
    for l in lines {
        let foldable = l
            .src
            .iter()
            .chain(&l.dst)
            .all(|a| a.kind != AddrKind::Range);
        match out
            .iter_mut()
            .find(|o| foldable && o.family.is_some() && o.family != l.family && sig(o) == sig(&l))
        {
            Some(o) => {
                o.family = None;
                for (a, b) in o
                    .src
                    .iter_mut()
                    .zip(&l.src)
                    .chain(o.dst.iter_mut().zip(&l.dst))
                {
                    a.addresses.extend(b.addresses.iter().cloned());
                }
            }
            None => out.push(l),
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_merge_per_protocol_and_read_like_the_policy() {
        let pp = merge_pp(vec![
            ((6, 6), (443, 443)),
            ((6, 6), (444, 450)),
            ((17, 17), (53, 53)),
        ]);
        assert_eq!(ports_text(Family::V4, &pp), ["tcp/443-450", "udp/53"]);
        assert_eq!(port_text(Family::V4, (1, 1), (8, 8)), "icmp/echo-request");
        assert_eq!(port_text(Family::V6, (58, 58), (0, 255)), "icmpv6");
        let all: Vec<Pp> = intra_boxes(Family::V6)
            .iter()
            .map(|b| (b[2], b[3]))
            .collect();
        assert_eq!(ports_text(Family::V6, &all), ["all"]);
    }

    #[test]
    fn factoring_merges_adjacent_sources() {
        let o = |s: u128, flow: &str| Owned {
            dims: vec![(s, s), (9, 9), (6, 6), (443, 443)],
            flow: flow.into(),
        };
        let lines = factor(&[o(1, "F-1"), o(2, "F-1"), o(4, "F-2")]);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].src, vec![(1, 2)]);
        assert_eq!(lines[1].flows.iter().collect::<Vec<_>>(), ["F-2"]);
    }
}
