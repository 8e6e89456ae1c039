//! Talking to the Graph API: versioned URLs, the token parameters, and
//! bounded answers.
//!
//! Every Graph path starts with the API version (`/v26.0/{page-id}/feed`);
//! the app's `graph_version` option picks it, else [`DEFAULT_GRAPH_VERSION`],
//! the newest version in the Graph API changelog
//! (developers.facebook.com/docs/graph-api/changelog: v26.0, 29 July 2026).
//!
//! The token travels as the `access_token` parameter, as the Pages API
//! documents it (developers.facebook.com/docs/pages-api/posts), together with
//! `appsecret_proof` — the hex HMAC-SHA256 of the token keyed with the app
//! secret — whenever the app secret is configured ("Securing Graph API
//! Requests": apps may require it, and it proves a stolen token alone is
//! useless). The API base is the operator's (trusted) host, so calls use
//! `http.client`; reqwest errors never carry the URL (and its token) into a
//! message ([`ProviderError::from_reqwest`]).

use crate::errors::{self, classify};
use herald_core::{HttpCtx, ProviderError, Secret};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::RequestBuilder;
use serde::de::DeserializeOwned;
use sha2::Sha256;
use std::time::Duration;
use url::Url;

/// The Graph API version used unless the app's `graph_version` says otherwise.
pub const DEFAULT_GRAPH_VERSION: &str = "v26.0";
/// The app option naming the Graph API version.
pub const GRAPH_VERSION_OPTION: &str = "graph_version";
/// How much of an answer is read; the largest one used (a page of the
/// user's Pages with their tokens) is far smaller.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// The Graph API version for this app: `vN.M`.
pub fn graph_version(http: &HttpCtx) -> Result<&str, ProviderError> {
    let v = http
        .settings
        .options
        .get(GRAPH_VERSION_OPTION)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .unwrap_or(DEFAULT_GRAPH_VERSION);
    if is_version(v) {
        Ok(v)
    } else {
        Err(ProviderError::Unsupported {
            message: format!("graph_version {v:?} is not a Graph API version such as v26.0"),
        })
    }
}

/// `v` followed by digits, a dot and digits.
pub fn is_version(v: &str) -> bool {
    let Some((major, minor)) = v.strip_prefix('v').and_then(|r| r.split_once('.')) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

/// `{base}/{version}/{segments…}`; each segment is percent-encoded, so an id
/// cannot leave its place in the path.
fn versioned(base_url: String, http: &HttpCtx, segments: &[&str]) -> Result<Url, ProviderError> {
    let version = graph_version(http)?;
    let mut url = Url::parse(&base_url).map_err(|e| ProviderError::Unsupported {
        message: format!("the Facebook base URL {base_url:?} is invalid: {e}"),
    })?;
    url.path_segments_mut()
        .map_err(|()| ProviderError::Unsupported {
            message: format!("the Facebook base URL {base_url:?} cannot take a path"),
        })?
        .pop_if_empty()
        .push(version)
        .extend(segments);
    Ok(url)
}

/// A Graph API URL: `{api_base}/{version}/{segments…}`.
pub fn graph_url(http: &HttpCtx, segments: &[&str]) -> Result<Url, ProviderError> {
    versioned(http.api_base.to_string(), http, segments)
}

/// A page of the consent host: `{consent_base}/{version}/{segments…}`.
pub fn consent_url(http: &HttpCtx, segments: &[&str]) -> Result<Url, ProviderError> {
    versioned(http.consent_url(""), http, segments)
}

/// `appsecret_proof`: lowercase hex of HMAC-SHA256(key = app secret,
/// message = access token).
pub fn appsecret_proof(token: &str, app_secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The app secret, when configured.
pub fn app_secret(http: &HttpCtx) -> Option<&str> {
    http.settings
        .client_secret
        .as_ref()
        .map(Secret::expose)
        .filter(|s| !s.is_empty())
}

/// `access_token` and, with an app secret, `appsecret_proof`.
pub fn token_params(token: &str, http: &HttpCtx) -> Vec<(&'static str, String)> {
    let mut p = vec![("access_token", token.to_owned())];
    if let Some(secret) = app_secret(http) {
        p.push(("appsecret_proof", appsecret_proof(token, secret)));
    }
    p
}

/// What came back, read in full (up to the cap).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The wait the usage headers (or `Retry-After`) named.
    pub retry_after: Option<Duration>,
    pub body: String,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The classified error of a non-2xx answer.
    pub fn error(&self) -> ProviderError {
        classify(self.status, self.retry_after, &self.body)
    }

    /// The body as `T` when the status is 2xx; else the classified error.
    /// A 2xx that is not the expected JSON is `Rejected` `invalid_answer`.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, ProviderError> {
        if !self.is_success() {
            return Err(self.error());
        }
        serde_json::from_str(&self.body).map_err(|e| ProviderError::Rejected {
            status: Some(self.status),
            code: "invalid_answer".into(),
            message: format!("Facebook's {what} answer is not what the Graph API documents: {e}"),
        })
    }
}

/// Sends the request and reads the answer. A connect error is `Transient`;
/// a timeout or broken connection after the request left is `Unknown`.
pub async fn send(req: RequestBuilder) -> Result<Answer, ProviderError> {
    let mut resp = req
        .send()
        .await
        .map_err(|e| ProviderError::from_reqwest(&e))?;
    let status = resp.status().as_u16();
    let retry_after = errors::retry_after(resp.headers());
    let mut buf = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ANSWER_BYTES - buf.len();
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if buf.len() >= MAX_ANSWER_BYTES {
                    break;
                }
            }
            Ok(None) => break,
            // The status line arrived, so Facebook acted on the request; a
            // broken body still leaves the outcome unknown.
            Err(e) => return Err(ProviderError::from_reqwest(&e)),
        }
    }
    Ok(Answer {
        status,
        retry_after,
        body: String::from_utf8_lossy(&buf).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::provider::http_clients;
    use herald_core::{ErrorClass, OutboundPolicy, ProviderSettings};
    use std::collections::BTreeMap;

    fn http(api: &str, version: Option<&str>, secret: Option<&str>) -> HttpCtx {
        let (client, guarded) =
            http_clients(&OutboundPolicy::default(), Duration::from_secs(1)).unwrap();
        HttpCtx {
            client,
            guarded,
            policy: OutboundPolicy::default(),
            api_base: Url::parse(api).unwrap(),
            consent_base: Some(Url::parse("https://www.facebook.com/").unwrap()),
            settings: ProviderSettings {
                client_secret: secret.map(Secret::new),
                options: version
                    .map(|v| BTreeMap::from([(GRAPH_VERSION_OPTION.to_owned(), v.to_owned())]))
                    .unwrap_or_default(),
                ..ProviderSettings::default()
            },
        }
    }

    #[test]
    fn versions_and_urls() {
        let h = http("https://graph.facebook.com/", None, None);
        assert_eq!(graph_version(&h).unwrap(), "v26.0");
        assert_eq!(
            graph_url(&h, &["123", "feed"]).unwrap().as_str(),
            "https://graph.facebook.com/v26.0/123/feed"
        );
        assert_eq!(
            consent_url(&h, &["dialog", "oauth"]).unwrap().as_str(),
            "https://www.facebook.com/v26.0/dialog/oauth"
        );
        // A base with a path keeps it; an id cannot escape its segment.
        let h = http("http://127.0.0.1:9/graph", Some(" v21.0 "), None);
        assert_eq!(
            graph_url(&h, &["1_2/../x"]).unwrap().as_str(),
            "http://127.0.0.1:9/graph/v21.0/1_2%2F..%2Fx"
        );
        for bad in ["21.0", "v21", "v21.x", "latest", "v1.0/../x"] {
            let h = http("https://graph.facebook.com/", Some(bad), None);
            assert_eq!(
                graph_version(&h).unwrap_err().class(),
                ErrorClass::Unsupported,
                "{bad}"
            );
        }
    }

    #[test]
    fn appsecret_proof_is_hmac_sha256_hex() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            appsecret_proof("what do ya want for nothing?", "Jefe"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let h = http("https://graph.facebook.com/", None, Some("Jefe"));
        assert_eq!(
            token_params("what do ya want for nothing?", &h),
            vec![
                ("access_token", "what do ya want for nothing?".to_owned()),
                (
                    "appsecret_proof",
                    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843".to_owned()
                ),
            ]
        );
        let h = http("https://graph.facebook.com/", None, None);
        assert_eq!(
            token_params("t", &h),
            vec![("access_token", "t".to_owned())]
        );
    }

    #[test]
    fn answers_are_judged() {
        let a = |status: u16, body: &str| Answer {
            status,
            retry_after: None,
            body: body.into(),
        };
        #[derive(serde::Deserialize, Debug)]
        struct Id {
            id: String,
        }
        assert_eq!(a(200, r#"{"id":"1_2"}"#).json::<Id>("x").unwrap().id, "1_2");
        assert_eq!(
            a(200, "<html>").json::<Id>("post").unwrap_err().code(),
            "invalid_answer"
        );
        let e = a(
            400,
            r#"{"error":{"message":"(#506) Duplicate status message","type":"OAuthException","code":506}}"#,
        )
        .json::<Id>("post")
        .unwrap_err();
        assert_eq!(e.code(), "duplicate");
    }
}
