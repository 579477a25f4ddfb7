//! Addresses as integer intervals. Zones, hosts and flows are all reduced to sorted, merged
//! intervals of IPv4 or IPv6 addresses, because that is what nftables interval sets hold and
//! because "most specific network wins" is easiest to get right as painting intervals.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn max(self) -> u128 {
        match self {
            Family::V4 => u32::MAX as u128,
            Family::V6 => u128::MAX,
        }
    }
    pub fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Range {
    pub family: Family,
    pub lo: u128,
    pub hi: u128,
}

/// A network written as `addr/len`, with the host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub family: Family,
    pub base: u128,
    pub len: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// Not an address at all.
    BadAddress,
    /// Prefix length missing, not a number, or too long for the family.
    BadPrefix,
    /// Host bits set: the canonical network is carried so the hint can name it.
    HostBits(String),
}

pub fn to_int(addr: &IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u32::from(*a) as u128,
        IpAddr::V6(a) => u128::from(*a),
    }
}

pub fn from_int(family: Family, v: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(v as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// Parses a literal address. Only literals: nft would look anything else up in DNS.
pub fn parse_addr(s: &str) -> Result<IpAddr, NetError> {
    // std accepts exactly dotted-quad IPv4 and RFC 4291 IPv6 text, nothing resolvable.
    s.parse::<IpAddr>().map_err(|_| NetError::BadAddress)
}

/// Parses `addr/len` (or a bare address, taken as a host network).
pub fn parse_cidr(s: &str) -> Result<Cidr, NetError> {
    let (addr_s, len_s) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr = parse_addr(addr_s)?;
    let family = Family::of(&addr);
    let len = match len_s {
        None => family.bits(),
        Some(l) => {
            if l.is_empty() || l.len() > 3 || !l.bytes().all(|b| b.is_ascii_digit()) {
                return Err(NetError::BadPrefix);
            }
            let n: u8 = l.parse().map_err(|_| NetError::BadPrefix)?;
            if n > family.bits() {
                return Err(NetError::BadPrefix);
            }
            n
        }
    };
    let value = to_int(&addr);
    let mask = prefix_mask(family, len);
    if value & !mask & family.max() != 0 {
        let base = value & mask;
        return Err(NetError::HostBits(format!(
            "{}/{}",
            from_int(family, base),
            len
        )));
    }
    Ok(Cidr {
        family,
        base: value,
        len,
    })
}

fn prefix_mask(family: Family, len: u8) -> u128 {
    let bits = family.bits();
    if len == 0 {
        0
    } else {
        (family.max() >> (bits - len)) << (bits - len) & family.max()
    }
}

impl Cidr {
    pub fn host(addr: IpAddr) -> Cidr {
        let family = Family::of(&addr);
        Cidr {
            family,
            base: to_int(&addr),
            len: family.bits(),
        }
    }
    pub fn range(&self) -> Range {
        let size_mask = !prefix_mask(self.family, self.len) & self.family.max();
        Range {
            family: self.family,
            lo: self.base,
            hi: self.base | size_mask,
        }
    }
    pub fn contains(&self, other: &Cidr) -> bool {
        self.family == other.family
            && self.len <= other.len
            && self.range().lo <= other.base
            && other.base <= self.range().hi
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", from_int(self.family, self.base), self.len)
    }
}

impl Range {
    pub fn full(family: Family) -> Range {
        Range {
            family,
            lo: 0,
            hi: family.max(),
        }
    }
    pub fn contains_value(&self, v: u128) -> bool {
        self.lo <= v && v <= self.hi
    }
    pub fn contains_addr(&self, addr: &IpAddr) -> bool {
        Family::of(addr) == self.family && self.contains_value(to_int(addr))
    }
    /// The prefix length when the range is exactly one CIDR block.
    pub fn as_prefix(&self) -> Option<u8> {
        let size = self.hi.wrapping_sub(self.lo).wrapping_add(1);
        if self.lo == 0 && self.hi == self.family.max() {
            return Some(0);
        }
        if size == 0 || !size.is_power_of_two() || self.lo & (size - 1) != 0 {
            return None;
        }
        Some(self.family.bits() - size.trailing_zeros() as u8)
    }
}

impl fmt::Display for Range {
    /// nft's literal for the range: a bare address, a prefix, or `lo-hi`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lo = from_int(self.family, self.lo);
        if self.lo == self.hi {
            return write!(f, "{lo}");
        }
        match self.as_prefix() {
            Some(len) => write!(f, "{lo}/{len}"),
            None => write!(f, "{lo}-{}", from_int(self.family, self.hi)),
        }
    }
}

/// Sorts and merges overlapping or adjacent ranges (per family).
pub fn merge(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.sort();
    let mut out: Vec<Range> = Vec::with_capacity(ranges.len());
    for r in ranges {
        if let Some(last) = out.last_mut() {
            if last.family == r.family && r.lo <= last.hi.saturating_add(1) {
                last.hi = last.hi.max(r.hi);
                continue;
            }
        }
        out.push(r);
    }
    out
}

/// Longest-prefix ownership of the address space: every address belongs to the owner of the
/// most specific network that contains it. Networks must nest or be disjoint (CIDR blocks
/// always do); equal networks with two owners are rejected before this is built.
#[derive(Debug, Clone, Default)]
pub struct Ownership<T: Clone + Ord> {
    /// Per family: start -> (end, owner), disjoint.
    segments: BTreeMap<(Family, u128), (u128, T)>,
}

impl<T: Clone + Ord> Ownership<T> {
    pub fn build(mut networks: Vec<(Cidr, T)>) -> Self {
        networks.sort_by_key(|(c, _)| (c.len, c.family, c.base));
        let mut own = Ownership {
            segments: BTreeMap::new(),
        };
        for (cidr, owner) in networks {
            own.paint(cidr.range(), owner);
        }
        own
    }

    fn paint(&mut self, r: Range, owner: T) {
        // Cut out whatever overlaps [lo, hi], keep the parts outside it, then insert.
        let overlapping: Vec<(u128, u128, T)> = self
            .segments
            .range(..=(r.family, r.hi))
            .rev()
            .take_while(|((fam, _), (end, _))| *fam == r.family && *end >= r.lo)
            .map(|((_, start), (end, o))| (*start, *end, o.clone()))
            .collect();
        for (start, end, o) in overlapping {
            self.segments.remove(&(r.family, start));
            if start < r.lo {
                self.segments
                    .insert((r.family, start), (r.lo - 1, o.clone()));
            }
            if end > r.hi {
                self.segments.insert((r.family, r.hi + 1), (end, o));
            }
        }
        self.segments.insert((r.family, r.lo), (r.hi, owner));
    }

    pub fn owner_of(&self, addr: &IpAddr) -> Option<&T> {
        let fam = Family::of(addr);
        let v = to_int(addr);
        self.segments
            .range(..=(fam, v))
            .next_back()
            .filter(|((f, _), (end, _))| *f == fam && *end >= v)
            .map(|(_, (_, o))| o)
    }

    /// The merged ranges each owner ends up with.
    pub fn ranges_of(&self, owner: &T) -> Vec<Range> {
        merge(
            self.segments
                .iter()
                .filter(|(_, (_, o))| o == owner)
                .map(|((fam, start), (end, _))| Range {
                    family: *fam,
                    lo: *start,
                    hi: *end,
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        parse_cidr(s).expect("valid cidr")
    }

    #[test]
    fn cidr_parsing_rejects_host_bits_and_names() {
        assert_eq!(
            parse_cidr("10.10.0.5/24"),
            Err(NetError::HostBits("10.10.0.0/24".into()))
        );
        assert_eq!(parse_cidr("example.com/24"), Err(NetError::BadAddress));
        assert_eq!(parse_cidr("10.0.0.300/32"), Err(NetError::BadAddress));
        assert_eq!(parse_cidr("10.0.0.0/33"), Err(NetError::BadPrefix));
        assert_eq!(parse_cidr("10.0.0.0/+8"), Err(NetError::BadPrefix));
        assert_eq!(c("::/0").range(), Range::full(Family::V6));
    }

    #[test]
    fn catch_all_is_the_complement_of_more_specific_networks() {
        let own = Ownership::build(vec![
            (c("0.0.0.0/0"), "up"),
            (c("10.10.0.0/24"), "mn"),
            (c("10.20.0.0/22"), "lg"),
        ]);
        let up: Vec<String> = own.ranges_of(&"up").iter().map(|r| r.to_string()).collect();
        assert_eq!(
            up,
            vec![
                "0.0.0.0-10.9.255.255",
                "10.10.1.0-10.19.255.255",
                "10.20.4.0-255.255.255.255"
            ]
        );
        assert_eq!(
            own.owner_of(&"10.20.3.7".parse().expect("addr")),
            Some(&"lg")
        );
        assert_eq!(
            own.owner_of(&"10.20.4.7".parse().expect("addr")),
            Some(&"up")
        );
    }

    #[test]
    fn nested_three_levels() {
        let own = Ownership::build(vec![
            (c("10.0.0.0/8"), "a"),
            (c("10.1.0.0/16"), "b"),
            (c("10.1.2.0/24"), "a"),
        ]);
        assert_eq!(own.owner_of(&"10.1.2.9".parse().expect("addr")), Some(&"a"));
        assert_eq!(own.owner_of(&"10.1.3.9".parse().expect("addr")), Some(&"b"));
        assert_eq!(own.ranges_of(&"b").len(), 2);
    }

    #[test]
    fn range_display_picks_the_shortest_literal() {
        assert_eq!(c("10.0.0.7/32").range().to_string(), "10.0.0.7");
        assert_eq!(c("fd00:10::/64").range().to_string(), "fd00:10::/64");
        assert_eq!(c("0.0.0.0/0").range().to_string(), "0.0.0.0/0");
    }
}
