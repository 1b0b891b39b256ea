//! The HTTP server (`guichet serve`, and the demo's): starts the runtime and
//! logging, recovers the data directory, accepts connections (a bounded
//! number at once), serves HTTP/1.1 keep-alive with the time limits of
//! `watchdog` (idle, request head, request, write), and on SIGINT or SIGTERM
//! stops accepting, finishes the requests in flight (their answers say
//! `Connection: close`), snapshots, and exits.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use guichet_engine::maintenance::{Maintenance, MaintenanceOptions};
use guichet_engine::store::{Engine, EngineOptions};
use guichet_engine::wal::WalOptions;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cluster::{EngineSetup, Primary};
use crate::config::{LogFormat, ServeArgs, ServeConfig};
use crate::http::app::App;
use crate::http::error::ApiError;
use crate::http::handlers::handle;
use crate::http::limiter::WindowLimiter;
use crate::http::router::{metric_labels, Router};
use crate::mail_status::MailStatus;
use crate::metrics::Metrics;
use crate::spare_cpu::SpareCpu;
use crate::watchdog::{with_deadline, ConnectionLimits, Watchdog, WatchedStream};

/// How long in-flight requests get to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// `guichet serve`: runs the server until a signal.
pub fn run(args: &ServeArgs) -> ExitCode {
    serve_with(args, |_, _| {})
}

/// Runs the server; `then` runs once it listens (the demo creates its event there).
pub(crate) fn serve_with(args: &ServeArgs, then: impl FnOnce(SocketAddr, &App)) -> ExitCode {
    let config = match args.resolve() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("guichet serve: {error}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = config.workers {
        builder.worker_threads(workers);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("guichet serve: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let generated_token = config.admin_token.is_none();
    let served = runtime.block_on(serve(config, |address, app| {
        if generated_token {
            println!("admin token: {}", app.admin_token);
        }
        then(address, app);
    }));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("guichet serve: {error}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GUICHET_LOG").unwrap_or_else(|_| "info".into());
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colours);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Recovers the data directory, serves until a signal, then stops cleanly.
async fn serve(config: ServeConfig, on_ready: impl FnOnce(SocketAddr, &App)) -> Result<(), String> {
    let listener =
        TcpListener::bind(config.listen).await.map_err(|e| format!("listening on {}: {e}", config.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let options = EngineOptions {
        wal: WalOptions { durability: config.durability, ..WalOptions::default() },
        poll_tolerance_percent: config.poll_tolerance_percent,
        ..EngineOptions::default()
    };
    let clock: Arc<dyn guichet_engine::clock::Clock> = Arc::new(guichet_engine::clock::SystemClock::new());
    let mut primary = match &config.cluster {
        None => None,
        Some(cluster) => {
            // A standby answers from the start (503 not_primary).
            say_listening(address);
            let setup = EngineSetup { options: options.clone(), clock: clock.clone() };
            let taken = crate::cluster::take_over(cluster, &config.data_dir, &setup, &listener, shutdown_signal());
            match taken.await.map_err(|e| e.to_string())? {
                Some(primary) => Some(primary),
                None => return Ok(()),
            }
        }
    };
    let options = EngineOptions {
        replication: primary.as_ref().map(|p| p.replication.clone() as Arc<dyn guichet_engine::wal::Replication>),
        personal_key_table: primary.as_ref().map(|p| p.personal_key_table()),
        ..options
    };
    let follower = primary.as_mut().and_then(Primary::take_follower);
    let data_dir = config.data_dir.clone();
    let (engine, report) = tokio::task::spawn_blocking(move || match follower {
        Some(follower) => follower.promote(options),
        None => Engine::open_dir(&data_dir, options, clock),
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    tracing::info!(
        records = report.records_replayed,
        records_followed = report.records_followed,
        events = report.events,
        "data directory {} recovered",
        config.data_dir.display()
    );
    let engine = Arc::new(engine);
    let cluster_meters = primary.as_ref().map(|p| p.meters.clone());
    if let Some(meters) = &cluster_meters {
        meters.takeover_records_replayed.set(report.records_replayed as i64);
    }
    let hand_over = match primary {
        Some(primary) => Some(primary.start_term(&engine).await.map_err(|e| e.to_string())?),
        None => None,
    };
    let upkeep =
        MaintenanceOptions { snapshot_every_records: config.snapshot_every_records, ..MaintenanceOptions::default() };
    let maintenance = Maintenance::start(engine.clone(), upkeep).map_err(|e| e.to_string())?;
    let admin_token = config.admin_token.clone().unwrap_or_else(generate_admin_token);
    let providers = Arc::new(crate::payments::Providers::new(&config.payments));
    let metrics = Metrics::new(metric_labels());
    if let Some(meters) = cluster_meters {
        metrics.register(meters.collectors());
    }
    let relay = config.mail.as_ref().map(|mail| mail.relay.clone());
    let mail = Arc::new(MailStatus::new(relay, metrics.mail_meters()));
    let spare = Arc::new(SpareCpu::start().map_err(|e| format!("starting the background worker: {e}"))?);
    let app = Arc::new(App {
        engine: engine.clone(),
        admin_token,
        max_body_bytes: config.max_body_bytes,
        metrics,
        mail: mail.clone(),
        join_limiter: WindowLimiter::new(config.joins_per_minute_per_client),
        trusted_proxies: config.trusted_proxies.clone(),
        seat_call_limiter: WindowLimiter::new(config.seat_calls_per_minute_per_buyer),
        drawings: Default::default(),
        lookup_limiter: crate::http::limiter::LookupLimiter::default(),
        providers: providers.clone(),
        spare: spare.clone(),
        replication_wait: config.cluster.as_ref().map(|c| c.append_timeout * 2),
    });
    let refund_worker = tokio::spawn(crate::payments::refunds::run(engine.clone(), providers));
    let mail_worker = config.mail.clone().map(|settings| {
        tracing::info!(relay = settings.relay, "email to buyers leaves through the SMTP relay");
        tokio::spawn(crate::mail::run(engine.clone(), Arc::new(settings), mail, spare))
    });
    if config.cluster.is_none() {
        say_listening(address);
    }
    on_ready(address, &app);
    accept_until_signal(listener, app, &config).await;
    refund_worker.abort();
    if let Some(worker) = mail_worker {
        worker.abort();
    }
    maintenance.stop();
    let engine_for_shutdown = engine.clone();
    match tokio::task::spawn_blocking(move || engine_for_shutdown.shutdown()).await {
        Ok(Ok(report)) => tracing::info!(covered = report.covered, "snapshot taken at shutdown"),
        Ok(Err(error)) => tracing::error!("snapshot at shutdown failed: {error}"),
        Err(error) => tracing::error!("snapshot at shutdown failed: {error}"),
    }
    if let Some(hand_over) = hand_over {
        hand_over.release().await;
    }
    Ok(())
}

/// Tools read this first line to find the port.
fn say_listening(address: SocketAddr) {
    println!("listening on http://{address}");
}

async fn accept_until_signal(listener: TcpListener, app: Arc<App>, config: &ServeConfig) {
    let router = Arc::new(Router::new());
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!("accept: {error}");
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // One timer per connection for all its limits (see watchdog.rs). A
        // client that stops reading its responses must not hold a
        // connection forever: a write blocked for the request timeout fails.
        let watchdog = Watchdog::new(ConnectionLimits {
            keep_alive_idle: config.keep_alive_timeout,
            head: config.header_timeout,
            write: config.request_timeout,
        });
        let stream = WatchedStream::new(stream, watchdog.clone());
        let connection_state = Arc::new(ConnectionState {
            app: app.clone(),
            router: router.clone(),
            watchdog: watchdog.clone(),
            client: peer.ip(),
            request_timeout: config.request_timeout,
        });
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let state = connection_state.clone();
            state.watchdog.request_started();
            let has_body = !hyper::body::Body::is_end_stream(request.body());
            async move {
                let started = Instant::now();
                let answer = with_deadline(
                    handle(&state.app, &state.router, request, state.client, started),
                    &state.watchdog,
                    started + state.request_timeout,
                )
                .await
                .unwrap_or_else(|| {
                    ApiError::unavailable("request_timeout", "the request took too long").into_response()
                });
                if has_body && answer.status().as_u16() >= 400 {
                    // A refusal may leave the body unread. One turn lets hyper
                    // (which reads before it writes on each turn) see that
                    // before it writes the answer's head: it discards a body
                    // already here, or else closes the connection, and then
                    // the answer says `Connection: close`.
                    tokio::task::yield_now().await;
                }
                state.watchdog.request_answered();
                Ok::<_, Infallible>(answer)
            }
        });
        // hyper's own header-read timeout is off: it would start when an
        // answer is queued and run through the client's pause, closing
        // connections in use without a word. The watchdog keeps the head
        // and idle limits apart.
        let connection = http1::Builder::new()
            .header_read_timeout(None)
            .max_buf_size(64 * 1024)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("stopping: no new connections; finishing requests in flight");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("some requests were still running after {DRAIN_TIMEOUT:?}");
    }
}

/// What a connection's requests share, behind one `Arc`: one reference
/// count change per request rather than one per field.
struct ConnectionState {
    app: Arc<App>,
    router: Arc<Router>,
    watchdog: Arc<Watchdog>,
    client: IpAddr,
    request_timeout: Duration,
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(_) => return interrupt.await.unwrap_or(()),
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
}

fn generate_admin_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 24];
    guichet_engine::entropy::Entropy::fill(&guichet_engine::entropy::OsEntropy, &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
