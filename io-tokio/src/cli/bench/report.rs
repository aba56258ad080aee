//! What a scenario prints: one JSON object (`--json`) or the same content as a short
//! indented table. Every scenario reports the load it ran (shape), throughput,
//! latency percentiles, outcome counts and, with `--server-pid`, the server's CPU per
//! thread and RSS.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Map, Value as Json, json};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use super::BenchError;
use super::histogram::Histogram;
use super::options::Plan;
use super::pipeline::Outcome;
use super::process::{self, Sample, round1};

/// Latency figures in milliseconds (from a microsecond histogram).
pub fn latency(h: &Histogram) -> Json {
    let ms = |us: u64| us as f64 / 1000.0;
    json!({
        "count": h.count(),
        "p50_ms": ms(h.quantile(0.50)),
        "p90_ms": ms(h.quantile(0.90)),
        "p99_ms": ms(h.quantile(0.99)),
        "max_ms": ms(h.max()),
        "mean_ms": (h.mean() / 10.0).round() / 100.0,
    })
}

/// The measured interval of a load run: from the end of the warm-up to the end of the
/// duration (or the last outcome, if later or with --count).
pub fn measured(plan: &Plan, outcome: &Outcome) -> Duration {
    let end = match (plan.stop_at, outcome.last) {
        (Some(stop), Some(last)) => stop.max(last),
        (Some(stop), None) => stop,
        (None, Some(last)) => last,
        (None, None) => plan.measure_from,
    };
    end.saturating_duration_since(plan.measure_from)
}

/// Throughput, latency and counts of a load run.
pub fn load(plan: &Plan, outcome: &Outcome) -> Map<String, Json> {
    load_over(measured(plan, outcome), outcome)
}

/// Throughput, latency and counts of `outcome`, measured over `measured` (several
/// runs merged: the sum of their measured intervals).
pub fn load_over(measured: Duration, outcome: &Outcome) -> Map<String, Json> {
    let secs = measured.as_secs_f64();
    let c = &outcome.counts;
    let answered = c.ack + c.nak;
    let mut m = Map::new();
    m.insert("measured_seconds".into(), json!(round3(secs)));
    m.insert(
        "throughput_per_second".into(),
        json!(round1(if secs > 0.0 {
            answered as f64 / secs
        } else {
            0.0
        })),
    );
    m.insert("latency".into(), latency(&outcome.latency));
    m.insert(
        "counts".into(),
        json!({
            "sent": c.sent,
            "ack": c.ack,
            "nak": c.nak,
            "timeout": c.timeout,
            "error": c.error,
            "stray": c.stray,
            "warmup": c.warmup,
        }),
    );
    if let Some(f) = &outcome.failure {
        m.insert("first_error".into(), json!(f));
    }
    m
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Samples the server process at the start of the measured interval and at the end.
pub struct ServerWatch {
    pid: u32,
    before: JoinHandle<Result<(Instant, Sample), BenchError>>,
}

impl ServerWatch {
    /// Checks the process exists now, and takes the first sample at `from`.
    pub fn start(pid: Option<u32>, from: Instant) -> Result<Option<ServerWatch>, BenchError> {
        let Some(pid) = pid else { return Ok(None) };
        process::sample(pid)?;
        let before = tokio::spawn(async move {
            sleep_until(from).await;
            Ok((Instant::now(), process::sample(pid)?))
        });
        Ok(Some(ServerWatch { pid, before }))
    }

    /// The second sample, and the difference.
    pub async fn finish(self) -> Result<Json, BenchError> {
        let (t0, before) = self.before.await.map_err(|e| BenchError::ServerProcess {
            pid: self.pid,
            reason: e.to_string(),
        })??;
        let after = process::sample(self.pid)?;
        let mut d = process::delta(&before, &after, t0.elapsed());
        if let Some(o) = d.as_object_mut() {
            o.insert("pid".into(), json!(self.pid));
        }
        Ok(d)
    }
}

/// Finishes an optional watch of the server into the report (`server`).
pub async fn add_server(report: &mut Map<String, Json>, watch: Option<ServerWatch>) {
    add_process(report, "server", watch).await;
}

/// Watches the generator itself over the same interval: on a shared machine its own cost
/// is part of the picture.
pub fn watch_generator(from: Instant) -> Option<ServerWatch> {
    ServerWatch::start(Some(std::process::id()), from)
        .ok()
        .flatten()
}

/// Finishes an optional watch into the report under `key`.
pub async fn add_process(report: &mut Map<String, Json>, key: &str, watch: Option<ServerWatch>) {
    if let Some(w) = watch {
        let v = match w.finish().await {
            Ok(v) => v,
            Err(e) => json!({ "error": e.to_string() }),
        };
        report.insert(key.into(), v);
    }
}

/// Prints the report: JSON on one line, or an indented table.
pub fn print(report: &Map<String, Json>, as_json: bool) {
    if as_json {
        println!("{}", Json::Object(report.clone()));
    } else {
        let mut out = String::new();
        table(&mut out, report, 0);
        print!("{out}");
    }
}

fn table(out: &mut String, map: &Map<String, Json>, depth: usize) {
    let pad = "  ".repeat(depth);
    for (k, v) in map {
        match v {
            Json::Object(inner) if inner.values().all(|x| !x.is_object()) && inner.len() <= 8 => {
                let cells: Vec<String> = inner
                    .iter()
                    .map(|(k, v)| format!("{k} {}", cell(v)))
                    .collect();
                let _ = writeln!(out, "{pad}{k:<24} {}", cells.join("  "));
            }
            Json::Object(inner) => {
                let _ = writeln!(out, "{pad}{k}:");
                table(out, inner, depth + 1);
            }
            other => {
                let _ = writeln!(out, "{pad}{k:<24} {}", cell(other));
            }
        }
    }
}

fn cell(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_indent_nested_objects() {
        let mut m = Map::new();
        m.insert("scenario".into(), json!("reverse"));
        m.insert("latency".into(), json!({"p50_ms": 1.5}));
        m.insert(
            "server".into(),
            json!({"threads": {"main": {"cpu_seconds": 1}}}),
        );
        let mut out = String::new();
        table(&mut out, &m, 0);
        assert!(out.contains("scenario"), "{out}");
        assert!(out.contains("p50_ms 1.5"), "{out}");
        assert!(out.contains("  threads:"), "{out}");
    }
}
