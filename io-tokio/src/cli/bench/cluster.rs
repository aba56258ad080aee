//! `bench cluster`: what the cluster adds to a reverse request. One NAS fleet holds
//! its connections on one node; triggers go alternately to that node (the local
//! path) and to another node of the same cluster (the request is forwarded over the
//! bus to the node that holds the connection, and the answer comes back the same
//! way). Both paths run the same load shape against the same fleet in one run, in
//! alternating rounds so that drift on a shared machine affects both alike; the
//! report gives each path's throughput and latency and the differences.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::{Map, Value as Json, json};

use super::BenchError;
use super::options::{InFlight, LoadOptions, NasOptions, Plan, RunOptions};
use super::pipeline::{Outcome, run_lanes};
use super::report::{self, ServerWatch};
use super::reverse::{fleet_section, ready_fleet};
use super::trigger::{self, Targets, TriggerAddr, TriggerShape};

/// Arguments of `bench cluster`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example (config/examples/cluster, nodes a and b running, NAS on node b):\n  \
    boomerang bench cluster --pki config/examples/cluster/certs --server 127.0.0.1:2084 \\\n      \
    --local-trigger udp:127.0.0.1:3800 --remote-trigger udp:127.0.0.1:3799 \\\n      \
    --nas 100 --per-nas-in-flight 4 --duration 5s --warmup 1s --rounds 3"
)]
pub struct ClusterArgs {
    /// The NAS fleet; `--server` is the node that holds the connections.
    #[command(flatten)]
    pub nas: NasOptions,
    /// Triggers to the node that holds the NAS connections: `udp:HOST:PORT` or
    /// `http://HOST:PORT`.
    #[arg(long, value_name = "URL")]
    pub local_trigger: String,
    /// Triggers to another node of the cluster (same kind as --local-trigger).
    #[arg(long, value_name = "URL")]
    pub remote_trigger: String,
    /// Secret of UDP triggers (both nodes).
    #[arg(long, value_name = "SECRET", default_value = "trigger-secret")]
    pub trigger_secret: String,
    /// Load shape (the same for both paths).
    #[command(flatten)]
    pub load: LoadOptions,
    /// Which NAS each trigger names (with --in-flight or --rate): random, rotate, or
    /// fixed:NAME,NAME….
    #[arg(
        long,
        value_name = "WHICH",
        default_value = "rotate",
        conflicts_with = "per_nas_in_flight"
    )]
    pub target: String,
    /// Rounds per path: local, remote, local, remote… each of --warmup + --duration.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub rounds: u32,
    /// Duration, warm-up, report (per round).
    #[command(flatten)]
    pub run: RunOptions,
}

/// One path's rounds, merged.
#[derive(Default)]
struct Path {
    outcome: Outcome,
    measured: Duration,
}

impl Path {
    fn section(&self) -> Map<String, Json> {
        report::load_over(self.measured, &self.outcome)
    }

    fn throughput(&self) -> f64 {
        let secs = self.measured.as_secs_f64();
        let c = &self.outcome.counts;
        if secs > 0.0 {
            (c.ack + c.nak) as f64 / secs
        } else {
            0.0
        }
    }

    fn p50_ms(&self) -> f64 {
        self.outcome.latency.quantile(0.50) as f64 / 1000.0
    }
}

/// Runs one round of triggers to `addr` against the ready fleet.
async fn round(
    args: &ClusterArgs,
    addr: &TriggerAddr,
    names: &Arc<[String]>,
    shape: &TriggerShape,
) -> Result<(Plan, Outcome), BenchError> {
    let timeout = args.run.common.timeout;
    let mut lanes = trigger::lanes(
        addr,
        &args.trigger_secret,
        Arc::clone(names),
        shape,
        Plan::new(&args.run),
        4,
        timeout,
    )
    .await?;
    // The clock starts once every socket is open.
    let plan = Plan::new(&args.run);
    for lane in &mut lanes {
        lane.plan = plan;
    }
    Ok((plan, run_lanes(lanes).await))
}

/// Runs the scenario and prints its report.
pub async fn run(args: ClusterArgs) -> Result<(), BenchError> {
    if args.rounds == 0 {
        return Err(BenchError::BadArgument(
            "--rounds must be at least 1".into(),
        ));
    }
    let local = TriggerAddr::resolve(&args.local_trigger).await?;
    let remote = TriggerAddr::resolve(&args.remote_trigger).await?;
    if local.kind() != remote.kind() {
        return Err(BenchError::BadArgument(format!(
            "--local-trigger is {} and --remote-trigger is {}: compare like with like",
            local.kind(),
            remote.kind()
        )));
    }
    let in_flight = args.load.in_flight()?;
    let total = args.load.total(args.nas.nas)?;
    let (fleet, names) = ready_fleet(&args.nas, args.run.common.timeout, None).await?;
    let targets = match in_flight {
        InFlight::PerNas(k) => Targets::PerNas(k),
        InFlight::Total(_) => match Targets::parse(&args.target, &names) {
            Ok(t) => t,
            Err(e) => {
                fleet.stop().await;
                return Err(e);
            }
        },
    };
    let shape = TriggerShape {
        slots: total,
        targets,
        mode: args.load.mode(),
    };
    let result = measure(&args, &names, &shape, [&local, &remote]).await;
    let report = match result {
        Ok(mut out) => {
            out.insert("nas".into(), fleet_section(&fleet));
            out
        }
        Err(e) => {
            fleet.stop().await;
            return Err(e);
        }
    };
    fleet.stop().await;
    report::print(&report, args.run.common.json);
    Ok(())
}

/// The alternating rounds and the report (without the fleet's section).
async fn measure(
    args: &ClusterArgs,
    names: &Arc<[String]>,
    shape: &TriggerShape,
    addrs: [&TriggerAddr; 2],
) -> Result<Map<String, Json>, BenchError> {
    let mut paths = [Path::default(), Path::default()];
    // The server's CPU over all rounds, from the first round's start.
    let watch = ServerWatch::start(
        args.run.common.server_pid,
        tokio::time::Instant::now() + args.run.warmup,
    )?;
    for _ in 0..args.rounds {
        for (path, addr) in paths.iter_mut().zip(addrs) {
            let (plan, outcome) = round(args, addr, names, shape).await?;
            path.measured += report::measured(&plan, &outcome);
            path.outcome.merge(&outcome);
        }
    }
    let [local, remote] = &paths;
    let mut out = Map::new();
    out.insert("scenario".into(), json!("cluster"));
    let mut shape_json = args.load.describe(args.nas.nas);
    if let Some(o) = shape_json.as_object_mut() {
        o.insert("nas".into(), json!(args.nas.nas));
        o.insert(
            "transport".into(),
            json!(format!("{:?}", args.nas.transport).to_lowercase()),
        );
        o.insert("trigger".into(), json!(addrs[0].kind()));
        o.insert("target".into(), json!(shape.targets.describe()));
        o.insert("rounds".into(), json!(args.rounds));
    }
    out.insert("shape".into(), shape_json);
    out.insert("local".into(), Json::Object(local.section()));
    out.insert("remote".into(), Json::Object(remote.section()));
    let ratio = if local.throughput() > 0.0 {
        remote.throughput() / local.throughput()
    } else {
        0.0
    };
    out.insert(
        "cross_node".into(),
        json!({
            "added_p50_ms": ((remote.p50_ms() - local.p50_ms()) * 1000.0).round() / 1000.0,
            "throughput_ratio": (ratio * 1000.0).round() / 1000.0,
        }),
    );
    report::add_server(&mut out, watch).await;
    Ok(out)
}
