//! `plan`: what `apply` would change, in an administrator's terms, touching nothing. Compares the
//! compiled policy with the live table (and with the last-known-good, which says what the agent
//! loaded last and how the kernel listed it): flows added, revoked or changed by id; chains and
//! sets added or removed; the ruleset lines that change; drift to be repaired; pending expiries.
//! The plan hash covers the compiled ruleset and the live table, so `apply --plan-hash` refuses
//! if either moved since the plan was printed.

use crate::drift::diff;
use crate::events::FlowDiff;
use crate::listing::{self, TableState};
use crate::policy_source::Compiled;
use crate::state::LastKnownGood;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use zonegate_policy::messages::{Arg, Lang, Text};
use zonegate_policy::metadata::FlowMeta;
use zonegate_policy::t;

/// Most ruleset lines a plan lists.
const MAX_LINES: usize = 200;

/// The live table compared with what the agent loaded last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Live {
    /// No `table inet zonegate`: apply loads everything.
    Missing,
    /// The table is exactly what the agent loaded last.
    MatchesLastKnownGood,
    /// The table differs from what the agent loaded last.
    Drifted { changes: Vec<String> },
    /// A table is there but this agent has no record of loading it.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expiry {
    pub flow: String,
    pub expires: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub gateway: String,
    pub policy: String,
    pub revision: String,
    pub ruleset_sha256: String,
    /// The key that approved the policy (`SHA256:... comment`), when signatures are checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    pub live: Live,
    pub flows: FlowDiff,
    /// Details of the changed flows: "F-003: ports tcp/443 -> tcp/443, tcp/8443".
    pub flow_details: Vec<String>,
    pub chains_added: Vec<String>,
    pub chains_removed: Vec<String>,
    pub sets_added: Vec<String>,
    pub sets_removed: Vec<String>,
    /// "+ [block] line" / "- [block] line" against the last-known-good ruleset text.
    pub ruleset_lines: Vec<String>,
    pub pending_expiries: Vec<Expiry>,
    /// Flows past their date: not in the ruleset.
    pub expired: Vec<String>,
    pub warnings: Vec<String>,
    pub nothing_to_do: bool,
    pub plan_hash: String,
    /// Management paths in use that the change would cut (`apply` refuses without --force).
    #[serde(default)]
    pub lockout: Vec<crate::change_control::ManagementPath>,
    /// Open connections the change would cut, per flow.
    #[serde(default)]
    pub connections_cut: Vec<crate::change_control::CutConnections>,
    /// Why the open connections could not be read, if they could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections_error: Option<String>,
}

/// Computes the plan. `live`: the normalised live table (None: missing).
pub fn plan(compiled: &Compiled, live: Option<&TableState>, lkg: Option<&LastKnownGood>) -> Plan {
    let meta = &compiled.ruleset.metadata;
    let lkg_policy = lkg.filter(|l| l.baseline.is_some());
    let live_state = match (live, lkg_policy.and_then(|l| l.baseline.as_ref())) {
        (None, _) => Live::Missing,
        (Some(l), Some(b)) if l == b => Live::MatchesLastKnownGood,
        (Some(l), Some(b)) => Live::Drifted {
            changes: diff(Some(b), Some(l)).lines(),
        },
        (Some(_), None) => Live::Unknown,
    };
    // The flows the kernel has now: from the LKG's metadata when the table is the LKG's,
    // otherwise from the element comments of the live table.
    let live_flows: BTreeMap<String, Option<FlowMeta>> = match (&live_state, lkg_policy) {
        (Live::Missing, _) => BTreeMap::new(),
        (Live::MatchesLastKnownGood, Some(l)) => l
            .metadata
            .as_ref()
            .map(|m| {
                m.flows
                    .iter()
                    .map(|(k, v)| (k.clone(), Some(v.clone())))
                    .collect()
            })
            .unwrap_or_default(),
        _ => live
            .map(flow_ids_in)
            .unwrap_or_default()
            .into_iter()
            .map(|id| {
                let known = lkg
                    .and_then(|l| l.metadata.as_ref())
                    .and_then(|m| m.flows.get(&id).cloned());
                (id, known)
            })
            .collect(),
    };
    let mut flows = FlowDiff::default();
    let mut flow_details = Vec::new();
    for (id, new) in &meta.flows {
        match live_flows.get(id) {
            None => {
                flows.added.push(id.clone());
                flow_details.push(format!(
                    "+ {id}: {} -> {} {}",
                    new.from,
                    new.to,
                    new.ports.join(", ")
                ));
            }
            Some(Some(old)) if old != new => {
                flows.changed.push(id.clone());
                flow_details.push(describe_change(id, old, new));
            }
            Some(_) => {}
        }
    }
    for (id, old) in &live_flows {
        if !meta.flows.contains_key(id) {
            flows.removed.push(id.clone());
            flow_details.push(match old {
                Some(o) => format!("- {id}: {} -> {} {}", o.from, o.to, o.ports.join(", ")),
                None => format!("- {id}"),
            });
        }
    }
    let (new_chains, new_sets) = names_in_text(&compiled.ruleset.text);
    let (live_chains, live_sets): (BTreeSet<String>, BTreeSet<String>) = live
        .map(|l| {
            (
                l.chains.keys().cloned().collect(),
                l.sets.keys().cloned().collect(),
            )
        })
        .unwrap_or_default();
    let ruleset_lines = match lkg {
        Some(l) if l.ruleset_sha256 != meta.ruleset_sha256 => {
            line_diff(&l.ruleset_text, &compiled.ruleset.text)
        }
        _ => Vec::new(),
    };
    let same_ruleset = lkg.is_some_and(|l| l.ruleset_sha256 == meta.ruleset_sha256);
    let nothing_to_do = same_ruleset && live_state == Live::MatchesLastKnownGood;
    let mut pending_expiries: Vec<Expiry> = meta
        .flows
        .iter()
        .filter_map(|(id, f)| {
            f.expires.as_ref().map(|e| Expiry {
                flow: id.clone(),
                expires: e.clone(),
            })
        })
        .collect();
    pending_expiries.sort_by(|a, b| (&a.expires, &a.flow).cmp(&(&b.expires, &b.flow)));
    let plan_hash = hash(&meta.ruleset_sha256, live);
    Plan {
        gateway: meta.gateway.clone(),
        policy: meta.policy.clone(),
        revision: meta.revision.clone(),
        ruleset_sha256: meta.ruleset_sha256.clone(),
        signer: meta.signer.clone(),
        live: live_state,
        flows,
        flow_details,
        chains_added: new_chains.difference(&live_chains).cloned().collect(),
        chains_removed: live_chains.difference(&new_chains).cloned().collect(),
        sets_added: new_sets.difference(&live_sets).cloned().collect(),
        sets_removed: live_sets.difference(&new_sets).cloned().collect(),
        ruleset_lines,
        pending_expiries,
        expired: compiled.expired.clone(),
        warnings: compiled.warnings.clone(),
        nothing_to_do,
        plan_hash,
        lockout: Vec::new(),
        connections_cut: Vec::new(),
        connections_error: None,
    }
}

/// The plan hash: the compiled ruleset and the live table it would replace.
pub fn hash(ruleset_sha256: &str, live: Option<&TableState>) -> String {
    let mut h = Sha256::new();
    h.update(ruleset_sha256.as_bytes());
    h.update(b"|");
    h.update(listing::state_hash(live).as_bytes());
    listing::hex(&h.finalize())[..16].to_string()
}

fn describe_change(id: &str, old: &FlowMeta, new: &FlowMeta) -> String {
    let mut parts = Vec::new();
    if old.from != new.from || old.to != new.to {
        parts.push(format!(
            "{} -> {} becomes {} -> {}",
            old.from, old.to, new.from, new.to
        ));
    }
    if old.ports != new.ports {
        parts.push(format!(
            "ports {} -> {}",
            old.ports.join(", "),
            new.ports.join(", ")
        ));
    }
    if old.expires != new.expires {
        parts.push(format!(
            "expires {} -> {}",
            old.expires.as_deref().unwrap_or("never"),
            new.expires.as_deref().unwrap_or("never")
        ));
    }
    if old.mark != new.mark {
        parts.push(format!("mark {:#x} -> {:#x}", old.mark, new.mark));
    }
    if parts.is_empty() {
        parts.push("description changed".into());
    }
    format!("~ {id}: {}", parts.join("; "))
}

/// Flow ids named by element comments ("F-001 purpose...") in the live table.
pub fn flow_ids_in(state: &TableState) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for set in state.sets.values() {
        for e in &set.elements {
            if let Ok(v) = serde_json::from_str::<Value>(e) {
                if let Some(c) = find_comment(&v) {
                    if let Some(id) = c.split_whitespace().next() {
                        ids.insert(id.to_string());
                    }
                }
            }
        }
    }
    ids
}

fn find_comment(v: &Value) -> Option<&str> {
    match v {
        Value::Object(o) => o
            .get("comment")
            .and_then(Value::as_str)
            .or_else(|| o.values().find_map(find_comment)),
        Value::Array(a) => a.iter().find_map(find_comment),
        _ => None,
    }
}

/// Chain and set/map names declared in an nft text (our compiler's layout).
pub fn names_in_text(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut chains = BTreeSet::new();
    let mut sets = BTreeSet::new();
    for line in text.lines() {
        let t = line.trim();
        if !t.ends_with('{') {
            continue;
        }
        let mut w = t.split_whitespace();
        match (w.next(), w.next()) {
            (Some("chain"), Some(n)) => {
                chains.insert(n.to_string());
            }
            (Some("set" | "map"), Some(n)) => {
                sets.insert(n.to_string());
            }
            _ => {}
        }
    }
    (chains, sets)
}

/// Lines added and removed per block (`set X`, `chain Y`), ignoring order within a block.
pub fn line_diff(old: &str, new: &str) -> Vec<String> {
    fn blocks(text: &str) -> BTreeMap<(String, String), usize> {
        let mut out = BTreeMap::new();
        let mut block = String::from("table");
        for line in text.lines() {
            let t = line.trim().trim_end_matches(',');
            if t.is_empty() || t == "}" || t.starts_with('#') {
                continue;
            }
            let mut w = t.split_whitespace();
            if t.ends_with('{') {
                if let (Some(k @ ("chain" | "set" | "map")), Some(n)) = (w.next(), w.next()) {
                    block = format!("{k} {n}");
                    continue;
                }
            }
            *out.entry((block.clone(), t.to_string())).or_default() += 1;
        }
        out
    }
    let a = blocks(old);
    let b = blocks(new);
    let mut out = Vec::new();
    for (key, n) in &a {
        let m = b.get(key).copied().unwrap_or(0);
        for _ in m..*n {
            out.push(format!("- [{}] {}", key.0, key.1));
        }
    }
    for (key, n) in &b {
        let m = a.get(key).copied().unwrap_or(0);
        for _ in m..*n {
            out.push(format!("+ [{}] {}", key.0, key.1));
        }
    }
    if out.len() > MAX_LINES {
        let more = out.len() - MAX_LINES;
        out.truncate(MAX_LINES);
        out.push(format!("... and {more} more"));
    }
    out
}

impl Plan {
    /// Changes pending (exit code 2) or not (0).
    pub fn has_changes(&self) -> bool {
        !self.nothing_to_do
    }

    /// The text an administrator reads.
    pub fn render(&self) -> String {
        self.render_in(Lang::En)
    }

    /// [`Self::render`] in `lang` (messages from the catalogue in zonegate_policy::messages).
    pub fn render_in(&self, lang: Lang) -> String {
        let mut o = String::new();
        let r = |t: Text| t.render(lang);
        let mut line = |s: String| {
            o.push_str(&s);
            o.push('\n');
        };
        line(r(t!(
            PLAN_HEADER,
            gateway = &self.gateway,
            policy = &self.policy,
            revision = &self.revision,
            sha256 = &self.ruleset_sha256
        )));
        if let Some(signer) = &self.signer {
            line(r(t!(PLAN_APPROVED_BY, signer = signer)));
        }
        match &self.live {
            Live::Missing => line(r(t!(PLAN_LIVE_MISSING))),
            Live::MatchesLastKnownGood => line(r(t!(PLAN_LIVE_AS_LOADED))),
            Live::Drifted { changes } => {
                line(r(t!(PLAN_LIVE_DRIFTED, n = changes.len())));
                for c in changes {
                    line(format!("  {c}"));
                }
            }
            Live::Unknown => line(r(t!(PLAN_LIVE_UNKNOWN))),
        }
        let list = |v: &[String]| -> Arg {
            if v.is_empty() {
                Arg::from(t!(PLAN_NONE))
            } else {
                Arg::Plain(v.join(", "))
            }
        };
        line(r(t!(PLAN_FLOWS_ADD, flows = list(&self.flows.added))));
        line(r(t!(PLAN_FLOWS_REVOKE, flows = list(&self.flows.removed))));
        line(r(t!(PLAN_FLOWS_CHANGE, flows = list(&self.flows.changed))));
        for d in &self.flow_details {
            line(format!("  {d}"));
        }
        if !self.chains_added.is_empty() || !self.chains_removed.is_empty() {
            line(r(t!(
                PLAN_CHAINS,
                added = list(&self.chains_added),
                removed = list(&self.chains_removed)
            )));
        }
        if !self.sets_added.is_empty() || !self.sets_removed.is_empty() {
            line(r(t!(
                PLAN_SETS,
                added = list(&self.sets_added),
                removed = list(&self.sets_removed)
            )));
        }
        if !self.ruleset_lines.is_empty() {
            line(r(t!(PLAN_RULESET_LINES)));
            for l in &self.ruleset_lines {
                line(format!("  {l}"));
            }
        }
        if self.pending_expiries.is_empty() {
            line(r(t!(PLAN_EXPIRIES_NONE)));
        } else {
            line(r(t!(PLAN_EXPIRIES)));
            for e in &self.pending_expiries {
                line(r(t!(PLAN_EXPIRY, flow = &e.flow, date = &e.expires)));
            }
        }
        if !self.expired.is_empty() {
            line(r(t!(PLAN_EXPIRED, flows = self.expired.join(", "))));
        }
        for w in &self.warnings {
            line(w.clone());
        }
        self.render_impact(lang, &mut line);
        line(r(t!(PLAN_HASH, hash = &self.plan_hash)));
        line(r(if self.nothing_to_do {
            t!(PLAN_NOTHING_TO_DO)
        } else {
            t!(PLAN_PENDING, hash = &self.plan_hash)
        }));
        o
    }
}

impl Plan {
    /// What the change does to the connections open now and to the management path in use.
    fn render_impact(&self, lang: Lang, line: &mut impl FnMut(String)) {
        let r = |t: Text| t.render(lang);
        for p in &self.lockout {
            line(r(t!(PLAN_LOCKOUT, path = p.describe())));
        }
        if self.connections_cut.is_empty() {
            line(r(t!(PLAN_CUT_NONE)));
        }
        for c in &self.connections_cut {
            line(r(t!(
                PLAN_CUT,
                count = c.count,
                flow = &c.flow,
                examples = c.examples.join("; ")
            )));
        }
        if let Some(e) = &self.connections_error {
            line(r(t!(PLAN_CUT_UNREAD, error = e.to_string())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::fake::render;
    use crate::listing::normalise;
    use crate::policy_source::tests::{clock_at, POLICY};
    use crate::policy_source::{compile_bytes, FlowIndex};
    use crate::state::{LkgKind, LKG_FORMAT};

    fn compiled(text: &str) -> Compiled {
        compile_bytes(
            "zones.toml",
            text.as_bytes(),
            "gw1",
            &clock_at("2027-01-01T00:00:00Z"),
        )
        .expect("compiles")
    }

    fn lkg_of(c: &Compiled, baseline: Option<TableState>) -> LastKnownGood {
        LastKnownGood {
            format: LKG_FORMAT,
            kind: LkgKind::Policy,
            compiled_at: "2027-01-01T00:00:00Z".into(),
            applied_at: "2027-01-01T00:00:00Z".into(),
            source_sha256: c.source_sha256.clone(),
            ruleset_sha256: c.ruleset.metadata.ruleset_sha256.clone(),
            revision: c.ruleset.metadata.revision.clone(),
            ruleset_text: c.ruleset.text.clone(),
            metadata: Some(c.ruleset.metadata.clone()),
            baseline,
            flows: FlowIndex::default(),
            retired_marks: BTreeSet::new(),
        }
    }

    #[test]
    fn empty_kernel_shows_everything_pending() {
        let c = compiled(POLICY);
        let p = plan(&c, None, None);
        assert_eq!(p.live, Live::Missing);
        assert_eq!(p.flows.added, vec!["F-1".to_string(), "F-2".to_string()]);
        assert!(p.chains_added.contains(&"forward".to_string()));
        assert!(p.has_changes());
        assert_eq!(p.pending_expiries.len(), 1);
        assert!(p.render().contains("Plan hash: "));
        // The same plan in Japanese: the same lines, the same hash, translated labels.
        let ja = p.render_in(Lang::Ja);
        assert_eq!(ja.lines().count(), p.render().lines().count(), "{ja}");
        assert!(ja.contains("追加するフロー: F-1, F-2"), "{ja}");
        assert!(
            ja.contains(&format!("計画ハッシュ: {}", p.plan_hash)),
            "{ja}"
        );
        assert!(ja.contains("稼働中のテーブル: ありません"), "{ja}");
    }

    #[test]
    fn nothing_to_do_after_apply() {
        let c = compiled(POLICY);
        let live = normalise(render(&c.ruleset.text).as_ref()).expect("listing");
        let lkg = lkg_of(&c, live.clone());
        let p = plan(&c, live.as_ref(), Some(&lkg));
        assert!(p.nothing_to_do, "{}", p.render());
        assert!(p.flows.is_empty());
        assert!(p.render().contains("Nothing to do."));
    }

    #[test]
    fn revoked_and_changed_flows_and_drift() {
        let old = compiled(POLICY);
        let live = normalise(render(&old.ruleset.text).as_ref()).expect("listing");
        let lkg = lkg_of(&old, live.clone());
        let new_text = POLICY
            .replace("ports = [\"tcp/8080\"]", "ports = [\"tcp/8081\"]")
            .replace("id = \"F-2\"", "id = \"F-3\"");
        let new = compiled(&new_text);
        let p = plan(&new, live.as_ref(), Some(&lkg));
        assert_eq!(p.flows.added, vec!["F-3".to_string()]);
        assert_eq!(p.flows.removed, vec!["F-2".to_string()]);
        assert_eq!(p.flows.changed, vec!["F-1".to_string()]);
        assert!(p
            .flow_details
            .iter()
            .any(|d| d.contains("ports tcp/8080 -> tcp/8081")));
        assert!(!p.ruleset_lines.is_empty());
        // A drifted live table is shown, and the hash moves with it.
        let mut drifted = live.clone().expect("live");
        drifted.chains.remove("forward");
        let p2 = plan(&new, Some(&drifted), Some(&lkg));
        assert!(matches!(p2.live, Live::Drifted { .. }));
        assert_ne!(p.plan_hash, p2.plan_hash);
    }

    #[test]
    fn line_diff_is_per_block() {
        let a = "table inet zonegate {\n\tset s {\n\t\telements = {\n\t\t\t1,\n\t\t\t2\n\t\t}\n\t}\n}\n";
        let b = "table inet zonegate {\n\tset s {\n\t\telements = {\n\t\t\t1,\n\t\t\t3\n\t\t}\n\t}\n}\n";
        assert_eq!(line_diff(a, b), vec!["- [set s] 2", "+ [set s] 3"]);
    }
}
