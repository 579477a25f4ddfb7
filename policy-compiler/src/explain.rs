//! `explain`: why the first packet of a new connection is accepted or dropped on one gateway,
//! answered from the policy model. It mirrors compile.rs step by step, because a property test
//! compares its verdict with the kernel's evaluation of the compiled ruleset:
//!
//! 1. prerouting anti-spoof: the source address must lie in the ingress interface's zone (most
//!    specific network wins); IPv6 link-local (fe80::/10) sources pass on every interface, and
//!    `::` passes for neighbour solicitation and MLD reports. A MAC pin cannot be seen from an
//!    address-only query: a pinned host's address is assumed to come with its MAC (a note says
//!    so). An interface in no zone drops the packet ("unknown interface").
//! 2. forward: the ingress and egress interfaces pick the zone pair; intra-zone traffic follows
//!    `intra_zone`; otherwise the active flows of the pair are tried in id order and the first
//!    that covers source, destination and port decides (flowmap.rs: the first id owns overlaps).
//!    Zone ends cover every address of their families (the interface binds the zone).
//! 3. input (`to = gateway`) and output (`from = gateway`): neighbour discovery, MLD and declared
//!    DHCP first, then the flows of that zone to or from the gateway.
//!
//! Expired flows are not compiled, so they never decide; they are shown as near misses. Without
//! `--iif`/`--oif` the first interface (by name) of the address's zone is assumed.

use crate::messages::{Arg, Lang, Text};
use crate::model::{Endpoint, Flow, Gateway, IntraZone, Policy, GATEWAY};
use crate::net::{Family, Range};
use crate::ports::{icmp_name, icmpv6_name, PortSpec};
use crate::t;
use serde::Serialize;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use thiserror::Error;

/// A source or destination as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Target {
    Address(IpAddr),
    Host(String),
    Gateway,
}

impl Target {
    /// `gateway`, a literal address, or else a host name (checked against the policy later).
    pub fn parse(s: &str) -> Target {
        if s == GATEWAY {
            Target::Gateway
        } else if let Ok(a) = s.parse::<IpAddr>() {
            Target::Address(a)
        } else {
            Target::Host(s.to_string())
        }
    }
}

/// The first packet's protocol and destination port (or ICMP type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Packet {
    /// IP protocol number: 6 tcp, 17 udp, 132 sctp, 1 icmp, 58 icmpv6.
    pub l4proto: u8,
    /// Destination port, or ICMP type.
    pub port: u16,
}

impl Packet {
    /// `tcp/443`, `udp/53`, `sctp/2905`, `icmp/echo-request`, `icmpv6/echo-request`, or a
    /// numeric ICMP type (`icmp/8`).
    pub fn parse(s: &str) -> Result<Packet, String> {
        let (proto, rest) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not PROTO/PORT (e.g. tcp/443, icmp/echo-request)"))?;
        let l4proto = match proto {
            "tcp" => 6,
            "udp" => 17,
            "sctp" => 132,
            "icmp" => 1,
            "icmpv6" => 58,
            other => {
                return Err(format!(
                    "unknown protocol {other:?}: use tcp, udp, sctp, icmp or icmpv6"
                ))
            }
        };
        let port = if l4proto == 1 || l4proto == 58 {
            let v6 = l4proto == 58;
            match rest.parse::<u8>() {
                Ok(t) => u16::from(t),
                Err(_) => {
                    let spec = crate::ports::parse_port_spec(s).map_err(|_| {
                        format!(
                            "unknown {} type {rest:?}",
                            if v6 { "ICMPv6" } else { "ICMP" }
                        )
                    })?;
                    match spec {
                        PortSpec::Icmp { lo, .. } | PortSpec::Icmpv6 { lo, .. } => u16::from(lo),
                        PortSpec::Ports { .. } => return Err(format!("{s:?} is not an ICMP type")),
                    }
                }
            }
        } else {
            if rest.is_empty() || rest.len() > 5 || !rest.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{rest:?} is not a port number (0-65535)"));
            }
            rest.parse::<u16>()
                .map_err(|_| format!("{rest:?} is not a port number (0-65535)"))?
        };
        Ok(Packet { l4proto, port })
    }

    /// Address family the protocol forces (ICMP is IPv4, ICMPv6 is IPv6).
    fn family(self) -> Option<Family> {
        match self.l4proto {
            1 => Some(Family::V4),
            58 => Some(Family::V6),
            _ => None,
        }
    }

    fn icmpv6_type(self, fam: Family, types: &[u16]) -> bool {
        fam == Family::V6 && self.l4proto == 58 && types.contains(&self.port)
    }
}

impl std::fmt::Display for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.l4proto {
            6 => write!(f, "tcp/{}", self.port),
            17 => write!(f, "udp/{}", self.port),
            132 => write!(f, "sctp/{}", self.port),
            1 => match u8::try_from(self.port).ok().and_then(icmp_name) {
                Some(n) => write!(f, "icmp/{n}"),
                None => write!(f, "icmp/{}", self.port),
            },
            _ => match u8::try_from(self.port).ok().and_then(icmpv6_name) {
                Some(n) => write!(f, "icmpv6/{n}"),
                None => write!(f, "icmpv6/{}", self.port),
            },
        }
    }
}

/// One question: would a new connection from `src` to `dst` pass?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub src: Target,
    pub dst: Target,
    /// Ingress interface; default: the first interface of the source address's zone.
    pub iif: Option<String>,
    /// Egress interface; default: the first interface of the destination address's zone.
    pub oif: Option<String>,
    /// None: list which ports pass (verdict `partial` when some do).
    pub packet: Option<Packet>,
    /// Source port. Only DHCP rules look at it (server 67 -> client 68 in, 68 -> 67 out); None
    /// means an ordinary (ephemeral) port.
    pub sport: Option<u16>,
}

impl Query {
    pub fn new(src: Target, dst: Target, packet: Option<Packet>) -> Query {
        Query {
            src,
            dst,
            iif: None,
            oif: None,
            packet,
            sport: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExplainError {
    #[error(transparent)]
    UnknownGateway(#[from] crate::model::UnknownGateway),
    #[error("{name:?} is neither an address nor a host of the policy{hint}")]
    UnknownHost { name: String, hint: String },
    #[error("{0}")]
    Family(String),
    #[error("source and destination are both the gateway: loopback traffic is always allowed")]
    GatewayToGateway,
    #[error("{0}")]
    Usage(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    /// Through the gateway, between two of its interfaces.
    Forward,
    /// To the gateway itself.
    Input,
    /// From the gateway itself.
    Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accept,
    Drop,
    /// Dropped by the anti-spoof check, before connection tracking.
    Spoofed,
    /// Only for queries without PROTO/PORT: the ports in `permitted` pass, all others drop.
    Partial,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Drop => "drop",
            Verdict::Spoofed => "spoofed",
            Verdict::Partial => "partial",
        }
    }
}

/// What decided the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    /// A flow permits it (`flow` has the details).
    Flow { id: String },
    /// Between two interfaces of one zone, with `intra_zone = "accept"`.
    IntraZone { zone: String },
    /// Neighbour discovery, MLD or declared DHCP, which the gateway always passes.
    Essential { what: Text },
    /// The loopback interface.
    Loopback,
    /// DHCP discovery from 0.0.0.0, or broadcast/multicast to the gateway: counted, not logged.
    Broadcast { what: Text },
    /// No active flow of the zone pair covers the packet.
    NoFlow { from: String, to: String },
    /// The source address does not belong to the ingress interface's zone.
    Spoofed {
        interface: Option<String>,
        interface_zone: Option<String>,
        address_zone: Option<String>,
    },
    /// The interface is in no zone of this gateway.
    UnknownInterface { interface: String },
    /// The address's zone has no interface on this gateway.
    NotOnGateway { zone: String, side: String },
    /// The address lies in no zone.
    NoZone { side: String },
    /// Some ports pass (see `permitted`).
    Ports,
}

/// A flow as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowRef {
    pub id: String,
    /// `zones.toml:123`
    pub defined_at: String,
    pub from: String,
    pub to: String,
    pub ports: Vec<String>,
    pub purpose: Option<String>,
    pub approved_by: Option<String>,
    pub expires: Option<String>,
    pub expired: bool,
}

impl FlowRef {
    pub fn of(p: &Policy, f: &Flow) -> FlowRef {
        FlowRef {
            id: f.id.clone(),
            defined_at: p.locate(f.at.flow),
            from: f.from.name().to_string(),
            to: f.to.name().to_string(),
            ports: f.specs.iter().map(|s| s.to_string()).collect(),
            purpose: f.purpose.clone(),
            approved_by: f.approved_by.clone(),
            expires: f.expires.map(|d| d.to_string()),
            expired: f.expired,
        }
    }
}

/// One end of the connection as explain resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct End {
    /// None for the gateway itself.
    pub address: Option<IpAddr>,
    /// The host that owns the address, if any.
    pub host: Option<String>,
    /// The zone (by address for the source, by interface where one is given), or "gateway".
    pub zone: Option<String>,
    pub zone_label: Option<String>,
    pub interface: Option<String>,
}

/// Ports a flow lets through for a query without PROTO/PORT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Permit {
    pub flow: FlowRef,
    pub ports: Vec<String>,
}

/// A flow that almost permits the query, and what differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Near {
    pub flow: FlowRef,
    pub differences: Vec<Text>,
    /// It permits the opposite direction.
    pub reverse: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub gateway: String,
    pub hook: Hook,
    pub source: End,
    pub destination: End,
    /// The packet asked about (`tcp/443`), if any.
    pub packet: Option<String>,
    pub verdict: Verdict,
    pub reason: Reason,
    /// The deciding flow.
    pub flow: Option<FlowRef>,
    pub permitted: Vec<Permit>,
    pub nearest: Vec<Near>,
    pub notes: Vec<Text>,
}

/// How many near misses are shown.
pub const NEAREST: usize = 5;

/// Answers a query against the policy for one gateway. Pure; mirrors compile.rs (see above).
pub fn explain(p: &Policy, gateway: &str, q: &Query) -> Result<Explanation, ExplainError> {
    let gw = p.gateway(gateway)?;
    let (src, dst) = resolve(p, q)?;
    if let Some(s) = src.filter(|s| q.iif.is_none() && (is_link_local(s) || s.is_unspecified())) {
        // Valid on every interface, so its zone cannot tell the interface.
        return Err(ExplainError::Usage(format!(
            "{s} is a link-local or unspecified source: name the ingress interface with --iif"
        )));
    }
    let mut x = Explainer {
        p,
        gw,
        q,
        notes: Vec::new(),
    };
    match (src, dst) {
        (None, None) => Err(ExplainError::GatewayToGateway),
        (None, Some(d)) => {
            if q.iif.is_some() {
                return Err(ExplainError::Usage(
                    "--iif makes no sense for traffic from the gateway itself (use --oif)".into(),
                ));
            }
            Ok(x.output(d))
        }
        (Some(s), None) => {
            if q.oif.is_some() {
                return Err(ExplainError::Usage(
                    "--oif makes no sense for traffic to the gateway itself (use --iif)".into(),
                ));
            }
            Ok(x.input(s, None))
        }
        // Broadcast and multicast are never forwarded: they are delivered to the gateway.
        (Some(s), Some(d)) if is_local_multicast(&d) => {
            if q.oif.is_some() {
                return Err(ExplainError::Usage(format!(
                    "{d} is broadcast or multicast, delivered to the gateway itself: --oif does not apply"
                )));
            }
            Ok(x.input(s, Some(d)))
        }
        (Some(s), Some(d)) => Ok(x.forward(s, d)),
    }
}

/// Picks the addresses the query is about: one family for both ends (IPv4 first).
fn resolve(p: &Policy, q: &Query) -> Result<(Option<IpAddr>, Option<IpAddr>), ExplainError> {
    let mut fams: Vec<Family> = vec![Family::V4, Family::V6];
    let mut why = Vec::new();
    for t in [&q.src, &q.dst] {
        match t {
            Target::Address(a) => {
                fams.retain(|f| *f == Family::of(a));
                why.push(format!("{a}"));
            }
            Target::Host(h) => {
                let Some(host) = p.hosts.get(h) else {
                    let close: Vec<&str> = p
                        .hosts
                        .keys()
                        .filter(|k| k.contains(h.as_str()) || h.contains(k.as_str()))
                        .map(String::as_str)
                        .take(5)
                        .collect();
                    return Err(ExplainError::UnknownHost {
                        name: h.clone(),
                        hint: if close.is_empty() {
                            String::new()
                        } else {
                            format!(" (did you mean {}?)", close.join(", "))
                        },
                    });
                };
                let has: Vec<Family> = host.addresses.iter().map(Family::of).collect();
                fams.retain(|f| has.contains(f));
                why.push(format!("host {h}"));
            }
            Target::Gateway => {}
        }
    }
    if let Some(f) = q.packet.and_then(|pk| pk.family()) {
        fams.retain(|x| *x == f);
        why.push(
            if f == Family::V4 {
                "icmp (IPv4)"
            } else {
                "icmpv6 (IPv6)"
            }
            .to_string(),
        );
    }
    let Some(fam) = fams.first().copied() else {
        return Err(ExplainError::Family(format!(
            "{} share no address family",
            why.join(", ")
        )));
    };
    let pick = |t: &Target| -> Option<IpAddr> {
        match t {
            Target::Address(a) => Some(*a),
            Target::Host(h) => p
                .hosts
                .get(h)
                .and_then(|h| h.addresses.iter().find(|a| Family::of(a) == fam).copied()),
            Target::Gateway => None,
        }
    };
    Ok((pick(&q.src), pick(&q.dst)))
}

fn in_ranges(ranges: &[Range], a: &IpAddr) -> bool {
    ranges.iter().any(|r| r.contains_addr(a))
}

/// Limited broadcast and multicast: the input hook's "never management" drop covers them.
fn is_local_multicast(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_broadcast() || v4.is_multicast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}

fn is_link_local(a: &IpAddr) -> bool {
    matches!(a, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// Does a flow's port spec cover the packet? ICMP specs only for IPv4, ICMPv6 only for IPv6,
/// as the compiled maps hold them.
fn spec_matches(s: &PortSpec, fam: Family, pk: Packet) -> bool {
    match *s {
        PortSpec::Ports { proto, lo, hi } => {
            proto.number() == pk.l4proto && lo <= pk.port && pk.port <= hi
        }
        PortSpec::Icmp { lo, hi } => {
            fam == Family::V4
                && pk.l4proto == 1
                && u16::from(lo) <= pk.port
                && pk.port <= u16::from(hi)
        }
        PortSpec::Icmpv6 { lo, hi } => {
            fam == Family::V6
                && pk.l4proto == 58
                && u16::from(lo) <= pk.port
                && pk.port <= u16::from(hi)
        }
    }
}

/// (protocol key, low, high) of a spec usable in family `fam`.
fn spec_span(s: &PortSpec, fam: Family) -> Option<(u8, u32, u32)> {
    match *s {
        PortSpec::Ports { proto, lo, hi } => Some((proto.number(), u32::from(lo), u32::from(hi))),
        PortSpec::Icmp { lo, hi } if fam == Family::V4 => Some((1, u32::from(lo), u32::from(hi))),
        PortSpec::Icmpv6 { lo, hi } if fam == Family::V6 => {
            Some((58, u32::from(lo), u32::from(hi)))
        }
        _ => None,
    }
}

fn span_text(key: u8, lo: u32, hi: u32) -> String {
    let proto = match key {
        6 => "tcp",
        17 => "udp",
        132 => "sctp",
        1 => "icmp",
        _ => "icmpv6",
    };
    if key == 1 || key == 58 {
        if lo == 0 && hi == 255 {
            return proto.to_string();
        }
        if lo == hi {
            let name =
                u8::try_from(lo)
                    .ok()
                    .and_then(if key == 1 { icmp_name } else { icmpv6_name });
            return match name {
                Some(n) => format!("{proto}/{n}"),
                None => format!("{proto}/{lo}"),
            };
        }
        return format!("{proto} types {lo}-{hi}");
    }
    if lo == hi {
        format!("{proto}/{lo}")
    } else {
        format!("{proto}/{lo}-{hi}")
    }
}

/// `a` minus every interval in `taken`, per protocol key.
fn subtract(a: (u8, u32, u32), taken: &[(u8, u32, u32)]) -> Vec<(u8, u32, u32)> {
    let mut pieces = vec![a];
    for &(k, lo, hi) in taken {
        let mut next = Vec::new();
        for (pk, plo, phi) in pieces {
            if pk != k || hi < plo || lo > phi {
                next.push((pk, plo, phi));
                continue;
            }
            if plo < lo {
                next.push((pk, plo, lo - 1));
            }
            if phi > hi {
                next.push((pk, hi + 1, phi));
            }
        }
        pieces = next;
    }
    pieces
}

struct Explainer<'a> {
    p: &'a Policy,
    gw: &'a Gateway,
    q: &'a Query,
    notes: Vec<Text>,
}

/// Which flows a chain holds, and how a packet is matched against them.
#[derive(Clone, Copy)]
enum Chain<'z> {
    Pair(&'z str, &'z str),
    In(&'z str),
    Out(&'z str),
}

impl<'a> Explainer<'a> {
    fn end(&self, addr: Option<IpAddr>, zone: Option<&str>, iface: Option<&str>) -> End {
        let host = addr.and_then(|a| {
            self.p
                .hosts
                .values()
                .find(|h| h.addresses.contains(&a))
                .map(|h| h.name.clone())
        });
        End {
            address: addr,
            host,
            zone: zone.map(str::to_string),
            zone_label: zone
                .and_then(|z| self.p.zones.get(z))
                .and_then(|z| z.display_name.clone()),
            interface: iface.map(str::to_string),
        }
    }

    /// The gateway as an end; the interface is shown on the other end.
    fn gateway_end(&self) -> End {
        End {
            address: None,
            host: None,
            zone: Some(GATEWAY.to_string()),
            zone_label: None,
            interface: None,
        }
    }

    fn done(
        &mut self,
        hook: Hook,
        source: End,
        destination: End,
        verdict: Verdict,
        reason: Reason,
        flow: Option<&Flow>,
    ) -> Explanation {
        Explanation {
            gateway: self.gw.name.clone(),
            hook,
            source,
            destination,
            packet: self.q.packet.map(|p| p.to_string()),
            verdict,
            reason,
            flow: flow.map(|f| FlowRef::of(self.p, f)),
            permitted: Vec::new(),
            nearest: Vec::new(),
            notes: std::mem::take(&mut self.notes),
        }
    }

    /// The interface a packet uses on one side: the given one, or the first interface of the
    /// address's zone. Err is the verdict when there is none.
    fn interface(
        &self,
        given: &Option<String>,
        addr: &IpAddr,
        side: &str,
    ) -> Result<String, (Verdict, Reason)> {
        if let Some(i) = given {
            return Ok(i.clone());
        }
        let fail = if side == "source" {
            Verdict::Spoofed
        } else {
            Verdict::Drop
        };
        let Some(zone) = self.p.ownership.owner_of(addr) else {
            return Err((fail, Reason::NoZone { side: side.into() }));
        };
        match self.gw.interfaces_of(zone).first() {
            Some(i) => Ok(i.to_string()),
            None => Err((
                fail,
                Reason::NotOnGateway {
                    zone: zone.clone(),
                    side: side.into(),
                },
            )),
        }
    }

    /// The prerouting anti-spoof check of compile.rs. Ok(None): passes; Ok(Some(zone)): passes
    /// and the interface is in `zone`.
    fn antispoof(
        &mut self,
        iif: &str,
        src: &IpAddr,
        dst: Option<&IpAddr>,
    ) -> Result<Option<String>, (Verdict, Reason)> {
        if iif == "lo" {
            return Ok(None);
        }
        let Some(zone) = self.gw.zone_of(iif) else {
            return Err((
                Verdict::Drop,
                Reason::UnknownInterface {
                    interface: iif.to_string(),
                },
            ));
        };
        let fam = Family::of(src);
        // Hosts looking for a DHCP server: not spoofing, never forwarded, counted only.
        if *src == IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            && dst == Some(&IpAddr::V4(Ipv4Addr::BROADCAST))
            && self
                .q
                .packet
                .is_some_and(|pk| pk.l4proto == 17 && pk.port == 67)
        {
            return Err((
                Verdict::Drop,
                Reason::Broadcast {
                    what: t!(EXPLAIN_WHAT_DHCP_DISCOVERY),
                },
            ));
        }
        if is_link_local(src) {
            self.notes
                .push(t!(EXPLAIN_NOTE_LINK_LOCAL, src = src.to_string()));
            return Ok(Some(zone.to_string()));
        }
        if *src == IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            && self
                .q
                .packet
                .is_some_and(|pk| pk.icmpv6_type(fam, &[135, 131, 143]))
        {
            self.notes.push(t!(EXPLAIN_NOTE_UNSPECIFIED));
            return Ok(Some(zone.to_string()));
        }
        let pinned = self.p.hosts.values().find(|h| {
            h.mac.is_some()
                && h.addresses.contains(src)
                && self.gw.interfaces_of(&h.zone).contains(&iif)
        });
        if let Some(h) = pinned {
            self.notes.push(t!(
                EXPLAIN_NOTE_MAC_PIN,
                src = src.to_string(),
                host = &h.name,
                mac = h.mac.as_deref().unwrap_or_default(),
                iif = iif
            ));
        }
        let owner = self.p.ownership.owner_of(src);
        if owner.map(String::as_str) == Some(zone) {
            Ok(Some(zone.to_string()))
        } else {
            Err((
                Verdict::Spoofed,
                Reason::Spoofed {
                    interface: Some(iif.to_string()),
                    interface_zone: Some(zone.to_string()),
                    address_zone: owner.cloned(),
                },
            ))
        }
    }

    fn chain_flows(&self, c: Chain<'_>, active: bool) -> Vec<&'a Flow> {
        self.p
            .flows
            .iter()
            .filter(|f| !active || !f.expired)
            .filter(|f| match c {
                Chain::Pair(a, b) => {
                    f.from_zone.as_deref() == Some(a) && f.to_zone.as_deref() == Some(b)
                }
                Chain::In(z) => f.to == Endpoint::Gateway && f.from_zone.as_deref() == Some(z),
                Chain::Out(z) => f.from == Endpoint::Gateway && f.to_zone.as_deref() == Some(z),
            })
            .collect()
    }

    /// Source and destination checks of a flow for a chain (input maps have no daddr, output
    /// maps no saddr).
    fn ends_match(&self, f: &Flow, src: Option<&IpAddr>, dst: Option<&IpAddr>) -> (bool, bool) {
        let s = match (&f.from, src) {
            (Endpoint::Gateway, _) | (_, None) => true,
            (e, Some(a)) => in_ranges(&self.p.endpoint_ranges(e), a),
        };
        let d = match (&f.to, dst) {
            (Endpoint::Gateway, _) | (_, None) => true,
            (e, Some(a)) => in_ranges(&self.p.endpoint_ranges(e), a),
        };
        (s, d)
    }

    fn fam(&self, src: Option<&IpAddr>, dst: Option<&IpAddr>) -> Family {
        src.or(dst).map(Family::of).unwrap_or(Family::V4)
    }

    fn port_match(f: &Flow, fam: Family, pk: Option<Packet>) -> bool {
        match pk {
            Some(pk) => f.specs.iter().any(|s| spec_matches(s, fam, pk)),
            None => f.specs.iter().any(|s| spec_span(s, fam).is_some()),
        }
    }

    fn describe(&self, e: &Endpoint) -> Text {
        match e {
            Endpoint::Zone(z) => t!(PHRASE_ZONE, zone = z),
            Endpoint::Gateway => t!(PHRASE_THE_GATEWAY),
            Endpoint::Host(_) | Endpoint::Group(_) => {
                let mut addrs: Vec<Arg> = self
                    .p
                    .endpoint_hosts(e)
                    .iter()
                    .flat_map(|h| h.addresses.iter().map(|a| Arg::Plain(a.to_string())))
                    .collect();
                let more = addrs.len().saturating_sub(4);
                addrs.truncate(4);
                if more > 0 {
                    addrs.push(Arg::from(t!(EXPLAIN_MORE, n = more)));
                }
                let addrs = Arg::Join(addrs, ", ");
                if matches!(e, Endpoint::Host(_)) {
                    t!(EXPLAIN_HOST_ADDRS, name = e.name(), addrs = addrs)
                } else {
                    t!(EXPLAIN_GROUP_ADDRS, name = e.name(), addrs = addrs)
                }
            }
        }
    }

    /// The decision inside one chain: the first active flow (id order) that covers the packet.
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &mut self,
        hook: Hook,
        chain: Chain<'_>,
        from: &str,
        to: &str,
        src: Option<&IpAddr>,
        dst: Option<&IpAddr>,
        source: End,
        destination: End,
    ) -> Explanation {
        let fam = self.fam(src, dst);
        let flows = self.chain_flows(chain, true);
        let applicable: Vec<&Flow> = flows
            .iter()
            .copied()
            .filter(|f| {
                let (s, d) = self.ends_match(f, src, dst);
                s && d
            })
            .collect();
        match self.q.packet {
            Some(pk) => {
                if let Some(f) = applicable
                    .iter()
                    .find(|f| Self::port_match(f, fam, Some(pk)))
                {
                    let later: Vec<&str> = applicable
                        .iter()
                        .filter(|g| g.id > f.id && Self::port_match(g, fam, Some(pk)))
                        .map(|g| g.id.as_str())
                        .collect();
                    if !later.is_empty() {
                        let flows = later.join(", ");
                        self.notes.push(if later.len() == 1 {
                            t!(EXPLAIN_NOTE_OVERLAP_ONE, flows = flows)
                        } else {
                            t!(EXPLAIN_NOTE_OVERLAP_MANY, flows = flows)
                        });
                    }
                    let id = f.id.clone();
                    return self.done(
                        hook,
                        source,
                        destination,
                        Verdict::Accept,
                        Reason::Flow { id },
                        Some(f),
                    );
                }
                let nearest = self.nearest(chain, src, dst, fam);
                let mut x = self.done(
                    hook,
                    source,
                    destination,
                    Verdict::Drop,
                    Reason::NoFlow {
                        from: from.into(),
                        to: to.into(),
                    },
                    None,
                );
                x.nearest = nearest;
                x
            }
            None => {
                let mut taken: Vec<(u8, u32, u32)> = Vec::new();
                let mut permitted = Vec::new();
                for f in &applicable {
                    let mut mine = Vec::new();
                    for s in &f.specs {
                        if let Some(sp) = spec_span(s, fam) {
                            mine.extend(subtract(sp, &taken));
                        }
                    }
                    taken.extend(f.specs.iter().filter_map(|s| spec_span(s, fam)));
                    if !mine.is_empty() {
                        mine.sort();
                        permitted.push(Permit {
                            flow: FlowRef::of(self.p, f),
                            ports: mine.iter().map(|&(k, l, h)| span_text(k, l, h)).collect(),
                        });
                    }
                }
                if permitted.is_empty() {
                    let nearest = self.nearest(chain, src, dst, fam);
                    let mut x = self.done(
                        hook,
                        source,
                        destination,
                        Verdict::Drop,
                        Reason::NoFlow {
                            from: from.into(),
                            to: to.into(),
                        },
                        None,
                    );
                    x.nearest = nearest;
                    x
                } else {
                    let mut x = self.done(
                        hook,
                        source,
                        destination,
                        Verdict::Partial,
                        Reason::Ports,
                        None,
                    );
                    x.permitted = permitted;
                    x
                }
            }
        }
    }

    /// Flows that almost permit the query: same chain with another port or host, expired ones
    /// that would match, and flows permitting the opposite direction.
    fn nearest(
        &self,
        chain: Chain<'_>,
        src: Option<&IpAddr>,
        dst: Option<&IpAddr>,
        fam: Family,
    ) -> Vec<Near> {
        let pk = self.q.packet;
        let mut out: Vec<(usize, Near)> = Vec::new();
        for f in self.chain_flows(chain, false) {
            let (s, d) = self.ends_match(f, src, dst);
            let port = Self::port_match(f, fam, pk);
            let mut differences = Vec::new();
            if !s {
                if let Some(a) = src {
                    differences.push(t!(
                        EXPLAIN_DIFF_SOURCE,
                        addr = a.to_string(),
                        end = self.describe(&f.from)
                    ));
                }
            }
            if !d {
                if let Some(a) = dst {
                    differences.push(t!(
                        EXPLAIN_DIFF_DESTINATION,
                        addr = a.to_string(),
                        end = self.describe(&f.to)
                    ));
                }
            }
            if !port {
                let specs: Vec<String> = f.specs.iter().map(|s| s.to_string()).collect();
                differences.push(match pk {
                    Some(pk) => t!(
                        EXPLAIN_DIFF_PORTS,
                        ports = specs.join(", "),
                        packet = pk.to_string()
                    ),
                    None => t!(EXPLAIN_DIFF_ONLY_PORTS, ports = specs.join(", ")),
                });
            }
            let misses = differences.len();
            if f.expired {
                differences.push(t!(
                    EXPLAIN_DIFF_EXPIRED,
                    date = f.expires.map(|d| d.to_string()).unwrap_or_default()
                ));
            }
            if misses < 3 && !differences.is_empty() {
                out.push((
                    misses,
                    Near {
                        flow: FlowRef::of(self.p, f),
                        differences,
                        reverse: false,
                    },
                ));
            }
        }
        let reverse = match chain {
            Chain::Pair(a, b) => Some(Chain::Pair(b, a)),
            Chain::In(z) => Some(Chain::Out(z)),
            Chain::Out(z) => Some(Chain::In(z)),
        };
        if let Some(rc) = reverse {
            for f in self.chain_flows(rc, true) {
                let (s, d) = self.ends_match(f, dst, src);
                if s && d && Self::port_match(f, fam, pk) {
                    out.push((
                        1,
                        Near {
                            flow: FlowRef::of(self.p, f),
                            differences: vec![t!(
                                EXPLAIN_DIFF_REVERSE,
                                from = f.from.name(),
                                to = f.to.name()
                            )],
                            reverse: true,
                        },
                    ));
                }
            }
        }
        out.sort_by(|a, b| (a.0, a.1.reverse, &a.1.flow.id).cmp(&(b.0, b.1.reverse, &b.1.flow.id)));
        out.into_iter().take(NEAREST).map(|(_, n)| n).collect()
    }

    fn forward(&mut self, src: IpAddr, dst: IpAddr) -> Explanation {
        let src_zone = self.p.ownership.owner_of(&src).cloned();
        let dst_zone = self.p.ownership.owner_of(&dst).cloned();
        let iif = match self.interface(&self.q.iif, &src, "source") {
            Ok(i) => i,
            Err((v, r)) => {
                let s = self.end(Some(src), src_zone.as_deref(), None);
                let d = self.end(Some(dst), dst_zone.as_deref(), None);
                return self.done(Hook::Forward, s, d, v, r, None);
            }
        };
        let iz = match self.antispoof(&iif, &src, Some(&dst)) {
            Ok(z) => z,
            Err((v, r)) => {
                let s = self.end(Some(src), src_zone.as_deref(), Some(&iif));
                let d = self.end(Some(dst), dst_zone.as_deref(), None);
                return self.done(Hook::Forward, s, d, v, r, None);
            }
        };
        let source = self.end(Some(src), iz.as_deref().or(src_zone.as_deref()), Some(&iif));
        let oif = match self.interface(&self.q.oif, &dst, "destination") {
            Ok(i) => i,
            Err((v, r)) => {
                let d = self.end(Some(dst), dst_zone.as_deref(), None);
                return self.done(Hook::Forward, source, d, v, r, None);
            }
        };
        let oz = self.gw.zone_of(&oif).map(str::to_string);
        let destination = self.end(Some(dst), oz.as_deref().or(dst_zone.as_deref()), Some(&oif));
        let (Some(iz), Some(oz)) = (iz, oz) else {
            // lo, or an egress interface in no zone: forward-unknown-interface.
            let bad = if self.gw.zone_of(&iif).is_none() {
                iif
            } else {
                oif
            };
            return self.done(
                Hook::Forward,
                source,
                destination,
                Verdict::Drop,
                Reason::UnknownInterface { interface: bad },
                None,
            );
        };
        if let Some(z) = dst_zone.as_deref().filter(|z| *z != oz) {
            self.notes.push(t!(
                EXPLAIN_NOTE_OTHER_ZONE,
                dst = dst.to_string(),
                zone = z,
                oif = &oif,
                oz = &oz
            ));
        }
        if iz == oz && self.p.intra_zone == IntraZone::Accept {
            return self.done(
                Hook::Forward,
                source,
                destination,
                Verdict::Accept,
                Reason::IntraZone { zone: iz },
                None,
            );
        }
        self.decide(
            Hook::Forward,
            Chain::Pair(&iz, &oz),
            &iz,
            &oz,
            Some(&src),
            Some(&dst),
            source,
            destination,
        )
    }

    /// To the gateway itself; `daddr` is a broadcast or multicast destination, if that is what
    /// the query named.
    fn input(&mut self, src: IpAddr, daddr: Option<IpAddr>) -> Explanation {
        let src_zone = self.p.ownership.owner_of(&src).cloned();
        let iif = match self.interface(&self.q.iif, &src, "source") {
            Ok(i) => i,
            Err((v, r)) => {
                let s = self.end(Some(src), src_zone.as_deref(), None);
                let d = self.gateway_end();
                return self.done(Hook::Input, s, d, v, r, None);
            }
        };
        let dst_end = match daddr {
            Some(d) => End {
                address: Some(d),
                ..self.gateway_end()
            },
            None => self.gateway_end(),
        };
        let iz = match self.antispoof(&iif, &src, daddr.as_ref()) {
            Ok(z) => z,
            Err((v, r)) => {
                let s = self.end(Some(src), src_zone.as_deref(), Some(&iif));
                return self.done(Hook::Input, s, dst_end, v, r, None);
            }
        };
        let source = self.end(Some(src), iz.as_deref().or(src_zone.as_deref()), Some(&iif));
        let Some(iz) = iz else {
            return self.done(
                Hook::Input,
                source,
                dst_end,
                Verdict::Accept,
                Reason::Loopback,
                None,
            );
        };
        let fam = Family::of(&src);
        if let Some(pk) = self.q.packet {
            let what = if pk.icmpv6_type(fam, &[135, 136, 133]) {
                Some(t!(EXPLAIN_WHAT_ND))
            } else if pk.icmpv6_type(fam, &[130]) && is_link_local(&src) {
                Some(t!(EXPLAIN_WHAT_MLD_QUERY))
            } else if self.gw.dhcp_client.contains(&iif)
                && pk.l4proto == 17
                && pk.port == 68
                && self.q.sport == Some(67)
            {
                Some(t!(EXPLAIN_WHAT_DHCP_REPLY))
            } else {
                None
            };
            if let Some(what) = what {
                return self.done(
                    Hook::Input,
                    source,
                    dst_end,
                    Verdict::Accept,
                    Reason::Essential { what },
                    None,
                );
            }
        }
        if let Some(d) = daddr {
            return self.done(
                Hook::Input,
                source,
                dst_end,
                Verdict::Drop,
                Reason::Broadcast {
                    what: t!(EXPLAIN_WHAT_BROADCAST, addr = d.to_string()),
                },
                None,
            );
        }
        self.decide(
            Hook::Input,
            Chain::In(&iz),
            &iz,
            GATEWAY,
            Some(&src),
            None,
            source,
            dst_end,
        )
    }

    fn output(&mut self, dst: IpAddr) -> Explanation {
        let dst_zone = self.p.ownership.owner_of(&dst).cloned();
        let oif = match self.interface(&self.q.oif, &dst, "destination") {
            Ok(i) => i,
            Err((v, r)) => {
                let s = self.gateway_end();
                let d = self.end(Some(dst), dst_zone.as_deref(), None);
                return self.done(Hook::Output, s, d, v, r, None);
            }
        };
        let source = self.gateway_end();
        if oif == "lo" {
            let d = self.end(Some(dst), dst_zone.as_deref(), Some(&oif));
            return self.done(
                Hook::Output,
                source,
                d,
                Verdict::Accept,
                Reason::Loopback,
                None,
            );
        }
        let fam = Family::of(&dst);
        let oz = self.gw.zone_of(&oif).map(str::to_string);
        let destination = self.end(Some(dst), oz.as_deref().or(dst_zone.as_deref()), Some(&oif));
        if let Some(pk) = self.q.packet {
            let what = if pk.icmpv6_type(fam, &[135, 136, 133, 134]) {
                Some(t!(EXPLAIN_WHAT_ND))
            } else if pk.icmpv6_type(fam, &[131, 143, 132]) {
                Some(t!(EXPLAIN_WHAT_MLD_REPORT))
            } else if self.gw.dhcp_client.contains(&oif)
                && pk.l4proto == 17
                && pk.port == 67
                && self.q.sport == Some(68)
            {
                Some(t!(EXPLAIN_WHAT_DHCP_REQUEST))
            } else {
                None
            };
            if let Some(what) = what {
                return self.done(
                    Hook::Output,
                    source,
                    destination,
                    Verdict::Accept,
                    Reason::Essential { what },
                    None,
                );
            }
        }
        let Some(oz) = oz else {
            return self.done(
                Hook::Output,
                source,
                destination,
                Verdict::Drop,
                Reason::UnknownInterface { interface: oif },
                None,
            );
        };
        if let Some(z) = dst_zone.as_deref().filter(|z| *z != oz) {
            self.notes.push(t!(
                EXPLAIN_NOTE_OTHER_ZONE,
                dst = dst.to_string(),
                zone = z,
                oif = &oif,
                oz = &oz
            ));
        }
        self.decide(
            Hook::Output,
            Chain::Out(&oz),
            GATEWAY,
            &oz,
            None,
            Some(&dst),
            source,
            destination,
        )
    }
}

impl Explanation {
    /// The human form `zonegate explain` prints.
    pub fn render_text(&self) -> String {
        self.render_text_in(Lang::En)
    }

    /// [`Self::render_text`] in `lang`.
    pub fn render_text_in(&self, lang: Lang) -> String {
        let r = |t: Text| t.render(lang);
        let mut out = String::new();
        let arrow_end = |e: &End| -> String {
            match (&e.address, &e.host) {
                (None, _) => r(t!(PHRASE_THE_GATEWAY)),
                (Some(a), Some(h)) => format!("{a} ({h})"),
                (Some(a), None) => a.to_string(),
            }
        };
        let hook = match self.hook {
            Hook::Forward => t!(EXPLAIN_HOOK_FORWARD),
            Hook::Input => t!(EXPLAIN_HOOK_INPUT),
            Hook::Output => t!(EXPLAIN_HOOK_OUTPUT),
        };
        let header = t!(
            EXPLAIN_HEADER,
            gateway = &self.gateway,
            src = arrow_end(&self.source),
            dst = arrow_end(&self.destination),
            packet = self
                .packet
                .as_deref()
                .map(|p| format!(" {p}"))
                .unwrap_or_default(),
            hook = hook
        );
        let _ = writeln!(out, "{}", r(header));
        // Labels padded to 12 terminal columns (a Japanese character takes two).
        let label = |t: Text| -> String {
            let text = r(t);
            let columns: usize = text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum();
            format!("{text}{}", " ".repeat(12usize.saturating_sub(columns)))
        };
        for (name, e, dir) in [
            (t!(EXPLAIN_LABEL_SOURCE), &self.source, t!(EXPLAIN_IN_ON)),
            (
                t!(EXPLAIN_LABEL_DESTINATION),
                &self.destination,
                t!(EXPLAIN_OUT_ON),
            ),
        ] {
            let mut line = format!("  {} ", label(name));
            match (&e.address, &e.host) {
                (None, _) => line.push_str(&r(t!(EXPLAIN_THE_GATEWAY_ITSELF))),
                (Some(a), Some(h)) => {
                    line.push_str(&r(t!(EXPLAIN_ADDR_HOST, addr = a.to_string(), host = h)))
                }
                (Some(a), None) => line.push_str(&a.to_string()),
            }
            if e.address.is_some() && e.zone.as_deref() == Some(GATEWAY) {
                line.push_str(&r(t!(EXPLAIN_DELIVERED_TO_GATEWAY)));
            } else if e.address.is_some() {
                match (&e.zone, &e.zone_label) {
                    (Some(z), Some(l)) => {
                        line.push_str(&r(t!(EXPLAIN_IN_ZONE_LABEL, zone = z, label = l)))
                    }
                    (Some(z), None) => line.push_str(&r(t!(EXPLAIN_IN_ZONE, zone = z))),
                    _ => line.push_str(&r(t!(EXPLAIN_IN_NO_ZONE))),
                }
            }
            if let Some(i) = &e.interface {
                line.push_str(&r(t!(EXPLAIN_ON_INTERFACE, dir = dir, interface = i)));
            }
            let _ = writeln!(out, "{line}");
        }
        let verdict = match self.verdict {
            Verdict::Accept => t!(EXPLAIN_VERDICT_ACCEPT),
            Verdict::Drop => t!(EXPLAIN_VERDICT_DROP),
            Verdict::Spoofed => t!(EXPLAIN_VERDICT_SPOOFED),
            Verdict::Partial => t!(EXPLAIN_VERDICT_PARTIAL),
        };
        let _ = writeln!(out, "  {} {}", label(t!(EXPLAIN_LABEL_VERDICT)), r(verdict));
        let because = match &self.reason {
            Reason::Flow { id } => t!(EXPLAIN_BECAUSE_FLOW, id = id),
            Reason::IntraZone { zone } => t!(EXPLAIN_BECAUSE_INTRA, zone = zone),
            Reason::Essential { what } => t!(EXPLAIN_BECAUSE_ESSENTIAL, what = what),
            Reason::Loopback => t!(EXPLAIN_BECAUSE_LOOPBACK),
            Reason::Broadcast { what } => t!(EXPLAIN_BECAUSE_BROADCAST, what = what),
            Reason::NoFlow { from, to } => match &self.packet {
                Some(p) => t!(
                    EXPLAIN_BECAUSE_NO_FLOW_PACKET,
                    from = from,
                    to = to,
                    packet = p
                ),
                None => t!(EXPLAIN_BECAUSE_NO_FLOW, from = from, to = to),
            },
            Reason::Spoofed {
                interface,
                interface_zone,
                address_zone,
            } => {
                let src = self
                    .source
                    .address
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                match (interface, interface_zone, address_zone) {
                    (Some(i), Some(iz), Some(az)) => t!(
                        EXPLAIN_BECAUSE_SPOOFED_ZONE,
                        src = src,
                        zone = az,
                        interface = i,
                        interface_zone = iz
                    ),
                    (Some(i), Some(iz), None) => t!(
                        EXPLAIN_BECAUSE_SPOOFED_NO_ZONE,
                        src = src,
                        interface = i,
                        interface_zone = iz
                    ),
                    _ => t!(EXPLAIN_BECAUSE_SPOOFED, src = src),
                }
            }
            Reason::UnknownInterface { interface } => t!(
                EXPLAIN_BECAUSE_UNKNOWN_INTERFACE,
                interface = interface,
                gateway = &self.gateway
            ),
            Reason::NotOnGateway { zone, side } => {
                if side == "source" {
                    t!(
                        EXPLAIN_BECAUSE_SOURCE_NOT_ON_GATEWAY,
                        zone = zone,
                        gateway = &self.gateway
                    )
                } else {
                    t!(
                        EXPLAIN_BECAUSE_DEST_NOT_ON_GATEWAY,
                        zone = zone,
                        gateway = &self.gateway
                    )
                }
            }
            Reason::NoZone { side } => {
                if side == "source" {
                    t!(EXPLAIN_BECAUSE_SOURCE_NO_ZONE)
                } else {
                    t!(EXPLAIN_BECAUSE_DEST_NO_ZONE)
                }
            }
            Reason::Ports => t!(EXPLAIN_BECAUSE_PORTS),
        };
        let _ = writeln!(out, "  {} {}", label(t!(EXPLAIN_LABEL_BECAUSE)), r(because));
        let flow_lines = |out: &mut String, f: &FlowRef, indent: &str| {
            let _ = writeln!(
                out,
                "{indent}{} ({}): {} → {}, {}",
                f.id,
                f.defined_at,
                f.from,
                f.to,
                f.ports.join(", ")
            );
            if let Some(p) = &f.purpose {
                let _ = writeln!(out, "{indent}  {}{p}", r(t!(EXPLAIN_FLOW_PURPOSE)));
            }
            if let Some(a) = &f.approved_by {
                let _ = writeln!(out, "{indent}  {}{a}", r(t!(EXPLAIN_FLOW_APPROVED_BY)));
            }
            if let Some(e) = &f.expires {
                let state = if f.expired {
                    t!(EXPLAIN_FLOW_EXPIRED)
                } else {
                    t!(EXPLAIN_FLOW_INCLUSIVE)
                };
                let _ = writeln!(
                    out,
                    "{indent}  {}{e}{}",
                    r(t!(EXPLAIN_FLOW_EXPIRES)),
                    r(state)
                );
            }
        };
        if let Some(f) = &self.flow {
            flow_lines(&mut out, f, "               ");
        }
        for p in &self.permitted {
            let passes = t!(EXPLAIN_PASSES, id = &p.flow.id, ports = p.ports.join(", "));
            let _ = writeln!(out, "               {}", r(passes));
            flow_lines(&mut out, &p.flow, "                 ");
        }
        if !self.nearest.is_empty() {
            let _ = writeln!(out, "  {}", r(t!(EXPLAIN_NEAREST)));
            for n in &self.nearest {
                flow_lines(&mut out, &n.flow, "    ");
                for d in &n.differences {
                    let _ = writeln!(out, "      - {}", d.render(lang));
                }
            }
        } else if matches!(self.reason, Reason::NoFlow { .. }) {
            let _ = writeln!(out, "  {}", r(t!(EXPLAIN_NEAREST_NONE)));
        }
        for n in &self.notes {
            let _ = writeln!(out, "  {}{}", r(t!(EXPLAIN_NOTE)), n.render(lang));
        }
        out
    }

    /// JSON for scripts and tests.
    pub fn render_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}
