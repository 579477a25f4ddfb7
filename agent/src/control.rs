//! The control socket: a root-only Unix stream socket (mode 0600 in a 0700 directory, and the
//! peer's uid checked) that answers `status` and carries `apply`, `apply --confirm-ok` and
//! `reload` to the running agent, so every kernel write still goes through the agent's one task.
//! One JSON request line, one JSON response line.

use crate::status::Status;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    Status,
    /// Apply the policy file now.
    Apply {
        plan_hash: Option<String>,
        confirm_s: Option<u64>,
    },
    /// Keep the last `apply --confirm` ruleset.
    ConfirmOk,
    /// Same as SIGHUP.
    Reload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    pub message: String,
    /// The exit code the CLI should end with.
    pub exit_code: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

impl Response {
    pub fn ok(message: impl Into<String>) -> Response {
        Response {
            ok: true,
            message: message.into(),
            exit_code: 0,
            status: None,
        }
    }

    pub fn err(message: impl Into<String>) -> Response {
        Response {
            ok: false,
            message: message.into(),
            exit_code: 1,
            status: None,
        }
    }
}

/// How long a client waits for the agent (an apply of a large policy takes about a second).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// Sends one request; `Err(NotFound | ConnectionRefused)` means no agent is listening.
pub async fn request(path: &Path, req: &Request) -> io::Result<Response> {
    let stream = UnixStream::connect(path).await?;
    let (r, mut w) = stream.into_split();
    let mut line = serde_json::to_string(req).map_err(io::Error::other)?;
    line.push('\n');
    w.write_all(line.as_bytes()).await?;
    let mut reader = BufReader::new(r);
    let mut answer = String::new();
    tokio::time::timeout(CLIENT_TIMEOUT, reader.read_line(&mut answer))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the agent did not answer"))??;
    serde_json::from_str(&answer).map_err(io::Error::other)
}

/// Whether an agent answers on `path`.
pub async fn is_live(path: &Path) -> bool {
    UnixStream::connect(path).await.is_ok()
}

/// Binds the socket: creates the directory (0700), removes a stale socket nobody listens on,
/// restricts the socket to its owner. Refuses if another agent answers there.
pub async fn bind(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
    }
    if path.exists() {
        if is_live(path).await {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another agent answers on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Reads one request from an accepted connection, checking that the peer is root or us.
pub async fn read_request(stream: &mut UnixStream) -> io::Result<Request> {
    let cred = stream.peer_cred()?;
    let me = nix::unistd::geteuid().as_raw();
    if cred.uid() != 0 && cred.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "only root may talk to the agent",
        ));
    }
    let mut reader = BufReader::new(&mut *stream);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request"))??;
    serde_json::from_str(&line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

pub async fn write_response(stream: &mut UnixStream, resp: &Response) -> io::Result<()> {
    let mut line = serde_json::to_string(resp).map_err(io::Error::other)?;
    line.push('\n');
    stream.write_all(line.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn request_and_response_roundtrip() {
        let dir = std::env::temp_dir().join(format!("zg-control-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("run").join("agent.sock");
        let listener = bind(&path).await.expect("bind");
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let req = read_request(&mut s).await.expect("request");
            assert_eq!(req, Request::ConfirmOk);
            write_response(&mut s, &Response::ok("confirmed"))
                .await
                .expect("write");
        });
        let resp = request(&path, &Request::ConfirmOk).await.expect("response");
        assert!(resp.ok);
        assert_eq!(resp.message, "confirmed");
        server.await.expect("server");
        // A second bind while the first socket file is stale works.
        assert!(bind(&path).await.is_ok());
    }
}
