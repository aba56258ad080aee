//! Liveness of NAS connections: a connection whose NAS stops answering is probed
//! with Status-Server after a reverse request times out and closed when the probe
//! goes unanswered (even with `timeout 0`); while it is in doubt `@select` prefers
//! the NAS's other connections; an answered probe restores it. Also the truthful
//! outcome of a request delivered on a connection that then closed.

mod engine_support;

use std::time::Duration;

use engine_support::*;

use boomerang_core::engine::{CloseReason, ConnId, HttpRequestId, Output};
use boomerang_core::eval::select::SelectMode;
use boomerang_core::lang::program::Liveness;
use boomerang_core::radius::code::Code;

type World = ReverseWorld;

/// The shared reverse world (see [`ReverseWorld`]; its RadSec server has no idle
/// timeout) with these liveness settings; HTTP triggers call `HTTP_REV` (request
/// timeout 5 s), which selects by NAS-Identifier.
fn world(mode: SelectMode, retries: u32, liveness: Liveness) -> World {
    ReverseWorld::new(ReverseSpec {
        mode,
        retries,
        liveness,
        ..ReverseSpec::default()
    })
}

fn default_world() -> World {
    world(SelectMode::First, 0, Liveness::default())
}

fn error_of(w: &World, id: HttpRequestId) -> Option<String> {
    w.h.http_responses()
        .into_iter()
        .find(|r| r.0 == id)
        .map(|r| r.2["error"].as_str().unwrap_or("").to_owned())
}

fn status_of(w: &World, id: HttpRequestId) -> Option<u16> {
    w.h.http_responses()
        .into_iter()
        .find(|r| r.0 == id)
        .map(|r| r.1)
}

fn healthy(w: &World, c: ConnId) -> Option<bool> {
    w.h.engine().connection(c).map(|s| s.info.healthy)
}

fn codes_to(w: &World, c: ConnId) -> Vec<Code> {
    w.h.requests_to(c).iter().map(|p| p.code).collect()
}

fn closed_unresponsive(w: &World, c: ConnId) -> bool {
    w.h.out().iter().any(|o| {
        matches!(o, Output::StreamClose { conn, reason: CloseReason::Unresponsive } if *conn == c)
    })
}

#[test]
fn a_hung_nas_is_probed_after_a_timeout_and_closed_when_the_probe_times_out() {
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Silent);
    let id = w.trigger("n1");
    assert_eq!(healthy(&w, c), Some(true));
    w.h.advance(Duration::from_secs(5));
    assert_eq!(error_of(&w, id).as_deref(), Some("REVERSE_TIMEOUT"));
    // The timeout put the connection in doubt and sent a Status-Server probe with
    // an identifier of its own (the fake NAS checks Message-Authenticator and that
    // no identifier is in flight twice).
    assert_eq!(healthy(&w, c), Some(false));
    assert_eq!(
        codes_to(&w, c),
        vec![Code::DisconnectRequest, Code::StatusServer]
    );
    assert_eq!(w.h.nas(c).status_probes, 1);
    assert_eq!(w.h.steps(ReverseStep::ProbeSent), 1);
    w.h.advance(Duration::from_millis(9_999));
    assert!(
        w.h.engine().connection(c).is_some(),
        "the probe still waits"
    );
    w.h.advance(Duration::from_millis(1));
    assert!(w.h.engine().connection(c).is_none(), "closed");
    assert!(closed_unresponsive(&w, c));
    assert_eq!(w.h.steps(ReverseStep::ProbeUnanswered), 1);
    w.h.assert_quiescent();
    assert_eq!(w.h.engine().counts().timers, 0);
}

#[test]
fn a_replacement_connection_is_chosen_while_the_old_one_is_in_doubt() {
    let mut w = default_world();
    let hung = w.nas(1, "n1", NasMode::Silent);
    // The NAS reconnected on a new connection; the old one stays open.
    let fresh = w.nas(2, "n1", NasMode::Ack);
    let first = w.trigger("n1");
    assert_eq!(codes_to(&w, hung), vec![Code::DisconnectRequest]);
    assert!(codes_to(&w, fresh).is_empty(), "`first`: oldest connection");
    w.h.advance(Duration::from_secs(5));
    assert_eq!(error_of(&w, first).as_deref(), Some("REVERSE_TIMEOUT"));
    // In doubt: the next triggers go to the healthy connection of the same NAS,
    // although the hung one is still open and older.
    for _ in 0..3 {
        let id = w.trigger("n1");
        assert_eq!(status_of(&w, id), Some(200));
    }
    assert_eq!(w.h.requests_to(fresh).len(), 3);
    assert_eq!(
        codes_to(&w, hung),
        vec![Code::DisconnectRequest, Code::StatusServer]
    );
    w.h.advance(Duration::from_secs(10));
    assert!(w.h.engine().connection(hung).is_none());
    let id = w.trigger("n1");
    assert_eq!(status_of(&w, id), Some(200));
    w.h.assert_quiescent();
}

#[test]
fn round_robin_leaves_out_a_connection_in_doubt() {
    let mut w = world(SelectMode::RoundRobin, 0, Liveness::default());
    let hung = w.nas(1, "n1", NasMode::Silent);
    let fresh = w.nas(2, "n1", NasMode::Ack);
    // Rotate until the hung connection gets one and times out.
    let a = w.trigger("n1");
    let b = w.trigger("n1");
    assert_eq!(status_of(&w, b).or(status_of(&w, a)), Some(200));
    w.h.advance(Duration::from_secs(5));
    assert_eq!(healthy(&w, hung), Some(false));
    let before = w.h.requests_to(hung).len();
    for _ in 0..6 {
        let id = w.trigger("n1");
        assert_eq!(status_of(&w, id), Some(200));
    }
    assert_eq!(
        w.h.requests_to(hung).len(),
        before,
        "nothing more to the hung one"
    );
    assert_eq!(w.h.requests_to(fresh).len(), 7);
    w.h.assert_quiescent();
}

#[test]
fn a_doubtful_connection_is_still_chosen_when_it_is_the_only_one() {
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Silent);
    w.trigger("n1");
    w.h.advance(Duration::from_secs(5));
    assert_eq!(healthy(&w, c), Some(false));
    let id = w.trigger("n1");
    assert_eq!(w.h.requests_to(c).len(), 3, "sent to the only candidate");
    w.h.advance(Duration::from_secs(5));
    assert_eq!(error_of(&w, id).as_deref(), Some("REVERSE_TIMEOUT"));
    assert_eq!(w.h.nas(c).status_probes, 1, "one probe at a time");
    w.h.advance(Duration::from_secs(5));
    assert!(w.h.engine().connection(c).is_none(), "closed by the probe");
    w.h.assert_quiescent();
}

#[test]
fn an_answered_probe_restores_health() {
    let mut w = default_world();
    // Holds Disconnect-Requests (slow to act) but answers Status-Server at once.
    let c = w.nas(1, "n1", NasMode::Hold);
    let other = w.nas(2, "n1", NasMode::Ack);
    let id = w.trigger("n1");
    w.h.advance(Duration::from_secs(5));
    assert_eq!(error_of(&w, id).as_deref(), Some("REVERSE_TIMEOUT"));
    assert_eq!(
        codes_to(&w, c),
        vec![Code::DisconnectRequest, Code::StatusServer]
    );
    assert_eq!(healthy(&w, c), Some(true), "the probe was answered");
    assert_eq!(w.h.steps(ReverseStep::HealthRestored), 1);
    // The probe's identifier is free again; the timed-out one rests.
    assert_eq!(w.h.engine().connection(c).unwrap().ids_in_use, 1);
    w.h.advance(Duration::from_secs(60));
    assert!(w.h.engine().connection(c).is_some(), "kept");
    // Healthy again, it is the first candidate again.
    w.trigger("n1");
    assert_eq!(w.h.requests_to(c).len(), 3);
    assert!(w.h.requests_to(other).is_empty());
    assert!(w.h.answer_held(c, true) && w.h.answer_held(c, true));
    w.h.assert_quiescent();
}

#[test]
fn a_reply_to_a_request_also_restores_health() {
    // A NAS that answers nothing for a while, then answers a request before the
    // probe times out: alive after all. The probe is no longer awaited.
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Silent);
    w.trigger("n1");
    w.h.advance(Duration::from_secs(5));
    let second = w.trigger("n1");
    assert_eq!(healthy(&w, c), Some(false));
    let req = w.h.requests_to(c)[2].clone();
    assert_eq!(req.code, Code::DisconnectRequest);
    let reply = w.h.nas_mut(c).answer(&req, true).unwrap();
    w.h.send_raw(c, reply);
    assert_eq!(status_of(&w, second), Some(200));
    assert_eq!(healthy(&w, c), Some(true));
    w.h.advance(Duration::from_secs(60));
    assert!(w.h.engine().connection(c).is_some(), "not closed");
    w.h.assert_quiescent();
    assert_eq!(w.h.engine().counts().timers, 0);
}

#[test]
fn a_late_reply_to_a_timed_out_request_also_restores_health() {
    // A slow NAS: it answers the Disconnect after its timeout (the caller already
    // has REVERSE_TIMEOUT) and ignores the probe. The late reply verifies against
    // what we sent, so the NAS is alive: healthy again, not closed as unresponsive,
    // and the reply is counted as late, not as a reply to nothing we sent.
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Silent);
    let id = w.trigger("n1");
    w.h.advance(Duration::from_secs(5));
    assert_eq!(error_of(&w, id).as_deref(), Some("REVERSE_TIMEOUT"));
    assert_eq!(healthy(&w, c), Some(false));
    let req = w.h.requests_to(c)[0].clone();
    assert_eq!(req.code, Code::DisconnectRequest);
    let reply = w.h.nas_mut(c).answer(&req, true).unwrap();
    w.h.send_raw(c, reply);
    assert_eq!(w.h.count(dropped(DropReason::LateReply)), 1);
    assert_eq!(w.h.count(dropped(DropReason::UnmatchedReply)), 0);
    assert_eq!(healthy(&w, c), Some(true));
    w.h.advance(Duration::from_secs(60));
    assert!(w.h.engine().connection(c).is_some(), "not closed");
    assert!(!closed_unresponsive(&w, c));
    w.h.assert_quiescent();
}

#[test]
fn with_probing_off_a_hung_connection_stays_first() {
    let mut w = world(
        SelectMode::First,
        0,
        Liveness {
            probe: false,
            ..Liveness::default()
        },
    );
    let hung = w.nas(1, "n1", NasMode::Silent);
    let fresh = w.nas(2, "n1", NasMode::Ack);
    let first = w.trigger("n1");
    w.h.advance(Duration::from_secs(5));
    assert_eq!(error_of(&w, first).as_deref(), Some("REVERSE_TIMEOUT"));
    assert_eq!(healthy(&w, hung), Some(true));
    w.trigger("n1");
    assert_eq!(codes_to(&w, hung), vec![Code::DisconnectRequest; 2]);
    assert!(w.h.requests_to(fresh).is_empty());
    w.h.advance(Duration::from_secs(120));
    assert!(w.h.engine().connection(hung).is_some());
}

#[test]
fn the_probe_waits_for_a_free_identifier() {
    // 256 requests in flight on a hung NAS use every identifier: the probe goes out
    // when the first timed-out identifier stops resting. The backlog's request
    // waited its whole timeout meanwhile: it failed unsent, and the NAS never gets
    // it after its caller was told it timed out.
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Silent);
    let ids: Vec<HttpRequestId> = (0..257).map(|_| w.trigger("n1")).collect();
    let snap = w.h.engine().connection(c).unwrap();
    assert_eq!((snap.in_flight, snap.queued), (256, 1));
    w.h.advance(Duration::from_secs(5));
    assert_eq!(healthy(&w, c), Some(false));
    assert_eq!(w.h.nas(c).status_probes, 0, "no identifier free yet");
    assert_eq!(w.h.engine().connection(c).unwrap().queued, 0);
    assert_eq!(error_of(&w, ids[256]).as_deref(), Some("REVERSE_TIMEOUT"));
    assert_eq!(w.h.steps(ReverseStep::QueueTimedOut), 1);
    // The identifiers stop resting and are used again: the fake NAS's check
    // of identifiers in flight must forget the abandoned requests.
    w.h.nas_mut(c).forget_in_flight();
    w.h.advance(Duration::from_secs(5));
    assert_eq!(w.h.nas(c).status_probes, 1, "sent once one was free");
    let written = codes_to(&w, c);
    assert_eq!(written[256], Code::StatusServer);
    assert_eq!(
        written.len(),
        257,
        "the timed-out backlog request was never sent"
    );
    w.h.advance(Duration::from_secs(9));
    assert!(w.h.engine().connection(c).is_some());
    w.h.advance(Duration::from_secs(1));
    assert!(
        w.h.engine().connection(c).is_none(),
        "probe timeout after it was sent"
    );
    for id in &ids {
        assert_eq!(error_of(&w, *id).as_deref(), Some("REVERSE_TIMEOUT"));
    }
    w.h.assert_quiescent();
    assert_eq!(w.h.engine().counts().timers, 0);
}

#[test]
fn delivered_then_closed_is_connection_closed() {
    // The NAS received the request, then its connection closed (killed mid-request)
    // without a sign of life: the request is selected again (no retry spent); with
    // nothing to select, the outcome is the close, not NO_REVERSE_CONNECTIONS.
    for retries in [0, 2] {
        let mut w = world(SelectMode::First, retries, Liveness::default());
        let c = w.nas(1, "n1", NasMode::Hold);
        let id = w.trigger("n1");
        assert_eq!(w.h.requests_to(c).len(), 1, "delivered");
        w.h.close(c);
        assert_eq!(error_of(&w, id).as_deref(), Some("CONNECTION_CLOSED"));
        w.h.assert_quiescent();
    }
}

#[test]
fn never_delivered_is_still_no_reverse_connections() {
    let mut w = default_world();
    let id = w.trigger("n1");
    assert_eq!(error_of(&w, id).as_deref(), Some("NO_REVERSE_CONNECTIONS"));
}
