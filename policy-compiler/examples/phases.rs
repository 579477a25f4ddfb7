//! Times the phases of one compile of a generated policy (diagnostic aid for docs/benchmarks.md).
use std::time::Instant;
use zonegate_policy::generate::{policy, Shape};
fn main() {
    let text = policy(Shape {
        hosts: 10_000,
        flows: 1_000,
        group_size: 8,
    });
    for _ in 0..5 {
        let t0 = Instant::now();
        let raw: zonegate_policy::raw::RawFile = toml::from_str(&text).expect("toml");
        let t1 = Instant::now();
        drop(raw);
        let c = zonegate_policy::validate("g", &text, None);
        let t2 = Instant::now();
        let p = c.policy.expect("p");
        let r = zonegate_policy::compile(&p, "gw1").expect("gw1");
        let t3 = Instant::now();
        println!(
            "toml {:?} validate(incl toml) {:?} compile {:?} ({} bytes)",
            t1 - t0,
            t2 - t1,
            t3 - t2,
            r.text.len()
        );
    }
}
