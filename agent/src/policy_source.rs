//! Reading the policy: the file is read once, its bytes hashed, and exactly those bytes are
//! validated (for today in the policy's own time zone, from the floored clock) and compiled for
//! this gateway. Also derives the [`FlowIndex`] that conntrack upkeep matches entries against.

use crate::clock::{self, Clock, ClockError};
use crate::listing::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use thiserror::Error;
use zonegate_policy::model::Endpoint;
use zonegate_policy::net::{from_int, Range};
use zonegate_policy::ports::PortSpec;
use zonegate_policy::{compile, validate_bytes, CompileError, Policy, Ruleset, Severity};

#[derive(Debug, Error)]
pub enum LoadError {
    /// The policy file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The policy has errors; `diagnostics` are rendered `file:line:col: error[E..]` lines.
    #[error("{} error(s) in the policy", diagnostics.len())]
    Rejected { diagnostics: Vec<String> },
    /// The policy is valid but has no `[gateways.NAME]` for this machine.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// The policy's time zone is unknown here.
    #[error(transparent)]
    Clock(#[from] ClockError),
}

/// One address range of a flow end, stored as its first and last address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrRange {
    pub lo: IpAddr,
    pub hi: IpAddr,
}

impl AddrRange {
    fn of(r: &Range) -> AddrRange {
        AddrRange {
            lo: from_int(r.family, r.lo),
            hi: from_int(r.family, r.hi),
        }
    }

    pub fn contains(&self, a: &IpAddr) -> bool {
        match (self.lo, self.hi, a) {
            (IpAddr::V4(lo), IpAddr::V4(hi), IpAddr::V4(x)) => lo <= *x && *x <= hi,
            (IpAddr::V6(lo), IpAddr::V6(hi), IpAddr::V6(x)) => lo <= *x && *x <= hi,
            _ => false,
        }
    }
}

/// Protocol number with a port (or ICMP type) range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub proto: u8,
    pub lo: u16,
    pub hi: u16,
}

/// What a flow's connections may look like (original direction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowMatch {
    pub id: String,
    pub src: Vec<AddrRange>,
    pub dst: Vec<AddrRange>,
    pub ports: Vec<PortRange>,
}

impl FlowMatch {
    /// Does a connection's original tuple fall inside this flow?
    pub fn matches(&self, src: &IpAddr, dst: &IpAddr, proto: u8, dport: u16) -> bool {
        self.src.iter().any(|r| r.contains(src))
            && self.dst.iter().any(|r| r.contains(dst))
            && self
                .ports
                .iter()
                .any(|p| p.proto == proto && p.lo <= dport && dport <= p.hi)
    }
}

/// Every live flow by mark, plus the reserved intra-zone marks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FlowIndex {
    pub flows: BTreeMap<u32, FlowMatch>,
    pub intra: BTreeSet<u32>,
}

impl FlowIndex {
    pub fn build(policy: &Policy, ruleset: &Ruleset) -> FlowIndex {
        let mut flows = BTreeMap::new();
        for f in policy.active_flows() {
            if !ruleset.metadata.flows.contains_key(&f.id) {
                continue; // not on this gateway
            }
            let ports = f
                .specs
                .iter()
                .map(|s| match *s {
                    PortSpec::Ports { proto, lo, hi } => PortRange {
                        proto: proto.number(),
                        lo,
                        hi,
                    },
                    PortSpec::Icmp { lo, hi } => PortRange {
                        proto: 1,
                        lo: lo.into(),
                        hi: hi.into(),
                    },
                    PortSpec::Icmpv6 { lo, hi } => PortRange {
                        proto: 58,
                        lo: lo.into(),
                        hi: hi.into(),
                    },
                })
                .collect();
            let ends = |e: &Endpoint| -> Vec<AddrRange> {
                policy
                    .endpoint_ranges(e)
                    .iter()
                    .map(AddrRange::of)
                    .collect()
            };
            flows.insert(
                f.mark,
                FlowMatch {
                    id: f.id.clone(),
                    src: ends(&f.from),
                    dst: ends(&f.to),
                    ports,
                },
            );
        }
        FlowIndex {
            flows,
            intra: ruleset.metadata.intra_marks.values().copied().collect(),
        }
    }

    /// Every mark this index knows (flows and intra-zone).
    pub fn marks(&self) -> BTreeSet<u32> {
        self.flows
            .keys()
            .chain(self.intra.iter())
            .copied()
            .collect()
    }
}

/// A compiled policy and where it came from.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub ruleset: Ruleset,
    pub policy: Policy,
    pub source_sha256: String,
    /// The day expiry was evaluated for.
    pub today: String,
    /// Flows past their date (kept out of the ruleset).
    pub expired: Vec<String>,
    pub flows: FlowIndex,
    /// Rendered warnings.
    pub warnings: Vec<String>,
    /// The real clock was behind the last-known-good's compile time.
    pub clock_behind_floor: bool,
}

/// Reads `path` once and compiles it.
pub fn load(path: &Path, gateway: &str, clock: &Clock) -> Result<Compiled, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })?;
    compile_bytes(&path.display().to_string(), &bytes, gateway, clock)
}

/// Validates and compiles exactly these bytes.
pub fn compile_bytes(
    file: &str,
    bytes: &[u8],
    gateway: &str,
    clock: &Clock,
) -> Result<Compiled, LoadError> {
    let source_sha256 = hex(&Sha256::digest(bytes));
    // First pass without a date, to learn the policy's time zone.
    let first = validate_bytes(file, bytes, None);
    let Some(undated) = &first.policy else {
        return Err(rejected(&first.diagnostics.items));
    };
    let now = clock.now();
    let today = clock::today(now.at, &undated.timezone)?;
    let checked = validate_bytes(file, bytes, Some(today));
    let Some(policy) = checked.policy else {
        return Err(rejected(&checked.diagnostics.items));
    };
    let ruleset = compile(&policy, gateway)?;
    let flows = FlowIndex::build(&policy, &ruleset);
    let expired = policy
        .flows
        .iter()
        .filter(|f| f.expired)
        .map(|f| f.id.clone())
        .collect();
    let warnings = checked
        .diagnostics
        .items
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| d.render())
        .collect();
    Ok(Compiled {
        ruleset,
        policy,
        source_sha256,
        today: today.to_string(),
        expired,
        flows,
        warnings,
        clock_behind_floor: now.clock_behind_floor,
    })
}

fn rejected(items: &[zonegate_policy::Diagnostic]) -> LoadError {
    LoadError::Rejected {
        diagnostics: items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.render())
            .collect(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small valid policy for one gateway with two flows, one expiring.
    pub const POLICY: &str = r#"
version = 1
[policy]
name = "unit"
revision = "r1"
profile = "none"
timezone = "Asia/Tokyo"
log = { group = 100, rate = "20/second", burst = 50 }

[zones.a]
networks = ["10.1.0.0/24"]
[zones.b]
networks = ["10.2.0.0/24"]

[hosts.ha]
zone = "a"
addresses = ["10.1.0.5"]
[hosts.hb]
zone = "b"
addresses = ["10.2.0.5"]

[[flow]]
id = "F-1"
from = "ha"
to = "hb"
ports = ["tcp/8080"]
purpose = "test"
approved_by = "me"

[[flow]]
id = "F-2"
from = "a"
to = "hb"
ports = ["udp/5000-5010"]
purpose = "test"
approved_by = "me"
expires = "2027-03-31"

[gateways.gw1]
interfaces = { a = ["ens3"], b = ["ens4"] }
"#;

    pub fn clock_at(ts: &str) -> Clock {
        Clock {
            floor: None,
            fixed: Some(ts.parse().expect("timestamp")),
        }
    }

    #[test]
    fn compiles_and_indexes_flows() {
        let c = compile_bytes(
            "zones.toml",
            POLICY.as_bytes(),
            "gw1",
            &clock_at("2027-01-01T00:00:00Z"),
        )
        .expect("compiles");
        assert_eq!(c.flows.flows.len(), 2);
        let f1 = c.flows.flows.values().find(|f| f.id == "F-1").expect("F-1");
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert!(f1.matches(&ip("10.1.0.5"), &ip("10.2.0.5"), 6, 8080));
        assert!(!f1.matches(&ip("10.1.0.6"), &ip("10.2.0.5"), 6, 8080));
        assert!(!f1.matches(&ip("10.1.0.5"), &ip("10.2.0.5"), 6, 8081));
        assert!(!c.flows.intra.is_empty());
        assert!(c.expired.is_empty());
    }

    #[test]
    fn expiry_uses_the_policy_zone_and_the_floor() {
        // 2027-03-31T16:00Z is April 1st in Tokyo: F-2 has expired.
        let c = compile_bytes(
            "zones.toml",
            POLICY.as_bytes(),
            "gw1",
            &clock_at("2027-03-31T16:00:00Z"),
        )
        .expect("compiles");
        assert_eq!(c.expired, vec!["F-2".to_string()]);
        // A clock in 2001 with a floor after the expiry still sees it expired.
        let clock = Clock {
            floor: Some("2027-04-02T00:00:00Z".parse().expect("ts")),
            fixed: Some("2001-01-01T00:00:00Z".parse().expect("ts")),
        };
        let c = compile_bytes("zones.toml", POLICY.as_bytes(), "gw1", &clock).expect("compiles");
        assert_eq!(c.expired, vec!["F-2".to_string()]);
        assert!(c.clock_behind_floor);
    }

    #[test]
    fn bad_policy_and_unknown_gateway() {
        let bad = POLICY.replace("zone = \"b\"", "zone = \"nowhere\"");
        assert!(matches!(
            compile_bytes("zones.toml", bad.as_bytes(), "gw1", &Clock::default()),
            Err(LoadError::Rejected { .. })
        ));
        assert!(matches!(
            compile_bytes("zones.toml", POLICY.as_bytes(), "gw9", &Clock::default()),
            Err(LoadError::Compile(_))
        ));
    }
}
