//! The root span of each request carries our request id and joins an incoming W3C trace.
//! It names the matched route pattern only: raw paths and queries may hold tokens.

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
};
use opentelemetry::propagation::Extractor;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::http::RequestId;

pub struct SmartFlowRootSpan;

struct HeaderExtractor<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

impl RootSpanBuilder for SmartFlowRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = RequestId::of(request).unwrap_or_default();
        // The route pattern, never the raw path or query: paths carry secrets (`/invite/{token}`).
        let route = request.match_pattern().unwrap_or_else(|| "unmatched".into());
        let span = tracing::info_span!(
            "http_request",
            http.method = %request.method(),
            http.route = %route,
            http.status_code = tracing::field::Empty,
            otel.name = %format!("{} {}", request.method(), route),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        );
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(request.headers()))
        });
        let _ = span.set_parent(parent);
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use actix_web::{App, HttpResponse, test, web};
    use tracing::{
        field::{Field, Visit},
        span,
    };
    use tracing_actix_web::TracingLogger;
    use tracing_subscriber::{
        Layer,
        layer::{Context, SubscriberExt},
    };

    use super::SmartFlowRootSpan;

    type Seen = Arc<Mutex<Vec<(String, String)>>>;

    /// Records every span field, as a log or trace exporter would see it.
    struct Recorder(Seen);

    struct Visitor<'a>(&'a Seen);

    impl Visit for Visitor<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if let Ok(mut seen) = self.0.lock() {
                seen.push((field.name().to_string(), format!("{value:?}")));
            }
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Recorder {
        fn on_new_span(&self, attrs: &span::Attributes<'_>, _: &span::Id, _: Context<'_, S>) {
            attrs.record(&mut Visitor(&self.0));
        }
        fn on_record(&self, _: &span::Id, values: &span::Record<'_>, _: Context<'_, S>) {
            values.record(&mut Visitor(&self.0));
        }
    }

    #[actix_web::test]
    async fn request_spans_name_the_route_never_the_path_or_query() {
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry().with(Recorder(seen.clone()));
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = test::init_service(
            App::new()
                .wrap(TracingLogger::<SmartFlowRootSpan>::new())
                .route("/invite/{token}", web::get().to(HttpResponse::Ok)),
        )
        .await;
        let req =
            test::TestRequest::get().uri("/invite/s3cret-token?next=s3cret-query").to_request();
        assert!(test::call_service(&app, req).await.status().is_success());

        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.iter().any(|(k, v)| k == "http.route" && v == "/invite/{token}"),
            "the route pattern is recorded: {seen:?}"
        );
        assert!(seen.iter().all(|(_, v)| !v.contains("s3cret")), "no secret recorded: {seen:?}");
    }
}
