//! Netlink, the few messages the agent needs, parsed and built by hand: nftables generation
//! notices ([`nftables`]) and what they say about our table ([`notices`]), conntrack dump/delete/new-entry events ([`conntrack`]) and link
//! dumps/events ([`link`]). This module holds the socket ([`NlSocket`], through `nix`, so no
//! unsafe code) and the wire primitives: message headers and TLV attributes, all bounds-checked
//! (a malformed message is skipped, never a panic).

pub mod conntrack;
pub mod expr;
pub mod link;
pub mod nftables;
pub mod notices;

use nix::errno::Errno;
use nix::sys::socket::{
    bind, recv, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr,
    SockFlag, SockProtocol, SockType,
};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// A netlink socket.
#[derive(Debug)]
pub struct NlSocket {
    fd: OwnedFd,
}

impl AsFd for NlSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn io_err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

impl NlSocket {
    /// Opens a socket of `protocol` joined to the multicast `groups` bitmask (bit n-1 for group
    /// n). `nonblocking` for event sockets driven by the runtime; blocking ones get `timeout`.
    pub fn open(
        protocol: SockProtocol,
        groups: u32,
        nonblocking: bool,
        timeout: Option<Duration>,
    ) -> io::Result<NlSocket> {
        let mut flags = SockFlag::SOCK_CLOEXEC;
        if nonblocking {
            flags |= SockFlag::SOCK_NONBLOCK;
        }
        let fd = socket(AddressFamily::Netlink, SockType::Raw, flags, protocol).map_err(io_err)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups)).map_err(io_err)?;
        if let Some(t) = timeout {
            let tv = nix::sys::time::TimeVal::new(
                t.as_secs() as nix::libc::time_t,
                t.subsec_micros() as nix::libc::suseconds_t,
            );
            setsockopt(&fd, sockopt::ReceiveTimeout, &tv).map_err(io_err)?;
        }
        Ok(NlSocket { fd })
    }

    /// Forces the receive buffer past `rmem_max` (needs CAP_NET_ADMIN); falls back to the
    /// ordinary option, which the kernel caps.
    pub fn force_receive_buffer(&self, bytes: usize) -> io::Result<()> {
        match setsockopt(&self.fd, sockopt::RcvBufForce, &bytes) {
            Ok(()) => Ok(()),
            Err(_) => setsockopt(&self.fd, sockopt::RcvBuf, &bytes).map_err(io_err),
        }
    }

    /// Sends one request to the kernel.
    pub fn send(&self, msg: &[u8]) -> io::Result<()> {
        sendto(
            self.fd.as_raw_fd(),
            msg,
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )
        .map(|_| ())
        .map_err(io_err)
    }

    /// Receives one datagram (possibly several messages). `Err(ENOBUFS)` means the kernel
    /// dropped messages; `Err(EAGAIN)` on a non-blocking socket means nothing is queued.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        recv(self.fd.as_raw_fd(), buf, MsgFlags::empty())
    }
}

/// One netlink message inside a datagram.
#[derive(Debug, Clone, Copy)]
pub struct Msg<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    /// After the 16-byte header.
    pub payload: &'a [u8],
}

fn u16_ne(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_ne(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Big-endian u32 attribute value.
pub fn be32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
}

/// Big-endian u16 attribute value.
pub fn be16(v: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(v.get(..2)?.try_into().ok()?))
}

/// Native-endian u32 attribute value (rtnetlink).
pub fn ne32(v: &[u8]) -> Option<u32> {
    u32_ne(v, 0)
}

/// A NUL-terminated string attribute value.
pub fn string(v: &[u8]) -> String {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Splits a datagram into messages; stops at the first malformed header.
pub fn messages(buf: &[u8]) -> Vec<Msg<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + NLMSG_HDRLEN <= buf.len() {
        let (Some(len), Some(ty), Some(flags), Some(seq)) = (
            u32_ne(buf, at),
            u16_ne(buf, at + 4),
            u16_ne(buf, at + 6),
            u32_ne(buf, at + 8),
        ) else {
            break;
        };
        let len = len as usize;
        if len < NLMSG_HDRLEN || at + len > buf.len() {
            break;
        }
        out.push(Msg {
            ty,
            flags,
            seq,
            payload: &buf[at + NLMSG_HDRLEN..at + len],
        });
        at += align4(len);
    }
    out
}

/// Iterates `(type without flags, value)` over a run of attributes.
pub fn attrs(buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= buf.len() {
        let (Some(len), Some(kind)) = (u16_ne(buf, at), u16_ne(buf, at + 2)) else {
            break;
        };
        let len = len as usize;
        if len < 4 || at + len > buf.len() {
            break;
        }
        out.push((kind & NLA_TYPE_MASK, &buf[at + 4..at + len]));
        at += align4(len);
    }
    out
}

/// The first attribute of `kind`.
pub fn attr(buf: &[u8], kind: u16) -> Option<&[u8]> {
    attrs(buf)
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, v)| v)
}

/// Builds one request message.
pub struct MsgBuilder {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl MsgBuilder {
    pub fn new(ty: u16, flags: u16, seq: u32) -> MsgBuilder {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        MsgBuilder {
            buf,
            nests: Vec::new(),
        }
    }

    /// Appends raw bytes (a family header), padded to 4.
    pub fn raw(mut self, bytes: &[u8]) -> MsgBuilder {
        self.buf.extend_from_slice(bytes);
        self.pad();
        self
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    /// Appends one attribute.
    pub fn attr(mut self, kind: u16, value: &[u8]) -> MsgBuilder {
        let len = (4 + value.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.pad();
        self
    }

    /// Opens a nested attribute; close it with [`MsgBuilder::end`].
    pub fn nest(mut self, kind: u16) -> MsgBuilder {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    pub fn end(mut self) -> MsgBuilder {
        if let Some(start) = self.nests.pop() {
            let len = (self.buf.len() - start) as u16;
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// The error code of an NLMSG_ERROR payload (0 is an ACK).
pub fn error_code(payload: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(payload.get(..4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses_roundtrip() {
        let msg = MsgBuilder::new(0x0102, NLM_F_REQUEST | NLM_F_ACK, 7)
            .raw(&[2, 0, 0, 0])
            .nest(1)
            .attr(1, &[10, 0, 0, 1])
            .end()
            .attr(12, &5u32.to_be_bytes())
            .finish();
        let msgs = messages(&msg);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].ty, 0x0102);
        assert_eq!(msgs[0].seq, 7);
        let a = attrs(&msgs[0].payload[4..]);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].0, 1);
        assert_eq!(attrs(a[0].1), vec![(1u16, &[10u8, 0, 0, 1][..])]);
        assert_eq!(be32(a[1].1), Some(5));
    }

    #[test]
    fn malformed_input_is_skipped_not_a_panic() {
        assert!(messages(&[1, 2, 3]).is_empty());
        let mut bad = MsgBuilder::new(1, 0, 0).finish();
        bad[0] = 200; // claims more bytes than there are
        assert!(messages(&bad).is_empty());
        assert!(attrs(&[8, 0, 1, 0, 1]).is_empty());
        assert_eq!(string(b"nft\0junk"), "nft");
    }
}
