//! An in-memory kernel for unit tests: it "loads" a ruleset text by turning it into a JSON
//! listing shaped like nft's (chains with rules, sets with elements) and keeps it, records every
//! write with a fake writer pid and generation id, and lets a test tamper with the table (as a
//! foreign writer would) at any moment, including in the middle of an apply.

use super::{Backend, BackendError, Receipt, TableRef};
use crate::netlink::nftables::{Batch, GenWatch, Generation};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use zonegate_policy::names::{FAMILY, TABLE};

/// Pid the fake reports for its own nft children (counting up).
const FIRST_PID: u32 = 40_000;
/// Pid a test's tamper is attributed to.
pub const TAMPER_PID: u32 = 666;

type Hook = Box<dyn FnMut(&mut FakeKernel) + Send>;

/// The fake kernel's state, shared by the backend and the test.
#[derive(Default)]
pub struct FakeKernel {
    /// Our table's listing, None when missing.
    pub table: Option<Value>,
    /// Other tables: (ref, listing).
    pub others: Vec<(TableRef, Value)>,
    /// Every committed generation, in order.
    pub generations: Vec<Generation>,
    /// Texts applied, in order.
    pub applied: Vec<String>,
    /// Number of `check` calls.
    pub checks: usize,
    /// Makes the next apply (or check) fail with this stderr.
    pub fail_next: Option<String>,
    /// Named counters of our table: name (`c12`) -> packets. Reset by every apply.
    pub counters: std::collections::BTreeMap<String, u64>,
    next_pid: u32,
    next_gen: u32,
}

impl FakeKernel {
    fn commit(&mut self, pid: u32, comm: &str) -> u32 {
        self.next_gen += 1;
        self.generations.push(Generation {
            id: self.next_gen,
            pid,
            comm: comm.to_string(),
            touched_ours: true,
            notices: Default::default(),
        });
        self.next_gen
    }

    /// A foreign writer changes our table (`f` edits the listing) in one transaction.
    pub fn tamper(&mut self, f: impl FnOnce(&mut Option<Value>)) {
        f(&mut self.table);
        self.commit(TAMPER_PID, "nft");
    }
}

/// The backend half; clone it to share the kernel with the test.
#[derive(Clone, Default)]
pub struct FakeBackend {
    pub kernel: Arc<Mutex<FakeKernel>>,
    /// Runs right after the next apply commits, before the agent reads back (a racing tamper).
    pub after_apply: Arc<Mutex<Option<Hook>>>,
}

impl FakeBackend {
    pub fn new() -> FakeBackend {
        FakeBackend::default()
    }

    pub fn kernel(&self) -> MutexGuard<'_, FakeKernel> {
        self.kernel.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Installs a one-shot hook that runs after each apply until it is replaced.
    pub fn set_after_apply(&self, hook: Hook) {
        *self
            .after_apply
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(hook);
    }

    pub fn clear_after_apply(&self) {
        *self
            .after_apply
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl Backend for FakeBackend {
    async fn apply(&self, text: &str) -> Result<Receipt, BackendError> {
        let pid = {
            let mut k = self.kernel();
            if let Some(stderr) = k.fail_next.take() {
                return Err(BackendError::Failed {
                    command: "nft -f -".into(),
                    stderr,
                });
            }
            k.next_pid = k.next_pid.max(FIRST_PID) + 1;
            let pid = k.next_pid;
            k.table = render(text);
            k.counters.clear();
            k.applied.push(text.to_string());
            k.commit(pid, "nft");
            pid
        };
        let mut hook = self
            .after_apply
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = hook.as_mut() {
            h(&mut self.kernel());
        }
        Ok(Receipt { pid })
    }

    async fn check(&self, _text: &str) -> Result<(), BackendError> {
        let mut k = self.kernel();
        k.checks += 1;
        match k.fail_next.take() {
            Some(stderr) => Err(BackendError::Failed {
                command: "nft -c -f -".into(),
                stderr,
            }),
            None => Ok(()),
        }
    }

    async fn list_table(&self) -> Result<Option<Value>, BackendError> {
        Ok(self.kernel().table.clone())
    }

    async fn list_tables(&self) -> Result<Vec<TableRef>, BackendError> {
        let k = self.kernel();
        let mut out: Vec<TableRef> = k.others.iter().map(|(t, _)| t.clone()).collect();
        if k.table.is_some() {
            out.push(TableRef {
                family: FAMILY.into(),
                name: TABLE.into(),
            });
        }
        out.sort();
        Ok(out)
    }

    async fn list_other(&self, table: &TableRef) -> Result<Option<Value>, BackendError> {
        Ok(self
            .kernel()
            .others
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, v)| v.clone()))
    }

    /// The fake kernel keeps no per-key tables: the set is missing.
    async fn list_key_set(&self, _name: &str) -> Result<Option<String>, BackendError> {
        Ok(None)
    }

    async fn list_counters(&self) -> Result<Option<String>, BackendError> {
        let k = self.kernel();
        if k.table.is_none() {
            return Ok(None);
        }
        let mut items = vec![json!({"metainfo": {"version": "fake", "json_schema_version": 1}})];
        for (name, packets) in &k.counters {
            items.push(json!({"counter": {"family": FAMILY, "name": name, "table": TABLE, "handle": 1, "packets": packets, "bytes": packets * 28}}));
        }
        Ok(Some(json!({ "nftables": items }).to_string()))
    }

    fn writes(&self) -> u64 {
        self.kernel().applied.len() as u64
    }
}

/// Reads the fake kernel's generations like the netlink monitor reads the real ones.
pub struct FakeWatch {
    kernel: Arc<Mutex<FakeKernel>>,
    seen: usize,
}

impl FakeWatch {
    pub fn new(backend: &FakeBackend) -> FakeWatch {
        let seen = backend.kernel().generations.len();
        FakeWatch {
            kernel: backend.kernel.clone(),
            seen,
        }
    }
}

impl GenWatch for FakeWatch {
    fn drain(&mut self) -> Batch {
        let k = self.kernel.lock().unwrap_or_else(PoisonError::into_inner);
        let generations = k.generations[self.seen.min(k.generations.len())..].to_vec();
        self.seen = k.generations.len();
        Batch {
            generations,
            ..Batch::default()
        }
    }
}

/// Turns an nft text into an nft-shaped JSON listing of `table inet zonegate`: every line inside
/// a `chain NAME {` block becomes a rule, every element inside a `set`/`map` block's
/// `elements = { ... }` becomes an element; `type ... hook ... policy X;` lines become the
/// chain's hook and policy. Good enough to exercise normalise, diff, apply and plan.
pub fn render(text: &str) -> Option<Value> {
    let mut items = vec![
        json!({"metainfo": {"version": "fake", "json_schema_version": 1}}),
        json!({"table": {"family": FAMILY, "name": TABLE, "handle": 1}}),
    ];
    let mut block: Option<(String, String)> = None; // (kind, name)
    let mut rules: Vec<Value> = Vec::new();
    let mut chain_obj: Option<Value> = None;
    let mut elems: Vec<Value> = Vec::new();
    let mut in_elements = false;
    let mut handle = 10;
    let mut seen_table = false;
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with("table ") && line.ends_with('{') {
            seen_table = true;
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match &block {
            None => {
                let mut words = line.split_whitespace();
                let kind = words.next().unwrap_or_default();
                if matches!(kind, "chain" | "set" | "map") && line.ends_with('{') {
                    let name = words.next().unwrap_or_default().to_string();
                    if kind == "chain" {
                        chain_obj = Some(
                            json!({"chain": {"family": FAMILY, "table": TABLE, "name": name, "handle": handle}}),
                        );
                    }
                    handle += 1;
                    block = Some((kind.to_string(), name));
                }
            }
            Some((kind, name)) => {
                if line == "}" && !in_elements {
                    if kind == "chain" {
                        if let Some(c) = chain_obj.take() {
                            items.push(c);
                        }
                        items.append(&mut rules);
                    } else {
                        let mut obj = json!({"family": FAMILY, "table": TABLE, "name": name, "type": "fake", "handle": handle});
                        if !elems.is_empty() {
                            obj["elem"] = Value::Array(std::mem::take(&mut elems));
                        }
                        items.push(json!({ kind.clone(): obj }));
                    }
                    handle += 1;
                    block = None;
                    continue;
                }
                if kind == "chain" {
                    if let Some(rest) = line.strip_prefix("type ") {
                        if let Some(c) = chain_obj.as_mut().and_then(|c| c.get_mut("chain")) {
                            let words: Vec<&str> = rest.split_whitespace().collect();
                            c["type"] = json!(words.first().copied().unwrap_or("filter"));
                            if let Some(i) = words.iter().position(|w| *w == "hook") {
                                c["hook"] = json!(words.get(i + 1).copied().unwrap_or(""));
                            }
                            if let Some(i) = words.iter().position(|w| *w == "policy") {
                                c["policy"] = json!(words
                                    .get(i + 1)
                                    .copied()
                                    .unwrap_or("")
                                    .trim_end_matches(';'));
                            }
                            c["prio"] = json!(0);
                        }
                    } else {
                        rules.push(json!({"rule": {"family": FAMILY, "table": TABLE, "chain": name, "handle": handle, "expr": [{"fake": line}]}}));
                        handle += 1;
                    }
                } else {
                    let mut body = line;
                    if let Some(rest) = body.strip_prefix("elements = {") {
                        in_elements = true;
                        body = rest;
                    }
                    if in_elements {
                        let mut done = false;
                        if let Some(rest) = body.strip_suffix('}') {
                            body = rest;
                            done = true;
                        }
                        for e in body.split(',') {
                            let e = e.trim();
                            if !e.is_empty() {
                                elems.push(json!(e));
                            }
                        }
                        if done {
                            in_elements = false;
                        }
                    }
                }
            }
        }
    }
    seen_table.then(|| json!({ "nftables": items }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_chains_rules_and_elements() {
        let text = "table inet zonegate\ndelete table inet zonegate\ntable inet zonegate {\n\tset s {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1, 10.0.0.2 }\n\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tct state established accept\n\t}\n}\n";
        let v = render(text).expect("listing");
        let items = v["nftables"].as_array().expect("items");
        assert!(items
            .iter()
            .any(|i| i["set"]["elem"] == json!(["10.0.0.1", "10.0.0.2"])));
        assert!(items.iter().any(|i| i["chain"]["policy"] == "drop"));
        assert!(items
            .iter()
            .any(|i| i["rule"]["expr"][0]["fake"] == "ct state established accept"));
    }
}
