//! Denied-flow events from NFLOG. [`DeniedFlowMonitor::start`] binds the policy's NFLOG group
//! (from the compiled metadata, never from agent.toml) on a netlink socket in the calling
//! thread's network namespace, on a thread of its own, and turns each logged packet into header
//! fields, then into aggregated alerts ([`aggregate`]). Payload bytes are zeroed as soon as the
//! headers are read, in the parsed attribute and in the receive buffer: they never reach an
//! alert, the queue or a sink.
//!
//! Only one process per namespace can bind a group. If another one holds it (ulogd, a second
//! agent) the bind fails with EPERM: the monitor raises a monitoring-degraded alert, retries
//! every [`REBIND_EVERY`], and raises a "restored" alert once it holds the group.
//!
//! The agent calls [`DeniedFlowMonitor::reconcile`] with the ruleset's counters once per window
//! (they give the exact counts); if it does not, the monitor closes windows itself after one and
//! a half windows, with sample counts only.

pub mod aggregate;
pub mod counters;
pub mod keys;
pub mod parse;

use crate::config::DeniedFlowConfig;
use crate::model::{AlertKind, MonitoringDegraded};
use crate::pipeline::{AlertError, AlertPipeline};
use aggregate::{Aggregator, DeniedPacket, WindowFigures};
use counters::Counters;
use keys::KeyCounts;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_netfilter::nflog::{
    config_request, ConfigCmd, ConfigFlags, ConfigMode, ConfigNla, CopyMode, PacketNla, Timeout,
    ULogMessage,
};
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily};
use netlink_sys::{constants::NETLINK_NETFILTER, Socket};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::{TimeVal, TimeValLike};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use zonegate_policy::Metadata;

/// How often a failed bind is retried.
pub const REBIND_EVERY: Duration = Duration::from_secs(10);
/// The socket's receive timeout: how quickly the thread notices stop, rebind and window ends.
const RECV_TIMEOUT_MS: i64 = 200;
/// Kernel batching: send after this many packets or 50 ms, whichever first. Fewer syscalls at
/// flood rates, and a first alert is still out within 50 ms.
const QUEUE_THRESHOLD: u32 = 32;
const FLUSH_TIMEOUT_CENTISECONDS: u32 = 5;
/// Interface names are looked up again after this long (renames).
const IFNAME_TTL: Duration = Duration::from_secs(30);

/// Why the NFLOG group could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The netlink socket could not be created or configured.
    #[error("netlink socket: {0}")]
    Socket(#[source] io::Error),
    /// The kernel refused the bind: another process holds the group, or CAP_NET_ADMIN is
    /// missing (both are EPERM).
    #[error("NFLOG group {group} refused (errno {errno}): another process (ulogd, a second agent) holds it, or CAP_NET_ADMIN is missing")]
    Refused { group: u16, errno: i32 },
    /// No acknowledgement came back.
    #[error("NFLOG group {group}: no acknowledgement from the kernel")]
    NoAck { group: u16 },
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Shared {
    pipeline: AlertPipeline,
    cfg: DeniedFlowConfig,
    agg: Mutex<Aggregator>,
    group: Mutex<u16>,
    rebind: AtomicBool,
    stop: AtomicBool,
    last_close: Mutex<Instant>,
    lost_in_window: AtomicU64,
    overruns_in_window: AtomicU64,
    listener: Mutex<ListenerState>,
}

/// What the NFLOG listener is doing, for `zonegate-agent status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListenerState {
    /// "starting", "bound", "refused" (the group could not be bound; retried every 10 s),
    /// "rebinding" (the socket failed or the group changed) or "stopped".
    pub state: String,
    pub group: u16,
    /// Why the bind was refused, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Since when (RFC 3339) it is in that state.
    pub since: String,
}

fn set_listener(shared: &Shared, state: &str, group: u16, error: Option<String>) {
    *lock(&shared.pipeline.counters().nflog_state) = state.to_string();
    let mut l = lock(&shared.listener);
    if l.state != state || l.group != group || l.error != error {
        *l = ListenerState {
            state: state.to_string(),
            group,
            error,
            since: jiff::Timestamp::now().to_string(),
        };
    }
}

/// The running NFLOG listener. Dropping it does not stop it; call [`DeniedFlowMonitor::stop`].
pub struct DeniedFlowMonitor {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl DeniedFlowMonitor {
    /// Starts listening on `metadata.nflog_group` in the calling thread's network namespace.
    /// Returns at once; a bind failure becomes a monitoring-degraded alert, not an error.
    pub fn start(
        pipeline: &AlertPipeline,
        metadata: &Metadata,
        cfg: &DeniedFlowConfig,
    ) -> Result<DeniedFlowMonitor, AlertError> {
        let now = jiff::Timestamp::now();
        // The pipeline's zone, so first_seen/last_seen read like the envelope's time.
        let tz = pipeline.time_zone();
        let shared = Arc::new(Shared {
            pipeline: pipeline.clone(),
            cfg: cfg.clone(),
            agg: Mutex::new(Aggregator::new(cfg.clone(), metadata, tz, now)),
            group: Mutex::new(metadata.nflog_group),
            rebind: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            last_close: Mutex::new(Instant::now()),
            lost_in_window: AtomicU64::new(0),
            overruns_in_window: AtomicU64::new(0),
            listener: Mutex::new(ListenerState {
                state: "starting".into(),
                group: metadata.nflog_group,
                error: None,
                since: now.to_string(),
            }),
        });
        seed_denied_pairs(&shared);
        let s = shared.clone();
        let handle = thread::Builder::new()
            .name("zg-nflog".into())
            .spawn(move || run(&s))
            .map_err(|source| AlertError::Thread {
                what: "NFLOG".into(),
                source,
            })?;
        Ok(DeniedFlowMonitor {
            shared,
            thread: Mutex::new(Some(handle)),
        })
    }

    /// A new ruleset is in force (call after every apply): its codes and zones apply from now,
    /// its counters count from zero, and the group is bound again if it changed.
    pub fn set_metadata(&self, metadata: &Metadata) {
        lock(&self.shared.agg).set_metadata(metadata);
        seed_denied_pairs(&self.shared);
        let mut g = lock(&self.shared.group);
        if *g != metadata.nflog_group {
            *g = metadata.nflog_group;
            self.shared.rebind.store(true, Ordering::SeqCst);
        }
    }

    /// The agent restarted without replacing the ruleset: counts start from these values.
    pub fn set_counter_baseline(&self, counters: &Counters) {
        lock(&self.shared.agg).set_counter_baseline(counters);
    }

    /// Closes the current window with the exact counter values the agent just read (`cN` ->
    /// packets): emits the window's summaries, scan summaries and roll-ups. Call once per
    /// [`DeniedFlowMonitor::window`].
    pub fn reconcile(&self, counters: &Counters) {
        close(&self.shared, Some(counters), None);
    }

    /// Like [`DeniedFlowMonitor::reconcile`], with the per-key tables read at the same time:
    /// every key's count is exact, and scans are recognised from the distinct keys.
    pub fn reconcile_with_keys(&self, counters: &Counters, keys: &KeyCounts) {
        close(&self.shared, Some(counters), Some(keys));
    }

    /// The agent restarted without replacing the ruleset: per-key counts start from these.
    pub fn set_key_baseline(&self, keys: &KeyCounts) {
        lock(&self.shared.agg).set_key_baseline(keys);
    }

    /// The figures of the last closed windows, oldest first.
    pub fn recent_windows(&self) -> Vec<WindowFigures> {
        lock(&self.shared.agg).recent_windows()
    }

    /// The listener's state.
    pub fn listener(&self) -> ListenerState {
        lock(&self.shared.listener).clone()
    }

    /// The aggregation window.
    pub fn window(&self) -> Duration {
        self.shared.cfg.window()
    }

    /// Stops the listener (the group is released when the socket closes).
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(h) = lock(&self.thread).take() {
            let _ = h.join();
        }
        let group = *lock(&self.shared.group);
        set_listener(&self.shared, "stopped", group, None);
    }
}

/// Denied-packet counters at 0 for every pair the ruleset can count (see
/// [`aggregate::Aggregator::denied_pairs`]); existing counts are kept.
fn seed_denied_pairs(shared: &Shared) {
    let pairs = lock(&shared.agg).denied_pairs();
    let m = shared.pipeline.counters();
    for pair in &pairs {
        crate::metrics::add_to(&m.denied_packets, pair, 0);
    }
}

fn close(shared: &Shared, counters: Option<&Counters>, keys: Option<&KeyCounts>) {
    let report = {
        let mut agg = lock(&shared.agg);
        *lock(&shared.last_close) = Instant::now();
        agg.close_window_with_keys(counters, keys, Instant::now(), jiff::Timestamp::now())
    };
    crate::metrics::record_window(&shared.pipeline.counters().windows, &report.figures);
    let m = shared.pipeline.counters();
    for (pair, n) in &report.denied {
        crate::metrics::add_to(&m.denied_packets, pair, *n);
    }
    for a in report.alerts {
        shared.pipeline.emit(a);
    }
    let lost = shared.lost_in_window.swap(0, Ordering::Relaxed);
    let overruns = shared.overruns_in_window.swap(0, Ordering::Relaxed);
    if lost > 0 || overruns > 0 {
        shared
            .pipeline
            .emit(AlertKind::MonitoringDegraded(MonitoringDegraded {
                what: "nflog".into(),
                detail: format!(
                    "{lost} NFLOG samples lost and {overruns} receive-buffer overruns in the last window; denied-packet counts stay exact (counters), details of some packets are missing"
                ),
                lost: Some(lost),
                restored: false,
            }));
    }
}

/// Opens a netlink socket and binds `group`, asking for headers only.
pub fn bind(group: u16, receive_buffer: usize) -> Result<Socket, BindError> {
    let mut socket = Socket::new(NETLINK_NETFILTER).map_err(BindError::Socket)?;
    socket.bind_auto().map_err(BindError::Socket)?;
    // A flood fills the default buffer in milliseconds; SO_RCVBUFFORCE passes rmem_max with
    // CAP_NET_ADMIN, which the agent has. Without it, the plain option gets what rmem_max allows.
    if setsockopt(&socket, sockopt::RcvBufForce, &receive_buffer).is_err() {
        let _ = socket.set_rx_buf_sz(receive_buffer);
    }
    setsockopt(
        &socket,
        sockopt::ReceiveTimeout,
        &TimeVal::milliseconds(RECV_TIMEOUT_MS),
    )
    .map_err(|e| BindError::Socket(e.into()))?;
    let request = config_request(
        NetfilterProtoFamily::Unspec,
        group,
        vec![
            ConfigCmd::Bind.into(),
            ConfigMode::new(parse::COPY_RANGE, CopyMode::Packet).into(),
            ConfigFlags::SEQ.into(),
            Timeout::new(FLUSH_TIMEOUT_CENTISECONDS).into(),
            ConfigNla::QThresh(QUEUE_THRESHOLD),
        ],
    );
    let mut out = vec![0u8; request.buffer_len()];
    request.serialize(&mut out);
    socket.send(&out, 0).map_err(BindError::Socket)?;
    let mut buf = vec![0u8; 64 * 1024];
    // The acknowledgement may come after a first batch of packets; look a few messages ahead.
    for _ in 0..64 {
        let n = match socket.recv(&mut &mut buf[..], 0) {
            Ok(n) => n.min(buf.len()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(BindError::NoAck { group })
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BindError::Socket(e)),
        };
        let mut off = 0;
        while off + 16 <= n {
            let len =
                u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]) as usize;
            if len < 16 || off + len > n {
                break;
            }
            if let Ok(msg) = NetlinkMessage::<NetfilterMessage>::deserialize(&buf[off..off + len]) {
                if let NetlinkPayload::Error(e) = msg.payload {
                    buf[..n].fill(0);
                    return match e.code {
                        None => Ok(socket),
                        Some(code) => Err(BindError::Refused {
                            group,
                            errno: -code.get(),
                        }),
                    };
                }
            }
            off += (len + 3) & !3;
        }
        buf[..n].fill(0);
    }
    Err(BindError::NoAck { group })
}

/// ifindex -> name in this thread's namespace, cached briefly.
#[derive(Default)]
struct IfNames(HashMap<u32, (Option<String>, Instant)>);

impl IfNames {
    fn name(&mut self, index: u32) -> Option<String> {
        if let Some((name, at)) = self.0.get(&index) {
            if at.elapsed() < IFNAME_TTL {
                return name.clone();
            }
        }
        let name = nix::net::if_::if_indextoname(index)
            .ok()
            .and_then(|c| c.into_string().ok());
        if self.0.len() > 4096 {
            self.0.clear();
        }
        self.0.insert(index, (name.clone(), Instant::now()));
        name
    }
}

fn wait_or_stop(shared: &Shared, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end
        && !shared.stop.load(Ordering::SeqCst)
        && !shared.rebind.load(Ordering::SeqCst)
    {
        maybe_close(shared);
        thread::sleep(Duration::from_millis(100));
    }
}

/// Closes the window without counters when the agent has not reconciled for 1.5 windows.
fn maybe_close(shared: &Shared) {
    let window = shared.cfg.window();
    let due = lock(&shared.last_close).elapsed() >= window + window / 2;
    if due {
        close(shared, None, None);
    }
}

fn run(shared: &Shared) {
    let metrics = shared.pipeline.counters();
    let mut degraded: Option<String> = None;
    let mut names = IfNames::default();
    while !shared.stop.load(Ordering::SeqCst) {
        shared.rebind.store(false, Ordering::SeqCst);
        let group = *lock(&shared.group);
        let socket = match bind(group, shared.cfg.receive_buffer_bytes) {
            Ok(s) => s,
            Err(e) => {
                metrics.nflog_bound.store(false, Ordering::Relaxed);
                let detail = e.to_string();
                set_listener(shared, "refused", group, Some(detail.clone()));
                if degraded.as_deref() != Some(detail.as_str()) {
                    tracing::error!(group, error = %e, "Could not bind the NFLOG group; denied-flow details are unavailable.");
                    shared
                        .pipeline
                        .emit(AlertKind::MonitoringDegraded(MonitoringDegraded {
                            what: "nflog".into(),
                            detail: detail.clone(),
                            lost: None,
                            restored: false,
                        }));
                    degraded = Some(detail);
                }
                wait_or_stop(shared, REBIND_EVERY);
                continue;
            }
        };
        metrics.nflog_bound.store(true, Ordering::Relaxed);
        set_listener(shared, "bound", group, None);
        tracing::info!(group, "Bound the NFLOG group.");
        if degraded.take().is_some() {
            shared
                .pipeline
                .emit(AlertKind::MonitoringDegraded(MonitoringDegraded {
                    what: "nflog".into(),
                    detail: format!("NFLOG group {group} bound"),
                    lost: None,
                    restored: true,
                }));
        }
        receive(shared, &socket, &mut names);
        metrics.nflog_bound.store(false, Ordering::Relaxed);
        if !shared.stop.load(Ordering::SeqCst) {
            set_listener(shared, "rebinding", group, None);
        }
    }
}

fn receive(shared: &Shared, socket: &Socket, names: &mut IfNames) {
    let metrics = shared.pipeline.counters();
    let mut buf = vec![0u8; 256 * 1024];
    let mut expected_seq: Option<u32> = None;
    while !shared.stop.load(Ordering::SeqCst) && !shared.rebind.load(Ordering::SeqCst) {
        maybe_close(shared);
        let n = match socket.recv(&mut &mut buf[..], 0) {
            Ok(n) => n.min(buf.len()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {
                // The kernel dropped messages for us; the sequence gap tells how many.
                metrics.nflog_overruns.fetch_add(1, Ordering::Relaxed);
                shared.overruns_in_window.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "NFLOG socket failed; binding again.");
                thread::sleep(Duration::from_secs(1));
                return;
            }
        };
        let mut off = 0;
        while off + 16 <= n {
            let len =
                u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]) as usize;
            if len < 16 || off + len > n {
                break;
            }
            match NetlinkMessage::<NetfilterMessage>::deserialize(&buf[off..off + len]) {
                Ok(msg) => handle(shared, msg, names, &mut expected_seq),
                Err(e) => {
                    metrics.nflog_foreign.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "Unparsable NFLOG message.");
                }
            }
            off += (len + 3) & !3;
        }
        // Everything the kernel copied, payload bytes included, is wiped before the next
        // receive; nothing of it is kept anywhere else.
        buf[..n].fill(0);
    }
}

/// What one NFLOG packet message says, as plain values.
#[derive(Debug, Default, PartialEq, Eq)]
struct PacketFields {
    code: Option<u32>,
    in_index: Option<u32>,
    out_index: Option<u32>,
    seq: Option<u32>,
    headers: Option<parse::Headers>,
    /// Copied bytes past the transport header (payload), counted before they were zeroed.
    discarded: u64,
}

/// Reads the attributes of one logged packet and zeroes every copied packet byte (the packet
/// up to the copy range, whatever its length, and the link-layer header) before returning.
fn take_fields(nlas: &mut [PacketNla]) -> PacketFields {
    let mut f = PacketFields::default();
    for nla in nlas.iter_mut() {
        match nla {
            PacketNla::Prefix(p) => f.code = parse::parse_prefix(p.as_bytes()),
            PacketNla::IfIndexInDev(i) => f.in_index = Some(*i),
            PacketNla::IfIndexOutDev(i) => f.out_index = Some(*i),
            PacketNla::Seq(s) => f.seq = Some(*s),
            PacketNla::Payload(p) => {
                if let Some((h, rest)) = parse::parse_headers(p) {
                    f.headers = Some(h);
                    f.discarded += rest as u64;
                }
                p.fill(0);
            }
            PacketNla::HwHeader(h) => h.fill(0),
            _ => {}
        }
    }
    f
}

fn handle(
    shared: &Shared,
    msg: NetlinkMessage<NetfilterMessage>,
    names: &mut IfNames,
    expected_seq: &mut Option<u32>,
) {
    let metrics = shared.pipeline.counters();
    let NetlinkPayload::InnerMessage(NetfilterMessage {
        inner: NetfilterMessageInner::ULog(ULogMessage::Packet(mut nlas)),
        ..
    }) = msg.payload
    else {
        return;
    };
    let PacketFields {
        code,
        in_index,
        out_index,
        seq,
        headers,
        discarded,
    } = take_fields(&mut nlas);
    drop(nlas);
    metrics
        .nflog_payload_bytes_discarded
        .fetch_add(discarded, Ordering::Relaxed);
    if let Some(s) = seq {
        if let Some(e) = *expected_seq {
            let gap = s.wrapping_sub(e);
            if gap != 0 && gap < u32::MAX / 2 {
                metrics
                    .nflog_lost
                    .fetch_add(u64::from(gap), Ordering::Relaxed);
                shared
                    .lost_in_window
                    .fetch_add(u64::from(gap), Ordering::Relaxed);
            }
        }
        *expected_seq = Some(s.wrapping_add(1));
    }
    metrics.nflog_samples.fetch_add(1, Ordering::Relaxed);
    let (Some(code), Some(headers)) = (code, headers) else {
        metrics.nflog_foreign.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let pkt = DeniedPacket {
        code,
        headers,
        in_iface: in_index.and_then(|i| names.name(i)),
        out_iface: out_index.and_then(|i| names.name(i)),
    };
    let obs = {
        let mut agg = lock(&shared.agg);
        if !agg.knows(code) {
            metrics.nflog_foreign.fetch_add(1, Ordering::Relaxed);
            return;
        }
        agg.observe(&pkt, Instant::now(), jiff::Timestamp::now())
    };
    if let Some(pair) = &obs.pair {
        crate::metrics::add_to(&metrics.denied_samples, pair, 1);
    }
    for a in obs.alerts {
        shared.pipeline.emit(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    /// An IPv4 packet with 8 bytes of options, UDP and a payload, cut at `copy` bytes.
    fn copied(copy: usize) -> Vec<u8> {
        let mut p = vec![
            0x47, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 20, 0, 2, 10, 10, 0, 5,
        ];
        p.extend_from_slice(&[7, 7, 4, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[0x13, 0x89, 0x00, 0x35, 0, 208, 0, 0]);
        p.extend_from_slice(&[0x5a; 200]);
        p.truncate(copy);
        p
    }

    #[test]
    fn every_copied_byte_is_zeroed_at_the_largest_copy_range() {
        for copy in [36, 68, parse::COPY_RANGE as usize] {
            let mut nlas = vec![
                PacketNla::Prefix(CString::new("zg:12 ").unwrap()),
                PacketNla::HwHeader(vec![0xab; 14]),
                PacketNla::Payload(copied(copy)),
                PacketNla::Seq(7),
            ];
            let f = take_fields(&mut nlas);
            assert_eq!(f.code, Some(12));
            assert_eq!(f.seq, Some(7));
            let h = f.headers.unwrap();
            assert_eq!((h.src_port, h.dst_port), (Some(5001), Some(53)));
            // Everything past the IPv4 header (28) and the UDP header (8) is payload.
            assert_eq!(f.discarded, copy.saturating_sub(36) as u64, "copy {copy}");
            for nla in &nlas {
                match nla {
                    PacketNla::Payload(p) => {
                        assert_eq!(p.len(), copy);
                        assert!(p.iter().all(|b| *b == 0), "copy {copy}: {p:?}");
                    }
                    PacketNla::HwHeader(h) => assert!(h.iter().all(|b| *b == 0)),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn an_unparsable_copy_is_zeroed_too() {
        let mut nlas = vec![PacketNla::Payload(vec![0x5a; parse::COPY_RANGE as usize])];
        let f = take_fields(&mut nlas);
        assert_eq!((f.headers, f.discarded), (None, 0));
        assert!(matches!(&nlas[0], PacketNla::Payload(p) if p.iter().all(|b| *b == 0)));
    }
}
