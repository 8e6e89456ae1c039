//! Connect flows end to end: a connect token, the WRAP consent redirect, the
//! form-encoded code exchange, the stored connection, and the refusals
//! (replayed state, used token, foreign redirect, denied consent).

use herald_e2e::{Herald, TestApp, answer, flow_cookie};
use serde_json::json;
use std::collections::HashMap;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn no_redirects() -> reqwest::Client {
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

async fn connect_token(app: &TestApp, uid: &str) -> String {
    let r = app
        .post(&format!("/v1/users/{uid}/connect-tokens"), &json!({}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["connect_token"].as_str().unwrap().to_owned()
}

/// Starts a flow; returns the consent page's URL.
async fn start(h: &Herald, token: &str, redirect: &str) -> reqwest::Response {
    no_redirects()
        .get(format!("{}/connect/messenger", h.base))
        .query(&[
            ("connect_token", token),
            ("redirect_uri", redirect),
            ("state", "site-state-1"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_wrap_flow_connects_windows_live_and_refuses_replays() {
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/AccessToken.aspx"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("wrap_verification_code=vc-1"))
        .and(body_string_contains("wrap_client_id=client-1"))
        .and(body_string_contains("wrap_client_secret=client-secret-1"))
        .and(body_string_contains("idtype=CID"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "wrap_access_token=tok-flow&wrap_access_token_expires_in=3600&wrap_refresh_token=rt-flow&uid=cid-77",
        ))
        .expect(1)
        .mount(&wl)
        .await;
    let h = Herald::builder().messenger_at(&wl.uri()).start().await;
    let app = h.create_app(Some("https://site.example/"));
    let token = connect_token(&app, "ana").await;

    let r = start(&h, &token, "https://site.example/connected").await;
    assert_eq!(r.status().as_u16(), 302);
    let cookie = flow_cookie(&r);
    let consent = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        consent.starts_with(&format!("{}/Connect.aspx?", wl.uri())),
        "{consent}"
    );
    let q = query_of(&consent);
    assert_eq!(q["wrap_client_id"], "client-1");
    assert_eq!(
        q["wrap_callback"],
        format!("{}/connect/messenger/callback", h.base)
    );
    assert!(q["wrap_scope"].contains("WL_Activities.Update"), "{q:?}");
    let flow_state = q["wrap_client_state"].clone();
    assert!(flow_state.len() >= 32, "the state is random: {flow_state}");

    // The connect token is single use.
    let again = answer(start(&h, &token, "https://site.example/connected").await).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.body["errors"][0]["field"], "connect_token");

    // The network sends the browser back with a verification code.
    let cb = no_redirects()
        .get(format!("{}/connect/messenger/callback", h.base))
        .header("cookie", &cookie)
        .query(&[
            ("wrap_verification_code", "vc-1"),
            ("wrap_client_state", flow_state.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cb.status().as_u16(), 302);
    let back = cb.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with("https://site.example/connected?"),
        "{back}"
    );
    let q = query_of(&back);
    assert_eq!(
        (
            q["status"].as_str(),
            q["provider"].as_str(),
            q["state"].as_str()
        ),
        ("connected", "messenger", "site-state-1")
    );

    let conns = app.get("/v1/users/ana/connections").await;
    let c = &conns.body["connections"][0];
    assert_eq!(c["provider_uid"], "cid-77");
    assert_eq!(c["has_refresh_token"], true);
    assert!(c["expires_at"].is_string());

    // Replaying the callback changes nothing and says so.
    let replay = no_redirects()
        .get(format!("{}/connect/messenger/callback", h.base))
        .header("cookie", &cookie)
        .query(&[
            ("wrap_verification_code", "vc-1"),
            ("wrap_client_state", flow_state.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let q = query_of(replay.headers()["location"].to_str().unwrap());
    assert_eq!(
        (q["status"].as_str(), q["error"].as_str()),
        ("error", "state_replayed")
    );
    let unknown = answer(
        no_redirects()
            .get(format!(
                "{}/connect/messenger/callback?wrap_client_state=forged",
                h.base
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(unknown.status, 400);
    for t in ["tok-flow", "rt-flow", "vc-1", "client-secret-1"] {
        assert!(!h.log().contains(t), "{t} appears in the server log");
    }
}

#[tokio::test]
async fn a_denied_consent_and_a_foreign_redirect_are_refused() {
    let wl = MockServer::start().await;
    let h = Herald::builder().messenger_at(&wl.uri()).start().await;
    let app = h.create_app(Some("https://site.example/"));

    let token = connect_token(&app, "ana").await;
    let r = answer(start(&h, &token, "https://evil.example/steal").await).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "redirect_uri");

    let token = connect_token(&app, "ana").await;
    let r = start(&h, &token, "https://www.site.example/back").await;
    assert_eq!(
        r.status().as_u16(),
        302,
        "a subdomain of the site is allowed"
    );
    let cookie = flow_cookie(&r);
    let flow_state =
        query_of(r.headers()["location"].to_str().unwrap())["wrap_client_state"].clone();
    let cb = no_redirects()
        .get(format!("{}/connect/messenger/callback", h.base))
        .header("cookie", &cookie)
        .query(&[
            ("wrap_error_reason", "user_denied"),
            ("wrap_client_state", flow_state.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let q = query_of(cb.headers()["location"].to_str().unwrap());
    assert_eq!(
        (q["status"].as_str(), q["error"].as_str()),
        ("error", "access_denied")
    );
    assert_eq!(
        wl.received_requests().await.unwrap().len(),
        0,
        "no exchange after a refusal"
    );
    assert_eq!(
        app.get("/v1/users/ana/connections").await.body["connections"],
        json!([])
    );

    let bad = answer(
        no_redirects()
            .get(format!("{}/connect/messenger", h.base))
            .query(&[
                ("connect_token", "garbage"),
                ("redirect_uri", "https://site.example/x"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn a_flow_only_completes_in_the_browser_that_started_it() {
    // Somebody mints a connect token for their own uid and sends the link to
    // a victim: the victim's consent must not connect anything.
    let wl = MockServer::start().await;
    let h = Herald::builder().messenger_at(&wl.uri()).start().await;
    let app = h.create_app(Some("https://site.example/"));
    let token = connect_token(&app, "attacker").await;
    let r = start(&h, &token, "https://site.example/back").await;
    assert_eq!(r.status().as_u16(), 302);
    let started_with = flow_cookie(&r);
    let flow_state =
        query_of(r.headers()["location"].to_str().unwrap())["wrap_client_state"].clone();
    for other_browser in [
        None,
        Some("herald_flow=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        let mut req = no_redirects()
            .get(format!("{}/connect/messenger/callback", h.base))
            .query(&[
                ("wrap_verification_code", "victims-code"),
                ("wrap_client_state", flow_state.as_str()),
            ]);
        if let Some(c) = other_browser {
            assert_ne!(c, started_with);
            req = req.header("cookie", c);
        }
        let cb = req.send().await.unwrap();
        let q = query_of(cb.headers()["location"].to_str().unwrap());
        let expected = if other_browser.is_none() {
            "browser_mismatch"
        } else {
            // The state was used up by the first try.
            "state_replayed"
        };
        assert_eq!(
            (q["status"].as_str(), q["error"].as_str()),
            ("error", expected)
        );
    }
    assert_eq!(
        wl.received_requests().await.unwrap().len(),
        0,
        "the victim's code was never exchanged"
    );
    assert_eq!(
        app.get("/v1/users/attacker/connections").await.body["connections"],
        json!([])
    );
}
