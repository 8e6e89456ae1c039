//! Disconnecting accounts, for every route that does it (/v1, admin, Gigya):
//! the token is revoked at the network where it has a revocation endpoint,
//! then the connection and its stored tokens are deleted. A revocation that
//! fails is logged and does not keep the tokens: the user asked for them to
//! be gone.

use crate::AppState;
use herald_store::StoreError;
use herald_store::entities::connections;
use std::time::Duration;

/// How long a disconnect waits for a refresh in flight.
const REVOKE_TIMEOUT: Duration = herald_dispatch::pending::REVOKE_TIMEOUT;

/// Revokes, then deletes, `conns`; returns how many were deleted.
pub async fn disconnect(
    state: &AppState,
    conns: Vec<connections::Model>,
) -> Result<u64, StoreError> {
    futures::future::join_all(conns.iter().map(|c| revoke(state, c))).await;
    let mut deleted = 0;
    for c in &conns {
        if state
            .store
            .delete_connection_by_id(&c.connection_id())
            .await?
        {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Waits (a bounded time) for a refresh in flight, so that the token revoked
/// is the newest one and no refresh writes a token after the revocation.
async fn hold_refreshes(state: &AppState, conn: &connections::Model) -> connections::Model {
    let id = conn.connection_id();
    let owner = format!("disconnect:{}", uuid::Uuid::new_v4().simple());
    let until = std::time::Instant::now() + REVOKE_TIMEOUT;
    while std::time::Instant::now() < until {
        match state.store.take_refresh_lease(&id, &owner, 60_000).await {
            Ok(true) => break,
            Ok(false) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(_) => break,
        }
    }
    match state.store.connection(&id).await {
        Ok(Some(fresh)) => fresh,
        _ => conn.clone(),
    }
}

async fn revoke(state: &AppState, conn: &connections::Model) {
    let Some(provider) = state.registry().get(&conn.provider).cloned() else {
        return;
    };
    let conn = &hold_refreshes(state, conn).await;
    let cred = match state.store.credential(conn) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(connection = %conn.id, error = %e, "cannot revoke: stored token unreadable");
            return;
        }
    };
    state
        .dispatcher
        .revoke_credential(
            provider.as_ref(),
            &herald_core::AppId::from_stored(conn.app_id.clone()),
            conn.url.as_deref(),
            &cred,
            &format!("connection {}", conn.id),
        )
        .await;
}
