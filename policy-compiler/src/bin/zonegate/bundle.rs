//! `zonegate bundle`: one file holding the policy, its compiled ruleset hash for one gateway and
//! the approval signature (policy-compiler/src/bundle.rs), for any channel to carry.

use crate::input;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use zonegate_policy::bundle;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  zonegate bundle zones.toml --gateway gw1 -o gw1.zgb\n    \
                        (includes zones.toml.sig when it exists)\n  \
                        zonegate bundle --check gw1.zgb --gateway gw1\n\n\
                        Point the agent's `policy` (agent.toml) at the bundle: it checks the gateway, the byte \
                        counts and the ruleset hash, and the signature against `trusted_keys`, before anything \
                        is applied.\n\n\
                        Exit status: 0 written (or valid), 1 policy errors or a refused bundle, 2 cannot read or write."
)]
pub struct BundleArgs {
    /// The reviewed policy (or, with --check, the bundle).
    file: PathBuf,
    /// The gateway, as named under [gateways.NAME].
    #[arg(long)]
    gateway: String,
    /// Evaluate `expires` as of this date (YYYY-MM-DD) instead of today in the policy's time zone.
    #[arg(long, value_name = "DATE")]
    today: Option<String>,
    /// The approval signature to include (default: the policy's path + ".sig" when it exists).
    #[arg(long, value_name = "SIGFILE")]
    signature: Option<PathBuf>,
    /// Write the bundle here (default: standard output).
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Check a bundle instead of writing one.
    #[arg(long)]
    check: bool,
}

pub fn run(args: BundleArgs) -> Result<ExitCode, String> {
    if args.check {
        let bytes = std::fs::read(&args.file)
            .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
        let shown = args.file.display().to_string();
        return Ok(
            match bundle::parse(&bytes).and_then(|b| b.check(&shown, &args.gateway).map(|_| b)) {
                Ok(b) => {
                    println!(
                        "{shown}: ok: gateway {}, policy {} revision {}, ruleset sha256 {}{}",
                        b.gateway,
                        b.policy_name,
                        b.revision,
                        b.ruleset_sha256,
                        if b.signature.is_some() {
                            ", signed"
                        } else {
                            ", unsigned"
                        }
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("zonegate: {shown}: bundle refused ({}): {e}", e.kind());
                    ExitCode::from(1)
                }
            },
        );
    }
    let bytes = std::fs::read(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let loaded = input::load(&args.file, args.today.as_deref())?;
    let d = &loaded.checked.diagnostics;
    if !d.items.is_empty() {
        eprint!("{}", d.render_text());
    }
    let Some(policy) = &loaded.checked.policy else {
        return Ok(ExitCode::from(1));
    };
    let Some(today) = policy.today else {
        return Err("the policy was validated without a date".into());
    };
    let sig_path = args.signature.clone().unwrap_or_else(|| {
        let mut p = args.file.clone().into_os_string();
        p.push(".sig");
        PathBuf::from(p)
    });
    let signature = match std::fs::read_to_string(&sig_path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && args.signature.is_none() => None,
        Err(e) => {
            return Err(format!(
                "cannot read the signature {}: {e}",
                sig_path.display()
            ))
        }
    };
    let out = bundle::render(&bytes, policy, &args.gateway, today, signature.as_deref())
        .map_err(|e| e.to_string())?;
    match &args.output {
        Some(path) => input::write_atomic(path, &out)?,
        None => {
            use std::io::Write;
            std::io::stdout()
                .lock()
                .write_all(&out)
                .map_err(|e| format!("cannot write to standard output: {e}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
