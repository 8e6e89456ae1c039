//! The admin audit log: every mutating admin call, who made it and on which
//! app. Callers pass identifiers and non-secret details only.

use crate::entities::admin_audit;
use crate::{Store, StoreError, now_ms};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

/// One audit entry to write.
pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub role: &'a str,
    pub action: &'a str,
    pub app_id: Option<&'a str>,
    pub target: Option<&'a str>,
    pub detail: Option<serde_json::Value>,
}

impl Store {
    pub async fn record_audit(&self, e: AuditEntry<'_>) -> Result<(), StoreError> {
        admin_audit::ActiveModel {
            id: Set(uuid::Uuid::now_v7().simple().to_string()),
            at: Set(now_ms()),
            actor: Set(e.actor.to_owned()),
            role: Set(e.role.to_owned()),
            action: Set(e.action.to_owned()),
            app_id: Set(e.app_id.map(str::to_owned)),
            target: Set(e.target.map(str::to_owned)),
            detail: Set(e.detail.map(|d| d.to_string())),
        }
        .insert(self.db())
        .await?;
        Ok(())
    }

    /// Newest first, before `cursor` (an entry id); optionally only entries of
    /// `apps` and of one app.
    pub async fn list_audit(
        &self,
        apps: Option<&[String]>,
        app: Option<&str>,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Vec<admin_audit::Model>, StoreError> {
        let mut q = admin_audit::Entity::find()
            .order_by_desc(admin_audit::Column::Id)
            .limit(limit);
        if let Some(ids) = apps {
            q = q.filter(admin_audit::Column::AppId.is_in(ids.to_vec()));
        }
        if let Some(a) = app {
            q = q.filter(admin_audit::Column::AppId.eq(a));
        }
        if let Some(c) = cursor {
            q = q.filter(admin_audit::Column::Id.lt(c));
        }
        Ok(q.all(self.db()).await?)
    }
}
