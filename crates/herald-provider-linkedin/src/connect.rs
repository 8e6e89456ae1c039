//! Connecting a member: OAuth 2.0 authorization code ("3-legged OAuth",
//! learn.microsoft.com/linkedin/shared/authentication/authorization-code-flow)
//! plus OpenID Connect for the member's identity
//! (…/linkedin/consumer/integrations/self-serve/sign-in-with-linkedin-v2).
//!
//! - Consent: `{consent_base}/oauth/v2/authorization?response_type=code&
//!   client_id&redirect_uri&state&scope=openid profile w_member_social`.
//!   The member grants all scopes or none. A refusal comes back as
//!   `error=user_cancelled_authorize` / `user_cancelled_login` (or an OAuth
//!   `access_denied`) with `error_description`.
//! - No PKCE: LinkedIn offers PKCE only to native clients of approved
//!   partners; a web app authenticates with its client secret, and
//!   implementations sending a `code_verifier` report being refused. So the
//!   flow is [`herald_core::FlowKind::OAuth2`] and a challenge, if Herald
//!   made one, is not sent.
//! - Token: `POST {consent_base}/oauth/v2/accessToken`, form-encoded
//!   `grant_type=authorization_code, code, client_id, client_secret,
//!   redirect_uri` (credentials in the body, no Basic auth) →
//!   `{access_token, expires_in (60 days), scope, id_token?,
//!   refresh_token?, refresh_token_expires_in?}`.
//! - Identity: `GET {api_base}/v2/userinfo` with the Bearer token →
//!   `{sub, name, given_name, family_name, …}`; `sub` is the member id of
//!   the author URN `urn:li:person:{sub}`. LinkedIn is known to refuse a
//!   token in its first seconds (401 `REVOKED_ACCESS_TOKEN` right after a
//!   successful exchange), so that one call is tried up to three times.
//! - Refresh (…/authentication/programmatic-refresh-tokens): only apps
//!   approved for programmatic refresh tokens get a `refresh_token`; `POST
//!   …/accessToken` with `grant_type=refresh_token, refresh_token, client_id,
//!   client_secret`. The refresh token keeps its original one-year lifetime;
//!   whatever `refresh_token` the answer carries is stored.
//! - Revocation: LinkedIn documents token introspection
//!   (`/oauth/v2/introspectToken`) but no revocation endpoint; a member ends
//!   access under Settings → Data privacy → Permitted services. So
//!   [`revoke`] is `Ok(false)` and sends nothing.
//!
//! No code, secret or token ever reaches an error message.

use crate::api::{self, Answer};
use crate::errors::{NetworkError, redact};
use herald_core::{AuthorizeRequest, CallbackParams, Credential, HttpCtx, ProviderError, Secret};
use serde::Deserialize;
use std::time::Duration;
use time::OffsetDateTime;
use url::Url;

pub const AUTHORIZE_PATH: &str = "oauth/v2/authorization";
pub const TOKEN_PATH: &str = "oauth/v2/accessToken";
pub const USERINFO_PATH: &str = "v2/userinfo";
/// Sign in with OpenID (`openid profile`: `/v2/userinfo`'s `sub` and
/// `name`) and post as the member (`w_member_social`).
pub const SCOPES: [&str; 3] = ["openid", "profile", "w_member_social"];
/// Waits before retrying `/v2/userinfo` when LinkedIn refuses a token it has
/// just issued.
pub const USERINFO_RETRY_DELAYS: [Duration; 2] =
    [Duration::from_millis(500), Duration::from_millis(1500)];

/// The token endpoint's answer (only what Herald keeps).
#[derive(Deserialize)]
pub struct TokenAnswer {
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub refresh_token_expires_in: Option<i64>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// Tokens never show in a `{:?}`.
impl std::fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAnswer")
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("refresh_token_expires_in", &self.refresh_token_expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// `/v2/userinfo` (the OpenID claims used).
#[derive(Deserialize)]
struct UserInfo {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
}

/// The app's client id and secret from the provider settings.
pub fn client(http: &HttpCtx) -> Result<(&str, &str), ProviderError> {
    herald_core::oauth2::client_credentials(&http.settings, "the app has no LinkedIn client")
}

fn consent_url(http: &HttpCtx, path: &str) -> Result<Url, ProviderError> {
    let raw = http.consent_url(path);
    Url::parse(&raw).map_err(|e| ProviderError::Unsupported {
        message: format!("the LinkedIn consent URL {raw:?} is invalid: {e}"),
    })
}

/// LinkedIn's consent page.
pub fn authorize_url(req: &AuthorizeRequest, http: &HttpCtx) -> Result<Url, ProviderError> {
    let client_id = http
        .settings
        .client_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ProviderError::Unsupported {
            message: "the app has no LinkedIn client_id configured".into(),
        })?;
    let mut url = consent_url(http, AUTHORIZE_PATH)?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &req.callback_url)
        .append_pair("state", &req.state)
        .append_pair("scope", &SCOPES.join(" "));
    Ok(url)
}

/// Exchanges the callback's code, then asks `/v2/userinfo` whose token it is.
pub async fn exchange(cb: &CallbackParams, http: &HttpCtx) -> Result<Credential, ProviderError> {
    let code = herald_core::oauth2::callback_code(&cb.query)?;
    let (client_id, client_secret) = client(http)?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("redirect_uri", cb.callback_url.as_str()),
    ];
    let scrub = |e: ProviderError| redact(redact(e, code), client_secret);
    let url = consent_url(http, TOKEN_PATH)?;
    let answer = api::send(http.client.post(url).form(&form))
        .await
        .map_err(scrub)?;
    let tokens = token_answer(&answer, "code exchange").map_err(scrub)?;
    let access = tokens.access_token.clone().unwrap_or_default();
    let (provider_uid, display_name) = whoami(&access, http)
        .await
        .map_err(|e| redact(e, &access))?;
    Ok(Credential {
        access_token: Some(Secret::new(access)),
        refresh_token: tokens
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        expires_at: expires_at(tokens.expires_in),
        provider_uid,
        display_name,
        url: None,
        secret: None,
    })
}

/// Judges a token endpoint answer: 2xx with an `access_token`, else the
/// classified error. A 401 `invalid_client` means the app's client id or
/// secret is wrong: `Rejected` with that code (the operator must fix it),
/// not `AuthRevoked` (which would blame the member).
pub fn token_answer(answer: &Answer, what: &str) -> Result<TokenAnswer, ProviderError> {
    if answer.status == 401
        && NetworkError::parse(&answer.body).error.as_deref() == Some("invalid_client")
    {
        return Err(ProviderError::Rejected {
            status: Some(401),
            code: "invalid_client".into(),
            message: format!("LinkedIn does not accept the app's client_id/client_secret ({what})"),
        });
    }
    let t: TokenAnswer = answer.json(what)?;
    if t.access_token.as_deref().is_none_or(str::is_empty) {
        return Err(ProviderError::Rejected {
            status: Some(answer.status),
            code: "invalid_answer".into(),
            message: format!("LinkedIn's {what} answer has no access_token"),
        });
    }
    Ok(t)
}

fn expires_at(expires_in: Option<i64>) -> Option<OffsetDateTime> {
    expires_in
        .filter(|s| *s > 0)
        .and_then(|s| OffsetDateTime::now_utc().checked_add(time::Duration::seconds(s)))
}

/// `/v2/userinfo`: the member id (`sub`) and name.
async fn whoami(token: &str, http: &HttpCtx) -> Result<(String, Option<String>), ProviderError> {
    let url = http.api_url(USERINFO_PATH);
    let mut delays = USERINFO_RETRY_DELAYS.iter();
    let answer = loop {
        let req = http
            .client
            .get(&url)
            .header(reqwest::header::AUTHORIZATION, api::bearer(token)?);
        let answer = api::send(req).await?;
        let just_issued_refusal = answer.status == 401
            && NetworkError::parse(&answer.body).code.as_deref() == Some("REVOKED_ACCESS_TOKEN");
        match delays.next() {
            Some(d) if just_issued_refusal => tokio::time::sleep(*d).await,
            _ => break answer,
        }
    };
    let info: UserInfo = answer.json("userinfo")?;
    let sub = info
        .sub
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ProviderError::Rejected {
            status: Some(answer.status),
            code: "invalid_answer".into(),
            message: "userinfo answered without the member's sub".into(),
        })?;
    let name = info
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .or_else(|| {
            let full = [info.given_name, info.family_name]
                .into_iter()
                .flatten()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            (!full.is_empty()).then_some(full)
        });
    Ok((sub, name))
}

/// Renews the access token with the programmatic refresh token; without one
/// (most apps) the member must go through consent again.
pub async fn refresh(cred: &Credential, http: &HttpCtx) -> Result<Credential, ProviderError> {
    let Some(rt) = cred
        .refresh_token
        .as_ref()
        .map(Secret::expose)
        .filter(|t| !t.is_empty())
    else {
        return Err(ProviderError::AuthRevoked {
            status: None,
            message:
                "LinkedIn issued no refresh token for this connection; the user must reconnect"
                    .into(),
        });
    };
    let (client_id, client_secret) = client(http)?;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", client_id),
        ("client_secret", client_secret),
    ];
    let scrub = |e: ProviderError| redact(redact(e, rt), client_secret);
    let url = consent_url(http, TOKEN_PATH)?;
    let answer = api::send(http.client.post(url).form(&form))
        .await
        .map_err(scrub)?;
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

/// LinkedIn has no documented revocation endpoint: nothing is sent.
pub async fn revoke(_cred: &Credential, _http: &HttpCtx) -> Result<bool, ProviderError> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers() {
        let a = |status: u16, body: &str| Answer {
            status,
            retry_after: None,
            restli_id: None,
            body: body.into(),
        };
        let t = token_answer(
            &a(200, r#"{"access_token":"AQX","expires_in":5184000,"scope":"openid,profile,w_member_social","token_type":"Bearer","id_token":"eyJ"}"#),
            "x",
        )
        .unwrap();
        assert_eq!(t.access_token.as_deref(), Some("AQX"));
        assert_eq!(
            (t.expires_in, t.refresh_token.as_deref()),
            (Some(5_184_000), None)
        );
        let t = token_answer(
            &a(200, r#"{"access_token":"AQX","expires_in":5184000,"refresh_token":"AQR","refresh_token_expires_in":31536000}"#),
            "x",
        )
        .unwrap();
        assert_eq!(t.refresh_token_expires_in, Some(31_536_000));
        let shown = format!("{t:?}");
        assert!(!shown.contains("AQX") && !shown.contains("AQR"), "{shown}");
        let e = token_answer(&a(200, r#"{"expires_in":1}"#), "x").unwrap_err();
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
