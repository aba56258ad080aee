//! Fuzz body for the cluster bus: what another node — or anyone who can publish on
//! the cluster's NATS subjects — sends to this one.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;

use crate::contract::{ConnId, Input, Output, ServerId, Transport};
use crate::engine::Engine;
use crate::engine::options::{EngineOptions, Limits};
use crate::engine::time::Now;
use crate::lang::compile::{CompileOptions, compile};
use crate::lang::load::{MemoryLoader, load_text};
use crate::lang::program::Program;
use crate::radius::code::Code;
use crate::rng::SplitMix64;

/// Node "a" of the shipped cluster example: a RadSec server for NAS connections,
/// reverse backends, `cluster { name "example"; node "a"; node_id 1; … }`.
const NODE_CONFIG: &str = include_str!("../../../config/examples/cluster/node-a.conf");

/// The connection of this node that a forward may name: the first one of node 1.
pub const LOCAL_CONN: u64 = (1 << 48) + 1;

/// At most this many messages per input (libFuzzer's inputs stay small anyway).
const MAX_MESSAGES: usize = 256;

/// At most this many timer wake-ups per step: a bug that keeps a timer due would
/// otherwise loop for ever.
const MAX_WAKEUPS: usize = 10_000;

fn program() -> &'static Arc<Program> {
    static PROGRAM: OnceLock<Arc<Program>> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let loaded = load_text(&MemoryLoader::new(), "node-a.conf", NODE_CONFIG);
        let compiled = compile(&loaded, &CompileOptions::default());
        match compiled.program {
            Some(p) => Arc::new(p),
            None => panic!(
                "the cluster example does not compile:\n{}",
                compiled.render(&loaded.sources)
            ),
        }
    })
}

/// Feed `data`, split at newlines into bus messages (the wire format is one line of
/// JSON), to an engine of a cluster whose bus is up and which holds one NAS
/// connection ([`LOCAL_CONN`]), a quarter of a second apart; then let every timer run
/// out. The engine must never panic, and its invariants (the cluster part's among
/// them) must hold after every message and at the end.
///
/// `base` is any instant: only differences from it are used (the core reads no
/// clock; the caller supplies it).
pub fn bus_messages(data: &[u8], base: Instant) -> BusReport {
    let mut report = BusReport::default();
    let program = program();
    let server = program
        .servers
        .iter()
        .position(|s| s.name == "RADSEC_SERVER")
        .and_then(|i| u32::try_from(i).ok())
        .map(ServerId)
        .unwrap_or(ServerId(0));
    let mut engine = Engine::new(
        program.clone(),
        EngineOptions {
            rng: Box::new(SplitMix64::new(1)),
            env: BTreeMap::new(),
            limits: Limits::default(),
        },
    );
    let wall0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let at = |t: Duration| Now {
        mono: base + t,
        wall: wall0 + t,
    };
    let mut t = Duration::ZERO;
    engine.handle(
        at(t),
        Input::BusState {
            up: true,
            detail: "fuzz".into(),
        },
    );
    engine.handle(
        at(t),
        Input::StreamOpened {
            conn: ConnId(LOCAL_CONN),
            server,
            peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 40000),
            local: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2083),
            transport: Transport::Tls,
            peer_certificates: Vec::new(),
        },
    );
    drain(&mut engine, &mut report);
    for message in data.split(|b| *b == b'\n').take(MAX_MESSAGES) {
        t += Duration::from_millis(250);
        run_timers(&mut engine, at(t), &mut report);
        engine.handle(
            at(t),
            Input::Bus {
                data: Bytes::copy_from_slice(message),
            },
        );
        drain(&mut engine, &mut report);
        if let Err(e) = engine.check_invariants() {
            panic!("engine invariant after a bus message: {e}");
        }
    }
    t += Duration::from_secs(120);
    run_timers(&mut engine, at(t), &mut report);
    drain(&mut engine, &mut report);
    if let Err(e) = engine.check_invariants() {
        panic!("engine invariant once every timer ran out: {e}");
    }
    report
}

/// What the engine did with the messages (for tests that a seed reaches deep).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BusReport {
    /// Disconnect-Requests and CoA-Requests written to the NAS connection: the
    /// forwarded requests sent (the liveness probe's Status-Servers are not counted).
    pub written: usize,
    /// Messages the engine published on the bus.
    pub published: Vec<Bytes>,
}

/// Run every timer due by `now`, each at its own time.
fn run_timers(engine: &mut Engine, now: Now, report: &mut BusReport) {
    for _ in 0..MAX_WAKEUPS {
        match engine.poll_timeout() {
            Some(due) if due <= now.mono => {
                let wall = now.wall - now.mono.saturating_duration_since(due);
                engine.handle_timeout(Now { mono: due, wall });
                drain(engine, report);
            }
            _ => return,
        }
    }
    panic!("a timer is still due after {MAX_WAKEUPS} wake-ups at one instant");
}

/// Take every output and event (nothing answers: the NAS never replies).
fn drain(engine: &mut Engine, report: &mut BusReport) {
    while let Some(output) = engine.poll_output() {
        match output {
            Output::StreamWrite { conn, data }
                if conn == ConnId(LOCAL_CONN)
                    && matches!(data.first(), Some(&c) if c == u8::from(Code::DisconnectRequest) || c == u8::from(Code::CoaRequest)) =>
            {
                report.written += 1
            }
            Output::Bus { data, .. } => report.published.push(data),
            _ => {}
        }
    }
    while engine.poll_event().is_some() {}
}
