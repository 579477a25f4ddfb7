//! The validated policy. A `Policy` is valid by construction: every reference resolves, every
//! address is a literal of a known zone, every name is safe to place in an nft ruleset. Positions
//! are kept so later stages (guardrails, explain, matrix) can point at the file.

use crate::date::Date;
use crate::diagnostic::Position;
use crate::net::{Cidr, Family, Ownership, Range};
use crate::ports::PortSpec;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The name `from`/`to` use for the gateway itself.
pub const GATEWAY: &str = "gateway";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    ThreeTier,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkModel {
    Alpha,
    AlphaPrime,
    Beta,
    BetaPrime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IntraZone {
    Accept,
    Drop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ZoneRole {
    Mynumber,
    Lgwan,
    Internet,
    External,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    MynumberLike,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostRole {
    MailRelay,
    ScreenTransfer,
    FileSanitizer,
    UpdateRelay,
    CloudService,
}

impl HostRole {
    pub fn is_sanitiser(self) -> bool {
        !matches!(self, HostRole::CloudService)
    }
}

/// NFLOG settings; the agent takes the group from the compiled metadata, never from its own config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogSettings {
    pub group: u16,
    /// Packets per `unit`.
    pub rate: u32,
    pub unit: RateUnit,
    pub burst: u32,
    /// Room in each per-key count table (keys of denied packets: code, source, destination,
    /// protocol, port). Left out of the canonical form at its default, so policies that do not
    /// set it keep their hash.
    #[serde(skip_serializing_if = "LogSettings::default_key_table")]
    pub key_table: u32,
}

impl LogSettings {
    /// Default room in a per-key count table.
    pub const DEFAULT_KEY_TABLE: u32 = 65536;

    fn default_key_table(n: &u32) -> bool {
        *n == Self::DEFAULT_KEY_TABLE
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RateUnit {
    Second,
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    pub fn name(self) -> &'static str {
        match self {
            RateUnit::Second => "second",
            RateUnit::Minute => "minute",
            RateUnit::Hour => "hour",
            RateUnit::Day => "day",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Zone {
    pub name: String,
    pub role: Option<ZoneRole>,
    pub display_name: Option<String>,
    pub networks: Vec<Cidr>,
    pub isolation: Option<Isolation>,
    /// Routers inside the zone (`routers = [...]`): besides a connection's peer, the only
    /// senders whose ICMP errors about a live connection may cross into another zone (path
    /// MTU discovery and unreachables from routers behind the gateway). Left out of the
    /// canonical form when empty, so policies without it keep their hash.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routers: Vec<IpAddr>,
    #[serde(skip)]
    pub at: Position,
}

impl Zone {
    pub fn families(&self) -> BTreeSet<Family> {
        self.networks.iter().map(|n| n.family).collect()
    }
    /// My Number rules apply: the mynumber role or `isolation = "mynumber-like"`.
    pub fn is_mynumber_like(&self) -> bool {
        self.role == Some(ZoneRole::Mynumber) || self.isolation == Some(Isolation::MynumberLike)
    }
    /// Alerts touching it are high severity and its log budget is separate.
    pub fn is_sensitive(&self) -> bool {
        self.is_mynumber_like() || self.isolation == Some(Isolation::Critical)
    }
    pub fn label(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    pub zone: String,
    pub addresses: Vec<IpAddr>,
    pub mac: Option<String>,
    pub role: Option<HostRole>,
    pub ports: Vec<PortSpec>,
    #[serde(skip)]
    pub at: Position,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub name: String,
    pub zone: String,
    pub members: Vec<String>,
    /// Every host reached through members and nested groups.
    pub hosts: BTreeSet<String>,
    #[serde(skip)]
    pub at: Position,
}

/// What `from`/`to` names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Endpoint {
    Zone(String),
    Host(String),
    Group(String),
    Gateway,
}

impl Endpoint {
    pub fn name(&self) -> &str {
        match self {
            Endpoint::Zone(n) | Endpoint::Host(n) | Endpoint::Group(n) => n,
            Endpoint::Gateway => GATEWAY,
        }
    }
}

/// Where each part of a flow was written, for findings about it.
#[derive(Debug, Clone, Default)]
pub struct FlowPositions {
    pub flow: Position,
    pub id: Position,
    pub from: Position,
    pub to: Position,
    pub ports: Position,
    pub expires: Position,
}

#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    pub id: String,
    pub from: Endpoint,
    pub to: Endpoint,
    /// Zone of each end (None for the gateway).
    pub from_zone: Option<String>,
    pub to_zone: Option<String>,
    /// The union of `services` and `ports`, sorted.
    pub specs: Vec<PortSpec>,
    pub services: Vec<String>,
    pub purpose: Option<String>,
    pub approved_by: Option<String>,
    pub expires: Option<Date>,
    pub l2_control: Option<String>,
    pub exception: Option<String>,
    /// The connection-tracking mark that names this flow in the kernel.
    pub mark: u32,
    /// Past `expires` on the day the policy was validated for: kept for reports, never compiled.
    #[serde(skip)]
    pub expired: bool,
    #[serde(skip)]
    pub at: FlowPositions,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gateway {
    pub name: String,
    /// Interface name -> zone name.
    pub interfaces: BTreeMap<String, String>,
    /// Interfaces on which the gateway is a DHCP client.
    pub dhcp_client: Vec<String>,
    #[serde(skip)]
    pub at: Position,
}

impl Gateway {
    pub fn interfaces_of(&self, zone: &str) -> Vec<&str> {
        self.interfaces
            .iter()
            .filter(|(_, z)| z.as_str() == zone)
            .map(|(i, _)| i.as_str())
            .collect()
    }
    pub fn zone_of(&self, iface: &str) -> Option<&str> {
        self.interfaces.get(iface).map(String::as_str)
    }
    /// Zones with at least one interface here, sorted.
    pub fn zones(&self) -> BTreeSet<&str> {
        self.interfaces.values().map(String::as_str).collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    #[serde(skip)]
    pub file: String,
    pub name: String,
    pub revision: String,
    pub profile: Profile,
    pub network_model: NetworkModel,
    pub timezone: String,
    pub intra_zone: IntraZone,
    pub log: LogSettings,
    pub strict_mac: bool,
    pub max_port_range: u32,
    pub min_agent_version: Option<String>,
    pub zones: BTreeMap<String, Zone>,
    pub hosts: BTreeMap<String, Host>,
    pub groups: BTreeMap<String, Group>,
    pub services: BTreeMap<String, Vec<PortSpec>>,
    /// Sorted by id.
    pub flows: Vec<Flow>,
    pub gateways: BTreeMap<String, Gateway>,
    /// The day expiry was evaluated for.
    #[serde(skip)]
    pub today: Option<Date>,
    /// SHA-256 of the canonical form (formatting, comments and key order do not change it).
    #[serde(skip)]
    pub canonical_sha256: String,
    /// SHA-256 of the exact bytes read.
    #[serde(skip)]
    pub source_sha256: String,
    #[serde(skip)]
    pub ownership: Ownership<String>,
    #[serde(skip)]
    pub positions: PolicyPositions,
}

/// Positions of policy-level keys.
#[derive(Debug, Clone, Default)]
pub struct PolicyPositions {
    pub policy: Position,
    pub timezone: Position,
    pub strict_mac: Position,
}

impl Policy {
    /// The zone an address belongs to (most specific network wins).
    pub fn zone_of_addr(&self, addr: &IpAddr) -> Option<&Zone> {
        self.ownership
            .owner_of(addr)
            .and_then(|z| self.zones.get(z))
    }

    /// The zone an endpoint lies in; None for the gateway.
    pub fn endpoint_zone<'a>(&'a self, e: &'a Endpoint) -> Option<&'a str> {
        match e {
            Endpoint::Zone(z) => Some(z),
            Endpoint::Host(h) => self.hosts.get(h).map(|h| h.zone.as_str()),
            Endpoint::Group(g) => self.groups.get(g).map(|g| g.zone.as_str()),
            Endpoint::Gateway => None,
        }
    }

    /// Hosts an endpoint stands for (empty for zones and the gateway).
    pub fn endpoint_hosts(&self, e: &Endpoint) -> Vec<&Host> {
        match e {
            Endpoint::Host(h) => self.hosts.get(h).into_iter().collect(),
            Endpoint::Group(g) => self
                .groups
                .get(g)
                .map(|g| g.hosts.iter().filter_map(|h| self.hosts.get(h)).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The addresses an endpoint covers, merged. A zone end is the whole address space of the
    /// families its networks use: the interface already binds packets to the zone (anti-spoof on
    /// the source side, the egress interface on the destination side), so routed destinations
    /// beyond the zone's own networks still count as the zone.
    pub fn endpoint_ranges(&self, e: &Endpoint) -> Vec<Range> {
        match e {
            Endpoint::Zone(z) => self
                .zones
                .get(z)
                .map(|z| z.families().into_iter().map(Range::full).collect())
                .unwrap_or_default(),
            Endpoint::Host(_) | Endpoint::Group(_) => crate::net::merge(
                self.endpoint_hosts(e)
                    .iter()
                    .flat_map(|h| h.addresses.iter().map(|a| Cidr::host(*a).range()))
                    .collect(),
            ),
            Endpoint::Gateway => vec![Range::full(Family::V4), Range::full(Family::V6)],
        }
    }

    pub fn active_flows(&self) -> impl Iterator<Item = &Flow> {
        self.flows.iter().filter(|f| !f.expired)
    }

    /// Human form of a position: `zones.toml:12`.
    pub fn locate(&self, at: Position) -> String {
        format!("{}:{}", self.file, at.line)
    }
}

/// The one error for a gateway the policy does not declare (compile, explain and matrix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the policy declares no gateway {name:?} (declared: {known})")]
pub struct UnknownGateway {
    pub name: String,
    /// The declared gateways, comma-separated.
    pub known: String,
}

impl Policy {
    /// The gateway named `name`, or the error that lists the declared ones.
    pub fn gateway(&self, name: &str) -> Result<&Gateway, UnknownGateway> {
        self.gateways.get(name).ok_or_else(|| UnknownGateway {
            name: name.to_string(),
            known: self.gateways.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}
