//! The syslog sink: RFC 5424 messages whose structured data carries the fields a SIEM routes
//! on (id, type, severity, gateway, policy, ruleset hash) and whose MSG is the alert JSON.
//! Transports: TCP with RFC 6587 octet counting (`LEN SP MSG`), the same over TLS (RFC 5425),
//! UDP (RFC 5426, one datagram per message, best effort), and the local datagram socket.
//!
//! Plain TCP has no application acknowledgement: a write that succeeded may still be lost when
//! the collector dies with it unread. So the sink checks an idle connection for a close before
//! writing, and after any reconnect re-sends the frames written in the last few seconds on the
//! old connection. That repeats some alerts (receivers deduplicate by id) instead of losing the
//! ones in flight.

use super::siem;
use super::tls::{self, Stream, TlsTarget};
use super::{Sink, SinkError};
use crate::config::{SyslogConfig, SyslogFormat, SyslogFraming, SyslogTransport};
use crate::queue::QueuedAlert;
use std::collections::VecDeque;
use std::io::Write;
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Frames written within this long before a connection broke are sent again on the next one.
const RESEND_WINDOW: Duration = Duration::from_secs(5);
/// At most this many frames are kept for that.
const RESEND_MAX: usize = 256;
/// A connection idle this long is checked for a close before the next write.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// RFC 5424 facility code of a facility name.
pub fn facility_code(name: &str) -> Option<u8> {
    Some(match name {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        "ntp" => 12,
        "audit" => 13,
        "alert" => 14,
        "clock" => 15,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    })
}

/// How one RFC 5424 message is written.
#[derive(Debug, Clone)]
pub struct Format {
    pub facility: u8,
    pub hostname: String,
    pub app_name: String,
    pub procid: String,
    pub sd_id: String,
    pub utf8_bom: bool,
    /// RFC 5424 (this type's [`Format::message`]) or one of [`siem`]'s formats.
    pub kind: SyslogFormat,
}

/// Keeps printable US-ASCII without spaces (RFC 5424 header fields), at most `max` bytes, or
/// "-" (NILVALUE) when nothing is left.
fn header_field(s: &str, max: usize) -> String {
    let out: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if out.is_empty() {
        "-".into()
    } else {
        out
    }
}

/// PARAM-VALUE escaping (RFC 5424 section 6.3.3): `"`, `\` and `]` get a backslash.
fn escape_param(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Format {
    /// One message in the configured format. `max_len` bounds datagrams (see [`Format::message`]).
    pub fn render(&self, severity_code: u8, payload: &[u8], max_len: Option<usize>) -> Vec<u8> {
        let pri = u16::from(self.facility) * 8 + u16::from(severity_code);
        let time = || {
            serde_json::from_slice::<serde_json::Value>(payload)
                .ok()
                .and_then(|v| v.get("time").and_then(|t| t.as_str()).map(str::to_string))
                .unwrap_or_default()
        };
        let bounded = |mut m: Vec<u8>| {
            if let Some(max) = max_len {
                // CEF and LEEF records have no short form; cut at a character boundary.
                if m.len() > max {
                    let mut cut = max;
                    while cut > 0 && (m[cut] & 0xC0) == 0x80 {
                        cut -= 1;
                    }
                    m.truncate(cut);
                }
            }
            m
        };
        match self.kind {
            SyslogFormat::Rfc5424 => self.message(severity_code, payload, max_len),
            SyslogFormat::Rfc3164 => siem::rfc3164(
                pri,
                &self.hostname,
                &self.app_name,
                &self.procid,
                payload,
                max_len,
            ),
            SyslogFormat::Cef => bounded(
                (siem::rfc3164_header(pri, &self.hostname, &time()) + &siem::cef(payload))
                    .into_bytes(),
            ),
            SyslogFormat::Leef => bounded(
                (siem::rfc3164_header(pri, &self.hostname, &time()) + &siem::leef(payload))
                    .into_bytes(),
            ),
        }
    }

    /// One RFC 5424 message for `payload` (the alert JSON). With `max_len`, a longer message gets a short
    /// MSG (id, type, severity, summary) and `truncated="true"` in the structured data.
    pub fn message(&self, severity_code: u8, payload: &[u8], max_len: Option<usize>) -> Vec<u8> {
        let v: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        let typ = s("type");
        let time = s("time");
        let pri = u16::from(self.facility) * 8 + u16::from(severity_code);
        let mut sd = format!("[{}", self.sd_id);
        let mut params: Vec<(&str, String)> = vec![
            ("id", s("id")),
            ("type", typ.clone()),
            ("severity", s("severity")),
            ("gateway", s("gateway")),
        ];
        if let Some(p) = v.get("policy").filter(|p| !p.is_null()) {
            let field = |k: &str| p.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
            params.push(("policy", field("name")));
            params.push(("revision", field("revision")));
        }
        if let Some(h) = v.get("ruleset_sha256").and_then(|x| x.as_str()) {
            params.push(("ruleset_sha256", h.to_string()));
        }
        if let Some(n) = v.get("schema_version").and_then(|x| x.as_u64()) {
            params.push(("schema_version", n.to_string()));
        }
        for (k, val) in &params {
            sd.push_str(&format!(" {k}=\"{}\"", escape_param(val)));
        }
        let head = format!(
            "<{pri}>1 {} {} {} {} {} ",
            if time.is_empty() { "-" } else { &time },
            header_field(&self.hostname, 255),
            header_field(&self.app_name, 48),
            header_field(&self.procid, 128),
            header_field(&typ, 32),
        );
        let bom: &[u8] = if self.utf8_bom { b"\xEF\xBB\xBF" } else { b"" };
        let full_len = head.len() + sd.len() + 2 + bom.len() + payload.len();
        let mut out = Vec::with_capacity(full_len);
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(sd.as_bytes());
        match max_len {
            Some(max) if full_len > max => {
                out.extend_from_slice(b" truncated=\"true\"] ");
                out.extend_from_slice(bom);
                let short = serde_json::json!({
                    "id": s("id"), "type": typ, "severity": s("severity"),
                    "summary": s("summary"), "truncated": true,
                });
                out.extend_from_slice(short.to_string().as_bytes());
                out.truncate(max);
            }
            _ => {
                out.extend_from_slice(b"] ");
                out.extend_from_slice(bom);
                out.extend_from_slice(payload);
            }
        }
        out
    }
}

enum Transport {
    Stream {
        host: String,
        port: u16,
        tls: Option<TlsTarget>,
        verify: bool,
        ca_file: Option<PathBuf>,
        server_name: Option<String>,
        conn: Option<(Stream, Instant)>,
        recent: VecDeque<(Instant, Vec<u8>)>,
        resend: bool,
    },
    Udp {
        address: String,
        socket: Option<UdpSocket>,
    },
    Unix {
        path: PathBuf,
        socket: Option<UnixDatagram>,
    },
}

pub struct SyslogSink {
    format: Format,
    framing: SyslogFraming,
    transport: Transport,
    timeout: Duration,
    max_datagram: usize,
}

impl SyslogSink {
    pub fn new(config: &SyslogConfig) -> Result<SyslogSink, SinkError> {
        let facility = facility_code(&config.facility)
            .ok_or_else(|| SinkError::Config(format!("unknown facility {:?}", config.facility)))?;
        let hostname = config.hostname.clone().unwrap_or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default()
        });
        let format = Format {
            facility,
            hostname,
            app_name: config.app_name.clone(),
            procid: std::process::id().to_string(),
            sd_id: config.sd_id.clone(),
            utf8_bom: config.utf8_bom,
            kind: config.format,
        };
        let framing = config.framing.unwrap_or(match config.format {
            SyslogFormat::Rfc5424 => SyslogFraming::OctetCounting,
            _ => SyslogFraming::Newline,
        });
        let transport = match config.transport {
            SyslogTransport::Tcp | SyslogTransport::Tls => {
                let (host, port) = config.address.rsplit_once(':').ok_or_else(|| {
                    SinkError::Config(format!("address {:?} is not host:port", config.address))
                })?;
                let port = port.parse().map_err(|_| {
                    SinkError::Config(format!("invalid port in {:?}", config.address))
                })?;
                Transport::Stream {
                    host: host.to_string(),
                    port,
                    tls: None,
                    verify: config.tls_verify,
                    ca_file: config
                        .ca_file
                        .clone()
                        .filter(|_| config.transport == SyslogTransport::Tls),
                    server_name: (config.transport == SyslogTransport::Tls).then(|| {
                        config
                            .server_name
                            .clone()
                            .unwrap_or_else(|| host.to_string())
                    }),
                    conn: None,
                    recent: VecDeque::new(),
                    resend: false,
                }
            }
            SyslogTransport::Udp => Transport::Udp {
                address: config.address.clone(),
                socket: None,
            },
            SyslogTransport::Unix => Transport::Unix {
                path: if config.address.is_empty() {
                    PathBuf::from("/dev/log")
                } else {
                    PathBuf::from(&config.address)
                },
                socket: None,
            },
        };
        Ok(SyslogSink {
            format,
            framing,
            transport,
            timeout: Duration::from_secs(config.timeout_secs.max(1)),
            max_datagram: config.max_datagram_bytes.max(480),
        })
    }
}

impl Sink for SyslogSink {
    fn deliver(&mut self, alert: &QueuedAlert) -> Result<(), SinkError> {
        let severity = alert.severity.syslog();
        match &mut self.transport {
            Transport::Stream {
                host,
                port,
                tls,
                verify,
                ca_file,
                server_name,
                conn,
                recent,
                resend,
            } => {
                let msg = self.format.render(severity, &alert.payload, None);
                let frame = match self.framing {
                    SyslogFraming::OctetCounting => {
                        let mut frame = format!("{} ", msg.len()).into_bytes();
                        frame.extend_from_slice(&msg);
                        frame
                    }
                    SyslogFraming::Newline => {
                        // Our formats never hold a raw LF (JSON and CEF escape it, LEEF
                        // replaces it), so a line is exactly one message.
                        let mut frame = msg;
                        frame.push(b'\n');
                        frame
                    }
                };
                if let Some((c, last)) = conn.as_ref() {
                    if last.elapsed() >= IDLE_CHECK && c.peer_gone() {
                        *conn = None;
                        *resend = true;
                    }
                }
                if conn.is_none() {
                    if let (Some(name), None) = (server_name.as_deref(), tls.as_ref()) {
                        *tls = Some(TlsTarget {
                            config: tls::client_config(*verify, ca_file.as_deref(), None)?,
                            server_name: tls::server_name(name)?,
                        });
                    }
                    let mut c = tls::connect(host, *port, self.timeout, tls.as_ref())
                        .inspect_err(|_| *tls = None)?;
                    if *resend {
                        let cutoff = Instant::now().checked_sub(RESEND_WINDOW);
                        for (at, old) in recent.iter() {
                            if cutoff.is_none_or(|c| *at >= c) {
                                c.write_all(old)
                                    .map_err(SinkError::io("re-sending recent messages"))?;
                            }
                        }
                        *resend = false;
                    }
                    recent.clear();
                    *conn = Some((c, Instant::now()));
                }
                let Some((c, last)) = conn.as_mut() else {
                    return Err(SinkError::Config("no connection".into()));
                };
                if let Err(e) = c.write_all(&frame).and_then(|()| c.flush()) {
                    *conn = None;
                    *resend = true;
                    return Err(SinkError::io(format!("writing to {host}:{port}"))(e));
                }
                *last = Instant::now();
                recent.push_back((Instant::now(), frame));
                while recent.len() > RESEND_MAX {
                    recent.pop_front();
                }
                Ok(())
            }
            Transport::Udp { address, socket } => {
                let msg = self
                    .format
                    .render(severity, &alert.payload, Some(self.max_datagram));
                if socket.is_none() {
                    let bind = if address.starts_with('[') {
                        "[::]:0"
                    } else {
                        "0.0.0.0:0"
                    };
                    let s = UdpSocket::bind(bind).map_err(SinkError::io("binding a UDP socket"))?;
                    s.connect(address.as_str())
                        .map_err(SinkError::io(format!("resolving {address}")))?;
                    *socket = Some(s);
                }
                let Some(s) = socket.as_ref() else {
                    return Err(SinkError::Config("no socket".into()));
                };
                s.send(&msg).map(|_| ()).map_err(|e| {
                    *socket = None;
                    SinkError::io(format!("sending to {address}"))(e)
                })
            }
            Transport::Unix { path, socket } => {
                let msg = self
                    .format
                    .render(severity, &alert.payload, Some(self.max_datagram));
                if socket.is_none() {
                    *socket = Some(
                        UnixDatagram::unbound().map_err(SinkError::io("creating a unix socket"))?,
                    );
                }
                let Some(s) = socket.as_ref() else {
                    return Err(SinkError::Config("no socket".into()));
                };
                s.send_to(&msg, &*path).map(|_| ()).map_err(|e| {
                    *socket = None;
                    SinkError::io(format!("sending to {}", path.display()))(e)
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format() -> Format {
        Format {
            facility: 16,
            hostname: "gw 1".into(),
            app_name: "zonegate".into(),
            procid: "42".into(),
            sd_id: "zonegate@32473".into(),
            utf8_bom: false,
            kind: SyslogFormat::Rfc5424,
        }
    }

    #[test]
    fn message_has_rfc5424_header_and_escaped_structured_data() {
        let payload = br#"{"id":"x-1","type":"drift-detected","severity":"high","time":"2026-04-01T10:00:00.000+09:00","gateway":"g\"]w","policy":{"name":"p","revision":"r"},"ruleset_sha256":"ab","schema_version":1}"#;
        let m = String::from_utf8(format().message(3, payload, None)).unwrap();
        assert!(
            m.starts_with("<131>1 2026-04-01T10:00:00.000+09:00 gw1 zonegate 42 drift-detected [zonegate@32473 id=\"x-1\""),
            "{m}"
        );
        assert!(m.contains(r#"gateway="g\"\]w""#), "{m}");
        assert!(m.ends_with(std::str::from_utf8(payload).unwrap()));
    }

    #[test]
    fn long_datagrams_get_a_short_msg() {
        let payload = format!(
            r#"{{"id":"x","type":"t","severity":"low","summary":"s","pad":"{}"}}"#,
            "a".repeat(5000)
        );
        let m = format().message(5, payload.as_bytes(), Some(1024));
        assert!(m.len() <= 1024);
        let text = String::from_utf8_lossy(&m);
        assert!(text.contains("truncated=\"true\""));
    }

    #[test]
    fn cef_and_leef_datagrams_are_cut_at_a_character_boundary() {
        let payload = format!(
            r#"{{"id":"x","type":"t","severity":"low","time":"2026-04-01T10:00:00.000+09:00","summary":"{}"}}"#,
            "あ".repeat(2000)
        );
        for kind in [SyslogFormat::Cef, SyslogFormat::Leef] {
            let f = Format { kind, ..format() };
            let m = f.render(5, payload.as_bytes(), Some(1000));
            assert!(m.len() <= 1000 && m.len() > 990, "{kind:?}: {}", m.len());
            let text = String::from_utf8(m).expect("whole characters");
            assert!(text.starts_with("<133>Apr  1 10:00:00 gw1 "), "{text}");
        }
    }
}
