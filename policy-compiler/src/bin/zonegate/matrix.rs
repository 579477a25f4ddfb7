//! `zonegate matrix`: the CLI edge of the audit matrix. Loads and checks the policy, builds the
//! matrix with the check's findings, and prints Markdown, self-contained HTML or JSON (or
//! writes it atomically with `-o`). A policy with errors gets no matrix: an audit document
//! for a policy no gateway can run would mislead.

use crate::input;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use zonegate_policy::matrix::{build, Lang};
use zonegate_policy::{approval, canonical, Policy};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Md,
    Html,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LangArg {
    Ja,
    En,
}

#[derive(Args)]
pub struct MatrixArgs {
    /// The policy file.
    policy: PathBuf,
    /// Only the zones and flows of this gateway (default: every zone of the policy).
    #[arg(long)]
    gateway: Option<String>,
    /// Evaluate `expires` as of this date (YYYY-MM-DD) instead of today in the policy's time zone.
    #[arg(long, value_name = "DATE")]
    today: Option<String>,
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// Label language of md and html (JSON keys are always English).
    #[arg(long, value_enum, default_value = "ja")]
    lang: LangArg,
    /// Write here instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Check the approval signature against this OpenSSH public key (repeatable; a .pub or
    /// allowed_signers file) and show the signer; a missing or bad signature is an error.
    #[arg(long = "trusted-key", value_name = "FILE")]
    trusted_keys: Vec<PathBuf>,
    /// The policy's signature (default: the policy's path + ".sig"); with --trusted-key.
    #[arg(long, value_name = "SIGFILE")]
    signature: Option<PathBuf>,
}

/// The approval of the policy, checked as the agent checks it: the signature over the
/// canonical policy by one of the trusted keys.
fn verified_signer(a: &MatrixArgs, p: &Policy) -> Result<String, String> {
    let mut trusted = Vec::new();
    for path in &a.trusted_keys {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        trusted.extend(
            approval::parse_trusted_keys(&text).map_err(|e| format!("{}: {e}", path.display()))?,
        );
    }
    let sig_path = a.signature.clone().unwrap_or_else(|| {
        let mut s = a.policy.clone().into_os_string();
        s.push(".sig");
        PathBuf::from(s)
    });
    let sig = std::fs::read_to_string(&sig_path).ok();
    approval::verify(canonical(p).as_bytes(), sig.as_deref(), &trusted)
        .map(|k| k.to_string())
        .map_err(|e| format!("{}: approval refused: {e}", sig_path.display()))
}

pub fn run(a: MatrixArgs) -> Result<ExitCode, String> {
    let loaded = input::load(&a.policy, a.today.as_deref())?;
    let d = &loaded.checked.diagnostics;
    let Some(p) = &loaded.checked.policy else {
        eprint!("{}", d.render_text());
        return Ok(ExitCode::from(1));
    };
    let mut m = build(p, d, a.gateway.as_deref()).map_err(|e| e.to_string())?;
    if !a.trusted_keys.is_empty() {
        m.signer = Some(verified_signer(&a, p)?);
    }
    let lang = match a.lang {
        LangArg::Ja => Lang::Ja,
        LangArg::En => Lang::En,
    };
    let text = match a.format {
        Format::Md => m.render_md(lang),
        Format::Html => m.render_html(lang),
        Format::Json => m.render_json(),
    };
    match a.output {
        Some(path) => input::write_atomic(&path, text.as_bytes())?,
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| format!("cannot write to standard output: {e}"))?,
    }
    Ok(ExitCode::SUCCESS)
}
