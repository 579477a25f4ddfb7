//! Timing rules of the drift loop, pure and tested with plain instants:
//! [`Limiter`] is a leading-edge debounce with a maximum wait, so the first change is compared
//! at once and a continuous tamper loop is still compared (and repaired) every `min_gap`;
//! [`Burst`] groups repairs into one tamper burst (one event at its start, one at its end);
//! [`RestoreCap`] caps restores per minute so a restore loop cannot run forever unnoticed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Leading edge, then at most one run per `min_gap`.
#[derive(Debug, Clone)]
pub struct Limiter {
    min_gap: Duration,
    last: Option<Instant>,
}

impl Limiter {
    pub fn new(min_gap: Duration) -> Limiter {
        Limiter {
            min_gap,
            last: None,
        }
    }

    /// When a run triggered `now` should happen: now if the last run is `min_gap` old, else
    /// `min_gap` after the last run (never later, however many triggers arrive).
    pub fn due(&self, now: Instant) -> Instant {
        match self.last {
            Some(last) if now < last + self.min_gap => last + self.min_gap,
            _ => now,
        }
    }

    /// Records a run.
    pub fn ran(&mut self, now: Instant) {
        self.last = Some(now);
    }
}

/// A tamper burst: drifts closer together than `quiet`.
#[derive(Debug, Clone)]
pub struct Burst {
    quiet: Duration,
    started: Option<Instant>,
    last: Option<Instant>,
    pub restores: u64,
}

impl Burst {
    pub fn new(quiet: Duration) -> Burst {
        Burst {
            quiet,
            started: None,
            last: None,
            restores: 0,
        }
    }

    /// A drift was seen `now`; true when it starts a new burst.
    pub fn drift(&mut self, now: Instant) -> bool {
        self.last = Some(now);
        if self.started.is_none() {
            self.started = Some(now);
            self.restores = 0;
            return true;
        }
        false
    }

    pub fn active(&self) -> bool {
        self.started.is_some()
    }

    /// When the burst ends if nothing else happens.
    pub fn ends_at(&self) -> Option<Instant> {
        self.last
            .filter(|_| self.started.is_some())
            .map(|l| l + self.quiet)
    }

    /// Ends the burst if it has been quiet long enough; returns its length.
    pub fn end_if_quiet(&mut self, now: Instant) -> Option<Duration> {
        match (self.started, self.ends_at()) {
            (Some(start), Some(end)) if now >= end => {
                self.started = None;
                self.last = None;
                Some(self.last_len(start, end))
            }
            _ => None,
        }
    }

    fn last_len(&self, start: Instant, end: Instant) -> Duration {
        end.saturating_duration_since(start)
            .saturating_sub(self.quiet)
    }
}

/// At most `per_minute` restores in any 60 s.
#[derive(Debug, Clone)]
pub struct RestoreCap {
    per_minute: u32,
    times: VecDeque<Instant>,
    /// The cap was hit and reported; cleared when restores are allowed again.
    pub reported: bool,
}

impl RestoreCap {
    pub fn new(per_minute: u32) -> RestoreCap {
        RestoreCap {
            per_minute: per_minute.max(1),
            times: VecDeque::new(),
            reported: false,
        }
    }

    fn prune(&mut self, now: Instant) {
        while self
            .times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(60))
        {
            self.times.pop_front();
        }
    }

    /// Whether a restore may run now (and counts it if so).
    pub fn allow(&mut self, now: Instant) -> bool {
        self.prune(now);
        if self.times.len() as u32 >= self.per_minute {
            return false;
        }
        self.times.push_back(now);
        self.reported = false;
        true
    }

    /// Restores in the last minute.
    pub fn recent(&mut self, now: Instant) -> u32 {
        self.prune(now);
        self.times.len() as u32
    }

    /// When the next restore will be allowed.
    pub fn next_allowed(&self) -> Option<Instant> {
        self.times.front().map(|t| *t + Duration::from_secs(60))
    }

    pub fn cap(&self) -> u32 {
        self.per_minute
    }

    /// Blocks restores for the rest of the minute (non-convergence).
    pub fn exhaust(&mut self, now: Instant) {
        self.prune(now);
        while (self.times.len() as u32) < self.per_minute {
            self.times.push_back(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn limiter_fires_on_the_leading_edge_and_at_most_every_gap() {
        let t0 = Instant::now();
        let mut l = Limiter::new(10 * MS);
        assert_eq!(l.due(t0), t0, "first trigger: at once");
        l.ran(t0);
        assert_eq!(l.due(t0 + 3 * MS), t0 + 10 * MS, "coalesced, bounded wait");
        assert_eq!(
            l.due(t0 + 9 * MS),
            t0 + 10 * MS,
            "still bounded: never starves"
        );
        assert_eq!(l.due(t0 + 25 * MS), t0 + 25 * MS);
    }

    #[test]
    fn a_continuous_loop_is_one_burst() {
        let t0 = Instant::now();
        let mut b = Burst::new(1000 * MS);
        assert!(b.drift(t0));
        for i in 1..500 {
            assert!(!b.drift(t0 + i * 10 * MS));
            assert!(b.end_if_quiet(t0 + i * 10 * MS).is_none());
        }
        let end = b.ends_at().expect("active");
        assert_eq!(end, t0 + 4990 * MS + 1000 * MS);
        let len = b.end_if_quiet(end).expect("over");
        assert_eq!(len, 4990 * MS);
        assert!(!b.active());
        assert!(b.drift(end + MS), "a new burst");
    }

    #[test]
    fn restores_are_capped_per_minute() {
        let t0 = Instant::now();
        let mut c = RestoreCap::new(3);
        assert!(c.allow(t0));
        assert!(c.allow(t0 + MS));
        assert!(c.allow(t0 + 2 * MS));
        assert!(!c.allow(t0 + 3 * MS));
        assert_eq!(c.recent(t0 + 3 * MS), 3);
        assert!(c.allow(t0 + Duration::from_secs(60)));
        c.exhaust(t0 + Duration::from_secs(61));
        assert!(!c.allow(t0 + Duration::from_secs(62)));
    }
}
