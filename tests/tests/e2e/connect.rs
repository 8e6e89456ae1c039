//! Connect flows end to end: a connect token, the WRAP consent redirect, the
//! form-encoded code exchange, the stored connection, and the refusals
//! (replayed state, used token, foreign redirect, denied consent).

use crate::messenger_site;
use herald_e2e::{
    Herald, TestApp, answer, flow_cookie, location_query, messenger_flow, no_redirects,
};
use serde_json::json;
use std::collections::HashMap;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The error a flow's callback `cb` sent the browser back to the site with
/// (its `status` must be `error`).
fn flow_error(cb: &reqwest::Response) -> String {
    let q = location_query(cb);
    assert_eq!(q["status"], "error", "{q:?}");
    q["error"].clone()
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
    let (h, app) = messenger_site(&wl).await;
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
    let cb = h
        .messenger_callback(
            Some(&cookie),
            &flow_state,
            ("wrap_verification_code", "vc-1"),
        )
        .await;
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
    assert_eq!(
        app.get("/v1/users/ana/connections").await.body["connections"],
        json!([]),
        "pending until the site redeems the code"
    );
    let code = q["connect_code"].clone();
    let redeemed = app.redeem("ana", &code).await;
    assert_eq!(redeemed.status, 200, "{:?}", redeemed.body);
    assert_eq!(redeemed.body["connections"][0]["provider_uid"], "cid-77");

    let conns = app.get("/v1/users/ana/connections").await;
    let c = &conns.body["connections"][0];
    assert_eq!(c["provider_uid"], "cid-77");
    assert_eq!(c["has_refresh_token"], true);
    assert!(c["expires_at"].is_string());

    // Replaying the callback changes nothing and says so.
    let replay = h
        .messenger_callback(
            Some(&cookie),
            &flow_state,
            ("wrap_verification_code", "vc-1"),
        )
        .await;
    assert_eq!(flow_error(&replay), "state_replayed");
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
    for t in [
        "tok-flow",
        "rt-flow",
        "vc-1",
        "client-secret-1",
        code.as_str(),
    ] {
        assert!(!h.log().contains(t), "{t} appears in the server log");
    }
}

#[tokio::test]
async fn a_denied_consent_and_a_foreign_redirect_are_refused() {
    let wl = MockServer::start().await;
    let (h, app) = messenger_site(&wl).await;

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
    let (cookie, flow_state) = messenger_flow(&r);
    let cb = h
        .messenger_callback(
            Some(&cookie),
            &flow_state,
            ("wrap_error_reason", "user_denied"),
        )
        .await;
    assert_eq!(flow_error(&cb), "access_denied");
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
    let (h, app) = messenger_site(&wl).await;
    let token = connect_token(&app, "attacker").await;
    let r = start(&h, &token, "https://site.example/back").await;
    assert_eq!(r.status().as_u16(), 302);
    let (started_with, flow_state) = messenger_flow(&r);
    for other_browser in [
        None,
        Some("herald_flow=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        if let Some(c) = other_browser {
            assert_ne!(c, started_with);
        }
        let cb = h
            .messenger_callback(
                other_browser,
                &flow_state,
                ("wrap_verification_code", "victims-code"),
            )
            .await;
        let expected = if other_browser.is_none() {
            "browser_mismatch"
        } else {
            // The state was used up by the first try.
            "state_replayed"
        };
        assert_eq!(flow_error(&cb), expected);
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

#[tokio::test]
async fn a_link_completed_by_another_user_connects_nothing_until_the_site_redeems_it() {
    // The attack: a user keeps their own connect link and sends it to a
    // victim, whose browser starts and finishes the flow (so the browser
    // binding holds). The victim's account must not become usable for the
    // attacker's uid: the site confirms who finished the flow.
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/AccessToken.aspx"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "wrap_access_token=victims-token&wrap_access_token_expires_in=3600&wrap_refresh_token=victims-rt&uid=cid-victim",
        ))
        .expect(1)
        .mount(&wl)
        .await;
    let (h, app) = messenger_site(&wl).await;
    let token = connect_token(&app, "attacker").await;

    // The victim's browser opens the link, consents and comes back.
    let r = start(&h, &token, "https://site.example/connected").await;
    assert_eq!(r.status().as_u16(), 302);
    let (victims_cookie, flow_state) = messenger_flow(&r);
    let cb = h
        .messenger_callback(
            Some(&victims_cookie),
            &flow_state,
            ("wrap_verification_code", "victims-code"),
        )
        .await;
    assert_eq!(cb.status().as_u16(), 302);
    let q = location_query(&cb);
    assert_eq!(q["status"], "connected");
    let code = q.get("connect_code").expect("a connect_code for the site");

    // Not redeemed: nothing is active for the attacker, and nothing is
    // published to the victim's account.
    let listed = app.get("/v1/users/attacker/connections").await;
    assert!(
        listed.body["connections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] != "active"),
        "{}",
        listed.body
    );
    let a = app
        .post(
            "/v1/actions?wait=3000",
            &json!({"uid": "attacker", "action": {"title": "spam", "link_back": "https://site.example/x"}}),
        )
        .await;
    assert!(
        a.body["deliveries"].as_array().is_none_or(|d| d.is_empty()),
        "{:?}",
        a.body
    );
    assert!(
        wl.received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| !r.url.path().contains("MyActivities")),
        "nothing was published to the victim's account"
    );

    // The site's backend redeems for the user logged in on the site (the
    // victim): the code was issued for another uid, so 404; nothing moves.
    let wrong = app.redeem("victim", code).await;
    assert_eq!(wrong.status, 404, "{:?}", wrong.body);
    assert_eq!(
        app.get("/v1/users/victim/connections").await.body["connections"],
        json!([])
    );
    // The site turned the code down, so it is burned: the attacker, landing
    // on the site's connect page with it in their own session, gets nothing
    // (before, the code stayed valid for its ten minutes). Another app gets
    // nothing either. The flow's tokens are left to the sweep, which revokes
    // them (store and dispatch tests).
    let late = app.redeem("attacker", code).await;
    assert_eq!(
        late.status, 404,
        "a refused code is burned: {:?}",
        late.body
    );
    let other_app = h.create_app(Some("https://site.example/"));
    assert_eq!(other_app.redeem("attacker", code).await.status, 404);
    assert_eq!(
        app.get("/v1/users/attacker/connections").await.body["connections"],
        json!([])
    );
}

/// The flow cookie's name for `flow_state` over plain HTTP (the e2e server's
/// public URL): `herald_flow_` and 16 hex digits of the state's SHA-256.
fn cookie_name_for(flow_state: &str) -> String {
    use sha2::Digest;
    format!(
        "herald_flow_{}",
        &hex::encode(sha2::Sha256::digest(flow_state.as_bytes()))[..16]
    )
}

#[tokio::test]
async fn a_planted_flow_cookie_is_never_adopted() {
    // Cookie fixation: the browser arrives with a value somebody else knows.
    let wl = MockServer::start().await;
    let (h, app) = messenger_site(&wl).await;
    let planted = "PLANTEDPLANTEDPLANTEDPLANTEDPLANTEDPLANTED0";
    assert_eq!(planted.len(), 43);
    let token = connect_token(&app, "ana").await;
    let r = no_redirects()
        .get(format!("{}/connect/messenger", h.base))
        .header(
            "cookie",
            format!("herald_flow={planted}; __Host-herald_flow={planted}"),
        )
        .query(&[
            ("connect_token", token.as_str()),
            ("redirect_uri", "https://site.example/back"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let (issued, flow_state) = messenger_flow(&r);
    assert!(!issued.contains(planted), "a new value: {issued}");
    let name = cookie_name_for(&flow_state);
    assert!(issued.starts_with(&format!("{name}=")), "{issued}");

    // The planted value does not pass the callback, under any name.
    let cb = h
        .messenger_callback(
            Some(&format!(
                "{name}={planted}; herald_flow={planted}; __Host-herald_flow={planted}"
            )),
            &flow_state,
            ("wrap_verification_code", "vc"),
        )
        .await;
    assert_eq!(flow_error(&cb), "browser_mismatch");
    assert_eq!(wl.received_requests().await.unwrap().len(), 0);
}

#[tokio::test]
async fn only_the_cookie_name_of_the_public_urls_scheme_is_accepted() {
    let wl = MockServer::start().await;
    let (h, app) = messenger_site(&wl).await;
    let r = start(
        &h,
        &connect_token(&app, "ana").await,
        "https://site.example/back",
    )
    .await;
    let (issued, flow_state) = messenger_flow(&r);
    assert!(issued.starts_with("herald_flow_"), "plain HTTP: {issued}");
    let value = issued.split_once('=').unwrap().1.to_owned();
    // The right value under the HTTPS name, on a server whose public URL is
    // plain HTTP, is not the flow's cookie.
    let cb = h
        .messenger_callback(
            Some(&format!("__Host-{}={value}", cookie_name_for(&flow_state))),
            &flow_state,
            ("wrap_verification_code", "vc"),
        )
        .await;
    assert_eq!(flow_error(&cb), "browser_mismatch");
    assert_eq!(wl.received_requests().await.unwrap().len(), 0);
}

#[tokio::test]
async fn flows_in_two_tabs_both_complete() {
    let wl = MockServer::start().await;
    for (code, account) in [("vc-a", "cid-a"), ("vc-b", "cid-b")] {
        Mock::given(method("POST"))
            .and(path("/AccessToken.aspx"))
            .and(body_string_contains(format!(
                "wrap_verification_code={code}"
            )))
            .respond_with(ResponseTemplate::new(200).set_body_string(format!(
                "wrap_access_token=tok-{account}&wrap_access_token_expires_in=3600&uid={account}"
            )))
            .expect(1)
            .mount(&wl)
            .await;
    }
    let (h, app) = messenger_site(&wl).await;
    // One browser: both flows start before either finishes, and the browser
    // sends every cookie it holds on each callback.
    let mut tabs = Vec::new();
    for _ in 0..2 {
        let r = start(
            &h,
            &connect_token(&app, "ana").await,
            "https://site.example/back",
        )
        .await;
        tabs.push(messenger_flow(&r));
    }
    let jar = format!("{}; {}", tabs[0].0, tabs[1].0);
    for ((_, flow_state), code) in tabs.iter().zip(["vc-b", "vc-a"]) {
        let cb = h
            .messenger_callback(Some(&jar), flow_state, ("wrap_verification_code", code))
            .await;
        let back = cb.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(query_of(&back)["status"], "connected", "{back}");
        app.redeem_from("ana", &back).await;
    }
    let conns = app.get("/v1/users/ana/connections").await;
    let mut accounts: Vec<&str> = conns.body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["provider_uid"].as_str().unwrap())
        .collect();
    accounts.sort();
    assert_eq!(accounts, ["cid-a", "cid-b"]);
}

#[tokio::test]
async fn a_read_only_key_gets_no_reconnect_url() {
    let wl = MockServer::start().await;
    let (h, app, _) = crate::a_refused_refresh(&wl).await;
    // The app's own secret may connect: it gets the reconnect URL.
    let full = app.get("/v1/users/ana/connections").await;
    assert_eq!(full.body["connections"][0]["status"], "needs_reauth");
    assert!(full.body["connections"][0]["reconnect_url"].is_string());

    // An RS256 key with only the read permission.
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = crate::gigya::rsa_pair(dir.path());
    let out = h.cli(&[
        "admin", "token", "--sub", "tester", "--role", "admin", "--ttl", "1h",
    ]);
    assert!(out.status.success());
    let admin = String::from_utf8(out.stdout).unwrap();
    let admin = admin
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap()
        .trim();
    let key = answer(
        h.http
            .post(format!("{}/admin/v1/apps/{}/keys", h.base, app.id))
            .bearer_auth(admin)
            .json(&json!({
                "kind": "rsa",
                "public_key_pem": std::fs::read_to_string(&public).unwrap(),
                "permissions": ["read"],
            }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(key.status, 201, "{:?}", key.body);
    let kid = key.body["user_key"].as_str().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let read = answer(
        h.http
            .get(format!("{}/v1/users/ana/connections", h.base))
            .bearer_auth(crate::gigya::rs256(&private, kid, "read-1", now))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    let c = &read.body["connections"][0];
    assert_eq!(c["status"], "needs_reauth", "the rest of the view: {c}");
    assert_eq!(c["provider_uid"], "cid-42");
    assert!(c.get("reconnect_url").is_none(), "{c}");
    // Nor may it redeem a connect code.
    let redeem = answer(
        h.http
            .post(format!("{}/v1/users/ana/connections/redeem", h.base))
            .bearer_auth(crate::gigya::rs256(&private, kid, "read-2", now))
            .json(&json!({"connect_code": "whatever"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(redeem.status, 403, "{:?}", redeem.body);
}

#[tokio::test]
async fn a_user_holds_at_most_the_cap_of_connections_per_provider() {
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/AccessToken.aspx"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "wrap_access_token=tok-flow&wrap_access_token_expires_in=3600&uid=cid-flow",
        ))
        .mount(&wl)
        .await;
    let h = Herald::builder()
        .messenger_at(&wl.uri())
        .env("HERALD_GIGYA__TRUSTED_PROXIES", "127.0.0.1/32")
        .start()
        .await;
    let app = h.create_app(Some("https://site.example/"));
    let import = |n: String| {
        let app = &app;
        async move {
            app.put(
                "/v1/users/ana/connections/messenger",
                &json!({"access_token": "t", "provider_uid": n}),
            )
            .await
        }
    };
    for i in 0..20 {
        assert_eq!(import(format!("cid-{i}")).await.status, 200);
    }
    let r = import("cid-20".into()).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "provider", "{:?}", r.body);
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("messenger")
    );
    // Updating one held is not capped; another user or network is not.
    assert_eq!(import("cid-3".into()).await.status, 200);
    assert_eq!(
        app.put(
            "/v1/users/bob/connections/messenger",
            &json!({"access_token": "t", "provider_uid": "cid-20"}),
        )
        .await
        .status,
        200
    );

    // So is a Gigya notifyLogin handing in a 21st account (400006 naming
    // the provider's session); one already held is updated.
    let notify = |account: &'static str| {
        let (h, app) = (&h, &app);
        async move {
            answer(
                h.http
                    .post(format!("{}/socialize.notifyLogin", h.base))
                    .header("X-Forwarded-Proto", "https")
                    .form(&[
                        ("apiKey", app.api_key.as_str()),
                        ("secret", app.secret.as_str()),
                        ("siteUID", "ana"),
                        (
                            "providerSessions",
                            json!({"messenger": {"authToken": "t", "providerUID": account}})
                                .to_string()
                                .as_str(),
                        ),
                    ])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let g = notify("cid-21").await;
    assert_eq!(g.body["errorCode"], 400006, "{:?}", g.body);
    assert!(
        g.body.to_string().contains("providerSessions.messenger"),
        "{:?}",
        g.body
    );
    assert_eq!(notify("cid-4").await.body["errorCode"], 0);

    // A connect flow for a 21st account is refused too.
    let r = start(
        &h,
        &connect_token(&app, "ana").await,
        "https://site.example/back",
    )
    .await;
    let (cookie, flow_state) = messenger_flow(&r);
    let cb = h
        .messenger_callback(Some(&cookie), &flow_state, ("wrap_verification_code", "vc"))
        .await;
    assert_eq!(flow_error(&cb), "too_many_connections");
    assert_eq!(
        app.get("/v1/users/ana/connections").await.body["connections"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
}
