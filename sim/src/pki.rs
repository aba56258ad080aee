//! TLS material for simulated worlds: a development PKI generated on disk *before* the
//! simulation starts (file access and key generation have no place inside a world), turned
//! into ready rustls configurations that host futures can share.
//!
//! Certificates are checked by rustls against the real clock, not turmoil's virtual epoch;
//! development certificates are valid from yesterday for 825 days, so this never matters in
//! practice (see `docs/simulation.md`).

use std::path::Path;
use std::sync::Arc;

use boomerang_io_tokio::pki::{ClientSpec, DevPki, PkiError};
use boomerang_io_tokio::tls::rustls::client::Resumption;
use boomerang_io_tokio::tls::rustls::pki_types::ServerName;
use boomerang_io_tokio::tls::rustls::{ClientConfig, ServerConfig};
use boomerang_io_tokio::tls::{
    ClientTlsSettings, ServerTlsSettings, TlsConfigError, TlsVersion, tokio_rustls,
};

/// The server name simulated clients check the server certificate against.
pub const SIM_SERVER_NAME: &str = "server";

/// Building the simulated PKI failed.
#[derive(Debug, thiserror::Error)]
pub enum SimPkiError {
    /// Generating the certificate files failed.
    #[error("generating the development PKI: {0}")]
    Generate(#[from] PkiError),
    /// Building a rustls configuration from the files failed.
    #[error("building a TLS configuration: {0}")]
    Config(#[from] TlsConfigError),
    /// A client was asked for that was not generated.
    #[error("no client certificate named `{0}` was generated")]
    UnknownClient(String),
}

/// rustls configurations for a RadSec server and its clients, sharing one development CA.
#[derive(Clone)]
pub struct SimPki {
    /// The files on disk.
    pub files: DevPki,
    /// The server's configuration: certificate for [`SIM_SERVER_NAME`], client certificates
    /// required and checked against the development CA.
    pub server: Arc<ServerConfig>,
    clients: Vec<(String, Arc<ClientConfig>)>,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for SimPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimPki")
            .field("files", &self.files)
            .field(
                "clients",
                &self.clients.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl SimPki {
    /// Generate a CA, a server certificate for [`SIM_SERVER_NAME`] and one client certificate
    /// (CN = name) per entry of `clients` into `dir`, and build their configurations, limited
    /// to `version` when given (TLS 1.2 and 1.3 otherwise).
    pub fn generate(
        dir: &Path,
        clients: &[&str],
        version: Option<TlsVersion>,
    ) -> Result<Self, SimPkiError> {
        let specs: Vec<ClientSpec> = clients.iter().map(|n| ClientSpec::new(*n)).collect();
        let files = DevPki::generate(dir, &[SIM_SERVER_NAME.to_string()], &specs)?;
        let mut server = ServerTlsSettings::new(&files.server_certificate, &files.server_key);
        server.client_ca_path = Some(files.ca_certificate.clone());
        server.min_version = version;
        server.max_version = version;
        let server = server.build_config()?;
        let mut configs = Vec::new();
        let mut server_name = None;
        for name in clients {
            let client_files = files
                .client(name)
                .ok_or_else(|| SimPkiError::UnknownClient((*name).to_string()))?;
            let mut settings = ClientTlsSettings::new(&files.ca_certificate, SIM_SERVER_NAME);
            settings.certificate_chain_path = Some(client_files.certificate.clone());
            settings.key_path = Some(client_files.key.clone());
            settings.min_version = version;
            settings.max_version = version;
            server_name = Some(settings.server_name()?);
            configs.push(((*name).to_string(), settings.build_config()?));
        }
        let server_name = match server_name {
            Some(name) => name,
            None => ClientTlsSettings::new(&files.ca_certificate, SIM_SERVER_NAME).server_name()?,
        };
        Ok(Self {
            files,
            server,
            clients: configs,
            server_name,
        })
    }

    /// The acceptor for the server side.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        boomerang_io_tokio::tls::acceptor(self.server.clone())
    }

    /// The connector for client `name` (presenting its certificate).
    pub fn connector(&self, name: &str) -> Result<tokio_rustls::TlsConnector, SimPkiError> {
        self.clients
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| boomerang_io_tokio::tls::connector(c.clone()))
            .ok_or_else(|| SimPkiError::UnknownClient(name.to_string()))
    }

    /// A connector for client `name` with a session cache of its own: what a device
    /// that just booted has. Worlds use it so that one world's TLS sessions are never
    /// resumed in another (which would make a seed's run depend on what ran before).
    pub fn fresh_connector(&self, name: &str) -> Result<tokio_rustls::TlsConnector, SimPkiError> {
        let shared = self
            .clients
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .ok_or_else(|| SimPkiError::UnknownClient(name.to_string()))?;
        let mut config = ClientConfig::clone(shared);
        config.resumption = Resumption::in_memory_sessions(64);
        Ok(boomerang_io_tokio::tls::connector(Arc::new(config)))
    }

    /// The name clients verify the server certificate against ([`SIM_SERVER_NAME`]).
    pub fn server_name(&self) -> ServerName<'static> {
        self.server_name.clone()
    }
}
