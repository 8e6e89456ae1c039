//! Connecting an account on a user-named instance. Herald registers itself
//! once per (app, instance) with `POST /api/v1/apps`, sends the user to
//! `/oauth/authorize` (authorization code + PKCE S256: Mastodon ≥ 4.3 checks
//! it, older servers ignore the extra parameters), exchanges the code at
//! `/oauth/token`, and names the account with
//! `GET /api/v1/accounts/verify_credentials`. Mastodon tokens do not expire
//! unless the server says so (`expires_in`); `/oauth/revoke` ends one.
//! No code, verifier, secret or token ever reaches an error message.

use crate::api::{self, Answer};
use crate::errors::redact;
use herald_core::{
    AuthorizeRequest, CallbackParams, Credential, HttpCtx, ProviderError, RegisteredClient, Secret,
};
use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;

pub const APPS_PATH: &str = "api/v1/apps";
pub const AUTHORIZE_PATH: &str = "oauth/authorize";
pub const TOKEN_PATH: &str = "oauth/token";
pub const REVOKE_PATH: &str = "oauth/revoke";
pub const VERIFY_PATH: &str = "api/v1/accounts/verify_credentials";
/// Post statuses, upload media, and read the account (verify_credentials
/// needs `read:accounts`; the narrower `profile` scope exists only from 4.3,
/// and an older server refuses to register an app with an unknown scope).
pub const SCOPES: [&str; 3] = ["write:statuses", "write:media", "read:accounts"];
/// The app name shown on the consent page unless the app sets `client_name`.
pub const DEFAULT_CLIENT_NAME: &str = "Herald";

/// `POST /api/v1/apps` answer (only what Herald keeps).
#[derive(Deserialize)]
struct AppAnswer {
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `/oauth/token` answer. Mastodon sends `access_token`, `token_type`,
/// `scope`, `created_at`; `expires_in` and `refresh_token` only when the
/// server issues expiring tokens, and then they are kept.
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

/// The account a token belongs to (the CredentialAccount's few fields used).
#[derive(Deserialize)]
struct Account {
    id: serde_json::Value,
    #[serde(default)]
    acct: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

fn option<'a>(http: &'a HttpCtx, name: &str) -> Option<&'a str> {
    http.settings
        .options
        .get(name)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
}

/// Registers Herald at the instance for `callback_url` with `scopes`. The
/// app's `client_name` and `website` options are shown on the consent page.
pub async fn register_client(
    callback_url: &str,
    scopes: &[&str],
    http: &HttpCtx,
) -> Result<RegisteredClient, ProviderError> {
    let url = api::url(http, APPS_PATH).await?;
    let scopes = scopes.join(" ");
    let mut form = vec![
        (
            "client_name",
            option(http, "client_name").unwrap_or(DEFAULT_CLIENT_NAME),
        ),
        ("redirect_uris", callback_url),
        ("scopes", scopes.as_str()),
    ];
    if let Some(w) = option(http, "website") {
        form.push(("website", w));
    }
    let answer = api::send(http.client.post(url).form(&form)).await?;
    let app: AppAnswer = answer.json("app registration")?;
    match (app.client_id, app.client_secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok(RegisteredClient {
            client_id: id,
            client_secret: Secret::new(secret),
        }),
        _ => Err(ProviderError::Rejected {
            status: Some(answer.status),
            code: "invalid_answer".into(),
            message: "the instance registered the app without a client_id and client_secret".into(),
        }),
    }
}

/// The registered client's id and secret, from the settings Herald filled in.
pub fn client(http: &HttpCtx) -> Result<(&str, &str), ProviderError> {
    herald_core::oauth2::client_credentials(
        &http.settings,
        "no client is registered at this Mastodon instance",
    )
}

/// The instance's consent page.
pub fn authorize_url(req: &AuthorizeRequest, http: &HttpCtx) -> Result<Url, ProviderError> {
    let client_id = http
        .settings
        .client_id
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ProviderError::Unsupported {
            message: "no client is registered at this Mastodon instance (client_id missing)".into(),
        })?;
    let raw = http.consent_url(AUTHORIZE_PATH);
    let mut url = Url::parse(&raw).map_err(|e| ProviderError::Rejected {
        status: None,
        code: "invalid_instance".into(),
        message: format!("the instance consent URL {raw:?} is invalid: {e}"),
    })?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", &req.callback_url)
            .append_pair("scope", &SCOPES.join(" "))
            .append_pair("state", &req.state);
        if let Some(challenge) = &req.pkce_challenge {
            q.append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
        }
    }
    Ok(url)
}

/// Exchanges the callback's code, then asks the instance whose token it is.
pub async fn exchange(cb: &CallbackParams, http: &HttpCtx) -> Result<Credential, ProviderError> {
    let code = herald_core::oauth2::callback_code(&cb.query)?;
    let (client_id, client_secret) = client(http)?;
    let verifier = cb.pkce_verifier.as_ref().map(Secret::expose);
    let scope = SCOPES.join(" ");
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("redirect_uri", cb.callback_url.as_str()),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    form.push(("scope", scope.as_str()));
    let scrub = |e: ProviderError| {
        let e = redact(redact(e, code), client_secret);
        match verifier {
            Some(v) => redact(e, v),
            None => e,
        }
    };
    let url = api::url(http, TOKEN_PATH).await?;
    let answer = api::send(http.client.post(url).form(&form))
        .await
        .map_err(scrub)?;
    let tokens = token_answer(&answer, "code exchange").map_err(scrub)?;
    let access = tokens.access_token.clone().unwrap_or_default();
    let (provider_uid, display_name) = whoami(&access, http)
        .await
        .map_err(|e| redact(e, &access))?;
    let base = api::instance_base(&http.api_base).ok_or_else(|| ProviderError::Rejected {
        status: None,
        code: "invalid_instance".into(),
        message: "the instance URL has no host".into(),
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
        url: Some(base),
        secret: None,
    })
}

/// Judges a token endpoint answer: 2xx with an `access_token`, else the
/// classified error. A 401 there is `invalid_client`: the cached client
/// registration is no longer known to the instance (the admin removed it), so
/// it is `Rejected` with that code for Herald to register again, rather than
/// `AuthRevoked` (which would blame the user).
pub fn token_answer(answer: &Answer, what: &str) -> Result<TokenAnswer, ProviderError> {
    if answer.status == 401 {
        let net = crate::errors::NetworkError::parse(&answer.body);
        if net.error.as_deref() == Some("invalid_client") {
            return Err(ProviderError::Rejected {
                status: Some(401),
                code: "invalid_client".into(),
                message: format!(
                    "the instance does not know Herald's client registration ({what}); register again"
                ),
            });
        }
    }
    let t: TokenAnswer = answer.json(what)?;
    if t.access_token.as_deref().is_none_or(str::is_empty) {
        return Err(ProviderError::Rejected {
            status: Some(answer.status),
            code: "invalid_answer".into(),
            message: format!("the instance's {what} answer has no access_token"),
        });
    }
    Ok(t)
}

fn expires_at(expires_in: Option<i64>) -> Option<OffsetDateTime> {
    expires_in
        .filter(|s| *s > 0)
        .and_then(|s| OffsetDateTime::now_utc().checked_add(time::Duration::seconds(s)))
}

/// `verify_credentials`: the account's id and `@acct@host`.
async fn whoami(token: &str, http: &HttpCtx) -> Result<(String, String), ProviderError> {
    let url = api::url(http, VERIFY_PATH).await?;
    let answer = api::send(api::authorized(http.client.get(url), token)?).await?;
    let account: Account = answer.json("verify_credentials")?;
    let id = match &account.id {
        serde_json::Value::String(s) if !s.is_empty() => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => {
            return Err(ProviderError::Rejected {
                status: Some(answer.status),
                code: "invalid_answer".into(),
                message: "verify_credentials answered without the account id".into(),
            });
        }
    };
    let acct = account
        .acct
        .or(account.username)
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| id.clone());
    // `acct` of a local account is the bare username; the instance's host
    // completes the handle. (An instance whose handles use another domain,
    // LOCAL_DOMAIN ≠ WEB_DOMAIN, is shown under its web host.)
    let name = match (acct.contains('@'), api::instance_host(&http.api_base)) {
        (false, Some(host)) => format!("@{acct}@{host}"),
        _ => format!("@{acct}"),
    };
    Ok((id, name))
}

/// Renews the token when the instance issued a refresh token; Mastodon's
/// default tokens never expire, so without one there is nothing to renew.
pub async fn refresh(cred: &Credential, http: &HttpCtx) -> Result<Credential, ProviderError> {
    let Some(rt) = cred
        .refresh_token
        .as_ref()
        .map(Secret::expose)
        .filter(|t| !t.is_empty())
    else {
        return Err(ProviderError::AuthRevoked {
            status: None,
            message: "Mastodon tokens do not expire; the user must reconnect".into(),
        });
    };
    api::check_instance(cred, http)?;
    let (client_id, client_secret) = client(http)?;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", client_id),
        ("client_secret", client_secret),
    ];
    let scrub = |e: ProviderError| redact(redact(e, rt), client_secret);
    let url = api::url(http, TOKEN_PATH).await?;
    let answer = api::send(http.client.post(url).form(&form))
        .await
        .map_err(scrub)?;
    let t = token_answer(&answer, "token refresh").map_err(scrub)?;
    Ok(Credential {
        access_token: t.access_token.map(Secret::new),
        // A server that does not rotate refresh tokens sends none back.
        refresh_token: t
            .refresh_token
            .filter(|r| !r.is_empty())
            .map(Secret::new)
            .or_else(|| cred.refresh_token.clone()),
        expires_at: expires_at(t.expires_in),
        ..cred.clone()
    })
}

/// `POST /oauth/revoke`. Mastodon answers 200 `{}` even for an unknown token,
/// so any 2xx means the token is no longer usable.
pub async fn revoke(cred: &Credential, http: &HttpCtx) -> Result<bool, ProviderError> {
    api::check_instance(cred, http)?;
    let token = cred.access_token()?;
    let (client_id, client_secret) = client(http)?;
    let form = [
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("token", token),
    ];
    let url = api::url(http, REVOKE_PATH).await?;
    let answer = api::send(http.client.post(url).form(&form))
        .await
        .map_err(|e| redact(redact(e, token), client_secret))?;
    answer
        .ok()
        .map_err(|e| redact(redact(e, token), client_secret))?;
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
            &a(200, r#"{"access_token":"t","token_type":"Bearer","scope":"write:statuses","created_at":1}"#),
            "x",
        )
        .unwrap();
        assert_eq!(t.access_token.as_deref(), Some("t"));
        assert_eq!((t.refresh_token, t.expires_in), (None, None));
        let t = token_answer(
            &a(
                200,
                r#"{"access_token":"t","refresh_token":"r","expires_in":3600}"#,
            ),
            "x",
        )
        .unwrap();
        assert_eq!(
            (t.refresh_token.as_deref(), t.expires_in),
            (Some("r"), Some(3600))
        );
        assert!(!format!("{t:?}").contains("\"r\""), "{t:?}");
        let e = token_answer(&a(200, r#"{"token_type":"Bearer"}"#), "x").unwrap_err();
        assert_eq!(e.code(), "invalid_answer");
        let e = token_answer(
            &a(
                401,
                r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
            ),
            "x",
        )
        .unwrap_err();
        assert_eq!(e.code(), "invalid_client");
        let e = token_answer(&a(400, r#"{"error":"invalid_grant"}"#), "x").unwrap_err();
        assert_eq!(e.code(), "auth_revoked");
    }
}
