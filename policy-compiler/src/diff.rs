//! `diff`: what a policy change does, for a change request (変更申請). Like Batfish's
//! differential reachability, but for zones.toml: flows added, removed and changed (by id),
//! the connections each gateway starts or stops accepting (computed from the same disjoint
//! boxes `compile` writes, by box difference), guardrail findings that appear or go, and
//! structural changes (gateways, interfaces, zones, intra-zone traffic).
//!
//! Pure: `build` takes two validated policies (expiry already evaluated for one day) and their
//! diagnostics; the renderers (render.rs) turn the [`Diff`] into text, Markdown, HTML or JSON.
//! A change that only reorders or reformats the file permits the same packets and names the
//! same flows, so it is no change ([`Diff::changed`] false).

mod boxes;
mod reach;
mod render;
mod space;

pub use boxes::{difference, difference_all, intersection, Boxed};
pub use reach::{AddrItem, AddrKind, PairChange, ReachLine};
pub use space::INTRA;

use crate::diagnostic::Diagnostics;
use crate::guardrails;
use crate::model::{Endpoint, Flow, Gateway, Policy};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// Version of the JSON layout.
pub const DIFF_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DiffError {
    /// `--gateway` names a gateway one of the policies does not declare.
    #[error("gateway {name:?} is not declared by both policies (old: {old}; new: {new})")]
    UnknownGateway {
        name: String,
        old: String,
        new: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub format: u32,
    pub old: Side,
    pub new: Side,
    /// The day expiry was evaluated for (expired flows count as absent).
    pub evaluated_for: Option<String>,
    pub timezone: String,
    /// Gateways whose reachability was compared.
    pub gateways: Vec<String>,
    /// False when nothing below is listed: the two policies permit the same connections.
    pub changed: bool,
    pub flows: FlowChanges,
    /// Connections a gateway accepts under NEW and not under OLD (owners: NEW's flows).
    pub newly_reachable: Vec<PairChange>,
    /// Connections a gateway accepts under OLD and not under NEW (owners: OLD's flows).
    pub newly_unreachable: Vec<PairChange>,
    pub guardrails: GuardrailChanges,
    pub structure: Vec<StructChange>,
    /// Display names of the zones of both policies (NEW's where both have one).
    pub zone_names: BTreeMap<String, String>,
}

/// One of the two policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Side {
    pub file: String,
    pub name: String,
    pub revision: String,
    /// SHA-256 of the canonical policy (formatting, comments and key order do not change it).
    pub sha256: String,
    /// Errors (guardrail findings) that make `compile` refuse this policy.
    pub errors: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlowChanges {
    pub added: Vec<FlowInfo>,
    pub removed: Vec<FlowInfo>,
    pub changed: Vec<FlowChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowInfo {
    pub id: String,
    pub from: String,
    pub to: String,
    pub ports: Vec<String>,
    pub purpose: Option<String>,
    pub approved_by: Option<String>,
    pub expires: Option<String>,
    /// `zones.toml:120` in the policy that has the flow.
    pub defined_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowChange {
    pub id: String,
    /// Where NEW defines it.
    pub defined_at: String,
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// from, to, ports, expires, purpose, approved_by, exception or l2_control.
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GuardrailChanges {
    /// Findings of NEW that OLD does not have.
    pub appeared: Vec<FindingInfo>,
    /// Findings of OLD that NEW no longer has.
    pub disappeared: Vec<FindingInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FindingInfo {
    pub code: String,
    pub severity: String,
    pub title_en: String,
    pub title_ja: String,
    /// Names the flow, zone or gateway it is about.
    pub message: String,
    /// `file:line:col` in the policy that has it.
    pub at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StructKind {
    GatewayAdded,
    GatewayRemoved,
    InterfaceAdded,
    InterfaceRemoved,
    /// An interface now belongs to another zone.
    InterfaceMoved,
    ZoneAdded,
    ZoneRemoved,
    ZoneNetworks,
    IntraZone,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct StructChange {
    pub kind: StructKind,
    /// The gateway it is on (interfaces), if any.
    pub gateway: Option<String>,
    /// Gateway, interface or zone name (empty for intra_zone).
    pub subject: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// One validated policy and the findings of its check.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub policy: &'a Policy,
    pub diagnostics: &'a Diagnostics,
}

/// Compares OLD with NEW on every gateway both declare (or only `gateway`).
pub fn build(old: Input, new: Input, gateway: Option<&str>) -> Result<Diff, DiffError> {
    let pairs = gateway_pairs(old.policy, new.policy, gateway)?;
    let flows = flow_changes(old.policy, new.policy);
    let (mut newly_reachable, mut newly_unreachable) = (Vec::new(), Vec::new());
    for (o, n) in &pairs {
        let (os, ns) = (space::space(old.policy, o), space::space(new.policy, n));
        newly_reachable.extend(reach::describe(
            new.policy,
            &n.name,
            &reach::minus(&ns, &os),
        ));
        newly_unreachable.extend(reach::describe(
            old.policy,
            &o.name,
            &reach::minus(&os, &ns),
        ));
    }
    let guardrails = guardrail_changes(old.diagnostics, new.diagnostics);
    let structure = structure(old.policy, new.policy, &pairs);
    let changed = !(flows.added.is_empty()
        && flows.removed.is_empty()
        && flows.changed.is_empty()
        && newly_reachable.is_empty()
        && newly_unreachable.is_empty()
        && guardrails.appeared.is_empty()
        && guardrails.disappeared.is_empty()
        && structure.is_empty());
    Ok(Diff {
        format: DIFF_FORMAT,
        old: side(old),
        new: side(new),
        evaluated_for: new.policy.today.map(|d| d.to_string()),
        timezone: new.policy.timezone.clone(),
        gateways: pairs.iter().map(|(_, n)| n.name.clone()).collect(),
        changed,
        flows,
        newly_reachable,
        newly_unreachable,
        guardrails,
        structure,
        zone_names: zone_names(old.policy, new.policy),
    })
}

type GatewayPair<'a> = (&'a Gateway, &'a Gateway);

/// The gateways to compare: `only` (declared by both), or every gateway both declare.
fn gateway_pairs<'a>(
    old: &'a Policy,
    new: &'a Policy,
    only: Option<&str>,
) -> Result<Vec<GatewayPair<'a>>, DiffError> {
    let both: Vec<GatewayPair> = old
        .gateways
        .iter()
        .filter_map(|(name, o)| new.gateways.get(name).map(|n| (o, n)))
        .filter(|(o, _)| only.is_none_or(|g| o.name == g))
        .collect();
    match only {
        Some(name) if both.is_empty() => Err(DiffError::UnknownGateway {
            name: name.to_string(),
            old: old.gateways.keys().cloned().collect::<Vec<_>>().join(", "),
            new: new.gateways.keys().cloned().collect::<Vec<_>>().join(", "),
        }),
        _ => Ok(both),
    }
}

fn side(i: Input) -> Side {
    Side {
        file: i.policy.file.clone(),
        name: i.policy.name.clone(),
        revision: i.policy.revision.clone(),
        sha256: i.policy.canonical_sha256.clone(),
        errors: i.diagnostics.errors().count(),
    }
}

fn zone_names(old: &Policy, new: &Policy) -> BTreeMap<String, String> {
    old.zones
        .values()
        .chain(new.zones.values())
        .filter_map(|z| z.display_name.clone().map(|d| (z.name.clone(), d)))
        .collect()
}

/// Active flows by id: added, removed, and changed field by field.
fn flow_changes(old: &Policy, new: &Policy) -> FlowChanges {
    let by_id = |p: &'_ Policy| -> BTreeMap<String, Flow> {
        p.active_flows()
            .map(|f| (f.id.clone(), f.clone()))
            .collect()
    };
    let (o, n) = (by_id(old), by_id(new));
    FlowChanges {
        added: n
            .values()
            .filter(|f| !o.contains_key(&f.id))
            .map(|f| flow_info(new, f))
            .collect(),
        removed: o
            .values()
            .filter(|f| !n.contains_key(&f.id))
            .map(|f| flow_info(old, f))
            .collect(),
        changed: n
            .values()
            .filter_map(|f| o.get(&f.id).map(|of| (of, f)))
            .map(|(of, nf)| FlowChange {
                id: nf.id.clone(),
                defined_at: new.locate(nf.at.flow),
                fields: field_changes(of, nf),
            })
            .filter(|c| !c.fields.is_empty())
            .collect(),
    }
}

fn flow_info(p: &Policy, f: &Flow) -> FlowInfo {
    FlowInfo {
        id: f.id.clone(),
        from: end_text(&f.from),
        to: end_text(&f.to),
        ports: f.specs.iter().map(|s| s.to_string()).collect(),
        purpose: f.purpose.clone(),
        approved_by: f.approved_by.clone(),
        expires: f.expires.map(|d| d.to_string()),
        defined_at: p.locate(f.at.flow),
    }
}

fn end_text(e: &Endpoint) -> String {
    e.name().to_string()
}

/// The fields a reviewer cares about, as text, in a fixed order.
fn fields(f: &Flow) -> [(&'static str, Option<String>); 8] {
    let specs: Vec<String> = f.specs.iter().map(|s| s.to_string()).collect();
    [
        ("from", Some(end_text(&f.from))),
        ("to", Some(end_text(&f.to))),
        ("ports", Some(specs.join(", "))),
        ("expires", f.expires.map(|d| d.to_string())),
        ("purpose", f.purpose.clone()),
        ("approved_by", f.approved_by.clone()),
        ("exception", f.exception.clone()),
        ("l2_control", f.l2_control.clone()),
    ]
}

fn field_changes(old: &Flow, new: &Flow) -> Vec<FieldChange> {
    fields(old)
        .into_iter()
        .zip(fields(new))
        .filter(|((_, a), (_, b))| a != b)
        .map(|((field, a), (_, b))| FieldChange {
            field: field.to_string(),
            old: a,
            new: b,
        })
        .collect()
}

/// Guardrail findings (codes G…) by code and message; the message names the flow or zone and
/// holds no position, so moving a flow in the file does not make its finding "new".
fn guardrail_changes(old: &Diagnostics, new: &Diagnostics) -> GuardrailChanges {
    let set = |d: &Diagnostics| -> BTreeMap<(String, String), FindingInfo> {
        d.items
            .iter()
            .filter(|x| x.code.starts_with('G'))
            .map(|x| ((x.code.to_string(), x.message.to_string()), finding(x)))
            .collect()
    };
    let (o, n) = (set(old), set(new));
    let only = |a: &BTreeMap<_, FindingInfo>, b: &BTreeMap<_, _>| {
        a.iter()
            .filter(|(k, _)| !b.contains_key(*k))
            .map(|(_, v)| v.clone())
            .collect()
    };
    GuardrailChanges {
        appeared: only(&n, &o),
        disappeared: only(&o, &n),
    }
}

fn finding(d: &crate::diagnostic::Diagnostic) -> FindingInfo {
    let rule = guardrails::rule(d.code);
    FindingInfo {
        code: d.code.to_string(),
        severity: d.severity.to_string(),
        title_en: rule.map(|r| r.title_en).unwrap_or_default().to_string(),
        title_ja: rule.map(|r| r.title_ja).unwrap_or_default().to_string(),
        message: d.message.to_string(),
        at: format!("{}:{}:{}", d.file, d.line, d.column),
    }
}

/// Gateways, interfaces and zones added or removed, zone networks, intra-zone traffic.
fn structure(old: &Policy, new: &Policy, pairs: &[GatewayPair]) -> Vec<StructChange> {
    let mut out = Vec::new();
    gateways_added_removed(old, new, &mut out);
    for (o, n) in pairs {
        interfaces(o, n, &mut out);
    }
    zones(old, new, &mut out);
    if old.intra_zone != new.intra_zone {
        out.push(change(
            StructKind::IntraZone,
            None,
            "",
            intra(old),
            intra(new),
        ));
    }
    out.sort();
    out
}

fn change(
    kind: StructKind,
    gateway: Option<&str>,
    subject: &str,
    old: Option<String>,
    new: Option<String>,
) -> StructChange {
    StructChange {
        kind,
        gateway: gateway.map(str::to_string),
        subject: subject.to_string(),
        old,
        new,
    }
}

fn intra(p: &Policy) -> Option<String> {
    Some(
        match p.intra_zone {
            crate::model::IntraZone::Accept => "accept",
            crate::model::IntraZone::Drop => "drop",
        }
        .to_string(),
    )
}

fn gateways_added_removed(old: &Policy, new: &Policy, out: &mut Vec<StructChange>) {
    for (a, b, kind) in [
        (new, old, StructKind::GatewayAdded),
        (old, new, StructKind::GatewayRemoved),
    ] {
        for name in a.gateways.keys().filter(|g| !b.gateways.contains_key(*g)) {
            out.push(change(kind, Some(name), name, None, None));
        }
    }
}

fn interfaces(o: &Gateway, n: &Gateway, out: &mut Vec<StructChange>) {
    let names: BTreeSet<&String> = o.interfaces.keys().chain(n.interfaces.keys()).collect();
    for i in names {
        let (oz, nz) = (o.interfaces.get(i).cloned(), n.interfaces.get(i).cloned());
        let kind = match (&oz, &nz) {
            (None, Some(_)) => StructKind::InterfaceAdded,
            (Some(_), None) => StructKind::InterfaceRemoved,
            (Some(a), Some(b)) if a != b => StructKind::InterfaceMoved,
            _ => continue,
        };
        out.push(change(kind, Some(&n.name), i, oz, nz));
    }
}

fn zones(old: &Policy, new: &Policy, out: &mut Vec<StructChange>) {
    let nets = |p: &Policy, z: &str| -> Option<String> {
        p.zones.get(z).map(|z| {
            let mut v: Vec<String> = z.networks.iter().map(|n| n.to_string()).collect();
            v.sort();
            v.join(", ")
        })
    };
    let names: BTreeSet<&String> = old.zones.keys().chain(new.zones.keys()).collect();
    for z in names {
        let (a, b) = (nets(old, z), nets(new, z));
        let kind = match (&a, &b) {
            (None, Some(_)) => StructKind::ZoneAdded,
            (Some(_), None) => StructKind::ZoneRemoved,
            (Some(x), Some(y)) if x != y => StructKind::ZoneNetworks,
            _ => continue,
        };
        out.push(change(kind, None, z, a, b));
    }
}
