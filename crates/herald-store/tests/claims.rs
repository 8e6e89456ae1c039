//! Claims on the delivery queue, on SQLite and PostgreSQL: batches by id,
//! fairness across apps, expired leases in batches, releasing unstarted
//! claims, leases by the database clock whatever the node's clock says, and
//! plans that use the partial indexes.

use common::{action_with, created, set_column};
use herald_core::{AppId, DeliveryId};
use herald_store::entities::deliveries;
use herald_store::repo::deliveries::ErrorInfo;
use herald_store::testing::with_node_clock_skew;
use herald_store::{AttemptRecord, DeliveryState, DeliveryUpdate, Store, on_both_databases};
use std::collections::HashSet;

mod common;

on_both_databases!(
    handed_off_ids_are_claimed_in_one_batch,
    due_claims_are_fair_across_apps,
    expired_leases_are_reclaimed_in_batches,
    released_claims_go_back_to_the_queue_uncounted,
    a_skewed_node_clock_neither_steals_a_lease_nor_claims_early,
    claims_are_served_by_the_partial_indexes,
);

const LEASE: i64 = 30_000;

async fn deliveries_of(store: &Store, app: &AppId, n: usize) -> Vec<DeliveryId> {
    created(action_with(store, app, n, None).await)
        .deliveries
        .iter()
        .map(|d| d.delivery_id())
        .collect()
}

fn ids(rows: &[deliveries::Model]) -> HashSet<String> {
    rows.iter().map(|d| d.id.clone()).collect()
}

fn error() -> ErrorInfo {
    ErrorInfo {
        class: "transient".into(),
        code: "http_503".into(),
        message: "503".into(),
    }
}

/// Finishes `id` (held by `owner`) as a retry due at `at_ms`.
async fn retry_at(store: &Store, id: &DeliveryId, owner: &str, at_ms: i64) {
    let now = herald_store::now_ms();
    let attempt = AttemptRecord {
        attempt: 1,
        started_at: now,
        finished_at: now,
        outcome: "retry".into(),
        http_status: Some(503),
        error_code: Some("http_503".into()),
        error_message: Some("503".into()),
    };
    let update = DeliveryUpdate::Retry {
        at_ms,
        error: error(),
    };
    assert!(
        store
            .finish_attempt(id, owner, attempt, update)
            .await
            .unwrap()
    );
}

async fn handed_off_ids_are_claimed_in_one_batch(store: Store) {
    let app = common::new_app(&store, None).await;
    let ids_ = deliveries_of(&store, &app, 5).await;
    let taken = store
        .claim_delivery(&ids_[0], "other", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.attempts, 1);
    let before = store.db_now_ms().await.unwrap();
    let rows = store.claim_deliveries(&ids_, "w1", LEASE).await.unwrap();
    let after = store.db_now_ms().await.unwrap();
    assert_eq!(rows.len(), 4, "the one another worker holds is left out");
    assert!(!ids(&rows).contains(taken.id.as_str()));
    for d in &rows {
        assert_eq!(d.state(), DeliveryState::Sending);
        assert_eq!(d.lease_owner.as_deref(), Some("w1"));
        assert_eq!(d.attempts, 1);
        let until = d.lease_until.unwrap();
        assert!(
            (before + LEASE - 5..=after + LEASE + 5).contains(&until),
            "lease {until} not {LEASE} ms after the database's now ({before}..{after})"
        );
    }
    assert!(
        store
            .claim_deliveries(&ids_, "w2", LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    // A delivery waiting for its retry is not claimed early by a stale hand-off.
    let db_now = store.db_now_ms().await.unwrap();
    retry_at(&store, &ids_[1], "w1", db_now + 60_000).await;
    assert!(
        store
            .claim_deliveries(&ids_[1..2], "w2", LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_deliveries(&[], "w2", LEASE)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn due_claims_are_fair_across_apps(store: Store) {
    let big = common::new_app(&store, None).await;
    let single = common::new_app(&store, None).await;
    let small = common::new_app(&store, None).await;
    for _ in 0..30 {
        deliveries_of(&store, &big, 10).await;
    }
    let one = deliveries_of(&store, &single, 1).await;
    let three = deliveries_of(&store, &small, 3).await;
    let rows = store.claim_due("w1", LEASE, 10).await.unwrap();
    assert_eq!(
        rows.len(),
        10,
        "a full batch: what small apps leave goes to the big one"
    );
    let got = ids(&rows);
    assert!(
        got.contains(one[0].as_str()),
        "the single publish waits behind 300"
    );
    for id in &three {
        assert!(got.contains(id.as_str()));
    }
    let of_big = rows.iter().filter(|d| d.app_id == big.as_str()).count();
    assert_eq!(of_big, 6);
    // Round-robin order: the first three rows are of three different apps.
    let first: HashSet<&str> = rows[..3].iter().map(|d| d.app_id.as_str()).collect();
    assert_eq!(first.len(), 3, "{rows:?}");
    // Within an app, oldest first; the rest follows in later claims.
    let mut total = rows.len();
    loop {
        let batch = store.claim_due("w1", LEASE, 64).await.unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 64);
        assert!(batch.iter().all(|d| d.attempts == 1));
        total += batch.len();
    }
    assert_eq!(total, 304);
}

async fn expired_leases_are_reclaimed_in_batches(store: Store) {
    let app = common::new_app(&store, None).await;
    let ids_ = deliveries_of(&store, &app, 5).await;
    store
        .claim_deliveries(&ids_, "dead-node", LEASE)
        .await
        .unwrap();
    assert!(
        store
            .claim_expired("w2", LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "leases live"
    );
    // Three leases ran out (by the database clock).
    let past = store.db_now_ms().await.unwrap() - 1;
    for id in &ids_[..3] {
        set_column(&store, "deliveries", "id", id.as_str(), "lease_until", past).await;
    }
    let a = store.claim_expired("w2", LEASE, 2).await.unwrap();
    let b = store.claim_expired("w3", LEASE, 2).await.unwrap();
    assert_eq!((a.len(), b.len()), (2, 1));
    assert!(
        store
            .claim_expired("w4", LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let all: HashSet<String> = ids(&a).union(&ids(&b)).cloned().collect();
    let expected: HashSet<String> = ids_[..3].iter().map(|i| i.to_string()).collect();
    assert_eq!(all, expected);
    for d in a.iter().chain(&b) {
        assert_eq!(d.attempts, 1, "reclaiming does not count an attempt");
        assert!(d.lease_until.unwrap() > past + LEASE - 1000);
    }
    assert_eq!(a[0].lease_owner.as_deref(), Some("w2"));
    // The new holder counts its re-send; the dead one can no longer.
    let id = a[0].delivery_id();
    assert!(store.begin_resend(&id, "w2", LEASE).await.unwrap());
    assert!(!store.begin_resend(&id, "dead-node", LEASE).await.unwrap());
    assert!(!store.renew_lease(&id, "dead-node", LEASE).await.unwrap());
    assert!(store.renew_lease(&id, "w2", LEASE).await.unwrap());
    assert_eq!(store.delivery(&id).await.unwrap().unwrap().attempts, 2);
}

async fn released_claims_go_back_to_the_queue_uncounted(store: Store) {
    let app = common::new_app(&store, None).await;
    let ids_ = deliveries_of(&store, &app, 3).await;
    let claimed = store.claim_due("w1", LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert_eq!(
        store.release_claim(&ids_, "w2").await.unwrap(),
        0,
        "not w2's"
    );
    assert_eq!(store.release_claim(&ids_, "w1").await.unwrap(), 3);
    for id in &ids_ {
        let d = store.delivery(id).await.unwrap().unwrap();
        assert_eq!(d.state(), DeliveryState::Queued);
        assert_eq!((d.attempts, d.lease_owner, d.lease_until), (0, None, None));
    }
    // Released twice is released once.
    assert_eq!(store.release_claim(&ids_, "w1").await.unwrap(), 0);
    let again = store.claim_deliveries(&ids_, "w3", LEASE).await.unwrap();
    assert_eq!(again.len(), 3);
    assert!(again.iter().all(|d| d.attempts == 1));
}

async fn a_skewed_node_clock_neither_steals_a_lease_nor_claims_early(store: Store) {
    let app = common::new_app(&store, None).await;
    let ids_ = deliveries_of(&store, &app, 2).await;
    let (held, waiting) = (&ids_[0], &ids_[1]);
    store
        .claim_delivery(held, "w1", LEASE)
        .await
        .unwrap()
        .unwrap();
    store
        .claim_delivery(waiting, "w1", LEASE)
        .await
        .unwrap()
        .unwrap();
    let db_now = store.db_now_ms().await.unwrap();
    retry_at(&store, waiting, "w1", db_now + 60_000).await;
    const HOUR: i64 = 3_600_000;
    // A node whose clock runs an hour ahead sees w1's lease and the retry as
    // long past by its own clock: it must get neither.
    with_node_clock_skew(HOUR, async {
        assert!(
            herald_store::now_ms() > db_now + HOUR - 1000,
            "the hook skews"
        );
        assert!(
            store
                .claim_expired("fast", LEASE, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.claim_due("fast", LEASE, 10).await.unwrap().is_empty());
        assert!(
            store
                .claim_deliveries(std::slice::from_ref(waiting), "fast", LEASE)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(!store.renew_lease(held, "fast", LEASE).await.unwrap());
    })
    .await;
    // A node whose clock runs an hour behind still leases for LEASE from the
    // database's now (not an hour in the past, which anyone could reclaim).
    let fresh = deliveries_of(&store, &app, 1).await;
    let slow = with_node_clock_skew(-HOUR, async {
        store.claim_due("slow", LEASE, 10).await.unwrap()
    })
    .await;
    let row = store.delivery(&fresh[0]).await.unwrap().unwrap();
    let dbn = store.db_now_ms().await.unwrap();
    assert_eq!(
        ids(&slow),
        HashSet::from([fresh[0].to_string()]),
        "{row:?} db now {dbn}"
    );
    let until = slow[0].lease_until.unwrap();
    let db_now = store.db_now_ms().await.unwrap();
    assert!(
        until > db_now + LEASE - 10_000,
        "lease {until}, db now {db_now}"
    );
    assert!(
        store
            .claim_expired("fast", LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let d = store.delivery(held).await.unwrap().unwrap();
    assert_eq!(d.lease_owner.as_deref(), Some("w1"));
}

async fn claims_are_served_by_the_partial_indexes(store: Store) {
    let plans = store.claim_plans().await.unwrap();
    assert_eq!(plans.len(), 3);
    for (plan, index) in plans.iter().zip([
        "ix_deliveries_queued",
        "ix_deliveries_queued",
        "ix_deliveries_sending",
    ]) {
        assert!(plan.contains(index), "expected {index} in:\n{plan}");
    }
}
