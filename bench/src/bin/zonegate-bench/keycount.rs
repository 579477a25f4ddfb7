//! `zonegate-bench keycount`: what the exact per-key counting of denied packets costs. Two labs
//! of the same policy, measured in the same rounds (interleaved, so load from other work on the
//! machine hits both alike): (b) the compiled ruleset, and (b−) the same ruleset with the
//! per-key table updates taken out of every deny tail (its `goto` to the capture chain kept, so
//! the difference is the table update and nothing else). Two denied floods in each: one key
//! (one source, one destination port: the common flood) and 60,000 keys (destination ports
//! cycling over 60,000: a scan-like flood that keeps a full-size table busy).

use crate::{progress, Config};
use zonegate_bench::scenario::{Scenario, DENIED_PORT};
use zonegate_bench::stats::{paired_ratios, Summary};
use zonegate_bench::traffic::{link_stats, udp_flood, udp_flood_dports, Budget, Endpoints};
use zonegate_e2e::lab::Lab;

/// The compiled ruleset without the per-key table updates: the update rules removed, the
/// untracked counter's rule reduced to its `goto`.
pub fn without_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.contains("update @denykeys") {
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("counter name \"u") && trimmed.contains(" goto ") {
            if let Some((_, target)) = trimmed.split_once(" goto ") {
                out.push_str("\t\tgoto ");
                out.push_str(target);
                out.push('\n');
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Dest ports of the many-key flood.
const MANY_KEYS: u16 = 60_000;

fn flood(s: &Scenario, lab: &Lab, many: bool, cfg: &Config) -> f64 {
    let (src, dst) = s.addrs();
    let ep = Endpoints::new(lab, 0, src, 1, dst).expect("probe addresses are lab addresses");
    let gw = lab.gw();
    let before = link_stats(gw, s.gw_if(0)).expect("gateway link stats");
    let budget = Budget {
        duration: cfg.duration,
        max_count: 50_000_000,
    };
    let sent = if many {
        udp_flood_dports(&ep, 1024, MANY_KEYS, 18, budget)
    } else {
        udp_flood(&ep, DENIED_PORT, 20_000, 4096, 18, budget)
    }
    .expect("UDP flood");
    let after = link_stats(gw, s.gw_if(0)).expect("gateway link stats");
    (after.rx_packets - before.rx_packets) as f64 / sent.elapsed.as_secs_f64()
}

/// Runs the comparison and prints a Markdown table on stdout.
pub fn run(cfg: &Config, hosts: usize, flows: usize) {
    let s = Scenario::new(hosts, flows).expect("scenario");
    let with = s.zonegate.text.clone();
    let without = without_keys(&with);
    assert!(
        with.contains("update @denykeys") && !without.contains("update @denykeys"),
        "the compiled ruleset has per-key tables"
    );
    let labs: Vec<(&str, Lab)> = [
        ("(b) with per-key counts", &with),
        ("(b−) without", &without),
    ]
    .into_iter()
    .map(|(name, text)| {
        let lab = Lab::up(&s.lab_spec()).expect("build the lab");
        zonegate_bench::nft::apply(lab.gw(), text).expect("ruleset loads");
        (name, lab)
    })
    .collect();
    // samples[lab][flood]
    let mut samples = vec![[Vec::new(), Vec::new()]; labs.len()];
    for round in 0..cfg.rounds {
        progress(&format!("keycount: round {}/{}", round + 1, cfg.rounds));
        for (many, _) in [(false, ()), (true, ())] {
            for k in 0..labs.len() {
                let i = (k + round) % labs.len();
                let v = flood(&s, &labs[i].1, many, cfg);
                samples[i][usize::from(many)].push(v);
            }
        }
    }
    let k = |v: &[f64]| {
        Summary::of(v)
            .map(|s| s.scale(1e-3).fmt_with(1))
            .unwrap_or_default()
    };
    println!(
        "N={hosts} hosts, M={flows} flows, {} rounds of {:.0} s, thousands of denied packets/s at the gateway's ingress, median (min–max):\n",
        cfg.rounds,
        cfg.duration.as_secs_f64()
    );
    println!("| flood | (b) with per-key counts | (b−) without | (b)/(b−), paired by round |");
    println!("|---|---|---|---|");
    let names = [
        format!("one key (udp/{DENIED_PORT}, 4,096 source ports)"),
        "60,000 keys (destination ports cycling)".to_string(),
    ];
    for (j, name) in names.iter().enumerate() {
        let ratio = Summary::of(&paired_ratios(&samples[0][j], &samples[1][j]))
            .map(|s| s.fmt_with(3))
            .unwrap_or_default();
        println!(
            "| {name} | {} | {} | {ratio} |",
            k(&samples[0][j]),
            k(&samples[1][j])
        );
    }
    drop(labs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripping_keeps_the_goto_and_drops_only_the_updates() {
        let text = "\t\tcounter name \"c30\"\n\t\tmeta l4proto { tcp } update @denykeys4s { 30 . ip saddr . ip daddr . meta l4proto . th dport counter } goto deny-30\n\t\tcounter name \"u30\" goto deny-30\n\t\tdrop\n";
        assert_eq!(
            without_keys(text),
            "\t\tcounter name \"c30\"\n\t\tgoto deny-30\n\t\tdrop\n"
        );
    }
}
