//! zonegate-agent as a library: the binary (`main.rs`) is a thin shell over these modules;
//! [`alerting`] plugs the alert pipeline of `zonegate-alerts` into [`events`]. Boundaries: [`backend`] is the only code
//! that runs `nft`; [`netlink`] the only code that opens netlink sockets; everything between
//! (normalising, diffing, planning, deciding what conntrack entries go) is pure and unit-tested.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod agent;
pub mod alerting;
pub mod apply;
pub mod backend;
pub mod bypass;
pub mod change_control;
pub mod cli;
pub mod clock;
pub mod config;
pub mod conflicts;
pub mod conntrack;
pub mod control;
pub mod daemon;
pub mod debounce;
pub mod drift;
pub mod events;
pub mod listing;
pub mod memory;
pub mod metrics;
pub mod netlink;
pub mod notify;
pub mod plan;
pub mod policy_source;
pub mod state;
pub mod status;
pub mod watch_file;
