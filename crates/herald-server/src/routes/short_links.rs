//! `GET /s/{code}`: follow a short link (count the click, then redirect).

use crate::AppState;
use crate::error::ApiError;
use crate::openapi::Problem;
use actix_web::{HttpRequest, HttpResponse, get, web};
use utoipa_actix_web::service_config::ServiceConfig;

/// Follows a short link: counts the click (with the `Referer`), then redirects.
#[utoipa::path(
    operation_id = "short_links_follow",
    tag = "short links",
    params(("code" = String, Path, description = "Up to 32 ASCII letters and digits")),
    responses(
        (status = 302, description = "To the link's URL", headers(
            ("Location" = String, description = "The link's URL"),
            ("Cache-Control" = String, description = "`no-store`"),
        )),
        (status = 404, description = "No such short link", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/s/{code}")]
async fn follow(
    state: web::Data<AppState>,
    req: HttpRequest,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound(format!("short link {code}"));
    if code.len() > 32 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(not_found());
    }
    let referrer = req
        .headers()
        .get("referer")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let link = state
        .store
        .follow_short_link(&code, referrer)
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Found()
        .insert_header(("Location", link.url))
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(follow);
}
