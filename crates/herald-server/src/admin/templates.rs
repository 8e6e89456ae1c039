//! `/admin/v1/apps/{id}/templates/{name}`: named activity templates a publish
//! can refer to with `template_name` — the text, and per provider a text, a
//! Windows Live activity type and a verb. A template that would not expand is
//! refused here, at save time.

use super::auth::Admin;
use super::{audit, visible_app};
use crate::AppState;
use crate::error::ApiError;
use crate::json;
use crate::openapi::{Problem, TemplateList, TemplateView};
use crate::views::iso;
use actix_web::web::{Bytes, Path};
use actix_web::{HttpResponse, delete, get, put, web};
use herald_core::template;
use herald_store::entities::templates;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

/// One provider's choices in a template.
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PerProvider {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
}

/// A template: the text, and per provider id a text, activity type and verb.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PutTemplate {
    /// 1 to 2000 characters; may use `{actor}`, `{action}` and the action's fields.
    text: String,
    #[serde(default)]
    per_provider: BTreeMap<String, PerProvider>,
}

fn view(t: &templates::Model) -> Value {
    json!({
        "name": t.name,
        "text": t.text,
        "per_provider": serde_json::from_str::<Value>(&t.per_provider).unwrap_or(json!({})),
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
    })
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            "name",
            "1 to 100 of letters, digits, _ - .",
        ))
    }
}

fn check_text(field: &str, text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() || text.chars().count() > 2000 {
        return Err(ApiError::field(field, "must be 1 to 2000 characters"));
    }
    template::check_saved(text).map_err(|e| {
        ApiError::field(
            field,
            format!(
                "{e} (a saved template may use actor, action, {})",
                template::ACTION_FIELDS.join(", ")
            ),
        )
    })
}

/// Saves a template (refused if it would not expand).
#[utoipa::path(
    operation_id = "admin_templates_put",
    tag = "admin: templates",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id"), ("name" = String, Path, description = "1 to 100 of letters, digits, `_`, `-`, `.`")),
    request_body(content = PutTemplate, content_type = "application/json"),
    responses(
        (status = 200, description = "The template", body = TemplateView),
        (status = 400, description = "Invalid request, naming each field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app (or not one this operator manages)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_provider` or `invalid_option`, naming the field", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/apps/{id}/templates/{name}")]
async fn put_template(
    state: web::Data<AppState>,
    admin: Admin,
    path: Path<(String, String)>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let app = visible_app(&state, &admin, &id).await?;
    check_name(&name)?;
    let input: PutTemplate = json::parse(&body)?;
    check_text("text", &input.text)?;
    let mut per_provider = BTreeMap::new();
    for (p, choice) in input.per_provider {
        let base = format!("per_provider.{p}");
        let provider = state.registry().get(&p).ok_or_else(|| {
            ApiError::unprocessable_field(
                "unknown_provider",
                base.clone(),
                format!("unknown provider {p:?}"),
            )
        })?;
        if let Some(t) = &choice.text {
            check_text(&format!("{base}.text"), t)?;
        }
        for (opt, value) in [
            ("activity_type", &choice.activity_type),
            ("verb", &choice.verb),
        ] {
            let Some(v) = value else { continue };
            let field = format!("{base}.{opt}");
            let spec = provider
                .options()
                .iter()
                .find(|o| o.name == opt)
                .ok_or_else(|| {
                    ApiError::unprocessable_field(
                        "invalid_option",
                        field.clone(),
                        format!("{} has no {opt}", provider.id()),
                    )
                })?;
            if v.trim().is_empty()
                || v.len() > 200
                || (!spec.values.is_empty() && !spec.values.contains(&v.as_str()))
            {
                let allowed = if spec.values.is_empty() {
                    "1 to 200 characters".to_owned()
                } else {
                    spec.values.join(", ")
                };
                return Err(ApiError::unprocessable_field(
                    "invalid_option",
                    field,
                    format!("{v:?}: expected {allowed}"),
                ));
            }
        }
        per_provider.insert(provider.id().to_owned(), choice);
    }
    let per_provider = serde_json::to_value(&per_provider).map_err(ApiError::internal)?;
    let row = state
        .store
        .put_template(&app.app_id(), &name, &input.text, &per_provider)
        .await?;
    audit(
        &state,
        &admin,
        "templates.put",
        Some(&app.id),
        Some(&name),
        None,
    )
    .await?;
    Ok(HttpResponse::Ok().json(view(&row)))
}

/// A saved template.
#[utoipa::path(
    operation_id = "admin_templates_read",
    tag = "admin: templates",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id"), ("name" = String, Path, description = "1 to 100 of letters, digits, `_`, `-`, `.`")),
    responses(
        (status = 200, description = "The template", body = TemplateView),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app or template", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/apps/{id}/templates/{name}")]
async fn read(
    state: web::Data<AppState>,
    admin: Admin,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let app = visible_app(&state, &admin, &id).await?;
    let row = state
        .store
        .template(&app.app_id(), &name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("template {name}")))?;
    Ok(HttpResponse::Ok().json(view(&row)))
}

/// An app's templates.
#[utoipa::path(
    operation_id = "admin_templates_list",
    tag = "admin: templates",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id")),
    responses(
        (status = 200, description = "The templates", body = TemplateList),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app (or not one this operator manages)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/apps/{id}/templates")]
async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = visible_app(&state, &admin, &id).await?;
    let rows = state.store.list_templates(&app.app_id()).await?;
    Ok(HttpResponse::Ok().json(json!({"items": rows.iter().map(view).collect::<Vec<_>>()})))
}

/// Deletes a template.
#[utoipa::path(
    operation_id = "admin_templates_remove",
    tag = "admin: templates",
    security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "The app id"), ("name" = String, Path, description = "1 to 100 of letters, digits, `_`, `-`, `.`")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app or template", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/apps/{id}/templates/{name}")]
async fn remove(
    state: web::Data<AppState>,
    admin: Admin,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let app = visible_app(&state, &admin, &id).await?;
    if !state.store.delete_template(&app.app_id(), &name).await? {
        return Err(ApiError::NotFound(format!("template {name}")));
    }
    audit(
        &state,
        &admin,
        "templates.delete",
        Some(&app.id),
        Some(&name),
        None,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(put_template)
        .service(read)
        .service(list)
        .service(remove);
}
