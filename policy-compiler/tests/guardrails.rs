//! Golden tests of the three-domain guardrails: one folder per case under
//! tests/golden-guardrails/, named after the code it exercises (`G012-other-side`). Each holds a
//! `fail.toml` that triggers the code and a `pass.toml`, the smallest change that satisfies it,
//! with the exact diagnostics `zonegate check` prints for each (`fail.txt`/`fail.json`,
//! `pass.txt`/`pass.json`), evaluated on 2026-11-25 unless a `today` file says otherwise.
//! Regenerate with ZONEGATE_BLESS=1 and review the diff.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use zonegate_policy::guardrails::{rule, RULES};
use zonegate_policy::{validate, Date, Lang, Severity};

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden-guardrails");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .expect("golden-guardrails dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("fail.toml").exists())
        .collect();
    dirs.sort();
    dirs
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

fn today(dir: &Path) -> Option<Date> {
    fs::read_to_string(dir.join("today"))
        .ok()
        .and_then(|t| Date::parse(t.trim()))
        .or_else(|| Date::parse("2026-11-25"))
}

fn code_of(dir: &Path) -> String {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.split('-').next().unwrap_or_default().to_string()
}

#[test]
fn every_guardrail_fails_and_passes_exactly_as_recorded() {
    let mut failures = Vec::new();
    let cases = cases();
    assert!(cases.len() >= 20, "guardrail cases are missing");
    for dir in &cases {
        let code = code_of(dir);
        for kind in ["fail", "pass"] {
            let text = fs::read_to_string(dir.join(format!("{kind}.toml"))).expect("case");
            let checked = validate("zones.toml", &text, today(dir));
            let d = &checked.diagnostics;
            expect(
                &dir.join(format!("{kind}.txt")),
                &d.render_text(),
                &mut failures,
            );
            expect(
                &dir.join(format!("{kind}.json")),
                &d.render_json(),
                &mut failures,
            );
            let has = d.items.iter().any(|x| x.code == code);
            if kind == "fail" && !has {
                failures.push(format!(
                    "{}: fail.toml does not trigger {code}",
                    dir.display()
                ));
            }
            if kind == "pass" && has {
                failures.push(format!(
                    "{}: pass.toml still triggers {code}",
                    dir.display()
                ));
            }
            if kind == "pass" && d.has_errors() {
                failures.push(format!(
                    "{}: pass.toml has errors:\n{}",
                    dir.display(),
                    d.render_text()
                ));
            }
            // A policy with guardrail errors must not compile.
            let errors = d.items.iter().any(|x| x.severity == Severity::Error);
            assert_eq!(checked.policy.is_none(), errors, "{}", dir.display());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_guardrail_code_has_a_failing_case() {
    let triggered: BTreeSet<String> = cases()
        .iter()
        .flat_map(|dir| {
            let text = fs::read_to_string(dir.join("fail.toml")).expect("case");
            validate("zones.toml", &text, today(dir))
                .diagnostics
                .items
                .into_iter()
                .map(|d| d.code.to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    for r in RULES {
        assert!(
            triggered.contains(r.code),
            "no failing case triggers {}",
            r.code
        );
    }
}

/// User-facing text cites only sources read verbatim: each guardrail message ends with its
/// rule's citation, and the citations name only the verified sources.
#[test]
fn messages_cite_their_verified_basis() {
    const VERIFIED: &[&str] = &[
        "検討チーム報告 H27.11",
        "徳島県",
        "総務省 R2.5.22",
        "要件シート No.2",
        "R7.3改定",
        "総行情第77号",
        "α′モデル R6.10",
    ];
    for r in RULES {
        assert!(
            r.basis.starts_with('(') && r.basis.ends_with(')'),
            "{}",
            r.code
        );
        let inner = &r.basis[1..r.basis.len() - 1];
        for part in inner.split("; ") {
            assert!(
                VERIFIED.iter().any(|v| part.starts_with(v)),
                "{}: {part:?} is not a verified source",
                r.code
            );
        }
    }
    for dir in cases() {
        for kind in ["fail", "pass"] {
            let text = fs::read_to_string(dir.join(format!("{kind}.toml"))).expect("case");
            for d in validate("zones.toml", &text, today(&dir)).diagnostics.items {
                if let Some(r) = rule(d.code) {
                    for lang in [Lang::En, Lang::Ja] {
                        let message = d.message.render(lang);
                        assert!(
                            message.ends_with(r.basis),
                            "{}: {} does not end with its basis ({lang:?}): {message}",
                            dir.display(),
                            d.code,
                        );
                        assert!(
                            d.hint.as_ref().is_some_and(|h| !h.render(lang).is_empty()),
                            "{}: no hint ({lang:?})",
                            d.code
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_worked_example_passes_every_guardrail() {
    let text = include_str!("../../zones.toml");
    let checked = validate("zones.toml", text, Date::parse("2026-11-25"));
    assert!(checked.policy.is_some());
    assert!(
        checked.diagnostics.items.is_empty(),
        "{}",
        checked.diagnostics.render_text()
    );
}

#[test]
fn profile_none_skips_the_guardrails() {
    let dir = cases()
        .into_iter()
        .find(|d| code_of(d) == "G001")
        .expect("G001 case");
    let text = fs::read_to_string(dir.join("fail.toml"))
        .expect("case")
        .replace("profile = \"three-tier\"", "profile = \"none\"");
    let checked = validate("zones.toml", &text, Date::parse("2026-11-25"));
    assert!(
        checked.policy.is_some(),
        "{}",
        checked.diagnostics.render_text()
    );
    assert!(checked
        .diagnostics
        .items
        .iter()
        .all(|d| !d.code.starts_with('G')));
}

#[test]
fn guardrails_wait_for_a_valid_policy() {
    // A typo in one flow must not produce chain or management findings about what is left.
    let dir = cases()
        .into_iter()
        .find(|d| code_of(d) == "G051")
        .expect("G051 case");
    let text = fs::read_to_string(dir.join("pass.toml"))
        .expect("case")
        .replace("from = \"admin\"", "from = \"admn\"");
    let d = validate("zones.toml", &text, Date::parse("2026-11-25")).diagnostics;
    let codes: Vec<&str> = d.items.iter().map(|x| x.code).collect();
    assert_eq!(codes, vec!["E015"], "{}", d.render_text());
}
