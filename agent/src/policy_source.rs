//! Reading the policy: the file is read once, its bytes hashed, and exactly those bytes are
//! validated (for today in the policy's own time zone, from the floored clock) and compiled for
//! this gateway. With `trusted_keys` in agent.toml, the approval of exactly that policy is
//! checked too: a detached signature by a trusted key over its canonical form
//! (policy-compiler/src/approval.rs). Also derives the [`FlowIndex`] that conntrack upkeep
//! matches entries against.

use crate::clock::{self, Clock, ClockError};
use crate::config::AgentConfig;
use crate::listing::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use thiserror::Error;
use zonegate_policy::approval::{self, ApprovalError, Signer, TrustedKey};
use zonegate_policy::bundle;
use zonegate_policy::model::Endpoint;
use zonegate_policy::net::{from_int, Range};
use zonegate_policy::ports::PortSpec;
use zonegate_policy::{
    canonical, compile, validate_bytes, CompileError, Policy, Ruleset, Severity,
};

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
    /// A trusted key file (agent.toml `trusted_keys`) cannot be read or holds no usable key:
    /// no policy is accepted until it is fixed.
    #[error("trusted key {path}: {reason}")]
    TrustedKey { path: String, reason: String },
    /// The signature file exists but cannot be read.
    #[error("cannot read the signature {path}: {source}")]
    SignatureRead {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A policy bundle (`zonegate bundle`) that is damaged, for another gateway, or whose
    /// ruleset hash does not match its policy.
    #[error("{path}: bundle refused: {error}")]
    Bundle {
        path: String,
        #[source]
        error: zonegate_policy::bundle::BundleError,
    },
    /// The policy is valid but not approved: unsigned, a bad signature, or not by a trusted key.
    #[error("{signature}: approval refused: {error}")]
    Unapproved {
        signature: String,
        #[source]
        error: ApprovalError,
    },
}

impl LoadError {
    /// The policy file does not exist (a fresh install: the package ships no policy).
    pub fn is_missing(&self) -> bool {
        matches!(self, LoadError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The one line the agent says when there is no policy file: the gateway stays in lockdown and
/// what to do next. English and Japanese, one place to move into a message catalogue.
pub fn missing_policy_next_step(
    path: &std::path::Path,
    lang: zonegate_policy::init::Lang,
) -> String {
    let p = path.display();
    match lang {
        zonegate_policy::init::Lang::En => format!(
            "no policy at {p}: the gateway stays in lockdown (only agent.toml's [lockdown] management entries are open); next: zonegate init -o {p}, decide its DECIDE comments, zonegate check {p}, then systemctl reload zonegate-agent"
        ),
        zonegate_policy::init::Lang::Ja => format!(
            "{p} にポリシーがない: ゲートウェイはロックダウンのまま (開いているのは agent.toml の [lockdown] management だけ)。次: zonegate init -o {p}、コメントの「要決定」を決め、zonegate check {p}、そして systemctl reload zonegate-agent"
        ),
    }
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

/// Reads the policy file once, compiles it for this gateway and, with trusted keys configured,
/// checks its approval; the signer's key id goes into the compiled metadata.
pub fn load(cfg: &AgentConfig, clock: &Clock) -> Result<Compiled, LoadError> {
    let path = &cfg.policy;
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let shown = path.display().to_string();
    if bundle::is_bundle(&bytes) {
        return load_bundle(cfg, clock, &shown, &bytes);
    }
    let mut compiled = compile_bytes(&shown, &bytes, &cfg.gateway, clock)?;
    if !cfg.trusted_keys.is_empty() {
        let signer = check_approval(cfg, &compiled.policy, None)?;
        compiled.ruleset.metadata.signer = Some(signer.to_string());
    }
    Ok(compiled)
}

/// A policy bundle: its framing, gateway and hashes are checked first (nothing is compiled for
/// the kernel from a bundle that fails), then its policy is compiled for today like a zones.toml
/// and, with trusted keys, its own signature (else the signature file) is checked. The staged
/// change check compares the bundle file's bytes, so `source_sha256` is that of the bundle.
fn load_bundle(
    cfg: &AgentConfig,
    clock: &Clock,
    shown: &str,
    bytes: &[u8],
) -> Result<Compiled, LoadError> {
    let refused = |error| LoadError::Bundle {
        path: shown.to_string(),
        error,
    };
    let b = bundle::parse(bytes).map_err(refused)?;
    b.check(shown, &cfg.gateway).map_err(refused)?;
    let inner = format!("{shown} (policy section)");
    let mut compiled = compile_bytes(&inner, &b.policy, &cfg.gateway, clock)?;
    compiled.source_sha256 = hex(&Sha256::digest(bytes));
    if !cfg.trusted_keys.is_empty() {
        let signer = check_approval(cfg, &compiled.policy, b.signature.as_deref())?;
        compiled.ruleset.metadata.signer = Some(signer.to_string());
    }
    Ok(compiled)
}

/// The signature (the bundle's, else the signature file, if any) against the trusted keys, over
/// this policy's canonical form.
fn check_approval(
    cfg: &AgentConfig,
    policy: &Policy,
    in_bundle: Option<&str>,
) -> Result<Signer, LoadError> {
    let trusted = read_trusted_keys(&cfg.trusted_keys)?;
    if let Some(sig) = in_bundle {
        return approval::verify(canonical(policy).as_bytes(), Some(sig), &trusted).map_err(
            |error| LoadError::Unapproved {
                signature: format!("{} (signature in the bundle)", cfg.policy.display()),
                error,
            },
        );
    }
    let path = cfg.signature_path();
    let shown = path.display().to_string();
    let signature = match std::fs::read(&path) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(LoadError::SignatureRead {
                path: shown,
                source,
            })
        }
    };
    approval::verify(canonical(policy).as_bytes(), signature.as_deref(), &trusted).map_err(
        |error| LoadError::Unapproved {
            signature: shown,
            error,
        },
    )
}

/// Every key of every file; a file that cannot be read or parsed is an error.
fn read_trusted_keys(paths: &[PathBuf]) -> Result<Vec<TrustedKey>, LoadError> {
    let mut keys = Vec::new();
    for path in paths {
        let key_error = |reason: String| LoadError::TrustedKey {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| key_error(e.to_string()))?;
        keys.extend(approval::parse_trusted_keys(&text).map_err(|e| key_error(e.to_string()))?);
    }
    Ok(keys)
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

    /// agent.toml with `ciso.pub` trusted (a deterministic key), and the key's private half.
    fn signing_setup(tag: &str) -> (AgentConfig, String) {
        use ssh_key::{private::Ed25519Keypair, LineEnding, PrivateKey};
        let dir = crate::state::tests::temp_dir(tag);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&[7; 32]));
        key.set_comment("ciso@city.example");
        let public = key.public_key().to_openssh().expect("public key");
        std::fs::write(dir.join("ciso.pub"), public + "\n").expect("ciso.pub");
        let mut cfg = crate::agent::tests::config(&dir);
        cfg.trusted_keys = vec![dir.join("ciso.pub")];
        let private = key.to_openssh(LineEnding::LF).expect("private key");
        (cfg, private.to_string())
    }

    /// Writes `text` as the policy and, with a key, its signature by that key.
    fn write_signed(cfg: &AgentConfig, text: &str, key: Option<&str>) {
        std::fs::write(&cfg.policy, text).expect("policy");
        if let Some(key) = key {
            let policy = zonegate_policy::validate("zones.toml", text, None)
                .policy
                .expect("valid");
            let signed = approval::sign(canonical(&policy).as_bytes(), key).expect("sign");
            std::fs::write(cfg.signature_path(), signed.armored).expect("signature");
        }
    }

    fn refusal(cfg: &AgentConfig) -> &'static str {
        match load(cfg, &clock_at("2027-01-01T00:00:00Z")) {
            Err(LoadError::Unapproved { error, .. }) => error.kind(),
            other => panic!("expected a refused approval, got {other:?}"),
        }
    }

    #[test]
    fn a_signed_policy_loads_with_its_signer() {
        let (cfg, key) = signing_setup("signed");
        write_signed(&cfg, POLICY, Some(&key));
        let c = load(&cfg, &clock_at("2027-01-01T00:00:00Z")).expect("approved");
        let signer = c.ruleset.metadata.signer.expect("signer");
        assert!(signer.starts_with("SHA256:"), "{signer}");
        assert!(signer.ends_with(" ciso@city.example"), "{signer}");
        // Comments and formatting are not part of the canonical policy.
        std::fs::write(&cfg.policy, format!("# reviewed 2026-11-25\n{POLICY}")).expect("policy");
        assert!(load(&cfg, &clock_at("2027-01-01T00:00:00Z")).is_ok());
    }

    #[test]
    fn unsigned_or_changed_policies_are_refused() {
        let (cfg, key) = signing_setup("refused");
        write_signed(&cfg, POLICY, None);
        assert_eq!(refusal(&cfg), "unsigned");
        write_signed(&cfg, POLICY, Some(&key));
        std::fs::write(&cfg.policy, POLICY.replace("tcp/8080", "tcp/8081")).expect("policy");
        assert_eq!(refusal(&cfg), "tampered");
        std::fs::write(cfg.signature_path(), "garbage").expect("signature");
        assert_eq!(refusal(&cfg), "malformed");
    }

    #[test]
    fn a_missing_trusted_key_file_refuses_every_policy() {
        let (mut cfg, key) = signing_setup("nokey");
        write_signed(&cfg, POLICY, Some(&key));
        cfg.trusted_keys.push(cfg.state_dir.join("missing.pub"));
        assert!(matches!(
            load(&cfg, &Clock::default()),
            Err(LoadError::TrustedKey { .. })
        ));
    }

    #[test]
    fn without_trusted_keys_no_signature_is_needed() {
        let (mut cfg, _) = signing_setup("nosig");
        cfg.trusted_keys.clear();
        write_signed(&cfg, POLICY, None);
        std::fs::write(cfg.signature_path(), "garbage").expect("signature");
        let c = load(&cfg, &clock_at("2027-01-01T00:00:00Z")).expect("loads");
        assert_eq!(c.ruleset.metadata.signer, None);
    }

    /// A bundle of POLICY for gw1, compiled for 2027-01-01, signed with `key` if given.
    fn bundle_of(key: Option<&str>) -> Vec<u8> {
        let day = zonegate_policy::Date::parse("2027-01-01").expect("date");
        let policy = zonegate_policy::validate("zones.toml", POLICY, Some(day))
            .policy
            .expect("valid");
        let sig = key.map(|k| {
            approval::sign(canonical(&policy).as_bytes(), k)
                .expect("sign")
                .armored
        });
        bundle::render(POLICY.as_bytes(), &policy, "gw1", day, sig.as_deref()).expect("bundle")
    }

    #[test]
    fn bundles_load_where_the_policy_does() {
        let (cfg, key) = signing_setup("bundle");
        let at = clock_at("2027-01-01T00:00:00Z");
        // Signed inside the bundle: no .sig file needed.
        let good = bundle_of(Some(&key));
        std::fs::write(&cfg.policy, &good).expect("bundle");
        let c = load(&cfg, &at).expect("a valid bundle loads");
        assert!(c.ruleset.metadata.signer.is_some());
        assert_eq!(c.source_sha256, hex(&Sha256::digest(&good)));
        // Unsigned bundle with trusted keys: refused as unsigned.
        std::fs::write(&cfg.policy, bundle_of(None)).expect("bundle");
        assert_eq!(refusal(&cfg), "unsigned");
        let kind = |bytes: &[u8]| {
            std::fs::write(&cfg.policy, bytes).expect("bundle");
            match load(&cfg, &at) {
                Err(LoadError::Bundle { error, .. }) => error.kind(),
                other => panic!("expected a refused bundle, got {other:?}"),
            }
        };
        let other = String::from_utf8(good.clone()).expect("utf-8").replacen(
            "gateway: gw1",
            "gateway: gw2",
            1,
        );
        assert_eq!(kind(other.as_bytes()), "wrong-gateway");
        assert_eq!(kind(&good[..good.len() - 10]), "truncated");
        let forged = String::from_utf8(good.clone()).expect("utf-8").replacen(
            "ruleset-sha256: ",
            "ruleset-sha256: 0",
            1,
        );
        assert_eq!(kind(forged.as_bytes()), "hash-mismatch");
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
