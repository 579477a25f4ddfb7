//! Exact per-key counts of denied packets, from the ruleset's per-key tables (`denykeys4`,
//! `denykeys6`, and `denykeys4s`, `denykeys6s` for sensitive zones): dynamic sets whose elements
//! `code . saddr . daddr . l4proto . port` carry a packet counter, updated in every deny tail
//! before any log limit. The agent lists them once per window (`nft -j list set inet zonegate
//! NAME`) together with the untracked counters `uN` (packets of code N whose key could not be
//! stored: table full, or no transport header). This module holds the types and pure parsers of
//! nft's JSON, so no process is spawned from here.

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// One key of a per-key table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId {
    /// The log code of the deny tail that counted it (zone pair and reason).
    pub code: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number.
    pub protocol: u8,
    /// Destination port (TCP, UDP, SCTP, UDP-Lite, DCCP); for other protocols the first two
    /// bytes of their header (ICMP and ICMPv6: type * 256 + code).
    pub port: u16,
}

impl KeyId {
    /// Whether the protocol's key holds a destination port.
    pub fn has_port(&self) -> bool {
        matches!(self.protocol, 6 | 17 | 33 | 132 | 136)
    }

    /// ICMP or ICMPv6: the key holds type and code.
    pub fn is_icmp(&self) -> bool {
        matches!(self.protocol, 1 | 58)
    }
}

/// How full one per-key table was when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFill {
    pub name: String,
    pub keys: u64,
    pub size: u64,
}

/// One reading of the per-key tables and the untracked counters (absolute kernel values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyCounts {
    pub keys: HashMap<KeyId, u64>,
    /// `uN` -> packets.
    pub untracked: BTreeMap<u32, u64>,
    pub tables: Vec<TableFill>,
}

/// nft's JSON could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyParseError {
    #[error("nft set listing: {0}")]
    Json(#[from] serde_json::Error),
    #[error("nft set listing: no set {0:?} in the output")]
    NoSet(String),
}

#[derive(Deserialize)]
struct Listing {
    nftables: Vec<serde_json::Value>,
}

/// The protocol number of an `inet_proto` value as nft prints it (a name or a number).
fn protocol_number(v: &serde_json::Value) -> Option<u8> {
    if let Some(n) = v.as_u64() {
        return u8::try_from(n).ok();
    }
    let name = v.as_str()?;
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    Some(match name {
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "dccp" => 33,
        "ipv6" => 41,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" | "ipv6-icmp" => 58,
        "sctp" => 132,
        "udplite" => 136,
        _ => return None,
    })
}

/// Reads one per-key table from `nft -j list set TABLE-FAMILY TABLE NAME` output into `into`.
/// Elements that are not `code . addr . addr . proto . port` are skipped (and counted in the
/// returned number).
pub fn parse_nft_key_set(
    json: &str,
    table: &str,
    name: &str,
    into: &mut KeyCounts,
) -> Result<usize, KeyParseError> {
    let listing: Listing = serde_json::from_str(json)?;
    let mut skipped = 0;
    for item in listing.nftables {
        let Some(set) = item.get("set") else { continue };
        if set.get("table").and_then(|t| t.as_str()) != Some(table)
            || set.get("name").and_then(|t| t.as_str()) != Some(name)
        {
            continue;
        }
        let elems = set
            .get("elem")
            .and_then(|e| e.as_array())
            .cloned()
            .unwrap_or_default();
        into.tables.push(TableFill {
            name: name.to_string(),
            keys: elems.len() as u64,
            size: set.get("size").and_then(|s| s.as_u64()).unwrap_or(0),
        });
        for e in &elems {
            match parse_elem(e) {
                Some((k, packets)) => {
                    *into.keys.entry(k).or_default() += packets;
                }
                None => skipped += 1,
            }
        }
        return Ok(skipped);
    }
    Err(KeyParseError::NoSet(name.to_string()))
}

fn parse_elem(e: &serde_json::Value) -> Option<(KeyId, u64)> {
    let e = e.get("elem")?;
    let parts = e.get("val")?.get("concat")?.as_array()?;
    let [code, src, dst, proto, port] = parts.as_slice() else {
        return None;
    };
    let key = KeyId {
        code: u32::try_from(code.as_u64()?).ok()?,
        src: src.as_str()?.parse().ok()?,
        dst: dst.as_str()?.parse().ok()?,
        protocol: protocol_number(proto)?,
        port: match port {
            serde_json::Value::Number(n) => u16::try_from(n.as_u64()?).ok()?,
            serde_json::Value::String(s) => s.parse().ok()?,
            _ => return None,
        },
    };
    let packets = e.get("counter")?.get("packets")?.as_u64()?;
    Some((key, packets))
}

/// Reads the untracked counters `uN` of `table` from `nft -j list counters ...` output.
pub fn parse_nft_untracked(json: &str, table: &str) -> Result<BTreeMap<u32, u64>, KeyParseError> {
    let listing: Listing = serde_json::from_str(json)?;
    let mut out = BTreeMap::new();
    for item in listing.nftables {
        let Some(c) = item.get("counter") else {
            continue;
        };
        if c.get("table").and_then(|t| t.as_str()) != Some(table) {
            continue;
        }
        let code = c
            .get("name")
            .and_then(|n| n.as_str())
            .and_then(|n| n.strip_prefix('u'))
            .and_then(|n| n.parse::<u32>().ok());
        if let (Some(code), Some(p)) = (code, c.get("packets").and_then(|p| p.as_u64())) {
            out.insert(code, p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from `nft -j list set inet zonegate denykeys4s` (nft 1.0.6) after a UDP probe
    // and a ping; the ICMP key holds type 8, code 0 (8 * 256).
    const LISTING: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"set": {"family": "inet", "name": "denykeys4s", "table": "zonegate", "type": ["mark", "ipv4_addr", "ipv4_addr", "inet_proto", "inet_service"], "handle": 5, "size": 65536, "flags": ["timeout"], "timeout": 600, "elem": [{"elem": {"val": {"concat": [30, "10.20.0.5", "10.10.0.7", "udp", 5353]}, "expires": 599, "counter": {"packets": 1000, "bytes": 29000}}}, {"elem": {"val": {"concat": [30, "10.20.0.5", "10.10.0.7", "icmp", 2048]}, "expires": 599, "counter": {"packets": 2, "bytes": 168}}}]}}]}"#;

    #[test]
    fn a_key_set_listing_parses_with_exact_counts() {
        let mut kc = KeyCounts::default();
        let skipped =
            parse_nft_key_set(LISTING, "zonegate", "denykeys4s", &mut kc).expect("parses");
        assert_eq!(skipped, 0);
        let k = KeyId {
            code: 30,
            src: "10.20.0.5".parse().expect("ip"),
            dst: "10.10.0.7".parse().expect("ip"),
            protocol: 17,
            port: 5353,
        };
        assert_eq!(kc.keys[&k], 1000);
        let icmp = KeyId {
            protocol: 1,
            port: 2048,
            ..k
        };
        assert_eq!(kc.keys[&icmp], 2);
        assert_eq!(
            kc.tables,
            vec![TableFill {
                name: "denykeys4s".into(),
                keys: 2,
                size: 65536
            }]
        );
        assert!(matches!(
            parse_nft_key_set(LISTING, "zonegate", "denykeys6", &mut kc),
            Err(KeyParseError::NoSet(_))
        ));
        assert!(parse_nft_key_set("nope", "zonegate", "x", &mut kc).is_err());
    }

    #[test]
    fn untracked_counters_parse_and_others_are_ignored() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
            {"counter": {"family": "inet", "name": "u30", "table": "zonegate", "handle": 3, "packets": 7, "bytes": 196}},
            {"counter": {"family": "inet", "name": "c30", "table": "zonegate", "handle": 4, "packets": 9, "bytes": 196}},
            {"counter": {"family": "inet", "name": "u31", "table": "other", "handle": 5, "packets": 1, "bytes": 1}}]}"#;
        let u = parse_nft_untracked(json, "zonegate").expect("parses");
        assert_eq!(u.into_iter().collect::<Vec<_>>(), vec![(30, 7)]);
    }
}
