//! Local webhook sink: the receiving end of every Herald delivery.
//!
//! An actix-web server on a random loopback port accepts `POST` on any path,
//! parses `{"action_id", "delivery_id", ...}` from the body and records the
//! arrival time of the first copy of each delivery. Further copies of the same
//! `delivery_id` are counted as duplicates. Every parsable delivery is answered
//! `200 {"id": "<delivery_id>"}`.
//!
//! Requests under [`FAILING_PREFIX`] stand for a receiver that is down: they
//! are answered `503` and only counted (with the first attempt's time per
//! delivery), for the `--backlog` scenario.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinHandle;

/// Path prefix of the webhooks that always answer 503.
pub const FAILING_PREFIX: &str = "/fail/";

/// The fields of a delivery body the sink cares about.
#[derive(Deserialize)]
struct DeliveryBody {
    action_id: String,
    delivery_id: String,
}

/// First arrival of one delivery.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub action_id: String,
    pub at: Instant,
}

/// Everything the sink recorded.
#[derive(Debug, Default, Clone)]
pub struct SinkRecord {
    /// First arrival per `delivery_id`.
    pub arrivals: HashMap<String, Arrival>,
    /// Distinct deliveries received per `action_id`.
    pub per_action: HashMap<String, usize>,
    /// Copies of an already received `delivery_id`.
    pub duplicates: u64,
    /// Requests whose body was not a delivery (answered 400).
    pub malformed: u64,
    /// Deliveries lacking the `Idempotency-Key` or `Herald-Signature` header.
    pub missing_headers: u64,
    /// Attempts answered 503 under [`FAILING_PREFIX`].
    pub failed_attempts: u64,
    /// First attempt per `delivery_id` under [`FAILING_PREFIX`].
    pub first_failed_attempts: HashMap<String, Arrival>,
}

/// Shared state between the actix workers and the benchmark.
#[derive(Default)]
struct SinkState {
    record: Mutex<SinkRecord>,
    /// Number of distinct deliveries, readable without the lock.
    distinct: AtomicU64,
}

impl SinkState {
    fn lock(&self) -> MutexGuard<'_, SinkRecord> {
        // A panicking handler cannot leave the record half-updated in a way
        // that matters for counting, so a poisoned lock is still usable.
        self.record
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn record_failed(&self, body: DeliveryBody, at: Instant) {
        let mut record = self.lock();
        record.failed_attempts += 1;
        record
            .first_failed_attempts
            .entry(body.delivery_id)
            .or_insert(Arrival {
                action_id: body.action_id,
                at,
            });
    }

    fn record(&self, body: DeliveryBody, at: Instant, has_headers: bool) {
        let mut record = self.lock();
        if !has_headers {
            record.missing_headers += 1;
        }
        if record.arrivals.contains_key(&body.delivery_id) {
            record.duplicates += 1;
            return;
        }
        *record.per_action.entry(body.action_id.clone()).or_default() += 1;
        record.arrivals.insert(
            body.delivery_id,
            Arrival {
                action_id: body.action_id,
                at,
            },
        );
        self.distinct.fetch_add(1, Ordering::Relaxed);
    }
}

/// The running sink server.
pub struct Sink {
    state: Arc<SinkState>,
    port: u16,
    handle: ServerHandle,
    task: JoinHandle<std::io::Result<()>>,
}

impl Sink {
    /// Binds 127.0.0.1:0 and starts serving with `workers` threads.
    pub fn start(workers: usize) -> Result<Self> {
        let state = Arc::new(SinkState::default());
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(workers)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .context("binding the webhook sink")?;
        let port = server
            .addrs()
            .first()
            .context("the webhook sink has no listening address")?
            .port();
        let server = server.run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(Self {
            state,
            port,
            handle,
            task,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Number of distinct deliveries received so far.
    pub fn distinct(&self) -> u64 {
        self.state.distinct.load(Ordering::Relaxed)
    }

    /// Runs `f` on the current record while holding its lock.
    pub fn inspect<T>(&self, f: impl FnOnce(&SinkRecord) -> T) -> T {
        f(&self.state.lock())
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> SinkRecord {
        self.state.lock().clone()
    }

    /// Stops accepting requests and shuts the workers down.
    pub async fn stop(self) {
        self.handle.stop(false).await;
        let _ = self.task.await;
    }
}

/// Handles one delivery.
async fn receive(
    state: web::Data<SinkState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let at = Instant::now();
    let Ok(delivery) = serde_json::from_slice::<DeliveryBody>(&body) else {
        state.lock().malformed += 1;
        return HttpResponse::BadRequest().finish();
    };
    if request.path().starts_with(FAILING_PREFIX) {
        state.record_failed(delivery, at);
        return HttpResponse::ServiceUnavailable().finish();
    }
    let headers = request.headers();
    let has_headers =
        headers.contains_key("idempotency-key") && headers.contains_key("herald-signature");
    let answer = json!({ "id": delivery.delivery_id });
    state.record(delivery, at, has_headers);
    HttpResponse::Ok().json(answer)
}
