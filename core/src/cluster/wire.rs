//! What the nodes of a cluster say to each other on the bus: [`Message`], as
//! JSON (one message per bus payload), so that `nats sub 'boomerang.>'` shows an
//! operator what the cluster is doing.
//!
//! Every message names its sender ([`NodeRef`]: name, `node_id`, and the epoch
//! drawn when its engine started, so a restarted node is told apart from its
//! former self). Decoding never panics: a payload that is not a message of this
//! version is an [`WireError`].

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::contract::Transport;
use crate::eval::context::{CertInfo, ConnectionInfo};

/// The version of this format; messages of another version are refused.
pub const WIRE_VERSION: u32 = 1;

/// The sender of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRef {
    /// `cluster { node "…"; }`.
    pub name: String,
    /// `cluster { node_id N; }`.
    pub id: u16,
    /// Drawn at start: a new epoch is a restarted node whose view starts empty.
    pub epoch: u64,
    /// How often this node woke from a stall longer than `node_timeout` since it
    /// started: the others had given it up meanwhile, so a request forwarded to
    /// it before they heard this count is refused, never sent
    /// ([`Message::Forward::to_wake`]). Absent (0) from nodes that do not count.
    #[serde(default)]
    pub wake: u64,
}

/// One connection as the cluster's view holds it: the facts `@select` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnFacts {
    /// `connection.id` (the owner's `node_id` in the bits above 48).
    pub id: u64,
    /// `connection.client_name`.
    pub client: String,
    /// `connection.peer_addr`.
    pub peer: SocketAddr,
    /// `connection.server_name`.
    pub server: String,
    /// `connection.server_addr`.
    pub local: SocketAddr,
    /// `tcp` or `tls`.
    pub transport: String,
    /// `connection.connected`, microseconds since 1970.
    pub connected_us: u64,
    /// `connection.status.received`.
    pub status_received_us: Option<u64>,
    /// `connection.status.nas_identifier`.
    pub nas_identifier: Option<String>,
    /// `connection.last_heard`, as of the last update sent.
    pub last_heard_us: Option<u64>,
    /// `connection.healthy`.
    pub healthy: bool,
    /// The NAS-Identifier binding of its client (`none`, `certificate_cn`,
    /// `certificate_dns`): what a NAS-Identifier it announces must match.
    pub binding: String,
    /// `connection.cert.*`.
    pub cert: Option<CertFacts>,
}

/// `connection.cert.*` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertFacts {
    /// Subject CN.
    pub subject_cn: Option<String>,
    /// Issuer.
    pub issuer: Option<String>,
    /// SHA-256 fingerprint.
    pub fingerprint: Option<String>,
    /// SAN e-mail addresses.
    pub san_email: Vec<String>,
    /// SAN DNS names.
    pub san_dns: Vec<String>,
    /// SAN URIs.
    pub san_uri: Vec<String>,
}

/// What became of a forwarded request on its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ForwardResult {
    /// The NAS answered; the reply verified against the request.
    Reply {
        /// The reply, hex.
        packet: String,
        /// The Request Authenticator it answers, hex.
        authenticator: String,
    },
    /// No reply within the timeout (`REVERSE_TIMEOUT`).
    Timeout {
        /// The timeout, milliseconds.
        after_ms: u64,
    },
    /// The connection closed (or was already gone) before a reply. `seen`: the
    /// request may have reached the NAS.
    Lost {
        /// Whether the NAS may have seen it.
        seen: bool,
    },
    /// Refused (queue full, not encodable, unknown reverse server).
    Error {
        /// An `errors.*` name.
        code: String,
        /// For logs and `error.message`.
        message: String,
    },
}

/// One message on the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Message {
    /// "I am here": sent to every node each `heartbeat`, with the sequence number
    /// of the sender's last view update (a receiver behind it lost an update).
    Heartbeat {
        /// The sender.
        from: NodeRef,
        /// The last update's sequence number.
        seq: u64,
        /// How many connections the sender holds.
        conns: u64,
    },
    /// Connections of the sender that appeared or changed, and that closed.
    Update {
        /// The sender.
        from: NodeRef,
        /// One more than the previous update's.
        seq: u64,
        /// Added or changed connections.
        upsert: Vec<ConnFacts>,
        /// Closed connections.
        remove: Vec<u64>,
    },
    /// "Send me all your connections" (after a gap, a new epoch, or on joining).
    SnapshotRequest {
        /// The sender (who wants the snapshot).
        from: NodeRef,
    },
    /// Part of every connection of the sender, as of update `seq`.
    Snapshot {
        /// The sender.
        from: NodeRef,
        /// The update the snapshot includes.
        seq: u64,
        /// This part's number, from 0.
        part: u32,
        /// How many parts.
        parts: u32,
        /// The connections of this part.
        conns: Vec<ConnFacts>,
    },
    /// A reverse request for a connection of the receiver.
    Forward {
        /// The trigger's node.
        from: NodeRef,
        /// The trigger node's number for it (with `from`, unique).
        fid: u64,
        /// The connection `@select` chose.
        conn: u64,
        /// The reverse backend's name (the owner signs with its secret).
        backend: String,
        /// The reverse server's name within it.
        server: String,
        /// The request template (identifier and authenticator unset), hex.
        packet: String,
        /// The reverse server's `timeout`, milliseconds.
        timeout_ms: u64,
        /// The owner's [`NodeRef::wake`] as the sender last heard it: below the
        /// owner's own, the request was forwarded before the owner woke from a
        /// stall, and the owner refuses it. Absent from senders that do not tell.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_wake: Option<u64>,
    },
    /// The owner's answer to a [`Message::Forward`].
    Answer {
        /// The owner.
        from: NodeRef,
        /// The forward's number.
        fid: u64,
        /// What happened.
        result: ForwardResult,
    },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    #[serde(flatten)]
    msg: Message,
}

/// A payload that is not a message this node understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not JSON, or not a message.
    #[error("not a cluster message: {0}")]
    Malformed(String),
    /// Another version of the format.
    #[error("cluster message version {0}, this node speaks {WIRE_VERSION}")]
    Version(u32),
    /// A field holds something impossible (an address, a transport, hex).
    #[error("bad field in a cluster message: {0}")]
    Field(String),
}

impl Message {
    /// The message as a bus payload.
    pub fn encode(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct EnvelopeRef<'a> {
            v: u32,
            #[serde(flatten)]
            msg: &'a Message,
        }
        // Serialising these plain structs cannot fail (no maps with non-string
        // keys, no failing Serialize impls); an empty payload is refused by the
        // receiver all the same.
        serde_json::to_vec(&EnvelopeRef {
            v: WIRE_VERSION,
            msg: self,
        })
        .unwrap_or_default()
    }

    /// A bus payload as a message.
    pub fn decode(data: &[u8]) -> Result<Message, WireError> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let v: Version =
            serde_json::from_slice(data).map_err(|e| WireError::Malformed(e.to_string()))?;
        if v.v != WIRE_VERSION {
            return Err(WireError::Version(v.v));
        }
        let e: Envelope =
            serde_json::from_slice(data).map_err(|e| WireError::Malformed(e.to_string()))?;
        Ok(e.msg)
    }

    /// The sender.
    pub fn from(&self) -> &NodeRef {
        match self {
            Message::Heartbeat { from, .. }
            | Message::Update { from, .. }
            | Message::SnapshotRequest { from }
            | Message::Snapshot { from, .. }
            | Message::Forward { from, .. }
            | Message::Answer { from, .. } => from,
        }
    }
}

/// Microseconds since 1970 (0 for times before it).
pub fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The time `us` microseconds after 1970.
pub fn from_micros(us: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(us)
}

impl ConnFacts {
    /// The facts of a connection.
    pub fn of(info: &ConnectionInfo, binding: &str) -> ConnFacts {
        ConnFacts {
            id: info.id,
            client: info.client_name.clone(),
            peer: info.peer_addr,
            server: info.server_name.clone(),
            local: info.server_addr,
            transport: info.transport.name().to_owned(),
            connected_us: micros(info.connected),
            status_received_us: info.status_received.map(micros),
            nas_identifier: info.status_nas_identifier.clone(),
            last_heard_us: info.last_heard.map(micros),
            healthy: info.healthy,
            binding: binding.to_owned(),
            cert: info.cert.as_ref().map(|c| CertFacts {
                subject_cn: c.subject_cn.clone(),
                issuer: c.issuer.clone(),
                fingerprint: c.fingerprint.clone(),
                san_email: c.san_email.clone(),
                san_dns: c.san_dns.clone(),
                san_uri: c.san_uri.clone(),
            }),
        }
    }

    /// What `connection.*` reads for it.
    pub fn info(&self) -> Result<ConnectionInfo, WireError> {
        let transport: Transport = self
            .transport
            .parse()
            .map_err(|e: crate::contract::UnknownTransport| WireError::Field(e.to_string()))?;
        if !transport.is_stream() {
            return Err(WireError::Field(format!(
                "connection {} over {transport}",
                self.id
            )));
        }
        Ok(ConnectionInfo {
            id: self.id,
            client_name: self.client.clone(),
            peer_addr: self.peer,
            server_name: self.server.clone(),
            server_addr: self.local,
            transport,
            connected: from_micros(self.connected_us),
            disconnected: None,
            status_received: self.status_received_us.map(from_micros),
            status_nas_identifier: self.nas_identifier.clone(),
            last_heard: self.last_heard_us.map(from_micros),
            healthy: self.healthy,
            cert: self.cert.as_ref().map(|c| CertInfo {
                subject_cn: c.subject_cn.clone(),
                issuer: c.issuer.clone(),
                fingerprint: c.fingerprint.clone(),
                san_email: c.san_email.clone(),
                san_dns: c.san_dns.clone(),
                san_uri: c.san_uri.clone(),
            }),
        })
    }
}

/// Bytes as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Hex as bytes.
pub fn unhex(s: &str) -> Result<Vec<u8>, WireError> {
    if !s.len().is_multiple_of(2) {
        return Err(WireError::Field("odd-length hex".into()));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| WireError::Field("not hex".into()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeRef {
        NodeRef {
            name: "a".into(),
            id: 1,
            epoch: 7,
            wake: 0,
        }
    }

    #[test]
    fn messages_round_trip() {
        let facts = ConnFacts {
            id: (1 << 48) + 3,
            client: "nas".into(),
            peer: "192.0.2.1:5000".parse().expect("addr"),
            server: "RADSEC".into(),
            local: "192.0.2.2:2083".parse().expect("addr"),
            transport: "tls".into(),
            connected_us: 1_700_000_000_000_000,
            status_received_us: Some(1),
            nas_identifier: Some("ap-1".into()),
            last_heard_us: None,
            healthy: true,
            binding: "none".into(),
            cert: None,
        };
        for m in [
            Message::Heartbeat {
                from: node(),
                seq: 4,
                conns: 1,
            },
            Message::Update {
                from: node(),
                seq: 5,
                upsert: vec![facts.clone()],
                remove: vec![9],
            },
            Message::Answer {
                from: node(),
                fid: 2,
                result: ForwardResult::Reply {
                    packet: hex(&[1, 2, 255]),
                    authenticator: hex(&[0; 16]),
                },
            },
        ] {
            assert_eq!(Message::decode(&m.encode()), Ok(m));
        }
        let info = facts.info().expect("valid facts");
        assert_eq!(ConnFacts::of(&info, "none"), facts);
    }

    #[test]
    fn garbage_and_other_versions_are_refused() {
        assert!(matches!(
            Message::decode(b"\xff\x00"),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(
            Message::decode(br#"{"v":2,"t":"snapshot_request"}"#),
            Err(WireError::Version(2))
        ));
        assert!(matches!(
            Message::decode(br#"{"v":1,"t":"nonsense"}"#),
            Err(WireError::Malformed(_))
        ));
        assert_eq!(unhex("0aff"), Ok(vec![10, 255]));
        assert!(unhex("0g").is_err());
        assert!(unhex("abc").is_err());
        assert!(unhex("é1").is_err());
    }
}
