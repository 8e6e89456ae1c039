//! Every Prometheus series Herald exports, named once. Callers record through
//! these functions (not `metrics::counter!` with a literal), so a name or a
//! label cannot drift between the place that records it and the place that
//! registers it at zero; [`describe_and_zero`] makes every series visible on
//! `/metrics` from start, zero-valued rather than absent.

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

pub const HTTP_REQUESTS: &str = "herald_http_requests_total";
pub const ACCEPT_SECONDS: &str = "herald_accept_seconds";
pub const ACTIONS_ACCEPTED: &str = "herald_actions_accepted_total";
pub const COMMIT_BATCH_SIZE: &str = "herald_commit_batch_size";
pub const DELIVERIES: &str = "herald_deliveries_total";
pub const PUBLISH_SECONDS: &str = "herald_publish_seconds";
pub const QUEUE_DEPTH: &str = "herald_queue_depth";
pub const OLDEST_DUE_SECONDS: &str = "herald_oldest_due_age_seconds";
pub const BREAKER_STATE: &str = "herald_breaker_state";
pub const REFRESHES: &str = "herald_token_refreshes_total";
pub const RATE_LIMIT_WAITS: &str = "herald_rate_limit_waits_total";
pub const API_RATE_LIMITED: &str = "herald_api_rate_limited_total";
pub const DATABASE_ERRORS: &str = "herald_database_errors_total";

/// Every series above. `/metrics` lists each of them from start (the
/// end-to-end metrics test reads this list); a new constant must be added here,
/// which the unit test below enforces.
pub const ALL: &[&str] = &[
    HTTP_REQUESTS,
    ACCEPT_SECONDS,
    ACTIONS_ACCEPTED,
    COMMIT_BATCH_SIZE,
    DELIVERIES,
    PUBLISH_SECONDS,
    QUEUE_DEPTH,
    OLDEST_DUE_SECONDS,
    BREAKER_STATE,
    REFRESHES,
    RATE_LIMIT_WAITS,
    API_RATE_LIMITED,
    DATABASE_ERRORS,
];

/// The route label of a request no route matched (so a scan of random paths
/// cannot create one series per path).
pub const UNMATCHED_ROUTE: &str = "unmatched";
/// The publish route, whose success series is zeroed at start so a rate of
/// accepted publishes reads 0, not "no data", on a fresh node.
pub const PUBLISH_ROUTE: &str = "/v1/actions";

/// Histogram buckets (seconds) of the latency series: from well under a
/// millisecond (a group commit on SQLite) to the 20 s HTTP timeout.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
];
/// Histogram buckets of commit batch sizes (items per transaction).
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The histogram series and their buckets, for the Prometheus exporter
/// (without buckets it would export summaries, which cannot be summed across
/// nodes).
pub fn histogram_buckets() -> [(&'static str, &'static [f64]); 3] {
    [
        (ACCEPT_SECONDS, LATENCY_BUCKETS),
        (PUBLISH_SECONDS, LATENCY_BUCKETS),
        (COMMIT_BATCH_SIZE, BATCH_BUCKETS),
    ]
}

/// Outcomes a delivery attempt is counted under.
pub const DELIVERY_OUTCOMES: &[&str] = &["published", "retry", "failed", "unknown", "deferred"];
/// Delivery states the queue-depth gauge reports: the live ones. Finished
/// deliveries stay in the table by the million; counting them would make the
/// gauge's query grow with history.
pub const QUEUE_STATES: &[&str] = &["queued", "sending"];
/// What a group commit wrote: accepted actions, or attempt outcomes.
pub const COMMIT_KINDS: &[&str] = &["accept", "outcome"];
/// Refresh outcomes.
pub const REFRESH_OUTCOMES: &[&str] = &["refreshed", "transient", "needs_reauth"];

/// Circuit breaker states, as the gauge's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerGauge {
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
}

/// Describes every series and records it at zero for each provider id, so a
/// dashboard or alert sees `0`, not "no data", before the first event.
pub fn describe_and_zero(providers: &[&str]) {
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by route and status");
    describe_histogram!(
        ACCEPT_SECONDS,
        "Time from a publish request's arrival to its durable commit"
    );
    describe_counter!(ACTIONS_ACCEPTED, "Actions committed");
    describe_histogram!(
        COMMIT_BATCH_SIZE,
        "Items written per group commit, by kind (accept, outcome)"
    );
    describe_counter!(
        DELIVERIES,
        "Delivery attempts finished, by provider and outcome"
    );
    describe_histogram!(PUBLISH_SECONDS, "Network time of one attempt, by provider");
    describe_gauge!(QUEUE_DEPTH, "Deliveries by state");
    describe_gauge!(
        OLDEST_DUE_SECONDS,
        "Age of the oldest queued delivery that is due"
    );
    describe_gauge!(
        BREAKER_STATE,
        "Per-provider circuit breaker: 0 closed, 1 half-open, 2 open"
    );
    describe_counter!(REFRESHES, "Token refreshes, by provider and outcome");
    describe_counter!(
        RATE_LIMIT_WAITS,
        "Deliveries deferred because a learned rate limit said wait, by provider"
    );
    describe_counter!(
        API_RATE_LIMITED,
        "API requests refused by an app's rate limit"
    );
    describe_counter!(DATABASE_ERRORS, "Database operations that failed");

    counter!(HTTP_REQUESTS, "route" => PUBLISH_ROUTE, "status" => "202").absolute(0);
    counter!(ACTIONS_ACCEPTED).absolute(0);
    counter!(API_RATE_LIMITED).absolute(0);
    counter!(DATABASE_ERRORS).absolute(0);
    let _ = histogram!(ACCEPT_SECONDS);
    for kind in COMMIT_KINDS {
        let _ = histogram!(COMMIT_BATCH_SIZE, "kind" => *kind);
    }
    for state in QUEUE_STATES {
        gauge!(QUEUE_DEPTH, "state" => *state).set(0.0);
    }
    gauge!(OLDEST_DUE_SECONDS).set(0.0);
    for p in providers {
        let p = p.to_string();
        for outcome in DELIVERY_OUTCOMES {
            counter!(DELIVERIES, "provider" => p.clone(), "outcome" => *outcome).absolute(0);
        }
        for outcome in REFRESH_OUTCOMES {
            counter!(REFRESHES, "provider" => p.clone(), "outcome" => *outcome).absolute(0);
        }
        let _ = histogram!(PUBLISH_SECONDS, "provider" => p.clone());
        gauge!(BREAKER_STATE, "provider" => p.clone()).set(BreakerGauge::Closed as u8 as f64);
        counter!(RATE_LIMIT_WAITS, "provider" => p.clone()).absolute(0);
    }
}

pub fn http_request(route: &str, status: u16) {
    counter!(HTTP_REQUESTS, "route" => route.to_owned(), "status" => status.to_string())
        .increment(1);
}

pub fn accepted(seconds: f64) {
    counter!(ACTIONS_ACCEPTED).increment(1);
    histogram!(ACCEPT_SECONDS).record(seconds);
}

pub fn commit_batch(kind: &'static str, items: usize) {
    histogram!(COMMIT_BATCH_SIZE, "kind" => kind).record(items as f64);
}

pub fn delivery(provider: &str, outcome: &'static str) {
    counter!(DELIVERIES, "provider" => provider.to_owned(), "outcome" => outcome).increment(1);
}

pub fn publish_latency(provider: &str, seconds: f64) {
    histogram!(PUBLISH_SECONDS, "provider" => provider.to_owned()).record(seconds);
}

pub fn queue_depth(state: &'static str, n: u64) {
    gauge!(QUEUE_DEPTH, "state" => state).set(n as f64);
}

pub fn oldest_due(seconds: f64) {
    gauge!(OLDEST_DUE_SECONDS).set(seconds);
}

pub fn breaker(provider: &str, state: BreakerGauge) {
    gauge!(BREAKER_STATE, "provider" => provider.to_owned()).set(state as u8 as f64);
}

pub fn refresh(provider: &str, outcome: &'static str) {
    counter!(REFRESHES, "provider" => provider.to_owned(), "outcome" => outcome).increment(1);
}

pub fn rate_limit_wait(provider: &str) {
    counter!(RATE_LIMIT_WAITS, "provider" => provider.to_owned()).increment(1);
}

pub fn api_rate_limited() {
    counter!(API_RATE_LIMITED).increment(1);
}

pub fn database_error() {
    counter!(DATABASE_ERRORS).increment(1);
}

#[cfg(test)]
mod tests {
    use super::ALL;

    /// Every `pub const NAME: &str = "herald_…"` of this file is in [`ALL`],
    /// once: read from the source, so a new series cannot be forgotten.
    #[test]
    fn all_lists_every_series_constant_once() {
        let source = include_str!("telemetry.rs");
        let declared: Vec<&str> = source
            .lines()
            .filter(|l| l.starts_with("pub const ") && l.contains(": &str = \"herald_"))
            .map(|l| l.split('"').nth(1).expect("a quoted name"))
            .collect();
        assert!(declared.len() >= 13, "found {declared:?}");
        for name in &declared {
            assert!(ALL.contains(name), "{name} is missing from telemetry::ALL");
        }
        assert_eq!(
            ALL.len(),
            declared.len(),
            "ALL has a name twice or one not declared here"
        );
        for name in ALL {
            assert!(
                name.starts_with("herald_")
                    && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name} is not a Prometheus name in Herald's namespace"
            );
        }
    }
}
