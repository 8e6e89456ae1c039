//! `/admin/v1/apps/{id}/templates/{name}`: named activity templates a publish
//! can refer to with `template_name` — the text, and per provider a text, a
//! Windows Live activity type and a verb. A template that would not expand is
//! refused here, at save time.

use super::auth::Admin;
use super::{audit, visible_app};
use crate::AppState;
use crate::error::ApiError;
use crate::json;
use crate::views::iso;
use actix_web::web::{Bytes, Path};
use actix_web::{HttpResponse, delete, get, put, web};
use herald_core::template;
use herald_store::entities::templates;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One provider's choices in a template.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PerProvider {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutTemplate {
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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(put_template)
        .service(read)
        .service(list)
        .service(remove);
}
