//! What a transaction did to `table inet zonegate`, as the kernel's change notices tell it.
//! Every object message of NFNLGRP_NFTABLES (table, chain, rule, set, element list, object,
//! flowtable) names its table and its object; this module turns the ones naming our table into
//! a short, bounded list of [`Notice`]s ("chain forward: rule added, handle 41").
//!
//! Why: in enforce mode the agent repairs a tampered table before it has listed it, so a
//! 10,000-host table is repaired in the time of one load instead of a listing plus a load.
//! The readable diff still comes from a listing started just before the repair; when the
//! repair wins that race (or the write changed nothing), these notices are the evidence.

use super::expr::{self, ElemKey};
use super::{attr, attrs, be32, string};

const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_DELCHAIN: u16 = 5;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_DELRULE: u16 = 8;
const NFT_MSG_NEWSET: u16 = 9;
const NFT_MSG_DELSET: u16 = 11;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFT_MSG_NEWOBJ: u16 = 18;
const NFT_MSG_DELOBJ: u16 = 20;
const NFT_MSG_NEWFLOWTABLE: u16 = 22;
const NFT_MSG_DELFLOWTABLE: u16 = 24;
/// Linux 6.3+ `destroy` commands; their notices use these types too.
const NFT_MSG_DESTROYTABLE: u16 = 26;
const NFT_MSG_DESTROYCHAIN: u16 = 27;
const NFT_MSG_DESTROYRULE: u16 = 28;
const NFT_MSG_DESTROYSET: u16 = 29;
const NFT_MSG_DESTROYSETELEM: u16 = 30;
const NFT_MSG_DESTROYOBJ: u16 = 31;
const NFT_MSG_DESTROYFLOWTABLE: u16 = 32;

const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
/// Also NFTA_SET_ELEM_LIST_SET, NFTA_OBJ_NAME and NFTA_FLOWTABLE_NAME.
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
/// nfgenmsg before the attributes.
const NFGENMSG_LEN: usize = 4;
/// Distinct notices kept per transaction; the rest only count.
const MAX_NOTICES: usize = 32;
/// Rules rendered per notice (the rest only count).
const MAX_RULES: usize = 8;
/// Elements kept per notice (the rest only count).
const MAX_ELEMENTS: usize = 16;

/// One kind of change to one object of our table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoticeKind {
    TableDeleted,
    TableDeclared,
    ChainDeclared,
    ChainDeleted,
    RuleAdded,
    RuleRemoved,
    SetDeclared,
    SetDeleted,
    ElementsAdded,
    ElementsRemoved,
    ObjectDeclared,
    ObjectDeleted,
    FlowtableDeclared,
    FlowtableDeleted,
}

/// Changes of one kind to one object within one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    /// Chain, set, object or flowtable name; empty for the table itself.
    pub object: String,
    /// Messages (rules, chains...) or elements (element lists) of this kind.
    pub count: u32,
    /// Handle of the first rule added or removed.
    pub handle: Option<u64>,
    /// Base-chain policy carried by a chain notice: 0 drop, 1 accept.
    pub policy: Option<u32>,
    /// Rules added or removed, rendered from the notices' expressions: (handle, rule).
    pub rules: Vec<(Option<u64>, String)>,
    /// Elements added or removed, from the notices' payload (shown with the set's type later).
    pub elements: Vec<ElemKey>,
}

/// The notices of the transaction in progress (until its NEWGEN).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pending {
    pub notices: Vec<Notice>,
    /// Messages about our table that did not fit in [`MAX_NOTICES`].
    pub more: u32,
}

impl Pending {
    /// Records one nftables object message of our table (type without the subsystem).
    pub fn record(&mut self, kind: u16, payload: &[u8]) {
        let Some(attrs_buf) = payload.get(NFGENMSG_LEN..) else {
            return;
        };
        let (kind, name_attr) = match kind {
            NFT_MSG_DELTABLE | NFT_MSG_DESTROYTABLE => (NoticeKind::TableDeleted, None),
            NFT_MSG_NEWTABLE => (NoticeKind::TableDeclared, None),
            NFT_MSG_NEWCHAIN => (NoticeKind::ChainDeclared, Some(NFTA_CHAIN_NAME)),
            NFT_MSG_DELCHAIN | NFT_MSG_DESTROYCHAIN => {
                (NoticeKind::ChainDeleted, Some(NFTA_CHAIN_NAME))
            }
            NFT_MSG_NEWRULE => (NoticeKind::RuleAdded, Some(NFTA_RULE_CHAIN)),
            NFT_MSG_DELRULE | NFT_MSG_DESTROYRULE => {
                (NoticeKind::RuleRemoved, Some(NFTA_RULE_CHAIN))
            }
            NFT_MSG_NEWSET => (NoticeKind::SetDeclared, Some(NFTA_SET_NAME)),
            NFT_MSG_DELSET | NFT_MSG_DESTROYSET => (NoticeKind::SetDeleted, Some(NFTA_SET_NAME)),
            NFT_MSG_NEWSETELEM => (NoticeKind::ElementsAdded, Some(NFTA_SET_NAME)),
            NFT_MSG_DELSETELEM | NFT_MSG_DESTROYSETELEM => {
                (NoticeKind::ElementsRemoved, Some(NFTA_SET_NAME))
            }
            NFT_MSG_NEWOBJ => (NoticeKind::ObjectDeclared, Some(NFTA_SET_NAME)),
            NFT_MSG_DELOBJ | NFT_MSG_DESTROYOBJ => (NoticeKind::ObjectDeleted, Some(NFTA_SET_NAME)),
            NFT_MSG_NEWFLOWTABLE => (NoticeKind::FlowtableDeclared, Some(NFTA_SET_NAME)),
            NFT_MSG_DELFLOWTABLE | NFT_MSG_DESTROYFLOWTABLE => {
                (NoticeKind::FlowtableDeleted, Some(NFTA_SET_NAME))
            }
            _ => return,
        };
        let object = name_attr
            .and_then(|a| attr(attrs_buf, a))
            .map(string)
            .unwrap_or_default();
        let count = match kind {
            NoticeKind::ElementsAdded | NoticeKind::ElementsRemoved => {
                attr(attrs_buf, NFTA_SET_ELEM_LIST_ELEMENTS)
                    .map(|nest| attrs(nest).len() as u32)
                    .unwrap_or(1)
            }
            _ => 1,
        };
        let handle = match kind {
            NoticeKind::RuleAdded | NoticeKind::RuleRemoved => {
                attr(attrs_buf, NFTA_RULE_HANDLE).and_then(be64)
            }
            _ => None,
        };
        let policy = match kind {
            NoticeKind::ChainDeclared => attr(attrs_buf, NFTA_CHAIN_POLICY).and_then(be32),
            _ => None,
        };
        let rule = match kind {
            NoticeKind::RuleAdded | NoticeKind::RuleRemoved => expr::render_rule(attrs_buf),
            _ => None,
        };
        let elems = match kind {
            NoticeKind::ElementsAdded | NoticeKind::ElementsRemoved => {
                expr::elements(attrs_buf, MAX_ELEMENTS)
            }
            _ => Vec::new(),
        };
        if let Some(n) = self
            .notices
            .iter_mut()
            .find(|n| n.kind == kind && n.object == object)
        {
            n.count = n.count.saturating_add(count);
            n.policy = policy.or(n.policy);
            if let Some(r) = rule {
                if n.rules.len() < MAX_RULES {
                    n.rules.push((handle, r));
                }
            }
            let room = MAX_ELEMENTS.saturating_sub(n.elements.len());
            n.elements.extend(elems.into_iter().take(room));
            return;
        }
        if self.notices.len() >= MAX_NOTICES {
            self.more = self.more.saturating_add(count);
            return;
        }
        self.notices.push(Notice {
            kind,
            object,
            count,
            handle,
            policy,
            rules: rule.map(|r| vec![(handle, r)]).unwrap_or_default(),
            elements: elems,
        });
    }
}

fn be64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.get(..8)?.try_into().ok()?))
}

/// The verdict name of a base-chain policy value.
pub fn policy_name(p: u32) -> &'static str {
    match p {
        0 => "drop",
        1 => "accept",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::MsgBuilder;

    fn msg(kind: u16, build: impl FnOnce(MsgBuilder) -> MsgBuilder) -> Vec<u8> {
        build(MsgBuilder::new((10 << 8) | kind, 0, 0).raw(&[1, 0, 0, 0])).finish()
    }

    fn payload(m: &[u8]) -> &[u8] {
        &m[crate::netlink::NLMSG_HDRLEN..]
    }

    #[test]
    fn rules_elements_and_policies_are_summarised() {
        let mut p = Pending::default();
        let rule = msg(NFT_MSG_NEWRULE, |b| {
            b.attr(1, b"zonegate\0")
                .attr(NFTA_RULE_CHAIN, b"forward\0")
                .attr(NFTA_RULE_HANDLE, &41u64.to_be_bytes())
        });
        p.record(NFT_MSG_NEWRULE, payload(&rule));
        let elems = msg(NFT_MSG_DELSETELEM, |b| {
            b.attr(1, b"zonegate\0")
                .attr(NFTA_SET_NAME, b"src4\0")
                .nest(NFTA_SET_ELEM_LIST_ELEMENTS)
                .nest(1)
                .end()
                .nest(1)
                .end()
                .end()
        });
        p.record(NFT_MSG_DELSETELEM, payload(&elems));
        p.record(NFT_MSG_DELSETELEM, payload(&elems));
        let chain = msg(NFT_MSG_NEWCHAIN, |b| {
            b.attr(1, b"zonegate\0")
                .attr(NFTA_CHAIN_NAME, b"forward\0")
                .attr(NFTA_CHAIN_POLICY, &1u32.to_be_bytes())
        });
        p.record(NFT_MSG_NEWCHAIN, payload(&chain));
        assert_eq!(p.notices.len(), 3);
        assert_eq!(p.notices[0].kind, NoticeKind::RuleAdded);
        assert_eq!(p.notices[0].object, "forward");
        assert_eq!(p.notices[0].handle, Some(41));
        assert_eq!(p.notices[1].kind, NoticeKind::ElementsRemoved);
        assert_eq!(p.notices[1].count, 4);
        assert_eq!(p.notices[2].policy, Some(1));
    }

    #[test]
    fn the_list_is_bounded() {
        let mut p = Pending::default();
        for i in 0..100 {
            let name = format!("c{i}\0");
            let m = msg(NFT_MSG_DELCHAIN, |b| {
                b.attr(1, b"zonegate\0")
                    .attr(NFTA_CHAIN_NAME, name.as_bytes())
            });
            p.record(NFT_MSG_DELCHAIN, payload(&m));
        }
        assert_eq!(p.notices.len(), MAX_NOTICES);
        assert_eq!(p.more, 100 - MAX_NOTICES as u32);
    }

    #[test]
    fn truncated_messages_are_ignored() {
        let mut p = Pending::default();
        p.record(NFT_MSG_NEWRULE, &[1, 0]);
        p.record(NFT_MSG_NEWRULE, &[1, 0, 0, 0, 9, 0]);
        assert_eq!(p.notices.len(), 1, "a rule without a chain still counts");
        assert_eq!(p.notices[0].object, "");
    }
}
