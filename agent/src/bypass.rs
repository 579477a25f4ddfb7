//! Bypass watch: a drop in our table is final only against
//! the paths that reach our hooks. This scans, at start, on every foreign ruleset change and on
//! every link change, for what can deliver traffic around us: other tables and their hooks (any
//! family), statements that forward, copy, queue or redirect packets, switch off or steer
//! connection tracking, or write ct marks (ours); zone interfaces enslaved to a bridge, bond or
//! VRF, or running XDP; iptables-legacy tables; risky sysctls, including ARP settings that tell
//! one zone the gateway's addresses in the others. Scanning is pure over its inputs
//! ([`scan_table`], [`scan_links`], [`scan_sysctls`], [`scan_arp`]); [`Inventory`] turns scans
//! into found/cleared events.

use crate::events::EventKind;
use crate::netlink::link::Link;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub kind: String,
    pub subject: String,
    pub detail: String,
    pub why: String,
}

impl Finding {
    fn new(kind: &str, subject: String, detail: String, why: &str) -> Finding {
        Finding {
            kind: kind.into(),
            subject,
            detail,
            why: why.into(),
        }
    }

    fn key(&self) -> (String, String) {
        (self.kind.clone(), self.subject.clone())
    }
}

/// Statements that deliver around our forward hook, with the reason.
const RISKY_STATEMENTS: &[(&str, &str, &str)] = &[
    (
        "fwd",
        "fwd",
        "forwards packets at ingress, before our hooks see them",
    ),
    (
        "dup",
        "dup",
        "copies packets to another address or device: the copy skips our hooks",
    ),
    (
        "queue",
        "queue",
        "hands packets to a userspace program that may reinject or forward them",
    ),
    (
        "redirect",
        "redirect",
        "delivers packets to a local process, which can relay them across zones",
    ),
    (
        "dnat",
        "dnat",
        "rewrites destinations: traffic may reach the gateway or another zone unexpectedly",
    ),
    (
        "tproxy",
        "tproxy",
        "delivers packets to a local transparent proxy",
    ),
    (
        "notrack",
        "notrack",
        "switches off connection tracking, which our zone checks rely on",
    ),
    (
        "flow",
        "flow-offload",
        "offloads connections to a flowtable: later packets skip our forward chain",
    ),
    (
        "synproxy",
        "synproxy",
        "answers and replays connections outside our flow checks",
    ),
];

fn walk<'a>(v: &'a Value, out: &mut Vec<(&'a str, &'a Value)>) {
    match v {
        Value::Object(o) => {
            for (k, val) in o {
                out.push((k.as_str(), val));
                walk(val, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
        _ => {}
    }
}

/// Findings in one foreign table's listing (`nft -s -j list table FAMILY NAME`).
pub fn scan_table(family: &str, name: &str, listing: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let subject = format!("table {family} {name}");
    let items = listing
        .get("nftables")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut hooks = Vec::new();
    for item in &items {
        let Some((kind, body)) = item.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        match kind.as_str() {
            "chain" => {
                if let Some(hook) = body.get("hook").and_then(Value::as_str) {
                    let mut h = format!(
                        "{} {hook} prio {}",
                        body.get("name").and_then(Value::as_str).unwrap_or("?"),
                        body.get("prio").map(|p| p.to_string()).unwrap_or_default()
                    );
                    if let Some(dev) = body.get("dev") {
                        h.push_str(&format!(" dev {dev}"));
                    }
                    if let Some(p) = body.get("policy").and_then(Value::as_str) {
                        h.push_str(&format!(" policy {p}"));
                    }
                    hooks.push(h);
                }
            }
            "ct helper" => out.push(Finding::new(
                "ct-helper",
                format!(
                    "{subject} helper {}",
                    body.get("name").and_then(Value::as_str).unwrap_or("?")
                ),
                body.to_string(),
                "a conntrack helper creates expected connections whose ports the peer chooses",
            )),
            "flowtable" => out.push(Finding::new(
                "flowtable",
                format!(
                    "{subject} flowtable {}",
                    body.get("name").and_then(Value::as_str).unwrap_or("?")
                ),
                body.to_string(),
                "offloaded connections skip the forward hook, so revocation does not cut them",
            )),
            "rule" => {
                let chain = body.get("chain").and_then(Value::as_str).unwrap_or("?");
                let mut nodes = Vec::new();
                if let Some(expr) = body.get("expr") {
                    walk(expr, &mut nodes);
                }
                let mut seen = BTreeSet::new();
                for (k, val) in nodes {
                    for (stmt, kind, why) in RISKY_STATEMENTS {
                        if k == *stmt && seen.insert(*kind) {
                            out.push(Finding::new(
                                kind,
                                format!("{subject} chain {chain}"),
                                format!("{k} {val}"),
                                why,
                            ));
                        }
                    }
                    if k == "mangle" {
                        let key = val
                            .get("key")
                            .and_then(|k| k.get("ct"))
                            .and_then(|c| c.get("key"))
                            .and_then(Value::as_str);
                        match key {
                            Some("mark") if seen.insert("ct-mark-write") => out.push(Finding::new(
                                "ct-mark-write",
                                format!("{subject} chain {chain}"),
                                val.to_string(),
                                "ct mark belongs to zonegate: a foreign write can stamp a permitted flow's mark on any connection",
                            )),
                            Some("helper") if seen.insert("ct-helper-set") => out.push(Finding::new(
                                "ct-helper",
                                format!("{subject} chain {chain}"),
                                val.to_string(),
                                "a conntrack helper creates expected connections whose ports the peer chooses",
                            )),
                            Some("zone") if seen.insert("ct-zone-set") => out.push(Finding::new(
                                "ct-zone-write",
                                format!("{subject} chain {chain}"),
                                val.to_string(),
                                "a foreign conntrack zone splits connection state our rules rely on",
                            )),
                            _ => {}
                        }
                    }
                    if k == "ct helper" && seen.insert("ct-helper-stmt") {
                        out.push(Finding::new(
                            "ct-helper",
                            format!("{subject} chain {chain}"),
                            val.to_string(),
                            "a conntrack helper creates expected connections whose ports the peer chooses",
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    if !hooks.is_empty() {
        out.push(Finding::new(
            "foreign-hook",
            subject,
            hooks.join(", "),
            match family {
                "netdev" | "bridge" => "runs before or beside the IP hooks: it can forward or deliver traffic our table never sees",
                _ => "another table on the packet path: it cannot undo our drops, but it can deliver around them (dnat, redirect, dup)",
            },
        ));
    }
    out
}

/// Findings about the zone interfaces: missing, enslaved, running XDP.
pub fn scan_links(links: &[Link], zone_ifaces: &BTreeMap<String, String>) -> Vec<Finding> {
    let by_index: BTreeMap<i32, &Link> = links.iter().map(|l| (l.index, l)).collect();
    let mut out = Vec::new();
    for (iface, zone) in zone_ifaces {
        let Some(link) = links.iter().find(|l| &l.name == iface) else {
            out.push(Finding::new(
                "interface-missing",
                format!("interface {iface}"),
                format!("zone {zone}"),
                "a zone interface is absent: if it reappears under another name, or another device takes its name, the zone binding is wrong",
            ));
            continue;
        };
        if let Some(m) = link.master {
            let master = by_index
                .get(&(m as i32))
                .map(|l| format!("{} ({})", l.name, l.kind.clone().unwrap_or_default()))
                .unwrap_or_else(|| format!("ifindex {m}"));
            out.push(Finding::new(
                "enslaved-interface",
                format!("interface {iface}"),
                format!("zone {zone}, master {master}"),
                "an interface in a bridge, bond or VRF is seen under its master's name: bridged traffic can cross zones without our forward hook",
            ));
        }
        if link.xdp {
            out.push(Finding::new(
                "xdp",
                format!("interface {iface}"),
                format!("zone {zone}"),
                "an XDP program handles packets before netfilter and can redirect them",
            ));
        }
    }
    out
}

/// Risky sysctls. `read` returns the content of a file under /proc/sys/net (e.g.
/// "ipv4/conf/all/accept_redirects").
pub fn scan_sysctls(read: &dyn Fn(&str) -> Option<String>, ifaces: &[String]) -> Vec<Finding> {
    let val = |p: &str| read(p).map(|s| s.trim().to_string());
    let on = |p: &str| val(p).is_some_and(|v| v != "0");
    let mut out = Vec::new();
    let mut risky = |key: String, why: &str| {
        let value = val(&key).unwrap_or_default();
        out.push(Finding::new(
            "sysctl",
            format!("net.{}", key.replace('/', ".")),
            format!("= {value}"),
            why,
        ));
    };
    for fam in ["ipv4", "ipv6"] {
        if on(&format!("{fam}/conf/all/accept_source_route")) {
            risky(
                format!("{fam}/conf/all/accept_source_route"),
                "source-routed packets choose their own path through the gateway",
            );
        }
    }
    for iface in ifaces {
        for fam in ["ipv4", "ipv6"] {
            let all = format!("{fam}/conf/all/accept_redirects");
            let this = format!("{fam}/conf/{iface}/accept_redirects");
            // IPv4 honours redirects when both are on; IPv6 when the interface's is.
            if on(&this) && (fam == "ipv6" || on(&all)) {
                risky(
                    this,
                    "ICMP redirects from a zone can change the gateway's routes",
                );
            }
        }
        if on(&format!("ipv4/conf/{iface}/proxy_arp")) {
            risky(
                format!("ipv4/conf/{iface}/proxy_arp"),
                "the gateway answers ARP for other zones' addresses",
            );
        }
        if on(&format!("ipv6/conf/{iface}/proxy_ndp")) {
            risky(
                format!("ipv6/conf/{iface}/proxy_ndp"),
                "the gateway answers neighbour discovery for other zones' addresses",
            );
        }
        if on(&format!("ipv4/conf/{iface}/send_redirects")) && on("ipv4/conf/all/send_redirects") {
            risky(
                format!("ipv4/conf/{iface}/send_redirects"),
                "the gateway tells hosts of one zone to talk directly to another",
            );
        }
    }
    out
}

/// One ARP setting whose weak values tell a zone about the gateway's addresses in other zones.
struct ArpCheck {
    key: &'static str,
    /// What `net.ipv4.conf.all.<key>` should be set to, and what else would do.
    want: i64,
    or: &'static str,
    /// Whether an effective value keeps each zone's addresses to its own interface.
    safe: fn(i64) -> bool,
    why: &'static str,
}

/// Linux reads both as the larger of `conf/all` and `conf/<if>`. `arp_ignore`: 1 and 2 answer
/// only for addresses of the receiving interface, 8 never answers; 0 and 3 to 7 answer for any
/// local address. `arp_announce`: only 2 always takes the outgoing interface's own address as
/// the source of a request; any other value may use an address of another zone.
const ARP_CHECKS: &[ArpCheck] = &[
    ArpCheck {
        key: "arp_ignore",
        want: 1,
        or: " (or 2)",
        safe: |v| matches!(v, 1 | 2 | 8),
        why: "the gateway answers ARP requests on this interface for its addresses in every other zone: hosts of this zone learn the gateway's addresses across the boundary",
    },
    ArpCheck {
        key: "arp_announce",
        want: 2,
        or: "",
        safe: |v| v == 2,
        why: "the gateway's ARP requests on this interface may carry its address in another zone as the sender, telling this zone about it",
    },
];

/// `net.ipv4.conf.all.<key>` and `net.ipv4.conf.<iface>.<key>`; None if either cannot be read
/// or parsed.
fn arp_values(read: &dyn Fn(&str) -> Option<String>, key: &str, iface: &str) -> Option<(i64, i64)> {
    let int = |scope: &str| -> Option<i64> {
        read(&format!("ipv4/conf/{scope}/{key}"))?
            .trim()
            .parse()
            .ok()
    };
    Some((int("all")?, int(iface)?))
}

/// The value Linux uses for `net.ipv4.conf.<iface>.<key>` (`arp_ignore`, `arp_announce`): the
/// larger of `all` and the interface's own.
pub fn effective_arp(read: &dyn Fn(&str) -> Option<String>, key: &str, iface: &str) -> Option<i64> {
    arp_values(read, key, iface).map(|(all, own)| all.max(own))
}

/// What to write so that `check` becomes safe on `iface` (whose own value is `own`).
fn arp_remedy(check: &ArpCheck, iface: &str, own: i64) -> String {
    let (key, want) = (check.key, check.want);
    let mut set = format!("net.ipv4.conf.all.{key}={want}{}", check.or);
    // `all` cannot lower a larger per-interface value.
    if !(check.safe)(own.max(want)) {
        set.push_str(&format!(" and net.ipv4.conf.{iface}.{key}={want}"));
    }
    format!("Remedy: set {set}, e.g. in /etc/sysctl.d/60-zonegate.conf.")
}

fn arp_finding(
    read: &dyn Fn(&str) -> Option<String>,
    check: &ArpCheck,
    iface: &str,
    zone: &str,
) -> Option<Finding> {
    let key = check.key;
    let (all, own) = arp_values(read, key, iface)?;
    if (check.safe)(all.max(own)) {
        return None;
    }
    Some(Finding::new(
        "sysctl",
        format!("{key} on interface {iface} (zone {zone})"),
        format!(
            "effective {} (net.ipv4.conf.all.{key} = {all}, net.ipv4.conf.{iface}.{key} = {own}; the larger applies)",
            all.max(own)
        ),
        &format!("{}. {}", check.why, arp_remedy(check, iface, own)),
    ))
}

/// Weak ARP settings on the zone interfaces (`zone_ifaces`: interface to zone). `read` as in
/// [`scan_sysctls`]. A gateway has addresses in several zones, so these always matter.
pub fn scan_arp(
    read: &dyn Fn(&str) -> Option<String>,
    zone_ifaces: &BTreeMap<String, String>,
) -> Vec<Finding> {
    zone_ifaces
        .iter()
        .flat_map(|(iface, zone)| {
            ARP_CHECKS
                .iter()
                .filter_map(move |c| arp_finding(read, c, iface, zone))
        })
        .collect()
}

/// iptables-legacy tables are invisible to nft: report them.
pub fn scan_legacy(read: &dyn Fn(&str) -> Option<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (file, fam) in [("ip_tables_names", "ipv4"), ("ip6_tables_names", "ipv6")] {
        if let Some(names) = read(file).filter(|s| !s.trim().is_empty()) {
            out.push(Finding::new(
                "iptables-legacy",
                format!("{fam} legacy tables"),
                names.split_whitespace().collect::<Vec<_>>().join(", "),
                "iptables-legacy rules run beside nftables and are not listed by nft",
            ));
        }
    }
    out
}

/// Findings reported so far; turns each scan into found and cleared events.
#[derive(Debug, Default)]
pub struct Inventory {
    known: BTreeMap<(String, String), Finding>,
}

impl Inventory {
    /// Replaces the inventory with `findings`; returns the events to emit.
    pub fn update(&mut self, findings: Vec<Finding>) -> Vec<EventKind> {
        let mut next = BTreeMap::new();
        for f in findings {
            next.insert(f.key(), f);
        }
        let mut events = Vec::new();
        for (k, f) in &next {
            if !self.known.contains_key(k) {
                events.push(EventKind::BypassFound {
                    kind: f.kind.clone(),
                    subject: f.subject.clone(),
                    detail: f.detail.clone(),
                    why: f.why.clone(),
                });
            }
        }
        for (k, f) in &self.known {
            if !next.contains_key(k) {
                events.push(EventKind::BypassCleared {
                    kind: f.kind.clone(),
                    subject: f.subject.clone(),
                });
            }
        }
        self.known = next;
        events
    }

    /// "kind subject" lines for status.
    pub fn lines(&self) -> Vec<String> {
        self.known
            .values()
            .map(|f| format!("{} {}: {}", f.kind, f.subject, f.detail))
            .collect()
    }
}

/// Whether a table name is safe to pass to `nft list table` (foreign names are untrusted).
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_fwd_dup_ct_mark_and_hooks() {
        let listing = json!({"nftables": [
            {"table": {"family": "netdev", "name": "evil", "handle": 1}},
            {"chain": {"family": "netdev", "table": "evil", "name": "in", "handle": 1, "type": "filter", "hook": "ingress", "prio": 0, "dev": "ens5", "policy": "accept"}},
            {"rule": {"family": "netdev", "table": "evil", "chain": "in", "handle": 2, "expr": [{"fwd": {"dev": "ens3", "addr": "10.10.0.5", "family": "ip"}}]}},
            {"rule": {"family": "netdev", "table": "evil", "chain": "in", "handle": 3, "expr": [{"dup": {"addr": "10.10.0.5", "dev": "ens3"}}]}},
            {"rule": {"family": "netdev", "table": "evil", "chain": "in", "handle": 4, "expr": [{"mangle": {"key": {"ct": {"key": "mark"}}, "value": 5}}]}}
        ]});
        let f = scan_table("netdev", "evil", &listing);
        let kinds: BTreeSet<&str> = f.iter().map(|f| f.kind.as_str()).collect();
        assert_eq!(
            kinds,
            BTreeSet::from(["fwd", "dup", "ct-mark-write", "foreign-hook"])
        );
    }

    #[test]
    fn plain_foreign_table_without_hooks_is_quiet() {
        let listing = json!({"nftables": [{"table": {"family": "ip", "name": "x", "handle": 1}}]});
        assert!(scan_table("ip", "x", &listing).is_empty());
    }

    #[test]
    fn finds_enslaved_and_missing_interfaces() {
        let links = vec![
            Link {
                index: 3,
                name: "ens3".into(),
                kind: Some("veth".into()),
                master: Some(9),
                xdp: false,
            },
            Link {
                index: 9,
                name: "br0".into(),
                kind: Some("bridge".into()),
                master: None,
                xdp: false,
            },
        ];
        let zones = BTreeMap::from([
            ("ens3".to_string(), "mynumber".to_string()),
            ("ens4".to_string(), "lgwan".to_string()),
        ]);
        let f = scan_links(&links, &zones);
        assert_eq!(f.len(), 2);
        assert!(f[0].detail.contains("br0 (bridge)"));
        assert_eq!(f[1].kind, "interface-missing");
    }

    #[test]
    fn finds_risky_sysctls() {
        let read = |p: &str| -> Option<String> {
            match p {
                "ipv4/conf/all/accept_redirects" | "ipv4/conf/ens3/accept_redirects" => {
                    Some("1\n".into())
                }
                "ipv4/conf/ens3/proxy_arp" => Some("1".into()),
                _ => Some("0".into()),
            }
        };
        let f = scan_sysctls(&read, &["ens3".to_string()]);
        let subjects: Vec<&str> = f.iter().map(|f| f.subject.as_str()).collect();
        assert_eq!(
            subjects,
            vec![
                "net.ipv4.conf.ens3.accept_redirects",
                "net.ipv4.conf.ens3.proxy_arp"
            ]
        );
    }

    /// A /proc/sys/net reader over `(path, value)` pairs.
    fn sysctls(values: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = values
            .iter()
            .map(|(k, v)| (k.to_string(), format!("{v}\n")))
            .collect();
        move |p: &str| map.get(p).cloned()
    }

    #[test]
    fn effective_arp_setting_is_the_larger_of_all_and_the_interface() {
        for (all, own, want) in [("0", "0", 0), ("1", "0", 1), ("0", "2", 2), ("2", "1", 2)] {
            let read = sysctls(&[
                ("ipv4/conf/all/arp_ignore", all),
                ("ipv4/conf/ens3/arp_ignore", own),
            ]);
            assert_eq!(effective_arp(&read, "arp_ignore", "ens3"), Some(want));
        }
        let read = sysctls(&[("ipv4/conf/all/arp_ignore", "1")]);
        assert_eq!(effective_arp(&read, "arp_ignore", "ens3"), None);
        let read = sysctls(&[
            ("ipv4/conf/all/arp_ignore", "x"),
            ("ipv4/conf/ens3/arp_ignore", "1"),
        ]);
        assert_eq!(effective_arp(&read, "arp_ignore", "ens3"), None);
    }

    fn arp_subjects(values: &[(&str, &str)]) -> Vec<String> {
        let zones = BTreeMap::from([("ens3".to_string(), "lgwan".to_string())]);
        scan_arp(&sysctls(values), &zones)
            .into_iter()
            .map(|f| f.subject)
            .collect()
    }

    #[test]
    fn weak_arp_settings_are_reported_per_zone_interface() {
        let defaults = [
            ("ipv4/conf/all/arp_ignore", "0"),
            ("ipv4/conf/ens3/arp_ignore", "0"),
            ("ipv4/conf/all/arp_announce", "0"),
            ("ipv4/conf/ens3/arp_announce", "0"),
        ];
        let zones = BTreeMap::from([("ens3".to_string(), "lgwan".to_string())]);
        let f = scan_arp(&sysctls(&defaults), &zones);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].kind, "sysctl");
        assert_eq!(f[0].subject, "arp_ignore on interface ens3 (zone lgwan)");
        assert!(f[0].why.contains("Remedy: set net.ipv4.conf.all.arp_ignore=1 (or 2), e.g. in /etc/sysctl.d/60-zonegate.conf."), "{}", f[0].why);
        assert_eq!(f[1].subject, "arp_announce on interface ens3 (zone lgwan)");
        assert!(f[1].why.contains("net.ipv4.conf.all.arp_announce=2"));
        // Fixed through `all`, through the interface, or with "never answer".
        for fixed in [
            [
                ("ipv4/conf/all/arp_ignore", "1"),
                ("ipv4/conf/ens3/arp_ignore", "0"),
            ],
            [
                ("ipv4/conf/all/arp_ignore", "0"),
                ("ipv4/conf/ens3/arp_ignore", "2"),
            ],
            [
                ("ipv4/conf/all/arp_ignore", "8"),
                ("ipv4/conf/ens3/arp_ignore", "0"),
            ],
        ] {
            let mut v = fixed.to_vec();
            v.extend([
                ("ipv4/conf/all/arp_announce", "0"),
                ("ipv4/conf/ens3/arp_announce", "2"),
            ]);
            assert!(arp_subjects(&v).is_empty(), "{v:?}");
        }
    }

    #[test]
    fn arp_values_that_still_answer_for_any_address_are_weak() {
        // 3 only hides host-scope addresses; 1 in `all` cannot lower the interface's 3; an
        // arp_announce above 2 behaves like 0.
        let f = scan_arp(
            &sysctls(&[
                ("ipv4/conf/all/arp_ignore", "1"),
                ("ipv4/conf/ens3/arp_ignore", "3"),
                ("ipv4/conf/all/arp_announce", "3"),
                ("ipv4/conf/ens3/arp_announce", "0"),
            ]),
            &BTreeMap::from([("ens3".to_string(), "lgwan".to_string())]),
        );
        assert_eq!(f.len(), 2);
        assert!(f[0].detail.starts_with("effective 3"), "{}", f[0].detail);
        assert!(
            f[0].why.contains("and net.ipv4.conf.ens3.arp_ignore=1"),
            "{}",
            f[0].why
        );
        assert!(!f[1].why.contains("net.ipv4.conf.ens3."), "{}", f[1].why);
    }

    #[test]
    fn fixed_arp_settings_clear_the_finding() {
        let zones = BTreeMap::from([("ens3".to_string(), "lgwan".to_string())]);
        let weak = sysctls(&[
            ("ipv4/conf/all/arp_ignore", "0"),
            ("ipv4/conf/ens3/arp_ignore", "0"),
            ("ipv4/conf/all/arp_announce", "2"),
            ("ipv4/conf/ens3/arp_announce", "0"),
        ]);
        let fixed = sysctls(&[
            ("ipv4/conf/all/arp_ignore", "1"),
            ("ipv4/conf/ens3/arp_ignore", "0"),
            ("ipv4/conf/all/arp_announce", "2"),
            ("ipv4/conf/ens3/arp_announce", "0"),
        ]);
        let mut inv = Inventory::default();
        let found = inv.update(scan_arp(&weak, &zones));
        assert!(
            matches!(&found[..], [EventKind::BypassFound { subject, .. }] if subject.starts_with("arp_ignore on interface ens3"))
        );
        assert!(inv.update(scan_arp(&weak, &zones)).is_empty());
        let cleared = inv.update(scan_arp(&fixed, &zones));
        assert!(
            matches!(&cleared[..], [EventKind::BypassCleared { kind, .. }] if kind == "sysctl")
        );
    }

    #[test]
    fn inventory_reports_changes_once() {
        let mut inv = Inventory::default();
        let f = Finding::new("fwd", "table netdev evil chain in".into(), "x".into(), "y");
        assert_eq!(inv.update(vec![f.clone()]).len(), 1);
        assert!(inv.update(vec![f]).is_empty());
        let ev = inv.update(Vec::new());
        assert!(matches!(ev[0], EventKind::BypassCleared { .. }));
    }

    #[test]
    fn odd_table_names_are_not_passed_to_nft() {
        assert!(plain_name("filter"));
        assert!(!plain_name("a; flush ruleset"));
        assert!(!plain_name(""));
    }
}
