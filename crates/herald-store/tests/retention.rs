//! Retention: each purge removes exactly what is past its age (with an
//! injected `now`) and nothing else, in bounded batches; a job's lease lets
//! one node at a time run it. Each runs on SQLite and PostgreSQL.

use herald_core::{AppId, DeliveryId};
use herald_store::repo::oauth_states::NewOauthState;
use herald_store::{AttemptRecord, Store, on_both_databases};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use std::collections::BTreeSet;

mod common;

on_both_databases!(
    used_and_expired_oauth_states_past_their_age_are_deleted,
    nonces_past_their_window_are_deleted,
    finished_deliveries_lose_attempt_bodies_but_keep_outcomes,
    a_job_is_taken_by_one_node_at_a_time,
);

const HOUR: i64 = 3_600_000;
/// The injected clock: far from the real one, so nothing depends on it.
const NOW: i64 = 4_000_000_000_000;

async fn app(store: &Store) -> AppId {
    common::new_app(store, None).await
}

async fn set(store: &Store, table: &str, pk: &str, id: &str, column: &str, v: Option<i64>) {
    common::set_column(store, table, pk, id, column, v).await;
}

async fn column(store: &Store, table: &str, column: &str) -> BTreeSet<String> {
    let q = Query::select()
        .column(Alias::new(column))
        .from(Alias::new(table))
        .to_owned();
    store
        .db()
        .query_all(&q)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", column).unwrap())
        .collect()
}

async fn used_and_expired_oauth_states_past_their_age_are_deleted(store: Store) {
    let a = app(&store).await;
    // (name, expires_at, used_at)
    let cases = [
        ("expired-long-ago", NOW - 3 * HOUR, None),
        ("expired-long-ago-2", NOW - 2 * HOUR, None),
        ("used-long-ago", NOW + HOUR, Some(NOW - 2 * HOUR)),
        ("expired-recently", NOW - HOUR / 2, None),
        ("used-recently", NOW + HOUR, Some(NOW - HOUR / 2)),
        ("in-progress", NOW + HOUR / 6, None),
    ];
    let mut states = Vec::new();
    for (name, expires, used) in cases {
        let state = store
            .create_oauth_state(NewOauthState {
                app_id: a.clone(),
                uid: name.into(),
                provider: "x".into(),
                redirect_uri: "https://site.example/back".into(),
                client_state: None,
                pkce_verifier: None,
                instance: None,
                browser_hash: None,
                attempts: 0,
                ttl_ms: 60_000,
            })
            .await
            .unwrap();
        set(
            &store,
            "oauth_states",
            "state",
            &state,
            "expires_at",
            Some(expires),
        )
        .await;
        set(&store, "oauth_states", "state", &state, "used_at", used).await;
        states.push(state);
    }
    // Kept one hour after use or expiry; two per batch, so it takes batches.
    assert_eq!(store.purge_oauth_states(NOW - HOUR, 2).await.unwrap(), 3);
    assert_eq!(
        column(&store, "oauth_states", "uid").await,
        BTreeSet::from(["expired-recently", "used-recently", "in-progress"].map(String::from))
    );
    assert_eq!(store.purge_oauth_states(NOW - HOUR, 2).await.unwrap(), 0);
}

async fn nonces_past_their_window_are_deleted(store: Store) {
    for (scope, value, expires) in [
        ("jti:a", "past-1", NOW - 1),
        ("jti:b", "past-1", NOW - HOUR),
        ("nonce:a", "past-2", NOW - 2 * HOUR),
        ("jti:a", "at-now", NOW),
        ("jti:a", "future", NOW + HOUR),
    ] {
        assert!(store.use_nonce(scope, value, expires).await.unwrap());
    }
    assert_eq!(store.purge_nonces(NOW, 2).await.unwrap(), 3);
    assert_eq!(
        column(&store, "nonces", "value").await,
        BTreeSet::from(["at-now", "future"].map(String::from))
    );
    // A replay of a purged value is still refused by its expiry, elsewhere.
    assert_eq!(store.purge_nonces(NOW, 2).await.unwrap(), 0);
}

async fn finished_deliveries_lose_attempt_bodies_but_keep_outcomes(store: Store) {
    let a = app(&store).await;
    let record = common::created(common::action_with(&store, &a, 4, None).await);
    // (state, finished at): old published, old failed, recent published, old queued.
    let shapes = [
        ("published", NOW - 40 * 24 * HOUR),
        ("failed", NOW - 31 * 24 * HOUR),
        ("published", NOW - 24 * HOUR),
        ("queued", NOW - 40 * 24 * HOUR),
    ];
    for (d, (state, at)) in record.deliveries.iter().zip(shapes) {
        let id = DeliveryId::from_stored(d.id.clone());
        for n in 1..=2 {
            store
                .record_attempt(
                    &id,
                    AttemptRecord {
                        attempt: n,
                        started_at: at - 1000,
                        finished_at: at,
                        outcome: "retry".into(),
                        http_status: Some(503),
                        error_code: Some("unavailable".into()),
                        error_message: Some(format!("a long answer body {n}")),
                    },
                )
                .await
                .unwrap();
        }
        let q = Query::update()
            .table(Alias::new("deliveries"))
            .value(Alias::new("state"), state)
            .value(Alias::new("updated_at"), at)
            .and_where(Expr::col(Alias::new("id")).eq(d.id.clone()))
            .to_owned();
        store.db().execute(&q).await.unwrap();
    }
    // Bodies kept 30 days; three per batch.
    let trimmed = store
        .drop_attempt_bodies(NOW - 30 * 24 * HOUR, 3)
        .await
        .unwrap();
    assert_eq!(
        trimmed, 4,
        "two attempts of each of the two old finished deliveries"
    );
    for (i, d) in record.deliveries.iter().enumerate() {
        let attempts = store.attempts_of(std::slice::from_ref(d)).await.unwrap();
        assert_eq!(attempts.len(), 2);
        for at in attempts {
            assert_eq!(at.outcome, "retry");
            assert_eq!(at.http_status, Some(503));
            assert_eq!(at.error_code.as_deref(), Some("unavailable"));
            assert_eq!(at.error_message.is_none(), i < 2, "delivery {i}");
        }
    }
    assert_eq!(
        store
            .drop_attempt_bodies(NOW - 30 * 24 * HOUR, 3)
            .await
            .unwrap(),
        0
    );
}

async fn a_job_is_taken_by_one_node_at_a_time(store: Store) {
    let hour = HOUR;
    let takers: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .take_job("purge", &format!("node-{i}"), hour, 60_000)
                    .await
                    .unwrap()
                    .then_some(i)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in takers {
        winners.extend(t.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let winner = format!("node-{}", winners[0]);
    // Held: nobody else; finished: not due again for an hour.
    assert!(
        !store
            .take_job("purge", "other", hour, 60_000)
            .await
            .unwrap()
    );
    store.finish_job("purge", "other", true).await.unwrap(); // not the holder: no effect
    assert!(!store.take_job("purge", "other", 0, 60_000).await.unwrap());
    store.finish_job("purge", &winner, true).await.unwrap();
    assert!(
        !store
            .take_job("purge", "other", hour, 60_000)
            .await
            .unwrap()
    );
    // Due again once its interval has passed (here: none).
    assert!(store.take_job("purge", "other", 0, 60_000).await.unwrap());
    store.finish_job("purge", "other", true).await.unwrap();
    // A lease that ran out (the holder died) is taken over.
    assert!(store.take_job("purge", "third", 0, -1).await.unwrap());
    assert!(store.take_job("purge", "fourth", 0, 60_000).await.unwrap());
    // A failed run releases the lease without counting as a run.
    assert!(store.take_job("flaky", "a", hour, 60_000).await.unwrap());
    store.finish_job("flaky", "a", false).await.unwrap();
    assert!(store.take_job("flaky", "b", hour, 60_000).await.unwrap());
    // Other jobs are independent.
    assert!(
        store
            .take_job("other-job", "node-0", hour, 60_000)
            .await
            .unwrap()
    );
    let now = store.db_now_ms().await.unwrap();
    assert!(
        (now - herald_store::now_ms()).abs() < 60_000,
        "database clock {now}"
    );
}
