//! Self-test of `zonegate_e2e::nfteval`, the evaluator the property test uses to judge the
//! ruleset as the kernel lists it back.
//!
//! The fixtures in `tests/fixtures/nfteval/` are nft sources plus the JSON nft 1.0.6 listed
//! for them. Each fixture has one check function with hand-written packets; it runs
//! * without root, on the checked-in JSON, and
//! * as root, on a fresh listing from a throwaway network namespace (so a change of nft's
//!   output shows up here), together with a check that the checked-in JSON is still what
//!   nft lists. `NFTEVAL_UPDATE_FIXTURES=1` rewrites the JSON from the live listing.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use zonegate_e2e::nfteval::{
    ct_status, CtDirection, CtState, Hook, Outcome, Packet, Ruleset, Verdict,
};

const IP: &str = "/usr/sbin/ip";
const NFT: &str = "/usr/sbin/nft";

const FWD: &[Hook] = &[Hook::Prerouting, Hook::Forward];
const IN: &[Hook] = &[Hook::Prerouting, Hook::Input];
const OUT: &[Hook] = &[Hook::Output];

const JUKI_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0xaa, 0x00, 0x10];
const MN_APP_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0xaa, 0x00, 0x05];
const F001: u32 = 0x1234_5678;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("bad address literal {s:?}: {e}"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/nfteval")
        .join(name)
}

fn read_fixture(name: &str) -> String {
    let p = fixture(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn parse(json: &str, what: &str) -> Ruleset {
    Ruleset::from_json(json).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Effective uid 0, read from /proc (unsafe code is denied, so no `geteuid`).
fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}

/// Returns false, loudly, when the test cannot run here.
fn need_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    skipped(test, "needs root (network namespace + nft)");
    false
}

/// Writes to the stderr handle, not through `eprintln!`, so the test harness's output
/// capture does not hide the message when the (passing) test is skipped.
fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let stars = "*".repeat(78);
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n{stars}\n*** SKIPPED: {test} {why}\n{stars}\n"
    );
}

/// A throwaway network namespace, deleted on drop (also when the test panics).
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "zgev{}-{}-{tag}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let out = Command::new(IP)
            .args(["netns", "add", &name])
            .output()
            .expect("running ip");
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Netns { name }
    }

    fn nft(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(IP)
            .args(["netns", "exec", &self.name, NFT])
            .args(args)
            .output()
            .map_err(|e| format!("running nft: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs a command inside the namespace.
    fn exec(&self, cmd: &[&str]) -> Result<String, String> {
        let out = Command::new(IP)
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .output()
            .map_err(|e| format!("running {cmd:?}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// Loads `file` and returns `nft -j list table inet zonegate`.
    fn load_and_list(&self, file: &Path) -> Result<String, String> {
        let path = file.to_str().ok_or("non-UTF-8 path")?;
        self.nft(&["-f", path])?;
        self.nft(&["-j", "list", "table", "inet", "zonegate"])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new(IP).args(["netns", "del", &self.name]).status();
    }
}

/// A scratch directory for generated rulesets, removed on drop (also on panic).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("nfteval-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Loads `<name>.nft` in a fresh namespace and returns the JSON listing; checks the
/// checked-in `<name>.json` still matches it (or rewrites it on request).
fn live_listing(name: &str) -> String {
    let ns = Netns::new(name);
    let listed = ns
        .load_and_list(&fixture(&format!("{name}.nft")))
        .unwrap_or_else(|e| panic!("loading {name}.nft: {e}"));
    let json_path = fixture(&format!("{name}.json"));
    if std::env::var_os("NFTEVAL_UPDATE_FIXTURES").is_some() {
        std::fs::write(&json_path, &listed).expect("writing fixture");
    }
    let strip = |s: &str| {
        let mut v: serde_json::Value = serde_json::from_str(s).expect("listing is JSON");
        strip_handles(&mut v);
        v
    };
    assert!(
        strip(&listed) == strip(&read_fixture(&format!("{name}.json"))),
        "{} is stale: it is not what nft lists for {name}.nft; rerun with NFTEVAL_UPDATE_FIXTURES=1",
        json_path.display()
    );
    listed
}

/// Handles depend on the load history of the namespace, not on the ruleset.
fn strip_handles(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.remove("handle");
            m.values_mut().for_each(strip_handles);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_handles),
        _ => {}
    }
}

/// Evaluates and checks the verdict; the model must have decided everything.
#[track_caller]
fn expect(rs: &Ruleset, hooks: &[Hook], pkt: &Packet, want: Verdict, what: &str) -> Outcome {
    let out = rs.eval_path(hooks, pkt);
    assert!(
        out.undetermined.is_empty(),
        "{what}: undetermined {:?}\npacket: {pkt:?}\ntrace:\n{}",
        out.undetermined,
        out.explain()
    );
    assert_eq!(
        out.verdict,
        want,
        "{what}\npacket: {pkt:?}\ntrace:\n{}",
        out.explain()
    );
    out
}

#[track_caller]
fn accept(rs: &Ruleset, hooks: &[Hook], pkt: &Packet, what: &str) -> Outcome {
    expect(rs, hooks, pkt, Verdict::Accept, what)
}

#[track_caller]
fn drop(rs: &Ruleset, hooks: &[Hook], pkt: &Packet, what: &str) -> Outcome {
    expect(rs, hooks, pkt, Verdict::Drop, what)
}

// ---------------------------------------------------------------------------------------
// zonegate.nft: the compiled-ruleset constructs
// ---------------------------------------------------------------------------------------

fn check_zonegate(rs: &Ruleset) {
    assert_eq!(rs.table_name(), "zonegate");
    assert_eq!(rs.base_chains(Hook::Prerouting), vec![("antispoof", -310)]);
    assert_eq!(
        rs.counter_names(),
        vec!["d-7", "d-fwd", "d-in", "d-out", "spoof"]
    );
    check_antispoof(rs);
    check_forward_new(rs);
    check_forward_conntrack(rs);
    check_input_output(rs);
}

fn check_antispoof(rs: &Ruleset) {
    let pre = &[Hook::Prerouting];
    let juki = Packet::tcp(
        "ens4",
        "ens3",
        ip("10.20.0.10"),
        40000,
        ip("10.10.0.5"),
        443,
    );

    // MAC pin: the pinned host passes with its MAC, is dropped with another.
    accept(
        rs,
        pre,
        &juki.clone().with_ether(JUKI_MAC),
        "pinned host, right MAC",
    );
    let out = drop(
        rs,
        pre,
        &juki.clone().with_ether([2, 0, 0, 0, 0, 1]),
        "pinned host, wrong MAC",
    );
    assert_eq!(out.counters, vec!["spoof"]);
    // Without an Ethernet header `ether saddr` breaks the rule: a negated lookup that
    // breaks is not a match, so the pin rule does not drop (kernel semantics).
    accept(rs, pre, &juki, "pinned host without Ethernet header");
    let mn6 = Packet::tcp(
        "ens3",
        "ens4",
        ip("fd00:10::5"),
        443,
        ip("fd00:20::1"),
        40000,
    );
    accept(
        rs,
        pre,
        &mn6.clone().with_ether(MN_APP_MAC),
        "pinned v6 host, right MAC",
    );
    drop(
        rs,
        pre,
        &mn6.clone().with_ether(JUKI_MAC),
        "pinned v6 host, wrong MAC",
    );

    // A source that is not in the ingress zone is dropped, counted and logged.
    let spoofed = Packet::tcp("ens4", "ens3", ip("10.10.0.7"), 1, ip("10.10.0.5"), 443);
    let out = drop(rs, pre, &spoofed, "mynumber source on the lgwan interface");
    assert_eq!(out.counters, vec!["spoof"]);
    assert_eq!(out.logs.len(), 1);
    assert_eq!(
        (out.logs[0].prefix.as_str(), out.logs[0].group),
        ("zg:s ", Some(100))
    );

    // Interval edges: the uplink zone is the complement of the specific zones.
    let on = |iif: &str, src: &str| Packet::udp(iif, "ens3", ip(src), 1, ip("10.10.0.5"), 5000);
    for (src, ok) in [
        ("0.0.0.0", true),
        ("10.9.255.255", true),
        ("10.10.0.0", false),
        ("10.10.0.255", false),
        ("10.10.1.0", true),
        ("10.19.255.255", true),
        ("10.20.0.0", false),
        ("10.20.3.255", false),
        ("10.20.4.0", true),
        ("10.30.0.255", false),
        ("10.30.1.0", true),
        ("255.255.255.255", true),
    ] {
        let want = if ok { Verdict::Accept } else { Verdict::Drop };
        expect(rs, pre, &on("ens6", src), want, &format!("{src} on ens6"));
    }
    for (iif, src, ok) in [
        ("ens4", "10.20.0.0", true),
        ("ens4", "10.20.3.255", true),
        ("ens4", "10.20.4.0", false),
        ("ens4", "10.19.255.255", false),
        ("ens3", "10.10.0.255", true),
        ("ens3", "10.10.1.0", false),
        ("ens9", "10.20.0.1", false),
    ] {
        let want = if ok { Verdict::Accept } else { Verdict::Drop };
        expect(rs, pre, &on(iif, src), want, &format!("{src} on {iif}"));
    }
    let on6 = |iif: &str, src: &str| Packet::udp(iif, "ens3", ip(src), 1, ip("fd00:10::5"), 5000);
    for (iif, src, ok) in [
        ("ens4", "fd00:20::1", true),
        ("ens4", "fd00:20::ffff:ffff:ffff:ffff", true),
        ("ens4", "fd00:20:0:1::", false),
        ("ens4", "fd00:10::1", false),
        ("ens6", "2001:db8::1", true),
        ("ens6", "3fff:ffff::1", true),
        ("ens6", "4000::1", false),
        ("ens6", "fc00::1", false),
        ("ens5", "fe80::1", true),
        ("ens9", "::", true),
    ] {
        let want = if ok { Verdict::Accept } else { Verdict::Drop };
        expect(rs, pre, &on6(iif, src), want, &format!("{src} on {iif}"));
    }
    accept(rs, pre, &on("lo", "10.10.0.5"), "loopback");
}

fn check_forward_new(rs: &Ruleset) {
    // A permitted flow: the map sets the mark, logs, and names the flow in the comment.
    let juki = Packet::tcp(
        "ens4",
        "ens3",
        ip("10.20.0.10"),
        40000,
        ip("10.10.0.5"),
        443,
    )
    .with_ether(JUKI_MAC);
    let out = accept(rs, FWD, &juki, "F-001 tcp/443");
    assert_eq!(out.ct_mark, F001);
    assert!(
        out.element_comments.iter().any(|c| c == "F-001"),
        "{:?}",
        out.element_comments
    );
    assert_eq!(out.logs.len(), 1);
    assert_eq!(
        (out.logs[0].prefix.as_str(), out.logs[0].group),
        ("zg:12 ", Some(100))
    );

    // The protocol is part of the key; other ports and hosts miss.
    let mut udp443 = juki.clone();
    udp443.l4proto = 17;
    drop(rs, FWD, &udp443, "udp/443 is not F-001");
    let mut other_dst = juki.clone();
    other_dst.daddr = ip("10.10.0.6");
    drop(rs, FWD, &other_dst, "F-001 is for 10.10.0.5 only");

    // Range edges of F-002 (lgwan/22 -> mynumber/24 udp/5000-5010). A miss in every map
    // breaks each rule; the chain goes on to count, meter (IPv4 only) and log.
    let f2 = |port: u16| {
        Packet::udp(
            "ens4",
            "ens3",
            ip("10.20.3.255"),
            1234,
            ip("10.10.0.9"),
            port,
        )
    };
    for port in [5000, 5010] {
        let out = accept(rs, FWD, &f2(port), &format!("F-002 udp/{port}"));
        assert_eq!(out.ct_mark, 2);
        assert_eq!(out.element_comments, vec!["lgwan", "F-002"]);
    }
    for port in [4999, 5011] {
        let out = drop(rs, FWD, &f2(port), &format!("udp/{port} outside F-002"));
        assert_eq!(out.counters, vec!["d-7"]);
        assert_eq!(
            out.log_prefixes(),
            vec!["zg:7 "],
            "the v6 meter rule must break on IPv4"
        );
        assert_eq!(out.ct_mark, 0);
    }

    // ICMP: `th dport` reads the ICMP header, but the L4 protocol in the key already
    // rules out every tcp/udp element, so the tcp/udp map misses deterministically.
    let echo =
        Packet::icmp("ens4", "ens3", ip("10.20.0.10"), ip("10.10.0.5"), 8).with_ether(JUKI_MAC);
    assert_eq!(accept(rs, FWD, &echo, "F-003 echo-request").ct_mark, 3);
    let reply =
        Packet::icmp("ens4", "ens3", ip("10.20.0.10"), ip("10.10.0.5"), 0).with_ether(JUKI_MAC);
    drop(rs, FWD, &reply, "echo-reply is not in F-003");
    for t in [0, 255] {
        let any =
            Packet::icmp("ens4", "ens3", ip("10.20.0.10"), ip("10.10.0.6"), t).with_ether(JUKI_MAC);
        assert_eq!(accept(rs, FWD, &any, "icmp 0-255 range").ct_mark, 4);
    }

    // IPv6 flows; the IPv4 meter rule breaks, the IPv6 one logs.
    let v6 = Packet::tcp(
        "ens4",
        "ens3",
        ip("fd00:20::1"),
        40000,
        ip("fd00:10::5"),
        443,
    );
    assert_eq!(accept(rs, FWD, &v6, "F-006").ct_mark, 5);
    let mut v6_other = v6.clone();
    v6_other.daddr = ip("fd00:10::6");
    let out = drop(rs, FWD, &v6_other, "no v6 flow to fd00:10::6");
    assert_eq!(out.log_prefixes(), vec!["zg:7v6 "]);
    let echo6 = Packet::icmp("ens4", "ens3", ip("fd00:20::1"), ip("fd00:10::5"), 128);
    assert_eq!(accept(rs, FWD, &echo6, "F-007 echo-request").ct_mark, 7);
    let nd6 = Packet::icmp("ens4", "ens3", ip("fd00:20::1"), ip("fd00:10::5"), 135);
    drop(rs, FWD, &nd6, "ND is not forwarded");

    // Dispatch: intra-zone pairs accept, unknown pairs are logged and dropped.
    let intra = Packet::tcp("ens3", "ens3", ip("10.10.0.5"), 1, ip("10.10.0.9"), 22);
    accept(rs, FWD, &intra, "intra-zone mynumber");
    let other = Packet::tcp("ens5", "ens6", ip("10.30.0.5"), 1, ip("198.51.100.1"), 443);
    let out = drop(rs, FWD, &other, "no pair chain internet -> uplink");
    assert_eq!(out.log_prefixes(), vec!["zg:0 "]);
    // A spoofed packet never reaches forward.
    let spoofed = Packet::tcp("ens5", "ens3", ip("10.20.0.10"), 1, ip("10.10.0.5"), 443);
    let out = drop(rs, FWD, &spoofed, "spoofed at prerouting");
    assert!(
        !out.trace.iter().any(|t| t.contains("hook forward")),
        "{}",
        out.explain()
    );
}

fn check_forward_conntrack(rs: &Ruleset) {
    let est = CtState::Established;
    // The reply of a live flow, on the flow's interfaces.
    let reply = Packet::tcp(
        "ens3",
        "ens4",
        ip("10.10.0.5"),
        443,
        ip("10.20.0.10"),
        40000,
    )
    .with_state(est)
    .with_direction(CtDirection::Reply)
    .with_ct_mark(F001);
    let out = accept(rs, FWD, &reply, "reply on the live path");
    assert_eq!(out.ct_mark, F001);
    // The same connection leaving on another interface (wrong path): no.
    let mut wrong_if = reply.clone();
    wrong_if.oifname = "ens5".into();
    let out = drop(rs, FWD, &wrong_if, "established on a path that is not live");
    assert_eq!(out.counters, vec!["d-fwd"]);
    // A mark that is not live (revoked flow).
    drop(
        rs,
        FWD,
        &reply.clone().with_ct_mark(0x0bad_0bad),
        "revoked mark",
    );
    // Mark 0 (predates the ruleset): adopted in the original direction only.
    let adopt = Packet::tcp(
        "ens4",
        "ens3",
        ip("10.20.0.10"),
        40000,
        ip("10.10.0.5"),
        443,
    )
    .with_ether(JUKI_MAC)
    .with_state(est);
    assert_eq!(
        accept(rs, FWD, &adopt, "adopt original direction").ct_mark,
        F001
    );
    drop(
        rs,
        FWD,
        &reply.clone().with_ct_mark(0),
        "unadopted reply waits",
    );

    // ICMP errors: related, on the live path only.
    let unreach = Packet::icmp("ens3", "ens4", ip("10.10.0.5"), ip("10.20.0.10"), 3)
        .with_state(CtState::Related)
        .with_direction(CtDirection::Reply)
        .with_ct_mark(F001);
    accept(rs, FWD, &unreach, "related ICMP error on the live path");
    let mut third_zone = unreach.clone();
    third_zone.iifname = "ens5".into();
    third_zone.saddr = ip("10.30.0.1");
    drop(rs, FWD, &third_zone, "related ICMP error from a third zone");
    let mut not_error = unreach.clone();
    not_error.icmp_type = Some(8);
    drop(rs, FWD, &not_error, "related echo-request is not an error");
    let ptb6 = Packet::icmp("ens3", "ens4", ip("fd00:10::5"), ip("fd00:20::1"), 2)
        .with_state(CtState::Related)
        .with_ct_mark(5);
    accept(rs, FWD, &ptb6, "packet-too-big on the live v6 path");

    // Helper-created (expected) connections go through the flow match like new ones.
    let expected = Packet::tcp(
        "ens4",
        "ens3",
        ip("10.20.0.10"),
        40001,
        ip("10.10.0.5"),
        443,
    )
    .with_ether(JUKI_MAC)
    .with_state(CtState::Related)
    .with_status(ct_status::EXPECTED);
    assert_eq!(
        accept(rs, FWD, &expected, "expected, permitted").ct_mark,
        F001
    );
    let mut expected_other = expected.clone();
    expected_other.dport = Some(444);
    drop(rs, FWD, &expected_other, "expected, no flow");

    // Invalid packets are dropped before anything else.
    let out = drop(
        rs,
        FWD,
        &adopt.clone().with_state(CtState::Invalid),
        "invalid",
    );
    assert!(out.counters.is_empty());
    assert!(out.logs.is_empty());
}

fn check_input_output(rs: &Ruleset) {
    let gw = ip("10.20.0.1");
    // Management: jump, map hit, mark, accept.
    let ssh = Packet::tcp("ens4", "", ip("10.20.0.7"), 50000, gw, 22);
    let out = accept(rs, IN, &ssh, "M-001 ssh");
    assert_eq!(out.ct_mark, 0x0abc_0001);
    assert!(out.element_comments.iter().any(|c| c == "M-001"));
    let ssh6 = Packet::tcp("ens4", "", ip("fd00:20::7"), 50000, ip("fd00:20::1"), 22);
    assert_eq!(accept(rs, IN, &ssh6, "M-001 ssh v6").ct_mark, 0x0abc_0001);
    // Not from the management zone: implicit return from mgmt-in, then count, log, drop.
    let ssh_mn = Packet::tcp("ens3", "", ip("10.10.0.5"), 50000, ip("10.10.0.1"), 22);
    let out = drop(rs, IN, &ssh_mn, "ssh from mynumber");
    assert_eq!(out.counters, vec!["d-in"]);
    assert_eq!(out.log_prefixes(), vec!["zg:in "]);
    // An explicit `return` comes back to input after the jump.
    for (port, logged) in [
        (80, true),
        (8000, true),
        (8080, true),
        (8081, false),
        (7999, false),
    ] {
        let web = Packet::tcp("ens4", "", ip("10.20.0.7"), 50000, gw, port);
        let out = drop(rs, IN, &web, "web to the gateway");
        let want: Vec<&str> = if logged {
            vec!["zg:web ", "zg:in "]
        } else {
            vec!["zg:in "]
        };
        assert_eq!(out.log_prefixes(), want, "port {port}\n{}", out.explain());
    }
    // DHCP (input hook alone: a 0.0.0.0 source would not pass anti-spoof).
    let dhcp = Packet::udp("ens4", "", ip("0.0.0.0"), 68, ip("255.255.255.255"), 67);
    accept(rs, &[Hook::Input], &dhcp, "DHCP on ens4");
    let mut dhcp5 = dhcp.clone();
    dhcp5.iifname = "ens5".into();
    drop(rs, &[Hook::Input], &dhcp5, "DHCP on ens5");
    // `iifname != "ens6"`.
    accept(
        rs,
        IN,
        &Packet::icmp("ens4", "", ip("10.20.0.7"), gw, 8),
        "ping from lgwan",
    );
    drop(
        rs,
        IN,
        &Packet::icmp("ens6", "", ip("198.51.100.1"), ip("198.51.100.2"), 8),
        "ping from uplink",
    );
    // Neighbour discovery needs hop limit 255.
    let ns = Packet::icmp("ens3", "", ip("fe80::1"), ip("fe80::2"), 135).with_hoplimit(255);
    accept(rs, IN, &ns, "neighbour solicitation");
    drop(
        rs,
        IN,
        &ns.clone().with_hoplimit(64),
        "neighbour solicitation, hop limit 64",
    );
    // Replies to the gateway's own connections: `ct state { established, related }` and
    // `ct mark != 0`.
    let back = Packet::tcp(
        "ens6",
        "",
        ip("203.0.113.10"),
        6514,
        ip("198.51.100.2"),
        40000,
    )
    .with_state(CtState::Established)
    .with_direction(CtDirection::Reply);
    accept(
        rs,
        IN,
        &back.clone().with_ct_mark(0x00c0_ffee),
        "reply to the syslog connection",
    );
    drop(rs, IN, &back, "established without our mark");
    drop(
        rs,
        IN,
        &back.clone().with_state(CtState::Invalid),
        "invalid to the gateway",
    );
    accept(
        rs,
        IN,
        &Packet::tcp("lo", "", ip("127.0.0.1"), 1, ip("127.0.0.1"), 2),
        "loopback",
    );

    // Output.
    let syslog = Packet::tcp(
        "",
        "ens6",
        ip("198.51.100.2"),
        40000,
        ip("203.0.113.10"),
        6514,
    );
    assert_eq!(accept(rs, OUT, &syslog, "syslog sink").ct_mark, 0x00c0_ffee);
    let ntp = Packet::udp("", "ens6", ip("198.51.100.2"), 123, ip("192.0.2.123"), 123);
    accept(rs, OUT, &ntp, "NTP via uplink");
    let mut ntp5 = ntp.clone();
    ntp5.oifname = "ens5".into();
    assert_eq!(
        drop(rs, OUT, &ntp5, "NTP via internet").counters,
        vec!["d-out"]
    );
    let mut ntp_tcp = ntp.clone();
    ntp_tcp.l4proto = 6;
    drop(rs, OUT, &ntp_tcp, "tcp/123 is not udp dport 123");
    accept(
        rs,
        OUT,
        &Packet::icmp("", "ens3", ip("fe80::2"), ip("ff02::1:ff00:1"), 135),
        "ND out",
    );
    drop(
        rs,
        OUT,
        &Packet::icmp("", "ens3", ip("10.10.0.1"), ip("10.10.0.5"), 8),
        "ping out",
    );
    let est_out =
        Packet::tcp("", "ens4", gw, 22, ip("10.20.0.7"), 50000).with_state(CtState::Established);
    accept(rs, OUT, &est_out, "ssh reply out");
}

// ---------------------------------------------------------------------------------------
// flow.nft: control flow and expression corner cases
// ---------------------------------------------------------------------------------------

fn check_flow(rs: &Ruleset) {
    assert_eq!(
        rs.base_chains(Hook::Forward),
        vec![("early", -5), ("main", 0), ("late", 10)]
    );
    assert_eq!(
        rs.base_chains(Hook::Prerouting),
        vec![("pre-raw", -310), ("pre-filter", 0)]
    );
    assert_eq!(
        rs.base_chains(Hook::Output),
        vec![("out-raw", -300), ("output", 0)]
    );
    let fwd = &[Hook::Forward];
    let pkt = |iif: &str, oif: &str| Packet::udp(iif, oif, ip("192.0.2.1"), 1, ip("192.0.2.2"), 2);

    // Drop in an early base chain is final; accept only ends that base chain.
    let out = drop(rs, fwd, &pkt("x", "z"), "early drop");
    assert!(
        !out.trace.iter().any(|t| t.contains("chain main")),
        "{}",
        out.explain()
    );
    let out = accept(rs, fwd, &pkt("y", "z"), "early accept, main accepts");
    assert_eq!(out.log_prefixes(), vec!["after-vmap "]);

    // Named verdict map: jump returns after the vmap rule; its mark reaches a later base chain.
    let out = drop(rs, fwd, &pkt("a", "z"), "jump j1, late chain drops mark 2");
    assert_eq!(out.log_prefixes(), vec!["j1 ", "after-vmap "]);
    assert_eq!(out.counters, vec!["c-j1", "c-late"]);
    assert_eq!(out.ct_mark, 2);
    // goto: the end of g1 returns to main's caller, i.e. main's policy.
    let out = drop(rs, fwd, &pkt("b", "z"), "goto g1, then main's policy");
    assert_eq!(out.log_prefixes(), vec!["g1 "]);
    assert_eq!(out.counters, vec!["c-g1"]);
    drop(rs, fwd, &pkt("c", "z"), "vmap drop");
    let out = drop(
        rs,
        fwd,
        &pkt("d", "z"),
        "vmap return from a base chain: policy",
    );
    assert!(out.logs.is_empty());
    let out = accept(rs, fwd, &pkt("e", "z"), "vmap continue");
    assert_eq!(out.log_prefixes(), vec!["after-vmap "]);
    let out = accept(rs, fwd, &pkt("f", "q"), "vmap accept");
    assert!(out.logs.is_empty());
    // jump j2, whose goto j3 ends by returning to main (the jump's return point).
    let out = accept(rs, fwd, &pkt("g", "z"), "jump then goto");
    assert_eq!(out.log_prefixes(), vec!["j3 ", "after-vmap "]);

    // A vmap miss ends only the rule; `return` in a base chain applies the policy.
    let out = drop(rs, fwd, &pkt("q", "y"), "fall through to policy");
    assert_eq!(out.log_prefixes(), vec!["after-vmap ", "main-end "]);
    assert_eq!(out.ct_mark, 1, "early set the mark");
    let out = drop(rs, fwd, &pkt("q", "r"), "return in base chain");
    assert_eq!(out.log_prefixes(), vec!["after-vmap "]);
    // Anonymous vmap with jump and goto.
    let out = drop(rs, fwd, &pkt("q", "j"), "anonymous vmap jump returns");
    assert_eq!(out.log_prefixes(), vec!["after-vmap ", "j1 ", "main-end "]);
    let out = drop(rs, fwd, &pkt("q", "k"), "anonymous vmap goto");
    assert_eq!(out.log_prefixes(), vec!["after-vmap ", "g1 "]);
    // Interface wildcard.
    accept(rs, fwd, &pkt("eth0", "q"), "eth* matches eth0");
    accept(rs, fwd, &pkt("eth", "q"), "eth* matches eth");
    drop(rs, fwd, &pkt("et0", "q"), "eth* does not match et0");

    // Conntrack before and after it runs.
    let pre = &[Hook::Prerouting];
    let p = pkt("h", "").with_ct_mark(5);
    let out = accept(rs, pre, &p, "prerouting with a mark");
    assert_eq!(
        out.log_prefixes(),
        vec!["pre-raw:no-ct ", "pre-filter:new "]
    );
    assert_eq!(
        out.ct_mark, 7,
        "the raw chain's mark set is ignored, the filter one counts"
    );
    let out = accept(rs, pre, &pkt("q", ""), "prerouting, mark 0");
    assert_eq!(
        out.log_prefixes(),
        vec!["pre-raw:no-ct ", "pre-filter:new ", "pre-filter:mark0 "]
    );
    let out = accept(
        rs,
        pre,
        &pkt("h", "").with_state(CtState::Invalid),
        "invalid: no ct entry",
    );
    assert_eq!(out.log_prefixes(), vec!["pre-raw:no-ct "]);
    assert_eq!(out.ct_mark, 0, "ct mark set without an entry does nothing");

    check_flow_input(rs);

    // Output: no input device (iifname reads empty, ether saddr breaks); before conntrack
    // the state is invalid.
    let out_pkt = Packet::udp("ens3", "ens4", ip("192.0.2.1"), 1, ip("192.0.2.2"), 2)
        .with_ether([2, 0, 0, 0, 0, 1]);
    let out = accept(rs, OUT, &out_pkt, "output");
    assert_eq!(out.log_prefixes(), vec!["out-raw:no-ct ", "no-iif "]);
}

fn check_flow_input(rs: &Ruleset) {
    let inp = &[Hook::Input];
    let t = |dport: u16| {
        Packet::tcp(
            "ens3",
            "ens4",
            ip("192.0.2.1"),
            1000,
            ip("192.0.2.2"),
            dport,
        )
    };
    for port in [22, 80, 90] {
        let out = accept(rs, inp, &t(port), "tcp dport @ports");
        assert_eq!(out.log_prefixes(), vec!["tcp-ports "], "port {port}");
    }
    for port in [79, 91] {
        let out = accept(
            rs,
            inp,
            &t(port),
            "not in @ports: falls to the vmap, policy",
        );
        assert_eq!(
            out.log_prefixes(),
            vec!["tcp-or-udp ", "no-oif "],
            "port {port}\n{}",
            out.explain()
        );
    }
    let dns = Packet::udp("ens3", "", ip("192.0.2.1"), 1000, ip("192.0.2.2"), 53);
    assert_eq!(
        accept(rs, inp, &dns, "th dport 53").log_prefixes(),
        vec!["th-53 "]
    );

    // `th dport` on ICMP reads the ICMP checksum: the model reports it cannot decide...
    let echo = Packet::icmp("ens3", "", ip("192.0.2.1"), ip("192.0.2.2"), 8);
    let out = rs.eval_path(inp, &echo);
    assert!(
        out.undetermined.iter().any(|u| u.contains("th dport")),
        "{:?}",
        out.undetermined
    );
    // ...unless the test pins those bytes.
    let mut pinned = echo.clone();
    pinned.dport = Some(53);
    assert_eq!(
        accept(rs, inp, &pinned, "checksum 53").log_prefixes(),
        vec!["th-53 "]
    );
    pinned.dport = Some(0x1234);
    let out = accept(rs, inp, &pinned, "ICMP");
    assert_eq!(out.log_prefixes(), vec!["ip-proto-icmp ", "no-oif "]);
    let mut echo6 = Packet::icmp("ens3", "", ip("fd00::1"), ip("fd02::1"), 128);
    echo6.dport = Some(0x1234);
    let out = accept(rs, inp, &echo6, "ICMPv6");
    assert_eq!(out.log_prefixes(), vec!["nexthdr-icmpv6 ", "no-oif "]);

    // Negation does not turn a failed dependency into a match.
    let u6 = |dst: &str| Packet::udp("ens3", "", ip("fd09::1"), 1000, ip(dst), 1000);
    for (dst, log) in [
        ("fd02::1", "udp-not-lan6 "),
        ("fd01::6", "udp-not-lan6 "),
        ("fd01::1", "lan6 "),
        ("fd01::5", "lan6 "),
        ("fd00::ffff", "lan6 "),
    ] {
        assert_eq!(
            accept(rs, inp, &u6(dst), dst).log_prefixes(),
            vec![log],
            "{dst}"
        );
    }
    let u4 = Packet::udp("ens3", "", ip("192.0.2.1"), 1000, ip("192.0.2.2"), 1000);
    let out = accept(rs, inp, &u4, "IPv4: ip6 daddr != @lan6 breaks");
    assert_eq!(out.log_prefixes(), vec!["tcp-or-udp ", "no-oif "]);

    // ct direction, status (bit test vs exact), state !=, mark range, meta mark, ttl, ether.
    let est = t(1000)
        .with_state(CtState::Established)
        .with_direction(CtDirection::Reply)
        .with_status(ct_status::DNAT | ct_status::SEEN_REPLY)
        .with_ct_mark(0x10);
    let out = accept(rs, inp, &est, "established reply");
    assert_eq!(
        out.log_prefixes(),
        vec![
            "reply ",
            "dnat ",
            "not-new ",
            "mark-range ",
            "tcp-or-udp ",
            "no-oif "
        ]
    );
    let only = t(1000)
        .with_state(CtState::Established)
        .with_status(ct_status::DNAT)
        .with_ct_mark(0x21);
    let out = accept(rs, inp, &only, "status exactly dnat");
    assert_eq!(
        out.log_prefixes(),
        vec!["dnat ", "only-dnat ", "not-new ", "tcp-or-udp ", "no-oif "]
    );
    let mut marked = t(1000).with_hoplimit(1).with_ether([2, 0, 0, 0, 0, 1]);
    marked.meta_mark = 1;
    let out = accept(rs, inp, &marked, "meta mark, ttl, ether");
    assert_eq!(
        out.log_prefixes(),
        vec!["meta-mark ", "ttl1 ", "tcp-or-udp ", "ether ", "no-oif "]
    );
    let out = drop(
        rs,
        inp,
        &t(1000).with_state(CtState::Related),
        "ct state vmap related: drop",
    );
    assert_eq!(
        out.log_prefixes(),
        vec!["not-new ", "tcp-or-udp ", "no-oif "]
    );
}

// ---------------------------------------------------------------------------------------
// representative.nft: the compiler's sample ruleset, unchanged
// ---------------------------------------------------------------------------------------

fn check_representative(rs: &Ruleset) {
    // This sample's anti-spoof sets know only ens3 and ens6, so packets from ens4 are
    // evaluated at the forward hook alone.
    let fwd = &[Hook::Forward];
    let f001 = Packet::tcp("ens4", "ens3", ip("10.20.0.10"), 1, ip("10.10.0.5"), 443);
    let out = accept(rs, fwd, &f001, "F-001");
    assert_eq!(out.ct_mark, F001);
    assert_eq!(out.element_comments, vec!["F-001"]);
    let udp = Packet::udp("ens4", "ens3", ip("10.20.1.1"), 1, ip("10.10.0.200"), 5010);
    assert_eq!(accept(rs, fwd, &udp, "udp range").ct_mark, 2);
    let echo = Packet::icmp("ens4", "ens3", ip("10.20.0.10"), ip("10.10.0.5"), 8);
    assert_eq!(accept(rs, fwd, &echo, "echo").ct_mark, F001);
    let miss = Packet::udp("ens4", "ens3", ip("10.20.1.1"), 1, ip("10.10.0.200"), 5011);
    let out = drop(rs, fwd, &miss, "miss");
    assert_eq!(out.counters, vec!["d-7"]);
    assert_eq!(out.log_prefixes(), vec!["zg:7 "]);
    // The pinned host (10.10.0.5 at ens3) with its MAC, replying on the live path.
    let reply = Packet::tcp("ens3", "ens4", ip("10.10.0.5"), 443, ip("10.20.0.10"), 1)
        .with_ether(JUKI_MAC)
        .with_state(CtState::Established)
        .with_direction(CtDirection::Reply)
        .with_ct_mark(F001);
    accept(rs, FWD, &reply, "reply on live path");
    let v6 = Packet::tcp("ens4", "ens3", ip("fd00:20::9"), 1, ip("fd00:10::5"), 443);
    assert_eq!(accept(rs, fwd, &v6, "v6 flow").ct_mark, 5);
}

// ---------------------------------------------------------------------------------------
// Tests on the checked-in listings (no root needed)
// ---------------------------------------------------------------------------------------

#[test]
fn fixture_zonegate() {
    check_zonegate(&parse(&read_fixture("zonegate.json"), "zonegate.json"));
}

#[test]
fn fixture_flow() {
    check_flow(&parse(&read_fixture("flow.json"), "flow.json"));
}

#[test]
fn fixture_representative() {
    check_representative(&parse(
        &read_fixture("representative.json"),
        "representative.json",
    ));
}

// ---------------------------------------------------------------------------------------
// Tests on live listings (root)
// ---------------------------------------------------------------------------------------

#[test]
fn live_zonegate() {
    if need_root("live_zonegate") {
        check_zonegate(&parse(&live_listing("zonegate"), "live zonegate"));
    }
}

#[test]
fn live_flow() {
    if need_root("live_flow") {
        check_flow(&parse(&live_listing("flow"), "live flow"));
    }
}

#[test]
fn live_representative() {
    if need_root("live_representative") {
        check_representative(&parse(
            &live_listing("representative"),
            "live representative",
        ));
    }
}

/// Real listings of constructs the evaluator does not model must be refused, by name.
#[test]
fn live_unmodelled_constructs_are_errors() {
    if !need_root("live_unmodelled_constructs_are_errors") {
        return;
    }
    let cases: &[(&str, &str)] = &[
        ("meta mark set 1", "mangle"),
        ("reject with icmpx admin-prohibited", "reject"),
        ("fib daddr type local accept", "fib"),
        ("ip dscp cs1 accept", "ip dscp"),
        ("ct original ip saddr 192.0.2.1 accept", "ct"),
        ("tcp flags syn accept", "tcp flags"),
        ("meta pkttype broadcast accept", "meta pkttype"),
        ("ct mark set ct mark and 0xffff", "ct mark value"),
        ("meta iifgroup 1 accept", "meta iifgroup"),
        ("ip saddr & 0.0.255.255 == 0.0.1.2 accept", "&"),
    ];
    let tmp = TempDir::new("unmodelled");
    let dir = tmp.0.clone();
    for (i, (rule, construct)) in cases.iter().enumerate() {
        let file = dir.join(format!("c{i}.nft"));
        let text = format!(
            "table inet zonegate {{\n chain c {{\n  type filter hook forward priority 0; policy accept;\n  {rule}\n }}\n}}\n"
        );
        std::fs::write(&file, text).expect("writing ruleset");
        let ns = Netns::new("unmod");
        let listed = ns
            .load_and_list(&file)
            .unwrap_or_else(|e| panic!("loading `{rule}`: {e}"));
        match Ruleset::from_json(&listed) {
            Ok(_) => panic!("`{rule}` was accepted by the evaluator"),
            Err(e) => assert!(
                e.message.contains(construct),
                "`{rule}`: error {e} does not name `{construct}`"
            ),
        }
    }
    let nat = dir.join("nat.nft");
    std::fs::write(
        &nat,
        "table inet zonegate {\n chain p {\n  type nat hook postrouting priority srcnat; policy accept;\n  masquerade\n }\n}\n",
    )
    .expect("writing ruleset");
    let ns = Netns::new("nat");
    let listed = ns.load_and_list(&nat).expect("loading nat");
    let e = Ruleset::from_json(&listed).expect_err("postrouting nat chain");
    assert!(e.message.contains("postrouting"), "{e}");
}

/// The ICMP echo the differential test sends: type 8, code 0, id 1, seq 1, "abcd".
const ECHO_SENDER: &str = r#"
import socket, struct
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("192.0.2.1", 9998))
u.sendto(b"hi", ("192.0.2.2", 9999))
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
h = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"abcd"
h = struct.pack("!BBHHH", 8, 0, csum(h), 1, 1) + b"abcd"
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).sendto(h, ("192.0.2.2", 0))
"#;

/// The checksum of the echo above: `th dport` of an ICMP echo reads these bytes.
fn echo_checksum() -> u16 {
    let words: [u32; 6] = [0x0800, 0x0000, 0x0001, 0x0001, 0x6162, 0x6364];
    let mut sum: u32 = words.iter().sum();
    while sum > 0xffff {
        sum = (sum >> 16) + (sum & 0xffff);
    }
    !(sum as u16)
}

fn named_counters(ns: &Netns) -> std::collections::BTreeMap<String, u64> {
    let text = ns
        .exec(&[NFT, "-j", "list", "counters", "table", "inet", "zonegate"])
        .expect("listing counters");
    let v: serde_json::Value = serde_json::from_str(&text).expect("counters JSON");
    v["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let c = o.get("counter")?;
            Some((c["name"].as_str()?.to_string(), c["packets"].as_u64()?))
        })
        .collect()
}

/// Differential check against the kernel: real packets through a veth pair, counted by
/// the kernel, against the counters the evaluator predicts for the same packets. Covers
/// the model's least obvious claims: conntrack before -200, `ct mark set` without an
/// entry, `th dport` of ICMP (no dependency), and output's missing input device.
#[test]
fn live_kernel_agrees_on_corner_cases() {
    if !need_root("live_kernel_agrees_on_corner_cases") {
        return;
    }
    if Command::new("python3")
        .arg("-c")
        .arg("")
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        skipped(
            "live_kernel_agrees_on_corner_cases",
            "needs python3 to send ICMP",
        );
        return;
    }
    let (a, b) = (Netns::new("ka"), Netns::new("kb"));
    let link = Command::new(IP)
        .args([
            "link", "add", "va", "netns", &a.name, "type", "veth", "peer", "name", "vb", "netns",
            &b.name,
        ])
        .output()
        .expect("running ip link");
    assert!(
        link.status.success(),
        "veth: {}",
        String::from_utf8_lossy(&link.stderr)
    );
    for (ns, dev, addr) in [(&a, "va", "192.0.2.1/24"), (&b, "vb", "192.0.2.2/24")] {
        ns.exec(&[IP, "addr", "add", addr, "dev", dev])
            .expect("address");
        ns.exec(&[IP, "link", "set", dev, "up"]).expect("link up");
    }
    let file = fixture("kernel_check.nft");
    let listed_b = b.load_and_list(&file).expect("loading in B");
    a.load_and_list(&file).expect("loading in A");
    a.exec(&["python3", "-c", ECHO_SENDER]).expect("sending");
    let mut kernel_b = named_counters(&b);
    for _ in 0..100 {
        if kernel_b.get("raw_any") == Some(&1) && kernel_b.get("icmp_seen") == Some(&1) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        kernel_b = named_counters(&b);
    }
    let kernel_a = named_counters(&a);

    let rs = parse(&listed_b, "kernel_check");
    let udp_in = Packet::udp("vb", "", ip("192.0.2.1"), 9998, ip("192.0.2.2"), 9999);
    let mut echo_in = Packet::icmp("vb", "", ip("192.0.2.1"), ip("192.0.2.2"), 8);
    echo_in.dport = Some(echo_checksum());
    let udp_out = Packet::udp("", "va", ip("192.0.2.1"), 9998, ip("192.0.2.2"), 9999);
    let predict = |cases: &[(&Packet, Hook)]| {
        let mut counted = std::collections::BTreeMap::new();
        for (pkt, hook) in cases {
            let out = rs.eval(*hook, pkt);
            assert!(out.undetermined.is_empty(), "{}", out.explain());
            for c in out.counters {
                *counted.entry(c).or_insert(0u64) += 1;
            }
        }
        counted
    };
    let predicted_b = predict(&[(&udp_in, Hook::Prerouting), (&echo_in, Hook::Prerouting)]);
    let predicted_a = predict(&[(&udp_out, Hook::Output)]);
    // Compare only the counters of the hooks the packets were predicted for: A also
    // receives B's replies, and B sends them.
    let pick = |kernel: &std::collections::BTreeMap<String, u64>, prefixes: &[&str]| {
        kernel
            .iter()
            .filter(|(k, v)| **v > 0 && prefixes.iter().any(|p| k.starts_with(p)))
            .map(|(k, v)| (k.clone(), *v))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let pre = ["raw_", "f_", "icmp_", "th_"];
    assert_eq!(
        pick(&kernel_b, &pre),
        predicted_b,
        "prerouting in B: kernel vs evaluator"
    );
    assert_eq!(
        pick(&kernel_a, &["out_"]),
        predicted_a,
        "output in A: kernel vs evaluator"
    );
    // And the expectations themselves, so a vacuous agreement cannot pass.
    let want_b: Vec<&str> = vec![
        "f_mark0",
        "f_new",
        "icmp_seen",
        "raw_any",
        "raw_invalid",
        "th_icmp",
    ];
    assert_eq!(
        predicted_b.keys().map(String::as_str).collect::<Vec<_>>(),
        want_b
    );
    assert_eq!(
        predicted_a.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["out_any", "out_iif_empty"]
    );
}

// ---------------------------------------------------------------------------------------
// Hand-written JSON: errors and undetermined lookups (no root needed)
// ---------------------------------------------------------------------------------------

fn listing(extra_objects: &str, chain_exprs: &str) -> String {
    format!(
        r#"{{"nftables": [
  {{"metainfo": {{"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}}},
  {{"table": {{"family": "inet", "name": "zonegate", "handle": 1}}}},
  {extra_objects}
  {{"chain": {{"family": "inet", "table": "zonegate", "name": "c", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}}}},
  {{"rule": {{"family": "inet", "table": "zonegate", "chain": "c", "handle": 2, "expr": [{chain_exprs}]}}}}
]}}"#
    )
}

#[test]
fn handwritten_unknown_constructs_are_errors() {
    let cases: &[(&str, &str, &str)] = &[
        ("", r#"{"notrack": null}"#, "notrack"),
        ("", r#"{"reject": {"type": "tcp reset"}}"#, "reject"),
        (
            "",
            r#"{"match": {"op": "==", "left": {"meta": {"key": "iiftype"}}, "right": "ether"}}, {"accept": null}"#,
            "meta iiftype",
        ),
        ("", r#"{"jump": {"target": "nowhere"}}"#, "unknown chain"),
        (
            "",
            r#"{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "@nope"}}"#,
            "unknown set",
        ),
        ("", r#"{"counter": "nope"}"#, "unknown counter"),
        (
            r#"{"set": {"family": "inet", "name": "s", "table": "zonegate", "type": "ipv4_addr", "handle": 3, "elem": ["10.0.0.1"]}},"#,
            r#"{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "@s"}}"#,
            "does not match",
        ),
        (
            r#"{"flowtable": {"family": "inet", "name": "f", "table": "zonegate", "handle": 3}},"#,
            r#"{"accept": null}"#,
            "flowtable",
        ),
        (
            r#"{"table": {"family": "inet", "name": "other", "handle": 9}},"#,
            r#"{"accept": null}"#,
            "more than one table",
        ),
        (
            r#"{"set": {"family": "inet", "name": "s", "table": "zonegate", "type": "ipv4_addr", "handle": 3, "elem": ["not-an-address"]}},"#,
            r#"{"accept": null}"#,
            "not an IPv4 address",
        ),
        (
            "",
            r#"{"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}}, "right": "echo-bogus"}}"#,
            "unknown symbol",
        ),
    ];
    for (objects, exprs, construct) in cases {
        match Ruleset::from_json(&listing(objects, exprs)) {
            Ok(_) => panic!("accepted: {exprs}"),
            Err(e) => assert!(
                e.message.contains(construct),
                "{exprs}: error `{e}` does not name `{construct}`"
            ),
        }
    }
    let e = Ruleset::from_json(
        &listing("", r#"{"accept": null}"#).replace(r#""family": "inet""#, r#""family": "ip""#),
    )
    .expect_err("ip family");
    assert!(e.message.contains("family"), "{e}");
}

#[test]
fn handwritten_undetermined_lookups_are_reported() {
    // Overlapping map elements with different marks: the kernel's choice is not ours to guess.
    let overlap = listing(
        r#"{"map": {"family": "inet", "name": "m", "table": "zonegate", "type": "ipv4_addr", "handle": 3, "map": "mark", "flags": ["interval"],
             "elem": [[{"prefix": {"addr": "10.0.0.0", "len": 8}}, 1], [{"elem": {"val": "10.1.2.3", "comment": "narrow"}}, 2]]}},"#,
        r#"{"mangle": {"key": {"ct": {"key": "mark"}}, "value": {"map": {"key": {"payload": {"protocol": "ip", "field": "saddr"}}, "data": "@m"}}}}, {"accept": null}"#,
    );
    let rs = parse(&overlap, "overlap");
    let p = Packet::tcp("a", "b", ip("10.1.2.3"), 1, ip("192.0.2.1"), 2);
    let out = rs.eval(Hook::Forward, &p);
    assert!(
        out.undetermined.iter().any(|u| u.contains("overlapping")),
        "{}",
        out.explain()
    );
    let mut other = p.clone();
    other.saddr = ip("10.9.9.9");
    let out = accept(&rs, &[Hook::Forward], &other, "only the /8 matches");
    assert_eq!(out.ct_mark, 1);
    other.saddr = ip("11.0.0.0");
    let out = accept(
        &rs,
        &[Hook::Forward],
        &other,
        "map miss: rule breaks, policy accept",
    );
    assert_eq!(out.ct_mark, 0);

    // A lookup in a set the data path fills at run time.
    let dynamic = listing(
        r#"{"set": {"family": "inet", "name": "seen", "table": "zonegate", "type": "ipv4_addr", "handle": 3, "size": 65535, "flags": ["timeout"], "timeout": 60}},"#,
        r#"{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@seen"}}, {"drop": null}"#,
    );
    let out = parse(&dynamic, "dynamic").eval(Hook::Forward, &p);
    assert!(
        out.undetermined.iter().any(|u| u.contains("run time")),
        "{}",
        out.explain()
    );

    // Mixed address families are a broken test packet, not a verdict.
    let mut mixed = p.clone();
    mixed.daddr = ip("::1");
    let out = parse(&dynamic, "dynamic").eval(Hook::Forward, &mixed);
    assert!(
        out.undetermined.iter().any(|u| u.contains("families")),
        "{}",
        out.explain()
    );
}
