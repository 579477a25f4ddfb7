//! What `zonegate-agent status` shows: the running agent's view of itself, served over the
//! control socket as JSON and rendered here as text.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub gateway: String,
    pub mode: String,
    /// "policy" or "lockdown", None before anything was loaded.
    pub kind: Option<String>,
    pub revision: Option<String>,
    /// The policy's name (`[policy] name`), None before a policy was loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    /// SHA-256 of the canonical policy of the loaded ruleset (`zonegate matrix` prints it).
    #[serde(default)]
    pub policy_sha256: Option<String>,
    pub ruleset_sha256: Option<String>,
    /// The key that approved the loaded policy (`SHA256:... comment`), when signatures are
    /// checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// A clean read-back exists for the loaded ruleset.
    pub baseline_verified: bool,
    pub last_apply: Option<String>,
    pub applies: u64,
    pub drift_count: u64,
    pub last_drift: Option<String>,
    pub last_drift_at: Option<String>,
    pub restores: u64,
    /// Tamper bursts repaired (the table equals the baseline again).
    #[serde(default)]
    pub repairs: u64,
    /// Applies and restores that failed.
    #[serde(default)]
    pub apply_failures: u64,
    /// Duration of the last successful apply, and the sum over all applies, in ms.
    #[serde(default)]
    pub last_apply_ms: u64,
    #[serde(default)]
    pub apply_ms_total: u64,
    /// Denied-flow windows closed with the ruleset's exact counters.
    #[serde(default)]
    pub denied_windows: u64,
    /// The NFLOG listener and the figures of the last denied-flow windows; None when the
    /// denied-flow monitor does not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied: Option<DeniedStatus>,
    pub conntrack_removed: u64,
    pub bypass_findings: Vec<String>,
    pub uptime_s: u64,
    /// Seconds left before an unconfirmed apply is rolled back.
    pub awaiting_confirmation_s: Option<u64>,
    /// The policy file differs from the applied policy: a saved change not yet applied.
    #[serde(default)]
    pub staged_change: Option<crate::change_control::Staged>,
}

/// The denied-flow monitor in the status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeniedStatus {
    pub listener: zonegate_alerts::ListenerState,
    /// The last closed windows, oldest first.
    pub windows: Vec<zonegate_alerts::WindowFigures>,
}

impl DeniedStatus {
    fn render(&self, o: &mut String) {
        let l = &self.listener;
        o.push_str(&format!(
            "NFLOG listener: {} on group {} since {}{}\n",
            l.state,
            l.group,
            l.since,
            l.error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ));
        if self.windows.is_empty() {
            o.push_str("Denied-flow windows: none closed yet\n");
            return;
        }
        o.push_str("Denied-flow windows (closed at: denied packets, keys, untracked, scans, samples, alerts):\n");
        let n = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        for w in &self.windows {
            o.push_str(&format!(
                "  {} ({} s): {} denied, {} keys, {} untracked, {} scan(s){}, {} samples, {} alerts\n",
                w.closed_at,
                w.window_secs,
                n(w.denied_packets),
                n(w.denied_keys),
                n(w.untracked_packets),
                w.scans,
                w.largest_scan
                    .map(|(d, p)| format!(" (largest: {d} destinations, {p} ports)"))
                    .unwrap_or_default(),
                w.samples,
                w.alerts
            ));
        }
        if let Some(last) = self.windows.last() {
            for (t, keys, size) in &last.tables {
                o.push_str(&format!("  per-key table {t}: {keys} of {size} keys\n"));
            }
        }
    }
}

impl Status {
    pub fn render(&self) -> String {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let mut o = format!(
            "zonegate-agent (pid {}) on gateway {}, mode {}, up {} s\n",
            self.pid, self.gateway, self.mode, self.uptime_s
        );
        o.push_str(&format!(
            "Ruleset: {} revision {} sha256 {}{}\n",
            opt(&self.kind),
            opt(&self.revision),
            opt(&self.ruleset_sha256),
            if self.baseline_verified {
                ""
            } else {
                " (not yet verified)"
            }
        ));
        if let Some(signer) = &self.signer {
            o.push_str(&format!("Approved by: {signer} (signature verified)\n"));
        }
        o.push_str(&format!(
            "Policy: canonical sha256 {} (compare both hashes with `zonegate matrix` of the approved zones.toml)\n",
            opt(&self.policy_sha256)
        ));
        o.push_str(&format!(
            "Last apply: {} ({} in total, {} failed; last took {} ms)\n",
            opt(&self.last_apply),
            self.applies,
            self.apply_failures,
            self.last_apply_ms
        ));
        o.push_str(&format!(
            "Drift: {} burst(s), {} repaired, {} restore(s); last: {} at {}\n",
            self.drift_count,
            self.repairs,
            self.restores,
            opt(&self.last_drift),
            opt(&self.last_drift_at)
        ));
        o.push_str(&format!(
            "Conntrack entries removed: {}\n",
            self.conntrack_removed
        ));
        if self.bypass_findings.is_empty() {
            o.push_str("Bypass findings: none\n");
        } else {
            o.push_str("Bypass findings:\n");
            for f in &self.bypass_findings {
                o.push_str(&format!("  {f}\n"));
            }
        }
        if let Some(d) = &self.denied {
            d.render(&mut o);
        }
        if let Some(s) = &self.staged_change {
            o.push_str(&format!(
                "Staged change: the policy file differs from the applied policy since {} (file sha256 {}); see it with `zonegate-agent plan`, apply it with `zonegate-agent apply`\n",
                s.since,
                if s.file_sha256.is_empty() { "-: unreadable" } else { &s.file_sha256 }
            ));
        }
        if let Some(s) = self.awaiting_confirmation_s {
            o.push_str(&format!(
                "Awaiting confirmation: rollback in {s} s unless `zonegate-agent apply --confirm-ok`\n"
            ));
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signer_shows_only_when_signatures_are_checked() {
        let mut s = Status::default();
        assert!(!s.render().contains("Approved by"));
        let json = serde_json::to_value(&s).expect("json");
        assert!(json.get("signer").is_none(), "unchanged without keys");
        s.signer = Some("SHA256:abc ciso@city.example".into());
        assert!(s
            .render()
            .contains("Approved by: SHA256:abc ciso@city.example (signature verified)"));
    }

    #[test]
    fn the_denied_monitor_shows_its_listener_and_last_windows() {
        let mut s = Status::default();
        assert!(
            !s.render().contains("NFLOG listener"),
            "no monitor, no lines"
        );
        s.denied = Some(DeniedStatus {
            listener: zonegate_alerts::ListenerState {
                state: "refused".into(),
                group: 100,
                error: Some("held by ulogd".into()),
                since: "2026-12-05T10:00:00Z".into(),
            },
            windows: vec![zonegate_alerts::WindowFigures {
                closed_at: "2026-12-05T19:00:00+09:00".into(),
                window_secs: 60,
                denied_packets: Some(2000),
                denied_keys: Some(3),
                untracked_packets: Some(0),
                scans: 1,
                largest_scan: Some((1, 40)),
                samples: 33,
                alerts: 7,
                tables: vec![("denykeys4s".into(), 3, 65536)],
            }],
        });
        let text = s.render();
        assert!(
            text.contains(
                "NFLOG listener: refused on group 100 since 2026-12-05T10:00:00Z (held by ulogd)"
            ),
            "{text}"
        );
        assert!(text.contains("2000 denied, 3 keys, 0 untracked, 1 scan(s) (largest: 1 destinations, 40 ports), 33 samples, 7 alerts"), "{text}");
        assert!(
            text.contains("per-key table denykeys4s: 3 of 65536 keys"),
            "{text}"
        );
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(
            json["denied"]["windows"][0]["largest_scan"],
            serde_json::json!([1, 40])
        );
    }
}
