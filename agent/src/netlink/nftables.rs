//! nftables change notices from NFNLGRP_NFTABLES. Every committed transaction ends with a
//! NEWGEN message carrying the generation id and the writer's pid and command name, which is how
//! the agent tells its own writes from foreign ones (`nft -j monitor` omits the pid). The same
//! socket also joins NFNLGRP_CONNTRACK_NEW, so new-connection notices arrive in kernel order
//! with the generations: connections created inside a tamper window are known exactly.
//! The receive buffer is forced to 16 MiB; ENOBUFS (notices lost) is reported as an overflow,
//! which the agent treats as "compare now".

use super::conntrack::{parse_entry, CtEntry};
use super::notices::Pending;
use super::{attr, be32, messages, string, NlSocket, NLMSG_HDRLEN};
use nix::errno::Errno;
use nix::sys::socket::SockProtocol;
use std::io;

/// NFNLGRP_NFTABLES is group 7, NFNLGRP_CONNTRACK_NEW group 1: bitmask bits 6 and 0.
const GROUPS: u32 = (1 << (7 - 1)) | 1;
const RECEIVE_BUFFER: usize = 16 << 20;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const NFT_MSG_NEWGEN: u16 = 15;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const NFTA_GEN_ID: u16 = 1;
const NFTA_GEN_PROC_PID: u16 = 2;
const NFTA_GEN_PROC_NAME: u16 = 3;
/// nfgenmsg before the attributes.
const NFGENMSG_LEN: usize = 4;

/// One committed ruleset generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub id: u32,
    pub pid: u32,
    pub comm: String,
    /// The transaction changed something in `table inet zonegate` (a message of it named the
    /// table). Only what the notices say; the agent still compares to be sure.
    pub touched_ours: bool,
    /// What the transaction's notices say it did to our table.
    pub notices: Pending,
}

/// Everything drained from the socket since the last call.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub generations: Vec<Generation>,
    /// New conntrack entries, in order, with the index of the generation count at their arrival
    /// (entries before any generation of this batch have 0). Only while recording.
    pub new_connections: Vec<(usize, CtEntry)>,
    /// The kernel dropped notices (ENOBUFS): anything may have changed.
    pub overflow: bool,
    /// Other nftables messages (rules, sets, elements) seen.
    pub messages: usize,
}

/// Source of generation notices: the netlink monitor, or a fake in tests.
pub trait GenWatch {
    /// Everything queued now, without waiting.
    fn drain(&mut self) -> Batch;
    /// False when this watch cannot see generations at all.
    fn reliable(&self) -> bool {
        true
    }
}

/// The real monitor.
pub struct NftMonitor {
    sock: NlSocket,
    buf: Vec<u8>,
    /// Parse new-connection notices (the daemon keeps those inside a tamper window).
    pub record_connections: bool,
    /// The transaction in progress, until its NEWGEN.
    txn: InProgress,
}

/// What the notices of the transaction in progress said about our table so far (they arrive
/// before its NEWGEN, possibly over several datagrams).
#[derive(Debug, Default)]
pub struct InProgress {
    touching: bool,
    pending: Pending,
}

impl NftMonitor {
    /// Subscribes (needs CAP_NET_ADMIN).
    pub fn open() -> io::Result<NftMonitor> {
        let sock = NlSocket::open(SockProtocol::NetlinkNetFilter, GROUPS, true, None)?;
        sock.force_receive_buffer(RECEIVE_BUFFER)?;
        Ok(NftMonitor {
            sock,
            buf: vec![0; 1 << 20],
            record_connections: true,
            txn: InProgress::default(),
        })
    }

    pub fn socket(&self) -> &NlSocket {
        &self.sock
    }
}

impl GenWatch for NftMonitor {
    fn drain(&mut self) -> Batch {
        let mut batch = Batch::default();
        loop {
            match self.sock.recv(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => parse_into(
                    &self.buf[..n],
                    self.record_connections,
                    &mut self.txn,
                    &mut batch,
                ),
                Err(Errno::EAGAIN) => break,
                Err(Errno::ENOBUFS) => batch.overflow = true,
                Err(Errno::EINTR) => continue,
                Err(_) => {
                    batch.overflow = true;
                    break;
                }
            }
        }
        batch
    }
}

/// Parses one datagram of notices into `batch`. `txn` carries, across datagrams, what the
/// transaction in progress has done to our table.
pub fn parse_into(datagram: &[u8], record: bool, txn: &mut InProgress, batch: &mut Batch) {
    for msg in messages(datagram) {
        let subsys = msg.ty >> 8;
        let kind = msg.ty & 0xff;
        if subsys == NFNL_SUBSYS_NFTABLES && kind == NFT_MSG_NEWGEN {
            if let Some(mut g) = parse_generation(msg.payload) {
                g.touched_ours = std::mem::take(&mut txn.touching);
                g.notices = std::mem::take(&mut txn.pending);
                batch.generations.push(g);
            }
        } else if subsys == NFNL_SUBSYS_CTNETLINK && kind == IPCTNL_MSG_CT_NEW {
            if record {
                if let Some(e) = msg.payload.get(NFGENMSG_LEN..).and_then(parse_entry_attrs) {
                    batch.new_connections.push((batch.generations.len(), e));
                }
            }
        } else if subsys == NFNL_SUBSYS_NFTABLES {
            batch.messages += 1;
            if names_our_table(msg.payload) {
                txn.touching = true;
                txn.pending.record(kind, msg.payload);
            }
        }
    }
}

/// Every nftables object message (table, chain, rule, set, element list, object, flowtable)
/// carries its table's name as attribute 1; our table is family inet.
fn names_our_table(payload: &[u8]) -> bool {
    const NFPROTO_INET: u8 = 1;
    payload.first() == Some(&NFPROTO_INET)
        && payload
            .get(NFGENMSG_LEN..)
            .and_then(|a| attr(a, 1))
            .is_some_and(|name| string(name) == zonegate_policy::names::TABLE)
}

fn parse_entry_attrs(attrs: &[u8]) -> Option<CtEntry> {
    parse_entry(attrs)
}

/// NEWGEN payload (nfgenmsg + attributes).
pub fn parse_generation(payload: &[u8]) -> Option<Generation> {
    let attrs = payload.get(NFGENMSG_LEN..)?;
    Some(Generation {
        id: be32(attr(attrs, NFTA_GEN_ID)?)?,
        pid: attr(attrs, NFTA_GEN_PROC_PID).and_then(be32).unwrap_or(0),
        comm: attr(attrs, NFTA_GEN_PROC_NAME)
            .map(string)
            .unwrap_or_default(),
        touched_ours: false,
        notices: Pending::default(),
    })
}

/// Header length of a message, for building test fixtures.
pub const HEADER: usize = NLMSG_HDRLEN + NFGENMSG_LEN;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::MsgBuilder;

    fn newgen(id: u32, pid: u32, comm: &str) -> Vec<u8> {
        let mut name = comm.as_bytes().to_vec();
        name.push(0);
        MsgBuilder::new((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN, 0, 0)
            .raw(&[0, 0, 0, 0])
            .attr(NFTA_GEN_ID, &id.to_be_bytes())
            .attr(NFTA_GEN_PROC_PID, &pid.to_be_bytes())
            .attr(NFTA_GEN_PROC_NAME, &name)
            .finish()
    }

    #[test]
    fn parses_generations_in_order() {
        let mut dgram = newgen(41, 1234, "nft");
        // A NEWRULE of table inet zonegate, then one of table ip other.
        dgram.extend(
            MsgBuilder::new((NFNL_SUBSYS_NFTABLES << 8) | 6, 0, 0)
                .raw(&[1, 0, 0, 0])
                .attr(1, b"zonegate\0")
                .finish(),
        );
        dgram.extend(newgen(42, 99, "iptables-nft"));
        dgram.extend(
            MsgBuilder::new((NFNL_SUBSYS_NFTABLES << 8) | 6, 0, 0)
                .raw(&[2, 0, 0, 0])
                .attr(1, b"other\0")
                .finish(),
        );
        dgram.extend(newgen(43, 99, "iptables-nft"));
        let mut batch = Batch::default();
        let mut txn = InProgress::default();
        parse_into(&dgram, false, &mut txn, &mut batch);
        assert_eq!(batch.generations[1].notices.notices.len(), 1);
        for g in &mut batch.generations {
            g.notices = Pending::default();
        }
        assert_eq!(
            batch.generations,
            vec![
                Generation {
                    id: 41,
                    pid: 1234,
                    comm: "nft".into(),
                    touched_ours: false,
                    notices: Pending::default(),
                },
                Generation {
                    id: 42,
                    pid: 99,
                    comm: "iptables-nft".into(),
                    touched_ours: true,
                    notices: Pending::default(),
                },
                Generation {
                    id: 43,
                    pid: 99,
                    comm: "iptables-nft".into(),
                    touched_ours: false,
                    notices: Pending::default(),
                }
            ]
        );
        assert_eq!(batch.messages, 2);
    }
}
