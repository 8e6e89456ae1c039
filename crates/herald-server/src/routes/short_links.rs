//! `GET /s/{code}`: follow a short link (count the click, then redirect), only
//! to a URL on the owning app's domains when it names some.

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
        (status = 404, description = "No such short link, or its URL is outside the app's domains", body = Problem, content_type = "application/problem+json"),
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
    // Links made before the app named its domains (or changed them) lead
    // nowhere outside them: Herald's host never redirects off the site.
    let link = state.store.short_link(&code).await?.ok_or_else(not_found)?;
    let domains = state
        .store
        .app(&herald_core::AppId::from_stored(link.app_id.clone()))
        .await?
        .map(|a| a.domains())
        .unwrap_or_default();
    if herald_core::domains::check_link(&domains, &link.url).is_err() {
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
