//! One request, one verified reply: build and sign the request, send it over UDP (with
//! retransmission) or a TCP/TLS stream, check the reply, print it.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Map as JsonMap, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use boomerang_core::radius::attr::EVENT_TIMESTAMP;
use boomerang_core::radius::auth::{SignOptions, VerifyPolicy, sign_request, verify_response};
use boomerang_core::radius::code::{AuthenticatorKind, Code};
use boomerang_core::radius::dictionary::{Dictionary, Encrypt};
use boomerang_core::radius::framing::StreamDecoder;
use boomerang_core::radius::id::AttrId;
use boomerang_core::radius::packet::{MAX_PACKET_LEN, Packet};
use boomerang_core::radius::password::{hide_tunnel_password, hide_user_password};

use super::attrs::{self, DictionaryFormats, EncodedAttr};
use super::net::{self, FixedVector, OsRandom, StreamConnector};
use super::{
    ClientArgs, ClientError, EXIT_NEGATIVE, EXIT_POSITIVE, code_name, connector, default_port,
    gather_attributes, load_dictionary, parse_code, secret,
};

/// A signed request: the packet as sent (its authenticator is what the reply is checked
/// against) and its octets.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    /// The packet as sent.
    pub packet: Packet,
    /// The encoded packet.
    pub wire: Bytes,
}

/// Seconds since the UNIX epoch, for Event-Timestamp (0 if the clock is before 1970,
/// and saturating in 2106).
pub fn now_epoch_seconds() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

/// Builds and signs a request. User-Password and Tunnel-Password are hidden with the
/// Request Authenticator of an Access-Request (chosen here, from `rng`), or with 16 zero
/// octets for requests whose authenticator is computed over the packet. A
/// Message-Authenticator is always added; `event_timestamp` is added unless the
/// attributes already carry an Event-Timestamp.
pub fn build_request(
    dict: &Dictionary,
    code: Code,
    identifier: u8,
    attributes: &[EncodedAttr],
    secret: &[u8],
    event_timestamp: Option<u32>,
    rng: &mut OsRandom,
) -> Result<SignedRequest, ClientError> {
    let vector = match code.authenticator_kind() {
        Some(AuthenticatorKind::Random) => rng.vector(),
        _ => [0u8; 16],
    };
    let formats = DictionaryFormats(dict);
    let mut packet = Packet::new(code, identifier);
    for attr in attributes {
        let value = match attr.encrypt {
            Encrypt::UserPassword => hide_user_password(&attr.value, secret, &vector)?.to_vec(),
            Encrypt::TunnelPassword => {
                hide_tunnel_password(attr.tag.unwrap_or(0), &attr.value, secret, &vector, rng)?
                    .to_vec()
            }
            Encrypt::None | Encrypt::AscendSecret => attr.value.clone(),
        };
        packet.push_logical_with(attr.id, &value, &formats)?;
    }
    if let Some(ts) = event_timestamp
        && !packet.contains(EVENT_TIMESTAMP)
    {
        packet.push_logical(AttrId::Standard(EVENT_TIMESTAMP), &ts.to_be_bytes())?;
    }
    let wire = sign_request(
        &mut packet,
        secret,
        &mut FixedVector(vector),
        &SignOptions::default(),
    )?;
    rng.check()?;
    Ok(SignedRequest { packet, wire })
}

/// Checks that `reply` answers `request`: its code fits, and its Response Authenticator
/// and Message-Authenticator (if present, or always when `require_ma`) verify.
pub fn check_reply(
    request: &Packet,
    reply: &Packet,
    secret: &[u8],
    require_ma: bool,
) -> Result<(), ClientError> {
    if !reply.code.answers(request.code) {
        return Err(ClientError::WrongReplyCode {
            reply: code_name(reply.code),
            request: code_name(request.code),
        });
    }
    let policy = VerifyPolicy {
        require_message_authenticator: require_ma,
        limit_proxy_state: false,
    };
    verify_response(reply, &request.authenticator, secret, &policy).map_err(|source| {
        ClientError::Verify {
            code: code_name(reply.code),
            source,
        }
    })
}

/// The exit status for a verified reply: positive answers 0, anything else 1.
pub fn exit_status(code: Code) -> u8 {
    match code {
        Code::AccessAccept | Code::AccountingResponse | Code::CoaAck | Code::DisconnectAck => {
            EXIT_POSITIVE
        }
        _ => EXIT_NEGATIVE,
    }
}

/// Sends over UDP and waits for the reply with the request's identifier, sending the very
/// same octets again after each `timeout` up to `retries` times.
pub(crate) async fn exchange_udp(
    addr: SocketAddr,
    wire: &[u8],
    identifier: u8,
    timeout: Duration,
    retries: u32,
) -> Result<Packet, ClientError> {
    let local: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(ClientError::Bind)?;
    // Connected: the kernel drops datagrams from anyone but the server.
    socket.connect(addr).await.map_err(ClientError::Io)?;
    let mut buf = vec![0u8; MAX_PACKET_LEN];
    let mut attempts = 0;
    for _ in 0..=retries {
        socket.send(wire).await.map_err(ClientError::Io)?;
        attempts += 1;
        let deadline = Instant::now() + timeout;
        loop {
            let n = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => break,
                // An ICMP port-unreachable from an earlier send; keep waiting.
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Ok(Err(e)) => return Err(ClientError::Io(e)),
                Ok(Ok(n)) => n,
            };
            let datagram = buf.get(..n).unwrap_or_default();
            if datagram.get(1) != Some(&identifier) {
                continue; // not ours (a late reply to something else)
            }
            return Ok(Packet::decode(Bytes::copy_from_slice(datagram))?);
        }
    }
    Err(ClientError::Timeout {
        addr,
        attempts,
        timeout,
    })
}

/// Sends once over a TCP/TLS stream (streams never retransmit) and waits for the reply.
async fn exchange_stream(
    connector: &StreamConnector,
    addr: SocketAddr,
    wire: &[u8],
    identifier: u8,
    timeout: Duration,
) -> Result<Packet, ClientError> {
    let mut stream = connector.connect(addr).await?;
    stream.write_all(wire).await.map_err(ClientError::Io)?;
    stream.flush().await.map_err(ClientError::Io)?;
    let deadline = Instant::now() + timeout;
    let mut decoder = StreamDecoder::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => {
                return Err(ClientError::Timeout {
                    addr,
                    attempts: 1,
                    timeout,
                });
            }
            Ok(Err(e)) => return Err(ClientError::Io(e)),
            Ok(Ok(0)) => return Err(ClientError::Closed),
            Ok(Ok(n)) => n,
        };
        decoder.push(buf.get(..n).unwrap_or_default());
        while let Some(octets) = decoder.next_packet()? {
            let packet = Packet::decode(octets)?;
            // Requests from the server and replies to others are not ours.
            if packet.identifier == identifier && packet.code.is_response() {
                return Ok(packet);
            }
        }
    }
}

/// Prints a verified reply: the code on the first line, then `Name = value` lines; or
/// one JSON object.
fn print_reply(dict: &Dictionary, reply: &Packet, json: bool) -> std::io::Result<()> {
    let shown = attrs::show(dict, reply);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        let mut obj = JsonMap::new();
        obj.insert("code".into(), Json::String(code_name(reply.code)));
        obj.insert("id".into(), Json::from(reply.identifier));
        obj.insert("attributes".into(), attrs::to_json(&shown));
        writeln!(out, "{}", Json::Object(obj))?;
    } else {
        writeln!(out, "{}", code_name(reply.code))?;
        for s in &shown {
            writeln!(out, "{} = {}", s.key(), s.value_text())?;
        }
    }
    out.flush()
}

/// Runs the one-request mode; returns the exit status.
pub async fn run(args: &ClientArgs) -> Result<u8, ClientError> {
    let code = parse_code(args.code.as_deref().unwrap_or_default())?;
    let dict = load_dictionary(&args.dictionaries)?;
    let texts = gather_attributes(&args.attributes, &args.files)?;
    let encoded = texts
        .iter()
        .map(|t| attrs::encode(&dict, t))
        .collect::<Result<Vec<_>, _>>()?;
    let secret = secret(args)?;
    let server = net::parse_server(args.server.as_deref().unwrap_or("127.0.0.1"))?;
    let port = server
        .port
        .unwrap_or_else(|| default_port(code, args.transport));
    let connector = connector(args, &server.host)?;
    let addr = net::resolve(&server.host, port).await?;

    let mut rng = OsRandom::new();
    let mut id = [0u8; 1];
    boomerang_core::rng::RandomSource::fill(&mut rng, &mut id);
    let event_timestamp = (matches!(code, Code::CoaRequest | Code::DisconnectRequest)
        && !args.no_event_timestamp)
        .then(now_epoch_seconds);
    let request = build_request(
        &dict,
        code,
        id[0],
        &encoded,
        &secret,
        event_timestamp,
        &mut rng,
    )?;

    let reply = match &connector {
        None => exchange_udp(addr, &request.wire, id[0], args.timeout, args.retries).await?,
        Some(c) => exchange_stream(c, addr, &request.wire, id[0], args.timeout).await?,
    };
    check_reply(
        &request.packet,
        &reply,
        &secret,
        args.require_message_authenticator,
    )?;
    print_reply(&dict, &reply, args.json).map_err(ClientError::Io)?;
    Ok(exit_status(reply.code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use boomerang_core::radius::attr::{MESSAGE_AUTHENTICATOR, USER_PASSWORD};
    use boomerang_core::radius::auth::{sign_response, verify_request};
    use boomerang_core::radius::password::reveal_user_password;

    fn encoded(name: &str, value: &str) -> EncodedAttr {
        let text = attrs::parse_argument(&format!("{name}={value}"), "t").unwrap();
        attrs::encode(Dictionary::builtin(), &text).unwrap()
    }

    #[test]
    fn access_request_hides_the_password_with_its_own_authenticator() {
        let mut rng = OsRandom::new();
        let req = build_request(
            Dictionary::builtin(),
            Code::AccessRequest,
            7,
            &[
                encoded("User-Name", "bob"),
                encoded("User-Password", "hunter2"),
            ],
            b"s3cret",
            None,
            &mut rng,
        )
        .unwrap();
        let back = Packet::decode(req.wire.clone()).unwrap();
        assert_eq!(back.attributes[0].typ, MESSAGE_AUTHENTICATOR);
        verify_request(&back, b"s3cret", &VerifyPolicy::default()).unwrap();
        let hidden = back.first_value(USER_PASSWORD).unwrap();
        let clear = reveal_user_password(hidden, b"s3cret", &back.authenticator).unwrap();
        assert_eq!(clear, b"hunter2");
    }

    #[test]
    fn disconnect_gets_event_timestamp_unless_given() {
        let mut rng = OsRandom::new();
        let req = build_request(
            Dictionary::builtin(),
            Code::DisconnectRequest,
            1,
            &[encoded("User-Name", "bob")],
            b"k",
            Some(1_700_000_000),
            &mut rng,
        )
        .unwrap();
        assert_eq!(
            req.packet.first_value(EVENT_TIMESTAMP).unwrap().as_ref(),
            1_700_000_000u32.to_be_bytes()
        );
        verify_request(&req.packet, b"k", &VerifyPolicy::default()).unwrap();
        let req = build_request(
            Dictionary::builtin(),
            Code::DisconnectRequest,
            1,
            &[encoded("Event-Timestamp", "5")],
            b"k",
            Some(1_700_000_000),
            &mut rng,
        )
        .unwrap();
        assert_eq!(req.packet.all(EVENT_TIMESTAMP).count(), 1);
        assert_eq!(
            req.packet.first_value(EVENT_TIMESTAMP).unwrap().as_ref(),
            5u32.to_be_bytes()
        );
    }

    #[test]
    fn replies_are_checked_for_code_and_authenticators() {
        let mut rng = OsRandom::new();
        let req = build_request(
            Dictionary::builtin(),
            Code::CoaRequest,
            3,
            &[],
            b"k",
            None,
            &mut rng,
        )
        .unwrap();
        let mut ack = req.packet.new_reply(Code::CoaAck);
        let wire = sign_response(
            &mut ack,
            &req.packet.authenticator,
            b"k",
            &SignOptions::default(),
        )
        .unwrap();
        let ack = Packet::decode(wire).unwrap();
        check_reply(&req.packet, &ack, b"k", true).unwrap();
        assert!(matches!(
            check_reply(&req.packet, &ack, b"other", false),
            Err(ClientError::Verify { .. })
        ));
        let mut wrong = req.packet.new_reply(Code::AccessAccept);
        sign_response(
            &mut wrong,
            &req.packet.authenticator,
            b"k",
            &SignOptions::default(),
        )
        .unwrap();
        assert!(matches!(
            check_reply(&req.packet, &wrong, b"k", false),
            Err(ClientError::WrongReplyCode { .. })
        ));
        let mut bare = req.packet.new_reply(Code::CoaNak);
        sign_response(
            &mut bare,
            &req.packet.authenticator,
            b"k",
            &SignOptions {
                add_message_authenticator: false,
                ..SignOptions::default()
            },
        )
        .unwrap();
        check_reply(&req.packet, &bare, b"k", false).unwrap();
        assert!(check_reply(&req.packet, &bare, b"k", true).is_err());
        assert_eq!(exit_status(Code::CoaNak), EXIT_NEGATIVE);
        assert_eq!(exit_status(Code::CoaAck), EXIT_POSITIVE);
    }
}
