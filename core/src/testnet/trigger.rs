//! UDP trigger senders: RADIUS clients (a DAC, radclient) sending requests to a
//! UDP server of the engine and retransmitting them, unchanged, until a reply
//! comes or they give up.
//!
//! A trigger is known by its sender's address and its identifier. The first
//! reply completes it; a later reply must be the same bytes (RFC 5080: a
//! retransmission gets the cached reply), and a reply after the sender gave up is
//! reported as late.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::contract::ServerId;
use crate::radius::auth::{SignOptions, sign_request};
use crate::radius::code::Code;
use crate::radius::packet::Packet;
use crate::rng::{RandomSource, SplitMix64};

/// When a sender retransmits, like radclient's `-t` and `-r`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retransmit {
    /// Wait this long for a reply before sending again.
    pub interval: Duration,
    /// Send at most this many times (1: never retransmit), then give up one
    /// interval after the last.
    pub tries: u8,
}

impl Retransmit {
    /// Send once, never give up (the test decides).
    pub const NEVER: Retransmit = Retransmit {
        interval: Duration::ZERO,
        tries: 0,
    };

    /// radclient's defaults: 3 s, 3 tries.
    pub const RADCLIENT: Retransmit = Retransmit {
        interval: Duration::from_secs(3),
        tries: 3,
    };
}

/// A signed request from a UDP client with `secret`; its Request Authenticator
/// comes from `rng`.
pub fn signed_request(
    code: Code,
    identifier: u8,
    attrs: &[(u8, &[u8])],
    secret: &str,
    rng: &mut dyn RandomSource,
) -> Result<(Packet, Bytes), String> {
    let mut p = Packet::new(code, identifier);
    for (t, v) in attrs {
        p.push(*t, v.to_vec());
    }
    let data = sign_request(&mut p, secret.as_bytes(), rng, &SignOptions::default())
        .map_err(|e| format!("signing the trigger {code}: {e}"))?;
    Ok((p, data))
}

/// [`signed_request`] with a generator seeded by `seed` (reproducible bytes).
pub fn seeded_request(
    code: Code,
    identifier: u8,
    attrs: &[(u8, &[u8])],
    secret: &str,
    seed: u64,
) -> Result<(Packet, Bytes), String> {
    signed_request(code, identifier, attrs, secret, &mut SplitMix64::new(seed))
}

/// A trigger waiting for its reply.
#[derive(Debug, Clone)]
pub struct Outstanding {
    /// The engine it goes to (its [`crate::testnet::NodeId`] number).
    pub node: usize,
    /// The UDP server it goes to.
    pub server: ServerId,
    /// The server's address it goes to.
    pub local: SocketAddr,
    /// The datagram (sent again unchanged).
    pub data: Bytes,
    /// Times sent so far.
    pub sent: u8,
    /// When to send again.
    pub retransmit: Retransmit,
}

/// What a reply to a UDP trigger was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpReply {
    /// The first reply to a trigger in flight.
    First,
    /// The same reply again.
    Repeat,
    /// A reply after the sender gave up.
    Late,
    /// A reply to a sender the network does not know (a datagram a test fed
    /// in by hand).
    Unknown,
}

/// Every UDP trigger sender of the network, keyed by (sender address, identifier).
#[derive(Debug, Default)]
pub struct UdpSenders {
    outstanding: BTreeMap<(SocketAddr, u8), Outstanding>,
    /// Done triggers: their first reply, or `None` when the sender gave up.
    done: BTreeMap<(SocketAddr, u8), Option<Bytes>>,
}

impl UdpSenders {
    /// A new trigger from `peer`. An error if its identifier is still in flight.
    pub fn send(&mut self, peer: SocketAddr, identifier: u8, o: Outstanding) -> Result<(), String> {
        let key = (peer, identifier);
        if self.outstanding.contains_key(&key) {
            return Err(format!(
                "UDP sender {peer} reused identifier {identifier} while in flight"
            ));
        }
        self.done.remove(&key);
        self.outstanding.insert(key, o);
        Ok(())
    }

    /// The trigger of `peer` with `identifier`, if still waiting.
    pub fn outstanding(&self, peer: SocketAddr, identifier: u8) -> Option<&Outstanding> {
        self.outstanding.get(&(peer, identifier))
    }

    /// Triggers still waiting.
    pub fn in_flight(&self) -> usize {
        self.outstanding.len()
    }

    /// Time to retransmit: the datagram to send again, or `None` after giving up
    /// (or when the trigger is done).
    pub fn retry(&mut self, peer: SocketAddr, identifier: u8) -> Option<RetryAction> {
        let key = (peer, identifier);
        let o = self.outstanding.get_mut(&key)?;
        if o.sent >= o.retransmit.tries {
            self.outstanding.remove(&key);
            self.done.insert(key, None);
            return Some(RetryAction::GaveUp);
        }
        o.sent += 1;
        Some(RetryAction::Resend(o.clone()))
    }

    /// A reply arrived for `peer`: what it was, or an error for a second,
    /// different reply.
    pub fn reply(&mut self, peer: SocketAddr, data: &Bytes) -> Result<UdpReply, String> {
        let identifier = data.get(1).copied().unwrap_or(0);
        let key = (peer, identifier);
        if self.outstanding.remove(&key).is_some() {
            self.done.insert(key, Some(data.clone()));
            return Ok(UdpReply::First);
        }
        match self.done.get_mut(&key) {
            Some(Some(prev)) if prev != data => Err(format!(
                "UDP trigger {peer}/{identifier} got two different replies"
            )),
            Some(Some(_)) => Ok(UdpReply::Repeat),
            Some(slot @ None) => {
                *slot = Some(data.clone());
                Ok(UdpReply::Late)
            }
            None => Ok(UdpReply::Unknown),
        }
    }
}

/// What a retransmission timer does.
#[derive(Debug, Clone)]
pub enum RetryAction {
    /// Send again.
    Resend(Outstanding),
    /// Give up.
    GaveUp,
}
