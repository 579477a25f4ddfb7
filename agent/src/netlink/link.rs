//! rtnetlink links: a dump of every interface with its master (bridge, bond, VRF) and XDP
//! attachment, and an event socket on RTMGRP_LINK so a newly enslaved zone interface is noticed
//! at once (bypass watch).

use super::{
    attr, attrs, messages, ne32, string, MsgBuilder, NlSocket, NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use nix::errno::Errno;
use nix::sys::socket::SockProtocol;
use std::io;
use std::time::Duration;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFINFOMSG_LEN: usize = 16;
const RTMGRP_LINK: u32 = 1;

/// One interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: i32,
    pub name: String,
    /// Kind from IFLA_INFO_KIND (veth, bridge, bond, vrf...).
    pub kind: Option<String>,
    /// ifindex of the master device.
    pub master: Option<u32>,
    /// An XDP program is attached.
    pub xdp: bool,
}

fn parse_link(payload: &[u8]) -> Option<Link> {
    let index = i32::from_ne_bytes(payload.get(4..8)?.try_into().ok()?);
    let a = payload.get(IFINFOMSG_LEN..)?;
    let name = attr(a, IFLA_IFNAME).map(string)?;
    let kind = attr(a, IFLA_LINKINFO)
        .and_then(|li| attr(li, IFLA_INFO_KIND))
        .map(string);
    let master = attr(a, IFLA_MASTER).and_then(ne32).filter(|m| *m != 0);
    let xdp = attr(a, IFLA_XDP)
        .and_then(|x| attr(x, IFLA_XDP_ATTACHED))
        .and_then(|v| v.first().copied())
        .is_some_and(|v| v != 0);
    Some(Link {
        index,
        name,
        kind,
        master,
        xdp,
    })
}

/// Every interface in the agent's namespace. Blocking (fast).
pub fn dump() -> io::Result<Vec<Link>> {
    let sock = NlSocket::open(
        SockProtocol::NetlinkRoute,
        0,
        false,
        Some(Duration::from_secs(2)),
    )?;
    let req = MsgBuilder::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1)
        .raw(&[0u8; IFINFOMSG_LEN])
        .finish();
    sock.send(&req)?;
    let mut buf = vec![0u8; 256 << 10];
    let mut out = Vec::new();
    loop {
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from_raw_os_error(e as i32)),
        };
        for msg in messages(&buf[..n]) {
            match msg.ty {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => return Err(io::Error::other("link dump refused")),
                RTM_NEWLINK => out.extend(parse_link(msg.payload)),
                _ => {}
            }
        }
        if n == 0 {
            return Ok(out);
        }
    }
}

/// Non-blocking socket that becomes readable on every link change.
pub struct LinkEvents {
    sock: NlSocket,
    buf: Vec<u8>,
}

impl LinkEvents {
    pub fn open() -> io::Result<LinkEvents> {
        Ok(LinkEvents {
            sock: NlSocket::open(SockProtocol::NetlinkRoute, RTMGRP_LINK, true, None)?,
            buf: vec![0; 64 << 10],
        })
    }

    pub fn socket(&self) -> &NlSocket {
        &self.sock
    }

    /// Drains the socket; true if any link message (or an overflow) was seen.
    pub fn drain(&mut self) -> bool {
        let mut seen = false;
        loop {
            match self.sock.recv(&mut self.buf) {
                Ok(0) | Err(Errno::EAGAIN) => return seen,
                Ok(n) => seen |= !messages(&self.buf[..n]).is_empty(),
                Err(Errno::EINTR) => continue,
                Err(_) => return true,
            }
        }
    }
}

/// Names of attributes for debugging fixtures.
pub fn attr_kinds(payload: &[u8]) -> Vec<u16> {
    attrs(payload.get(IFINFOMSG_LEN..).unwrap_or_default())
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_link_with_master_and_xdp() {
        let mut name = b"ens4".to_vec();
        name.push(0);
        let mut info = [0u8; IFINFOMSG_LEN];
        info[4..8].copy_from_slice(&7i32.to_ne_bytes());
        let msg = MsgBuilder::new(RTM_NEWLINK, 0, 0)
            .raw(&info)
            .attr(IFLA_IFNAME, &name)
            .attr(IFLA_MASTER, &9u32.to_ne_bytes())
            .nest(IFLA_XDP)
            .attr(IFLA_XDP_ATTACHED, &[1])
            .end()
            .finish();
        let msgs = messages(&msg);
        let link = parse_link(msgs[0].payload).expect("link");
        assert_eq!(link.name, "ens4");
        assert_eq!(link.index, 7);
        assert_eq!(link.master, Some(9));
        assert!(link.xdp);
        assert_eq!(
            attr_kinds(msgs[0].payload),
            vec![IFLA_IFNAME, IFLA_MASTER, IFLA_XDP]
        );
    }
}
