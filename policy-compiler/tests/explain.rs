//! `explain` cases on the worked example (/zones.toml, gateway gw1, evaluated on 2026-11-25)
//! and on small policies for overlaps and edge cases: verdict, deciding flow with file:line,
//! near misses, spoofing, the gateway's own traffic, and the CLI's text and JSON output.

use std::process::Command;
use zonegate_policy::explain::{
    explain, Explanation, Hook, Packet, Query, Reason, Target, Verdict,
};
use zonegate_policy::{validate, Date, Lang, Policy};

const EXAMPLE: &str = include_str!("../../zones.toml");

fn policy_on(text: &str, today: &str) -> Policy {
    let checked = validate("zones.toml", text, Date::parse(today));
    match checked.policy {
        Some(p) => p,
        None => panic!("policy invalid:\n{}", checked.diagnostics.render_text()),
    }
}

fn example() -> Policy {
    policy_on(EXAMPLE, "2026-11-25")
}

fn ask(p: &Policy, iif: Option<&str>, src: &str, dst: &str, port: Option<&str>) -> Explanation {
    let mut q = Query::new(
        Target::parse(src),
        Target::parse(dst),
        port.map(|s| Packet::parse(s).expect("port")),
    );
    q.iif = iif.map(str::to_string);
    explain(p, "gw1", &q).expect("explains")
}

/// The line of the worked example where a flow's `[[flow]]` header is.
fn line_of(id: &str) -> String {
    let needle = format!("id = \"{id}\"");
    let idx = EXAMPLE
        .lines()
        .position(|l| l.trim() == needle)
        .expect("flow in example");
    format!("zones.toml:{idx}") // the header is the line before the id (1-based: idx)
}

#[test]
fn screen_transfer_to_the_my_number_vdi_is_accepted_by_its_flow() {
    let x = ask(&example(), None, "lg-term-1", "mn-vdi", Some("tcp/443"));
    assert_eq!(x.verdict, Verdict::Accept);
    assert_eq!(x.hook, Hook::Forward);
    assert_eq!(x.reason, Reason::Flow { id: "F-001".into() });
    assert_eq!(x.source.zone.as_deref(), Some("lgwan"));
    assert_eq!(x.source.interface.as_deref(), Some("ens4"));
    assert_eq!(x.destination.zone.as_deref(), Some("mynumber"));
    assert_eq!(
        x.destination.zone_label.as_deref(),
        Some("マイナンバー利用事務系")
    );
    assert_eq!(x.destination.interface.as_deref(), Some("ens3"));
    let f = x.flow.as_ref().expect("deciding flow");
    assert_eq!(f.defined_at, line_of("F-001"));
    assert_eq!(f.approved_by.as_deref(), Some("情報セキュリティ管理者"));
    assert_eq!(f.expires.as_deref(), Some("2027-03-31"));
    assert!(f.purpose.as_deref().is_some_and(|p| p.contains("画面転送")));
    let text = x.render_text();
    assert!(text.contains("verdict      accept"), "{text}");
    assert!(
        text.contains(&format!("F-001 ({})", line_of("F-001"))),
        "{text}"
    );
}

#[test]
fn another_port_to_another_my_number_host_is_dropped_with_near_misses() {
    let x = ask(&example(), None, "lg-term-1", "mn-payroll", Some("tcp/22"));
    assert_eq!(x.verdict, Verdict::Drop);
    assert_eq!(
        x.reason,
        Reason::NoFlow {
            from: "lgwan".into(),
            to: "mynumber".into()
        }
    );
    assert!(x.flow.is_none());
    let near = x.nearest.first().expect("a near miss");
    assert_eq!(near.flow.id, "F-001");
    assert_eq!(
        near.differences
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>(),
        vec![
            "destination 10.10.0.5 is not host mn-vdi (10.10.0.30)".to_string(),
            "it permits tcp/443, not tcp/22".to_string()
        ]
    );
    assert!(x.render_text().contains("no flow permits lgwan → mynumber"));
    // The same explanation in Japanese: every label, reason and near-miss line translated, the
    // names, addresses, ports and flow ids as they are.
    let ja = x.render_text_in(Lang::Ja);
    assert!(ja.contains("理由"), "{ja}");
    assert!(
        ja.contains("lgwan → mynumber を許可するフローがありません"),
        "{ja}"
    );
    assert!(
        ja.contains("- 許可しているのは tcp/443 で、tcp/22 ではありません"),
        "{ja}"
    );
    assert!(ja.contains("F-001"), "{ja}");
    assert!(!ja.contains("because") && !ja.contains("nearest"), "{ja}");
}

#[test]
fn the_opposite_direction_is_named_as_the_nearest_flow() {
    let x = ask(&example(), None, "lg-relay", "mn-payroll", Some("tcp/443"));
    assert_eq!(x.verdict, Verdict::Drop);
    let near = x.nearest.first().expect("near");
    assert_eq!(near.flow.id, "F-002");
    assert!(near.reverse);
    assert!(near.differences[0]
        .to_string()
        .contains("opposite direction"));
}

#[test]
fn a_my_number_address_on_the_lgwan_interface_is_spoofed() {
    let x = ask(
        &example(),
        Some("ens4"),
        "10.10.0.5",
        "10.30.0.20",
        Some("tcp/443"),
    );
    assert_eq!(x.verdict, Verdict::Spoofed);
    assert_eq!(
        x.reason,
        Reason::Spoofed {
            interface: Some("ens4".into()),
            interface_zone: Some("lgwan".into()),
            address_zone: Some("mynumber".into())
        }
    );
}

#[test]
fn the_my_number_domain_reaches_nothing_on_the_internet_side() {
    let p = example();
    for dst in ["browser-gw", "mail-relay", "8.8.8.8", "10.30.0.99"] {
        for port in ["tcp/443", "tcp/25", "udp/53"] {
            let x = ask(&p, None, "mn-payroll", dst, Some(port));
            assert_eq!(x.verdict, Verdict::Drop, "mn-payroll -> {dst} {port}");
        }
        let x = ask(&p, None, "mn-payroll", dst, None);
        assert_eq!(x.verdict, Verdict::Drop, "mn-payroll -> {dst} (any port)");
    }
}

#[test]
fn the_pinned_host_is_noted() {
    let x = ask(&example(), None, "mn-payroll", "lg-relay", Some("tcp/443"));
    assert_eq!(x.verdict, Verdict::Accept);
    assert_eq!(x.reason, Reason::Flow { id: "F-002".into() });
    assert!(
        x.notes
            .iter()
            .any(|n| n.to_string().contains("pinned to MAC 52:54:00:aa:00:05")),
        "{:?}",
        x.notes
    );
}

#[test]
fn ipv6_addresses_are_judged_like_ipv4() {
    let x = ask(
        &example(),
        None,
        "fd00:10::5",
        "fd00:20::10",
        Some("tcp/443"),
    );
    assert_eq!(x.verdict, Verdict::Accept);
    assert_eq!(x.reason, Reason::Flow { id: "F-002".into() });
    // Host names pick IPv6 when the protocol is ICMPv6.
    let x = ask(
        &example(),
        None,
        "admin-pc",
        "gateway",
        Some("icmpv6/echo-request"),
    );
    assert_eq!(
        x.source.address.map(|a| a.to_string()).as_deref(),
        Some("fd00:20::50")
    );
    assert_eq!(x.verdict, Verdict::Accept);
}

#[test]
fn management_of_the_gateway_and_its_own_traffic() {
    let p = example();
    let x = ask(&p, None, "admin-pc", "gateway", Some("tcp/22"));
    assert_eq!((x.hook, x.verdict), (Hook::Input, Verdict::Accept));
    assert_eq!(x.reason, Reason::Flow { id: "M-001".into() });

    let x = ask(&p, None, "lg-term-1", "gateway", Some("tcp/22"));
    assert_eq!(x.verdict, Verdict::Drop);
    assert_eq!(x.nearest[0].flow.id, "M-001");

    let x = ask(&p, None, "admin-pc", "gateway", None);
    assert_eq!(x.verdict, Verdict::Partial);
    assert_eq!(x.permitted.len(), 1);
    assert_eq!(x.permitted[0].ports, vec!["icmp/echo-request", "tcp/22"]);

    let x = ask(&p, None, "gateway", "lg-ntp", Some("udp/123"));
    assert_eq!((x.hook, x.verdict), (Hook::Output, Verdict::Accept));
    assert_eq!(x.reason, Reason::Flow { id: "G-001".into() });

    let x = ask(&p, None, "gateway", "8.8.8.8", Some("tcp/443"));
    assert_eq!(x.verdict, Verdict::Drop);
    assert_eq!(
        x.reason,
        Reason::NoFlow {
            from: "gateway".into(),
            to: "uplink".into()
        }
    );
}

#[test]
fn essential_ipv6_and_link_local() {
    let p = example();
    let x = ask(
        &p,
        Some("ens5"),
        "fe80::1",
        "gateway",
        Some("icmpv6/nd-neighbor-solicit"),
    );
    assert_eq!(x.verdict, Verdict::Accept);
    assert!(matches!(x.reason, Reason::Essential { .. }));
    assert!(x.notes.iter().any(|n| n.to_string().contains("link-local")));
    // Link-local passes anti-spoof, but still needs a flow to be forwarded.
    let x = ask(&p, Some("ens4"), "fe80::1", "fd00:10::5", Some("tcp/443"));
    assert_eq!(x.verdict, Verdict::Drop);
}

#[test]
fn dhcp_discovery_broadcast_and_multicast_are_counted_drops() {
    let p = example();
    let x = ask(
        &p,
        Some("ens4"),
        "0.0.0.0",
        "255.255.255.255",
        Some("udp/67"),
    );
    assert_eq!(x.verdict, Verdict::Drop);
    assert!(
        matches!(&x.reason, Reason::Broadcast { what } if what.to_string().contains("DHCP discovery"))
    );
    let x = ask(&p, None, "admin-pc", "255.255.255.255", Some("udp/137"));
    assert_eq!((x.hook, x.verdict), (Hook::Input, Verdict::Drop));
    assert!(matches!(x.reason, Reason::Broadcast { .. }));
    let x = ask(&p, None, "admin-pc", "224.0.0.251", Some("udp/5353"));
    assert!(matches!(x.reason, Reason::Broadcast { .. }));
    // Neighbour discovery to a solicited-node multicast address comes first and passes.
    let x = ask(
        &p,
        Some("ens4"),
        "fe80::2",
        "ff02::1:ff00:1",
        Some("icmpv6/nd-neighbor-solicit"),
    );
    assert_eq!(x.verdict, Verdict::Accept);
    assert!(x.render_text().contains("delivered to the gateway itself"));
}

#[test]
fn intra_zone_and_unknown_interfaces() {
    let p = example();
    let x = ask(&p, None, "lg-term-1", "lg-relay", Some("tcp/445"));
    assert_eq!(x.verdict, Verdict::Accept);
    assert_eq!(
        x.reason,
        Reason::IntraZone {
            zone: "lgwan".into()
        }
    );

    let x = ask(&p, Some("eth9"), "lg-term-1", "browser-gw", Some("tcp/443"));
    assert_eq!(x.verdict, Verdict::Drop);
    assert_eq!(
        x.reason,
        Reason::UnknownInterface {
            interface: "eth9".into()
        }
    );
}

#[test]
fn an_expired_flow_never_decides_but_is_shown() {
    let p = policy_on(EXAMPLE, "2027-04-01");
    let x = ask(&p, None, "lg-term-1", "mn-vdi", Some("tcp/443"));
    assert_eq!(x.verdict, Verdict::Drop);
    let near = &x.nearest[0];
    assert_eq!(near.flow.id, "F-001");
    assert!(near.flow.expired);
    assert_eq!(
        near.differences
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>(),
        vec!["it expired on 2027-03-31 and is not compiled"]
    );
}

const OVERLAP: &str = r#"
version = 1
[policy]
name = "overlap"
profile = "none"
intra_zone = "drop"
[zones.lan]
networks = ["10.0.0.0/8"]
[zones.dmz]
networks = ["10.9.0.0/16"]
[zones.wan]
networks = ["0.0.0.0/0"]
[hosts.web]
zone = "dmz"
addresses = ["10.9.0.80"]
[hosts.pc1]
zone = "lan"
addresses = ["10.1.0.1"]
[hosts.pc2]
zone = "lan"
addresses = ["10.1.0.2"]
[[flow]]
id = "B-wide"
from = "lan"
to = "web"
ports = ["tcp/400-500", "icmp/echo-request"]
[[flow]]
id = "A-specific"
from = "pc1"
to = "web"
ports = ["tcp/443"]
[[flow]]
id = "C-intra"
from = "pc1"
to = "pc2"
ports = ["tcp/22"]
[gateways.gw1]
interfaces = { lan = ["lan0", "lan1"], dmz = ["dmz0"], wan = ["wan0"] }
"#;

#[test]
fn overlapping_flows_are_decided_by_the_first_id() {
    let p = policy_on(OVERLAP, "2026-11-25");
    let x = ask(&p, None, "pc1", "web", Some("tcp/443"));
    assert_eq!(
        x.reason,
        Reason::Flow {
            id: "A-specific".into()
        }
    );
    assert!(
        x.notes
            .iter()
            .any(|n| n.to_string().contains("B-wide also covers")),
        "{:?}",
        x.notes
    );
    let x = ask(&p, None, "pc2", "web", Some("tcp/443"));
    assert_eq!(
        x.reason,
        Reason::Flow {
            id: "B-wide".into()
        }
    );
    let x = ask(&p, None, "pc1", "web", None);
    assert_eq!(x.verdict, Verdict::Partial);
    let owned: Vec<(&str, Vec<String>)> = x
        .permitted
        .iter()
        .map(|p| (p.flow.id.as_str(), p.ports.clone()))
        .collect();
    assert_eq!(
        owned,
        vec![
            ("A-specific", vec!["tcp/443".to_string()]),
            (
                "B-wide",
                vec![
                    "icmp/echo-request".to_string(),
                    "tcp/400-442".to_string(),
                    "tcp/444-500".to_string()
                ]
            ),
        ]
    );
}

#[test]
fn intra_zone_drop_needs_a_flow_between_the_zones_interfaces() {
    let p = policy_on(OVERLAP, "2026-11-25");
    let mut q = Query::new(
        Target::parse("pc1"),
        Target::parse("pc2"),
        Some(Packet::parse("tcp/22").expect("port")),
    );
    q.iif = Some("lan0".into());
    q.oif = Some("lan1".into());
    let x = explain(&p, "gw1", &q).expect("explains");
    assert_eq!(
        x.reason,
        Reason::Flow {
            id: "C-intra".into()
        }
    );
    q.packet = Some(Packet::parse("tcp/23").expect("port"));
    let x = explain(&p, "gw1", &q).expect("explains");
    assert_eq!(x.verdict, Verdict::Drop);
}

#[test]
fn a_destination_routed_out_of_another_zone_is_judged_by_the_interface() {
    // Mirrors the ruleset: the egress interface picks the chain; a zone end covers any address.
    let p = policy_on(OVERLAP, "2026-11-25");
    let mut q = Query::new(
        Target::parse("10.1.0.1"),
        Target::parse("10.9.0.80"),
        Some(Packet::parse("tcp/443").expect("port")),
    );
    q.oif = Some("wan0".into());
    let x = explain(&p, "gw1", &q).expect("explains");
    assert_eq!(x.destination.zone.as_deref(), Some("wan"));
    assert_eq!(x.verdict, Verdict::Drop);
    assert!(x
        .notes
        .iter()
        .any(|n| n.to_string().contains("judges it by the interface's zone")));
}

#[test]
fn bad_questions_are_errors_not_verdicts() {
    let p = example();
    let q = |s: &str, d: &str, port: Option<&str>| {
        Query::new(
            Target::parse(s),
            Target::parse(d),
            port.map(|x| Packet::parse(x).expect("port")),
        )
    };
    assert!(explain(&p, "gw9", &q("lg-term-1", "mn-vdi", None)).is_err());
    let e = explain(&p, "gw1", &q("lg-term", "mn-vdi", None)).expect_err("unknown host");
    assert!(e.to_string().contains("did you mean"), "{e}");
    assert!(explain(&p, "gw1", &q("10.20.1.11", "fd00:10::5", None)).is_err());
    assert!(explain(
        &p,
        "gw1",
        &q("fd00:20::50", "gateway", Some("icmp/echo-request"))
    )
    .is_err());
    assert!(explain(&p, "gw1", &q("gateway", "gateway", None)).is_err());
    let e = explain(&p, "gw1", &q("fe80::1", "gateway", None)).expect_err("needs --iif");
    assert!(e.to_string().contains("--iif"), "{e}");
    assert!(Packet::parse("tcp").is_err());
    assert!(Packet::parse("http/80").is_err());
    assert!(Packet::parse("icmp/ping").is_err());
    assert_eq!(
        Packet::parse("icmp/8").map(|p| p.to_string()),
        Ok("icmp/echo-request".into())
    );
}

fn zonegate(args: &[&str]) -> (i32, String, String) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(env!("CARGO_BIN_EXE_zonegate"))
        .current_dir(root)
        .args(args)
        .output()
        .expect("run zonegate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_text_and_json() {
    let (code, out, err) = zonegate(&[
        "explain",
        "zones.toml",
        "--gateway",
        "gw1",
        "--today",
        "2026-11-25",
        "lg-term-1",
        "mn-vdi",
        "tcp/443",
    ]);
    assert_eq!(code, 0, "{err}");
    let first = out.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "gateway gw1: new connection 10.20.1.11 (lg-term-1) → 10.10.0.30 (mn-vdi) tcp/443 (forwarded)"
    );
    assert!(out.contains("verdict      accept"));

    let (code, out, err) = zonegate(&[
        "explain",
        "zones.toml",
        "--gateway",
        "gw1",
        "--today",
        "2026-11-25",
        "--iif",
        "ens4",
        "10.10.0.5",
        "10.30.0.20",
        "tcp/443",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["verdict"], "spoofed");
    assert_eq!(v["reason"]["kind"], "spoofed");
    assert_eq!(v["reason"]["address_zone"], "mynumber");
    assert_eq!(v["source"]["interface"], "ens4");

    let (code, _, err) = zonegate(&["explain", "zones.toml", "--gateway", "gw9", "a", "b"]);
    assert_eq!(code, 2);
    assert!(err.contains("no gateway \"gw9\""), "{err}");
    let (code, _, err) = zonegate(&["explain", "zones.toml", "--gateway", "gw1", "a", "b", "tcp"]);
    assert_eq!(code, 2);
    assert!(err.contains("PROTO/PORT"), "{err}");
}
