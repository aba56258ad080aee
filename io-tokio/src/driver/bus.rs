//! The cluster bus over NATS: the driver's half of `cluster { … }`.
//!
//! The engine owns the cluster protocol; this module only carries its opaque
//! messages. It subscribes to `boomerang.CLUSTER.all` and this node's
//! `boomerang.CLUSTER.node.NAME`, hands every message received to the engine as
//! [`Input::Bus`], publishes what the engine asks with `Output::Bus` ([`Bus::publish`],
//! which never waits), and reports the connection's ups and downs as
//! [`Input::BusState`] and log lines.
//!
//! The client connects to every configured server (it fails over between them and
//! to servers they announce), retries forever, the first connection included, and
//! resubscribes by itself after a reconnect: a node starts and serves its own
//! connections while NATS is unreachable, and rejoins when it comes back.
//!
//! ```text
//!  engine task ── Bus::publish ─▶ bounded queue ─▶ publisher task ─▶ NATS client
//!  NATS client ─▶ receiver task ─▶ Input::Bus ─────────▶ engine task's event queue
//!  NATS events ─▶ state task ───▶ Input::BusState, log, cluster_bus_up, /ready
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{ConnectOptions, Event as NatsEvent, ServerAddr, ServerError};
use boomerang_core::contract::BusTarget;
use boomerang_core::engine::Input;
use boomerang_core::lang::program::{Cluster, NatsAuth, Program};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{StartError, cert_path};
use crate::metrics::{BusDirection, Metrics};
use crate::tls::ClientTlsSettings;

/// Messages waiting for the publisher task; past this, [`Bus::publish`] drops them
/// (counted in `cluster_bus_dropped_total`).
pub const DEFAULT_PUBLISH_QUEUE: usize = 4096;

/// How long [`Bus::close`] waits for queued messages to reach the server.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

/// The name the certificate entries of `cluster { nats { tls { … } } }` are reported
/// under.
const CONFIG_NAME: &str = "cluster";

/// Why the bus cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// A `server` entry is not a NATS address.
    #[error("cluster: NATS server `{server}`: {detail}")]
    Address {
        /// The entry as configured.
        server: String,
        /// What is wrong with it.
        detail: String,
    },
    /// `cluster { nats { } }` names no server.
    #[error("cluster: no NATS server configured")]
    NoServer,
    /// The TLS files could not be turned into a TLS configuration.
    #[error("cluster: NATS TLS configuration: {0}")]
    Tls(#[from] crate::tls::TlsConfigError),
    /// The client refused its options.
    #[error("cluster: cannot start the NATS client: {0}")]
    Client(String),
}

/// How to reach the bus: the program's `cluster { … }` with its TLS files loaded.
#[derive(Clone)]
pub struct BusSettings {
    /// The cluster's name (every subject starts with `boomerang.NAME.`).
    pub cluster: String,
    /// This node's name.
    pub node: String,
    /// The NATS servers, parsed.
    pub servers: Vec<ServerAddr>,
    /// TLS to the servers (CA and optional client certificate), built beforehand.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// User and password, token or nothing.
    pub auth: NatsAuth,
    /// Bound on one connection attempt (TCP, TLS and the NATS handshake).
    pub connect_timeout: Duration,
    /// Messages queued for the publisher task ([`DEFAULT_PUBLISH_QUEUE`]).
    pub publish_queue: usize,
}

impl std::fmt::Debug for BusSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusSettings")
            .field("cluster", &self.cluster)
            .field("node", &self.node)
            .field("servers", &self.servers)
            .field("tls", &self.tls.is_some())
            .field(
                "auth",
                &match self.auth {
                    NatsAuth::None => "none",
                    NatsAuth::UserPassword { .. } => "user_password",
                    NatsAuth::Token(_) => "token",
                },
            )
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl BusSettings {
    /// Settings for `cluster` without TLS (tests and embedders); servers as
    /// `nats://host:port` (or `host:port`).
    pub fn new(cluster: &Cluster) -> Result<BusSettings, BusError> {
        if cluster.nats.servers.is_empty() {
            return Err(BusError::NoServer);
        }
        let servers = cluster
            .nats
            .servers
            .iter()
            .map(|s| {
                s.parse::<ServerAddr>().map_err(|e| BusError::Address {
                    server: s.clone(),
                    detail: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BusSettings {
            cluster: cluster.name.clone(),
            node: cluster.node.clone(),
            servers,
            tls: None,
            auth: cluster.nats.auth.clone(),
            connect_timeout: cluster.nats.connect_timeout,
            publish_queue: DEFAULT_PUBLISH_QUEUE,
        })
    }

    /// The settings of `program.cluster` (`None` without a cluster), its TLS
    /// certificate files read now (the same loading as every TLS client here).
    pub fn from_program(program: &Program) -> Result<Option<BusSettings>, StartError> {
        let Some(cluster) = &program.cluster else {
            return Ok(None);
        };
        let mut settings = BusSettings::new(cluster)?;
        if let Some(tls) = &cluster.nats.tls {
            let (ca, _) = cert_path(program, CONFIG_NAME, tls.ca, false)?;
            // The client checks each server's certificate against the host it dials
            // itself; the name here only has to be valid.
            let host = settings
                .servers
                .first()
                .map_or_else(|| "localhost".to_owned(), |s| s.host().to_owned());
            let mut client = ClientTlsSettings::new(ca, host);
            if let Some((cert, key)) = tls.client {
                client.certificate_chain_path =
                    Some(cert_path(program, CONFIG_NAME, cert, false)?.0.into());
                let (path, password) = cert_path(program, CONFIG_NAME, key, true)?;
                client.key_path = Some(path.into());
                client.key_password = password.map(str::to_owned);
            }
            settings.tls = Some(client.build_config().map_err(BusError::Tls)?);
        }
        Ok(Some(settings))
    }

    /// `boomerang.CLUSTER.all`.
    pub fn all_subject(&self) -> String {
        BusTarget::All.subject(&self.cluster)
    }

    /// `boomerang.CLUSTER.node.NODE`.
    pub fn node_subject(&self) -> String {
        BusTarget::Node(self.node.clone()).subject(&self.cluster)
    }
}

/// The bus's state as `/ready` shows it, shared between the bus and the management
/// listener. `None` until the first connection attempt ended.
#[derive(Debug, Clone, Default)]
pub struct BusStatus(Arc<Mutex<Option<(bool, String)>>>);

impl BusStatus {
    /// Whether the bus is up and what happened last; `(false, "connecting")` before the
    /// first connection attempt ended.
    pub fn get(&self) -> (bool, String) {
        self.lock()
            .clone()
            .unwrap_or_else(|| (false, "connecting".to_owned()))
    }

    fn set(&self, up: bool, detail: &str) {
        *self.lock() = Some((up, detail.to_owned()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(bool, String)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The running bus: a NATS client, its subscriptions and the tasks around it.
pub struct Bus {
    cluster: String,
    outbox: Option<mpsc::Sender<(String, Bytes)>>,
    metrics: Arc<Metrics>,
    client: async_nats::Client,
    publisher: JoinHandle<()>,
    receiver: JoinHandle<()>,
    state: JoinHandle<()>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// Start the client (it connects in the background and keeps retrying), subscribe
    /// and start the tasks. Every message received and every change of state is sent
    /// to `inputs` as an [`Input`] (the driver's event queue; a test's own channel).
    pub async fn start<T>(
        settings: BusSettings,
        inputs: mpsc::Sender<T>,
        metrics: Arc<Metrics>,
        status: BusStatus,
    ) -> Result<Bus, BusError>
    where
        T: From<Input> + Send + 'static,
    {
        metrics.set_cluster_bus_up(&settings.cluster, false);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let mut options = ConnectOptions::new()
            .name(format!("boomerang {}/{}", settings.cluster, settings.node))
            .connection_timeout(settings.connect_timeout)
            .retry_on_initial_connect()
            .max_reconnects(None)
            // First attempt at once, then a little longer each time, at most 2 s.
            .reconnect_delay_callback(|attempts| {
                let attempts = u64::try_from(attempts).unwrap_or(u64::MAX);
                Duration::from_millis(attempts.saturating_sub(1).saturating_mul(250).min(2000))
            })
            .event_callback(move |event| {
                let events = events_tx.clone();
                async move {
                    let _ = events.send(event);
                }
            });
        match &settings.auth {
            NatsAuth::None => {}
            NatsAuth::UserPassword { user, password } => {
                options = options.user_and_password(user.clone(), password.clone());
            }
            NatsAuth::Token(token) => options = options.token(token.clone()),
        }
        if let Some(tls) = &settings.tls {
            options = options.require_tls(true).tls_client_config((**tls).clone());
        }
        let client = options
            .connect(settings.servers.clone())
            .await
            .map_err(|e| BusError::Client(e.to_string()))?;
        // Subscriptions are recorded now and made (again) on every connection.
        let all = client
            .subscribe(settings.all_subject())
            .await
            .map_err(|e| BusError::Client(e.to_string()))?;
        let own = client
            .subscribe(settings.node_subject())
            .await
            .map_err(|e| BusError::Client(e.to_string()))?;
        tracing::info!(
            cluster = %settings.cluster,
            node = %settings.node,
            servers = ?settings.servers,
            "cluster bus: connecting to NATS"
        );
        let receiver = tokio::spawn(receive(
            settings.cluster.clone(),
            futures_util::stream::select(all, own),
            inputs.clone(),
            metrics.clone(),
        ));
        let servers = settings
            .servers
            .iter()
            .map(|s| format!("{}:{}", s.host(), s.port()))
            .collect::<Vec<_>>()
            .join(", ");
        let state = tokio::spawn(watch_state(
            settings.cluster.clone(),
            servers,
            events_rx,
            client.clone(),
            inputs,
            metrics.clone(),
            status,
        ));
        let (outbox, queue) = mpsc::channel(settings.publish_queue.max(1));
        let publisher = tokio::spawn(publish(
            settings.cluster.clone(),
            queue,
            client.clone(),
            metrics.clone(),
        ));
        Ok(Bus {
            cluster: settings.cluster,
            outbox: Some(outbox),
            metrics,
            client,
            publisher,
            receiver,
            state,
        })
    }

    /// Queue `data` for `to`; never waits. A full queue drops it (counted): the
    /// engine detects and repairs lost messages.
    pub fn publish(&self, to: &BusTarget, data: Bytes) {
        let Some(outbox) = &self.outbox else {
            return;
        };
        if outbox.try_send((to.subject(&self.cluster), data)).is_err() {
            self.metrics.cluster_bus_dropped(&self.cluster);
            crate::log_limit::warn(
                "cluster bus: publish queue full",
                "cluster bus: publish queue full; message dropped",
            );
        }
    }

    /// Whether the client is connected now.
    pub fn is_up(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// Send what is queued (for a short while), unsubscribe and close the connection.
    pub async fn close(mut self) {
        self.outbox = None;
        if tokio::time::timeout(CLOSE_FLUSH, &mut self.publisher)
            .await
            .is_err()
        {
            self.publisher.abort();
        }
        self.receiver.abort();
        if self.is_up() {
            let _ = tokio::time::timeout(CLOSE_FLUSH, self.client.flush()).await;
            let _ = tokio::time::timeout(CLOSE_FLUSH, self.client.drain()).await;
        }
        self.state.abort();
        let _ = (&mut self.receiver).await;
        let _ = (&mut self.state).await;
        tracing::info!(cluster = %self.cluster, "cluster bus: closed");
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.publisher.abort();
        self.receiver.abort();
        self.state.abort();
    }
}

/// The publisher task: sends what the engine queued while the client is connected;
/// while it is not, messages are dropped (counted) rather than piled up stale.
async fn publish(
    cluster: String,
    mut queue: mpsc::Receiver<(String, Bytes)>,
    client: async_nats::Client,
    metrics: Arc<Metrics>,
) {
    while let Some((subject, data)) = queue.recv().await {
        if client.connection_state() != State::Connected {
            metrics.cluster_bus_dropped(&cluster);
            continue;
        }
        match client.publish(subject, data).await {
            Ok(()) => metrics.cluster_bus_message(&cluster, BusDirection::Sent),
            Err(e) => {
                // For example a payload above the server's max_payload: the engine
                // repairs what is lost, but an operator must see why.
                metrics.cluster_bus_dropped(&cluster);
                crate::log_limit::warn(
                    "cluster bus: publish failed",
                    format!("cluster bus: publish failed; message dropped: {e}"),
                );
            }
        }
    }
}

/// The receiver task: every message of both subscriptions to the engine.
async fn receive<T, S>(
    cluster: String,
    mut messages: S,
    inputs: mpsc::Sender<T>,
    metrics: Arc<Metrics>,
) where
    T: From<Input> + Send + 'static,
    S: futures_util::Stream<Item = async_nats::Message> + Unpin,
{
    while let Some(message) = messages.next().await {
        metrics.cluster_bus_message(&cluster, BusDirection::Received);
        let input = Input::Bus {
            data: message.payload,
        };
        if inputs.send(T::from(input)).await.is_err() {
            return;
        }
    }
}

/// The state task: NATS client events become [`Input::BusState`] (on a change of
/// state, or of the reason while down: not once per retry), log lines, the
/// `cluster_bus_up` gauge and [`BusStatus`].
async fn watch_state<T>(
    cluster: String,
    servers: String,
    mut events: mpsc::UnboundedReceiver<NatsEvent>,
    client: async_nats::Client,
    inputs: mpsc::Sender<T>,
    metrics: Arc<Metrics>,
    status: BusStatus,
) where
    T: From<Input> + Send + 'static,
{
    // What was last reported: (up, detail); `None` before anything was.
    let mut reported: Option<(bool, String)> = None;
    let mut ever_up = false;
    while let Some(event) = events.recv().await {
        let (up, detail) = match event {
            NatsEvent::Connected => {
                let info = client.server_info();
                let server = format!("{}:{}", info.host, info.port);
                let detail = if ever_up {
                    format!("rejoined: connected to NATS server {server}")
                } else {
                    format!("connected to NATS server {server}")
                };
                tracing::info!(%server, "cluster bus: {detail}");
                (true, detail)
            }
            NatsEvent::Disconnected => {
                tracing::warn!("cluster bus: disconnected from NATS; reconnecting");
                (false, "disconnected from NATS; reconnecting".to_owned())
            }
            NatsEvent::ClientError(e) if reported.as_ref().is_none_or(|(up, _)| !up) => {
                // The client reports the kind of failure only (`IO error`, `TLS
                // error`, `authorization violation`, …).
                let detail = format!("NATS unreachable ({servers}): {e}");
                if reported.as_ref().is_none_or(|(_, d)| *d != detail) {
                    tracing::warn!(
                        "cluster bus: {detail}; serving this node's own connections, retrying"
                    );
                }
                (false, detail)
            }
            NatsEvent::ClientError(e) => {
                tracing::warn!("cluster bus: NATS client error: {e}");
                continue;
            }
            NatsEvent::ServerError(ServerError::AuthorizationViolation) => {
                tracing::warn!("cluster bus: NATS refused our credentials");
                (
                    false,
                    format!("NATS unreachable ({servers}): authorization violation"),
                )
            }
            NatsEvent::ServerError(e) => {
                tracing::warn!("cluster bus: NATS server error: {e}");
                continue;
            }
            NatsEvent::SlowConsumer(_) => {
                crate::log_limit::warn(
                    "cluster bus: slow consumer",
                    "cluster bus: the engine did not keep up; NATS dropped messages for this node",
                );
                continue;
            }
            NatsEvent::LameDuckMode => {
                tracing::info!("cluster bus: the NATS server is going away (lame duck mode)");
                continue;
            }
            NatsEvent::Draining => continue,
            NatsEvent::Closed => {
                tracing::info!("cluster bus: NATS connection closed");
                (false, "NATS connection closed".to_owned())
            }
        };
        if reported.as_ref() == Some(&(up, detail.clone())) {
            continue;
        }
        ever_up |= up;
        metrics.set_cluster_bus_up(&cluster, up);
        status.set(up, &detail);
        reported = Some((up, detail.clone()));
        if inputs
            .send(T::from(Input::BusState { up, detail }))
            .await
            .is_err()
        {
            return;
        }
    }
}
