//! Single-use values (JWT `jti`s, signed-request nonces): stored so a replay is
//! refused across restarts and across nodes that share the database.

use crate::entities::nonces;
use crate::{Store, StoreError, is_unique_violation, now_ms};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

impl Store {
    /// Records `value` in `scope` until `expires_at_ms`. `Ok(false)` when it was
    /// used before (a replay).
    pub async fn use_nonce(
        &self,
        scope: &str,
        value: &str,
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        let row = nonces::ActiveModel {
            scope: Set(scope.to_owned()),
            value: Set(value.to_owned()),
            expires_at: Set(expires_at_ms),
        };
        match row.insert(self.db()).await {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes nonces whose validity window has passed; returns how many.
    pub async fn purge_nonces(&self) -> Result<u64, StoreError> {
        let r = nonces::Entity::delete_many()
            .filter(nonces::Column::ExpiresAt.lt(now_ms()))
            .exec(self.db())
            .await?;
        Ok(r.rows_affected)
    }
}
