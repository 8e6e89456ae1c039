//! The group-commit writer (`repo::writer`), on SQLite and PostgreSQL: accepts
//! that arrive together share one transaction, duplicates inside a batch and
//! across batches keep one-request semantics, a bad item does not fail its
//! batch-mates, and nobody is answered before the commit. A hold on the writer
//! (a test hook) lets a batch form deterministically.

use herald_core::AppId;
use herald_store::entities::{actions, deliveries, nonces};
use herald_store::{
    AcceptOutcome, BatchInfo, Committed, CreateAction, NewDelivery, Nonce, Store, StoreError,
    now_ms, on_both_databases,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::time::Duration;
use tokio::task::JoinHandle;

mod common;

on_both_databases!(
    concurrent_accepts_share_one_batch_answered_after_commit,
    one_action_per_idempotency_key_within_and_across_batches,
    a_nonce_is_single_use_within_and_across_batches,
    a_failing_item_does_not_fail_its_batch_mates,
);

fn accept(app: &AppId, uid: &str, key: Option<&str>, hash: &str) -> CreateAction {
    CreateAction {
        app_id: app.clone(),
        uid: uid.into(),
        idempotency_key: key.map(str::to_owned),
        request_hash: hash.into(),
        payload: serde_json::json!({"v": 1, "action": {"title": uid}}),
        deliveries: (0..2)
            .map(|i| NewDelivery {
                connection_id: format!("con_{uid}_{i}"),
                provider: "webhook".into(),
                account: format!("acct{i}"),
            })
            .collect(),
    }
}

fn jti(app: &AppId, value: &str) -> Nonce {
    Nonce::new(format!("jti:{app}"), value, now_ms() + 60_000)
}

type Pending = JoinHandle<Result<Committed, StoreError>>;

fn spawn_accept(store: &Store, new: CreateAction, nonce: Option<Nonce>) -> Pending {
    let store = store.clone();
    tokio::spawn(async move { store.accept_action(new, nonce).await })
}

/// Waits (without sleeping) until the writer holds `n` requests in all.
async fn until_submitted(store: &Store, n: u64) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while store.writer_submitted() < n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("requests reach the writer");
}

async fn actions_of(store: &Store, app: &AppId) -> u64 {
    actions::Entity::find()
        .filter(actions::Column::AppId.eq(app.as_str()))
        .count(store.db())
        .await
        .unwrap()
}

async fn committed(p: Pending) -> Committed {
    p.await.unwrap().unwrap()
}

async fn concurrent_accepts_share_one_batch_answered_after_commit(store: Store) {
    let app = common::new_app(&store, None).await;
    let n = 24;
    let hold = store.hold_writer().await;
    let pending: Vec<Pending> = (0..n)
        .map(|i| spawn_accept(&store, accept(&app, &format!("u{i}"), None, "h"), None))
        .collect();
    until_submitted(&store, n as u64).await;
    // Held: every request is queued, none answered, nothing written.
    assert!(pending.iter().all(|p| !p.is_finished()));
    assert_eq!(actions_of(&store, &app).await, 0);
    drop(hold);

    let mut batches = Vec::new();
    for p in pending {
        let c = committed(p).await;
        let AcceptOutcome::Created(r) = c.outcome else {
            panic!("expected a new action, got {:?}", c.outcome);
        };
        // Answered after the commit: another connection reads it all.
        let stored = store
            .action(&app, &r.action.action_id())
            .await
            .unwrap()
            .expect("committed before the answer");
        assert_eq!(stored.deliveries.len(), 2);
        assert_eq!(stored.deliveries, r.deliveries);
        batches.push(c.batch);
    }
    let first = batches[0];
    assert_eq!(first.size, n);
    assert!(batches.iter().all(|b| *b == first), "{batches:?}");
    assert_eq!(actions_of(&store, &app).await, n as u64);
    let ds = deliveries::Entity::find()
        .filter(deliveries::Column::AppId.eq(app.as_str()))
        .count(store.db())
        .await
        .unwrap();
    assert_eq!(ds, 2 * n as u64);

    // Without a hold, a lone request is a batch of its own.
    let c = store
        .accept_action(accept(&app, "later", None, "h"), None)
        .await
        .unwrap();
    assert!(matches!(c.outcome, AcceptOutcome::Created(_)));
    assert_eq!(
        c.batch,
        BatchInfo {
            seq: first.seq + 1,
            size: 1
        }
    );
}

async fn one_action_per_idempotency_key_within_and_across_batches(store: Store) {
    let app = common::new_app(&store, None).await;
    let other = common::new_app(&store, None).await;
    let hold = store.hold_writer().await;
    let mut pending = Vec::new();
    for (app, hash) in [
        (&app, "h1"),
        (&app, "h1"),
        (&app, "other"),
        (&app, "h1"),
        // The same key in another app is another action.
        (&other, "h1"),
    ] {
        // One at a time, so the queue holds them in this order.
        pending.push(spawn_accept(
            &store,
            accept(app, "a", Some("k1"), hash),
            None,
        ));
        until_submitted(&store, pending.len() as u64).await;
    }
    drop(hold);
    let mut outcomes = Vec::new();
    for p in pending {
        let c = committed(p).await;
        assert_eq!(c.batch.size, 5);
        outcomes.push(c.outcome);
    }
    let AcceptOutcome::Created(first) = &outcomes[0] else {
        panic!("the first of the key creates: {:?}", outcomes[0]);
    };
    for o in [&outcomes[1], &outcomes[3]] {
        let AcceptOutcome::Existing(r) = o else {
            panic!("a repeat answers the first action: {o:?}");
        };
        assert_eq!(r.action.id, first.action.id);
        assert_eq!(r.deliveries, first.deliveries);
    }
    assert!(matches!(outcomes[2], AcceptOutcome::KeyReused));
    assert!(matches!(outcomes[4], AcceptOutcome::Created(_)));
    assert_eq!(actions_of(&store, &app).await, 1);
    assert_eq!(actions_of(&store, &other).await, 1);

    // Across batches: the stored action answers.
    let again = store
        .accept_action(accept(&app, "a", Some("k1"), "h1"), None)
        .await
        .unwrap();
    let AcceptOutcome::Existing(r) = again.outcome else {
        panic!("expected the stored action, got {:?}", again.outcome);
    };
    assert_eq!(r.action.id, first.action.id);
    assert_eq!(r.deliveries, first.deliveries);
    let reused = store
        .accept_action(accept(&app, "a", Some("k1"), "other"), None)
        .await
        .unwrap();
    assert!(matches!(reused.outcome, AcceptOutcome::KeyReused));
    assert_eq!(actions_of(&store, &app).await, 1);
}

async fn a_nonce_is_single_use_within_and_across_batches(store: Store) {
    let app = common::new_app(&store, None).await;
    let hold = store.hold_writer().await;
    let a1 = spawn_accept(&store, accept(&app, "a1", None, "h"), Some(jti(&app, "n1")));
    until_submitted(&store, 1).await;
    let a2 = spawn_accept(&store, accept(&app, "a2", None, "h"), Some(jti(&app, "n1")));
    until_submitted(&store, 2).await;
    let (s, n) = (store.clone(), jti(&app, "n1"));
    let r1 = tokio::spawn(async move { s.record_nonce(n).await });
    until_submitted(&store, 3).await;
    let (s, n) = (store.clone(), jti(&app, "n2"));
    let r2 = tokio::spawn(async move { s.record_nonce(n).await });
    until_submitted(&store, 4).await;
    drop(hold);

    let c1 = committed(a1).await;
    let c2 = committed(a2).await;
    assert!(matches!(c1.outcome, AcceptOutcome::Created(_)));
    assert!(matches!(c2.outcome, AcceptOutcome::NonceReplayed));
    assert_eq!(c1.batch, c2.batch);
    assert_eq!(c1.batch.size, 4);
    assert!(!r1.await.unwrap().unwrap(), "n1 was used by a1");
    assert!(r2.await.unwrap().unwrap(), "n2 is fresh");
    // The replayed accept wrote nothing.
    assert_eq!(actions_of(&store, &app).await, 1);

    // Across batches, by accept and by the plain nonce API.
    let c3 = store
        .accept_action(accept(&app, "a3", None, "h"), Some(jti(&app, "n2")))
        .await
        .unwrap();
    assert!(matches!(c3.outcome, AcceptOutcome::NonceReplayed));
    assert!(
        !store
            .use_nonce(&format!("jti:{app}"), "n1", now_ms() + 60_000)
            .await
            .unwrap()
    );
    assert_eq!(actions_of(&store, &app).await, 1);
    let stored = nonces::Entity::find()
        .filter(nonces::Column::Scope.eq(format!("jti:{app}")))
        .count(store.db())
        .await
        .unwrap();
    assert_eq!(stored, 2);
}

async fn a_failing_item_does_not_fail_its_batch_mates(store: Store) {
    let app = common::new_app(&store, None).await;
    // No such app: its action breaks the foreign key, failing the batch.
    let ghost = AppId::new();
    let hold = store.hold_writer().await;
    let good: Vec<Pending> = (0..3)
        .map(|i| {
            spawn_accept(
                &store,
                accept(&app, &format!("g{i}"), None, "h"),
                Some(jti(&app, &format!("good{i}"))),
            )
        })
        .collect();
    until_submitted(&store, 3).await;
    let bad = spawn_accept(&store, accept(&ghost, "b", None, "h"), None);
    until_submitted(&store, 4).await;
    let (s, n) = (store.clone(), jti(&app, "alone"));
    let nonce = tokio::spawn(async move { s.record_nonce(n).await });
    until_submitted(&store, 5).await;
    drop(hold);

    assert!(bad.await.unwrap().is_err(), "the bad item fails");
    for p in good {
        let c = committed(p).await;
        assert!(matches!(c.outcome, AcceptOutcome::Created(_)));
        // Written again on its own after the batch failed.
        assert_eq!(c.batch.size, 1);
    }
    assert!(nonce.await.unwrap().unwrap());
    assert_eq!(actions_of(&store, &app).await, 3);
    assert_eq!(actions_of(&store, &ghost).await, 0);
    // Each good item's nonce was written once, with its action.
    let again = store
        .accept_action(accept(&app, "g0", None, "h"), Some(jti(&app, "good0")))
        .await
        .unwrap();
    assert!(matches!(again.outcome, AcceptOutcome::NonceReplayed));
}
