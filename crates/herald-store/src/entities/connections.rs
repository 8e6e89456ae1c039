//! The `connections` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub app_id: String,
    pub uid: String,
    pub provider: String,
    pub provider_uid: String,
    pub display_name: Option<String>,
    pub url: Option<String>,
    pub access_token_enc: Option<String>,
    pub refresh_token_enc: Option<String>,
    pub secret_enc: Option<String>,
    pub expires_at: Option<i64>,
    pub status: String,
    pub last_refresh_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Who is refreshing the token now, and until when (one refresh at a time).
    pub refresh_lease_owner: Option<String>,
    pub refresh_lease_until: Option<i64>,
    /// Consecutive transient refresh failures, and when to try again.
    pub refresh_failures: i32,
    pub refresh_retry_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
