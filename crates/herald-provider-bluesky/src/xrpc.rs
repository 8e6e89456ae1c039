//! Sending XRPC procedure calls (`POST {base}/xrpc/<nsid>`) and reading their
//! answers. The PDS may be any server a user named, so answers are read up to
//! [`MAX_ANSWER_BYTES`] only, and every failure is classified in
//! [`crate::errors`].

use crate::errors::{Answer, Call, classify, redact, send_error};
use herald_core::ProviderError;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::Value;

/// How much of an answer is read; the rest is ignored.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// `Authorization: Bearer <token>`, marked sensitive so it is never logged.
pub fn bearer(token: &str) -> Result<HeaderValue, ProviderError> {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        ProviderError::AuthRevoked {
            status: None,
            message: "the stored token is not a valid header value".into(),
        }
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// POSTs `body` (none for calls without input) to `url` and returns the
/// answer's JSON (`Null` when it has none). A non-2xx answer is classified as
/// `call`; `token` is scrubbed from every error message.
pub async fn procedure(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Option<&Value>,
    call: Call,
) -> Result<Value, ProviderError> {
    let mut req = client.post(url).header(ACCEPT, "application/json");
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, bearer(t)?);
    }
    if let Some(b) = body {
        req = req
            .header(CONTENT_TYPE, "application/json")
            .body(b.to_string());
    }
    let scrub = |e: ProviderError| redact(e, token.unwrap_or_default());
    let answer = send(req).await.map_err(scrub)?;
    if (200..300).contains(&answer.status) {
        return Ok(serde_json::from_str(&answer.body).unwrap_or(Value::Null));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Err(scrub(classify(&answer, call, now)))
}

/// Sends the request and reads the status, the rate-limit headers and at
/// most [`MAX_ANSWER_BYTES`] of the body (a failure while reading yields what
/// arrived: the status already tells what happened).
pub async fn send(req: reqwest::RequestBuilder) -> Result<Answer, ProviderError> {
    let mut resp = req.send().await.map_err(|e| send_error(&e))?;
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (retry_after, ratelimit_reset) = (header("retry-after"), header("ratelimit-reset"));
    let status = resp.status().as_u16();
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_ANSWER_BYTES - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&buf).into_owned(),
        retry_after,
        ratelimit_reset,
    })
}
