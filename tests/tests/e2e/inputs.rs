//! Bounded inputs through the binary: a body trickled past the read deadline
//! is cut off, Gigya uids and token expirations are range-checked, and every
//! link Herald would publish or redirect to stays on the app's domains.

use crate::admin::{accepting_windows_live, gigya, gigya_code, news_site, set_domains};
use crate::connect_messenger;
use herald_e2e::{Answer, Herald, no_redirects};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn details(a: &Answer) -> String {
    a.body["errorDetails"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

// ------------------------------------------------------------ read deadline

/// Sends `head` at once and then `piece` every 200 ms, until the server
/// answers and closes or `limit` passes; returns what the server sent (`None`
/// when it never closed) and how long it took.
async fn trickle(
    addr: String,
    head: String,
    piece: &'static [u8],
    limit: Duration,
) -> (Option<Vec<u8>>, Duration) {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&addr).expect("connect");
        stream.write_all(head.as_bytes()).expect("head");
        let started = Instant::now();
        let mut reader = stream.try_clone().expect("clone");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            let _ = reader.read_to_end(&mut got);
            let _ = tx.send(got);
        });
        loop {
            // The trickle's pace; the loop ends on the reader's report.
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(got) => return (Some(got), started.elapsed()),
                Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() < limit => {
                    // A refused write means the server closed: the reader
                    // reports next.
                    let _ = stream.write_all(piece);
                }
                Err(_) => return (None, started.elapsed()),
            }
        }
    })
    .await
    .expect("client thread")
}

#[tokio::test]
async fn a_trickled_body_is_cut_off_at_the_read_deadline() {
    let deadline = Duration::from_secs(1);
    let h = Herald::builder()
        .env("HERALD_HTTP__BODY_TIMEOUT_SECONDS", "1")
        .start()
        .await;
    let app = h.create_app(None);
    let addr = h.base.trim_start_matches("http://").to_owned();
    let limit = deadline * 5;
    let head = |auth: bool, framing: &str| {
        let auth = if auth {
            format!("Authorization: Bearer {}\r\n", app.token())
        } else {
            String::new()
        };
        format!(
            "POST /v1/actions HTTP/1.1\r\nHost: {addr}\r\n{auth}\
             Content-Type: application/json\r\n{framing}\r\n"
        )
    };
    // The attacker: headers at once, then the body a byte at a time. With a
    // length, and chunked (actix drains an unread chunked body without any
    // timer, so the connection must be closed, not drained); and chunked to
    // a request refused before its body is read (401), which must not hold
    // the connection either.
    for (name, head, piece, answers) in [
        (
            "content-length",
            head(true, "Content-Length: 100000\r\n") + "{",
            &b" "[..],
            "HTTP/1.1 408",
        ),
        (
            "chunked",
            head(true, "Transfer-Encoding: chunked\r\n") + "1\r\n{\r\n",
            &b"1\r\n \r\n"[..],
            "HTTP/1.1 408",
        ),
        (
            "chunked, refused unread",
            head(false, "Transfer-Encoding: chunked\r\n") + "1\r\n{\r\n",
            &b"1\r\n \r\n"[..],
            "HTTP/1.1 401",
        ),
    ] {
        let (answer, elapsed) = trickle(addr.clone(), head, piece, limit).await;
        let got = answer.unwrap_or_else(|| {
            panic!("{name}: the trickling request was still open after {elapsed:?} (deadline {deadline:?})")
        });
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.is_empty() || text.starts_with(answers),
            "{name}: expected {answers} or a closed connection, got {text:?}"
        );
        assert!(elapsed < limit, "{name}: {elapsed:?}");
    }

    // A body sent at once is still read.
    let a = app
        .post(
            "/v1/actions",
            &json!({"uid": "ana", "action": {"title": "t"}}),
        )
        .await;
    assert_eq!(a.status, 422, "{:?}", a.body);
}

// ------------------------------------------------------------ Gigya ranges

#[tokio::test]
async fn gigya_uids_are_capped_and_token_expirations_range_checked() {
    let h = Herald::builder()
        .env("HERALD_GIGYA__TRUSTED_PROXIES", "127.0.0.1/32")
        .start()
        .await;
    let app = h.create_app(None);
    let auth = || {
        vec![
            ("apiKey", app.api_key.clone()),
            ("secret", app.secret.clone()),
        ]
    };
    let long = "u".repeat(257);
    for m in [
        "socialize.getUserInfo",
        "socialize.setStatus",
        "socialize.removeConnection",
        "socialize.deleteAccount",
    ] {
        let mut p = auth();
        p.push(("UID", long.clone()));
        p.push(("status", "hi".into()));
        let a = gigya(&h, m, &p).await;
        assert_eq!(gigya_code(&a), 400006, "{m}: {:?}", a.body);
        assert!(details(&a).contains("UID"), "{m}: {:?}", a.body);
    }
    let mut p = auth();
    p.push(("uid", long.clone()));
    assert_eq!(
        gigya_code(&gigya(&h, "socialize.getUserInfo", &p).await),
        400006
    );
    let mut p = auth();
    p.push(("UID", "u".repeat(256)));
    assert_eq!(gigya_code(&gigya(&h, "socialize.getUserInfo", &p).await), 0);

    // A token expiration that overflows milliseconds is refused, not wrapped
    // round to 1969.
    for exp in [json!(i64::MAX), json!(i64::MAX.to_string()), json!(-1)] {
        let mut p = auth();
        p.push(("siteUID", "ana".into()));
        p.push((
            "providerSessions",
            json!({"messenger": {"authToken": "t", "providerUID": "cid-42", "tokenExpiration": exp}})
                .to_string(),
        ));
        let a = gigya(&h, "socialize.notifyLogin", &p).await;
        assert_eq!(gigya_code(&a), 400006, "{exp}: {:?}", a.body);
        assert!(
            details(&a).contains("providerSessions.messenger.tokenExpiration"),
            "{:?}",
            a.body
        );
    }
    let mut p = auth();
    p.push(("UID", "ana".into()));
    let info = gigya(&h, "socialize.getUserInfo", &p).await;
    assert_eq!(info.body["identities"], json!([]), "nothing stored");
}

// ------------------------------------------------------------ domains

#[tokio::test]
async fn every_published_or_redirected_link_stays_on_the_apps_domains() {
    let wl = accepting_windows_live().await;
    let (h, app) = news_site(&wl).await;
    connect_messenger(&app, "ana", "tok-1").await;
    let auth = || {
        vec![
            ("apiKey", app.api_key.clone()),
            ("secret", app.secret.clone()),
        ]
    };
    let no_redirect = no_redirects();

    // A short link made while the app named no domains leads anywhere …
    let mut p = auth();
    p.push(("url", "https://evil.example/old".into()));
    let a = gigya(&h, "socialize.shortenURL", &p).await;
    assert_eq!(gigya_code(&a), 0, "{:?}", a.body);
    let old = a.body["shortURL"].as_str().unwrap().to_owned();
    let r = no_redirect.get(&old).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    // … and nowhere off the site once it names them.
    set_domains(&h, &app.id, json!(["news.example"])).await;
    let r = no_redirect.get(&old).send().await.unwrap();
    assert_eq!(
        r.status().as_u16(),
        404,
        "{:?}",
        r.headers().get("location")
    );

    // shortenURL: a short link on Herald's host must not lead off the site.
    let mut p = auth();
    p.push(("url", "https://evil.example/phish".into()));
    let a = gigya(&h, "socialize.shortenURL", &p).await;
    assert_eq!(gigya_code(&a), 400120, "{:?}", a.body);
    assert!(details(&a).contains("url"), "{:?}", a.body);
    assert!(a.body.get("shortURL").is_none(), "{:?}", a.body);
    let mut p = auth();
    p.push(("url", "https://www.news.example/a".into()));
    let a = gigya(&h, "socialize.shortenURL", &p).await;
    assert_eq!(gigya_code(&a), 0, "{:?}", a.body);
    let r = no_redirect
        .get(a.body["shortURL"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(r.headers()["location"], "https://www.news.example/a");

    // /v1: every link field of the action, named.
    let base = || json!({"title": "t", "link_back": "https://news.example/a"});
    let cases = [
        (
            json!({"media_items": [{"type": "image", "src": "https://news.example/a.jpg", "preview_image_url": "https://evil.example/p.jpg"}]}),
            "action.media_items[0].preview_image_url",
        ),
        (
            json!({"media_items": [{"type": "image", "src": "https://evil.example/a.jpg"}]}),
            "action.media_items[0].src",
        ),
        (
            json!({"action_links": [{"text": "ok", "href": "https://news.example/"}, {"text": "go", "href": "https://evil.example/"}]}),
            "action.action_links[1].href",
        ),
        (
            json!({"template": "{actor} read {thing}", "template_fields": {"thing": {"text": "x", "href": "https://evil.example/"}}}),
            "action.template_fields.thing.href",
        ),
        (
            json!({"link_back": "https://evil.example/"}),
            "action.link_back",
        ),
    ];
    for (extra, field) in cases {
        let mut action = base();
        for (k, v) in extra.as_object().unwrap() {
            action[k] = v.clone();
        }
        let a = app
            .post("/v1/actions", &json!({"uid": "ana", "action": action}))
            .await;
        assert_eq!(a.status, 400, "{field}: {:?}", a.body);
        assert_eq!(
            a.body["code"], "domain_not_allowed",
            "{field}: {:?}",
            a.body
        );
        assert_eq!(a.body["errors"][0]["field"], field, "{:?}", a.body);
    }

    // Gigya publishUserAction: the same fields, Gigya's code and names; with
    // shortURLs=always no short link is minted for a foreign link first.
    for (ua, field) in [
        (
            json!({"title": "t", "actionLinks": [{"text": "go", "href": "https://evil.example/"}]}),
            "userAction.actionLinks[0].href",
        ),
        (
            json!({"title": "t", "linkBack": "https://evil.example/"}),
            "userAction.linkBack",
        ),
    ] {
        let mut p = auth();
        p.push(("UID", "ana".into()));
        p.push(("shortURLs", "always".into()));
        p.push(("userAction", ua.to_string()));
        let a = gigya(&h, "socialize.publishUserAction", &p).await;
        assert_eq!(gigya_code(&a), 400120, "{:?}", a.body);
        assert!(details(&a).contains(field), "{field}: {:?}", a.body);
    }

    // shortURLs=always on a link within the domains: the short link on
    // Herald's own host is what gets published.
    let mut p = auth();
    p.push(("UID", "ana".into()));
    p.push(("shortURLs", "always".into()));
    p.push((
        "userAction",
        json!({"title": "t", "linkBack": "https://news.example/s"}).to_string(),
    ));
    let a = gigya(&h, "socialize.publishUserAction", &p).await;
    assert_eq!(gigya_code(&a), 0, "{:?}", a.body);

    // Within the domains everything is accepted.
    let ok = json!({"uid": "ana", "action": {
        "title": "t",
        "link_back": "https://news.example/a",
        "media_items": [{"type": "image", "src": "https://cdn.news.example/a.jpg", "href": "https://news.example/", "preview_image_url": "https://news.example/p.jpg"}],
        "action_links": [{"text": "go", "href": "https://news.example/go"}],
        "template": "{actor} read {thing}",
        "template_fields": {"thing": {"text": "x", "href": "https://news.example/x"}}
    }});
    let a = app.post("/v1/actions", &ok).await;
    assert_eq!(a.status, 202, "{:?}", a.body);
}
