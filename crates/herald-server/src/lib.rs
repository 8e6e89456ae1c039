//! Herald's HTTP server (actix-web): the native `/v1` API, the Gigya
//! Socialize-compatible surface, short links and the health routes. Each resource lives in its own module under `routes/`; errors map
//! to problem+json in `error`.

pub mod admin;
pub mod auth;
pub mod config;
pub mod deadline;
pub mod disconnect;
pub mod error;
pub mod gigya;
pub mod http_metrics;
pub mod json;
pub mod openapi;
pub mod publish;
pub mod routes;
pub mod views;

use actix_web::{App, HttpResponse, HttpServer, web};
use herald_dispatch::Dispatcher;
use herald_providers::ProviderRegistry;
use herald_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use utoipa_actix_web::service_config::ServiceConfig;

/// Shared by every request.
pub struct AppState {
    pub store: Store,
    pub dispatcher: Dispatcher,
    pub metrics: Option<PrometheusHandle>,
    pub config: config::ServerConfig,
}

impl AppState {
    pub fn registry(&self) -> &ProviderRegistry {
        self.dispatcher.registry()
    }
}

/// Request spans with the path only: query strings may carry credentials
/// (Gigya's `secret`, `sig`, provider tokens) and must never reach the logs.
pub struct PathOnlySpan;

impl tracing_actix_web::RootSpanBuilder for PathOnlySpan {
    fn on_request_start(req: &actix_web::dev::ServiceRequest) -> tracing::Span {
        tracing::info_span!(
            "request",
            method = %req.method(),
            path = %req.path(),
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        if let Ok(r) = outcome {
            span.record("status", r.response().status().as_u16());
        }
    }
}

async fn not_found() -> Result<HttpResponse, error::ApiError> {
    Err(error::ApiError::NotFound("route".into()))
}

/// Every route, for `App::configure`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    register(&mut ServiceConfig::new(cfg));
}

/// Every route, registered and documented by the same calls: a route module's
/// `cfg.service(handler)` only takes a handler with `#[utoipa::path]`, and
/// `openapi::document()` is built from this function.
pub fn register(cfg: &mut ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(json::PAYLOAD_LIMIT))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| error::ApiError::field("query", e.to_string()).into()),
        )
        .configure(routes::health::configure)
        .configure(routes::actions::configure)
        .configure(routes::connections::configure)
        .configure(routes::short_links::configure)
        .configure(routes::connect::configure)
        .configure(admin::configure)
        // Before Gigya: `/openapi.json` has the shape of `/{namespace}.{method}`.
        .configure(openapi::configure)
        // Last: `/{namespace}.{method}` matches any `<word>.<word>` path.
        .configure(gigya::configure);
}

/// Serves the API on `bind` until the process is told to stop.
pub async fn serve(state: AppState, bind: &str) -> std::io::Result<()> {
    let http = state.config.http.clone();
    let body_timeout = std::time::Duration::from_secs(http.body_timeout_seconds);
    let state = web::Data::new(state);
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(move |req, next| {
                deadline::body_deadline(body_timeout, req, next)
            }))
            .wrap(actix_web::middleware::from_fn(http_metrics::record))
            .wrap(tracing_actix_web::TracingLogger::<PathOnlySpan>::new())
            .configure(configure)
            .default_service(web::to(not_found))
    })
    .max_connections(http.max_connections)
    .max_connection_rate(http.max_connection_rate)
    .bind(bind)?
    .shutdown_timeout(10)
    .run()
    .await
}
