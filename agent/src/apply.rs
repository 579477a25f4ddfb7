//! Load a ruleset and establish its baseline: `nft -c` → one transaction → read back → accept
//! the listing only if nobody else wrote in between. Our own transaction is
//! recognised by its NEWGEN pid (the nft child we spawned); a foreign generation after ours and
//! before the end of the read-back means a tamper may be in the listing, so we load again.
//! When the expected listing is known (a restore of the baseline), the read-back must equal it.

use crate::backend::{Backend, BackendError, Receipt};
use crate::drift::{diff, Drift};
use crate::listing::{normalise, ListingError, TableState};
use crate::netlink::conntrack::CtEntry;
use crate::netlink::nftables::{Batch, GenWatch, Generation};
use thiserror::Error;

/// Attempts before a racing writer makes the apply fail.
pub const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, Error)]
pub enum ApplyError {
    /// `nft -c` refused the ruleset; nothing was changed.
    #[error("the ruleset does not load: {0}")]
    Check(#[source] BackendError),
    /// The transaction failed; the kernel kept the old ruleset.
    #[error("loading the ruleset failed: {0}")]
    Load(#[source] BackendError),
    /// The read-back failed.
    #[error("reading the table back failed: {0}")]
    ReadBack(#[source] BackendError),
    /// The read-back is not a listing we understand.
    #[error("reading the table back failed: {0}")]
    Listing(#[from] ListingError),
    /// Another writer changed the ruleset between our transaction and our read-back, every time.
    #[error("another process kept changing the ruleset during the apply ({attempts} attempts)")]
    Raced { attempts: u32 },
    /// Nobody else wrote, yet the read-back differs from what we loaded before: the restore
    /// does not converge.
    #[error("the table read back differs from the baseline: {}", drift.summary())]
    Mismatch { drift: Drift },
}

/// A verified load.
#[derive(Debug, Clone)]
pub struct Verified {
    pub baseline: TableState,
    pub receipt: Receipt,
    pub attempts: u32,
    /// Our generation id, when seen.
    pub generation: Option<u32>,
    /// Foreign generations seen while applying (bypass scan material).
    pub foreign: Vec<Generation>,
    /// Foreign writes after our final, accepted read-back started: compare again soon.
    pub foreign_after: bool,
    /// New connections recorded while applying.
    pub new_connections: Vec<CtEntry>,
    /// Generation notices were lost (ENOBUFS) or unavailable: the race check was blind.
    pub blind: bool,
}

/// Notices for the agent's own pids, relative to one receipt.
pub(crate) struct Split {
    pub(crate) ours: Option<u32>,
    pub(crate) foreign_after: Vec<Generation>,
    pub(crate) foreign_before: Vec<Generation>,
}

pub(crate) fn split(batch: &Batch, pid: u32, own: &[u32]) -> Split {
    let s = split_by_pid(batch, pid, own);
    if s.ours.is_some() {
        return s;
    }
    // In a PID namespace (a container under systemd-nspawn or LXC) the kernel reports writers'
    // pids as the initial namespace sees them, so our child's pid never matches. The batch spans
    // only our load and our read-back, so our transaction is then the one generation written by
    // a process named nft; with two or more we cannot tell them apart and the apply counts as
    // raced (the caller loads again).
    let mut by_nft = batch.generations.iter().filter(|g| g.comm == "nft");
    match (by_nft.next(), by_nft.next()) {
        (Some(only), None) => split_by_pid(batch, only.pid, own),
        _ => s,
    }
}

fn split_by_pid(batch: &Batch, pid: u32, own: &[u32]) -> Split {
    let mut s = Split {
        ours: None,
        foreign_after: Vec::new(),
        foreign_before: Vec::new(),
    };
    for g in &batch.generations {
        if g.pid == pid {
            s.ours = Some(g.id);
            // Later foreign generations count as "after"; earlier ones are overwritten by us.
            s.foreign_before.append(&mut s.foreign_after);
        } else if !own.contains(&g.pid) {
            s.foreign_after.push(g.clone());
        }
    }
    if s.ours.is_none() {
        // Ours never appeared: treat everything as possibly after.
        s.foreign_before.clear();
    }
    s
}

/// Loads `text` and returns its verified baseline. `expected`: the listing this text produced
/// before (restores), which the read-back must equal. `check`: run `nft -c` first.
pub async fn load_verified<B: Backend, W: GenWatch>(
    backend: &B,
    watch: &mut W,
    text: &str,
    expected: Option<&TableState>,
    check: bool,
) -> Result<Verified, ApplyError> {
    load_verified_with(backend, watch, text, expected, check, MAX_ATTEMPTS).await
}

/// [`load_verified`] with a number of attempts: a restore tries once and lets the drift loop
/// handle the writer's next change, which is already queued as a notice.
pub async fn load_verified_with<B: Backend, W: GenWatch>(
    backend: &B,
    watch: &mut W,
    text: &str,
    expected: Option<&TableState>,
    check: bool,
    attempts: u32,
) -> Result<Verified, ApplyError> {
    let attempts = attempts.max(1);
    if check {
        backend.check(text).await.map_err(ApplyError::Check)?;
    }
    let mut foreign = Vec::new();
    let mut new_connections = Vec::new();
    let pre = watch.drain();
    foreign.extend(pre.generations.iter().cloned());
    new_connections.extend(pre.new_connections.into_iter().map(|(_, e)| e));
    let mut own_pids = Vec::new();
    for attempt in 1..=attempts {
        let receipt = backend.apply(text).await.map_err(ApplyError::Load)?;
        own_pids.push(receipt.pid);
        let listing = backend.list_table().await.map_err(ApplyError::ReadBack)?;
        let observed = normalise(listing.as_ref())?;
        let post = watch.drain();
        new_connections.extend(post.new_connections.iter().map(|(_, e)| e.clone()));
        let s = split(&post, receipt.pid, &own_pids);
        foreign.extend(s.foreign_before.iter().cloned());
        foreign.extend(s.foreign_after.iter().cloned());
        let blind = post.overflow || s.ours.is_none() || !watch.reliable();
        let clean = !blind && s.foreign_after.is_empty();
        let Some(observed) = observed else {
            continue; // deleted right after our load
        };
        let accept = match expected {
            Some(exp) if *exp == observed => true,
            Some(exp) => {
                if clean {
                    return Err(ApplyError::Mismatch {
                        drift: diff(Some(exp), Some(&observed)),
                    });
                }
                false
            }
            None => clean || (!watch.reliable() && !post.overflow),
        };
        if accept {
            return Ok(Verified {
                baseline: observed,
                receipt,
                attempts: attempt,
                generation: s.ours,
                foreign,
                foreign_after: !s.foreign_after.is_empty(),
                new_connections,
                blind,
            });
        }
    }
    Err(ApplyError::Raced { attempts })
}

/// A [`GenWatch`] that sees nothing (no netlink): applies are accepted unverified.
pub struct NoWatch;

impl GenWatch for NoWatch {
    fn drain(&mut self) -> Batch {
        Batch::default()
    }
    fn reliable(&self) -> bool {
        false
    }
}

/// The monitor when it could be opened, else [`NoWatch`].
pub enum AnyWatch {
    Netlink(crate::netlink::nftables::NftMonitor),
    Blind(NoWatch),
}

impl GenWatch for AnyWatch {
    fn drain(&mut self) -> Batch {
        match self {
            AnyWatch::Netlink(m) => m.drain(),
            AnyWatch::Blind(n) => n.drain(),
        }
    }
    fn reliable(&self) -> bool {
        match self {
            AnyWatch::Netlink(m) => m.reliable(),
            AnyWatch::Blind(n) => n.reliable(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::fake::{FakeBackend, FakeWatch};
    use serde_json::json;

    fn generation(id: u32, pid: u32, comm: &str) -> Generation {
        Generation {
            id,
            pid,
            comm: comm.to_string(),
            touched_ours: true,
            notices: Default::default(),
        }
    }

    #[test]
    fn in_a_pid_namespace_the_one_nft_generation_is_ours() {
        // Our child is pid 7 in the container; the kernel reports 25624.
        let batch = Batch {
            generations: vec![generation(10, 25624, "nft")],
            ..Batch::default()
        };
        let s = split(&batch, 7, &[7]);
        assert_eq!(s.ours, Some(10));
        assert!(s.foreign_after.is_empty());
        // Two writers named nft: ambiguous, so not ours (the apply is retried).
        let batch = Batch {
            generations: vec![generation(10, 25624, "nft"), generation(11, 25630, "nft")],
            ..Batch::default()
        };
        assert_eq!(split(&batch, 7, &[7]).ours, None);
        // A matching pid still wins, and the other nft write is foreign.
        let batch = Batch {
            generations: vec![generation(10, 7, "nft"), generation(11, 25630, "nft")],
            ..Batch::default()
        };
        let s = split(&batch, 7, &[7]);
        assert_eq!(s.ours, Some(10));
        assert_eq!(s.foreign_after.len(), 1);
    }

    const TEXT: &str = "table inet zonegate\ndelete table inet zonegate\ntable inet zonegate {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tct state established accept\n\t}\n}\n";

    fn insert_accept(table: &mut Option<serde_json::Value>) {
        if let Some(items) = table
            .as_mut()
            .and_then(|t| t.get_mut("nftables"))
            .and_then(|n| n.as_array_mut())
        {
            items.push(json!({"rule": {"family": "inet", "table": "zonegate", "chain": "forward", "handle": 999, "expr": [{"fake": "ip saddr 10.9.9.9 accept"}]}}));
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn clean_apply_gives_the_read_back_as_baseline() {
        let b = FakeBackend::new();
        let mut w = FakeWatch::new(&b);
        let v = load_verified(&b, &mut w, TEXT, None, true)
            .await
            .expect("applies");
        assert_eq!(v.attempts, 1);
        assert!(v.generation.is_some());
        assert_eq!(b.kernel().checks, 1);
        assert_eq!(v.baseline.chains["forward"].rules.len(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_tamper_racing_the_apply_never_becomes_the_baseline() {
        let b = FakeBackend::new();
        let mut w = FakeWatch::new(&b);
        let mut once = true;
        b.set_after_apply(Box::new(move |k| {
            if std::mem::take(&mut once) {
                k.tamper(insert_accept);
            }
        }));
        let v = load_verified(&b, &mut w, TEXT, None, false)
            .await
            .expect("applies on the second attempt");
        assert_eq!(v.attempts, 2);
        assert_eq!(
            v.baseline.chains["forward"].rules.len(),
            1,
            "no tamper rule"
        );
        assert!(!v.foreign.is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_writer_that_never_stops_fails_the_apply() {
        let b = FakeBackend::new();
        let mut w = FakeWatch::new(&b);
        b.set_after_apply(Box::new(|k| k.tamper(insert_accept)));
        let e = load_verified(&b, &mut w, TEXT, None, false).await;
        assert!(matches!(
            e,
            Err(ApplyError::Raced {
                attempts: MAX_ATTEMPTS
            })
        ));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn restore_must_equal_the_expected_listing() {
        let b = FakeBackend::new();
        let mut w = FakeWatch::new(&b);
        let v = load_verified(&b, &mut w, TEXT, None, false)
            .await
            .expect("applies");
        // Same text, same listing: accepted.
        assert!(load_verified(&b, &mut w, TEXT, Some(&v.baseline), false)
            .await
            .is_ok());
        // An expected listing the text cannot produce, and nobody else writing: no convergence.
        let mut wrong = v.baseline.clone();
        wrong.chains.clear();
        let e = load_verified(&b, &mut w, TEXT, Some(&wrong), false).await;
        assert!(matches!(e, Err(ApplyError::Mismatch { .. })));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_rejected_ruleset_changes_nothing() {
        let b = FakeBackend::new();
        let mut w = FakeWatch::new(&b);
        b.kernel().fail_next = Some("Error: syntax error".into());
        let e = load_verified(&b, &mut w, TEXT, None, true).await;
        assert!(matches!(e, Err(ApplyError::Check(_))));
        assert!(b.kernel().applied.is_empty());
    }
}
