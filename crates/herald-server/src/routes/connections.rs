//! `/v1/users/{uid}/connections`: import a credential the site already holds,
//! redeem the connect code a connect flow sent back, list a user's connected
//! accounts (never their tokens), disconnect.

use crate::AppState;
use crate::auth::AuthedApp;
use crate::error::ApiError;
use crate::json;
use crate::openapi::{Problem, UserConnections};
use crate::views::ConnectionView;
use actix_web::web::{Bytes, Path, Query};
use actix_web::{HttpResponse, delete, get, post, put, web};
use herald_core::provider::ConnectionInput;
use herald_core::{Secret, ValidationErrors};
use herald_store::ConnectionUpsert;
use herald_store::repo::app_keys::Permission;
use serde::Deserialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub const MAX_UID_LEN: usize = 256;

pub fn check_uid(uid: &str) -> Result<(), ApiError> {
    if uid.trim().is_empty() || uid.chars().count() > MAX_UID_LEN {
        return Err(ApiError::field(
            "uid",
            format!("must be 1 to {MAX_UID_LEN} characters"),
        ));
    }
    Ok(())
}

/// The 422 for a user who holds the most connections allowed to `provider`.
pub fn too_many_connections(provider: &str, cap: u32) -> ApiError {
    ApiError::unprocessable_field(
        "too_many_connections",
        "provider",
        format!(
            "this user already holds {cap} connections to {provider}, the most allowed; disconnect one first"
        ),
    )
}

/// `expires_at`: RFC 3339 or Unix seconds.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
enum Expiry {
    Seconds(i64),
    Text(String),
}

/// A credential the site already holds. Which fields a provider needs
/// depends on it (a webhook takes `url` and `secret`, an OAuth network
/// `access_token` and `provider_uid`). Tokens are stored encrypted and never
/// returned.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ImportConnection {
    /// At most 8192 bytes.
    access_token: Option<String>,
    /// At most 8192 bytes.
    refresh_token: Option<String>,
    /// When the access token expires: RFC 3339 or Unix seconds.
    expires_at: Option<Expiry>,
    /// The account id on the network (at most 512 bytes).
    provider_uid: Option<String>,
    /// At most 512 bytes.
    display_name: Option<String>,
    /// An absolute http(s) URL (webhook); checked against the outbound policy.
    url: Option<String>,
    /// A signing secret (webhook, at most 1024 bytes).
    secret: Option<String>,
}

fn expiry_ms(e: Option<Expiry>) -> Result<Option<i64>, ApiError> {
    let bad = || {
        ApiError::field(
            "expires_at",
            "must be an RFC 3339 time or Unix seconds, from 1970 to 9999",
        )
    };
    Ok(match e {
        None => None,
        Some(Expiry::Seconds(s)) => {
            Some(herald_core::times::unix_seconds_to_ms(s).ok_or_else(bad)?)
        }
        Some(Expiry::Text(t)) => {
            let at =
                time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| bad())?;
            Some(
                herald_core::times::check_unix_ms(at.unix_timestamp_nanos() / 1_000_000)
                    .ok_or_else(bad)?,
            )
        }
    })
}

fn bounded(errs: &mut ValidationErrors, field: &str, v: &Option<String>, max: usize) {
    if v.as_ref().is_some_and(|s| s.len() > max) {
        errs.push(field, format!("must be at most {max} bytes"));
    }
}

/// Imports (or replaces) a user's connection to a provider.
#[utoipa::path(
    operation_id = "connections_import",
    tag = "connections",
    security(("app_jwt" = [])),
    params(
        ("uid" = String, Path, description = "The site's user id (1 to 256 characters)"),
        ("provider" = String, Path, description = "A provider id or alias"),
    ),
    request_body(content = ImportConnection, content_type = "application/json"),
    responses(
        (status = 200, description = "The connection", body = ConnectionView),
        (status = 400, description = "Invalid request, naming each field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid app token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The app key lacks the connections permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown provider", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A new account past the cap on connections per user and provider (`provider`)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/v1/users/{uid}/connections/{provider}")]
async fn import(
    state: web::Data<AppState>,
    auth: AuthedApp,
    path: Path<(String, String)>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let app = auth.require(Permission::Connections)?.clone();
    let (uid, provider_name) = path.into_inner();
    check_uid(&uid)?;
    let provider = state
        .registry()
        .get(&provider_name)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("provider {provider_name}")))?;
    let input: ImportConnection = json::parse(&body)?;
    let mut errs = ValidationErrors::default();
    bounded(&mut errs, "access_token", &input.access_token, 8192);
    bounded(&mut errs, "refresh_token", &input.refresh_token, 8192);
    bounded(&mut errs, "secret", &input.secret, 1024);
    bounded(&mut errs, "provider_uid", &input.provider_uid, 512);
    bounded(&mut errs, "display_name", &input.display_name, 512);
    errs.into_result().map_err(ApiError::Validation)?;
    let provider_uid = provider
        .check_connection(&ConnectionInput {
            provider_uid: input.provider_uid.clone(),
            has_access_token: input.access_token.as_deref().is_some_and(|t| !t.is_empty()),
            url: input.url.clone(),
            has_secret: input.secret.as_deref().is_some_and(|s| !s.is_empty()),
        })
        .map_err(ApiError::Validation)?;
    if let Some(u) = &input.url {
        let parsed =
            herald_core::action::check_http_url(u).map_err(|m| ApiError::field("url", m))?;
        state
            .dispatcher
            .policy()
            .check_url(&parsed)
            .await
            .map_err(|e| ApiError::field("url", e.to_string()))?;
    }
    let expires_at_ms = expiry_ms(input.expires_at)?;
    let cap = state.config.connections.max_per_user_provider;
    if !state
        .store
        .connection_cap_allows(&app.app_id(), &uid, provider.id(), &[&provider_uid], cap)
        .await?
    {
        return Err(too_many_connections(provider.id(), cap));
    }
    let conn = state
        .store
        .upsert_connection(ConnectionUpsert {
            app_id: app.app_id(),
            uid,
            provider: provider.id().to_owned(),
            provider_uid,
            display_name: input.display_name,
            url: input.url,
            access_token: input
                .access_token
                .filter(|t| !t.is_empty())
                .map(Secret::from),
            refresh_token: input
                .refresh_token
                .filter(|t| !t.is_empty())
                .map(Secret::from),
            secret: input.secret.filter(|s| !s.is_empty()).map(Secret::from),
            expires_at_ms,
        })
        .await?;
    Ok(HttpResponse::Ok().json(ConnectionView::from(&conn)))
}

/// A user's connected accounts (never their tokens).
#[utoipa::path(
    operation_id = "connections_list",
    tag = "connections",
    security(("app_jwt" = [])),
    params(("uid" = String, Path, description = "The site's user id (1 to 256 characters)")),
    responses(
        (status = 200, description = "The user's connections", body = UserConnections),
        (status = 400, description = "Invalid `uid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid app token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The app key lacks the read permission", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/users/{uid}/connections")]
async fn list(
    state: web::Data<AppState>,
    auth: AuthedApp,
    uid: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = auth.require(Permission::Read)?.clone();
    // A reconnect URL carries a live connect token: only for credentials
    // that could mint one.
    let may_connect = auth.require(Permission::Connections).is_ok();
    check_uid(&uid)?;
    let all = state.store.connections_of(&app.app_id(), &uid).await?;
    let mut views = Vec::with_capacity(all.len());
    for c in &all {
        let mut view = ConnectionView::from(c);
        // The user must act: give the site a ready connect flow for them.
        if may_connect
            && c.status() != herald_store::ConnectionStatus::Active
            && state
                .registry()
                .get(&c.provider)
                .is_some_and(|p| p.oauth().is_some())
        {
            let server = state
                .registry()
                .get(&c.provider)
                .filter(|p| p.oauth().is_some_and(|o| o.per_instance))
                .and(c.url.as_deref());
            view.reconnect_url = Some(crate::routes::connect::reconnect_url(
                &state,
                &app.id,
                &uid,
                &c.provider,
                server,
            )?);
        }
        views.push(view);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "connections": views })))
}

/// What the site's backend posts to confirm a connect flow.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RedeemConnection {
    /// The `connect_code` of the flow's redirect back to the site.
    connect_code: String,
}

/// Confirms a connect flow for the user the site expects: the accounts the
/// flow obtained become this user's connections. Codes are single use and
/// valid 10 minutes; one issued for another user or app is not found.
#[utoipa::path(
    operation_id = "connections_redeem",
    tag = "connections",
    security(("app_jwt" = [])),
    params(("uid" = String, Path, description = "The site's user id (1 to 256 characters): the user the site expects to have finished the flow")),
    request_body(content = RedeemConnection, content_type = "application/json"),
    responses(
        (status = 200, description = "The flow's connections (one, or several Facebook Pages), now active", body = UserConnections),
        (status = 400, description = "Invalid request, naming each field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid app token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The app key lacks the connections permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, used or expired code, or one issued for another user or app", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A new account past the cap on connections per user and provider (`provider`); the code stays valid", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/users/{uid}/connections/redeem")]
async fn redeem(
    state: web::Data<AppState>,
    auth: AuthedApp,
    uid: Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let app = auth.require(Permission::Connections)?.clone();
    check_uid(&uid)?;
    let input: RedeemConnection = json::parse(&body)?;
    if input.connect_code.is_empty() || input.connect_code.len() > 256 {
        return Err(ApiError::field(
            "connect_code",
            "must be 1 to 256 characters",
        ));
    }
    let cap = state.config.connections.max_per_user_provider;
    match state
        .store
        .redeem_pending_connections(
            &app.app_id(),
            &uid,
            &input.connect_code,
            herald_store::now_ms(),
            cap,
        )
        .await?
    {
        herald_store::Redeemed::Connected(conns) => {
            let connections = conns.iter().map(ConnectionView::from).collect();
            Ok(HttpResponse::Ok().json(UserConnections { connections }))
        }
        herald_store::Redeemed::NotFound => Err(ApiError::NotFound(
            "connect code (unknown, used, expired, or issued for another user)".into(),
        )),
        herald_store::Redeemed::OverCap { provider } => Err(too_many_connections(&provider, cap)),
    }
}

/// Disconnects a user from a provider (every account there, or one).
#[utoipa::path(
    operation_id = "connections_disconnect",
    tag = "connections",
    security(("app_jwt" = [])),
    params(
        ("uid" = String, Path, description = "The site's user id (1 to 256 characters)"),
        ("provider" = String, Path, description = "A provider id or alias"),
        ("provider_uid" = Option<String>, Query, description = "Only this account on the network"),
    ),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 400, description = "Invalid `uid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid app token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The app key lacks the connections permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown provider, or no such connection", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/v1/users/{uid}/connections/{provider}")]
async fn disconnect(
    state: web::Data<AppState>,
    auth: AuthedApp,
    path: Path<(String, String)>,
    query: Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let app = auth.require(Permission::Connections)?.clone();
    let (uid, provider_name) = path.into_inner();
    check_uid(&uid)?;
    let provider = state
        .registry()
        .canonical(&provider_name)
        .ok_or_else(|| ApiError::NotFound(format!("provider {provider_name}")))?;
    let only = query.get("provider_uid");
    let conns: Vec<_> = state
        .store
        .connections_of(&app.app_id(), &uid)
        .await?
        .into_iter()
        .filter(|c| c.provider == provider && only.is_none_or(|p| *p == c.provider_uid))
        .collect();
    let removed = crate::disconnect::disconnect(&state, conns).await?;
    if removed == 0 {
        return Err(ApiError::NotFound(format!(
            "connection to {provider} for this user"
        )));
    }
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(import)
        .service(redeem)
        .service(list)
        .service(disconnect);
}
