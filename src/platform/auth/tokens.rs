//! Short-lived HS256 access tokens. The session id inside ties each token to a session, so
//! signing out makes its tokens stop working at once.

use std::sync::OnceLock;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{config::AuthSettings, error::AppError, platform::auth::Role};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user.
    pub sub: Uuid,
    /// The workspace the token acts in.
    pub wid: Uuid,
    /// The role when issued (informational: the live session decides).
    pub role: Role,
    /// The session this token belongs to.
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

/// Development and test fall back to a random key per process.
fn secret(settings: &AuthSettings) -> &[u8] {
    static EPHEMERAL: OnceLock<String> = OnceLock::new();
    match settings.jwt_secret.get() {
        Some(s) => s.as_bytes(),
        None => EPHEMERAL.get_or_init(|| crate::platform::crypto::random_token(48)).as_bytes(),
    }
}

pub fn issue(
    settings: &AuthSettings,
    user: Uuid,
    workspace: Uuid,
    role: Role,
    session: Uuid,
) -> Result<String, AppError> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        sub: user,
        wid: workspace,
        role,
        sid: session,
        iat: now,
        exp: now + settings.access_token_ttl_secs as i64,
        jti: Uuid::new_v4(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret(settings)),
    )
    .map_err(AppError::internal)
}

pub fn decode(settings: &AuthSettings, token: &str) -> Result<Claims, AppError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation.leeway = 30;
    jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret(settings)), &validation)
        .map(|d| d.claims)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let detail = match e.kind() {
                ErrorKind::ExpiredSignature => {
                    "The access token has expired; refresh it at /api/auth/refresh."
                }
                _ => "The access token is not valid.",
            };
            AppError::Unauthorized(detail.into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, Settings};

    #[test]
    fn round_trip_and_tamper() {
        let mut s = Settings::default().auth;
        s.jwt_secret = Secret::new("x".repeat(40));
        let (u, w, sid) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let token = issue(&s, u, w, Role::User, sid).unwrap();
        let claims = decode(&s, &token).unwrap();
        assert_eq!((claims.sub, claims.wid, claims.sid, claims.role), (u, w, sid, Role::User));

        let mut other = s.clone();
        other.jwt_secret = Secret::new("y".repeat(40));
        assert!(decode(&other, &token).is_err(), "another key");
        other = s.clone();
        other.audience = "someone-else".into();
        assert!(decode(&other, &token).is_err(), "another audience");
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = "eyJzdWIiOiJoYWNrZXIifQ";
        assert!(decode(&s, &parts.join(".")).is_err(), "tampered payload");
        s.access_token_ttl_secs = 0;
        let expired = {
            let mut c = s.clone();
            c.access_token_ttl_secs = 0;
            let now = Utc::now().timestamp() - 120;
            let claims = Claims {
                iss: c.issuer.clone(),
                aud: c.audience.clone(),
                sub: u,
                wid: w,
                role: Role::User,
                sid,
                iat: now,
                exp: now + 1,
                jti: Uuid::new_v4(),
            };
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(secret(&c)),
            )
            .unwrap()
        };
        assert!(
            matches!(decode(&s, &expired), Err(AppError::Unauthorized(m)) if m.contains("expired"))
        );
    }
}
