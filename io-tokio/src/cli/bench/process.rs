//! The server's own cost, read from Linux `/proc`: CPU time per thread
//! (`/proc/PID/task/TID/stat` utime + stime, named by `/proc/PID/task/TID/comm`) and the
//! resident set size (`/proc/PID/status` VmRSS). Sampled before and after the measured
//! interval; the report shows the difference.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value as Json, json};

use super::BenchError;

/// Clock ticks per second of `/proc/…/stat` times. Linux reports them in USER_HZ, which
/// is 100 on every architecture it supports.
const TICKS_PER_SECOND: f64 = 100.0;

/// One sample of a process.
#[derive(Debug, Clone)]
pub struct Sample {
    /// CPU ticks (user + system) by thread id, with the thread's name.
    threads: BTreeMap<u32, (String, u64)>,
    /// VmRSS in KiB.
    pub rss_kib: u64,
}

/// Reads one sample of process `pid`.
pub fn sample(pid: u32) -> Result<Sample, BenchError> {
    let root = PathBuf::from(format!("/proc/{pid}"));
    let err = |what: &str, e: std::io::Error| BenchError::ServerProcess {
        pid,
        reason: format!("{what}: {e}"),
    };
    let status = std::fs::read_to_string(root.join("status")).map_err(|e| err("status", e))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut threads = BTreeMap::new();
    let tasks = std::fs::read_dir(root.join("task")).map_err(|e| err("task", e))?;
    for entry in tasks.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // A thread may end between listing and reading: skip it.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let name = std::fs::read_to_string(entry.path().join("comm"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if let Some(ticks) = cpu_ticks(&stat) {
            threads.insert(tid, (name, ticks));
        }
    }
    Ok(Sample { threads, rss_kib })
}

/// utime + stime from a `stat` line. The name field may contain spaces and parentheses,
/// so fields are counted after the last `)`: utime and stime are fields 14 and 15.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After `)`: state is field 3, so utime (14) is the 12th from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The server's cost over an interval: CPU seconds per thread name (threads of the same
/// name summed), the CPU utilisation, and RSS before/after.
pub fn delta(before: &Sample, after: &Sample, interval: Duration) -> Json {
    let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    for (tid, (name, ticks)) in &after.threads {
        let base = before.threads.get(tid).map_or(0, |(_, t)| *t);
        let used = ticks.saturating_sub(base);
        total += used;
        *by_name.entry(name.clone()).or_default() += used;
    }
    let secs = interval.as_secs_f64().max(1e-9);
    let threads: serde_json::Map<String, Json> = by_name
        .into_iter()
        .filter(|(_, t)| *t > 0)
        .map(|(name, t)| {
            let cpu = t as f64 / TICKS_PER_SECOND;
            (
                name,
                json!({ "cpu_seconds": cpu, "cpu_percent": round1(100.0 * cpu / secs) }),
            )
        })
        .collect();
    let cpu = total as f64 / TICKS_PER_SECOND;
    json!({
        "cpu_seconds": cpu,
        "cpu_percent": round1(100.0 * cpu / secs),
        "threads": threads,
        "rss_kib_before": before.rss_kib,
        "rss_kib_after": after.rss_kib,
    })
}

/// One decimal place, for readable JSON.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let stat = "1234 (tokio (rt) w) S 1 2 3 4 5 6 7 8 9 10 250 30 0 0 20 0 4 0";
        assert_eq!(cpu_ticks(stat), Some(280));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn own_process_can_be_sampled() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_kib > 0);
        assert!(!s.threads.is_empty());
        let d = delta(&s, &s, Duration::from_secs(1));
        assert_eq!(d["cpu_seconds"], json!(0.0));
    }
}
