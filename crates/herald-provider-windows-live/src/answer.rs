//! Sending a publish request and reading its answer, shared by the activities
//! and share calls: both answer with JSON naming the new object, and both may
//! hide an error in a 2xx body (`{"Code":412}`), so the answer is read whole
//! and judged by one pure function.

use crate::errors::{self, NetworkError, classify};
use herald_core::{IdempotencyKey, ProviderError, Published};
use reqwest::RequestBuilder;
use reqwest::header::{HeaderValue, LOCATION};
use serde_json::Value;
use std::time::Duration;

/// What came back, read in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub location: Option<String>,
    pub body: String,
}

/// Sends the request. A failure to connect is `Transient`; a failure after the
/// request left (timeout, broken body) is `Unknown`.
pub async fn send(req: RequestBuilder) -> Result<Answer, ProviderError> {
    let resp = req
        .send()
        .await
        .map_err(|e| ProviderError::from_reqwest(&e))?;
    let status = resp.status().as_u16();
    let retry_after = errors::retry_after(resp.headers());
    let location = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp
        .text()
        .await
        .map_err(|e| ProviderError::from_reqwest(&e))?;
    Ok(Answer {
        status,
        retry_after,
        location,
        body,
    })
}

/// Judges a publish answer: an error status or error body is classified;
/// otherwise the post exists.
pub fn published(answer: &Answer, key: &IdempotencyKey) -> Result<Published, ProviderError> {
    let ok = (200..300).contains(&answer.status);
    if !ok || NetworkError::parse(&answer.body).is_some() {
        return Err(classify(answer.status, answer.retry_after, &answer.body));
    }
    let json: Option<Value> = serde_json::from_str(&answer.body).ok();
    let post_id = json
        .as_ref()
        .and_then(post_id)
        .or_else(|| answer.location.clone().filter(|l| !l.is_empty()))
        // A 2xx means the post was created even though the answer does not
        // name it. The idempotency key is stable per delivery, so it still
        // identifies this post in Herald's records (delete is unsupported, so
        // nothing ever sends this id back to the network).
        .unwrap_or_else(|| key.as_str().to_owned());
    Ok(Published {
        post_id,
        post_url: json.as_ref().and_then(post_url),
    })
}

/// The created object's `Id` (Messenger Connect) or `id` (Live Connect), as
/// text whether it came as a string or a number.
pub fn post_id(v: &Value) -> Option<String> {
    ["Id", "id"]
        .iter()
        .filter_map(|k| v.get(*k))
        .find_map(|id| match id {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// A link to the created object, if the answer carries one.
pub fn post_url(v: &Value) -> Option<String> {
    ["AlternateLink", "Link"]
        .iter()
        .filter_map(|k| v.get(*k)?.as_str())
        .find(|s| !s.is_empty())
        .map(str::to_owned)
}

/// An `Authorization` header value, marked sensitive so it is never logged.
/// A token that cannot be a header value is unusable: the user must reconnect.
pub fn authorization(value: &str) -> Result<HeaderValue, ProviderError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| ProviderError::AuthRevoked {
        status: None,
        message: "the stored access token is not a valid header value".into(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::{DeliveryId, ErrorClass};

    fn answer(status: u16, body: &str, location: Option<&str>) -> Answer {
        Answer {
            status,
            retry_after: None,
            location: location.map(str::to_owned),
            body: body.into(),
        }
    }

    #[test]
    fn ids_from_string_number_location_or_key() {
        let key = IdempotencyKey::for_delivery(&DeliveryId::new());
        let p = |a: Answer| published(&a, &key).unwrap();
        assert_eq!(p(answer(201, r#"{"Id":"act-1"}"#, None)).post_id, "act-1");
        assert_eq!(p(answer(200, r#"{"Id":42}"#, None)).post_id, "42");
        assert_eq!(p(answer(201, r#"{"id":"s.1"}"#, None)).post_id, "s.1");
        assert_eq!(
            p(answer(201, "", Some("https://x/1"))).post_id,
            "https://x/1"
        );
        assert_eq!(p(answer(201, "{}", None)).post_id, key.as_str());
        let with_link = p(answer(
            201,
            r#"{"Id":"1","AlternateLink":"https://l/1"}"#,
            None,
        ));
        assert_eq!(with_link.post_url.as_deref(), Some("https://l/1"));
        assert_eq!(p(answer(201, r#"{"Id":"1"}"#, None)).post_url, None);
    }

    #[test]
    fn errors_in_2xx_bodies_are_classified() {
        let key = IdempotencyKey::for_delivery(&DeliveryId::new());
        let e = published(&answer(200, r#"{"Code":412}"#, None), &key).unwrap_err();
        assert_eq!(e.class(), ErrorClass::AuthExpired);
        let e = published(&answer(400, r#"{"Id":"1"}"#, None), &key).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Rejected);
    }

    #[test]
    fn authorization_is_sensitive_and_checked() {
        assert!(authorization("WRAP access_token=t").unwrap().is_sensitive());
        assert_eq!(
            authorization("Bearer a\nb").unwrap_err().class(),
            ErrorClass::AuthRevoked
        );
    }
}
