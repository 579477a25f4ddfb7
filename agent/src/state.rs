//! The state directory: the last-known-good ruleset (`lkg.json`, versioned; `lkg.nft`, the same
//! ruleset as plain nft text for the boot unit, which parses no TOML and no JSON) and the lock
//! that keeps two agents from fighting over the table. Files are written to a temporary name,
//! fsynced and renamed, so a crash leaves the old file or the new one, never half of either.

use crate::listing::TableState;
use crate::policy_source::FlowIndex;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;
use zonegate_policy::Metadata;

/// Version of `lkg.json`; an agent refuses a format it does not know (and says so).
pub const LKG_FORMAT: u32 = 1;
const LKG_JSON: &str = "lkg.json";
const LKG_NFT: &str = "lkg.nft";
const LOCK: &str = "agent.lock";
/// Most retired marks remembered (for deleting conntrack entries of revoked flows).
const RETIRED_MAX: usize = 4096;

/// What kind of ruleset the LKG holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LkgKind {
    Policy,
    Lockdown,
}

/// The last ruleset that loaded and verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastKnownGood {
    pub format: u32,
    pub kind: LkgKind,
    /// When the policy was compiled (RFC 3339): the clock floor.
    pub compiled_at: String,
    pub applied_at: String,
    /// SHA-256 of the policy file's bytes (empty for lockdown).
    pub source_sha256: String,
    pub ruleset_sha256: String,
    pub revision: String,
    pub ruleset_text: String,
    pub metadata: Option<Metadata>,
    /// The normalised listing read back after the apply.
    pub baseline: Option<TableState>,
    pub flows: FlowIndex,
    /// Marks of flows revoked by earlier applies.
    #[serde(default)]
    pub retired_marks: BTreeSet<u32>,
}

impl LastKnownGood {
    /// Adds the marks that `previous` had and this one does not to the retired set.
    pub fn retire_from(&mut self, previous: Option<&LastKnownGood>) {
        if let Some(p) = previous {
            let live = self.flows.marks();
            self.retired_marks.extend(p.retired_marks.iter().copied());
            self.retired_marks
                .extend(p.flows.marks().difference(&live).copied());
            self.retired_marks.retain(|m| !live.contains(m));
            while self.retired_marks.len() > RETIRED_MAX {
                let first = self.retired_marks.iter().next().copied();
                if let Some(m) = first {
                    self.retired_marks.remove(&m);
                }
            }
        }
    }
}

#[derive(Debug, Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The file is not an LKG this agent understands.
    #[error("{path}: {message}")]
    Format { path: String, message: String },
    /// Another agent holds the state directory.
    #[error("another zonegate-agent holds {path} (pid {holder})")]
    Busy { path: String, holder: String },
}

fn io_error(path: &Path, source: io::Error) -> StateError {
    StateError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub dir: PathBuf,
}

impl StateDir {
    pub fn new(dir: &Path) -> StateDir {
        StateDir {
            dir: dir.to_path_buf(),
        }
    }

    pub fn lkg_path(&self) -> PathBuf {
        self.dir.join(LKG_JSON)
    }

    pub fn lkg_nft_path(&self) -> PathBuf {
        self.dir.join(LKG_NFT)
    }

    /// Creates the directory (mode 0700) if needed.
    pub fn ensure(&self) -> Result<(), StateError> {
        use std::os::unix::fs::DirBuilderExt;
        if !self.dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(|e| io_error(&self.dir, e))?;
        }
        Ok(())
    }

    /// Reads the LKG; None when there is none.
    pub fn load_lkg(&self) -> Result<Option<LastKnownGood>, StateError> {
        let path = self.lkg_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path, e)),
        };
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| StateError::Format {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        let format = value.get("format").and_then(serde_json::Value::as_u64);
        if format != Some(u64::from(LKG_FORMAT)) {
            return Err(StateError::Format {
                path: path.display().to_string(),
                message: format!("format {format:?}, this agent reads format {LKG_FORMAT}"),
            });
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| StateError::Format {
                path: path.display().to_string(),
                message: e.to_string(),
            })
    }

    /// Writes the LKG (JSON and plain nft text), each atomically.
    pub fn store_lkg(&self, lkg: &LastKnownGood) -> Result<(), StateError> {
        self.ensure()?;
        let json = serde_json::to_vec_pretty(lkg).map_err(|e| StateError::Format {
            path: self.lkg_path().display().to_string(),
            message: e.to_string(),
        })?;
        write_atomic(&self.lkg_nft_path(), lkg.ruleset_text.as_bytes())?;
        write_atomic(&self.lkg_path(), &json)
    }

    /// Takes the exclusive lock or says who holds it.
    pub fn lock(&self) -> Result<StateLock, StateError> {
        self.ensure()?;
        let path = self.dir.join(LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                let _ = lock.set_len(0);
                let _ = writeln!(&mut *lock, "{}", std::process::id());
                Ok(StateLock { _lock: lock })
            }
            Err((_, _)) => Err(StateError::Busy {
                path: path.display().to_string(),
                holder: std::fs::read_to_string(&path)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            }),
        }
    }
}

/// Held for as long as the agent may write.
pub struct StateLock {
    _lock: Flock<File>,
}

/// Writes `bytes` to `path` via a temporary file, fsync and rename, then fsyncs the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| -> io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(path, e)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    static N: AtomicU32 = AtomicU32::new(0);

    pub fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "zg-agent-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn lkg() -> LastKnownGood {
        LastKnownGood {
            format: LKG_FORMAT,
            kind: LkgKind::Lockdown,
            compiled_at: "2027-01-01T00:00:00Z".into(),
            applied_at: "2027-01-01T00:00:01Z".into(),
            source_sha256: String::new(),
            ruleset_sha256: "abc".into(),
            revision: "lockdown".into(),
            ruleset_text: "table inet zonegate {}\n".into(),
            metadata: None,
            baseline: None,
            flows: FlowIndex::default(),
            retired_marks: BTreeSet::new(),
        }
    }

    #[test]
    fn lkg_roundtrips_and_refuses_other_formats() {
        let s = StateDir::new(&temp_dir("lkg"));
        assert!(s.load_lkg().expect("empty").is_none());
        s.store_lkg(&lkg()).expect("store");
        assert_eq!(s.load_lkg().expect("load"), Some(lkg()));
        assert_eq!(
            std::fs::read_to_string(s.lkg_nft_path()).expect("nft"),
            lkg().ruleset_text
        );
        let text = std::fs::read_to_string(s.lkg_path())
            .expect("json")
            .replace("\"format\": 1", "\"format\": 99");
        std::fs::write(s.lkg_path(), text).expect("write");
        assert!(matches!(s.load_lkg(), Err(StateError::Format { .. })));
    }

    #[test]
    fn second_lock_is_refused() {
        let s = StateDir::new(&temp_dir("lock"));
        let first = s.lock().expect("first lock");
        match s.lock() {
            Err(StateError::Busy { holder, .. }) => {
                assert_eq!(holder, std::process::id().to_string())
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("second lock granted"),
        }
        drop(first);
        assert!(s.lock().is_ok());
    }

    #[test]
    fn retired_marks_accumulate_and_drop_live_ones() {
        let mut prev = lkg();
        prev.flows.intra.insert(5);
        prev.retired_marks.insert(7);
        let mut next = lkg();
        next.flows.intra.insert(7);
        next.retire_from(Some(&prev));
        assert_eq!(next.retired_marks, BTreeSet::from([5]));
    }
}
