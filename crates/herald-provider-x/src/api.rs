//! Talking to the X API: URLs under the configured API base, bounded
//! answers, the Bearer header and the app's client credentials. The API base
//! is operator configuration, so calls use the trusted `http.client`.

use crate::errors::{self, classify};
use herald_core::{HttpCtx, ProviderError, Secret};
use reqwest::RequestBuilder;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::de::DeserializeOwned;
use std::time::Duration;
use time::OffsetDateTime;
use url::Url;

/// How much of an answer is read; X's largest answer used here (a token
/// answer or a created post) is far smaller.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// What came back, read in full (up to the cap).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
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
            message: format!("X's {what} answer is not what the API documents: {e}"),
        })
    }
}

/// `{api_base}/{path}` as a URL.
pub fn url(http: &HttpCtx, path: &str) -> Result<Url, ProviderError> {
    let raw = http.api_url(path);
    Url::parse(&raw).map_err(|e| ProviderError::Unsupported {
        message: format!("the X API URL {raw:?} is invalid: {e}"),
    })
}

/// Sends the request and reads the answer. A connect error is `Transient`;
/// a timeout after the request left is `Unknown`.
pub async fn send(req: RequestBuilder) -> Result<Answer, ProviderError> {
    let mut resp = req
        .send()
        .await
        .map_err(|e| ProviderError::from_reqwest(&e))?;
    let status = resp.status().as_u16();
    let retry_after = errors::retry_after(resp.headers(), OffsetDateTime::now_utc());
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
            // The status line arrived, so X acted on the request; a broken
            // body still leaves the outcome unknown.
            Err(e) => return Err(ProviderError::from_reqwest(&e)),
        }
    }
    Ok(Answer {
        status,
        retry_after,
        body: String::from_utf8_lossy(&buf).into_owned(),
    })
}

/// `Authorization: Bearer <token>`, marked sensitive so it is never logged.
/// A token that cannot be a header value is unusable: the user must reconnect.
pub fn bearer(token: &str) -> Result<HeaderValue, ProviderError> {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        ProviderError::AuthRevoked {
            status: None,
            message: "the stored access token is not a valid header value".into(),
        }
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Adds the Bearer header.
pub fn authorized(req: RequestBuilder, token: &str) -> Result<RequestBuilder, ProviderError> {
    Ok(req.header(AUTHORIZATION, bearer(token)?))
}

/// The app's OAuth 2.0 client: its id, and its secret when the X app is a
/// confidential client ("Web App, Automated App or Bot"); a public client
/// ("Native App") has none.
pub struct Client<'a> {
    pub id: &'a str,
    pub secret: Option<&'a str>,
}

impl Client<'_> {
    /// A token-endpoint request authenticated the way X documents: a
    /// confidential client sends `Authorization: Basic
    /// base64(client_id:client_secret)` (reqwest marks it sensitive); the
    /// form carries `client_id` in both cases.
    pub fn authenticate(&self, req: RequestBuilder) -> RequestBuilder {
        match self.secret {
            Some(s) => req.basic_auth(self.id, Some(s)),
            None => req,
        }
    }
}

/// The app's client from the settings; `Unsupported` without a client id.
pub fn client(http: &HttpCtx) -> Result<Client<'_>, ProviderError> {
    let id = http
        .settings
        .client_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ProviderError::Unsupported {
            message: "the app has no X client_id configured".into(),
        })?;
    let secret = http
        .settings
        .client_secret
        .as_ref()
        .map(Secret::expose)
        .filter(|s| !s.is_empty());
    Ok(Client { id, secret })
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::ErrorClass;

    #[test]
    fn bearer_is_sensitive_and_checked() {
        let v = bearer("tok").unwrap();
        assert!(v.is_sensitive());
        assert_eq!(v.to_str().unwrap(), "Bearer tok");
        assert_eq!(bearer("a\nb").unwrap_err().class(), ErrorClass::AuthRevoked);
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
        assert_eq!(a(201, r#"{"id":"1"}"#).json::<Id>("x").unwrap().id, "1");
        let e = a(200, "<html>").json::<Id>("post").unwrap_err();
        assert_eq!(e.code(), "invalid_answer");
        let e = a(401, "").json::<Id>("post").unwrap_err();
        assert_eq!(e.class(), ErrorClass::AuthExpired);
        assert_eq!(a(503, "").error().class(), ErrorClass::Transient);
    }
}
