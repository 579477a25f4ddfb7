//! What the agent needs to know about a compiled ruleset beyond its text: the NFLOG group, what
//! each short log prefix code means, which interface is in which zone, and each flow's mark.
//! Versioned so an agent can refuse metadata it does not understand.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const METADATA_FORMAT: u32 = 1;

/// Why a packet was logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// A new connection between two zones (or to/from the gateway) that no flow permits.
    NoFlow,
    /// Source address not in the ingress interface's zone, or a pinned host's MAC is wrong.
    Spoofed,
    /// An established packet whose mark names no live flow on this interface pair.
    Revoked,
    /// A reply packet of a connection older than the ruleset, not yet adopted.
    PreExisting,
    /// The packet came in or would leave through an interface in no zone.
    UnknownInterface,
    /// Connection tracking was switched off for the packet by another table (notrack).
    Untracked,
    /// Connection tracking found the packet invalid (a TCP segment outside the window, an ICMP
    /// error quoting no connection, a guessed port): logged with its addresses like any denial.
    Invalid,
    /// A permitted new connection into a My Number (or mynumber-like/critical) zone.
    AcceptedSensitive,
    /// Broadcast or multicast that is never a connection (DHCP discovery from hosts, NetBIOS
    /// and mDNS chatter to the gateway): counted, not logged, so it cannot drown real alerts.
    Broadcast,
    /// An ICMP error quoting a live connection that is refused: its sender is not the
    /// connection's peer, the gateway or a router the policy declares for the sender's zone, or
    /// it is longer than an error may be, or over the error rate.
    IcmpErrorRefused,
    /// Forwarded ICMPv6 neighbour discovery or MLD: link-local messages that a router never
    /// forwards and conntrack never tracks (not a sign of another table's `notrack`).
    NeighbourDiscovery,
    /// An ICMP error the gateway itself would send about a packet on no live path (for example
    /// time exceeded for a denied packet whose TTL ran out here).
    GatewayError,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoFlow => "no-flow",
            Reason::Spoofed => "spoofed",
            Reason::Revoked => "revoked",
            Reason::PreExisting => "pre-existing",
            Reason::UnknownInterface => "unknown-interface",
            Reason::Untracked => "untracked",
            Reason::Invalid => "invalid",
            Reason::AcceptedSensitive => "accepted-sensitive",
            Reason::Broadcast => "broadcast",
            Reason::IcmpErrorRefused => "icmp-error-refused",
            Reason::NeighbourDiscovery => "neighbour-discovery",
            Reason::GatewayError => "gateway-error",
        }
    }
}

/// The meaning of one log prefix / counter code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCode {
    pub reason: Reason,
    /// prerouting, forward, input or output.
    pub hook: String,
    /// Source zone, "gateway", or None when the interfaces tell (global reasons).
    pub from: Option<String>,
    /// Destination zone, "gateway", or None.
    pub to: Option<String>,
    /// Touches a My Number, mynumber-like or critical zone: high severity, own budget.
    pub sensitive: bool,
    /// NFLOG samples are sent for this code (false: counter only).
    pub logged: bool,
    /// Set on a fallback code: its samples are the packets of the code's denial whose source
    /// could not be metered because the named per-source meter set was full. The agent counts
    /// them as that denial and raises `monitoring-degraded` naming the meter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_full: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowMeta {
    pub mark: u32,
    pub from: String,
    pub to: String,
    pub from_zone: Option<String>,
    pub to_zone: Option<String>,
    pub ports: Vec<String>,
    pub expires: Option<String>,
    pub purpose: Option<String>,
    /// file:line of the flow.
    pub defined_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub format: u32,
    pub compiler_version: String,
    pub policy: String,
    pub revision: String,
    pub gateway: String,
    /// SHA-256 of the canonical policy (what `matrix` prints for auditors).
    pub policy_sha256: String,
    /// SHA-256 of the policy file's bytes.
    pub source_sha256: String,
    /// SHA-256 of the ruleset text.
    pub ruleset_sha256: String,
    /// The day expiry was evaluated for (policy time zone).
    pub compiled_for: Option<String>,
    pub timezone: String,
    /// The earliest `expires` among compiled flows: the agent recompiles the day after.
    pub next_expiry: Option<String>,
    pub nflog_group: u16,
    /// Interface -> zone.
    pub interfaces: BTreeMap<String, String>,
    pub sensitive_zones: Vec<String>,
    pub log_codes: BTreeMap<u32, LogCode>,
    /// The per-key count tables (`denykeys4`, ...): sets whose elements
    /// `code . saddr . daddr . l4proto . port` carry exact packet counters; the agent reads them
    /// once per window. Empty for rulesets compiled before they existed.
    #[serde(default)]
    pub key_sets: Vec<String>,
    /// Room in each per-key table.
    #[serde(default)]
    pub key_table: u32,
    /// Flow id -> what the kernel knows it by.
    pub flows: BTreeMap<String, FlowMeta>,
    /// Zone -> reserved mark of its intra-zone traffic.
    pub intra_marks: BTreeMap<String, u32>,
    /// The key that approved the policy (`SHA256:... comment`, see policy-compiler/src/approval.rs),
    /// set by the agent once it verified the signature; the compiler never sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}
