//! Signed approvals with the real agent: with a trusted key in agent.toml, a policy signed by
//! that key applies and the signer shows in the event, `status`, `plan` and the heartbeat; an
//! unsigned policy, one changed after signing, one signed by an untrusted key, a garbage and a
//! truncated signature are each refused with that outcome in `policy-rejected`, and the
//! kernel's table stays byte-identical (same rules, same handles).

mod agent_support;

use agent_support::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use zonegate_policy::approval;

const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";
const WAIT: Duration = Duration::from_secs(5);

/// `ssh-keygen -t ed25519` into `dir/name` (no passphrase); returns the private key's text.
fn keygen(dir: &Path, name: &str, comment: &str) -> String {
    let status = Command::new(SSH_KEYGEN)
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(dir.join(name))
        .status()
        .expect("run ssh-keygen (openssh-client)");
    assert!(status.success(), "ssh-keygen");
    std::fs::read_to_string(dir.join(name)).expect("private key")
}

/// The signature of `policy` (its canonical form) by `key`, as `zonegate approve` writes it.
fn signature(policy: &str, key: &str) -> String {
    let checked = zonegate_policy::validate("zones.toml", policy, None);
    let policy = checked.policy.expect("valid policy");
    let canonical = zonegate_policy::canonical(&policy);
    approval::sign(canonical.as_bytes(), key)
        .expect("sign")
        .armored
}

fn write_signature(gw: &Gw, text: &str) {
    std::fs::write(gw.dir.join("zones.toml.sig"), text).expect("write the signature");
}

/// Our table with rule handles, without counters: any reload would change the handles.
fn kernel_table(gw: &Gw) -> String {
    gw.nft(&["-a", "-s", "list", "table", "inet", "zonegate"])
}

/// SIGHUP, then the `policy-rejected` event whose diagnostic names `outcome`.
fn refused(agent: &Running, outcome: &str) -> Value {
    let seen = agent.named("policy-rejected").len();
    agent.signal("HUP");
    let marker = format!("approval refused: {outcome}: ");
    agent
        .wait_until(WAIT, |evs| {
            evs.iter()
                .filter(|e| e["event"] == "policy-rejected")
                .skip(seen)
                .find(|e| e["diagnostics"].to_string().contains(&marker))
                .cloned()
        })
        .unwrap_or_else(|| panic!("no policy-rejected with {marker:?}:\n{}", agent.dump()))
}

#[test]
fn only_a_policy_signed_by_a_trusted_key_is_applied() {
    let Some(gw) = Gw::up(POLICY, "") else { return };
    let ciso = keygen(&gw.dir, "ciso", "ciso@city.example");
    let intruder = keygen(&gw.dir, "intruder", "intruder@example");
    gw.write_config(&format!(
        "trusted_keys = [\"{}\"]\n",
        gw.dir.join("ciso.pub").display()
    ));
    let good = signature(POLICY, &ciso);
    write_signature(&gw, &good);

    // (a) A validly signed policy applies; the signer is named everywhere.
    let agent = gw.run();
    let applied = agent
        .wait_for("policy-applied", WAIT)
        .unwrap_or_else(|| panic!("not applied:\n{}", agent.dump()));
    let signer = applied["signer"].as_str().unwrap_or_default().to_string();
    assert!(
        signer.starts_with("SHA256:") && signer.ends_with(" ciso@city.example"),
        "{applied}"
    );
    let status = gw.agent_ok(&["status"], 0);
    assert!(
        status.contains(&format!("Approved by: {signer}")),
        "{status}"
    );
    let plan = gw.agent_ok(&["plan"], 0);
    assert!(plan.contains(&format!("Approved by: {signer}")), "{plan}");
    let valid = gw.agent_ok(&["validate"], 0);
    assert!(valid.contains(&format!("Approved by: {signer}")), "{valid}");
    let heartbeat = agent.wait_for("heartbeat", WAIT).expect("heartbeat");
    assert_eq!(heartbeat["signer"], signer.as_str(), "{heartbeat}");

    let before = kernel_table(&gw);
    let fingerprint = |e: &Value| e["diagnostics"].to_string();
    // (b) unsigned.
    std::fs::remove_file(gw.dir.join("zones.toml.sig")).expect("remove the signature");
    let e = refused(&agent, "unsigned");
    assert!(e["kept"].as_str().unwrap_or_default().contains("r1"), "{e}");
    assert_eq!(kernel_table(&gw), before, "unsigned: the table changed");
    let out = gw.agent(&["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("approval refused: unsigned: "), "{said}");
    // (e) a garbage signature file.
    write_signature(&gw, "approved by the CISO, honestly\n");
    refused(&agent, "malformed");
    assert_eq!(kernel_table(&gw), before, "garbage: the table changed");
    // (f) a truncated signature file.
    write_signature(&gw, &good[..good.len() / 2]);
    refused(&agent, "truncated");
    assert_eq!(kernel_table(&gw), before, "truncated: the table changed");
    // (d) signed by a key that is not trusted: named by its fingerprint.
    write_signature(&gw, &signature(POLICY, &intruder));
    let e = refused(&agent, "untrusted");
    assert!(!fingerprint(&e).contains(&signer), "{e}");
    assert_eq!(kernel_table(&gw), before, "untrusted: the table changed");
    // (c) one byte changed after signing (a port number): tampered, naming the signer.
    write_signature(&gw, &good);
    let changed = POLICY.replace("tcp/7000-7001", "tcp/7000-7002");
    assert_eq!(changed.len(), POLICY.len());
    gw.write_policy(&changed);
    let e = refused(&agent, "tampered");
    assert!(fingerprint(&e).contains(&signer), "{e}");
    assert_eq!(kernel_table(&gw), before, "tampered: the table changed");
    assert_eq!(agent.named("policy-applied").len(), 1, "{}", agent.dump());

    // The CISO signs the change: it applies.
    write_signature(&gw, &signature(&changed, &ciso));
    agent.signal("HUP");
    assert!(
        agent.wait_count("policy-applied", 2, WAIT),
        "{}",
        agent.dump()
    );
    assert_ne!(kernel_table(&gw), before);
}
