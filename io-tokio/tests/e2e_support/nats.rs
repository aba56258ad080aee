//! A real `nats-server` for the tests (Debian's package; `.ci/setup` installs it),
//! started on a loopback port and killed on drop. Without it the tests that need it
//! are skipped loudly, except in CI (`CI` set), where a missing server fails them.
//!
//! Used by `bus_nats.rs` and `bus_driver.rs` (as `#[path = "e2e_support/nats.rs"] mod nats;`) and by the
//! end-to-end tests through `e2e_support::nats`.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Bound on waiting for the server to accept connections.
const START_WAIT: Duration = Duration::from_secs(15);

/// `nats-server`, or `None` (with a loud message) when it is not installed and `CI`
/// is not set; with `CI` set a missing server fails the test.
pub fn nats_server() -> Option<PathBuf> {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("nats-server");
        if p.is_file() {
            return Some(p);
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("nats-server is required in CI; .ci/setup installs it");
    }
    eprintln!("SKIPPED: nats-server is not installed; install Debian's nats-server package");
    None
}

/// A free loopback TCP port (bound to port 0, then let go), never one this test
/// process was handed before ([`fresh_port`]).
pub fn free_port() -> u16 {
    fresh_port(|| {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        l.local_addr().expect("local address").port()
    })
}

/// A port `pick` finds free that this test process has not been handed yet. One
/// bound and let go at a time, the kernel may hand out the same free port twice in
/// a row: a test once got one port for two of a server's listeners, and the
/// server refused its configuration. TCP and UDP share the one set.
pub fn fresh_port(pick: impl Fn() -> u16) -> u16 {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = pick();
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// A running `nats-server`, killed on drop.
pub struct NatsServer {
    child: Child,
    /// Its client port on 127.0.0.1.
    pub port: u16,
}

impl NatsServer {
    /// Start `nats-server -a 127.0.0.1 -p PORT EXTRA…` and wait until it accepts.
    pub fn start(bin: &Path, port: u16, extra: &[&str]) -> NatsServer {
        let child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let mut server = NatsServer { child, port };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_WAIT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("nats-server on {addr} exited at once with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not accept on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The URL the nodes name in `cluster { nats { server … } }`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
