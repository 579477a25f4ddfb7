//! Three-domain guardrails (三層の対策) for `profile = "three-tier"`: the compiler knows the
//! My Number / LGWAN / internet-connected split of Japanese local governments and refuses
//! policies that break it. Pure: `check(&Policy)` returns findings; `validate` pushes them into
//! the same diagnostics as every other finding, so `zonegate check` (text and JSON) shows them.
//!
//! Every message cites its basis with a short reference to a source that was read verbatim
//! ([V]: the public source each rule's `basis` names); unverified guideline wording is never cited.
//!
//! | code | severity | rule |
//! |------|----------|------|
//! | G001 | error | no flow between a My Number(-like) zone and an `internet`/`external` zone |
//! | G002 | error | no chain of flows joins them through intermediate hosts (undirected, per host) |
//! | G003 | warning | no chain through intra-zone traffic that a gateway accepts (zone level) |
//! | G010 | error | My Number flows use explicit ports: ranges at most `max_port_range`, named ICMP types |
//! | G011 | error | the My Number-side end is one host or a small group (at most [`SMALL_GROUP`]) |
//! | G012 | error | the other end is one host or a small group, except R7.3 screen transfer |
//! | G013 | warning (error with `strict_mac`) | My Number / critical hosts are MAC-pinned, or the flow states `l2_control` |
//! | G020 | error | every cross-zone flow (and every gateway flow) has `purpose` and `approved_by` |
//! | G021 | error | flows touching a My Number(-like) or critical zone have `expires` |
//! | G030 | error | LGWAN <-> internet-connected: both ends are hosts or groups, not zones |
//! | G031 | error | LGWAN <-> internet-connected: one end is a sanitising host (no terminal to terminal) |
//! | G032 | error | LGWAN <-> internet-connected: ports within the sanitising host's declared ports |
//! | G040 | error | LGWAN <-> external only under `network_model = "alpha-prime"` |
//! | G041 | error | under alpha-prime: LGWAN opens connections only to `cloud-service` hosts/groups |
//! | G050 | error | management flows to the gateway never come from an internet/external zone |
//! | G051 | error | a gateway joining My Number and internet/external zones declares its management flows |
//! | G052 | error | such a gateway opens no connection into an internet/external zone (exception allowed) |
//! | G060 | error | critical zones <-> internet/external only through a declared relay host, on its ports |
//! | G070 | warning | a profile role (mynumber, lgwan, internet, external) is missing from the zones |
//! | G071 | error | a zone is both internet-side (role) and isolated (isolation) |
//! | G090 | warning | a declared exception is in force (listed so every report shows it) |
//! | G091 | error | an exception lacks `approved_by` or `expires` |
//! | G092 | warning | an exception that no guardrail accepts (it has no effect) |
//!
//! Expiry findings are validate's: W004 (expired, not compiled) and W005 (expires within 30
//! days). Expired flows are not compiled, so no guardrail looks at them.

use crate::diagnostic::{Diagnostic, Position, Severity};
use crate::messages::{Arg, Text};
use crate::model::{Endpoint, Flow, Host, IntraZone, NetworkModel, Policy, Zone, ZoneRole};
use crate::ports::PortSpec;
use crate::t;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The largest named group that still counts as "small" on a My Number flow. 要件シート No.2 ①
/// asks for the path to be limited by address; a handful of named hosts is still a reviewable
/// list, a department's worth of terminals is not.
pub const SMALL_GROUP: usize = 8;

/// One guardrail, for reports (the matrix lists every rule with its result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub code: &'static str,
    /// "error", "warning", or "warning/error" (G013: error with `policy.strict_mac = true`).
    pub severity: &'static str,
    pub title_en: &'static str,
    pub title_ja: &'static str,
    /// Short citation of the [V] basis.
    pub basis: &'static str,
}

const CITE_MN_CUT: &str = "(検討チーム報告 H27.11 (1); 徳島県「完全に遮断」)";
const CITE_MN_CHAIN: &str = "(検討チーム報告 H27.11 (1); 総務省 R2.5.22: 国が認めた特定通信に限る)";
const CITE_PIN: &str = "(要件シート No.2 ①: 通信経路(MAC・IP)とポート番号の限定)";
const CITE_L2: &str = "(要件シート No.2 ①, ①-1: MACアドレスによる経路限定, L2SW/L3SW)";
const CITE_SCREEN: &str = "(R7.3改定: 画面転送で信頼される特定先)";
const CITE_NEED: &str = "(検討チーム報告 H27.11 (1); 徳島県: 業務上必要な場合のみ許可)";
const CITE_SANITISE: &str = "(検討チーム報告 H27.11 (2): 無害化通信; 総行情第77号 (2))";
const CITE_ALPHA_PRIME: &str = "(α′モデル R6.10: ローカルブレークアウト, 通信先の厳格な制限)";
const CITE_SPLIT: &str = "(総行情第77号 (2); 検討チーム報告 H27.11 (1))";
const CITE_MODEL: &str = "(検討チーム報告 H27.11 (1)(2): 三層の対策)";

/// Every guardrail, in code order.
pub const RULES: &[Rule] = &[
    Rule {
        code: "G001",
        severity: "error",
        title_en: "no flow between the My Number domain and the internet side",
        title_ja: "マイナンバー利用事務系とインターネット側の直接通信なし",
        basis: CITE_MN_CUT,
    },
    Rule {
        code: "G002",
        severity: "error",
        title_en: "no chain of flows between the My Number domain and the internet side",
        title_ja: "中継ホストを介したマイナンバー利用事務系とインターネット側の経路なし",
        basis: CITE_MN_CHAIN,
    },
    Rule {
        code: "G003",
        severity: "warning",
        title_en: "no chain through intra-zone traffic accepted by a gateway",
        title_ja: "ゾーン内通信を介した経路なし",
        basis: CITE_MN_CHAIN,
    },
    Rule {
        code: "G010",
        severity: "error",
        title_en: "explicit ports on My Number flows",
        title_ja: "マイナンバー系通信のポート限定",
        basis: CITE_PIN,
    },
    Rule {
        code: "G011",
        severity: "error",
        title_en: "single host or small group on the My Number side",
        title_ja: "マイナンバー側は単一ホストまたは少数グループ",
        basis: CITE_PIN,
    },
    Rule {
        code: "G012",
        severity: "error",
        title_en: "single host or small group on the other side (except screen transfer)",
        title_ja: "相手側は単一ホストまたは少数グループ(画面転送を除く)",
        basis: CITE_PIN,
    },
    Rule {
        code: "G013",
        severity: "warning/error",
        title_en: "MAC pin or l2_control on My Number and critical flows",
        title_ja: "MACアドレス固定またはL2制御の明示",
        basis: CITE_L2,
    },
    Rule {
        code: "G020",
        severity: "error",
        title_en: "purpose and approver on every cross-zone flow",
        title_ja: "ゾーン間通信の目的・承認者",
        basis: CITE_NEED,
    },
    Rule {
        code: "G021",
        severity: "error",
        title_en: "expiry on My Number and critical flows",
        title_ja: "マイナンバー系・重要系通信の有効期限",
        basis: CITE_NEED,
    },
    Rule {
        code: "G030",
        severity: "error",
        title_en: "LGWAN ↔ internet: hosts or groups at both ends",
        title_ja: "LGWAN接続系⇔インターネット接続系: 両端はホストまたはグループ",
        basis: CITE_SANITISE,
    },
    Rule {
        code: "G031",
        severity: "error",
        title_en: "LGWAN ↔ internet: through a sanitising host",
        title_ja: "LGWAN接続系⇔インターネット接続系: 無害化ホスト経由",
        basis: CITE_SANITISE,
    },
    Rule {
        code: "G032",
        severity: "error",
        title_en: "LGWAN ↔ internet: on the sanitiser's declared ports",
        title_ja: "LGWAN接続系⇔インターネット接続系: 無害化ホストの宣言ポートのみ",
        basis: CITE_SANITISE,
    },
    Rule {
        code: "G040",
        severity: "error",
        title_en: "LGWAN ↔ Internet only under alpha-prime",
        title_ja: "LGWAN接続系⇔インターネットはα′モデルのみ",
        basis: CITE_ALPHA_PRIME,
    },
    Rule {
        code: "G041",
        severity: "error",
        title_en: "alpha-prime breakout only to cloud-service hosts",
        title_ja: "α′のローカルブレークアウトはクラウドサービスのみ",
        basis: CITE_ALPHA_PRIME,
    },
    Rule {
        code: "G050",
        severity: "error",
        title_en: "no gateway management from the internet side",
        title_ja: "インターネット側からのゲートウェイ管理なし",
        basis: CITE_SPLIT,
    },
    Rule {
        code: "G051",
        severity: "error",
        title_en: "declared management flows on boundary gateways",
        title_ja: "境界ゲートウェイの管理通信の明示",
        basis: CITE_PIN,
    },
    Rule {
        code: "G052",
        severity: "error",
        title_en: "no gateway connections into the internet side (exception allowed)",
        title_ja: "ゲートウェイ自身からインターネット側への通信なし(例外可)",
        basis: CITE_MN_CHAIN,
    },
    Rule {
        code: "G060",
        severity: "error",
        title_en: "critical zones reach the internet side only through declared relays",
        title_ja: "重要系はインターネット側と中継ホスト経由のみ",
        basis: CITE_PIN,
    },
    Rule {
        code: "G070",
        severity: "warning",
        title_en: "every profile role present",
        title_ja: "三層の各ロールの存在",
        basis: CITE_MODEL,
    },
    Rule {
        code: "G071",
        severity: "error",
        title_en: "no isolated internet-side zone",
        title_ja: "インターネット側ゾーンに隔離指定なし",
        basis: CITE_MODEL,
    },
    Rule {
        code: "G090",
        severity: "warning",
        title_en: "declared exceptions in force",
        title_ja: "有効な例外措置",
        basis: CITE_NEED,
    },
    Rule {
        code: "G091",
        severity: "error",
        title_en: "exceptions carry approver and expiry",
        title_ja: "例外措置の承認者・期限",
        basis: CITE_NEED,
    },
    Rule {
        code: "G092",
        severity: "warning",
        title_en: "no exception without effect",
        title_ja: "効果のない例外指定なし",
        basis: CITE_NEED,
    },
];

/// The guardrail a code names, if any.
pub fn rule(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.code == code)
}

/// Runs every guardrail. Call it for `profile = "three-tier"` only (validate does).
pub fn check(policy: &Policy) -> Vec<Diagnostic> {
    let mut g = Guard {
        p: policy,
        out: Vec::new(),
        hosts_by_zone: BTreeMap::new(),
    };
    for h in policy.hosts.values() {
        g.hosts_by_zone
            .entry(h.zone.as_str())
            .or_default()
            .push(h.name.as_str());
    }
    g.zones();
    for f in policy.active_flows() {
        g.flow(f);
    }
    g.gateways();
    g.chains();
    g.out
}

/// Which side of the three-domain model a zone is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// role mynumber or isolation mynumber-like: every My Number rule applies.
    Mynumber,
    /// isolation critical: pinning, approval and expiry as for My Number; relays to the internet.
    Critical,
    Lgwan,
    Internet,
    External,
    Other,
}

fn class(z: &Zone) -> Class {
    if z.is_mynumber_like() {
        Class::Mynumber
    } else if z.is_sensitive() {
        Class::Critical
    } else {
        match z.role {
            Some(ZoneRole::Lgwan) => Class::Lgwan,
            Some(ZoneRole::Internet) => Class::Internet,
            Some(ZoneRole::External) => Class::External,
            _ => Class::Other,
        }
    }
}

fn internet_side(c: Class) -> bool {
    matches!(c, Class::Internet | Class::External)
}

fn side_name(c: Class) -> Text {
    match c {
        Class::Internet => t!(SIDE_INTERNET),
        Class::External => t!(SIDE_EXTERNAL),
        Class::Mynumber => t!(SIDE_MYNUMBER),
        Class::Critical => t!(SIDE_CRITICAL),
        Class::Lgwan => t!(SIDE_LGWAN),
        Class::Other => t!(SIDE_OTHER),
    }
}

/// `purpose` or `purpose and approved_by`.
fn and_list(items: &[&str]) -> Arg {
    match items {
        [a, b] => Arg::from(t!(PHRASE_AND, a = *a, b = *b)),
        _ => Arg::Plain(items.join(", ")),
    }
}

/// How wide a flow end is, for G011/G012.
fn width(p: &Policy, e: &Endpoint) -> Option<Text> {
    match e {
        Endpoint::Zone(z) => Some(t!(PHRASE_WHOLE_ZONE, zone = z)),
        Endpoint::Group(g) => {
            let n = p.groups.get(g).map(|g| g.hosts.len()).unwrap_or(0);
            (n > SMALL_GROUP).then(|| t!(PHRASE_BIG_GROUP, group = g, n = n, max = SMALL_GROUP))
        }
        Endpoint::Host(_) | Endpoint::Gateway => None,
    }
}

/// (protocol key, low, high) of a port spec, so coverage can be computed on intervals.
fn span(s: &PortSpec) -> (u8, u32, u32) {
    match *s {
        PortSpec::Ports { proto, lo, hi } => (proto.number(), u32::from(lo), u32::from(hi)),
        PortSpec::Icmp { lo, hi } => (1, u32::from(lo), u32::from(hi)),
        PortSpec::Icmpv6 { lo, hi } => (58, u32::from(lo), u32::from(hi)),
    }
}

/// Is every port of `s` among `declared`?
pub fn covered(s: &PortSpec, declared: &[PortSpec]) -> bool {
    let (key, lo, hi) = span(s);
    let mut iv: Vec<(u32, u32)> = declared
        .iter()
        .map(span)
        .filter(|(k, _, _)| *k == key)
        .map(|(_, l, h)| (l, h))
        .collect();
    iv.sort();
    let mut need = lo;
    for (l, h) in iv {
        if l > need {
            break;
        }
        if h >= need {
            need = h + 1;
            if need > hi {
                return true;
            }
        }
    }
    need > hi
}

fn spec_list(specs: &[PortSpec]) -> Arg {
    if specs.is_empty() {
        return Arg::from(t!(PHRASE_NO_PORTS));
    }
    Arg::Plain(
        specs
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// `zone a` or `zones a, b`.
fn zones_text(zones: &[&str]) -> Text {
    if zones.len() == 1 {
        t!(PHRASE_ONE_ZONE, zones = zones.join(", "))
    } else {
        t!(PHRASE_ZONES, zones = zones.join(", "))
    }
}

/// `h1 declares tcp/25; h2 declares tcp/25`.
fn declared_ports(hosts: &[&Host]) -> Arg {
    Arg::Join(
        hosts
            .iter()
            .map(|h| {
                Arg::from(t!(
                    PHRASE_DECLARES,
                    host = &h.name,
                    ports = spec_list(&h.ports)
                ))
            })
            .collect(),
        "; ",
    )
}

fn join_names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

/// A node of the connectivity graph used by G002/G003.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    Host(String),
    /// The zone's addresses that no host names (a flow naming the zone covers them).
    Zone(String),
    Gateway(String),
    /// Hub: everything a flow end sends from.
    Out(Endpoint),
    /// Hub: everything a flow end receives on.
    In(Endpoint),
    /// Hub: intra-zone traffic among all members of a zone.
    Intra(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    Member,
    Flow(usize),
    Intra(usize),
}

#[derive(Default)]
struct Graph {
    ids: BTreeMap<Node, usize>,
    nodes: Vec<Node>,
    adj: Vec<Vec<(usize, Edge)>>,
    endpoints: BTreeSet<Endpoint>,
}

impl Graph {
    fn id(&mut self, n: Node) -> usize {
        if let Some(i) = self.ids.get(&n) {
            return *i;
        }
        let i = self.nodes.len();
        self.ids.insert(n.clone(), i);
        self.nodes.push(n);
        self.adj.push(Vec::new());
        i
    }
    fn edge(&mut self, a: usize, b: usize, e: Edge) {
        self.adj[a].push((b, e));
    }
}

/// Per node: the node it was reached from, and over which edge.
type Parents = Vec<Option<(usize, Edge)>>;

/// A path found by the chain search, for messages.
struct Chain {
    text: String,
    via: String,
}

struct Guard<'a> {
    p: &'a Policy,
    out: Vec<Diagnostic>,
    hosts_by_zone: BTreeMap<&'a str, Vec<&'a str>>,
}

impl<'a> Guard<'a> {
    fn emit(&mut self, code: &'static str, sev: Severity, at: Position, msg: Text, hint: Text) {
        self.out.push(Diagnostic {
            code,
            severity: sev,
            file: self.p.file.clone(),
            line: at.line,
            column: at.column,
            message: msg,
            hint: Some(hint),
        });
    }

    fn zone_class(&self, zone: Option<&str>) -> Option<Class> {
        zone.and_then(|z| self.p.zones.get(z)).map(class)
    }

    /// `My Number zone mynumber`, or `zone dispatch (isolation = "mynumber-like")`.
    fn mn_zone_text(&self, zone: &str) -> Text {
        match self.p.zones.get(zone) {
            Some(z) if z.role != Some(ZoneRole::Mynumber) => t!(PHRASE_MN_LIKE_ZONE, zone = zone),
            _ => t!(PHRASE_MN_ZONE, zone = zone),
        }
    }

    /// Hosts of a host or group end whose every host has a sanitising role.
    fn sanitiser_hosts(&self, e: &Endpoint) -> Option<Vec<&'a Host>> {
        if !matches!(e, Endpoint::Host(_) | Endpoint::Group(_)) {
            return None;
        }
        let hosts = self.p.endpoint_hosts(e);
        let all = !hosts.is_empty()
            && hosts
                .iter()
                .all(|h| h.role.is_some_and(|r| r.is_sanitiser()));
        all.then_some(hosts)
    }

    /// The specs of `f` that some host of `hosts` does not declare.
    fn undeclared(f: &Flow, hosts: &[&Host]) -> Vec<PortSpec> {
        f.specs
            .iter()
            .filter(|s| hosts.iter().any(|h| !covered(s, &h.ports)))
            .copied()
            .collect()
    }

    fn zones(&mut self) {
        let p = self.p;
        let present: BTreeSet<ZoneRole> = p.zones.values().filter_map(|z| z.role).collect();
        let missing: Vec<&str> = [
            (ZoneRole::Mynumber, "mynumber"),
            (ZoneRole::Lgwan, "lgwan"),
            (ZoneRole::Internet, "internet"),
            (ZoneRole::External, "external"),
        ]
        .iter()
        .filter(|(r, _)| !present.contains(r))
        .map(|(_, n)| *n)
        .collect();
        if !missing.is_empty() {
            let (msg, hint) = if present.is_empty() {
                (t!(G070_NO_ROLES, cite = CITE_MODEL), t!(G070_NO_ROLES_HINT))
            } else {
                (
                    t!(
                        G070_MISSING_ROLES,
                        roles = missing.join(", "),
                        cite = CITE_MODEL
                    ),
                    t!(G070_MISSING_ROLES_HINT),
                )
            };
            self.emit("G070", Severity::Warning, p.positions.policy, msg, hint);
        }
        for z in p.zones.values() {
            let inet = matches!(z.role, Some(ZoneRole::Internet | ZoneRole::External));
            if let Some(iso) = z.isolation.filter(|_| inet) {
                let iso = match iso {
                    crate::model::Isolation::MynumberLike => "mynumber-like",
                    crate::model::Isolation::Critical => "critical",
                };
                self.emit(
                    "G071",
                    Severity::Error,
                    z.at,
                    t!(
                        G071,
                        zone = &z.name,
                        role = if z.role == Some(ZoneRole::Internet) {
                            "internet"
                        } else {
                            "external"
                        },
                        isolation = iso,
                        cite = CITE_MODEL
                    ),
                    t!(G071_HINT),
                );
            }
        }
    }

    fn flow(&mut self, f: &'a Flow) {
        let p = self.p;
        let fz = f.from_zone.as_deref();
        let tz = f.to_zone.as_deref();
        if fz.is_some() && fz == tz {
            // Inside one zone: W001 already says it only matters with intra_zone = "drop".
            return;
        }
        let fc = self.zone_class(fz);
        let tc = self.zone_class(tz);
        let mn_from = fc == Some(Class::Mynumber);
        let mn_to = tc == Some(Class::Mynumber);
        let mut excused = false;

        // G020: every crossing is an exception to "no communication in principle".
        let mut missing = Vec::new();
        if f.purpose.as_deref().is_none_or(|s| s.trim().is_empty()) {
            missing.push("purpose");
        }
        if f.approved_by.as_deref().is_none_or(|s| s.trim().is_empty()) {
            missing.push("approved_by");
        }
        if !missing.is_empty() {
            let place = |z: Option<&str>| match z {
                Some(z) => t!(PHRASE_ZONE, zone = z),
                None => t!(PHRASE_THE_GATEWAY),
            };
            self.emit(
                "G020",
                Severity::Error,
                f.at.id,
                t!(
                    G020,
                    id = &f.id,
                    from = place(fz),
                    to = place(tz),
                    missing = and_list(&missing),
                    cite = CITE_NEED
                ),
                t!(G020_HINT),
            );
        }

        // G001: My Number never meets the internet side directly. Such a flow must go, so the
        // finer My Number rules (ports, ends, pinning, expiry) are not reported for it.
        let mut forbidden = false;
        for (mn, other, oc) in [(fz, tz, tc), (tz, fz, fc)] {
            if self.zone_class(mn) == Some(Class::Mynumber) {
                if let Some(oc) = oc.filter(|c| internet_side(*c)) {
                    self.emit(
                        "G001",
                        Severity::Error,
                        f.at.id,
                        t!(
                            G001,
                            id = &f.id,
                            mn = self.mn_zone_text(mn.unwrap_or_default()),
                            side = side_name(oc),
                            other = other.unwrap_or_default(),
                            cite = CITE_MN_CUT
                        ),
                        t!(G001_HINT),
                    );
                    forbidden = true;
                    break;
                }
            }
        }

        // G010-G012: path and port limitation on My Number flows.
        if (mn_from || mn_to) && !forbidden {
            let wide: Vec<String> = f
                .specs
                .iter()
                .filter(|s| match s {
                    PortSpec::Ports { .. } => s.width() > p.max_port_range,
                    PortSpec::Icmp { lo, hi } | PortSpec::Icmpv6 { lo, hi } => lo != hi,
                })
                .map(|s| s.to_string())
                .collect();
            if !wide.is_empty() {
                self.emit(
                    "G010",
                    Severity::Error,
                    f.at.ports,
                    t!(
                        G010,
                        id = &f.id,
                        ports = wide.join(", "),
                        max = p.max_port_range,
                        cite = CITE_PIN
                    ),
                    t!(G010_HINT),
                );
            }
            let screen = self.screen_transfer(f);
            for (end, at, is_mn) in [(&f.from, f.at.from, mn_from), (&f.to, f.at.to, mn_to)] {
                let Some(w) = width(p, end) else { continue };
                if is_mn {
                    self.emit(
                        "G011",
                        Severity::Error,
                        at,
                        t!(
                            G011,
                            id = &f.id,
                            width = w,
                            max = SMALL_GROUP,
                            cite = CITE_PIN
                        ),
                        t!(G011_HINT),
                    );
                } else if let Err(why) = &screen {
                    self.emit(
                        "G012",
                        Severity::Error,
                        at,
                        t!(
                            G012,
                            id = &f.id,
                            width = w,
                            max = SMALL_GROUP,
                            cite = CITE_PIN
                        ),
                        t!(G012_HINT, cite = CITE_SCREEN, why = why),
                    );
                }
            }
        }

        // G013 and G021: sensitive zones (My Number, mynumber-like, critical).
        let sens_from = matches!(fc, Some(Class::Mynumber | Class::Critical));
        let sens_to = matches!(tc, Some(Class::Mynumber | Class::Critical));
        if (sens_from || sens_to) && !forbidden {
            let kind = if mn_from || mn_to {
                t!(SIDE_MYNUMBER)
            } else {
                t!(SIDE_CRITICAL)
            };
            if f.l2_control.as_deref().is_none_or(|s| s.trim().is_empty()) {
                for (end, at, sens) in [(&f.from, f.at.from, sens_from), (&f.to, f.at.to, sens_to)]
                {
                    if !sens {
                        continue;
                    }
                    let unpinned = match end {
                        Endpoint::Zone(z) => Some(t!(PHRASE_ZONE_UNPINNED, zone = z)),
                        _ => {
                            let hosts: Vec<&str> = p
                                .endpoint_hosts(end)
                                .iter()
                                .filter(|h| h.mac.is_none())
                                .map(|h| h.name.as_str())
                                .collect();
                            (!hosts.is_empty()).then(|| {
                                let names = join_names(hosts.iter().copied());
                                if hosts.len() == 1 {
                                    t!(PHRASE_HOST_UNPINNED, hosts = names)
                                } else {
                                    t!(PHRASE_HOSTS_UNPINNED, hosts = names)
                                }
                            })
                        }
                    };
                    if let Some(what) = unpinned {
                        let (sev, strict) = if p.strict_mac {
                            (Severity::Error, Arg::from(t!(PHRASE_STRICT_MAC)))
                        } else {
                            (Severity::Warning, Arg::Plain(String::new()))
                        };
                        self.emit(
                            "G013",
                            sev,
                            at,
                            t!(
                                G013,
                                id = &f.id,
                                kind = kind.clone(),
                                what = what,
                                strict = strict,
                                cite = CITE_L2
                            ),
                            t!(G013_HINT),
                        );
                    }
                }
            }
            if f.expires.is_none() {
                let z = if sens_from { fz } else { tz };
                self.emit(
                    "G021",
                    Severity::Error,
                    f.at.id,
                    t!(
                        G021,
                        id = &f.id,
                        kind = kind,
                        zone = z.unwrap_or_default(),
                        cite = CITE_NEED
                    ),
                    t!(G021_HINT),
                );
            }
        }

        // G030-G032: LGWAN <-> internet-connected only through sanitisers.
        let pair = |a: Class, b: Class| {
            (fc == Some(a) && tc == Some(b)) || (fc == Some(b) && tc == Some(a))
        };
        if pair(Class::Lgwan, Class::Internet) {
            let mut whole = false;
            for (end, at) in [(&f.from, f.at.from), (&f.to, f.at.to)] {
                if let Endpoint::Zone(z) = end {
                    whole = true;
                    self.emit(
                        "G030",
                        Severity::Error,
                        at,
                        t!(G030, id = &f.id, zone = z, cite = CITE_SANITISE),
                        t!(G030_HINT),
                    );
                }
            }
            let sanitisers: Vec<Vec<&Host>> = [&f.from, &f.to]
                .into_iter()
                .filter_map(|e| self.sanitiser_hosts(e))
                .collect();
            if sanitisers.is_empty() {
                if !whole {
                    self.emit(
                        "G031",
                        Severity::Error,
                        f.at.id,
                        t!(
                            G031,
                            id = &f.id,
                            from = f.from.name(),
                            to = f.to.name(),
                            cite = CITE_SANITISE
                        ),
                        t!(G031_HINT),
                    );
                }
            } else if sanitisers
                .iter()
                .all(|hosts| !Self::undeclared(f, hosts).is_empty())
            {
                let hosts = &sanitisers[0];
                let missing = Self::undeclared(f, hosts);
                let serves = declared_ports(hosts);
                self.emit(
                    "G032",
                    Severity::Error,
                    f.at.ports,
                    t!(
                        G032,
                        id = &f.id,
                        ports = spec_list(&missing),
                        serves = serves,
                        cite = CITE_SANITISE
                    ),
                    t!(G032_HINT),
                );
            }
        }

        // G040/G041: LGWAN <-> the Internet itself only as alpha-prime local breakout.
        if pair(Class::Lgwan, Class::External) {
            if p.network_model != NetworkModel::AlphaPrime {
                let model = match p.network_model {
                    NetworkModel::Alpha => "alpha",
                    NetworkModel::AlphaPrime => "alpha-prime",
                    NetworkModel::Beta => "beta",
                    NetworkModel::BetaPrime => "beta-prime",
                };
                self.emit(
                    "G040",
                    Severity::Error,
                    f.at.id,
                    t!(
                        G040,
                        id = &f.id,
                        lgwan = if fc == Some(Class::Lgwan) { fz } else { tz }.unwrap_or_default(),
                        internet =
                            if fc == Some(Class::Lgwan) { tz } else { fz }.unwrap_or_default(),
                        model = model,
                        cite = CITE_ALPHA_PRIME
                    ),
                    t!(G040_HINT),
                );
            } else {
                let why = if fc != Some(Class::Lgwan) {
                    Some(t!(WHY_FROM_INTERNET_SIDE))
                } else if let Endpoint::Zone(z) = &f.to {
                    Some(t!(WHY_WHOLE_ZONE_DESTINATION, zone = z))
                } else {
                    let plain: Vec<&str> = p
                        .endpoint_hosts(&f.to)
                        .iter()
                        .filter(|h| h.role != Some(crate::model::HostRole::CloudService))
                        .map(|h| h.name.as_str())
                        .collect();
                    (!plain.is_empty())
                        .then(|| t!(WHY_NOT_CLOUD_SERVICE, hosts = join_names(plain)))
                };
                if let Some(why) = why {
                    self.emit(
                        "G041",
                        Severity::Error,
                        f.at.to,
                        t!(G041, id = &f.id, why = why, cite = CITE_ALPHA_PRIME),
                        t!(G041_HINT),
                    );
                }
            }
        }

        // G060: critical zones take internet feeds only through declared relays.
        let crit_inet = (fc == Some(Class::Critical) && tc.is_some_and(internet_side))
            || (tc == Some(Class::Critical) && fc.is_some_and(internet_side));
        if crit_inet {
            let (c, o, oc) = if fc == Some(Class::Critical) {
                (fz, tz, tc)
            } else {
                (tz, fz, fc)
            };
            let relays: Vec<Vec<&Host>> = [&f.from, &f.to]
                .into_iter()
                .filter_map(|e| self.sanitiser_hosts(e))
                .collect();
            let why = if relays.is_empty() {
                Some(t!(WHY_NO_RELAY))
            } else if relays
                .iter()
                .all(|hosts| !Self::undeclared(f, hosts).is_empty())
            {
                let missing = Self::undeclared(f, &relays[0]);
                Some(t!(
                    WHY_RELAY_PORTS,
                    ports = spec_list(&missing),
                    serves = declared_ports(&relays[0])
                ))
            } else {
                None
            };
            if let Some(why) = why {
                self.emit(
                    "G060",
                    Severity::Error,
                    f.at.id,
                    t!(
                        G060,
                        id = &f.id,
                        zone = c.unwrap_or_default(),
                        side = oc
                            .map(side_name)
                            .map(Arg::from)
                            .unwrap_or(Arg::Plain(String::new())),
                        other = o.unwrap_or_default(),
                        why = why,
                        cite = CITE_PIN
                    ),
                    t!(G060_HINT),
                );
            }
        }

        // G050/G052: the gateway itself.
        if f.to == Endpoint::Gateway {
            if let Some(c) = fc.filter(|c| internet_side(*c)) {
                self.emit(
                    "G050",
                    Severity::Error,
                    f.at.from,
                    t!(
                        G050,
                        id = &f.id,
                        side = side_name(c),
                        zone = fz.unwrap_or_default(),
                        cite = CITE_SPLIT
                    ),
                    t!(G050_HINT),
                );
            }
        }
        if f.from == Endpoint::Gateway {
            if let Some(c) = tc.filter(|c| internet_side(*c)) {
                let gws: Vec<&str> = p
                    .gateways
                    .values()
                    .filter(|g| {
                        let zs = g.zones();
                        tz.is_some_and(|t| zs.contains(t))
                            && zs
                                .iter()
                                .any(|z| self.zone_class(Some(z)) == Some(Class::Mynumber))
                    })
                    .map(|g| g.name.as_str())
                    .collect();
                if !gws.is_empty() {
                    let complete =
                        f.exception.is_some() && f.approved_by.is_some() && f.expires.is_some();
                    if complete {
                        excused = true;
                        self.emit(
                            "G090",
                            Severity::Warning,
                            f.at.id,
                            t!(
                                G090,
                                id = &f.id,
                                gateways = join_names(gws.iter().copied()),
                                side = side_name(c),
                                zone = tz.unwrap_or_default(),
                                reason = f.exception.as_deref().unwrap_or_default(),
                                approver = f.approved_by.as_deref().unwrap_or_default(),
                                until = f.expires.map(|d| d.to_string()).unwrap_or_default(),
                                cite = CITE_NEED
                            ),
                            t!(G090_HINT),
                        );
                    } else {
                        self.emit(
                            "G052",
                            Severity::Error,
                            f.at.to,
                            t!(
                                G052,
                                id = &f.id,
                                gateways = join_names(gws.iter().copied()),
                                side = side_name(c),
                                zone = tz.unwrap_or_default(),
                                cite = CITE_MN_CHAIN
                            ),
                            t!(G052_HINT),
                        );
                    }
                }
            }
        }

        // G091/G092: exceptions are time-boxed and only where a guardrail accepts them.
        if let Some(reason) = &f.exception {
            let mut lacks = Vec::new();
            if f.approved_by.as_deref().is_none_or(|s| s.trim().is_empty()) {
                lacks.push("approved_by");
            }
            if f.expires.is_none() {
                lacks.push("expires");
            }
            if !lacks.is_empty() {
                self.emit(
                    "G091",
                    Severity::Error,
                    f.at.id,
                    t!(
                        G091,
                        id = &f.id,
                        reason = format!("{reason:?}"),
                        missing = and_list(&lacks),
                        cite = CITE_NEED
                    ),
                    t!(G091_HINT),
                );
            } else if !excused {
                self.emit(
                    "G092",
                    Severity::Warning,
                    f.at.id,
                    t!(
                        G092,
                        id = &f.id,
                        reason = format!("{reason:?}"),
                        cite = CITE_NEED
                    ),
                    t!(G092_HINT),
                );
            }
        }
    }

    /// The R7.3 screen-transfer case: LGWAN terminals to a declared screen-transfer host in the
    /// My Number zone, on that host's declared ports, opened from the LGWAN side. Err says why
    /// a flow is not that case.
    fn screen_transfer(&self, f: &Flow) -> Result<(), Text> {
        let p = self.p;
        let Endpoint::Host(h) = &f.to else {
            return Err(t!(WHY_ST_NOT_HOST_DEST, to = f.to.name()));
        };
        let Some(host) = p.hosts.get(h) else {
            return Err(t!(WHY_ST_NOT_A_HOST, host = h));
        };
        if host.role != Some(crate::model::HostRole::ScreenTransfer) {
            return Err(t!(WHY_ST_NO_ROLE, host = h));
        }
        if self.zone_class(Some(&host.zone)) != Some(Class::Mynumber) {
            return Err(t!(WHY_ST_NOT_MN, host = h));
        }
        if self.zone_class(f.from_zone.as_deref()) != Some(Class::Lgwan) {
            return Err(t!(WHY_ST_NOT_FROM_LGWAN));
        }
        if host.ports.is_empty() {
            return Err(t!(WHY_ST_NO_PORTS, host = h));
        }
        let missing: Vec<PortSpec> = f
            .specs
            .iter()
            .filter(|s| !covered(s, &host.ports))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(t!(
                WHY_ST_PORTS,
                host = h,
                declared = spec_list(&host.ports),
                used = spec_list(&missing)
            ));
        }
        Ok(())
    }

    /// G051: a gateway on both sides of the My Number boundary says how it is managed.
    fn gateways(&mut self) {
        let p = self.p;
        for g in p.gateways.values() {
            let zones = g.zones();
            let mn: Vec<&str> = zones
                .iter()
                .copied()
                .filter(|z| self.zone_class(Some(z)) == Some(Class::Mynumber))
                .collect();
            let inet: Vec<&str> = zones
                .iter()
                .copied()
                .filter(|z| self.zone_class(Some(z)).is_some_and(internet_side))
                .collect();
            if mn.is_empty() || inet.is_empty() {
                continue;
            }
            let managed = p.active_flows().any(|f| {
                f.to == Endpoint::Gateway
                    && f.from_zone.as_deref().is_some_and(|z| zones.contains(&z))
            });
            if !managed {
                self.emit(
                    "G051",
                    Severity::Error,
                    g.at,
                    t!(
                        G051,
                        gateway = &g.name,
                        mn = zones_text(&mn),
                        inet = zones_text(&inet),
                        cite = CITE_PIN
                    ),
                    t!(G051_HINT),
                );
            }
        }
    }

    /// The real nodes a flow end stands for.
    fn members(&self, e: &Endpoint) -> Vec<Node> {
        match e {
            Endpoint::Zone(z) => {
                let mut v = vec![Node::Zone(z.clone())];
                v.extend(
                    self.hosts_by_zone
                        .get(z.as_str())
                        .into_iter()
                        .flatten()
                        .map(|h| Node::Host(h.to_string())),
                );
                v
            }
            Endpoint::Host(h) => vec![Node::Host(h.clone())],
            Endpoint::Group(g) => self
                .p
                .groups
                .get(g)
                .map(|g| g.hosts.iter().map(|h| Node::Host(h.clone())).collect())
                .unwrap_or_default(),
            Endpoint::Gateway => Vec::new(),
        }
    }

    /// Gateways a flow with a `gateway` end is compiled on: those with an interface in the
    /// other end's zone.
    fn gateways_for(&self, other: &Endpoint) -> Vec<Node> {
        let zone = self.p.endpoint_zone(other);
        self.p
            .gateways
            .values()
            .filter(|g| zone.is_some_and(|z| g.zones().contains(z)))
            .map(|g| Node::Gateway(g.name.clone()))
            .collect()
    }

    fn node_class(&self, n: &Node) -> Option<Class> {
        match n {
            Node::Host(h) => self
                .p
                .hosts
                .get(h)
                .and_then(|h| self.zone_class(Some(&h.zone))),
            Node::Zone(z) => self.zone_class(Some(z)),
            _ => None,
        }
    }

    /// Flows that do not count as a path: screen transfer into the My Number zone carries only
    /// pixels out of it.
    fn exempt(&self, f: &Flow) -> bool {
        self.zone_class(f.to_zone.as_deref()) == Some(Class::Mynumber)
            && self.zone_class(f.from_zone.as_deref()) != Some(Class::Mynumber)
            && !self
                .zone_class(f.from_zone.as_deref())
                .is_some_and(internet_side)
            && matches!(&f.to, Endpoint::Host(h) if self.p.hosts.get(h).is_some_and(|h| {
                h.role == Some(crate::model::HostRole::ScreenTransfer)
                    && !h.ports.is_empty()
                    && f.specs.iter().all(|s| covered(s, &h.ports))
            }))
    }

    fn build_graph(&self, flows: &[&Flow], intra: &[&str]) -> Graph {
        let mut g = Graph::default();
        for (i, f) in flows.iter().enumerate() {
            for (a, b) in [(&f.from, &f.to), (&f.to, &f.from)] {
                let srcs: Vec<usize> = if *a == Endpoint::Gateway {
                    self.gateways_for(b).into_iter().map(|n| g.id(n)).collect()
                } else {
                    self.add_endpoint(&mut g, a);
                    vec![g.id(Node::Out(a.clone()))]
                };
                let dsts: Vec<usize> = if *b == Endpoint::Gateway {
                    self.gateways_for(a).into_iter().map(|n| g.id(n)).collect()
                } else {
                    self.add_endpoint(&mut g, b);
                    vec![g.id(Node::In(b.clone()))]
                };
                for &s in &srcs {
                    for &d in &dsts {
                        g.edge(s, d, Edge::Flow(i));
                    }
                }
            }
        }
        for (i, z) in intra.iter().enumerate() {
            let hub = g.id(Node::Intra(z.to_string()));
            for m in self.members(&Endpoint::Zone(z.to_string())) {
                let m = g.id(m);
                g.edge(m, hub, Edge::Intra(i));
                g.edge(hub, m, Edge::Intra(i));
            }
        }
        g
    }

    fn add_endpoint(&self, g: &mut Graph, e: &Endpoint) {
        if !g.endpoints.insert(e.clone()) {
            return;
        }
        let out = g.id(Node::Out(e.clone()));
        let inn = g.id(Node::In(e.clone()));
        for m in self.members(e) {
            let m = g.id(m);
            g.edge(m, out, Edge::Member);
            g.edge(inn, m, Edge::Member);
        }
    }

    /// Breadth-first search from every My Number node; internet-side nodes are not expanded
    /// (reaching one is the finding). Returns (distance, parent) per node.
    fn reach(&self, g: &Graph) -> (Vec<Option<usize>>, Parents) {
        let n = g.nodes.len();
        let mut dist = vec![None; n];
        let mut parent = vec![None; n];
        let mut queue = VecDeque::new();
        for (i, node) in g.nodes.iter().enumerate() {
            if self.node_class(node) == Some(Class::Mynumber) {
                dist[i] = Some(0);
                queue.push_back(i);
            }
        }
        while let Some(u) = queue.pop_front() {
            if self.node_class(&g.nodes[u]).is_some_and(internet_side) {
                continue;
            }
            let du = dist[u].unwrap_or(0);
            for &(v, e) in &g.adj[u] {
                if dist[v].is_none() {
                    dist[v] = Some(du + 1);
                    parent[v] = Some((u, e));
                    queue.push_back(v);
                }
            }
        }
        (dist, parent)
    }

    fn node_text(n: &Node) -> String {
        match n {
            Node::Host(h) => h.clone(),
            Node::Zone(z) => format!("zone {z}"),
            Node::Gateway(g) => format!("gateway {g}"),
            Node::Out(e) | Node::In(e) => e.name().to_string(),
            Node::Intra(z) => format!("intra-zone {z}"),
        }
    }

    /// The path from a My Number node to `t`, as `mn-a -[F-1]- relay`.
    fn path_text(
        &self,
        g: &Graph,
        parent: &[Option<(usize, Edge)>],
        flows: &[&Flow],
        intra: &[&str],
        t: usize,
    ) -> String {
        // Walk back, keeping real nodes and the first non-member edge between two of them.
        let mut steps: Vec<(usize, Option<Edge>)> = vec![(t, None)];
        let mut cur = t;
        let mut label: Option<Edge> = None;
        let mut guard = 0;
        while let Some((prev, e)) = parent[cur] {
            if e != Edge::Member {
                label = Some(e);
            }
            let real = matches!(
                g.nodes[prev],
                Node::Host(_) | Node::Zone(_) | Node::Gateway(_)
            );
            if real {
                steps.push((prev, label.take()));
            }
            cur = prev;
            guard += 1;
            if guard > g.nodes.len() {
                break;
            }
        }
        steps.reverse();
        let mut text = String::new();
        for (i, (node, _)) in steps.iter().enumerate() {
            if i > 0 {
                // The label sits on the step that starts the hop.
                let lab = match steps[i - 1].1 {
                    Some(Edge::Flow(k)) => flows.get(k).map(|f| f.id.clone()).unwrap_or_default(),
                    Some(Edge::Intra(k)) => {
                        format!("intra-zone {}", intra.get(k).copied().unwrap_or_default())
                    }
                    _ => String::new(),
                };
                text.push_str(&format!(" -[{lab}]- "));
            }
            text.push_str(&Self::node_text(&g.nodes[*node]));
        }
        text
    }

    /// G002/G003: undirected per-host connectivity between the My Number domain and the
    /// internet side. Each chain is reported once, at the flow that completes it on the
    /// internet side.
    fn chains(&mut self) {
        let p = self.p;
        let flows: Vec<&Flow> = p.active_flows().filter(|f| !self.exempt(f)).collect();
        if !p.zones.values().any(|z| class(z) == Class::Mynumber) {
            return;
        }
        // Zones whose intra-zone traffic crosses a gateway that accepts it.
        let intra: Vec<&str> = if p.intra_zone == IntraZone::Accept {
            p.zones
                .values()
                .filter(|z| {
                    !matches!(
                        class(z),
                        Class::Mynumber | Class::Internet | Class::External
                    )
                })
                .filter(|z| {
                    p.gateways
                        .values()
                        .any(|g| g.interfaces_of(&z.name).len() > 1)
                })
                .map(|z| z.name.as_str())
                .collect()
        } else {
            Vec::new()
        };
        let g1 = self.build_graph(&flows, &[]);
        let (d1, p1) = self.reach(&g1);
        let pass2 = if intra.is_empty() {
            None
        } else {
            let g2 = self.build_graph(&flows, &intra);
            let (d2, p2) = self.reach(&g2);
            Some((g2, d2, p2))
        };
        for f in &flows {
            let fc = self.zone_class(f.from_zone.as_deref());
            let tc = self.zone_class(f.to_zone.as_deref());
            let (x, i, ic) = match (fc.is_some_and(internet_side), tc.is_some_and(internet_side)) {
                (false, true) => (&f.from, &f.to, tc),
                (true, false) => (&f.to, &f.from, fc),
                _ => continue,
            };
            let xc = if *x == Endpoint::Gateway {
                None
            } else {
                self.zone_class(p.endpoint_zone(x))
            };
            if xc == Some(Class::Mynumber) {
                continue; // G001
            }
            let candidates = if *x == Endpoint::Gateway {
                self.gateways_for(i)
            } else {
                self.members(x)
            };
            let find = |g: &Graph, d: &[Option<usize>]| -> Option<usize> {
                candidates
                    .iter()
                    .filter_map(|n| g.ids.get(n).copied())
                    .filter_map(|id| d[id].map(|dist| (dist, id)))
                    .min()
                    .map(|(_, id)| id)
            };
            let end = match i {
                Endpoint::Zone(z) => format!("zone {z}"),
                other => other.name().to_string(),
            };
            let side = ic
                .map(side_name)
                .map(Arg::from)
                .unwrap_or(Arg::Plain(String::new()));
            if let Some(t) = find(&g1, &d1) {
                let chain = Chain {
                    text: format!(
                        "{} -[{}]- {end}",
                        self.path_text(&g1, &p1, &flows, &[], t),
                        f.id
                    ),
                    via: Self::node_text(&g1.nodes[t]),
                };
                self.emit(
                    "G002",
                    Severity::Error,
                    f.at.id,
                    t!(
                        G002,
                        side = side.clone(),
                        via = chain.via,
                        path = chain.text,
                        cite = CITE_MN_CHAIN
                    ),
                    t!(G002_HINT),
                );
            } else if let Some((g2, d2, p2)) = &pass2 {
                if let Some(t) = find(g2, d2) {
                    let path = format!(
                        "{} -[{}]- {end}",
                        self.path_text(g2, p2, &flows, &intra, t),
                        f.id
                    );
                    let zone = match &g2.nodes[t] {
                        Node::Host(h) => p.hosts.get(h).map(|h| h.zone.clone()).unwrap_or_default(),
                        Node::Zone(z) => z.clone(),
                        other => Self::node_text(other),
                    };
                    let gws: Vec<&str> = p
                        .gateways
                        .values()
                        .filter(|g| g.interfaces_of(&zone).len() > 1)
                        .map(|g| g.name.as_str())
                        .collect();
                    self.emit(
                        "G003",
                        Severity::Warning,
                        f.at.id,
                        t!(
                            G003,
                            zone = &zone,
                            side = side.clone(),
                            gateways = join_names(gws),
                            path = path,
                            cite = CITE_MN_CHAIN
                        ),
                        t!(G003_HINT),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::parse_port_spec;

    fn specs(s: &[&str]) -> Vec<PortSpec> {
        s.iter()
            .map(|p| parse_port_spec(p).expect("spec"))
            .collect()
    }

    #[test]
    fn coverage_joins_adjacent_ranges() {
        let d = specs(&["tcp/443", "tcp/3389-3390", "tcp/3391"]);
        assert!(covered(&specs(&["tcp/443"])[0], &d));
        assert!(covered(&specs(&["tcp/3389-3391"])[0], &d));
        assert!(!covered(&specs(&["tcp/3388-3389"])[0], &d));
        assert!(!covered(&specs(&["udp/443"])[0], &d));
        assert!(!covered(&specs(&["tcp/445"])[0], &d));
        assert!(covered(
            &specs(&["icmp/echo-request"])[0],
            &specs(&["icmp"])
        ));
        assert!(!covered(
            &specs(&["icmp"])[0],
            &specs(&["icmp/echo-request"])
        ));
    }

    #[test]
    fn rules_are_sorted_and_unique() {
        let codes: Vec<&str> = RULES.iter().map(|r| r.code).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(codes, sorted);
    }
}
