//! Maps X answers to [`ProviderError`] classes, in one pure function
//! ([`classify`]) so every status and body shape is table-tested.
//!
//! Sources: docs.x.com "Response codes and errors" (x-api/fundamentals/
//! response-codes-and-errors): v2 errors are RFC 7807 problem objects
//! `{"title", "detail", "type", "status"}`, sometimes with `errors[]`
//! (`{"message", "parameters"}`), typed by URIs such as
//! `…/2/problems/invalid-request`, `…/client-forbidden`, `…/usage-capped`,
//! `…/rate-limit-exceeded`, `about:blank` for generic ones; 429 is "rate
//! limit or usage cap exceeded", 5xx "wait and retry". docs.x.com "Rate
//! limits": `x-rate-limit-limit/-remaining/-reset`, reset in epoch seconds
//! (POST /2/tweets also reports a 24-hour window in
//! `x-user-limit-24hour-*` and `x-app-limit-24hour-*`). The token endpoint
//! answers OAuth errors `{"error", "error_description"}`; X refuses a spent
//! code or refresh token with 400 `invalid_request` "Value passed for the
//! authorization code/token was invalid." rather than `invalid_grant`.
//! Error texts observed from the API (duplicate, too long) are matched
//! loosely, since X does not give them codes.

use herald_core::ProviderError;
use herald_core::error::parse_retry_after;
pub use herald_core::error::{redact, redact_all};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;

/// Longest network message kept in an error.
const MAX_MESSAGE: usize = 300;

/// Rate-limit windows X reports, each as `<prefix>-remaining` and
/// `<prefix>-reset` (epoch seconds): the 15-minute endpoint window, then the
/// per-user and per-app 24-hour windows of POST /2/tweets.
pub const RATE_LIMIT_WINDOWS: [&str; 3] =
    ["x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"];

/// What an error body says, whichever shape it has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkError {
    /// Problem `title` ("Forbidden", "Invalid Request", "UsageCapExceeded").
    pub title: Option<String>,
    /// Problem `detail`: the sentence that explains.
    pub detail: Option<String>,
    /// Problem `type` URI.
    pub kind: Option<String>,
    /// `errors[].message`, joined (v2 parameter errors, v1.1-style bodies).
    pub messages: Vec<String>,
    /// OAuth `error` code (token and revoke endpoints).
    pub oauth_error: Option<String>,
    pub oauth_description: Option<String>,
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
        let messages = obj
            .get("errors")
            .and_then(Value::as_array)
            .map(|errs| errs.iter().filter_map(|e| text(e.get("message"))).collect())
            .unwrap_or_default();
        NetworkError {
            title: text(obj.get("title")),
            detail: text(obj.get("detail")),
            kind: text(obj.get("type")),
            messages,
            oauth_error: text(obj.get("error")),
            oauth_description: text(obj.get("error_description")),
        }
    }

    /// What a person should read.
    pub fn message(&self) -> Option<String> {
        if let Some(code) = &self.oauth_error {
            return Some(short(&match &self.oauth_description {
                Some(d) => format!("{code}: {d}"),
                None => code.clone(),
            }));
        }
        // A generic detail ("One or more parameters to your request was
        // invalid.") is less useful than the parameter messages under it.
        let mut parts: Vec<&str> = Vec::new();
        for p in self
            .detail
            .iter()
            .chain(self.messages.iter())
            .map(String::as_str)
        {
            if !parts.contains(&p) {
                parts.push(p);
            }
        }
        if parts.is_empty() {
            return self.title.as_deref().map(short);
        }
        Some(short(&parts.join(" — ")))
    }

    /// The last segment of the problem type URI (`invalid-request`), if it
    /// is not `about:blank`.
    pub fn problem(&self) -> Option<&str> {
        let k = self.kind.as_deref()?;
        k.contains("/problems/")
            .then(|| k.rsplit('/').next().unwrap_or(k))
    }

    /// Every text of the body, lower-cased, for matching.
    fn haystack(&self) -> String {
        [&self.title, &self.detail, &self.oauth_description]
            .into_iter()
            .flatten()
            .chain(self.messages.iter())
            .map(|s| s.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// A grant X no longer honours: `invalid_grant`, or X's own 400
/// `invalid_request` "Value passed for the authorization code was invalid."
/// / "Value passed for the token was invalid.".
pub fn is_dead_grant(net: &NetworkError) -> bool {
    match net.oauth_error.as_deref() {
        Some("invalid_grant") => true,
        Some("invalid_request") => net
            .oauth_description
            .as_deref()
            .is_some_and(|d| d.to_ascii_lowercase().contains("value passed for the")),
        _ => false,
    }
}

/// Classifies an answer whose status is not 2xx. `retry_after` is what
/// [`retry_after`] read from the headers.
///
/// - 401: X user tokens last two hours and X does not say why a token was
///   refused, so it is `AuthExpired`: the dispatcher refreshes once, and a
///   refresh that X refuses (revoked access) becomes `AuthRevoked` there.
/// - 400 dead grant (token endpoint, see [`is_dead_grant`]) → `AuthRevoked`;
///   other OAuth errors → `Rejected` with the OAuth code.
/// - Text too long (X answers 400 or 403) → `Rejected` `too_long`; 403
///   duplicate content → `Rejected` `duplicate`.
/// - 403 `client-forbidden` (the app is not enrolled in a project with
///   access) → `Rejected` `client_forbidden`: the operator must fix it;
///   `unsupported-authentication` or a suspended/locked account →
///   `AuthRevoked`; `usage-capped` → `RateLimited`; other 403s →
///   `Rejected` `forbidden`.
/// - 402 (pay-per-use credits depleted) → `Rejected` `payment_required`.
/// - 404 → `Rejected` `not_found`; 429 → `RateLimited` with the reset time;
///   408 and 5xx → `Transient`.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> ProviderError {
    let net = NetworkError::parse(body);
    let message = |default: &str| net.message().unwrap_or_else(|| default.to_owned());
    let text = net.haystack();
    let problem = net.problem();
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
    let limited = |default: &str| ProviderError::RateLimited {
        retry_after,
        status: s,
        message: message(default),
    };
    let too_long = text.contains("too long");
    match status {
        401 => ProviderError::AuthExpired {
            status: s,
            message: message("Unauthorized"),
        },
        400 if is_dead_grant(&net) => revoked("the grant is invalid or was revoked"),
        400 | 403 if too_long => rejected("too_long", "the text is too long"),
        400 => match (&net.oauth_error, problem) {
            (Some(code), _) => rejected(code, "HTTP 400"),
            (None, Some("invalid-request")) => rejected("invalid_request", "Invalid Request"),
            _ => rejected("http_400", "HTTP 400"),
        },
        402 => rejected("payment_required", "the X API account has no credits left"),
        403 if text.contains("duplicate") => rejected("duplicate", "duplicate content"),
        403 if problem == Some("usage-capped") => limited("usage cap exceeded"),
        403 if problem == Some("client-forbidden") => rejected(
            "client_forbidden",
            "the X app is not allowed to use this endpoint",
        ),
        403 if problem == Some("unsupported-authentication")
            || text.contains("suspended")
            || text.contains("locked") =>
        {
            revoked("the token cannot act for this account")
        }
        403 => rejected("forbidden", "Forbidden"),
        404 => rejected("not_found", "X answered 404 Not Found"),
        429 => limited("Too Many Requests"),
        408 | 500..=599 => ProviderError::Transient {
            status: s,
            message: message(&format!("X answered HTTP {status}")),
        },
        _ => rejected(&format!("http_{status}"), &format!("HTTP {status}")),
    }
}

/// How long to wait before trying again, from X's rate-limit headers: the
/// latest reset of an exhausted window (`…-remaining: 0`), else the
/// 15-minute window's reset; and `Retry-After` if it says longer.
pub fn retry_after(headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    let get = |name: String| headers.get(name).and_then(|v| v.to_str().ok());
    let reset =
        |prefix: &str| get(format!("{prefix}-reset")).and_then(|v| parse_rate_limit_reset(v, now));
    let exhausted = RATE_LIMIT_WINDOWS
        .iter()
        .filter(|w| get(format!("{w}-remaining")).is_some_and(|v| v.trim() == "0"))
        .filter_map(|w| reset(w))
        .max();
    let from_windows = exhausted.or_else(|| reset(RATE_LIMIT_WINDOWS[0]));
    let after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    from_windows.max(after)
}

/// The delay until an `x-rate-limit-reset` value (Unix epoch seconds),
/// measured from `now`; a time in the past is zero.
pub fn parse_rate_limit_reset(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let secs = value.trim().parse::<i64>().ok()?;
    let d = secs.saturating_sub(now.unix_timestamp());
    Some(Duration::from_secs(d.max(0) as u64))
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

    #[test]
    fn classify_table() {
        use ErrorClass::*;
        let secs = Some(Duration::from_secs(7));
        let cases: &[(u16, &str, ErrorClass, &str, &str)] = &[
            (
                401,
                r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#,
                AuthExpired,
                "auth_expired",
                "Unauthorized",
            ),
            (401, "", AuthExpired, "auth_expired", "Unauthorized"),
            (
                400,
                r#"{"error":"invalid_request","error_description":"Value passed for the authorization code was invalid."}"#,
                AuthRevoked,
                "auth_revoked",
                "invalid_request: Value passed for the authorization code was invalid.",
            ),
            (
                400,
                r#"{"error":"invalid_request","error_description":"Value passed for the token was invalid."}"#,
                AuthRevoked,
                "auth_revoked",
                "invalid_request: Value passed for the token was invalid.",
            ),
            (
                400,
                r#"{"error":"invalid_grant"}"#,
                AuthRevoked,
                "auth_revoked",
                "invalid_grant",
            ),
            (
                400,
                r#"{"error":"invalid_request","error_description":"Missing required parameter [code_verifier]."}"#,
                Rejected,
                "invalid_request",
                "invalid_request: Missing required parameter [code_verifier].",
            ),
            (
                400,
                r#"{"errors":[{"parameters":{"text":["x"]},"message":"Your Tweet text is too long. For more information on how Twitter determines text length see https://github.com/twitter/twitter-text."}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}"#,
                Rejected,
                "too_long",
                "One or more parameters to your request was invalid. — Your Tweet text is too long. For more information on how Twitter determines text length see https://github.com/twitter/twitter-text.",
            ),
            (
                403,
                r#"{"title":"Forbidden","detail":"Your Tweet text is too long.","status":403,"type":"about:blank"}"#,
                Rejected,
                "too_long",
                "Your Tweet text is too long.",
            ),
            (
                400,
                r#"{"errors":[{"parameters":{"reply_settings":["x"]},"message":"The `reply_settings` query parameter value [x] is not one of [following,mentionedUsers]"}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}"#,
                Rejected,
                "invalid_request",
                "One or more parameters to your request was invalid. — The `reply_settings` query parameter value [x] is not one of [following,mentionedUsers]",
            ),
            (400, "<html>", Rejected, "http_400", "HTTP 400"),
            (
                402,
                r#"{"account_id":1243608864848629761,"title":"CreditsDepleted","detail":"Your enrolled account [1243608864848629761] does not have any credits to fulfill this request.","type":"https://api.twitter.com/2/problems/credits"}"#,
                Rejected,
                "payment_required",
                "Your enrolled account [1243608864848629761] does not have any credits to fulfill this request.",
            ),
            (
                403,
                r#"{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}"#,
                Rejected,
                "duplicate",
                "You are not allowed to create a Tweet with duplicate content.",
            ),
            (
                403,
                r#"{"client_id":"123","detail":"When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project.","registration_url":"https://developer.twitter.com/","title":"Client Forbidden","required_enrollment":"Appropriate Level of API Access","reason":"client-not-enrolled","type":"https://api.twitter.com/2/problems/client-forbidden"}"#,
                Rejected,
                "client_forbidden",
                "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project.",
            ),
            (
                403,
                r#"{"title":"Unsupported Authentication","detail":"Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint. Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].","type":"https://api.twitter.com/2/problems/unsupported-authentication","status":403}"#,
                AuthRevoked,
                "auth_revoked",
                "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint. Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
            ),
            (
                403,
                r#"{"account_id":1,"product_name":"standard-basic","title":"UsageCapExceeded","period":"Monthly","scope":"Product","detail":"Usage cap exceeded: Monthly product cap","type":"https://api.twitter.com/2/problems/usage-capped"}"#,
                RateLimited,
                "rate_limited",
                "Usage cap exceeded: Monthly product cap",
            ),
            (
                403,
                r#"{"detail":"You are not permitted to perform this action.","type":"about:blank","title":"Forbidden","status":403}"#,
                Rejected,
                "forbidden",
                "You are not permitted to perform this action.",
            ),
            (403, "", Rejected, "forbidden", "Forbidden"),
            (
                404,
                r#"{"title":"Not Found Error","detail":"Could not find tweet with id: [1].","type":"https://api.twitter.com/2/problems/resource-not-found"}"#,
                Rejected,
                "not_found",
                "Could not find tweet with id: [1].",
            ),
            (
                429,
                r#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#,
                RateLimited,
                "rate_limited",
                "Too Many Requests",
            ),
            (
                429,
                r#"{"errors":[{"code":88,"message":"Rate limit exceeded"}]}"#,
                RateLimited,
                "rate_limited",
                "Rate limit exceeded",
            ),
            (
                503,
                r#"{"title":"Service Unavailable","detail":"Service Unavailable","type":"about:blank","status":503}"#,
                Transient,
                "transient",
                "Service Unavailable",
            ),
            (502, "<html>", Transient, "transient", "X answered HTTP 502"),
            (408, "", Transient, "transient", "X answered HTTP 408"),
            (409, "", Rejected, "http_409", "HTTP 409"),
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
                message: "Too Many Requests".into()
            }
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let body = format!(r#"{{"detail":"{}"}}"#, "é".repeat(1000));
        let e = classify(403, None, &body);
        assert_eq!(e.message().chars().count(), MAX_MESSAGE + 1);
    }

    #[test]
    fn rate_limit_reset_is_epoch_seconds() {
        let now = datetime!(2026-11-25 21:00:00 UTC);
        let at = now.unix_timestamp();
        let p = |v: &str| parse_rate_limit_reset(v, now);
        assert_eq!(p(&(at + 90).to_string()), Some(Duration::from_secs(90)));
        assert_eq!(p(&format!(" {} ", at + 1)), Some(Duration::from_secs(1)));
        assert_eq!(p(&(at - 30).to_string()), Some(Duration::ZERO));
        assert_eq!(p("2026-11-25T21:05:00Z"), None);
        assert_eq!(p(""), None);
    }

    #[test]
    fn retry_after_takes_the_exhausted_window() {
        let now = datetime!(2026-11-25 21:00:00 UTC);
        let at = now.unix_timestamp();
        let h = |pairs: &[(&'static str, String)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, v.parse().unwrap());
            }
            m
        };
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
        // Only the 15-minute window: its reset.
        let m = h(&[
            ("x-rate-limit-limit", "100".into()),
            ("x-rate-limit-remaining", "0".into()),
            ("x-rate-limit-reset", (at + 600).to_string()),
        ]);
        assert_eq!(retry_after(&m, now), Some(Duration::from_secs(600)));
        // The 24-hour user window ran out while the 15-minute one did not.
        let m = h(&[
            ("x-rate-limit-remaining", "97".into()),
            ("x-rate-limit-reset", (at + 600).to_string()),
            ("x-user-limit-24hour-remaining", "0".into()),
            ("x-user-limit-24hour-reset", (at + 36_000).to_string()),
            ("x-app-limit-24hour-remaining", "1200".into()),
            ("x-app-limit-24hour-reset", (at + 50_000).to_string()),
        ]);
        assert_eq!(retry_after(&m, now), Some(Duration::from_secs(36_000)));
        // No window says it is exhausted: the 15-minute reset.
        let m = h(&[
            ("x-rate-limit-remaining", "5".into()),
            ("x-rate-limit-reset", (at + 60).to_string()),
        ]);
        assert_eq!(retry_after(&m, now), Some(Duration::from_secs(60)));
        // Retry-After wins when it is later.
        let m = h(&[
            ("x-rate-limit-reset", (at + 60).to_string()),
            ("retry-after", "120".into()),
        ]);
        assert_eq!(retry_after(&m, now), Some(Duration::from_secs(120)));
        let m = h(&[("x-rate-limit-reset", "soon".into())]);
        assert_eq!(retry_after(&m, now), None);
    }

    #[test]
    fn redact_hides_secrets() {
        let e = classify(
            400,
            None,
            r#"{"error":"invalid_request","error_description":"bad abc123 and def456"}"#,
        );
        let e = redact_all(e, &["abc123", "def456"]);
        assert_eq!(e.message(), "invalid_request: bad *** and ***");
        let e = ProviderError::Unknown {
            message: "m".into(),
        };
        assert_eq!(redact(e.clone(), ""), e);
    }

    #[test]
    fn a_rate_limit_reset_from_a_hostile_server_does_not_overflow() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(
            parse_rate_limit_reset("-9223372036854775808", now),
            Some(Duration::ZERO)
        );
        assert!(parse_rate_limit_reset("9223372036854775807", now).is_some());
    }
}
