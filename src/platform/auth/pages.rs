//! Sign-in pages: /login, /signup, /logout, /forgot-password, /reset-password, /invite/{token}
//! and the /app dashboard. Forms post back to the same path; the CSRF middleware checks them.

use std::{future::Future, pin::Pin};

use actix_web::{
    FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, get, http::StatusCode,
    post, web,
};
use askama::Template;
use serde::Deserialize;

use super::{MaybePrincipal, Principal, csrf::CsrfToken, reset, routes, sessions};
use crate::{
    error::{AppError, PageError},
    http::page::{CachePolicy, Layout, render},
    platform::workspaces,
    state::AppState,
};

/// A signed-in user for a page; anonymous visitors are sent to /login and brought back.
pub struct SignedIn(pub Principal);

#[derive(Debug)]
pub struct LoginRedirect(String);

impl std::fmt::Display for LoginRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sign in to continue to {}", self.0)
    }
}

impl ResponseError for LoginRedirect {
    fn status_code(&self) -> StatusCode {
        StatusCode::SEE_OTHER
    }
    fn error_response(&self) -> HttpResponse {
        let next: String = url::form_urlencoded::byte_serialize(self.0.as_bytes()).collect();
        HttpResponse::SeeOther().insert_header(("location", format!("/login?next={next}"))).finish()
    }
}

impl FromRequest for SignedIn {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match super::authenticate(&req).await {
                Ok(p) => Ok(SignedIn(p)),
                Err(_) => {
                    let target = req
                        .uri()
                        .path_and_query()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_else(|| "/app".into());
                    Err(LoginRedirect(target).into())
                }
            }
        })
    }
}

/// Whether `target` is a path on this site, safe to redirect to. Browsers drop tabs and
/// newlines and read a backslash as `/` in URLs, so `/<tab>/evil.example` would leave the
/// site: such characters are refused outright, and what remains must resolve to this site.
pub fn is_local_path(target: &str) -> bool {
    const BASE: &str = "https://smartflow.invalid/";
    let plain = target.starts_with('/')
        && !target.starts_with("//")
        && !target.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\');
    plain
        && url::Url::parse(BASE)
            .and_then(|base| base.join(target))
            .is_ok_and(|u| u.origin().ascii_serialization() == BASE.trim_end_matches('/'))
}

/// Where to go after signing in: only paths on this site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_string(),
        _ => "/app".to_string(),
    }
}

fn layout(title: &str, path: &str, csrf: &CsrfToken, who: Option<&Principal>) -> Layout {
    Layout::new(format!("{title} — SmartFlow"), "Sign in to SmartFlow", path)
        .private()
        .with_csrf(&csrf.0)
        .with_user(who)
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    layout: Layout,
    email: String,
    next: String,
    error: String,
    notice: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    notice: Option<String>,
}

// not-in-openapi: HTML page
#[get("/login")]
pub async fn login_page(
    csrf: CsrfToken,
    q: web::Query<NextQuery>,
    who: MaybePrincipal,
) -> Result<HttpResponse, PageError> {
    if who.0.is_some() {
        return Ok(HttpResponse::SeeOther()
            .insert_header(("location", safe_next(q.next.as_deref())))
            .finish());
    }
    let notice = match q.notice.as_deref() {
        Some("reset") => "Your password was changed. Sign in with the new one.",
        Some("signed_out") => "You are signed out.",
        _ => "",
    };
    let page = LoginPage {
        layout: layout("Sign in", "/login", &csrf, None),
        email: String::new(),
        next: safe_next(q.next.as_deref()),
        error: String::new(),
        notice: notice.into(),
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

// not-in-openapi: HTML form post
#[post("/login")]
pub async fn login_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    csrf: CsrfToken,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let next = safe_next(form.next.as_deref());
    match routes::sign_in(&state, &req, &form.email, &form.password, None).await {
        Ok(done) => Ok(HttpResponse::SeeOther()
            .cookie(sessions::cookie(&state, &done.issued.cookie_value, done.issued.expires_at))
            .insert_header(("location", next))
            .finish()),
        Err(
            e @ (AppError::Unauthorized(_)
            | AppError::TooManyRequests { .. }
            | AppError::Forbidden(_)),
        ) => {
            let status = actix_web::ResponseError::status_code(&e);
            let error = e.problem().detail.unwrap_or_default();
            let page = LoginPage {
                layout: layout("Sign in", "/login", &csrf, None),
                email: form.email.trim().to_string(),
                next,
                error,
                notice: String::new(),
            };
            render(&page, status, CachePolicy::NoStore)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "auth/signup.html")]
struct SignupPage {
    layout: Layout,
    email: String,
    name: String,
    workspace_name: String,
    errors: Vec<(String, String)>,
    closed: bool,
}

impl SignupPage {
    fn error_for(&self, field: &str) -> String {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.clone()).unwrap_or_default()
    }
}

// not-in-openapi: HTML page
#[get("/signup")]
pub async fn signup_page(
    state: web::Data<AppState>,
    csrf: CsrfToken,
) -> Result<HttpResponse, PageError> {
    let page = SignupPage {
        layout: layout("Create your account", "/signup", &csrf, None),
        email: String::new(),
        name: String::new(),
        workspace_name: String::new(),
        errors: Vec::new(),
        closed: !state.settings.auth.allow_signup,
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

#[derive(Deserialize)]
pub struct SignupForm {
    email: String,
    password: String,
    name: Option<String>,
    workspace_name: Option<String>,
}

// not-in-openapi: HTML form post
#[post("/signup")]
pub async fn signup_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    csrf: CsrfToken,
    form: web::Form<SignupForm>,
) -> Result<HttpResponse, PageError> {
    let body = routes::SignupRequest {
        email: form.email.clone(),
        password: form.password.clone(),
        name: form.name.clone(),
        workspace_name: form.workspace_name.clone(),
    };
    match routes::sign_up(&state, &req, &body).await {
        Ok(done) => Ok(HttpResponse::SeeOther()
            .cookie(sessions::cookie(&state, &done.issued.cookie_value, done.issued.expires_at))
            .insert_header(("location", "/app"))
            .finish()),
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_) | AppError::Forbidden(_))) => {
            let status = actix_web::ResponseError::status_code(&e);
            let errors = match &e {
                AppError::Validation(list) => {
                    list.iter().map(|f| (f.field.clone(), f.message.clone())).collect()
                }
                other => vec![("email".to_string(), other.problem().detail.unwrap_or_default())],
            };
            let page = SignupPage {
                layout: layout("Create your account", "/signup", &csrf, None),
                email: form.email.trim().to_string(),
                name: form.name.clone().unwrap_or_default(),
                workspace_name: form.workspace_name.clone().unwrap_or_default(),
                errors,
                closed: !state.settings.auth.allow_signup,
            };
            render(&page, status, CachePolicy::NoStore)
        }
        Err(e) => Err(e.into()),
    }
}

// not-in-openapi: HTML form post
#[post("/logout")]
pub async fn logout_submit(
    state: web::Data<AppState>,
    who: MaybePrincipal,
) -> Result<HttpResponse, PageError> {
    if let Some(p) = who.0 {
        routes::sign_out(&state, &p).await?;
    }
    Ok(HttpResponse::SeeOther()
        .cookie(sessions::clear_cookie(&state))
        .insert_header(("location", "/login?notice=signed_out"))
        .finish())
}

#[derive(Template)]
#[template(path = "auth/forgot.html")]
struct ForgotPage {
    layout: Layout,
    email: String,
    sent: bool,
    error: String,
}

// not-in-openapi: HTML page
#[get("/forgot-password")]
pub async fn forgot_page(csrf: CsrfToken) -> Result<HttpResponse, PageError> {
    let page = ForgotPage {
        layout: layout("Reset your password", "/forgot-password", &csrf, None),
        email: String::new(),
        sent: false,
        error: String::new(),
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

#[derive(Deserialize)]
pub struct ForgotForm {
    email: String,
}

// not-in-openapi: HTML form post
#[post("/forgot-password")]
pub async fn forgot_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    csrf: CsrfToken,
    form: web::Form<ForgotForm>,
) -> Result<HttpResponse, PageError> {
    let (sent, error, status) = match reset::request_reset(&state, &req, &form.email).await {
        Ok(()) => (true, String::new(), StatusCode::OK),
        Err(AppError::Validation(list)) => (
            false,
            list.first().map(|f| f.message.clone()).unwrap_or_default(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e @ AppError::TooManyRequests { .. }) => {
            (false, e.problem().detail.unwrap_or_default(), StatusCode::TOO_MANY_REQUESTS)
        }
        Err(e) => return Err(e.into()),
    };
    let page = ForgotPage {
        layout: layout("Reset your password", "/forgot-password", &csrf, None),
        email: form.email.trim().to_string(),
        sent,
        error,
    };
    render(&page, status, CachePolicy::NoStore)
}

#[derive(Template)]
#[template(path = "auth/reset.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    error: String,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

// not-in-openapi: HTML page
#[get("/reset-password")]
pub async fn reset_page(
    csrf: CsrfToken,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    let page = ResetPage {
        layout: layout("Choose a new password", "/reset-password", &csrf, None),
        token: q.token.clone().unwrap_or_default(),
        error: String::new(),
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

#[derive(Deserialize)]
pub struct ResetForm {
    token: String,
    password: String,
}

// not-in-openapi: HTML form post
#[post("/reset-password")]
pub async fn reset_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    csrf: CsrfToken,
    form: web::Form<ResetForm>,
) -> Result<HttpResponse, PageError> {
    match reset::confirm_reset(&state, &req, &form.token, &form.password).await {
        Ok(()) => {
            Ok(HttpResponse::SeeOther().insert_header(("location", "/login?notice=reset")).finish())
        }
        Err(AppError::Validation(list)) => {
            let error = list.iter().map(|f| f.message.clone()).collect::<Vec<_>>().join(" ");
            let page = ResetPage {
                layout: layout("Choose a new password", "/reset-password", &csrf, None),
                token: form.token.clone(),
                error,
            };
            render(&page, StatusCode::UNPROCESSABLE_ENTITY, CachePolicy::NoStore)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "auth/invite.html")]
struct InvitePage {
    layout: Layout,
    token: String,
    signed_in_as: String,
    error: String,
}

// not-in-openapi: HTML page
#[get("/invite/{token}")]
pub async fn invite_page(
    csrf: CsrfToken,
    token: web::Path<String>,
    who: MaybePrincipal,
) -> Result<HttpResponse, PageError> {
    let page = InvitePage {
        layout: layout("Join a workspace", "/invite", &csrf, who.0.as_ref()),
        token: token.into_inner(),
        signed_in_as: who.0.as_ref().map(|p| p.email.clone()).unwrap_or_default(),
        error: String::new(),
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

#[derive(Deserialize)]
pub struct InviteForm {
    password: Option<String>,
    name: Option<String>,
}

// not-in-openapi: HTML form post
#[post("/invite/{token}")]
pub async fn invite_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    csrf: CsrfToken,
    token: web::Path<String>,
    who: MaybePrincipal,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, PageError> {
    let body = workspaces::AcceptInvitation {
        token: token.clone(),
        password: form.password.clone(),
        name: form.name.clone(),
    };
    match workspaces::accept(&state, &req, who.0.as_ref(), &body).await {
        Ok(accepted) => {
            let mut res = HttpResponse::SeeOther();
            res.insert_header(("location", "/app"));
            if let Some(issued) = accepted.signed_in {
                res.cookie(sessions::cookie(&state, &issued.cookie_value, issued.expires_at));
            }
            Ok(res.finish())
        }
        Err(
            e @ (AppError::Validation(_) | AppError::Forbidden(_) | AppError::PaymentRequired(_)),
        ) => {
            let status = actix_web::ResponseError::status_code(&e);
            let error = match &e {
                AppError::Validation(list) => {
                    list.iter().map(|f| f.message.clone()).collect::<Vec<_>>().join(" ")
                }
                other => other.problem().detail.unwrap_or_default(),
            };
            let page = InvitePage {
                layout: layout("Join a workspace", "/invite", &csrf, who.0.as_ref()),
                token: token.into_inner(),
                signed_in_as: who.0.as_ref().map(|p| p.email.clone()).unwrap_or_default(),
                error,
            };
            render(&page, status, CachePolicy::NoStore)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "app/dashboard.html")]
struct DashboardPage {
    layout: Layout,
    workspace: String,
    role: String,
    email: String,
    links: Vec<crate::modules::DashboardLink>,
}

// not-in-openapi: HTML page
#[get("/app")]
pub async fn dashboard(
    state: web::Data<AppState>,
    csrf: CsrfToken,
    who: SignedIn,
) -> Result<HttpResponse, PageError> {
    let workspace: String =
        sqlx::query_scalar("select name from smartflow_shared.workspaces where id = $1")
            .bind(who.0.workspace_id)
            .fetch_one(&state.db)
            .await
            .map_err(AppError::from)?;
    let page = DashboardPage {
        layout: Layout::new("Dashboard — SmartFlow", "Your SmartFlow workspace", "/app")
            .private()
            .with_csrf(&csrf.0)
            .with_user(Some(&who.0)),
        workspace,
        role: who.0.role.as_str().into(),
        email: who.0.email.clone(),
        links: crate::modules::dashboard_links(&state.settings),
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}
