//! `zonegate init` on the lab topology's gateway: the bundled zones.toml's gateway gw1 built in
//! real namespaces (its interfaces ens3–ens6 with the lab's addresses), `zonegate init` run in
//! the gateway's namespace as from an SSH session of the administrator's terminal, and
//! `zonegate check` passing on what it wrote. Namespaces are named `zgi<pid>x…` (unique per run,
//! removed by scripts/lib.sh when a killed run leaves them) and deleted even when the test fails.

use crate::topo::{self, Topology};
use std::path::PathBuf;
use std::process::Command;

/// The `zonegate` binary beside this test's executable (target/debug/zonegate): build it first
/// with `cargo build -p zonegate-policy` (`cargo test --workspace` does).
fn zonegate_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("zonegate"))
        .expect("target directory");
    assert!(
        bin.exists(),
        "{} is missing: cargo build -p zonegate-policy first",
        bin.display()
    );
    bin
}

struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        let _ = topo::delete_namespaces(&self.0);
    }
}

#[test]
fn zonegate_init_on_the_lab_gateway_writes_a_policy_that_checks() {
    if !zonegate_e2e::lab::require_root() {
        return;
    }
    let bundled = include_str!("../../zones.toml");
    let policy = zonegate_policy::validate(
        "zones.toml",
        bundled,
        zonegate_policy::Date::parse("2026-11-25"),
    )
    .policy
    .expect("bundled policy is valid");
    let mut t = Topology::from_policy(&policy, "gw1").expect("topology");
    let prefix = format!("zgi{}x", std::process::id());
    t.gw_ns = format!("{prefix}gw1");
    for s in &mut t.segments {
        s.ns = format!("{prefix}{}", s.zone);
    }
    let _cleanup = Namespaces(t.namespaces());
    t.build().expect("build the lab topology");

    // The administrator's terminal (admin-pc, 10.20.0.50 in the LGWAN zone behind ens4) is
    // logged in to the gateway's ens4 address.
    let lgwan = t.segment("lgwan").expect("lgwan segment");
    let gw_v4 = lgwan
        .gw_addrs
        .iter()
        .find(|a| a.ip.is_ipv4())
        .expect("gateway IPv4 on ens4");
    let out_dir = std::env::temp_dir().join(format!("zgi{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).expect("temp dir");
    let file = out_dir.join("zones.toml");
    let run = Command::new(topo::IP)
        .args(["netns", "exec", &t.gw_ns])
        .arg(zonegate_bin())
        .args(["init", "--gateway", "gw1", "-o"])
        .arg(&file)
        .env(
            "SSH_CONNECTION",
            format!("10.20.0.50 50022 {} 22", gw_v4.ip),
        )
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .expect("run zonegate init");
    assert!(
        run.status.success(),
        "zonegate init failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&file).expect("written policy");
    let check = Command::new(zonegate_bin())
        .arg("check")
        .arg(&file)
        .output()
        .expect("run zonegate check");
    let _ = std::fs::remove_dir_all(&out_dir);
    assert!(
        check.status.success(),
        "zonegate check failed on:\n{text}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Every gateway interface of the lab is a zone with the network the lab gave it, and the
    // session is the one management flow.
    for s in &t.segments {
        assert!(
            text.contains(&format!("[zones.{}]", s.gw_if)),
            "no zone for {}:\n{text}",
            s.gw_if
        );
        for a in &s.gw_addrs {
            assert!(text.contains(&a.to_string()), "{a} missing:\n{text}");
        }
    }
    let written = zonegate_policy::validate(
        "zones.toml",
        &text,
        zonegate_policy::Date::parse("2026-11-25"),
    )
    .policy
    .expect("valid");
    assert_eq!(written.gateways["gw1"].interfaces.len(), t.segments.len());
    assert_eq!(written.hosts["mgmt-station"].zone, "ens4");
    let ids: Vec<&str> = written.flows.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["mgmt-ssh"], "the management flow and nothing else");
    zonegate_policy::compile(&written, "gw1").expect("compiles for gw1");
}
