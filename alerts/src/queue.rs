//! The durable on-disk alert queue: append-only segment files of checksummed records, and one
//! cursor file per sink naming the next record that sink has not delivered. Every alert is
//! appended and fsynced here before any sink sees it; a sink's cursor moves only after delivery,
//! so a crash (SIGKILL, power loss after the fsync) can repeat alerts but never lose them.
//! Receivers deduplicate by the alert id.
//!
//! Layout under the queue directory (docs/alerts.md has the byte format):
//! - `seg-<16 hex digits>.zgq`: a 16-byte header (`ZGAQ`, format version), then records
//!   `len u32 | crc32 u32 | seq u64 | severity u8 | 3 zero bytes | payload (alert JSON)`,
//!   little-endian, the CRC over everything after it. A torn tail (crash mid-write) fails the
//!   length or CRC check at recovery and is cut off.
//! - `cursor-<sink>`: `zgac 1 <next seq>`, replaced atomically (write, fsync, rename).
//!
//! A size cap bounds the directory. Over the cap, fully delivered segments go first, then
//! undelivered records in order of severity (lowest first) and age (oldest first), by rewriting
//! the affected segments; [`Queue::append`] reports what it dropped so the pipeline can raise a
//! queue-overflow alert. Not thread-safe by itself: the pipeline holds it in one mutex.

use crate::model::Severity;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

const SEGMENT_MAGIC: &[u8; 4] = b"ZGAQ";
/// Version of the segment and record format. A reader refuses segments of a newer version
/// (it leaves them on disk untouched) rather than misreading them.
pub const QUEUE_FORMAT: u32 = 1;
const SEGMENT_HEADER_LEN: u64 = 16;
const RECORD_HEADER_LEN: usize = 20;
/// Longest payload accepted; the pipeline bounds alerts well below this.
pub const MAX_PAYLOAD: usize = 1024 * 1024;
const CURSOR_PREFIX: &str = "cursor-";
const CURSOR_MAGIC: &str = "zgac 1";

/// Queue failures. Appends that fail leave the queue as it was (the pipeline retries them).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue directory or a file in it could not be created, read, written or synced.
    #[error("alert queue {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An alert larger than [`MAX_PAYLOAD`].
    #[error("alert of {0} bytes exceeds the queue's record limit")]
    TooLarge(usize),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One record read back for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedAlert {
    pub seq: u64,
    pub severity: Severity,
    /// The alert JSON, exactly as emitted.
    pub payload: Vec<u8>,
}

/// What a cap enforcement dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropReport {
    pub dropped: u64,
    pub by_severity: BTreeMap<Severity, u64>,
    /// `time` of the oldest dropped alert, when it could be read.
    pub oldest_time: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Loc {
    segment: u64,
    offset: u64,
    len: u32,
    severity: Severity,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    bytes: u64,
}

#[derive(Debug)]
struct Cursor {
    name: String,
    path: PathBuf,
    next: u64,
}

/// Recovery statistics, logged at open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    pub segments: usize,
    pub records: usize,
    /// Bytes cut from the end of segments (torn writes).
    pub truncated_bytes: u64,
    /// Segments skipped because they are of a newer format or unreadable.
    pub skipped_segments: usize,
}

/// The queue. See the module documentation.
#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
    cap_bytes: u64,
    segment_bytes: u64,
    segments: BTreeMap<u64, Segment>,
    index: BTreeMap<u64, Loc>,
    next_seq: u64,
    active: Option<(u64, File)>,
    readers: HashMap<u64, File>,
    cursors: Vec<Cursor>,
    total_bytes: u64,
    recovery: Recovery,
}

impl Queue {
    /// Opens (or creates) the queue in `dir` for the sinks named `sinks`, recovering whatever a
    /// previous run left: torn tails are cut, cursors of sinks no longer configured removed, and
    /// a sink without a cursor starts at the oldest record still queued.
    pub fn open(dir: &Path, sinks: &[String], cap_bytes: u64) -> Result<Queue, QueueError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let cap_bytes = cap_bytes.max(1024 * 1024);
        let mut q = Queue {
            dir: dir.to_path_buf(),
            cap_bytes,
            // Small enough that delivered alerts are freed soon and a rewrite on overflow is
            // cheap, large enough that a busy hour makes a handful of files.
            segment_bytes: (cap_bytes / 16).clamp(64 * 1024, 4 * 1024 * 1024),
            segments: BTreeMap::new(),
            index: BTreeMap::new(),
            next_seq: 1,
            active: None,
            readers: HashMap::new(),
            cursors: Vec::new(),
            total_bytes: 0,
            recovery: Recovery::default(),
        };
        q.recover_segments()?;
        q.recover_cursors(sinks)?;
        q.collect_garbage()?;
        Ok(q)
    }

    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn recover_segments(&mut self) -> Result<(), QueueError> {
        let mut numbers = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(hex) = name
                .strip_prefix("seg-")
                .and_then(|s| s.strip_suffix(".zgq"))
            {
                if let Ok(n) = u64::from_str_radix(hex, 16) {
                    numbers.push(n);
                }
            } else if name.ends_with(".tmp") {
                // A rewrite or cursor update that died before its rename: the original is intact.
                let _ = fs::remove_file(entry.path());
            }
        }
        numbers.sort_unstable();
        let last = numbers.last().copied();
        for n in numbers {
            let path = self.segment_path(n);
            let mut data = Vec::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut data))
                .map_err(io_err(&path))?;
            if data.len() < SEGMENT_HEADER_LEN as usize || &data[..4] != SEGMENT_MAGIC {
                tracing::error!(path = %path.display(), "Skipped a queue segment without a valid header.");
                self.recovery.skipped_segments += 1;
                continue;
            }
            let version = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
            if version != QUEUE_FORMAT {
                tracing::error!(path = %path.display(), version, "Skipped a queue segment of another format version.");
                self.recovery.skipped_segments += 1;
                continue;
            }
            let mut offset = SEGMENT_HEADER_LEN as usize;
            while let Some((record, len)) = decode_record(&data[offset..]) {
                self.index.insert(
                    record.seq,
                    Loc {
                        segment: n,
                        offset: offset as u64,
                        len: len as u32,
                        severity: record.severity,
                    },
                );
                self.next_seq = self.next_seq.max(record.seq + 1);
                self.recovery.records += 1;
                offset += len;
            }
            if offset < data.len() {
                // A torn or corrupt tail. Only the last segment can be torn by a crash; a bad
                // record elsewhere means disk damage, and what follows it cannot be trusted.
                let cut = (data.len() - offset) as u64;
                tracing::warn!(path = %path.display(), offset, bytes = cut, last = (Some(n) == last), "Cut a torn record from the alert queue.");
                self.recovery.truncated_bytes += cut;
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                f.set_len(offset as u64).map_err(io_err(&path))?;
                f.sync_all().map_err(io_err(&path))?;
            }
            self.total_bytes += offset as u64;
            self.segments.insert(
                n,
                Segment {
                    path,
                    bytes: offset as u64,
                },
            );
            self.recovery.segments += 1;
        }
        Ok(())
    }

    fn recover_cursors(&mut self, sinks: &[String]) -> Result<(), QueueError> {
        let oldest = self.index.keys().next().copied().unwrap_or(self.next_seq);
        let mut found: HashMap<String, u64> = HashMap::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(sink) = name.strip_prefix(CURSOR_PREFIX) else {
                continue;
            };
            if sink.ends_with(".tmp") {
                continue;
            }
            if !sinks.iter().any(|s| s == sink) {
                // A sink removed from agent.toml must not hold back garbage collection forever.
                tracing::info!(
                    sink,
                    "Removed the queue cursor of a sink no longer configured."
                );
                let _ = fs::remove_file(entry.path());
                continue;
            }
            let text = fs::read_to_string(entry.path()).unwrap_or_default();
            match text
                .trim()
                .strip_prefix(CURSOR_MAGIC)
                .and_then(|rest| rest.trim().parse::<u64>().ok())
            {
                Some(next) => {
                    found.insert(sink.to_string(), next);
                }
                None => {
                    // Unreadable: start from the oldest record (duplicates, never losses).
                    tracing::warn!(
                        sink,
                        "Unreadable queue cursor; redelivering from the oldest alert."
                    );
                }
            }
        }
        for name in sinks {
            let next = found.get(name).copied().unwrap_or(oldest);
            self.next_seq = self.next_seq.max(next);
            self.cursors.push(Cursor {
                name: name.clone(),
                path: self.dir.join(format!("{CURSOR_PREFIX}{name}")),
                next,
            });
        }
        Ok(())
    }

    fn segment_path(&self, n: u64) -> PathBuf {
        self.dir.join(format!("seg-{n:016x}.zgq"))
    }

    /// Appends `alerts` (severity, JSON) as one batch with one fsync; returns their sequence
    /// numbers and what the size cap dropped to make room.
    pub fn append(
        &mut self,
        alerts: &[(Severity, Vec<u8>)],
    ) -> Result<(Vec<u64>, DropReport), QueueError> {
        let mut seqs = Vec::with_capacity(alerts.len());
        let mut touched: Vec<u64> = Vec::new();
        let mut pending: Vec<(u64, Loc)> = Vec::new();
        for (severity, payload) in alerts {
            if payload.len() > MAX_PAYLOAD {
                return Err(QueueError::TooLarge(payload.len()));
            }
            let segment = self.writable_segment()?;
            let seq = self.next_seq + pending.len() as u64;
            let record = encode_record(seq, *severity, payload);
            let (Some((_, file)), Some(seg)) = (&self.active, self.segments.get_mut(&segment))
            else {
                return Err(QueueError::Io {
                    path: self.dir.clone(),
                    source: io::Error::other("active segment missing from the index"),
                });
            };
            let offset = seg.bytes;
            file.write_all_at(&record, offset)
                .map_err(io_err(&seg.path))?;
            seg.bytes += record.len() as u64;
            self.total_bytes += record.len() as u64;
            pending.push((
                seq,
                Loc {
                    segment,
                    offset,
                    len: record.len() as u32,
                    severity: *severity,
                },
            ));
            if touched.last() != Some(&segment) {
                touched.push(segment);
            }
            seqs.push(seq);
        }
        for n in &touched {
            let path = self.segment_path(*n);
            let file = match &self.active {
                Some((a, f)) if a == n => f.try_clone().map_err(io_err(&path))?,
                _ => OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?,
            };
            file.sync_data().map_err(io_err(&path))?;
        }
        // Only now, durable, do the records become visible to sinks.
        self.next_seq += pending.len() as u64;
        self.index.extend(pending);
        let report = self.enforce_cap()?;
        Ok((seqs, report))
    }

    /// The number of the segment to append to, rolling to a new one when the active one is full.
    fn writable_segment(&mut self) -> Result<u64, QueueError> {
        if let Some((n, _)) = &self.active {
            if self
                .segments
                .get(n)
                .is_some_and(|s| s.bytes < self.segment_bytes)
            {
                return Ok(*n);
            }
        }
        let n = self.segments.keys().next_back().map_or(1, |n| n + 1);
        let path = self.segment_path(n);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
        header[..4].copy_from_slice(SEGMENT_MAGIC);
        header[4..8].copy_from_slice(&QUEUE_FORMAT.to_le_bytes());
        file.write_all(&header).map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        self.total_bytes += SEGMENT_HEADER_LEN;
        self.segments.insert(
            n,
            Segment {
                path,
                bytes: SEGMENT_HEADER_LEN,
            },
        );
        self.active = Some((n, file));
        Ok(n)
    }

    /// Up to `max` records the sink `sink` has not delivered, oldest first.
    pub fn read(&mut self, sink: usize, max: usize) -> Result<Vec<QueuedAlert>, QueueError> {
        let Some(cursor) = self.cursors.get(sink) else {
            return Ok(Vec::new());
        };
        let locs: Vec<(u64, Loc)> = self
            .index
            .range(cursor.next..)
            .take(max)
            .map(|(s, l)| (*s, *l))
            .collect();
        let mut out = Vec::with_capacity(locs.len());
        for (seq, loc) in locs {
            let path = self.segment_path(loc.segment);
            if let std::collections::hash_map::Entry::Vacant(e) = self.readers.entry(loc.segment) {
                e.insert(File::open(&path).map_err(io_err(&path))?);
            }
            let Some(file) = self.readers.get(&loc.segment) else {
                continue;
            };
            let mut buf = vec![0u8; loc.len as usize];
            file.read_exact_at(&mut buf, loc.offset)
                .map_err(io_err(&path))?;
            match decode_record(&buf) {
                Some((record, _)) if record.seq == seq => out.push(record),
                _ => {
                    // The disk changed under us: skip the record rather than stall every sink.
                    tracing::error!(seq, path = %path.display(), "Skipped an alert whose record no longer checks out.");
                }
            }
        }
        Ok(out)
    }

    /// Records that sink `sink` delivered everything before `next`; persists its cursor and
    /// frees segments every sink is done with.
    pub fn ack(&mut self, sink: usize, next: u64) -> Result<(), QueueError> {
        let dir = self.dir.clone();
        let Some(cursor) = self.cursors.get_mut(sink) else {
            return Ok(());
        };
        if next <= cursor.next {
            return Ok(());
        }
        cursor.next = next;
        let tmp = cursor.path.with_extension("tmp");
        let write = || -> io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            writeln!(f, "{CURSOR_MAGIC} {next}")?;
            f.sync_all()?;
            fs::rename(&tmp, &cursor.path)
        };
        write().map_err(io_err(&cursor.path))?;
        sync_dir(&dir)?;
        self.collect_garbage()
    }

    /// The next record sink `sink` will deliver.
    pub fn cursor(&self, sink: usize) -> Option<u64> {
        self.cursors.get(sink).map(|c| c.next)
    }

    pub fn sink_names(&self) -> Vec<String> {
        self.cursors.iter().map(|c| c.name.clone()).collect()
    }

    /// Records sink `sink` has not delivered yet.
    pub fn pending(&self, sink: usize) -> u64 {
        self.cursors
            .get(sink)
            .map_or(0, |c| self.index.range(c.next..).count() as u64)
    }

    /// Records some sink has not delivered yet (the queue depth).
    pub fn depth(&self) -> u64 {
        let min = self.min_cursor();
        self.index.range(min..).count() as u64
    }

    /// Bytes of all segment files.
    pub fn bytes(&self) -> u64 {
        self.total_bytes
    }

    pub fn cap_bytes(&self) -> u64 {
        self.cap_bytes
    }

    fn min_cursor(&self) -> u64 {
        self.cursors
            .iter()
            .map(|c| c.next)
            .min()
            .unwrap_or(self.next_seq)
    }

    /// Deletes segments whose records every sink has delivered (never the active one). With no
    /// sink at all nothing is delivered, so nothing is freed here; the cap still bounds it.
    fn collect_garbage(&mut self) -> Result<(), QueueError> {
        if self.cursors.is_empty() {
            return Ok(());
        }
        let min = self.min_cursor();
        let active = self.active.as_ref().map(|(n, _)| *n);
        // Segments hold increasing, disjoint ranges of sequence numbers (appends are in order
        // and a rewrite never moves a record to another segment), so every segment before the
        // one holding the slowest sink's next record is delivered.
        let first_needed = self
            .index
            .range(min..)
            .next()
            .map_or(u64::MAX, |(_, l)| l.segment);
        let done: Vec<u64> = self
            .segments
            .keys()
            .copied()
            .filter(|n| *n < first_needed && Some(*n) != active)
            .collect();
        for n in done {
            self.remove_segment(n)?;
        }
        Ok(())
    }

    fn remove_segment(&mut self, n: u64) -> Result<(), QueueError> {
        if let Some(seg) = self.segments.remove(&n) {
            self.readers.remove(&n);
            match fs::remove_file(&seg.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&seg.path)(e)),
            }
            self.total_bytes = self.total_bytes.saturating_sub(seg.bytes);
            self.index.retain(|_, l| l.segment != n);
        }
        Ok(())
    }

    /// Brings the queue under its cap: first fully delivered segments, then undelivered records,
    /// lowest severity first and oldest first within a severity, down to 90% of the cap so the
    /// next alerts do not trigger another rewrite at once.
    fn enforce_cap(&mut self) -> Result<DropReport, QueueError> {
        let mut report = DropReport::default();
        if self.total_bytes <= self.cap_bytes {
            return Ok(report);
        }
        self.collect_garbage()?;
        if self.total_bytes <= self.cap_bytes {
            return Ok(report);
        }
        let target = self.cap_bytes / 10 * 9;
        let mut to_free = self.total_bytes.saturating_sub(target);
        let mut victims: Vec<u64> = Vec::new();
        'outer: for severity in Severity::ALL {
            for (seq, loc) in &self.index {
                if loc.severity != severity {
                    continue;
                }
                victims.push(*seq);
                *report.by_severity.entry(severity).or_default() += 1;
                to_free = to_free.saturating_sub(u64::from(loc.len));
                if to_free == 0 {
                    break 'outer;
                }
            }
        }
        if victims.is_empty() {
            return Ok(report);
        }
        report.dropped = victims.len() as u64;
        if let Some(first) = victims.iter().min() {
            report.oldest_time = self.read_time(*first);
        }
        // Close the active segment: every segment is then immutable and may be rewritten.
        self.active = None;
        let mut by_segment: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for seq in &victims {
            if let Some(loc) = self.index.get(seq) {
                by_segment.entry(loc.segment).or_default().push(*seq);
            }
        }
        for (segment, seqs) in by_segment {
            self.rewrite_without(segment, &seqs)?;
        }
        tracing::warn!(
            dropped = report.dropped,
            bytes = self.total_bytes,
            cap = self.cap_bytes,
            "Alert queue over its cap: dropped the oldest lowest-severity alerts."
        );
        Ok(report)
    }

    fn read_time(&mut self, seq: u64) -> Option<String> {
        let loc = *self.index.get(&seq)?;
        let path = self.segment_path(loc.segment);
        let file = File::open(&path).ok()?;
        let mut buf = vec![0u8; loc.len as usize];
        file.read_exact_at(&mut buf, loc.offset).ok()?;
        let (record, _) = decode_record(&buf)?;
        #[derive(serde::Deserialize)]
        struct TimeOnly {
            time: String,
        }
        serde_json::from_slice::<TimeOnly>(&record.payload)
            .ok()
            .map(|t| t.time)
    }

    /// Rewrites segment `n` without the records `drop` (new file, fsync, rename over the old).
    fn rewrite_without(&mut self, n: u64, drop: &[u64]) -> Result<(), QueueError> {
        let path = self.segment_path(n);
        let keep: Vec<(u64, Loc)> = self
            .index
            .iter()
            .filter(|(s, l)| l.segment == n && !drop.contains(s))
            .map(|(s, l)| (*s, *l))
            .collect();
        if keep.is_empty() {
            return self.remove_segment(n);
        }
        let old = File::open(&path).map_err(io_err(&path))?;
        let tmp = path.with_extension("tmp");
        let mut out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
        header[..4].copy_from_slice(SEGMENT_MAGIC);
        header[4..8].copy_from_slice(&QUEUE_FORMAT.to_le_bytes());
        let mut data = header.to_vec();
        let mut moved = Vec::with_capacity(keep.len());
        for (seq, loc) in keep {
            let mut buf = vec![0u8; loc.len as usize];
            old.read_exact_at(&mut buf, loc.offset)
                .map_err(io_err(&path))?;
            moved.push((
                seq,
                Loc {
                    offset: data.len() as u64,
                    ..loc
                },
            ));
            data.extend_from_slice(&buf);
        }
        out.write_all(&data).map_err(io_err(&tmp))?;
        out.sync_all().map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        self.readers.remove(&n);
        for seq in drop {
            self.index.remove(seq);
        }
        self.index.extend(moved);
        if let Some(seg) = self.segments.get_mut(&n) {
            self.total_bytes = self.total_bytes - seg.bytes + data.len() as u64;
            seg.bytes = data.len() as u64;
        }
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> Result<(), QueueError> {
    // A new or renamed file is durable only once its directory entry is.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

fn encode_record(seq: u64, severity: Severity, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER_LEN + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.push(severity.code());
    out.extend_from_slice(&[0u8; 3]);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[8..]);
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    out
}

/// One record from the start of `data`, and its length; None for a torn or corrupt record.
fn decode_record(data: &[u8]) -> Option<(QueuedAlert, usize)> {
    if data.len() < RECORD_HEADER_LEN {
        return None;
    }
    let len = u32::from_le_bytes(data[0..4].try_into().ok()?) as usize;
    if len > MAX_PAYLOAD || data.len() < RECORD_HEADER_LEN + len {
        return None;
    }
    let total = RECORD_HEADER_LEN + len;
    let crc = u32::from_le_bytes(data[4..8].try_into().ok()?);
    if crc32fast::hash(&data[8..total]) != crc {
        return None;
    }
    let seq = u64::from_le_bytes(data[8..16].try_into().ok()?);
    let severity = Severity::from_code(data[16])?;
    Some((
        QueuedAlert {
            seq,
            severity,
            payload: data[RECORD_HEADER_LEN..total].to_vec(),
        },
        total,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "zga-queue-{}-{}-{}",
            tag,
            std::process::id(),
            crate::id::os_random_u64()
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn alert(n: u64, sev: Severity) -> (Severity, Vec<u8>) {
        (
            sev,
            format!(r#"{{"time":"t{n}","n":{n},"pad":"{}"}}"#, "x".repeat(200)).into_bytes(),
        )
    }

    #[test]
    fn every_sink_reads_everything_and_garbage_follows_the_slowest() {
        let dir = tmpdir("gc");
        let sinks = vec!["a".to_string(), "b".to_string()];
        let mut q = Queue::open(&dir, &sinks, 1 << 20).unwrap();
        let batch: Vec<_> = (0..1000).map(|n| alert(n, Severity::Low)).collect();
        let (seqs, report) = q.append(&batch).unwrap();
        assert_eq!(seqs.len(), 1000);
        assert_eq!(report.dropped, 0);
        let segs_before = q.segments.len();
        assert!(segs_before > 2, "{segs_before}");
        let all = q.read(0, 5000).unwrap();
        assert_eq!(all.len(), 1000);
        q.ack(0, all.last().unwrap().seq + 1).unwrap();
        assert_eq!(q.segments.len(), segs_before, "b has delivered nothing");
        assert_eq!(q.pending(1), 1000);
        let some = q.read(1, 600).unwrap();
        q.ack(1, some.last().unwrap().seq + 1).unwrap();
        assert!(q.segments.len() < segs_before);
        assert_eq!(q.depth(), 400);
        // Reopen: cursors and remaining records survive.
        drop(q);
        let mut q = Queue::open(&dir, &sinks, 1 << 20).unwrap();
        assert_eq!(q.pending(0), 0);
        assert_eq!(q.pending(1), 400);
        assert_eq!(q.read(1, 1).unwrap()[0].seq, seqs[600]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_tail_is_cut_and_later_appends_continue() {
        let dir = tmpdir("torn");
        let sinks = vec!["a".to_string()];
        let mut q = Queue::open(&dir, &sinks, 1 << 20).unwrap();
        q.append(&[alert(1, Severity::High), alert(2, Severity::High)])
            .unwrap();
        let seg = q.segment_path(1);
        drop(q);
        // Simulate a crash mid-write: half a record at the end.
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        let rec = encode_record(3, Severity::High, b"{\"time\":\"t3\"}");
        f.write_all(&rec[..rec.len() / 2]).unwrap();
        drop(f);
        let mut q = Queue::open(&dir, &sinks, 1 << 20).unwrap();
        assert_eq!(q.recovery().records, 2);
        assert!(q.recovery().truncated_bytes > 0);
        let (seqs, _) = q.append(&[alert(3, Severity::High)]).unwrap();
        assert_eq!(seqs, vec![3]);
        let got = q.read(0, 10).unwrap();
        assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_cap_drops_oldest_lowest_severity_first() {
        let dir = tmpdir("cap");
        let sinks = vec!["a".to_string()];
        let mut q = Queue::open(&dir, &sinks, 1 << 20).unwrap();
        // ~250 bytes per record, 1 MiB cap: 6000 records overflow it.
        let mut batch = Vec::new();
        for n in 0..6000u64 {
            let sev = match n % 3 {
                0 => Severity::Info,
                1 => Severity::Critical,
                _ => Severity::High,
            };
            batch.push(alert(n, sev));
        }
        let mut dropped = DropReport::default();
        for chunk in batch.chunks(500) {
            let (_, r) = q.append(chunk).unwrap();
            dropped.dropped += r.dropped;
            for (s, n) in r.by_severity {
                *dropped.by_severity.entry(s).or_default() += n;
            }
        }
        assert!(
            q.bytes() <= q.cap_bytes(),
            "{} > {}",
            q.bytes(),
            q.cap_bytes()
        );
        assert!(dropped.dropped > 0);
        // Info went first; critical never while info or high remained.
        assert!(dropped.by_severity.contains_key(&Severity::Info));
        assert!(!dropped.by_severity.contains_key(&Severity::Critical));
        let left = q.read(0, 10_000).unwrap();
        let crit = left
            .iter()
            .filter(|r| r.severity == Severity::Critical)
            .count();
        assert_eq!(crit, 2000, "every critical alert is still queued");
        // Sequence order is kept after rewrites.
        assert!(left.windows(2).all(|w| w[0].seq < w[1].seq));
        drop(q);
        let q = Queue::open(&dir, &sinks, 1 << 20).unwrap();
        assert_eq!(q.recovery().records, left.len());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn removed_sinks_release_their_records_and_new_sinks_start_at_the_oldest() {
        let dir = tmpdir("sinks");
        let mut q = Queue::open(&dir, &["a".into(), "b".into()], 1 << 20).unwrap();
        q.append(&[alert(1, Severity::Low), alert(2, Severity::Low)])
            .unwrap();
        q.ack(0, 3).unwrap();
        drop(q);
        let q = Queue::open(&dir, &["a".into(), "c".into()], 1 << 20).unwrap();
        assert_eq!(q.pending(0), 0);
        assert_eq!(q.pending(1), 2, "a new sink gets what is still queued");
        assert!(!dir.join("cursor-b").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
