//! Binding a connect flow to the browser that started it. `GET /connect/…`
//! sets a random cookie (reused when the browser already has one, so flows in
//! two tabs both work) and stores its SHA-256 with the flow; the callback and
//! the app-password login must present it. Without this, somebody could mint
//! a connect token for their own uid, send the link to a victim, and have the
//! victim's network account connected to their uid.

use crate::AppState;
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest;

/// Over HTTPS the `__Host-` prefix pins the cookie to Herald's host and path `/`.
const SECURE_NAME: &str = "__Host-herald_flow";
const PLAIN_NAME: &str = "herald_flow";

fn name(state: &AppState) -> &'static str {
    if state.config.public_url.scheme() == "https" {
        SECURE_NAME
    } else {
        PLAIN_NAME
    }
}

/// A new random cookie value.
pub fn fresh() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The browser's flow cookie, when it sent a well-formed one.
pub fn value_of(req: &HttpRequest) -> Option<String> {
    [SECURE_NAME, PLAIN_NAME]
        .iter()
        .filter_map(|n| req.cookie(n))
        .map(|c| c.value().to_owned())
        .find(|v| v.len() == 43 && URL_SAFE_NO_PAD.decode(v).is_ok())
}

/// What is stored with the flow: never the cookie itself.
pub fn hash(value: &str) -> String {
    hex::encode(sha2::Sha256::digest(value.as_bytes()))
}

/// The `Set-Cookie` for a flow: HttpOnly, SameSite=Lax (sent when the network
/// redirects the browser back), 10 minutes, Secure over HTTPS.
pub fn cookie(state: &AppState, value: &str) -> Cookie<'static> {
    Cookie::build(name(state), value.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.public_url.scheme() == "https")
        .max_age(Duration::seconds(super::FLOW_TTL_SECS))
        .finish()
}

/// Whether the request comes from the browser the flow was started in.
pub fn matches(req: &HttpRequest, row: &herald_store::entities::oauth_states::Model) -> bool {
    match &row.browser_hash {
        Some(expected) => value_of(req).is_some_and(|v| hash(&v) == *expected),
        // Flows started before flows were bound.
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_values_are_well_formed_and_hashed() {
        let v = fresh();
        assert_eq!(v.len(), 43);
        assert_ne!(v, fresh());
        assert_eq!(hash(&v).len(), 64);
        assert_ne!(hash(&v), v);
    }
}
