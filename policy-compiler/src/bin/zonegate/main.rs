//! `zonegate`: the administrators' offline tool. Reads zones.toml and the clock, then calls the
//! pure compiler library. Exit codes: 0 clean, 1 policy errors, 2 usage or I/O errors.

mod approve;
mod bundle;
mod diff;
mod explain;
mod fleet;
mod init;
mod input;
mod lockdown;
mod matrix;

use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use zonegate_policy::{compile, t, Lang};

/// The language the locale asks for (LC_ALL, then LC_MESSAGES, then LANG).
pub fn lang_from_env() -> Lang {
    let var = |k: &str| std::env::var(k).ok();
    Lang::from_locale(
        var("LC_ALL").as_deref(),
        var("LC_MESSAGES").as_deref(),
        var("LANG").as_deref(),
    )
}

/// `--lang ja|en`.
pub fn parse_lang(s: &str) -> Result<Lang, String> {
    Lang::parse(s).ok_or_else(|| format!("{s:?}: use ja or en"))
}

#[derive(Parser)]
#[command(
    name = "zonegate",
    version,
    about = "Compile and check zonegate network segmentation policies (zones.toml)",
    long_about = "zonegate checks a zones.toml policy against its rules (and the three-domain guardrails of \
                  三層の対策), compiles it into one nftables ruleset per gateway, explains why a flow passes or \
                  not, and prints the flow matrix for audits. It never touches the kernel."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum CheckFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum CompileFormat {
    Nft,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check a policy: every error and warning at once, with file:line:column and a hint.
    #[command(
        after_help = "Example:\n  zonegate check zones.toml\n  zonegate check zones.toml --today 2027-04-01 --format json\n\n\
                            Exit status: 0 no errors (warnings allowed), 1 errors, 2 cannot read the file."
    )]
    Check {
        /// The policy file.
        policy: PathBuf,
        /// Evaluate `expires` as of this date (YYYY-MM-DD) instead of today in the policy's time zone.
        #[arg(long, value_name = "DATE")]
        today: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
        /// Language of messages and hints: ja or en (default: from LC_ALL, LC_MESSAGES, LANG).
        #[arg(long, value_name = "ja|en", value_parser = parse_lang)]
        lang: Option<Lang>,
    },
    /// Compile the policy into the nftables ruleset of one gateway.
    #[command(
        after_help = "Example:\n  zonegate compile zones.toml --gateway gw1 -o gw1.nft\n    \
                            (writes gw1.nft and its metadata gw1.nft.meta.json)\n  \
                            zonegate compile zones.toml --gateway gw1 --format json\n\n\
                            Load the result with `nft -f gw1.nft`; it replaces only table inet zonegate."
    )]
    Compile {
        policy: PathBuf,
        /// The gateway, as named under [gateways.NAME].
        #[arg(long)]
        gateway: String,
        #[arg(long, value_name = "DATE")]
        today: Option<String>,
        /// Write here instead of standard output (metadata goes to FILE.meta.json).
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// nft: the ruleset text; json: {"ruleset": text, "metadata": {...}}.
        #[arg(long, value_enum, default_value = "nft")]
        format: CompileFormat,
        /// Language of diagnostics: ja or en (default: from LC_ALL, LC_MESSAGES, LANG).
        #[arg(long, value_name = "ja|en", value_parser = parse_lang)]
        lang: Option<Lang>,
    },
    /// Explain why a new connection passes or is dropped on one gateway (from the policy model).
    #[command(
        after_help = "Examples:\n  zonegate explain zones.toml --gateway gw1 lg-term-1 mn-vdi tcp/443\n  \
                            zonegate explain zones.toml --gateway gw1 --iif ens4 10.10.0.5 10.30.0.20 tcp/443\n  \
                            zonegate explain zones.toml --gateway gw1 admin-pc gateway --format json\n\n\
                            Verdicts: accept, drop, spoofed (source not in the --iif interface's zone), and \
                            partial (no PROTO/PORT given: the ports that pass are listed)."
    )]
    Explain(explain::ExplainArgs),
    /// Print the zone-by-zone flow matrix with guardrail results, for audits.
    #[command(
        after_help = "Examples:\n  zonegate matrix zones.toml --gateway gw1 --format html -o matrix.html\n  \
                            zonegate matrix zones.toml --format md --lang en\n\n\
                            The SHA-256 printed is that of the canonical policy, which compiled metadata and \
                            the agent's heartbeat carry too."
    )]
    Matrix(matrix::MatrixArgs),
    /// What a policy change does: flows, reachability per gateway, guardrail findings, structure.
    #[command(
        after_help = "Examples:\n  zonegate diff zones.toml zones.new.toml\n  \
                            zonegate diff zones.toml zones.new.toml --gateway gw1 --format html -o change.html\n  \
                            zonegate diff old.toml new.toml --format md --lang en\n\n\
                            Exit status: 0 no change, 2 changes, 1 error (a policy with errors: its diagnostics \
                            are printed; guardrail findings alone are reported in the diff)."
    )]
    Diff(diff::DiffArgs),
    /// Render the lockdown ruleset (forwarding dropped, management kept) for the boot unit.
    Lockdown(lockdown::LockdownArgs),
    /// Print the canonical policy: the exact bytes an approval signs and the policy SHA-256 hashes.
    Canonical(approve::CanonicalArgs),
    /// Sign the canonical policy with an OpenSSH Ed25519 key (writes zones.toml.sig).
    Approve(approve::ApproveArgs),
    /// Write a policy bundle for one gateway: the policy, its ruleset hash and its signature.
    Bundle(bundle::BundleArgs),
    /// Fleet audit: does every gateway run the approved policy? (Prometheus or status files)
    Fleet(fleet::FleetArgs),
    /// Write a first zones.toml from this machine: its networks as zones, this SSH session as
    /// the management flow, everything else denied.
    Init(init::InitArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("zonegate: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Check {
            policy,
            today,
            format,
            lang,
        } => {
            let lang = lang.unwrap_or_else(lang_from_env);
            let loaded = input::load(&policy, today.as_deref())?;
            match format {
                CheckFormat::Json => print!("{}", loaded.checked.diagnostics.render_json_in(lang)),
                CheckFormat::Text => {
                    let d = &loaded.checked.diagnostics;
                    if !d.items.is_empty() {
                        eprint!("{}", d.render_text_in(lang));
                    }
                    if let Some(p) = &loaded.checked.policy {
                        let ok = t!(
                            CHECK_OK,
                            file = policy.display().to_string(),
                            name = &p.name,
                            revision = &p.revision,
                            zones = p.zones.len(),
                            hosts = p.hosts.len(),
                            groups = p.groups.len(),
                            flows = p.flows.len(),
                            active = p.active_flows().count(),
                            gateways = p.gateways.len()
                        );
                        println!("{}", ok.render(lang));
                    }
                }
            }
            Ok(exit_for(&loaded.checked))
        }
        Command::Compile {
            policy,
            gateway,
            today,
            output,
            format,
            lang,
        } => {
            let lang = lang.unwrap_or_else(lang_from_env);
            let loaded = input::load(&policy, today.as_deref())?;
            let d = &loaded.checked.diagnostics;
            if !d.items.is_empty() {
                eprint!("{}", d.render_text_in(lang));
            }
            let Some(p) = &loaded.checked.policy else {
                return Ok(ExitCode::from(1));
            };
            let ruleset = compile(p, &gateway).map_err(|e| e.to_string())?;
            let metadata = serde_json::to_string_pretty(&ruleset.metadata)
                .map_err(|e| format!("cannot serialise metadata: {e}"))?;
            let text = match format {
                CompileFormat::Nft => ruleset.text.clone(),
                CompileFormat::Json => {
                    let v = serde_json::json!({
                        "ruleset": ruleset.text,
                        "metadata": ruleset.metadata,
                    });
                    serde_json::to_string_pretty(&v).map_err(|e| e.to_string())? + "\n"
                }
            };
            match output {
                Some(path) => {
                    input::write_atomic(&path, text.as_bytes())?;
                    if format == CompileFormat::Nft {
                        let mut meta_path = path.clone().into_os_string();
                        meta_path.push(".meta.json");
                        input::write_atomic(
                            &PathBuf::from(meta_path),
                            (metadata + "\n").as_bytes(),
                        )?;
                    }
                }
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(text.as_bytes())
                        .map_err(|e| format!("cannot write to standard output: {e}"))?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain(args) => explain::run(args),
        Command::Matrix(args) => matrix::run(args),
        Command::Diff(args) => Ok(diff::run(args)),
        Command::Lockdown(args) => lockdown::run(args),
        Command::Canonical(args) => approve::run_canonical(args),
        Command::Approve(args) => approve::run_approve(args),
        Command::Bundle(args) => bundle::run(args),
        Command::Fleet(args) => Ok(fleet::run(args)),
        Command::Init(args) => init::run(args),
    }
}

fn exit_for(checked: &zonegate_policy::Checked) -> ExitCode {
    if checked.diagnostics.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
