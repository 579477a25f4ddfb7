//! The message formats a syslog sink can write besides RFC 5424 (which stays in
//! [`super::syslog::Format`]): RFC 3164 (BSD syslog, for older collectors), CEF (ArcSight,
//! Microsoft Sentinel) and LEEF 2.0 (IBM QRadar). All three travel with an RFC 3164 header
//! (`<PRI>Mmm dd hh:mm:ss HOST ...`), which is what those collectors expect on their syslog
//! listeners. Each is built from the alert JSON the queue holds, so every sink formats the same
//! bytes; a field an alert does not have is left out, never sent empty. docs/alerts.md lists
//! the keys each format carries.
//!
//! Formats (public specifications):
//! - RFC 3164 section 4.1: `<PRI>TIMESTAMP HOSTNAME TAG[PID]: MSG`, TIMESTAMP `Mmm dd hh:mm:ss`
//!   (day space-padded) in the sender's local time; here the alert's own offset.
//! - CEF (ArcSight "Implementing ArcSight CEF", revision 25): `CEF:0|Vendor|Product|Version|
//!   Signature ID|Name|Severity|Extension`; `\` and `|` escaped in the header, `\`, `=` and
//!   line breaks (`\n`, `\r`) in extension values; severity 0..10.
//! - LEEF 2.0 (IBM "Log Event Extended Format" guide): `LEEF:2.0|Vendor|Product|Version|
//!   EventID|DelimiterCharacter|` then `key=value` attributes, here separated by a tab (`x09`);
//!   values cannot escape the delimiter, so tabs and line breaks in values become spaces.

use serde_json::Value;

/// Vendor and product in CEF and LEEF headers.
pub const VENDOR: &str = "zonegate";
pub const PRODUCT: &str = "zonegate-agent";

/// The fields every format takes from the alert JSON.
struct Fields<'a> {
    v: &'a Value,
}

impl<'a> Fields<'a> {
    fn s(&self, key: &str) -> Option<&'a str> {
        self.v
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    fn detail(&self, key: &str) -> Option<String> {
        match self.v.get("details")?.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn policy(&self, key: &str) -> Option<&'a str> {
        self.v.get("policy")?.get(key)?.as_str()
    }

    fn severity(&self) -> &'a str {
        self.s("severity").unwrap_or("info")
    }

    /// The writer of a drift (`details.writer.comm` and `.pid`).
    fn writer(&self) -> Option<(String, String)> {
        let w = self.v.get("details")?.get("writer")?;
        Some((
            w.get("comm")?.as_str()?.to_string(),
            w.get("pid")?.as_u64()?.to_string(),
        ))
    }
}

/// CEF severity (0..10) of an alert severity: Low 0-3, Medium 4-6, High 7-8, Very-High 9-10.
pub fn cef_severity(severity: &str) -> u8 {
    match severity {
        "critical" => 10,
        "high" => 8,
        "medium" => 5,
        "low" => 3,
        _ => 1,
    }
}

/// LEEF `sev` (1..10); the same scale as CEF.
pub fn leef_severity(severity: &str) -> u8 {
    cef_severity(severity).max(1)
}

/// The RFC 3164 TIMESTAMP of an RFC 3339 time, in that time's own offset: `Apr  1 10:00:00`.
/// An unreadable time gives the current UTC time (the header must have one).
pub fn rfc3164_timestamp(time: &str) -> String {
    let civil = time
        .get(..19)
        .and_then(|t| t.parse::<jiff::civil::DateTime>().ok())
        .unwrap_or_else(|| {
            jiff::Timestamp::now()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .datetime()
        });
    civil.strftime("%b %e %H:%M:%S").to_string()
}

/// The RFC 3164 HOSTNAME: no spaces, printable ASCII, "-" when nothing is left.
fn hostname(s: &str) -> String {
    let h: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if h.is_empty() {
        "-".into()
    } else {
        h
    }
}

/// `<PRI>Mmm dd hh:mm:ss HOST ` for the message of `payload`.
pub fn rfc3164_header(pri: u16, host: &str, payload_time: &str) -> String {
    format!(
        "<{pri}>{} {} ",
        rfc3164_timestamp(payload_time),
        hostname(host)
    )
}

/// A whole RFC 3164 message: header, `TAG[PID]: ` and the alert JSON as MSG. With `max_len`, a
/// longer message gets a short JSON MSG (id, type, severity, summary, `truncated`).
pub fn rfc3164(
    pri: u16,
    host: &str,
    tag: &str,
    procid: &str,
    payload: &[u8],
    max_len: Option<usize>,
) -> Vec<u8> {
    let v: Value = serde_json::from_slice(payload).unwrap_or_default();
    let f = Fields { v: &v };
    // TAG: alphanumerics only, at most 32 characters (section 4.1.3).
    let tag: String = tag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(32)
        .collect();
    let head = format!(
        "{}{}[{procid}]: ",
        rfc3164_header(pri, host, f.s("time").unwrap_or("")),
        if tag.is_empty() { "zonegate" } else { &tag }
    );
    let mut out = head.into_bytes();
    match max_len {
        Some(max) if out.len() + payload.len() > max => {
            let short = serde_json::json!({
                "id": f.s("id"), "type": f.s("type"), "severity": f.s("severity"),
                "summary": f.s("summary"), "truncated": true,
            });
            out.extend_from_slice(short.to_string().as_bytes());
            out.truncate(max);
        }
        _ => out.extend_from_slice(payload),
    }
    out
}

/// CEF header field: `\` and `|` get a backslash; line breaks become spaces.
fn cef_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// CEF extension value: `\`, `=` escaped, line breaks as `\n` / `\r`.
fn cef_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ => out.push(c),
        }
    }
    out
}

/// Milliseconds since the epoch of an RFC 3339 time (CEF `rt`).
fn epoch_ms(time: &str) -> Option<i64> {
    time.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// The key/value pairs CEF carries, in order (keys from the CEF key dictionary; custom strings
/// as csN with their csNLabel).
fn cef_pairs(f: &Fields<'_>) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut push = |k: &'static str, v: Option<String>| {
        if let Some(v) = v {
            out.push((k, v));
        }
    };
    push(
        "rt",
        f.s("time").and_then(epoch_ms).map(|ms| ms.to_string()),
    );
    push("externalId", f.s("id").map(str::to_string));
    push("cat", f.s("type").map(str::to_string));
    push("dvchost", f.s("host").map(str::to_string));
    push("deviceExternalId", f.s("gateway").map(str::to_string));
    push("msg", f.s("summary").map(str::to_string));
    let src = f.detail("src");
    let dst = f.detail("dst");
    let v6 = |a: &Option<String>| a.as_deref().is_some_and(|a| a.contains(':'));
    push(if v6(&src) { "c6a2" } else { "src" }, src.clone());
    if v6(&src) {
        push(
            "c6a2Label",
            src.as_ref().map(|_| "sourceIPv6Address".into()),
        );
    }
    push(if v6(&dst) { "c6a3" } else { "dst" }, dst.clone());
    if v6(&dst) {
        push(
            "c6a3Label",
            dst.as_ref().map(|_| "destinationIPv6Address".into()),
        );
    }
    push("spt", f.detail("src_port"));
    push("dpt", f.detail("dst_port"));
    push("proto", f.detail("protocol"));
    push("cnt", f.detail("count"));
    push("reason", f.detail("reason"));
    if let Some((comm, pid)) = f.writer() {
        push("sproc", Some(comm));
        push("spid", Some(pid));
    }
    let custom: [(&str, &str, Option<String>); 6] = [
        ("cs1", "fromZone", f.detail("from_zone")),
        ("cs2", "toZone", f.detail("to_zone")),
        (
            "cs3",
            "policyRevision",
            f.policy("revision").map(str::to_string),
        ),
        (
            "cs4",
            "rulesetSha256",
            f.s("ruleset_sha256").map(str::to_string),
        ),
        ("cs5", "severityName", Some(f.severity().to_string())),
        ("cs6", "summaryJa", f.s("summary_ja").map(str::to_string)),
    ];
    for (key, label, value) in custom {
        if let Some(v) = value {
            out.push((key, v));
            out.push((
                match key {
                    "cs1" => "cs1Label",
                    "cs2" => "cs2Label",
                    "cs3" => "cs3Label",
                    "cs4" => "cs4Label",
                    "cs5" => "cs5Label",
                    _ => "cs6Label",
                },
                label.to_string(),
            ));
        }
    }
    out
}

/// One CEF record (without a syslog header) of the alert JSON `payload`.
pub fn cef(payload: &[u8]) -> String {
    let v: Value = serde_json::from_slice(payload).unwrap_or_default();
    let f = Fields { v: &v };
    let typ = f.s("type").unwrap_or("unknown");
    let mut out = format!(
        "CEF:0|{}|{}|{}|{}|{}|{}|",
        cef_header(VENDOR),
        cef_header(PRODUCT),
        cef_header(f.s("agent_version").unwrap_or("0")),
        cef_header(typ),
        cef_header(f.s("summary").unwrap_or(typ)),
        cef_severity(f.severity()),
    );
    let ext: Vec<String> = cef_pairs(&f)
        .into_iter()
        .map(|(k, v)| format!("{k}={}", cef_value(&v)))
        .collect();
    out.push_str(&ext.join(" "));
    out
}

/// LEEF value: the tab delimiter and line breaks become spaces (LEEF has no escape for them).
fn leef_value(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, '\t' | '\r' | '\n') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// One LEEF 2.0 record (without a syslog header), tab-delimited.
pub fn leef(payload: &[u8]) -> String {
    let v: Value = serde_json::from_slice(payload).unwrap_or_default();
    let f = Fields { v: &v };
    let typ = f.s("type").unwrap_or("unknown");
    // The header cannot escape `|`; product and version are ours and never hold one.
    let header_field = |s: &str| leef_value(s).replace('|', " ");
    let mut attrs: Vec<(&str, String)> = Vec::new();
    let mut push = |k: &'static str, v: Option<String>| {
        if let Some(v) = v {
            attrs.push((k, v));
        }
    };
    push("devTime", f.s("time").map(str::to_string));
    push(
        "devTimeFormat",
        Some("yyyy-MM-dd'T'HH:mm:ss.SSSXXX".to_string()),
    );
    push("cat", Some(typ.to_string()));
    push("sev", Some(leef_severity(f.severity()).to_string()));
    push("severityName", Some(f.severity().to_string()));
    push("alertId", f.s("id").map(str::to_string));
    push("identHostName", f.s("host").map(str::to_string));
    push("gateway", f.s("gateway").map(str::to_string));
    push("src", f.detail("src"));
    push("dst", f.detail("dst"));
    push("srcPort", f.detail("src_port"));
    push("dstPort", f.detail("dst_port"));
    push("proto", f.detail("protocol"));
    push("count", f.detail("count"));
    push("reason", f.detail("reason"));
    push("fromZone", f.detail("from_zone"));
    push("toZone", f.detail("to_zone"));
    push("policy", f.policy("name").map(str::to_string));
    push("policyRevision", f.policy("revision").map(str::to_string));
    push("rulesetSha256", f.s("ruleset_sha256").map(str::to_string));
    push("summary", f.s("summary").map(str::to_string));
    push("summaryJa", f.s("summary_ja").map(str::to_string));
    let body: Vec<String> = attrs
        .into_iter()
        .map(|(k, v)| format!("{k}={}", leef_value(&v)))
        .collect();
    format!(
        "LEEF:2.0|{}|{}|{}|{}|x09|{}",
        header_field(VENDOR),
        header_field(PRODUCT),
        header_field(f.s("agent_version").unwrap_or("0")),
        header_field(typ),
        body.join("\t")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALERT: &[u8] = br#"{"schema":"zonegate-alert","schema_version":1,"id":"0196-1","severity":"high","time":"2026-04-01T10:00:00.000+09:00","gateway":"gw|1","host":"gw1","policy":{"name":"p","revision":"2026-11"},"ruleset_sha256":"ab","summary":"Denied a=b\\c\nx","agent_version":"0.1.0","type":"denied-flow","details":{"src":"10.20.0.2","dst":"fd00::5","src_port":40000,"dst_port":53,"protocol":"udp","count":1000,"reason":"no-flow","from_zone":"lgwan","to_zone":"mynumber"}}"#;

    #[test]
    fn rfc3164_timestamps_pad_the_day_with_a_space() {
        assert_eq!(
            rfc3164_timestamp("2026-04-01T09:05:03.120+09:00"),
            "Apr  1 09:05:03"
        );
        assert_eq!(
            rfc3164_timestamp("2026-12-24T23:00:00.000+09:00"),
            "Dec 24 23:00:00"
        );
    }

    #[test]
    fn cef_escapes_header_and_extension() {
        let c = cef(ALERT);
        assert!(
            c.starts_with(r"CEF:0|zonegate|zonegate-agent|0.1.0|denied-flow|Denied a=b\\c x|8|"),
            "{c}"
        );
        assert!(c.contains(r"msg=Denied a\=b\\c\nx"), "{c}");
        assert!(c.contains(" c6a3=fd00::5 "), "{c}");
        assert!(c.contains(" cnt=1000 "), "{c}");
    }

    #[test]
    fn leef_has_no_raw_tabs_or_newlines_in_values() {
        let l = leef(ALERT);
        assert!(l.starts_with("LEEF:2.0|zonegate|zonegate-agent|0.1.0|denied-flow|x09|devTime="));
        assert!(!l.contains('\n'));
        assert!(l.contains("\tsev=8\t"), "{l}");
        assert!(l.contains("\tgateway=gw|1\t"), "{l}");
    }

    #[test]
    fn long_rfc3164_datagrams_get_a_short_msg() {
        let payload = format!(
            r#"{{"id":"x","type":"t","severity":"low","time":"2026-04-01T10:00:00.000+09:00","summary":"s","pad":"{}"}}"#,
            "a".repeat(5000)
        );
        let m = rfc3164(133, "gw1", "zonegate", "42", payload.as_bytes(), Some(1024));
        assert!(m.len() <= 1024);
        let text = String::from_utf8(m).unwrap();
        assert!(
            text.starts_with("<133>Apr  1 10:00:00 gw1 zonegate[42]: {"),
            "{text}"
        );
        assert!(text.contains(r#""truncated":true"#), "{text}");
        let full = rfc3164(133, "gw1", "zonegate", "42", payload.as_bytes(), None);
        assert!(full.ends_with(payload.as_bytes()));
    }
}
