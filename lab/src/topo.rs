//! The lab's topology, derived from the policy: one namespace for the gateway and one per zone
//! it has an interface in, joined by veth pairs named like the policy's interfaces (`ens3` …).
//! Every host of a zone gets the addresses the policy names; the gateway gets the first address
//! of each zone network. A zone that is a catch-all (`0.0.0.0/0`, the Internet) gets a
//! documentation prefix and one lab web server, so there is something to reach.
//!
//! Hosts with a MAC pin must send from their own MAC address (the anti-spoof check drops
//! anything else), so a zone with more than one pinned host becomes a small switch: a bridge
//! in the zone namespace with one veth "NIC" per pinned host and policy routing by source
//! address. This kernel has no macvlan. Names are fixed (`zglab-gw1`, `zglab-mynumber`, …) so
//! a person can enter them; only one lab runs at a time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zonegate_policy::net::{from_int, Family};
use zonegate_policy::Policy;

/// Absolute path of iproute2's `ip`.
pub const IP: &str = "/usr/sbin/ip";
/// Prefix of every lab namespace.
pub const PREFIX: &str = "zglab-";
/// Documentation prefixes (RFC 5737, RFC 3849) for a catch-all zone such as the Internet.
const CATCHALL_V4: (&str, u8) = ("203.0.113.0", 24);
const CATCHALL_V6: (&str, u8) = ("2001:db8:203::", 64);
/// Offset of the lab's own host in a zone that has none (`….80`, `…::80`).
const LAB_HOST_OFFSET_V4: u128 = 80;
const LAB_HOST_OFFSET_V6: u128 = 0x80;

/// An address with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addr {
    pub ip: IpAddr,
    pub len: u8,
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ip, self.len)
    }
}

/// One host as the lab places it.
#[derive(Debug, Clone)]
pub struct LabHost {
    /// The policy's host name, or `<zone>-server` for the lab's own.
    pub name: String,
    pub addrs: Vec<IpAddr>,
    pub mac: Option<String>,
    /// Not in the policy: placed by the lab so the zone has a host.
    pub synthetic: bool,
}

/// A network interface of a zone namespace that carries addresses.
#[derive(Debug, Clone)]
pub struct Nic {
    /// `eth0` when the zone needs one NIC, else `h0`, `h1`, … on the zone's bridge.
    pub name: String,
    pub mac: Option<String>,
    pub addrs: Vec<Addr>,
    pub hosts: Vec<String>,
}

/// One zone: a namespace behind one gateway interface.
#[derive(Debug, Clone)]
pub struct Segment {
    pub zone: String,
    pub label: String,
    pub gw_if: String,
    pub ns: String,
    pub gw_addrs: Vec<Addr>,
    pub nics: Vec<Nic>,
    pub hosts: Vec<LabHost>,
}

impl Segment {
    /// The gateway's first address of `family` on this segment.
    pub fn gw_ip(&self, family: Family) -> Option<IpAddr> {
        self.gw_addrs
            .iter()
            .map(|a| a.ip)
            .find(|ip| Family::of(ip) == family)
    }

    /// Whether the zone needs a bridge (more than one NIC).
    pub fn bridged(&self) -> bool {
        self.nics.len() > 1
    }
}

/// The whole lab.
#[derive(Debug, Clone)]
pub struct Topology {
    pub gateway: String,
    pub gw_ns: String,
    pub segments: Vec<Segment>,
}

impl Topology {
    /// The topology for gateway `gateway` of `policy`.
    pub fn from_policy(policy: &Policy, gateway: &str) -> Result<Topology, String> {
        let gw = policy
            .gateways
            .get(gateway)
            .ok_or_else(|| format!("the policy has no gateway {gateway:?}"))?;
        let mut segments = Vec::new();
        // BTreeMap order: interfaces by name (ens3, ens4, …).
        let mut seen_zones = BTreeMap::new();
        for (iface, zone_name) in &gw.interfaces {
            if seen_zones
                .insert(zone_name.clone(), iface.clone())
                .is_some()
            {
                // A second interface of the same zone: the lab wires one per zone.
                continue;
            }
            let zone = policy
                .zones
                .get(zone_name)
                .ok_or_else(|| format!("interface {iface}: unknown zone {zone_name}"))?;
            let catch_all = zone.networks.iter().all(|n| n.len == 0);
            let mut gw_addrs = Vec::new();
            let mut nets = Vec::new();
            if catch_all {
                for (base, len) in [CATCHALL_V4, CATCHALL_V6] {
                    let ip: IpAddr = base.parse().map_err(|e| format!("{base}: {e}"))?;
                    if zone.families().contains(&Family::of(&ip)) {
                        nets.push((ip, len));
                    }
                }
            } else {
                for n in zone.networks.iter().filter(|n| n.len > 0) {
                    nets.push((from_int(n.family, n.base), n.len));
                }
            }
            for (base, len) in &nets {
                gw_addrs.push(Addr {
                    ip: offset(*base, 1),
                    len: *len,
                });
            }
            let prefix_of = |ip: &IpAddr| -> Option<u8> {
                nets.iter()
                    .filter(|(base, len)| within(ip, base, *len))
                    .map(|(_, len)| *len)
                    .max()
            };
            let mut hosts: Vec<LabHost> = policy
                .hosts
                .values()
                .filter(|h| &h.zone == zone_name)
                .map(|h| LabHost {
                    name: h.name.clone(),
                    addrs: h.addresses.clone(),
                    mac: h.mac.clone(),
                    synthetic: false,
                })
                .collect();
            if hosts.is_empty() {
                hosts.push(LabHost {
                    name: format!("{zone_name}-server"),
                    addrs: nets
                        .iter()
                        .map(|(base, _)| {
                            let n = if base.is_ipv4() {
                                LAB_HOST_OFFSET_V4
                            } else {
                                LAB_HOST_OFFSET_V6
                            };
                            offset(*base, n)
                        })
                        .collect(),
                    mac: None,
                    synthetic: true,
                });
            }
            let nics = nics_for(&hosts, &prefix_of)?;
            segments.push(Segment {
                zone: zone_name.clone(),
                label: zone.label().to_string(),
                gw_if: iface.clone(),
                ns: format!("{PREFIX}{zone_name}"),
                gw_addrs,
                nics,
                hosts,
            });
        }
        Ok(Topology {
            gateway: gateway.to_string(),
            gw_ns: format!("{PREFIX}{gateway}"),
            segments,
        })
    }

    /// Every namespace, the gateway first.
    pub fn namespaces(&self) -> Vec<String> {
        std::iter::once(self.gw_ns.clone())
            .chain(self.segments.iter().map(|s| s.ns.clone()))
            .collect()
    }

    /// The segment of a zone.
    pub fn segment(&self, zone: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.zone == zone)
    }

    /// Creates every namespace, link, address and route, and waits until links are up.
    pub fn build(&self) -> Result<(), String> {
        let adds: Vec<String> = self
            .namespaces()
            .iter()
            .map(|ns| format!("netns add {ns}"))
            .collect();
        ip_batch(None, &adds)?;
        write_sysctls(&self.gw_ns, true)?;
        for s in &self.segments {
            write_sysctls(&s.ns, false)?;
        }
        // Each veth end is born in its namespace; distinct ifindexes avoid the kernel's slow
        // link-up for peers with equal indexes (see tests/src/lab.rs).
        let links: Vec<String> = self
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    "link add {} netns {} index {} type veth peer name eth0 netns {} index {}",
                    s.gw_if,
                    self.gw_ns,
                    100 + i,
                    s.ns,
                    1000 + i
                )
            })
            .collect();
        ip_batch(None, &links)?;
        let mut gw = vec!["link set lo up".to_string()];
        for s in &self.segments {
            for a in &s.gw_addrs {
                gw.push(addr_line(a, &s.gw_if));
            }
            gw.push(format!("link set {} up", s.gw_if));
        }
        ip_batch(Some(&self.gw_ns), &gw)?;
        for s in &self.segments {
            let (lines, rules6) = segment_lines(s);
            ip_batch(Some(&s.ns), &lines)?;
            // `ip rule` takes its family from the command line, not from the address.
            ip_batch6(&s.ns, &rules6)?;
        }
        self.wait_up(Duration::from_secs(5))
    }

    fn wait_up(&self, timeout: Duration) -> Result<(), String> {
        let end = Instant::now() + timeout;
        for ns in self.namespaces() {
            loop {
                let out = Command::new(IP)
                    .args(["-n", &ns, "-j", "link", "show"])
                    .output()
                    .map_err(|e| format!("ip: {e}"))?;
                let v: serde_json::Value =
                    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
                let down = v.as_array().into_iter().flatten().any(|l| {
                    let name = l["ifname"].as_str().unwrap_or("");
                    name != "lo" && l["operstate"] != "UP" && l["operstate"] != "UNKNOWN"
                });
                if !down {
                    break;
                }
                if Instant::now() > end {
                    return Err(format!("links in {ns} did not come up"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(())
    }

    /// A short description, one line per zone.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for s in &self.segments {
            let hosts: Vec<String> = s
                .hosts
                .iter()
                .map(|h| {
                    let addrs: Vec<String> = h.addrs.iter().map(|a| a.to_string()).collect();
                    let lab = if h.synthetic { " (lab)" } else { "" };
                    format!("{}{lab} {}", h.name, addrs.join(" "))
                })
                .collect();
            let gw: Vec<String> = s.gw_addrs.iter().map(|a| a.to_string()).collect();
            let _ = writeln!(
                out,
                "{:<16} {:<5} gateway {:<28} hosts: {}",
                s.ns,
                s.gw_if,
                gw.join(" "),
                hosts.join(", ")
            );
        }
        out
    }
}

/// Groups a zone's hosts into NICs: one per pinned MAC, the unpinned ones on the first.
fn nics_for(
    hosts: &[LabHost],
    prefix_of: &dyn Fn(&IpAddr) -> Option<u8>,
) -> Result<Vec<Nic>, String> {
    let mut nics: Vec<Nic> = Vec::new();
    let mut unpinned = Nic {
        name: String::new(),
        mac: None,
        addrs: Vec::new(),
        hosts: Vec::new(),
    };
    for h in hosts {
        let addrs = h
            .addrs
            .iter()
            .map(|ip| {
                let len = prefix_of(ip).ok_or_else(|| {
                    format!("host {}: {ip} is in none of its zone's networks", h.name)
                })?;
                Ok(Addr { ip: *ip, len })
            })
            .collect::<Result<Vec<_>, String>>()?;
        match &h.mac {
            Some(mac) => nics.push(Nic {
                name: String::new(),
                mac: Some(mac.clone()),
                addrs,
                hosts: vec![h.name.clone()],
            }),
            None => {
                unpinned.addrs.extend(addrs);
                unpinned.hosts.push(h.name.clone());
            }
        }
    }
    if !unpinned.hosts.is_empty() {
        if let Some(first) = nics.first_mut() {
            // Unpinned addresses may share the first pinned host's NIC: only pins need a MAC.
            first.addrs.extend(unpinned.addrs);
            first.hosts.extend(unpinned.hosts);
        } else {
            nics.push(unpinned);
        }
    }
    let single = nics.len() == 1;
    for (i, n) in nics.iter_mut().enumerate() {
        n.name = if single {
            "eth0".to_string()
        } else {
            format!("h{i}")
        };
    }
    Ok(nics)
}

/// The `ip -batch` lines of one zone namespace, and its IPv6 `rule` lines (for `ip -6`).
fn segment_lines(s: &Segment) -> (Vec<String>, Vec<String>) {
    let mut lines = vec!["link set lo up".to_string()];
    let mut rules6 = Vec::new();
    // Default routes via the gateway, for the families `addrs` has.
    let routes = |lines: &mut Vec<String>, dev: &str, table: Option<u32>, addrs: &[Addr]| {
        let t = table.map(|t| format!(" table {t}")).unwrap_or_default();
        let has = |v4: bool| addrs.iter().any(|a| a.ip.is_ipv4() == v4);
        if let Some(v4) = s.gw_ip(Family::V4).filter(|_| has(true)) {
            lines.push(format!("route add 0.0.0.0/0 via {v4} dev {dev}{t}"));
        }
        if let Some(v6) = s.gw_ip(Family::V6).filter(|_| has(false)) {
            lines.push(format!("route add ::/0 via {v6} dev {dev}{t}"));
        }
    };
    if !s.bridged() {
        let nic = &s.nics[0];
        if let Some(mac) = &nic.mac {
            lines.push(format!("link set eth0 address {mac}"));
        }
        for a in &nic.addrs {
            lines.push(addr_line(a, "eth0"));
        }
        lines.push("link set eth0 up".into());
        routes(&mut lines, "eth0", None, &nic.addrs);
        return (lines, rules6);
    }
    lines.push("link add br0 type bridge".into());
    lines.push("link set eth0 master br0".into());
    lines.push("link set eth0 up".into());
    lines.push("link set br0 up".into());
    for (i, nic) in s.nics.iter().enumerate() {
        let port = format!("p{i}");
        lines.push(format!("link add {} type veth peer name {port}", nic.name));
        lines.push(format!("link set {port} master br0"));
        lines.push(format!("link set {port} up"));
        if let Some(mac) = &nic.mac {
            lines.push(format!("link set {} address {mac}", nic.name));
        }
        for a in &nic.addrs {
            lines.push(addr_line(a, &nic.name));
        }
        lines.push(format!("link set {} up", nic.name));
    }
    for (i, nic) in s.nics.iter().enumerate() {
        let table = 100 + i as u32;
        // Replies and new connections from a host's address leave through its own NIC (and
        // so with its own MAC address).
        for a in &nic.addrs {
            let rule = format!("rule add from {} table {table}", a.ip);
            if a.ip.is_ipv6() {
                rules6.push(rule);
            } else {
                lines.push(rule);
            }
            let net = network_of(a);
            lines.push(format!("route add {net} dev {} table {table}", nic.name));
        }
        routes(&mut lines, &nic.name, Some(table), &nic.addrs);
    }
    routes(&mut lines, &s.nics[0].name, None, &s.nics[0].addrs);
    (lines, rules6)
}

/// `addr add` line; IPv6 with `nodad` so it is usable at once.
fn addr_line(a: &Addr, dev: &str) -> String {
    if a.ip.is_ipv6() {
        format!("addr add {a} dev {dev} nodad")
    } else {
        format!("addr add {a} dev {dev}")
    }
}

/// The network `a` lies in, as `base/len`.
fn network_of(a: &Addr) -> String {
    let fam = Family::of(&a.ip);
    let bits: u32 = if a.ip.is_ipv4() { 32 } else { 128 };
    let v = zonegate_policy::net::to_int(&a.ip);
    let host_bits = bits - u32::from(a.len);
    let base = if host_bits >= 128 {
        0
    } else {
        (v >> host_bits) << host_bits
    };
    format!("{}/{}", from_int(fam, base), a.len)
}

fn offset(base: IpAddr, n: u128) -> IpAddr {
    let fam = Family::of(&base);
    from_int(fam, zonegate_policy::net::to_int(&base) + n)
}

fn within(ip: &IpAddr, base: &IpAddr, len: u8) -> bool {
    if ip.is_ipv4() != base.is_ipv4() {
        return false;
    }
    let bits: u32 = if ip.is_ipv4() { 32 } else { 128 };
    let host_bits = bits - u32::from(len);
    if host_bits >= 128 {
        return true;
    }
    let a = zonegate_policy::net::to_int(ip) >> host_bits;
    let b = zonegate_policy::net::to_int(base) >> host_bits;
    a == b
}

/// Sysctls written from a thread inside the namespace (`/proc/sys/net` is per namespace).
fn write_sysctls(ns: &str, gateway: bool) -> Result<(), String> {
    let mut settings = vec![
        ("net/ipv6/conf/all/accept_dad", "0"),
        ("net/ipv6/conf/default/accept_dad", "0"),
        // Several NICs on one subnet: each answers ARP only for its own addresses.
        ("net/ipv4/conf/all/arp_ignore", "1"),
        ("net/ipv4/conf/default/arp_ignore", "1"),
        ("net/ipv4/icmp_ratelimit", "0"),
        ("net/ipv6/icmp/ratelimit", "0"),
    ];
    if gateway {
        settings.push(("net/ipv4/ip_forward", "1"));
        settings.push(("net/ipv6/conf/all/forwarding", "1"));
    }
    zonegate_e2e::lab::try_in_ns(ns, || -> Result<(), String> {
        for (key, value) in &settings {
            let path = Path::new("/proc/sys").join(key);
            std::fs::write(&path, value).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?
}

/// `ip [-n NS] -batch -` with `lines`.
fn ip_batch(ns: Option<&str>, lines: &[String]) -> Result<(), String> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut cmd = Command::new(IP);
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    cmd.args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("{IP}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let text = lines.join("\n") + "\n";
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("ip -batch: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("ip -batch: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip{} -batch failed: {}",
            ns.map(|n| format!(" -n {n}")).unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `ip -6 -n NS -batch -` with `lines`.
fn ip_batch6(ns: &str, lines: &[String]) -> Result<(), String> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut child = Command::new(IP)
        .args(["-6", "-n", ns, "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{IP}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all((lines.join("\n") + "\n").as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip -6 -n {ns} -batch failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Deletes the namespaces that exist among `names`.
pub fn delete_namespaces(names: &[String]) -> Result<(), String> {
    let lines: Vec<String> = names
        .iter()
        .filter(|n| exists(n))
        .map(|n| format!("netns del {n}"))
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    let _ = Command::new(IP)
        .args(["-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .and_then(|mut c| {
            if let Some(mut stdin) = c.stdin.take() {
                let _ = stdin.write_all((lines.join("\n") + "\n").as_bytes());
            }
            c.wait()
        });
    let left: Vec<&String> = names.iter().filter(|n| exists(n)).collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("namespaces not deleted: {left:?}"))
    }
}

/// Whether namespace `name` exists.
pub fn exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// Lab namespaces that exist now (from an earlier `--keep` or a killed run).
pub fn existing() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(PREFIX))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_policy_gives_one_segment_per_zone() {
        let text = include_str!("../../zones.toml");
        let checked = zonegate_policy::validate(
            "zones.toml",
            text,
            zonegate_policy::Date::parse("2026-11-25"),
        );
        let policy = checked.policy.expect("bundled policy is valid");
        let t = Topology::from_policy(&policy, "gw1").expect("topology");
        let zones: Vec<&str> = t.segments.iter().map(|s| s.zone.as_str()).collect();
        assert_eq!(zones, ["mynumber", "lgwan", "internet", "uplink"]);
        let mn = t.segment("mynumber").expect("mynumber");
        // Two MAC-pinned hosts: a bridge with one NIC each.
        assert!(mn.bridged());
        assert_eq!(mn.nics.len(), 2);
        assert_eq!(mn.gw_ip(Family::V4), Some("10.10.0.1".parse().expect("ip")));
        let lg = t.segment("lgwan").expect("lgwan");
        assert!(!lg.bridged());
        assert!(lg.nics[0]
            .addrs
            .iter()
            .any(|a| a.to_string() == "10.20.1.11/22"));
        let up = t.segment("uplink").expect("uplink");
        assert_eq!(up.hosts[0].addrs[0].to_string(), "203.0.113.80");
        assert_eq!(up.hosts[0].addrs[1].to_string(), "2001:db8:203::80");
        assert!(up.hosts[0].synthetic);
    }

    #[test]
    fn networks_and_containment() {
        let a = Addr {
            ip: "10.20.1.11".parse().expect("ip"),
            len: 22,
        };
        assert_eq!(network_of(&a), "10.20.0.0/22");
        let b = Addr {
            ip: "fd00:10::5".parse().expect("ip"),
            len: 64,
        };
        assert_eq!(network_of(&b), "fd00:10::/64");
        assert!(within(
            &"10.20.3.1".parse().expect("ip"),
            &"10.20.0.0".parse().expect("ip"),
            22
        ));
        assert!(!within(
            &"10.20.4.1".parse().expect("ip"),
            &"10.20.0.0".parse().expect("ip"),
            22
        ));
    }
}
