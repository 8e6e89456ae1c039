//! The `provider_configs` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_configs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub app_id: String,
    pub provider: String,
    pub enabled: bool,
    pub client_id: Option<String>,
    pub client_secret_enc: Option<String>,
    pub api_base: Option<String>,
    pub consent_base: Option<String>,
    /// JSON object of string options.
    pub options: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
