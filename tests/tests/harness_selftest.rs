//! Self-test of the namespace harness with no firewall loaded: two segments behind a gateway,
//! TCP, UDP and ICMP echo in both directions over IPv4 and IPv6, forged packets that arrive and
//! are captured, namespace isolation of `in_ns` and `Lab::nft`, teardown (also on panic),
//! unique names for parallel labs, and stale-namespace cleanup. If these fail, every firewall
//! test built on the harness is meaningless, so they run first and need root like the others.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::{Duration, Instant};

use zonegate_e2e::lab::{
    cleanup_stale, in_ns, require_root, Family, Lab, LabError, LabSpec, SegmentSpec,
};
use zonegate_e2e::probe::{
    any_source, echo_request, ping, tcp_connect, tcp_reachable, udp_probe, udp_roundtrip,
    ProbeError, TcpEcho, UdpEcho, UdpFlow,
};
use zonegate_e2e::spoof::{
    self, send_frame_with_mac, send_icmp_error, send_tcp_syn, send_udp, Capture, IcmpErrorKind,
    L4Proto, MacAddr, QuotedFlow,
};

/// Generous for answers that should come (sub-millisecond here), short enough for a fast suite.
const OK: Duration = Duration::from_millis(1000);
/// For "must not arrive": each such check costs this much.
const BLOCKED: Duration = Duration::from_millis(300);

fn two_segments() -> LabSpec {
    LabSpec {
        segments: vec![
            SegmentSpec::new(
                "ens3",
                &["10.10.0.1/24", "fd00:10::1/64"],
                &["10.10.0.5/24", "10.10.0.6/24", "fd00:10::5/64"],
            )
            .with_mac("02:00:00:10:00:05"),
            SegmentSpec::new(
                "ens4",
                &["10.20.0.1/24", "fd00:20::1/64"],
                &["10.20.0.5/24", "fd00:20::5/64"],
            ),
        ],
    }
}

fn netns_list() -> BTreeSet<String> {
    let out = Command::new("/usr/sbin/ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn sa(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

#[test]
fn tcp_udp_and_ping_work_both_ways_on_both_families() {
    if !require_root() {
        return;
    }
    let lab = Lab::up(&two_segments()).expect("lab up");
    assert_eq!(lab.host_of("ens3"), lab.host(0));
    assert_eq!(lab.host_of("ens4"), lab.host(1));
    assert_eq!(
        lab.host_mac(0).unwrap(),
        "02:00:00:10:00:05".parse::<MacAddr>().unwrap()
    );

    // One dual-stack TCP echo and per-address UDP echoes on each host.
    let servers: Vec<_> = (0..2)
        .map(|i| {
            let tcp = TcpEcho::start(lab.host(i), "[::]:7000".parse().unwrap()).unwrap();
            let udp4 = UdpEcho::start(lab.host(i), "0.0.0.0:7001".parse().unwrap()).unwrap();
            let udp6 = UdpEcho::start(lab.host(i), "[::]:7001".parse().unwrap()).unwrap();
            (tcp, udp4, udp6)
        })
        .collect();

    for family in [Family::V4, Family::V6] {
        for (from, to) in [(0, 1), (1, 0)] {
            let (ns, dst) = (lab.host(from), lab.host_ip(to, family));
            let what = format!("{family:?} host{from} -> host{to} ({dst})");
            assert!(tcp_reachable(ns, None, sa(dst, 7000), OK), "TCP {what}");
            let reply = udp_roundtrip(ns, any_source(dst), sa(dst, 7001), "hello", OK);
            assert_eq!(reply.as_deref(), Some("hello"), "UDP {what}");
            let rtt = echo_request(ns, None, dst, OK);
            assert!(rtt.is_ok(), "ping {what}: {rtt:?}");
            // The gateway answers too (its own address, input path).
            assert!(
                ping(ns, None, lab.gw_ip(from, family), OK),
                "ping gw {what}"
            );
        }
    }

    // A chosen source address is the one the server sees.
    let second = lab.host_addrs(0)[1];
    let dst = lab.host_ip(1, Family::V4);
    let mut conn = tcp_connect(lab.host(0), Some(second), sa(dst, 7000), OK).unwrap();
    assert_eq!(conn.local_addr().unwrap().ip(), second);
    // After an echo the server has certainly accepted (and recorded) the connection.
    assert_eq!(conn.roundtrip("from .6").unwrap(), "from .6");
    assert!(servers[1].0.peers().iter().any(|p| p.ip() == second));
    assert!(ping(lab.host(0), Some(second), dst, OK));

    // A long-lived TCP connection and a fixed-port UDP flow keep working across many messages.
    let dst6 = lab.host_ip(1, Family::V6);
    let mut conn = tcp_connect(lab.host(0), None, sa(dst6, 7000), OK).unwrap();
    let src6 = sa(lab.host_ip(0, Family::V6), 40123);
    let flow = UdpFlow::open(lab.host(0), src6, sa(dst6, 7001)).unwrap();
    for i in 0..5 {
        let msg = format!("msg-{i}");
        assert_eq!(conn.roundtrip(&msg).unwrap(), msg);
        assert_eq!(flow.roundtrip(&msg, OK).unwrap(), msg);
    }
    let from_flow = servers[1].2.peers().iter().filter(|p| **p == src6).count();
    assert_eq!(
        from_flow, 5,
        "every flow datagram came from the fixed source port"
    );

    // Nobody listens on 7999: TCP is refused and UDP gets a port unreachable.
    let refused = tcp_connect(lab.host(0), None, sa(dst, 7999), OK);
    assert!(matches!(refused, Err(ProbeError::Refused)), "{refused:?}");
    let refused = udp_probe(lab.host(0), any_source(dst), sa(dst, 7999), "x", OK);
    assert!(matches!(refused, Err(ProbeError::Refused)), "{refused:?}");
}

#[test]
fn forged_packets_arrive_and_are_captured() {
    if !require_root() {
        return;
    }
    let lab = Lab::up(&two_segments()).expect("lab up");
    let (h0, h1) = (lab.host(0), lab.host(1));
    let cap = Capture::start(h1, "eth0").unwrap();
    let gw_cap = Capture::start(lab.gw(), "ens3").unwrap();

    for family in [Family::V4, Family::V6] {
        let dst_ip = lab.host_ip(1, family);
        // Claims to come from segment 1 itself: the classic spoof an anti-spoof check must stop.
        let forged_src = match family {
            Family::V4 => "10.20.0.77".parse().unwrap(),
            Family::V6 => "fd00:20::77".parse().unwrap(),
        };
        let receiver = in_ns(h1, move || {
            std::net::UdpSocket::bind(sa(dst_ip, 9000)).expect("bind receiver")
        });
        receiver.set_read_timeout(Some(OK)).unwrap();

        let payload = format!("INJECTED-{family:?}");
        send_udp(
            h0,
            "eth0",
            sa(forged_src, 5555),
            sa(dst_ip, 9000),
            payload.as_bytes(),
        )
        .unwrap();
        let mut buf = [0u8; 128];
        let (n, from) = receiver
            .recv_from(&mut buf)
            .expect("forged datagram delivered");
        assert_eq!(&buf[..n], payload.as_bytes());
        assert_eq!(from, sa(forged_src, 5555), "source kept as forged");
        assert!(cap.wait_for_udp_payload(payload.as_bytes(), OK));
        let seen = cap
            .packets()
            .into_iter()
            .find(|p| p.payload == payload.as_bytes())
            .unwrap();
        assert_eq!((seen.src, seen.dst_port), (forged_src, Some(9000)));

        send_tcp_syn(h0, "eth0", sa(forged_src, 5556), sa(dst_ip, 9001)).unwrap();
        assert!(cap.wait_for(OK, |p| p.is_tcp_syn()
            && p.src == forged_src
            && p.dst_port == Some(9001)));

        let quoted = QuotedFlow {
            proto: L4Proto::Udp,
            src: sa(dst_ip, 40000),
            dst: sa(forged_src, 53),
        };
        send_icmp_error(
            h0,
            "eth0",
            forged_src,
            dst_ip,
            quoted,
            IcmpErrorKind::PortUnreachable,
        )
        .unwrap();
        let want = IcmpErrorKind::PortUnreachable.type_code(family == Family::V6);
        assert!(cap.wait_for(OK, |p| p.icmp == Some(want) && p.src == forged_src));

        // Layer 2 with a made-up source MAC: the gateway sees the MAC, host 1 the datagram.
        let fake_mac: MacAddr = "02:de:ad:be:ef:01".parse().unwrap();
        let l2_payload = format!("L2-{family:?}");
        let packet = spoof::udp_packet(
            sa(forged_src, 5557),
            sa(dst_ip, 9000),
            l2_payload.as_bytes(),
        )
        .unwrap();
        // First with the gateway MAC learned from the neighbour table, then passed in.
        send_frame_with_mac(h0, "eth0", Some(fake_mac), None, &packet).unwrap();
        let gw_mac = lab.gw_mac("ens3").unwrap();
        send_frame_with_mac(h0, "eth0", Some(fake_mac), Some(gw_mac), &packet).unwrap();
        assert!(gw_cap.wait_for(OK, |p| p.src_mac == fake_mac
            && p.dst_mac == gw_mac
            && p.payload == l2_payload.as_bytes()));
        let (n, _) = receiver.recv_from(&mut buf).expect("L2 datagram delivered");
        assert_eq!(&buf[..n], l2_payload.as_bytes());
    }
    // Nothing that was never sent shows up.
    assert!(!cap.saw_udp_payload(b"NEVER-SENT"));
    let frames = cap.stop();
    assert!(frames.iter().any(|f| !f.outgoing));
}

#[test]
fn blocked_traffic_times_out_and_established_flows_can_be_cut() {
    if !require_root() {
        return;
    }
    let lab = Lab::up(&two_segments()).expect("lab up");
    let dst = lab.host_ip(1, Family::V4);
    let _echo = TcpEcho::start(lab.host(1), sa(dst, 7000)).unwrap();
    let mut conn = tcp_connect(lab.host(0), None, sa(dst, 7000), BLOCKED).unwrap();
    assert_eq!(conn.roundtrip("before").unwrap(), "before");

    // A throwaway table in the gateway only (not a zonegate ruleset): drop everything forwarded.
    let table = "table inet harness {\n  chain f {\n    type filter hook forward priority 0; policy drop;\n  }\n}\n";
    lab.nft_ok(lab.gw(), &["-f", "-"], Some(table)).unwrap();

    let started = Instant::now();
    assert!(matches!(conn.roundtrip("after"), Err(ProbeError::Timeout)));
    assert!(!tcp_reachable(lab.host(0), None, sa(dst, 7000), BLOCKED));
    assert!(!ping(lab.host(0), None, dst, BLOCKED));
    assert!(started.elapsed() < Duration::from_secs(2));

    // A reject is told apart from a drop.
    let reject = "table inet harness {\n  chain f {\n    type filter hook forward priority 0; policy accept;\n    icmp type echo-request reject with icmpx admin-prohibited\n  }\n}\n";
    lab.nft_ok(lab.gw(), &["delete", "table", "inet", "harness"], None)
        .unwrap();
    lab.nft_ok(lab.gw(), &["-f", "-"], Some(reject)).unwrap();
    let r = echo_request(lab.host(0), None, dst, OK);
    assert!(matches!(r, Err(ProbeError::Unreachable(_))), "{r:?}");

    // A bad ruleset's error comes back on stderr, not as a panic.
    let out = lab.nft(
        lab.gw(),
        &["-f", "-"],
        Some("table inet broken { chain c { bogus } }"),
    );
    assert!(!out.status.success());
    assert!(!out.stderr.is_empty());
}

#[test]
fn in_ns_and_nft_stay_inside_the_namespace() {
    if !require_root() {
        return;
    }
    let lab = Lab::up(&two_segments()).expect("lab up");
    let ino = |p: &str| std::fs::metadata(p).unwrap().ino();
    let gw_handle = format!("/run/netns/{}", lab.gw());
    let inside = in_ns(lab.gw(), || ino("/proc/thread-self/ns/net"));
    assert_eq!(inside, ino(&gw_handle));
    assert_ne!(
        ino("/proc/thread-self/ns/net"),
        inside,
        "caller thread moved"
    );

    // The gateway forwards; hosts do not.
    let fwd = |ns: &str| {
        in_ns(ns, || {
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap()
                + &std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding").unwrap()
        })
    };
    assert_eq!(fwd(lab.gw()), "1\n1\n");
    assert_eq!(fwd(lab.host(0)), "0\n0\n");

    lab.nft_ok(lab.gw(), &["add", "table", "inet", "selftest"], None)
        .unwrap();
    let listed = lab.nft_ok(lab.gw(), &["list", "tables"], None).unwrap();
    assert!(listed.contains("table inet selftest"), "{listed}");
    let host_tables = lab.nft_ok(lab.host(0), &["list", "tables"], None).unwrap();
    assert!(!host_tables.contains("selftest"), "{host_tables}");

    let out = lab.exec(lab.host(0), &["/usr/sbin/ip", "-o", "link", "show", "eth0"]);
    assert!(out.status.success());
    let out = lab.exec(lab.host(0), &["/nonexistent/tool"]);
    assert_eq!(out.status.code(), Some(127));
}

#[test]
fn drop_removes_every_namespace_even_on_panic() {
    if !require_root() {
        return;
    }
    let lab = Lab::up(&two_segments()).expect("lab up");
    let names: Vec<String> = lab.namespaces().iter().map(|s| s.to_string()).collect();
    assert_eq!(names.len(), 3);
    let listed = netns_list();
    assert!(
        names.iter().all(|n| listed.contains(n)),
        "{names:?} in {listed:?}"
    );
    drop(lab);
    let listed = netns_list();
    assert!(names.iter().all(|n| !listed.contains(n)), "{names:?} left");

    let names_in_panic = std::sync::Mutex::new(Vec::new());
    let result = std::panic::catch_unwind(|| {
        let lab = Lab::up(&two_segments()).expect("lab up");
        *names_in_panic.lock().unwrap() = lab.namespaces().iter().map(|s| s.to_string()).collect();
        panic!("test body fails while the lab is up");
    });
    assert!(result.is_err());
    let names = names_in_panic.into_inner().unwrap();
    assert_eq!(names.len(), 3);
    let listed = netns_list();
    assert!(
        names.iter().all(|n| !listed.contains(n)),
        "{names:?} left after panic"
    );
}

#[test]
fn parallel_labs_get_unique_names_and_work() {
    if !require_root() {
        return;
    }
    let handles: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                let lab = Lab::up(&two_segments()).expect("lab up");
                // Same addresses in every lab: isolation, not luck, keeps them apart.
                let dst = lab.host_ip(1, Family::V6);
                assert!(ping(lab.host(0), None, dst, OK));
                lab
            })
        })
        .collect();
    let labs: Vec<Lab> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut names = BTreeSet::new();
    for lab in &labs {
        for ns in lab.namespaces() {
            assert!(names.insert(ns.to_string()), "{ns} used twice");
        }
    }
    assert_eq!(names.len(), 12);
    drop(labs);
    let listed = netns_list();
    assert!(names.iter().all(|n| !listed.contains(n)));
}

#[test]
fn cleanup_stale_removes_only_dead_owners() {
    if !require_root() {
        return;
    }
    // Above the kernel's maximum pid (2^22), so no process can own it.
    let dead = "zgt4194305x0g";
    let live = format!("zgt{}x999999g", std::process::id());
    for ns in [dead, live.as_str()] {
        let ok = Command::new("/usr/sbin/ip")
            .args(["netns", "add", ns])
            .status()
            .unwrap()
            .success();
        assert!(ok || netns_list().contains(ns));
    }
    let removed = cleanup_stale("zgt").unwrap();
    let listed = netns_list();
    // Another test binary may have swept the dead one first; either way it is gone.
    assert!(!listed.contains(dead), "{removed:?}");
    assert!(
        listed.contains(&live),
        "a live process's namespace was removed"
    );
    assert!(!removed.contains(&live));
    Command::new("/usr/sbin/ip")
        .args(["netns", "del", &live])
        .status()
        .unwrap();
}

#[test]
fn failed_up_reports_ip_stderr_and_leaves_nothing_behind() {
    if !require_root() {
        return;
    }
    // Valid on paper, refused by the kernel: the same address twice on one interface.
    let spec = LabSpec {
        segments: vec![SegmentSpec::new(
            "ens3",
            &["10.10.0.1/24"],
            &["10.10.0.5/24", "10.10.0.5/24"],
        )],
    };
    let err = Lab::up(&spec).expect_err("duplicate address must fail");
    match &err {
        LabError::Command { stderr, .. } => assert!(stderr.contains("already"), "{stderr}"),
        other => panic!("expected ip's own complaint, got {other}"),
    }
    let err = err.to_string();
    // The message names the namespace (`ip -n zgt<pid>x<n>h0 …`); none of that lab remains.
    let base = lab_base(&err).expect("namespace named in the error");
    assert!(base.starts_with(&format!("zgt{}x", std::process::id())));
    assert!(
        netns_list().iter().all(|n| !n.starts_with(&base)),
        "{base}* left behind"
    );
}

/// `zgt<pid>x<n>` from the first lab namespace name in `text`.
fn lab_base(text: &str) -> Option<String> {
    let rest = &text[text.find("zgt")?..];
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let pid_end = 3 + digits(&rest[3..]);
    let after_x = rest[pid_end..].strip_prefix('x')?;
    Some(rest[..pid_end + 1 + digits(after_x)].to_string())
}

#[test]
fn a_lab_without_segments_is_a_lone_gateway() {
    if !require_root() {
        return;
    }
    let lab = Lab::up(&LabSpec::default()).expect("lab up");
    assert_eq!(lab.namespaces(), vec![lab.gw()]);
    let out = lab.nft(lab.gw(), &["-c", "-f", "-"], Some("table inet t {\n}\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
