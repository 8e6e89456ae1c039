//! Clients Herald registered at user-named servers (a Mastodon instance), one
//! per app, provider and server, so each server sees one registration per site.

use crate::entities::oauth_clients;
use crate::{Place, Store, StoreError, now_ms};
use herald_core::{AppId, RegisteredClient};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

impl Store {
    /// The client registered for this app at `instance`, if any.
    pub async fn oauth_client(
        &self,
        app: &AppId,
        provider: &str,
        instance: &str,
    ) -> Result<Option<RegisteredClient>, StoreError> {
        let Some(row) = oauth_clients::Entity::find()
            .filter(oauth_clients::Column::AppId.eq(app.as_str()))
            .filter(oauth_clients::Column::Provider.eq(provider))
            .filter(oauth_clients::Column::Instance.eq(instance))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(RegisteredClient {
            client_id: row.client_id,
            client_secret: self.secrets().decrypt(
                &row.client_secret_enc,
                Place::new("oauth_clients", "client_secret_enc", &row.id),
            )?,
        }))
    }

    /// The redirect URI a cached registration was made for.
    pub async fn oauth_client_redirect(
        &self,
        app: &AppId,
        provider: &str,
        instance: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(oauth_clients::Entity::find()
            .filter(oauth_clients::Column::AppId.eq(app.as_str()))
            .filter(oauth_clients::Column::Provider.eq(provider))
            .filter(oauth_clients::Column::Instance.eq(instance))
            .one(self.db())
            .await?
            .map(|r| r.redirect_uri))
    }

    /// Forgets a registration the server no longer honours (or that was made
    /// for another callback URL); the next flow registers again.
    pub async fn delete_oauth_client(
        &self,
        app: &AppId,
        provider: &str,
        instance: &str,
    ) -> Result<(), StoreError> {
        oauth_clients::Entity::delete_many()
            .filter(oauth_clients::Column::AppId.eq(app.as_str()))
            .filter(oauth_clients::Column::Provider.eq(provider))
            .filter(oauth_clients::Column::Instance.eq(instance))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Stores a registration; when two flows registered at once, the first
    /// stored wins and is returned (the other registration is never used).
    pub async fn save_oauth_client(
        &self,
        app: &AppId,
        provider: &str,
        instance: &str,
        redirect_uri: &str,
        client: &RegisteredClient,
    ) -> Result<RegisteredClient, StoreError> {
        use oauth_clients::Column as C;
        // On a conflict nothing is written, so the value is always at this id.
        let id = uuid::Uuid::now_v7().to_string();
        oauth_clients::Entity::insert(oauth_clients::ActiveModel {
            client_secret_enc: Set(self.secrets().encrypt(
                client.client_secret.expose(),
                Place::new("oauth_clients", "client_secret_enc", &id),
            )),
            id: Set(id),
            app_id: Set(app.to_string()),
            provider: Set(provider.to_owned()),
            instance: Set(instance.to_owned()),
            client_id: Set(client.client_id.clone()),
            redirect_uri: Set(redirect_uri.to_owned()),
            created_at: Set(now_ms()),
        })
        .on_conflict_do_nothing_on([C::AppId, C::Provider, C::Instance])
        .exec(self.db())
        .await?;
        self.oauth_client(app, provider, instance)
            .await?
            .ok_or_else(|| StoreError::Corrupt("stored oauth client vanished".into()))
    }
}
