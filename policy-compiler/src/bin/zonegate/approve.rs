//! `zonegate canonical` and `zonegate approve`: the bytes an approval signs, and a detached
//! OpenSSH signature over them (policy-compiler/src/approval.rs), which the agent checks
//! against its `trusted_keys` and `ssh-keygen -Y verify -n zonegate` checks by hand.

use crate::input;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zonegate_policy::{approval, canonical, Policy};

#[derive(Args)]
#[command(
    after_help = "Example:\n  zonegate canonical zones.toml | sha256sum\n    \
                        (the same SHA-256 as `zonegate matrix` and the compiled metadata)\n  \
                        zonegate canonical zones.toml | ssh-keygen -Y verify -f allowed_signers -I ciso -n zonegate -s zones.toml.sig\n\n\
                        Printed without a trailing newline: these exact bytes are what an approval signs."
)]
pub struct CanonicalArgs {
    /// The policy file.
    policy: PathBuf,
}

#[derive(Args)]
#[command(
    after_help = "Example:\n  zonegate approve zones.toml --key ~/.ssh/id_ed25519\n    \
                        (writes zones.toml.sig)\n\n\
                        The signature is an OpenSSH signature (namespace \"zonegate\") over the canonical policy, \
                        so formatting and comments may change without a new approval. A key with a passphrase: \
                        zonegate canonical zones.toml | ssh-keygen -Y sign -f KEY -n zonegate > zones.toml.sig\n\n\
                        Exit status: 0 signed, 1 policy errors (nothing signed), 2 cannot read or sign."
)]
pub struct ApproveArgs {
    /// The policy file.
    policy: PathBuf,
    /// OpenSSH Ed25519 private key without a passphrase (`ssh-keygen -t ed25519`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Where to write the signature (default: the policy's path + ".sig").
    #[arg(short = 'o', long, value_name = "SIGFILE")]
    output: Option<PathBuf>,
}

pub fn run_canonical(args: CanonicalArgs) -> Result<ExitCode, String> {
    let Some(policy) = valid_policy(&args.policy)? else {
        return Ok(ExitCode::from(1));
    };
    let mut out = std::io::stdout().lock();
    out.write_all(canonical(&policy).as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write to standard output: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

pub fn run_approve(args: ApproveArgs) -> Result<ExitCode, String> {
    let Some(policy) = valid_policy(&args.policy)? else {
        return Ok(ExitCode::from(1));
    };
    let key = std::fs::read_to_string(&args.key)
        .map_err(|e| format!("cannot read {}: {e}", args.key.display()))?;
    let signed = approval::sign(canonical(&policy).as_bytes(), &key)
        .map_err(|e| format!("{}: {e}", args.key.display()))?;
    let output = args
        .output
        .unwrap_or_else(|| default_signature(&args.policy));
    input::write_atomic(&output, signed.armored.as_bytes())?;
    println!(
        "{}: signed policy {} revision {} (canonical sha256 {}) with {}",
        output.display(),
        policy.name,
        policy.revision,
        policy.canonical_sha256,
        signed.signer
    );
    Ok(ExitCode::SUCCESS)
}

/// `zones.toml` -> `zones.toml.sig`, where the agent looks by default.
fn default_signature(policy: &Path) -> PathBuf {
    let mut path = policy.as_os_str().to_owned();
    path.push(".sig");
    PathBuf::from(path)
}

/// The policy when it has no errors; otherwise prints its diagnostics and gives None.
fn valid_policy(path: &Path) -> Result<Option<Policy>, String> {
    let loaded = input::load(path, None)?;
    let d = &loaded.checked.diagnostics;
    if d.has_errors() {
        eprint!("{}", d.render_text());
        return Ok(None);
    }
    Ok(loaded.checked.policy)
}
