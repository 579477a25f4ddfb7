//! Section 4: the running agent.
//!
//! - Tamper-to-restore latency: runs the agent's own harness, `zonegate-agent-bench`, which
//!   times each tamper from the tamper's commit to the agent's repair commit with the kernel's
//!   NEWGEN notices (netlink, inside the namespace), over many tampers of each kind; once on the
//!   bundled zones.toml and once on the generated N=10,000 / M=1,000 policy. Its table is
//!   parsed into the report (and kept verbatim in results.json).
//! - Resident memory and CPU: starts `zonegate-agent run` in the gateway namespace of a
//!   per-packet lab carrying the N=10,000 / M=1,000 policy, waits for its first heartbeat, then
//!   samples /proc while it watches an idle gateway, and while a denied UDP flood crosses it.
//!
//! Without the agent binaries the section reports itself as pending and says what it needs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zonegate_bench::scenario::{Scenario, DENIED_PORT};
use zonegate_bench::stats::thousands;
use zonegate_bench::traffic::{link_stats, udp_flood, Budget, Endpoints};
use zonegate_e2e::lab::{Lab, IP};

use crate::{progress, Config};

/// One row of the tamper table.
#[derive(Debug, Clone)]
pub struct TamperRow {
    pub kind: String,
    pub n: usize,
    pub median_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub missed: Option<usize>,
}

/// One run of zonegate-agent-bench.
#[derive(Debug, Clone)]
pub struct TamperRun {
    pub label: String,
    pub tampers: usize,
    pub rows: Vec<TamperRow>,
    /// Other lines it printed (apply times, RSS), verbatim.
    pub notes: Vec<String>,
    pub raw: String,
    pub wall: Duration,
}

/// Agent resident memory and CPU while watching.
#[derive(Debug, Clone, Default)]
pub struct Footprint {
    pub startup_ms: f64,
    pub idle_seconds: f64,
    pub idle_cpu_percent: f64,
    pub idle_rss_mib: f64,
    pub flood_seconds: f64,
    pub flood_pps: f64,
    pub flood_cpu_percent: f64,
    pub flood_rss_mib: f64,
    pub peak_rss_mib: f64,
}

/// The outcome of the agent section.
#[derive(Debug, Clone)]
pub enum AgentOutcome {
    /// Not measured, and why.
    Pending(String),
    /// Measured (each part may still have failed: its error is kept).
    Measured {
        tamper: Vec<Result<TamperRun, String>>,
        footprint: Result<Footprint, String>,
    },
}

/// Finds the agent and its harness: `--agent` given, or next to this binary.
fn binaries(cfg: &Config) -> Result<(PathBuf, PathBuf), String> {
    let agent = match &cfg.agent {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("zonegate-agent")))
            .ok_or("cannot locate zonegate-agent")?,
    };
    let harness = agent.with_file_name("zonegate-agent-bench");
    for (p, build) in [
        (&agent, "cargo build --release -p zonegate-agent"),
        (
            &harness,
            "cargo build --release -p zonegate-agent (bin zonegate-agent-bench)",
        ),
    ] {
        if !p.exists() {
            return Err(format!(
                "{} does not exist: {build}, then pass --agent PATH/zonegate-agent",
                p.display()
            ));
        }
    }
    match Command::new(&agent).arg("--help").output() {
        Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).contains("run") => {}
        Ok(_) => return Err(format!("{} --help lists no `run`", agent.display())),
        Err(e) => return Err(format!("cannot run {}: {e}", agent.display())),
    }
    Ok((agent, harness))
}

/// Runs the section.
pub fn run(cfg: &Config) -> AgentOutcome {
    let (agent, harness) = match binaries(cfg) {
        Ok(b) => b,
        Err(why) => return AgentOutcome::Pending(why),
    };
    let tampers = if cfg.quick { 3 } else { 100 };
    let scenario = Scenario::new(cfg.dp_hosts, cfg.dp_flows);
    let mut runs = vec![tamper_run(
        &harness,
        &agent,
        "bundled zones.toml",
        None,
        tampers,
    )];
    match &scenario {
        Ok(s) => {
            let dir = std::env::temp_dir().join(format!("zgsuite{}", std::process::id()));
            let file = dir.join("generated.toml");
            let written = std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(&file, &s.text))
                .map_err(|e| format!("write {}: {e}", file.display()));
            let label = format!(
                "generated N={} / M={}",
                thousands(s.hosts),
                thousands(s.flows)
            );
            runs.push(
                written.and_then(|()| tamper_run(&harness, &agent, &label, Some(&file), tampers)),
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
        Err(e) => runs.push(Err(e.clone())),
    }
    let footprint = match &scenario {
        Ok(s) => footprint(cfg, &agent, s),
        Err(e) => Err(e.clone()),
    };
    AgentOutcome::Measured {
        tamper: runs,
        footprint,
    }
}

/// Waits for `child` at most `limit`; kills it (by its pid, it is ours) when it overstays.
fn wait_bounded(child: &mut Child, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish within {} s", limit.as_secs()));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn tamper_run(
    harness: &Path,
    agent: &Path,
    label: &str,
    policy: Option<&Path>,
    tampers: usize,
) -> Result<TamperRun, String> {
    progress(&format!(
        "agent: tamper-to-restore, {label}, {tampers} per kind"
    ));
    let mut cmd = Command::new(harness);
    cmd.arg("--agent")
        .arg(agent)
        .args(["--tampers", &tampers.to_string()]);
    if let Some(p) = policy {
        cmd.arg("--policy").arg(p);
    }
    let out_file = std::env::temp_dir().join(format!(
        "zgsuite-tamper-{}-{}.txt",
        std::process::id(),
        policy.is_some()
    ));
    let out = std::fs::File::create(&out_file).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::from(out))
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", harness.display()))?;
    let waited = wait_bounded(&mut child, Duration::from_secs(420));
    let wall = start.elapsed();
    let raw = std::fs::read_to_string(&out_file).unwrap_or_default();
    let _ = std::fs::remove_file(&out_file);
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    waited.map_err(|e| format!("zonegate-agent-bench {e}; output so far:\n{raw}{stderr}"))?;
    let rows = parse_tamper_table(&raw);
    if rows.is_empty() {
        return Err(format!(
            "zonegate-agent-bench printed no tamper table:\n{raw}{stderr}"
        ));
    }
    let notes = raw
        .lines()
        .filter(|l| {
            l.starts_with("apply") || l.contains("resident memory") || l.contains("watching after")
        })
        .map(str::to_string)
        .collect();
    Ok(TamperRun {
        label: label.to_string(),
        tampers,
        rows,
        notes,
        raw,
        wall,
    })
}

/// Parses the harness's table: `NAME  n  12.3ms  45.6ms  78.9ms  missed` (the `all kinds`
/// line has no `missed`).
pub fn parse_tamper_table(text: &str) -> Vec<TamperRow> {
    let ms = |s: &str| s.strip_suffix("ms").and_then(|v| v.parse::<f64>().ok());
    let mut rows = Vec::new();
    for line in text.lines() {
        let toks: Vec<&str> = line.split_whitespace().collect();
        if toks.len() < 5 {
            continue;
        }
        // With or without the trailing `missed` count.
        for with_missed in [true, false] {
            let k = if with_missed { 5 } else { 4 };
            if toks.len() <= k {
                continue;
            }
            let tail = &toks[toks.len() - k..];
            let (Ok(n), Some(median_ms), Some(p99_ms), Some(max_ms)) = (
                tail[0].parse::<usize>(),
                ms(tail[1]),
                ms(tail[2]),
                ms(tail[3]),
            ) else {
                continue;
            };
            let missed = if with_missed {
                match tail[4].parse::<usize>() {
                    Ok(m) => Some(m),
                    Err(_) => continue,
                }
            } else {
                None
            };
            rows.push(TamperRow {
                kind: toks[..toks.len() - k].join(" "),
                n,
                median_ms,
                p99_ms,
                max_ms,
                missed,
            });
            break;
        }
    }
    rows
}

/// Stops the agent (our child, by pid) and waits for it.
struct AgentGuard(Option<Child>);

impl Drop for AgentGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = Command::new("/bin/kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            if wait_bounded(&mut c, Duration::from_secs(10)).is_err() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// A `VmRSS:` or `VmHWM:` line of /proc/PID/status, in MiB.
fn status_mib(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
}

fn footprint(cfg: &Config, agent: &Path, s: &Scenario) -> Result<Footprint, String> {
    progress("agent: resident memory and CPU, idle and under a denied flood");
    let lab = Lab::up(&s.lab_spec()).map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("zgsuite-agent{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let policy = dir.join("zones.toml");
    std::fs::write(&policy, &s.text).map_err(|e| e.to_string())?;
    let config = dir.join("agent.toml");
    // The product's defaults (check_interval 30s) except for the paths.
    std::fs::write(
        &config,
        format!(
            "policy = \"{}\"\ngateway = \"gw1\"\nstate_dir = \"{}\"\nstatus_socket = \"{}\"\n",
            policy.display(),
            dir.join("state").display(),
            dir.join("agent.sock").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let result = (|| -> Result<Footprint, String> {
        let start = Instant::now();
        let mut child = Command::new(IP)
            .args(["netns", "exec", lab.gw()])
            .arg(agent)
            .arg("--config")
            .arg(&config)
            .args(["run", "--events-stdout"])
            .env("ZONEGATE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start the agent: {e}"))?;
        let pid = child.id();
        let stdout = child.stdout.take().ok_or("no agent stdout")?;
        let guard = AgentGuard(Some(child));
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(l) if l.contains("\"heartbeat\"") => break,
                Ok(_) => {}
                Err(_) => return Err("the agent sent no heartbeat within 60 s".into()),
            }
        }
        let mut fp = Footprint {
            startup_ms: start.elapsed().as_secs_f64() * 1e3,
            ..Footprint::default()
        };
        let hz = clock_ticks();
        // Idle: long enough in the full run to include one periodic full compare (30 s).
        let idle = Duration::from_secs(if cfg.quick { 2 } else { 31 });
        let t0 = cpu_ticks(pid).ok_or("agent exited")?;
        let w0 = Instant::now();
        std::thread::sleep(idle);
        let t1 = cpu_ticks(pid).ok_or("agent exited while idle")?;
        fp.idle_seconds = w0.elapsed().as_secs_f64();
        fp.idle_cpu_percent = (t1 - t0) as f64 / hz / fp.idle_seconds * 100.0;
        fp.idle_rss_mib = status_mib(pid, "VmRSS:").unwrap_or(f64::NAN);
        // Under a denied flood, as fast as one sender can go.
        let (src, dst) = s.addrs();
        let ep = Endpoints::new(&lab, 0, src, 1, dst).map_err(|e| e.to_string())?;
        let flood = Duration::from_secs(if cfg.quick { 1 } else { 10 });
        let before = link_stats(lab.gw(), s.gw_if(0)).map_err(|e| e.to_string())?;
        let t0 = cpu_ticks(pid).ok_or("agent exited")?;
        let sent = udp_flood(
            &ep,
            DENIED_PORT,
            20_000,
            4096,
            18,
            Budget {
                duration: flood,
                max_count: 100_000 * flood.as_secs() + 1,
            },
        )
        .map_err(|e| e.to_string())?;
        let t1 = cpu_ticks(pid).ok_or("agent exited during the flood")?;
        let after = link_stats(lab.gw(), s.gw_if(0)).map_err(|e| e.to_string())?;
        fp.flood_seconds = sent.elapsed.as_secs_f64();
        fp.flood_pps = (after.rx_packets - before.rx_packets) as f64 / fp.flood_seconds;
        fp.flood_cpu_percent = (t1 - t0) as f64 / hz / fp.flood_seconds * 100.0;
        fp.flood_rss_mib = status_mib(pid, "VmRSS:").unwrap_or(f64::NAN);
        fp.peak_rss_mib = status_mib(pid, "VmHWM:").unwrap_or(f64::NAN);
        drop(guard);
        Ok(fp)
    })();
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_harness_table() {
        let text = "apply (empty kernel): 40.1 ms wall (process), 30 ms inside the agent\n\
                    tamper (commit -> repair)         n    median       p99       max  missed\n\
                    insert accept rule              100     12.5ms     30.1ms     41.0ms       0\n\
                    flush ruleset                    99      9.0ms     20.0ms     25.5ms       1\n\
                    all kinds                       199     10.0ms     29.0ms     41.0ms\n\
                    agent resident memory while watching: 9.5 MiB\n";
        let rows = parse_tamper_table(text);
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!(rows[0].kind, "insert accept rule");
        assert_eq!(rows[0].n, 100);
        assert_eq!(rows[0].missed, Some(0));
        assert_eq!(rows[1].max_ms, 25.5);
        assert_eq!(rows[2].kind, "all kinds");
        assert_eq!(rows[2].missed, None);
    }
}
