//! `/api/auth/*`: sign-up, sign-in (JWT + session cookie), refresh, sign-out, me, workspace
//! switch and password reset.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    Principal, Role, password,
    sessions::{self, Issued, Refreshed},
    throttle, unauthorized,
};
use crate::{
    domain::{Email, NewPassword, text},
    error::{AppError, Validator},
    http::{RequestId, client_ip},
    platform::{
        crypto::{random_token, sha256_hex},
        events::{Actor, Event, record_event},
        mail::{self, OutgoingEmail},
    },
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignupRequest {
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    pub name: Option<String>,
    /// Defaults to "<name>'s workspace".
    pub workspace_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Sign in to this workspace (default: your first).
    pub workspace_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub is_staff: bool,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct MembershipView {
    pub workspace_id: Uuid,
    pub workspace_name: String,
    pub role: Role,
}

/// Tokens for API clients; browsers also get the `sf_session` cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single-use: exchange it at `/api/auth/refresh` for new tokens.
    pub refresh_token: String,
    pub session_expires_at: DateTime<Utc>,
    pub user: UserView,
    pub workspace: MembershipView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user: UserView,
    pub workspace: MembershipView,
    pub memberships: Vec<MembershipView>,
    /// `bearer`, `cookie` or `api_key`.
    pub authenticated_by: super::AuthMethod,
}

fn actor_for(
    req: &HttpRequest,
    state: &AppState,
    user: Option<(Uuid, &str)>,
    workspace: Option<Uuid>,
) -> Actor {
    let request_id = req.extensions_ref_id();
    let ip = client_ip(req, state.settings.server.trust_proxy_headers).map(|i| i.to_string());
    match user {
        Some((id, email)) => Actor {
            user_id: Some(id),
            label: email.to_string(),
            workspace_id: workspace,
            request_id,
            ip,
            ..Actor::default()
        },
        None => Actor::anonymous(request_id, ip),
    }
}

trait RequestIdExt {
    fn extensions_ref_id(&self) -> Option<String>;
}

impl RequestIdExt for HttpRequest {
    fn extensions_ref_id(&self) -> Option<String> {
        use actix_web::HttpMessage;
        self.extensions().get::<RequestId>().map(|r| r.0.clone())
    }
}

fn auth_response(
    state: &AppState,
    issued: &Issued,
    user: UserView,
    workspace: MembershipView,
) -> HttpResponse {
    let body = AuthResponse {
        access_token: issued.access_token.clone(),
        token_type: "Bearer".into(),
        expires_in: state.settings.auth.access_token_ttl_secs,
        refresh_token: issued.refresh_token.clone(),
        session_expires_at: issued.expires_at,
        user,
        workspace,
    };
    HttpResponse::Ok()
        .cookie(sessions::cookie(state, &issued.cookie_value, issued.expires_at))
        .insert_header(("cache-control", "no-store"))
        .json(body)
}

/// What the sign-up form and API share: a user, their workspace (as admin) and a session.
pub struct SignedUp {
    pub issued: Issued,
    pub user: UserView,
    pub workspace: MembershipView,
}

pub async fn sign_up(
    state: &AppState,
    req: &HttpRequest,
    body: &SignupRequest,
) -> Result<SignedUp, AppError> {
    if !state.settings.auth.allow_signup {
        return Err(AppError::Forbidden(
            "Sign-up is closed on this site; ask an administrator for an invitation.".into(),
        ));
    }
    let mut v = Validator::new();
    let email = v.check("email", Email::parse(&body.email));
    let pw = v.check("password", NewPassword::parse(&body.password));
    let name = v.check("name", text::optional(body.name.as_deref(), 100)).flatten();
    let ws_name =
        v.check("workspace_name", text::optional(body.workspace_name.as_deref(), 100)).flatten();
    v.finish()?;
    let (Some(email), Some(pw)) = (email, pw) else {
        return Err(AppError::internal(anyhow::anyhow!("validated")));
    };
    let name = name.unwrap_or_default();
    let ws_name = ws_name.unwrap_or_else(|| {
        if name.is_empty() { "My workspace".to_string() } else { format!("{name}'s workspace") }
    });
    let hash = password::hash(&state.settings.auth, pw.expose()).await?;

    let mut tx = state.db.begin().await?;
    let user_id: Option<Uuid> = sqlx::query_scalar(
        "insert into smartflow_main.users (email, name, password_hash) values ($1, $2, $3) \
         on conflict (email) do nothing returning id",
    )
    .bind(email.as_str())
    .bind(&name)
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user_id) = user_id else {
        return Err(AppError::Conflict(
            "An account with this e-mail already exists. Sign in, or reset your password.".into(),
        ));
    };
    let workspace_id: Uuid = sqlx::query_scalar(
        "insert into smartflow_shared.workspaces (name, created_by) values ($1, $2) returning id",
    )
    .bind(&ws_name)
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("insert into smartflow_shared.memberships (workspace_id, user_id, role) values ($1, $2, 'admin')")
        .bind(workspace_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let ip = client_ip(req, state.settings.server.trust_proxy_headers).map(|i| i.to_string());
    let ua = req.headers().get("user-agent").and_then(|v| v.to_str().ok());
    let issued =
        sessions::create(&mut tx, state, user_id, workspace_id, Role::Admin, ip.as_deref(), ua)
            .await?;
    let actor = actor_for(req, state, Some((user_id, email.as_str())), Some(workspace_id));
    record_event(
        &mut tx,
        &actor,
        Event::new("user.signed_up", "user", user_id, json!({ "email": email.as_str() }))
            .workspace(workspace_id),
    )
    .await?;
    record_event(
        &mut tx,
        &actor,
        Event::new("workspace.created", "workspace", workspace_id, json!({ "name": ws_name }))
            .workspace(workspace_id),
    )
    .await?;
    tx.commit().await?;
    Ok(SignedUp {
        issued,
        user: UserView { id: user_id, email: email.into_inner(), name, is_staff: false },
        workspace: MembershipView { workspace_id, workspace_name: ws_name, role: Role::Admin },
    })
}

/// Creates an account and its workspace (you are its admin), and signs you in.
#[utoipa::path(tag = "identity", request_body = SignupRequest, responses((status = 201, body = AuthResponse)))]
#[post("/api/auth/signup")]
pub async fn signup(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SignupRequest>,
) -> Result<HttpResponse, AppError> {
    let done = sign_up(&state, &req, &body).await?;
    let mut res = auth_response(&state, &done.issued, done.user, done.workspace);
    *res.status_mut() = actix_web::http::StatusCode::CREATED;
    Ok(res)
}

pub struct SignedIn {
    pub issued: Issued,
    pub user: UserView,
    pub workspace: MembershipView,
}

const BAD_CREDENTIALS: &str = "Invalid e-mail or password.";

#[derive(sqlx::FromRow)]
struct Credentials {
    id: Uuid,
    name: String,
    password_hash: String,
    is_staff: bool,
    disabled_at: Option<DateTime<Utc>>,
}

/// Verifies credentials (same answer and cost for an unknown account as for a wrong
/// password), honours brute-force limits, and opens a session.
pub async fn sign_in(
    state: &AppState,
    req: &HttpRequest,
    email: &str,
    pw: &str,
    workspace: Option<Uuid>,
) -> Result<SignedIn, AppError> {
    let email = Email::parse(email).map_err(|_| unauthorized(BAD_CREDENTIALS))?;
    let ip = client_ip(req, state.settings.server.trust_proxy_headers).map(|i| i.to_string());
    throttle::check(state, email.as_str(), ip.as_deref()).await?;
    let user: Option<Credentials> = sqlx::query_as(
        "select id, name, password_hash, is_staff, disabled_at from smartflow_main.users where email = $1",
    )
    .bind(email.as_str())
    .fetch_optional(&state.db)
    .await?;
    let verified =
        password::verify(&state.settings.auth, pw, user.as_ref().map(|u| u.password_hash.as_str()))
            .await?;
    let Some(Credentials { id: user_id, name, is_staff, disabled_at, .. }) =
        user.filter(|_| verified)
    else {
        throttle::record_failure(state, email.as_str(), ip.as_deref()).await;
        return Err(unauthorized(BAD_CREDENTIALS));
    };
    if disabled_at.is_some() {
        throttle::record_failure(state, email.as_str(), ip.as_deref()).await;
        return Err(unauthorized(BAD_CREDENTIALS));
    }
    let membership: Option<MembershipView> = sqlx::query_as(
        "select m.workspace_id, w.name as workspace_name, m.role from smartflow_shared.memberships m \
         join smartflow_shared.workspaces w on w.id = m.workspace_id \
         where m.user_id = $1 and ($2::uuid is null or m.workspace_id = $2) order by m.created_at limit 1",
    )
    .bind(user_id)
    .bind(workspace)
    .fetch_optional(&state.db)
    .await?;
    let Some(membership) = membership else {
        return Err(AppError::Forbidden(match workspace {
            Some(_) => "You are not a member of that workspace.".into(),
            None => "Your account belongs to no workspace any more; ask for an invitation.".into(),
        }));
    };
    throttle::record_success(state, email.as_str()).await;
    let ua = req.headers().get("user-agent").and_then(|v| v.to_str().ok());
    let mut tx = state.db.begin().await?;
    let issued = sessions::create(
        &mut tx,
        state,
        user_id,
        membership.workspace_id,
        membership.role,
        ip.as_deref(),
        ua,
    )
    .await?;
    sqlx::query("update smartflow_main.users set last_login_at = now() where id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let actor =
        actor_for(req, state, Some((user_id, email.as_str())), Some(membership.workspace_id));
    record_event(
        &mut tx,
        &actor,
        Event::new("auth.signed_in", "session", issued.session_id, json!({ "method": "password" })),
    )
    .await?;
    tx.commit().await?;
    Ok(SignedIn {
        issued,
        user: UserView { id: user_id, email: email.into_inner(), name, is_staff },
        workspace: membership,
    })
}

/// Signs in: returns a short-lived access token and a refresh token, and sets the session
/// cookie. Unknown accounts and wrong passwords get the same answer.
#[utoipa::path(tag = "identity", request_body = LoginRequest, responses((status = 200, body = AuthResponse), (status = 401), (status = 429)))]
#[post("/api/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    let done = sign_in(&state, &req, &body.email, &body.password, body.workspace_id).await?;
    Ok(auth_response(&state, &done.issued, done.user, done.workspace))
}

/// Exchanges a refresh token for new tokens. Each refresh token works once; presenting a used
/// one again ends the whole session.
#[utoipa::path(tag = "identity", request_body = RefreshRequest, responses((status = 200, body = AuthResponse), (status = 401)))]
#[post("/api/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, AppError> {
    match sessions::refresh(&state, body.refresh_token.trim()).await? {
        Refreshed::Reused { session, user, workspace } => {
            let actor = actor_for(&req, &state, Some((user, "")), Some(workspace));
            let mut tx = state.db.begin().await?;
            record_event(
                &mut tx,
                &actor,
                Event::new(
                    "auth.refresh_token_reused",
                    "session",
                    session,
                    json!({ "action": "session revoked" }),
                ),
            )
            .await?;
            tx.commit().await?;
            Err(unauthorized(
                "This refresh token was already used, so the session has been ended for safety. Sign in again.",
            ))
        }
        Refreshed::Ok { access_token, refresh_token, session } => {
            let (user, workspace) =
                user_and_workspace(&state, session.user_id, session.workspace_id).await?;
            let issued = Issued {
                session_id: session.id,
                cookie_value: String::new(),
                access_token,
                refresh_token,
                expires_at: session.expires_at,
            };
            let body = AuthResponse {
                access_token: issued.access_token,
                token_type: "Bearer".into(),
                expires_in: state.settings.auth.access_token_ttl_secs,
                refresh_token: issued.refresh_token,
                session_expires_at: issued.expires_at,
                user,
                workspace,
            };
            Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(body))
        }
    }
}

async fn user_and_workspace(
    state: &AppState,
    user: Uuid,
    workspace: Uuid,
) -> Result<(UserView, MembershipView), AppError> {
    let (id, email, name, is_staff): (Uuid, String, String, bool) =
        sqlx::query_as("select id, email, name, is_staff from smartflow_main.users where id = $1")
            .bind(user)
            .fetch_one(&state.db)
            .await?;
    let m: MembershipView = sqlx::query_as(
        "select m.workspace_id, w.name as workspace_name, m.role from smartflow_shared.memberships m \
         join smartflow_shared.workspaces w on w.id = m.workspace_id where m.user_id = $1 and m.workspace_id = $2",
    )
    .bind(user)
    .bind(workspace)
    .fetch_one(&state.db)
    .await?;
    Ok((UserView { id, email, name, is_staff }, m))
}

pub async fn sign_out(state: &AppState, who: &Principal) -> Result<(), AppError> {
    let Some(session) = who.session_id else {
        return Err(AppError::BadRequest(
            "API keys do not sign out; revoke the key at /api/api-keys instead.".into(),
        ));
    };
    sessions::revoke(state, session, "signed out").await?;
    let mut tx = state.db.begin().await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("auth.signed_out", "session", session, json!({})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends the current session: its cookie, refresh tokens and access tokens stop working.
#[utoipa::path(tag = "identity", responses((status = 204)), security(("bearer" = []), ("session_cookie" = [])))]
#[post("/api/auth/logout")]
pub async fn logout(state: web::Data<AppState>, who: Principal) -> Result<HttpResponse, AppError> {
    sign_out(&state, &who).await?;
    Ok(HttpResponse::NoContent().cookie(sessions::clear_cookie(&state)).finish())
}

/// The signed-in user, the current workspace and role, and every membership.
#[utoipa::path(tag = "identity", responses((status = 200, body = MeResponse)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/auth/me")]
pub async fn me(state: web::Data<AppState>, who: Principal) -> Result<HttpResponse, AppError> {
    let (mut user, mut workspace) =
        user_and_workspace(&state, who.user_id, who.workspace_id).await?;
    if who.api_key_id.is_some() {
        // A key acts with its own role, not its creator's.
        workspace.role = who.role;
        user.is_staff = false;
    }
    let memberships: Vec<MembershipView> = sqlx::query_as(
        "select m.workspace_id, w.name as workspace_name, m.role from smartflow_shared.memberships m \
         join smartflow_shared.workspaces w on w.id = m.workspace_id where m.user_id = $1 order by w.name",
    )
    .bind(who.user_id)
    .fetch_all(&state.db)
    .await?;
    Ok(HttpResponse::Ok().json(MeResponse {
        user,
        workspace,
        memberships,
        authenticated_by: who.method,
    }))
}

/// The caller as the session knows it: no database read when the session is cached.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    pub user_id: Uuid,
    pub workspace_id: Uuid,
    pub role: Role,
    pub is_staff: bool,
    pub authenticated_by: super::AuthMethod,
}

/// Who is calling (cheap: answered from the cached session; use `/api/auth/me` for details).
#[utoipa::path(tag = "identity", responses((status = 200, body = SessionInfo)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/auth/session")]
pub async fn session_info(who: Principal) -> HttpResponse {
    HttpResponse::Ok().json(SessionInfo {
        user_id: who.user_id,
        workspace_id: who.workspace_id,
        role: who.role,
        is_staff: who.is_staff,
        authenticated_by: who.method,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SwitchRequest {
    pub workspace_id: Uuid,
}

/// Moves the current session to another workspace you belong to and returns a new access token.
#[utoipa::path(tag = "identity", request_body = SwitchRequest, responses((status = 200, body = AuthResponse)), security(("bearer" = []), ("session_cookie" = [])))]
#[post("/api/auth/switch-workspace")]
pub async fn switch_workspace(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<SwitchRequest>,
) -> Result<HttpResponse, AppError> {
    let Some(session) = who.session_id else {
        return Err(AppError::BadRequest("An API key belongs to one workspace.".into()));
    };
    let role: Option<String> = sqlx::query_scalar(
        "select role from smartflow_shared.memberships where user_id = $1 and workspace_id = $2",
    )
    .bind(who.user_id)
    .bind(body.workspace_id)
    .fetch_optional(&state.db)
    .await?;
    let role =
        role.and_then(|r| Role::parse(&r)).ok_or_else(|| AppError::not_found("Workspace"))?;
    sqlx::query("update smartflow_shared.sessions set workspace_id = $2 where id = $1")
        .bind(session)
        .bind(body.workspace_id)
        .execute(&state.db)
        .await?;
    sessions::forget(&state, &[session]).await;
    let access_token =
        super::tokens::issue(&state.settings.auth, who.user_id, body.workspace_id, role, session)?;
    let (user, workspace) = user_and_workspace(&state, who.user_id, body.workspace_id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": state.settings.auth.access_token_ttl_secs,
        "user": user,
        "workspace": workspace,
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetRequest {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetConfirm {
    /// The token from the e-mailed link.
    pub token: String,
    pub password: String,
}

#[derive(Template)]
#[template(path = "email/password_reset.txt")]
struct ResetEmail<'a> {
    site: &'a str,
    link: &'a str,
    minutes: u64,
}

/// E-mails a single-use reset link when the account exists. The answer is the same either way.
pub async fn request_reset(
    state: &AppState,
    req: &HttpRequest,
    raw_email: &str,
) -> Result<(), AppError> {
    let Ok(email) = Email::parse(raw_email) else {
        return Err(AppError::validation(
            "email",
            "invalid_email",
            "Enter an e-mail address like name@example.com.",
        ));
    };
    let user: Option<Uuid> = sqlx::query_scalar(
        "select id from smartflow_main.users where email = $1 and disabled_at is null",
    )
    .bind(email.as_str())
    .fetch_optional(&state.db)
    .await?;
    let Some(user_id) = user else { return Ok(()) };
    let token = random_token(32);
    let minutes = state.settings.auth.password_reset_ttl_mins;
    let link = format!(
        "{}/reset-password?token={token}",
        state.settings.app.base_url.trim_end_matches('/')
    );
    let body = ResetEmail { site: &state.settings.app.name, link: &link, minutes }
        .render()
        .map_err(AppError::internal)?;
    let mut tx = state.db.begin().await?;
    sqlx::query("insert into smartflow_shared.password_resets (user_id, token_hash, expires_at) values ($1, $2, now() + make_interval(mins => $3))")
        .bind(user_id)
        .bind(sha256_hex(&token))
        .bind(minutes as i32)
        .execute(&mut *tx)
        .await?;
    mail::enqueue(
        &mut tx,
        state,
        OutgoingEmail::text(
            email.as_str(),
            &format!("Reset your {} password", state.settings.app.name),
            body,
        ),
    )
    .await?;
    let actor = actor_for(req, state, Some((user_id, email.as_str())), None);
    record_event(
        &mut tx,
        &actor,
        Event::new("auth.password_reset_requested", "user", user_id, json!({})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a new password with a reset token (single use), ending every session of the account.
pub async fn confirm_reset(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    new_password: &str,
) -> Result<(), AppError> {
    let pw = NewPassword::parse(new_password).map_err(|mut e| {
        e.field = "password".into();
        AppError::Validation(vec![e])
    })?;
    let hash = password::hash(&state.settings.auth, pw.expose()).await?;
    let mut tx = state.db.begin().await?;
    let user: Option<(Uuid, String)> = sqlx::query_as(
        "update smartflow_shared.password_resets r set used_at = now() from smartflow_main.users u \
         where r.token_hash = $1 and r.used_at is null and r.expires_at > now() and u.id = r.user_id \
         returning u.id, u.email",
    )
    .bind(sha256_hex(token.trim()))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id, email)) = user else {
        return Err(AppError::validation(
            "token",
            "invalid_token",
            "This reset link is invalid, was already used, or has expired; ask for a new one.",
        ));
    };
    sqlx::query(
        "update smartflow_main.users set password_hash = $2, updated_at = now() where id = $1",
    )
    .bind(user_id)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    let actor = actor_for(req, state, Some((user_id, &email)), None);
    record_event(&mut tx, &actor, Event::new("auth.password_reset", "user", user_id, json!({})))
        .await?;
    tx.commit().await?;
    sessions::revoke_all(state, user_id, "password reset").await?;
    Ok(())
}

/// Sends a password-reset link if the account exists; always answers 202.
#[utoipa::path(tag = "identity", request_body = ResetRequest, responses((status = 202)))]
#[post("/api/auth/password-reset")]
pub async fn password_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ResetRequest>,
) -> Result<HttpResponse, AppError> {
    request_reset(&state, &req, &body.email).await?;
    Ok(HttpResponse::Accepted().json(
        json!({ "detail": "If an account exists for this address, a reset link is on its way." }),
    ))
}

/// Sets a new password with the e-mailed token; every session of the account ends.
#[utoipa::path(tag = "identity", request_body = ResetConfirm, responses((status = 204), (status = 422)))]
#[post("/api/auth/password-reset/confirm")]
pub async fn password_reset_confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ResetConfirm>,
) -> Result<HttpResponse, AppError> {
    confirm_reset(&state, &req, &body.token, &body.password).await?;
    Ok(HttpResponse::NoContent().finish())
}
