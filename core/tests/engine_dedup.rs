//! The RFC 5080 duplicate cache: a retransmission joins the request in flight, gets
//! the cached answer once answered, and the cache stays bounded. (Kept out of
//! `core/src` because it takes its time origin from the real clock.)

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use boomerang_core::contract::ServerId;
use boomerang_core::engine::dedup::{Admission, DupCache, DupKey};
use bytes::Bytes;

fn key(id: u8) -> DupKey {
    DupKey {
        server: ServerId(0),
        peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1000),
        identifier: id,
        authenticator: [id; 16],
    }
}

#[test]
fn join_then_replay_then_expire() {
    let t0 = Instant::now();
    let mut c = DupCache::new(10, Duration::from_secs(30));
    assert_eq!(c.admit(t0, key(1)), Admission::New);
    assert_eq!(c.admit(t0, key(1)), Admission::Joined);
    c.answered(t0, &key(1), Some(Bytes::from_static(b"r")));
    assert_eq!(
        c.admit(t0, key(1)),
        Admission::Replay(Some(Bytes::from_static(b"r")))
    );
    assert_eq!(c.in_flight(), 0);
    assert_eq!(c.answered_len(), 1);
    let later = t0 + Duration::from_secs(31);
    assert_eq!(c.admit(later, key(1)), Admission::New);
}

#[test]
fn full_of_in_flight_refuses_and_evicts_answered_first() {
    let t0 = Instant::now();
    let mut c = DupCache::new(2, Duration::from_secs(30));
    assert_eq!(c.admit(t0, key(1)), Admission::New);
    assert_eq!(c.admit(t0, key(2)), Admission::New);
    assert_eq!(c.admit(t0, key(3)), Admission::Full);
    c.answered(t0, &key(1), None);
    assert_eq!(c.admit(t0, key(3)), Admission::New);
    // key 1 was evicted to make room, and now every entry is in flight.
    assert_eq!(c.admit(t0, key(1)), Admission::Full);
}

#[test]
fn the_check_holds_through_admission_answers_eviction_and_expiry() {
    let t0 = Instant::now();
    let mut c = DupCache::new(2, Duration::from_secs(5));
    assert_eq!(c.admit(t0, key(1)), Admission::New);
    assert_eq!(c.admit(t0, key(2)), Admission::New);
    assert_eq!(c.admit(t0, key(3)), Admission::Full);
    c.check().expect("two in flight");
    c.answered(t0, &key(1), None);
    assert_eq!(
        c.admit(t0, key(3)),
        Admission::New,
        "evicts the answered one"
    );
    c.check().expect("after eviction");
    c.answered(t0, &key(2), Some(Bytes::from_static(b"x")));
    c.expire(t0 + Duration::from_secs(6));
    c.check().expect("after expiry");
    assert_eq!(c.answered_len(), 0);
    assert_eq!(c.in_flight(), 1);
}
