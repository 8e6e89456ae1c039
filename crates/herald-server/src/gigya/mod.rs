//! The Gigya Socialize-compatible surface: `/<namespace>.<method>` by GET or
//! POST, form or query parameters, Gigya's envelope and error codes, and every
//! Gigya authentication mode. Existing Gigya client code works unchanged.

pub mod auth;
pub mod envelope;
pub mod errors;
pub mod methods;
pub mod params;
pub mod signature;
pub mod user_action;

use crate::AppState;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse, web};
use envelope::Format;
use errors::{Code, GigyaError};
use params::Params;
use serde_json::Map;

async fn handle(state: Data<AppState>, req: HttpRequest, body: Bytes) -> HttpResponse {
    let method = req
        .match_info()
        .get("method")
        .unwrap_or_default()
        .to_owned();
    let too_large = body.len() > params::MAX_PARAMS_BYTES
        || req.query_string().len() > params::MAX_PARAMS_BYTES;
    let is_form = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let p = Params::parse(
        req.query_string(),
        (is_form && !too_large).then_some(&body[..]),
    );
    let format = match Format::from_params(&p) {
        Ok(f) => f,
        Err((f, e)) => return f.respond(Err((e, Map::new()))),
    };
    if too_large {
        return format.respond(Err((
            GigyaError::new(Code::RequestTooLarge, "Request entity too large"),
            Map::new(),
        )));
    }
    let Some(permission) = methods::permission(&method) else {
        return format.respond(Err((
            GigyaError::new(Code::InvalidMethod, format!("Invalid API method: {method}")),
            Map::new(),
        )));
    };
    let caller = match auth::authenticate(&state, &req, &p, &method).await {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(method = %method, code = e.code.number(), details = %e.details, "Gigya call refused");
            return format.respond(Err((e, Map::new())));
        }
    };
    if let Err(e) = caller.require(permission) {
        return format.respond(Err((e, Map::new())));
    }
    let answer = methods::call(&state, &caller, &method, &p).await;
    if let Err((e, _)) = &answer {
        tracing::info!(method = %method, code = e.code.number(), details = %e.details, "Gigya call failed");
    }
    format.respond(answer)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/{method:[A-Za-z0-9]+\\.[A-Za-z0-9]+}")
            .route(web::get().to(handle))
            .route(web::post().to(handle)),
    );
}
