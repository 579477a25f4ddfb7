//! `zonegate lockdown`: renders the lockdown ruleset that the boot unit loads when a gateway has
//! no last-known-good ruleset: forwarding dropped, only the management path into the gateway.
//! The management path comes from a policy's `to = "gateway"` flows and/or `--management`
//! entries, so the file can be generated once at install time and loaded at boot without
//! parsing any TOML.

use crate::input;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use zonegate_policy::lockdown::{lockdown, management_from_policy, Management};
use zonegate_policy::net::{merge, parse_cidr};
use zonegate_policy::ports::{parse_port_spec, PortSpec};

#[derive(Args)]
#[command(
    after_help = "Examples:\n  zonegate lockdown zones.toml -o /usr/lib/zonegate/lockdown.nft\n  \
                        zonegate lockdown --management 10.20.0.50/32=tcp/22 --management fd00:20::/64=tcp/22,tcp/443\n\n\
                        Load it with `nft -f FILE`; it replaces only table inet zonegate."
)]
pub struct LockdownArgs {
    /// Take the management path from this policy's flows to "gateway".
    policy: Option<PathBuf>,
    /// Also open SOURCE=PORTS, e.g. 10.20.0.50/32=tcp/22 (repeatable; TCP/UDP/SCTP ports).
    #[arg(long, value_name = "SOURCE=PORTS")]
    management: Vec<String>,
    /// Evaluate `expires` as of this date (YYYY-MM-DD) instead of today.
    #[arg(long, value_name = "DATE")]
    today: Option<String>,
    /// Write here (atomically) instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn parse_management(entry: &str) -> Result<Management, String> {
    let (src, ports) = entry.split_once('=').ok_or_else(|| {
        format!("--management {entry:?}: expected SOURCE=PORTS, e.g. 10.20.0.50/32=tcp/22")
    })?;
    let cidr =
        parse_cidr(src).map_err(|_| format!("--management {entry:?}: {src:?} is not a network"))?;
    let mut specs = Vec::new();
    for p in ports.split(',') {
        match parse_port_spec(p.trim()) {
            Ok(spec @ PortSpec::Ports { .. }) => specs.push(spec),
            _ => {
                return Err(format!(
                    "--management {entry:?}: {p:?} is not PROTO/PORT (tcp, udp or sctp)"
                ))
            }
        }
    }
    Ok(Management {
        sources: merge(vec![cidr.range()]),
        specs,
    })
}

pub fn run(args: LockdownArgs) -> Result<ExitCode, String> {
    let mut management = Vec::new();
    let mut reason = String::from("no valid policy");
    if let Some(path) = &args.policy {
        let loaded = input::load(path, args.today.as_deref())?;
        let d = &loaded.checked.diagnostics;
        if d.has_errors() {
            eprint!("{}", d.render_text());
            return Ok(ExitCode::from(1));
        }
        if let Some(p) = &loaded.checked.policy {
            management.extend(management_from_policy(p));
            reason = format!("management of policy {} revision {}", p.name, p.revision);
        }
    }
    for m in &args.management {
        management.push(parse_management(m)?);
    }
    if management.is_empty() {
        eprintln!("zonegate: warning: no management path: this lockdown locks everybody out of the gateway's network interfaces");
    }
    let text = lockdown(&management, &reason);
    match &args.output {
        Some(path) => input::write_atomic(path, text.as_bytes())?,
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| format!("cannot write to standard output: {e}"))?,
    }
    Ok(ExitCode::SUCCESS)
}
