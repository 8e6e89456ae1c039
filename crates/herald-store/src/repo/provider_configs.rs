//! Per-app provider configuration (API mode, client credentials, API base),
//! layered over the deployment's configuration by the dispatcher.

use crate::entities::provider_configs;
use crate::repo::connections::UPSERT_TRIES;
use crate::{Place, Store, StoreError, now_ms};
use herald_core::{AppId, ProviderSettings};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sea_orm::{QueryOrder, Set};
use std::collections::BTreeMap;

/// An app's stored settings for one provider, decrypted.
#[derive(Clone, Debug)]
pub struct AppProviderConfig {
    pub enabled: bool,
    pub settings: ProviderSettings,
}

/// A provider config as an operator sets it (PUT replaces the whole row).
#[derive(Clone, Debug)]
pub struct ProviderConfigInput {
    pub enabled: bool,
    pub client_id: Option<String>,
    pub client_secret: Option<herald_core::Secret>,
    pub api_base: Option<String>,
    pub consent_base: Option<String>,
    pub options: BTreeMap<String, String>,
}

impl Store {
    pub async fn put_provider_config(
        &self,
        app: &AppId,
        provider: &str,
        input: ProviderConfigInput,
    ) -> Result<provider_configs::Model, StoreError> {
        use provider_configs::Column as C;
        let options = serde_json::to_string(&input.options).unwrap_or_else(|_| "{}".into());
        // The secret is sealed for the row it lands in: an existing row is
        // updated by its id (see `upsert_connection`).
        for _ in 0..UPSERT_TRIES {
            let now = now_ms();
            let existing = self.provider_config_row(app, provider).await?;
            let id = match &existing {
                Some(row) => row.id.clone(),
                None => uuid::Uuid::now_v7().simple().to_string(),
            };
            let secret_enc = self.secrets().encrypt_opt(
                input.client_secret.as_ref(),
                Place::new("provider_configs", "client_secret_enc", &id),
            );
            let written = if existing.is_some() {
                provider_configs::Entity::update_many()
                    .col_expr(C::Enabled, Expr::value(input.enabled))
                    .col_expr(C::ClientId, Expr::value(input.client_id.clone()))
                    .col_expr(C::ClientSecretEnc, Expr::value(secret_enc))
                    .col_expr(C::ApiBase, Expr::value(input.api_base.clone()))
                    .col_expr(C::ConsentBase, Expr::value(input.consent_base.clone()))
                    .col_expr(C::Options, Expr::value(options.clone()))
                    .col_expr(C::UpdatedAt, Expr::value(now))
                    .filter(C::Id.eq(&id))
                    .exec(self.db())
                    .await?
                    .rows_affected
            } else {
                let row = provider_configs::ActiveModel {
                    id: Set(id.clone()),
                    app_id: Set(app.to_string()),
                    provider: Set(provider.to_owned()),
                    enabled: Set(input.enabled),
                    client_id: Set(input.client_id.clone()),
                    client_secret_enc: Set(secret_enc),
                    api_base: Set(input.api_base.clone()),
                    consent_base: Set(input.consent_base.clone()),
                    options: Set(options.clone()),
                    created_at: Set(now),
                    updated_at: Set(now),
                };
                provider_configs::Entity::insert(row)
                    .on_conflict(
                        OnConflict::columns([C::AppId, C::Provider])
                            .do_nothing()
                            .to_owned(),
                    )
                    .exec_without_returning(self.db())
                    .await?
            };
            if written == 1 {
                return provider_configs::Entity::find_by_id(id)
                    .one(self.db())
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("provider config vanished".into()));
            }
        }
        Err(StoreError::Corrupt(
            "the provider config kept changing while being stored".into(),
        ))
    }

    pub async fn provider_config_row(
        &self,
        app: &AppId,
        provider: &str,
    ) -> Result<Option<provider_configs::Model>, StoreError> {
        Ok(provider_configs::Entity::find()
            .filter(provider_configs::Column::AppId.eq(app.as_str()))
            .filter(provider_configs::Column::Provider.eq(provider))
            .one(self.db())
            .await?)
    }

    pub async fn list_provider_configs(
        &self,
        app: &AppId,
    ) -> Result<Vec<provider_configs::Model>, StoreError> {
        Ok(provider_configs::Entity::find()
            .filter(provider_configs::Column::AppId.eq(app.as_str()))
            .order_by_asc(provider_configs::Column::Provider)
            .all(self.db())
            .await?)
    }

    pub async fn delete_provider_config(
        &self,
        app: &AppId,
        provider: &str,
    ) -> Result<bool, StoreError> {
        let r = provider_configs::Entity::delete_many()
            .filter(provider_configs::Column::AppId.eq(app.as_str()))
            .filter(provider_configs::Column::Provider.eq(provider))
            .exec(self.db())
            .await?;
        Ok(r.rows_affected > 0)
    }

    pub async fn provider_config(
        &self,
        app: &AppId,
        provider: &str,
    ) -> Result<Option<AppProviderConfig>, StoreError> {
        let Some(row) = provider_configs::Entity::find()
            .filter(provider_configs::Column::AppId.eq(app.as_str()))
            .filter(provider_configs::Column::Provider.eq(provider))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let parse_url = |s: Option<String>| -> Result<Option<url::Url>, StoreError> {
            s.map(|u| {
                url::Url::parse(&u).map_err(|e| StoreError::Corrupt(format!("api_base: {e}")))
            })
            .transpose()
        };
        let options: BTreeMap<String, String> = serde_json::from_str(&row.options)
            .map_err(|e| StoreError::Corrupt(format!("provider options: {e}")))?;
        Ok(Some(AppProviderConfig {
            enabled: row.enabled,
            settings: ProviderSettings {
                api_base: parse_url(row.api_base)?,
                consent_base: parse_url(row.consent_base)?,
                client_id: row.client_id,
                client_secret: self.secrets().decrypt_opt(
                    row.client_secret_enc.as_deref(),
                    Place::new("provider_configs", "client_secret_enc", &row.id),
                )?,
                options,
            },
        }))
    }
}
