//! Change control: a saved policy file takes effect only when someone applies it.
//!
//! Like firewalld's permanent and runtime configuration (`--reload`) and Shorewall's `try`, a
//! settled write of zones.toml is *staged*: the running ruleset stays, and `status`, the
//! heartbeat and the metrics say that the file on disk differs from what is applied, and since
//! when, until `zonegate-agent apply` or `systemctl reload zonegate-agent` applies it. Fleets fed
//! by configuration management may opt in to `auto_apply`; such an apply always runs with a
//! confirm window and is rolled back unless confirmed. Pure decisions; the daemon does the I/O.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a settled write of the policy file leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnWrite {
    /// Keep the running ruleset; report the change as staged.
    Stage,
    /// Apply now, rolled back unless confirmed within the window.
    ApplyWithConfirm(Duration),
}

/// The decision for a settled write.
pub fn on_settled_write(auto_apply: bool, confirm: Duration) -> OnWrite {
    if auto_apply {
        OnWrite::ApplyWithConfirm(confirm)
    } else {
        OnWrite::Stage
    }
}

/// A policy file that differs from the applied policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staged {
    /// SHA-256 of the file's bytes now (empty when the file cannot be read).
    pub file_sha256: String,
    /// When the file was first seen to differ (RFC 3339).
    pub since: String,
    /// The same instant in seconds since the Unix epoch (for metrics).
    pub since_unix: i64,
}

/// The staged change after looking at the file again: None when the file is what is applied.
/// A change that stays staged keeps the time it was first seen, however often it is edited, so
/// a forgotten change shows its real age.
pub fn staged_after(
    file_sha256: Option<&str>,
    applied_sha256: Option<&str>,
    previous: Option<Staged>,
    now: jiff::Timestamp,
) -> Option<Staged> {
    if file_sha256 == applied_sha256 {
        return None;
    }
    let (since, since_unix) = match previous {
        Some(p) => (p.since, p.since_unix),
        None => (now.to_string(), now.as_second()),
    };
    Some(Staged {
        file_sha256: file_sha256.unwrap_or_default().to_string(),
        since,
        since_unix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).expect("timestamp")
    }

    #[test]
    fn a_write_is_staged_unless_auto_apply_and_then_always_with_a_window() {
        let w = Duration::from_secs(120);
        assert_eq!(on_settled_write(false, w), OnWrite::Stage);
        assert_eq!(on_settled_write(true, w), OnWrite::ApplyWithConfirm(w));
    }

    #[test]
    fn a_staged_change_keeps_its_first_time_and_clears_when_applied() {
        let s = staged_after(Some("b"), Some("a"), None, at(100)).expect("staged");
        assert_eq!((s.file_sha256.as_str(), s.since_unix), ("b", 100));
        let s = staged_after(Some("c"), Some("a"), Some(s), at(200)).expect("still staged");
        assert_eq!((s.file_sha256.as_str(), s.since_unix), ("c", 100));
        assert_eq!(staged_after(Some("a"), Some("a"), Some(s), at(300)), None);
    }

    #[test]
    fn a_removed_file_or_nothing_applied_counts_as_staged() {
        assert!(staged_after(None, Some("a"), None, at(1)).is_some());
        assert!(staged_after(Some("a"), None, None, at(1)).is_some());
        assert_eq!(
            staged_after(None, None, None, at(1)),
            None,
            "no file, nothing applied"
        );
    }
}
