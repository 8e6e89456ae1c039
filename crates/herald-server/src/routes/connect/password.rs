//! App-password connect flows (Bluesky): instead of a network consent page,
//! `GET /connect/{provider}` answers with Herald's own login form, so the
//! user types the app password into Herald and the site never sees it. The
//! form posts to `POST /connect/{provider}/login` with the flow's single-use
//! state; a refused password shows the form again under a new state.

use super::{FLOW_TTL_SECS, browser, hold_for_site, outcome, server_origin};
use crate::AppState;
use crate::error::ApiError;
use crate::openapi::Problem;
use actix_web::web::{Form, Path};
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, post, web};
use herald_core::{FlowKind, PasswordLogin, ProviderError, Secret};
use herald_store::repo::oauth_states::{NewOauthState, TakenState};
use serde::Deserialize;

/// Logins one flow may try before the user must start again.
const MAX_LOGIN_ATTEMPTS: i32 = 5;

/// What Herald's login form posts.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginForm {
    /// The flow's state, from the form.
    state: String,
    /// Handle (`alice.bsky.social`), DID or email.
    identifier: String,
    /// An app password (`xxxx-xxxx-xxxx-xxxx`), not the account password.
    password: String,
    /// The account's server when it is not the network's default, e.g.
    /// `https://pds.example`.
    #[serde(default)]
    service: Option<String>,
}

/// Escapes text for HTML element content and double-quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Herald's login form for `provider`, carrying the flow's state; `error`
/// says why the previous try was refused. `redirect_uri` is where the flow
/// ends: the form's CSP lets the login's redirect go there.
pub fn form(
    state: &AppState,
    provider: &str,
    flow_state: &str,
    redirect_uri: &str,
    error: Option<&str>,
) -> HttpResponse {
    let error_html = error
        .map(|e| format!("<p role=\"alert\" class=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    let action = escape(&format!(
        "{}/connect/{provider}/login",
        state.config.public_url.as_str().trim_end_matches('/')
    ));
    let provider = escape(provider);
    let flow_state = escape(flow_state);
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Connect your {provider} account</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}label{{display:block;margin:1rem 0 .25rem}}input{{width:100%;padding:.5rem;box-sizing:border-box}}button{{margin-top:1.5rem;padding:.6rem 1.2rem}}.error{{color:#b00020}}small{{color:#555}}</style>
</head><body>
<h1>Connect your {provider} account</h1>
{error_html}
<form method="post" action="{action}" autocomplete="off">
<input type="hidden" name="state" value="{flow_state}">
<label for="identifier">Handle, DID or email</label>
<input id="identifier" name="identifier" required autocapitalize="none" spellcheck="false">
<label for="password">App password</label>
<input id="password" name="password" type="password" required>
<small>Create an app password in your account's settings; never use your main password.</small>
<label for="service">Server (only if not the default)</label>
<input id="service" name="service" placeholder="https://pds.example" autocapitalize="none" spellcheck="false">
<button type="submit">Connect</button>
</form>
</body></html>"#
    );
    // Browsers apply form-action to the redirect that follows the POST too:
    // allow the site the flow returns to.
    let site = url::Url::parse(redirect_uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Security-Policy",
            format!(
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {site}; frame-ancestors 'none'"
            ),
        ))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(body)
}

/// Logs in with the app password from Herald's form, stores the connection
/// and sends the browser back to the site.
#[utoipa::path(
    operation_id = "connect_login",
    tag = "connections",
    params(("provider" = String, Path, description = "A provider id or alias with an app-password flow")),
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 302, description = "Back to the site's redirect_uri with status=connected or status=error&error=…", headers(("Location" = String, description = "The site's redirect_uri"))),
        (status = 400, description = "No known flow state, or an invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The network refused the handle or app password: the form again, under a new state", content_type = "text/html"),
        (status = 404, description = "Unknown provider", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`forbidden_address`: the app's provider settings or the named server are refused by the outbound policy", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/connect/{provider}/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    provider: Path<String>,
    f: Form<LoginForm>,
) -> Result<HttpResponse, ApiError> {
    let provider = state
        .registry()
        .get(&provider)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("provider {provider}")))?;
    if provider.oauth().map(|o| o.flow) != Some(FlowKind::AppPassword) {
        return Err(ApiError::Unprocessable {
            code: "no_connect_flow",
            message: format!("{} has no app-password login", provider.id()),
        });
    }
    let f = f.into_inner();
    let service = match f.service.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Some(server_origin("service", s)?),
        _ => None,
    };
    if f.identifier.trim().is_empty() || f.identifier.len() > 512 {
        return Err(ApiError::field("identifier", "must be 1 to 512 characters"));
    }
    if f.password.is_empty() || f.password.len() > 512 {
        return Err(ApiError::field("password", "must be 1 to 512 characters"));
    }
    let unknown = || ApiError::field("state", "unknown connect flow");
    let row = match state.store.take_oauth_state(&f.state).await? {
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
            "app-password login from another browser than the one that started the flow; nothing connected"
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
        .for_account(http, &app_id, provider.as_ref(), service.as_deref())
        .await?;
    let login = PasswordLogin {
        identifier: f.identifier.trim().to_owned(),
        password: Secret::from(f.password),
        service: service.as_deref().and_then(|s| url::Url::parse(s).ok()),
    };
    match provider.login_password(&login, &http).await {
        Ok(cred) => {
            let held = hold_for_site(&state, &row, provider.as_ref(), vec![cred]).await?;
            let result = match &held {
                Ok(code) => Ok((provider.id(), code.as_str())),
                Err(e) => Err(*e),
            };
            Ok(outcome(&state, &row, result))
        }
        Err(ProviderError::AuthRevoked { message, .. }) => {
            tracing::info!(provider = provider.id(), reason = %message, "app-password login refused");
            // Let the user try again under a new single-use state, within the
            // flow's original 10 minutes and a few tries.
            let left_ms = row.expires_at - herald_store::now_ms();
            if row.attempts + 1 >= MAX_LOGIN_ATTEMPTS || left_ms <= 0 {
                return Ok(outcome(&state, &row, Err("login_refused")));
            }
            // The new state gets a cookie of its own, with a new value.
            let browser_value = browser::fresh();
            let again = state
                .store
                .create_oauth_state(NewOauthState {
                    app_id,
                    uid: row.uid.clone(),
                    provider: row.provider.clone(),
                    redirect_uri: row.redirect_uri.clone(),
                    client_state: row.client_state.clone(),
                    pkce_verifier: None,
                    instance: None,
                    browser_hash: Some(browser::hash(&browser_value)),
                    attempts: row.attempts + 1,
                    ttl_ms: left_ms.min(FLOW_TTL_SECS * 1000),
                })
                .await?;
            let mut page = form(
                &state,
                provider.id(),
                &again,
                &row.redirect_uri,
                Some("The network did not accept this handle and app password."),
            );
            page.add_cookie(&browser::cookie(&state, &again, &browser_value))
                .map_err(ApiError::internal)?;
            page.add_removal_cookie(&browser::removal(&state, &row.state))
                .map_err(ApiError::internal)?;
            Ok(page)
        }
        Err(e) => {
            tracing::warn!(provider = provider.id(), error = %e, "app-password login failed");
            Ok(outcome(&state, &row, Err("login_failed")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
