//! Test harness for zonegate's end-to-end tests: network-namespace labs, traffic probes,
//! packet forging, and an evaluator for the ruleset as the kernel lists it back.
pub mod lab;
pub mod nfteval;
pub mod probe;
pub mod spoof;
pub mod zonelab;
