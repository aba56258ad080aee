//! A cluster of three real `boomerang run` nodes over a real `nats-server`
//! (docs/cluster.md). Each node has its own RadSec listener, UDP trigger listener, HTTP
//! API and management listener (`tests/data/cluster-node.conf`); the NAS devices are
//! `boomerang client --reverse` processes with distinct NAS-Identifiers, connected to
//! different nodes. Every request a NAS answers is one JSON line on its stdout, so the
//! tests count, per trigger (each has its own User-Name), how many times it reached a
//! NAS: never more than once, and exactly once at the named NAS when it was
//! acknowledged.
//!
//! Without `nats-server` the tests are skipped loudly, except in CI (`CI` set), where a
//! missing server fails them. Every wait is bounded; convergence is awaited by retrying
//! a trigger until it is answered as expected, never by a fixed sleep.

mod e2e_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use boomerang_core::radius::attr::{ERROR_CAUSE, USER_NAME};
use boomerang_core::radius::auth::{SignOptions, VerifyPolicy, sign_request, verify_response};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use boomerang_io_tokio::pki::{ClientSpec, DevPki};
use e2e_support::nats::{NatsServer, free_port, nats_server};
use e2e_support::{BIN, free_udp_port, http, wait_bounded};

/// The node configuration, with `@…@` placeholders.
const NODE_CONFIG: &str = include_str!("data/cluster-node.conf");
/// The UDP trigger secret of the node configuration.
const TRIGGER_SECRET: &str = "trigger-secret";
/// The NAS-Identifier attribute.
const NAS_IDENTIFIER: u8 = 32;
/// Bound on convergence and on every other wait for something to happen.
const WAIT: Duration = Duration::from_secs(15);
/// Bound on one trigger's answer: the reverse `timeout` (1 s) plus `forward_margin`
/// (500 ms), with room to spare on a loaded machine.
const ANSWER_WAIT: Duration = Duration::from_secs(6);
/// Pause between two tries while waiting for convergence.
const RETRY: Duration = Duration::from_millis(50);

/// Client certificates of the shared development PKI: one per NAS the tests use.
const NAS_NAMES: [&str; 8] = [
    "nas-1", "nas-2", "nas-3", "nas-slow", "nas-nak", "nas-late", "nas-x", "nas-y",
];

/// Ports of one node.
#[derive(Debug, Clone, Copy)]
struct Ports {
    radsec: u16,
    udp: u16,
    http: u16,
    management: u16,
}

/// A running `boomerang run` node, killed (SIGKILL) when dropped.
struct Node {
    id: u16,
    child: Child,
    ports: Ports,
    log: PathBuf,
}

impl Node {
    fn management(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.management))
    }

    /// Wait until this node's management API lists a local connection of NAS `name`.
    fn wait_for_local_nas(&self, name: &str) {
        let needle = format!("\"nas_identifier\":\"{name}\"");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok((200, body)) = http(self.management(), "GET", "/api/v1/connections")
                && body.contains(&needle)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "NAS {name} did not connect to node {} in time",
                self.id
            );
            std::thread::sleep(RETRY);
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `boomerang client --reverse` NAS; its stdout lines are collected as they come.
struct Nas {
    name: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Nas {
    /// The User-Names of the requests this NAS answered (one per answer line).
    fn users(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.get("answer").is_some_and(|a| !a.is_null()))
            .filter_map(|v| {
                v.pointer("/attributes/User-Name")
                    .and_then(|u| u.as_str())
                    .map(str::to_owned)
            })
            .collect()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Nas {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a trigger got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// A verified RADIUS reply: its code and Error-Cause.
    Radius(Code, Option<u32>),
    /// An HTTP status.
    Http(u16),
    /// Nothing within [`ANSWER_WAIT`].
    Silence,
}

/// One trigger sent: its User-Name, the NAS it named (`None`: round-robin), and the
/// answer.
#[derive(Debug, Clone)]
struct Sent {
    user: String,
    nas: Option<String>,
    answer: Answer,
}

impl Sent {
    fn acknowledged(&self) -> bool {
        matches!(
            self.answer,
            Answer::Radius(Code::DisconnectAck | Code::CoaAck, _) | Answer::Http(200)
        )
    }
}

/// A nats-server, three nodes, their NAS devices, and every trigger sent.
struct Cluster {
    dir: tempfile::TempDir,
    pki: DevPki,
    nats_bin: PathBuf,
    nats: Option<NatsServer>,
    nats_port: u16,
    nodes: Vec<Option<Node>>,
    ports: Vec<Ports>,
    /// Every NAS process ever started (killed ones too: their lines still count).
    nases: Vec<Nas>,
    sent: Vec<Sent>,
    next_user: AtomicU64,
    next_id: u8,
}

impl Cluster {
    /// Start nats-server and nodes 1, 2, 3; `None` (skipped) without nats-server.
    fn start() -> Option<Cluster> {
        let nats_bin = nats_server()?;
        let dir = tempfile::tempdir().unwrap();
        let clients: Vec<ClientSpec> = NAS_NAMES.iter().map(|n| ClientSpec::new(*n)).collect();
        let pki = DevPki::generate(&dir.path().join("certs"), &[], &clients).unwrap();
        let nats_port = free_port();
        let nats = NatsServer::start(&nats_bin, nats_port, &[]);
        let mut cluster = Cluster {
            dir,
            pki,
            nats_bin,
            nats: Some(nats),
            nats_port,
            nodes: Vec::new(),
            ports: Vec::new(),
            nases: Vec::new(),
            sent: Vec::new(),
            next_user: AtomicU64::new(1),
            next_id: 0,
        };
        for id in 1..=3u16 {
            let ports = Ports {
                radsec: free_port(),
                udp: free_udp_port(),
                http: free_port(),
                management: free_port(),
            };
            cluster.write_config(id, ports);
            cluster.ports.push(ports);
        }
        // One `boomerang check` proves the generated files valid.
        let check = Command::new(BIN)
            .args(["check", "-c"])
            .arg(cluster.config_path(1))
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "boomerang check failed:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        for id in 1..=3u16 {
            cluster.start_node_on_free_ports(id);
        }
        Some(cluster)
    }

    fn config_path(&self, id: u16) -> PathBuf {
        self.dir.path().join(format!("node-{id}.conf"))
    }

    fn write_config(&self, id: u16, ports: Ports) {
        let text = NODE_CONFIG
            .replace("@NODE@", &format!("n{id}"))
            .replace("@NODE_ID@", &id.to_string())
            .replace("@NATS_PORT@", &self.nats_port.to_string())
            .replace("@RADSEC_PORT@", &ports.radsec.to_string())
            .replace("@UDP_PORT@", &ports.udp.to_string())
            .replace("@HTTP_PORT@", &ports.http.to_string())
            .replace("@MGMT_PORT@", &ports.management.to_string());
        std::fs::write(self.config_path(id), text).unwrap();
    }

    fn spawn_node(&self, id: u16) -> Node {
        let log = self.dir.path().join(format!("node-{id}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .current_dir(self.dir.path())
            .args(["run", "-c"])
            .arg(self.config_path(id))
            .args(["--log-level", "debug", "--shutdown-timeout", "2"])
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Node {
            id,
            child,
            ports: self.ports[usize::from(id - 1)],
            log,
        }
    }

    fn node(&self, id: u16) -> &Node {
        self.nodes[usize::from(id - 1)]
            .as_ref()
            .unwrap_or_else(|| panic!("node {id} is not running"))
    }

    /// Start node `id`; when a port picked for it was taken meanwhile (by a process of
    /// a test running in parallel), pick new ones and start it again (bounded).
    fn start_node_on_free_ports(&mut self, id: u16) {
        let index = usize::from(id - 1);
        for _ in 0..3 {
            let node = self.spawn_node(id);
            if self.nodes.len() <= index {
                self.nodes.push(Some(node));
            } else {
                self.nodes[index] = Some(node);
            }
            match self.try_ready(id) {
                Ok(()) => return,
                Err(log) if log.contains("in use") => {
                    let ports = Ports {
                        radsec: free_port(),
                        udp: free_udp_port(),
                        http: free_port(),
                        management: free_port(),
                    };
                    self.write_config(id, ports);
                    self.ports[index] = ports;
                }
                Err(log) => panic!("node {id} did not start:\n{log}"),
            }
        }
        panic!("node {id}: no free ports after 3 attempts");
    }

    /// Wait until node `id` answers `/ready` with 200 and says the bus is up.
    fn wait_ready(&mut self, id: u16) {
        if let Err(log) = self.try_ready(id) {
            panic!("node {id} did not start:\n{log}");
        }
    }

    /// As [`Cluster::wait_ready`]; the node's log when it exited instead.
    fn try_ready(&mut self, id: u16) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let node = self.nodes[usize::from(id - 1)].as_mut().unwrap();
            if let Some(status) = node.child.try_wait().unwrap() {
                return Err(format!(
                    "exited with {status}:\n{}",
                    std::fs::read_to_string(&node.log).unwrap_or_default()
                ));
            }
            if let Ok((200, body)) = http(node.management(), "GET", "/ready")
                && body.contains(r#""cluster_bus":{"up":true"#)
            {
                return Ok(());
            }
            assert!(Instant::now() < deadline, "node {id} not ready in time");
            std::thread::sleep(RETRY);
        }
    }

    /// Send SIGHUP to node `id` (reload its configuration file).
    fn sighup(&self, id: u16) {
        let pid = self.node(id).child.id().to_string();
        let ok = Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -HUP {pid}");
    }

    /// Send signal `name` (`STOP`, `CONT`, …) to node `id`.
    fn signal(&self, id: u16, name: &str) {
        let pid = self.node(id).child.id().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{name} {pid}");
    }

    /// SIGKILL node `id`.
    fn kill_node(&mut self, id: u16) {
        let mut node = self.nodes[usize::from(id - 1)]
            .take()
            .unwrap_or_else(|| panic!("node {id} is not running"));
        node.child.kill().unwrap();
        wait_bounded(&mut node.child, WAIT).expect("a killed node exits");
    }

    /// Start NAS `name` (a client certificate of the shared PKI) against node `id`'s
    /// RadSec listener, with extra `boomerang client` arguments; wait until the node
    /// lists it. Returns its index in `nases`.
    fn nas(&mut self, name: &str, id: u16, extra: &[&str]) -> usize {
        let files = self.pki.client(name).unwrap();
        let mut child = Command::new(BIN)
            .args(["client", "--reverse", "--transport", "tls", "--server"])
            .arg(format!("127.0.0.1:{}", self.node(id).ports.radsec))
            .arg("--ca")
            .arg(&self.pki.ca_certificate)
            .arg("--cert")
            .arg(&files.certificate)
            .arg("--key")
            .arg(&files.key)
            .args(["--nas-identifier", name, "--server-name", "localhost"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut ignored = Vec::new();
            let _ = stderr.read_to_end(&mut ignored);
        });
        self.nases.push(Nas {
            name: name.to_owned(),
            child,
            lines,
        });
        self.node(id).wait_for_local_nas(name);
        self.nases.len() - 1
    }

    fn fresh_user(&self) -> String {
        format!("u{}", self.next_user.fetch_add(1, Ordering::Relaxed))
    }

    /// A signed Disconnect-Request (or `code`) naming `nas` with a fresh User-Name,
    /// sent to node `id`'s UDP trigger listener; the verified answer.
    fn udp_code(&mut self, id: u16, code: Code, nas: &str) -> Answer {
        let user = self.fresh_user();
        let port = self.node(id).ports.udp;
        self.next_id = self.next_id.wrapping_add(1);
        let answer = udp_trigger(port, self.next_id, code, &user, nas);
        self.sent.push(Sent {
            user,
            nas: Some(nas.to_owned()),
            answer,
        });
        answer
    }

    fn udp(&mut self, id: u16, nas: &str) -> Answer {
        self.udp_code(id, Code::DisconnectRequest, nas)
    }

    /// `POST /disconnect?nas_identifier=NAS&username=…` to node `id`.
    fn http(&mut self, id: u16, nas: &str) -> Answer {
        let user = self.fresh_user();
        let target = format!("/disconnect?nas_identifier={nas}&username={user}");
        let answer = self.post(id, &target);
        self.sent.push(Sent {
            user,
            nas: Some(nas.to_owned()),
            answer,
        });
        answer
    }

    /// `POST /rr?username=…` to node `id` (round-robin over every connection).
    fn round_robin(&mut self, id: u16) -> (String, Answer) {
        let user = self.fresh_user();
        let answer = self.post(id, &format!("/rr?username={user}"));
        self.sent.push(Sent {
            user: user.clone(),
            nas: None,
            answer,
        });
        (user, answer)
    }

    fn post(&self, id: u16, target: &str) -> Answer {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.node(id).ports.http));
        match http(addr, "POST", target) {
            Ok((status, _)) => Answer::Http(status),
            Err(_) => Answer::Silence,
        }
    }

    /// Send UDP triggers from node `id` to `nas` until one is answered otherwise than
    /// "no such NAS" (the NAS is in the node's view); that answer.
    fn udp_until_known(&mut self, id: u16, nas: &str) -> Answer {
        let deadline = Instant::now() + WAIT;
        loop {
            let answer = self.udp(id, nas);
            if answer != Answer::Radius(Code::DisconnectNak, Some(502)) {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} never learnt of NAS {nas}"
            );
            std::thread::sleep(RETRY);
        }
    }

    /// Send UDP triggers from node `id` to `nas` until one is answered as `done` says;
    /// that answer.
    fn udp_until_known_and(&mut self, id: u16, nas: &str, done: impl Fn(Answer) -> bool) -> Answer {
        let deadline = Instant::now() + WAIT;
        loop {
            let answer = self.udp(id, nas);
            if done(answer) {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} → {nas}: still {answer:?}"
            );
            std::thread::sleep(RETRY);
        }
    }

    /// Wait until node `id` reaches `nas` (a UDP trigger is acknowledged).
    /// UDP triggers from node `from` to `nas` until one is acknowledged (bounded):
    /// around a restart the answers are errors (no such NAS yet, closed, timed out)
    /// or ACKs, never silence nor anything else.
    fn until_ack_around_a_restart(&mut self, from: u16, nas: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let answer = self.udp(from, nas);
            assert!(
                matches!(
                    answer,
                    Answer::Radius(Code::DisconnectAck, None)
                        | Answer::Radius(Code::DisconnectNak, Some(502 | 505 | 506))
                ),
                "node {from} → {nas} around the restart: {answer:?}"
            );
            if answer == ACK {
                return;
            }
            assert!(Instant::now() < deadline, "node {from} never reached {nas}");
            std::thread::sleep(RETRY);
        }
    }

    fn until_reached(&mut self, id: u16, nas: &str) {
        let answer = self.udp_until_known(id, nas);
        assert_eq!(
            answer,
            Answer::Radius(Code::DisconnectAck, None),
            "node {id} → {nas}"
        );
    }

    /// The index (in `nases`) of the NAS process that answered the request of `user`;
    /// waits (bounded) for its answer line, which follows the answer.
    fn receiver_of(&self, user: &str) -> usize {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self
                .nases
                .iter()
                .position(|n| n.users().iter().any(|u| u == user))
            {
                return i;
            }
            assert!(Instant::now() < deadline, "no NAS answered {user}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The User-Names every NAS process answered, by NAS process.
    fn received(&self) -> Vec<(String, Vec<String>)> {
        self.nases
            .iter()
            .map(|n| (n.name.clone(), n.users()))
            .collect()
    }

    /// How many requests of the round-robin triggers each NAS name received.
    fn round_robin_counts(&self, users: &[String]) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for (name, got) in self.received() {
            let n = got.iter().filter(|u| users.contains(u)).count();
            *counts.entry(name).or_insert(0) += n;
        }
        counts
    }

    /// The cluster-wide promise: every trigger reached a NAS at most once, and an
    /// acknowledged one exactly once, at the NAS it named. Waits (bounded) for the
    /// answer lines of the acknowledged ones, which the NAS prints after writing them.
    fn assert_each_trigger_reached_a_nas_at_most_once(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let all: Vec<String> = self.received().into_iter().flat_map(|(_, u)| u).collect();
            if self
                .sent
                .iter()
                .filter(|s| s.acknowledged())
                .all(|s| all.contains(&s.user))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "an acknowledged trigger is missing from the NAS logs"
            );
            std::thread::sleep(RETRY);
        }
        let received = self.received();
        for sent in &self.sent {
            let at: Vec<&str> = received
                .iter()
                .flat_map(|(name, users)| {
                    users
                        .iter()
                        .filter(|u| **u == sent.user)
                        .map(move |_| name.as_str())
                })
                .collect();
            assert!(at.len() <= 1, "{sent:?} reached the NAS devices {at:?}");
            if sent.acknowledged() {
                assert_eq!(at.len(), 1, "{sent:?}");
                if let Some(nas) = &sent.nas {
                    assert_eq!(at[0], nas, "{sent:?}");
                }
            }
        }
    }
}

impl Drop for Cluster {
    /// On a failure, show the end of every node's log.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for id in 1..=3u16 {
            let log = self.dir.path().join(format!("node-{id}.log"));
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("--- node {id} (last lines) ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        for nas in &self.nases {
            eprintln!(
                "--- NAS {} ---\n{}",
                nas.name,
                nas.lines.lock().map(|l| l.join("\n")).unwrap_or_default()
            );
        }
    }
}

/// One signed UDP trigger on its own socket: it can be sent again (a retransmission:
/// same identifier, authenticator and source port) and its answers received.
struct UdpTrigger {
    socket: UdpSocket,
    to: SocketAddr,
    wire: Vec<u8>,
    identifier: u8,
    authenticator: [u8; 16],
}

impl UdpTrigger {
    fn new(port: u16, identifier: u8, code: Code, user: &str, nas: &str) -> UdpTrigger {
        let mut request = Packet::new(code, identifier);
        request.push(USER_NAME, user.as_bytes().to_vec());
        request.push(NAS_IDENTIFIER, nas.as_bytes().to_vec());
        let mut rng = boomerang_core::rng::SplitMix64::new(u64::from(port) << 8 | 7);
        let options = SignOptions {
            add_message_authenticator: true,
            ..SignOptions::default()
        };
        let wire =
            sign_request(&mut request, TRIGGER_SECRET.as_bytes(), &mut rng, &options).unwrap();
        UdpTrigger {
            socket: UdpSocket::bind("127.0.0.1:0").unwrap(),
            to: SocketAddr::from(([127, 0, 0, 1], port)),
            wire: wire.to_vec(),
            identifier,
            authenticator: request.authenticator,
        }
    }

    fn send(&self) {
        self.socket.send_to(&self.wire, self.to).unwrap();
    }

    /// The next verified answer within `within`, or [`Answer::Silence`].
    fn answer(&self, within: Duration) -> Answer {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Answer::Silence;
            }
            self.socket.set_read_timeout(Some(left)).unwrap();
            let Ok(n) = self.socket.recv(&mut buf) else {
                return Answer::Silence;
            };
            let Ok(reply) = Packet::decode(bytes::Bytes::copy_from_slice(&buf[..n])) else {
                continue;
            };
            if reply.identifier != self.identifier {
                continue;
            }
            verify_response(
                &reply,
                &self.authenticator,
                TRIGGER_SECRET.as_bytes(),
                &VerifyPolicy::default(),
            )
            .expect("the answer verifies with the trigger secret");
            let cause = reply
                .first_value(ERROR_CAUSE)
                .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
                .map(u32::from_be_bytes);
            return Answer::Radius(reply.code, cause);
        }
    }
}

/// Send one signed request to `127.0.0.1:port` and wait (bounded) for the verified
/// answer.
fn udp_trigger(port: u16, identifier: u8, code: Code, user: &str, nas: &str) -> Answer {
    let trigger = UdpTrigger::new(port, identifier, code, user, nas);
    trigger.send();
    trigger.answer(ANSWER_WAIT)
}

const ACK: Answer = Answer::Radius(Code::DisconnectAck, None);
const NOT_ROUTABLE: Answer = Answer::Radius(Code::DisconnectNak, Some(502));

/// The three NAS devices `nas-1`, `nas-2`, `nas-3` on nodes 1, 2, 3, each reached from
/// every node.
fn one_nas_per_node(cluster: &mut Cluster) {
    for id in 1..=3u16 {
        cluster.nas(&format!("nas-{id}"), id, &[]);
    }
    for from in 1..=3u16 {
        for to in 1..=3u16 {
            cluster.until_reached(from, &format!("nas-{to}"));
        }
    }
}

#[test]
fn triggers_sent_to_every_node_reach_every_nas_and_carry_its_answer_back() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    one_nas_per_node(&mut cluster);
    for from in 1..=3u16 {
        for to in 1..=3u16 {
            let nas = format!("nas-{to}");
            assert_eq!(cluster.udp(from, &nas), ACK, "UDP node {from} → {nas}");
            assert_eq!(
                cluster.http(from, &nas),
                Answer::Http(200),
                "HTTP node {from} → {nas}"
            );
        }
        // A CoA-Request is relayed as well, and its CoA-ACK comes back.
        let nas = format!("nas-{}", from % 3 + 1);
        assert_eq!(
            cluster.udp_code(from, Code::CoaRequest, &nas),
            Answer::Radius(Code::CoaAck, None),
            "CoA node {from} → {nas}"
        );
        // No node invents a NAS that no node holds.
        assert_eq!(cluster.udp(from, "nas-x"), NOT_ROUTABLE);
        assert_eq!(cluster.http(from, "nas-x"), Answer::Http(404));
    }
    cluster.assert_each_trigger_reached_a_nas_at_most_once();
}

#[test]
fn round_robin_spreads_over_the_connections_of_every_node() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    one_nas_per_node(&mut cluster);
    // Six from node 1: twice round the three connections of the cluster.
    let mut users = Vec::new();
    for _ in 0..6 {
        let (user, answer) = cluster.round_robin(1);
        assert_eq!(answer, Answer::Http(200));
        users.push(user);
    }
    cluster.assert_each_trigger_reached_a_nas_at_most_once();
    let counts = cluster.round_robin_counts(&users);
    assert_eq!(
        counts.values().copied().collect::<Vec<_>>(),
        [2, 2, 2],
        "{counts:?}"
    );
    // Three from each of the other nodes: once round each (every node has its own
    // counter over the same cluster-wide order).
    for from in [2u16, 3] {
        for _ in 0..3 {
            let (user, answer) = cluster.round_robin(from);
            assert_eq!(answer, Answer::Http(200));
            users.push(user);
        }
    }
    cluster.assert_each_trigger_reached_a_nas_at_most_once();
    let counts = cluster.round_robin_counts(&users);
    assert_eq!(
        counts.values().copied().collect::<Vec<_>>(),
        [4, 4, 4],
        "{counts:?}"
    );
}

#[test]
fn a_killed_node_gives_errors_not_silence_and_its_nas_is_reached_again_elsewhere() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    one_nas_per_node(&mut cluster);
    // nas-late on node 1 answers after 3 s: a trigger for it is in flight when node 1
    // dies.
    cluster.nas("nas-late", 1, &["--delay", "3s"]);
    cluster.udp_until_known(2, "nas-late");
    let port = cluster.node(2).ports.udp;
    let in_flight = std::thread::spawn(move || {
        let started = Instant::now();
        let answer = udp_trigger(port, 200, Code::DisconnectRequest, "in-flight", "nas-late");
        (answer, started.elapsed())
    });
    // Not an assertion: gives the trigger time to be forwarded before the kill. Either
    // way the answer must be an error.
    std::thread::sleep(Duration::from_millis(300));

    cluster.kill_node(1);
    let killed = Instant::now();

    // During the outage every trigger for nas-1 gets an error answer, never silence,
    // until the survivors have dropped node 1 from their view (then: no such NAS).
    for from in [2u16, 3] {
        loop {
            let started = Instant::now();
            let udp = cluster.udp(from, "nas-1");
            let took = started.elapsed();
            assert!(
                matches!(
                    udp,
                    Answer::Radius(Code::DisconnectNak, Some(502 | 505 | 506))
                ),
                "UDP node {from} → nas-1 after the kill: {udp:?}"
            );
            assert!(took < Duration::from_secs(3), "answered after {took:?}");
            let web = cluster.http(from, "nas-1");
            assert!(
                matches!(web, Answer::Http(404 | 500 | 504)),
                "HTTP node {from} → nas-1 after the kill: {web:?}"
            );
            eprintln!(
                "{:?} after the kill: node {from} → nas-1: {udp:?} in {took:?}, {web:?}",
                killed.elapsed()
            );
            if udp == NOT_ROUTABLE && web == Answer::Http(404) {
                break;
            }
            assert!(
                killed.elapsed() < WAIT,
                "node {from} still lists the connections of the killed node"
            );
            std::thread::sleep(RETRY);
        }
    }
    let (answer, took) = in_flight.join().unwrap();
    assert!(
        matches!(
            answer,
            Answer::Radius(Code::DisconnectNak, Some(502 | 505 | 506))
        ),
        "the trigger in flight when its owner died: {answer:?} after {took:?}"
    );
    eprintln!("the trigger in flight: {answer:?} after {took:?}");
    // The survivors still reach each other's NAS.
    assert_eq!(cluster.udp(2, "nas-3"), ACK);
    assert_eq!(cluster.udp(3, "nas-2"), ACK);

    // The balancer sends nas-1 to node 2 (standing in for it: a new client process).
    let old = cluster
        .nases
        .iter()
        .position(|n| n.name == "nas-1")
        .unwrap();
    cluster.nases[old].kill();
    cluster.nas("nas-1", 2, &[]);
    cluster.until_reached(3, "nas-1");
    assert_eq!(cluster.udp(2, "nas-1"), ACK);
    assert_eq!(cluster.http(2, "nas-1"), Answer::Http(200));
    assert_eq!(cluster.http(3, "nas-1"), Answer::Http(200));
    cluster.assert_each_trigger_reached_a_nas_at_most_once();
    // The trigger in flight reached nas-late at most once too.
    let in_flight_seen: usize = cluster
        .received()
        .iter()
        .map(|(_, users)| users.iter().filter(|u| *u == "in-flight").count())
        .sum();
    assert!(in_flight_seen <= 1);
}

#[test]
fn a_nak_and_a_silent_nas_on_another_node_give_their_errors_through_the_forward() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    cluster.nas("nas-nak", 3, &["--nak", "--error-cause", "504"]);
    cluster.nas("nas-slow", 2, &["--delay", "4s"]);
    // The NAS's NAK and its Error-Cause come back through node 3 to node 1.
    assert_eq!(
        cluster.udp_until_known(1, "nas-nak"),
        Answer::Radius(Code::DisconnectNak, Some(504))
    );
    assert_eq!(cluster.http(1, "nas-nak"), Answer::Http(403));
    // A NAS that answers too late: REVERSE_TIMEOUT, after the reverse timeout (1 s)
    // and before the forward's own bound (timeout + forward_margin) has long passed.
    let started = Instant::now();
    let answer = cluster.udp_until_known(1, "nas-slow");
    let took = started.elapsed();
    assert_eq!(answer, Answer::Radius(Code::DisconnectNak, Some(506)));
    assert!(took >= Duration::from_secs(1), "{took:?}");
    let started = Instant::now();
    assert_eq!(cluster.http(1, "nas-slow"), Answer::Http(504));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "{took:?}"
    );
    cluster.assert_each_trigger_reached_a_nas_at_most_once();
}

#[test]
fn with_the_bus_down_each_node_serves_its_own_nas_and_after_it_returns_every_node_again() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    cluster.nas("nas-1", 1, &[]);
    cluster.nas("nas-2", 2, &[]);
    cluster.until_reached(1, "nas-2");
    cluster.until_reached(2, "nas-1");

    drop(cluster.nats.take());
    // Each node still reaches its own NAS; across nodes, an error answer (never
    // silence) until the other node is forgotten.
    let deadline = Instant::now() + WAIT;
    loop {
        assert_eq!(cluster.udp(1, "nas-1"), ACK);
        assert_eq!(cluster.udp(2, "nas-2"), ACK);
        let across = cluster.udp(1, "nas-2");
        assert!(
            matches!(
                across,
                Answer::Radius(Code::DisconnectNak, Some(502 | 505 | 506))
            ),
            "node 1 → nas-2 with the bus down: {across:?}"
        );
        eprintln!("node 1 → nas-2 with the bus down: {across:?}");
        if across == NOT_ROUTABLE {
            break;
        }
        assert!(Instant::now() < deadline, "node 1 never forgot node 2");
        std::thread::sleep(RETRY);
    }
    let (status, ready) = http(cluster.node(1).management(), "GET", "/ready").unwrap();
    assert_eq!(status, 200, "{ready}");
    assert!(ready.contains(r#""cluster_bus":{"up":false"#), "{ready}");

    // NATS comes back on the same port: the nodes rejoin and repair their views.
    cluster.nats = Some(NatsServer::start(&cluster.nats_bin, cluster.nats_port, &[]));
    cluster.until_reached(1, "nas-2");
    cluster.until_reached(2, "nas-1");
    assert_eq!(cluster.http(1, "nas-2"), Answer::Http(200));
    assert_eq!(cluster.http(2, "nas-1"), Answer::Http(200));
    cluster.assert_each_trigger_reached_a_nas_at_most_once();
}

#[test]
fn the_generated_node_configuration_is_valid() {
    // Independent of nats-server: `boomerang check` accepts every node's file.
    let dir = tempfile::tempdir().unwrap();
    let clients = [ClientSpec::new("nas-1")];
    DevPki::generate(&dir.path().join("certs"), &[], &clients).unwrap();
    for id in 1..=3u16 {
        let text = NODE_CONFIG
            .replace("@NODE@", &format!("n{id}"))
            .replace("@NODE_ID@", &id.to_string())
            .replace("@NATS_PORT@", "4222")
            .replace("@RADSEC_PORT@", &(20830 + id).to_string())
            .replace("@UDP_PORT@", &(37990 + id).to_string())
            .replace("@HTTP_PORT@", &(40000 + id).to_string())
            .replace("@MGMT_PORT@", &(18080 + id).to_string());
        let path = dir.path().join(format!("node-{id}.conf"));
        std::fs::write(&path, text).unwrap();
        let out = Command::new(BIN)
            .args(["check", "-c"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_node_killed_and_restarted_at_once_is_rejoined_and_no_stale_connection_is_used() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    one_nas_per_node(&mut cluster);
    // Node 1 dies and comes back on the same ports before node_timeout: the others see
    // a new epoch, not a silence. nas-1 reconnects to it by itself (its own backoff).
    cluster.kill_node(1);
    let node = cluster.spawn_node(1);
    cluster.nodes[0] = Some(node);
    cluster.wait_ready(1);
    cluster.node(1).wait_for_local_nas("nas-1");
    // Until the new connection is known everywhere, answers are errors or ACKs, never
    // silence; then every node reaches nas-1 over its new connection, every time (a
    // stale entry for the old one, older and so selected first, would fail).
    for from in [2u16, 3, 1] {
        cluster.until_ack_around_a_restart(from, "nas-1");
    }
    for from in 1..=3u16 {
        for to in 1..=3u16 {
            let nas = format!("nas-{to}");
            assert_eq!(cluster.udp(from, &nas), ACK, "node {from} → {nas}");
            assert_eq!(cluster.http(from, &nas), Answer::Http(200));
        }
    }
    cluster.assert_each_trigger_reached_a_nas_at_most_once();
}

#[test]
fn a_retransmitted_trigger_for_a_nas_on_another_node_reaches_it_once() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    // nas-slow answers after 500 ms: the retransmissions arrive while the forward is
    // in flight.
    cluster.nas("nas-2", 2, &[]);
    cluster.nas("nas-slow", 2, &["--delay", "500ms"]);
    cluster.until_reached(1, "nas-2");
    let trigger = UdpTrigger::new(
        cluster.node(1).ports.udp,
        77,
        Code::DisconnectRequest,
        "retransmitted",
        "nas-slow",
    );
    for _ in 0..3 {
        trigger.send();
        std::thread::sleep(Duration::from_millis(100));
    }
    let first = trigger.answer(ANSWER_WAIT);
    assert_eq!(first, ACK);
    // Once answered, a retransmission gets the same answer again, from memory.
    trigger.send();
    assert_eq!(trigger.answer(ANSWER_WAIT), ACK);
    cluster.sent.push(Sent {
        user: "retransmitted".to_owned(),
        nas: Some("nas-slow".to_owned()),
        answer: first,
    });
    cluster.assert_each_trigger_reached_a_nas_at_most_once();
}

#[test]
fn concurrent_triggers_from_every_node_each_reach_their_nas_once() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    one_nas_per_node(&mut cluster);
    // 3 nodes × 3 NAS × 15 triggers, all at once: 135 requests, 90 of them forwarded.
    let mut threads = Vec::new();
    for from in 1..=3u16 {
        let port = cluster.node(from).ports.udp;
        for to in 1..=3u16 {
            for k in 0..15u8 {
                let user = format!("c{from}-{to}-{k}");
                let nas = format!("nas-{to}");
                threads.push(std::thread::spawn(move || {
                    let answer = udp_trigger(port, k, Code::DisconnectRequest, &user, &nas);
                    Sent {
                        user,
                        nas: Some(nas),
                        answer,
                    }
                }));
            }
        }
    }
    for thread in threads {
        let sent = thread.join().unwrap();
        assert_eq!(sent.answer, ACK, "{sent:?}");
        cluster.sent.push(sent);
    }
    cluster.assert_each_trigger_reached_a_nas_at_most_once();
}

#[test]
fn every_node_picks_the_same_first_connection_in_cluster_order() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    // Two NAS processes announce the same NAS-Identifier, `nas-x`: first one on node 3,
    // then one on node 2. Cluster order is node by node (connection numbers start at
    // node_id × 2^48), so `first` picks node 2's on every node, though node 3's is
    // older and though node 3 holds its own.
    let on3 = cluster.nas("nas-x", 3, &[]);
    cluster.until_reached(1, "nas-x");
    let on2 = cluster.nas("nas-x", 2, &[]);
    for from in 1..=3u16 {
        // Until node `from` knows the connection on node 2, node 3's is chosen.
        let deadline = Instant::now() + WAIT;
        loop {
            assert_eq!(cluster.udp(from, "nas-x"), ACK);
            let user = cluster.sent.last().unwrap().user.clone();
            if cluster.receiver_of(&user) == on2 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {from} never chose node 2's connection"
            );
            std::thread::sleep(RETRY);
        }
    }
    // From now on, node 2's on every node, every time.
    for from in 1..=3u16 {
        for _ in 0..3 {
            assert_eq!(cluster.udp(from, "nas-x"), ACK);
            let user = cluster.sent.last().unwrap().user.clone();
            assert_eq!(cluster.receiver_of(&user), on2, "node {from}");
        }
    }
    cluster.assert_each_trigger_reached_a_nas_at_most_once();

    // Node 2's NAS goes away: every node falls back to node 3's.
    cluster.nases[on2].kill();
    for from in 1..=3u16 {
        let answer = cluster.udp_until_known_and(from, "nas-x", |a| a == ACK);
        assert_eq!(answer, ACK);
        let user = cluster.sent.last().unwrap().user.clone();
        assert_eq!(cluster.receiver_of(&user), on3, "node {from}");
    }
    cluster.assert_each_trigger_reached_a_nas_at_most_once();
}

#[test]
fn a_nas_that_drops_while_a_forwarded_request_waits_gives_an_error_at_once() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    cluster.nas("nas-2", 2, &[]);
    let slow = cluster.nas("nas-late", 2, &["--delay", "5s"]);
    cluster.until_reached(1, "nas-2");
    // Known on node 1 (the 1 s timeout answers 506 while the NAS sits on it).
    assert_eq!(
        cluster.udp_until_known(1, "nas-late"),
        Answer::Radius(Code::DisconnectNak, Some(506))
    );
    let port = cluster.node(1).ports.udp;
    let sent_at = Instant::now();
    let waiting = std::thread::spawn(move || {
        udp_trigger(port, 9, Code::DisconnectRequest, "dropped", "nas-late")
    });
    std::thread::sleep(Duration::from_millis(300));
    cluster.nases[slow].kill();
    let killed_after = sent_at.elapsed();
    let answer = waiting.join().unwrap();
    let took = sent_at.elapsed();
    eprintln!("NAS killed after {killed_after:?}; answer {answer:?} after {took:?}");
    assert_ne!(answer, Answer::Silence);
    if killed_after < Duration::from_millis(900) {
        // The close, not the timeout, ended it: CONNECTION_CLOSED (it was written), or
        // no NAS left when it was not yet.
        assert!(
            matches!(answer, Answer::Radius(Code::DisconnectNak, Some(505 | 502))),
            "{answer:?}"
        );
    }
    assert_eq!(cluster.udp(1, "nas-2"), ACK);
    cluster.assert_each_trigger_reached_a_nas_at_most_once();
}

#[test]
fn a_node_that_joins_late_learns_the_existing_connections() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    cluster.kill_node(3);
    cluster.nas("nas-1", 1, &[]);
    cluster.nas("nas-2", 2, &[]);
    cluster.until_reached(1, "nas-2");
    cluster.until_reached(2, "nas-1");
    // Node 3 starts now: it is told of the connections that exist (a snapshot), not
    // only of later changes.
    let node = cluster.spawn_node(3);
    cluster.nodes[2] = Some(node);
    cluster.wait_ready(3);
    cluster.until_reached(3, "nas-1");
    cluster.until_reached(3, "nas-2");
    cluster.nas("nas-3", 3, &[]);
    cluster.until_reached(1, "nas-3");
    cluster.until_reached(2, "nas-3");
    cluster.assert_each_trigger_reached_a_nas_at_most_once();
}

/// The connection numbers of every node's connections as node `id`'s view has them.
fn cluster_connection_ids(cluster: &Cluster, id: u16) -> Vec<u64> {
    let (status, body) = http(
        cluster.node(id).management(),
        "GET",
        "/api/v1/connections?scope=cluster",
    )
    .expect("management API");
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let list = value
        .as_array()
        .or_else(|| value["connections"].as_array())
        .unwrap_or_else(|| panic!("a list of connections: {body}"));
    list.iter().filter_map(|c| c["id"].as_u64()).collect()
}

/// SIGHUP of a node whose configuration is unchanged, with triggers before, during
/// and after it: the node keeps its NAS connection (the same number in every node's
/// view: no reconnect) and its place in the cluster, and every trigger from every
/// node reaches its NAS once. Then SIGHUP with a changed `cluster` section: the node
/// restarts itself in place and rejoins.
#[test]
fn a_sighup_mid_traffic_keeps_the_nodes_nas_connection_and_its_place_in_the_cluster() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    one_nas_per_node(&mut cluster);
    let before = cluster_connection_ids(&cluster, 1);
    assert_eq!(before.len(), 3, "{before:?}");
    let log = cluster.node(2).log.clone();
    for round in 1..=2usize {
        cluster.sighup(2);
        // Triggers while the reload runs: to node 2's NAS from every node.
        for from in 1..=3u16 {
            assert_eq!(
                cluster.udp(from, "nas-2"),
                ACK,
                "round {round}: node {from}"
            );
        }
        let deadline = Instant::now() + WAIT;
        while std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("configuration reloaded from")
            .count()
            < round
        {
            assert!(
                Instant::now() < deadline,
                "node 2 did not reload:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(RETRY);
        }
    }
    for from in 1..=3u16 {
        assert_eq!(
            cluster_connection_ids(&cluster, from),
            before,
            "node {from}'s view after the reloads"
        );
        for to in 1..=3u16 {
            let nas = format!("nas-{to}");
            assert_eq!(cluster.udp(from, &nas), ACK, "node {from} → {nas}");
            assert_eq!(cluster.http(from, &nas), Answer::Http(200));
        }
    }
    // A changed `cluster` section cannot be applied in place: node 2 restarts itself
    // with it, its NAS reconnects, and every node reaches that NAS again over its new
    // connection (answers meanwhile are errors or ACKs, never silence).
    let path = cluster.config_path(2);
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = text.replace("heartbeat 200ms;", "heartbeat 250ms;");
    assert_ne!(changed, text, "the node configuration names its heartbeat");
    std::fs::write(&path, changed).unwrap();
    cluster.sighup(2);
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("restarting with the new configuration")
    {
        assert!(Instant::now() < deadline, "node 2 did not restart");
        std::thread::sleep(RETRY);
    }
    for from in 1..=3u16 {
        cluster.until_ack_around_a_restart(from, "nas-2");
    }
    let after = cluster_connection_ids(&cluster, 1);
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(
        after.iter().any(|id| id >> 48 == 2),
        "nas-2 is on a connection of node 2: {after:?}"
    );
    cluster.assert_each_trigger_reached_a_nas_at_most_once();
}

/// A node that stalls (SIGSTOP) for longer than `node_timeout` is given up by the
/// trigger's node, which answers the trigger with an error; the forward that waited
/// on the bus meanwhile must not reach the NAS when the node resumes (that would act
/// after the trigger was answered, and with `retries` twice). Afterwards forwards to
/// it run again.
#[test]
fn a_forward_that_waited_out_a_stall_of_its_node_never_reaches_the_nas() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    cluster.nas("nas-2", 2, &["--status-interval", "60s"]);
    cluster.until_reached(1, "nas-2");
    cluster.signal(2, "STOP");
    // Node 2 is given up after node_timeout (1 s): the trigger fails.
    let answer = cluster.http(1, "nas-2");
    assert!(matches!(answer, Answer::Http(500 | 504)), "{answer:?}");
    let stale = cluster.sent.last().unwrap().user.clone();
    std::thread::sleep(Duration::from_secs(1));
    cluster.signal(2, "CONT");
    // Node 2 rejoins and is reached again, with new requests.
    cluster.until_reached(1, "nas-2");
    let reached: Vec<String> = cluster
        .received()
        .into_iter()
        .flat_map(|(_, u)| u)
        .collect();
    assert!(
        !reached.contains(&stale),
        "the stale forward reached the NAS after its trigger failed: {reached:?}"
    );
    cluster.assert_each_trigger_reached_a_nas_at_most_once();
}
