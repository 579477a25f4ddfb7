//! The published JSON Schema (docs/alert.schema.json) against real alerts: the pipeline writes
//! one alert of every type (with and without `summary_lang = "ja"`) through a file sink, and
//! Python's `jsonschema` (Debian's python3-jsonschema, installed by scripts/lib.sh) validates each
//! line; broken copies must fail. The validator is not ours, so the schema and the code are
//! checked against each other, including the severity each type may carry.

use crate::{context, one_of_each, wait_until, TempDir};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use zonegate_alerts::config::*;
use zonegate_alerts::{AlertPipeline, AlertsConfig};

const PYTHON: &str = "/usr/bin/python3";

/// Validates every line of `alerts` (JSON lines) against the schema; one result per line:
/// "ok" or the validator's first error.
const VALIDATE: &str = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1], encoding="utf-8"))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
for line in open(sys.argv[2], encoding="utf-8"):
    errors = sorted(v.iter_errors(json.loads(line)), key=lambda e: list(e.path))
    print("ok" if not errors else "error: " + errors[0].message.replace("\n", " "))
"#;

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/alert.schema.json")
}

/// None when the validator is missing outside CI (the test then says so loudly and skips).
fn validate(alerts: &Path) -> Option<Vec<String>> {
    let have = Command::new(PYTHON)
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        let ci = std::env::var("ZONEGATE_E2E_REQUIRE").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(
            !ci,
            "{PYTHON} has no jsonschema module: run scripts/lib.sh's ensure_packages (python3-jsonschema)"
        );
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {PYTHON} has no jsonschema module (apt-get install python3-jsonschema); the alert schema was NOT checked"
        );
        return None;
    }
    let out = Command::new(PYTHON)
        .args(["-c", VALIDATE])
        .arg(schema_path())
        .arg(alerts)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

/// Every kind through a real pipeline and file sink; the lines as written.
fn real_alerts(dir: &TempDir, lang: SummaryLang) -> Vec<String> {
    let file = dir.0.join(format!("{lang:?}.jsonl"));
    let config = AlertsConfig {
        time_zone: Some("Asia/Tokyo".into()),
        summary_lang: lang,
        sinks: vec![SinkConfig::File(FileConfig {
            common: SinkCommon {
                name: Some("file".into()),
                ..Default::default()
            },
            path: file.clone(),
            ..Default::default()
        })],
        ..Default::default()
    };
    let p =
        AlertPipeline::start(&config, &dir.0.join(format!("state-{lang:?}")), context()).unwrap();
    let kinds = one_of_each();
    for k in &kinds {
        p.emit(k.clone());
    }
    // Also an alert before any policy was applied (policy and ruleset hash null).
    p.set_context(zonegate_alerts::AlertContext {
        gateway: "gw1".into(),
        policy: None,
        ruleset_sha256: None,
    });
    p.emit(kinds[1].clone());
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.lines().count() > kinds.len())
    }));
    p.shutdown(Duration::from_secs(3));
    std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn real_alerts_of_every_type_validate_against_the_published_schema() {
    let dir = TempDir::new("schema");
    let mut lines = real_alerts(&dir, SummaryLang::En);
    lines.extend(real_alerts(&dir, SummaryLang::Ja));
    let file = dir.0.join("all.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let Some(results) = validate(&file) else {
        return;
    };
    assert_eq!(results.len(), lines.len());
    for (line, result) in lines.iter().zip(&results) {
        assert_eq!(result, "ok", "{line}");
    }
    // The schema names exactly the types the code sends.
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path()).unwrap()).unwrap();
    let in_schema: BTreeSet<String> = schema["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let sent: BTreeSet<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(in_schema, sent);
}

#[test]
fn broken_alerts_do_not_validate() {
    let dir = TempDir::new("schema-broken");
    let lines = real_alerts(&dir, SummaryLang::En);
    let by_type = |t: &str| -> serde_json::Value {
        lines
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["type"] == t)
            .unwrap()
    };
    let mut broken: Vec<(&str, serde_json::Value)> = Vec::new();
    let mut v = by_type("heartbeat");
    v.as_object_mut().unwrap().remove("id");
    broken.push(("no id", v));
    let mut v = by_type("heartbeat");
    v["severity"] = "urgent".into();
    broken.push(("unknown severity", v));
    let mut v = by_type("drift-detected");
    v["severity"] = "low".into();
    broken.push(("drift-detected is never low", v));
    let mut v = by_type("denied-flow");
    v["details"]["count"] = "1000".into();
    broken.push(("count as a string", v));
    let mut v = by_type("denied-flow");
    v["details"]["dst_port"] = 70000.into();
    broken.push(("port out of range", v));
    let mut v = by_type("scan-summary");
    v["details"]
        .as_object_mut()
        .unwrap()
        .remove("distinct_ports");
    broken.push(("scan without distinct ports", v));
    let mut v = by_type("heartbeat");
    v["type"] = "coffee-break".into();
    broken.push(("unknown type", v));
    let mut v = by_type("heartbeat");
    v["time"] = "yesterday".into();
    broken.push(("time not RFC 3339", v));
    let mut v = by_type("policy-applied");
    v["summary_ja"] = "".into();
    broken.push(("empty Japanese summary", v));
    let file = dir.0.join("broken.jsonl");
    let text: Vec<String> = broken.iter().map(|(_, v)| v.to_string()).collect();
    std::fs::write(&file, text.join("\n") + "\n").unwrap();
    let Some(results) = validate(&file) else {
        return;
    };
    assert_eq!(results.len(), broken.len());
    for ((why, v), result) in broken.iter().zip(&results) {
        assert!(result.starts_with("error: "), "{why}: validated: {v}");
    }
}
