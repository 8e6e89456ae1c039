//! `/admin/v1/apps/{id}/providers/{provider}`: an app's provider settings
//! (enabled, client credentials, API bases, options). The client secret is
//! stored encrypted and never returned (`client_secret_set`).

use super::auth::{Admin, Role};
use super::{audit, visible_app};
use crate::AppState;
use crate::error::ApiError;
use crate::json;
use crate::openapi::{Problem, ProviderConfigList, ProviderConfigView};
use actix_web::web::{Bytes, Path};
use actix_web::{HttpResponse, delete, get, put, web};
use herald_core::{OutboundError, OutboundPolicy, Provider, Secret, ValidationErrors};
use herald_store::entities::provider_configs;
use herald_store::repo::provider_configs::ProviderConfigInput;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

fn view(c: &provider_configs::Model) -> Value {
    json!({
        "provider": c.provider,
        "enabled": c.enabled,
        "client_id": c.client_id,
        "client_secret_set": c.client_secret_enc.is_some(),
        "api_base": c.api_base,
        "consent_base": c.consent_base,
        "options": serde_json::from_str::<Value>(&c.options).unwrap_or(json!({})),
    })
}

/// An app's settings for one provider (replaces the previous ones).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PutConfig {
    enabled: bool,
    /// At most 500 characters.
    client_id: Option<String>,
    /// Stored encrypted, never returned (at most 2000 characters; empty: none).
    client_secret: Option<String>,
    /// An absolute http(s) URL, refused when the outbound policy refuses its
    /// address (a private one the operator allowed: `admin` role only). With
    /// it the app must give its own `client_id`.
    api_base: Option<String>,
    /// As `api_base`.
    consent_base: Option<String>,
    /// The provider's declared options and their values.
    #[serde(default)]
    options: BTreeMap<String, String>,
}

fn provider(state: &AppState, name: &str) -> Result<Arc<dyn Provider>, ApiError> {
    state
        .registry()
        .get(name)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("provider {name}")))
}

/// Checks each option against what the provider declares.
fn check_options(p: &dyn Provider, options: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (k, v) in options {
        let field = format!("options.{k}");
        let Some(spec) = p.options().iter().find(|o| o.name == k) else {
            let known: Vec<&str> = p.options().iter().map(|o| o.name).collect();
            let message = format!(
                "{} has no option {k:?} (options: {})",
                p.id(),
                known.join(", ")
            );
            return Err(ApiError::unprocessable_field(
                "unknown_option",
                field,
                message,
            ));
        };
        if !spec.values.is_empty() && !spec.values.contains(&v.as_str()) {
            let message = format!("{v:?} is not one of {}", spec.values.join(", "));
            return Err(ApiError::unprocessable_field(
                "invalid_option",
                field,
                message,
            ));
        }
        if v.len() > 500 {
            return Err(ApiError::field(field, "must be at most 500 characters"));
        }
    }
    Ok(())
}

/// An app's base is an outbound target like a webhook URL: refused when the
/// outbound policy refuses it. A private address the operator allowed
/// (`HERALD_ALLOWED_PRIVATE_NETS`) is accepted from the `admin` role only.
/// A name that does not resolve now is accepted; every call checks it again.
async fn check_base(state: &AppState, admin: &Admin, url: &url::Url) -> Result<(), String> {
    let policy = match admin.0.role {
        Role::Admin => state.dispatcher.policy().clone(),
        Role::AppAdmin => OutboundPolicy::default(),
    };
    match policy.check_url(url).await {
        Ok(()) | Err(OutboundError::Unresolved(_)) => Ok(()),
        Err(e @ OutboundError::Forbidden(_))
            if admin.0.role == Role::AppAdmin
                && state.dispatcher.policy().check_url(url).await.is_ok() =>
        {
            Err(format!(
                "{e}; only the admin role may set a private address"
            ))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Sets an app's settings for a provider.
#[utoipa::path(
    operation_id = "admin_providers_put",
    tag = "admin: providers",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id"), ("provider" = String, Path, description = "A provider id or alias")),
    request_body(content = PutConfig, content_type = "application/json"),
    responses(
        (status = 200, description = "The settings", body = ProviderConfigView),
        (status = 400, description = "Invalid request, naming each field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app (or not one this operator manages)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_provider`, `unknown_option`, `invalid_option`, or `client_credentials_required` (an app's own base needs its own `client_id`), naming the field", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/apps/{id}/providers/{provider}")]
async fn put_config(
    state: web::Data<AppState>,
    admin: Admin,
    path: Path<(String, String)>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let app = visible_app(&state, &admin, &id).await?;
    // Configuring a provider this build lacks is a request error, not a lookup.
    let p = provider(&state, &name).map_err(|_| {
        ApiError::unprocessable_field(
            "unknown_provider",
            "provider",
            format!("unknown provider {name:?}"),
        )
    })?;
    let input: PutConfig = json::parse(&body)?;
    let mut errs = ValidationErrors::default();
    for (field, v) in [
        ("api_base", &input.api_base),
        ("consent_base", &input.consent_base),
    ] {
        let Some(u) = v else { continue };
        match herald_core::action::check_http_url(u) {
            Ok(url) => {
                if let Err(m) = check_base(&state, &admin, &url).await {
                    errs.push(field, m);
                }
            }
            Err(m) => errs.push(field, m),
        }
    }
    if input.client_id.as_ref().is_some_and(|c| c.len() > 500) {
        errs.push("client_id", "must be at most 500 characters");
    }
    if input.client_secret.as_ref().is_some_and(|c| c.len() > 2000) {
        errs.push("client_secret", "must be at most 2000 characters");
    }
    errs.into_result().map_err(ApiError::Validation)?;
    let own_base = input.api_base.is_some() || input.consent_base.is_some();
    if own_base
        && herald_dispatch::uses_client_credentials(p.as_ref())
        && input.client_id.as_deref().is_none_or(str::is_empty)
    {
        // The operator's client credentials go only to the operator's bases.
        return Err(ApiError::unprocessable_field(
            "client_credentials_required",
            "client_id",
            format!(
                "an app that sets its own api_base or consent_base must give its own {} client_id (and client_secret)",
                p.id()
            ),
        ));
    }
    check_options(p.as_ref(), &input.options)?;
    let row = state
        .store
        .put_provider_config(
            &app.app_id(),
            p.id(),
            ProviderConfigInput {
                enabled: input.enabled,
                client_id: input.client_id,
                client_secret: input
                    .client_secret
                    .filter(|s| !s.is_empty())
                    .map(Secret::from),
                api_base: input.api_base,
                consent_base: input.consent_base,
                options: input.options,
            },
        )
        .await?;
    audit(
        &state,
        &admin,
        "providers.put",
        Some(&app.id),
        Some(p.id()),
        Some(json!({"enabled": row.enabled})),
    )
    .await?;
    Ok(HttpResponse::Ok().json(view(&row)))
}

/// An app's settings for a provider.
#[utoipa::path(
    operation_id = "admin_providers_read",
    tag = "admin: providers",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id"), ("provider" = String, Path, description = "A provider id or alias")),
    responses(
        (status = 200, description = "The settings", body = ProviderConfigView),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app, unknown provider, or no settings for it", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/apps/{id}/providers/{provider}")]
async fn read(
    state: web::Data<AppState>,
    admin: Admin,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let app = visible_app(&state, &admin, &id).await?;
    let p = provider(&state, &name)?;
    let row = state
        .store
        .provider_config_row(&app.app_id(), p.id())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{} configuration of this app", p.id())))?;
    Ok(HttpResponse::Ok().json(view(&row)))
}

/// An app's settings for every configured provider.
#[utoipa::path(
    operation_id = "admin_providers_list",
    tag = "admin: providers",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id")),
    responses(
        (status = 200, description = "The settings", body = ProviderConfigList),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app (or not one this operator manages)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/apps/{id}/providers")]
async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = visible_app(&state, &admin, &id).await?;
    let rows = state.store.list_provider_configs(&app.app_id()).await?;
    Ok(HttpResponse::Ok().json(json!({"items": rows.iter().map(view).collect::<Vec<_>>()})))
}

/// Removes an app's settings for a provider.
#[utoipa::path(
    operation_id = "admin_providers_remove",
    tag = "admin: providers",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id"), ("provider" = String, Path, description = "A provider id or alias")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app, unknown provider, or no settings for it", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/apps/{id}/providers/{provider}")]
async fn remove(
    state: web::Data<AppState>,
    admin: Admin,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let app = visible_app(&state, &admin, &id).await?;
    let p = provider(&state, &name)?;
    if !state
        .store
        .delete_provider_config(&app.app_id(), p.id())
        .await?
    {
        return Err(ApiError::NotFound(format!(
            "{} configuration of this app",
            p.id()
        )));
    }
    audit(
        &state,
        &admin,
        "providers.delete",
        Some(&app.id),
        Some(p.id()),
        None,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(put_config)
        .service(read)
        .service(list)
        .service(remove);
}
