//! The report: Markdown tables (median (min–max) everywhere), results.json with every raw
//! sample, and the SVG plot.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::json;
use zonegate_bench::machine::{load1, Machine};
use zonegate_bench::stats::{paired_ratios, thousands, Summary};
use zonegate_bench::svg::{self, Panel, Series};

use crate::agent::AgentOutcome;
use crate::datapath::{samples, DpResult, Metric, Variant};
use crate::sizes::SizeResult;
use crate::Config;

/// The agent's memory target, 20 MB, in MiB (what /proc reports).
const TWENTY_MB_IN_MIB: f64 = 20.0 * 1_000_000.0 / 1_048_576.0;

/// Everything one run produced.
pub struct Report {
    pub cfg: Config,
    pub machine: Machine,
    pub started: String,
    pub git: String,
    pub sizes: Vec<SizeResult>,
    pub main: Option<DpResult>,
    pub sweep: Vec<DpResult>,
    pub agent: Option<AgentOutcome>,
    /// (section, wall time, load at start, load at end)
    pub sections: Vec<(String, Duration, f64, f64)>,
    pub total: Duration,
    pub load_start: f64,
    pub load_end: f64,
    t0: std::time::Instant,
}

const BEGIN: &str = "<!-- results:begin -->";
const END: &str = "<!-- results:end -->";

/// Replaces the text between the results markers of `doc` with `results`.
pub fn splice(doc: &str, results: &str) -> Option<String> {
    let b = doc.find(BEGIN)? + BEGIN.len();
    let e = doc.find(END)?;
    if e < b {
        return None;
    }
    Some(format!("{}\n{}\n{}", &doc[..b], results.trim(), &doc[e..]))
}

fn s(v: &[f64]) -> String {
    Summary::of(v).map_or_else(|| "—".into(), |x| x.fmt_auto())
}

fn s_dec(v: &[f64], d: usize) -> String {
    Summary::of(v).map_or_else(|| "—".into(), |x| x.fmt_with(d))
}

fn kib(b: usize) -> String {
    format!("{:.0}", b as f64 / 1024.0)
}

/// UTC date and time of now, without a date library.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn git_revision() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(rev) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{rev} + uncommitted changes")
            } else {
                rev
            }
        }
        None => "unknown".into(),
    }
}

impl Report {
    pub fn new(cfg: &Config, machine: Machine) -> Report {
        Report {
            cfg: cfg.clone(),
            machine,
            started: utc_now(),
            git: git_revision(),
            sizes: Vec::new(),
            main: None,
            sweep: Vec::new(),
            agent: None,
            sections: Vec::new(),
            total: Duration::ZERO,
            load_start: f64::NAN,
            load_end: f64::NAN,
            t0: std::time::Instant::now(),
        }
    }

    pub fn note_section(&mut self, name: &str, took: Duration, load_before: f64) {
        self.sections
            .push((name.to_string(), took, load_before, load1()));
    }

    pub fn finish(&mut self, load_start: f64) {
        self.total = self.t0.elapsed();
        self.load_start = load_start;
        self.load_end = load1();
    }

    fn size(&self, hosts: usize, flows: usize) -> Option<&SizeResult> {
        self.sizes
            .iter()
            .find(|r| r.hosts == hosts && r.flows == flows)
    }

    /// Per-packet results in increasing M: the sweep (all rows measured in the same rounds),
    /// or the main comparison alone when there is no sweep.
    fn by_flows(&self) -> Vec<&DpResult> {
        let mut v: Vec<&DpResult> = if self.sweep.is_empty() {
            self.main.iter().collect()
        } else {
            self.sweep.iter().collect()
        };
        v.sort_by_key(|r| r.scenario.flows);
        v
    }

    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let m = &self.machine;
        let _ = writeln!(
            o,
            "Run of {} (zonegate-bench), git {}, {} mode, {:.0} s in all.\n",
            self.started,
            self.git,
            if self.cfg.quick {
                "**quick** (smoke test: figures meaningless)"
            } else {
                "full"
            },
            self.total.as_secs_f64()
        );
        let _ = writeln!(
            o,
            "Machine: {} × {}{}, {} MiB RAM, kernel {}, {}. Load average (1 min) {:.2} at the start, {:.2} at the end.\n",
            m.cpus,
            m.cpu,
            if m.virt.is_empty() { String::new() } else { format!(" ({})", m.virt) },
            m.mem_mib,
            m.kernel,
            m.nft,
            self.load_start,
            self.load_end
        );
        if !self.sections.is_empty() {
            let parts: Vec<String> = self
                .sections
                .iter()
                .map(|(n, d, l0, l1)| {
                    format!("{n} {:.0} s (load {l0:.1}→{l1:.1})", d.as_secs_f64())
                })
                .collect();
            let _ = writeln!(o, "Sections: {}.\n", parts.join(", "));
        }
        self.md_targets(&mut o);
        self.md_compile(&mut o);
        self.md_apply(&mut o);
        self.md_datapath(&mut o);
        self.md_sweep(&mut o);
        self.md_agent(&mut o);
        o
    }

    fn md_targets(&self, o: &mut String) {
        let _ = writeln!(o, "### Targets\n");
        let _ = writeln!(o, "| target | measured | verdict |\n|---|---|---|");
        let (h, f) = (10_000, 1_000);
        if let Some(r) = self.size(h, f) {
            let c = Summary::of(&r.total_ms);
            if let Some(c) = c {
                let _ = writeln!(
                    o,
                    "| compile N=10,000 / M=1,000 under 50 ms | {} ms | {} |",
                    c.fmt_with(1),
                    if c.median < 50.0 { "met" } else { "**missed**" }
                );
            }
            if let Some(a) = Summary::of(&r.apply_ms) {
                let _ = writeln!(
                    o,
                    "| apply N=10,000 / M=1,000 under 300 ms | {} ms | {} |",
                    a.fmt_with(1),
                    if a.median < 300.0 {
                        "met"
                    } else {
                        "**missed**"
                    }
                );
            }
        }
        let rows = self.by_flows();
        if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
            if first.scenario.flows != last.scenario.flows {
                for (metric, what) in [
                    (Metric::NewConns, "new connections/s"),
                    (Metric::Denied, "denied packets/s"),
                ] {
                    // Flatness: the rate at the largest M over the rate at the smallest, paired
                    // by round (the sweep measures every M in the same rounds).
                    let growth = |v: Variant| {
                        Summary::of(&paired_ratios(
                            samples(last, metric, v),
                            samples(first, metric, v),
                        ))
                    };
                    if let (Some(b), Some(c)) = (growth(Variant::Zonegate), growth(Variant::Naive))
                    {
                        let _ = writeln!(
                            o,
                            "| (b) {what} flat as M grows {}→{} | (b) at M={} ÷ (b) at M={}, paired by round: {}; naive (c): {} | {} |",
                            first.scenario.flows,
                            last.scenario.flows,
                            last.scenario.flows,
                            first.scenario.flows,
                            b.fmt_with(2),
                            c.fmt_with(2),
                            if b.median >= 0.85 { "met" } else { "**missed**" }
                        );
                    }
                    if let Some(bc) = Summary::of(&paired_ratios(
                        samples(last, metric, Variant::Zonegate),
                        samples(last, metric, Variant::Naive),
                    )) {
                        let _ = writeln!(
                            o,
                            "| (b) {what} far above (c) at M={} | b/c = {} times, paired by round | {} |",
                            last.scenario.flows,
                            bc.fmt_with(1),
                            if bc.median >= 2.0 {
                                "met"
                            } else {
                                "**missed**"
                            }
                        );
                    }
                }
            }
        }
        if let Some(r) = &self.main {
            let ratios = paired_ratios(
                samples(r, Metric::TcpGbps, Variant::Zonegate),
                samples(r, Metric::TcpGbps, Variant::None),
            );
            if let Some(x) = Summary::of(&ratios) {
                let _ = writeln!(
                    o,
                    "| TCP throughput b/a at least 0.95 (informative on this machine) | {} | {} |",
                    x.fmt_with(2),
                    if x.median >= 0.95 {
                        "met"
                    } else {
                        "missed (see the note on noise)"
                    }
                );
            }
        }
        let apply_10k = self
            .size(self.cfg.dp_hosts, self.cfg.dp_flows)
            .and_then(|r| Summary::of(&r.apply_ms))
            .map(|s| s.median);
        match &self.agent {
            Some(AgentOutcome::Measured { tamper, footprint }) => {
                for run in tamper.iter().flatten() {
                    if let Some(all) = run.rows.iter().find(|r| r.kind == "all kinds") {
                        let small = run.label.starts_with("bundled");
                        let _ = writeln!(
                            o,
                            "| tamper-to-repair median {} ({}) | median {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} tampers | {} |",
                            if small { "under 50 ms" } else { "within 20 ms of the apply time" },
                            run.label,
                            all.median_ms,
                            all.p99_ms,
                            all.max_ms,
                            all.n,
                            match (small, apply_10k) {
                                (true, _) if all.median_ms < 50.0 => "met".to_string(),
                                (true, _) => "**missed**".to_string(),
                                (false, Some(a)) if all.median_ms <= a + 20.0 => {
                                    format!("met (nft apply {a:.0} ms)")
                                }
                                (false, Some(a)) => format!(
                                    "**missed**: {:.0} ms over the nft apply time ({a:.0} ms, section 2)",
                                    all.median_ms - a
                                ),
                                (false, None) => "compare with the apply time".to_string(),
                            }
                        );
                    }
                }
                if let Ok(fp) = footprint {
                    let _ = writeln!(
                        o,
                        "| agent RSS while watching under 20 MB (N={} / M={} policy) | {:.1} MiB idle, {:.1} MiB under the flood; peak {:.1} MiB (VmHWM: the start-up compile and apply, not while watching) | {} |",
                        thousands(self.cfg.dp_hosts),
                        thousands(self.cfg.dp_flows),
                        fp.idle_rss_mib,
                        fp.flood_rss_mib,
                        fp.peak_rss_mib,
                        match (
                            fp.idle_rss_mib.max(fp.flood_rss_mib) < TWENTY_MB_IN_MIB,
                            fp.peak_rss_mib < TWENTY_MB_IN_MIB,
                        ) {
                            (true, true) => "met",
                            (true, false) => "met while watching; the start-up peak is over it",
                            (false, _) => "**missed**",
                        }
                    );
                }
            }
            Some(AgentOutcome::Pending(_)) | None => {
                let _ = writeln!(
                    o,
                    "| tamper-to-repair median under 50 ms; agent RSS under 20 MB | pending | see the agent section |"
                );
            }
        }
        o.push('\n');
    }

    fn md_compile(&self, o: &mut String) {
        if self.sizes.is_empty() {
            return;
        }
        let _ = writeln!(
            o,
            "### 1. Compile time and ruleset size\n\n`validate` (TOML parse included) then `compile` for gateway gw1, in process, median (min–max) of {} runs; the TOML-parse column is `toml::from_str` into the raw structures alone, timed separately. Ruleset = the `nft -f` text; naive = the same policy as one rule per flow element.\n",
            self.cfg.compile_reps
        );
        let _ = writeln!(
            o,
            "| N hosts | M flows | zones.toml KiB | TOML parse ms | validate ms | compile ms | **validate + compile ms** | ruleset KiB | ruleset lines | naive rules |\n|---:|---:|---:|---|---|---|---|---:|---:|---:|"
        );
        for r in &self.sizes {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | **{}** | {} | {} | {} |",
                thousands(r.hosts),
                thousands(r.flows),
                kib(r.toml_bytes),
                s(&r.parse_ms),
                s(&r.validate_ms),
                s(&r.compile_ms),
                s(&r.total_ms),
                kib(r.ruleset_bytes),
                thousands(r.ruleset_lines),
                thousands(r.naive_rules)
            );
        }
        o.push('\n');
    }

    fn md_apply(&self, o: &mut String) {
        if self.sizes.iter().all(|r| r.apply_ms.is_empty()) {
            return;
        }
        let _ = writeln!(
            o,
            "### 2. Apply and read-back time\n\nEach run in a fresh gateway namespace: `nft -f -` of the compiled text (one transaction), the same again with the table loaded (atomic replace, what a restore does), then `nft -s -j list table inet zonegate` and its JSON parse (what the agent's compare reads). Wall time of the `nft` child, fork/exec included. Median (min–max) of {} runs. Kernel counts are from the read-back. The naive columns load the one-rule-per-flow ruleset the same way (M sweep only).\n",
            self.cfg.apply_reps
        );
        let _ = writeln!(
            o,
            "| N | M | **apply ms** | re-apply ms | read-back ms | JSON parse ms | read-back KiB | chains / rules / sets / elements | naive apply ms | naive read-back ms | naive rules |\n|---:|---:|---|---|---|---|---:|---|---|---|---:|"
        );
        for r in self.sizes.iter().filter(|r| !r.apply_ms.is_empty()) {
            let k = r.kernel;
            let _ = writeln!(
                o,
                "| {} | {} | **{}** | {} | {} | {} | {} | {} / {} / {} / {} | {} | {} | {} |",
                thousands(r.hosts),
                thousands(r.flows),
                s(&r.apply_ms),
                s(&r.reapply_ms),
                s(&r.readback_ms),
                s(&r.readback_parse_ms),
                kib(r.readback_bytes),
                k.chains,
                k.rules,
                k.sets,
                thousands(k.elements),
                s(&r.naive_apply_ms),
                s(&r.naive_readback_ms),
                if r.naive_apply_ms.is_empty() {
                    "—".into()
                } else {
                    thousands(r.naive_kernel.rules)
                }
            );
        }
        o.push('\n');
    }

    fn md_datapath(&self, o: &mut String) {
        let Some(r) = &self.main else { return };
        let sc = &r.scenario;
        let _ = writeln!(
            o,
            "### 3. Per-packet cost, N={} hosts, M={} flows\n\nTwo zone namespaces ({} → {}) behind a gateway namespace, veth. Probe flow {} ({} → {}, tcp/{} and udp/{}), position {} of {} rules in the naive chain; the zonegate ruleset holds {} rules and {} set/map elements in the kernel. {} rounds of {:.1} s per figure; every round measures every variant, order rotating; ratios are taken within a round, then summarised. Denied traffic: 18-byte UDP datagrams to port {} from 4,096 source ports, counted as they arrive on the gateway's ingress interface (none may leave: checked). New connections: connect + reset, one after another, counted by the server.\n",
            thousands(sc.hosts),
            thousands(sc.flows),
            sc.probe.from_zone,
            sc.probe.to_zone,
            sc.probe.id,
            sc.probe.src,
            sc.probe.dst,
            sc.probe.tcp_port,
            sc.probe.udp_port,
            sc.probe.naive_position,
            sc.naive.rules,
            r.zonegate_kernel.rules,
            thousands(r.zonegate_kernel.elements),
            self.cfg.rounds,
            self.cfg.duration.as_secs_f64(),
            zonegate_bench::scenario::DENIED_PORT,
        );
        let mut header = String::from("| metric |");
        let mut rule = String::from("|---|");
        for v in &r.variants {
            let _ = write!(header, " {} |", v.label());
            rule.push_str("---|");
        }
        header.push_str(" b/a | c/a | b/a′ |");
        rule.push_str("---|---|---|");
        let _ = writeln!(o, "{header}\n{rule}");
        for &metric in &r.metrics {
            let (scale, dec) = match metric {
                Metric::TcpGbps => (1.0, 2),
                _ => (1e-3, 1),
            };
            let unit = match metric {
                Metric::TcpGbps => "",
                _ => " (thousands)",
            };
            let _ = write!(o, "| {}{unit} |", metric.label());
            for &v in &r.variants {
                let vals: Vec<f64> = samples(r, metric, v).iter().map(|x| x * scale).collect();
                let _ = write!(o, " {} |", s_dec(&vals, dec));
            }
            for (num, den) in [
                (Variant::Zonegate, Variant::None),
                (Variant::Naive, Variant::None),
                (Variant::Zonegate, Variant::CtOnly),
            ] {
                let ratios = paired_ratios(samples(r, metric, num), samples(r, metric, den));
                let _ = write!(o, " {} |", s_dec(&ratios, 2));
            }
            o.push('\n');
        }
        let fails: u64 = r.connect_failures.values().sum();
        let _ = writeln!(
            o,
            "\nConnect failures in the connect loops: {fails}. Small-packet test, sent/received in the last round: {}.\n",
            r.small_sent_received
                .iter()
                .map(|(v, (s, rcv))| format!("{} {}/{}", v.key(), thousands(*s as usize), thousands(*rcv as usize)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            o,
            "On a shared 2-core VM with veth, sender, gateway and receiver share two CPUs with whatever else runs: throughput and the small-packet rate are informative only; the rule-bound figures (new connections, denied packets) are the ones that show rule cost.\n"
        );
    }

    fn md_sweep(&self, o: &mut String) {
        let rows = self.by_flows();
        if rows.len() < 2 {
            return;
        }
        let _ = writeln!(
            o,
            "### 3b. (b) zonegate vs (c) naive as M grows (N={})\n\nSame method as above, for new connections and denied packets, with (a) again for the ratios; one lab per M and variant, all measured in the same rounds, so the rows are comparable with each other. Thousands per second, median (min–max).\n",
            thousands(self.cfg.sweep_hosts)
        );
        let _ = writeln!(
            o,
            "| M flows | naive rules | probe rule position | zonegate kernel rules / elements | new conn/s (a) | **(b)** | (c) | b/a | c/a | denied pps (a) | **(b)** | (c) | b/a | c/a |\n|---:|---:|---:|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for r in rows {
            let k = |m: Metric, v: Variant| -> Vec<f64> {
                samples(r, m, v).iter().map(|x| x / 1e3).collect()
            };
            let ratio = |m: Metric, v: Variant| {
                s_dec(
                    &paired_ratios(samples(r, m, v), samples(r, m, Variant::None)),
                    2,
                )
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} / {} | {} | **{}** | {} | {} | {} | {} | **{}** | {} | {} | {} |",
                thousands(r.scenario.flows),
                thousands(r.scenario.naive.rules),
                thousands(r.scenario.probe.naive_position),
                r.zonegate_kernel.rules,
                thousands(r.zonegate_kernel.elements),
                s_dec(&k(Metric::NewConns, Variant::None), 1),
                s_dec(&k(Metric::NewConns, Variant::Zonegate), 1),
                s_dec(&k(Metric::NewConns, Variant::Naive), 1),
                ratio(Metric::NewConns, Variant::Zonegate),
                ratio(Metric::NewConns, Variant::Naive),
                s_dec(&k(Metric::Denied, Variant::None), 0),
                s_dec(&k(Metric::Denied, Variant::Zonegate), 0),
                s_dec(&k(Metric::Denied, Variant::Naive), 0),
                ratio(Metric::Denied, Variant::Zonegate),
                ratio(Metric::Denied, Variant::Naive),
            );
        }
        o.push('\n');
    }

    fn md_agent(&self, o: &mut String) {
        let _ = writeln!(o, "### 4. Agent: tamper-to-restore latency, RSS and CPU\n");
        match &self.agent {
            Some(AgentOutcome::Pending(why)) => {
                let _ = writeln!(o, "Pending: {why}.\n");
            }
            None => {
                let _ = writeln!(o, "Not run in this invocation.\n");
            }
            Some(AgentOutcome::Measured { tamper, footprint }) => {
                let _ = writeln!(
                    o,
                    "Tamper-to-restore, measured by the agent's harness `zonegate-agent-bench`: the agent runs in a namespace of its own; each tamper is an `nft` command in that namespace, timed from the kernel's generation notice (NEWGEN, netlink) of the tamper's commit to that of the agent's repair; 30 ms pause between tampers. Milliseconds.\n"
                );
                for run in tamper {
                    match run {
                        Ok(run) => {
                            let _ = writeln!(
                                o,
                                "**{}** ({} tampers per kind, {:.0} s):\n\n| tamper | n | median | p99 | max | missed |\n|---|---:|---:|---:|---:|---:|",
                                run.label,
                                run.tampers,
                                run.wall.as_secs_f64()
                            );
                            for r in &run.rows {
                                let _ = writeln!(
                                    o,
                                    "| {} | {} | {:.1} | {:.1} | {:.1} | {} |",
                                    r.kind,
                                    r.n,
                                    r.median_ms,
                                    r.p99_ms,
                                    r.max_ms,
                                    r.missed.map_or("—".into(), |m| m.to_string())
                                );
                            }
                            if !run.notes.is_empty() {
                                let _ = writeln!(o, "\nThe harness also printed:\n");
                                for n in &run.notes {
                                    let _ = writeln!(o, "- {}", n.trim());
                                }
                            }
                            o.push('\n');
                        }
                        Err(e) => {
                            let _ = writeln!(o, "A tamper run failed: {}\n", e.trim());
                        }
                    }
                }
                match footprint {
                    Ok(fp) => {
                        let _ = writeln!(
                            o,
                            "Footprint of `zonegate-agent run` (product defaults, check_interval 30 s) in the gateway namespace of a lab carrying the N={} / M={} policy: first heartbeat after {:.0} ms; idle for {:.0} s: **{:.2} % CPU**, **{:.1} MiB RSS**; during {:.0} s of denied UDP flood at {:.0} packets/s through the gateway: **{:.2} % CPU**, **{:.1} MiB RSS**; peak RSS (VmHWM) {:.1} MiB.\n",
                            thousands(self.cfg.dp_hosts),
                            thousands(self.cfg.dp_flows),
                            fp.startup_ms,
                            fp.idle_seconds,
                            fp.idle_cpu_percent,
                            fp.idle_rss_mib,
                            fp.flood_seconds,
                            fp.flood_pps,
                            fp.flood_cpu_percent,
                            fp.flood_rss_mib,
                            fp.peak_rss_mib
                        );
                    }
                    Err(e) => {
                        let _ = writeln!(o, "The footprint run failed: {e}\n");
                    }
                }
            }
        }
    }

    pub fn json(&self) -> String {
        let sizes: Vec<serde_json::Value> = self
            .sizes
            .iter()
            .map(|r| {
                json!({
                    "hosts": r.hosts, "flows": r.flows, "toml_bytes": r.toml_bytes,
                    "parse_ms": r.parse_ms, "validate_ms": r.validate_ms,
                    "compile_ms": r.compile_ms, "validate_compile_ms": r.total_ms,
                    "ruleset_bytes": r.ruleset_bytes, "ruleset_lines": r.ruleset_lines,
                    "naive_rules": r.naive_rules, "naive_bytes": r.naive_bytes,
                    "apply_ms": r.apply_ms, "reapply_ms": r.reapply_ms,
                    "readback_ms": r.readback_ms, "readback_parse_ms": r.readback_parse_ms,
                    "readback_bytes": r.readback_bytes,
                    "kernel": {"chains": r.kernel.chains, "rules": r.kernel.rules,
                               "sets": r.kernel.sets, "elements": r.kernel.elements},
                    "naive_apply_ms": r.naive_apply_ms, "naive_readback_ms": r.naive_readback_ms,
                    "naive_kernel_rules": r.naive_kernel.rules,
                })
            })
            .collect();
        let dp = |r: &DpResult| -> serde_json::Value {
            let mut samples_json = serde_json::Map::new();
            for ((m, v), vals) in &r.samples {
                samples_json.insert(format!("{}.{}", m.key(), v.key()), json!(vals));
            }
            json!({
                "hosts": r.scenario.hosts, "flows": r.scenario.flows,
                "probe": {"id": r.scenario.probe.id, "src": r.scenario.probe.src.to_string(),
                          "dst": r.scenario.probe.dst.to_string(),
                          "tcp_port": r.scenario.probe.tcp_port, "udp_port": r.scenario.probe.udp_port,
                          "naive_position": r.scenario.probe.naive_position},
                "naive_rules": r.scenario.naive.rules,
                "zonegate_kernel": {"rules": r.zonegate_kernel.rules, "elements": r.zonegate_kernel.elements},
                "samples": samples_json,
                "denied_forwarded": r.denied_forwarded.iter().map(|(v, n)| (v.key().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
                "connect_failures": r.connect_failures.iter().map(|(v, n)| (v.key().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
            })
        };
        let v = json!({
            "started": self.started, "git": self.git, "quick": self.cfg.quick,
            "total_s": self.total.as_secs_f64(),
            "machine": {"cpu": self.machine.cpu, "cpus": self.machine.cpus,
                        "mem_mib": self.machine.mem_mib, "kernel": self.machine.kernel,
                        "nft": self.machine.nft, "virt": self.machine.virt},
            "load": {"start": self.load_start, "end": self.load_end},
            "sections": self.sections.iter().map(|(n, d, a, b)| json!({"name": n, "seconds": d.as_secs_f64(), "load_before": a, "load_after": b})).collect::<Vec<_>>(),
            "config": {"compile_reps": self.cfg.compile_reps, "apply_reps": self.cfg.apply_reps,
                       "rounds": self.cfg.rounds, "duration_s": self.cfg.duration.as_secs_f64()},
            "sizes": sizes,
            "datapath": self.main.as_ref().map(dp),
            "sweep": self.sweep.iter().map(dp).collect::<Vec<_>>(),
            "agent": match &self.agent {
                Some(AgentOutcome::Pending(why)) => json!({"pending": why}),
                Some(AgentOutcome::Measured { tamper, footprint }) => json!({
                    "tamper": tamper.iter().map(|r| match r {
                        Ok(run) => json!({
                            "label": run.label, "tampers": run.tampers,
                            "wall_s": run.wall.as_secs_f64(),
                            "rows": run.rows.iter().map(|r| json!({
                                "kind": r.kind, "n": r.n, "median_ms": r.median_ms,
                                "p99_ms": r.p99_ms, "max_ms": r.max_ms, "missed": r.missed,
                            })).collect::<Vec<_>>(),
                            "raw": run.raw,
                        }),
                        Err(e) => json!({"error": e}),
                    }).collect::<Vec<_>>(),
                    "footprint": match footprint {
                        Ok(fp) => json!({
                            "startup_ms": fp.startup_ms, "idle_seconds": fp.idle_seconds,
                            "idle_cpu_percent": fp.idle_cpu_percent, "idle_rss_mib": fp.idle_rss_mib,
                            "flood_seconds": fp.flood_seconds, "flood_pps": fp.flood_pps,
                            "flood_cpu_percent": fp.flood_cpu_percent,
                            "flood_rss_mib": fp.flood_rss_mib, "peak_rss_mib": fp.peak_rss_mib,
                        }),
                        Err(e) => json!({"error": e}),
                    },
                }),
                None => serde_json::Value::Null,
            },
        });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    pub fn svg(&self) -> String {
        let sum = |v: &[f64]| Summary::of(v);
        let series = |label: &str, color: &str, pts: Vec<(f64, Option<Summary>)>| Series {
            label: label.into(),
            color: color.into(),
            points: pts
                .into_iter()
                .filter_map(|(x, y)| y.map(|y| (x, y)))
                .collect(),
        };
        let n_rows: Vec<&SizeResult> = self
            .cfg
            .n_sweep
            .iter()
            .filter_map(|n| self.size(*n, self.cfg.n_sweep_flows))
            .collect();
        let m_rows: Vec<&SizeResult> = self
            .cfg
            .m_sweep
            .iter()
            .filter_map(|m| self.size(self.cfg.sweep_hosts, *m))
            .collect();
        let targets = vec![
            (50.0, "compile target 50 ms".to_string()),
            (300.0, "apply target 300 ms".to_string()),
        ];
        let mut panels = vec![
            Panel {
                title: format!(
                    "against hosts N (M = {} flows)",
                    thousands(self.cfg.n_sweep_flows)
                ),
                x_label: "hosts N".into(),
                y_label: "milliseconds (log)".into(),
                series: vec![
                    series(
                        "compile (validate + compile)",
                        "#1f77b4",
                        n_rows
                            .iter()
                            .map(|r| (r.hosts as f64, sum(&r.total_ms)))
                            .collect(),
                    ),
                    series(
                        "apply (nft -f)",
                        "#d62728",
                        n_rows
                            .iter()
                            .map(|r| (r.hosts as f64, sum(&r.apply_ms)))
                            .collect(),
                    ),
                    series(
                        "read-back (nft -s -j list)",
                        "#2ca02c",
                        n_rows
                            .iter()
                            .map(|r| (r.hosts as f64, sum(&r.readback_ms)))
                            .collect(),
                    ),
                ],
                targets: targets.clone(),
            },
            Panel {
                title: format!(
                    "against flows M (N = {} hosts)",
                    thousands(self.cfg.sweep_hosts)
                ),
                x_label: "flows M".into(),
                y_label: "milliseconds (log)".into(),
                series: vec![
                    series(
                        "compile (validate + compile)",
                        "#1f77b4",
                        m_rows
                            .iter()
                            .map(|r| (r.flows as f64, sum(&r.total_ms)))
                            .collect(),
                    ),
                    series(
                        "apply (nft -f)",
                        "#d62728",
                        m_rows
                            .iter()
                            .map(|r| (r.flows as f64, sum(&r.apply_ms)))
                            .collect(),
                    ),
                    series(
                        "read-back",
                        "#2ca02c",
                        m_rows
                            .iter()
                            .map(|r| (r.flows as f64, sum(&r.readback_ms)))
                            .collect(),
                    ),
                    series(
                        "naive 1 rule/flow: apply",
                        "#ff7f0e",
                        m_rows
                            .iter()
                            .map(|r| (r.flows as f64, sum(&r.naive_apply_ms)))
                            .collect(),
                    ),
                ],
                targets,
            },
        ];
        let rows = self.by_flows();
        if rows.len() >= 2 {
            let per = |m: Metric, v: Variant| -> Vec<(f64, Option<Summary>)> {
                rows.iter()
                    .map(|r| {
                        (
                            r.scenario.flows as f64,
                            sum(samples(r, m, v)).map(|x| x.scale(1e-3)),
                        )
                    })
                    .collect()
            };
            panels.push(Panel {
                title: format!(
                    "per packet against flows M (N = {})",
                    thousands(self.cfg.sweep_hosts)
                ),
                x_label: "flows M".into(),
                y_label: "thousands per second (log)".into(),
                series: vec![
                    series(
                        "denied pkt/s, zonegate",
                        "#9467bd",
                        per(Metric::Denied, Variant::Zonegate),
                    ),
                    series(
                        "denied pkt/s, naive",
                        "#8c564b",
                        per(Metric::Denied, Variant::Naive),
                    ),
                    series(
                        "new conn/s, zonegate",
                        "#17becf",
                        per(Metric::NewConns, Variant::Zonegate),
                    ),
                    series(
                        "new conn/s, naive",
                        "#bcbd22",
                        per(Metric::NewConns, Variant::Naive),
                    ),
                ],
                targets: Vec::new(),
            });
        }
        svg::render(
            "zonegate: compile, apply and per-packet cost against policy size",
            &format!(
                "median with min–max whiskers; {} × {}, {}; {}",
                self.machine.cpus, self.machine.cpu, self.machine.kernel, self.started
            ),
            &panels,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splices_between_markers() {
        let doc = format!("head\n{BEGIN}\nold\n{END}\ntail\n");
        let new = splice(&doc, "new table\n").expect("markers");
        assert_eq!(new, format!("head\n{BEGIN}\nnew table\n{END}\ntail\n"));
        assert!(splice("no markers", "x").is_none());
    }
}
