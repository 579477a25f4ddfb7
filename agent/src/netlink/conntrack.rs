//! ctnetlink: dump the conntrack table, delete chosen entries, and parse the new-entry notices
//! the monitor records during a tamper window. Deletion names the entry by its original tuple
//! (copied verbatim from the dump) plus its id, so only that exact entry goes.

use super::{
    attr, attrs, be16, be32, error_code, messages, MsgBuilder, NlSocket, NLMSG_DONE, NLMSG_ERROR,
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use nix::errno::Errno;
use nix::sys::socket::SockProtocol;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const SUBSYS: u16 = 1 << 8;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_MARK: u16 = 8;
const CTA_ID: u16 = 12;
const CTA_ZONE: u16 = 18;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_PROTO_ICMP_TYPE: u16 = 5;
const CTA_PROTO_ICMPV6_TYPE: u16 = 8;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const TIMEOUT: Duration = Duration::from_secs(5);

/// One conntrack entry, as much as upkeep needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtEntry {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number.
    pub proto: u8,
    pub sport: u16,
    /// Destination port, or the ICMP/ICMPv6 type.
    pub dport: u16,
    pub mark: u32,
    pub id: Option<u32>,
    pub zone: Option<u16>,
    /// The CTA_TUPLE_ORIG value, verbatim, for deletion.
    pub orig: Vec<u8>,
}

impl CtEntry {
    fn family(&self) -> u8 {
        if self.src.is_ipv4() {
            AF_INET
        } else {
            AF_INET6
        }
    }
}

fn ip(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => {
            let b: [u8; 4] = v.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        16 => {
            let b: [u8; 16] = v.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// Parses an entry's attributes (after the nfgenmsg).
pub fn parse_entry(buf: &[u8]) -> Option<CtEntry> {
    let orig = attr(buf, CTA_TUPLE_ORIG)?;
    let ipt = attr(orig, CTA_TUPLE_IP)?;
    let (src, dst) = match (attr(ipt, CTA_IP_V4_SRC), attr(ipt, CTA_IP_V4_DST)) {
        (Some(s), Some(d)) => (ip(s)?, ip(d)?),
        _ => (
            ip(attr(ipt, CTA_IP_V6_SRC)?)?,
            ip(attr(ipt, CTA_IP_V6_DST)?)?,
        ),
    };
    let proto_attrs = attr(orig, CTA_TUPLE_PROTO)?;
    let proto = *attr(proto_attrs, CTA_PROTO_NUM)?.first()?;
    let sport = attr(proto_attrs, CTA_PROTO_SRC_PORT)
        .and_then(be16)
        .unwrap_or(0);
    let dport = match attr(proto_attrs, CTA_PROTO_DST_PORT).and_then(be16) {
        Some(p) => p,
        None => attr(proto_attrs, CTA_PROTO_ICMP_TYPE)
            .or_else(|| attr(proto_attrs, CTA_PROTO_ICMPV6_TYPE))
            .and_then(|v| v.first().copied())
            .map(u16::from)
            .unwrap_or(0),
    };
    Some(CtEntry {
        src,
        dst,
        proto,
        sport,
        dport,
        mark: attr(buf, CTA_MARK).and_then(be32).unwrap_or(0),
        id: attr(buf, CTA_ID).and_then(be32),
        zone: attr(buf, CTA_ZONE).and_then(be16),
        orig: orig.to_vec(),
    })
}

/// Dumps every entry of every family. Blocking: run it off the event loop.
pub fn dump() -> io::Result<Vec<CtEntry>> {
    for _attempt in 0..3 {
        let sock = NlSocket::open(SockProtocol::NetlinkNetFilter, 0, false, Some(TIMEOUT))?;
        sock.force_receive_buffer(4 << 20)?;
        let req = MsgBuilder::new(SUBSYS | IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 1)
            .raw(&[0, 0, 0, 0])
            .finish();
        sock.send(&req)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut out = Vec::new();
        let mut interrupted = false;
        'recv: loop {
            let n = match sock.recv(&mut buf) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(io::Error::from_raw_os_error(e as i32)),
            };
            for msg in messages(&buf[..n]) {
                if msg.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match msg.ty {
                    NLMSG_DONE => break 'recv,
                    NLMSG_ERROR => {
                        let code = error_code(msg.payload).unwrap_or(-1);
                        if code != 0 {
                            return Err(io::Error::from_raw_os_error(-code));
                        }
                    }
                    _ => {
                        if let Some(e) = msg.payload.get(4..).and_then(parse_entry) {
                            out.push(e);
                        }
                    }
                }
            }
        }
        if !interrupted {
            return Ok(out);
        }
    }
    Err(io::Error::other("conntrack dump kept being interrupted"))
}

/// Deletes entries; returns how many went (already gone counts as gone). Blocking.
pub fn delete(entries: &[CtEntry]) -> io::Result<u64> {
    if entries.is_empty() {
        return Ok(0);
    }
    let sock = NlSocket::open(SockProtocol::NetlinkNetFilter, 0, false, Some(TIMEOUT))?;
    let mut buf = vec![0u8; 64 << 10];
    let mut gone = 0;
    for (i, e) in entries.iter().enumerate() {
        let seq = i as u32 + 1;
        let mut b = MsgBuilder::new(
            SUBSYS | IPCTNL_MSG_CT_DELETE,
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
        )
        .raw(&[e.family(), 0, 0, 0])
        .nest(CTA_TUPLE_ORIG);
        for (kind, value) in attrs(&e.orig) {
            b = rebuild(b, kind, value);
        }
        b = b.end();
        if let Some(id) = e.id {
            b = b.attr(CTA_ID, &id.to_be_bytes());
        }
        if let Some(z) = e.zone {
            b = b.attr(CTA_ZONE, &z.to_be_bytes());
        }
        sock.send(&b.finish())?;
        loop {
            let n = match sock.recv(&mut buf) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(io::Error::from_raw_os_error(e as i32)),
            };
            let mut acked = false;
            for msg in messages(&buf[..n]) {
                if msg.ty == NLMSG_ERROR && msg.seq == seq {
                    let code = error_code(msg.payload).unwrap_or(-1);
                    if code == 0 || code == -(Errno::ENOENT as i32) {
                        gone += 1;
                    }
                    acked = true;
                }
            }
            if acked {
                break;
            }
        }
    }
    Ok(gone)
}

/// Re-emits a tuple attribute; the tuple's IP and protocol parts are nested.
fn rebuild(b: MsgBuilder, kind: u16, value: &[u8]) -> MsgBuilder {
    if kind == CTA_TUPLE_IP || kind == CTA_TUPLE_PROTO {
        let mut b = b.nest(kind);
        for (k, v) in attrs(value) {
            b = b.attr(k, v);
        }
        b.end()
    } else {
        b.attr(kind, value)
    }
}

/// Builds an entry's attributes as the kernel sends them (tests and fixtures).
pub fn encode_entry(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
    mark: u32,
) -> Vec<u8> {
    let (s_kind, d_kind, s, d) = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (
            CTA_IP_V4_SRC,
            CTA_IP_V4_DST,
            s.octets().to_vec(),
            d.octets().to_vec(),
        ),
        (s, d) => (
            CTA_IP_V6_SRC,
            CTA_IP_V6_DST,
            match s {
                IpAddr::V6(a) => a.octets().to_vec(),
                IpAddr::V4(a) => a.to_ipv6_mapped().octets().to_vec(),
            },
            match d {
                IpAddr::V6(a) => a.octets().to_vec(),
                IpAddr::V4(a) => a.to_ipv6_mapped().octets().to_vec(),
            },
        ),
    };
    let msg = MsgBuilder::new(0, 0, 0)
        .nest(CTA_TUPLE_ORIG)
        .nest(CTA_TUPLE_IP)
        .attr(s_kind, &s)
        .attr(d_kind, &d)
        .end()
        .nest(CTA_TUPLE_PROTO)
        .attr(CTA_PROTO_NUM, &[proto])
        .attr(CTA_PROTO_SRC_PORT, &sport.to_be_bytes())
        .attr(CTA_PROTO_DST_PORT, &dport.to_be_bytes())
        .end()
        .end()
        .attr(CTA_MARK, &mark.to_be_bytes())
        .attr(CTA_ID, &77u32.to_be_bytes())
        .finish();
    msg[16..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_encoded_entry() {
        let bytes = encode_entry(
            "10.20.1.11".parse().expect("ip"),
            "10.10.0.30".parse().expect("ip"),
            6,
            40000,
            443,
            0x8cb5c122,
        );
        let e = parse_entry(&bytes).expect("entry");
        assert_eq!(e.dport, 443);
        assert_eq!(e.sport, 40000);
        assert_eq!(e.proto, 6);
        assert_eq!(e.mark, 0x8cb5c122);
        assert_eq!(e.id, Some(77));
        assert_eq!(e.src.to_string(), "10.20.1.11");
    }
}
