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
//! OUT_DIR/man/zones.toml.5  OUT_DIR/man/agent.toml.5        (docs/zones-reference.md)
//! OUT_DIR/man/ja/{zonegate.1,zonegate-agent.8}               (docs/man/*.ja.md)
//! OUT_DIR/man/ja/{zones.toml.5,agent.toml.5}                 (docs/zones-reference.ja.md)
//! OUT_DIR/completions/{zonegate,zonegate-agent}.bash  _{zonegate,zonegate-agent}  {…}.fish
//! ```
//!
//! The file-format pages are rendered from the reference Markdown compiled into this program
//! ([`mdman`]), so a man page and the reference cannot disagree; the Japanese pages of the two
//! programs must name every subcommand and option of the clap definitions, or generation fails.

mod help;
mod mdman;

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
        let ja = match cmd.get_name() {
            "zonegate" => ZONEGATE_JA,
            _ => AGENT_JA,
        };
        covers(&cmd, ja)?;
        let page = mdman::Page {
            name: cmd.get_name(),
            section,
            summary: summary_ja(cmd.get_name()),
            markdown: ja,
            version: env!("CARGO_PKG_VERSION"),
        };
        written.push(write_page(&out.join("man/ja"), &page, true)?);
    }
    for (lang_ja, md) in [(false, REFERENCE), (true, REFERENCE_JA)] {
        let dir = if lang_ja {
            out.join("man/ja")
        } else {
            out.join("man")
        };
        for (name, text) in file_pages(md, lang_ja)? {
            let page = mdman::Page {
                name,
                section: "5",
                summary: match (name, lang_ja) {
                    ("zones.toml", false) => {
                        "the zonegate policy: zones, hosts, flows and gateways"
                    }
                    ("zones.toml", true) => {
                        "zonegate のポリシー: ゾーン、ホスト、通信、ゲートウェイ"
                    }
                    (_, false) => "configuration of the zonegate gateway agent",
                    (_, true) => "zonegate ゲートウェイエージェントの設定",
                },
                markdown: &text,
                version: env!("CARGO_PKG_VERSION"),
            };
            written.push(write_page(&dir, &page, lang_ja)?);
        }
    }
    Ok(written)
}

/// The reference of both files, and its Japanese version: the source of zones.toml(5) and
/// agent.toml(5).
const REFERENCE: &str = include_str!("../../docs/zones-reference.md");
const REFERENCE_JA: &str = include_str!("../../docs/zones-reference.ja.md");
/// The Japanese zonegate(1) and zonegate-agent(8).
const ZONEGATE_JA: &str = include_str!("../../docs/man/zonegate.ja.md");
const AGENT_JA: &str = include_str!("../../docs/man/zonegate-agent.ja.md");

fn summary_ja(name: &str) -> &'static str {
    match name {
        "zonegate" => "zonegate のネットワーク分離ポリシー(zones.toml)を検査・コンパイルする",
        _ => "zonegate ゲートウェイエージェント: コンパイルしたルールセットを適用・監視・修復する",
    }
}

/// The Markdown of zones.toml(5) and agent.toml(5), cut from the reference: its introduction
/// and the file's own section, the files on a gateway, and the related pages.
fn file_pages(md: &str, ja: bool) -> Result<Vec<(&'static str, String)>, String> {
    let (description, files, see_also) = if ja {
        ("## 説明", "## ゲートウェイ上のファイル", "## 関連項目")
    } else {
        ("## Description", "## Files on a gateway", "## See also")
    };
    let missing = |what: &str| format!("the reference has no {what:?} section");
    let intro_end = md.find("\n## ").ok_or_else(|| missing("## "))?;
    let intro = md[..intro_end]
        .split_once('\n')
        .map(|(_, rest)| rest)
        .unwrap_or("");
    let zones = mdman::section(md, "## zones.toml", &["## agent.toml"])
        .ok_or_else(|| missing("## zones.toml"))?;
    let agent =
        mdman::section(md, "## agent.toml", &[files]).ok_or_else(|| missing("## agent.toml"))?;
    let files_text = mdman::section(md, files, &[]).ok_or_else(|| missing(files))?;
    let body = |s: &str| {
        s.split_once('\n')
            .map(|(_, r)| r.to_string())
            .unwrap_or_default()
    };
    let doc = if ja {
        "/usr/share/doc/zonegate/zones-reference.ja.md"
    } else {
        "/usr/share/doc/zonegate/zones-reference.md"
    };
    let see = |other: &str| {
        format!("{see_also}\n\nzonegate(1), zonegate-agent(8), {other}(5), nft(8); {doc}\n")
    };
    Ok(vec![
        (
            "zones.toml",
            format!(
                "{description}\n{intro}\n{}\n{files_text}\n{}",
                body(zones),
                see("agent.toml")
            ),
        ),
        (
            "agent.toml",
            format!(
                "{description}\n{}\n{files_text}\n{}",
                body(agent),
                see("zones.toml")
            ),
        ),
    ])
}

/// Every subcommand (as `### PROGRAM SUB`) and every long option (as `` `--NAME` ``) of `cmd`
/// is in the Japanese page `md`.
fn covers(cmd: &clap::Command, md: &str) -> Result<(), String> {
    let name = cmd.get_name();
    let mut missing = Vec::new();
    let opts = |c: &clap::Command, missing: &mut Vec<String>| {
        for a in c.get_arguments() {
            if let Some(long) = a.get_long() {
                if !md.contains(&format!("`--{long}`")) {
                    missing.push(format!("`--{long}` ({})", c.get_name()));
                }
            }
        }
    };
    opts(cmd, &mut missing);
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        if !md.contains(&format!("### {name} {}", sub.get_name())) {
            missing.push(format!("### {name} {}", sub.get_name()));
        }
        opts(sub, &mut missing);
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the Japanese page of {name} (docs/man/{name}.ja.md) lacks {}",
            missing.join(", ")
        ))
    }
}

fn write_page(dir: &Path, page: &mdman::Page<'_>, ja: bool) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{}.{}", page.name, page.section));
    std::fs::write(&path, mdman::render(page, ja))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
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
/etc/zonegate/zones.toml      the policy (the package installs none: zonegate init writes a first one)\n  /var/lib/zonegate/lkg.nft     last-known-good ruleset, loaded at boot\n  \
/usr/lib/zonegate/lockdown.nft  static lockdown, loaded at boot when there is no last-known-good ruleset\n  \
/run/zonegate/agent.sock      status socket\n\nSee also: zonegate(1), agent.toml(5), zones.toml(5), nft(8), systemctl(1); \
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_references_have_the_same_tables_keys_and_codes() {
        assert_eq!(
            mdman::skeleton(REFERENCE),
            mdman::skeleton(REFERENCE_JA),
            "docs/zones-reference.md and docs/zones-reference.ja.md differ in their headings or in the first cells of their tables"
        );
    }

    #[test]
    fn the_file_pages_hold_every_key_of_the_reference() {
        for (ja, md) in [(false, REFERENCE), (true, REFERENCE_JA)] {
            let pages = file_pages(md, ja).expect("pages");
            assert_eq!(pages.len(), 2);
            let (zones, agent) = (&pages[0].1, &pages[1].1);
            for key in [
                "`networks`",
                "`max_port_range`",
                "`dhcp_client`",
                "G092",
                "E024",
            ] {
                assert!(zones.contains(key), "zones.toml(5) lacks {key}");
                assert!(!agent.contains(key), "agent.toml(5) has {key}");
            }
            for key in [
                "`check_interval`",
                "`trusted_keys`",
                "`[lockdown] management`",
            ] {
                assert!(agent.contains(key), "agent.toml(5) lacks {key}");
            }
            for page in [zones, agent] {
                assert!(page.contains("/usr/lib/zonegate/lockdown.nft"));
            }
        }
    }

    #[test]
    fn the_japanese_agent_page_names_every_subcommand_and_option() {
        let mut cmd = zonegate_agent::cli::Args::command();
        cmd.build();
        covers(&cmd, AGENT_JA).expect("complete");
        assert!(covers(&cmd, "### zonegate-agent run").is_err());
    }
}
