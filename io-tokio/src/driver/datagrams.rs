//! Outgoing datagrams of a UDP RADIUS server: a sender task per socket, so that the
//! `send_to` system call (about a tenth of the engine task's time under load when it
//! was made there) runs on the runtime's workers, not on the engine task.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;

use crate::net::DatagramSocket;

/// Datagrams a sender task takes off its queue per wake-up.
const BATCH: usize = 64;

/// A datagram to send: its bytes, where to, and from which local address (`None`:
/// the socket's own).
type Outgoing = (Bytes, SocketAddr, Option<IpAddr>);

/// The queue into one UDP socket's sender task.
#[derive(Debug, Clone)]
pub(super) struct DatagramSender {
    queue: mpsc::Sender<Outgoing>,
}

impl DatagramSender {
    /// Start the sender task of `socket`, with room for `capacity` queued datagrams.
    /// The task ends (and lets go of the socket) once every sender is dropped and the
    /// queue is sent; await its handle to know the socket is released.
    pub(super) fn start<D: DatagramSocket>(
        socket: Arc<D>,
        capacity: usize,
    ) -> (DatagramSender, JoinHandle<()>) {
        let (queue, inbox) = mpsc::channel(capacity.max(1));
        let task = tokio::spawn(send_loop(socket, inbox));
        (DatagramSender { queue }, task)
    }

    /// Queue `data` for `peer`, sent from `source` (see
    /// [`DatagramSocket::send_from`]). A full queue makes the caller wait
    /// (back-pressure on the engine task rather than a dropped reply); a stopped
    /// sender drops it.
    pub(super) async fn send(&self, data: Bytes, peer: SocketAddr, source: Option<IpAddr>) {
        match self.queue.try_send((data, peer, source)) {
            Ok(()) => {}
            Err(TrySendError::Full(item)) => {
                let _ = self.queue.send(item).await;
            }
            Err(TrySendError::Closed(_)) => {
                tracing::debug!(%peer, "UDP sender stopped; datagram not sent");
            }
        }
    }
}

/// Send what is queued until every [`DatagramSender`] is dropped.
async fn send_loop<D: DatagramSocket>(socket: Arc<D>, mut inbox: mpsc::Receiver<Outgoing>) {
    let mut batch = Vec::with_capacity(BATCH);
    while inbox.recv_many(&mut batch, BATCH).await > 0 {
        for (data, peer, source) in batch.drain(..) {
            if let Err(e) = socket.send_from(&data, peer, source).await {
                tracing::debug!(%peer, "UDP send failed: {e}");
            }
        }
    }
}
