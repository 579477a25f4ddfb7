//! `diff(&baseline, &observed) -> Drift`: what changed in our table, in terms an operator reads
//! ("chain forward: rule inserted at 1: ... accept", "set live_paths: element removed: ...",
//! "chain forward: policy drop -> accept", "table missing"). Pure and unit-tested with plain
//! values; the agent calls it with the read-back baseline and a fresh listing.

use crate::listing::{canonical, element_text, ChainState, Rule, SetState, TableState};
use crate::netlink::notices::{policy_name, Notice, NoticeKind, Pending};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    TableMissing,
    TableAppeared,
    TableAttr {
        key: String,
        from: String,
        to: String,
    },
    ChainAdded {
        chain: String,
    },
    ChainRemoved {
        chain: String,
    },
    ChainAttr {
        chain: String,
        key: String,
        from: String,
        to: String,
    },
    RuleAdded {
        chain: String,
        position: usize,
        rule: String,
    },
    RuleRemoved {
        chain: String,
        position: usize,
        rule: String,
    },
    SetAdded {
        set: String,
    },
    SetRemoved {
        set: String,
    },
    SetAttr {
        set: String,
        key: String,
        from: String,
        to: String,
    },
    ElementAdded {
        set: String,
        element: String,
    },
    ElementRemoved {
        set: String,
        element: String,
    },
    ObjectAdded {
        object: String,
    },
    ObjectRemoved {
        object: String,
    },
    ObjectChanged {
        object: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::TableMissing => write!(f, "table inet zonegate missing"),
            Change::TableAppeared => write!(f, "table inet zonegate appeared"),
            Change::TableAttr { key, from, to } => write!(f, "table: {key} {from} -> {to}"),
            Change::ChainAdded { chain } => write!(f, "chain {chain}: added"),
            Change::ChainRemoved { chain } => write!(f, "chain {chain}: removed"),
            Change::ChainAttr {
                chain,
                key,
                from,
                to,
            } => write!(f, "chain {chain}: {key} {from} -> {to}"),
            Change::RuleAdded {
                chain,
                position,
                rule,
            } => write!(f, "chain {chain}: rule added at {position}: {rule}"),
            Change::RuleRemoved {
                chain,
                position,
                rule,
            } => write!(f, "chain {chain}: rule removed from {position}: {rule}"),
            Change::SetAdded { set } => write!(f, "set {set}: added"),
            Change::SetRemoved { set } => write!(f, "set {set}: removed"),
            Change::SetAttr { set, key, from, to } => write!(f, "set {set}: {key} {from} -> {to}"),
            Change::ElementAdded { set, element } => {
                write!(f, "set {set}: element added: {element}")
            }
            Change::ElementRemoved { set, element } => {
                write!(f, "set {set}: element removed: {element}")
            }
            Change::ObjectAdded { object } => write!(f, "{object}: added"),
            Change::ObjectRemoved { object } => write!(f, "{object}: removed"),
            Change::ObjectChanged { object } => write!(f, "{object}: changed"),
        }
    }
}

/// Every difference between a baseline and an observation, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Drift {
    pub changes: Vec<Change>,
}

/// Most lines a drift message lists before "... and N more".
const MAX_LINES: usize = 50;

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// One line per change (at most [`MAX_LINES`], then a count).
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .changes
            .iter()
            .take(MAX_LINES)
            .map(ToString::to_string)
            .collect();
        if self.changes.len() > MAX_LINES {
            out.push(format!("... and {} more", self.changes.len() - MAX_LINES));
        }
        out
    }

    /// A one-line summary: "table missing" or "chain forward: 1 rule added; set s: 2 elements removed".
    pub fn summary(&self) -> String {
        if self.changes.contains(&Change::TableMissing) {
            return "table inet zonegate missing".into();
        }
        let mut counts: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
        for c in &self.changes {
            let (subject, what) = match c {
                Change::TableMissing => ("table".to_string(), "missing"),
                Change::TableAppeared => ("table".to_string(), "appeared"),
                Change::TableAttr { key, .. } => (format!("table {key}"), "changed"),
                Change::ChainAdded { chain } => (format!("chain {chain}"), "added"),
                Change::ChainRemoved { chain } => (format!("chain {chain}"), "removed"),
                Change::ChainAttr { chain, key, .. } => (format!("chain {chain} {key}"), "changed"),
                Change::RuleAdded { chain, .. } => (format!("chain {chain}"), "rule(s) added"),
                Change::RuleRemoved { chain, .. } => (format!("chain {chain}"), "rule(s) removed"),
                Change::SetAdded { set } => (format!("set {set}"), "added"),
                Change::SetRemoved { set } => (format!("set {set}"), "removed"),
                Change::SetAttr { set, key, .. } => (format!("set {set} {key}"), "changed"),
                Change::ElementAdded { set, .. } => (format!("set {set}"), "element(s) added"),
                Change::ElementRemoved { set, .. } => (format!("set {set}"), "element(s) removed"),
                Change::ObjectAdded { object } => (object.clone(), "added"),
                Change::ObjectRemoved { object } => (object.clone(), "removed"),
                Change::ObjectChanged { object } => (object.clone(), "changed"),
            };
            *counts.entry((subject, what)).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|((subject, what), n)| {
                if what.contains("(s)") {
                    format!("{subject}: {n} {what}")
                } else {
                    format!("{subject}: {what}")
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Longest readable diff kept in an event (the alert schema cuts at 32 KiB as well).
const MAX_DIFF_BYTES: usize = 32 * 1024;

impl Change {
    /// The change as diff lines: `-` what was applied (the baseline), `+` what is observed.
    fn diff_lines(&self, out: &mut Vec<String>) {
        match self {
            Change::TableMissing => out.push("- table inet zonegate (the whole table)".into()),
            Change::TableAppeared => out.push("+ table inet zonegate".into()),
            Change::TableAttr { key, from, to } => {
                out.push(format!("- table {key} {from}"));
                out.push(format!("+ table {key} {to}"));
            }
            Change::ChainAdded { chain } => out.push(format!("+ chain {chain}")),
            Change::ChainRemoved { chain } => out.push(format!("- chain {chain}")),
            Change::ChainAttr {
                chain,
                key,
                from,
                to,
            } => {
                out.push(format!("- chain {chain}: {key} {from}"));
                out.push(format!("+ chain {chain}: {key} {to}"));
            }
            Change::RuleAdded {
                chain,
                position,
                rule,
            } => out.push(format!("+ chain {chain} rule {position}: {rule}")),
            Change::RuleRemoved {
                chain,
                position,
                rule,
            } => out.push(format!("- chain {chain} rule {position}: {rule}")),
            Change::SetAdded { set } => out.push(format!("+ set {set}")),
            Change::SetRemoved { set } => out.push(format!("- set {set}")),
            Change::SetAttr { set, key, from, to } => {
                out.push(format!("- set {set}: {key} {from}"));
                out.push(format!("+ set {set}: {key} {to}"));
            }
            Change::ElementAdded { set, element } => {
                out.push(format!("+ set {set} element {element}"))
            }
            Change::ElementRemoved { set, element } => {
                out.push(format!("- set {set} element {element}"))
            }
            Change::ObjectAdded { object } => out.push(format!("+ {object}")),
            Change::ObjectRemoved { object } => out.push(format!("- {object}")),
            Change::ObjectChanged { object } => {
                out.push(format!("- {object} (as applied)"));
                out.push(format!("+ {object} (changed)"));
            }
        }
    }
}

impl Drift {
    /// A readable diff of every change (not only the first lines): a `--- applied` /
    /// `+++ observed` header, then `-` lines for what was applied and `+` lines for what is in
    /// the kernel now; cut at 32 KiB with a note.
    pub fn diff_text(&self) -> String {
        let mut lines = vec![
            "--- applied (table inet zonegate as the agent loaded it)".to_string(),
            "+++ observed".to_string(),
        ];
        for c in &self.changes {
            c.diff_lines(&mut lines);
        }
        let mut text = String::new();
        for (i, line) in lines.iter().enumerate() {
            if text.len() + line.len() + 1 > MAX_DIFF_BYTES {
                text.push_str(&format!(
                    "... [{} more line(s) not shown]\n",
                    lines.len() - i
                ));
                break;
            }
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

/// What foreign transactions did to our table according to the kernel's change notices, in
/// the words of a [`Drift`] where they can be the same ("chain forward: rule added",
/// "set src4: element removed", "chain forward: policy drop -> accept"). Used when no listing
/// shows the tamper: the repair came before the listing, or the write changed nothing visible.
/// `baseline` supplies what a chain's policy was.
pub fn notice_lines(txns: &[Pending], baseline: Option<&TableState>) -> Vec<String> {
    let mut out = Vec::new();
    let mut more = 0u32;
    for t in txns {
        more = more.saturating_add(t.more);
        let deleted = t.notices.iter().any(|n| n.kind == NoticeKind::TableDeleted);
        for n in &t.notices {
            // Deleting the table removes everything in it: one line says it.
            let consequence = matches!(
                n.kind,
                NoticeKind::ChainDeleted
                    | NoticeKind::RuleRemoved
                    | NoticeKind::SetDeleted
                    | NoticeKind::ElementsRemoved
                    | NoticeKind::ObjectDeleted
                    | NoticeKind::FlowtableDeleted
            );
            if deleted && consequence {
                continue;
            }
            for line in notice_detail_lines(n, baseline) {
                if !out.contains(&line) {
                    out.push(line);
                }
            }
        }
    }
    if more > 0 {
        out.push(format!("... and {more} more change notice(s)"));
    }
    out
}

/// " (9 rules)" after a line that stands for more than one change.
fn counted(n: &Notice, what: &str) -> String {
    if n.count == 1 {
        String::new()
    } else {
        format!(" ({} {what})", n.count)
    }
}

/// The field types of a set in the baseline (`["ipv4_addr"]`, or one per concatenated field).
fn set_types(baseline: Option<&TableState>, set: &str) -> Vec<String> {
    match baseline
        .and_then(|b| b.sets.get(set))
        .and_then(|s| s.attrs.get("type"))
    {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// A notice's lines: what was written, from the notices' own payload where it carries it (the
/// rules' expressions, the elements' keys), else the one summary line.
fn notice_detail_lines(n: &Notice, baseline: Option<&TableState>) -> Vec<String> {
    let o = &n.object;
    let verb = match n.kind {
        NoticeKind::RuleAdded => Some("added"),
        NoticeKind::RuleRemoved => Some("removed"),
        _ => None,
    };
    if let (Some(verb), false) = (verb, n.rules.is_empty()) {
        let mut out: Vec<String> = n
            .rules
            .iter()
            .map(|(h, r)| match h {
                Some(h) => format!("chain {o}: rule {verb} (handle {h}): {r}"),
                None => format!("chain {o}: rule {verb}: {r}"),
            })
            .collect();
        let more = (n.count as usize).saturating_sub(n.rules.len());
        if more > 0 {
            out.push(format!("chain {o}: ... and {more} more rule(s) {verb}"));
        }
        return out;
    }
    let verb = match n.kind {
        NoticeKind::ElementsAdded => Some("added"),
        NoticeKind::ElementsRemoved => Some("removed"),
        _ => None,
    };
    if let (Some(verb), false) = (verb, n.elements.is_empty()) {
        let types = set_types(baseline, o);
        let shown: Vec<String> = n
            .elements
            .iter()
            .map(|e| crate::netlink::expr::show_elem(e, &types))
            .collect();
        let more = (n.count as usize).saturating_sub(n.elements.len());
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        return vec![format!(
            "set {o}: element{} {verb}: {}{tail}",
            if n.count == 1 { "" } else { "s" },
            shown.join(", ")
        )];
    }
    notice_line(n, baseline).into_iter().collect()
}

fn notice_line(n: &Notice, baseline: Option<&TableState>) -> Option<String> {
    let o = &n.object;
    Some(match n.kind {
        NoticeKind::TableDeleted => "table inet zonegate deleted (missing until repaired)".into(),
        NoticeKind::TableDeclared => return None, // `add table` of an existing table is a no-op
        NoticeKind::ChainDeclared => {
            let before = baseline
                .and_then(|b| b.chains.get(o))
                .and_then(|c| c.attrs.get("policy"))
                .map(|v| show(Some(v)));
            match (n.policy.map(policy_name), before) {
                (Some(now), Some(before)) if before != now => {
                    format!("chain {o}: policy {before} -> {now}")
                }
                (Some(now), None) => format!("chain {o}: declared with policy {now}"),
                _ => format!("chain {o}: declared or changed"),
            }
        }
        NoticeKind::ChainDeleted => format!("chain {o}: deleted"),
        NoticeKind::RuleAdded => match (n.count, n.handle) {
            (1, Some(h)) => format!("chain {o}: rule added (handle {h})"),
            _ => format!("chain {o}: rule added{}", counted(n, "rules")),
        },
        NoticeKind::RuleRemoved => format!("chain {o}: rule removed{}", counted(n, "rules")),
        NoticeKind::SetDeclared => format!("set {o}: declared or changed"),
        NoticeKind::SetDeleted => format!("set {o}: deleted"),
        NoticeKind::ElementsAdded => {
            format!("set {o}: element added{}", counted(n, "elements"))
        }
        NoticeKind::ElementsRemoved => {
            format!("set {o}: element removed{}", counted(n, "elements"))
        }
        NoticeKind::ObjectDeclared => format!("object {o}: declared or changed"),
        NoticeKind::ObjectDeleted => format!("object {o}: deleted"),
        NoticeKind::FlowtableDeclared => format!("flowtable {o}: declared or changed"),
        NoticeKind::FlowtableDeleted => format!("flowtable {o}: deleted"),
    })
}

/// Whether a listing's drift only touches what the kernel's notices say the writers touched.
/// A listing taken while our own restore commits can show a half-built table (seen on Linux
/// 6.18 with nft 1.0.6: a set missing elements that no tamper removed); such a listing is not
/// evidence of the tamper, the notices are. True when the notices cannot bound it (the table
/// was deleted, or notices overflowed or are absent).
pub fn explained_by(drift: &Drift, txns: &[Pending]) -> bool {
    let all: Vec<&Notice> = txns.iter().flat_map(|t| t.notices.iter()).collect();
    if all.is_empty()
        || txns.iter().any(|t| t.more > 0)
        || all.iter().any(|n| n.kind == NoticeKind::TableDeleted)
    {
        return true;
    }
    let named = |kinds: &[NoticeKind], name: &str| {
        all.iter()
            .any(|n| kinds.contains(&n.kind) && n.object == name)
    };
    let chain = [
        NoticeKind::ChainDeclared,
        NoticeKind::ChainDeleted,
        NoticeKind::RuleAdded,
        NoticeKind::RuleRemoved,
    ];
    let set = [
        NoticeKind::SetDeclared,
        NoticeKind::SetDeleted,
        NoticeKind::ElementsAdded,
        NoticeKind::ElementsRemoved,
    ];
    drift.changes.iter().all(|c| match c {
        Change::TableMissing | Change::TableAppeared | Change::TableAttr { .. } => {
            all.iter().any(|n| n.kind == NoticeKind::TableDeclared)
        }
        Change::ChainAdded { chain: name }
        | Change::ChainRemoved { chain: name }
        | Change::ChainAttr { chain: name, .. }
        | Change::RuleAdded { chain: name, .. }
        | Change::RuleRemoved { chain: name, .. } => named(&chain, name),
        Change::SetAdded { set: name }
        | Change::SetRemoved { set: name }
        | Change::SetAttr { set: name, .. }
        | Change::ElementAdded { set: name, .. }
        | Change::ElementRemoved { set: name, .. } => named(&set, name),
        Change::ObjectAdded { .. }
        | Change::ObjectRemoved { .. }
        | Change::ObjectChanged { .. } => all.iter().any(|n| {
            matches!(
                n.kind,
                NoticeKind::ObjectDeclared | NoticeKind::ObjectDeleted
            )
        }),
    })
}

/// What changed from `baseline` to `observed` (None: table missing).
pub fn diff(baseline: Option<&TableState>, observed: Option<&TableState>) -> Drift {
    let mut changes = Vec::new();
    match (baseline, observed) {
        (None, None) => {}
        (Some(_), None) => changes.push(Change::TableMissing),
        (None, Some(_)) => changes.push(Change::TableAppeared),
        (Some(b), Some(o)) => diff_tables(b, o, &mut changes),
    }
    Drift { changes }
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => canonical(other),
    }
}

fn diff_attrs(
    b: &BTreeMap<String, Value>,
    o: &BTreeMap<String, Value>,
    mut push: impl FnMut(String, String, String),
) {
    let keys: std::collections::BTreeSet<&String> = b.keys().chain(o.keys()).collect();
    for k in keys {
        if b.get(k) != o.get(k) {
            push(k.clone(), show(b.get(k)), show(o.get(k)));
        }
    }
}

fn diff_tables(b: &TableState, o: &TableState, out: &mut Vec<Change>) {
    diff_attrs(&b.attrs, &o.attrs, |key, from, to| {
        out.push(Change::TableAttr { key, from, to })
    });
    for (name, bc) in &b.chains {
        match o.chains.get(name) {
            None => out.push(Change::ChainRemoved {
                chain: name.clone(),
            }),
            Some(oc) => diff_chain(name, bc, oc, out),
        }
    }
    for (name, oc) in &o.chains {
        if !b.chains.contains_key(name) {
            out.push(Change::ChainAdded {
                chain: name.clone(),
            });
            diff_chain(name, &ChainState::default(), oc, out);
        }
    }
    for (name, bs) in &b.sets {
        match o.sets.get(name) {
            None => out.push(Change::SetRemoved { set: name.clone() }),
            Some(os) => diff_set(name, bs, os, out),
        }
    }
    for (name, os) in &o.sets {
        if !b.sets.contains_key(name) {
            out.push(Change::SetAdded { set: name.clone() });
            diff_set(name, &SetState::default(), os, out);
        }
    }
    for (name, bv) in &b.objects {
        match o.objects.get(name) {
            None => out.push(Change::ObjectRemoved {
                object: name.clone(),
            }),
            Some(ov) if ov != bv => out.push(Change::ObjectChanged {
                object: name.clone(),
            }),
            Some(_) => {}
        }
    }
    for name in o.objects.keys() {
        if !b.objects.contains_key(name) {
            out.push(Change::ObjectAdded {
                object: name.clone(),
            });
        }
    }
}

fn diff_chain(name: &str, b: &ChainState, o: &ChainState, out: &mut Vec<Change>) {
    diff_attrs(&b.attrs, &o.attrs, |key, from, to| {
        out.push(Change::ChainAttr {
            chain: name.to_string(),
            key,
            from,
            to,
        })
    });
    for (kind, pos, rule) in diff_rules(&b.rules, &o.rules) {
        out.push(match kind {
            Edit::Removed => Change::RuleRemoved {
                chain: name.to_string(),
                position: pos,
                rule: rule.text(),
            },
            Edit::Added => Change::RuleAdded {
                chain: name.to_string(),
                position: pos,
                rule: rule.text(),
            },
        });
    }
}

fn diff_set(name: &str, b: &SetState, o: &SetState, out: &mut Vec<Change>) {
    diff_attrs(&b.attrs, &o.attrs, |key, from, to| {
        out.push(Change::SetAttr {
            set: name.to_string(),
            key,
            from,
            to,
        })
    });
    for e in b.elements.difference(&o.elements) {
        out.push(Change::ElementRemoved {
            set: name.to_string(),
            element: element_text(e),
        });
    }
    for e in o.elements.difference(&b.elements) {
        out.push(Change::ElementAdded {
            set: name.to_string(),
            element: element_text(e),
        });
    }
}

enum Edit {
    Added,
    Removed,
}

/// Largest chain pair (rules × rules) diffed by longest common subsequence; larger ones fall
/// back to a multiset difference (positions are then approximate).
const LCS_LIMIT: usize = 4_000_000;

/// Rule edits with 1-based positions (removed: position in the baseline; added: in the
/// observation).
fn diff_rules<'a>(b: &'a [Rule], o: &'a [Rule]) -> Vec<(Edit, usize, &'a Rule)> {
    let bk: Vec<String> = b.iter().map(Rule::key).collect();
    let ok: Vec<String> = o.iter().map(Rule::key).collect();
    let mut edits = Vec::new();
    if bk == ok {
        return edits;
    }
    if bk.len().saturating_mul(ok.len()) > LCS_LIMIT {
        let mut pool: BTreeMap<&str, usize> = BTreeMap::new();
        for k in &ok {
            *pool.entry(k.as_str()).or_default() += 1;
        }
        for (i, k) in bk.iter().enumerate() {
            match pool.get_mut(k.as_str()) {
                Some(n) if *n > 0 => *n -= 1,
                _ => edits.push((Edit::Removed, i + 1, &b[i])),
            }
        }
        let mut pool: BTreeMap<&str, usize> = BTreeMap::new();
        for k in &bk {
            *pool.entry(k.as_str()).or_default() += 1;
        }
        for (j, k) in ok.iter().enumerate() {
            match pool.get_mut(k.as_str()) {
                Some(n) if *n > 0 => *n -= 1,
                _ => edits.push((Edit::Added, j + 1, &o[j])),
            }
        }
        return edits;
    }
    // Classic LCS table, then walk it.
    let (n, m) = (bk.len(), ok.len());
    let mut t = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            t[i][j] = if bk[i] == ok[j] {
                t[i + 1][j + 1] + 1
            } else {
                t[i + 1][j].max(t[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if bk[i] == ok[j] {
            i += 1;
            j += 1;
        } else if t[i + 1][j] >= t[i][j + 1] {
            edits.push((Edit::Removed, i + 1, &b[i]));
            i += 1;
        } else {
            edits.push((Edit::Added, j + 1, &o[j]));
            j += 1;
        }
    }
    for (k, rule) in b.iter().enumerate().skip(i) {
        edits.push((Edit::Removed, k + 1, rule));
    }
    for (k, rule) in o.iter().enumerate().skip(j) {
        edits.push((Edit::Added, k + 1, rule));
    }
    edits
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(text: &str) -> Rule {
        Rule {
            expr: json!([{ "fake": text }]),
            comment: None,
        }
    }

    fn base() -> TableState {
        let mut t = TableState::default();
        let mut fwd = ChainState::default();
        fwd.attrs.insert("policy".into(), json!("drop"));
        fwd.attrs.insert("hook".into(), json!("forward"));
        fwd.rules = vec![
            rule("ct state invalid drop"),
            rule("ct state new goto forward-new"),
        ];
        t.chains.insert("forward".into(), fwd);
        let mut s = SetState {
            kind: "set".into(),
            ..SetState::default()
        };
        s.elements.insert(canonical(&json!("10.0.0.1")));
        s.elements.insert(canonical(&json!("10.0.0.2")));
        t.sets.insert("src4".into(), s);
        t
    }

    #[test]
    fn equal_states_have_no_drift() {
        let b = base();
        assert!(diff(Some(&b), Some(&b.clone())).is_empty());
        assert!(diff(None, None).is_empty());
    }

    #[test]
    fn missing_table() {
        let d = diff(Some(&base()), None);
        assert_eq!(d.changes, vec![Change::TableMissing]);
        assert_eq!(d.summary(), "table inet zonegate missing");
    }

    #[test]
    fn inserted_rule_is_reported_with_its_position() {
        let b = base();
        let mut o = b.clone();
        if let Some(c) = o.chains.get_mut("forward") {
            c.rules.insert(0, rule("ip saddr 10.30.0.2 accept"));
        }
        let d = diff(Some(&b), Some(&o));
        assert_eq!(
            d.changes,
            vec![Change::RuleAdded {
                chain: "forward".into(),
                position: 1,
                rule: "ip saddr 10.30.0.2 accept".into()
            }]
        );
        assert_eq!(d.summary(), "chain forward: 1 rule(s) added");
    }

    #[test]
    fn deleted_rule_and_policy_change() {
        let b = base();
        let mut o = b.clone();
        if let Some(c) = o.chains.get_mut("forward") {
            c.rules.remove(1);
            c.attrs.insert("policy".into(), json!("accept"));
        }
        let d = diff(Some(&b), Some(&o));
        assert!(d.changes.contains(&Change::ChainAttr {
            chain: "forward".into(),
            key: "policy".into(),
            from: "drop".into(),
            to: "accept".into()
        }));
        assert!(d.changes.contains(&Change::RuleRemoved {
            chain: "forward".into(),
            position: 2,
            rule: "ct state new goto forward-new".into()
        }));
        assert_eq!(d.to_string().lines().count(), 2);
    }

    #[test]
    fn set_elements_added_and_removed() {
        let b = base();
        let mut o = b.clone();
        if let Some(s) = o.sets.get_mut("src4") {
            s.elements.remove(&canonical(&json!("10.0.0.1")));
            s.elements.insert(canonical(&json!("10.99.0.1")));
        }
        let d = diff(Some(&b), Some(&o));
        assert_eq!(
            d.changes,
            vec![
                Change::ElementRemoved {
                    set: "src4".into(),
                    element: "10.0.0.1".into()
                },
                Change::ElementAdded {
                    set: "src4".into(),
                    element: "10.99.0.1".into()
                }
            ]
        );
        assert_eq!(
            d.summary(),
            "set src4: 1 element(s) added; set src4: 1 element(s) removed"
        );
    }

    #[test]
    fn chains_and_sets_added_or_removed() {
        let b = base();
        let mut o = b.clone();
        o.chains.remove("forward");
        o.sets.insert("evil".into(), SetState::default());
        let d = diff(Some(&b), Some(&o));
        assert!(d.changes.contains(&Change::ChainRemoved {
            chain: "forward".into()
        }));
        assert!(d.changes.contains(&Change::SetAdded { set: "evil".into() }));
    }

    #[test]
    fn reordered_rules_show_as_remove_and_add() {
        let b = base();
        let mut o = b.clone();
        if let Some(c) = o.chains.get_mut("forward") {
            c.rules.swap(0, 1);
        }
        let d = diff(Some(&b), Some(&o));
        assert_eq!(d.changes.len(), 2);
    }

    #[test]
    fn diff_text_marks_applied_and_observed() {
        let b = base();
        let mut o = b.clone();
        if let Some(c) = o.chains.get_mut("forward") {
            c.rules.insert(0, rule("ip saddr 10.30.0.2 accept"));
            c.attrs.insert("policy".into(), json!("accept"));
        }
        if let Some(s) = o.sets.get_mut("src4") {
            s.elements.remove(&canonical(&json!("10.0.0.1")));
        }
        let text = diff(Some(&b), Some(&o)).diff_text();
        assert!(text.starts_with("--- applied"), "{text}");
        assert!(
            text.contains("\n+ chain forward rule 1: ip saddr 10.30.0.2 accept\n"),
            "{text}"
        );
        assert!(text.contains("\n- chain forward: policy drop\n+ chain forward: policy accept\n"));
        assert!(text.contains("\n- set src4 element 10.0.0.1\n"));
        assert!(diff(Some(&b), None)
            .diff_text()
            .contains("- table inet zonegate"));
        // Every change is in the diff (the line list stops at 50), up to 32 KiB.
        let mut big = b.clone();
        if let Some(s) = big.sets.get_mut("src4") {
            for i in 0..3000 {
                s.elements
                    .insert(canonical(&json!(format!("10.{}.{}.1", i / 250, i % 250))));
            }
        }
        let long = diff(Some(&b), Some(&big)).diff_text();
        assert!(long.len() <= MAX_DIFF_BYTES + 64, "{}", long.len());
        assert!(long.contains("more line(s) not shown"));
        let d = diff(Some(&b), Some(&o));
        assert_eq!(d.diff_text().lines().count(), 2 + 4);
    }

    #[test]
    fn long_drifts_are_capped_in_lines() {
        let b = base();
        let mut o = b.clone();
        if let Some(s) = o.sets.get_mut("src4") {
            for i in 0..120 {
                s.elements.insert(canonical(&json!(format!("10.1.0.{i}"))));
            }
        }
        let d = diff(Some(&b), Some(&o));
        let lines = d.lines();
        assert_eq!(lines.len(), MAX_LINES + 1);
        assert!(lines[MAX_LINES].contains("70 more"));
    }

    fn notice(kind: NoticeKind, object: &str, count: u32) -> Notice {
        Notice {
            kind,
            object: object.into(),
            count,
            handle: None,
            policy: None,
            rules: Vec::new(),
            elements: Vec::new(),
        }
    }

    #[test]
    fn notices_that_carry_the_rule_and_elements_show_them() {
        let mut rule = notice(NoticeKind::RuleAdded, "forward", 2);
        rule.rules = vec![
            (Some(41), "ip saddr 10.10.0.5 accept".into()),
            (Some(42), "tcp dport 22 accept".into()),
        ];
        let mut elems = notice(NoticeKind::ElementsAdded, "src4", 3);
        elems.elements = vec![crate::netlink::expr::ElemKey {
            key: vec![10, 20, 0, 9],
            key_end: None,
            interval_end: false,
            verdict: None,
            data: None,
        }];
        let txn = Pending {
            notices: vec![rule, elems],
            more: 0,
        };
        assert_eq!(
            notice_lines(&[txn], Some(&base())),
            vec![
                "chain forward: rule added (handle 41): ip saddr 10.10.0.5 accept",
                "chain forward: rule added (handle 42): tcp dport 22 accept",
                "set src4: elements added: 10.20.0.9 and 2 more",
            ]
        );
    }

    #[test]
    fn notices_read_like_a_diff() {
        let b = base();
        let mut policy = notice(NoticeKind::ChainDeclared, "forward", 1);
        policy.policy = Some(1);
        let mut rule = notice(NoticeKind::RuleAdded, "forward", 1);
        rule.handle = Some(41);
        let txn = Pending {
            notices: vec![
                rule,
                notice(NoticeKind::ElementsRemoved, "src4", 2),
                notice(NoticeKind::RuleRemoved, "antispoof", 9),
                policy,
                notice(NoticeKind::TableDeclared, "", 1),
            ],
            more: 3,
        };
        assert_eq!(
            notice_lines(&[txn], Some(&b)),
            vec![
                "chain forward: rule added (handle 41)",
                "set src4: element removed (2 elements)",
                "chain antispoof: rule removed (9 rules)",
                "chain forward: policy drop -> accept",
                "... and 3 more change notice(s)",
            ]
        );
    }

    #[test]
    fn a_deleted_table_is_one_line() {
        let txn = Pending {
            notices: vec![
                notice(NoticeKind::RuleRemoved, "forward", 20),
                notice(NoticeKind::ElementsRemoved, "src4", 2),
                notice(NoticeKind::TableDeleted, "", 1),
            ],
            more: 0,
        };
        assert_eq!(
            notice_lines(&[txn.clone(), txn], Some(&base())),
            vec!["table inet zonegate deleted (missing until repaired)"]
        );
    }

    #[test]
    fn a_listing_is_evidence_only_for_what_the_notices_name() {
        let b = base();
        let mut tampered = b.clone();
        if let Some(c) = tampered.chains.get_mut("forward") {
            c.rules.insert(0, rule("ip saddr 10.30.0.5 accept"));
        }
        let rule_added = Pending {
            notices: vec![notice(NoticeKind::RuleAdded, "forward", 1)],
            more: 0,
        };
        let d = diff(Some(&b), Some(&tampered));
        assert!(explained_by(&d, std::slice::from_ref(&rule_added)));
        // A listing that raced our restore: elements missing that nobody removed.
        let mut half = tampered.clone();
        if let Some(s) = half.sets.get_mut("src4") {
            s.elements.clear();
        }
        let d = diff(Some(&b), Some(&half));
        assert!(!explained_by(&d, std::slice::from_ref(&rule_added)));
        let deleted = Pending {
            notices: vec![notice(NoticeKind::TableDeleted, "", 1)],
            more: 0,
        };
        assert!(explained_by(&d, &[deleted]));
        assert!(explained_by(&d, &[]));
    }
}
