//! `zonegate-lab`: the lab demo behind `scripts/lab.sh`. Builds the bundled zones.toml's gateway
//! in network namespaces (a gateway plus one namespace per zone, hosts with the policy's
//! addresses), starts `zonegate-agent run` in the gateway in enforce mode, and shows three
//! things as a person wants to read them: the reachability matrix measured with real
//! connections next to what the policy says, a tamper repaired (with the measured time), and a
//! denied attempt from the My Number domain with the alert it raised. Then it tears everything
//! down, also on Ctrl-C, unless `--keep`.
//!
//! Exit status: 0 every check held, 1 a check failed, 2 the lab could not be set up. `--ci`
//! prints plain text and treats a missing agent as a failure rather than a warning.

mod agent;
#[cfg(test)]
mod init_check;
mod matrix;
mod tamper;
mod topo;
mod ui;

use agent::Agent;
use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use topo::Topology;
use ui::Ui;
use zonegate_policy::explain::{explain, Packet, Query, Reason, Target};
use zonegate_policy::{Date, Policy};

/// Where a lab keeps its files (policy copy, agent.toml, state, agent log); removed at teardown.
const RUN_DIR: &str = "/run/zonegate-lab";
/// The denied attempt the lab shows: a My Number host tries a host of the internet domain.
const DENIED_FROM_ZONE: &str = "mynumber";
const DENIED_TO_ZONE: &str = "internet";
const DENIED_PORT: u16 = 3389;

#[derive(Parser)]
#[command(
    name = "zonegate-lab",
    about = "The zonegate lab: the bundled policy's gateway in network namespaces, with the agent enforcing it",
    after_help = "Run it through scripts/lab.sh, which builds everything and installs missing packages first."
)]
struct Args {
    /// The policy to build the lab from.
    #[arg(long, default_value = "zones.toml")]
    policy: PathBuf,
    /// The gateway of the policy to build (default: the first one).
    #[arg(long)]
    gateway: Option<String>,
    /// The zonegate-agent binary (default: next to this program).
    #[arg(long)]
    agent: Option<PathBuf>,
    /// Leave the lab running afterwards, and print how to enter each namespace.
    #[arg(long)]
    keep: bool,
    /// Remove a lab left by `--keep` (or by a killed run) and exit.
    #[arg(long)]
    down: bool,
    /// Non-interactive: plain output, and a missing agent fails the run.
    #[arg(long)]
    ci: bool,
    /// List every probe, not only the matrix.
    #[arg(long, short)]
    verbose: bool,
    /// How long to wait for the denied-attempt alert (seconds).
    #[arg(long, default_value_t = 20)]
    alert_timeout: u64,
}

/// What must be undone, also from the signal thread.
#[derive(Default)]
struct Cleanup {
    namespaces: Vec<String>,
    agent_pid: Option<u32>,
    armed: bool,
}

static CLEANUP: Mutex<Cleanup> = Mutex::new(Cleanup {
    namespaces: Vec::new(),
    agent_pid: None,
    armed: false,
});

fn with_cleanup(f: impl FnOnce(&mut Cleanup)) {
    match CLEANUP.lock() {
        Ok(mut c) => f(&mut c),
        Err(p) => f(&mut p.into_inner()),
    }
}

/// Kills the agent, deletes the namespaces and the run directory.
fn run_cleanup() {
    with_cleanup(|c| {
        if !c.armed {
            return;
        }
        if let Some(pid) = c.agent_pid.take() {
            kill(pid);
        }
        let _ = topo::delete_namespaces(&c.namespaces);
        let _ = std::fs::remove_dir_all(RUN_DIR);
        c.armed = false;
    });
}

fn kill(pid: u32) {
    let _ = Command::new("/bin/kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status();
}

/// Ctrl-C, SIGTERM and SIGHUP tear the lab down and exit 130. Handlers, not a blocked signal
/// mask: a mask would be inherited by the agent we spawn.
fn install_signal_thread() {
    std::thread::spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut hup)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
        });
        ui::say("");
        ui::say("interrupted: tearing the lab down");
        run_cleanup();
        std::process::exit(130);
    });
}

fn main() -> ExitCode {
    let args = Args::parse();
    let ui = Ui::new(args.ci);
    install_signal_thread();
    match run(&args, &ui) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            ui.warn(&format!("the lab could not run: {e}"));
            run_cleanup();
            ExitCode::from(2)
        }
    }
}

/// Removes what an earlier lab left (kept, or killed).
fn remove_old_lab(ui: &Ui) {
    let old = topo::existing();
    let pid = std::fs::read_to_string(Path::new(RUN_DIR).join("agent.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    if old.is_empty() && pid.is_none() {
        return;
    }
    ui.step(&format!(
        "removing the lab left by an earlier run ({})",
        if old.is_empty() {
            "its agent".to_string()
        } else {
            old.join(", ")
        }
    ));
    if let Some(pid) = pid {
        // Only if it is still our agent: a pid may have been reused.
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "zonegate-agent" {
            kill(pid);
        }
    }
    let _ = topo::delete_namespaces(&old);
    let _ = std::fs::remove_dir_all(RUN_DIR);
}

/// Today's date in the policy's time zone (expiry is evaluated for it, as the agent does).
fn today_in(tz: &str) -> Option<Date> {
    let out = Command::new("/bin/date")
        .arg("+%F")
        .env("TZ", tz)
        .output()
        .ok()?;
    Date::parse(String::from_utf8_lossy(&out.stdout).trim())
}

fn load_policy(path: &Path) -> Result<(Policy, String), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = path.display().to_string();
    let first = zonegate_policy::validate(&name, &text, None);
    let tz = first
        .policy
        .as_ref()
        .map(|p| p.timezone.clone())
        .unwrap_or_else(|| "UTC".into());
    let checked = zonegate_policy::validate(&name, &text, today_in(&tz));
    match checked.policy {
        Some(p) => Ok((p, text)),
        None => Err(format!(
            "{} does not validate:\n{}",
            path.display(),
            checked.diagnostics.render_text()
        )),
    }
}

fn run(args: &Args, ui: &Ui) -> Result<bool, String> {
    if !zonegate_e2e::lab::require_root() {
        return Err("the lab needs root (network namespaces, nft)".into());
    }
    remove_old_lab(ui);
    if args.down {
        ui.step("no lab is running now");
        return Ok(true);
    }

    // 1. The policy and the plan.
    let (policy, text) = load_policy(&args.policy)?;
    let gateway = match &args.gateway {
        Some(g) => g.clone(),
        None => policy
            .gateways
            .keys()
            .next()
            .cloned()
            .ok_or("the policy declares no gateway")?,
    };
    let topo = Topology::from_policy(&policy, &gateway)?;
    let probes = matrix::plan(&policy, &topo)?;
    ui.step(&format!(
        "policy {} revision {}: {} zones, {} hosts, {} active flows; lab for gateway {}",
        policy.name,
        policy.revision,
        policy.zones.len(),
        policy.hosts.len(),
        policy.active_flows().count(),
        gateway
    ));

    // 2. The namespaces.
    with_cleanup(|c| {
        c.namespaces = topo.namespaces();
        c.armed = true;
    });
    let run_dir = PathBuf::from(RUN_DIR);
    std::fs::create_dir_all(run_dir.join("state")).map_err(|e| format!("{RUN_DIR}: {e}"))?;
    ui.step(&format!(
        "creating {} network namespaces: gateway {} and one per zone",
        topo.segments.len() + 1,
        topo.gw_ns
    ));
    let t = Instant::now();
    topo.build()?;
    ui.detail(&topo.describe());
    ui.detail(&ui.dim(&format!("(up in {} ms)", t.elapsed().as_millis())));

    // 3. The agent.
    let policy_path = run_dir.join("zones.toml");
    std::fs::write(&policy_path, &text).map_err(|e| format!("{}: {e}", policy_path.display()))?;
    let config = run_dir.join("agent.toml");
    std::fs::write(&config, agent_toml(&run_dir, &policy_path, &gateway))
        .map_err(|e| format!("{}: {e}", config.display()))?;
    let mut checks = Checks::default();
    let mut agent = start_agent(args, ui, &topo, &config, &run_dir, &text, &mut checks)?;

    // 4. The matrix.
    let listeners = matrix::listen(&probes)?;
    ui.step(&format!(
        "measuring reachability with real connections: {} probes (TCP, UDP, ICMP; IPv4 and IPv6)",
        probes.len()
    ));
    let t = Instant::now();
    let results = matrix::measure(&probes);
    let took = t.elapsed();
    ui.detail(&matrix::render(ui, &topo, &results));
    ui.detail(&ui.dim(
        "✓ flows measured open, as the policy permits   · all tried closed, as the policy says   — same zone",
    ));
    let bad: Vec<&matrix::Measured> = results.iter().filter(|m| !m.as_intended()).collect();
    let allowed = results.iter().filter(|m| m.probe.expect).count();
    if args.verbose {
        for m in &results {
            ui.detail(&format!(
                "{} {} ({}, policy: {})",
                if m.reached { "open  " } else { "closed" },
                m.probe.describe(),
                if m.as_intended() {
                    "as intended"
                } else {
                    "DIFFERS"
                },
                m.probe.why
            ));
        }
    }
    if bad.is_empty() {
        ui.pass(&format!(
            "all as intended: {} connections allowed and {} denied exactly as zones.toml says ({:.1} s)",
            allowed,
            results.len() - allowed,
            took.as_secs_f64()
        ));
    } else {
        for m in &bad {
            ui.fail(&format!(
                "{}: measured {}, the policy says {} ({})",
                m.probe.describe(),
                if m.reached { "open" } else { "closed" },
                if m.probe.expect { "open" } else { "closed" },
                m.probe.why
            ));
        }
    }
    checks.add("matrix as intended", bad.is_empty());

    // 5. Tamper.
    tamper_step(ui, &topo, agent.as_ref(), &mut checks)?;

    // 6. The denied attempt.
    denied_step(args, ui, &policy, &topo, agent.as_ref(), &mut checks)?;
    drop(listeners);

    // 7. Summary and teardown.
    let ok = checks.report(ui);
    if args.keep {
        keep(ui, &topo, agent.take());
        with_cleanup(|c| c.armed = false);
    } else {
        ui.step("tearing the lab down");
        if let Some(a) = agent.as_mut() {
            a.stop();
        }
        with_cleanup(|c| c.agent_pid = None);
        run_cleanup();
        let left = topo::existing();
        if left.is_empty() {
            ui.detail("all namespaces, the agent and its files are gone");
        } else {
            ui.fail(&format!("namespaces left behind: {}", left.join(", ")));
            return Ok(false);
        }
    }
    Ok(ok)
}

/// The lab agent's JSON-lines alert sink, inside the run directory.
const ALERTS_FILE: &str = "alerts.jsonl";

/// Waits for an alert line in the lab's file sink that `pred` accepts.
fn wait_alert(
    run_dir: &Path,
    timeout: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> Option<serde_json::Value> {
    let end = std::time::Instant::now() + timeout;
    loop {
        if let Ok(text) = std::fs::read_to_string(run_dir.join(ALERTS_FILE)) {
            if let Some(v) = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|v| pred(v))
            {
                return Some(v);
            }
        }
        if std::time::Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// agent.toml of the lab.
fn agent_toml(run_dir: &Path, policy: &Path, gateway: &str) -> String {
    format!(
        "# zonegate-agent configuration of the lab (written by zonegate-lab)\n\
         policy = \"{}\"\n\
         gateway = \"{gateway}\"\n\
         mode = \"enforce\"\n\
         state_dir = \"{}\"\n\
         status_socket = \"{}\"\n\
         check_interval = \"5s\"\n\
         \n\
         # The security team's view: every alert as a JSON line (the lab reads it back).\n\
         [alerts]\n\
         heartbeat_secs = 60\n\
         # The matrix probes every zone from each host, which a gateway would rightly call a scan\n\
         # and fold into summaries; the demo wants each attempt's own alert at once, and short\n\
         # windows so summaries arrive while you watch.\n\
         [alerts.denied_flows]\n\
         window_secs = 5\n\
         first_alerts_per_source = 1000\n\
         scan_threshold = 1000\n\
         alerts_per_minute = 6000\n\
         sensitive_alerts_per_minute = 6000\n\
         [[alerts.sinks]]\n\
         kind = \"file\"\n\
         path = \"{}\"\n",
        policy.display(),
        run_dir.join("state").display(),
        run_dir.join("agent.sock").display(),
        run_dir.join(ALERTS_FILE).display(),
    )
}

/// Starts the agent and waits for READY=1. Without a working agent the lab loads the compiled
/// ruleset itself so the matrix can still be measured, and the agent's checks fail.
fn start_agent(
    args: &Args,
    ui: &Ui,
    topo: &Topology,
    config: &Path,
    run_dir: &Path,
    text: &str,
    checks: &mut Checks,
) -> Result<Option<Agent>, String> {
    ui.step(&format!(
        "starting zonegate-agent in {} (mode enforce)",
        topo.gw_ns
    ));
    let started = agent::find_bin(args.agent.clone()).and_then(|bin| {
        let mut a = Agent::start(&bin, &topo.gw_ns, config, run_dir)?;
        with_cleanup(|c| c.agent_pid = Some(a.pid()));
        match a.wait_ready(Duration::from_secs(30)) {
            Ok(status) => Ok((a, status)),
            Err(e) => {
                a.stop();
                with_cleanup(|c| c.agent_pid = None);
                let log = std::fs::read_to_string(run_dir.join("agent.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                Err(format!("{e}\n{}", tail.join("\n")))
            }
        }
    });
    match started {
        Ok((a, status)) => {
            let applied = a
                .events()
                .into_iter()
                .find(|r| r.event["event"] == "policy-applied")
                .map(|r| {
                    format!(
                        ", policy revision {} applied (ruleset sha256 {}…)",
                        r.event["revision"].as_str().unwrap_or("?"),
                        r.event["ruleset_sha256"]
                            .as_str()
                            .unwrap_or("?")
                            .get(..12)
                            .unwrap_or("?")
                    )
                })
                .unwrap_or_default();
            ui.pass(&format!(
                "READY after {} ms{applied}{}",
                a.started.elapsed().as_millis(),
                if status.is_empty() {
                    String::new()
                } else {
                    format!(": \"{status}\"")
                }
            ));
            checks.add("agent ready", true);
            Ok(Some(a))
        }
        Err(e) => {
            ui.fail(&format!("zonegate-agent is not usable: {e}"));
            ui.warn("loading the compiled ruleset with nft instead, so the matrix can still be measured");
            let policy = load_policy(&run_dir.join("zones.toml"))?.0;
            let ruleset =
                zonegate_policy::compile(&policy, &topo.gateway).map_err(|e| e.to_string())?;
            let _ = text;
            let out = zonegate_e2e::lab::nft_in(&topo.gw_ns, &["-f", "-"], Some(&ruleset.text));
            if !out.status.success() {
                return Err(format!(
                    "nft -f: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            checks.add("agent ready", false);
            Ok(None)
        }
    }
}

fn tamper_step(
    ui: &Ui,
    topo: &Topology,
    agent: Option<&Agent>,
    checks: &mut Checks,
) -> Result<(), String> {
    ui.step(&format!(
        "tampering: inserting `{}` at the top of chain forward with nft",
        tamper::TAMPER_RULE
    ));
    let before = tamper::table(&topo.gw_ns).ok_or("our table is not loaded")?;
    let mark = agent.map(Agent::mark).unwrap_or(0);
    let monitor = tamper::Monitor::start(&topo.gw_ns)?;
    let pid = tamper::insert_accept(&topo.gw_ns)?;
    let (tampered, restored) = monitor.wait_tamper_and_restore(pid, Duration::from_secs(5));
    // Give the agent its read-back and events.
    let drift = agent.and_then(|a| {
        a.wait_event(mark, Duration::from_secs(5), |e| {
            e["event"] == "drift-detected"
        })
    });
    let repaired = agent.and_then(|a| {
        a.wait_event(mark, Duration::from_secs(5), |e| {
            e["event"] == "drift-restored"
        })
    });
    match &drift {
        Some(r) => ui.detail(&format!(
            "drift alert: {}",
            ui.yellow(&agent::summary(&r.event))
        )),
        None => ui.fail("no drift-detected event from the agent"),
    }
    if let Some(r) = &repaired {
        ui.detail(&format!("agent: {}", agent::summary(&r.event)));
    }
    let after = wait_table(&topo.gw_ns, &before, Duration::from_secs(3));
    let same = after.as_deref() == Some(before.as_str());
    let timing = match (&tampered, &restored) {
        (Some(t), Some(r)) => Some(r.at.duration_since(t.at)),
        _ => None,
    };
    if let Some(r) = &restored {
        ui.detail(&format!("restoring commit: {}", ui.dim(&r.text)));
    }
    ui.detail("forward chain now begins with:");
    for line in tamper::forward_head(&topo.gw_ns, 3) {
        ui.detail(&format!("  {}", ui.dim(&line)));
    }
    let restored_ok = same && timing.is_some();
    if restored_ok {
        ui.pass(&format!(
            "restored {:.1} ms after the tamper (commit to commit, from the kernel's generation notices); the table is identical to before",
            timing.unwrap_or_default().as_secs_f64() * 1000.0,
        ));
    } else {
        ui.fail(&format!(
            "the tampered table was not restored ({})",
            match (&tampered, &restored, same) {
                (None, _, _) => "nft monitor did not see the tamper".to_string(),
                (_, None, _) => "nft monitor saw no restoring commit".to_string(),
                _ => "the table differs from before the tamper".to_string(),
            }
        ));
        for l in monitor.lines().iter().rev().take(8).rev() {
            ui.detail(&format!("  nft monitor: {}", ui.dim(&l.text)));
        }
    }
    checks.add("tamper restored", restored_ok);
    checks.add("drift alert raised", drift.is_some());
    Ok(())
}

/// Polls until our table equals `want` or the time is up; returns the last listing.
fn wait_table(ns: &str, want: &str, timeout: Duration) -> Option<String> {
    let end = Instant::now() + timeout;
    loop {
        let now = tamper::table(ns);
        if now.as_deref() == Some(want) || Instant::now() > end {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn denied_step(
    args: &Args,
    ui: &Ui,
    policy: &Policy,
    topo: &Topology,
    agent: Option<&Agent>,
    checks: &mut Checks,
) -> Result<(), String> {
    let (Some(from), Some(to)) = (topo.segment(DENIED_FROM_ZONE), topo.segment(DENIED_TO_ZONE))
    else {
        ui.warn("this policy has no My Number or no internet zone: no denied attempt to show");
        return Ok(());
    };
    let pick = |s: &topo::Segment| {
        s.hosts.iter().find_map(|h| {
            h.addrs
                .iter()
                .copied()
                .find(IpAddr::is_ipv4)
                .map(|a| (h.name.clone(), a))
        })
    };
    let (Some((src_name, src)), Some((dst_name, dst))) = (pick(from), pick(to)) else {
        return Ok(());
    };
    ui.step(&format!(
        "a denied attempt: {src_name} ({src}, {}) -> {dst_name} ({dst}, {}) tcp/{DENIED_PORT}",
        from.label, to.label
    ));
    let q = Query {
        src: Target::Address(src),
        dst: Target::Address(dst),
        iif: Some(from.gw_if.clone()),
        oif: Some(to.gw_if.clone()),
        packet: Some(Packet {
            l4proto: 6,
            port: DENIED_PORT,
        }),
        sport: None,
    };
    if let Ok(ex) = explain(policy, &topo.gateway, &q) {
        let why = match &ex.reason {
            Reason::NoFlow { from, to } => format!("no flow permits {from} -> {to}"),
            Reason::Flow { id } => format!("flow {id} permits it"),
            other => format!("{other:?}"),
        };
        ui.detail(&format!(
            "the policy says: {} ({why}) — zonegate explain zones.toml --gateway {} --iif {} {src} {dst} tcp/{DENIED_PORT}",
            ex.verdict.as_str(),
            topo.gateway,
            from.gw_if
        ));
    }
    let reached = zonegate_e2e::probe::tcp_reachable(
        &from.ns,
        Some(src),
        SocketAddr::new(dst, DENIED_PORT),
        Duration::from_millis(1000),
    );
    if reached {
        ui.fail("the connection was answered");
    } else {
        ui.pass("blocked: no answer within 1 s");
    }
    checks.add("denied attempt blocked", !reached);
    let dst_text = dst.to_string();
    // Denied-flow alerts come from the NFLOG samples through the alert pipeline, so the lab reads
    // them where the security team would: the agent's alert sink (a JSON-lines file here).
    let alert = agent.and_then(|_| {
        wait_alert(
            Path::new(RUN_DIR),
            Duration::from_secs(args.alert_timeout),
            |e| {
                e["type"].as_str() == Some("denied-flow")
                    && e["details"]["from_zone"].as_str() == Some(DENIED_FROM_ZONE)
                    && e["details"]["dst"].as_str() == Some(dst_text.as_str())
                    && e["details"]["dst_port"].as_u64() == Some(u64::from(DENIED_PORT))
            },
        )
    });
    match &alert {
        Some(v) => ui.detail(&format!(
            "alert: {}",
            ui.yellow(&format!(
                "[{}] {} {}",
                v["severity"].as_str().unwrap_or("?"),
                v["type"].as_str().unwrap_or("?"),
                v["details"]
                    .to_string()
                    .chars()
                    .take(300)
                    .collect::<String>()
            ))
        )),
        None => ui.fail(&format!(
            "no denied-flow alert for {dst_text} within {} s",
            args.alert_timeout
        )),
    }
    checks.add("denied-attempt alert raised", alert.is_some());
    Ok(())
}

fn keep(ui: &Ui, topo: &Topology, agent: Option<Agent>) {
    ui.step("the lab stays up (--keep)");
    if let Some(a) = agent {
        let pid = a.detach();
        ui.detail(&format!(
            "zonegate-agent runs as pid {pid}; its log: {RUN_DIR}/agent.log, status: \
             ip netns exec {} zonegate-agent --config {RUN_DIR}/agent.toml status",
            topo.gw_ns
        ));
    }
    ui.detail("enter a namespace with:");
    ui.detail(&format!(
        "  ip netns exec {} bash        # the gateway: nft list table inet zonegate",
        topo.gw_ns
    ));
    for s in &topo.segments {
        ui.detail(&format!(
            "  ip netns exec {:<16} bash   # {} ({})",
            s.ns, s.zone, s.label
        ));
    }
    ui.detail("remove it with: scripts/lab.sh --down");
}

/// The lab's own checks.
#[derive(Default)]
struct Checks {
    items: Vec<(String, bool)>,
}

impl Checks {
    fn add(&mut self, name: &str, ok: bool) {
        self.items.push((name.to_string(), ok));
    }

    fn report(&self, ui: &Ui) -> bool {
        let failed: Vec<&str> = self
            .items
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(n, _)| n.as_str())
            .collect();
        let passed = self.items.len() - failed.len();
        ui.step(&format!(
            "lab checks: {passed} passed, {} failed",
            failed.len()
        ));
        if failed.is_empty() {
            ui.pass(
                &self
                    .items
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        } else {
            ui.fail(&failed.join(", "));
        }
        failed.is_empty()
    }
}
