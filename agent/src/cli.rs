//! The command line: `zonegate-agent [--config FILE] run|plan|apply|status|validate`. Parsing
//! touches nothing; each command then maps its outcome to a documented exit code:
//! 0 success (plan: nothing to do), 1 error (apply: refused, failed or rolled back),
//! 2 plan: changes pending.

use crate::agent::{Current, PolicyOutcome};
use crate::alerting::Alerting;
use crate::backend::nft::NftBackend;
use crate::backend::Backend;
use crate::change_control::{self, ManagementPath};
use crate::config::{self, AgentConfig, Mode};
use crate::conflicts;
use crate::control::{self, Request, Response};
use crate::daemon;
use crate::events::{EventKind, EventSink, Events, StdoutJsonSink, TracingSink};
use crate::listing::normalise;
use crate::plan;
use crate::policy_source;
use crate::state::{LastKnownGood, StateDir};
use clap::{Parser, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tracing::{error, warn};
use zonegate_policy::Lang;

const EXIT_HELP: &str = "Exit codes: 0 success (plan: nothing to do); 1 error, refused, failed or \
rolled back; 2 plan: changes pending.\n\nExamples:\n  zonegate-agent validate\n  \
zonegate-agent plan\n  zonegate-agent apply --plan-hash 3f2a9c0d1e4b5a67 --confirm 120\n  \
zonegate-agent apply --confirm-ok\n  zonegate-agent status --format json";

#[derive(Debug, Parser)]
#[command(name = "zonegate-agent", version, about = "zonegate gateway agent: applies, watches and repairs the compiled ruleset", after_help = EXIT_HELP)]
pub struct Args {
    /// agent.toml (a missing file means the defaults).
    #[arg(long, global = true, default_value = config::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Language of plan, status and validate: ja or en (default: from LC_ALL, LC_MESSAGES, LANG).
    #[arg(long, global = true, value_name = "ja|en", value_parser = parse_lang)]
    pub lang: Option<Lang>,
    #[command(subcommand)]
    pub command: Command,
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    Lang::parse(s).ok_or_else(|| format!("{s:?}: use ja or en"))
}

/// `--lang`, else the language the locale asks for (LC_ALL, then LC_MESSAGES, then LANG).
fn lang_or_locale(lang: Option<Lang>) -> Lang {
    lang.unwrap_or_else(|| {
        let var = |k: &str| std::env::var(k).ok();
        Lang::from_locale(
            var("LC_ALL").as_deref(),
            var("LC_MESSAGES").as_deref(),
            var("LANG").as_deref(),
        )
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the policy and keep it: watch, repair drift, report (the systemd service).
    Run {
        /// Also write every event as one JSON line to standard output.
        #[arg(long)]
        events_stdout: bool,
    },
    /// Show what `apply` would change, touching nothing (exit 0 nothing, 2 changes, 1 error).
    Plan {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Apply the policy file now (through the running agent if there is one).
    Apply {
        /// Refuse unless `plan` would still print this hash.
        #[arg(long, value_name = "HASH")]
        plan_hash: Option<String>,
        /// Roll back unless `apply --confirm-ok` arrives within SECONDS.
        #[arg(long, value_name = "SECONDS", conflicts_with = "confirm_ok")]
        confirm: Option<u64>,
        /// Keep the ruleset of a pending `apply --confirm`.
        #[arg(long)]
        confirm_ok: bool,
        /// Apply even if the change cuts the management path in use (your SSH session, the
        /// management entries of agent.toml); it then always gets a confirm window.
        #[arg(long)]
        force: bool,
        /// Also write every event as one JSON line to standard output.
        #[arg(long)]
        events_stdout: bool,
    },
    /// Show the running agent's state (revision, hash, drift, conntrack, uptime).
    Status {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Check agent.toml and the policy for this gateway, touching nothing.
    Validate {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

/// Where logs go: `ZONEGATE_LOG_FORMAT` = `auto` (default), `journal`, `text` or `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogTarget {
    /// The systemd journal's native protocol: priority from the level, every field its own
    /// journal field (ALERT_ID, EVENT_TYPE, FROM_ZONE...).
    Journal,
    /// Readable lines on stderr (colours on a terminal).
    Text,
    /// One JSON object per line on stderr, for log shippers.
    Json,
}

/// `auto` picks the journal when stderr is the journal stream systemd gave this service (the
/// `JOURNAL_STREAM` convention of systemd.exec(5): `DEVICE:INODE` of that stream), text
/// otherwise (a terminal, a pipe, a test).
fn log_target() -> (LogTarget, Option<String>) {
    let auto = || {
        if stderr_is_journal_stream() {
            LogTarget::Journal
        } else {
            LogTarget::Text
        }
    };
    match std::env::var("ZONEGATE_LOG_FORMAT").as_deref() {
        Err(_) | Ok("") | Ok("auto") => (auto(), None),
        Ok("journal") => (LogTarget::Journal, None),
        Ok("text") => (LogTarget::Text, None),
        Ok("json") => (LogTarget::Json, None),
        Ok(other) => (
            auto(),
            Some(format!(
                "ZONEGATE_LOG_FORMAT={other:?} is not one of auto, journal, text, json; using auto \
                 / ZONEGATE_LOG_FORMAT={other:?} は auto, journal, text, json のいずれでもないため auto を使います"
            )),
        ),
    }
}

fn stderr_is_journal_stream() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    std::fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

fn init_tracing(default: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("ZONEGATE_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
    };
    let (target, problem) = log_target();
    let mut fallback = None;
    if target == LogTarget::Journal {
        match tracing_journald::layer() {
            Ok(layer) => {
                // Field names as they are (ALERT_ID, not F_ALERT_ID), under the unit's name.
                let layer = layer
                    .with_field_prefix(None)
                    .with_syslog_identifier("zonegate-agent".into());
                let _ = tracing_subscriber::registry()
                    .with(filter())
                    .with(layer)
                    .try_init();
                if let Some(p) = problem {
                    tracing::warn!("{p}");
                }
                return;
            }
            Err(e) => fallback = Some(e),
        }
    }
    if target == LogTarget::Json {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .with_target(false)
            .try_init();
    } else {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .try_init();
    }
    if let Some(p) = problem {
        tracing::warn!("{p}");
    }
    if let Some(e) = fallback {
        tracing::warn!(error = %e, "The systemd journal is not reachable; logging text to stderr. / systemd ジャーナルに接続できないため、標準エラー出力にテキストで記録します。");
    }
}

/// The event stream: logs, optionally stdout, and the alert pipeline. The pipeline starts here
/// (before anything is applied, so every event becomes an alert); if it cannot (the queue
/// directory is unusable or held by another agent) the agent still enforces, with events logged
/// only, and says so in a monitoring-degraded event.
fn events(cfg: &AgentConfig, stdout: bool) -> (Events, Option<Alerting>) {
    let mut sinks: Vec<Box<dyn EventSink>> = vec![Box::new(TracingSink)];
    if stdout {
        sinks.push(Box::new(StdoutJsonSink));
    }
    let lkg = read_lkg(cfg);
    let (alerting, failure) = match Alerting::start(cfg, lkg.as_ref()) {
        Ok(a) => (Some(a), None),
        Err(e) => (None, Some(e.to_string())),
    };
    if let Some(a) = &alerting {
        sinks.push(Box::new(a.sink()));
    }
    let ev = Events::new(&cfg.gateway, sinks);
    if let Some(e) = failure {
        error!(error = %e, "The alert pipeline did not start; events are logged only.");
        ev.emit(EventKind::MonitoringDegraded {
            what: "alerts".into(),
            detail: format!("the alert pipeline did not start ({e}); events are logged only"),
        });
    }
    for p in &cfg.alert_problems {
        ev.emit(EventKind::MonitoringDegraded {
            what: "alert sink".into(),
            detail: format!("{p} (agent.toml)"),
        });
    }
    (ev, alerting)
}

/// Time a one-shot `apply` gives the sinks before it exits (what is left is delivered by the
/// next agent start).
const ONE_SHOT_DELIVERY: Duration = Duration::from_secs(3);

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let verbose = matches!(args.command, Command::Run { .. } | Command::Apply { .. });
    init_tracing(if verbose { "info" } else { "warn" });
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zonegate-agent: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    ExitCode::from(runtime.block_on(dispatch(args)))
}

fn load_config(path: &std::path::Path, lenient: bool) -> Result<AgentConfig, String> {
    match config::load(path) {
        Ok(l) => {
            for w in &l.warnings {
                warn!(config = %path.display(), "{w}");
            }
            Ok(l.config)
        }
        Err(e) if lenient => {
            // `run` must start whatever agent.toml says: defaults fail closed.
            error!(error = %e, "agent.toml is unusable; running with the defaults.");
            config::load(std::path::Path::new("/nonexistent/zonegate/agent.toml"))
                .map(|l| l.config)
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

async fn dispatch(args: Args) -> u8 {
    let lenient = matches!(args.command, Command::Run { .. });
    let cfg = match load_config(&args.config, lenient) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zonegate-agent: {e}");
            return 1;
        }
    };
    let lang = args.lang;
    match args.command {
        Command::Run { events_stdout } => {
            report_conflicts_at_start();
            let (ev, alerting) = events(&cfg, events_stdout);
            match daemon::run(cfg, ev, alerting).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("zonegate-agent: {e}");
                    1
                }
            }
        }
        Command::Plan { format } => run_plan(cfg, format, lang_or_locale(lang)).await,
        Command::Apply {
            plan_hash,
            confirm,
            confirm_ok,
            force,
            events_stdout,
        } => {
            if confirm_ok {
                return run_apply(cfg, None, None, true, events_stdout).await;
            }
            match lockout_guard(&cfg, confirm, force) {
                Ok(confirm) => run_apply(cfg, plan_hash, confirm, false, events_stdout).await,
                Err(code) => code,
            }
        }
        Command::Status { format } => run_status(cfg, format).await,
        Command::Validate { format } => run_validate(cfg, format),
    }
}

fn read_lkg(cfg: &AgentConfig) -> Option<crate::state::LastKnownGood> {
    match StateDir::new(&cfg.state_dir).load_lkg() {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, "Ignoring the last-known-good.");
            None
        }
    }
}

fn clock_for(lkg: Option<&crate::state::LastKnownGood>) -> crate::clock::Clock {
    let mut clock = crate::clock::Clock::default();
    if let Some(t) = lkg.and_then(|l| l.compiled_at.parse::<jiff::Timestamp>().ok()) {
        clock.raise_floor(t);
    }
    clock
}

async fn run_plan(cfg: AgentConfig, format: Format, lang: Lang) -> u8 {
    let lkg = read_lkg(&cfg);
    let clock = clock_for(lkg.as_ref());
    let compiled = match policy_source::load(&cfg, &clock) {
        Ok(c) => c,
        Err(e) => {
            print_load_error(&e);
            return 1;
        }
    };
    let backend = NftBackend::default();
    let live = match backend.list_table().await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("zonegate-agent: cannot read the live table: {e}");
            return 1;
        }
    };
    let live = match normalise(live.as_ref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("zonegate-agent: cannot read the live table: {e}");
            return 1;
        }
    };
    let mut p = plan::plan(&compiled, live.as_ref(), lkg.as_ref());
    p.lockout = lockouts_of(&cfg, &compiled);
    match crate::netlink::conntrack::dump() {
        Ok(entries) => {
            p.connections_cut =
                change_control::connections_cut(&entries, &compiled.flows, &flow_ids(lkg.as_ref()))
        }
        Err(e) => p.connections_error = Some(e.to_string()),
    }
    match format {
        Format::Text => print!("{}", p.render_in(lang)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default()),
    }
    if p.has_changes() {
        2
    } else {
        0
    }
}

/// The confirm window a forced apply gets when none is given.
const FORCED_CONFIRM_S: u64 = 120;
/// The longest confirm window `apply --confirm` accepts.
const MAX_CONFIRM_S: u64 = 3600;

/// Management paths in use that the compiled policy would refuse.
fn lockouts_of(cfg: &AgentConfig, compiled: &policy_source::Compiled) -> Vec<ManagementPath> {
    let ssh = std::env::var("SSH_CONNECTION").ok();
    let paths = change_control::paths_in_use(ssh.as_deref(), &cfg.lockdown_management);
    change_control::lockouts(&compiled.policy, &cfg.gateway, &paths)
}

/// The flows loaded now, by mark.
fn flow_ids(lkg: Option<&LastKnownGood>) -> BTreeMap<u32, String> {
    lkg.and_then(|l| l.metadata.as_ref())
        .map(|m| m.flows.iter().map(|(id, f)| (f.mark, id.clone())).collect())
        .unwrap_or_default()
}

/// Refuses an apply that cuts the management path in use unless forced; a forced one always
/// gets a confirm window. Returns the confirm window to use, or the exit code of a refusal.
fn lockout_guard(cfg: &AgentConfig, confirm: Option<u64>, force: bool) -> Result<Option<u64>, u8> {
    if let Some(s) = confirm.filter(|s| *s > MAX_CONFIRM_S) {
        eprintln!("zonegate-agent: --confirm {s} is longer than {MAX_CONFIRM_S} s (an hour); nothing was changed");
        return Err(1);
    }
    let clock = clock_for(read_lkg(cfg).as_ref());
    let compiled = match policy_source::load(cfg, &clock) {
        Ok(c) => c,
        Err(e) => {
            // Fail closed: what cannot be checked is not applied.
            print_load_error(&e);
            return Err(1);
        }
    };
    if std::env::var_os("SSH_CONNECTION").is_none() && cfg.lockdown_management.is_empty() {
        eprintln!("zonegate-agent: note: no management path in use is known (SSH_CONNECTION is not set, as under plain sudo, and agent.toml has no [lockdown] management), so the lockout guard checks nothing; use `sudo --preserve-env=SSH_CONNECTION` or declare the management path, and --confirm");
    }
    let cut = lockouts_of(cfg, &compiled);
    if cut.is_empty() {
        return Ok(confirm);
    }
    for p in &cut {
        eprintln!(
            "zonegate-agent: this change cuts the management path {}",
            p.describe()
        );
    }
    if !force {
        eprintln!("zonegate-agent: refused; nothing was changed. Fix the policy, or apply with --force (it is then rolled back unless `zonegate-agent apply --confirm-ok` arrives in time).");
        return Err(1);
    }
    let window = confirm.unwrap_or(FORCED_CONFIRM_S);
    eprintln!("zonegate-agent: --force: applying with a {window} s confirm window");
    Ok(Some(window))
}

fn print_load_error(e: &policy_source::LoadError) {
    match e {
        policy_source::LoadError::Rejected { diagnostics } => {
            for d in diagnostics {
                eprintln!("{d}");
            }
            eprintln!("zonegate-agent: {e}; nothing was changed");
        }
        other => eprintln!("zonegate-agent: {other}"),
    }
}

fn print_response(r: &Response) -> u8 {
    if r.ok {
        println!("{}", r.message);
    } else {
        eprintln!("zonegate-agent: {}", r.message);
    }
    r.exit_code
}

async fn run_apply(
    cfg: AgentConfig,
    plan_hash: Option<String>,
    confirm: Option<u64>,
    confirm_ok: bool,
    events_stdout: bool,
) -> u8 {
    if confirm_ok {
        return match control::request(&cfg.status_socket, &Request::ConfirmOk).await {
            Ok(r) => print_response(&r),
            Err(e) => {
                eprintln!(
                    "zonegate-agent: nothing awaits confirmation on {} ({e})",
                    cfg.status_socket.display()
                );
                1
            }
        };
    }
    if control::is_live(&cfg.status_socket).await {
        let req = Request::Apply {
            plan_hash,
            confirm_s: confirm,
        };
        return match control::request(&cfg.status_socket, &req).await {
            Ok(r) => print_response(&r),
            Err(e) => {
                eprintln!("zonegate-agent: the running agent did not answer: {e}");
                1
            }
        };
    }
    // No agent running: apply from here, holding the state lock.
    let mut cfg = cfg;
    cfg.mode = Mode::Enforce;
    let state = StateDir::new(&cfg.state_dir);
    let _lock = match state.lock() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("zonegate-agent: {e}");
            return 1;
        }
    };
    let (ev, alerting) = events(&cfg, events_stdout);
    let code = one_shot_apply(cfg, ev, plan_hash, confirm).await;
    if let Some(a) = alerting {
        // The alerts of this apply are on disk; give the sinks a moment to deliver them.
        let _ = tokio::task::spawn_blocking(move || a.stop(ONE_SHOT_DELIVERY)).await;
    }
    code
}

/// `apply` with no agent running: apply from this process (the caller holds the state lock).
async fn one_shot_apply(
    cfg: AgentConfig,
    ev: Events,
    plan_hash: Option<String>,
    confirm: Option<u64>,
) -> u8 {
    let state = StateDir::new(&cfg.state_dir);
    let mut agent = daemon::build(cfg.clone(), ev);
    let lkg = agent.load_lkg();
    let live_before = match agent.observe().await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("zonegate-agent: cannot read the live table: {e}");
            return 1;
        }
    };
    if let Some(l) = &lkg {
        agent.current = Some(Current { lkg: l.clone() });
    }
    let outcome = agent
        .apply_policy_file(
            crate::events::ApplyReason::Command,
            plan_hash.as_deref(),
            true,
        )
        .await;
    let applied = matches!(outcome, PolicyOutcome::Applied { .. });
    let code = match &outcome {
        PolicyOutcome::Applied { revision } => {
            println!("Applied revision {revision}.");
            0
        }
        PolicyOutcome::Unchanged { revision } => {
            println!("Revision {revision} is already loaded.");
            0
        }
        PolicyOutcome::Rejected { message } => {
            eprintln!("{message}");
            eprintln!("zonegate-agent: the policy was rejected; nothing was changed");
            1
        }
        PolicyOutcome::Failed { message } => {
            eprintln!("zonegate-agent: the apply failed; the previous ruleset stays: {message}");
            1
        }
        PolicyOutcome::PlanChanged { expected, actual } => {
            eprintln!(
                "zonegate-agent: the plan changed since it was printed (expected {expected}, now {actual}); nothing was changed"
            );
            1
        }
    };
    let Some(seconds) = confirm.filter(|_| applied) else {
        return code;
    };
    println!(
        "Confirm within {seconds} s with `zonegate-agent apply --confirm-ok`, or it is rolled back."
    );
    if await_confirmation(&cfg, Duration::from_secs(seconds)).await {
        println!("Confirmed: the new ruleset stays.");
        return 0;
    }
    eprintln!("zonegate-agent: no confirmation; rolling back");
    match lkg {
        Some(previous) => {
            if agent
                .apply_lkg(previous, crate::events::ApplyReason::Rollback)
                .await
                .is_err()
            {
                eprintln!("zonegate-agent: the rollback failed; the new ruleset stays");
            }
        }
        None if live_before.is_none() => {
            let text = format!(
                "table {f} {t}\ndelete table {f} {t}\n",
                f = zonegate_policy::names::FAMILY,
                t = zonegate_policy::names::TABLE
            );
            if let Err(e) = agent.kernel.apply(&text).await {
                eprintln!("zonegate-agent: the rollback failed: {e}");
            }
            let _ = std::fs::remove_file(state.lkg_path());
            let _ = std::fs::remove_file(state.lkg_nft_path());
        }
        None => {
            eprintln!("zonegate-agent: the previous table was not loaded by this agent and cannot be restored; the new ruleset stays");
        }
    }
    1
}

/// Serves the control socket until `confirm-ok` or the deadline (SIGHUP is ignored so a closed
/// SSH session does not decide; SIGINT/SIGTERM count as "no").
async fn await_confirmation(cfg: &AgentConfig, wait: Duration) -> bool {
    use tokio::signal::unix::{signal, SignalKind};
    let listener = match control::bind(&cfg.status_socket).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("zonegate-agent: cannot wait for confirmation: {e}");
            return false;
        }
    };
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return false;
    };
    let deadline = tokio::time::Instant::now() + wait;
    let confirmed = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break false,
            _ = term.recv() => break false,
            _ = int.recv() => break false,
            _ = hup.recv() => {}
            accepted = listener.accept() => {
                let Ok((mut stream, _)) = accepted else { continue };
                let (resp, done) = match control::read_request(&mut stream).await {
                    Ok(Request::ConfirmOk) => (Response::ok("Confirmed: the new ruleset stays."), true),
                    Ok(Request::Status) => {
                        let left = deadline.saturating_duration_since(tokio::time::Instant::now()).as_secs();
                        (Response::ok(format!("An apply awaits confirmation; rollback in {left} s.")), false)
                    }
                    Ok(_) => (Response::err("an apply awaits confirmation; nothing else is accepted now"), false),
                    Err(e) => (Response::err(e.to_string()), false),
                };
                let _ = control::write_response(&mut stream, &resp).await;
                if done {
                    break true;
                }
            }
        }
    };
    let _ = std::fs::remove_file(&cfg.status_socket);
    confirmed
}

async fn run_status(cfg: AgentConfig, format: Format) -> u8 {
    match control::request(&cfg.status_socket, &Request::Status).await {
        Ok(r) => match (&r.status, format) {
            (Some(s), Format::Text) => {
                print!("{}", s.render());
                0
            }
            (Some(s), Format::Json) => {
                println!("{}", serde_json::to_string_pretty(s).unwrap_or_default());
                0
            }
            (None, _) => print_response(&r),
        },
        Err(e) => {
            eprintln!(
                "zonegate-agent: no agent answers on {} ({e})",
                cfg.status_socket.display()
            );
            if let Some(l) = read_lkg(&cfg) {
                eprintln!(
                    "last-known-good: {} revision {} sha256 {} applied {}",
                    match l.kind {
                        crate::state::LkgKind::Policy => "policy",
                        crate::state::LkgKind::Lockdown => "lockdown",
                    },
                    l.revision,
                    l.ruleset_sha256,
                    l.applied_at
                );
            }
            1
        }
    }
}

/// What would keep an alert sink from working (skipped at start with a monitoring-degraded
/// alert): warnings for `validate`, never errors.
fn alert_problems(cfg: &AgentConfig) -> Vec<String> {
    let mut out = cfg.alert_problems.clone();
    for p in cfg.alerts.validate() {
        out.push(format!("alert sink {}: {}", p.sink, p.message));
    }
    out
}

/// Other firewall managers on this machine, one warning each with what to do (in the journal).
fn report_conflicts_at_start() {
    let lang = conflicts::lang_from_env();
    for c in conflicts::detect(std::path::Path::new("/")) {
        let t = c.text(lang);
        warn!(code = c.code(), fix = %t.fix, "{}", t.message);
    }
}

/// The conflicts as `validate` prints them: one warning line and one "what to do" line each.
fn conflict_lines(found: &[conflicts::Conflict], lang: zonegate_policy::init::Lang) -> Vec<String> {
    let todo = match lang {
        zonegate_policy::init::Lang::En => "what to do",
        zonegate_policy::init::Lang::Ja => "対処",
    };
    found
        .iter()
        .flat_map(|c| {
            let t = c.text(lang);
            [
                format!("zonegate-agent: warning[{}]: {}", c.code(), t.message),
                format!("  {todo}: {}", t.fix),
            ]
        })
        .collect()
}

fn run_validate(cfg: AgentConfig, format: Format) -> u8 {
    let lkg = read_lkg(&cfg);
    let clock = clock_for(lkg.as_ref());
    let result = policy_source::load(&cfg, &clock);
    let alerts = alert_problems(&cfg);
    let lang = conflicts::lang_from_env();
    let found = conflicts::detect(std::path::Path::new("/"));
    match format {
        Format::Json => {
            let mut v = match &result {
                Ok(c) => serde_json::json!({
                    "ok": true,
                    "policy": cfg.policy.display().to_string(),
                    "gateway": cfg.gateway,
                    "mode": cfg.mode.as_str(),
                    "revision": c.ruleset.metadata.revision,
                    "ruleset_sha256": c.ruleset.metadata.ruleset_sha256,
                    "flows": c.ruleset.metadata.flows.len(),
                    "warnings": c.warnings,
                    "alert_sinks": cfg.alerts.sinks.len(),
                    "alert_warnings": alerts,
                }),
                Err(e) => serde_json::json!({
                    "ok": false,
                    "policy": cfg.policy.display().to_string(),
                    "gateway": cfg.gateway,
                    "error": e.to_string(),
                    "diagnostics": match e {
                        policy_source::LoadError::Rejected { diagnostics } => diagnostics.clone(),
                        _ => Vec::new(),
                    },
                }),
            };
            if let (Ok(c), Some(o)) = (&result, v.as_object_mut()) {
                if let Some(signer) = &c.ruleset.metadata.signer {
                    o.insert("signer".into(), signer.clone().into());
                }
            }
            if let Some(o) = v.as_object_mut() {
                let list: Vec<serde_json::Value> = found
                    .iter()
                    .map(|c| {
                        let t = c.text(lang);
                        serde_json::json!({"code": c.code(), "message": t.message, "fix": t.fix})
                    })
                    .collect();
                o.insert("conflicts".into(), list.into());
            }
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        Format::Text => match &result {
            Ok(c) => {
                for w in &c.warnings {
                    println!("{w}");
                }
                for w in &alerts {
                    println!("agent.toml: warning: {w}");
                }
                println!(
                    "{}: valid for gateway {} (revision {}, {} flow(s), ruleset sha256 {}); agent mode {}",
                    cfg.policy.display(),
                    cfg.gateway,
                    c.ruleset.metadata.revision,
                    c.ruleset.metadata.flows.len(),
                    c.ruleset.metadata.ruleset_sha256,
                    cfg.mode.as_str()
                );
                if let Some(signer) = &c.ruleset.metadata.signer {
                    println!("Approved by: {signer} (signature verified)");
                }
            }
            Err(e) if e.is_missing() => {
                eprintln!(
                    "zonegate-agent: {}",
                    policy_source::missing_policy_next_step(&cfg.policy, lang)
                );
            }
            Err(e) => print_load_error(e),
        },
    }
    if format == Format::Text {
        for line in conflict_lines(&found, lang) {
            eprintln!("{line}");
        }
    }
    u8::from(result.is_err())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn arguments_parse() {
        Args::command().debug_assert();
        let a =
            Args::try_parse_from(["zonegate-agent", "apply", "--confirm", "60"]).expect("parse");
        assert!(matches!(
            a.command,
            Command::Apply {
                confirm: Some(60),
                ..
            }
        ));
        assert!(Args::try_parse_from([
            "zonegate-agent",
            "apply",
            "--confirm",
            "5",
            "--confirm-ok"
        ])
        .is_err());
        let a = Args::try_parse_from([
            "zonegate-agent",
            "--config",
            "/x.toml",
            "plan",
            "--format",
            "json",
        ])
        .expect("parse");
        assert_eq!(a.config, PathBuf::from("/x.toml"));
    }
}
