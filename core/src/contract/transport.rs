//! How RADIUS is carried: the one [`Transport`] of the workspace.

use std::fmt;
use std::str::FromStr;

/// How RADIUS is carried: by a listener, an accepted or dialed connection, a
/// `connect` server, or the command-line client.
///
/// A stream connection (what `connection.transport_protocol` reads) is always
/// [`Transport::Tcp`] or [`Transport::Tls`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transport {
    /// RADIUS over UDP (RFC 2865).
    Udp,
    /// RADIUS over TCP (RFC 6613).
    Tcp,
    /// RADIUS over TLS, RadSec (RFC 6614).
    Tls,
}

impl Transport {
    /// `udp`, `tcp` or `tls`: as written in configuration, read by
    /// `connection.transport_protocol`, and used as a metrics label.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// Whether this is a stream transport (TCP or TLS).
    pub fn is_stream(self) -> bool {
        self != Transport::Udp
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not `udp`, `tcp` or `tls`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport '{0}' (expected udp, tcp or tls)")]
pub struct UnknownTransport(pub String);

impl FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Transport, UnknownTransport> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Ok(Transport::Udp),
            "tcp" => Ok(Transport::Tcp),
            "tls" => Ok(Transport::Tls),
            _ => Err(UnknownTransport(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in [Transport::Udp, Transport::Tcp, Transport::Tls] {
            assert_eq!(t.name().parse::<Transport>(), Ok(t));
        }
        assert_eq!("TLS".parse::<Transport>(), Ok(Transport::Tls));
        assert!("dtls".parse::<Transport>().is_err());
    }
}
