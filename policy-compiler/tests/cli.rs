//! The `zonegate` binary's contract: exit codes, where output goes, and the lockdown command.

use std::process::Command;

fn zonegate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zonegate"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run zonegate")
}

#[test]
fn check_exit_codes() {
    let ok = zonegate(&["check", "zones.toml", "--today", "2026-11-25"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = zonegate(&[
        "check",
        "policy-compiler/tests/golden/errors-many/zones.toml",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("error[E014]: unknown zone \"dmz\""));
    let missing = zonegate(&["check", "no-such-file.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read no-such-file.toml"));
}

#[test]
fn compile_writes_ruleset_and_metadata() {
    let dir = std::env::temp_dir().join(format!("zg-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let out = dir.join("gw1.nft");
    let r = zonegate(&[
        "compile",
        "zones.toml",
        "--gateway",
        "gw1",
        "--today",
        "2026-11-25",
        "-o",
        out.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let text = std::fs::read_to_string(&out).expect("ruleset written");
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("gw1.nft.meta.json")).expect("metadata written"),
    )
    .expect("json");
    assert!(text.contains("table inet zonegate {"));
    assert_eq!(meta["nflog_group"], 100);
    assert_eq!(meta["gateway"], "gw1");
    let unknown = zonegate(&["compile", "zones.toml", "--gateway", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lockdown_takes_management_from_the_policy_and_the_command_line() {
    let r = zonegate(&[
        "lockdown",
        "zones.toml",
        "--today",
        "2026-11-25",
        "--management",
        "10.99.0.0/24=tcp/22,udp/161",
    ]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(
        text.contains("10.20.0.50 . tcp . 22"),
        "policy management path (M-001)"
    );
    assert!(
        text.contains("10.99.0.0/24 . udp . 161"),
        "--management entry"
    );
    assert!(text.contains(
        "chain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}"
    ));
    let bad = zonegate(&["lockdown", "--management", "10.99.0.0/24=icmp"]);
    assert_eq!(bad.status.code(), Some(2));
    let none = zonegate(&["lockdown"]);
    assert!(String::from_utf8_lossy(&none.stderr).contains("no management path"));
}

#[test]
fn diff_exit_codes() {
    let dir = "policy-compiler/tests/golden-diff";
    let same = zonegate(&[
        "diff",
        "zones.toml",
        &format!("{dir}/c-reordered/new.toml"),
        "--today",
        "2026-11-25",
    ]);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    assert!(String::from_utf8_lossy(&same.stdout).contains("No change"));
    let changed = zonegate(&[
        "diff",
        "zones.toml",
        &format!("{dir}/b-ports-widened/new.toml"),
        "--today",
        "2026-11-25",
        "--format",
        "json",
    ]);
    assert_eq!(changed.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&changed.stdout).expect("json");
    assert_eq!(v["changed"], true);
    let bad = zonegate(&[
        "diff",
        "zones.toml",
        "policy-compiler/tests/golden/errors-many/zones.toml",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("policy-compiler/tests/golden/errors-many/zones.toml:")
            && err.contains(": error[E014]: unknown zone \"dmz\""),
        "{err}"
    );
    let unknown = zonegate(&["diff", "zones.toml", "zones.toml", "--gateway", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    let missing = zonegate(&["diff", "zones.toml", "no-such-file.toml"]);
    assert_eq!(missing.status.code(), Some(1));
}
