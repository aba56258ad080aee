//! The signals `boomerang run` reacts to, as one stream of events.
//!
//! The handlers are installed once, when the daemon starts, and stay installed across
//! in-process restarts: a signal that arrives while listeners are being bound again is
//! queued, not lost, and never takes the default action (SIGHUP would end the process).

use tokio::sync::mpsc;

/// A signal `boomerang run` acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignalEvent {
    /// SIGTERM or SIGINT (its name): stop after draining, exit 0.
    Terminate(&'static str),
    /// SIGHUP: read the configuration again and, when it is good, apply it.
    Hangup,
}

/// The signals received, in order.
#[derive(Debug)]
pub(crate) struct Signals {
    events: mpsc::UnboundedReceiver<SignalEvent>,
}

impl Signals {
    /// Install the handlers (at once: from here on these signals no longer take their
    /// default action) and start forwarding. Call from inside the runtime.
    pub(crate) fn install() -> Signals {
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(forward(Handlers::install(), tx));
        Signals { events }
    }

    /// The next signal; pending for ever if no handler could be installed.
    pub(crate) async fn next(&mut self) -> SignalEvent {
        match self.events.recv().await {
            Some(event) => event,
            None => std::future::pending().await,
        }
    }

    /// A signal already received and not yet taken, if any.
    pub(crate) fn try_next(&mut self) -> Option<SignalEvent> {
        self.events.try_recv().ok()
    }
}

/// The installed handlers.
#[cfg(unix)]
struct Handlers {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Handlers {
    fn install() -> Handlers {
        use tokio::signal::unix::{SignalKind, signal};
        let one = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!("cannot install the {name} handler: {e}");
                None
            }
        };
        Handlers {
            term: one(SignalKind::terminate(), "SIGTERM"),
            int: one(SignalKind::interrupt(), "SIGINT"),
            hup: one(SignalKind::hangup(), "SIGHUP"),
        }
    }
}

/// Wait for one signal; never completes when its handler is missing.
#[cfg(unix)]
async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
    let received = match signal {
        Some(s) => s.recv().await.is_some(),
        None => false,
    };
    if !received {
        // No handler (or its stream ended): this signal never fires.
        std::future::pending::<()>().await;
    }
}

#[cfg(unix)]
async fn forward(mut handlers: Handlers, tx: mpsc::UnboundedSender<SignalEvent>) {
    loop {
        let event = tokio::select! {
            biased;
            () = recv(&mut handlers.term) => SignalEvent::Terminate("SIGTERM"),
            () = recv(&mut handlers.int) => SignalEvent::Terminate("SIGINT"),
            () = recv(&mut handlers.hup) => SignalEvent::Hangup,
        };
        match event {
            SignalEvent::Terminate(name) => tracing::info!("{name} received"),
            SignalEvent::Hangup => tracing::info!("SIGHUP received"),
        }
        if tx.send(event).is_err() {
            return;
        }
    }
}

/// Off Unix only Ctrl-C is watched; it is installed on first poll.
#[cfg(not(unix))]
struct Handlers;

#[cfg(not(unix))]
impl Handlers {
    fn install() -> Handlers {
        Handlers
    }
}

#[cfg(not(unix))]
async fn forward(_: Handlers, tx: mpsc::UnboundedSender<SignalEvent>) {
    while tokio::signal::ctrl_c().await.is_ok() {
        tracing::info!("SIGINT received");
        if tx.send(SignalEvent::Terminate("SIGINT")).is_err() {
            return;
        }
    }
}
