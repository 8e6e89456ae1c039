//! Single-use values (JWT `jti`s, signed-request nonces): stored so a replay is
//! refused across restarts and across nodes that share the database. Written
//! through the group-commit writer (`repo::writer`), in the same batches as
//! the accepts.

use crate::repo::writer::Nonce;
use crate::{Store, StoreError};

impl Store {
    /// Records `value` in `scope` until `expires_at_ms`. `Ok(false)` when it was
    /// used before (a replay).
    pub async fn use_nonce(
        &self,
        scope: &str,
        value: &str,
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.record_nonce(Nonce::new(scope, value, expires_at_ms))
            .await
    }
}
