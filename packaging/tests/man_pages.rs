//! The man pages the package ships, generated as scripts/deb.sh does (zonegate-gen on the
//! zonegate binary), are clean for groff with every warning on, in English and Japanese: no
//! unknown macro or escape, no line that cannot be broken or adjusted. Needs the `zonegate`
//! binary built (`cargo build -p zonegate-policy`; `cargo test --workspace` builds it).

use std::path::PathBuf;
use std::process::Command;

fn zonegate_bin() -> PathBuf {
    let gen = PathBuf::from(env!("CARGO_BIN_EXE_zonegate-gen"));
    let bin = gen.with_file_name("zonegate");
    assert!(
        bin.exists(),
        "{} is missing: cargo build -p zonegate-policy first",
        bin.display()
    );
    bin
}

#[test]
fn every_man_page_is_clean_for_groff_in_both_languages() {
    let out = std::env::temp_dir().join(format!("zg-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let gen = Command::new(env!("CARGO_BIN_EXE_zonegate-gen"))
        .arg(&out)
        .arg(zonegate_bin())
        .output()
        .expect("run zonegate-gen");
    assert!(
        gen.status.success(),
        "zonegate-gen: {}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let pages = [
        "man/zonegate.1",
        "man/zonegate-agent.8",
        "man/zones.toml.5",
        "man/agent.toml.5",
        "man/ja/zonegate.1",
        "man/ja/zonegate-agent.8",
        "man/ja/zones.toml.5",
        "man/ja/agent.toml.5",
    ];
    let mut problems = Vec::new();
    for page in pages {
        let path = out.join(page);
        assert!(path.exists(), "{page} was not generated");
        let groff = Command::new("groff")
            .args(["-ww", "-z", "-k", "-Tutf8", "-man"])
            .arg(&path)
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("run groff (package groff-base)");
        let warnings = String::from_utf8_lossy(&groff.stderr).into_owned();
        if !groff.status.success() || !warnings.trim().is_empty() {
            problems.push(format!("{page}:\n{warnings}"));
        }
        // What a reader sees: the page renders to text that names the page.
        let text = Command::new("groff")
            .args(["-k", "-Tutf8", "-man"])
            .arg(&path)
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("run groff");
        let shown = String::from_utf8_lossy(&text.stdout);
        let name = page.rsplit('/').next().unwrap_or(page);
        let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
        assert!(
            shown.contains(stem) && shown.lines().count() > 30,
            "{page} renders to almost nothing"
        );
    }
    let ja = std::fs::read_to_string(out.join("man/ja/zones.toml.5")).expect("ja page");
    assert!(ja.contains("ゾーン") && ja.contains("max_port_range"));
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        problems.is_empty(),
        "groff warnings:\n{}",
        problems.join("\n")
    );
}
