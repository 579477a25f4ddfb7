//! Time for expiry. `expires` dates are inclusive in the policy's time zone, so a flow dated
//! 2027-03-31 goes at 2027-04-01 00:00 there. The agent never trusts a clock earlier than the
//! last-known-good's compile time (a bad RTC at boot must not bring expired flows back): the
//! effective time is the later of the two.

use jiff::civil::{Date as CivilDate, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use thiserror::Error;
use zonegate_policy::Date;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ClockError {
    /// The policy names a time zone this machine does not know.
    #[error("unknown time zone {zone:?}: {message}")]
    UnknownZone { zone: String, message: String },
    /// A date that cannot be represented.
    #[error("bad date {0}")]
    BadDate(String),
}

/// The wall clock with a floor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    /// Never report a time earlier than this.
    pub floor: Option<Timestamp>,
    /// Fixed time for tests and `--now`.
    pub fixed: Option<Timestamp>,
}

/// The effective time and whether the real clock was behind the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub at: Timestamp,
    pub clock_behind_floor: bool,
}

impl Clock {
    pub fn now(&self) -> Now {
        let real = self.fixed.unwrap_or_else(Timestamp::now);
        match self.floor {
            Some(floor) if real < floor => Now {
                at: floor,
                clock_behind_floor: true,
            },
            _ => Now {
                at: real,
                clock_behind_floor: false,
            },
        }
    }

    /// Raises the floor (never lowers it).
    pub fn raise_floor(&mut self, t: Timestamp) {
        if self.floor.is_none_or(|f| t > f) {
            self.floor = Some(t);
        }
    }
}

pub fn zone(name: &str) -> Result<TimeZone, ClockError> {
    TimeZone::get(name).map_err(|e| ClockError::UnknownZone {
        zone: name.to_string(),
        message: e.to_string(),
    })
}

/// The calendar date at `at` in `tz`.
pub fn today(at: Timestamp, tz: &str) -> Result<Date, ClockError> {
    let d = at.to_zoned(zone(tz)?).date();
    let text = format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
    Date::parse(&text).ok_or(ClockError::BadDate(text))
}

/// When a flow with `expires = date` stops: the next midnight after `date` in `tz`.
pub fn expiry_boundary(date: &str, tz: &str) -> Result<Timestamp, ClockError> {
    let d = Date::parse(date).ok_or_else(|| ClockError::BadDate(date.to_string()))?;
    let civil = CivilDate::new(
        i16::try_from(d.year).unwrap_or(i16::MAX),
        d.month as i8,
        d.day as i8,
    )
    .and_then(|c| c.tomorrow())
    .map_err(|_| ClockError::BadDate(date.to_string()))?;
    civil
        .to_datetime(Time::midnight())
        .to_zoned(zone(tz)?)
        .map(|z| z.timestamp())
        .map_err(|_| ClockError::BadDate(date.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_is_in_the_policy_zone() {
        // 2027-03-31T16:00Z is already April 1st 01:00 in Tokyo.
        let t: Timestamp = "2027-03-31T16:00:00Z".parse().expect("ts");
        assert_eq!(
            today(t, "Asia/Tokyo").expect("tz").to_string(),
            "2027-04-01"
        );
        assert_eq!(today(t, "UTC").expect("tz").to_string(), "2027-03-31");
    }

    #[test]
    fn boundary_is_the_midnight_after_the_inclusive_day() {
        let b = expiry_boundary("2027-03-31", "Asia/Tokyo").expect("boundary");
        assert_eq!(b.to_string(), "2027-03-31T15:00:00Z");
    }

    #[test]
    fn floor_wins_over_an_early_clock() {
        let floor: Timestamp = "2027-01-01T00:00:00Z".parse().expect("ts");
        let mut c = Clock {
            floor: Some(floor),
            fixed: Some("2001-01-01T00:00:00Z".parse().expect("ts")),
        };
        let n = c.now();
        assert_eq!(n.at, floor);
        assert!(n.clock_behind_floor);
        c.raise_floor("2000-01-01T00:00:00Z".parse().expect("ts"));
        assert_eq!(c.floor, Some(floor), "the floor never goes down");
    }

    #[test]
    fn unknown_zone_is_an_error() {
        assert!(zone("Mars/Olympus").is_err());
    }
}
