//! The sample diagnostic in README.md is what `zonegate check` prints for the bundled policy
//! with the misspelling the README describes (`to = "mn-vdi"` -> `to = "mn-vid"`).

use std::process::Command;

#[test]
fn the_readme_sample_diagnostic_is_what_the_bundled_policy_produces() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let bundled = std::fs::read_to_string(root.join("zones.toml")).expect("zones.toml");
    assert_eq!(bundled.matches("\nto = \"mn-vdi\"\n").count(), 1);
    let typo = bundled.replace("\nto = \"mn-vdi\"\n", "\nto = \"mn-vid\"\n");
    let dir = std::env::temp_dir().join(format!("zg-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("typo.toml"), typo).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_zonegate"))
        .args(["check", "typo.toml"])
        .current_dir(&dir)
        .output()
        .expect("run zonegate check");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    let printed = String::from_utf8_lossy(&out.stderr);
    assert!(printed.contains("error[E015]"), "{printed}");
    assert!(
        readme.contains(&format!("```\n{printed}```")),
        "README.md's sample diagnostic is not what zonegate prints:\n{printed}"
    );
}
