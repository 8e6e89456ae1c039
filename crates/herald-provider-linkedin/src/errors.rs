//! Maps LinkedIn answers to [`ProviderError`] classes, in one pure function
//! ([`classify_at`]) so every documented status and body shape is
//! table-tested.
//!
//! The REST API answers errors as `{"status", "serviceErrorCode", "code",
//! "message"}` (learn.microsoft.com/linkedin/shared/api-guide/concepts/
//! error-handling), sometimes with `errorDetails.inputErrors[].code` for a
//! field that failed validation (e.g. `FIELD_ARRAY_SIZE_TOO_HIGH` when the
//! commentary is over 3000 characters). The OAuth endpoints on
//! www.linkedin.com answer `{"error", "error_description"}`.
//!
//! - 401: the error-handling guide lists "Expired access token" (refresh it)
//!   apart from "Invalid access token" and "The token has been revoked" (the
//!   member removed the app, so they must reconnect). Only an expired token
//!   (`code` `EXPIRED_ACCESS_TOKEN`, or a message saying it expired) is
//!   `AuthExpired`; `REVOKED_ACCESS_TOKEN` (serviceErrorCode 65601),
//!   `INVALID_ACCESS_TOKEN` (65600) and anything else is `AuthRevoked`.
//! - 403 `ACCESS_DENIED` ("Not enough permissions to access: …"): the token
//!   lacks `w_member_social`; only a new consent fixes it: `AuthRevoked`.
//! - 400/422: the post itself is refused (too long, duplicate, bad field):
//!   `Rejected` with LinkedIn's `code`. On the token endpoint an
//!   `invalid_grant`, or an `invalid_request` about the authorization code or
//!   refresh token (LinkedIn's answer for an expired or mismatched code), is
//!   `AuthRevoked`.
//! - 426: the configured `LinkedIn-Version` has been sunset: `Rejected`
//!   until the operator updates the `version` option.
//! - 429: LinkedIn's limits are daily and "reset at midnight UTC every day"
//!   (…/api-guide/concepts/rate-limits); it documents no rate-limit headers.
//!   A `Retry-After` is honoured when sent; otherwise a quota refusal
//!   ("Resource level throttle limit … is reached") waits until the next
//!   midnight UTC, and any other 429 (LinkedIn's infrastructure protection)
//!   leaves the delay to the dispatcher's backoff.
//! - 408/5xx: `Transient`.

use herald_core::ProviderError;
use herald_core::error::parse_retry_after;
pub use herald_core::error::redact;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;

/// Longest network message kept in an error.
const MAX_MESSAGE: usize = 300;

/// The error an answer's body describes (either shape).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkError {
    /// REST `code`, e.g. `REVOKED_ACCESS_TOKEN`, `ACCESS_DENIED`.
    pub code: Option<String>,
    pub service_error_code: Option<i64>,
    pub message: Option<String>,
    /// The first `errorDetails.inputErrors[].code`.
    pub input_error: Option<String>,
    /// OAuth `error`, e.g. `invalid_grant`.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl NetworkError {
    pub fn parse(body: &str) -> NetworkError {
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(body) else {
            return NetworkError::default();
        };
        let text = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let input_error = obj
            .get("errorDetails")
            .and_then(|d| d.get("inputErrors"))
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find_map(|e| text(e.get("code"))));
        NetworkError {
            code: text(obj.get("code")),
            service_error_code: obj.get("serviceErrorCode").and_then(Value::as_i64),
            message: text(obj.get("message")),
            input_error,
            error: text(obj.get("error")),
            error_description: text(obj.get("error_description")),
        }
    }

    /// What a person should read.
    fn text(&self) -> Option<String> {
        match (&self.message, &self.error, &self.error_description) {
            (Some(m), _, _) => Some(short(m)),
            (None, Some(e), Some(d)) => Some(short(&format!("{e}: {d}"))),
            (None, Some(e), None) => Some(short(e)),
            (None, None, Some(d)) => Some(short(d)),
            (None, None, None) => None,
        }
    }

    /// The token expired (a refresh can fix it), as opposed to being
    /// revoked or invalid.
    fn is_expired(&self) -> bool {
        if let Some(c) = &self.code {
            return c == "EXPIRED_ACCESS_TOKEN";
        }
        self.message
            .as_deref()
            .is_some_and(|m| m.to_ascii_lowercase().contains("expired"))
    }

    /// A dead code or refresh token at the token endpoint.
    fn is_dead_grant(&self) -> bool {
        match self.error.as_deref() {
            Some("invalid_grant") => true,
            Some("invalid_request") => self.error_description.as_deref().is_some_and(|d| {
                let d = d.to_ascii_lowercase();
                d.contains("authorization code") || d.contains("refresh token")
            }),
            _ => false,
        }
    }

    /// A daily quota refusal rather than infrastructure protection.
    fn is_quota(&self) -> bool {
        self.message.as_deref().is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            m.contains("throttle") || m.contains("day limit")
        })
    }

    /// The code a rejection carries: LinkedIn's own, else a stable one.
    fn rejection_code(&self, status: u16) -> String {
        if let Some(c) = self.code.as_ref().or(self.input_error.as_ref()) {
            return c.clone();
        }
        if let Some(e) = &self.error {
            return e.clone();
        }
        let m = self
            .message
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if m.contains("duplicate") {
            "duplicate".into()
        } else {
            format!("http_{status}")
        }
    }
}

/// [`classify_at`] now.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> ProviderError {
    classify_at(status, retry_after, body, OffsetDateTime::now_utc())
}

/// Classifies an answer whose status is not 2xx. `retry_after` is what
/// [`retry_after`] read from the headers; `now` dates the daily reset.
pub fn classify_at(
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
    now: OffsetDateTime,
) -> ProviderError {
    let net = NetworkError::parse(body);
    let s = Some(status);
    let message = |default: &str| net.text().unwrap_or_else(|| default.to_owned());
    let revoked = |default: &str| ProviderError::AuthRevoked {
        status: s,
        message: message(default),
    };
    let rejected = |default: &str| ProviderError::Rejected {
        status: s,
        code: net.rejection_code(status),
        message: message(default),
    };
    match status {
        401 if net.is_expired() => ProviderError::AuthExpired {
            status: s,
            message: message("the access token expired"),
        },
        401 => revoked("the access token is invalid or was revoked; the user must reconnect"),
        400 if net.is_dead_grant() => revoked("the authorization code or refresh token is invalid"),
        403 => revoked("the token lacks the permission this call needs; the user must reconnect"),
        400 | 422 => rejected(&format!("LinkedIn refused the request (HTTP {status})")),
        404 => ProviderError::Rejected {
            status: s,
            code: "not_found".into(),
            message: message("LinkedIn answered 404 Not Found"),
        },
        426 => ProviderError::Rejected {
            status: s,
            code: net.code.clone().unwrap_or_else(|| "version_sunset".into()),
            message: format!(
                "{} (update the LinkedIn provider's `version` option)",
                message("the LinkedIn-Version in use has been sunset")
            ),
        },
        429 => ProviderError::RateLimited {
            retry_after: retry_after.or_else(|| net.is_quota().then(|| until_midnight_utc(now))),
            status: s,
            message: message("too many requests"),
        },
        408 | 500..=599 => ProviderError::Transient {
            status: s,
            message: message(&format!("LinkedIn answered HTTP {status}")),
        },
        300..=399 => ProviderError::Rejected {
            status: s,
            code: format!("http_{status}"),
            message: format!("LinkedIn redirected (HTTP {status}); redirects are not followed"),
        },
        _ => rejected(&format!("HTTP {status}")),
    }
}

/// `Retry-After` (seconds or an HTTP date): the one delay header LinkedIn
/// may send; it documents no `X-RateLimit-*` headers.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// The time left until the next 00:00 UTC, when LinkedIn's daily limits
/// reset; rounded up to the second, since waking early only earns another 429.
pub fn until_midnight_utc(now: OffsetDateTime) -> Duration {
    let now = now.to_offset(time::UtcOffset::UTC);
    let next = now.date().next_day().map(|d| d.midnight().assume_utc());
    let Some(next) = next else {
        return Duration::ZERO;
    };
    let d = next - now;
    Duration::from_secs(d.whole_seconds().max(0) as u64 + u64::from(d.subsec_nanoseconds() > 0))
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
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-25 21:00:00 UTC);

    #[test]
    fn classify_table() {
        use ErrorClass::*;
        let cases: &[(u16, &str, ErrorClass, &str, &str)] = &[
            (
                401,
                r#"{"status":401,"serviceErrorCode":65602,"code":"EXPIRED_ACCESS_TOKEN","message":"The token used in the request has expired"}"#,
                AuthExpired,
                "auth_expired",
                "The token used in the request has expired",
            ),
            (
                401,
                r#"{"status":401,"serviceErrorCode":65601,"code":"REVOKED_ACCESS_TOKEN","message":"The token used in the request has been revoked by the user"}"#,
                AuthRevoked,
                "auth_revoked",
                "The token used in the request has been revoked by the user",
            ),
            (
                401,
                r#"{"status":401,"serviceErrorCode":65600,"code":"INVALID_ACCESS_TOKEN","message":"Invalid access token"}"#,
                AuthRevoked,
                "auth_revoked",
                "Invalid access token",
            ),
            // The older shape, without `code`: told apart by its message.
            (
                401,
                r#"{"serviceErrorCode":65600,"message":"Invalid access token","status":401}"#,
                AuthRevoked,
                "auth_revoked",
                "Invalid access token",
            ),
            (
                401,
                r#"{"message":"Expired access token","status":401}"#,
                AuthExpired,
                "auth_expired",
                "Expired access token",
            ),
            (
                401,
                r#"{"message":"Empty oauth2_access_token","serviceErrorCode":401,"status":401}"#,
                AuthRevoked,
                "auth_revoked",
                "Empty oauth2_access_token",
            ),
            (
                401,
                "",
                AuthRevoked,
                "auth_revoked",
                "the access token is invalid or was revoked; the user must reconnect",
            ),
            (
                403,
                r#"{"status":403,"serviceErrorCode":100,"code":"ACCESS_DENIED","message":"Not enough permissions to access: partnerApiPostsExternal.CREATE.20260701"}"#,
                AuthRevoked,
                "auth_revoked",
                "Not enough permissions to access: partnerApiPostsExternal.CREATE.20260701",
            ),
            (
                400,
                r#"{"errorDetailType":"com.linkedin.common.error.BadRequest","message":"com.linkedin.content.common.exception.BadRequestResponseException: ShareCommentary text length (3100 characters) exceeded the maximum allowed (3000 characters)","errorDetails":{"inputErrors":[{"description":"Size of array cannot be higher than the maxLength","input":{},"code":"FIELD_ARRAY_SIZE_TOO_HIGH","maxLength":3000}]},"status":400}"#,
                Rejected,
                "FIELD_ARRAY_SIZE_TOO_HIGH",
                "com.linkedin.content.common.exception.BadRequestResponseException: ShareCommentary text length (3100 characters) exceeded the maximum allowed (3000 characters)",
            ),
            (
                422,
                r#"{"message":"ERROR :: /commentary :: is required","status":422,"code":"UNPROCESSABLE_ENTITY"}"#,
                Rejected,
                "UNPROCESSABLE_ENTITY",
                "ERROR :: /commentary :: is required",
            ),
            (
                422,
                r#"{"message":"Content is a duplicate of urn:li:share:7012345678901234567","status":422}"#,
                Rejected,
                "duplicate",
                "Content is a duplicate of urn:li:share:7012345678901234567",
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"The provided authorization grant is invalid"}"#,
                AuthRevoked,
                "auth_revoked",
                "invalid_grant: The provided authorization grant is invalid",
            ),
            (
                400,
                r#"{"error":"invalid_request","error_description":"Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or authorization code expired. Or external member binding exists"}"#,
                AuthRevoked,
                "auth_revoked",
                "invalid_request: Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or authorization code expired. Or external member binding exists",
            ),
            (
                400,
                r#"{"error":"invalid_request","error_description":"A required parameter \"client_id\" is missing"}"#,
                Rejected,
                "invalid_request",
                "invalid_request: A required parameter \"client_id\" is missing",
            ),
            (
                400,
                "<html>",
                Rejected,
                "http_400",
                "LinkedIn refused the request (HTTP 400)",
            ),
            (
                404,
                r#"{"message":"Not Found","status":404}"#,
                Rejected,
                "not_found",
                "Not Found",
            ),
            (
                426,
                r#"{"status":426,"code":"NONEXISTENT_VERSION","message":"Requested version 202401 is not active"}"#,
                Rejected,
                "NONEXISTENT_VERSION",
                "Requested version 202401 is not active (update the LinkedIn provider's `version` option)",
            ),
            (
                429,
                r#"{"serviceErrorCode":101,"message":"Resource level throttle limit for calls to this resource is reached.","status":429}"#,
                RateLimited,
                "rate_limited",
                "Resource level throttle limit for calls to this resource is reached.",
            ),
            (
                503,
                "<html>down</html>",
                Transient,
                "transient",
                "LinkedIn answered HTTP 503",
            ),
            (
                500,
                r#"{"message":"Internal Server Error","status":500}"#,
                Transient,
                "transient",
                "Internal Server Error",
            ),
            (
                408,
                "",
                Transient,
                "transient",
                "LinkedIn answered HTTP 408",
            ),
            (
                302,
                "",
                Rejected,
                "http_302",
                "LinkedIn redirected (HTTP 302); redirects are not followed",
            ),
            (418, "", Rejected, "http_418", "HTTP 418"),
        ];
        for (status, body, class, code, message) in cases {
            let e = classify_at(*status, None, body, NOW);
            assert_eq!(e.class(), *class, "{status} {body}: {e:?}");
            assert_eq!(e.code(), *code, "{status} {body}: {e:?}");
            assert_eq!(e.message(), *message, "{status} {body}");
            assert_eq!(e.http_status(), Some(*status), "{status} {body}");
        }
    }

    #[test]
    fn rate_limits_wait_for_retry_after_else_the_daily_reset() {
        let quota = r#"{"serviceErrorCode":101,"message":"Resource level throttle limit for calls to this resource is reached.","status":429}"#;
        // 21:00 UTC: the daily counters reset in three hours.
        let e = classify_at(429, None, quota, NOW);
        assert_eq!(
            e,
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(3 * 3600)),
                status: Some(429),
                message: "Resource level throttle limit for calls to this resource is reached."
                    .into()
            }
        );
        // A Retry-After the network sent wins.
        let e = classify_at(429, Some(Duration::from_secs(7)), quota, NOW);
        assert!(matches!(
            e,
            ProviderError::RateLimited { retry_after: Some(d), .. } if d.as_secs() == 7
        ));
        // Infrastructure protection: no documented delay, the dispatcher backs off.
        let e = classify_at(
            429,
            None,
            r#"{"status":429,"message":"Too Many Requests"}"#,
            NOW,
        );
        assert!(matches!(
            e,
            ProviderError::RateLimited {
                retry_after: None,
                ..
            }
        ));
    }

    #[test]
    fn midnight_is_the_next_utc_day() {
        assert_eq!(
            until_midnight_utc(datetime!(2026-11-25 23:59:59.5 UTC)),
            Duration::from_secs(1)
        );
        assert_eq!(
            until_midnight_utc(datetime!(2026-11-25 00:00:00 UTC)),
            Duration::from_secs(86_400)
        );
        // Another offset is measured in UTC: 01:00+02:00 is 23:00 UTC.
        assert_eq!(
            until_midnight_utc(datetime!(2026-11-26 01:00:00 +02:00)),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn retry_after_header_seconds_and_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "30".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
        // X-RateLimit-* is not LinkedIn's and is not read.
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", "1900000000".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn long_messages_are_cut_and_secrets_redacted() {
        let body = format!(r#"{{"message":"{}","status":422}}"#, "é".repeat(1000));
        let e = classify_at(422, None, &body, NOW);
        assert_eq!(e.message().chars().count(), MAX_MESSAGE + 1);
        let e = classify_at(
            400,
            None,
            r#"{"error":"invalid_request","error_description":"bad code abc123 given"}"#,
            NOW,
        );
        assert_eq!(
            redact(e, "abc123").message(),
            "invalid_request: bad code *** given"
        );
        let e = ProviderError::Unknown {
            message: "m".into(),
        };
        assert_eq!(redact(e.clone(), ""), e);
    }
}
