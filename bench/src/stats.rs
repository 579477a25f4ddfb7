//! Repeated measurements reduced to what the report shows: median with min and max (and a
//! nearest-rank percentile for latency tails). Every figure in docs/benchmarks.md is one
//! [`Summary`] over several runs; on a shared, noisy machine the spread matters as much as the
//! median, so it is never dropped.

use std::fmt;

/// Median, minimum and maximum of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Median (mean of the two middle samples for an even count).
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Number of samples.
    pub n: usize,
}

impl Summary {
    /// Summarises `samples`, ignoring NaNs; `None` when nothing is left.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let mut s: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
        if s.is_empty() {
            return None;
        }
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Some(Summary {
            median,
            min: s[0],
            max: s[n - 1],
            n,
        })
    }

    /// The same summary with every value multiplied by `k` (unit changes).
    pub fn scale(self, k: f64) -> Summary {
        Summary {
            median: self.median * k,
            min: self.min * k,
            max: self.max * k,
            n: self.n,
        }
    }

    /// `median (min–max)` with `decimals` digits after the point.
    pub fn fmt_with(&self, decimals: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }

    /// Like [`Summary::fmt_with`], choosing the number of decimals from the magnitude so that
    /// about three significant digits show.
    pub fn fmt_auto(&self) -> String {
        self.fmt_with(auto_decimals(self.median))
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fmt_auto())
    }
}

/// Decimals that show about three significant digits of `x`.
pub fn auto_decimals(x: f64) -> usize {
    let a = x.abs();
    if a >= 100.0 || a == 0.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    }
}

/// `n` with thousands separators: `100000` -> `100,000`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Nearest-rank percentile `p` (0–100) of `samples`; `None` if there are none.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    let mut s: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * s.len() as f64).ceil() as usize;
    Some(s[rank.clamp(1, s.len()) - 1])
}

/// Element-wise ratios `num[i] / den[i]` of paired samples (same round), skipping pairs with a
/// zero or missing denominator. Pairing by round keeps slow phases of a noisy machine from
/// counting twice: both sides of a ratio saw the same background load.
pub fn paired_ratios(num: &[f64], den: &[f64]) -> Vec<f64> {
    num.iter()
        .zip(den)
        .filter(|(_, d)| **d > 0.0)
        .map(|(n, d)| n / d)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).expect("samples");
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = Summary::of(&[4.0, 1.0, 2.0, 3.0]).expect("samples");
        assert_eq!(s.median, 2.5);
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn ratios_pair_by_round() {
        assert_eq!(
            paired_ratios(&[2.0, 3.0, 1.0], &[1.0, 0.0, 2.0]),
            vec![2.0, 0.5]
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(10), "10");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn formatting() {
        let s = Summary::of(&[12.345, 10.0, 15.0]).expect("samples");
        assert_eq!(s.fmt_with(1), "12.3 (10.0–15.0)");
        assert_eq!(s.to_string(), "12.3 (10.0–15.0)");
    }
}
