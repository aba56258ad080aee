//! Connection selection through the real binary: by a database lookup (SQLite) and
//! round-robin over several NAS processes.

mod e2e_support;

use e2e_support::*;

#[test]
fn select_by_database_relays_to_the_nas_the_database_names() {
    let Some(radclient) = radclient() else { return };
    let ports = Ports::pick();
    let config = adapt_config("config/examples/select-by-database/boomerang.conf", ports);
    let server = Server::start_with(&config, ports, |dir| {
        let schema = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../config/examples/select-by-database/schema.sql"),
        )
        .unwrap();
        let db = rusqlite::Connection::open(dir.join("sessions.sqlite")).unwrap();
        db.execute_batch(&schema).unwrap();
    });
    // Two NAS devices; the database says mikem is on radiator-nas-simulator.
    let other = server.nas("nas1", &[]);
    let nas = server.nas("radiator-nas-simulator", &["--count", "1"]);
    server.wait_for_nas("nas1");
    server.wait_for_nas("radiator-nas-simulator");
    let out = radclient_disconnect(
        &radclient,
        ports.udp,
        "trigger-secret",
        "User-Name = \"mikem\"\n",
        5,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Received Disconnect-ACK"), "{stdout}");
    let nas = output_bounded(nas, WAIT);
    assert!(nas.status.success());
    assert!(String::from_utf8_lossy(&nas.stdout).contains("\"User-Name\":\"mikem\""));
    let mut other = other;
    let _ = other.kill();
    let other = other.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&other.stdout).contains("Disconnect-Request"));
    // @select runs once per connection visited (one or two, by connection order).
    let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
    assert!(
        metrics.contains(r#"sql_queries_total{backend="SQL_BACKEND",result="ok"} "#),
        "{metrics}"
    );
}

#[test]
fn round_robin_spreads_requests_over_three_nas_connections() {
    let ports = Ports::pick();
    let server = Server::start(
        &adapt_config("config/examples/round-robin/boomerang.conf", ports),
        ports,
    );
    let mut nases: Vec<_> = (0..3)
        .map(|_| server.nas("radiator-nas-simulator", &[]))
        .collect();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, body) = http(server.management(), "GET", "/api/v1/connections").unwrap();
        if body
            .matches("\"nas_identifier\":\"radiator-nas-simulator\"")
            .count()
            == 3
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "three NAS did not connect: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for user in ["u1", "u2", "u3"] {
        let (status, body) = http(
            server.http_addr(),
            "POST",
            &format!("/disconnect?username={user}"),
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let mut counts = Vec::new();
    for nas in nases.iter_mut() {
        let _ = nas.kill();
    }
    for nas in nases {
        let out = nas.wait_with_output().unwrap();
        counts.push(
            String::from_utf8_lossy(&out.stdout)
                .matches("Disconnect-Request")
                .count(),
        );
    }
    assert_eq!(counts, [1, 1, 1]);
}
