//! Signed approvals: a detached OpenSSH signature (the SSHSIG format of OpenSSH's
//! PROTOCOL.sshsig, as `ssh-keygen -Y sign` writes it) over the canonical policy
//! ([`crate::validate::canonical`]), in the namespace [`NAMESPACE`]. The CISO signs with
//! `zonegate approve` or with `ssh-keygen -Y sign -n zonegate`; the agent accepts a policy only
//! when [`verify`] finds a valid signature by one of its trusted keys. Keys are Ed25519 only.
//!
//! Pure: the caller reads the key, signature and policy files. A key is named everywhere by its
//! [`KeyId`]: the SHA-256 fingerprint as `ssh-keygen -l` prints it, and the key's comment.

use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};
use std::fmt;
use thiserror::Error;

/// The SSHSIG namespace of zonegate approvals (`ssh-keygen -Y sign -n zonegate`). A signature
/// made for another purpose (a git commit, a file) cannot be passed off as an approval.
pub const NAMESPACE: &str = "zonegate";

const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";

/// How a key is shown: `SHA256:...` (as `ssh-keygen -l` prints it) and its comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId {
    pub fingerprint: String,
    /// The comment of the trusted key's line (often `user@host`); may be empty.
    pub comment: String,
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.comment.is_empty() {
            f.write_str(&self.fingerprint)
        } else {
            write!(f, "{} {}", self.fingerprint, self.comment)
        }
    }
}

/// The trusted key that signed an accepted policy.
pub type Signer = KeyId;

/// A public key whose signatures approve policies.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    key: PublicKey,
}

impl TrustedKey {
    pub fn id(&self) -> KeyId {
        KeyId {
            fingerprint: self.key.fingerprint(HashAlg::Sha256).to_string(),
            comment: self.key.comment().to_string(),
        }
    }
}

/// A trusted key line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("line {line}: not an OpenSSH public key ({reason})")]
    NotAKey { line: usize, reason: String },
    #[error("line {line}: {algorithm} keys are not supported; use an ssh-ed25519 key")]
    Unsupported { line: usize, algorithm: String },
    #[error("no public key in it (expected a line like `ssh-ed25519 AAAA... ciso@example`)")]
    Empty,
}

/// Reads the keys of a `.pub` file or of `allowed_signers` lines (`principals [options]
/// ssh-ed25519 AAAA... [comment]`, the format of ssh-keygen(1) ALLOWED SIGNERS). Blank lines
/// and `#` comments are skipped; any other line that is not an Ed25519 key is an error.
pub fn parse_trusted_keys(text: &str) -> Result<Vec<TrustedKey>, KeyError> {
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        keys.push(parse_key_line(i + 1, line)?);
    }
    if keys.is_empty() {
        return Err(KeyError::Empty);
    }
    Ok(keys)
}

/// One key line; `line` is its number, for the error.
fn parse_key_line(line: usize, text: &str) -> Result<TrustedKey, KeyError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    // allowed_signers lines put principals (and options) before the key type.
    let at = words.iter().position(|w| is_key_type(w)).unwrap_or(0);
    let principals = words[..at].first().copied().unwrap_or_default();
    let key_text = words[at..].join(" ");
    let mut key = PublicKey::from_openssh(&key_text).map_err(|e| KeyError::NotAKey {
        line,
        reason: e.to_string(),
    })?;
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(KeyError::Unsupported {
            line,
            algorithm: key.algorithm().to_string(),
        });
    }
    if key.comment().is_empty() && !principals.is_empty() {
        key.set_comment(principals);
    }
    Ok(TrustedKey { key })
}

fn is_key_type(word: &str) -> bool {
    word.starts_with("ssh-") || word.starts_with("ecdsa-") || word.starts_with("sk-")
}

/// Why a policy's approval is refused. Each message starts with [`ApprovalError::kind`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApprovalError {
    /// There is no signature file.
    #[error("unsigned: there is no signature file; the CISO signs the policy with `zonegate approve` (or `ssh-keygen -Y sign -n zonegate`)")]
    Unsigned,
    /// The signature file is not an SSH signature (or is damaged inside its armour).
    #[error("malformed: {0}")]
    Malformed(String),
    /// The signature file ends early (empty, or no END line).
    #[error("truncated: {0}")]
    Truncated(String),
    /// A valid SSH signature, made for another purpose.
    #[error(
        "wrong-namespace: the signature is for {found:?}, not \"zonegate\" (sign with -n zonegate)"
    )]
    WrongNamespace { found: String },
    /// A trusted key signed, but not this policy: it was changed after signing.
    #[error(
        "tampered: the signature by {signer} does not match this policy (changed after signing?)"
    )]
    Mismatch { signer: KeyId },
    /// The signing key is not among the trusted keys.
    #[error("untrusted: signed by {key}, which is not a trusted key")]
    Untrusted { key: String },
}

impl ApprovalError {
    /// A stable short name of the case: unsigned, malformed, truncated, wrong-namespace,
    /// tampered, untrusted.
    pub fn kind(&self) -> &'static str {
        match self {
            ApprovalError::Unsigned => "unsigned",
            ApprovalError::Malformed(_) => "malformed",
            ApprovalError::Truncated(_) => "truncated",
            ApprovalError::WrongNamespace { .. } => "wrong-namespace",
            ApprovalError::Mismatch { .. } => "tampered",
            ApprovalError::Untrusted { .. } => "untrusted",
        }
    }
}

/// Checks `signature` (the text of the signature file; None: there is none) over `canonical`
/// (the bytes of [`crate::validate::canonical`]) against the trusted keys.
pub fn verify(
    canonical: &[u8],
    signature: Option<&str>,
    trusted: &[TrustedKey],
) -> Result<Signer, ApprovalError> {
    let sig = parse_signature(signature.ok_or(ApprovalError::Unsigned)?)?;
    if sig.namespace() != NAMESPACE {
        return Err(ApprovalError::WrongNamespace {
            found: sig.namespace().to_string(),
        });
    }
    let Some(key) = trusted
        .iter()
        .find(|k| k.key.key_data() == sig.public_key())
    else {
        return Err(ApprovalError::Untrusted {
            key: sig.public_key().fingerprint(HashAlg::Sha256).to_string(),
        });
    };
    key.key
        .verify(NAMESPACE, canonical, &sig)
        .map_err(|_| ApprovalError::Mismatch { signer: key.id() })?;
    Ok(key.id())
}

/// The armoured SSHSIG: a file cut short (no END line) is truncated, anything else that does
/// not decode is malformed.
fn parse_signature(text: &str) -> Result<SshSig, ApprovalError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ApprovalError::Truncated(
            "the signature file is empty".into(),
        ));
    }
    if !text.starts_with(BEGIN) {
        if BEGIN.starts_with(text) {
            return Err(ApprovalError::Truncated(format!("it ends inside {BEGIN}")));
        }
        return Err(ApprovalError::Malformed(format!(
            "not an SSH signature (it does not start with {BEGIN})"
        )));
    }
    if !text.ends_with(END) {
        return Err(ApprovalError::Truncated(format!(
            "{END} is missing (the file is cut short)"
        )));
    }
    SshSig::from_pem(format!("{text}\n")).map_err(|e| ApprovalError::Malformed(e.to_string()))
}

/// A policy signed by [`sign`].
#[derive(Debug, Clone)]
pub struct Signed {
    /// The armoured signature, as `ssh-keygen -Y sign` writes it.
    pub armored: String,
    pub signer: KeyId,
}

/// Why [`sign`] cannot sign with a private key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignError {
    #[error("not an OpenSSH private key ({0}); make one with `ssh-keygen -t ed25519`")]
    NotAKey(String),
    #[error("the key {key} is protected by a passphrase, which zonegate does not ask for; sign with OpenSSH instead:\n  zonegate canonical zones.toml | ssh-keygen -Y sign -f KEYFILE -n zonegate > zones.toml.sig")]
    Encrypted { key: String },
    #[error("{algorithm} keys are not supported; use an ssh-ed25519 key")]
    Unsupported { algorithm: String },
    #[error("cannot sign: {0}")]
    Crypto(String),
}

/// Signs `canonical` with an unencrypted OpenSSH Ed25519 private key (the text of the file
/// `ssh-keygen -t ed25519 -N ''` writes).
pub fn sign(canonical: &[u8], private_key: &str) -> Result<Signed, SignError> {
    let key =
        PrivateKey::from_openssh(private_key).map_err(|e| SignError::NotAKey(e.to_string()))?;
    let id = KeyId {
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        comment: key.comment().to_string(),
    };
    if key.is_encrypted() {
        return Err(SignError::Encrypted {
            key: id.to_string(),
        });
    }
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(SignError::Unsupported {
            algorithm: key.algorithm().to_string(),
        });
    }
    let armored = key
        .sign(NAMESPACE, HashAlg::Sha512, canonical)
        .and_then(|sig| sig.to_pem(LineEnding::LF))
        .map_err(|e| SignError::Crypto(e.to_string()))?;
    Ok(Signed {
        armored,
        signer: id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_key::private::Ed25519Keypair;

    const CANONICAL: &[u8] = br#"{"name":"unit","revision":"r1"}"#;

    /// A passphrase-protected key made with `ssh-keygen -t ed25519 -N secret`.
    const LOCKED: &str = concat!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n",
        "b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABCD0eDE4D\n",
        "nEIJJF3PmF74sAAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIIxsc0QcEqOSdzAe\n",
        "L6rJjRd7m+h8+rBQ7BLLwrPbrHMxAAAAoAPQbc/LFZ0k4EdaQOBI9taoEjCUnTPV+3m/2J\n",
        "DPFAVnTY8itoLdCesR6OL8atZvKWr94Md1G5EmRBu15Eenf84qoF2bnl4sei7FZXECa+Km\n",
        "AKOPNtnSSdOeh/anO22C070iTB2UcCXj5lOVzc/8fZGemS7QLt78dfXq47lJ2KbTif49Kp\n",
        "1Wy/hLSe6VlNlHM5md/DuPjxm1MEdh+0g9x3M=\n",
        "-----END OPENSSH PRIVATE KEY-----\n",
    );
    /// An RSA public key made with `ssh-keygen -t rsa`.
    const RSA_PUB: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDShf6Tw/9Gn0kdFsRGQ3s1AVZOjHj3tTRt8cGhYRPK9ijT1j+vhJIwzkfoIafeUuN4Wt/+3yoUElgg6T0i+wuqYrO5P65mWH7ocGv079vzZV8nDSUT4y3CO3qg+0SR+oMZEeF3mY3gQq5W4WGgTNZmexrBGTWzL4VFmq+RMH6Gyw== rsa@example";

    /// A deterministic Ed25519 key: (private key file text, public key line).
    fn key(seed: u8, comment: &str) -> (String, String) {
        let mut k = PrivateKey::from(Ed25519Keypair::from_seed(&[seed; 32]));
        k.set_comment(comment);
        let private = k.to_openssh(LineEnding::LF).expect("encode").to_string();
        let public = k.public_key().to_openssh().expect("encode");
        (private, public)
    }

    fn trusted(public: &str) -> Vec<TrustedKey> {
        parse_trusted_keys(public).expect("trusted key")
    }

    fn signed(seed: u8) -> (String, Vec<TrustedKey>) {
        let (private, public) = key(seed, "ciso@example");
        let s = sign(CANONICAL, &private).expect("sign");
        (s.armored, trusted(&public))
    }

    #[test]
    fn a_signature_by_a_trusted_key_is_accepted_with_its_key_id() {
        let (sig, keys) = signed(1);
        assert!(sig.starts_with(BEGIN) && sig.ends_with(&format!("{END}\n")));
        let signer = verify(CANONICAL, Some(&sig), &keys).expect("valid");
        assert!(signer.fingerprint.starts_with("SHA256:"), "{signer}");
        assert_eq!(signer.comment, "ciso@example");
        assert_eq!(
            signer.to_string(),
            format!("{} ciso@example", signer.fingerprint)
        );
        assert_eq!(signer, keys[0].id());
    }

    #[test]
    fn no_signature_is_unsigned() {
        let (_, keys) = signed(1);
        let e = verify(CANONICAL, None, &keys).expect_err("unsigned");
        assert_eq!(e, ApprovalError::Unsigned);
        assert_eq!(e.kind(), "unsigned");
    }

    #[test]
    fn a_changed_policy_is_tampered_and_names_the_signer() {
        let (sig, keys) = signed(1);
        let changed = br#"{"name":"unit","revision":"r2"}"#;
        let e = verify(changed, Some(&sig), &keys).expect_err("tampered");
        assert_eq!(
            e,
            ApprovalError::Mismatch {
                signer: keys[0].id()
            }
        );
        assert_eq!(e.kind(), "tampered");
        assert!(e.to_string().contains("ciso@example"), "{e}");
    }

    #[test]
    fn a_key_that_is_not_trusted_is_refused_by_fingerprint() {
        let (sig, _) = signed(1);
        let (_, other) = key(2, "someone@example");
        let e = verify(CANONICAL, Some(&sig), &trusted(&other)).expect_err("untrusted");
        assert_eq!(e.kind(), "untrusted");
        let (_, own) = signed(1);
        assert!(e.to_string().contains(&own[0].id().fingerprint), "{e}");
        assert!(matches!(
            verify(CANONICAL, Some(&sig), &[]),
            Err(ApprovalError::Untrusted { .. })
        ));
    }

    #[test]
    fn any_of_several_trusted_keys_may_sign() {
        let (sig, _) = signed(1);
        let (_, a) = key(2, "a");
        let (_, b) = key(1, "b");
        let keys = trusted(&format!("{a}\n# the CISO\n\n{b}\n"));
        assert_eq!(
            verify(CANONICAL, Some(&sig), &keys).expect("valid").comment,
            "b"
        );
    }

    #[test]
    fn another_namespace_is_refused() {
        let (private, public) = key(1, "ciso");
        let k = PrivateKey::from_openssh(&private).expect("key");
        let git = k
            .sign("git", HashAlg::Sha512, CANONICAL)
            .and_then(|s| s.to_pem(LineEnding::LF))
            .expect("sign");
        let e = verify(CANONICAL, Some(&git), &trusted(&public)).expect_err("namespace");
        assert_eq!(
            e,
            ApprovalError::WrongNamespace {
                found: "git".into()
            }
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let (sig, keys) = signed(1);
        for garbage in [
            "hello".to_string(),
            "\u{0}\u{1}binary".to_string(),
            sig.replace("U1NIU0lH", "AAAAAAAA"),
            format!("{BEGIN}\n!!!! not base64 !!!!\n{END}\n"),
        ] {
            let e = verify(CANONICAL, Some(&garbage), &keys).expect_err("malformed");
            assert_eq!(e.kind(), "malformed", "{garbage:?}: {e}");
            assert!(e.to_string().starts_with("malformed: "), "{e}");
        }
    }

    #[test]
    fn a_cut_file_is_truncated() {
        let (sig, keys) = signed(1);
        for cut in [0, 5, sig.len() / 2, sig.len() - END.len() - 2] {
            let e = verify(CANONICAL, Some(&sig[..cut]), &keys).expect_err("truncated");
            assert_eq!(e.kind(), "truncated", "cut at {cut}: {e}");
        }
    }

    #[test]
    fn trusted_keys_parse_from_pub_and_allowed_signers_lines() {
        let (_, public) = key(1, "ciso@example");
        let body = public.trim_end_matches(" ciso@example");
        let keys = trusted(&format!("ciso namespaces=\"zonegate\" {body}\n"));
        assert_eq!(keys[0].id().comment, "ciso");
        assert_eq!(
            trusted(&public)[0].id().fingerprint,
            keys[0].id().fingerprint
        );
        assert_eq!(
            parse_trusted_keys("# nothing\n\n").unwrap_err(),
            KeyError::Empty
        );
        assert!(matches!(
            parse_trusted_keys(&format!("{public}\nssh-ed25519 AAAAnotakey x\n")),
            Err(KeyError::NotAKey { line: 2, .. })
        ));
        assert!(matches!(
            parse_trusted_keys(RSA_PUB),
            Err(KeyError::Unsupported { line: 1, .. })
        ));
    }

    #[test]
    fn an_encrypted_key_says_how_to_sign_with_ssh_keygen() {
        let e = sign(CANONICAL, LOCKED).expect_err("encrypted");
        assert!(matches!(e, SignError::Encrypted { .. }));
        let text = e.to_string();
        // As `ssh-keygen -lf locked.pub` prints it (the comment is inside the encryption).
        assert!(
            text.contains("SHA256:VlQD22XLnEJGoZcjADZEa3J1FIokeVFF//ckGcKRys0"),
            "{text}"
        );
        assert!(
            text.contains("ssh-keygen -Y sign -f KEYFILE -n zonegate"),
            "{text}"
        );
        assert!(matches!(
            sign(CANONICAL, "not a key"),
            Err(SignError::NotAKey(_))
        ));
    }
}

#[cfg(test)]
mod canonical_tests {
    use crate::{canonical, validate, Date};
    use sha2::{Digest, Sha256};

    const POLICY: &str = include_str!("../../zones.toml");

    fn canonical_for(source: &str, today: Option<&str>) -> (String, String) {
        let today = today.map(|t| Date::parse(t).expect("date"));
        let p = validate("zones.toml", source, today).policy.expect("valid");
        (canonical(&p), p.canonical_sha256)
    }

    #[test]
    fn the_signed_bytes_are_the_hashed_bytes_and_do_not_depend_on_the_date() {
        let (text, sha) = canonical_for(POLICY, None);
        let hex: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, sha);
        assert_eq!(canonical_for(POLICY, Some("2099-01-01")).0, text);
        let reformatted = format!("# a comment\n{}", POLICY.replace(" = ", "   =   "));
        assert_eq!(canonical_for(&reformatted, None).0, text);
    }
}
