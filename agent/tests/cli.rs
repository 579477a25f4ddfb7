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

/// Under systemd (stderr is the stream named by `JOURNAL_STREAM`) logs go to the journal with
/// their fields; elsewhere they are text, or JSON when asked. Checked through where a warning
/// (an unknown agent.toml key) lands.
#[test]
fn logs_go_to_the_journal_only_when_stderr_is_the_journal_stream() {
    use std::os::unix::fs::MetadataExt;
    let cfg = setup("journal", POLICY, "renamed_setting = 1\n");
    let d = cfg.parent().expect("dir").to_path_buf();
    let warning = "unknown key \"renamed_setting\" ignored";
    let run = |journal_stream: Option<&str>, format: Option<&str>| -> String {
        let path = d.join("stderr.txt");
        let err = std::fs::File::create(&path).expect("stderr file");
        let meta = err.metadata().expect("stat");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zonegate-agent"));
        cmd.arg("--config")
            .arg(&cfg)
            .arg("validate")
            .env_remove("ZONEGATE_MODE")
            .env_remove("ZONEGATE_LOG")
            .env_remove("JOURNAL_STREAM")
            .env_remove("ZONEGATE_LOG_FORMAT")
            .stdout(std::process::Stdio::null())
            .stderr(err);
        match journal_stream {
            Some("stderr") => {
                cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
            }
            Some(other) => {
                cmd.env("JOURNAL_STREAM", other);
            }
            None => {}
        }
        if let Some(f) = format {
            cmd.env("ZONEGATE_LOG_FORMAT", f);
        }
        let status = cmd.status().expect("run zonegate-agent");
        assert!(status.success());
        std::fs::read_to_string(&path).expect("read stderr")
    };
    // Another stream (as when started from a terminal by hand under a systemd session): text.
    let text = run(Some("1:2"), None);
    assert!(text.contains(warning), "{text}");
    assert!(!text.trim_start().starts_with('{'), "{text}");
    // JSON lines when asked.
    let json = run(None, Some("json"));
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(warning))),
        "{json}"
    );
    // A wrong value is named, in both languages, and auto is used.
    let bogus = run(None, Some("bogus"));
    assert!(
        bogus.contains("ZONEGATE_LOG_FORMAT=\"bogus\" is not one of auto, journal, text, json")
            && bogus.contains("のいずれでもない"),
        "{bogus}"
    );
    // stderr is the journal stream: the journal, or text with a warning when it is not there.
    let journal = run(Some("stderr"), None);
    if std::path::Path::new("/run/systemd/journal/socket").exists() {
        assert!(!journal.contains(warning), "{journal}");
    } else {
        assert!(
            journal.contains("The systemd journal is not reachable") && journal.contains(warning),
            "{journal}"
        );
    }
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
