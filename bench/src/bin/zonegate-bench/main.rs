//! `zonegate-bench`: the performance suite of issue 8, one run, every figure side by side.
//!
//! ```text
//! zonegate-bench [--quick] [--out DIR] [--doc docs/benchmarks.md] [--svg docs/benchmarks.svg]
//!                [--only compile,apply,datapath,sweep,agent]
//! zonegate-bench compile-once --hosts N --flows M [--reps K]  # validate+compile (profiling)
//! zonegate-bench generate --hosts N --flows M        # the generated zones.toml on stdout
//! zonegate-bench naive --hosts N --flows M           # its one-rule-per-flow ruleset on stdout
//! zonegate-bench keycount [--hosts N --flows M] [--rounds R] [--seconds S]
//!                                                    # per-key counting: with/without, same run
//! zonegate-bench profile-datapath --hosts N --flows M --variant a|a_ct|b|c
//!                --metric denied_pps|new_conns_per_s|tcp_gbps|udp_small_pps --seconds S
//!                                                    # one per-packet run, for perf record -a
//! ```
//!
//! Needs root (network namespaces, nft, raw sockets) for everything but compile. Writes
//! `DIR/results.md`, `DIR/results.json` and `DIR/benchmarks.svg`; with `--doc` it also replaces
//! the part of that Markdown file between `<!-- results:begin -->` and `<!-- results:end -->`,
//! and with `--svg` it writes the plot there too. `--quick` runs tiny sizes once, in well under
//! two minutes, to check that the suite works; its figures mean nothing.

mod agent;
mod datapath;
mod keycount;
mod report;
mod sizes;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use zonegate_policy::generate::{policy as generate, Shape};

/// A section of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Compile,
    Apply,
    Datapath,
    Sweep,
    Agent,
}

impl Section {
    fn parse(s: &str) -> Option<Section> {
        Some(match s {
            "compile" => Section::Compile,
            "apply" => Section::Apply,
            "datapath" => Section::Datapath,
            "sweep" => Section::Sweep,
            "agent" => Section::Agent,
            _ => return None,
        })
    }
}

/// What to run and how often.
#[derive(Debug, Clone)]
pub struct Config {
    pub quick: bool,
    /// N sweep (at `n_sweep_flows` flows).
    pub n_sweep: Vec<usize>,
    pub n_sweep_flows: usize,
    /// M sweep (at `sweep_hosts` hosts); also the per-packet sweep.
    pub m_sweep: Vec<usize>,
    pub sweep_hosts: usize,
    /// Union of both sweeps, sorted.
    pub sizes: Vec<(usize, usize)>,
    pub compile_reps: usize,
    pub apply_reps: usize,
    /// Rounds of the per-packet measurements (each round measures every variant once).
    pub rounds: usize,
    /// Length of one per-packet measurement.
    pub duration: Duration,
    /// Size of the main per-packet comparison.
    pub dp_hosts: usize,
    pub dp_flows: usize,
    pub sections: BTreeSet<Section>,
    pub out: PathBuf,
    pub doc: Option<PathBuf>,
    pub svg: Option<PathBuf>,
    /// The agent binary for the tamper section, if given.
    pub agent: Option<PathBuf>,
}

impl Config {
    fn new(quick: bool) -> Config {
        let (n_sweep, n_sweep_flows, m_sweep, sweep_hosts) = if quick {
            (vec![100, 1_000], 100, vec![10, 100], 1_000)
        } else {
            (
                vec![100, 1_000, 10_000, 100_000],
                1_000,
                vec![10, 100, 1_000, 10_000],
                10_000,
            )
        };
        let mut sizes: Vec<(usize, usize)> = n_sweep
            .iter()
            .map(|n| (*n, n_sweep_flows))
            .chain(m_sweep.iter().map(|m| (sweep_hosts, *m)))
            .collect();
        sizes.sort();
        sizes.dedup();
        Config {
            quick,
            n_sweep,
            n_sweep_flows,
            m_sweep,
            sweep_hosts,
            sizes,
            compile_reps: if quick { 2 } else { 9 },
            apply_reps: if quick { 1 } else { 5 },
            rounds: if quick { 1 } else { 5 },
            duration: Duration::from_millis(if quick { 200 } else { 1_000 }),
            dp_hosts: sweep_hosts,
            dp_flows: if quick { 100 } else { 1_000 },
            sections: [
                Section::Compile,
                Section::Apply,
                Section::Datapath,
                Section::Sweep,
                Section::Agent,
            ]
            .into_iter()
            .collect(),
            out: PathBuf::from("target/bench"),
            doc: None,
            svg: None,
            agent: None,
        }
    }
}

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// A progress line on stderr with the time since start.
pub fn progress(msg: &str) {
    let t = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("[{t:7.1}s] {msg}");
}

fn usage() -> ! {
    eprintln!(
        "usage: zonegate-bench [--quick] [--out DIR] [--doc FILE.md] [--svg FILE.svg] [--agent BIN]\n\
         \x20                     [--only compile,apply,datapath,sweep,agent]\n\
         \x20      zonegate-bench compile-once|generate|naive --hosts N --flows M\n\
         \x20      zonegate-bench profile-datapath --hosts N --flows M [--variant a|a_ct|b|c] [--metric M] [--seconds S]"
    );
    std::process::exit(2)
}

fn shape_args(args: &[String]) -> (usize, usize) {
    let get = |flag: &str| -> usize {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| usage())
    };
    (get("--hosts"), get("--flows"))
}

fn tool(cmd: &str, args: &[String]) {
    let (hosts, flows) = shape_args(args);
    let text = generate(Shape {
        hosts,
        flows,
        group_size: 8,
    });
    match cmd {
        "generate" => print!("{text}"),
        "compile-once" => {
            // `--reps K` repeats it, for sampling profilers (perf) that need a longer run.
            let reps = args
                .iter()
                .position(|a| a == "--reps")
                .and_then(|i| args.get(i + 1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(1usize);
            for _ in 0..reps {
                let checked = zonegate_policy::validate("generated.toml", &text, None);
                let policy = checked.policy.expect("generated policy is valid");
                let r = zonegate_policy::compile(&policy, zonegate_bench::scenario::GATEWAY)
                    .expect("gw1");
                println!("{} bytes", r.text.len());
            }
        }
        "naive" => {
            let checked = zonegate_policy::validate("generated.toml", &text, None);
            let policy = checked.policy.expect("generated policy is valid");
            let n =
                zonegate_bench::naive::naive_ruleset(&policy, zonegate_bench::scenario::GATEWAY)
                    .expect("gw1");
            print!("{}", n.text);
        }
        _ => usage(),
    }
}

fn profile_datapath(args: &[String]) {
    use datapath::{Metric, Variant};
    let (hosts, flows) = shape_args(args);
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    let variant = match get("--variant").unwrap_or("b") {
        "a" => Variant::None,
        "a_ct" => Variant::CtOnly,
        "b" => Variant::Zonegate,
        "c" => Variant::Naive,
        _ => usage(),
    };
    let metric = match get("--metric").unwrap_or("denied_pps") {
        "denied_pps" => Metric::Denied,
        "new_conns_per_s" => Metric::NewConns,
        "tcp_gbps" => Metric::TcpGbps,
        "udp_small_pps" => Metric::SmallPps,
        _ => usage(),
    };
    let seconds: f64 = get("--seconds").and_then(|v| v.parse().ok()).unwrap_or(5.0);
    let mut cfg = Config::new(false);
    cfg.duration = Duration::from_secs_f64(seconds);
    let s = zonegate_bench::scenario::Scenario::new(hosts, flows).expect("scenario");
    let v = datapath::profile_once(&cfg, &s, variant, metric);
    println!("{} {}: {v:.1}", variant.label(), metric.label());
}

/// `zonegate-bench keycount [--hosts N --flows M] [--rounds R] [--seconds S]`.
fn keycount_cmd(args: &[String]) {
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let mut cfg = Config::new(false);
    if let Some(r) = get("--rounds") {
        cfg.rounds = r as usize;
    }
    if let Some(s) = get("--seconds") {
        cfg.duration = Duration::from_secs_f64(s);
    }
    let hosts = get("--hosts").map_or(cfg.dp_hosts, |h| h as usize);
    let flows = get("--flows").map_or(cfg.dp_flows, |f| f as usize);
    keycount::run(&cfg, hosts, flows);
}

fn main() {
    START.get_or_init(Instant::now);
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(cmd) = args.first() {
        if matches!(cmd.as_str(), "compile-once" | "generate" | "naive") {
            tool(cmd, &args[1..]);
            return;
        }
        if cmd == "profile-datapath" {
            profile_datapath(&args[1..]);
            return;
        }
        if cmd == "keycount" {
            keycount_cmd(&args[1..]);
            return;
        }
    }
    let mut cfg = Config::new(args.iter().any(|a| a == "--quick"));
    let mut i = 0;
    while i < args.len() {
        let value = || args.get(i + 1).cloned().unwrap_or_else(|| usage());
        match args[i].as_str() {
            "--quick" => {}
            "--out" => {
                cfg.out = PathBuf::from(value());
                i += 1;
            }
            "--doc" => {
                cfg.doc = Some(PathBuf::from(value()));
                i += 1;
            }
            "--svg" => {
                cfg.svg = Some(PathBuf::from(value()));
                i += 1;
            }
            "--agent" => {
                cfg.agent = Some(PathBuf::from(value()));
                i += 1;
            }
            "--only" => {
                cfg.sections = value()
                    .split(',')
                    .map(|s| Section::parse(s.trim()).unwrap_or_else(|| usage()))
                    .collect();
                i += 1;
            }
            _ => usage(),
        }
        i += 1;
    }
    std::fs::create_dir_all(&cfg.out).expect("create the output directory");

    let machine = zonegate_bench::machine::describe();
    let mut rep = report::Report::new(&cfg, machine);
    let load_start = zonegate_bench::machine::load1();

    if cfg.sections.contains(&Section::Compile) || cfg.sections.contains(&Section::Apply) {
        let t = Instant::now();
        let l0 = zonegate_bench::machine::load1();
        let mut compiled = sizes::compile_all(&cfg);
        rep.note_section("compile", t.elapsed(), l0);
        if cfg.sections.contains(&Section::Apply) {
            let t = Instant::now();
            let l0 = zonegate_bench::machine::load1();
            sizes::apply_all(&cfg, &mut compiled);
            rep.note_section("apply", t.elapsed(), l0);
        }
        rep.sizes = compiled.into_iter().map(|(r, _, _)| r).collect();
    }

    if cfg.sections.contains(&Section::Datapath) || cfg.sections.contains(&Section::Sweep) {
        use datapath::{Metric, Variant};
        let t = Instant::now();
        let l0 = zonegate_bench::machine::load1();
        let main_scenario = zonegate_bench::scenario::Scenario::new(cfg.dp_hosts, cfg.dp_flows)
            .expect("per-packet scenario");
        let main = if cfg.sections.contains(&Section::Datapath) {
            datapath::run(
                &cfg,
                main_scenario,
                &[
                    Variant::None,
                    Variant::CtOnly,
                    Variant::Zonegate,
                    Variant::Naive,
                ],
                &[
                    Metric::NewConns,
                    Metric::Denied,
                    Metric::TcpGbps,
                    Metric::SmallPps,
                ],
            )
        } else {
            datapath::run(
                &cfg,
                main_scenario,
                &[Variant::None, Variant::Zonegate, Variant::Naive],
                &[Metric::NewConns, Metric::Denied],
            )
        };
        rep.note_section("datapath", t.elapsed(), l0);
        if cfg.sections.contains(&Section::Sweep) {
            // Every M of the sweep in the same rounds, so (b) at M=10 and at M=10,000 are
            // measured seconds apart, not minutes.
            let t = Instant::now();
            let l0 = zonegate_bench::machine::load1();
            let scenarios = cfg
                .m_sweep
                .iter()
                .map(|&m| {
                    zonegate_bench::scenario::Scenario::new(cfg.sweep_hosts, m)
                        .expect("sweep scenario")
                })
                .collect();
            rep.sweep = datapath::run_many(
                &cfg,
                scenarios,
                &[Variant::None, Variant::Zonegate, Variant::Naive],
                &[Metric::NewConns, Metric::Denied],
            );
            rep.note_section("sweep", t.elapsed(), l0);
        }
        rep.main = Some(main);
    }

    if cfg.sections.contains(&Section::Agent) {
        let t = Instant::now();
        let l0 = zonegate_bench::machine::load1();
        rep.agent = Some(agent::run(&cfg));
        rep.note_section("agent", t.elapsed(), l0);
    }

    rep.finish(load_start);
    let (md, json, svg) = (rep.markdown(), rep.json(), rep.svg());
    let write = |path: &std::path::Path, text: &str| {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        progress(&format!("wrote {}", path.display()));
    };
    write(&cfg.out.join("results.md"), &md);
    write(&cfg.out.join("results.json"), &json);
    write(&cfg.out.join("benchmarks.svg"), &svg);
    if let Some(svg_path) = &cfg.svg {
        write(svg_path, &svg);
    }
    if let Some(doc) = &cfg.doc {
        let old =
            std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("read {}: {e}", doc.display()));
        let new = report::splice(&old, &md)
            .unwrap_or_else(|| panic!("{} has no results markers", doc.display()));
        write(doc, &new);
    }
    println!("{md}");
}
