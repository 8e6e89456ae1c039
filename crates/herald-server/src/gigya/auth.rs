//! Gigya authentication, every mode per app key: partner secret or userKey +
//! secret (HTTPS only), HMAC-SHA1 signed requests (timestamp, single-use
//! nonce, `sig` over Herald's public URL or the canonical Gigya URL), and
//! `Authorization: Bearer` RS256 JWTs whose `kid` is a userKey with a
//! registered public key and whose `jti` is single-use.

use super::errors::{Code, GigyaError};
use super::params::Params;
use super::signature;
use crate::AppState;
use actix_web::HttpRequest;
use actix_web::http::header::HeaderValue;
use herald_store::entities::{app_keys, apps};
use herald_store::repo::app_keys::{KeyKind, Permission};
use herald_store::{Nonce, now_ms};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Accepted clock difference for `timestamp` and JWT `iat`.
pub const WINDOW_SECS: i64 = 120;

/// Who is calling.
pub struct Caller {
    pub app: apps::Model,
    /// `None` = the app's partner secret (every permission).
    pub key: Option<app_keys::Model>,
}

impl Caller {
    pub fn require(&self, p: Permission) -> Result<(), GigyaError> {
        match &self.key {
            Some(k) if !k.allows(p) => Err(GigyaError::new(
                Code::PermissionDenied,
                format!("this userKey lacks the {} permission", p.as_str()),
            )),
            _ => Ok(()),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The request came over HTTPS: only a trusted proxy's `X-Forwarded-Proto`
/// can say so (Herald itself serves plain HTTP behind a TLS terminator).
fn is_https(state: &AppState, req: &HttpRequest) -> bool {
    let from_trusted = req.peer_addr().is_some_and(|a| {
        state
            .config
            .gigya
            .trusted_proxies
            .iter()
            .any(|n| n.contains(&a.ip()))
    });
    from_trusted && forwarded_https(req.headers().get_all("x-forwarded-proto"))
}

/// Whether the hop nearest to Herald (the trusted proxy) says HTTPS: the last
/// value of the last `X-Forwarded-Proto` header. Earlier values were added by
/// whoever sent the request to that proxy, and a client can write them.
fn forwarded_https<'a>(headers: impl Iterator<Item = &'a HeaderValue>) -> bool {
    headers
        .last()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

async fn app_for(state: &AppState, api_key: &str) -> Result<apps::Model, GigyaError> {
    let app = state.store.app_by_api_key(api_key).await?.ok_or_else(|| {
        GigyaError::new(
            Code::InvalidApiKey,
            format!("Invalid ApiKey parameter: {api_key}"),
        )
    })?;
    if app.disabled {
        return Err(GigyaError::new(
            Code::UnauthorizedPartner,
            "this app is disabled",
        ));
    }
    Ok(app)
}

async fn key_for(
    state: &AppState,
    app: &apps::Model,
    user_key: &str,
) -> Result<app_keys::Model, GigyaError> {
    let key = state
        .store
        .key_by_user_key(user_key)
        .await?
        .filter(|k| k.app_id == app.id)
        .ok_or_else(|| GigyaError::invalid("userKey", "unknown for this apiKey"))?;
    if key.is_revoked() {
        return Err(GigyaError::new(
            Code::PermissionDenied,
            "this userKey has been revoked",
        ));
    }
    Ok(key)
}

pub async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
    method: &str,
) -> Result<Caller, GigyaError> {
    if let Some(h) = req.headers().get("authorization") {
        let value = h.to_str().map_err(|_| {
            GigyaError::new(
                Code::InvalidRequestFormat,
                "Authorization header is not ASCII",
            )
        })?;
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        {
            return bearer(state, params, token.trim()).await;
        }
        return Err(GigyaError::new(
            Code::InvalidRequestFormat,
            "Authorization must use the Bearer scheme",
        ));
    }
    let api_key = params.required("apiKey")?;
    let app = app_for(state, api_key).await?;
    let key = match params.value("userKey") {
        Some(uk) => Some(key_for(state, &app, uk).await?),
        None => None,
    };
    if let Some(sig) = params.value("sig") {
        signed(state, req, params, method, &app, key.as_ref(), sig).await?;
    } else if let Some(secret) = params.get("secret") {
        if !is_https(state, req) {
            return Err(GigyaError::new(
                Code::SecretOverHttp,
                "the secret may only be sent over HTTPS; sign the request (timestamp, nonce, sig) instead",
            ));
        }
        let accepted = match &key {
            Some(k) => vec![state.store.key_secret(k)?.ok_or_else(|| {
                GigyaError::new(
                    Code::InvalidSecret,
                    "this userKey has no secret (it is an RSA key)",
                )
            })?],
            // The partner secret, and the previous one during its rotation grace.
            None => state.store.app_secrets(&app)?,
        };
        let given = secret.trim().as_bytes();
        if !accepted
            .iter()
            .any(|s| constant_time_eq(given, s.expose().as_bytes()))
        {
            return Err(GigyaError::new(Code::InvalidSecret, "Invalid Secret"));
        }
    } else {
        return Err(GigyaError::missing(
            "secret (or timestamp, nonce and sig, or an Authorization: Bearer token)",
        ));
    }
    Ok(Caller { app, key })
}

async fn signed(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
    method: &str,
    app: &apps::Model,
    key: Option<&app_keys::Model>,
    sig: &str,
) -> Result<(), GigyaError> {
    let raw_ts = params.required("timestamp")?;
    let nonce = params.required("nonce")?;
    let ts = signature::timestamp_seconds(raw_ts)
        .ok_or_else(|| GigyaError::invalid("timestamp", "must be Unix seconds or milliseconds"))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let skew = now
        .checked_sub(ts)
        .and_then(i64::checked_abs)
        .unwrap_or(i64::MAX);
    if skew > WINDOW_SECS {
        return Err(GigyaError::new(
            Code::RequestExpired,
            format!(
                "Request has expired: timestamp is {}s away from the server clock (limit {WINDOW_SECS}s)",
                now.saturating_sub(ts)
            ),
        ));
    }
    let secrets = match key {
        Some(k) => vec![state.store.key_secret(k)?.ok_or_else(|| {
            GigyaError::new(
                Code::InvalidSignature,
                "this userKey is an RSA key; sign with a Bearer JWT",
            )
        })?],
        None => state.store.app_secrets(app)?,
    };
    let candidates = signature::candidate_urls(
        &state.config.public_url,
        method,
        &state.config.gigya.data_centers,
    );
    let pairs = params.signed_pairs();
    let mut verified = false;
    for secret in &secrets {
        match signature::verify(
            secret.expose(),
            req.method().as_str(),
            &candidates,
            &pairs,
            sig,
        ) {
            Ok(v) => {
                tracing::debug!(url = %v.normalized_url, "signature verified");
                verified = true;
                break;
            }
            Err(signature::SignatureError::Mismatch { tried }) => {
                for base in &tried {
                    tracing::debug!(base_string = %base, "signature mismatch");
                }
            }
            Err(e) => return Err(GigyaError::internal(e)),
        }
    }
    if !verified {
        return Err(GigyaError::new(
            Code::InvalidSignature,
            "Invalid request signature",
        ));
    }
    // Recorded only after the signature holds, so nobody can burn a nonce.
    let scope = format!(
        "gigya-nonce:{}",
        key.map_or(app.api_key.as_str(), |k| k.user_key.as_str())
    );
    let keep_until = now_ms() + 2 * WINDOW_SECS * 1000 + 60_000;
    if !state.store.use_nonce(&scope, nonce, keep_until).await? {
        return Err(GigyaError::new(Code::DuplicateNonce, "Duplicate nonce"));
    }
    Ok(())
}

#[derive(Deserialize)]
struct JwtClaims {
    iat: i64,
    exp: Option<i64>,
    jti: String,
}

/// RS256 with `kid` = a userKey whose public key is registered; `iat` within
/// the window; `jti` single-use (recorded here).
pub async fn verify_rs256(
    state: &AppState,
    token: &str,
) -> Result<app_keys::Model, (Code, String)> {
    let (key, jti) = verify_rs256_unrecorded(state, token).await?;
    let fresh = state
        .store
        .record_nonce(jti)
        .await
        .map_err(|e| (Code::GeneralServerError, e.to_string()))?;
    if !fresh {
        return Err((
            Code::DuplicateNonce,
            "bearer token already used (jti replayed)".into(),
        ));
    }
    Ok(key)
}

/// [`verify_rs256`] without recording the `jti`: the caller writes it (with
/// the action it authorizes, in one batch) before it answers.
pub async fn verify_rs256_unrecorded(
    state: &AppState,
    token: &str,
) -> Result<(app_keys::Model, Nonce), (Code, String)> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| {
        (
            Code::InvalidRequestFormat,
            "bearer token is not a JWT".to_owned(),
        )
    })?;
    if header.alg != Algorithm::RS256 {
        return Err((
            Code::InvalidRequestFormat,
            "bearer token must be signed with RS256".into(),
        ));
    }
    let kid = header.kid.ok_or((
        Code::InvalidRequestFormat,
        "bearer token has no kid (the userKey)".into(),
    ))?;
    let key = state
        .store
        .key_by_user_key(&kid)
        .await
        .map_err(|e| (Code::GeneralServerError, e.to_string()))?
        .filter(|k| k.kind() == Some(KeyKind::Rsa))
        .ok_or((
            Code::InvalidSignature,
            "kid is not a registered RSA userKey".into(),
        ))?;
    if key.is_revoked() {
        return Err((
            Code::PermissionDenied,
            "this userKey has been revoked".into(),
        ));
    }
    let pem = key.public_key_pem.as_deref().unwrap_or_default();
    let decoding = DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|e| (Code::GeneralServerError, format!("stored public key: {e}")))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<JwtClaims>(token, &decoding, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => (
                Code::InvalidSignature,
                "bearer token signature does not match the registered key".to_owned(),
            ),
            _ => (
                Code::InvalidRequestFormat,
                "bearer token needs the claims iat and jti".to_owned(),
            ),
        })?
        .claims;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let skew = now
        .checked_sub(claims.iat)
        .and_then(i64::checked_abs)
        .unwrap_or(i64::MAX);
    if skew > WINDOW_SECS || claims.exp.is_some_and(|e| e < now) {
        return Err((
            Code::RequestExpired,
            format!("bearer token iat must be within {WINDOW_SECS}s of the server clock"),
        ));
    }
    if claims.jti.is_empty() || claims.jti.len() > 128 {
        return Err((
            Code::InvalidParameterValue,
            "bearer token jti must be 1 to 128 characters".into(),
        ));
    }
    // iat is within the window here; saturating all the same (input).
    let keep_until = claims
        .iat
        .saturating_add(2 * WINDOW_SECS + 60)
        .saturating_mul(1000);
    let jti = Nonce::new(format!("jti-rsa:{}", key.user_key), claims.jti, keep_until);
    Ok((key, jti))
}

async fn bearer(state: &AppState, params: &Params, token: &str) -> Result<Caller, GigyaError> {
    let key = verify_rs256(state, token).await.map_err(|(c, m)| {
        if c == Code::GeneralServerError {
            GigyaError::internal(m)
        } else {
            GigyaError::new(c, m)
        }
    })?;
    let app =
        state.store.app(&key.app_id()).await?.ok_or_else(|| {
            GigyaError::new(Code::InvalidApiKey, "the key's app no longer exists")
        })?;
    if let Some(api_key) = params.value("apiKey")
        && api_key != app.api_key
    {
        return Err(GigyaError::new(
            Code::InvalidApiKey,
            "apiKey does not match the token's userKey",
        ));
    }
    if app.disabled {
        return Err(GigyaError::new(
            Code::UnauthorizedPartner,
            "this app is disabled",
        ));
    }
    Ok(Caller {
        app,
        key: Some(key),
    })
}

#[cfg(test)]
mod tests {
    use super::forwarded_https;
    use actix_web::http::header::HeaderValue;

    fn says_https(headers: &[&str]) -> bool {
        let values: Vec<HeaderValue> = headers
            .iter()
            .map(|h| HeaderValue::from_str(h).unwrap())
            .collect();
        forwarded_https(values.iter())
    }

    #[test]
    fn the_hop_nearest_to_herald_decides() {
        assert!(says_https(&["https"]));
        assert!(says_https(&["HTTPS"]));
        assert!(says_https(&["http, https"]));
        assert!(says_https(&["http", "https"]));
        // A client's own "https" before the proxy's "http" is not believed.
        assert!(!says_https(&["https, http"]));
        assert!(!says_https(&["https,http"]));
        assert!(!says_https(&["https", "http"]));
        assert!(!says_https(&["http"]));
        assert!(!says_https(&[]));
        assert!(!says_https(&["https, "]));
    }
}
