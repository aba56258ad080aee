//! TLS for RadSec (RADIUS over TLS, RFC 6614): loading certificates and keys from PEM files,
//! building rustls server and client configurations from the settings of a listener or a
//! backend, running handshakes with a deadline, and describing peer certificates.
//!
//! Everything here uses rustls with the *ring* crypto provider, passed explicitly to every
//! builder: the process-wide default provider is never installed nor consulted, so the daemon
//! behaves the same whatever other crates in the process do.

mod facts;
mod files;
mod handshake;
mod settings;

pub use facts::{CertificateFacts, CertificateFactsError, describe_certificate};
pub use files::{
    MAX_PEM_FILE_BYTES, PemError, load_ca_bundle, load_certificates, load_private_key,
};
pub use handshake::{
    DEFAULT_HANDSHAKE_TIMEOUT, HandshakeError, PeerInfo, accept, acceptor, connect, connector,
};
pub use settings::{
    ClientTlsSettings, ServerTlsSettings, TlsConfigError, TlsVersion, TlsVersionParseError,
    crypto_provider,
};

/// The rustls crate, re-exported so callers name exactly the version this module builds with.
pub use rustls;
/// The tokio adapter for rustls, re-exported for the stream types returned by [`accept`] and
/// [`connect`].
pub use tokio_rustls;
