//! Change control with the real agent in a gateway namespace: a saved policy file changes
//! nothing in the kernel until someone applies it, and the pending change shows in `status`,
//! the heartbeat and the metrics; a fleet that opts in to `auto_apply` gets every automatic
//! apply with a confirm window: rolled back unless confirmed, kept when confirmed.

mod agent_support;

use agent_support::receivers::{fetch_metrics, sample};
use agent_support::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const METRICS_PORT: u16 = 19471;

/// The test policy with F-1 narrowed to tcp/7000.
fn narrowed() -> String {
    POLICY.replace("tcp/7000-7001", "tcp/7000")
}

/// `status --format json`, once the agent answers.
fn status(gw: &Gw) -> Value {
    let out = gw.agent_ok(&["status", "--format", "json"], 0);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("status json: {e}\n{out}"))
}

/// Polls `status` until `pred` holds (the agent looks at the file when the write settles).
fn wait_status(gw: &Gw, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let s = status(gw);
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < end, "status never showed {what}: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_saved_policy_is_staged_until_applied_and_the_pending_change_is_visible() {
    let Some(gw) = Gw::up(
        POLICY,
        &format!("metrics_address = \"127.0.0.1:{METRICS_PORT}\"\n[alerts]\nheartbeat_secs = 1\n"),
    ) else {
        return;
    };
    let agent = gw.run();
    let before = gw.table();
    assert!(
        status(&gw)["staged_change"].is_null(),
        "nothing staged at start"
    );
    gw.write_policy(&narrowed());
    let s = wait_status(&gw, "a staged change", |s| s["staged_change"].is_object());
    assert_eq!(
        s["staged_change"]["file_sha256"].as_str().map(str::len),
        Some(64),
        "{s}"
    );
    assert_eq!(gw.table(), before, "a saved file changed the kernel");
    assert!(agent.named("policy-applied").len() == 1, "{}", agent.dump());
    // The heartbeat and the metrics say so too.
    let hb = agent
        .wait_until(Duration::from_secs(10), |evs| {
            evs.iter()
                .find(|e| e["event"] == "heartbeat" && e["staged"].is_object())
                .cloned()
        })
        .unwrap_or_else(|| panic!("no heartbeat with the staged change:\n{}", agent.dump()));
    assert_eq!(
        hb["staged"]["file_sha256"],
        s["staged_change"]["file_sha256"]
    );
    let m = fetch_metrics(gw.lab.gw(), METRICS_PORT);
    assert_eq!(sample(&m, "zonegate_policy_staged", &[]), Some(1.0), "{m}");
    assert!(sample(&m, "zonegate_policy_staged_since_seconds", &[]).unwrap_or(0.0) > 1.0e9);
    // `plan` shows the change; `apply` applies it and clears the staged state.
    let plan = gw.agent(&["plan"]);
    assert_eq!(plan.status.code(), Some(2), "plan sees the pending change");
    gw.agent_ok(&["apply"], 0);
    assert_ne!(gw.table(), before, "apply changed the ruleset");
    let s = status(&gw);
    assert!(s["staged_change"].is_null(), "{s}");
    let m = fetch_metrics(gw.lab.gw(), METRICS_PORT);
    assert_eq!(sample(&m, "zonegate_policy_staged", &[]), Some(0.0), "{m}");
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn auto_apply_is_rolled_back_unless_confirmed_and_kept_when_confirmed() {
    let Some(gw) = Gw::up(POLICY, "auto_apply = true\nauto_apply_confirm = \"3s\"\n") else {
        return;
    };
    let agent = gw.run();
    let before = gw.table();
    // Not confirmed: applied, then rolled back when the window closes.
    gw.write_policy(&narrowed());
    agent
        .wait_until(Duration::from_secs(10), |evs| {
            evs.iter()
                .find(|e| e["event"] == "policy-applied" && e["reason"] == "reload")
                .cloned()
        })
        .unwrap_or_else(|| panic!("the settled write was not applied:\n{}", agent.dump()));
    let narrowed_table = gw.table();
    assert_ne!(narrowed_table, before);
    assert!(
        status(&gw)["awaiting_confirmation_s"].is_u64(),
        "a confirm window is open"
    );
    let rolled = agent
        .wait_until(Duration::from_secs(10), |evs| {
            evs.iter()
                .find(|e| e["event"] == "policy-applied" && e["reason"] == "rollback")
                .cloned()
        })
        .unwrap_or_else(|| panic!("no rollback:\n{}", agent.dump()));
    assert!(rolled.is_object());
    assert_eq!(gw.table(), before, "rolled back to the previous ruleset");
    // The file still holds the unconfirmed change: it shows as staged.
    wait_status(&gw, "the rolled-back change as staged", |s| {
        s["staged_change"].is_object()
    });
    // Confirmed: kept after the window.
    gw.write_policy(&format!("{}\n# confirmed this time\n", narrowed()));
    agent
        .wait_until(Duration::from_secs(10), |evs| {
            evs.iter()
                .filter(|e| e["event"] == "policy-applied" && e["reason"] == "reload")
                .nth(1)
                .cloned()
        })
        .unwrap_or_else(|| panic!("the second write was not applied:\n{}", agent.dump()));
    gw.agent_ok(&["apply", "--confirm-ok"], 0);
    let confirmed_at = Instant::now();
    let s = wait_status(&gw, "no confirm window", |s| {
        s["awaiting_confirmation_s"].is_null()
    });
    assert!(s["staged_change"].is_null(), "{s}");
    // Past the window's end (3 s): still the confirmed ruleset, no second rollback.
    while confirmed_at.elapsed() < Duration::from_secs(4) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(gw.table(), narrowed_table, "the confirmed change stays");
    assert_eq!(
        agent
            .named("policy-applied")
            .iter()
            .filter(|e| e["reason"] == "rollback")
            .count(),
        1,
        "{}",
        agent.dump()
    );
    assert_eq!(agent.stop(), Some(0));
}

/// The test policy without its management flow M-1 (hb -> gateway tcp/22).
fn without_management() -> String {
    let start = POLICY.find("[[flow]]\nid = \"M-1\"").expect("M-1");
    let end = POLICY.find("[gateways.gw1]").expect("gateways");
    format!("{}{}", &POLICY[..start], &POLICY[end..])
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_change_that_cuts_the_management_session_is_refused_and_forced_is_rolled_back() {
    let Some(gw) = Gw::up(POLICY, "") else { return };
    let _sshd = zonegate_e2e::probe::TcpEcho::start(gw.lab.gw(), sa("0.0.0.0", 22)).expect("sshd");
    let agent = gw.run();
    let mgmt = sa("10.20.0.1", 22);
    let reachable = |t| zonegate_e2e::probe::tcp_reachable(gw.lab.host(1), None, mgmt, t);
    assert!(reachable(OK), "the management path works before");
    let before = gw.table();
    gw.write_policy(&without_management());
    // The administrator's session arrives from hb on the management port.
    let session = [("SSH_CONNECTION", "10.20.0.5 50022 10.20.0.1 22")];
    let plan = gw.agent_env(&["plan"], &session);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains("LOCKOUT") && text.contains("tcp/22 from 10.20.0.5"),
        "{text}"
    );
    let refused = gw.agent_env(&["apply"], &session);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("cuts the management path tcp/22 from 10.20.0.5"));
    assert_eq!(gw.table(), before, "a refused apply changed the kernel");
    // Without the session (console), the same change applies: the guard is about the caller.
    // Forced from the session: applied with a confirm window, the path is cut, then rolled
    // back, and the path works again.
    let forced = gw.agent_env(&["apply", "--force", "--confirm", "3"], &session);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert!(
        stderr(&forced).contains("3 s confirm window"),
        "{}",
        stderr(&forced)
    );
    assert_ne!(gw.table(), before);
    assert!(
        !reachable(BLOCKED),
        "the forced change cut the management path"
    );
    agent
        .wait_until(Duration::from_secs(15), |evs| {
            evs.iter()
                .find(|e| e["event"] == "policy-applied" && e["reason"] == "rollback")
                .cloned()
        })
        .unwrap_or_else(|| panic!("no rollback:\n{}", agent.dump()));
    assert_eq!(gw.table(), before);
    assert!(
        reachable(OK),
        "the management path works again after the rollback"
    );
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn plan_lists_the_open_connections_a_change_cuts_by_flow_and_apply_cuts_them() {
    let Some(gw) = Gw::up(POLICY, "") else { return };
    let _kept =
        zonegate_e2e::probe::TcpEcho::start(gw.lab.host(1), sa("0.0.0.0", 7000)).expect("echo");
    let _cut =
        zonegate_e2e::probe::TcpEcho::start(gw.lab.host(1), sa("0.0.0.0", 7001)).expect("echo");
    let agent = gw.run();
    let mut kept =
        zonegate_e2e::probe::tcp_connect(gw.lab.host(0), None, sa(HB, 7000), OK).expect("7000");
    let mut cut =
        zonegate_e2e::probe::tcp_connect(gw.lab.host(0), None, sa(HB, 7001), OK).expect("7001");
    kept.roundtrip("x").expect("7000");
    cut.roundtrip("x").expect("7001");
    gw.write_policy(&narrowed());
    let plan = gw.agent(&["plan"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains("Open connections cut: 1 of F-1 (e.g. tcp 10.10.0.5:"),
        "{text}"
    );
    assert!(text.contains("-> 10.20.0.5:7001)"), "{text}");
    let json: Value = serde_json::from_str(&String::from_utf8_lossy(
        &gw.agent(&["plan", "--format", "json"]).stdout,
    ))
    .expect("plan json");
    assert_eq!(json["connections_cut"][0]["flow"], "F-1", "{json}");
    assert_eq!(json["connections_cut"][0]["count"], 1, "{json}");
    gw.agent_ok(&["apply"], 0);
    assert!(
        cut.roundtrip("y").is_err(),
        "the connection the plan named is cut"
    );
    kept.roundtrip("y").expect("the other connection stays");
    // A change that removes F-1 altogether: its remaining connection is listed, then cut.
    let start = POLICY.find("[[flow]]\nid = \"F-1\"").expect("F-1");
    let end = POLICY.find("[[flow]]\nid = \"M-1\"").expect("M-1");
    gw.write_policy(&format!("{}{}", &POLICY[..start], &POLICY[end..]));
    let plan = gw.agent(&["plan"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("Flows to revoke: F-1"), "{text}");
    assert!(
        text.contains("Open connections cut: 1 of F-1 (e.g. tcp 10.10.0.5:"),
        "{text}"
    );
    assert!(text.contains("-> 10.20.0.5:7000)"), "{text}");
    gw.agent_ok(&["apply"], 0);
    assert!(
        kept.roundtrip("z").is_err(),
        "the revoked flow's connection is cut"
    );
    assert_eq!(agent.stop(), Some(0));
}

/// The evidence chain: after an apply, the ruleset SHA-256 that `matrix` prints for the gateway
/// equals the one in `status` and in the next heartbeat, and the canonical policy SHA-256 that
/// `matrix` prints equals the one they carry beside it.
#[test]
fn the_hashes_matrix_prints_are_the_ones_the_agent_reports() {
    let Some(gw) = Gw::up(POLICY, "[alerts]\nheartbeat_secs = 1\n") else {
        return;
    };
    let agent = gw.run();
    gw.write_policy(&narrowed());
    gw.agent_ok(&["apply"], 0);
    let checked = zonegate_policy::validate("zones.toml", &narrowed(), None);
    let policy = checked.policy.expect("valid");
    let m =
        zonegate_policy::matrix::build(&policy, &checked.diagnostics, Some("gw1")).expect("matrix");
    let ruleset = &m.rulesets[0];
    assert_eq!(ruleset.gateway, "gw1");
    let s = status(&gw);
    assert_eq!(s["ruleset_sha256"], ruleset.ruleset_sha256.as_str(), "{s}");
    assert_eq!(s["policy_sha256"], m.policy.sha256.as_str(), "{s}");
    let applied_at = agent.all().len();
    let hb = agent
        .wait_until(Duration::from_secs(10), |evs| {
            evs.iter()
                .skip(applied_at)
                .find(|e| e["event"] == "heartbeat")
                .cloned()
        })
        .unwrap_or_else(|| panic!("no heartbeat:\n{}", agent.dump()));
    assert_eq!(
        hb["ruleset_sha256"],
        ruleset.ruleset_sha256.as_str(),
        "{hb}"
    );
    assert_eq!(hb["policy_sha256"], m.policy.sha256.as_str(), "{hb}");
    assert_eq!(agent.stop(), Some(0));
}
