//! The dispatcher: a bounded pool of delivery tasks fed by immediate hand-offs
//! and by a poller. A delivery is only worked on while its lease is held; every
//! attempt is recorded, and the delivery's next state is written together with
//! the attempt in one transaction.

use crate::config::{DispatchConfig, ProvidersConfig};
use crate::payload::ActionPayload;
use crate::policy::{self, Decision};
use crate::refresh::RefreshReason;
use crate::settings::{self, SettingsError};
use herald_core::telemetry;
use herald_core::{
    AccountInfo, ActionId, ActionMeta, Credential, DeliveryId, IdempotencyKey, OutboundPolicy,
    Provider, ProviderError, Published, RenderedAction,
};
use herald_providers::ProviderRegistry;
use herald_store::entities::{connections, deliveries};
use herald_store::repo::connections::ConnectionStatus;
use herald_store::repo::deliveries::ErrorInfo;
use herald_store::repo::provider_configs::AppProviderConfig;
use herald_store::{AttemptRecord, DeliveryUpdate, Store, StoreError, now_ms};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tracing::{Instrument, debug, error, info, warn};

#[derive(Clone)]
pub struct Dispatcher {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) registry: ProviderRegistry,
    pub(crate) cfg: DispatchConfig,
    pub(crate) providers: ProvidersConfig,
    pub(crate) policy: OutboundPolicy,
    pub(crate) client: reqwest::Client,
    pub(crate) guarded: reqwest::Client,
    /// Identifies this process's leases.
    pub(crate) node_id: String,
    slots: Arc<Semaphore>,
    /// Woken after every recorded outcome (for `?wait=`).
    progress: Notify,
    pub(crate) stopping: AtomicBool,
}

/// How a delivery came to a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Claim {
    /// Queued and due; this attempt is already counted.
    Fresh,
    /// Its lease expired while `sending`: the previous worker died mid-send.
    Reclaimed,
}

/// A failure that ends processing without a network outcome.
enum Stop {
    Store(StoreError),
    /// The delivery cannot be attempted: record as failed with this error.
    Fail(ErrorInfo),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        match e {
            // A key that is not loaded yet (a rotation in progress) may be soon.
            StoreError::Crypto(herald_store::CryptoError::UnknownKey(_)) => Stop::Store(e),
            // Unreadable stored data will not heal by retrying: fail it now.
            StoreError::Crypto(_) | StoreError::Corrupt(_) => Stop::Fail(ErrorInfo {
                class: "rejected".into(),
                code: "stored_data_unreadable".into(),
                message: e.to_string(),
            }),
            StoreError::Db(_) => Stop::Store(e),
        }
    }
}

fn error_info(err: &ProviderError) -> ErrorInfo {
    ErrorInfo {
        class: err.class().as_str().to_owned(),
        code: err.code(),
        message: err.message().to_owned(),
    }
}

fn error_info_of(class: &str, code: &str, message: impl Into<String>) -> ErrorInfo {
    ErrorInfo {
        class: class.into(),
        code: code.into(),
        message: message.into(),
    }
}

fn fail(class: &str, code: &str, message: impl Into<String>) -> Stop {
    Stop::Fail(error_info_of(class, code, message))
}

/// An attempt that ends at once with `error`: nothing was sent now, its
/// outcome is already known.
fn settled(attempt: i32, outcome: &str, error: &ErrorInfo) -> AttemptRecord {
    let now = now_ms();
    AttemptRecord {
        attempt,
        started_at: now,
        finished_at: now,
        outcome: outcome.into(),
        http_status: None,
        error_code: Some(error.code.clone()),
        error_message: Some(error.message.clone()),
    }
}

impl Dispatcher {
    pub fn new(
        store: Store,
        registry: ProviderRegistry,
        cfg: DispatchConfig,
        providers: ProvidersConfig,
        policy: OutboundPolicy,
    ) -> Result<Self, String> {
        cfg.validate()?;
        let (client, guarded) = herald_core::provider::http_clients(
            &policy,
            Duration::from_secs(cfg.http_timeout_seconds),
        )
        .map_err(|e| format!("building HTTP clients: {e}"))?;
        let node_id = format!("{}-{}", std::process::id(), uuid_like());
        Ok(Dispatcher {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(cfg.workers)),
                store,
                registry,
                cfg,
                providers,
                policy,
                client,
                guarded,
                node_id,
                progress: Notify::new(),
                stopping: AtomicBool::new(false),
            }),
        })
    }

    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// A fresh lease owner for one claim: the node plus a random tag, so that a
    /// worker whose lease expired and was reclaimed (even by this same node)
    /// can no longer renew or finish it.
    pub(crate) fn lease_token(&self) -> String {
        format!("{}:{}", self.inner.node_id, uuid_like())
    }

    pub fn registry(&self) -> &ProviderRegistry {
        &self.inner.registry
    }

    pub fn policy(&self) -> &OutboundPolicy {
        &self.inner.policy
    }

    /// The HTTP context a provider's calls use for `app` (settings merged the
    /// same way as for deliveries), e.g. for connect flows. Refused when a
    /// base the app set is not allowed by the outbound policy.
    pub async fn http_ctx_for(
        &self,
        app: &herald_core::AppId,
        provider: &dyn Provider,
    ) -> Result<herald_core::HttpCtx, SettingsError> {
        let app_cfg = self.inner.store.provider_config(app, provider.id()).await?;
        self.http_ctx_with(provider, app_cfg.as_ref()).await
    }

    async fn http_ctx_with(
        &self,
        provider: &dyn Provider,
        app_cfg: Option<&AppProviderConfig>,
    ) -> Result<herald_core::HttpCtx, SettingsError> {
        let inner = &self.inner;
        let operator = inner.providers.get(provider.id());
        let settings = settings::merge(provider, operator, app_cfg);
        let app_bases = app_cfg.is_some_and(|c| settings::overrides_base(&c.settings));
        if let Some(c) = app_cfg.filter(|_| app_bases) {
            settings::check_app_bases(&c.settings, &inner.policy).await?;
        }
        Ok(settings::http_ctx(
            settings,
            app_bases,
            &inner.client,
            &inner.guarded,
            &inner.policy,
        ))
    }

    /// The HTTP context for calls made with one connection's credential: for
    /// providers whose accounts live on their own server (Mastodon, Bluesky),
    /// calls go to the connection's server through the guarded client, with
    /// the client Herald registered there.
    pub async fn http_ctx_for_connection(
        &self,
        provider: &dyn Provider,
        conn: &connections::Model,
    ) -> Result<herald_core::HttpCtx, SettingsError> {
        let app = herald_core::AppId::from_stored(conn.app_id.clone());
        let http = self.http_ctx_for(&app, provider).await?;
        self.for_account(http, &app, provider, conn.url.as_deref())
            .await
    }

    /// Points `http` at the account's own server (see
    /// [`Provider::account_server`]) when the provider has one. The server
    /// is checked against the outbound policy before every use (it was when
    /// stored, but the policy or a migrated account's PDS may have changed
    /// since, and an IP literal never reaches the guarded resolver), unless
    /// it is the operator's API base.
    pub async fn for_account(
        &self,
        mut http: herald_core::HttpCtx,
        app: &herald_core::AppId,
        provider: &dyn Provider,
        server: Option<&str>,
    ) -> Result<herald_core::HttpCtx, SettingsError> {
        let Some(server) = server.filter(|_| provider.account_server()) else {
            return Ok(http);
        };
        let Ok(base) = url::Url::parse(server) else {
            return Err(StoreError::Corrupt(format!(
                "the connection's server {server:?} is not a URL"
            ))
            .into());
        };
        let trusted =
            settings::operator_api_base(provider, self.inner.providers.get(provider.id()));
        let foreign = base.origin() != trusted.origin();
        if foreign {
            settings::check_address("url", &base, &self.inner.policy).await?;
        }
        // Registrations are keyed by the server's origin (what connect flows
        // store); an imported url may carry a trailing slash or a path.
        let origin = base.origin().ascii_serialization();
        http.api_base = base.clone();
        http.consent_base = Some(base);
        // The address came from a user: the SSRF-guarded client only.
        http.client = http.guarded.clone();
        if provider.oauth().is_some_and(|o| o.per_instance) {
            // The operator's client, if one is configured, belongs to the
            // operator's server: another server gets only the client Herald
            // registered there.
            if foreign {
                http.settings.client_id = None;
                http.settings.client_secret = None;
            }
            if let Some(c) = self
                .inner
                .store
                .oauth_client(app, provider.id(), &origin)
                .await?
            {
                http.settings.client_id = Some(c.client_id);
                http.settings.client_secret = Some(c.client_secret);
            }
        }
        Ok(http)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Starts deliveries that were just committed, without waiting for the
    /// poller. If this node is busy they wait for a free slot; if it stops
    /// first, the poller (here or on another node) finds them.
    pub fn hand_off(&self, handoff: crate::HandOff) {
        self.hand_off_ids(handoff.deliveries.into_iter().map(|d| d.id).collect());
    }

    /// Starts deliveries known only by id (a redrive): the worker reads the
    /// action back.
    pub fn hand_off_ids(&self, ids: Vec<DeliveryId>) {
        for id in ids {
            let this = self.clone();
            tokio::spawn(async move {
                let Ok(permit) = this.inner.slots.clone().acquire_owned().await else {
                    return;
                };
                if this.inner.stopping.load(Ordering::Relaxed) {
                    return;
                }
                let lease = this.inner.cfg.lease_ms();
                match this
                    .inner
                    .store
                    .claim_delivery(&id, &this.lease_token(), lease)
                    .await
                {
                    Ok(Some(d)) => this.run(d, Claim::Fresh).await,
                    Ok(None) => debug!(delivery = %id, "already claimed elsewhere"),
                    Err(e) => {
                        warn!(delivery = %id, error = %e, "hand-off claim failed; the poller will retry")
                    }
                }
                drop(permit);
            });
        }
    }

    /// Runs the poller, and the proactive token refresher, until
    /// [`Dispatcher::shutdown`].
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let refresher = self.clone();
        tokio::spawn(async move { refresher.refresh_loop().await });
        let this = self.clone();
        tokio::spawn(async move { this.poll_loop().await })
    }

    /// Stops claiming and waits (up to `grace`) for deliveries in flight.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.stopping.store(true, Ordering::Relaxed);
        let all = self.inner.cfg.workers as u32;
        match tokio::time::timeout(grace, self.inner.slots.acquire_many(all)).await {
            Ok(_) => info!("workers drained"),
            Err(_) => warn!(
                "shutdown grace ran out with deliveries in flight; their leases will expire and be reclaimed"
            ),
        }
        self.inner.slots.close();
    }

    /// Resolves after the next recorded outcome, or after `max`.
    pub async fn progress(&self, max: Duration) {
        let _ = tokio::time::timeout(max, self.inner.progress.notified()).await;
    }

    async fn poll_loop(&self) {
        let every = Duration::from_millis(self.inner.cfg.poll_interval_ms);
        while !self.inner.stopping.load(Ordering::Relaxed) {
            if let Err(e) = self.poll_once().await {
                warn!(error = %e, "poll failed");
            }
            tokio::time::sleep(every).await;
        }
    }

    /// One poll: reclaim expired leases, then claim due deliveries, never more
    /// than there are free slots (a claimed delivery's lease is already running).
    pub async fn poll_once(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        let lease = inner.cfg.lease_ms();
        for claim in [Claim::Reclaimed, Claim::Fresh] {
            let free = inner
                .slots
                .available_permits()
                .min(inner.cfg.batch_size as usize);
            if free == 0 {
                return Ok(());
            }
            let Ok(mut permits) = inner.slots.clone().try_acquire_many_owned(free as u32) else {
                return Ok(());
            };
            let rows = match claim {
                Claim::Reclaimed => {
                    inner
                        .store
                        .claim_expired(&self.lease_token(), lease, free as u64)
                        .await?
                }
                Claim::Fresh => {
                    inner
                        .store
                        .claim_due(&self.lease_token(), lease, free as u64)
                        .await?
                }
            };
            for d in rows {
                // One permit per row; should a claim ever return more rows than
                // it was asked for, the extra ones wait for a free slot.
                let permit = permits.split(1);
                let this = self.clone();
                tokio::spawn(async move {
                    let _permit = match permit {
                        Some(p) => p,
                        None => match this.inner.slots.clone().acquire_owned().await {
                            Ok(p) => p,
                            Err(_) => return,
                        },
                    };
                    this.run(d, claim).await;
                });
            }
        }
        Ok(())
    }

    async fn run(&self, d: deliveries::Model, claim: Claim) {
        let id = d.delivery_id();
        // Every log line of the attempt carries these ids (JSON logs: `span`).
        let span = tracing::info_span!("delivery", app = %d.app_id, action = %d.action_id, delivery = %id, provider = %d.provider);
        if let Err(e) = self.process(d, claim).instrument(span).await {
            // The lease runs out and the delivery is reclaimed later.
            error!(delivery = %id, error = %e, "delivery processing failed");
        }
        self.inner.progress.notify_waiters();
    }

    async fn process(&self, mut d: deliveries::Model, claim: Claim) -> Result<(), StoreError> {
        // This claim's lease token: every later write is conditional on it.
        let owner = d.lease_owner.clone().unwrap_or_default();
        let inner = &self.inner;
        let id = d.delivery_id();
        let provider = inner.registry.get(&d.provider).cloned();
        if claim == Claim::Reclaimed {
            let idempotent = provider
                .as_ref()
                .is_some_and(|p| p.capabilities().idempotent);
            if !idempotent {
                let error = error_info_of(
                    "unknown",
                    "lease_expired",
                    "the worker sending this delivery stopped before an answer was recorded; \
                     the network has no idempotency key, so Herald does not re-send it \
                     (check the network, then redrive if the post is missing)",
                );
                let attempt = settled(d.attempts, "lease_expired", &error);
                inner
                    .store
                    .finish_attempt(&id, &owner, attempt, DeliveryUpdate::Unknown { error })
                    .await?;
                warn!(delivery = %id, provider = %d.provider, "lease expired mid-send: marked unknown");
                return Ok(());
            }
            if d.attempts >= inner.cfg.max_attempts as i32 {
                let error = error_info_of(
                    "transient",
                    "lease_expired",
                    "the delivery's lease expired on every attempt (its workers kept stopping)",
                );
                let attempt = settled(d.attempts, "failed", &error);
                inner
                    .store
                    .finish_attempt(&id, &owner, attempt, DeliveryUpdate::Failed { error })
                    .await?;
                return Ok(());
            }
            if !inner
                .store
                .begin_resend(&id, &owner, inner.cfg.lease_ms())
                .await?
            {
                return Ok(());
            }
            d.attempts += 1;
            info!(delivery = %id, "lease expired mid-send: re-sending under the same idempotency key");
        }
        let started = now_ms();
        match self.prepare(&d, provider).await {
            Ok(job) => self.attempt(d, job, started).await,
            Err(Stop::Store(e)) if d.attempts.max(0) as u32 >= inner.cfg.max_attempts => {
                // Retried as often as any failure may be: give up.
                let error = error_info_of(
                    "transient",
                    "store_unavailable",
                    format!(
                        "reading stored data kept failing before sending ({e}); nothing was sent"
                    ),
                );
                let attempt = settled(d.attempts, "failed", &error);
                warn!(delivery = %id, error = %e, "stored data unreadable after the last attempt");
                inner
                    .store
                    .finish_attempt(&id, &owner, attempt, DeliveryUpdate::Failed { error })
                    .await?;
                Ok(())
            }
            Err(Stop::Store(e)) => {
                // Nothing was sent: put it back in the queue rather than let the
                // lease expire (which would make it `unknown` on some networks).
                let delay = policy::backoff(&inner.cfg, d.attempts.max(1) as u32);
                let error = error_info_of(
                    "transient",
                    "store_unavailable",
                    format!("reading stored data failed before sending ({e}); nothing was sent"),
                );
                let attempt = settled(d.attempts, "retry", &error);
                let update = DeliveryUpdate::Retry {
                    at_ms: now_ms() + delay.as_millis() as i64,
                    error,
                };
                if let Err(again) = inner
                    .store
                    .finish_attempt(&id, &owner, attempt, update)
                    .await
                {
                    warn!(delivery = %id, error = %again, "could not release the delivery; its lease will expire");
                }
                Err(e)
            }
            Err(Stop::Fail(error)) => {
                let attempt = settled(d.attempts, "failed", &error);
                warn!(delivery = %id, code = %error.code, "delivery cannot be attempted");
                telemetry::delivery(&d.provider, "failed");
                inner
                    .store
                    .finish_attempt(&id, &owner, attempt, DeliveryUpdate::Failed { error })
                    .await?;
                Ok(())
            }
        }
    }

    /// Loads what an attempt needs and renders the post.
    async fn prepare(
        &self,
        d: &deliveries::Model,
        provider: Option<Arc<dyn Provider>>,
    ) -> Result<Job, Stop> {
        let inner = &self.inner;
        let provider = provider.ok_or_else(|| {
            fail(
                "unsupported",
                "unknown_provider",
                format!("provider {} is not available in this build", d.provider),
            )
        })?;
        let action = inner
            .store
            .action_by_id(&d.action_id)
            .await?
            .ok_or_else(|| fail("rejected", "action_missing", "the action was deleted"))?;
        let payload = ActionPayload::from_stored(&action.payload)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let conn = inner
            .store
            .connection(&herald_core::ConnectionId::from_stored(
                d.connection_id.clone(),
            ))
            .await?
            .ok_or_else(|| {
                fail(
                    "auth_revoked",
                    "connection_removed",
                    "the user disconnected this account",
                )
            })?;
        if conn.status() != ConnectionStatus::Active {
            return Err(fail(
                "auth_revoked",
                "needs_reauth",
                "the connection needs the user to authorize Herald again",
            ));
        }
        let app_id = herald_core::AppId::from_stored(d.app_id.clone());
        let app = inner
            .store
            .app(&app_id)
            .await?
            .ok_or_else(|| fail("rejected", "app_missing", "the app was deleted"))?;
        // Nothing is sent for a disabled app; a redrive after it is enabled
        // again sends it.
        if app.disabled {
            return Err(fail(
                "rejected",
                "app_disabled",
                "the app is disabled; redrive the delivery after enabling it",
            ));
        }
        let app_cfg = inner.store.provider_config(&app_id, provider.id()).await?;
        if app_cfg.as_ref().is_some_and(|c| !c.enabled) {
            return Err(fail(
                "rejected",
                "provider_disabled",
                format!("{} is disabled for this app", provider.id()),
            ));
        }
        let http = async {
            let http = self
                .http_ctx_with(provider.as_ref(), app_cfg.as_ref())
                .await?;
            self.for_account(http, &app_id, provider.as_ref(), conn.url.as_deref())
                .await
        }
        .await
        .map_err(|e| match e {
            SettingsError::Store(e) => Stop::from(e),
            refused @ SettingsError::Refused { .. } => {
                fail("rejected", "forbidden_address", refused.to_string())
            }
        })?;
        let mut rendered = RenderedAction {
            action: payload.action,
            meta: ActionMeta {
                action_id: ActionId::from_stored(action.id.clone()),
                uid: action.uid.clone(),
                delivery_id: Some(d.delivery_id()),
                app_name: app.name.clone(),
                site_url: app.site_url.clone(),
            },
            options: http.settings.options.clone(),
        };
        // A saved template's choices for this provider win over the app's.
        if let Some(choice) = payload.per_provider.get(provider.id()) {
            if let Some(text) = &choice.text {
                rendered.action.template = Some(text.clone());
            }
            rendered.options.extend(choice.options.clone());
        }
        let account = AccountInfo {
            provider_uid: Some(conn.provider_uid.clone()),
            display_name: conn.display_name.clone(),
            url: conn.url.clone(),
            max_text: None,
        };
        let post = provider
            .render(&rendered, &account)
            .map_err(|e| fail("rejected", "render_failed", e.to_string()))?;
        let cred = inner.store.credential(&conn)?;
        Ok(Job {
            provider,
            post,
            cred,
            http,
            conn,
        })
    }

    /// Publishes, refreshing an expired token once, and records the outcome.
    async fn attempt(
        &self,
        d: deliveries::Model,
        mut job: Job,
        mut started: i64,
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        let id = d.delivery_id();
        let owner = d.lease_owner.clone().unwrap_or_default();
        let key = IdempotencyKey::for_delivery(&id);
        let idempotent = job.provider.capabilities().idempotent;
        let mut attempt_no = d.attempts;
        let mut refreshed = false;
        loop {
            let t0 = std::time::Instant::now();
            let result = job
                .provider
                .publish(&job.post, &job.cred, &key, &job.http)
                .await;
            telemetry::publish_latency(&d.provider, t0.elapsed().as_secs_f64());
            let err = match result {
                Ok(published) => {
                    return self
                        .record_published(&d, attempt_no, started, published)
                        .await;
                }
                Err(err) => err,
            };
            let decision = policy::decide(
                &inner.cfg,
                &err,
                attempt_no.max(0) as u32,
                idempotent,
                refreshed,
            );
            let record = |outcome: &str| AttemptRecord {
                attempt: attempt_no,
                started_at: started,
                finished_at: now_ms(),
                outcome: outcome.into(),
                http_status: err.http_status(),
                error_code: Some(err.code()),
                error_message: Some(err.message().to_owned()),
            };
            let (update, outcome) = match decision {
                Decision::RefreshAndRetry => {
                    inner
                        .store
                        .record_attempt(&id, record("auth_expired"))
                        .await?;
                    refreshed = true;
                    // A refresh is another network call: take a fresh lease for it.
                    if !inner
                        .store
                        .renew_lease(&id, &owner, inner.cfg.lease_ms())
                        .await?
                    {
                        return Ok(());
                    }
                    match self.refresh(&job).await {
                        Ok(cred) => {
                            job.cred = cred;
                            if !inner
                                .store
                                .begin_resend(&id, &owner, inner.cfg.lease_ms())
                                .await?
                            {
                                return Ok(());
                            }
                            attempt_no += 1;
                            started = now_ms();
                            continue;
                        }
                        Err(refresh_err) => {
                            return self
                                .record_refresh_failure(&d, attempt_no, refresh_err)
                                .await;
                        }
                    }
                }
                Decision::Retry(delay) => (
                    DeliveryUpdate::Retry {
                        at_ms: now_ms() + delay.as_millis() as i64,
                        error: error_info(&err),
                    },
                    "retry",
                ),
                Decision::Fail { reauth } => {
                    // Only if the refused token is still the stored one: a
                    // refresh elsewhere may have replaced it meanwhile.
                    if reauth {
                        inner
                            .store
                            .mark_needs_reauth_if_token(
                                &job.conn.connection_id(),
                                job.cred.access_token.as_ref(),
                                err.message(),
                            )
                            .await?;
                    }
                    (
                        DeliveryUpdate::Failed {
                            error: error_info(&err),
                        },
                        "failed",
                    )
                }
                Decision::Unknown => (
                    DeliveryUpdate::Unknown {
                        error: error_info(&err),
                    },
                    "unknown",
                ),
            };
            info!(delivery = %id, provider = %d.provider, attempt = attempt_no, outcome, class = err.class().as_str(), "attempt finished");
            telemetry::delivery(&d.provider, outcome);
            inner
                .store
                .finish_attempt(&id, &owner, record(outcome), update)
                .await?;
            return Ok(());
        }
    }

    async fn record_published(
        &self,
        d: &deliveries::Model,
        attempt_no: i32,
        started: i64,
        p: Published,
    ) -> Result<(), StoreError> {
        let id = d.delivery_id();
        let owner = d.lease_owner.clone().unwrap_or_default();
        let attempt = AttemptRecord {
            attempt: attempt_no,
            started_at: started,
            finished_at: now_ms(),
            outcome: "published".into(),
            http_status: None,
            error_code: None,
            error_message: None,
        };
        info!(delivery = %id, provider = %d.provider, attempt = attempt_no, post_id = %p.post_id, "published");
        telemetry::delivery(&d.provider, "published");
        let applied = self
            .inner
            .store
            .finish_attempt(
                &id,
                &owner,
                attempt,
                DeliveryUpdate::Published {
                    post_id: p.post_id,
                    post_url: p.post_url,
                },
            )
            .await?;
        if !applied {
            warn!(delivery = %id, "published, but the lease was lost before recording it");
        }
        Ok(())
    }

    /// The publish met an expired token: refresh it (once across nodes; a
    /// refresh that another worker finished meanwhile is reused).
    async fn refresh(&self, job: &Job) -> Result<Credential, ProviderError> {
        self.refresh_connection(
            &job.conn.connection_id(),
            job.provider.as_ref(),
            Some(&job.http),
            RefreshReason::Expired(job.cred.access_token.clone()),
        )
        .await
    }

    /// The refresh itself failed: a transient failure retries later (the
    /// connection stays active); anything else needs the user.
    async fn record_refresh_failure(
        &self,
        d: &deliveries::Model,
        attempt_no: i32,
        err: ProviderError,
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        let id = d.delivery_id();
        let owner = d.lease_owner.clone().unwrap_or_default();
        let now = now_ms();
        let transient = matches!(
            err,
            ProviderError::Transient { .. }
                | ProviderError::RateLimited { .. }
                | ProviderError::Unknown { .. }
        );
        let mut info = error_info(&err);
        info.message = format!("token refresh failed: {}", info.message);
        let update = if transient && (attempt_no as u32) < inner.cfg.max_attempts {
            let delay = policy::backoff(&inner.cfg, attempt_no as u32);
            DeliveryUpdate::Retry {
                at_ms: now + delay.as_millis() as i64,
                error: info.clone(),
            }
        } else {
            // A refusal already marked the connection needs_reauth.
            DeliveryUpdate::Failed {
                error: info.clone(),
            }
        };
        let outcome = if matches!(update, DeliveryUpdate::Retry { .. }) {
            "retry"
        } else {
            "failed"
        };
        warn!(delivery = %id, outcome, "token refresh failed");
        let attempt = AttemptRecord {
            attempt: attempt_no,
            started_at: now,
            finished_at: now,
            outcome: format!("refresh_{outcome}"),
            http_status: err.http_status(),
            error_code: Some(info.code.clone()),
            error_message: Some(info.message.clone()),
        };
        inner
            .store
            .finish_attempt(&id, &owner, attempt, update)
            .await?;
        Ok(())
    }
}

struct Job {
    provider: Arc<dyn Provider>,
    post: herald_core::NativePost,
    cred: Credential,
    http: herald_core::HttpCtx,
    conn: connections::Model,
}

/// A short random tag that tells this process's leases from a restarted one's.
fn uuid_like() -> String {
    format!("{:016x}", rand::random::<u64>())
}
