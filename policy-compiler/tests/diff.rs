//! Golden files of `zonegate diff` (tests/golden-diff/<case>/): each case's new.toml against
//! the worked example (/zones.toml), evaluated on 2026-11-25, as text (English and Japanese),
//! Markdown (Japanese and English), JSON and Japanese HTML. Regenerate with ZONEGATE_BLESS=1
//! and review the diff. The semantic checks below say what each case must show.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use zonegate_policy::diff::{build, AddrKind, Diff, Input, StructKind};
use zonegate_policy::matrix::Lang;
use zonegate_policy::{validate_for_review, Checked, Date};

const CASES: &[&str] = &[
    "a-flow-added-removed",
    "b-ports-widened",
    "c-reordered",
    "d-guardrail-finding",
    "e-zone-network",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden-diff")
}

fn check(file: &str, path: &Path) -> Checked {
    let bytes = fs::read(path).expect("policy");
    let c = validate_for_review(file, &bytes, Date::parse("2026-11-25"));
    assert!(
        c.policy.is_some(),
        "{file}: {}",
        c.diagnostics.render_text()
    );
    c
}

fn input(c: &Checked) -> Input<'_> {
    Input {
        policy: c.policy.as_ref().expect("checked when loaded"),
        diagnostics: &c.diagnostics,
    }
}

fn diff(case: &str) -> Diff {
    let old = check(
        "zones.toml",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones.toml"),
    );
    let new = check("zones.new.toml", &root().join(case).join("new.toml"));
    build(input(&old), input(&new), None).expect("diff")
}

fn expect(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("ZONEGATE_BLESS").is_some() {
        fs::write(path, actual).expect("write golden");
        return;
    }
    let expected = fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "{}: output differs (ZONEGATE_BLESS=1 regenerates)\n--- expected\n{expected}\n+++ actual\n{actual}",
            path.display()
        ));
    }
}

#[test]
fn golden_outputs() {
    let mut failures = Vec::new();
    for case in CASES {
        let d = diff(case);
        let dir = root().join(case);
        for (name, text) in [
            ("diff.en.txt", d.render_text(Lang::En)),
            ("diff.ja.txt", d.render_text(Lang::Ja)),
            ("diff.ja.md", d.render_md(Lang::Ja)),
            ("diff.en.md", d.render_md(Lang::En)),
            ("diff.json", d.render_json()),
            ("diff.ja.html", d.render_html(Lang::Ja)),
        ] {
            expect(&dir.join(name), &text, &mut failures);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_flow_added_and_one_removed() {
    let d = diff("a-flow-added-removed");
    assert!(d.changed);
    let ids = |v: &[zonegate_policy::diff::FlowInfo]| -> Vec<String> {
        v.iter().map(|f| f.id.clone()).collect()
    };
    assert_eq!(ids(&d.flows.added), ["F-012"]);
    assert_eq!(ids(&d.flows.removed), ["F-021"]);
    let gained = &d.newly_reachable;
    assert_eq!(gained.len(), 1);
    assert_eq!(
        (gained[0].from.as_str(), gained[0].to.as_str()),
        ("internet", "lgwan")
    );
    assert_eq!(gained[0].lines[0].flows, ["F-012"]);
    let lost = &d.newly_unreachable;
    assert_eq!(
        (lost[0].from.as_str(), lost[0].to.as_str()),
        ("internet", "uplink")
    );
    assert_eq!(lost[0].lines[0].flows, ["F-021"]);
}

#[test]
fn b_only_the_new_port_becomes_reachable() {
    let d = diff("b-ports-widened");
    assert_eq!(d.flows.changed.len(), 1);
    assert_eq!(d.flows.changed[0].fields[0].field, "ports");
    assert!(d.newly_unreachable.is_empty());
    let lines: Vec<_> = d.newly_reachable.iter().flat_map(|p| &p.lines).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].ports, ["tcp/8443"]);
    assert_eq!(lines[0].src[0].kind, AddrKind::Group);
    assert_eq!(lines[0].src[0].name.as_deref(), Some("lg-terminals"));
    assert_eq!(lines[0].dst[0].name.as_deref(), Some("browser-gw"));
}

#[test]
fn c_reordering_is_no_change() {
    let d = diff("c-reordered");
    assert!(!d.changed, "{}", d.render_text(Lang::En));
    assert_eq!(d.old.sha256, d.new.sha256);
}

#[test]
fn d_the_new_guardrail_finding_appears() {
    let d = diff("d-guardrail-finding");
    let codes: Vec<&str> = d
        .guardrails
        .appeared
        .iter()
        .map(|f| f.code.as_str())
        .collect();
    assert_eq!(codes, ["G001"]);
    assert!(d.guardrails.appeared[0].message.contains("F-099"));
    assert!(d.guardrails.disappeared.is_empty());
    assert_eq!(d.new.errors, 1);
    let p = &d.newly_reachable[0];
    assert_eq!((p.from.as_str(), p.to.as_str()), ("internet", "mynumber"));
    assert_eq!(p.lines[0].src[0].kind, AddrKind::Zone);
}

#[test]
fn e_a_zone_network_change_moves_anti_spoofed_sources() {
    let d = diff("e-zone-network");
    assert_eq!(d.structure.len(), 1);
    assert_eq!(d.structure[0].kind, StructKind::ZoneNetworks);
    // 10.20.2.0/23 leaves lgwan; the catch-all uplink zone now owns it.
    let lost = &d.newly_unreachable[0];
    assert_eq!((lost.from.as_str(), lost.to.as_str()), ("lgwan", "lgwan"));
    assert_eq!(lost.lines[0].src[0].addresses, ["10.20.2.0/23"]);
    let gained = &d.newly_reachable[0];
    assert_eq!(
        (gained.from.as_str(), gained.to.as_str()),
        ("uplink", "uplink")
    );
}

#[test]
fn html_is_self_contained_and_escaped() {
    let d = diff("d-guardrail-finding");
    let html = d.render_html(Lang::Ja);
    assert!(!html.contains("<script"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(html.contains(&d.new.sha256));
    assert!(html.contains("新たに到達可能になる通信"));
}

/// An independent oracle: for every host-to-host line the diff reports, `explain` (which
/// evaluates one packet against the policy model) accepts the first packet of the line under
/// the policy that gained it and drops it under the other.
#[test]
fn explain_agrees_with_every_host_line() {
    use zonegate_policy::explain::{explain, Packet, Query, Target, Verdict};
    let old = check(
        "zones.toml",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones.toml"),
    );
    let mut checked = 0;
    for case in CASES {
        let new = check("zones.new.toml", &root().join(case).join("new.toml"));
        let d = diff(case);
        let (op, np) = (input(&old).policy, input(&new).policy);
        for (pairs, yes, no) in [(&d.newly_reachable, np, op), (&d.newly_unreachable, op, np)] {
            for line in pairs.iter().flat_map(|p| &p.lines) {
                let first = |v: &[zonegate_policy::diff::AddrItem]| -> Option<IpAddr> {
                    let a = v.first()?;
                    match a.kind {
                        AddrKind::Host | AddrKind::Group => {
                            a.addresses.first()?.split('-').next()?.parse().ok()
                        }
                        AddrKind::Any => "192.0.2.1".parse().ok(),
                        AddrKind::Zone => {
                            let z = yes.zones.get(a.name.as_deref()?)?;
                            let n = z.networks.first()?;
                            Some(zonegate_policy::net::from_int(n.family, n.base + 1))
                        }
                        _ => None,
                    }
                };
                let (Some(s), Some(t)) = (first(&line.src), first(&line.dst)) else {
                    continue;
                };
                let Ok(packet) = Packet::parse(&line.ports[0]) else {
                    continue;
                };
                let q = Query::new(Target::Address(s), Target::Address(t), Some(packet));
                let verdict = |p| explain(p, "gw1", &q).expect("explains").verdict;
                assert_eq!(verdict(yes), Verdict::Accept, "{case}: {line:?}");
                assert_eq!(verdict(no), Verdict::Drop, "{case}: {line:?}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "only {checked} lines checked");
}
