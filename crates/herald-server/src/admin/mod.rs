//! The admin API (`/admin/v1`): operators manage apps, their keys, provider
//! credentials, templates, users' connections and deliveries. One module per
//! resource; every mutating call is written to the audit log.

pub mod actions;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod connections;
pub mod keys;
pub mod providers;
pub mod templates;

use crate::AppState;
use crate::error::ApiError;
use auth::Admin;
use herald_core::AppId;
use herald_store::entities::apps as app_rows;
use herald_store::repo::audit::AuditEntry;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

/// `?limit=&cursor=` of every list.
#[derive(Deserialize, IntoParams)]
pub struct Page {
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl Page {
    pub fn limit(&self) -> Result<u64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
            Some(_) => Err(ApiError::field(
                "limit",
                format!("must be 1 to {MAX_LIMIT}"),
            )),
        }
    }
}

/// A `limit` query value checked like [`Page::limit`].
pub fn limit(limit: Option<u64>) -> Result<u64, ApiError> {
    Page {
        limit,
        cursor: None,
    }
    .limit()
}

/// The cursor of the next page: the last row's id when the page is full.
pub fn next_cursor<T>(rows: &[T], limit: u64, id: impl Fn(&T) -> &str) -> Option<String> {
    (rows.len() as u64 == limit)
        .then(|| rows.last().map(|r| id(r).to_owned()))
        .flatten()
}

/// A `provider` filter as a canonical id (aliases accepted); 400 naming it.
pub fn provider_filter(
    state: &AppState,
    name: Option<&str>,
) -> Result<Option<&'static str>, ApiError> {
    name.map(|p| {
        state
            .registry()
            .canonical(p)
            .ok_or_else(|| ApiError::field("provider", format!("unknown provider {p:?}")))
    })
    .transpose()
}

/// The app, if it exists and this operator may see it; otherwise 404.
pub async fn visible_app(
    state: &AppState,
    admin: &Admin,
    id: &str,
) -> Result<app_rows::Model, ApiError> {
    let not_found = || ApiError::NotFound(format!("app {id}"));
    let app_id = AppId::parse(id).ok_or_else(not_found)?;
    if !admin.sees(app_id.as_str()) {
        return Err(not_found());
    }
    state.store.app(&app_id).await?.ok_or_else(not_found)
}

/// Writes an audit entry for a mutating call (identifiers only, no secrets).
pub async fn audit(
    state: &AppState,
    admin: &Admin,
    action: &str,
    app: Option<&str>,
    target: Option<&str>,
    detail: Option<serde_json::Value>,
) -> Result<(), ApiError> {
    state
        .store
        .record_audit(AuditEntry {
            actor: &admin.0.sub,
            role: admin.0.role.as_str(),
            action,
            app_id: app,
            target,
            detail,
        })
        .await?;
    Ok(())
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/admin/v1")
            .configure(apps::configure)
            .configure(keys::configure)
            .configure(providers::configure)
            .configure(templates::configure)
            .configure(connections::configure)
            .configure(actions::configure)
            .configure(audit::configure),
    );
}
