//! A cluster of engines on the simulated bus: one view of every node's
//! connections, `@select` over it, forwarding to the connection's owner, lost and
//! duplicated bus messages, a node cut off and a node restarted.

mod engine_support;

use std::time::Duration;

use engine_support::*;

use boomerang_core::eval::select::SelectMode;
use boomerang_core::radius::code::Code;

fn world(nodes: u16) -> ClusterWorld {
    ClusterWorld::new(ReverseSpec::default(), nodes)
}

#[test]
fn every_node_sees_every_connection_in_one_order() {
    let mut w = world(3);
    let a = w.nas(0, 1, "ap-a", NasMode::Ack);
    let b = w.nas(1, 2, "ap-b", NasMode::Ack);
    let c = w.nas(2, 3, "ap-c", NasMode::Ack);
    w.advance(Duration::from_millis(200));
    let all = vec![a.0, b.0, c.0];
    for i in 0..3 {
        assert_eq!(w.view(i), all, "node {i}'s view");
    }
    // Connection numbers name their owner.
    assert_eq!(a.0 >> 48, 1);
    assert_eq!(b.0 >> 48, 2);
    // A closed connection leaves every view.
    ok_close(&mut w, 1, b);
    w.advance(Duration::from_millis(200));
    for i in 0..3 {
        assert_eq!(w.view(i), vec![a.0, c.0], "node {i}'s view after the close");
    }
    w.check();
}

fn ok_close(w: &mut ClusterWorld, i: usize, conn: boomerang_core::engine::ConnId) {
    let node = w.nodes[i];
    w.net.nas_close(node, conn).expect("close");
}

#[test]
fn a_trigger_on_any_node_reaches_a_nas_on_another_and_is_answered() {
    let mut w = world(3);
    let b = w.nas(1, 2, "ap-b", NasMode::Ack);
    w.advance(Duration::from_millis(200));
    for trigger_node in 0..3 {
        let id = w.trigger(trigger_node, "ap-b");
        w.advance(Duration::from_millis(200));
        let (status, body) = w.response(trigger_node, id).expect("answered");
        assert_eq!(status, 200, "{body}");
    }
    // One Disconnect-Request per trigger, all on node 1's connection.
    let sent = w.requests_to(1, b);
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|p| p.code == Code::DisconnectRequest));
    let forwarded: usize = (0..3)
        .map(|i| {
            w.net
                .count_reported(w.nodes[i], |e| *e == Event::Reverse(ReverseStep::Forwarded))
        })
        .sum();
    assert_eq!(forwarded, 2, "two of the three triggers were forwarded");
    w.check();
}

#[test]
fn no_connection_anywhere_is_no_reverse_connections() {
    let mut w = world(2);
    w.nas(1, 2, "ap-b", NasMode::Ack);
    w.advance(Duration::from_millis(200));
    let id = w.trigger(0, "nobody");
    w.advance(Duration::from_millis(200));
    let (status, body) = w.response(0, id).expect("answered");
    assert_eq!(status, 500);
    assert_eq!(body["error"], "NO_REVERSE_CONNECTIONS");
}

#[test]
fn round_robin_spreads_over_connections_of_several_nodes() {
    let mut w = ClusterWorld::new(
        ReverseSpec {
            mode: SelectMode::RoundRobin,
            ..ReverseSpec::default()
        },
        3,
    );
    let conns = [
        (0, w.nas(0, 1, "ap", NasMode::Ack)),
        (1, w.nas(1, 2, "ap", NasMode::Ack)),
        (2, w.nas(2, 3, "ap", NasMode::Ack)),
    ];
    w.advance(Duration::from_millis(200));
    for _ in 0..6 {
        let id = w.trigger(0, "ap");
        w.advance(Duration::from_millis(200));
        assert_eq!(w.response(0, id).expect("answered").0, 200);
    }
    for (i, c) in conns {
        assert_eq!(w.requests_to(i, c).len(), 2, "connection {c} on node {i}");
    }
    w.check();
}

#[test]
fn the_owners_timeout_is_reverse_timeout_at_the_trigger() {
    let mut w = world(2);
    let b = w.nas(1, 2, "ap-b", NasMode::Hold);
    w.advance(Duration::from_millis(200));
    let id = w.trigger(0, "ap-b");
    w.advance(Duration::from_secs(6));
    let (status, body) = w.response(0, id).expect("answered");
    assert_eq!(status, 500);
    assert_eq!(body["error"], "REVERSE_TIMEOUT");
    assert_eq!(w.requests_to(1, b).len(), 1);
    w.check();
}

#[test]
fn an_owner_cut_off_mid_request_ends_it_with_an_error_and_never_sends_twice() {
    let mut w = world(3);
    let b = w.nas(1, 2, "ap-b", NasMode::Hold);
    w.advance(Duration::from_millis(200));
    let id = w.trigger(0, "ap-b");
    w.advance(Duration::from_millis(100));
    assert_eq!(w.requests_to(1, b).len(), 1, "the owner sent it");
    w.net.bus.cut.insert(w.nodes[1].0);
    // Within the node timeout plus a heartbeat, node 0 gives node 1 up.
    w.advance(Duration::from_secs(5));
    let (status, body) = w.response(0, id).expect("an error answer, not silence");
    assert_eq!(status, 500);
    assert_eq!(body["error"], "CONNECTION_CLOSED");
    assert_eq!(
        w.view(0),
        Vec::<u64>::new(),
        "node 1's connections left the view"
    );
    assert_eq!(w.requests_to(1, b).len(), 1, "never a second send");
    // Healed: node 1 and its connection are back in every view.
    w.net.bus.cut.clear();
    w.advance(Duration::from_secs(3));
    for i in 0..3 {
        assert_eq!(w.view(i), vec![b.0], "node {i} after the heal");
    }
    w.check();
}

#[test]
fn lost_updates_are_detected_and_repaired() {
    let mut w = world(3);
    w.net.bus.loss_permille = 500;
    let mut conns = Vec::new();
    for k in 0..12u8 {
        let i = usize::from(k % 3);
        conns.push(w.nas(i, 10 + k, &format!("ap-{k}"), NasMode::Ack).0);
    }
    w.advance(Duration::from_secs(1));
    w.net.bus.loss_permille = 0;
    // Heartbeats reveal the gaps; snapshots repair them.
    w.advance(Duration::from_secs(5));
    conns.sort_unstable();
    for i in 0..3 {
        assert_eq!(w.view(i), conns, "node {i}'s view after repair");
    }
    assert!(w.net.bus.lost > 0, "the bus did lose messages");
    w.check();
}

#[test]
fn a_restarted_node_leaves_no_stale_connections_and_its_nas_are_reached_elsewhere() {
    let mut w = world(3);
    let b = w.nas(1, 2, "ap-b", NasMode::Ack);
    w.advance(Duration::from_millis(200));
    assert_eq!(w.view(0), vec![b.0]);
    // Node 1 crashes and comes back empty; its NAS reconnects to node 2.
    let engine = ClusterWorld::engine(&w.p.program.clone(), 2, Default::default(), 99);
    let node1 = w.nodes[1];
    w.net.restart(node1, engine).expect("restart");
    w.bus_up(1);
    let again = w.nas(2, 2, "ap-b", NasMode::Ack);
    w.advance(Duration::from_secs(1));
    for i in 0..3 {
        assert_eq!(w.view(i), vec![again.0], "node {i} after the restart");
    }
    let id = w.trigger(1, "ap-b");
    w.advance(Duration::from_millis(200));
    assert_eq!(w.response(1, id).expect("answered").0, 200);
    assert_eq!(w.requests_to(2, again).len(), 1);
    w.check();
}

#[test]
fn a_reload_that_changes_the_cluster_section_is_refused() {
    let mut w = world(2);
    let mut program = (**w.net.engine(w.nodes[0]).program()).clone();
    if let Some(c) = &mut program.cluster {
        c.node_timeout = Duration::from_secs(10);
    }
    let now = w.net.now();
    let node = w.nodes[0];
    let result = w
        .net
        .engine_mut(node)
        .reload(now, std::sync::Arc::new(program));
    assert_eq!(
        result.err(),
        Some(boomerang_core::engine::ReloadError::ClusterChanged)
    );
}

/// The `Forward` events of node `i`, as (side, end, has latency).
fn forwards(
    w: &ClusterWorld,
    i: usize,
) -> Vec<(
    boomerang_core::contract::ForwardSide,
    boomerang_core::contract::ForwardEnd,
    bool,
)> {
    w.net
        .reported()
        .iter()
        .filter(|r| r.node == w.nodes[i])
        .filter_map(|r| match &r.event {
            boomerang_core::contract::Event::Forward { side, end, latency } => {
                Some((*side, *end, latency.is_some()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn each_end_of_a_forwarded_request_reports_how_it_ended_once() {
    use boomerang_core::contract::{ForwardEnd, ForwardSide};
    let mut w = world(3);
    w.nas(1, 2, "ap-b", NasMode::Ack);
    w.nas(2, 3, "ap-c", NasMode::Hold);
    w.advance(Duration::from_millis(200));
    let ok = w.trigger(0, "ap-b");
    w.advance(Duration::from_millis(200));
    assert_eq!(w.response(0, ok).expect("answered").0, 200);
    let late = w.trigger(0, "ap-c");
    w.advance(Duration::from_secs(6));
    assert_eq!(w.response(0, late).expect("answered").0, 500);
    // A local send is not a forward.
    let local = w.trigger(1, "ap-b");
    w.advance(Duration::from_millis(200));
    assert_eq!(w.response(1, local).expect("answered").0, 200);
    assert_eq!(
        forwards(&w, 0),
        vec![
            (ForwardSide::Sent, ForwardEnd::Reply, true),
            (ForwardSide::Sent, ForwardEnd::Timeout, true),
        ]
    );
    assert_eq!(
        forwards(&w, 1),
        vec![(ForwardSide::Served, ForwardEnd::Reply, false)]
    );
    assert_eq!(
        forwards(&w, 2),
        vec![(ForwardSide::Served, ForwardEnd::Timeout, false)]
    );
    let sizes = w.net.engine(w.nodes[0]).cluster_sizes().expect("a cluster");
    assert_eq!((sizes.nodes, sizes.view_connections), (2, 2));
    assert_eq!(sizes.forwarded_waiting, 0);
}

/// Two nodes with `retries 1`, a NAS named `ap` on each: node 0's holds every
/// request (and is first in cluster order), node 1's acknowledges.
fn retry_world() -> (
    ClusterWorld,
    boomerang_core::engine::ConnId,
    boomerang_core::engine::ConnId,
) {
    let mut w = ClusterWorld::new(
        ReverseSpec {
            retries: 1,
            ..ReverseSpec::default()
        },
        2,
    );
    let a = w.nas(0, 1, "ap", NasMode::Hold);
    let b = w.nas(1, 2, "ap", NasMode::Ack);
    w.advance(Duration::from_millis(200));
    (w, a, b)
}

/// After a retry: answered 200 from node `at`, one request to node 1's NAS `b`,
/// never a second to node 0's `a`.
fn answered_by_the_retry(
    w: &ClusterWorld,
    at: usize,
    id: boomerang_core::engine::HttpRequestId,
    a: boomerang_core::engine::ConnId,
    b: boomerang_core::engine::ConnId,
) {
    let (status, body) = w.response(at, id).expect("answered after the retry");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        w.requests_to(1, b).len(),
        1,
        "the retry went to node 1's NAS"
    );
    assert_eq!(
        w.requests_to(0, a).len(),
        1,
        "never a second send to the first"
    );
}

/// `retries` can pick a connection on another node: the chosen connection (local)
/// closes with the request written, the retry selects again over the cluster and
/// the only candidate left is on another node, reached by a forward.
#[test]
fn a_retry_after_a_local_connection_closed_picks_a_connection_on_another_node() {
    let (mut w, a, b) = retry_world();
    let id = w.trigger(0, "ap");
    w.advance(Duration::from_millis(100));
    assert_eq!(
        w.requests_to(0, a).len(),
        1,
        "first in cluster order: node 0's"
    );
    assert!(w.response(0, id).is_none(), "the NAS holds it");
    ok_close(&mut w, 0, a);
    w.advance(Duration::from_millis(300));
    answered_by_the_retry(&w, 0, id, a, b);
    w.check();
}

/// The owner lost mid-request (the outcome unknown) spends a retry, as a closed
/// connection does; the retry picks a connection that is still in the view.
#[test]
fn a_retry_after_the_owner_was_lost_picks_a_connection_still_in_the_view() {
    let (mut w, a, b) = retry_world();
    // On node 1; node 0's connection is first in cluster order: forwarded.
    let id = w.trigger(1, "ap");
    w.advance(Duration::from_millis(100));
    assert_eq!(w.requests_to(0, a).len(), 1, "the owner sent it");
    w.net.bus.cut.insert(w.nodes[0].0);
    w.advance(Duration::from_secs(5));
    answered_by_the_retry(&w, 1, id, a, b);
    w.net.bus.cut.clear();
    w.advance(Duration::from_secs(3));
    w.check();
}

/// A reload that keeps the `cluster` section, on the owner and on the trigger's node
/// while a forwarded request waits for its NAS: the request is answered once, every
/// view still holds every connection, and new triggers are forwarded as before.
#[test]
fn a_reload_mid_forward_keeps_the_view_and_the_request() {
    let mut w = ClusterWorld::new(
        ReverseSpec {
            timeout: Duration::from_secs(2),
            ..ReverseSpec::default()
        },
        2,
    );
    let a = w.nas(0, 1, "ap-a", NasMode::Ack);
    let b = w.nas(1, 2, "ap-b", NasMode::Hold);
    w.advance(Duration::from_millis(200));
    let id = w.trigger(0, "ap-b");
    w.advance(Duration::from_millis(100));
    assert_eq!(w.requests_to(1, b).len(), 1, "the owner sent it");
    for i in 0..2 {
        let node = w.nodes[i];
        let program = w.net.engine(node).program().clone();
        let now = w.net.now();
        let reloaded = w.net.engine_mut(node).reload(now, program);
        assert!(reloaded.is_ok(), "node {i}: {:?}", reloaded.err());
    }
    w.advance(Duration::from_secs(4));
    let (status, body) = w.response(0, id).expect("an answer, not silence");
    assert_eq!(status, 500);
    assert_eq!(body["error"], "REVERSE_TIMEOUT", "the owner's timeout");
    assert_eq!(w.requests_to(1, b).len(), 1, "never a second send");
    for i in 0..2 {
        assert_eq!(
            w.view(i),
            vec![a.0, b.0],
            "node {i}'s view after the reload"
        );
    }
    let id = w.trigger(1, "ap-a");
    w.advance(Duration::from_millis(200));
    assert_eq!(w.response(1, id).expect("answered").0, 200);
    assert_eq!(w.requests_to(0, a).len(), 1);
    w.check();
}
