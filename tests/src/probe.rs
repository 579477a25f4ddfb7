//! Traffic probes with real kernel sockets inside lab namespaces: TCP and UDP echo servers,
//! connections that can be reused to prove a flow is cut later, UDP flows with a fixed source
//! port, and ICMP echo (IPv4 and IPv6) over raw sockets.
//!
//! Every socket is created on a thread that entered the namespace ([`crate::lab::in_ns`]) and
//! then used from ordinary threads: a socket belongs to the namespace it was created in. Results
//! tell a drop ([`ProbeError::Timeout`]) from a reject ([`ProbeError::Refused`],
//! [`ProbeError::Unreachable`]), so firewall tests can assert which one a rule produced. Timeouts
//! are the caller's: each "must be blocked" check costs its full timeout, so keep them short
//! (300–500 ms is plenty between namespaces). No external tools (ping, ncat) are used.

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket,
};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::lab::{try_in_ns, LabError};

/// Why a probe did not get its answer.
#[derive(Debug)]
pub enum ProbeError {
    /// Nothing came back in time: what a `drop` verdict looks like.
    Timeout,
    /// A TCP reset or ICMP port unreachable: nobody listens, or a `reject` rule.
    Refused,
    /// An ICMP (or local) error other than port unreachable, e.g. admin-prohibited or no route.
    Unreachable(String),
    /// The peer closed or reset an established connection.
    Closed,
    /// The probe was used wrongly (mixed address families, newline in a line-based message).
    Usage(String),
    /// Any other socket error.
    Io(io::Error),
    /// The namespace could not be entered.
    Lab(LabError),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Timeout => write!(f, "timed out"),
            ProbeError::Refused => write!(f, "refused"),
            ProbeError::Unreachable(why) => write!(f, "unreachable: {why}"),
            ProbeError::Closed => write!(f, "connection closed by peer"),
            ProbeError::Usage(why) => write!(f, "probe misuse: {why}"),
            ProbeError::Io(e) => write!(f, "{e}"),
            ProbeError::Lab(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ProbeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProbeError::Io(e) => Some(e),
            ProbeError::Lab(e) => Some(e),
            _ => None,
        }
    }
}

impl From<LabError> for ProbeError {
    fn from(e: LabError) -> Self {
        ProbeError::Lab(e)
    }
}

impl From<io::Error> for ProbeError {
    /// Sorts socket errors into what a firewall test asserts on.
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => return ProbeError::Timeout,
            io::ErrorKind::ConnectionRefused => return ProbeError::Refused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => return ProbeError::Closed,
            _ => {}
        }
        // By errno: the matching ErrorKinds are newer than our minimum Rust version. EPERM is
        // what sendmsg returns when a local nft rule drops the packet on output.
        match e.raw_os_error() {
            Some(
                libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::ENETDOWN
                | libc::EACCES
                | libc::EPERM,
            ) => ProbeError::Unreachable(e.to_string()),
            _ => ProbeError::Io(e),
        }
    }
}

/// Locks a mutex, ignoring poisoning: the data (lists of peers, handles) stays meaningful even
/// if a thread panicked while holding it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The unspecified address of `ip`'s family with port 0: "any source" for [`udp_roundtrip`]
/// and [`UdpFlow::open`].
pub fn any_source(ip: IpAddr) -> SocketAddr {
    match ip {
        IpAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        IpAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> Result<(), ProbeError> {
    if a.is_ipv4() == b.is_ipv4() {
        Ok(())
    } else {
        Err(ProbeError::Usage(format!(
            "{a} and {b} are of different address families"
        )))
    }
}

/// Time left until `deadline`, or `None` once it has passed (a zero socket timeout is an error).
fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}

// ---------------------------------------------------------------------------------------------
// TCP

/// A TCP server that echoes every line it receives, until dropped.
#[derive(Debug)]
pub struct TcpEcho {
    addr: SocketAddr,
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    handlers: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl TcpEcho {
    /// Listens on `bind` inside `ns` (port 0 picks a free port, see [`TcpEcho::addr`]). An
    /// unspecified IPv6 address also accepts IPv4 (the kernel's dual-stack default).
    pub fn start(ns: &str, bind: SocketAddr) -> Result<TcpEcho, ProbeError> {
        let listener = try_in_ns(ns, || -> io::Result<TcpListener> {
            let sock = Socket::new(Domain::for_address(bind), Type::STREAM, Some(Protocol::TCP))?;
            sock.set_reuse_address(true)?;
            sock.bind(&bind.into())?;
            sock.listen(128)?;
            Ok(sock.into())
        })??;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let peers = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let handlers = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let listener = listener.try_clone()?;
            let (stop, peers, conns, handlers) =
                (stop.clone(), peers.clone(), conns.clone(), handlers.clone());
            thread::Builder::new()
                .name(format!("tcp-echo-{addr}"))
                .spawn(move || loop {
                    match listener.accept() {
                        Ok((stream, peer)) => {
                            if stop.load(Ordering::SeqCst) {
                                break;
                            }
                            // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d.
                            lock(&peers)
                                .push(SocketAddr::new(peer.ip().to_canonical(), peer.port()));
                            if let Ok(clone) = stream.try_clone() {
                                lock(&conns).push(clone);
                            }
                            if let Ok(h) = thread::Builder::new()
                                .name(format!("tcp-echo-{peer}"))
                                .spawn(move || echo_lines(stream))
                            {
                                lock(&handlers).push(h);
                            }
                        }
                        Err(e)
                            if !stop.load(Ordering::SeqCst)
                                && matches!(
                                    e.kind(),
                                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                                ) => {}
                        // Shutting the listener down (in drop) fails accept with EINVAL.
                        Err(e) => {
                            if !stop.load(Ordering::SeqCst) {
                                eprintln!("zonegate-e2e: tcp echo on {addr} stops: {e}");
                            }
                            break;
                        }
                    }
                })?
        };
        Ok(TcpEcho {
            addr,
            listener,
            stop,
            peers,
            conns,
            handlers,
            acceptor: Some(acceptor),
        })
    }

    /// The address the server listens on (with the real port if 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Source addresses of every connection accepted so far, in order (shows what source the
    /// server saw, e.g. to prove no address translation happened).
    pub fn peers(&self) -> Vec<SocketAddr> {
        lock(&self.peers).clone()
    }
}

impl Drop for TcpEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // shutdown(2) on a listening socket wakes a blocked accept(2) on Linux.
        let _ = SockRef::from(&self.listener).shutdown(Shutdown::Both);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for conn in lock(&self.conns).drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
        let handlers: Vec<_> = lock(&self.handlers).drain(..).collect();
        for h in handlers {
            let _ = h.join();
        }
    }
}

/// Echoes lines until the peer closes or the connection is shut down.
fn echo_lines(stream: TcpStream) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if writer.write_all(line.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

/// An established TCP connection to a [`TcpEcho`] that can be exercised again and again.
#[derive(Debug)]
pub struct TcpConn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    timeout: Duration,
}

impl TcpConn {
    /// Sends `msg` as one line and waits (up to the connection's timeout) for its echo; returns
    /// the echoed text. Earlier echoes still in flight (from a roundtrip that timed out) are
    /// skipped. `Err(Timeout)` after earlier successes is how a cut flow shows.
    pub fn roundtrip(&mut self, msg: &str) -> Result<String, ProbeError> {
        if msg.contains('\n') {
            return Err(ProbeError::Usage("TCP messages are lines: no '\\n'".into()));
        }
        self.stream.write_all(format!("{msg}\n").as_bytes())?;
        let deadline = Instant::now() + self.timeout;
        let mut line = String::new();
        loop {
            let Some(left) = remaining(deadline) else {
                return Err(ProbeError::Timeout);
            };
            self.stream.set_read_timeout(Some(left))?;
            line.clear();
            match self.reader.read_line(&mut line)? {
                0 => return Err(ProbeError::Closed),
                _ if line.trim_end_matches('\n') == msg => return Ok(msg.to_string()),
                _ => continue,
            }
        }
    }

    /// Changes how long [`TcpConn::roundtrip`] waits.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Local (source) address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Remote address of the connection.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }
}

/// Connects from namespace `ns` (optionally from source address `src`) to `dst`, waiting at most
/// `timeout` for the handshake; the same `timeout` later bounds each [`TcpConn::roundtrip`].
pub fn tcp_connect(
    ns: &str,
    src: Option<IpAddr>,
    dst: SocketAddr,
    timeout: Duration,
) -> Result<TcpConn, ProbeError> {
    if let Some(src) = src {
        same_family(src, dst.ip())?;
    }
    let stream = try_in_ns(ns, || -> Result<TcpStream, ProbeError> {
        let sock = Socket::new(Domain::for_address(dst), Type::STREAM, Some(Protocol::TCP))?;
        if let Some(src) = src {
            sock.bind(&SocketAddr::new(src, 0).into())?;
        }
        sock.connect_timeout(&dst.into(), timeout)?;
        Ok(sock.into())
    })??;
    stream.set_nodelay(true)?;
    let reader = BufReader::new(stream.try_clone()?);
    Ok(TcpConn {
        stream,
        reader,
        timeout,
    })
}

/// Whether a TCP connection from `ns` to `dst` (an echo server) opens and echoes one line
/// within `timeout` each.
pub fn tcp_reachable(ns: &str, src: Option<IpAddr>, dst: SocketAddr, timeout: Duration) -> bool {
    tcp_connect(ns, src, dst, timeout)
        .and_then(|mut conn| conn.roundtrip("zonegate-probe"))
        .is_ok()
}

// ---------------------------------------------------------------------------------------------
// UDP

/// A UDP server that sends every datagram back to its sender, until dropped.
#[derive(Debug)]
pub struct UdpEcho {
    addrs: Vec<SocketAddr>,
    sockets: Vec<UdpSocket>,
    stop: Arc<AtomicBool>,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    threads: Vec<JoinHandle<()>>,
}

impl UdpEcho {
    /// Serves on `bind` inside `ns`. An unspecified address (`0.0.0.0` / `::`) binds one socket
    /// per address of that family present in `ns` now (link-local IPv6 excepted), so that every
    /// reply leaves from the address the request was sent to, as a stateful firewall expects; a
    /// single wildcard socket would answer from the kernel's preferred source instead. Port 0
    /// picks a free port, the same for all sockets.
    pub fn start(ns: &str, bind: SocketAddr) -> Result<UdpEcho, ProbeError> {
        let sockets = try_in_ns(ns, || -> io::Result<Vec<UdpSocket>> {
            if !bind.ip().is_unspecified() {
                return Ok(vec![UdpSocket::bind(bind)?]);
            }
            let mut ips: Vec<IpAddr> = pnet::datalink::interfaces()
                .into_iter()
                .flat_map(|i| i.ips.into_iter().map(|n| n.ip()))
                .filter(|ip| ip.is_ipv4() == bind.is_ipv4() && !is_link_local(*ip))
                .collect();
            ips.sort();
            ips.dedup();
            let mut port = bind.port();
            let mut out = Vec::new();
            for ip in ips {
                let sock = UdpSocket::bind(SocketAddr::new(ip, port))?;
                port = sock.local_addr()?.port();
                out.push(sock);
            }
            if out.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    format!(
                        "no {} address in namespace",
                        if bind.is_ipv4() { "IPv4" } else { "IPv6" }
                    ),
                ));
            }
            Ok(out)
        })??;
        let stop = Arc::new(AtomicBool::new(false));
        let peers = Arc::new(Mutex::new(Vec::new()));
        let mut addrs = Vec::new();
        let mut threads = Vec::new();
        for sock in &sockets {
            let addr = sock.local_addr()?;
            addrs.push(addr);
            let sock = sock.try_clone()?;
            // A fallback wake-up in case shutdown(2) does not interrupt the receive.
            sock.set_read_timeout(Some(Duration::from_millis(200)))?;
            let (stop, peers) = (stop.clone(), peers.clone());
            threads.push(
                thread::Builder::new()
                    .name(format!("udp-echo-{addr}"))
                    .spawn(move || udp_echo_loop(&sock, &stop, &peers))?,
            );
        }
        Ok(UdpEcho {
            addrs,
            sockets,
            stop,
            peers,
            threads,
        })
    }

    /// The port served (the same on every address).
    pub fn port(&self) -> u16 {
        self.addrs[0].port()
    }

    /// Every address:port served.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Source address:port of every datagram received so far, in order.
    pub fn peers(&self) -> Vec<SocketAddr> {
        lock(&self.peers).clone()
    }
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for sock in &self.sockets {
            // On Linux, shutdown(SHUT_RD) wakes a receive blocked on an unconnected UDP socket
            // (it returns ENOTCONN here, but still wakes the reader).
            let _ = SockRef::from(sock).shutdown(Shutdown::Read);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn udp_echo_loop(sock: &UdpSocket, stop: &AtomicBool, peers: &Mutex<Vec<SocketAddr>>) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        match sock.recv_from(&mut buf) {
            Ok((n, peer)) => {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                lock(peers).push(SocketAddr::new(peer.ip().to_canonical(), peer.port()));
                let _ = sock.send_to(&buf[..n], peer);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            // E.g. a queued ICMP error; do not spin on a persistent one.
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// A UDP socket in a namespace with a fixed local address and port, connected to one peer, for
/// flows that must keep their 5-tuple across many datagrams (e.g. a flow that began before the
/// ruleset was loaded).
#[derive(Debug)]
pub struct UdpFlow {
    socket: UdpSocket,
}

impl UdpFlow {
    /// Binds `src` (use [`any_source`] for any address and port) in `ns` and connects to `dst`,
    /// so only datagrams from `dst` are received and an ICMP port unreachable surfaces as
    /// [`ProbeError::Refused`].
    pub fn open(ns: &str, src: SocketAddr, dst: SocketAddr) -> Result<UdpFlow, ProbeError> {
        same_family(src.ip(), dst.ip())?;
        let socket = try_in_ns(ns, || -> io::Result<UdpSocket> {
            let sock = UdpSocket::bind(src)?;
            sock.connect(dst)?;
            Ok(sock)
        })??;
        Ok(UdpFlow { socket })
    }

    /// The local address and port of the flow.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Sends one datagram.
    pub fn send(&self, msg: &str) -> Result<(), ProbeError> {
        self.socket.send(msg.as_bytes())?;
        Ok(())
    }

    /// Waits up to `timeout` for the next datagram from the peer.
    pub fn recv(&self, timeout: Duration) -> Result<String, ProbeError> {
        let deadline = Instant::now() + timeout;
        let Some(left) = remaining(deadline) else {
            return Err(ProbeError::Timeout);
        };
        self.socket.set_read_timeout(Some(left))?;
        let mut buf = vec![0u8; 65536];
        let n = self.socket.recv(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Sends `msg` and waits up to `timeout` for a datagram carrying exactly `msg` back; other
    /// datagrams (late echoes of earlier messages) are skipped.
    pub fn roundtrip(&self, msg: &str, timeout: Duration) -> Result<String, ProbeError> {
        self.send(msg)?;
        let deadline = Instant::now() + timeout;
        loop {
            let Some(left) = remaining(deadline) else {
                return Err(ProbeError::Timeout);
            };
            let got = self.recv(left)?;
            if got == msg {
                return Ok(got);
            }
        }
    }
}

/// Sends `msg` from `src` (a fixed port, or port 0) in `ns` to a UDP echo at `dst`, and returns
/// the echo if it arrives within `timeout`.
pub fn udp_roundtrip(
    ns: &str,
    src: SocketAddr,
    dst: SocketAddr,
    msg: &str,
    timeout: Duration,
) -> Option<String> {
    udp_probe(ns, src, dst, msg, timeout).ok()
}

/// [`udp_roundtrip`] with the reason for a missing answer.
pub fn udp_probe(
    ns: &str,
    src: SocketAddr,
    dst: SocketAddr,
    msg: &str,
    timeout: Duration,
) -> Result<String, ProbeError> {
    UdpFlow::open(ns, src, dst)?.roundtrip(msg, timeout)
}

// ---------------------------------------------------------------------------------------------
// ICMP echo

/// Per-process counter for echo identifiers and payload tokens.
static PING_COUNTER: AtomicU32 = AtomicU32::new(0);

const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_TIME_EXCEEDED: u8 = 11;
const ICMP6_DEST_UNREACH: u8 = 1;
const ICMP6_TIME_EXCEEDED: u8 = 3;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;

/// Whether an ICMP echo from `ns` (optionally from source `src`) to `dst` is answered within
/// `timeout`. IPv4 and IPv6.
pub fn ping(ns: &str, src: Option<IpAddr>, dst: IpAddr, timeout: Duration) -> bool {
    echo_request(ns, src, dst, timeout).is_ok()
}

/// Sends one ICMP echo request and returns the round-trip time, or why there was no reply:
/// [`ProbeError::Timeout`] for silence, [`ProbeError::Unreachable`] when an ICMP error quoting
/// our request came back (e.g. `reject with icmpx admin-prohibited`).
///
/// Uses a raw socket (needs CAP_NET_RAW). The identifier, sequence number and a payload token
/// are unique within this process and replies are matched on all three plus the source address,
/// so concurrent pings never take each other's replies. Link-local destinations are not
/// supported (no scope id).
pub fn echo_request(
    ns: &str,
    src: Option<IpAddr>,
    dst: IpAddr,
    timeout: Duration,
) -> Result<Duration, ProbeError> {
    if let Some(src) = src {
        same_family(src, dst)?;
    }
    let n = PING_COUNTER.fetch_add(1, Ordering::Relaxed);
    let ident = (std::process::id() as u16).wrapping_add(n as u16);
    let seq = (n >> 16) as u16 ^ 0x5a5a;
    let mut token = b"zonegate".to_vec();
    token.extend_from_slice(&std::process::id().to_be_bytes());
    token.extend_from_slice(&n.to_be_bytes());

    let sock = try_in_ns(ns, || -> io::Result<UdpSocket> {
        let (domain, proto) = match dst {
            IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
            IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
        };
        let sock = Socket::new(domain, Type::RAW, Some(proto))?;
        if let Some(src) = src {
            sock.bind(&SocketAddr::new(src, 0).into())?;
        }
        // std's UdpSocket is just a datagram-socket wrapper around sendto/recvfrom, which is all
        // a raw socket needs; it spares us MaybeUninit buffers.
        Ok(sock.into())
    })??;

    let request_type = if dst.is_ipv4() {
        ICMP_ECHO_REQUEST
    } else {
        ICMP6_ECHO_REQUEST
    };
    let mut msg = vec![request_type, 0, 0, 0];
    msg.extend_from_slice(&ident.to_be_bytes());
    msg.extend_from_slice(&seq.to_be_bytes());
    msg.extend_from_slice(&token);
    if dst.is_ipv4() {
        let sum = pnet::packet::util::checksum(&msg, 1);
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    // For ICMPv6 raw sockets the kernel always fills in the checksum (it needs the source
    // address, which it picks).
    let started = Instant::now();
    sock.send_to(&msg, SocketAddr::new(dst, 0))?;

    let deadline = started + timeout;
    let mut buf = vec![0u8; 65536];
    loop {
        let Some(left) = remaining(deadline) else {
            return Err(ProbeError::Timeout);
        };
        sock.set_read_timeout(Some(left))?;
        let (len, from) = sock.recv_from(&mut buf)?;
        let data = &buf[..len];
        let (from_ip, icmp) = match dst {
            // IPv4 raw sockets deliver the IP header too; IPv6 ones deliver only the ICMPv6 part.
            IpAddr::V4(_) => match ipv4_payload(data, 1) {
                Some((src4, _dst4, payload)) => (IpAddr::V4(src4), payload),
                None => continue,
            },
            IpAddr::V6(_) => (from.ip(), data),
        };
        match classify_icmp(icmp, dst.is_ipv4(), ident, seq, &token) {
            IcmpMatch::Reply if from_ip == dst => return Ok(started.elapsed()),
            IcmpMatch::Error { icmp_type, code } => {
                return Err(ProbeError::Unreachable(format!(
                    "ICMP{} type {icmp_type} code {code} from {from_ip}",
                    if dst.is_ipv4() { "" } else { "v6" }
                )))
            }
            _ => continue,
        }
    }
}

enum IcmpMatch {
    Reply,
    Error { icmp_type: u8, code: u8 },
    Other,
}

/// Is `icmp` the reply to our echo, an error quoting our echo, or something else?
fn classify_icmp(icmp: &[u8], v4: bool, ident: u16, seq: u16, token: &[u8]) -> IcmpMatch {
    let ours = |echo: &[u8], request_type: u8| {
        echo.len() >= 8
            && echo[0] == request_type
            && echo[4..6] == ident.to_be_bytes()
            && echo[6..8] == seq.to_be_bytes()
    };
    if icmp.len() < 8 {
        return IcmpMatch::Other;
    }
    let (reply_type, request_type) = if v4 {
        (ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST)
    } else {
        (ICMP6_ECHO_REPLY, ICMP6_ECHO_REQUEST)
    };
    if icmp[0] == reply_type {
        let mut as_request = icmp.to_vec();
        as_request[0] = request_type;
        if ours(&as_request, request_type) && icmp[8..].starts_with(token) {
            return IcmpMatch::Reply;
        }
        return IcmpMatch::Other;
    }
    let is_error = if v4 {
        matches!(icmp[0], ICMP_DEST_UNREACH | ICMP_TIME_EXCEEDED)
    } else {
        matches!(icmp[0], ICMP6_DEST_UNREACH | ICMP6_TIME_EXCEEDED)
    };
    if !is_error {
        return IcmpMatch::Other;
    }
    // The error quotes our original IP packet after its own 8-byte header.
    let quoted = &icmp[8..];
    let inner = if v4 {
        ipv4_payload(quoted, 1).map(|(_, _, p)| p)
    } else {
        (quoted.len() >= 40 && quoted[0] >> 4 == 6 && quoted[6] == 58).then(|| &quoted[40..])
    };
    match inner {
        Some(echo) if ours(echo, request_type) => IcmpMatch::Error {
            icmp_type: icmp[0],
            code: icmp[1],
        },
        _ => IcmpMatch::Other,
    }
}

/// Source, destination and payload of an IPv4 packet carrying `protocol`, if `data` is one.
fn ipv4_payload(data: &[u8], protocol: u8) -> Option<(Ipv4Addr, Ipv4Addr, &[u8])> {
    if data.len() < 20 || data[0] >> 4 != 4 || data[9] != protocol {
        return None;
    }
    let ihl = usize::from(data[0] & 0x0f) * 4;
    let src = Ipv4Addr::new(data[12], data[13], data[14], data[15]);
    let dst = Ipv4Addr::new(data[16], data[17], data[18], data[19]);
    data.get(ihl..).map(|p| (src, dst, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_errors_map_to_firewall_outcomes() {
        let e = |k| ProbeError::from(io::Error::from(k));
        assert!(matches!(e(io::ErrorKind::TimedOut), ProbeError::Timeout));
        assert!(matches!(e(io::ErrorKind::WouldBlock), ProbeError::Timeout));
        assert!(matches!(
            e(io::ErrorKind::ConnectionRefused),
            ProbeError::Refused
        ));
        assert!(matches!(
            e(io::ErrorKind::ConnectionReset),
            ProbeError::Closed
        ));
        let unreach = ProbeError::from(io::Error::from_raw_os_error(libc::EHOSTUNREACH));
        assert!(matches!(unreach, ProbeError::Unreachable(_)));
    }

    #[test]
    fn icmp_matching_needs_our_ident_seq_and_token() {
        let token = b"zonegate-token";
        let mut reply = vec![ICMP_ECHO_REPLY, 0, 0, 0, 0x12, 0x34, 0, 7];
        reply.extend_from_slice(token);
        assert!(matches!(
            classify_icmp(&reply, true, 0x1234, 7, token),
            IcmpMatch::Reply
        ));
        assert!(matches!(
            classify_icmp(&reply, true, 0x1235, 7, token),
            IcmpMatch::Other
        ));
        assert!(matches!(
            classify_icmp(&reply, true, 0x1234, 7, b"other"),
            IcmpMatch::Other
        ));

        // An admin-prohibited error quoting our request (IPv4 header + echo header).
        let mut err = vec![ICMP_DEST_UNREACH, 13, 0, 0, 0, 0, 0, 0];
        let mut inner_ip = vec![0x45, 0, 0, 36, 0, 0, 0, 0, 64, 1, 0, 0];
        inner_ip.extend_from_slice(&[10, 0, 0, 5, 10, 0, 1, 5]);
        err.extend_from_slice(&inner_ip);
        err.extend_from_slice(&[ICMP_ECHO_REQUEST, 0, 0, 0, 0x12, 0x34, 0, 7]);
        assert!(matches!(
            classify_icmp(&err, true, 0x1234, 7, token),
            IcmpMatch::Error {
                icmp_type: 3,
                code: 13
            }
        ));
    }
}
