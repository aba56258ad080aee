//! What the driver tells the engine: [`Input`].

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;

use crate::contract::ids::{AttemptId, ConnId, EffectId, HttpRequestId, ServerId, ServerRef};
use crate::contract::sql::SqlRows;
use crate::contract::transport::Transport;

/// An HTTP request as the driver parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// The driver's number for it.
    pub id: HttpRequestId,
    /// The HTTP server it arrived at.
    pub server: ServerId,
    /// The client's address.
    pub peer: SocketAddr,
    /// The method, upper case (`POST`).
    pub method: String,
    /// The path without the query string (`/disconnect`).
    pub path: String,
    /// Decoded query parameters (the first value of a repeated key).
    pub query: BTreeMap<String, String>,
    /// Request headers, names lower-case.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Bytes,
}

/// An event the driver reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A datagram arrived on a UDP RADIUS server's socket.
    Datagram {
        /// The server whose socket received it.
        server: ServerId,
        /// The sender.
        peer: SocketAddr,
        /// The local address it arrived at (replies are sent from it).
        local: SocketAddr,
        /// The datagram.
        data: Bytes,
    },
    /// A TCP or TLS connection was accepted on a RADIUS server (after the TLS
    /// handshake, for TLS).
    StreamOpened {
        /// The driver's number for it (greater than every earlier one).
        conn: ConnId,
        /// The server that accepted it.
        server: ServerId,
        /// The remote address.
        peer: SocketAddr,
        /// The local address.
        local: SocketAddr,
        /// TCP or TLS.
        transport: Transport,
        /// The client's certificate chain, leaf first, DER (empty without one).
        peer_certificates: Vec<Bytes>,
    },
    /// Bytes arrived on a stream connection (any split of the stream).
    StreamData {
        /// Which connection.
        conn: ConnId,
        /// The bytes.
        data: Bytes,
    },
    /// The peer closed the connection, or it failed. Not needed (and ignored)
    /// after the engine itself asked for the close.
    StreamClosed {
        /// Which connection.
        conn: ConnId,
        /// The peer ended the stream in order (a TCP FIN, with or without a TLS
        /// close_notify) rather than by a reset or an error. A peer that closes in
        /// order has read what reached it (a socket closed with unread data sends a
        /// reset instead), so a request written to it may have been seen and is not
        /// sent again on another connection for free.
        orderly: bool,
    },
    /// An HTTP request arrived.
    HttpRequest(HttpRequest),
    /// A dialed connection asked for with [`Output::Connect`](crate::contract::Output::Connect) is established
    /// (after the TLS handshake, for TLS). The driver numbers it here, from the same
    /// counter as accepted connections; the engine then owns it and
    /// [`Input::StreamData`] / [`Input::StreamClosed`] for it go to the dialer.
    Connected {
        /// The attempt of the [`Output::Connect`](crate::contract::Output::Connect).
        attempt: AttemptId,
        /// The driver's number for the connection (greater than every earlier one).
        conn: ConnId,
        /// The remote address.
        peer: SocketAddr,
    },
    /// A dialed connection attempt failed (refused, unreachable, name not
    /// resolved, TLS handshake or certificate check failed). Not needed after
    /// [`Output::AbortConnect`](crate::contract::Output::AbortConnect).
    ConnectFailed {
        /// The attempt of the [`Output::Connect`](crate::contract::Output::Connect).
        attempt: AttemptId,
        /// What went wrong, for logs and the error a waiting request gets.
        reason: String,
    },
    /// A datagram arrived on the socket the driver keeps for a UDP `connect` server
    /// (see [`Output::BackendDatagram`](crate::contract::Output::BackendDatagram)).
    BackendDatagram {
        /// The server whose socket received it.
        server: ServerRef,
        /// The sender.
        from: SocketAddr,
        /// The datagram.
        data: Bytes,
    },
    /// An SQL statement asked for with [`Output::Sql`](crate::contract::Output::Sql) finished.
    SqlDone {
        /// The effect it answers.
        effect: EffectId,
        /// The rows, or the database's error message.
        result: Result<SqlRows, String>,
    },
    /// A message arrived from the cluster bus (subject `boomerang.CLUSTER.all` or
    /// this node's `boomerang.CLUSTER.node.NAME`), as sent with [`Output::Bus`](crate::contract::Output::Bus).
    ///
    /// [`Output::Bus`](crate::contract::Output::Bus): crate::contract::Output::Bus
    Bus {
        /// The message, as another node's engine produced it.
        data: Bytes,
    },
    /// The driver's connection to the cluster bus came up or went down. While it
    /// is down the node serves its own connections only.
    BusState {
        /// Whether messages can be sent and received now.
        up: bool,
        /// What happened, for logs and `/ready` (the server's address, the error).
        detail: String,
    },
}
