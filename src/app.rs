//! `Application::build` connects everything, binds its listener (port 0 in tests) and exposes
//! `port()`; `run_until_stopped` serves until SIGTERM/SIGINT or `ShutdownHandle::shutdown`.

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_web::{
    App, HttpServer,
    dev::Server,
    middleware::{Compress, from_fn},
    web,
};
use anyhow::Context;
use tokio::sync::watch;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    config::Settings,
    db,
    http::{
        self, middleware,
        page::{Site, init_site},
        routes::{self, RouteTable},
        tracing_span::SmartFlowRootSpan,
    },
    openapi,
    platform::{
        self, cache,
        crypto::Cipher,
        events::Subscribers,
        jobs::{Runner, RunnerStatus, cron::CronScheduler},
        ratelimit::RateLimiter,
    },
    state::{AppState, Inner},
    telemetry,
};

pub struct Application {
    port: u16,
    state: AppState,
    server: Option<Server>,
    runner: Option<Runner>,
    cron: Option<CronScheduler>,
    shutdown: watch::Sender<bool>,
}

/// Asks a running application to stop gracefully (what SIGTERM does).
#[derive(Clone)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

/// rustls needs exactly one process-wide crypto provider; SmartFlow uses ring everywhere.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        install_crypto_provider();
        telemetry::metrics_handle();
        init_site(Site {
            name: settings.app.name.clone(),
            base_url: settings.app.base_url.clone(),
        });

        db::ensure_database(&settings.database).await?;
        let pool = db::connect(&settings.database).await?;
        if settings.database.migrate_on_start {
            db::migrate(&pool).await?;
        }
        let cache = cache::from_settings(&settings.redis).await?;
        if settings.process.http {
            // Only processes that sign people in need the dummy hash (one full argon2 run).
            platform::auth::password::prepare(&settings.auth)
                .await
                .map_err(|e| anyhow::anyhow!("could not prepare password hashing: {e}"))?;
        }
        let cipher = Cipher::from_settings(settings.security.encryption_key.get())
            .map_err(|e| anyhow::anyhow!("invalid setting `security.encryption_key`: {e}"))?;
        if !settings.security.encryption_key.is_set() {
            tracing::warn!(
                "security.encryption_key is not set: using the public development key; set \
                 SMARTFLOW__SECURITY__ENCRYPTION_KEY before storing real secrets"
            );
        }
        let http_client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(settings.http_client.connect_timeout_ms))
            .timeout(Duration::from_millis(settings.http_client.timeout_ms))
            .user_agent(match settings.http_client.user_agent.as_str() {
                "" => concat!("SmartFlow/", env!("CARGO_PKG_VERSION")).to_string(),
                ua => ua.to_string(),
            })
            .build()
            .context("could not build the outbound HTTP client")?;

        let mail_transport = platform::mail::from_settings(&settings.mail)
            .map_err(|e| anyhow::anyhow!("invalid mail settings: {e}"))?;
        let outbound = platform::ssrf::client(
            settings.webhooks.allow_private_targets,
            Duration::from_millis(settings.webhooks.timeout_ms),
            "SmartFlow-Webhooks",
        )
        .context("could not build the outbound client")?;
        let storage = platform::storage::Storage::from_settings(&settings.storage)?;
        let extensions = crate::modules::init(&settings, &pool, &http_client).await?;
        let doc = openapi::document(&settings);
        let state = AppState::new(Inner {
            rate_limiter: RateLimiter::from_settings(&settings.rate_limit),
            routes: Arc::new(RouteTable::from_openapi(&doc)),
            openapi_json: Arc::new(serde_json::to_string(&doc)?),
            settings,
            db: pool,
            cache,
            cipher,
            http: http_client,
            started_at: std::time::Instant::now(),
            jobs: Arc::new(RunnerStatus::default()),
            mailer: Arc::from(mail_transport),
            outbound,
            subscribers: Subscribers::default(),
            storage,
            extensions,
        });

        crate::modules::start(&state);
        let registry = platform::checked_job_registry(&state.settings)?;
        // Cron only enqueues, so it knows every compiled-in kind: in the four-service layout the
        // process running cron schedules work that other processes claim.
        let every_kind = platform::job_registry();
        platform::jobs::cron::sync(&state.db, &state.settings.cron.entries, &every_kind).await?;
        let runner =
            state.settings.process.workers.then(|| Runner::start(state.clone(), registry.clone()));
        let cron = if state.settings.process.cron {
            let cron =
                CronScheduler::start(state.db.clone(), &state.settings.cron.entries, every_kind)
                    .await?;
            state.jobs.cron_running.store(true, std::sync::atomic::Ordering::Relaxed);
            Some(cron)
        } else {
            None
        };

        let (shutdown, _) = watch::channel(false);
        let (server, port) = if state.settings.process.http {
            let (server, port) = serve_http(state.clone(), doc)?;
            (Some(server), port)
        } else {
            (None, 0)
        };
        Ok(Application { port, state, server, runner, cron, shutdown })
    }

    /// The bound port (0 when this process serves no HTTP).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Serves until a stop is requested, then finishes in-flight requests (up to
    /// `server.shutdown_timeout_secs`) before returning.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let mut stop = self.shutdown.subscribe();
        let server_handle = self.server.as_ref().map(Server::handle);
        let mut server_task = self.server.map(tokio::spawn);

        tokio::select! {
            reason = wait_for_signal() => tracing::info!(signal = reason, "shutting down"),
            _ = stop.wait_for(|s| *s) => tracing::info!("shutdown requested"),
            res = async { match server_task.as_mut() { Some(t) => t.await, None => std::future::pending().await } } => {
                server_task = None;
                res.context("HTTP server task failed")?.context("HTTP server failed")?;
            }
        }

        // HTTP finishes its in-flight requests while workers finish their jobs.
        if let Some(cron) = self.cron {
            cron.shutdown().await;
            self.state.jobs.cron_running.store(false, std::sync::atomic::Ordering::Relaxed);
        }
        let stop_http = async {
            if let Some(handle) = server_handle {
                handle.stop(true).await;
            }
        };
        let stop_workers = async {
            if let Some(runner) = self.runner {
                runner.shutdown().await;
            }
        };
        tokio::join!(stop_http, stop_workers);
        if let Some(task) = server_task {
            task.await.context("HTTP server task failed")?.context("HTTP server failed")?;
        }
        self.state.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}

fn serve_http(state: AppState, doc: utoipa::openapi::OpenApi) -> anyhow::Result<(Server, u16)> {
    let settings = state.settings.clone();
    let address = format!("{}:{}", settings.server.host, settings.server.port);
    let listener = TcpListener::bind(&address)
        .with_context(|| format!("could not listen on {address} (server.host, server.port)"))?;
    let port = listener.local_addr()?.port();
    let data = web::Data::new(state);
    let workers = match settings.server.workers {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        n => n,
    };
    let server_settings = settings.clone();
    let server = HttpServer::new(move || {
        let settings = &server_settings;
        let (app, _) = App::new()
            .into_utoipa_app()
            .configure(|cfg| openapi::routes(cfg, settings))
            .split_for_parts();
        app.app_data(data.clone())
            .configure(|cfg| http::extractor_config(cfg, settings))
            .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", doc.clone()))
            .default_service(web::to(routes::fallback))
            .wrap(from_fn(platform::auth::csrf::middleware))
            .wrap(from_fn(middleware::rate_limit))
            .wrap(from_fn(middleware::api_errors))
            .wrap(Compress::default())
            .wrap(from_fn(middleware::security_headers))
            .wrap(from_fn(middleware::head_as_get))
            .wrap(from_fn(middleware::metrics))
            .wrap(TracingLogger::<SmartFlowRootSpan>::new())
            .wrap(from_fn(middleware::request_id))
    })
    .workers(workers)
    // Streamed responses (WebSocket chat tokens) are many small writes: without this, Nagle's
    // algorithm holds each behind the client's delayed ACK (~40 ms per token burst).
    .tcp_nodelay(true)
    .shutdown_timeout(settings.server.shutdown_timeout_secs)
    .keep_alive(Duration::from_secs(settings.server.keep_alive_secs))
    .client_request_timeout(Duration::from_millis(settings.server.client_request_timeout_ms))
    .disable_signals()
    .listen(listener)?
    .run();
    tracing::info!(%address, port, "listening");
    Ok((server, port))
}
