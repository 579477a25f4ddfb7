//! Normalises nft's JSON listing of our table (`nft -s -j list table inet zonegate`) into a
//! [`TableState`] that two listings of the same ruleset always agree on: handles dropped,
//! counter values dropped (`-s` already zeroes most), limit units made explicit, anonymous set
//! and element order sorted, full-length prefixes written as bare addresses, elements of dynamic
//! sets (meters, filled by packets) ignored. The baseline is a listing read back after our own
//! apply, never our rendering of the ruleset: nft lists rules in its own normal form.
//! Also renders rules and elements back into short nft-like text for drift messages.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// Our table, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TableState {
    /// Table attributes other than family, name and handle (comment, flags).
    pub attrs: BTreeMap<String, Value>,
    pub chains: BTreeMap<String, ChainState>,
    /// Named sets and maps.
    pub sets: BTreeMap<String, SetState>,
    /// Stateful objects (counters, quotas, limits, ct helpers...) by `kind name`.
    pub objects: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ChainState {
    /// type, hook, prio, policy, dev, comment.
    pub attrs: BTreeMap<String, Value>,
    /// In order.
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The normalised statements.
    pub expr: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Rule {
    /// A stable key: canonical JSON of the statements and comment.
    pub fn key(&self) -> String {
        let mut k = canonical(&self.expr);
        if let Some(c) = &self.comment {
            k.push_str(" #");
            k.push_str(c);
        }
        k
    }

    /// nft-like text, for people.
    pub fn text(&self) -> String {
        let mut t = match &self.expr {
            Value::Array(stmts) => stmts.iter().map(stmt_text).collect::<Vec<_>>().join(" "),
            other => canonical(other),
        };
        if let Some(c) = &self.comment {
            t.push_str(&format!(" comment \"{c}\""));
        }
        t
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SetState {
    /// "set" or "map".
    pub kind: String,
    /// type, map, flags, timeout, size, policy, comment...
    pub attrs: BTreeMap<String, Value>,
    /// Filled by packets (meters): its elements are not compared.
    pub dynamic: bool,
    /// Canonical JSON of each element.
    pub elements: BTreeSet<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ListingError {
    /// The value is not an nft JSON listing (`{"nftables": [...]}`).
    #[error("not an nft JSON listing")]
    NotAListing,
}

/// Normalises a listing of our table. `None` (table missing) stays None.
pub fn normalise(listing: Option<&Value>) -> Result<Option<TableState>, ListingError> {
    let Some(listing) = listing else {
        return Ok(None);
    };
    let items = listing
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or(ListingError::NotAListing)?;
    let mut state = TableState::default();
    let mut seen_table = false;
    for item in items {
        let Some((kind, body)) = item.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        let Some(obj) = body.as_object() else {
            continue;
        };
        match kind.as_str() {
            "metainfo" => {}
            "table" => {
                seen_table = true;
                state.attrs = strip(obj, &["family", "name", "handle"]);
            }
            "chain" => {
                let name = str_field(obj, "name");
                let chain = state.chains.entry(name).or_default();
                chain.attrs = strip(obj, &["family", "table", "name", "handle"]);
            }
            "rule" => {
                let chain = str_field(obj, "chain");
                let expr = obj
                    .get("expr")
                    .map(normalise_expr)
                    .unwrap_or(Value::Array(Vec::new()));
                let comment = obj
                    .get("comment")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                state
                    .chains
                    .entry(chain)
                    .or_default()
                    .rules
                    .push(Rule { expr, comment });
            }
            "set" | "map" => {
                let name = str_field(obj, "name");
                let mut attrs = strip(obj, &["family", "table", "name", "handle", "elem"]);
                let flags: Vec<String> = match attrs.get("flags") {
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                    Some(Value::String(s)) => vec![s.clone()],
                    _ => Vec::new(),
                };
                if !flags.is_empty() {
                    let mut sorted = flags.clone();
                    sorted.sort();
                    attrs.insert("flags".into(), Value::from(sorted));
                }
                let dynamic = flags.iter().any(|f| f == "dynamic" || f == "timeout");
                let elements = if dynamic {
                    BTreeSet::new()
                } else {
                    obj.get("elem")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().map(|e| canonical(&normalise_elem(e))).collect())
                        .unwrap_or_default()
                };
                state.sets.insert(
                    name,
                    SetState {
                        kind: kind.clone(),
                        attrs,
                        dynamic,
                        elements,
                    },
                );
            }
            "element" => {
                // `nft list` never emits these for a table listing; tolerate them anyway.
            }
            other => {
                let name = str_field(obj, "name");
                let value = Value::Object(
                    strip(
                        obj,
                        &[
                            "family", "table", "name", "handle", "packets", "bytes", "used",
                        ],
                    )
                    .into_iter()
                    .collect(),
                );
                state.objects.insert(format!("{other} {name}"), value);
            }
        }
    }
    if !seen_table {
        return Ok(None);
    }
    Ok(Some(state))
}

/// SHA-256 over the canonical form: equal states hash equal.
pub fn state_hash(state: Option<&TableState>) -> String {
    let text = match state {
        None => "missing".to_string(),
        Some(s) => serde_json::to_string(s).unwrap_or_default(),
    };
    hex(&Sha256::digest(text.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn str_field(obj: &Map<String, Value>, key: &str) -> String {
    obj.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn strip(obj: &Map<String, Value>, drop: &[&str]) -> BTreeMap<String, Value> {
    obj.iter()
        .filter(|(k, _)| !drop.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Canonical JSON text: object keys sorted (serde_json's default map is a BTreeMap).
pub fn canonical(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Normalises statements and expressions recursively.
fn normalise_expr(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(normalise_expr).collect()),
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, val) in o {
                match (k.as_str(), val) {
                    // Anonymous counters: values differ between listings.
                    ("counter", Value::Object(c)) if c.contains_key("packets") => {
                        out.insert(k.clone(), Value::Null);
                    }
                    ("limit", Value::Object(l)) => {
                        let mut l = l.clone();
                        for unit in ["rate_unit", "burst_unit"] {
                            if l.get(unit).and_then(Value::as_str) == Some("packets") {
                                l.remove(unit);
                            }
                        }
                        if l.get("burst").and_then(Value::as_u64) == Some(0) {
                            l.remove("burst");
                        }
                        out.insert(k.clone(), Value::Object(l));
                    }
                    ("set", Value::Array(items)) => {
                        let mut items: Vec<Value> = items.iter().map(normalise_elem).collect();
                        items.sort_by_key(canonical);
                        out.insert(k.clone(), Value::Array(items));
                    }
                    ("prefix", _) => return normalise_elem(v),
                    _ => {
                        out.insert(k.clone(), normalise_expr(val));
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Normalises one set element (or anonymous set item): drops runtime state (counters, expiry),
/// writes a full-length prefix as a bare address.
fn normalise_elem(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            if let Some(Value::Object(p)) = o.get("prefix") {
                if let (Some(addr), Some(len)) = (
                    p.get("addr").and_then(Value::as_str),
                    p.get("len").and_then(Value::as_u64),
                ) {
                    let full = if addr.contains(':') { 128 } else { 32 };
                    if len == full {
                        return Value::String(addr.to_string());
                    }
                }
            }
            let mut out = Map::new();
            for (k, val) in o {
                match k.as_str() {
                    "counter" | "expires" => {}
                    "elem" => {
                        out.insert(k.clone(), normalise_elem(val));
                    }
                    _ => {
                        out.insert(k.clone(), normalise_elem(val));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalise_elem).collect()),
        other => other.clone(),
    }
}

/// nft-like text of one element (as stored canonically).
pub fn element_text(canonical_elem: &str) -> String {
    match serde_json::from_str::<Value>(canonical_elem) {
        Ok(v) => elem_text(&v),
        Err(_) => canonical_elem.to_string(),
    }
}

fn elem_text(v: &Value) -> String {
    match v {
        // A map element: [key, value].
        Value::Array(a) if a.len() == 2 => format!("{} : {}", elem_text(&a[0]), expr_text(&a[1])),
        Value::Object(o) if o.contains_key("elem") => {
            let inner = o.get("elem").cloned().unwrap_or(Value::Null);
            let val = inner.get("val").cloned().unwrap_or(Value::Null);
            let mut t = expr_text(&val);
            if let Some(c) = inner.get("comment").and_then(Value::as_str) {
                t.push_str(&format!(" comment \"{c}\""));
            }
            t
        }
        other => expr_text(other),
    }
}

/// nft-like text of an expression.
pub fn expr_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(a) => a.iter().map(expr_text).collect::<Vec<_>>().join(", "),
        Value::Object(o) => {
            let Some((k, val)) = o.iter().next() else {
                return "{}".into();
            };
            match (k.as_str(), val) {
                ("meta", m) => {
                    let key = m.get("key").and_then(Value::as_str).unwrap_or("?");
                    if matches!(key, "iifname" | "oifname" | "iif" | "oif" | "mark") {
                        key.to_string()
                    } else {
                        format!("meta {key}")
                    }
                }
                ("payload", p) => {
                    let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("?");
                    let field = p.get("field").and_then(Value::as_str).unwrap_or("?");
                    format!("{proto} {field}")
                }
                ("ct", c) => {
                    let mut t = "ct".to_string();
                    if let Some(d) = c.get("dir").and_then(Value::as_str) {
                        t.push(' ');
                        t.push_str(d);
                    }
                    t.push(' ');
                    t.push_str(c.get("key").and_then(Value::as_str).unwrap_or("?"));
                    t
                }
                ("concat", Value::Array(parts)) => {
                    parts.iter().map(expr_text).collect::<Vec<_>>().join(" . ")
                }
                ("prefix", p) => format!(
                    "{}/{}",
                    p.get("addr").map(expr_text).unwrap_or_default(),
                    p.get("len").map(expr_text).unwrap_or_default()
                ),
                ("range", Value::Array(r)) if r.len() == 2 => {
                    format!("{}-{}", expr_text(&r[0]), expr_text(&r[1]))
                }
                ("set", Value::Array(items)) => format!(
                    "{{ {} }}",
                    items.iter().map(elem_text).collect::<Vec<_>>().join(", ")
                ),
                ("map", m) => format!(
                    "{} map {}",
                    m.get("key").map(expr_text).unwrap_or_default(),
                    m.get("data").map(expr_text).unwrap_or_default()
                ),
                ("elem", _) => elem_text(v),
                _ => canonical(v),
            }
        }
    }
}

/// nft-like text of one statement.
fn stmt_text(v: &Value) -> String {
    let Some((k, val)) = v.as_object().and_then(|o| o.iter().next()) else {
        return canonical(v);
    };
    match (k.as_str(), val) {
        ("fake", Value::String(s)) => s.clone(),
        ("match", m) => {
            let left = m.get("left").map(expr_text).unwrap_or_default();
            let right = m.get("right").map(expr_text).unwrap_or_default();
            match m.get("op").and_then(Value::as_str).unwrap_or("==") {
                "==" | "in" => format!("{left} {right}"),
                op => format!("{left} {op} {right}"),
            }
        }
        ("accept" | "drop" | "continue" | "return", _) => k.clone(),
        ("goto" | "jump", t) => format!(
            "{k} {}",
            t.get("target").and_then(Value::as_str).unwrap_or("?")
        ),
        ("counter", Value::Null) => "counter".into(),
        ("counter", Value::String(name)) => format!("counter name \"{name}\""),
        ("log", l) => {
            let mut t = "log".to_string();
            if let Some(p) = l.get("prefix").and_then(Value::as_str) {
                t.push_str(&format!(" prefix \"{p}\""));
            }
            if let Some(g) = l.get("group") {
                t.push_str(&format!(" group {g}"));
            }
            t
        }
        ("limit", l) => format!(
            "limit rate {}/{}{}",
            l.get("rate").map(expr_text).unwrap_or_default(),
            l.get("per").and_then(Value::as_str).unwrap_or("second"),
            l.get("burst")
                .map(|b| format!(" burst {}", expr_text(b)))
                .unwrap_or_default()
        ),
        ("mangle", m) => format!(
            "{} set {}",
            m.get("key").map(expr_text).unwrap_or_default(),
            m.get("value").map(expr_text).unwrap_or_default()
        ),
        ("set", s) => format!(
            "{} {} {{ {} }}",
            s.get("op").and_then(Value::as_str).unwrap_or("update"),
            s.get("set").and_then(Value::as_str).unwrap_or("?"),
            s.get("elem").map(expr_text).unwrap_or_default()
        ),
        ("vmap", m) => format!(
            "{} vmap {}",
            m.get("key").map(expr_text).unwrap_or_default(),
            m.get("data").map(expr_text).unwrap_or_default()
        ),
        _ => canonical(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listing(items: Vec<Value>) -> Value {
        let mut all = vec![
            json!({"metainfo": {"version": "1.0.6"}}),
            json!({"table": {"family": "inet", "name": "zonegate", "handle": 4}}),
        ];
        all.extend(items);
        json!({ "nftables": all })
    }

    #[test]
    fn handles_counters_and_order_do_not_matter() {
        let a = listing(vec![
            json!({"chain": {"family": "inet", "table": "zonegate", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}),
            json!({"rule": {"family": "inet", "table": "zonegate", "chain": "forward", "handle": 7, "expr": [{"counter": {"packets": 5, "bytes": 300}}, {"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}}, "right": {"set": ["b", "a"]}}}, {"accept": null}]}}),
            json!({"set": {"family": "inet", "table": "zonegate", "name": "s", "handle": 3, "type": "ipv4_addr", "elem": ["10.0.0.2", {"prefix": {"addr": "10.0.0.1", "len": 32}}]}}),
            json!({"counter": {"family": "inet", "table": "zonegate", "name": "c1", "handle": 9, "packets": 10, "bytes": 1000}}),
        ]);
        let b = listing(vec![
            json!({"counter": {"family": "inet", "table": "zonegate", "name": "c1", "handle": 90, "packets": 0, "bytes": 0}}),
            json!({"set": {"family": "inet", "table": "zonegate", "name": "s", "handle": 30, "type": "ipv4_addr", "elem": ["10.0.0.1", "10.0.0.2"]}}),
            json!({"chain": {"family": "inet", "table": "zonegate", "name": "forward", "handle": 10, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}),
            json!({"rule": {"family": "inet", "table": "zonegate", "chain": "forward", "handle": 70, "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}}, "right": {"set": ["a", "b"]}}}, {"accept": null}]}}),
        ]);
        let na = normalise(Some(&a)).expect("a");
        let nb = normalise(Some(&b)).expect("b");
        assert_eq!(na, nb);
        assert_eq!(state_hash(na.as_ref()), state_hash(nb.as_ref()));
    }

    #[test]
    fn dynamic_set_elements_are_ignored() {
        let a = listing(vec![
            json!({"set": {"family": "inet", "table": "zonegate", "name": "meter4", "handle": 3, "type": "ipv4_addr", "flags": ["timeout"], "timeout": 60, "elem": [{"elem": {"val": "10.0.0.9", "expires": 30}}]}}),
        ]);
        let b = listing(vec![
            json!({"set": {"family": "inet", "table": "zonegate", "name": "meter4", "handle": 3, "type": "ipv4_addr", "flags": ["timeout"], "timeout": 60}}),
        ]);
        assert_eq!(normalise(Some(&a)), normalise(Some(&b)));
    }

    #[test]
    fn missing_table_is_none_and_garbage_is_an_error() {
        assert_eq!(normalise(None), Ok(None));
        assert_eq!(normalise(Some(&json!({"nftables": []}))), Ok(None));
        assert_eq!(
            normalise(Some(&json!({"x": 1}))),
            Err(ListingError::NotAListing)
        );
    }

    #[test]
    fn renders_rules_and_elements_readably() {
        let rule = Rule {
            expr: normalise_expr(&json!([
                {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "established"}},
                {"match": {"op": "==", "left": {"concat": [{"ct": {"key": "mark"}}, {"meta": {"key": "iifname"}}, {"meta": {"key": "oifname"}}]}, "right": "@live_paths"}},
                {"accept": null}
            ])),
            comment: None,
        };
        assert_eq!(
            rule.text(),
            "ct state established ct mark . iifname . oifname @live_paths accept"
        );
        let e = canonical(&normalise_elem(
            &json!([{"elem": {"val": {"concat": [{"range": ["10.20.1.11", "10.20.1.12"]}, "10.30.0.20", "tcp", 443]}, "comment": "F-010 x"}}, 514299149]),
        ));
        assert_eq!(
            element_text(&e),
            "10.20.1.11-10.20.1.12 . 10.30.0.20 . tcp . 443 comment \"F-010 x\" : 514299149"
        );
    }
}
