//! `/api/workspaces/...`: the workspace, its members and roles, and e-mailed invitations.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::{Email, NewPassword, text},
    error::{AppError, Validator},
    platform::{
        auth::{
            Authorized, ManageUsers, MaybePrincipal, Principal, Read, Role, api_keys, password,
            routes::{self, AuthResponse, MembershipView, UserView},
            sessions,
        },
        crypto::{random_token, sha256_hex},
        events::{Actor, Event, record_event},
        mail::{self, OutgoingEmail},
        plans::{self, Limit},
    },
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Workspace {
    pub id: Uuid,
    pub name: String,
    /// IANA timezone used for calendars and scheduling.
    pub timezone: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateWorkspace {
    pub name: Option<String>,
    /// IANA name such as `Europe/Paris`.
    pub timezone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleChange {
    /// `admin`, `user` or `viewer`.
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewInvitation {
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
pub struct AcceptInvitation {
    /// The token from the e-mailed link.
    pub token: String,
    /// For a new account: its password (at least 10 characters).
    pub password: Option<String>,
    pub name: Option<String>,
}

impl std::fmt::Debug for AcceptInvitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = crate::platform::auth::routes::REDACTED;
        f.debug_struct("AcceptInvitation")
            .field("token", &redacted)
            .field("password", &self.password.as_ref().map(|_| redacted))
            .field("name", &self.name)
            .finish()
    }
}

/// A workspace path segment must be the caller's current workspace: other workspaces do not
/// exist for this request (404, never 403, so ids cannot be probed).
fn same_workspace(who: &Principal, id: Uuid) -> Result<(), AppError> {
    if who.workspace_id == id { Ok(()) } else { Err(AppError::not_found("Workspace")) }
}

/// Workspaces you belong to, with your role in each (with an API key: only the key's
/// workspace, with the key's role).
#[utoipa::path(tag = "identity", responses((status = 200, body = Vec<MembershipView>)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/workspaces")]
pub async fn list_workspaces(
    state: web::Data<AppState>,
    who: Principal,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(routes::visible_memberships(&state, &who).await?))
}

/// The current workspace.
#[utoipa::path(tag = "identity", params(("id" = Uuid, Path)), responses((status = 200, body = Workspace)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/workspaces/{id}")]
pub async fn get_workspace(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    same_workspace(&who, *id)?;
    let ws: Workspace = sqlx::query_as(
        "select id, name, timezone, created_at from smartflow_shared.workspaces where id = $1",
    )
    .bind(*id)
    .fetch_one(&state.db)
    .await?;
    Ok(HttpResponse::Ok().json(ws))
}

/// Renames the workspace or changes its timezone (admins).
#[utoipa::path(tag = "identity", params(("id" = Uuid, Path)), request_body = UpdateWorkspace, responses((status = 200, body = Workspace)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[patch("/api/workspaces/{id}")]
pub async fn update_workspace(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    id: web::Path<Uuid>,
    body: web::Json<UpdateWorkspace>,
) -> Result<HttpResponse, AppError> {
    same_workspace(&who, *id)?;
    let mut v = Validator::new();
    let name = match &body.name {
        Some(n) => v.check("name", text::required(n, 100)),
        None => None,
    };
    if let Some(tz) = &body.timezone
        && tz.parse::<chrono_tz::Tz>().is_err()
    {
        v.add(
            "timezone",
            "invalid_timezone",
            format!("`{tz}` is not an IANA timezone such as `Europe/Paris`."),
        );
    }
    v.finish()?;
    let mut tx = state.db.begin().await?;
    let ws: Workspace = sqlx::query_as(
        "update smartflow_shared.workspaces set name = coalesce($2, name), timezone = coalesce($3, timezone), updated_at = now() \
         where id = $1 returning id, name, timezone, created_at",
    )
    .bind(*id)
    .bind(&name)
    .bind(&body.timezone)
    .fetch_one(&mut *tx)
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "workspace.updated",
            "workspace",
            *id,
            json!({ "name": ws.name, "timezone": ws.timezone }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(ws))
}

/// Members of the current workspace.
#[utoipa::path(tag = "identity", params(("id" = Uuid, Path)), responses((status = 200, body = Vec<Member>)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/workspaces/{id}/members")]
pub async fn list_members(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    same_workspace(&who, *id)?;
    let rows: Vec<Member> = sqlx::query_as(
        "select u.id as user_id, u.email, u.name, m.role, m.created_at as joined_at from smartflow_shared.memberships m \
         join smartflow_main.users u on u.id = m.user_id where m.workspace_id = $1 order by m.created_at",
    )
    .bind(*id)
    .fetch_all(&state.db)
    .await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// Fails when the change would leave the workspace without an admin.
async fn keep_an_admin(
    conn: &mut sqlx::PgConnection,
    workspace: Uuid,
    user: Uuid,
) -> Result<(), AppError> {
    let admins: Vec<Uuid> = sqlx::query_scalar(
        "select user_id from smartflow_shared.memberships where workspace_id = $1 and role = 'admin' for update",
    )
    .bind(workspace)
    .fetch_all(&mut *conn)
    .await?;
    if admins == [user] {
        return Err(AppError::Conflict(
            "A workspace needs at least one admin; make someone else admin first.".into(),
        ));
    }
    Ok(())
}

/// Changes a member's role (admins). Takes effect on their next request.
#[utoipa::path(tag = "identity", params(("id" = Uuid, Path), ("user_id" = Uuid, Path)), request_body = RoleChange, responses((status = 200, body = Member)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[patch("/api/workspaces/{id}/members/{user_id}")]
pub async fn change_member_role(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    path: web::Path<(Uuid, Uuid)>,
    body: web::Json<RoleChange>,
) -> Result<HttpResponse, AppError> {
    let (id, user) = path.into_inner();
    same_workspace(&who, id)?;
    let mut tx = state.db.begin().await?;
    let old: Option<String> = sqlx::query_scalar("select role from smartflow_shared.memberships where workspace_id = $1 and user_id = $2 for update")
        .bind(id)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
    let old = old.ok_or_else(|| AppError::not_found("Member"))?;
    if old == "admin" && body.role != Role::Admin {
        keep_an_admin(&mut tx, id, user).await?;
    }
    let member: Member = sqlx::query_as(
        "with m as (update smartflow_shared.memberships set role = $3 where workspace_id = $1 and user_id = $2 returning *) \
         select u.id as user_id, u.email, u.name, m.role, m.created_at as joined_at from m join smartflow_main.users u on u.id = m.user_id",
    )
    .bind(id)
    .bind(user)
    .bind(body.role.as_str())
    .fetch_one(&mut *tx)
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("member.role_changed", "user", user, json!({ "from": old, "to": body.role })),
    )
    .await?;
    tx.commit().await?;
    let open = sessions::open_sessions(&state, user, Some(id)).await?;
    sessions::forget(&state, &open).await;
    api_keys::forget_keys_of(&state, user, Some(id)).await;
    Ok(HttpResponse::Ok().json(member))
}

/// Removes a member (admins); their sessions in this workspace end.
#[utoipa::path(tag = "identity", params(("id" = Uuid, Path), ("user_id" = Uuid, Path)), responses((status = 204)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[delete("/api/workspaces/{id}/members/{user_id}")]
pub async fn remove_member(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (id, user) = path.into_inner();
    same_workspace(&who, id)?;
    let mut tx = state.db.begin().await?;
    let role: Option<String> = sqlx::query_scalar("select role from smartflow_shared.memberships where workspace_id = $1 and user_id = $2 for update")
        .bind(id)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
    let role = role.ok_or_else(|| AppError::not_found("Member"))?;
    if role == "admin" {
        keep_an_admin(&mut tx, id, user).await?;
    }
    sqlx::query(
        "delete from smartflow_shared.memberships where workspace_id = $1 and user_id = $2",
    )
    .bind(id)
    .bind(user)
    .execute(&mut *tx)
    .await?;
    let open: Vec<Uuid> = sqlx::query_scalar(
        "update smartflow_shared.sessions set revoked_at = now(), revoked_reason = 'removed from workspace' \
         where user_id = $1 and workspace_id = $2 and revoked_at is null returning id",
    )
    .bind(user)
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("member.removed", "user", user, json!({ "role": role })),
    )
    .await?;
    tx.commit().await?;
    sessions::mark_revoked(&state, &open).await;
    api_keys::forget_keys_of(&state, user, Some(id)).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Seats the plan's `members` limit counts: members, and pending invitations when asked. Locks
/// the workspace row so concurrent invitations and acceptances are counted one at a time.
async fn seats_in_use(
    conn: &mut sqlx::PgConnection,
    workspace: Uuid,
    with_pending: bool,
) -> Result<i64, AppError> {
    sqlx::query("select 1 from smartflow_shared.workspaces where id = $1 for update")
        .bind(workspace)
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query_scalar(
        "select (select count(*) from smartflow_shared.memberships where workspace_id = $1) \
         + case when $2 then (select count(*) from smartflow_shared.invitations where workspace_id = $1 \
           and accepted_at is null and revoked_at is null and expires_at > now()) else 0 end",
    )
    .bind(workspace)
    .bind(with_pending)
    .fetch_one(&mut *conn)
    .await?)
}

#[derive(Template)]
#[template(path = "email/invitation.txt")]
struct InvitationEmail<'a> {
    site: &'a str,
    inviter: &'a str,
    workspace: &'a str,
    role: &'a str,
    link: &'a str,
    days: u64,
}

/// Invites someone by e-mail with a single-use link (admins). Members and pending invitations
/// together are limited by the plan (402).
#[utoipa::path(tag = "identity", params(("id" = Uuid, Path)), request_body = NewInvitation, responses((status = 201, body = Invitation), (status = 402), (status = 409)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[post("/api/workspaces/{id}/invitations")]
pub async fn invite_member(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    id: web::Path<Uuid>,
    body: web::Json<NewInvitation>,
) -> Result<HttpResponse, AppError> {
    same_workspace(&who, *id)?;
    let email = Email::parse(&body.email).map_err(|mut e| {
        e.field = "email".into();
        AppError::Validation(vec![e])
    })?;
    let already: bool = sqlx::query_scalar(
        "select exists (select 1 from smartflow_shared.memberships m join smartflow_main.users u on u.id = m.user_id \
         where m.workspace_id = $1 and u.email = $2)",
    )
    .bind(*id)
    .bind(email.as_str())
    .fetch_one(&state.db)
    .await?;
    if already {
        return Err(AppError::Conflict(format!("{email} is already a member of this workspace.")));
    }
    let token = random_token(32);
    let hours = state.settings.auth.invitation_ttl_hours;
    let workspace: String =
        sqlx::query_scalar("select name from smartflow_shared.workspaces where id = $1")
            .bind(*id)
            .fetch_one(&state.db)
            .await?;
    let link = format!("{}/invite/{token}", state.settings.app.base_url.trim_end_matches('/'));
    let text = InvitationEmail {
        site: &state.settings.app.name,
        inviter: &who.email,
        workspace: &workspace,
        role: body.role.as_str(),
        link: &link,
        days: hours.div_ceil(24),
    }
    .render()
    .map_err(AppError::internal)?;
    let mut tx = state.db.begin().await?;
    // Members and pending invitations count: every invitation may become a member.
    let in_use = seats_in_use(&mut tx, *id, true).await?;
    plans::ensure(&state, *id, Limit::Members, in_use).await?;
    let inv: Invitation = sqlx::query_as(
        "insert into smartflow_shared.invitations (workspace_id, email, role, token_hash, invited_by, expires_at) \
         values ($1, $2, $3, $4, $5, now() + make_interval(hours => $6)) \
         returning id, email, role, invited_by, expires_at, accepted_at, revoked_at, created_at",
    )
    .bind(*id)
    .bind(email.as_str())
    .bind(body.role.as_str())
    .bind(sha256_hex(&token))
    .bind(who.user_id)
    .bind(hours as i32)
    .fetch_one(&mut *tx)
    .await?;
    mail::enqueue(
        &mut tx,
        &state,
        OutgoingEmail::text(
            email.as_str(),
            &format!("You are invited to {workspace} on {}", state.settings.app.name),
            text,
        ),
    )
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "member.invited",
            "invitation",
            inv.id,
            json!({ "email": email.as_str(), "role": body.role }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(inv))
}

/// Pending and past invitations of the workspace (admins).
#[utoipa::path(tag = "identity", params(("id" = Uuid, Path)), responses((status = 200, body = Vec<Invitation>)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/workspaces/{id}/invitations")]
pub async fn list_invitations(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    same_workspace(&who, *id)?;
    let rows: Vec<Invitation> = sqlx::query_as(
        "select id, email, role, invited_by, expires_at, accepted_at, revoked_at, created_at \
         from smartflow_shared.invitations where workspace_id = $1 order by created_at desc limit 200",
    )
    .bind(*id)
    .fetch_all(&state.db)
    .await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// Withdraws an invitation that was not accepted yet (admins).
#[utoipa::path(tag = "identity", params(("id" = Uuid, Path), ("invitation_id" = Uuid, Path)), responses((status = 204)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[delete("/api/workspaces/{id}/invitations/{invitation_id}")]
pub async fn revoke_invitation(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (id, invitation) = path.into_inner();
    same_workspace(&who, id)?;
    let mut tx = state.db.begin().await?;
    let n = sqlx::query(
        "update smartflow_shared.invitations set revoked_at = now() where id = $1 and workspace_id = $2 \
         and accepted_at is null and revoked_at is null",
    )
    .bind(invitation)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(AppError::not_found("Pending invitation"));
    }
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("member.invitation_revoked", "invitation", invitation, json!({})),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Outcome of accepting an invitation.
pub struct Accepted {
    pub workspace_id: Uuid,
    pub user_id: Uuid,
    pub signed_in: Option<sessions::Issued>,
}

/// Accepts an invitation: as the signed-in user it was sent to, or by creating the account.
pub async fn accept(
    state: &AppState,
    req: &HttpRequest,
    who: Option<&Principal>,
    body: &AcceptInvitation,
) -> Result<Accepted, AppError> {
    let invalid = || {
        AppError::validation(
            "token",
            "invalid_token",
            "This invitation is invalid, was already used, or has expired.",
        )
    };
    let mut tx = state.db.begin().await?;
    let inv: Option<(Uuid, Uuid, String, String)> = sqlx::query_as(
        "select id, workspace_id, email, role from smartflow_shared.invitations \
         where token_hash = $1 and accepted_at is null and revoked_at is null and expires_at > now() for update",
    )
    .bind(sha256_hex(body.token.trim()))
    .fetch_optional(&mut *tx)
    .await?;
    let (inv_id, workspace_id, email, role) = inv.ok_or_else(invalid)?;
    let role = Role::parse(&role).unwrap_or(Role::Viewer);
    let existing: Option<Uuid> =
        sqlx::query_scalar("select id from smartflow_main.users where email = $1")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await?;
    let (user_id, new_account) = match (existing, who) {
        (Some(user), Some(p)) if p.user_id == user => (user, false),
        (Some(_), _) => {
            return Err(AppError::Forbidden(format!(
                "This invitation is for {email}: sign in as that account to accept it."
            )));
        }
        (None, _) => {
            let mut v = Validator::new();
            let pw =
                v.check("password", NewPassword::parse(body.password.as_deref().unwrap_or("")));
            let name = v.check("name", text::optional(body.name.as_deref(), 100)).flatten();
            v.finish()?;
            let hash = password::hash(
                &state.settings.auth,
                pw.as_ref().map(|p| p.expose()).unwrap_or_default(),
            )
            .await?;
            let id: Uuid = sqlx::query_scalar("insert into smartflow_main.users (email, name, password_hash) values ($1, $2, $3) returning id")
                .bind(&email)
                .bind(name.unwrap_or_default())
                .bind(&hash)
                .fetch_one(&mut *tx)
                .await?;
            (id, true)
        }
    };
    let already: bool = sqlx::query_scalar(
        "select exists (select 1 from smartflow_shared.memberships where workspace_id = $1 and user_id = $2)",
    )
    .bind(workspace_id)
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    if !already {
        // The plan may have shrunk, or others joined, since the invitation was sent.
        let in_use = seats_in_use(&mut tx, workspace_id, false).await?;
        plans::ensure(state, workspace_id, Limit::Members, in_use).await?;
    }
    sqlx::query("insert into smartflow_shared.memberships (workspace_id, user_id, role) values ($1, $2, $3) on conflict do nothing")
        .bind(workspace_id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&mut *tx)
        .await?;
    sqlx::query("update smartflow_shared.invitations set accepted_at = now() where id = $1")
        .bind(inv_id)
        .execute(&mut *tx)
        .await?;
    let actor = Actor {
        user_id: Some(user_id),
        label: email.clone(),
        workspace_id: Some(workspace_id),
        request_id: who.and_then(|p| p.request_id.clone()),
        ip: who.and_then(|p| p.ip.clone()),
        ..Actor::default()
    };
    record_event(
        &mut tx,
        &actor,
        Event::new(
            "member.joined",
            "user",
            user_id,
            json!({ "role": role, "invitation_id": inv_id, "new_account": new_account }),
        ),
    )
    .await?;
    let signed_in = if who.is_none() {
        let ip = crate::http::client_ip(req, state.settings.server.trust_proxy_headers)
            .map(|i| i.to_string());
        let ua = req.headers().get("user-agent").and_then(|v| v.to_str().ok());
        Some(
            sessions::create(&mut tx, state, user_id, workspace_id, role, ip.as_deref(), ua)
                .await?,
        )
    } else {
        None
    };
    tx.commit().await?;
    Ok(Accepted { workspace_id, user_id, signed_in })
}

/// Accepts an invitation. Signed in as the invited address: joins the workspace. No account
/// yet: creates it with `password` and signs in.
#[utoipa::path(tag = "identity", request_body = AcceptInvitation, responses((status = 200, body = AuthResponse), (status = 204), (status = 402), (status = 422)))]
#[post("/api/invitations/accept")]
pub async fn accept_invitation(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: MaybePrincipal,
    body: web::Json<AcceptInvitation>,
) -> Result<HttpResponse, AppError> {
    let accepted = accept(&state, &req, who.0.as_ref(), &body).await?;
    let Some(issued) = accepted.signed_in else { return Ok(HttpResponse::NoContent().finish()) };
    let (email, name): (String, String) =
        sqlx::query_as("select email, name from smartflow_main.users where id = $1")
            .bind(accepted.user_id)
            .fetch_one(&state.db)
            .await?;
    let workspace: MembershipView = sqlx::query_as(
        "select m.workspace_id, w.name as workspace_name, m.role from smartflow_shared.memberships m \
         join smartflow_shared.workspaces w on w.id = m.workspace_id where m.user_id = $1 and m.workspace_id = $2",
    )
    .bind(accepted.user_id)
    .bind(accepted.workspace_id)
    .fetch_one(&state.db)
    .await?;
    Ok(HttpResponse::Ok()
        .cookie(sessions::cookie(&state, &issued.cookie_value, issued.expires_at))
        .json(AuthResponse {
            access_token: issued.access_token,
            token_type: "Bearer".into(),
            expires_in: state.settings.auth.access_token_ttl_secs,
            refresh_token: issued.refresh_token,
            session_expires_at: issued.expires_at,
            user: UserView { id: accepted.user_id, email, name, is_staff: false },
            workspace,
        }))
}
