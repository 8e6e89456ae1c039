//! Binding a connect flow to the browser that started it. `GET /connect/…`
//! sets a cookie of its own for each flow, named after a hash of the flow's
//! state (so flows in two tabs each keep theirs), with a value Herald always
//! generates (a value the browser brings is never adopted: no cookie
//! fixation), and stores the value's SHA-256 with the flow; the callback and
//! the app-password login must present it under the one name the public
//! URL's scheme allows (`__Host-` over HTTPS). This stops a link to somebody
//! else's started flow; it cannot stop a link to an unstarted one (the
//! victim's browser starts it), which is why the site redeems a connect code.

use crate::AppState;
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest;

/// Over HTTPS the `__Host-` prefix pins the cookie to Herald's host and path `/`.
const SECURE_PREFIX: &str = "__Host-herald_flow_";
const PLAIN_PREFIX: &str = "herald_flow_";

fn secure(state: &AppState) -> bool {
    state.config.public_url.scheme() == "https"
}

/// The flow cookie's name for `flow_state`: the scheme's prefix and the
/// first 16 hex digits of the state's SHA-256 (the state itself is never
/// put in a name).
pub fn name(secure: bool, flow_state: &str) -> String {
    let prefix = if secure { SECURE_PREFIX } else { PLAIN_PREFIX };
    let digest = hex::encode(sha2::Sha256::digest(flow_state.as_bytes()));
    format!("{prefix}{}", &digest[..16])
}

/// A new random cookie value.
pub fn fresh() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The flow's cookie as the browser sent it, only under the name the
/// scheme allows.
pub fn value_of(req: &HttpRequest, secure: bool, flow_state: &str) -> Option<String> {
    req.cookie(&name(secure, flow_state))
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 43 && URL_SAFE_NO_PAD.decode(v).is_ok())
}

/// What is stored with the flow: never the cookie itself.
pub fn hash(value: &str) -> String {
    hex::encode(sha2::Sha256::digest(value.as_bytes()))
}

/// The `Set-Cookie` for a flow: HttpOnly, SameSite=Lax (sent when the network
/// redirects the browser back), 10 minutes, Secure over HTTPS.
pub fn cookie(state: &AppState, flow_state: &str, value: &str) -> Cookie<'static> {
    Cookie::build(name(secure(state), flow_state), value.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .max_age(Duration::seconds(super::FLOW_TTL_SECS))
        .finish()
}

/// Clears a finished flow's cookie.
pub fn removal(state: &AppState, flow_state: &str) -> Cookie<'static> {
    let mut c = cookie(state, flow_state, "");
    c.make_removal();
    c
}

/// Whether the request comes from the browser the flow was started in.
pub fn matches(
    state: &AppState,
    req: &HttpRequest,
    row: &herald_store::entities::oauth_states::Model,
) -> bool {
    matches_in(req, secure(state), row)
}

fn matches_in(
    req: &HttpRequest,
    secure: bool,
    row: &herald_store::entities::oauth_states::Model,
) -> bool {
    match &row.browser_hash {
        Some(expected) => value_of(req, secure, &row.state).is_some_and(|v| hash(&v) == *expected),
        // Flows started before flows were bound.
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn flow(state: &str, value: &str) -> herald_store::entities::oauth_states::Model {
        herald_store::entities::oauth_states::Model {
            state: state.into(),
            app_id: "app".into(),
            uid: "ana".into(),
            provider: "x".into(),
            redirect_uri: "https://site.example/".into(),
            client_state: None,
            pkce_verifier_enc: None,
            expires_at: 0,
            used_at: None,
            created_at: 0,
            instance: None,
            browser_hash: Some(hash(value)),
            attempts: 0,
        }
    }

    #[test]
    fn fresh_values_are_well_formed_and_hashed() {
        let v = fresh();
        assert_eq!(v.len(), 43);
        assert_ne!(v, fresh());
        assert_eq!(hash(&v).len(), 64);
        assert_ne!(hash(&v), v);
    }

    #[test]
    fn each_flow_has_its_own_name_under_the_schemes_prefix() {
        let (a, b) = (name(true, "state-a"), name(true, "state-b"));
        assert!(
            a.starts_with("__Host-herald_flow_") && a.len() == 19 + 16,
            "{a}"
        );
        assert_ne!(a, b);
        assert!(!a.contains("state-a"));
        assert_eq!(name(false, "state-a"), a.trim_start_matches("__Host-"));
    }

    #[test]
    fn only_the_schemes_cookie_name_is_accepted() {
        let v = fresh();
        let f = flow("st", &v);
        for (secure, sent_as, ok) in [
            (true, name(true, "st"), true),
            (true, name(false, "st"), false),
            (false, name(false, "st"), true),
            (false, name(true, "st"), false),
            (false, name(false, "other-state"), false),
        ] {
            let req = TestRequest::default()
                .cookie(Cookie::new(sent_as.clone(), v.clone()))
                .to_http_request();
            assert_eq!(
                matches_in(&req, secure, &f),
                ok,
                "secure={secure} {sent_as}"
            );
        }
    }

    #[test]
    fn two_flows_in_one_browser_each_match_their_own_cookie() {
        let (va, vb) = (fresh(), fresh());
        let (fa, fb) = (flow("state-a", &va), flow("state-b", &vb));
        let req = TestRequest::default()
            .cookie(Cookie::new(name(false, "state-a"), va))
            .cookie(Cookie::new(name(false, "state-b"), vb))
            .to_http_request();
        assert!(matches_in(&req, false, &fa));
        assert!(matches_in(&req, false, &fb));
    }
}
