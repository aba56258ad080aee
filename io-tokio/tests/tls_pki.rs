//! The development PKI: layout, contents, idempotence, and its refusal to overwrite a CA it
//! did not make.

mod tls_support;

use std::time::{SystemTime, UNIX_EPOCH};

use boomerang_io_tokio::pki::{ClientSpec, DevPki, DevPkiOptions, PkiError};
use boomerang_io_tokio::tls::{describe_certificate, load_certificates, load_private_key};
use tls_support::*;

fn facts_of(path: &std::path::Path) -> boomerang_io_tokio::tls::CertificateFacts {
    let certs = load_certificates(path).unwrap();
    assert_eq!(certs.len(), 1, "{}", path.display());
    describe_certificate(certs[0].as_ref()).unwrap()
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn layout_and_contents() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ca.key",
            "ca.pem",
            "client-expired.key",
            "client-expired.pem",
            "client-foreign.key",
            "client-foreign.pem",
            "client-nas1.key",
            "client-nas1.pem",
            "other-ca.key",
            "other-ca.pem",
            "server-encrypted.key",
            "server.key",
            "server.pem",
        ]
    );

    let ca = facts_of(&pki.ca_certificate);
    assert_eq!(ca.subject_cn.as_deref(), Some("Boomerang Development CA"));
    assert_eq!(ca.subject, ca.issuer);

    let server = facts_of(&pki.server_certificate);
    assert_eq!(server.issuer, ca.subject);
    assert_eq!(server.san_dns, ["radsec.test", "localhost"]);
    assert_eq!(
        server.san_ips,
        [
            "127.0.0.1".parse::<std::net::IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    assert!(server.not_before <= now_secs() && server.not_after > now_secs());

    let expired = facts_of(&pki.client("expired").unwrap().certificate);
    assert!(expired.not_after < now_secs());
    let foreign = facts_of(&pki.client("foreign").unwrap().certificate);
    let other_ca = facts_of(pki.other_ca_certificate.as_ref().unwrap());
    assert_eq!(foreign.issuer, other_ca.subject);
    assert_ne!(foreign.issuer, ca.subject);

    // Keys are PKCS#8 PEM.
    for key in [
        &pki.ca_key,
        &pki.server_key,
        &pki.client("nas1").unwrap().key,
    ] {
        let text = std::fs::read_to_string(key).unwrap();
        assert!(
            text.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{}",
            key.display()
        );
        load_private_key(key, None).unwrap();
    }
    let encrypted = std::fs::read_to_string(pki.server_key_encrypted.as_ref().unwrap()).unwrap();
    assert!(encrypted.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
}

#[cfg(unix)]
#[test]
fn key_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut keys = vec![
        pki.ca_key.clone(),
        pki.server_key.clone(),
        pki.server_key_encrypted.clone().unwrap(),
    ];
    keys.extend(pki.clients.iter().map(|c| c.key.clone()));
    for key in keys {
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }
}

#[test]
fn second_run_keeps_every_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let first = make_pki(dir.path());
    assert!(first.kept.is_empty());
    let snapshot: Vec<(std::path::PathBuf, Vec<u8>)> = first
        .written
        .iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();

    let second = make_pki(dir.path());
    assert!(second.written.is_empty(), "rewrote {:?}", second.written);
    assert_eq!(second.kept.len(), first.written.len());
    for (path, bytes) in snapshot {
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{}", path.display());
    }
}

#[test]
fn stale_or_damaged_files_are_replaced_and_others_kept() {
    let dir = tempfile::tempdir().unwrap();
    let first = make_pki(dir.path());
    let ca_before = std::fs::read(&first.ca_certificate).unwrap();

    // A damaged client key, and a new server name.
    std::fs::write(&first.client("nas1").unwrap().key, "garbage").unwrap();
    let options = DevPkiOptions {
        server_key_password: Some(PASSWORD.to_string()),
        ..DevPkiOptions::default()
    };
    let second = DevPki::generate_with(
        dir.path(),
        &["radsec.test".to_string(), "radsec2.test".to_string()],
        &standard_clients(),
        &options,
    )
    .unwrap();
    let nas1 = second.client("nas1").unwrap();
    let expected_written = [
        second.server_key.clone(),
        second.server_certificate.clone(),
        second.server_key_encrypted.clone().unwrap(),
        nas1.key.clone(),
        nas1.certificate.clone(),
    ];
    assert_eq!(second.written, expected_written);
    assert_eq!(std::fs::read(&second.ca_certificate).unwrap(), ca_before);
    assert_eq!(
        facts_of(&second.server_certificate).san_dns,
        ["radsec.test", "radsec2.test", "localhost"]
    );
    // The rewritten encrypted key holds the new server key.
    let plain = load_private_key(&second.server_key, None).unwrap();
    let decrypted = load_private_key(
        second.server_key_encrypted.as_ref().unwrap(),
        Some(PASSWORD),
    )
    .unwrap();
    assert_eq!(plain.secret_der(), decrypted.secret_der());
}

#[test]
fn force_regenerates_everything() {
    let dir = tempfile::tempdir().unwrap();
    let first = make_pki(dir.path());
    let ca_before = std::fs::read(&first.ca_certificate).unwrap();
    let options = DevPkiOptions {
        force: true,
        server_key_password: Some(PASSWORD.to_string()),
    };
    let second = DevPki::generate_with(
        dir.path(),
        &["radsec.test".to_string()],
        &standard_clients(),
        &options,
    )
    .unwrap();
    assert!(second.kept.is_empty());
    assert_eq!(second.written.len(), first.written.len());
    assert_ne!(std::fs::read(&second.ca_certificate).unwrap(), ca_before);
}

#[test]
fn foreign_ca_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::copy(fixture("rsa.pem"), &ca).unwrap();
    let err = DevPki::generate(dir.path(), &[], &[]).unwrap_err();
    assert!(
        matches!(&err, PkiError::ForeignCa { path, .. } if *path == ca),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read(&ca).unwrap(),
        std::fs::read(fixture("rsa.pem")).unwrap()
    );
}

#[test]
fn client_names_must_be_file_safe_and_unique() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["", "../evil", ".hidden", "a b", "x/y"] {
        let err = DevPki::generate(dir.path(), &[], &[ClientSpec::new(bad)]).unwrap_err();
        assert!(
            matches!(err, PkiError::InvalidClientName { .. }),
            "{bad:?}: {err:?}"
        );
    }
    let err = DevPki::generate(
        dir.path(),
        &[],
        &[ClientSpec::new("a"), ClientSpec::new("a")],
    )
    .unwrap_err();
    assert!(matches!(err, PkiError::DuplicateClientName(_)), "{err:?}");
    // Nothing was written for refused input.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn default_server_names_without_extra_names() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::generate(dir.path(), &[], &[]).unwrap();
    let server = facts_of(&pki.server_certificate);
    assert_eq!(server.subject_cn.as_deref(), Some("localhost"));
    assert_eq!(server.san_dns, ["localhost"]);
    assert_eq!(server.san_ips.len(), 2);
    assert!(pki.server_key_encrypted.is_none());
    assert!(pki.other_ca_certificate.is_none());
}
