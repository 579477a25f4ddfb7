//! Settled writes of the policy file: editors and scp write in place, so the
//! agent reacts only to a finished write (IN_CLOSE_WRITE) or a rename into place (IN_MOVED_TO,
//! what `mv` and atomic savers do), and then waits for the file to stay quiet for a settle delay
//! before reading it once. The directory is watched, not the file, so replacing the file by
//! rename is seen.

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

/// How long the file must stay quiet after a finished write.
pub const SETTLE: std::time::Duration = std::time::Duration::from_millis(300);

pub struct PolicyWatch {
    inotify: Inotify,
    name: OsString,
}

impl AsFd for PolicyWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }
}

impl PolicyWatch {
    pub fn open(policy: &Path) -> io::Result<PolicyWatch> {
        let dir = policy
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = policy
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        inotify
            .add_watch(
                dir,
                AddWatchFlags::IN_CLOSE_WRITE
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_MODIFY
                    | AddWatchFlags::IN_CREATE,
            )
            .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        Ok(PolicyWatch { inotify, name })
    }

    /// Drains events; returns (activity on the file, a finished write or rename).
    pub fn drain(&self) -> (bool, bool) {
        let mut activity = false;
        let mut finished = false;
        while let Ok(events) = self.inotify.read_events() {
            if events.is_empty() {
                break;
            }
            for e in events {
                if e.name.as_deref() != Some(self.name.as_os_str()) {
                    continue;
                }
                activity = true;
                if e.mask
                    .intersects(AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO)
                {
                    finished = true;
                }
            }
        }
        (activity, finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_finished_writes_and_renames_only_for_the_policy() {
        let dir = std::env::temp_dir().join(format!("zg-watch-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let policy = dir.join("zones.toml");
        let w = PolicyWatch::open(&policy).expect("watch");
        std::fs::write(dir.join("other.toml"), "x").expect("write");
        assert_eq!(w.drain(), (false, false));
        std::fs::write(&policy, "x").expect("write");
        assert_eq!(w.drain(), (true, true));
        std::fs::write(dir.join("tmp"), "y").expect("write");
        let _ = w.drain();
        std::fs::rename(dir.join("tmp"), &policy).expect("rename");
        assert_eq!(w.drain(), (true, true));
    }
}
