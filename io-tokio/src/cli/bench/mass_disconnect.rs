//! `bench mass-disconnect`: M triggers spread over N NAS (each NAS in turn), with a large
//! window, as fast as the server takes them. Every trigger has a unique User-Name naming
//! its target, so the NAS side can tell what got lost (never answered, or never reached
//! a NAS), duplicated (a trigger reached a NAS twice) or misdirected (a trigger reached a
//! NAS other than the one it named).

use std::sync::Arc;

use clap::Args;
use serde_json::{Map, json};
use tokio::time::{Duration, sleep};

use super::BenchError;
use super::nas::Tracker;
use super::options::{CommonOptions, NasOptions, Plan, RunOptions};
use super::pipeline::{Mode, run_lanes};
use super::report::{self, ServerWatch};
use super::reverse::{fleet_section, ready_fleet};
use super::trigger::{self, Targets, TriggerAddr, TriggerOptions, TriggerShape};

/// Arguments of `bench mass-disconnect`.
#[derive(Debug, Args)]
pub struct MassDisconnectArgs {
    /// The NAS fleet.
    #[command(flatten)]
    pub nas: NasOptions,
    /// Where triggers go.
    #[command(flatten)]
    pub trigger: TriggerOptions,
    /// M: how many disconnects.
    #[arg(long, value_name = "M", default_value_t = 10_000)]
    pub disconnects: u64,
    /// Window: triggers in flight in total.
    #[arg(long, value_name = "T", default_value_t = 1000)]
    pub in_flight: usize,
    /// Timeout, report, server process.
    #[command(flatten)]
    pub common: CommonOptions,
}

/// Runs the scenario and prints its report.
pub async fn run(args: MassDisconnectArgs) -> Result<(), BenchError> {
    if args.disconnects == 0 || args.in_flight == 0 {
        return Err(BenchError::BadArgument(
            "--disconnects and --in-flight must be at least 1".into(),
        ));
    }
    let trigger_addr = TriggerAddr::resolve(&args.trigger.trigger).await?;
    let tracker = Arc::new(Tracker::new(args.disconnects));
    let timeout = args.common.timeout;
    let (fleet, names) = ready_fleet(&args.nas, timeout, Some(Arc::clone(&tracker))).await?;
    let run_options = RunOptions {
        duration: Duration::ZERO,
        count: Some(args.disconnects),
        warmup: Duration::ZERO,
        common: args.common.clone(),
    };
    let plan = Plan::new(&run_options);
    let shape = TriggerShape {
        slots: args.in_flight,
        targets: Targets::Rotate,
        mode: Mode::Closed,
    };
    let mut lanes = match trigger::lanes(
        &trigger_addr,
        &args.trigger.trigger_secret,
        names,
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
    let watch = ServerWatch::start(args.common.server_pid, plan.measure_from)?;
    let generator = report::watch_generator(plan.measure_from);
    let outcome = run_lanes(lanes).await;
    // A NAS answer and the server's answer to the trigger race; let stragglers land.
    sleep(Duration::from_millis(50)).await;
    let sent = outcome.counts.sent;
    let reached = tracker.received(sent);
    let c = &outcome.counts;
    let mut out = Map::new();
    out.insert("scenario".into(), json!("mass-disconnect"));
    out.insert(
        "shape".into(),
        json!({
            "nas": args.nas.nas,
            "disconnects": args.disconnects,
            "in_flight_total": args.in_flight,
            "trigger": trigger_addr.kind(),
            "target": "rotate",
        }),
    );
    out.extend(report::load(&plan, &outcome));
    let nas = fleet_section(&fleet);
    out.insert(
        "integrity".into(),
        json!({
            "lost": c.timeout + c.error,
            "never_reached_nas": sent.saturating_sub(reached),
            "duplicated": nas["duplicated"],
            "misdirected": nas["misdirected"],
        }),
    );
    out.insert("nas".into(), nas);
    report::add_server(&mut out, watch).await;
    report::add_process(&mut out, "generator", generator).await;
    fleet.stop().await;
    report::print(&out, args.common.json);
    Ok(())
}
