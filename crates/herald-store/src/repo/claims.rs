//! Claims on the delivery queue. A claim moves deliveries `queued` → `sending`
//! under a lease (owner + expiry) so at most one worker holds a delivery; a
//! crashed worker's lease runs out and is reclaimed.
//!
//! - Batches: hand-offs are claimed by id, many per statement; the poller
//!   claims due rows in batches, fairly across apps (a per-app quota, so one
//!   app's flood cannot starve another app's single publish).
//! - Leases and due times are compared with the DATABASE clock (an SQL
//!   expression, see [`db_now_sql`]), never the node's, so a node with a
//!   skewed clock can neither steal a live lease nor claim a retry early.
//! - The queries name their states as literals so the planner can serve them
//!   from the partial indexes `(app_id, next_attempt_at) WHERE state='queued'`
//!   and `(lease_until) WHERE state='sending'`: their cost does not grow with
//!   finished rows. On PostgreSQL the candidate rows are locked with
//!   `FOR UPDATE SKIP LOCKED`; on SQLite claims queue on the write gate and
//!   the UPDATE re-checks state and due time.

use crate::entities::deliveries;
use crate::{Store, StoreError, now_ms};
use herald_core::{AppId, DeliveryId};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, Statement, TransactionTrait,
    Value,
};
use std::collections::HashMap;

/// The database's clock in Unix milliseconds, as an SQL expression.
/// PostgreSQL's `statement_timestamp()` is fixed for one statement; SQLite's
/// `'now'` is fixed for one statement step.
pub fn db_now_sql(backend: DbBackend) -> &'static str {
    match backend {
        // Rounded: 'now' is whole milliseconds, the Julian-day double is not.
        DbBackend::Sqlite => "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)",
        _ => "CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000 AS BIGINT)",
    }
}

/// SQL text with bound values and the backend's placeholders.
struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn new(backend: DbBackend) -> Sql {
        Sql {
            backend,
            text: String::new(),
            values: Vec::new(),
        }
    }

    fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Appends a placeholder bound to `v`.
    fn bind(&mut self, v: impl Into<Value>) -> &mut Self {
        self.values.push(v.into());
        match self.backend {
            DbBackend::Postgres => {
                let n = self.values.len();
                self.text.push_str(&format!("${n}"));
            }
            _ => self.text.push('?'),
        }
        self
    }

    /// Appends `p1, p2, …` bound to `items`.
    fn bind_list<T: Into<Value> + Clone>(&mut self, items: &[T]) -> &mut Self {
        for (i, v) in items.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v.clone());
        }
        self
    }

    fn now(&mut self) -> &mut Self {
        let now = db_now_sql(self.backend);
        self.push(now)
    }

    fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// How many rows each of `n` apps may take of `budget` in one round: an even
/// share, the remainder to the first apps (those waiting longest). With more
/// apps than budget the first `budget` apps take one each.
pub fn fair_quotas(n: usize, budget: u64) -> Vec<u64> {
    if n == 0 {
        return Vec::new();
    }
    let base = budget / n as u64;
    let extra = (budget % n as u64) as usize;
    (0..n).map(|i| base + u64::from(i < extra)).collect()
}

/// Orders per-app picks round-robin (first of each app, then second of each…),
/// so a batch is worked in an order fair across apps.
pub fn round_robin<T>(per_app: Vec<Vec<T>>) -> Vec<T> {
    let total = per_app.iter().map(Vec::len).sum();
    let mut iters: Vec<_> = per_app.into_iter().map(Vec::into_iter).collect();
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        for it in iters.iter_mut() {
            if let Some(x) = it.next() {
                out.push(x);
            }
        }
    }
    out
}

impl Store {
    /// `SET` clause of a claim: `sending`, this owner, a lease from the
    /// database clock; `count` adds the attempt.
    fn lease_set(q: &mut Sql, owner: &str, lease_ms: i64, count: bool) {
        q.push("state = 'sending', lease_owner = ")
            .bind(owner.to_owned())
            .push(", lease_until = ")
            .now()
            .push(" + ")
            .bind(lease_ms)
            .push(", updated_at = ")
            .bind(now_ms());
        if count {
            q.push(", attempts = attempts + 1");
        }
    }

    async fn claimed_rows(
        &self,
        txn: Option<&DatabaseTransaction>,
        q: Sql,
    ) -> Result<Vec<deliveries::Model>, StoreError> {
        let find = deliveries::Entity::find().from_raw_sql(q.statement());
        Ok(match txn {
            Some(t) => find.all(t).await?,
            None => find.all(self.db()).await?,
        })
    }

    /// [`Store::claim_deliveries`] for one delivery.
    pub async fn claim_delivery(
        &self,
        id: &DeliveryId,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<deliveries::Model>, StoreError> {
        Ok(self
            .claim_deliveries(std::slice::from_ref(id), owner, lease_ms)
            .await?
            .pop())
    }

    /// Claims the handed-off deliveries `ids` that are still queued (one
    /// statement) and counts their attempt. A delivery never attempted
    /// (new, redriven, released) is due whatever its `next_attempt_at` (it
    /// was written with the accepting node's clock); one with attempts
    /// behind it only when due by the database clock, so a hand-off racing a
    /// retry never sends it early. Ids another worker holds are left out.
    pub async fn claim_deliveries(
        &self,
        ids: &[DeliveryId],
        owner: &str,
        lease_ms: i64,
    ) -> Result<Vec<deliveries::Model>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Sql::new(self.backend());
        q.push("UPDATE deliveries SET ");
        Self::lease_set(&mut q, owner, lease_ms, true);
        q.push(" WHERE id IN (")
            .bind_list(
                &ids.iter()
                    .map(|i| i.as_str().to_owned())
                    .collect::<Vec<_>>(),
            )
            .push(") AND state = 'queued' AND (attempts = 0 OR next_attempt_at <= ")
            .now()
            .push(") RETURNING *");
        let _gate = self.write_gate().await;
        self.claimed_rows(None, q).await
    }

    /// Claims up to `limit` queued deliveries that are due by the database
    /// clock and counts their attempt, fairly across apps: the apps whose
    /// oldest due delivery waited longest come first, each takes an even
    /// share (oldest first within the app), and further rounds give what
    /// small apps left to the apps that filled their share. Returned in
    /// round-robin order across apps.
    pub async fn claim_due(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: u64,
    ) -> Result<Vec<deliveries::Model>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let _gate = self.write_gate().await;
        let pg = self.backend() == DbBackend::Postgres;
        let txn = if pg {
            Some(self.db().begin().await?)
        } else {
            None
        };
        let apps = self.apps_with_due(txn.as_ref(), limit).await?;
        let mut picked: Vec<Vec<String>> = vec![Vec::new(); apps.len()];
        let mut active: Vec<usize> = (0..apps.len()).collect();
        let mut budget = limit;
        // Each round fills the budget or drops an app that ran out.
        while budget > 0 && !active.is_empty() {
            let quotas = fair_quotas(active.len(), budget);
            let asks: Vec<(usize, u64)> = active
                .iter()
                .copied()
                .zip(quotas)
                .filter(|(_, q)| *q > 0)
                .collect();
            let excluded: Vec<String> = picked.iter().flatten().cloned().collect();
            let rows = self
                .due_of_apps(txn.as_ref(), &apps, &asks, &excluded)
                .await?;
            let mut got: HashMap<usize, u64> = HashMap::new();
            for (app, id) in rows {
                if let Some(i) = apps.iter().position(|a| a.as_str() == app) {
                    picked[i].push(id);
                    *got.entry(i).or_default() += 1;
                    budget = budget.saturating_sub(1);
                }
            }
            // An app that filled its share may have more.
            active = asks
                .iter()
                .filter(|(i, q)| got.get(i).copied().unwrap_or(0) >= *q)
                .map(|(i, _)| *i)
                .collect();
        }
        let order = round_robin(picked);
        if order.is_empty() {
            if let Some(t) = txn {
                t.commit().await?;
            }
            return Ok(Vec::new());
        }
        let mut q = Sql::new(self.backend());
        q.push("UPDATE deliveries SET ");
        Self::lease_set(&mut q, owner, lease_ms, true);
        q.push(" WHERE id IN (")
            .bind_list(&order)
            .push(") AND state = 'queued' AND next_attempt_at <= ")
            .now()
            .push(" RETURNING *");
        let mut rows = self.claimed_rows(txn.as_ref(), q).await?;
        if let Some(t) = txn {
            t.commit().await?;
        }
        let pos: HashMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        rows.sort_by_key(|d| pos.get(d.id.as_str()).copied().unwrap_or(usize::MAX));
        Ok(rows)
    }

    /// Apps with a due delivery, the one whose oldest due delivery waited
    /// longest first (at most `limit`). One index probe per app.
    async fn apps_with_due(
        &self,
        txn: Option<&DatabaseTransaction>,
        limit: u64,
    ) -> Result<Vec<AppId>, StoreError> {
        let st = self.apps_with_due_sql(limit).statement();
        let rows = match txn {
            Some(t) => t.query_all_raw(st).await?,
            None => self.db().query_all_raw(st).await?,
        };
        rows.iter()
            .map(|r| Ok(AppId::from_stored(r.try_get::<String>("", "app_id")?)))
            .collect()
    }

    fn apps_with_due_sql(&self, limit: u64) -> Sql {
        let mut q = Sql::new(self.backend());
        q.push(
            "SELECT app_id FROM (SELECT a.id AS app_id, (SELECT d.next_attempt_at \
             FROM deliveries d WHERE d.app_id = a.id AND d.state = 'queued' \
             ORDER BY d.next_attempt_at LIMIT 1) AS oldest FROM apps a) w \
             WHERE oldest <= ",
        )
        .now()
        .push(" ORDER BY oldest LIMIT ")
        .bind(limit as i64);
        q
    }

    /// Due, queued deliveries of the apps in `asks` (index into `apps`, how
    /// many), oldest first within each app, leaving out `excluded`: `(app, id)`
    /// pairs. Locked `FOR UPDATE SKIP LOCKED` on PostgreSQL.
    async fn due_of_apps(
        &self,
        txn: Option<&DatabaseTransaction>,
        apps: &[AppId],
        asks: &[(usize, u64)],
        excluded: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        if asks.is_empty() {
            return Ok(Vec::new());
        }
        let st = self.due_of_apps_sql(apps, asks, excluded).statement();
        let rows = match txn {
            Some(t) => t.query_all_raw(st).await?,
            None => self.db().query_all_raw(st).await?,
        };
        rows.iter()
            .map(|r| Ok((r.try_get("", "app_id")?, r.try_get("", "id")?)))
            .collect()
    }

    fn due_of_apps_sql(&self, apps: &[AppId], asks: &[(usize, u64)], excluded: &[String]) -> Sql {
        let mut q = Sql::new(self.backend());
        let exclude = |q: &mut Sql| {
            if !excluded.is_empty() {
                q.push(" AND d.id NOT IN (").bind_list(excluded).push(")");
            }
        };
        if self.backend() == DbBackend::Postgres {
            q.push("SELECT x.app_id, x.id FROM (VALUES ");
            for (n, (i, quota)) in asks.iter().enumerate() {
                if n > 0 {
                    q.push(", ");
                }
                q.push("(")
                    .bind(apps[*i].as_str().to_owned())
                    .push(", CAST(")
                    .bind(*quota as i64)
                    .push(" AS BIGINT))");
            }
            q.push(
                ") AS w(app_id, n) CROSS JOIN LATERAL (SELECT d.app_id, d.id FROM deliveries d \
                 WHERE d.app_id = w.app_id AND d.state = 'queued' AND d.next_attempt_at <= ",
            )
            .now();
            exclude(&mut q);
            q.push(" ORDER BY d.next_attempt_at LIMIT w.n FOR UPDATE SKIP LOCKED) x");
        } else {
            for (n, (i, quota)) in asks.iter().enumerate() {
                if n > 0 {
                    q.push(" UNION ALL ");
                }
                q.push("SELECT * FROM (SELECT d.app_id, d.id FROM deliveries d WHERE d.app_id = ")
                    .bind(apps[*i].as_str().to_owned())
                    .push(" AND d.state = 'queued' AND d.next_attempt_at <= ")
                    .now();
                exclude(&mut q);
                q.push(" ORDER BY d.next_attempt_at LIMIT ")
                    .bind(*quota as i64)
                    .push(")");
            }
        }
        q
    }

    /// Claims up to `limit` deliveries whose lease ran out (by the database
    /// clock) while `sending`: their worker died. The attempt is not counted
    /// here: the caller decides whether the delivery may be re-sent
    /// ([`Store::begin_resend`]) or becomes `unknown`.
    pub async fn claim_expired(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: u64,
    ) -> Result<Vec<deliveries::Model>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let q = self.claim_expired_sql(owner, lease_ms, limit);
        let _gate = self.write_gate().await;
        self.claimed_rows(None, q).await
    }

    fn claim_expired_sql(&self, owner: &str, lease_ms: i64, limit: u64) -> Sql {
        let mut q = Sql::new(self.backend());
        if self.backend() == DbBackend::Postgres {
            // One statement; MATERIALIZED evaluates the locking pick once, so
            // the update never claims more than `limit` rows.
            q.push(
                "WITH c AS MATERIALIZED (SELECT id FROM deliveries \
                 WHERE state = 'sending' AND lease_until < ",
            )
            .now()
            .push(" ORDER BY lease_until LIMIT ")
            .bind(limit as i64)
            .push(" FOR UPDATE SKIP LOCKED) UPDATE deliveries SET ");
            Self::lease_set(&mut q, owner, lease_ms, false);
            q.push(" FROM c WHERE deliveries.id = c.id RETURNING deliveries.*");
        } else {
            q.push("UPDATE deliveries SET ");
            Self::lease_set(&mut q, owner, lease_ms, false);
            q.push(
                " WHERE id IN (SELECT id FROM deliveries \
                 WHERE state = 'sending' AND lease_until < ",
            )
            .now()
            .push(" ORDER BY lease_until LIMIT ")
            .bind(limit as i64)
            .push(") RETURNING *");
        }
        q
    }

    /// The query plans of the claim's reads (apps with due work, one app's
    /// due rows, expired leases), for checking they use the partial indexes.
    /// PostgreSQL is asked to avoid sequential scans (which a small table
    /// would get), so a plan without the index means the index cannot serve
    /// the query.
    pub async fn claim_plans(&self) -> Result<Vec<String>, StoreError> {
        let app = AppId::from_stored("app_plan".to_owned());
        let apps = [app];
        let queries = [
            self.apps_with_due_sql(64),
            self.due_of_apps_sql(&apps, &[(0, 64)], &["d_x".to_owned()]),
            self.claim_expired_sql("plan", 30_000, 64),
        ];
        let txn = self.db().begin().await?;
        let pg = self.backend() == DbBackend::Postgres;
        if pg {
            txn.execute_unprepared("SET LOCAL enable_seqscan = off")
                .await?;
        } else {
            // EXPLAIN QUERY PLAN reads nothing, so it would plan with this
            // connection's cached schema: a read loads the current one.
            txn.execute_unprepared("SELECT count(*) FROM sqlite_master")
                .await?;
        }
        let mut plans = Vec::new();
        for mut q in queries {
            q.text = if pg {
                format!("EXPLAIN {}", q.text)
            } else {
                format!("EXPLAIN QUERY PLAN {}", q.text)
            };
            let rows = txn.query_all_raw(q.statement()).await?;
            let lines: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String>("", if pg { "QUERY PLAN" } else { "detail" }))
                .collect::<Result<_, _>>()?;
            plans.push(lines.join("\n"));
        }
        txn.rollback().await?;
        Ok(plans)
    }

    /// Puts deliveries this owner claimed but never started back in the
    /// queue, due as before, and takes back the attempt their claim counted
    /// (a shutdown releasing what it will not send). Only for fresh claims
    /// ([`Store::claim_deliveries`], [`Store::claim_due`]): a reclaimed
    /// delivery may have been sent by its dead worker and is left to its
    /// lease. Returns how many were released.
    pub async fn release_claim(&self, ids: &[DeliveryId], owner: &str) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut q = Sql::new(self.backend());
        q.push(
            "UPDATE deliveries SET state = 'queued', lease_owner = NULL, lease_until = NULL, \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = ",
        )
        .bind(now_ms())
        .push(" WHERE id IN (")
        .bind_list(
            &ids.iter()
                .map(|i| i.as_str().to_owned())
                .collect::<Vec<_>>(),
        )
        .push(") AND state = 'sending' AND lease_owner = ")
        .bind(owner.to_owned());
        let _gate = self.write_gate().await;
        Ok(self.db().execute_raw(q.statement()).await?.rows_affected())
    }

    /// Counts a new attempt on a delivery this owner holds (a re-send after an
    /// expired lease, or after a token refresh) and extends its lease by the
    /// database clock. `false` when the lease was lost.
    pub async fn begin_resend(
        &self,
        id: &DeliveryId,
        owner: &str,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        self.extend_lease(id, owner, lease_ms, true).await
    }

    /// Extends the lease this owner holds (by the database clock). `false`
    /// when it was lost.
    pub async fn renew_lease(
        &self,
        id: &DeliveryId,
        owner: &str,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        self.extend_lease(id, owner, lease_ms, false).await
    }

    async fn extend_lease(
        &self,
        id: &DeliveryId,
        owner: &str,
        lease_ms: i64,
        count: bool,
    ) -> Result<bool, StoreError> {
        let mut q = Sql::new(self.backend());
        q.push("UPDATE deliveries SET lease_until = ")
            .now()
            .push(" + ")
            .bind(lease_ms)
            .push(", updated_at = ")
            .bind(now_ms());
        if count {
            q.push(", attempts = attempts + 1");
        }
        q.push(" WHERE id = ")
            .bind(id.as_str().to_owned())
            .push(" AND state = 'sending' AND lease_owner = ")
            .bind(owner.to_owned());
        Ok(self.db().execute_raw(q.statement()).await?.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_share_the_budget_evenly_and_give_the_rest_to_the_first_apps() {
        assert_eq!(fair_quotas(3, 10), vec![4, 3, 3]);
        assert_eq!(fair_quotas(1, 64), vec![64]);
        assert_eq!(fair_quotas(4, 2), vec![1, 1, 0, 0]);
        assert_eq!(fair_quotas(0, 5), Vec::<u64>::new());
        assert_eq!(fair_quotas(7, 64).iter().sum::<u64>(), 64);
    }

    #[test]
    fn round_robin_takes_one_of_each_app_in_turn() {
        let order = round_robin(vec![
            vec!["a1", "a2", "a3"],
            vec!["b1"],
            vec![],
            vec!["c1", "c2"],
        ]);
        assert_eq!(order, vec!["a1", "b1", "c1", "a2", "c2", "a3"]);
        assert!(round_robin::<u8>(vec![]).is_empty());
    }
}
