//! Wire tests against a wiremock server: each mock answers only a request whose
//! method, path, headers and body are exactly what Windows Live expects, and
//! `.expect(1)` makes the server check it was called once.

use herald_core::provider::http_clients;
use herald_core::{
    AccountInfo, ActionId, ActionMeta, Credential, DeliveryId, ErrorClass, HttpCtx, IdempotencyKey,
    NativePost, OutboundPolicy, Provider, ProviderError, ProviderSettings, Published,
    RenderedAction, Secret,
};
use herald_provider_windows_live::WindowsLive;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const CID: &str = "8c3a61b2d4";
const ACTIVITIES: &str = "/V4.1/cid-8c3a61b2d4/MyActivities";
const LINK: &str = "https://news.example/a/caf%C3%A9?x=1&y=%20z";

fn ctx(api: &str, mode: Option<&str>, timeout: Duration) -> HttpCtx {
    herald_core::tls::init();
    let (client, guarded) = http_clients(&OutboundPolicy::default(), timeout).unwrap();
    let base = url::Url::parse(api).unwrap();
    HttpCtx {
        client,
        guarded,
        policy: OutboundPolicy::default(),
        api_base: base.clone(),
        consent_base: Some(base),
        settings: ProviderSettings {
            client_id: Some("app-id".into()),
            client_secret: Some(Secret::new("app-secret")),
            options: mode
                .map(|m| BTreeMap::from([("mode".to_owned(), m.to_owned())]))
                .unwrap_or_default(),
            ..ProviderSettings::default()
        },
    }
}

fn http(server: &MockServer, mode: Option<&str>) -> HttpCtx {
    ctx(&server.uri(), mode, Duration::from_secs(5))
}

fn cred() -> Credential {
    Credential {
        access_token: Some(Secret::new("tok")),
        refresh_token: Some(Secret::new("ref-1")),
        provider_uid: CID.into(),
        display_name: Some("Zoë".into()),
        ..Credential::default()
    }
}

fn key() -> IdempotencyKey {
    IdempotencyKey::for_delivery(&DeliveryId::new())
}

fn render(action: Value, mode: Option<&str>) -> NativePost {
    let rendered = RenderedAction {
        action: serde_json::from_value(action).unwrap(),
        meta: ActionMeta {
            action_id: ActionId::new(),
            uid: "u1".into(),
            delivery_id: None,
            app_name: "Demo".into(),
            site_url: Some("https://site.example/".into()),
        },
        options: mode
            .map(|m| BTreeMap::from([("mode".to_owned(), m.to_owned())]))
            .unwrap_or_default(),
    };
    let account = AccountInfo {
        display_name: Some("Zoë".into()),
        ..AccountInfo::default()
    };
    WindowsLive.render(&rendered, &account).unwrap()
}

/// A mock that answers only an exact activities POST.
fn activities_mock(body: Value, answer: ResponseTemplate) -> Mock {
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .and(header("Authorization", "WRAP access_token=tok"))
        .and(header("Content-Type", "application/json"))
        .and(header("Accept", "application/json"))
        .and(body_json(body))
        .respond_with(answer)
        .expect(1)
}

fn status_post() -> NativePost {
    render(json!({"user_message": "hello"}), None)
}

async fn publish_status(answer: ResponseTemplate) -> Result<Published, ProviderError> {
    let server = MockServer::start().await;
    let post = status_post();
    activities_mock(post.body.clone(), answer)
        .mount(&server)
        .await;
    WindowsLive
        .publish(&post, &cred(), &key(), &http(&server, None))
        .await
}

#[tokio::test]
async fn custom_activity_is_posted_exactly() {
    let server = MockServer::start().await;
    let post = render(
        json!({
            "title": "Crème brûlée",
            "description": "Résumé",
            "user_message": "Look 👀",
            "link_back": LINK,
            "media_items": [{"type": "image", "src": "https://news.example/t.jpg"}]
        }),
        None,
    );
    assert_eq!(post.kind, "CustomActivity");
    let expected = json!({
        "__type": "CustomActivity:http://schemas.microsoft.com/ado/2007/08/dataservices",
        "CustomActivityVerb": "shared a link",
        "ApplicationLink": "https://site.example/",
        "ActivityObjects": [{
            "ActivityObjectType": "http://activitystrea.ms/schema/1.0/custom",
            "Title": "Crème brûlée",
            "Summary": "Résumé",
            "Content": "Look 👀",
            "AlternateLink": LINK,
            "PreviewLink": "https://news.example/t.jpg"
        }]
    });
    activities_mock(
        expected,
        ResponseTemplate::new(201).set_body_json(
            json!({"Id": "act-77", "AlternateLink": "https://profile.live.com/a/77"}),
        ),
    )
    .mount(&server)
    .await;
    let p = WindowsLive
        .publish(&post, &cred(), &key(), &http(&server, None))
        .await
        .unwrap();
    assert_eq!(p.post_id, "act-77");
    assert_eq!(p.post_url.as_deref(), Some("https://profile.live.com/a/77"));
}

#[tokio::test]
async fn photo_activity_is_posted_exactly() {
    let server = MockServer::start().await;
    let post = render(
        json!({
            "title": "Été",
            "user_message": "☀",
            "media_items": [{"type": "image", "src": "https://img.example/p.jpg", "href": "https://img.example/page"}]
        }),
        None,
    );
    assert_eq!(post.kind, "AddPhotoActivity");
    let expected = json!({
        "__type": "AddPhotoActivity:http://schemas.microsoft.com/ado/2007/08/dataservices",
        "ActivityVerb": "http://activitystrea.ms/schema/1.0/post",
        "ApplicationLink": "https://site.example/",
        "ActivityObjects": [{
            "ActivityObjectType": "http://activitystrea.ms/schema/1.0/photo",
            "AlternateLink": "https://img.example/page",
            "PreviewLink": "https://img.example/p.jpg",
            "Title": "Été",
            "Content": "☀"
        }]
    });
    activities_mock(
        expected,
        ResponseTemplate::new(200).set_body_json(json!({"Id": 12345})),
    )
    .mount(&server)
    .await;
    let p = WindowsLive
        .publish(&post, &cred(), &key(), &http(&server, None))
        .await
        .unwrap();
    assert_eq!(
        p,
        Published {
            post_id: "12345".into(),
            post_url: None
        }
    );
}

#[tokio::test]
async fn status_activity_is_posted_exactly() {
    let server = MockServer::start().await;
    let post = status_post();
    let expected = json!({
        "__type": "AddStatusActivity:http://schemas.microsoft.com/ado/2007/08/dataservices",
        "ActivityVerb": "http://activitystrea.ms/schema/1.0/post",
        "ApplicationLink": "https://site.example/",
        "ActivityObjects": [{
            "ActivityObjectType": "http://activitystrea.ms/schema/1.0/status",
            "Content": "hello"
        }]
    });
    activities_mock(
        expected,
        ResponseTemplate::new(201).set_body_json(json!({"Id": "s-1"})),
    )
    .mount(&server)
    .await;
    let p = WindowsLive
        .publish(&post, &cred(), &key(), &http(&server, None))
        .await
        .unwrap();
    assert_eq!(p.post_id, "s-1");
}

#[tokio::test]
async fn share_mode_is_posted_exactly() {
    let server = MockServer::start().await;
    let post = render(
        json!({"title": "Ñandú", "user_message": "Mirá", "link_back": LINK,
               "media_items": [{"type": "image", "src": "https://img.example/n.png"}]}),
        Some("share"),
    );
    assert_eq!(post.kind, "share");
    let expected = json!({
        "message": "Mirá", "link": LINK, "name": "Ñandú", "picture": "https://img.example/n.png"
    });
    Mock::given(method("POST"))
        .and(path("/v5.0/me/share"))
        .and(header("Authorization", "Bearer tok"))
        .and(header("Content-Type", "application/json"))
        .and(body_json(expected))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "share.8c3a.1", "message": "Mirá", "from": {"name": "Zoë", "id": CID}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let p = WindowsLive
        .publish(&post, &cred(), &key(), &http(&server, Some("share")))
        .await
        .unwrap();
    assert_eq!(
        p,
        Published {
            post_id: "share.8c3a.1".into(),
            post_url: None
        }
    );
}

#[tokio::test]
async fn share_mode_errors_are_classified() {
    let server = MockServer::start().await;
    let post = render(json!({"user_message": "x"}), Some("share"));
    Mock::given(method("POST"))
        .and(path("/v5.0/me/share"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"code": "request_token_expired", "message": "The provided access token has expired."}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let e = WindowsLive
        .publish(&post, &cred(), &key(), &http(&server, Some("share")))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthExpired);
    assert_eq!(e.message(), "The provided access token has expired.");
}

#[tokio::test]
async fn created_without_id_uses_location_or_key() {
    let answer = ResponseTemplate::new(201).insert_header(
        "Location",
        "https://apis.live.net/V4.1/cid-x/MyActivities/9",
    );
    let p = publish_status(answer).await.unwrap();
    assert_eq!(p.post_id, "https://apis.live.net/V4.1/cid-x/MyActivities/9");

    let server = MockServer::start().await;
    let post = status_post();
    activities_mock(post.body.clone(), ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let k = key();
    let p = WindowsLive
        .publish(&post, &cred(), &k, &http(&server, None))
        .await
        .unwrap();
    assert_eq!(p.post_id, k.as_str());
}

#[tokio::test]
async fn http_401_is_auth_expired() {
    let e = publish_status(ResponseTemplate::new(401))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthExpired);
    assert_eq!(e.http_status(), Some(401));
}

#[tokio::test]
async fn code_412_is_auth_expired_even_with_status_200() {
    for status in [200, 400] {
        let answer = ResponseTemplate::new(status)
            .set_body_json(json!({"Code": 412, "Message": "Access token expired"}));
        let e = publish_status(answer).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::AuthExpired, "status {status}");
        assert_eq!(e.http_status(), Some(status));
        assert_eq!(e.message(), "Access token expired");
    }
}

#[tokio::test]
async fn request_token_expired_is_auth_expired() {
    let answer = ResponseTemplate::new(400).set_body_json(json!({
        "error": {"code": "request_token_expired", "message": "The provided access token has expired."}
    }));
    let e = publish_status(answer).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthExpired);
}

#[tokio::test]
async fn http_403_is_revoked_for_token_problems_else_rejected() {
    let answer = ResponseTemplate::new(403).set_body_json(json!({
        "error": {"code": "access_denied", "message": "The user revoked consent."}
    }));
    let e = publish_status(answer).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert_eq!(e.http_status(), Some(403));

    let answer = ResponseTemplate::new(403).set_body_json(json!({
        "error": {"code": "resource_quota_exceeded", "message": "Quota exceeded."}
    }));
    let e = publish_status(answer).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Rejected);
    assert_eq!(e.code(), "resource_quota_exceeded");
}

#[tokio::test]
async fn http_400_is_rejected_with_the_networks_code_and_message() {
    let answer = ResponseTemplate::new(400).set_body_json(json!({
        "error": {"code": "request_body_invalid", "message": "The activity is malformed."}
    }));
    let e = publish_status(answer).await.unwrap_err();
    assert_eq!(
        e,
        ProviderError::Rejected {
            status: Some(400),
            code: "request_body_invalid".into(),
            message: "The activity is malformed.".into()
        }
    );
}

#[tokio::test]
async fn http_429_is_rate_limited_with_retry_after() {
    let answer = ResponseTemplate::new(429).insert_header("Retry-After", "2");
    let e = publish_status(answer).await.unwrap_err();
    match e {
        ProviderError::RateLimited {
            retry_after,
            status,
            ..
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(2)));
            assert_eq!(status, Some(429));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn http_503_is_transient() {
    let e = publish_status(ResponseTemplate::new(503))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient);
    assert_eq!(e.http_status(), Some(503));
}

#[tokio::test]
async fn connect_error_is_transient() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let http = ctx(
        &format!("http://127.0.0.1:{port}/"),
        None,
        Duration::from_secs(5),
    );
    let e = WindowsLive
        .publish(&status_post(), &cred(), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient, "{e:?}");
    assert!(!e.message().contains("tok"), "{}", e.message());
}

#[tokio::test]
async fn timeout_after_sending_is_unknown() {
    let server = MockServer::start().await;
    let post = status_post();
    activities_mock(
        post.body.clone(),
        ResponseTemplate::new(201)
            .set_body_json(json!({"Id": "late"}))
            .set_delay(Duration::from_secs(3)),
    )
    .mount(&server)
    .await;
    let http = ctx(&server.uri(), None, Duration::from_millis(300));
    let e = WindowsLive
        .publish(&post, &cred(), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown, "{e:?}");
}

#[tokio::test]
async fn the_token_never_appears_in_errors() {
    let server = MockServer::start().await;
    let post = status_post();
    activities_mock(
        post.body.clone(),
        ResponseTemplate::new(400).set_body_json(json!({"Code": 1, "Message": "bad token tok"})),
    )
    .mount(&server)
    .await;
    let e = WindowsLive
        .publish(&post, &cred(), &key(), &http(&server, None))
        .await
        .unwrap_err();
    assert_eq!(e.message(), "bad token ***");
}

/// Matches a form-encoded body with exactly these fields.
struct FormIs(Vec<(&'static str, &'static str)>);

impl Match for FormIs {
    fn matches(&self, request: &Request) -> bool {
        let is_form = request
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            == Some("application/x-www-form-urlencoded");
        let mut got: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        let mut want: Vec<(String, String)> = self
            .0
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        got.sort();
        want.sort();
        is_form && got == want
    }
}

fn wrap_refresh_mock(answer: ResponseTemplate) -> Mock {
    Mock::given(method("POST"))
        .and(path("/RefreshToken.aspx"))
        .and(FormIs(vec![
            ("wrap_refresh_token", "ref-1"),
            ("wrap_client_id", "app-id"),
            ("wrap_client_secret", "app-secret"),
        ]))
        .respond_with(answer)
        .expect(1)
}

#[tokio::test]
async fn wrap_refresh_reads_a_form_answer() {
    let server = MockServer::start().await;
    wrap_refresh_mock(
        ResponseTemplate::new(200).set_body_raw(
            "wrap_access_token=EwA%2Bnew%3D&wrap_access_token_expires_in=17900&wrap_refresh_token=ref-2",
            "application/x-www-form-urlencoded",
        ),
    )
    .mount(&server)
    .await;
    let before = time::OffsetDateTime::now_utc();
    let c = WindowsLive
        .refresh(&cred(), &http(&server, None))
        .await
        .unwrap();
    assert_eq!(c.access_token.unwrap().expose(), "EwA+new=");
    assert_eq!(c.refresh_token.unwrap().expose(), "ref-2");
    let expires = c.expires_at.unwrap();
    assert!(expires >= before + time::Duration::seconds(17900));
    assert!(expires <= time::OffsetDateTime::now_utc() + time::Duration::seconds(17900));
    assert_eq!(c.provider_uid, CID);
}

#[tokio::test]
async fn wrap_refresh_keeps_the_old_refresh_token() {
    let server = MockServer::start().await;
    wrap_refresh_mock(
        ResponseTemplate::new(200)
            .set_body_string("wrap_access_token=new&wrap_access_token_expires_in=60"),
    )
    .mount(&server)
    .await;
    let c = WindowsLive
        .refresh(&cred(), &http(&server, None))
        .await
        .unwrap();
    assert_eq!(c.access_token.unwrap().expose(), "new");
    assert_eq!(c.refresh_token.unwrap().expose(), "ref-1");
}

#[tokio::test]
async fn wrap_refresh_refused_is_auth_revoked() {
    for (status, body) in [
        (200, "wrap_error_reason=ExpiredRefreshToken"),
        (401, "wrap_error_reason=InvalidRefreshToken"),
        (400, ""),
    ] {
        let server = MockServer::start().await;
        wrap_refresh_mock(ResponseTemplate::new(status).set_body_string(body))
            .mount(&server)
            .await;
        let e = WindowsLive
            .refresh(&cred(), &http(&server, None))
            .await
            .unwrap_err();
        assert_eq!(e.class(), ErrorClass::AuthRevoked, "{status} {body}");
        assert!(!e.message().contains("ref-1") && !e.message().contains("app-secret"));
    }
}

#[tokio::test]
async fn wrap_refresh_server_error_is_transient() {
    let server = MockServer::start().await;
    wrap_refresh_mock(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let e = WindowsLive
        .refresh(&cred(), &http(&server, None))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn refresh_without_refresh_token_is_auth_revoked() {
    let server = MockServer::start().await;
    let c = Credential {
        refresh_token: None,
        ..cred()
    };
    let e = WindowsLive
        .refresh(&c, &http(&server, None))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
}

fn oauth2_refresh_mock(answer: ResponseTemplate) -> Mock {
    Mock::given(method("POST"))
        .and(path("/oauth20_token.srf"))
        .and(FormIs(vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", "ref-1"),
            ("client_id", "app-id"),
            ("client_secret", "app-secret"),
        ]))
        .respond_with(answer)
        .expect(1)
}

#[tokio::test]
async fn share_mode_refresh_uses_oauth2() {
    let server = MockServer::start().await;
    oauth2_refresh_mock(ResponseTemplate::new(200).set_body_json(json!({
        "token_type": "bearer", "expires_in": 3600, "scope": "wl.share",
        "access_token": "EwB-new", "refresh_token": "ref-2"
    })))
    .mount(&server)
    .await;
    let c = WindowsLive
        .refresh(&cred(), &http(&server, Some("share")))
        .await
        .unwrap();
    assert_eq!(c.access_token.unwrap().expose(), "EwB-new");
    assert_eq!(c.refresh_token.unwrap().expose(), "ref-2");
    assert!(c.expires_at.is_some());
}

#[tokio::test]
async fn share_mode_invalid_grant_is_auth_revoked() {
    let server = MockServer::start().await;
    oauth2_refresh_mock(ResponseTemplate::new(400).set_body_json(json!({
        "error": "invalid_grant", "error_description": "The refresh token has expired."
    })))
    .mount(&server)
    .await;
    let e = WindowsLive
        .refresh(&cred(), &http(&server, Some("share")))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert!(e.message().contains("invalid_grant"), "{}", e.message());
}
