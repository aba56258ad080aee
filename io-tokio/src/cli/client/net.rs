//! Transport plumbing shared by both modes: the server address, OS randomness, and
//! connected TCP or TLS streams.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use boomerang_core::rng::RandomSource;
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::ClientError;
use crate::tls;

/// A connected byte stream carrying RADIUS packets: plain TCP or TLS.
pub trait RadiusStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> RadiusStream for T {}

/// `--server` as written: a host (name or address) and maybe a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    /// Host name or IP address, without brackets.
    pub host: String,
    /// The port, when one was given.
    pub port: Option<u16>,
}

/// Parses `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT` or a bare IPv6 address.
pub fn parse_server(text: &str) -> Result<ServerAddr, ClientError> {
    let bad = || ClientError::BadServer(text.to_string());
    let text = text.trim();
    if text.is_empty() {
        return Err(bad());
    }
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Ok(ServerAddr {
            host: sa.ip().to_string(),
            port: Some(sa.port()),
        });
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(ServerAddr {
            host: ip.to_string(),
            port: None,
        });
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        host.parse::<IpAddr>().map_err(|_| bad())?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(bad)?,
            ),
        };
        return Ok(ServerAddr {
            host: host.to_string(),
            port,
        });
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| bad())?)),
        None => (text, None),
    };
    if host.is_empty() || host.contains(':') || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok(ServerAddr {
        host: host.to_string(),
        port,
    })
}

/// Resolves the host to its first address.
pub async fn resolve(host: &str, port: u16) -> Result<SocketAddr, ClientError> {
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| ClientError::Resolve {
            host: host.to_string(),
            source,
        })?;
    addrs.next().ok_or_else(|| ClientError::Resolve {
        host: host.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses"),
    })
}

/// The operating system's random generator as the core's [`RandomSource`].
///
/// `RandomSource::fill` cannot fail, so a failure of the OS generator is remembered and
/// checked with [`OsRandom::check`] after use; nothing generated after a failure is sent.
#[derive(Debug)]
pub struct OsRandom {
    rng: SystemRandom,
    failed: bool,
}

impl OsRandom {
    /// The system generator.
    pub fn new() -> Self {
        OsRandom {
            rng: SystemRandom::new(),
            failed: false,
        }
    }

    /// An error if any fill since creation failed.
    pub fn check(&self) -> Result<(), ClientError> {
        if self.failed {
            Err(ClientError::Random)
        } else {
            Ok(())
        }
    }

    /// 16 random octets (a Request Authenticator).
    pub fn vector(&mut self) -> [u8; 16] {
        let mut v = [0u8; 16];
        self.fill(&mut v);
        v
    }
}

impl RandomSource for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        if self.rng.fill(buf).is_err() {
            self.failed = true;
        }
    }
}

/// Hands out one chosen 16-octet vector: lets `sign_request` use a Request
/// Authenticator picked (and used for hiding User-Password) before signing.
#[derive(Debug)]
pub struct FixedVector(pub [u8; 16]);

impl RandomSource for FixedVector {
    fn fill(&mut self, buf: &mut [u8]) {
        for (dst, src) in buf.iter_mut().zip(self.0.iter().cycle()) {
            *dst = *src;
        }
    }
}

/// Opens TCP connections, and runs TLS over them when configured.
#[derive(Clone)]
pub struct StreamConnector {
    /// The TLS connector and the name the server certificate must carry.
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Bound on the TCP connect and, separately, on the TLS handshake.
    pub timeout: Duration,
}

impl std::fmt::Debug for StreamConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamConnector")
            .field("tls", &self.tls.as_ref().map(|(_, name)| name))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl StreamConnector {
    /// Connects to `addr`, with TLS if configured.
    pub async fn connect(&self, addr: SocketAddr) -> Result<Box<dyn RadiusStream>, ClientError> {
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::ConnectTimeout {
                addr,
                timeout: self.timeout,
            })?
            .map_err(|source| ClientError::Connect { addr, source })?;
        // Packets are written whole; do not let Nagle hold a reply back.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some((connector, name)) => {
                let (stream, _peer) = tls::connect(connector, name.clone(), tcp, self.timeout)
                    .await
                    .map_err(ClientError::Handshake)?;
                Ok(Box::new(stream))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (String, Option<u16>) {
        let s = parse_server(text).unwrap();
        (s.host, s.port)
    }

    #[test]
    fn server_addresses_parse_with_and_without_ports() {
        assert_eq!(parsed("127.0.0.1:1812"), ("127.0.0.1".into(), Some(1812)));
        assert_eq!(parsed("127.0.0.1"), ("127.0.0.1".into(), None));
        assert_eq!(parsed("radius.example"), ("radius.example".into(), None));
        assert_eq!(
            parsed("radius.example:2083"),
            ("radius.example".into(), Some(2083))
        );
        assert_eq!(parsed("[::1]:3799"), ("::1".into(), Some(3799)));
        assert_eq!(parsed("[::1]"), ("::1".into(), None));
        assert_eq!(parsed("::1"), ("::1".into(), None));
        for bad in [
            "",
            "host:port",
            "[::1",
            "[nothost]:1",
            "a b:1",
            ":1812",
            "h:99999",
        ] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fixed_vector_hands_out_its_octets() {
        let mut v = FixedVector([7; 16]);
        let mut buf = [0u8; 16];
        v.fill(&mut buf);
        assert_eq!(buf, [7; 16]);
    }
}
