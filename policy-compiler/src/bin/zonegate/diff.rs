//! `zonegate diff OLD NEW`: the CLI edge of the policy diff. Loads both policies (expiry as of
//! --today, or today in each policy's time zone), builds the diff and prints it. Exit status
//! as `zonegate-agent plan`: 0 no change, 2 changes, 1 error (a policy that does not check,
//! with its diagnostics; guardrail findings alone are not an error here: they are the diff).

use crate::input;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use zonegate_policy::diff::{build, Diff, Input};
use zonegate_policy::matrix::Lang;
use zonegate_policy::validate_for_review;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
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
pub struct DiffArgs {
    /// The policy before the change.
    old: PathBuf,
    /// The policy after the change.
    new: PathBuf,
    /// Only this gateway (default: every gateway both policies declare).
    #[arg(long)]
    gateway: Option<String>,
    /// Evaluate `expires` as of this date (YYYY-MM-DD) instead of today in the policy's time zone.
    #[arg(long, value_name = "DATE")]
    today: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Label language (default: en for text, ja for md and html; JSON keys are always English).
    #[arg(long, value_enum)]
    lang: Option<LangArg>,
    /// Write here instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Load, compare, render, write; the exit status says whether anything changed.
pub fn run(a: DiffArgs) -> ExitCode {
    match diff(&a) {
        Ok(Some(d)) => match write(&a, &render(&a, &d)) {
            Ok(()) if d.changed => ExitCode::from(2),
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
        Ok(None) => ExitCode::from(1),
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("zonegate: {message}");
    ExitCode::from(1)
}

/// The diff, or None when a policy has errors (printed as `check` prints them).
fn diff(a: &DiffArgs) -> Result<Option<Diff>, String> {
    let old = input::load_with(&a.old, a.today.as_deref(), validate_for_review)?;
    let new = input::load_with(&a.new, a.today.as_deref(), validate_for_review)?;
    let (Some(op), Some(np)) = (&old.checked.policy, &new.checked.policy) else {
        for l in [&old, &new]
            .into_iter()
            .filter(|l| l.checked.policy.is_none())
        {
            eprint!("{}", l.checked.diagnostics.render_text());
        }
        return Ok(None);
    };
    let old_in = Input {
        policy: op,
        diagnostics: &old.checked.diagnostics,
    };
    let new_in = Input {
        policy: np,
        diagnostics: &new.checked.diagnostics,
    };
    build(old_in, new_in, a.gateway.as_deref())
        .map(Some)
        .map_err(|e| e.to_string())
}

fn render(a: &DiffArgs, d: &Diff) -> String {
    let lang = match (a.lang, a.format) {
        (Some(LangArg::Ja), _) => Lang::Ja,
        (Some(LangArg::En), _) | (None, Format::Text | Format::Json) => Lang::En,
        (None, _) => Lang::Ja,
    };
    match a.format {
        Format::Text => d.render_text(lang),
        Format::Md => d.render_md(lang),
        Format::Html => d.render_html(lang),
        Format::Json => d.render_json(),
    }
}

fn write(a: &DiffArgs, text: &str) -> Result<(), String> {
    match &a.output {
        Some(path) => input::write_atomic(path, text.as_bytes()),
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| format!("cannot write to standard output: {e}")),
    }
}
