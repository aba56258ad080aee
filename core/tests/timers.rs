//! The shared timers ([`boomerang_core::timers`]) of the engine and the dialer.

use std::time::{Duration, Instant};

use boomerang_core::timers::Timers;

#[test]
fn timers_fire_in_deadline_order_then_in_the_order_they_were_set() {
    let t0 = Instant::now();
    let mut timers = Timers::default();
    timers.set(t0 + Duration::from_secs(2), "late");
    timers.set(t0 + Duration::from_secs(1), "first");
    timers.set(t0 + Duration::from_secs(1), "second");
    assert_eq!(timers.next(), Some(t0 + Duration::from_secs(1)));
    assert_eq!(
        timers.pop_due(t0),
        None,
        "nothing is due before its deadline"
    );
    let now = t0 + Duration::from_secs(1);
    assert_eq!(timers.pop_due(now), Some("first"));
    assert_eq!(timers.pop_due(now), Some("second"));
    assert_eq!(timers.pop_due(now), None);
    assert_eq!(timers.len(), 1);
}

#[test]
fn a_cancelled_timer_never_fires_and_cancelling_twice_is_harmless() {
    let t0 = Instant::now();
    let mut timers = Timers::default();
    let key = timers.set(t0, 1);
    timers.set(t0, 2);
    assert_eq!(timers.get(key), Some(&1));
    timers.cancel(key);
    timers.cancel(key);
    timers.cancel(None);
    assert_eq!(timers.get(key), None);
    assert_eq!(timers.count(|t| *t == 2), 1);
    assert_eq!(timers.pop_due(t0), Some(2));
    assert!(timers.is_empty());
}
