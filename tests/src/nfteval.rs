//! An evaluator for an nftables ruleset **as the kernel lists it back**.
//!
//! The property test must judge what nft actually loaded, not the
//! compiler's own intermediate representation: a bug in rendering, a dependency nft adds or
//! elides, or an element the kernel merged would all be invisible otherwise. So this module
//! parses the JSON of `nft -j list table inet zonegate` (nft 1.0.6) and interprets it for one
//! packet at one hook, the way `nf_tables` does:
//!
//! * Base chains of a hook run in priority order; `accept` ends only the current base chain,
//!   `drop` is final, and the base-chain policy applies at the chain's end.
//! * `jump` pushes a return point, `goto` does not, `return` (or the end of a regular chain)
//!   pops one; a lookup or vmap miss ends the rule (`NFT_BREAK`), not the chain.
//! * Every payload expression carries the dependency nft gives it (and elides from listings):
//!   `ip …` needs IPv4, `ip6 …` IPv6, `tcp`/`udp …` that L4 protocol, `icmp type` IPv4 and
//!   ICMP, `icmpv6 type` IPv6 and ICMPv6, `ether saddr` an Ethernet input device. `th` has no
//!   dependency: on ICMP it reads the ICMP header, which the model may not know (see below).
//! * Devices a hook does not have read as the empty name (`iifname` in output, `oifname` in
//!   prerouting/input), as `nft_meta_store_ifname` does.
//! * Before conntrack (prerouting/output below priority -200) a packet has no conntrack
//!   entry: `ct state` reads `invalid`, other `ct` keys end the rule, `ct mark set` does
//!   nothing. The same holds for packets whose state is invalid or untracked.
//! * Rate limits, including the per-key limits of `update @set { … limit … }`, are taken to
//!   pass: the model is of a packet within its budget (and a set with room), so `limit rate
//!   over` never matches. A set update still loads its key, so the key's dependencies can end
//!   the rule, and a later lookup of that key in that set (by the same packet) hits.
//! * `meta length` is the packet's [`Packet::length`]; IPv4 packets have no options
//!   (`ip hdrlength` 5) and IPv6 packets no extension headers.
//!
//! These points were checked against the kernel (6.18) with real packets; see the test
//! `live_kernel_agrees_on_corner_cases` in `tests/tests/nfteval_selftest.rs`.
//!
//! Whatever the evaluator cannot decide from the [`Packet`] (a `th dport` of an ICMP packet
//! with no `dport` given, overlapping map elements with different values, a lookup in a set
//! the data path updates) is treated as a non-match **and reported** in
//! [`Outcome::undetermined`]; a property test should require that list to be empty.
//!
//! Use:
//!
//! ```no_run
//! use zonegate_e2e::nfteval::{Hook, Packet, Ruleset};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let json = std::fs::read_to_string("listing.json")?; // nft -j list table inet zonegate
//! let rs = Ruleset::from_json(&json)?;
//! let (src, dst) = ("10.20.0.10".parse()?, "10.10.0.5".parse()?);
//! let pkt = Packet::tcp("ens4", "ens3", src, 40000, dst, 443).with_ether([0x52, 0x54, 0, 0xaa, 0, 0x10]);
//! let out = rs.eval_path(&[Hook::Prerouting, Hook::Forward], &pkt);
//! assert!(out.undetermined.is_empty(), "{}", out.explain());
//! // A conntrack history records an accepted new connection with `out.ct_mark`; its
//! // later packets are evaluated with `.with_state(..)` and `.with_ct_mark(..)`.
//! println!("{:?} mark {:#x} counters {:?}", out.verdict, out.ct_mark, out.counters);
//! # Ok(())
//! # }
//! ```
//!
//! Anything in the listing the evaluator does not model makes [`Ruleset::from_json`] fail
//! with an [`EvalError`] naming it: silently passing an unknown statement would let the test
//! approve a ruleset it did not understand.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value as Json};

/// The kernel's jump stack depth (`NFT_JUMP_STACK_SIZE`).
const JUMP_STACK_SIZE: usize = 16;
/// A bound on rules visited per base chain, so a malformed listing cannot hang a test.
const MAX_STEPS: usize = 100_000;
/// `IFNAMSIZ`: interface names are compared as 16 zero-padded bytes.
const IFNAMSIZ: usize = 16;
/// Conntrack's hook priority (`NF_IP_PRI_CONNTRACK`) in prerouting and output.
const CONNTRACK_PRIORITY: i64 = -200;

/// The ruleset could not be parsed, or uses a construct the evaluator does not model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    /// What went wrong, naming the construct and where it is.
    pub message: String,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nfteval: {}", self.message)
    }
}

impl std::error::Error for EvalError {}

fn fail<T>(message: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError {
        message: message.into(),
    })
}

/// A netfilter hook of the `inet` family that the evaluator models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
}

impl Hook {
    fn from_nft(name: &str) -> Option<Hook> {
        match name {
            "prerouting" => Some(Hook::Prerouting),
            "input" => Some(Hook::Input),
            "forward" => Some(Hook::Forward),
            "output" => Some(Hook::Output),
            _ => None,
        }
    }

    /// The hook's name as nft writes it.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
        }
    }

    /// Locally generated packets (output) have no input device.
    fn has_input_device(self) -> bool {
        !matches!(self, Hook::Output)
    }

    /// Before routing (prerouting) and for local delivery (input) there is no output device.
    fn has_output_device(self) -> bool {
        matches!(self, Hook::Forward | Hook::Output)
    }

    /// Whether a base chain at `priority` runs after conntrack has attached an entry.
    fn conntrack_attached(self, priority: i64) -> bool {
        match self {
            // Conntrack runs in these hooks at -200. A chain at exactly -200 is taken to run
            // after it (a new hook goes after existing ones of equal priority, and the ct
            // expressions load conntrack before the chains register); zonegate uses -310.
            Hook::Prerouting | Hook::Output => priority >= CONNTRACK_PRIORITY,
            Hook::Input | Hook::Forward => true,
        }
    }
}

/// Conntrack state of the packet's connection, as `ct state` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtState {
    New,
    Established,
    Related,
    /// No conntrack entry (conntrack could not track the packet).
    Invalid,
    /// `notrack`: no entry on purpose.
    Untracked,
}

impl CtState {
    /// The `ct_state` bit (`NF_CT_STATE_*_BIT`).
    fn bits(self) -> u32 {
        match self {
            CtState::Invalid => 0x01,
            CtState::Established => 0x02,
            CtState::Related => 0x04,
            CtState::New => 0x08,
            CtState::Untracked => 0x40,
        }
    }

    /// Invalid and untracked packets carry no conntrack entry.
    fn has_entry(self) -> bool {
        !matches!(self, CtState::Invalid | CtState::Untracked)
    }
}

/// Direction of the packet within its connection (`ct direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtDirection {
    Original,
    Reply,
}

/// `ct status` bits (`IPS_*`), as nft names them.
pub mod ct_status {
    pub const EXPECTED: u32 = 0x01;
    pub const SEEN_REPLY: u32 = 0x02;
    pub const ASSURED: u32 = 0x04;
    pub const CONFIRMED: u32 = 0x08;
    pub const SNAT: u32 = 0x10;
    pub const DNAT: u32 = 0x20;
    pub const DYING: u32 = 0x200;
}

/// IP protocol numbers used by [`Packet`] constructors.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

/// What conntrack knows about the packet's connection when the packet reaches the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtInfo {
    pub state: CtState,
    /// A bitwise OR of [`ct_status`] constants.
    pub status: u32,
    pub direction: CtDirection,
    pub mark: u32,
}

impl Default for CtInfo {
    fn default() -> Self {
        CtInfo {
            state: CtState::New,
            status: 0,
            direction: CtDirection::Original,
            mark: 0,
        }
    }
}

/// One packet, described by the fields the ruleset can look at.
///
/// Both addresses must be of one family; the family decides `meta nfproto`.
/// `sport`/`dport` are the transport header's bytes 0–1 and 2–3: ports for TCP/UDP; for
/// other protocols leave them `None` unless a test wants to pin those bytes, and any `th`
/// match on them is then reported as undetermined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub iifname: String,
    pub oifname: String,
    pub saddr: IpAddr,
    pub daddr: IpAddr,
    /// `meta l4proto` (also `ip protocol` / `ip6 nexthdr`: no extension headers are modelled).
    pub l4proto: u8,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    /// The ICMP or ICMPv6 type, for those protocols.
    pub icmp_type: Option<u8>,
    /// `ip ttl` / `ip6 hoplimit`.
    pub hoplimit: u8,
    /// Source MAC of the Ethernet header; `None` when the packet arrived without one.
    pub ether_saddr: Option<[u8; 6]>,
    /// `meta mark` (the skb mark).
    pub meta_mark: u32,
    /// `meta length`: the IP packet's length in bytes.
    pub length: u32,
    pub ct: CtInfo,
}

impl Packet {
    fn base(iifname: &str, oifname: &str, saddr: IpAddr, daddr: IpAddr, l4proto: u8) -> Packet {
        Packet {
            iifname: iifname.to_string(),
            oifname: oifname.to_string(),
            saddr,
            daddr,
            l4proto,
            sport: None,
            dport: None,
            icmp_type: None,
            hoplimit: 64,
            ether_saddr: None,
            meta_mark: 0,
            length: 64,
            ct: CtInfo::default(),
        }
    }

    /// A TCP packet of a new connection, with no Ethernet header.
    pub fn tcp(
        iif: &str,
        oif: &str,
        saddr: IpAddr,
        sport: u16,
        daddr: IpAddr,
        dport: u16,
    ) -> Packet {
        let mut p = Packet::base(iif, oif, saddr, daddr, proto::TCP);
        p.sport = Some(sport);
        p.dport = Some(dport);
        p
    }

    /// A UDP packet of a new connection, with no Ethernet header.
    pub fn udp(
        iif: &str,
        oif: &str,
        saddr: IpAddr,
        sport: u16,
        daddr: IpAddr,
        dport: u16,
    ) -> Packet {
        let mut p = Packet::tcp(iif, oif, saddr, sport, daddr, dport);
        p.l4proto = proto::UDP;
        p
    }

    /// An ICMP packet (ICMPv6 when `saddr` is IPv6) of the given type.
    pub fn icmp(iif: &str, oif: &str, saddr: IpAddr, daddr: IpAddr, icmp_type: u8) -> Packet {
        let l4 = if saddr.is_ipv6() {
            proto::ICMPV6
        } else {
            proto::ICMP
        };
        let mut p = Packet::base(iif, oif, saddr, daddr, l4);
        p.icmp_type = Some(icmp_type);
        p
    }

    /// Sets the conntrack state.
    pub fn with_state(mut self, state: CtState) -> Packet {
        self.ct.state = state;
        self
    }

    /// Sets the connection's mark.
    /// `meta length` (default 64 bytes).
    pub fn with_length(mut self, length: u32) -> Packet {
        self.length = length;
        self
    }

    pub fn with_ct_mark(mut self, mark: u32) -> Packet {
        self.ct.mark = mark;
        self
    }

    /// Sets the direction within the connection.
    pub fn with_direction(mut self, direction: CtDirection) -> Packet {
        self.ct.direction = direction;
        self
    }

    /// Sets the `ct status` bits.
    pub fn with_status(mut self, status: u32) -> Packet {
        self.ct.status = status;
        self
    }

    /// Gives the packet an Ethernet header with this source MAC.
    pub fn with_ether(mut self, mac: [u8; 6]) -> Packet {
        self.ether_saddr = Some(mac);
        self
    }

    /// Sets the TTL / hop limit.
    pub fn with_hoplimit(mut self, hoplimit: u8) -> Packet {
        self.hoplimit = hoplimit;
        self
    }

    fn is_ipv6(&self) -> bool {
        self.saddr.is_ipv6()
    }
}

/// The packet's fate after a hook (or a path of hooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
}

/// A `log` statement that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The prefix (empty when the statement has none).
    pub prefix: String,
    /// The NFLOG group; `None` for a kernel-log (syslog) statement.
    pub group: Option<u16>,
}

/// What happened to a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The connection's mark after every `ct mark set` that took effect.
    pub ct_mark: u32,
    /// `log` statements that fired, in order.
    pub logs: Vec<LogRecord>,
    /// Named counters (`counter name "x"`) that counted the packet, in order.
    pub counters: Vec<String>,
    /// Comments of the set and map elements that lookups hit, in order (flow ids).
    pub element_comments: Vec<String>,
    /// Chains entered and rules that acted, for failure messages.
    pub trace: Vec<String>,
    /// Decisions the model could not make and treated as non-matches; see the module docs.
    pub undetermined: Vec<String>,
}

impl Outcome {
    fn start(pkt: &Packet) -> Outcome {
        Outcome {
            verdict: Verdict::Accept,
            ct_mark: pkt.ct.mark,
            logs: Vec::new(),
            counters: Vec::new(),
            element_comments: Vec::new(),
            trace: Vec::new(),
            undetermined: Vec::new(),
        }
    }

    /// True when the packet was accepted.
    pub fn accepted(&self) -> bool {
        self.verdict == Verdict::Accept
    }

    /// The prefixes of the `log` statements that fired.
    pub fn log_prefixes(&self) -> Vec<&str> {
        self.logs.iter().map(|l| l.prefix.as_str()).collect()
    }

    /// The trace as one line per step, for assertion messages.
    pub fn explain(&self) -> String {
        let mut s = self.trace.join("\n");
        for u in &self.undetermined {
            s.push_str("\nUNDETERMINED: ");
            s.push_str(u);
        }
        s
    }
}

// ---------------------------------------------------------------------------------------
// Internal representation
// ---------------------------------------------------------------------------------------

/// Data types of keys, each with its kernel register width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Ifname,
    Ipv4,
    Ipv6,
    Ether,
    InetProto,
    InetService,
    Mark,
    IcmpType,
    Icmpv6Type,
    CtState,
    CtStatus,
    CtDir,
    NfProto,
    /// A plain 8-bit integer (TTL, hop limit, IPv4 header length).
    Int8,
    /// A plain 32-bit integer (`meta length`).
    Int32,
}

impl Ty {
    fn from_name(name: &str) -> Result<Ty, EvalError> {
        Ok(match name {
            "ifname" => Ty::Ifname,
            "ipv4_addr" => Ty::Ipv4,
            "ipv6_addr" => Ty::Ipv6,
            "ether_addr" => Ty::Ether,
            "inet_proto" => Ty::InetProto,
            "inet_service" => Ty::InetService,
            "mark" => Ty::Mark,
            "icmp_type" => Ty::IcmpType,
            "icmpv6_type" => Ty::Icmpv6Type,
            "ct_state" => Ty::CtState,
            "ct_status" => Ty::CtStatus,
            "ct_dir" => Ty::CtDir,
            "nf_proto" => Ty::NfProto,
            other => return fail(format!("unsupported set data type `{other}`")),
        })
    }

    fn width(self) -> usize {
        match self {
            Ty::Ifname | Ty::Ipv6 => 16,
            Ty::Ipv4 | Ty::Mark | Ty::CtState | Ty::CtStatus | Ty::Int32 => 4,
            Ty::Ether => 6,
            Ty::InetService => 2,
            Ty::InetProto | Ty::IcmpType | Ty::Icmpv6Type | Ty::CtDir | Ty::NfProto | Ty::Int8 => 1,
        }
    }

    fn is_bitmask(self) -> bool {
        matches!(self, Ty::CtState | Ty::CtStatus)
    }

    /// Symbolic constants nft 1.0.6 prints for integer types (`nft describe`), plus the
    /// protocol names of `/etc/protocols`, which nft uses to print `inet_proto`.
    fn symbol(self, name: &str) -> Option<u64> {
        let table: &[(&str, u64)] = match self {
            Ty::InetProto => &[
                ("ip", 0),
                ("hopopt", 0),
                ("icmp", 1),
                ("igmp", 2),
                ("ggp", 3),
                ("ipencap", 4),
                ("st", 5),
                ("tcp", 6),
                ("egp", 8),
                ("igp", 9),
                ("pup", 12),
                ("udp", 17),
                ("hmp", 20),
                ("xns-idp", 22),
                ("rdp", 27),
                ("iso-tp4", 29),
                ("dccp", 33),
                ("xtp", 36),
                ("ddp", 37),
                ("idpr-cmtp", 38),
                ("ipv6", 41),
                ("ipv6-route", 43),
                ("ipv6-frag", 44),
                ("idrp", 45),
                ("rsvp", 46),
                ("gre", 47),
                ("esp", 50),
                ("ah", 51),
                ("skip", 57),
                ("ipv6-icmp", 58),
                ("ipv6-nonxt", 59),
                ("ipv6-opts", 60),
                ("rspf", 73),
                ("vmtp", 81),
                ("eigrp", 88),
                ("ospf", 89),
                ("ax.25", 93),
                ("ipip", 94),
                ("etherip", 97),
                ("encap", 98),
                ("pim", 103),
                ("ipcomp", 108),
                ("vrrp", 112),
                ("l2tp", 115),
                ("isis", 124),
                ("sctp", 132),
                ("fc", 133),
                ("mobility-header", 135),
                ("udplite", 136),
                ("mpls-in-ip", 137),
                ("manet", 138),
                ("hip", 139),
                ("shim6", 140),
                ("wesp", 141),
                ("rohc", 142),
                ("ethernet", 143),
            ],
            Ty::IcmpType => &[
                ("echo-reply", 0),
                ("destination-unreachable", 3),
                ("source-quench", 4),
                ("redirect", 5),
                ("echo-request", 8),
                ("router-advertisement", 9),
                ("router-solicitation", 10),
                ("time-exceeded", 11),
                ("parameter-problem", 12),
                ("timestamp-request", 13),
                ("timestamp-reply", 14),
                ("info-request", 15),
                ("info-reply", 16),
                ("address-mask-request", 17),
                ("address-mask-reply", 18),
            ],
            Ty::Icmpv6Type => &[
                ("destination-unreachable", 1),
                ("packet-too-big", 2),
                ("time-exceeded", 3),
                ("parameter-problem", 4),
                ("echo-request", 128),
                ("echo-reply", 129),
                ("mld-listener-query", 130),
                ("mld-listener-report", 131),
                ("mld-listener-done", 132),
                ("mld-listener-reduction", 132),
                ("nd-router-solicit", 133),
                ("nd-router-advert", 134),
                ("nd-neighbor-solicit", 135),
                ("nd-neighbor-advert", 136),
                ("nd-redirect", 137),
                ("router-renumbering", 138),
                ("ind-neighbor-solicit", 141),
                ("ind-neighbor-advert", 142),
                ("mld2-listener-report", 143),
            ],
            Ty::CtState => &[
                ("invalid", 0x01),
                ("established", 0x02),
                ("related", 0x04),
                ("new", 0x08),
                ("untracked", 0x40),
            ],
            Ty::CtStatus => &[
                ("expected", 0x01),
                ("seen-reply", 0x02),
                ("assured", 0x04),
                ("confirmed", 0x08),
                ("snat", 0x10),
                ("dnat", 0x20),
                ("dying", 0x200),
            ],
            Ty::CtDir => &[("original", 0), ("reply", 1)],
            Ty::NfProto => &[("ipv4", 2), ("ipv6", 10)],
            _ => &[],
        };
        table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// One field a rule can load into a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Iifname,
    Oifname,
    L4proto,
    Nfproto,
    MetaMark,
    MetaLength,
    IpHdrlength,
    IpSaddr,
    IpDaddr,
    IpProtocol,
    IpTtl,
    Ip6Saddr,
    Ip6Daddr,
    Ip6Nexthdr,
    Ip6Hoplimit,
    ThSport,
    ThDport,
    TcpSport,
    TcpDport,
    UdpSport,
    UdpDport,
    IcmpType,
    Icmpv6Type,
    EtherSaddr,
    CtState,
    CtStatus,
    CtDirection,
    CtMark,
    /// A constant in a concatenated key (the ruleset's per-key tables start their keys with
    /// the log code), typed as a mark.
    Const(u32),
}

impl Field {
    fn ty(self) -> Ty {
        match self {
            Field::Iifname | Field::Oifname => Ty::Ifname,
            Field::L4proto | Field::IpProtocol | Field::Ip6Nexthdr => Ty::InetProto,
            Field::Nfproto => Ty::NfProto,
            Field::MetaMark | Field::CtMark | Field::Const(_) => Ty::Mark,
            Field::MetaLength => Ty::Int32,
            Field::IpHdrlength => Ty::Int8,
            Field::IpSaddr | Field::IpDaddr => Ty::Ipv4,
            Field::Ip6Saddr | Field::Ip6Daddr => Ty::Ipv6,
            Field::IpTtl | Field::Ip6Hoplimit => Ty::Int8,
            Field::ThSport | Field::ThDport | Field::TcpSport | Field::TcpDport => Ty::InetService,
            Field::UdpSport | Field::UdpDport => Ty::InetService,
            Field::IcmpType => Ty::IcmpType,
            Field::Icmpv6Type => Ty::Icmpv6Type,
            Field::EtherSaddr => Ty::Ether,
            Field::CtState => Ty::CtState,
            Field::CtStatus => Ty::CtStatus,
            Field::CtDirection => Ty::CtDir,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Field::Iifname => "iifname",
            Field::Oifname => "oifname",
            Field::L4proto => "meta l4proto",
            Field::Nfproto => "meta nfproto",
            Field::MetaMark => "meta mark",
            Field::MetaLength => "meta length",
            Field::IpHdrlength => "ip hdrlength",
            Field::IpSaddr => "ip saddr",
            Field::IpDaddr => "ip daddr",
            Field::IpProtocol => "ip protocol",
            Field::IpTtl => "ip ttl",
            Field::Ip6Saddr => "ip6 saddr",
            Field::Ip6Daddr => "ip6 daddr",
            Field::Ip6Nexthdr => "ip6 nexthdr",
            Field::Ip6Hoplimit => "ip6 hoplimit",
            Field::ThSport => "th sport",
            Field::ThDport => "th dport",
            Field::TcpSport => "tcp sport",
            Field::TcpDport => "tcp dport",
            Field::UdpSport => "udp sport",
            Field::UdpDport => "udp dport",
            Field::IcmpType => "icmp type",
            Field::Icmpv6Type => "icmpv6 type",
            Field::EtherSaddr => "ether saddr",
            Field::CtState => "ct state",
            Field::CtStatus => "ct status",
            Field::CtDirection => "ct direction",
            Field::CtMark => "ct mark",
            Field::Const(_) => "constant",
        }
    }
}

/// An inclusive interval of big-endian values of one field; exact values have `lo == hi`.
/// Big-endian bytes of equal length order like the numbers, so prefixes, ranges and
/// interface-name wildcards all become intervals.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    lo: Vec<u8>,
    hi: Vec<u8>,
}

impl Span {
    fn exact(v: Vec<u8>) -> Span {
        Span {
            lo: v.clone(),
            hi: v,
        }
    }

    fn contains(&self, v: &[u8]) -> bool {
        self.lo.as_slice() <= v && v <= self.hi.as_slice()
    }
}

/// The value a map element maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Data {
    Mark(u32),
    Verdict(Action),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataTy {
    Mark,
    Verdict,
}

/// A set or map element: one span per concatenated field.
#[derive(Debug, Clone)]
struct Elem {
    key: Vec<Span>,
    data: Option<Data>,
    comment: Option<String>,
}

/// The elements of a named or anonymous set or map.
#[derive(Debug, Clone)]
struct SetDef {
    /// `@name`, or a description of an anonymous set, for traces.
    label: String,
    key_tys: Vec<Ty>,
    data: Option<DataTy>,
    /// Contents change at run time (timeout/dynamic flags, or an `update`/`add` target).
    dynamic: bool,
    elems: Vec<Elem>,
}

#[derive(Debug, Clone)]
enum SetRef {
    Named(String),
    Anon(Box<SetDef>),
}

/// What a verdict statement or verdict-map element does, with chain targets resolved to
/// indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Accept,
    Drop,
    Continue,
    Return,
    Jump(usize),
    Goto(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Neq,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone)]
enum Rhs {
    /// A constant: one span per concatenated field.
    Const(Vec<Span>),
    /// Membership in a set (or in a map's keys).
    Set(SetRef),
    /// `in` on a bitmask type: any of these bits set.
    Flags(u64),
}

#[derive(Debug, Clone)]
enum MarkValue {
    Const(u32),
    Map { key: Vec<Field>, map: SetRef },
}

#[derive(Debug, Clone)]
enum Stmt {
    Match {
        left: Vec<Field>,
        op: Op,
        right: Rhs,
    },
    Counter(Option<String>),
    Limit,
    /// `limit rate over`: never matches a packet within its budget.
    LimitOver,
    Log(LogRecord),
    /// `update @set { key … }`: the key is loaded (its dependencies can end the rule), the
    /// per-key statements (limits) are taken to pass, and the set (taken to have room) then
    /// holds the key for later lookups of the same packet.
    Dynset {
        set: String,
        key: Vec<Field>,
    },
    SetCtMark(MarkValue),
    Vmap {
        key: Vec<Field>,
        map: SetRef,
    },
    Verdict(Action),
}

#[derive(Debug, Clone)]
struct Rule {
    handle: u64,
    stmts: Vec<Stmt>,
}

#[derive(Debug, Clone)]
struct BaseInfo {
    hook: Hook,
    priority: i64,
    policy: Verdict,
}

#[derive(Debug, Clone)]
struct Chain {
    name: String,
    base: Option<BaseInfo>,
    rules: Vec<Rule>,
}

/// A parsed `nft -j list table inet …` listing, ready to evaluate packets.
#[derive(Debug, Clone)]
pub struct Ruleset {
    table: String,
    sets: HashMap<String, SetDef>,
    counters: HashSet<String>,
    chains: Vec<Chain>,
    /// Base chains in evaluation order: by priority, then listing order.
    base_order: Vec<usize>,
}

// ---------------------------------------------------------------------------------------
// JSON helpers
// ---------------------------------------------------------------------------------------

/// The single key and value of a JSON object like `{"accept": null}`.
fn single(v: &Json) -> Option<(&str, &Json)> {
    let obj = v.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    obj.iter().next().map(|(k, v)| (k.as_str(), v))
}

fn get_str<'a>(obj: &'a Map<String, Json>, key: &str, what: &str) -> Result<&'a str, EvalError> {
    match obj.get(key).and_then(Json::as_str) {
        Some(s) => Ok(s),
        None => fail(format!("{what}: missing string field `{key}`")),
    }
}

fn short(v: &Json) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        let mut end = 120;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}

fn flags_of(obj: &Map<String, Json>) -> Vec<String> {
    match obj.get("flags") {
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------

fn int_bytes(v: u64, width: usize, what: &str) -> Result<Vec<u8>, EvalError> {
    if width < 8 && v >> (width * 8) != 0 {
        return fail(format!("{what}: value {v} does not fit in {width} byte(s)"));
    }
    let b = v.to_be_bytes();
    Ok(b[8 - width..].to_vec())
}

fn parse_int_text(s: &str) -> Option<u64> {
    if let Some(hex) = s.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// Encodes one scalar constant of type `ty` as the kernel's big-endian register bytes.
fn encode(ty: Ty, v: &Json) -> Result<Vec<u8>, EvalError> {
    let what = format!("constant {} of type {ty:?}", short(v));
    match ty {
        Ty::Ifname => {
            let s = match v.as_str() {
                Some(s) => s,
                None => return fail(format!("{what}: expected an interface name")),
            };
            ifname_bytes(s).ok_or_else(|| EvalError {
                message: format!("{what}: interface name longer than 15 bytes"),
            })
        }
        Ty::Ipv4 => match v.as_str().and_then(|s| s.parse::<Ipv4Addr>().ok()) {
            Some(a) => Ok(a.octets().to_vec()),
            None => fail(format!("{what}: not an IPv4 address")),
        },
        Ty::Ipv6 => match v.as_str().and_then(|s| s.parse::<Ipv6Addr>().ok()) {
            Some(a) => Ok(a.octets().to_vec()),
            None => fail(format!("{what}: not an IPv6 address")),
        },
        Ty::Ether => match v.as_str().and_then(parse_mac) {
            Some(m) => Ok(m.to_vec()),
            None => fail(format!("{what}: not a MAC address")),
        },
        _ => {
            let n = match v {
                Json::Number(n) => n.as_u64(),
                Json::String(s) => ty.symbol(s).or_else(|| parse_int_text(s)),
                _ => None,
            };
            match n {
                Some(n) => int_bytes(n, ty.width(), &what),
                None => fail(format!("{what}: unknown symbol or not an integer")),
            }
        }
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

fn ifname_bytes(name: &str) -> Option<Vec<u8>> {
    let b = name.as_bytes();
    if b.len() >= IFNAMSIZ {
        return None;
    }
    let mut v = b.to_vec();
    v.resize(IFNAMSIZ, 0);
    Some(v)
}

/// Parses one field of an element or constant: a value, `{"prefix"}`, `{"range"}`, or an
/// interface name ending in `*` (nft's wildcard: a compare of the bytes before it).
fn parse_span(ty: Ty, v: &Json) -> Result<Span, EvalError> {
    if let Some((key, body)) = single(v) {
        match key {
            "prefix" => {
                let obj = body.as_object().ok_or_else(|| EvalError {
                    message: format!("malformed prefix {}", short(v)),
                })?;
                let addr = obj.get("addr").ok_or_else(|| EvalError {
                    message: format!("prefix without addr: {}", short(v)),
                })?;
                let len = obj
                    .get("len")
                    .and_then(Json::as_u64)
                    .ok_or_else(|| EvalError {
                        message: format!("prefix without len: {}", short(v)),
                    })?;
                let base = encode(ty, addr)?;
                if len as usize > base.len() * 8 {
                    return fail(format!("prefix length {len} too long for {ty:?}"));
                }
                let (mut lo, mut hi) = (base.clone(), base);
                for bit in (len as usize)..lo.len() * 8 {
                    let mask = 0x80u8 >> (bit % 8);
                    lo[bit / 8] &= !mask;
                    hi[bit / 8] |= mask;
                }
                return Ok(Span { lo, hi });
            }
            "range" => {
                let ends = body
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or_else(|| EvalError {
                        message: format!("malformed range {}", short(v)),
                    })?;
                let lo = encode(ty, &ends[0])?;
                let hi = encode(ty, &ends[1])?;
                if lo > hi {
                    return fail(format!("empty range {}", short(v)));
                }
                return Ok(Span { lo, hi });
            }
            _ => {
                return fail(format!(
                    "unsupported value expression `{key}`: {}",
                    short(v)
                ))
            }
        }
    }
    if ty == Ty::Ifname {
        if let Some(prefix) = v.as_str().and_then(|s| s.strip_suffix('*')) {
            if !prefix.ends_with('\\') {
                let mut lo = ifname_bytes(prefix).ok_or_else(|| EvalError {
                    message: format!("interface wildcard too long: {}", short(v)),
                })?;
                let mut hi = lo.clone();
                lo.truncate(prefix.len());
                hi.truncate(prefix.len());
                lo.resize(IFNAMSIZ, 0);
                hi.resize(IFNAMSIZ, 0xff);
                return Ok(Span { lo, hi });
            }
        }
    }
    if v.is_array() || v.is_object() {
        return fail(format!("unsupported value {}", short(v)));
    }
    Ok(Span::exact(encode(ty, v)?))
}

/// Parses an element key (possibly wrapped in `{"elem": {"val": …, "comment": …}}`).
fn parse_key(tys: &[Ty], v: &Json) -> Result<(Vec<Span>, Option<String>), EvalError> {
    let (val, comment) = match single(v) {
        Some(("elem", body)) => {
            let obj = body.as_object().ok_or_else(|| EvalError {
                message: format!("malformed elem {}", short(v)),
            })?;
            let val = obj.get("val").ok_or_else(|| EvalError {
                message: format!("elem without val: {}", short(v)),
            })?;
            let comment = obj
                .get("comment")
                .and_then(Json::as_str)
                .map(str::to_string);
            (val, comment)
        }
        _ => (v, None),
    };
    if tys.len() == 1 {
        return Ok((vec![parse_span(tys[0], val)?], comment));
    }
    let parts = match single(val) {
        Some(("concat", Json::Array(parts))) => parts,
        _ => {
            return fail(format!(
                "expected a concatenation of {} fields, got {}",
                tys.len(),
                short(val)
            ))
        }
    };
    if parts.len() != tys.len() {
        return fail(format!(
            "concatenation has {} fields, key has {}: {}",
            parts.len(),
            tys.len(),
            short(val)
        ));
    }
    let spans = tys
        .iter()
        .zip(parts)
        .map(|(t, p)| parse_span(*t, p))
        .collect::<Result<_, _>>()?;
    Ok((spans, comment))
}

// ---------------------------------------------------------------------------------------
// Parsing the listing
// ---------------------------------------------------------------------------------------

/// Chain names and kinds, known before rules are parsed so verdicts can be resolved.
struct Names<'a> {
    chains: &'a HashMap<String, (usize, bool)>,
    sets: &'a HashMap<String, SetDef>,
    counters: &'a HashSet<String>,
}

impl Names<'_> {
    fn chain(&self, name: &str) -> Result<usize, EvalError> {
        match self.chains.get(name) {
            Some((_, true)) => fail(format!("jump/goto to base chain `{name}`")),
            Some((i, false)) => Ok(*i),
            None => fail(format!("jump/goto to unknown chain `{name}`")),
        }
    }

    fn set(&self, r: &str, key: &[Field]) -> Result<String, EvalError> {
        let name = match r.strip_prefix('@') {
            Some(n) => n,
            None => return fail(format!("expected a set reference `@name`, got `{r}`")),
        };
        let set = match self.sets.get(name) {
            Some(s) => s,
            None => return fail(format!("reference to unknown set `@{name}`")),
        };
        let tys: Vec<Ty> = key.iter().map(|f| f.ty()).collect();
        if tys != set.key_tys {
            return fail(format!(
                "key {} ({:?}) does not match the type of @{name} ({:?})",
                key.iter().map(|f| f.name()).collect::<Vec<_>>().join(" . "),
                tys,
                set.key_tys
            ));
        }
        Ok(name.to_string())
    }
}

fn parse_verdict(v: &Json, names: &Names) -> Result<Option<Action>, EvalError> {
    let (k, body) = match single(v) {
        Some(kb) => kb,
        None => return Ok(None),
    };
    let target = |body: &Json| -> Result<usize, EvalError> {
        let t = body
            .get("target")
            .and_then(Json::as_str)
            .ok_or_else(|| EvalError {
                message: format!("verdict without target: {}", short(v)),
            })?;
        names.chain(t)
    };
    Ok(Some(match k {
        "accept" => Action::Accept,
        "drop" => Action::Drop,
        "continue" => Action::Continue,
        "return" => Action::Return,
        "jump" => Action::Jump(target(body)?),
        "goto" => Action::Goto(target(body)?),
        _ => return Ok(None),
    }))
}

fn parse_field(v: &Json) -> Result<Field, EvalError> {
    if let Some(n) = v.as_u64().and_then(|n| u32::try_from(n).ok()) {
        return Ok(Field::Const(n));
    }
    let (kind, body) = single(v).ok_or_else(|| EvalError {
        message: format!("unsupported expression {}", short(v)),
    })?;
    let obj = body.as_object().ok_or_else(|| EvalError {
        message: format!("unsupported expression {}", short(v)),
    })?;
    let field = match kind {
        "meta" => match get_str(obj, "key", "meta")? {
            "iifname" => Field::Iifname,
            "oifname" => Field::Oifname,
            "l4proto" => Field::L4proto,
            "nfproto" => Field::Nfproto,
            "mark" => Field::MetaMark,
            "length" => Field::MetaLength,
            other => return fail(format!("unsupported expression `meta {other}`")),
        },
        "payload" => {
            if obj.contains_key("base") || obj.contains_key("offset") {
                return fail(format!("unsupported raw payload expression {}", short(v)));
            }
            let p = get_str(obj, "protocol", "payload")?;
            let f = get_str(obj, "field", "payload")?;
            match (p, f) {
                ("ip", "saddr") => Field::IpSaddr,
                ("ip", "daddr") => Field::IpDaddr,
                ("ip", "protocol") => Field::IpProtocol,
                ("ip", "ttl") => Field::IpTtl,
                ("ip", "hdrlength") => Field::IpHdrlength,
                ("ip6", "saddr") => Field::Ip6Saddr,
                ("ip6", "daddr") => Field::Ip6Daddr,
                ("ip6", "nexthdr") => Field::Ip6Nexthdr,
                ("ip6", "hoplimit") => Field::Ip6Hoplimit,
                ("th", "sport") => Field::ThSport,
                ("th", "dport") => Field::ThDport,
                ("tcp", "sport") => Field::TcpSport,
                ("tcp", "dport") => Field::TcpDport,
                ("udp", "sport") => Field::UdpSport,
                ("udp", "dport") => Field::UdpDport,
                ("icmp", "type") => Field::IcmpType,
                ("icmpv6", "type") => Field::Icmpv6Type,
                ("ether", "saddr") => Field::EtherSaddr,
                _ => return fail(format!("unsupported expression `{p} {f}`")),
            }
        }
        "ct" => {
            if obj.contains_key("dir") || obj.contains_key("family") {
                return fail(format!(
                    "unsupported directional ct expression {}",
                    short(v)
                ));
            }
            match get_str(obj, "key", "ct")? {
                "state" => Field::CtState,
                "status" => Field::CtStatus,
                "direction" => Field::CtDirection,
                "mark" => Field::CtMark,
                other => return fail(format!("unsupported expression `ct {other}`")),
            }
        }
        other => return fail(format!("unsupported expression `{other}`: {}", short(v))),
    };
    Ok(field)
}

/// A key expression: one field, or a `{"concat": [...]}` of fields.
fn parse_expr(v: &Json) -> Result<Vec<Field>, EvalError> {
    match single(v) {
        Some(("concat", Json::Array(parts))) => parts.iter().map(parse_field).collect(),
        _ => Ok(vec![parse_field(v)?]),
    }
}

/// Parses an anonymous set `{"set": [...]}`; `data` says whether its items are
/// `[key, data]` pairs and what data they carry.
fn parse_anon(
    key: &[Field],
    items: &[Json],
    data: Option<DataTy>,
    names: &Names,
) -> Result<SetDef, EvalError> {
    let tys: Vec<Ty> = key.iter().map(|f| f.ty()).collect();
    let mut elems = Vec::new();
    for item in items {
        elems.push(parse_elem(&tys, data, item, names)?);
    }
    Ok(SetDef {
        label: format!(
            "anonymous {} on {}",
            if data.is_some() { "map" } else { "set" },
            key.iter().map(|f| f.name()).collect::<Vec<_>>().join(" . ")
        ),
        key_tys: tys,
        data,
        dynamic: false,
        elems,
    })
}

fn parse_elem(
    tys: &[Ty],
    data: Option<DataTy>,
    item: &Json,
    names: &Names,
) -> Result<Elem, EvalError> {
    match data {
        None => {
            let (key, comment) = parse_key(tys, item)?;
            Ok(Elem {
                key,
                data: None,
                comment,
            })
        }
        Some(dty) => {
            let pair = item
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or_else(|| EvalError {
                    message: format!("map element is not a [key, data] pair: {}", short(item)),
                })?;
            let (key, comment) = parse_key(tys, &pair[0])?;
            let d = match dty {
                DataTy::Mark => {
                    let b = encode(Ty::Mark, &pair[1])?;
                    Data::Mark(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                }
                DataTy::Verdict => match parse_verdict(&pair[1], names)? {
                    Some(j) => Data::Verdict(j),
                    None => return fail(format!("unsupported verdict {}", short(&pair[1]))),
                },
            };
            Ok(Elem {
                key,
                data: Some(d),
                comment,
            })
        }
    }
}

/// A set reference or inline set on the right of a lookup, a vmap or a map.
fn parse_setref(
    key: &[Field],
    v: &Json,
    data: Option<DataTy>,
    names: &Names,
) -> Result<SetRef, EvalError> {
    if let Some(r) = v.as_str() {
        let name = names.set(r, key)?;
        if let Some(want) = data {
            let have = names.sets.get(&name).and_then(|s| s.data);
            if have != Some(want) {
                return fail(format!("@{name} is not a map to {want:?}"));
            }
        }
        return Ok(SetRef::Named(name));
    }
    match single(v) {
        Some(("set", Json::Array(items))) => {
            Ok(SetRef::Anon(Box::new(parse_anon(key, items, data, names)?)))
        }
        _ => fail(format!("unsupported set expression {}", short(v))),
    }
}

fn parse_match(body: &Json, names: &Names) -> Result<Stmt, EvalError> {
    let obj = body.as_object().ok_or_else(|| EvalError {
        message: format!("malformed match {}", short(body)),
    })?;
    let left = parse_expr(obj.get("left").unwrap_or(&Json::Null))?;
    let right = obj.get("right").unwrap_or(&Json::Null);
    let op_text = get_str(obj, "op", "match")?;
    let tys: Vec<Ty> = left.iter().map(|f| f.ty()).collect();
    let is_set = right.as_str().is_some_and(|s| s.starts_with('@'))
        || matches!(single(right), Some(("set", _)));
    if is_set {
        let op = match op_text {
            "==" | "in" => Op::Eq,
            "!=" => Op::Neq,
            other => return fail(format!("unsupported operator `{other}` on a set lookup")),
        };
        return Ok(Stmt::Match {
            op,
            right: Rhs::Set(parse_setref(&left, right, None, names)?),
            left,
        });
    }
    // `in` is how nft lists an implicit match on a bitmask type: "any of these bits".
    if op_text == "in" && tys.len() == 1 && tys[0].is_bitmask() {
        let items: Vec<&Json> = match right {
            Json::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let mut mask = 0u64;
        for item in items {
            let b = encode(tys[0], item)?;
            mask |= u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        }
        return Ok(Stmt::Match {
            left,
            op: Op::Eq,
            right: Rhs::Flags(mask),
        });
    }
    let op = match op_text {
        "==" | "in" => Op::Eq,
        "!=" => Op::Neq,
        "<" => Op::Lt,
        ">" => Op::Gt,
        "<=" => Op::Le,
        ">=" => Op::Ge,
        other => return fail(format!("unsupported match operator `{other}`")),
    };
    let (spans, _) = parse_key(&tys, right)?;
    if !matches!(op, Op::Eq | Op::Neq) && (spans.len() != 1 || spans[0].lo != spans[0].hi) {
        return fail(format!(
            "operator `{op_text}` needs a single value, got {}",
            short(right)
        ));
    }
    Ok(Stmt::Match {
        left,
        op,
        right: Rhs::Const(spans),
    })
}

/// Statements that only bound a rate (always passing in this model) or count.
fn check_passive_stmt(v: &Json) -> Result<(), EvalError> {
    match single(v) {
        Some(("limit", body)) if body.get("inv").and_then(Json::as_bool) != Some(true) => Ok(()),
        Some(("counter", _)) => Ok(()),
        _ => fail(format!(
            "unsupported statement in a set update: {}",
            short(v)
        )),
    }
}

fn parse_stmt(v: &Json, names: &Names, dynsets: &mut HashSet<String>) -> Result<Stmt, EvalError> {
    if let Some(j) = parse_verdict(v, names)? {
        return Ok(Stmt::Verdict(j));
    }
    let (kind, body) = single(v).ok_or_else(|| EvalError {
        message: format!("unsupported statement {}", short(v)),
    })?;
    match kind {
        "match" => parse_match(body, names),
        "counter" => match body {
            Json::String(name) => {
                if !names.counters.contains(name) {
                    return fail(format!("reference to unknown counter `{name}`"));
                }
                Ok(Stmt::Counter(Some(name.clone())))
            }
            Json::Null | Json::Object(_) => Ok(Stmt::Counter(None)),
            _ => fail(format!("unsupported counter statement {}", short(v))),
        },
        "limit" => {
            // A limit is taken to pass: the model is of a packet within its budget, so
            // `limit rate over` (which matches only over the rate) does not match.
            if body.get("inv").and_then(Json::as_bool) == Some(true) {
                return Ok(Stmt::LimitOver);
            }
            Ok(Stmt::Limit)
        }
        "log" => {
            let obj = body.as_object().ok_or_else(|| EvalError {
                message: format!("malformed log {}", short(v)),
            })?;
            for k in obj.keys() {
                if !matches!(
                    k.as_str(),
                    "prefix" | "group" | "snaplen" | "queue-threshold" | "level" | "flags"
                ) {
                    return fail(format!("unsupported log option `{k}`"));
                }
            }
            let group = match obj.get("group") {
                None => None,
                Some(g) => match g.as_u64().and_then(|g| u16::try_from(g).ok()) {
                    Some(g) => Some(g),
                    None => return fail(format!("bad log group {}", short(g))),
                },
            };
            Ok(Stmt::Log(LogRecord {
                prefix: obj
                    .get("prefix")
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .to_string(),
                group,
            }))
        }
        "set" => {
            let obj = body.as_object().ok_or_else(|| EvalError {
                message: format!("malformed set statement {}", short(v)),
            })?;
            let op = get_str(obj, "op", "set statement")?;
            if op != "update" && op != "add" {
                return fail(format!("unsupported set statement op `{op}`"));
            }
            let key = parse_expr(obj.get("elem").unwrap_or(&Json::Null))?;
            let name = names.set(get_str(obj, "set", "set statement")?, &key)?;
            if let Some(Json::Array(stmts)) = obj.get("stmt") {
                for s in stmts {
                    check_passive_stmt(s)?;
                }
            }
            dynsets.insert(name.clone());
            Ok(Stmt::Dynset { set: name, key })
        }
        "mangle" => {
            let obj = body.as_object().ok_or_else(|| EvalError {
                message: format!("malformed mangle {}", short(v)),
            })?;
            let target = obj.get("key").map(parse_field);
            if !matches!(target, Some(Ok(Field::CtMark))) {
                return fail(format!(
                    "unsupported statement: mangle of {}",
                    short(obj.get("key").unwrap_or(&Json::Null))
                ));
            }
            let value = obj.get("value").unwrap_or(&Json::Null);
            if let Some(("map", m)) = single(value) {
                let key = parse_expr(m.get("key").unwrap_or(&Json::Null))?;
                let map = parse_setref(
                    &key,
                    m.get("data").unwrap_or(&Json::Null),
                    Some(DataTy::Mark),
                    names,
                )?;
                return Ok(Stmt::SetCtMark(MarkValue::Map { key, map }));
            }
            match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => Ok(Stmt::SetCtMark(MarkValue::Const(n))),
                None => fail(format!("unsupported ct mark value {}", short(value))),
            }
        }
        "vmap" => {
            let key = parse_expr(body.get("key").unwrap_or(&Json::Null))?;
            let map = parse_setref(
                &key,
                body.get("data").unwrap_or(&Json::Null),
                Some(DataTy::Verdict),
                names,
            )?;
            Ok(Stmt::Vmap { key, map })
        }
        other => fail(format!("unsupported statement `{other}`: {}", short(v))),
    }
}

fn parse_set_object(
    obj: &Map<String, Json>,
    is_map: bool,
    names: &Names,
) -> Result<SetDef, EvalError> {
    let name = get_str(obj, "name", "set")?;
    let tys = match obj.get("type") {
        Some(Json::String(t)) => vec![Ty::from_name(t)?],
        Some(Json::Array(ts)) => ts
            .iter()
            .map(|t| match t.as_str() {
                Some(t) => Ty::from_name(t),
                None => fail(format!("set {name}: malformed type")),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return fail(format!(
                "set {name}: no `type` (typeof sets are not supported)"
            ))
        }
    };
    let data = if is_map {
        match obj.get("map").and_then(Json::as_str) {
            Some("mark") => Some(DataTy::Mark),
            Some("verdict") => Some(DataTy::Verdict),
            other => return fail(format!("map {name}: unsupported data type {other:?}")),
        }
    } else {
        None
    };
    let flags = flags_of(obj);
    let mut elems = Vec::new();
    if let Some(items) = obj.get("elem") {
        let items = items.as_array().ok_or_else(|| EvalError {
            message: format!("set {name}: malformed elem list"),
        })?;
        for item in items {
            elems.push(parse_elem(&tys, data, item, names).map_err(|e| EvalError {
                message: format!("set {name}: {}", e.message),
            })?);
        }
    }
    Ok(SetDef {
        label: format!("@{name}"),
        key_tys: tys,
        data,
        dynamic: flags.iter().any(|f| f == "dynamic" || f == "timeout"),
        elems,
    })
}

impl Ruleset {
    /// Parses the JSON printed by `nft -j list table inet <name>`.
    ///
    /// Fails, naming the construct, on anything the evaluator does not model: another
    /// family, a second table, a hook other than prerouting/input/forward/output, a chain
    /// type other than `filter`, or an unknown statement, expression, set type or object.
    pub fn from_json(text: &str) -> Result<Ruleset, EvalError> {
        let root: Json = serde_json::from_str(text).map_err(|e| EvalError {
            message: format!("not JSON: {e}"),
        })?;
        let objects = match root.get("nftables").and_then(Json::as_array) {
            Some(a) => a,
            None => return fail("no top-level `nftables` array"),
        };

        // Pass 1: table, counters, sets, chain headers. Rules come after, so jump targets
        // and set references can be checked while rules are parsed.
        let mut table: Option<String> = None;
        let mut counters = HashSet::new();
        let mut chains: Vec<Chain> = Vec::new();
        let mut chain_ix: HashMap<String, (usize, bool)> = HashMap::new();
        let mut set_objs = Vec::new();
        let mut rule_objs = Vec::new();
        for o in objects {
            let (kind, body) = single(o).ok_or_else(|| EvalError {
                message: format!("malformed listing object {}", short(o)),
            })?;
            let obj = match body.as_object() {
                Some(obj) => obj,
                None => return fail(format!("malformed `{kind}` object")),
            };
            if kind != "metainfo" {
                let family = get_str(obj, "family", kind)?;
                if family != "inet" {
                    return fail(format!(
                        "unsupported family `{family}` (only inet is modelled)"
                    ));
                }
                let tname = if kind == "table" {
                    get_str(obj, "name", kind)?
                } else {
                    get_str(obj, "table", kind)?
                };
                match &table {
                    None => table = Some(tname.to_string()),
                    Some(t) if t == tname => {}
                    Some(t) => return fail(format!("more than one table (`{t}` and `{tname}`)")),
                }
            }
            match kind {
                "metainfo" | "table" => {}
                "counter" => {
                    counters.insert(get_str(obj, "name", "counter")?.to_string());
                }
                "set" | "map" => set_objs.push((obj, kind == "map")),
                "chain" => {
                    let name = get_str(obj, "name", "chain")?.to_string();
                    let base = match obj.get("hook") {
                        None => None,
                        Some(h) => {
                            let h = h.as_str().unwrap_or("");
                            let hook = match Hook::from_nft(h) {
                                Some(hook) => hook,
                                None => {
                                    return fail(format!("chain {name}: unsupported hook `{h}`"))
                                }
                            };
                            let ty = obj.get("type").and_then(Json::as_str).unwrap_or("");
                            if ty != "filter" {
                                return fail(format!(
                                    "chain {name}: unsupported chain type `{ty}`"
                                ));
                            }
                            let priority = match obj.get("prio").and_then(Json::as_i64) {
                                Some(p) => p,
                                None => return fail(format!("chain {name}: no numeric prio")),
                            };
                            let policy = match obj.get("policy").and_then(Json::as_str) {
                                None | Some("accept") => Verdict::Accept,
                                Some("drop") => Verdict::Drop,
                                Some(p) => {
                                    return fail(format!("chain {name}: unsupported policy `{p}`"))
                                }
                            };
                            Some(BaseInfo {
                                hook,
                                priority,
                                policy,
                            })
                        }
                    };
                    if chain_ix.contains_key(&name) {
                        return fail(format!("chain {name} listed twice"));
                    }
                    chain_ix.insert(name.clone(), (chains.len(), base.is_some()));
                    chains.push(Chain {
                        name,
                        base,
                        rules: Vec::new(),
                    });
                }
                "rule" => rule_objs.push(obj),
                other => return fail(format!("unsupported object `{other}`")),
            }
        }
        let table = match table {
            Some(t) => t,
            None => return fail("the listing holds no table"),
        };

        // Sets: named verdict maps may refer to chains, so they need the chain index.
        let mut sets = HashMap::new();
        {
            let empty = HashMap::new();
            let names = Names {
                chains: &chain_ix,
                sets: &empty,
                counters: &counters,
            };
            for (obj, is_map) in set_objs {
                let set = parse_set_object(obj, is_map, &names)?;
                sets.insert(get_str(obj, "name", "set")?.to_string(), set);
            }
        }

        // Pass 2: rules, in listing order (which is chain order).
        let mut dynsets = HashSet::new();
        {
            let names = Names {
                chains: &chain_ix,
                sets: &sets,
                counters: &counters,
            };
            for obj in rule_objs {
                let chain = get_str(obj, "chain", "rule")?;
                let handle = obj.get("handle").and_then(Json::as_u64).unwrap_or(0);
                let ci = match chain_ix.get(chain) {
                    Some((i, _)) => *i,
                    None => {
                        return fail(format!("rule handle {handle} in unknown chain `{chain}`"))
                    }
                };
                let exprs = match obj.get("expr").and_then(Json::as_array) {
                    Some(e) => e,
                    None => {
                        return fail(format!("chain {chain} rule handle {handle}: no expr list"))
                    }
                };
                let mut stmts = Vec::new();
                for e in exprs {
                    stmts.push(
                        parse_stmt(e, &names, &mut dynsets).map_err(|err| EvalError {
                            message: format!("chain {chain} rule handle {handle}: {}", err.message),
                        })?,
                    );
                }
                chains[ci].rules.push(Rule { handle, stmts });
            }
        }
        for name in dynsets {
            if let Some(s) = sets.get_mut(&name) {
                s.dynamic = true;
            }
        }

        let mut base_order: Vec<usize> = (0..chains.len())
            .filter(|&i| chains[i].base.is_some())
            .collect();
        // Stable: equal priorities keep listing (creation) order, as hook registration does.
        base_order.sort_by_key(|&i| chains[i].base.as_ref().map_or(0, |b| b.priority));

        Ok(Ruleset {
            table,
            sets,
            counters,
            chains,
            base_order,
        })
    }

    /// The table's name.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// The named counters the table declares.
    pub fn counter_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.counters.iter().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// The base chains of `hook` with their priorities, in evaluation order.
    pub fn base_chains(&self, hook: Hook) -> Vec<(&str, i64)> {
        self.base_order
            .iter()
            .filter_map(|&i| {
                let c = &self.chains[i];
                c.base
                    .as_ref()
                    .filter(|b| b.hook == hook)
                    .map(|b| (c.name.as_str(), b.priority))
            })
            .collect()
    }

    /// Evaluates `pkt` at one hook: every base chain of the hook in priority order.
    pub fn eval(&self, hook: Hook, pkt: &Packet) -> Outcome {
        self.eval_path(&[hook], pkt)
    }

    /// Evaluates `pkt` along a path of hooks (`[Prerouting, Forward]` for a forwarded
    /// packet, `[Prerouting, Input]` for one to the gateway), stopping at the first drop.
    /// A `ct mark set` in an earlier hook is seen by the later ones.
    pub fn eval_path(&self, hooks: &[Hook], pkt: &Packet) -> Outcome {
        let mut out = Outcome::start(pkt);
        if pkt.saddr.is_ipv6() != pkt.daddr.is_ipv6() {
            out.undetermined.push(format!(
                "packet mixes address families: {} -> {}",
                pkt.saddr, pkt.daddr
            ));
        }
        for &hook in hooks {
            for &ci in &self.base_order {
                let chain = &self.chains[ci];
                let base = match &chain.base {
                    Some(b) if b.hook == hook => b,
                    _ => continue,
                };
                out.trace.push(format!(
                    "hook {}: base chain {} (priority {}, policy {})",
                    hook.name(),
                    chain.name,
                    base.priority,
                    verdict_name(base.policy)
                ));
                let mut run = Run {
                    rs: self,
                    pkt,
                    hook,
                    ct_attached: hook.conntrack_attached(base.priority),
                    out: &mut out,
                    updated: HashSet::new(),
                };
                let v = run.base_chain(ci, base.policy);
                if v == Verdict::Drop {
                    out.verdict = Verdict::Drop;
                    return out;
                }
            }
        }
        out.verdict = Verdict::Accept;
        out
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Accept => "accept",
        Verdict::Drop => "drop",
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------

/// A loaded key: one value per field, `None` where the model does not know the bytes.
struct Key {
    parts: Vec<Option<Vec<u8>>>,
    unknown: Vec<String>,
}

/// Three-valued match: the model may not know enough to decide.
enum Tri {
    Yes,
    No,
    Maybe(String),
}

enum Lookup<'a> {
    Hit(&'a Elem),
    Miss,
    Ambiguous(String),
}

/// What a rule did.
enum Flow {
    /// No verdict (statements ran out, a match failed, or the rule broke): next rule.
    Next,
    Verdict(Action),
}

struct Run<'a> {
    rs: &'a Ruleset,
    pkt: &'a Packet,
    hook: Hook,
    /// Whether conntrack has run before this base chain.
    ct_attached: bool,
    out: &'a mut Outcome,
    /// (set, key) pairs this packet has added to run-time sets.
    updated: HashSet<(String, Vec<u8>)>,
}

impl Run<'_> {
    fn has_ct_entry(&self) -> bool {
        self.ct_attached && self.pkt.ct.state.has_entry()
    }

    /// Loads one field: `Ok(Some(bytes))`, `Ok(None)` for bytes the model lacks, or
    /// `Err(reason)` when the kernel would end the rule (a failed dependency or a key the
    /// packet does not have).
    fn load(&self, f: Field) -> Result<Option<Vec<u8>>, String> {
        let p = self.pkt;
        let v6 = p.is_ipv6();
        let need_v4 = |what: &str| {
            if v6 {
                Err(format!("{what}: not an IPv4 packet"))
            } else {
                Ok(())
            }
        };
        let need_v6 = |what: &str| {
            if v6 {
                Ok(())
            } else {
                Err(format!("{what}: not an IPv6 packet"))
            }
        };
        let need_l4 = |proto: u8, what: &str| {
            if p.l4proto == proto {
                Ok(())
            } else {
                Err(format!("{what}: L4 protocol is {}", p.l4proto))
            }
        };
        let addr = |a: IpAddr| match a {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let port = |v: Option<u16>| v.map(|v| v.to_be_bytes().to_vec());
        let ct_entry = || {
            if self.has_ct_entry() {
                Ok(())
            } else if !self.ct_attached {
                Err(format!(
                    "{}: conntrack has not run yet at this priority",
                    f.name()
                ))
            } else {
                Err(format!("{}: the packet has no conntrack entry", f.name()))
            }
        };
        Ok(match f {
            Field::Iifname => {
                let name = if self.hook.has_input_device() {
                    p.iifname.as_str()
                } else {
                    ""
                };
                Some(ifname_bytes(name).ok_or_else(|| format!("iifname {name:?} too long"))?)
            }
            Field::Oifname => {
                let name = if self.hook.has_output_device() {
                    p.oifname.as_str()
                } else {
                    ""
                };
                Some(ifname_bytes(name).ok_or_else(|| format!("oifname {name:?} too long"))?)
            }
            Field::L4proto => Some(vec![p.l4proto]),
            Field::Nfproto => Some(vec![if v6 { 10 } else { 2 }]),
            Field::MetaMark => Some(p.meta_mark.to_be_bytes().to_vec()),
            Field::Const(n) => Some(n.to_be_bytes().to_vec()),
            Field::MetaLength => Some(p.length.to_be_bytes().to_vec()),
            // No IPv4 options are modelled: the header is 5 words.
            Field::IpHdrlength => {
                need_v4(f.name())?;
                Some(vec![5])
            }
            Field::IpSaddr | Field::IpDaddr | Field::IpProtocol | Field::IpTtl => {
                need_v4(f.name())?;
                match f {
                    Field::IpSaddr => Some(addr(p.saddr)),
                    Field::IpDaddr => Some(addr(p.daddr)).filter(|a| a.len() == 4),
                    Field::IpProtocol => Some(vec![p.l4proto]),
                    _ => Some(vec![p.hoplimit]),
                }
            }
            Field::Ip6Saddr | Field::Ip6Daddr | Field::Ip6Nexthdr | Field::Ip6Hoplimit => {
                need_v6(f.name())?;
                match f {
                    Field::Ip6Saddr => Some(addr(p.saddr)),
                    Field::Ip6Daddr => Some(addr(p.daddr)).filter(|a| a.len() == 16),
                    Field::Ip6Nexthdr => Some(vec![p.l4proto]),
                    _ => Some(vec![p.hoplimit]),
                }
            }
            // `th` has no dependency: it reads the transport header, whatever it is.
            Field::ThSport => port(p.sport),
            Field::ThDport => port(p.dport),
            Field::TcpSport | Field::TcpDport => {
                need_l4(proto::TCP, f.name())?;
                port(if f == Field::TcpSport {
                    p.sport
                } else {
                    p.dport
                })
            }
            Field::UdpSport | Field::UdpDport => {
                need_l4(proto::UDP, f.name())?;
                port(if f == Field::UdpSport {
                    p.sport
                } else {
                    p.dport
                })
            }
            Field::IcmpType => {
                need_v4(f.name())?;
                need_l4(proto::ICMP, f.name())?;
                p.icmp_type.map(|t| vec![t])
            }
            Field::Icmpv6Type => {
                need_v6(f.name())?;
                need_l4(proto::ICMPV6, f.name())?;
                p.icmp_type.map(|t| vec![t])
            }
            Field::EtherSaddr => {
                // The dependency is `meta iiftype ether`, which breaks without an input device.
                if !self.hook.has_input_device() {
                    return Err("ether saddr: no input device".to_string());
                }
                match p.ether_saddr {
                    Some(m) => Some(m.to_vec()),
                    None => return Err("ether saddr: no Ethernet header".to_string()),
                }
            }
            Field::CtState => {
                let bits = if self.ct_attached {
                    p.ct.state.bits()
                } else {
                    CtState::Invalid.bits()
                };
                Some(bits.to_be_bytes().to_vec())
            }
            Field::CtStatus => {
                ct_entry()?;
                Some(p.ct.status.to_be_bytes().to_vec())
            }
            Field::CtDirection => {
                ct_entry()?;
                Some(vec![match p.ct.direction {
                    CtDirection::Original => 0,
                    CtDirection::Reply => 1,
                }])
            }
            Field::CtMark => {
                ct_entry()?;
                Some(self.out.ct_mark.to_be_bytes().to_vec())
            }
        })
    }

    fn load_key(&self, fields: &[Field]) -> Result<Key, String> {
        let mut key = Key {
            parts: Vec::with_capacity(fields.len()),
            unknown: Vec::new(),
        };
        for &f in fields {
            let v = self.load(f)?;
            if v.is_none() {
                key.unknown.push(format!(
                    "{} of a packet with L4 protocol {} reads header bytes the model does not have",
                    f.name(),
                    self.pkt.l4proto
                ));
            }
            key.parts.push(v);
        }
        Ok(key)
    }

    fn set_def<'s>(&'s self, r: &'s SetRef) -> Option<&'s SetDef> {
        match r {
            SetRef::Named(n) => self.rs.sets.get(n),
            SetRef::Anon(s) => Some(s),
        }
    }

    fn lookup<'s>(&self, set: &'s SetDef, key: &Key) -> Lookup<'s> {
        if set.dynamic {
            return Lookup::Ambiguous(format!("{} is updated at run time", set.label));
        }
        let mut yes: Vec<&Elem> = Vec::new();
        let mut maybe = 0usize;
        for e in &set.elems {
            match spans_match(&e.key, key) {
                Tri::Yes => yes.push(e),
                Tri::Maybe(_) => maybe += 1,
                Tri::No => {}
            }
        }
        if maybe > 0 {
            return Lookup::Ambiguous(format!(
                "{}: {maybe} element(s) may match: {}",
                set.label,
                key.unknown.join("; ")
            ));
        }
        match yes.split_first() {
            None => Lookup::Miss,
            Some((first, rest)) => {
                if rest.iter().all(|e| e.data == first.data) {
                    Lookup::Hit(first)
                } else {
                    Lookup::Ambiguous(format!(
                        "{}: {} overlapping elements map to different values",
                        set.label,
                        yes.len()
                    ))
                }
            }
        }
    }

    fn note_hit(&mut self, e: &Elem) {
        if let Some(c) = &e.comment {
            self.out.element_comments.push(c.clone());
        }
    }

    fn undetermined(&mut self, at: &str, why: String) {
        self.out.undetermined.push(format!("{at}: {why}"));
    }

    /// Runs one rule. A match failure or a break ends it with [`Flow::Next`].
    fn rule(&mut self, ci: usize, rule: &Rule) -> Flow {
        let at = format!("{}#{}", self.rs.chains[ci].name, rule.handle);
        let mut did: Vec<String> = Vec::new();
        for stmt in &rule.stmts {
            match stmt {
                Stmt::Match { left, op, right } => {
                    let key = match self.load_key(left) {
                        Ok(k) => k,
                        Err(_) => return Flow::Next,
                    };
                    let tri = match right {
                        Rhs::Const(spans) => match op {
                            Op::Eq | Op::Neq => spans_match(spans, &key),
                            _ => compare(*op, &spans[0].lo, &key),
                        },
                        Rhs::Flags(mask) => match key.parts.first() {
                            Some(Some(v)) => {
                                let n = v.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                                if n & mask != 0 {
                                    Tri::Yes
                                } else {
                                    Tri::No
                                }
                            }
                            _ => Tri::Maybe(key.unknown.join("; ")),
                        },
                        Rhs::Set(r) => match self.set_def(r) {
                            None => Tri::Maybe("reference to a missing set".to_string()),
                            // A run-time set holds what this packet put there (the model's
                            // sets have room); anything else is unknown.
                            Some(set) if set.dynamic => {
                                let bytes = key.parts.iter().cloned().collect::<Option<Vec<_>>>();
                                match (r, bytes) {
                                    (SetRef::Named(n), Some(b))
                                        if self.updated.contains(&(n.clone(), b.concat())) =>
                                    {
                                        Tri::Yes
                                    }
                                    _ => {
                                        Tri::Maybe(format!("{} is updated at run time", set.label))
                                    }
                                }
                            }
                            Some(set) => match self.lookup(set, &key) {
                                Lookup::Hit(e) => {
                                    let e = e.clone();
                                    self.note_hit(&e);
                                    Tri::Yes
                                }
                                Lookup::Miss => Tri::No,
                                Lookup::Ambiguous(why) => Tri::Maybe(why),
                            },
                        },
                    };
                    let tri = match (op, tri) {
                        (Op::Neq, Tri::Yes) => Tri::No,
                        (Op::Neq, Tri::No) => Tri::Yes,
                        (_, t) => t,
                    };
                    match tri {
                        Tri::Yes => {}
                        Tri::No => return Flow::Next,
                        Tri::Maybe(why) => {
                            self.undetermined(&at, why);
                            return Flow::Next;
                        }
                    }
                }
                Stmt::Counter(Some(name)) => {
                    self.out.counters.push(name.clone());
                    did.push(format!("counter {name}"));
                }
                Stmt::Counter(None) => did.push("counter".to_string()),
                Stmt::Limit => {}
                Stmt::LimitOver => return Flow::Next,
                Stmt::Log(l) => {
                    self.out.logs.push(l.clone());
                    did.push(format!("log {:?}", l.prefix));
                }
                Stmt::Dynset { set, key } => {
                    // Only the key's dependencies matter; the per-key limit is taken to pass.
                    let Ok(k) = self.load_key(key) else {
                        return Flow::Next;
                    };
                    if let Some(bytes) = k.parts.into_iter().collect::<Option<Vec<_>>>() {
                        self.updated.insert((set.clone(), bytes.concat()));
                    }
                }
                Stmt::SetCtMark(value) => {
                    let mark = match value {
                        MarkValue::Const(m) => *m,
                        MarkValue::Map { key, map } => {
                            let k = match self.load_key(key) {
                                Ok(k) => k,
                                Err(_) => return Flow::Next,
                            };
                            let set = match self.set_def(map) {
                                Some(s) => s,
                                None => return Flow::Next,
                            };
                            let label = set.label.clone();
                            match self.lookup(set, &k) {
                                Lookup::Hit(e) => {
                                    let e = e.clone();
                                    self.note_hit(&e);
                                    match e.data {
                                        Some(Data::Mark(m)) => {
                                            did.push(format!(
                                                "{label} hit{}",
                                                e.comment
                                                    .as_ref()
                                                    .map(|c| format!(" {c:?}"))
                                                    .unwrap_or_default()
                                            ));
                                            m
                                        }
                                        _ => return Flow::Next,
                                    }
                                }
                                // A map miss is NFT_BREAK: the rule stops, the chain goes on.
                                Lookup::Miss => return Flow::Next,
                                Lookup::Ambiguous(why) => {
                                    self.undetermined(&at, why);
                                    return Flow::Next;
                                }
                            }
                        }
                    };
                    if self.has_ct_entry() {
                        self.out.ct_mark = mark;
                        did.push(format!("ct mark set {mark:#010x}"));
                    } else {
                        did.push(format!(
                            "ct mark set {mark:#010x} ignored (no conntrack entry)"
                        ));
                    }
                }
                Stmt::Vmap { key, map } => {
                    let k = match self.load_key(key) {
                        Ok(k) => k,
                        Err(_) => return Flow::Next,
                    };
                    let set = match self.set_def(map) {
                        Some(s) => s,
                        None => return Flow::Next,
                    };
                    let label = set.label.clone();
                    match self.lookup(set, &k) {
                        Lookup::Hit(e) => {
                            let e = e.clone();
                            self.note_hit(&e);
                            if let Some(Data::Verdict(j)) = e.data {
                                did.push(format!("vmap {label}"));
                                return self.finish(&at, did, j);
                            }
                            return Flow::Next;
                        }
                        Lookup::Miss => return Flow::Next,
                        Lookup::Ambiguous(why) => {
                            self.undetermined(&at, why);
                            return Flow::Next;
                        }
                    }
                }
                Stmt::Verdict(j) => return self.finish(&at, did, *j),
            }
        }
        if !did.is_empty() {
            self.out.trace.push(format!("{at}: {}", did.join(", ")));
        }
        Flow::Next
    }

    fn finish(&mut self, at: &str, mut did: Vec<String>, j: Action) -> Flow {
        did.push(self.jump_name(j));
        self.out.trace.push(format!("{at}: {}", did.join(", ")));
        if j == Action::Continue {
            Flow::Next
        } else {
            Flow::Verdict(j)
        }
    }

    fn jump_name(&self, j: Action) -> String {
        let name = |i: usize| self.rs.chains.get(i).map_or("?", |c| c.name.as_str());
        match j {
            Action::Accept => "accept".to_string(),
            Action::Drop => "drop".to_string(),
            Action::Continue => "continue".to_string(),
            Action::Return => "return".to_string(),
            Action::Jump(i) => format!("jump {}", name(i)),
            Action::Goto(i) => format!("goto {}", name(i)),
        }
    }

    /// Runs one base chain to its verdict, following jumps and gotos.
    fn base_chain(&mut self, base: usize, policy: Verdict) -> Verdict {
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let (mut ci, mut ri) = (base, 0usize);
        for _ in 0..MAX_STEPS {
            let chain = &self.rs.chains[ci];
            let flow = match chain.rules.get(ri) {
                Some(rule) => self.rule(ci, rule),
                // The end of a chain is an implicit return.
                None => Flow::Verdict(Action::Return),
            };
            match flow {
                Flow::Next => ri += 1,
                Flow::Verdict(Action::Accept) => return Verdict::Accept,
                Flow::Verdict(Action::Drop) => return Verdict::Drop,
                Flow::Verdict(Action::Continue) => ri += 1,
                Flow::Verdict(Action::Return) => match stack.pop() {
                    Some((c, r)) => {
                        if ri >= chain.rules.len() {
                            self.out
                                .trace
                                .push(format!("end of chain {}: return", chain.name));
                        }
                        ci = c;
                        ri = r;
                    }
                    None => {
                        self.out.trace.push(format!(
                            "{}: policy {}",
                            self.rs.chains[base].name,
                            verdict_name(policy)
                        ));
                        return policy;
                    }
                },
                Flow::Verdict(Action::Jump(t)) => {
                    if stack.len() >= JUMP_STACK_SIZE {
                        let at = chain.name.clone();
                        self.undetermined(&at, "jump stack overflow".to_string());
                        return Verdict::Drop;
                    }
                    stack.push((ci, ri + 1));
                    ci = t;
                    ri = 0;
                }
                Flow::Verdict(Action::Goto(t)) => {
                    ci = t;
                    ri = 0;
                }
            }
        }
        let at = self.rs.chains[base].name.clone();
        self.undetermined(
            &at,
            format!("more than {MAX_STEPS} rule evaluations (a loop?)"),
        );
        Verdict::Drop
    }
}

/// Matches a key against one span per field; an unknown field may or may not match.
fn spans_match(spans: &[Span], key: &Key) -> Tri {
    if spans.len() != key.parts.len() {
        return Tri::No;
    }
    let mut unknown = false;
    for (s, part) in spans.iter().zip(&key.parts) {
        match part {
            Some(v) => {
                if !s.contains(v) {
                    return Tri::No;
                }
            }
            None => unknown = true,
        }
    }
    if unknown {
        Tri::Maybe(key.unknown.join("; "))
    } else {
        Tri::Yes
    }
}

fn compare(op: Op, bound: &[u8], key: &Key) -> Tri {
    match key.parts.first() {
        Some(Some(v)) => {
            let ord = v.as_slice().cmp(bound);
            let yes = match op {
                Op::Lt => ord.is_lt(),
                Op::Gt => ord.is_gt(),
                Op::Le => ord.is_le(),
                Op::Ge => ord.is_ge(),
                Op::Eq => ord.is_eq(),
                Op::Neq => ord.is_ne(),
            };
            if yes {
                Tri::Yes
            } else {
                Tri::No
            }
        }
        _ => Tri::Maybe(key.unknown.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_wildcard_spans() {
        let s = parse_span(
            Ty::Ipv4,
            &serde_json::json!({"prefix": {"addr": "10.20.0.0", "len": 22}}),
        )
        .unwrap();
        assert_eq!(s.lo, vec![10, 20, 0, 0]);
        assert_eq!(s.hi, vec![10, 20, 3, 255]);
        let w = parse_span(Ty::Ifname, &serde_json::json!("eth*")).unwrap();
        assert!(w.contains(&ifname_bytes("eth0").unwrap()));
        assert!(w.contains(&ifname_bytes("eth").unwrap()));
        assert!(!w.contains(&ifname_bytes("ens3").unwrap()));
        let r = parse_span(
            Ty::IcmpType,
            &serde_json::json!({"range": ["echo-reply", 255]}),
        )
        .unwrap();
        assert_eq!((r.lo, r.hi), (vec![0], vec![255]));
    }
}
