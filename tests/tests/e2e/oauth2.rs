//! OAuth 2.0 connect flows end to end for networks that cannot be reached
//! from tests (X, Facebook Pages, LinkedIn): the real binary against wiremock
//! standing in for each network's documented endpoints. The consent redirect
//! and its PKCE challenge, the code exchange with the verifier, the stored
//! connection(s), publishing with them, an expired token refreshed with a
//! rotating refresh token (stored, and used on the next refresh), and the
//! revocation on disconnect.

use herald_e2e::{Herald, TestApp, flow_cookie};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn with_network(b: herald_e2e::HeraldBuilder, id: &str, base: &str) -> herald_e2e::HeraldBuilder {
    let up = id.to_ascii_uppercase();
    b.env(&format!("HERALD_PROVIDERS__{up}__API_BASE"), base)
        .env(&format!("HERALD_PROVIDERS__{up}__CONSENT_BASE"), base)
        .env(&format!("HERALD_PROVIDERS__{up}__CLIENT_ID"), "app-id-1")
        .env(
            &format!("HERALD_PROVIDERS__{up}__CLIENT_SECRET"),
            "app-secret-1",
        )
}

/// Runs a flow up to the network's consent page; returns its query and the
/// browser's flow cookie.
async fn consent(h: &Herald, app: &TestApp, provider: &str) -> (HashMap<String, String>, String) {
    let r = app.post("/v1/users/ana/connect-tokens", &json!({})).await;
    let token = r.body["connect_token"].as_str().unwrap().to_owned();
    let r = browser()
        .get(format!("{}/connect/{provider}", h.base))
        .query(&[("connect_token", token.as_str()), ("state", "s-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302, "{provider}");
    let cookie = flow_cookie(&r);
    (query_of(r.headers()["location"].to_str().unwrap()), cookie)
}

/// The network's redirect back with a code; returns where Herald sends the browser.
async fn callback(h: &Herald, provider: &str, state: &str, cookie: &str) -> String {
    let r = browser()
        .get(format!("{}/connect/{provider}/callback", h.base))
        .header("cookie", cookie)
        .query(&[("code", "code-1"), ("state", state)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    r.headers()["location"].to_str().unwrap().to_owned()
}

async fn publish(app: &TestApp, provider: &str) -> Value {
    let a = app
        .post(
            "/v1/actions",
            &json!({
                "uid": "ana",
                "enabled_providers": [provider],
                "action": {"user_message": "Read this", "link_back": "https://news.example/a", "title": "A story"}
            }),
        )
        .await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    app.wait_final(a.body["id"].as_str().unwrap(), Duration::from_secs(30))
        .await
}

fn token_answer(access: &str, refresh: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "token_type": "bearer", "expires_in": 7200, "access_token": access,
        "refresh_token": refresh, "scope": "tweet.read tweet.write users.read offline.access"
    }))
}

fn form_of(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[tokio::test]
async fn x_connects_with_pkce_and_rotates_refresh_tokens() {
    let x = MockServer::start().await;
    let h = with_network(Herald::builder(), "x", &x.uri()).start().await;
    let app = h.create_app(Some("https://site.example/"));
    let (q, cookie) = consent(&h, &app, "x").await;
    let callback_url = format!("{}/connect/x/callback", h.base);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "app-id-1");
    assert_eq!(q["redirect_uri"], callback_url);
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(
        q["scope"].split(' ').any(|s| s == "offline.access"),
        "{q:?}"
    );

    // Basic client auth: base64("app-id-1:app-secret-1").
    let basic = "Basic YXBwLWlkLTE6YXBwLXNlY3JldC0x";
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .and(header("authorization", basic))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(token_answer("x-acc-1", "x-ref-1"))
        .expect(1)
        .mount(&x)
        .await;
    Mock::given(method("GET"))
        .and(path("/2/users/me"))
        .and(header("authorization", "Bearer x-acc-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"data": {"id": "2244994945", "name": "Dev", "username": "TwitterDev"}}),
        ))
        .expect(1)
        .mount(&x)
        .await;
    let back = callback(&h, "x", &q["state"], &cookie).await;
    let (site, code) = herald_e2e::split_connect_code(&back);
    assert_eq!(
        site,
        "https://site.example/?status=connected&provider=x&state=s-1"
    );
    let redeemed = app.redeem("ana", &code).await;
    assert_eq!(redeemed.status, 200, "{:?}", redeemed.body);

    // The verifier sent at the exchange is the one behind the challenge.
    let reqs = x.received_requests().await.unwrap();
    let exchange = reqs
        .iter()
        .find(|r| r.url.path() == "/2/oauth2/token")
        .unwrap();
    let form = form_of(&exchange.body);
    assert_eq!(form["code"], "code-1");
    assert_eq!(form["redirect_uri"], callback_url);
    {
        use base64::Engine;
        use sha2::Digest;
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(form["code_verifier"].as_bytes()));
        assert_eq!(challenge, q["code_challenge"], "PKCE verifier matches");
    }
    let conns = app.get("/v1/users/ana/connections").await;
    let c = &conns.body["connections"][0];
    assert_eq!(
        (
            c["provider"].as_str(),
            c["provider_uid"].as_str(),
            c["display_name"].as_str()
        ),
        (Some("x"), Some("2244994945"), Some("@TwitterDev"))
    );

    // The token expired: 401, refresh (rotated), the post goes out.
    for (n, (old, refresh, new, new_refresh)) in [
        ("x-acc-1", "x-ref-1", "x-acc-2", "x-ref-2"),
        // The second refresh must send the rotated token.
        ("x-acc-2", "x-ref-2", "x-acc-3", "x-ref-3"),
    ]
    .into_iter()
    .enumerate()
    {
        Mock::given(method("POST"))
            .and(path("/2/tweets"))
            .and(header("authorization", format!("Bearer {old}").as_str()))
            .respond_with(ResponseTemplate::new(401).set_body_json(
                json!({"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}),
            ))
            .expect(1)
            .mount(&x)
            .await;
        Mock::given(method("POST"))
            .and(path("/2/oauth2/token"))
            .and(header("authorization", basic))
            .and(body_string_contains("grant_type=refresh_token"))
            .and(body_string_contains(
                format!("refresh_token={refresh}").as_str(),
            ))
            .respond_with(token_answer(new, new_refresh))
            .expect(1)
            .mount(&x)
            .await;
        Mock::given(method("POST"))
            .and(path("/2/tweets"))
            .and(header("authorization", format!("Bearer {new}").as_str()))
            .respond_with(ResponseTemplate::new(201).set_body_json(
                json!({"data": {"id": format!("190000000{n}"), "text": "Read this"}}),
            ))
            .up_to_n_times(1)
            .mount(&x)
            .await;
        let done = publish(&app, "x").await;
        let d = &done["deliveries"][0];
        assert_eq!(d["state"], "published", "{done}");
        assert_eq!(
            d["post_url"],
            format!("https://x.com/i/status/190000000{n}").as_str()
        );
    }

    // Disconnect revokes at X (the refresh token and the access token).
    Mock::given(method("POST"))
        .and(path("/2/oauth2/revoke"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"revoked": true})))
        .mount(&x)
        .await;
    assert_eq!(app.delete("/v1/users/ana/connections/x").await.status, 204);
    let revoked: Vec<String> = x
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/2/oauth2/revoke")
        .map(|r| form_of(&r.body)["token"].clone())
        .collect();
    assert!(
        revoked.contains(&"x-ref-3".to_owned()) && revoked.contains(&"x-acc-3".to_owned()),
        "{revoked:?}"
    );
    for t in [
        "x-acc-1",
        "x-ref-1",
        "x-acc-3",
        "x-ref-3",
        "app-secret-1",
        "code-1",
    ] {
        assert!(!h.log().contains(t), "{t} reached the log");
    }
    x.verify().await;
}

#[tokio::test]
async fn facebook_connects_every_page_the_user_may_post_to() {
    let fb = MockServer::start().await;
    let h = with_network(Herald::builder(), "facebook", &fb.uri())
        .start()
        .await;
    let app = h.create_app(Some("https://site.example/"));
    let (q, cookie) = consent(&h, &app, "facebook").await;
    assert_eq!(q["client_id"], "app-id-1");
    assert!(q["scope"].contains("pages_manage_posts"), "{q:?}");
    Mock::given(method("GET"))
        .and(path("/v26.0/oauth/access_token"))
        .and(query_param("code", "code-1"))
        .and(query_param("client_secret", "app-secret-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "user-short", "token_type": "bearer", "expires_in": 5400}),
        ))
        .expect(1)
        .mount(&fb)
        .await;
    Mock::given(method("GET"))
        .and(path("/v26.0/oauth/access_token"))
        .and(query_param("grant_type", "fb_exchange_token"))
        .and(query_param("fb_exchange_token", "user-short"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "user-long", "token_type": "bearer", "expires_in": 5183944}),
        ))
        .expect(1)
        .mount(&fb)
        .await;
    Mock::given(method("GET"))
        .and(path("/v26.0/me/accounts"))
        .and(query_param("access_token", "user-long"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                {"id": "1111", "name": "Zoë's Café", "access_token": "page-1", "tasks": ["CREATE_CONTENT", "MANAGE"]},
                {"id": "2222", "name": "Bakery", "access_token": "page-2", "tasks": ["CREATE_CONTENT"]},
                {"id": "3333", "name": "Analytics only", "access_token": "page-3", "tasks": ["ANALYZE"]}
            ],
            "paging": {"cursors": {"before": "a", "after": "b"}}
        })))
        .expect(1)
        .mount(&fb)
        .await;
    let back = callback(&h, "facebook", &q["state"], &cookie).await;
    let (site, code) = herald_e2e::split_connect_code(&back);
    assert_eq!(
        site,
        "https://site.example/?status=connected&provider=facebook&state=s-1"
    );
    let redeemed = app.redeem("ana", &code).await;
    assert_eq!(redeemed.status, 200, "{:?}", redeemed.body);
    let conns = app.get("/v1/users/ana/connections").await;
    let mut pages: Vec<(String, String)> = conns.body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["provider_uid"].as_str().unwrap().to_owned(),
                c["display_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pages.sort();
    assert_eq!(
        pages,
        [
            ("1111".to_owned(), "Zoë's Café".to_owned()),
            ("2222".to_owned(), "Bakery".to_owned())
        ]
    );
    for (page, id) in [("1111", "1111_1"), ("2222", "2222_1")] {
        Mock::given(method("POST"))
            .and(path(format!("/v26.0/{page}/feed")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": id})))
            .expect(1)
            .mount(&fb)
            .await;
    }
    let done = publish(&app, "facebook").await;
    let mut ids: Vec<&str> = done["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["state"], "published", "{done}");
            d["post_id"].as_str().unwrap()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["1111_1", "2222_1"]);
    // Each Page's post carried that Page's own token.
    for (page, token) in [("1111", "page-1"), ("2222", "page-2")] {
        let reqs = fb.received_requests().await.unwrap();
        let r = reqs
            .iter()
            .find(|r| r.url.path() == format!("/v26.0/{page}/feed"))
            .unwrap();
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["access_token"], token);
        assert_eq!(body["link"], "https://news.example/a");
    }
    fb.verify().await;
}

#[tokio::test]
async fn linkedin_connects_and_posts_an_article() {
    let li = MockServer::start().await;
    let h = with_network(Herald::builder(), "linkedin", &li.uri())
        .start()
        .await;
    let app = h.create_app(Some("https://site.example/"));
    let (q, cookie) = consent(&h, &app, "linkedin").await;
    assert_eq!(q["response_type"], "code");
    assert!(
        q["scope"].split(' ').any(|s| s == "w_member_social"),
        "{q:?}"
    );
    Mock::given(method("POST"))
        .and(path("/oauth/v2/accessToken"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("client_secret=app-secret-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "li-acc", "expires_in": 5184000, "scope": "openid,profile,w_member_social"}),
        ))
        .expect(1)
        .mount(&li)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/userinfo"))
        .and(header("authorization", "Bearer li-acc"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"sub": "782bbtaQ", "name": "Ana Lima"})),
        )
        .expect(1)
        .mount(&li)
        .await;
    let back = callback(&h, "linkedin", &q["state"], &cookie).await;
    let (site, code) = herald_e2e::split_connect_code(&back);
    assert_eq!(
        site,
        "https://site.example/?status=connected&provider=linkedin&state=s-1"
    );
    let redeemed = app.redeem("ana", &code).await;
    assert_eq!(redeemed.status, 200, "{:?}", redeemed.body);
    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .and(header("authorization", "Bearer li-acc"))
        .and(header("x-restli-protocol-version", "2.0.0"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("x-restli-id", "urn:li:share:6844785523593134080"),
        )
        .expect(1)
        .mount(&li)
        .await;
    let done = publish(&app, "linkedin").await;
    let d = &done["deliveries"][0];
    assert_eq!(d["state"], "published", "{done}");
    assert_eq!(d["post_id"], "urn:li:share:6844785523593134080");
    let reqs = li.received_requests().await.unwrap();
    let post: Value = serde_json::from_slice(
        &reqs
            .iter()
            .find(|r| r.url.path() == "/rest/posts")
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(post["author"], "urn:li:person:782bbtaQ");
    assert_eq!(
        post["content"]["article"]["source"],
        "https://news.example/a"
    );
    li.verify().await;
}
