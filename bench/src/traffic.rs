//! Traffic generators for the per-packet benchmark, in Rust with kernel sockets, between the
//! namespaces of one [`Lab`] only.
//!
//! Every generator takes an [`Endpoints`], which refuses any address that is not carried by a
//! host namespace of the lab it names, so nothing here can send to an address outside the
//! namespaces the suite created. Every generator is bounded by a [`Budget`] (wall time and a
//! packet or connection count, whichever comes first) and counts on the receiving side where
//! there is one:
//!
//! - [`udp_flood`]: small UDP datagrams through an `IPPROTO_RAW` socket, cycling over many
//!   source ports, as fast as one thread can send. Used for denied packets per second: a packet
//!   the firewall drops never gets a confirmed conntrack entry, so every one of them walks the
//!   rules to the drop.
//! - [`tcp_connect_loop`]: connect, then close with `SO_LINGER 0` (a reset, so neither side
//!   keeps a TIME_WAIT socket and ports recycle), one connection after another. Every SYN is a
//!   new connection that the rules must evaluate. Counted by the accepting server.
//! - [`tcp_stream`]: one TCP connection, bulk data, bytes counted by the receiver.
//! - [`udp_stream`]: small datagrams on one 5-tuple that the receiver answered once first, so
//!   conntrack calls it established (an unanswered UDP flow stays "new" to conntrack and would
//!   walk the rules on every packet), counted by the receiver.
//!
//! With veth, a packet sent from a namespace is forwarded by the gateway and delivered in the
//! sender's own system call (softirq on the same CPU), so a sender's rate is bounded by the
//! gateway's per-packet cost; that is what makes these figures comparable between rulesets.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use zonegate_e2e::lab::{try_in_ns, Lab, LabError, HOST_IF};
use zonegate_e2e::spoof::udp_packet;

/// Why a traffic run failed.
#[derive(Debug)]
pub enum TrafficError {
    /// An address or segment outside the lab, or a nonsensical request.
    Usage(String),
    /// A namespace could not be entered.
    Lab(LabError),
    /// A socket operation failed.
    Io {
        /// What we were doing.
        context: String,
        /// The error.
        source: io::Error,
    },
}

impl TrafficError {
    fn io(context: impl Into<String>, source: io::Error) -> Self {
        TrafficError::Io {
            context: context.into(),
            source,
        }
    }
}

impl std::fmt::Display for TrafficError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrafficError::Usage(m) => write!(f, "{m}"),
            TrafficError::Lab(e) => write!(f, "{e}"),
            TrafficError::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for TrafficError {}

impl From<LabError> for TrafficError {
    fn from(e: LabError) -> Self {
        TrafficError::Lab(e)
    }
}

/// How long and how much a generator may run: it stops at whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Wall time.
    pub duration: Duration,
    /// Packets (floods, streams) or connections (connect loop).
    pub max_count: u64,
}

/// A source host and a destination host of one lab, both checked to be lab addresses.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints<'a> {
    lab: &'a Lab,
    from: usize,
    src: IpAddr,
    to: usize,
    dst: IpAddr,
}

impl<'a> Endpoints<'a> {
    /// Traffic from address `src` of host `from` to address `dst` of host `to` of `lab`. Fails
    /// unless each address is configured on that host namespace of this lab (so the
    /// destination is always inside the lab) and the families match.
    pub fn new(
        lab: &'a Lab,
        from: usize,
        src: IpAddr,
        to: usize,
        dst: IpAddr,
    ) -> Result<Endpoints<'a>, TrafficError> {
        for (host, addr) in [(from, src), (to, dst)] {
            if !lab_host_has(lab, host, addr) {
                return Err(TrafficError::Usage(format!(
                    "{addr} is not an address of host {host} of lab {}: refusing to send there",
                    lab.gw()
                )));
            }
        }
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(TrafficError::Usage(format!(
                "{src} and {dst} are of different families"
            )));
        }
        if from == to {
            return Err(TrafficError::Usage(
                "source and destination are the same namespace: nothing would cross the gateway"
                    .into(),
            ));
        }
        Ok(Endpoints {
            lab,
            from,
            src,
            to,
            dst,
        })
    }

    /// Namespace of the sender.
    pub fn src_ns(&self) -> &str {
        self.lab.host(self.from)
    }

    /// Namespace of the receiver.
    pub fn dst_ns(&self) -> &str {
        self.lab.host(self.to)
    }

    /// Source address.
    pub fn src(&self) -> IpAddr {
        self.src
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        self.dst
    }
}

/// Does host `i` of `lab` exist and carry `addr`? (Never panics on a bad index.)
fn lab_host_has(lab: &Lab, i: usize, addr: IpAddr) -> bool {
    // `Lab::host_addrs` panics on a missing segment; the namespace list tells how many exist
    // (gateway first).
    i + 1 < lab.namespaces().len() && lab.host_addrs(i).contains(&addr)
}

/// What a sender managed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent {
    /// Packets handed to the kernel successfully.
    pub packets: u64,
    /// Send calls that failed (e.g. ENOBUFS).
    pub errors: u64,
    /// Time from the first to the last send.
    pub elapsed: Duration,
}

/// Sends UDP datagrams of `payload_len` bytes from `ep.src()` to `ep.dst():dport`, source ports
/// cycling over `first_sport .. first_sport + sports`, through a raw socket on the sender's
/// `eth0`, as fast as one thread can, within `budget`.
pub fn udp_flood(
    ep: &Endpoints<'_>,
    dport: u16,
    first_sport: u16,
    sports: u16,
    payload_len: usize,
    budget: Budget,
) -> Result<Sent, TrafficError> {
    if sports == 0 || first_sport.checked_add(sports - 1).is_none() {
        return Err(TrafficError::Usage(format!(
            "bad source port range {first_sport}+{sports}"
        )));
    }
    let payload = vec![0x5a_u8; payload_len];
    let dst = SocketAddr::new(ep.dst, dport);
    let packets = (0..sports)
        .map(|i| udp_packet(SocketAddr::new(ep.src, first_sport + i), dst, &payload))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TrafficError::Usage(format!("cannot build the flood packet: {e}")))?;
    send_cycling(ep, packets, budget)
}

/// Like [`udp_flood`], with the destination port cycling over `first_dport .. first_dport +
/// dports` (one source port): every datagram of a cycle is a different key (source,
/// destination, protocol, destination port) of a denied flow.
pub fn udp_flood_dports(
    ep: &Endpoints<'_>,
    first_dport: u16,
    dports: u16,
    payload_len: usize,
    budget: Budget,
) -> Result<Sent, TrafficError> {
    if dports == 0 || first_dport.checked_add(dports - 1).is_none() {
        return Err(TrafficError::Usage(format!(
            "bad destination port range {first_dport}+{dports}"
        )));
    }
    let payload = vec![0x5a_u8; payload_len];
    let packets = (0..dports)
        .map(|i| {
            udp_packet(
                SocketAddr::new(ep.src, 20_000),
                SocketAddr::new(ep.dst, first_dport + i),
                &payload,
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TrafficError::Usage(format!("cannot build the flood packet: {e}")))?;
    send_cycling(ep, packets, budget)
}

/// Sends `packets` round and round through a raw socket on the sender's `eth0`, as fast as one
/// thread can, within `budget`.
fn send_cycling(
    ep: &Endpoints<'_>,
    packets: Vec<Vec<u8>>,
    budget: Budget,
) -> Result<Sent, TrafficError> {
    let to = SockAddr::from(SocketAddr::new(ep.dst, 0));
    let run = move || -> Result<Sent, TrafficError> {
        let domain = if ep.dst.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(libc_ipproto_raw())))
            .map_err(|e| TrafficError::io("raw socket", e))?;
        sock.bind_device(Some(HOST_IF.as_bytes()))
            .map_err(|e| TrafficError::io("bind raw socket to eth0", e))?;
        let mut sent = Sent::default();
        let start = Instant::now();
        let mut i = 0usize;
        'outer: loop {
            // Check the clock every 64 packets: cheap enough not to show in the rate.
            for _ in 0..64 {
                if sent.packets + sent.errors >= budget.max_count {
                    break 'outer;
                }
                match sock.send_to(&packets[i], &to) {
                    Ok(_) => sent.packets += 1,
                    Err(_) => sent.errors += 1,
                }
                i = (i + 1) % packets.len();
            }
            if start.elapsed() >= budget.duration {
                break;
            }
        }
        sent.elapsed = start.elapsed();
        Ok(sent)
    };
    try_in_ns(ep.src_ns(), run)?
}

/// `IPPROTO_RAW` (255): a raw socket whose packets carry their own IP header.
fn libc_ipproto_raw() -> i32 {
    255
}

/// What a connect loop managed.
#[derive(Debug, Clone, Default)]
pub struct Conns {
    /// Connections the client completed (handshake done).
    pub connected: u64,
    /// Connections the server accepted in the same window.
    pub accepted: u64,
    /// Connect attempts that failed or timed out.
    pub failed: u64,
    /// Time the client ran.
    pub elapsed: Duration,
    /// The first failed attempt's error, if any.
    pub first_error: Option<String>,
}

/// A listening TCP server in a namespace that accepts and closes every connection, counting
/// them, until dropped.
struct ResetServer {
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl ResetServer {
    fn start(ns: &str, bind: SocketAddr) -> Result<ResetServer, TrafficError> {
        let listener = try_in_ns(ns, || -> io::Result<TcpListener> {
            let s = Socket::new(Domain::for_address(bind), Type::STREAM, Some(Protocol::TCP))?;
            s.set_reuse_address(true)?;
            s.bind(&bind.into())?;
            s.listen(4096)?;
            Ok(s.into())
        })?
        .map_err(|e| TrafficError::io(format!("listen on {bind} in {ns}"), e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let l = listener
            .try_clone()
            .map_err(|e| TrafficError::io("clone listener", e))?;
        let (stop2, accepted2) = (stop.clone(), accepted.clone());
        let thread = thread::Builder::new()
            .name("bench-accept".into())
            .spawn(move || {
                while !stop2.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((s, _)) => {
                            accepted2.fetch_add(1, Ordering::Relaxed);
                            // Close with a FIN: the client's reset follows and frees our side
                            // without TIME_WAIT. (A reset from here could reach the client
                            // before its connect(2) returns and fail it.)
                            drop(s);
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                        Err(_) => break,
                    }
                }
            })
            .map_err(|e| TrafficError::io("spawn accept thread", e))?;
        Ok(ResetServer {
            listener,
            stop,
            accepted,
            thread: Some(thread),
        })
    }

    fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for ResetServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // shutdown(2) on a listening socket wakes a blocked accept(2) on Linux.
        let _ = SockRef::from(&self.listener).shutdown(Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens TCP connections from `ep.src()` to `ep.dst():dport` one after another, each closed
/// with a reset right after the handshake, within `budget`. A server in the destination
/// namespace accepts and counts them.
pub fn tcp_connect_loop(
    ep: &Endpoints<'_>,
    dport: u16,
    connect_timeout: Duration,
    budget: Budget,
) -> Result<Conns, TrafficError> {
    let dst = SocketAddr::new(ep.dst, dport);
    let server = ResetServer::start(ep.dst_ns(), dst)?;
    let before = server.accepted();
    let src = SocketAddr::new(ep.src, 0);
    let run = move || -> Conns {
        let mut c = Conns::default();
        let to = SockAddr::from(dst);
        let from = SockAddr::from(src);
        let start = Instant::now();
        while c.connected + c.failed < budget.max_count && start.elapsed() < budget.duration {
            let attempt = || -> io::Result<()> {
                let s = Socket::new(Domain::for_address(dst), Type::STREAM, Some(Protocol::TCP))?;
                s.set_linger(Some(Duration::ZERO))?;
                // A blocking connect(2) bounded by SO_SNDTIMEO: one system call, and it returns
                // as soon as the handshake is done.
                s.set_write_timeout(Some(connect_timeout))?;
                s.bind(&from)?;
                s.connect(&to)
            };
            match attempt() {
                Ok(()) => c.connected += 1,
                Err(e) => {
                    c.failed += 1;
                    c.first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        c.elapsed = start.elapsed();
        c
    };
    let mut conns = try_in_ns(ep.src_ns(), run)?;
    // Let the last accepts land before counting.
    let settle = Instant::now();
    while server.accepted() - before < conns.connected && settle.elapsed() < Duration::from_secs(1)
    {
        thread::sleep(Duration::from_millis(2));
    }
    conns.accepted = server.accepted() - before;
    Ok(conns)
}

/// What a receiver counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Received {
    /// Bytes (TCP) or datagrams (UDP) received.
    pub count: u64,
    /// What the sender handed to the kernel (bytes or datagrams).
    pub sent: u64,
    /// Receiver's time from first to last byte (TCP) or the sender's sending time (UDP).
    pub elapsed: Duration,
}

/// One TCP connection from `ep.src()` to `ep.dst():dport` carrying bulk data for
/// `budget.duration` (at most `budget.max_count` bytes); bytes counted by the receiver.
pub fn tcp_stream(
    ep: &Endpoints<'_>,
    dport: u16,
    budget: Budget,
) -> Result<Received, TrafficError> {
    let dst = SocketAddr::new(ep.dst, dport);
    let listener = try_in_ns(ep.dst_ns(), || -> io::Result<TcpListener> {
        let s = Socket::new(Domain::for_address(dst), Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        s.bind(&dst.into())?;
        s.listen(4)?;
        Ok(s.into())
    })?
    .map_err(|e| TrafficError::io(format!("listen on {dst}"), e))?;
    let waker = listener
        .try_clone()
        .map_err(|e| TrafficError::io("clone listener", e))?;
    let receiver = thread::Builder::new()
        .name("bench-tcp-rx".into())
        .spawn(move || -> io::Result<(u64, Duration)> {
            let (mut s, _) = listener.accept()?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut buf = vec![0u8; 1 << 18];
            let mut total = 0u64;
            let mut first: Option<Instant> = None;
            let mut last = Instant::now();
            loop {
                let n = s.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                first.get_or_insert_with(Instant::now);
                total += n as u64;
                last = Instant::now();
            }
            Ok((total, first.map_or(Duration::ZERO, |f| last - f)))
        })
        .map_err(|e| TrafficError::io("spawn receiver", e))?;
    let src = SocketAddr::new(ep.src, 0);
    let sent = try_in_ns(ep.src_ns(), move || -> io::Result<u64> {
        let s = Socket::new(Domain::for_address(dst), Type::STREAM, Some(Protocol::TCP))?;
        s.bind(&src.into())?;
        s.connect_timeout(&dst.into(), Duration::from_secs(2))?;
        let mut s: std::net::TcpStream = s.into();
        let chunk = vec![0xa5u8; 1 << 17];
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < budget.duration && sent < budget.max_count {
            s.write_all(&chunk)?;
            sent += chunk.len() as u64;
        }
        s.shutdown(Shutdown::Write)?;
        Ok(sent)
    })?;
    if sent.is_err() {
        // The receiver may still wait in accept(2): wake it before joining.
        let _ = SockRef::from(&waker).shutdown(Shutdown::Both);
    }
    let joined = receiver.join();
    let sent = sent.map_err(|e| TrafficError::io(format!("TCP stream to {dst}"), e))?;
    let (count, elapsed) = joined
        .map_err(|_| TrafficError::Usage("receiver thread panicked".into()))?
        .map_err(|e| TrafficError::io("TCP receiver", e))?;
    Ok(Received {
        count,
        sent,
        elapsed,
    })
}

/// Small UDP datagrams (`payload_len` bytes) on one 5-tuple, `ep.src():sport` to
/// `ep.dst():dport`, for `budget`; the receiver answers the first datagram so the flow is
/// established in conntrack before the measured part starts, then counts.
pub fn udp_stream(
    ep: &Endpoints<'_>,
    sport: u16,
    dport: u16,
    payload_len: usize,
    budget: Budget,
) -> Result<Received, TrafficError> {
    let dst = SocketAddr::new(ep.dst, dport);
    let src = SocketAddr::new(ep.src, sport);
    let rx = try_in_ns(ep.dst_ns(), || -> io::Result<UdpSocket> {
        let s = Socket::new(Domain::for_address(dst), Type::DGRAM, Some(Protocol::UDP))?;
        // Best effort: the kernel caps it at rmem_max.
        let _ = s.set_recv_buffer_size(8 << 20);
        s.bind(&dst.into())?;
        Ok(s.into())
    })?
    .map_err(|e| TrafficError::io(format!("bind {dst}"), e))?;
    rx.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| TrafficError::io("receiver timeout", e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let counted = Arc::new(AtomicU64::new(0));
    let receiver = {
        let (stop, counted) = (stop.clone(), counted.clone());
        thread::Builder::new()
            .name("bench-udp-rx".into())
            .spawn(move || -> io::Result<()> {
                let mut buf = [0u8; 2048];
                let mut answered = false;
                loop {
                    match rx.recv_from(&mut buf) {
                        Ok((n, peer)) => {
                            if !answered && &buf[..n] == b"hello" {
                                rx.send_to(b"ok", peer)?;
                                answered = true;
                            } else if answered {
                                counted.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                            ) =>
                        {
                            if stop.load(Ordering::Relaxed) {
                                return Ok(());
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
            })
            .map_err(|e| TrafficError::io("spawn receiver", e))?
    };
    let sender = try_in_ns(ep.src_ns(), move || -> io::Result<(u64, Duration)> {
        let s = UdpSocket::bind(src)?;
        s.connect(dst)?;
        s.set_read_timeout(Some(Duration::from_millis(20)))?;
        // Handshake: until the receiver answers, the flow is not established.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut buf = [0u8; 16];
        loop {
            s.send(b"hello")?;
            match s.recv(&mut buf) {
                Ok(2) if &buf[..2] == b"ok" => break,
                _ if Instant::now() > deadline => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the receiver never answered: is the flow permitted?",
                    ))
                }
                _ => {}
            }
        }
        let payload = vec![0x3cu8; payload_len];
        let start = Instant::now();
        let mut sent = 0u64;
        'outer: loop {
            for _ in 0..64 {
                if sent >= budget.max_count {
                    break 'outer;
                }
                if s.send(&payload).is_ok() {
                    sent += 1;
                }
            }
            if start.elapsed() >= budget.duration {
                break;
            }
        }
        Ok((sent, start.elapsed()))
    })?;
    // Let what is in flight arrive, then stop the receiver.
    thread::sleep(Duration::from_millis(30));
    stop.store(true, Ordering::Relaxed);
    let rx_result = receiver
        .join()
        .map_err(|_| TrafficError::Usage("receiver thread panicked".into()))?;
    let (sent, elapsed) =
        sender.map_err(|e| TrafficError::io(format!("UDP stream to {dst}"), e))?;
    rx_result.map_err(|e| TrafficError::io("UDP receiver", e))?;
    Ok(Received {
        count: counted.load(Ordering::Relaxed),
        sent,
        elapsed,
    })
}

/// Packet counters of one interface in a namespace (`ip -s -j link show`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
}

/// Reads the packet counters of `ifname` in namespace `ns`.
pub fn link_stats(ns: &str, ifname: &str) -> Result<LinkStats, TrafficError> {
    let out = std::process::Command::new(zonegate_e2e::lab::IP)
        .args(["-n", ns, "-s", "-j", "link", "show", "dev", ifname])
        .output()
        .map_err(|e| TrafficError::io("run ip -s link", e))?;
    if !out.status.success() {
        return Err(TrafficError::Usage(format!(
            "ip -s link show {ifname} in {ns}: {}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| TrafficError::Usage(format!("ip -j output: {e}")))?;
    let s = &v[0]["stats64"];
    match (s["rx"]["packets"].as_u64(), s["tx"]["packets"].as_u64()) {
        (Some(rx_packets), Some(tx_packets)) => Ok(LinkStats {
            rx_packets,
            tx_packets,
        }),
        _ => Err(TrafficError::Usage(format!(
            "no packet counters for {ifname} in {ns}"
        ))),
    }
}
