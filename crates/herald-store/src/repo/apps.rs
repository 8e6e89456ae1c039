//! Apps (sites): creation with a generated api key and secret, lookup by key.

use crate::entities::apps;
use crate::{Store, StoreError, now_ms};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use herald_core::{AppId, Secret};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

pub struct NewApp {
    pub name: String,
    pub site_url: Option<String>,
}

/// A new app with its secret, which is shown this once.
pub struct CreatedApp {
    pub app: apps::Model,
    pub secret: Secret,
}

impl apps::Model {
    pub fn app_id(&self) -> AppId {
        AppId::from_stored(self.id.clone())
    }

    /// Providers the app allows; `None` = all.
    pub fn enabled_providers(&self) -> Option<Vec<String>> {
        self.enabled_providers
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    }
}

impl Store {
    pub async fn create_app(&self, new: NewApp) -> Result<CreatedApp, StoreError> {
        // The secret is the base64 of 32 random bytes; the HMAC key is the bytes.
        let secret = Secret::new(B64.encode(rand::random::<[u8; 32]>()));
        let now = now_ms();
        let app = apps::ActiveModel {
            id: Set(AppId::new().to_string()),
            name: Set(new.name),
            api_key: Set(format!("hk_{}", hex::encode(rand::random::<[u8; 16]>()))),
            secret_enc: Set(self.secrets().encrypt(secret.expose())),
            site_url: Set(new.site_url),
            enabled_providers: Set(None),
            disabled: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(self.db())
        .await?;
        Ok(CreatedApp { app, secret })
    }

    pub async fn app(&self, id: &AppId) -> Result<Option<apps::Model>, StoreError> {
        Ok(apps::Entity::find_by_id(id.as_str()).one(self.db()).await?)
    }

    pub async fn app_by_api_key(&self, api_key: &str) -> Result<Option<apps::Model>, StoreError> {
        Ok(apps::Entity::find()
            .filter(apps::Column::ApiKey.eq(api_key))
            .one(self.db())
            .await?)
    }

    pub fn app_secret(&self, app: &apps::Model) -> Result<Secret, StoreError> {
        Ok(self.secrets().decrypt(&app.secret_enc)?)
    }
}
