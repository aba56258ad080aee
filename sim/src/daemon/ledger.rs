//! The reference model of a daemon world: what every NAS connection received and answered,
//! and what every trigger's sender got back. Hosts report each event as it happens and the
//! ledger checks the safety invariants on the spot, reporting a violation through the
//! world's [`Trace`] (which fails the world at the end of that step); the liveness and
//! quiet-period invariants are checked by the world's controller with [`Ledger::unresolved`]
//! and the server's counts.
//!
//! Triggers name their target NAS and the answer the NAS will give in their
//! Acct-Session-Id, `t<N>` (the NAS acknowledges) or `t<N>-nak` (it refuses with
//! Error-Cause 503), so a NAS knows which trigger a request belongs to without any side
//! channel the real server would not have.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::trace::Trace;

/// How a trigger is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind {
    /// A Disconnect-Request over UDP, retransmitted like radclient does.
    Udp,
    /// `POST /disconnect` on the HTTP API.
    Http,
}

/// What the sender of a trigger got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The NAS's ACK, relayed (UDP Disconnect-ACK, HTTP 200).
    Ack,
    /// The NAS's NAK, relayed (UDP Disconnect-NAK with the NAS's Error-Cause 503, HTTP 403).
    NasNak,
    /// The server says no connection of the NAS is up (UDP NAK with Error-Cause 502,
    /// HTTP 404).
    NotConnected,
    /// Any other answer the server defines for a failed delivery (a NAK without the NAS's
    /// cause, HTTP 500/503/504), with what it was.
    Failed(String),
    /// No answer at all: the UDP sender gave up after its retransmissions, or the HTTP
    /// connection broke.
    NoAnswer(String),
}

impl Outcome {
    fn name(&self) -> String {
        match self {
            Outcome::Ack => "ack".into(),
            Outcome::NasNak => "nas-nak".into(),
            Outcome::NotConnected => "not-connected".into(),
            Outcome::Failed(what) => format!("failed({what})"),
            Outcome::NoAnswer(what) => format!("no-answer({what})"),
        }
    }
}

/// A trigger's number, unique in the world.
pub type TriggerNo = u64;

/// A NAS connection's number, unique in the world (in the order NAS hosts opened them).
pub type ConnNo = u64;

#[derive(Debug)]
struct TriggerState {
    kind: TriggerKind,
    target: String,
    nak: bool,
    sent_at: Duration,
    /// Sent after the world became calm: no fault may excuse anything.
    calm: bool,
    deliveries: Vec<ConnNo>,
    answered_ack: bool,
    answered_nak: bool,
    outcome: Option<Outcome>,
}

#[derive(Debug)]
struct ConnState {
    nas: String,
    open: bool,
    /// Identifiers of requests received and not yet answered, with when they came.
    unanswered: BTreeMap<u8, Duration>,
}

#[derive(Debug, Default)]
struct State {
    triggers: BTreeMap<TriggerNo, TriggerState>,
    conns: BTreeMap<ConnNo, ConnState>,
    /// NAS → its current connection and when the server last answered a Status-Server
    /// on it.
    ready: BTreeMap<String, (ConnNo, Duration)>,
    next_trigger: TriggerNo,
    next_conn: ConnNo,
    calm_from: Option<Duration>,
    requests_received: u64,
}

/// The shared ledger of one world. Cheap to clone (hosts each hold one).
#[derive(Debug, Clone)]
pub struct Ledger {
    state: Arc<Mutex<State>>,
    trace: Trace,
}

/// The Acct-Session-Id that tags trigger `n`.
pub fn session_tag(n: TriggerNo, nak: bool) -> String {
    if nak {
        format!("t{n}-nak")
    } else {
        format!("t{n}")
    }
}

/// The trigger a session tag names, and whether the NAS is to refuse it.
pub fn parse_tag(tag: &[u8]) -> Option<(TriggerNo, bool)> {
    let text = std::str::from_utf8(tag).ok()?.strip_prefix('t')?;
    let (number, nak) = match text.strip_suffix("-nak") {
        Some(n) => (n, true),
        None => (text, false),
    };
    Some((number.parse().ok()?, nak))
}

impl Ledger {
    /// An empty ledger reporting to `trace`.
    pub fn new(trace: Trace) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            trace,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now() -> Duration {
        turmoil::sim_elapsed().unwrap_or_default()
    }

    /// Record `what` in the world's trace.
    pub fn note(&self, what: impl Into<String>) {
        self.trace.record(what);
    }

    /// Report a broken invariant (fails the world at the end of the current step).
    pub fn violation(&self, what: impl Into<String>) {
        self.trace.violation(what);
    }

    /// From now on no fault is active or recovering: triggers sent from now on must get
    /// exactly the NAS's answer, delivered once.
    pub fn set_calm(&self) {
        let now = Self::now();
        self.lock().calm_from = Some(now);
        self.trace.record("ledger: calm from now on");
    }

    /// A trigger to NAS `target` is about to be sent; `nak` when the NAS will refuse it.
    pub fn trigger_sent(&self, kind: TriggerKind, target: &str, nak: bool) -> TriggerNo {
        let now = Self::now();
        let mut s = self.lock();
        let n = s.next_trigger;
        s.next_trigger += 1;
        let calm = s.calm_from.is_some_and(|c| now >= c);
        s.triggers.insert(
            n,
            TriggerState {
                kind,
                target: target.to_owned(),
                nak,
                sent_at: now,
                calm,
                deliveries: Vec::new(),
                answered_ack: false,
                answered_nak: false,
                outcome: None,
            },
        );
        drop(s);
        self.trace
            .record(format!("trigger {n}: {kind:?} to {target} (nak={nak})"));
        n
    }

    /// The sender of trigger `n` got `outcome` (for UDP: the first answer; later
    /// answers to retransmissions are reported too and must agree).
    pub fn trigger_outcome(&self, n: TriggerNo, outcome: Outcome) {
        let mut s = self.lock();
        let Some(t) = s.triggers.get_mut(&n) else {
            drop(s);
            self.trace
                .violation(format!("trigger {n}: an outcome for a trigger never sent"));
            return;
        };
        let mut problems = Vec::new();
        if let Some(first) = &t.outcome {
            if *first != outcome {
                problems.push(format!(
                    "trigger {n}: a second, different outcome {} after {}",
                    outcome.name(),
                    first.name()
                ));
            }
        } else {
            match &outcome {
                Outcome::Ack if !t.answered_ack => problems.push(format!(
                    "trigger {n}: ACK relayed but the NAS never acknowledged it"
                )),
                Outcome::NasNak if !t.answered_nak => problems.push(format!(
                    "trigger {n}: the NAS's NAK relayed but the NAS never refused it"
                )),
                _ => {}
            }
            if t.calm {
                let expected = if t.nak { Outcome::NasNak } else { Outcome::Ack };
                if outcome != expected {
                    problems.push(format!(
                        "trigger {n} to {} (sent in calm at {:?}): got {}, expected {}",
                        t.target,
                        t.sent_at,
                        outcome.name(),
                        expected.name()
                    ));
                }
            }
            t.outcome = Some(outcome.clone());
        }
        let kind = t.kind;
        drop(s);
        self.trace
            .record(format!("trigger {n}: {kind:?} outcome {}", outcome.name()));
        for p in problems {
            self.trace.violation(p);
        }
    }

    /// NAS `nas` opened a connection (handshake done).
    pub fn conn_opened(&self, nas: &str) -> ConnNo {
        let mut s = self.lock();
        let c = s.next_conn;
        s.next_conn += 1;
        s.conns.insert(
            c,
            ConnState {
                nas: nas.to_owned(),
                open: true,
                unanswered: BTreeMap::new(),
            },
        );
        drop(s);
        self.trace.record(format!("{nas}: connection {c} open"));
        c
    }

    /// The server answered a Status-Server on connection `c`: it knows the NAS, and the
    /// connection works now.
    pub fn conn_ready(&self, c: ConnNo) {
        let now = Self::now();
        let mut s = self.lock();
        let Some(nas) = s.conns.get(&c).map(|cs| cs.nas.clone()) else {
            return;
        };
        let first = s.ready.insert(nas.clone(), (c, now)).map(|(old, _)| old) != Some(c);
        drop(s);
        if first {
            self.trace.record(format!("{nas}: connection {c} ready"));
        }
    }

    /// Connection `c` is gone (closed, reset, or given up on by the NAS's watchdog).
    pub fn conn_closed(&self, c: ConnNo, why: &str) {
        let mut s = self.lock();
        let Some(cs) = s.conns.get_mut(&c) else {
            return;
        };
        cs.open = false;
        cs.unanswered.clear();
        let nas = cs.nas.clone();
        if s.ready.get(&nas).map(|(rc, _)| *rc) == Some(c) {
            s.ready.remove(&nas);
        }
        drop(s);
        self.trace
            .record(format!("{nas}: connection {c} closed ({why})"));
    }

    /// Connection `c` received a request with `identifier` whose Acct-Session-Id is
    /// `tag`. Returns whether the NAS is to refuse it. Checks that the request is for
    /// this NAS, that no identifier is in use twice on the connection, and that a trigger
    /// reaches a NAS once (a second copy only on another connection, after a fault).
    pub fn request_received(&self, c: ConnNo, identifier: u8, tag: Option<&[u8]>) -> bool {
        let now = Self::now();
        let mut s = self.lock();
        s.requests_received += 1;
        let mut problems = Vec::new();
        let Some(cs) = s.conns.get_mut(&c) else {
            return false;
        };
        let nas = cs.nas.clone();
        if let Some(at) = cs.unanswered.insert(identifier, now) {
            problems.push(format!(
                "{nas}: connection {c}: identifier {identifier} received again, still in use \
                 since {at:?}"
            ));
        }
        let parsed = tag.and_then(parse_tag);
        let mut nak = false;
        match parsed {
            None => problems.push(format!(
                "{nas}: connection {c}: a request with no trigger tag ({:?})",
                tag.map(String::from_utf8_lossy)
            )),
            Some((n, tagged_nak)) => {
                nak = tagged_nak;
                match s.triggers.get_mut(&n) {
                    None => problems.push(format!(
                        "{nas}: connection {c}: a request for trigger {n}, never sent"
                    )),
                    Some(t) => {
                        if t.target != nas {
                            problems.push(format!(
                                "{nas}: connection {c}: trigger {n} for {} delivered here \
                                 (@select did not accept this connection)",
                                t.target
                            ));
                        }
                        if t.deliveries.contains(&c) {
                            problems.push(format!(
                                "{nas}: connection {c}: trigger {n} delivered twice on the \
                                 same connection"
                            ));
                        } else if !t.deliveries.is_empty() && t.calm {
                            problems.push(format!(
                                "{nas}: trigger {n} (sent in calm) delivered again on \
                                 connection {c} after {:?}",
                                t.deliveries
                            ));
                        }
                        t.deliveries.push(c);
                    }
                }
            }
        }
        drop(s);
        let tag = parsed.map_or_else(|| "?".to_owned(), |(n, _)| n.to_string());
        self.trace.record(format!(
            "{nas}: connection {c}: request id {identifier} for trigger {tag}"
        ));
        for p in problems {
            self.trace.violation(p);
        }
        nak
    }

    /// Connection `c` answered the request with `identifier` (for trigger `tag`).
    pub fn request_answered(&self, c: ConnNo, identifier: u8, tag: Option<&[u8]>, ack: bool) {
        let mut s = self.lock();
        if let Some(cs) = s.conns.get_mut(&c) {
            cs.unanswered.remove(&identifier);
        }
        if let Some((n, _)) = tag.and_then(parse_tag)
            && let Some(t) = s.triggers.get_mut(&n)
        {
            if ack {
                t.answered_ack = true;
            } else {
                t.answered_nak = true;
            }
        }
    }

    /// NAS whose connection's last Status-Server was answered at or after `since`.
    pub fn ready_since(&self, since: Duration) -> Vec<String> {
        self.lock()
            .ready
            .iter()
            .filter(|(_, (_, at))| *at >= since)
            .map(|(nas, _)| nas.clone())
            .collect()
    }

    /// Whether a trigger to `target` sent at or after `since` was acknowledged.
    pub fn acked_since(&self, target: &str, since: Duration) -> bool {
        self.lock()
            .triggers
            .values()
            .any(|t| t.target == target && t.sent_at >= since && t.outcome == Some(Outcome::Ack))
    }

    /// Triggers without an outcome yet, as `(number, target, sent at)`.
    pub fn unresolved(&self) -> Vec<(TriggerNo, String, Duration)> {
        self.lock()
            .triggers
            .iter()
            .filter(|(_, t)| t.outcome.is_none())
            .map(|(n, t)| (*n, t.target.clone(), t.sent_at))
            .collect()
    }

    /// What the world did, for reports.
    pub fn totals(&self) -> LedgerTotals {
        let s = self.lock();
        let mut totals = LedgerTotals {
            triggers: s.triggers.len() as u64,
            connections: s.conns.len() as u64,
            requests_received: s.requests_received,
            ..LedgerTotals::default()
        };
        for t in s.triggers.values() {
            match t.outcome {
                Some(Outcome::Ack) => totals.acked += 1,
                Some(Outcome::NasNak) => totals.nas_naked += 1,
                Some(_) => totals.errors += 1,
                None => {}
            }
            if t.deliveries.len() > 1 {
                totals.redelivered += 1;
            }
        }
        totals
    }
}

/// Counts over a finished world.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerTotals {
    /// Triggers sent.
    pub triggers: u64,
    /// Answered with the NAS's ACK.
    pub acked: u64,
    /// Answered with the NAS's NAK.
    pub nas_naked: u64,
    /// Answered with a defined error (or none, during faults).
    pub errors: u64,
    /// Triggers a NAS received on more than one connection (retries after a connection
    /// was lost).
    pub redelivered: u64,
    /// NAS connections opened.
    pub connections: u64,
    /// Requests NAS devices received.
    pub requests_received: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        assert_eq!(
            parse_tag(session_tag(17, false).as_bytes()),
            Some((17, false))
        );
        assert_eq!(parse_tag(session_tag(0, true).as_bytes()), Some((0, true)));
        assert_eq!(parse_tag(b"x1"), None);
        assert_eq!(parse_tag(b"t"), None);
        assert_eq!(parse_tag(b"t1-ack"), None);
    }
}
