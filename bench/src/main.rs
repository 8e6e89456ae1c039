//! `herald-bench`: an end-to-end load generator for the Herald share gateway.
//!
//! It starts a local webhook sink, spawns `herald serve`, registers one user
//! with `--connections` webhook connections pointing at the sink, then drives
//! `POST /v1/actions` at a fixed concurrency for a fixed duration. Afterwards
//! it waits until every delivery of every accepted action reached the sink and
//! prints throughput, latency, correctness (missing / duplicate deliveries)
//! and the server's peak memory.
//!
//! Modules:
//! - [`api`]: the Herald HTTP API client (JWT minting, connections, actions).
//! - [`server`]: spawning and supervising the `herald` process, RSS sampling.
//! - [`sink`]: the local webhook receiver that records every delivery.
//! - [`load`]: the closed-loop load phase and the delivery drain.
//! - [`report`]: turning raw samples into the printed report.
//! - [`prefill`]: `--finished`, finished deliveries written straight into the database.
//!
//! Scenarios on top of the load: `--backlog N` queues N deliveries against
//! webhooks that answer 503 first, `--finished N` prefills N finished
//! deliveries, `--apps K` adds K-1 small apps publishing now and then while
//! the first one floods.

mod api;
mod load;
mod prefill;
mod report;
mod server;
mod sink;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;

use crate::api::ApiClient;
use crate::load::LoadConfig;
use crate::report::{Report, ReportInputs, RunInfo};
use crate::server::{HeraldServer, RssSampler, ServerConfig};
use crate::sink::Sink;

/// Default location of the server binary: `<workspace>/target/release/herald`.
const DEFAULT_HERALD_BIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/herald");

/// How often the server's resident set size is sampled during the run.
const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "herald-bench",
    version,
    about = "End-to-end load generator for Herald: action accept throughput, \
             delivery throughput and latency, duplicate/missing deliveries, peak RSS"
)]
struct Args {
    /// Path to the `herald` binary to benchmark.
    #[arg(long, default_value = DEFAULT_HERALD_BIN)]
    herald_bin: PathBuf,

    /// Database URL for the server (e.g. postgres://postgres@127.0.0.1/bench).
    /// Default: a SQLite file in a fresh temporary data directory.
    #[arg(long)]
    database_url: Option<String>,

    /// Webhook connections given to the benchmark user; every action fans out to all of them.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,

    /// Number of concurrent `POST /v1/actions` loops.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,

    /// Load phase length in seconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    duration: u64,

    /// Maximum seconds to wait, after the load stops, for all deliveries to arrive.
    #[arg(long, default_value_t = 60)]
    drain_timeout: u64,

    /// Maximum seconds to wait for the server's `GET /readyz` to answer 200.
    #[arg(long, default_value_t = 30)]
    ready_timeout: u64,

    /// Milliseconds to keep listening after the drain, to catch late duplicate deliveries.
    #[arg(long, default_value_t = 500)]
    settle_ms: u64,

    /// Worker threads of the local webhook sink.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    sink_workers: u32,

    /// Log filter passed to the server as HERALD_LOG.
    #[arg(long, default_value = "warn")]
    herald_log: String,

    /// Before the load, queue this many deliveries (publishes of a second
    /// user whose webhooks answer 503) and keep them failing during the run.
    #[arg(long, default_value_t = 0)]
    backlog: u64,

    /// Before the load, write this many finished deliveries into the database.
    #[arg(long, default_value_t = 0)]
    finished: u64,

    /// Apps publishing during the load: the first floods, each other one
    /// publishes one action every --small-app-interval-ms.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    apps: u32,

    /// Pause of a small app between two publishes (with --apps > 1).
    #[arg(long, default_value_t = 200)]
    small_app_interval_ms: u64,

    /// Longest the --backlog fill may take, in seconds.
    #[arg(long, default_value_t = 3600)]
    backlog_timeout: u64,

    /// Print the report as one JSON object instead of plain text.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("herald-bench: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the whole benchmark; returns whether every delivery arrived exactly once.
async fn run(args: Args) -> Result<bool> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = api::http_client(args.concurrency as usize)?;

    let sink = Sink::start(args.sink_workers as usize)?;
    progress(&format!(
        "webhook sink listening on 127.0.0.1:{}",
        sink.port()
    ));

    let mut server = HeraldServer::start(&ServerConfig {
        bin: args.herald_bin.clone(),
        database_url: args.database_url.clone(),
        log: args.herald_log.clone(),
    })
    .await?;
    progress(&format!(
        "started herald (pid {}) at {}",
        server.pid(),
        server.base_url()
    ));

    // Whatever happens while measuring, the server and the sink are stopped.
    let outcome = measure(&args, &http, &sink, &mut server).await;
    let stopped = server.stop().await;
    sink.stop().await;
    let report = outcome?;
    stopped?;

    if args.json {
        report.print_json()?;
    } else {
        report.print_text();
    }
    Ok(report.passed())
}

/// Everything between "server spawned" and "report built".
async fn measure(
    args: &Args,
    http: &reqwest::Client,
    sink: &Sink,
    server: &mut HeraldServer,
) -> Result<Report> {
    server
        .wait_ready(http, Duration::from_secs(args.ready_timeout))
        .await?;
    let rss = RssSampler::spawn(server.pid(), RSS_SAMPLE_INTERVAL);

    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let credentials = server.create_app(&format!("bench-{run_id}")).await?;
    let api = ApiClient::new(http.clone(), server.base_url(), &credentials)?;
    let uid: Arc<str> = Arc::from(format!("bench-user-{run_id}"));
    api.setup_webhooks(&uid, args.connections, sink.port())
        .await
        .context("creating the benchmark user's webhook connections")?;
    progress(&format!(
        "app {} ready, user {uid} has {} webhook connection(s)",
        credentials.id, args.connections
    ));

    let finished = if args.finished > 0 {
        progress(&format!("writing {} finished deliveries", args.finished));
        let took =
            prefill::finished_deliveries(server.database_url(), &credentials.id, args.finished)
                .await?;
        progress(&format!("prefilled in {:.1} s", took.as_secs_f64()));
        Some((args.finished, took))
    } else {
        None
    };

    let backlog = if args.backlog > 0 {
        let backlog_uid: Arc<str> = Arc::from(format!("bench-backlog-{run_id}"));
        api.setup_webhooks_at(
            &backlog_uid,
            args.connections,
            sink.port(),
            sink::FAILING_PREFIX,
        )
        .await
        .context("creating the backlog user's failing webhook connections")?;
        progress(&format!(
            "queueing {} deliveries against webhooks that answer 503",
            args.backlog
        ));
        let started = Instant::now();
        let fill = load::run(
            api.clone(),
            backlog_uid,
            LoadConfig {
                stop_after_deliveries: Some(args.backlog as usize),
                ..LoadConfig::flood(
                    args.concurrency as usize,
                    Duration::from_secs(args.backlog_timeout),
                )
            },
        )
        .await?;
        let took = started.elapsed();
        progress(&format!(
            "backlog of {} deliveries queued in {:.1} s ({} errors)",
            fill.expected_deliveries(),
            took.as_secs_f64(),
            fill.errors
        ));
        Some((fill, took))
    } else {
        None
    };

    // The small apps: each its own app, user and one webhook.
    let mut small_apis = Vec::new();
    for i in 1..args.apps {
        let creds = server
            .create_app(&format!("bench-{run_id}-small-{i}"))
            .await?;
        let small = ApiClient::new(http.clone(), server.base_url(), &creds)?;
        let small_uid = format!("bench-small-{run_id}-{i}");
        small
            .setup_webhooks(&small_uid, 1, sink.port())
            .await
            .context("creating a small app's webhook connection")?;
        small_apis.push((small, Arc::<str>::from(small_uid)));
    }
    let smalls: Vec<_> = small_apis
        .into_iter()
        .map(|(small, small_uid)| {
            tokio::spawn(load::run(
                small,
                small_uid,
                LoadConfig {
                    pause: Duration::from_millis(args.small_app_interval_ms),
                    ..LoadConfig::flood(1, Duration::from_secs(args.duration))
                },
            ))
        })
        .collect();

    progress(&format!(
        "loading for {} s at concurrency {} ({} app(s))",
        args.duration, args.concurrency, args.apps
    ));
    let load = load::run(
        api,
        uid,
        LoadConfig::flood(
            args.concurrency as usize,
            Duration::from_secs(args.duration),
        ),
    )
    .await?;
    let mut small = Vec::new();
    for s in smalls {
        small.push(s.await.context("a small app's load panicked")??);
    }
    progress(&format!(
        "load stopped: {} accepted, {} errors; waiting for deliveries",
        load.accepted.len(),
        load.errors
    ));

    let drain_started = Instant::now();
    let mut loads = vec![&load];
    loads.extend(small.iter());
    let drained = load::drain(sink, &loads, Duration::from_secs(args.drain_timeout)).await;
    let drain_elapsed = drain_started.elapsed();
    tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
    server.ensure_running()?;
    let peak_rss_kib = rss.finish();

    Ok(Report::build(ReportInputs {
        info: RunInfo {
            connections: args.connections,
            concurrency: args.concurrency,
            duration_s: args.duration,
            database: database_kind(args.database_url.as_deref()),
        },
        load: &load,
        sink: &sink.snapshot(),
        drained,
        drain_elapsed,
        peak_rss_kib,
        small: &small,
        backlog: backlog.as_ref().map(|(fill, took)| (fill, *took)),
        finished,
    }))
}

/// Short name of the database backend, for the report header.
fn database_kind(url: Option<&str>) -> &'static str {
    match url {
        None => "sqlite (temporary)",
        Some(url) if url.starts_with("postgres") => "postgres",
        Some(url) if url.starts_with("sqlite") => "sqlite",
        Some(_) => "other",
    }
}

/// Progress messages go to stderr so that stdout carries only the report.
fn progress(message: &str) {
    eprintln!("herald-bench: {message}");
}
