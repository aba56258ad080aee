//! The TLS settings of a RadSec listener (`servers { radius { listen { tls { … } } } }`) and of
//! a RadSec backend (`connect { protocol tls; tls { … } }`), and the rustls configurations
//! built from them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::ServerName;

use super::files::{PemError, load_ca_bundle, load_certificates, load_private_key};

/// The crypto provider every configuration is built with: rustls's *ring* provider.
///
/// It is handed to each builder explicitly; the process-wide default provider is never
/// installed, so nothing else linked into the process can change our cipher suites.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS protocol version that may bound a configuration (`min_protocol_version`,
/// `max_protocol_version`). Older versions are never offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.2 (RFC 5246), the minimum RFC 6614 asks for.
    Tls12,
    /// TLS 1.3 (RFC 8446).
    Tls13,
}

impl TlsVersion {
    /// Every version we support, oldest first.
    pub const ALL: [TlsVersion; 2] = [TlsVersion::Tls12, TlsVersion::Tls13];

    /// The name used in configuration files: `tlsv12` or `tlsv13`.
    pub fn config_name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "tlsv12",
            TlsVersion::Tls13 => "tlsv13",
        }
    }

    fn rustls_version(self) -> &'static SupportedProtocolVersion {
        match self {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        }
    }

    /// The version rustls negotiated, if it is one of ours.
    pub fn from_rustls(version: rustls::ProtocolVersion) -> Option<Self> {
        match version {
            rustls::ProtocolVersion::TLSv1_2 => Some(TlsVersion::Tls12),
            rustls::ProtocolVersion::TLSv1_3 => Some(TlsVersion::Tls13),
            _ => None,
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls12 => "TLS 1.2",
            TlsVersion::Tls13 => "TLS 1.3",
        })
    }
}

/// A protocol version name in the configuration is not one we support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown TLS protocol version `{0}` (expected `tlsv12` or `tlsv13`)")]
pub struct TlsVersionParseError(pub String);

impl FromStr for TlsVersion {
    type Err = TlsVersionParseError;

    /// Accepts the configuration names `tlsv12`/`tlsv13` (any case), and `tlsv1.2`,
    /// `tlsv1.3`, `1.2`, `1.3` as spelled in other documentation.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tlsv12" | "tlsv1.2" | "tls12" | "tls1.2" | "1.2" => Ok(TlsVersion::Tls12),
            "tlsv13" | "tlsv1.3" | "tls13" | "tls1.3" | "1.3" => Ok(TlsVersion::Tls13),
            _ => Err(TlsVersionParseError(s.to_string())),
        }
    }
}

/// A TLS configuration could not be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// A certificate, key or CA file could not be loaded.
    #[error(transparent)]
    File(#[from] PemError),
    /// Client certificates are required but there is nothing to verify them against.
    #[error(
        "require_client_certificate is true but no client_ca_certificate is configured: set client_ca_certificate, or set require_client_certificate false to accept clients without a certificate"
    )]
    ClientCaRequired,
    /// The private key does not belong to the certificate.
    #[error("private key {} does not match certificate {}", key_path.display(), certificate_path.display())]
    KeyMismatch {
        /// The certificate (chain) file.
        certificate_path: PathBuf,
        /// The key file.
        key_path: PathBuf,
    },
    /// The certificate and key could not be paired for another reason.
    #[error("certificate {} with key {}: {detail}", certificate_path.display(), key_path.display())]
    CertifiedKey {
        /// The certificate (chain) file.
        certificate_path: PathBuf,
        /// The key file.
        key_path: PathBuf,
        /// What rustls reported.
        detail: String,
    },
    /// A client certificate was configured without its key, or a key without its certificate.
    #[error(
        "a client certificate needs both `certificate` and `certificate_key`; only {present} is configured"
    )]
    IncompleteClientIdentity {
        /// Which of the two is configured.
        present: &'static str,
    },
    /// `min_protocol_version` is above `max_protocol_version`.
    #[error("min_protocol_version {} is above max_protocol_version {}", min.config_name(), max.config_name())]
    EmptyVersionRange {
        /// The configured minimum.
        min: TlsVersion,
        /// The configured maximum.
        max: TlsVersion,
    },
    /// The name to check the server certificate against is neither a DNS name nor an IP address.
    #[error(
        "`{name}` is not a valid DNS name or IP address to check the server certificate against"
    )]
    InvalidServerName {
        /// The configured name.
        name: String,
    },
    /// The certificate verifier could not be built from the CA bundle.
    #[error("{}: cannot verify certificates with this CA bundle: {detail}", ca_path.display())]
    Verifier {
        /// The CA bundle.
        ca_path: PathBuf,
        /// What rustls reported.
        detail: String,
    },
    /// rustls refused the configuration (for example the provider has no cipher suite for the
    /// selected versions).
    #[error("TLS configuration refused: {0}")]
    Rustls(rustls::Error),
}

/// TLS settings of a RadSec listener, as configured in its `tls { … }` block.
///
/// ALPN: nothing is advertised, because RFC 6614 defines none and RadSec peers do not send
/// it; a client that offers ALPN protocols is still accepted. Early data (0-RTT) is never
/// accepted: a replayed RADIUS request could repeat an accounting record or a CoA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsSettings {
    /// PEM file with our certificate, followed by any intermediates (`certificate`).
    pub certificate_chain_path: PathBuf,
    /// PEM file with our private key (`certificate_key`).
    pub key_path: PathBuf,
    /// Password of an encrypted key (the `password` of the `key` block).
    pub key_password: Option<String>,
    /// CA bundle that client certificates must chain to (`client_ca_certificate`).
    pub client_ca_path: Option<PathBuf>,
    /// Whether a client must present a valid certificate (`require_client_certificate`,
    /// default true). When false, a client without a certificate is accepted, but a client
    /// that presents one must still present a valid one.
    pub require_client_certificate: bool,
    /// Lowest protocol version accepted (`min_protocol_version`); `None` means TLS 1.2.
    pub min_version: Option<TlsVersion>,
    /// Highest protocol version accepted (`max_protocol_version`); `None` means TLS 1.3.
    pub max_version: Option<TlsVersion>,
}

impl ServerTlsSettings {
    /// Settings with the given certificate and key and every other option at its default:
    /// no password, no client CA, client certificates required, TLS 1.2 and 1.3.
    pub fn new(certificate_chain_path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> Self {
        Self {
            certificate_chain_path: certificate_chain_path.into(),
            key_path: key_path.into(),
            key_password: None,
            client_ca_path: None,
            require_client_certificate: true,
            min_version: None,
            max_version: None,
        }
    }

    /// Loads the files and builds the rustls server configuration.
    pub fn build_config(&self) -> Result<Arc<ServerConfig>, TlsConfigError> {
        let provider = crypto_provider();
        let versions = protocol_versions(self.min_version, self.max_version)?;
        // Check the client-CA rule first: it is a pure configuration mistake, and reporting it
        // does not depend on the files being readable.
        let client_ca_path = match (&self.client_ca_path, self.require_client_certificate) {
            (None, true) => return Err(TlsConfigError::ClientCaRequired),
            (path, _) => path.as_deref(),
        };
        let certified = certified_key(
            &provider,
            &self.certificate_chain_path,
            &self.key_path,
            self.key_password.as_deref(),
        )?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(TlsConfigError::Rustls)?;
        let builder = match client_ca_path {
            None => builder.with_no_client_auth(),
            Some(ca_path) => {
                let roots = load_ca_bundle(ca_path)?;
                let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
                if !self.require_client_certificate {
                    verifier = verifier.allow_unauthenticated();
                }
                let verifier = verifier.build().map_err(|err| TlsConfigError::Verifier {
                    ca_path: ca_path.to_path_buf(),
                    detail: err.to_string(),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        config.max_early_data_size = 0;
        config.alpn_protocols = Vec::new();
        Ok(Arc::new(config))
    }
}

/// TLS settings of a RadSec backend connection, as configured in its `connect { tls { … } }`
/// block.
///
/// ALPN: nothing is offered (RFC 6614 defines no ALPN id). Early data is never sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTlsSettings {
    /// CA bundle the server certificate must chain to (`server_ca_certificate`).
    pub server_ca_path: PathBuf,
    /// PEM file with our client certificate and intermediates (`certificate`), for mutual TLS.
    pub certificate_chain_path: Option<PathBuf>,
    /// PEM file with the client certificate's private key (`certificate_key`).
    pub key_path: Option<PathBuf>,
    /// Password of an encrypted key.
    pub key_password: Option<String>,
    /// Name the server certificate must carry: a DNS name (matched against its DNS SANs) or
    /// an IP address (matched against its IP SANs). Usually the `host` or `ip` we connect to.
    pub server_name: String,
    /// Lowest protocol version offered; `None` means TLS 1.2.
    pub min_version: Option<TlsVersion>,
    /// Highest protocol version offered; `None` means TLS 1.3.
    pub max_version: Option<TlsVersion>,
}

impl ClientTlsSettings {
    /// Settings that verify the server against `server_ca_path` and `server_name`, with no
    /// client certificate and TLS 1.2 and 1.3.
    pub fn new(server_ca_path: impl Into<PathBuf>, server_name: impl Into<String>) -> Self {
        Self {
            server_ca_path: server_ca_path.into(),
            certificate_chain_path: None,
            key_path: None,
            key_password: None,
            server_name: server_name.into(),
            min_version: None,
            max_version: None,
        }
    }

    /// The name the server certificate is checked against, parsed. An IP address may be
    /// written bare or in brackets (`[::1]`).
    pub fn server_name(&self) -> Result<ServerName<'static>, TlsConfigError> {
        let name = self.server_name.trim();
        let name = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        ServerName::try_from(name.to_string()).map_err(|_| TlsConfigError::InvalidServerName {
            name: self.server_name.clone(),
        })
    }

    /// Loads the files and builds the rustls client configuration.
    pub fn build_config(&self) -> Result<Arc<ClientConfig>, TlsConfigError> {
        let provider = crypto_provider();
        let versions = protocol_versions(self.min_version, self.max_version)?;
        self.server_name()?;
        let identity = match (&self.certificate_chain_path, &self.key_path) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(certified_key(
                &provider,
                cert,
                key,
                self.key_password.as_deref(),
            )?),
            (Some(_), None) => {
                return Err(TlsConfigError::IncompleteClientIdentity {
                    present: "`certificate`",
                });
            }
            (None, Some(_)) => {
                return Err(TlsConfigError::IncompleteClientIdentity {
                    present: "`certificate_key`",
                });
            }
        };
        let roots = load_ca_bundle(&self.server_ca_path)?;
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|err| TlsConfigError::Verifier {
                ca_path: self.server_ca_path.clone(),
                detail: err.to_string(),
            })?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(TlsConfigError::Rustls)?
            .with_webpki_verifier(verifier);
        let mut config = match identity {
            None => builder.with_no_client_auth(),
            Some(certified) => {
                builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
            }
        };
        config.enable_early_data = false;
        config.alpn_protocols = Vec::new();
        Ok(Arc::new(config))
    }
}

/// The rustls versions between `min` and `max` (inclusive), newest first.
fn protocol_versions(
    min: Option<TlsVersion>,
    max: Option<TlsVersion>,
) -> Result<Vec<&'static SupportedProtocolVersion>, TlsConfigError> {
    let min = min.unwrap_or(TlsVersion::Tls12);
    let max = max.unwrap_or(TlsVersion::Tls13);
    if min > max {
        return Err(TlsConfigError::EmptyVersionRange { min, max });
    }
    Ok(TlsVersion::ALL
        .iter()
        .rev()
        .filter(|v| (min..=max).contains(v))
        .map(|v| v.rustls_version())
        .collect())
}

/// Loads a certificate chain and its key and checks that they belong together.
fn certified_key(
    provider: &CryptoProvider,
    certificate_path: &Path,
    key_path: &Path,
    password: Option<&str>,
) -> Result<CertifiedKey, TlsConfigError> {
    let chain = load_certificates(certificate_path)?;
    let key = load_private_key(key_path, password)?;
    let signing_key = provider.key_provider.load_private_key(key).map_err(|err| {
        PemError::UnsupportedKeyType {
            path: key_path.to_path_buf(),
            detail: err.to_string(),
        }
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsConfigError::KeyMismatch {
                certificate_path: certificate_path.to_path_buf(),
                key_path: key_path.to_path_buf(),
            })
        }
        Err(err) => Err(TlsConfigError::CertifiedKey {
            certificate_path: certificate_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            detail: err.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_parse() {
        assert_eq!("tlsv12".parse::<TlsVersion>(), Ok(TlsVersion::Tls12));
        assert_eq!("TLSv13".parse::<TlsVersion>(), Ok(TlsVersion::Tls13));
        assert_eq!("1.3".parse::<TlsVersion>(), Ok(TlsVersion::Tls13));
        assert!("tlsv11".parse::<TlsVersion>().is_err());
    }

    #[test]
    fn version_ranges() {
        assert_eq!(protocol_versions(None, None).unwrap().len(), 2);
        let only13 = protocol_versions(Some(TlsVersion::Tls13), None).unwrap();
        assert_eq!(only13.len(), 1);
        assert_eq!(only13[0].version, rustls::ProtocolVersion::TLSv1_3);
        let only12 = protocol_versions(None, Some(TlsVersion::Tls12)).unwrap();
        assert_eq!(only12[0].version, rustls::ProtocolVersion::TLSv1_2);
        assert!(matches!(
            protocol_versions(Some(TlsVersion::Tls13), Some(TlsVersion::Tls12)),
            Err(TlsConfigError::EmptyVersionRange { .. })
        ));
    }

    #[test]
    fn server_names_accept_dns_and_ip() {
        for name in ["radsec.example.net", "127.0.0.1", "::1", "[::1]"] {
            assert!(
                ClientTlsSettings::new("ca.pem", name).server_name().is_ok(),
                "{name}"
            );
        }
        assert!(matches!(
            ClientTlsSettings::new("ca.pem", "not a name").server_name(),
            Err(TlsConfigError::InvalidServerName { .. })
        ));
    }

    #[test]
    fn missing_client_ca_is_a_configuration_error() {
        // The files do not exist: the configuration mistake is reported first.
        let settings = ServerTlsSettings::new("/nonexistent/cert.pem", "/nonexistent/key.pem");
        assert!(matches!(
            settings.build_config(),
            Err(TlsConfigError::ClientCaRequired)
        ));
    }
}
