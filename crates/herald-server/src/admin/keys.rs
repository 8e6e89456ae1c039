//! `/admin/v1/apps/{id}/keys`: app keys (Gigya userKeys) — HMAC keys with a
//! secret shown once, or registered RSA public keys — with permissions; revoke.

use super::auth::Admin;
use super::{audit, visible_app};
use crate::AppState;
use crate::error::ApiError;
use crate::json;
use crate::openapi::{CreatedKey, KeyList, Problem};
use crate::views::iso;
use actix_web::web::{Bytes, Path};
use actix_web::{HttpResponse, delete, get, post, web};
use herald_store::entities::app_keys;
use herald_store::repo::app_keys::Permission;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

fn view(k: &app_keys::Model) -> Value {
    json!({
        "user_key": k.user_key,
        "kind": k.kind,
        "permissions": serde_json::from_str::<Value>(&k.permissions).unwrap_or(json!([])),
        "revoked_at": k.revoked_at.map(iso),
        "created_at": iso(k.created_at),
    })
}

/// `hmac`: Herald makes a secret; `rsa`: the caller registers a public key.
#[derive(Deserialize, ToSchema)]
#[schema(as = KeyKind)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum Kind {
    Hmac,
    Rsa,
}

/// A new app key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    kind: Kind,
    /// For `rsa` only: an RSA public key in PEM form.
    public_key_pem: Option<String>,
    /// At least one of `publish`, `connections`, `read`.
    permissions: Vec<String>,
}

fn permissions(names: &[String]) -> Result<Vec<Permission>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::field(
            "permissions",
            "at least one of publish, connections, read",
        ));
    }
    names
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Permission::ALL
                .into_iter()
                .find(|x| x.as_str() == p)
                .ok_or_else(|| {
                    ApiError::field(
                        format!("permissions[{i}]"),
                        format!("unknown permission {p:?} (publish, connections, read)"),
                    )
                })
        })
        .collect()
}

/// Creates an app key; an `hmac` key's secret is shown this once.
#[utoipa::path(
    operation_id = "admin_keys_create",
    tag = "admin: keys",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id")),
    request_body(content = CreateKey, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = CreatedKey),
        (status = 400, description = "Invalid request, naming each field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app (or not one this operator manages)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/apps/{id}/keys")]
async fn create(
    state: web::Data<AppState>,
    admin: Admin,
    id: Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let app = visible_app(&state, &admin, &id).await?;
    let input: CreateKey = json::parse(&body)?;
    let perms = permissions(&input.permissions)?;
    let (key, secret) = match input.kind {
        Kind::Hmac => {
            if input.public_key_pem.is_some() {
                return Err(ApiError::field("public_key_pem", "only for kind rsa"));
            }
            let (k, s) = state.store.create_hmac_key(&app.app_id(), &perms).await?;
            (k, Some(s))
        }
        Kind::Rsa => {
            let pem = input
                .public_key_pem
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| ApiError::field("public_key_pem", "is required for kind rsa"))?;
            if pem.len() > 16 * 1024
                || jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).is_err()
            {
                return Err(ApiError::field(
                    "public_key_pem",
                    "must be an RSA public key in PEM form",
                ));
            }
            (
                state
                    .store
                    .create_rsa_key(&app.app_id(), pem, &perms)
                    .await?,
                None,
            )
        }
    };
    audit(
        &state,
        &admin,
        "keys.create",
        Some(&app.id),
        Some(&key.user_key),
        Some(json!({"kind": key.kind})),
    )
    .await?;
    let mut body = view(&key);
    if let Some(s) = secret {
        body["secret"] = json!(s.expose());
    }
    Ok(HttpResponse::Created().json(body))
}

/// An app's keys (never their secrets).
#[utoipa::path(
    operation_id = "admin_keys_list",
    tag = "admin: keys",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id")),
    responses(
        (status = 200, description = "The keys", body = KeyList),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app (or not one this operator manages)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/apps/{id}/keys")]
async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = visible_app(&state, &admin, &id).await?;
    let keys = state.store.list_keys(&app.app_id()).await?;
    Ok(HttpResponse::Ok().json(json!({"items": keys.iter().map(view).collect::<Vec<_>>()})))
}

/// Revokes an app key.
#[utoipa::path(
    operation_id = "admin_keys_revoke",
    tag = "admin: keys",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id"), ("user_key" = String, Path, description = "The key")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app, or no such key", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/apps/{id}/keys/{user_key}")]
async fn revoke(
    state: web::Data<AppState>,
    admin: Admin,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, user_key) = path.into_inner();
    let app = visible_app(&state, &admin, &id).await?;
    if !state.store.revoke_key(&app.app_id(), &user_key).await? {
        return Err(ApiError::NotFound(format!("key {user_key}")));
    }
    audit(
        &state,
        &admin,
        "keys.revoke",
        Some(&app.id),
        Some(&user_key),
        None,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create).service(list).service(revoke);
}
