//! Wire tests of the connect flow against a wiremock server: each mock answers
//! only a token request whose method, path, content type and every form field
//! are exactly what Windows Live expects, and `.expect(n)` makes the server
//! check how often it was called.

use herald_core::provider::http_clients;
use herald_core::{
    CallbackParams, Credential, ErrorClass, HttpCtx, OutboundPolicy, Provider, ProviderError,
    ProviderSettings, Secret,
};
use herald_provider_windows_live::WindowsLive;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;
use wiremock::matchers::{any, body_string_contains, header, method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const CID: &str = "8c3a61b2d4";
const CALLBACK: &str = "https://herald.example/oauth/messenger/callback?app=demo";
const CALLBACK_ENC: &str =
    "https%3A%2F%2Fherald.example%2Foauth%2Fmessenger%2Fcallback%3Fapp%3Ddemo";
/// A code with characters that must be encoded in a form body.
const CODE: &str = "M1a2/b+c=";
const CODE_ENC: &str = "M1a2%2Fb%2Bc%3D";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn ctx(base: &str, mode: Option<&str>) -> HttpCtx {
    herald_core::tls::init();
    let (client, guarded) =
        http_clients(&OutboundPolicy::default(), Duration::from_secs(5)).unwrap();
    let base = url::Url::parse(base).unwrap();
    HttpCtx {
        client,
        guarded,
        policy: OutboundPolicy::default(),
        api_base: base.clone(),
        consent_base: Some(base),
        settings: ProviderSettings {
            client_id: Some("app-id".into()),
            client_secret: Some(Secret::new("app secret&1")),
            options: mode
                .map(|m| BTreeMap::from([("mode".to_owned(), m.to_owned())]))
                .unwrap_or_default(),
            ..ProviderSettings::default()
        },
    }
}

fn http(server: &MockServer, mode: Option<&str>) -> HttpCtx {
    ctx(&server.uri(), mode)
}

fn callback(query: &[(&str, &str)], verifier: Option<&str>) -> CallbackParams {
    CallbackParams {
        query: query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        callback_url: CALLBACK.into(),
        pkce_verifier: verifier.map(Secret::new),
    }
}

/// Matches a form-encoded body with exactly these fields (no more, no fewer).
struct FormIs(Vec<(&'static str, &'static str)>);

impl Match for FormIs {
    fn matches(&self, request: &Request) -> bool {
        let mut got: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        let mut want: Vec<(String, String)> = self
            .0
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        got.sort();
        want.sort();
        got == want
    }
}

/// A POST to `path` whose body holds every `encoded` field verbatim and
/// exactly the `fields` decoded.
fn token_mock(
    at: &str,
    encoded: &[&str],
    fields: Vec<(&'static str, &'static str)>,
    answer: ResponseTemplate,
) -> Mock {
    let mut m = Mock::given(method("POST"))
        .and(path(at))
        .and(header("content-type", "application/x-www-form-urlencoded"));
    for part in encoded {
        m = m.and(body_string_contains(*part));
    }
    m.and(FormIs(fields)).respond_with(answer).expect(1)
}

const WRAP_ENCODED: &[&str] = &[
    "wrap_client_id=app-id",
    "wrap_client_secret=app+secret%261",
    "wrap_callback=https%3A%2F%2Fherald.example%2Foauth%2Fmessenger%2Fcallback%3Fapp%3Ddemo",
    "wrap_verification_code=M1a2%2Fb%2Bc%3D",
    "idtype=CID",
];

fn wrap_mock(answer: ResponseTemplate) -> Mock {
    token_mock(
        "/AccessToken.aspx",
        WRAP_ENCODED,
        vec![
            ("wrap_client_id", "app-id"),
            ("wrap_client_secret", "app secret&1"),
            ("wrap_callback", CALLBACK),
            ("wrap_verification_code", CODE),
            ("idtype", "CID"),
        ],
        answer,
    )
}

fn wrap_callback() -> CallbackParams {
    callback(
        &[
            ("wrap_verification_code", CODE),
            ("wrap_client_state", "st-1"),
        ],
        None,
    )
}

fn form(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_owned(), "application/x-www-form-urlencoded")
}

fn assert_clean(e: &ProviderError) {
    let m = e.message();
    assert!(
        !m.contains(CODE) && !m.contains("app secret") && !m.contains(VERIFIER),
        "{m}"
    );
}

async fn wrap_exchange(answer: ResponseTemplate) -> Result<Credential, ProviderError> {
    let server = MockServer::start().await;
    wrap_mock(answer).mount(&server).await;
    WindowsLive
        .exchange(&wrap_callback(), &http(&server, None))
        .await
}

#[test]
fn encoded_constants_agree() {
    assert!(WRAP_ENCODED[2].ends_with(CALLBACK_ENC));
    assert!(WRAP_ENCODED[3].ends_with(CODE_ENC));
}

#[tokio::test]
async fn wrap_exchange_posts_the_form_and_reads_the_cid() {
    let before = OffsetDateTime::now_utc();
    let c = wrap_exchange(form(
        "wrap_access_token=EwA%2Bacc%3D&wrap_access_token_expires_in=17900\
         &wrap_refresh_token=ref%2F1&uid=8c3a61b2d4&skip=1",
    ))
    .await
    .unwrap();
    assert_eq!(c.access_token.unwrap().expose(), "EwA+acc=");
    assert_eq!(c.refresh_token.unwrap().expose(), "ref/1");
    assert_eq!(c.provider_uid, CID);
    assert_eq!(c.display_name, None);
    let expires = c.expires_at.unwrap();
    assert!(expires >= before + time::Duration::seconds(17900));
    assert!(expires <= OffsetDateTime::now_utc() + time::Duration::seconds(17900));
}

#[tokio::test]
async fn wrap_exchange_is_the_default_mode_and_explicit_activities() {
    let server = MockServer::start().await;
    wrap_mock(form("wrap_access_token=a&uid=8c3a61b2d4"))
        .mount(&server)
        .await;
    let c = WindowsLive
        .exchange(&wrap_callback(), &http(&server, Some("activities")))
        .await
        .unwrap();
    assert_eq!(c.provider_uid, CID);
    assert!(c.refresh_token.is_none() && c.expires_at.is_none());
}

#[tokio::test]
async fn wrap_answer_without_uid_is_rejected() {
    let e = wrap_exchange(form(
        "wrap_access_token=a&wrap_access_token_expires_in=60&wrap_refresh_token=r",
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Rejected { code, .. } if code == "missing_uid"),
        "{e:?}"
    );
}

#[tokio::test]
async fn wrap_error_answers() {
    for (status, body, class) in [
        (
            200,
            "wrap_error_reason=InvalidVerificationCode",
            ErrorClass::AuthRevoked,
        ),
        (
            401,
            "wrap_error_reason=ExpiredVerificationCode",
            ErrorClass::AuthRevoked,
        ),
        (400, "", ErrorClass::AuthRevoked),
        (500, "wrap_error_reason=ServerError", ErrorClass::Transient),
        (503, "", ErrorClass::Transient),
    ] {
        let e = wrap_exchange(ResponseTemplate::new(status).set_body_string(body))
            .await
            .unwrap_err();
        assert_eq!(e.class(), class, "{status} {body}: {e:?}");
        assert_clean(&e);
        if let Some(reason) = body.strip_prefix("wrap_error_reason=") {
            assert!(e.message().contains(reason), "{}", e.message());
        }
    }
}

#[tokio::test]
async fn wrap_denied_consent_is_auth_revoked_without_a_call() {
    for query in [
        vec![
            ("wrap_error_reason", "user_denied"),
            ("wrap_client_state", "s"),
        ],
        vec![("error", "access_denied")],
    ] {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&server)
            .await;
        let e = WindowsLive
            .exchange(&callback(&query, None), &http(&server, None))
            .await
            .unwrap_err();
        assert_eq!(e.class(), ErrorClass::AuthRevoked);
        assert!(e.message().contains(query[0].1), "{}", e.message());
    }
}

#[tokio::test]
async fn missing_code_is_rejected() {
    for mode in [None, Some("share")] {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&server)
            .await;
        // A WRAP callback in share mode has no `code`, and vice versa.
        let query = match mode {
            None => vec![("code", CODE), ("state", "s")],
            Some(_) => vec![("wrap_verification_code", CODE)],
        };
        let e = WindowsLive
            .exchange(&callback(&query, None), &http(&server, mode))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ProviderError::Rejected { code, .. } if code == "missing_code"),
            "{e:?}"
        );
    }
}

#[tokio::test]
async fn unreachable_token_endpoint_is_transient() {
    // Nothing listens on port 9 of the loopback address.
    let e = WindowsLive
        .exchange(&wrap_callback(), &ctx("http://127.0.0.1:9/", None))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient, "{e:?}");
    assert_clean(&e);
}

#[tokio::test]
async fn exchange_without_client_secret_is_unsupported() {
    let server = MockServer::start().await;
    let mut h = http(&server, None);
    h.settings.client_secret = None;
    let e = WindowsLive
        .exchange(&wrap_callback(), &h)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported);
}

fn share_mock(pkce: bool, answer: ResponseTemplate) -> Mock {
    let mut encoded = vec![
        "grant_type=authorization_code",
        "code=M1a2%2Fb%2Bc%3D",
        "redirect_uri=https%3A%2F%2Fherald.example%2Foauth%2Fmessenger%2Fcallback%3Fapp%3Ddemo",
        "client_id=app-id",
        "client_secret=app+secret%261",
    ];
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", CODE),
        ("redirect_uri", CALLBACK),
        ("client_id", "app-id"),
        ("client_secret", "app secret&1"),
    ];
    if pkce {
        encoded.push("code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        fields.push(("code_verifier", VERIFIER));
    }
    token_mock("/oauth20_token.srf", &encoded, fields, answer)
}

async fn share_exchange(pkce: bool, answer: ResponseTemplate) -> Result<Credential, ProviderError> {
    let server = MockServer::start().await;
    share_mock(pkce, answer).mount(&server).await;
    let cb = callback(
        &[("code", CODE), ("state", "st-1")],
        pkce.then_some(VERIFIER),
    );
    WindowsLive
        .exchange(&cb, &http(&server, Some("share")))
        .await
}

fn token_json() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "token_type": "bearer", "expires_in": 3600,
        "scope": "wl.signin wl.share wl.offline_access",
        "access_token": "EwB-acc", "refresh_token": "ref-2",
        "authentication_token": "eyJ...", "user_id": "c0ffee42"
    }))
}

#[tokio::test]
async fn share_exchange_with_pkce_reads_the_user_id() {
    let before = OffsetDateTime::now_utc();
    let c = share_exchange(true, token_json()).await.unwrap();
    assert_eq!(c.access_token.unwrap().expose(), "EwB-acc");
    assert_eq!(c.refresh_token.unwrap().expose(), "ref-2");
    assert_eq!(c.provider_uid, "c0ffee42");
    assert_eq!(c.display_name, None);
    let expires = c.expires_at.unwrap();
    assert!(expires >= before + time::Duration::seconds(3600));
    assert!(expires <= OffsetDateTime::now_utc() + time::Duration::seconds(3600));
}

#[tokio::test]
async fn share_exchange_without_pkce_sends_no_verifier() {
    let c = share_exchange(false, token_json()).await.unwrap();
    assert_eq!(c.provider_uid, "c0ffee42");
}

#[tokio::test]
async fn share_answer_without_user_id_is_rejected() {
    let e = share_exchange(
        false,
        ResponseTemplate::new(200).set_body_json(json!({"access_token": "a", "expires_in": 3600})),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Rejected { code, .. } if code == "missing_uid"),
        "{e:?}"
    );
}

#[tokio::test]
async fn share_error_answers() {
    for (status, body, class) in [
        (
            400,
            json!({"error": "invalid_grant", "error_description": "The provided value for the 'code' parameter is not valid."}),
            ErrorClass::AuthRevoked,
        ),
        (
            400,
            json!({"error": "invalid_client"}),
            ErrorClass::AuthRevoked,
        ),
        (
            503,
            json!({"error": "temporarily_unavailable"}),
            ErrorClass::Transient,
        ),
        (500, json!({}), ErrorClass::Transient),
    ] {
        let e = share_exchange(
            true,
            ResponseTemplate::new(status).set_body_json(body.clone()),
        )
        .await
        .unwrap_err();
        assert_eq!(e.class(), class, "{status} {body}: {e:?}");
        assert_clean(&e);
        if let Some(code) = body.get("error").and_then(|v| v.as_str()) {
            assert!(e.message().contains(code), "{}", e.message());
        }
    }
}

#[tokio::test]
async fn share_denied_consent_is_auth_revoked_without_a_call() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let cb = callback(
        &[
            ("error", "access_denied"),
            (
                "error_description",
                "The user has denied access to the scope requested by the client application.",
            ),
            ("state", "st-1"),
        ],
        Some(VERIFIER),
    );
    let e = WindowsLive
        .exchange(&cb, &http(&server, Some("share")))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert!(e.message().contains("access_denied"), "{}", e.message());
}

#[test]
fn callback_state_through_the_trait() {
    let q = |v: &[(&str, &str)]| callback(v, None).query;
    let wrap = q(&[
        ("wrap_verification_code", CODE),
        ("wrap_client_state", "w-1"),
    ]);
    assert_eq!(WindowsLive.callback_state(&wrap), Some("w-1"));
    let oauth2 = q(&[("code", CODE), ("state", "s-1")]);
    assert_eq!(WindowsLive.callback_state(&oauth2), Some("s-1"));
}

#[tokio::test]
async fn authorize_url_through_the_trait() {
    let server = MockServer::start().await;
    let req = herald_core::AuthorizeRequest {
        state: "st-1".into(),
        callback_url: CALLBACK.into(),
        pkce_challenge: None,
    };
    let u = WindowsLive
        .authorize_url(&req, &http(&server, None))
        .unwrap();
    assert_eq!(
        u.as_str(),
        format!(
            "{}/Connect.aspx?wrap_client_id=app-id&wrap_callback={CALLBACK_ENC}\
             &wrap_scope=WL_Activities.Update%2CWL_Profiles.View&wrap_client_state=st-1",
            server.uri()
        )
    );
    let u = WindowsLive
        .authorize_url(&req, &http(&server, Some("share")))
        .unwrap();
    assert_eq!(
        u.as_str(),
        format!(
            "{}/oauth20_authorize.srf?client_id=app-id\
             &scope=wl.signin+wl.share+wl.offline_access&response_type=code\
             &redirect_uri={CALLBACK_ENC}&state=st-1",
            server.uri()
        )
    );
}
