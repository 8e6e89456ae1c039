//! `--finished N`: fills the deliveries table with N finished (published)
//! deliveries before the load, written straight into the server's database in
//! multi-row INSERTs (thousands of rows per statement, several statements per
//! transaction) rather than N publishes, so a million rows take seconds. They
//! belong to one action of the benchmark app and are never sent; they show
//! whether the claim queries' cost grows with the table's history.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sea_orm::{ConnectionTrait, Database, TransactionTrait};

/// Rows per INSERT statement (values are inlined: no bound-parameter limit).
const ROWS_PER_STATEMENT: u64 = 2_000;
/// Statements per transaction.
const STATEMENTS_PER_TRANSACTION: u64 = 10;

/// The id of the `i`-th prefilled delivery of this run.
fn delivery_id(run: &str, i: u64) -> String {
    format!("bench-fin-{run}-{i}")
}

/// One multi-row INSERT of the deliveries `from..to` of `action`.
pub fn insert_sql(
    run: &str,
    app_id: &str,
    action_id: &str,
    from: u64,
    to: u64,
    now_ms: i64,
) -> String {
    let mut sql = String::from(
        "INSERT INTO deliveries (id, action_id, app_id, connection_id, provider, account, \
         state, attempts, next_attempt_at, post_id, created_at, updated_at) VALUES ",
    );
    for i in from..to {
        if i > from {
            sql.push(',');
        }
        sql.push_str(&format!(
            "('{}', '{action_id}', '{app_id}', 'bench-finished', 'webhook', 'bench', \
             'published', 1, {now_ms}, 'p{i}', {now_ms}, {now_ms})",
            delivery_id(run, i)
        ));
    }
    sql
}

/// Writes `n` published deliveries for `app_id` into the database at `url`.
/// Returns how long it took.
pub async fn finished_deliveries(url: &str, app_id: &str, n: u64) -> Result<Duration> {
    let started = Instant::now();
    let db = Database::connect(url)
        .await
        .with_context(|| format!("connecting to the server's database to prefill ({url})"))?;
    // Ids and names are generated here (hex and fixed words): safe to inline.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let action_id = format!("bench-fin-{run}");
    ensure_safe(app_id)?;
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    db.execute_unprepared(&format!(
        "INSERT INTO actions (id, app_id, uid, request_hash, payload, created_at) \
         VALUES ('{action_id}', '{app_id}', 'bench-finished', 'bench', '{{}}', {now_ms})"
    ))
    .await
    .context("inserting the prefill action")?;
    let per_txn = ROWS_PER_STATEMENT * STATEMENTS_PER_TRANSACTION;
    let mut from = 0;
    while from < n {
        let txn = db.begin().await?;
        let end = (from + per_txn).min(n);
        let mut at = from;
        while at < end {
            let to = (at + ROWS_PER_STATEMENT).min(end);
            txn.execute_unprepared(&insert_sql(&run, app_id, &action_id, at, to, now_ms))
                .await
                .context("inserting finished deliveries")?;
            at = to;
        }
        txn.commit().await?;
        from = end;
    }
    db.close().await.ok();
    Ok(started.elapsed())
}

/// An id inlined into SQL must hold no quote or other surprise.
fn ensure_safe(value: &str) -> Result<()> {
    anyhow::ensure!(
        value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "unexpected characters in the app id {value:?}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_statement_has_one_row_per_delivery() {
        let sql = insert_sql("r", "app_1", "act", 5, 8, 42);
        assert_eq!(sql.matches("'published'").count(), 3);
        assert!(sql.contains("'bench-fin-r-5'") && sql.contains("'bench-fin-r-7'"));
        assert!(!sql.contains("'bench-fin-r-8'"));
    }

    #[test]
    fn quotes_in_an_app_id_are_refused() {
        assert!(ensure_safe("app_1-x").is_ok());
        assert!(ensure_safe("a'; DROP TABLE apps; --").is_err());
    }
}
