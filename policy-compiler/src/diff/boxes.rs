//! N-dimensional boxes of inclusive integer intervals, and their difference.
//!
//! A box is one interval per dimension (`[(lo, hi); N]`, every `lo <= hi`); a point is in the
//! box when each coordinate lies in its interval. `difference(a, b)` returns disjoint boxes that
//! cover exactly the points of `a` outside `b`: at most two pieces per dimension, cut off `a`
//! one dimension at a time (below `b`, above `b`), the rest narrowed to `b` before the next
//! dimension is cut.

/// One box: an inclusive interval per dimension.
pub type Boxed = Vec<(u128, u128)>;

/// Do two boxes (of the same dimensions) share a point?
pub fn overlaps(a: &[(u128, u128)], b: &[(u128, u128)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 <= y.1 && y.0 <= x.1)
}

/// `a ∩ b`, if they share a point.
pub fn intersection(a: &[(u128, u128)], b: &[(u128, u128)]) -> Option<Boxed> {
    overlaps(a, b).then(|| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x.0.max(y.0), x.1.min(y.1)))
            .collect()
    })
}

/// `a ∖ b` as disjoint boxes (empty when `b` covers `a`; `[a]` when they do not meet).
pub fn difference(a: &[(u128, u128)], b: &[(u128, u128)]) -> Vec<Boxed> {
    if !overlaps(a, b) {
        return vec![a.to_vec()];
    }
    let mut out = Vec::new();
    let mut rest = a.to_vec();
    for (i, &(blo, bhi)) in b.iter().enumerate() {
        let (lo, hi) = rest[i];
        if lo < blo {
            let mut below = rest.clone();
            below[i] = (lo, blo - 1);
            out.push(below);
        }
        if hi > bhi {
            let mut above = rest.clone();
            above[i] = (bhi + 1, hi);
            out.push(above);
        }
        rest[i] = (lo.max(blo), hi.min(bhi));
    }
    out
}

/// `a ∖ (b₁ ∪ b₂ ∪ …)` as disjoint boxes.
pub fn difference_all<'a>(
    a: &[(u128, u128)],
    bs: impl IntoIterator<Item = &'a Boxed>,
) -> Vec<Boxed> {
    let mut pieces = vec![a.to_vec()];
    for b in bs {
        if pieces.is_empty() {
            break;
        }
        if pieces.iter().any(|p| overlaps(p, b)) {
            pieces = pieces.iter().flat_map(|p| difference(p, b)).collect();
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn contains(b: &[(u128, u128)], p: &[u128]) -> bool {
        b.iter().zip(p).all(|(&(lo, hi), &v)| lo <= v && v <= hi)
    }

    /// Every point of a small grid (coordinates 0..=7) in `dims` dimensions.
    fn grid(dims: usize) -> Vec<Vec<u128>> {
        let mut pts = vec![Vec::new()];
        for _ in 0..dims {
            pts = pts
                .into_iter()
                .flat_map(|p| {
                    (0..8u128).map(move |v| {
                        let mut q = p.clone();
                        q.push(v);
                        q
                    })
                })
                .collect();
        }
        pts
    }

    fn interval() -> impl Strategy<Value = (u128, u128)> {
        (0u128..8, 0u128..8).prop_map(|(x, y)| (x.min(y), x.max(y)))
    }

    fn two_boxes() -> impl Strategy<Value = (Boxed, Boxed)> {
        (1usize..=4).prop_flat_map(|n| {
            (
                proptest::collection::vec(interval(), n),
                proptest::collection::vec(interval(), n),
            )
        })
    }

    proptest! {
        /// Every point of A is in exactly one of (A ∖ B) or A ∩ B; A ∖ B never meets B.
        #[test]
        fn difference_partitions_a((a, b) in two_boxes()) {
            let pieces = difference(&a, &b);
            for piece in &pieces {
                prop_assert!(!overlaps(piece, &b), "{piece:?} meets {b:?}");
                prop_assert!(piece.iter().all(|(lo, hi)| lo <= hi));
            }
            for p in grid(a.len()) {
                let in_pieces = pieces.iter().filter(|x| contains(x, &p)).count();
                let in_both = usize::from(contains(&a, &p) && contains(&b, &p));
                let expected = usize::from(contains(&a, &p));
                prop_assert_eq!(in_pieces + in_both, expected, "point {:?}", p);
            }
        }

        #[test]
        fn intersection_is_the_common_points((a, b) in two_boxes()) {
            let i = intersection(&a, &b);
            for p in grid(a.len()) {
                let both = contains(&a, &p) && contains(&b, &p);
                prop_assert_eq!(i.as_ref().is_some_and(|i| contains(i, &p)), both);
            }
        }
    }

    #[test]
    fn extremes_do_not_overflow() {
        let a = vec![(0, u128::MAX)];
        let b = vec![(0, 0)];
        assert_eq!(difference(&a, &b), vec![vec![(1, u128::MAX)]]);
        let b = vec![(u128::MAX, u128::MAX)];
        assert_eq!(difference(&a, &b), vec![vec![(0, u128::MAX - 1)]]);
        assert!(difference(&a, &a).is_empty());
    }

    #[test]
    fn subtracting_many_leaves_the_uncovered_part() {
        let a = vec![(0, 9), (0, 9)];
        let bs = vec![vec![(0, 4), (0, 9)], vec![(5, 9), (0, 4)]];
        assert_eq!(difference_all(&a, &bs), vec![vec![(5, 9), (5, 9)]]);
    }
}
