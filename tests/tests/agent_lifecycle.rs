//! The agent's life around the policy: a bad policy on SIGHUP keeps the old ruleset, a
//! half-written policy file is not applied, boot without a policy locks down with management
//! reachable (but keeps a zonegate table that is already loaded, unless it is the boot unit's
//! lockdown and agent.toml names a management path), `apply --confirm` rolls back
//! without confirmation, `monitor` reports without repairing, `dry-run` leaves the kernel
//! byte-identical, each bypass this kernel can build is reported, and a gateway that answers
//! ARP for its other zones' addresses is reported until its ARP settings are fixed.

mod agent_support;

use agent_support::*;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use zonegate_e2e::lab::{in_ns, HOST_IF, IP};
use zonegate_e2e::probe::{tcp_connect, tcp_reachable, TcpEcho};
use zonegate_e2e::spoof::{arp_request_frame, parse_arp_reply, send_frames, Capture};

#[test]
fn a_bad_policy_on_sighup_keeps_the_old_ruleset() {
    let Some(gw) = Gw::up(POLICY, "") else { return };
    let _server = TcpEcho::start(gw.lab.host(1), sa("0.0.0.0", 7000)).expect("echo");
    let agent = gw.run();
    let before = gw.table();
    let mut conn = tcp_connect(gw.lab.host(0), None, sa(HB, 7000), OK).expect("connect");
    gw.write_policy(&POLICY.replace("zone = \"b\"", "zone = \"nowhere\""));
    agent.signal("HUP");
    let rejected = agent
        .wait_for("policy-rejected", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no policy-rejected:\n{}", agent.dump()));
    let diags = rejected["diagnostics"].to_string();
    assert!(diags.contains("zones.toml:"), "{diags}");
    assert!(rejected["kept"].as_str().unwrap_or_default().contains("r1"));
    thread::sleep(Duration::from_millis(500));
    assert_eq!(gw.table(), before, "the ruleset changed");
    assert_eq!(agent.named("policy-applied").len(), 1, "{}", agent.dump());
    conn.roundtrip("still").expect("permitted flow still works");
}

#[test]
fn a_half_written_policy_is_not_applied() {
    // Only a fleet that opts in applies settled writes by itself; such an apply must wait for
    // the write to finish like any other.
    let Some(gw) = Gw::up(POLICY, "auto_apply = true\nauto_apply_confirm = \"300s\"\n") else {
        return;
    };
    let agent = gw.run();
    let before = gw.table();
    let extended = format!(
        "{POLICY}\n[[flow]]\nid = \"F-2\"\nfrom = \"ha\"\nto = \"c\"\nports = [\"tcp/8000\"]\npurpose = \"e2e\"\napproved_by = \"test\"\n"
    );
    // Cut just before the flows: still valid TOML that would revoke F-1 and M-1.
    let cut = extended.find("[[flow]]").expect("flows");
    let mut file = start_slow_write(&gw.policy_path(), &extended, cut);
    thread::sleep(Duration::from_millis(1200));
    assert_eq!(gw.table(), before, "a half-written file was applied");
    assert_eq!(agent.named("policy-applied").len(), 1);
    assert!(agent.named("policy-rejected").is_empty());
    use std::io::Write;
    file.write_all(&extended.as_bytes()[cut..])
        .expect("write the rest");
    drop(file);
    let applied = agent
        .wait_until(Duration::from_secs(5), |evs| {
            evs.iter()
                .filter(|e| e["event"] == "policy-applied")
                .nth(1)
                .cloned()
        })
        .unwrap_or_else(|| panic!("the finished file was not applied:\n{}", agent.dump()));
    assert_eq!(applied["flows"]["added"][0], "F-2", "{applied}");
    assert_eq!(
        applied["flows"]["removed"].as_array().map(Vec::len),
        Some(0)
    );
}

#[test]
fn boot_without_a_policy_locks_down_with_management_reachable() {
    let Some(gw) = Gw::up(
        POLICY,
        "policy = \"/nonexistent/zonegate/zones.toml\"\n[lockdown]\nmanagement = [{ from = \"10.20.0.5/32\", ports = [\"tcp/22\"] }]\n",
    ) else {
        return;
    };
    let ssh = TcpEcho::start(gw.lab.gw(), sa("0.0.0.0", 22)).expect("management listener");
    let _fwd = TcpEcho::start(gw.lab.host(1), sa("0.0.0.0", 7000)).expect("echo");
    let agent = gw.run();
    assert!(
        agent
            .wait_for("lockdown-applied", Duration::from_secs(5))
            .is_some(),
        "{}",
        agent.dump()
    );
    assert!(!agent.named("policy-rejected").is_empty());
    assert!(
        tcp_reachable(gw.lab.host(1), None, sa("10.20.0.1", ssh.addr().port()), OK),
        "management blocked"
    );
    assert!(
        !tcp_reachable(gw.lab.host(2), None, sa("10.30.0.1", 22), BLOCKED),
        "non-management source reached the gateway"
    );
    assert!(
        !tcp_reachable(gw.lab.host(0), None, sa(HB, 7000), BLOCKED),
        "forwarding open in lockdown"
    );
    let status = gw.agent_ok(&["status"], 0);
    assert!(status.contains("lockdown"), "{status}");
}

#[test]
fn the_boot_lockdown_is_replaced_by_one_with_the_management_entries_when_there_is_no_policy() {
    // A fresh install: zonegate-boot loaded the packaged static lockdown (nothing open), there
    // is no policy and no last-known-good, and agent.toml names the management path.
    let Some(gw) = Gw::up(
        POLICY,
        "policy = \"/nonexistent/zonegate/zones.toml\"\n[lockdown]\nmanagement = [{ from = \"10.20.0.5/32\", ports = [\"tcp/22\"] }]\n",
    ) else {
        return;
    };
    gw.nft_stdin(&zonegate_policy::lockdown::lockdown(
        &[],
        "no last-known-good ruleset at boot",
    ));
    let boot = gw.table().expect("the boot lockdown is loaded");
    let ssh = TcpEcho::start(gw.lab.gw(), sa("0.0.0.0", 22)).expect("management listener");
    assert!(
        !tcp_reachable(
            gw.lab.host(1),
            None,
            sa("10.20.0.1", ssh.addr().port()),
            BLOCKED
        ),
        "the boot lockdown opens management by itself"
    );
    let agent = gw.run();
    assert!(
        agent
            .wait_for("lockdown-applied", Duration::from_secs(5))
            .is_some(),
        "{}",
        agent.dump()
    );
    assert_ne!(gw.table(), Some(boot), "the boot lockdown stayed");
    assert!(
        tcp_reachable(gw.lab.host(1), None, sa("10.20.0.1", ssh.addr().port()), OK),
        "management blocked"
    );
    assert!(
        !tcp_reachable(gw.lab.host(2), None, sa("10.30.0.1", 22), BLOCKED),
        "non-management source reached the gateway"
    );
}

#[test]
fn a_loaded_table_is_kept_without_policy_or_lkg_and_locked_down_when_removed() {
    let Some(gw) = Gw::up(POLICY, "") else { return };
    gw.agent_ok(&["apply"], 0);
    let loaded = gw.table();
    std::fs::remove_dir_all(gw.state_dir()).expect("forget the LKG");
    std::fs::remove_file(gw.policy_path()).expect("remove the policy");
    let agent = gw.run();
    let kept = agent.wait_until(Duration::from_secs(5), |evs| {
        evs.iter()
            .find(|e| {
                e["event"] == "monitoring-degraded"
                    && e["what"] == "keeping the loaded zonegate table"
            })
            .cloned()
    });
    assert!(kept.is_some(), "{}", agent.dump());
    assert!(agent.named("lockdown-applied").is_empty());
    assert_eq!(gw.table(), loaded, "the loaded table was replaced");
    gw.nft(&["delete", "table", "inet", "zonegate"]);
    assert!(
        agent
            .wait_for("lockdown-applied", Duration::from_secs(5))
            .is_some(),
        "{}",
        agent.dump()
    );
}

#[test]
fn apply_confirm_without_confirmation_rolls_back_and_confirm_ok_keeps() {
    let Some(gw) = Gw::up(POLICY, "") else { return };
    gw.agent_ok(&["apply"], 0);
    let a = gw.table();
    let b_policy = POLICY.replace("ports = [\"tcp/7000-7001\"]", "ports = [\"tcp/7000\"]");
    gw.write_policy(&b_policy);
    let t0 = Instant::now();
    let out = gw.agent(&["apply", "--confirm", "2"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(t0.elapsed() >= Duration::from_secs(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rolling back"));
    assert_eq!(gw.table(), a, "not rolled back");
    assert!(gw.agent_ok(&["plan"], 2).contains("Flows to change: F-1"));

    // Now confirm in time.
    let mut pending = Command::new(IP)
        .args(["netns", "exec", gw.lab.gw()])
        .arg(agent_bin())
        .arg("--config")
        .arg(gw.config_path())
        .args(["apply", "--confirm", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("apply --confirm");
    let end = Instant::now() + Duration::from_secs(10);
    while gw.table() == a {
        assert!(Instant::now() < end, "B never applied");
        thread::sleep(Duration::from_millis(20));
    }
    let b = gw.table();
    // Wait for the socket, then confirm.
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let out = gw.agent(&["apply", "--confirm-ok"]);
        if out.status.success() {
            break;
        }
        assert!(Instant::now() < end, "confirm-ok never accepted");
        thread::sleep(Duration::from_millis(50));
    }
    let status = pending.wait().expect("apply --confirm exits");
    assert!(status.success());
    assert_eq!(gw.table(), b);
    assert!(gw.agent_ok(&["plan"], 0).contains("Nothing to do."));
}

#[test]
fn monitor_reports_without_repairing() {
    let Some(gw) = Gw::up(POLICY, "mode = \"monitor\"\n") else {
        return;
    };
    gw.agent_ok(&["apply"], 0);
    let agent = gw.run();
    gw.nft(&[
        "insert", "rule", "inet", "zonegate", "forward", "ip", "saddr", HC, "accept",
    ]);
    let drift = agent
        .wait_for("drift-detected", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no drift event:\n{}", agent.dump()));
    assert_eq!(drift["repairing"], false);
    thread::sleep(Duration::from_millis(1500));
    assert!(
        gw.table().unwrap_or_default().contains(HC),
        "monitor repaired the table"
    );
    assert!(agent.named("drift-restored").is_empty());
    assert_eq!(agent.named("drift-detected").len(), 1);
}

#[test]
fn dry_run_leaves_the_kernel_byte_identical() {
    let Some(gw) = Gw::up(POLICY, "mode = \"dry-run\"\n") else {
        return;
    };
    gw.nft_stdin("table ip other {\n chain fwd_other { type filter hook forward priority 10; policy accept; }\n}\n");
    let before = gw.ruleset();
    let agent = gw.run();
    let would = agent
        .wait_for("drift-detected", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no plan event:\n{}", agent.dump()));
    assert!(
        would["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("would apply"),
        "{would}"
    );
    agent.signal("HUP");
    gw.write_policy(&POLICY.replace("tcp/7000-7001", "tcp/7000"));
    thread::sleep(Duration::from_millis(1200));
    assert_eq!(agent.stop(), Some(0));
    assert_eq!(gw.ruleset(), before, "dry-run changed the kernel");
    assert!(
        !gw.state_dir().join("lkg.json").exists(),
        "dry-run wrote a last-known-good"
    );
}

#[test]
fn bypasses_this_kernel_can_build_are_reported() {
    let Some(gw) = Gw::up(POLICY, "") else { return };
    let agent = gw.run();
    gw.nft_stdin(
        "table netdev zgt_fwd {\n chain in { type filter hook ingress device \"ens5\" priority 0; policy accept;\n  ip daddr 10.10.0.5 fwd to \"ens3\"\n }\n}\n\
         table ip zgt_dup {\n chain pre { type filter hook prerouting priority 0; policy accept;\n  ip daddr 10.20.0.5 dup to 10.10.0.5 device \"ens3\"\n }\n}\n\
         table ip zgt_nat {\n chain pre { type nat hook prerouting priority dstnat; policy accept;\n  tcp dport 8080 redirect to :22\n }\n}\n\
         table inet zgt_helper {\n ct helper ftph { type \"ftp\" protocol tcp; }\n chain pre { type filter hook prerouting priority 0; policy accept;\n  tcp dport 21 ct helper set \"ftph\"\n }\n}\n\
         table inet zgt_mark {\n chain pre { type filter hook prerouting priority 0; policy accept;\n  ct mark set 0x1\n }\n}\n",
    );
    let bridge = gw
        .lab
        .exec(gw.lab.gw(), &[IP, "link", "add", "zgbr0", "type", "bridge"]);
    assert!(
        bridge.status.success(),
        "bridge: {}",
        String::from_utf8_lossy(&bridge.stderr)
    );
    let enslave = gw
        .lab
        .exec(gw.lab.gw(), &[IP, "link", "set", "ens4", "master", "zgbr0"]);
    assert!(enslave.status.success());
    let want = [
        "fwd",
        "dup",
        "redirect",
        "ct-helper",
        "ct-mark-write",
        "enslaved-interface",
        "foreign-hook",
    ];
    let found = agent.wait_until(Duration::from_secs(8), |evs| {
        let kinds: Vec<&str> = evs
            .iter()
            .filter(|e| e["event"] == "bypass-found")
            .filter_map(|e| e["kind"].as_str())
            .collect();
        want.iter().all(|k| kinds.contains(k)).then_some(())
    });
    assert!(found.is_some(), "missing bypass kinds:\n{}", agent.dump());
    let status = gw.agent_ok(&["status"], 0);
    assert!(
        status.contains("enslaved-interface interface ens4"),
        "{status}"
    );
    // Our own table is not a bypass, and the drift loop did not react to foreign tables.
    assert!(agent.named("drift-detected").is_empty(), "{}", agent.dump());
}

/// The test policy with zone a named lgwan (ens3) and zone b mynumber (ens4).
fn lgwan_policy() -> String {
    let p = POLICY
        .replace("[zones.a]", "[zones.lgwan]")
        .replace("zone = \"a\"", "zone = \"lgwan\"")
        .replace("a = [\"ens3\"]", "lgwan = [\"ens3\"]")
        .replace("[zones.b]", "[zones.mynumber]")
        .replace("zone = \"b\"", "zone = \"mynumber\"")
        .replace("b = [\"ens4\"]", "mynumber = [\"ens4\"]");
    assert!(
        p.contains("lgwan = [\"ens3\"], mynumber = [\"ens4\"]"),
        "{p}"
    );
    p
}

/// Writes `net.ipv4.conf.<KEY>` = VALUE in the gateway namespace (/proc/sys/net is per
/// namespace, so from a thread inside it).
fn set_ipv4_conf(gw: &Gw, values: &[(&str, &str)]) {
    in_ns(gw.lab.gw(), || {
        for (key, value) in values {
            let path = format!("/proc/sys/net/ipv4/conf/{key}");
            std::fs::write(&path, value).unwrap_or_else(|e| panic!("write {path}: {e}"));
        }
    });
}

/// Whether the gateway answers the LGWAN host's ARP request for `target`. Each round sends the
/// request, then one for the gateway's own LGWAN address (the positive control), in this order
/// from one CPU: once the control's answer is in, the first request has been handled too.
fn gateway_answers_arp_for(gw: &Gw, target: Ipv4Addr) -> bool {
    let host = gw.lab.host(0);
    let mac = gw.lab.host_mac(0).expect("host MAC");
    let gw_mac = gw.lab.gw_mac("ens3").expect("gateway MAC");
    let me: Ipv4Addr = HA.parse().expect("address");
    let control = Ipv4Addr::new(10, 10, 0, 1);
    let answer = |ip: Ipv4Addr| {
        move |f: &[u8]| {
            parse_arp_reply(f)
                .is_some_and(|r| r.sender_ip == ip && r.target_ip == me && r.sender_mac == gw_mac)
        }
    };
    let cap = Capture::start(host, HOST_IF).expect("capture");
    for _ in 0..3 {
        cap.clear();
        let requests = [
            arp_request_frame(mac, me, target),
            arp_request_frame(mac, me, control),
        ];
        send_frames(host, HOST_IF, &requests).expect("send ARP requests");
        if cap.wait_for_frame(Duration::from_secs(1), answer(control)) {
            return cap.wait_for_frame(Duration::ZERO, answer(target));
        }
    }
    panic!("the gateway never answered the control request for {control}");
}

/// The event named `name` whose subject is `subject`.
fn with_subject(evs: &[Value], name: &str, subject: &str) -> Option<Value> {
    evs.iter()
        .find(|e| e["event"] == name && e["subject"] == subject)
        .cloned()
}

#[test]
fn arp_answers_for_other_zones_are_reported_until_fixed() {
    let Some(gw) = Gw::up(&lgwan_policy(), "") else {
        return;
    };
    // Linux's defaults, whatever the initial namespace (IPv4 settings are inherited from it) has.
    set_ipv4_conf(
        &gw,
        &[
            ("all/arp_ignore", "0"),
            ("all/arp_announce", "0"),
            ("ens3/arp_ignore", "0"),
            ("ens3/arp_announce", "0"),
        ],
    );
    let agent = gw.run();
    let ignore = "arp_ignore on interface ens3 (zone lgwan)";
    let announce = "arp_announce on interface ens3 (zone lgwan)";
    let found = agent
        .wait_until(Duration::from_secs(5), |evs| {
            let a = with_subject(evs, "bypass-found", ignore)?;
            with_subject(evs, "bypass-found", announce).map(|b| (a, b))
        })
        .unwrap_or_else(|| panic!("no ARP findings:\n{}", agent.dump()));
    assert_eq!(found.0["kind"], "sysctl", "{}", found.0);
    assert_eq!(found.0["severity"], "critical", "{}", found.0);
    assert!(
        found.0["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("effective 0")),
        "{}",
        found.0
    );
    let why = |e: &Value| e["why"].as_str().unwrap_or_default().to_string();
    assert!(
        why(&found.0).contains("set net.ipv4.conf.all.arp_ignore=1 (or 2)"),
        "{}",
        found.0
    );
    assert!(
        why(&found.1).contains("set net.ipv4.conf.all.arp_announce=2"),
        "{}",
        found.1
    );

    // The finding is real: a host in the LGWAN zone learns the gateway's My Number-side address.
    let mynumber_side = Ipv4Addr::new(10, 20, 0, 1);
    assert!(
        gateway_answers_arp_for(&gw, mynumber_side),
        "no ARP answer for {mynumber_side} with arp_ignore=0"
    );

    // The remedy: the gateway answers only for the interface's own addresses, and the next
    // scan (every check_interval, 2 s here) clears both findings.
    set_ipv4_conf(&gw, &[("all/arp_ignore", "1"), ("all/arp_announce", "2")]);
    let fixed_at = Instant::now();
    assert!(
        !gateway_answers_arp_for(&gw, mynumber_side),
        "ARP answer for {mynumber_side} with arp_ignore=1"
    );
    let cleared = agent.wait_until(Duration::from_secs(8), |evs| {
        with_subject(evs, "bypass-cleared", ignore)?;
        with_subject(evs, "bypass-cleared", announce)
    });
    assert!(cleared.is_some(), "not cleared:\n{}", agent.dump());
    eprintln!(
        "ARP findings cleared {} ms after the fix; found: {}",
        fixed_at.elapsed().as_millis(),
        found.0
    );
    let status = gw.agent_ok(&["status"], 0);
    assert!(!status.contains("on interface ens3"), "{status}");
}
