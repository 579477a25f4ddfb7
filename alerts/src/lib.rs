//! zonegate alerts: everything between "something happened on the gateway" and "the security
//! team has it". The agent calls [`AlertPipeline::emit`] with a typed [`AlertKind`]; the
//! pipeline stamps it ([`Alert`], one versioned JSON schema, docs/alerts.md), writes it to a
//! durable on-disk queue ([`queue`]) and delivers it to every configured sink ([`sink`]:
//! webhook, syslog, JSON-lines file) at least once, each sink on its own thread with backoff, so
//! no collector can slow enforcement down. [`DeniedFlowMonitor`] listens to the ruleset's NFLOG
//! group, keeps headers only, and aggregates denied packets into a bounded stream of alerts with
//! exact counts from the ruleset's counters. [`metrics`] renders Prometheus text.
//!
//! The boundary: this crate does no nftables writes and spawns no processes; the agent owns the
//! kernel and hands in what it read (metadata, counters).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod id;
mod logline;
pub mod metrics;
pub mod model;
pub mod nflog;
pub mod pipeline;
pub mod queue;
pub mod sink;
mod summary_ja;

pub use config::{AlertsConfig, DeniedFlowConfig, SinkConfig};
pub use id::EventId;
pub use metrics::{render as render_metrics, MetricsSnapshot};
pub use model::{Alert, AlertContext, AlertKind, Severity, StagedChange, SCHEMA_VERSION};
pub use nflog::aggregate::WindowFigures;
pub use nflog::counters::{parse_nft_counters, CounterValue, Counters};
pub use nflog::keys::{parse_nft_key_set, parse_nft_untracked, KeyCounts, KeyId};
pub use nflog::{DeniedFlowMonitor, ListenerState};
pub use pipeline::{AlertError, AlertPipeline};
