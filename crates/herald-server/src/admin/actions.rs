//! `/admin/v1/apps/{id}/actions` and `…/deliveries/{id}/redrive`: search an
//! app's actions, read one with every attempt, and put a `failed` or
//! `unknown` delivery back in the queue.

use super::auth::Admin;
use super::{audit, visible_app};
use crate::AppState;
use crate::error::ApiError;
use crate::openapi::{AdminActionPage, AdminActionView, Problem};
use crate::views::{DeliveryView, iso};
use actix_web::web::{Path, Query};
use actix_web::{HttpResponse, get, post, web};
use herald_core::{ActionId, DeliveryId};
use herald_store::{ActionFilter, ActionRecord};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

fn view(
    r: &ActionRecord,
    history: Option<&[herald_store::entities::delivery_attempts::Model]>,
) -> Value {
    json!({
        "id": r.action.id,
        "uid": r.action.uid,
        "created_at": iso(r.action.created_at),
        "deliveries": r.deliveries.iter().map(|d| DeliveryView::new(d, history)).collect::<Vec<_>>(),
    })
}

#[derive(Deserialize, IntoParams)]
struct Search {
    /// The site's user id.
    uid: Option<String>,
    /// Actions with a delivery to this provider (id or alias).
    provider: Option<String>,
    /// Actions with a delivery in this state: `queued`, `sending`, `published`,
    /// `failed`, `unknown`, `deleted`.
    state: Option<String>,
    /// Created at or after (RFC 3339).
    since: Option<String>,
    /// Created before (RFC 3339).
    until: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn time_ms(field: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    v.as_deref()
        .map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .map_err(|_| ApiError::field(field, "must be an RFC 3339 time"))
        })
        .transpose()
}

/// Searches an app's actions, newest first.
#[utoipa::path(
    operation_id = "admin_actions_search",
    tag = "admin: actions",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id"), Search),
    responses(
        (status = 200, description = "A page of actions", body = AdminActionPage),
        (status = 400, description = "Invalid filter or `limit`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app (or not one this operator manages)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/apps/{id}/actions")]
async fn search(
    state: web::Data<AppState>,
    admin: Admin,
    id: Path<String>,
    q: Query<Search>,
) -> Result<HttpResponse, ApiError> {
    let app = visible_app(&state, &admin, &id).await?;
    let limit = super::limit(q.limit)?;
    if let Some(s) = &q.state
        && herald_store::DeliveryState::parse(s).is_none()
    {
        return Err(ApiError::field(
            "state",
            "one of queued, sending, published, failed, unknown, deleted",
        ));
    }
    let provider = super::provider_filter(&state, q.provider.as_deref())?.map(str::to_owned);
    let filter = ActionFilter {
        uid: q.uid.clone(),
        provider,
        state: q.state.clone(),
        since_ms: time_ms("since", &q.since)?,
        until_ms: time_ms("until", &q.until)?,
    };
    let rows = state
        .store
        .list_actions(&app.app_id(), &filter, q.cursor.as_deref(), limit)
        .await?;
    let next = super::next_cursor(&rows, limit, |r| &r.action.id);
    let items: Vec<Value> = rows.iter().map(|r| view(r, None)).collect();
    Ok(HttpResponse::Ok().json(json!({"items": items, "next_cursor": next})))
}

/// One action with every delivery's attempts.
#[utoipa::path(
    operation_id = "admin_actions_read",
    tag = "admin: actions",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id"), ("action_id" = String, Path, description = "The action id")),
    responses(
        (status = 200, description = "The action", body = AdminActionView),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app or action", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/apps/{id}/actions/{action_id}")]
async fn read(
    state: web::Data<AppState>,
    admin: Admin,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, action_id) = path.into_inner();
    let app = visible_app(&state, &admin, &id).await?;
    let not_found = || ApiError::NotFound(format!("action {action_id}"));
    let aid = ActionId::parse(&action_id).ok_or_else(not_found)?;
    let record = state
        .store
        .action(&app.app_id(), &aid)
        .await?
        .ok_or_else(not_found)?;
    let history = state.store.attempts_of(&record.deliveries).await?;
    Ok(HttpResponse::Ok().json(view(&record, Some(&history))))
}

/// Puts a `failed` or `unknown` delivery back in the queue.
#[utoipa::path(
    operation_id = "admin_actions_redrive",
    tag = "admin: actions",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id"), ("delivery_id" = String, Path, description = "The delivery id")),
    responses(
        (status = 200, description = "The delivery, queued", body = DeliveryView),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app or delivery", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_redrivable`: the delivery is not failed or unknown", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/apps/{id}/deliveries/{delivery_id}/redrive")]
async fn redrive(
    state: web::Data<AppState>,
    admin: Admin,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery_id) = path.into_inner();
    let app = visible_app(&state, &admin, &id).await?;
    let not_found = || ApiError::NotFound(format!("delivery {delivery_id}"));
    let did = DeliveryId::parse(&delivery_id).ok_or_else(not_found)?;
    match state.store.redrive(&app.id, &did).await? {
        None => return Err(not_found()),
        Some(false) => {
            return Err(ApiError::Conflict {
                code: "not_redrivable",
                message: "only a failed or unknown delivery can be redriven".into(),
            });
        }
        Some(true) => {}
    }
    audit(
        &state,
        &admin,
        "deliveries.redrive",
        Some(&app.id),
        Some(&delivery_id),
        None,
    )
    .await?;
    // Read before the hand-off so the answer shows the state the redrive set.
    let d = state.store.delivery(&did).await?.ok_or_else(not_found)?;
    state.dispatcher.hand_off_ids(vec![did.clone()]);
    Ok(HttpResponse::Ok().json(DeliveryView::new(&d, None)))
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(search).service(read).service(redrive);
}
