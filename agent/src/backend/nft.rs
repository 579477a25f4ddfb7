//! The real backend: spawns `/usr/sbin/nft` (an absolute path, so `PATH` cannot change what runs
//! as root) with the ruleset on stdin and stderr captured, in the agent's own network namespace.
//! One child per call; a call that hangs is killed after [`NFT_TIMEOUT`].

use super::{parse_tables, Backend, BackendError, Receipt, TableRef};
use crate::listing::{normalise, TableState};
use serde_json::Value;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use zonegate_policy::names::{FAMILY, TABLE};

/// The nft binary. Debian installs it here; the agent never searches `PATH`.
pub const NFT: &str = "/usr/sbin/nft";
/// Longest an nft call may take (a 10,000-rule load takes under a second).
const NFT_TIMEOUT: Duration = Duration::from_secs(60);

/// nft through a child process.
#[derive(Debug, Clone)]
pub struct NftBackend {
    program: String,
    /// Successful `nft -f` loads (shared by clones).
    writes: Arc<AtomicU64>,
}

impl Default for NftBackend {
    fn default() -> Self {
        NftBackend {
            program: NFT.to_string(),
            writes: Arc::new(AtomicU64::new(0)),
        }
    }
}

struct Run {
    pid: u32,
    stdout: Vec<u8>,
}

impl NftBackend {
    /// Starts one nft child; the process is running when this returns.
    fn spawn(&self, args: &[&str], stdin: bool) -> Result<(Child, String), BackendError> {
        let command = format!("nft {}", args.join(" "));
        let child = Command::new(&self.program)
            .args(args)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| BackendError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        Ok((child, command))
    }

    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<Run, BackendError> {
        let (child, command) = self.spawn(args, stdin.is_some())?;
        finish(self.program.clone(), command, child, stdin).await
    }

    async fn list_json(&self, args: &[&str], what: &str) -> Result<Option<Value>, BackendError> {
        parse_listing(self.run(args, None).await, what)
    }

    /// Starts `nft -j list table inet zonegate` at once and hands back its result, parsed and
    /// normalised off the runtime's thread, later. The listing process exists before this
    /// returns, so a repair started next cannot be spawned ahead of it (it can still be
    /// overtaken by it: nft's listing is not atomic against a concurrent commit).
    pub fn start_list_table(&self) -> Result<PendingListing, BackendError> {
        let args = ["-s", "-j", "list", "table", FAMILY, TABLE];
        let (child, command) = self.spawn(&args, false)?;
        let program = self.program.clone();
        Ok(tokio::spawn(async move {
            let run = finish(program, command, child, None).await;
            let what = format!("table {FAMILY} {TABLE}");
            let parsed = tokio::task::spawn_blocking(move || {
                let listing = parse_listing(run, &what).map_err(|e| e.to_string())?;
                normalise(listing.as_ref()).map_err(|e| e.to_string())
            });
            parsed.await.map_err(|e| e.to_string())?
        }))
    }
}

/// A listing of our table being taken: the normalised table (None: missing) or what failed.
pub type PendingListing = JoinHandle<Result<Option<TableState>, String>>;

/// Feeds `stdin`, waits (at most [`NFT_TIMEOUT`]) and collects the output of one child.
async fn finish(
    program: String,
    command: String,
    mut child: Child,
    stdin: Option<&str>,
) -> Result<Run, BackendError> {
    let pid = child.id().unwrap_or_default();
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A write error means nft exited early; its stderr says why.
        let _ = pipe.write_all(text.as_bytes()).await;
        drop(pipe);
    }
    let out = tokio::time::timeout(NFT_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| BackendError::Timeout {
            command: command.clone(),
        })?
        .map_err(|source| BackendError::Spawn { program, source })?;
    if !out.status.success() {
        return Err(BackendError::Failed {
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
        });
    }
    Ok(Run {
        pid,
        stdout: out.stdout,
    })
}

/// A JSON listing, or None when nft says the object does not exist.
fn parse_listing(
    run: Result<Run, BackendError>,
    what: &str,
) -> Result<Option<Value>, BackendError> {
    match run {
        Ok(run) => {
            serde_json::from_slice(&run.stdout)
                .map(Some)
                .map_err(|e| BackendError::BadListing {
                    what: what.to_string(),
                    message: e.to_string(),
                })
        }
        Err(BackendError::Failed { stderr, .. })
            if stderr.contains("No such file or directory") =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl Backend for NftBackend {
    async fn apply(&self, text: &str) -> Result<Receipt, BackendError> {
        let run = self.run(&["-f", "-"], Some(text)).await?;
        // nft commits a file in one transaction: success means the table was replaced.
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(Receipt { pid: run.pid })
    }

    async fn check(&self, text: &str) -> Result<(), BackendError> {
        self.run(&["-c", "-f", "-"], Some(text)).await.map(|_| ())
    }

    async fn list_table(&self) -> Result<Option<Value>, BackendError> {
        self.list_json(
            &["-s", "-j", "list", "table", FAMILY, TABLE],
            &format!("table {FAMILY} {TABLE}"),
        )
        .await
    }

    async fn list_tables(&self) -> Result<Vec<TableRef>, BackendError> {
        let listing = self
            .list_json(&["-j", "list", "tables"], "tables")
            .await?
            .unwrap_or(Value::Null);
        Ok(parse_tables(&listing))
    }

    async fn list_other(&self, table: &TableRef) -> Result<Option<Value>, BackendError> {
        self.list_json(
            &["-s", "-j", "list", "table", &table.family, &table.name],
            &format!("table {} {}", table.family, table.name),
        )
        .await
    }

    async fn list_counters(&self) -> Result<Option<String>, BackendError> {
        match self
            .run(&["-j", "list", "counters", "table", FAMILY, TABLE], None)
            .await
        {
            Ok(run) => Ok(Some(String::from_utf8_lossy(&run.stdout).into_owned())),
            Err(BackendError::Failed { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn list_key_set(&self, name: &str) -> Result<Option<String>, BackendError> {
        match self
            .run(&["-j", "list", "set", FAMILY, TABLE, name], None)
            .await
        {
            Ok(run) => Ok(Some(String::from_utf8_lossy(&run.stdout).into_owned())),
            Err(BackendError::Failed { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}
