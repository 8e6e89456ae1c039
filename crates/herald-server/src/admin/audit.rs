//! `GET /admin/v1/audit`: the audit log, newest first; an app-admin sees only
//! its apps' entries.

use super::auth::Admin;
use crate::AppState;
use crate::error::ApiError;
use crate::openapi::{AuditPage, Problem};
use crate::views::iso;
use actix_web::web::Query;
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

#[derive(Deserialize, IntoParams)]
struct Filter {
    /// Only this app's entries.
    app_id: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The audit log, newest first; an app-admin sees only its apps' entries.
#[utoipa::path(
    operation_id = "admin_audit_list",
    tag = "admin: audit",
    security(("admin_jwt" = [])),
    params(Filter),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 400, description = "Invalid `limit`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/audit")]
async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    q: Query<Filter>,
) -> Result<HttpResponse, ApiError> {
    let limit = super::limit(q.limit)?;
    if let Some(a) = &q.app_id
        && !admin.sees(a)
    {
        return Ok(HttpResponse::Ok().json(json!({"items": [], "next_cursor": null})));
    }
    let rows = state
        .store
        .list_audit(
            admin.scope(),
            q.app_id.as_deref(),
            q.cursor.as_deref(),
            limit,
        )
        .await?;
    let next = super::next_cursor(&rows, limit, |r| &r.id);
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "at": iso(r.at),
                "actor": r.actor,
                "role": r.role,
                "action": r.action,
                "app_id": r.app_id,
                "target": r.target,
                "detail": r.detail.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"items": items, "next_cursor": next})))
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list);
}
