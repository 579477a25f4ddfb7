//! `zonegate init`: gathers this machine's facts (interfaces and addresses from `ip -j addr`,
//! the short host name, the SSH session from `SSH_CONNECTION`) and writes the first zones.toml
//! that `zonegate_policy::init` renders from them.

use crate::input;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use zonegate_policy::init::{parse_ip_addr_json, parse_ssh_connection, render, Lang, Machine};

#[derive(Args)]
#[command(
    after_help = "Examples:\n  zonegate init -o /etc/zonegate/zones.toml\n  \
                        zonegate init --gateway gw1 > zones.toml\n\n\
                        Interfaces on one network share a zone; the SSH session zonegate init runs in \
                        becomes the management flow; everything else is denied. Comments say what to \
                        decide (Japanese with LANG=ja_JP.UTF-8). Then: zonegate check FILE."
)]
pub struct InitArgs {
    /// The gateway's name under [gateways.NAME] (default: the short host name, as agent.toml).
    #[arg(long)]
    gateway: Option<String>,
    /// Write here (atomically) instead of standard output; an existing file is kept unless --force.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace an existing --output file.
    #[arg(long, requires = "output")]
    force: bool,
}

fn hostname() -> Result<String, String> {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").map_err(|e| {
        format!("cannot read the host name (/proc/sys/kernel/hostname): {e}; give --gateway NAME")
    })?;
    Ok(raw.trim().split('.').next().unwrap_or("").to_string())
}

fn interfaces() -> Result<Vec<zonegate_policy::init::Interface>, String> {
    let out = Command::new("ip")
        .args(["-j", "addr", "show"])
        .output()
        .map_err(|e| format!("cannot run `ip -j addr show` (package iproute2): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`ip -j addr show` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    parse_ip_addr_json(&String::from_utf8_lossy(&out.stdout)).map_err(|e| e.to_string())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub fn run(args: InitArgs) -> Result<ExitCode, String> {
    if let Some(path) = &args.output {
        if path.exists() && !args.force {
            return Err(format!(
                "{} exists and is kept; choose another file, or --force to replace it",
                path.display()
            ));
        }
    }
    let gateway = match args.gateway {
        Some(g) => g,
        None => hostname()?,
    };
    let machine = Machine {
        gateway,
        interfaces: interfaces()?,
        session: env("SSH_CONNECTION")
            .as_deref()
            .and_then(parse_ssh_connection),
    };
    let lang = Lang::from_locale(
        env("LC_ALL").as_deref(),
        env("LC_MESSAGES").as_deref(),
        env("LANG").as_deref(),
    );
    let text = render(&machine, lang).map_err(|e| e.to_string())?;
    match &args.output {
        Some(path) => {
            input::write_atomic(path, text.as_bytes())?;
            let next = match lang {
                Lang::En => format!(
                    "wrote {p}: decide what its DECIDE comments ask, then `zonegate check {p}`",
                    p = path.display()
                ),
                Lang::Ja => format!(
                    "{p} を書いた: コメントの「要決定」を決めてから `zonegate check {p}`",
                    p = path.display()
                ),
            };
            eprintln!("{next}");
        }
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| format!("cannot write to standard output: {e}"))?,
    }
    Ok(ExitCode::SUCCESS)
}
