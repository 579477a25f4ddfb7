//! `matrix`: the audit evidence. The zone-by-zone flow matrix (including the gateway itself),
//! each cell listing the permitted flows or stating that everything is denied, then the
//! guardrail results, flows expiring soon, expired flows and declared exceptions, headed by the
//! policy's name, revision and the SHA-256 of its canonical form, so an auditor can tie the
//! document to what a gateway runs (the agent's heartbeat carries the same hash).
//!
//! Pure: `build` makes a [`Matrix`] from a validated policy and its diagnostics; `render_md`,
//! `render_html` (one self-contained file that prints on A4) and `render_json` turn it into
//! text. Nothing here reads a clock: "expiring soon" is relative to the date the policy was
//! validated for. Every text that comes from the policy is escaped for its output format.

use crate::diagnostic::{Diagnostics, Severity};
use crate::flowmap::{flow_boxes, MapKind};
use crate::guardrails::RULES;
use crate::messages;
use crate::model::{
    Endpoint, Flow, IntraZone, Isolation, NetworkModel, Policy, Profile, Zone, ZoneRole, GATEWAY,
};
use crate::net::Family;
use crate::t;
use serde::Serialize;
use std::fmt::Write as _;
use thiserror::Error;

/// Flows expiring within this many days are listed as expiring soon (validate's W005 uses the
/// same window).
pub const EXPIRING_DAYS: i64 = 30;

/// Version of the JSON layout.
pub const MATRIX_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MatrixError {
    #[error(transparent)]
    UnknownGateway(#[from] crate::model::UnknownGateway),
}

/// Label language of the Markdown and HTML renderings: the one language type of the message
/// catalogue (crate::messages).
pub use crate::messages::Lang;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matrix {
    pub format: u32,
    pub policy: PolicyInfo,
    /// The gateway the matrix is for; None: every zone of the policy.
    pub gateway: Option<String>,
    /// Axis order: My Number, LGWAN, internet-connected, external, then other zones by name.
    pub zones: Vec<ZoneInfo>,
    /// Row by row (from), column by column (to); the gateway itself is the last row and column.
    pub cells: Vec<Cell>,
    pub guardrails: Guardrails,
    pub expiring: Vec<Expiry>,
    pub expired: Vec<Expiry>,
    /// Flows that declare an exception (例外措置).
    pub exceptions: Vec<FlowEntry>,
    /// Per gateway, the SHA-256 of the ruleset the agent loads for this policy on the day
    /// evaluated: what its heartbeats, `status`, metrics and alerts carry as `ruleset_sha256`.
    pub rulesets: Vec<GatewayRuleset>,
    /// The key whose signature over the canonical policy was verified (`SHA256:... comment`),
    /// when the matrix was asked to check one; None otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// The ruleset one gateway runs for the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayRuleset {
    pub gateway: String,
    pub ruleset_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyInfo {
    pub name: String,
    pub revision: String,
    /// SHA-256 of the canonical policy (formatting and comments do not change it).
    pub sha256: String,
    pub profile: String,
    pub network_model: String,
    pub timezone: String,
    pub intra_zone: String,
    /// The day expiry was evaluated for.
    pub evaluated_for: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneInfo {
    pub name: String,
    pub display_name: Option<String>,
    pub role: Option<String>,
    pub isolation: Option<String>,
    pub networks: Vec<String>,
    /// Interfaces on the matrix's gateway (all gateways as `gw:if` without one).
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellStatus {
    /// Some flows are permitted (listed); everything else is denied.
    Permitted,
    /// Traffic between two interfaces of the zone is accepted (intra_zone = "accept").
    IntraZone,
    /// No flow: everything is denied and logged.
    Denied,
    /// The gateway to itself (loopback).
    NotApplicable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub from: String,
    pub to: String,
    pub status: CellStatus,
    pub flows: Vec<FlowEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndInfo {
    pub name: String,
    /// zone, host, group or gateway.
    pub kind: String,
    /// `name address, address` for each host (empty for zones and the gateway).
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowEntry {
    pub id: String,
    pub defined_at: String,
    pub from: EndInfo,
    pub to: EndInfo,
    pub ports: Vec<String>,
    pub purpose: Option<String>,
    pub approved_by: Option<String>,
    pub expires: Option<String>,
    pub l2_control: Option<String>,
    pub exception: Option<String>,
    /// Earlier flows (by id) of the same cell that overlap this one: they decide the overlap.
    pub overlapped_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Guardrails {
    /// False for profile = "none".
    pub applied: bool,
    pub rules: Vec<RuleResult>,
    /// Every finding of the check (guardrails and validation warnings).
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleResult {
    pub code: String,
    pub severity: String,
    pub title_en: String,
    pub title_ja: String,
    pub basis: String,
    /// pass, fail or warning.
    pub result: String,
    pub findings: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: String,
    pub severity: String,
    /// `zones.toml:12:3`
    pub at: String,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expiry {
    pub id: String,
    pub defined_at: String,
    pub from: String,
    pub to: String,
    pub expires: String,
    /// Days from the evaluation date (negative: expired).
    pub days_left: i64,
    pub purpose: Option<String>,
}

fn role_name(r: ZoneRole) -> &'static str {
    match r {
        ZoneRole::Mynumber => "mynumber",
        ZoneRole::Lgwan => "lgwan",
        ZoneRole::Internet => "internet",
        ZoneRole::External => "external",
    }
}

fn model_name(m: NetworkModel) -> &'static str {
    match m {
        NetworkModel::Alpha => "alpha",
        NetworkModel::AlphaPrime => "alpha-prime",
        NetworkModel::Beta => "beta",
        NetworkModel::BetaPrime => "beta-prime",
    }
}

fn zone_rank(z: &Zone) -> u8 {
    match (z.role, z.isolation) {
        (Some(ZoneRole::Mynumber), _) => 0,
        (_, Some(Isolation::MynumberLike)) => 1,
        (_, Some(Isolation::Critical)) => 2,
        (Some(ZoneRole::Lgwan), _) => 3,
        (Some(ZoneRole::Internet), _) => 4,
        (Some(ZoneRole::External), _) => 5,
        _ => 6,
    }
}

fn overlaps(a: &[(u128, u128)], b: &[(u128, u128)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 <= y.1 && y.0 <= x.1)
}

/// Do two flows of one cell cover a common packet? Same boxes as compile's maps.
fn flows_overlap(p: &Policy, a: &Flow, b: &Flow, kinds: &[MapKind]) -> bool {
    kinds.iter().any(|&k| {
        let ba = flow_boxes(
            k,
            &p.endpoint_ranges(&a.from),
            &p.endpoint_ranges(&a.to),
            &a.specs,
        );
        let bb = flow_boxes(
            k,
            &p.endpoint_ranges(&b.from),
            &p.endpoint_ranges(&b.to),
            &b.specs,
        );
        ba.iter().any(|x| bb.iter().any(|y| overlaps(x, y)))
    })
}

fn end_info(p: &Policy, e: &Endpoint) -> EndInfo {
    let kind = match e {
        Endpoint::Zone(_) => "zone",
        Endpoint::Host(_) => "host",
        Endpoint::Group(_) => "group",
        Endpoint::Gateway => "gateway",
    };
    EndInfo {
        name: e.name().to_string(),
        kind: kind.into(),
        hosts: p
            .endpoint_hosts(e)
            .iter()
            .map(|h| {
                let addrs: Vec<String> = h.addresses.iter().map(|a| a.to_string()).collect();
                format!("{} {}", h.name, addrs.join(", "))
            })
            .collect(),
    }
}

fn flow_entry(p: &Policy, f: &Flow, overlapped_by: Vec<String>) -> FlowEntry {
    FlowEntry {
        id: f.id.clone(),
        defined_at: p.locate(f.at.flow),
        from: end_info(p, &f.from),
        to: end_info(p, &f.to),
        ports: f.specs.iter().map(|s| s.to_string()).collect(),
        purpose: f.purpose.clone(),
        approved_by: f.approved_by.clone(),
        expires: f.expires.map(|d| d.to_string()),
        l2_control: f.l2_control.clone(),
        exception: f.exception.clone(),
        overlapped_by,
    }
}

/// Builds the matrix for one gateway (or every zone), with the findings of the check.
pub fn build(
    p: &Policy,
    diagnostics: &Diagnostics,
    gateway: Option<&str>,
) -> Result<Matrix, MatrixError> {
    let gw = match gateway {
        None => None,
        Some(name) => Some(p.gateway(name)?),
    };
    let mut zones: Vec<&Zone> = p
        .zones
        .values()
        .filter(|z| gw.is_none_or(|g| g.zones().contains(z.name.as_str())))
        .collect();
    zones.sort_by_key(|z| (zone_rank(z), z.name.clone()));
    let zone_infos = zones
        .iter()
        .map(|z| ZoneInfo {
            name: z.name.clone(),
            display_name: z.display_name.clone(),
            role: z.role.map(|r| role_name(r).to_string()),
            isolation: z.isolation.map(|i| {
                match i {
                    Isolation::MynumberLike => "mynumber-like",
                    Isolation::Critical => "critical",
                }
                .to_string()
            }),
            networks: z.networks.iter().map(|n| n.to_string()).collect(),
            interfaces: match gw {
                Some(g) => g
                    .interfaces_of(&z.name)
                    .iter()
                    .map(|i| i.to_string())
                    .collect(),
                None => p
                    .gateways
                    .values()
                    .flat_map(|g| {
                        g.interfaces_of(&z.name)
                            .into_iter()
                            .map(move |i| format!("{}:{i}", g.name))
                    })
                    .collect(),
            },
        })
        .collect();

    let axis: Vec<Option<&str>> = zones
        .iter()
        .map(|z| Some(z.name.as_str()))
        .chain(std::iter::once(None))
        .collect();
    let mut cells = Vec::new();
    for &from in &axis {
        for &to in &axis {
            let name = |z: Option<&str>| z.unwrap_or(GATEWAY).to_string();
            if from.is_none() && to.is_none() {
                cells.push(Cell {
                    from: name(from),
                    to: name(to),
                    status: CellStatus::NotApplicable,
                    flows: Vec::new(),
                });
                continue;
            }
            if from.is_some() && from == to && p.intra_zone == IntraZone::Accept {
                cells.push(Cell {
                    from: name(from),
                    to: name(to),
                    status: CellStatus::IntraZone,
                    flows: Vec::new(),
                });
                continue;
            }
            let flows: Vec<&Flow> = p
                .active_flows()
                .filter(|f| match (from, to) {
                    (Some(a), Some(b)) => {
                        f.from_zone.as_deref() == Some(a) && f.to_zone.as_deref() == Some(b)
                    }
                    (Some(a), None) => {
                        f.to == Endpoint::Gateway && f.from_zone.as_deref() == Some(a)
                    }
                    (None, Some(b)) => {
                        f.from == Endpoint::Gateway && f.to_zone.as_deref() == Some(b)
                    }
                    (None, None) => false,
                })
                .collect();
            let kinds: Vec<MapKind> = [Family::V4, Family::V6]
                .into_iter()
                .flat_map(|fam| match (from, to) {
                    (Some(_), Some(_)) => [MapKind::Ports(fam), MapKind::Icmp(fam)],
                    (Some(_), None) => [MapKind::InPorts(fam), MapKind::InIcmp(fam)],
                    _ => [MapKind::OutPorts(fam), MapKind::OutIcmp(fam)],
                })
                .collect();
            let entries: Vec<FlowEntry> = flows
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let earlier: Vec<String> = flows[..i]
                        .iter()
                        .filter(|e| flows_overlap(p, e, f, &kinds))
                        .map(|e| e.id.clone())
                        .collect();
                    flow_entry(p, f, earlier)
                })
                .collect();
            cells.push(Cell {
                from: name(from),
                to: name(to),
                status: if entries.is_empty() {
                    CellStatus::Denied
                } else {
                    CellStatus::Permitted
                },
                flows: entries,
            });
        }
    }

    let applied = p.profile == Profile::ThreeTier;
    let rules = RULES
        .iter()
        .map(|r| {
            let found: Vec<_> = diagnostics
                .items
                .iter()
                .filter(|d| d.code == r.code)
                .collect();
            let result = if found.iter().any(|d| d.severity == Severity::Error) {
                "fail"
            } else if found.is_empty() {
                "pass"
            } else {
                "warning"
            };
            RuleResult {
                code: r.code.into(),
                severity: r.severity.into(),
                title_en: r.title_en.into(),
                title_ja: r.title_ja.into(),
                basis: r.basis.into(),
                result: result.into(),
                findings: found.len(),
            }
        })
        .collect();
    let findings = diagnostics
        .errors()
        .chain(diagnostics.warnings())
        .map(|d| Finding {
            code: d.code.into(),
            severity: d.severity.to_string(),
            at: format!("{}:{}:{}", d.file, d.line, d.column),
            message: d.message.to_string(),
            hint: d.hint.as_ref().map(|h| h.to_string()),
        })
        .collect();

    // Flows outside the gateway's zones are not on it; everything else is listed.
    let on_gw = |f: &Flow| {
        let ok = |z: &Option<String>, e: &Endpoint| {
            *e == Endpoint::Gateway
                || gw.is_none_or(|g| z.as_deref().is_some_and(|z| g.zones().contains(z)))
        };
        ok(&f.from_zone, &f.from) && ok(&f.to_zone, &f.to)
    };
    let expiry = |f: &Flow| -> Option<Expiry> {
        let (e, t) = (f.expires?, p.today?);
        Some(Expiry {
            id: f.id.clone(),
            defined_at: p.locate(f.at.flow),
            from: f.from.name().into(),
            to: f.to.name().into(),
            expires: e.to_string(),
            days_left: e.day_number() - t.day_number(),
            purpose: f.purpose.clone(),
        })
    };
    let expiring = p
        .active_flows()
        .filter(|f| on_gw(f))
        .filter_map(expiry)
        .filter(|e| e.days_left <= EXPIRING_DAYS)
        .collect();
    let expired = p
        .flows
        .iter()
        .filter(|f| f.expired && on_gw(f))
        .filter_map(expiry)
        .collect();
    let exceptions = p
        .flows
        .iter()
        .filter(|f| f.exception.is_some() && on_gw(f))
        .map(|f| flow_entry(p, f, Vec::new()))
        .collect();

    Ok(Matrix {
        format: MATRIX_FORMAT,
        policy: PolicyInfo {
            name: p.name.clone(),
            revision: p.revision.clone(),
            sha256: p.canonical_sha256.clone(),
            profile: match p.profile {
                Profile::ThreeTier => "three-tier".into(),
                Profile::None => "none".into(),
            },
            network_model: model_name(p.network_model).into(),
            timezone: p.timezone.clone(),
            intra_zone: match p.intra_zone {
                IntraZone::Accept => "accept".into(),
                IntraZone::Drop => "drop".into(),
            },
            evaluated_for: p.today.map(|d| d.to_string()),
        },
        gateway: gw.map(|g| g.name.clone()),
        zones: zone_infos,
        cells,
        guardrails: Guardrails {
            applied,
            rules,
            findings,
        },
        expiring,
        expired,
        exceptions,
        rulesets: rulesets(p, gw.map(|g| g.name.as_str())),
        signer: None,
    })
}

/// The ruleset SHA-256 of the matrix's gateway, or of every gateway.
fn rulesets(p: &Policy, gateway: Option<&str>) -> Vec<GatewayRuleset> {
    p.gateways
        .keys()
        .filter(|g| gateway.is_none_or(|only| only == g.as_str()))
        .filter_map(|g| crate::compile::compile(p, g).ok())
        .map(|r| GatewayRuleset {
            gateway: r.gateway,
            ruleset_sha256: r.metadata.ruleset_sha256,
        })
        .collect()
}

/// Every label of the Markdown and HTML renderings, per language.
struct Labels {
    title: &'static str,
    item: &'static str,
    value: &'static str,
    name: &'static str,
    revision: &'static str,
    sha: &'static str,
    ruleset_sha: &'static str,
    signer: &'static str,
    profile: &'static str,
    model: &'static str,
    gateway: &'static str,
    all_gateways: &'static str,
    evaluated: &'static str,
    intra: &'static str,
    intra_accept: &'static str,
    intra_drop: &'static str,
    zones: &'static str,
    zone: &'static str,
    class: &'static str,
    networks: &'static str,
    interfaces: &'static str,
    matrix: &'static str,
    corner: &'static str,
    gw_self: &'static str,
    denied: &'static str,
    intra_cell: &'static str,
    na: &'static str,
    legend: &'static str,
    permitted: &'static str,
    id: &'static str,
    from: &'static str,
    to: &'static str,
    ports: &'static str,
    purpose: &'static str,
    approver: &'static str,
    expires: &'static str,
    defined: &'static str,
    notes: &'static str,
    l2: &'static str,
    none: &'static str,
    guard: &'static str,
    not_applied: &'static str,
    code: &'static str,
    rule: &'static str,
    severity: &'static str,
    result: &'static str,
    basis: &'static str,
    findings: &'static str,
    expiring: &'static str,
    expired: &'static str,
    days_left: &'static str,
    exceptions: &'static str,
    exception: &'static str,
    nothing_permitted: &'static str,
}

/// The labels in `lang`, from the message catalogue (crate::messages).
fn labels(lang: Lang) -> Labels {
    Labels {
        title: messages::MATRIX_TITLE.template(lang),
        item: messages::MATRIX_ITEM.template(lang),
        value: messages::MATRIX_VALUE.template(lang),
        name: messages::MATRIX_NAME.template(lang),
        revision: messages::MATRIX_REVISION.template(lang),
        sha: messages::MATRIX_SHA.template(lang),
        ruleset_sha: messages::MATRIX_RULESET_SHA.template(lang),
        signer: messages::MATRIX_SIGNER.template(lang),
        profile: messages::MATRIX_PROFILE.template(lang),
        model: messages::MATRIX_MODEL.template(lang),
        gateway: messages::MATRIX_GATEWAY.template(lang),
        all_gateways: messages::MATRIX_ALL_GATEWAYS.template(lang),
        evaluated: messages::MATRIX_EVALUATED.template(lang),
        intra: messages::MATRIX_INTRA.template(lang),
        intra_accept: messages::MATRIX_INTRA_ACCEPT.template(lang),
        intra_drop: messages::MATRIX_INTRA_DROP.template(lang),
        zones: messages::MATRIX_ZONES.template(lang),
        zone: messages::MATRIX_ZONE.template(lang),
        class: messages::MATRIX_CLASS.template(lang),
        networks: messages::MATRIX_NETWORKS.template(lang),
        interfaces: messages::MATRIX_INTERFACES.template(lang),
        matrix: messages::MATRIX_MATRIX.template(lang),
        corner: messages::MATRIX_CORNER.template(lang),
        gw_self: messages::MATRIX_GW_SELF.template(lang),
        denied: messages::MATRIX_DENIED.template(lang),
        intra_cell: messages::MATRIX_INTRA_CELL.template(lang),
        na: messages::MATRIX_NA.template(lang),
        legend: messages::MATRIX_LEGEND.template(lang),
        permitted: messages::MATRIX_PERMITTED.template(lang),
        id: messages::MATRIX_ID.template(lang),
        from: messages::MATRIX_FROM.template(lang),
        to: messages::MATRIX_TO.template(lang),
        ports: messages::MATRIX_PORTS.template(lang),
        purpose: messages::MATRIX_PURPOSE.template(lang),
        approver: messages::MATRIX_APPROVER.template(lang),
        expires: messages::MATRIX_EXPIRES.template(lang),
        defined: messages::MATRIX_DEFINED.template(lang),
        notes: messages::MATRIX_NOTES.template(lang),
        l2: messages::MATRIX_L2.template(lang),
        none: messages::MATRIX_NONE.template(lang),
        guard: messages::MATRIX_GUARD.template(lang),
        not_applied: messages::MATRIX_NOT_APPLIED.template(lang),
        code: messages::MATRIX_CODE.template(lang),
        rule: messages::MATRIX_RULE.template(lang),
        severity: messages::MATRIX_SEVERITY.template(lang),
        result: messages::MATRIX_RESULT.template(lang),
        basis: messages::MATRIX_BASIS.template(lang),
        findings: messages::MATRIX_FINDINGS.template(lang),
        expiring: messages::MATRIX_EXPIRING.template(lang),
        expired: messages::MATRIX_EXPIRED.template(lang),
        days_left: messages::MATRIX_DAYS_LEFT.template(lang),
        exceptions: messages::MATRIX_EXCEPTIONS.template(lang),
        exception: messages::MATRIX_EXCEPTION.template(lang),
        nothing_permitted: messages::MATRIX_NOTHING_PERMITTED.template(lang),
    }
}

impl Matrix {
    fn zone(&self, name: &str) -> Option<&ZoneInfo> {
        self.zones.iter().find(|z| z.name == name)
    }

    /// Axis label of a zone: the display name with the id, or "the gateway itself".
    fn axis_label(&self, name: &str, lang: Lang) -> String {
        let l = &labels(lang);
        if name == GATEWAY {
            return l.gw_self.to_string();
        }
        match self.zone(name).and_then(|z| z.display_name.as_deref()) {
            Some(d) if lang == Lang::Ja => format!("{d} ({name})"),
            Some(d) => format!("{name} ({d})"),
            None => name.to_string(),
        }
    }

    fn class_text(z: &ZoneInfo, lang: Lang) -> String {
        let role = z.role.as_deref().map(|r| match r {
            "mynumber" => messages::MATRIX_ROLE_MYNUMBER.template(lang),
            "lgwan" => messages::MATRIX_ROLE_LGWAN.template(lang),
            "internet" => messages::MATRIX_ROLE_INTERNET.template(lang),
            "external" => messages::MATRIX_ROLE_EXTERNAL.template(lang),
            other => other,
        });
        let iso = z.isolation.as_deref().map(|i| match i {
            "mynumber-like" => messages::MATRIX_ISOLATION_MYNUMBER_LIKE.template(lang),
            "critical" => messages::MATRIX_ISOLATION_CRITICAL.template(lang),
            other => other,
        });
        let parts: Vec<&str> = role.into_iter().chain(iso).collect();
        if parts.is_empty() {
            messages::MATRIX_CLASS_GENERIC.template(lang).into()
        } else {
            parts.join(", ")
        }
    }

    fn model_text(&self, lang: Lang) -> String {
        let m = self.policy.network_model.as_str();
        let greek = match m {
            "alpha" => "α",
            "alpha-prime" => "α′",
            "beta" => "β",
            "beta-prime" => "β′",
            other => other,
        };
        t!(MATRIX_MODEL_NAME, greek = greek, model = m).render(lang)
    }

    fn severity_text(s: &str, lang: Lang) -> &str {
        match s {
            "error" => messages::SEVERITY_ERROR.template(lang),
            "warning" => messages::SEVERITY_WARNING.template(lang),
            "warning/error" => messages::MATRIX_SEVERITY_STRICT_MAC.template(lang),
            other => other,
        }
    }

    fn result_text(s: &str, lang: Lang) -> &str {
        match s {
            "pass" => messages::MATRIX_RESULT_PASS.template(lang),
            "fail" => messages::MATRIX_RESULT_FAIL.template(lang),
            "warning" => messages::MATRIX_RESULT_WARNING.template(lang),
            other => other,
        }
    }

    fn summary_rows(&self, lang: Lang) -> Vec<(&'static str, String, bool)> {
        let l = &labels(lang);
        let mut rows = self.policy_rows(lang);
        if let Some(s) = &self.signer {
            rows.insert(3, (l.signer, s.clone(), true));
        }
        rows
    }

    fn policy_rows(&self, lang: Lang) -> Vec<(&'static str, String, bool)> {
        let l = &labels(lang);
        vec![
            (l.name, self.policy.name.clone(), false),
            (l.revision, self.policy.revision.clone(), false),
            (l.sha, self.policy.sha256.clone(), true),
            (
                l.ruleset_sha,
                self.rulesets
                    .iter()
                    .map(|r| format!("{}: {}", r.gateway, r.ruleset_sha256))
                    .collect::<Vec<_>>()
                    .join(", "),
                true,
            ),
            (
                l.profile,
                if self.policy.profile == "three-tier" {
                    "three-tier (三層の対策)".into()
                } else {
                    self.policy.profile.clone()
                },
                false,
            ),
            (l.model, self.model_text(lang), false),
            (
                l.gateway,
                self.gateway
                    .clone()
                    .unwrap_or_else(|| l.all_gateways.into()),
                false,
            ),
            (
                l.evaluated,
                match &self.policy.evaluated_for {
                    Some(d) => format!("{d} ({})", self.policy.timezone),
                    None => "-".into(),
                },
                false,
            ),
            (
                l.intra,
                if self.policy.intra_zone == "accept" {
                    l.intra_accept.into()
                } else {
                    l.intra_drop.into()
                },
                false,
            ),
        ]
    }

    fn end_text(e: &EndInfo) -> String {
        if e.hosts.is_empty() || (e.kind == "host" && e.hosts.len() == 1) {
            match e.kind.as_str() {
                "host" => e.hosts.first().cloned().unwrap_or_else(|| e.name.clone()),
                "zone" => format!("{} (zone)", e.name),
                _ => e.name.clone(),
            }
        } else {
            format!("{} ({})", e.name, e.hosts.join("; "))
        }
    }

    fn cell(&self, from: &str, to: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.from == from && c.to == to)
    }

    fn axis(&self) -> Vec<String> {
        self.zones
            .iter()
            .map(|z| z.name.clone())
            .chain(std::iter::once(GATEWAY.to_string()))
            .collect()
    }

    /// Markdown: the summary, zones, matrix and lists as tables.
    pub fn render_md(&self, lang: Lang) -> String {
        let l = &labels(lang);
        let mut o = String::new();
        let _ = writeln!(o, "# {}: {}\n", l.title, md(&self.policy.name));
        let _ = writeln!(o, "| {} | {} |\n| --- | --- |", l.item, l.value);
        for (k, v, code) in self.summary_rows(lang) {
            if code {
                let _ = writeln!(o, "| {k} | `{}` |", md(&v));
            } else {
                let _ = writeln!(o, "| {k} | {} |", md(&v));
            }
        }
        let _ = writeln!(o, "\n## {}\n", l.zones);
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |\n| --- | --- | --- | --- |",
            l.zone, l.class, l.networks, l.interfaces
        );
        for z in &self.zones {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                md(&self.axis_label(&z.name, lang)),
                md(&Self::class_text(z, lang)),
                md(&z.networks.join(", ")),
                md(&z.interfaces.join(", "))
            );
        }
        let axis = self.axis();
        let _ = writeln!(o, "\n## {}\n", l.matrix);
        let _ = write!(o, "| {} |", md(l.corner));
        for to in &axis {
            let _ = write!(o, " {} |", md(&self.axis_label(to, lang)));
        }
        let _ = write!(o, "\n| --- |");
        for _ in &axis {
            let _ = write!(o, " --- |");
        }
        o.push('\n');
        for from in &axis {
            let _ = write!(o, "| **{}** |", md(&self.axis_label(from, lang)));
            for to in &axis {
                let text = match self.cell(from, to) {
                    Some(c) => match c.status {
                        CellStatus::Permitted => c
                            .flows
                            .iter()
                            .map(|f| format!("{} {}", md(&f.id), md(&f.ports.join(", "))))
                            .collect::<Vec<_>>()
                            .join("<br>"),
                        CellStatus::IntraZone => l.intra_cell.into(),
                        CellStatus::Denied => l.denied.into(),
                        CellStatus::NotApplicable => l.na.into(),
                    },
                    None => l.na.into(),
                };
                let _ = write!(o, " {text} |");
            }
            o.push('\n');
        }
        let _ = writeln!(o, "\n{}\n", md(l.legend));
        let _ = writeln!(o, "## {}\n", l.permitted);
        let mut any = false;
        for c in self
            .cells
            .iter()
            .filter(|c| c.status == CellStatus::Permitted)
        {
            any = true;
            let _ = writeln!(
                o,
                "### {} → {}\n",
                md(&self.axis_label(&c.from, lang)),
                md(&self.axis_label(&c.to, lang))
            );
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
                l.id, l.from, l.to, l.ports, l.purpose, l.approver, l.expires, l.defined, l.notes
            );
            for f in &c.flows {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    md(&f.id),
                    md(&Self::end_text(&f.from)),
                    md(&Self::end_text(&f.to)),
                    md(&f.ports.join(", ")),
                    md(f.purpose.as_deref().unwrap_or("-")),
                    md(f.approved_by.as_deref().unwrap_or("-")),
                    md(f.expires.as_deref().unwrap_or("-")),
                    md(&f.defined_at),
                    md(&Self::notes(f, lang))
                );
            }
            o.push('\n');
        }
        if !any {
            let _ = writeln!(o, "{}\n", l.nothing_permitted);
        }
        let _ = writeln!(o, "## {}\n", l.guard);
        if !self.guardrails.applied {
            let _ = writeln!(o, "{}\n", md(l.not_applied));
        } else {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |\n| --- | --- | --- | --- | --- |",
                l.code, l.rule, l.severity, l.result, l.basis
            );
            for r in &self.guardrails.rules {
                let title = if lang == Lang::Ja {
                    &r.title_ja
                } else {
                    &r.title_en
                };
                let result = if r.findings > 0 {
                    format!("{} ({})", Self::result_text(&r.result, lang), r.findings)
                } else {
                    Self::result_text(&r.result, lang).to_string()
                };
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} |",
                    r.code,
                    md(title),
                    md(Self::severity_text(&r.severity, lang)),
                    md(&result),
                    md(&r.basis)
                );
            }
            o.push('\n');
        }
        let _ = writeln!(o, "### {}\n", l.findings);
        if self.guardrails.findings.is_empty() {
            let _ = writeln!(o, "{}\n", l.none);
        } else {
            for f in &self.guardrails.findings {
                let _ = writeln!(
                    o,
                    "- `{}` {}[{}]: {}",
                    md(&f.at),
                    Self::severity_text(&f.severity, lang),
                    md(&f.code),
                    md(&f.message)
                );
            }
            o.push('\n');
        }
        for (title, list) in [(l.expiring, &self.expiring), (l.expired, &self.expired)] {
            let _ = writeln!(o, "## {title}\n");
            if list.is_empty() {
                let _ = writeln!(o, "{}\n", l.none);
                continue;
            }
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |\n| --- | --- | --- | --- | --- | --- | --- |",
                l.id, l.from, l.to, l.expires, l.days_left, l.purpose, l.defined
            );
            for e in list.iter() {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    md(&e.id),
                    md(&e.from),
                    md(&e.to),
                    md(&e.expires),
                    e.days_left,
                    md(e.purpose.as_deref().unwrap_or("-")),
                    md(&e.defined_at)
                );
            }
            o.push('\n');
        }
        let _ = writeln!(o, "## {}\n", l.exceptions);
        if self.exceptions.is_empty() {
            let _ = writeln!(o, "{}", l.none);
        } else {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |\n| --- | --- | --- | --- | --- | --- |",
                l.id, l.exception, l.approver, l.expires, l.purpose, l.defined
            );
            for f in &self.exceptions {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} |",
                    md(&f.id),
                    md(f.exception.as_deref().unwrap_or("-")),
                    md(f.approved_by.as_deref().unwrap_or("-")),
                    md(f.expires.as_deref().unwrap_or("-")),
                    md(f.purpose.as_deref().unwrap_or("-")),
                    md(&f.defined_at)
                );
            }
        }
        o
    }

    fn notes(f: &FlowEntry, lang: Lang) -> String {
        let l = &labels(lang);
        let mut n = Vec::new();
        if let Some(c) = &f.l2_control {
            n.push(format!("{}: {c}", l.l2));
        }
        if let Some(e) = &f.exception {
            n.push(format!("{}: {e}", l.exception));
        }
        if !f.overlapped_by.is_empty() {
            let ids = f.overlapped_by.join(", ");
            let text = if f.overlapped_by.len() == 1 {
                t!(MATRIX_OVERLAP_ONE, ids = ids)
            } else {
                t!(MATRIX_OVERLAP_MANY, ids = ids)
            };
            n.push(text.render(lang));
        }
        if n.is_empty() {
            "-".into()
        } else {
            n.join("; ")
        }
    }

    /// One self-contained HTML file (inline CSS, no scripts, no external resources) laid out
    /// for A4 landscape printing.
    pub fn render_html(&self, lang: Lang) -> String {
        let l = &labels(lang);
        let mut o = String::new();
        let _ = writeln!(
            o,
            "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} — {}</title>\n<style>\n{}</style>\n</head>\n<body>",
            if lang == Lang::Ja { "ja" } else { "en" },
            h(l.title),
            h(&self.policy.name),
            CSS
        );
        let _ = writeln!(o, "<h1>{}: {}</h1>", h(l.title), h(&self.policy.name));
        let _ = writeln!(o, "<table class=\"summary\">");
        for (k, v, code) in self.summary_rows(lang) {
            if code {
                let _ = writeln!(
                    o,
                    "<tr><th>{}</th><td><code>{}</code></td></tr>",
                    h(k),
                    h(&v)
                );
            } else {
                let _ = writeln!(o, "<tr><th>{}</th><td>{}</td></tr>", h(k), h(&v));
            }
        }
        let _ = writeln!(o, "</table>");

        let axis = self.axis();
        let _ = writeln!(o, "<h2>{}</h2>", h(l.matrix));
        let _ = writeln!(
            o,
            "<table class=\"matrix\" id=\"matrix\">\n<thead><tr><th class=\"corner\">{}</th>",
            h(l.corner)
        );
        for to in &axis {
            let _ = writeln!(
                o,
                "<th scope=\"col\">{}</th>",
                h(&self.axis_label(to, lang))
            );
        }
        let _ = writeln!(o, "</tr></thead>\n<tbody>");
        for from in &axis {
            let _ = writeln!(
                o,
                "<tr><th scope=\"row\">{}</th>",
                h(&self.axis_label(from, lang))
            );
            for to in &axis {
                match self.cell(from, to) {
                    Some(c) if c.status == CellStatus::Permitted => {
                        let _ = write!(o, "<td class=\"permitted\">");
                        for f in &c.flows {
                            let _ = write!(
                                o,
                                "<div class=\"flow\"><b>{}</b> {}<br><small>{} → {}</small></div>",
                                h(&f.id),
                                h(&f.ports.join(", ")),
                                h(&f.from.name),
                                h(&f.to.name)
                            );
                        }
                        let _ = writeln!(o, "</td>");
                    }
                    Some(c) if c.status == CellStatus::IntraZone => {
                        let _ = writeln!(o, "<td class=\"intra\">{}</td>", h(l.intra_cell));
                    }
                    Some(c) if c.status == CellStatus::Denied => {
                        let _ = writeln!(o, "<td class=\"denied\">{}</td>", h(l.denied));
                    }
                    _ => {
                        let _ = writeln!(o, "<td class=\"na\">{}</td>", h(l.na));
                    }
                }
            }
            let _ = writeln!(o, "</tr>");
        }
        let _ = writeln!(
            o,
            "</tbody>\n</table>\n<p class=\"legend\">{}</p>",
            h(l.legend)
        );

        let _ = writeln!(o, "<h2>{}</h2>", h(l.zones));
        let _ = writeln!(
            o,
            "<table>\n<thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>",
            h(l.zone),
            h(l.class),
            h(l.networks),
            h(l.interfaces)
        );
        for z in &self.zones {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                h(&self.axis_label(&z.name, lang)),
                h(&Self::class_text(z, lang)),
                h(&z.networks.join(", ")),
                h(&z.interfaces.join(", "))
            );
        }
        let _ = writeln!(o, "</tbody>\n</table>");

        let _ = writeln!(o, "<h2>{}</h2>", h(l.permitted));
        let mut any = false;
        for c in self
            .cells
            .iter()
            .filter(|c| c.status == CellStatus::Permitted)
        {
            any = true;
            let _ = writeln!(
                o,
                "<h3>{} → {}</h3>",
                h(&self.axis_label(&c.from, lang)),
                h(&self.axis_label(&c.to, lang))
            );
            let _ = writeln!(
                o,
                "<table class=\"flows\">\n<colgroup><col class=\"id\"><col class=\"end\"><col class=\"end\"><col class=\"ports\"><col><col class=\"who\"><col class=\"date\"><col class=\"at\"><col class=\"notes\"></colgroup>\n<thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>",
                h(l.id), h(l.from), h(l.to), h(l.ports), h(l.purpose), h(l.approver), h(l.expires), h(l.defined), h(l.notes)
            );
            for f in &c.flows {
                let _ = writeln!(
                    o,
                    "<tr><td><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    h(&f.id),
                    h(&Self::end_text(&f.from)),
                    h(&Self::end_text(&f.to)),
                    h(&f.ports.join(", ")),
                    h(f.purpose.as_deref().unwrap_or("-")),
                    h(f.approved_by.as_deref().unwrap_or("-")),
                    h(f.expires.as_deref().unwrap_or("-")),
                    h(&f.defined_at),
                    h(&Self::notes(f, lang))
                );
            }
            let _ = writeln!(o, "</tbody>\n</table>");
        }
        if !any {
            let _ = writeln!(o, "<p>{}</p>", h(l.nothing_permitted));
        }

        let _ = writeln!(o, "<h2>{}</h2>", h(l.guard));
        if !self.guardrails.applied {
            let _ = writeln!(o, "<p>{}</p>", h(l.not_applied));
        } else {
            let _ = writeln!(
                o,
                "<table class=\"rules\">\n<colgroup><col class=\"code\"><col><col class=\"sev\"><col class=\"result\"><col class=\"basis\"></colgroup>\n<thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>",
                h(l.code),
                h(l.rule),
                h(l.severity),
                h(l.result),
                h(l.basis)
            );
            for r in &self.guardrails.rules {
                let title = if lang == Lang::Ja {
                    &r.title_ja
                } else {
                    &r.title_en
                };
                let result = if r.findings > 0 {
                    format!("{} ({})", Self::result_text(&r.result, lang), r.findings)
                } else {
                    Self::result_text(&r.result, lang).to_string()
                };
                let _ = writeln!(
                    o,
                    "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    h(&r.result),
                    h(&r.code),
                    h(title),
                    h(Self::severity_text(&r.severity, lang)),
                    h(&result),
                    h(&r.basis)
                );
            }
            let _ = writeln!(o, "</tbody>\n</table>");
        }
        let _ = writeln!(o, "<h3>{}</h3>", h(l.findings));
        if self.guardrails.findings.is_empty() {
            let _ = writeln!(o, "<p>{}</p>", h(l.none));
        } else {
            let _ = writeln!(o, "<ul class=\"findings\">");
            for f in &self.guardrails.findings {
                let _ = writeln!(
                    o,
                    "<li><code>{}</code> {}[{}]: {}</li>",
                    h(&f.at),
                    h(Self::severity_text(&f.severity, lang)),
                    h(&f.code),
                    h(&f.message)
                );
            }
            let _ = writeln!(o, "</ul>");
        }
        for (title, list) in [(l.expiring, &self.expiring), (l.expired, &self.expired)] {
            let _ = writeln!(o, "<h2>{}</h2>", h(title));
            if list.is_empty() {
                let _ = writeln!(o, "<p>{}</p>", h(l.none));
                continue;
            }
            let _ = writeln!(
                o,
                "<table>\n<thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>",
                h(l.id), h(l.from), h(l.to), h(l.expires), h(l.days_left), h(l.purpose), h(l.defined)
            );
            for e in list.iter() {
                let _ = writeln!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    h(&e.id),
                    h(&e.from),
                    h(&e.to),
                    h(&e.expires),
                    e.days_left,
                    h(e.purpose.as_deref().unwrap_or("-")),
                    h(&e.defined_at)
                );
            }
            let _ = writeln!(o, "</tbody>\n</table>");
        }
        let _ = writeln!(o, "<h2>{}</h2>", h(l.exceptions));
        if self.exceptions.is_empty() {
            let _ = writeln!(o, "<p>{}</p>", h(l.none));
        } else {
            let _ = writeln!(
                o,
                "<table>\n<thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>",
                h(l.id), h(l.exception), h(l.approver), h(l.expires), h(l.purpose), h(l.defined)
            );
            for f in &self.exceptions {
                let _ = writeln!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    h(&f.id),
                    h(f.exception.as_deref().unwrap_or("-")),
                    h(f.approved_by.as_deref().unwrap_or("-")),
                    h(f.expires.as_deref().unwrap_or("-")),
                    h(f.purpose.as_deref().unwrap_or("-")),
                    h(&f.defined_at)
                );
            }
            let _ = writeln!(o, "</tbody>\n</table>");
        }
        let _ = writeln!(
            o,
            "<p class=\"footer\">zonegate {} · {} · SHA-256 {}</p>\n</body>\n</html>",
            h(env!("CARGO_PKG_VERSION")),
            h(&self.policy.revision),
            h(&self.policy.sha256)
        );
        o
    }

    pub fn render_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// Print layout: A4 landscape, black on white so it survives a monochrome printer; cells
/// are shaded lightly and also say what they mean in words.
pub(crate) const CSS: &str = "@page { size: A4 landscape; margin: 12mm; }
* { box-sizing: border-box; }
body { font-family: \"IPAGothic\", \"IPAexGothic\", \"Noto Sans CJK JP\", \"Hiragino Sans\", \"Yu Gothic\", \"Meiryo\", sans-serif; font-size: 9pt; color: #000; background: #fff; margin: 0 auto; max-width: 273mm; line-height: 1.35; }
h1 { font-size: 15pt; margin: 0 0 4mm; }
h2 { font-size: 12pt; margin: 6mm 0 2mm; border-bottom: 1px solid #000; page-break-after: avoid; }
h3 { font-size: 10pt; margin: 4mm 0 1mm; page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 0 0 2mm; }
th, td { border: 1px solid #444; padding: 1mm 1.5mm; vertical-align: top; text-align: left; overflow-wrap: anywhere; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; }
th { background: #e8e8e8; }
table.summary { width: auto; }
table.summary th { width: 55mm; }
table.matrix { table-layout: fixed; }
table.matrix th[scope=row], table.matrix th.corner { width: 38mm; }
td.denied { background: #f4f4f4; color: #333; }
td.permitted { background: #fff3d6; }
td.intra { background: #e6f2e6; }
td.na { color: #777; text-align: center; }
table.flows, table.rules { table-layout: fixed; }
col.id { width: 14mm; } col.end { width: 34mm; } col.ports { width: 26mm; } col.who { width: 26mm; }
col.date { width: 18mm; } col.at { width: 26mm; } col.notes { width: 28mm; }
col.code { width: 14mm; } col.sev { width: 34mm; } col.result { width: 22mm; } col.basis { width: 80mm; }
.flow { margin: 0 0 1mm; }
.flow small { color: #333; }
tr.fail td { font-weight: bold; }
code { font-family: \"DejaVu Sans Mono\", monospace; font-size: 8pt; overflow-wrap: anywhere; }
.legend, .footer { font-size: 8pt; color: #333; }
@media print { body { max-width: none; } }
";

/// HTML text escaping (element content and quoted attribute values).
pub(crate) fn h(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Markdown table-cell escaping: no raw HTML, no cell breaks, no links or code spans.
pub(crate) fn md(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '|' => o.push_str("\\|"),
            '\\' => o.push_str("\\\\"),
            '`' => o.push_str("\\`"),
            '[' => o.push_str("\\["),
            ']' => o.push_str("\\]"),
            '*' => o.push_str("\\*"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_text_inert() {
        assert_eq!(h("<script>\"&'"), "&lt;script&gt;&quot;&amp;&#39;");
        assert_eq!(md("a|b<i>`c`[x](y)*"), "a\\|b&lt;i&gt;\\`c\\`\\[x\\](y)\\*");
    }
}
