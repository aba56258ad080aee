//! Socket tasks: UDP receive loops, stream accept loops (with the TLS handshake), and
//! each connection's reader and writer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use boomerang_core::contract::{ServerId, Transport};
use boomerang_core::engine::dialer::AttemptId;
use boomerang_core::engine::{ConnId, Input};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::reload::ListenerSlot;
use super::{Event, WriteCmd};
use crate::conn_limit::{self, ConnLimiter};
use crate::metrics::Metrics;
use crate::net::{DatagramSocket, Net, StreamListener};

/// Largest UDP datagram read (RADIUS packets are at most 4096 bytes; more is read so
/// an oversized datagram is seen whole and rejected by the engine, not truncated).
const UDP_BUFFER: usize = 65_535;
/// Read buffer of a stream connection: one whole RADIUS packet (4096 octets at most),
/// more arrives in the next read. Every idle NAS connection holds one, so it is kept
/// small (16 KiB made up about half of an idle RadSec connection's memory).
const READ_BUFFER: usize = 4 * 1024;
/// Queued packets are coalesced into writes of at most this many bytes.
const WRITE_BATCH: usize = 64 * 1024;

/// Receive datagrams on a UDP server's socket until aborted; each is tagged with the
/// server `slot` names when it arrives (a reload may renumber the server).
pub(super) async fn udp_loop<D: DatagramSocket>(
    slot: Arc<ListenerSlot>,
    socket: Arc<D>,
    events: mpsc::Sender<Event>,
) {
    let bound = match socket.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("UDP socket has no local address: {e}");
            return;
        }
    };
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        match socket.recv_from_to(&mut buf).await {
            Ok((n, peer, to)) => {
                let data = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                // The address the datagram was sent to (a wildcard socket learns
                // it per datagram): the reply leaves from it.
                let local = to.map_or(bound, |ip| SocketAddr::new(ip, bound.port()));
                let input = Input::Datagram {
                    server: slot.server(),
                    peer,
                    local,
                    data,
                };
                if events.send(Event::Input(input)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // ICMP port unreachable from an earlier send shows up here on some
                // systems; it concerns that peer only.
                tracing::debug!(local = %bound, "UDP receive error: {e}");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// A TCP or TLS RADIUS server's listener and how to treat what it accepts.
pub(super) struct AcceptSpec<N: Net> {
    /// The network, to set socket options on accepted connections.
    pub net: N,
    /// The server, its TLS acceptor (`protocol tls`) and the socket options of
    /// accepted connections (keepalive), read at each accept: a reload swaps them.
    pub slot: Arc<ListenerSlot>,
    /// Its configuration name, for logs.
    pub name: String,
    /// Its listener.
    pub listener: N::Listener,
    /// Its connection counts (`limits { … }`).
    pub limiter: Arc<ConnLimiter>,
    /// TLS handshakes in progress per source address (`protocol tls` only).
    pub handshakes: Arc<ConnLimiter>,
    /// Where refusals are counted.
    pub metrics: Arc<Metrics>,
}

/// Accept connections on a TCP or TLS RADIUS server until aborted.
pub(super) async fn accept_loop<N: Net>(
    spec: AcceptSpec<N>,
    handshake_timeout: Duration,
    write_queue: usize,
    events: mpsc::Sender<Event>,
) {
    let AcceptSpec {
        net,
        slot,
        name,
        mut listener,
        limiter,
        handshakes,
        metrics,
    } = spec;
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                conn_limit::accept_failed(&name, &e);
                tokio::time::sleep(conn_limit::ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Over a limit: closed here (dropped), and the loop goes on at once.
        let Some(permit) = conn_limit::admit(&limiter, &metrics, &name, peer) else {
            continue;
        };
        let (server, tls, options) = (slot.server(), slot.tls(), slot.options());
        // On a wildcard listener, the address this peer connected to.
        let local = net.stream_local_addr(&stream).unwrap_or(local);
        if let Err(e) = net.configure_stream(&stream, &options) {
            // The connection works without its options; say so and serve it.
            tracing::warn!(server = %name, %peer, "cannot set socket options: {e}");
        }
        let events = events.clone();
        let name = name.clone();
        match tls {
            None => {
                tokio::spawn(async move {
                    let opened = Opening {
                        direction: Direction::Accepted {
                            server,
                            local,
                            certificates: Vec::new(),
                        },
                        peer,
                        transport: Transport::Tcp,
                    };
                    run_connection(stream, opened, write_queue, events).await;
                    drop(permit);
                });
            }
            Some(acceptor) => {
                let Some(handshake) = conn_limit::admit(&handshakes, &metrics, &name, peer) else {
                    continue;
                };
                tokio::spawn(async move {
                    let accepted = crate::tls::accept(&acceptor, stream, handshake_timeout).await;
                    drop(handshake);
                    match accepted {
                        Ok((stream, info)) => {
                            let certificates = info
                                .certificates
                                .iter()
                                .map(|c| Bytes::copy_from_slice(c.as_ref()))
                                .collect();
                            let opened = Opening {
                                direction: Direction::Accepted {
                                    server,
                                    local,
                                    certificates,
                                },
                                peer,
                                transport: Transport::Tls,
                            };
                            run_connection(stream, opened, write_queue, events).await;
                            drop(permit);
                        }
                        Err(e) => {
                            // Anyone who can connect can fail handshakes at will: one
                            // line per kind of failure per window, with the count.
                            crate::log_limit::info(
                                &crate::log_limit::key_of(&format!("server \"{name}\": {e}")),
                                format_args!("server \"{name}\": {e} (peer {peer})"),
                            );
                        }
                    }
                });
            }
        }
    }
}

/// Which way a connection was opened: accepted by one of our servers, or dialed by
/// us. (Not to be confused with where a request came from: the engine's task origin.)
#[derive(Debug)]
pub(super) enum Direction {
    /// Accepted by this RADIUS server on `local`; `certificates` is the client's
    /// chain, leaf first (empty on TCP).
    Accepted {
        server: ServerId,
        local: SocketAddr,
        certificates: Vec<Bytes>,
    },
    /// Dialed by us for a `connect` backend, answering this engine attempt.
    Dialed(AttemptId),
}

/// What is known about a connection when it is established.
pub(super) struct Opening {
    pub direction: Direction,
    pub peer: SocketAddr,
    pub transport: Transport,
}

/// Announce a connection to the engine task, then read from it until it ends; a
/// separate writer task writes what the engine sends.
pub(super) async fn run_connection<S>(
    stream: S,
    o: Opening,
    write_queue: usize,
    events: mpsc::Sender<Event>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, writer) = tokio::io::split(stream);
    let (cmd_tx, cmd_rx) = mpsc::channel(write_queue.max(1));
    let (stop_tx, mut stop_rx) = oneshot::channel();
    let (number_tx, number_rx) = oneshot::channel();
    let opened = match o.direction {
        Direction::Dialed(attempt) => Event::Connected {
            attempt,
            peer: o.peer,
            transport: o.transport,
            writer: cmd_tx,
            number: number_tx,
        },
        Direction::Accepted {
            server,
            local,
            certificates,
        } => Event::Opened {
            server,
            peer: o.peer,
            local,
            transport: o.transport,
            certificates,
            writer: cmd_tx,
            number: number_tx,
        },
    };
    if events.send(opened).await.is_err() {
        return;
    }
    tokio::spawn(write_loop(writer, cmd_rx, stop_tx));
    let Ok(conn) = number_rx.await else {
        return;
    };
    let mut buf = vec![0u8; READ_BUFFER];
    // Whether the peer ended the stream in order: end of file (a TCP FIN, after a
    // TLS close_notify or without one, which rustls reports as UnexpectedEof),
    // rather than a reset or another error (or our own stop).
    let mut orderly = false;
    loop {
        tokio::select! {
            biased;
            _ = &mut stop_rx => break,
            read = reader.read(&mut buf) => match read {
                Ok(0) => {
                    orderly = true;
                    break;
                }
                Err(e) => {
                    orderly = e.kind() == std::io::ErrorKind::UnexpectedEof;
                    break;
                }
                Ok(n) => {
                    let data = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                    if events.send(Event::Input(Input::StreamData { conn, data })).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
    // Ignored by the engine when it closed the connection itself.
    let _ = events
        .send(Event::Input(Input::StreamClosed { conn, orderly }))
        .await;
}

/// Write queued packets, several at once when more than one is waiting, until the
/// engine task drops the queue's sender (the connection is to be closed) or a write
/// fails; then shut the write side down and stop the reader.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut commands: mpsc::Receiver<WriteCmd>,
    stop_reader: oneshot::Sender<()>,
) {
    let mut buf = BytesMut::new();
    while let Some(WriteCmd::Write(first)) = commands.recv().await {
        buf.extend_from_slice(&first);
        while buf.len() < WRITE_BATCH {
            match commands.try_recv() {
                Ok(WriteCmd::Write(more)) => buf.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        if writer.write_all(&buf).await.is_err() || writer.flush().await.is_err() {
            break;
        }
        buf.clear();
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
    let _ = stop_reader.send(());
}

/// The engine task's handle on a connection.
#[derive(Debug)]
pub(super) struct ConnHandle {
    pub writer: mpsc::Sender<WriteCmd>,
    /// The server that accepted it; `None` for a connection we opened for a
    /// `connect` backend (not counted per server).
    pub server: Option<ServerId>,
    pub transport: Transport,
}

impl ConnHandle {
    /// Queue one packet; false when the writer cannot keep up (the caller closes the
    /// connection) — a closed writer counts as accepted: its reader reports the close.
    pub fn write(&self, conn: ConnId, data: Bytes) -> bool {
        match self.writer.try_send(WriteCmd::Write(data)) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(%conn, "connection's write queue is full; closing it");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::task::{Context, Poll};

    /// Records each `poll_write` call's bytes.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

    impl AsyncWrite for Recorder {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.0.lock().unwrap().push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn queued_packets_are_coalesced_into_one_write_and_closing_stops_the_reader() {
        let rec = Recorder::default();
        let (tx, rx) = mpsc::channel(8);
        for p in [&b"one"[..], b"two", b"three"] {
            tx.send(WriteCmd::Write(Bytes::from_static(p)))
                .await
                .unwrap();
        }
        drop(tx);
        let (stop_tx, stop_rx) = oneshot::channel();
        write_loop(rec.clone(), rx, stop_tx).await;
        assert_eq!(*rec.0.lock().unwrap(), vec![b"onetwothree".to_vec()]);
        assert!(stop_rx.await.is_ok(), "the reader is told to stop");
    }
}
