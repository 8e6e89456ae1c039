//! Retention: the tables that would otherwise only grow are trimmed by jobs
//! that run once across nodes. A job's lease (`jobs` row) is compared with
//! the database's clock, so nodes with skewed clocks still agree on whose
//! turn it is; what a job deletes is decided by the caller's `now` (the clock
//! the rows' timestamps were written with). Deletes run in bounded batches,
//! each its own statement, so a huge table never holds a long transaction.

use crate::{Store, StoreError};
use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait, OnConflict, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// Delivery states after which a delivery never changes again by itself.
const FINISHED_STATES: [&str; 4] = ["published", "failed", "unknown", "deleted"];

impl Store {
    /// The database's clock, in Unix milliseconds.
    pub async fn db_now_ms(&self) -> Result<i64, StoreError> {
        let sql = match self.backend() {
            DbBackend::Sqlite => {
                "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) AS n"
            }
            _ => "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS n",
        };
        let row = self
            .db()
            .query_one_raw(Statement::from_string(self.backend(), sql))
            .await?
            .ok_or_else(|| StoreError::Corrupt("the database returned no time".into()))?;
        Ok(row.try_get("", "n")?)
    }

    /// Takes job `name` for `owner` when it is due (never run, or last
    /// finished `every_ms` ago) and nobody holds it (or the holder's lease
    /// of `lease_ms` ran out), by the database clock. Of nodes racing for it,
    /// exactly one gets `true`.
    pub async fn take_job(
        &self,
        name: &str,
        owner: &str,
        every_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let jobs = Alias::new("jobs");
        let insert = Query::insert()
            .into_table(jobs.clone())
            .columns([Alias::new("name")])
            .values_panic([name.into()])
            .on_conflict(
                OnConflict::column(Alias::new("name"))
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        self.db().execute(&insert).await?;
        let now = self.db_now_ms().await?;
        let col = |c: &str| Expr::col(Alias::new(c));
        let update = Query::update()
            .table(jobs)
            .value(Alias::new("lease_owner"), owner)
            .value(Alias::new("lease_until"), now.saturating_add(lease_ms))
            .and_where(col("name").eq(name))
            .cond_where(
                Condition::any()
                    .add(col("lease_until").is_null())
                    .add(col("lease_until").lt(now)),
            )
            .cond_where(
                Condition::any()
                    .add(col("last_run_at").is_null())
                    .add(col("last_run_at").lte(now.saturating_sub(every_ms))),
            )
            .to_owned();
        Ok(self.db().execute(&update).await?.rows_affected() == 1)
    }

    /// Records that `owner` finished job `name` (by the database clock) and
    /// releases its lease; `ran` = false releases it without marking a run
    /// (the job failed and may be retried by any node).
    pub async fn finish_job(&self, name: &str, owner: &str, ran: bool) -> Result<(), StoreError> {
        let now = self.db_now_ms().await?;
        let mut update = Query::update()
            .table(Alias::new("jobs"))
            .value(Alias::new("lease_owner"), Option::<String>::None)
            .value(Alias::new("lease_until"), Option::<i64>::None)
            .and_where(Expr::col(Alias::new("name")).eq(name))
            .and_where(Expr::col(Alias::new("lease_owner")).eq(owner))
            .to_owned();
        if ran {
            update.value(Alias::new("last_run_at"), now);
        }
        self.db().execute(&update).await?;
        Ok(())
    }

    /// Deletes connect-flow states used or expired before `cutoff`.
    pub async fn purge_oauth_states(&self, cutoff: i64, batch: u64) -> Result<u64, StoreError> {
        let past = Condition::any()
            .add(Expr::col(Alias::new("used_at")).lt(cutoff))
            .add(Expr::col(Alias::new("expires_at")).lt(cutoff));
        self.delete_in_batches("oauth_states", "state", past.into(), batch)
            .await
    }

    /// Deletes single-use values (JWT `jti`s, nonces) whose window closed
    /// before `cutoff`: a replay of one is refused by its expiry anyway.
    pub async fn purge_nonces(&self, cutoff: i64, batch: u64) -> Result<u64, StoreError> {
        let past = Expr::col(Alias::new("expires_at")).lt(cutoff);
        let mut total = 0;
        loop {
            // The key is (scope, value): a batch is picked as key pairs.
            let pick = Query::select()
                .columns([Alias::new("scope"), Alias::new("value")])
                .from(Alias::new("nonces"))
                .and_where(past.clone())
                .limit(batch)
                .to_owned();
            let delete = Query::delete()
                .from_table(Alias::new("nonces"))
                .and_where(
                    Expr::tuple([
                        Expr::col(Alias::new("scope")),
                        Expr::col(Alias::new("value")),
                    ])
                    .in_subquery(pick),
                )
                .to_owned();
            let n = self.db().execute(&delete).await?.rows_affected();
            total += n;
            if n < batch {
                return Ok(total);
            }
        }
    }

    /// Drops the error text of attempts of deliveries that finished before
    /// `cutoff`, keeping each attempt's outcome (number, times, outcome, HTTP
    /// status, error code). Returns how many attempts were trimmed.
    pub async fn drop_attempt_bodies(&self, cutoff: i64, batch: u64) -> Result<u64, StoreError> {
        let finished: SelectStatement = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("deliveries"))
            .and_where(Expr::col(Alias::new("state")).is_in(FINISHED_STATES))
            .and_where(Expr::col(Alias::new("updated_at")).lt(cutoff))
            .to_owned();
        let mut total = 0;
        loop {
            let pick = Query::select()
                .column(Alias::new("id"))
                .from(Alias::new("delivery_attempts"))
                .and_where(Expr::col(Alias::new("error_message")).is_not_null())
                .and_where(Expr::col(Alias::new("delivery_id")).in_subquery(finished.clone()))
                .limit(batch)
                .to_owned();
            let update = Query::update()
                .table(Alias::new("delivery_attempts"))
                .value(Alias::new("error_message"), Option::<String>::None)
                .and_where(Expr::col(Alias::new("id")).in_subquery(pick))
                .to_owned();
            let n = self.db().execute(&update).await?.rows_affected();
            total += n;
            if n < batch {
                return Ok(total);
            }
        }
    }

    /// Deletes rows of `table` matching `past`, `batch` at a time by `pk`.
    async fn delete_in_batches(
        &self,
        table: &str,
        pk: &str,
        past: SimpleExpr,
        batch: u64,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let pick = Query::select()
                .column(Alias::new(pk))
                .from(Alias::new(table))
                .and_where(past.clone())
                .limit(batch)
                .to_owned();
            let delete = Query::delete()
                .from_table(Alias::new(table))
                .and_where(Expr::col(Alias::new(pk)).in_subquery(pick))
                .to_owned();
            let n = self.db().execute(&delete).await?.rows_affected();
            total += n;
            if n < batch {
                return Ok(total);
            }
        }
    }
}
