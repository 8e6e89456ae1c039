//! Bluesky end to end against a real @atproto/pds: the user types a handle
//! and app password into Herald's own form (the site never sees it), Herald
//! logs in with createSession, stores the session tokens and the account's
//! PDS, publishes a post with a link facet there, and revokes the session
//! on disconnect.

use herald_e2e::{Herald, flow_cookie, peers};
use serde_json::{Value, json};

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `value` of the form's hidden `state` input.
fn form_state(html: &str) -> String {
    let at = html
        .find(r#"name="state" value=""#)
        .unwrap_or_else(|| panic!("no state in the form: {html}"));
    let rest = &html[at + r#"name="state" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn xrpc(pds: &str, nsid: &str, token: Option<&str>, body: Value) -> Value {
    let mut req = reqwest::Client::new()
        .post(format!("{pds}/xrpc/{nsid}"))
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    assert!(r.status().is_success(), "{nsid}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_user_connects_with_an_app_password_and_posts_to_their_pds() {
    let Some(peer) = peers::bluesky_pds("bluesky::a_user_connects_with_an_app_password") else {
        return;
    };
    herald_core::tls::init();
    let pds = peer.url.as_str();
    let handle = format!(
        "e2e{}.test",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let created = xrpc(
        pds,
        "com.atproto.server.createAccount",
        None,
        json!({"handle": handle, "email": format!("{handle}@example.com"), "password": "main-password-1"}),
    )
    .await;
    let app_password = xrpc(
        pds,
        "com.atproto.server.createAppPassword",
        created["accessJwt"].as_str(),
        json!({"name": "herald"}),
    )
    .await["password"]
        .as_str()
        .unwrap()
        .to_owned();
    let did = created["did"].as_str().unwrap().to_owned();

    let h = Herald::builder()
        .env("HERALD_PROVIDERS__BLUESKY__API_BASE", format!("{pds}/"))
        .env("HERALD_ALLOWED_PRIVATE_NETS", "127.0.0.0/8,::1/128")
        .start()
        .await;
    let app = h.create_app(Some("https://site.example/"));
    let token = app
        .post("/v1/users/ana/connect-tokens", &json!({}))
        .await
        .body["connect_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // 1. Herald's own login form, not a redirect.
    let r = browser()
        .get(format!("{}/connect/bluesky", h.base))
        .query(&[
            ("connect_token", token.as_str()),
            ("redirect_uri", "https://site.example/back"),
            ("state", "site-state"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = flow_cookie(&r);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("form-action 'self' https://site.example;"),
        "the login may redirect to the site: {csp}"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let state = form_state(&r.text().await.unwrap());

    // 2. A wrong app password: the form again, under a new state.
    let login = format!("{}/connect/bluesky/login", h.base);
    let r = browser()
        .post(&login)
        .header("cookie", &cookie)
        .form(&[
            ("state", state.as_str()),
            ("identifier", handle.as_str()),
            ("password", "wrong-wrong-wrong-wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // The new state comes with a cookie of its own.
    let retry_cookie = flow_cookie(&r);
    assert_ne!(retry_cookie, cookie);
    let cookie = retry_cookie;
    let html = r.text().await.unwrap();
    assert!(html.contains("did not accept"), "{html}");
    let again = form_state(&html);
    assert_ne!(again, state);

    assert!(html.contains(&format!(r#"action="{}/connect/bluesky/login""#, h.base)));

    // 3. The right one: connected, back to the site.
    let r = browser()
        .post(&login)
        .header("cookie", &cookie)
        .form(&[
            ("state", again.as_str()),
            ("identifier", handle.as_str()),
            ("password", app_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let (site, code) = herald_e2e::split_connect_code(r.headers()["location"].to_str().unwrap());
    assert_eq!(
        site,
        "https://site.example/back?status=connected&provider=bluesky&state=site-state"
    );
    // The used state cannot log in again.
    let r = browser()
        .post(&login)
        .header("cookie", &cookie)
        .form(&[
            ("state", again.as_str()),
            ("identifier", handle.as_str()),
            ("password", app_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=state_replayed")
    );

    assert_eq!(
        app.get("/v1/users/ana/connections").await.body["connections"],
        json!([]),
        "nothing is connected until the site redeems the code"
    );
    assert_eq!(app.redeem("ana", &code).await.status, 200);
    let conns = app.get("/v1/users/ana/connections").await;
    let c = &conns.body["connections"][0];
    assert_eq!(c["provider"], "bluesky");
    assert_eq!(c["provider_uid"], did.as_str());
    assert_eq!(c["display_name"], handle.as_str());
    assert_eq!(
        c["url"], peer.info["url"],
        "the account's PDS from its DID document"
    );
    assert_eq!(c["has_refresh_token"], true);
    assert!(c["expires_at"].is_string());

    // 4. A publish becomes a post on the account's PDS, with a link facet.
    let link = "https://news.example/café";
    let a = app
        .post(
            "/v1/actions?wait=10000",
            &json!({
                "uid": "ana",
                "enabled_providers": ["bluesky"],
                "action": {"user_message": "Héllo 👋 read this", "link_back": link, "title": "A story"}
            }),
        )
        .await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    let done = app
        .wait_final(
            a.body["id"].as_str().unwrap(),
            std::time::Duration::from_secs(30),
        )
        .await;
    let d = &done["deliveries"][0];
    assert_eq!(d["state"], "published", "{done}");
    let uri = d["post_id"].as_str().unwrap();
    let rkey = uri.rsplit('/').next().unwrap();
    assert!(uri.starts_with(&format!("at://{did}/app.bsky.feed.post/")));
    let record: Value = reqwest::Client::new()
        .get(format!("{pds}/xrpc/com.atproto.repo.getRecord"))
        .query(&[
            ("repo", did.as_str()),
            ("collection", "app.bsky.feed.post"),
            ("rkey", rkey),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = record["value"]["text"].as_str().unwrap();
    assert!(text.starts_with("Héllo 👋 read this"), "{record}");
    let facet = &record["value"]["facets"][0];
    let (start, end) = (
        facet["index"]["byteStart"].as_u64().unwrap() as usize,
        facet["index"]["byteEnd"].as_u64().unwrap() as usize,
    );
    let linked = &text.as_bytes()[start..end];
    let uri_in_facet = facet["features"][0]["uri"].as_str().unwrap();
    assert_eq!(
        std::str::from_utf8(linked).unwrap(),
        uri_in_facet,
        "{record}"
    );
    assert!(uri_in_facet.starts_with("https://news.example/caf"));

    // 5. Disconnect ends the session at the PDS, then deletes it.
    let r = app.delete("/v1/users/ana/connections/bluesky").await;
    assert_eq!(r.status, 204);
    assert!(
        h.log().contains("token revoked at the network"),
        "{}",
        h.log()
    );
    assert!(
        !h.log().contains(&app_password),
        "the app password reached the log"
    );
}
