//! Publishing an activity to Messenger Connect 4.1: `POST
//! {api_base}/V4.1/cid-{CID}/MyActivities` with the OAuth WRAP header. The CID
//! is the member id the connection is keyed by; it is percent-encoded so a
//! stored value can never change the path.

use crate::answer::{self, authorization};
use crate::errors::redact;
use herald_core::{Credential, HttpCtx, IdempotencyKey, NativePost, ProviderError, Published};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};

/// The `MyActivities` collection of one member, relative to the API base.
pub fn activities_path(cid: &str) -> String {
    format!("V4.1/cid-{}/MyActivities", encode_segment(cid))
}

/// `WRAP access_token=<token>`, the form MSDN documents (unquoted).
pub fn wrap_authorization(token: &str) -> String {
    format!("WRAP access_token={token}")
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The connection's CID; a connection without one cannot post.
pub fn cid(cred: &Credential) -> Result<&str, ProviderError> {
    let cid = cred.provider_uid.trim();
    if cid.is_empty() {
        return Err(ProviderError::AuthRevoked {
            status: None,
            message: "the connection has no Windows Live CID; the user must reconnect".into(),
        });
    }
    Ok(cid)
}

/// Posts the rendered activity.
pub async fn publish(
    post: &NativePost,
    cred: &Credential,
    key: &IdempotencyKey,
    http: &HttpCtx,
) -> Result<Published, ProviderError> {
    let token = cred.access_token()?;
    let url = http.api_url(&activities_path(cid(cred)?));
    let req = http
        .client
        .post(url)
        .header(AUTHORIZATION, authorization(&wrap_authorization(token))?)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .body(post.body.to_string());
    let answer = answer::send(req).await.map_err(|e| redact(e, token))?;
    answer::published(&answer, key).map_err(|e| redact(e, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_the_cid() {
        assert_eq!(
            activities_path("8c3a61b2"),
            "V4.1/cid-8c3a61b2/MyActivities"
        );
        assert_eq!(
            activities_path("a/b?c d%é"),
            "V4.1/cid-a%2Fb%3Fc%20d%25%C3%A9/MyActivities"
        );
    }

    #[test]
    fn wrap_header_and_cid() {
        assert_eq!(wrap_authorization("tok"), "WRAP access_token=tok");
        let mut cred = Credential::default();
        assert!(cid(&cred).is_err());
        cred.provider_uid = "abc".into();
        assert_eq!(cid(&cred).unwrap(), "abc");
    }
}
