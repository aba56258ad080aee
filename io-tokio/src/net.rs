//! The network the driver runs on: real sockets in the daemon, simulated ones in the
//! simulation.
//!
//! The driver is generic over [`Net`] instead of switching implementations with a Cargo
//! feature: feature unification would otherwise compile the daemon with simulated
//! sockets whenever the simulation crate is in the same build.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

/// Listen backlog used when the driver does not say otherwise: the most connections the
/// kernel completes and holds for us before we accept them. The kernel caps it at
/// `net.core.somaxconn` (4096 by default since Linux 5.4). Far above the 128 that
/// `tokio::net::TcpListener::bind` uses, which overflowed under a burst of HTTP triggers
/// (connections reset before they were accepted).
pub const DEFAULT_LISTEN_BACKLOG: u32 = 4096;

/// TCP keepalive of a stream connection (`keepalive { idle …; interval …; count …; }`):
/// keepalive is switched on, and each value given replaces the system's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpKeepalive {
    /// Idle time before the first probe (`TCP_KEEPIDLE`).
    pub idle: Option<Duration>,
    /// Time between probes (`TCP_KEEPINTVL`).
    pub interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped (`TCP_KEEPCNT`).
    pub count: Option<u32>,
}

/// Options the driver asks a network to set on a stream connection it accepted or
/// opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamOptions {
    /// TCP keepalive; `None` leaves the socket as the system made it (keepalive off).
    pub keepalive: Option<TcpKeepalive>,
}

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

    /// Receive one datagram into `buf`: its length, its sender, and the local address
    /// it was sent to where the socket can tell (the real network's sockets, bound to
    /// a wildcard address); `None` otherwise (the default).
    fn recv_from_to(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr, Option<IpAddr>)>> + Send {
        async move {
            let (n, peer) = self.recv_from(buf).await?;
            Ok((n, peer, None))
        }
    }

    /// Send one datagram to `target` from the local address `source`: a socket bound
    /// to a wildcard address answers from the address the request arrived at, which
    /// is where the client expects the answer from (RFC 2865 §3 matches replies on
    /// the server's address). `None` lets the system choose, as does the default.
    fn send_from(
        &self,
        buf: &[u8],
        target: SocketAddr,
        source: Option<IpAddr>,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        let _ = source;
        self.send_to(buf, target)
    }
}

/// How a listening or datagram socket of a server is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindOptions {
    /// The listen backlog of a stream listener (the kernel caps it at
    /// `net.core.somaxconn`).
    pub backlog: u32,
    /// An IPv6 socket takes IPv6 only (`IPV6_V6ONLY`). The driver sets it when the
    /// same server also listens on an IPv4 address at that port, which a dual-stack
    /// socket would clash with; otherwise an IPv6 wildcard takes IPv4 as well, and
    /// its IPv4 peers are presented as IPv4 addresses (not `::ffff:a.b.c.d`).
    pub v6_only: bool,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions {
            backlog: DEFAULT_LISTEN_BACKLOG,
            v6_only: false,
        }
    }
}

/// `addr` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, an IPv4 peer of a
/// dual-stack socket) as the IPv4 address it is, so that client lists, `@select`
/// and logs see the IPv4 address the peer has.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// `addr` as a dual-stack IPv6 socket addresses it: an IPv4 address becomes its
/// IPv4-mapped IPv6 form. Other addresses are unchanged.
fn mapped_for(socket_is_v6: bool, addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(v4) if socket_is_v6 => {
            SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
        }
        other => other,
    }
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

    /// Listen on `addr` as `options` say (see [`BindOptions`]). A network without a
    /// listen backlog or dual-stack sockets ignores them: the default is
    /// [`Net::listen`].
    fn listen_with(
        &self,
        addr: SocketAddr,
        options: BindOptions,
    ) -> impl Future<Output = io::Result<Self::Listener>> + Send {
        let _ = options;
        self.listen(addr)
    }

    /// Bind a server's datagram socket on `addr` as `options` say, ready to tell the
    /// local address of each datagram ([`DatagramSocket::recv_from_to`]). The
    /// default is [`Net::bind`].
    fn bind_with(
        &self,
        addr: SocketAddr,
        options: BindOptions,
    ) -> impl Future<Output = io::Result<Self::Datagram>> + Send {
        let _ = options;
        self.bind(addr)
    }

    /// The local address of a stream connection this network accepted: for a
    /// listener on a wildcard address, the address the peer connected to. `None`
    /// where the network cannot tell (the default); the listener's address is used.
    fn stream_local_addr(&self, stream: &Self::Stream) -> Option<SocketAddr> {
        let _ = stream;
        None
    }

    /// Set `options` on a stream connection this network accepted or opened. The default
    /// does nothing (a simulated network has no such socket options).
    fn configure_stream(&self, stream: &Self::Stream, options: &StreamOptions) -> io::Result<()> {
        let _ = (stream, options);
        Ok(())
    }

    /// Open a stream connection to `addr`.
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Bind a datagram socket on `addr`.
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Datagram>> + Send;

    /// Ask for a receive buffer of `bytes` on a datagram socket, so that a burst of
    /// datagrams waits in the kernel instead of being dropped there. Returns the size
    /// the system granted, or `None` where the network has no such buffer (the
    /// default: a simulated network).
    fn set_receive_buffer(
        &self,
        socket: &Self::Datagram,
        bytes: usize,
    ) -> io::Result<Option<usize>> {
        let _ = (socket, bytes);
        Ok(None)
    }

    /// Datagrams the system dropped for `socket` so far because its receive buffer was
    /// full, where the system counts them (Linux: the `drops` column of
    /// `/proc/net/udp`); `None` elsewhere.
    fn datagram_drops(&self, socket: &Self::Datagram) -> Option<u64> {
        let _ = socket;
        None
    }
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
        Ok((stream, canonical(peer)))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }
}

/// A UDP socket of the real network: tokio's, with the family it was bound in (an
/// IPv6 socket may be dual-stack: its IPv4 peers are addressed as IPv4-mapped).
#[derive(Debug)]
pub struct UdpSocket {
    io: tokio::net::UdpSocket,
    v6: bool,
}

impl UdpSocket {
    /// Wrap a bound tokio socket.
    pub fn new(io: tokio::net::UdpSocket) -> io::Result<UdpSocket> {
        let v6 = io.local_addr()?.is_ipv6();
        Ok(UdpSocket { io, v6 })
    }

    /// The tokio socket.
    pub fn inner(&self) -> &tokio::net::UdpSocket {
        &self.io
    }
}

impl DatagramSocket for UdpSocket {
    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, peer) = self.io.recv_from(buf).await?;
        Ok((n, canonical(peer)))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.io.send_to(buf, mapped_for(self.v6, target)).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    async fn recv_from_to(
        &self,
        buf: &mut [u8],
    ) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
        let (n, peer, local) = self
            .io
            .async_io(tokio::io::Interest::READABLE, || {
                pktinfo::recv(&self.io, &mut *buf)
            })
            .await?;
        Ok((n, canonical(peer), local.map(|ip| ip.to_canonical())))
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    async fn send_from(
        &self,
        buf: &[u8],
        target: SocketAddr,
        source: Option<IpAddr>,
    ) -> io::Result<usize> {
        let target = mapped_for(self.v6, target);
        let Some(source) = source else {
            return self.io.send_to(buf, target).await;
        };
        let sent = self
            .io
            .async_io(tokio::io::Interest::WRITABLE, || {
                pktinfo::send(&self.io, self.v6, buf, target, source)
            })
            .await;
        match sent {
            Ok(n) => Ok(n),
            // An address the system will not send from (a broadcast or multicast
            // destination, an address gone meanwhile): let it choose.
            Err(e) => {
                tracing::debug!(%target, %source, "UDP send from the request's address failed: {e}");
                self.io.send_to(buf, target).await
            }
        }
    }
}

/// `IP_PKTINFO` / `IPV6_PKTINFO`: the local address of each datagram received, and
/// the source address of each sent.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod pktinfo {
    use std::io::{self, IoSlice, IoSliceMut};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::os::fd::{AsFd, AsRawFd};

    use nix::libc;
    use nix::sys::socket::{
        ControlMessage, ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, sendmsg,
        setsockopt, sockopt,
    };

    /// Ask the system to report each datagram's local address.
    pub(super) fn enable(socket: &impl AsFd, v6: bool) -> io::Result<()> {
        if v6 {
            setsockopt(socket, sockopt::Ipv6RecvPacketInfo, &true)?;
        } else {
            setsockopt(socket, sockopt::Ipv4PacketInfo, &true)?;
        }
        Ok(())
    }

    /// Room for either control message, aligned as control messages must be.
    #[repr(C, align(8))]
    struct ControlBuffer([u8; 128]);

    /// One datagram (non-blocking): length, sender, local address if reported.
    pub(super) fn recv(
        socket: &impl AsRawFd,
        buf: &mut [u8],
    ) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
        let mut control = ControlBuffer([0; 128]);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<SockaddrStorage>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut control.0),
            MsgFlags::empty(),
        )?;
        let peer = msg
            .address
            .as_ref()
            .and_then(socket_addr)
            .ok_or_else(|| io::Error::other("datagram without a sender address"))?;
        let mut local = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for cmsg in cmsgs {
                match cmsg {
                    ControlMessageOwned::Ipv4PacketInfo(info) => {
                        local = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            info.ipi_addr.s_addr,
                        ))));
                    }
                    ControlMessageOwned::Ipv6PacketInfo(info) => {
                        local = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
        }
        Ok((msg.bytes, peer, local))
    }

    /// One datagram to `target` from `source` (non-blocking).
    pub(super) fn send(
        socket: &impl AsRawFd,
        v6: bool,
        buf: &[u8],
        target: SocketAddr,
        source: IpAddr,
    ) -> io::Result<usize> {
        let iov = [IoSlice::new(buf)];
        let target = SockaddrStorage::from(target);
        let n = if v6 {
            let source = match source {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            let info = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: source.octets(),
                },
                ipi6_ifindex: 0,
            };
            sendmsg(
                socket.as_raw_fd(),
                &iov,
                &[ControlMessage::Ipv6PacketInfo(&info)],
                MsgFlags::empty(),
                Some(&target),
            )?
        } else {
            let IpAddr::V4(source) = source else {
                return Err(io::Error::other("an IPv6 source on an IPv4 socket"));
            };
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(source).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            sendmsg(
                socket.as_raw_fd(),
                &iov,
                &[ControlMessage::Ipv4PacketInfo(&info)],
                MsgFlags::empty(),
                Some(&target),
            )?
        };
        Ok(n)
    }

    fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
        if let Some(v4) = addr.as_sockaddr_in() {
            return Some(SocketAddr::from((v4.ip(), v4.port())));
        }
        let v6 = addr.as_sockaddr_in6()?;
        Some(SocketAddr::from((v6.ip(), v6.port())))
    }
}

impl Net for TokioNet {
    type Listener = tokio::net::TcpListener;
    type Stream = tokio::net::TcpStream;
    type Datagram = UdpSocket;

    async fn listen(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        self.listen_with(addr, BindOptions::default()).await
    }

    async fn listen_with(
        &self,
        addr: SocketAddr,
        options: BindOptions,
    ) -> io::Result<Self::Listener> {
        tcp_listen_with(addr, options)
    }

    async fn bind_with(&self, addr: SocketAddr, options: BindOptions) -> io::Result<UdpSocket> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        if addr.is_ipv6() {
            socket.set_only_v6(options.v6_only)?;
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        pktinfo::enable(&socket, addr.is_ipv6())?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        UdpSocket::new(tokio::net::UdpSocket::from_std(socket.into())?)
    }

    fn stream_local_addr(&self, stream: &Self::Stream) -> Option<SocketAddr> {
        stream.local_addr().ok().map(canonical)
    }

    fn configure_stream(&self, stream: &Self::Stream, options: &StreamOptions) -> io::Result<()> {
        if let Some(k) = options.keepalive {
            socket2::SockRef::from(stream).set_tcp_keepalive(&socket_keepalive(k))?;
        }
        Ok(())
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Datagram> {
        UdpSocket::new(tokio::net::UdpSocket::bind(addr).await?)
    }

    fn set_receive_buffer(
        &self,
        socket: &Self::Datagram,
        bytes: usize,
    ) -> io::Result<Option<usize>> {
        let sock = socket2::SockRef::from(socket.inner());
        sock.set_recv_buffer_size(bytes)?;
        // Linux reports twice what it grants (the other half is its bookkeeping).
        let granted = sock.recv_buffer_size()?;
        Ok(Some(if cfg!(target_os = "linux") {
            granted / 2
        } else {
            granted
        }))
    }

    fn datagram_drops(&self, socket: &Self::Datagram) -> Option<u64> {
        udp_drops(socket.inner())
    }
}

/// The kernel's count of datagrams dropped for `socket` (Linux: the `drops` column of
/// its line in `/proc/net/udp` or `/proc/net/udp6`, found by the socket's inode).
#[cfg(target_os = "linux")]
fn udp_drops(socket: &tokio::net::UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd()))
        .ok()?
        .ino();
    let inode = inode.to_string();
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            if fields.get(9) == Some(&inode.as_str()) {
                return fields.get(12).and_then(|d| d.parse().ok());
            }
        }
    }
    None
}

#[cfg(not(target_os = "linux"))]
fn udp_drops(_socket: &tokio::net::UdpSocket) -> Option<u64> {
    None
}

/// A TCP listener on `addr` with a listen backlog of `backlog` (the kernel caps it at
/// `net.core.somaxconn`). Like `tokio::net::TcpListener::bind`, the address may be
/// reused at once after a restart (`SO_REUSEADDR`); unlike it, the backlog is ours to
/// choose instead of a fixed 128. An IPv6 address is dual-stack.
pub fn tcp_listen(addr: SocketAddr, backlog: u32) -> io::Result<tokio::net::TcpListener> {
    tcp_listen_with(
        addr,
        BindOptions {
            backlog,
            v6_only: false,
        },
    )
}

/// A TCP listener on `addr` as `options` say (see [`tcp_listen`]).
pub fn tcp_listen_with(
    addr: SocketAddr,
    options: BindOptions,
) -> io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if addr.is_ipv6() {
        socket2::SockRef::from(&socket).set_only_v6(options.v6_only)?;
    }
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(options.backlog.max(1))
}

/// socket2's keepalive parameters for `k`; the interval and the count are left to the
/// system where socket2 cannot set them.
fn socket_keepalive(k: TcpKeepalive) -> socket2::TcpKeepalive {
    let mut params = socket2::TcpKeepalive::new();
    if let Some(idle) = k.idle {
        params = params.with_time(idle);
    }
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "macos",
        target_os = "ios",
        target_os = "windows",
    ))]
    {
        if let Some(interval) = k.interval {
            params = params.with_interval(interval);
        }
        if let Some(count) = k.count {
            params = params.with_retries(count);
        }
    }
    params
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

    /// An accepted socket carries the keepalive the driver asked for; without options it
    /// is left alone.
    #[tokio::test]
    async fn configure_stream_sets_tcp_keepalive_on_an_accepted_socket() {
        let net = TokioNet;
        let listener = net
            .listen_with(
                "127.0.0.1:0".parse().unwrap(),
                BindOptions {
                    backlog: 16,
                    v6_only: false,
                },
            )
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let _c1 = net.connect(addr).await.unwrap();
        let _c2 = net.connect(addr).await.unwrap();
        let (plain, _) = listener.accept().await.unwrap();
        let (kept, _) = listener.accept().await.unwrap();

        net.configure_stream(&plain, &StreamOptions::default())
            .unwrap();
        assert!(!socket2::SockRef::from(&plain).keepalive().unwrap());

        let options = StreamOptions {
            keepalive: Some(TcpKeepalive {
                idle: Some(Duration::from_secs(42)),
                interval: Some(Duration::from_secs(7)),
                count: Some(3),
            }),
        };
        net.configure_stream(&kept, &options).unwrap();
        let sock = socket2::SockRef::from(&kept);
        assert!(sock.keepalive().unwrap(), "SO_KEEPALIVE");
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(42));
        #[cfg(target_os = "linux")]
        {
            assert_eq!(
                sock.tcp_keepalive_interval().unwrap(),
                Duration::from_secs(7)
            );
            assert_eq!(sock.tcp_keepalive_retries().unwrap(), 3);
        }
    }

    #[tokio::test]
    async fn listen_backlog_is_the_one_asked_for() {
        let listener = tcp_listen("127.0.0.1:0".parse().unwrap(), 77).unwrap();
        let port = listener.local_addr().unwrap().port();
        // `ss` shows a listening socket's backlog as its Send-Q.
        let Ok(out) = std::process::Command::new("ss")
            .args(["-Hltn", &format!("sport = :{port}")])
            .output()
        else {
            eprintln!("SKIPPED: `ss` (iproute2) is not installed");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let send_q: u32 = text
            .split_whitespace()
            .nth(2)
            .and_then(|q| q.parse().ok())
            .unwrap_or_else(|| panic!("no listener in `ss` output: {text:?}"));
        assert_eq!(send_q, 77, "{text}");
    }

    #[tokio::test]
    async fn tokio_net_carries_streams_and_datagrams() {
        tokio::time::timeout(std::time::Duration::from_secs(10), echo_through(TokioNet))
            .await
            .expect("loopback echo finished in time");
    }
}
