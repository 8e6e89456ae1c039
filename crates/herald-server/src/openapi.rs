//! The OpenAPI 3.1 document (`GET /openapi.json`) and its offline reference
//! page (`GET /docs`: Swagger UI from the bundle compiled into the binary, so
//! no asset comes from another host).
//!
//! The paths come from the same calls that register the routes
//! (`utoipa-actix-web`: `cfg.service(handler)` only takes a handler with a
//! `#[utoipa::path]`), so the document is built by registering every route on
//! a throwaway `App` (`document`). The response shapes below that are not the
//! handlers' own types exist only for the document: the handlers build those
//! answers with `json!`.

use crate::views::{ConnectionView, DeliveryView};
use actix_web::{HttpResponse, get};
use herald_core::FieldError;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Required};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/openapi.json";
/// The reference page; its assets live under `/docs/`.
pub const DOCS_PATH: &str = "/docs";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald",
        description = "Herald publishes a site's user actions to its users' connected social \
networks. Native API under `/v1` (bearer JWT of an app), admin API under `/admin/v1` \
(bearer JWT of an operator), and the Gigya Socialize-compatible surface at \
`/<namespace>.<method>`. Errors of the native and admin APIs are RFC 9457 \
`application/problem+json` (`Problem`)."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "actions", description = "Publish a user action and read each network's result"),
        (name = "connections", description = "A user's connected accounts"),
        (name = "short links", description = "Links shortened for posts"),
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "admin: apps", description = "Apps, their secrets"),
        (name = "admin: keys", description = "App keys (Gigya userKeys)"),
        (name = "admin: providers", description = "An app's provider settings"),
        (name = "admin: templates", description = "Saved activity templates"),
        (name = "admin: connections", description = "An app's users' connections"),
        (name = "admin: actions", description = "Action search and delivery redrive"),
        (name = "admin: audit", description = "The audit log"),
        (name = "gigya", description = "Gigya Socialize-compatible surface (docs/gigya-compatibility.md)"),
        (name = "meta", description = "This document and its reference page"),
    )
)]
struct ApiDoc;

/// Security scheme names, as used in `security(...)` on the handlers.
pub const APP_JWT: &str = "app_jwt";
pub const ADMIN_JWT: &str = "admin_jwt";

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, api: &mut Document) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            APP_JWT,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An app's token: HS256 signed with the app secret (base64-decoded), \
                         `iss` = the app's api key, `iat`, `exp` at most 300 s after `iat`, \
                         single-use `jti`; or RS256 with `kid` = an app key whose RSA public \
                         key is registered.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            ADMIN_JWT,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An operator's token (`herald admin token`): HS256 with the server's \
                         admin key, claims `sub`, `role` (`admin` | `app-admin`), `apps`, `exp`. \
                         An app-admin gets 404 for every app it does not manage.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document of every route `crate::register` serves.
pub fn document() -> Document {
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::register)
        .split_for_parts();
    optional_bodies(&mut doc);
    doc
}

/// `request_body(content = Option<T>)` means "the body may be absent"
/// (`required` is left out), not "the body may be JSON `null`": utoipa also
/// makes the schema `oneOf: [T, null]`, which is put back to `T` here.
fn optional_bodies(doc: &mut Document) {
    let is_null = |s: &RefOr<Schema>| matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null));
    for item in doc.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            let Some(RefOr::T(body)) = op.request_body.as_mut() else {
                continue;
            };
            if body.required == Some(Required::True) {
                continue;
            }
            for content in body.content.values_mut() {
                let RefOr::T(content) = content else {
                    continue;
                };
                if let Some(RefOr::T(Schema::OneOf(one))) = &content.schema
                    && one.items.len() == 2
                    && let Some(inner) = one.items.iter().find(|s| !is_null(s))
                    && one.items.iter().any(is_null)
                {
                    content.schema = Some(inner.clone());
                }
            }
        }
    }
}

fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| serde_json::to_string(&document()).unwrap_or_default())
}

/// The OpenAPI 3.1 document of this server.
#[utoipa::path(
    operation_id = "openapi_json",
    tag = "meta",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object, content_type = "application/json"))
)]
#[get("/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json())
}

/// The API reference page (Swagger UI). Redirects to `/docs/`, whose page
/// and assets are all served by Herald.
#[utoipa::path(
    operation_id = "docs",
    tag = "meta",
    responses((status = 308, description = "To `/docs/`", headers(("Location" = String, description = "`/docs/`"))))
)]
#[get("/docs")]
async fn docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/docs/"))
        .finish()
}

/// A file of the reference page: `index.html` for `/docs/`, else its assets
/// (scripts, styles, icons), from the bundle compiled into the binary.
#[utoipa::path(
    operation_id = "docs_files",
    get,
    path = "/docs/{file}",
    tag = "meta",
    params(("file" = String, Path, description = "Empty for the page, or an asset's name such as `swagger-ui-bundle.js`")),
    responses(
        (status = 200, description = "The page (`text/html`) or the asset (`application/javascript`, `text/css`, `image/png`)"),
        (status = 404, description = "No such file in the bundle"),
    )
)]
#[allow(dead_code)] // served by `SwaggerUi`; this only documents it
fn docs_files() {}

/// `/docs/{file}`: `SwaggerUi` and the documentation of its route.
struct DocsFiles;

impl actix_web::dev::HttpServiceFactory for DocsFiles {
    fn register(self, config: &mut actix_web::dev::AppService) {
        let ui = SwaggerUi::new("/docs/{_:.*}")
            .config(Config::from(DOCUMENT_PATH).validator_url("none"));
        actix_web::dev::HttpServiceFactory::register(ui, config);
    }
}

impl utoipa_actix_web::OpenApiFactory for DocsFiles {
    fn paths(&self) -> utoipa::openapi::path::Paths {
        __path_docs_files.paths()
    }

    fn schemas(
        &self,
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        __path_docs_files.schemas(schemas)
    }
}

/// `/openapi.json`, `/docs` and `/docs/*`. Registered before the Gigya
/// surface, whose `/{namespace}.{method}` would otherwise take `/openapi.json`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(openapi_json).service(docs).service(DocsFiles);
}

// ---- shapes of answers built with `json!` (documentation only) ----

/// RFC 9457 problem details (`application/problem+json`), the answer of every
/// failed call on `/v1` and `/admin/v1`.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// `https://herald.dev/problems/<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    pub detail: String,
    /// Machine-readable: `invalid_request`, `unauthorized`, `forbidden`,
    /// `not_found`, `no_matching_connection`, `idempotency_key_reused`,
    /// `domain_not_allowed`, `unknown_template`, `unknown_option`,
    /// `invalid_option`, `unknown_provider`, `not_redrivable`,
    /// `payload_too_large`, `unavailable`, `internal`.
    pub code: String,
    /// The failing fields (absent when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(Serialize, ToSchema)]
pub struct Status {
    pub status: String,
}

/// A user's connected accounts.
#[derive(Serialize, ToSchema)]
pub struct UserConnections {
    pub connections: Vec<ConnectionView>,
}

/// An app as created: its view plus the secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedApp {
    #[serde(flatten)]
    pub app: crate::admin::apps::AppView,
    /// The app secret (standard base64). Only in this answer.
    pub secret: String,
}

/// A page of apps.
#[derive(Serialize, ToSchema)]
pub struct AppPage {
    pub items: Vec<crate::admin::apps::AppView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A rotated app secret.
#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new secret, shown this once.
    pub secret: String,
    /// Until when the previous secret is still accepted (RFC 3339).
    pub previous_valid_until: String,
}

/// An app key (Gigya userKey).
#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub user_key: String,
    /// `hmac` or `rsa`.
    pub kind: String,
    /// Of `publish`, `connections`, `read`.
    pub permissions: Vec<String>,
    #[schema(required = true)]
    pub revoked_at: Option<String>,
    pub created_at: String,
}

/// A created app key; an `hmac` key's secret is shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: KeyView,
    /// Only for `hmac` keys, only in this answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// An app's keys.
#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub items: Vec<KeyView>,
}

/// An app's settings for one provider; the client secret is never returned.
#[derive(Serialize, ToSchema)]
pub struct ProviderConfigView {
    pub provider: String,
    pub enabled: bool,
    #[schema(required = true)]
    pub client_id: Option<String>,
    pub client_secret_set: bool,
    #[schema(required = true)]
    pub api_base: Option<String>,
    #[schema(required = true)]
    pub consent_base: Option<String>,
    pub options: BTreeMap<String, String>,
}

/// An app's provider settings.
#[derive(Serialize, ToSchema)]
pub struct ProviderConfigList {
    pub items: Vec<ProviderConfigView>,
}

/// A saved template.
#[derive(Serialize, ToSchema)]
pub struct TemplateView {
    pub name: String,
    pub text: String,
    /// Per provider id: `text`, `activity_type`, `verb`.
    pub per_provider: BTreeMap<String, crate::admin::templates::PerProvider>,
    pub created_at: String,
    pub updated_at: String,
}

/// An app's templates.
#[derive(Serialize, ToSchema)]
pub struct TemplateList {
    pub items: Vec<TemplateView>,
}

/// One user's connections, as the admin API lists them.
#[derive(Serialize, ToSchema)]
pub struct ConnectionList {
    pub items: Vec<ConnectionView>,
}

/// A connection with its user, in an app-wide list.
#[derive(Serialize, ToSchema)]
pub struct AppConnection {
    #[serde(flatten)]
    pub connection: ConnectionView,
    pub uid: String,
}

/// A page of an app's connections.
#[derive(Serialize, ToSchema)]
pub struct AppConnectionPage {
    pub items: Vec<AppConnection>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// An action as the admin API shows it (the payload is not included).
#[derive(Serialize, ToSchema)]
pub struct AdminActionView {
    pub id: String,
    pub uid: String,
    pub created_at: String,
    /// With `history` when one action is read.
    pub deliveries: Vec<DeliveryView>,
}

/// A page of actions, newest first.
#[derive(Serialize, ToSchema)]
pub struct AdminActionPage {
    pub items: Vec<AdminActionView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// One audit log entry.
#[derive(Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: String,
    /// RFC 3339.
    pub at: String,
    pub actor: String,
    pub role: String,
    /// Such as `apps.create`, `keys.revoke`, `deliveries.redrive`.
    pub action: String,
    #[schema(required = true)]
    pub app_id: Option<String>,
    #[schema(required = true)]
    pub target: Option<String>,
    /// Identifiers and changed field names, never secrets.
    #[schema(required = true, value_type = Option<Object>)]
    pub detail: Option<Value>,
}

/// A page of the audit log, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntryView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Gigya request parameters, from the query string and (POST) an
/// `application/x-www-form-urlencoded` body, merged. Besides the ones named
/// here, each method takes its own (`UID`, `userAction` as a JSON string,
/// `status`, `url`, `providerSessions`, `enabledProviders`, …); see
/// docs/gigya-compatibility.md.
#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)]
pub struct GigyaParams {
    /// The app's api key.
    pub apiKey: Option<String>,
    /// The partner secret, or a userKey's secret (HTTPS only).
    pub secret: Option<String>,
    /// An app key, with `secret` or a signature.
    pub userKey: Option<String>,
    /// Signed requests: Unix seconds or milliseconds.
    pub timestamp: Option<String>,
    /// Signed requests: single-use.
    pub nonce: Option<String>,
    /// Signed requests: base64 HMAC-SHA1 over the normalized request.
    pub sig: Option<String>,
    /// `json` (default) or `jsonp`.
    pub format: Option<String>,
    /// With `format=jsonp`: a JavaScript identifier path.
    pub callback: Option<String>,
    /// `true`: the HTTP status is the envelope's `statusCode`.
    pub httpStatusCodes: Option<String>,
    /// Echoed in the answer.
    pub context: Option<String>,
    /// The method's own parameters.
    #[serde(flatten)]
    pub other: BTreeMap<String, String>,
}

/// Gigya's response envelope (`application/json`, or `NAME({…});` as
/// `application/javascript` with `format=jsonp`). A method's results are
/// further fields next to these.
#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)]
pub struct GigyaEnvelope {
    /// 32 hex digits.
    pub callId: String,
    /// 0 = OK, else a Gigya error code such as 400002 or 403003.
    pub errorCode: u32,
    /// Gigya's text for the code (errors only).
    pub errorMessage: Option<String>,
    /// What exactly was wrong (errors only).
    pub errorDetails: Option<String>,
    /// Always 2.
    pub apiVersion: u8,
    /// 200, or the error code's first three digits.
    pub statusCode: u16,
    pub statusReason: String,
    /// ISO 8601 UTC with milliseconds.
    pub time: String,
    /// The request's `context`, echoed.
    pub context: Option<String>,
    /// The method's results.
    #[serde(flatten)]
    pub results: BTreeMap<String, Value>,
}
