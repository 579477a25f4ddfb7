//! The fleet audit report (`zonegate fleet`): every gateway the reviewed policy declares against
//! what the gateways themselves report (through Prometheus, or status files collected by other
//! means). Pure: the caller fetches the observations and reads the clock; this module compares
//! and renders (text, JSON, HTML in Japanese or English for the monthly self-inspection).

use crate::messages;
use crate::t;
use crate::{compile, Policy};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What one gateway reported (one agent instance).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Observed {
    pub gateway: String,
    /// Where it was seen: a Prometheus `instance` label or a status file name.
    pub instance: String,
    pub policy: String,
    pub revision: String,
    pub policy_sha256: String,
    pub ruleset_sha256: String,
    pub signer: Option<String>,
    pub mode: String,
    /// "policy" or "lockdown" (empty when unknown).
    pub kind: String,
    /// Seconds since the epoch of the last apply.
    pub last_apply: Option<i64>,
    /// Seconds since the epoch of the last report (None: not known, treat as fresh).
    pub last_seen: Option<i64>,
    /// No sample within the silence window.
    pub silent: bool,
    /// Since when a staged change waits (seconds since the epoch).
    pub staged_since: Option<i64>,
    /// Drift bursts in the last day (None: not known).
    pub drift_last_day: Option<f64>,
    /// Denied packets in the last day by destination zone.
    pub denied_last_day: BTreeMap<String, f64>,
    /// Denied packets are measured at all (the agent counts them only with an `[alerts]`
    /// section; status files do not carry them). False: "no denied packets" is not known.
    pub denied_measured: bool,
}

/// How the report was made (shown in its header).
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// "prometheus" or "status-files".
    pub kind: String,
    /// The Prometheus address or the directory.
    pub address: String,
    pub silent_after_s: u64,
}

/// One finding about one gateway.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Finding {
    /// Declared by the policy, never seen.
    NotReporting,
    /// Seen, but no sample within the window.
    Silent { last_seen: Option<i64> },
    /// The running ruleset is not the one the reviewed policy compiles to.
    HashNotApproved { approved: String, running: String },
    /// Two agents claim the gateway.
    Duplicate { instances: Vec<String> },
    /// A saved policy change waits to be applied.
    StagedChange { since: i64 },
    /// The agent repaired tampering in the last day.
    Drift { bursts: f64 },
    /// Packets were denied into a My Number zone in the last day.
    DeniedIntoMynumber { zone: String, packets: f64 },
    /// The agent runs in a mode that does not enforce (observe / dry-run) or in lockdown.
    NotEnforcing { mode: String, kind: String },
}

impl Finding {
    fn text(&self, lang: Lang) -> String {
        let text = match self {
            Finding::NotReporting => t!(FLEET_NOT_REPORTING),
            Finding::Silent { last_seen } => t!(
                FLEET_SILENT,
                at = last_seen.map(time).unwrap_or_else(|| "-".into())
            ),
            Finding::HashNotApproved { approved, running } => {
                t!(
                    FLEET_HASH_NOT_APPROVED,
                    approved = approved,
                    running = running
                )
            }
            Finding::Duplicate { instances } => {
                t!(FLEET_DUPLICATE, instances = instances.join(", "))
            }
            Finding::StagedChange { since } => t!(FLEET_STAGED, since = time(*since)),
            Finding::Drift { bursts } => t!(FLEET_DRIFT, bursts = bursts.to_string()),
            Finding::DeniedIntoMynumber { zone, packets } => {
                t!(
                    FLEET_DENIED_MYNUMBER,
                    zone = zone,
                    packets = packets.to_string()
                )
            }
            Finding::NotEnforcing { mode, kind } => {
                t!(FLEET_NOT_ENFORCING, mode = mode, kind = kind)
            }
        };
        text.render(lang)
    }
}

/// One gateway of the policy.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayRow {
    pub gateway: String,
    /// The ruleset the reviewed policy compiles to for this gateway.
    pub approved_ruleset_sha256: String,
    /// What the (first) agent reports; None when nothing was seen.
    pub running: Option<Observed>,
    pub findings: Vec<Finding>,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    pub format: u32,
    pub policy: String,
    pub revision: String,
    pub policy_sha256: String,
    pub generated_at: i64,
    pub source: Source,
    pub gateways: Vec<GatewayRow>,
    /// Agents reporting a gateway the policy does not declare.
    pub unknown: Vec<Observed>,
    /// Findings in total (the exit status is 2 when this is not 0).
    pub findings: usize,
}

/// Label language: the message catalogue's.
pub use crate::messages::Lang;

/// Compares every gateway of `policy` with the observations.
pub fn build(policy: &Policy, observed: &[Observed], source: Source, now: i64) -> FleetReport {
    let mut rows = Vec::new();
    for name in policy.gateways.keys() {
        let approved = compile(policy, name)
            .map(|r| r.metadata.ruleset_sha256)
            .unwrap_or_default();
        let seen: Vec<&Observed> = observed.iter().filter(|o| &o.gateway == name).collect();
        let mut findings = Vec::new();
        if seen.len() > 1 {
            let mut instances: Vec<String> = seen.iter().map(|o| o.instance.clone()).collect();
            instances.sort();
            instances.dedup();
            if instances.len() > 1 {
                findings.push(Finding::Duplicate { instances });
            }
        }
        // The freshest report speaks for the gateway.
        let first = seen
            .iter()
            .max_by_key(|o| (!o.silent, o.last_seen.unwrap_or(i64::MAX)))
            .copied();
        match first {
            None => findings.push(Finding::NotReporting),
            Some(o) => {
                let stale = o
                    .last_seen
                    .is_some_and(|t| now.saturating_sub(t) > source.silent_after_s as i64);
                if o.silent || stale {
                    findings.push(Finding::Silent {
                        last_seen: o.last_seen,
                    });
                }
                if o.ruleset_sha256 != approved {
                    findings.push(Finding::HashNotApproved {
                        approved: approved.clone(),
                        running: if o.ruleset_sha256.is_empty() {
                            "-".into()
                        } else {
                            o.ruleset_sha256.clone()
                        },
                    });
                }
                if o.mode != "enforce" || (!o.kind.is_empty() && o.kind != "policy") {
                    findings.push(Finding::NotEnforcing {
                        mode: o.mode.clone(),
                        kind: o.kind.clone(),
                    });
                }
                if let Some(since) = o.staged_since {
                    findings.push(Finding::StagedChange { since });
                }
                if let Some(bursts) = o.drift_last_day.filter(|b| *b >= 0.5) {
                    findings.push(Finding::Drift {
                        bursts: bursts.round(),
                    });
                }
                for (zone, packets) in &o.denied_last_day {
                    let mynumber = policy.zones.get(zone).is_some_and(|z| z.is_mynumber_like());
                    if mynumber && *packets >= 0.5 {
                        findings.push(Finding::DeniedIntoMynumber {
                            zone: zone.clone(),
                            packets: packets.round(),
                        });
                    }
                }
            }
        }
        rows.push(GatewayRow {
            gateway: name.clone(),
            approved_ruleset_sha256: approved,
            running: first.cloned(),
            findings,
        });
    }
    let unknown: Vec<Observed> = observed
        .iter()
        .filter(|o| !policy.gateways.contains_key(&o.gateway))
        .cloned()
        .collect();
    let findings = rows.iter().map(|r| r.findings.len()).sum::<usize>() + unknown.len();
    FleetReport {
        format: 1,
        policy: policy.name.clone(),
        revision: policy.revision.clone(),
        policy_sha256: policy.canonical_sha256.clone(),
        generated_at: now,
        source,
        gateways: rows,
        unknown,
        findings,
    }
}

/// Prometheus recording rules that state what the reviewed policy approves, for the alert rules
/// in packaging/prometheus/zonegate.rules.yml: one `zonegate_approved_ruleset_info{gateway,
/// ruleset_sha256}` series per gateway and one `zonegate_mynumber_zone_info{to}` per My Number
/// zone. `zonegate fleet zones.toml --format prometheus-rules` writes it; deploy it beside the
/// alert rules whenever a policy is approved.
pub fn approved_rules(policy: &Policy) -> String {
    let mut o = format!(
        "# Generated by `zonegate fleet --format prometheus-rules` from policy {} revision {}\n# (canonical sha256 {}). Regenerate whenever a policy is approved.\ngroups:\n  - name: zonegate-approved\n    rules:\n",
        one_line(&policy.name),
        one_line(&policy.revision),
        policy.canonical_sha256
    );
    let lit = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
    for name in policy.gateways.keys() {
        let Ok(r) = compile(policy, name) else {
            continue;
        };
        let _ = writeln!(
            o,
            "      - record: zonegate_approved_ruleset_info\n        expr: vector(1)\n        labels:\n          gateway: \"{}\"\n          ruleset_sha256: \"{}\"\n          policy: \"{}\"\n          revision: \"{}\"",
            lit(name),
            r.metadata.ruleset_sha256,
            lit(&policy.name),
            lit(&policy.revision)
        );
    }
    for (zone, z) in &policy.zones {
        if z.is_mynumber_like() {
            let _ = writeln!(
                o,
                "      - record: zonegate_mynumber_zone_info\n        expr: vector(1)\n        labels:\n          to: \"{}\"",
                lit(zone)
            );
        }
    }
    o
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// RFC 3339 (UTC) of seconds since the epoch.
fn time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| t.to_string())
}

struct Labels {
    title: &'static str,
    policy: &'static str,
    source: &'static str,
    generated: &'static str,
    gateway: &'static str,
    approved: &'static str,
    running: &'static str,
    revision: &'static str,
    signer: &'static str,
    last_apply: &'static str,
    state: &'static str,
    ok: &'static str,
    unknown: &'static str,
    not_measured: &'static str,
    summary_ok: &'static str,
    summary_findings: &'static str,
}

fn labels(lang: Lang) -> Labels {
    Labels {
        title: messages::FLEET_TITLE.template(lang),
        policy: messages::FLEET_POLICY.template(lang),
        source: messages::FLEET_SOURCE.template(lang),
        generated: messages::FLEET_GENERATED.template(lang),
        gateway: messages::FLEET_GATEWAY.template(lang),
        approved: messages::FLEET_APPROVED.template(lang),
        running: messages::FLEET_RUNNING.template(lang),
        revision: messages::FLEET_REVISION.template(lang),
        signer: messages::FLEET_SIGNER.template(lang),
        last_apply: messages::FLEET_LAST_APPLY.template(lang),
        state: messages::FLEET_STATE.template(lang),
        ok: messages::FLEET_OK.template(lang),
        unknown: messages::FLEET_UNKNOWN.template(lang),
        not_measured: messages::FLEET_NOT_MEASURED.template(lang),
        summary_ok: messages::FLEET_SUMMARY_OK.template(lang),
        summary_findings: messages::FLEET_SUMMARY_FINDINGS.template(lang),
    }
}

fn h(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

impl FleetReport {
    fn summary(&self, lang: Lang) -> String {
        let l = labels(lang);
        if self.findings == 0 {
            l.summary_ok.into()
        } else {
            format!("{} {}", self.findings, l.summary_findings)
        }
    }

    fn source_text(&self, lang: Lang) -> String {
        t!(
            FLEET_SOURCE_LINE,
            kind = &self.source.kind,
            address = &self.source.address,
            seconds = self.source.silent_after_s
        )
        .render(lang)
    }

    /// Plain text, one block per gateway.
    pub fn render_text(&self, lang: Lang) -> String {
        let l = labels(lang);
        let mut o = String::new();
        let _ = writeln!(o, "{}: {} {}", l.title, self.policy, self.revision);
        let _ = writeln!(o, "{}: sha256 {}", l.policy, self.policy_sha256);
        let _ = writeln!(o, "{}: {}", l.source, self.source_text(lang));
        let _ = writeln!(o, "{}: {}", l.generated, time(self.generated_at));
        for r in &self.gateways {
            let verdict = if r.findings.is_empty() {
                "OK"
            } else {
                "FINDINGS"
            };
            let _ = writeln!(o, "\n{} {}: {verdict}", l.gateway, r.gateway);
            let _ = writeln!(o, "  {}: {}", l.approved, r.approved_ruleset_sha256);
            if let Some(run) = &r.running {
                let _ = writeln!(o, "  {}: {}", l.running, run.ruleset_sha256);
                let _ = writeln!(
                    o,
                    "  {}: {} {} ({})",
                    l.revision, run.policy, run.revision, run.instance
                );
                if let Some(s) = &run.signer {
                    let _ = writeln!(o, "  {}: {s}", l.signer);
                }
                if let Some(t) = run.last_apply {
                    let _ = writeln!(o, "  {}: {}", l.last_apply, time(t));
                }
            }
            for f in &r.findings {
                let _ = writeln!(o, "  ! {}", f.text(lang));
            }
            if r.running.as_ref().is_some_and(|x| !x.denied_measured) {
                let _ = writeln!(o, "  ({})", l.not_measured);
            }
        }
        if !self.unknown.is_empty() {
            let _ = writeln!(o, "\n{}:", l.unknown);
            for u in &self.unknown {
                let _ = writeln!(
                    o,
                    "  {} ({}) ruleset {}",
                    u.gateway, u.instance, u.ruleset_sha256
                );
            }
        }
        let _ = writeln!(o, "\n{}", self.summary(lang));
        o
    }

    /// JSON (stable field names; `findings` is the count, each gateway lists its own).
    pub fn render_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
            + "\n"
    }

    /// A self-contained HTML page (no scripts, no external resources), printable on A4.
    pub fn render_html(&self, langs: &[Lang]) -> String {
        let mut o = String::new();
        let first = langs.first().copied().unwrap_or(Lang::Ja);
        let _ = writeln!(
            o,
            "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} — {}</title>\n<style>\n{CSS}</style>\n</head>\n<body>",
            if first == Lang::Ja { "ja" } else { "en" },
            h(labels(first).title),
            h(&self.policy)
        );
        for &lang in langs {
            let l = labels(lang);
            let code = if lang == Lang::Ja { "ja" } else { "en" };
            let _ = writeln!(o, "<section lang=\"{code}\" id=\"report-{code}\">");
            let _ = writeln!(o, "<h1>{}: {}</h1>", h(l.title), h(&self.policy));
            let _ = writeln!(o, "<table class=\"summary\">");
            for (k, v) in [
                (
                    l.policy,
                    format!(
                        "{} {} (sha256 {})",
                        self.policy, self.revision, self.policy_sha256
                    ),
                ),
                (l.source, self.source_text(lang)),
                (l.generated, time(self.generated_at)),
            ] {
                let _ = writeln!(o, "<tr><th>{}</th><td>{}</td></tr>", h(k), h(&v));
            }
            let class = if self.findings == 0 { "ok" } else { "bad" };
            let _ = writeln!(
                o,
                "</table>\n<p class=\"verdict {class}\">{}</p>",
                h(&self.summary(lang))
            );
            let _ = writeln!(
                o,
                "<table class=\"fleet\" id=\"fleet-{code}\">\n<thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>",
                h(l.gateway), h(l.approved), h(l.running), h(l.revision), h(l.last_apply), h(l.state)
            );
            for r in &self.gateways {
                let run = r.running.as_ref();
                let mut state = if r.findings.is_empty() {
                    format!("<span class=\"ok\">{}</span>", h(l.ok))
                } else {
                    r.findings
                        .iter()
                        .map(|f| format!("<div class=\"bad\">{}</div>", h(&f.text(lang))))
                        .collect::<String>()
                };
                if run.is_some_and(|x| !x.denied_measured) {
                    state.push_str(&format!("<div class=\"note\">{}</div>", h(l.not_measured)));
                }
                let _ = writeln!(
                    o,
                    "<tr class=\"{}\" data-gateway=\"{}\"><th scope=\"row\">{}</th><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{state}</td></tr>",
                    if r.findings.is_empty() { "ok" } else { "bad" },
                    h(&r.gateway),
                    h(&r.gateway),
                    h(&r.approved_ruleset_sha256),
                    h(run.map_or("-", |x| x.ruleset_sha256.as_str())),
                    h(&run.map_or_else(|| "-".into(), |x| format!("{} {}", x.policy, x.revision))),
                    h(&run.and_then(|x| x.last_apply).map_or_else(|| "-".into(), time)),
                );
            }
            let _ = writeln!(o, "</tbody>\n</table>");
            if !self.unknown.is_empty() {
                let _ = writeln!(o, "<h2>{}</h2>\n<ul>", h(l.unknown));
                for u in &self.unknown {
                    let _ = writeln!(
                        o,
                        "<li>{} ({}) <code>{}</code></li>",
                        h(&u.gateway),
                        h(&u.instance),
                        h(&u.ruleset_sha256)
                    );
                }
                let _ = writeln!(o, "</ul>");
            }
            let _ = writeln!(o, "</section>");
        }
        o.push_str("</body>\n</html>\n");
        o
    }
}

const CSS: &str = "@page { size: A4 landscape; margin: 12mm; }
body { font-family: 'IPAGothic', 'Noto Sans CJK JP', sans-serif; font-size: 10pt; color: #111; }
section { page-break-after: always; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #999; padding: 3px 6px; text-align: left; vertical-align: top; }
code { font-size: 8pt; word-break: break-all; }
.verdict { font-weight: bold; font-size: 12pt; }
.ok { color: #075; }
.bad { color: #b00; }
.note { color: #555; font-size: 8pt; }
tr.bad th { background: #fdd; }
tr.bad td { color: #111; }
tr.bad td div.bad { color: #b00; }
tr.ok th { background: #dfd; }
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{validate, Date};

    fn policy() -> Policy {
        validate(
            "zones.toml",
            include_str!("../../zones.toml"),
            Date::parse("2026-11-25"),
        )
        .policy
        .expect("valid")
    }

    fn source() -> Source {
        Source {
            kind: "prometheus".into(),
            address: "http://127.0.0.1:9090".into(),
            silent_after_s: 300,
        }
    }

    fn good(p: &Policy) -> Observed {
        Observed {
            gateway: "gw1".into(),
            instance: "10.99.1.2:9100".into(),
            policy: p.name.clone(),
            revision: p.revision.clone(),
            policy_sha256: p.canonical_sha256.clone(),
            ruleset_sha256: compile(p, "gw1").expect("compiles").metadata.ruleset_sha256,
            mode: "enforce".into(),
            kind: "policy".into(),
            last_seen: Some(1_000_000),
            denied_measured: true,
            ..Observed::default()
        }
    }

    #[test]
    fn in_order_and_each_finding() {
        let p = policy();
        let ok = build(&p, &[good(&p)], source(), 1_000_010);
        assert_eq!(ok.findings, 0, "{}", ok.render_text(Lang::En));
        assert!(ok
            .render_text(Lang::En)
            .contains("Every gateway runs the approved policy."));

        let none = build(&p, &[], source(), 1_000_010);
        assert_eq!(none.gateways[0].findings, vec![Finding::NotReporting]);

        let mut bad = good(&p);
        bad.ruleset_sha256 = "abc".into();
        bad.staged_since = Some(999_000);
        bad.drift_last_day = Some(2.0);
        bad.denied_last_day.insert("mynumber".into(), 7.0);
        bad.denied_last_day.insert("internet".into(), 9.0);
        let r = build(&p, &[bad], source(), 1_000_400);
        let kinds: Vec<String> = r.gateways[0]
            .findings
            .iter()
            .map(|f| {
                serde_json::to_value(f).expect("json")["type"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "silent",
                "hash-not-approved",
                "staged-change",
                "drift",
                "denied-into-mynumber"
            ]
        );
        let text = r.render_text(Lang::En);
        assert!(text.contains("approved "), "{text}");
        assert!(text.contains("running abc"), "{text}");
        let html = r.render_html(&[Lang::Ja, Lang::En]);
        assert!(html.contains("承認外のルールセット"));
        assert!(html.contains("ruleset not approved"));
        let rules = approved_rules(&p);
        assert!(rules.contains("gateway: \"gw1\""), "{rules}");
        assert!(rules.contains(&good(&p).ruleset_sha256), "{rules}");
        assert!(rules.contains("to: \"mynumber\""), "{rules}");
        let mut stranger = good(&p);
        stranger.gateway = "<gw9>".into();
        let r = build(&p, &[good(&p), stranger], source(), 1_000_010);
        assert_eq!(r.findings, 1);
        assert!(r.render_html(&[Lang::En]).contains("&lt;gw9&gt;"));
    }
}
