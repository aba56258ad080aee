//! Real RadSec-style TLS handshakes over loopback TCP between configurations built from
//! `ServerTlsSettings` / `ClientTlsSettings` and a development PKI.

mod tls_support;

use std::time::Duration;

use boomerang_io_tokio::tls::rustls::{self, CertificateError};
use boomerang_io_tokio::tls::{HandshakeError, TlsVersion, accept, acceptor};
use tls_support::*;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

fn is_certificate_error(err: &HandshakeError, pred: impl Fn(&CertificateError) -> bool) -> bool {
    matches!(err, HandshakeError::Tls(rustls::Error::InvalidCertificate(e)) if pred(e))
}

async fn mutual_tls_with(version: TlsVersion) {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut server = server_settings(&pki);
    server.min_version = Some(version);
    server.max_version = Some(version);
    let client = client_settings(&pki, Some("nas1"), "localhost");
    let (server_seen, client_seen) = exchange(
        server.build_config().unwrap(),
        client.build_config().unwrap(),
        "localhost",
    )
    .await;

    let server_seen = server_seen.expect("server accepts nas1");
    let client_seen = client_seen.expect("client completes");
    assert_eq!(server_seen.protocol_version, version);
    assert_eq!(client_seen.protocol_version, version);
    assert_eq!(server_seen.cipher_suite, client_seen.cipher_suite);
    assert_eq!(server_seen.sni.as_deref(), Some("localhost"));

    // The server sees exactly the client's certificate, and its facts.
    assert_eq!(server_seen.certificates.len(), 1);
    let facts = server_seen.end_entity_facts().unwrap().unwrap();
    assert_eq!(facts.subject_cn.as_deref(), Some("nas1"));
    assert_eq!(facts.san_emails, ["nas1@example.net"]);
    assert_eq!(facts.san_dns, ["nas1.example.net"]);
    assert_eq!(facts.san_uris, ["urn:boomerang:nas:nas1"]);
    assert!(
        facts.issuer.starts_with("CN=Boomerang Development CA,"),
        "{}",
        facts.issuer
    );

    // The client sees the server certificate.
    let server_facts = client_seen.end_entity_facts().unwrap().unwrap();
    assert_eq!(server_facts.subject_cn.as_deref(), Some("radsec.test"));
    assert_eq!(server_facts.san_dns, ["radsec.test", "localhost"]);
}

#[tokio::test]
async fn mutual_tls_13_succeeds_and_server_sees_client_identity() {
    mutual_tls_with(TlsVersion::Tls13).await;
}

#[tokio::test]
async fn mutual_tls_12_succeeds_and_server_sees_client_identity() {
    mutual_tls_with(TlsVersion::Tls12).await;
}

#[tokio::test]
async fn default_versions_negotiate_tls13_and_ip_server_name_matches_ip_san() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let client = client_settings(&pki, Some("nas1"), "127.0.0.1");
    let (server_seen, client_seen) = exchange(
        server_settings(&pki).build_config().unwrap(),
        client.build_config().unwrap(),
        "127.0.0.1",
    )
    .await;
    let server_seen = server_seen.expect("server accepts");
    client_seen.expect("client accepts 127.0.0.1 against the IP SAN");
    assert_eq!(server_seen.protocol_version, TlsVersion::Tls13);
    // No SNI is sent for an IP address.
    assert_eq!(server_seen.sni, None);
}

#[tokio::test]
async fn client_without_certificate_is_refused_when_required() {
    for version in TlsVersion::ALL {
        let dir = tempfile::tempdir().unwrap();
        let pki = make_pki(dir.path());
        let mut server = server_settings(&pki);
        server.max_version = Some(version);
        let client = client_settings(&pki, None, "localhost");
        let (server_seen, client_seen) = exchange(
            server.build_config().unwrap(),
            client.build_config().unwrap(),
            "localhost",
        )
        .await;
        let err = server_seen.expect_err("server must refuse a client without certificate");
        assert!(
            matches!(
                err,
                HandshakeError::Tls(rustls::Error::NoCertificatesPresented)
            ),
            "{version}: {err:?}"
        );
        assert!(
            client_seen.is_err(),
            "{version}: client must not get through"
        );
    }
}

#[tokio::test]
async fn client_without_certificate_is_allowed_when_not_required() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut server = server_settings(&pki);
    server.require_client_certificate = false;
    let client = client_settings(&pki, None, "localhost");
    let (server_seen, client_seen) = exchange(
        server.build_config().unwrap(),
        client.build_config().unwrap(),
        "localhost",
    )
    .await;
    let server_seen = server_seen.expect("server accepts an anonymous client");
    client_seen.expect("client completes");
    assert!(server_seen.certificates.is_empty());
    assert!(server_seen.end_entity_facts().is_none());
}

#[tokio::test]
async fn optional_client_certificate_is_still_verified_when_presented() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut server = server_settings(&pki);
    server.require_client_certificate = false;
    let client = client_settings(&pki, Some("foreign"), "localhost");
    let (server_seen, client_seen) = exchange(
        server.build_config().unwrap(),
        client.build_config().unwrap(),
        "localhost",
    )
    .await;
    let err = server_seen.expect_err("a bad certificate is refused even when optional");
    assert!(
        is_certificate_error(&err, |e| matches!(e, CertificateError::UnknownIssuer)),
        "{err:?}"
    );
    assert!(client_seen.is_err());
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let client = client_settings(&pki, Some("foreign"), "localhost");
    let (server_seen, client_seen) = exchange(
        server_settings(&pki).build_config().unwrap(),
        client.build_config().unwrap(),
        "localhost",
    )
    .await;
    let err = server_seen.expect_err("foreign client certificate must be refused");
    assert!(
        is_certificate_error(&err, |e| matches!(e, CertificateError::UnknownIssuer)),
        "{err:?}"
    );
    assert!(client_seen.is_err());
}

#[tokio::test]
async fn expired_client_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let client = client_settings(&pki, Some("expired"), "localhost");
    let (server_seen, client_seen) = exchange(
        server_settings(&pki).build_config().unwrap(),
        client.build_config().unwrap(),
        "localhost",
    )
    .await;
    let err = server_seen.expect_err("expired client certificate must be refused");
    assert!(
        is_certificate_error(&err, |e| matches!(
            e,
            CertificateError::Expired | CertificateError::ExpiredContext { .. }
        )),
        "{err:?}"
    );
    assert!(client_seen.is_err());
}

#[tokio::test]
async fn server_name_mismatch_is_refused_by_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let client = client_settings(&pki, Some("nas1"), "other.example.net");
    let (server_seen, client_seen) = exchange(
        server_settings(&pki).build_config().unwrap(),
        client.build_config().unwrap(),
        "other.example.net",
    )
    .await;
    match client_seen {
        Err(ClientFailure::Handshake(err)) => assert!(
            is_certificate_error(&err, |e| matches!(
                e,
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )),
            "{err:?}"
        ),
        other => panic!("client must refuse the server certificate: {other:?}"),
    }
    assert!(server_seen.is_err());
}

#[tokio::test]
async fn server_with_encrypted_key_completes_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut server = server_settings(&pki);
    server.key_path = pki
        .server_key_encrypted
        .clone()
        .expect("encrypted key written");
    server.key_password = Some(PASSWORD.to_string());
    let client = client_settings(&pki, Some("nas1"), "radsec.test");
    let (server_seen, client_seen) = exchange(
        server.build_config().unwrap(),
        client.build_config().unwrap(),
        "radsec.test",
    )
    .await;
    server_seen.expect("server with decrypted key accepts");
    client_seen.expect("client verifies the server");
}

#[tokio::test]
async fn version_pinning_without_overlap_fails() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut server = server_settings(&pki);
    server.min_version = Some(TlsVersion::Tls13);
    let mut client = client_settings(&pki, Some("nas1"), "localhost");
    client.max_version = Some(TlsVersion::Tls12);
    let (server_seen, client_seen) = exchange(
        server.build_config().unwrap(),
        client.build_config().unwrap(),
        "localhost",
    )
    .await;
    let err = server_seen.expect_err("TLS 1.3-only server must refuse a TLS 1.2-only client");
    assert!(matches!(err, HandshakeError::Tls(_)), "{err:?}");
    assert!(matches!(
        client_seen,
        Err(ClientFailure::Handshake(HandshakeError::Tls(_)))
    ));
}

#[tokio::test]
async fn silent_client_is_dropped_after_the_handshake_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let acceptor = acceptor(server_settings(&pki).build_config().unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let deadline = Duration::from_millis(300);
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        accept(&acceptor, tcp, deadline).await.map(|_| ())
    });
    tokio::time::timeout(TEST_BOUND, async move {
        // Connect and never send a ClientHello.
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let result = server.await.unwrap();
        assert!(
            matches!(result, Err(HandshakeError::TimedOut(d)) if d == deadline),
            "{result:?}"
        );
        // The server dropped the connection: we read end-of-file (or a reset), never data.
        let mut buf = [0u8; 16];
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => {}
            Ok(n) => panic!("server sent {n} bytes to a silent client"),
        }
    })
    .await
    .expect("bounded");
}
