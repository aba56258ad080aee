//! Heap bytes the engine keeps per NAS connection, counted exactly: this test
//! binary's global allocator tallies live bytes (it only delegates to the system
//! allocator), and the fleet's inputs are built before the count starts.
//!
//! ```text
//! cargo test -p boomerang-sim --release --test core_sim_memory -- --nocapture
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use boomerang_sim::core_sim::{feed, fleet_engine, fleet_inputs};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the only
// addition is an atomic counter of live bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The count is of the whole process: each test holds this while it counts, so
/// that tests running in parallel do not count each other's allocations.
static COUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn counting() -> std::sync::MutexGuard<'static, ()> {
    COUNTING.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn heap_bytes_per_connection() {
    const N: usize = 10_000;
    let _alone = counting();
    let mut engine = fleet_engine();
    let inputs = fleet_inputs(N);
    let before = LIVE.load(Ordering::Relaxed);
    feed(&mut engine, &inputs);
    let after = LIVE.load(Ordering::Relaxed);
    assert_eq!(engine.counts().connections, N);
    let per = (after - before) as f64 / N as f64;
    println!("engine heap per connection ({N} connections, after Status-Server): {per:.0} bytes");
    // A loose ceiling, so that a regression that makes connections balloon fails.
    assert!(per < 16_384.0, "{per} bytes per connection");
}

/// Heap bytes a node keeps per connection of *another* node in its view of the
/// cluster (the facts `@select` reads and the indexes over them), from a snapshot of
/// 10,000 connections with NAS-Identifiers and certificate names; the messages are
/// encoded before the count starts.
#[test]
fn heap_bytes_per_remote_connection_in_the_cluster_view() {
    use std::time::Instant;

    use boomerang_core::cluster::wire::{CertFacts, ConnFacts};
    use boomerang_core::cluster::{ClusterPart, Message, NodeRef};
    use boomerang_sim::core_sim::cluster::ClusterConfig;

    const N: u64 = 10_000;
    let _alone = counting();
    let config = ClusterConfig::small(1).cluster(1);
    let mut part: ClusterPart<u32> = ClusterPart::new(config, 1);
    let t0 = Instant::now();
    part.bus_state(t0, true, 0);
    let from = NodeRef {
        name: "n2".into(),
        id: 2,
        epoch: 9,
        wake: 0,
    };
    let facts = |n: u64| ConnFacts {
        id: (2 << 48) + n,
        client: "ANY_NAS".into(),
        peer: std::net::SocketAddr::from(([10, 1, (n >> 8) as u8, n as u8], 40_000)),
        server: "RADSEC_SERVER".into(),
        local: std::net::SocketAddr::from(([10, 0, 0, 1], 2083)),
        transport: "tls".into(),
        connected_us: 1_700_000_000_000_000 + n,
        status_received_us: Some(1_700_000_000_100_000 + n),
        nas_identifier: Some(format!("ap-{n:06}")),
        last_heard_us: None,
        healthy: true,
        binding: "none".into(),
        cert: Some(CertFacts {
            subject_cn: Some(format!("ap-{n:06}.wifi.example.net")),
            issuer: Some("CN=Example Wi-Fi CA".into()),
            fingerprint: None,
            san_email: Vec::new(),
            san_dns: Vec::new(),
            san_uri: Vec::new(),
        }),
    };
    let heartbeat = Message::Heartbeat {
        from: from.clone(),
        seq: 0,
        conns: N,
    }
    .encode();
    let conns: Vec<ConnFacts> = (1..=N).map(facts).collect();
    let parts: Vec<Vec<u8>> = conns
        .chunks(1000)
        .enumerate()
        .map(|(i, chunk)| {
            Message::Snapshot {
                from: from.clone(),
                seq: 0,
                part: i as u32,
                parts: (N / 1000) as u32,
                conns: chunk.to_vec(),
            }
            .encode()
        })
        .collect();
    part.receive(t0, &heartbeat, 0);
    while part.poll_send().is_some() {}
    let before = LIVE.load(Ordering::Relaxed);
    for p in &parts {
        part.receive(t0, p, 0);
    }
    while part.poll_send().is_some() {}
    let after = LIVE.load(Ordering::Relaxed);
    assert_eq!(part.view().len(), N as usize);
    let per = (after - before) as f64 / N as f64;
    println!("cluster view heap per remote connection ({N} connections): {per:.0} bytes");
    assert!(per < 8_192.0, "{per} bytes per remote connection");
}
