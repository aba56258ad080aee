//! The cluster part alone: a forwarded request is run once however often it
//! arrives, answered again from memory, and refused when it is garbage or names a
//! connection another node owns; its memory is bounded.

use std::time::{Duration, Instant};

use boomerang_core::cluster::wire::hex;
use boomerang_core::cluster::{ClusterPart, ForwardResult, Happened, Message, NodeRef};
use boomerang_core::lang::program::{Cluster, Nats, NatsAuth};

fn part(id: u16) -> ClusterPart<u32> {
    let config = Cluster {
        name: "t".into(),
        node: format!("n{id}"),
        node_id: id,
        nats: Nats {
            servers: Vec::new(),
            tls: None,
            auth: NatsAuth::None,
            connect_timeout: Duration::from_secs(2),
        },
        heartbeat: Duration::from_secs(1),
        node_timeout: Duration::from_secs(3),
        forward_margin: Duration::from_secs(1),
    };
    ClusterPart::new(config, u64::from(id))
}

fn forward(fid: u64, conn: u64) -> Vec<u8> {
    Message::Forward {
        from: NodeRef {
            name: "n1".into(),
            id: 1,
            epoch: 1,
            wake: 0,
        },
        fid,
        conn,
        backend: "B".into(),
        server: "S".into(),
        packet: hex(&[40, 0, 0, 20]),
        timeout_ms: 1000,
        to_wake: None,
    }
    .encode()
}

/// Run `p` as the engine does, at least once a heartbeat (a second), for `d` from
/// `from`; the time reached.
fn run_for(p: &mut ClusterPart<u32>, from: Instant, d: Duration) -> Instant {
    let mut now = from;
    while now < from + d {
        now += Duration::from_secs(1);
        p.handle_timeout(now, 0);
    }
    now
}

fn answers(p: &mut ClusterPart<u32>) -> Vec<ForwardResult> {
    std::iter::from_fn(|| p.poll_send())
        .filter_map(|(_, data)| match Message::decode(&data) {
            Ok(Message::Answer { result, .. }) => Some(result),
            _ => None,
        })
        .collect()
}

#[test]
fn a_duplicate_forward_is_never_run_twice_and_gets_the_first_answer_again() {
    let mut owner = part(2);
    let t0 = Instant::now();
    let conn = (2 << 48) + 1;
    let first = owner.receive(t0, &forward(7, conn), 0);
    let key = match first.iter().find_map(|h| match h {
        Happened::Forwarded { key, .. } => Some(*key),
        _ => None,
    }) {
        Some(k) => k,
        None => panic!("the first copy runs: {first:?}"),
    };
    let again = owner.receive(t0, &forward(7, conn), 0);
    assert!(
        !again
            .iter()
            .any(|h| matches!(h, Happened::Forwarded { .. })),
        "a duplicate while running is not run"
    );
    answers(&mut owner);
    owner.answer(t0, key, ForwardResult::Lost { seen: true });
    assert_eq!(
        answers(&mut owner),
        vec![ForwardResult::Lost { seen: true }]
    );
    owner.receive(t0, &forward(7, conn), 0);
    assert_eq!(
        answers(&mut owner),
        vec![ForwardResult::Lost { seen: true }],
        "answered again from memory"
    );
    owner.check().expect("consistent");
}

#[test]
fn garbage_and_requests_for_another_nodes_connection_are_refused() {
    let mut owner = part(2);
    let t0 = Instant::now();
    let h = owner.receive(t0, b"not json", 0);
    assert!(matches!(h.as_slice(), [Happened::Refused { .. }]));
    let h = owner.receive(t0, &forward(8, (3 << 48) + 1), 0);
    assert!(!h.iter().any(|h| matches!(h, Happened::Forwarded { .. })));
    assert!(answers(&mut owner).contains(&ForwardResult::Lost { seen: false }));
    owner.check().expect("consistent");
}

fn forwarded_key(h: &[Happened<u32>]) -> Option<boomerang_core::cluster::IncomingKey> {
    h.iter().find_map(|h| match h {
        Happened::Forwarded { key, .. } => Some(*key),
        _ => None,
    })
}

/// At a sustained rate the answered requests remembered stay within their bound
/// (the bench once found the table full of answered requests at ~6,000 forwards a
/// second: `QUEUE_FULL` for new ones), and one forgotten early is still never
/// sent again when a duplicate arrives.
#[test]
fn answered_requests_are_bounded_and_a_forgotten_duplicate_is_not_sent_again() {
    use boomerang_core::cluster::{MAX_ANSWERED, MAX_INCOMING};
    let mut owner = part(2);
    let t0 = Instant::now();
    let conn = (2 << 48) + 1;
    let total = MAX_ANSWERED as u64 + 100;
    for fid in 1..=total {
        // All within one instant: nothing expires, only the bound forgets.
        let h = owner.receive(t0, &forward(fid, conn), 0);
        let key = forwarded_key(&h).unwrap_or_else(|| panic!("forward {fid} runs: {h:?}"));
        owner.answer(t0, key, ForwardResult::Lost { seen: false });
        assert_eq!(owner.incoming_running(), 0);
    }
    answers(&mut owner);
    owner.check().expect("within the bounds");
    // The first was forgotten early; its duplicate is dropped, not run, not answered.
    let h = owner.receive(t0, &forward(1, conn), 0);
    assert!(forwarded_key(&h).is_none(), "{h:?}");
    assert!(matches!(h.as_slice(), [Happened::Refused { .. }]), "{h:?}");
    assert!(answers(&mut owner).is_empty());
    // A recent one is still remembered and answered again.
    owner.receive(t0, &forward(total, conn), 0);
    assert_eq!(
        answers(&mut owner),
        vec![ForwardResult::Lost { seen: false }]
    );
    // New requests still run: the bound on running ones is separate.
    let h = owner.receive(t0, &forward(total + 1, conn), 0);
    assert!(forwarded_key(&h).is_some(), "{h:?}");
    assert!(owner.incoming_running() <= MAX_INCOMING);
    // Everything expires after the remembering time.
    owner.handle_timeout(t0 + Duration::from_secs(60), 0);
    owner.check().expect("consistent after expiry");
}

#[test]
fn a_restarted_sender_starts_its_numbers_again() {
    let mut owner = part(2);
    let t0 = Instant::now();
    let conn = (2 << 48) + 1;
    let h = owner.receive(t0, &forward(5, conn), 0);
    let key = forwarded_key(&h).expect("runs");
    owner.answer(t0, key, ForwardResult::Lost { seen: false });
    // Forgotten: its duplicate is dropped from now on.
    let later = run_for(&mut owner, t0, Duration::from_secs(60));
    let h = owner.receive(later, &forward(5, conn), 0);
    assert!(forwarded_key(&h).is_none(), "{h:?}");
    assert!(
        h.iter().any(|h| matches!(h, Happened::Refused { .. })),
        "{h:?}"
    );
    // The same node after a restart: a new epoch, numbers from 1 again.
    let restarted = Message::Forward {
        from: NodeRef {
            name: "n1".into(),
            id: 1,
            epoch: 2,
            wake: 0,
        },
        fid: 1,
        conn,
        backend: "B".into(),
        server: "S".into(),
        packet: hex(&[40, 0, 0, 20]),
        timeout_ms: 1000,
        to_wake: None,
    }
    .encode();
    let h = owner.receive(later, &restarted, 0);
    assert!(forwarded_key(&h).is_some(), "{h:?}");
    owner.check().expect("consistent");
}

/// The bus may reorder (the simulation's does; NATS keeps one publisher's order
/// only while its connection lasts): a request overtaken by a later one — even one
/// already answered — is new and is sent. Only a forgotten number is a mark.
#[test]
fn a_request_overtaken_on_the_bus_by_a_later_one_is_still_sent() {
    let mut owner = part(2);
    let t0 = Instant::now();
    let conn = (2 << 48) + 1;
    let h = owner.receive(t0, &forward(9, conn), 0);
    let key = forwarded_key(&h).expect("the later one runs");
    owner.answer(t0, key, ForwardResult::Lost { seen: false });
    let h = owner.receive(t0 + Duration::from_millis(5), &forward(8, conn), 0);
    assert!(
        forwarded_key(&h).is_some(),
        "the overtaken one runs too: {h:?}"
    );
    owner.check().expect("consistent");
}

#[test]
fn refused_messages_are_reported_at_most_once_per_interval_with_a_count() {
    use boomerang_core::cluster::REFUSED_REPORT_INTERVAL;
    let mut owner = part(2);
    let t0 = Instant::now();
    let refused = |h: &[Happened<u32>]| -> Vec<String> {
        h.iter()
            .filter_map(|h| match h {
                Happened::Refused { reason } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(refused(&owner.receive(t0, b"garbage", 0)).len(), 1);
    for _ in 0..5 {
        assert!(refused(&owner.receive(t0, b"garbage", 0)).is_empty());
    }
    let later = owner.receive(t0 + REFUSED_REPORT_INTERVAL, b"garbage", 0);
    let later = refused(&later);
    assert_eq!(later.len(), 1);
    assert!(later[0].contains("5 more refused"), "{later:?}");
    owner.check().expect("consistent");
}

/// Past [`MAX_INCOMING`] requests running at once, one more is answered `QUEUE_FULL`
/// at once, never run, and reported as turned away (the owner's metrics count it);
/// once one running request is answered, new ones run again.
#[test]
fn a_forward_past_the_running_bound_is_answered_queue_full_and_reported() {
    use boomerang_core::cluster::MAX_INCOMING;
    let mut owner = part(2);
    let t0 = Instant::now();
    let conn = (2 << 48) + 1;
    let mut first = None;
    for fid in 1..=MAX_INCOMING as u64 {
        let h = owner.receive(t0, &forward(fid, conn), 0);
        let key = forwarded_key(&h).unwrap_or_else(|| panic!("forward {fid} runs: {h:?}"));
        first.get_or_insert(key);
    }
    assert_eq!(owner.incoming_running(), MAX_INCOMING);
    answers(&mut owner);
    let over = MAX_INCOMING as u64 + 1;
    let h = owner.receive(t0, &forward(over, conn), 0);
    assert!(matches!(h.as_slice(), [Happened::TurnedAway]), "{h:?}");
    match answers(&mut owner).as_slice() {
        [ForwardResult::Error { code, .. }] => assert_eq!(code, "QUEUE_FULL"),
        other => panic!("one QUEUE_FULL answer, got {other:?}"),
    }
    owner.check().expect("within the bounds");
    let Some(key) = first else {
        panic!("no request ran")
    };
    owner.answer(t0, key, ForwardResult::Lost { seen: false });
    let h = owner.receive(t0, &forward(over + 1, conn), 0);
    assert!(forwarded_key(&h).is_some(), "runs again: {h:?}");
    owner.check().expect("consistent");
}

/// Facts of connection `n` of node 1, with long certificate names (a big message).
fn big_facts(n: u64) -> boomerang_core::cluster::wire::ConnFacts {
    use boomerang_core::cluster::wire::{CertFacts, ConnFacts};
    ConnFacts {
        id: (1 << 48) + n,
        client: "ANY_NAS".into(),
        peer: "10.0.0.3:40000".parse().expect("address"),
        server: "RADSEC".into(),
        local: "127.0.0.1:2083".parse().expect("address"),
        transport: "tls".into(),
        connected_us: 1_700_000_000_000_000,
        status_received_us: Some(1_700_000_000_100_000),
        nas_identifier: Some(format!("nas-{n}")),
        last_heard_us: None,
        healthy: true,
        binding: "none".into(),
        cert: Some(CertFacts {
            subject_cn: Some(format!("nas-{n}.access.example.net")),
            issuer: Some("CN=Example Access CA,O=Example,C=NL".into()),
            fingerprint: Some("ab".repeat(32)),
            san_email: Vec::new(),
            san_dns: (0..20)
                .map(|i| format!("ap-{n}-{i}.site-with-a-long-name.access.example.net"))
                .collect(),
            san_uri: Vec::new(),
        }),
    }
}

/// Deliver everything `from` sends to `to`; the sizes of the messages and whether
/// `to` asked anyone for a snapshot.
fn deliver(
    from: &mut ClusterPart<u32>,
    to: &mut ClusterPart<u32>,
    now: Instant,
) -> (Vec<usize>, bool) {
    let mut sizes = Vec::new();
    while let Some((_, data)) = from.poll_send() {
        sizes.push(data.len());
        to.receive(now, &data, 0);
    }
    let mut asked = false;
    while let Some((_, data)) = to.poll_send() {
        asked |= matches!(Message::decode(&data), Ok(Message::SnapshotRequest { .. }));
    }
    (sizes, asked)
}

/// Thousands of connections with long certificate names: every snapshot part and
/// every update stays within the message bound (NATS refuses payloads over its
/// `max_payload`, 1 MiB by default, which would leave the view unrepaired for
/// ever), and the receiver assembles the whole view, then applies a large change
/// as several numbered updates without asking for a snapshot again.
#[test]
fn snapshots_and_updates_of_many_large_connections_stay_within_the_message_bound() {
    use boomerang_core::cluster::MESSAGE_BYTES;
    let bound = MESSAGE_BYTES + 4096;
    let mut n1 = part(1);
    let mut n2 = part(2);
    let t0 = Instant::now();
    n2.bus_state(t0, true, 0);
    while n2.poll_send().is_some() {}
    n1.bus_state(t0, true, 3000);
    let (_, asked) = deliver(&mut n1, &mut n2, t0);
    assert!(asked, "a new node is asked for its snapshot");
    n1.send_snapshot("n2", (0..3000).map(big_facts).collect());
    let (sizes, _) = deliver(&mut n1, &mut n2, t0);
    assert!(sizes.len() > 3, "in several parts: {sizes:?}");
    assert!(sizes.iter().all(|s| *s <= bound), "{sizes:?}");
    assert_eq!(n2.view().len(), 3000);
    // 3,000 new connections and 2,000 closed: one change, several updates.
    n1.publish(
        (3000..6000).map(big_facts).collect(),
        (0..2000).map(|n| (1 << 48) + n).collect(),
    );
    let (sizes, asked) = deliver(&mut n1, &mut n2, t0);
    assert!(sizes.len() > 1, "{sizes:?}");
    assert!(sizes.iter().all(|s| *s <= bound), "{sizes:?}");
    assert!(!asked, "no gap: no snapshot asked");
    assert_eq!(n2.view().len(), 4000);
    // A small change is still one update.
    n1.publish(vec![big_facts(7000)], vec![(1 << 48) + 2000]);
    let (sizes, asked) = deliver(&mut n1, &mut n2, t0);
    assert_eq!(sizes.len(), 1);
    assert!(!asked);
    assert_eq!(n2.view().len(), 4000);
    n1.check().expect("sender consistent");
    n2.check().expect("receiver consistent");
}

/// `forward(fid, conn)` naming the owner's wake-up count `to_wake`.
fn forward_to(fid: u64, conn: u64, to_wake: Option<u64>) -> Vec<u8> {
    let mut msg = Message::decode(&forward(fid, conn)).unwrap();
    if let Message::Forward { to_wake: w, .. } = &mut msg {
        *w = to_wake;
    }
    msg.encode()
}

/// A node that stalled (stopped, starved) for longer than `node_timeout` has been
/// given up by the others, who failed what they forwarded to it and may have
/// retried it elsewhere. It counts the wake-up and tells it with every message; a
/// forward sent before its sender heard of the wake-up is refused, never sent, and
/// one sent after is run.
#[test]
fn forwards_sent_before_a_stall_of_this_node_was_heard_of_are_refused_not_sent() {
    let mut owner = part(2);
    let t0 = Instant::now();
    let conn = (2 << 48) + 1;
    owner.handle_timeout(t0, 0);
    answers(&mut owner);
    // Running normally (a heartbeat a second): a forward runs.
    let t1 = run_for(&mut owner, t0, Duration::from_secs(2));
    let h = owner.receive(t1, &forward_to(1, conn, Some(0)), 0);
    assert!(
        h.iter().any(|h| matches!(h, Happened::Forwarded { .. })),
        "{h:?}"
    );
    assert_eq!(owner.me().wake, 0);
    // Stalled for 10 s (node_timeout is 3 s): a forward from before is refused.
    let resumed = t1 + Duration::from_secs(10);
    let h = owner.receive(resumed, &forward_to(2, conn, Some(0)), 0);
    assert_eq!(owner.me().wake, 1, "the wake-up is counted");
    assert!(
        !h.iter().any(|h| matches!(h, Happened::Forwarded { .. })),
        "a forward from before the wake-up is not sent: {h:?}"
    );
    assert!(
        h.iter().any(|h| matches!(h, Happened::Refused { .. })),
        "and the refusal is reported: {h:?}"
    );
    let refused = answers(&mut owner);
    assert!(
        refused.iter().any(|r| matches!(
            r,
            ForwardResult::Error { code, .. } if code == "BACKEND_ERROR"
        )),
        "its sender is told: {refused:?}"
    );
    // The heartbeat tells the count.
    owner.handle_timeout(resumed + Duration::from_secs(1), 0);
    let told = std::iter::from_fn(|| owner.poll_send()).any(|(_, data)| {
        matches!(Message::decode(&data), Ok(Message::Heartbeat { from, .. }) if from.wake == 1)
    });
    assert!(told, "the heartbeat carries the wake-up count");
    // A forward sent after its sender heard it runs, at once.
    let h = owner.receive(resumed, &forward_to(3, conn, Some(1)), 0);
    assert!(
        h.iter().any(|h| matches!(h, Happened::Forwarded { .. })),
        "{h:?}"
    );
    // And so does one from a sender that does not tell (an older node).
    let h = owner.receive(resumed, &forward_to(4, conn, None), 0);
    assert!(
        h.iter().any(|h| matches!(h, Happened::Forwarded { .. })),
        "{h:?}"
    );
    // A duplicate of the refused one is refused again, not sent.
    let h = owner.receive(resumed, &forward_to(2, conn, Some(0)), 0);
    assert!(
        !h.iter().any(|h| matches!(h, Happened::Forwarded { .. })),
        "{h:?}"
    );
    owner.check().expect("consistent");
}

/// Two nodes that share a node_id make every other node's view flip between them:
/// the node that hears both says so.
#[test]
fn two_names_for_one_node_id_are_reported() {
    let mut observer = part(2);
    let t0 = Instant::now();
    let heartbeat = |name: &str, epoch: u64| {
        Message::Heartbeat {
            from: NodeRef {
                name: name.into(),
                id: 3,
                epoch,
                wake: 0,
            },
            seq: 0,
            conns: 0,
        }
        .encode()
    };
    let h = observer.receive(t0, &heartbeat("n3", 1), 0);
    assert!(
        !h.iter().any(|h| matches!(h, Happened::Refused { .. })),
        "{h:?}"
    );
    let h = observer.receive(t0, &heartbeat("n9", 2), 0);
    let reported = h.iter().any(|h| {
        matches!(h, Happened::Refused { reason } if reason.contains("node_id 3 was node \"n3\" and is now \"n9\""))
    });
    assert!(reported, "{h:?}");
}
