//! Connecting the Pages a person manages (Facebook Login, "Manually Build a
//! Login Flow": developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow).
//!
//! 1. The consent page is `{consent_base}/{version}/dialog/oauth` with
//!    `client_id`, `redirect_uri`, `state`, `response_type=code` and the
//!    Page permissions in `scope`. A refusal comes back as
//!    `?error=access_denied&error_reason=user_denied&error_description=…`.
//!    PKCE is left out: Facebook documents `code_challenge` only for its
//!    OIDC code flow, "still in testing", not for the Graph token flow; the
//!    confidential app secret protects the code exchange instead.
//! 2. `GET {api_base}/{version}/oauth/access_token?client_id&redirect_uri&
//!    client_secret&code` answers `{access_token, token_type, expires_in}`,
//!    a short-lived user token.
//! 3. The same endpoint with `grant_type=fb_exchange_token&client_id&
//!    client_secret&fb_exchange_token` turns it into a long-lived user token
//!    ("Get Long-Lived Tokens": …/facebook-login/guides/access-tokens/get-long-lived).
//! 4. `GET /{version}/me/accounts` with that token lists the Pages with
//!    `{id, name, access_token, tasks}` ("Pages API, Get Started"). A Page
//!    token obtained from a long-lived user token has no expiry, so every
//!    Page the person may post to (task `CREATE_CONTENT`) becomes one
//!    credential: provider_uid = Page id, display name = Page name, no
//!    refresh token. The user token itself is not kept.
//!
//! Consequences: there is nothing to refresh ([`refresh`] says "reconnect"),
//! and nothing Herald can revoke with a Page token ([`revoke`]). No code,
//! token or app secret ever reaches an error message.

use crate::api::{self, Answer};
use crate::errors::{classify_token, redact_all};
use herald_core::{AuthorizeRequest, CallbackParams, Credential, HttpCtx, ProviderError, Secret};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

/// The consent dialog, under `{consent_base}/{version}/`.
pub const AUTHORIZE_PATH: &str = "dialog/oauth";
/// The token endpoint, under `{api_base}/{version}/`.
pub const TOKEN_PATH: &str = "oauth/access_token";
/// Publish as the Page, read its engagement (required alongside), list the
/// person's Pages.
pub const SCOPES: [&str; 3] = [
    "pages_manage_posts",
    "pages_read_engagement",
    "pages_show_list",
];
/// The Page task that allows publishing as the Page.
pub const CREATE_CONTENT: &str = "CREATE_CONTENT";
/// The fields asked of each Page.
pub const ACCOUNT_FIELDS: &str = "id,name,access_token,tasks";
/// Pages asked per request of `me/accounts`.
pub const ACCOUNTS_PER_REQUEST: &str = "100";
/// At most this many requests of `me/accounts` (2 000 Pages): a bound on a
/// paging loop driven by the network's answers.
pub const MAX_ACCOUNT_REQUESTS: usize = 20;

/// The app's id, required for any flow.
fn client_id(http: &HttpCtx) -> Result<&str, ProviderError> {
    http.settings
        .client_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ProviderError::Unsupported {
            message: "the app has no Facebook client_id (app id) configured".into(),
        })
}

/// The app's id and secret.
fn client(http: &HttpCtx) -> Result<(&str, &str), ProviderError> {
    let id = client_id(http)?;
    let secret = api::app_secret(http).ok_or_else(|| ProviderError::Unsupported {
        message: "the app has no Facebook client_secret (app secret) configured".into(),
    })?;
    Ok((id, secret))
}

/// The Facebook Login dialog for this app.
pub fn authorize_url(req: &AuthorizeRequest, http: &HttpCtx) -> Result<Url, ProviderError> {
    let client_id = client_id(http)?;
    let mut url = api::consent_url(http, &["dialog", "oauth"])?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &req.callback_url)
        .append_pair("state", &req.state)
        .append_pair("response_type", "code")
        .append_pair("scope", &SCOPES.join(","));
    Ok(url)
}

/// `oauth/access_token` answer.
#[derive(Deserialize)]
pub struct TokenAnswer {
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// Tokens never show in a `{:?}`.
impl std::fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAnswer")
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Judges a token endpoint answer: 2xx with an `access_token`, else the
/// error as [`classify_token`] sees it.
pub fn token_answer(answer: &Answer, what: &str) -> Result<String, ProviderError> {
    if !answer.is_success() {
        return Err(classify_token(
            answer.status,
            answer.retry_after,
            &answer.body,
        ));
    }
    let t: TokenAnswer =
        serde_json::from_str(&answer.body).map_err(|e| ProviderError::Rejected {
            status: Some(answer.status),
            code: "invalid_answer".into(),
            message: format!("Facebook's {what} answer is not JSON: {e}"),
        })?;
    t.access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ProviderError::Rejected {
            status: Some(answer.status),
            code: "invalid_answer".into(),
            message: format!("Facebook's {what} answer has no access_token"),
        })
}

/// `GET oauth/access_token` with `query`; `secrets` are scrubbed from errors.
async fn token_request(
    http: &HttpCtx,
    query: &[(&str, &str)],
    secrets: &[&str],
    what: &str,
) -> Result<String, ProviderError> {
    let url = api::graph_url(http, &["oauth", "access_token"])?;
    let answer = api::send(http.client.get(url).query(query))
        .await
        .map_err(|e| redact_all(e, secrets))?;
    token_answer(&answer, what).map_err(|e| redact_all(e, secrets))
}

/// One Page of `me/accounts`.
#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    tasks: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Accounts {
    #[serde(default)]
    data: Vec<Page>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Cursors {
    #[serde(default)]
    after: Option<String>,
}

impl Page {
    /// A credential for a Page the person may publish to.
    fn into_credential(self) -> Option<Credential> {
        let may_post = self
            .tasks
            .as_ref()
            .is_some_and(|t| t.iter().any(|t| t == CREATE_CONTENT));
        let id = match self.id? {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let token = self.access_token.filter(|t| !t.is_empty())?;
        (may_post && crate::posts::is_graph_id(&id)).then(|| Credential {
            access_token: Some(Secret::new(token)),
            display_name: self.name.filter(|n| !n.trim().is_empty()),
            provider_uid: id,
            ..Credential::default()
        })
    }
}

/// Every Page the user token's owner may publish to, following the paging
/// cursor (`after`) while Facebook names a `next` page, at most
/// [`MAX_ACCOUNT_REQUESTS`] requests. The cursor is sent to Herald's own
/// API base rather than following `next` as given, so the user token only
/// ever goes to the configured host.
async fn pages(user_token: &str, http: &HttpCtx) -> Result<Vec<Credential>, ProviderError> {
    let url = api::graph_url(http, &["me", "accounts"])?;
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_ACCOUNT_REQUESTS {
        let mut query = api::token_params(user_token, http);
        query.push(("fields", ACCOUNT_FIELDS.to_owned()));
        query.push(("limit", ACCOUNTS_PER_REQUEST.to_owned()));
        if let Some(a) = &after {
            query.push(("after", a.clone()));
        }
        let answer = api::send(http.client.get(url.clone()).query(&query)).await?;
        let accounts: Accounts = answer.json("me/accounts")?;
        for c in accounts.data.into_iter().filter_map(Page::into_credential) {
            // A Page listed twice (pages shifting between requests) is one account.
            if !out
                .iter()
                .any(|o: &Credential| o.provider_uid == c.provider_uid)
            {
                out.push(c);
            }
        }
        let next_cursor = accounts
            .paging
            .filter(|p| p.next.as_deref().is_some_and(|n| !n.is_empty()))
            .and_then(|p| p.cursors)
            .and_then(|c| c.after)
            .filter(|a| !a.is_empty());
        match next_cursor {
            // The same cursor again would loop.
            Some(a) if after.as_ref() != Some(&a) => after = Some(a),
            _ => break,
        }
    }
    Ok(out)
}

/// Exchanges the callback's code and lists the Pages the person may post
/// to, one credential each. An empty list means the person manages no Page
/// (or granted none): Herald tells the site `no_account`.
pub async fn exchange_accounts(
    cb: &CallbackParams,
    http: &HttpCtx,
) -> Result<Vec<Credential>, ProviderError> {
    let code = herald_core::oauth2::callback_code(&cb.query)?;
    let (client_id, client_secret) = client(http)?;
    let short = token_request(
        http,
        &[
            ("client_id", client_id),
            ("redirect_uri", cb.callback_url.as_str()),
            ("client_secret", client_secret),
            ("code", code),
        ],
        &[code, client_secret],
        "code exchange",
    )
    .await?;
    let long = token_request(
        http,
        &[
            ("grant_type", "fb_exchange_token"),
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("fb_exchange_token", short.as_str()),
        ],
        &[short.as_str(), client_secret, code],
        "long-lived token exchange",
    )
    .await?;
    pages(&long, http)
        .await
        .map_err(|e| redact_all(e, &[long.as_str(), short.as_str(), client_secret]))
}

/// The single-account form of [`exchange_accounts`]: the first Page, or
/// `Rejected` `no_page` when the person may post to none.
pub async fn exchange(cb: &CallbackParams, http: &HttpCtx) -> Result<Credential, ProviderError> {
    exchange_accounts(cb, http)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ProviderError::Rejected {
            status: None,
            code: "no_page".into(),
            message: "the user manages no Facebook Page Herald may post to".into(),
        })
}

/// Page tokens obtained from a long-lived user token do not expire, and no
/// refresh token exists: a Page token Facebook refuses (password changed,
/// app removed, role on the Page lost) can only be replaced by reconnecting.
pub async fn refresh(_cred: &Credential, _http: &HttpCtx) -> Result<Credential, ProviderError> {
    Err(ProviderError::AuthRevoked {
        status: None,
        message:
            "Facebook Page tokens do not expire and cannot be refreshed; the user must reconnect"
                .into(),
    })
}

/// Nothing to call: Facebook revokes an app's permissions per person with
/// `DELETE /{user-id}/permissions` and a *user* token, which Herald does not
/// keep (it stores only Page tokens, one connection per Page); revoking it
/// would also cut every other Page of that person. No Page-token revocation
/// is documented, so Herald just forgets the token (`Ok(false)`); the person
/// can remove the app in their Facebook settings.
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
            body: body.into(),
        };
        assert_eq!(
            token_answer(
                &a(
                    200,
                    r#"{"access_token":"t","token_type":"bearer","expires_in":5183944}"#
                ),
                "x"
            )
            .unwrap(),
            "t"
        );
        assert_eq!(
            token_answer(&a(200, r#"{"token_type":"bearer"}"#), "x")
                .unwrap_err()
                .code(),
            "invalid_answer"
        );
        assert_eq!(
            token_answer(&a(200, "access_token=t"), "x")
                .unwrap_err()
                .code(),
            "invalid_answer"
        );
        let t: TokenAnswer =
            serde_json::from_str(r#"{"access_token":"secret-tok","expires_in":60}"#).unwrap();
        assert!(!format!("{t:?}").contains("secret-tok"), "{t:?}");
    }

    #[test]
    fn only_pages_with_create_content_and_a_token() {
        let page = |v: Value| serde_json::from_value::<Page>(v).unwrap().into_credential();
        let c = page(serde_json::json!({
            "id": "101", "name": "Café", "access_token": "pt", "tasks": ["ANALYZE", "CREATE_CONTENT"]
        }))
        .unwrap();
        assert_eq!(
            (c.provider_uid.as_str(), c.display_name.as_deref()),
            ("101", Some("Café"))
        );
        assert_eq!(c.access_token.unwrap().expose(), "pt");
        assert!(c.refresh_token.is_none() && c.expires_at.is_none());
        assert!(
            page(serde_json::json!({"id": "1", "access_token": "pt", "tasks": ["ANALYZE"]}))
                .is_none()
        );
        assert!(page(serde_json::json!({"id": "1", "access_token": "pt"})).is_none());
        assert!(page(serde_json::json!({"id": "1", "tasks": ["CREATE_CONTENT"]})).is_none());
        assert!(
            page(
                serde_json::json!({"id": "x/1", "access_token": "pt", "tasks": ["CREATE_CONTENT"]})
            )
            .is_none()
        );
    }
}
