//! What the router does not match: 405 with `Allow` when the path exists with other methods
//! (known from the OpenAPI document, built from the same registrations; HEAD wherever GET),
//! else 404 — as
//! problem+json under `/api`, as the HTML page elsewhere.

use actix_web::{HttpRequest, HttpResponse, ResponseError, dev::ResourceDef, http::Method, web};

use crate::{
    error::{AppError, PageError},
    http::is_api_path,
    state::AppState,
};

pub struct RouteTable {
    routes: Vec<(ResourceDef, Vec<String>)>,
}

impl RouteTable {
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let mut methods: Vec<String> = Vec::new();
                let ops = [
                    ("GET", &item.get),
                    ("POST", &item.post),
                    ("PUT", &item.put),
                    ("PATCH", &item.patch),
                    ("DELETE", &item.delete),
                    ("HEAD", &item.head),
                    ("OPTIONS", &item.options),
                ];
                for (name, op) in ops {
                    if op.is_some() {
                        methods.push(name.to_string());
                    }
                }
                // Every GET route answers HEAD too (`middleware::head_as_get`).
                if item.get.is_some() && item.head.is_none() {
                    methods.push("HEAD".to_string());
                }
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        RouteTable { routes }
    }

    /// Methods the path accepts, or empty when no documented route matches it.
    pub fn allowed(&self, path: &str) -> Vec<String> {
        let mut allowed: Vec<String> = self
            .routes
            .iter()
            .filter(|(def, _)| def.is_match(path))
            .flat_map(|(_, m)| m.iter().cloned())
            .collect();
        allowed.sort();
        allowed.dedup();
        allowed
    }
}

pub async fn fallback(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let path = req.path();
    if is_api_path(path) {
        let allowed = state.routes.allowed(path);
        if !allowed.is_empty() && !allowed.iter().any(|m| m == req.method().as_str()) {
            if req.method() == Method::OPTIONS {
                let mut res = HttpResponse::NoContent();
                res.insert_header(("allow", allowed.join(", ")));
                return res.finish();
            }
            return AppError::MethodNotAllowed { allow: allowed }.error_response();
        }
        return AppError::NotFound(format!(
            "No API route matches `{} {path}`; see /docs.",
            req.method()
        ))
        .error_response();
    }
    PageError(AppError::NotFound("The page you asked for does not exist.".into())).error_response()
}
