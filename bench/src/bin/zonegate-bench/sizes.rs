//! Sections 1 and 2: compile time and ruleset size, then apply and read-back time, against the
//! number of hosts N and of flows M.

use std::time::Instant;

use zonegate_bench::naive::{naive_ruleset, NAIVE_TABLE};
use zonegate_bench::nft::{self, TableSize};
use zonegate_bench::scenario::GATEWAY;
use zonegate_e2e::lab::{Lab, LabSpec};
use zonegate_policy::generate::{policy as generate, Shape};
use zonegate_policy::raw::RawFile;
use zonegate_policy::{compile, validate, Ruleset};

use crate::{ms, progress, Config};

/// Everything measured for one policy size.
#[derive(Debug, Default)]
pub struct SizeResult {
    pub hosts: usize,
    pub flows: usize,
    pub toml_bytes: usize,
    /// `toml::from_str` into the raw structures alone.
    pub parse_ms: Vec<f64>,
    /// `validate` (which includes the parse).
    pub validate_ms: Vec<f64>,
    /// `compile`.
    pub compile_ms: Vec<f64>,
    /// validate + compile.
    pub total_ms: Vec<f64>,
    pub ruleset_bytes: usize,
    pub ruleset_lines: usize,
    pub naive_rules: usize,
    pub naive_bytes: usize,
    /// `nft -f` into a fresh namespace.
    pub apply_ms: Vec<f64>,
    /// `nft -f` of the same text again (atomic replace of a loaded table).
    pub reapply_ms: Vec<f64>,
    /// `nft -s -j list table inet zonegate`.
    pub readback_ms: Vec<f64>,
    /// serde_json parse of that listing.
    pub readback_parse_ms: Vec<f64>,
    pub readback_bytes: usize,
    pub kernel: TableSize,
    /// The naive ruleset, when measured for this size.
    pub naive_apply_ms: Vec<f64>,
    pub naive_readback_ms: Vec<f64>,
    pub naive_kernel: TableSize,
}

/// Compiles every size `cfg.compile_reps` times and keeps the last ruleset of each.
pub fn compile_all(cfg: &Config) -> Vec<(SizeResult, Ruleset, String)> {
    let mut out = Vec::new();
    for &(hosts, flows) in &cfg.sizes {
        progress(&format!("compile N={hosts} M={flows}"));
        let text = generate(Shape {
            hosts,
            flows,
            group_size: 8,
        });
        let mut r = SizeResult {
            hosts,
            flows,
            toml_bytes: text.len(),
            ..SizeResult::default()
        };
        let mut last = None;
        for _ in 0..cfg.compile_reps {
            let t0 = Instant::now();
            let raw: Result<RawFile, _> = toml::from_str(&text);
            let parse = t0.elapsed();
            drop(raw);
            let t1 = Instant::now();
            let checked = validate("generated.toml", &text, None);
            let t2 = Instant::now();
            let policy = checked
                .policy
                .expect("the generator writes valid policies (see generate.rs tests)");
            let ruleset = compile(&policy, GATEWAY).expect("generated policies declare gw1");
            let t3 = Instant::now();
            r.parse_ms.push(ms(parse));
            r.validate_ms.push(ms(t2 - t1));
            r.compile_ms.push(ms(t3 - t2));
            r.total_ms.push(ms(t3 - t1));
            last = Some((policy, ruleset));
        }
        let (policy, ruleset) = last.expect("at least one compile repetition");
        r.ruleset_bytes = ruleset.text.len();
        r.ruleset_lines = ruleset.text.lines().count();
        let naive = naive_ruleset(&policy, GATEWAY).expect("generated policies declare gw1");
        r.naive_rules = naive.rules;
        r.naive_bytes = naive.text.len();
        out.push((r, ruleset, naive.text));
    }
    out
}

/// Applies and reads back each compiled ruleset `cfg.apply_reps` times, each time in a fresh
/// gateway namespace; the naive ruleset too for the sizes of the M sweep.
pub fn apply_all(cfg: &Config, compiled: &mut [(SizeResult, Ruleset, String)]) {
    for (r, ruleset, naive) in compiled.iter_mut() {
        progress(&format!("apply N={} M={}", r.hosts, r.flows));
        let with_naive = r.hosts == cfg.sweep_hosts;
        for _ in 0..cfg.apply_reps {
            let lab = Lab::up(&LabSpec::default()).expect("build a gateway namespace");
            let apply = nft::apply(lab.gw(), &ruleset.text).expect("zonegate ruleset loads");
            let reapply = nft::apply(lab.gw(), &ruleset.text).expect("zonegate ruleset reloads");
            let rb = nft::read_back(lab.gw(), "zonegate").expect("read back our table");
            r.apply_ms.push(ms(apply));
            r.reapply_ms.push(ms(reapply));
            r.readback_ms.push(ms(rb.list));
            r.readback_parse_ms.push(ms(rb.parse));
            r.readback_bytes = rb.bytes;
            r.kernel = rb.size;
            drop(lab);
            if with_naive {
                let lab = Lab::up(&LabSpec::default()).expect("build a gateway namespace");
                let apply = nft::apply(lab.gw(), naive).expect("naive ruleset loads");
                let rb = nft::read_back(lab.gw(), NAIVE_TABLE).expect("read back naive table");
                r.naive_apply_ms.push(ms(apply));
                r.naive_readback_ms.push(ms(rb.list));
                r.naive_kernel = rb.size;
            }
        }
    }
}
