//! `compile(&Policy, gateway) -> Ruleset`: pure, deterministic, no I/O. Produces the nft text for
//! one gateway (`table inet zonegate`, replaced in one transaction) and the metadata the agent
//! needs. The design and the reason for each part are in docs/datapath.md; the short
//! version is in the comments above each block.

use crate::flowmap::{Dim, Elem, MapBuilder, MapKind};
use crate::metadata::{FlowMeta, LogCode, Metadata, Reason, METADATA_FORMAT};
use crate::model::{Endpoint, Flow, Gateway, IntraZone, Policy};
use crate::names::{self, *};
use crate::net::{from_int, Family, Range};
use crate::validate::hex;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use thiserror::Error;

/// A compiled ruleset for one gateway.
#[derive(Debug, Clone)]
pub struct Ruleset {
    pub gateway: String,
    /// Input for `nft -f`: creates, deletes and re-creates our table in one transaction.
    pub text: String,
    pub metadata: Metadata,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CompileError {
    /// The policy has no `[gateways.NAME]` of that name.
    #[error(transparent)]
    UnknownGateway(#[from] crate::model::UnknownGateway),
}

/// Protocols whose transport header starts with source and destination ports: their key in the
/// per-key tables holds the destination port; other protocols' keys hold the first two bytes of
/// their header (ICMP and ICMPv6: type and code).
const PORT_PROTOCOLS: &str = "{ tcp, udp, dccp, sctp, udplite }";
/// How long an idle key stays in a per-key table. The agent reads the tables once per window
/// (60 s by default); a key idle for longer than this is forgotten, and its next packet starts
/// a new count (which the agent recognises as a restart).
const KEY_TIMEOUT: &str = "10m";
const ICMP_ERRORS: &str = "{ destination-unreachable, time-exceeded, parameter-problem }";
/// Capture for IPv6 packets with extension headers: the IPv6 header, up to 64 bytes of
/// extension headers and 8 bytes of the transport header. Longer chains lose their ports.
const V6_EXT_SNAPLEN: u32 = 112;
/// The rate of forwarded ICMP errors the gateway passes per flow (the run-time set
/// `icmp_error_rate`, keyed by the connection's mark), spent only by errors that passed the
/// sender check: path MTU discovery and unreachables need a few per connection, not a stream,
/// and one flow's errors cannot use up another's.
const ICMP_ERROR_RATE: &str = "100/second burst 200 packets";
/// The log captures of a deny tail: which packets, and how many bytes of each. IPv4 without
/// options: 20 + 8. With options: the largest IPv4 header (60) + 8; the agent keeps only the
/// header fields. IPv6: 40 + 8, or with extension headers (hop-by-hop, routing, fragment,
/// authentication, destination options) [`V6_EXT_SNAPLEN`]. The common captures come first and
/// end their packets' walk through the tail at once (the flag).
const CAPTURES: [(&str, u32, bool); 4] = [
    ("ip hdrlength 5", 28, true),
    ("ip6 nexthdr != { 0, 43, 44, 51, 60 }", 48, true),
    ("ip hdrlength != 5", 68, false),
    ("ip6 nexthdr { 0, 43, 44, 51, 60 }", V6_EXT_SNAPLEN, false),
];
/// ICMPv6 neighbour discovery and MLD messages (link-local, untracked by conntrack).
const ND_MLD: &str = "{ nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect, mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report }";
const ICMPV6_ERRORS: &str =
    "{ destination-unreachable, packet-too-big, time-exceeded, parameter-problem }";

/// Compiles the policy for one gateway. Fails only when the gateway is not in the policy.
pub fn compile(policy: &Policy, gateway: &str) -> Result<Ruleset, CompileError> {
    let gw = policy.gateway(gateway)?;
    let mut c = Compiler::new(policy, gw);
    let body = c.body();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# zonegate ruleset for gateway {} (generated; do not edit)\n# policy {} revision {}, canonical sha256 {}",
        gw.name,
        names::comment(&policy.name, 64),
        names::comment(&policy.revision, 64),
        policy.canonical_sha256
    );
    let _ = writeln!(
        text,
        "table {FAMILY} {TABLE}\ndelete table {FAMILY} {TABLE}"
    );
    text.push_str(&body);
    let ruleset_sha256 = hex(&Sha256::digest(text.as_bytes()));
    let metadata = c.metadata(ruleset_sha256);
    Ok(Ruleset {
        gateway: gw.name.clone(),
        text,
        metadata,
    })
}

struct Compiler<'a> {
    policy: &'a Policy,
    gw: &'a Gateway,
    /// Zones with an interface on this gateway.
    zones: Vec<&'a str>,
    codes: BTreeMap<u32, LogCode>,
    counters: Vec<u32>,
    /// Codes whose deny tail has an untracked-packets counter (`uN`).
    untracked: Vec<u32>,
    sets: String,
    chains: String,
}

impl<'a> Compiler<'a> {
    fn new(policy: &'a Policy, gw: &'a Gateway) -> Self {
        Compiler {
            policy,
            gw,
            zones: gw.zones().into_iter().collect(),
            codes: BTreeMap::new(),
            counters: Vec::new(),
            untracked: Vec::new(),
            sets: String::new(),
            chains: String::new(),
        }
    }

    fn sensitive(&self, zone: Option<&str>) -> bool {
        zone.and_then(|z| self.policy.zones.get(z))
            .is_some_and(|z| z.is_sensitive())
    }

    fn ifaces(&self, zone: &str) -> Vec<&'a str> {
        self.gw.interfaces_of(zone)
    }

    /// Allocates the next code for a log prefix and counter.
    fn code(
        &mut self,
        reason: Reason,
        hook: &str,
        from: Option<&str>,
        to: Option<&str>,
        logged: bool,
    ) -> u32 {
        let code = self.codes.len() as u32 + 1;
        let sensitive = self.sensitive(from) || self.sensitive(to);
        self.codes.insert(
            code,
            LogCode {
                reason,
                hook: hook.to_string(),
                from: from.map(str::to_string),
                to: to.map(str::to_string),
                sensitive,
                logged,
                meter_full: None,
            },
        );
        code
    }

    /// The end of every denying path: an exact counter, sampled NFLOG records, and the drop.
    ///
    /// Samples are limited per source (a meter set of this code's own, so a flood on one zone
    /// pair or reason cannot fill another's) and per code. When the meter is full, the source
    /// cannot be metered: a fallback rule logs it under a code of its own (`meter_full` in the
    /// metadata) with only the per-code limit, so a flood that fills a meter cannot make later
    /// sources anonymous, and the agent reports the full meter.
    ///
    /// The capture is headers only, sized by the headers present: the IP header (with its
    /// options) or the IPv6 header (with its extension headers, up to [`V6_EXT_SNAPLEN`]) and
    /// the first 8 bytes of the transport header, never payload.
    fn deny_tail(
        &mut self,
        out: &mut String,
        reason: Reason,
        hook: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) {
        let code = self.code(reason, hook, from, to, true);
        self.counters.push(code);
        let sensitive = self.codes.get(&code).is_some_and(|c| c.sensitive);
        let meters = [names::meter(code, false), names::meter(code, true)];
        for m in &meters {
            self.meter_set(m, sensitive);
        }
        let fallbacks = meters.clone().map(|m| {
            let code = self.code(reason, hook, from, to, true);
            if let Some(c) = self.codes.get_mut(&code) {
                c.meter_full = Some(m);
            }
            code
        });
        let log = &self.policy.log;
        let unit = log.unit.name();
        let per_source = format!(
            "limit rate {}/{unit} burst {} packets",
            (log.rate / 4).max(1),
            (log.burst / 5).max(1)
        );
        let per_code = format!("limit rate {}/{unit} burst {} packets", log.rate, log.burst);
        let group = log.group;
        let _ = writeln!(out, "\t\tcounter name \"{}\"", counter(code));
        // Exact per-key counts: the packet's key (code . source . destination . protocol .
        // destination port, or ICMP type/code for protocols without ports) gets a counter in
        // the key table of its family and class. A successful update goes straight to the
        // capture chain; a packet whose key cannot be stored (table full, or no transport
        // header) falls through to the untracked counter.
        let class = usize::from(sensitive);
        let tail = names::chain_deny_tail(code);
        for (v6, ip) in [(false, "ip"), (true, "ip6")] {
            let set = names::key_set(v6, class == 1);
            for (proto, port) in [("", "dport"), ("!= ", "sport")] {
                let _ = writeln!(
                    out,
                    "\t\tmeta l4proto {proto}{PORT_PROTOCOLS} update @{set} {{ {code} . {ip} saddr . {ip} daddr . meta l4proto . th {port} counter }} goto {tail}"
                );
            }
        }
        self.untracked.push(code);
        let _ = writeln!(
            out,
            "\t\tcounter name \"{}\" goto {tail}",
            names::untracked_counter(code)
        );
        let mut body = String::new();
        // Per capture: the metered sample, the fallback of a full meter, and (for the common
        // captures) the drop at once, so a flood of plain packets runs the fewest rules.
        for (headers, snaplen, drop_here) in CAPTURES {
            let v6 = usize::from(headers.starts_with("ip6"));
            let (ip, meter) = (["ip", "ip6"][v6], &meters[v6]);
            let _ = writeln!(
                body,
                "\t\t{headers} update @{meter} {{ {ip} saddr {per_source} }} {per_code} log prefix \"{}\" group {group} snaplen {snaplen}\n\t\t{headers} {ip} saddr != @{meter} {per_code} log prefix \"{}\" group {group} snaplen {snaplen}",
                log_prefix(code),
                log_prefix(fallbacks[v6])
            );
            if drop_here {
                let _ = writeln!(body, "\t\t{headers} drop");
            }
        }
        let _ = writeln!(body, "\t\tdrop");
        self.chain(&tail, &format!("log and drop of code {code}"), &body);
    }

    /// A per-source log meter. Entries expire after a minute. Sensitive codes get room for
    /// 65,535 sources, others 16,384, which bounds what a flood can make the kernel hold.
    fn meter_set(&mut self, name: &str, sensitive: bool) {
        let (typ, size) = (
            if name.starts_with("meter6") {
                "ipv6_addr"
            } else {
                "ipv4_addr"
            },
            if sensitive { 65535 } else { 16384 },
        );
        let _ = writeln!(
            self.sets,
            "\n\tset {name} {{\n\t\ttype {typ}\n\t\tsize {size}\n\t\tflags dynamic,timeout\n\t\ttimeout 1m\n\t}}"
        );
    }

    /// The per-key count tables of this ruleset (none without a deny tail).
    fn key_sets(&self) -> Vec<String> {
        if self.untracked.is_empty() {
            return Vec::new();
        }
        [(false, false), (true, false), (false, true), (true, true)]
            .into_iter()
            .map(|(v6, sensitive)| names::key_set(v6, sensitive))
            .collect()
    }

    fn chain(&mut self, name: &str, comment: &str, body: &str) {
        let _ = writeln!(self.chains, "\n\tchain {name} {{");
        if !comment.is_empty() {
            let _ = writeln!(
                self.chains,
                "\t\tcomment \"{}\"",
                names::comment(comment, COMMENT_MAX)
            );
        }
        self.chains.push_str(body);
        let _ = writeln!(self.chains, "\t}}");
    }

    fn deny_chain(
        &mut self,
        name: &str,
        comment: &str,
        reason: Reason,
        hook: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) {
        let mut body = String::new();
        self.deny_tail(&mut body, reason, hook, from, to);
        self.chain(name, comment, &body);
    }

    fn set(&mut self, name: &str, typ: &str, flags: &str, elems: &[String]) {
        let _ = writeln!(self.sets, "\n\tset {name} {{\n\t\ttype {typ}");
        if !flags.is_empty() {
            let _ = writeln!(self.sets, "\t\tflags {flags}");
        }
        if !elems.is_empty() {
            let _ = writeln!(
                self.sets,
                "\t\telements = {{\n\t\t\t{}\n\t\t}}",
                elems.join(",\n\t\t\t")
            );
        }
        let _ = writeln!(self.sets, "\t}}");
    }

    fn map(&mut self, name: &str, kind: MapKind, elems: &[Elem]) {
        let _ = writeln!(
            self.sets,
            "\n\tmap {name} {{\n\t\ttype {} : mark\n\t\tflags interval",
            kind.key_type()
        );
        // Rendered straight into one buffer (no String per element and per key part).
        let mut body = String::with_capacity(elems.len() * 96);
        for (i, e) in elems.iter().enumerate() {
            if i > 0 {
                body.push_str(",\n\t\t\t");
            }
            self.render_elem(&mut body, kind, e);
        }
        let _ = writeln!(self.sets, "\t\telements = {{\n\t\t\t{body}\n\t\t}}\n\t}}");
    }

    fn render_elem(&self, out: &mut String, kind: MapKind, e: &Elem) {
        for (i, (d, (lo, hi))) in kind.dims().iter().zip(&e.dims).enumerate() {
            if i > 0 {
                out.push_str(" . ");
            }
            let _ = match d {
                Dim::Addr(f) => write!(
                    out,
                    "{}",
                    Range {
                        family: *f,
                        lo: *lo,
                        hi: *hi,
                    }
                ),
                Dim::Proto => match *lo {
                    6 => write!(out, "tcp"),
                    17 => write!(out, "udp"),
                    132 => write!(out, "sctp"),
                    n => write!(out, "{n}"),
                },
                Dim::Port | Dim::IcmpType if lo == hi => write!(out, "{lo}"),
                Dim::Port | Dim::IcmpType => write!(out, "{lo}-{hi}"),
            };
        }
        // Flows are sorted by id.
        let purpose = self
            .policy
            .flows
            .binary_search_by(|f| f.id.as_str().cmp(&e.flow))
            .ok()
            .and_then(|i| self.policy.flows[i].purpose.as_deref())
            .unwrap_or("");
        let comment = names::comment(format!("{} {}", e.flow, purpose).trim_end(), COMMENT_MAX);
        let _ = write!(out, " comment \"{comment}\" : 0x{:08x}", e.mark);
    }

    fn body(&mut self) -> String {
        self.antispoof();
        self.forward();
        self.local();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "table {FAMILY} {TABLE} {{\n\tcomment \"{}\"",
            names::comment(
                &format!(
                    "zonegate gw={} policy={} rev={}",
                    self.gw.name, self.policy.name, self.policy.revision
                ),
                COMMENT_MAX
            )
        );
        for c in &self.counters {
            let _ = writeln!(out, "\tcounter {} {{ }}", counter(*c));
        }
        for c in &self.untracked {
            let _ = writeln!(out, "\tcounter {} {{ }}", names::untracked_counter(*c));
        }
        if !self.untracked.is_empty() {
            for set in self.key_sets() {
                let typ = if set.starts_with("denykeys6") {
                    "ipv6_addr . ipv6_addr"
                } else {
                    "ipv4_addr . ipv4_addr"
                };
                let _ = writeln!(
                    out,
                    "\n\tset {set} {{\n\t\ttype mark . {typ} . inet_proto . inet_service\n\t\tsize {}\n\t\tflags dynamic,timeout\n\t\ttimeout {KEY_TIMEOUT}\n\t}}",
                    self.policy.log.key_table
                );
            }
        }
        out.push_str(&self.sets);
        out.push_str(&self.chains);
        out.push_str("}\n");
        out
    }

    /// Anti-spoof for every packet, before connection tracking (priority raw - 10), so a spoofed
    /// packet can neither create nor refresh a connection: `iifname . saddr` must lie in the
    /// interface's zone (most specific network wins; a catch-all zone is the complement of the
    /// others), and a MAC-pinned host's address must come with its MAC.
    fn antispoof(&mut self) {
        let all_ifaces: Vec<String> = self
            .gw
            .interfaces
            .keys()
            .map(|i| format!("\"{i}\""))
            .collect();
        self.set(SET_IFACES, "ifname", "", &all_ifaces);
        let mut src = [Vec::new(), Vec::new()];
        for zone in self.zones.clone() {
            for r in self.policy.ownership.ranges_of(&zone.to_string()) {
                for i in self.ifaces(zone) {
                    src[(r.family == Family::V6) as usize].push(format!("\"{i}\" . {r}"));
                }
            }
        }
        let mut mac = [Vec::new(), Vec::new()];
        let mut pin = [Vec::new(), Vec::new()];
        for host in self.policy.hosts.values() {
            let Some(m) = &host.mac else { continue };
            for i in self.ifaces(&host.zone) {
                for a in &host.addresses {
                    let v6 = a.is_ipv6() as usize;
                    mac[v6].push(format!("\"{i}\" . {a} . {m}"));
                    pin[v6].push(format!("\"{i}\" . {a}"));
                }
            }
        }
        for v in src.iter_mut().chain(mac.iter_mut()).chain(pin.iter_mut()) {
            v.sort();
            v.dedup();
        }
        self.set(SET_SRC4, "ifname . ipv4_addr", "interval", &src[0]);
        self.set(SET_SRC6, "ifname . ipv6_addr", "interval", &src[1]);
        self.set(SET_MAC4, "ifname . ipv4_addr . ether_addr", "", &mac[0]);
        self.set(SET_MAC6, "ifname . ipv6_addr . ether_addr", "", &mac[1]);
        self.set(SET_PIN4, "ifname . ipv4_addr", "", &pin[0]);
        self.set(SET_PIN6, "ifname . ipv6_addr", "", &pin[1]);
        let mut spoof_vmap = Vec::new();
        for zone in self.zones.clone() {
            let chain = chain_spoof(zone);
            self.deny_chain(
                &chain,
                &format!("spoofed source on an interface of zone {zone}"),
                Reason::Spoofed,
                "prerouting",
                Some(zone),
                None,
            );
            for i in self.ifaces(zone) {
                spoof_vmap.push(format!("\"{i}\" : goto {chain}"));
            }
        }
        self.deny_chain(
            "prerouting-unknown-interface",
            "packet from an interface in no zone",
            Reason::UnknownInterface,
            "prerouting",
            None,
            None,
        );

        let mut body = String::new();
        body.push_str("\t\ttype filter hook prerouting priority raw - 10; policy accept;\n");
        body.push_str("\t\tiifname \"lo\" accept\n");
        let _ = writeln!(
            body,
            "\t\tiifname != @{SET_IFACES} goto prerouting-unknown-interface"
        );
        // Hosts looking for a DHCP server send from 0.0.0.0: not spoofing, and never forwarded.
        let dhcp = self.code(Reason::Broadcast, "prerouting", None, None, false);
        self.counters.push(dhcp);
        let _ = writeln!(
            body,
            "\t\tip saddr 0.0.0.0 ip daddr 255.255.255.255 udp dport 67 counter name \"{}\" drop",
            counter(dhcp)
        );
        // IPv6 needs link-local sources (neighbour discovery) and :: (duplicate address
        // detection, MLD) on every interface, or IPv6 silently stops.
        body.push_str("\t\tip6 saddr fe80::/10 accept\n");
        body.push_str("\t\tip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld-listener-report, mld2-listener-report } accept\n");
        let _ = writeln!(
            body,
            "\t\tiifname . ip saddr . ether saddr @{SET_MAC4} accept"
        );
        let _ = writeln!(
            body,
            "\t\tiifname . ip6 saddr . ether saddr @{SET_MAC6} accept"
        );
        let _ = writeln!(body, "\t\tiifname . ip saddr @{SET_PIN4} goto spoofed");
        let _ = writeln!(body, "\t\tiifname . ip6 saddr @{SET_PIN6} goto spoofed");
        let _ = writeln!(body, "\t\tiifname . ip saddr @{SET_SRC4} accept");
        let _ = writeln!(body, "\t\tiifname . ip6 saddr @{SET_SRC6} accept");
        body.push_str("\t\tgoto spoofed\n");
        self.chain(CHAIN_ANTISPOOF, "", &body);

        let mut body = String::new();
        if !spoof_vmap.is_empty() {
            let _ = writeln!(body, "\t\tiifname vmap {{ {} }}", spoof_vmap.join(", "));
        }
        body.push_str("\t\tdrop\n");
        self.chain("spoofed", "", &body);
    }

    /// The per-hook head shared by forward, input and output: invalid dropped; established and
    /// related accepted only on the live paths of their mark (the interfaces are part of the
    /// key, so a packet reusing a live 5-tuple on another interface, or an ICMP error from a
    /// third zone, is not accepted); helper-created (expected) connections and unmarked
    /// connections in their original direction re-run the flow match; everything else is named.
    fn head(&mut self, hook: &str, key: &str, live: &str, extra: &str, new_chain: &str) -> String {
        let invalid = format!("{hook}-invalid");
        self.deny_chain(
            &invalid,
            "invalid for connection tracking (out-of-window segment, error quoting no connection)",
            Reason::Invalid,
            hook,
            None,
            None,
        );
        // Forwarded ICMP errors cross zones: their sender is checked too. The gateway's own
        // (input, output) end or start here.
        let errors = if hook == "forward" {
            self.forward_icmp_errors();
            format!("goto {CHAIN_FORWARD_ICMP_ERROR}")
        } else {
            "accept".to_string()
        };
        let mut body = String::new();
        let _ = writeln!(body, "\t\tct state invalid goto {invalid}");
        let _ = writeln!(
            body,
            "\t\tct state established ct mark . {key} @{live} accept"
        );
        let _ = writeln!(
            body,
            "\t\tct state related ct mark . {key} @{live} icmp type {ICMP_ERRORS} {errors}"
        );
        let _ = writeln!(
            body,
            "\t\tct state related ct mark . {key} @{live} icmpv6 type {ICMPV6_ERRORS} {errors}"
        );
        body.push_str(extra);
        let _ = writeln!(body, "\t\tct state new goto {new_chain}");
        // An ICMP error about a helper-created connection, off its live path, is no new
        // connection: it must not run the flow match (which could accept it and re-mark the
        // connection it quotes). Protocol numbers, not names: /etc/protocols may be absent.
        let _ = writeln!(
            body,
            "\t\tct state related meta l4proto {{ 1, 58 }} goto {hook}-revoked\n\t\tct state related ct status expected goto {new_chain}"
        );
        let _ = writeln!(
            body,
            "\t\tct state established ct direction original ct mark 0 goto {new_chain}"
        );
        for (reason, cond) in [
            (Reason::PreExisting, "ct state established ct mark 0 "),
            (Reason::Untracked, "ct state untracked "),
            (Reason::Revoked, ""),
        ] {
            let chain = format!("{hook}-{}", reason.as_str());
            let comment = match reason {
                Reason::PreExisting => {
                    "reply of a connection older than the ruleset, not yet adopted"
                }
                Reason::Untracked => "connection tracking switched off by another table",
                _ => "established or related packet off its flow's path, or its flow is revoked",
            };
            self.deny_chain(&chain, comment, reason, hook, None, None);
            let _ = writeln!(body, "\t\t{cond}goto {chain}");
        }
        body
    }

    /// ICMP errors about a live forwarded connection. The kernel relates an error to a
    /// connection by the packet it quotes and checks where the error goes, not who sent it, so
    /// any host on the far side of a live connection could otherwise send errors (each carrying
    /// hundreds of bytes of its own choosing) to the connection's endpoint. An error passes
    /// only from the connection's peer (`peers4`/`peers6`: the mark and both ends of every live
    /// flow; `ct direction` tells which end the error goes to) or from a router the policy
    /// declares in the sender's zone, no longer than an error may be (576 bytes for IPv4,
    /// RFC 1812 section 4.3.2.3; 1280 for IPv6, RFC 4443 section 2.4) and within a rate.
    fn forward_icmp_errors(&mut self) {
        let refused = "forward-icmp-error-refused";
        self.deny_chain(
            refused,
            "ICMP error about a live connection from neither its peer nor a declared router, too long, or over the rate",
            Reason::IcmpErrorRefused,
            "forward",
            None,
            None,
        );
        let mut routers = [Vec::new(), Vec::new()];
        for zone in self.zones.clone() {
            let Some(z) = self.policy.zones.get(zone) else {
                continue;
            };
            for r in &z.routers {
                for i in self.ifaces(zone) {
                    routers[usize::from(r.is_ipv6())].push(format!("\"{i}\" . {r}"));
                }
            }
        }
        for v in routers.iter_mut() {
            v.sort();
            v.dedup();
        }
        self.set(SET_ROUTERS4, "ifname . ipv4_addr", "", &routers[0]);
        self.set(SET_ROUTERS6, "ifname . ipv6_addr", "", &routers[1]);
        let mut body = String::new();
        let _ = writeln!(
            body,
            "\t\tmeta nfproto ipv4 meta length > 576 goto {refused}\n\t\tmeta nfproto ipv6 meta length > 1280 goto {refused}"
        );
        let rate =
            format!("update @{SET_ICMP_ERROR_RATE} {{ ct mark limit rate {ICMP_ERROR_RATE} }}");
        for (ip, set) in [("ip", SET_PEERS4), ("ip6", SET_PEERS6)] {
            let _ = writeln!(
                body,
                "\t\tct direction reply ct mark . {ip} daddr . {ip} saddr @{set} {rate} accept\n\t\tct direction original ct mark . {ip} saddr . {ip} daddr @{set} {rate} accept"
            );
        }
        let _ = writeln!(
            body,
            "\t\tiifname . ip saddr @{SET_ROUTERS4} {rate} accept\n\t\tiifname . ip6 saddr @{SET_ROUTERS6} {rate} accept\n\t\tgoto {refused}"
        );
        let _ = writeln!(
            self.sets,
            "\n\tset {SET_ICMP_ERROR_RATE} {{\n\t\ttype mark\n\t\tsize 65535\n\t\tflags dynamic,timeout\n\t\ttimeout 1m\n\t}}"
        );
        self.chain(
            CHAIN_FORWARD_ICMP_ERROR,
            "ICMP error about a live connection: only from its peer or a declared router",
            &body,
        );
    }

    fn forward(&mut self) {
        let mut peers = [Vec::new(), Vec::new()];
        let mut live = Vec::new();
        let mut err_out = Vec::new();
        let mut vmap = Vec::new();
        let zones = self.zones.clone();
        for &from in &zones {
            for &to in &zones {
                let chain = chain_pair(from, to);
                let mut body = String::new();
                if from == to && self.policy.intra_zone == IntraZone::Accept {
                    // Intra-zone traffic gets the zone's reserved mark, so its replies pass the
                    // live-path check like any flow's.
                    let m = crate::mark::intra_mark(from);
                    for f in [Family::V4, Family::V6] {
                        let any = Range::full(f);
                        peers[usize::from(f == Family::V6)]
                            .push(format!("0x{m:08x} . {any} . {any}"));
                    }
                    for a in self.ifaces(from) {
                        for b in self.ifaces(from) {
                            live.push(format!("0x{m:08x} . \"{a}\" . \"{b}\""));
                        }
                        err_out.push(format!("0x{m:08x} . \"{a}\""));
                    }
                    let _ = writeln!(body, "\t\tct mark set 0x{m:08x} accept");
                } else {
                    let flows: Vec<_> = self
                        .policy
                        .active_flows()
                        .filter(|f| {
                            f.from_zone.as_deref() == Some(from) && f.to_zone.as_deref() == Some(to)
                        })
                        .collect();
                    // New connections into a My Number (or other sensitive) zone are logged too;
                    // the log sits between the lookup and the accept, so only matches are logged.
                    let ends = flow_ends(self.policy, &flows);
                    for (f, src, dst) in &ends {
                        for s in src {
                            for d in dst.iter().filter(|d| d.family == s.family) {
                                peers[usize::from(s.family == Family::V6)]
                                    .push(format!("0x{:08x} . {s} . {d}", f.mark));
                            }
                        }
                    }
                    let mut accept_code: Option<Option<u32>> = None;
                    for kind in [
                        MapKind::Ports(Family::V4),
                        MapKind::Ports(Family::V6),
                        MapKind::Icmp(Family::V4),
                        MapKind::Icmp(Family::V6),
                    ] {
                        let elems = map_elems(&ends, kind);
                        if elems.is_empty() {
                            continue;
                        }
                        let tag = match kind {
                            MapKind::Ports(Family::V4) => "f4",
                            MapKind::Ports(Family::V6) => "f6",
                            MapKind::Icmp(Family::V4) => "i4",
                            _ => "i6",
                        };
                        let name = map_pair(tag, from, to);
                        self.map(&name, kind, &elems);
                        let code = *accept_code.get_or_insert_with(|| {
                            self.sensitive(Some(to)).then(|| {
                                self.code(
                                    Reason::AcceptedSensitive,
                                    "forward",
                                    Some(from),
                                    Some(to),
                                    true,
                                )
                            })
                        });
                        // Headers only: the IP header and the first 8 bytes of the transport
                        // header of the family the map matches.
                        let log = code.map_or(String::new(), |code| {
                            let snaplen = if kind.family() == Family::V6 { 48 } else { 28 };
                            format!(
                                "log prefix \"{}\" group {} snaplen {snaplen} ",
                                log_prefix(code),
                                self.policy.log.group
                            )
                        });
                        let _ = writeln!(
                            body,
                            "\t\tct mark set {} map @{name} {log}accept",
                            kind.lookup_expr()
                        );
                    }
                    let marks: BTreeSet<u32> = flows.iter().map(|f| f.mark).collect();
                    for m in marks {
                        for a in self.ifaces(from) {
                            for b in self.ifaces(to) {
                                live.push(format!("0x{m:08x} . \"{a}\" . \"{b}\""));
                                live.push(format!("0x{m:08x} . \"{b}\" . \"{a}\""));
                            }
                            err_out.push(format!("0x{m:08x} . \"{a}\""));
                        }
                        for b in self.ifaces(to) {
                            err_out.push(format!("0x{m:08x} . \"{b}\""));
                        }
                    }
                    self.deny_tail(&mut body, Reason::NoFlow, "forward", Some(from), Some(to));
                }
                self.chain(&chain, &format!("{from} -> {to}"), &body);
                for a in self.ifaces(from) {
                    for b in self.ifaces(to) {
                        vmap.push(format!("\"{a}\" . \"{b}\" : goto {chain}"));
                    }
                }
            }
        }
        live.sort();
        live.dedup();
        err_out.sort();
        err_out.dedup();
        self.set(SET_LIVE_PATHS, "mark . ifname . ifname", "", &live);
        self.set(SET_ERR_OUT, "mark . ifname", "", &err_out);
        for v in peers.iter_mut() {
            v.sort();
            v.dedup();
        }
        self.set(
            SET_PEERS4,
            "mark . ipv4_addr . ipv4_addr",
            "interval",
            &peers[0],
        );
        self.set(
            SET_PEERS6,
            "mark . ipv6_addr . ipv6_addr",
            "interval",
            &peers[1],
        );

        self.deny_chain(
            "forward-unknown-interface",
            "would leave through an interface in no zone",
            Reason::UnknownInterface,
            "forward",
            None,
            None,
        );
        let mut body = String::new();
        if !vmap.is_empty() {
            let _ = writeln!(body, "\t\tiifname . oifname vmap {{ {} }}", vmap.join(", "));
        }
        body.push_str("\t\tgoto forward-unknown-interface\n");
        self.chain(
            CHAIN_FORWARD_NEW,
            "new connections: dispatch by zone pair",
            &body,
        );

        // Neighbour discovery and MLD are link-local: never forwarded and never tracked, so
        // they would read as "untracked" (another table switching conntrack off) if not named.
        let nd = "forward-neighbour-discovery";
        self.deny_chain(
            nd,
            "neighbour discovery or MLD, which is never forwarded",
            Reason::NeighbourDiscovery,
            "forward",
            None,
            None,
        );
        let mut body = String::from("\t\ttype filter hook forward priority filter; policy drop;\n");
        let head = self.head(
            "forward",
            "iifname . oifname",
            SET_LIVE_PATHS,
            &format!("\t\ticmpv6 type {ND_MLD} goto {nd}\n"),
            CHAIN_FORWARD_NEW,
        );
        body.push_str(&head);
        self.chain(CHAIN_FORWARD, "", &body);
    }

    /// The gateway itself is inside the policy: input and output accept only declared flows
    /// `to = "gateway"` / `from = "gateway"`, neighbour discovery and declared DHCP. Without
    /// this, any relay on the gateway would join the zones.
    fn local(&mut self) {
        let mut live = Vec::new();
        let mut in_vmap = Vec::new();
        let mut out_vmap = Vec::new();
        let zones = self.zones.clone();
        for &zone in &zones {
            for (inbound, chain) in [(true, chain_in(zone)), (false, chain_out(zone))] {
                let flows: Vec<_> = self
                    .policy
                    .active_flows()
                    .filter(|f| {
                        if inbound {
                            f.to == Endpoint::Gateway && f.from_zone.as_deref() == Some(zone)
                        } else {
                            f.from == Endpoint::Gateway && f.to_zone.as_deref() == Some(zone)
                        }
                    })
                    .collect();
                let mut body = String::new();
                let kinds = if inbound {
                    [
                        (MapKind::InPorts(Family::V4), "gi4"),
                        (MapKind::InPorts(Family::V6), "gi6"),
                        (MapKind::InIcmp(Family::V4), "gii4"),
                        (MapKind::InIcmp(Family::V6), "gii6"),
                    ]
                } else {
                    [
                        (MapKind::OutPorts(Family::V4), "go4"),
                        (MapKind::OutPorts(Family::V6), "go6"),
                        (MapKind::OutIcmp(Family::V4), "goi4"),
                        (MapKind::OutIcmp(Family::V6), "goi6"),
                    ]
                };
                let ends = flow_ends(self.policy, &flows);
                for (kind, tag) in kinds {
                    let elems = map_elems(&ends, kind);
                    if elems.is_empty() {
                        continue;
                    }
                    let name = map_gw(tag, zone);
                    self.map(&name, kind, &elems);
                    let _ = writeln!(
                        body,
                        "\t\tct mark set {} map @{name} accept",
                        kind.lookup_expr()
                    );
                }
                for f in &flows {
                    for i in self.ifaces(zone) {
                        live.push(format!("0x{:08x} . \"{i}\"", f.mark));
                    }
                }
                let (from, to, hook) = if inbound {
                    (Some(zone), Some("gateway"), "input")
                } else {
                    (Some("gateway"), Some(zone), "output")
                };
                self.deny_tail(&mut body, Reason::NoFlow, hook, from, to);
                self.chain(
                    &chain,
                    &format!("{} -> {}", from.unwrap_or(""), to.unwrap_or("")),
                    &body,
                );
                for i in self.ifaces(zone) {
                    if inbound {
                        in_vmap.push(format!("\"{i}\" : goto {chain}"));
                    } else {
                        out_vmap.push(format!("\"{i}\" : goto {chain}"));
                    }
                }
            }
        }
        live.sort();
        live.dedup();
        self.set(SET_LIVE_LOCAL, "mark . ifname", "", &live);
        let dhcp: Vec<String> = self
            .gw
            .dhcp_client
            .iter()
            .map(|i| format!("\"{i}\""))
            .collect();
        self.set(SET_DHCP, "ifname", "", &dhcp);

        for (hook, vmap, new_chain, key) in [
            ("input", &in_vmap, CHAIN_INPUT_NEW, "iifname"),
            ("output", &out_vmap, CHAIN_OUTPUT_NEW, "oifname"),
        ] {
            let unknown = format!("{hook}-unknown-interface");
            self.deny_chain(
                &unknown,
                "interface in no zone",
                Reason::UnknownInterface,
                hook,
                None,
                None,
            );
            let mut body = String::new();
            if !vmap.is_empty() {
                let _ = writeln!(body, "\t\t{key} vmap {{ {} }}", vmap.join(", "));
            }
            let _ = writeln!(body, "\t\tgoto {unknown}");
            self.chain(
                new_chain,
                "new connections of the gateway itself: dispatch by zone",
                &body,
            );
        }

        // Neighbour discovery (hop limit 255: never routed) and declared DHCP.
        let in_extra = format!(
            "\t\ticmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit }} ip6 hoplimit 255 accept\n\
             \t\ticmpv6 type mld-listener-query ip6 saddr fe80::/10 accept\n\
             \t\tiifname @{SET_DHCP} udp sport 67 udp dport 68 accept\n"
        );
        // The gateway's own errors about packets on no live path (time exceeded for a denied
        // packet whose TTL ran out here) are named as such, not as a revoked connection.
        let gw_error = "output-gateway-error";
        self.deny_chain(
            gw_error,
            "ICMP error of the gateway itself about a packet on no live path",
            Reason::GatewayError,
            "output",
            Some("gateway"),
            None,
        );
        let out_extra = format!(
            "\t\tct state related ct mark . oifname @{SET_ERR_OUT} icmp type {ICMP_ERRORS} accept\n\
             \t\tct state related ct mark . oifname @{SET_ERR_OUT} icmpv6 type {ICMPV6_ERRORS} accept\n\
             \t\tct state related icmp type {ICMP_ERRORS} goto {gw_error}\n\
             \t\tct state related icmpv6 type {ICMPV6_ERRORS} goto {gw_error}\n\
             \t\ticmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert }} ip6 hoplimit 255 accept\n\
             \t\ticmpv6 type {{ mld-listener-report, mld2-listener-report, mld-listener-done }} accept\n\
             \t\toifname @{SET_DHCP} udp sport 68 udp dport 67 accept\n"
        );
        // Broadcast and multicast to the gateway are never management: count them without
        // logging (after neighbour discovery, which is multicast too).
        let bcast = self.code(Reason::Broadcast, "input", None, None, false);
        self.counters.push(bcast);
        let in_extra = format!(
            "{in_extra}\t\tip daddr {{ 255.255.255.255, 224.0.0.0/4 }} counter name \"{c}\" drop\n\
             \t\tip6 daddr ff00::/8 counter name \"{c}\" drop\n",
            c = counter(bcast)
        );
        let mut body = String::from(
            "\t\ttype filter hook input priority filter; policy drop;\n\t\tiifname \"lo\" accept\n",
        );
        let head = self.head(
            "input",
            "iifname",
            SET_LIVE_LOCAL,
            &in_extra,
            CHAIN_INPUT_NEW,
        );
        body.push_str(&head);
        self.chain(CHAIN_INPUT, "", &body);
        let mut body = String::from("\t\ttype filter hook output priority filter; policy drop;\n\t\toifname \"lo\" accept\n");
        let head = self.head(
            "output",
            "oifname",
            SET_LIVE_LOCAL,
            &out_extra,
            CHAIN_OUTPUT_NEW,
        );
        body.push_str(&head);
        self.chain(CHAIN_OUTPUT, "", &body);
    }

    fn metadata(&self, ruleset_sha256: String) -> Metadata {
        let flows = self
            .policy
            .active_flows()
            .filter(|f| {
                let on_gw = |z: &Option<String>, e: &Endpoint| {
                    *e == Endpoint::Gateway || z.as_deref().is_some_and(|z| self.zones.contains(&z))
                };
                on_gw(&f.from_zone, &f.from) && on_gw(&f.to_zone, &f.to)
            })
            .map(|f| {
                (
                    f.id.clone(),
                    FlowMeta {
                        mark: f.mark,
                        from: f.from.name().to_string(),
                        to: f.to.name().to_string(),
                        from_zone: f.from_zone.clone(),
                        to_zone: f.to_zone.clone(),
                        ports: f.specs.iter().map(|s| s.to_string()).collect(),
                        expires: f.expires.map(|d| d.to_string()),
                        purpose: f.purpose.clone(),
                        defined_at: self.policy.locate(f.at.flow),
                    },
                )
            })
            .collect::<BTreeMap<_, _>>();
        let next_expiry = self
            .policy
            .active_flows()
            .filter(|f| flows.contains_key(&f.id))
            .filter_map(|f| f.expires)
            .min()
            .map(|d| d.to_string());
        Metadata {
            format: METADATA_FORMAT,
            compiler_version: env!("CARGO_PKG_VERSION").to_string(),
            policy: self.policy.name.clone(),
            revision: self.policy.revision.clone(),
            gateway: self.gw.name.clone(),
            policy_sha256: self.policy.canonical_sha256.clone(),
            source_sha256: self.policy.source_sha256.clone(),
            ruleset_sha256,
            compiled_for: self.policy.today.map(|d| d.to_string()),
            timezone: self.policy.timezone.clone(),
            next_expiry,
            nflog_group: self.policy.log.group,
            interfaces: self.gw.interfaces.clone(),
            sensitive_zones: self
                .zones
                .iter()
                .filter(|z| self.sensitive(Some(z)))
                .map(|z| z.to_string())
                .collect(),
            log_codes: self.codes.clone(),
            key_sets: self.key_sets(),
            key_table: self.policy.log.key_table,
            flows,
            intra_marks: if self.policy.intra_zone == IntraZone::Accept {
                self.zones
                    .iter()
                    .map(|z| (z.to_string(), crate::mark::intra_mark(z)))
                    .collect()
            } else {
                BTreeMap::new()
            },
            signer: None,
        }
    }
}

/// Flows in id order with their address ranges, computed once for all the map kinds they fill.
fn flow_ends<'f>(policy: &Policy, flows: &[&'f Flow]) -> Vec<(&'f Flow, Vec<Range>, Vec<Range>)> {
    flows
        .iter()
        .map(|f| {
            (
                *f,
                policy.endpoint_ranges(&f.from),
                policy.endpoint_ranges(&f.to),
            )
        })
        .collect()
}

/// The disjoint elements of one map (earlier ids own overlaps; see flowmap.rs).
fn map_elems(ends: &[(&Flow, Vec<Range>, Vec<Range>)], kind: MapKind) -> Vec<Elem> {
    let mut mb = MapBuilder::default();
    for (f, src, dst) in ends {
        mb.add(
            &f.id,
            f.mark,
            crate::flowmap::flow_boxes(kind, src, dst, &f.specs),
        );
    }
    mb.finish()
}

/// Renders an address for messages (used by explain).
pub fn addr_text(family: Family, v: u128) -> String {
    from_int(family, v).to_string()
}
