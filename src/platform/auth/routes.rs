//! `/api/auth/*`: sign-up, sign-in (JWT + session cookie), refresh, sign-out, me and workspace
//! switch (password reset is in `reset.rs`).

use actix_web::{HttpRequest, HttpResponse, get, post, web};
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
    platform::events::{Actor, Event, record_event},
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
pub struct SignupRequest {
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    pub name: Option<String>,
    /// Defaults to "<name>'s workspace".
    pub workspace_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Sign in to this workspace (default: your first).
    pub workspace_id: Option<Uuid>,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Request bodies carrying secrets print them as `<redacted>`, so a stray `{:?}` in a log
/// line cannot leak a password or token.
pub(crate) const REDACTED: &str = "<redacted>";

impl std::fmt::Debug for SignupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignupRequest")
            .field("email", &self.email)
            .field("password", &REDACTED)
            .field("name", &self.name)
            .field("workspace_name", &self.workspace_name)
            .finish()
    }
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &self.email)
            .field("password", &REDACTED)
            .field("workspace_id", &self.workspace_id)
            .finish()
    }
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRequest").field("refresh_token", &REDACTED).finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub is_staff: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
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

pub(super) fn actor_for(
    req: &HttpRequest,
    state: &AppState,
    user: Option<(Uuid, &str)>,
    workspace: Option<Uuid>,
) -> Actor {
    let request_id = RequestId::of(req);
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
    let attempt = throttle::begin_sign_in(
        state.cache.as_ref(),
        &state.settings.auth,
        email.as_str(),
        ip.as_deref(),
    )
    .await?;
    let user: Option<Credentials> = sqlx::query_as(
        "select id, name, password_hash, is_staff, disabled_at from smartflow_main.users where email = $1",
    )
    .bind(email.as_str())
    .fetch_optional(&state.db)
    .await?;
    let verified =
        password::verify(&state.settings.auth, pw, user.as_ref().map(|u| u.password_hash.as_str()))
            .await?;
    // A failed attempt keeps the count taken above.
    let Some(Credentials { id: user_id, name, is_staff, disabled_at: None, password_hash }) =
        user.filter(|_| verified)
    else {
        return Err(unauthorized(BAD_CREDENTIALS));
    };
    let renewed_hash = if password::needs_rehash(&state.settings.auth, &password_hash) {
        Some(password::hash(&state.settings.auth, pw).await?)
    } else {
        None
    };
    throttle::sign_in_succeeded(state.cache.as_ref(), &attempt).await;
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
    sqlx::query(
        // Only over the hash just verified: a password changed meanwhile stays changed.
        "update smartflow_main.users set last_login_at = now(), \
         password_hash = case when password_hash = $3 then coalesce($2, password_hash) \
                              else password_hash end \
         where id = $1",
    )
    .bind(user_id)
    .bind(renewed_hash)
    .bind(&password_hash)
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

/// Every workspace `user` belongs to, with their role in each.
pub async fn memberships_of(state: &AppState, user: Uuid) -> Result<Vec<MembershipView>, AppError> {
    Ok(sqlx::query_as(
        "select m.workspace_id, w.name as workspace_name, m.role from smartflow_shared.memberships m \
         join smartflow_shared.workspaces w on w.id = m.workspace_id where m.user_id = $1 order by w.name",
    )
    .bind(user)
    .fetch_all(&state.db)
    .await?)
}

/// What the caller may list as "their workspaces": every membership for a signed-in user; for
/// an API key only its own workspace, with the key's role.
pub async fn visible_memberships(
    state: &AppState,
    who: &Principal,
) -> Result<Vec<MembershipView>, AppError> {
    if who.api_key_id.is_none() {
        return memberships_of(state, who.user_id).await;
    }
    let (_, mut workspace) = user_and_workspace(state, who.user_id, who.workspace_id).await?;
    workspace.role = who.role;
    Ok(vec![workspace])
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

/// The signed-in user, the current workspace and role, and every membership (with an API key:
/// only the key's workspace).
#[utoipa::path(tag = "identity", responses((status = 200, body = MeResponse)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/auth/me")]
pub async fn me(state: web::Data<AppState>, who: Principal) -> Result<HttpResponse, AppError> {
    let (mut user, mut workspace) =
        user_and_workspace(&state, who.user_id, who.workspace_id).await?;
    let memberships = if who.api_key_id.is_some() {
        // A key acts with its own role, not its creator's, and sees only its workspace.
        workspace.role = who.role;
        user.is_staff = false;
        vec![workspace.clone()]
    } else {
        memberships_of(&state, who.user_id).await?
    };
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

/// Moves the current session to another workspace you belong to and returns a new access token;
/// access tokens issued before the switch stop working.
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
    let mut tx = state.db.begin().await?;
    sqlx::query("update smartflow_shared.sessions set workspace_id = $2 where id = $1")
        .bind(session)
        .bind(body.workspace_id)
        .execute(&mut *tx)
        .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "auth.workspace_switched",
            "session",
            session,
            json!({ "from": who.workspace_id, "to": body.workspace_id }),
        )
        .workspace(body.workspace_id),
    )
    .await?;
    tx.commit().await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let signup_body = SignupRequest {
            email: "a@example.com".into(),
            password: "hunter2hunter2".into(),
            name: None,
            workspace_name: None,
        };
        let login_body = LoginRequest {
            email: "a@example.com".into(),
            password: "hunter2hunter2".into(),
            workspace_id: None,
        };
        let refresh_body = RefreshRequest { refresh_token: "sfr_hunter2hunter2".into() };
        let confirm = super::super::reset::ResetConfirm {
            token: "hunter2hunter2".into(),
            password: "hunter2hunter2".into(),
        };
        let accept = crate::platform::workspaces::AcceptInvitation {
            token: "hunter2hunter2".into(),
            password: Some("hunter2hunter2".into()),
            name: None,
        };
        for printed in [
            format!("{accept:?}"),
            format!("{signup_body:?}"),
            format!("{login_body:?}"),
            format!("{refresh_body:?}"),
            format!("{confirm:?}"),
        ] {
            assert!(!printed.contains("hunter2"), "{printed}");
            assert!(printed.contains(REDACTED), "{printed}");
        }
        assert!(format!("{login_body:?}").contains("a@example.com"), "other fields stay readable");
    }
}
