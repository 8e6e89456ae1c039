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
use utoipa_actix_web::service_config::ServiceConfig;

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

/// The method parameter's description in the document.
const METHOD_DOC: &str = "`<namespace>.<method>` (letters and digits on each side of the dot), \
     such as `socialize.publishUserAction`, `socialize.setStatus`, `socialize.shortenURL`, \
     `socialize.notifyLogin`, `socialize.removeConnection`, `socialize.deleteAccount`, \
     `socialize.getUserInfo`; another name answers `405001`";

/// Calls a Gigya Socialize method with query parameters.
#[utoipa::path(
    operation_id = "gigya_get",
    get,
    path = "/{method}",
    tag = "gigya",
    params(
        ("method" = String, Path, pattern = r"^[A-Za-z0-9]+\.[A-Za-z0-9]+$", description = METHOD_DOC),
        ("params" = Option<crate::openapi::GigyaParams>, Query, style = Form, explode, description = "The call's parameters (free-form)"),
        ("Authorization" = Option<String>, Header, description = "`Bearer <JWT RS256>`, `kid` = a userKey with a registered public key"),
    ),
    responses(
        (status = 200, description = "The envelope: `errorCode` 0, or an error unless `httpStatusCodes=true`", body = crate::openapi::GigyaEnvelope,
            content((crate::openapi::GigyaEnvelope = "application/json"), (String = "application/javascript"))),
        (status = 400, description = "With `httpStatusCodes=true`: missing or invalid parameter, unknown api key, site domain", body = crate::openapi::GigyaEnvelope),
        (status = 403, description = "With `httpStatusCodes=true`: refused authentication or permission", body = crate::openapi::GigyaEnvelope),
        (status = 405, description = "With `httpStatusCodes=true`: unknown method (`405001`)", body = crate::openapi::GigyaEnvelope),
        (status = 413, description = "With `httpStatusCodes=true`: parameters too large (`413001`)", body = crate::openapi::GigyaEnvelope),
        (status = 500, description = "With `httpStatusCodes=true`: server or provider error", body = crate::openapi::GigyaEnvelope),
    )
)]
#[allow(dead_code)] // documents `handle` for GET
fn gigya_get() {}

/// Calls a Gigya Socialize method with form parameters (merged with the
/// query string's).
#[utoipa::path(
    operation_id = "gigya_post",
    post,
    path = "/{method}",
    tag = "gigya",
    params(
        ("method" = String, Path, pattern = r"^[A-Za-z0-9]+\.[A-Za-z0-9]+$", description = METHOD_DOC),
        ("Authorization" = Option<String>, Header, description = "`Bearer <JWT RS256>`, `kid` = a userKey with a registered public key"),
    ),
    request_body(content = Option<crate::openapi::GigyaParams>, content_type = "application/x-www-form-urlencoded", description = "The call's parameters (free-form)"),
    responses(
        (status = 200, description = "The envelope: `errorCode` 0, or an error unless `httpStatusCodes=true`",
            content((crate::openapi::GigyaEnvelope = "application/json"), (String = "application/javascript"))),
        (status = 400, description = "With `httpStatusCodes=true`: missing or invalid parameter, unknown api key, site domain", body = crate::openapi::GigyaEnvelope),
        (status = 403, description = "With `httpStatusCodes=true`: refused authentication or permission", body = crate::openapi::GigyaEnvelope),
        (status = 405, description = "With `httpStatusCodes=true`: unknown method (`405001`)", body = crate::openapi::GigyaEnvelope),
        (status = 413, description = "With `httpStatusCodes=true`: parameters too large (`413001`)", body = crate::openapi::GigyaEnvelope),
        (status = 500, description = "With `httpStatusCodes=true`: server or provider error", body = crate::openapi::GigyaEnvelope),
    )
)]
#[allow(dead_code)] // documents `handle` for POST
fn gigya_post() {}

/// `GET|POST /{namespace}.{method}`: the resource and its documentation.
struct Surface;

impl actix_web::dev::HttpServiceFactory for Surface {
    fn register(self, config: &mut actix_web::dev::AppService) {
        web::resource("/{method:[A-Za-z0-9]+\\.[A-Za-z0-9]+}")
            .route(web::get().to(handle))
            .route(web::post().to(handle))
            .register(config);
    }
}

impl utoipa_actix_web::OpenApiFactory for Surface {
    fn paths(&self) -> utoipa::openapi::path::Paths {
        let mut paths = __path_gigya_get.paths();
        paths.merge(__path_gigya_post.paths());
        paths
    }

    fn schemas(
        &self,
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        __path_gigya_get.schemas(schemas);
        __path_gigya_post.schemas(schemas);
    }
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(Surface);
}
