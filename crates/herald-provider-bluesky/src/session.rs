//! Sessions: logging in with an app password (`createSession`), rotating the
//! tokens (`refreshSession`, with the refresh JWT as bearer) and revoking them
//! (`deleteSession`). The access JWT's expiry is read from its payload without
//! verifying it — Herald only schedules refreshes by it; the PDS verifies.
//!
//! A session names the account's own PDS in its DID document; calls for the
//! account go there afterwards (`Credential::url`). That address comes from
//! the network, so it passes the outbound policy before it is stored.

use crate::errors::{Call, redact, refused};
use crate::xrpc;
use base64::Engine;
use herald_core::action::check_http_url;
use herald_core::provider::join_url;
use herald_core::{Credential, HttpCtx, PasswordLogin, ProviderError, Secret};
use serde_json::{Value, json};
use time::OffsetDateTime;
use url::Url;

pub const CREATE_SESSION: &str = "xrpc/com.atproto.server.createSession";
pub const REFRESH_SESSION: &str = "xrpc/com.atproto.server.refreshSession";
pub const DELETE_SESSION: &str = "xrpc/com.atproto.server.deleteSession";
/// The access JWT's lifetime at the PDS, assumed when its `exp` is unreadable.
pub const ACCESS_LIFETIME: time::Duration = time::Duration::hours(2);
/// The handle the PDS reports when an account's handle does not resolve.
const INVALID_HANDLE: &str = "handle.invalid";

/// The fields of a `createSession` / `refreshSession` answer Herald keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub access_jwt: String,
    pub refresh_jwt: String,
    pub did: String,
    pub handle: Option<String>,
    /// The `#atproto_pds` service endpoint of the DID document, if sent.
    pub pds: Option<String>,
}

impl Session {
    /// Reads a session answer; `None` when it lacks the tokens or the DID.
    pub fn parse(v: &Value) -> Option<Session> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        Some(Session {
            access_jwt: s("accessJwt")?.to_owned(),
            refresh_jwt: s("refreshJwt")?.to_owned(),
            did: s("did")?.to_owned(),
            handle: s("handle")
                .filter(|h| *h != INVALID_HANDLE)
                .map(str::to_owned),
            pds: v.get("didDoc").and_then(pds_endpoint),
        })
    }
}

/// The `serviceEndpoint` of a DID document's `#atproto_pds` service (its id
/// may be relative, `#atproto_pds`, or absolute, `did:…#atproto_pds`).
pub fn pds_endpoint(did_doc: &Value) -> Option<String> {
    did_doc
        .get("service")?
        .as_array()?
        .iter()
        .find(|s| {
            s.get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| id == "#atproto_pds" || id.ends_with("#atproto_pds"))
        })?
        .get("serviceEndpoint")?
        .as_str()
        .map(str::to_owned)
}

/// The `exp` claim of a JWT, read without verification.
pub fn jwt_expiry(jwt: &str) -> Option<OffsetDateTime> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let exp = serde_json::from_slice::<Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_i64()?;
    OffsetDateTime::from_unix_timestamp(exp).ok()
}

/// The credential for a session; `url` is the account's server.
pub fn credential(s: Session, url: String, now: OffsetDateTime) -> Credential {
    Credential {
        expires_at: Some(jwt_expiry(&s.access_jwt).unwrap_or(now + ACCESS_LIFETIME)),
        access_token: Some(Secret::new(s.access_jwt)),
        refresh_token: Some(Secret::new(s.refresh_jwt)),
        provider_uid: s.did,
        display_name: s.handle,
        url: Some(url),
        secret: None,
    }
}

fn same_server(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin() && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
}

/// Where the account's calls go: the session's PDS when it names one (checked
/// against the outbound policy unless it is the server the session came
/// from), else `base`.
pub async fn account_server(
    pds: Option<&str>,
    base: &Url,
    http: &HttpCtx,
) -> Result<String, ProviderError> {
    let Some(endpoint) = pds.and_then(|p| check_http_url(p).ok()) else {
        return Ok(base.to_string());
    };
    if !same_server(&endpoint, base) {
        http.policy
            .check_url(&endpoint)
            .await
            .map_err(|e| refused(&e))?;
    }
    Ok(pds.unwrap_or_default().to_owned())
}

fn no_session() -> ProviderError {
    ProviderError::Unknown {
        message: "Bluesky answered without a session (accessJwt, refreshJwt, did)".into(),
    }
}

/// `createSession` at the user's server (checked against the outbound policy
/// and called with the guarded client) or else at the provider's API base.
pub async fn login(login: &PasswordLogin, http: &HttpCtx) -> Result<Credential, ProviderError> {
    let (base, client) = match &login.service {
        Some(service) => {
            let url = check_http_url(service.as_str()).map_err(|m| ProviderError::Rejected {
                status: None,
                code: "invalid_url".into(),
                message: format!("service {m}"),
            })?;
            http.policy.check_url(&url).await.map_err(|e| refused(&e))?;
            (url, &http.guarded)
        }
        None => (http.api_base.clone(), &http.client),
    };
    let password = login.password.expose();
    let input = json!({"identifier": login.identifier.trim(), "password": password});
    let answer = xrpc::procedure(
        client,
        join_url(&base, CREATE_SESSION),
        None,
        Some(&input),
        Call::Session,
    )
    .await
    .map_err(|e| redact(e, password))?;
    let session = Session::parse(&answer).ok_or_else(no_session)?;
    let url = account_server(session.pds.as_deref(), &base, http).await?;
    Ok(credential(session, url, OffsetDateTime::now_utc()))
}

fn refresh_token(cred: &Credential) -> Option<&str> {
    cred.refresh_token
        .as_ref()
        .map(Secret::expose)
        .filter(|t| !t.is_empty())
}

/// `refreshSession` at the account's server: new access and refresh JWTs
/// (the PDS rotates the refresh JWT; the old one keeps working for a grace
/// period of two hours and yields the same new one, so a refresh whose answer
/// was lost can be repeated).
pub async fn refresh(cred: &Credential, http: &HttpCtx) -> Result<Credential, ProviderError> {
    let token = refresh_token(cred).ok_or_else(|| ProviderError::AuthRevoked {
        status: None,
        message: "the connection has no refresh token; the user must log in again".into(),
    })?;
    let answer = xrpc::procedure(
        &http.client,
        http.api_url(REFRESH_SESSION),
        Some(token),
        None,
        Call::Session,
    )
    .await?;
    let session = Session::parse(&answer).ok_or_else(no_session)?;
    let current = cred
        .url
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .unwrap_or_else(|| http.api_base.clone());
    // A migrated account names its new PDS here.
    let url = match session.pds.as_deref() {
        Some(_) => account_server(session.pds.as_deref(), &current, http).await?,
        None => cred.url.clone().unwrap_or_else(|| current.to_string()),
    };
    let fresh = credential(session, url, OffsetDateTime::now_utc());
    Ok(Credential {
        // The connection stays keyed by the DID it was created with.
        provider_uid: cred.provider_uid.clone(),
        display_name: fresh.display_name.clone().or(cred.display_name.clone()),
        ..fresh
    })
}

/// `deleteSession` with the refresh JWT. A token the PDS no longer accepts is
/// already revoked; without a refresh token there is nothing to revoke (an
/// access JWT cannot be revoked, it expires).
pub async fn revoke(cred: &Credential, http: &HttpCtx) -> Result<bool, ProviderError> {
    let Some(token) = refresh_token(cred) else {
        return Ok(false);
    };
    match xrpc::procedure(
        &http.client,
        http.api_url(DELETE_SESSION),
        Some(token),
        None,
        Call::Session,
    )
    .await
    {
        Ok(_) | Err(ProviderError::AuthRevoked { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.sig",
            b(r#"{"typ":"at+jwt","alg":"HS256"}"#),
            b(payload)
        )
    }

    #[test]
    fn expiry_from_the_unverified_payload() {
        let exp = jwt_expiry(&jwt(r#"{"scope":"com.atproto.appPass","exp":1795633969}"#));
        assert_eq!(exp.unwrap().unix_timestamp(), 1_795_633_969);
        assert_eq!(jwt_expiry(&jwt(r#"{"scope":"x"}"#)), None);
        assert_eq!(jwt_expiry("not-a-jwt"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
    }

    #[test]
    fn session_answers() {
        let v = json!({
            "accessJwt": jwt(r#"{"exp":100}"#), "refreshJwt": "r", "did": "did:plc:a",
            "handle": "alice.test",
            "didDoc": {"id": "did:plc:a", "service": [
                {"id": "#other", "type": "X", "serviceEndpoint": "https://other.example"},
                {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": "https://pds.example"}
            ]}
        });
        let s = Session::parse(&v).unwrap();
        assert_eq!(s.pds.as_deref(), Some("https://pds.example"));
        assert_eq!(s.handle.as_deref(), Some("alice.test"));
        let now = OffsetDateTime::from_unix_timestamp(0).unwrap();
        let c = credential(s, "https://pds.example".into(), now);
        assert_eq!(c.expires_at.unwrap().unix_timestamp(), 100);
        assert_eq!(c.provider_uid, "did:plc:a");
        assert_eq!(c.display_name.as_deref(), Some("alice.test"));
        assert_eq!(c.refresh_token.unwrap().expose(), "r");

        let v = json!({"accessJwt": "opaque", "refreshJwt": "r", "did": "did:plc:a", "handle": "handle.invalid",
            "didDoc": {"service": [{"id": "did:plc:a#atproto_pds", "serviceEndpoint": "https://p2.example"}]}});
        let s = Session::parse(&v).unwrap();
        assert_eq!(s.pds.as_deref(), Some("https://p2.example"));
        assert_eq!(s.handle, None);
        let c = credential(s, "u".into(), now);
        assert_eq!(c.expires_at, Some(now + ACCESS_LIFETIME));
        assert_eq!(Session::parse(&json!({"accessJwt": "a", "did": "d"})), None);
        assert_eq!(pds_endpoint(&json!({"service": "nope"})), None);
    }

    #[test]
    fn same_server_ignores_a_trailing_slash() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_server(
            &u("http://localhost:2583"),
            &u("http://localhost:2583/")
        ));
        assert!(!same_server(
            &u("http://localhost:2583"),
            &u("http://127.0.0.1:2583/")
        ));
        assert!(!same_server(
            &u("https://a.example/x"),
            &u("https://a.example/")
        ));
    }
}
