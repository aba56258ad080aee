//! The cluster bus against a real `nats-server` (Debian's package; `.ci/setup`
//! installs it). Without it the tests are skipped loudly, except in CI (`CI` set),
//! where a missing server fails them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use boomerang_core::contract::BusTarget;
use boomerang_core::engine::Input;
use boomerang_core::lang::program::{Cluster, Nats, NatsAuth};
use boomerang_io_tokio::driver::bus::{Bus, BusSettings, BusStatus};
use boomerang_io_tokio::metrics::Metrics;
use bytes::Bytes;
use tokio::sync::mpsc;

#[path = "e2e_support/nats.rs"]
mod nats;

use nats::{NatsServer as Server, free_port, nats_server};

/// Bound on every wait.
const WAIT: Duration = Duration::from_secs(15);

fn cluster(node: &str, node_id: u16, port: u16, auth: NatsAuth) -> Cluster {
    Cluster {
        name: "test".to_owned(),
        node: node.to_owned(),
        node_id,
        nats: Nats {
            servers: vec![format!("nats://127.0.0.1:{port}")],
            tls: None,
            auth,
            connect_timeout: Duration::from_secs(2),
        },
        heartbeat: Duration::from_secs(1),
        node_timeout: Duration::from_secs(5),
        forward_margin: Duration::from_secs(1),
    }
}

/// One node's bus and what it hands to the engine.
struct Node {
    bus: Bus,
    inputs: mpsc::Receiver<Input>,
    metrics: Arc<Metrics>,
    status: BusStatus,
}

async fn node(name: &str, node_id: u16, port: u16, auth: NatsAuth) -> Node {
    let settings = BusSettings::new(&cluster(name, node_id, port, auth)).expect("settings");
    let (tx, inputs) = mpsc::channel(256);
    let metrics = Arc::new(Metrics::new("test"));
    let status = BusStatus::default();
    let bus = Bus::start(settings, tx, metrics.clone(), status.clone())
        .await
        .expect("start the bus");
    Node {
        bus,
        inputs,
        metrics,
        status,
    }
}

impl Node {
    /// The next bus state reported, skipping messages; panics after [`WAIT`].
    async fn state(&mut self) -> (bool, String) {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                match self.inputs.recv().await {
                    Some(Input::BusState { up, detail }) => return (up, detail),
                    Some(_) => continue,
                    None => panic!("the bus stopped"),
                }
            }
        })
        .await;
        found.expect("no bus state reported in time")
    }

    /// Wait until the bus reports `up` (earlier states are skipped).
    async fn until(&mut self, up: bool) -> String {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let (now, detail) = self.state().await;
                if now == up {
                    return detail;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("the bus did not report up={up} in time"))
    }

    /// The next message received within `within`, skipping states.
    async fn message(&mut self, within: Duration) -> Option<Bytes> {
        tokio::time::timeout(within, async {
            loop {
                match self.inputs.recv().await {
                    Some(Input::Bus { data }) => return Some(data),
                    Some(_) => continue,
                    None => return None,
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// Publish until `receiver` gets a message (subscriptions are made in the
    /// background: the first messages may precede them); returns what it got.
    async fn send_until_received(&self, receiver: &mut Node, to: &BusTarget, data: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            self.bus
                .publish(to, Bytes::copy_from_slice(data.as_bytes()));
            if let Some(got) = receiver.message(Duration::from_millis(300)).await {
                assert_eq!(got, data.as_bytes());
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "message {data} never arrived"
            );
        }
    }
}

/// Drain what is already queued for a node (messages of earlier steps).
async fn drain(node: &mut Node) {
    while node.message(Duration::from_millis(200)).await.is_some() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_reaches_every_node_node_reaches_one_and_the_bus_rejoins() {
    let Some(bin) = nats_server() else {
        return;
    };
    let port = free_port();
    let server = Server::start(&bin, port, &[]);
    let mut a = node("a", 1, port, NatsAuth::None).await;
    let mut b = node("b", 2, port, NatsAuth::None).await;
    let detail = a.until(true).await;
    assert!(detail.contains("connected"), "{detail}");
    b.until(true).await;
    assert!(a.status.get().0);

    // All: both get it (a its own message too).
    a.send_until_received(&mut b, &BusTarget::All, "hello-all")
        .await;
    assert_eq!(
        a.message(WAIT).await.as_deref(),
        Some(&b"hello-all"[..]),
        "the sender receives its own `all` message"
    );
    drain(&mut a).await;
    drain(&mut b).await;

    // Node("b"): b gets it, a does not.
    a.bus.publish(
        &BusTarget::Node("b".to_owned()),
        Bytes::from_static(b"to-b"),
    );
    assert_eq!(b.message(WAIT).await.as_deref(), Some(&b"to-b"[..]));
    assert_eq!(a.message(Duration::from_millis(500)).await, None);

    let metrics = a.metrics.encode();
    assert!(
        metrics.contains(r#"cluster_bus_up{cluster="test"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"cluster_bus_messages_total{cluster="test",direction="sent"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"cluster_bus_messages_total{cluster="test",direction="received"}"#),
        "{metrics}"
    );

    // The server goes away: both report down.
    drop(server);
    let down = a.until(false).await;
    assert!(!down.is_empty());
    b.until(false).await;
    assert!(!a.status.get().0);
    assert!(
        a.metrics
            .encode()
            .contains(r#"cluster_bus_up{cluster="test"} 0"#)
    );
    // While down, messages are dropped (counted), never waited on.
    a.bus.publish(&BusTarget::All, Bytes::from_static(b"lost"));

    // It comes back on the same port: both rejoin by themselves and messages flow.
    let _server = Server::start(&bin, port, &[]);
    let rejoined = a.until(true).await;
    assert!(rejoined.contains("rejoined"), "{rejoined}");
    b.until(true).await;
    drain(&mut a).await;
    drain(&mut b).await;
    b.send_until_received(&mut a, &BusTarget::Node("a".to_owned()), "again")
        .await;
    assert_eq!(b.message(Duration::from_millis(500)).await, None);

    a.bus.close().await;
    b.bus.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_starts_while_nats_is_down_and_joins_when_it_comes() {
    let Some(bin) = nats_server() else {
        return;
    };
    let port = free_port();
    let mut a = node("a", 1, port, NatsAuth::None).await;
    let down = a.until(false).await;
    assert!(down.contains("unreachable"), "{down}");
    let _server = Server::start(&bin, port, &[]);
    let up = a.until(true).await;
    assert!(up.contains("connected"), "{up}");
    a.bus.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_password_are_sent_and_wrong_ones_leave_the_bus_down() {
    let Some(bin) = nats_server() else {
        return;
    };
    let port = free_port();
    let _server = Server::start(&bin, port, &["--user", "u", "--pass", "p"]);
    let good = NatsAuth::UserPassword {
        user: "u".to_owned(),
        password: "p".to_owned(),
    };
    let mut a = node("a", 1, port, good).await;
    a.until(true).await;

    let wrong = NatsAuth::UserPassword {
        user: "u".to_owned(),
        password: "wrong".to_owned(),
    };
    let mut b = node("b", 2, port, wrong).await;
    let (up, detail) = b.state().await;
    assert!(!up, "wrong credentials must not bring the bus up: {detail}");
    assert!(detail.contains("authorization"), "{detail}");
    let (up, ready) = b.status.get();
    assert!(!up && ready.contains("authorization"), "{ready}");
    // Still down a while later (retrying, never up), and no panic.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!b.bus.is_up());

    // No credentials at all: refused too.
    let mut c = node("c", 3, port, NatsAuth::None).await;
    let (up, _) = c.state().await;
    assert!(!up);

    a.bus.close().await;
    b.bus.close().await;
    c.bus.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_sent() {
    let Some(bin) = nats_server() else {
        return;
    };
    let port = free_port();
    let _server = Server::start(&bin, port, &["--auth", "s3cret"]);
    let mut a = node("a", 1, port, NatsAuth::Token("s3cret".to_owned())).await;
    a.until(true).await;
    a.bus.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_never_waits_and_drops_are_counted() {
    // No server at all: nothing is ever sent, and publish still returns at once.
    let port = free_port();
    let mut settings = BusSettings::new(&cluster("a", 1, port, NatsAuth::None)).expect("settings");
    settings.publish_queue = 1;
    let (tx, _inputs) = mpsc::channel::<Input>(16);
    let metrics = Arc::new(Metrics::new("test"));
    let bus = Bus::start(settings, tx, metrics.clone(), BusStatus::default())
        .await
        .expect("start the bus");
    let started = std::time::Instant::now();
    for _ in 0..1000 {
        bus.publish(&BusTarget::All, Bytes::from_static(b"x"));
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = metrics.encode();
    let dropped = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"cluster_bus_dropped_total{cluster="test"} "#))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(dropped >= 999.0, "{text}");
    assert!(!text.contains(r#"direction="sent""#), "{text}");
    bus.close().await;
}

/// A program with the development PKI's CA and node certificate in `certificates`,
/// and a cluster whose NATS TLS uses them (the client certificate when `mutual`).
fn tls_program(
    pki: &boomerang_io_tokio::pki::DevPki,
    dir: &Path,
    port: u16,
    mutual: bool,
) -> boomerang_core::lang::program::Program {
    use boomerang_core::lang::program::{CertificateId, NatsTls};
    let client = &pki.clients[0];
    let path = dir.join("boomerang.conf");
    std::fs::write(
        &path,
        format!(
            r#"certificates {{
    x509 "NATS_CA" {{ filename "{ca}"; }}
    x509 "NODE_CERT" {{ filename "{cert}"; }}
    key "NODE_KEY" {{ filename "{key}"; }}
}}
"#,
            ca = pki.ca_certificate.display(),
            cert = client.certificate.display(),
            key = client.key.display(),
        ),
    )
    .expect("write the configuration");
    let path = path.to_str().expect("UTF-8 path").to_owned();
    let (_, compiled) = boomerang_io_tokio::config_files::load_and_compile(&[&path]);
    let mut program = compiled
        .program
        .unwrap_or_else(|| panic!("{:?}", compiled.diagnostics));
    let id = |name: &str| {
        let index = program
            .certificates
            .iter()
            .position(|c| c.name == name)
            .expect("certificate entry");
        CertificateId(u32::try_from(index).expect("index"))
    };
    let mut c = cluster("a", 1, port, NatsAuth::None);
    c.nats.tls = Some(NatsTls {
        ca: id("NATS_CA"),
        client: mutual.then(|| (id("NODE_CERT"), id("NODE_KEY"))),
    });
    program.cluster = Some(c);
    program
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_programs_ca_and_client_certificate() {
    use boomerang_io_tokio::pki::{ClientSpec, DevPki};
    let Some(bin) = nats_server() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let certs = dir.path().join("certs");
    let pki = DevPki::generate(&certs, &[], &[ClientSpec::new("node-a")]).expect("PKI");
    let port = free_port();
    let (cert, key, ca) = (
        pki.server_certificate.display().to_string(),
        pki.server_key.display().to_string(),
        pki.ca_certificate.display().to_string(),
    );
    let _server = Server::start(
        &bin,
        port,
        &[
            "--tls",
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
            "--tlscacert",
            &ca,
            "--tlsverify",
        ],
    );
    let start = |mutual: bool| {
        let program = tls_program(&pki, dir.path(), port, mutual);
        let settings = BusSettings::from_program(&program)
            .expect("TLS settings load")
            .expect("a cluster");
        let (tx, inputs) = mpsc::channel(256);
        let metrics = Arc::new(Metrics::new("test"));
        let status = BusStatus::default();
        async move {
            let bus = Bus::start(settings, tx, metrics.clone(), status.clone())
                .await
                .expect("start the bus");
            Node {
                bus,
                inputs,
                metrics,
                status,
            }
        }
    };
    // With the client certificate: up, and messages flow over TLS.
    let mut a = start(true).await;
    let detail = a.until(true).await;
    assert!(detail.contains("connected"), "{detail}");
    let node = BusTarget::Node("a".to_owned());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        a.bus.publish(&node, Bytes::from_static(b"over-tls"));
        if a.message(Duration::from_millis(300)).await.is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no message over TLS"
        );
    }
    // Without it, the server refuses the handshake: down, not up.
    let mut b = start(false).await;
    let (up, detail) = b.state().await;
    assert!(!up, "{detail}");
    assert!(!b.bus.is_up());
    a.bus.close().await;
    b.bus.close().await;
}
