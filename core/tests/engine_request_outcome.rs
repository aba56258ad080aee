//! Every RADIUS request has a visible outcome: one that ends without a reply (an
//! uncaught error, `ignore`, no policy) is reported with
//! `Event::RequestUnanswered` and a log line naming why; one that is answered is
//! reported with `Event::RequestAnswered` (Status-Server included), once; a datagram
//! discarded before any policy ran, with `Event::Dropped` and its reason.

mod engine_support;

use std::time::Duration;

use engine_support::*;

use bytes::Bytes;

use boomerang_core::contract::{ServerId, Transport};
use boomerang_core::engine::{DropReason, Event, Output, Severity, Unanswered};
use boomerang_core::eval::error::ErrorCode;
use boomerang_core::eval::ir::{Action, ActionResult, Cond, Condition, PacketRef, VarRef};
use boomerang_core::eval::select::SelectMode;
use boomerang_core::lang::program::ClientProtocol;
use boomerang_core::radius::auth::{SignOptions, sign_request};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::SplitMix64;

const SECRET: &str = "dac";

/// A UDP server whose policy relays Disconnect-Requests to a reverse backend
/// (no NAS is ever connected, so that fails with NO_REVERSE_CONNECTIONS, uncaught),
/// ignores Accounting-Requests and accepts Access-Requests; and a second UDP
/// server no policy handles.
fn world() -> (Harness, ServerId, ServerId) {
    let mut b = ProgramBuilder::new();
    let nas = b.clients(
        "NAS",
        ClientProtocol::Radius,
        vec![client("nas", "10.0.0.0/8", None)],
    );
    let dac = b.clients(
        "DAC",
        ClientProtocol::Radius,
        vec![client("dac", "127.0.0.1", Some(SECRET))],
    );
    b.radius_server("RADSEC", Transport::Tls, nas, Some(Duration::ZERO));
    let udp = b.radius_server("UDP", Transport::Udp, dac, None);
    let orphan = b.radius_server("ORPHAN", Transport::Udp, dac, None);
    let backend = b.reverse_backend(
        "REV",
        "radsec",
        SelectMode::First,
        select_nas_identifier("RADSEC", req_attr_var(NAS_IDENTIFIER)),
        vec![proxy_query()],
        Duration::from_secs(5),
        0,
    );
    let is = |name: &str| {
        Condition::all(vec![Cond::eq(
            var(VarRef::RadiusCode(PacketRef::Request)),
            code(name),
        )])
    };
    b.policy(
        "RELAY",
        Some(is("DISCONNECT_REQUEST")),
        vec![Action::Backend(backend_call(backend, "REV", Some(0)))],
        None,
    );
    b.policy(
        "ACCOUNTING",
        Some(is("ACCOUNTING_REQUEST")),
        vec![Action::Result {
            result: ActionResult::Ignore,
            message: None,
        }],
        None,
    );
    b.policy(
        "AUTH",
        Some(is("ACCESS_REQUEST")),
        vec![Action::Result {
            result: ActionResult::Accept,
            message: None,
        }],
        None,
    );
    (Harness::new(b.build()), udp, orphan)
}

fn unanswered(h: &Harness) -> Vec<(ServerId, Code, Unanswered)> {
    h.events()
        .iter()
        .filter_map(|o| match o {
            Event::RequestUnanswered {
                server,
                request_code,
                ending,
            } => Some((*server, *request_code, *ending)),
            _ => None,
        })
        .collect()
}

fn logs(h: &Harness) -> Vec<(Severity, String)> {
    h.out()
        .iter()
        .filter_map(|o| match o {
            Output::Log(l) => Some((l.severity, l.text.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn an_uncaught_error_is_reported_with_its_code_and_logged_at_info() {
    let (mut h, udp, _) = world();
    let req = dac_request(
        Code::DisconnectRequest,
        7,
        &[
            (NAS_IDENTIFIER, b"nobody".to_vec()),
            (USER_NAME, b"u".to_vec()),
        ],
        SECRET,
    );
    h.datagram(udp, addr([127, 0, 0, 1], 4000), encode(&req));
    assert!(h.datagrams().is_empty(), "no reply");
    assert_eq!(
        unanswered(&h),
        [(
            udp,
            Code::DisconnectRequest,
            Unanswered::Error(ErrorCode::NoReverseConnections)
        )]
    );
    let line = logs(&h)
        .into_iter()
        .find(|(_, t)| t.contains("ended without a reply"))
        .expect("a log line");
    assert_eq!(line.0, Severity::Info, "{}", line.1);
    assert!(
        line.1.contains("error NO_REVERSE_CONNECTIONS"),
        "{}",
        line.1
    );
    assert!(line.1.contains("Disconnect-Request"), "{}", line.1);
    assert!(line.1.contains("127.0.0.1"), "{}", line.1);
}

#[test]
fn ignore_is_reported_and_logged_at_debug() {
    let (mut h, udp, _) = world();
    let req = dac_request(
        Code::AccountingRequest,
        8,
        &[(USER_NAME, b"u".to_vec())],
        SECRET,
    );
    h.datagram(udp, addr([127, 0, 0, 1], 4000), encode(&req));
    assert!(h.datagrams().is_empty(), "no reply");
    assert_eq!(
        unanswered(&h),
        [(udp, Code::AccountingRequest, Unanswered::Ignored)]
    );
    let line = logs(&h)
        .into_iter()
        .find(|(_, t)| t.contains("ended without a reply"))
        .expect("a log line");
    assert_eq!(line.0, Severity::Debug, "{}", line.1);
    assert!(line.1.contains("ignored"), "{}", line.1);
}

#[test]
fn a_request_no_policy_handles_is_reported() {
    let (mut h, _, orphan) = world();
    let req = dac_request(Code::CoaRequest, 9, &[(USER_NAME, b"u".to_vec())], SECRET);
    h.datagram(orphan, addr([127, 0, 0, 1], 4000), encode(&req));
    assert_eq!(
        unanswered(&h),
        [(orphan, Code::CoaRequest, Unanswered::NoPolicy)]
    );
}

#[test]
fn an_answered_request_is_not_reported_as_unanswered() {
    let (mut h, udp, _) = world();
    let req = dac_request(
        Code::AccessRequest,
        10,
        &[(USER_NAME, b"u".to_vec())],
        SECRET,
    );
    h.datagram(udp, addr([127, 0, 0, 1], 4000), encode(&req));
    assert_eq!(h.datagrams().len(), 1);
    assert!(unanswered(&h).is_empty());
}

/// Every event reported so far other than backend reports, in order.
fn request_events(h: &Harness) -> Vec<Event> {
    h.events()
        .iter()
        .filter(|e| !matches!(e, Event::BackendRequestFinished { .. }))
        .cloned()
        .collect()
}

#[test]
fn an_answer_is_reported_once_and_its_retransmission_as_a_duplicate() {
    let (mut h, udp, _) = world();
    let req = dac_request(
        Code::AccessRequest,
        3,
        &[(USER_NAME, b"u".to_vec())],
        SECRET,
    );
    let peer = addr([127, 0, 0, 1], 4000);
    h.datagram(udp, peer, encode(&req));
    h.datagram(udp, peer, encode(&req));
    assert_eq!(h.datagrams().len(), 2, "answered, then answered again");
    assert_eq!(
        request_events(&h),
        [
            Event::RequestAnswered {
                server: udp,
                request_code: Code::AccessRequest,
                reply_code: Code::AccessAccept,
            },
            Event::Dropped {
                server: udp,
                reason: DropReason::Duplicate,
            },
        ]
    );
}

#[test]
fn a_status_server_answer_is_reported_as_such() {
    let (mut h, udp, _) = world();
    let req = dac_request(Code::StatusServer, 4, &[], SECRET);
    h.datagram(udp, addr([127, 0, 0, 1], 4000), encode(&req));
    assert_eq!(
        request_events(&h),
        [Event::RequestAnswered {
            server: udp,
            request_code: Code::StatusServer,
            reply_code: Code::AccessAccept,
        }]
    );
}

#[test]
fn every_discarded_datagram_is_reported_with_its_reason() {
    let (mut h, udp, _) = world();
    let dac = addr([127, 0, 0, 1], 4000);
    h.datagram(udp, dac, Bytes::from_static(&[1, 1, 0]));
    let reply_code = dac_request(Code::AccessRequest, 5, &[], SECRET);
    let mut wire = encode(&reply_code).to_vec();
    wire[0] = Code::AccessAccept.as_u8();
    h.datagram(udp, dac, Bytes::from(wire));
    let stranger = dac_request(Code::AccessRequest, 6, &[], SECRET);
    h.datagram(udp, addr([192, 0, 2, 1], 4000), encode(&stranger));
    let forged = dac_request(Code::AccessRequest, 7, &[], "not-the-secret");
    h.datagram(udp, dac, encode(&forged));
    // An Accounting-Request without Message-Authenticator, its Request
    // Authenticator computed with another secret.
    let mut accounting = Packet::new(Code::AccountingRequest, 8);
    accounting.push(USER_NAME, b"u".to_vec());
    let wire = sign_request(
        &mut accounting,
        b"not-the-secret",
        &mut SplitMix64::new(8),
        &SignOptions {
            add_message_authenticator: false,
            ..SignOptions::default()
        },
    )
    .expect("signs");
    h.datagram(udp, dac, wire);
    assert!(h.datagrams().is_empty(), "no reply");
    let reasons: Vec<DropReason> = request_events(&h)
        .into_iter()
        .map(|e| match e {
            Event::Dropped { server, reason } if server == udp => reason,
            other => panic!("not a drop on {udp:?}: {other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        [
            DropReason::Malformed,
            DropReason::UnknownCode,
            DropReason::UnknownClient,
            DropReason::BadMessageAuthenticator,
            DropReason::BadAuthenticator,
        ]
    );
    // Each is also logged, the reply code among them (at debug).
    let logs = logs(&h);
    assert!(
        logs.iter()
            .any(|(severity, text)| *severity == Severity::Debug
                && text.contains("code Access-Accept is not a request we handle")),
        "{logs:?}"
    );
}
