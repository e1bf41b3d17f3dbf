//! Who is calling, and what they may do.
//!
//! Every request authenticates the same way: a Bearer JWT (its session must still be live), a
//! Bearer API key (`sf_…`), or the `sf_session` cookie (unsafe methods then need the CSRF
//! token). Handlers declare what they need with [`Authorized<P>`]; [`Role::permissions`] is the
//! seed's permission table and the single source of truth.

pub mod admin;
pub mod api_keys;
pub mod csrf;
pub mod pages;
pub mod password;
pub mod reset;
pub mod routes;
pub mod sessions;
pub mod socket;
pub mod throttle;
pub mod tokens;

use std::{future::Future, marker::PhantomData, ops::Deref, pin::Pin};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, http::Method, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    error::AppError,
    http::{RequestId, client_ip},
    platform::events::Actor,
    state::AppState,
};

pub const SESSION_COOKIE: &str = "sf_session";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
    Viewer,
}

impl Role {
    /// The seed's table: admin read, write, delete, manage_users; user read, write_own;
    /// viewer read.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => &[Read, Write, Delete, ManageUsers],
            Role::User => &[Read, WriteOwn],
            Role::Viewer => &[Read],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    /// Whether this role holds every permission of `other` (for delegating, e.g. API keys).
    pub fn covers(self, other: Role) -> bool {
        other.permissions().iter().all(|p| self.permissions().contains(p)) || (self == Role::Admin)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
    WriteOwn,
    Delete,
    ManageUsers,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::WriteOwn => "write_own",
            Permission::Delete => "delete",
            Permission::ManageUsers => "manage_users",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Bearer,
    Cookie,
    ApiKey,
}

/// The authenticated caller in their current workspace.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub email: String,
    pub workspace_id: Uuid,
    pub role: Role,
    pub is_staff: bool,
    pub method: AuthMethod,
    pub session_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl Principal {
    pub fn has(&self, p: Permission) -> bool {
        self.role.permissions().contains(&p)
    }

    pub fn require(&self, p: Permission) -> Result<(), AppError> {
        let ok = match p {
            // write_own is a kind of write: the record's owner is checked by `ensure_can_edit`.
            Permission::Write => self.has(Permission::Write) || self.has(Permission::WriteOwn),
            other => self.has(other),
        };
        if ok {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "Your role `{}` does not have the `{}` permission.",
                self.role.as_str(),
                p.as_str()
            )))
        }
    }

    /// A `user` (write_own) may change only what they created; admins change anything.
    pub fn ensure_can_edit(&self, created_by: Option<Uuid>) -> Result<(), AppError> {
        if self.has(Permission::Write)
            || (self.has(Permission::WriteOwn) && created_by == Some(self.user_id))
        {
            Ok(())
        } else if self.has(Permission::WriteOwn) {
            Err(AppError::Forbidden("You can only change what you created.".into()))
        } else {
            Err(AppError::Forbidden(format!(
                "Your role `{}` cannot change anything.",
                self.role.as_str()
            )))
        }
    }

    /// Deleting: what you created needs write (or write_own); what others created needs the
    /// `delete` permission (admins). One rule for every resource.
    pub fn ensure_can_delete(&self, created_by: Option<Uuid>) -> Result<(), AppError> {
        let own = created_by.is_some() && created_by == Some(self.user_id);
        if self.has(Permission::Delete)
            || (own && (self.has(Permission::Write) || self.has(Permission::WriteOwn)))
        {
            Ok(())
        } else if self.has(Permission::WriteOwn) {
            Err(AppError::Forbidden(
                "You can only delete what you created; ask an admin to delete this.".into(),
            ))
        } else {
            Err(AppError::Forbidden(format!(
                "Your role `{}` cannot delete anything.",
                self.role.as_str()
            )))
        }
    }

    /// `Some(user)` when writes must be limited to the caller's own records.
    pub fn owner_filter(&self) -> Option<Uuid> {
        (!self.has(Permission::Write)).then_some(self.user_id)
    }

    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            api_key_id: self.api_key_id,
            label: match self.api_key_id {
                Some(id) => format!("api-key:{id}"),
                None => self.email.clone(),
            },
            workspace_id: Some(self.workspace_id),
            request_id: self.request_id.clone(),
            ip: self.ip.clone(),
        }
    }
}

/// Resolves the caller once per request (cached in the request's extensions).
pub async fn authenticate(req: &HttpRequest) -> Result<Principal, AppError> {
    if let Some(p) = req.extensions().get::<Principal>() {
        return Ok(p.clone());
    }
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("application state missing")))?;
    let mut principal = resolve(req, state).await?;
    principal.request_id = RequestId::of(req);
    principal.ip =
        client_ip(req, state.settings.server.trust_proxy_headers).map(|ip| ip.to_string());
    req.extensions_mut().insert(principal.clone());
    Ok(principal)
}

async fn resolve(req: &HttpRequest, state: &AppState) -> Result<Principal, AppError> {
    if let Some(header) = req.headers().get("authorization") {
        let value = header
            .to_str()
            .map_err(|_| unauthorized("The Authorization header is not valid text."))?;
        let Some(token) = value.strip_prefix("Bearer ").map(str::trim) else {
            return Err(unauthorized("Use `Authorization: Bearer <access token or API key>`."));
        };
        return from_bearer(state, token).await;
    }
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        let session = sessions::from_cookie(state, cookie.value())
            .await?
            .ok_or_else(|| unauthorized("Your session has ended; sign in again."))?;
        if is_unsafe(req.method()) && !is_form(req) {
            csrf::verify_header(req)?;
        }
        return Ok(session.principal(AuthMethod::Cookie));
    }
    Err(unauthorized("Sign in, or send `Authorization: Bearer <access token or API key>`."))
}

/// A bearer credential from any transport (header, WebSocket query or message): an API key,
/// or an access token whose session is live and still in the token's user and workspace.
pub async fn from_bearer(state: &AppState, token: &str) -> Result<Principal, AppError> {
    let token = token.trim();
    if token.starts_with(api_keys::KEY_PREFIX) {
        return api_keys::authenticate(state, token).await;
    }
    let claims = tokens::decode(&state.settings.auth, token)?;
    let session = sessions::load(state, claims.sid).await?.ok_or_else(|| {
        unauthorized("This session has ended (signed out or expired); sign in again.")
    })?;
    if session.user_id != claims.sub {
        return Err(unauthorized("The access token does not match its session."));
    }
    // After a workspace switch the session moved on: tokens issued before it must not act in
    // the new workspace with the old one's intent.
    if session.workspace_id != claims.wid {
        return Err(unauthorized(
            "This access token was issued for another workspace; use the token from \
             switch-workspace or refresh.",
        ));
    }
    Ok(session.principal(AuthMethod::Bearer))
}

pub fn unauthorized(detail: &str) -> AppError {
    AppError::Unauthorized(detail.to_string())
}

fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// HTML form posts carry their CSRF token in the body; the page middleware checks it.
fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
        && !crate::http::is_api_path(req.path())
}

/// Any authenticated caller.
impl FromRequest for Principal {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await.map_err(Into::into) })
    }
}

/// The caller when there is one; `None` for anonymous requests (never an error).
pub struct MaybePrincipal(pub Option<Principal>);

impl FromRequest for MaybePrincipal {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(MaybePrincipal(authenticate(&req).await.ok())) })
    }
}

/// A permission a handler needs, as a type: `Authorized<Write>`.
pub trait Needs {
    const PERMISSION: Permission;
}

pub struct Read;
pub struct Write;
pub struct Delete;
pub struct ManageUsers;

impl Needs for Read {
    const PERMISSION: Permission = Permission::Read;
}
impl Needs for Write {
    const PERMISSION: Permission = Permission::Write;
}
impl Needs for Delete {
    const PERMISSION: Permission = Permission::Delete;
}
impl Needs for ManageUsers {
    const PERMISSION: Permission = Permission::ManageUsers;
}

/// An authenticated caller holding permission `P` (401 without credentials, 403 without `P`).
pub struct Authorized<P: Needs>(pub Principal, PhantomData<P>);

impl<P: Needs> Deref for Authorized<P> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl<P: Needs + 'static> FromRequest for Authorized<P> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let principal = authenticate(&req).await?;
            principal.require(P::PERMISSION)?;
            Ok(Authorized(principal, PhantomData))
        })
    }
}

/// Platform staff: the operators of this SmartFlow site (leads, inquiries, jobs).
pub struct Staff(pub Principal);

impl Deref for Staff {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl FromRequest for Staff {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let principal = authenticate(&req).await?;
            if !principal.is_staff || principal.api_key_id.is_some() {
                return Err(AppError::Forbidden("Only SmartFlow staff can do this.".into()).into());
            }
            Ok(Staff(principal))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_permission_table() {
        use Permission::*;
        let table = [
            (Role::Admin, [true, true, false, true, true]),
            (Role::User, [true, false, true, false, false]),
            (Role::Viewer, [true, false, false, false, false]),
        ];
        for (role, expected) in table {
            for (p, want) in [Read, Write, WriteOwn, Delete, ManageUsers].into_iter().zip(expected)
            {
                assert_eq!(role.permissions().contains(&p), want, "{role:?} {p:?}");
            }
        }
        assert!(Role::Admin.covers(Role::Viewer));
        assert!(Role::Admin.covers(Role::Admin) && Role::User.covers(Role::User));
        assert!(Role::User.covers(Role::Viewer));
        assert!(!Role::User.covers(Role::Admin));
        assert!(!Role::Viewer.covers(Role::User));
    }

    fn principal(role: Role) -> Principal {
        Principal {
            user_id: Uuid::new_v4(),
            email: "p@example.com".into(),
            workspace_id: Uuid::new_v4(),
            role,
            is_staff: false,
            method: AuthMethod::Bearer,
            session_id: None,
            api_key_id: None,
            request_id: None,
            ip: None,
        }
    }

    /// One rule for every resource: delete what you created with write or write_own; delete
    /// what others created with `delete` (admins).
    #[test]
    fn delete_rule() {
        for (role, own, others, nobodys) in [
            (Role::Admin, true, true, true),
            (Role::User, true, false, false),
            (Role::Viewer, false, false, false),
        ] {
            let p = principal(role);
            assert_eq!(p.ensure_can_delete(Some(p.user_id)).is_ok(), own, "{role:?} own");
            assert_eq!(p.ensure_can_delete(Some(Uuid::new_v4())).is_ok(), others, "{role:?}");
            assert_eq!(p.ensure_can_delete(None).is_ok(), nobodys, "{role:?} no creator");
        }
    }
}
