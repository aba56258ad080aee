//! Identity binding of the NAS-Identifier announced in Status-Server
//! (`nas_identifier_binding`), duplicate claims, and the missing-value rule seen
//! through the engine: triggers without a NAS-Identifier, bindings whose template
//! has no value, and attributes that would be empty.

mod engine_support;

use std::time::Duration;

use bytes::Bytes;
use engine_support::*;

use boomerang_core::contract::{ServerId, Transport};
use boomerang_core::engine::ConnId;
use boomerang_core::engine::identity::{Claim, judge};
use boomerang_core::eval::context::{CertInfo, ConnectionInfo};
use boomerang_core::eval::ir::{Action, Cond, Condition, Expr, Template, TemplatePart, VarRef};
use boomerang_core::eval::select::SelectMode;
use boomerang_core::lang::program::{ClientProtocol, NasIdentifierBinding};
use boomerang_core::radius::code::Code;

const DAC_SECRET: &str = "dac";

struct World {
    h: Harness,
    radsec: ServerId,
    http: ServerId,
    udp: ServerId,
}

/// A TLS server for NAS (clients bound by `binding`), an HTTP trigger selecting by
/// `http.query.nas` whose User-Name is `user`, and a UDP trigger selecting by the
/// request's NAS-Identifier.
fn world(binding: NasIdentifierBinding, user: Expr) -> World {
    let mut b = ProgramBuilder::new();
    let mut nas_client = client("nas", "10.0.0.0/8", None);
    nas_client.nas_identifier_binding = binding;
    let nas = b.clients("NAS", ClientProtocol::Radius, vec![nas_client]);
    let dac = b.clients(
        "DAC",
        ClientProtocol::Radius,
        vec![client("dac", "127.0.0.1", Some(DAC_SECRET))],
    );
    let radsec = b.radius_server("RADSEC", Transport::Tls, nas, Some(Duration::ZERO));
    let http = b.http_server("API", None);
    let udp = b.radius_server("UDP", Transport::Udp, dac, None);
    let http_backend = b.reverse_backend(
        "HTTP_REV",
        "radsec",
        SelectMode::First,
        select_nas_identifier("RADSEC", http_query("nas")),
        vec![disconnect_query(user)],
        Duration::from_secs(5),
        0,
    );
    let udp_backend = b.reverse_backend(
        "UDP_REV",
        "radsec",
        SelectMode::First,
        select_nas_identifier("RADSEC", req_attr_var(NAS_IDENTIFIER)),
        vec![proxy_query()],
        Duration::from_secs(5),
        0,
    );
    b.policy(
        "UDP",
        Some(Condition::all(vec![Cond::eq(
            var(VarRef::RadiusServer),
            Expr::str("UDP"),
        )])),
        vec![Action::Backend(backend_call(
            udp_backend,
            "UDP_REV",
            Some(0),
        ))],
        None,
    );
    b.policy(
        "HTTP",
        None,
        vec![Action::Backend(backend_call(
            http_backend,
            "HTTP_REV",
            Some(0),
        ))],
        None,
    );
    World {
        h: Harness::new(b.build()),
        radsec,
        http,
        udp,
    }
}

fn fixture(name: &str) -> Bytes {
    let path = format!(
        "{}/tests/fixtures/engine/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    Bytes::from(std::fs::read(path).unwrap())
}

/// A NAS from 10.0.0.`last` presenting `cert` (a fixture file), acking everything.
fn connect(w: &mut World, last: u8, cert: Option<&str>) -> ConnId {
    w.h.connect(
        w.radsec,
        addr([10, 0, 0, last], 2000 + u16::from(last)),
        Transport::Tls,
        cert.map(fixture).into_iter().collect(),
        "radsec",
        NasMode::Ack,
    )
}

fn announced(w: &World, c: ConnId) -> Option<String> {
    w.h.engine()
        .connection(c)
        .unwrap()
        .info
        .status_nas_identifier
        .clone()
}

/// Status-Server answers (Access-Accept) written to `c`.
fn status_answers(w: &World, c: ConnId) -> usize {
    w.h.writes()
        .iter()
        .filter(|(conn, p)| *conn == c && p.code == Code::AccessAccept)
        .count()
}

fn disconnect(w: &mut World, query: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let http = w.http;
    let id = w.h.http(http, "POST", "/disconnect", query);
    let r =
        w.h.http_responses()
            .into_iter()
            .find(|r| r.0 == id)
            .unwrap();
    (r.1, r.2)
}

fn user_param() -> Expr {
    http_query("user")
}

// ---------------------------------------------------------------------------
// Identity binding

#[test]
fn a_rogue_certificate_claiming_a_bound_identifier_is_refused_and_the_owner_gets_the_disconnect() {
    let mut w = world(NasIdentifierBinding::CertificateCn, user_param());
    // The rogue (certificate CN nas2) connects first and claims nas1.
    let rogue = connect(&mut w, 2, Some("nas2.der"));
    w.h.status(rogue, Some("nas1"));
    assert_eq!(
        announced(&w, rogue),
        None,
        "a refused identifier is not recorded"
    );
    assert_eq!(
        status_answers(&w, rogue),
        0,
        "a refused Status-Server is not answered"
    );
    assert_eq!(w.h.count(claimed(NasIdentifierClaim::Mismatch)), 1);
    assert_eq!(w.h.count(answered(Code::StatusServer)), 0);
    assert!(
        w.h.engine()
            .connection(rogue)
            .unwrap()
            .info
            .status_received
            .is_none(),
        "nothing of the refused Status-Server is recorded"
    );
    // The owner (CN nas1) is accepted.
    let owner = connect(&mut w, 1, Some("nas1.der"));
    w.h.status(owner, Some("nas1"));
    assert_eq!(announced(&w, owner).as_deref(), Some("nas1"));
    assert_eq!(status_answers(&w, owner), 1);
    let (status, _) = disconnect(&mut w, &[("nas", "nas1"), ("user", "bob")]);
    assert_eq!(status, 200);
    assert!(w.h.requests_to(rogue).is_empty(), "the rogue gets nothing");
    assert_eq!(w.h.requests_to(owner).len(), 1);
    // The rogue keeps trying: refused every time, still nothing recorded.
    w.h.status(rogue, Some("nas1"));
    assert_eq!(w.h.count(claimed(NasIdentifierClaim::Mismatch)), 2);
    assert_eq!(announced(&w, rogue), None);
    w.h.assert_quiescent();
}

#[test]
fn with_a_binding_the_certificate_name_is_accepted_and_a_connection_without_certificate_claims_nothing()
 {
    let mut w = world(NasIdentifierBinding::CertificateCn, user_param());
    let plain = connect(&mut w, 3, None);
    w.h.status(plain, Some("nas1"));
    assert_eq!(announced(&w, plain), None);
    assert_eq!(w.h.count(claimed(NasIdentifierClaim::Mismatch)), 1);
    // A Status-Server without NAS-Identifier is a plain keepalive: answered.
    w.h.status(plain, None);
    assert_eq!(status_answers(&w, plain), 1);
    let own = connect(&mut w, 2, Some("nas2.der"));
    w.h.status(own, Some("nas2"));
    assert_eq!(announced(&w, own).as_deref(), Some("nas2"));
}

#[test]
fn certificate_dns_binding_matches_a_dns_subject_alternative_name() {
    let mut w = world(NasIdentifierBinding::CertificateDns, user_param());
    let c = connect(&mut w, 1, Some("nas1.der"));
    w.h.status(c, Some("nas1"));
    assert_eq!(announced(&w, c), None, "the CN is not a DNS name");
    w.h.status(c, Some("TESTUSER.demo.open.com.au"));
    assert_eq!(
        announced(&w, c).as_deref(),
        Some("TESTUSER.demo.open.com.au"),
        "DNS names compare case-insensitively"
    );
}

#[test]
fn duplicate_claims_are_counted_once_per_connection_without_a_binding() {
    let mut w = world(NasIdentifierBinding::None, user_param());
    let a = connect(&mut w, 1, None);
    let b = connect(&mut w, 2, None);
    w.h.status(a, Some("n1"));
    assert_eq!(w.h.count(claimed(NasIdentifierClaim::Duplicate)), 0);
    w.h.status(b, Some("n1"));
    assert_eq!(w.h.count(claimed(NasIdentifierClaim::Duplicate)), 1);
    // Periodic Status-Server of an identifier already held is not a new claim.
    w.h.status(b, Some("n1"));
    w.h.status(a, Some("n1"));
    assert_eq!(w.h.count(claimed(NasIdentifierClaim::Duplicate)), 1);
    // Without a binding both are recorded and answered; the duplicate was logged.
    assert_eq!(announced(&w, b).as_deref(), Some("n1"));
    assert_eq!(status_answers(&w, b), 2);
    let logged = w.h.out().iter().any(
        |o| matches!(o, boomerang_core::engine::Output::Log(l) if l.text.contains("also holds")),
    );
    assert!(logged, "the duplicate claim is logged");
}

fn info(id: u64, cn: &str, fingerprint: &str, nas: Option<&str>) -> ConnectionInfo {
    let mut i = (*conn_info(id)).clone();
    i.cert = Some(CertInfo {
        subject_cn: Some(cn.to_owned()),
        fingerprint: Some(fingerprint.to_owned()),
        ..CertInfo::default()
    });
    i.status_nas_identifier = nas.map(str::to_owned);
    i
}

fn conn_info(id: u64) -> std::sync::Arc<ConnectionInfo> {
    std::sync::Arc::new(ConnectionInfo {
        id,
        client_name: "nas".into(),
        peer_addr: addr([10, 0, 0, 1], 1),
        server_name: "RADSEC".into(),
        server_addr: server_addr(),
        transport: Transport::Tls,
        connected: std::time::UNIX_EPOCH,
        disconnected: None,
        status_received: None,
        status_nas_identifier: None,
        last_heard: None,
        healthy: true,
        cert: None,
    })
}

#[test]
fn a_bound_identifier_held_by_another_certificate_is_a_conflict() {
    let holder = info(1, "nas1", "aa", Some("nas1"));
    // A reissued certificate with the same CN, while the old connection lives.
    let newcomer = info(2, "nas1", "bb", None);
    assert_eq!(
        judge(
            NasIdentifierBinding::CertificateCn,
            &newcomer,
            "nas1",
            &[(ConnId(1), &holder)]
        ),
        Claim::Conflict { holder: ConnId(1) }
    );
    // The same certificate reconnecting: a duplicate, accepted.
    let same = info(3, "nas1", "aa", None);
    assert_eq!(
        judge(
            NasIdentifierBinding::CertificateCn,
            &same,
            "nas1",
            &[(ConnId(1), &holder)]
        ),
        Claim::Accepted {
            duplicate_of: Some(ConnId(1))
        }
    );
    // Without a binding nobody is refused; it is a duplicate.
    assert_eq!(
        judge(
            NasIdentifierBinding::None,
            &newcomer,
            "nas1",
            &[(ConnId(1), &holder)]
        ),
        Claim::Accepted {
            duplicate_of: Some(ConnId(1))
        }
    );
    assert_eq!(
        judge(NasIdentifierBinding::CertificateCn, &newcomer, "nas9", &[]),
        Claim::Mismatch {
            bound: Some("nas1".into())
        }
    );
}

// ---------------------------------------------------------------------------
// Missing values never select

#[test]
fn a_udp_trigger_without_nas_identifier_reaches_no_nas_that_never_announced_one() {
    let mut w = world(NasIdentifierBinding::None, user_param());
    // Connected, never sent a NAS-Identifier (none == none used to select it).
    let silent = connect(&mut w, 1, None);
    w.h.status(silent, None);
    let req = dac_request(
        Code::DisconnectRequest,
        7,
        &[(USER_NAME, b"bob".to_vec())],
        DAC_SECRET,
    );
    let udp = w.udp;
    w.h.datagram(udp, addr([127, 0, 0, 1], 40000), encode(&req));
    assert!(w.h.all_requests().is_empty(), "no NAS was sent anything");
    // The plain policy lets NO_REVERSE_CONNECTIONS propagate: no answer.
    assert!(w.h.datagrams().is_empty());
    w.h.assert_quiescent();
}

#[test]
fn an_http_trigger_without_nas_identifier_fails_with_no_reverse_connections() {
    let mut w = world(NasIdentifierBinding::None, user_param());
    let silent = connect(&mut w, 1, None);
    w.h.status(silent, None);
    let (status, body) = disconnect(&mut w, &[("user", "bob")]);
    assert_eq!(status, 500);
    assert_eq!(body["error"], "NO_REVERSE_CONNECTIONS");
    assert!(w.h.requests_to(silent).is_empty());
    w.h.assert_quiescent();
}

/// `"%{http.query.user}"`.
fn user_template() -> Expr {
    Expr::Template(Template {
        parts: vec![TemplatePart::Expr(http_query("user"))],
    })
}

#[test]
fn a_binding_template_without_its_value_fails_with_missing_value_and_sends_nothing() {
    let mut w = world(NasIdentifierBinding::None, user_template());
    let c = connect(&mut w, 1, None);
    w.h.status(c, Some("nas1"));
    let (status, body) = disconnect(&mut w, &[("nas", "nas1")]);
    assert_eq!(status, 500);
    assert_eq!(body["error"], "MISSING_VALUE");
    assert!(w.h.requests_to(c).is_empty(), "no Disconnect-Request sent");
    // With the value the same configuration works.
    let (status, _) = disconnect(&mut w, &[("nas", "nas1"), ("user", "bob")]);
    assert_eq!(status, 200);
    let sent = w.h.requests_to(c);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].first_value(USER_NAME).map(|v| v.to_vec()),
        Some(b"bob".to_vec())
    );
    w.h.assert_quiescent();
}

#[test]
fn an_empty_user_name_is_refused_by_the_encoder_as_a_backend_error() {
    let mut w = world(NasIdentifierBinding::None, user_template());
    let c = connect(&mut w, 1, None);
    w.h.status(c, Some("nas1"));
    // `?user=` present but empty: the template has a value, the attribute would
    // be zero-length (RFC 2865 §5 forbids it).
    let (status, body) = disconnect(&mut w, &[("nas", "nas1"), ("user", "")]);
    assert_eq!(status, 500);
    assert_eq!(body["error"], "INVALID_VALUE");
    assert!(w.h.requests_to(c).is_empty());
    w.h.assert_quiescent();
}
