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
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use boomerang_core::rng::SplitMix64;
use boomerang_io_tokio::net::{DatagramSocket, Net, StreamListener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::seed::sub_seed;

/// Fault points inside the streams a simulated driver uses: the driver's code runs
/// unchanged and meets short writes and connections reset under it (for TLS streams,
/// a forced close of the TLS connection). They exist only in [`TurmoilNet`]: the
/// daemon's `TokioNet` has no such code at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamFaults {
    /// Percentage of writes that accept only part of the buffer.
    pub short_write_percent: u64,
    /// Chance, per million writes, that the connection is reset there and then.
    pub reset_per_million_writes: u64,
    /// Faults stop at this virtual time (the world's quiet period follows).
    pub until: Duration,
}

#[derive(Debug)]
struct FaultPoints {
    faults: StreamFaults,
    seed: u64,
    streams: AtomicU64,
}

/// The simulated network of one turmoil host.
///
/// Create it inside the host's future (or factory), for the host's own address, e.g.
/// `TurmoilNet::of_host("server")`. It is cheap to clone.
#[derive(Debug, Clone)]
pub struct TurmoilNet {
    own: IpAddr,
    faults: Option<Arc<FaultPoints>>,
}

impl PartialEq for TurmoilNet {
    fn eq(&self, other: &Self) -> bool {
        self.own == other.own
    }
}

impl Eq for TurmoilNet {}

impl TurmoilNet {
    /// The network as seen by the host whose address is `own`.
    pub fn with_addr(own: IpAddr) -> Self {
        Self { own, faults: None }
    }

    /// The same network with seeded fault points in every stream it accepts or opens
    /// (each stream draws from its own generator, derived from `seed` and the order
    /// streams were made in, so a world replays exactly).
    pub fn with_faults(mut self, faults: StreamFaults, seed: u64) -> Self {
        self.faults = Some(Arc::new(FaultPoints {
            faults,
            seed,
            streams: AtomicU64::new(0),
        }));
        self
    }

    fn wrap(&self, inner: turmoil::net::TcpStream) -> SimStream {
        let faults = self.faults.as_ref().map(|f| {
            let n = f.streams.fetch_add(1, Ordering::Relaxed);
            (
                f.faults,
                SplitMix64::new(sub_seed(f.seed, &format!("stream/{n}"))),
            )
        });
        SimStream {
            inner,
            faults,
            reset: false,
        }
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

/// A simulated stream, with the fault points of its [`TurmoilNet`] if it has any.
#[derive(Debug)]
pub struct SimStream {
    inner: turmoil::net::TcpStream,
    faults: Option<(StreamFaults, SplitMix64)>,
    reset: bool,
}

fn reset_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection reset by a simulated fault point",
    )
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.reset {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.reset {
            return Poll::Ready(Err(reset_error()));
        }
        let mut len = buf.len();
        if let Some((faults, rng)) = &mut this.faults
            && turmoil::sim_elapsed().unwrap_or_default() < faults.until
        {
            if rng.next_u64() % 1_000_000 < faults.reset_per_million_writes {
                this.reset = true;
                return Poll::Ready(Err(reset_error()));
            }
            if len > 1 && rng.next_u64() % 100 < faults.short_write_percent {
                len = 1 + usize::try_from(rng.next_u64() % (len as u64 - 1)).unwrap_or(0);
            }
        }
        Pin::new(&mut this.inner).poll_write(cx, buf.get(..len).unwrap_or(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A simulated listening stream socket.
pub struct TurmoilListener {
    inner: turmoil::net::TcpListener,
    net: TurmoilNet,
}

impl std::fmt::Debug for TurmoilListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurmoilListener")
            .field("local_addr", &self.inner.local_addr().ok())
            .finish()
    }
}

impl StreamListener for TurmoilListener {
    type Stream = SimStream;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = self.inner.accept().await?;
        Ok((self.net.wrap(stream), peer))
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
    type Stream = SimStream;
    type Datagram = TurmoilDatagram;

    async fn listen(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        let addr = self.bindable(addr)?;
        let inner = turmoil::net::TcpListener::bind(addr).await?;
        Ok(TurmoilListener {
            inner,
            net: self.clone(),
        })
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        let stream = turmoil::net::TcpStream::connect(addr).await?;
        Ok(self.wrap(stream))
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
