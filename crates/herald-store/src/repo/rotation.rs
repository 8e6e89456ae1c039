//! Master-key rotation: re-encrypts every encrypted column under the current
//! key, bound to its place (the `v2:` form; unbound `v1:` values written by
//! older versions are upgraded too). Values are decrypted with any configured
//! key (the previous one stays readable until this is done) and written back
//! only if unchanged meanwhile, so a running server's concurrent writes are
//! never overwritten.

use crate::crypto::BOUND_VERSION;
use crate::{Place, Store, StoreError, now_ms};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Order, Query};
use std::collections::BTreeMap;

/// Every encrypted column, as (table, primary key, column). A new encrypted
/// column must be listed here (the raw-database test checks every one).
pub const ENCRYPTED_COLUMNS: &[(&str, &str, &str)] = &[
    ("apps", "id", "secret_enc"),
    ("apps", "id", "previous_secret_enc"),
    ("app_keys", "id", "secret_enc"),
    ("provider_configs", "id", "client_secret_enc"),
    ("connections", "id", "access_token_enc"),
    ("connections", "id", "refresh_token_enc"),
    ("connections", "id", "secret_enc"),
    ("oauth_states", "state", "pkce_verifier_enc"),
    ("oauth_clients", "id", "client_secret_enc"),
    ("pending_connections", "id", "access_token_enc"),
    ("pending_connections", "id", "refresh_token_enc"),
    ("pending_connections", "id", "secret_enc"),
];

const BATCH: u64 = 500;

/// What a rotation pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RotationReport {
    /// The key everything is now encrypted under.
    pub key_id: String,
    /// Values re-encrypted, per `table.column`.
    pub reencrypted: BTreeMap<String, u64>,
    /// Values that changed while being re-encrypted (written meanwhile by a
    /// server, under whichever key it holds): run the rotation again.
    pub changed_meanwhile: u64,
    /// Values no configured key decrypts (`table.column` → count): left as
    /// they are; their connections must be reconnected.
    pub unreadable: BTreeMap<String, u64>,
}

impl Store {
    /// Re-encrypts every value not under the current key in the bound form.
    pub async fn reencrypt_all(&self) -> Result<RotationReport, StoreError> {
        let current = format!("{BOUND_VERSION}:{}:", self.secrets().key_id());
        let mut report = RotationReport {
            key_id: self.secrets().key_id().to_owned(),
            ..Default::default()
        };
        for &(table, pk, column) in ENCRYPTED_COLUMNS {
            let (done, changed, unreadable) =
                self.reencrypt_column(table, pk, column, &current).await?;
            report.reencrypted.insert(format!("{table}.{column}"), done);
            report.changed_meanwhile += changed;
            if unreadable > 0 {
                report
                    .unreadable
                    .insert(format!("{table}.{column}"), unreadable);
            }
        }
        Ok(report)
    }

    /// How many stored values of each key id there are, per `table.column`.
    pub async fn encrypted_key_ids(
        &self,
    ) -> Result<BTreeMap<String, BTreeMap<String, u64>>, StoreError> {
        let mut out = BTreeMap::new();
        for &(table, _, column) in ENCRYPTED_COLUMNS {
            let q = Query::select()
                .column(Alias::new(column))
                .from(Alias::new(table))
                .and_where(Expr::col(Alias::new(column)).is_not_null())
                .to_owned();
            let rows = self.db().query_all(&q).await?;
            let mut counts = BTreeMap::new();
            for r in rows {
                let v: String = r.try_get("", column)?;
                let id = v.split(':').nth(1).unwrap_or("malformed").to_owned();
                *counts.entry(id).or_insert(0) += 1;
            }
            out.insert(format!("{table}.{column}"), counts);
        }
        Ok(out)
    }

    /// How many stored values are still in the unbound `v1:` form (written
    /// before values were bound to their place): 0 once a rotation pass ran.
    pub async fn unbound_values(&self) -> Result<u64, StoreError> {
        let mut n = 0;
        for &(table, _, column) in ENCRYPTED_COLUMNS {
            let q = Query::select()
                .expr_as(Expr::col(Alias::new(column)).count(), Alias::new("n"))
                .from(Alias::new(table))
                .and_where(Expr::col(Alias::new(column)).like("v1:%"))
                .to_owned();
            if let Some(r) = self.db().query_one(&q).await? {
                n += r.try_get::<i64>("", "n")? as u64;
            }
        }
        Ok(n)
    }

    async fn reencrypt_column(
        &self,
        table: &str,
        pk: &str,
        column: &str,
        current: &str,
    ) -> Result<(u64, u64, u64), StoreError> {
        let (mut done, mut changed, mut unreadable) = (0, 0, 0);
        let mut after: Option<String> = None;
        loop {
            let mut q = Query::select()
                .column(Alias::new(pk))
                .column(Alias::new(column))
                .from(Alias::new(table))
                .and_where(Expr::col(Alias::new(column)).is_not_null())
                .and_where(Expr::col(Alias::new(column)).not_like(format!("{current}%")))
                .order_by(Alias::new(pk), Order::Asc)
                .limit(BATCH)
                .to_owned();
            if let Some(a) = &after {
                q.and_where(Expr::col(Alias::new(pk)).gt(a.clone()));
            }
            let rows = self.db().query_all(&q).await?;
            if rows.is_empty() {
                return Ok((done, changed, unreadable));
            }
            for r in &rows {
                let id: String = r.try_get("", pk)?;
                let old: String = r.try_get("", column)?;
                after = Some(id.clone());
                let place = Place::new(table, column, &id);
                let Ok(plain) = self.secrets().decrypt(&old, place) else {
                    unreadable += 1;
                    continue;
                };
                let fresh = self.secrets().encrypt(plain.expose(), place);
                let mut u = Query::update()
                    .table(Alias::new(table))
                    .value(Alias::new(column), fresh)
                    .and_where(Expr::col(Alias::new(pk)).eq(id.clone()))
                    .and_where(Expr::col(Alias::new(column)).eq(old))
                    .to_owned();
                if table == "connections" {
                    // A refresh in flight records its outcome only if the
                    // stored token is still the one it started from: leave
                    // the row to it (counted as changed meanwhile; the next
                    // pass rotates it).
                    let lease = Expr::col(Alias::new("refresh_lease_until"));
                    u.cond_where(
                        Condition::any()
                            .add(lease.clone().is_null())
                            .add(lease.lt(now_ms())),
                    );
                }
                if self.db().execute(&u).await?.rows_affected() == 1 {
                    done += 1;
                } else {
                    changed += 1;
                }
            }
        }
    }
}
