//! The cluster part alone: a forwarded request is run once however often it
//! arrives, answered again from memory, and refused when it is garbage or names a
//! connection another node owns.

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
        },
        fid,
        conn,
        backend: "B".into(),
        server: "S".into(),
        packet: hex(&[40, 0, 0, 20]),
        timeout_ms: 1000,
    }
    .encode()
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
