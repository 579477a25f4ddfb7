//! The webhook sink: one HTTP/1.1 POST of the alert JSON per alert, over a kept-alive
//! connection, plain or TLS. Hand-written rather than a client crate because a webhook needs
//! exactly one request shape, and owning it keeps three properties easy to see here: redirects
//! are never followed (a redirect would carry the bearer token elsewhere), every socket step has
//! a timeout, and the TLS path is the one the syslog sink uses too.
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

pub struct WebhookSink {
    name: String,
    url: Url,
    token_file: Option<PathBuf>,
    timeout: Duration,
    verify: bool,
    ca_file: Option<PathBuf>,
    tls: Option<TlsTarget>,
    conn: Option<Stream>,
}

impl WebhookSink {
    pub fn new(config: &WebhookConfig, name: &str) -> Result<WebhookSink, SinkError> {
        let url = Url::parse(&config.url).map_err(SinkError::Config)?;
        Ok(WebhookSink {
            name: name.to_string(),
            url,
            token_file: config.bearer_token_file.clone(),
            timeout: Duration::from_secs(config.timeout_secs.max(1)),
            verify: config.tls_verify,
            ca_file: config.ca_file.clone(),
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
            self.tls = Some(TlsTarget {
                config: tls::client_config(self.verify, self.ca_file.as_deref())?,
                server_name: tls::server_name(&self.url.host)?,
            });
        }
        let target = if self.url.tls {
            self.tls.as_ref()
        } else {
            None
        };
        tls::connect(&self.url.host, self.url.port, self.timeout, target).inspect_err(|_| {
            self.tls = None;
        })
    }

    fn request(&self, alert: &QueuedAlert, token: Option<&str>) -> Vec<u8> {
        let id = event_id(&alert.payload);
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: zonegate-alerts/{}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n",
            self.url.path,
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
        out
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
        let request = self.request(alert, token.as_deref());
        let reused = self.conn.is_some();
        let status = match self.post(&request, reused) {
            Ok(s) => s,
            Err((_, true)) => self.post(&request, false).map_err(|(e, _)| e)?,
            Err((e, false)) => return Err(e),
        };
        match status {
            200..=299 => Ok(()),
            400 | 413 | 415 | 422 => Err(SinkError::Rejected { status }),
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
    fn event_ids_are_read_only_when_header_safe() {
        assert_eq!(
            event_id(br#"{"id":"0196-7abc","x":1}"#).as_deref(),
            Some("0196-7abc")
        );
        assert_eq!(event_id(b"{\"id\":\"a\\r\\nX: y\"}"), None);
    }
}
