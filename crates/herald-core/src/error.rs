//! Error types shared across crates. `ProviderError` is a classification the
//! dispatcher acts on (retry, refresh, give up), never a bare string.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One problem with one input field; `field` is a dotted path such as
/// `action.media_items[0].src`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every problem found in one input, so a client can fix them all at once.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was pushed.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// Prefixes every field path, e.g. `title` → `action.title`.
    pub fn nest(mut self, prefix: &str) -> Self {
        for e in &mut self.0 {
            e.field = format!("{prefix}.{}", e.field);
        }
        self
    }
}

/// Why an action cannot be rendered for a network.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Unsupported(String),
}

/// The class of a provider failure, as stored on a delivery attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    RateLimited,
    Transient,
    Unknown,
    AuthExpired,
    AuthRevoked,
    Rejected,
    Unsupported,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Transient => "transient",
            ErrorClass::Unknown => "unknown",
            ErrorClass::AuthExpired => "auth_expired",
            ErrorClass::AuthRevoked => "auth_revoked",
            ErrorClass::Rejected => "rejected",
            ErrorClass::Unsupported => "unsupported",
        }
    }
}

/// A provider call's failure, classified. Providers map their network's status
/// codes, bodies and headers into these; the dispatcher alone decides what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Slow down; try again after `retry_after` when the network said so.
    #[error("rate limited: {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        status: Option<u16>,
        message: String,
    },
    /// Failed before the network could have acted (5xx, connect error): safe to retry.
    #[error("transient failure: {message}")]
    Transient {
        status: Option<u16>,
        message: String,
    },
    /// The request left but no answer came: the post may or may not exist.
    #[error("outcome unknown: {message}")]
    Unknown { message: String },
    /// The access token expired: refresh it, then retry once.
    #[error("access token expired: {message}")]
    AuthExpired {
        status: Option<u16>,
        message: String,
    },
    /// The user revoked access or the credential is unusable: needs re-authorization.
    #[error("access revoked: {message}")]
    AuthRevoked {
        status: Option<u16>,
        message: String,
    },
    /// The network refused this post for good (too long, duplicate, invalid media).
    #[error("rejected ({code}): {message}")]
    Rejected {
        status: Option<u16>,
        code: String,
        message: String,
    },
    /// The network or this provider cannot do what was asked.
    #[error("unsupported: {message}")]
    Unsupported { message: String },
}

impl ProviderError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ProviderError::RateLimited { .. } => ErrorClass::RateLimited,
            ProviderError::Transient { .. } => ErrorClass::Transient,
            ProviderError::Unknown { .. } => ErrorClass::Unknown,
            ProviderError::AuthExpired { .. } => ErrorClass::AuthExpired,
            ProviderError::AuthRevoked { .. } => ErrorClass::AuthRevoked,
            ProviderError::Rejected { .. } => ErrorClass::Rejected,
            ProviderError::Unsupported { .. } => ErrorClass::Unsupported,
        }
    }

    /// The network's HTTP status, when an answer came.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ProviderError::RateLimited { status, .. }
            | ProviderError::Transient { status, .. }
            | ProviderError::AuthExpired { status, .. }
            | ProviderError::AuthRevoked { status, .. }
            | ProviderError::Rejected { status, .. } => *status,
            ProviderError::Unknown { .. } | ProviderError::Unsupported { .. } => None,
        }
    }

    /// A short machine-readable code: the network's own code for rejections,
    /// otherwise the class name.
    pub fn code(&self) -> String {
        match self {
            ProviderError::Rejected { code, .. } => code.clone(),
            other => other.class().as_str().to_owned(),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ProviderError::RateLimited { message, .. }
            | ProviderError::Transient { message, .. }
            | ProviderError::Unknown { message }
            | ProviderError::AuthExpired { message, .. }
            | ProviderError::AuthRevoked { message, .. }
            | ProviderError::Rejected { message, .. }
            | ProviderError::Unsupported { message } => message,
        }
    }

    /// Maps a reqwest failure: a connect error never reached the network
    /// (`Transient`); a timeout or broken connection after the request was
    /// written may have (`Unknown`).
    pub fn from_reqwest(err: &reqwest::Error) -> ProviderError {
        if err.is_connect() || err.is_builder() {
            ProviderError::Transient {
                status: None,
                message: format!("could not reach the network: {}", without_url(err)),
            }
        } else {
            ProviderError::Unknown {
                message: format!("no answer after the request was sent: {}", without_url(err)),
            }
        }
    }
}

/// Maps a send failure. A refusal by the guarded client's resolver (a name
/// that resolves, or re-binds, to a private address) is a policy refusal
/// ([`refused`]); anything else is [`ProviderError::from_reqwest`].
pub fn send_error(err: &reqwest::Error) -> ProviderError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(o) = e.downcast_ref::<crate::outbound::OutboundError>() {
            return refused(o);
        }
        source = e.source();
    }
    ProviderError::from_reqwest(err)
}

/// An outbound-policy refusal: a forbidden or host-less address is refused
/// for good (`Rejected forbidden_address`); a name that does not resolve may
/// resolve later (`Transient`).
pub fn refused(err: &crate::outbound::OutboundError) -> ProviderError {
    use crate::outbound::OutboundError;
    match err {
        OutboundError::Unresolved(_) => ProviderError::Transient {
            status: None,
            message: err.to_string(),
        },
        OutboundError::Forbidden(_) | OutboundError::NoHost => ProviderError::Rejected {
            status: None,
            code: "forbidden_address".into(),
            message: err.to_string(),
        },
    }
}

/// Replaces `secret` in the error's message with `***` (a token or code a
/// network echoed must not reach the delivery log). Secrets shorter than 8
/// characters are replaced only where they are not part of a longer word, so
/// a short token such as `tok` does not mangle the word "token".
pub fn redact(err: ProviderError, secret: &str) -> ProviderError {
    if secret.is_empty() || !err.message().contains(secret) {
        return err;
    }
    let clean = |m: String| {
        if secret.chars().count() >= 8 {
            m.replace(secret, "***")
        } else {
            replace_standalone(&m, secret)
        }
    };
    match err {
        ProviderError::RateLimited {
            retry_after,
            status,
            message,
        } => ProviderError::RateLimited {
            retry_after,
            status,
            message: clean(message),
        },
        ProviderError::Transient { status, message } => ProviderError::Transient {
            status,
            message: clean(message),
        },
        ProviderError::Unknown { message } => ProviderError::Unknown {
            message: clean(message),
        },
        ProviderError::AuthExpired { status, message } => ProviderError::AuthExpired {
            status,
            message: clean(message),
        },
        ProviderError::AuthRevoked { status, message } => ProviderError::AuthRevoked {
            status,
            message: clean(message),
        },
        ProviderError::Rejected {
            status,
            code,
            message,
        } => ProviderError::Rejected {
            status,
            code,
            message: clean(message),
        },
        ProviderError::Unsupported { message } => ProviderError::Unsupported {
            message: clean(message),
        },
    }
}

/// Replaces `needle` where it is not part of a longer word.
fn replace_standalone(text: &str, needle: &str) -> String {
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(needle) {
        let before = rest[..i].chars().last().or_else(|| out.chars().last());
        let after = rest[i + needle.len()..].chars().next();
        out.push_str(&rest[..i]);
        if word(before) || word(after) {
            out.push_str(needle);
        } else {
            out.push_str("***");
        }
        rest = &rest[i + needle.len()..];
    }
    out.push_str(rest);
    out
}

/// [`redact`] for several secrets.
pub fn redact_all(err: ProviderError, secrets: &[&str]) -> ProviderError {
    secrets.iter().fold(err, |e, s| redact(e, s))
}

/// reqwest errors print the URL, which may carry a token in its query; drop it.
fn without_url(err: &reqwest::Error) -> String {
    let mut e = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(err);
    let mut first = true;
    while let Some(s) = source {
        let text = if first {
            if err.is_timeout() {
                "operation timed out".to_owned()
            } else if err.is_connect() {
                "connection failed".to_owned()
            } else {
                "request failed".to_owned()
            }
        } else {
            s.to_string()
        };
        if !e.is_empty() {
            e.push_str(": ");
        }
        e.push_str(&text);
        first = false;
        source = s.source();
    }
    e
}

/// Parses a `Retry-After` header value: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(v, &fmt).ok()?.assume_utc();
    let now = time::OffsetDateTime::now_utc();
    let d = at - now;
    Some(if d.is_positive() {
        Duration::from_secs(d.whole_seconds() as u64)
    } else {
        Duration::ZERO
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_every_occurrence_in_every_class() {
        let e = ProviderError::Rejected {
            status: Some(400),
            code: "invalid_grant".into(),
            message: "code abc123 (abc123) refused, secret s3 too".into(),
        };
        let e = redact_all(e, &["abc123", "s3", ""]);
        assert_eq!(e.message(), "code *** (***) refused, secret *** too");
        assert_eq!(
            (e.code().as_str(), e.http_status()),
            ("invalid_grant", Some(400))
        );
        let e = redact(
            ProviderError::Unknown {
                message: "tok".into(),
            },
            "tok",
        );
        assert_eq!(e.message(), "***");
        assert_eq!(e.class(), ErrorClass::Unknown);
    }

    #[test]
    fn policy_refusals_are_rejected_unless_the_name_may_resolve_later() {
        use crate::outbound::OutboundError;
        let e = refused(&OutboundError::Forbidden("10.0.0.1".parse().unwrap()));
        assert_eq!(
            (e.class(), e.code().as_str()),
            (ErrorClass::Rejected, "forbidden_address")
        );
        assert_eq!(refused(&OutboundError::NoHost).code(), "forbidden_address");
        assert_eq!(
            refused(&OutboundError::Unresolved("x.invalid".into())).class(),
            ErrorClass::Transient
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn validation_errors_nest_and_render() {
        let mut e = ValidationErrors::default();
        e.push("title", "too long");
        let e = e.nest("action");
        assert_eq!(e.0[0].field, "action.title");
        assert_eq!(e.to_string(), "invalid input: action.title: too long");
    }

    #[test]
    fn rejected_code_is_the_networks() {
        let e = ProviderError::Rejected {
            status: Some(400),
            code: "too_long".into(),
            message: "m".into(),
        };
        assert_eq!(e.code(), "too_long");
        assert_eq!(e.class(), ErrorClass::Rejected);
        assert_eq!(e.http_status(), Some(400));
    }
}
