//! One TCP-or-TLS client stream for the webhook and syslog sinks: connect with a timeout to each
//! resolved address in turn, set read/write timeouts, and for TLS finish the handshake before
//! returning, so a certificate problem is reported as such and not as a failed write later.
//! rustls with the ring provider; trust comes from a PEM bundle (the system's by default), and
//! verification can be switched off only explicitly (`tls_verify = false`, logged).

use super::SinkError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Debian's bundle of the system's trusted CAs (ca-certificates).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A client configuration and the name to verify.
#[derive(Clone)]
pub(crate) struct TlsTarget {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

/// A client certificate chain and its private key, both PEM files.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAuth<'a> {
    pub cert_file: &'a Path,
    pub key_file: &'a Path,
}

/// Builds the client configuration: roots from `ca_file` (or the system bundle), or no
/// verification at all when `verify` is false; with `client`, the certificate we present when
/// the server asks for one (mutual TLS).
pub(crate) fn client_config(
    verify: bool,
    ca_file: Option<&Path>,
    client: Option<ClientAuth<'_>>,
) -> Result<Arc<ClientConfig>, SinkError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| SinkError::Tls(e.to_string()))?;
    let config = if verify {
        let path = ca_file.unwrap_or(Path::new(SYSTEM_CA_BUNDLE));
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| SinkError::Tls(format!("reading CA file {}: {e}", path.display())))?;
        for cert in certs {
            let cert =
                cert.map_err(|e| SinkError::Tls(format!("CA file {}: {e}", path.display())))?;
            // A bundle may hold certificates webpki cannot use as anchors; skip those.
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(SinkError::Tls(format!(
                "CA file {} holds no usable certificate",
                path.display()
            )));
        }
        with_client_auth(builder.with_root_certificates(roots), client)?
    } else {
        tracing::warn!(
            "TLS certificate verification is off for an alert sink (tls_verify = false)."
        );
        with_client_auth(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider))),
            client,
        )?
    };
    Ok(Arc::new(config))
}

fn with_client_auth(
    builder: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>,
    client: Option<ClientAuth<'_>>,
) -> Result<ClientConfig, SinkError> {
    let Some(auth) = client else {
        return Ok(builder.with_no_client_auth());
    };
    let certs = CertificateDer::pem_file_iter(auth.cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            SinkError::Tls(format!(
                "client certificate file {}: {e}",
                auth.cert_file.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(SinkError::Tls(format!(
            "client certificate file {} holds no certificate",
            auth.cert_file.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(auth.key_file)
        .map_err(|e| SinkError::Tls(format!("client key file {}: {e}", auth.key_file.display())))?;
    builder.with_client_auth_cert(certs, key).map_err(|e| {
        SinkError::Tls(format!(
            "client certificate {} and key {} do not form a usable pair: {e}",
            auth.cert_file.display(),
            auth.key_file.display()
        ))
    })
}

/// The name a server certificate must carry: a DNS name or an IP address.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, SinkError> {
    ServerName::try_from(host.trim_matches(|c| c == '[' || c == ']').to_string())
        .map_err(|e| SinkError::Config(format!("invalid TLS server name {host:?}: {e}")))
}

/// A connected stream, plain or TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }

    /// Whether the peer has closed (or reset) the connection while we were not looking. Any
    /// readable byte also counts: our receivers never send unprompted, so it is a TLS alert or
    /// an error. Used before writing on a connection that sat idle.
    pub(crate) fn peer_gone(&self) -> bool {
        let tcp = self.tcp();
        if tcp.set_nonblocking(true).is_err() {
            return true;
        }
        let mut b = [0u8; 1];
        let gone = match tcp.peek(&mut b) {
            Ok(_) => true,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        };
        gone || tcp.set_nonblocking(false).is_err()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Connects to `host:port` (trying each address), with `timeout` for the connect and for
/// every later read and write; with `tls`, completes the handshake.
pub(crate) fn connect(
    host: &str,
    port: u16,
    timeout: Duration,
    tls: Option<&TlsTarget>,
) -> Result<Stream, SinkError> {
    let tcp = tcp_connect(host, port, timeout)?;
    match tls {
        None => Ok(Stream::Plain(tcp)),
        Some(tls) => handshake(tcp, &format!("{host}:{port}"), tls),
    }
}

/// The TCP part of [`connect`].
pub(crate) fn tcp_connect(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, SinkError> {
    let target = format!("{host}:{port}");
    let addrs: Vec<_> = (host.trim_matches(|c| c == '[' || c == ']'), port)
        .to_socket_addrs()
        .map_err(SinkError::io(format!("resolving {target}")))?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let Some(tcp) = tcp else {
        return Err(SinkError::Io {
            context: format!("connecting to {target}"),
            source: last,
        });
    };
    tcp.set_read_timeout(Some(timeout))
        .and_then(|()| tcp.set_write_timeout(Some(timeout)))
        .and_then(|()| tcp.set_nodelay(true))
        .map_err(SinkError::io(format!("configuring the socket to {target}")))?;
    Ok(tcp)
}

/// The TLS handshake with `target` (for messages) over a connected socket, which may be a
/// tunnel through an HTTP proxy.
pub(crate) fn handshake(
    mut tcp: TcpStream,
    target: &str,
    tls: &TlsTarget,
) -> Result<Stream, SinkError> {
    let mut conn = ClientConnection::new(tls.config.clone(), tls.server_name.clone())
        .map_err(|e| SinkError::Tls(e.to_string()))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| {
            // rustls reports certificate and protocol failures as InvalidData.
            if e.kind() == io::ErrorKind::InvalidData {
                SinkError::Tls(format!("handshake with {target}: {e}"))
            } else {
                SinkError::Io {
                    context: format!("TLS handshake with {target}"),
                    source: e,
                }
            }
        })?;
    }
    Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
}

/// `tls_verify = false`: accepts any certificate but still checks handshake signatures, so
/// the connection is encrypted to whoever answers. For tests and broken lab CAs only.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
