//! agent.toml: where the policy is, which gateway this is, how the agent behaves. Read through the
//! `config` crate with `ZONEGATE_*` environment overrides (`ZONEGATE_MODE=monitor`,
//! `ZONEGATE_STATE_DIR=/tmp/x`). Unknown keys are warnings, never errors: agent.toml is a dpkg
//! conffile, and a renamed key must not stop a gateway from booting. A
//! missing file gives the defaults, so the agent can always start and fail closed.
//!
//! `[alerts]` is the alerts library's own section ([`AlertsConfig`], docs/alerts.md), read with the
//! same leniency: an unknown key is a warning, a key with an unusable value keeps its default
//! (with a warning), and a `[[alerts.sinks]]` entry that cannot be read is skipped and reported
//! as a monitoring-degraded alert at start, so an alerting typo never stops enforcement.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use zonegate_policy::lockdown::Management;
use zonegate_policy::net::parse_cidr;
use zonegate_policy::ports::{parse_port_spec, PortSpec};

pub use zonegate_alerts::AlertsConfig;
use zonegate_alerts::{DeniedFlowConfig, SinkConfig};

/// Where the agent looks when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/zonegate/agent.toml";
const DEFAULT_POLICY: &str = "/etc/zonegate/zones.toml";
const DEFAULT_STATE_DIR: &str = "/var/lib/zonegate";
const DEFAULT_STATUS_SOCKET: &str = "/run/zonegate/agent.sock";
const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(30);
/// The confirm window of a policy applied by itself on a settled write (`auto_apply = true`).
const DEFAULT_AUTO_APPLY_CONFIRM: Duration = Duration::from_secs(120);
const DEFAULT_MAX_RESTORES_PER_MINUTE: u32 = 600;
/// Every key the agent understands, for the unknown-key warning.
const KNOWN_KEYS: &[&str] = &[
    "policy",
    "gateway",
    "mode",
    "state_dir",
    "check_interval",
    "status_socket",
    "metrics_address",
    "max_restores_per_minute",
    "auto_apply",
    "auto_apply_confirm",
    "lockdown",
    "alerts",
    "trusted_keys",
    "signature",
];
const KNOWN_LOCKDOWN_KEYS: &[&str] = &["management"];

/// What the agent does with the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Apply the policy and repair every drift at once.
    Enforce,
    /// Watch and raise events, never write.
    Monitor,
    /// Never touch the kernel: compute and report what enforce would do.
    DryRun,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
            Mode::DryRun => "dry-run",
        }
    }

    /// Whether this mode may write to the kernel.
    pub fn writes(self) -> bool {
        self == Mode::Enforce
    }
}

/// The agent's configuration, with defaults filled in.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The policy file (zones.toml).
    pub policy: PathBuf,
    /// Which `[gateways.NAME]` of the policy this machine is.
    pub gateway: String,
    pub mode: Mode,
    /// Last-known-good ruleset, lock file.
    pub state_dir: PathBuf,
    /// Period of the full compare that backs up the netlink events.
    pub check_interval: Duration,
    /// Root-only Unix socket for `status` and `apply --confirm-ok`.
    pub status_socket: PathBuf,
    /// `ADDR:PORT` for the Prometheus text endpoint; None: off.
    pub metrics_address: Option<String>,
    /// Restores allowed per minute before the agent stops and raises one summary alert.
    pub max_restores_per_minute: u32,
    /// Management path kept open by the lockdown ruleset when there is no policy at all.
    pub lockdown_management: Vec<Management>,
    /// Apply a settled write of the policy file by itself (for configuration-management
    /// fleets). Off by default: a saved file is staged until `zonegate-agent apply` or
    /// `systemctl reload zonegate-agent`.
    pub auto_apply: bool,
    /// The confirm window of such an automatic apply: rolled back unless confirmed in time.
    pub auto_apply_confirm: Duration,
    /// `[alerts]`: queue, heartbeat, denied-flow aggregation, sinks.
    pub alerts: AlertsConfig,
    /// `[[alerts.sinks]]` entries that could not be read (skipped): raised as
    /// monitoring-degraded alerts when the agent starts.
    pub alert_problems: Vec<String>,
    /// OpenSSH public key files whose signatures approve a policy; empty: policies need no
    /// signature (docs/admin-guide.md, "Signed approvals").
    pub trusted_keys: Vec<PathBuf>,
    /// The policy's detached signature; None: the policy's path + ".sig".
    pub signature: Option<PathBuf>,
}

impl AgentConfig {
    /// Where the policy's signature is read from.
    pub fn signature_path(&self) -> PathBuf {
        self.signature.clone().unwrap_or_else(|| {
            let mut path = self.policy.clone().into_os_string();
            path.push(".sig");
            PathBuf::from(path)
        })
    }
}

/// A configuration problem that stops the agent from using the file at all.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file exists but is not valid TOML (or an override is malformed).
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: config::ConfigError,
    },
    /// A known key has a value of the wrong kind.
    #[error("{path}: {message}")]
    Value { path: String, message: String },
}

#[derive(Debug, Deserialize, Default)]
struct RawConfig {
    policy: Option<PathBuf>,
    gateway: Option<String>,
    mode: Option<String>,
    state_dir: Option<PathBuf>,
    check_interval: Option<config::Value>,
    status_socket: Option<PathBuf>,
    metrics_address: Option<String>,
    max_restores_per_minute: Option<u32>,
    auto_apply: Option<bool>,
    auto_apply_confirm: Option<config::Value>,
    lockdown: Option<RawLockdown>,
    /// Read leniently by [`parse_alerts`], key by key.
    alerts: Option<config::Value>,
    trusted_keys: Option<Vec<PathBuf>>,
    signature: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
struct RawLockdown {
    #[serde(default)]
    management: Vec<RawManagement>,
}

#[derive(Debug, Deserialize)]
struct RawManagement {
    from: String,
    #[serde(default)]
    ports: Vec<String>,
}

/// The configuration and the warnings met while reading it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: AgentConfig,
    pub warnings: Vec<String>,
}

/// Reads `path` (a missing file is not an error: defaults apply, with a warning) and the
/// `ZONEGATE_*` environment.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let mut builder = config::Config::builder();
    if path.exists() {
        builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
    } else {
        warnings.push(format!(
            "{} does not exist; using the defaults",
            path.display()
        ));
    }
    builder = builder.add_source(
        config::Environment::with_prefix("ZONEGATE")
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .source(Some(env_overrides(std::env::vars()))),
    );
    let shown = path.display().to_string();
    let merged = builder.build().map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    if let Ok(table) = merged
        .clone()
        .try_deserialize::<config::Map<String, config::Value>>()
    {
        for (key, value) in &table {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                warnings.push(format!("unknown key {key:?} ignored"));
            } else if key == "lockdown" {
                if let Ok(inner) = value.clone().into_table() {
                    for k in inner.keys() {
                        if !KNOWN_LOCKDOWN_KEYS.contains(&k.as_str()) {
                            warnings.push(format!("unknown key \"lockdown.{k}\" ignored"));
                        }
                    }
                }
            }
        }
    }
    let raw: RawConfig = merged
        .try_deserialize()
        .map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
    let config = resolve(raw, &shown, &mut warnings)?;
    Ok(Loaded { config, warnings })
}

/// `ZONEGATE_<KEY>` variables that name a top-level key of agent.toml (`ZONEGATE_MODE`,
/// `ZONEGATE_STATE_DIR`, ...). Other `ZONEGATE_*` variables (the log filter `ZONEGATE_LOG`,
/// test settings) are not configuration and are left alone.
fn env_overrides(vars: impl Iterator<Item = (String, String)>) -> config::Map<String, String> {
    vars.filter(|(k, _)| {
        k.strip_prefix("ZONEGATE_").is_some_and(|rest| {
            KNOWN_KEYS.contains(&rest.to_ascii_lowercase().as_str())
                && rest != "LOCKDOWN"
                && rest != "ALERTS"
                && rest != "TRUSTED_KEYS"
        })
    })
    .collect()
}

fn resolve(
    raw: RawConfig,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<AgentConfig, ConfigError> {
    let value_error = |message: String| ConfigError::Value {
        path: path.to_string(),
        message,
    };
    let mode = match raw.mode.as_deref() {
        None | Some("enforce") => Mode::Enforce,
        Some("monitor") => Mode::Monitor,
        Some("dry-run") | Some("dry_run") | Some("dryrun") => Mode::DryRun,
        Some(other) => {
            return Err(value_error(format!(
                "mode {other:?} is not one of enforce, monitor, dry-run"
            )))
        }
    };
    let check_interval = match raw.check_interval {
        None => DEFAULT_CHECK_INTERVAL,
        Some(v) => parse_interval(&v.to_string()).ok_or_else(|| {
            value_error(format!("check_interval {v} is not a duration like \"30s\""))
        })?,
    };
    let auto_apply_confirm = match raw.auto_apply_confirm {
        None => DEFAULT_AUTO_APPLY_CONFIRM,
        Some(v) => parse_interval(&v.to_string())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                value_error(format!(
                    "auto_apply_confirm {v} is not a duration like \"120s\" (an automatic apply always has a confirm window)"
                ))
            })?,
    };
    let gateway = match raw.gateway.filter(|g| !g.is_empty()) {
        Some(g) => g,
        None => hostname().unwrap_or_else(|| {
            warnings.push("cannot read the host name; gateway defaults to \"gateway\"".into());
            "gateway".into()
        }),
    };
    let mut lockdown_management = Vec::new();
    for (i, m) in raw
        .lockdown
        .unwrap_or_default()
        .management
        .iter()
        .enumerate()
    {
        lockdown_management.push(
            parse_management(m)
                .map_err(|e| value_error(format!("lockdown.management[{i}]: {e}")))?,
        );
    }
    if raw.metrics_address.is_some() {
        warnings.push("metrics_address is set: metrics are served in text format over HTTP".into());
    }
    let trusted_keys = raw.trusted_keys.unwrap_or_default();
    if trusted_keys.is_empty() && raw.signature.is_some() {
        warnings.push(
            "signature is set but trusted_keys is empty: policy signatures are not checked".into(),
        );
    }
    let mut alert_problems = Vec::new();
    let alerts = match raw.alerts {
        None => AlertsConfig::default(),
        Some(v) => match v.try_deserialize::<serde_json::Value>() {
            Ok(json) => parse_alerts(json, warnings, &mut alert_problems),
            Err(e) => {
                warnings.push(format!("[alerts] cannot be read ({e}); using the defaults"));
                AlertsConfig::default()
            }
        },
    };
    Ok(AgentConfig {
        policy: raw.policy.unwrap_or_else(|| DEFAULT_POLICY.into()),
        gateway,
        mode,
        state_dir: raw.state_dir.unwrap_or_else(|| DEFAULT_STATE_DIR.into()),
        check_interval,
        status_socket: raw
            .status_socket
            .unwrap_or_else(|| DEFAULT_STATUS_SOCKET.into()),
        metrics_address: raw.metrics_address.filter(|a| !a.is_empty()),
        max_restores_per_minute: raw
            .max_restores_per_minute
            .unwrap_or(DEFAULT_MAX_RESTORES_PER_MINUTE)
            .max(1),
        lockdown_management,
        auto_apply: raw.auto_apply.unwrap_or(false),
        auto_apply_confirm,
        alerts,
        alert_problems,
        trusted_keys,
        signature: raw.signature.filter(|s| !s.as_os_str().is_empty()),
    })
}

/// The keys a section serialises to: what it accepts.
fn keys_of<T: serde::Serialize>(value: &T) -> Vec<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Reads one section key by key on top of its defaults: an unknown key is a warning, a known key
/// whose value does not fit keeps the default (with a warning naming `prefix.key`).
fn merge_lenient<T>(
    prefix: &str,
    table: serde_json::Map<String, serde_json::Value>,
    warnings: &mut Vec<String>,
) -> T
where
    T: Default + serde::Serialize + serde::de::DeserializeOwned,
{
    let defaults = T::default();
    let known = keys_of(&defaults);
    let mut base = match serde_json::to_value(&defaults) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return defaults,
    };
    for (key, value) in table {
        if !known.contains(&key) {
            warnings.push(format!("unknown key \"{prefix}.{key}\" ignored"));
            continue;
        }
        let mut trial = base.clone();
        trial.insert(key.clone(), value.clone());
        match serde_json::from_value::<T>(serde_json::Value::Object(trial)) {
            Ok(_) => {
                base.insert(key, value);
            }
            Err(e) => warnings.push(format!("{prefix}.{key} = {value}: {e}; using the default")),
        }
    }
    serde_json::from_value(serde_json::Value::Object(base)).unwrap_or(defaults)
}

/// `[alerts]` from its JSON form: lenient per key (see the module documentation); every sink
/// that cannot be read is skipped and described in `problems`.
pub fn parse_alerts(
    raw: serde_json::Value,
    warnings: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> AlertsConfig {
    let serde_json::Value::Object(mut table) = raw else {
        warnings.push("[alerts] is not a table; using the defaults".into());
        return AlertsConfig::default();
    };
    let sinks = table.remove("sinks");
    let denied = table.remove("denied_flows");
    let mut cfg: AlertsConfig = merge_lenient("alerts", table, warnings);
    if let Some(tz) = cfg.time_zone.clone() {
        // An unknown zone would stop the whole pipeline from starting.
        if let Err(e) = jiff::tz::TimeZone::get(&tz) {
            warnings.push(format!(
                "alerts.time_zone {tz:?}: {e}; using the system's time zone"
            ));
            cfg.time_zone = None;
        }
    }
    match denied {
        None => {}
        Some(serde_json::Value::Object(d)) => {
            cfg.denied_flows =
                merge_lenient::<DeniedFlowConfig>("alerts.denied_flows", d, warnings);
        }
        Some(other) => warnings.push(format!(
            "alerts.denied_flows = {other} is not a table; using the defaults"
        )),
    }
    let items = match sinks {
        None => Vec::new(),
        Some(serde_json::Value::Array(items)) => items,
        Some(other) => {
            let p = format!("alerts.sinks = {other} is not a list of [[alerts.sinks]] tables; no sink configured");
            warnings.push(p.clone());
            problems.push(p);
            Vec::new()
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<SinkConfig>(item.clone()) {
            Ok(sink) => {
                let known = keys_of(&sink);
                if let serde_json::Value::Object(m) = &item {
                    for k in m.keys().filter(|k| !known.contains(k)) {
                        warnings.push(format!("unknown key \"alerts.sinks[{i}].{k}\" ignored"));
                    }
                }
                cfg.sinks.push(sink);
            }
            Err(e) => {
                let p = format!("alerts.sinks[{i}] skipped: {e}");
                warnings.push(p.clone());
                problems.push(p);
            }
        }
    }
    cfg
}

/// `{from = "10.20.0.50/32", ports = ["tcp/22"]}` as the compiler's lockdown input.
fn parse_management(m: &RawManagement) -> Result<Management, String> {
    let cidr = parse_cidr(&m.from).map_err(|e| format!("from {:?}: {e:?}", m.from))?;
    let mut specs = Vec::new();
    for p in &m.ports {
        let spec = parse_port_spec(p).map_err(|e| format!("port {p:?}: {e:?}"))?;
        if !matches!(spec, PortSpec::Ports { .. }) {
            return Err(format!(
                "port {p:?}: lockdown keeps TCP/UDP/SCTP ports only (ICMP errors pass anyway)"
            ));
        }
        specs.push(spec);
    }
    if specs.is_empty() {
        return Err("ports is empty: name at least one, e.g. [\"tcp/22\"]".into());
    }
    Ok(Management {
        sources: vec![cidr.range()],
        specs,
    })
}

/// `30`, `30s`, `500ms`, `2m`, `1h`.
pub fn parse_interval(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    };
    (!d.is_zero()).then_some(d)
}

fn hostname() -> Option<String> {
    let name = nix::unistd::gethostname().ok()?.into_string().ok()?;
    let short = name
        .split('.')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    (!short.is_empty()).then_some(short)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_temp(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zg-agent-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(text.as_bytes()).expect("write");
        path
    }

    #[test]
    fn unknown_keys_warn_and_known_keys_load() {
        let path = write_temp(
            "a.toml",
            "policy = \"/x/zones.toml\"\ngateway = \"gw1\"\nmode = \"monitor\"\ncheck_interval = \"5s\"\nrenamed_key = 1\n\
             [lockdown]\nmanagement = [{ from = \"10.20.0.50/32\", ports = [\"tcp/22\"] }]\nextra = true\n",
        );
        let loaded = load(&path).expect("loads");
        assert_eq!(loaded.config.mode, Mode::Monitor);
        assert_eq!(loaded.config.gateway, "gw1");
        assert_eq!(loaded.config.check_interval, Duration::from_secs(5));
        assert_eq!(loaded.config.lockdown_management.len(), 1);
        assert!(loaded.warnings.iter().any(|w| w.contains("renamed_key")));
        assert!(loaded.warnings.iter().any(|w| w.contains("lockdown.extra")));
    }

    #[test]
    fn alerts_section_loads_with_sinks_and_warns_about_what_it_cannot_use() {
        let path = write_temp(
            "alerts.toml",
            r#"gateway = "gw1"
[alerts]
queue_max_bytes = 2097152
heartbeat_secs = 15
time_zone = "Asia/Tokyo"
renamed = 1
queue_dir = 7
[alerts.denied_flows]
window_secs = 5
scan_threshold = "many"
colour = "red"
[[alerts.sinks]]
kind = "webhook"
url = "http://127.0.0.1:8080/hook"
min_severity = "high"
retry_initial_ms = 100
tls_verfy = false
[[alerts.sinks]]
kind = "syslog"
transport = "tcp"
address = "127.0.0.1:6514"
[[alerts.sinks]]
kind = "file"
path = "/var/log/zonegate/alerts.jsonl"
[[alerts.sinks]]
kind = "smtp"
to = "soc@example.jp"
"#,
        );
        let loaded = load(&path).expect("loads");
        let a = &loaded.config.alerts;
        assert_eq!(a.queue_max_bytes, 2 * 1024 * 1024);
        assert_eq!(a.heartbeat_secs, 15);
        assert_eq!(a.time_zone.as_deref(), Some("Asia/Tokyo"));
        assert_eq!(a.queue_dir, None, "a bad value keeps the default");
        assert_eq!(a.denied_flows.window_secs, 5);
        assert_eq!(
            a.denied_flows.scan_threshold,
            DeniedFlowConfig::default().scan_threshold,
            "a bad value keeps the default"
        );
        assert_eq!(a.sinks.len(), 3, "{:?}", a.sinks);
        match &a.sinks[0] {
            SinkConfig::Webhook(w) => {
                assert_eq!(w.url, "http://127.0.0.1:8080/hook");
                assert_eq!(w.common.min_severity, zonegate_alerts::Severity::High);
                assert_eq!(w.common.retry_initial_ms, 100);
                assert!(w.tls_verify, "a misspelt key changes nothing");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(loaded.config.alert_problems.len(), 1);
        assert!(loaded.config.alert_problems[0].contains("alerts.sinks[3]"));
        let w = loaded.warnings.join("\n");
        for needle in [
            "alerts.renamed",
            "alerts.denied_flows.colour",
            "alerts.denied_flows.scan_threshold",
            "alerts.sinks[0].tls_verfy",
            "alerts.sinks[3] skipped",
        ] {
            assert!(w.contains(needle), "{needle} not in {w}");
        }
        let bad_zone = write_temp("tz.toml", "[alerts]\ntime_zone = \"Mars/Olympus_Mons\"\n");
        let loaded = load(&bad_zone).expect("loads");
        assert_eq!(loaded.config.alerts.time_zone, None);
        assert!(loaded.warnings.iter().any(|w| w.contains("Mars")));
        // No [alerts] at all: the defaults (a queue, no sinks, heartbeat every 60 s).
        let plain = write_temp("plain.toml", "gateway = \"gw1\"\n");
        let loaded = load(&plain).expect("loads");
        assert_eq!(loaded.config.alerts, AlertsConfig::default());
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn trusted_keys_and_signature_load() {
        let path = write_temp(
            "keys.toml",
            "policy = \"/etc/zonegate/zones.toml\"\ntrusted_keys = [\"/etc/zonegate/keys/ciso.pub\", \"/etc/zonegate/keys/deputy.pub\"]\n",
        );
        let loaded = load(&path).expect("loads");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let c = &loaded.config;
        assert_eq!(c.trusted_keys.len(), 2);
        assert_eq!(
            c.signature_path(),
            PathBuf::from("/etc/zonegate/zones.toml.sig")
        );
        let path = write_temp("sig.toml", "signature = \"/srv/approved.sig\"\n");
        let loaded = load(&path).expect("loads");
        assert_eq!(
            loaded.config.signature_path(),
            PathBuf::from("/srv/approved.sig")
        );
        assert!(loaded.config.trusted_keys.is_empty());
        assert!(
            loaded.warnings.iter().any(|w| w.contains("not checked")),
            "{:?}",
            loaded.warnings
        );
        let bad = write_temp("badkeys.toml", "trusted_keys = \"/one/key.pub\"\n");
        assert!(load(&bad).is_err(), "a single path is not a list");
    }

    #[test]
    fn missing_file_gives_defaults() {
        let loaded = load(Path::new("/nonexistent/zonegate/agent.toml")).expect("defaults");
        assert_eq!(loaded.config.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert!(!loaded.warnings.is_empty());
    }

    #[test]
    fn bad_mode_is_an_error() {
        let path = write_temp("b.toml", "mode = \"yolo\"\n");
        assert!(load(&path).is_err());
    }

    #[test]
    fn environment_overrides_known_keys_only() {
        let vars = vec![
            ("ZONEGATE_MODE".to_string(), "monitor".to_string()),
            ("ZONEGATE_STATE_DIR".to_string(), "/tmp/x".to_string()),
            ("ZONEGATE_LOG".to_string(), "debug".to_string()),
            ("ZONEGATE_E2E_REQUIRE".to_string(), "1".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let m = env_overrides(vars.into_iter());
        assert_eq!(m.len(), 2);
        assert_eq!(m.get("ZONEGATE_MODE").map(String::as_str), Some("monitor"));
        let source = config::Environment::with_prefix("ZONEGATE")
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .source(Some(m));
        let raw: RawConfig = config::Config::builder()
            .add_source(source)
            .build()
            .and_then(|c| c.try_deserialize())
            .expect("deserialises");
        assert_eq!(raw.mode.as_deref(), Some("monitor"));
        assert_eq!(raw.state_dir, Some(PathBuf::from("/tmp/x")));
    }

    #[test]
    fn intervals_parse() {
        assert_eq!(parse_interval("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_interval("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_interval("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_interval("0s"), None);
        assert_eq!(parse_interval("soon"), None);
    }

    #[test]
    fn management_needs_ports() {
        let m = RawManagement {
            from: "10.0.0.0/8".into(),
            ports: vec![],
        };
        assert!(parse_management(&m).is_err());
        let m = RawManagement {
            from: "10.0.0.1/8".into(),
            ports: vec!["tcp/22".into()],
        };
        assert!(parse_management(&m).is_err(), "host bits set");
    }
}
