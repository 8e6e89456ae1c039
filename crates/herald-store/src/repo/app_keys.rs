//! App keys (Gigya "userKeys"): an HMAC key with its own secret, or a
//! registered RSA public key for RS256 bearer JWTs; each with permissions.

use crate::entities::app_keys;
use crate::{Place, Store, StoreError, now_ms};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use herald_core::{AppId, Secret};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    Publish,
    Connections,
    Read,
}

impl Permission {
    pub const ALL: [Permission; 3] = [
        Permission::Publish,
        Permission::Connections,
        Permission::Read,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Publish => "publish",
            Permission::Connections => "connections",
            Permission::Read => "read",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Hmac,
    Rsa,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Hmac => "hmac",
            KeyKind::Rsa => "rsa",
        }
    }
}

impl app_keys::Model {
    pub fn kind(&self) -> Option<KeyKind> {
        match self.kind.as_str() {
            "hmac" => Some(KeyKind::Hmac),
            "rsa" => Some(KeyKind::Rsa),
            _ => None,
        }
    }

    pub fn allows(&self, p: Permission) -> bool {
        serde_json::from_str::<Vec<String>>(&self.permissions)
            .is_ok_and(|ps| ps.iter().any(|x| x == p.as_str()))
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    pub fn app_id(&self) -> AppId {
        AppId::from_stored(self.app_id.clone())
    }
}

fn new_key_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

fn new_user_key() -> String {
    format!("uk_{}", hex::encode(rand::random::<[u8; 12]>()))
}

impl Store {
    /// A new HMAC key with all `permissions`; returns the key and its secret
    /// (base64 of 32 random bytes, shown once).
    pub async fn create_hmac_key(
        &self,
        app: &AppId,
        permissions: &[Permission],
    ) -> Result<(app_keys::Model, Secret), StoreError> {
        let secret = Secret::new(B64.encode(rand::random::<[u8; 32]>()));
        let id = new_key_id();
        let enc = self
            .secrets()
            .encrypt(secret.expose(), Place::new("app_keys", "secret_enc", &id));
        let row = self
            .insert_key(id, app, KeyKind::Hmac, Some(enc), None, permissions)
            .await?;
        Ok((row, secret))
    }

    /// Registers an RSA public key (PEM) for RS256 bearer tokens.
    pub async fn create_rsa_key(
        &self,
        app: &AppId,
        public_key_pem: &str,
        permissions: &[Permission],
    ) -> Result<app_keys::Model, StoreError> {
        self.insert_key(
            new_key_id(),
            app,
            KeyKind::Rsa,
            None,
            Some(public_key_pem.to_owned()),
            permissions,
        )
        .await
    }

    async fn insert_key(
        &self,
        id: String,
        app: &AppId,
        kind: KeyKind,
        secret_enc: Option<String>,
        pem: Option<String>,
        permissions: &[Permission],
    ) -> Result<app_keys::Model, StoreError> {
        let perms: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
        Ok(app_keys::ActiveModel {
            id: Set(id),
            app_id: Set(app.to_string()),
            user_key: Set(new_user_key()),
            kind: Set(kind.as_str().to_owned()),
            secret_enc: Set(secret_enc),
            public_key_pem: Set(pem),
            permissions: Set(serde_json::to_string(&perms).unwrap_or_else(|_| "[]".into())),
            revoked_at: Set(None),
            created_at: Set(now_ms()),
        }
        .insert(self.db())
        .await?)
    }

    pub async fn key_by_user_key(
        &self,
        user_key: &str,
    ) -> Result<Option<app_keys::Model>, StoreError> {
        Ok(app_keys::Entity::find()
            .filter(app_keys::Column::UserKey.eq(user_key))
            .one(self.db())
            .await?)
    }

    pub fn key_secret(&self, key: &app_keys::Model) -> Result<Option<Secret>, StoreError> {
        Ok(self.secrets().decrypt_opt(
            key.secret_enc.as_deref(),
            Place::new("app_keys", "secret_enc", &key.id),
        )?)
    }

    pub async fn list_keys(&self, app: &AppId) -> Result<Vec<app_keys::Model>, StoreError> {
        Ok(app_keys::Entity::find()
            .filter(app_keys::Column::AppId.eq(app.as_str()))
            .order_by_asc(app_keys::Column::CreatedAt)
            .all(self.db())
            .await?)
    }

    /// Revokes the app's key; `false` when it has no such (live) key.
    pub async fn revoke_key(&self, app: &AppId, user_key: &str) -> Result<bool, StoreError> {
        let r = app_keys::Entity::update_many()
            .col_expr(
                app_keys::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(now_ms()),
            )
            .filter(app_keys::Column::AppId.eq(app.as_str()))
            .filter(app_keys::Column::UserKey.eq(user_key))
            .filter(app_keys::Column::RevokedAt.is_null())
            .exec(self.db())
            .await?;
        Ok(r.rows_affected == 1)
    }

    /// Finds an app by its id or its api key.
    pub async fn app_by_id_or_key(
        &self,
        id_or_key: &str,
    ) -> Result<Option<crate::entities::apps::Model>, StoreError> {
        if let Some(id) = AppId::parse(id_or_key)
            && let Some(app) = self.app(&id).await?
        {
            return Ok(Some(app));
        }
        self.app_by_api_key(id_or_key).await
    }
}
