//! The `oauth_states` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub state: String,
    pub app_id: String,
    pub uid: String,
    pub provider: String,
    pub redirect_uri: String,
    pub client_state: Option<String>,
    pub pkce_verifier_enc: Option<String>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub created_at: i64,
    /// The user-named server of a per-instance flow (Mastodon).
    pub instance: Option<String>,
    /// SHA-256 of the flow cookie set in the browser that started the flow.
    pub browser_hash: Option<String>,
    /// App-password logins tried under this flow.
    pub attempts: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
