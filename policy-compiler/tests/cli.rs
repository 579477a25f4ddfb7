//! The `zonegate` binary's contract: exit codes, where output goes, and the lockdown command.

use std::process::Command;

fn zonegate(args: &[&str]) -> std::process::Output {
    zonegate_env(args, &[])
}

/// Runs zonegate with the locale variables cleared, then `env` set.
fn zonegate_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zonegate"));
    cmd.args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("LANG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run zonegate")
}

#[test]
fn check_speaks_japanese_when_the_locale_or_lang_asks_codes_unchanged() {
    let bad = "policy-compiler/tests/golden/errors-many/zones.toml";
    let by_locale = zonegate_env(&["check", bad], &[("LANG", "ja_JP.UTF-8")]);
    let by_flag = zonegate(&["check", bad, "--lang", "ja"]);
    let english = zonegate_env(&["check", bad, "--lang", "en"], &[("LANG", "ja_JP.UTF-8")]);
    let ja = String::from_utf8_lossy(&by_locale.stderr).to_string();
    assert_eq!(ja, String::from_utf8_lossy(&by_flag.stderr));
    assert_eq!(by_locale.status.code(), Some(1));
    assert!(
        ja.contains("エラー[E014]: ゾーン \"dmz\" は宣言されていません"),
        "{ja}"
    );
    assert!(ja.contains("  対処: "), "{ja}");
    let en = String::from_utf8_lossy(&english.stderr);
    assert!(en.contains("error[E014]: unknown zone \"dmz\""), "{en}");
    // Every line of the Japanese report names the same codes at the same positions.
    let codes = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with(' '))
            .filter_map(|l| {
                l.split_once('[').map(|(a, b)| {
                    let pos = a.rsplit_once(':').map(|x| x.0).unwrap_or(a).to_string();
                    format!("{pos} {}", b.split(']').next().unwrap_or(""))
                })
            })
            .collect()
    };
    assert_eq!(codes(&ja), codes(&en));
    // JSON keeps its keys and codes; only messages and hints change language.
    let json = zonegate(&["check", bad, "--format", "json", "--lang", "ja"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let first = &v["diagnostics"][0];
    assert!(first["code"].as_str().is_some_and(|c| c.starts_with('E')));
    assert!(
        first["message"].as_str().is_some_and(|m| !m.is_ascii()),
        "{first}"
    );
    let ok = zonegate(&[
        "check",
        "zones.toml",
        "--today",
        "2026-11-25",
        "--lang",
        "ja",
    ]);
    assert!(String::from_utf8_lossy(&ok.stdout).contains("問題なし"));
}

#[test]
fn check_exit_codes() {
    let ok = zonegate(&["check", "zones.toml", "--today", "2026-11-25"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = zonegate(&[
        "check",
        "policy-compiler/tests/golden/errors-many/zones.toml",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("error[E014]: unknown zone \"dmz\""));
    let missing = zonegate(&["check", "no-such-file.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read no-such-file.toml"));
}

#[test]
fn compile_writes_ruleset_and_metadata() {
    let dir = std::env::temp_dir().join(format!("zg-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let out = dir.join("gw1.nft");
    let r = zonegate(&[
        "compile",
        "zones.toml",
        "--gateway",
        "gw1",
        "--today",
        "2026-11-25",
        "-o",
        out.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let text = std::fs::read_to_string(&out).expect("ruleset written");
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("gw1.nft.meta.json")).expect("metadata written"),
    )
    .expect("json");
    assert!(text.contains("table inet zonegate {"));
    assert_eq!(meta["nflog_group"], 100);
    assert_eq!(meta["gateway"], "gw1");
    let unknown = zonegate(&["compile", "zones.toml", "--gateway", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lockdown_takes_management_from_the_policy_and_the_command_line() {
    let r = zonegate(&[
        "lockdown",
        "zones.toml",
        "--today",
        "2026-11-25",
        "--management",
        "10.99.0.0/24=tcp/22,udp/161",
    ]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(
        text.contains("10.20.0.50 . tcp . 22"),
        "policy management path (M-001)"
    );
    assert!(
        text.contains("10.99.0.0/24 . udp . 161"),
        "--management entry"
    );
    assert!(text.contains(
        "chain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}"
    ));
    let bad = zonegate(&["lockdown", "--management", "10.99.0.0/24=icmp"]);
    assert_eq!(bad.status.code(), Some(2));
    let none = zonegate(&["lockdown"]);
    assert!(String::from_utf8_lossy(&none.stderr).contains("no management path"));
}

#[test]
fn diff_exit_codes() {
    let dir = "policy-compiler/tests/golden-diff";
    let same = zonegate(&[
        "diff",
        "zones.toml",
        &format!("{dir}/c-reordered/new.toml"),
        "--today",
        "2026-11-25",
    ]);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    assert!(String::from_utf8_lossy(&same.stdout).contains("No change"));
    let changed = zonegate(&[
        "diff",
        "zones.toml",
        &format!("{dir}/b-ports-widened/new.toml"),
        "--today",
        "2026-11-25",
        "--format",
        "json",
    ]);
    assert_eq!(changed.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&changed.stdout).expect("json");
    assert_eq!(v["changed"], true);
    let bad = zonegate(&[
        "diff",
        "zones.toml",
        "policy-compiler/tests/golden/errors-many/zones.toml",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("policy-compiler/tests/golden/errors-many/zones.toml:")
            && err.contains(": error[E014]: unknown zone \"dmz\""),
        "{err}"
    );
    let unknown = zonegate(&["diff", "zones.toml", "zones.toml", "--gateway", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    let missing = zonegate(&["diff", "zones.toml", "no-such-file.toml"]);
    assert_eq!(missing.status.code(), Some(1));
}

/// A fresh temporary directory with a copy of zones.toml and an Ed25519 key pair `ciso` made by
/// the real `ssh-keygen`; None (after a SKIPPED line) where OpenSSH is not installed.
fn approval_dir(name: &str) -> Option<std::path::PathBuf> {
    if !std::path::Path::new(SSH_KEYGEN).exists() {
        eprintln!("SKIPPED: {SSH_KEYGEN} is not installed");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("zg-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("tmp dir");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../zones.toml"),
        dir.join("zones.toml"),
    )
    .expect("copy zones.toml");
    let keygen = Command::new(SSH_KEYGEN)
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "ciso@city.example",
            "-f",
        ])
        .arg(dir.join("ciso"))
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());
    Some(dir)
}

const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";

/// `zonegate ARGS` in `dir`, which must exit 0; returns stdout.
fn zonegate_in(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_zonegate"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run zonegate");
    assert_eq!(
        out.status.code(),
        Some(0),
        "zonegate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `ssh-keygen ARGS` in `dir` with `stdin` as its input.
fn ssh_keygen(dir: &std::path::Path, args: &[&str], stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(SSH_KEYGEN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh-keygen");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("ssh-keygen output")
}

#[test]
fn approve_writes_a_signature_that_ssh_keygen_verifies() {
    let Some(dir) = approval_dir("approve") else {
        return;
    };
    let said = zonegate_in(&dir, &["approve", "zones.toml", "--key", "ciso"]);
    let said = String::from_utf8_lossy(&said);
    assert!(said.contains("ciso@city.example"), "{said}");
    let public = std::fs::read_to_string(dir.join("ciso.pub")).expect("ciso.pub");
    std::fs::write(dir.join("allowed_signers"), format!("ciso {public}")).expect("write");
    let canonical = zonegate_in(&dir, &["canonical", "zones.toml"]);
    let verify = [
        "-Y",
        "verify",
        "-f",
        "allowed_signers",
        "-I",
        "ciso",
        "-n",
        "zonegate",
        "-s",
        "zones.toml.sig",
    ];
    let ok = ssh_keygen(&dir, &verify, &canonical);
    assert!(
        ok.status.success(),
        "ssh-keygen -Y verify: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // A one-byte change of the canonical policy fails the same check.
    let mut changed = canonical.clone();
    changed[canonical.len() / 2] ^= 1;
    assert!(!ssh_keygen(&dir, &verify, &changed).status.success());
    // The matrix checks the approval like the agent and shows the signer beside the hashes.
    let m = zonegate_in(
        &dir,
        &[
            "matrix",
            "zones.toml",
            "--gateway",
            "gw1",
            "--trusted-key",
            "ciso.pub",
        ],
    );
    let m = String::from_utf8_lossy(&m);
    assert!(
        m.contains("承認の署名(検証済みの鍵)") && m.contains("ciso@city.example"),
        "{m}"
    );
    // After a one-byte change of the policy the matrix refuses to present it as approved.
    let text = std::fs::read_to_string(dir.join("zones.toml")).expect("policy");
    std::fs::write(
        dir.join("zones.toml"),
        text.replacen("revision = \"2026-11\"", "revision = \"2026-12\"", 1),
    )
    .expect("write");
    let refused = Command::new(env!("CARGO_BIN_EXE_zonegate"))
        .current_dir(&dir)
        .args(["matrix", "zones.toml", "--trusted-key", "ciso.pub"])
        .output()
        .expect("zonegate");
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("approval refused: tampered"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_signature_by_ssh_keygen_is_accepted_by_the_library() {
    use zonegate_policy::approval::{parse_trusted_keys, verify};
    let Some(dir) = approval_dir("keygen") else {
        return;
    };
    let canonical = zonegate_in(&dir, &["canonical", "zones.toml"]);
    let signed = ssh_keygen(
        &dir,
        &["-Y", "sign", "-f", "ciso", "-n", "zonegate"],
        &canonical,
    );
    assert!(
        signed.status.success(),
        "ssh-keygen -Y sign: {}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let signature = String::from_utf8(signed.stdout).expect("armoured text");
    let public = std::fs::read_to_string(dir.join("ciso.pub")).expect("ciso.pub");
    let keys = parse_trusted_keys(&public).expect("trusted key");
    let signer = verify(&canonical, Some(&signature), &keys).expect("accepted");
    assert_eq!(signer.comment, "ciso@city.example");
    let printed = ssh_keygen(&dir, &["-l", "-f", "ciso.pub"], b"");
    assert!(
        String::from_utf8_lossy(&printed.stdout).contains(&signer.fingerprint),
        "the key id is the fingerprint ssh-keygen -l prints"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
