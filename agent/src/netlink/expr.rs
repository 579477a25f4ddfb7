//! Reads what a foreign write put into our table from the change notices themselves: the
//! expressions of a rule (NEWRULE/DELRULE carry them) and the keys of set elements
//! (NEWSETELEM/DELSETELEM), rendered close to nft's own syntax ("ip saddr 10.10.0.5 accept",
//! "tcp dport 22 counter accept comment \"x\""). So a drift alert shows what was written even
//! when the repair came before any listing could see it.
//!
//! The decoder is a small symbolic walk over the expressions: loads (meta, payload, ct) name a
//! register, bitwise masks it, cmp and lookup compare it, immediate sets the verdict. The
//! implicit dependencies nft adds (`meta nfproto ipv4` before an IPv4 header field, `meta
//! l4proto tcp` before a TCP port) are folded into the field's name as nft prints them. An
//! expression it does not know is shown as `expression NAME`, never dropped. Attribute numbers
//! are from the kernel's uapi header `linux/netfilter/nf_tables.h`.

use super::{attr, attrs, be32, string};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_RULE_USERDATA: u16 = 7;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_KEY_END: u16 = 9;
const NFT_SET_ELEM_INTERVAL_END: u32 = 1;
/// Userdata TLV type of a rule comment (libnftnl `NFTNL_UDATA_RULE_COMMENT`).
const UDATA_RULE_COMMENT: u8 = 0;

/// Rendered length cap of one rule or element (a hostile rule cannot grow an alert much).
const MAX_RENDERED: usize = 400;

/// What a register holds, as far as the walk knows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reg {
    /// The field's name as nft prints it ("ip saddr", "meta l4proto", "tcp dport").
    name: String,
    /// How to show a value of it.
    ty: Ty,
    /// A `bitwise` mask applied to it.
    mask: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Ipv4,
    Ipv6,
    Port,
    Proto,
    NfProto,
    Ifname,
    /// Host-order 32-bit value (marks, lengths).
    HostU32,
    Hex,
}

/// Registers: 16-byte registers 1..4 are 32-bit registers 8, 12, 16, 20.
fn reg_index(r: u32) -> u32 {
    if (1..=4).contains(&r) {
        8 + (r - 1) * 4
    } else {
        r
    }
}

fn u32_attr(buf: &[u8], kind: u16) -> Option<u32> {
    attr(buf, kind).and_then(be32)
}

fn data_value(buf: &[u8]) -> Option<&[u8]> {
    attr(buf, NFTA_DATA_VALUE)
}

fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        33 => "dccp".into(),
        58 => "icmpv6".into(),
        132 => "sctp".into(),
        136 => "udplite".into(),
        n => n.to_string(),
    }
}

fn hex(v: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in v {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn show(ty: Ty, v: &[u8]) -> String {
    match ty {
        Ty::Ipv4 if v.len() >= 4 => Ipv4Addr::new(v[0], v[1], v[2], v[3]).to_string(),
        Ty::Ipv6 if v.len() >= 16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&v[..16]);
            Ipv6Addr::from(a).to_string()
        }
        Ty::Port if v.len() >= 2 => u16::from_be_bytes([v[0], v[1]]).to_string(),
        Ty::Proto if !v.is_empty() => proto_name(v[0]),
        Ty::NfProto if !v.is_empty() => match v[0] {
            2 => "ipv4".into(),
            10 => "ipv6".into(),
            n => n.to_string(),
        },
        Ty::Ifname => format!("\"{}\"", string(v).escape_default()),
        Ty::HostU32 if v.len() >= 4 => {
            format!("0x{:08x}", u32::from_ne_bytes([v[0], v[1], v[2], v[3]]))
        }
        _ => hex(v),
    }
}

/// The prefix length of a contiguous mask (`ff ff 00 00` -> 16), if it is one.
fn prefix_len(mask: &[u8]) -> Option<u32> {
    let mut bits = 0;
    let mut ended = false;
    for b in mask {
        for i in (0..8).rev() {
            let set = b & (1 << i) != 0;
            if set && ended {
                return None;
            }
            if set {
                bits += 1;
            } else {
                ended = true;
            }
        }
    }
    Some(bits)
}

fn verdict(buf: &[u8]) -> Option<String> {
    let v = attr(buf, NFTA_DATA_VERDICT)?;
    let code = u32_attr(v, NFTA_VERDICT_CODE)? as i32;
    let chain = attr(v, NFTA_VERDICT_CHAIN).map(string).unwrap_or_default();
    Some(match code {
        0 => "drop".into(),
        1 => "accept".into(),
        -1 => "continue".into(),
        -2 => "break".into(),
        -3 => format!("jump {chain}"),
        -4 => format!("goto {chain}"),
        -5 => "return".into(),
        n => format!("verdict {n}"),
    })
}

/// The walk's state.
#[derive(Default)]
struct Walk {
    regs: HashMap<u32, Reg>,
    parts: Vec<String>,
    /// Index in `parts` of a `meta nfproto`/`meta l4proto` match that the next header load may
    /// make implicit, and the protocol it named.
    dependency: Option<(usize, String)>,
    /// The transport protocol named by the last `meta l4proto` / `ip protocol` match.
    l4: Option<String>,
}

impl Walk {
    fn load(&mut self, dreg: Option<u32>, reg: Reg) {
        if let Some(d) = dreg {
            self.regs.insert(reg_index(d), reg);
        }
    }

    fn payload(&mut self, e: &[u8]) {
        let base = u32_attr(e, 2).unwrap_or(u32::MAX);
        let off = u32_attr(e, 3).unwrap_or(0);
        let len = u32_attr(e, 4).unwrap_or(0);
        // A header field makes the preceding family or protocol match implicit.
        let (name, ty) = match (base, off, len) {
            (1, 12, 4) => ("ip saddr".to_string(), Ty::Ipv4),
            (1, 16, 4) => ("ip daddr".to_string(), Ty::Ipv4),
            (1, 9, 1) => ("ip protocol".to_string(), Ty::Proto),
            (1, 8, 16) => ("ip6 saddr".to_string(), Ty::Ipv6),
            (1, 24, 16) => ("ip6 daddr".to_string(), Ty::Ipv6),
            (1, 6, 1) => ("ip6 nexthdr".to_string(), Ty::Proto),
            (2, 0, 2) | (2, 2, 2) => {
                let proto = match self.l4.as_deref() {
                    Some(p @ ("tcp" | "udp" | "sctp" | "dccp" | "udplite")) => p.to_string(),
                    _ => "th".to_string(),
                };
                let field = if off == 0 { "sport" } else { "dport" };
                (format!("{proto} {field}"), Ty::Port)
            }
            (2, 0, 1) if matches!(self.l4.as_deref(), Some("icmp" | "icmpv6")) => (
                format!("{} type", self.l4.clone().unwrap_or_default()),
                Ty::Hex,
            ),
            (b, o, l) => {
                let base = match b {
                    0 => "ll",
                    1 => "nh",
                    2 => "th",
                    _ => "ih",
                };
                (format!("@{base},{},{}", o * 8, l * 8), Ty::Hex)
            }
        };
        if let Some((i, _)) = self.dependency.take() {
            let implicit = (base == 1
                && (name.starts_with("ip ") || name.starts_with("ip6 "))
                && self
                    .parts
                    .get(i)
                    .is_some_and(|p| p.starts_with("meta nfproto")))
                || (base == 2
                    && !name.starts_with("th ")
                    && !name.starts_with('@')
                    && self
                        .parts
                        .get(i)
                        .is_some_and(|p| p.starts_with("meta l4proto")));
            if implicit && i + 1 == self.parts.len() {
                self.parts.pop();
            }
        }
        self.load(
            u32_attr(e, 1),
            Reg {
                name,
                ty,
                mask: None,
            },
        );
    }

    fn meta(&mut self, e: &[u8]) {
        let key = u32_attr(e, 2).unwrap_or(u32::MAX);
        let (name, ty) = match key {
            0 => ("meta length", Ty::HostU32),
            3 => ("meta mark", Ty::HostU32),
            4 => ("meta iif", Ty::HostU32),
            5 => ("meta oif", Ty::HostU32),
            6 => ("iifname", Ty::Ifname),
            7 => ("oifname", Ty::Ifname),
            15 => ("meta nfproto", Ty::NfProto),
            16 => ("meta l4proto", Ty::Proto),
            _ => ("meta", Ty::Hex),
        };
        let name = if name == "meta" {
            format!("meta key {key}")
        } else {
            name.to_string()
        };
        match u32_attr(e, 1) {
            Some(d) => self.load(
                Some(d),
                Reg {
                    name,
                    ty,
                    mask: None,
                },
            ),
            // A meta set statement (sreg).
            None => self.parts.push(format!("{name} set")),
        }
    }

    fn ct(&mut self, e: &[u8]) {
        let key = u32_attr(e, 2).unwrap_or(u32::MAX);
        let name = match key {
            0 => "ct state".to_string(),
            1 => "ct direction".to_string(),
            2 => "ct status".to_string(),
            3 => "ct mark".to_string(),
            k => format!("ct key {k}"),
        };
        match u32_attr(e, 1) {
            Some(d) => self.load(
                Some(d),
                Reg {
                    name,
                    ty: if key == 3 { Ty::HostU32 } else { Ty::Hex },
                    mask: None,
                },
            ),
            None => self.parts.push(format!("{name} set")),
        }
    }

    fn bitwise(&mut self, e: &[u8]) {
        let (Some(s), Some(d)) = (u32_attr(e, 1), u32_attr(e, 2)) else {
            self.parts.push("expression bitwise".into());
            return;
        };
        let mask = attr(e, 4).and_then(data_value).map(<[u8]>::to_vec);
        let mut reg = self.regs.get(&reg_index(s)).cloned().unwrap_or(Reg {
            name: "?".into(),
            ty: Ty::Hex,
            mask: None,
        });
        reg.mask = mask;
        self.regs.insert(reg_index(d), reg);
    }

    fn cmp(&mut self, e: &[u8]) {
        let reg = u32_attr(e, 1)
            .and_then(|r| self.regs.get(&reg_index(r)).cloned())
            .unwrap_or(Reg {
                name: "?".into(),
                ty: Ty::Hex,
                mask: None,
            });
        let op = match u32_attr(e, 2).unwrap_or(0) {
            0 => "",
            1 => "!= ",
            2 => "< ",
            3 => "<= ",
            4 => "> ",
            5 => ">= ",
            _ => "? ",
        };
        let value = attr(e, 3).and_then(data_value).unwrap_or_default();
        let shown = match (&reg.mask, reg.ty) {
            (Some(m), Ty::Ipv4 | Ty::Ipv6) => match prefix_len(m) {
                Some(bits) => format!("{}/{bits}", show(reg.ty, value)),
                None => format!("{} & {}", show(reg.ty, value), hex(m)),
            },
            (Some(m), _) => format!("& {} {op}{}", hex(m), hex(value)),
            (None, ty) => show(ty, value),
        };
        if op.is_empty()
            && matches!(
                reg.name.as_str(),
                "meta l4proto" | "ip protocol" | "ip6 nexthdr"
            )
        {
            self.l4 = Some(show(Ty::Proto, value));
        }
        let dependency =
            op.is_empty() && matches!(reg.name.as_str(), "meta nfproto" | "meta l4proto");
        if reg.mask.is_some() && !matches!(reg.ty, Ty::Ipv4 | Ty::Ipv6) {
            self.parts.push(format!("{} {shown}", reg.name));
        } else {
            self.parts.push(format!("{} {op}{shown}", reg.name));
        }
        if dependency {
            self.dependency = Some((self.parts.len() - 1, reg.name.clone()));
        }
    }

    fn lookup(&mut self, e: &[u8]) {
        let set = attr(e, 1).map(string).unwrap_or_default();
        let reg = u32_attr(e, 2)
            .and_then(|r| self.regs.get(&reg_index(r)))
            .map(|r| r.name.clone())
            .unwrap_or_else(|| "?".into());
        let inv = u32_attr(e, 5).unwrap_or(0) & 1 == 1;
        self.parts
            .push(format!("{reg} {}@{set}", if inv { "!= " } else { "" }));
    }

    fn immediate(&mut self, e: &[u8]) {
        let dreg = u32_attr(e, 1).unwrap_or(0);
        let Some(data) = attr(e, 2) else {
            self.parts.push("expression immediate".into());
            return;
        };
        if dreg == 0 {
            self.parts
                .push(verdict(data).unwrap_or_else(|| "verdict ?".into()));
        } else if let Some(v) = data_value(data) {
            self.load(
                Some(dreg),
                Reg {
                    name: hex(v),
                    ty: Ty::Hex,
                    mask: None,
                },
            );
        }
    }

    fn expr(&mut self, name: &str, e: &[u8]) {
        match name {
            "meta" => self.meta(e),
            "payload" => self.payload(e),
            "ct" => self.ct(e),
            "bitwise" => self.bitwise(e),
            "cmp" => self.cmp(e),
            "lookup" => self.lookup(e),
            "immediate" => self.immediate(e),
            "counter" => self.parts.push("counter".into()),
            "log" => self.parts.push("log".into()),
            "limit" => self.parts.push("limit".into()),
            "dynset" => {
                let set = attr(e, 1).map(string).unwrap_or_default();
                self.parts.push(format!("update @{set}"));
            }
            other => self.parts.push(format!("expression {other}")),
        }
    }
}

fn cap(mut s: String) -> String {
    if s.len() > MAX_RENDERED {
        let mut end = MAX_RENDERED;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str(" ...");
    }
    s
}

/// The rule of a NEWRULE/DELRULE notice (its attributes, after the nfgenmsg), rendered; None
/// when it carries no expressions.
pub fn render_rule(attrs_buf: &[u8]) -> Option<String> {
    let list = attr(attrs_buf, NFTA_RULE_EXPRESSIONS)?;
    let mut w = Walk::default();
    for (k, elem) in attrs(list) {
        if k != NFTA_LIST_ELEM {
            continue;
        }
        let name = attr(elem, NFTA_EXPR_NAME).map(string).unwrap_or_default();
        let data = attr(elem, NFTA_EXPR_DATA).unwrap_or_default();
        w.expr(&name, data);
    }
    let mut text = w.parts.join(" ");
    if let Some(u) = attr(attrs_buf, NFTA_RULE_USERDATA) {
        let mut at = 0;
        while at + 2 <= u.len() {
            let (t, l) = (u[at], u[at + 1] as usize);
            let Some(v) = u.get(at + 2..at + 2 + l) else {
                break;
            };
            if t == UDATA_RULE_COMMENT {
                text.push_str(&format!(" comment \"{}\"", string(v).escape_default()));
            }
            at += 2 + l;
        }
    }
    Some(cap(text))
}

/// One element of a NEWSETELEM/DELSETELEM notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElemKey {
    pub key: Vec<u8>,
    pub key_end: Option<Vec<u8>>,
    /// The closing element of an interval.
    pub interval_end: bool,
    /// A map element's verdict, if it has one.
    pub verdict: Option<String>,
    pub data: Option<Vec<u8>>,
}

/// The elements of an element-list notice, at most `max`.
pub fn elements(attrs_buf: &[u8], max: usize) -> Vec<ElemKey> {
    let Some(list) = attr(attrs_buf, NFTA_SET_ELEM_LIST_ELEMENTS) else {
        return Vec::new();
    };
    attrs(list)
        .into_iter()
        .filter(|(k, _)| *k == NFTA_LIST_ELEM)
        .take(max)
        .filter_map(|(_, e)| {
            let key = attr(e, NFTA_SET_ELEM_KEY).and_then(data_value)?.to_vec();
            let data = attr(e, NFTA_SET_ELEM_DATA);
            Some(ElemKey {
                key,
                key_end: attr(e, NFTA_SET_ELEM_KEY_END)
                    .and_then(data_value)
                    .map(<[u8]>::to_vec),
                interval_end: u32_attr(e, NFTA_SET_ELEM_FLAGS)
                    .is_some_and(|f| f & NFT_SET_ELEM_INTERVAL_END != 0),
                verdict: data.and_then(verdict),
                data: data.and_then(data_value).map(<[u8]>::to_vec),
            })
        })
        .collect()
}

/// How wide a field of a set type is, and how to show it.
fn field(t: &str) -> (usize, Ty) {
    match t {
        "ipv4_addr" => (4, Ty::Ipv4),
        "ipv6_addr" => (16, Ty::Ipv6),
        "inet_service" => (2, Ty::Port),
        "inet_proto" => (1, Ty::Proto),
        "ifname" => (16, Ty::Ifname),
        "mark" => (4, Ty::HostU32),
        "nf_proto" => (1, Ty::NfProto),
        _ => (0, Ty::Hex),
    }
}

/// An element key shown by its set's type (`types`: one name per concatenated field, from the
/// baseline listing); without the type, by its length (4 bytes an IPv4 address, 16 an IPv6
/// address, else hex).
pub fn show_key(key: &[u8], types: &[String]) -> String {
    if types.is_empty() {
        return match key.len() {
            4 => show(Ty::Ipv4, key),
            16 => show(Ty::Ipv6, key),
            _ => hex(key),
        };
    }
    let concat = types.len() > 1;
    let mut parts = Vec::new();
    let mut at = 0;
    for t in types {
        let (len, ty) = field(t);
        if len == 0 {
            return hex(key);
        }
        let Some(v) = key.get(at..at + len) else {
            return hex(key);
        };
        parts.push(show(ty, v));
        // Concatenated fields occupy whole 32-bit registers.
        at += if concat { len.div_ceil(4) * 4 } else { len };
    }
    parts.join(" . ")
}

/// An element as a line: `10.20.0.9`, `10.0.0.0-10.0.0.255`, `"ens3" : accept`.
pub fn show_elem(e: &ElemKey, types: &[String]) -> String {
    let mut s = show_key(&e.key, types);
    if let Some(end) = &e.key_end {
        s.push('-');
        s.push_str(&show_key(end, types));
    }
    if e.interval_end {
        s.push_str(" (interval end)");
    }
    if let Some(v) = &e.verdict {
        s.push_str(" : ");
        s.push_str(v);
    } else if let Some(d) = &e.data {
        s.push_str(" : ");
        s.push_str(&hex(d));
    }
    cap(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// The attributes after the netlink header and nfgenmsg.
    fn attrs_of(msg: &[u8]) -> &[u8] {
        &msg[16 + 4..]
    }

    // Captured from NFNLGRP_NFTABLES (Linux 6.18, nft 1.0.6) with a Python netlink socket in a
    // scratch namespace, after `nft insert rule inet zonegate forward ip saddr 10.10.0.5 accept`.
    const SADDR_ACCEPT: &str = "20010000060a000401000000e34a0000010000030d0001007a6f6e6567617465000000000c000200666f7277617264000c0003000000000000000003e400040024000100090001006d6574610000000014000200080002000000000f08000100000000012c00010008000100636d700020000200080001000000000108000200000000000c0003000500010002000000340001000c0001007061796c6f6164002400020008000100000000010800020000000001080003000000000c08000400000000042c00010008000100636d700020000200080001000000000108000200000000000c000300080001000a0a0005300001000e000100696d6d6564696174650000001c0002000800010000000000100002000c0002000800010000000001";
    // `nft add rule inet zonegate forward tcp dport 22 counter accept comment "backdoor"`.
    const TCP22: &str = "5c010000060a000c01000000e54a0000010000040d0001007a6f6e6567617465000000000c000200666f7277617264000c00030000000000000000041001040024000100090001006d6574610000000014000200080002000000001008000100000000012c00010008000100636d700020000200080001000000000108000200000000000c0003000500010006000000340001000c0001007061796c6f6164002400020008000100000000010800020000000002080003000000000208000400000000022c00010008000100636d700020000200080001000000000108000200000000000c00030006000100001600002c0001000c000100636f756e746572001c0002000c00010000000000000000000c0002000000000000000000300001000e000100696d6d6564696174650000001c0002000800010000000000100002000c00020008000100000000010f00070000096261636b646f6f720000";
    // `nft add rule inet zonegate forward ip daddr @src4 drop`.
    const LOOKUP_DROP: &str = "24010000060a000c01000000eb4a0000010000070d0001007a6f6e6567617465000000000c000200666f7277617264000c0003000000000000000005e800040024000100090001006d6574610000000014000200080002000000000f08000100000000012c00010008000100636d700020000200080001000000000108000200000000000c0003000500010002000000340001000c0001007061796c6f616400240002000800010000000001080002000000000108000300000000100800040000000004300001000b0001006c6f6f6b757000002000020009000100737263340000000008000200000000010800050000000000300001000e000100696d6d6564696174650000001c0002000800010000000000100002000c0002000800010000000000";
    // `nft add element inet zonegate src4 { 10.20.0.9 }` (one notice per element).
    const ELEM: &str = "440000000c0a000400000000e74a0000010000050d0001007a6f6e65676174650000000009000200737263340000000014000300100001000c000100080001000a140009";

    #[test]
    fn captured_rules_render_like_nft() {
        let m = bytes(SADDR_ACCEPT);
        assert_eq!(
            render_rule(attrs_of(&m)).as_deref(),
            Some("ip saddr 10.10.0.5 accept")
        );
        let m = bytes(TCP22);
        assert_eq!(
            render_rule(attrs_of(&m)).as_deref(),
            Some("tcp dport 22 counter accept comment \"backdoor\"")
        );
        let m = bytes(LOOKUP_DROP);
        assert_eq!(
            render_rule(attrs_of(&m)).as_deref(),
            Some("ip daddr @src4 drop")
        );
    }

    #[test]
    fn captured_elements_render_by_their_set_type() {
        let m = bytes(ELEM);
        let e = elements(attrs_of(&m), 16);
        assert_eq!(e.len(), 1);
        assert_eq!(show_elem(&e[0], &["ipv4_addr".to_string()]), "10.20.0.9");
        assert_eq!(show_elem(&e[0], &[]), "10.20.0.9");
        // A concatenation: fields padded to 32 bits.
        let key = [
            0, 0, 0, 7, // mark (host order shown as hex)
            10, 20, 0, 9, // ipv4
            0, 22, 0, 0, // inet_service, padded
        ];
        let t: Vec<String> = ["mark", "ipv4_addr", "inet_service"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(show_key(&key, &t).ends_with(" . 10.20.0.9 . 22"));
    }

    #[test]
    fn unknown_and_truncated_input_never_panics() {
        let m = bytes(TCP22);
        let a = attrs_of(&m);
        for cut in 0..a.len() {
            let _ = render_rule(&a[..cut]);
            let _ = elements(&a[..cut], 4);
        }
        // An unknown expression is named, not dropped.
        let mut w = Walk::default();
        w.expr("nat", &[]);
        assert_eq!(w.parts, vec!["expression nat".to_string()]);
    }
}
