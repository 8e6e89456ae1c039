//! Apps (sites): creation with a generated api key and secret, lookup by key.

use crate::entities::apps;
use crate::{Place, Store, StoreError, now_ms};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use herald_core::{AppId, Secret};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

#[derive(Default)]
pub struct NewApp {
    pub name: String,
    pub site_url: Option<String>,
    pub domains: Vec<String>,
    /// `None` = every provider.
    pub enabled_providers: Option<Vec<String>>,
}

/// Changes to an app; `None` leaves a field as it is.
#[derive(Default)]
pub struct AppPatch {
    pub name: Option<String>,
    pub site_url: Option<Option<String>>,
    pub domains: Option<Vec<String>>,
    pub enabled_providers: Option<Option<Vec<String>>>,
    pub disabled: Option<bool>,
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

    /// Hosts the app's links must belong to (empty = any).
    pub fn domains(&self) -> Vec<String> {
        serde_json::from_str(&self.domains).unwrap_or_default()
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
        let id = AppId::new().to_string();
        let app = apps::ActiveModel {
            secret_enc: Set(self
                .secrets()
                .encrypt(secret.expose(), Place::new("apps", "secret_enc", &id))),
            id: Set(id),
            name: Set(new.name),
            api_key: Set(format!("hk_{}", hex::encode(rand::random::<[u8; 16]>()))),
            site_url: Set(new.site_url),
            enabled_providers: Set(new
                .enabled_providers
                .map(|p| serde_json::to_string(&p).unwrap_or_else(|_| "[]".into()))),
            disabled: Set(false),
            domains: Set(serde_json::to_string(&new.domains).unwrap_or_else(|_| "[]".into())),
            previous_secret_enc: Set(None),
            previous_secret_until: Set(None),
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
        Ok(self
            .secrets()
            .decrypt(&app.secret_enc, Place::new("apps", "secret_enc", &app.id))?)
    }

    /// Every secret the app may authenticate with now: the current one, and
    /// the previous one during its rotation grace period.
    pub fn app_secrets(&self, app: &apps::Model) -> Result<Vec<Secret>, StoreError> {
        let mut out = vec![self.app_secret(app)?];
        if let (Some(enc), Some(until)) = (&app.previous_secret_enc, app.previous_secret_until)
            && until > now_ms()
        {
            out.push(
                self.secrets()
                    .decrypt(enc, Place::new("apps", "previous_secret_enc", &app.id))?,
            );
        }
        Ok(out)
    }

    /// Apps in id order after `cursor`, optionally only `only` (an app-admin's).
    pub async fn list_apps(
        &self,
        only: Option<&[String]>,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Vec<apps::Model>, StoreError> {
        let mut q = apps::Entity::find()
            .order_by_asc(apps::Column::Id)
            .limit(limit);
        if let Some(ids) = only {
            q = q.filter(apps::Column::Id.is_in(ids.to_vec()));
        }
        if let Some(c) = cursor {
            q = q.filter(apps::Column::Id.gt(c));
        }
        Ok(q.all(self.db()).await?)
    }

    pub async fn update_app(
        &self,
        id: &AppId,
        patch: AppPatch,
    ) -> Result<Option<apps::Model>, StoreError> {
        let Some(app) = self.app(id).await? else {
            return Ok(None);
        };
        let mut m: apps::ActiveModel = app.into();
        if let Some(n) = patch.name {
            m.name = Set(n);
        }
        if let Some(u) = patch.site_url {
            m.site_url = Set(u);
        }
        if let Some(d) = patch.domains {
            m.domains = Set(serde_json::to_string(&d).unwrap_or_else(|_| "[]".into()));
        }
        if let Some(p) = patch.enabled_providers {
            m.enabled_providers =
                Set(p.map(|p| serde_json::to_string(&p).unwrap_or_else(|_| "[]".into())));
        }
        if let Some(d) = patch.disabled {
            m.disabled = Set(d);
        }
        m.updated_at = Set(now_ms());
        Ok(Some(m.update(self.db()).await?))
    }

    /// Deletes the app with its keys, provider configs, templates, connections
    /// (and so every stored token), actions and short links. Returns how many
    /// actions and deliveries went with it, for the audit log.
    pub async fn delete_app(&self, id: &AppId) -> Result<Option<(u64, u64)>, StoreError> {
        use crate::entities::{actions, deliveries};
        if self.app(id).await?.is_none() {
            return Ok(None);
        }
        let n_actions = actions::Entity::find()
            .filter(actions::Column::AppId.eq(id.as_str()))
            .count(self.db())
            .await?;
        let n_deliveries = deliveries::Entity::find()
            .filter(deliveries::Column::AppId.eq(id.as_str()))
            .count(self.db())
            .await?;
        // Foreign keys cascade from apps to everything that belongs to it.
        apps::Entity::delete_by_id(id.as_str())
            .exec(self.db())
            .await?;
        Ok(Some((n_actions, n_deliveries)))
    }

    /// A new secret; the old one stays valid for `grace_ms`. Returns the new
    /// secret and when the old one stops working.
    pub async fn rotate_app_secret(
        &self,
        id: &AppId,
        grace_ms: i64,
    ) -> Result<Option<(Secret, i64)>, StoreError> {
        let Some(app) = self.app(id).await? else {
            return Ok(None);
        };
        let secret = Secret::new(B64.encode(rand::random::<[u8; 32]>()));
        let until = now_ms() + grace_ms;
        // The old secret moves column, so it is sealed again for its new place.
        let old = self.app_secret(&app)?;
        let s = self.secrets();
        let mut m: apps::ActiveModel = app.clone().into();
        m.secret_enc = Set(s.encrypt(secret.expose(), Place::new("apps", "secret_enc", &app.id)));
        m.previous_secret_enc = Set(Some(s.encrypt(
            old.expose(),
            Place::new("apps", "previous_secret_enc", &app.id),
        )));
        m.previous_secret_until = Set(Some(until));
        m.updated_at = Set(now_ms());
        m.update(self.db()).await?;
        Ok(Some((secret, until)))
    }
}
