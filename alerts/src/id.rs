//! Event ids and the little randomness the pipeline needs (ids, backoff jitter). Ids have the
//! UUID version 7 layout: 48 bits of Unix milliseconds, then a per-process counter and random
//! bits, so they sort by time, never repeat within a process (the counter), and do not collide
//! across restarts or gateways (62 random bits from the OS at start). No `uuid` crate: the layout
//! is twenty lines and we need no parsing.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// An alert's unique id, e.g. `0196a3f2-5c1e-7a31-9c2d-3f4b5a6c7d8e`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A fresh id.
    pub fn generate() -> EventId {
        let state = process_state();
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
            & 0xffff_ffff_ffff;
        let n = state.counter.fetch_add(1, Ordering::Relaxed);
        // rand_a (12 bits) and rand_b (62 bits) hold the counter mixed with the process's random
        // seed: distinct for every call in this process, unpredictable across processes.
        let mixed = splitmix64(state.seed ^ n);
        let rand_a = (n & 0xfff) as u16;
        let rand_b = mixed & 0x3fff_ffff_ffff_ffff;
        EventId(format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            millis >> 16,
            millis & 0xffff,
            0x7000 | rand_a,
            0x8000 | ((rand_b >> 48) as u16 & 0x3fff),
            rand_b & 0xffff_ffff_ffff
        ))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for EventId {
    fn from(s: String) -> EventId {
        EventId(s)
    }
}

struct ProcessState {
    seed: u64,
    counter: AtomicU64,
}

fn process_state() -> &'static ProcessState {
    static STATE: OnceLock<ProcessState> = OnceLock::new();
    STATE.get_or_init(|| ProcessState {
        seed: os_random_u64(),
        counter: AtomicU64::new(0),
    })
}

/// 64 random bits from the OS; if the OS refuses (no getrandom, seccomp), time and pid, which
/// still makes collisions between two processes unlikely enough for deduplication ids.
pub(crate) fn os_random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        splitmix64(nanos ^ (u64::from(std::process::id()) << 32))
    })
}

/// SplitMix64: a fast, well-mixed step function; not for secrets, only ids and jitter.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A small per-thread generator for jitter.
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new() -> Jitter {
        Jitter(os_random_u64())
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(1);
        (splitmix64(self.0) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_uuid_v7_shaped() {
        let ids: Vec<EventId> = (0..10_000).map(|_| EventId::generate()).collect();
        let set: HashSet<&str> = ids.iter().map(|i| i.as_str()).collect();
        assert_eq!(set.len(), ids.len());
        for id in &ids[..10] {
            let s = id.as_str();
            assert_eq!(s.len(), 36, "{s}");
            assert_eq!(&s[14..15], "7", "version nibble: {s}");
            assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"), "variant: {s}");
        }
    }

    #[test]
    fn jitter_stays_in_range() {
        let mut j = Jitter::new();
        for _ in 0..1000 {
            let x = j.next_f64();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
