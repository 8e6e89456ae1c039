//! Maps Graph API answers to [`ProviderError`] classes, in one pure function
//! ([`classify`]) so every documented error is table-tested.
//!
//! Graph errors are `{"error":{"message","type","code","error_subcode",
//! "error_user_title","error_user_msg","fbtrace_id"}}` (Graph API, "Handling
//! Errors": developers.facebook.com/docs/graph-api/guides/error-handling). The
//! body's `code` decides, not the HTTP status: Facebook answers most errors
//! with 400 whatever their kind. Codes from that page and from "Rate Limits"
//! (developers.facebook.com/docs/graph-api/overview/rate-limiting):
//!
//! - 190 (access token invalid) and 102 (API session) → `AuthRevoked`, every
//!   subcode included — even 463 "expired": Herald stores Page tokens derived
//!   from a long-lived user token, which do not expire, so an expired or
//!   invalidated one (password changed 460, app removed 458, logged out 467,
//!   no role on the Page any more 492, checkpointed 459 …) cannot be renewed
//!   by a refresh; the user must reconnect. `AuthExpired` would only buy a
//!   refresh attempt that is bound to fail.
//! - 10 and 200–299 (permission not granted or removed) → `AuthRevoked`.
//! - 4 (app), 17 (user), 32 (Page), 613 (custom), 80001 (Pages business use
//!   case) throttling, 341 (application limit reached) and 368 (temporarily
//!   blocked for policy violations; the documented tactic is "wait and
//!   retry") → `RateLimited`, with the wait Facebook estimates in its usage
//!   headers ([`retry_after`]).
//! - 1 (unknown) and 2 (service) → `Transient` ("wait and retry").
//! - 506 (duplicate post) → `Rejected` `duplicate`; 1609005 (the link could
//!   not be scraped) → `Rejected` `invalid_link`; 100 (invalid parameter) →
//!   `Rejected` `invalid_parameter`; 3 (the app lacks the capability) →
//!   `Rejected` `app_capability`.
//! - Anything else: by HTTP status (401 → `AuthRevoked`, 429 → `RateLimited`,
//!   408/5xx → `Transient`, else `Rejected` `fb_<code>` or `http_<status>`).
//!
//! Facebook echoes a malformed token in its message ("Malformed access token
//! EAAB…"), so every caller passes its secrets through [`redact`].

use herald_core::ProviderError;
use herald_core::error::parse_retry_after;
pub use herald_core::error::{redact, redact_all};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;
use std::time::Duration;

/// Longest network message kept in an error.
const MAX_MESSAGE: usize = 300;
/// Platform rate-limit usage of the app (JSON object, percentages).
pub const APP_USAGE: &str = "x-app-usage";
/// Page-level usage (JSON object).
pub const PAGE_USAGE: &str = "x-page-usage";
/// Business-use-case usage, which applies to calls made with a Page token:
/// `{"<object id>":[{"type":"pages","call_count":…,
/// "estimated_time_to_regain_access":<minutes>}]}`.
pub const BUC_USAGE: &str = "x-business-use-case-usage";
/// The usage headers' field: minutes until calls are no longer throttled.
pub const REGAIN_ACCESS: &str = "estimated_time_to_regain_access";

/// The `error` object of a Graph answer (the fields Herald reads).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphError {
    pub message: Option<String>,
    /// `type`: `OAuthException`, `GraphMethodException`, …
    pub kind: Option<String>,
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    pub fbtrace_id: Option<String>,
    pub is_transient: Option<bool>,
}

impl GraphError {
    /// The error object of `body`, if it has one.
    pub fn parse(body: &str) -> Option<GraphError> {
        let v: Value = serde_json::from_str(body).ok()?;
        let e = v.get("error")?.as_object()?;
        let text = |k: &str| {
            e.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        // Codes are numbers; tolerate them as strings.
        let num = |k: &str| match e.get(k)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        Some(GraphError {
            message: text("message"),
            kind: text("type"),
            code: num("code"),
            subcode: num("error_subcode"),
            fbtrace_id: text("fbtrace_id"),
            is_transient: e.get("is_transient").and_then(Value::as_bool),
        })
    }

    /// What a person should read: Facebook's message with its code, subcode
    /// and trace id (what Facebook's support asks for).
    pub fn describe(&self, default: &str) -> String {
        let base = self.message.as_deref().map_or(default.to_owned(), short);
        let mut tail = Vec::new();
        if let Some(c) = self.code {
            tail.push(match self.subcode {
                Some(s) => format!("code {c}/{s}"),
                None => format!("code {c}"),
            });
        }
        if let Some(t) = &self.fbtrace_id {
            tail.push(format!("fbtrace_id {}", short(t)));
        }
        if tail.is_empty() {
            base
        } else {
            format!("{base} ({})", tail.join(", "))
        }
    }
}

/// Classifies an answer whose status is not 2xx (see the module docs).
/// `retry_after` is what [`retry_after`] read from the headers.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> ProviderError {
    let g = GraphError::parse(body);
    let s = Some(status);
    let message = |default: &str| match &g {
        Some(g) => g.describe(default),
        None => default.to_owned(),
    };
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
    let transient = |default: &str| ProviderError::Transient {
        status: s,
        message: message(default),
    };
    let code = g.as_ref().and_then(|g| g.code);
    match code {
        Some(190 | 102) => {
            return revoked("the Page access token is invalid; the user must reconnect");
        }
        Some(10 | 200..=299) => {
            return revoked("the app lacks a permission on the Page; the user must reconnect");
        }
        Some(4 | 17 | 32 | 613 | 80001 | 341 | 368) => return limited("too many calls"),
        Some(1 | 2) => return transient("Facebook had a temporary problem"),
        Some(506) => return rejected("duplicate", "duplicate post"),
        Some(1609005) => return rejected("invalid_link", "Facebook could not read the link"),
        Some(100) => return rejected("invalid_parameter", "invalid parameter"),
        Some(3) => return rejected("app_capability", "the app lacks the capability"),
        _ => {}
    }
    // An unlisted code, or no Graph error at all: judge by the HTTP status.
    let oauth = g
        .as_ref()
        .is_some_and(|g| g.kind.as_deref() == Some("OAuthException"));
    let flagged_transient = g.as_ref().and_then(|g| g.is_transient) == Some(true);
    match status {
        401 => revoked("the access token was refused; the user must reconnect"),
        // "OAuthException without a code or subcode: the token has expired,
        // been revoked, or is otherwise invalid".
        _ if oauth && code.is_none() && g.as_ref().is_some_and(|g| g.subcode.is_none()) => {
            revoked("the access token was refused; the user must reconnect")
        }
        429 => limited("too many requests"),
        408 | 500..=599 => transient(&format!("Facebook answered HTTP {status}")),
        _ if flagged_transient => transient(&format!("Facebook answered HTTP {status}")),
        300..=399 => rejected(
            &format!("http_{status}"),
            &format!("Facebook redirected (HTTP {status})"),
        ),
        _ => match code {
            Some(c) => rejected(&format!("fb_{c}"), &format!("HTTP {status}")),
            None => rejected(&format!("http_{status}"), &format!("HTTP {status}")),
        },
    }
}

/// Classifies a failed answer of `GET /oauth/access_token` (code exchange
/// and long-lived token exchange). There, code 100 means the code or token
/// handed in is unusable (used, expired, issued for another redirect URI):
/// the grant is dead, `AuthRevoked`. A refused app secret (code 1 "Error
/// validating client secret", 101 "Error validating application") is the
/// operator's configuration: `Rejected` `invalid_client`.
pub fn classify_token(status: u16, retry_after: Option<Duration>, body: &str) -> ProviderError {
    let Some(g) = GraphError::parse(body) else {
        return classify(status, retry_after, body);
    };
    let secret_refused = g
        .message
        .as_deref()
        .is_some_and(|m| m.to_ascii_lowercase().contains("client secret"));
    match g.code {
        Some(100) => ProviderError::AuthRevoked {
            status: Some(status),
            message: g.describe("the authorization code is invalid"),
        },
        Some(101) => invalid_client(status, &g),
        Some(1) if secret_refused => invalid_client(status, &g),
        _ => classify(status, retry_after, body),
    }
}

fn invalid_client(status: u16, g: &GraphError) -> ProviderError {
    ProviderError::Rejected {
        status: Some(status),
        code: "invalid_client".into(),
        message: g.describe("Facebook refused the app's id or secret"),
    }
}

/// How long to wait before calling again: the longest
/// `estimated_time_to_regain_access` (minutes) in the usage headers, else
/// `Retry-After`. `None` when no header names a wait.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let usage = [BUC_USAGE, PAGE_USAGE, APP_USAGE]
        .iter()
        .filter_map(|h| headers.get(*h)?.to_str().ok())
        .filter_map(regain_access)
        .max();
    usage.or_else(|| {
        headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after)
    })
}

/// The longest positive `estimated_time_to_regain_access` in one usage
/// header's JSON, wherever it sits (flat in `X-App-Usage`/`X-Page-Usage`,
/// per object and type in `X-Business-Use-Case-Usage`), as a duration.
/// Zero means "not throttled" and gives `None`, as does a broken header.
pub fn regain_access(value: &str) -> Option<Duration> {
    fn walk(v: &Value, best: &mut u64) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    if k == REGAIN_ACCESS {
                        let minutes = match x {
                            Value::Number(n) => n.as_u64().or_else(|| {
                                n.as_f64().filter(|f| *f > 0.0).map(|f| f.ceil() as u64)
                            }),
                            Value::String(s) => s.trim().parse().ok(),
                            _ => None,
                        };
                        *best = (*best).max(minutes.unwrap_or(0));
                    } else {
                        walk(x, best);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, best)),
            _ => {}
        }
    }
    let v: Value = serde_json::from_str(value).ok()?;
    let mut best = 0;
    walk(&v, &mut best);
    (best > 0).then(|| Duration::from_secs(best.saturating_mul(60)))
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

    fn body(code: i64, subcode: Option<i64>, kind: &str, message: &str) -> String {
        let mut e = serde_json::json!({
            "message": message, "type": kind, "code": code, "fbtrace_id": "AbC123"
        });
        if let Some(s) = subcode {
            e["error_subcode"] = s.into();
        }
        serde_json::json!({ "error": e }).to_string()
    }

    #[test]
    fn classify_every_documented_code() {
        use ErrorClass::*;
        let wait = Some(Duration::from_secs(600));
        // (status, code, subcode, type, message, class, code())
        type Case<'a> = (u16, i64, Option<i64>, &'a str, &'a str, ErrorClass, &'a str);
        let cases: &[Case] = &[
            (
                400,
                190,
                None,
                "OAuthException",
                "Invalid OAuth access token.",
                AuthRevoked,
                "auth_revoked",
            ),
            (
                400,
                190,
                Some(458),
                "OAuthException",
                "Error validating access token: The user has not authorized application 1.",
                AuthRevoked,
                "auth_revoked",
            ),
            (
                400,
                190,
                Some(459),
                "OAuthException",
                "Error validating access token: You cannot access the app till you log in to www.facebook.com and follow the instructions given.",
                AuthRevoked,
                "auth_revoked",
            ),
            (
                400,
                190,
                Some(460),
                "OAuthException",
                "Error validating access token: The session has been invalidated because the user changed their password.",
                AuthRevoked,
                "auth_revoked",
            ),
            (
                400,
                190,
                Some(463),
                "OAuthException",
                "Error validating access token: Session has expired on Tuesday, 24-Nov-26 10:00:00 PST.",
                AuthRevoked,
                "auth_revoked",
            ),
            (
                400,
                190,
                Some(464),
                "OAuthException",
                "Error validating access token: Sessions for the user are not allowed because the user is not a confirmed user.",
                AuthRevoked,
                "auth_revoked",
            ),
            (
                400,
                190,
                Some(467),
                "OAuthException",
                "Error validating access token: The user is enrolled in a blocking, logged-in checkpoint",
                AuthRevoked,
                "auth_revoked",
            ),
            (
                400,
                190,
                Some(492),
                "OAuthException",
                "Error validating access token: User does not have a role on the Page.",
                AuthRevoked,
                "auth_revoked",
            ),
            (
                400,
                102,
                None,
                "OAuthException",
                "Session key invalid or no longer valid",
                AuthRevoked,
                "auth_revoked",
            ),
            (
                403,
                10,
                None,
                "OAuthException",
                "(#10) Application does not have permission for this action",
                AuthRevoked,
                "auth_revoked",
            ),
            (
                403,
                200,
                None,
                "OAuthException",
                "(#200) The user hasn't authorized the application to perform this action",
                AuthRevoked,
                "auth_revoked",
            ),
            (
                403,
                299,
                None,
                "OAuthException",
                "(#299) Requires extended permission",
                AuthRevoked,
                "auth_revoked",
            ),
            (
                400,
                4,
                None,
                "OAuthException",
                "(#4) Application request limit reached",
                RateLimited,
                "rate_limited",
            ),
            (
                400,
                17,
                None,
                "OAuthException",
                "(#17) User request limit reached",
                RateLimited,
                "rate_limited",
            ),
            (
                400,
                32,
                None,
                "OAuthException",
                "(#32) Page request limit reached",
                RateLimited,
                "rate_limited",
            ),
            (
                400,
                613,
                None,
                "OAuthException",
                "(#613) Calls to this api have exceeded the rate limit.",
                RateLimited,
                "rate_limited",
            ),
            (
                400,
                80001,
                None,
                "OAuthException",
                "(#80001) There have been too many calls to this Page account.",
                RateLimited,
                "rate_limited",
            ),
            (
                400,
                341,
                None,
                "OAuthException",
                "(#341) Application limit reached",
                RateLimited,
                "rate_limited",
            ),
            (
                400,
                368,
                Some(1390008),
                "OAuthException",
                "It looks like you were misusing this feature by going too fast.",
                RateLimited,
                "rate_limited",
            ),
            (
                500,
                1,
                None,
                "OAuthException",
                "An unknown error occurred",
                Transient,
                "transient",
            ),
            (
                503,
                2,
                None,
                "OAuthException",
                "An unexpected error has occurred. Please retry your request later.",
                Transient,
                "transient",
            ),
            (
                400,
                506,
                None,
                "OAuthException",
                "(#506) Duplicate status message",
                Rejected,
                "duplicate",
            ),
            (
                400,
                1609005,
                None,
                "OAuthException",
                "Error Posting Link",
                Rejected,
                "invalid_link",
            ),
            (
                400,
                100,
                None,
                "OAuthException",
                "(#100) Invalid parameter",
                Rejected,
                "invalid_parameter",
            ),
            (
                400,
                3,
                None,
                "OAuthException",
                "(#3) Application does not have the capability to make this API call.",
                Rejected,
                "app_capability",
            ),
            (
                400,
                12,
                None,
                "GraphMethodException",
                "(#12) deprecated",
                Rejected,
                "fb_12",
            ),
            (
                500,
                12,
                None,
                "GraphMethodException",
                "(#12) deprecated",
                Transient,
                "transient",
            ),
            (
                401,
                999,
                Some(1),
                "OAuthException",
                "odd",
                AuthRevoked,
                "auth_revoked",
            ),
        ];
        for (status, code, subcode, kind, msg, class, short_code) in cases {
            let b = body(*code, *subcode, kind, msg);
            let e = classify(*status, wait, &b);
            assert_eq!(e.class(), *class, "{status} {b}: {e:?}");
            assert_eq!(e.code(), *short_code, "{status} {b}");
            assert_eq!(e.http_status(), Some(*status), "{b}");
            let want = match subcode {
                Some(s) => format!("{msg} (code {code}/{s}, fbtrace_id AbC123)"),
                None => format!("{msg} (code {code}, fbtrace_id AbC123)"),
            };
            assert_eq!(e.message(), want, "{b}");
            if *class == RateLimited {
                assert!(
                    matches!(e, ProviderError::RateLimited { retry_after, .. } if retry_after == wait)
                );
            }
        }
    }

    #[test]
    fn classify_without_a_graph_error() {
        use ErrorClass::*;
        let cases: &[(u16, &str, ErrorClass, &str, &str)] = &[
            (
                401,
                "",
                AuthRevoked,
                "auth_revoked",
                "the access token was refused; the user must reconnect",
            ),
            (429, "", RateLimited, "rate_limited", "too many requests"),
            (
                500,
                "<html>",
                Transient,
                "transient",
                "Facebook answered HTTP 500",
            ),
            (
                502,
                "",
                Transient,
                "transient",
                "Facebook answered HTTP 502",
            ),
            (
                408,
                "",
                Transient,
                "transient",
                "Facebook answered HTTP 408",
            ),
            (
                302,
                "",
                Rejected,
                "http_302",
                "Facebook redirected (HTTP 302)",
            ),
            (404, "not json", Rejected, "http_404", "HTTP 404"),
        ];
        for (status, b, class, code, msg) in cases {
            let e = classify(*status, None, b);
            assert_eq!(
                (e.class(), e.code().as_str(), e.message()),
                (*class, *code, *msg),
                "{status} {b}"
            );
        }
        // An OAuthException with neither code nor subcode: the token is dead.
        let e = classify(
            400,
            None,
            r#"{"error":{"message":"An active access token must be used to query information about the current user.","type":"OAuthException"}}"#,
        );
        assert_eq!(e.class(), AuthRevoked);
        // An unlisted code Facebook flags as transient.
        let e = classify(
            400,
            None,
            r#"{"error":{"message":"Please retry","type":"OAuthException","code":9007,"is_transient":true}}"#,
        );
        assert_eq!(e.class(), Transient);
    }

    #[test]
    fn token_endpoint_errors() {
        let used = body(
            100,
            Some(36009),
            "OAuthException",
            "This authorization code has been used.",
        );
        let e = classify_token(400, None, &used);
        assert_eq!(e.class(), ErrorClass::AuthRevoked);
        assert_eq!(
            e.message(),
            "This authorization code has been used. (code 100/36009, fbtrace_id AbC123)"
        );
        let secret = body(1, None, "OAuthException", "Error validating client secret.");
        assert_eq!(classify_token(400, None, &secret).code(), "invalid_client");
        let app = body(
            101,
            None,
            "OAuthException",
            "Error validating application. Invalid application ID.",
        );
        assert_eq!(classify_token(400, None, &app).code(), "invalid_client");
        // Code 1 for anything else stays transient; no JSON falls back.
        let unknown = body(1, None, "OAuthException", "An unknown error has occurred.");
        assert_eq!(
            classify_token(500, None, &unknown).class(),
            ErrorClass::Transient
        );
        assert_eq!(classify_token(503, None, "").class(), ErrorClass::Transient);
    }

    #[test]
    fn usage_headers_give_the_wait() {
        assert_eq!(
            regain_access(
                r#"{"112130216863063":[{"type":"pages","call_count":100,"total_cputime":10,"total_time":12,"estimated_time_to_regain_access":19}]}"#
            ),
            Some(Duration::from_secs(19 * 60))
        );
        // Several objects and types: the longest wait.
        assert_eq!(
            regain_access(
                r#"{"1":[{"type":"pages","estimated_time_to_regain_access":3}],"2":[{"type":"pages","estimated_time_to_regain_access":7},{"type":"messenger","estimated_time_to_regain_access":0}]}"#
            ),
            Some(Duration::from_secs(7 * 60))
        );
        assert_eq!(
            regain_access(
                r#"{"call_count":100,"total_cputime":5,"total_time":5,"estimated_time_to_regain_access":2}"#
            ),
            Some(Duration::from_secs(120))
        );
        // Percentages alone, zero, or garbage: no wait named.
        assert_eq!(
            regain_access(r#"{"call_count":28,"total_time":25,"total_cputime":25}"#),
            None
        );
        assert_eq!(
            regain_access(r#"{"1":[{"estimated_time_to_regain_access":0}]}"#),
            None
        );
        assert_eq!(regain_access("{broken"), None);

        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "30".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
        h.insert(APP_USAGE, r#"{"call_count":100}"#.parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
        h.insert(
            BUC_USAGE,
            r#"{"9":[{"type":"pages","estimated_time_to_regain_access":5}]}"#
                .parse()
                .unwrap(),
        );
        h.insert(
            PAGE_USAGE,
            r#"{"estimated_time_to_regain_access":2}"#.parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(300)));
    }

    #[test]
    fn long_messages_are_cut_and_secrets_redacted() {
        let b = body(100, None, "OAuthException", &"é".repeat(1000));
        let e = classify(400, None, &b);
        assert!(
            e.message()
                .starts_with(&format!("{}…", "é".repeat(MAX_MESSAGE)))
        );
        let b = body(
            190,
            None,
            "OAuthException",
            "Malformed access token EAABsecret123",
        );
        let e = redact_all(classify(400, None, &b), &["EAABsecret123", ""]);
        assert_eq!(
            e.message(),
            "Malformed access token *** (code 190, fbtrace_id AbC123)"
        );
    }
}
