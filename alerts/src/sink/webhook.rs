//! The webhook sink: one HTTP/1.1 POST of the alert JSON per alert, over a kept-alive
//! connection, plain or TLS. Hand-written rather than a client crate because a webhook needs
//! exactly one request shape, and owning it keeps three properties easy to see here: redirects
//! are never followed (a redirect would carry the bearer token elsewhere), every socket step has
//! a timeout, and the TLS path is the one the syslog sink uses too.
//!
//! Through an HTTP proxy (`proxy`), an https:// receiver is reached through a CONNECT tunnel,
//! so TLS (and the certificate check) stays end to end with the receiver; an http:// receiver
//! gets an absolute-form request. Proxy credentials (HTTP Basic) come from a file read at every
//! connection; a 407 answer is reported as such, naming the file. This stays hand-written rather
//! than a client crate (ureq 3 has proxies and client certificates) because the properties above
//! and the shared TLS path are what the sink's tests check, and adding CONNECT is about a hundred
//! lines, less than a second HTTP/TLS stack in the build.
//!
//! Delivered means a 2xx status. 408, 429, 5xx, 3xx, 401/403/404 and network errors are retried
//! (the receiver or its credentials can be fixed without losing alerts); 400, 413, 415 and 422
//! say this very alert is refused, and the worker skips it after a few attempts.

use super::tls::{self, Stream, TlsTarget};
use super::{Sink, SinkError};
use crate::config::WebhookConfig;
use crate::queue::QueuedAlert;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Longest response head we read; longer is not a webhook receiver.
const MAX_HEAD: usize = 16 * 1024;
/// Response bodies are read (to keep the connection usable) and discarded, up to this much.
const MAX_BODY: usize = 1024 * 1024;

/// A parsed `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    /// Host as written (an IPv6 address keeps its brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, at least "/".
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("{url:?} is not an http:// or https:// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err("credentials in the URL are not supported: use bearer_token_file".into());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or("unclosed [ in the host")?;
            let host = &authority[..end + 2];
            let port = authority[end + 2..].strip_prefix(':');
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err("the URL has no host".into());
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("invalid port {p:?}"))?,
            None if tls => 443,
            None => 80,
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("the path contains spaces or control characters".into());
        }
        Ok(Url {
            tls,
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    fn host_header(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A parsed `proxy = "http://host:port"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub host: String,
    pub port: u16,
}

impl Proxy {
    pub fn parse(proxy: &str) -> Result<Proxy, String> {
        if proxy.starts_with("https://") {
            return Err(format!(
                "{proxy:?}: TLS to the proxy itself is not supported; use http://host:port (an https:// receiver is still reached with TLS end to end through CONNECT)"
            ));
        }
        let url = Url::parse(proxy).map_err(|e| {
            if e.contains("credentials") {
                "credentials in the proxy URL are not supported: use proxy_credentials_file"
                    .to_string()
            } else {
                e
            }
        })?;
        if url.path != "/" {
            return Err(format!("{proxy:?}: a proxy URL has no path"));
        }
        Ok(Proxy {
            host: url.host,
            port: url.port,
        })
    }
}

/// Reads `user:password` from a proxy credentials file and makes the Basic credentials.
fn proxy_credentials(path: &std::path::Path) -> Result<String, SinkError> {
    use std::os::unix::fs::PermissionsExt;
    let what = format!("proxy credentials file {}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| SinkError::Config(format!("{what}: {e}")))?;
    if meta.permissions().mode() & 0o004 != 0 {
        return Err(SinkError::Config(format!(
            "{what} is readable by every user; run `chmod o-rwx {}` (it holds a password)",
            path.display()
        )));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| SinkError::Config(format!("{what}: {e}")))?;
    let line = text.trim_end_matches(['\r', '\n']);
    if line.contains(['\r', '\n']) || !line.contains(':') || line.starts_with(':') {
        return Err(SinkError::Config(format!(
            "{what} must hold one line `user:password`"
        )));
    }
    Ok(base64(line.as_bytes()))
}

/// Standard base64 with padding (RFC 4648 section 4), for HTTP Basic credentials.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub struct WebhookSink {
    name: String,
    url: Url,
    token_file: Option<PathBuf>,
    timeout: Duration,
    verify: bool,
    ca_file: Option<PathBuf>,
    proxy: Option<Proxy>,
    proxy_credentials_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
    tls: Option<TlsTarget>,
    conn: Option<Stream>,
}

impl WebhookSink {
    pub fn new(config: &WebhookConfig, name: &str) -> Result<WebhookSink, SinkError> {
        let url = Url::parse(&config.url).map_err(SinkError::Config)?;
        let proxy = config
            .proxy
            .as_deref()
            .map(Proxy::parse)
            .transpose()
            .map_err(|e| SinkError::Config(format!("proxy: {e}")))?;
        let client_cert = match (&config.client_cert_file, &config.client_key_file) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => None,
            _ => {
                return Err(SinkError::Config(
                    "client_cert_file and client_key_file go together: set both or neither".into(),
                ))
            }
        };
        Ok(WebhookSink {
            name: name.to_string(),
            url,
            token_file: config.bearer_token_file.clone(),
            timeout: Duration::from_secs(config.timeout_secs.max(1)),
            verify: config.tls_verify,
            ca_file: config.ca_file.clone(),
            proxy,
            proxy_credentials_file: config.proxy_credentials_file.clone(),
            client_cert,
            tls: None,
            conn: None,
        })
    }

    fn token(&self) -> Result<Option<String>, SinkError> {
        let Some(path) = &self.token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| SinkError::Config(format!("bearer token file {}: {e}", path.display())))?;
        let token = text.trim();
        // A CR or LF in the token would let the file inject headers.
        if token.is_empty() || token.bytes().any(|b| b < b' ' || b == 0x7f) {
            return Err(SinkError::Config(format!(
                "bearer token file {} is empty or holds control characters",
                path.display()
            )));
        }
        Ok(Some(token.to_string()))
    }

    fn connect(&mut self) -> Result<Stream, SinkError> {
        if self.url.tls && self.tls.is_none() {
            // Built on first use (and again after a failure), so a CA file fixed later is read.
            let client = self.client_cert.as_ref().map(|(c, k)| tls::ClientAuth {
                cert_file: c,
                key_file: k,
            });
            self.tls = Some(TlsTarget {
                config: tls::client_config(self.verify, self.ca_file.as_deref(), client)?,
                server_name: tls::server_name(&self.url.host)?,
            });
        }
        let target = if self.url.tls {
            self.tls.as_ref()
        } else {
            None
        };
        let result = match &self.proxy {
            None => tls::connect(&self.url.host, self.url.port, self.timeout, target),
            Some(proxy) => self.through_proxy(proxy, target),
        };
        result.inspect_err(|_| {
            self.tls = None;
        })
    }

    /// The `Proxy-Authorization` header line, when credentials are configured.
    fn proxy_authorization(&self) -> Result<String, SinkError> {
        Ok(match &self.proxy_credentials_file {
            Some(path) => format!(
                "Proxy-Authorization: Basic {}\r\n",
                proxy_credentials(path)?
            ),
            None => String::new(),
        })
    }

    /// Connects to the proxy; for TLS, opens a CONNECT tunnel to the receiver and completes the
    /// handshake with the receiver through it.
    fn through_proxy(
        &self,
        proxy: &Proxy,
        target: Option<&TlsTarget>,
    ) -> Result<Stream, SinkError> {
        let Some(tls_target) = target else {
            // Plain HTTP: requests go to the proxy in absolute form (see `request`).
            return tls::connect(&proxy.host, proxy.port, self.timeout, None);
        };
        let auth = self.proxy_authorization()?;
        let mut tcp = tls::tcp_connect(&proxy.host, proxy.port, self.timeout)?;
        let authority = format!("{}:{}", self.url.host, self.url.port);
        let request = format!(
            "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: zonegate-alerts/{}\r\n{auth}\r\n",
            env!("CARGO_PKG_VERSION")
        );
        let proxy_name = format!("proxy {}:{}", proxy.host, proxy.port);
        tcp.write_all(request.as_bytes())
            .map_err(SinkError::io(format!("sending CONNECT to {proxy_name}")))?;
        // Byte by byte up to the end of the head, so nothing of the tunnel is consumed here.
        let mut head = Vec::with_capacity(256);
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() > MAX_HEAD {
                return Err(SinkError::Protocol(format!(
                    "{proxy_name}: answer to CONNECT too long"
                )));
            }
            let n = tcp
                .read(&mut byte)
                .map_err(SinkError::io(format!("reading the answer of {proxy_name}")))?;
            if n == 0 {
                return Err(SinkError::Protocol(format!(
                    "{proxy_name} closed the connection after CONNECT"
                )));
            }
            head.push(byte[0]);
        }
        let status_line = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .filter(|_| status_line.starts_with("HTTP/1."))
            .ok_or_else(|| {
                SinkError::Protocol(format!("{proxy_name}: status line {status_line:?}"))
            })?;
        match status {
            200..=299 => tls::handshake(tcp, &authority, tls_target),
            407 => Err(SinkError::Proxy(format!(
                "{proxy_name} refused the credentials (407 Proxy Authentication Required){}",
                match &self.proxy_credentials_file {
                    Some(p) => format!("; check proxy_credentials_file {}", p.display()),
                    None => "; it needs proxy_credentials_file".to_string(),
                }
            ))),
            _ => Err(SinkError::Proxy(format!(
                "{proxy_name} refused CONNECT {authority}: {status_line}"
            ))),
        }
    }

    fn request(&self, alert: &QueuedAlert, token: Option<&str>) -> Result<Vec<u8>, SinkError> {
        let id = event_id(&alert.payload);
        // Through a proxy, plain HTTP goes in absolute form with the proxy's credentials; TLS
        // goes through the tunnel in origin form like a direct request.
        let (target, proxy_auth) = match &self.proxy {
            Some(_) if !self.url.tls => (
                format!("http://{}{}", self.url.host_header(), self.url.path),
                self.proxy_authorization()?,
            ),
            _ => (self.url.path.clone(), String::new()),
        };
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: zonegate-alerts/{}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n{proxy_auth}",
            target,
            self.url.host_header(),
            env!("CARGO_PKG_VERSION"),
            alert.payload.len()
        );
        if let Some(id) = id {
            // Receivers that know Idempotency-Key deduplicate retries on their own.
            head.push_str(&format!(
                "Idempotency-Key: {id}\r\nX-Zonegate-Event-Id: {id}\r\n"
            ));
        }
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&alert.payload);
        Ok(out)
    }

    fn post(&mut self, request: &[u8], reused: bool) -> Result<u16, (SinkError, bool)> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect().map_err(|e| (e, false))?,
        };
        // `true` in the error: nothing came back, so a stale kept-alive connection may be the
        // cause and one immediate retry on a fresh connection is worth it.
        conn.write_all(request)
            .and_then(|()| conn.flush())
            .map_err(|e| (SinkError::io("sending the request")(e), reused))?;
        let response = read_response(&mut conn).map_err(|(e, nothing)| (e, reused && nothing))?;
        if response.keep_alive {
            self.conn = Some(conn);
        }
        Ok(response.status)
    }
}

impl Sink for WebhookSink {
    fn deliver(&mut self, alert: &QueuedAlert) -> Result<(), SinkError> {
        let token = self.token()?;
        let request = self.request(alert, token.as_deref())?;
        let reused = self.conn.is_some();
        let status = match self.post(&request, reused) {
            Ok(s) => s,
            Err((_, true)) => self.post(&request, false).map_err(|(e, _)| e)?,
            Err((e, false)) => return Err(e),
        };
        match status {
            200..=299 => Ok(()),
            400 | 413 | 415 | 422 => Err(SinkError::Rejected { status }),
            407 => Err(SinkError::Proxy(format!(
                "the proxy refused the credentials (407 Proxy Authentication Required){}",
                match &self.proxy_credentials_file {
                    Some(p) => format!("; check proxy_credentials_file {}", p.display()),
                    None => "; it needs proxy_credentials_file".to_string(),
                }
            ))),
            300..=399 => {
                tracing::warn!(sink = %self.name, status, "Webhook answered with a redirect; redirects are not followed.");
                Err(SinkError::Status { status })
            }
            _ => Err(SinkError::Status { status }),
        }
    }
}

/// The `id` of an alert, read without parsing all of it (for the idempotency headers).
fn event_id(payload: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: String,
    }
    let id = serde_json::from_slice::<IdOnly>(payload).ok()?.id;
    id.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        .then_some(id)
}

struct Response {
    status: u16,
    keep_alive: bool,
}

/// Reads one response (skipping 1xx), its body by Content-Length, chunked encoding or to EOF.
/// The error's flag says whether no byte at all arrived.
fn read_response(conn: &mut Stream) -> Result<Response, (SinkError, bool)> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > MAX_HEAD {
                return Err((SinkError::Protocol("response head too long".into()), false));
            }
            let n = conn
                .read(&mut chunk)
                .map_err(|e| (SinkError::io("reading the response")(e), buf.is_empty()))?;
            if n == 0 {
                let nothing = buf.is_empty();
                return Err((
                    SinkError::Io {
                        context: "reading the response".into(),
                        source: std::io::ErrorKind::UnexpectedEof.into(),
                    },
                    nothing,
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|_| version.starts_with("HTTP/1."))
            .ok_or_else(|| {
                (
                    SinkError::Protocol(format!("status line {status_line:?}")),
                    false,
                )
            })?;
        let mut content_length: Option<usize> = None;
        let mut chunked = false;
        let mut keep_alive = version == "HTTP/1.1";
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.parse().ok(),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                "connection" => {
                    let v = value.to_ascii_lowercase();
                    if v.contains("close") {
                        keep_alive = false;
                    } else if v.contains("keep-alive") {
                        keep_alive = true;
                    }
                }
                _ => {}
            }
        }
        let mut rest = buf.split_off(head_end);
        if (100..200).contains(&status) {
            buf = rest;
            continue;
        }
        let mut body = |rest: &mut Vec<u8>, conn: &mut Stream| -> Result<bool, SinkError> {
            if chunked {
                read_chunked(rest, conn)?;
                Ok(true)
            } else if let Some(len) = content_length {
                if len > MAX_BODY {
                    return Ok(false);
                }
                while rest.len() < len {
                    let n = conn
                        .read(&mut chunk)
                        .map_err(SinkError::io("reading the response body"))?;
                    if n == 0 {
                        return Ok(false);
                    }
                    rest.extend_from_slice(&chunk[..n]);
                }
                Ok(true)
            } else {
                // No length: the body ends with the connection.
                let mut total = rest.len();
                loop {
                    let n = conn.read(&mut chunk).unwrap_or(0);
                    total += n;
                    if n == 0 || total > MAX_BODY {
                        return Ok(false);
                    }
                }
            }
        };
        let reusable = if status == 204 || status == 304 {
            true
        } else {
            body(&mut rest, conn).map_err(|e| (e, false))?
        };
        return Ok(Response {
            status,
            keep_alive: keep_alive && reusable,
        });
    }
}

fn read_chunked(buf: &mut Vec<u8>, conn: &mut Stream) -> Result<(), SinkError> {
    let mut chunk = [0u8; 4096];
    let mut pos = 0usize;
    let mut total = 0usize;
    let mut fill = |buf: &mut Vec<u8>, conn: &mut Stream| -> Result<(), SinkError> {
        let n = conn
            .read(&mut chunk)
            .map_err(SinkError::io("reading a chunked body"))?;
        if n == 0 {
            return Err(SinkError::Protocol("chunked body cut short".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
        Ok(())
    };
    loop {
        let line_end = loop {
            if let Some(i) = find(&buf[pos..], b"\r\n") {
                break pos + i;
            }
            fill(buf, conn)?;
        };
        let size_text = String::from_utf8_lossy(&buf[pos..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| SinkError::Protocol(format!("chunk size {size_text:?}")))?;
        total += size;
        if total > MAX_BODY {
            return Err(SinkError::Protocol("response body too long".into()));
        }
        pos = line_end + 2;
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                if let Some(i) = find(&buf[pos..], b"\r\n") {
                    if i == 0 {
                        return Ok(());
                    }
                    pos += i + 2;
                } else {
                    fill(buf, conn)?;
                }
            }
        }
        while buf.len() < pos + size + 2 {
            fill(buf, conn)?;
        }
        pos += size + 2;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("https://soc.example.jp/hooks/zg?x=1").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.path.as_str()),
            (true, "soc.example.jp", 443, "/hooks/zg?x=1")
        );
        let u = Url::parse("http://[::1]:8080").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("[::1]", 8080, "/")
        );
        assert_eq!(u.host_header(), "[::1]:8080");
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("https://user:pw@x/").is_err());
        assert!(Url::parse("https://x:99999/").is_err());
        assert!(Url::parse("https:///").is_err());
    }

    #[test]
    fn proxies_and_basic_credentials() {
        assert_eq!(
            Proxy::parse("http://proxy.example.lg.jp:3128"),
            Ok(Proxy {
                host: "proxy.example.lg.jp".into(),
                port: 3128
            })
        );
        assert!(Proxy::parse("https://p:3128").is_err());
        assert!(Proxy::parse("http://u:p@p:3128")
            .unwrap_err()
            .contains("proxy_credentials_file"));
        // RFC 4648 section 10 test vectors, and RFC 7617's example.
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc);
        }
    }

    #[test]
    fn event_ids_are_read_only_when_header_safe() {
        assert_eq!(
            event_id(br#"{"id":"0196-7abc","x":1}"#).as_deref(),
            Some("0196-7abc")
        );
        assert_eq!(event_id(b"{\"id\":\"a\\r\\nX: y\"}"), None);
    }
}
