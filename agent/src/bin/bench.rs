//! zonegate-agent-bench: tamper-to-repair latency and apply time, measured against the real
//! agent binary in a network namespace of its own (root needed; not a test).
//!
//! For each tamper kind it runs `nft` N times inside the namespace and measures, from netlink
//! NEWGEN notices received by a listener inside the namespace, the time from the tamper's
//! commit to the agent's repair commit. Prints median, p99 and max per kind, the apply time
//! (`zonegate-agent apply`, wall clock and the agent's own measure) and the agent's resident
//! memory while watching.
//!
//! ```text
//! cargo build --release -p zonegate-agent
//! target/release/zonegate-agent-bench                      # bundled zones.toml, 100 tampers per kind
//! target/release/zonegate-agent-bench --gap-ms 1200 --tampers 20   # each tamper starts a burst
//! target/release/zonegate-agent-bench --hosts 10000 --flows 1000 --tampers 100
//! ```

use nix::sched::{setns, CloneFlags};
use nix::sys::socket::SockProtocol;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zonegate_agent::netlink::nftables::{parse_into, Batch, InProgress};
use zonegate_agent::netlink::NlSocket;

const IP: &str = "/usr/sbin/ip";
const NFT: &str = "/usr/sbin/nft";

struct Options {
    policy: Option<PathBuf>,
    hosts: Option<usize>,
    flows: usize,
    tampers: usize,
    /// Pause after each repair. Under 1 s the tampers form one burst and most repairs take the
    /// mid-burst path (no listing first); over 1 s each is the first of its burst.
    gap: Duration,
    agent: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: zonegate-agent-bench [--policy FILE | --hosts N [--flows M]] [--tampers N] [--gap-ms MS] [--agent PATH]"
    );
    std::process::exit(1)
}

fn options() -> Options {
    let mut o = Options {
        policy: None,
        hosts: None,
        flows: 1000,
        tampers: 100,
        gap: Duration::from_millis(30),
        agent: std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("zonegate-agent")))
            .unwrap_or_else(|| PathBuf::from("zonegate-agent")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--policy" => o.policy = Some(PathBuf::from(val())),
            "--hosts" => o.hosts = Some(val().parse().unwrap_or_else(|_| usage())),
            "--flows" => o.flows = val().parse().unwrap_or_else(|_| usage()),
            "--tampers" => o.tampers = val().parse().unwrap_or_else(|_| usage()),
            "--agent" => o.agent = PathBuf::from(val()),
            "--gap-ms" => o.gap = Duration::from_millis(val().parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
    }
    o
}

/// Deletes the namespace and the temporary directory.
struct Guard {
    ns: String,
    dir: PathBuf,
    agent: Option<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.agent.take() {
            let _ = Command::new("/bin/kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
        let _ = Command::new(IP).args(["netns", "del", &self.ns]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Generation notices from inside the namespace, with their arrival time.
fn listen(ns: &str) -> Result<mpsc::Receiver<(Instant, u32, u32)>, String> {
    let handle = std::fs::File::open(format!("/run/netns/{ns}")).map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Err(e) = setns(&handle, CloneFlags::CLONE_NEWNET) {
            let _ = ready_tx.send(Err(format!("setns: {e}")));
            return;
        }
        let sock = match NlSocket::open(SockProtocol::NetlinkNetFilter, 1 << 6, false, None) {
            Ok(s) => s,
            Err(e) => {
                let _ = ready_tx.send(Err(format!("netlink: {e}")));
                return;
            }
        };
        let _ = sock.force_receive_buffer(16 << 20);
        let _ = ready_tx.send(Ok(()));
        let mut buf = vec![0u8; 1 << 20];
        let mut txn = InProgress::default();
        loop {
            let n = match sock.recv(&mut buf) {
                Ok(n) => n,
                Err(_) => continue,
            };
            let at = Instant::now();
            let mut batch = Batch::default();
            parse_into(&buf[..n], false, &mut txn, &mut batch);
            for g in batch.generations {
                if tx.send((at, g.id, g.pid)).is_err() {
                    return;
                }
            }
        }
    });
    ready_rx.recv().map_err(|e| e.to_string()).and_then(|r| r)?;
    Ok(rx)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A `/proc/PID/status` figure in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn main() -> ExitCode {
    match bench(options()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zonegate-agent-bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn bench(o: Options) -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root (network namespaces, nft)".into());
    }
    if !o.agent.exists() {
        return Err(format!(
            "{} not found: cargo build --release -p zonegate-agent, or --agent PATH",
            o.agent.display()
        ));
    }
    let ns = format!("zgbench{}", std::process::id());
    let dir = std::env::temp_dir().join(&ns);
    let mut guard = Guard {
        ns: ns.clone(),
        dir: dir.clone(),
        agent: None,
    };
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    run(IP, &["netns", "add", &ns])?;
    let policy_text = match (&o.policy, o.hosts) {
        (Some(p), _) => std::fs::read_to_string(p).map_err(|e| e.to_string())?,
        (None, Some(hosts)) => {
            zonegate_policy::generate::policy(zonegate_policy::generate::Shape {
                hosts,
                flows: o.flows,
                group_size: 16,
            })
        }
        (None, None) => {
            let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones.toml");
            std::fs::read_to_string(&bundled).map_err(|e| format!("{}: {e}", bundled.display()))?
        }
    };
    let policy = dir.join("zones.toml");
    std::fs::write(&policy, policy_text).map_err(|e| e.to_string())?;
    let cfg = dir.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "policy = \"{}\"\ngateway = \"gw1\"\nstate_dir = \"{}\"\nstatus_socket = \"{}\"\ncheck_interval = \"60s\"\nmax_restores_per_minute = 1000000\n",
            policy.display(),
            dir.join("state").display(),
            dir.join("agent.sock").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let agent = o.agent.display().to_string();
    let cfg_s = cfg.display().to_string();
    let in_ns = |args: &[&str]| -> Command {
        let mut c = Command::new(IP);
        c.args(["netns", "exec", &ns]).args(args);
        c
    };

    // Apply time: a fresh load, then a replace of the same table.
    for label in ["apply (empty kernel)", "apply (replace)"] {
        let t0 = Instant::now();
        let out = in_ns(&[&agent, "--config", &cfg_s, "apply", "--events-stdout"])
            .env("ZONEGATE_LOG", "warn")
            .output()
            .map_err(|e| e.to_string())?;
        let wall = t0.elapsed();
        if !out.status.success() {
            return Err(format!(
                "apply failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let inner = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["event"] == "policy-applied")
            .and_then(|v| v["duration_ms"].as_u64());
        println!(
            "{label}: {:.1} ms wall (process), {} ms inside the agent (nft -c, load, read-back, LKG, conntrack)",
            wall.as_secs_f64() * 1000.0,
            inner.map(|v| v.to_string()).unwrap_or_else(|| "?".into())
        );
    }

    let gens = listen(&ns)?;
    let mut child = in_ns(&[&agent, "--config", &cfg_s, "run", "--events-stdout"])
        .env("ZONEGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let agent_pid = child.id();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    guard.agent = Some(child);
    let (ev_tx, ev_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = ev_tx.send(line);
        }
    });
    let start = Instant::now();
    loop {
        match ev_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) if l.contains("\"heartbeat\"") => break,
            Ok(_) => {}
            Err(_) => return Err("the agent did not start".into()),
        }
    }
    println!(
        "agent watching after {:.0} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );

    let kinds: &[(&str, &[&str])] = &[
        (
            "insert accept rule",
            &[
                "insert",
                "rule",
                "inet",
                "zonegate",
                "forward",
                "ip",
                "saddr",
                "10.99.0.1",
                "accept",
            ],
        ),
        (
            "add set element",
            &[
                "add",
                "element",
                "inet",
                "zonegate",
                "zone_ifaces",
                "{",
                "\"evil0\"",
                "}",
            ],
        ),
        (
            "delete set element",
            &[
                "delete",
                "element",
                "inet",
                "zonegate",
                "zone_ifaces",
                "{",
                "\"ens3\"",
                "}",
            ],
        ),
        (
            "delete rules (flush chain)",
            &["flush", "chain", "inet", "zonegate", "antispoof"],
        ),
        (
            "chain policy accept",
            &[
                "chain", "inet", "zonegate", "forward", "{", "policy", "accept", ";", "}",
            ],
        ),
        ("delete table", &["delete", "table", "inet", "zonegate"]),
        ("flush ruleset", &["flush", "ruleset"]),
    ];
    let mut all = Vec::new();
    println!(
        "{:<28} {:>6} {:>9} {:>9} {:>9} {:>7}",
        "tamper (commit -> repair)", "n", "median", "p99", "max", "missed"
    );
    for (name, args) in kinds {
        let mut lat = Vec::new();
        let mut missed = 0;
        for _ in 0..o.tampers {
            while gens.try_recv().is_ok() {}
            let tamper = in_ns(&[NFT])
                .args(*args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| e.to_string())?;
            let tamper_pid = tamper.id();
            let mut tamper = tamper;
            let _ = tamper.wait();
            let deadline = Instant::now() + Duration::from_secs(3);
            let mut t0 = None;
            let mut repaired = false;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                let Ok((at, _id, pid)) = gens.recv_timeout(left) else {
                    break;
                };
                match t0 {
                    None if pid == tamper_pid => t0 = Some(at),
                    Some(t) if pid != tamper_pid => {
                        lat.push((at - t).as_secs_f64() * 1000.0);
                        repaired = true;
                        break;
                    }
                    _ => {}
                }
            }
            if !repaired {
                missed += 1;
            }
            // Let the agent finish its read-back and conntrack upkeep before the next tamper.
            std::thread::sleep(o.gap);
            while ev_rx.try_recv().is_ok() {}
        }
        lat.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{:<28} {:>6} {:>7.1}ms {:>7.1}ms {:>7.1}ms {:>7}",
            name,
            lat.len(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or(f64::NAN),
            missed
        );
        all.extend(lat);
    }
    all.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{:<28} {:>6} {:>7.1}ms {:>7.1}ms {:>7.1}ms",
        "all kinds",
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or(f64::NAN)
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    if let Some(kib) = status_kib(agent_pid, "VmRSS") {
        println!(
            "agent resident memory right after the last repair: {:.1} MiB",
            mib(kib)
        );
    }
    // The burst ends a second after the last repair; the agent then checks the table and gives
    // back the heap of its listings.
    std::thread::sleep(Duration::from_millis(2500));
    match (
        status_kib(agent_pid, "VmRSS"),
        status_kib(agent_pid, "VmHWM"),
    ) {
        (Some(rss), Some(hwm)) => println!(
            "agent resident memory while watching: {:.1} MiB (peak since start {:.1} MiB)",
            mib(rss),
            mib(hwm)
        ),
        _ => println!("agent resident memory: unknown"),
    }
    Ok(())
}
