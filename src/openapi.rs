//! The OpenAPI document comes from the same registrations that route requests: every JSON
//! handler is mounted with `.service()` and `#[utoipa::path]`, so a route cannot be served
//! without being documented.

use actix_web::{App, HttpResponse, get, http::header};
use utoipa::{
    Modify, OpenApi,
    openapi::{Content, RefOr, ResponseBuilder, path::Operation},
};
use utoipa_actix_web::{AppExt, service_config::ServiceConfig};

use crate::{
    config::Settings,
    error::{FieldError, PROBLEM_JSON, Problem},
    http::{assets, health},
    modules, platform,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SmartFlow API",
        description = "Business automation for small businesses: leads, AI agents and chat, \
            knowledge bases, workflows, social scheduling and AI content. Errors are \
            `application/problem+json` (RFC 9457).",
        license(name = "Apache-2.0"),
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "health", description = "Health checks and metrics"),
        (name = "identity", description = "Accounts, sessions, workspaces, members, API keys, audit log"),
        (name = "webhooks", description = "Outgoing webhooks signed with SmartFlow-Signature"),
        (name = "events", description = "Live workspace events over a WebSocket"),
                (name = "jobs", description = "Background jobs (platform staff)"),
        (name = "uploads", description = "Files: media for posts, documents for knowledge bases"),
        (name = "main", description = "Main site: leads, contact, billing"),
        (name = "ai", description = "AI platform: agents, chat, knowledge"),
        (name = "social", description = "Social booster: accounts, posts, calendar, analytics"),
        (name = "social-ai", description = "Social booster AI: generation, optimisation, A/B tests"),
    ),
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Access token from /api/auth/login or /api/auth/refresh."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sf_<prefix>_<secret>")
                    .description(Some("A workspace API key created at /api/api-keys."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "sf_session",
                "Browser session; unsafe methods also need the X-CSRF-Token header.",
            ))),
        );
    }
}

/// Every operation may answer an error as problem+json; documented once as its `default`.
fn add_default_problem(op: &mut Operation) {
    if op.responses.responses.contains_key("default") {
        return;
    }
    let response = ResponseBuilder::new()
        .description("Error, as application/problem+json (RFC 9457)")
        .content(
            PROBLEM_JSON,
            Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Problem")))),
        )
        .build();
    op.responses.responses.insert("default".to_string(), RefOr::T(response));
}

/// Registers every route of this process: platform routes, then the enabled modules.
pub fn routes(cfg: &mut ServiceConfig, settings: &Settings) {
    cfg.service(health::health)
        .service(health::live)
        .service(health::ready)
        .service(health::metrics);
    cfg.map(|c| c.service(assets::serve).service(docs_redirect));
    platform::configure(cfg);
    modules::configure(cfg, settings);
}

/// The OpenAPI document for the routes `settings` enables.
pub fn document(settings: &Settings) -> utoipa::openapi::OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(|cfg| routes(cfg, settings))
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    for item in doc.paths.paths.values_mut() {
        for op in [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete]
            .into_iter()
            .flatten()
        {
            add_default_problem(op);
        }
    }
    doc
}

// not-in-openapi: redirect to the documentation UI
#[get("/docs")]
async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/docs/")).finish()
}
