//! The tamper step: an `accept` rule inserted at the top of our forward chain with `nft`, as an
//! intruder or a careless admin would, and the time until the agent has put the table back.
//!
//! Timing comes from the kernel's nftables notices in the gateway namespace: every committed
//! transaction ends with a NEWGEN message naming the generation and the writer's pid and
//! command, so the tamper's commit and the agent's restoring commit are both seen by the same
//! reader, and their difference is the tamper-to-restore time, independent of how fast the lab
//! itself polls. (The socket and parser are the agent's own; `nft monitor` in nft 1.0.6
//! misprints our interval maps and loses the generation lines.)

use crate::topo::IP;
use nix::sys::socket::SockProtocol;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zonegate_agent::netlink::nftables::{parse_into, Batch, InProgress};
use zonegate_agent::netlink::NlSocket;

/// NFNLGRP_NFTABLES as a multicast group bit.
const NFTABLES_GROUP: u32 = 1 << 6;

/// The rule the lab inserts.
pub const TAMPER_RULE: &str = "accept comment \"zonegate-lab tamper\"";
/// Absolute path of nft.
pub const NFT: &str = "/usr/sbin/nft";

/// A generation notice as text (`# new generation N by process PID (COMM)`, as `nft monitor`
/// prints it) with the moment it was read.
#[derive(Debug, Clone)]
pub struct Line {
    pub at: Instant,
    pub text: String,
}

/// A running listener for generation notices.
pub struct Monitor {
    stop: Arc<AtomicBool>,
    lines: Arc<Mutex<Vec<Line>>>,
}

impl Monitor {
    /// Subscribes inside `ns` and reads on a thread of its own.
    pub fn start(ns: &str) -> Result<Monitor, String> {
        let sock = zonegate_e2e::lab::try_in_ns(ns, || {
            let s = NlSocket::open(
                SockProtocol::NetlinkNetFilter,
                NFTABLES_GROUP,
                false,
                Some(Duration::from_millis(100)),
            )?;
            s.force_receive_buffer(16 << 20)?;
            Ok::<_, std::io::Error>(s)
        })
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("netlink: {e}"))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, done) = (lines.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            let mut txn = InProgress::default();
            while !done.load(Ordering::Relaxed) {
                let Ok(n) = sock.recv(&mut buf) else {
                    continue;
                };
                let at = Instant::now();
                let mut batch = Batch::default();
                parse_into(&buf[..n], false, &mut txn, &mut batch);
                if let Ok(mut v) = sink.lock() {
                    for g in batch.generations {
                        v.push(Line {
                            at,
                            text: format!(
                                "# new generation {} by process {} ({})",
                                g.id, g.pid, g.comm
                            ),
                        });
                    }
                }
            }
        });
        Ok(Monitor { stop, lines })
    }

    pub fn lines(&self) -> Vec<Line> {
        match self.lines.lock() {
            Ok(v) => v.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Waits for the generation committed by `pid`, then for the next generation by any other
    /// process; returns both lines.
    pub fn wait_tamper_and_restore(
        &self,
        pid: u32,
        timeout: Duration,
    ) -> (Option<Line>, Option<Line>) {
        let end = Instant::now() + timeout;
        let needle = format!(" by process {pid} ");
        loop {
            let lines = self.lines();
            let tamper = lines
                .iter()
                .position(|l| l.text.starts_with("# new generation") && l.text.contains(&needle));
            if let Some(i) = tamper {
                let restore = lines[i + 1..]
                    .iter()
                    .find(|l| l.text.starts_with("# new generation"))
                    .cloned();
                if restore.is_some() || Instant::now() > end {
                    return (Some(lines[i].clone()), restore);
                }
            } else if Instant::now() > end {
                return (None, None);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs `nft insert rule inet zonegate forward <TAMPER_RULE>` in `ns`; returns nft's pid (which
/// the monitor names as the writer) and whether it succeeded.
pub fn insert_accept(ns: &str) -> Result<u32, String> {
    let rule = format!("insert rule inet zonegate forward {TAMPER_RULE}");
    let child = Command::new(IP)
        .args(["netns", "exec", ns, NFT])
        .arg(&rule)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft: {e}"))?;
    // `ip netns exec` execs nft in the same process: the pid is nft's.
    let pid = child.id();
    let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(pid)
    } else {
        Err(format!(
            "nft {rule}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Our table as `nft -s` lists it (no counters), dynamic meter sets left out: what must be the
/// same before the tamper and after the restore.
pub fn table(ns: &str) -> Option<String> {
    let out = Command::new(IP)
        .args([
            "netns", "exec", ns, NFT, "-s", "list", "table", "inet", "zonegate",
        ])
        .output()
        .ok()?;
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

/// The first `n` rules of our forward chain, as nft lists them.
pub fn forward_head(ns: &str, n: usize) -> Vec<String> {
    let out = Command::new(IP)
        .args([
            "netns", "exec", ns, NFT, "-s", "list", "chain", "inet", "zonegate", "forward",
        ])
        .output();
    let Ok(out) = out else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("table") && !l.starts_with("chain"))
        .filter(|l| !l.starts_with("type ") && *l != "}")
        .take(n)
        .map(str::to_string)
        .collect()
}
