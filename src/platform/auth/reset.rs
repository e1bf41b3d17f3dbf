//! Password reset by e-mail: a single-use link that expires, limited per address and per
//! client, answering the same whether or not the account exists.
//!
//! A request does the same work for known and unknown addresses (count it, enqueue one job);
//! the `auth.password_reset` job looks the account up and, when it exists, stores a token and
//! queues the e-mail. Confirming checks the token before spending time on hashing, and a used
//! link retires every other link of the account.

use actix_web::{HttpRequest, HttpResponse, post, web};
use askama::Template;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    password,
    routes::{REDACTED, actor_for},
    sessions, throttle,
};
use crate::{
    domain::{Email, NewPassword},
    error::AppError,
    http::{RequestId, client_ip},
    platform::{
        crypto::{random_token, sha256_hex},
        events::{Actor, Event, record_event},
        jobs::{self, Job, JobContext, JobError, JobResult, Outcome},
        mail::{self, OutgoingEmail},
    },
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetRequest {
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
pub struct ResetConfirm {
    /// The token from the e-mailed link.
    pub token: String,
    pub password: String,
}

impl std::fmt::Debug for ResetConfirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetConfirm")
            .field("token", &REDACTED)
            .field("password", &REDACTED)
            .finish()
    }
}

#[derive(Template)]
#[template(path = "email/password_reset.txt")]
struct ResetEmail<'a> {
    site: &'a str,
    link: &'a str,
    minutes: u64,
}

/// Who asked, for the job (encrypted in its arguments: an e-mail address is personal data).
#[derive(Serialize, Deserialize)]
struct Asked {
    email: String,
    request_id: Option<String>,
    ip: Option<String>,
}

const CONTEXT: &str = "auth.password_reset";

/// Looks the account up and, when it exists, e-mails it a reset link.
#[derive(Serialize, Deserialize)]
pub struct SendResetLink {
    sealed: String,
}

#[async_trait]
impl Job for SendResetLink {
    const KIND: &'static str = "auth.password_reset";
    const QUEUE: &'static str = "email";
    const MAX_ATTEMPTS: i32 = 8;

    async fn run(self, ctx: JobContext) -> JobResult {
        let json = ctx.state.cipher.decrypt(&self.sealed, CONTEXT).map_err(JobError::permanent)?;
        let asked: Asked = serde_json::from_str(&json).map_err(JobError::permanent)?;
        issue_link(&ctx.state, &asked).await.map_err(anyhow::Error::from)?;
        Ok(Outcome::Done)
    }
}

async fn issue_link(state: &AppState, asked: &Asked) -> Result<(), AppError> {
    let user: Option<Uuid> = sqlx::query_scalar(
        "select id from smartflow_main.users where email = $1 and disabled_at is null",
    )
    .bind(&asked.email)
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
            &asked.email,
            &format!("Reset your {} password", state.settings.app.name),
            body,
        ),
    )
    .await?;
    let actor = Actor {
        user_id: Some(user_id),
        label: asked.email.clone(),
        request_id: asked.request_id.clone(),
        ip: asked.ip.clone(),
        ..Actor::default()
    };
    record_event(
        &mut tx,
        &actor,
        Event::new("auth.password_reset_requested", "user", user_id, json!({})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Queues a reset link for `raw_email`. Known and unknown addresses get the same answer after
/// the same work; requests over the per-address or per-client limit get 429.
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
    let ip = client_ip(req, state.settings.server.trust_proxy_headers).map(|i| i.to_string());
    throttle::reset_requested(
        state.cache.as_ref(),
        &state.settings.auth,
        email.as_str(),
        ip.as_deref(),
    )
    .await?;
    let asked = Asked { email: email.into_inner(), request_id: RequestId::of(req), ip };
    let json = serde_json::to_string(&asked).map_err(AppError::internal)?;
    let sealed = state.cipher.encrypt(&json, CONTEXT).map_err(AppError::internal)?;
    let mut conn = state.db.acquire().await?;
    jobs::enqueue(&mut conn, &SendResetLink { sealed }).await?;
    Ok(())
}

fn invalid_token() -> AppError {
    AppError::validation(
        "token",
        "invalid_token",
        "This reset link is invalid, was already used, or has expired; ask for a new one.",
    )
}

/// Sets a new password with a reset token (single use), retiring the account's other reset
/// links and ending every session of the account.
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
    let token_hash = sha256_hex(token.trim());
    // Checked before hashing: a made-up token must not cost an argon2 run.
    let valid: bool = sqlx::query_scalar(
        "select exists (select 1 from smartflow_shared.password_resets \
         where token_hash = $1 and used_at is null and expires_at > now())",
    )
    .bind(&token_hash)
    .fetch_one(&state.db)
    .await?;
    if !valid {
        return Err(invalid_token());
    }
    let hash = password::hash(&state.settings.auth, pw.expose()).await?;
    let mut tx = state.db.begin().await?;
    // Used up atomically: of two concurrent confirmations only one finds it unused.
    let user: Option<(Uuid, String)> = sqlx::query_as(
        "update smartflow_shared.password_resets r set used_at = now() from smartflow_main.users u \
         where r.token_hash = $1 and r.used_at is null and r.expires_at > now() and u.id = r.user_id \
         returning u.id, u.email",
    )
    .bind(&token_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id, email)) = user else { return Err(invalid_token()) };
    sqlx::query(
        "update smartflow_main.users set password_hash = $2, updated_at = now() where id = $1",
    )
    .bind(user_id)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    let retired = sqlx::query(
        "update smartflow_shared.password_resets set used_at = now() \
         where user_id = $1 and used_at is null",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let actor = actor_for(req, state, Some((user_id, &email)), None);
    record_event(
        &mut tx,
        &actor,
        Event::new(
            "auth.password_reset",
            "user",
            user_id,
            json!({ "other_links_retired": retired }),
        ),
    )
    .await?;
    tx.commit().await?;
    sessions::revoke_all(state, user_id, "password reset").await?;
    Ok(())
}

/// Sends a password-reset link if the account exists; always answers 202 (429 when asked too
/// often for one address or from one client).
#[utoipa::path(tag = "identity", request_body = ResetRequest, responses((status = 202), (status = 429)))]
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
