//! `bench connections`: open N NAS connections (each identified by Status-Server), hold
//! them, and report the handshake rate and, with `--server-pid`, the server's RSS per
//! connection ((RSS after − RSS before) / N).

use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Args;
use serde_json::{Map, json};
use tokio::time::{Instant, sleep};

use super::BenchError;
use super::options::{CommonOptions, NasOptions};
use super::report::{self, ServerWatch};
use super::reverse::{fleet_section, ready_fleet};
use crate::cli::client::parse_cli_duration;

/// Arguments of `bench connections` and `bench storm`.
#[derive(Debug, Args)]
pub struct ConnectionsArgs {
    /// The NAS fleet.
    #[command(flatten)]
    pub nas: NasOptions,
    /// Keep the connections open this long after all are identified, before the RSS is
    /// read (lets the server settle).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_cli_duration)]
    pub hold: Duration,
    /// Timeout, report, server process.
    #[command(flatten)]
    pub common: CommonOptions,
}

/// Which scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `connections`.
    Hold,
    /// `storm`.
    Storm,
}

/// Runs `connections` or `storm` and prints the report.
pub async fn run(args: ConnectionsArgs, kind: Kind) -> Result<(), BenchError> {
    let watch = ServerWatch::start(args.common.server_pid, Instant::now())?;
    let generator = report::watch_generator(Instant::now());
    // Let the watch take its first sample before any connection opens.
    tokio::task::yield_now().await;
    sleep(Duration::from_millis(20)).await;
    let (fleet, _names) = ready_fleet(&args.nas, args.common.timeout, None).await?;
    let n = args.nas.nas;
    let stats = &fleet.stats;
    let handshakes_s = stats.last_handshake_us.load(Ordering::Relaxed) as f64 / 1e6;
    let identified_s = stats.last_identified_us.load(Ordering::Relaxed) as f64 / 1e6;
    sleep(args.hold).await;
    let mut out = Map::new();
    out.insert(
        "scenario".into(),
        json!(match kind {
            Kind::Hold => "connections",
            Kind::Storm => "storm",
        }),
    );
    out.insert(
        "shape".into(),
        json!({
            "nas": n,
            "transport": format!("{:?}", args.nas.transport).to_lowercase(),
            "connect_concurrency": args.nas.connect_concurrency.unwrap_or(n),
            "hold_seconds": args.hold.as_secs_f64(),
        }),
    );
    out.insert(
        "all_connected_seconds".into(),
        json!((handshakes_s * 1000.0).round() / 1000.0),
    );
    out.insert(
        "all_identified_seconds".into(),
        json!((identified_s * 1000.0).round() / 1000.0),
    );
    let rate = |secs: f64| {
        if secs > 0.0 {
            (n as f64 / secs * 10.0).round() / 10.0
        } else {
            0.0
        }
    };
    out.insert("handshakes_per_second".into(), json!(rate(handshakes_s)));
    out.insert("identified_per_second".into(), json!(rate(identified_s)));
    if let Ok(h) = fleet.handshake_latency.lock() {
        out.insert("handshake_latency".into(), report::latency(&h));
    }
    if let Ok(h) = fleet.identify_latency.lock() {
        out.insert("identify_latency".into(), report::latency(&h));
    }
    out.insert("nas".into(), fleet_section(&fleet));
    report::add_server(&mut out, watch).await;
    report::add_process(&mut out, "generator", generator).await;
    if let Some(server) = out.get_mut("server").and_then(|s| s.as_object_mut()) {
        let before = server.get("rss_kib_before").and_then(|v| v.as_u64());
        let after = server.get("rss_kib_after").and_then(|v| v.as_u64());
        if let (Some(b), Some(a)) = (before, after) {
            let per = (a as f64 - b as f64) * 1024.0 / n.max(1) as f64;
            server.insert("rss_bytes_per_connection".into(), json!(per.round()));
        }
    }
    fleet.stop().await;
    report::print(&out, args.common.json);
    Ok(())
}
