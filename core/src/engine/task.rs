//! A task: one request (UDP, stream or HTTP) being handled, from policy choice to
//! the end of `@final-execute`, with what it is parked on.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::contract::{ConnId, EffectId, HttpRequestId, ServerId, ServerRef, Unanswered};
use crate::engine::dedup::DupKey;
use crate::engine::dialer::RequestToken;
use crate::eval::context::Context;
use crate::eval::ir::{BackendId, QueryId};
use crate::eval::machine::Machine;
use crate::eval::policy::HandlerChoice;
use crate::eval::query::OutgoingRequest;
use crate::eval::select::Selection;
use crate::lang::program::Program;
use crate::radius::code::Code;
use crate::radius::packet::Packet;

/// A task's number, in creation order (also the request's `id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Who waits for a request on a connection's peer machine: a task of this node,
/// or a request another node of the cluster forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Waiter {
    /// A task's reverse call.
    Task(TaskId),
    /// A forwarded request (its owner is this node).
    Forwarded(crate::cluster::IncomingKey),
}

/// Where a task's request came from, and what answering it needs.
#[derive(Debug)]
pub(crate) enum Origin {
    /// A UDP RADIUS request.
    Udp {
        /// Its duplicate-detection key (server, peer, identifier, authenticator).
        dup: DupKey,
        /// The local address to answer from.
        local: SocketAddr,
        /// The request as received (identifier, authenticator, Proxy-State).
        request: Packet,
        /// The client's secret.
        secret: Arc<[u8]>,
    },
    /// A RADIUS request on a stream connection: one a server accepted, or one of
    /// our `connect` connections whose far end sent it (a reverse CoA to us).
    Stream {
        /// The server that accepted the connection; for a `connect` connection, the
        /// `listen { backend … }` server that handles its backend's requests.
        server: ServerId,
        /// The connection.
        conn: ConnId,
        /// The request as received.
        request: Packet,
        /// The secret replies are signed with: the client's, or the backend
        /// server's.
        secret: Arc<[u8]>,
    },
    /// An HTTP request.
    Http {
        /// The driver's number for it.
        id: HttpRequestId,
    },
}

/// Which pipeline of the handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// `@execute` (the reply goes out when it ends, or at `reply;`).
    Execute(HandlerChoice),
    /// `@final-execute` (after the reply).
    Final,
}

/// What a parked task waits for.
#[derive(Debug)]
pub(crate) enum Wait {
    /// Nothing: it is running.
    Running,
    /// An SQL statement of the handler's pipeline.
    Sql {
        /// The effect.
        effect: EffectId,
        /// The SQL backend.
        backend: BackendId,
        /// The query.
        query: QueryId,
    },
    /// A reverse request.
    Reverse(Box<ReverseCall>),
    /// A request to a `connect` backend, handed to the dialer.
    Connect(Box<ConnectCall>),
}

/// A `connect` backend call in progress.
#[derive(Debug)]
pub(crate) struct ConnectCall {
    /// The dialer's handle for the request.
    pub token: RequestToken,
    /// The backend.
    pub backend: BackendId,
    /// The query (`None`: proxy mode, the reply becomes the reply).
    pub query: Option<QueryId>,
    /// What the bindings built (`radius.request.*` inside the mapping).
    pub sent: OutgoingRequest,
    /// When it was handed to the dialer, and its reply code (for metrics).
    pub trace: CallTrace,
}

/// A reverse backend call in progress.
#[derive(Debug)]
pub(crate) struct ReverseCall {
    /// The backend.
    pub backend: BackendId,
    /// Which of its servers.
    pub server: usize,
    /// The query (`None`: proxy mode, the incoming request is forwarded).
    pub query: Option<QueryId>,
    /// What the bindings built (`radius.request.*` inside the mapping).
    pub sent: OutgoingRequest,
    /// The packet to send, without identifier, authenticator or
    /// Message-Authenticator (added when signing).
    pub template: Packet,
    /// How many more times the request may be re-selected after its connection
    /// closed.
    pub retries_left: u32,
    /// Whether it was ever written to a connection: a re-selection after that
    /// connection closed that finds nothing ends in `errors.CONNECTION_CLOSED`,
    /// not `NO_REVERSE_CONNECTIONS` (the request was sent, then lost).
    pub written: bool,
    /// Where it is.
    pub phase: Phase,
    /// When it was first written, and its reply code (for metrics).
    pub trace: CallTrace,
}

impl ReverseCall {
    /// The backend server it goes to.
    pub fn server_ref(&self) -> ServerRef {
        ServerRef {
            backend: self.backend,
            server: u32::try_from(self.server).unwrap_or(u32::MAX),
        }
    }
}

/// The phases of a reverse call.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Between steps (built, not yet selected; or over).
    Idle,
    /// `@select` is running (possibly parked on an SQL statement).
    Selecting {
        /// The selection.
        selection: Box<Selection>,
        /// The SQL statement it is parked on: effect, backend, query.
        sql: Option<(EffectId, BackendId, QueryId)>,
    },
    /// Waiting in a connection's queue for an identifier.
    Queued {
        /// The connection.
        conn: ConnId,
    },
    /// Sent; waiting for the reply.
    InFlight {
        /// The connection.
        conn: ConnId,
        /// The identifier.
        id: u8,
    },
    /// Forwarded to the node that holds the connection; waiting for its answer.
    Forwarded {
        /// The connection.
        conn: ConnId,
        /// The cluster part's number for the forward.
        fid: u64,
    },
}

/// One request being handled.
#[derive(Debug)]
pub(crate) struct Task {
    /// The program the request started under: its policies, backends and queries
    /// are the ones it finishes with, even when a reload swaps the engine's program
    /// meanwhile (its backend, query and policy numbers index this one).
    pub program: Arc<Program>,
    /// What the pipelines read and write.
    pub ctx: Context,
    /// Where the request came from.
    pub origin: Origin,
    /// The pipeline run.
    pub machine: Machine,
    /// Which pipeline.
    pub stage: Stage,
    /// Whether an answer went out.
    pub replied: bool,
    /// Why no answer went out, and the details for the log (an error's message),
    /// as far as known: reported when the task finishes without `replied`.
    pub unanswered: Option<(Unanswered, String)>,
    /// What it is parked on.
    pub wait: Wait,
}

/// When a request was first written, and the reply code once one arrived: what
/// `Engine::backend_call_over` needs from a backend call in progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CallTrace {
    /// When the request was first written (reverse) or handed to the dialer
    /// (`connect`); `None` while it never was.
    pub sent_at: Option<Instant>,
    /// The code of the verified reply, once it arrived.
    pub reply: Option<Code>,
}

impl CallTrace {
    /// Note a write at `at` (only the first counts).
    pub fn sent(&mut self, at: Instant) {
        self.sent_at.get_or_insert(at);
    }
}
