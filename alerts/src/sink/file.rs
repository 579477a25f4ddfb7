//! The JSON-lines file sink: one alert per line, for log shippers (Filebeat, Fluent Bit,
//! Vector). Rotation is by rename, the way shippers expect: when the next line would pass
//! `max_bytes`, `path` is fsynced and renamed to `path.1` (older ones shift to `.2` ...
//! `.keep`, the oldest deleted), and a new `path` is created. A line is written with one
//! `write` so a reader never sees half an alert, and a crash between the renames loses no
//! alert (the queue only moves its cursor after [`Sink::flush`]). If someone else rotates the
//! file (logrotate with `create`), the sink notices the inode change and reopens.

use super::{Sink, SinkError};
use crate::config::FileConfig;
use crate::queue::QueuedAlert;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub struct FileSink {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: Option<(File, u64)>,
    dirty: bool,
}

impl FileSink {
    pub fn new(config: &FileConfig) -> FileSink {
        FileSink {
            path: config.path.clone(),
            max_bytes: config.max_bytes.max(4096),
            keep: config.keep,
            file: None,
            dirty: false,
        }
    }

    fn open(&mut self) -> Result<(), SinkError> {
        if let Some(parent) = self.path.parent() {
            if !parent.as_os_str().is_empty() {
                fs::create_dir_all(parent)
                    .map_err(SinkError::io(format!("creating {}", parent.display())))?;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(&self.path)
            .map_err(SinkError::io(format!("opening {}", self.path.display())))?;
        let ino = file
            .metadata()
            .map_err(SinkError::io(format!("stat {}", self.path.display())))?
            .ino();
        self.file = Some((file, ino));
        Ok(())
    }

    /// Whether the open file is still the one at `path` (not rotated away by someone else).
    fn still_ours(&self) -> bool {
        match (&self.file, fs::metadata(&self.path)) {
            (Some((_, ino)), Ok(meta)) => meta.ino() == *ino,
            _ => false,
        }
    }

    fn rotate(&mut self) -> Result<(), SinkError> {
        if let Some((file, _)) = self.file.take() {
            file.sync_all()
                .map_err(SinkError::io(format!("fsync {}", self.path.display())))?;
        }
        if self.keep == 0 {
            fs::remove_file(&self.path)
                .map_err(SinkError::io(format!("removing {}", self.path.display())))?;
            return Ok(());
        }
        let rotated = |n: u32| -> PathBuf {
            let mut s = self.path.clone().into_os_string();
            s.push(format!(".{n}"));
            PathBuf::from(s)
        };
        let _ = fs::remove_file(rotated(self.keep));
        for n in (1..self.keep).rev() {
            let from = rotated(n);
            if from.exists() {
                fs::rename(&from, rotated(n + 1))
                    .map_err(SinkError::io(format!("renaming {}", from.display())))?;
            }
        }
        fs::rename(&self.path, rotated(1))
            .map_err(SinkError::io(format!("renaming {}", self.path.display())))?;
        sync_parent(&self.path);
        Ok(())
    }
}

fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if let Ok(d) = File::open(parent) {
            let _ = d.sync_all();
        }
    }
}

impl Sink for FileSink {
    fn deliver(&mut self, alert: &QueuedAlert) -> Result<(), SinkError> {
        if self.file.is_none() || !self.still_ours() {
            self.open()?;
        }
        let len = self
            .file
            .as_ref()
            .and_then(|(f, _)| f.metadata().ok())
            .map_or(0, |m| m.len());
        let line_len = alert.payload.len() as u64 + 1;
        if len > 0 && len + line_len > self.max_bytes {
            self.rotate()?;
            self.open()?;
        }
        let mut line = Vec::with_capacity(alert.payload.len() + 1);
        line.extend_from_slice(&alert.payload);
        line.push(b'\n');
        let Some((file, _)) = self.file.as_mut() else {
            return Err(SinkError::Config("file not open".into()));
        };
        file.write_all(&line)
            .map_err(SinkError::io(format!("writing {}", self.path.display())))?;
        self.dirty = true;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        if self.dirty {
            if let Some((file, _)) = &self.file {
                file.sync_data()
                    .map_err(SinkError::io(format!("fsync {}", self.path.display())))?;
            }
            self.dirty = false;
        }
        Ok(())
    }
}
