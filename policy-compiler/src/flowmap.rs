//! Flow maps: the elements of the concatenated interval maps that carry the flows
//! (`saddr . daddr . l4proto . dport -> mark` and its ICMP and gateway variants).
//!
//! Overlapping flows are made disjoint here, so the kernel never has to pick between two
//! elements: **where flows overlap, the flow whose id sorts first (byte order) owns the
//! overlap**. Every later flow keeps only the parts no earlier flow covers. compile, explain
//! and matrix all use this rule (see `owner`).

use crate::net::{Family, Range};
use crate::ports::PortSpec;
use std::collections::BTreeMap;

/// What one dimension of a map key holds, for rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    Addr(Family),
    Proto,
    Port,
    IcmpType,
}

/// Which map a key belongs to; also fixes the key's dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MapKind {
    /// saddr . daddr . l4proto . dport (forward, by family)
    Ports(Family),
    /// saddr . daddr . icmp type
    Icmp(Family),
    /// saddr . l4proto . dport (to the gateway)
    InPorts(Family),
    /// saddr . icmp type (to the gateway)
    InIcmp(Family),
    /// daddr . l4proto . dport (from the gateway)
    OutPorts(Family),
    /// daddr . icmp type (from the gateway)
    OutIcmp(Family),
}

impl MapKind {
    pub fn dims(self) -> Vec<Dim> {
        match self {
            MapKind::Ports(f) => vec![Dim::Addr(f), Dim::Addr(f), Dim::Proto, Dim::Port],
            MapKind::Icmp(f) => vec![Dim::Addr(f), Dim::Addr(f), Dim::IcmpType],
            MapKind::InPorts(f) | MapKind::OutPorts(f) => vec![Dim::Addr(f), Dim::Proto, Dim::Port],
            MapKind::InIcmp(f) | MapKind::OutIcmp(f) => vec![Dim::Addr(f), Dim::IcmpType],
        }
    }

    pub fn family(self) -> Family {
        match self {
            MapKind::Ports(f)
            | MapKind::Icmp(f)
            | MapKind::InPorts(f)
            | MapKind::InIcmp(f)
            | MapKind::OutPorts(f)
            | MapKind::OutIcmp(f) => f,
        }
    }

    /// nft type of the key, e.g. `ipv4_addr . ipv4_addr . inet_proto . inet_service`.
    pub fn key_type(self) -> String {
        let addr = match self.family() {
            Family::V4 => "ipv4_addr",
            Family::V6 => "ipv6_addr",
        };
        let icmp = match self.family() {
            Family::V4 => "icmp_type",
            Family::V6 => "icmpv6_type",
        };
        self.dims()
            .iter()
            .map(|d| match d {
                Dim::Addr(_) => addr,
                Dim::Proto => "inet_proto",
                Dim::Port => "inet_service",
                Dim::IcmpType => icmp,
            })
            .collect::<Vec<_>>()
            .join(" . ")
    }

    /// The packet expression that is looked up, e.g. `ip saddr . ip daddr . meta l4proto . th dport`.
    pub fn lookup_expr(self) -> String {
        let (ip, icmp) = match self.family() {
            Family::V4 => ("ip", "icmp type"),
            Family::V6 => ("ip6", "icmpv6 type"),
        };
        match self {
            MapKind::Ports(_) => format!("{ip} saddr . {ip} daddr . meta l4proto . th dport"),
            MapKind::Icmp(_) => format!("{ip} saddr . {ip} daddr . {icmp}"),
            MapKind::InPorts(_) => format!("{ip} saddr . meta l4proto . th dport"),
            MapKind::InIcmp(_) => format!("{ip} saddr . {icmp}"),
            MapKind::OutPorts(_) => format!("{ip} daddr . meta l4proto . th dport"),
            MapKind::OutIcmp(_) => format!("{ip} daddr . {icmp}"),
        }
    }
}

/// One map element: a box of key space and the flow that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elem {
    pub dims: Vec<(u128, u128)>,
    pub mark: u32,
    pub flow: String,
}

/// The boxes one flow contributes to a map, before overlaps are removed.
pub fn flow_boxes(
    kind: MapKind,
    src: &[Range],
    dst: &[Range],
    specs: &[PortSpec],
) -> Vec<Vec<(u128, u128)>> {
    let fam = kind.family();
    let src: Vec<&Range> = src.iter().filter(|r| r.family == fam).collect();
    let dst: Vec<&Range> = dst.iter().filter(|r| r.family == fam).collect();
    let mut l4: Vec<Vec<(u128, u128)>> = Vec::new();
    for s in specs {
        match (kind, s, fam) {
            (
                MapKind::Ports(_) | MapKind::InPorts(_) | MapKind::OutPorts(_),
                PortSpec::Ports { proto, lo, hi },
                _,
            ) => {
                let p = u128::from(proto.number());
                l4.push(vec![(p, p), (u128::from(*lo), u128::from(*hi))]);
            }
            (
                MapKind::Icmp(_) | MapKind::InIcmp(_) | MapKind::OutIcmp(_),
                PortSpec::Icmp { lo, hi },
                Family::V4,
            )
            | (
                MapKind::Icmp(_) | MapKind::InIcmp(_) | MapKind::OutIcmp(_),
                PortSpec::Icmpv6 { lo, hi },
                Family::V6,
            ) => {
                l4.push(vec![(u128::from(*lo), u128::from(*hi))]);
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    match kind {
        MapKind::Ports(_) | MapKind::Icmp(_) => {
            for s in &src {
                for d in &dst {
                    for tail in &l4 {
                        let mut b = vec![(s.lo, s.hi), (d.lo, d.hi)];
                        b.extend(tail.iter().copied());
                        out.push(b);
                    }
                }
            }
        }
        MapKind::InPorts(_) | MapKind::InIcmp(_) => {
            for s in &src {
                for tail in &l4 {
                    let mut b = vec![(s.lo, s.hi)];
                    b.extend(tail.iter().copied());
                    out.push(b);
                }
            }
        }
        MapKind::OutPorts(_) | MapKind::OutIcmp(_) => {
            for d in &dst {
                for tail in &l4 {
                    let mut b = vec![(d.lo, d.hi)];
                    b.extend(tail.iter().copied());
                    out.push(b);
                }
            }
        }
    }
    out
}

fn overlaps(a: &[(u128, u128)], b: &[(u128, u128)]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.0 <= y.1 && y.0 <= x.1)
}

/// `a` minus `b`, as disjoint boxes.
fn subtract(a: &[(u128, u128)], b: &[(u128, u128)]) -> Vec<Vec<(u128, u128)>> {
    if !overlaps(a, b) {
        return vec![a.to_vec()];
    }
    let mut out = Vec::new();
    let mut cur = a.to_vec();
    for i in 0..cur.len() {
        if cur[i].0 < b[i].0 {
            let mut piece = cur.clone();
            piece[i] = (cur[i].0, b[i].0 - 1);
            out.push(piece);
            cur[i].0 = b[i].0;
        }
        if cur[i].1 > b[i].1 {
            let mut piece = cur.clone();
            piece[i] = (b[i].1 + 1, cur[i].1);
            out.push(piece);
            cur[i].1 = b[i].1;
        }
    }
    out
}

/// Elements at least this wide in their first dimension (a zone end, a wide range) are kept in a
/// list that every new box is checked against; narrower ones are found through an index.
const WIDE: u128 = 1 << 16;

/// Builds one map's elements from flows given in id order; earlier flows own overlaps.
///
/// A new box is only checked against the placed elements that overlap it, taken in the order
/// they were placed: those are exactly the ones the subtraction can change, so the result is
/// the same as checking every placed element (which made a map of E elements cost O(E²):
/// 0.3 s for 10,000 flows), and host-to-host flows find their few candidates through an index
/// on the first dimension (source or destination address).
#[derive(Debug, Default, Clone)]
pub struct MapBuilder {
    pub elems: Vec<Elem>,
    /// Start of the first dimension -> indices (into `elems`) of narrow elements.
    narrow: BTreeMap<u128, Vec<usize>>,
    /// Widest first dimension (hi - lo) among the narrow elements.
    narrow_width: u128,
    /// Indices of wide elements (or of elements without dimensions).
    wide: Vec<usize>,
}

impl MapBuilder {
    pub fn add(&mut self, flow: &str, mark: u32, boxes: Vec<Vec<(u128, u128)>>) {
        let mut mine: Vec<Vec<(u128, u128)>> = Vec::new();
        for b in boxes {
            let candidates = self.overlapping(&b);
            let mut pieces = vec![b];
            for placed in candidates
                .iter()
                .map(|&i| &self.elems[i].dims)
                .chain(mine.iter())
            {
                if pieces.iter().any(|p| overlaps(p, placed)) {
                    pieces = pieces.iter().flat_map(|p| subtract(p, placed)).collect();
                }
                if pieces.is_empty() {
                    break;
                }
            }
            mine.extend(pieces);
        }
        for dims in mine {
            let i = self.elems.len();
            match dims.first() {
                Some(&(lo, hi)) if hi - lo < WIDE => {
                    self.narrow_width = self.narrow_width.max(hi - lo);
                    self.narrow.entry(lo).or_default().push(i);
                }
                _ => self.wide.push(i),
            }
            self.elems.push(Elem {
                dims,
                mark,
                flow: flow.to_string(),
            });
        }
    }

    /// Indices of the placed elements that overlap `b`, in the order they were placed.
    fn overlapping(&self, b: &[(u128, u128)]) -> Vec<usize> {
        let Some(&(lo, hi)) = b.first() else {
            return (0..self.elems.len()).collect();
        };
        let mut out: Vec<usize> = self
            .wide
            .iter()
            .copied()
            .filter(|&i| overlaps(&self.elems[i].dims, b))
            .collect();
        for idxs in self
            .narrow
            .range(lo.saturating_sub(self.narrow_width)..=hi)
            .map(|(_, v)| v)
        {
            out.extend(
                idxs.iter()
                    .copied()
                    .filter(|&i| overlaps(&self.elems[i].dims, b)),
            );
        }
        out.sort_unstable();
        out
    }

    /// Elements sorted the way nft lists them back, so the text is stable and reviewable.
    pub fn finish(mut self) -> Vec<Elem> {
        self.elems.sort_by(|a, b| a.dims.cmp(&b.dims));
        self.elems
    }
}

/// Which of the given flows (in id order) owns a point of key space, if any.
pub fn owner<'a>(candidates: impl IntoIterator<Item = (&'a str, bool)>) -> Option<&'a str> {
    candidates.into_iter().find(|(_, m)| *m).map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtraction_leaves_disjoint_pieces_covering_the_rest() {
        let a = vec![(0, 9), (0, 9)];
        let b = vec![(3, 5), (4, 20)];
        let pieces = subtract(&a, &b);
        let mut count = 0;
        for x in 0..10u128 {
            for y in 0..10u128 {
                let inside_b = (3..=5).contains(&x) && (4..=20).contains(&y);
                let n = pieces
                    .iter()
                    .filter(|p| p[0].0 <= x && x <= p[0].1 && p[1].0 <= y && y <= p[1].1)
                    .count();
                assert_eq!(n, usize::from(!inside_b), "point {x},{y}");
                count += n;
            }
        }
        assert_eq!(count, 100 - 3 * 6);
    }

    #[test]
    fn first_flow_owns_the_overlap() {
        let mut m = MapBuilder::default();
        m.add("A", 1, vec![vec![(5, 5), (0, 100)]]);
        m.add("B", 2, vec![vec![(0, 10), (0, 100)]]);
        let elems = m.finish();
        let at = |x: u128| {
            elems
                .iter()
                .find(|e| e.dims[0].0 <= x && x <= e.dims[0].1)
                .map(|e| e.mark)
        };
        assert_eq!(at(5), Some(1));
        assert_eq!(at(4), Some(2));
        assert_eq!(at(6), Some(2));
    }

    /// A flow as the builder takes it: id, mark, boxes.
    type FlowBoxes = (String, u32, Vec<Vec<(u128, u128)>>);

    /// The builder before the index: every new box against every placed element, in order.
    fn quadratic(flows: &[FlowBoxes]) -> Vec<Elem> {
        let mut elems: Vec<Elem> = Vec::new();
        for (flow, mark, boxes) in flows {
            let mut mine: Vec<Vec<(u128, u128)>> = Vec::new();
            for b in boxes {
                let mut pieces = vec![b.clone()];
                for placed in elems.iter().map(|e| &e.dims).chain(mine.iter()) {
                    if pieces.iter().any(|p| overlaps(p, placed)) {
                        pieces = pieces.iter().flat_map(|p| subtract(p, placed)).collect();
                    }
                    if pieces.is_empty() {
                        break;
                    }
                }
                mine.extend(pieces);
            }
            elems.extend(mine.into_iter().map(|dims| Elem {
                dims,
                mark: *mark,
                flow: flow.clone(),
            }));
        }
        elems.sort_by(|a, b| a.dims.cmp(&b.dims));
        elems
    }

    #[test]
    fn the_index_changes_nothing() {
        // Deterministic pseudo-random boxes: points, short ranges, wide ranges and whole
        // dimensions, so narrow and wide elements overlap each other in every way.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            u128::from(seed % n)
        };
        for round in 0..12 {
            let mut flows = Vec::new();
            for f in 0..60 {
                let mut boxes = Vec::new();
                for _ in 0..1 + next(3) {
                    let mut dims = Vec::new();
                    for d in 0..4 {
                        let (lo, width) = match next(6) {
                            0 => (0, u128::from(u32::MAX)),
                            1 => (next(1 << 20), next(1 << 18) + (1 << 16)),
                            2 => (next(64), next(16)),
                            _ => (next(64), 0),
                        };
                        // The index works on the first dimension; vary the others less.
                        let (lo, width) = if d == 0 {
                            (lo, width)
                        } else {
                            (lo % 8, width % 8)
                        };
                        dims.push((lo, lo + width));
                    }
                    boxes.push(dims);
                }
                flows.push((format!("F{round}-{f:03}"), f, boxes));
            }
            let mut m = MapBuilder::default();
            for (flow, mark, boxes) in &flows {
                m.add(flow, *mark, boxes.clone());
            }
            assert_eq!(m.finish(), quadratic(&flows), "round {round}");
        }
    }
}
