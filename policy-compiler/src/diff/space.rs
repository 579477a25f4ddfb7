//! What one gateway's ruleset accepts as new connections, as owned boxes of packet space.
//!
//! Built from the same disjoint map elements `compile` writes (flowmap: earlier ids own
//! overlaps), lifted to one shape for every path: `saddr . daddr . l4proto . dport-or-icmp-type`
//! per address family and zone pair (`gateway` for the gateway's own input and output). The
//! source is cut to what anti-spoof lets in on the zone's interfaces (the zone's own
//! addresses, most specific network wins); the gateway's end is the whole family.

use super::boxes::Boxed;
use crate::flowmap::{flow_boxes, MapBuilder, MapKind};
use crate::model::{Endpoint, Flow, Gateway, IntraZone, Policy, GATEWAY};
use crate::net::{Family, Range};
use std::collections::BTreeMap;

/// The owner of intra-zone traffic (`intra_zone = "accept"`), in place of a flow id.
pub const INTRA: &str = "intra_zone";

/// Which path of the gateway: from zone (or gateway), to zone (or gateway), family.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PathKey {
    pub from: String,
    pub to: String,
    pub family: Family,
}

/// A box of `saddr . daddr . l4proto . port` and the flow that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub dims: Boxed,
    pub flow: String,
}

pub type Space = BTreeMap<PathKey, Vec<Owned>>;

/// Every box the gateway accepts for new connections.
pub fn space(p: &Policy, gw: &Gateway) -> Space {
    let zones: Vec<&str> = gw.zones().into_iter().collect();
    let mut out = Space::new();
    for &from in &zones {
        for &to in &zones {
            forward(p, from, to, &mut out);
        }
        local(p, from, true, &mut out);
        local(p, from, false, &mut out);
    }
    out.retain(|_, v| !v.is_empty());
    out
}

fn forward(p: &Policy, from: &str, to: &str, out: &mut Space) {
    if from == to && p.intra_zone == IntraZone::Accept {
        for fam in [Family::V4, Family::V6] {
            let src = p.ownership.ranges_of(&from.to_string());
            let boxes = intra_boxes(fam);
            push(out, key(from, to, fam), clip_src(&src, fam, INTRA, boxes));
        }
        return;
    }
    let flows: Vec<&Flow> = p
        .active_flows()
        .filter(|f| f.from_zone.as_deref() == Some(from) && f.to_zone.as_deref() == Some(to))
        .collect();
    for fam in [Family::V4, Family::V6] {
        let src = p.ownership.ranges_of(&from.to_string());
        let mut boxes = lifted(p, &flows, MapKind::Ports(fam), Lift::Ports);
        boxes.extend(lifted(p, &flows, MapKind::Icmp(fam), Lift::Icmp(fam)));
        push(out, key(from, to, fam), clip_src(&src, fam, "", boxes));
    }
}

fn local(p: &Policy, zone: &str, inbound: bool, out: &mut Space) {
    let flows: Vec<&Flow> = p
        .active_flows()
        .filter(|f| {
            if inbound {
                f.to == Endpoint::Gateway && f.from_zone.as_deref() == Some(zone)
            } else {
                f.from == Endpoint::Gateway && f.to_zone.as_deref() == Some(zone)
            }
        })
        .collect();
    for fam in [Family::V4, Family::V6] {
        let (ports, icmp, lift) = if inbound {
            (MapKind::InPorts(fam), MapKind::InIcmp(fam), Lift::In(fam))
        } else {
            (
                MapKind::OutPorts(fam),
                MapKind::OutIcmp(fam),
                Lift::Out(fam),
            )
        };
        let mut boxes = lifted(p, &flows, ports, lift);
        boxes.extend(lifted(p, &flows, icmp, lift.icmp()));
        if inbound {
            let src = p.ownership.ranges_of(&zone.to_string());
            push(out, key(zone, GATEWAY, fam), clip_src(&src, fam, "", boxes));
        } else {
            push(out, key(GATEWAY, zone, fam), boxes);
        }
    }
}

fn key(from: &str, to: &str, family: Family) -> PathKey {
    PathKey {
        from: from.to_string(),
        to: to.to_string(),
        family,
    }
}

fn push(out: &mut Space, k: PathKey, boxes: Vec<Owned>) {
    out.entry(k).or_default().extend(boxes);
}

/// How a map's key becomes `saddr . daddr . l4proto . port`.
#[derive(Debug, Clone, Copy)]
enum Lift {
    /// Already `saddr . daddr . l4proto . dport`.
    Ports,
    /// `saddr . daddr . type`: the family's ICMP protocol goes in.
    Icmp(Family),
    /// `saddr . l4proto . dport`: the gateway is the destination.
    In(Family),
    InIcmp(Family),
    /// `daddr . l4proto . dport`: the gateway is the source.
    Out(Family),
    OutIcmp(Family),
}

impl Lift {
    fn icmp(self) -> Lift {
        match self {
            Lift::In(f) => Lift::InIcmp(f),
            Lift::Out(f) => Lift::OutIcmp(f),
            other => other,
        }
    }

    fn apply(self, d: &[(u128, u128)]) -> Option<Boxed> {
        let icmp = |f: Family| -> (u128, u128) {
            let n = icmp_proto(f);
            (n, n)
        };
        let all = |f: Family| (0, f.max());
        Some(match (self, d) {
            (Lift::Ports, [s, t, p, o]) => vec![*s, *t, *p, *o],
            (Lift::Icmp(f), [s, t, y]) => vec![*s, *t, icmp(f), *y],
            (Lift::In(f), [s, p, o]) => vec![*s, all(f), *p, *o],
            (Lift::InIcmp(f), [s, y]) => vec![*s, all(f), icmp(f), *y],
            (Lift::Out(f), [t, p, o]) => vec![all(f), *t, *p, *o],
            (Lift::OutIcmp(f), [t, y]) => vec![all(f), *t, icmp(f), *y],
            _ => return None,
        })
    }
}

/// The protocol number of the family's ICMP.
pub fn icmp_proto(f: Family) -> u128 {
    match f {
        Family::V4 => 1,
        Family::V6 => 58,
    }
}

/// One map's disjoint elements (as compile builds them), lifted to the common shape.
fn lifted(p: &Policy, flows: &[&Flow], kind: MapKind, lift: Lift) -> Vec<Owned> {
    let mut mb = MapBuilder::default();
    for f in flows {
        let (src, dst) = (p.endpoint_ranges(&f.from), p.endpoint_ranges(&f.to));
        mb.add(&f.id, f.mark, flow_boxes(kind, &src, &dst, &f.specs));
    }
    mb.finish()
        .into_iter()
        .filter_map(|e| lift.apply(&e.dims).map(|dims| Owned { dims, flow: e.flow }))
        .collect()
}

/// Everything between two interfaces of one zone: every protocol on every port, and every
/// ICMP type of the family's ICMP (its "port" is the type).
pub fn intra_boxes(f: Family) -> Vec<Boxed> {
    let (all, n) = ((0, f.max()), icmp_proto(f));
    vec![
        vec![all, all, (0, n - 1), (0, 65535)],
        vec![all, all, (n, n), (0, 255)],
        vec![all, all, (n + 1, 255), (0, 65535)],
    ]
}

/// Cuts each box's source to the zone's own addresses (anti-spoof). `flow` names the owner of
/// bare boxes (intra-zone); owned boxes keep theirs.
fn clip_src(src: &[Range], fam: Family, flow: &str, boxes: Vec<impl Into<Owned>>) -> Vec<Owned> {
    let mut out = Vec::new();
    for b in boxes {
        let mut o: Owned = b.into();
        if o.flow.is_empty() {
            o.flow = flow.to_string();
        }
        for r in src {
            let Some(&(lo, hi)) = o.dims.first() else {
                continue;
            };
            if r.family == fam && r.lo <= hi && lo <= r.hi {
                let mut dims = o.dims.clone();
                dims[0] = (lo.max(r.lo), hi.min(r.hi));
                out.push(Owned {
                    dims,
                    flow: o.flow.clone(),
                });
            }
        }
    }
    out
}

impl From<Boxed> for Owned {
    fn from(dims: Boxed) -> Owned {
        Owned {
            dims,
            flow: String::new(),
        }
    }
}
