//! `zonegate-gen OUT_DIR ZONEGATE_BIN`: the man pages and shell completions the Debian package
//! ships, generated from the clap definitions of both programs so they cannot drift from them.
//!
//! `zonegate-agent`'s definition is public in its library (`zonegate_agent::cli::Args`).
//! `zonegate`'s lives in its binary, so it is rebuilt here from the binary's own `--help` output
//! (about text, subcommands, arguments, options, defaults and possible values), which clap
//! prints in a fixed layout; see [`help`]. Output:
//!
//! ```text
//! OUT_DIR/man/zonegate.1  OUT_DIR/man/zonegate-agent.8
//! OUT_DIR/completions/{zonegate,zonegate-agent}.bash  _{zonegate,zonegate-agent}  {…}.fish
//! ```

mod help;

use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), Some(zonegate)) = (args.next(), args.next()) else {
        eprintln!("usage: zonegate-gen OUT_DIR ZONEGATE_BIN");
        return ExitCode::from(2);
    };
    match generate(Path::new(&out), Path::new(&zonegate)) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("zonegate-gen: {e}");
            ExitCode::from(1)
        }
    }
}

fn generate(out: &Path, zonegate_bin: &Path) -> Result<Vec<PathBuf>, String> {
    let agent = zonegate_agent::cli::Args::command()
        .long_about(AGENT_LONG_ABOUT)
        .after_long_help(AGENT_FILES);
    let zonegate = help::command_from_help(zonegate_bin)?;
    let mut written = Vec::new();
    for (cmd, section) in [(zonegate, "1"), (agent, "8")] {
        let mut cmd = cmd;
        cmd.build();
        written.push(man(out, &cmd, section)?);
        written.extend(completions(out, &mut cmd)?);
    }
    Ok(written)
}

/// The agent's man page description (its clap `about` is one line).
const AGENT_LONG_ABOUT: &str = "zonegate-agent runs on a gateway as the systemd service \
zonegate-agent.service. It compiles the policy named in agent.toml for this gateway, loads it \
into table inet zonegate in one transaction, reads it back, and keeps it: any change to the table \
is detected from the kernel's change events and repaired at once (mode enforce) or only reported \
(mode monitor). The last ruleset it verified is kept in the state directory; \
zonegate-boot.service loads it at the next boot before any interface is configured, or the static \
lockdown when there is none.";

const AGENT_FILES: &str = "Files:\n  /etc/zonegate/agent.toml      configuration (every key commented)\n  \
/etc/zonegate/zones.toml      the policy\n  /var/lib/zonegate/lkg.nft     last-known-good ruleset, loaded at boot\n  \
/usr/lib/zonegate/lockdown.nft  static lockdown, loaded at boot when there is no last-known-good ruleset\n  \
/run/zonegate/agent.sock      status socket\n\nSee also: zonegate(1), nft(8), systemctl(1); \
/usr/share/doc/zonegate/admin-guide.md";

fn man(out: &Path, cmd: &clap::Command, section: &str) -> Result<PathBuf, String> {
    let dir = out.join("man");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{}.{section}", cmd.get_name()));
    let mut buf = Vec::new();
    let page = clap_mangen::Man::new(cmd.clone())
        .section(section)
        .manual("zonegate")
        .source(format!("zonegate {}", env!("CARGO_PKG_VERSION")));
    let err = |e: std::io::Error| format!("man page of {}: {e}", cmd.get_name());
    page.render_title(&mut buf).map_err(err)?;
    page.render_name_section(&mut buf).map_err(err)?;
    page.render_synopsis_section(&mut buf).map_err(err)?;
    page.render_description_section(&mut buf).map_err(err)?;
    page.render_options_section(&mut buf).map_err(err)?;
    // Each subcommand gets a section of this page (one page per program, as Debian ships it),
    // rather than clap_mangen's list of per-subcommand pages that would not exist.
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut page = Vec::new();
        clap_mangen::Man::new(sub.clone())
            .render_options_section(&mut page)
            .map_err(|e| format!("man page of {}: {e}", sub.get_name()))?;
        buf.extend_from_slice(
            format!(
                ".SH \"{} {}\"\n",
                cmd.get_name().to_uppercase(),
                sub.get_name().to_uppercase()
            )
            .as_bytes(),
        );
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            buf.extend_from_slice(format!("{}\n", roff_text(&about.to_string())).as_bytes());
        }
        let usage = sub.clone().render_usage().to_string();
        buf.extend_from_slice(
            format!(
                ".PP\n.B {}\n",
                roff_text(usage.trim_start_matches("Usage: "))
            )
            .as_bytes(),
        );
        // The options section's own heading is replaced by the subcommand heading above.
        let text = String::from_utf8_lossy(&page).replace(".SH OPTIONS\n", ".PP\n");
        buf.extend_from_slice(text.as_bytes());
        if let Some(after) = sub.get_after_long_help().or(sub.get_after_help()) {
            buf.extend_from_slice(
                format!(".PP\n.nf\n{}\n.fi\n", roff_text(&after.to_string())).as_bytes(),
            );
        }
    }
    if cmd.get_after_long_help().is_some() || cmd.get_after_help().is_some() {
        page.render_extra_section(&mut buf).map_err(err)?;
    }
    page.render_version_section(&mut buf).map_err(err)?;
    std::fs::write(&path, buf).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Text safe on a roff line: no leading dot or quote, backslashes escaped.
fn roff_text(s: &str) -> String {
    s.lines()
        .map(|l| {
            let l = l.replace('\\', "\\e");
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn completions(out: &Path, cmd: &mut clap::Command) -> Result<Vec<PathBuf>, String> {
    let dir = out.join("completions");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = cmd.get_name().to_string();
    let mut written = Vec::new();
    for (shell, file) in [
        (Shell::Bash, format!("{name}.bash")),
        (Shell::Zsh, format!("_{name}")),
        (Shell::Fish, format!("{name}.fish")),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, cmd, &name, &mut buf);
        let path = dir.join(file);
        std::fs::write(&path, buf).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
