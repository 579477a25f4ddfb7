//! Other firewall managers on the same gateway, which fight the agent or wipe its table:
//! firewalld running, ufw enabled, nftables.service enabled or active with a configuration that
//! runs `flush ruleset` (every `systemctl restart nftables` then removes table inet zonegate
//! until the agent repairs it), and iptables-legacy rules (a second packet filter the agent does
//! not see). `zonegate-agent validate` and the agent at start report each with what to do.
//!
//! Detection reads files under a root directory (`/` on a gateway; a fixture tree in tests):
//! `/proc` (processes, legacy x_tables), `/etc` (ufw, nftables.conf, enabled units) and
//! `/run/systemd/units` (the units systemd runs now). Only at `/` is `iptables-legacy-save` run,
//! to count legacy rules rather than merely loaded tables.
//!
//! The messages are held per language (English and Japanese) in [`Conflict::text`], one place to
//! move into a message catalogue.

use std::path::{Path, PathBuf};
use std::process::Command;
use zonegate_policy::init::Lang;

/// Another firewall manager found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// firewalld runs.
    Firewalld,
    /// ufw is enabled (`ENABLED=yes` in /etc/ufw/ufw.conf).
    Ufw,
    /// nftables.service is enabled or active and its configuration flushes the whole ruleset.
    NftablesFlush { config: PathBuf, line: usize },
    /// iptables-legacy tables are loaded (with this many rules, when it could be counted).
    IptablesLegacy {
        tables: Vec<String>,
        rules: Option<usize>,
    },
}

/// A conflict's message and what to do about it, in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub message: String,
    pub fix: String,
}

impl Conflict {
    /// A stable code for scripts and the JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            Conflict::Firewalld => "C001",
            Conflict::Ufw => "C002",
            Conflict::NftablesFlush { .. } => "C003",
            Conflict::IptablesLegacy { .. } => "C004",
        }
    }

    /// What was found and what to do, in `lang`.
    pub fn text(&self, lang: Lang) -> Text {
        let (message, fix) = match (self, lang) {
            (Conflict::Firewalld, Lang::En) => (
                "firewalld is running: it manages nftables too and may reload or flush rules beside table inet zonegate".to_string(),
                "stop and disable it: systemctl disable --now firewalld.service (zonegate replaces it on this gateway)".to_string(),
            ),
            (Conflict::Firewalld, Lang::Ja) => (
                "firewalld が動作している: firewalld も nftables を管理し、table inet zonegate の横でルールを再読み込み・消去しうる".to_string(),
                "停止して無効にする: systemctl disable --now firewalld.service (このゲートウェイでは zonegate が代わる)".to_string(),
            ),
            (Conflict::Ufw, Lang::En) => (
                "ufw is enabled (ENABLED=yes in /etc/ufw/ufw.conf): its rules filter the same packets as zonegate's, so a flow the policy allows can still be dropped".to_string(),
                "disable it: ufw disable (sets ENABLED=no), then systemctl disable ufw.service".to_string(),
            ),
            (Conflict::Ufw, Lang::Ja) => (
                "ufw が有効 (/etc/ufw/ufw.conf の ENABLED=yes): zonegate と同じパケットを ufw のルールもふるい分けるため、ポリシーが許可した通信も遮断されうる".to_string(),
                "無効にする: ufw disable (ENABLED=no になる)、続けて systemctl disable ufw.service".to_string(),
            ),
            (Conflict::NftablesFlush { config, line }, Lang::En) => (
                format!(
                    "nftables.service is enabled and {}:{line} says `flush ruleset`: every start or `systemctl restart nftables` deletes table inet zonegate, and the gateway is open until the agent repairs it",
                    config.display()
                ),
                format!(
                    "in {} replace `flush ruleset` by flushing only the tables that file defines (e.g. `table inet filter` then `flush table inet filter`), or, if the file holds nothing you need, systemctl disable --now nftables.service",
                    config.display()
                ),
            ),
            (Conflict::NftablesFlush { config, line }, Lang::Ja) => (
                format!(
                    "nftables.service が有効で、{}:{line} に `flush ruleset` がある: 起動や `systemctl restart nftables` のたびに table inet zonegate が消え、エージェントが修復するまでゲートウェイが開く",
                    config.display()
                ),
                format!(
                    "{} の `flush ruleset` を、そのファイルが定義するテーブルだけを消す形に変える(例: `table inet filter` の後に `flush table inet filter`)。必要なルールがなければ systemctl disable --now nftables.service",
                    config.display()
                ),
            ),
            (Conflict::IptablesLegacy { tables, rules }, Lang::En) => (
                format!(
                    "iptables-legacy tables are loaded ({}){}: a second packet filter that zonegate neither sees nor repairs",
                    tables.join(", "),
                    rules.map(|n| format!(" with {n} rule(s)")).unwrap_or_default()
                ),
                "see them with iptables-legacy-save and ip6tables-legacy-save; remove them (iptables-legacy -F; iptables-legacy -X; the same for ip6tables-legacy and -t nat/mangle/raw) and whatever loads them at boot; use iptables-nft for tools that need iptables".to_string(),
            ),
            (Conflict::IptablesLegacy { tables, rules }, Lang::Ja) => (
                format!(
                    "iptables-legacy のテーブルが読み込まれている ({}){}: zonegate が見ることも修復することもできない、もう一つのパケットフィルター",
                    tables.join(", "),
                    rules.map(|n| format!("、ルール {n} 件")).unwrap_or_default()
                ),
                "iptables-legacy-save と ip6tables-legacy-save で確認し、削除する (iptables-legacy -F; iptables-legacy -X; ip6tables-legacy と -t nat/mangle/raw も同様)。起動時に読み込むものも止める。iptables が必要なツールには iptables-nft を使う".to_string(),
            ),
        };
        Text { message, fix }
    }
}

/// Every conflict found under `root`.
pub fn detect(root: &Path) -> Vec<Conflict> {
    let mut out = Vec::new();
    if firewalld_runs(root) {
        out.push(Conflict::Firewalld);
    }
    if ufw_enabled(root) {
        out.push(Conflict::Ufw);
    }
    if let Some(c) = nftables_flush(root) {
        out.push(c);
    }
    if let Some(c) = iptables_legacy(root) {
        out.push(c);
    }
    out
}

/// Whether systemd runs `unit` now (it keeps `/run/systemd/units/invocation:UNIT` while the unit
/// has an invocation).
fn unit_active(root: &Path, unit: &str) -> bool {
    root.join(format!("run/systemd/units/invocation:{unit}"))
        .symlink_metadata()
        .is_ok()
}

/// Whether `unit` is enabled: a link to it in some `*.wants` directory of /etc/systemd/system.
fn unit_enabled(root: &Path, unit: &str) -> bool {
    let Ok(dir) = std::fs::read_dir(root.join("etc/systemd/system")) else {
        return false;
    };
    dir.flatten().any(|e| {
        e.file_name().to_string_lossy().ends_with(".wants")
            && e.path().join(unit).symlink_metadata().is_ok()
    })
}

fn firewalld_runs(root: &Path) -> bool {
    if unit_active(root, "firewalld.service") {
        return true;
    }
    let Ok(proc) = std::fs::read_dir(root.join("proc")) else {
        return false;
    };
    proc.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .any(|e| {
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            if comm.trim() == "firewalld" {
                return true;
            }
            // A Python script: argv[0] is the interpreter, argv[1] the script.
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            cmdline
                .split(|b| *b == 0)
                .take(2)
                .any(|a| a.rsplit(|b| *b == b'/').next() == Some(b"firewalld".as_slice()))
        })
}

fn ufw_enabled(root: &Path) -> bool {
    std::fs::read_to_string(root.join("etc/ufw/ufw.conf")).is_ok_and(|text| {
        text.lines().any(|l| {
            let l = l.trim();
            !l.starts_with('#')
                && l.split_once('=').is_some_and(|(k, v)| {
                    k.trim() == "ENABLED"
                        && v.trim().trim_matches(|c| c == '"' || c == '\'') == "yes"
                })
        })
    })
}

fn nftables_flush(root: &Path) -> Option<Conflict> {
    let unit = "nftables.service";
    if !unit_enabled(root, unit) && !unit_active(root, unit) {
        return None;
    }
    let config = PathBuf::from("/etc/nftables.conf");
    let text = std::fs::read_to_string(root.join("etc/nftables.conf")).ok()?;
    let line = text.lines().position(|l| {
        let statement = l.split('#').next().unwrap_or("");
        statement
            .split(';')
            .any(|s| s.split_whitespace().collect::<Vec<_>>() == ["flush", "ruleset"])
    })?;
    Some(Conflict::NftablesFlush {
        config,
        line: line + 1,
    })
}

fn iptables_legacy(root: &Path) -> Option<Conflict> {
    let mut tables = Vec::new();
    for (file, family) in [("ip_tables_names", "ipv4"), ("ip6_tables_names", "ipv6")] {
        let text = std::fs::read_to_string(root.join("proc/net").join(file)).unwrap_or_default();
        for t in text.split_whitespace() {
            tables.push(format!("{family} {t}"));
        }
    }
    if tables.is_empty() {
        return None;
    }
    let rules = (root == Path::new("/")).then(legacy_rule_count).flatten();
    if rules == Some(0) {
        // Tables loaded (a module, a `-L`) but empty: nothing filters.
        return None;
    }
    Some(Conflict::IptablesLegacy { tables, rules })
}

/// Rules in the legacy tables, from `iptables-legacy-save` and `ip6tables-legacy-save` (None
/// when neither can be run).
fn legacy_rule_count() -> Option<usize> {
    let mut total = None;
    for tool in ["iptables-legacy-save", "ip6tables-legacy-save"] {
        let Ok(out) = Command::new(tool).output() else {
            continue;
        };
        if !out.status.success() {
            continue;
        }
        let n = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("-A "))
            .count();
        total = Some(total.unwrap_or(0) + n);
    }
    total
}

/// The language of the agent's messages: `ja` when LC_ALL, LC_MESSAGES or LANG asks for it.
pub fn lang_from_env() -> Lang {
    let v = |n: &str| std::env::var(n).ok();
    Lang::from_locale(
        v("LC_ALL").as_deref(),
        v("LC_MESSAGES").as_deref(),
        v("LANG").as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    struct Tree(PathBuf);

    impl Tree {
        fn new(name: &str) -> Tree {
            let p =
                std::env::temp_dir().join(format!("zg-conflicts-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).expect("tree");
            Tree(p)
        }
        fn file(&self, rel: &str, text: &str) {
            let p = self.0.join(rel);
            fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            fs::write(p, text).expect("write");
        }
        fn link(&self, rel: &str) {
            let p = self.0.join(rel);
            fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::os::unix::fs::symlink("/lib/systemd/system/x.service", p).expect("symlink");
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_clean_machine_has_none() {
        let t = Tree::new("clean");
        t.file("etc/nftables.conf", "#!/usr/sbin/nft -f\nflush ruleset\n");
        t.file("etc/ufw/ufw.conf", "# ENABLED=yes\nENABLED=no\n");
        t.file("proc/1/comm", "systemd\n");
        t.file("proc/net/ip_tables_names", "");
        // nftables.conf flushes, but nftables.service is neither enabled nor running.
        assert_eq!(detect(&t.0), Vec::new());
    }

    #[test]
    fn each_manager_is_found_with_what_to_do() {
        let t = Tree::new("all");
        t.file("proc/812/comm", "firewalld\n");
        t.file("etc/ufw/ufw.conf", "ENABLED=yes\n");
        t.file(
            "etc/nftables.conf",
            "#!/usr/sbin/nft -f\n# flush ruleset in a comment does not count\n\nflush   ruleset\n",
        );
        t.link("etc/systemd/system/sysinit.target.wants/nftables.service");
        t.file("proc/net/ip_tables_names", "filter\nnat\n");
        let found = detect(&t.0);
        let codes: Vec<&str> = found.iter().map(|c| c.code()).collect();
        assert_eq!(codes, ["C001", "C002", "C003", "C004"]);
        assert_eq!(
            found[2],
            Conflict::NftablesFlush {
                config: "/etc/nftables.conf".into(),
                line: 4
            }
        );
        for c in &found {
            for lang in [Lang::En, Lang::Ja] {
                let text = c.text(lang);
                assert!(!text.message.is_empty() && !text.fix.is_empty());
            }
            assert_ne!(c.text(Lang::En), c.text(Lang::Ja));
        }
        assert!(found[3]
            .text(Lang::En)
            .message
            .contains("ipv4 filter, ipv4 nat"));
    }

    #[test]
    fn firewalld_as_a_python_script_and_active_units_are_seen() {
        let t = Tree::new("script");
        t.file("proc/90/comm", "python3\n");
        t.file(
            "proc/90/cmdline",
            "/usr/bin/python3\0/usr/sbin/firewalld\0--nofork\0",
        );
        t.link("run/systemd/units/invocation:nftables.service");
        t.file(
            "etc/nftables.conf",
            "table inet filter {}\nflush ruleset; table ip x {}\n",
        );
        let codes: Vec<&str> = detect(&t.0).iter().map(|c| c.code()).collect();
        assert_eq!(codes, ["C001", "C003"]);
    }
}
