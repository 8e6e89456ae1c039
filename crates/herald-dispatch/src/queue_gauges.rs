//! Keeps the queue gauges (`herald_queue_depth{state}`,
//! `herald_oldest_due_age_seconds`) current: every node reads the live part
//! of the queue every few seconds ([`Store::queue_stats`], cheap whatever the
//! number of finished deliveries) and sets them, so any node's `/metrics`
//! shows the whole queue.

use herald_core::telemetry;
use herald_store::{DeliveryState, QueueStats, Store, now_ms, oldest_due_age_seconds};
use std::time::Duration;
use tracing::debug;

/// How often the gauges are refreshed: well inside a scrape interval.
pub const QUEUE_GAUGES_EVERY: Duration = Duration::from_secs(5);

/// Sets the gauges from one reading.
pub fn set_gauges(stats: &QueueStats, now_ms: i64) {
    telemetry::queue_depth(DeliveryState::Queued.as_str(), stats.queued);
    telemetry::queue_depth(DeliveryState::Sending.as_str(), stats.sending);
    telemetry::oldest_due(oldest_due_age_seconds(stats.earliest_queued_at, now_ms));
}

/// Reads the queue and sets the gauges every `every`, until aborted.
pub fn start(store: Store, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match store.queue_stats().await {
                Ok(stats) => set_gauges(&stats, now_ms()),
                Err(e) => {
                    telemetry::database_error();
                    debug!(error = %e, "reading the queue gauges failed");
                }
            }
        }
    })
}
