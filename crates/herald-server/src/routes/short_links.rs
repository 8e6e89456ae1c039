//! `GET /s/{code}`: follow a short link (count the click, then redirect).

use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpRequest, HttpResponse, get, web};

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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(follow);
}
