//! Change control: a saved policy file takes effect only when someone applies it.
//!
//! Like firewalld's permanent and runtime configuration (`--reload`) and Shorewall's `try`, a
//! settled write of zones.toml is *staged*: the running ruleset stays, and `status`, the
//! heartbeat and the metrics say that the file on disk differs from what is applied, and since
//! when, until `zonegate-agent apply` or `systemctl reload zonegate-agent` applies it. Fleets fed
//! by configuration management may opt in to `auto_apply`; such an apply always runs with a
//! confirm window and is rolled back unless confirmed.
//!
//! Before a change runs, `plan` and `apply` say whether it would cut the management path in
//! use (the caller's SSH session, agent.toml's management entries: `apply` refuses unless
//! forced, and a forced apply always gets a confirm window), and which open connections it
//! would cut, per flow. Pure decisions; the daemon and the CLI do the I/O.

use crate::netlink::conntrack::CtEntry;
use crate::policy_source::FlowIndex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use zonegate_policy::explain::{explain, Packet as ExplainPacket, Query, Target, Verdict};
use zonegate_policy::lockdown::Management;
use zonegate_policy::net::from_int;
use zonegate_policy::ports::PortSpec;
use zonegate_policy::Policy;

/// What a settled write of the policy file leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnWrite {
    /// Keep the running ruleset; report the change as staged.
    Stage,
    /// Apply now, rolled back unless confirmed within the window.
    ApplyWithConfirm(Duration),
}

/// The decision for a settled write.
pub fn on_settled_write(auto_apply: bool, confirm: Duration) -> OnWrite {
    if auto_apply {
        OnWrite::ApplyWithConfirm(confirm)
    } else {
        OnWrite::Stage
    }
}

/// A policy file that differs from the applied policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staged {
    /// SHA-256 of the file's bytes now (empty when the file cannot be read).
    pub file_sha256: String,
    /// When the file was first seen to differ (RFC 3339).
    pub since: String,
    /// The same instant in seconds since the Unix epoch (for metrics).
    pub since_unix: i64,
}

/// The staged change after looking at the file again: None when the file is what is applied.
/// A change that stays staged keeps the time it was first seen, however often it is edited, so
/// a forgotten change shows its real age.
pub fn staged_after(
    file_sha256: Option<&str>,
    applied_sha256: Option<&str>,
    previous: Option<Staged>,
    now: jiff::Timestamp,
) -> Option<Staged> {
    if file_sha256 == applied_sha256 {
        return None;
    }
    let (since, since_unix) = match previous {
        Some(p) => (p.since, p.since_unix),
        None => (now.to_string(), now.as_second()),
    };
    Some(Staged {
        file_sha256: file_sha256.unwrap_or_default().to_string(),
        since,
        since_unix,
    })
}

// ---------------------------------------------------------------------------------------------
// Lockout guard: does the change cut the management path in use?

/// A management path in use: a connection to the gateway that the change must not cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagementPath {
    pub source: IpAddr,
    /// IP protocol number (6 TCP, 17 UDP, 132 SCTP).
    pub proto: u8,
    pub port: u16,
    /// Where it comes from: the caller's SSH session, or an agent.toml entry.
    pub origin: String,
}

impl ManagementPath {
    pub fn describe(&self) -> String {
        format!(
            "{}/{} from {} ({})",
            protocol_name(self.proto),
            self.port,
            self.source,
            self.origin
        )
    }
}

fn protocol_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        132 => "sctp".into(),
        n => n.to_string(),
    }
}

/// The management paths in use: the caller's session (`SSH_CONNECTION` is `client-address
/// client-port server-address server-port`) and `lockdown.management` of agent.toml (checked
/// at both ends of each source range and of each port range).
pub fn paths_in_use(
    ssh_connection: Option<&str>,
    management: &[Management],
) -> Vec<ManagementPath> {
    let mut paths = Vec::new();
    if let Some(p) = ssh_connection.and_then(ssh_session) {
        paths.push(p);
    }
    for (i, m) in management.iter().enumerate() {
        for r in &m.sources {
            for spec in &m.specs {
                let PortSpec::Ports { proto, lo, hi } = spec else {
                    continue;
                };
                let mut ends = vec![(r.lo, *lo), (r.hi, *hi)];
                ends.dedup();
                for (addr, port) in ends {
                    paths.push(ManagementPath {
                        source: from_int(r.family, addr),
                        proto: proto.number(),
                        port,
                        origin: format!("agent.toml lockdown.management[{i}]"),
                    });
                }
            }
        }
    }
    paths
}

fn ssh_session(v: &str) -> Option<ManagementPath> {
    let mut parts = v.split_whitespace();
    let client: IpAddr = parts.next()?.parse().ok()?;
    let _client_port = parts.next()?;
    let _server = parts.next()?;
    let port: u16 = parts.next()?.parse().ok()?;
    (!client.is_loopback()).then(|| ManagementPath {
        source: client,
        proto: 6,
        port,
        origin: "your session, SSH_CONNECTION".into(),
    })
}

/// The paths the policy would refuse as new connections to this gateway.
pub fn lockouts(policy: &Policy, gateway: &str, paths: &[ManagementPath]) -> Vec<ManagementPath> {
    paths
        .iter()
        .filter(|p| !reaches_gateway(policy, gateway, p))
        .cloned()
        .collect()
}

fn reaches_gateway(policy: &Policy, gateway: &str, p: &ManagementPath) -> bool {
    let q = Query::new(
        Target::Address(p.source),
        Target::Gateway,
        Some(ExplainPacket {
            l4proto: p.proto,
            port: p.port,
        }),
    );
    explain(policy, gateway, &q).is_ok_and(|e| e.verdict == Verdict::Accept)
}

// ---------------------------------------------------------------------------------------------
// Live impact: which open connections the change would cut.

/// Open connections of one flow that the change cuts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutConnections {
    /// The flow the connections belong to now (its id, or the mark when unknown).
    pub flow: String,
    pub count: u64,
    /// A few of them, `tcp 10.20.0.5:40000 -> 10.10.0.5:443`.
    pub examples: Vec<String>,
}

/// How many examples a flow's line shows.
pub const EXAMPLES: usize = 3;

/// The connections of `entries` that the new policy's flows (`new`) cut: those whose flow is
/// revoked, and those outside their flow's new extent (conntrack upkeep deletes both after
/// the apply, and the ruleset drops their packets). `old_ids`: mark -> flow id now.
pub fn connections_cut(
    entries: &[CtEntry],
    new: &FlowIndex,
    old_ids: &BTreeMap<u32, String>,
) -> Vec<CutConnections> {
    let retired: BTreeSet<u32> = old_ids
        .keys()
        .filter(|m| !new.flows.contains_key(m))
        .copied()
        .collect();
    let s = crate::conntrack::select(entries, new, &retired, &[]);
    let mut by_flow: BTreeMap<String, CutConnections> = BTreeMap::new();
    for e in s.revoked.iter().chain(&s.mismatched) {
        let flow = old_ids
            .get(&e.mark)
            .cloned()
            .unwrap_or_else(|| format!("mark 0x{:08x}", e.mark));
        let row = by_flow.entry(flow.clone()).or_insert(CutConnections {
            flow,
            count: 0,
            examples: Vec::new(),
        });
        row.count += 1;
        if row.examples.len() < EXAMPLES {
            row.examples.push(format!(
                "{} {} -> {}",
                protocol_name(e.proto),
                SocketAddr::new(e.src, e.sport),
                SocketAddr::new(e.dst, e.dport)
            ));
        }
    }
    by_flow.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).expect("timestamp")
    }

    #[test]
    fn a_write_is_staged_unless_auto_apply_and_then_always_with_a_window() {
        let w = Duration::from_secs(120);
        assert_eq!(on_settled_write(false, w), OnWrite::Stage);
        assert_eq!(on_settled_write(true, w), OnWrite::ApplyWithConfirm(w));
    }

    #[test]
    fn a_staged_change_keeps_its_first_time_and_clears_when_applied() {
        let s = staged_after(Some("b"), Some("a"), None, at(100)).expect("staged");
        assert_eq!((s.file_sha256.as_str(), s.since_unix), ("b", 100));
        let s = staged_after(Some("c"), Some("a"), Some(s), at(200)).expect("still staged");
        assert_eq!((s.file_sha256.as_str(), s.since_unix), ("c", 100));
        assert_eq!(staged_after(Some("a"), Some("a"), Some(s), at(300)), None);
    }

    #[test]
    fn a_removed_file_or_nothing_applied_counts_as_staged() {
        assert!(staged_after(None, Some("a"), None, at(1)).is_some());
        assert!(staged_after(Some("a"), None, None, at(1)).is_some());
        assert_eq!(
            staged_after(None, None, None, at(1)),
            None,
            "no file, nothing applied"
        );
    }
}
