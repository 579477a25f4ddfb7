//! `zonegate explain`: the CLI edge of `explain::explain`. Loads and checks the policy (today's
//! date in the policy's time zone unless `--today`), asks the pure library, prints text or JSON.
//! Exit status: 0 when the question was answered (whatever the verdict), 1 when the policy has
//! errors, 2 for usage or I/O errors.

use crate::input;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use zonegate_policy::explain::{explain, Packet, Query, Target};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Args)]
pub struct ExplainArgs {
    /// The policy file.
    policy: PathBuf,
    /// The gateway, as named under [gateways.NAME].
    #[arg(long)]
    gateway: String,
    /// Evaluate `expires` as of this date (YYYY-MM-DD) instead of today in the policy's time zone.
    #[arg(long, value_name = "DATE")]
    today: Option<String>,
    /// Ingress interface (default: the first interface of the source address's zone). Needed to
    /// see "spoofed": a source arriving on another zone's interface.
    #[arg(long, value_name = "IF")]
    iif: Option<String>,
    /// Egress interface (default: the first interface of the destination address's zone).
    #[arg(long, value_name = "IF")]
    oif: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Language of the text: ja or en (default: from LC_ALL, LC_MESSAGES, LANG).
    #[arg(long, value_name = "ja|en", value_parser = crate::parse_lang)]
    lang: Option<zonegate_policy::Lang>,
    /// Source: an address, a host name, or `gateway`.
    src: String,
    /// Destination: an address, a host name, or `gateway`.
    dst: String,
    /// tcp/443, udp/53, icmp/echo-request, icmpv6/echo-request ...; without it, lists the ports that pass.
    #[arg(value_name = "PROTO/PORT")]
    port: Option<String>,
}

pub fn run(a: ExplainArgs) -> Result<ExitCode, String> {
    let lang = a.lang.unwrap_or_else(crate::lang_from_env);
    let packet = match &a.port {
        Some(p) => Some(Packet::parse(p)?),
        None => None,
    };
    let loaded = input::load(&a.policy, a.today.as_deref())?;
    let d = &loaded.checked.diagnostics;
    let Some(p) = &loaded.checked.policy else {
        eprint!("{}", d.render_text_in(lang));
        return Ok(ExitCode::from(1));
    };
    let mut q = Query::new(Target::parse(&a.src), Target::parse(&a.dst), packet);
    q.iif = a.iif;
    q.oif = a.oif;
    let x = explain(p, &a.gateway, &q).map_err(|e| e.to_string())?;
    match a.format {
        Format::Text => print!("{}", x.render_text_in(lang)),
        Format::Json => print!("{}", x.render_json()),
    }
    Ok(ExitCode::SUCCESS)
}
