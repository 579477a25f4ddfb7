//! The zones.toml file exactly as written: serde structures with a position on every value and
//! `deny_unknown_fields` everywhere, so a misspelt key is an error that points at the key. Nothing
//! here is checked beyond TOML types; `validate` turns this into a `Policy`.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

pub type S<T> = Spanned<T>;
pub type Names<T> = BTreeMap<S<String>, S<T>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub version: Option<S<i64>>,
    pub min_agent_version: Option<S<String>>,
    pub policy: Option<S<RawPolicy>>,
    #[serde(default)]
    pub zones: Names<RawZone>,
    #[serde(default)]
    pub hosts: Names<RawHost>,
    #[serde(default)]
    pub groups: Names<RawGroup>,
    #[serde(default)]
    pub services: Names<Vec<S<String>>>,
    #[serde(default, rename = "flow")]
    pub flows: Vec<S<RawFlow>>,
    #[serde(default)]
    pub gateways: Names<RawGateway>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub name: Option<S<String>>,
    pub revision: Option<S<String>>,
    pub profile: Option<S<String>>,
    pub network_model: Option<S<String>>,
    pub timezone: Option<S<String>>,
    pub intra_zone: Option<S<String>>,
    pub log: Option<S<RawLog>>,
    pub strict_mac: Option<S<bool>>,
    pub max_port_range: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub group: Option<S<i64>>,
    pub rate: Option<S<String>>,
    pub burst: Option<S<i64>>,
    pub key_table: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZone {
    pub role: Option<S<String>>,
    pub display_name: Option<S<String>>,
    #[serde(default)]
    pub networks: Vec<S<String>>,
    pub isolation: Option<S<String>>,
    #[serde(default)]
    pub routers: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub zone: Option<S<String>>,
    #[serde(default)]
    pub addresses: Vec<S<String>>,
    pub mac: Option<S<String>>,
    pub role: Option<S<String>>,
    pub ports: Option<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    #[serde(default)]
    pub members: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlow {
    pub id: Option<S<String>>,
    pub from: Option<S<String>>,
    pub to: Option<S<String>>,
    pub services: Option<Vec<S<String>>>,
    pub ports: Option<Vec<S<String>>>,
    pub purpose: Option<S<String>>,
    pub approved_by: Option<S<String>>,
    /// A quoted date ("2027-03-31") or a TOML local date (2027-03-31).
    pub expires: Option<S<toml::Value>>,
    pub l2_control: Option<S<String>>,
    pub exception: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    #[serde(default)]
    pub interfaces: Names<Vec<S<String>>>,
    pub dhcp_client: Option<Vec<S<String>>>,
}
