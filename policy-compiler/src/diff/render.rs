//! Renderings of a [`Diff`]: terminal text, Markdown and self-contained HTML (for a change
//! request, in Japanese or English), and JSON. All three documents come from one outline
//! (title, summary, sections of tables and lines), so they always say the same thing. Every
//! text from a policy is escaped for its format (matrix.rs's `h` and `md`).

use super::space::INTRA;
use super::{
    AddrItem, AddrKind, Diff, FieldChange, FindingInfo, FlowInfo, PairChange, StructChange,
    StructKind,
};
use crate::matrix::{h, md, Lang, CSS};
use crate::messages;
use crate::model::GATEWAY;
use crate::t;
use std::fmt::Write as _;

struct Labels {
    title: &'static str,
    item: &'static str,
    value: &'static str,
    old: &'static str,
    new: &'static str,
    sha: &'static str,
    evaluated: &'static str,
    gateways: &'static str,
    verdict: &'static str,
    note: &'static str,
    no_change: &'static str,
    changed: &'static str,
    blocked: &'static str,
    added: &'static str,
    removed: &'static str,
    flow_changed: &'static str,
    reachable: &'static str,
    unreachable: &'static str,
    appeared: &'static str,
    disappeared: &'static str,
    structure: &'static str,
    none: &'static str,
    id: &'static str,
    from: &'static str,
    to: &'static str,
    ports: &'static str,
    purpose: &'static str,
    approver: &'static str,
    expires: &'static str,
    defined: &'static str,
    field: &'static str,
    before: &'static str,
    after: &'static str,
    src: &'static str,
    dst: &'static str,
    flows: &'static str,
    code: &'static str,
    rule: &'static str,
    severity: &'static str,
    finding: &'static str,
    at: &'static str,
    gw_self: &'static str,
    any: &'static str,
    zone: &'static str,
    all: &'static str,
    v4_only: &'static str,
    v6_only: &'static str,
    intra: &'static str,
    reach_note: &'static str,
}

/// The labels in `lang`, from the message catalogue (crate::messages).
fn labels(lang: Lang) -> Labels {
    Labels {
        title: messages::DIFF_TITLE.template(lang),
        item: messages::DIFF_ITEM.template(lang),
        value: messages::DIFF_VALUE.template(lang),
        old: messages::DIFF_OLD.template(lang),
        new: messages::DIFF_NEW.template(lang),
        sha: messages::DIFF_SHA.template(lang),
        evaluated: messages::DIFF_EVALUATED.template(lang),
        gateways: messages::DIFF_GATEWAYS.template(lang),
        verdict: messages::DIFF_VERDICT.template(lang),
        note: messages::DIFF_NOTE.template(lang),
        no_change: messages::DIFF_NO_CHANGE.template(lang),
        changed: messages::DIFF_CHANGED.template(lang),
        blocked: messages::DIFF_BLOCKED.template(lang),
        added: messages::DIFF_ADDED.template(lang),
        removed: messages::DIFF_REMOVED.template(lang),
        flow_changed: messages::DIFF_FLOW_CHANGED.template(lang),
        reachable: messages::DIFF_REACHABLE.template(lang),
        unreachable: messages::DIFF_UNREACHABLE.template(lang),
        appeared: messages::DIFF_APPEARED.template(lang),
        disappeared: messages::DIFF_DISAPPEARED.template(lang),
        structure: messages::DIFF_STRUCTURE.template(lang),
        none: messages::DIFF_NONE.template(lang),
        id: messages::DIFF_ID.template(lang),
        from: messages::DIFF_FROM.template(lang),
        to: messages::DIFF_TO.template(lang),
        ports: messages::DIFF_PORTS.template(lang),
        purpose: messages::DIFF_PURPOSE.template(lang),
        approver: messages::DIFF_APPROVER.template(lang),
        expires: messages::DIFF_EXPIRES.template(lang),
        defined: messages::DIFF_DEFINED.template(lang),
        field: messages::DIFF_FIELD.template(lang),
        before: messages::DIFF_BEFORE.template(lang),
        after: messages::DIFF_AFTER.template(lang),
        src: messages::DIFF_SRC.template(lang),
        dst: messages::DIFF_DST.template(lang),
        flows: messages::DIFF_FLOWS.template(lang),
        code: messages::DIFF_CODE.template(lang),
        rule: messages::DIFF_RULE.template(lang),
        severity: messages::DIFF_SEVERITY.template(lang),
        finding: messages::DIFF_FINDING.template(lang),
        at: messages::DIFF_AT.template(lang),
        gw_self: messages::DIFF_GW_SELF.template(lang),
        any: messages::DIFF_ANY.template(lang),
        zone: messages::DIFF_ZONE.template(lang),
        all: messages::DIFF_ALL.template(lang),
        v4_only: messages::DIFF_V4_ONLY.template(lang),
        v6_only: messages::DIFF_V6_ONLY.template(lang),
        intra: messages::DIFF_INTRA.template(lang),
        reach_note: messages::DIFF_REACH_NOTE.template(lang),
    }
}

/// The outline every document is written from.
struct Outline {
    title: String,
    /// Header of the summary table (item, value).
    head: (&'static str, &'static str),
    summary: Vec<(&'static str, String)>,
    sections: Vec<Section>,
}

struct Section {
    title: String,
    /// Shown when there are no blocks.
    empty: &'static str,
    blocks: Vec<Block>,
}

enum Block {
    Para(String),
    /// A sub-heading (zone pair).
    Sub(String),
    /// Rows under a header; `mark` starts each row in the text rendering.
    Table {
        head: Vec<&'static str>,
        rows: Vec<Vec<String>>,
        mark: &'static str,
    },
}

impl Diff {
    /// Terminal text.
    pub fn render_text(&self, lang: Lang) -> String {
        text(&self.outline(lang))
    }

    /// Markdown for a change request.
    pub fn render_md(&self, lang: Lang) -> String {
        markdown(&self.outline(lang))
    }

    /// One self-contained HTML file (inline CSS, no scripts), printable on A4.
    pub fn render_html(&self, lang: Lang) -> String {
        html(&self.outline(lang), lang)
    }

    pub fn render_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    fn outline(&self, lang: Lang) -> Outline {
        let l = &labels(lang);
        Outline {
            title: format!(
                "{}: {} {} → {}",
                l.title, self.new.name, self.old.revision, self.new.revision
            ),
            head: (l.item, l.value),
            summary: self.summary(l),
            sections: vec![
                self.flows_section(l.added, &self.flows.added, "+", l),
                self.flows_section(l.removed, &self.flows.removed, "-", l),
                self.changed_section(l),
                self.reach_section(l.reachable, &self.newly_reachable, "+", lang),
                self.reach_section(l.unreachable, &self.newly_unreachable, "-", lang),
                self.findings_section(l.appeared, &self.guardrails.appeared, "+", lang),
                self.findings_section(l.disappeared, &self.guardrails.disappeared, "-", lang),
                self.structure_section(lang),
            ],
        }
    }

    fn summary(&self, l: &Labels) -> Vec<(&'static str, String)> {
        let side = |s: &super::Side| format!("{} {} ({})", s.name, s.revision, s.file);
        let mut rows = vec![
            (l.old, side(&self.old)),
            (l.sha, self.old.sha256.clone()),
            (l.new, side(&self.new)),
            (l.sha, self.new.sha256.clone()),
            (
                l.evaluated,
                match &self.evaluated_for {
                    Some(d) => format!("{d} ({})", self.timezone),
                    None => "-".into(),
                },
            ),
            (l.gateways, self.gateways.join(", ")),
            (l.verdict, self.verdict(l)),
        ];
        if self.new.errors > 0 {
            rows.push((l.note, l.blocked.to_string()));
        }
        rows
    }

    fn verdict(&self, l: &Labels) -> String {
        if !self.changed {
            return l.no_change.to_string();
        }
        let counts = [
            (l.added, self.flows.added.len()),
            (l.removed, self.flows.removed.len()),
            (l.flow_changed, self.flows.changed.len()),
            (l.reachable, lines(&self.newly_reachable)),
            (l.unreachable, lines(&self.newly_unreachable)),
            (l.appeared, self.guardrails.appeared.len()),
            (l.disappeared, self.guardrails.disappeared.len()),
            (l.structure, self.structure.len()),
        ];
        let parts: Vec<String> = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        format!("{}: {}", l.changed, parts.join(", "))
    }

    fn flows_section(
        &self,
        title: &str,
        flows: &[FlowInfo],
        mark: &'static str,
        l: &Labels,
    ) -> Section {
        let rows: Vec<Vec<String>> = flows
            .iter()
            .map(|f| {
                vec![
                    f.id.clone(),
                    f.from.clone(),
                    f.to.clone(),
                    f.ports.join(", "),
                    opt(&f.purpose),
                    opt(&f.approved_by),
                    opt(&f.expires),
                    f.defined_at.clone(),
                ]
            })
            .collect();
        let head = vec![
            l.id, l.from, l.to, l.ports, l.purpose, l.approver, l.expires, l.defined,
        ];
        section(title, l.none, table(head, rows, mark))
    }

    fn changed_section(&self, l: &Labels) -> Section {
        let rows: Vec<Vec<String>> = self
            .flows
            .changed
            .iter()
            .flat_map(|c| c.fields.iter().map(move |f| field_row(&c.id, f)))
            .collect();
        section(
            l.flow_changed,
            l.none,
            table(vec![l.id, l.field, l.before, l.after], rows, "~"),
        )
    }

    fn reach_section(
        &self,
        title: &str,
        pairs: &[PairChange],
        mark: &'static str,
        lang: Lang,
    ) -> Section {
        let l = &labels(lang);
        let mut blocks = Vec::new();
        for p in pairs {
            blocks.push(Block::Sub(format!(
                "{}: {} → {}",
                p.gateway,
                self.zone_label(&p.from, lang),
                self.zone_label(&p.to, lang)
            )));
            let rows = p.lines.iter().map(|r| reach_row(r, lang)).collect();
            blocks.extend(table(vec![l.src, l.dst, l.ports, l.flows], rows, mark));
        }
        if !blocks.is_empty() {
            blocks.insert(0, Block::Para(l.reach_note.to_string()));
        }
        Section {
            title: title.to_string(),
            empty: l.none,
            blocks,
        }
    }

    fn findings_section(
        &self,
        title: &str,
        fs: &[FindingInfo],
        mark: &'static str,
        lang: Lang,
    ) -> Section {
        let l = &labels(lang);
        let rows = fs
            .iter()
            .map(|f| {
                let t = if lang == Lang::Ja {
                    &f.title_ja
                } else {
                    &f.title_en
                };
                vec![
                    f.code.clone(),
                    t.clone(),
                    severity(&f.severity, lang),
                    f.message.clone(),
                    f.at.clone(),
                ]
            })
            .collect();
        section(
            title,
            l.none,
            table(
                vec![l.code, l.rule, l.severity, l.finding, l.at],
                rows,
                mark,
            ),
        )
    }

    fn structure_section(&self, lang: Lang) -> Section {
        let l = &labels(lang);
        let blocks = self
            .structure
            .iter()
            .map(|s| Block::Para(format!("- {}", self.struct_text(s, lang))))
            .collect();
        Section {
            title: l.structure.to_string(),
            empty: l.none,
            blocks,
        }
    }

    /// The display name with the id, or the gateway itself.
    fn zone_label(&self, zone: &str, lang: Lang) -> String {
        if zone == GATEWAY {
            return labels(lang).gw_self.to_string();
        }
        match (self.zone_names.get(zone), lang) {
            (Some(d), Lang::Ja) => format!("{d} ({zone})"),
            (Some(d), Lang::En) => format!("{zone} ({d})"),
            (None, _) => zone.to_string(),
        }
    }

    fn struct_text(&self, s: &StructChange, lang: Lang) -> String {
        let gw = s.gateway.as_deref().unwrap_or("");
        let (o, n) = (opt(&s.old), opt(&s.new));
        let z = |v: &str| self.zone_label(v, lang);
        let subj = &s.subject;
        let text = match s.kind {
            StructKind::GatewayAdded => t!(DIFF_GATEWAY_ADDED, gateway = subj),
            StructKind::GatewayRemoved => t!(DIFF_GATEWAY_REMOVED, gateway = subj),
            StructKind::InterfaceAdded => {
                t!(
                    DIFF_INTERFACE_ADDED,
                    gw = gw,
                    interface = subj,
                    zone = z(&n)
                )
            }
            StructKind::InterfaceRemoved => {
                t!(
                    DIFF_INTERFACE_REMOVED,
                    gw = gw,
                    interface = subj,
                    zone = z(&o)
                )
            }
            StructKind::InterfaceMoved => t!(
                DIFF_INTERFACE_MOVED,
                gw = gw,
                interface = subj,
                old = z(&o),
                new = z(&n)
            ),
            StructKind::ZoneAdded => t!(DIFF_ZONE_ADDED, zone = z(subj), networks = &n),
            StructKind::ZoneRemoved => t!(DIFF_ZONE_REMOVED, zone = z(subj), networks = &o),
            StructKind::ZoneNetworks => t!(DIFF_ZONE_NETWORKS, zone = z(subj), old = &o, new = &n),
            StructKind::IntraZone => t!(DIFF_INTRA_ZONE, old = &o, new = &n),
        };
        text.render(lang)
    }
}

fn lines(pairs: &[PairChange]) -> usize {
    pairs.iter().map(|p| p.lines.len()).sum()
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn section(title: &str, empty: &'static str, blocks: Vec<Block>) -> Section {
    Section {
        title: title.to_string(),
        empty,
        blocks,
    }
}

/// A table, or nothing when there are no rows.
fn table(head: Vec<&'static str>, rows: Vec<Vec<String>>, mark: &'static str) -> Vec<Block> {
    if rows.is_empty() {
        return Vec::new();
    }
    vec![Block::Table { head, rows, mark }]
}

fn field_row(id: &str, f: &FieldChange) -> Vec<String> {
    vec![id.to_string(), f.field.clone(), opt(&f.old), opt(&f.new)]
}

fn severity(s: &str, lang: Lang) -> String {
    match s {
        "error" => t!(SEVERITY_ERROR).render(lang),
        "warning" => t!(SEVERITY_WARNING).render(lang),
        other => other.to_string(),
    }
}

fn reach_row(r: &super::ReachLine, lang: Lang) -> Vec<String> {
    let l = &labels(lang);
    let addrs = |v: &[AddrItem]| {
        v.iter()
            .map(|a| addr_text(a, l))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let fam = match r.family.as_deref() {
        Some("ipv4") => format!(" ({})", l.v4_only),
        Some("ipv6") => format!(" ({})", l.v6_only),
        _ => String::new(),
    };
    let ports: Vec<&str> = r
        .ports
        .iter()
        .map(|p| if p == "all" { l.all } else { p.as_str() })
        .collect();
    let flows: Vec<&str> = r
        .flows
        .iter()
        .map(|f| if f == INTRA { l.intra } else { f.as_str() })
        .collect();
    vec![
        addrs(&r.src),
        addrs(&r.dst),
        format!("{}{fam}", ports.join(", ")),
        flows.join(", "),
    ]
}

fn addr_text(a: &AddrItem, l: &Labels) -> String {
    let name = a.name.clone().unwrap_or_default();
    match a.kind {
        AddrKind::Gateway => l.gw_self.to_string(),
        AddrKind::Any => l.any.to_string(),
        AddrKind::Zone => format!("{name} ({})", l.zone),
        AddrKind::Group | AddrKind::Host => format!("{name} ({})", a.addresses.join(", ")),
        AddrKind::Range => a.addresses.join(", "),
    }
}

fn text(o: &Outline) -> String {
    let mut s = format!("{}\n", o.title);
    for (k, v) in &o.summary {
        let _ = writeln!(s, "  {k}: {v}");
    }
    for sec in &o.sections {
        let _ = write!(s, "\n{}", sec.title);
        if sec.blocks.is_empty() {
            let _ = writeln!(s, ": {}", sec.empty);
            continue;
        }
        s.push('\n');
        for b in &sec.blocks {
            match b {
                Block::Para(p) => {
                    let _ = writeln!(s, "  {p}");
                }
                Block::Sub(t) => {
                    let _ = writeln!(s, "  {t}");
                }
                Block::Table { rows, mark, .. } => {
                    for r in rows {
                        let _ = writeln!(s, "    {mark} {}", r.join("  |  "));
                    }
                }
            }
        }
    }
    s
}

fn markdown(o: &Outline) -> String {
    let mut s = format!("# {}\n\n", md(&o.title));
    let (item, value) = o.head;
    let _ = writeln!(s, "| {item} | {value} |\n| --- | --- |");
    for (k, v) in &o.summary {
        let _ = writeln!(s, "| {k} | {} |", md(v));
    }
    for sec in &o.sections {
        let _ = writeln!(s, "\n## {}\n", md(&sec.title));
        if sec.blocks.is_empty() {
            let _ = writeln!(s, "{}", md(sec.empty));
        }
        for b in &sec.blocks {
            md_block(&mut s, b);
        }
    }
    while s.contains("\n\n\n") {
        s = s.replace("\n\n\n", "\n\n");
    }
    s
}

fn md_block(s: &mut String, b: &Block) {
    match b {
        Block::Para(p) => {
            let _ = writeln!(s, "{}\n", md(p));
        }
        Block::Sub(t) => {
            let _ = writeln!(s, "### {}\n", md(t));
        }
        Block::Table { head, rows, .. } => {
            let _ = writeln!(s, "| {} |", head.join(" | "));
            let _ = writeln!(s, "|{}", " --- |".repeat(head.len()));
            for r in rows {
                let cells: Vec<String> = r.iter().map(|c| md(c)).collect();
                let _ = writeln!(s, "| {} |", cells.join(" | "));
            }
            s.push('\n');
        }
    }
}

fn html(o: &Outline, lang: Lang) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n<table class=\"summary\">",
        if lang == Lang::Ja { "ja" } else { "en" },
        h(&o.title),
        h(&o.title)
    );
    for (k, v) in &o.summary {
        let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", h(k), h(v));
    }
    s.push_str("</table>\n");
    for sec in &o.sections {
        let _ = writeln!(s, "<h2>{}</h2>", h(&sec.title));
        if sec.blocks.is_empty() {
            let _ = writeln!(s, "<p>{}</p>", h(sec.empty));
        }
        for b in &sec.blocks {
            html_block(&mut s, b);
        }
    }
    let _ = writeln!(
        s,
        "<p class=\"footer\">zonegate {}</p>\n</body>\n</html>",
        h(env!("CARGO_PKG_VERSION"))
    );
    s
}

fn html_block(s: &mut String, b: &Block) {
    match b {
        Block::Para(p) => {
            let _ = writeln!(s, "<p>{}</p>", h(p));
        }
        Block::Sub(t) => {
            let _ = writeln!(s, "<h3>{}</h3>", h(t));
        }
        Block::Table { head, rows, .. } => {
            let th: String = head.iter().map(|c| format!("<th>{}</th>", h(c))).collect();
            let _ = writeln!(s, "<table>\n<thead><tr>{th}</tr></thead>\n<tbody>");
            for r in rows {
                let td: String = r.iter().map(|c| format!("<td>{}</td>", h(c))).collect();
                let _ = writeln!(s, "<tr>{td}</tr>");
            }
            s.push_str("</tbody>\n</table>\n");
        }
    }
}
