//! Per-app provider configuration (API mode, client credentials, API base),
//! layered over the deployment's configuration by the dispatcher.

use crate::entities::provider_configs;
use crate::{Store, StoreError};
use herald_core::{AppId, ProviderSettings};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::BTreeMap;

/// An app's stored settings for one provider, decrypted.
#[derive(Clone, Debug)]
pub struct AppProviderConfig {
    pub enabled: bool,
    pub settings: ProviderSettings,
}

impl Store {
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
                client_secret: self
                    .secrets()
                    .decrypt_opt(row.client_secret_enc.as_deref())?,
                options,
            },
        }))
    }
}
