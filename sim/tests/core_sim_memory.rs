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

#[test]
fn heap_bytes_per_connection() {
    const N: usize = 10_000;
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
