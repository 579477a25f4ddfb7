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
}

pub fn run(a: MatrixArgs) -> Result<ExitCode, String> {
    let loaded = input::load(&a.policy, a.today.as_deref())?;
    let d = &loaded.checked.diagnostics;
    let Some(p) = &loaded.checked.policy else {
        eprint!("{}", d.render_text());
        return Ok(ExitCode::from(1));
    };
    let m = build(p, d, a.gateway.as_deref()).map_err(|e| e.to_string())?;
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
