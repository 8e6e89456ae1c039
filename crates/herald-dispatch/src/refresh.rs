//! Token refresh: once per connection across nodes, whether a publish met an
//! expired token or the background refresher saw one about to expire.
//!
//! A refresh takes the connection's refresh lease first. Whoever finds the
//! lease taken waits, then reuses the token the holder stored, so two
//! refreshes never race: on a network that rotates refresh tokens, a second
//! refresh with the old token would lock the user out. Failures are
//! classified: transient (5xx, timeout, rate limit) leave the connection
//! `active` and back off; a refusal (`invalid_grant`, revoked) marks it
//! `needs_reauth`, and publishes to it then fail fast.

use crate::policy;
use crate::worker::Dispatcher;
use futures::StreamExt;
use herald_core::{ConnectionId, Credential, HttpCtx, Provider, ProviderError, Secret};
use herald_store::entities::connections;
use herald_store::{ConnectionStatus, RefreshOutcome, StoreError, now_ms};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Why a refresh is wanted; decides whether one is still needed once the
/// connection is re-read (another node may have refreshed it meanwhile).
#[derive(Clone, Debug)]
pub enum RefreshReason {
    /// A publish found this access token expired.
    Expired(Option<Secret>),
    /// The background refresher: the token expires before `horizon_ms`.
    Due { horizon_ms: i64 },
}

/// Connections the background refresher takes per scan.
const SCAN_BATCH: u64 = 64;
/// Refreshes the background refresher runs at once.
const CONCURRENT_REFRESHES: usize = 8;
/// How often a waiting refresh looks whether the lease holder finished.
const LEASE_POLL: Duration = Duration::from_millis(200);

fn unavailable(e: StoreError) -> ProviderError {
    ProviderError::Transient {
        status: None,
        message: format!("the connection store failed: {e}"),
    }
}

/// Refusals that only the user can fix (the grant is expired, revoked or
/// denied): the connection then needs them. Anything else (network trouble,
/// a refused client registration, an address the policy now refuses) backs
/// off and leaves the connection active with the error recorded.
fn needs_user(e: &ProviderError) -> bool {
    matches!(
        e,
        ProviderError::AuthRevoked { .. } | ProviderError::AuthExpired { .. }
    )
}

/// The lead time for one connection: `lead_ms` shortened by up to
/// `jitter` of it, by a fraction fixed per connection, so connections that
/// expire together are refreshed spread over the window.
pub fn jittered_lead(lead_ms: i64, jitter: f64, connection_id: &str) -> i64 {
    // FNV-1a: stable across processes and builds.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in connection_id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    // FNV's high bits barely differ between similar ids: mix them (fmix64).
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    let fraction = (h >> 11) as f64 / (1u64 << 53) as f64;
    lead_ms - (lead_ms as f64 * jitter * fraction) as i64
}

impl Dispatcher {
    /// Refreshes the connection's token unless `reason` no longer holds once
    /// this node holds the refresh lease; returns the credential to use.
    /// `http`: the caller's context for this connection, when it has one.
    pub async fn refresh_connection(
        &self,
        id: &ConnectionId,
        provider: &dyn Provider,
        http: Option<&HttpCtx>,
        reason: RefreshReason,
    ) -> Result<Credential, ProviderError> {
        let store = &self.inner.store;
        let owner = self.lease_token();
        let lease_ms = self.inner.cfg.lease_ms();
        let give_up = Instant::now() + Duration::from_millis(lease_ms as u64 + 1000);
        loop {
            let conn = self.current(id).await?;
            if let Some(cred) = self.settled(&conn, &reason)? {
                return Ok(cred);
            }
            if store
                .take_refresh_lease(id, &owner, lease_ms)
                .await
                .map_err(unavailable)?
            {
                // Another node may have finished between the read and the take.
                let conn = self.current(id).await;
                let settled = conn
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(|c| self.settled(c, &reason));
                match (conn, settled) {
                    (Ok(conn), Ok(None)) => {
                        return self.refresh_leased(&conn, provider, http, &owner).await;
                    }
                    (_, done) => {
                        store
                            .release_refresh_lease(id, &owner)
                            .await
                            .map_err(unavailable)?;
                        return done.map(|c| c.expect("settled"));
                    }
                }
            }
            if Instant::now() > give_up {
                return Err(ProviderError::Transient {
                    status: None,
                    message: "another refresh of this connection is still running".into(),
                });
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
    }

    async fn current(&self, id: &ConnectionId) -> Result<connections::Model, ProviderError> {
        self.inner
            .store
            .connection(id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| ProviderError::AuthRevoked {
                status: None,
                message: "the user disconnected this account".into(),
            })
    }

    /// `Some(credential)` when no refresh is needed (any more).
    fn settled(
        &self,
        conn: &connections::Model,
        reason: &RefreshReason,
    ) -> Result<Option<Credential>, ProviderError> {
        if conn.status() != ConnectionStatus::Active {
            return Err(ProviderError::AuthRevoked {
                status: None,
                message: conn
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "the connection needs the user to reconnect".into()),
            });
        }
        let cred = self.inner.store.credential(conn).map_err(unavailable)?;
        let done = match reason {
            // Somebody stored a new token since this one failed.
            RefreshReason::Expired(stale) => cred.access_token != *stale,
            RefreshReason::Due { horizon_ms } => conn.expires_at.is_none_or(|e| e >= *horizon_ms),
        };
        Ok(done.then_some(cred))
    }

    /// The network call, under the lease, and its recorded outcome.
    async fn refresh_leased(
        &self,
        conn: &connections::Model,
        provider: &dyn Provider,
        http: Option<&HttpCtx>,
        owner: &str,
    ) -> Result<Credential, ProviderError> {
        let store = &self.inner.store;
        let id = conn.connection_id();
        let started_from = conn.refresh_token_enc.as_deref();
        let local = |message: String| ProviderError::Transient {
            status: None,
            message,
        };
        let prepared = async {
            let http = match http {
                Some(h) => h.clone(),
                None => self
                    .http_ctx_for_connection(provider, conn)
                    .await
                    .map_err(|e| e.provider_error())?,
            };
            let old = store
                .credential(conn)
                .map_err(|e| local(format!("reading the stored token failed: {e}")))?;
            Ok::<_, ProviderError>((http, old))
        }
        .await;
        // The lease must outlive the call, or a second node could refresh
        // with the same refresh token: bound the call well inside it.
        let limit = Duration::from_millis(self.inner.cfg.lease_ms().max(10_000) as u64)
            .saturating_sub(Duration::from_secs(5));
        let (result, old) = match prepared {
            Ok((http, old)) => {
                let r = match tokio::time::timeout(limit, provider.refresh(&old, &http)).await {
                    Ok(r) => r,
                    Err(_) => Err(ProviderError::Unknown {
                        message: format!("the refresh took longer than {} s", limit.as_secs()),
                    }),
                };
                (r, Some(old))
            }
            Err(e) => (Err(e), None),
        };
        herald_core::telemetry::refresh(
            provider.id(),
            match &result {
                Ok(_) => "refreshed",
                Err(e) if needs_user(e) => "needs_reauth",
                Err(_) => "transient",
            },
        );
        let (outcome_of, finished) = match result {
            Ok(fresh) => {
                let old = old.expect("a refresh ran with the old credential");
                let cred = Credential {
                    access_token: fresh.access_token,
                    // A network that does not rotate refresh tokens keeps the old one.
                    refresh_token: fresh.refresh_token.or(old.refresh_token.clone()),
                    expires_at: fresh.expires_at,
                    url: fresh.url.or(old.url.clone()),
                    display_name: fresh.display_name.or(old.display_name.clone()),
                    ..old
                };
                let applied = self
                    .record(&id, owner, started_from, RefreshOutcome::Refreshed(&cred))
                    .await?;
                if applied {
                    info!(connection = %conn.id, provider = provider.id(), "access token refreshed");
                    return Ok(cred);
                }
                // Reconnected meanwhile: the new credential wins.
                warn!(connection = %conn.id, "the connection changed during the refresh; using its new credential");
                let now = self.current(&id).await?;
                return store.credential(&now).map_err(unavailable);
            }
            Err(e) if needs_user(&e) => {
                let message = format!("token refresh refused: {}", e.message());
                self.record(
                    &id,
                    owner,
                    started_from,
                    RefreshOutcome::NeedsReauth { message: &message },
                )
                .await?;
                warn!(connection = %conn.id, provider = provider.id(), error = %e, "token refresh refused; the user must reconnect");
                (
                    ProviderError::AuthRevoked {
                        status: e.http_status(),
                        message,
                    },
                    (),
                )
            }
            Err(e) => {
                let wait = policy::backoff(
                    &self.inner.cfg,
                    (conn.refresh_failures.max(0) as u32).saturating_add(1),
                )
                .max(Duration::from_secs(5));
                let message = format!("token refresh failed: {}", e.message());
                self.record(
                    &id,
                    owner,
                    started_from,
                    RefreshOutcome::Transient {
                        message: &message,
                        retry_at: now_ms() + wait.as_millis() as i64,
                    },
                )
                .await?;
                warn!(connection = %conn.id, provider = provider.id(), error = %e, "token refresh failed; will retry");
                (e, ())
            }
        };
        let () = finished;
        Err(outcome_of)
    }

    /// Records a refresh outcome, retrying the write a few times: a refreshed
    /// token that is not stored is lost, and on networks that rotate refresh
    /// tokens the old one is already spent. The lease is released on every path.
    async fn record(
        &self,
        id: &ConnectionId,
        owner: &str,
        started_from: Option<&str>,
        outcome: RefreshOutcome<'_>,
    ) -> Result<bool, ProviderError> {
        let store = &self.inner.store;
        let mut last = None;
        for pause in [0, 200, 1000, 3000] {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            match store
                .finish_refresh(id, owner, started_from, outcome_ref(&outcome))
                .await
            {
                Ok(applied) => return Ok(applied),
                Err(e) => {
                    warn!(connection = %id, error = %e, "recording a refresh failed; retrying");
                    last = Some(e);
                }
            }
        }
        let _ = store.release_refresh_lease(id, owner).await;
        Err(unavailable(last.expect("at least one try")))
    }

    /// Runs [`Dispatcher::refresh_due`] every `refresh_interval_seconds`
    /// (jittered) until shutdown; 0 disables it.
    pub(crate) async fn refresh_loop(&self) {
        let every = self.inner.cfg.refresh_interval_seconds;
        if every == 0 {
            return;
        }
        while !self.inner.stopping.load(Ordering::Relaxed) {
            let pause = Duration::from_millis(every * 1000).mul_f64(rand::random_range(0.8..1.2));
            tokio::time::sleep(pause).await;
            while !self.inner.stopping.load(Ordering::Relaxed) {
                match self.refresh_due().await {
                    // A full batch that did work: more may be due right now.
                    Ok(scan) if scan.found as u64 >= SCAN_BATCH && scan.attempted > 0 => continue,
                    Ok(_) => break,
                    Err(e) => {
                        warn!(error = %e, "looking for tokens to refresh failed");
                        break;
                    }
                }
            }
        }
    }

    /// Refreshes the connections whose token expires within their (jittered)
    /// lead time.
    pub async fn refresh_due(&self) -> Result<RefreshScan, StoreError> {
        let cfg = &self.inner.cfg;
        let lead = cfg.refresh_lead_seconds as i64 * 1000;
        let now = now_ms();
        let rows = self
            .inner
            .store
            .connections_to_refresh(now + lead, SCAN_BATCH)
            .await?;
        let found = rows.len();
        let attempted = std::sync::atomic::AtomicUsize::new(0);
        futures::stream::iter(rows)
            .for_each_concurrent(CONCURRENT_REFRESHES, |conn| {
                let attempted = &attempted;
                async move {
                    let horizon_ms = now + jittered_lead(lead, cfg.refresh_jitter, &conn.id);
                    if conn.expires_at.is_none_or(|e| e >= horizon_ms) {
                        return;
                    }
                    let id = conn.connection_id();
                    let Some(provider) = self.registry().get(&conn.provider).cloned() else {
                        // Not in this build: leave it to nodes that have it.
                        let _ = self
                            .inner
                            .store
                            .defer_refresh(
                                &id,
                                now + 3_600_000,
                                &format!("provider {} is not in this build", conn.provider),
                            )
                            .await;
                        return;
                    };
                    attempted.fetch_add(1, Ordering::Relaxed);
                    // Outcomes are logged and recorded on the connection.
                    let _ = self
                        .refresh_connection(
                            &id,
                            provider.as_ref(),
                            None,
                            RefreshReason::Due { horizon_ms },
                        )
                        .await;
                }
            })
            .await;
        Ok(RefreshScan {
            found,
            attempted: attempted.into_inner(),
        })
    }
}

/// What one background scan found and how many refreshes it ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshScan {
    pub found: usize,
    pub attempted: usize,
}

fn outcome_ref<'a>(o: &RefreshOutcome<'a>) -> RefreshOutcome<'a> {
    match o {
        RefreshOutcome::Refreshed(c) => RefreshOutcome::Refreshed(c),
        RefreshOutcome::Transient { message, retry_at } => RefreshOutcome::Transient {
            message,
            retry_at: *retry_at,
        },
        RefreshOutcome::NeedsReauth { message } => RefreshOutcome::NeedsReauth { message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_the_window_and_is_stable() {
        let lead = 600_000;
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..1000 {
            let id = format!("con_{i}");
            let l = jittered_lead(lead, 0.2, &id);
            assert!((480_000..=600_000).contains(&l), "{l}");
            assert_eq!(l, jittered_lead(lead, 0.2, &id));
            seen.insert(l / 10_000);
        }
        // Spread over the window, not bunched at one point.
        assert!(seen.len() >= 10, "{seen:?}");
        assert_eq!(jittered_lead(lead, 0.0, "con_1"), lead);
    }

    #[test]
    fn only_refused_grants_need_the_user() {
        assert!(!needs_user(&ProviderError::Transient {
            status: Some(503),
            message: String::new()
        }));
        assert!(!needs_user(&ProviderError::Unknown {
            message: String::new()
        }));
        assert!(!needs_user(&ProviderError::Rejected {
            status: Some(401),
            code: "invalid_client".into(),
            message: String::new()
        }));
        assert!(needs_user(&ProviderError::AuthRevoked {
            status: Some(400),
            message: "invalid_grant".into()
        }));
        assert!(needs_user(&ProviderError::AuthExpired {
            status: Some(401),
            message: String::new()
        }));
    }
}
