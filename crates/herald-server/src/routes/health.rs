//! Liveness (`/healthz`: the process answers), readiness (`/readyz`: the
//! database answers and migrations are applied) and Prometheus `/metrics`.

use crate::AppState;
use crate::error::ApiError;
use crate::openapi::{Problem, Status};
use actix_web::{HttpResponse, get, web};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;

/// Liveness: the process answers.
#[utoipa::path(
    operation_id = "healthz",
    tag = "health",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Status))
)]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the database answers and the migrations are applied.
#[utoipa::path(
    operation_id = "readyz",
    tag = "health",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = Status),
        (status = 503, description = "Not ready (database unreachable or migrations pending)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .store
        .readiness()
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}

/// Prometheus metrics (text exposition format 0.0.4).
#[utoipa::path(
    operation_id = "metrics",
    tag = "health",
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 404, description = "Metrics are disabled (empty body)"),
    )
)]
#[get("/metrics")]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    match &state.metrics {
        Some(handle) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(handle.render()),
        None => HttpResponse::NotFound().finish(),
    }
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}
