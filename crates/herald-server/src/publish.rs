//! Accepting a user action, shared by the native `/v1/actions` and Gigya's
//! `socialize.publishUserAction` / `setStatus`: one normalization, one set of
//! target rules, one transactional write (the store's group commit, with the
//! request token's `jti`), one dispatcher.

use crate::AppState;
use crate::auth::PendingJti;
use herald_core::UserAction;
use herald_dispatch::{ActionPayload, HandOff, ProviderChoice};
use herald_store::entities::apps;
use herald_store::{AcceptOutcome, ActionRecord, CreateAction, NewDelivery, StoreError};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A validated action and where it should go.
pub struct PublishInput {
    pub uid: String,
    pub action: UserAction,
    /// Canonical provider ids the request allows (`None` = all).
    pub enabled: Option<Vec<&'static str>>,
    pub disabled: Option<Vec<&'static str>>,
    pub idempotency_key: Option<String>,
    /// Tells a retried request from a different one under the same key.
    pub request_hash: String,
    /// A template the app saved (admin API), by name.
    pub template_name: Option<String>,
    /// Replace `link_back` with a short link on Herald's host (Gigya's
    /// `shortURLs=always`), minted only once the action is accepted.
    pub short_link_back: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the user has no connected account on a provider this request and app allow")]
    NoMatchingConnection,
    #[error("this idempotency key was used for a different request")]
    KeyReused,
    #[error("{field}: host {host:?} is not one of the app's domains")]
    DomainNotAllowed { field: String, host: String },
    #[error("template_name: the app has no template {0:?}")]
    UnknownTemplate(String),
    /// The request's token (its `jti`) was used before: nothing was written.
    #[error("token already used (jti replayed)")]
    Replayed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Accepted {
    pub record: ActionRecord,
    /// The idempotency key matched an earlier request: nothing new was created.
    pub replayed: bool,
}

/// The user's connections this action goes to: connected ∩ allowed by the app
/// ∩ the request's enabled list − its disabled list.
async fn targets(
    state: &AppState,
    app: &apps::Model,
    input: &PublishInput,
) -> Result<Vec<NewDelivery>, StoreError> {
    let app_allowed = app.enabled_providers();
    let conns = state
        .store
        .connections_of(&app.app_id(), &input.uid)
        .await?;
    Ok(conns
        .into_iter()
        .filter_map(|c| {
            let id = state.registry().canonical(&c.provider)?;
            let allowed = app_allowed
                .as_ref()
                .is_none_or(|a| a.iter().any(|p| p == id))
                && input.enabled.as_ref().is_none_or(|e| e.contains(&id))
                && !input.disabled.as_ref().is_some_and(|d| d.contains(&id));
            allowed.then(|| NewDelivery {
                connection_id: c.id.clone(),
                provider: id.to_owned(),
                account: c.provider_uid.clone(),
            })
        })
        .collect())
}

/// When the app lists domains, every link of the action must be on one of
/// them (field paths as in the native API: `action.link_back`).
pub fn check_domains(app: &apps::Model, action: &UserAction) -> Result<(), PublishError> {
    herald_core::domains::check_action(&app.domains(), action).map_err(|o| {
        PublishError::DomainNotAllowed {
            field: format!("action.{}", o.field),
            host: o.host,
        }
    })
}

/// The public URL of short link `code`.
pub fn short_url(state: &AppState, code: &str) -> String {
    format!(
        "{}/s/{code}",
        state.config.public_url.as_str().trim_end_matches('/')
    )
}

/// Applies a saved template: its text becomes the action's template (with the
/// action's own fields as placeholders) and its per-provider choices travel
/// with the action.
async fn apply_template(
    state: &AppState,
    app: &apps::Model,
    name: &str,
    action: &mut UserAction,
) -> Result<BTreeMap<String, ProviderChoice>, PublishError> {
    let t = state
        .store
        .template(&app.app_id(), name)
        .await?
        .ok_or_else(|| PublishError::UnknownTemplate(name.to_owned()))?;
    action.template_fields = herald_core::template::with_action_fields(action);
    action.template = Some(t.text);
    let saved: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&t.per_provider).unwrap_or_default();
    Ok(saved
        .into_iter()
        .map(|(provider, v)| {
            let mut choice = ProviderChoice {
                text: v.get("text").and_then(|x| x.as_str()).map(str::to_owned),
                ..Default::default()
            };
            for opt in ["activity_type", "verb"] {
                if let Some(x) = v.get(opt).and_then(|x| x.as_str()) {
                    choice.options.insert(opt.to_owned(), x.to_owned());
                }
            }
            (provider, choice)
        })
        .collect())
}

/// Commits the action and its deliveries, then hands them to the workers.
/// The request token's `jti`, when given, is taken at the commit and written
/// in the same group commit as the action (a used one writes nothing); a
/// request refused before that leaves it to the caller to record.
pub async fn accept(
    state: &AppState,
    app: &apps::Model,
    mut input: PublishInput,
    jti: Option<&mut PendingJti>,
) -> Result<Accepted, PublishError> {
    let started = Instant::now();
    // Saved templates add no links of their own: their hrefs are the
    // action's (`title` links to `link_back`), checked here.
    check_domains(app, &input.action)?;
    let deliveries = targets(state, app, &input).await?;
    if deliveries.is_empty() {
        return Err(PublishError::NoMatchingConnection);
    }
    if input.short_link_back
        && let Some(link) = input.action.link_back.clone()
    {
        let s = state
            .store
            .create_short_link(&app.app_id(), &link, None, None)
            .await?;
        input.action.link_back = Some(short_url(state, &s.code));
    }
    let per_provider = match &input.template_name {
        Some(name) => apply_template(state, app, name, &mut input.action).await?,
        None => BTreeMap::new(),
    };
    let payload = ActionPayload {
        action: input.action,
        per_provider,
    };
    let stored = payload.to_stored();
    let committed = state
        .store
        .accept_action(
            CreateAction {
                app_id: app.app_id(),
                uid: input.uid,
                idempotency_key: input.idempotency_key,
                request_hash: input.request_hash,
                payload: stored,
                deliveries,
            },
            jti.and_then(PendingJti::take),
        )
        .await?;
    match committed.outcome {
        AcceptOutcome::Created(record) => {
            state.dispatcher.hand_off(HandOff::new(&record, payload));
            herald_core::telemetry::accepted(started.elapsed().as_secs_f64());
            Ok(Accepted {
                record,
                replayed: false,
            })
        }
        AcceptOutcome::Existing(record) => Ok(Accepted {
            record,
            replayed: true,
        }),
        AcceptOutcome::KeyReused => Err(PublishError::KeyReused),
        AcceptOutcome::NonceReplayed => Err(PublishError::Replayed),
    }
}

/// Re-reads the deliveries until each has had its first attempt (or reached a
/// final state), or `wait` runs out.
pub async fn wait_for_first_attempts(
    state: &AppState,
    mut record: ActionRecord,
    wait: Duration,
) -> Result<ActionRecord, StoreError> {
    let deadline = Instant::now() + wait;
    loop {
        let settled = record
            .deliveries
            .iter()
            .all(|d| d.attempts >= 1 && d.state != "sending" || d.state().is_final());
        let now = Instant::now();
        if settled || now >= deadline {
            return Ok(record);
        }
        // Woken by a local outcome; the cap covers outcomes on other nodes.
        state
            .dispatcher
            .progress((deadline - now).min(Duration::from_millis(100)))
            .await;
        record.deliveries = state
            .store
            .deliveries_of(&record.action.action_id())
            .await?;
    }
}
