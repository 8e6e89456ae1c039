//! What the queue-depth and oldest-due gauges report. The deliveries table
//! keeps every finished delivery, so these queries touch only the live states
//! (`queued`, `sending`): each count is a range of a partial or state-led index,
//! and the earliest queued time is read per app from the index on
//! `(app_id, next_attempt_at)` of queued rows (one index probe per app), so
//! their cost follows the live backlog and the number of apps, never the
//! history.

use crate::repo::deliveries::DeliveryState;
use crate::{Store, StoreError};
use sea_orm::{ConnectionTrait, Statement};

/// The live part of the delivery queue at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub queued: u64,
    pub sending: u64,
    /// The smallest `next_attempt_at` of a queued delivery (Unix ms), due or not.
    pub earliest_queued_at: Option<i64>,
}

/// How long the oldest due delivery has been waiting, in seconds: 0 when
/// nothing queued is due yet.
pub fn oldest_due_age_seconds(earliest_queued_at: Option<i64>, now_ms: i64) -> f64 {
    match earliest_queued_at {
        Some(at) if at <= now_ms => (now_ms - at) as f64 / 1000.0,
        _ => 0.0,
    }
}

/// One state's count, written as an equality so it matches a partial index
/// `WHERE state = '…'` on either database.
fn count_sql(state: DeliveryState) -> String {
    format!(
        "SELECT COUNT(*) AS n FROM deliveries WHERE state = '{}'",
        state.as_str()
    )
}

/// The earliest queued time. Per app, the first queued row in
/// `next_attempt_at` order is one index probe; the minimum is then over one
/// value per app. A global `MIN` would need an index led by `next_attempt_at`.
fn earliest_sql() -> String {
    format!(
        "SELECT MIN(first_at) AS earliest FROM (\
           SELECT (SELECT d.next_attempt_at FROM deliveries d \
                   WHERE d.state = '{}' AND d.app_id = a.id \
                   ORDER BY d.next_attempt_at LIMIT 1) AS first_at \
           FROM apps a) per_app",
        DeliveryState::Queued.as_str()
    )
}

/// Every statement [`Store::queue_stats`] runs, for query-plan checks.
pub fn statements() -> Vec<String> {
    vec![
        count_sql(DeliveryState::Queued),
        count_sql(DeliveryState::Sending),
        earliest_sql(),
    ]
}

impl Store {
    /// Counts the live deliveries by state and finds the earliest queued one.
    pub async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        let queued = self.count_in_state(DeliveryState::Queued).await?;
        let sending = self.count_in_state(DeliveryState::Sending).await?;
        let row = self
            .db()
            .query_one_raw(Statement::from_string(self.backend(), earliest_sql()))
            .await?;
        let earliest_queued_at = match row {
            Some(r) => r.try_get::<Option<i64>>("", "earliest")?,
            None => None,
        };
        Ok(QueueStats {
            queued,
            sending,
            earliest_queued_at,
        })
    }

    async fn count_in_state(&self, state: DeliveryState) -> Result<u64, StoreError> {
        let row = self
            .db()
            .query_one_raw(Statement::from_string(self.backend(), count_sql(state)))
            .await?;
        let n = match row {
            Some(r) => r.try_get::<i64>("", "n")?,
            None => 0,
        };
        Ok(n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::oldest_due_age_seconds;

    #[test]
    fn oldest_due_age_is_zero_when_nothing_is_due() {
        assert_eq!(oldest_due_age_seconds(None, 10_000), 0.0);
        assert_eq!(oldest_due_age_seconds(Some(10_001), 10_000), 0.0);
        assert_eq!(oldest_due_age_seconds(Some(10_000), 10_000), 0.0);
    }

    #[test]
    fn oldest_due_age_counts_from_the_due_time() {
        assert_eq!(oldest_due_age_seconds(Some(7_500), 10_000), 2.5);
    }
}
