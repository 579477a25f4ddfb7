//! Golden files of the audit matrix (tests/golden-matrix/): the worked example (/zones.toml) for
//! gateway gw1, and an audit case for every zone of two gateways, each in Markdown (Japanese and
//! English labels) and JSON, evaluated on 2026-11-25. Regenerate with ZONEGATE_BLESS=1 and
//! review the diff. The HTML is checked for being self-contained and escaped here, and rendered
//! by Chromium in tests/matrix_html.rs.

use std::fs;
use std::path::{Path, PathBuf};
use zonegate_policy::matrix::{build, CellStatus, Lang, Matrix};
use zonegate_policy::{compile, validate, Date};

struct Case {
    name: &'static str,
    policy: PathBuf,
    gateway: Option<&'static str>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden-matrix")
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "worked-example",
            policy: Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones.toml"),
            gateway: Some("gw1"),
        },
        Case {
            name: "audit-case",
            policy: root().join("audit-case/zones.toml"),
            gateway: None,
        },
    ]
}

fn matrix(c: &Case) -> (Matrix, zonegate_policy::Policy) {
    let text = fs::read_to_string(&c.policy).expect("policy");
    let checked = validate("zones.toml", &text, Date::parse("2026-11-25"));
    let p = checked
        .policy
        .clone()
        .unwrap_or_else(|| panic!("{}: {}", c.name, checked.diagnostics.render_text()));
    let m = build(&p, &checked.diagnostics, c.gateway).expect("matrix");
    (m, p)
}

fn expect(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("ZONEGATE_BLESS").is_some() {
        fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
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
fn golden_markdown_and_json() {
    let mut failures = Vec::new();
    for c in cases() {
        let (m, _) = matrix(&c);
        let dir = root().join(c.name);
        expect(
            &dir.join("matrix.ja.md"),
            &m.render_md(Lang::Ja),
            &mut failures,
        );
        expect(
            &dir.join("matrix.en.md"),
            &m.render_md(Lang::En),
            &mut failures,
        );
        expect(&dir.join("matrix.json"), &m.render_json(), &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_hash_ties_the_document_to_the_compiled_ruleset() {
    let c = &cases()[0];
    let (m, p) = matrix(c);
    let r = compile(&p, "gw1").expect("compiles");
    assert_eq!(m.policy.sha256, r.metadata.policy_sha256);
    assert_eq!(m.policy.sha256.len(), 64);
    assert!(m.render_md(Lang::Ja).contains(&m.policy.sha256));
    assert!(m.render_html(Lang::Ja).contains(&m.policy.sha256));
}

#[test]
fn every_cell_is_explicit_and_matches_the_compiled_flows() {
    let c = &cases()[0];
    let (m, p) = matrix(c);
    let r = compile(&p, "gw1").expect("compiles");
    let axis = m.zones.len() + 1;
    assert_eq!(m.cells.len(), axis * axis);
    let mut listed: Vec<&str> = m
        .cells
        .iter()
        .flat_map(|c| c.flows.iter().map(|f| f.id.as_str()))
        .collect();
    listed.sort();
    let compiled: Vec<&str> = r.metadata.flows.keys().map(String::as_str).collect();
    assert_eq!(listed, compiled);
    for cell in &m.cells {
        match cell.status {
            CellStatus::Permitted => assert!(!cell.flows.is_empty()),
            _ => assert!(cell.flows.is_empty()),
        }
    }
    // The auditor's question: can the My Number domain reach anything on the internet side?
    for to in ["internet", "uplink"] {
        let cell = m
            .cells
            .iter()
            .find(|c| c.from == "mynumber" && c.to == to)
            .expect("cell");
        assert_eq!(cell.status, CellStatus::Denied);
        let back = m
            .cells
            .iter()
            .find(|c| c.from == to && c.to == "mynumber")
            .expect("cell");
        assert_eq!(back.status, CellStatus::Denied);
    }
}

#[test]
fn html_is_self_contained_and_escaped() {
    for c in cases() {
        let (m, _) = matrix(&c);
        for lang in [Lang::Ja, Lang::En] {
            let html = m.render_html(lang);
            assert!(html.starts_with("<!DOCTYPE html>"));
            assert!(html.contains("<meta charset=\"utf-8\">"));
            assert!(html.contains("@page { size: A4 landscape"));
            for external in [
                "<script", "<link", "src=", "http://", "https://", "url(", "@import",
            ] {
                assert!(!html.contains(external), "{}: {external} in HTML", c.name);
            }
            assert!(html.contains("id=\"matrix\""));
        }
    }
    let (m, _) = matrix(&cases()[1]);
    let html = m.render_html(Lang::Ja);
    assert!(html.contains("中間サーバー連携 &lt;特定通信&gt; | `pinned` [A]*"));
    assert!(!html.contains("<特定通信>"));
    assert!(html.contains("2026-11 &lt;draft|1&gt;"));
    let md = m.render_md(Lang::Ja);
    assert!(md.contains("中間サーバー連携 &lt;特定通信&gt; \\| \\`pinned\\` \\[A\\]\\*"));
}

#[test]
fn japanese_labels_and_display_names() {
    let (m, _) = matrix(&cases()[0]);
    let ja = m.render_md(Lang::Ja);
    for label in [
        "通信マトリクス",
        "マイナンバー利用事務系 (mynumber)",
        "ゲートウェイ自身",
        "すべて拒否",
        "ガードレール検査結果",
        "正規化ポリシーの SHA-256",
        "αモデル (alpha)",
    ] {
        assert!(ja.contains(label), "{label} missing");
    }
    let en = m.render_md(Lang::En);
    for label in [
        "Flow matrix",
        "mynumber (マイナンバー利用事務系)",
        "the gateway itself",
        "all denied",
        "SHA-256 of the canonical policy",
    ] {
        assert!(en.contains(label), "{label} missing");
    }
}

#[test]
fn audit_lists_expiry_exceptions_and_overlaps() {
    let (m, _) = matrix(&cases()[1]);
    assert_eq!(m.gateway, None);
    assert_eq!(
        m.expiring
            .iter()
            .map(|e| (e.id.as_str(), e.days_left))
            .collect::<Vec<_>>(),
        vec![("F-001", 15)]
    );
    assert_eq!(
        m.expired.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        vec!["F-006"]
    );
    assert_eq!(
        m.exceptions
            .iter()
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>(),
        vec!["G-001"]
    );
    let g090 = m
        .guardrails
        .rules
        .iter()
        .find(|r| r.code == "G090")
        .expect("G090");
    assert_eq!((g090.result.as_str(), g090.findings), ("warning", 1));
    let cell = m
        .cells
        .iter()
        .find(|c| c.from == "lgwan" && c.to == "internet")
        .expect("cell");
    let f3 = cell.flows.iter().find(|f| f.id == "F-003").expect("F-003");
    assert_eq!(f3.overlapped_by, vec!["F-002"]);
    // intra_zone = "drop": the diagonal lists the declared intra-zone flow.
    let diag = m
        .cells
        .iter()
        .find(|c| c.from == "lgwan" && c.to == "lgwan")
        .expect("cell");
    assert_eq!(
        diag.flows.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        vec!["F-004"]
    );
}

#[test]
fn unknown_gateway_is_an_error() {
    let c = &cases()[0];
    let text = fs::read_to_string(&c.policy).expect("policy");
    let checked = validate("zones.toml", &text, Date::parse("2026-11-25"));
    let p = checked.policy.expect("valid");
    assert!(build(&p, &checked.diagnostics, Some("gw9")).is_err());
}

#[test]
fn cli_writes_the_same_document() {
    let dir = std::env::temp_dir().join(format!("zonegate-matrix-cli-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("tmp");
    let out = dir.join("m.md");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_zonegate"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args([
            "matrix",
            "zones.toml",
            "--gateway",
            "gw1",
            "--today",
            "2026-11-25",
            "--format",
            "md",
            "-o",
        ])
        .arg(&out)
        .status()
        .expect("run zonegate");
    assert!(status.success());
    let written = fs::read_to_string(&out).expect("written");
    let golden = fs::read_to_string(root().join("worked-example/matrix.ja.md")).expect("golden");
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(written, golden);
}
