//! Everything that reads or writes the kernel's nftables state goes through [`Backend`]: the real
//! [`nft::NftBackend`] spawns `/usr/sbin/nft`; [`fake::FakeBackend`] keeps a table in memory for
//! unit tests; [`ReadOnly`] wraps a backend so that `monitor` and `dry-run` cannot write even by
//! mistake. The trait is deliberately small: load a text in one transaction, check a text,
//! list our table, list the other tables (bypass watch), read our table's named counters (exact
//! denied-packet counts for the alerts), and count our own successful loads (each replaces the
//! table, and with it the counters).

pub mod fake;
pub mod nft;

use serde_json::Value;
use thiserror::Error;

/// A table in the kernel, by family and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableRef {
    pub family: String,
    pub name: String,
}

/// What an apply left behind: the writer's pid, which its NEWGEN message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub pid: u32,
}

#[derive(Debug, Error)]
pub enum BackendError {
    /// `nft` could not be started (missing, not executable, no permission).
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// `nft` ran and refused; `stderr` is its own message (with line and column for text input).
    #[error("`{command}` failed: {stderr}")]
    Failed { command: String, stderr: String },
    /// `nft` did not finish in time and was killed.
    #[error("`{command}` timed out")]
    Timeout { command: String },
    /// The JSON listing could not be parsed.
    #[error("cannot parse the listing of {what}: {message}")]
    BadListing { what: String, message: String },
    /// A write was attempted through a read-only backend (monitor, dry-run).
    #[error("refusing to write to the kernel in {mode} mode")]
    ReadOnly { mode: &'static str },
}

/// The kernel, as the agent sees it. Futures are not `Send`: the agent runs on one thread.
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// Loads `text` (an `nft -f` input) in one transaction.
    async fn apply(&self, text: &str) -> Result<Receipt, BackendError>;
    /// Checks `text` against the live kernel without committing (`nft -c`).
    async fn check(&self, text: &str) -> Result<(), BackendError>;
    /// `nft -s -j list table inet zonegate`; None when the table does not exist.
    async fn list_table(&self) -> Result<Option<Value>, BackendError>;
    /// Every table of every family.
    async fn list_tables(&self) -> Result<Vec<TableRef>, BackendError>;
    /// One (foreign) table's stateless JSON listing; None when it is gone.
    async fn list_other(&self, table: &TableRef) -> Result<Option<Value>, BackendError>;
    /// `nft -j list counters table inet zonegate`, as nft printed it (the listings above are
    /// stateless, `-s`, so counter values come from here only); None when the table is missing.
    async fn list_counters(&self) -> Result<Option<String>, BackendError>;
    /// `nft -j list set inet zonegate NAME` (a per-key table, with its elements' counters), as
    /// nft printed it; None when the table or the set is missing.
    async fn list_key_set(&self, name: &str) -> Result<Option<String>, BackendError>;
    /// Successful loads through this backend so far. Every load replaces our table, which
    /// restarts its counters at zero: the alerts' counter baseline must follow.
    fn writes(&self) -> u64;
}

/// Reads through to the wrapped backend, refuses every write.
pub struct ReadOnly<B> {
    pub inner: B,
    pub mode: &'static str,
}

impl<B: Backend> Backend for ReadOnly<B> {
    async fn apply(&self, _text: &str) -> Result<Receipt, BackendError> {
        Err(BackendError::ReadOnly { mode: self.mode })
    }
    async fn check(&self, text: &str) -> Result<(), BackendError> {
        self.inner.check(text).await
    }
    async fn list_table(&self) -> Result<Option<Value>, BackendError> {
        self.inner.list_table().await
    }
    async fn list_tables(&self) -> Result<Vec<TableRef>, BackendError> {
        self.inner.list_tables().await
    }
    async fn list_other(&self, table: &TableRef) -> Result<Option<Value>, BackendError> {
        self.inner.list_other(table).await
    }
    async fn list_counters(&self) -> Result<Option<String>, BackendError> {
        self.inner.list_counters().await
    }
    async fn list_key_set(&self, name: &str) -> Result<Option<String>, BackendError> {
        self.inner.list_key_set(name).await
    }
    fn writes(&self) -> u64 {
        0
    }
}

/// Either a writing backend or its read-only guard, chosen by mode at start.
pub enum Kernel<B> {
    Write(B),
    Read(ReadOnly<B>),
}

impl<B> Kernel<B> {
    /// The backend underneath, for reads.
    pub fn reader(&self) -> &B {
        match self {
            Kernel::Write(b) => b,
            Kernel::Read(r) => &r.inner,
        }
    }
}

impl<B: Backend> Backend for Kernel<B> {
    async fn apply(&self, text: &str) -> Result<Receipt, BackendError> {
        match self {
            Kernel::Write(b) => b.apply(text).await,
            Kernel::Read(b) => b.apply(text).await,
        }
    }
    async fn check(&self, text: &str) -> Result<(), BackendError> {
        match self {
            Kernel::Write(b) => b.check(text).await,
            Kernel::Read(b) => b.check(text).await,
        }
    }
    async fn list_table(&self) -> Result<Option<Value>, BackendError> {
        match self {
            Kernel::Write(b) => b.list_table().await,
            Kernel::Read(b) => b.list_table().await,
        }
    }
    async fn list_tables(&self) -> Result<Vec<TableRef>, BackendError> {
        match self {
            Kernel::Write(b) => b.list_tables().await,
            Kernel::Read(b) => b.list_tables().await,
        }
    }
    async fn list_other(&self, table: &TableRef) -> Result<Option<Value>, BackendError> {
        match self {
            Kernel::Write(b) => b.list_other(table).await,
            Kernel::Read(b) => b.list_other(table).await,
        }
    }
    async fn list_counters(&self) -> Result<Option<String>, BackendError> {
        match self {
            Kernel::Write(b) => b.list_counters().await,
            Kernel::Read(b) => b.list_counters().await,
        }
    }
    async fn list_key_set(&self, name: &str) -> Result<Option<String>, BackendError> {
        match self {
            Kernel::Write(b) => b.list_key_set(name).await,
            Kernel::Read(b) => b.list_key_set(name).await,
        }
    }
    fn writes(&self) -> u64 {
        match self {
            Kernel::Write(b) => b.writes(),
            Kernel::Read(b) => b.writes(),
        }
    }
}

/// Table references in a `nft -j list tables` output.
pub fn parse_tables(listing: &Value) -> Vec<TableRef> {
    let mut out = Vec::new();
    if let Some(items) = listing.get("nftables").and_then(Value::as_array) {
        for item in items {
            if let Some(t) = item.get("table") {
                if let (Some(family), Some(name)) = (
                    t.get("family").and_then(Value::as_str),
                    t.get("name").and_then(Value::as_str),
                ) {
                    out.push(TableRef {
                        family: family.to_string(),
                        name: name.to_string(),
                    });
                }
            }
        }
    }
    out.sort();
    out
}
