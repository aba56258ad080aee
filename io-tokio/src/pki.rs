//! A development PKI: a private CA, a RadSec server certificate and client certificates,
//! written as PEM files into one directory, so that RadSec can be tried out and tested
//! without an external CA.
//!
//! Layout of the output directory (keys are PKCS#8 PEM, mode 0600 on Unix):
//!
//! | file | what |
//! | --- | --- |
//! | `ca.pem`, `ca.key` | the development CA (self-signed, 10 years) |
//! | `server.pem`, `server.key` | server certificate (serverAuth) for the given names plus `localhost`, `127.0.0.1`, `::1` |
//! | `server-encrypted.key` | the same server key, encrypted with a password (only when asked for) |
//! | `client-NAME.pem`, `client-NAME.key` | one client certificate (clientAuth) per [`ClientSpec`], CN = NAME |
//! | `other-ca.pem`, `other-ca.key` | a second CA nobody trusts, only when a client is issued by it |
//!
//! Generation is idempotent: a file set that is still valid (parses, key matches, chains to
//! the CA, not expired, same names) is kept; only missing or stale ones are (re)written. A CA
//! that was not made by this module is never overwritten unless forced.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pkcs8::pkcs5::pbes2;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use ring::rand::SecureRandom;
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::tls::{crypto_provider, describe_certificate, load_private_key};

/// Common name of the development CA; a `ca.pem` with another subject is not ours.
pub const DEV_CA_NAME: &str = "Boomerang Development CA";
/// Common name of the untrusted second CA used by negative tests.
pub const OTHER_CA_NAME: &str = "Boomerang Untrusted Development CA";
const DEV_ORGANIZATION: &str = "Boomerang development PKI (not for production)";

/// Names always present in the server certificate, so local tests work out of the box.
pub const DEFAULT_SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

const CA_VALIDITY_DAYS: u64 = 3650;
const LEAF_VALIDITY_DAYS: u64 = 825;
/// Certificates closer than this to expiry are reissued.
const RENEW_BEFORE: Duration = Duration::from_secs(7 * 24 * 3600);
/// The CA is replaced (with everything it signed) when closer than this to expiry.
const CA_RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// PBKDF2 iterations for `server-encrypted.key`.
const PBKDF2_ITERATIONS: u32 = 100_000;
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Which CA signs a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientIssuer {
    /// The development CA (`ca.pem`), which servers trust.
    #[default]
    DevCa,
    /// A second CA (`other-ca.pem`) that servers do not trust, to test refusal.
    OtherCa,
}

/// Whether a client certificate is valid now or already expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientValidity {
    /// Valid from yesterday for 825 days.
    #[default]
    Current,
    /// Expired yesterday, to test refusal.
    Expired,
}

/// One client certificate to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSpec {
    /// File-name part and common name: `client-NAME.pem`, `CN=NAME`. Letters, digits, `.`,
    /// `_` and `-` only, not starting with `.`.
    pub name: String,
    /// `rfc822Name` subject alternative names.
    pub san_emails: Vec<String>,
    /// `dNSName` subject alternative names.
    pub san_dns: Vec<String>,
    /// `uniformResourceIdentifier` subject alternative names.
    pub san_uris: Vec<String>,
    /// The CA that signs it.
    pub issuer: ClientIssuer,
    /// Current or expired.
    pub validity: ClientValidity,
}

impl ClientSpec {
    /// A current client certificate from the development CA with no SANs.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            san_emails: Vec::new(),
            san_dns: Vec::new(),
            san_uris: Vec::new(),
            issuer: ClientIssuer::DevCa,
            validity: ClientValidity::Current,
        }
    }
}

/// Options of [`DevPki::generate_with`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DevPkiOptions {
    /// Regenerate everything, the CA included, even files that are still valid.
    pub force: bool,
    /// Also write `server-encrypted.key`: the server key encrypted with this password
    /// (PKCS#8, PBES2 with PBKDF2-SHA256 and AES-256-CBC, readable by OpenSSL).
    pub server_key_password: Option<String>,
}

/// Files of one client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFiles {
    /// The [`ClientSpec::name`].
    pub name: String,
    /// `client-NAME.pem`.
    pub certificate: PathBuf,
    /// `client-NAME.key`.
    pub key: PathBuf,
}

/// The files of a generated development PKI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevPki {
    /// The output directory.
    pub dir: PathBuf,
    /// `ca.pem`: the CA certificate that servers and clients trust.
    pub ca_certificate: PathBuf,
    /// `ca.key`.
    pub ca_key: PathBuf,
    /// `server.pem`.
    pub server_certificate: PathBuf,
    /// `server.key`.
    pub server_key: PathBuf,
    /// `server-encrypted.key`, when a password was given.
    pub server_key_encrypted: Option<PathBuf>,
    /// `other-ca.pem`, when a client was issued by the untrusted CA.
    pub other_ca_certificate: Option<PathBuf>,
    /// One entry per [`ClientSpec`], in the order given.
    pub clients: Vec<ClientFiles>,
    /// Files written by this run, in the order written.
    pub written: Vec<PathBuf>,
    /// Files found valid and kept.
    pub kept: Vec<PathBuf>,
}

/// The development PKI could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The output directory could not be created.
    #[error("{}: cannot create directory: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("{}: cannot write file: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A client name cannot be used as a file name and common name.
    #[error("client name `{name}` is not allowed: {reason}")]
    InvalidClientName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// Two clients have the same name.
    #[error("client name `{0}` is given twice")]
    DuplicateClientName(String),
    /// A subject alternative name is not valid for its kind.
    #[error("{kind} subject alternative name `{value}` is not valid: {detail}")]
    InvalidName {
        /// `DNS`, `email` or `URI`.
        kind: &'static str,
        /// The value.
        value: String,
        /// What was wrong.
        detail: String,
    },
    /// The directory holds a CA that this module did not make; it is left alone.
    #[error(
        "{}: existing CA certificate was not made by the development PKI (subject `{subject}`); use another directory or force regeneration",
        path.display()
    )]
    ForeignCa {
        /// The CA certificate file.
        path: PathBuf,
        /// Its subject.
        subject: String,
    },
    /// Generating or signing a certificate or key failed.
    #[error("cannot generate {what}: {detail}")]
    Generate {
        /// What was being generated.
        what: String,
        /// What the generator reported.
        detail: String,
    },
}

fn generate_err(what: impl Into<String>) -> impl FnOnce(rcgen::Error) -> PkiError {
    let what = what.into();
    move |err| PkiError::Generate {
        what,
        detail: err.to_string(),
    }
}

/// A CA that can sign: its certificate DER and an rcgen issuer.
struct LoadedCa {
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl DevPki {
    /// Generates (or completes) a development PKI in `out_dir` with default options.
    /// `server_names` are DNS names or IP addresses for the server certificate, in addition
    /// to [`DEFAULT_SERVER_NAMES`]; the first one is its common name.
    pub fn generate(
        out_dir: &Path,
        server_names: &[String],
        clients: &[ClientSpec],
    ) -> Result<DevPki, PkiError> {
        Self::generate_with(out_dir, server_names, clients, &DevPkiOptions::default())
    }

    /// Generates (or completes) a development PKI in `out_dir`.
    pub fn generate_with(
        out_dir: &Path,
        server_names: &[String],
        clients: &[ClientSpec],
        options: &DevPkiOptions,
    ) -> Result<DevPki, PkiError> {
        validate_clients(clients)?;
        let server_sans = server_sans(server_names)?;
        let client_sans = clients
            .iter()
            .map(client_sans)
            .collect::<Result<Vec<_>, _>>()?;
        create_dir(out_dir)?;

        let mut pki = DevPki {
            dir: out_dir.to_path_buf(),
            ca_certificate: out_dir.join("ca.pem"),
            ca_key: out_dir.join("ca.key"),
            server_certificate: out_dir.join("server.pem"),
            server_key: out_dir.join("server.key"),
            server_key_encrypted: None,
            other_ca_certificate: None,
            clients: Vec::new(),
            written: Vec::new(),
            kept: Vec::new(),
        };
        let now = SystemTime::now();

        let ca = pki.ensure_ca(
            DEV_CA_NAME,
            &pki.ca_certificate.clone(),
            &pki.ca_key.clone(),
            options.force,
            now,
        )?;
        let other_ca = if clients.iter().any(|c| c.issuer == ClientIssuer::OtherCa) {
            let cert = out_dir.join("other-ca.pem");
            let key = out_dir.join("other-ca.key");
            let loaded = pki.ensure_ca(OTHER_CA_NAME, &cert, &key, options.force, now)?;
            pki.other_ca_certificate = Some(cert);
            Some(loaded)
        } else {
            None
        };

        pki.ensure_server(&ca, &server_sans, options.force, now)?;
        if let Some(password) = &options.server_key_password {
            let path = out_dir.join("server-encrypted.key");
            pki.ensure_encrypted_server_key(&path, password, options.force)?;
            pki.server_key_encrypted = Some(path);
        }

        for (spec, sans) in clients.iter().zip(&client_sans) {
            let issuer = match (spec.issuer, &other_ca) {
                (ClientIssuer::OtherCa, Some(other)) => other,
                _ => &ca,
            };
            let files = ClientFiles {
                name: spec.name.clone(),
                certificate: out_dir.join(format!("client-{}.pem", spec.name)),
                key: out_dir.join(format!("client-{}.key", spec.name)),
            };
            pki.ensure_client(issuer, spec, sans, &files, options.force, now)?;
            pki.clients.push(files);
        }
        Ok(pki)
    }

    /// The files of the client called `name`.
    pub fn client(&self, name: &str) -> Option<&ClientFiles> {
        self.clients.iter().find(|c| c.name == name)
    }

    fn ensure_ca(
        &mut self,
        common_name: &str,
        cert_path: &Path,
        key_path: &Path,
        force: bool,
        now: SystemTime,
    ) -> Result<LoadedCa, PkiError> {
        if !force && let Some(ca) = existing_ca(common_name, cert_path, key_path, now)? {
            self.kept.push(cert_path.to_path_buf());
            self.kept.push(key_path.to_path_buf());
            return Ok(ca);
        }
        let key = KeyPair::generate().map_err(generate_err(format!("{common_name} key")))?;
        let params = ca_params(common_name, now);
        let cert = params
            .self_signed(&key)
            .map_err(generate_err(format!("{common_name} certificate")))?;
        self.write(key_path, key.serialize_pem().as_bytes(), true)?;
        self.write(cert_path, cert.pem().as_bytes(), false)?;
        Ok(LoadedCa {
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    fn ensure_server(
        &mut self,
        ca: &LoadedCa,
        sans: &[SanType],
        force: bool,
        now: SystemTime,
    ) -> Result<(), PkiError> {
        let cert_path = self.server_certificate.clone();
        let key_path = self.server_key.clone();
        if !force && server_is_valid(ca, &cert_path, &key_path, sans, now) {
            self.kept.push(cert_path);
            self.kept.push(key_path);
            return Ok(());
        }
        let cn = match sans.first() {
            Some(SanType::DnsName(name)) => name.as_str().to_string(),
            Some(SanType::IpAddress(ip)) => ip.to_string(),
            _ => "localhost".to_string(),
        };
        let mut params = leaf_params(&cn, now, LEAF_VALIDITY_DAYS);
        params.subject_alt_names = sans.to_vec();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(generate_err("server key"))?;
        let cert = params
            .signed_by(&key, &ca.issuer)
            .map_err(generate_err("server certificate"))?;
        self.write(&key_path, key.serialize_pem().as_bytes(), true)?;
        self.write(&cert_path, cert.pem().as_bytes(), false)?;
        Ok(())
    }

    fn ensure_encrypted_server_key(
        &mut self,
        path: &Path,
        password: &str,
        force: bool,
    ) -> Result<(), PkiError> {
        let plain = match load_private_key(&self.server_key, None) {
            Ok(PrivateKeyDer::Pkcs8(der)) => der,
            Ok(_) | Err(_) => {
                return Err(PkiError::Generate {
                    what: "encrypted server key".to_string(),
                    detail: format!("{} is not a PKCS#8 key", self.server_key.display()),
                });
            }
        };
        if !force
            && self.written.iter().all(|p| p != &self.server_key)
            && let Ok(PrivateKeyDer::Pkcs8(existing)) = load_private_key(path, Some(password))
            && existing.secret_pkcs8_der() == plain.secret_pkcs8_der()
        {
            self.kept.push(path.to_path_buf());
            return Ok(());
        }
        let pem = encrypt_pkcs8(plain.secret_pkcs8_der(), password)?;
        self.write(path, pem.as_bytes(), true)
    }

    fn ensure_client(
        &mut self,
        ca: &LoadedCa,
        spec: &ClientSpec,
        sans: &[SanType],
        files: &ClientFiles,
        force: bool,
        now: SystemTime,
    ) -> Result<(), PkiError> {
        if !force && client_is_valid(ca, spec, &files.certificate, &files.key, now) {
            self.kept.push(files.certificate.clone());
            self.kept.push(files.key.clone());
            return Ok(());
        }
        let mut params = match spec.validity {
            ClientValidity::Current => leaf_params(&spec.name, now, LEAF_VALIDITY_DAYS),
            ClientValidity::Expired => {
                let mut params = leaf_params(&spec.name, now, 0);
                params.not_before = offset_time(now, -30 * DAY.as_secs() as i64);
                params.not_after = offset_time(now, -(DAY.as_secs() as i64));
                params
            }
        };
        params.subject_alt_names = sans.to_vec();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let what = format!("client certificate `{}`", spec.name);
        let key = KeyPair::generate().map_err(generate_err(what.clone()))?;
        let cert = params
            .signed_by(&key, &ca.issuer)
            .map_err(generate_err(what))?;
        self.write(&files.key, key.serialize_pem().as_bytes(), true)?;
        self.write(&files.certificate, cert.pem().as_bytes(), false)?;
        Ok(())
    }

    fn write(&mut self, path: &Path, contents: &[u8], secret: bool) -> Result<(), PkiError> {
        write_atomic(path, contents, secret).map_err(|source| PkiError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        self.written.push(path.to_path_buf());
        Ok(())
    }
}

fn validate_clients(clients: &[ClientSpec]) -> Result<(), PkiError> {
    let mut seen = BTreeSet::new();
    for spec in clients {
        let name = &spec.name;
        let reason = if name.is_empty() {
            Some("it is empty")
        } else if name.len() > 64 {
            Some("it is longer than 64 characters")
        } else if name.starts_with('.') {
            Some("it starts with `.`")
        } else if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            Some("only letters, digits, `.`, `_` and `-` are allowed")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(PkiError::InvalidClientName {
                name: name.clone(),
                reason,
            });
        }
        if !seen.insert(name.as_str()) {
            return Err(PkiError::DuplicateClientName(name.clone()));
        }
    }
    Ok(())
}

fn ia5(kind: &'static str, value: &str) -> Result<rcgen::string::Ia5String, PkiError> {
    rcgen::string::Ia5String::try_from(value).map_err(|err| PkiError::InvalidName {
        kind,
        value: value.to_string(),
        detail: err.to_string(),
    })
}

/// The server certificate's SANs: the given names, then the defaults, without duplicates.
fn server_sans(server_names: &[String]) -> Result<Vec<SanType>, PkiError> {
    let mut sans: Vec<SanType> = Vec::new();
    let defaults = DEFAULT_SERVER_NAMES.iter().map(|s| s.to_string());
    for name in server_names.iter().cloned().chain(defaults) {
        let trimmed = name.trim();
        let bare = trimmed
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(trimmed);
        let san = match bare.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => {
                if ServerName::try_from(bare).is_err() {
                    return Err(PkiError::InvalidName {
                        kind: "DNS",
                        value: name.clone(),
                        detail: "not a DNS name or IP address".to_string(),
                    });
                }
                SanType::DnsName(ia5("DNS", &bare.to_ascii_lowercase())?)
            }
        };
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    Ok(sans)
}

fn client_sans(spec: &ClientSpec) -> Result<Vec<SanType>, PkiError> {
    let mut sans = Vec::new();
    for email in &spec.san_emails {
        sans.push(SanType::Rfc822Name(ia5("email", email)?));
    }
    for dns in &spec.san_dns {
        sans.push(SanType::DnsName(ia5("DNS", dns)?));
    }
    for uri in &spec.san_uris {
        sans.push(SanType::URI(ia5("URI", uri)?));
    }
    Ok(sans)
}

fn create_dir(dir: &Path) -> Result<(), PkiError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o755);
    }
    builder.create(dir).map_err(|source| PkiError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes a file through a temporary file in the same directory and a rename, so a reader
/// never sees half a file. Secret files are created with mode 0600 on Unix.
fn write_atomic(path: &Path, contents: &[u8], secret: bool) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    // A leftover from an interrupted run may have other permissions: start afresh.
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn offset_time(now: SystemTime, delta_secs: i64) -> time::OffsetDateTime {
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(now_secs.saturating_add(delta_secs))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn distinguished_name(common_name: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(DnType::OrganizationName, DEV_ORGANIZATION);
    dn.push(DnType::CommonName, common_name);
    dn
}

fn ca_params(common_name: &str, now: SystemTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = offset_time(now, -(DAY.as_secs() as i64));
    params.not_after = offset_time(now, (CA_VALIDITY_DAYS * DAY.as_secs()) as i64);
    params
}

fn leaf_params(common_name: &str, now: SystemTime, days: u64) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.not_before = offset_time(now, -(DAY.as_secs() as i64));
    params.not_after = offset_time(now, (days * DAY.as_secs()) as i64);
    params
}

fn read_single_cert(path: &Path) -> Option<CertificateDer<'static>> {
    let bytes = std::fs::read(path).ok()?;
    CertificateDer::from_pem_slice(&bytes).ok()
}

fn read_key_pair(path: &Path) -> Option<KeyPair> {
    let text = std::fs::read_to_string(path).ok()?;
    KeyPair::from_pem(&text).ok()
}

/// Whether the certificate's public key is the key pair's.
fn key_matches(cert: &CertificateDer<'_>, key: &KeyPair) -> bool {
    use rcgen::PublicKeyData;
    match x509_parser::parse_x509_certificate(cert.as_ref()) {
        Ok((_, parsed)) => parsed.public_key().raw == key.subject_public_key_info().as_slice(),
        Err(_) => false,
    }
}

fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Loads an existing CA if it is ours, matches its key and is not about to expire.
/// `Ok(None)` means "(re)generate"; a CA made by someone else is an error.
fn existing_ca(
    common_name: &str,
    cert_path: &Path,
    key_path: &Path,
    now: SystemTime,
) -> Result<Option<LoadedCa>, PkiError> {
    if !cert_path.exists() {
        return Ok(None);
    }
    let Some(der) = read_single_cert(cert_path) else {
        return Ok(None);
    };
    let Ok(facts) = describe_certificate(der.as_ref()) else {
        return Ok(None);
    };
    let expected_subject = format!("CN={common_name},O={DEV_ORGANIZATION}");
    if facts.subject != expected_subject {
        return Err(PkiError::ForeignCa {
            path: cert_path.to_path_buf(),
            subject: facts.subject,
        });
    }
    let Some(key) = read_key_pair(key_path) else {
        return Ok(None);
    };
    let fresh =
        facts.not_before <= unix_secs(now) && facts.not_after > unix_secs(now + CA_RENEW_BEFORE);
    if !fresh || !key_matches(&der, &key) {
        return Ok(None);
    }
    let params = ca_params(common_name, now);
    Ok(Some(LoadedCa {
        der,
        issuer: Issuer::new(params, key),
    }))
}

fn roots_of(ca: &LoadedCa) -> Option<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.der.clone()).ok()?;
    Some(Arc::new(roots))
}

fn unix_time(secs: i64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(secs.max(0) as u64))
}

fn server_is_valid(
    ca: &LoadedCa,
    cert_path: &Path,
    key_path: &Path,
    sans: &[SanType],
    now: SystemTime,
) -> bool {
    let (Some(cert), Some(key)) = (read_single_cert(cert_path), read_key_pair(key_path)) else {
        return false;
    };
    let Ok(facts) = describe_certificate(cert.as_ref()) else {
        return false;
    };
    if !key_matches(&cert, &key) || facts.not_after <= unix_secs(now + RENEW_BEFORE) {
        return false;
    }
    let mut want_dns = Vec::new();
    let mut want_ips = Vec::new();
    for san in sans {
        match san {
            SanType::DnsName(name) => want_dns.push(name.as_str().to_string()),
            SanType::IpAddress(ip) => want_ips.push(*ip),
            _ => {}
        }
    }
    if facts.san_dns != want_dns || facts.san_ips != want_ips {
        return false;
    }
    let Some(roots) = roots_of(ca) else {
        return false;
    };
    let Ok(verifier) =
        WebPkiServerVerifier::builder_with_provider(roots, crypto_provider()).build()
    else {
        return false;
    };
    let at = UnixTime::now();
    let names = want_dns
        .iter()
        .filter_map(|n| ServerName::try_from(n.clone()).ok())
        .chain(want_ips.iter().map(|ip| ServerName::from(*ip)));
    names.into_iter().all(|name| {
        verifier
            .verify_server_cert(&cert, &[], &name, &[], at)
            .is_ok()
    })
}

fn client_is_valid(
    ca: &LoadedCa,
    spec: &ClientSpec,
    cert_path: &Path,
    key_path: &Path,
    now: SystemTime,
) -> bool {
    let (Some(cert), Some(key)) = (read_single_cert(cert_path), read_key_pair(key_path)) else {
        return false;
    };
    let Ok(facts) = describe_certificate(cert.as_ref()) else {
        return false;
    };
    if !key_matches(&cert, &key)
        || facts.subject_cn.as_deref() != Some(spec.name.as_str())
        || facts.san_emails != spec.san_emails
        || facts.san_dns != spec.san_dns
        || facts.san_uris != spec.san_uris
    {
        return false;
    }
    // Check the chain at a moment the certificate should be valid; then check that the
    // validity window is the one asked for.
    let (check_at, window_ok) = match spec.validity {
        ClientValidity::Current => (
            UnixTime::now(),
            facts.not_after > unix_secs(now + RENEW_BEFORE),
        ),
        ClientValidity::Expired => (
            unix_time(facts.not_before.saturating_add(1)),
            facts.not_after < unix_secs(now),
        ),
    };
    if !window_ok {
        return false;
    }
    let Some(roots) = roots_of(ca) else {
        return false;
    };
    let Ok(verifier) =
        WebPkiClientVerifier::builder_with_provider(roots, crypto_provider()).build()
    else {
        return false;
    };
    verifier.verify_client_cert(&cert, &[], check_at).is_ok()
}

/// Encrypts a PKCS#8 key as an `ENCRYPTED PRIVATE KEY` PEM block (PBES2, PBKDF2-SHA256,
/// AES-256-CBC, random salt and IV).
fn encrypt_pkcs8(pkcs8_der: &[u8], password: &str) -> Result<String, PkiError> {
    let fail = |detail: String| PkiError::Generate {
        what: "encrypted server key".to_string(),
        detail,
    };
    let rng = ring::rand::SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rng.fill(&mut salt)
        .and_then(|()| rng.fill(&mut iv))
        .map_err(|_| fail("no randomness available".to_string()))?;
    let info = pkcs8::PrivateKeyInfo::try_from(pkcs8_der).map_err(|e| fail(e.to_string()))?;
    let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv)
        .map_err(|e| fail(e.to_string()))?;
    let document = info
        .encrypt_with_params(params, password)
        .map_err(|e| fail(e.to_string()))?;
    let pem = document
        .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
        .map_err(|e| fail(e.to_string()))?;
    Ok(pem.as_str().to_string())
}
