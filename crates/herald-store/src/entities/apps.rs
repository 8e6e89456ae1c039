//! The `apps` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "apps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    #[sea_orm(unique)]
    pub api_key: String,
    pub secret_enc: String,
    pub site_url: Option<String>,
    /// JSON array of provider ids; `None` = every provider.
    pub enabled_providers: Option<String>,
    pub disabled: bool,
    /// JSON array of host names links and redirects must belong to (empty = any).
    pub domains: String,
    /// The secret before the last rotation, valid until `previous_secret_until`.
    pub previous_secret_enc: Option<String>,
    pub previous_secret_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
