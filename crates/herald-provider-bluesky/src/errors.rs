//! Classifying Bluesky failures. XRPC errors are `{"error": <code>,
//! "message": <text>}` with an HTTP status; [`classify`] is the one pure
//! function that turns them into a [`ProviderError`] class, and [`send_error`]
//! maps requests that got no answer (including refusals by the SSRF-guarded
//! client, since a PDS address comes from a user).

use herald_core::ProviderError;
use herald_core::error::parse_retry_after;
pub use herald_core::error::{redact, refused, send_error};
use serde_json::Value;
use std::time::Duration;

/// Which token a call carried, which changes what an expired token means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// Repo writes with the access JWT: an expired one is refreshed.
    Access,
    /// `createSession`, `refreshSession`, `deleteSession`: an expired or
    /// revoked refresh JWT (or a refused password) means logging in again.
    Session,
}

/// What came back from the network, as far as classification needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    /// `Retry-After` (seconds or an HTTP date).
    pub retry_after: Option<String>,
    /// `RateLimit-Reset` (Unix seconds).
    pub ratelimit_reset: Option<String>,
}

/// The `error` code and `message` of an XRPC error body, when it is one.
pub fn error_body(body: &str) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return (None, None);
    };
    let text = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(300).collect::<String>())
    };
    (text("error"), text("message"))
}

/// How long to wait: `Retry-After`, else until `RateLimit-Reset`.
pub fn retry_delay(answer: &Answer, now_unix: i64) -> Option<Duration> {
    if let Some(d) = answer.retry_after.as_deref().and_then(parse_retry_after) {
        return Some(d);
    }
    let reset: i64 = answer.ratelimit_reset.as_deref()?.trim().parse().ok()?;
    Some(Duration::from_secs(
        reset.saturating_sub(now_unix).max(0) as u64
    ))
}

/// Classifies a non-2xx answer. `now_unix` is only used for `RateLimit-Reset`.
pub fn classify(answer: &Answer, call: Call, now_unix: i64) -> ProviderError {
    let status = Some(answer.status);
    let (code, message) = error_body(&answer.body);
    let text = match (&code, &message) {
        (Some(c), Some(m)) => format!("Bluesky answered {} {c}: {m}", answer.status),
        (Some(c), None) => format!("Bluesky answered {} {c}", answer.status),
        (None, Some(m)) => format!("Bluesky answered {}: {m}", answer.status),
        (None, None) => format!("Bluesky answered HTTP {}", answer.status),
    };
    let revoked = |message: String| ProviderError::AuthRevoked { status, message };
    match (answer.status, code.as_deref()) {
        (429, _) | (_, Some("RateLimitExceeded")) => ProviderError::RateLimited {
            retry_after: retry_delay(answer, now_unix),
            status,
            message: text,
        },
        (408 | 500..=599, _) => ProviderError::Transient {
            status,
            message: text,
        },
        (_, Some("ExpiredToken")) if call == Call::Access => ProviderError::AuthExpired {
            status,
            message: text,
        },
        // 401: AuthMissing, AuthenticationRequired (wrong password),
        // AccountTakedown, AuthFactorTokenRequired. 400 InvalidToken: a token
        // the PDS cannot verify (another PDS's, rotated secret, bad scope).
        // 400 ExpiredToken on a session call: the refresh JWT expired or was
        // revoked. 403 AccountNotFound: the account is gone from this PDS.
        (401, _)
        | (
            _,
            Some(
                "ExpiredToken" | "InvalidToken" | "AccountTakedown" | "AccountDeactivated"
                | "AccountNotFound",
            ),
        ) => revoked(match call {
            Call::Access => text,
            Call::Session => format!("{text}; the user must log in again"),
        }),
        _ => ProviderError::Rejected {
            status,
            code: code.unwrap_or_else(|| format!("http_{}", answer.status)),
            message: text,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::ErrorClass::{self, *};
    use herald_core::OutboundError;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: body.into(),
            ..Answer::default()
        }
    }

    fn class(status: u16, body: &str, call: Call) -> ErrorClass {
        classify(&answer(status, body), call, 0).class()
    }

    #[test]
    fn the_documented_answers() {
        let cases = [
            // (status, body, on an access call, on a session call)
            (
                401,
                r#"{"error":"AuthMissing","message":"Authentication Required"}"#,
                AuthRevoked,
                AuthRevoked,
            ),
            (
                401,
                r#"{"error":"AuthenticationRequired","message":"Invalid identifier or password"}"#,
                AuthRevoked,
                AuthRevoked,
            ),
            (
                400,
                r#"{"error":"ExpiredToken","message":"Token has expired"}"#,
                AuthExpired,
                AuthRevoked,
            ),
            (
                400,
                r#"{"error":"ExpiredToken","message":"Token has been revoked"}"#,
                AuthExpired,
                AuthRevoked,
            ),
            (
                400,
                r#"{"error":"InvalidToken","message":"Token could not be verified"}"#,
                AuthRevoked,
                AuthRevoked,
            ),
            (
                400,
                r#"{"error":"InvalidToken","message":"Bad token scope"}"#,
                AuthRevoked,
                AuthRevoked,
            ),
            (
                401,
                r#"{"error":"AccountTakedown","message":"Account has been taken down"}"#,
                AuthRevoked,
                AuthRevoked,
            ),
            (
                403,
                r#"{"error":"AccountNotFound","message":"Account not found"}"#,
                AuthRevoked,
                AuthRevoked,
            ),
            (
                429,
                r#"{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}"#,
                RateLimited,
                RateLimited,
            ),
            (
                500,
                r#"{"error":"InternalServerError","message":"Internal Server Error"}"#,
                Transient,
                Transient,
            ),
            (502, "<html>bad gateway</html>", Transient, Transient),
            (503, "", Transient, Transient),
            (408, "", Transient, Transient),
            (
                400,
                r#"{"error":"InvalidRequest","message":"Invalid app.bsky.feed.post record: grapheme too big (maximum 300, got 301) at $.record.text"}"#,
                Rejected,
                Rejected,
            ),
            (
                400,
                r#"{"error":"BlobNotFound","message":"Could not find blob"}"#,
                Rejected,
                Rejected,
            ),
            (
                413,
                r#"{"error":"PayloadTooLarge","message":"request entity too large"}"#,
                Rejected,
                Rejected,
            ),
            (404, "Not Found", Rejected, Rejected),
        ];
        for (status, body, access, session) in cases {
            assert_eq!(class(status, body, Call::Access), access, "{status} {body}");
            assert_eq!(
                class(status, body, Call::Session),
                session,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn rejections_carry_the_networks_code_and_message() {
        let e = classify(
            &answer(
                400,
                r#"{"error":"InvalidRequest","message":"Invalid TID string"}"#,
            ),
            Call::Access,
            0,
        );
        assert_eq!(e.code(), "InvalidRequest");
        assert_eq!(e.http_status(), Some(400));
        assert_eq!(
            e.message(),
            "Bluesky answered 400 InvalidRequest: Invalid TID string"
        );
        let e = classify(&answer(404, "<html>"), Call::Access, 0);
        assert_eq!(e.code(), "http_404");
        assert_eq!(e.message(), "Bluesky answered HTTP 404");
    }

    #[test]
    fn wrong_password_keeps_the_networks_message() {
        let e = classify(
            &answer(
                401,
                r#"{"error":"AuthenticationRequired","message":"Invalid identifier or password"}"#,
            ),
            Call::Session,
            0,
        );
        assert!(
            e.message().contains("Invalid identifier or password"),
            "{e}"
        );
        assert!(e.message().contains("log in again"), "{e}");
    }

    #[test]
    fn rate_limit_delay_from_retry_after_or_reset() {
        let mut a = answer(429, r#"{"error":"RateLimitExceeded"}"#);
        a.retry_after = Some("7".into());
        a.ratelimit_reset = Some("1000100".into());
        let delay = |a: &Answer| match classify(a, Call::Access, 1_000_000) {
            ProviderError::RateLimited { retry_after, .. } => retry_after,
            other => panic!("{other:?}"),
        };
        assert_eq!(delay(&a), Some(Duration::from_secs(7)));
        a.retry_after = None;
        assert_eq!(delay(&a), Some(Duration::from_secs(100)));
        a.ratelimit_reset = Some("999990".into());
        assert_eq!(delay(&a), Some(Duration::ZERO), "a reset in the past");
        a.ratelimit_reset = None;
        assert_eq!(delay(&a), None);
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_body(r#"{"error":"X","message":"m"}"#),
            (Some("X".into()), Some("m".into()))
        );
        assert_eq!(error_body(r#"{"error":""}"#), (None, None));
        assert_eq!(error_body("nope"), (None, None));
        assert_eq!(
            error_body(&format!(r#"{{"message":"{}"}}"#, "x".repeat(500)))
                .1
                .unwrap()
                .len(),
            300
        );
    }

    #[test]
    fn policy_refusals() {
        let e = refused(&OutboundError::Forbidden("10.0.0.1".parse().unwrap()));
        assert_eq!(
            (e.class(), e.code().as_str()),
            (Rejected, "forbidden_address")
        );
        assert_eq!(refused(&OutboundError::NoHost).code(), "forbidden_address");
        assert_eq!(
            refused(&OutboundError::Unresolved("pds.example".into())).class(),
            Transient
        );
    }

    #[test]
    fn redaction() {
        let e = classify(
            &answer(
                400,
                r#"{"error":"InvalidToken","message":"bad eyJtok here"}"#,
            ),
            Call::Access,
            0,
        );
        assert_eq!(
            redact(e, "eyJtok").message(),
            "Bluesky answered 400 InvalidToken: bad *** here"
        );
        let e = ProviderError::Unknown {
            message: "m".into(),
        };
        assert_eq!(redact(e.clone(), ""), e);
    }
}
