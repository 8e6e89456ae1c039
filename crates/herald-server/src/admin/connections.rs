//! `/admin/v1/apps/{id}/…connections`: an app's users' connected accounts and
//! their health (never their tokens); an operator can remove one.

use super::auth::Admin;
use super::{audit, visible_app};
use crate::AppState;
use crate::error::ApiError;
use crate::openapi::{AppConnectionPage, ConnectionList, Problem};
use crate::views::ConnectionView;
use actix_web::web::{Path, Query};
use actix_web::{HttpResponse, delete, get, web};
use herald_store::repo::connections::ConnectionStatus;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

/// A user's connections and their health (never tokens).
#[utoipa::path(
    operation_id = "admin_connections_of_user",
    tag = "admin: connections",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id"), ("uid" = String, Path, description = "The site's user id")),
    responses(
        (status = 200, description = "The connections", body = ConnectionList),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app (or not one this operator manages)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/apps/{id}/users/{uid}/connections")]
async fn of_user(
    state: web::Data<AppState>,
    admin: Admin,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, uid) = path.into_inner();
    let app = visible_app(&state, &admin, &id).await?;
    let rows = state.store.connections_of(&app.app_id(), &uid).await?;
    let items: Vec<ConnectionView> = rows.iter().map(ConnectionView::from).collect();
    Ok(HttpResponse::Ok().json(json!({"items": items})))
}

/// Removes one connection of a user.
#[utoipa::path(
    operation_id = "admin_connections_remove",
    tag = "admin: connections",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id"), ("uid" = String, Path, description = "The site's user id"), ("connection_id" = String, Path, description = "The connection id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app, or no such connection of this user", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/apps/{id}/users/{uid}/connections/{connection_id}")]
async fn remove(
    state: web::Data<AppState>,
    admin: Admin,
    path: Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, uid, connection_id) = path.into_inner();
    let app = visible_app(&state, &admin, &id).await?;
    let conn = state
        .store
        .connection(&herald_core::ConnectionId::from_stored(
            connection_id.clone(),
        ))
        .await?
        .filter(|c| c.app_id == app.id && c.uid == uid)
        .ok_or_else(|| ApiError::NotFound(format!("connection {connection_id}")))?;
    if crate::disconnect::disconnect(&state, vec![conn]).await? == 0 {
        return Err(ApiError::NotFound(format!("connection {connection_id}")));
    }
    audit(
        &state,
        &admin,
        "connections.delete",
        Some(&app.id),
        Some(&connection_id),
        Some(json!({"uid": uid})),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
struct Filter {
    /// A provider id or alias.
    provider: Option<String>,
    /// `active`, `needs_reauth` or `revoked`.
    status: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// An app's connections, filtered.
#[utoipa::path(
    operation_id = "admin_connections_list",
    tag = "admin: connections",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id"), Filter),
    responses(
        (status = 200, description = "A page of connections", body = AppConnectionPage),
        (status = 400, description = "Invalid filter or `limit`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app (or not one this operator manages)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/apps/{id}/connections")]
async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    id: Path<String>,
    q: Query<Filter>,
) -> Result<HttpResponse, ApiError> {
    let app = visible_app(&state, &admin, &id).await?;
    let limit = super::limit(q.limit)?;
    let provider = super::provider_filter(&state, q.provider.as_deref())?;
    let status = match &q.status {
        Some(s) => Some(
            ConnectionStatus::parse(s)
                .ok_or_else(|| ApiError::field("status", "one of active, needs_reauth, revoked"))?,
        ),
        None => None,
    };
    let rows = state
        .store
        .list_app_connections(&app.app_id(), provider, status, q.cursor.as_deref(), limit)
        .await?;
    let next = super::next_cursor(&rows, limit, |c| &c.id);
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(ConnectionView::from(c)).unwrap_or_default();
            v["uid"] = json!(c.uid);
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"items": items, "next_cursor": next})))
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(of_user).service(remove).service(list);
}
