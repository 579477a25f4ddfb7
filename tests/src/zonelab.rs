//! The lab of the data-path tests: the gateway of `tests/fixtures/datapath/zones.toml` with one
//! namespace per segment, every host address of the policy placed on its segment, listeners on
//! the test ports, and helpers to load compiled rulesets into the gateway.

use crate::lab::{Lab, LabError, LabSpec, SegmentSpec};
use std::net::IpAddr;
use zonegate_policy::{compile, validate, Date, Policy, Ruleset};

/// The policy text of the data-path tests.
pub const POLICY: &str = include_str!("../fixtures/datapath/zones.toml");
/// The gateway it names.
pub const GATEWAY: &str = "gw";

/// Segment order of [`spec`]; `Lab::host(i)` is the namespace of `SEGMENTS[i]`.
pub const SEGMENTS: [&str; 4] = ["gw-mn", "gw-lg", "gw-lg2", "gw-in"];

/// The topology: gateway addresses .1 / ::1, each host namespace carrying its hosts.
pub fn spec() -> LabSpec {
    LabSpec {
        segments: vec![
            SegmentSpec::new(
                "gw-mn",
                &["10.10.0.1/24", "fd00:10::1/64"],
                &["10.10.0.5/24", "fd00:10::5/64"],
            ),
            SegmentSpec::new(
                "gw-lg",
                &["10.20.0.1/24", "fd00:20::1/64"],
                &[
                    "10.20.0.10/24",
                    "10.20.0.20/24",
                    "10.20.0.50/24",
                    "fd00:20::10/64",
                    "fd00:20::20/64",
                    "fd00:20::50/64",
                ],
            ),
            SegmentSpec::new(
                "gw-lg2",
                &["10.20.2.1/24", "fd00:20:0:2::1/64"],
                &["10.20.2.5/24", "fd00:20:0:2::5/64"],
            ),
            SegmentSpec::new(
                "gw-in",
                &["10.30.0.1/24", "fd00:30::1/64"],
                &[
                    "10.30.0.20/24",
                    "10.30.0.66/24",
                    "fd00:30::20/64",
                    "fd00:30::66/64",
                ],
            ),
        ],
    }
}

/// Validates a policy text of the tests (a fixed day, so expiry never changes a result).
pub fn policy(text: &str) -> Policy {
    let checked = validate("zones.toml", text, Date::parse("2026-11-25"));
    match checked.policy {
        Some(p) => p,
        None => panic!(
            "test policy invalid:\n{}",
            checked.diagnostics.render_text()
        ),
    }
}

/// Compiles a policy text for the test gateway.
pub fn ruleset(text: &str) -> Ruleset {
    match compile(&policy(text), GATEWAY) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

/// Loads a compiled ruleset into the lab's gateway with `nft -f`.
pub fn load(lab: &Lab, text: &str) -> Result<(), LabError> {
    lab.nft_ok(lab.gw(), &["-f", "-"], Some(text)).map(|_| ())
}

/// The namespace index that carries `addr`.
pub fn segment_of(addr: IpAddr) -> usize {
    spec()
        .segments
        .iter()
        .position(|s| {
            s.host_addrs
                .iter()
                .any(|a| a.split('/').next() == Some(&addr.to_string()))
        })
        .unwrap_or_else(|| panic!("{addr} is on no segment"))
}

/// Reads a named counter of our table in the gateway.
pub fn counter(lab: &Lab, name: &str) -> u64 {
    let out = lab
        .nft_ok(
            lab.gw(),
            &["-j", "list", "counter", "inet", "zonegate", name],
            None,
        )
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or(serde_json::Value::Null);
    v["nftables"]
        .as_array()
        .and_then(|a| a.iter().find_map(|o| o["counter"]["packets"].as_u64()))
        .unwrap_or(0)
}

/// The counter name of the first log code matching `pred` in a ruleset's metadata.
pub fn counter_for(
    r: &Ruleset,
    pred: impl Fn(&zonegate_policy::metadata::LogCode) -> bool,
) -> String {
    r.metadata
        .log_codes
        .iter()
        .find(|(_, c)| pred(c))
        .map(|(code, _)| format!("c{code}"))
        .unwrap_or_else(|| panic!("no such log code"))
}
