//! Hostile and arbitrary input: the parser must never panic, must always answer with either a
//! policy or diagnostics whose positions lie inside the file, and nothing a policy author
//! writes may reach the ruleset outside a quoted comment.

use proptest::prelude::*;
use zonegate_policy::{compile, validate, validate_bytes, Date};

const EXAMPLE: &str = include_str!("../../zones.toml");

fn assert_sane(file: &str, text: &str) {
    let checked = validate("z.toml", text, Date::parse("2026-11-25"));
    let lines = text.split('\n').count();
    for d in &checked.diagnostics.items {
        assert!(
            d.line >= 1 && d.line <= lines,
            "line {} of {lines} in {file}: {d:?}",
            d.line
        );
        assert!(d.column >= 1, "column in {d:?}");
        assert!(d.code.len() == 4, "code {d:?}");
    }
    if let Some(p) = &checked.policy {
        assert!(!checked.diagnostics.has_errors());
        for gw in p.gateways.keys() {
            let r = compile(p, gw).expect("declared gateway");
            assert!(r.text.starts_with("# zonegate ruleset"));
        }
    } else {
        assert!(
            checked.diagnostics.has_errors(),
            "no policy and no error for {file}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,400}") {
        assert_sane("arbitrary", &s);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let checked = validate_bytes("z.toml", &bytes, None);
        prop_assert!(checked.policy.is_some() || checked.diagnostics.has_errors());
    }

    /// Mutations of the worked example: delete, duplicate or replace a slice of it.
    #[test]
    fn mutated_example_never_panics(
        start in 0usize..EXAMPLE.len(),
        len in 0usize..80,
        op in 0u8..4,
        junk in "[\\[\\]{}=\",.#/a-z0-9 \\n-]{0,20}",
    ) {
        let mut start = start;
        while !EXAMPLE.is_char_boundary(start) { start -= 1; }
        let mut end = (start + len).min(EXAMPLE.len());
        while !EXAMPLE.is_char_boundary(end) { end -= 1; }
        let text = match op {
            0 => format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]),
            1 => format!("{}{}{}", &EXAMPLE[..end], &EXAMPLE[start..end], &EXAMPLE[end..]),
            2 => format!("{}{}{}", &EXAMPLE[..start], junk, &EXAMPLE[end..]),
            _ => format!("{}{}{}", &EXAMPLE[..start], junk, &EXAMPLE[start..]),
        };
        assert_sane("mutated", &text);
    }

    /// Whatever text a purpose holds, the ruleset quotes it inertly or the policy is refused.
    #[test]
    fn purposes_stay_inside_comments(purpose in "\\PC{0,200}") {
        let escaped = purpose.replace('\\', "\\\\").replace('"', "\\\"");
        let text = format!(
            "version = 1\n[policy]\nname = \"p\"\nprofile = \"none\"\n[zones.a]\nnetworks = [\"10.1.0.0/24\"]\n[zones.b]\nnetworks = [\"10.2.0.0/24\"]\n\
             [[flow]]\nid = \"F\"\nfrom = \"a\"\nto = \"b\"\nports = [\"tcp/1\"]\npurpose = \"{escaped}\"\n\
             [gateways.g]\ninterfaces = {{ a = [\"a0\"], b = [\"b0\"] }}\n"
        );
        let checked = validate("z.toml", &text, None);
        // Only control characters may refuse a purpose; anything else must compile.
        prop_assert!(checked.policy.is_some() || purpose.chars().any(char::is_control), "{}", checked.diagnostics.render_text());
        if let Some(p) = checked.policy {
            let r = compile(&p, "g").expect("gateway g");
            for line in r.text.lines() {
                if let Some(pos) = line.find("comment \"") {
                    let rest = &line[pos + 9..];
                    let close = rest.find('"').expect("closing quote");
                    // After the closing quote only the element's value may follow.
                    let tail = rest[close + 1..].trim();
                    prop_assert!(tail.is_empty() || tail.starts_with(": 0x"), "tail {tail:?}");
                    prop_assert!(rest[..close].len() <= 128);
                }
            }
        }
    }
}

#[test]
fn huge_numbers_are_errors_not_panics() {
    for text in [
        "version = 99999999999999999999999\n",
        "version = 1\n[policy]\nname = \"x\"\nlog = { group = 9223372036854775807 }\n",
        "version = 1\n[policy]\nname = \"x\"\nmax_port_range = -1\n",
        "version = -1\n",
    ] {
        let c = validate("z.toml", text, None);
        assert!(c.diagnostics.has_errors(), "{text}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 5000;
    let text = format!(
        "version = 1\nx = {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let c = validate("z.toml", &text, None);
    assert!(c.diagnostics.has_errors());
    let text = format!(
        "version = 1\nx = {}1{}\n",
        "{a=".repeat(depth),
        "}".repeat(depth)
    );
    let c = validate("z.toml", &text, None);
    assert!(c.diagnostics.has_errors());
}

#[test]
fn invalid_utf8_points_at_the_bad_byte() {
    let c = validate_bytes("z.toml", b"version = 1\n# caf\xe9\n", None);
    let d = &c.diagnostics.items[0];
    assert_eq!((d.code, d.line, d.column), ("E001", 2, 6));
}

#[test]
fn injection_in_names_is_refused() {
    for (what, text) in [
        ("zone", "[zones.\"a; flush ruleset\"]\nnetworks = [\"10.0.0.0/8\"]\n"),
        ("iface", "[zones.a]\nnetworks = [\"10.0.0.0/8\"]\n[gateways.g]\ninterfaces = { a = [\"e\\\" accept\"] }\n"),
        ("flow", "[zones.a]\nnetworks = [\"10.0.0.0/8\"]\n[[flow]]\nid = \"x } accept\"\nfrom = \"a\"\nto = \"gateway\"\nports = [\"tcp/1\"]\n"),
        ("address", "[zones.a]\nnetworks = [\"evil.example/8\"]\n"),
    ] {
        let text = format!("version = 1\n[policy]\nname = \"x\"\n{text}");
        let c = validate("z.toml", &text, None);
        assert!(c.diagnostics.has_errors(), "{what} accepted");
    }
}

#[test]
fn the_per_key_table_size_is_checked_and_compiled() {
    let with = |line: &str| {
        EXAMPLE.replace(
            "log = { group = 100, rate = \"20/second\", burst = 50 }",
            line,
        )
    };
    // Out of range: an error at the value, saying the range and the default.
    for bad in ["0", "15", "2000000", "-3"] {
        let text = with(&format!(
            "log = {{ group = 100, rate = \"20/second\", burst = 50, key_table = {bad} }}"
        ));
        let c = validate("zones.toml", &text, Date::parse("2026-11-25"));
        let d = c
            .diagnostics
            .items
            .iter()
            .find(|d| d.message.to_string().contains("key_table"))
            .unwrap_or_else(|| panic!("no key_table error for {bad}"));
        assert_eq!(d.code, "E020");
        assert_eq!(d.line, 22, "{d:?}");
        assert!(d.message.to_string().contains("16..=1048576"), "{d:?}");
        assert!(c.policy.is_none());
    }
    // In range: the tables get that size; the default leaves the canonical hash unchanged.
    let base = validate("zones.toml", EXAMPLE, Date::parse("2026-11-25"))
        .policy
        .expect("example");
    let small = validate(
        "zones.toml",
        &with("log = { group = 100, rate = \"20/second\", burst = 50, key_table = 64 }"),
        Date::parse("2026-11-25"),
    )
    .policy
    .expect("valid");
    let default = validate(
        "zones.toml",
        &with("log = { group = 100, rate = \"20/second\", burst = 50, key_table = 65536 }"),
        Date::parse("2026-11-25"),
    )
    .policy
    .expect("valid");
    assert_eq!(default.canonical_sha256, base.canonical_sha256);
    assert_ne!(small.canonical_sha256, base.canonical_sha256);
    let r = compile(&small, "gw1").expect("gw1");
    assert!(r.text.contains("set denykeys4s {\n\t\ttype mark . ipv4_addr . ipv4_addr . inet_proto . inet_service\n\t\tsize 64\n"));
    assert_eq!(r.metadata.key_table, 64);
    assert_eq!(
        r.metadata.key_sets,
        ["denykeys4", "denykeys6", "denykeys4s", "denykeys6s"]
    );
}
