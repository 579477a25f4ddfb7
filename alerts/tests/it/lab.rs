//! The namespace lab shared by the NFLOG test and the flood bench (which includes this file
//! with `#[path]`): a client namespace `a` (10.20.0.2/22) and a server namespace `b`
//! (10.10.0.5/24) joined through a forwarding gateway namespace `gw` by veth pairs. Names are
//! `zga<pid>x<n>...`, unique per process and lab, and a drop guard deletes them whatever fails;
//! `scripts/lib.sh` removes those of dead processes. Root only: `require_root` skips loudly.

use nix::sched::{setns, CloneFlags};
use std::fs::File;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

pub const REQUIRE_ENV: &str = "ZONEGATE_E2E_REQUIRE";

/// Whether this process may build namespaces; prints a loud banner when not (or panics in CI).
pub fn require_root(test: &str) -> bool {
    let missing = if !nix::unistd::geteuid().is_root() {
        Some("not root")
    } else if !std::path::Path::new("/usr/sbin/ip").exists() && which("ip").is_none() {
        Some("no `ip` (iproute2)")
    } else if which("nft").is_none() && !std::path::Path::new("/usr/sbin/nft").exists() {
        Some("no `nft`")
    } else {
        None
    };
    let Some(reason) = missing else {
        return true;
    };
    let banner = format!(
        "\n==============================================================================\n\
         SKIPPED: {test} needs root, iproute2 and nft ({reason})\n\
         Set {REQUIRE_ENV}=1 to make this skip a failure.\n\
         ==============================================================================\n"
    );
    if std::env::var(REQUIRE_ENV).is_ok_and(|v| !v.is_empty() && v != "0") {
        panic!("{banner}");
    }
    let _ = writeln!(std::io::stderr().lock(), "{banner}");
    false
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(cmd))
        .find(|p| p.exists())
}

pub fn run(args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Three namespaces: `a` (client, zone lgwan) -- `gw` -- `b` (server, zone mynumber).
pub struct Lab {
    pub gw: String,
    pub a: String,
    pub b: String,
}

impl Lab {
    /// `gw_a` and `gw_b` name the gateway's interfaces towards `a` and `b`.
    pub fn new(gw_a: &str, gw_b: &str) -> Lab {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = format!(
            "zga{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let lab = Lab {
            gw: format!("{p}gw"),
            a: format!("{p}a"),
            b: format!("{p}b"),
        };
        // From here on the guard deletes whatever was created, whatever fails next.
        for ns in [&lab.gw, &lab.a, &lab.b] {
            run(&["ip", "netns", "add", ns], None);
        }
        let (gw, a, b) = (&lab.gw, &lab.a, &lab.b);
        for (dev, peer, ns) in [(gw_a, "a0", a), (gw_b, "b0", b)] {
            run(
                &[
                    "ip", "-n", gw, "link", "add", dev, "type", "veth", "peer", "name", peer,
                    "netns", ns,
                ],
                None,
            );
        }
        for (ns, dev, addr) in [
            (gw, gw_a, "10.20.0.1/22"),
            (gw, gw_b, "10.10.0.1/24"),
            (a, "a0", "10.20.0.2/22"),
            (b, "b0", "10.10.0.5/24"),
        ] {
            run(&["ip", "-n", ns, "addr", "add", addr, "dev", dev], None);
            run(&["ip", "-n", ns, "link", "set", dev, "up"], None);
        }
        for ns in [gw, a, b] {
            run(&["ip", "-n", ns, "link", "set", "lo", "up"], None);
        }
        run(
            &["ip", "-n", a, "route", "add", "default", "via", "10.20.0.1"],
            None,
        );
        run(
            &["ip", "-n", b, "route", "add", "default", "via", "10.10.0.1"],
            None,
        );
        run(
            &[
                "ip",
                "netns",
                "exec",
                gw,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
            None,
        );
        lab
    }

    /// Runs `f` on a new thread inside namespace `ns` (never setns on the libtest thread).
    pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{ns}");
        thread::spawn(move || {
            let fd = File::open(&path).unwrap();
            setns(&fd, CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.gw, &self.a, &self.b] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}
