//! Running TLS handshakes with a deadline, over any byte stream.
//!
//! The functions are generic over `AsyncRead + AsyncWrite + Unpin` so the same code runs on
//! tokio TCP sockets in production and on simulated sockets in the simulator.

use std::sync::Arc;
use std::time::Duration;

use rustls::{CipherSuite, ClientConfig, ServerConfig};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};

use super::facts::{CertificateFacts, CertificateFactsError, describe_certificate};
use super::settings::TlsVersion;

/// How long a peer has to complete the handshake unless configured otherwise. A peer that
/// opens a connection and then stays silent is dropped after this long, so idle sockets
/// cannot pile up.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handshake established about the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The certificate chain the peer presented, end-entity certificate first, as DER.
    /// Empty when the peer presented none (a client, when client certificates are optional).
    pub certificates: Vec<CertificateDer<'static>>,
    /// The negotiated protocol version.
    pub protocol_version: TlsVersion,
    /// The negotiated cipher suite.
    pub cipher_suite: CipherSuite,
    /// The server name (SNI) the client asked for; only known on the server side, and only if
    /// the client sent a DNS name (clients connecting to an IP address send none).
    pub sni: Option<String>,
}

impl PeerInfo {
    /// The peer's end-entity certificate, if it presented one.
    pub fn end_entity(&self) -> Option<&CertificateDer<'static>> {
        self.certificates.first()
    }

    /// Facts of the peer's end-entity certificate, if it presented one.
    pub fn end_entity_facts(&self) -> Option<Result<CertificateFacts, CertificateFactsError>> {
        self.end_entity()
            .map(|der| describe_certificate(der.as_ref()))
    }
}

/// A TLS handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer did not complete the handshake before the deadline.
    #[error("TLS handshake not completed within {0:?}")]
    TimedOut(Duration),
    /// The handshake failed at the TLS level: certificate refused, no common version or
    /// cipher suite, an alert from the peer, a malformed message, …
    #[error("TLS handshake failed: {0}")]
    Tls(rustls::Error),
    /// The connection failed under the handshake (reset, closed early, …).
    #[error("connection failed during the TLS handshake: {0}")]
    Io(std::io::Error),
    /// The handshake finished on a protocol version we never offer.
    #[error("TLS handshake negotiated unsupported protocol version {0:?}")]
    UnsupportedVersion(rustls::ProtocolVersion),
    /// The handshake finished but rustls reports no negotiated version or cipher suite.
    #[error("TLS handshake finished without a negotiated {0}")]
    Incomplete(&'static str),
}

impl HandshakeError {
    fn from_io(err: std::io::Error) -> Self {
        // tokio-rustls reports TLS failures as I/O errors wrapping the rustls error.
        match err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls) => HandshakeError::Tls(tls.clone()),
            None => HandshakeError::Io(err),
        }
    }
}

/// An acceptor for a server configuration built by
/// [`ServerTlsSettings::build_config`](super::ServerTlsSettings::build_config).
pub fn acceptor(config: Arc<ServerConfig>) -> TlsAcceptor {
    TlsAcceptor::from(config)
}

/// A connector for a client configuration built by
/// [`ClientTlsSettings::build_config`](super::ClientTlsSettings::build_config).
pub fn connector(config: Arc<ClientConfig>) -> TlsConnector {
    TlsConnector::from(config)
}

/// Runs the server side of the handshake on an accepted stream, giving up after `timeout`.
/// On success returns the TLS stream and what was learnt about the client. On failure the
/// stream is dropped, which closes it.
pub async fn accept<S>(
    acceptor: &TlsAcceptor,
    stream: S,
    timeout: Duration,
) -> Result<(server::TlsStream<S>, PeerInfo), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let tls = tokio::time::timeout(timeout, acceptor.accept(stream))
        .await
        .map_err(|_| HandshakeError::TimedOut(timeout))?
        .map_err(HandshakeError::from_io)?;
    let (_, conn) = tls.get_ref();
    let peer = peer_info(
        conn.peer_certificates(),
        conn.protocol_version(),
        conn.negotiated_cipher_suite(),
        conn.server_name(),
    )?;
    Ok((tls, peer))
}

/// Runs the client side of the handshake on a connected stream, checking the server
/// certificate against `server_name`, giving up after `timeout`.
///
/// With TLS 1.3 the client finishes its side of the handshake before the server has checked
/// the client certificate, so a server that refuses our certificate is noticed on the first
/// read, not here.
pub async fn connect<S>(
    connector: &TlsConnector,
    server_name: ServerName<'static>,
    stream: S,
    timeout: Duration,
) -> Result<(client::TlsStream<S>, PeerInfo), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let tls = tokio::time::timeout(timeout, connector.connect(server_name, stream))
        .await
        .map_err(|_| HandshakeError::TimedOut(timeout))?
        .map_err(HandshakeError::from_io)?;
    let (_, conn) = tls.get_ref();
    let peer = peer_info(
        conn.peer_certificates(),
        conn.protocol_version(),
        conn.negotiated_cipher_suite(),
        None,
    )?;
    Ok((tls, peer))
}

fn peer_info(
    certificates: Option<&[CertificateDer<'static>]>,
    version: Option<rustls::ProtocolVersion>,
    suite: Option<rustls::SupportedCipherSuite>,
    sni: Option<&str>,
) -> Result<PeerInfo, HandshakeError> {
    let version = version.ok_or(HandshakeError::Incomplete("protocol version"))?;
    let protocol_version =
        TlsVersion::from_rustls(version).ok_or(HandshakeError::UnsupportedVersion(version))?;
    let cipher_suite = suite
        .ok_or(HandshakeError::Incomplete("cipher suite"))?
        .suite();
    Ok(PeerInfo {
        certificates: certificates.map(<[_]>::to_vec).unwrap_or_default(),
        protocol_version,
        cipher_suite,
        sni: sni.map(str::to_string),
    })
}
