//! Network-namespace labs: one gateway namespace plus one host namespace per segment, joined by
//! veth pairs, built with `/usr/sbin/ip` and torn down by a drop guard.
//!
//! A [`Lab`] never touches the initial network namespace: each veth end is created directly inside
//! its namespace, and every sysctl is written from a thread that has entered the lab namespace.
//! Names are globally unique (`zgt<pid>x<counter>g` for the gateway, `…h<i>` for hosts) so tests
//! may run in parallel in one process or in many; [`cleanup_stale`] removes what a killed run
//! left behind (the first [`Lab::up`] of each process calls it too). [`in_ns`] runs a closure inside a namespace on a fresh thread, the only safe way to
//! use `setns` in a multi-threaded test binary; sockets created there stay in that namespace
//! when they are handed back to the caller. This module knows nothing about firewalls: it builds
//! the wires, [`crate::probe`] and [`crate::spoof`] put traffic on them.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

use pnet::util::MacAddr;

/// Absolute path of iproute2's `ip`; absolute so a test's `PATH` cannot change what runs as root.
pub const IP: &str = "/usr/sbin/ip";
/// Absolute path of `nft`.
pub const NFT: &str = "/usr/sbin/nft";
/// Prefix of every namespace a [`Lab`] creates; [`cleanup_stale`] is called with it.
pub const NS_PREFIX: &str = "zgt";
/// Where `ip netns` keeps its namespace handles.
const NETNS_DIR: &str = "/run/netns";
/// Name of the host end of every veth pair (inside the host namespace).
pub const HOST_IF: &str = "eth0";
/// How long [`Lab::up`] waits for links to come up and addresses to become usable.
const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// Interface index of the gateway end of segment `i` is `GW_IFINDEX_BASE + i`.
const GW_IFINDEX_BASE: usize = 100;
/// Interface index of the host end (`eth0`) of segment `i` is `HOST_IFINDEX_BASE + i`.
const HOST_IFINDEX_BASE: usize = 1000;
/// Most segments per lab (keeps the two index ranges apart).
const MAX_SEGMENTS: usize = HOST_IFINDEX_BASE - GW_IFINDEX_BASE;
/// Set to a non-empty value other than `0` to turn a missing-privilege skip into a failure (CI).
pub const REQUIRE_ENV: &str = "ZONEGATE_E2E_REQUIRE";

/// Per-process counter that makes lab names unique within this process; the pid makes them
/// unique across processes.
static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);
/// Guards the once-per-process sweep of stale namespaces in [`Lab::up`].
static STALE_SWEEP: Once = Once::new();

/// Why a lab could not be built or used.
#[derive(Debug)]
pub enum LabError {
    /// The [`LabSpec`] is unusable (bad interface name, address, MAC address, duplicate).
    Spec(String),
    /// A file, socket, thread or `setns` operation failed.
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A command ran and exited unsuccessfully.
    Command {
        /// The command line, for the reader.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its standard error, verbatim.
        stderr: String,
    },
    /// Links or addresses did not become usable in time.
    NotReady(String),
}

impl LabError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        LabError::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabError::Spec(msg) => write!(f, "invalid lab spec: {msg}"),
            LabError::Io { context, source } => write!(f, "{context}: {source}"),
            LabError::Command {
                command,
                status,
                stderr,
            } => write!(f, "`{command}` failed ({status}): {}", stderr.trim_end()),
            LabError::NotReady(msg) => write!(f, "lab not ready: {msg}"),
        }
    }
}

impl std::error::Error for LabError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LabError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Address family selector for the address accessors of [`Lab`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of `ip`.
    pub fn of(ip: IpAddr) -> Family {
        if ip.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
}

/// The topology to build: one gateway namespace and one host namespace per segment. With no
/// segments the lab is a lone gateway namespace (enough for loading rulesets with `nft`).
#[derive(Debug, Clone, Default)]
pub struct LabSpec {
    /// The segments, in order; host `i` of the lab belongs to `segments[i]`.
    pub segments: Vec<SegmentSpec>,
}

/// One segment: a veth pair from the gateway (`gw_if`) to a host namespace (`eth0`).
#[derive(Debug, Clone)]
pub struct SegmentSpec {
    /// Gateway-side interface name, e.g. `"ens3"` (1–15 bytes; names are per namespace).
    pub gw_if: String,
    /// Addresses on `gw_if` in CIDR form, e.g. `"10.10.0.1/24"`, `"fd00:10::1/64"`. The first
    /// address of each family is the host's default gateway for that family.
    pub gw_addrs: Vec<String>,
    /// Every address the host carries on `eth0`, e.g. `"10.10.0.5/24"`, `"fd00:10::5/64"`.
    pub host_addrs: Vec<String>,
    /// MAC address for the host's `eth0`, e.g. `"02:00:00:00:10:05"`; the kernel picks one if
    /// `None`.
    pub host_mac: Option<String>,
}

impl SegmentSpec {
    /// A segment without a fixed host MAC address.
    pub fn new(gw_if: &str, gw_addrs: &[&str], host_addrs: &[&str]) -> SegmentSpec {
        SegmentSpec {
            gw_if: gw_if.to_string(),
            gw_addrs: gw_addrs.iter().map(|s| s.to_string()).collect(),
            host_addrs: host_addrs.iter().map(|s| s.to_string()).collect(),
            host_mac: None,
        }
    }

    /// The same segment with `eth0` set to `mac`.
    pub fn with_mac(mut self, mac: &str) -> SegmentSpec {
        self.host_mac = Some(mac.to_string());
        self
    }
}

/// An address with its prefix length, as validated from a spec string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    ip: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Result<Cidr, LabError> {
        let (ip_text, prefix_text) = match text.split_once('/') {
            Some((ip, prefix)) => (ip, Some(prefix)),
            None => (text, None),
        };
        // Validate here: `ip` would happily look an invalid address up as a host name.
        let ip = IpAddr::from_str(ip_text)
            .map_err(|_| LabError::Spec(format!("{text:?} is not an IP address")))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| LabError::Spec(format!("{text:?} has a bad prefix length")))?,
        };
        Ok(Cidr { ip, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix)
    }
}

/// A validated segment with the name of its host namespace.
#[derive(Debug, Clone)]
struct Segment {
    gw_if: String,
    host_ns: String,
    gw_addrs: Vec<Cidr>,
    host_addrs: Vec<Cidr>,
    host_mac: Option<MacAddr>,
}

/// A running lab. Dropping it deletes every namespace it created (also while unwinding from a
/// panic), which also destroys their veths, nft tables and conntrack entries.
#[derive(Debug)]
pub struct Lab {
    gw: String,
    segments: Vec<Segment>,
    /// Namespaces this lab owns and must delete, recorded before they are created so a failed
    /// `up` cleans up whatever part it managed to build.
    owned: Vec<String>,
}

impl Lab {
    /// Builds the lab described by `spec` and waits until every link is up and every address is
    /// usable (no tentative IPv6 address), so traffic can flow as soon as this returns.
    pub fn up(spec: &LabSpec) -> Result<Lab, LabError> {
        // Once per process, sweep what killed runs left behind, so a crashed suite cannot fill
        // /run/netns over time even when nothing calls `cleanup_stale` explicitly. Only
        // namespaces of dead pids go, so concurrent test processes are safe.
        STALE_SWEEP.call_once(|| {
            if let Err(e) = cleanup_stale(NS_PREFIX) {
                eprintln!("zonegate-e2e: sweeping stale lab namespaces failed: {e}");
            }
        });
        let n = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let base = format!("{NS_PREFIX}{}x{n}", std::process::id());
        let gw = format!("{base}g");
        let segments = validate(spec, &base)?;

        let mut all = vec![gw.clone()];
        all.extend(segments.iter().map(|s| s.host_ns.clone()));
        let lab = Lab {
            gw,
            segments,
            owned: all.clone(),
        };

        // Our counter makes these names unique within this process, so an existing namespace
        // with one of them was left by an earlier process that had our pid and died: it is stale.
        let stale: Vec<String> = all.iter().filter(|ns| netns_exists(ns)).cloned().collect();
        delete_namespaces(&stale)?;

        let adds: Vec<String> = all.iter().map(|ns| format!("netns add {ns}")).collect();
        ip_batch(None, &adds, false)?;

        // Sysctls before the veths exist, so the new interfaces inherit `default.accept_dad=0`.
        try_in_ns(&lab.gw, || write_sysctls(true))??;
        for seg in &lab.segments {
            try_in_ns(&seg.host_ns, || write_sysctls(false))??;
        }

        // Each veth end is born inside its namespace: nothing appears in the initial namespace,
        // and the same names (`eth0`, `gw_if`) can repeat across labs. Explicit, different
        // ifindexes for the two ends: in fresh namespaces both would otherwise get index 2, and
        // the kernel treats a carrier change on a device whose peer index equals its own as
        // non-urgent, delaying link-up (and qdisc activation) by up to a second.
        let links: Vec<String> = lab
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    "link add {} netns {} index {} type veth peer name {HOST_IF} netns {} index {}",
                    s.gw_if,
                    lab.gw,
                    GW_IFINDEX_BASE + i,
                    s.host_ns,
                    HOST_IFINDEX_BASE + i
                )
            })
            .collect();
        ip_batch(None, &links, false)?;

        // The gateway first: its ends are up before the hosts add routes through them.
        let mut gw_lines = vec!["link set lo up".to_string()];
        for seg in &lab.segments {
            for a in &seg.gw_addrs {
                gw_lines.push(addr_add_line(a, &seg.gw_if));
            }
            gw_lines.push(format!("link set {} up", seg.gw_if));
        }
        ip_batch(Some(&lab.gw), &gw_lines, false)?;

        for seg in &lab.segments {
            let mut lines = vec!["link set lo up".to_string()];
            if let Some(mac) = seg.host_mac {
                lines.push(format!("link set {HOST_IF} address {mac}"));
            }
            for a in &seg.host_addrs {
                lines.push(addr_add_line(a, HOST_IF));
            }
            lines.push(format!("link set {HOST_IF} up"));
            // `0.0.0.0/0` and `::/0` rather than `default`, which would need a family flag.
            if let Some(v4) = seg.gw_addrs.iter().find(|a| a.ip.is_ipv4()) {
                lines.push(format!("route add 0.0.0.0/0 via {}", v4.ip));
            }
            if let Some(v6) = seg.gw_addrs.iter().find(|a| a.ip.is_ipv6()) {
                lines.push(format!("route add ::/0 via {}", v6.ip));
            }
            ip_batch(Some(&seg.host_ns), &lines, false)?;
        }

        lab.wait_ready(READY_TIMEOUT)?;
        Ok(lab)
    }

    /// Name of the gateway namespace.
    pub fn gw(&self) -> &str {
        &self.gw
    }

    /// Name of the host namespace of segment `i`. Panics if there is no such segment.
    pub fn host(&self, i: usize) -> &str {
        &self.segment(i).host_ns
    }

    /// Name of the host namespace behind gateway interface `gw_if`. Panics if there is none.
    pub fn host_of(&self, gw_if: &str) -> &str {
        match self.segments.iter().find(|s| s.gw_if == gw_if) {
            Some(seg) => &seg.host_ns,
            None => panic!("lab {} has no gateway interface {gw_if:?}", self.gw),
        }
    }

    /// Gateway-side interface name of segment `i`. Panics if there is no such segment.
    pub fn gw_if(&self, i: usize) -> &str {
        &self.segment(i).gw_if
    }

    /// Every namespace of the lab, gateway first.
    pub fn namespaces(&self) -> Vec<&str> {
        self.owned.iter().map(String::as_str).collect()
    }

    /// All addresses of host `i` (without prefix length), in spec order.
    pub fn host_addrs(&self, i: usize) -> Vec<IpAddr> {
        self.segment(i).host_addrs.iter().map(|c| c.ip).collect()
    }

    /// All addresses of the gateway on segment `i`, in spec order.
    pub fn gw_addrs(&self, i: usize) -> Vec<IpAddr> {
        self.segment(i).gw_addrs.iter().map(|c| c.ip).collect()
    }

    /// The first address of `family` on host `i`. Panics if the host has none.
    pub fn host_ip(&self, i: usize, family: Family) -> IpAddr {
        match self
            .host_addrs(i)
            .into_iter()
            .find(|ip| Family::of(*ip) == family)
        {
            Some(ip) => ip,
            None => panic!("host {i} of lab {} has no {family:?} address", self.gw),
        }
    }

    /// The first address of `family` on the gateway side of segment `i` (the host's default
    /// gateway). Panics if there is none.
    pub fn gw_ip(&self, i: usize, family: Family) -> IpAddr {
        match self
            .gw_addrs(i)
            .into_iter()
            .find(|ip| Family::of(*ip) == family)
        {
            Some(ip) => ip,
            None => panic!("segment {i} of lab {} has no {family:?} gateway", self.gw),
        }
    }

    /// MAC address of the gateway's interface `gw_if` (the destination MAC for frames a host
    /// forges towards the gateway).
    pub fn gw_mac(&self, gw_if: &str) -> Result<MacAddr, LabError> {
        link_mac(&self.gw, gw_if)
    }

    /// MAC address of host `i`'s `eth0`.
    pub fn host_mac(&self, i: usize) -> Result<MacAddr, LabError> {
        link_mac(self.host(i), HOST_IF)
    }

    /// Runs `/usr/sbin/nft ARGS` inside `ns` (one of this lab's namespaces), feeding `stdin` if
    /// given (use `&["-f", "-"]` to load it). Never fails: a spawn failure comes back as exit
    /// status 127 with the reason on stderr.
    pub fn nft(&self, ns: &str, args: &[&str], stdin: Option<&str>) -> Output {
        self.check_owned(ns);
        nft_in(ns, args, stdin)
    }

    /// Like [`Lab::nft`] but returns stdout on success and the full stderr as the error.
    pub fn nft_ok(&self, ns: &str, args: &[&str], stdin: Option<&str>) -> Result<String, LabError> {
        let out = self.nft(ns, args, stdin);
        output_ok(NFT, args, out)
    }

    /// Runs `argv` (program first, preferably an absolute path) inside `ns`. Same failure
    /// convention as [`Lab::nft`]. Note: `/sys` still shows the initial namespace (only
    /// `ip netns exec` remounts it).
    pub fn exec(&self, ns: &str, argv: &[&str]) -> Output {
        self.check_owned(ns);
        match argv.split_first() {
            Some((program, args)) => exec_in(ns, program, args, None),
            None => spawn_failure("exec: empty argv".to_string()),
        }
    }

    fn segment(&self, i: usize) -> &Segment {
        match self.segments.get(i) {
            Some(seg) => seg,
            None => panic!(
                "lab {} has {} segments, no segment {i}",
                self.gw,
                self.segments.len()
            ),
        }
    }

    /// Commands run as root; refuse to run them anywhere but in our own namespaces.
    fn check_owned(&self, ns: &str) {
        assert!(
            self.owned.iter().any(|o| o == ns),
            "namespace {ns:?} does not belong to lab {}; refusing to run commands there",
            self.gw
        );
    }

    /// Polls `ip -j addr` in every namespace until every veth is operationally up with carrier
    /// and no address is tentative.
    fn wait_ready(&self, timeout: Duration) -> Result<(), LabError> {
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<&str> = self.namespaces();
        loop {
            let mut still = Vec::new();
            let mut last_reason = String::new();
            for ns in pending {
                let out = run(IP, &["-n", ns, "-j", "addr", "show"], None)?;
                let json: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
                    LabError::NotReady(format!("cannot parse `ip -j addr` in {ns}: {e}"))
                })?;
                if let Some(reason) = not_ready_reason(&json)? {
                    last_reason = format!("{ns}: {reason}");
                    still.push(ns);
                }
            }
            if still.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LabError::NotReady(last_reason));
            }
            pending = still;
            thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Report, but never panic in drop (it may run while unwinding).
        if let Err(e) = delete_namespaces(&self.owned) {
            eprintln!("zonegate-e2e: lab teardown failed: {e}");
        }
    }
}

/// Validates `spec` and names the host namespaces.
fn validate(spec: &LabSpec, base: &str) -> Result<Vec<Segment>, LabError> {
    if spec.segments.len() > MAX_SEGMENTS {
        return Err(LabError::Spec(format!("at most {MAX_SEGMENTS} segments")));
    }
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (i, seg) in spec.segments.iter().enumerate() {
        let name = &seg.gw_if;
        let name_ok = !name.is_empty()
            && name.len() <= 15
            && name != "lo"
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_ok {
            return Err(LabError::Spec(format!(
                "segment {i}: interface name {name:?} must be 1-15 bytes of [A-Za-z0-9._-] and not \"lo\""
            )));
        }
        if !names.insert(name.clone()) {
            return Err(LabError::Spec(format!(
                "segment {i}: duplicate interface {name:?}"
            )));
        }
        let gw_addrs = seg
            .gw_addrs
            .iter()
            .map(|a| Cidr::parse(a))
            .collect::<Result<Vec<_>, _>>()?;
        let host_addrs = seg
            .host_addrs
            .iter()
            .map(|a| Cidr::parse(a))
            .collect::<Result<Vec<_>, _>>()?;
        let host_mac = match &seg.host_mac {
            None => None,
            Some(text) => {
                let mac = MacAddr::from_str(text)
                    .map_err(|_| LabError::Spec(format!("segment {i}: bad MAC {text:?}")))?;
                if mac.0 & 1 == 1 {
                    return Err(LabError::Spec(format!(
                        "segment {i}: MAC {text} is multicast; an interface needs a unicast one"
                    )));
                }
                Some(mac)
            }
        };
        out.push(Segment {
            gw_if: name.clone(),
            host_ns: format!("{base}h{i}"),
            gw_addrs,
            host_addrs,
            host_mac,
        });
    }
    Ok(out)
}

/// `addr add` line; IPv6 addresses get `nodad` so they are usable at once.
fn addr_add_line(a: &Cidr, dev: &str) -> String {
    if a.ip.is_ipv6() {
        format!("addr add {a} dev {dev} nodad")
    } else {
        format!("addr add {a} dev {dev}")
    }
}

/// Writes the per-namespace sysctls. Runs inside the namespace: `/proc/sys/net` shows the
/// network namespace of the calling thread.
fn write_sysctls(gateway: bool) -> Result<(), LabError> {
    let mut settings = vec![
        // No duplicate address detection: addresses (including link-local) usable at once.
        ("net/ipv6/conf/all/accept_dad", "0"),
        ("net/ipv6/conf/default/accept_dad", "0"),
        // ICMP errors (e.g. from `reject`) must not be rate limited away in fast tests.
        ("net/ipv4/icmp_ratelimit", "0"),
        ("net/ipv6/icmp/ratelimit", "0"),
    ];
    if gateway {
        settings.push(("net/ipv4/ip_forward", "1"));
        settings.push(("net/ipv6/conf/all/forwarding", "1"));
    }
    for (key, value) in settings {
        let path = Path::new("/proc/sys").join(key);
        std::fs::write(&path, value)
            .map_err(|e| LabError::io(format!("write {} = {value}", path.display()), e))?;
    }
    Ok(())
}

/// Why the namespace described by `ip -j addr show` output is not ready yet, if it is not.
fn not_ready_reason(json: &serde_json::Value) -> Result<Option<String>, LabError> {
    let links = json
        .as_array()
        .ok_or_else(|| LabError::NotReady("`ip -j addr` did not return a list".into()))?;
    for link in links {
        let name = link["ifname"].as_str().unwrap_or("?");
        if name == "lo" {
            continue;
        }
        let no_carrier = link["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "NO-CARRIER"));
        if link["operstate"] != "UP" || no_carrier {
            return Ok(Some(format!("{name} is not up yet")));
        }
        for addr in link["addr_info"].as_array().into_iter().flatten() {
            let local = addr["local"].as_str().unwrap_or("?");
            if addr["dadfailed"] == true {
                return Err(LabError::NotReady(format!(
                    "{name}: DAD failed for {local}"
                )));
            }
            if addr["tentative"] == true {
                return Ok(Some(format!("{name}: {local} is tentative")));
            }
        }
    }
    Ok(None)
}

/// MAC address of `dev` in `ns`, from `ip -j link show`.
fn link_mac(ns: &str, dev: &str) -> Result<MacAddr, LabError> {
    let out = run(IP, &["-n", ns, "-j", "link", "show", "dev", dev], None)?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| LabError::Spec(format!("cannot parse `ip -j link` for {dev} in {ns}: {e}")))?;
    json[0]["address"]
        .as_str()
        .and_then(|s| MacAddr::from_str(s).ok())
        .ok_or_else(|| LabError::Spec(format!("{dev} in {ns} has no MAC address")))
}

/// Runs `ip [-n NS] [-force] -batch -` with `lines` on stdin: one process for many commands.
fn ip_batch(ns: Option<&str>, lines: &[String], force: bool) -> Result<(), LabError> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut args: Vec<&str> = Vec::new();
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    if force {
        args.push("-force");
    }
    args.extend(["-batch", "-"]);
    let input = lines.join("\n") + "\n";
    run(IP, &args, Some(&input)).map(|_| ())
}

/// Runs `program args` in the current namespace; an unsuccessful exit is an error.
fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<Output, LabError> {
    let out = spawn_and_wait(program, args, stdin)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(command_error(program, args, &out))
    }
}

fn command_error(program: &str, args: &[&str], out: &Output) -> LabError {
    LabError::Command {
        command: std::iter::once(program)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" "),
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Spawns `program`, feeds `stdin` from a separate thread (so a large input cannot deadlock
/// against a full stdout pipe), and collects the output.
fn spawn_and_wait(program: &str, args: &[&str], stdin: Option<&str>) -> Result<Output, LabError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| LabError::io(format!("spawn {program}"), e))?;
    thread::scope(|scope| {
        let writer = match (stdin, child.stdin.take()) {
            (Some(text), Some(mut pipe)) => {
                Some(scope.spawn(move || pipe.write_all(text.as_bytes())))
            }
            _ => None,
        };
        let out = child
            .wait_with_output()
            .map_err(|e| LabError::io(format!("wait for {program}"), e))?;
        if let Some(writer) = writer {
            match writer.join() {
                Ok(Ok(())) => {}
                // A child that exits early (e.g. on a syntax error) closes its stdin; the exit
                // status and stderr already tell why, so a broken pipe is not the story.
                Ok(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {}
                Ok(Err(e)) => return Err(LabError::io(format!("write stdin of {program}"), e)),
                Err(_) => return Err(LabError::NotReady("stdin writer panicked".into())),
            }
        }
        Ok(out)
    })
}

/// An `Output` for a command that could not even be started: exit status 127 (the shell's
/// "command not found"), the reason on stderr.
fn spawn_failure(reason: String) -> Output {
    Output {
        status: ExitStatus::from_raw(127 << 8),
        stdout: Vec::new(),
        stderr: reason.into_bytes(),
    }
}

fn output_ok(program: &str, args: &[&str], out: Output) -> Result<String, LabError> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(command_error(program, args, &out))
    }
}

/// Runs `program args` inside `ns` by spawning it from a thread that entered the namespace (the
/// child inherits the thread's namespace; cheaper than `ip netns exec`).
fn exec_in(ns: &str, program: &str, args: &[&str], stdin: Option<&str>) -> Output {
    match try_in_ns(ns, || spawn_and_wait(program, args, stdin)) {
        Ok(Ok(out)) => out,
        Ok(Err(e)) | Err(e) => spawn_failure(format!("{program} in {ns}: {e}")),
    }
}

/// Runs `/usr/sbin/nft ARGS` inside namespace `ns` (any namespace, not only a lab's: prefer
/// [`Lab::nft`], which refuses foreign ones). Same failure convention as [`Lab::nft`].
pub fn nft_in(ns: &str, args: &[&str], stdin: Option<&str>) -> Output {
    exec_in(ns, NFT, args, stdin)
}

/// Path of the handle of namespace `ns`, refusing names that would escape `/run/netns`.
pub fn netns_path(ns: &str) -> Result<PathBuf, LabError> {
    if ns.is_empty() || ns == "." || ns == ".." || ns.contains('/') || ns.contains('\0') {
        return Err(LabError::Spec(format!("bad namespace name {ns:?}")));
    }
    Ok(Path::new(NETNS_DIR).join(ns))
}

fn netns_exists(ns: &str) -> bool {
    netns_path(ns).is_ok_and(|p| p.exists())
}

/// Runs `f` on a freshly spawned thread that has entered network namespace `ns`, and returns
/// its result. The calling thread (e.g. libtest's) never changes namespace. Sockets created in
/// `f` stay in `ns` when returned; processes spawned from `f` run in `ns`. A panic in `f` is
/// re-raised here. Panics if the namespace cannot be entered; see [`try_in_ns`].
pub fn in_ns<T, F>(ns: &str, f: F) -> T
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    match try_in_ns(ns, f) {
        Ok(t) => t,
        Err(e) => panic!("cannot run in namespace {ns}: {e}"),
    }
}

/// [`in_ns`] that reports a namespace that cannot be entered as an error instead of panicking.
pub fn try_in_ns<T, F>(ns: &str, f: F) -> Result<T, LabError>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let path = netns_path(ns)?;
    let handle =
        File::open(&path).map_err(|e| LabError::io(format!("open {}", path.display()), e))?;
    // A scoped thread lets `f` borrow from the caller; we join it before returning either way.
    thread::scope(|scope| {
        let thread = thread::Builder::new()
            .name(format!("netns-{ns}"))
            .spawn_scoped(scope, move || -> io::Result<T> {
                enter_netns(handle.as_fd())?;
                Ok(f())
            })
            .map_err(|e| LabError::io("spawn namespace thread", e))?;
        match thread.join() {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(e)) => Err(LabError::io(format!("setns into {ns}"), e)),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Moves the calling thread (only it) into the network namespace behind `fd`.
#[allow(unsafe_code)]
fn enter_netns(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `setns` takes a plain integer fd and a flag and touches no memory of ours; the fd
    // is valid for the duration of the call because `fd` borrows an open `File`. CLONE_NEWNET
    // only changes this thread's network namespace, which is why callers run it on a thread of
    // their own.
    let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Deletes every namespace named `PREFIX<pid>x…` whose process `<pid>` no longer exists (left by
/// a killed test run), and returns the names it deleted. Namespaces of live processes and names
/// that do not follow the pattern are left alone.
pub fn cleanup_stale(prefix: &str) -> Result<Vec<String>, LabError> {
    let entries = match std::fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LabError::io(format!("read {NETNS_DIR}"), e)),
    };
    let mut stale = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| LabError::io(format!("read {NETNS_DIR}"), e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if let Some(pid) = owner_pid(prefix, &name) {
            if !Path::new("/proc").join(pid.to_string()).exists() {
                stale.push(name);
            }
        }
    }
    stale.sort();
    delete_namespaces(&stale)?;
    Ok(stale)
}

/// Deletes the namespaces `names` in one `ip` run. Names that are already gone (never created
/// by a failed [`Lab::up`], or swept concurrently by another process) are not an error; one that
/// still exists afterwards is.
fn delete_namespaces(names: &[String]) -> Result<(), LabError> {
    let lines: Vec<String> = names.iter().map(|ns| format!("netns del {ns}")).collect();
    // `-force` goes on past failing lines, but still exits non-zero if any failed.
    match ip_batch(None, &lines, true) {
        Ok(()) => Ok(()),
        Err(e) => {
            let left: Vec<&String> = names.iter().filter(|ns| netns_exists(ns)).collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(LabError::NotReady(format!(
                    "namespaces {left:?} not deleted: {e}"
                )))
            }
        }
    }
}

/// The pid encoded in a lab namespace name `PREFIX<pid>x<rest>`, if `name` has that shape.
fn owner_pid(prefix: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let digits_end = rest.find(|c: char| !c.is_ascii_digit())?;
    if digits_end == 0 || !rest[digits_end..].starts_with('x') {
        return None;
    }
    rest[..digits_end].parse().ok()
}

/// Returns whether this process may build labs. If not, prints a loud SKIPPED banner to stderr
/// and returns false, so a test can `if !require_root() { return; }`; with
/// `ZONEGATE_E2E_REQUIRE=1` (CI) it panics instead, because there a skip must not pass.
pub fn require_root() -> bool {
    let Some(reason) = missing_privilege() else {
        return true;
    };
    let test = thread::current().name().unwrap_or("?").to_string();
    let banner = format!(
        "\n==============================================================================\n\
         SKIPPED: needs root and network namespaces ({reason})\n\
         test: {test}\n\
         Run as root with CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_NET_RAW, {IP} and {NFT}.\n\
         Set {REQUIRE_ENV}=1 to make this skip a failure.\n\
         ==============================================================================\n"
    );
    let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
    if required {
        panic!("{banner}");
    }
    // Straight to the stderr handle: libtest captures `eprintln!` of passing tests, and a skip
    // must be seen.
    let _ = writeln!(io::stderr().lock(), "{banner}");
    false
}

/// What is missing for building labs, if anything.
fn missing_privilege() -> Option<String> {
    // Capabilities rather than uid 0: a root shell with dropped capabilities cannot build labs.
    const CAP_NET_ADMIN: u32 = 12;
    const CAP_NET_RAW: u32 = 13;
    const CAP_SYS_ADMIN: u32 = 21;
    let status = match std::fs::read_to_string("/proc/self/status") {
        Ok(s) => s,
        Err(e) => return Some(format!("cannot read /proc/self/status: {e}")),
    };
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
    let Some(cap_eff) = cap_eff else {
        return Some("no CapEff line in /proc/self/status".into());
    };
    for (bit, name) in [
        (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
        (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
        (CAP_NET_RAW, "CAP_NET_RAW"),
    ] {
        if cap_eff & (1u64 << bit) == 0 {
            return Some(format!("{name} is not in the effective set"));
        }
    }
    for tool in [IP, NFT] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} is not installed"));
        }
    }
    if !Path::new("/proc/self/ns/net").exists() {
        return Some("the kernel has no network namespaces".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_only_matches_lab_names() {
        assert_eq!(owner_pid("zgt", "zgt1234x0g"), Some(1234));
        assert_eq!(owner_pid("zgt", "zgt1234x17h3"), Some(1234));
        assert_eq!(owner_pid("zgt", "zgt1"), None);
        assert_eq!(owner_pid("zgt", "zgtx1"), None);
        assert_eq!(owner_pid("zgt", "zgt12-3"), None);
        assert_eq!(owner_pid("zgt", "other12x0g"), None);
    }

    #[test]
    fn cidr_parsing_rejects_what_ip_would_resolve() {
        assert_eq!(
            Cidr::parse("10.10.0.1/24").unwrap().to_string(),
            "10.10.0.1/24"
        );
        assert_eq!(
            Cidr::parse("fd00:10::1").unwrap().to_string(),
            "fd00:10::1/128"
        );
        assert!(Cidr::parse("10.0.0.300/24").is_err());
        assert!(Cidr::parse("10.0.0.1/33").is_err());
        assert!(Cidr::parse("gateway.example/24").is_err());
    }

    #[test]
    fn spec_validation_catches_bad_names_and_macs() {
        let ok = SegmentSpec::new("ens3", &["10.0.0.1/24"], &["10.0.0.5/24"]);
        let spec = |s: SegmentSpec| LabSpec { segments: vec![s] };
        assert!(validate(&spec(ok.clone()), "b").is_ok());
        let mut long = ok.clone();
        long.gw_if = "a-very-long-ifname".into();
        assert!(validate(&spec(long), "b").is_err());
        assert!(validate(&spec(ok.clone().with_mac("03:00:00:00:00:01")), "b").is_err());
        assert!(validate(&spec(ok.clone().with_mac("nope")), "b").is_err());
        let dup = LabSpec {
            segments: vec![ok.clone(), ok],
        };
        assert!(validate(&dup, "b").is_err());
        // No segments: a lone gateway namespace, e.g. for `nft -c` checks.
        assert!(validate(&LabSpec::default(), "b").unwrap().is_empty());
    }

    #[test]
    fn readiness_looks_at_carrier_and_tentative_addresses() {
        let ready = serde_json::json!([
            {"ifname": "lo", "operstate": "UNKNOWN", "flags": ["LOOPBACK"]},
            {"ifname": "eth0", "operstate": "UP", "flags": ["UP", "LOWER_UP"],
             "addr_info": [{"local": "fd00::5"}]}
        ]);
        assert_eq!(not_ready_reason(&ready).unwrap(), None);
        let tentative = serde_json::json!([
            {"ifname": "eth0", "operstate": "UP", "flags": ["UP"],
             "addr_info": [{"local": "fd00::5", "tentative": true}]}
        ]);
        assert!(not_ready_reason(&tentative).unwrap().is_some());
        let no_carrier = serde_json::json!([
            {"ifname": "eth0", "operstate": "UP", "flags": ["NO-CARRIER", "UP"]}
        ]);
        assert!(not_ready_reason(&no_carrier).unwrap().is_some());
    }
}
