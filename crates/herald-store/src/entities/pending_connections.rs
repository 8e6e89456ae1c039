//! The `pending_connections` table: credentials a connect flow obtained,
//! waiting for the site to redeem the flow's code.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pending_connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub app_id: String,
    /// The uid the connect token was minted for.
    pub uid: String,
    pub provider: String,
    pub provider_uid: String,
    pub display_name: Option<String>,
    pub url: Option<String>,
    pub access_token_enc: Option<String>,
    pub refresh_token_enc: Option<String>,
    pub secret_enc: Option<String>,
    pub expires_at: Option<i64>,
    /// SHA-256 (hex) of the flow's connect code; every account one consent
    /// gave shares it.
    pub code_hash: String,
    pub code_expires_at: i64,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
