//! The driver's network ([`Net`]) over turmoil's simulated sockets.
//!
//! The daemon's driver is generic over [`Net`]; the daemon runs it on
//! [`TokioNet`](boomerang_io_tokio::net::TokioNet), and a simulated world runs the very same
//! driver on [`TurmoilNet`], whose sockets live in turmoil's in-memory network: latency,
//! partitions, holds and host crashes then apply to the driver exactly as a real network's
//! would, on a virtual clock, replayably.
//!
//! Every method must be called from inside a turmoil host or client (turmoil keeps its world
//! in a thread-local); called elsewhere, turmoil panics.
//!
//! Addresses: a simulated host can only bind the unspecified address or loopback, of its own
//! IP family (turmoil refuses anything else and *panics* on a family mismatch). So that a
//! configuration written for a real machine loads unchanged, [`TurmoilNet`] binds the
//! unspecified address when asked for the host's own address, and maps an unspecified or
//! loopback address of the other family onto the host's family. Any other address is refused
//! with [`io::ErrorKind::AddrNotAvailable`] instead of a panic.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use boomerang_io_tokio::net::{DatagramSocket, Net, StreamListener};

/// The simulated network of one turmoil host.
///
/// Create it inside the host's future (or factory), for the host's own address, e.g.
/// `TurmoilNet::of_host("server")`. It is cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurmoilNet {
    own: IpAddr,
}

impl TurmoilNet {
    /// The network as seen by the host whose address is `own`.
    pub fn with_addr(own: IpAddr) -> Self {
        Self { own }
    }

    /// The network as seen by the turmoil host named `name`. Must be called inside a turmoil
    /// simulation (turmoil panics otherwise, and for an unknown name).
    pub fn of_host(name: &str) -> Self {
        Self::with_addr(turmoil::lookup(name))
    }

    /// The address of the host this network belongs to.
    pub fn own_addr(&self) -> IpAddr {
        self.own
    }

    /// The address to hand to turmoil for binding `requested`, or why it cannot be bound.
    pub fn bindable(&self, requested: SocketAddr) -> io::Result<SocketAddr> {
        let ip = requested.ip();
        let own_v4 = self.own.is_ipv4();
        let mapped = if ip == self.own || ip.is_unspecified() {
            unspecified(own_v4)
        } else if ip.is_loopback() {
            loopback(own_v4)
        } else {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!(
                    "{requested}: a simulated host can bind only its own address ({}), the \
                     unspecified address or loopback",
                    self.own
                ),
            ));
        };
        Ok(SocketAddr::new(mapped, requested.port()))
    }
}

fn unspecified(v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    }
}

fn loopback(v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    }
}

/// A simulated listening stream socket.
pub struct TurmoilListener {
    inner: turmoil::net::TcpListener,
}

impl std::fmt::Debug for TurmoilListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurmoilListener")
            .field("local_addr", &self.inner.local_addr().ok())
            .finish()
    }
}

impl StreamListener for TurmoilListener {
    type Stream = turmoil::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        self.inner.accept().await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A simulated datagram socket.
#[derive(Debug)]
pub struct TurmoilDatagram {
    inner: turmoil::net::UdpSocket,
}

impl DatagramSocket for TurmoilDatagram {
    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.recv_from(buf).await
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.inner.send_to(buf, target).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl Net for TurmoilNet {
    type Listener = TurmoilListener;
    type Stream = turmoil::net::TcpStream;
    type Datagram = TurmoilDatagram;

    async fn listen(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        let addr = self.bindable(addr)?;
        let inner = turmoil::net::TcpListener::bind(addr).await?;
        Ok(TurmoilListener { inner })
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect(addr).await
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Datagram> {
        let addr = self.bindable(addr)?;
        let inner = turmoil::net::UdpSocket::bind(addr).await?;
        Ok(TurmoilDatagram { inner })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_host() -> TurmoilNet {
        TurmoilNet::with_addr("192.168.0.1".parse().unwrap())
    }

    #[test]
    fn own_and_unspecified_addresses_bind_unspecified() {
        let net = v4_host();
        let want: SocketAddr = "0.0.0.0:2083".parse().unwrap();
        for asked in ["192.168.0.1:2083", "0.0.0.0:2083", "[::]:2083"] {
            assert_eq!(
                net.bindable(asked.parse().unwrap()).unwrap(),
                want,
                "{asked}"
            );
        }
    }

    #[test]
    fn loopback_maps_to_the_host_family() {
        let net = TurmoilNet::with_addr("fe80::1".parse().unwrap());
        let want: SocketAddr = "[::1]:1812".parse().unwrap();
        for asked in ["127.0.0.1:1812", "[::1]:1812"] {
            assert_eq!(
                net.bindable(asked.parse().unwrap()).unwrap(),
                want,
                "{asked}"
            );
        }
        assert_eq!(
            net.bindable("0.0.0.0:1".parse().unwrap()).unwrap(),
            "[::]:1".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn foreign_addresses_are_refused_not_panicked_on() {
        let err = v4_host()
            .bindable("10.1.2.3:1812".parse().unwrap())
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable);
        assert!(err.to_string().contains("192.168.0.1"), "{err}");
    }
}
