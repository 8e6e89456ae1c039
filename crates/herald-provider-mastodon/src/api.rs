//! Talking to a user-named instance: URLs under the instance base, the
//! outbound-policy check before every call, bounded answers, and the Bearer
//! header. Every call goes through `http.client`, which Herald sets to the
//! SSRF-guarded client for per-instance providers.

use crate::errors::{self, classify, refused, send_error};
use herald_core::{Credential, HttpCtx, ProviderError};
use reqwest::RequestBuilder;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::de::DeserializeOwned;
use std::time::Duration;
use url::Url;

/// How much of an answer is read; an instance is untrusted and the largest
/// answer used (an account with fields and emojis) is far smaller.
const MAX_ANSWER_BYTES: usize = 512 * 1024;

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

    /// The body as `T` when the status is 2xx; else the classified error.
    /// A 2xx that is not the expected JSON is `Rejected` `invalid_answer`.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, ProviderError> {
        if !self.is_success() {
            return Err(classify(self.status, self.retry_after, &self.body));
        }
        serde_json::from_str(&self.body).map_err(|e| ProviderError::Rejected {
            status: Some(self.status),
            code: "invalid_answer".into(),
            message: format!("the instance's {what} answer is not what Mastodon sends: {e}"),
        })
    }

    /// `Ok` for a 2xx, else the classified error.
    pub fn ok(&self) -> Result<(), ProviderError> {
        if self.is_success() {
            Ok(())
        } else {
            Err(classify(self.status, self.retry_after, &self.body))
        }
    }
}

/// `{api_base}/{path}` as a URL, checked against the outbound policy (an IP
/// literal never reaches the guarded resolver, so it is checked here).
pub async fn url(http: &HttpCtx, path: &str) -> Result<Url, ProviderError> {
    let raw = http.api_url(path);
    let url = Url::parse(&raw).map_err(|e| ProviderError::Rejected {
        status: None,
        code: "invalid_instance".into(),
        message: format!("the instance URL {raw:?} is invalid: {e}"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProviderError::Rejected {
            status: None,
            code: "invalid_instance".into(),
            message: format!("the instance URL {raw:?} is not http(s)"),
        });
    }
    http.policy.check_url(&url).await.map_err(|e| refused(&e))?;
    Ok(url)
}

/// Sends the request and reads the answer. A refusal by the policy is
/// `Rejected`/`Transient` (see [`errors::refused`]); a connect error is
/// `Transient`; a timeout after the request left is `Unknown`.
pub async fn send(req: RequestBuilder) -> Result<Answer, ProviderError> {
    let mut resp = req.send().await.map_err(|e| send_error(&e))?;
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
            // The status line arrived, so the instance acted on the request;
            // a broken body still leaves the outcome unknown.
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

/// Refuses to send an account's token anywhere but its own instance: the
/// connection's `url` (when stored) must be `http.api_base`'s origin. A
/// mismatch means the caller built the context for another server.
pub fn check_instance(cred: &Credential, http: &HttpCtx) -> Result<(), ProviderError> {
    let Some(stored) = cred.url.as_deref().filter(|u| !u.trim().is_empty()) else {
        return Ok(());
    };
    let same = Url::parse(stored)
        .ok()
        .and_then(|u| instance_base(&u))
        .is_some_and(|b| Some(b) == instance_base(&http.api_base));
    if same {
        Ok(())
    } else {
        Err(ProviderError::Rejected {
            status: None,
            code: "instance_mismatch".into(),
            message: format!(
                "the connection belongs to {stored}, not to {}; nothing was sent",
                http.api_base
            ),
        })
    }
}

/// The instance's base as stored on a connection: `scheme://host[:port]`,
/// without path or trailing slash (Mastodon is always served at the root).
pub fn instance_base(url: &Url) -> Option<String> {
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// The instance's host for `@user@host`: the host, plus the port when it is
/// not the scheme's default.
pub fn instance_host(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::ErrorClass;

    #[test]
    fn bases_and_hosts() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            instance_base(&u("https://Mastodon.Example/some/path?q=1")).as_deref(),
            Some("https://mastodon.example")
        );
        assert_eq!(
            instance_base(&u("http://127.0.0.1:3000/")).as_deref(),
            Some("http://127.0.0.1:3000")
        );
        assert_eq!(
            instance_base(&u("https://m.example:443/")).as_deref(),
            Some("https://m.example")
        );
        assert_eq!(instance_base(&u("data:text/plain,x")), None);
        assert_eq!(
            instance_host(&u("https://m.example/")).as_deref(),
            Some("m.example")
        );
        assert_eq!(
            instance_host(&u("http://127.0.0.1:3000/")).as_deref(),
            Some("127.0.0.1:3000")
        );
    }

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
        assert_eq!(a(200, r#"{"id":"1"}"#).json::<Id>("x").unwrap().id, "1");
        let e = a(200, "<html>").json::<Id>("status").unwrap_err();
        assert_eq!(e.code(), "invalid_answer");
        let e = a(401, "").json::<Id>("status").unwrap_err();
        assert_eq!(e.class(), ErrorClass::AuthRevoked);
        assert!(a(204, "").ok().is_ok());
        assert_eq!(a(503, "").ok().unwrap_err().class(), ErrorClass::Transient);
    }
}
