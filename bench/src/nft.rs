//! Timed `nft` runs inside a lab namespace: apply (`nft -f -`, one transaction), read-back
//! (`nft -s -j list table inet zonegate`, what the agent compares), and a count of what the
//! kernel holds (rules, sets, elements) taken from the read-back JSON, so "ruleset size" is the
//! kernel's view and not a guess from the text.
//!
//! The clock runs on the thread that entered the namespace, around spawn-to-exit of `nft`, so
//! the figures include the fork/exec and nft's own parse, as an agent pays them, but not the
//! harness's thread and `setns`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zonegate_e2e::lab::{try_in_ns, NFT};

/// Why an nft run failed.
#[derive(Debug)]
pub enum NftError {
    /// The namespace could not be entered or nft could not be spawned.
    Spawn(String),
    /// nft ran and failed.
    Failed {
        /// The arguments, for the reader.
        args: String,
        /// nft's standard error, verbatim.
        stderr: String,
    },
    /// The read-back was not the JSON we expect.
    BadJson(String),
}

impl std::fmt::Display for NftError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NftError::Spawn(m) => write!(f, "cannot run nft: {m}"),
            NftError::Failed { args, stderr } => {
                write!(f, "`nft {args}` failed: {}", stderr.trim_end())
            }
            NftError::BadJson(m) => write!(f, "unexpected nft JSON: {m}"),
        }
    }
}

impl std::error::Error for NftError {}

/// Runs `nft ARGS` in `ns` with `stdin`, returning stdout and the wall time of the child.
pub fn timed_nft(
    ns: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<(Vec<u8>, Duration), NftError> {
    let joined = args.join(" ");
    let run = || -> Result<(Vec<u8>, Duration), NftError> {
        let start = Instant::now();
        let mut child = Command::new(NFT)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| NftError::Spawn(format!("{NFT}: {e}")))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .map_err(|e| NftError::Spawn(format!("write nft stdin: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| NftError::Spawn(format!("wait for nft: {e}")))?;
        let took = start.elapsed();
        if !out.status.success() {
            return Err(NftError::Failed {
                args: joined.clone(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok((out.stdout, took))
    };
    try_in_ns(ns, run).map_err(|e| NftError::Spawn(e.to_string()))?
}

/// Loads `text` with `nft -f -` in `ns`; returns the time it took.
pub fn apply(ns: &str, text: &str) -> Result<Duration, NftError> {
    timed_nft(ns, &["-f", "-"], Some(text)).map(|(_, d)| d)
}

/// What the kernel holds in one table, counted from `nft -j list table` output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableSize {
    /// Chains.
    pub chains: usize,
    /// Rules in all chains.
    pub rules: usize,
    /// Named sets and maps.
    pub sets: usize,
    /// Elements of named sets and maps.
    pub elements: usize,
}

/// A timed read-back of `table inet TABLE`, as the agent's compare does it.
#[derive(Debug, Clone)]
pub struct ReadBack {
    /// Wall time of `nft -s -j list table inet TABLE`.
    pub list: Duration,
    /// Time to parse its JSON into a `serde_json::Value`.
    pub parse: Duration,
    /// Bytes of JSON.
    pub bytes: usize,
    /// What the listing holds.
    pub size: TableSize,
}

/// Lists `table inet TABLE` in `ns` statelessly (`-s`: no counter values) as JSON, timed, and
/// parses and counts it.
pub fn read_back(ns: &str, table: &str) -> Result<ReadBack, NftError> {
    let (json, list) = timed_nft(ns, &["-s", "-j", "list", "table", "inet", table], None)?;
    let start = Instant::now();
    let value: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| NftError::BadJson(e.to_string()))?;
    let parse = start.elapsed();
    let size = table_size(&value)?;
    Ok(ReadBack {
        list,
        parse,
        bytes: json.len(),
        size,
    })
}

/// Counts chains, rules, sets/maps and their elements in nft's JSON listing.
pub fn table_size(listing: &serde_json::Value) -> Result<TableSize, NftError> {
    let items = listing["nftables"]
        .as_array()
        .ok_or_else(|| NftError::BadJson("no \"nftables\" array".into()))?;
    let mut size = TableSize::default();
    for item in items {
        if item.get("chain").is_some() {
            size.chains += 1;
        } else if item.get("rule").is_some() {
            size.rules += 1;
        } else if let Some(set) = item.get("set").or_else(|| item.get("map")) {
            size.sets += 1;
            size.elements += set["elem"].as_array().map_or(0, Vec::len);
        }
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_a_listing() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"nftables":[{"metainfo":{}},{"table":{}},
                {"set":{"name":"s","elem":["a","b"]}},{"map":{"name":"m","elem":[["k","v"]]}},
                {"set":{"name":"empty"}},{"chain":{}},{"chain":{}},{"rule":{}}]}"#,
        )
        .expect("json");
        assert_eq!(
            table_size(&v).expect("listing"),
            TableSize {
                chains: 2,
                rules: 1,
                sets: 3,
                elements: 3
            }
        );
        assert!(table_size(&serde_json::json!({})).is_err());
    }
}
