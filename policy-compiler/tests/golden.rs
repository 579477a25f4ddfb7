//! Golden tests: one folder per case under tests/golden/. Each holds a `zones.toml` (and
//! optionally `today`, default 2026-11-25). Expected outputs sit beside it: `check.txt` and
//! `check.json` (diagnostics exactly as the CLI prints them), and for valid policies one
//! `<gateway>.nft` and `<gateway>.meta.json` per gateway. Regenerate with ZONEGATE_BLESS=1 and
//! review the diff.

use std::fs;
use std::path::{Path, PathBuf};
use zonegate_policy::{compile, validate_bytes, Date};

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .expect("golden dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("zones.toml").exists())
        .collect();
    dirs.sort();
    dirs
}

fn expect(dir: &Path, name: &str, actual: &str, failures: &mut Vec<String>) {
    let path = dir.join(name);
    if std::env::var_os("ZONEGATE_BLESS").is_some() {
        fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "{}: output differs (ZONEGATE_BLESS=1 regenerates)\n--- expected\n{}\n+++ actual\n{}",
            path.display(),
            expected,
            actual
        ));
    }
}

#[test]
fn golden_cases() {
    let mut failures = Vec::new();
    let cases = cases();
    assert!(cases.len() >= 5, "golden cases are missing");
    for dir in cases {
        let bytes = fs::read(dir.join("zones.toml")).expect("read case");
        let today = fs::read_to_string(dir.join("today"))
            .ok()
            .and_then(|t| Date::parse(t.trim()))
            .or_else(|| Date::parse("2026-11-25"));
        let checked = validate_bytes("zones.toml", &bytes, today);
        expect(
            &dir,
            "check.txt",
            &checked.diagnostics.render_text(),
            &mut failures,
        );
        expect(
            &dir,
            "check.json",
            &checked.diagnostics.render_json(),
            &mut failures,
        );
        if let Some(policy) = &checked.policy {
            for gw in policy.gateways.keys() {
                let r = compile(policy, gw).expect("declared gateway compiles");
                expect(&dir, &format!("{gw}.nft"), &r.text, &mut failures);
                let meta = serde_json::to_string_pretty(&r.metadata).expect("metadata json") + "\n";
                expect(&dir, &format!("{gw}.meta.json"), &meta, &mut failures);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn compile_is_deterministic() {
    for dir in cases() {
        let bytes = fs::read(dir.join("zones.toml")).expect("read case");
        let a = validate_bytes("zones.toml", &bytes, Date::parse("2026-11-25"));
        let b = validate_bytes("zones.toml", &bytes, Date::parse("2026-11-25"));
        assert_eq!(a.diagnostics, b.diagnostics);
        if let (Some(pa), Some(pb)) = (&a.policy, &b.policy) {
            for gw in pa.gateways.keys() {
                assert_eq!(
                    compile(pa, gw).expect("compiles").text,
                    compile(pb, gw).expect("compiles").text
                );
            }
        }
    }
}
