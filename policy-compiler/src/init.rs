//! `zonegate init`: a first zones.toml written from the machine itself. Pure: the binary gathers
//! the facts ([`Machine`]: `ip -j addr`, the host name, `SSH_CONNECTION`) and this module turns
//! them into commented policy text on which `zonegate check` passes.
//!
//! Every connected network becomes a zone (interfaces on the same network share one), with its
//! role left for the administrator to decide; the SSH session `zonegate init` runs in becomes the
//! one management flow (its client a host, its server port the port), so applying the file does
//! not cut the administrator off; everything else is denied. The comments say what to decide.
//!
//! The text of the comments is held per language in [`Text`] (English and Japanese), one place
//! to move into a message catalogue.

use std::fmt::Write as _;
use std::net::IpAddr;

/// The language of the generated comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ja,
}

impl Lang {
    /// `ja` when the first of `LC_ALL`, `LC_MESSAGES`, `LANG` that is set starts with `ja`
    /// (POSIX order of precedence); the values are passed in, the caller reads the environment.
    pub fn from_locale(
        lc_all: Option<&str>,
        lc_messages: Option<&str>,
        lang: Option<&str>,
    ) -> Lang {
        let v = [lc_all, lc_messages, lang]
            .into_iter()
            .flatten()
            .find(|v| !v.is_empty())
            .unwrap_or("");
        if v.starts_with("ja") {
            Lang::Ja
        } else {
            Lang::En
        }
    }
}

/// One address of an interface with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddr {
    pub ip: IpAddr,
    pub len: u8,
}

/// A network interface and its global addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub addrs: Vec<IfAddr>,
}

/// The SSH session `zonegate init` runs in (`SSH_CONNECTION`: client, client port, server,
/// server port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub client: IpAddr,
    pub server: IpAddr,
    pub server_port: u16,
}

/// What `zonegate init` knows about the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// The gateway's name in the policy (the short host name, as agent.toml defaults to).
    pub gateway: String,
    /// Interfaces other than loopback, in the order the kernel lists them.
    pub interfaces: Vec<Interface>,
    pub session: Option<Session>,
}

/// Why no policy can be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InitError {
    #[error("cannot read the interface list (`ip -j addr`): {0}")]
    Interfaces(String),
    #[error("no interface of this machine has a global address, so there is nothing to make zones of; configure the interfaces first (`ip addr`), or write zones.toml by hand from /usr/share/doc/zonegate/examples/zones.toml")]
    NoAddresses,
    #[error("gateway name {0:?}: use letters, digits, '.', '_' and '-' (at most 64), e.g. --gateway gw1")]
    GatewayName(String),
}

/// Reads `ip -j addr show` output: every interface but loopback, with its global addresses
/// (link-local and host-scope addresses are not networks a policy zones).
pub fn parse_ip_addr_json(text: &str) -> Result<Vec<Interface>, InitError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| InitError::Interfaces(e.to_string()))?;
    let list = v
        .as_array()
        .ok_or_else(|| InitError::Interfaces("not a JSON list".into()))?;
    let mut out = Vec::new();
    for link in list {
        let Some(name) = link["ifname"].as_str() else {
            continue;
        };
        let loopback = link["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == "LOOPBACK"));
        if loopback || name == "lo" {
            continue;
        }
        let mut addrs = Vec::new();
        for a in link["addr_info"].as_array().into_iter().flatten() {
            if a["scope"].as_str().is_some_and(|s| s != "global") {
                continue;
            }
            let (Some(local), Some(len)) = (a["local"].as_str(), a["prefixlen"].as_u64()) else {
                continue;
            };
            let Ok(ip) = local.parse::<IpAddr>() else {
                continue;
            };
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let Ok(len) = u8::try_from(len) else {
                continue;
            };
            if len > max {
                continue;
            }
            addrs.push(IfAddr { ip, len });
        }
        out.push(Interface {
            name: name.to_string(),
            addrs,
        });
    }
    Ok(out)
}

/// Reads `SSH_CONNECTION` ("client_ip client_port server_ip server_port"); IPv4-mapped IPv6
/// addresses (a dual-stack sshd) become IPv4.
pub fn parse_ssh_connection(s: &str) -> Option<Session> {
    let mut it = s.split_whitespace();
    let client = unmap(it.next()?.parse().ok()?);
    let _client_port: u16 = it.next()?.parse().ok()?;
    let server = unmap(it.next()?.parse().ok()?);
    let server_port = it.next()?.parse().ok()?;
    Some(Session {
        client,
        server,
        server_port,
    })
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn to_int(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn bits(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// The network `ip/len` lies in, as text (`10.0.0.0/24`).
fn network(a: IfAddr) -> String {
    let host_bits = u32::from(bits(a.ip) - a.len);
    let mask = if host_bits >= 128 {
        0
    } else {
        !((1u128 << host_bits) - 1)
    };
    let base = to_int(a.ip) & mask;
    let ip = match a.ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::from(base as u32)),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(base)),
    };
    format!("{ip}/{}", a.len)
}

fn contains(net: IfAddr, ip: IpAddr) -> bool {
    if net.ip.is_ipv4() != ip.is_ipv4() {
        return false;
    }
    let host_bits = u32::from(bits(ip) - net.len);
    if host_bits >= 128 {
        return true;
    }
    (to_int(net.ip) >> host_bits) == (to_int(ip) >> host_bits)
}

/// A zone name (`[A-Za-z][A-Za-z0-9_]*`, at most 24) made from an interface name.
fn zone_name(ifname: &str, taken: &[String]) -> String {
    let mut base: String = ifname
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !base.starts_with(|c: char| c.is_ascii_alphabetic()) {
        base = format!("if_{base}");
    }
    base.truncate(20);
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

fn valid_gateway(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A zone to write: its networks and the interfaces on them.
struct Zone {
    name: String,
    networks: Vec<String>,
    interfaces: Vec<String>,
    /// The interfaces' own addresses, for the comment.
    addrs: Vec<String>,
}

/// The comments of the generated file, per language.
pub struct Text {
    pub header: &'static [&'static str],
    pub zone_decide: &'static str,
    pub zone_from: &'static str,
    pub no_address: &'static str,
    pub mgmt_host: &'static str,
    pub mgmt_routed: &'static str,
    pub mgmt_flow: &'static str,
    pub approver: &'static str,
    pub purpose: &'static str,
    pub no_session: &'static [&'static str],
    pub session_unmatched: &'static str,
    pub flows_hint: &'static [&'static str],
    pub gateway: &'static str,
}

/// English and Japanese comments; every field is needed in both (the type makes it so).
pub fn text(lang: Lang) -> &'static Text {
    match lang {
        Lang::En => &EN,
        Lang::Ja => &JA,
    }
}

const EN: Text = Text {
    header: &[
        "zones.toml for gateway {gw}, written by `zonegate init` from this machine's interfaces.",
        "Everything that no [[flow]] below allows is denied, between zones and to the gateway.",
        "Before enabling the agent, decide (each DECIDE below):",
        "  1. the role of each zone: \"mynumber\", \"lgwan\", \"internet\" or \"external\" (or profile = \"none\");",
        "  2. the zone that leads to the rest of the world: add \"0.0.0.0/0\" and \"::/0\" to its networks;",
        "  3. the hosts, services and flows that must pass, each with purpose, approved_by (and expires);",
        "  4. who approves the management flow below.",
        "Check with `zonegate check FILE`; every key: zones.toml(5), /usr/share/doc/zonegate/zones-reference.md.",
    ],
    zone_decide: "DECIDE: role = \"mynumber\" | \"lgwan\" | \"internet\" | \"external\", and a display_name",
    zone_from: "addresses",
    no_address: "{if} has no global address and carries no zone (give it one under [gateways] when it gets an address)",
    mgmt_host: "the machine this SSH session came from ({ip}): the management station",
    mgmt_routed: "{ip} is not on a network of this machine: it is reached through a router on {if}, so it is added to that zone",
    mgmt_flow: "The management path of the session `zonegate init` ran in, kept open so applying this file does not cut you off.",
    approver: "DECIDE: who approves management access",
    purpose: "management of this gateway over SSH",
    no_session: &[
        "No SSH session: `zonegate init` ran on a console, so no management flow was written.",
        "Add one before enabling the agent if this gateway is managed over the network, e.g.:",
    ],
    session_unmatched: "The SSH session's server address {ip} is on no interface listed above: no management flow was written; add one by hand.",
    flows_hint: &[
        "Add the flows that must pass, for example:",
    ],
    gateway: "which interface carries which zone on this gateway ({gw}: agent.toml gateway = \"{gw}\")",
};

const JA: Text = Text {
    header: &[
        "ゲートウェイ {gw} の zones.toml。`zonegate init` がこのマシンのインターフェースから書いたもの。",
        "下の [[flow]] が許可しない通信は、ゾーン間もゲートウェイ宛ても、すべて遮断される。",
        "エージェントを有効にする前に決めること(下の「要決定」):",
        "  1. 各ゾーンの役割: \"mynumber\"、\"lgwan\"、\"internet\"、\"external\"(または profile = \"none\")",
        "  2. 外部(その他すべて)につながるゾーン: その networks に \"0.0.0.0/0\" と \"::/0\" を加える",
        "  3. 通すべきホスト・サービス・通信(それぞれ purpose、approved_by、必要なら expires)",
        "  4. 下の管理用通信を承認する人",
        "確認: `zonegate check ファイル`。全キーの説明: man -L ja 5 zones.toml、/usr/share/doc/zonegate/zones-reference.ja.md",
    ],
    zone_decide: "要決定: role = \"mynumber\" | \"lgwan\" | \"internet\" | \"external\" と display_name",
    zone_from: "アドレス",
    no_address: "{if} にはグローバルアドレスがないため、どのゾーンにも属さない(アドレスを付けたら [gateways] でゾーンを割り当てる)",
    mgmt_host: "この SSH セッションの接続元 ({ip}): 管理端末",
    mgmt_routed: "{ip} はこのマシンのネットワーク上にない: {if} の先のルーター経由で届くため、そのゾーンに加えた",
    mgmt_flow: "`zonegate init` を実行したセッションの管理経路。このファイルを適用しても管理者が締め出されないよう開けておく。",
    approver: "要決定: 管理アクセスの承認者",
    purpose: "SSH によるこのゲートウェイの管理",
    no_session: &[
        "SSH セッションなし: `zonegate init` はコンソールで実行されたため、管理用通信は書いていない。",
        "ネットワーク経由で管理するなら、エージェントを有効にする前に追加する。例:",
    ],
    session_unmatched: "SSH セッションのサーバーアドレス {ip} は上のどのインターフェースにもない: 管理用通信は書いていない。手で追加すること。",
    flows_hint: &["通すべき通信を追加する。例:"],
    gateway: "このゲートウェイでどのインターフェースがどのゾーンか ({gw}: agent.toml の gateway = \"{gw}\")",
};

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", q.join(", "))
}

/// The first zones.toml of `m`, in `lang`.
pub fn render(m: &Machine, lang: Lang) -> Result<String, InitError> {
    if !valid_gateway(&m.gateway) {
        return Err(InitError::GatewayName(m.gateway.clone()));
    }
    let t = text(lang);
    // Zones: one per distinct set of networks; interfaces on the same network share a zone
    // (one network in two zones is an error, E007).
    let mut zones: Vec<Zone> = Vec::new();
    let mut bare: Vec<&str> = Vec::new();
    for iface in &m.interfaces {
        if iface.addrs.is_empty() {
            bare.push(&iface.name);
            continue;
        }
        let mut nets: Vec<String> = Vec::new();
        for a in &iface.addrs {
            let n = network(*a);
            if !nets.contains(&n) {
                nets.push(n);
            }
        }
        let addrs: Vec<String> = iface
            .addrs
            .iter()
            .map(|a| format!("{}/{}", a.ip, a.len))
            .collect();
        if let Some(z) = zones
            .iter_mut()
            .find(|z| z.networks.iter().any(|n| nets.contains(n)))
        {
            z.interfaces.push(iface.name.clone());
            for n in nets {
                if !z.networks.contains(&n) {
                    z.networks.push(n);
                }
            }
            z.addrs.extend(addrs);
            continue;
        }
        let taken: Vec<String> = zones.iter().map(|z| z.name.clone()).collect();
        zones.push(Zone {
            name: zone_name(&iface.name, &taken),
            networks: nets,
            interfaces: vec![iface.name.clone()],
            addrs,
        });
    }
    if zones.is_empty() {
        return Err(InitError::NoAddresses);
    }

    // The management station: in the zone whose network holds it, else in the zone of the
    // interface that holds the server address (a routed station), with its own /32 or /128.
    enum Mgmt {
        None,
        Unmatched(IpAddr),
        Host {
            zone: usize,
            client: IpAddr,
            port: u16,
            routed: Option<String>,
        },
    }
    let if_addrs = |z: &Zone| -> Vec<IfAddr> {
        m.interfaces
            .iter()
            .filter(|i| z.interfaces.contains(&i.name))
            .flat_map(|i| i.addrs.iter().copied())
            .collect()
    };
    let mgmt = match m.session {
        None => Mgmt::None,
        Some(s) => {
            let direct = zones
                .iter()
                .position(|z| if_addrs(z).iter().any(|a| contains(*a, s.client)));
            let own = zones
                .iter()
                .position(|z| if_addrs(z).iter().any(|a| a.ip == s.server));
            match (direct, own) {
                (Some(zone), _) => Mgmt::Host {
                    zone,
                    client: s.client,
                    port: s.server_port,
                    routed: None,
                },
                (None, Some(zone)) => {
                    let net = format!("{}/{}", s.client, bits(s.client));
                    zones[zone].networks.push(net);
                    let iface = zones[zone].interfaces[0].clone();
                    Mgmt::Host {
                        zone,
                        client: s.client,
                        port: s.server_port,
                        routed: Some(iface),
                    }
                }
                (None, None) => Mgmt::Unmatched(s.server),
            }
        }
    };

    let gw = &m.gateway;
    let mut out = String::new();
    out.push_str("#:schema /usr/share/zonegate/zones.schema.json\n");
    for line in t.header {
        let _ = writeln!(out, "# {}", line.replace("{gw}", gw));
    }
    out.push('\n');
    out.push_str("version = 1\n\n[policy]\n");
    let _ = writeln!(out, "name = {}", quote(gw));
    out.push_str("revision = \"init\"\nprofile = \"three-tier\"\ntimezone = \"Asia/Tokyo\"\n");

    for z in &zones {
        let _ = writeln!(
            out,
            "\n# {}: {} {}",
            z.interfaces.join(", "),
            t.zone_from,
            z.addrs.join(" ")
        );
        let _ = writeln!(out, "[zones.{}]", z.name);
        let _ = writeln!(out, "# {}", t.zone_decide);
        let _ = writeln!(out, "networks = {}", list(&z.networks));
    }
    for b in &bare {
        let _ = writeln!(out, "\n# {}", t.no_address.replace("{if}", b));
    }

    match &mgmt {
        Mgmt::Host {
            zone,
            client,
            port,
            routed,
        } => {
            let _ = writeln!(
                out,
                "\n# {}",
                t.mgmt_host.replace("{ip}", &client.to_string())
            );
            if let Some(iface) = routed {
                let _ = writeln!(
                    out,
                    "# {}",
                    t.mgmt_routed
                        .replace("{ip}", &client.to_string())
                        .replace("{if}", iface)
                );
            }
            out.push_str("[hosts.mgmt-station]\n");
            let _ = writeln!(out, "zone = {}", quote(&zones[*zone].name));
            let _ = writeln!(out, "addresses = [{}]", quote(&client.to_string()));
            let _ = writeln!(out, "\n# {}", t.mgmt_flow);
            out.push_str(
                "[[flow]]\nid = \"mgmt-ssh\"\nfrom = \"mgmt-station\"\nto = \"gateway\"\n",
            );
            let _ = writeln!(out, "ports = [\"tcp/{port}\"]");
            let _ = writeln!(out, "purpose = {}", quote(t.purpose));
            let _ = writeln!(out, "approved_by = {}", quote(t.approver));
        }
        Mgmt::None => {
            out.push('\n');
            for line in t.no_session {
                let _ = writeln!(out, "# {line}");
            }
            let _ = writeln!(
                out,
                "#   [hosts.admin-pc]\n#   zone = \"{}\"\n#   addresses = [\"…\"]\n#   [[flow]]\n#   id = \"mgmt-ssh\"\n#   from = \"admin-pc\"\n#   to = \"gateway\"\n#   ports = [\"tcp/22\"]\n#   purpose = \"…\"\n#   approved_by = \"…\"",
                zones[0].name
            );
        }
        Mgmt::Unmatched(ip) => {
            let _ = writeln!(
                out,
                "\n# {}",
                t.session_unmatched.replace("{ip}", &ip.to_string())
            );
        }
    }
    out.push('\n');
    for line in t.flows_hint {
        let _ = writeln!(out, "# {line}");
    }
    out.push_str(
        "#   [services]\n#   https = [\"tcp/443\"]\n#   [[flow]]\n#   id = \"F-001\"\n#   from = \"ZONE-OR-HOST\"\n#   to = \"ZONE-OR-HOST\"\n#   services = [\"https\"]\n#   purpose = \"…\"\n#   approved_by = \"…\"\n",
    );

    let _ = writeln!(out, "\n# {}", t.gateway.replace("{gw}", gw));
    let _ = writeln!(out, "[gateways.{gw}]");
    let ifs: Vec<String> = zones
        .iter()
        .map(|z| format!("{} = {}", z.name, list(&z.interfaces)))
        .collect();
    let _ = writeln!(out, "interfaces = {{ {} }}", ifs.join(", "));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Severity;

    fn iface(name: &str, addrs: &[&str]) -> Interface {
        Interface {
            name: name.into(),
            addrs: addrs
                .iter()
                .map(|a| {
                    let (ip, len) = a.split_once('/').expect("cidr");
                    IfAddr {
                        ip: ip.parse().expect("ip"),
                        len: len.parse().expect("len"),
                    }
                })
                .collect(),
        }
    }

    /// Renders in both languages and checks each as `zonegate check` does; returns English.
    fn checked(m: &Machine) -> String {
        let mut en = String::new();
        for lang in [Lang::En, Lang::Ja] {
            let text = render(m, lang).expect("render");
            let today = crate::Date::parse("2026-12-01");
            let c = crate::validate("zones.toml", &text, today);
            let errors: Vec<String> = c
                .diagnostics
                .items
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| format!("{d:?}"))
                .collect();
            assert!(errors.is_empty(), "{text}\n{errors:#?}");
            let p = c.policy.expect("policy");
            let ruleset = crate::compile(&p, &m.gateway).expect("compiles");
            assert!(!ruleset.text.is_empty());
            if lang == Lang::En {
                en = text;
            }
        }
        en
    }

    #[test]
    fn ssh_session_becomes_the_management_flow() {
        let m = Machine {
            gateway: "gw1".into(),
            interfaces: vec![
                iface("ens3", &["10.10.0.1/24", "fd00:10::1/64"]),
                iface("ens4", &["10.20.0.1/22"]),
            ],
            session: parse_ssh_connection("10.20.0.50 51000 10.20.0.1 22"),
        };
        let text = checked(&m);
        assert!(text.contains("[zones.ens3]\n"), "{text}");
        assert!(text.contains("networks = [\"10.10.0.0/24\", \"fd00:10::/64\"]"));
        assert!(text.contains("networks = [\"10.20.0.0/22\"]"));
        assert!(text.contains("zone = \"ens4\"\naddresses = [\"10.20.0.50\"]"));
        assert!(text.contains("ports = [\"tcp/22\"]"));
        assert!(text.contains("interfaces = { ens3 = [\"ens3\"], ens4 = [\"ens4\"] }"));
        let p = crate::validate("zones.toml", &text, crate::Date::parse("2026-12-01"))
            .policy
            .expect("policy");
        assert_eq!(p.flows.len(), 1);
    }

    #[test]
    fn no_session_no_flow_everything_denied() {
        let m = Machine {
            gateway: "edge-1".into(),
            interfaces: vec![iface("eth0", &["192.0.2.10/24"])],
            session: None,
        };
        let text = checked(&m);
        assert!(text.contains("No SSH session"));
        assert!(!text.contains("\n[[flow]]"));
    }

    #[test]
    fn ipv6_only_and_routed_station() {
        let m = Machine {
            gateway: "gw6".into(),
            interfaces: vec![
                iface("ens3", &["2001:db8:1::1/64"]),
                iface("ens4", &["2001:db8:2::1/64"]),
            ],
            session: parse_ssh_connection("2001:db8:99::5 40000 2001:db8:2::1 2222"),
        };
        let text = checked(&m);
        assert!(
            text.contains("\"2001:db8:2::/64\", \"2001:db8:99::5/128\""),
            "{text}"
        );
        assert!(text.contains("tcp/2222"));
    }

    #[test]
    fn interfaces_on_one_network_share_a_zone_and_odd_names_are_made_valid() {
        let m = Machine {
            gateway: "gw1".into(),
            interfaces: vec![
                iface("br-lan.100", &["10.0.0.1/24"]),
                iface("0wan", &["10.0.0.2/24"]),
                iface("wg0", &[]),
                iface("5g", &["198.51.100.2/30"]),
            ],
            session: parse_ssh_connection("::ffff:10.0.0.77 5 ::ffff:10.0.0.1 22"),
        };
        let text = checked(&m);
        assert!(
            text.contains("br_lan_100 = [\"br-lan.100\", \"0wan\"]"),
            "{text}"
        );
        assert!(text.contains("if_5g = [\"5g\"]"));
        assert!(text.contains("wg0 has no global address"));
        assert!(text.contains("addresses = [\"10.0.0.77\"]"));
    }

    #[test]
    fn session_on_no_interface_writes_no_flow() {
        let m = Machine {
            gateway: "gw1".into(),
            interfaces: vec![iface("eth0", &["10.0.0.1/24"])],
            session: parse_ssh_connection("127.0.0.1 5 127.0.0.1 22"),
        };
        let text = checked(&m);
        assert!(text.contains("on no interface"));
        assert!(!text.contains("\n[[flow]]"));
    }

    #[test]
    fn no_addresses_is_an_error_that_says_what_to_do() {
        let m = Machine {
            gateway: "gw1".into(),
            interfaces: vec![iface("eth0", &[])],
            session: None,
        };
        assert_eq!(render(&m, Lang::En), Err(InitError::NoAddresses));
        let bad = Machine {
            gateway: "my gw".into(),
            ..m
        };
        assert!(matches!(
            render(&bad, Lang::En),
            Err(InitError::GatewayName(_))
        ));
    }

    #[test]
    fn ip_json_keeps_global_addresses_only() {
        let json = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},
        {"ifindex":2,"ifname":"ens3","flags":["UP"],"addr_info":[{"family":"inet","local":"10.1.0.1","prefixlen":24,"scope":"global"},{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]},
        {"ifindex":3,"ifname":"ens4","flags":[],"addr_info":[]}]"#;
        let ifs = parse_ip_addr_json(json).expect("parse");
        assert_eq!(ifs.len(), 2);
        assert_eq!(ifs[0].addrs.len(), 1);
        assert!(ifs[1].addrs.is_empty());
        assert!(parse_ip_addr_json("{").is_err());
        assert_eq!(parse_ssh_connection("garbage"), None);
    }

    #[test]
    fn locale_picks_the_language() {
        assert_eq!(Lang::from_locale(None, None, Some("ja_JP.UTF-8")), Lang::Ja);
        assert_eq!(
            Lang::from_locale(Some("C"), None, Some("ja_JP.UTF-8")),
            Lang::En
        );
        assert_eq!(Lang::from_locale(None, None, None), Lang::En);
    }
}
