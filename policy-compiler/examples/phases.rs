//! Times the phases of one compile of a generated policy (a diagnostic aid for
//! docs/benchmarks.md): `cargo run --release -p zonegate-policy --example phases [HOSTS FLOWS]`.
use std::time::Instant;
use zonegate_policy::generate::{policy, Shape};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (hosts, flows) = (
        *args.first().unwrap_or(&10_000),
        *args.get(1).unwrap_or(&1_000),
    );
    let runs = *args.get(2).unwrap_or(&5);
    let text = policy(Shape {
        hosts,
        flows,
        group_size: 8,
    });
    for _ in 0..runs {
        let t0 = Instant::now();
        let raw: zonegate_policy::raw::RawFile = toml::from_str(&text).expect("toml");
        let t1 = Instant::now();
        drop(raw);
        let c = zonegate_policy::validate("g", &text, None);
        let t2 = Instant::now();
        let p = c.policy.expect("generated policy is valid");
        let r = zonegate_policy::compile(&p, "gw1").expect("gw1");
        let t3 = Instant::now();
        println!(
            "toml parse {:?}, validate (incl. parse) {:?}, compile {:?}, {} bytes",
            t1 - t0,
            t2 - t1,
            t3 - t2,
            r.text.len()
        );
    }
}
