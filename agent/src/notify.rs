//! systemd notification without libsystemd: one datagram to `$NOTIFY_SOCKET` (a path, or an
//! abstract name starting with `@`). `READY=1` after the first successful apply, `WATCHDOG=1`
//! from the main loop, `STOPPING=1` on a clean stop. Without `$NOTIFY_SOCKET` it does nothing.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// The notify socket, if systemd gave us one.
pub struct Notifier {
    target: Option<String>,
}

impl Notifier {
    pub fn from_env() -> Notifier {
        Notifier {
            target: std::env::var("NOTIFY_SOCKET")
                .ok()
                .filter(|s| !s.is_empty()),
        }
    }

    fn send(&self, msg: &str) {
        let Some(target) = &self.target else {
            return;
        };
        let Ok(sock) = UnixDatagram::unbound() else {
            return;
        };
        let _ = if let Some(name) = target.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            match std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()) {
                Ok(addr) => sock.send_to_addr(msg.as_bytes(), &addr).map(|_| ()),
                Err(e) => Err(e),
            }
        } else {
            sock.send_to(msg.as_bytes(), target).map(|_| ())
        };
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}"));
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// Half the watchdog period systemd asked for (`$WATCHDOG_USEC`), if any.
    pub fn watchdog_interval() -> Option<Duration> {
        let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
        (usec > 0).then(|| Duration::from_micros(usec / 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_ready_to_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("zg-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).expect("bind");
        let n = Notifier {
            target: Some(path.display().to_string()),
        };
        n.ready("applied");
        let mut buf = [0u8; 128];
        let len = server.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=applied");
        Notifier { target: None }.watchdog();
    }
}
