//! Connection-tracking marks. Each flow's mark is a 32-bit hash of its id, never its position,
//! so adding or removing one flow never renumbers another. 0 means "not ours"; 1..=255 are
//! reserved for intra-zone traffic. Collisions are rare at 32 bits and are resolved
//! deterministically: flows in id order keep their first free hash (re-hashed with a counter).

use crate::model::Flow;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// Marks below this are reserved (0: unmarked, 1..=255: intra-zone).
pub const FIRST_FLOW_MARK: u32 = 0x100;

fn hash32(domain: &str, name: &str, attempt: u32) -> u32 {
    let mut h = Sha256::new();
    h.update(domain.as_bytes());
    h.update([0]);
    h.update(name.as_bytes());
    h.update(attempt.to_be_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The mark a flow id gets when nothing collides with it.
pub fn flow_mark(id: &str, attempt: u32) -> u32 {
    hash32("zonegate-flow", id, attempt)
}

/// The reserved mark for traffic between two interfaces of one zone. Two zones sharing one is
/// harmless: the interfaces in the live-path key already tell the zones apart.
pub fn intra_mark(zone: &str) -> u32 {
    1 + hash32("zonegate-intra", zone, 0) % 255
}

/// Assigns marks to flows (already sorted by id); `collided` is told about re-hashed flows.
pub fn assign(flows: &mut [Flow], mut collided: impl FnMut(&Flow, u32)) {
    let mut used = BTreeSet::new();
    for f in flows.iter_mut() {
        let mut attempt = 0;
        let mut mark = flow_mark(&f.id, attempt);
        while mark < FIRST_FLOW_MARK || used.contains(&mark) {
            attempt += 1;
            mark = flow_mark(&f.id, attempt);
        }
        used.insert(mark);
        f.mark = mark;
        if attempt > 0 && flow_mark(&f.id, 0) >= FIRST_FLOW_MARK {
            collided(f, attempt + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_collision_is_resolved_in_id_order() {
        // Found by a birthday search over "F-NNNNNN" ids.
        assert_eq!(flow_mark("F-026525", 0), flow_mark("F-078216", 0));
        assert_eq!(flow_mark("F-026525", 0), 0x0d04_4a87);
    }

    #[test]
    fn marks_depend_on_the_id_only() {
        assert_eq!(flow_mark("F-001", 0), flow_mark("F-001", 0));
        assert_ne!(flow_mark("F-001", 0), flow_mark("F-002", 0));
        for z in ["mynumber", "lgwan", "internet"] {
            let m = intra_mark(z);
            assert!((1..FIRST_FLOW_MARK).contains(&m));
        }
    }
}
