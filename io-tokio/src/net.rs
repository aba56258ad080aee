//! The network the driver runs on: real sockets in the daemon, simulated ones in the
//! simulation.
//!
//! The driver is generic over [`Net`] instead of switching implementations with a Cargo
//! feature: feature unification would otherwise compile the daemon with simulated
//! sockets whenever the simulation crate is in the same build.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

/// A listening stream socket.
pub trait StreamListener: Send + 'static {
    /// The accepted connections.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Wait for the next connection and its peer address.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    /// The address it listens on (useful after binding port 0).
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A bound datagram socket.
pub trait DatagramSocket: Send + Sync + 'static {
    /// Receive one datagram into `buf`: its length and sender.
    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send;

    /// Send one datagram to `target`.
    fn send_to(
        &self,
        buf: &[u8],
        target: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send;

    /// The address it is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A network: how to listen, connect and bind.
pub trait Net: Clone + Send + Sync + 'static {
    /// Listening stream sockets.
    type Listener: StreamListener<Stream = Self::Stream>;
    /// Stream connections, accepted or connected.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Datagram sockets.
    type Datagram: DatagramSocket;

    /// Listen for stream connections on `addr`.
    fn listen(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// Open a stream connection to `addr`.
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Bind a datagram socket on `addr`.
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Datagram>> + Send;
}

/// The real network, through tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioNet;

impl StreamListener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = tokio::net::TcpListener::accept(self).await?;
        // RADIUS packets are small and latency matters more than throughput.
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }
}

impl DatagramSocket for tokio::net::UdpSocket {
    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        tokio::net::UdpSocket::recv_from(self, buf).await
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        tokio::net::UdpSocket::send_to(self, buf, target).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::UdpSocket::local_addr(self)
    }
}

impl Net for TokioNet {
    type Listener = tokio::net::TcpListener;
    type Stream = tokio::net::TcpStream;
    type Datagram = tokio::net::UdpSocket;

    async fn listen(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind(addr).await
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Datagram> {
        tokio::net::UdpSocket::bind(addr).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Exercise a network through the trait only, as the driver will.
    async fn echo_through<N: Net>(net: N) {
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut listener = net.listen(loopback).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await.unwrap();
            stream.write_all(&buf).await.unwrap();
        });
        let mut client = net.connect(addr).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut back = [0u8; 5];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello");
        server.await.unwrap();

        let a = net.bind(loopback).await.unwrap();
        let b = net.bind(loopback).await.unwrap();
        a.send_to(b"ping", b.local_addr().unwrap()).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, a.local_addr().unwrap());
    }

    #[tokio::test]
    async fn tokio_net_carries_streams_and_datagrams() {
        tokio::time::timeout(std::time::Duration::from_secs(10), echo_through(TokioNet))
            .await
            .expect("loopback echo finished in time");
    }
}
