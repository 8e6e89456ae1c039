//! `/v1/users/{uid}/connections`: import a credential the site already holds,
//! list a user's connected accounts (never their tokens), disconnect.

use crate::AppState;
use crate::auth::AuthedApp;
use crate::error::ApiError;
use crate::json;
use crate::views::ConnectionView;
use actix_web::web::{Bytes, Path, Query};
use actix_web::{HttpResponse, delete, get, put, web};
use herald_core::provider::ConnectionInput;
use herald_core::{Secret, ValidationErrors};
use herald_store::ConnectionUpsert;
use herald_store::repo::app_keys::Permission;
use serde::Deserialize;
use std::collections::HashMap;

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

/// `expires_at`: RFC 3339 or Unix seconds.
#[derive(Deserialize)]
#[serde(untagged)]
enum Expiry {
    Seconds(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportConnection {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_at: Option<Expiry>,
    provider_uid: Option<String>,
    display_name: Option<String>,
    url: Option<String>,
    secret: Option<String>,
}

fn expiry_ms(e: Option<Expiry>) -> Result<Option<i64>, ApiError> {
    let bad = || ApiError::field("expires_at", "must be an RFC 3339 time or Unix seconds");
    Ok(match e {
        None => None,
        Some(Expiry::Seconds(s)) => Some(s.checked_mul(1000).ok_or_else(bad)?),
        Some(Expiry::Text(t)) => {
            let at =
                time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| bad())?;
            Some((at.unix_timestamp_nanos() / 1_000_000) as i64)
        }
    })
}

fn bounded(errs: &mut ValidationErrors, field: &str, v: &Option<String>, max: usize) {
    if v.as_ref().is_some_and(|s| s.len() > max) {
        errs.push(field, format!("must be at most {max} bytes"));
    }
}

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

#[get("/v1/users/{uid}/connections")]
async fn list(
    state: web::Data<AppState>,
    auth: AuthedApp,
    uid: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = auth.require(Permission::Read)?.clone();
    check_uid(&uid)?;
    let all = state.store.connections_of(&app.app_id(), &uid).await?;
    let views: Vec<ConnectionView> = all.iter().map(ConnectionView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "connections": views })))
}

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
    let removed = state
        .store
        .delete_connections(
            &app.app_id(),
            &uid,
            provider,
            query.get("provider_uid").map(String::as_str),
        )
        .await?;
    if removed == 0 {
        return Err(ApiError::NotFound(format!(
            "connection to {provider} for this user"
        )));
    }
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(import).service(list).service(disconnect);
}
