//! The port grammar of zones.toml: `tcp/443`, `udp/5000-5010`, `sctp/2905`, `icmp`, `icmp/echo-request`,
//! `icmpv6`, `icmpv6/packet-too-big`. ICMP types are nft's names; they are stored as numbers so the
//! ruleset does not depend on nft's name table.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum L4 {
    Tcp,
    Udp,
    Sctp,
}

impl L4 {
    pub fn number(self) -> u8 {
        match self {
            L4::Tcp => 6,
            L4::Udp => 17,
            L4::Sctp => 132,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
            L4::Sctp => "sctp",
        }
    }
}

/// One port specification after parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PortSpec {
    /// Ports lo..=hi of a transport protocol.
    Ports { proto: L4, lo: u16, hi: u16 },
    /// ICMP (IPv4) types lo..=hi (0..=255 for "icmp").
    Icmp { lo: u8, hi: u8 },
    /// ICMPv6 types lo..=hi.
    Icmpv6 { lo: u8, hi: u8 },
}

impl PortSpec {
    /// Width of a port range; ICMP counts as one (it is a type, not a range of services).
    pub fn width(&self) -> u32 {
        match self {
            PortSpec::Ports { lo, hi, .. } => u32::from(*hi) - u32::from(*lo) + 1,
            PortSpec::Icmp { lo, hi } | PortSpec::Icmpv6 { lo, hi } => {
                u32::from(*hi) - u32::from(*lo) + 1
            }
        }
    }

    /// Does a packet with this protocol number and port (or ICMP type) match?
    pub fn matches(&self, l4proto: u8, port_or_type: u16) -> bool {
        match *self {
            PortSpec::Ports { proto, lo, hi } => {
                proto.number() == l4proto && lo <= port_or_type && port_or_type <= hi
            }
            PortSpec::Icmp { lo, hi } => {
                l4proto == 1 && u16::from(lo) <= port_or_type && port_or_type <= u16::from(hi)
            }
            PortSpec::Icmpv6 { lo, hi } => {
                l4proto == 58 && u16::from(lo) <= port_or_type && port_or_type <= u16::from(hi)
            }
        }
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PortSpec::Ports { proto, lo, hi } if lo == hi => write!(f, "{}/{}", proto.name(), lo),
            PortSpec::Ports { proto, lo, hi } => write!(f, "{}/{}-{}", proto.name(), lo, hi),
            PortSpec::Icmp { lo: 0, hi: 255 } => f.write_str("icmp"),
            PortSpec::Icmpv6 { lo: 0, hi: 255 } => f.write_str("icmpv6"),
            PortSpec::Icmp { lo, .. } => write!(f, "icmp/{}", icmp_name(lo).unwrap_or("?")),
            PortSpec::Icmpv6 { lo, .. } => {
                write!(f, "icmpv6/{}", icmpv6_name(lo).unwrap_or("?"))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortError {
    /// Neither `PROTO/PORT` nor `icmp`/`icmpv6`.
    Syntax,
    UnknownProtocol(String),
    /// Not a number in 1..=65535, or low > high.
    BadPort,
    UnknownIcmpType {
        v6: bool,
        name: String,
    },
}

const ICMP_TYPES: &[(&str, u8)] = &[
    ("echo-reply", 0),
    ("destination-unreachable", 3),
    ("source-quench", 4),
    ("redirect", 5),
    ("echo-request", 8),
    ("router-advertisement", 9),
    ("router-solicitation", 10),
    ("time-exceeded", 11),
    ("parameter-problem", 12),
    ("timestamp-request", 13),
    ("timestamp-reply", 14),
    ("info-request", 15),
    ("info-reply", 16),
    ("address-mask-request", 17),
    ("address-mask-reply", 18),
];

const ICMPV6_TYPES: &[(&str, u8)] = &[
    ("destination-unreachable", 1),
    ("packet-too-big", 2),
    ("time-exceeded", 3),
    ("parameter-problem", 4),
    ("echo-request", 128),
    ("echo-reply", 129),
    ("mld-listener-query", 130),
    ("mld-listener-report", 131),
    ("mld-listener-done", 132),
    ("mld-listener-reduction", 132),
    ("nd-router-solicit", 133),
    ("nd-router-advert", 134),
    ("nd-neighbor-solicit", 135),
    ("nd-neighbor-advert", 136),
    ("nd-redirect", 137),
    ("router-renumbering", 138),
    ("ind-neighbor-solicit", 141),
    ("ind-neighbor-advert", 142),
    ("mld2-listener-report", 143),
];

pub fn icmp_name(t: u8) -> Option<&'static str> {
    ICMP_TYPES.iter().find(|(_, v)| *v == t).map(|(n, _)| *n)
}

pub fn icmpv6_name(t: u8) -> Option<&'static str> {
    ICMPV6_TYPES.iter().find(|(_, v)| *v == t).map(|(n, _)| *n)
}

pub fn icmp_type_names(v6: bool) -> Vec<&'static str> {
    let table = if v6 { ICMPV6_TYPES } else { ICMP_TYPES };
    table.iter().map(|(n, _)| *n).collect()
}

fn parse_port(s: &str) -> Result<u16, PortError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PortError::BadPort);
    }
    match s.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err(PortError::BadPort),
    }
}

pub fn parse_port_spec(s: &str) -> Result<PortSpec, PortError> {
    let (proto, rest) = match s.split_once('/') {
        Some((p, r)) => (p, Some(r)),
        None => (s, None),
    };
    match (proto, rest) {
        ("icmp", None) => Ok(PortSpec::Icmp { lo: 0, hi: 255 }),
        ("icmpv6", None) => Ok(PortSpec::Icmpv6 { lo: 0, hi: 255 }),
        ("icmp", Some(name)) | ("icmpv6", Some(name)) => {
            let v6 = proto == "icmpv6";
            let table = if v6 { ICMPV6_TYPES } else { ICMP_TYPES };
            let t = table
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| PortError::UnknownIcmpType {
                    v6,
                    name: name.to_string(),
                })?;
            Ok(if v6 {
                PortSpec::Icmpv6 { lo: t, hi: t }
            } else {
                PortSpec::Icmp { lo: t, hi: t }
            })
        }
        (p, Some(ports)) => {
            let proto = match p {
                "tcp" => L4::Tcp,
                "udp" => L4::Udp,
                "sctp" => L4::Sctp,
                other => return Err(PortError::UnknownProtocol(other.to_string())),
            };
            let (lo, hi) = match ports.split_once('-') {
                Some((a, b)) => (parse_port(a)?, parse_port(b)?),
                None => {
                    let p = parse_port(ports)?;
                    (p, p)
                }
            };
            if lo > hi {
                return Err(PortError::BadPort);
            }
            Ok(PortSpec::Ports { proto, lo, hi })
        }
        ("tcp", None) | ("udp", None) | ("sctp", None) => Err(PortError::Syntax),
        (other, None) => Err(PortError::UnknownProtocol(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        assert_eq!(
            parse_port_spec("tcp/443"),
            Ok(PortSpec::Ports {
                proto: L4::Tcp,
                lo: 443,
                hi: 443
            })
        );
        assert_eq!(
            parse_port_spec("udp/5000-5010"),
            Ok(PortSpec::Ports {
                proto: L4::Udp,
                lo: 5000,
                hi: 5010
            })
        );
        assert_eq!(
            parse_port_spec("icmp"),
            Ok(PortSpec::Icmp { lo: 0, hi: 255 })
        );
        assert_eq!(
            parse_port_spec("icmpv6/echo-request"),
            Ok(PortSpec::Icmpv6 { lo: 128, hi: 128 })
        );
        assert_eq!(parse_port_spec("tcp/0"), Err(PortError::BadPort));
        assert_eq!(parse_port_spec("tcp/65536"), Err(PortError::BadPort));
        assert_eq!(parse_port_spec("tcp/10-5"), Err(PortError::BadPort));
        assert_eq!(parse_port_spec("tcp/+5"), Err(PortError::BadPort));
        assert_eq!(parse_port_spec("tcp"), Err(PortError::Syntax));
        assert!(matches!(
            parse_port_spec("gre/1"),
            Err(PortError::UnknownProtocol(_))
        ));
        assert!(matches!(
            parse_port_spec("icmp/ping"),
            Err(PortError::UnknownIcmpType { .. })
        ));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "tcp/443",
            "udp/5000-5010",
            "icmp",
            "icmpv6",
            "icmp/echo-request",
            "icmpv6/packet-too-big",
        ] {
            assert_eq!(parse_port_spec(s).map(|p| p.to_string()), Ok(s.to_string()));
        }
    }
}
