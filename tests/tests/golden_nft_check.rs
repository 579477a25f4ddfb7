//! Every golden ruleset, the lockdown ruleset and a generated large one load with `nft -c -f`
//! in a fresh network namespace: the compiler's output is valid nftables input on this nft.

use std::fs;
use std::path::Path;
use zonegate_e2e::lab::{require_root, Lab, LabSpec};
use zonegate_policy::generate::{policy, Shape};
use zonegate_policy::{compile, lockdown, validate, Date};

fn nft_check(lab: &Lab, what: &str, text: &str) {
    let out = lab.nft(lab.gw(), &["-c", "-f", "-"], Some(text));
    assert!(
        out.status.success(),
        "nft -c rejected {what}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn golden_rulesets_load_with_nft_check() {
    if !require_root() {
        return;
    }
    let lab = Lab::up(&LabSpec { segments: vec![] }).expect("lab");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy-compiler/tests/golden");
    let mut checked = 0;
    let mut dirs: Vec<_> = fs::read_dir(&root)
        .expect("golden dir")
        .filter_map(|e| e.ok())
        .collect();
    dirs.sort_by_key(|e| e.path());
    for dir in dirs {
        let mut files: Vec<_> = fs::read_dir(dir.path())
            .expect("case dir")
            .filter_map(|e| e.ok())
            .collect();
        files.sort_by_key(|e| e.path());
        for f in files {
            if f.path().extension().is_some_and(|e| e == "nft") {
                let text = fs::read_to_string(f.path()).expect("golden file");
                nft_check(&lab, &f.path().display().to_string(), &text);
                checked += 1;
            }
        }
    }
    assert!(checked >= 3, "only {checked} golden rulesets found");
}

#[test]
fn lockdown_and_large_rulesets_load_with_nft_check() {
    if !require_root() {
        return;
    }
    let lab = Lab::up(&LabSpec { segments: vec![] }).expect("lab");
    let example = include_str!("../../zones.toml");
    let p = validate("zones.toml", example, Date::parse("2026-11-25"))
        .policy
        .expect("worked example is valid");
    let text = lockdown::lockdown(&lockdown::management_from_policy(&p), "test");
    nft_check(&lab, "lockdown from the worked example", &text);
    nft_check(
        &lab,
        "lockdown without management",
        &lockdown::lockdown(&[], "none"),
    );
    let big = policy(Shape {
        hosts: 2_000,
        flows: 300,
        group_size: 8,
    });
    let p = validate("gen.toml", &big, None)
        .policy
        .expect("generated policy");
    nft_check(
        &lab,
        "generated 2000 hosts / 300 flows",
        &compile(&p, "gw1").expect("gw1").text,
    );
}
