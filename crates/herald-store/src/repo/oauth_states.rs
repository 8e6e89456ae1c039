//! Connect-flow states: created when a flow starts, taken (once) when the
//! network sends the browser back.

use crate::entities::oauth_states;
use crate::{Place, Store, StoreError, now_ms};
use herald_core::{AppId, Secret};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

pub struct NewOauthState {
    pub app_id: AppId,
    pub uid: String,
    pub provider: String,
    pub redirect_uri: String,
    pub client_state: Option<String>,
    pub pkce_verifier: Option<Secret>,
    /// The user-named server of a per-instance flow.
    pub instance: Option<String>,
    /// Hash of the cookie that binds the flow to the browser that started it.
    pub browser_hash: Option<String>,
    /// Logins already tried in this flow (app passwords: a retry carries it on).
    pub attempts: i32,
    pub ttl_ms: i64,
}

/// What taking a state found.
pub enum TakenState {
    Fresh(oauth_states::Model),
    Expired(oauth_states::Model),
    /// Used before: a replay (or a double click).
    Replayed(oauth_states::Model),
    Unknown,
}

impl Store {
    /// Stores a new flow and returns its random state.
    pub async fn create_oauth_state(&self, new: NewOauthState) -> Result<String, StoreError> {
        use base64::Engine;
        let state =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let now = now_ms();
        oauth_states::ActiveModel {
            state: Set(state.clone()),
            app_id: Set(new.app_id.to_string()),
            uid: Set(new.uid),
            provider: Set(new.provider),
            redirect_uri: Set(new.redirect_uri),
            client_state: Set(new.client_state),
            pkce_verifier_enc: Set(self.secrets().encrypt_opt(
                new.pkce_verifier.as_ref(),
                Place::new("oauth_states", "pkce_verifier_enc", &state),
            )),
            expires_at: Set(now + new.ttl_ms),
            used_at: Set(None),
            created_at: Set(now),
            instance: Set(new.instance),
            browser_hash: Set(new.browser_hash),
            attempts: Set(new.attempts),
        }
        .insert(self.db())
        .await?;
        Ok(state)
    }

    /// Marks the state used, atomically: only one caller ever gets `Fresh`.
    pub async fn take_oauth_state(&self, state: &str) -> Result<TakenState, StoreError> {
        let Some(row) = oauth_states::Entity::find_by_id(state)
            .one(self.db())
            .await?
        else {
            return Ok(TakenState::Unknown);
        };
        if row.used_at.is_some() {
            return Ok(TakenState::Replayed(row));
        }
        let now = now_ms();
        let r = oauth_states::Entity::update_many()
            .col_expr(oauth_states::Column::UsedAt, Expr::value(now))
            .filter(oauth_states::Column::State.eq(state))
            .filter(oauth_states::Column::UsedAt.is_null())
            .exec(self.db())
            .await?;
        Ok(if r.rows_affected != 1 {
            TakenState::Replayed(row)
        } else if row.expires_at < now {
            TakenState::Expired(row)
        } else {
            TakenState::Fresh(row)
        })
    }

    pub fn oauth_pkce_verifier(
        &self,
        row: &oauth_states::Model,
    ) -> Result<Option<Secret>, StoreError> {
        Ok(self.secrets().decrypt_opt(
            row.pkce_verifier_enc.as_deref(),
            Place::new("oauth_states", "pkce_verifier_enc", &row.state),
        )?)
    }
}
