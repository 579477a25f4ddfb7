//! Policy bundles: one file that carries a reviewed policy to one gateway over any channel
//! (Ansible, rsync, a package), so nothing in zonegate has to listen on the network for
//! policies. `zonegate bundle zones.toml --gateway NAME` writes it; the agent accepts it wherever
//! it accepts zones.toml (agent.toml `policy = ".../gw1.zgb"`) and checks it before anything
//! reaches the kernel.
//!
//! The format is text, readable with `less`:
//!
//! ```text
//! zonegate-bundle 1
//! gateway: gw1
//! policy: city-main
//! revision: 2026-11
//! policy-sha256: <SHA-256 of the canonical policy>
//! ruleset-sha256: <SHA-256 of the ruleset compiled for the gateway on compiled-for>
//! compiled-for: 2026-12-05
//! policy-bytes: 1234
//! signature-bytes: 0
//!
//! <the policy file, byte for byte><the SSHSIG signature, if any>
//! end zonegate-bundle
//! ```
//!
//! The byte counts and the end line make a truncated copy detectable; the ruleset hash is
//! checked by compiling the policy again for the named gateway as of `compiled-for` (the day
//! expiry was evaluated for), so a bundle whose policy was edited after bundling, or made for
//! another gateway, is refused. Pure: parsing, rendering and checking; no I/O.

use crate::{compile, validate_bytes, Date, Policy, Severity};
use thiserror::Error;

/// First line of every bundle.
pub const MAGIC: &str = "zonegate-bundle 1";
/// Last line of every bundle.
pub const END: &str = "end zonegate-bundle";

/// A parsed bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub gateway: String,
    pub policy_name: String,
    pub revision: String,
    pub policy_sha256: String,
    pub ruleset_sha256: String,
    /// The day (YYYY-MM-DD, policy time zone) the ruleset hash was computed for.
    pub compiled_for: String,
    /// The policy file, byte for byte.
    pub policy: Vec<u8>,
    /// The armoured SSHSIG approval (`zonegate approve`), if the policy was signed.
    pub signature: Option<String>,
    /// Lines before the policy bytes (diagnostics of the policy are offset by this many).
    pub header_lines: usize,
}

/// Why a bundle is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("not a zonegate bundle: the first line must be `{MAGIC}` (a zones.toml is read as a policy, not as a bundle)")]
    NotABundle,
    #[error("bundle line {line}: {what}")]
    Malformed { line: usize, what: String },
    #[error("the bundle is truncated: {what}; copy it again (its sender's file is complete if `zonegate bundle --check` accepts it)")]
    Truncated { what: String },
    #[error("the bundle is for gateway `{bundle}`, this is gateway `{here}`: send this gateway the bundle made with `zonegate bundle --gateway {here}`")]
    WrongGateway { bundle: String, here: String },
    #[error("the policy in the bundle has errors:\n{}", diagnostics.join("\n"))]
    Policy { diagnostics: Vec<String> },
    #[error("the policy in the bundle does not compile for gateway `{gateway}`: {reason}")]
    Compile { gateway: String, reason: String },
    #[error("the bundle's {what} does not match its policy: the bundle says {announced}, the policy gives {actual}; the policy was changed after bundling or the bundle was damaged: make it again with `zonegate bundle`")]
    HashMismatch {
        what: &'static str,
        announced: String,
        actual: String,
    },
}

impl BundleError {
    /// A short stable name (JSON output and tests).
    pub fn kind(&self) -> &'static str {
        match self {
            BundleError::NotABundle => "not-a-bundle",
            BundleError::Malformed { .. } => "malformed",
            BundleError::Truncated { .. } => "truncated",
            BundleError::WrongGateway { .. } => "wrong-gateway",
            BundleError::Policy { .. } => "policy-errors",
            BundleError::Compile { .. } => "compile",
            BundleError::HashMismatch { .. } => "hash-mismatch",
        }
    }
}

/// Does this file look like a bundle (its first line)?
pub fn is_bundle(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC.as_bytes())
        && matches!(bytes.get(MAGIC.len()), Some(b'\n') | Some(b'\r'))
}

/// Renders a bundle of `policy_bytes` (validated as `policy`) for `gateway`, compiled for
/// `today`, with the armoured signature if there is one.
pub fn render(
    policy_bytes: &[u8],
    policy: &Policy,
    gateway: &str,
    today: Date,
    signature: Option<&str>,
) -> Result<Vec<u8>, BundleError> {
    let ruleset = compile(policy, gateway).map_err(|e| BundleError::Compile {
        gateway: gateway.to_string(),
        reason: e.to_string(),
    })?;
    let sig = signature.unwrap_or_default();
    let mut out = format!(
        "{MAGIC}\ngateway: {gateway}\npolicy: {}\nrevision: {}\npolicy-sha256: {}\nruleset-sha256: {}\ncompiled-for: {today}\npolicy-bytes: {}\nsignature-bytes: {}\n\n",
        one_line(&policy.name),
        one_line(&policy.revision),
        policy.canonical_sha256,
        ruleset.metadata.ruleset_sha256,
        policy_bytes.len(),
        sig.len()
    )
    .into_bytes();
    out.extend_from_slice(policy_bytes);
    out.extend_from_slice(sig.as_bytes());
    out.extend_from_slice(format!("\n{END}\n").as_bytes());
    Ok(out)
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// Parses a bundle; checks its framing (magic, header, byte counts, end line), not its policy.
pub fn parse(bytes: &[u8]) -> Result<Bundle, BundleError> {
    if !is_bundle(bytes) {
        return Err(BundleError::NotABundle);
    }
    let mut pos = 0usize;
    let mut line_no = 0usize;
    let mut fields: Vec<(String, String, usize)> = Vec::new();
    loop {
        let Some(nl) = bytes[pos..].iter().position(|&b| b == b'\n') else {
            return Err(BundleError::Truncated {
                what: "the header ends before its blank line".into(),
            });
        };
        line_no += 1;
        let raw = &bytes[pos..pos + nl];
        pos += nl + 1;
        let line = std::str::from_utf8(raw)
            .map_err(|_| BundleError::Malformed {
                line: line_no,
                what: "the header is not UTF-8".into(),
            })?
            .trim_end_matches('\r');
        if line_no == 1 {
            continue; // the magic, checked above
        }
        if line.is_empty() {
            break;
        }
        let Some((k, v)) = line.split_once(": ") else {
            return Err(BundleError::Malformed {
                line: line_no,
                what: format!("`{line}` is not `key: value`"),
            });
        };
        fields.push((k.to_string(), v.to_string(), line_no));
    }
    let get = |key: &str| -> Result<String, BundleError> {
        fields
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.clone())
            .ok_or_else(|| BundleError::Malformed {
                line: line_no,
                what: format!("the header has no `{key}:` line"),
            })
    };
    let count = |key: &str| -> Result<usize, BundleError> {
        let v = get(key)?;
        v.parse().map_err(|_| BundleError::Malformed {
            line: fields
                .iter()
                .find(|(k, _, _)| k == key)
                .map_or(line_no, |f| f.2),
            what: format!("`{key}: {v}` is not a byte count"),
        })
    };
    let policy_len = count("policy-bytes")?;
    let sig_len = count("signature-bytes")?;
    let rest = &bytes[pos..];
    let tail = format!("\n{END}\n");
    let want = policy_len
        .checked_add(sig_len)
        .and_then(|n| n.checked_add(tail.len()))
        .ok_or_else(|| BundleError::Malformed {
            line: line_no,
            what: "byte counts too large".into(),
        })?;
    if rest.len() < want {
        return Err(BundleError::Truncated {
            what: format!(
                "the header announces {policy_len} bytes of policy and {sig_len} of signature and the end line, only {} bytes follow",
                rest.len()
            ),
        });
    }
    let end = &rest[policy_len + sig_len..];
    if end != tail.as_bytes() {
        return Err(BundleError::Malformed {
            line: line_no,
            what: format!("the policy and signature are not followed by exactly `{END}`: the byte counts do not match the content"),
        });
    }
    let signature = if sig_len == 0 {
        None
    } else {
        let s = std::str::from_utf8(&rest[policy_len..policy_len + sig_len]).map_err(|_| {
            BundleError::Malformed {
                line: line_no,
                what: "the signature is not text".into(),
            }
        })?;
        Some(s.to_string())
    };
    Ok(Bundle {
        gateway: get("gateway")?,
        policy_name: get("policy")?,
        revision: get("revision")?,
        policy_sha256: get("policy-sha256")?,
        ruleset_sha256: get("ruleset-sha256")?,
        compiled_for: get("compiled-for")?,
        policy: rest[..policy_len].to_vec(),
        signature,
        header_lines: line_no,
    })
}

impl Bundle {
    /// Checks the bundle for `gateway`: the right gateway, a valid policy, and the announced
    /// hashes equal to those of the policy compiled as of `compiled-for`. `file` names the
    /// bundle in diagnostics.
    pub fn check(&self, file: &str, gateway: &str) -> Result<Policy, BundleError> {
        if self.gateway != gateway {
            return Err(BundleError::WrongGateway {
                bundle: self.gateway.clone(),
                here: gateway.to_string(),
            });
        }
        let Some(day) = Date::parse(&self.compiled_for) else {
            return Err(BundleError::Malformed {
                line: self.header_lines,
                what: format!(
                    "`compiled-for: {}` is not a date (YYYY-MM-DD)",
                    self.compiled_for
                ),
            });
        };
        let shown = format!(
            "{file} (policy section, after {} header lines)",
            self.header_lines
        );
        let checked = validate_bytes(&shown, &self.policy, Some(day));
        let Some(policy) = checked.policy else {
            return Err(BundleError::Policy {
                diagnostics: checked
                    .diagnostics
                    .items
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                    .map(|d| d.render())
                    .collect(),
            });
        };
        if policy.canonical_sha256 != self.policy_sha256 {
            return Err(BundleError::HashMismatch {
                what: "policy SHA-256",
                announced: self.policy_sha256.clone(),
                actual: policy.canonical_sha256.clone(),
            });
        }
        let ruleset = compile(&policy, gateway).map_err(|e| BundleError::Compile {
            gateway: gateway.to_string(),
            reason: e.to_string(),
        })?;
        if ruleset.metadata.ruleset_sha256 != self.ruleset_sha256 {
            return Err(BundleError::HashMismatch {
                what: "ruleset SHA-256",
                announced: self.ruleset_sha256.clone(),
                actual: ruleset.metadata.ruleset_sha256,
            });
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate;

    const POLICY: &str = include_str!("../../zones.toml");

    fn make(gateway: &str, sig: Option<&str>) -> Vec<u8> {
        let day = Date::parse("2026-11-25").expect("date");
        let p = validate("zones.toml", POLICY, Some(day))
            .policy
            .expect("valid");
        render(POLICY.as_bytes(), &p, gateway, day, sig).expect("bundle")
    }

    #[test]
    fn round_trip_and_check() {
        let bytes = make(
            "gw1",
            Some("-----BEGIN SSH SIGNATURE-----\nabc\n-----END SSH SIGNATURE-----\n"),
        );
        assert!(is_bundle(&bytes));
        let b = parse(&bytes).expect("parses");
        assert_eq!(b.policy, POLICY.as_bytes());
        assert_eq!(b.gateway, "gw1");
        assert!(b.signature.as_deref().is_some_and(|s| s.contains("abc")));
        b.check("gw1.zgb", "gw1").expect("valid bundle");
        assert!(!is_bundle(POLICY.as_bytes()));
    }

    #[test]
    fn refusals_are_named() {
        let bytes = make("gw1", None);
        let b = parse(&bytes).expect("parses");
        assert_eq!(
            b.check("x", "gw2").map(|_| ()).unwrap_err().kind(),
            "wrong-gateway"
        );
        for cut in [bytes.len() - 1, bytes.len() / 2, 40] {
            let e = parse(&bytes[..cut]).unwrap_err();
            assert!(matches!(e.kind(), "truncated" | "malformed"), "{cut}: {e}");
        }
        // A policy edited inside the bundle (same length): the hashes no longer match.
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        let edited = text.replacen("revision = \"2026-11\"", "revision = \"2026-12\"", 1);
        assert_ne!(edited, text);
        let e = parse(edited.as_bytes())
            .expect("framing intact")
            .check("x", "gw1")
            .unwrap_err();
        assert_eq!(e.kind(), "hash-mismatch", "{e}");
        // A forged ruleset hash.
        let forged = text.replacen("ruleset-sha256: ", "ruleset-sha256: 00", 1);
        let e = parse(forged.as_bytes())
            .expect("parses")
            .check("x", "gw1")
            .unwrap_err();
        assert!(e.to_string().contains("ruleset SHA-256"), "{e}");
        assert_eq!(
            parse(b"zonegate-bundle 1\ngateway gw1\n\n")
                .unwrap_err()
                .kind(),
            "malformed"
        );
    }
}
