//! Pieces every OAuth 2.0 authorization-code flow shares (RFC 6749 §4.1):
//! reading the callback (a refusal, or the code) and the app's client
//! credentials from the provider settings. Providers keep what differs: their
//! endpoints, how they send the credentials, and their answers.

use crate::error::ProviderError;
use crate::provider::ProviderSettings;
use crate::secret::Secret;
use std::collections::BTreeMap;

/// Why the user refused consent, if the callback says so: RFC 6749's `error`
/// and `error_description`, and Facebook's `error_reason` (which may come
/// alone). Capped at 300 characters.
pub fn denied(query: &BTreeMap<String, String>) -> Option<String> {
    let get = |k: &str| query.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
    let error = get("error").or_else(|| get("error_reason"))?;
    let mut parts = vec![error];
    if let Some(reason) = get("error_reason").filter(|r| *r != error) {
        parts.push(reason);
    }
    if let Some(d) = get("error_description") {
        parts.push(d);
    }
    Some(parts.join(": ").chars().take(300).collect())
}

/// The refusal as the error a connect flow reports (`access_denied`).
pub fn refused(reason: &str) -> ProviderError {
    ProviderError::AuthRevoked {
        status: None,
        message: format!("the user did not grant access: {reason}"),
    }
}

/// The callback's authorization code: a refusal first, then the code.
pub fn callback_code(query: &BTreeMap<String, String>) -> Result<&str, ProviderError> {
    if let Some(reason) = denied(query) {
        return Err(refused(&reason));
    }
    query
        .get("code")
        .map(String::as_str)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ProviderError::Rejected {
            status: None,
            code: "missing_code".into(),
            message: "the callback has no code".into(),
        })
}

/// The app's client id and secret; `Unsupported` (naming `what`) when either
/// is missing, since no flow or refresh can work without them.
pub fn client_credentials<'a>(
    settings: &'a ProviderSettings,
    what: &str,
) -> Result<(&'a str, &'a str), ProviderError> {
    let id = settings
        .client_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let secret = settings
        .client_secret
        .as_ref()
        .map(Secret::expose)
        .filter(|s| !s.is_empty());
    match (id, secret) {
        (Some(id), Some(secret)) => Ok((id, secret)),
        _ => Err(ProviderError::Unsupported {
            message: format!("{what} (client_id/client_secret missing)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorClass;

    fn q(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn denial_reasons() {
        // RFC 6749 (Mastodon, X, LinkedIn).
        assert_eq!(
            denied(&q(&[
                ("error", "access_denied"),
                (
                    "error_description",
                    "The resource owner or authorization server denied the request."
                )
            ]))
            .as_deref(),
            Some("access_denied: The resource owner or authorization server denied the request.")
        );
        assert_eq!(
            denied(&q(&[("error", "access_denied"), ("state", "s")])).as_deref(),
            Some("access_denied")
        );
        assert_eq!(
            denied(&q(&[
                ("error", "user_cancelled_authorize"),
                ("error_description", "The user cancelled the authorization"),
                ("state", "s"),
            ]))
            .as_deref(),
            Some("user_cancelled_authorize: The user cancelled the authorization")
        );
        // Facebook.
        assert_eq!(
            denied(&q(&[
                ("error_reason", "user_denied"),
                ("error", "access_denied"),
                ("error_description", "Permissions error."),
                ("state", "s"),
            ]))
            .as_deref(),
            Some("access_denied: user_denied: Permissions error.")
        );
        assert_eq!(
            denied(&q(&[("error_reason", "user_denied")])).as_deref(),
            Some("user_denied")
        );
        // Not a refusal.
        assert_eq!(denied(&q(&[("code", "c"), ("state", "s")])), None);
        assert_eq!(denied(&q(&[("error", " ")])), None);
        assert_eq!(
            denied(&q(&[("error", &"x".repeat(400))])).map(|s| s.len()),
            Some(300)
        );
    }

    #[test]
    fn the_code_or_why_not() {
        assert_eq!(
            callback_code(&q(&[("code", "c-1"), ("state", "s")])).unwrap(),
            "c-1"
        );
        let e = callback_code(&q(&[("error", "access_denied"), ("code", "c")])).unwrap_err();
        assert_eq!(e.class(), ErrorClass::AuthRevoked);
        assert_eq!(e.message(), "the user did not grant access: access_denied");
        for missing in [q(&[("state", "s")]), q(&[("code", "")])] {
            assert_eq!(callback_code(&missing).unwrap_err().code(), "missing_code");
        }
    }

    #[test]
    fn client_credentials_need_both_halves() {
        let mut s = ProviderSettings {
            client_id: Some(" id-1 ".into()),
            client_secret: Some(Secret::new("s3cr3t-value")),
            ..Default::default()
        };
        assert_eq!(
            client_credentials(&s, "x").unwrap(),
            ("id-1", "s3cr3t-value")
        );
        s.client_id = Some(" ".into());
        assert!(client_credentials(&s, "x").is_err());
        s.client_id = Some("id-1".into());
        s.client_secret = Some(Secret::new(""));
        let e = client_credentials(&s, "the app has no X client").unwrap_err();
        assert_eq!(e.class(), ErrorClass::Unsupported);
        assert!(e.message().starts_with("the app has no X client"));
        assert!(!e.message().contains("s3cr3t"));
    }
}
