//! The Prometheus alert rules of packaging/prometheus (issue 18) cannot rot: `promtool check
//! rules` on them and on what `zonegate fleet --format prometheus-rules` generates, their unit
//! tests (`promtool test rules`), and every `zonegate_*` series they or their tests use is one
//! the agent really exposes (the agent's exposition text rendered here, not a list kept by
//! hand). promtool comes with Debian's `prometheus` package (scripts/lib.sh installs it);
//! without it the test skips loudly, and fails when ZONEGATE_E2E_REQUIRE is set.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use zonegate_agent::change_control::Staged;
use zonegate_agent::status::Status;

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/prometheus")
}

fn promtool() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    if let Some(p) = std::env::split_paths(&path)
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file())
    {
        return Some(p);
    }
    let required = std::env::var("ZONEGATE_E2E_REQUIRE").is_ok_and(|v| !v.is_empty() && v != "0");
    assert!(
        !required,
        "promtool is missing and ZONEGATE_E2E_REQUIRE is set: apt-get install prometheus (scripts/lib.sh)"
    );
    let bar = "!".repeat(78);
    let _ = writeln!(
        std::io::stderr(),
        "\n{bar}\n!!! SKIPPED: Prometheus rule checks: promtool is not installed (apt-get install prometheus)\n{bar}\n"
    );
    None
}

fn run(promtool: &Path, dir: &Path, args: &[&str]) {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn alert_rules_check_and_pass_their_unit_tests() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = packaging();
    run(
        &promtool,
        &dir,
        &[
            "check",
            "rules",
            "zonegate.rules.yml",
            "tests/approved.rules.yml",
        ],
    );
    run(
        &promtool,
        &dir.join("tests"),
        &["test", "rules", "zonegate.test.yml"],
    );
}

#[test]
fn generated_approved_rules_check() {
    let Some(promtool) = promtool() else {
        return;
    };
    let text = include_str!("../../zones.toml");
    let policy = zonegate_policy::validate(
        "zones.toml",
        text,
        zonegate_policy::Date::parse("2026-11-25"),
    )
    .policy
    .expect("the worked example is valid");
    let rules = zonegate_policy::fleet::approved_rules(&policy);
    let tmp = std::env::temp_dir().join(format!("zonegate-approved-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    std::fs::write(tmp.join("approved.rules.yml"), &rules).expect("rules");
    run(&promtool, &tmp, &["check", "rules", "approved.rules.yml"]);
    let _ = std::fs::remove_dir_all(&tmp);
    for gw in policy.gateways.keys() {
        assert!(rules.contains(&format!("gateway: \"{gw}\"")), "{rules}");
    }
}

/// Every series name the rules and their tests use, minus the recording rules' own.
fn used_names() -> BTreeSet<String> {
    let dir = packaging();
    let mut names = BTreeSet::new();
    for file in [
        "zonegate.rules.yml",
        "tests/zonegate.test.yml",
        "../grafana/zonegate-fleet.json",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).expect("rule file");
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let mut rest = line;
            while let Some(i) = rest.find("zonegate_") {
                let tail = &rest[i..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                names.insert(tail[..end].to_string());
                rest = &tail[end..];
            }
        }
    }
    names.remove("zonegate_approved_ruleset_info");
    names.remove("zonegate_mynumber_zone_info");
    names
}

#[test]
fn grafana_dashboard_parses_and_every_panel_queries() {
    let text = std::fs::read_to_string(packaging().join("../grafana/zonegate-fleet.json"))
        .expect("dashboard");
    let v: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let panels = v["panels"].as_array().expect("panels");
    assert!(panels.len() >= 5);
    let mut all = Vec::new();
    for p in panels {
        let exprs: Vec<&str> = p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["expr"].as_str())
            .collect();
        assert!(!exprs.is_empty(), "panel without a query: {p}");
        assert!(exprs.iter().all(|e| e.contains("zonegate_")), "{exprs:?}");
        all.extend(exprs.iter().map(|e| e.to_string()));
    }
    // Every query parses as PromQL: promtool checks them as the expressions of recording rules.
    let Some(promtool) = promtool() else {
        return;
    };
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in all.iter().enumerate() {
        let quoted = serde_json::to_string(e).expect("string");
        rules.push_str(&format!(
            "      - record: dashboard_query_{i}\n        expr: {quoted}\n"
        ));
    }
    let tmp = std::env::temp_dir().join(format!("zonegate-dashboard-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    std::fs::write(tmp.join("dashboard.rules.yml"), rules).expect("rules");
    run(&promtool, &tmp, &["check", "rules", "dashboard.rules.yml"]);
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn rules_use_only_metrics_the_agent_exposes() {
    let status = Status {
        gateway: "gw1".into(),
        policy_name: Some("city".into()),
        revision: Some("r2".into()),
        ruleset_sha256: Some("1111".into()),
        mode: "enforce".into(),
        kind: Some("policy".into()),
        last_apply: Some("2026-12-01T00:00:00Z".into()),
        staged_change: Some(Staged {
            file_sha256: "ff".into(),
            since: "2026-12-01T00:00:00Z".into(),
            since_unix: 1_796_083_200,
        }),
        ..Status::default()
    };
    let mut snapshot = zonegate_alerts::MetricsSnapshot::default();
    snapshot
        .denied_packets
        .insert(("lgwan".into(), "mynumber".into(), "no-flow".into()), 5);
    let text =
        zonegate_agent::metrics::render(&status) + &zonegate_alerts::render_metrics(&snapshot);
    let exposed: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let used = used_names();
    assert!(used.contains("zonegate_gateway_info"), "{used:?}");
    for name in &used {
        assert!(
            exposed.contains(name.as_str()),
            "packaging/prometheus uses {name}, which the agent does not expose; exposed: {exposed:?}"
        );
    }
    // The labels the rules join and select on are on the series.
    for label in [
        "gateway=\"gw1\"",
        "ruleset_sha256=\"1111\"",
        "to=\"mynumber\"",
    ] {
        assert!(text.contains(label), "{label} not in:\n{text}");
    }
}
