//! Refreshing an access token. `activities` mode uses OAuth WRAP
//! (`RefreshToken.aspx`, form-encoded both ways); `share` mode uses OAuth 2.0
//! (`oauth20_token.srf`, JSON answer). Both answers are read into one
//! [`TokenAnswer`] and judged by one pure function, so the error rules are the
//! same: a refused refresh means the user must reconnect, a server failure is
//! worth retrying. No token or client secret ever reaches an error message.

use crate::answer;
use crate::errors::redact;
use crate::render::Mode;
use herald_core::{Credential, HttpCtx, ProviderError, ProviderSettings, Secret};
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;

/// WRAP refresh endpoint, relative to the consent base.
pub const WRAP_REFRESH_PATH: &str = "RefreshToken.aspx";
/// OAuth 2.0 token endpoint, relative to the consent base.
pub const OAUTH2_TOKEN_PATH: &str = "oauth20_token.srf";

/// A token endpoint's answer, whichever protocol it came in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenAnswer {
    pub access_token: Option<String>,
    pub expires_in: Option<i64>,
    pub refresh_token: Option<String>,
    /// `wrap_error_reason`, or the OAuth 2.0 `error` code.
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// The member's id: WRAP `uid` (the CID asked for with `idtype=CID`) or
    /// Live Connect's `user_id`. Only the code exchange needs it.
    pub uid: Option<String>,
}

/// New tokens from a successful refresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    pub expires_in: Option<i64>,
    pub refresh_token: Option<String>,
}

/// Exchanges the credential's refresh token for a new credential.
pub async fn refresh(cred: &Credential, http: &HttpCtx) -> Result<Credential, ProviderError> {
    let mode = Mode::parse(http.settings.options.get("mode").map(String::as_str))
        .map_err(|message| ProviderError::Unsupported { message })?;
    let refresh_token = cred
        .refresh_token
        .as_ref()
        .map(Secret::expose)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ProviderError::AuthRevoked {
            status: None,
            message: "the connection has no refresh token; the user must reconnect".into(),
        })?;
    let (client_id, client_secret) = app_credentials(&http.settings)?;
    let (url, form) = match mode {
        Mode::Activities => (
            http.consent_url(WRAP_REFRESH_PATH),
            vec![
                ("wrap_refresh_token", refresh_token),
                ("wrap_client_id", client_id),
                ("wrap_client_secret", client_secret),
            ],
        ),
        Mode::Share => (
            http.consent_url(OAUTH2_TOKEN_PATH),
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", client_id),
                ("client_secret", client_secret),
            ],
        ),
    };
    let scrub = |e: ProviderError| redact(redact(e, refresh_token), client_secret);
    let answer = answer::send(http.client.post(url).form(&form))
        .await
        .map_err(scrub)?;
    let parsed = match mode {
        Mode::Activities => parse_wrap(&answer.body),
        Mode::Share => parse_oauth2(&answer.body),
    };
    let tokens = check(answer.status, answer.retry_after, parsed).map_err(scrub)?;
    Ok(refreshed(cred, tokens, OffsetDateTime::now_utc()))
}

/// The app's client id and secret; without them no refresh is possible.
pub fn app_credentials(settings: &ProviderSettings) -> Result<(&str, &str), ProviderError> {
    let id = settings.client_id.as_deref().filter(|s| !s.is_empty());
    let secret = settings
        .client_secret
        .as_ref()
        .map(Secret::expose)
        .filter(|s| !s.is_empty());
    id.zip(secret).ok_or_else(|| ProviderError::Unsupported {
        message: "the app has no Windows Live client_id and client_secret configured".into(),
    })
}

/// Reads a form-encoded WRAP answer.
pub fn parse_wrap(body: &str) -> TokenAnswer {
    let mut t = TokenAnswer::default();
    for (k, v) in url::form_urlencoded::parse(body.trim().as_bytes()) {
        let v = Some(v.into_owned()).filter(|v| !v.is_empty());
        match k.as_ref() {
            "wrap_access_token" => t.access_token = v,
            "wrap_access_token_expires_in" => {
                t.expires_in = v.and_then(|s| s.trim().parse().ok());
            }
            "wrap_refresh_token" => t.refresh_token = v,
            "wrap_error_reason" => t.error = v,
            "error_code" if t.error.is_none() => t.error = v,
            "internal_info" => t.error_description = v,
            "uid" => t.uid = v,
            _ => {}
        }
    }
    t
}

/// Reads a JSON OAuth 2.0 token answer (or error).
pub fn parse_oauth2(body: &str) -> TokenAnswer {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return TokenAnswer::default();
    };
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let (error, description) = match v.get("error") {
        Some(Value::Object(e)) => (text(e.get("code")), text(e.get("message"))),
        other => (text(other), text(v.get("error_description"))),
    };
    TokenAnswer {
        access_token: text(v.get("access_token")),
        expires_in: text(v.get("expires_in")).and_then(|s| s.parse().ok()),
        refresh_token: text(v.get("refresh_token")),
        error,
        error_description: description,
        uid: text(v.get("user_id")),
    }
}

/// Judges a token endpoint's answer to a refresh.
pub fn check(
    status: u16,
    retry_after: Option<Duration>,
    answer: TokenAnswer,
) -> Result<Tokens, ProviderError> {
    check_for("token refresh", status, retry_after, answer)
}

/// Judges a token endpoint's answer; `what` names the call in messages
/// (`token refresh`, `code exchange`).
pub fn check_for(
    what: &str,
    status: u16,
    retry_after: Option<Duration>,
    answer: TokenAnswer,
) -> Result<Tokens, ProviderError> {
    let st = Some(status);
    let reason = || {
        let parts: Vec<&str> = [answer.error.as_deref(), answer.error_description.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        if parts.is_empty() {
            format!("HTTP {status}")
        } else {
            parts.join(": ").chars().take(300).collect()
        }
    };
    let server_busy = matches!(
        answer.error.as_deref(),
        Some("temporarily_unavailable" | "server_error")
    );
    match status {
        429 => Err(ProviderError::RateLimited {
            retry_after,
            status: st,
            message: format!("{what} rate limited: {}", reason()),
        }),
        408 | 500..=599 => Err(ProviderError::Transient {
            status: st,
            message: format!("token endpoint failed: {}", reason()),
        }),
        _ if server_busy => Err(ProviderError::Transient {
            status: st,
            message: format!("token endpoint failed: {}", reason()),
        }),
        400 | 401 | 403 => Err(revoked(what, st, reason())),
        _ if answer.error.is_some() => Err(revoked(what, st, reason())),
        200..=299 => match answer.access_token {
            Some(access_token) => Ok(Tokens {
                access_token,
                expires_in: answer.expires_in,
                refresh_token: answer.refresh_token,
            }),
            None => Err(ProviderError::Unknown {
                message: "the token endpoint answered without an access token".into(),
            }),
        },
        _ => Err(ProviderError::Rejected {
            status: st,
            code: format!("http_{status}"),
            message: format!("token endpoint answered: {}", reason()),
        }),
    }
}

fn revoked(what: &str, status: Option<u16>, reason: String) -> ProviderError {
    ProviderError::AuthRevoked {
        status,
        message: format!("{what} refused ({reason}); the user must reconnect"),
    }
}

/// The old credential with the new tokens; the old refresh token is kept when
/// the network did not issue a new one.
pub fn refreshed(old: &Credential, tokens: Tokens, now: OffsetDateTime) -> Credential {
    let expires_at = tokens
        .expires_in
        .and_then(|s| now.checked_add(time::Duration::seconds(s)));
    Credential {
        access_token: Some(Secret::new(tokens.access_token)),
        refresh_token: tokens
            .refresh_token
            .map(Secret::new)
            .or_else(|| old.refresh_token.clone()),
        expires_at,
        ..old.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::ErrorClass;

    #[test]
    fn wrap_answers() {
        let t = parse_wrap(
            "wrap_access_token=EwA%2Bq%3D%3D&wrap_access_token_expires_in=17900&wrap_refresh_token=r2&uid=abc",
        );
        assert_eq!(t.access_token.as_deref(), Some("EwA+q=="));
        assert_eq!(t.expires_in, Some(17900));
        assert_eq!(t.refresh_token.as_deref(), Some("r2"));
        assert_eq!(t.uid.as_deref(), Some("abc"));
        let e = parse_wrap("wrap_error_reason=ExpiredRefreshToken&internal_info=x");
        assert_eq!(e.error.as_deref(), Some("ExpiredRefreshToken"));
    }

    #[test]
    fn oauth2_answers() {
        let t = parse_oauth2(r#"{"access_token":"a","expires_in":3600,"token_type":"bearer"}"#);
        assert_eq!(t.access_token.as_deref(), Some("a"));
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.refresh_token, None);
        assert_eq!(t.uid, None);
        let t = parse_oauth2(
            r#"{"access_token":"a","expires_in":"60","refresh_token":"r","user_id":"8c3a"}"#,
        );
        assert_eq!(t.expires_in, Some(60));
        assert_eq!(t.uid.as_deref(), Some("8c3a"));
        let e = parse_oauth2(r#"{"error":"invalid_grant","error_description":"gone"}"#);
        assert_eq!(e.error.as_deref(), Some("invalid_grant"));
        assert_eq!(parse_oauth2("<html>"), TokenAnswer::default());
    }

    #[test]
    fn check_table() {
        use ErrorClass::*;
        let ok = || TokenAnswer {
            access_token: Some("a".into()),
            ..TokenAnswer::default()
        };
        let err = |code: &str| TokenAnswer {
            error: Some(code.into()),
            ..TokenAnswer::default()
        };
        let cases = [
            (200, err("invalid_grant"), AuthRevoked),
            (200, err("ExpiredRefreshToken"), AuthRevoked),
            (400, TokenAnswer::default(), AuthRevoked),
            (401, TokenAnswer::default(), AuthRevoked),
            (400, err("temporarily_unavailable"), Transient),
            (500, err("x"), Transient),
            (503, TokenAnswer::default(), Transient),
            (429, TokenAnswer::default(), RateLimited),
            (404, TokenAnswer::default(), Rejected),
            (200, TokenAnswer::default(), Unknown),
        ];
        for (status, answer, class) in cases {
            let dbg = format!("{status} {answer:?}");
            assert_eq!(
                check(status, None, answer).unwrap_err().class(),
                class,
                "{dbg}"
            );
        }
        assert_eq!(check(200, None, ok()).unwrap().access_token, "a");
    }

    #[test]
    fn refreshed_keeps_identity_and_old_refresh_token() {
        let now = OffsetDateTime::from_unix_timestamp(1_000_000).unwrap();
        let old = Credential {
            access_token: Some("old".into()),
            refresh_token: Some("r1".into()),
            provider_uid: "cid".into(),
            display_name: Some("Zoë".into()),
            ..Credential::default()
        };
        let t = Tokens {
            access_token: "new".into(),
            expires_in: Some(60),
            refresh_token: None,
        };
        let c = refreshed(&old, t.clone(), now);
        assert_eq!(c.access_token.unwrap().expose(), "new");
        assert_eq!(c.refresh_token.unwrap().expose(), "r1");
        assert_eq!(c.expires_at, Some(now + time::Duration::seconds(60)));
        assert_eq!(c.provider_uid, "cid");
        assert_eq!(c.display_name.as_deref(), Some("Zoë"));
        let c = refreshed(
            &old,
            Tokens {
                refresh_token: Some("r2".into()),
                expires_in: Some(i64::MAX),
                ..t
            },
            now,
        );
        assert_eq!(c.refresh_token.unwrap().expose(), "r2");
        assert_eq!(c.expires_at, None);
    }
}
