//! Connecting an account. `activities` mode uses OAuth WRAP: the member
//! consents at `Connect.aspx`, the callback carries `wrap_verification_code`
//! (and `wrap_client_state`), and `AccessToken.aspx` exchanges the code for a
//! form-encoded answer whose `uid` is the member's CID (`idtype=CID`). `share`
//! mode uses Live Connect OAuth 2.0 (`oauth20_authorize.srf` /
//! `oauth20_token.srf`, JSON answer with `user_id`). Token answers are read and
//! judged by [`crate::refresh`], so exchange and refresh fail the same way. No
//! code, verifier or client secret ever reaches an error message.

use crate::answer;
use crate::errors::redact;
use crate::refresh::{self, OAUTH2_TOKEN_PATH};
use crate::render::Mode;
use herald_core::{AuthorizeRequest, CallbackParams, Credential, HttpCtx, ProviderError, Secret};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use url::Url;

/// WRAP consent page, relative to the consent base.
pub const WRAP_AUTHORIZE_PATH: &str = "Connect.aspx";
/// WRAP code exchange endpoint, relative to the consent base.
pub const WRAP_TOKEN_PATH: &str = "AccessToken.aspx";
/// OAuth 2.0 consent page, relative to the consent base.
pub const OAUTH2_AUTHORIZE_PATH: &str = "oauth20_authorize.srf";
/// The WRAP offers asked for: write activities, read the profile.
pub const WRAP_SCOPE: &str = "WL_Activities.Update,WL_Profiles.View";
/// The Live Connect scopes asked for (space-separated).
pub const OAUTH2_SCOPE: &str = "wl.signin wl.share wl.offline_access";

/// The app's mode, as an `Unsupported` error when the option is unknown.
pub fn mode(http: &HttpCtx) -> Result<Mode, ProviderError> {
    Mode::parse(http.settings.options.get("mode").map(String::as_str))
        .map_err(|message| ProviderError::Unsupported { message })
}

/// The network's consent page for this app and mode.
pub fn authorize_url(req: &AuthorizeRequest, http: &HttpCtx) -> Result<Url, ProviderError> {
    let mode = mode(http)?;
    let client_id = http
        .settings
        .client_id
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ProviderError::Unsupported {
            message: "the app has no Windows Live client_id configured".into(),
        })?;
    let path = match mode {
        Mode::Activities => WRAP_AUTHORIZE_PATH,
        Mode::Share => OAUTH2_AUTHORIZE_PATH,
    };
    let mut url = consent_url(http, path)?;
    {
        let mut q = url.query_pairs_mut();
        match mode {
            Mode::Activities => {
                q.append_pair("wrap_client_id", client_id)
                    .append_pair("wrap_callback", &req.callback_url)
                    .append_pair("wrap_scope", WRAP_SCOPE)
                    .append_pair("wrap_client_state", &req.state);
            }
            Mode::Share => {
                q.append_pair("client_id", client_id)
                    .append_pair("scope", OAUTH2_SCOPE)
                    .append_pair("response_type", "code")
                    .append_pair("redirect_uri", &req.callback_url)
                    .append_pair("state", &req.state);
                if let Some(challenge) = &req.pkce_challenge {
                    q.append_pair("code_challenge", challenge)
                        .append_pair("code_challenge_method", "S256");
                }
            }
        }
    }
    Ok(url)
}

fn consent_url(http: &HttpCtx, path: &str) -> Result<Url, ProviderError> {
    let raw = http.consent_url(path);
    Url::parse(&raw).map_err(|e| ProviderError::Unsupported {
        message: format!("the Windows Live consent URL {raw:?} is invalid: {e}"),
    })
}

/// The state sent back on the callback: WRAP's `wrap_client_state`, else
/// OAuth 2.0's `state` (the mode is not known here).
pub fn callback_state(query: &BTreeMap<String, String>) -> Option<&str> {
    query
        .get("wrap_client_state")
        .or_else(|| query.get("state"))
        .map(String::as_str)
}

/// Why the member refused consent, if the callback says they did.
pub fn denied(query: &BTreeMap<String, String>, mode: Mode) -> Option<String> {
    let get = |k: &str| query.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
    let reason = match mode {
        Mode::Activities => get("wrap_error_reason").or_else(|| get("error")),
        Mode::Share => get("error"),
    }?;
    let text = match get("error_description") {
        Some(d) => format!("{reason}: {d}"),
        None => reason.to_owned(),
    };
    Some(text.chars().take(300).collect())
}

/// Exchanges the callback's code for a credential keyed by the member's id.
pub async fn exchange(cb: &CallbackParams, http: &HttpCtx) -> Result<Credential, ProviderError> {
    let mode = mode(http)?;
    if let Some(reason) = denied(&cb.query, mode) {
        return Err(ProviderError::AuthRevoked {
            status: None,
            message: format!("the member did not grant access: {reason}"),
        });
    }
    let code_key = match mode {
        Mode::Activities => "wrap_verification_code",
        Mode::Share => "code",
    };
    let code = cb
        .query
        .get(code_key)
        .map(String::as_str)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ProviderError::Rejected {
            status: None,
            code: "missing_code".into(),
            message: format!("the callback has no {code_key}"),
        })?;
    let (client_id, client_secret) = refresh::app_credentials(&http.settings)?;
    let verifier = cb.pkce_verifier.as_ref().map(Secret::expose);
    let (url, form) = match mode {
        Mode::Activities => (
            http.consent_url(WRAP_TOKEN_PATH),
            vec![
                ("wrap_client_id", client_id),
                ("wrap_client_secret", client_secret),
                ("wrap_callback", cb.callback_url.as_str()),
                ("wrap_verification_code", code),
                ("idtype", "CID"),
            ],
        ),
        Mode::Share => {
            let mut form = vec![
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", cb.callback_url.as_str()),
                ("client_id", client_id),
                ("client_secret", client_secret),
            ];
            if let Some(v) = verifier {
                form.push(("code_verifier", v));
            }
            (http.consent_url(OAUTH2_TOKEN_PATH), form)
        }
    };
    let scrub = |e: ProviderError| {
        let e = redact(redact(e, code), client_secret);
        match verifier {
            Some(v) => redact(e, v),
            None => e,
        }
    };
    let answer = answer::send(http.client.post(url).form(&form))
        .await
        .map_err(scrub)?;
    let parsed = match mode {
        Mode::Activities => refresh::parse_wrap(&answer.body),
        Mode::Share => refresh::parse_oauth2(&answer.body),
    };
    let uid = parsed.uid.clone();
    let tokens = refresh::check_for("code exchange", answer.status, answer.retry_after, parsed)
        .map_err(scrub)?;
    let uid_key = match mode {
        Mode::Activities => "uid",
        Mode::Share => "user_id",
    };
    let provider_uid = uid
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ProviderError::Rejected {
            status: Some(answer.status),
            code: "missing_uid".into(),
            message: format!("the token endpoint answered without the member's {uid_key}"),
        })?;
    let expires_at = tokens
        .expires_in
        .and_then(|s| OffsetDateTime::now_utc().checked_add(time::Duration::seconds(s)));
    Ok(Credential {
        access_token: Some(Secret::new(tokens.access_token)),
        refresh_token: tokens.refresh_token.map(Secret::new),
        expires_at,
        provider_uid,
        display_name: None,
        ..Credential::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::provider::http_clients;
    use herald_core::{ErrorClass, OutboundPolicy, ProviderSettings};

    fn http(mode: Option<&str>, client_id: Option<&str>) -> HttpCtx {
        herald_core::tls::init();
        let (client, guarded) = http_clients(
            &OutboundPolicy::default(),
            std::time::Duration::from_secs(1),
        )
        .unwrap();
        HttpCtx {
            client,
            guarded,
            policy: OutboundPolicy::default(),
            api_base: Url::parse("https://apis.live.net/").unwrap(),
            consent_base: Some(Url::parse("https://consent.live.com/").unwrap()),
            settings: ProviderSettings {
                client_id: client_id.map(str::to_owned),
                client_secret: Some(Secret::new("s")),
                options: mode
                    .map(|m| BTreeMap::from([("mode".to_owned(), m.to_owned())]))
                    .unwrap_or_default(),
                ..ProviderSettings::default()
            },
        }
    }

    fn req(pkce: Option<&str>) -> AuthorizeRequest {
        AuthorizeRequest {
            state: "st a/te+1&x=y".into(),
            callback_url: "https://herald.example/oauth/messenger/callback?a=1&b=é".into(),
            pkce_challenge: pkce.map(str::to_owned),
        }
    }

    fn pairs(url: &Url) -> Vec<(String, String)> {
        url.query_pairs().into_owned().collect()
    }

    fn owned(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn wrap_consent_url() {
        for mode in [None, Some("activities")] {
            let u = authorize_url(&req(Some("ignored")), &http(mode, Some("app id"))).unwrap();
            assert_eq!(
                (u.scheme(), u.host_str(), u.path()),
                ("https", Some("consent.live.com"), "/Connect.aspx")
            );
            assert_eq!(
                pairs(&u),
                owned(&[
                    ("wrap_client_id", "app id"),
                    (
                        "wrap_callback",
                        "https://herald.example/oauth/messenger/callback?a=1&b=é"
                    ),
                    ("wrap_scope", "WL_Activities.Update,WL_Profiles.View"),
                    ("wrap_client_state", "st a/te+1&x=y"),
                ])
            );
            assert_eq!(
                u.query().unwrap(),
                "wrap_client_id=app+id\
                 &wrap_callback=https%3A%2F%2Fherald.example%2Foauth%2Fmessenger%2Fcallback%3Fa%3D1%26b%3D%C3%A9\
                 &wrap_scope=WL_Activities.Update%2CWL_Profiles.View\
                 &wrap_client_state=st+a%2Fte%2B1%26x%3Dy"
            );
        }
    }

    #[test]
    fn oauth2_consent_url() {
        let u = authorize_url(&req(None), &http(Some("share"), Some("app-id"))).unwrap();
        assert_eq!(u.path(), "/oauth20_authorize.srf");
        let base = [
            ("client_id", "app-id"),
            ("scope", "wl.signin wl.share wl.offline_access"),
            ("response_type", "code"),
            (
                "redirect_uri",
                "https://herald.example/oauth/messenger/callback?a=1&b=é",
            ),
            ("state", "st a/te+1&x=y"),
        ];
        assert_eq!(pairs(&u), owned(&base));
        assert!(
            u.query()
                .unwrap()
                .contains("scope=wl.signin+wl.share+wl.offline_access&"),
            "{u}"
        );
        let u = authorize_url(
            &req(Some("ch_al-lenge")),
            &http(Some("share"), Some("app-id")),
        )
        .unwrap();
        let mut want = owned(&base);
        want.extend(owned(&[
            ("code_challenge", "ch_al-lenge"),
            ("code_challenge_method", "S256"),
        ]));
        assert_eq!(pairs(&u), want);
    }

    #[test]
    fn consent_base_with_a_path_is_kept() {
        let mut h = http(None, Some("id"));
        h.consent_base = Some(Url::parse("http://127.0.0.1:9/mock/").unwrap());
        let u = authorize_url(&req(None), &h).unwrap();
        assert!(
            u.as_str()
                .starts_with("http://127.0.0.1:9/mock/Connect.aspx?"),
            "{u}"
        );
    }

    #[test]
    fn consent_url_needs_client_id_and_known_mode() {
        for id in [None, Some(""), Some("  ")] {
            let e = authorize_url(&req(None), &http(None, id)).unwrap_err();
            assert_eq!(e.class(), ErrorClass::Unsupported);
            assert!(e.message().contains("client_id"), "{}", e.message());
        }
        let e = authorize_url(&req(None), &http(Some("bogus"), Some("id"))).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Unsupported);
    }

    #[test]
    fn callback_state_prefers_wrap() {
        let q = |v: &[(&str, &str)]| -> BTreeMap<String, String> {
            v.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            callback_state(&q(&[("wrap_client_state", "w"), ("state", "s")])),
            Some("w")
        );
        assert_eq!(callback_state(&q(&[("state", "s")])), Some("s"));
        assert_eq!(callback_state(&q(&[("code", "c")])), None);
    }

    #[test]
    fn denial_reasons() {
        let q = |v: &[(&str, &str)]| -> BTreeMap<String, String> {
            v.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            denied(
                &q(&[("wrap_error_reason", "user_denied")]),
                Mode::Activities
            )
            .as_deref(),
            Some("user_denied")
        );
        assert_eq!(
            denied(
                &q(&[("error", "access_denied"), ("error_description", "no")]),
                Mode::Share
            )
            .as_deref(),
            Some("access_denied: no")
        );
        assert_eq!(denied(&q(&[("wrap_error_reason", "x")]), Mode::Share), None);
        assert_eq!(denied(&q(&[("code", "c")]), Mode::Share), None);
    }
}
