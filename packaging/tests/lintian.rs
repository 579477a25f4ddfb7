//! lintian on the .deb scripts/deb.sh built: no error, and no warning that is not overridden in
//! packaging/debian/lintian-overrides, where every override carries a reason (a comment right
//! above it) and is actually used.
//!
//! `#[ignore]`d in `cargo test --workspace`: it needs the package, which scripts/test.sh builds
//! and passes in `ZONEGATE_DEB` before running it with `--ignored`.

use std::process::Command;

#[test]
#[ignore = "needs the .deb: run by scripts/test.sh with --ignored and ZONEGATE_DEB"]
fn lintian_finds_no_error_and_no_unexplained_warning() {
    let deb = std::env::var_os("ZONEGATE_DEB")
        .filter(|v| !v.is_empty())
        .expect("set ZONEGATE_DEB to the .deb (scripts/test.sh does)");
    let out = Command::new("lintian")
        .args([
            "--pedantic",
            "--info",
            "--show-overrides",
            "--tag-display-limit",
            "0",
        ])
        .arg(&deb)
        .output()
        .expect("run lintian (package lintian)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("lintian:\n{text}{stderr}");
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(
        bad.is_empty(),
        "lintian errors or warnings:\n{}",
        bad.join("\n")
    );
    // An override nobody needs any more is reported as such; none may be.
    assert!(
        !text.contains("unused-override"),
        "an unused override:\n{text}"
    );

    let overrides = include_str!("../debian/lintian-overrides");
    let lines: Vec<&str> = overrides.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        assert!(
            i > 0 && lines[i - 1].starts_with('#'),
            "lintian-overrides line {}: {line:?} has no reason comment above it",
            i + 1
        );
        let tag = line
            .split_whitespace()
            .nth(1)
            .expect("an override names a tag");
        assert!(
            text.lines().any(|l| l.starts_with("O:") && l.contains(tag)),
            "override {tag} is not used by lintian"
        );
    }
}
