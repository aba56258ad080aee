//! `bench reverse`: the headline path. N NAS dial in (RadSec or RADIUS/TCP) and announce
//! themselves; triggers (UDP Disconnect-Requests or HTTP calls) name a NAS; the server
//! sends a Disconnect-Request down that NAS's connection; the NAS answers; the trigger
//! gets its answer. Latency is trigger sent → trigger answered.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use clap::Args;
use serde_json::{Map, Value as Json, json};
use tokio::time::Instant;

use super::BenchError;
use super::nas::{Fleet, FleetConfig, Tracker};
use super::options::{InFlight, LoadOptions, NasOptions, Plan, RunOptions};
use super::pipeline::run_lanes;
use super::report::{self, ServerWatch};
use super::trigger::{self, Targets, TriggerAddr, TriggerOptions, TriggerShape};

/// Arguments of `bench reverse`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example (config/examples/udp-trigger, certificates from `boomerang pki dev --out certs`):\n  \
    boomerang bench reverse --pki certs --nas 100 --per-nas-in-flight 4 \\\n      \
    --trigger udp:127.0.0.1:1812 --duration 10s --warmup 2s --server-pid $(pidof boomerang)"
)]
pub struct ReverseArgs {
    /// The NAS fleet.
    #[command(flatten)]
    pub nas: NasOptions,
    /// Where triggers go.
    #[command(flatten)]
    pub trigger: TriggerOptions,
    /// Load shape.
    #[command(flatten)]
    pub load: LoadOptions,
    /// Which NAS each trigger names (with --in-flight or --rate): random, rotate, or
    /// fixed:NAME,NAME… (NAS of the fleet).
    #[arg(
        long,
        value_name = "WHICH",
        default_value = "rotate",
        conflicts_with = "per_nas_in_flight"
    )]
    pub target: String,
    /// Duration, warm-up, report.
    #[command(flatten)]
    pub run: RunOptions,
}

/// Starts the fleet and waits until every NAS is identified; an error otherwise.
pub async fn ready_fleet(
    nas: &NasOptions,
    timeout: std::time::Duration,
    tracker: Option<Arc<Tracker>>,
) -> Result<(Fleet, Arc<[String]>), BenchError> {
    if nas.nas == 0 {
        return Err(BenchError::BadArgument("--nas must be at least 1".into()));
    }
    let target = nas.target(timeout).await?;
    let names: Arc<[String]> = (0..nas.nas).map(|i| nas.nas_name(i)).collect();
    let concurrency = nas.connect_concurrency.unwrap_or(nas.nas).max(1);
    let fleet = Fleet::start(FleetConfig {
        target,
        names: Arc::clone(&names),
        answer: nas.nas_answer,
        delay: nas.nas_delay,
        status_interval: nas.status_interval,
        timeout,
        concurrency,
        tracker,
    });
    // Every wave of `concurrency` NAS gets the full timeout.
    let waves = nas.nas.div_ceil(concurrency) as u32;
    let identified = fleet
        .wait_identified(Instant::now() + timeout * waves.max(1))
        .await;
    if identified < nas.nas {
        let first_error = fleet.error();
        fleet.stop().await;
        return Err(BenchError::Fleet {
            identified,
            wanted: nas.nas,
            first_error,
        });
    }
    Ok((fleet, names))
}

/// What the NAS side saw.
pub fn fleet_section(fleet: &Fleet) -> Json {
    let s = &fleet.stats;
    json!({
        "connected": s.connected.load(Ordering::Relaxed),
        "identified": s.identified.load(Ordering::Relaxed),
        "dropped": s.dropped.load(Ordering::Relaxed),
        "received": s.received.load(Ordering::Relaxed),
        "acked": s.acked.load(Ordering::Relaxed),
        "naked": s.naked.load(Ordering::Relaxed),
        "silent": s.silent.load(Ordering::Relaxed),
        "invalid": s.invalid.load(Ordering::Relaxed),
        "misdirected": s.misdirected.load(Ordering::Relaxed),
        "duplicated": s.duplicated.load(Ordering::Relaxed),
    })
}

/// Runs the scenario and prints its report.
pub async fn run(args: ReverseArgs) -> Result<(), BenchError> {
    let trigger_addr = TriggerAddr::resolve(&args.trigger.trigger).await?;
    let in_flight = args.load.in_flight()?;
    let total = args.load.total(args.nas.nas)?;
    let timeout = args.run.common.timeout;
    let (fleet, names) = ready_fleet(&args.nas, timeout, None).await?;
    let targets = match in_flight {
        InFlight::PerNas(k) => Targets::PerNas(k),
        InFlight::Total(_) => Targets::parse(&args.target, &names)?,
    };
    let shape = TriggerShape {
        slots: total,
        targets,
        mode: args.load.mode(),
    };
    let run_options = args.run.clone();
    let plan = Plan::new(&run_options);
    let mut lanes = match trigger::lanes(
        &trigger_addr,
        &args.trigger.trigger_secret,
        Arc::clone(&names),
        &shape,
        plan,
        4,
        timeout,
    )
    .await
    {
        Ok(l) => l,
        Err(e) => {
            fleet.stop().await;
            return Err(e);
        }
    };
    // The clock starts once every socket is open.
    let plan = Plan::new(&run_options);
    for lane in &mut lanes {
        lane.plan = plan;
    }
    let watch = ServerWatch::start(args.run.common.server_pid, plan.measure_from)?;
    let generator = report::watch_generator(plan.measure_from);
    let outcome = run_lanes(lanes).await;
    let mut out = Map::new();
    out.insert("scenario".into(), json!("reverse"));
    let mut shape_json = args.load.describe(args.nas.nas);
    if let Some(o) = shape_json.as_object_mut() {
        o.insert("nas".into(), json!(args.nas.nas));
        o.insert(
            "transport".into(),
            json!(format!("{:?}", args.nas.transport).to_lowercase()),
        );
        o.insert("trigger".into(), json!(trigger_addr.kind()));
        o.insert("target".into(), json!(shape.targets.describe()));
        o.insert("nas_answer".into(), json!(args.nas.nas_answer.name()));
        o.insert(
            "nas_delay_ms".into(),
            json!(args.nas.nas_delay.map(|d| d.as_millis() as u64)),
        );
    }
    out.insert("shape".into(), shape_json);
    out.extend(report::load(&plan, &outcome));
    out.insert("nas".into(), fleet_section(&fleet));
    report::add_server(&mut out, watch).await;
    report::add_process(&mut out, "generator", generator).await;
    fleet.stop().await;
    report::print(&out, args.run.common.json);
    Ok(())
}
