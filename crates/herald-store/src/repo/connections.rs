//! Users' connected accounts. One row per (app, uid, provider, provider_uid):
//! a user may hold several accounts on one network. Tokens and signing secrets
//! are stored encrypted and decrypted only into a `Credential` for a call.

use crate::entities::connections;
use crate::{Place, Store, StoreError, now_ms};
use herald_core::{AppId, ConnectionId, Credential, Secret};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, Set,
};

/// A connection's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionStatus {
    Active,
    NeedsReauth,
    Revoked,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Active => "active",
            ConnectionStatus::NeedsReauth => "needs_reauth",
            ConnectionStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ConnectionStatus::Active),
            "needs_reauth" => Some(ConnectionStatus::NeedsReauth),
            "revoked" => Some(ConnectionStatus::Revoked),
            _ => None,
        }
    }
}

/// A credential to store, as handed in by a site or a connect flow.
#[derive(Clone, Debug)]
pub struct ConnectionUpsert {
    pub app_id: AppId,
    pub uid: String,
    pub provider: String,
    pub provider_uid: String,
    pub display_name: Option<String>,
    pub url: Option<String>,
    pub access_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
    pub secret: Option<Secret>,
    pub expires_at_ms: Option<i64>,
}

/// How a token refresh ended, as recorded on the connection.
pub enum RefreshOutcome<'a> {
    Refreshed(&'a Credential),
    /// 5xx, timeout, rate limit: the connection stays active; retry at `retry_at`.
    Transient {
        message: &'a str,
        retry_at: i64,
    },
    /// Refused for good (`invalid_grant`, revoked): the user must reconnect.
    NeedsReauth {
        message: &'a str,
    },
}

/// Attempts of an upsert that races with inserts and deletes of the same row.
pub(crate) const UPSERT_TRIES: usize = 5;

fn unix_ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

impl connections::Model {
    pub fn connection_id(&self) -> ConnectionId {
        ConnectionId::from_stored(self.id.clone())
    }

    pub fn status(&self) -> ConnectionStatus {
        ConnectionStatus::parse(&self.status).unwrap_or(ConnectionStatus::Revoked)
    }
}

/// Whether a user holding the accounts `existing` on a provider may add
/// `adding`: updating an account already held is always allowed; new
/// accounts only while the total stays within `cap`.
pub fn fits_cap<E: AsRef<str>>(existing: &[E], adding: &[&str], cap: u32) -> bool {
    let mut new: Vec<&str> = adding
        .iter()
        .copied()
        .filter(|a| !existing.iter().any(|e| e.as_ref() == *a))
        .collect();
    new.sort_unstable();
    new.dedup();
    new.is_empty() || existing.len().saturating_add(new.len()) <= cap as usize
}

/// The provider_uids `uid` of `app` holds on `provider`, on `db` (a
/// connection or a transaction).
pub(crate) async fn held_accounts<C: sea_orm::ConnectionTrait>(
    db: &C,
    app: &str,
    uid: &str,
    provider: &str,
) -> Result<Vec<String>, StoreError> {
    use sea_orm::QuerySelect;
    Ok(connections::Entity::find()
        .select_only()
        .column(connections::Column::ProviderUid)
        .filter(connections::Column::AppId.eq(app))
        .filter(connections::Column::Uid.eq(uid))
        .filter(connections::Column::Provider.eq(provider))
        .into_tuple()
        .all(db)
        .await?)
}

/// A stored credential's columns (of `table`, row `id`), decrypted into a
/// `Credential` for one call.
pub(crate) struct StoredCredential<'a> {
    pub table: &'a str,
    pub id: &'a str,
    pub access_token_enc: Option<&'a str>,
    pub refresh_token_enc: Option<&'a str>,
    pub secret_enc: Option<&'a str>,
    pub expires_at: Option<i64>,
    pub provider_uid: &'a str,
    pub display_name: Option<&'a str>,
    pub url: Option<&'a str>,
}

impl StoredCredential<'_> {
    pub(crate) fn decrypt(&self, s: &crate::SecretBox) -> Result<Credential, StoreError> {
        let at = |column| Place::new(self.table, column, self.id);
        Ok(Credential {
            access_token: s.decrypt_opt(self.access_token_enc, at("access_token_enc"))?,
            refresh_token: s.decrypt_opt(self.refresh_token_enc, at("refresh_token_enc"))?,
            expires_at: self.expires_at.and_then(|ms| {
                time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok()
            }),
            provider_uid: self.provider_uid.to_owned(),
            display_name: self.display_name.map(str::to_owned),
            url: self.url.map(str::to_owned),
            secret: s.decrypt_opt(self.secret_enc, at("secret_enc"))?,
        })
    }
}

/// Inserts the connection as `active`, or replaces the credential of the
/// same account (same app, uid, provider and provider_uid), on `db` (a
/// connection or a transaction). Each secret is sealed for the row it lands
/// in, so the row's id is settled first: an update by id, or an insert that
/// yields to a concurrent one and tries again.
pub(crate) async fn upsert_plain<C: sea_orm::ConnectionTrait>(
    db: &C,
    s: &crate::SecretBox,
    c: &ConnectionUpsert,
) -> Result<connections::Model, StoreError> {
    use connections::Column as C;
    let find = || {
        connections::Entity::find()
            .filter(C::AppId.eq(c.app_id.as_str()))
            .filter(C::Uid.eq(&c.uid))
            .filter(C::Provider.eq(&c.provider))
            .filter(C::ProviderUid.eq(&c.provider_uid))
    };
    for _ in 0..UPSERT_TRIES {
        let now = now_ms();
        let existing = find().one(db).await?;
        let id = match &existing {
            Some(row) => row.id.clone(),
            None => ConnectionId::new().to_string(),
        };
        let at = |column| Place::new("connections", column, &id);
        let access = s.encrypt_opt(c.access_token.as_ref(), at("access_token_enc"));
        let refresh = s.encrypt_opt(c.refresh_token.as_ref(), at("refresh_token_enc"));
        let secret = s.encrypt_opt(c.secret.as_ref(), at("secret_enc"));
        let written = if existing.is_some() {
            connections::Entity::update_many()
                .col_expr(C::DisplayName, Expr::value(c.display_name.clone()))
                .col_expr(C::Url, Expr::value(c.url.clone()))
                .col_expr(C::AccessTokenEnc, Expr::value(access))
                .col_expr(C::RefreshTokenEnc, Expr::value(refresh))
                .col_expr(C::SecretEnc, Expr::value(secret))
                .col_expr(C::ExpiresAt, Expr::value(c.expires_at_ms))
                .col_expr(C::Status, Expr::value(ConnectionStatus::Active.as_str()))
                .col_expr(C::LastError, Expr::value(Option::<String>::None))
                .col_expr(C::UpdatedAt, Expr::value(now))
                .col_expr(C::RefreshFailures, Expr::value(0))
                .col_expr(C::RefreshRetryAt, Expr::value(Option::<i64>::None))
                .filter(C::Id.eq(&id))
                .exec(db)
                .await?
                .rows_affected
        } else {
            let row = connections::ActiveModel {
                id: Set(id.clone()),
                app_id: Set(c.app_id.to_string()),
                uid: Set(c.uid.clone()),
                provider: Set(c.provider.clone()),
                provider_uid: Set(c.provider_uid.clone()),
                display_name: Set(c.display_name.clone()),
                url: Set(c.url.clone()),
                access_token_enc: Set(access),
                refresh_token_enc: Set(refresh),
                secret_enc: Set(secret),
                expires_at: Set(c.expires_at_ms),
                status: Set(ConnectionStatus::Active.as_str().to_owned()),
                last_refresh_at: Set(None),
                last_error: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                refresh_lease_owner: Set(None),
                refresh_lease_until: Set(None),
                refresh_failures: Set(0),
                refresh_retry_at: Set(None),
            };
            connections::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([C::AppId, C::Uid, C::Provider, C::ProviderUid])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?
        };
        if written == 1 {
            return connections::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or_else(|| StoreError::Corrupt("upserted connection vanished".into()));
        }
    }
    Err(StoreError::Corrupt(
        "the connection kept changing while being stored".into(),
    ))
}

impl Store {
    /// Inserts the connection, or replaces the stored credential of the same
    /// account (same app, uid, provider and provider_uid).
    ///
    /// Tokens are sealed for the row they land in, so the existing row is
    /// updated by its id rather than through an insert's conflict clause (whose
    /// fresh id would not be the row's); a concurrent first connect that wins
    /// the insert makes this one retry as an update.
    pub async fn upsert_connection(
        &self,
        c: ConnectionUpsert,
    ) -> Result<connections::Model, StoreError> {
        upsert_plain(self.db(), &self.secrets(), &c).await
    }

    /// Whether `uid` of `app` may hold the accounts `adding` on `provider`
    /// besides those it holds: see [`fits_cap`].
    pub async fn connection_cap_allows(
        &self,
        app: &AppId,
        uid: &str,
        provider: &str,
        adding: &[&str],
        cap: u32,
    ) -> Result<bool, StoreError> {
        let held = held_accounts(self.db(), app.as_str(), uid, provider).await?;
        Ok(fits_cap(&held, adding, cap))
    }

    pub async fn connections_of(
        &self,
        app: &AppId,
        uid: &str,
    ) -> Result<Vec<connections::Model>, StoreError> {
        Ok(connections::Entity::find()
            .filter(connections::Column::AppId.eq(app.as_str()))
            .filter(connections::Column::Uid.eq(uid))
            .order_by_asc(connections::Column::CreatedAt)
            .all(self.db())
            .await?)
    }

    pub async fn connection(
        &self,
        id: &ConnectionId,
    ) -> Result<Option<connections::Model>, StoreError> {
        Ok(connections::Entity::find_by_id(id.as_str())
            .one(self.db())
            .await?)
    }

    /// Deletes the user's connections to `provider` (one account when
    /// `provider_uid` is given); returns how many.
    pub async fn delete_connections(
        &self,
        app: &AppId,
        uid: &str,
        provider: &str,
        provider_uid: Option<&str>,
    ) -> Result<u64, StoreError> {
        let mut q = connections::Entity::delete_many()
            .filter(connections::Column::AppId.eq(app.as_str()))
            .filter(connections::Column::Uid.eq(uid))
            .filter(connections::Column::Provider.eq(provider));
        if let Some(p) = provider_uid {
            q = q.filter(connections::Column::ProviderUid.eq(p));
        }
        Ok(q.exec(self.db()).await?.rows_affected)
    }

    /// An app's connections, optionally of one provider and status, in id
    /// order after `cursor`.
    pub async fn list_app_connections(
        &self,
        app: &AppId,
        provider: Option<&str>,
        status: Option<ConnectionStatus>,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Vec<connections::Model>, StoreError> {
        use sea_orm::QuerySelect;
        let mut q = connections::Entity::find()
            .filter(connections::Column::AppId.eq(app.as_str()))
            .order_by_asc(connections::Column::Id)
            .limit(limit);
        if let Some(p) = provider {
            q = q.filter(connections::Column::Provider.eq(p));
        }
        if let Some(s) = status {
            q = q.filter(connections::Column::Status.eq(s.as_str()));
        }
        if let Some(c) = cursor {
            q = q.filter(connections::Column::Id.gt(c));
        }
        Ok(q.all(self.db()).await?)
    }

    /// Deletes a connection by id; `false` if it was already gone.
    pub async fn delete_connection_by_id(&self, id: &ConnectionId) -> Result<bool, StoreError> {
        Ok(connections::Entity::delete_by_id(id.as_str())
            .exec(self.db())
            .await?
            .rows_affected
            > 0)
    }

    /// Deletes one of the user's connections by id; `false` if not found.
    pub async fn delete_connection(
        &self,
        app: &AppId,
        uid: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        let r = connections::Entity::delete_many()
            .filter(connections::Column::AppId.eq(app.as_str()))
            .filter(connections::Column::Uid.eq(uid))
            .filter(connections::Column::Id.eq(id))
            .exec(self.db())
            .await?;
        Ok(r.rows_affected > 0)
    }

    /// Deletes every connection (and so every stored token) of a user.
    pub async fn delete_user_connections(&self, app: &AppId, uid: &str) -> Result<u64, StoreError> {
        Ok(connections::Entity::delete_many()
            .filter(connections::Column::AppId.eq(app.as_str()))
            .filter(connections::Column::Uid.eq(uid))
            .exec(self.db())
            .await?
            .rows_affected)
    }

    /// The stored credential, decrypted for one call.
    pub fn credential(&self, c: &connections::Model) -> Result<Credential, StoreError> {
        StoredCredential {
            table: "connections",
            id: &c.id,
            access_token_enc: c.access_token_enc.as_deref(),
            refresh_token_enc: c.refresh_token_enc.as_deref(),
            secret_enc: c.secret_enc.as_deref(),
            expires_at: c.expires_at,
            provider_uid: &c.provider_uid,
            display_name: c.display_name.as_deref(),
            url: c.url.as_deref(),
        }
        .decrypt(&self.secrets())
    }

    /// Takes the connection's refresh lease for `owner` when nobody holds it
    /// (or the holder's lease ran out): one refresh at a time across nodes.
    pub async fn take_refresh_lease(
        &self,
        id: &ConnectionId,
        owner: &str,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        use connections::Column as C;
        let now = now_ms();
        let r = connections::Entity::update_many()
            .col_expr(C::RefreshLeaseOwner, Expr::value(owner))
            .col_expr(
                C::RefreshLeaseUntil,
                Expr::value(now.saturating_add(lease_ms)),
            )
            .filter(C::Id.eq(id.as_str()))
            .filter(
                Condition::any()
                    .add(C::RefreshLeaseUntil.is_null())
                    .add(C::RefreshLeaseUntil.lt(now)),
            )
            .exec(self.db())
            .await?;
        Ok(r.rows_affected == 1)
    }

    /// Records how a refresh ended, if the connection still holds the
    /// refresh token the refresh started from (`started_from`, as stored):
    /// a user who reconnected meanwhile keeps the new credential. Releases
    /// `owner`'s lease either way. Returns whether the outcome was recorded.
    pub async fn finish_refresh(
        &self,
        id: &ConnectionId,
        owner: &str,
        started_from: Option<&str>,
        outcome: RefreshOutcome<'_>,
    ) -> Result<bool, StoreError> {
        use connections::Column as C;
        let now = now_ms();
        let s = self.secrets();
        let at = |column| Place::new("connections", column, id.as_str());
        let mut q = connections::Entity::update_many()
            .col_expr(C::UpdatedAt, Expr::value(now))
            .filter(C::Id.eq(id.as_str()));
        q = match started_from {
            Some(enc) => q.filter(C::RefreshTokenEnc.eq(enc)),
            None => q.filter(C::RefreshTokenEnc.is_null()),
        };
        match &outcome {
            RefreshOutcome::Refreshed(cred) => {
                q = q
                    .col_expr(
                        C::AccessTokenEnc,
                        Expr::value(
                            s.encrypt_opt(cred.access_token.as_ref(), at("access_token_enc")),
                        ),
                    )
                    .col_expr(
                        C::RefreshTokenEnc,
                        Expr::value(
                            s.encrypt_opt(cred.refresh_token.as_ref(), at("refresh_token_enc")),
                        ),
                    )
                    .col_expr(C::ExpiresAt, Expr::value(cred.expires_at.map(unix_ms)))
                    .col_expr(C::Status, Expr::value(ConnectionStatus::Active.as_str()))
                    .col_expr(C::LastRefreshAt, Expr::value(now))
                    .col_expr(C::LastError, Expr::value(Option::<String>::None))
                    .col_expr(C::RefreshFailures, Expr::value(0))
                    .col_expr(C::RefreshRetryAt, Expr::value(Option::<i64>::None));
                // The network may name a new home for the account (a Bluesky
                // account moved to another PDS) or a new name.
                if let Some(url) = &cred.url {
                    q = q.col_expr(C::Url, Expr::value(url.clone()));
                }
                if let Some(name) = &cred.display_name {
                    q = q.col_expr(C::DisplayName, Expr::value(name.clone()));
                }
            }
            RefreshOutcome::Transient { message, retry_at } => {
                q = q
                    .col_expr(C::LastError, Expr::value(message.to_string()))
                    .col_expr(C::RefreshFailures, Expr::col(C::RefreshFailures).add(1))
                    .col_expr(C::RefreshRetryAt, Expr::value(*retry_at));
            }
            RefreshOutcome::NeedsReauth { message } => {
                q = q
                    .col_expr(
                        C::Status,
                        Expr::value(ConnectionStatus::NeedsReauth.as_str()),
                    )
                    .col_expr(C::LastError, Expr::value(message.to_string()));
            }
        }
        let applied = q.exec(self.db()).await?.rows_affected == 1;
        self.release_refresh_lease(id, owner).await?;
        Ok(applied)
    }

    /// Leaves a connection out of background refresh until `retry_at`
    /// (its provider is missing from this build, its settings unreadable).
    pub async fn defer_refresh(
        &self,
        id: &ConnectionId,
        retry_at: i64,
        message: &str,
    ) -> Result<(), StoreError> {
        use connections::Column as C;
        connections::Entity::update_many()
            .col_expr(C::RefreshRetryAt, Expr::value(retry_at))
            .col_expr(C::LastError, Expr::value(message.to_owned()))
            .filter(C::Id.eq(id.as_str()))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Marks the connection `needs_reauth` if it still holds the access
    /// token the network refused (a refresh may have replaced it meanwhile).
    pub async fn mark_needs_reauth_if_token(
        &self,
        id: &ConnectionId,
        refused: Option<&Secret>,
        message: &str,
    ) -> Result<bool, StoreError> {
        let Some(row) = self.connection(id).await? else {
            return Ok(false);
        };
        let stored = self.secrets().decrypt_opt(
            row.access_token_enc.as_deref(),
            Place::new("connections", "access_token_enc", &row.id),
        )?;
        if stored.as_ref() != refused {
            return Ok(false);
        }
        use connections::Column as C;
        let mut q = connections::Entity::update_many()
            .col_expr(
                C::Status,
                Expr::value(ConnectionStatus::NeedsReauth.as_str()),
            )
            .col_expr(C::LastError, Expr::value(message.to_owned()))
            .col_expr(C::UpdatedAt, Expr::value(now_ms()))
            .filter(C::Id.eq(id.as_str()));
        q = match &row.access_token_enc {
            Some(enc) => q.filter(C::AccessTokenEnc.eq(enc.clone())),
            None => q.filter(C::AccessTokenEnc.is_null()),
        };
        Ok(q.exec(self.db()).await?.rows_affected == 1)
    }

    pub async fn release_refresh_lease(
        &self,
        id: &ConnectionId,
        owner: &str,
    ) -> Result<(), StoreError> {
        use connections::Column as C;
        connections::Entity::update_many()
            .col_expr(C::RefreshLeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(C::RefreshLeaseUntil, Expr::value(Option::<i64>::None))
            .filter(C::Id.eq(id.as_str()))
            .filter(C::RefreshLeaseOwner.eq(owner))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Active connections with a refresh token whose access token expires
    /// before `horizon_ms`, not backing off and not being refreshed, soonest
    /// first.
    pub async fn connections_to_refresh(
        &self,
        horizon_ms: i64,
        limit: u64,
    ) -> Result<Vec<connections::Model>, StoreError> {
        use connections::Column as C;
        use sea_orm::QuerySelect;
        let now = now_ms();
        Ok(connections::Entity::find()
            .filter(C::Status.eq(ConnectionStatus::Active.as_str()))
            .filter(C::RefreshTokenEnc.is_not_null())
            .filter(C::ExpiresAt.lt(horizon_ms))
            .filter(
                Condition::any()
                    .add(C::RefreshRetryAt.is_null())
                    .add(C::RefreshRetryAt.lte(now)),
            )
            .filter(
                Condition::any()
                    .add(C::RefreshLeaseUntil.is_null())
                    .add(C::RefreshLeaseUntil.lt(now)),
            )
            .order_by_asc(C::ExpiresAt)
            .limit(limit)
            .all(self.db())
            .await?)
    }

    pub async fn set_connection_status(
        &self,
        id: &ConnectionId,
        status: ConnectionStatus,
        last_error: Option<String>,
    ) -> Result<(), StoreError> {
        connections::ActiveModel {
            id: Set(id.to_string()),
            status: Set(status.as_str().to_owned()),
            last_error: Set(last_error),
            updated_at: Set(now_ms()),
            ..Default::default()
        }
        .update(self.db())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::fits_cap;

    #[test]
    fn the_cap_counts_only_new_accounts() {
        let two = ["a", "b"];
        assert!(fits_cap(&two, &["c"], 3));
        assert!(
            !fits_cap(&two, &["c"], 2),
            "a third account passes a cap of 2"
        );
        assert!(
            fits_cap(&two, &["a"], 2),
            "updating a held account is not capped"
        );
        assert!(fits_cap(&two, &["b", "a"], 0));
        assert!(!fits_cap(&two, &["a", "c", "d"], 3));
        assert!(fits_cap(&two, &["c", "c"], 3), "one account counted once");
        assert!(fits_cap::<&str>(&[], &[], 0));
        assert!(!fits_cap::<&str>(&[], &["x"], 0));
    }
}
