//! Maps Windows Live answers to [`ProviderError`] classes, in one pure function
//! so every status and body shape is covered by table tests.
//!
//! Windows Live reports errors three ways: the HTTP status; Messenger Connect's
//! `{"Code":412,"Message":..}` body (412 = the access token expired, sometimes
//! with status 200); and Live Connect's `{"error":{"code":..,"message":..}}`
//! (or OAuth's `{"error":"invalid_grant"}`). Messages are the network's own and
//! are cut short; [`redact`] removes a token should the network echo it back.

use herald_core::ProviderError;
use herald_core::error::parse_retry_after;
pub use herald_core::error::redact;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;
use std::time::Duration;

/// Longest network message kept in an error.
const MAX_MESSAGE: usize = 300;

/// Error codes that mean the token or the user's consent is unusable.
const TOKEN_CODES: [&str; 7] = [
    "request_token_invalid",
    "request_token_missing",
    "request_token_unauthorized",
    "access_denied",
    "invalid_token",
    "invalid_grant",
    "unauthorized_client",
];

/// The error a body describes, in whichever of the network's shapes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkError {
    /// `error.code`, the OAuth `error` string, or `Code` as text.
    pub code: Option<String>,
    /// Messenger Connect's numeric `Code`.
    pub numeric: Option<u64>,
    pub message: Option<String>,
}

impl NetworkError {
    /// Reads an error from a JSON body; `None` when the body carries none
    /// (including a `Code` in the 2xx range).
    pub fn parse(body: &str) -> Option<NetworkError> {
        let v: Value = serde_json::from_str(body).ok()?;
        let obj = v.as_object()?;
        let mut e = NetworkError::default();
        match obj.get("Code") {
            Some(Value::Number(n)) => e.numeric = n.as_u64(),
            Some(Value::String(s)) => e.numeric = s.trim().parse().ok(),
            _ => {}
        }
        let code_text = obj.get("Code").and_then(scalar_text);
        e.message = obj.get("Message").and_then(scalar_text);
        match obj.get("error") {
            Some(Value::Object(err)) => {
                e.code = err.get("code").and_then(scalar_text);
                e.message = err.get("message").and_then(scalar_text).or(e.message);
            }
            Some(Value::String(code)) => {
                e.code = Some(code.clone());
                e.message = obj
                    .get("error_description")
                    .and_then(scalar_text)
                    .or(e.message);
            }
            _ => {}
        }
        e.code = e.code.or(code_text);
        let success_code = e.numeric.is_some_and(|n| (200..300).contains(&n));
        let has_error = obj.get("error").is_some_and(|v| !v.is_null());
        let has_code = obj.get("Code").is_some_and(|v| !v.is_null()) && !success_code;
        (has_error || has_code).then_some(e)
    }

    /// The code or numeric code says the token or consent is gone.
    pub fn is_token_problem(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| TOKEN_CODES.contains(&c))
            || matches!(self.numeric, Some(401 | 403))
    }

    fn is_expiry(&self) -> bool {
        self.numeric == Some(412) || self.code.as_deref() == Some("request_token_expired")
    }
}

/// Classifies an answer that is an error: a non-2xx status, or a 2xx whose body
/// carries an error. `retry_after` comes from the `Retry-After` header.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> ProviderError {
    let net = NetworkError::parse(body).unwrap_or_default();
    let message = |default: &str| {
        net.message
            .as_deref()
            .map(short)
            .unwrap_or_else(|| default.to_owned())
    };
    let status_some = Some(status);
    if status == 401 || net.is_expiry() {
        return ProviderError::AuthExpired {
            status: status_some,
            message: message("the access token is invalid or expired"),
        };
    }
    // A 2xx carrying `{"Code":4xx/5xx}` is treated as that status.
    let effective = match net.numeric {
        Some(n @ 400..=599) if (200..300).contains(&status) => n as u16,
        _ => status,
    };
    match effective {
        401 => ProviderError::AuthExpired {
            status: status_some,
            message: message("the access token is invalid or expired"),
        },
        403 if net.is_token_problem() => ProviderError::AuthRevoked {
            status: status_some,
            message: message("access was revoked; the user must reconnect"),
        },
        429 => ProviderError::RateLimited {
            retry_after,
            status: status_some,
            message: message("too many requests"),
        },
        408 | 500..=599 => ProviderError::Transient {
            status: status_some,
            message: message(&format!("HTTP {effective}")),
        },
        _ => ProviderError::Rejected {
            status: status_some,
            code: net
                .code
                .as_deref()
                .map(short)
                .unwrap_or_else(|| format!("http_{effective}")),
            message: message(&format!("HTTP {effective}")),
        },
    }
}

/// The `Retry-After` header as a duration.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// A string or number as text.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// At most [`MAX_MESSAGE`] characters.
fn short(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::ErrorClass;

    #[test]
    fn classify_table() {
        use ErrorClass::*;
        let secs = Some(Duration::from_secs(2));
        let cases: &[(u16, Option<Duration>, &str, ErrorClass, &str)] = &[
            (401, None, "", AuthExpired, "auth_expired"),
            (
                401,
                None,
                r#"{"error":{"code":"request_token_invalid","message":"bad"}}"#,
                AuthExpired,
                "auth_expired",
            ),
            (
                200,
                None,
                r#"{"Code":412,"Message":"Token expired"}"#,
                AuthExpired,
                "auth_expired",
            ),
            (400, None, r#"{"Code":412}"#, AuthExpired, "auth_expired"),
            (400, None, r#"{"Code":"412"}"#, AuthExpired, "auth_expired"),
            (
                400,
                None,
                r#"{"error":{"code":"request_token_expired","message":"The provided access token has expired."}}"#,
                AuthExpired,
                "auth_expired",
            ),
            (
                403,
                None,
                r#"{"error":{"code":"request_token_invalid","message":"m"}}"#,
                AuthRevoked,
                "auth_revoked",
            ),
            (
                403,
                None,
                r#"{"error":{"code":"access_denied","message":"m"}}"#,
                AuthRevoked,
                "auth_revoked",
            ),
            (
                403,
                None,
                r#"{"Code":403,"Message":"no consent"}"#,
                AuthRevoked,
                "auth_revoked",
            ),
            (403, None, r#"{"Code":401}"#, AuthRevoked, "auth_revoked"),
            (200, None, r#"{"Code":403}"#, AuthRevoked, "auth_revoked"),
            (200, None, r#"{"Code":401}"#, AuthExpired, "auth_expired"),
            (
                403,
                None,
                r#"{"error":{"code":"resource_quota_exceeded","message":"full"}}"#,
                Rejected,
                "resource_quota_exceeded",
            ),
            (403, None, "", Rejected, "http_403"),
            (408, None, "", Transient, "transient"),
            (429, secs, "", RateLimited, "rate_limited"),
            (500, None, "oops", Transient, "transient"),
            (
                503,
                None,
                r#"{"error":{"code":"service_unavailable","message":"later"}}"#,
                Transient,
                "transient",
            ),
            (
                400,
                None,
                r#"{"error":{"code":"request_body_invalid","message":"Bad body"}}"#,
                Rejected,
                "request_body_invalid",
            ),
            (
                400,
                None,
                r#"{"Code":1021,"Message":"Bad activity"}"#,
                Rejected,
                "1021",
            ),
            (400, None, "<html>nope</html>", Rejected, "http_400"),
            (404, None, "", Rejected, "http_404"),
            (413, None, "", Rejected, "http_413"),
            (200, None, r#"{"Code":1021}"#, Rejected, "1021"),
            (
                200,
                None,
                r#"{"error":"invalid_grant","error_description":"gone"}"#,
                Rejected,
                "invalid_grant",
            ),
        ];
        for (status, ra, body, class, code) in cases {
            let e = classify(*status, *ra, body);
            assert_eq!(e.class(), *class, "{status} {body}: {e:?}");
            assert_eq!(e.code(), *code, "{status} {body}: {e:?}");
            assert_eq!(e.http_status(), Some(*status), "{status} {body}");
        }
    }

    #[test]
    fn classify_keeps_messages_and_retry_after() {
        let e = classify(400, None, r#"{"error":{"code":"x","message":"Bad body"}}"#);
        assert_eq!(e.message(), "Bad body");
        let e = classify(400, None, r#"{"Code":1021,"Message":"Bad activity"}"#);
        assert_eq!(e.message(), "Bad activity");
        let e = classify(429, Some(Duration::from_secs(2)), "");
        assert_eq!(
            e,
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(2)),
                status: Some(429),
                message: "too many requests".into()
            }
        );
        let long = format!(r#"{{"Message":"{}","Code":1}}"#, "é".repeat(1000));
        assert_eq!(
            classify(400, None, &long).message().chars().count(),
            MAX_MESSAGE + 1
        );
    }

    #[test]
    fn success_bodies_carry_no_error() {
        assert_eq!(NetworkError::parse(r#"{"Id":"a1"}"#), None);
        assert_eq!(NetworkError::parse(r#"{"Id":"a1","Code":201}"#), None);
        assert_eq!(NetworkError::parse("not json"), None);
        assert!(NetworkError::parse(r#"{"Code":412}"#).is_some());
        assert!(NetworkError::parse(r#"{"error":{"code":"x"}}"#).is_some());
        assert!(NetworkError::parse(r#"{"error":{"message":"m"}}"#).is_some());
    }

    #[test]
    fn retry_after_header() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
    }

    #[test]
    fn redact_removes_the_token() {
        let e = classify(
            400,
            None,
            r#"{"Message":"bad token tok-secret here","Code":9}"#,
        );
        let e = redact(e, "tok-secret");
        assert_eq!(e.message(), "bad token *** here");
        assert_eq!(e.code(), "9");
        let same = ProviderError::Unknown {
            message: "m".into(),
        };
        assert_eq!(redact(same.clone(), ""), same);
    }
}
