//! An app's named activity templates (text plus per-provider choices such as
//! the Windows Live activity type and verb).

use crate::entities::templates;
use crate::{Store, StoreError, now_ms};
use herald_core::AppId;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

impl Store {
    pub async fn put_template(
        &self,
        app: &AppId,
        name: &str,
        text: &str,
        per_provider: &serde_json::Value,
    ) -> Result<templates::Model, StoreError> {
        use templates::Column as C;
        let now = now_ms();
        let row = templates::ActiveModel {
            id: Set(uuid::Uuid::now_v7().simple().to_string()),
            app_id: Set(app.to_string()),
            name: Set(name.to_owned()),
            text: Set(text.to_owned()),
            per_provider: Set(per_provider.to_string()),
            created_at: Set(now),
            updated_at: Set(now),
        };
        templates::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([C::AppId, C::Name])
                    .update_columns([C::Text, C::PerProvider, C::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(self.db())
            .await?;
        self.template(app, name)
            .await?
            .ok_or_else(|| StoreError::Corrupt("template vanished".into()))
    }

    pub async fn template(
        &self,
        app: &AppId,
        name: &str,
    ) -> Result<Option<templates::Model>, StoreError> {
        Ok(templates::Entity::find()
            .filter(templates::Column::AppId.eq(app.as_str()))
            .filter(templates::Column::Name.eq(name))
            .one(self.db())
            .await?)
    }

    pub async fn list_templates(&self, app: &AppId) -> Result<Vec<templates::Model>, StoreError> {
        Ok(templates::Entity::find()
            .filter(templates::Column::AppId.eq(app.as_str()))
            .order_by_asc(templates::Column::Name)
            .all(self.db())
            .await?)
    }

    pub async fn delete_template(&self, app: &AppId, name: &str) -> Result<bool, StoreError> {
        let r = templates::Entity::delete_many()
            .filter(templates::Column::AppId.eq(app.as_str()))
            .filter(templates::Column::Name.eq(name))
            .exec(self.db())
            .await?;
        Ok(r.rows_affected > 0)
    }
}
