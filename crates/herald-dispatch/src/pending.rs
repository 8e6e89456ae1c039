//! Connect flows nobody confirmed: a flow's accounts stay pending until the
//! site redeems its connect code. Those never redeemed are revoked at the
//! network (where it has a revocation endpoint) and deleted, so a token
//! obtained through a link somebody else completed is not kept.

use crate::worker::Dispatcher;
use herald_core::{AppId, Credential, Provider};
use herald_store::{Store, StoreError};
use std::time::Duration;
use tracing::{info, warn};

/// How long one revocation may take before the tokens are deleted anyway.
pub const REVOKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pending connections one sweep takes at a time.
const SWEEP_BATCH: u64 = 100;

impl Dispatcher {
    /// Revokes `cred` of an account of `app` (on its own `server` for
    /// networks whose accounts name one) at the network, within
    /// [`REVOKE_TIMEOUT`]; failures are logged, never returned: the caller
    /// deletes the tokens either way. Returns whether the network revoked it.
    pub async fn revoke_credential(
        &self,
        provider: &dyn Provider,
        app: &AppId,
        server: Option<&str>,
        cred: &Credential,
        what: &str,
    ) -> bool {
        let http = match self.http_ctx_for(app, provider).await {
            Ok(h) => self.for_account(h, app, provider, server).await,
            Err(e) => Err(e),
        };
        let http = match http {
            Ok(h) => h,
            Err(e) => {
                warn!(%what, provider = provider.id(), error = %e, "cannot revoke: settings unavailable");
                return false;
            }
        };
        match tokio::time::timeout(REVOKE_TIMEOUT, provider.revoke(cred, &http)).await {
            Ok(Ok(true)) => {
                info!(%what, provider = provider.id(), "token revoked at the network");
                true
            }
            Ok(Ok(false)) => false,
            Ok(Err(e)) => {
                warn!(%what, provider = provider.id(), error = %e, "revoking the token at the network failed; deleting it anyway");
                false
            }
            Err(_) => {
                warn!(%what, provider = provider.id(), "revoking the token at the network timed out; deleting it anyway");
                false
            }
        }
    }
}

/// Revokes and deletes the pending connections whose connect code expired
/// more than `max_age` before `now` (Unix ms); returns how many it removed.
/// Safe on several nodes at once: a row another node removed (or the site
/// redeemed) meanwhile is not counted.
pub async fn sweep_unredeemed(
    store: &Store,
    dispatcher: &Dispatcher,
    now: i64,
    max_age: Duration,
) -> Result<u64, StoreError> {
    let cutoff = now.saturating_sub(i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX));
    let mut removed = 0;
    loop {
        let rows = store.unredeemed_connections(cutoff, SWEEP_BATCH).await?;
        let found = rows.len() as u64;
        for row in rows {
            // Deleted first: a redeem that wins the race keeps its tokens,
            // and only the node that deleted the row revokes them.
            if !store.delete_pending_connection(&row.id).await? {
                continue;
            }
            removed += 1;
            let Some(provider) = dispatcher.registry().get(&row.provider).cloned() else {
                continue;
            };
            match store.pending_credential(&row) {
                Ok(cred) => {
                    dispatcher
                        .revoke_credential(
                            provider.as_ref(),
                            &row.app_id(),
                            row.url.as_deref(),
                            &cred,
                            &format!("unredeemed pending connection {}", row.id),
                        )
                        .await;
                }
                Err(e) => {
                    warn!(pending = %row.id, error = %e, "cannot revoke an unredeemed connection: stored token unreadable")
                }
            }
        }
        if found < SWEEP_BATCH {
            break;
        }
    }
    if removed > 0 {
        info!(
            removed,
            "unredeemed pending connections revoked and deleted"
        );
    }
    Ok(removed)
}
