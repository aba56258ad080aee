//! Helpers shared by the `tls_*` integration tests: a development PKI in a scratch directory
//! and a real handshake over loopback TCP.

#![allow(dead_code)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use boomerang_io_tokio::pki::{ClientIssuer, ClientSpec, ClientValidity, DevPki, DevPkiOptions};
use boomerang_io_tokio::tls::rustls::{self, ClientConfig, ServerConfig};
use boomerang_io_tokio::tls::{
    ClientTlsSettings, HandshakeError, PeerInfo, ServerTlsSettings, accept, acceptor, connect,
    connector,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bound on every test's network activity, so a bug cannot hang the suite.
pub const TEST_BOUND: Duration = Duration::from_secs(30);
/// Handshake timeout used where the test is not about timeouts.
pub const HANDSHAKE: Duration = Duration::from_secs(10);
/// Password of the encrypted server key.
pub const PASSWORD: &str = "whatever";

/// Path of a committed fixture file.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name)
}

/// The client certificates most tests use.
pub fn standard_clients() -> Vec<ClientSpec> {
    let mut nas1 = ClientSpec::new("nas1");
    nas1.san_emails = vec!["nas1@example.net".to_string()];
    nas1.san_dns = vec!["nas1.example.net".to_string()];
    nas1.san_uris = vec!["urn:boomerang:nas:nas1".to_string()];
    let mut foreign = ClientSpec::new("foreign");
    foreign.issuer = ClientIssuer::OtherCa;
    let mut expired = ClientSpec::new("expired");
    expired.validity = ClientValidity::Expired;
    vec![nas1, foreign, expired]
}

/// A development PKI with the standard clients and an encrypted copy of the server key.
pub fn make_pki(dir: &Path) -> DevPki {
    let options = DevPkiOptions {
        server_key_password: Some(PASSWORD.to_string()),
        ..DevPkiOptions::default()
    };
    DevPki::generate_with(
        dir,
        &["radsec.test".to_string()],
        &standard_clients(),
        &options,
    )
    .expect("generate dev PKI")
}

/// Server settings trusting the dev CA for client certificates.
pub fn server_settings(pki: &DevPki) -> ServerTlsSettings {
    let mut settings = ServerTlsSettings::new(&pki.server_certificate, &pki.server_key);
    settings.client_ca_path = Some(pki.ca_certificate.clone());
    settings
}

/// Client settings trusting the dev CA, presenting client certificate `client` (if any),
/// checking the server against `server_name`.
pub fn client_settings(pki: &DevPki, client: Option<&str>, server_name: &str) -> ClientTlsSettings {
    let mut settings = ClientTlsSettings::new(&pki.ca_certificate, server_name);
    if let Some(name) = client {
        let files = pki.client(name).expect("client in PKI");
        settings.certificate_chain_path = Some(files.certificate.clone());
        settings.key_path = Some(files.key.clone());
    }
    settings
}

/// How the client side of a test connection ended.
#[derive(Debug)]
pub enum ClientFailure {
    /// `connect` failed.
    Handshake(HandshakeError),
    /// The handshake completed on our side, but the server refused us (TLS 1.3 reports a
    /// refused client certificate on the first read) or went away.
    AfterHandshake(io::Error),
}

/// The TLS error inside an I/O error from a TLS stream, if any.
pub fn inner_tls_error(err: &io::Error) -> Option<rustls::Error> {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .cloned()
}

/// Runs one connection over loopback TCP: handshake, then the client sends `ping` and the
/// server answers `pong`. Returns what each side saw.
pub async fn exchange(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    server_name: &str,
) -> (
    Result<PeerInfo, HandshakeError>,
    Result<PeerInfo, ClientFailure>,
) {
    let server_name = ClientTlsSettings::new("unused", server_name)
        .server_name()
        .expect("server name");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let acceptor = acceptor(server);
    let server_side = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(HandshakeError::Io)?;
        let (mut tls, peer) = accept(&acceptor, tcp, HANDSHAKE).await?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(HandshakeError::Io)?;
        assert_eq!(&buf, b"ping");
        tls.write_all(b"pong").await.map_err(HandshakeError::Io)?;
        tls.shutdown().await.map_err(HandshakeError::Io)?;
        Ok::<_, HandshakeError>(peer)
    });
    let connector = connector(client);
    let client_side = async move {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| ClientFailure::Handshake(HandshakeError::Io(e)))?;
        let (mut tls, peer) = connect(&connector, server_name, tcp, HANDSHAKE)
            .await
            .map_err(ClientFailure::Handshake)?;
        let io = async {
            tls.write_all(b"ping").await?;
            tls.flush().await?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await?;
            if &buf != b"pong" {
                return Err(io::Error::other("unexpected answer"));
            }
            Ok(())
        };
        io.await.map_err(ClientFailure::AfterHandshake)?;
        Ok(peer)
    };
    tokio::time::timeout(TEST_BOUND, async move {
        let client_result = client_side.await;
        let server_result = server_side.await.expect("server task");
        (server_result, client_result)
    })
    .await
    .expect("test connection finished in time")
}
