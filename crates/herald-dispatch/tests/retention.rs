//! The retention runner: jobs racing on several nodes run once per interval;
//! a failed job is released for the next look; the store's jobs purge what is
//! past its age. On SQLite and PostgreSQL.

use herald_dispatch::ProvidersConfig;
use herald_dispatch::retention::{RetentionConfig, RetentionJob, RetentionRunner, jobs};
use herald_store::{Store, StoreError, on_both_databases};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

mod common;

on_both_databases!(
    runners_racing_on_several_nodes_run_a_job_once,
    a_failed_job_is_retried_at_the_next_look,
    the_configured_jobs_purge_expired_nonces,
);

fn counting(name: &'static str, runs: &Arc<AtomicU64>) -> RetentionJob {
    let runs = runs.clone();
    RetentionJob::new(name, move |_now| {
        let runs = runs.clone();
        async move { Ok(runs.fetch_add(1, Ordering::SeqCst) + 1) }
    })
}

async fn runners_racing_on_several_nodes_run_a_job_once(store: Store) {
    let runs = Arc::new(AtomicU64::new(0));
    let other = Arc::new(AtomicU64::new(0));
    let runners: Vec<_> = (0..4)
        .map(|_| {
            Arc::new(RetentionRunner::new(
                store.clone(),
                RetentionConfig::default(),
                vec![
                    counting("test.count", &runs),
                    counting("test.other", &other),
                ],
            ))
        })
        .collect();
    let tasks: Vec<_> = runners
        .iter()
        .map(|r| {
            let r = r.clone();
            tokio::spawn(async move { r.run_due(herald_store::now_ms()).await.len() })
        })
        .collect();
    let mut ran = 0;
    for t in tasks {
        ran += t.await.unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(other.load(Ordering::SeqCst), 1);
    assert_eq!(ran, 2, "each job reported by the one node that ran it");
    // Not due again within the interval, on any node.
    for r in &runners {
        assert!(r.run_due(herald_store::now_ms()).await.is_empty());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

async fn a_failed_job_is_retried_at_the_next_look(store: Store) {
    let tries = Arc::new(AtomicU64::new(0));
    let t = tries.clone();
    let flaky = RetentionJob::new("test.flaky", move |_now| {
        let t = t.clone();
        async move {
            if t.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(StoreError::Corrupt("first try fails".into()))
            } else {
                Ok(0)
            }
        }
    });
    let runner = RetentionRunner::new(store.clone(), RetentionConfig::default(), vec![flaky]);
    let first = runner.run_due(0).await;
    assert!(first[0].1.is_err());
    let second = runner.run_due(0).await;
    assert_eq!(second[0].1.as_ref().ok(), Some(&0));
    assert!(runner.run_due(0).await.is_empty());
    assert_eq!(tries.load(Ordering::SeqCst), 2);
}

async fn the_configured_jobs_purge_expired_nonces(store: Store) {
    let now = herald_store::now_ms();
    assert!(store.use_nonce("jti:a", "old", now - 1).await.unwrap());
    assert!(
        store
            .use_nonce("jti:a", "live", now + 60_000)
            .await
            .unwrap()
    );
    let cfg = RetentionConfig::default();
    let dispatcher = common::dispatcher(&store, ProvidersConfig::new());
    let runner = RetentionRunner::new(store.clone(), cfg.clone(), jobs(&store, &dispatcher, &cfg));
    let done = runner.run_due(now).await;
    let nonces = done
        .iter()
        .find(|(name, _)| *name == "retention.nonces")
        .expect("the nonce job ran");
    assert_eq!(nonces.1.as_ref().ok(), Some(&1));
    assert!(done.iter().all(|(_, r)| r.is_ok()), "{done:?}");
    // The live one is still refused as a replay; the purged one's window closed.
    assert!(
        !store
            .use_nonce("jti:a", "live", now + 60_000)
            .await
            .unwrap()
    );
}
