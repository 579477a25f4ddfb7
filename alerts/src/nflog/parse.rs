//! Header-only parsing of logged packets. The compiled ruleset already asks the kernel for
//! headers only (snaplen 28 for IPv4, 68 for IPv4 with options, 48 for IPv6, 112 for IPv6 with
//! extension headers), and the socket caps every copy at [`COPY_RANGE`]; this parser is the last line: it reads addresses, protocol, ports and ICMP
//! type from the start of the copy and returns plain values, never a slice of the packet, so no
//! payload byte (which may hold personal data) can travel further. It also
//! reports how many bytes past the transport header it was handed, so the caller can zero and
//! count them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most bytes of a packet the NFLOG socket asks the kernel for: the largest snaplen the
/// compiler emits (an IPv6 header, 64 bytes of extension headers and the first 8 bytes of the
/// transport header). A foreign rule logging to our group without a snaplen still gets no more
/// than this, and whatever lies past the transport header is counted and zeroed by the caller.
pub const COPY_RANGE: u32 = 112;

/// IP version of a logged packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }
}

/// The header fields of one logged packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Headers {
    pub family: Family,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number (after IPv6 extension headers, when they fit in the copy).
    pub protocol: u8,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
}

/// Parsed headers and the number of bytes of `data` past the transport header (payload).
pub fn parse_headers(data: &[u8]) -> Option<(Headers, usize)> {
    match data.first().map(|b| b >> 4) {
        Some(4) => parse_v4(data),
        Some(6) => parse_v6(data),
        _ => None,
    }
}

fn parse_v4(d: &[u8]) -> Option<(Headers, usize)> {
    if d.len() < 20 {
        return None;
    }
    let ihl = usize::from(d[0] & 0x0f) * 4;
    if ihl < 20 {
        return None;
    }
    let protocol = d[9];
    let src = Ipv4Addr::new(d[12], d[13], d[14], d[15]);
    let dst = Ipv4Addr::new(d[16], d[17], d[18], d[19]);
    // A non-first fragment carries no transport header.
    let fragment_offset = u16::from_be_bytes([d[6], d[7]]) & 0x1fff;
    let mut h = Headers {
        family: Family::V4,
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        protocol,
        src_port: None,
        dst_port: None,
        icmp_type: None,
        icmp_code: None,
    };
    let l4 = if fragment_offset == 0 {
        d.get(ihl..).unwrap_or(&[])
    } else {
        &[]
    };
    let used = transport(&mut h, l4, protocol == 1);
    Some((h, d.len().saturating_sub(ihl.min(d.len()) + used)))
}

fn parse_v6(d: &[u8]) -> Option<(Headers, usize)> {
    if d.len() < 40 {
        return None;
    }
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&d[8..24]);
    dst.copy_from_slice(&d[24..40]);
    let mut next = d[6];
    let mut off = 40usize;
    let mut l4_ok = true;
    // Walk extension headers as far as the copy reaches (bounded: at most 8 of them).
    for _ in 0..8 {
        let len = match next {
            0 | 43 | 60 => d.get(off + 1).map(|l| (usize::from(*l) + 1) * 8),
            44 => {
                if let Some(fo) = d.get(off + 2..off + 4) {
                    if u16::from_be_bytes([fo[0], fo[1]]) & 0xfff8 != 0 {
                        l4_ok = false;
                    }
                }
                Some(8)
            }
            51 => d.get(off + 1).map(|l| (usize::from(*l) + 2) * 4),
            _ => break,
        };
        match (len, d.get(off)) {
            (Some(len), Some(n)) => {
                next = *n;
                off += len;
            }
            _ => {
                l4_ok = false;
                break;
            }
        }
    }
    let mut h = Headers {
        family: Family::V6,
        src: IpAddr::V6(Ipv6Addr::from(src)),
        dst: IpAddr::V6(Ipv6Addr::from(dst)),
        protocol: next,
        src_port: None,
        dst_port: None,
        icmp_type: None,
        icmp_code: None,
    };
    let l4 = if l4_ok {
        d.get(off..).unwrap_or(&[])
    } else {
        &[]
    };
    let used = transport(&mut h, l4, next == 58);
    Some((h, d.len().saturating_sub(off.min(d.len()) + used)))
}

/// Fills ports or ICMP type/code from the transport header; returns its length within `l4`.
fn transport(h: &mut Headers, l4: &[u8], icmp: bool) -> usize {
    let header_len = match h.protocol {
        // TCP: data offset in 32-bit words (byte 12), when the copy reaches it.
        6 => l4.get(12).map_or(20, |b| usize::from(b >> 4).max(5) * 4),
        17 | 136 => 8,
        132 => 12,
        33 => 16,
        1 | 58 => 8,
        _ => 0,
    };
    if icmp {
        h.icmp_type = l4.first().copied();
        h.icmp_code = l4.get(1).copied();
    } else if matches!(h.protocol, 6 | 17 | 136 | 132 | 33) && l4.len() >= 4 {
        h.src_port = Some(u16::from_be_bytes([l4[0], l4[1]]));
        h.dst_port = Some(u16::from_be_bytes([l4[2], l4[3]]));
    }
    header_len.min(l4.len())
}

/// Protocol name as alerts show it.
pub fn protocol_name(p: u8) -> String {
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

/// The code of a zonegate log prefix `zg:N ` (NUL and spaces tolerated), else None.
pub fn parse_prefix(prefix: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(prefix).ok()?;
    let code = text.trim_end_matches(['\0', ' ']).strip_prefix("zg:")?;
    if code.is_empty() || code.len() > 9 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_udp(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 20, 0, 2, 10, 10, 0, 5,
        ];
        p.extend_from_slice(&[0x13, 0x89, 0x00, 0x35, 0, 8, 0, 0]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn ipv4_udp_with_payload_reports_the_payload_length_only() {
        let (h, rest) = parse_headers(&v4_udp(b"SECRET-PERSONAL-DATA")).unwrap();
        assert_eq!(h.src, "10.20.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(h.dst, "10.10.0.5".parse::<IpAddr>().unwrap());
        assert_eq!(
            (h.protocol, h.src_port, h.dst_port),
            (17, Some(5001), Some(53))
        );
        assert_eq!(rest, 20);
        // Snaplen 28: exactly the headers.
        let (_, rest) = parse_headers(&v4_udp(b"")[..28]).unwrap();
        assert_eq!(rest, 0);
    }

    #[test]
    fn ipv4_fragments_icmp_and_short_copies() {
        let mut frag = v4_udp(b"");
        frag[6] = 0x00;
        frag[7] = 0x10;
        let (h, _) = parse_headers(&frag).unwrap();
        assert_eq!(h.dst_port, None);
        let mut icmp = v4_udp(b"");
        icmp[9] = 1;
        icmp[20] = 8;
        icmp[21] = 0;
        let (h, _) = parse_headers(&icmp).unwrap();
        assert_eq!(
            (h.icmp_type, h.icmp_code, h.src_port),
            (Some(8), Some(0), None)
        );
        assert!(parse_headers(&icmp[..19]).is_none());
        assert!(parse_headers(&[]).is_none());
        assert!(parse_headers(&[0x55; 40]).is_none());
    }

    #[test]
    fn ipv6_tcp_and_extension_headers() {
        let mut p = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        p.extend_from_slice(&"fd00:20::2".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"fd00:10::5".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&[0xc0, 0x00, 0x01, 0xbb, 0, 0, 0, 1]);
        let (h, rest) = parse_headers(&p).unwrap();
        assert_eq!((h.protocol, h.dst_port, rest), (6, Some(443), 0));
        // Hop-by-hop header first: the ports are beyond a 48-byte copy.
        let mut q = p[..40].to_vec();
        q[6] = 0;
        q.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
        let (h, _) = parse_headers(&q).unwrap();
        assert_eq!((h.protocol, h.dst_port), (6, None));
    }

    /// An IPv4 header with `options` (a multiple of 4 bytes) and the given protocol.
    fn v4_with_options(protocol: u8, options: &[u8]) -> Vec<u8> {
        assert_eq!(options.len() % 4, 0);
        let ihl = 5 + options.len() / 4;
        let mut p = vec![
            0x40 | ihl as u8,
            0,
            0,
            0,
            0,
            0,
            0x40,
            0,
            64,
            protocol,
            0,
            0,
            10,
            20,
            0,
            2,
            10,
            10,
            0,
            5,
        ];
        p.extend_from_slice(options);
        p
    }

    /// 8 bytes of IPv4 options: record route with room for one address, then end of list.
    const V4_OPTIONS: [u8; 8] = [7, 7, 4, 0, 0, 0, 0, 0];

    #[test]
    fn ipv4_with_options_and_a_tcp_syn_gives_the_ports() {
        let mut p = v4_with_options(6, &V4_OPTIONS);
        // TCP SYN with 20 bytes of options (data offset 10): MSS, SACK, timestamps, wscale.
        p.extend_from_slice(&[0xc3, 0x50, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0, 0x02]);
        p.extend_from_slice(&[0xfa, 0xf0, 0, 0, 0, 0]);
        p.extend_from_slice(&[
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ]);
        let (h, rest) = parse_headers(&p).unwrap();
        assert_eq!(h.src, "10.20.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(h.dst, "10.10.0.5".parse::<IpAddr>().unwrap());
        assert_eq!(
            (h.protocol, h.src_port, h.dst_port),
            (6, Some(50000), Some(443))
        );
        assert_eq!(rest, 0, "a SYN carries no payload");
        // The compiler's snaplen for IPv4 with options (68) cuts the TCP options: still ports.
        let (h, rest) = parse_headers(&p[..p.len().min(68)]).unwrap();
        assert_eq!((h.dst_port, rest), (Some(443), 0));
        // Only the options and the first 8 bytes of TCP: ports, nothing counted as payload.
        let (h, rest) = parse_headers(&p[..36]).unwrap();
        assert_eq!((h.src_port, h.dst_port, rest), (Some(50000), Some(443), 0));
    }

    #[test]
    fn ipv4_with_options_and_udp_payload_counts_every_payload_byte() {
        let mut p = v4_with_options(17, &V4_OPTIONS);
        p.extend_from_slice(&[0x13, 0x89, 0x00, 0x35, 0, 108, 0, 0]);
        p.extend_from_slice(&[0x5a; 100]);
        // What the socket hands over at most.
        let copy = &p[..COPY_RANGE as usize];
        let (h, rest) = parse_headers(copy).unwrap();
        assert_eq!(
            (h.protocol, h.src_port, h.dst_port),
            (17, Some(5001), Some(53))
        );
        // 112 - 28 (IPv4 with options) - 8 (UDP): all of it is payload and reported as such.
        assert_eq!(rest, 76);
        // Snaplen 68: the IPv4 header with options, 8 bytes of UDP, 32 payload bytes.
        let (_, rest) = parse_headers(&p[..68]).unwrap();
        assert_eq!(rest, 32);
        // Exactly the headers: nothing past the transport header's first 8 bytes.
        let (_, rest) = parse_headers(&p[..36]).unwrap();
        assert_eq!(rest, 0);
    }

    #[test]
    fn ipv4_options_longer_than_the_copy_give_no_ports() {
        let mut p = v4_with_options(17, &[1; 40]);
        p.extend_from_slice(&[0x13, 0x89, 0x00, 0x35, 0, 8, 0, 0]);
        // Snaplen 28 of an old ruleset: the UDP header is not in the copy.
        let (h, rest) = parse_headers(&p[..28]).unwrap();
        assert_eq!(
            (h.protocol, h.src_port, h.dst_port, rest),
            (17, None, None, 0)
        );
        let (h, rest) = parse_headers(&p).unwrap();
        assert_eq!((h.dst_port, rest), (Some(53), 0));
    }

    fn v6(next: u8) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, 0, next, 64];
        p.extend_from_slice(&"fd00:20::2".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"fd00:10::5".parse::<Ipv6Addr>().unwrap().octets());
        p
    }

    const TCP_ACK: [u8; 20] = [
        0xc0, 0x00, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0xfa, 0xf0, 0, 0, 0, 0,
    ];

    #[test]
    fn ipv6_with_destination_options_and_tcp_gives_the_ports() {
        // Destination options (60), 8 bytes (length field 0): a PadN option filling it.
        let mut p = v6(60);
        p.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&TCP_ACK);
        p.extend_from_slice(&[0x5a; 100]);
        let copy = &p[..COPY_RANGE as usize];
        let (h, rest) = parse_headers(copy).unwrap();
        assert_eq!(
            (h.protocol, h.src_port, h.dst_port),
            (6, Some(49152), Some(443))
        );
        // 112 - 40 - 8 (destination options) - 20 (TCP).
        assert_eq!(rest, 44);
        // Hop-by-hop, then destination options, then TCP: both walked.
        let mut q = v6(0);
        q.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        q.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
        q.extend_from_slice(&TCP_ACK);
        let (h, rest) = parse_headers(&q).unwrap();
        assert_eq!((h.protocol, h.dst_port, rest), (6, Some(443), 0));
        // A 16-byte destination options header (length field 1) and only 8 bytes of TCP.
        let mut r = v6(60);
        r.extend_from_slice(&[6, 1, 1, 12]);
        r.extend_from_slice(&[0; 12]);
        r.extend_from_slice(&TCP_ACK[..8]);
        let (h, rest) = parse_headers(&r).unwrap();
        assert_eq!(
            (h.protocol, h.src_port, h.dst_port, rest),
            (6, Some(49152), Some(443), 0)
        );
    }

    #[test]
    fn ipv6_hop_by_hop_within_the_copy_range_gives_the_ports() {
        let mut p = v6(0);
        p.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&[0x13, 0x89, 0x02, 0x22, 0, 8, 0, 0]);
        let (h, rest) = parse_headers(&p).unwrap();
        assert_eq!((h.protocol, h.dst_port, rest), (17, Some(546), 0));
    }

    #[test]
    fn prefixes() {
        assert_eq!(parse_prefix(b"zg:12 \0"), Some(12));
        assert_eq!(parse_prefix(b"zg:1 "), Some(1));
        assert_eq!(parse_prefix(b"zonefw-deny "), None);
        assert_eq!(parse_prefix(b"zg: "), None);
        assert_eq!(parse_prefix(b"zg:99999999999 "), None);
        assert_eq!(parse_prefix(b"zg:-1 "), None);
    }
}
