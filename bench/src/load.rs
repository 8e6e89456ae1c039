//! The load phase and the delivery drain.
//!
//! Load is closed-loop: `concurrency` tasks each post one action, wait for
//! the answer, and immediately post the next, until the deadline. Requests in
//! flight at the deadline are allowed to finish (and are counted).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::api::{ActionOutcome, ApiClient};
use crate::sink::Sink;

/// Interval between two checks of the sink while draining.
const DRAIN_POLL: Duration = Duration::from_millis(50);

pub struct LoadConfig {
    pub concurrency: usize,
    pub duration: Duration,
    /// Stop once the accepted actions announced this many deliveries (the
    /// `--backlog` fill), even before `duration`.
    pub stop_after_deliveries: Option<usize>,
    /// Wait between one answer and the next request (a trickle instead of a
    /// flood: the small apps of `--apps`).
    pub pause: Duration,
}

impl LoadConfig {
    /// Closed-loop load at `concurrency` for `duration`.
    pub fn flood(concurrency: usize, duration: Duration) -> Self {
        Self {
            concurrency,
            duration,
            stop_after_deliveries: None,
            pause: Duration::ZERO,
        }
    }
}

/// One action the server answered 202 to.
#[derive(Debug)]
pub struct Accepted {
    pub action_id: String,
    /// When the 202 answer had been fully read.
    pub accepted_at: Instant,
    /// Time from sending the request to reading the full answer.
    pub latency: Duration,
    /// Number of deliveries the server announced for this action.
    pub deliveries: usize,
}

/// Result of the load phase.
#[derive(Debug)]
pub struct LoadOutcome {
    pub accepted: Vec<Accepted>,
    /// Non-202 answers plus transport failures.
    pub errors: u64,
    /// The earliest error, for diagnosis.
    pub first_error: Option<String>,
    pub started: Instant,
    /// When the last in-flight request finished.
    pub finished: Instant,
}

impl LoadOutcome {
    /// Deliveries announced by all accepted actions.
    pub fn expected_deliveries(&self) -> usize {
        self.accepted.iter().map(|a| a.deliveries).sum()
    }
}

/// What one load task observed.
#[derive(Default)]
struct WorkerLog {
    accepted: Vec<Accepted>,
    errors: u64,
    first_error: Option<(Instant, String)>,
}

impl WorkerLog {
    fn error(&mut self, at: Instant, message: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some((at, message));
        }
    }
}

/// Drives `POST /v1/actions` for `config.duration` at `config.concurrency`.
pub async fn run(api: ApiClient, uid: Arc<str>, config: LoadConfig) -> Result<LoadOutcome> {
    let started = Instant::now();
    let deadline = started + config.duration;
    let announced = Arc::new(AtomicUsize::new(0));
    let stop = Stop {
        deadline,
        after_deliveries: config.stop_after_deliveries,
        announced,
        pause: config.pause,
    };
    let workers: Vec<_> = (0..config.concurrency)
        .map(|_| tokio::spawn(worker(api.clone(), Arc::clone(&uid), stop.clone())))
        .collect();
    let mut outcome = LoadOutcome {
        accepted: Vec::new(),
        errors: 0,
        first_error: None,
        started,
        finished: started,
    };
    let mut first_error: Option<(Instant, String)> = None;
    for handle in workers {
        let log = handle.await.context("a load task panicked")?;
        outcome.accepted.extend(log.accepted);
        outcome.errors += log.errors;
        first_error = earliest(first_error, log.first_error);
    }
    outcome.finished = Instant::now();
    outcome.first_error = first_error.map(|(_, message)| message);
    Ok(outcome)
}

/// When the load tasks stop, shared by all of them.
#[derive(Clone)]
struct Stop {
    deadline: Instant,
    after_deliveries: Option<usize>,
    /// Deliveries announced so far by all tasks.
    announced: Arc<AtomicUsize>,
    pause: Duration,
}

impl Stop {
    fn reached(&self) -> bool {
        Instant::now() >= self.deadline
            || self
                .after_deliveries
                .is_some_and(|n| self.announced.load(Ordering::Relaxed) >= n)
    }
}

/// One closed-loop client.
async fn worker(api: ApiClient, uid: Arc<str>, stop: Stop) -> WorkerLog {
    let mut log = WorkerLog::default();
    while !stop.reached() {
        // Minting is excluded from the measured latency.
        let token = match api.token() {
            Ok(token) => token,
            Err(err) => {
                log.error(Instant::now(), format!("{err:#}"));
                continue;
            }
        };
        let sent = Instant::now();
        let result = api.post_action(&uid, &token).await;
        let done = Instant::now();
        match result {
            Ok(ActionOutcome::Accepted {
                action_id,
                deliveries,
            }) => {
                stop.announced.fetch_add(deliveries, Ordering::Relaxed);
                log.accepted.push(Accepted {
                    action_id,
                    accepted_at: done,
                    latency: done - sent,
                    deliveries,
                });
            }
            Ok(ActionOutcome::Rejected { status, body }) => {
                log.error(done, format!("POST /v1/actions answered {status}: {body}"));
            }
            Err(err) => log.error(done, format!("{err:#}")),
        }
        if !stop.pause.is_zero() {
            tokio::time::sleep(stop.pause).await;
        }
    }
    log
}

fn earliest(
    a: Option<(Instant, String)>,
    b: Option<(Instant, String)>,
) -> Option<(Instant, String)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Waits until every delivery announced by every accepted action of `loads`
/// reached the sink, or `timeout` passes. Returns whether everything arrived.
pub async fn drain(sink: &Sink, loads: &[&LoadOutcome], timeout: Duration) -> bool {
    let expected_total = loads
        .iter()
        .map(|l| l.expected_deliveries() as u64)
        .sum::<u64>();
    let expected: HashMap<&str, usize> = loads
        .iter()
        .flat_map(|l| l.accepted.iter())
        .map(|a| (a.action_id.as_str(), a.deliveries))
        .collect();
    let give_up = Instant::now() + timeout;
    loop {
        // The cheap counter gates the exact per-action check.
        if sink.distinct() >= expected_total && missing(sink, &expected) == 0 {
            return true;
        }
        if Instant::now() >= give_up {
            return false;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

/// Deliveries announced in `expected` (per action id) not yet seen by the sink.
fn missing(sink: &Sink, expected: &HashMap<&str, usize>) -> usize {
    sink.inspect(|record| {
        expected
            .iter()
            .map(|(action_id, &want)| {
                let got = record.per_action.get(*action_id).copied().unwrap_or(0);
                want.saturating_sub(got)
            })
            .sum()
    })
}
