//! zonegate's performance suite (issue 8): how the cost of compiling, applying, reading back
//! and enforcing a policy grows with its size, measured side by side in one run and reported as
//! median with min and max.
//!
//! The library holds the parts with logic worth testing: [`stats`] (summaries, paired ratios),
//! [`naive`] (the same policy written as one rule per flow, the comparison ruleset),
//! [`scenario`] (generated policy + lab topology for the per-packet runs), [`traffic`] (Rust
//! traffic generators bounded in time and count, confined to a lab's namespaces), [`nft`] (timed
//! apply and read-back), [`svg`] (the plot) and [`machine`] (what the report says about the
//! machine). The `zonegate-bench` binary runs the sections and writes the report; see
//! docs/benchmarks.md for what each figure means and scripts/bench.sh for how to run it.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod machine;
pub mod naive;
pub mod nft;
pub mod scenario;
pub mod stats;
pub mod svg;
pub mod traffic;
