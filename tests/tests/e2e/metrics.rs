//! Observability end to end: `/metrics` lists every series of
//! `herald_core::telemetry::ALL` on a fresh node, before any traffic; a
//! publish moves the counters; the queue gauges follow the queue; JSON logs
//! carry the app, action and delivery ids of a delivery's lines.

use herald_core::telemetry;
use herald_e2e::Herald;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn scrape(h: &Herald) -> String {
    let r = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The value of the sample `series` (name with its labels as exported, e.g.
/// `herald_deliveries_total{provider="webhook",outcome="published"}`), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Whether `name` has at least one sample (a histogram: its `_count`).
fn listed(text: &str, name: &str) -> bool {
    text.lines().filter(|l| !l.starts_with('#')).any(|l| {
        let series = l.split([' ', '{']).next().unwrap_or_default();
        series == name || series == format!("{name}_count")
    })
}

/// Scrapes until `ok` holds (the counters move when the worker has finished,
/// the gauges every few seconds), or panics with the last scrape.
async fn scrape_until(h: &Herald, max: Duration, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + max;
    loop {
        let text = scrape(h).await;
        if ok(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "not reached in {max:?}:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn webhook_user(app: &herald_e2e::TestApp, sink: &MockServer) {
    let r = app
        .put(
            "/v1/users/ana/connections/webhook",
            &json!({"provider_uid": "a", "url": format!("{}/hook", sink.uri()), "secret": "s"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn a_fresh_node_lists_every_series_and_a_publish_moves_them() {
    let sink = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "r1"})))
        .mount(&sink)
        .await;
    let h = Herald::start().await;
    let fresh = scrape(&h).await;
    for name in telemetry::ALL {
        assert!(
            listed(&fresh, name),
            "{name} missing before any traffic:\n{fresh}"
        );
    }
    let published = r#"herald_deliveries_total{provider="webhook",outcome="published"}"#;
    let accepted = r#"herald_http_requests_total{route="/v1/actions",status="202"}"#;
    assert_eq!(sample(&fresh, published), Some(0.0));
    assert_eq!(sample(&fresh, accepted), Some(0.0));
    assert_eq!(sample(&fresh, "herald_actions_accepted_total"), Some(0.0));
    assert_eq!(
        sample(&fresh, r#"herald_queue_depth{state="queued"}"#),
        Some(0.0)
    );
    // Every provider of the registry has its series.
    for p in [
        "webhook",
        "mastodon",
        "bluesky",
        "x",
        "linkedin",
        "facebook",
        "messenger",
    ] {
        let s = format!(r#"herald_breaker_state{{provider="{p}"}}"#);
        assert_eq!(sample(&fresh, &s), Some(0.0), "{s}");
    }

    let app = h.create_app(None);
    webhook_user(&app, &sink).await;
    let a = app
        .post(
            "/v1/actions?wait=10000",
            &json!({"uid": "ana", "action": {"user_message": "hi"}}),
        )
        .await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    let id = a.body["id"].as_str().unwrap().to_owned();
    app.wait_final(&id, Duration::from_secs(10)).await;

    let after = scrape_until(&h, Duration::from_secs(10), |t| {
        sample(t, published) == Some(1.0)
    })
    .await;
    assert_eq!(sample(&after, accepted), Some(1.0));
    assert_eq!(sample(&after, "herald_actions_accepted_total"), Some(1.0));
    assert_eq!(sample(&after, "herald_accept_seconds_count"), Some(1.0));
    // The accept went through a group commit of at least itself.
    assert_eq!(
        sample(&after, r#"herald_commit_batch_size_count{kind="accept"}"#).map(|n| n >= 1.0),
        Some(true),
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            r#"herald_publish_seconds_count{provider="webhook"}"#
        ),
        Some(1.0)
    );
    // The route label is the pattern, not the path with the action's id.
    assert_eq!(
        sample(
            &after,
            r#"herald_http_requests_total{route="/v1/actions/{id}",status="200"}"#
        )
        .map(|n| n >= 1.0),
        Some(true),
        "{after}"
    );
    assert!(!after.contains(&id), "an id became a label:\n{after}");
    // A path no route matches is counted under one label.
    let r = h
        .http
        .get(format!("{}/no/such/{}", h.base, uuid::Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    scrape_until(&h, Duration::from_secs(5), |t| {
        sample(
            t,
            r#"herald_http_requests_total{route="unmatched",status="404"}"#,
        ) == Some(1.0)
    })
    .await;
}

#[tokio::test]
async fn the_queue_gauges_follow_a_waiting_delivery() {
    let sink = MockServer::start().await;
    // Told to come back in an hour (backoff has jitter; Retry-After does
    // not): the delivery stays queued and not due for the whole test.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .mount(&sink)
        .await;
    let h = Herald::start().await;
    let app = h.create_app(None);
    webhook_user(&app, &sink).await;
    let a = app
        .post(
            "/v1/actions",
            &json!({"uid": "ana", "action": {"user_message": "hi"}}),
        )
        .await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    let text = scrape_until(&h, Duration::from_secs(20), |t| {
        sample(
            t,
            r#"herald_deliveries_total{provider="webhook",outcome="retry"}"#,
        ) == Some(1.0)
            && sample(t, r#"herald_queue_depth{state="queued"}"#) == Some(1.0)
    })
    .await;
    assert_eq!(
        sample(&text, r#"herald_queue_depth{state="sending"}"#),
        Some(0.0)
    );
    // Not due for a minute: nothing due is waiting.
    assert_eq!(sample(&text, "herald_oldest_due_age_seconds"), Some(0.0));
}

#[tokio::test]
async fn json_logs_carry_the_delivery_ids() {
    let sink = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "r1"})))
        .mount(&sink)
        .await;
    let h = Herald::builder()
        .env("HERALD_LOG_FORMAT", "json")
        .start()
        .await;
    let app = h.create_app(None);
    webhook_user(&app, &sink).await;
    let a = app
        .post(
            "/v1/actions?wait=10000",
            &json!({"uid": "ana", "action": {"user_message": "hi"}}),
        )
        .await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    let action = a.body["id"].as_str().unwrap().to_owned();
    let delivery = a.body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    app.wait_final(&action, Duration::from_secs(10)).await;

    // The line is written before the outcome is recorded: it is there now.
    let log = h.log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!lines.is_empty(), "no JSON log lines:\n{log}");
    let line = lines
        .iter()
        .find(|l| l["fields"]["message"] == "published")
        .unwrap_or_else(|| panic!("no `published` line:\n{log}"));
    let span = &line["span"];
    assert_eq!(span["name"], "delivery", "{line}");
    assert_eq!(span["app"], app.id.as_str(), "{line}");
    assert_eq!(span["action"], action.as_str(), "{line}");
    assert_eq!(span["delivery"], delivery.as_str(), "{line}");
    assert_eq!(span["provider"], "webhook", "{line}");
}
