//! `/v1/actions`: accept a user action for every matching connection, durably
//! (the action and its deliveries are committed before the answer), and read
//! back each network's result.

use crate::AppState;
use crate::auth::AuthedApp;
use crate::error::ApiError;
use crate::json;
use crate::routes::connections::check_uid;
use crate::views::{DeliveryView, iso};
use actix_web::web::{Bytes, Path, Query};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use herald_core::{ActionId, UserAction, ValidationErrors};
use herald_dispatch::ActionPayload;
use herald_store::entities::apps;
use herald_store::{ActionRecord, CreateAction, CreateOutcome, NewDelivery};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The longest `?wait=` honoured, in milliseconds.
pub const MAX_WAIT_MS: u64 = 30_000;
const MAX_IDEMPOTENCY_KEY: usize = 255;

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PublishRequest {
    uid: String,
    action: UserAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enabled_providers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disabled_providers: Option<Vec<String>>,
}

#[derive(Serialize)]
struct ActionView {
    id: String,
    uid: String,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<UserAction>,
    deliveries: Vec<DeliveryView>,
}

fn parse_wait(query: &HashMap<String, String>) -> Result<Duration, ApiError> {
    match query.get("wait") {
        None => Ok(Duration::ZERO),
        Some(v) => {
            let ms: u64 = v
                .parse()
                .map_err(|_| ApiError::field("wait", "must be a whole number of milliseconds"))?;
            if ms > MAX_WAIT_MS {
                return Err(ApiError::field(
                    "wait",
                    format!("must be at most {MAX_WAIT_MS}"),
                ));
            }
            Ok(Duration::from_millis(ms))
        }
    }
}

/// Canonical provider ids for a request's list; unknown names are named.
fn provider_list(
    state: &AppState,
    field: &str,
    names: &Option<Vec<String>>,
    errs: &mut ValidationErrors,
) -> Option<Vec<&'static str>> {
    names.as_ref().map(|names| {
        names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let id = state.registry().canonical(n);
                if id.is_none() {
                    errs.push(format!("{field}[{i}]"), format!("unknown provider {n:?}"));
                }
                id
            })
            .collect()
    })
}

fn request_hash(req: &PublishRequest) -> String {
    let canonical = serde_json::to_vec(req).unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(v) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::field("Idempotency-Key", "must be visible ASCII"))?
        .trim();
    if v.is_empty() || v.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::field(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY} characters"),
        ));
    }
    Ok(Some(v.to_owned()))
}

/// The user's connections this action goes to: connected ∩ allowed by the app
/// ∩ the request's enabled list − its disabled list.
async fn targets(
    state: &AppState,
    app: &apps::Model,
    req: &PublishRequest,
    enabled: Option<Vec<&'static str>>,
    disabled: Option<Vec<&'static str>>,
) -> Result<Vec<NewDelivery>, ApiError> {
    let app_allowed = app.enabled_providers();
    let conns = state.store.connections_of(&app.app_id(), &req.uid).await?;
    Ok(conns
        .into_iter()
        .filter_map(|c| {
            let id = state.registry().canonical(&c.provider)?;
            let allowed = app_allowed
                .as_ref()
                .is_none_or(|a| a.iter().any(|p| p == id))
                && enabled.as_ref().is_none_or(|e| e.contains(&id))
                && !disabled.as_ref().is_some_and(|d| d.contains(&id));
            allowed.then(|| NewDelivery {
                connection_id: c.id.clone(),
                provider: id.to_owned(),
                account: c.provider_uid.clone(),
            })
        })
        .collect())
}

#[post("/v1/actions")]
async fn publish(
    state: web::Data<AppState>,
    AuthedApp(app): AuthedApp,
    http: HttpRequest,
    query: Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let wait = parse_wait(&query)?;
    let key = idempotency_key(&http)?;
    let req: PublishRequest = json::parse(&body)?;
    check_uid(&req.uid)?;
    let mut errs = req
        .action
        .validate()
        .err()
        .map(|e| e.nest("action"))
        .unwrap_or_default();
    let enabled = provider_list(
        &state,
        "enabled_providers",
        &req.enabled_providers,
        &mut errs,
    );
    let disabled = provider_list(
        &state,
        "disabled_providers",
        &req.disabled_providers,
        &mut errs,
    );
    errs.into_result().map_err(ApiError::Validation)?;

    let deliveries = targets(&state, &app, &req, enabled, disabled).await?;
    if deliveries.is_empty() {
        return Err(ApiError::Unprocessable {
            code: "no_matching_connection",
            message: format!(
                "user {:?} has no connected account on a provider this request and app allow",
                req.uid
            ),
        });
    }
    let outcome = state
        .store
        .create_action(CreateAction {
            app_id: app.app_id(),
            uid: req.uid.clone(),
            idempotency_key: key,
            request_hash: request_hash(&req),
            payload: serde_json::to_value(ActionPayload { action: req.action })
                .map_err(ApiError::internal)?,
            deliveries,
        })
        .await?;
    let (record, replayed) = match outcome {
        CreateOutcome::Created(r) => {
            state
                .dispatcher
                .hand_off(r.deliveries.iter().map(|d| d.delivery_id()).collect());
            (r, false)
        }
        CreateOutcome::Existing(r) => (r, true),
        CreateOutcome::KeyReused => {
            return Err(ApiError::Unprocessable {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was used for a different request".into(),
            });
        }
    };
    metrics::counter!("herald_actions_accepted_total").increment(1);
    let record = if wait.is_zero() {
        record
    } else {
        wait_for_first_attempts(&state, record, wait).await?
    };
    let mut resp = HttpResponse::Accepted();
    if replayed {
        resp.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(resp.json(view(&record, None, false)))
}

/// Re-reads the deliveries until each has had its first attempt (or reached a
/// final state), or `wait` runs out.
async fn wait_for_first_attempts(
    state: &AppState,
    mut record: ActionRecord,
    wait: Duration,
) -> Result<ActionRecord, ApiError> {
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

fn view(
    r: &ActionRecord,
    history: Option<&[herald_store::entities::delivery_attempts::Model]>,
    with_action: bool,
) -> ActionView {
    let action = with_action
        .then(|| serde_json::from_str::<ActionPayload>(&r.action.payload).ok())
        .flatten()
        .map(|p| p.action);
    ActionView {
        id: r.action.id.clone(),
        uid: r.action.uid.clone(),
        created_at: iso(r.action.created_at),
        action,
        deliveries: r
            .deliveries
            .iter()
            .map(|d| DeliveryView::new(d, history))
            .collect(),
    }
}

#[get("/v1/actions/{id}")]
async fn read(
    state: web::Data<AppState>,
    AuthedApp(app): AuthedApp,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound(format!("action {id}"));
    let action_id = ActionId::parse(&id).ok_or_else(not_found)?;
    let record = state
        .store
        .action(&app.app_id(), &action_id)
        .await?
        .ok_or_else(not_found)?;
    let history = state.store.attempts_of(&record.deliveries).await?;
    Ok(HttpResponse::Ok().json(view(&record, Some(&history), true)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(publish).service(read);
}
