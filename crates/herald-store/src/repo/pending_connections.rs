//! Connections a connect flow obtained, held until the site's backend
//! redeems the flow's one-time connect code for the uid it expects. Until
//! then they are not connections at all: never listed as active, published
//! to or refreshed, and an account already connected keeps its tokens.
//! Only the code's SHA-256 is stored; redeeming is single use across nodes
//! (one `DELETE … RETURNING` decides who wins).

use crate::entities::{connections, pending_connections};
use crate::repo::connections::{StoredCredential, fits_cap, held_accounts, upsert_plain};
use crate::{ConnectionUpsert, Place, Store, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use herald_core::{AppId, Credential};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use sha2::Digest;

/// How a redeem ended.
#[derive(Debug)]
pub enum Redeemed {
    /// The flow's accounts, now connections of the uid.
    Connected(Vec<connections::Model>),
    /// Unknown, already redeemed, expired, or issued for another app or uid.
    NotFound,
    /// Connecting them would pass the cap on connections per (app, uid,
    /// provider); nothing was redeemed.
    OverCap { provider: String },
}

/// What is stored for a code: its SHA-256, hex.
pub fn code_hash(code: &str) -> String {
    hex::encode(sha2::Sha256::digest(code.as_bytes()))
}

impl pending_connections::Model {
    pub fn app_id(&self) -> AppId {
        AppId::from_stored(self.app_id.clone())
    }
}

impl Store {
    /// Holds the accounts one connect flow obtained (one, or several Pages)
    /// under a new one-time code, valid `ttl_ms`; returns the code (256
    /// random bits), which is stored only as a hash.
    pub async fn create_pending_connections(
        &self,
        accounts: Vec<ConnectionUpsert>,
        now: i64,
        ttl_ms: i64,
    ) -> Result<String, StoreError> {
        let code = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let hash = code_hash(&code);
        let s = self.secrets();
        let txn = self.db().begin().await?;
        for c in accounts {
            let id = herald_core::ConnectionId::new().to_string();
            let at = |column| Place::new("pending_connections", column, &id);
            pending_connections::ActiveModel {
                id: Set(id.clone()),
                app_id: Set(c.app_id.to_string()),
                uid: Set(c.uid),
                provider: Set(c.provider),
                provider_uid: Set(c.provider_uid),
                display_name: Set(c.display_name),
                url: Set(c.url),
                access_token_enc: Set(
                    s.encrypt_opt(c.access_token.as_ref(), at("access_token_enc"))
                ),
                refresh_token_enc: Set(
                    s.encrypt_opt(c.refresh_token.as_ref(), at("refresh_token_enc"))
                ),
                secret_enc: Set(s.encrypt_opt(c.secret.as_ref(), at("secret_enc"))),
                expires_at: Set(c.expires_at_ms),
                code_hash: Set(hash.clone()),
                code_expires_at: Set(now.saturating_add(ttl_ms)),
                created_at: Set(now),
            }
            .insert(&txn)
            .await?;
        }
        txn.commit().await?;
        Ok(code)
    }

    /// Redeems `code` for `uid` of `app`: its accounts become (or update)
    /// that user's active connections, within `max_per_provider` per
    /// provider. Single use: of two concurrent redeems one gets
    /// `Connected`, the other `NotFound`.
    pub async fn redeem_pending_connections(
        &self,
        app: &AppId,
        uid: &str,
        code: &str,
        now: i64,
        max_per_provider: u32,
    ) -> Result<Redeemed, StoreError> {
        use pending_connections::Column as P;
        let txn = self.db().begin().await?;
        let mut rows = pending_connections::Entity::delete_many()
            .filter(P::CodeHash.eq(code_hash(code)))
            .filter(P::AppId.eq(app.as_str()))
            .filter(P::Uid.eq(uid))
            .filter(P::CodeExpiresAt.gt(now))
            .exec_with_returning(&txn)
            .await?;
        if rows.is_empty() {
            // A live code presented for another uid or app is burned: the
            // site did not expect whoever finished that flow, and a code that
            // stayed valid after the site turned it down could still be
            // redeemed by whoever sent the link. Its rows go to the sweep,
            // which revokes their tokens.
            pending_connections::Entity::update_many()
                .col_expr(P::CodeExpiresAt, Expr::value(0i64))
                .filter(P::CodeHash.eq(code_hash(code)))
                .filter(P::CodeExpiresAt.gt(now))
                .exec(&txn)
                .await?;
            txn.commit().await?;
            return Ok(Redeemed::NotFound);
        }
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        let mut providers: Vec<&str> = rows.iter().map(|r| r.provider.as_str()).collect();
        providers.dedup();
        for provider in providers {
            let existing = held_accounts(&txn, app.as_str(), uid, provider).await?;
            let adding: Vec<&str> = rows
                .iter()
                .filter(|r| r.provider == provider)
                .map(|r| r.provider_uid.as_str())
                .collect();
            if !fits_cap(&existing, &adding, max_per_provider) {
                txn.rollback().await?;
                return Ok(Redeemed::OverCap {
                    provider: provider.to_owned(),
                });
            }
        }
        // Each secret is sealed to its row: it moves by being opened here
        // and sealed again for the connection it becomes.
        let secrets = self.secrets();
        let mut connected = Vec::with_capacity(rows.len());
        for r in rows {
            let cred = pending_credential_of(&r, &secrets)?;
            let upsert = ConnectionUpsert {
                app_id: app.clone(),
                uid: r.uid,
                provider: r.provider,
                provider_uid: r.provider_uid,
                display_name: r.display_name,
                url: r.url,
                access_token: cred.access_token,
                refresh_token: cred.refresh_token,
                secret: cred.secret,
                expires_at_ms: r.expires_at,
            };
            connected.push(upsert_plain(&txn, &secrets, &upsert).await?);
        }
        txn.commit().await?;
        Ok(Redeemed::Connected(connected))
    }

    /// Pending connections whose code expired before `expired_before`
    /// (never redeemed), oldest first.
    pub async fn unredeemed_connections(
        &self,
        expired_before: i64,
        limit: u64,
    ) -> Result<Vec<pending_connections::Model>, StoreError> {
        use pending_connections::Column as P;
        Ok(pending_connections::Entity::find()
            .filter(P::CodeExpiresAt.lt(expired_before))
            .order_by_asc(P::CodeExpiresAt)
            .limit(limit)
            .all(self.db())
            .await?)
    }

    /// Deletes one pending connection; `false` if it was already gone
    /// (redeemed or swept by another node).
    pub async fn delete_pending_connection(&self, id: &str) -> Result<bool, StoreError> {
        Ok(pending_connections::Entity::delete_by_id(id)
            .exec(self.db())
            .await?
            .rows_affected
            > 0)
    }

    /// A pending connection's credential, decrypted for one call (revoking
    /// it).
    pub fn pending_credential(
        &self,
        p: &pending_connections::Model,
    ) -> Result<Credential, StoreError> {
        pending_credential_of(p, &self.secrets())
    }
}

fn pending_credential_of(
    p: &pending_connections::Model,
    s: &crate::SecretBox,
) -> Result<Credential, StoreError> {
    StoredCredential {
        table: "pending_connections",
        id: &p.id,
        access_token_enc: p.access_token_enc.as_deref(),
        refresh_token_enc: p.refresh_token_enc.as_deref(),
        secret_enc: p.secret_enc.as_deref(),
        expires_at: p.expires_at,
        provider_uid: &p.provider_uid,
        display_name: p.display_name.as_deref(),
        url: p.url.as_deref(),
    }
    .decrypt(s)
}
