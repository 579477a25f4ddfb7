//! Exact counts: the ruleset has a named counter `cN` for every log code N, so the agent can
//! read how many packets each zone pair and reason really denied (NFLOG is rate-limited and is
//! only a sample). The agent reads them (with `nft -j list counters table inet zonegate`, or
//! netlink) and hands the values to [`crate::DeniedFlowMonitor::reconcile`]; this module only
//! holds the type and a pure parser of nft's JSON, so no process is spawned from here.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One counter's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterValue {
    pub packets: u64,
    pub bytes: u64,
}

/// Counter values by log code (`c12` -> 12).
pub type Counters = BTreeMap<u32, CounterValue>;

/// nft's JSON could not be read.
#[derive(Debug, thiserror::Error)]
#[error("nft counter listing: {0}")]
pub struct CounterParseError(#[from] serde_json::Error);

#[derive(Deserialize)]
struct Listing {
    nftables: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Counter {
    name: String,
    table: String,
    packets: u64,
    bytes: u64,
}

/// Reads the `cN` counters of `table` from `nft -j list counters ...` output; other counters
/// (other tables, other names) are ignored.
pub fn parse_nft_counters(json: &str, table: &str) -> Result<Counters, CounterParseError> {
    let listing: Listing = serde_json::from_str(json)?;
    let mut out = Counters::new();
    for item in listing.nftables {
        let Some(c) = item.get("counter") else {
            continue;
        };
        let Ok(c) = serde_json::from_value::<Counter>(c.clone()) else {
            continue;
        };
        if c.table != table {
            continue;
        }
        if let Some(code) = c.name.strip_prefix('c').and_then(|n| n.parse().ok()) {
            out.insert(
                code,
                CounterValue {
                    packets: c.packets,
                    bytes: c.bytes,
                },
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_counters_only() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
          {"counter": {"family": "inet", "name": "c1", "table": "zonegate", "handle": 1, "packets": 1000, "bytes": 28000}},
          {"counter": {"family": "inet", "name": "c12", "table": "zonegate", "handle": 2, "packets": 3, "bytes": 84}},
          {"counter": {"family": "inet", "name": "other", "table": "zonegate", "handle": 3, "packets": 9, "bytes": 9}},
          {"counter": {"family": "ip", "name": "c1", "table": "foreign", "handle": 1, "packets": 7, "bytes": 7}}]}"#;
        let c = parse_nft_counters(json, "zonegate").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[&1].packets, 1000);
        assert_eq!(c[&12].bytes, 84);
        assert!(parse_nft_counters("not json", "zonegate").is_err());
    }
}
