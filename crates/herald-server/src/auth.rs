//! App authentication on `/v1`: `Authorization: Bearer <JWT>`, either HS256
//! signed with the app's secret (the base64-decoded bytes of it), claims `iss`
//! = the app's api key, `iat`, `exp` at most 300 s after `iat`; or RS256 with
//! `kid` = an app key (userKey) whose RSA public key is registered, `iat`
//! within 120 s. The `jti` is single-use either way (stored, so a replay is
//! refused across restarts and nodes).

use crate::AppState;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use herald_store::entities::{app_keys, apps};
use herald_store::repo::app_keys::Permission;
use herald_store::{Nonce, Store};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;

/// The longest a token may live.
pub const MAX_TOKEN_LIFETIME_SECS: i64 = 300;
/// Allowed clock difference between the site and Herald.
pub const CLOCK_SKEW_SECS: i64 = 60;

/// The authenticated app of a request, and the app key used (`None` = the
/// app's own secret, which may do everything).
pub struct AuthedApp(pub apps::Model, pub Option<app_keys::Model>);

impl AuthedApp {
    /// Refuses (403) a key that lacks `p`.
    pub fn require(&self, p: Permission) -> Result<&apps::Model, ApiError> {
        match &self.1 {
            Some(k) if !k.allows(p) => Err(ApiError::Forbidden(format!(
                "this app key lacks the {} permission",
                p.as_str()
            ))),
            _ => Ok(&self.0),
        }
    }
}

#[derive(Deserialize)]
struct Unverified {
    iss: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iat: i64,
    exp: i64,
    jti: String,
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError::Unauthorized(msg.to_owned())
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let header = req.headers().get("authorization").ok_or_else(|| {
        unauthorized("missing Authorization header: send `Authorization: Bearer <JWT>`")
    })?;
    let value = header
        .to_str()
        .map_err(|_| unauthorized("Authorization header is not ASCII"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| unauthorized("Authorization must use the Bearer scheme"))?;
    Ok(token.trim().to_owned())
}

/// The `iss` claim, read before the signature can be checked (it names the key).
fn issuer(token: &str) -> Result<String, ApiError> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| unauthorized("bearer token is not a JWT"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| unauthorized("bearer token is not a JWT"))?;
    let claims: Unverified =
        serde_json::from_slice(&bytes).map_err(|_| unauthorized("bearer token is not a JWT"))?;
    claims
        .iss
        .ok_or_else(|| unauthorized("token has no iss claim (the app's api key)"))
}

fn replayed() -> ApiError {
    unauthorized("token already used (jti replayed): mint a new token per request")
}

/// The app of a valid token, and the token's `jti`, not yet recorded.
async fn authenticate(
    state: &web::Data<AppState>,
    token: String,
) -> Result<(AuthedApp, Nonce), ApiError> {
    let header = jsonwebtoken::decode_header(&token)
        .map_err(|_| unauthorized("bearer token is not a JWT"))?;
    if header.alg == Algorithm::RS256 {
        // An app key's registered RSA public key (kid = its userKey).
        let (key, jti) = crate::gigya::auth::verify_rs256_unrecorded(state, &token)
            .await
            .map_err(|(_, message)| ApiError::Unauthorized(message))?;
        let app = state
            .store
            .app(&key.app_id())
            .await?
            .filter(|a| !a.disabled)
            .ok_or_else(|| unauthorized("the key's app does not exist or is disabled"))?;
        return Ok((AuthedApp(app, Some(key)), jti));
    }
    if header.alg != Algorithm::HS256 {
        return Err(unauthorized(
            "token must be signed with HS256 (app secret) or RS256 (registered key)",
        ));
    }
    let api_key = issuer(&token)?;
    let app = state
        .store
        .app_by_api_key(&api_key)
        .await?
        .ok_or_else(|| unauthorized("unknown api key in iss"))?;
    if app.disabled {
        return Err(unauthorized("this app is disabled"));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "iss"]);
    validation.set_issuer(&[&api_key]);
    validation.validate_aud = false;
    validation.leeway = CLOCK_SKEW_SECS as u64;
    // The current secret, and the previous one during a rotation's grace period.
    let mut result = Err(unauthorized(
        "token signature does not match the app secret",
    ));
    for secret in state.store.app_secrets(&app)? {
        let key_bytes = STANDARD
            .decode(secret.expose())
            .map_err(|e| ApiError::internal(format!("stored app secret is not base64: {e}")))?;
        match jsonwebtoken::decode::<Claims>(
            &token,
            &DecodingKey::from_secret(&key_bytes),
            &validation,
        ) {
            Ok(data) => {
                result = Ok(data);
                break;
            }
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind;
                result = Err(match e.kind() {
                    ErrorKind::ExpiredSignature => unauthorized("token expired"),
                    ErrorKind::InvalidSignature => {
                        unauthorized("token signature does not match the app secret")
                    }
                    ErrorKind::Json(_) | ErrorKind::MissingRequiredClaim(_) => {
                        unauthorized("token needs the claims iss, iat, exp and jti")
                    }
                    _ => unauthorized("invalid token"),
                });
                if !matches!(e.kind(), ErrorKind::InvalidSignature) {
                    break;
                }
            }
        }
    }
    let data = result?;
    let c = data.claims;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if c.exp
        .checked_sub(c.iat)
        .is_none_or(|life| life > MAX_TOKEN_LIFETIME_SECS)
    {
        return Err(unauthorized(
            "token lifetime (exp - iat) must be at most 300 seconds",
        ));
    }
    if c.iat > now + CLOCK_SKEW_SECS {
        return Err(unauthorized("token iat is in the future"));
    }
    if c.jti.is_empty() || c.jti.len() > 128 {
        return Err(unauthorized("token jti must be 1 to 128 characters"));
    }
    // Kept past the last second the token could be accepted, with a margin,
    // so the purge can never reopen a replay window.
    let keep_until_ms = c
        .exp
        .saturating_add(CLOCK_SKEW_SECS + 120)
        .saturating_mul(1000);
    let jti = Nonce::new(format!("jti:{}", app.id), c.jti, keep_until_ms);
    Ok((AuthedApp(app, None), jti))
}

/// Records a token's `jti`: 401 when it was used before.
async fn record(state: &AppState, jti: Nonce) -> Result<(), ApiError> {
    if state.store.record_nonce(jti).await? {
        Ok(())
    } else {
        Err(replayed())
    }
}

impl FromRequest for AuthedApp {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("app state missing"))?;
            let (app, jti) = authenticate(&state, token?).await?;
            record(&state, jti).await?;
            Ok(app)
        })
    }
}

/// [`AuthedApp`] for a publish: the token's `jti` is written in the same
/// group commit as the action it authorizes (`publish::accept` takes it), or,
/// when the request fails before that, by [`PublishAuth::settle`]: a token is
/// single-use even when its request fails, and its replay is always 401.
pub struct PublishAuth {
    pub app: AuthedApp,
    pub jti: PendingJti,
}

/// A token's `jti` not yet recorded. Dropped unrecorded (a later extractor
/// refused the request, e.g. its body), it is recorded in the background.
pub struct PendingJti {
    nonce: Option<Nonce>,
    store: Store,
}

impl PendingJti {
    /// The `jti`, to write with the action (the caller answers a replay).
    pub fn take(&mut self) -> Option<Nonce> {
        self.nonce.take()
    }

    /// Records the `jti` unless an accept took it: 401 when it was used
    /// before, whatever else the request did wrong.
    pub async fn settle(mut self) -> Result<(), ApiError> {
        match self.nonce.take() {
            Some(n) => {
                if self.store.record_nonce(n).await? {
                    Ok(())
                } else {
                    Err(replayed())
                }
            }
            None => Ok(()),
        }
    }

    /// The 401 of a `jti` an accept found used.
    pub fn replayed() -> ApiError {
        replayed()
    }
}

impl Drop for PendingJti {
    fn drop(&mut self) {
        if let Some(n) = self.nonce.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let store = self.store.clone();
            rt.spawn(async move {
                if let Err(e) = store.record_nonce(n).await {
                    tracing::warn!(error = %e, "recording a refused request's jti failed");
                }
            });
        }
    }
}

impl FromRequest for PublishAuth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("app state missing"))?;
            let (app, jti) = authenticate(&state, token?).await?;
            Ok(PublishAuth {
                app,
                jti: PendingJti {
                    nonce: Some(jti),
                    store: state.store.clone(),
                },
            })
        })
    }
}
