//! Maps Mastodon answers to [`ProviderError`] classes, in one pure function
//! ([`classify`]) so every status and body shape is table-tested.
//!
//! Mastodon errors are `{"error": "<text>"}` (REST API) or OAuth's
//! `{"error": "<code>", "error_description": "<text>"}` (token endpoints).
//! Rate limits come as 429 with `X-RateLimit-Reset`, an ISO-8601 timestamp.
//! The instance is a user-named host, so its messages are cut short, tokens it
//! might echo are removed with [`redact`], and a refusal by the outbound policy
//! (a private address) is told apart from a network failure ([`send_error`]).

use herald_core::ProviderError;
use herald_core::error::parse_retry_after;
pub use herald_core::error::{redact, refused, send_error};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Iso8601;

/// Longest network message kept in an error.
const MAX_MESSAGE: usize = 300;
/// Mastodon's rate-limit reset header.
pub const RATE_LIMIT_RESET: &str = "x-ratelimit-reset";

/// The error an answer's body describes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkError {
    /// The `error` string: an OAuth code (`invalid_grant`) or, on the REST
    /// API, a sentence ("The access token is invalid").
    pub error: Option<String>,
    pub description: Option<String>,
}

impl NetworkError {
    pub fn parse(body: &str) -> NetworkError {
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(body) else {
            return NetworkError::default();
        };
        let text = |k: &str| {
            obj.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        NetworkError {
            error: text("error"),
            description: text("error_description"),
        }
    }

    /// What a person should read: the description, else the error text.
    fn message(&self) -> Option<String> {
        match (&self.error, &self.description) {
            (Some(e), Some(d)) if is_oauth_code(e) => Some(short(&format!("{e}: {d}"))),
            (_, Some(d)) => Some(short(d)),
            (Some(e), None) => Some(short(e)),
            (None, None) => None,
        }
    }

    /// The OAuth code, when `error` is one (`invalid_grant`, not a sentence).
    fn oauth_code(&self) -> Option<&str> {
        self.error.as_deref().filter(|e| is_oauth_code(e))
    }
}

/// OAuth error codes are lower-case words joined by underscores.
fn is_oauth_code(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

/// A 403 or 422 whose text says the token or the account cannot act: the
/// token lacks a scope, the token has no user, or the login is disabled,
/// suspended or unconfirmed. None of these heals by retrying; the user has to
/// act (reconnect, or sort out the account), so the connection is marked.
fn is_account_problem(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "outside the authorized scopes",
        "requires an authenticated user",
        "login is currently disabled",
        "login is missing",
        "suspended",
        "confirmed e-mail",
    ]
    .iter()
    .any(|p| t.contains(p))
}

/// A stable code for a 422 validation failure, from Mastodon's message.
fn validation_code(text: &str) -> &'static str {
    let t = text.to_ascii_lowercase();
    if t.contains("character limit") || t.contains("too long") {
        "too_long"
    } else if t.contains("can't be blank") || t.contains("cannot be blank") {
        "blank"
    } else if t.contains("duplicate") || t.contains("already") {
        "duplicate"
    } else {
        "validation_failed"
    }
}

/// Classifies an answer whose status is not 2xx. `retry_after` is what
/// [`retry_after`] read from the headers.
///
/// - 401: Mastodon tokens do not expire, so a refused token was revoked (or
///   the app deleted): `AuthRevoked` (publish turns it into `AuthExpired`
///   when the credential has an expiry and a refresh token).
/// - 400 `invalid_grant` (token endpoint): the code or refresh token is dead:
///   `AuthRevoked`. Other 400s are `Rejected` with the OAuth code.
/// - 403: `AuthRevoked` when the text says the token or the login cannot act
///   (missing scope, disabled or suspended account — retrying cannot help and
///   the site should see the connection is broken); otherwise (e.g. deleting
///   someone else's status) `Rejected` `forbidden`.
/// - 404 → `Rejected` `not_found`; 410 (account gone) → `AuthRevoked`.
/// - 422 → `Rejected` with the network's text and a code derived from it
///   (`too_long`, `blank`, `validation_failed`), except "requires an
///   authenticated user" (an app token with no user) → `AuthRevoked`.
///   "Cannot attach files that have not finished processing" is `Transient`.
/// - 429 → `RateLimited` with the reset time; 408 and 5xx → `Transient`.
/// - 3xx → `Rejected`: redirects are not followed for user-named hosts.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> ProviderError {
    let net = NetworkError::parse(body);
    let message = |default: &str| net.message().unwrap_or_else(|| default.to_owned());
    let text = net.message().unwrap_or_default();
    let s = Some(status);
    let revoked = |default: &str| ProviderError::AuthRevoked {
        status: s,
        message: message(default),
    };
    let rejected = |code: &str, default: &str| ProviderError::Rejected {
        status: s,
        code: code.to_owned(),
        message: message(default),
    };
    match status {
        401 => revoked("the access token is invalid; the user must reconnect"),
        400 if net.oauth_code() == Some("invalid_grant") => {
            revoked("the grant is invalid or was revoked")
        }
        400 => rejected(net.oauth_code().unwrap_or("http_400"), "HTTP 400"),
        403 if is_account_problem(&text) => revoked("the account may not do this"),
        403 => rejected("forbidden", "HTTP 403"),
        404 => rejected("not_found", "the instance answered 404 Not Found"),
        410 => revoked("the account or instance is gone (HTTP 410)"),
        422 if is_account_problem(&text) => revoked("the token has no authenticated user"),
        // Media attached before the instance finished processing it.
        422 if text.contains("not finished processing") => ProviderError::Transient {
            status: s,
            message: message("media still processing"),
        },
        422 => rejected(validation_code(&text), "HTTP 422"),
        429 => ProviderError::RateLimited {
            retry_after,
            status: s,
            message: message("too many requests"),
        },
        408 | 500..=599 => ProviderError::Transient {
            status: s,
            message: message(&format!("the instance answered HTTP {status}")),
        },
        300..=399 => rejected(
            &format!("http_{status}"),
            &format!("the instance redirected (HTTP {status}); redirects are not followed"),
        ),
        _ => rejected(&format!("http_{status}"), &format!("HTTP {status}")),
    }
}

/// How long to wait before trying again: the later of `X-RateLimit-Reset`
/// (Mastodon's, an ISO-8601 timestamp) and `Retry-After`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let now = OffsetDateTime::now_utc();
    let reset = headers
        .get(RATE_LIMIT_RESET)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_rate_limit_reset(v, now));
    let after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    reset.max(after)
}

/// The delay until an `X-RateLimit-Reset` value, measured from `now`.
/// Mastodon sends an ISO-8601 timestamp (`2026-11-25T21:05:00.000000Z`);
/// Unix seconds are accepted too, since some compatible servers (and the
/// `mastodon-mock` test server) send those. A time in the past is zero.
pub fn parse_rate_limit_reset(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let v = value.trim();
    let at = match v.parse::<i64>() {
        Ok(secs) => OffsetDateTime::from_unix_timestamp(secs).ok()?,
        Err(_) => OffsetDateTime::parse(v, &Iso8601::DEFAULT).ok()?,
    };
    let d = at - now;
    Some(if d.is_positive() {
        // Round up: waking a fraction early only earns another 429.
        Duration::from_secs(d.whole_seconds() as u64 + u64::from(d.subsec_nanoseconds() > 0))
    } else {
        Duration::ZERO
    })
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
    use herald_core::OutboundError;
    use time::macros::datetime;

    #[test]
    fn classify_table() {
        use ErrorClass::*;
        let secs = Some(Duration::from_secs(7));
        let cases: &[(u16, &str, ErrorClass, &str, &str)] = &[
            (
                401,
                r#"{"error":"The access token is invalid"}"#,
                AuthRevoked,
                "auth_revoked",
                "The access token is invalid",
            ),
            (
                401,
                r#"{"error":"The access token was revoked"}"#,
                AuthRevoked,
                "auth_revoked",
                "The access token was revoked",
            ),
            (
                401,
                "",
                AuthRevoked,
                "auth_revoked",
                "the access token is invalid; the user must reconnect",
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
                r#"{"error":"invalid_request","error_description":"Missing param"}"#,
                Rejected,
                "invalid_request",
                "invalid_request: Missing param",
            ),
            (400, "<html>", Rejected, "http_400", "HTTP 400"),
            (
                403,
                r#"{"error":"This action is outside the authorized scopes"}"#,
                AuthRevoked,
                "auth_revoked",
                "This action is outside the authorized scopes",
            ),
            (
                403,
                r#"{"error":"Your login is currently disabled"}"#,
                AuthRevoked,
                "auth_revoked",
                "Your login is currently disabled",
            ),
            (
                403,
                r#"{"error":"Your login is missing a confirmed e-mail address"}"#,
                AuthRevoked,
                "auth_revoked",
                "Your login is missing a confirmed e-mail address",
            ),
            (
                403,
                r#"{"error":"This action is not allowed"}"#,
                Rejected,
                "forbidden",
                "This action is not allowed",
            ),
            (
                404,
                r#"{"error":"Record not found"}"#,
                Rejected,
                "not_found",
                "Record not found",
            ),
            (
                410,
                "",
                AuthRevoked,
                "auth_revoked",
                "the account or instance is gone (HTTP 410)",
            ),
            (
                422,
                r#"{"error":"Validation failed: Text can't be blank"}"#,
                Rejected,
                "blank",
                "Validation failed: Text can't be blank",
            ),
            (
                422,
                r#"{"error":"Validation failed: Text character limit of 500 exceeded"}"#,
                Rejected,
                "too_long",
                "Validation failed: Text character limit of 500 exceeded",
            ),
            (
                422,
                r#"{"error":"Validation failed: Text is too long (maximum is 500 characters)"}"#,
                Rejected,
                "too_long",
                "Validation failed: Text is too long (maximum is 500 characters)",
            ),
            (
                422,
                r#"{"error":"Validation failed: Poll is invalid"}"#,
                Rejected,
                "validation_failed",
                "Validation failed: Poll is invalid",
            ),
            (
                422,
                r#"{"error":"Cannot attach files that have not finished processing. Try again in a moment!"}"#,
                Transient,
                "transient",
                "Cannot attach files that have not finished processing. Try again in a moment!",
            ),
            (
                422,
                r#"{"error":"This method requires an authenticated user"}"#,
                AuthRevoked,
                "auth_revoked",
                "This method requires an authenticated user",
            ),
            (
                429,
                r#"{"error":"Too many requests"}"#,
                RateLimited,
                "rate_limited",
                "Too many requests",
            ),
            (
                503,
                "<html>down</html>",
                Transient,
                "transient",
                "the instance answered HTTP 503",
            ),
            (500, r#"{"error":"boom"}"#, Transient, "transient", "boom"),
            (
                408,
                "",
                Transient,
                "transient",
                "the instance answered HTTP 408",
            ),
            (
                301,
                "",
                Rejected,
                "http_301",
                "the instance redirected (HTTP 301); redirects are not followed",
            ),
            (418, "", Rejected, "http_418", "HTTP 418"),
        ];
        for (status, body, class, code, message) in cases {
            let e = classify(*status, secs, body);
            assert_eq!(e.class(), *class, "{status} {body}: {e:?}");
            assert_eq!(e.code(), *code, "{status} {body}: {e:?}");
            assert_eq!(e.message(), *message, "{status} {body}");
            assert_eq!(e.http_status(), Some(*status), "{status} {body}");
        }
        assert_eq!(
            classify(429, secs, ""),
            ProviderError::RateLimited {
                retry_after: secs,
                status: Some(429),
                message: "too many requests".into()
            }
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let body = format!(r#"{{"error":"{}"}}"#, "é".repeat(1000));
        let e = classify(422, None, &body);
        assert_eq!(e.message().chars().count(), MAX_MESSAGE + 1);
    }

    #[test]
    fn rate_limit_reset_iso_and_epoch() {
        let now = datetime!(2026-11-25 21:00:00 UTC);
        let p = |v: &str| parse_rate_limit_reset(v, now);
        assert_eq!(
            p("2026-11-25T21:05:00.000000Z"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(p("2026-11-25T21:00:30Z"), Some(Duration::from_secs(30)));
        // A fraction rounds up.
        assert_eq!(p("2026-11-25T21:00:30.2Z"), Some(Duration::from_secs(31)));
        assert_eq!(
            p("2026-11-25T22:00:30+01:00"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(p("2026-11-25T20:00:00Z"), Some(Duration::ZERO));
        let epoch = now.unix_timestamp() + 90;
        assert_eq!(p(&epoch.to_string()), Some(Duration::from_secs(90)));
        assert_eq!(p("soon"), None);
        assert_eq!(p(""), None);
    }

    #[test]
    fn retry_after_takes_the_later_header() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(5)));
        let later = (OffsetDateTime::now_utc() + time::Duration::seconds(120))
            .format(&Iso8601::DEFAULT)
            .unwrap();
        h.insert(RATE_LIMIT_RESET, later.parse().unwrap());
        let d = retry_after(&h).unwrap();
        assert!((119..=121).contains(&d.as_secs()), "{d:?}");
        h.remove(RETRY_AFTER);
        h.insert(RATE_LIMIT_RESET, "garbage".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn policy_refusals() {
        let e = refused(&OutboundError::Forbidden("10.0.0.1".parse().unwrap()));
        assert_eq!(
            (e.class(), e.code().as_str()),
            (ErrorClass::Rejected, "forbidden_address")
        );
        let e = refused(&OutboundError::Unresolved("x.invalid".into()));
        assert_eq!(e.class(), ErrorClass::Transient);
    }

    #[test]
    fn redact_hides_secrets() {
        let e = classify(400, None, r#"{"error":"bad code abc123 given"}"#);
        assert_eq!(redact(e, "abc123").message(), "bad code *** given");
        let e = ProviderError::Unknown {
            message: "m".into(),
        };
        assert_eq!(redact(e.clone(), ""), e);
    }
}
