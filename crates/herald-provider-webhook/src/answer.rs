//! What a receiver's answer means. Pure functions over status, headers and body,
//! so the mapping the dispatcher depends on (retry, give up, mark the connection
//! broken) is table-tested without a server.

use herald_core::error::parse_retry_after;
use herald_core::{IdempotencyKey, ProviderError, Published};

/// Longest piece of a receiver's body quoted in an error message.
const SNIPPET_CHARS: usize = 200;

/// The first 200 characters of a body, for error messages.
pub fn snippet(body: &str) -> String {
    body.trim().chars().take(SNIPPET_CHARS).collect()
}

fn with_body(prefix: String, body: &str) -> String {
    let s = snippet(body);
    if s.is_empty() {
        prefix
    } else {
        format!("{prefix}: {s}")
    }
}

/// Classifies a non-success answer; `Ok(())` for 2xx.
///
/// 429 → rate limited (with `Retry-After`); 408 and 5xx → transient; 401, 403
/// and 410 → the receiver refuses or is gone (`AuthRevoked`); anything else,
/// including a 3xx (redirects are not followed) → rejected as `http_<status>`.
pub fn classify(status: u16, retry_after: Option<&str>, body: &str) -> Result<(), ProviderError> {
    let s = Some(status);
    Err(match status {
        200..=299 => return Ok(()),
        429 => ProviderError::RateLimited {
            retry_after: retry_after.and_then(parse_retry_after),
            status: s,
            message: with_body(format!("the receiver answered HTTP {status}"), body),
        },
        408 | 500..=599 => ProviderError::Transient {
            status: s,
            message: with_body(format!("the receiver answered HTTP {status}"), body),
        },
        410 => ProviderError::AuthRevoked {
            status: s,
            message: with_body("the receiver is gone (HTTP 410)".into(), body),
        },
        401 | 403 => ProviderError::AuthRevoked {
            status: s,
            message: with_body(
                format!("the receiver refused the request (HTTP {status})"),
                body,
            ),
        },
        300..=399 => ProviderError::Rejected {
            status: s,
            code: format!("http_{status}"),
            message: with_body(
                format!("the receiver redirected (HTTP {status}); redirects are not followed"),
                body,
            ),
        },
        _ => ProviderError::Rejected {
            status: s,
            code: format!("http_{status}"),
            message: {
                let m = snippet(body);
                if m.is_empty() {
                    format!("the receiver answered HTTP {status}")
                } else {
                    m
                }
            },
        },
    })
}

/// The post a 2xx answer describes: its id is the JSON `id` (string or number),
/// else the `X-Post-Id` header, else the idempotency key; its URL the JSON `url`.
pub fn published(body: &str, x_post_id: Option<&str>, key: &IdempotencyKey) -> Published {
    let json = serde_json::from_str::<serde_json::Value>(body).ok();
    let field = |name: &str| json.as_ref().and_then(|j| j.get(name));
    let json_id = match field("id") {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let header_id = x_post_id
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Published {
        post_id: json_id
            .or(header_id)
            .unwrap_or_else(|| key.as_str().to_owned()),
        post_url: field("url").and_then(|u| u.as_str()).map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::{DeliveryId, ErrorClass};
    use std::time::Duration;

    #[test]
    fn status_table() {
        use ErrorClass::*;
        let table: &[(u16, Option<ErrorClass>)] = &[
            (200, None),
            (201, None),
            (202, None),
            (204, None),
            (299, None),
            (301, Some(Rejected)),
            (302, Some(Rejected)),
            (400, Some(Rejected)),
            (401, Some(AuthRevoked)),
            (403, Some(AuthRevoked)),
            (404, Some(Rejected)),
            (408, Some(Transient)),
            (409, Some(Rejected)),
            (410, Some(AuthRevoked)),
            (413, Some(Rejected)),
            (422, Some(Rejected)),
            (429, Some(RateLimited)),
            (500, Some(Transient)),
            (502, Some(Transient)),
            (503, Some(Transient)),
            (504, Some(Transient)),
            (599, Some(Transient)),
        ];
        for &(status, class) in table {
            let got = classify(status, None, "").err();
            assert_eq!(
                got.as_ref().map(ProviderError::class),
                class,
                "HTTP {status}"
            );
            if let Some(e) = got {
                assert_eq!(e.http_status(), Some(status), "HTTP {status}");
            }
        }
    }

    #[test]
    fn rejections_carry_the_status_code_and_a_body_snippet() {
        let long = "x".repeat(500);
        let e = classify(400, None, &long).unwrap_err();
        assert_eq!(e.code(), "http_400");
        assert_eq!(e.message(), "x".repeat(200));
        let e = classify(422, None, "").unwrap_err();
        assert_eq!(e.code(), "http_422");
        assert_eq!(e.message(), "the receiver answered HTTP 422");
        // Characters, not bytes: a multi-byte body is never cut mid-character.
        let e = classify(400, None, &"é".repeat(300)).unwrap_err();
        assert_eq!(e.message().chars().count(), 200);
    }

    #[test]
    fn rate_limits_keep_retry_after() {
        let e = classify(429, Some("7"), "").unwrap_err();
        assert!(matches!(
            e,
            ProviderError::RateLimited { retry_after: Some(d), status: Some(429), .. }
                if d == Duration::from_secs(7)
        ));
        let e = classify(429, Some("later"), "").unwrap_err();
        assert!(matches!(
            e,
            ProviderError::RateLimited {
                retry_after: None,
                ..
            }
        ));
    }

    #[test]
    fn post_id_prefers_json_then_header_then_key() {
        let key = IdempotencyKey::for_delivery(&DeliveryId::new());
        let p = published(
            r#"{"id":"p1","url":"https://r.example/p1"}"#,
            Some("h1"),
            &key,
        );
        assert_eq!(p.post_id, "p1");
        assert_eq!(p.post_url.as_deref(), Some("https://r.example/p1"));
        assert_eq!(published(r#"{"id":42}"#, Some("h1"), &key).post_id, "42");
        assert_eq!(published(r#"{"id":null}"#, Some("h1"), &key).post_id, "h1");
        assert_eq!(published(r#"{"id":""}"#, Some("h1"), &key).post_id, "h1");
        assert_eq!(published("ok", Some(" h1 "), &key).post_id, "h1");
        let p = published("", None, &key);
        assert_eq!(p.post_id, key.as_str());
        assert_eq!(p.post_url, None);
        assert_eq!(published("[1]", Some(""), &key).post_id, key.as_str());
    }
}
