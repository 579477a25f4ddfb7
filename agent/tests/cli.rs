//! The `zonegate-agent` binary's command line, without privileges: usage errors, `validate`
//! on a good and a bad policy, exit codes. (Its presence also makes `cargo test` build the
//! binary that the namespace tests in tests/tests/agent_*.rs run.)

use std::path::PathBuf;
use std::process::Command;

const POLICY: &str = r#"version = 1
[policy]
name = "cli"
revision = "r7"
profile = "none"
timezone = "Asia/Tokyo"
log = { group = 100, rate = "20/second", burst = 50 }
[zones.a]
networks = ["10.1.0.0/24"]
[zones.b]
networks = ["10.2.0.0/24"]
[[flow]]
id = "F-1"
from = "a"
to = "b"
ports = ["tcp/80"]
purpose = "cli"
approved_by = "test"
[gateways.gw1]
interfaces = { a = ["ens3"], b = ["ens4"] }
"#;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zg-agent-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn agent(config: &PathBuf, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zonegate-agent"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("ZONEGATE_MODE")
        .output()
        .expect("run zonegate-agent")
}

fn setup(tag: &str, policy: &str, extra: &str) -> PathBuf {
    let d = dir(tag);
    std::fs::write(d.join("zones.toml"), policy).expect("policy");
    let cfg = d.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "policy = \"{}\"\ngateway = \"gw1\"\nstate_dir = \"{}\"\nstatus_socket = \"{}\"\n{extra}",
            d.join("zones.toml").display(),
            d.join("state").display(),
            d.join("agent.sock").display()
        ),
    )
    .expect("config");
    cfg
}

#[test]
fn validate_accepts_a_good_policy() {
    let cfg = setup("good", POLICY, "renamed_setting = 1\n");
    let out = agent(&cfg, &["validate"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("valid for gateway gw1 (revision r7, 1 flow(s)"),
        "{text}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown key \"renamed_setting\" ignored"),
        "an unknown key must warn, not fail"
    );
    let out = agent(&cfg, &["validate", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"], true);
}

#[test]
fn validate_rejects_a_bad_policy_with_positions() {
    let cfg = setup("bad", &POLICY.replace("to = \"b\"", "to = \"nowhere\""), "");
    let out = agent(&cfg, &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("zones.toml:") && err.contains("error["),
        "{err}"
    );
}

#[test]
fn validate_rejects_an_unknown_gateway() {
    let d = dir("gw");
    std::fs::write(d.join("zones.toml"), POLICY).expect("policy");
    let cfg = d.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "policy = \"{}\"\ngateway = \"gw9\"\n",
            d.join("zones.toml").display()
        ),
    )
    .expect("cfg");
    let out = agent(&cfg, &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gw9"));
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let cfg = setup("usage", POLICY, "");
    assert_eq!(agent(&cfg, &["frobnicate"]).status.code(), Some(1));
    assert_eq!(
        agent(&cfg, &["apply", "--confirm", "5", "--confirm-ok"])
            .status
            .code(),
        Some(1)
    );
    let help = agent(&cfg, &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit codes"));
}

#[test]
fn status_without_an_agent_says_so() {
    let cfg = setup("status", POLICY, "");
    let out = agent(&cfg, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no agent answers"));
}

#[test]
fn a_broken_config_is_an_error_for_commands() {
    let d = dir("broken");
    let cfg = d.join("agent.toml");
    std::fs::write(&cfg, "mode = \"yolo\"\n").expect("cfg");
    let out = agent(&cfg, &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mode"));
}

#[test]
fn validate_without_a_policy_says_what_to_do_next_in_both_languages() {
    let cfg = setup("nopolicy", POLICY, "");
    let policy = cfg.with_file_name("zones.toml");
    std::fs::remove_file(&policy).expect("remove the policy");
    for (lang, words) in [
        (
            "C.UTF-8",
            ["no policy at", "stays in lockdown", "zonegate init -o"],
        ),
        (
            "ja_JP.UTF-8",
            ["ポリシーがない", "ロックダウンのまま", "zonegate init -o"],
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_zonegate-agent"))
            .arg("--config")
            .arg(&cfg)
            .arg("validate")
            .env_remove("ZONEGATE_MODE")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", lang)
            .output()
            .expect("run zonegate-agent");
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stderr);
        let line = text
            .lines()
            .find(|l| l.contains(&policy.display().to_string()))
            .unwrap_or_else(|| panic!("no line about the policy:\n{text}"));
        for w in words {
            assert!(line.contains(w), "{lang}: {w:?} missing from {line:?}");
        }
    }
    let out = agent(&cfg, &["validate", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["ok"], false);
    assert!(v["conflicts"].is_array(), "{v}");
}
