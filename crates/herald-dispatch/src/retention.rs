//! Retention jobs: trim the tables that would otherwise only grow (connect-flow
//! states, nonces and JWT ids, the bodies of finished deliveries' attempts).
//! Every node runs a [`RetentionRunner`] (`herald serve` and `herald worker`
//! alike, whatever the worker count); each job's lease in the database lets one
//! node run it per interval. The runner takes any list of [`RetentionJob`]s, so
//! jobs defined elsewhere plug in (see [`jobs`]).

use crate::Dispatcher;
use herald_store::{Store, StoreError, now_ms};
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

/// `[retention]`: how long each kind of row is kept, and how jobs run.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// How often each job runs (once across all nodes).
    pub interval_seconds: u64,
    /// How long a node may hold a job before another may take it over.
    pub lease_seconds: u64,
    /// Rows deleted or trimmed per statement.
    pub batch_size: u64,
    /// Connect-flow states are deleted this long after they were used or expired.
    pub oauth_states_after_seconds: u64,
    /// Nonces and JWT ids are deleted this long after their window closed.
    pub nonces_after_seconds: u64,
    /// Finished deliveries' attempts lose their error text (the answer body)
    /// this long after the delivery finished; their outcome stays.
    pub attempt_bodies_after_days: u64,
    /// Connect flows whose connect code expired this long ago unredeemed are
    /// revoked at the network and deleted.
    pub unredeemed_connections_after_seconds: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            interval_seconds: 300,
            lease_seconds: 600,
            batch_size: 1000,
            oauth_states_after_seconds: 86_400,
            nonces_after_seconds: 0,
            attempt_bodies_after_days: 30,
            unredeemed_connections_after_seconds: 3600,
        }
    }
}

/// `now` minus `seconds`, in Unix milliseconds (saturating: a huge age keeps
/// everything rather than wrapping around).
pub fn cutoff(now_ms: i64, seconds: u64) -> i64 {
    now_ms.saturating_sub(ms(seconds))
}

fn ms(seconds: u64) -> i64 {
    i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
}

pub type JobFuture = Pin<Box<dyn Future<Output = Result<u64, StoreError>> + Send>>;

/// One retention job: a name (its lease row) and what it does for a clock
/// value `now` (Unix ms), returning how many rows it removed or trimmed.
#[derive(Clone)]
pub struct RetentionJob {
    pub name: &'static str,
    pub run: Arc<dyn Fn(i64) -> JobFuture + Send + Sync>,
}

impl RetentionJob {
    pub fn new<F, Fut>(name: &'static str, f: F) -> Self
    where
        F: Fn(i64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<u64, StoreError>> + Send + 'static,
    {
        RetentionJob {
            name,
            run: Arc::new(move |now| Box::pin(f(now))),
        }
    }
}

/// The store's retention jobs.
pub fn store_jobs(store: &Store, cfg: &RetentionConfig) -> Vec<RetentionJob> {
    let batch = cfg.batch_size.max(1);
    let (s1, s2, s3) = (store.clone(), store.clone(), store.clone());
    let (states_after, nonces_after) = (cfg.oauth_states_after_seconds, cfg.nonces_after_seconds);
    let bodies_after = cfg.attempt_bodies_after_days.saturating_mul(86_400);
    vec![
        RetentionJob::new("retention.oauth_states", move |now| {
            let s = s1.clone();
            async move { s.purge_oauth_states(cutoff(now, states_after), batch).await }
        }),
        RetentionJob::new("retention.nonces", move |now| {
            let s = s2.clone();
            async move { s.purge_nonces(cutoff(now, nonces_after), batch).await }
        }),
        RetentionJob::new("retention.attempt_bodies", move |now| {
            let s = s3.clone();
            async move {
                s.drop_attempt_bodies(cutoff(now, bodies_after), batch)
                    .await
            }
        }),
    ]
}

/// Every retention job a node runs: the store's, and the one that revokes
/// and deletes connect flows nobody redeemed ([`crate::pending`]), which
/// needs the dispatcher to reach the networks.
pub fn jobs(store: &Store, dispatcher: &Dispatcher, cfg: &RetentionConfig) -> Vec<RetentionJob> {
    let mut jobs = store_jobs(store, cfg);
    let (s, d) = (store.clone(), dispatcher.clone());
    let max_age = Duration::from_secs(cfg.unredeemed_connections_after_seconds);
    jobs.push(RetentionJob::new(
        "retention.unredeemed_connections",
        move |now| {
            let (s, d) = (s.clone(), d.clone());
            async move { crate::pending::sweep_unredeemed(&s, &d, now, max_age).await }
        },
    ));
    jobs
}

/// Runs the jobs that are due and not held by another node.
pub struct RetentionRunner {
    store: Store,
    owner: String,
    cfg: RetentionConfig,
    jobs: Vec<RetentionJob>,
}

impl RetentionRunner {
    pub fn new(store: Store, cfg: RetentionConfig, jobs: Vec<RetentionJob>) -> Self {
        let owner = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        RetentionRunner {
            store,
            owner,
            cfg,
            jobs,
        }
    }

    /// Runs, with the clock value `now`, each job this node could take;
    /// returns what each of them did. A failed job is released for any node
    /// to retry at the next look.
    pub async fn run_due(&self, now: i64) -> Vec<(&'static str, Result<u64, StoreError>)> {
        let (every, lease) = (ms(self.cfg.interval_seconds), ms(self.cfg.lease_seconds));
        let mut done = Vec::new();
        for job in &self.jobs {
            match self
                .store
                .take_job(job.name, &self.owner, every, lease)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    done.push((job.name, Err(e)));
                    continue;
                }
            }
            let result = (job.run)(now).await;
            let finished = self
                .store
                .finish_job(job.name, &self.owner, result.is_ok())
                .await;
            done.push((job.name, finished.and(result)));
        }
        done
    }

    /// Looks for due jobs every minute (or every interval, if shorter) until
    /// the task is aborted.
    pub fn start(self) -> tokio::task::JoinHandle<()> {
        let look = Duration::from_secs(self.cfg.interval_seconds.clamp(1, 60));
        tokio::spawn(async move {
            loop {
                for (name, result) in self.run_due(now_ms()).await {
                    match result {
                        Ok(0) => debug!(job = name, rows = 0, "retention job ran"),
                        Ok(n) => info!(job = name, rows = n, "retention job ran"),
                        Err(e) => warn!(job = name, error = %e, "retention job failed"),
                    }
                }
                tokio::time::sleep(look).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoffs_saturate() {
        assert_eq!(cutoff(10_000, 3), 7_000);
        assert_eq!(cutoff(10_000, 0), 10_000);
        assert_eq!(cutoff(0, u64::MAX), -i64::MAX);
        assert_eq!(cutoff(i64::MIN, 1), i64::MIN);
    }
}
