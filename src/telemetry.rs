//! Logs (JSON or pretty), OpenTelemetry traces when an OTLP endpoint is set, and the Prometheus
//! recorder behind `GET /metrics`.

use std::{sync::OnceLock, time::Duration};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{LogFormat, TelemetrySettings};

mod query_metrics;
pub use query_metrics::QueryMetrics;

const OTLP_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const OTLP_TIMEOUT: Duration = Duration::from_secs(10);

/// Flushes pending spans when dropped at the end of `main`.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "could not flush traces");
        }
    }
}

/// The batch span processor exports from its own thread, outside Tokio, where reqwest's async
/// client has no reactor; each export is therefore run as a task on the application's runtime.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime.spawn(async move { client.send_bytes(request).await }).await?
    }
}

/// Installs the global subscriber. Call once per process, after settings are loaded.
pub fn init(settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    // Each layer filters on its own: the query metrics need sqlx's debug-level statement
    // events, which the logs and traces leave out.
    let filter = || {
        EnvFilter::try_from_default_env()
            .or_else(|_| EnvFilter::try_new(&settings.log_level))
            .map_err(|e| anyhow::anyhow!("invalid setting `telemetry.log_level`: {e}"))
    };

    let fmt_layer = match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().compact().boxed(),
    };

    let provider = if settings.otlp_endpoint.is_empty() {
        None
    } else {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            anyhow::anyhow!("telemetry::init needs a Tokio runtime for OTLP export")
        })?;
        let endpoint = format!("{}/v1/traces", settings.otlp_endpoint.trim_end_matches('/'));
        // A collector that hangs must not hold the exporter (or shutdown's flush) forever.
        let client = reqwest::Client::builder()
            .connect_timeout(OTLP_CONNECT_TIMEOUT)
            .timeout(OTLP_TIMEOUT)
            .build()
            .map_err(|e| anyhow::anyhow!("could not build the OTLP HTTP client: {e}"))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(OnRuntime { client, runtime })
            .with_timeout(OTLP_TIMEOUT)
            .with_endpoint(endpoint)
            .build()?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(settings.service_name.clone())
            .build();
        Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build(),
        )
    };
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let otel_layer = match &provider {
        Some(p) => Some(
            tracing_opentelemetry::layer()
                .with_tracer(p.tracer("smartflow"))
                .with_filter(filter()?),
        ),
        None => None,
    };

    metrics_handle();
    tracing_subscriber::registry()
        .with(fmt_layer.with_filter(filter()?))
        .with(otel_layer)
        .with(query_metrics_layer())
        .try_init()
        .map_err(|e| anyhow::anyhow!("could not install the log subscriber: {e}"))?;
    Ok(TelemetryGuard { provider })
}

/// `database_query_duration_seconds` for every statement, with its own filter; tests add it to
/// their subscriber too.
pub fn query_metrics_layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    QueryMetrics::default().with_filter(QueryMetrics::filter())
}

/// Buckets for the seed's histograms.
const AI_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];
const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process-wide Prometheus recorder (installed on first use, so tests that boot several
/// apps in one process share it).
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("ai_processing_duration_seconds".into()),
                    AI_BUCKETS,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed");
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!("http_requests_total", "Total number of HTTP requests");
    describe_gauge!("http_requests_in_flight", "Requests being served right now");
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "Duration of HTTP requests"
    );
    describe_histogram!(
        "ai_processing_duration_seconds",
        Unit::Seconds,
        "Duration of AI processing operations"
    );
    describe_histogram!(
        "database_query_duration_seconds",
        Unit::Seconds,
        "Duration of database queries"
    );
    describe_gauge!("process_resident_memory_bytes", Unit::Bytes, "Resident memory size");
    describe_gauge!("process_virtual_memory_bytes", Unit::Bytes, "Virtual memory size");
    describe_gauge!("process_cpu_seconds_total", Unit::Seconds, "User and system CPU time");
    describe_gauge!("process_open_fds", "Open file descriptors");
    describe_gauge!("process_threads", "OS threads");
    describe_gauge!("process_start_time_seconds", Unit::Seconds, "Start time since the epoch");
    describe_counter!("rate_limit_rejections_total", "Requests answered 429 by the rate limiter");
    describe_counter!(
        "rate_limit_errors_total",
        "Rate-limit checks skipped because the cache failed"
    );
}

/// Updates the process gauges; called before each scrape.
pub fn record_process_metrics() {
    let s = crate::platform::process::stats();
    let set = |name: &'static str, v: Option<f64>| {
        if let Some(v) = v {
            metrics::gauge!(name).set(v);
        }
    };
    set("process_resident_memory_bytes", s.rss_bytes.map(|v| v as f64));
    set("process_virtual_memory_bytes", s.virtual_bytes.map(|v| v as f64));
    set("process_cpu_seconds_total", s.cpu_seconds);
    set("process_open_fds", s.open_fds.map(|v| v as f64));
    set("process_threads", s.threads.map(|v| v as f64));
    set("process_start_time_seconds", s.start_time_secs);
}
