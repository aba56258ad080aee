//! The management listener over real TCP on 127.0.0.1, spoken to with a minimal
//! HTTP/1.1 client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use boomerang_core::contract::Transport;
use boomerang_core::eval::context::{CertInfo, ConnectionInfo};
use boomerang_io_tokio::management::{
    ClusterFuture, ClusterView, ConnectionView, ConnectionsSource, ManagementState, NoConnections,
    NodeView, Readiness, Scope, SnapshotFuture, serve,
};
use boomerang_io_tokio::metrics::{Metrics, RequestResult};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Header names and values, in order.
type Headers = Vec<(String, String)>;

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Headers,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

/// Status, headers and length of a response head, or `None` while it is incomplete.
fn parse_head(raw: &[u8]) -> Option<(u16, Headers, usize)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = text.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    Some((status, headers, end + 4))
}

/// A complete response (body by content-length or chunked), or `None` while more
/// bytes are needed.
fn parse(raw: &[u8]) -> Option<Reply> {
    let (status, headers, head_len) = parse_head(raw)?;
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let rest = &raw[head_len..];
    let body = if let Some(len) = find("content-length") {
        let len: usize = len.parse().unwrap();
        rest.get(..len)?.to_vec()
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        let mut pos = 0;
        loop {
            let line_end = rest[pos..].windows(2).position(|w| w == b"\r\n")? + pos;
            let size_text = std::str::from_utf8(&rest[pos..line_end]).unwrap();
            let size = usize::from_str_radix(size_text.trim(), 16).unwrap();
            let start = line_end + 2;
            body.extend_from_slice(rest.get(start..start + size)?);
            rest.get(start + size..start + size + 2)?;
            pos = start + size + 2;
            if size == 0 {
                break body;
            }
        }
    } else {
        Vec::new()
    };
    Some(Reply {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    })
}

/// Send one request on `stream` and read its response.
async fn exchange(stream: &mut TcpStream, method: &str, path: &str, close: bool) -> Reply {
    let connection = if close { "close" } else { "keep-alive" };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: {connection}\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if method == "HEAD" {
            // A HEAD reply announces a length but carries no body.
            if let Some((status, headers, _)) = parse_head(&raw) {
                return Reply {
                    status,
                    headers,
                    body: String::new(),
                };
            }
        } else if let Some(reply) = parse(&raw) {
            return reply;
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed before a full response: {raw:?}");
        raw.extend_from_slice(&buf[..n]);
    }
}

async fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    exchange(&mut stream, method, path, true).await
}

struct Running {
    addr: SocketAddr,
    state: ManagementState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the listener did not stop");
        result.unwrap().unwrap();
    }
}

async fn start(source: Arc<dyn ConnectionsSource>) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = ManagementState::new(Arc::new(Metrics::new("9.8.7")), source);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        state,
        stop: Some(stop),
        task,
    }
}

#[tokio::test]
async fn live_answers_ok_as_text() {
    let server = start(Arc::new(NoConnections)).await;
    let reply = request(server.addr, "GET", "/live").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "ok\n");
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    server.stop().await;
}

#[tokio::test]
async fn readiness_follows_the_life_cycle() {
    let server = start(Arc::new(NoConnections)).await;
    assert_eq!(server.state.readiness(), Readiness::Starting);

    let reply = request(server.addr, "GET", "/ready").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json(), json!({"ready": false, "reason": "starting"}));

    assert!(server.state.set_ready());
    let reply = request(server.addr, "GET", "/ready").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"ready": true}));

    server.state.set_shutting_down();
    let reply = request(server.addr, "GET", "/ready").await;
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.json(),
        json!({"ready": false, "reason": "shutting_down"})
    );
    // Shutting down is final, and liveness is unaffected.
    assert!(!server.state.set_ready());
    assert_eq!(request(server.addr, "GET", "/ready").await.status, 503);
    assert_eq!(request(server.addr, "GET", "/live").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn metrics_are_served_as_prometheus_text() {
    let server = start(Arc::new(NoConnections)).await;
    server
        .state
        .metrics()
        .radius_request("RADSEC_SERVER", "Status-Server", RequestResult::Accept);
    let reply = request(server.addr, "GET", "/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let lines: Vec<&str> = reply.body.lines().collect();
    assert!(
        lines.contains(&r#"build_info{version="9.8.7"} 1"#),
        "{}",
        reply.body
    );
    assert!(
        lines.contains(
            &r#"radius_requests_total{server="RADSEC_SERVER",code="Status-Server",result="accept"} 1"#
        ),
        "{}",
        reply.body
    );
    assert!(lines.iter().any(|l| l.starts_with("uptime_seconds ")));
    server.stop().await;
}

/// Two connections: a RadSec NAS with a client certificate that sent Status-Server,
/// and a plain TCP one that did not.
struct Fleet;

impl ConnectionsSource for Fleet {
    fn snapshot(&self, _scope: Scope) -> SnapshotFuture<'_> {
        Box::pin(std::future::ready(fleet_views().into()))
    }
}

/// The fleet on node "a" of a cluster whose node "b" holds one more connection.
struct ClusterFleet;

impl ConnectionsSource for ClusterFleet {
    fn snapshot(&self, scope: Scope) -> SnapshotFuture<'_> {
        let mut views = fleet_views();
        for v in &mut views {
            v.node = Some("a".into());
        }
        if scope == Scope::Cluster {
            let remote = ConnectionInfo {
                id: (2 << 48) | 1,
                client_name: "NAS_TCP".into(),
                peer_addr: "10.9.0.2:40000".parse().unwrap(),
                server_name: "RADIUS_TCP".into(),
                server_addr: "192.0.2.11:1812".parse().unwrap(),
                transport: Transport::Tcp,
                connected: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_200),
                disconnected: None,
                status_received: None,
                status_nas_identifier: Some("ap-b".into()),
                last_heard: None,
                healthy: true,
                cert: None,
            };
            views.push(ConnectionView::remote(&remote, "b"));
        }
        Box::pin(std::future::ready(views.into()))
    }

    fn cluster(&self) -> ClusterFuture<'_> {
        Box::pin(std::future::ready(Some(ClusterView {
            name: "c1".into(),
            node: "a".into(),
            node_id: 1,
            bus_up: true,
            connections: 2,
            forwarded_waiting: 0,
            incoming_running: 1,
            nodes: vec![NodeView {
                name: "b".into(),
                node_id: 2,
                connections: 1,
                last_heard_ms_ago: 250,
                repairing: false,
            }],
        })))
    }
}

#[tokio::test]
async fn cluster_scope_lists_other_nodes_connections_without_counts() {
    let server = start(Arc::new(ClusterFleet)).await;
    let node = request(server.addr, "GET", "/api/v1/connections")
        .await
        .json();
    let same = request(server.addr, "GET", "/api/v1/connections?scope=node")
        .await
        .json();
    assert_eq!(node, same);
    assert_eq!(node.as_array().map(Vec::len), Some(2));
    assert_eq!(node[0]["node"], "a");
    let all = request(server.addr, "GET", "/api/v1/connections?scope=cluster").await;
    assert_eq!(all.status, 200);
    let all = all.json();
    assert_eq!(all.as_array().map(Vec::len), Some(3));
    assert_eq!(all[2]["id"], json!((2u64 << 48) | 1));
    assert_eq!(all[2]["node"], "b");
    assert_eq!(all[2]["status"]["nas_identifier"], "ap-b");
    assert!(all[2].get("in_flight").is_none(), "{}", all[2]);
    assert!(all[2].get("queued").is_none(), "{}", all[2]);
    assert_eq!(all[0]["in_flight"], 3);
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_scope_is_400_with_the_values_allowed() {
    let server = start(Arc::new(ClusterFleet)).await;
    let reply = request(server.addr, "GET", "/api/v1/connections?scope=everything").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "invalid_scope");
    let message = reply.json()["message"].as_str().unwrap_or("").to_owned();
    assert!(
        message.contains("everything") && message.contains("cluster"),
        "{message}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_cluster_endpoint_shows_the_nodes_or_says_there_is_no_cluster() {
    let server = start(Arc::new(ClusterFleet)).await;
    let reply = request(server.addr, "GET", "/api/v1/cluster").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({
            "name": "c1", "node": "a", "node_id": 1, "bus_up": true, "connections": 2,
            "forwarded_waiting": 0, "incoming_running": 1,
            "nodes": [{"name": "b", "node_id": 2, "connections": 1,
                       "last_heard_ms_ago": 250, "repairing": false}]
        })
    );
    server.stop().await;
    let server = start(Arc::new(NoConnections)).await;
    let reply = request(server.addr, "GET", "/api/v1/cluster").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"], "no_cluster");
    server.stop().await;
}

fn fleet_views() -> Vec<ConnectionView> {
    let tls = ConnectionInfo {
        id: 1,
        client_name: "NAS_RADSEC".into(),
        peer_addr: "10.9.0.1:40112".parse().unwrap(),
        server_name: "RADSEC_SERVER".into(),
        server_addr: "192.0.2.10:2083".parse().unwrap(),
        transport: Transport::Tls,
        connected: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        disconnected: None,
        status_received: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_015_500)),
        status_nas_identifier: Some("radiator-nas-simulator".into()),
        last_heard: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_020_250)),
        healthy: true,
        cert: Some(CertInfo {
            subject_cn: Some("testUser".into()),
            issuer: Some("CN=Demo CA".into()),
            fingerprint: Some("ab".repeat(32)),
            san_email: vec![
                "testUser@demo.open.com.au".into(),
                "otherUser@demo.open.com.au".into(),
            ],
            san_dns: vec!["testUser.demo.open.com.au".into()],
            san_uri: vec!["https://testUser.demo.open.com.au".into()],
        }),
    };
    let tcp = ConnectionInfo {
        id: 2,
        client_name: "NAS_TCP".into(),
        peer_addr: "[2001:db8::7]:50000".parse().unwrap(),
        server_name: "RADIUS_TCP".into(),
        server_addr: "[::]:1812".parse().unwrap(),
        transport: Transport::Tcp,
        connected: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_100),
        disconnected: None,
        status_received: None,
        status_nas_identifier: None,
        last_heard: None,
        healthy: false,
        cert: None,
    };
    vec![
        ConnectionView::from_info(&tls, 3, 1),
        ConnectionView::from_info(&tcp, 0, 0),
    ]
}

#[tokio::test]
async fn connections_are_listed_with_every_connection_field() {
    let server = start(Arc::new(Fleet)).await;
    let reply = request(server.addr, "GET", "/api/v1/connections").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json(),
        json!([
            {
                "id": 1,
                "client_name": "NAS_RADSEC",
                "peer_addr": "10.9.0.1:40112",
                "peer_ip": "10.9.0.1",
                "server_name": "RADSEC_SERVER",
                "server_addr": "192.0.2.10:2083",
                "server_ip": "192.0.2.10",
                "transport_protocol": "tls",
                "connected": "2023-11-14T22:13:20Z",
                "last_heard": "2023-11-14T22:13:40.25Z",
                "healthy": true,
                "status": {
                    "received": "2023-11-14T22:13:35.5Z",
                    "nas_identifier": "radiator-nas-simulator"
                },
                "cert": {
                    "subject": {"cn": "testUser"},
                    "subject_alt": {
                        "email": ["testUser@demo.open.com.au", "otherUser@demo.open.com.au"],
                        "dns": ["testUser.demo.open.com.au"],
                        "uri": ["https://testUser.demo.open.com.au"]
                    },
                    "issuer": "CN=Demo CA",
                    "fingerprint": "ab".repeat(32)
                },
                "in_flight": 3,
                "queued": 1
            },
            {
                "id": 2,
                "client_name": "NAS_TCP",
                "peer_addr": "[2001:db8::7]:50000",
                "peer_ip": "2001:db8::7",
                "server_name": "RADIUS_TCP",
                "server_addr": "[::]:1812",
                "server_ip": "::",
                "transport_protocol": "tcp",
                "connected": "2023-11-14T22:15:00Z",
                "last_heard": null,
                "healthy": false,
                "status": {"received": null, "nas_identifier": null},
                "cert": null,
                "in_flight": 0,
                "queued": 0
            }
        ])
    );
    server.stop().await;
}

/// `?limit=N` lists the first N connections (all of them when N is larger) and
/// `x-total-count` says how many the view has; a limit that is not a number is 400.
#[tokio::test]
async fn a_limit_lists_the_first_connections_and_the_total_is_in_a_header() {
    let server = start(Arc::new(Fleet)).await;
    for (query, ids) in [
        ("", vec![1, 2]),
        ("?limit=1", vec![1]),
        ("?limit=0", vec![]),
        ("?limit=5", vec![1, 2]),
        ("?scope=node&limit=1", vec![1]),
    ] {
        let reply = request(server.addr, "GET", &format!("/api/v1/connections{query}")).await;
        assert_eq!(reply.status, 200, "{query}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.header("x-total-count"), Some("2"), "{query}");
        let listed: Vec<u64> = reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect();
        assert_eq!(listed, ids, "{query}");
    }
    for bad in ["-1", "x", ""] {
        let reply = request(
            server.addr,
            "GET",
            &format!("/api/v1/connections?limit={bad}"),
        )
        .await;
        assert_eq!(reply.status, 400, "{bad:?}");
        assert_eq!(reply.json()["error"], "invalid_limit", "{bad:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn no_connections_is_an_empty_array() {
    let server = start(Arc::new(NoConnections)).await;
    let reply = request(server.addr, "GET", "/api/v1/connections").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!([]));
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404_json() {
    let server = start(Arc::new(NoConnections)).await;
    for path in ["/", "/nope", "/api/v1/connection", "/metrics/extra"] {
        let reply = request(server.addr, "GET", path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.json(), json!({"error": "not_found", "path": path}));
    }
    server.stop().await;
}

#[tokio::test]
async fn wrong_method_is_405_json() {
    let server = start(Arc::new(NoConnections)).await;
    for (method, path) in [
        ("POST", "/live"),
        ("DELETE", "/api/v1/connections"),
        ("PUT", "/metrics"),
    ] {
        let reply = request(server.addr, method, path).await;
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.header("allow"), Some("GET, HEAD"));
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.json()["error"], "method_not_allowed");
    }
    let head = request(server.addr, "HEAD", "/live").await;
    assert_eq!(head.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_stops_accepting() {
    let server = start(Arc::new(NoConnections)).await;
    let addr = server.addr;
    // A kept-alive idle connection must not hold the shutdown up.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert_eq!(exchange(&mut idle, "GET", "/live", false).await.status, 200);
    server.stop().await;
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    // The idle connection was closed by the server.
    let mut buf = [0u8; 16];
    assert_eq!(idle.read(&mut buf).await.unwrap(), 0);
}

/// A request announcing a body that never comes (or comes an octet at a time) does
/// not hold its connection: the management routes read no body, so the answer goes
/// out at once and the connection is closed (the rest of the body would otherwise be
/// read as the next request), long before the header or idle timeout.
#[tokio::test]
async fn a_request_whose_body_never_comes_is_answered_and_its_connection_closed() {
    let server = start(Arc::new(Fleet)).await;
    server.state.set_ready();
    for (method, path, trickle) in [
        ("GET", "/live", false),
        ("GET", "/api/v1/connections", false),
        ("POST", "/metrics", false),
        ("GET", "/ready", true),
    ] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let trickler = tokio::spawn(async move {
            while trickle && writer.write_all(b"x").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            writer
        });
        // Far below the 60 s idle timeout (and the test would fail past it).
        let mut raw = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), async {
            let mut buf = [0u8; 4096];
            loop {
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => raw.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        trickler.abort();
        let text = String::from_utf8_lossy(&raw);
        assert!(
            read.is_ok(),
            "{method} {path}: connection held open: {text:?}"
        );
        assert!(text.starts_with("HTTP/1.1 "), "{method} {path}: {text:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn several_requests_share_one_kept_alive_connection() {
    let server = start(Arc::new(NoConnections)).await;
    server.state.set_ready();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for path in ["/live", "/ready", "/metrics", "/api/v1/connections"] {
        assert_eq!(
            exchange(&mut stream, "GET", path, false).await.status,
            200,
            "{path}"
        );
    }
    drop(stream);
    server.stop().await;
}
