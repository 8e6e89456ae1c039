//! Turns the raw samples of a run into the printed report.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::load::LoadOutcome;
use crate::sink::SinkRecord;

/// Run parameters echoed in the report.
#[derive(Debug, Serialize)]
pub struct RunInfo {
    pub connections: u32,
    pub concurrency: u32,
    pub duration_s: u64,
    pub database: &'static str,
}

/// Everything [`Report::build`] needs.
pub struct ReportInputs<'a> {
    pub info: RunInfo,
    pub load: &'a LoadOutcome,
    pub sink: &'a SinkRecord,
    pub drained: bool,
    pub drain_elapsed: Duration,
    pub peak_rss_kib: Option<u64>,
    /// `--apps`: the small apps' trickles (their deliveries count as expected).
    pub small: &'a [LoadOutcome],
    /// `--backlog`: the fill against the failing webhooks, and how long it took.
    pub backlog: Option<(&'a LoadOutcome, Duration)>,
    /// `--finished`: rows prefilled and how long it took.
    pub finished: Option<(u64, Duration)>,
}

/// The scenario keys: `null` when the scenario did not run.
#[derive(Debug, Default, Serialize)]
pub struct Scenarios {
    /// Deliveries queued against the failing (503) webhooks before the load.
    pub backlog_deliveries: Option<usize>,
    pub backlog_fill_s: Option<f64>,
    /// 503 answers the failing webhooks gave (first attempts and retries).
    pub backlog_attempts: Option<u64>,
    /// Accept to first attempt of a backlog delivery: how long a queued
    /// delivery waits to be claimed.
    pub backlog_claim_latency_p50_ms: Option<f64>,
    pub backlog_claim_latency_p99_ms: Option<f64>,
    /// Backlog deliveries never attempted by the end of the run.
    pub backlog_unattempted: Option<usize>,
    /// Finished deliveries written into the table before the load.
    pub finished_prefilled: Option<u64>,
    pub finished_prefill_s: Option<f64>,
    /// Apps publishing: the flooding one plus the small ones.
    pub apps: usize,
    pub small_app_actions: Option<usize>,
    /// Accept to delivery of the small apps' publishes, while the first floods.
    pub small_app_delivery_p50_ms: Option<f64>,
    pub small_app_delivery_p99_ms: Option<f64>,
}

impl Scenarios {
    fn build(sink: &SinkRecord, inputs: &ReportInputs<'_>) -> Self {
        let mut s = Scenarios {
            apps: 1 + inputs.small.len(),
            ..Default::default()
        };
        if let Some((fill, took)) = inputs.backlog {
            let accepted_at = accepted_at(std::iter::once(fill));
            let waits = sorted(sink.first_failed_attempts.values().filter_map(|first| {
                let accepted = accepted_at.get(first.action_id.as_str())?;
                Some(first.at.saturating_duration_since(*accepted))
            }));
            let announced = fill.expected_deliveries();
            s.backlog_deliveries = Some(announced);
            s.backlog_fill_s = Some(took.as_secs_f64());
            s.backlog_attempts = Some(sink.failed_attempts);
            s.backlog_claim_latency_p50_ms = percentile_ms(&waits, 50.0);
            s.backlog_claim_latency_p99_ms = percentile_ms(&waits, 99.0);
            s.backlog_unattempted = Some(announced.saturating_sub(waits.len()));
        }
        if let Some((n, took)) = inputs.finished {
            s.finished_prefilled = Some(n);
            s.finished_prefill_s = Some(took.as_secs_f64());
        }
        if !inputs.small.is_empty() {
            let accepted_at = accepted_at(inputs.small.iter());
            let latencies = sorted(sink.arrivals.values().filter_map(|arrival| {
                let accepted = accepted_at.get(arrival.action_id.as_str())?;
                Some(arrival.at.saturating_duration_since(*accepted))
            }));
            s.small_app_actions = Some(inputs.small.iter().map(|l| l.accepted.len()).sum());
            s.small_app_delivery_p50_ms = percentile_ms(&latencies, 50.0);
            s.small_app_delivery_p99_ms = percentile_ms(&latencies, 99.0);
        }
        s
    }
}

/// When each accepted action of `loads` was answered.
fn accepted_at<'a>(loads: impl Iterator<Item = &'a LoadOutcome>) -> HashMap<&'a str, Instant> {
    loads
        .flat_map(|l| l.accepted.iter())
        .map(|a| (a.action_id.as_str(), a.accepted_at))
        .collect()
}

/// The benchmark's results. Latencies are in milliseconds; `None` (JSON
/// `null`) when there was no sample.
#[derive(Debug, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub info: RunInfo,
    pub accepted_actions: usize,
    pub accepted_per_s: f64,
    pub accept_latency_p50_ms: Option<f64>,
    pub accept_latency_p99_ms: Option<f64>,
    pub expected_deliveries: usize,
    pub deliveries_received: usize,
    pub deliveries_per_s: f64,
    pub delivery_latency_p50_ms: Option<f64>,
    pub delivery_latency_p99_ms: Option<f64>,
    pub duplicate_deliveries: u64,
    pub missing_deliveries: usize,
    pub unexpected_deliveries: usize,
    pub malformed_requests: u64,
    pub deliveries_missing_headers: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub drained: bool,
    pub drain_s: f64,
    pub server_peak_rss_mib: Option<f64>,
    #[serde(flatten)]
    pub scenarios: Scenarios,
}

impl Report {
    pub fn build(inputs: ReportInputs<'_>) -> Self {
        let scenarios = Scenarios::build(inputs.sink, &inputs);
        let ReportInputs {
            info,
            load,
            sink,
            drained,
            drain_elapsed,
            peak_rss_kib,
            small,
            ..
        } = inputs;
        let accept_latencies = sorted(load.accepted.iter().map(|a| a.latency));
        let accepted_at: HashMap<&str, Instant> = load
            .accepted
            .iter()
            .map(|a| (a.action_id.as_str(), a.accepted_at))
            .collect();
        let delivery_latencies = sorted(sink.arrivals.values().filter_map(|arrival| {
            // A delivery may reach the sink before the client has read the
            // 202: that counts as zero latency.
            let accepted = accepted_at.get(arrival.action_id.as_str())?;
            Some(arrival.at.saturating_duration_since(*accepted))
        }));
        let (missing, unexpected) = reconcile(std::iter::once(load).chain(small), sink);
        let deliveries_received = sink.arrivals.len();
        Self {
            info,
            accepted_actions: load.accepted.len(),
            accepted_per_s: rate(load.accepted.len(), load.finished - load.started),
            accept_latency_p50_ms: percentile_ms(&accept_latencies, 50.0),
            accept_latency_p99_ms: percentile_ms(&accept_latencies, 99.0),
            expected_deliveries: load.expected_deliveries()
                + small
                    .iter()
                    .map(LoadOutcome::expected_deliveries)
                    .sum::<usize>(),
            deliveries_received,
            deliveries_per_s: rate(deliveries_received, delivery_window(load, sink)),
            delivery_latency_p50_ms: percentile_ms(&delivery_latencies, 50.0),
            delivery_latency_p99_ms: percentile_ms(&delivery_latencies, 99.0),
            duplicate_deliveries: sink.duplicates,
            missing_deliveries: missing,
            unexpected_deliveries: unexpected,
            malformed_requests: sink.malformed,
            deliveries_missing_headers: sink.missing_headers,
            errors: load.errors,
            first_error: load.first_error.clone(),
            drained,
            drain_s: drain_elapsed.as_secs_f64(),
            server_peak_rss_mib: peak_rss_kib.map(|kib| kib as f64 / 1024.0),
            scenarios,
        }
    }

    /// A run passes when something was accepted and every announced delivery
    /// arrived exactly once.
    pub fn passed(&self) -> bool {
        self.accepted_actions > 0 && self.missing_deliveries == 0 && self.duplicate_deliveries == 0
    }

    pub fn print_json(&self) -> Result<()> {
        let text = serde_json::to_string(self).context("serializing the report")?;
        println!("{text}");
        Ok(())
    }

    pub fn print_text(&self) {
        let i = &self.info;
        println!(
            "herald-bench: {} connection(s), concurrency {}, {} s, database {}",
            i.connections, i.concurrency, i.duration_s, i.database
        );
        line("accepted actions", self.accepted_actions);
        line("accepted actions/s", format!("{:.1}", self.accepted_per_s));
        line("accept latency p50", ms(self.accept_latency_p50_ms));
        line("accept latency p99", ms(self.accept_latency_p99_ms));
        line(
            "deliveries received",
            format!(
                "{} (expected {})",
                self.deliveries_received, self.expected_deliveries
            ),
        );
        line("deliveries/s", format!("{:.1}", self.deliveries_per_s));
        line("accept->delivered p50", ms(self.delivery_latency_p50_ms));
        line("accept->delivered p99", ms(self.delivery_latency_p99_ms));
        line("duplicate deliveries", self.duplicate_deliveries);
        line("missing deliveries", self.missing_deliveries);
        if self.unexpected_deliveries > 0 {
            line("unexpected deliveries", self.unexpected_deliveries);
        }
        if self.malformed_requests > 0 {
            line("malformed sink requests", self.malformed_requests);
        }
        if self.deliveries_missing_headers > 0 {
            line("deliveries w/o headers", self.deliveries_missing_headers);
        }
        line("errors", self.errors);
        if let Some(first) = &self.first_error {
            line("first error", first);
        }
        let drain = if self.drained {
            "complete"
        } else {
            "TIMED OUT"
        };
        line("drain", format!("{drain} after {:.2} s", self.drain_s));
        let rss = self
            .server_peak_rss_mib
            .map_or_else(|| "n/a".to_owned(), |mib| format!("{mib:.1} MiB"));
        line("server peak RSS", rss);
        let sc = &self.scenarios;
        if let Some(n) = sc.finished_prefilled {
            let took = sc.finished_prefill_s.unwrap_or_default();
            line("finished prefilled", format!("{n} in {took:.1} s"));
        }
        if let Some(n) = sc.backlog_deliveries {
            let took = sc.backlog_fill_s.unwrap_or_default();
            line("backlog queued", format!("{n} in {took:.1} s"));
            line(
                "backlog 503 attempts",
                sc.backlog_attempts.unwrap_or_default(),
            );
            line("backlog claim p50", ms(sc.backlog_claim_latency_p50_ms));
            line("backlog claim p99", ms(sc.backlog_claim_latency_p99_ms));
            line(
                "backlog unattempted",
                sc.backlog_unattempted.unwrap_or_default(),
            );
        }
        if let Some(n) = sc.small_app_actions {
            line("apps", sc.apps);
            line("small-app actions", n);
            line("small-app delivered p50", ms(sc.small_app_delivery_p50_ms));
            line("small-app delivered p99", ms(sc.small_app_delivery_p99_ms));
        }
        line("result", if self.passed() { "PASS" } else { "FAIL" });
    }
}

fn line(label: &str, value: impl std::fmt::Display) {
    println!("{label:<24}{value}");
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2} ms"))
}

/// Per accepted action, compares announced and received deliveries.
/// Returns `(missing, unexpected)`; `unexpected` counts deliveries beyond the
/// announced number or for action ids that were never accepted (e.g. a
/// request that timed out on the client but succeeded on the server).
fn reconcile<'a>(
    loads: impl Iterator<Item = &'a LoadOutcome>,
    sink: &SinkRecord,
) -> (usize, usize) {
    let expected: HashMap<&str, usize> = loads
        .flat_map(|l| l.accepted.iter())
        .map(|a| (a.action_id.as_str(), a.deliveries))
        .collect();
    let missing = expected
        .iter()
        .map(|(id, &want)| want.saturating_sub(sink.per_action.get(*id).copied().unwrap_or(0)))
        .sum();
    let unexpected = sink
        .per_action
        .iter()
        .map(|(id, &got)| got.saturating_sub(expected.get(id.as_str()).copied().unwrap_or(0)))
        .sum();
    (missing, unexpected)
}

/// From the first accepted action to the last delivery's arrival.
fn delivery_window(load: &LoadOutcome, sink: &SinkRecord) -> Duration {
    let first_accept = load.accepted.iter().map(|a| a.accepted_at).min();
    let last_arrival = sink.arrivals.values().map(|a| a.at).max();
    match (first_accept, last_arrival) {
        (Some(start), Some(end)) => end.saturating_duration_since(start),
        _ => Duration::ZERO,
    }
}

fn rate(count: usize, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

fn sorted(values: impl Iterator<Item = Duration>) -> Vec<Duration> {
    let mut values: Vec<_> = values.collect();
    values.sort_unstable();
    values
}

/// Nearest-rank percentile of an ascending slice, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    Some(sorted[index].as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn percentile_uses_nearest_rank() {
        let values = millis(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile_ms(&values, 50.0), Some(50.0));
        assert_eq!(percentile_ms(&values, 99.0), Some(99.0));
        assert_eq!(percentile_ms(&millis(&[7]), 99.0), Some(7.0));
        assert_eq!(percentile_ms(&[], 50.0), None);
    }

    #[test]
    fn rate_handles_empty_window() {
        assert_eq!(rate(10, Duration::ZERO), 0.0);
        assert_eq!(rate(10, Duration::from_secs(2)), 5.0);
    }
}
