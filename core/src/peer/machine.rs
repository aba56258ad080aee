//! [`Peer`]: the RADIUS request machine of one transport endpoint (an accepted or
//! dialed stream connection, or the socket of a UDP server).
//!
//! Rules it enforces:
//! * an identifier is in at most one of: free, in flight, resting (after its
//!   request was given up); at most 256 are in use; with
//!   [`PeerConfig::reserve_status_id`] identifier 0 is the probe's alone
//!   (radiusdtls-bis);
//! * a request takes an identifier other than its [`Request::avoid`] while
//!   another is free;
//! * requests that find no free identifier wait in a bounded FIFO queue, and a new
//!   request takes an identifier directly only when nobody waits, so requests are
//!   sent in the order they were submitted; the probe goes ahead of the queue; a
//!   request waits there at most its own timeout, then fails unsent
//!   ([`Failure::Queued`]): a NAS that stopped answering never receives, minutes
//!   later, a request whose caller was long told it failed;
//! * a reply is matched by identifier and code, then verified against the
//!   authenticator sent; a match that does not verify is a [`Event::BadReply`];
//! * **late replies**: a request given up (timed out, or a probe no longer awaited)
//!   leaves its identifier *retired*: it rests for [`Request::rest`] before
//!   reuse (a late reply meanwhile matches nothing: a stray; a zero rest frees it
//!   at once), and its authenticator
//!   is kept after that, so a late reply that arrives once the identifier carries a
//!   new request is recognised (it verifies against the old authenticator) and
//!   discarded instead of being taken for a bad reply to the new one (a request
//!   whose signed bytes equal the earlier one's — a CoA or Disconnect with the same
//!   identifier and attributes — cannot be told apart: the rest covers that); on
//!   the reserved probe identifier, which never rests, the authenticators of a few
//!   earlier probes are kept too;
//! * datagram requests ([`Request::retransmit`]) are sent again unchanged (same
//!   identifier and authenticator, RFC 5080) until their timeout;
//! * every submitted request ends in exactly one [`Event::Reply`],
//!   [`Event::Failed`] or [`Event::Lost`] (or a refusal returned at once).
//!
//! It is sans-IO: time and randomness come in, events come out; the owner writes
//! bytes, closes the endpoint on [`Event::BadReply`] / [`Event::ProbeUnanswered`]
//! when it wants, and calls [`Peer::fire_next`] at [`Peer::next_deadline`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::peer::event::{Event, Failure};
use crate::peer::ids::IdPool;
use crate::peer::sign::{SignError, sign};
use crate::radius::auth::{VerifyPolicy, verify_response};
use crate::radius::code::Code;
use crate::radius::packet::Packet;
use crate::rng::RandomSource;

/// The identifier of Status-Server on endpoints that reserve it.
pub const STATUS_SERVER_ID: u8 = 0;

/// How one endpoint behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerConfig {
    /// Requests that may wait for an identifier.
    pub max_queue: usize,
    /// Identifier 0 is the probe's alone (connections that send Status-Server).
    pub reserve_status_id: bool,
}

/// A request to send (or, with `W = ()`, the probe).
#[derive(Debug, Clone)]
pub struct Request<W> {
    /// Who waits for the outcome.
    pub waiter: W,
    /// Code and attributes; identifier and authenticator are set when signing, a
    /// Message-Authenticator is replaced by a fresh one.
    pub template: Packet,
    /// The secret shared with the peer for this request.
    pub secret: Arc<[u8]>,
    /// The template's User-Password is in clear text: hide it per transmission.
    pub hide_password: bool,
    /// How long to wait for the reply.
    pub timeout: Duration,
    /// Datagram endpoints: send again (same bytes) this often until the timeout.
    pub retransmit: Option<Duration>,
    /// How long the identifier rests after the request is given up; zero frees it
    /// at once (its authenticator is still kept to recognise a late reply).
    pub rest: Duration,
    /// An identifier not to use when another is free: the one a retry of the same
    /// request was last sent with.
    pub avoid: Option<u8>,
}

impl<W> Request<W> {
    /// A reverse request (or a liveness probe) over a connection a NAS opened:
    /// nothing to hide or retransmit, and an identifier given up rests for the
    /// whole `timeout`, so a late reply is never taken for the next request's.
    pub fn reverse(waiter: W, template: Packet, secret: Arc<[u8]>, timeout: Duration) -> Self {
        Self {
            waiter,
            template,
            secret,
            hide_password: false,
            timeout,
            retransmit: None,
            rest: timeout,
            avoid: None,
        }
    }
}

/// A request's immediate fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Signed with identifier `id`: write `bytes`.
    Sent {
        /// The identifier.
        id: u8,
        /// The signed packet.
        bytes: Bytes,
    },
    /// Waiting for an identifier; an [`Event::Sent`] follows.
    Queued,
}

/// A request refused at once (no event will follow for it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The queue is full.
    #[error("{queued} requests already wait for an identifier on this connection")]
    QueueFull {
        /// How many wait.
        queued: usize,
    },
    /// It cannot be signed.
    #[error("{0}")]
    Encode(String),
}

/// A deadline's key: time, then the order it was set in.
type DueKey = (Instant, u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    /// A request's (or the probe's) retransmission or timeout.
    Flight(u8),
    /// A retired identifier's rest is over.
    Release(u8),
    /// A queued request (by its place in the queue) waited its whole timeout.
    Queued(u64),
}

/// A request waiting for an identifier, with the deadline of its wait.
#[derive(Debug)]
struct Waiting<W> {
    req: Request<W>,
    due: DueKey,
}

#[derive(Debug)]
struct Flight<W> {
    /// `None`: the probe.
    waiter: Option<W>,
    code: Code,
    authenticator: [u8; 16],
    secret: Arc<[u8]>,
    bytes: Bytes,
    /// Packets heard from the peer when it was written.
    heard_before: u64,
    timeout: Duration,
    end: Instant,
    retransmit: Option<Duration>,
    rest: Duration,
    due: DueKey,
}

/// What is kept of a request given up, to recognise its late reply.
#[derive(Debug)]
struct Retired {
    code: Code,
    authenticator: [u8; 16],
    secret: Arc<[u8]>,
    /// The deadline of its rest, while the identifier rests.
    resting: Option<DueKey>,
    /// The reserved probe identifier, reused at once: the authenticators of the
    /// probes given up before this one, oldest first (at most [`EARLIER_PROBES`]).
    earlier: Vec<[u8; 16]>,
}

/// Earlier probes whose late answers are still recognised on the reserved
/// identifier (which never rests).
const EARLIER_PROBES: usize = 3;

/// One endpoint's request machine; `W` names a waiting request.
#[derive(Debug)]
pub struct Peer<W> {
    cfg: PeerConfig,
    ids: IdPool,
    flights: BTreeMap<u8, Flight<W>>,
    retired: BTreeMap<u8, Retired>,
    /// Requests waiting for an identifier, in submission order (by their place).
    queue: BTreeMap<u64, Waiting<W>>,
    /// The probe waiting for an identifier.
    probe: Option<Request<()>>,
    probe_id: Option<u8>,
    heard: u64,
    deadlines: BTreeMap<DueKey, Due>,
    seq: u64,
}

impl<W: Copy + PartialEq> Peer<W> {
    /// An endpoint with nothing pending.
    pub fn new(cfg: PeerConfig) -> Self {
        let ids = if cfg.reserve_status_id {
            IdPool::with_reserved(&[STATUS_SERVER_ID])
        } else {
            IdPool::new()
        };
        Peer {
            cfg,
            ids,
            flights: BTreeMap::new(),
            retired: BTreeMap::new(),
            queue: BTreeMap::new(),
            probe: None,
            probe_id: None,
            heard: 0,
            deadlines: BTreeMap::new(),
            seq: 0,
        }
    }

    /// Send a request now if an identifier is free and nobody waits, else queue it.
    pub fn submit(
        &mut self,
        now: Instant,
        req: Request<W>,
        rng: &mut dyn RandomSource,
    ) -> Result<Submitted, Refused> {
        if self.queue.is_empty()
            && let Some(id) = self.ids.allocate_avoiding(req.avoid)
        {
            return match self.transmit(now, id, Some(req.waiter), &req, rng) {
                Ok(bytes) => Ok(Submitted::Sent { id, bytes }),
                Err(e) => Err(Refused::Encode(e.to_string())),
            };
        }
        if self.queue.len() >= self.cfg.max_queue {
            return Err(Refused::QueueFull {
                queued: self.queue.len(),
            });
        }
        self.seq += 1;
        let place = self.seq;
        let due = self.arm(now + req.timeout, Due::Queued(place));
        self.queue.insert(place, Waiting { req, due });
        Ok(Submitted::Queued)
    }

    /// Send what waits while identifiers are free: the probe first, then the queue.
    pub fn pump(&mut self, now: Instant, rng: &mut dyn RandomSource) -> Vec<Event<W>> {
        let mut events = Vec::new();
        self.send_probe(now, rng, &mut events);
        while let Some(avoid) = self.queue.first_key_value().map(|(_, w)| w.req.avoid) {
            let Some(id) = self.ids.allocate_avoiding(avoid) else {
                break;
            };
            let Some((_, Waiting { req, due })) = self.queue.pop_first() else {
                break;
            };
            self.deadlines.remove(&due);
            let waiter = req.waiter;
            events.push(match self.transmit(now, id, Some(waiter), &req, rng) {
                Ok(bytes) => Event::Sent { waiter, id, bytes },
                Err(e) => Event::Failed {
                    waiter,
                    failure: Failure::Encode(e.to_string()),
                },
            });
        }
        events
    }

    /// Probe the peer (Status-Server in `probe.template`): a probe still out is
    /// given up first; without a free identifier the probe waits, ahead of the
    /// queue, for the next one.
    pub fn probe(
        &mut self,
        now: Instant,
        probe: Request<()>,
        rng: &mut dyn RandomSource,
    ) -> Vec<Event<W>> {
        if let Some(id) = self.probe_id {
            self.give_up(now, id);
        }
        self.probe = Some(probe);
        let mut events = Vec::new();
        self.send_probe(now, rng, &mut events);
        events
    }

    /// The probe (sent or waiting) is no longer wanted; one sent is given up.
    pub fn abandon_probe(&mut self, now: Instant) {
        self.probe = None;
        if let Some(id) = self.probe_id {
            self.give_up(now, id);
        }
    }

    /// Bytes arrived from the peer (a sign of life: requests written before them
    /// may have been seen).
    pub fn heard(&mut self) {
        self.heard += 1;
    }

    /// Requests written so far may have been seen although nothing came back after
    /// them: the peer ended the stream in order (it had read what reached it), or
    /// we close a live connection ourselves (a reload). On [`Peer::close`] they are
    /// lost with `seen` true, so they are not sent again elsewhere for free.
    pub fn assume_seen(&mut self) {
        self.heard += 1;
    }

    /// A response arrived: match it by identifier and code, verify it, report it.
    pub fn receive(&mut self, packet: Packet) -> Event<W> {
        let (id, code) = (packet.identifier, packet.code);
        let policy = VerifyPolicy::default();
        let Some(f) = self.flights.get(&id).filter(|f| code.answers(f.code)) else {
            let late = self.is_late(&packet);
            return Event::Stray { id, code, late };
        };
        if let Err(error) = verify_response(&packet, &f.authenticator, &f.secret, &policy) {
            if self.is_late(&packet) {
                return Event::Stray {
                    id,
                    code,
                    late: true,
                };
            }
            return Event::BadReply { code, error };
        }
        let authenticator = f.authenticator;
        let waiter = f.waiter;
        self.forget(id);
        self.ids.release(id);
        match waiter {
            Some(waiter) => Event::Reply {
                waiter,
                packet,
                authenticator,
            },
            None => Event::ProbeAnswered,
        }
    }

    /// The earliest deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.keys().next().map(|k| k.0)
    }

    /// Carry out the earliest deadline if it is due at `now`: a retransmission, a
    /// timeout (the request fails, its identifier rests), or the end of a rest
    /// (the identifier is free; what waits is sent).
    pub fn fire_next(&mut self, now: Instant, rng: &mut dyn RandomSource) -> Vec<Event<W>> {
        let Some((&key, &due)) = self.deadlines.iter().next() else {
            return Vec::new();
        };
        if key.0 > now {
            return Vec::new();
        }
        self.deadlines.remove(&key);
        match due {
            Due::Queued(place) => match self.queue.remove(&place) {
                Some(Waiting { req, .. }) => vec![Event::Failed {
                    waiter: req.waiter,
                    failure: Failure::Queued {
                        waited: req.timeout,
                    },
                }],
                None => Vec::new(),
            },
            Due::Release(id) => {
                if let Some(r) = self.retired.get_mut(&id) {
                    r.resting = None;
                }
                self.ids.release(id);
                self.pump(now, rng)
            }
            Due::Flight(id) => {
                let Some(f) = self.flights.get(&id) else {
                    return Vec::new();
                };
                if let Some(every) = f.retransmit.filter(|_| now < f.end) {
                    let (at, bytes) = ((now + every).min(f.end), f.bytes.clone());
                    let due = self.arm(at, Due::Flight(id));
                    if let Some(f) = self.flights.get_mut(&id) {
                        f.due = due;
                    }
                    return vec![Event::Resent { bytes }];
                }
                let mut events = match self.give_up(now, id) {
                    Some((Some(waiter), after)) => vec![Event::Failed {
                        waiter,
                        failure: Failure::Timeout { after },
                    }],
                    Some((None, _)) => vec![Event::ProbeUnanswered],
                    None => Vec::new(),
                };
                // Without a rest the identifier is free already.
                events.extend(self.pump(now, rng));
                events
            }
        }
    }

    /// The endpoint is gone: every request still pending is lost (in flight by
    /// identifier, then queued in order).
    pub fn close(self) -> Vec<Event<W>> {
        let heard = self.heard;
        let in_flight = self.flights.into_values().filter_map(|f| {
            f.waiter.map(|waiter| Event::Lost {
                waiter,
                seen: heard > f.heard_before,
            })
        });
        let queued = self.queue.into_values().map(|w| Event::Lost {
            waiter: w.req.waiter,
            seen: false,
        });
        in_flight.chain(queued).collect()
    }

    /// Requests in flight (the probe not counted).
    pub fn in_flight(&self) -> usize {
        self.flights.len() - usize::from(self.probe_id.is_some())
    }

    /// Requests waiting for an identifier.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Identifiers resting after their request was given up.
    pub fn resting(&self) -> usize {
        self.deadlines.len() - self.flights.len() - self.queue.len()
    }

    /// Identifiers in use (in flight, the probe's, resting); at most 256.
    pub fn ids_in_use(&self) -> usize {
        self.ids.in_flight()
    }

    /// Whether a probe is out.
    pub fn probing(&self) -> bool {
        self.probe_id.is_some()
    }

    /// Whether a probe waits for an identifier.
    pub fn probe_waiting(&self) -> bool {
        self.probe.is_some()
    }

    /// Deadlines set (one per flight, per resting identifier and per queued request).
    pub fn deadlines(&self) -> usize {
        self.deadlines.len()
    }

    /// Who waits for the request in flight with identifier `id`.
    pub fn waiter(&self, id: u8) -> Option<W> {
        self.flights.get(&id).and_then(|f| f.waiter)
    }

    /// The requests in flight: identifier and waiter.
    pub fn in_flight_waiters(&self) -> impl Iterator<Item = (u8, W)> + '_ {
        self.flights
            .iter()
            .filter_map(|(id, f)| f.waiter.map(|w| (*id, w)))
    }

    /// The waiting requests, first first.
    pub fn queued_waiters(&self) -> impl Iterator<Item = W> + '_ {
        self.queue.values().map(|w| w.req.waiter)
    }

    /// Check the bookkeeping: the pool agrees with the flights and resting
    /// identifiers, and every flight and rest has exactly its deadline.
    pub fn check(&self) -> Result<(), String> {
        let reserved =
            usize::from(self.cfg.reserve_status_id && self.flights.contains_key(&STATUS_SERVER_ID));
        if self.ids.in_flight() != self.flights.len() - reserved + self.resting() {
            return Err(format!(
                "identifier pool ({} in use) out of step with {} in flight and {} resting",
                self.ids.in_flight(),
                self.flights.len(),
                self.resting()
            ));
        }
        for (id, f) in &self.flights {
            if self.deadlines.get(&f.due) != Some(&Due::Flight(*id)) {
                return Err(format!("identifier {id} in flight without its deadline"));
            }
        }
        for (place, w) in &self.queue {
            if self.deadlines.get(&w.due) != Some(&Due::Queued(*place)) {
                return Err(format!("queued request {place} without its deadline"));
            }
        }
        for (id, r) in &self.retired {
            if let Some(due) = r.resting
                && self.deadlines.get(&due) != Some(&Due::Release(*id))
            {
                return Err(format!("identifier {id} resting without its deadline"));
            }
        }
        if self.probe_id.is_some_and(|id| self.waiter(id).is_some()) {
            return Err("the probe's identifier carries a request".into());
        }
        Ok(())
    }

    fn arm(&mut self, at: Instant, due: Due) -> DueKey {
        self.seq += 1;
        let key = (at, self.seq);
        self.deadlines.insert(key, due);
        key
    }

    /// Sign and record a request with identifier `id` (allocated, or reserved for
    /// the probe). On failure the identifier is given back.
    fn transmit<X>(
        &mut self,
        now: Instant,
        id: u8,
        waiter: Option<W>,
        req: &Request<X>,
        rng: &mut dyn RandomSource,
    ) -> Result<Bytes, SignError> {
        let signed = match sign(&req.template, id, &req.secret, req.hide_password, rng) {
            Ok(s) => s,
            Err(e) => {
                self.ids.release(id);
                return Err(e);
            }
        };
        let end = now + req.timeout;
        let first = req.retransmit.map_or(end, |every| (now + every).min(end));
        let due = self.arm(first, Due::Flight(id));
        self.flights.insert(
            id,
            Flight {
                waiter,
                code: req.template.code,
                authenticator: signed.authenticator,
                secret: req.secret.clone(),
                bytes: signed.bytes.clone(),
                heard_before: self.heard,
                timeout: req.timeout,
                end,
                retransmit: req.retransmit,
                rest: req.rest,
                due,
            },
        );
        Ok(signed.bytes)
    }

    fn send_probe(&mut self, now: Instant, rng: &mut dyn RandomSource, out: &mut Vec<Event<W>>) {
        if self.probe.is_none() {
            return;
        }
        let id = if self.cfg.reserve_status_id {
            STATUS_SERVER_ID
        } else {
            match self.ids.allocate() {
                Some(id) => id,
                None => return,
            }
        };
        let Some(probe) = self.probe.take() else {
            return;
        };
        match self.transmit(now, id, None, &probe, rng) {
            Ok(bytes) => {
                self.probe_id = Some(id);
                out.push(Event::ProbeSent { bytes });
            }
            Err(_) => out.push(Event::ProbeUnanswered),
        }
    }

    /// Remove a flight and its deadline (the identifier stays allocated).
    fn forget(&mut self, id: u8) -> Option<Flight<W>> {
        let f = self.flights.remove(&id)?;
        self.deadlines.remove(&f.due);
        if self.probe_id == Some(id) {
            self.probe_id = None;
        }
        Some(f)
    }

    /// Give up a flight: its identifier retires (rests, then is free; a reserved
    /// one, or one without a rest, is free at once). Returns its waiter and timeout.
    fn give_up(&mut self, now: Instant, id: u8) -> Option<(Option<W>, Duration)> {
        let f = self.forget(id)?;
        let reserved = self.cfg.reserve_status_id && id == STATUS_SERVER_ID;
        let rests = !reserved && !f.rest.is_zero();
        let resting = rests.then(|| self.arm(now + f.rest, Due::Release(id)));
        if !reserved && !rests {
            self.ids.release(id);
        }
        let mut earlier = Vec::new();
        if let Some(old) = self.retired.remove(&id).filter(|_| reserved) {
            earlier = old.earlier;
            earlier.push(old.authenticator);
            if earlier.len() > EARLIER_PROBES {
                earlier.remove(0);
            }
        }
        self.retired.insert(
            id,
            Retired {
                code: f.code,
                authenticator: f.authenticator,
                secret: f.secret,
                resting,
                earlier,
            },
        );
        Some((f.waiter, f.timeout))
    }

    /// Whether `packet` verifies as the reply to the request last given up with
    /// its identifier (or, on the reserved one, to an earlier probe).
    fn is_late(&self, packet: &Packet) -> bool {
        self.retired.get(&packet.identifier).is_some_and(|r| {
            let policy = VerifyPolicy::default();
            packet.code.answers(r.code)
                && std::iter::once(&r.authenticator)
                    .chain(&r.earlier)
                    .any(|a| verify_response(packet, a, &r.secret, &policy).is_ok())
        })
    }
}
