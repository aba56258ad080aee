//! Loading certificates and keys from PEM files, and the typed errors for every way a
//! configured file can be wrong.

mod tls_support;

use std::path::Path;

use boomerang_io_tokio::tls::rustls::pki_types::PrivateKeyDer;
use boomerang_io_tokio::tls::{
    ClientTlsSettings, PemError, ServerTlsSettings, TlsConfigError, TlsVersion,
    describe_certificate, load_ca_bundle, load_certificates, load_private_key,
};
use tls_support::*;

fn write(dir: &Path, name: &str, contents: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn pkcs1_rsa_key_loads_and_pairs_with_its_certificate() {
    let key = load_private_key(&fixture("rsa-pkcs1.key"), None).unwrap();
    assert!(matches!(key, PrivateKeyDer::Pkcs1(_)));
    let mut settings = ServerTlsSettings::new(fixture("rsa.pem"), fixture("rsa-pkcs1.key"));
    settings.require_client_certificate = false;
    settings.build_config().expect("RSA PKCS#1 server config");
}

#[test]
fn sec1_ec_key_loads_and_pairs_with_its_certificate() {
    let key = load_private_key(&fixture("ec-sec1.key"), None).unwrap();
    assert!(matches!(key, PrivateKeyDer::Sec1(_)));
    let mut settings = ServerTlsSettings::new(fixture("ec.pem"), fixture("ec-sec1.key"));
    settings.require_client_certificate = false;
    settings.build_config().expect("EC SEC1 server config");
}

#[test]
fn pkcs8_ed25519_key_loads() {
    let key = load_private_key(&fixture("ed25519.key"), None).unwrap();
    assert!(matches!(key, PrivateKeyDer::Pkcs8(_)));
}

#[test]
fn openssl_encrypted_pkcs8_keys_load_with_the_right_password() {
    for name in [
        "ec-pbkdf2-aes256.key",
        "ec-scrypt.key",
        "ec-pbkdf2sha1-3des.key",
    ] {
        let key = load_private_key(&fixture(name), Some("whatever"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(matches!(key, PrivateKeyDer::Pkcs8(_)), "{name}");
        // The decrypted key is the one in ec.pem.
        let mut settings = ServerTlsSettings::new(fixture("ec.pem"), fixture(name));
        settings.key_password = Some("whatever".to_string());
        settings.require_client_certificate = false;
        settings
            .build_config()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn encrypted_key_with_wrong_password_is_a_typed_error() {
    for name in [
        "ec-pbkdf2-aes256.key",
        "ec-scrypt.key",
        "ec-pbkdf2sha1-3des.key",
    ] {
        let path = fixture(name);
        let err = load_private_key(&path, Some("not the password")).unwrap_err();
        assert!(
            matches!(&err, PemError::WrongPassword { path: p } if *p == path),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn dev_pki_encrypted_key_right_and_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let path = pki.server_key_encrypted.clone().unwrap();
    let plain = load_private_key(&pki.server_key, None).unwrap();
    let decrypted = load_private_key(&path, Some(PASSWORD)).unwrap();
    assert_eq!(plain.secret_der(), decrypted.secret_der());

    let err = load_private_key(&path, Some("wrong")).unwrap_err();
    assert!(matches!(err, PemError::WrongPassword { .. }), "{err:?}");

    // The same through the settings a listener is configured with.
    let mut settings = server_settings(&pki);
    settings.key_path = path.clone();
    settings.key_password = Some("wrong".to_string());
    let err = settings.build_config().unwrap_err();
    assert!(
        matches!(err, TlsConfigError::File(PemError::WrongPassword { path: ref p }) if *p == path),
        "{err:?}"
    );
}

#[test]
fn encrypted_key_without_password_asks_for_one() {
    let err = load_private_key(&fixture("ec-pbkdf2-aes256.key"), None).unwrap_err();
    assert!(matches!(err, PemError::PasswordRequired { .. }), "{err:?}");
    assert!(err.to_string().contains("password"), "{err}");
}

#[test]
fn password_for_an_unencrypted_key_is_ignored() {
    load_private_key(&fixture("ec-sec1.key"), Some("whatever")).unwrap();
}

#[test]
fn pbes1_encryption_is_unsupported() {
    let err = load_private_key(&fixture("ec-pbes1.key"), Some("whatever")).unwrap_err();
    assert!(
        matches!(err, PemError::UnsupportedEncryption { .. }),
        "{err:?}"
    );
}

#[test]
fn legacy_openssl_encrypted_pem_is_reported_as_such() {
    let err = load_private_key(&fixture("ec-legacy-encrypted.key"), Some("whatever")).unwrap_err();
    assert!(
        matches!(err, PemError::LegacyEncryptedKey { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");
}

#[test]
fn key_that_cannot_sign_is_an_unsupported_key_type() {
    let path = fixture("x25519.key");
    let err = load_private_key(&path, None).unwrap_err();
    assert!(
        matches!(&err, PemError::UnsupportedKeyType { path: p, .. } if *p == path),
        "{err:?}"
    );
}

#[test]
fn missing_file_error_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/server.pem");
    for err in [
        load_certificates(&missing).unwrap_err(),
        load_private_key(&missing, None).unwrap_err(),
        load_ca_bundle(&missing).unwrap_err(),
    ] {
        assert!(
            matches!(&err, PemError::Read { path, .. } if *path == missing),
            "{err:?}"
        );
        assert_eq!(err.path(), missing);
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
    }

    // Through the server settings, for each of the three files.
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = make_pki(pki_dir.path());
    let cases = [
        ServerTlsSettings {
            certificate_chain_path: missing.clone(),
            ..server_settings(&pki)
        },
        ServerTlsSettings {
            key_path: missing.clone(),
            ..server_settings(&pki)
        },
        ServerTlsSettings {
            client_ca_path: Some(missing.clone()),
            ..server_settings(&pki)
        },
    ];
    for settings in cases {
        let err = settings.build_config().unwrap_err();
        assert!(
            matches!(&err, TlsConfigError::File(PemError::Read { path, .. }) if *path == missing),
            "{err:?}"
        );
        assert!(err.to_string().contains("no-such-dir/server.pem"), "{err}");
    }
    let client = ClientTlsSettings::new(&missing, "localhost");
    assert!(matches!(
        client.build_config().unwrap_err(),
        TlsConfigError::File(PemError::Read { .. })
    ));
}

#[test]
fn file_without_a_certificate_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let key_only = write(
        dir.path(),
        "key-only.pem",
        &std::fs::read_to_string(fixture("ec-sec1.key")).unwrap(),
    );
    let err = load_certificates(&key_only).unwrap_err();
    match &err {
        PemError::NoCertificate { path, found } => {
            assert_eq!(*path, key_only);
            assert_eq!(found, &["EC PRIVATE KEY"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("found: EC PRIVATE KEY"), "{err}");
}

#[test]
fn file_without_a_key_is_a_typed_error() {
    let err = load_private_key(&fixture("ec.pem"), None).unwrap_err();
    assert!(
        matches!(&err, PemError::NoPrivateKey { found, .. } if found == &["CERTIFICATE"]),
        "{err:?}"
    );
}

#[test]
fn non_pem_and_broken_pem_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let der = dir.path().join("cert.der");
    std::fs::write(&der, [0x30, 0x82, 0x01, 0x00, 0xff]).unwrap();
    assert!(matches!(
        load_certificates(&der).unwrap_err(),
        PemError::NotPem { .. }
    ));
    let broken = write(
        dir.path(),
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    );
    assert!(matches!(
        load_certificates(&broken).unwrap_err(),
        PemError::Malformed { .. }
    ));
    let not_x509 = write(
        dir.path(),
        "not-x509.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    assert!(matches!(
        load_certificates(&not_x509).unwrap_err(),
        PemError::InvalidCertificate { index: 1, .. }
    ));
    assert!(matches!(
        load_certificates(dir.path()).unwrap_err(),
        PemError::Read { .. }
    ));
}

#[test]
fn key_that_does_not_match_the_certificate_is_refused() {
    let mut settings = ServerTlsSettings::new(fixture("rsa.pem"), fixture("ec-sec1.key"));
    settings.require_client_certificate = false;
    let err = settings.build_config().unwrap_err();
    assert!(matches!(err, TlsConfigError::KeyMismatch { .. }), "{err:?}");
}

#[test]
fn required_client_certificate_without_client_ca_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut settings = server_settings(&pki);
    settings.client_ca_path = None;
    let err = settings.build_config().unwrap_err();
    assert!(matches!(err, TlsConfigError::ClientCaRequired), "{err:?}");
    assert!(err.to_string().contains("client_ca_certificate"), "{err}");
    // Not requiring one makes it valid.
    settings.require_client_certificate = false;
    settings.build_config().unwrap();
}

#[test]
fn inverted_version_range_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut settings = server_settings(&pki);
    settings.min_version = Some(TlsVersion::Tls13);
    settings.max_version = Some(TlsVersion::Tls12);
    assert!(matches!(
        settings.build_config().unwrap_err(),
        TlsConfigError::EmptyVersionRange { .. }
    ));
}

#[test]
fn client_identity_needs_both_certificate_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut settings = client_settings(&pki, Some("nas1"), "localhost");
    settings.key_path = None;
    assert!(matches!(
        settings.build_config().unwrap_err(),
        TlsConfigError::IncompleteClientIdentity { .. }
    ));
}

#[test]
fn chain_file_keeps_certificate_order() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let chain = dir.path().join("chain.pem");
    let mut text = std::fs::read_to_string(&pki.server_certificate).unwrap();
    text.push_str(&std::fs::read_to_string(&pki.ca_certificate).unwrap());
    std::fs::write(&chain, text).unwrap();
    let certs = load_certificates(&chain).unwrap();
    assert_eq!(certs.len(), 2);
    let first = describe_certificate(certs[0].as_ref()).unwrap();
    let second = describe_certificate(certs[1].as_ref()).unwrap();
    assert_eq!(first.subject_cn.as_deref(), Some("radsec.test"));
    assert_eq!(
        second.subject_cn.as_deref(),
        Some("Boomerang Development CA")
    );
    // A server configured with the chain file still works.
    let mut settings = server_settings(&pki);
    settings.certificate_chain_path = chain;
    settings.build_config().unwrap();
}

#[test]
fn certificate_facts_match_openssl() {
    // Values printed by `openssl x509 -noout -fingerprint -sha256 -subject -dates -serial
    // -nameopt RFC2253` for the fixture.
    let certs = load_certificates(&fixture("rsa.pem")).unwrap();
    let facts = describe_certificate(certs[0].as_ref()).unwrap();
    assert_eq!(
        facts.sha256_fingerprint,
        "60fd98dfbe57164e9c254166789 8eeca4dbabc64305849efa98c603c975057c8".replace(' ', "")
    );
    assert_eq!(
        facts.subject,
        "CN=rsa.fixture.test,O=Boomerang test fixtures"
    );
    assert_eq!(facts.issuer, facts.subject);
    assert_eq!(facts.subject_cn.as_deref(), Some("rsa.fixture.test"));
    assert_eq!(facts.serial, "2692a5a53fa1c1f0ea44c41145a09e6993f7f20b");
    assert_eq!(facts.san_dns, ["rsa.fixture.test"]);
    assert!(facts.san_emails.is_empty() && facts.san_uris.is_empty() && facts.san_ips.is_empty());
    assert_eq!(facts.not_before, 1_795_317_117);
    assert_eq!(facts.not_after, 4_948_917_117);
}
