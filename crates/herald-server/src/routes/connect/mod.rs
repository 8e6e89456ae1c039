//! Connect flows: a site gets a short-lived, single-use connect token for one
//! of its users (`POST /v1/users/{uid}/connect-tokens`), sends the user's
//! browser to `GET /connect/{provider}`, which records a random state and
//! redirects to the network's consent page; the network sends the browser
//! back to `GET /connect/{provider}/callback`, where Herald exchanges the code,
//! holds the account as a pending connection and redirects to the site with
//! the outcome and a one-time `connect_code`. The connection exists only once
//! the site's backend redeems that code for the uid it expects
//! (`POST /v1/users/{uid}/connections/redeem`): whoever finished the flow in
//! their browser, the site confirms it was its own user. The site never
//! handles the network's tokens. Networks whose users name their own server (Mastodon)
//! get a client registered there once per app; app-password networks
//! (Bluesky) get a Herald-hosted login form instead of a consent page
//! ([`password`]).

pub mod browser;
pub mod password;

use crate::AppState;
use crate::auth::AuthedApp;
use crate::error::ApiError;
use crate::openapi::Problem;
use crate::routes::connections::check_uid;
use actix_web::web::{Path, Query};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use herald_core::{AuthorizeRequest, CallbackParams, ProviderError};
use herald_store::ConnectionUpsert;
use herald_store::repo::app_keys::Permission;
use herald_store::repo::oauth_states::{NewOauthState, TakenState};
use hmac::{KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa_actix_web::service_config::ServiceConfig;

/// How long a connect token and a flow's state live.
pub const FLOW_TTL_SECS: i64 = 600;
const AUDIENCE: &str = "herald-connect";

#[derive(Serialize, Deserialize)]
struct ConnectClaims {
    aud: String,
    app: String,
    uid: String,
    iat: i64,
    exp: i64,
    jti: String,
}

/// Connect tokens are signed with a key derived from the admin key, so they
/// can never pass for admin tokens (or the reverse).
fn signing_key(state: &AppState) -> Result<Vec<u8>, ApiError> {
    let admin = STANDARD
        .decode(state.config.admin_key.expose())
        .map_err(|_| ApiError::internal("the admin key is not base64"))?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&admin).map_err(ApiError::internal)?;
    mac.update(b"herald connect tokens v1");
    Ok(mac.finalize().into_bytes().to_vec())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConnectToken {
    /// Pass as `connect_token` to `GET /connect/{provider}`; single use.
    connect_token: String,
    expires_at: String,
}

/// Mints a single-use connect token that binds a connect flow to this app and user.
#[utoipa::path(
    operation_id = "connect_tokens_create",
    tag = "connections",
    security(("app_jwt" = [])),
    params(("uid" = String, Path, description = "The site's user id (1 to 256 characters)")),
    responses(
        (status = 201, description = "A token valid for 10 minutes", body = ConnectToken),
        (status = 400, description = "Invalid `uid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid app token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The app key lacks the connections permission", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/users/{uid}/connect-tokens")]
async fn create_token(
    state: web::Data<AppState>,
    auth: AuthedApp,
    uid: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = auth.require(Permission::Connections)?.clone();
    check_uid(&uid)?;
    let (token, exp) = mint_connect_token(&state, &app.id, &uid)?;
    Ok(HttpResponse::Created().json(ConnectToken {
        connect_token: token,
        expires_at: crate::views::iso(exp * 1000),
    }))
}

/// A single-use connect token for `uid` of `app_id`, and when it expires
/// (Unix seconds).
pub fn mint_connect_token(
    state: &AppState,
    app_id: &str,
    uid: &str,
) -> Result<(String, i64), ApiError> {
    let iat = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = ConnectClaims {
        aud: AUDIENCE.into(),
        app: app_id.to_owned(),
        uid: uid.to_owned(),
        iat,
        exp: iat + FLOW_TTL_SECS,
        jti: uuid::Uuid::new_v4().simple().to_string(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&signing_key(state)?),
    )
    .map_err(ApiError::internal)?;
    Ok((token, claims.exp))
}

/// Where the site sends a user whose connection needs them: a connect flow
/// with a fresh connect token, back to the app's site (the site may append
/// `redirect_uri` and `state`).
pub fn reconnect_url(
    state: &AppState,
    app_id: &str,
    uid: &str,
    provider: &str,
    server: Option<&str>,
) -> Result<String, ApiError> {
    let (token, _) = mint_connect_token(state, app_id, uid)?;
    let mut url = url::Url::parse(&format!(
        "{}/connect/{provider}",
        state.config.public_url.as_str().trim_end_matches('/')
    ))
    .map_err(ApiError::internal)?;
    url.query_pairs_mut().append_pair("connect_token", &token);
    if let Some(s) = server {
        url.query_pairs_mut().append_pair("instance", s);
    }
    Ok(url.to_string())
}

#[derive(Deserialize, utoipa::IntoParams)]
struct StartQuery {
    /// From `POST /v1/users/{uid}/connect-tokens`.
    connect_token: String,
    /// Where the browser goes back to; must be within the app's domains.
    /// Default: the app's site URL.
    redirect_uri: Option<String>,
    /// Returned unchanged to `redirect_uri`.
    state: Option<String>,
    /// The user's server, for networks where users name it (Mastodon):
    /// `https://mastodon.example` or `mastodon.example`.
    instance: Option<String>,
}

/// The origin (`scheme://host[:port]`) of a user-named server; `https://` is
/// assumed when no scheme is given.
pub fn server_origin(field: &str, raw: &str) -> Result<String, ApiError> {
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("https://{raw}")
    };
    let url =
        herald_core::action::check_http_url(&with_scheme).map_err(|m| ApiError::field(field, m))?;
    if !url.path().trim_end_matches('/').is_empty() || url.query().is_some() {
        return Err(ApiError::field(
            field,
            "must be a server address without a path, e.g. https://mastodon.example",
        ));
    }
    Ok(url.origin().ascii_serialization())
}

/// Hosts a redirect may go to: the app's domains, else its site's host.
fn redirect_allowed(app: &herald_store::entities::apps::Model, uri: &url::Url) -> bool {
    let host = uri.host_str().unwrap_or_default().to_ascii_lowercase();
    let mut allowed = app.domains();
    if allowed.is_empty()
        && let Some(site) = app
            .site_url
            .as_deref()
            .and_then(|s| url::Url::parse(s).ok())
        && let Some(h) = site.host_str()
    {
        allowed.push(h.to_ascii_lowercase());
    }
    allowed
        .iter()
        .any(|d| herald_core::domains::within(&host, d))
}

fn callback_url(state: &AppState, provider: &str) -> String {
    format!(
        "{}/connect/{provider}/callback",
        state.config.public_url.as_str().trim_end_matches('/')
    )
}

/// Starts a connect flow: checks the token and redirect, records the flow, and
/// redirects to the network's consent page.
#[utoipa::path(
    operation_id = "connect_start",
    tag = "connections",
    params(("provider" = String, Path, description = "A provider id or alias"), StartQuery),
    responses(
        (status = 200, description = "Herald's login form, for app-password networks (Bluesky)", content_type = "text/html"),
        (status = 302, description = "To the network's consent page", headers(("Location" = String, description = "The consent page"))),
        (status = 400, description = "Invalid, expired or used connect token, a redirect outside the app's domains, or a missing or invalid `instance`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown provider", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The provider has no connect flow or lacks settings, registering Herald at the user's server failed, or `forbidden_address`: the app's provider settings name an address the outbound policy refuses", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/connect/{provider}")]
async fn start(
    state: web::Data<AppState>,
    provider: Path<String>,
    q: Query<StartQuery>,
) -> Result<HttpResponse, ApiError> {
    let provider = state
        .registry()
        .get(&provider)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("provider {provider}")))?;
    let bad_token = || ApiError::field("connect_token", "invalid, expired or already used");
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "aud"]);
    v.leeway = 0;
    let claims = jsonwebtoken::decode::<ConnectClaims>(
        &q.connect_token,
        &DecodingKey::from_secret(&signing_key(&state)?),
        &v,
    )
    .map_err(|_| bad_token())?
    .claims;
    let app = state
        .store
        .app(&herald_core::AppId::from_stored(claims.app.clone()))
        .await?
        .filter(|a| !a.disabled)
        .ok_or_else(bad_token)?;
    let redirect_uri = q
        .redirect_uri
        .clone()
        .or_else(|| app.site_url.clone())
        .ok_or_else(|| ApiError::field("redirect_uri", "is required (the app has no site_url)"))?;
    let redirect = herald_core::action::check_http_url(&redirect_uri)
        .map_err(|m| ApiError::field("redirect_uri", m))?;
    if !redirect_allowed(&app, &redirect) {
        return Err(ApiError::BadField {
            code: "domain_not_allowed",
            field: "redirect_uri".into(),
            message: "must be within the app's domains (or its site's host)".into(),
        });
    }
    if q.state.as_ref().is_some_and(|s| s.len() > 1000) {
        return Err(ApiError::field("state", "must be at most 1000 characters"));
    }
    let no_flow = || ApiError::Unprocessable {
        code: "no_connect_flow",
        message: format!("{} has no connect flow", provider.id()),
    };
    let spec = provider.oauth().ok_or_else(no_flow)?;
    let instance = match (&q.instance, spec.per_instance) {
        (Some(raw), true) => Some(server_origin("instance", raw)?),
        (None, true) => {
            return Err(ApiError::field(
                "instance",
                format!("is required: {} users name their server", provider.id()),
            ));
        }
        (Some(_), false) => {
            return Err(ApiError::field(
                "instance",
                format!("is not used by {}", provider.id()),
            ));
        }
        (None, false) => None,
    };
    // Single use: recorded before the flow starts.
    if !state
        .store
        .use_nonce(
            &format!("connect:{}", app.id),
            &claims.jti,
            claims.exp.saturating_add(60).saturating_mul(1000),
        )
        .await?
    {
        return Err(bad_token());
    }
    let mut http = state
        .dispatcher
        .http_ctx_for(&app.app_id(), provider.as_ref())
        .await?;
    let callback_to = callback_url(&state, provider.id());
    if let Some(server) = &instance {
        http = state
            .dispatcher
            .for_account(http, &app.app_id(), provider.as_ref(), Some(server))
            .await
            .map_err(|e| match e {
                // The user named it: the same answer as a refusal at registration.
                herald_dispatch::SettingsError::Refused { error, .. } => {
                    ApiError::UnprocessableField {
                        code: "instance_registration_failed",
                        field: "instance".into(),
                        message: format!("registering Herald at {server} failed: {error}"),
                    }
                }
                other => other.into(),
            })?;
        // A registration made for another callback URL (public_url changed)
        // would be refused by the server: register again.
        if state
            .store
            .oauth_client_redirect(&app.app_id(), provider.id(), server)
            .await?
            .is_some_and(|r| r != callback_to)
        {
            state
                .store
                .delete_oauth_client(&app.app_id(), provider.id(), server)
                .await?;
        }
        let registered = match state
            .store
            .oauth_client(&app.app_id(), provider.id(), server)
            .await?
        {
            Some(c) => c,
            None => {
                let c = provider
                    .register_client(&callback_to, &spec.scopes, &http)
                    .await
                    .map_err(|e| ApiError::UnprocessableField {
                        code: "instance_registration_failed",
                        field: "instance".into(),
                        message: format!("registering Herald at {server} failed: {}", e.message()),
                    })?;
                tracing::info!(provider = provider.id(), instance = %server, "registered a client at the user's server");
                state
                    .store
                    .save_oauth_client(&app.app_id(), provider.id(), server, &callback_to, &c)
                    .await?
            }
        };
        http.settings.client_id = Some(registered.client_id);
        http.settings.client_secret = Some(registered.client_secret);
    }
    let new_redirect = redirect_uri;
    // The flow is bound to this browser: its callback (or login) must come
    // with this flow's cookie, whose value is always new (never one the
    // browser brought), so a link to somebody else's flow connects nothing.
    let browser_value = browser::fresh();
    let pkce = matches!(spec.flow, herald_core::FlowKind::OAuth2Pkce)
        .then(|| URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()));
    let new_state = NewOauthState {
        app_id: app.app_id(),
        uid: claims.uid.clone(),
        provider: provider.id().to_owned(),
        redirect_uri: new_redirect.clone(),
        client_state: q.state.clone(),
        pkce_verifier: pkce.clone().map(herald_core::Secret::from),
        instance: instance.clone(),
        browser_hash: Some(browser::hash(&browser_value)),
        attempts: 0,
        ttl_ms: FLOW_TTL_SECS * 1000,
    };
    let flow_state = state.store.create_oauth_state(new_state).await?;
    let cookie = browser::cookie(&state, &flow_state, &browser_value);
    if spec.flow == herald_core::FlowKind::AppPassword {
        let mut page = password::form(&state, provider.id(), &flow_state, &new_redirect, None);
        page.add_cookie(&cookie).map_err(ApiError::internal)?;
        return Ok(page);
    }
    let challenge = pkce.map(|v| {
        use sha2::Digest;
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
    });
    let consent = provider
        .authorize_url(
            &AuthorizeRequest {
                state: flow_state,
                callback_url: callback_to,
                pkce_challenge: challenge,
            },
            &http,
        )
        .map_err(|e| ApiError::Unprocessable {
            code: "no_connect_flow",
            message: e.message().to_owned(),
        })?;
    Ok(HttpResponse::Found()
        .insert_header(("Location", consent.to_string()))
        .insert_header(("Cache-Control", "no-store"))
        .cookie(cookie)
        .finish())
}

/// `redirect_uri` with the outcome added to its query.
pub(crate) fn back_to_site(redirect_uri: &str, params: &[(&str, &str)]) -> HttpResponse {
    let mut url = url::Url::parse(redirect_uri)
        .unwrap_or_else(|_| url::Url::parse("about:blank").expect("literal"));
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    HttpResponse::Found()
        .insert_header(("Location", url.to_string()))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// The network's redirect back: exchanges the code, stores the connection and
/// sends the browser back to the site with `status=connected` or `status=error`.
#[utoipa::path(
    operation_id = "connect_callback",
    tag = "connections",
    params(("provider" = String, Path, description = "A provider id or alias")),
    responses(
        (status = 302, description = "Back to the site's redirect_uri with status=connected or status=error&error=…", headers(("Location" = String, description = "The site's redirect_uri"))),
        (status = 400, description = "No known flow state in the request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown provider", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`forbidden_address`: the app's provider settings or the account's server name an address the outbound policy refuses", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/connect/{provider}/callback")]
async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    provider: Path<String>,
    q: Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let provider = state
        .registry()
        .get(&provider)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("provider {provider}")))?;
    let query: BTreeMap<String, String> = q.into_inner().into_iter().collect();
    let unknown = || ApiError::field("state", "unknown connect flow");
    let flow_state = provider
        .callback_state(&query)
        .ok_or_else(unknown)?
        .to_owned();
    let row = match state.store.take_oauth_state(&flow_state).await? {
        TakenState::Unknown => return Err(unknown()),
        TakenState::Replayed(row) => return Ok(outcome(&state, &row, Err("state_replayed"))),
        TakenState::Expired(row) => return Ok(outcome(&state, &row, Err("state_expired"))),
        TakenState::Fresh(row) => row,
    };
    if row.provider != provider.id() {
        return Ok(outcome(&state, &row, Err("wrong_provider")));
    }
    if !browser::matches(&state, &req, &row) {
        tracing::warn!(
            provider = provider.id(),
            "connect callback from another browser than the one that started the flow; nothing connected"
        );
        return Ok(outcome(&state, &row, Err("browser_mismatch")));
    }
    let app_id = herald_core::AppId::from_stored(row.app_id.clone());
    let http = state
        .dispatcher
        .http_ctx_for(&app_id, provider.as_ref())
        .await?;
    let http = state
        .dispatcher
        .for_account(http, &app_id, provider.as_ref(), row.instance.as_deref())
        .await?;
    let cb = CallbackParams {
        query,
        callback_url: callback_url(&state, provider.id()),
        pkce_verifier: state.store.oauth_pkce_verifier(&row)?,
    };
    let creds = match provider.exchange_accounts(&cb, &http).await {
        Ok(c) if c.is_empty() => {
            tracing::info!(
                provider = provider.id(),
                "connect flow: the consent gave no account to connect"
            );
            return Ok(outcome(&state, &row, Err("no_account")));
        }
        Ok(c) => c,
        Err(ProviderError::AuthRevoked { message, .. }) => {
            tracing::info!(provider = provider.id(), reason = %message, "connect flow refused by the user or the network");
            return Ok(outcome(&state, &row, Err("access_denied")));
        }
        Err(e) => {
            tracing::warn!(provider = provider.id(), error = %e, "connect flow: code exchange failed");
            // The server no longer knows Herald's client: register anew next time.
            if let (Some(server), ProviderError::Rejected { code, .. }) = (&row.instance, &e)
                && code == "invalid_client"
            {
                state
                    .store
                    .delete_oauth_client(&app_id, provider.id(), server)
                    .await?;
            }
            return Ok(outcome(&state, &row, Err("exchange_failed")));
        }
    };
    let held = hold_for_site(&state, &row, provider.as_ref(), creds).await?;
    let result = match &held {
        Ok(code) => Ok((provider.id(), code.as_str())),
        Err(e) => Err(*e),
    };
    Ok(outcome(&state, &row, result))
}

/// Holds the accounts a flow obtained for the flow's app and user as pending
/// connections, under one new connect code for the site to redeem; or,
/// when they would pass the user's cap on connections to the provider,
/// revokes them and says `too_many_connections`.
pub(crate) async fn hold_for_site(
    state: &AppState,
    row: &herald_store::entities::oauth_states::Model,
    provider: &dyn herald_core::Provider,
    creds: Vec<herald_core::Credential>,
) -> Result<Result<String, &'static str>, ApiError> {
    let app_id = herald_core::AppId::from_stored(row.app_id.clone());
    let adding: Vec<&str> = creds.iter().map(|c| c.provider_uid.as_str()).collect();
    if !state
        .store
        .connection_cap_allows(
            &app_id,
            &row.uid,
            provider.id(),
            &adding,
            state.config.connections.max_per_user_provider,
        )
        .await?
    {
        tracing::info!(
            provider = provider.id(),
            "connect flow: the user holds the most connections allowed to this provider; nothing kept"
        );
        for cred in &creds {
            let server = account_server(provider, cred, row);
            state
                .dispatcher
                .revoke_credential(
                    provider,
                    &app_id,
                    server.as_deref(),
                    cred,
                    "refused connect flow",
                )
                .await;
        }
        return Ok(Err("too_many_connections"));
    }
    let accounts = creds
        .into_iter()
        .map(|cred| ConnectionUpsert {
            app_id: app_id.clone(),
            uid: row.uid.clone(),
            provider: provider.id().to_owned(),
            provider_uid: cred.provider_uid.clone(),
            display_name: cred.display_name.clone(),
            url: account_server(provider, &cred, row),
            access_token: cred.access_token.clone(),
            refresh_token: cred.refresh_token.clone(),
            secret: cred.secret.clone(),
            expires_at_ms: cred
                .expires_at
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
        })
        .collect();
    let code = state
        .store
        .create_pending_connections(accounts, herald_store::now_ms(), FLOW_TTL_SECS * 1000)
        .await?;
    Ok(Ok(code))
}

/// The account's server: what the network said, else the one the user named.
fn account_server(
    provider: &dyn herald_core::Provider,
    cred: &herald_core::Credential,
    row: &herald_store::entities::oauth_states::Model,
) -> Option<String> {
    if provider.account_server() {
        cred.url.clone().or_else(|| row.instance.clone())
    } else {
        cred.url.clone()
    }
}

/// Back to the site with the flow's outcome: `status=connected`, the
/// `connect_code` to redeem and the provider, or `status=error&error=…`;
/// the site's `state` either way. Clears the flow's cookie.
pub(crate) fn outcome(
    state: &AppState,
    row: &herald_store::entities::oauth_states::Model,
    result: Result<(&str, &str), &str>,
) -> HttpResponse {
    let mut params: Vec<(&str, &str)> = match result {
        Ok((provider, code)) => vec![
            ("status", "connected"),
            ("connect_code", code),
            ("provider", provider),
        ],
        Err(error) => vec![
            ("status", "error"),
            ("provider", row.provider.as_str()),
            ("error", error),
        ],
    };
    if let Some(s) = &row.client_state {
        params.push(("state", s));
    }
    let mut resp = back_to_site(&row.redirect_uri, &params);
    let _ = resp.add_removal_cookie(&browser::removal(state, &row.state));
    resp
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_token)
        .service(start)
        .service(callback)
        .service(password::login);
}
