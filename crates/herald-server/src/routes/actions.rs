//! `/v1/actions`: accept a user action for every matching connection, durably
//! (the action and its deliveries are committed before the answer), and read
//! back each network's result.

use crate::AppState;
use crate::auth::{AuthedApp, PendingJti, PublishAuth};
use crate::error::ApiError;
use crate::json;
use crate::openapi::Problem;
use crate::publish::{self, PublishError, PublishInput};
use crate::routes::connections::check_uid;
use crate::views::{DeliveryView, iso};
use actix_web::web::{Bytes, Path, Query};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use herald_core::{ActionId, UserAction, ValidationErrors};
use herald_dispatch::ActionPayload;
use herald_store::ActionRecord;
use herald_store::repo::app_keys::Permission;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

/// The longest `?wait=` honoured, in milliseconds.
pub const MAX_WAIT_MS: u64 = 30_000;
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A user action to publish to the user's connected accounts.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PublishRequest {
    /// The site's user id (1 to 256 characters).
    #[schema(min_length = 1, max_length = 256)]
    uid: String,
    action: UserAction,
    /// Only these providers (ids or aliases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enabled_providers: Option<Vec<String>>,
    /// Not these providers (ids or aliases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disabled_providers: Option<Vec<String>>,
    /// A template saved by the app (admin API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    template_name: Option<String>,
}

/// An action and one delivery per target account.
#[derive(Serialize, ToSchema)]
struct ActionView {
    id: String,
    uid: String,
    /// RFC 3339.
    created_at: String,
    /// The action as accepted (when one action is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<UserAction>,
    /// With each delivery's `history` when one action is read.
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

/// Accepts a user action for every matching connection of the user: the
/// action and its deliveries are committed before the answer, then sent.
#[utoipa::path(
    operation_id = "actions_create",
    tag = "actions",
    security(("app_jwt" = [])),
    params(
        ("wait" = Option<u64>, Query, maximum = 30000, description = "Wait up to this many milliseconds for each delivery's first attempt"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters; a repeat of the same request answers the first action"),
    ),
    request_body(content = PublishRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted; the deliveries' states so far", body = ActionView,
            headers(("Idempotent-Replayed" = String, description = "`true` when this answers an earlier request with the same Idempotency-Key"))),
        (status = 400, description = "Invalid request (`invalid_request`, naming each field) or a link outside the app's domains (`domain_not_allowed`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid app token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The app key lacks the publish permission", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`no_matching_connection`, `idempotency_key_reused` or `unknown_template`", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/actions")]
async fn create(
    state: web::Data<AppState>,
    auth: PublishAuth,
    http: HttpRequest,
    query: Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let PublishAuth { app, mut jti } = auth;
    let answer = create_with(&state, &app, &mut jti, &http, &query, &body).await;
    // Refused before the commit took it: the token is used all the same,
    // and a replay answers 401 whatever else was wrong.
    jti.settle().await?;
    answer
}

/// The publish itself; the commit takes the token's `jti` from `jti`.
async fn create_with(
    state: &web::Data<AppState>,
    auth: &AuthedApp,
    jti: &mut PendingJti,
    http: &HttpRequest,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> Result<HttpResponse, ApiError> {
    let app = auth.require(Permission::Publish)?.clone();
    let wait = parse_wait(query)?;
    let key = idempotency_key(http)?;
    let req: PublishRequest = json::parse(body)?;
    check_uid(&req.uid)?;
    let mut errs = req
        .action
        .validate()
        .err()
        .map(|e| e.nest("action"))
        .unwrap_or_default();
    let enabled = provider_list(
        state,
        "enabled_providers",
        &req.enabled_providers,
        &mut errs,
    );
    let disabled = provider_list(
        state,
        "disabled_providers",
        &req.disabled_providers,
        &mut errs,
    );
    errs.into_result().map_err(ApiError::Validation)?;

    let input = PublishInput {
        uid: req.uid.clone(),
        request_hash: request_hash(&req),
        action: req.action,
        enabled,
        disabled,
        idempotency_key: key,
        template_name: req.template_name.clone(),
        short_link_back: false,
    };
    let accepted = publish::accept(state, &app, input, Some(jti))
        .await
        .map_err(|e| match e {
            PublishError::Replayed => PendingJti::replayed(),
            PublishError::NoMatchingConnection => ApiError::Unprocessable {
                code: "no_matching_connection",
                message: format!(
                    "user {:?} has no connected account on a provider this request and app allow",
                    req.uid
                ),
            },
            PublishError::KeyReused => ApiError::Unprocessable {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was used for a different request".into(),
            },
            PublishError::DomainNotAllowed { field, host } => ApiError::BadField {
                code: "domain_not_allowed",
                field,
                message: format!("host {host:?} is not one of the app's domains"),
            },
            PublishError::UnknownTemplate(name) => ApiError::unprocessable_field(
                "unknown_template",
                "template_name",
                format!("the app has no template {name:?}"),
            ),
            PublishError::Store(e) => e.into(),
        })?;
    let (record, replayed) = (accepted.record, accepted.replayed);
    let record = if wait.is_zero() {
        record
    } else {
        publish::wait_for_first_attempts(state, record, wait).await?
    };
    let mut resp = HttpResponse::Accepted();
    if replayed {
        resp.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(resp.json(view(&record, None, false)))
}

fn view(
    r: &ActionRecord,
    history: Option<&[herald_store::entities::delivery_attempts::Model]>,
    with_action: bool,
) -> ActionView {
    let action = with_action
        .then(|| ActionPayload::from_stored(&r.action.payload).ok())
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

/// An action with the payload and each delivery's attempts.
#[utoipa::path(
    operation_id = "actions_read",
    tag = "actions",
    security(("app_jwt" = [])),
    params(("id" = String, Path, description = "The action id")),
    responses(
        (status = 200, description = "The action", body = ActionView),
        (status = 401, description = "Missing or invalid app token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The app key lacks the read permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such action of this app", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/actions/{id}")]
async fn read(
    state: web::Data<AppState>,
    auth: AuthedApp,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = auth.require(Permission::Read)?.clone();
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

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create).service(read);
}
