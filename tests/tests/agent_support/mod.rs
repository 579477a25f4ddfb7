//! Shared pieces of the agent end-to-end tests (included by each `agent_*.rs` file): a
//! three-segment lab with the agent's test policy, the `zonegate-agent` binary run inside the
//! gateway namespace with `ip netns exec` (so it sees the namespace's /sys and /proc like a
//! real gateway), its JSON event stream collected from stdout, and tamper helpers.
//!
//! The binary is `ZONEGATE_AGENT_BIN` if set, else `zonegate-agent` next to the test's own
//! target directory (`cargo test --workspace` builds it: the agent package has integration
//! tests, which makes cargo build its binary first).
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use zonegate_e2e::lab::{require_root, Lab, LabSpec, SegmentSpec, IP};

pub mod receivers;

/// The test policy: hosts ha (zone a, ens3) and hb (zone b, ens4); F-1 lets ha reach hb on
/// tcp/7000-7001; M-1 lets hb manage the gateway on tcp/22; zone c (ens5) may reach nothing.
pub const POLICY: &str = r#"version = 1
[policy]
name = "agent-e2e"
revision = "r1"
profile = "none"
timezone = "Asia/Tokyo"
log = { group = 100, rate = "20/second", burst = 50 }

[zones.a]
networks = ["10.10.0.0/24"]
[zones.b]
networks = ["10.20.0.0/24"]
[zones.c]
networks = ["10.30.0.0/24"]

[hosts.ha]
zone = "a"
addresses = ["10.10.0.5"]
[hosts.hb]
zone = "b"
addresses = ["10.20.0.5"]

[[flow]]
id = "F-1"
from = "ha"
to = "hb"
ports = ["tcp/7000-7001"]
purpose = "e2e"
approved_by = "test"

[[flow]]
id = "M-1"
from = "hb"
to = "gateway"
ports = ["tcp/22"]
purpose = "management"
approved_by = "test"

[gateways.gw1]
interfaces = { a = ["ens3"], b = ["ens4"], c = ["ens5"] }
"#;

pub const HA: &str = "10.10.0.5";
pub const HB: &str = "10.20.0.5";
pub const HC: &str = "10.30.0.5";
pub const OK: Duration = Duration::from_millis(1500);
pub const BLOCKED: Duration = Duration::from_millis(400);

static N: AtomicU32 = AtomicU32::new(0);

pub fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().expect("address"), port)
}

/// The agent binary.
pub fn agent_bin() -> PathBuf {
    if let Ok(p) = std::env::var("ZONEGATE_AGENT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/agent_x-hash -> target/<profile>/zonegate-agent
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("zonegate-agent"))
        .expect("target directory");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p zonegate-agent` (or set ZONEGATE_AGENT_BIN)",
        bin.display()
    );
    bin
}

/// A lab, a temporary directory with agent.toml and the policy, and helpers.
pub struct Gw {
    pub lab: Lab,
    pub dir: PathBuf,
}

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn spec() -> LabSpec {
    LabSpec {
        segments: vec![
            SegmentSpec::new("ens3", &["10.10.0.1/24"], &["10.10.0.5/24"]),
            SegmentSpec::new("ens4", &["10.20.0.1/24"], &["10.20.0.5/24"]),
            SegmentSpec::new("ens5", &["10.30.0.1/24"], &["10.30.0.5/24"]),
        ],
    }
}

impl Gw {
    /// None (after a loud SKIPPED banner) without root.
    pub fn up(policy: &str, extra_config: &str) -> Option<Gw> {
        Gw::up_with(&spec(), policy, extra_config)
    }

    /// [`Gw::up`] on another lab topology.
    pub fn up_with(spec: &LabSpec, policy: &str, extra_config: &str) -> Option<Gw> {
        if !require_root() {
            return None;
        }
        let lab = Lab::up(spec).expect("lab up");
        let dir = std::env::temp_dir().join(format!(
            "zg-agent-e2e-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let gw = Gw { lab, dir };
        gw.write_policy(policy);
        gw.write_config(extra_config);
        Some(gw)
    }

    pub fn policy_path(&self) -> PathBuf {
        self.dir.join("zones.toml")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("agent.toml")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Writes agent.toml; `extra` lines are appended (`policy` and `check_interval` in them
    /// replace the defaults; nothing else may be given twice).
    pub fn write_config(&self, extra: &str) {
        let mut text = format!(
            "gateway = \"gw1\"\nstate_dir = \"{}\"\nstatus_socket = \"{}\"\n",
            self.state_dir().display(),
            self.dir.join("agent.sock").display()
        );
        if !extra.contains("check_interval =") {
            text.push_str("check_interval = \"2s\"\n");
        }
        if !extra.contains("policy =") {
            text.push_str(&format!("policy = \"{}\"\n", self.policy_path().display()));
        }
        text.push_str(extra);
        std::fs::write(self.config_path(), text).expect("agent.toml");
    }

    /// Replaces the policy atomically (write + rename, like an editor's safe save).
    pub fn write_policy(&self, text: &str) {
        let tmp = self.dir.join(".zones.toml.tmp");
        std::fs::write(&tmp, text).expect("policy");
        std::fs::rename(&tmp, self.policy_path()).expect("rename policy");
    }

    /// Runs `zonegate-agent --config agent.toml ARGS` in the gateway namespace.
    pub fn agent(&self, args: &[&str]) -> Output {
        self.agent_env(args, &[])
    }

    /// [`Gw::agent`] with extra environment variables (`SSH_CONNECTION`, ...).
    pub fn agent_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let bin = agent_bin();
        let mut all = vec!["netns", "exec", self.lab.gw()];
        let bin_s = bin.display().to_string();
        let cfg = self.config_path().display().to_string();
        all.push(&bin_s);
        all.push("--config");
        all.push(&cfg);
        all.extend_from_slice(args);
        Command::new(IP)
            .args(&all)
            .env("ZONEGATE_LOG", "info")
            .env_remove("SSH_CONNECTION")
            .envs(env.iter().copied())
            .output()
            .expect("run zonegate-agent")
    }

    /// `agent(args)` that must exit with `code`; returns stdout.
    pub fn agent_ok(&self, args: &[&str], code: i32) -> String {
        let out = self.agent(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "zonegate-agent {args:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `zonegate-agent run --events-stdout` and waits until it watches (first heartbeat).
    pub fn run(&self) -> Running {
        let bin = agent_bin();
        let stderr = std::fs::File::create(
            self.dir
                .join(format!("agent-{}.err", N.fetch_add(1, Ordering::Relaxed))),
        )
        .expect("stderr file");
        let mut child = Command::new(IP)
            .args(["netns", "exec", self.lab.gw()])
            .arg(&bin)
            .arg("--config")
            .arg(self.config_path())
            .args(["run", "--events-stdout"])
            .env("ZONEGATE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn zonegate-agent run");
        let events = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout");
        let sink = events.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().expect("events").push(v);
                }
            }
        });
        let r = Running { child, events };
        r.wait_for("heartbeat", Duration::from_secs(10))
            .expect("the agent did not start watching");
        r
    }

    /// `nft ARGS` in the gateway namespace; panics on failure.
    pub fn nft(&self, args: &[&str]) -> String {
        self.lab
            .nft_ok(self.lab.gw(), args, None)
            .unwrap_or_else(|e| panic!("nft {args:?}: {e}"))
    }

    pub fn nft_stdin(&self, text: &str) -> String {
        self.lab
            .nft_ok(self.lab.gw(), &["-f", "-"], Some(text))
            .unwrap_or_else(|e| panic!("nft -f: {e}"))
    }

    /// Our table as nft lists it (stateless), with the sets that packets fill left out (the log
    /// meters and the per-key count tables).
    pub fn table(&self) -> Option<String> {
        let out = self.lab.nft(
            self.lab.gw(),
            &["-s", "list", "table", "inet", "zonegate"],
            None,
        );
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut kept = Vec::new();
        let mut skip = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with("set ") && (t.contains("meter") || t.contains("denykeys")) {
                skip = true;
            }
            if !skip {
                kept.push(line);
            }
            if skip && t == "}" {
                skip = false;
            }
        }
        Some(kept.join("\n"))
    }

    /// The whole ruleset, byte for byte.
    pub fn ruleset(&self) -> String {
        self.nft(&["list", "ruleset"])
    }

    /// Waits until our table equals `want` (None: missing).
    pub fn wait_table(&self, want: &Option<String>, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if &self.table() == want {
                return true;
            }
            if Instant::now() > end {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A running `zonegate-agent run`.
pub struct Running {
    pub child: Child,
    pub events: Arc<Mutex<Vec<Value>>>,
}

impl Running {
    pub fn all(&self) -> Vec<Value> {
        self.events.lock().expect("events").clone()
    }

    pub fn named(&self, name: &str) -> Vec<Value> {
        self.all()
            .into_iter()
            .filter(|e| e["event"] == name)
            .collect()
    }

    /// Waits for the next event named `name` counting from now... or any already seen when
    /// `name` has not been seen before; returns it.
    pub fn wait_for(&self, name: &str, timeout: Duration) -> Option<Value> {
        self.wait_until(timeout, |evs| {
            evs.iter().rev().find(|e| e["event"] == name).cloned()
        })
    }

    /// Waits until `n` events named `name` exist.
    pub fn wait_count(&self, name: &str, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |evs| {
            (evs.iter().filter(|e| e["event"] == name).count() >= n).then_some(())
        })
        .is_some()
    }

    pub fn wait_until<T>(&self, timeout: Duration, f: impl Fn(&[Value]) -> Option<T>) -> Option<T> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(t) = f(&self.all()) {
                return Some(t);
            }
            if Instant::now() > end {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("/bin/kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{sig}");
    }

    /// SIGKILL (no clean-up of any kind) and reap.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn stop(mut self) -> Option<i32> {
        self.signal("TERM");
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn dump(&self) -> String {
        self.all()
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes half of `text` into the policy file in place and keeps it open (an editor or scp
/// caught mid-write); returns the open file.
pub fn start_slow_write(path: &Path, text: &str, upto: usize) -> std::fs::File {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .expect("open policy");
    f.write_all(&text.as_bytes()[..upto]).expect("write half");
    f.flush().expect("flush");
    f
}
