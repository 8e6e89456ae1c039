//! Connecting an X account: OAuth 2.0 Authorization Code with PKCE (S256).
//!
//! Sources: docs.x.com "OAuth 2.0 Authorization Code Flow with PKCE"
//! (fundamentals/authentication/oauth-2-0/user-access-token and
//! …/authorization-code) and X's own TypeScript SDK (`OAuth2User`):
//!
//! - Consent: `https://x.com/i/oauth2/authorize?response_type=code&client_id
//!   &redirect_uri&scope&state&code_challenge&code_challenge_method=S256`.
//!   `offline.access` is what makes X issue a refresh token; access tokens
//!   last two hours.
//! - Token: `POST {api}/2/oauth2/token`, form-encoded `grant_type=
//!   authorization_code, code, redirect_uri, code_verifier, client_id`;
//!   refresh: `grant_type=refresh_token, refresh_token, client_id`. "If you
//!   are working with confidential clients, you will need to use a basic
//!   authentication scheme" — `Authorization: Basic base64(client_id:
//!   client_secret)` — and the SDK still sends `client_id` in the form.
//!   Answer `{"token_type":"bearer","expires_in":7200,"access_token",
//!   "scope","refresh_token"}`. X rotates refresh tokens: each refresh
//!   answers a new one and the old one stops working.
//! - Who: `GET {api}/2/users/me` → `{"data":{"id","name","username"}}`.
//! - Revoke: `POST {api}/2/oauth2/revoke`, form `token, token_type_hint,
//!   client_id` (+ Basic) → `{"revoked":true}`.
//!
//! No code, verifier, secret or token ever reaches an error message.

use crate::api::{self, Answer, Client};
use crate::errors::{NetworkError, redact_all};
use herald_core::{AuthorizeRequest, CallbackParams, Credential, HttpCtx, ProviderError, Secret};
use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;

/// The consent page, relative to the consent base (`https://x.com/`).
pub const AUTHORIZE_PATH: &str = "i/oauth2/authorize";
/// Relative to the API base (`https://api.x.com/`).
pub const TOKEN_PATH: &str = "2/oauth2/token";
pub const REVOKE_PATH: &str = "2/oauth2/revoke";
pub const ME_PATH: &str = "2/users/me";
/// Post, read the account, and keep access (refresh token).
/// `tweet.read` is needed alongside `tweet.write` and `users.read` by
/// X's scope mapping for POST /2/tweets and GET /2/users/me.
pub const SCOPES: [&str; 4] = ["tweet.read", "tweet.write", "users.read", "offline.access"];

/// A token endpoint answer.
#[derive(Deserialize)]
pub struct TokenAnswer {
    pub access_token: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// Tokens never show in a `{:?}`.
impl std::fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAnswer")
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

#[derive(Deserialize)]
struct Me {
    data: Option<User>,
}

#[derive(Deserialize)]
struct User {
    id: Option<serde_json::Value>,
    #[serde(default)]
    username: Option<String>,
}

/// X's consent page for this app.
pub fn authorize_url(req: &AuthorizeRequest, http: &HttpCtx) -> Result<Url, ProviderError> {
    let client = api::client(http)?;
    // X requires PKCE on every authorization request.
    let challenge = req
        .pkce_challenge
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ProviderError::Unsupported {
            message: "X requires a PKCE code_challenge".into(),
        })?;
    let raw = http.consent_url(AUTHORIZE_PATH);
    let mut url = Url::parse(&raw).map_err(|e| ProviderError::Unsupported {
        message: format!("the X consent URL {raw:?} is invalid: {e}"),
    })?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client.id)
        .append_pair("redirect_uri", &req.callback_url)
        .append_pair("scope", &SCOPES.join(" "))
        .append_pair("state", &req.state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    Ok(url)
}

/// Exchanges the callback's code, then asks X whose token it is.
pub async fn exchange(cb: &CallbackParams, http: &HttpCtx) -> Result<Credential, ProviderError> {
    let code = herald_core::oauth2::callback_code(&cb.query)?;
    let verifier = cb
        .pkce_verifier
        .as_ref()
        .map(Secret::expose)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ProviderError::Rejected {
            status: None,
            code: "missing_code_verifier".into(),
            message: "the connect flow has no PKCE verifier, which X requires".into(),
        })?;
    let client = api::client(http)?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", cb.callback_url.as_str()),
        ("code_verifier", verifier),
        ("client_id", client.id),
    ];
    let secrets = [code, verifier, client.secret.unwrap_or_default()];
    let scrub = |e: ProviderError| redact_all(e, &secrets);
    let answer = token_request(&client, &form, http).await.map_err(scrub)?;
    let tokens = token_answer(&answer, "code exchange").map_err(scrub)?;
    let access = tokens.access_token.clone().unwrap_or_default();
    let (provider_uid, display_name) = whoami(&access, http).await.map_err(|e| {
        // A token issued a moment ago has not expired: X refusing it means
        // the grant is unusable.
        let e = match e {
            ProviderError::AuthExpired { status, message } => {
                ProviderError::AuthRevoked { status, message }
            }
            other => other,
        };
        redact_all(e, &[&access])
    })?;
    Ok(Credential {
        access_token: Some(Secret::new(access)),
        refresh_token: tokens
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        expires_at: expires_at(tokens.expires_in),
        provider_uid,
        display_name: Some(display_name),
        ..Credential::default()
    })
}

async fn token_request(
    client: &Client<'_>,
    form: &[(&str, &str)],
    http: &HttpCtx,
) -> Result<Answer, ProviderError> {
    let url = api::url(http, TOKEN_PATH)?;
    api::send(client.authenticate(http.client.post(url).form(form))).await
}

/// Judges a token endpoint answer: 2xx with an `access_token`, else the
/// classified error. A 401 there (`unauthorized_client`, "Missing valid
/// authorization header", or a wrong secret) is the app's client
/// configuration, not the user's token: `Rejected` `invalid_client`, never
/// `AuthExpired` (which would ask for the very refresh that failed).
pub fn token_answer(answer: &Answer, what: &str) -> Result<TokenAnswer, ProviderError> {
    if answer.status == 401 {
        return Err(client_refused(answer, what));
    }
    let t: TokenAnswer = answer.json(what)?;
    if t.access_token.as_deref().is_none_or(str::is_empty) {
        return Err(ProviderError::Rejected {
            status: Some(answer.status),
            code: "invalid_answer".into(),
            message: format!("X's {what} answer has no access_token"),
        });
    }
    Ok(t)
}

/// A 401 from the token or revoke endpoint: the app's client credentials.
fn client_refused(answer: &Answer, what: &str) -> ProviderError {
    let net = NetworkError::parse(&answer.body);
    ProviderError::Rejected {
        status: Some(401),
        code: "invalid_client".into(),
        message: format!(
            "X refused the app's client credentials ({what}): {}; check client_id and client_secret",
            net.message().unwrap_or_else(|| "Unauthorized".into())
        ),
    }
}

fn expires_at(expires_in: Option<i64>) -> Option<OffsetDateTime> {
    expires_in
        .filter(|s| *s > 0)
        .and_then(|s| OffsetDateTime::now_utc().checked_add(time::Duration::seconds(s)))
}

/// `GET /2/users/me`: the account's id and `@username`.
async fn whoami(token: &str, http: &HttpCtx) -> Result<(String, String), ProviderError> {
    let url = api::url(http, ME_PATH)?;
    let answer = api::send(api::authorized(http.client.get(url), token)?).await?;
    let me: Me = answer.json("users/me")?;
    let user = me.data.ok_or_else(|| missing_id(answer.status))?;
    let id = match user.id {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => return Err(missing_id(answer.status)),
    };
    let name = match user.username.as_deref().map(str::trim) {
        Some(u) if !u.is_empty() => format!("@{u}"),
        _ => id.clone(),
    };
    Ok((id, name))
}

fn missing_id(status: u16) -> ProviderError {
    ProviderError::Rejected {
        status: Some(status),
        code: "invalid_answer".into(),
        message: "users/me answered without the account id".into(),
    }
}

/// Renews the access token. X rotates refresh tokens, so the answer's new
/// one replaces the stored one.
pub async fn refresh(cred: &Credential, http: &HttpCtx) -> Result<Credential, ProviderError> {
    let Some(rt) = cred
        .refresh_token
        .as_ref()
        .map(Secret::expose)
        .filter(|t| !t.is_empty())
    else {
        return Err(ProviderError::AuthRevoked {
            status: None,
            message: "the connection has no refresh token (connected without offline.access); the user must reconnect".into(),
        });
    };
    let client = api::client(http)?;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", client.id),
    ];
    let secrets = [rt, client.secret.unwrap_or_default()];
    let scrub = |e: ProviderError| redact_all(e, &secrets);
    let answer = token_request(&client, &form, http).await.map_err(scrub)?;
    let t = token_answer(&answer, "token refresh").map_err(scrub)?;
    Ok(Credential {
        access_token: t.access_token.map(Secret::new),
        refresh_token: t
            .refresh_token
            .filter(|r| !r.is_empty())
            .map(Secret::new)
            .or_else(|| cred.refresh_token.clone()),
        expires_at: expires_at(t.expires_in),
        ..cred.clone()
    })
}

/// Revokes the refresh token (the lasting grant) and then the access token.
/// A token X no longer knows (400 "Value passed for the token was invalid.")
/// is as good as revoked.
pub async fn revoke(cred: &Credential, http: &HttpCtx) -> Result<bool, ProviderError> {
    let client = api::client(http)?;
    let tokens = [
        (cred.refresh_token.as_ref(), "refresh_token"),
        (cred.access_token.as_ref(), "access_token"),
    ];
    let mut any = false;
    for (token, hint) in tokens {
        let Some(token) = token.map(Secret::expose).filter(|t| !t.is_empty()) else {
            continue;
        };
        any = true;
        let form = [
            ("token", token),
            ("token_type_hint", hint),
            ("client_id", client.id),
        ];
        let secrets = [token, client.secret.unwrap_or_default()];
        let url = api::url(http, REVOKE_PATH)?;
        let answer = api::send(client.authenticate(http.client.post(url).form(&form)))
            .await
            .map_err(|e| redact_all(e, &secrets))?;
        if answer.is_success()
            || (answer.status == 400
                && crate::errors::is_dead_grant(&NetworkError::parse(&answer.body)))
        {
            continue;
        }
        let e = if answer.status == 401 {
            client_refused(&answer, "revocation")
        } else {
            answer.error()
        };
        return Err(redact_all(e, &secrets));
    }
    if !any {
        return Err(ProviderError::AuthRevoked {
            status: None,
            message: "the connection has no token to revoke".into(),
        });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers() {
        let a = |status: u16, body: &str| Answer {
            status,
            retry_after: None,
            body: body.into(),
        };
        let t = token_answer(
            &a(
                200,
                r#"{"token_type":"bearer","expires_in":7200,"access_token":"at-1","scope":"tweet.read tweet.write users.read offline.access","refresh_token":"rt-1"}"#,
            ),
            "x",
        )
        .unwrap();
        assert_eq!(t.access_token.as_deref(), Some("at-1"));
        assert_eq!(
            (t.refresh_token.as_deref(), t.expires_in),
            (Some("rt-1"), Some(7200))
        );
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("at-1") && !shown.contains("rt-1"),
            "{shown}"
        );
        let e = token_answer(&a(200, r#"{"token_type":"bearer"}"#), "x").unwrap_err();
        assert_eq!(e.code(), "invalid_answer");
        let e = token_answer(
            &a(
                401,
                r#"{"error":"unauthorized_client","error_description":"Missing valid authorization header"}"#,
            ),
            "x",
        )
        .unwrap_err();
        assert_eq!(e.code(), "invalid_client");
        assert!(e.message().contains("Missing valid authorization header"));
        let e = token_answer(
            &a(
                400,
                r#"{"error":"invalid_request","error_description":"Value passed for the token was invalid."}"#,
            ),
            "x",
        )
        .unwrap_err();
        assert_eq!(e.code(), "auth_revoked");
    }
}
