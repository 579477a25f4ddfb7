//! The `[alerts]` section of agent.toml, as serde types the agent embeds in its own config.
//! Every field has a default, so `[alerts]` may be empty; unknown keys are ignored rather than
//! refused (a renamed key must never stop a gateway from booting: the agent warns about them).
//! [`AlertsConfig::validate`] finds what would make a sink useless (no URL, a bad address) so the
//! pipeline can skip that one sink with a monitoring-degraded alert instead of failing.
//!
//! ```toml
//! [alerts]
//! queue_max_bytes = 67108864
//! [[alerts.sinks]]
//! kind = "webhook"
//! url = "https://soc.example.jp/hooks/zonegate"
//! bearer_token_file = "/etc/zonegate/webhook.token"
//! [[alerts.sinks]]
//! kind = "syslog"
//! transport = "tls"
//! address = "10.20.0.114:6514"
//! [[alerts.sinks]]
//! kind = "file"
//! path = "/var/log/zonegate/alerts.jsonl"
//! ```

use crate::model::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// `[alerts]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertsConfig {
    /// Directory of the durable queue. Default: `alerts/` under the agent's state directory
    /// (the agent passes it to [`crate::AlertPipeline::start`]).
    pub queue_dir: Option<PathBuf>,
    /// Size cap of the queue on disk. When reached, the oldest alerts of the lowest severity are
    /// dropped first and a queue-overflow alert says how many (docs/alerts.md).
    pub queue_max_bytes: u64,
    /// Heartbeat interval in seconds, for the agent's main loop (0: no heartbeat).
    pub heartbeat_secs: u64,
    /// IANA time zone of alert times (`Asia/Tokyo`). Default: the system's.
    pub time_zone: Option<String>,
    /// "ja": every alert also carries `summary_ja`, its summary line in Japanese (the English
    /// `summary` stays, so routing rules keep working). Default "en": English only.
    pub summary_lang: SummaryLang,
    /// Denied-flow events from NFLOG.
    pub denied_flows: DeniedFlowConfig,
    /// Where alerts go; any number, all get every alert.
    pub sinks: Vec<SinkConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            queue_dir: None,
            queue_max_bytes: 64 * 1024 * 1024,
            heartbeat_secs: 60,
            time_zone: None,
            summary_lang: SummaryLang::En,
            denied_flows: DeniedFlowConfig::default(),
            sinks: Vec::new(),
        }
    }
}

/// Languages of the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SummaryLang {
    /// `summary` only.
    #[default]
    En,
    /// `summary` and `summary_ja`.
    Ja,
}

/// `[alerts.denied_flows]`: aggregation of NFLOG samples into alerts. The NFLOG group is not
/// here on purpose: it comes from the compiled metadata only, so the agent can never listen on a
/// group the ruleset does not log to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeniedFlowConfig {
    /// Listen to NFLOG at all.
    pub enabled: bool,
    /// Aggregation window in seconds: the first packet of a key is sent at once, repeats as one
    /// summary per window.
    pub window_secs: u64,
    /// Keys tracked individually per window (outside sensitive zones); more are rolled up.
    pub max_keys: usize,
    /// Keys tracked individually per window for sensitive zones (their own table).
    pub max_sensitive_keys: usize,
    /// Denied-flow and scan alerts per minute outside sensitive zones (global cap).
    pub alerts_per_minute: u32,
    /// The same budget for sensitive zones, so a flood elsewhere cannot use it up.
    pub sensitive_alerts_per_minute: u32,
    /// Distinct destination/port pairs from one source in one window that make it a scan.
    pub scan_threshold: usize,
    /// First-attempt alerts per source per window before the rest waits for the summary.
    pub first_alerts_per_source: u32,
    /// Socket receive buffer for NFLOG (SO_RCVBUFFORCE), bytes.
    pub receive_buffer_bytes: usize,
}

impl Default for DeniedFlowConfig {
    fn default() -> Self {
        DeniedFlowConfig {
            enabled: true,
            window_secs: 60,
            max_keys: 4096,
            max_sensitive_keys: 1024,
            alerts_per_minute: 60,
            sensitive_alerts_per_minute: 120,
            scan_threshold: 16,
            first_alerts_per_source: 4,
            receive_buffer_bytes: 4 * 1024 * 1024,
        }
    }
}

impl DeniedFlowConfig {
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs.max(1))
    }
}

/// Settings every sink has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SinkCommon {
    /// Name in metrics, logs and the queue's cursor file. Default: kind and target.
    pub name: Option<String>,
    /// Alerts below this severity are skipped by this sink (e.g. a chat webhook: "high").
    pub min_severity: Severity,
    /// First retry delay in milliseconds; doubles up to `retry_max_ms`, with jitter.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
}

impl Default for SinkCommon {
    fn default() -> Self {
        SinkCommon {
            name: None,
            min_severity: Severity::Info,
            retry_initial_ms: 500,
            retry_max_ms: 60_000,
        }
    }
}

/// `[[alerts.sinks]]`, by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SinkConfig {
    Webhook(WebhookConfig),
    Syslog(SyslogConfig),
    File(FileConfig),
}

/// `kind = "webhook"`: one HTTP(S) POST of the alert JSON per alert; any 2xx is delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookConfig {
    #[serde(flatten)]
    pub common: SinkCommon,
    /// `https://host[:port]/path` or `http://...` (plain HTTP only for a collector on the box).
    pub url: String,
    /// File holding the bearer token (one line). Read at every connection, so rotating the
    /// token needs no restart; the token never appears in logs or alerts.
    pub bearer_token_file: Option<PathBuf>,
    /// Connect, write and read timeout in seconds.
    pub timeout_secs: u64,
    /// Verify the server certificate (default true). false is for tests only and is logged.
    pub tls_verify: bool,
    /// PEM bundle of trusted CAs. Default: the system bundle.
    pub ca_file: Option<PathBuf>,
    /// HTTP proxy `http://host:port` on the way to the receiver: an https:// URL goes through a
    /// CONNECT tunnel (TLS end to end with the receiver), an http:// URL as an absolute-form
    /// request. Default: direct (the environment's `https_proxy` is not read: a daemon's
    /// environment is not where a gateway's egress is configured).
    pub proxy: Option<String>,
    /// File holding the proxy credentials as one line `user:password` (HTTP Basic,
    /// `Proxy-Authorization`). Read at every connection; must not be readable by other users.
    pub proxy_credentials_file: Option<PathBuf>,
    /// PEM client certificate (chain) presented when the receiver asks for one (mutual TLS).
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of `client_cert_file`.
    pub client_key_file: Option<PathBuf>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            common: SinkCommon::default(),
            url: String::new(),
            bearer_token_file: None,
            timeout_secs: 10,
            tls_verify: true,
            ca_file: None,
            proxy: None,
            proxy_credentials_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }
}

/// How syslog messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogTransport {
    /// RFC 6587 octet counting over TCP.
    Tcp,
    /// RFC 5425: octet counting over TLS.
    Tls,
    /// RFC 5426: one datagram per message; best effort (a lost datagram is not noticed).
    Udp,
    /// The local syslog socket (datagram), e.g. /dev/log.
    Unix,
}

/// What a syslog sink writes (alerts/src/sink/siem.rs has the field mapping of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogFormat {
    /// RFC 5424 with structured data, the alert JSON as MSG (the default).
    #[default]
    Rfc5424,
    /// RFC 3164 (BSD syslog) header, the alert JSON as MSG: for older syslog servers.
    Rfc3164,
    /// ArcSight Common Event Format after an RFC 3164 header: ArcSight, Microsoft Sentinel.
    Cef,
    /// IBM QRadar Log Event Extended Format 2.0 after an RFC 3164 header.
    Leef,
}

/// How messages are delimited on a TCP or TLS stream (RFC 6587).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyslogFraming {
    /// `LEN SP MSG` (RFC 6587 section 3.4.1; RFC 5425 for TLS).
    OctetCounting,
    /// MSG then LF (RFC 6587 section 3.4.2): what most CEF, LEEF and RFC 3164 receivers read.
    Newline,
}

/// `kind = "syslog"`: RFC 5424 messages with structured data, the alert JSON as MSG; or
/// RFC 3164, CEF or LEEF (`format`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyslogConfig {
    #[serde(flatten)]
    pub common: SinkCommon,
    pub transport: SyslogTransport,
    /// rfc5424 (default), rfc3164, cef or leef.
    pub format: SyslogFormat,
    /// tcp/tls framing. Default: octet-counting for rfc5424, newline for the others.
    pub framing: Option<SyslogFraming>,
    /// `host:port` (tcp, tls, udp) or a socket path (unix, default /dev/log).
    pub address: String,
    /// Facility name: kern, user, auth, authpriv, daemon, local0..local7, ...
    pub facility: String,
    /// APP-NAME.
    pub app_name: String,
    /// HOSTNAME. Default: the machine's host name.
    pub hostname: Option<String>,
    /// SD-ID of the structured data element. The default uses 32473, the enterprise number
    /// reserved for documentation (RFC 5612); set your own if you have one.
    pub sd_id: String,
    /// tls: name to verify the certificate against. Default: the host part of `address`.
    pub server_name: Option<String>,
    /// tls: verify the server certificate (default true).
    pub tls_verify: bool,
    /// tls: PEM bundle of trusted CAs. Default: the system bundle.
    pub ca_file: Option<PathBuf>,
    /// Connect and write timeout in seconds.
    pub timeout_secs: u64,
    /// udp/unix: longest datagram; a longer alert is sent with a shortened MSG.
    pub max_datagram_bytes: usize,
    /// Start MSG with a UTF-8 BOM (RFC 5424 MSG-UTF8). Off by default: many collectors keep
    /// the BOM in the text, and without it MSG is MSG-ANY, which is equally valid.
    pub utf8_bom: bool,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            common: SinkCommon::default(),
            transport: SyslogTransport::Tcp,
            format: SyslogFormat::Rfc5424,
            framing: None,
            address: String::new(),
            facility: "local0".into(),
            app_name: "zonegate".into(),
            hostname: None,
            sd_id: "zonegate@32473".into(),
            server_name: None,
            tls_verify: true,
            ca_file: None,
            timeout_secs: 10,
            max_datagram_bytes: 8192,
            utf8_bom: false,
        }
    }
}

/// `kind = "file"`: one JSON document per line, for log shippers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileConfig {
    #[serde(flatten)]
    pub common: SinkCommon,
    pub path: PathBuf,
    /// Rotate when the file would grow past this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept: `alerts.jsonl.1` (newest) .. `alerts.jsonl.N`.
    pub keep: u32,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            common: SinkCommon::default(),
            path: PathBuf::new(),
            max_bytes: 10 * 1024 * 1024,
            keep: 5,
        }
    }
}

/// Something wrong with one sink's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The sink's name.
    pub sink: String,
    pub message: String,
}

impl SinkConfig {
    pub fn common(&self) -> &SinkCommon {
        match self {
            SinkConfig::Webhook(c) => &c.common,
            SinkConfig::Syslog(c) => &c.common,
            SinkConfig::File(c) => &c.common,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Webhook(_) => "webhook",
            SinkConfig::Syslog(_) => "syslog",
            SinkConfig::File(_) => "file",
        }
    }

    /// The configured name, or kind and target made safe for a file name and a metric label.
    pub fn default_name(&self) -> String {
        let target = match self {
            SinkConfig::Webhook(c) => c
                .url
                .split_once("://")
                .map_or(c.url.as_str(), |(_, rest)| rest)
                .split('/')
                .next()
                .unwrap_or("")
                .to_string(),
            SinkConfig::Syslog(c) => format!(
                "{}-{}",
                match c.transport {
                    SyslogTransport::Tcp => "tcp",
                    SyslogTransport::Tls => "tls",
                    SyslogTransport::Udp => "udp",
                    SyslogTransport::Unix => "unix",
                },
                c.address
            ),
            SinkConfig::File(c) => c
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let raw = match &self.common().name {
            Some(name) => name.clone(),
            None => format!("{}-{}", self.kind(), target),
        };
        sanitize_name(&raw)
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            SinkConfig::Webhook(c) => {
                if let Err(e) = crate::sink::webhook::Url::parse(&c.url) {
                    out.push(format!("url: {e}"));
                }
                if c.timeout_secs == 0 {
                    out.push("timeout_secs must be at least 1".into());
                }
                if let Some(proxy) = &c.proxy {
                    if let Err(e) = crate::sink::webhook::Proxy::parse(proxy) {
                        out.push(format!("proxy: {e}"));
                    }
                } else if c.proxy_credentials_file.is_some() {
                    out.push("proxy_credentials_file is set but proxy is not".into());
                }
                if c.client_cert_file.is_some() != c.client_key_file.is_some() {
                    out.push(
                        "client_cert_file and client_key_file go together: set both or neither"
                            .into(),
                    );
                }
            }
            SinkConfig::Syslog(c) => {
                if c.transport != SyslogTransport::Unix && c.address.rsplit_once(':').is_none() {
                    out.push(format!("address {:?} is not host:port", c.address));
                }
                if crate::sink::syslog::facility_code(&c.facility).is_none() {
                    out.push(format!("unknown facility {:?}", c.facility));
                }
                if c.app_name.is_empty() || c.app_name.len() > 48 {
                    out.push("app_name must be 1 to 48 characters (RFC 5424)".into());
                }
                if c.format == SyslogFormat::Rfc3164 && c.app_name.len() > 32 {
                    out.push("app_name must be at most 32 characters with format = \"rfc3164\" (the TAG of RFC 3164 section 4.1.3)".into());
                }
            }
            SinkConfig::File(c) => {
                if c.path.as_os_str().is_empty() {
                    out.push("path is empty".into());
                }
                if c.max_bytes < 4096 {
                    out.push("max_bytes must be at least 4096".into());
                }
            }
        }
        out
    }
}

/// Keeps `[A-Za-z0-9._-]`, replaces the rest with `_`, at most 64 characters.
pub(crate) fn sanitize_name(raw: &str) -> String {
    let s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("sink{s}")
    } else {
        s
    }
}

impl AlertsConfig {
    /// Names of the sinks, unique (a repeated name gets `-2`, `-3`...).
    pub fn sink_names(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.sinks
            .iter()
            .map(|s| {
                let base = s.default_name();
                let mut name = base.clone();
                let mut n = 2;
                while !seen.insert(name.clone()) {
                    name = format!("{base}-{n}");
                    n += 1;
                }
                name
            })
            .collect()
    }

    /// Everything that would make a sink unusable; the pipeline skips such sinks.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let names = self.sink_names();
        let mut out = Vec::new();
        for (sink, name) in self.sinks.iter().zip(&names) {
            for message in sink.problems() {
                out.push(ConfigProblem {
                    sink: name.clone(),
                    message,
                });
            }
        }
        if self.queue_max_bytes < 1024 * 1024 {
            out.push(ConfigProblem {
                sink: "queue".into(),
                message: "queue_max_bytes below 1 MiB; using 1 MiB".into(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_unique() {
        let cfg = AlertsConfig {
            sinks: vec![
                SinkConfig::Webhook(WebhookConfig {
                    url: "https://soc.example.jp:8443/x".into(),
                    ..Default::default()
                }),
                SinkConfig::Webhook(WebhookConfig {
                    url: "https://soc.example.jp:8443/y".into(),
                    ..Default::default()
                }),
                SinkConfig::File(FileConfig {
                    common: SinkCommon {
                        name: Some("../../etc/passwd".into()),
                        ..Default::default()
                    },
                    path: "/var/log/a.jsonl".into(),
                    ..Default::default()
                }),
            ],
            ..Default::default()
        };
        assert_eq!(
            cfg.sink_names(),
            vec![
                "webhook-soc.example.jp_8443",
                "webhook-soc.example.jp_8443-2",
                "sink.._.._etc_passwd"
            ]
        );
    }

    #[test]
    fn siem_proxy_and_language_keys_read_from_agent_toml() {
        let cfg: AlertsConfig = toml::from_str(
            r#"
summary_lang = "ja"
[[sinks]]
kind = "syslog"
format = "cef"
framing = "octet-counting"
address = "10.20.0.114:514"
[[sinks]]
kind = "webhook"
url = "https://soc.example.lg.jp/h"
proxy = "http://proxy.example.lg.jp:8080"
proxy_credentials_file = "/etc/zonegate/proxy.cred"
client_cert_file = "/etc/zonegate/c.pem"
client_key_file = "/etc/zonegate/c.key"
"#,
        )
        .unwrap();
        assert_eq!(cfg.summary_lang, SummaryLang::Ja);
        let SinkConfig::Syslog(s) = &cfg.sinks[0] else {
            panic!("{cfg:?}")
        };
        assert_eq!(
            (s.format, s.framing),
            (SyslogFormat::Cef, Some(SyslogFraming::OctetCounting))
        );
        assert_eq!(cfg.validate(), vec![]);
        // Unknown values are refused by name.
        let e = toml::from_str::<AlertsConfig>("[[sinks]]\nkind = \"syslog\"\nformat = \"xml\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("xml") && e.contains("rfc3164"), "{e}");
        let e = toml::from_str::<AlertsConfig>("summary_lang = \"fr\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fr") && e.contains("ja"), "{e}");
        // Problems the pipeline reports (and skips the sink for).
        let bad = AlertsConfig {
            sinks: vec![
                SinkConfig::Webhook(WebhookConfig {
                    url: "https://soc.example.lg.jp/h".into(),
                    proxy: Some("https://proxy:3128".into()),
                    client_cert_file: Some("/c.pem".into()),
                    ..Default::default()
                }),
                SinkConfig::Webhook(WebhookConfig {
                    url: "https://soc.example.lg.jp/h".into(),
                    proxy_credentials_file: Some("/p".into()),
                    ..Default::default()
                }),
            ],
            ..Default::default()
        };
        let problems: Vec<String> = bad.validate().into_iter().map(|p| p.message).collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("TLS to the proxy itself is not supported"));
        assert!(problems[1].contains("client_cert_file and client_key_file go together"));
        assert!(problems[2].contains("proxy_credentials_file is set but proxy is not"));
    }
}
