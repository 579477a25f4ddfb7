//! Conntrack upkeep after every apply and restore: connection-tracking
//! entries outlive rulesets, so the agent deletes
//! - entries whose mark names a flow that is gone (revoked: the mark was ours and is no more),
//! - entries whose mark names a live flow but whose original tuple lies outside that flow
//!   (a narrowed flow, or a mark forged by a tamper),
//! - entries created while our table was tampered with, unless they are a live flow's own.
//!
//! Entries with mark 0 (pre-existing, loopback) and marks that were never ours are left alone:
//! a foreign ct mark writer is a bypass finding, not something to clean up silently.
//! [`select`] is pure; [`ConntrackTable`] does the I/O (ctnetlink, or a fake in tests).

use crate::events::ConntrackReport;
use crate::netlink::conntrack::{self as ct, CtEntry};
use crate::policy_source::FlowIndex;
use std::collections::BTreeSet;
use std::io;

/// The kernel's conntrack table.
pub trait ConntrackTable: Send + Sync {
    fn dump(&self) -> io::Result<Vec<CtEntry>>;
    fn delete(&self, entries: &[CtEntry]) -> io::Result<u64>;
}

/// ctnetlink.
pub struct Netlink;

impl ConntrackTable for Netlink {
    fn dump(&self) -> io::Result<Vec<CtEntry>> {
        ct::dump()
    }
    fn delete(&self, entries: &[CtEntry]) -> io::Result<u64> {
        ct::delete(entries)
    }
}

/// Does nothing (monitor and dry-run modes, and tests that do not care).
pub struct Disabled;

impl ConntrackTable for Disabled {
    fn dump(&self) -> io::Result<Vec<CtEntry>> {
        Ok(Vec::new())
    }
    fn delete(&self, _entries: &[CtEntry]) -> io::Result<u64> {
        Ok(0)
    }
}

/// What upkeep will delete, by reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Selection {
    pub revoked: Vec<CtEntry>,
    pub mismatched: Vec<CtEntry>,
    pub tamper_window: Vec<CtEntry>,
}

fn is_loopback(e: &CtEntry) -> bool {
    e.src.is_loopback() || e.dst.is_loopback()
}

/// Whether an entry is a live flow's legitimate connection (or intra-zone).
fn legitimate(e: &CtEntry, flows: &FlowIndex) -> bool {
    if flows.intra.contains(&e.mark) {
        return true;
    }
    flows
        .flows
        .get(&e.mark)
        .is_some_and(|f| f.matches(&e.src, &e.dst, e.proto, e.dport))
}

/// Chooses the entries to delete. `retired`: marks of flows no longer in the policy.
/// `window`: entries created during a tamper (from the new-connection notices).
pub fn select(
    entries: &[CtEntry],
    flows: &FlowIndex,
    retired: &BTreeSet<u32>,
    window: &[CtEntry],
) -> Selection {
    let mut s = Selection::default();
    let window_keys: BTreeSet<(String, String, u8, u16, u16)> = window
        .iter()
        .map(|e| {
            (
                e.src.to_string(),
                e.dst.to_string(),
                e.proto,
                e.sport,
                e.dport,
            )
        })
        .collect();
    for e in entries {
        if is_loopback(e) {
            continue;
        }
        let in_window = window_keys.contains(&(
            e.src.to_string(),
            e.dst.to_string(),
            e.proto,
            e.sport,
            e.dport,
        ));
        if e.mark != 0 && retired.contains(&e.mark) && !flows.flows.contains_key(&e.mark) {
            s.revoked.push(e.clone());
        } else if flows.flows.contains_key(&e.mark) && !legitimate(e, flows) {
            s.mismatched.push(e.clone());
        } else if in_window && !legitimate(e, flows) {
            s.tamper_window.push(e.clone());
        }
    }
    s
}

/// Dumps, selects and deletes; never fails (errors go into the report).
pub fn upkeep(
    table: &dyn ConntrackTable,
    flows: &FlowIndex,
    retired: &BTreeSet<u32>,
    window: &[CtEntry],
) -> ConntrackReport {
    let entries = match table.dump() {
        Ok(e) => e,
        Err(e) => {
            return ConntrackReport {
                error: Some(format!("conntrack dump failed: {e}")),
                ..ConntrackReport::default()
            }
        }
    };
    let s = select(&entries, flows, retired, window);
    let mut report = ConntrackReport {
        examined: entries.len() as u64,
        ..ConntrackReport::default()
    };
    let mut errors = Vec::new();
    for (list, slot) in [
        (&s.revoked, &mut report.revoked),
        (&s.mismatched, &mut report.mismatched),
        (&s.tamper_window, &mut report.tamper_window),
    ] {
        match table.delete(list) {
            Ok(n) => *slot = n,
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        report.error = Some(format!("conntrack delete failed: {}", errors.join("; ")));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_source::{AddrRange, FlowMatch, PortRange};
    use std::collections::BTreeMap;
    use std::net::IpAddr;
    use std::sync::Mutex;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn entry(src: &str, dst: &str, dport: u16, mark: u32) -> CtEntry {
        CtEntry {
            src: ip(src),
            dst: ip(dst),
            proto: 6,
            sport: 40000,
            dport,
            mark,
            id: Some(1),
            zone: None,
            orig: Vec::new(),
        }
    }

    fn flows() -> FlowIndex {
        let mut flows = BTreeMap::new();
        flows.insert(
            100,
            FlowMatch {
                id: "F-1".into(),
                src: vec![AddrRange {
                    lo: ip("10.1.0.5"),
                    hi: ip("10.1.0.5"),
                }],
                dst: vec![AddrRange {
                    lo: ip("10.2.0.5"),
                    hi: ip("10.2.0.5"),
                }],
                ports: vec![PortRange {
                    proto: 6,
                    lo: 8080,
                    hi: 8080,
                }],
            },
        );
        FlowIndex {
            flows,
            intra: BTreeSet::from([7]),
        }
    }

    #[test]
    fn selects_revoked_mismatched_and_tamper_entries() {
        let legit = entry("10.1.0.5", "10.2.0.5", 8080, 100);
        let narrowed = entry("10.1.0.5", "10.2.0.5", 9090, 100);
        let revoked = entry("10.1.0.5", "10.2.0.5", 8080, 200);
        let foreign_mark = entry("10.1.0.5", "10.2.0.5", 22, 0xdead);
        let intra = entry("10.1.0.7", "10.1.0.8", 22, 7);
        let tamper = entry("10.3.0.2", "10.2.0.5", 22, 0);
        let old = entry("10.3.0.9", "10.2.0.5", 22, 0);
        let lo = entry("127.0.0.1", "127.0.0.1", 22, 200);
        let all = vec![
            legit.clone(),
            narrowed.clone(),
            revoked.clone(),
            foreign_mark.clone(),
            intra,
            tamper.clone(),
            old,
            lo,
        ];
        let s = select(
            &all,
            &flows(),
            &BTreeSet::from([200]),
            &[tamper.clone(), legit.clone()],
        );
        assert_eq!(s.revoked, vec![revoked]);
        assert_eq!(s.mismatched, vec![narrowed]);
        assert_eq!(s.tamper_window, vec![tamper]);
    }

    struct Fake {
        entries: Vec<CtEntry>,
        deleted: Mutex<Vec<CtEntry>>,
    }

    impl ConntrackTable for Fake {
        fn dump(&self) -> io::Result<Vec<CtEntry>> {
            Ok(self.entries.clone())
        }
        fn delete(&self, entries: &[CtEntry]) -> io::Result<u64> {
            if let Ok(mut d) = self.deleted.lock() {
                d.extend_from_slice(entries);
            }
            Ok(entries.len() as u64)
        }
    }

    #[test]
    fn upkeep_reports_counts() {
        let fake = Fake {
            entries: vec![
                entry("10.1.0.5", "10.2.0.5", 8080, 100),
                entry("10.1.0.5", "10.2.0.5", 9999, 100),
            ],
            deleted: Mutex::new(Vec::new()),
        };
        let r = upkeep(&fake, &flows(), &BTreeSet::new(), &[]);
        assert_eq!(r.examined, 2);
        assert_eq!(r.mismatched, 1);
        assert_eq!(r.removed(), 1);
        assert!(r.error.is_none());
    }
}
