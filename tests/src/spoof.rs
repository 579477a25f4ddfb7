//! Forged packets and packet capture inside lab namespaces (needs CAP_NET_RAW).
//!
//! The builders ([`udp_packet`], [`tcp_packet`], [`icmp_error_packet`], [`ethernet_frame`]) are
//! pure and produce complete IPv4/IPv6 packets with any source address and correct checksums.
//! The senders put them on a namespace's interface either at layer 3 ([`send_ip`]: a raw
//! `IPPROTO_RAW` socket bound to the interface, so the kernel routes the packet and resolves the
//! next hop but keeps our header, forged source included) or at layer 2
//! ([`send_frame_with_mac`]: a whole Ethernet frame through pnet's datalink channel, with a
//! chosen source MAC). [`Capture`] records every frame seen on an interface in a background
//! thread so a test can assert what did, or did not, arrive. Nothing here picks addresses: the
//! test decides, and must keep traffic between the lab's own namespaces.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use pnet::datalink::{self, Channel, NetworkInterface};
use pnet::packet::ip::IpNextHeaderProtocol;
use pnet::packet::util;
pub use pnet::util::MacAddr;
use socket2::{Domain, Protocol, Socket, Type};

use crate::lab::{try_in_ns, LabError, IP};

/// IP protocol numbers used here.
const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;

/// TCP flag bits (byte 13 of the TCP header).
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// Why a packet could not be built, sent or captured.
#[derive(Debug)]
pub enum SpoofError {
    /// Bad arguments (mixed address families, unknown interface, oversized packet).
    Usage(String),
    /// A socket, channel or command failed.
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The namespace could not be entered.
    Lab(LabError),
}

impl SpoofError {
    fn io(context: impl Into<String>, source: io::Error) -> Self {
        SpoofError::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for SpoofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpoofError::Usage(why) => write!(f, "{why}"),
            SpoofError::Io { context, source } => write!(f, "{context}: {source}"),
            SpoofError::Lab(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SpoofError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpoofError::Io { source, .. } => Some(source),
            SpoofError::Lab(e) => Some(e),
            SpoofError::Usage(_) => None,
        }
    }
}

impl From<LabError> for SpoofError {
    fn from(e: LabError) -> Self {
        SpoofError::Lab(e)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Builders

/// Per-process counter for IPv4 identification fields and TCP sequence numbers, so two forged
/// packets are never byte-identical by accident.
static PACKET_COUNTER: AtomicU32 = AtomicU32::new(1);

fn check_family(a: IpAddr, b: IpAddr) -> Result<(), SpoofError> {
    if a.is_ipv4() == b.is_ipv4() {
        Ok(())
    } else {
        Err(SpoofError::Usage(format!(
            "{a} and {b} are of different address families"
        )))
    }
}

/// Wraps `l4` (whose checksum is already final) in an IPv4 or IPv6 header from `src` to `dst`.
fn ip_packet(src: IpAddr, dst: IpAddr, protocol: u8, l4: &[u8]) -> Result<Vec<u8>, SpoofError> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = 20 + l4.len();
            let total = u16::try_from(total)
                .map_err(|_| SpoofError::Usage(format!("IPv4 packet of {total} bytes")))?;
            let id = PACKET_COUNTER.fetch_add(1, Ordering::Relaxed) as u16;
            let mut p = Vec::with_capacity(usize::from(total));
            p.extend_from_slice(&[0x45, 0]); // version 4, IHL 5; DSCP/ECN 0
            p.extend_from_slice(&total.to_be_bytes());
            p.extend_from_slice(&id.to_be_bytes());
            p.extend_from_slice(&[0x40, 0]); // DF, fragment offset 0
            p.extend_from_slice(&[64, protocol, 0, 0]); // TTL, protocol, checksum
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            let sum = util::checksum(&p, 5);
            p[10..12].copy_from_slice(&sum.to_be_bytes());
            p.extend_from_slice(l4);
            Ok(p)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = u16::try_from(l4.len())
                .map_err(|_| SpoofError::Usage(format!("IPv6 payload of {} bytes", l4.len())))?;
            let mut p = Vec::with_capacity(40 + l4.len());
            p.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, traffic class 0, flow label 0
            p.extend_from_slice(&len.to_be_bytes());
            p.extend_from_slice(&[protocol, 64]); // next header, hop limit
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(l4);
            Ok(p)
        }
        _ => Err(SpoofError::Usage(format!(
            "{src} and {dst} are of different address families"
        ))),
    }
}

/// Sets the IPv4 TTL or IPv6 hop limit of a packet built here (and the IPv4 header checksum).
pub fn set_ttl(packet: &mut [u8], ttl: u8) {
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => {
            packet[8] = ttl;
            refresh_ipv4_checksum(packet);
        }
        Some(6) if packet.len() >= 40 => packet[7] = ttl,
        _ => {}
    }
}

fn refresh_ipv4_checksum(packet: &mut [u8]) {
    let ihl = usize::from(packet[0] & 0x0f);
    packet[10..12].copy_from_slice(&[0, 0]);
    let sum = util::checksum(&packet[..ihl * 4], 5);
    packet[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// An IPv4 packet built here with `options` (padded with End-of-Options to a multiple of 4
/// bytes, at most 40) inserted after its fixed header: the transport header moves back.
pub fn with_ipv4_options(packet: &[u8], options: &[u8]) -> Result<Vec<u8>, SpoofError> {
    if packet.len() < 20 || packet[0] != 0x45 {
        return Err(SpoofError::Usage(
            "not an IPv4 packet without options".into(),
        ));
    }
    let mut opts = options.to_vec();
    while !opts.len().is_multiple_of(4) {
        opts.push(0);
    }
    if opts.len() > 40 {
        return Err(SpoofError::Usage(format!(
            "{} bytes of IPv4 options",
            opts.len()
        )));
    }
    let mut p = packet[..20].to_vec();
    p.extend_from_slice(&opts);
    p.extend_from_slice(&packet[20..]);
    p[0] = 0x40 | u8::try_from(5 + opts.len() / 4).unwrap_or(15);
    let total = u16::try_from(p.len()).map_err(|_| SpoofError::Usage("packet too long".into()))?;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    refresh_ipv4_checksum(&mut p);
    Ok(p)
}

/// An IPv6 packet built here with an 8-byte destination-options header (two bytes of PadN)
/// between the IPv6 header and the transport header.
pub fn with_ipv6_destination_options(packet: &[u8]) -> Result<Vec<u8>, SpoofError> {
    if packet.len() < 40 || packet[0] >> 4 != 6 {
        return Err(SpoofError::Usage("not an IPv6 packet".into()));
    }
    let next = packet[6];
    let mut p = packet[..40].to_vec();
    // Next header, length 0 (8 bytes), PadN of 4 bytes.
    p.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
    p.extend_from_slice(&packet[40..]);
    p[6] = 60;
    let len =
        u16::try_from(p.len() - 40).map_err(|_| SpoofError::Usage("packet too long".into()))?;
    p[4..6].copy_from_slice(&len.to_be_bytes());
    Ok(p)
}

/// An ICMPv6 message of `icmp_type` with `body` after the 4-byte header (checksummed).
pub fn icmpv6_packet(
    src: IpAddr,
    dst: IpAddr,
    icmp_type: u8,
    body: &[u8],
) -> Result<Vec<u8>, SpoofError> {
    check_family(src, dst)?;
    let mut icmp = vec![icmp_type, 0, 0, 0];
    icmp.extend_from_slice(body);
    let sum = l4_checksum(&icmp, 1, src, dst, PROTO_ICMPV6);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    ip_packet(src, dst, PROTO_ICMPV6, &icmp)
}

/// Internet checksum of `l4` with the pseudo-header for `src`/`dst`, the checksum field being
/// 16-bit word `skipword`.
fn l4_checksum(l4: &[u8], skipword: usize, src: IpAddr, dst: IpAddr, protocol: u8) -> u16 {
    let proto = IpNextHeaderProtocol::new(protocol);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => util::ipv4_checksum(l4, skipword, &[], &s, &d, proto),
        (IpAddr::V6(s), IpAddr::V6(d)) => util::ipv6_checksum(l4, skipword, &[], &s, &d, proto),
        // Callers check the family first; a mismatch cannot reach here.
        _ => 0,
    }
}

/// A complete IPv4/IPv6 UDP packet from `src` to `dst` carrying `payload`.
pub fn udp_packet(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Result<Vec<u8>, SpoofError> {
    check_family(src.ip(), dst.ip())?;
    let len = u16::try_from(8 + payload.len())
        .map_err(|_| SpoofError::Usage(format!("UDP payload of {} bytes", payload.len())))?;
    let mut l4 = Vec::with_capacity(usize::from(len));
    l4.extend_from_slice(&src.port().to_be_bytes());
    l4.extend_from_slice(&dst.port().to_be_bytes());
    l4.extend_from_slice(&len.to_be_bytes());
    l4.extend_from_slice(&[0, 0]);
    l4.extend_from_slice(payload);
    let mut sum = l4_checksum(&l4, 3, src.ip(), dst.ip(), PROTO_UDP);
    // A computed 0 is sent as 0xffff: 0 means "no checksum" in IPv4 and is invalid in IPv6.
    if sum == 0 {
        sum = 0xffff;
    }
    l4[6..8].copy_from_slice(&sum.to_be_bytes());
    ip_packet(src.ip(), dst.ip(), PROTO_UDP, &l4)
}

/// A complete IPv4/IPv6 TCP segment (20-byte header, no options) with the given flags
/// ([`tcp_flags`]), sequence and acknowledgement numbers and payload.
pub fn tcp_packet(
    src: SocketAddr,
    dst: SocketAddr,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Result<Vec<u8>, SpoofError> {
    check_family(src.ip(), dst.ip())?;
    let mut l4 = Vec::with_capacity(20 + payload.len());
    l4.extend_from_slice(&src.port().to_be_bytes());
    l4.extend_from_slice(&dst.port().to_be_bytes());
    l4.extend_from_slice(&seq.to_be_bytes());
    l4.extend_from_slice(&ack.to_be_bytes());
    l4.extend_from_slice(&[5 << 4, flags]); // data offset 5 words
    l4.extend_from_slice(&64240u16.to_be_bytes()); // window
    l4.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    l4.extend_from_slice(payload);
    let sum = l4_checksum(&l4, 8, src.ip(), dst.ip(), PROTO_TCP);
    l4[16..18].copy_from_slice(&sum.to_be_bytes());
    ip_packet(src.ip(), dst.ip(), PROTO_TCP, &l4)
}

/// A TCP SYN from `src` to `dst` with a fresh sequence number.
pub fn tcp_syn_packet(src: SocketAddr, dst: SocketAddr) -> Result<Vec<u8>, SpoofError> {
    let seq = PACKET_COUNTER
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(2_654_435_761);
    tcp_packet(src, dst, tcp_flags::SYN, seq, 0, &[])
}

/// Transport protocol of the packet an ICMP error quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4Proto {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

/// The original packet an ICMP error refers to: it went from `src` to `dst`, so for a
/// believable error `dst`'s side (or a router) sends the error back to `src`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedFlow {
    /// UDP or TCP.
    pub proto: L4Proto,
    /// Source of the original packet.
    pub src: SocketAddr,
    /// Destination of the original packet.
    pub dst: SocketAddr,
}

/// Which "destination unreachable" to forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpErrorKind {
    /// IPv4 type 3 code 3 / ICMPv6 type 1 code 4.
    PortUnreachable,
    /// IPv4 type 3 code 1 / ICMPv6 type 1 code 3 (address unreachable).
    HostUnreachable,
    /// IPv4 type 3 code 13 / ICMPv6 type 1 code 1.
    AdminProhibited,
    /// Path MTU discovery: IPv4 type 3 code 4 (fragmentation needed) / ICMPv6 type 2 (packet
    /// too big), with a next-hop MTU of 1480 (so the receiver can still send full-size probes).
    PacketTooBig,
}

impl IcmpErrorKind {
    /// (type, code) for IPv4 or IPv6.
    pub fn type_code(self, v6: bool) -> (u8, u8) {
        match (self, v6) {
            (IcmpErrorKind::PortUnreachable, false) => (3, 3),
            (IcmpErrorKind::HostUnreachable, false) => (3, 1),
            (IcmpErrorKind::AdminProhibited, false) => (3, 13),
            (IcmpErrorKind::PortUnreachable, true) => (1, 4),
            (IcmpErrorKind::HostUnreachable, true) => (1, 3),
            (IcmpErrorKind::AdminProhibited, true) => (1, 1),
            (IcmpErrorKind::PacketTooBig, false) => (3, 4),
            (IcmpErrorKind::PacketTooBig, true) => (2, 0),
        }
    }
}

/// A complete ICMP (IPv4) or ICMPv6 "destination unreachable" from `outer_src` to `outer_dst`
/// quoting the packet described by `quoted` (its IP header, transport header and a short
/// payload), which is what conntrack inspects to call an error RELATED.
pub fn icmp_error_packet(
    outer_src: IpAddr,
    outer_dst: IpAddr,
    quoted: &QuotedFlow,
    kind: IcmpErrorKind,
) -> Result<Vec<u8>, SpoofError> {
    icmp_error_carrying(outer_src, outer_dst, quoted, kind, b"zonegate")
}

/// Like [`icmp_error_packet`], with `payload` as the quoted packet's payload: what a sender
/// can smuggle inside an error.
pub fn icmp_error_carrying(
    outer_src: IpAddr,
    outer_dst: IpAddr,
    quoted: &QuotedFlow,
    kind: IcmpErrorKind,
    payload: &[u8],
) -> Result<Vec<u8>, SpoofError> {
    check_family(outer_src, outer_dst)?;
    check_family(outer_src, quoted.src.ip())?;
    let inner = match quoted.proto {
        L4Proto::Udp => udp_packet(quoted.src, quoted.dst, payload)?,
        L4Proto::Tcp => tcp_packet(quoted.src, quoted.dst, tcp_flags::ACK, 1, 1, payload)?,
    };
    let v6 = outer_src.is_ipv6();
    let (icmp_type, code) = kind.type_code(v6);
    // Type, code, checksum, 4 bytes (unused, or the MTU), then the quoted packet.
    let mut icmp = vec![icmp_type, code, 0, 0, 0, 0, 0, 0];
    if kind == IcmpErrorKind::PacketTooBig {
        icmp[6..8].copy_from_slice(&1480u16.to_be_bytes());
    }
    icmp.extend_from_slice(&inner);
    let (sum, proto) = if v6 {
        let sum = l4_checksum(&icmp, 1, outer_src, outer_dst, PROTO_ICMPV6);
        (sum, PROTO_ICMPV6)
    } else {
        (util::checksum(&icmp, 1), PROTO_ICMP)
    };
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    ip_packet(outer_src, outer_dst, proto, &icmp)
}

/// An Ethernet II frame carrying `ip_packet` (ethertype from its version nibble).
pub fn ethernet_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    ip_packet: &[u8],
) -> Result<Vec<u8>, SpoofError> {
    let ethertype: u16 = match ip_packet.first().map(|b| b >> 4) {
        Some(4) => 0x0800,
        Some(6) => 0x86dd,
        _ => return Err(SpoofError::Usage("not an IPv4/IPv6 packet".into())),
    };
    let mut frame = Vec::with_capacity(14 + ip_packet.len());
    frame.extend_from_slice(&mac_octets(dst_mac));
    frame.extend_from_slice(&mac_octets(src_mac));
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(ip_packet);
    Ok(frame)
}

fn mac_octets(m: MacAddr) -> [u8; 6] {
    [m.0, m.1, m.2, m.3, m.4, m.5]
}

/// Destination address of an IPv4/IPv6 packet.
fn packet_dst(packet: &[u8]) -> Option<IpAddr> {
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => {
            let o: [u8; 4] = packet[16..20].try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(o)))
        }
        Some(6) if packet.len() >= 40 => {
            let o: [u8; 16] = packet[24..40].try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(o)))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// ARP

/// Ethertype of ARP.
const ETHERTYPE_ARP: u16 = 0x0806;
/// ARP operation codes.
const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;

/// A broadcast ARP request "who has `target`? tell `sender_ip`" from `sender_mac`, as a whole
/// Ethernet frame padded to the 60-byte minimum.
pub fn arp_request_frame(sender_mac: MacAddr, sender_ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut frame = Vec::with_capacity(60);
    frame.extend_from_slice(&[0xff; 6]);
    frame.extend_from_slice(&mac_octets(sender_mac));
    frame.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    // Ethernet hardware (1), IPv4 protocol, address lengths 6 and 4, operation.
    frame.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
    frame.extend_from_slice(&ARP_REQUEST.to_be_bytes());
    frame.extend_from_slice(&mac_octets(sender_mac));
    frame.extend_from_slice(&sender_ip.octets());
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&target.octets());
    frame.resize(60, 0);
    frame
}

/// An ARP reply: `sender_ip` is at `sender_mac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpReply {
    /// The MAC address the answer gives.
    pub sender_mac: MacAddr,
    /// The address asked about.
    pub sender_ip: Ipv4Addr,
    /// Who asked.
    pub target_ip: Ipv4Addr,
}

/// Decodes an Ethernet frame carrying an IPv4-over-Ethernet ARP reply.
pub fn parse_arp_reply(data: &[u8]) -> Option<ArpReply> {
    let arp = data.get(14..42)?;
    if data[12..14] != ETHERTYPE_ARP.to_be_bytes()
        || arp[..6] != [0, 1, 0x08, 0x00, 6, 4]
        || arp[6..8] != ARP_REPLY.to_be_bytes()
    {
        return None;
    }
    let ip = |o: &[u8]| -> Option<Ipv4Addr> { Some(Ipv4Addr::from(<[u8; 4]>::try_from(o).ok()?)) };
    Some(ArpReply {
        sender_mac: MacAddr::new(arp[8], arp[9], arp[10], arp[11], arp[12], arp[13]),
        sender_ip: ip(&arp[14..18])?,
        target_ip: ip(&arp[24..28])?,
    })
}

// ---------------------------------------------------------------------------------------------
// Senders

/// Sends many packets of one family (from the builders above) out of `iface` in `ns` through
/// one raw socket, pausing a millisecond after every 50 so the veth backlog drops none.
pub fn send_ip_many(ns: &str, iface: &str, packets: &[Vec<u8>]) -> Result<(), SpoofError> {
    let Some(first) = packets.first() else {
        return Ok(());
    };
    let v4 = packet_dst(first).is_some_and(|d| d.is_ipv4());
    try_in_ns(ns, || -> io::Result<()> {
        let domain = if v4 { Domain::IPV4 } else { Domain::IPV6 };
        let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW)))?;
        if v4 {
            sock.set_header_included_v4(true)?;
        } else {
            sock.set_header_included_v6(true)?;
        }
        sock.bind_device(Some(iface.as_bytes()))?;
        let sock: UdpSocket = sock.into();
        for (i, p) in packets.iter().enumerate() {
            let dst = packet_dst(p).ok_or_else(|| io::Error::other("not an IP packet"))?;
            sock.send_to(p, SocketAddr::new(dst, 0))?;
            if i % 50 == 49 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(())
    })?
    .map_err(|e| SpoofError::io(format!("send raw packets via {iface} in {ns}"), e))
}

/// Sends a complete IP packet (from the builders above) out of `iface` in `ns` through a raw
/// `IPPROTO_RAW` socket: the kernel routes it by its destination and resolves the next hop's
/// MAC, but sends our header untouched, forged source address included.
pub fn send_ip(ns: &str, iface: &str, packet: &[u8]) -> Result<(), SpoofError> {
    let dst = packet_dst(packet)
        .ok_or_else(|| SpoofError::Usage("not a complete IPv4/IPv6 packet".into()))?;
    let sent = try_in_ns(ns, || -> io::Result<usize> {
        let domain = if dst.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW)))?;
        // IPPROTO_RAW implies "header included" for both families; say so explicitly anyway.
        if dst.is_ipv4() {
            sock.set_header_included_v4(true)?;
        } else {
            sock.set_header_included_v6(true)?;
        }
        // Leave through `iface` only, whatever other routes the namespace has.
        sock.bind_device(Some(iface.as_bytes()))?;
        let sock: UdpSocket = sock.into();
        // Port 0: IPv6 raw sockets reject any port but 0 or their protocol.
        sock.send_to(packet, SocketAddr::new(dst, 0))
    })?
    .map_err(|e| SpoofError::io(format!("send raw packet to {dst} via {iface} in {ns}"), e))?;
    if sent != packet.len() {
        return Err(SpoofError::Usage(format!(
            "sent {sent} of {} bytes",
            packet.len()
        )));
    }
    Ok(())
}

/// Forges a UDP datagram from any `src` to `dst`, sent out of `iface` in `ns`.
pub fn send_udp(
    ns: &str,
    iface: &str,
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
) -> Result<(), SpoofError> {
    send_ip(ns, iface, &udp_packet(src, dst, payload)?)
}

/// Forges a TCP SYN from any `src` to `dst`, sent out of `iface` in `ns`.
pub fn send_tcp_syn(
    ns: &str,
    iface: &str,
    src: SocketAddr,
    dst: SocketAddr,
) -> Result<(), SpoofError> {
    send_ip(ns, iface, &tcp_syn_packet(src, dst)?)
}

/// Forges an ICMP/ICMPv6 destination-unreachable from `outer_src` to `outer_dst` quoting
/// `quoted`, sent out of `iface` in `ns`.
pub fn send_icmp_error(
    ns: &str,
    iface: &str,
    outer_src: IpAddr,
    outer_dst: IpAddr,
    quoted: QuotedFlow,
    kind: IcmpErrorKind,
) -> Result<(), SpoofError> {
    send_ip(
        ns,
        iface,
        &icmp_error_packet(outer_src, outer_dst, &quoted, kind)?,
    )
}

/// Sends `ip_packet` as one Ethernet frame out of `iface` in `ns`, bypassing routing and
/// neighbour discovery. `src_mac` defaults to the interface's own MAC; `dst_mac` defaults to the
/// MAC of the interface's default gateway ([`gateway_mac`]); pass [`crate::lab::Lab::gw_mac`]
/// to skip that lookup.
pub fn send_frame_with_mac(
    ns: &str,
    iface: &str,
    src_mac: Option<MacAddr>,
    dst_mac: Option<MacAddr>,
    ip_packet: &[u8],
) -> Result<(), SpoofError> {
    let dst_mac = match dst_mac {
        Some(mac) => mac,
        None => {
            let family_v4 = ip_packet.first().is_some_and(|b| b >> 4 == 4);
            gateway_mac(ns, iface, family_v4)?
        }
    };
    let iface_name = iface.to_string();
    try_in_ns(ns, move || -> Result<(), SpoofError> {
        let nic = find_interface(&iface_name)?;
        let src_mac = match src_mac.or(nic.mac) {
            Some(mac) => mac,
            None => {
                return Err(SpoofError::Usage(format!(
                    "{iface_name} has no MAC address"
                )))
            }
        };
        let frame = ethernet_frame(src_mac, dst_mac, ip_packet)?;
        transmit(&nic, &[frame])
    })?
}

/// Sends whole Ethernet `frames`, in this order, out of `iface` in `ns`.
///
/// The sending thread is pinned to one CPU first: a veth hands each frame to the receive
/// backlog of the CPU that sent it, so frames sent from one CPU are processed by the peer in
/// the order sent (a test may then use a later frame's answer as proof that an earlier frame
/// was handled).
pub fn send_frames(ns: &str, iface: &str, frames: &[Vec<u8>]) -> Result<(), SpoofError> {
    let name = iface.to_string();
    try_in_ns(ns, move || -> Result<(), SpoofError> {
        pin_to_current_cpu()?;
        transmit(&find_interface(&name)?, frames)
    })?
}

/// Pins the calling thread to the CPU it runs on.
#[allow(unsafe_code)]
fn pin_to_current_cpu() -> Result<(), SpoofError> {
    // SAFETY: `sched_getcpu` takes no arguments. `cpu_set_t` is plain data for which all-zero
    // is valid; CPU_ZERO/CPU_SET write only into `set`, which lives on this stack frame, and
    // the CPU number comes from the kernel (CPU_SET ignores numbers beyond the set).
    // `sched_setaffinity(0, ..)` affects only the calling thread and reads `set` for its size.
    let rc = unsafe {
        let cpu = libc::sched_getcpu();
        if cpu < 0 {
            return Err(SpoofError::io("sched_getcpu", io::Error::last_os_error()));
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu as usize, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(SpoofError::io(
            "sched_setaffinity",
            io::Error::last_os_error(),
        ))
    }
}

/// Sends `frames` in order through one packet socket on `nic` (in the calling thread's
/// namespace).
fn transmit(nic: &NetworkInterface, frames: &[Vec<u8>]) -> Result<(), SpoofError> {
    let config = datalink::Config {
        // Frames are only sent: keep the receive side of the channel small and passive.
        read_buffer_size: 2048,
        promiscuous: false,
        ..Default::default()
    };
    let mut tx = match datalink::channel(nic, config) {
        Ok(Channel::Ethernet(tx, _rx)) => tx,
        Ok(_) => return Err(SpoofError::Usage("unexpected datalink channel type".into())),
        Err(e) => {
            return Err(SpoofError::io(
                format!("open packet socket on {}", nic.name),
                e,
            ))
        }
    };
    for frame in frames {
        match tx.send_to(frame, None) {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(SpoofError::io(format!("send frame on {}", nic.name), e)),
            None => {
                return Err(SpoofError::Usage(
                    "datalink sender refused the frame".into(),
                ))
            }
        }
    }
    Ok(())
}

/// The pnet view of interface `name` in the calling thread's namespace.
fn find_interface(name: &str) -> Result<NetworkInterface, SpoofError> {
    datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| SpoofError::Usage(format!("no interface {name:?} in this namespace")))
}

/// MAC address of `iface` in `ns`.
pub fn interface_mac(ns: &str, iface: &str) -> Result<MacAddr, SpoofError> {
    let name = iface.to_string();
    try_in_ns(ns, move || {
        find_interface(&name)?
            .mac
            .ok_or_else(|| SpoofError::Usage(format!("{name} has no MAC address")))
    })?
}

/// MAC address of the default gateway (IPv4 if `v4`, else IPv6) reached through `iface` in
/// `ns`. If the neighbour is not resolved yet, asks the kernel to resolve it (`ip neigh replace
/// … use`, which sends only ARP / neighbour solicitation, no IP traffic) and waits up to 1 s.
pub fn gateway_mac(ns: &str, iface: &str, v4: bool) -> Result<MacAddr, SpoofError> {
    let family = if v4 { "-4" } else { "-6" };
    let routes = ip_json(&[
        "-n", ns, family, "-j", "route", "show", "default", "dev", iface,
    ])?;
    let gateway = routes[0]["gateway"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            SpoofError::Usage(format!("no {family} default gateway via {iface} in {ns}"))
        })?;
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut asked = false;
    loop {
        let neigh = ip_json(&[
            "-n", ns, "-j", "neigh", "show", "dev", iface, "to", &gateway,
        ])?;
        let entry = &neigh[0];
        let usable = entry["state"]
            .as_array()
            .is_some_and(|s| !s.iter().any(|x| x == "INCOMPLETE" || x == "FAILED"));
        if let Some(mac) = entry["lladdr"]
            .as_str()
            .and_then(|m| MacAddr::from_str(m).ok())
        {
            if usable {
                return Ok(mac);
            }
        }
        if Instant::now() >= deadline {
            return Err(SpoofError::Usage(format!(
                "neighbour {gateway} on {iface} in {ns} did not resolve"
            )));
        }
        if !asked {
            ip_json(&["-n", ns, "neigh", "replace", &gateway, "dev", iface, "use"])?;
            asked = true;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `ip ARGS` and parses its stdout as JSON (`Null` for empty output).
fn ip_json(args: &[&str]) -> Result<serde_json::Value, SpoofError> {
    let out = Command::new(IP)
        .args(args)
        .output()
        .map_err(|e| SpoofError::io(format!("spawn {IP}"), e))?;
    if !out.status.success() {
        return Err(SpoofError::Usage(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim_end()
        )));
    }
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| SpoofError::Usage(format!("cannot parse `ip {}`: {e}", args.join(" "))))
}

// ---------------------------------------------------------------------------------------------
// Capture

/// Most frames a [`Capture`] keeps; later ones are counted but not stored.
const CAPTURE_LIMIT: usize = 100_000;

/// One captured Ethernet frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The frame as received, from the destination MAC on.
    pub data: Vec<u8>,
    /// True if its source MAC is the capturing interface's own (i.e. it was sent, not
    /// received, there; a frame forged with that MAC counts as sent too).
    pub outgoing: bool,
    /// When the capture thread read it.
    pub at: Instant,
}

/// The headers of a captured IP packet, decoded for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Source MAC.
    pub src_mac: MacAddr,
    /// Destination MAC.
    pub dst_mac: MacAddr,
    /// Source IP.
    pub src: IpAddr,
    /// Destination IP.
    pub dst: IpAddr,
    /// IP protocol / IPv6 next header after extension headers (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub protocol: u8,
    /// TCP/UDP source port.
    pub src_port: Option<u16>,
    /// TCP/UDP destination port.
    pub dst_port: Option<u16>,
    /// TCP flags byte.
    pub tcp_flags: Option<u8>,
    /// ICMP/ICMPv6 type and code.
    pub icmp: Option<(u8, u8)>,
    /// Transport payload (after the TCP/UDP header, or after the 4-byte ICMP header).
    pub payload: Vec<u8>,
}

impl Packet {
    /// Whether this is a UDP datagram.
    pub fn is_udp(&self) -> bool {
        self.protocol == PROTO_UDP
    }

    /// Whether this is a TCP segment with SYN set and ACK clear.
    pub fn is_tcp_syn(&self) -> bool {
        self.protocol == PROTO_TCP
            && self
                .tcp_flags
                .is_some_and(|f| f & tcp_flags::SYN != 0 && f & tcp_flags::ACK == 0)
    }
}

impl Frame {
    /// Decodes the IPv4/IPv6 packet in this frame, if it carries one.
    pub fn packet(&self) -> Option<Packet> {
        parse_frame(&self.data)
    }
}

/// Decodes an Ethernet II frame carrying IPv4 or IPv6.
pub fn parse_frame(data: &[u8]) -> Option<Packet> {
    if data.len() < 14 {
        return None;
    }
    let mac = |o: &[u8]| MacAddr::new(o[0], o[1], o[2], o[3], o[4], o[5]);
    let dst_mac = mac(&data[0..6]);
    let src_mac = mac(&data[6..12]);
    let ethertype = u16::from_be_bytes([data[12], data[13]]);
    let ip = &data[14..];
    let (src, dst, mut protocol, mut l4) = match ethertype {
        0x0800 => {
            if ip.len() < 20 || ip[0] >> 4 != 4 {
                return None;
            }
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
            let s: [u8; 4] = ip[12..16].try_into().ok()?;
            let d: [u8; 4] = ip[16..20].try_into().ok()?;
            (
                IpAddr::from(s),
                IpAddr::from(d),
                ip[9],
                ip.get(ihl..total.max(ihl))?,
            )
        }
        0x86dd => {
            if ip.len() < 40 || ip[0] >> 4 != 6 {
                return None;
            }
            let len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            let s: [u8; 16] = ip[8..24].try_into().ok()?;
            let d: [u8; 16] = ip[24..40].try_into().ok()?;
            let end = (40 + len).min(ip.len());
            (IpAddr::from(s), IpAddr::from(d), ip[6], &ip[40..end])
        }
        _ => return None,
    };
    // Skip IPv6 extension headers we may meet (hop-by-hop, routing, fragment, destination).
    if src.is_ipv6() {
        while matches!(protocol, 0 | 43 | 44 | 60) && l4.len() >= 8 {
            let hdr_len = if protocol == 44 {
                8
            } else {
                (usize::from(l4[1]) + 1) * 8
            };
            protocol = l4[0];
            l4 = l4.get(hdr_len..)?;
        }
    }
    let mut pkt = Packet {
        src_mac,
        dst_mac,
        src,
        dst,
        protocol,
        src_port: None,
        dst_port: None,
        tcp_flags: None,
        icmp: None,
        payload: Vec::new(),
    };
    match protocol {
        PROTO_UDP if l4.len() >= 8 => {
            pkt.src_port = Some(u16::from_be_bytes([l4[0], l4[1]]));
            pkt.dst_port = Some(u16::from_be_bytes([l4[2], l4[3]]));
            pkt.payload = l4[8..].to_vec();
        }
        PROTO_TCP if l4.len() >= 20 => {
            pkt.src_port = Some(u16::from_be_bytes([l4[0], l4[1]]));
            pkt.dst_port = Some(u16::from_be_bytes([l4[2], l4[3]]));
            pkt.tcp_flags = Some(l4[13]);
            let offset = usize::from(l4[12] >> 4) * 4;
            pkt.payload = l4.get(offset..).unwrap_or_default().to_vec();
        }
        PROTO_ICMP | PROTO_ICMPV6 if l4.len() >= 4 => {
            pkt.icmp = Some((l4[0], l4[1]));
            pkt.payload = l4[4..].to_vec();
        }
        _ => pkt.payload = l4.to_vec(),
    }
    Some(pkt)
}

/// Records every frame on an interface of a namespace (both directions) until dropped or
/// stopped. Frames that arrive after [`Capture::start`] returns are never missed: the packet
/// socket exists by then and queues them.
#[derive(Debug)]
pub struct Capture {
    frames: Arc<Mutex<Vec<Frame>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    /// Starts capturing on `iface` in `ns`.
    pub fn start(ns: &str, iface: &str) -> Result<Capture, SpoofError> {
        let name = iface.to_string();
        let (own_mac, mut rx) = try_in_ns(ns, move || -> Result<_, SpoofError> {
            let nic = find_interface(&name)?;
            let config = datalink::Config {
                // veth may hand over GSO super-frames far larger than the MTU.
                read_buffer_size: 256 * 1024,
                // A short timeout so the thread notices `stop` promptly.
                read_timeout: Some(Duration::from_millis(20)),
                // A packet socket sees every frame on a veth without promiscuous mode; leave
                // the interface flags alone.
                promiscuous: false,
                ..Default::default()
            };
            match datalink::channel(&nic, config) {
                Ok(Channel::Ethernet(_tx, rx)) => Ok((nic.mac, rx)),
                Ok(_) => Err(SpoofError::Usage("unexpected datalink channel type".into())),
                Err(e) => Err(SpoofError::io(format!("open packet socket on {name}"), e)),
            }
        })??;
        let frames = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (frames, stop) = (frames.clone(), stop.clone());
            thread::Builder::new()
                .name(format!("capture-{ns}-{iface}"))
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match rx.next() {
                            Ok(data) => {
                                let outgoing = own_mac
                                    .is_some_and(|m| data.get(6..12) == Some(&mac_octets(m)));
                                let mut frames = lock(&frames);
                                if frames.len() < CAPTURE_LIMIT {
                                    frames.push(Frame {
                                        data: data.to_vec(),
                                        outgoing,
                                        at: Instant::now(),
                                    });
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                eprintln!("zonegate-e2e: capture stops: {e}");
                                break;
                            }
                        }
                    }
                })
                .map_err(|e| SpoofError::io("spawn capture thread", e))?
        };
        Ok(Capture {
            frames,
            stop,
            thread: Some(thread),
        })
    }

    /// Every frame captured so far.
    pub fn frames(&self) -> Vec<Frame> {
        lock(&self.frames).clone()
    }

    /// Every IP packet captured so far, decoded.
    pub fn packets(&self) -> Vec<Packet> {
        lock(&self.frames)
            .iter()
            .filter_map(Frame::packet)
            .collect()
    }

    /// Whether any captured packet satisfies `pred`.
    pub fn saw(&self, pred: impl Fn(&Packet) -> bool) -> bool {
        lock(&self.frames)
            .iter()
            .filter_map(Frame::packet)
            .any(|p| pred(&p))
    }

    /// Waits up to `timeout` for a packet satisfying `pred`. For "must not arrive" checks,
    /// expect `false` after a short timeout.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Packet) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.saw(&pred) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits up to `timeout` for a frame (any protocol, e.g. ARP) satisfying `pred`.
    pub fn wait_for_frame(&self, timeout: Duration, pred: impl Fn(&[u8]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if lock(&self.frames).iter().any(|f| pred(&f.data)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether a UDP datagram whose payload contains `needle` was captured.
    pub fn saw_udp_payload(&self, needle: &[u8]) -> bool {
        self.saw(|p| p.is_udp() && contains(&p.payload, needle))
    }

    /// Waits up to `timeout` for a UDP datagram whose payload contains `needle`.
    pub fn wait_for_udp_payload(&self, needle: &[u8], timeout: Duration) -> bool {
        self.wait_for(timeout, |p| p.is_udp() && contains(&p.payload, needle))
    }

    /// Forgets everything captured so far.
    pub fn clear(&self) {
        lock(&self.frames).clear();
    }

    /// Stops capturing and returns what was captured.
    pub fn stop(mut self) -> Vec<Frame> {
        self.halt();
        std::mem::take(&mut *lock(&self.frames))
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Whether `needle` occurs in `haystack` (an empty needle always does).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet::packet::icmp::IcmpPacket;
    use pnet::packet::icmpv6::Icmpv6Packet;
    use pnet::packet::ipv4::{self, Ipv4Packet};
    use pnet::packet::ipv6::Ipv6Packet;
    use pnet::packet::tcp::{self, TcpPacket};
    use pnet::packet::udp::{self, UdpPacket};
    use pnet::packet::Packet as _;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    // The builders are checked against pnet's independent parsers and checksum functions.

    #[test]
    fn udp_v4_packet_is_valid() {
        let p = udp_packet(sa("10.20.0.77:5353"), sa("10.10.0.5:53"), b"INJECTED").unwrap();
        let ip = Ipv4Packet::new(&p).unwrap();
        assert_eq!(ip.get_total_length() as usize, p.len());
        assert_eq!(ip.get_checksum(), ipv4::checksum(&ip));
        assert_eq!(ip.get_source().to_string(), "10.20.0.77");
        let u = UdpPacket::new(ip.payload()).unwrap();
        assert_eq!((u.get_source(), u.get_destination()), (5353, 53));
        assert_eq!(
            u.get_checksum(),
            udp::ipv4_checksum(&u, &ip.get_source(), &ip.get_destination())
        );
        assert_eq!(u.payload(), b"INJECTED");
    }

    #[test]
    fn udp_v6_packet_is_valid() {
        let p = udp_packet(sa("[fd00:20::77]:5353"), sa("[fd00:10::5]:53"), b"X").unwrap();
        let ip = Ipv6Packet::new(&p).unwrap();
        assert_eq!(ip.get_payload_length() as usize, p.len() - 40);
        let u = UdpPacket::new(ip.payload()).unwrap();
        assert_eq!(
            u.get_checksum(),
            udp::ipv6_checksum(&u, &ip.get_source(), &ip.get_destination())
        );
    }

    #[test]
    fn tcp_syn_is_valid_both_families() {
        for (s, d) in [
            ("10.20.0.77:4000", "10.10.0.5:8443"),
            ("[fd00:20::77]:4000", "[fd00:10::5]:8443"),
        ] {
            let p = tcp_syn_packet(sa(s), sa(d)).unwrap();
            let frame = ethernet_frame(MacAddr::zero(), MacAddr::broadcast(), &p).unwrap();
            let parsed = parse_frame(&frame).unwrap();
            assert!(parsed.is_tcp_syn());
            assert_eq!(parsed.dst_port, Some(8443));
            let l4 = if sa(s).is_ipv4() { &p[20..] } else { &p[40..] };
            let t = TcpPacket::new(l4).unwrap();
            let want = match (sa(s).ip(), sa(d).ip()) {
                (IpAddr::V4(a), IpAddr::V4(b)) => tcp::ipv4_checksum(&t, &a, &b),
                (IpAddr::V6(a), IpAddr::V6(b)) => tcp::ipv6_checksum(&t, &a, &b),
                _ => unreachable!(),
            };
            assert_eq!(t.get_checksum(), want);
        }
    }

    #[test]
    fn icmp_errors_quote_the_flow_with_valid_checksums() {
        let quoted = QuotedFlow {
            proto: L4Proto::Udp,
            src: sa("10.10.0.5:40000"),
            dst: sa("10.20.0.5:53"),
        };
        let p = icmp_error_packet(
            "10.20.0.5".parse().unwrap(),
            "10.10.0.5".parse().unwrap(),
            &quoted,
            IcmpErrorKind::PortUnreachable,
        )
        .unwrap();
        let ip = Ipv4Packet::new(&p).unwrap();
        let icmp = IcmpPacket::new(ip.payload()).unwrap();
        assert_eq!(icmp.get_checksum(), pnet::packet::icmp::checksum(&icmp));
        assert_eq!((icmp.get_icmp_type().0, icmp.get_icmp_code().0), (3, 3));
        let inner = Ipv4Packet::new(&ip.payload()[8..]).unwrap();
        assert_eq!(inner.get_source().to_string(), "10.10.0.5");
        let inner_udp = UdpPacket::new(inner.payload()).unwrap();
        assert_eq!(inner_udp.get_source(), 40000);

        let quoted6 = QuotedFlow {
            proto: L4Proto::Tcp,
            src: sa("[fd00:10::5]:40000"),
            dst: sa("[fd00:20::5]:443"),
        };
        let (s6, d6): (Ipv6Addr, Ipv6Addr) =
            ("fd00:20::5".parse().unwrap(), "fd00:10::5".parse().unwrap());
        let p6 = icmp_error_packet(
            s6.into(),
            d6.into(),
            &quoted6,
            IcmpErrorKind::AdminProhibited,
        )
        .unwrap();
        let ip6 = Ipv6Packet::new(&p6).unwrap();
        let icmp6 = Icmpv6Packet::new(ip6.payload()).unwrap();
        assert_eq!(
            icmp6.get_checksum(),
            pnet::packet::icmpv6::checksum(&icmp6, &s6, &d6)
        );
        assert_eq!(
            (icmp6.get_icmpv6_type().0, icmp6.get_icmpv6_code().0),
            (1, 1)
        );
    }

    #[test]
    fn mixed_families_are_refused() {
        assert!(udp_packet(sa("10.0.0.1:1"), sa("[fd00::1]:1"), b"").is_err());
        assert!(tcp_syn_packet(sa("[fd00::1]:1"), sa("10.0.0.1:1")).is_err());
    }

    #[test]
    fn arp_request_and_reply_round_trip() {
        let mac = MacAddr::new(2, 0, 0, 0, 0, 5);
        let (me, gw) = (Ipv4Addr::new(10, 10, 0, 5), Ipv4Addr::new(10, 20, 0, 1));
        let mut frame = arp_request_frame(mac, me, gw);
        assert_eq!(frame.len(), 60);
        assert_eq!(&frame[..6], &[0xff; 6]);
        assert_eq!(parse_arp_reply(&frame), None, "a request is not a reply");
        // Turn it into the reply the gateway would send: operation 2, addresses swapped.
        let gw_mac = MacAddr::new(2, 0, 0, 0, 0, 1);
        frame[21] = 2;
        frame[22..28].copy_from_slice(&mac_octets(gw_mac));
        frame[28..32].copy_from_slice(&gw.octets());
        frame[32..38].copy_from_slice(&mac_octets(mac));
        frame[38..42].copy_from_slice(&me.octets());
        assert_eq!(
            parse_arp_reply(&frame),
            Some(ArpReply {
                sender_mac: gw_mac,
                sender_ip: gw,
                target_ip: me
            })
        );
        assert_eq!(parse_arp_reply(&frame[..30]), None);
    }

    #[test]
    fn contains_finds_needles() {
        assert!(contains(b"xxINJECTEDyy", b"INJECTED"));
        assert!(!contains(b"INJECT", b"INJECTED"));
        assert!(contains(b"", b""));
    }
}
