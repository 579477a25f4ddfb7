//! zones.schema.json (published in the package as /usr/share/zonegate/zones.schema.json, so
//! editors complete and check zones.toml) against the policy checker itself:
//!
//! - every policy in the repository that `zonegate check` finds free of E-errors (the bundled
//!   example, every golden policy, guardrail cases included: guardrails are beyond a schema) is
//!   accepted by the schema;
//! - every file the schema rejects is one `zonegate check` rejects too;
//! - invalid policies of the kinds a schema can express (unknown keys, wrong types, bad names,
//!   formats and enumerations, missing required keys) are rejected by both.

use std::path::{Path, PathBuf};
use zonegate_policy::{validate, Date, Severity};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

struct Schema {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl Schema {
    fn load() -> Schema {
        let path = root().join("zones.schema.json");
        let text = std::fs::read_to_string(&path).expect("zones.schema.json");
        let json: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler.enable_format_assertions();
        let url = "file:///zones.schema.json";
        compiler.add_resource(url, json).expect("add schema");
        let index = compiler
            .compile(url, &mut schemas)
            .unwrap_or_else(|e| panic!("the schema does not compile: {e:#}"));
        Schema { schemas, index }
    }

    fn check(&self, doc: &serde_json::Value) -> Result<(), String> {
        self.schemas
            .validate(doc, self.index)
            .map_err(|e| format!("{e:#}"))
    }
}

/// TOML as an editor's schema check sees it: dates become strings.
fn to_json(v: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => J::from(*f),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(to_json).collect()),
        toml::Value::Table(t) => {
            J::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

/// The E-errors `zonegate check` reports (guardrail G-errors are beyond a schema).
fn structural_errors(text: &str) -> Vec<String> {
    validate("zones.toml", text, Date::parse("2026-11-25"))
        .diagnostics
        .items
        .iter()
        .filter(|d| d.severity == Severity::Error && d.code.starts_with('E'))
        .map(|d| format!("{} {}", d.code, d.message))
        .collect()
}

fn policies() -> Vec<PathBuf> {
    let mut out = vec![root().join("../zones.toml")];
    let tests = root().join("tests");
    let mut stack = vec![tests];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_schema_accepts_every_valid_policy_and_rejects_only_invalid_ones() {
    let schema = Schema::load();
    let (mut accepted, mut rejected) = (0, 0);
    for path in policies() {
        let text = std::fs::read_to_string(&path).expect("policy");
        let Ok(value) = text.parse::<toml::Table>() else {
            // Not TOML at all (the syntax-error golden): nothing for a schema to see.
            continue;
        };
        let doc = to_json(&toml::Value::Table(value));
        let errors = structural_errors(&text);
        match schema.check(&doc) {
            Ok(()) => accepted += 1,
            Err(why) => {
                assert!(
                    !errors.is_empty(),
                    "the schema rejects {}, which zonegate accepts:\n{why}",
                    path.display()
                );
                rejected += 1;
            }
        }
        if errors.is_empty() {
            assert!(schema.check(&doc).is_ok(), "{}", path.display());
        }
    }
    assert!(accepted >= 20, "only {accepted} policies accepted");
    // golden/error-unknown-key and golden/errors-many hold errors the schema expresses.
    assert!(rejected >= 2, "only {rejected} invalid policies rejected");
}

/// Sets `path` (dotted; `flow.0` indexes the flow array) in a copy of the bundled policy.
fn mutate(base: &toml::Table, path: &str, value: Option<toml::Value>) -> toml::Table {
    let mut t = toml::Value::Table(base.clone());
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = &mut t;
    for p in &parts[..parts.len() - 1] {
        cur = match cur {
            toml::Value::Table(m) => m.get_mut(*p).expect("path exists"),
            toml::Value::Array(a) => &mut a[p.parse::<usize>().expect("index")],
            _ => panic!("{path}: not a table"),
        };
    }
    let last = parts[parts.len() - 1];
    let toml::Value::Table(m) = cur else {
        panic!("{path}: parent is not a table")
    };
    match value {
        Some(v) => {
            m.insert(last.to_string(), v);
        }
        None => {
            m.remove(last);
        }
    }
    match t {
        toml::Value::Table(t) => t,
        _ => unreachable!(),
    }
}

#[test]
fn invalid_policies_a_schema_can_express_are_rejected_by_both() {
    use toml::Value as V;
    let schema = Schema::load();
    let text = std::fs::read_to_string(root().join("../zones.toml")).expect("bundled");
    let base: toml::Table = text.parse().expect("bundled TOML");
    let s = |x: &str| Some(V::String(x.into()));
    let cases: Vec<(&str, Option<V>)> = vec![
        ("colour", s("blue")),
        ("version", Some(V::Integer(2))),
        ("version", None),
        ("min_agent_version", s("one")),
        ("policy.name", None),
        ("policy.colour", s("blue")),
        ("policy.profile", s("four-tier")),
        ("policy.network_model", s("gamma")),
        ("policy.intra_zone", s("maybe")),
        ("policy.strict_mac", s("yes")),
        ("policy.max_port_range", Some(V::Integer(0))),
        ("policy.log.group", Some(V::Integer(70000))),
        ("policy.log.rate", s("20 per second")),
        ("policy.log.burst", Some(V::Integer(0))),
        ("zones.mynumber.role", s("secret")),
        ("zones.mynumber.isolation", s("total")),
        ("zones.mynumber.networks", s("10.10.0.0/24")),
        ("zones.mynumber.networks", None),
        ("zones.mynumber.colour", s("red")),
        (
            "zones.1bad",
            Some(V::Table(toml::toml! { networks = ["10.99.0.0/24"] })),
        ),
        (
            "zones.much_too_long_zone_name_x",
            Some(V::Table(toml::toml! { networks = ["10.99.0.0/24"] })),
        ),
        ("hosts.mn-payroll.mac", s("52-54-00-aa-00-05")),
        ("hosts.mn-payroll.role", s("printer")),
        ("hosts.mn-payroll.addresses", s("10.10.0.5")),
        ("hosts.mn-payroll.zone", None),
        (
            "hosts.mn-payroll.ports",
            Some(V::Array(vec![V::String("tcp443".into())])),
        ),
        (
            "hosts.-bad",
            Some(V::Table(toml::toml! { zone = "lgwan"
            addresses = ["10.20.0.99"] })),
        ),
        ("groups.lg-terminals.members", s("lg-term-1")),
        (
            "services.https",
            Some(V::Array(vec![V::String("http/443".into())])),
        ),
        ("flow.0.id", s("an id with spaces")),
        ("flow.0.id", None),
        ("flow.0.from", None),
        (
            "flow.0.ports",
            Some(V::Array(vec![V::String("tcp/".into())])),
        ),
        ("flow.0.expires", s("2027/03/31")),
        ("flow.0.owner", s("me")),
        ("flow.0.purpose", Some(V::Integer(1))),
        ("gateways.gw1.interfaces", s("ens3")),
        (
            "gateways.gw1.interfaces.lgwan",
            Some(V::Array(vec![V::String("lo".into())])),
        ),
        (
            "gateways.gw1.interfaces.lgwan",
            Some(V::Array(vec![V::String("a-name-longer-than-15".into())])),
        ),
        (
            "gateways.gw1.dhcp_client",
            Some(V::Array(vec![V::String("eth 0".into())])),
        ),
        ("gateways.gw1.mtu", Some(V::Integer(1500))),
    ];
    assert!(schema.check(&to_json(&V::Table(base.clone()))).is_ok());
    for (path, value) in cases {
        let t = mutate(&base, path, value.clone());
        let text = toml::to_string(&t).expect("serialise");
        let errors = structural_errors(&text);
        assert!(
            !errors.is_empty(),
            "{path} = {value:?}: zonegate check accepts it, so the case is not invalid"
        );
        assert!(
            schema.check(&to_json(&V::Table(t))).is_err(),
            "{path} = {value:?}: the schema accepts what zonegate rejects ({errors:?})"
        );
    }
}

#[test]
fn what_zonegate_init_writes_is_accepted_by_the_schema() {
    use zonegate_policy::init::{parse_ssh_connection, render, IfAddr, Interface, Lang, Machine};
    let schema = Schema::load();
    let iface = |name: &str, ip: &str, len: u8| Interface {
        name: name.into(),
        addrs: vec![IfAddr {
            ip: ip.parse().expect("ip"),
            len,
        }],
    };
    let m = Machine {
        gateway: "gw1".into(),
        interfaces: vec![
            iface("ens3", "10.10.0.1", 24),
            iface("ens4", "fd00:20::1", 64),
        ],
        session: parse_ssh_connection("fd00:20::50 40000 fd00:20::1 22"),
    };
    for lang in [Lang::En, Lang::Ja] {
        let text = render(&m, lang).expect("render");
        assert!(text.starts_with("#:schema /usr/share/zonegate/zones.schema.json\n"));
        let doc = to_json(&toml::Value::Table(text.parse().expect("TOML")));
        schema
            .check(&doc)
            .expect("the schema accepts zonegate init's output");
    }
}
