//! `/admin/v1/apps`: create (api key + secret shown once), list, read,
//! update, delete, and rotate the secret with a grace period.

use super::auth::Admin;
use super::{Page, audit, visible_app};
use crate::AppState;
use crate::error::ApiError;
use crate::json;
use crate::openapi::{AppPage, CreatedApp, Problem, RotatedSecret};
use crate::views::iso;
use actix_web::web::{Bytes, Path, Query};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use herald_core::ValidationErrors;
use herald_store::entities::apps;
use herald_store::{AppPatch, NewApp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub const DEFAULT_GRACE_SECONDS: u64 = 86_400;
const MAX_DOMAINS: usize = 50;

/// An app (its secret is never shown here).
#[derive(Serialize, ToSchema)]
pub struct AppView {
    pub id: String,
    pub name: String,
    pub api_key: String,
    #[schema(required = true)]
    pub site_url: Option<String>,
    /// Hosts that links in an action may point to (empty: any).
    pub domains: Vec<String>,
    /// `null`: every provider of this build.
    #[schema(required = true)]
    pub enabled_providers: Option<Vec<String>>,
    pub disabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&apps::Model> for AppView {
    fn from(a: &apps::Model) -> Self {
        AppView {
            id: a.id.clone(),
            name: a.name.clone(),
            api_key: a.api_key.clone(),
            site_url: a.site_url.clone(),
            domains: a.domains(),
            enabled_providers: a.enabled_providers(),
            disabled: a.disabled,
            created_at: iso(a.created_at),
            updated_at: iso(a.updated_at),
        }
    }
}

/// A host name as a domain entry: lowercase letters, digits, `-` and dots.
pub fn check_domain(d: &str) -> Result<String, String> {
    let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(d)
    } else {
        Err("must be a host name such as example.com".into())
    }
}

fn check_name(errs: &mut ValidationErrors, name: &str) {
    if name.trim().is_empty() || name.chars().count() > 200 {
        errs.push("name", "must be 1 to 200 characters");
    }
}

fn check_site_url(errs: &mut ValidationErrors, url: &Option<String>) {
    if let Some(u) = url
        && let Err(m) = herald_core::action::check_http_url(u)
    {
        errs.push("site_url", m);
    }
}

fn check_domains(errs: &mut ValidationErrors, domains: &[String]) -> Vec<String> {
    if domains.len() > MAX_DOMAINS {
        errs.push("domains", format!("at most {MAX_DOMAINS} domains"));
    }
    domains
        .iter()
        .enumerate()
        .filter_map(|(i, d)| match check_domain(d) {
            Ok(d) => Some(d),
            Err(m) => {
                errs.push(format!("domains[{i}]"), m);
                None
            }
        })
        .collect()
}

fn check_providers(state: &AppState, errs: &mut ValidationErrors, names: &[String]) -> Vec<String> {
    names
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match state.registry().canonical(p) {
            Some(id) => Some(id.to_owned()),
            None => {
                errs.push(
                    format!("enabled_providers[{i}]"),
                    format!("unknown provider {p:?}"),
                );
                None
            }
        })
        .collect()
}

/// A new app.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateApp {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// An absolute http(s) URL.
    #[schema(format = "uri")]
    site_url: Option<String>,
    /// At most 50 host names such as `example.com`.
    #[serde(default)]
    #[schema(max_items = 50)]
    domains: Vec<String>,
    /// Provider ids or aliases; absent: every provider.
    enabled_providers: Option<Vec<String>>,
}

/// Creates an app; the answer shows its secret, this once (admin role).
#[utoipa::path(
    operation_id = "admin_apps_create",
    tag = "admin: apps",
    security(("admin_jwt" = [])),
    request_body(content = CreateApp, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = CreatedApp),
        (status = 400, description = "Invalid request, naming each field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs the admin role", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/apps")]
async fn create(
    state: web::Data<AppState>,
    admin: Admin,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    admin.require_admin()?;
    let input: CreateApp = json::parse(&body)?;
    let mut errs = ValidationErrors::default();
    check_name(&mut errs, &input.name);
    check_site_url(&mut errs, &input.site_url);
    let domains = check_domains(&mut errs, &input.domains);
    let providers = input
        .enabled_providers
        .as_ref()
        .map(|p| check_providers(&state, &mut errs, p));
    errs.into_result().map_err(ApiError::Validation)?;
    let created = state
        .store
        .create_app(NewApp {
            name: input.name.trim().to_owned(),
            site_url: input.site_url,
            domains,
            enabled_providers: providers,
        })
        .await?;
    audit(
        &state,
        &admin,
        "apps.create",
        Some(&created.app.id),
        None,
        None,
    )
    .await?;
    let mut body = serde_json::to_value(AppView::from(&created.app)).map_err(ApiError::internal)?;
    body["secret"] = json!(created.secret.expose());
    Ok(HttpResponse::Created().json(body))
}

/// The apps this operator manages.
#[utoipa::path(
    operation_id = "admin_apps_list",
    tag = "admin: apps",
    security(("admin_jwt" = [])),
    params(Page),
    responses(
        (status = 200, description = "A page of apps", body = AppPage),
        (status = 400, description = "Invalid `limit`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/apps")]
async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    page: Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let rows = state
        .store
        .list_apps(admin.scope(), page.cursor.as_deref(), limit)
        .await?;
    let next = super::next_cursor(&rows, limit, |a| &a.id);
    let items: Vec<AppView> = rows.iter().map(AppView::from).collect();
    Ok(HttpResponse::Ok().json(json!({"items": items, "next_cursor": next})))
}

/// One app.
#[utoipa::path(
    operation_id = "admin_apps_read",
    tag = "admin: apps",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id")),
    responses(
        (status = 200, description = "The app", body = AppView),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app (or not one this operator manages)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/apps/{id}")]
async fn read(
    state: web::Data<AppState>,
    admin: Admin,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = visible_app(&state, &admin, &id).await?;
    Ok(HttpResponse::Ok().json(AppView::from(&app)))
}

/// Changes to an app: absent fields stay; `null` clears `site_url` or
/// `enabled_providers`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateApp {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// An absolute http(s) URL.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = "uri")]
    site_url: Option<Option<String>>,
    /// At most 50 host names such as `example.com`.
    #[schema(max_items = 50)]
    domains: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    enabled_providers: Option<Option<Vec<String>>>,
    disabled: Option<bool>,
}

/// Tells `"field": null` (clear it) from a missing field (leave it).
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Updates an app.
#[utoipa::path(
    operation_id = "admin_apps_update",
    tag = "admin: apps",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id")),
    request_body(content = UpdateApp, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated app", body = AppView),
        (status = 400, description = "Invalid request, naming each field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app (or not one this operator manages)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/apps/{id}")]
async fn update(
    state: web::Data<AppState>,
    admin: Admin,
    id: Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let app = visible_app(&state, &admin, &id).await?;
    let input: UpdateApp = json::parse(&body)?;
    let mut errs = ValidationErrors::default();
    if let Some(n) = &input.name {
        check_name(&mut errs, n);
    }
    if let Some(u) = &input.site_url {
        check_site_url(&mut errs, u);
    }
    let domains = input.domains.as_ref().map(|d| check_domains(&mut errs, d));
    let providers = input
        .enabled_providers
        .as_ref()
        .map(|p| p.as_ref().map(|p| check_providers(&state, &mut errs, p)));
    errs.into_result().map_err(ApiError::Validation)?;
    let changed: Vec<&str> = [
        ("name", input.name.is_some()),
        ("site_url", input.site_url.is_some()),
        ("domains", domains.is_some()),
        ("enabled_providers", providers.is_some()),
        ("disabled", input.disabled.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    let updated = state
        .store
        .update_app(
            &app.app_id(),
            AppPatch {
                name: input.name.map(|n| n.trim().to_owned()),
                site_url: input.site_url,
                domains,
                enabled_providers: providers,
                disabled: input.disabled,
            },
        )
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("app {id}")))?;
    audit(
        &state,
        &admin,
        "apps.update",
        Some(&app.id),
        None,
        Some(json!({"fields": changed})),
    )
    .await?;
    Ok(HttpResponse::Ok().json(AppView::from(&updated)))
}

/// Deletes an app with its keys, connections, actions and deliveries.
#[utoipa::path(
    operation_id = "admin_apps_remove",
    tag = "admin: apps",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app (or not one this operator manages)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/apps/{id}")]
async fn remove(
    state: web::Data<AppState>,
    admin: Admin,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = visible_app(&state, &admin, &id).await?;
    let (actions, deliveries) = state
        .store
        .delete_app(&app.app_id())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("app {id}")))?;
    audit(
        &state,
        &admin,
        "apps.delete",
        Some(&app.id),
        None,
        Some(json!({"name": app.name, "actions": actions, "deliveries": deliveries})),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An empty body is the same as `{}`.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct Rotate {
    /// How long the previous secret stays valid (default 86400, at most 2592000).
    #[schema(maximum = 2592000)]
    grace_seconds: Option<u64>,
}

/// Rotates the app secret; the previous one stays valid for the grace period.
#[utoipa::path(
    operation_id = "admin_apps_rotate",
    tag = "admin: apps",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id")),
    request_body(content = Option<Rotate>, content_type = "application/json"),
    responses(
        (status = 200, description = "The new secret, shown this once", body = RotatedSecret),
        (status = 400, description = "Invalid request, naming each field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app (or not one this operator manages)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/apps/{id}/secret/rotate")]
async fn rotate(
    state: web::Data<AppState>,
    admin: Admin,
    id: Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let app = visible_app(&state, &admin, &id).await?;
    let input: Rotate = if body.iter().all(u8::is_ascii_whitespace) {
        Rotate::default()
    } else {
        json::parse(&body)?
    };
    let grace = input.grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
    if grace > 30 * 86_400 {
        return Err(ApiError::field(
            "grace_seconds",
            "must be at most 2592000 (30 days)",
        ));
    }
    let (secret, until) = state
        .store
        .rotate_app_secret(&app.app_id(), (grace * 1000) as i64)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("app {id}")))?;
    audit(
        &state,
        &admin,
        "apps.rotate_secret",
        Some(&app.id),
        None,
        Some(json!({"grace_seconds": grace})),
    )
    .await?;
    Ok(HttpResponse::Ok()
        .json(json!({"secret": secret.expose(), "previous_valid_until": iso(until)})))
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(read)
        .service(update)
        .service(remove)
        .service(rotate);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_host_names() {
        assert_eq!(
            check_domain("News.Example.com.").unwrap(),
            "news.example.com"
        );
        for bad in [
            "",
            "exa mple.com",
            "http://e.com",
            "e.com/x",
            "-e.com",
            "a..b",
            "e.com:80",
        ] {
            assert!(check_domain(bad).is_err(), "{bad}");
        }
    }
}
