//! zonegate policy compiler: `zones.toml` text -> validated [`Policy`] -> nftables [`Ruleset`]
//! for one gateway. The core is pure: no file, clock or process access. The `zonegate` binary
//! reads files and the clock and calls into here.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod approval;
pub mod bundle;
pub mod compile;
pub mod date;
pub mod diagnostic;
pub mod diff;
pub mod explain;
pub mod fleet;
pub mod flowmap;
pub mod generate;
pub mod guardrails;
pub mod init;
pub mod lockdown;
pub mod mark;
pub mod matrix;
pub mod messages;
pub mod metadata;
pub mod model;
pub mod names;
pub mod net;
pub mod ports;
pub mod raw;
pub mod validate;

pub use compile::{compile, CompileError, Ruleset};
pub use date::Date;
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use messages::{Lang, Text};
pub use metadata::Metadata;
pub use model::Policy;
pub use validate::{canonical, validate, validate_bytes, validate_for_review, Checked};
