//! A driver whose program has `cluster { … }` (set on the compiled program: the
//! parser does not read the block yet): it starts and serves while NATS is
//! unreachable, `/ready` says the cluster bus is down, and its connection numbers
//! start at `node_id << 48`. Needs no NATS server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use boomerang_core::lang::program::{Cluster, Nats, NatsAuth, RUN_SHIFT};
use boomerang_io_tokio::config_files::load_and_compile;
use boomerang_io_tokio::driver::rng::OsRandom;
use boomerang_io_tokio::driver::{Driver, DriverOptions};
use boomerang_io_tokio::metrics::Metrics;
use boomerang_io_tokio::net::TokioNet;

const WAIT: Duration = Duration::from_secs(15);

#[path = "e2e_support/nats.rs"]
mod nats;

use nats::free_port;

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, WAIT).expect("connect to management");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

#[test]
fn a_node_serves_while_nats_is_down_and_numbers_connections_from_its_node_id() {
    let (radius, management, nats) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("boomerang.conf");
    std::fs::write(
        &path,
        format!(
            r#"clients {{
    radius "NAS" {{
        client "LOCAL" {{ source {{ ip 127.0.0.0/8; }} secret "s"; }}
    }}
}}
servers {{
    radius "TCP" {{
        clients "NAS";
        listen {{ protocol tcp; port {radius}; ip 127.0.0.1; }}
    }}
}}
aaa {{
    policy "ANY" {{
        handler "ANSWER" {{ @execute {{ accept; }} }}
    }}
}}
management {{
    listen {{ ip 127.0.0.1; port {management}; }}
}}
"#
        ),
    )
    .expect("write the configuration");
    let path = path.to_str().expect("UTF-8 path").to_owned();
    let (_, compiled) = load_and_compile(&[&path]);
    let mut program = compiled
        .program
        .unwrap_or_else(|| panic!("{:?}", compiled.diagnostics));
    program.cluster = Some(Cluster {
        name: "test".to_owned(),
        node: "a".to_owned(),
        node_id: 3,
        nats: Nats {
            // Nothing listens there.
            servers: vec![format!("nats://127.0.0.1:{nats}")],
            tls: None,
            auth: NatsAuth::None,
            connect_timeout: Duration::from_millis(500),
        },
        heartbeat: Duration::from_secs(1),
        node_timeout: Duration::from_secs(5),
        forward_margin: Duration::from_secs(1),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let metrics = Arc::new(Metrics::new("test"));
        let driver = Driver::bind(
            TokioNet,
            Arc::new(program),
            DriverOptions::default(),
            metrics.clone(),
        )
        .await
        .expect("bind");
        let connections = driver.connections();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(driver.run(
            async move {
                let _ = stopped.await;
            },
            Box::new(OsRandom::new()),
        ));
        let management_addr = SocketAddr::from(([127, 0, 0, 1], management));

        // Ready although the bus is down, and the answer says so.
        let (status, body) = tokio::task::spawn_blocking(move || {
            let deadline = std::time::Instant::now() + WAIT;
            loop {
                let (status, body) = get(management_addr, "/ready");
                if body.contains("unreachable") || std::time::Instant::now() > deadline {
                    return (status, body);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
        .await
        .expect("probe");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(r#""ready":true"#), "{body}");
        assert!(body.contains(r#""cluster_bus":{"#), "{body}");
        assert!(body.contains(r#""up":false"#), "{body}");
        assert!(
            metrics
                .encode()
                .contains(r#"cluster_bus_up{cluster="test"} 0"#)
        );

        // A NAS connection is numbered from node_id << 48 plus this start's run.
        let nas = TcpStream::connect(("127.0.0.1", radius)).expect("connect to the listener");
        let view = tokio::time::timeout(WAIT, async {
            loop {
                if let Some(view) = connections.view().await
                    && !view.connections.is_empty()
                {
                    return view;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the connection is seen");
        // The first of this start's run: node 3's range, at a run boundary.
        let first = view.connections[0].id;
        assert_eq!(Cluster::owner_of(first), 3, "{first}");
        assert_eq!(
            (first - Cluster::first_conn_number(3) - 1) % (1 << RUN_SHIFT),
            0,
            "{first}"
        );
        assert_eq!(view.connections[0].node.as_deref(), Some("a"));

        // The cluster's state and the cluster scope, from the engine task.
        let (status, body) = tokio::task::spawn_blocking(move || {
            let cluster = get(management_addr, "/api/v1/cluster");
            let all = get(management_addr, "/api/v1/connections?scope=cluster");
            (cluster, all)
        })
        .await
        .expect("probe");
        let ((cluster_status, cluster), (all_status, all)) = (status, body);
        assert_eq!(cluster_status, 200, "{cluster}");
        let cluster: serde_json::Value = serde_json::from_str(&cluster).expect("JSON");
        assert_eq!(cluster["name"], "test");
        assert_eq!(cluster["node"], "a");
        assert_eq!(cluster["node_id"], 3);
        assert_eq!(cluster["bus_up"], false);
        assert_eq!(cluster["connections"], 1);
        assert_eq!(cluster["nodes"], serde_json::json!([]));
        assert_eq!(all_status, 200, "{all}");
        let all: serde_json::Value = serde_json::from_str(&all).expect("JSON");
        assert_eq!(all[0]["id"], first);
        assert_eq!(all[0]["node"], "a");
        assert_eq!(all[0]["in_flight"], 0);
        let metrics_text = metrics.encode();
        assert!(
            metrics_text.contains(r#"cluster_nodes{cluster="test"} 0"#),
            "{metrics_text}"
        );
        drop(nas);

        let _ = stop.send(());
        let summary = tokio::time::timeout(WAIT, run)
            .await
            .expect("the driver stops in time")
            .expect("the driver task");
        assert!(summary.drained);
    });
}
