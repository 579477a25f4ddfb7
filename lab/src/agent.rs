//! `zonegate-agent run` inside the lab's gateway namespace, as systemd would run it: with
//! `NOTIFY_SOCKET` pointing at a socket of ours, so the lab sees `READY=1` exactly when the
//! agent says it enforces, and with `--events-stdout`, so every event it raises reaches the lab
//! as one JSON line (the same events the alert sinks get). Its log goes to `agent.log` in the
//! run directory. It is started with `ip netns exec`, which also gives it the namespace's /sys.

use crate::topo::IP;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One event as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub event: Value,
}

/// A running agent.
pub struct Agent {
    child: Child,
    events: Arc<Mutex<Vec<Received>>>,
    notify: UnixDatagram,
    pub started: Instant,
}

impl Agent {
    /// Starts the agent; does not wait for readiness.
    pub fn start(bin: &Path, gw_ns: &str, config: &Path, run_dir: &Path) -> Result<Agent, String> {
        let notify_path = run_dir.join("notify.sock");
        let _ = std::fs::remove_file(&notify_path);
        let notify = UnixDatagram::bind(&notify_path)
            .map_err(|e| format!("{}: {e}", notify_path.display()))?;
        let log = std::fs::File::create(run_dir.join("agent.log"))
            .map_err(|e| format!("agent.log: {e}"))?;
        let started = Instant::now();
        let mut child = Command::new(IP)
            .args(["netns", "exec", gw_ns])
            .arg(bin)
            .arg("--config")
            .arg(config)
            .args(["run", "--events-stdout"])
            .env("NOTIFY_SOCKET", &notify_path)
            .env("ZONEGATE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let _ = std::fs::write(run_dir.join("agent.pid"), child.id().to_string());
        let events = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            let sink = events.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(event) = serde_json::from_str::<Value>(&line) {
                        if let Ok(mut v) = sink.lock() {
                            v.push(Received { event });
                        }
                    }
                }
            });
        }
        Ok(Agent {
            child,
            events,
            notify,
            started,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for `READY=1` on the notify socket; returns the STATUS= text sent with it. Fails
    /// early if the agent exits.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<String, String> {
        let end = Instant::now() + timeout;
        let mut status = String::new();
        let mut buf = [0u8; 4096];
        let _ = self
            .notify
            .set_read_timeout(Some(Duration::from_millis(50)));
        loop {
            if let Ok(n) = self.notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let mut ready = false;
                for line in msg.lines() {
                    if line == "READY=1" {
                        ready = true;
                    } else if let Some(s) = line.strip_prefix("STATUS=") {
                        status = s.to_string();
                    }
                }
                if ready {
                    return Ok(status);
                }
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!("zonegate-agent exited ({st}) before it was ready"));
            }
            if Instant::now() > end {
                return Err(format!(
                    "zonegate-agent was not ready after {} s",
                    timeout.as_secs()
                ));
            }
        }
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Received> {
        match self.events.lock() {
            Ok(v) => v.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Number of events so far (a mark to wait for later ones).
    pub fn mark(&self) -> usize {
        self.events().len()
    }

    /// Waits until an event after `mark` satisfies `pred`.
    pub fn wait_event(
        &self,
        mark: usize,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Received> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(r) = self
                .events()
                .into_iter()
                .skip(mark)
                .find(|r| pred(&r.event))
            {
                return Some(r);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether the process still runs.
    /// Stops the agent (SIGKILL: the lab namespace goes away with its ruleset anyway).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Leaves the agent running after the lab exits (`--keep`).
    pub fn detach(self) -> u32 {
        let pid = self.child.id();
        std::mem::forget(self.child);
        pid
    }
}

/// The agent binary: `--agent`, else `zonegate-agent` next to this executable.
pub fn find_bin(given: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return Ok(p);
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let bin = exe
        .parent()
        .map(|d| d.join("zonegate-agent"))
        .ok_or("no directory for the agent binary")?;
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is missing: build it with `cargo build --release -p zonegate-agent`",
            bin.display()
        ))
    }
}

/// One line for an event: `[severity] name: the interesting fields`.
pub fn summary(event: &Value) -> String {
    let name = event["event"].as_str().unwrap_or("?");
    let severity = event["severity"].as_str().unwrap_or("?");
    match name {
        "drift-detected" => {
            let writer = match (
                event["writer"]["comm"].as_str(),
                event["writer"]["pid"].as_u64(),
            ) {
                (Some(comm), Some(pid)) => format!(" (written by {comm}, pid {pid})"),
                _ => String::new(),
            };
            return format!(
                "[{severity}] {name}: {}{writer}; {}",
                event["summary"].as_str().unwrap_or("?"),
                if event["repairing"] == true {
                    "repairing"
                } else {
                    "not repairing"
                }
            );
        }
        "drift-restored" => {
            return format!(
                "[{severity}] {name}: {} restore(s), burst over after {} ms",
                event["restores"], event["burst_ms"]
            );
        }
        _ => {}
    }
    let mut fields = Vec::new();
    if let Some(obj) = event.as_object() {
        for (k, v) in obj {
            if matches!(
                k.as_str(),
                "event" | "severity" | "id" | "time" | "gateway" | "conntrack"
            ) {
                continue;
            }
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Array(a) if a.is_empty() => continue,
                Value::Null => continue,
                other => other.to_string(),
            };
            let text = if text.chars().count() > 100 {
                format!("{}…", text.chars().take(100).collect::<String>())
            } else {
                text
            };
            fields.push(format!("{k}={text}"));
        }
    }
    format!("[{severity}] {name}: {}", fields.join(" "))
}
