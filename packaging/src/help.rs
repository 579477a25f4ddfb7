//! Rebuilds a `clap::Command` from a clap program's own help output, for programs whose clap
//! definition is not reachable from a library (`zonegate`'s lives in its binary). clap prints
//! short help (`-h`) in a fixed layout:
//!
//! ```text
//! ABOUT
//!
//! Usage: zonegate check [OPTIONS] <POLICY>
//!
//! Arguments:
//!   <POLICY>  The policy file
//!
//! Options:
//!       --today <DATE>     Evaluate … [default: x] [possible values: a, b]
//!   -o, --output <FILE>    Write here …
//!
//! AFTER HELP
//! ```
//!
//! and lists subcommands under `Commands:`. Descriptions, value names, defaults, possible values
//! and the text after the options survive; what the layout does not show (value parsers,
//! conflicts) is not needed for man pages and completions.

use clap::{Arg, ArgAction, Command};
use std::path::Path;
use std::process::Command as Process;

/// The command tree of the program at `bin`, from `bin -h`, `bin --help` and each subcommand's.
pub fn command_from_help(bin: &Path) -> Result<Command, String> {
    let name = bin
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: no program name", bin.display()))?
        .to_string();
    let short = run(bin, &["-h"])?;
    let long = run(bin, &["--help"])?;
    let version = run(bin, &["--version"]).unwrap_or_default();
    let mut cmd = Command::new(leak(&name))
        .about(leak(&before_usage(&short)))
        .long_about(leak(&before_usage(&long)))
        .subcommand_required(true);
    if let Some(v) = version.split_whitespace().nth(1) {
        cmd = cmd.version(leak(v));
    }
    for (sub, _) in section(&short, "Commands:") {
        if sub == "help" {
            continue;
        }
        let s_short = run(bin, &[&sub, "-h"])?;
        let s_long = run(bin, &[&sub, "--help"])?;
        cmd = cmd.subcommand(parse_leaf(&sub, &s_short, &s_long));
    }
    Ok(cmd)
}

fn run(bin: &Path, args: &[&str]) -> Result<String, String> {
    let out = Process::new(bin)
        .args(args)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "1000")
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {}: exit {}",
            bin.display(),
            args.join(" "),
            out.status
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A leaf command from its short and long help.
pub fn parse_leaf(name: &str, short: &str, long: &str) -> Command {
    let mut cmd = Command::new(leak(name))
        .about(leak(&before_usage(short)))
        .long_about(leak(&before_usage(long)));
    for (spec, help) in section(short, "Arguments:") {
        let required = spec.starts_with('<');
        let multiple = spec.ends_with("...");
        let value = spec
            .trim_end_matches("...")
            .trim_matches(|c| matches!(c, '<' | '>' | '[' | ']'))
            .to_string();
        let id = value.to_lowercase();
        let mut arg = Arg::new(leak(&id))
            .value_name(leak(&value))
            .required(required)
            .help(leak(&strip_brackets(&help).0));
        if multiple {
            arg = arg.action(ArgAction::Append).num_args(1..);
        }
        cmd = cmd.arg(arg);
    }
    for (spec, help) in section(short, "Options:") {
        if let Some(arg) = parse_option(&spec, &help) {
            cmd = cmd.arg(arg);
        }
    }
    let after = after_options(long);
    if !after.is_empty() {
        cmd = cmd.after_help(leak(&after));
    }
    cmd
}

/// `-o, --output <FILE>` / `--today <DATE>` / `--verbose` with its description.
fn parse_option(spec: &str, help: &str) -> Option<Arg> {
    let mut short = None;
    let mut long = None;
    let mut value = None;
    for part in spec.split([',', ' ']).filter(|p| !p.is_empty()) {
        if let Some(l) = part.strip_prefix("--") {
            long = Some(l.to_string());
        } else if let Some(s) = part.strip_prefix('-') {
            short = s.chars().next();
        } else if part.starts_with('<') {
            value = Some(
                part.trim_end_matches("...")
                    .trim_matches(|c| c == '<' || c == '>')
                    .to_string(),
            );
        }
    }
    let long = long?;
    if long == "help" || long == "version" {
        return None;
    }
    let (text, default, possible) = strip_brackets(help);
    let mut arg = Arg::new(leak(&long)).long(leak(&long)).help(leak(&text));
    if let Some(s) = short {
        arg = arg.short(s);
    }
    match value {
        Some(v) => {
            arg = arg.value_name(leak(&v)).action(ArgAction::Set);
            if let Some(d) = default {
                arg = arg.default_value(leak(&d));
            }
            if !possible.is_empty() {
                let values: Vec<&'static str> = possible.iter().map(|p| leak(p)).collect();
                arg = arg.value_parser(values);
            }
        }
        None => arg = arg.action(ArgAction::SetTrue),
    }
    Some(arg)
}

/// Splits `[default: x]` and `[possible values: a, b]` off a description.
fn strip_brackets(help: &str) -> (String, Option<String>, Vec<String>) {
    let mut text = help.to_string();
    let mut default = None;
    let mut possible = Vec::new();
    if let Some(i) = text.find("[possible values: ") {
        let rest = &text[i + 18..];
        if let Some(end) = rest.find(']') {
            possible = rest[..end].split(", ").map(str::to_string).collect();
            text = format!("{}{}", &text[..i], &rest[end + 1..]);
        }
    }
    if let Some(i) = text.find("[default: ") {
        let rest = &text[i + 10..];
        if let Some(end) = rest.find(']') {
            default = Some(rest[..end].to_string());
            text = format!("{}{}", &text[..i], &rest[end + 1..]);
        }
    }
    (text.trim().to_string(), default, possible)
}

/// The text before the `Usage:` line.
fn before_usage(help: &str) -> String {
    help.split("\nUsage:")
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// `(spec, description)` pairs of a section (`Commands:`, `Arguments:`, `Options:`) in short
/// help: one entry per line, the spec and description separated by two or more spaces.
fn section(help: &str, title: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line == title {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if line.trim().is_empty() || !line.starts_with(' ') {
            break;
        }
        let t = line.trim_start();
        match t.find("  ") {
            Some(i) => out.push((t[..i].to_string(), t[i..].trim().to_string())),
            None => out.push((t.to_string(), String::new())),
        }
    }
    out
}

/// What comes after the `Options:` section (examples, exit codes).
fn after_options(help: &str) -> String {
    let Some(i) = help.find("\nOptions:\n") else {
        return String::new();
    };
    let rest = &help[i + 10..];
    // The options end at the first line that is neither indented nor blank.
    let mut end = rest.len();
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if !line.trim().is_empty() && !line.starts_with(' ') {
            end = offset;
            break;
        }
        offset += line.len();
    }
    rest[end..].trim().to_string()
}

/// clap's builder wants `'static` strings without its `string` feature; this program runs once.
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: &str = "Check a policy\n\nUsage: zonegate check [OPTIONS] <POLICY>\n\n\
Arguments:\n  <POLICY>  The policy file\n\nOptions:\n      --today <DATE>     Evaluate as of DATE\n  \
    --format <FORMAT>  Output [default: text] [possible values: text, json]\n  -o, --output <FILE>  Write here\n  \
    -h, --help             Print help\n\nExample:\n  zonegate check zones.toml\n";

    #[test]
    fn a_leaf_keeps_arguments_options_defaults_and_after_help() {
        let mut cmd = parse_leaf("check", SHORT, SHORT);
        cmd.build();
        let policy = cmd
            .get_arguments()
            .find(|a| a.get_id() == "policy")
            .expect("positional");
        assert!(policy.is_required_set());
        let format = cmd
            .get_arguments()
            .find(|a| a.get_id() == "format")
            .expect("format");
        assert_eq!(format.get_default_values(), ["text"]);
        let values: Vec<String> = format
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_string())
            .collect();
        assert_eq!(values, ["text", "json"]);
        let output = cmd
            .get_arguments()
            .find(|a| a.get_id() == "output")
            .expect("output");
        assert_eq!(output.get_short(), Some('o'));
        assert!(cmd
            .get_after_help()
            .is_some_and(|h| h.to_string().contains("zonegate check zones.toml")));
        // clap adds its own --help at build(); the parsed one must not be a second.
        assert_eq!(
            cmd.get_arguments().filter(|a| a.get_id() == "help").count(),
            1
        );
    }
}
