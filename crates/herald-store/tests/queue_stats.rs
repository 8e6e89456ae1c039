//! The queue gauges' reading: live deliveries counted by state, finished ones
//! ignored, and the earliest queued time across apps. On SQLite and
//! PostgreSQL; on SQLite the plan is also checked to come from indexes.

use herald_store::{QueueStats, Store, on_both_databases};
use sea_orm::{ConnectionTrait, Statement};

mod common;

on_both_databases!(
    an_empty_queue_reads_zero,
    counts_live_states_and_finds_the_earliest_queued_across_apps,
);

async fn an_empty_queue_reads_zero(store: Store) {
    assert_eq!(store.queue_stats().await.unwrap(), QueueStats::default());
    // An app without deliveries does not make the earliest time appear.
    common::new_app(&store, None).await;
    assert_eq!(store.queue_stats().await.unwrap(), QueueStats::default());
}

async fn set_delivery(store: &Store, id: &str, state: &str, next_attempt_at: i64) {
    common::set_column(store, "deliveries", "id", id, "state", state).await;
    common::set_column(
        store,
        "deliveries",
        "id",
        id,
        "next_attempt_at",
        next_attempt_at,
    )
    .await;
}

async fn counts_live_states_and_finds_the_earliest_queued_across_apps(store: Store) {
    let a = common::new_app(&store, None).await;
    let b = common::new_app(&store, None).await;
    let of_a = common::created(common::action_with(&store, &a, 4, None).await).deliveries;
    let of_b = common::created(common::action_with(&store, &b, 4, None).await).deliveries;
    // a: queued at 5000 and 9000, one sending, one published.
    set_delivery(&store, &of_a[0].id, "queued", 9_000).await;
    set_delivery(&store, &of_a[1].id, "queued", 5_000).await;
    set_delivery(&store, &of_a[2].id, "sending", 1_000).await;
    set_delivery(&store, &of_a[3].id, "published", 100).await;
    // b: queued at 3000, finished ones earlier still (they must not count).
    set_delivery(&store, &of_b[0].id, "queued", 3_000).await;
    set_delivery(&store, &of_b[1].id, "failed", 10).await;
    set_delivery(&store, &of_b[2].id, "unknown", 20).await;
    set_delivery(&store, &of_b[3].id, "sending", 2_000).await;
    assert_eq!(
        store.queue_stats().await.unwrap(),
        QueueStats {
            queued: 3,
            sending: 2,
            earliest_queued_at: Some(3_000),
        }
    );
    // b's queued one is sent: a's earliest is the earliest now.
    set_delivery(&store, &of_b[0].id, "published", 3_000).await;
    assert_eq!(
        store.queue_stats().await.unwrap(),
        QueueStats {
            queued: 2,
            sending: 2,
            earliest_queued_at: Some(5_000),
        }
    );

    if store.backend() == sea_orm::DbBackend::Sqlite {
        assert_no_full_scan_of_deliveries(&store).await;
    }
}

/// The gauges' statements, as `EXPLAIN QUERY PLAN` shows them: every access
/// to `deliveries` goes through an index (a `SCAN d`/`SCAN deliveries`
/// without an index would read every finished row).
async fn assert_no_full_scan_of_deliveries(store: &Store) {
    let statements = herald_store::repo::queue_stats::statements();
    for sql in statements {
        let rows = store
            .db()
            .query_all_raw(Statement::from_string(
                store.backend(),
                format!("EXPLAIN QUERY PLAN {sql}"),
            ))
            .await
            .unwrap();
        let plan: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String>("", "detail").unwrap())
            .collect();
        for step in &plan {
            let scans_deliveries =
                step.starts_with("SCAN d") || step.starts_with("SCAN deliveries");
            assert!(
                !scans_deliveries || step.contains("INDEX"),
                "{sql}\nreads the whole deliveries table: {plan:?}"
            );
        }
    }
}
