//! Single-use values (JWT `jti`s, signed-request nonces): stored so a replay is
//! refused across restarts and across nodes that share the database.

use crate::entities::nonces;
use crate::{Store, StoreError, is_unique_violation};
use sea_orm::{ActiveModelTrait, Set};

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
}
