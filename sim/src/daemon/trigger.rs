//! Trigger senders: the operators' side. A UDP trigger is a Disconnect-Request sent the
//! way radclient sends it — same identifier and authenticator on every retransmission, a
//! fixed timeout per try — and an HTTP trigger is `POST /disconnect` on the HTTP API with
//! `Connection: close`. Each reports what it got back to the [`Ledger`].

use std::net::SocketAddr;
use std::time::Duration;

use boomerang_core::radius::auth::{SignOptions, VerifyPolicy, sign_request, verify_response};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::SplitMix64;
use boomerang_io_tokio::net::{DatagramSocket, Net};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::config::TRIGGER_SECRET;
use super::ledger::{Ledger, Outcome, TriggerKind, session_tag};
use super::nas::NAS_NAK_CAUSE;
use crate::core_sim::nas::NAS_IDENTIFIER;
use crate::net::TurmoilNet;

const USER_NAME: u8 = 1;
const ACCT_SESSION_ID: u8 = 44;
const ERROR_CAUSE: u8 = 101;

/// How trigger senders wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggerTiming {
    /// UDP: wait per try.
    pub udp_timeout: Duration,
    /// UDP: retransmissions after the first try.
    pub udp_retries: u32,
    /// UDP: how long to keep listening after the first answer, for answers to
    /// retransmissions (which must agree with it).
    pub udp_linger: Duration,
    /// HTTP: bound on the whole exchange.
    pub http_timeout: Duration,
}

impl Default for TriggerTiming {
    /// radclient's defaults (3 s, 3 retries), 2 s of lingering, 90 s for HTTP (the
    /// server answers within its own 60 s).
    fn default() -> Self {
        Self {
            udp_timeout: Duration::from_secs(3),
            udp_retries: 3,
            udp_linger: Duration::from_secs(2),
            http_timeout: Duration::from_secs(90),
        }
    }
}

impl TriggerTiming {
    /// The longest a trigger can stay without an outcome.
    pub fn resolve_bound(&self) -> Duration {
        let udp = self.udp_timeout * (self.udp_retries + 1) + self.udp_linger;
        udp.max(self.http_timeout)
    }
}

/// The outcome a UDP answer means.
fn udp_outcome(reply: &Packet) -> Outcome {
    let cause = reply
        .first_value(ERROR_CAUSE)
        .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
        .map(u32::from_be_bytes);
    match (reply.code, cause) {
        (Code::DisconnectAck, _) => Outcome::Ack,
        (Code::DisconnectNak, Some(NAS_NAK_CAUSE)) => Outcome::NasNak,
        (Code::DisconnectNak, Some(502)) => Outcome::NotConnected,
        (code, cause) => Outcome::Failed(format!("{} cause {cause:?}", code.as_u8())),
    }
}

/// Send one UDP trigger to `target` through `server` and report its outcome.
pub async fn udp_trigger(
    net: TurmoilNet,
    server: SocketAddr,
    ledger: Ledger,
    target: String,
    nak: bool,
    mut rng: SplitMix64,
    timing: TriggerTiming,
) {
    let n = ledger.trigger_sent(TriggerKind::Udp, &target, nak);
    let any = SocketAddr::new(net.own_addr(), 0);
    let socket = match net.bind(any).await {
        Ok(s) => s,
        Err(e) => {
            ledger.trigger_outcome(n, Outcome::NoAnswer(format!("bind: {e}")));
            return;
        }
    };
    let identifier = u8::try_from(rng.next_u64() & 0xff).unwrap_or(0);
    let mut request = Packet::new(Code::DisconnectRequest, identifier);
    request.push(USER_NAME, b"sim-user".to_vec());
    request.push(NAS_IDENTIFIER, target.as_bytes().to_vec());
    request.push(ACCT_SESSION_ID, session_tag(n, nak).into_bytes());
    let options = SignOptions {
        add_message_authenticator: true,
        ..SignOptions::default()
    };
    let wire = match sign_request(&mut request, TRIGGER_SECRET, &mut rng, &options) {
        Ok(w) => w,
        Err(e) => {
            ledger.violation(format!("trigger {n}: cannot sign: {e}"));
            return;
        }
    };
    let mut buf = vec![0u8; 4096];
    let mut answered = false;
    let mut linger_until = None;
    'tries: for _ in 0..=timing.udp_retries {
        if socket.send_to(&wire, server).await.is_err() {
            continue;
        }
        let deadline = Instant::now() + timing.udp_timeout;
        loop {
            let until = linger_until.unwrap_or(deadline);
            let Ok(received) = tokio::time::timeout_at(until, socket.recv_from(&mut buf)).await
            else {
                if answered {
                    break 'tries;
                }
                break;
            };
            let Ok((len, from)) = received else { break };
            if from != server {
                continue;
            }
            let Some(bytes) = buf.get(..len) else {
                continue;
            };
            let Ok(reply) = Packet::decode(bytes::Bytes::copy_from_slice(bytes)) else {
                ledger.violation(format!("trigger {n}: the server's answer does not decode"));
                continue;
            };
            if reply.identifier != identifier {
                continue;
            }
            if let Err(e) = verify_response(
                &reply,
                &request.authenticator,
                TRIGGER_SECRET,
                &VerifyPolicy::default(),
            ) {
                ledger.violation(format!(
                    "trigger {n}: the server's answer does not verify: {e}"
                ));
                continue;
            }
            ledger.trigger_outcome(n, udp_outcome(&reply));
            if !answered {
                answered = true;
                linger_until = Some(Instant::now() + timing.udp_linger);
            }
        }
    }
    if !answered {
        ledger.trigger_outcome(
            n,
            Outcome::NoAnswer(format!("no answer to {} tries", timing.udp_retries + 1)),
        );
    }
}

/// Whether `bytes` hold a whole HTTP/1.1 response: a head and the body its
/// Content-Length announces.
fn response_complete(bytes: &[u8]) -> bool {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    bytes.len() >= end + 4 + length
}

/// Send one HTTP trigger to `target` through `server` and report its outcome.
pub async fn http_trigger(
    net: TurmoilNet,
    server: SocketAddr,
    ledger: Ledger,
    target: String,
    nak: bool,
    timing: TriggerTiming,
) {
    let n = ledger.trigger_sent(TriggerKind::Http, &target, nak);
    let exchange = async {
        let mut stream = net
            .connect(server)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let request = format!(
            "POST /disconnect?nas_identifier={target}&username=sim-user&session={} HTTP/1.1\r\n\
             Host: server\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            session_tag(n, nak)
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        // Read the head and the body its Content-Length announces; the answer is
        // complete then, whenever the server closes the connection.
        let mut answer = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            if response_complete(&answer) {
                break;
            }
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        Ok::<_, String>(answer)
    };
    let outcome = match tokio::time::timeout(timing.http_timeout, exchange).await {
        Err(_) => Outcome::NoAnswer("timed out".to_owned()),
        Ok(Err(e)) => Outcome::NoAnswer(e),
        // The connection broke before the whole answer came (a crash, a reset).
        Ok(Ok(answer)) if !response_complete(&answer) => Outcome::NoAnswer(format!(
            "connection closed after {} bytes of the answer",
            answer.len()
        )),
        Ok(Ok(answer)) => {
            let text = String::from_utf8_lossy(&answer);
            let status = text
                .strip_prefix("HTTP/1.1 ")
                .and_then(|rest| rest.get(..3))
                .and_then(|code| code.parse::<u16>().ok());
            match status {
                Some(200) => Outcome::Ack,
                Some(403) => Outcome::NasNak,
                Some(404) => Outcome::NotConnected,
                Some(code) => Outcome::Failed(format!("HTTP {code}")),
                None => {
                    ledger.violation(format!(
                        "trigger {n}: not an HTTP answer: {:?}",
                        text.chars().take(80).collect::<String>()
                    ));
                    Outcome::NoAnswer("garbage".to_owned())
                }
            }
        }
    };
    ledger.trigger_outcome(n, outcome);
}
