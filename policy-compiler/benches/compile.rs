//! Compile benchmark: parse + validate + compile of generated three-domain policies, reported
//! as median (min-max) over repeated runs, with the ruleset size. Not a test: run it with
//! `cargo bench -p zonegate-policy --bench compile` (`-- --quick` for a smoke run).

use std::time::{Duration, Instant};
use zonegate_policy::generate::{policy, Shape};
use zonegate_policy::{compile, validate};

fn measure(shape: Shape, runs: usize) -> (Vec<Duration>, usize, usize) {
    let text = policy(shape);
    let mut times = Vec::with_capacity(runs);
    let mut size = 0;
    let mut elements = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let checked = validate("gen.toml", &text, None);
        let p = checked.policy.expect("generated policy is valid");
        let r = compile(&p, "gw1").expect("gw1");
        times.push(start.elapsed());
        size = r.text.len();
        elements = r.text.matches(" : 0x").count();
    }
    times.sort();
    (times, size, elements)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 2 } else { 15 };
    let shapes: &[(usize, usize)] = if quick {
        &[(100, 10), (1_000, 100)]
    } else {
        &[
            (100, 10),
            (1_000, 100),
            (10_000, 1_000),
            (10_000, 10_000),
            (100_000, 1_000),
        ]
    };
    println!("parse + validate + compile (median of {runs} runs, min-max), ruleset size");
    println!(
        "{:>8} {:>7} {:>12} {:>20} {:>10} {:>9}",
        "hosts", "flows", "median ms", "min-max ms", "bytes", "elements"
    );
    for &(hosts, flows) in shapes {
        let (t, size, elements) = measure(
            Shape {
                hosts,
                flows,
                group_size: 8,
            },
            runs,
        );
        println!(
            "{hosts:>8} {flows:>7} {:>12.2} {:>20} {size:>10} {elements:>9}",
            ms(t[t.len() / 2]),
            format!("{:.2}-{:.2}", ms(t[0]), ms(t[t.len() - 1]))
        );
    }
}
