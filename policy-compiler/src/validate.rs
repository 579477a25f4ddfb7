//! zones.toml text -> `Policy`, collecting every problem at once. Each finding has a stable code,
//! the position of the value it is about, and a hint that says how to fix it.
//!
//! Codes (stable; docs/zones-reference.md lists them with examples):
//! E001 TOML syntax or structure, E002 version, E003 invalid name or id, E004 name defined twice,
//! E005 duplicate flow id, E006 invalid network, E007 same network in two zones, E008 invalid
//! address, E009 host address outside its zone, E010 invalid MAC, E011 invalid port spec,
//! E012 unknown ICMP type, E013 unknown service, E014 unknown zone, E015 unknown host, group or
//! zone, E016 flow without ports, E017 flow ends share no address family, E018 interface in two
//! zones, E019 invalid interface name, E020 invalid or missing setting, E021 group problem,
//! E022 invalid date, E023 invalid text, E024 unknown gateway interface reference.
//! W001 flow inside one zone, W002 zone without IPv6, W003 mark collision re-hashed,
//! W004 expired flow, W005 expires soon, W006 duplicate network in one zone.

use crate::date::Date;
use crate::diagnostic::{Diagnostic, Diagnostics, Position, Severity, SourceMap};
use crate::mark;
use crate::model::*;
use crate::names;
use crate::net::{self, Cidr, Family, NetError, Ownership};
use crate::ports::{self, PortError, PortSpec};
use crate::raw::{RawFile, S};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The result of checking a policy: the policy when there are no errors, and all findings.
#[derive(Debug, Clone)]
pub struct Checked {
    pub policy: Option<Policy>,
    pub diagnostics: Diagnostics,
}

/// Checks raw bytes (which may not be UTF-8).
pub fn validate_bytes(file: &str, bytes: &[u8], today: Option<Date>) -> Checked {
    match std::str::from_utf8(bytes) {
        Ok(text) => validate(file, text, today),
        Err(e) => {
            let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            let map = SourceMap::new(file, valid);
            let pos = map.position(valid.len());
            Checked {
                policy: None,
                diagnostics: Diagnostics {
                    items: vec![Diagnostic {
                        code: "E001",
                        severity: Severity::Error,
                        file: file.to_string(),
                        line: pos.line,
                        column: pos.column,
                        message: "the file is not valid UTF-8".into(),
                        hint: Some("save zones.toml as UTF-8 (Japanese text included)".into()),
                    }],
                },
            }
        }
    }
}

/// The canonical form of a policy: compact JSON of everything that decides what the policy
/// permits, with formatting, comments, key order, the file name and the evaluation date left
/// out. `policy.canonical_sha256` is the SHA-256 of these bytes, and approvals are signed over
/// them (`zonegate canonical` prints them; see policy-compiler/src/approval.rs).
pub fn canonical(policy: &Policy) -> String {
    // Cannot fail: every map in the model has string keys.
    serde_json::to_string(policy).unwrap_or_default()
}

/// Checks a policy text. `today` is the date in the policy's time zone (expiry is inclusive);
/// None skips expiry.
pub fn validate(file: &str, source: &str, today: Option<Date>) -> Checked {
    check(file, source, today, false)
}

/// Like [`validate_bytes`], but keeps the policy when its only errors are guardrail findings
/// (`G…`): `zonegate diff` shows a change request that breaks a guardrail, with the finding,
/// rather than refusing to compare it. Such a policy still does not compile.
pub fn validate_for_review(file: &str, bytes: &[u8], today: Option<Date>) -> Checked {
    match std::str::from_utf8(bytes) {
        Ok(text) => check(file, text, today, true),
        Err(_) => validate_bytes(file, bytes, today),
    }
}

fn check(file: &str, source: &str, today: Option<Date>, keep_guardrail_errors: bool) -> Checked {
    let mut v = Validator {
        map: SourceMap::new(file, source),
        items: Vec::new(),
    };
    let raw: RawFile = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            let hint = if message.contains("unknown field") {
                "check the spelling of the key; docs/zones-reference.md lists every key"
            } else if message.contains("invalid type") {
                "check the value's type: text needs quotes, lists need [ ]"
            } else if message.contains("duplicate key") {
                "each key and table may appear once"
            } else {
                "fix the TOML syntax at this position"
            };
            v.error("E001", span.start, message, hint);
            return v.finish(None, false);
        }
    };
    let policy = v.build(raw, source, today);
    v.finish(policy, keep_guardrail_errors)
}

struct Validator {
    map: SourceMap,
    items: Vec<Diagnostic>,
}

impl Validator {
    fn push(&mut self, sev: Severity, code: &'static str, offset: usize, msg: String, hint: &str) {
        let pos = self.map.position(offset);
        self.items.push(Diagnostic {
            code,
            severity: sev,
            file: self.map.file.clone(),
            line: pos.line,
            column: pos.column,
            message: msg,
            hint: if hint.is_empty() {
                None
            } else {
                Some(hint.to_string())
            },
        });
    }
    fn error(&mut self, code: &'static str, offset: usize, msg: String, hint: &str) {
        self.push(Severity::Error, code, offset, msg, hint);
    }
    fn warn(&mut self, code: &'static str, offset: usize, msg: String, hint: &str) {
        self.push(Severity::Warning, code, offset, msg, hint);
    }
    fn pos(&self, offset: usize) -> Position {
        self.map.position(offset)
    }

    fn finish(self, policy: Option<Policy>, keep_guardrail_errors: bool) -> Checked {
        let mut diagnostics = Diagnostics { items: self.items };
        diagnostics.sort();
        let only_guardrails = diagnostics.errors().all(|d| d.code.starts_with('G'));
        let policy = if diagnostics.has_errors() && !(keep_guardrail_errors && only_guardrails) {
            None
        } else {
            policy
        };
        Checked {
            policy,
            diagnostics,
        }
    }

    fn text(&mut self, field: &str, value: &Option<S<String>>) -> Option<String> {
        let s = value.as_ref()?;
        if !names::valid_text(s.get_ref()) {
            self.error(
                "E023",
                s.span().start,
                format!("{field} holds control characters or is longer than 512 bytes"),
                "use one line of plain text",
            );
        }
        Some(s.get_ref().clone())
    }

    fn build(&mut self, raw: RawFile, source: &str, today: Option<Date>) -> Option<Policy> {
        match &raw.version {
            Some(v) if *v.get_ref() == 1 => {}
            Some(v) => self.error(
                "E002",
                v.span().start,
                format!("unsupported zones.toml version {}", v.get_ref()),
                "this zonegate reads version = 1",
            ),
            None => self.error(
                "E002",
                0,
                "missing `version`".into(),
                "start the file with `version = 1`",
            ),
        }
        let min_agent_version = raw.min_agent_version.as_ref().map(|m| {
            match parse_version(m.get_ref()) {
                None => self.error(
                    "E002",
                    m.span().start,
                    format!("min_agent_version {:?} is not MAJOR.MINOR[.PATCH]", m.get_ref()),
                    "write for example min_agent_version = \"0.1\"",
                ),
                Some(want) => {
                    let have = parse_version(env!("CARGO_PKG_VERSION")).unwrap_or((0, 0, 0));
                    if want > have {
                        self.error(
                            "E002",
                            m.span().start,
                            format!(
                                "this policy needs zonegate {} or newer; this is {}",
                                m.get_ref(),
                                env!("CARGO_PKG_VERSION")
                            ),
                            "upgrade zonegate on this machine and on every gateway before using this policy",
                        )
                    }
                }
            }
            m.get_ref().clone()
        });

        let settings = self.policy_settings(&raw);
        let mut zones = self.zones(&raw);
        let ownership = Ownership::build(
            zones
                .values()
                .flat_map(|z| z.networks.iter().map(|n| (*n, z.name.clone())))
                .collect(),
        );
        self.routers(&raw, &mut zones, &ownership);
        let hosts = self.hosts(&raw, &zones, &ownership);
        self.unique_names(&raw);
        let groups = self.groups(&raw, &hosts);
        let services = self.services(&raw);
        let mut flows = self.flows(&raw, &zones, &hosts, &groups, &services, today);
        let gateways = self.gateways(&raw, &zones);
        self.zone_family_warnings(&zones);
        mark::assign(&mut flows, |flow, attempts| {
            let at = flow.at.id;
            self.items.push(Diagnostic {
                code: "W003",
                severity: Severity::Warning,
                file: self.map.file.clone(),
                line: at.line,
                column: at.column,
                message: format!(
                    "the connection mark of flow {} collides with another flow; re-hashed ({} attempts)",
                    flow.id, attempts
                ),
                hint: Some(
                    "harmless: marks stay stable; renaming the flow id avoids the re-hash".into(),
                ),
            });
        });

        let settings = settings?;
        let mut policy = Policy {
            file: self.map.file.clone(),
            name: settings.name,
            revision: settings.revision,
            profile: settings.profile,
            network_model: settings.network_model,
            timezone: settings.timezone,
            intra_zone: settings.intra_zone,
            log: settings.log,
            strict_mac: settings.strict_mac,
            max_port_range: settings.max_port_range,
            min_agent_version,
            zones,
            hosts,
            groups,
            services,
            flows,
            gateways,
            today,
            canonical_sha256: String::new(),
            source_sha256: hex(&Sha256::digest(source.as_bytes())),
            ownership,
            positions: settings.positions,
        };
        policy.canonical_sha256 = hex(&Sha256::digest(canonical(&policy).as_bytes()));
        // Three-domain guardrails (三層の対策): findings join the same diagnostics, errors block.
        // Only on an otherwise valid policy: a flow dropped for a typo would make them report
        // paths and missing management flows that are not there.
        if policy.profile == Profile::ThreeTier
            && !self.items.iter().any(|d| d.severity == Severity::Error)
        {
            self.items.extend(crate::guardrails::check(&policy));
        }
        Some(policy)
    }

    fn policy_settings(&mut self, raw: &RawFile) -> Option<Settings> {
        let Some(p) = &raw.policy else {
            self.error(
                "E020",
                0,
                "missing [policy] table".into(),
                "add [policy] with at least name = \"...\"",
            );
            return None;
        };
        let at = p.span().start;
        let p = p.get_ref();
        let name = self.text("policy.name", &p.name).unwrap_or_else(|| {
            self.error(
                "E020",
                at,
                "[policy] needs a name".into(),
                "add name = \"your-organisation\"",
            );
            String::new()
        });
        let revision = self
            .text("policy.revision", &p.revision)
            .unwrap_or_else(|| "-".into());
        let profile = match p
            .profile
            .as_ref()
            .map(|s| (s.get_ref().as_str(), s.span().start))
        {
            None | Some(("three-tier", _)) => Profile::ThreeTier,
            Some(("none", _)) => Profile::None,
            Some((other, off)) => {
                self.error(
                    "E020",
                    off,
                    format!("unknown profile {other:?}"),
                    "use \"three-tier\" (三層の対策 guardrails) or \"none\"",
                );
                Profile::None
            }
        };
        let network_model = match p
            .network_model
            .as_ref()
            .map(|s| (s.get_ref().as_str(), s.span().start))
        {
            None | Some(("alpha", _)) => NetworkModel::Alpha,
            Some(("alpha-prime", _)) => NetworkModel::AlphaPrime,
            Some(("beta", _)) => NetworkModel::Beta,
            Some(("beta-prime", _)) => NetworkModel::BetaPrime,
            Some((other, off)) => {
                self.error(
                    "E020",
                    off,
                    format!("unknown network_model {other:?}"),
                    "use alpha, alpha-prime, beta or beta-prime",
                );
                NetworkModel::Alpha
            }
        };
        let timezone = match &p.timezone {
            None => "Asia/Tokyo".to_string(),
            Some(tz) => {
                let ok = !tz.get_ref().is_empty()
                    && tz.get_ref().len() <= 64
                    && tz
                        .get_ref()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
                if !ok {
                    self.error(
                        "E020",
                        tz.span().start,
                        format!("{:?} is not a time zone name", tz.get_ref()),
                        "use an IANA name such as \"Asia/Tokyo\"",
                    );
                }
                tz.get_ref().clone()
            }
        };
        let intra_zone = match p
            .intra_zone
            .as_ref()
            .map(|s| (s.get_ref().as_str(), s.span().start))
        {
            None | Some(("accept", _)) => IntraZone::Accept,
            Some(("drop", _)) => IntraZone::Drop,
            Some((other, off)) => {
                self.error(
                    "E020",
                    off,
                    format!("intra_zone must be \"accept\" or \"drop\", not {other:?}"),
                    "\"accept\" lets two interfaces of one zone talk; \"drop\" needs flows for that",
                );
                IntraZone::Accept
            }
        };
        let mut log = LogSettings {
            group: 100,
            rate: 20,
            unit: RateUnit::Second,
            burst: 50,
            key_table: LogSettings::DEFAULT_KEY_TABLE,
        };
        if let Some(l) = &p.log {
            let l = l.get_ref();
            if let Some(g) = &l.group {
                match u16::try_from(*g.get_ref()) {
                    Ok(g) => log.group = g,
                    Err(_) => self.error(
                        "E020",
                        g.span().start,
                        format!("log group {} is outside 0..=65535", g.get_ref()),
                        "pick an NFLOG group number no other program on the gateway uses",
                    ),
                }
            }
            if let Some(r) = &l.rate {
                match parse_rate(r.get_ref()) {
                    Some((n, unit)) => {
                        log.rate = n;
                        log.unit = unit;
                    }
                    None => self.error(
                        "E020",
                        r.span().start,
                        format!("log rate {:?} is not N/second|minute|hour|day", r.get_ref()),
                        "write for example rate = \"20/second\"",
                    ),
                }
            }
            if let Some(b) = &l.burst {
                match u32::try_from(*b.get_ref()) {
                    Ok(b) if (1..=100_000).contains(&b) => log.burst = b,
                    _ => self.error(
                        "E020",
                        b.span().start,
                        format!("log burst {} is outside 1..=100000", b.get_ref()),
                        "write for example burst = 50",
                    ),
                }
            }
            if let Some(k) = &l.key_table {
                match u32::try_from(*k.get_ref()) {
                    Ok(k) if (16..=1_048_576).contains(&k) => log.key_table = k,
                    _ => self.error(
                        "E020",
                        k.span().start,
                        format!("log key_table {} is outside 16..=1048576", k.get_ref()),
                        "the default is 65536 keys per family and class; write for example key_table = 65536",
                    ),
                }
            }
        }
        let strict_mac = p.strict_mac.as_ref().map(|b| *b.get_ref()).unwrap_or(false);
        let max_port_range = match &p.max_port_range {
            None => 16,
            Some(m) => match u32::try_from(*m.get_ref()) {
                Ok(n) if (1..=65535).contains(&n) => n,
                _ => {
                    self.error(
                        "E020",
                        m.span().start,
                        format!("max_port_range {} is outside 1..=65535", m.get_ref()),
                        "the default is 16",
                    );
                    16
                }
            },
        };
        let positions = PolicyPositions {
            policy: self.pos(at),
            timezone: p
                .timezone
                .as_ref()
                .map(|t| self.pos(t.span().start))
                .unwrap_or_else(|| self.pos(at)),
            strict_mac: p
                .strict_mac
                .as_ref()
                .map(|t| self.pos(t.span().start))
                .unwrap_or_else(|| self.pos(at)),
        };
        Some(Settings {
            name,
            revision,
            profile,
            network_model,
            timezone,
            intra_zone,
            log,
            strict_mac,
            max_port_range,
            positions,
        })
    }

    fn zones(&mut self, raw: &RawFile) -> BTreeMap<String, Zone> {
        let mut zones = BTreeMap::new();
        let mut seen: BTreeMap<Cidr, (String, usize)> = BTreeMap::new();
        for (name, z) in &raw.zones {
            let zone_name = name.get_ref().clone();
            if !names::valid_zone_name(&zone_name) {
                self.error(
                    "E003",
                    name.span().start,
                    format!("zone name {zone_name:?} is not allowed"),
                    "zone names start with a letter and use letters, digits and '_' (at most 24); they become nftables chain names",
                );
                continue;
            }
            let zr = z.get_ref();
            let role = zr.role.as_ref().and_then(|r| match r.get_ref().as_str() {
                "mynumber" => Some(ZoneRole::Mynumber),
                "lgwan" => Some(ZoneRole::Lgwan),
                "internet" => Some(ZoneRole::Internet),
                "external" => Some(ZoneRole::External),
                other => {
                    self.error(
                        "E020",
                        r.span().start,
                        format!("unknown zone role {other:?}"),
                        "use mynumber, lgwan, internet or external, or leave role out for a generic zone",
                    );
                    None
                }
            });
            let isolation = zr
                .isolation
                .as_ref()
                .and_then(|r| match r.get_ref().as_str() {
                    "mynumber-like" => Some(Isolation::MynumberLike),
                    "critical" => Some(Isolation::Critical),
                    other => {
                        self.error(
                            "E020",
                            r.span().start,
                            format!("unknown isolation {other:?}"),
                            "use \"mynumber-like\" or \"critical\"",
                        );
                        None
                    }
                });
            let display_name = self.text("display_name", &zr.display_name);
            let mut networks = Vec::new();
            if zr.networks.is_empty() {
                self.error(
                    "E006",
                    z.span().start,
                    format!("zone {zone_name} has no networks"),
                    "add networks = [\"10.10.0.0/24\"] (IPv4 and/or IPv6)",
                );
            }
            for n in &zr.networks {
                match net::parse_cidr(n.get_ref()) {
                    Ok(c) => {
                        if let Some((other, _)) = seen.get(&c) {
                            if *other == zone_name {
                                self.warn(
                                    "W006",
                                    n.span().start,
                                    format!("network {c} is listed twice in zone {zone_name}"),
                                    "remove the duplicate",
                                );
                                continue;
                            }
                            self.error(
                                "E007",
                                n.span().start,
                                format!("network {c} is in zone {other} and zone {zone_name}"),
                                "a network belongs to one zone; a more specific network inside it may belong to another",
                            );
                            continue;
                        }
                        seen.insert(c, (zone_name.clone(), n.span().start));
                        networks.push(c);
                    }
                    Err(e) => self.bad_network(n, e),
                }
            }
            networks.sort();
            zones.insert(
                zone_name.clone(),
                Zone {
                    name: zone_name,
                    role,
                    display_name,
                    networks,
                    isolation,
                    routers: Vec::new(),
                    at: self.pos(name.span().start),
                },
            );
        }
        zones
    }

    /// `routers = [...]` of each zone: literal addresses that lie in the zone (most specific
    /// network wins), as for hosts.
    fn routers(
        &mut self,
        raw: &RawFile,
        zones: &mut BTreeMap<String, Zone>,
        ownership: &Ownership<String>,
    ) {
        for (name, z) in &raw.zones {
            let Some(zone) = zones.get_mut(name.get_ref()) else {
                continue;
            };
            for a in &z.get_ref().routers {
                let Ok(addr) = net::parse_addr(a.get_ref()) else {
                    self.error(
                        "E008",
                        a.span().start,
                        format!("{:?} is not an IPv4 or IPv6 address", a.get_ref()),
                        "write a router's literal address such as \"10.10.0.254\" (names are not resolved; no prefix here)",
                    );
                    continue;
                };
                match ownership.owner_of(&addr) {
                    Some(owner) if *owner == zone.name => zone.routers.push(addr),
                    owner => self.error(
                        "E009",
                        a.span().start,
                        match owner {
                            Some(owner) => format!(
                                "router {addr} of zone {} lies in zone {owner}",
                                zone.name
                            ),
                            None => format!(
                                "router {addr} is outside every network of zone {}",
                                zone.name
                            ),
                        },
                        "list a router under the zone whose network holds its address (the most specific network wins)",
                    ),
                }
            }
            zone.routers.sort();
            zone.routers.dedup();
        }
    }

    fn bad_network(&mut self, n: &S<String>, e: NetError) {
        let (msg, hint) = match e {
            NetError::BadAddress => (
                format!("{:?} is not an IPv4 or IPv6 network", n.get_ref()),
                "write a literal network such as \"10.10.0.0/24\" or \"fd00:10::/64\" (names are not resolved)".to_string(),
            ),
            NetError::BadPrefix => (
                format!("{:?} has an invalid prefix length", n.get_ref()),
                "the prefix is 0..=32 for IPv4 and 0..=128 for IPv6".to_string(),
            ),
            NetError::HostBits(canon) => (
                format!("{:?} has host bits set", n.get_ref()),
                format!("did you mean \"{canon}\"?"),
            ),
        };
        self.error("E006", n.span().start, msg, &hint);
    }

    fn hosts(
        &mut self,
        raw: &RawFile,
        zones: &BTreeMap<String, Zone>,
        ownership: &Ownership<String>,
    ) -> BTreeMap<String, Host> {
        // `raw.hosts` iterates in key order and its keys are unique, so collecting a Vec and
        // building the map from it (a bulk build, no search per insert) gives the same map.
        let mut hosts = Vec::with_capacity(raw.hosts.len());
        for (name, h) in &raw.hosts {
            let host_name = name.get_ref().clone();
            if !names::valid_name(&host_name) {
                self.error(
                    "E003",
                    name.span().start,
                    format!("host name {host_name:?} is not allowed"),
                    "names start with a letter or digit and use letters, digits, '.', '_' and '-' (at most 64)",
                );
                continue;
            }
            let hr = h.get_ref();
            let Some(zone) = &hr.zone else {
                self.error(
                    "E020",
                    h.span().start,
                    format!("host {host_name} has no zone"),
                    "add zone = \"<zone name>\"",
                );
                continue;
            };
            if !zones.contains_key(zone.get_ref()) {
                self.unknown_zone(zone, zones);
                continue;
            }
            if hr.addresses.is_empty() {
                self.error(
                    "E008",
                    h.span().start,
                    format!("host {host_name} has no addresses"),
                    "add addresses = [\"10.10.0.5\"]",
                );
            }
            let mut addresses = Vec::new();
            for a in &hr.addresses {
                match net::parse_addr(a.get_ref()) {
                    Ok(addr) => {
                        match ownership.owner_of(&addr) {
                            Some(owner) if owner == zone.get_ref() => {}
                            Some(owner) => self.error(
                                "E009",
                                a.span().start,
                                format!(
                                    "address {addr} of host {host_name} lies in zone {owner}, not in zone {}",
                                    zone.get_ref()
                                ),
                                "fix the address, or move the host to the zone whose network holds it (the most specific network wins)",
                            ),
                            None => self.error(
                                "E009",
                                a.span().start,
                                format!(
                                    "address {addr} of host {host_name} is outside every network of zone {}",
                                    zone.get_ref()
                                ),
                                "add the host's network to the zone's networks, or fix the address",
                            ),
                        }
                        addresses.push(addr);
                    }
                    Err(_) => self.error(
                        "E008",
                        a.span().start,
                        format!("{:?} is not an IPv4 or IPv6 address", a.get_ref()),
                        "write a literal address such as \"10.10.0.5\" (names are not resolved; no prefix here)",
                    ),
                }
            }
            addresses.sort();
            addresses.dedup();
            let mac = hr.mac.as_ref().and_then(|m| match parse_mac(m.get_ref()) {
                Some(mac) => Some(mac),
                None => {
                    self.error(
                        "E010",
                        m.span().start,
                        format!("{:?} is not a MAC address", m.get_ref()),
                        "write six hex bytes separated by ':' such as \"52:54:00:aa:00:10\"",
                    );
                    None
                }
            });
            let role = hr.role.as_ref().and_then(|r| match r.get_ref().as_str() {
                "mail-relay" => Some(HostRole::MailRelay),
                "screen-transfer" => Some(HostRole::ScreenTransfer),
                "file-sanitizer" => Some(HostRole::FileSanitizer),
                "update-relay" => Some(HostRole::UpdateRelay),
                "cloud-service" => Some(HostRole::CloudService),
                other => {
                    self.error(
                        "E020",
                        r.span().start,
                        format!("unknown host role {other:?}"),
                        "use mail-relay, screen-transfer, file-sanitizer, update-relay or cloud-service",
                    );
                    None
                }
            });
            let ports = hr
                .ports
                .as_ref()
                .map(|ps| ps.iter().filter_map(|p| self.port_spec(p)).collect())
                .unwrap_or_default();
            hosts.push((
                host_name.clone(),
                Host {
                    name: host_name,
                    zone: zone.get_ref().clone(),
                    addresses,
                    mac,
                    role,
                    ports,
                    at: self.pos(name.span().start),
                },
            ));
        }
        hosts.into_iter().collect()
    }

    fn unknown_zone(&mut self, zone: &S<String>, zones: &BTreeMap<String, Zone>) {
        let known: Vec<&str> = zones.keys().map(String::as_str).collect();
        self.error(
            "E014",
            zone.span().start,
            format!("unknown zone {:?}", zone.get_ref()),
            &format!(
                "declare [zones.{}] or use one of: {}",
                zone.get_ref(),
                if known.is_empty() {
                    "(no zones declared)".to_string()
                } else {
                    known.join(", ")
                }
            ),
        );
    }

    fn port_spec(&mut self, p: &S<String>) -> Option<PortSpec> {
        match ports::parse_port_spec(p.get_ref()) {
            Ok(spec) => Some(spec),
            Err(PortError::UnknownIcmpType { v6, name }) => {
                let names = ports::icmp_type_names(v6);
                self.error(
                    "E012",
                    p.span().start,
                    format!(
                        "unknown {} type {name:?}",
                        if v6 { "ICMPv6" } else { "ICMP" }
                    ),
                    &format!("use one of: {}", names.join(", ")),
                );
                None
            }
            Err(e) => {
                let why = match e {
                    PortError::UnknownProtocol(p) => format!("unknown protocol {p:?}"),
                    PortError::BadPort => "ports must be 1..=65535 and low <= high".into(),
                    _ => "expected PROTO/PORT, PROTO/LOW-HIGH, icmp or icmpv6".into(),
                };
                self.error(
                    "E011",
                    p.span().start,
                    format!("invalid port spec {:?}: {why}", p.get_ref()),
                    "write tcp/443, udp/5000-5010, sctp/2905, icmp, icmp/echo-request or icmpv6",
                );
                None
            }
        }
    }

    /// Zones, hosts and groups share one namespace so `from`/`to` are never ambiguous.
    fn unique_names(&mut self, raw: &RawFile) {
        // Borrowed keys in a hash map: this runs over every host of large policies.
        let mut seen: std::collections::HashMap<&str, &'static str> =
            std::collections::HashMap::with_capacity(
                raw.hosts.len() + raw.zones.len() + raw.groups.len(),
            );
        let kinds: [(&'static str, Vec<&S<String>>); 3] = [
            ("zone", raw.zones.keys().collect()),
            ("host", raw.hosts.keys().collect()),
            ("group", raw.groups.keys().collect()),
        ];
        for (kind, keys) in kinds {
            for k in keys {
                if k.get_ref() == GATEWAY {
                    self.error(
                        "E004",
                        k.span().start,
                        format!("\"gateway\" is reserved and cannot name a {kind}"),
                        "\"gateway\" in from/to means the gateway itself; rename this one",
                    );
                    continue;
                }
                if let Some(first) = seen.get(k.get_ref().as_str()) {
                    self.error(
                        "E004",
                        k.span().start,
                        format!("{:?} names both a {first} and a {kind}", k.get_ref()),
                        "zone, host and group names share one namespace; rename one of them",
                    );
                } else {
                    seen.insert(k.get_ref().as_str(), kind);
                }
            }
        }
    }

    fn groups(&mut self, raw: &RawFile, hosts: &BTreeMap<String, Host>) -> BTreeMap<String, Group> {
        let mut out = BTreeMap::new();
        let group_names: std::collections::HashSet<&str> =
            raw.groups.keys().map(|k| k.get_ref().as_str()).collect();
        let raw_groups: std::collections::HashMap<&str, &crate::raw::RawGroup> = raw
            .groups
            .iter()
            .map(|(k, g)| (k.get_ref().as_str(), g.get_ref()))
            .collect();
        for (name, g) in &raw.groups {
            if !names::valid_name(name.get_ref()) {
                self.error(
                    "E003",
                    name.span().start,
                    format!("group name {:?} is not allowed", name.get_ref()),
                    "names start with a letter or digit and use letters, digits, '.', '_' and '-' (at most 64)",
                );
                continue;
            }
            if g.get_ref().members.is_empty() {
                self.error(
                    "E021",
                    g.span().start,
                    format!("group {} has no members", name.get_ref()),
                    "list hosts or groups in members = [...]",
                );
            }
            for m in &g.get_ref().members {
                if !hosts.contains_key(m.get_ref()) && !group_names.contains(m.get_ref().as_str()) {
                    self.error(
                        "E015",
                        m.span().start,
                        format!("unknown group member {:?}", m.get_ref()),
                        "members are host or group names declared in this file",
                    );
                }
            }
        }
        // Flatten with cycle detection; a group's zone is the zone all its hosts share.
        for (name, g) in &raw.groups {
            let mut hosts_of = BTreeSet::new();
            let mut stack = vec![(name.get_ref().clone(), vec![name.get_ref().clone()])];
            let mut cyclic = false;
            while let Some((current, path)) = stack.pop() {
                let Some(grp) = raw_groups.get(current.as_str()) else {
                    continue;
                };
                for m in &grp.members {
                    let m = m.get_ref();
                    if hosts.contains_key(m) {
                        hosts_of.insert(m.clone());
                    } else if path.contains(m) {
                        cyclic = true;
                    } else {
                        let mut p = path.clone();
                        p.push(m.clone());
                        stack.push((m.clone(), p));
                    }
                }
            }
            if cyclic {
                self.error(
                    "E021",
                    name.span().start,
                    format!(
                        "group {} contains itself through nested groups",
                        name.get_ref()
                    ),
                    "remove the nesting loop",
                );
                continue;
            }
            let zones_of: BTreeSet<&str> = hosts_of
                .iter()
                .filter_map(|h| hosts.get(h).map(|h| h.zone.as_str()))
                .collect();
            if zones_of.len() > 1 {
                self.error(
                    "E021",
                    name.span().start,
                    format!(
                        "group {} spans zones {}",
                        name.get_ref(),
                        zones_of.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                    "all members of a group lie in one zone; split it into one group per zone",
                );
                continue;
            }
            let Some(zone) = zones_of.into_iter().next() else {
                continue;
            };
            out.insert(
                name.get_ref().clone(),
                Group {
                    name: name.get_ref().clone(),
                    zone: zone.to_string(),
                    members: g
                        .get_ref()
                        .members
                        .iter()
                        .map(|m| m.get_ref().clone())
                        .collect(),
                    hosts: hosts_of,
                    at: self.pos(name.span().start),
                },
            );
        }
        out
    }

    fn services(&mut self, raw: &RawFile) -> BTreeMap<String, Vec<PortSpec>> {
        let mut out = BTreeMap::new();
        for (name, specs) in &raw.services {
            if !names::valid_name(name.get_ref()) {
                self.error(
                    "E003",
                    name.span().start,
                    format!("service name {:?} is not allowed", name.get_ref()),
                    "names start with a letter or digit and use letters, digits, '.', '_' and '-' (at most 64)",
                );
                continue;
            }
            if specs.get_ref().is_empty() {
                self.error(
                    "E016",
                    specs.span().start,
                    format!("service {} lists no ports", name.get_ref()),
                    "write for example https = [\"tcp/443\"]",
                );
            }
            let mut parsed: Vec<PortSpec> = specs
                .get_ref()
                .iter()
                .filter_map(|p| self.port_spec(p))
                .collect();
            parsed.sort();
            parsed.dedup();
            out.insert(name.get_ref().clone(), parsed);
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn flows(
        &mut self,
        raw: &RawFile,
        zones: &BTreeMap<String, Zone>,
        hosts: &BTreeMap<String, Host>,
        groups: &BTreeMap<String, Group>,
        services: &BTreeMap<String, Vec<PortSpec>>,
        today: Option<Date>,
    ) -> Vec<Flow> {
        let mut flows: BTreeMap<String, Flow> = BTreeMap::new();
        let mut seen_ids: BTreeMap<String, usize> = BTreeMap::new();
        for f in &raw.flows {
            let at = f.span().start;
            let fr = f.get_ref();
            let Some(id) = &fr.id else {
                self.error(
                    "E020",
                    at,
                    "flow has no id".into(),
                    "add id = \"F-001\" (unique)",
                );
                continue;
            };
            if !names::valid_flow_id(id.get_ref()) {
                self.error(
                    "E003",
                    id.span().start,
                    format!("flow id {:?} is not allowed", id.get_ref()),
                    "flow ids use letters, digits, '.', '_' and '-', at most 32 characters",
                );
                continue;
            }
            if let Some(first_line) = seen_ids.get(id.get_ref()) {
                self.error(
                    "E005",
                    id.span().start,
                    format!(
                        "flow id {} is already used at line {first_line}",
                        id.get_ref()
                    ),
                    "give every flow its own id",
                );
                continue;
            }
            seen_ids.insert(id.get_ref().clone(), self.pos(id.span().start).line);
            let resolve =
                |v: &mut Validator, e: &Option<S<String>>, key: &str| -> Option<Endpoint> {
                    let Some(e) = e else {
                        v.error(
                            "E020",
                            at,
                            format!("flow {} has no `{key}`", id.get_ref()),
                            "name a zone, host or group, or \"gateway\"",
                        );
                        return None;
                    };
                    let n = e.get_ref();
                    if n == GATEWAY {
                        Some(Endpoint::Gateway)
                    } else if zones.contains_key(n) {
                        Some(Endpoint::Zone(n.clone()))
                    } else if hosts.contains_key(n) {
                        Some(Endpoint::Host(n.clone()))
                    } else if groups.contains_key(n) {
                        Some(Endpoint::Group(n.clone()))
                    } else if raw.groups.keys().any(|k| k.get_ref() == n)
                        || raw.hosts.keys().any(|k| k.get_ref() == n)
                        || raw.zones.keys().any(|k| k.get_ref() == n)
                    {
                        // Declared but invalid: its own error already says why.
                        None
                    } else {
                        v.error(
                        "E015",
                        e.span().start,
                        format!("unknown {key} {n:?}: no zone, host or group has this name"),
                        "declare it, fix the spelling, or use \"gateway\" for the gateway itself",
                    );
                        None
                    }
                };
            let from = resolve(self, &fr.from, "from");
            let to = resolve(self, &fr.to, "to");
            let mut specs = Vec::new();
            let mut service_names = Vec::new();
            for s in fr.services.iter().flatten() {
                match services.get(s.get_ref()) {
                    Some(list) => {
                        specs.extend(list.iter().copied());
                        service_names.push(s.get_ref().clone());
                    }
                    None if raw.services.keys().any(|k| k.get_ref() == s.get_ref()) => {}
                    None => {
                        let known: Vec<&str> = services.keys().map(String::as_str).collect();
                        self.error(
                            "E013",
                            s.span().start,
                            format!("unknown service {:?}", s.get_ref()),
                            &format!(
                                "declare it under [services] or use one of: {}",
                                if known.is_empty() {
                                    "(none declared)".into()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        );
                    }
                }
            }
            let mut port_errors = false;
            for p in fr.ports.iter().flatten() {
                match self.port_spec(p) {
                    Some(spec) => specs.push(spec),
                    None => port_errors = true,
                }
            }
            specs.sort();
            specs.dedup();
            let ports_at = fr
                .ports
                .as_ref()
                .and_then(|p| p.first())
                .map(|p| p.span().start)
                .or_else(|| {
                    fr.services
                        .as_ref()
                        .and_then(|s| s.first())
                        .map(|s| s.span().start)
                })
                .unwrap_or(at);
            if fr.services.as_ref().is_none_or(|s| s.is_empty())
                && fr.ports.as_ref().is_none_or(|p| p.is_empty())
            {
                self.error(
                    "E016",
                    at,
                    format!("flow {} names no services and no ports", id.get_ref()),
                    "add services = [\"https\"] and/or ports = [\"tcp/8443\"]; a flow never means 'everything'",
                );
            }
            let purpose = self.text("purpose", &fr.purpose);
            let approved_by = self.text("approved_by", &fr.approved_by);
            let l2_control = self.text("l2_control", &fr.l2_control);
            let exception = self.text("exception", &fr.exception);
            let expires = fr.expires.as_ref().and_then(|e| {
                let text = match e.get_ref() {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Datetime(d) => d.to_string(),
                    _ => String::new(),
                };
                match Date::parse(&text) {
                    Some(d) => Some(d),
                    None => {
                        self.error(
                            "E022",
                            e.span().start,
                            format!("expires {text:?} is not a date"),
                            "write expires = \"2027-03-31\" (inclusive, in the policy's time zone)",
                        );
                        None
                    }
                }
            });
            let (Some(from), Some(to)) = (from, to) else {
                continue;
            };
            if from == Endpoint::Gateway && to == Endpoint::Gateway {
                self.error(
                    "E015",
                    at,
                    format!("flow {} goes from the gateway to itself", id.get_ref()),
                    "traffic inside the gateway (loopback) is always allowed; remove this flow",
                );
                continue;
            }
            let positions = FlowPositions {
                flow: self.pos(at),
                id: self.pos(id.span().start),
                from: fr
                    .from
                    .as_ref()
                    .map(|s| self.pos(s.span().start))
                    .unwrap_or_default(),
                to: fr
                    .to
                    .as_ref()
                    .map(|s| self.pos(s.span().start))
                    .unwrap_or_default(),
                ports: self.pos(ports_at),
                expires: fr
                    .expires
                    .as_ref()
                    .map(|s| self.pos(s.span().start))
                    .unwrap_or_default(),
            };
            let zone_of = |e: &Endpoint| -> Option<String> {
                match e {
                    Endpoint::Zone(z) => Some(z.clone()),
                    Endpoint::Host(h) => hosts.get(h).map(|h| h.zone.clone()),
                    Endpoint::Group(g) => groups.get(g).map(|g| g.zone.clone()),
                    Endpoint::Gateway => None,
                }
            };
            let from_zone = zone_of(&from);
            let to_zone = zone_of(&to);
            if from_zone.is_some() && from_zone == to_zone {
                self.warn(
                    "W001",
                    at,
                    format!(
                        "flow {} stays inside zone {}",
                        id.get_ref(),
                        from_zone.as_deref().unwrap_or_default()
                    ),
                    "traffic inside a zone follows policy.intra_zone; this flow only matters between two interfaces of the zone when intra_zone = \"drop\"",
                );
            }
            // The flow must be able to carry some packet: a shared family and a port spec for it.
            if !specs.is_empty() && !port_errors {
                let fams = |e: &Endpoint| -> BTreeSet<Family> {
                    match e {
                        Endpoint::Gateway => [Family::V4, Family::V6].into_iter().collect(),
                        Endpoint::Zone(z) => zones.get(z).map(|z| z.families()).unwrap_or_default(),
                        Endpoint::Host(h) => hosts
                            .get(h)
                            .map(|h| h.addresses.iter().map(Family::of).collect())
                            .unwrap_or_default(),
                        Endpoint::Group(g) => groups
                            .get(g)
                            .map(|g| {
                                g.hosts
                                    .iter()
                                    .filter_map(|h| hosts.get(h))
                                    .flat_map(|h| h.addresses.iter().map(Family::of))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    }
                };
                let common: BTreeSet<Family> =
                    fams(&from).intersection(&fams(&to)).copied().collect();
                let usable = specs.iter().any(|s| match s {
                    PortSpec::Ports { .. } => !common.is_empty(),
                    PortSpec::Icmp { .. } => common.contains(&Family::V4),
                    PortSpec::Icmpv6 { .. } => common.contains(&Family::V6),
                });
                if !usable {
                    self.error(
                        "E017",
                        at,
                        format!(
                            "flow {} can carry no packet: its ends share no address family for its ports",
                            id.get_ref()
                        ),
                        "give both ends addresses of the same family (IPv4 or IPv6), and use icmp for IPv4, icmpv6 for IPv6",
                    );
                }
            }
            let expired = match (expires, today) {
                (Some(e), Some(t)) if t > e => {
                    self.warn(
                        "W004",
                        fr.expires.as_ref().map(|s| s.span().start).unwrap_or(at),
                        format!("flow {} expired on {e}; it is not compiled", id.get_ref()),
                        "remove the flow, or renew it with a new expires date and approval",
                    );
                    true
                }
                (Some(e), Some(t)) if e.day_number() - t.day_number() <= 30 => {
                    self.warn(
                        "W005",
                        fr.expires.as_ref().map(|s| s.span().start).unwrap_or(at),
                        format!(
                            "flow {} expires on {e} ({} days left)",
                            id.get_ref(),
                            e.day_number() - t.day_number()
                        ),
                        "renew it before then if it is still needed",
                    );
                    false
                }
                _ => false,
            };
            flows.insert(
                id.get_ref().clone(),
                Flow {
                    id: id.get_ref().clone(),
                    from,
                    to,
                    from_zone,
                    to_zone,
                    specs,
                    services: service_names,
                    purpose,
                    approved_by,
                    expires,
                    l2_control,
                    exception,
                    mark: 0,
                    expired,
                    at: positions,
                },
            );
        }
        flows.into_values().collect()
    }

    fn gateways(
        &mut self,
        raw: &RawFile,
        zones: &BTreeMap<String, Zone>,
    ) -> BTreeMap<String, Gateway> {
        let mut out = BTreeMap::new();
        for (name, g) in &raw.gateways {
            if !names::valid_name(name.get_ref()) {
                self.error(
                    "E003",
                    name.span().start,
                    format!("gateway name {:?} is not allowed", name.get_ref()),
                    "names start with a letter or digit and use letters, digits, '.', '_' and '-' (at most 64)",
                );
                continue;
            }
            let mut interfaces: BTreeMap<String, String> = BTreeMap::new();
            for (zone, ifaces) in &g.get_ref().interfaces {
                if !zones.contains_key(zone.get_ref()) {
                    self.unknown_zone(zone, zones);
                    continue;
                }
                for i in ifaces.get_ref() {
                    if !names::valid_interface(i.get_ref()) {
                        self.error(
                            "E019",
                            i.span().start,
                            format!("{:?} is not a usable interface name", i.get_ref()),
                            "interface names are 1 to 15 bytes of letters, digits, '.', '_' or '-', and not \"lo\"",
                        );
                        continue;
                    }
                    if let Some(other) = interfaces.get(i.get_ref()) {
                        self.error(
                            "E018",
                            i.span().start,
                            format!(
                                "interface {} is in zone {other} and zone {} on gateway {}",
                                i.get_ref(),
                                zone.get_ref(),
                                name.get_ref()
                            ),
                            "an interface belongs to exactly one zone",
                        );
                        continue;
                    }
                    interfaces.insert(i.get_ref().clone(), zone.get_ref().clone());
                }
            }
            let mut dhcp_client = Vec::new();
            for d in g.get_ref().dhcp_client.iter().flatten() {
                if interfaces.contains_key(d.get_ref()) {
                    dhcp_client.push(d.get_ref().clone());
                } else {
                    self.error(
                        "E024",
                        d.span().start,
                        format!(
                            "dhcp_client names {:?}, which is not an interface of this gateway",
                            d.get_ref()
                        ),
                        "list the interface under interfaces first",
                    );
                }
            }
            dhcp_client.sort();
            dhcp_client.dedup();
            out.insert(
                name.get_ref().clone(),
                Gateway {
                    name: name.get_ref().clone(),
                    interfaces,
                    dhcp_client,
                    at: self.pos(name.span().start),
                },
            );
        }
        out
    }

    fn zone_family_warnings(&mut self, zones: &BTreeMap<String, Zone>) {
        let any_v6 = zones.values().any(|z| z.families().contains(&Family::V6));
        for z in zones.values() {
            if any_v6 && !z.families().contains(&Family::V6) {
                self.items.push(Diagnostic {
                    code: "W002",
                    severity: Severity::Warning,
                    file: self.map.file.clone(),
                    line: z.at.line,
                    column: z.at.column,
                    message: format!(
                        "zone {} has no IPv6 network: all IPv6 from it will be dropped as spoofed",
                        z.name
                    ),
                    hint: Some("add its IPv6 prefix to networks if its hosts use IPv6 (link-local neighbour discovery still works)".into()),
                });
            }
        }
    }
}

struct Settings {
    name: String,
    revision: String,
    profile: Profile,
    network_model: NetworkModel,
    timezone: String,
    intra_zone: IntraZone,
    log: LogSettings,
    strict_mac: bool,
    max_port_range: u32,
    positions: PolicyPositions,
}

fn parse_rate(s: &str) -> Option<(u32, RateUnit)> {
    let (n, unit) = s.split_once('/')?;
    if n.is_empty() || n.len() > 9 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = n.parse().ok()?;
    if n == 0 {
        return None;
    }
    let unit = match unit {
        "second" => RateUnit::Second,
        "minute" => RateUnit::Minute,
        "hour" => RateUnit::Hour,
        "day" => RateUnit::Day,
        _ => return None,
    };
    Some((n, unit))
}

fn parse_version(s: &str) -> Option<(u32, u32, u32)> {
    let parts: Vec<&str> = s.split('.').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let num = |p: &str| -> Option<u32> {
        if p.is_empty() || p.len() > 6 || !p.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            p.parse().ok()
        }
    };
    Some((
        num(parts[0])?,
        num(parts[1])?,
        if parts.len() == 3 { num(parts[2])? } else { 0 },
    ))
}

fn parse_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6
        || !parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return None;
    }
    Some(s.to_ascii_lowercase())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
