//! Talking to LinkedIn: the versioned REST headers every `/rest/` call needs,
//! the Bearer header, and reading an answer whole (bounded) with the headers
//! that matter (`x-restli-id`, `Retry-After`).
//!
//! "All APIs require the request header `LinkedIn-Version: {Version in YYYYMM
//! format}`" and "`X-Restli-Protocol-Version: 2.0.0`" (Posts API,
//! learn.microsoft.com/linkedin/marketing/community-management/shares/
//! posts-api). Versions are monthly and each is supported for at least a
//! year (…/linkedin/marketing/versioning); the app's `version` option picks
//! one, else [`DEFAULT_VERSION`]. The hosts are the operator's configuration,
//! so calls go through the trusted `http.client`.

use crate::errors::{self, classify};
use herald_core::{HttpCtx, ProviderError};
use reqwest::RequestBuilder;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The `LinkedIn-Version` sent unless the app's `version` option says
/// otherwise: July 2026, the latest version the documentation listed when
/// this was written, supported until at least July 2027.
pub const DEFAULT_VERSION: &str = "202607";
pub const VERSION_HEADER: &str = "LinkedIn-Version";
pub const PROTOCOL_HEADER: &str = "X-Restli-Protocol-Version";
pub const PROTOCOL_VERSION: &str = "2.0.0";
/// The created entity's id on a Rest.li create (201).
pub const RESTLI_ID_HEADER: &str = "x-restli-id";

/// How much of an answer is read; LinkedIn's answers here are small.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// What came back, read in full (up to the cap).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    /// `x-restli-id`, when sent.
    pub restli_id: Option<String>,
    pub body: String,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as `T` when the status is 2xx; else the classified error.
    /// A 2xx that is not the expected JSON is `Rejected` `invalid_answer`.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, ProviderError> {
        self.ok()?;
        serde_json::from_str(&self.body).map_err(|e| ProviderError::Rejected {
            status: Some(self.status),
            code: "invalid_answer".into(),
            message: format!("LinkedIn's {what} answer is not what it documents: {e}"),
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

/// Sends the request and reads the answer. A connect error is `Transient`; a
/// timeout or broken answer after the request left is `Unknown`.
pub async fn send(req: RequestBuilder) -> Result<Answer, ProviderError> {
    let mut resp = req
        .send()
        .await
        .map_err(|e| ProviderError::from_reqwest(&e))?;
    let status = resp.status().as_u16();
    let retry_after = errors::retry_after(resp.headers());
    let restli_id = resp
        .headers()
        .get(RESTLI_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
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
            Err(e) => return Err(ProviderError::from_reqwest(&e)),
        }
    }
    Ok(Answer {
        status,
        retry_after,
        restli_id,
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

/// The `LinkedIn-Version` to send: the app's `version` option (`YYYYMM`, or
/// `YYYYMM.NN` for a patch release), else [`DEFAULT_VERSION`].
pub fn version(http: &HttpCtx) -> Result<&str, ProviderError> {
    let Some(v) = http
        .settings
        .options
        .get("version")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    else {
        return Ok(DEFAULT_VERSION);
    };
    if is_version(v) {
        Ok(v)
    } else {
        Err(ProviderError::Rejected {
            status: None,
            code: "invalid_version".into(),
            message: format!(
                "the LinkedIn provider's `version` option {v:?} is not YYYYMM (e.g. {DEFAULT_VERSION}); nothing was sent"
            ),
        })
    }
}

fn is_version(v: &str) -> bool {
    let (month, patch) = match v.split_once('.') {
        Some((m, p)) => (m, Some(p)),
        None => (v, None),
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    digits(month, 6)
        && matches!(
            &month[4..],
            "01" | "02" | "03" | "04" | "05" | "06" | "07" | "08" | "09" | "10" | "11" | "12"
        )
        && patch.is_none_or(|p| digits(p, 2))
}

/// A versioned `/rest/` request: Bearer, `LinkedIn-Version` and the Rest.li
/// protocol version.
pub fn rest(
    req: RequestBuilder,
    token: &str,
    http: &HttpCtx,
) -> Result<RequestBuilder, ProviderError> {
    Ok(req
        .header(AUTHORIZATION, bearer(token)?)
        .header(VERSION_HEADER, version(http)?)
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION))
}

/// Percent-encodes a URN for a path segment, as LinkedIn asks for
/// `/rest/posts/{encoded urn}`: every byte outside RFC 3986's unreserved set
/// (so `:` too) is `%XX`, and the URN cannot leave its segment.
pub fn encode_urn(urn: &str) -> String {
    let mut out = String::with_capacity(urn.len() * 3);
    for b in urn.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
    fn versions_are_yyyymm() {
        for ok in ["202607", "202508.02", "203012"] {
            assert!(is_version(ok), "{ok}");
        }
        for bad in [
            "2026-07", "20267", "202613", "202600", "202607.2", "latest", "202607.", "",
        ] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn urns_are_encoded_whole() {
        assert_eq!(
            encode_urn("urn:li:share:6844785523593134080"),
            "urn%3Ali%3Ashare%3A6844785523593134080"
        );
        assert_eq!(encode_urn("a/../b?c#d é"), "a%2F..%2Fb%3Fc%23d%20%C3%A9");
    }

    #[test]
    fn answers_are_judged() {
        let a = |status: u16, body: &str| Answer {
            status,
            retry_after: None,
            restli_id: None,
            body: body.into(),
        };
        #[derive(serde::Deserialize, Debug)]
        struct Sub {
            sub: String,
        }
        assert_eq!(a(200, r#"{"sub":"x"}"#).json::<Sub>("u").unwrap().sub, "x");
        assert_eq!(
            a(200, "<html>").json::<Sub>("u").unwrap_err().code(),
            "invalid_answer"
        );
        assert_eq!(
            a(401, "").json::<Sub>("u").unwrap_err().class(),
            ErrorClass::AuthRevoked
        );
        assert!(a(204, "").ok().is_ok());
        assert_eq!(a(502, "").ok().unwrap_err().class(), ErrorClass::Transient);
    }
}
