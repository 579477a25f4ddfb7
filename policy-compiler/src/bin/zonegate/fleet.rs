//! `zonegate fleet`: does every gateway run the approved policy? Asks a Prometheus server (its
//! HTTP query API, plain HTTP/1.0 GET over a TcpStream: no HTTP client crate) or reads a
//! directory of `zonegate-agent status --format json` files, then hands the observations to the
//! pure report builder (policy-compiler/src/fleet.rs). Exit: 0 all in order, 2 findings, 1 error.

use crate::input;
use clap::{Args, ValueEnum};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use zonegate_policy::fleet::{build, FleetReport, Lang, Observed, Source};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Html,
    /// Recording rules stating the approved ruleset per gateway and the My Number zones, for
    /// the alert rules of packaging/prometheus (needs no --prometheus or --status-dir).
    PrometheusRules,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LangArg {
    Ja,
    En,
    Both,
}

#[derive(Args)]
#[command(
    after_help = "Examples:\n  zonegate fleet zones.toml --prometheus http://prometheus.example:9090\n  \
                        zonegate fleet zones.toml --prometheus http://127.0.0.1:9090 --format html --lang both -o 2026-12.html\n  \
                        zonegate fleet zones.toml --status-dir /srv/zonegate/status --silent-after 1h\n\n\
                        Per gateway of the policy: the approved ruleset SHA-256 against the running one, silent \
                        (no report within --silent-after), a staged change not applied, drift in the last day, \
                        packets denied into My Number zones in the last day.\n\n\
                        Exit status: 0 all in order, 2 findings, 1 error (unreadable policy, Prometheus unreachable)."
)]
pub struct FleetArgs {
    /// The reviewed policy (zones.toml).
    policy: PathBuf,
    /// Prometheus base address (http://HOST:PORT; plain HTTP only).
    #[arg(long, value_name = "URL", conflicts_with = "status_dir")]
    prometheus: Option<String>,
    /// A directory of `zonegate-agent status --format json` outputs (*.json), one per gateway;
    /// a file's modification time is when its gateway was last seen.
    #[arg(long, value_name = "DIR")]
    status_dir: Option<PathBuf>,
    /// A gateway with no report for this long is silent (s, m, h, d: 15s, 10m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    silent_after: String,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[arg(long, value_enum, default_value = "ja")]
    lang: LangArg,
    /// Evaluate `expires` as of this date (YYYY-MM-DD) instead of today in the policy's time zone.
    #[arg(long, value_name = "DATE")]
    today: Option<String>,
    /// Write the report here instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(args: FleetArgs) -> ExitCode {
    if args.format == Format::PrometheusRules {
        return approved_rules(&args);
    }
    match report(&args) {
        Ok(r) => {
            let langs = match args.lang {
                LangArg::Ja => vec![Lang::Ja],
                LangArg::En => vec![Lang::En],
                LangArg::Both => vec![Lang::Ja, Lang::En],
            };
            let text = match args.format {
                Format::Json => r.render_json(),
                Format::Html => r.render_html(&langs),
                Format::PrometheusRules => String::new(),
                Format::Text => langs
                    .iter()
                    .map(|l| r.render_text(*l))
                    .collect::<Vec<_>>()
                    .join("\n"),
            };
            let written = match &args.output {
                Some(p) => input::write_atomic(p, text.as_bytes()),
                None => std::io::stdout()
                    .lock()
                    .write_all(text.as_bytes())
                    .map_err(|e| format!("cannot write to standard output: {e}")),
            };
            if let Err(e) = written {
                eprintln!("zonegate fleet: {e}");
                return ExitCode::from(1);
            }
            if r.findings == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("zonegate fleet: {e}");
            ExitCode::from(1)
        }
    }
}

fn approved_rules(args: &FleetArgs) -> ExitCode {
    let loaded = match input::load(&args.policy, args.today.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("zonegate fleet: {e}");
            return ExitCode::from(1);
        }
    };
    let Some(policy) = &loaded.checked.policy else {
        eprint!("{}", loaded.checked.diagnostics.render_text());
        return ExitCode::from(1);
    };
    let text = zonegate_policy::fleet::approved_rules(policy);
    let written = match &args.output {
        Some(p) => input::write_atomic(p, text.as_bytes()),
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| format!("cannot write to standard output: {e}")),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zonegate fleet: {e}");
            ExitCode::from(1)
        }
    }
}

fn report(args: &FleetArgs) -> Result<FleetReport, String> {
    let silent_after = parse_duration(&args.silent_after)?;
    let loaded = input::load(&args.policy, args.today.as_deref())?;
    let d = &loaded.checked.diagnostics;
    let Some(policy) = &loaded.checked.policy else {
        return Err(format!(
            "the policy has errors (fix them first, `zonegate check`):\n{}",
            d.render_text()
        ));
    };
    let now = jiff::Timestamp::now().as_second();
    let (observed, source) = match (&args.prometheus, &args.status_dir) {
        (Some(url), None) => (
            from_prometheus(url, silent_after)?,
            Source {
                kind: "prometheus".into(),
                address: url.clone(),
                silent_after_s: silent_after,
            },
        ),
        (None, Some(dir)) => (
            from_status_dir(dir, now)?,
            Source {
                kind: "status-files".into(),
                address: dir.display().to_string(),
                silent_after_s: silent_after,
            },
        ),
        _ => return Err("give either --prometheus URL or --status-dir DIR".into()),
    };
    Ok(build(policy, &observed, source, now))
}

/// `15s`, `10m`, `1h`, `2d` (or plain seconds) in seconds.
fn parse_duration(s: &str) -> Result<u64, String> {
    let bad = || format!("--silent-after {s:?}: give a number with s, m, h or d (15s, 10m, 1h)");
    let (num, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        Some('d') => (&s[..s.len() - 1], 86400),
        Some(c) if c.is_ascii_digit() => (s, 1),
        _ => return Err(bad()),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(bad());
    }
    Ok(n * mult)
}

// ---------------------------------------------------------------------------------------------
// Prometheus

/// `http://host:port` -> (host:port, path prefix).
fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("--prometheus {url:?}: only plain http:// addresses are supported (put a TLS proxy's plain side or an SSH tunnel in front)")
    })?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err(format!("--prometheus {url:?}: no host"));
    }
    let host = if host.contains(':') && !host.ends_with(']') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    Ok((host, path.to_string()))
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One instant query; the `data.result` vector.
fn query(url: &str, q: &str) -> Result<Vec<Value>, String> {
    let (host, prefix) = split_url(url)?;
    let addr = host
        .to_socket_addrs()
        .map_err(|e| format!("Prometheus {url}: cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("Prometheus {url}: {host} has no address"))?;
    let fail = |e: std::io::Error| format!("Prometheus {url}: {e}");
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(fail)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(fail)?;
    s.set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(fail)?;
    let req = format!(
        "GET {prefix}/api/v1/query?query={} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\nUser-Agent: zonegate-fleet\r\n\r\n",
        encode(q)
    );
    s.write_all(req.as_bytes()).map_err(fail)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(fail)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("Prometheus {url}: not an HTTP answer"))?;
    let status = head.lines().next().unwrap_or_default();
    let v: Value = serde_json::from_str(body).map_err(|e| {
        format!("Prometheus {url}: {status}: the answer is not JSON ({e}); is this the Prometheus address?")
    })?;
    if v["status"] != "success" {
        return Err(format!(
            "Prometheus {url}: query `{q}` failed: {} {}",
            v["errorType"].as_str().unwrap_or(status),
            v["error"].as_str().unwrap_or_default()
        ));
    }
    Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
}

fn key(sample: &Value) -> (String, String) {
    let m = &sample["metric"];
    (
        m["job"].as_str().unwrap_or_default().to_string(),
        m["instance"].as_str().unwrap_or_default().to_string(),
    )
}

fn value(sample: &Value) -> Option<f64> {
    sample["value"][1].as_str()?.parse().ok()
}

fn observed_of(sample: &Value) -> Observed {
    let m = &sample["metric"];
    let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
    let signer = s("signer");
    Observed {
        gateway: s("gateway"),
        instance: s("instance"),
        policy: s("policy"),
        revision: s("revision"),
        policy_sha256: s("policy_sha256"),
        ruleset_sha256: s("ruleset_sha256"),
        signer: (!signer.is_empty()).then_some(signer),
        mode: s("mode"),
        kind: s("kind"),
        ..Observed::default()
    }
}

fn from_prometheus(url: &str, silent_after: u64) -> Result<Vec<Observed>, String> {
    // Per agent (job, instance): the current series with its sample time; else one seen within
    // the window (stopped a moment ago: Prometheus marks it stale at once); else one seen in
    // the last day: silent.
    let mut by: BTreeMap<(String, String), Observed> = BTreeMap::new();
    for s in query(url, "last_over_time(zonegate_gateway_info[1d])")? {
        let mut o = observed_of(&s);
        o.silent = true;
        by.insert(key(&s), o);
    }
    for s in query(
        url,
        &format!("last_over_time(zonegate_gateway_info[{silent_after}s])"),
    )? {
        let mut o = observed_of(&s);
        o.silent = false;
        by.insert(key(&s), o);
    }
    for s in query(url, "timestamp(zonegate_gateway_info)")? {
        let mut o = observed_of(&s);
        o.last_seen = value(&s).map(|t| t as i64);
        by.insert(key(&s), o);
    }
    // When a silent agent was last scraped: the newest sample time over the last day. Each step
    // of the subquery sees the sample then current (stale ones are skipped), so the time is
    // exact to within one step: a quarter of the silence window, between 1 s and 60 s.
    let step = (silent_after / 4).clamp(1, 60);
    for s in query(
        url,
        &format!("max by (job, instance) (last_over_time(timestamp(zonegate_up)[1d:{step}s]))"),
    )? {
        if let Some(o) = by.get_mut(&key(&s)) {
            if o.last_seen.is_none() {
                o.last_seen = value(&s).map(|t| t as i64);
            }
        }
    }
    for s in query(
        url,
        "last_over_time(zonegate_last_apply_timestamp_seconds[1d])",
    )? {
        if let Some(o) = by.get_mut(&key(&s)) {
            o.last_apply = value(&s).map(|t| t as i64);
        }
    }
    for s in query(url, "zonegate_policy_staged_since_seconds")? {
        if let Some(o) = by.get_mut(&key(&s)) {
            o.staged_since = value(&s).map(|t| t as i64);
        }
    }
    for s in query(url, "increase(zonegate_drift_total[1d])")? {
        if let Some(o) = by.get_mut(&key(&s)) {
            o.drift_last_day = value(&s);
        }
    }
    for s in query(
        url,
        "sum by (job, instance, to) (increase(zonegate_denied_packets_total[1d]))",
    )? {
        let to = s["metric"]["to"].as_str().unwrap_or_default().to_string();
        if let (Some(o), Some(v)) = (by.get_mut(&key(&s)), value(&s)) {
            o.denied_measured = true;
            *o.denied_last_day.entry(to).or_default() += v;
        }
    }
    Ok(by.into_values().collect())
}

// ---------------------------------------------------------------------------------------------
// Status files

fn from_status_dir(dir: &Path, now: i64) -> Result<Vec<Observed>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            format!("{shown}:{}:{}: not JSON ({e}); expected the output of `zonegate-agent status --format json`", e.line(), e.column())
        })?;
        let Some(gateway) = v["gateway"].as_str() else {
            return Err(format!(
                "{shown}: no \"gateway\" field: expected the output of `zonegate-agent status --format json`"
            ));
        };
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let ts = |t: &Value| t.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok());
        let mtime = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| jiff::Timestamp::try_from(t).ok())
            .map(|t| t.as_second());
        let drift_recent = ts(&v["last_drift_at"]).is_some_and(|t| now - t.as_second() <= 86_400);
        out.push(Observed {
            gateway: gateway.to_string(),
            instance: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            policy: s("policy_name"),
            revision: s("revision"),
            policy_sha256: s("policy_sha256"),
            ruleset_sha256: s("ruleset_sha256"),
            signer: v["signer"].as_str().map(str::to_string),
            mode: s("mode"),
            kind: s("kind"),
            last_apply: ts(&v["last_apply"]).map(|t| t.as_second()),
            last_seen: mtime,
            silent: false,
            staged_since: v["staged_change"]["since_unix"].as_i64(),
            // A status file says when the last drift was, not how many in the last day.
            drift_last_day: Some(if drift_recent { 1.0 } else { 0.0 }),
            denied_last_day: BTreeMap::new(),
            denied_measured: false,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_urls() {
        assert_eq!(parse_duration("15s"), Ok(15));
        assert_eq!(parse_duration("10m"), Ok(600));
        assert_eq!(parse_duration("90"), Ok(90));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(
            split_url("http://127.0.0.1:9090/"),
            Ok(("127.0.0.1:9090".into(), String::new()))
        );
        assert_eq!(
            split_url("http://prom/sub"),
            Ok(("prom:80".into(), "/sub".into()))
        );
        assert!(split_url("https://prom").is_err());
        assert_eq!(encode("a{b=\"c\"}[5m]"), "a%7Bb%3D%22c%22%7D%5B5m%5D");
    }

    #[test]
    fn an_old_status_file_is_silent() {
        let dir = std::env::temp_dir().join(format!("zonegate-fleet-sd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("gw1.json");
        std::fs::write(
            &path,
            r#"{"gateway":"gw1","mode":"enforce","kind":"policy","revision":"r1","ruleset_sha256":"ab","last_drift_at":null,"staged_change":{"file_sha256":"f","since":"x","since_unix":5}}"#,
        )
        .expect("status");
        let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(hour_ago))
            .expect("mtime");
        let now = jiff::Timestamp::now().as_second();
        let seen = from_status_dir(&dir, now).expect("reads");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(seen.len(), 1);
        let o = &seen[0];
        assert_eq!(o.staged_since, Some(5));
        assert!(!o.denied_measured);
        assert!(o.last_seen.is_some_and(|t| now - t >= 3599), "{o:?}");
        let policy =
            zonegate_policy::validate("zones.toml", include_str!("../../../../zones.toml"), None)
                .policy
                .expect("valid");
        let source = Source {
            kind: "status-files".into(),
            address: "x".into(),
            silent_after_s: 600,
        };
        let r = build(&policy, &seen, source, now);
        let kinds: Vec<String> = r.gateways[0]
            .findings
            .iter()
            .filter_map(|f| serde_json::to_value(f).ok())
            .filter_map(|v| v["type"].as_str().map(str::to_string))
            .collect();
        assert_eq!(kinds, ["silent", "hash-not-approved", "staged-change"]);
    }
}
