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
use crate::messages::{Arg, Text};
use crate::model::*;
use crate::names;
use crate::net::{self, Cidr, Family, NetError, Ownership};
use crate::ports::{self, PortError, PortSpec};
use crate::raw::{RawFile, S};
use crate::t;
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
                        message: t!(E001_NOT_UTF8),
                        hint: Some(t!(E001_NOT_UTF8_HINT)),
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
                t!(E001_UNKNOWN_FIELD_HINT)
            } else if message.contains("invalid type") {
                t!(E001_INVALID_TYPE_HINT)
            } else if message.contains("duplicate key") {
                t!(E001_DUPLICATE_KEY_HINT)
            } else {
                t!(E001_SYNTAX_HINT)
            };
            v.error("E001", span.start, t!(E001_TOML, detail = message), hint);
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
    fn push(&mut self, sev: Severity, code: &'static str, offset: usize, msg: Text, hint: Text) {
        let pos = self.map.position(offset);
        self.items.push(Diagnostic {
            code,
            severity: sev,
            file: self.map.file.clone(),
            line: pos.line,
            column: pos.column,
            message: msg,
            hint: Some(hint),
        });
    }
    fn error(&mut self, code: &'static str, offset: usize, msg: Text, hint: Text) {
        self.push(Severity::Error, code, offset, msg, hint);
    }
    fn warn(&mut self, code: &'static str, offset: usize, msg: Text, hint: Text) {
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
                t!(E023_TEXT, field = field),
                t!(E023_TEXT_HINT),
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
                t!(E002_VERSION_UNSUPPORTED, version = v.get_ref().to_string()),
                t!(E002_VERSION_UNSUPPORTED_HINT),
            ),
            None => self.error(
                "E002",
                0,
                t!(E002_VERSION_MISSING),
                t!(E002_VERSION_MISSING_HINT),
            ),
        }
        let min_agent_version = raw.min_agent_version.as_ref().map(|m| {
            match parse_version(m.get_ref()) {
                None => self.error(
                    "E002",
                    m.span().start,
                    t!(E002_MIN_AGENT_SYNTAX, value = format!("{:?}", m.get_ref())),
                    t!(E002_MIN_AGENT_SYNTAX_HINT),
                ),
                Some(want) => {
                    let have = parse_version(env!("CARGO_PKG_VERSION")).unwrap_or((0, 0, 0));
                    if want > have {
                        self.error(
                            "E002",
                            m.span().start,
                            t!(
                                E002_MIN_AGENT_NEWER,
                                want = m.get_ref(),
                                have = env!("CARGO_PKG_VERSION")
                            ),
                            t!(E002_MIN_AGENT_NEWER_HINT),
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
                message: t!(W003_MARK, id = &flow.id, attempts = attempts),
                hint: Some(t!(W003_MARK_HINT)),
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
            self.error("E020", 0, t!(E020_NO_POLICY), t!(E020_NO_POLICY_HINT));
            return None;
        };
        let at = p.span().start;
        let p = p.get_ref();
        let name = self.text("policy.name", &p.name).unwrap_or_else(|| {
            self.error(
                "E020",
                at,
                t!(E020_NO_POLICY_NAME),
                t!(E020_NO_POLICY_NAME_HINT),
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
                    t!(E020_PROFILE, value = format!("{other:?}")),
                    t!(E020_PROFILE_HINT),
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
                    t!(E020_NETWORK_MODEL, value = format!("{other:?}")),
                    t!(E020_NETWORK_MODEL_HINT),
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
                        t!(E020_TIMEZONE, value = format!("{:?}", tz.get_ref())),
                        t!(E020_TIMEZONE_HINT),
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
                    t!(E020_INTRA_ZONE, value = format!("{other:?}")),
                    t!(E020_INTRA_ZONE_HINT),
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
                        t!(E020_LOG_GROUP, value = g.get_ref().to_string()),
                        t!(E020_LOG_GROUP_HINT),
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
                        t!(E020_LOG_RATE, value = format!("{:?}", r.get_ref())),
                        t!(E020_LOG_RATE_HINT),
                    ),
                }
            }
            if let Some(b) = &l.burst {
                match u32::try_from(*b.get_ref()) {
                    Ok(b) if (1..=100_000).contains(&b) => log.burst = b,
                    _ => self.error(
                        "E020",
                        b.span().start,
                        t!(E020_LOG_BURST, value = b.get_ref().to_string()),
                        t!(E020_LOG_BURST_HINT),
                    ),
                }
            }
            if let Some(k) = &l.key_table {
                match u32::try_from(*k.get_ref()) {
                    Ok(k) if (16..=1_048_576).contains(&k) => log.key_table = k,
                    _ => self.error(
                        "E020",
                        k.span().start,
                        t!(E020_KEY_TABLE, value = k.get_ref().to_string()),
                        t!(E020_KEY_TABLE_HINT),
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
                        t!(E020_MAX_PORT_RANGE, value = m.get_ref().to_string()),
                        t!(E020_MAX_PORT_RANGE_HINT),
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
                    t!(E003_ZONE_NAME, name = format!("{zone_name:?}")),
                    t!(E003_ZONE_NAME_HINT),
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
                        t!(E020_ZONE_ROLE, value = format!("{other:?}")),
                        t!(E020_ZONE_ROLE_HINT),
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
                            t!(E020_ISOLATION, value = format!("{other:?}")),
                            t!(E020_ISOLATION_HINT),
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
                    t!(E006_NO_NETWORKS, zone = &zone_name),
                    t!(E006_NO_NETWORKS_HINT),
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
                                    t!(
                                        W006_NETWORK_TWICE,
                                        network = c.to_string(),
                                        zone = &zone_name
                                    ),
                                    t!(W006_NETWORK_TWICE_HINT),
                                );
                                continue;
                            }
                            self.error(
                                "E007",
                                n.span().start,
                                t!(
                                    E007_NETWORK_TWO_ZONES,
                                    network = c.to_string(),
                                    other = other.to_string(),
                                    zone = &zone_name
                                ),
                                t!(E007_NETWORK_TWO_ZONES_HINT),
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
                        t!(E008_NOT_ADDRESS, value = format!("{:?}", a.get_ref())),
                        t!(E008_ROUTER_HINT),
                    );
                    continue;
                };
                match ownership.owner_of(&addr) {
                    Some(owner) if *owner == zone.name => zone.routers.push(addr),
                    owner => self.error(
                        "E009",
                        a.span().start,
                        match owner {
                            Some(owner) => t!(
                                E009_ROUTER_OTHER_ZONE,
                                addr = addr.to_string(),
                                zone = &zone.name,
                                owner = owner.to_string()
                            ),
                            None => t!(
                                E009_ROUTER_OUTSIDE,
                                addr = addr.to_string(),
                                zone = &zone.name
                            ),
                        },
                        t!(E009_ROUTER_HINT),
                    ),
                }
            }
            zone.routers.sort();
            zone.routers.dedup();
        }
    }

    fn bad_network(&mut self, n: &S<String>, e: NetError) {
        let value = format!("{:?}", n.get_ref());
        let (msg, hint) = match e {
            NetError::BadAddress => (
                t!(E006_NOT_NETWORK, value = value),
                t!(E006_NOT_NETWORK_HINT),
            ),
            NetError::BadPrefix => (t!(E006_PREFIX, value = value), t!(E006_PREFIX_HINT)),
            NetError::HostBits(canon) => (
                t!(E006_HOST_BITS, value = value),
                t!(E006_HOST_BITS_HINT, canonical = canon.to_string()),
            ),
        };
        self.error("E006", n.span().start, msg, hint);
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
                    t!(E003_HOST_NAME, name = format!("{host_name:?}")),
                    t!(E003_NAME_HINT),
                );
                continue;
            }
            let hr = h.get_ref();
            let Some(zone) = &hr.zone else {
                self.error(
                    "E020",
                    h.span().start,
                    t!(E020_HOST_NO_ZONE, host = &host_name),
                    t!(E020_HOST_NO_ZONE_HINT),
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
                    t!(E008_NO_ADDRESSES, host = &host_name),
                    t!(E008_NO_ADDRESSES_HINT),
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
                                t!(
                                    E009_HOST_OTHER_ZONE,
                                    addr = addr.to_string(),
                                    host = &host_name,
                                    owner = owner.to_string(),
                                    zone = zone.get_ref()
                                ),
                                t!(E009_HOST_OTHER_ZONE_HINT),
                            ),
                            None => self.error(
                                "E009",
                                a.span().start,
                                t!(
                                    E009_HOST_OUTSIDE,
                                    addr = addr.to_string(),
                                    host = &host_name,
                                    zone = zone.get_ref()
                                ),
                                t!(E009_HOST_OUTSIDE_HINT),
                            ),
                        }
                        addresses.push(addr);
                    }
                    Err(_) => self.error(
                        "E008",
                        a.span().start,
                        t!(E008_NOT_ADDRESS, value = format!("{:?}", a.get_ref())),
                        t!(E008_HOST_HINT),
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
                        t!(E010_NOT_MAC, value = format!("{:?}", m.get_ref())),
                        t!(E010_NOT_MAC_HINT),
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
                        t!(E020_HOST_ROLE, value = format!("{other:?}")),
                        t!(E020_HOST_ROLE_HINT),
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
            t!(E014_UNKNOWN_ZONE, name = format!("{:?}", zone.get_ref())),
            t!(
                E014_UNKNOWN_ZONE_HINT,
                zone = zone.get_ref(),
                known = if known.is_empty() {
                    Arg::from(t!(PHRASE_NO_ZONES_DECLARED))
                } else {
                    Arg::Plain(known.join(", "))
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
                    t!(
                        E012_ICMP_TYPE,
                        family = if v6 { "ICMPv6" } else { "ICMP" },
                        name = format!("{name:?}")
                    ),
                    t!(E012_ICMP_TYPE_HINT, names = names.join(", ")),
                );
                None
            }
            Err(e) => {
                let why = match e {
                    PortError::UnknownProtocol(p) => {
                        t!(E011_UNKNOWN_PROTOCOL, protocol = format!("{p:?}"))
                    }
                    PortError::BadPort => t!(E011_BAD_PORT),
                    _ => t!(E011_EXPECTED),
                };
                self.error(
                    "E011",
                    p.span().start,
                    t!(
                        E011_PORT_SPEC,
                        value = format!("{:?}", p.get_ref()),
                        why = why
                    ),
                    t!(E011_PORT_SPEC_HINT),
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
                        t!(E004_RESERVED, kind = kind_text(kind)),
                        t!(E004_RESERVED_HINT),
                    );
                    continue;
                }
                if let Some(first) = seen.get(k.get_ref().as_str()) {
                    self.error(
                        "E004",
                        k.span().start,
                        t!(
                            E004_TWICE,
                            name = format!("{:?}", k.get_ref()),
                            first = kind_text(first),
                            kind = kind_text(kind)
                        ),
                        t!(E004_TWICE_HINT),
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
                    t!(E003_GROUP_NAME, name = format!("{:?}", name.get_ref())),
                    t!(E003_NAME_HINT),
                );
                continue;
            }
            if g.get_ref().members.is_empty() {
                self.error(
                    "E021",
                    g.span().start,
                    t!(E021_NO_MEMBERS, name = name.get_ref()),
                    t!(E021_NO_MEMBERS_HINT),
                );
            }
            for m in &g.get_ref().members {
                if !hosts.contains_key(m.get_ref()) && !group_names.contains(m.get_ref().as_str()) {
                    self.error(
                        "E015",
                        m.span().start,
                        t!(E015_UNKNOWN_MEMBER, name = format!("{:?}", m.get_ref())),
                        t!(E015_UNKNOWN_MEMBER_HINT),
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
                    t!(E021_LOOP, name = name.get_ref()),
                    t!(E021_LOOP_HINT),
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
                    t!(
                        E021_ZONES,
                        name = name.get_ref(),
                        zones = zones_of.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                    t!(E021_ZONES_HINT),
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
                    t!(E003_SERVICE_NAME, name = format!("{:?}", name.get_ref())),
                    t!(E003_NAME_HINT),
                );
                continue;
            }
            if specs.get_ref().is_empty() {
                self.error(
                    "E016",
                    specs.span().start,
                    t!(E016_SERVICE_NO_PORTS, name = name.get_ref()),
                    t!(E016_SERVICE_NO_PORTS_HINT),
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
                self.error("E020", at, t!(E020_FLOW_NO_ID), t!(E020_FLOW_NO_ID_HINT));
                continue;
            };
            if !names::valid_flow_id(id.get_ref()) {
                self.error(
                    "E003",
                    id.span().start,
                    t!(E003_FLOW_ID, id = format!("{:?}", id.get_ref())),
                    t!(E003_FLOW_ID_HINT),
                );
                continue;
            }
            if let Some(first_line) = seen_ids.get(id.get_ref()) {
                self.error(
                    "E005",
                    id.span().start,
                    t!(E005_DUPLICATE_FLOW, id = id.get_ref(), line = *first_line),
                    t!(E005_DUPLICATE_FLOW_HINT),
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
                            t!(E020_FLOW_NO_END, id = id.get_ref(), key = key),
                            t!(E020_FLOW_NO_END_HINT),
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
                            t!(E015_UNKNOWN_END, key = key, name = format!("{n:?}")),
                            t!(E015_UNKNOWN_END_HINT),
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
                            t!(E013_UNKNOWN_SERVICE, name = format!("{:?}", s.get_ref())),
                            t!(
                                E013_UNKNOWN_SERVICE_HINT,
                                known = if known.is_empty() {
                                    Arg::from(t!(PHRASE_NONE_DECLARED))
                                } else {
                                    Arg::Plain(known.join(", "))
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
                    t!(E016_FLOW_NO_PORTS, id = id.get_ref()),
                    t!(E016_FLOW_NO_PORTS_HINT),
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
                            t!(E022_DATE, value = format!("{text:?}")),
                            t!(E022_DATE_HINT),
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
                    t!(E015_GATEWAY_TO_ITSELF, id = id.get_ref()),
                    t!(E015_GATEWAY_TO_ITSELF_HINT),
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
                    t!(
                        W001_INTRA,
                        id = id.get_ref(),
                        zone = from_zone.as_deref().unwrap_or_default()
                    ),
                    t!(W001_INTRA_HINT),
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
                        t!(E017_NO_FAMILY, id = id.get_ref()),
                        t!(E017_NO_FAMILY_HINT),
                    );
                }
            }
            let expired = match (expires, today) {
                (Some(e), Some(t)) if t > e => {
                    self.warn(
                        "W004",
                        fr.expires.as_ref().map(|s| s.span().start).unwrap_or(at),
                        t!(W004_EXPIRED, id = id.get_ref(), date = e.to_string()),
                        t!(W004_EXPIRED_HINT),
                    );
                    true
                }
                (Some(e), Some(t)) if e.day_number() - t.day_number() <= 30 => {
                    self.warn(
                        "W005",
                        fr.expires.as_ref().map(|s| s.span().start).unwrap_or(at),
                        t!(
                            W005_EXPIRES_SOON,
                            id = id.get_ref(),
                            date = e.to_string(),
                            days = (e.day_number() - t.day_number()).to_string()
                        ),
                        t!(W005_EXPIRES_SOON_HINT),
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
                    t!(E003_GATEWAY_NAME, name = format!("{:?}", name.get_ref())),
                    t!(E003_NAME_HINT),
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
                            t!(E019_INTERFACE_NAME, value = format!("{:?}", i.get_ref())),
                            t!(E019_INTERFACE_NAME_HINT),
                        );
                        continue;
                    }
                    if let Some(other) = interfaces.get(i.get_ref()) {
                        self.error(
                            "E018",
                            i.span().start,
                            t!(
                                E018_INTERFACE_TWO_ZONES,
                                interface = i.get_ref(),
                                other = other.to_string(),
                                zone = zone.get_ref(),
                                gateway = name.get_ref()
                            ),
                            t!(E018_INTERFACE_TWO_ZONES_HINT),
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
                        t!(E024_DHCP_CLIENT, value = format!("{:?}", d.get_ref())),
                        t!(E024_DHCP_CLIENT_HINT),
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
                    message: t!(W002_NO_V6, zone = &z.name),
                    hint: Some(t!(W002_NO_V6_HINT)),
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

/// "zone", "host" or "group", translated.
fn kind_text(kind: &str) -> Text {
    match kind {
        "zone" => t!(KIND_ZONE),
        "host" => t!(KIND_HOST),
        _ => t!(KIND_GROUP),
    }
}
