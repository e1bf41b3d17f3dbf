//! `smartflow create-admin`: platform staff from the command line.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::password;
use crate::{
    config::Settings,
    domain::{Email, NewPassword},
    platform::{
        crypto::random_token,
        events::{Actor, Event, record_event},
    },
};

pub struct CreatedAdmin {
    pub email: String,
    pub user_id: Uuid,
    /// Set when no password was given: print it once.
    pub generated_password: Option<String>,
}

/// Creates a staff account with its own workspace, or promotes an existing account (and sets
/// its password when one is given).
pub async fn create_admin(
    db: &PgPool,
    settings: &Settings,
    email: &str,
    name: Option<&str>,
    password_given: Option<String>,
) -> anyhow::Result<CreatedAdmin> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {}", e.message))?;
    if let Some(pw) = &password_given {
        NewPassword::parse(pw).map_err(|e| anyhow::anyhow!("password: {}", e.message))?;
    }
    let existing: Option<Uuid> =
        sqlx::query_scalar("select id from smartflow_main.users where email = $1")
            .bind(email.as_str())
            .fetch_optional(db)
            .await?;
    let mut tx = db.begin().await?;
    let actor = Actor::system("cli");
    let (user_id, generated) = match existing {
        Some(id) => {
            sqlx::query("update smartflow_main.users set is_staff = true, disabled_at = null, updated_at = now() where id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if let Some(pw) = &password_given {
                let hash =
                    password::hash(&settings.auth, pw).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                sqlx::query("update smartflow_main.users set password_hash = $2 where id = $1")
                    .bind(id)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
            }
            (id, None)
        }
        None => {
            let (pw, generated) = match password_given {
                Some(pw) => (pw, None),
                None => {
                    let pw = random_token(18);
                    (pw.clone(), Some(pw))
                }
            };
            let hash =
                password::hash(&settings.auth, &pw).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let id: Uuid = sqlx::query_scalar(
                "insert into smartflow_main.users (email, name, password_hash, is_staff) values ($1, $2, $3, true) returning id",
            )
            .bind(email.as_str())
            .bind(name.unwrap_or(""))
            .bind(hash)
            .fetch_one(&mut *tx)
            .await?;
            let workspace: Uuid = sqlx::query_scalar("insert into smartflow_shared.workspaces (name, created_by) values ($1, $2) returning id")
                .bind(format!("{} staff", settings.app.name))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query("insert into smartflow_shared.memberships (workspace_id, user_id, role) values ($1, $2, 'admin')")
                .bind(workspace)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            (id, generated)
        }
    };
    record_event(
        &mut tx,
        &actor,
        Event::new("user.made_staff", "user", user_id, json!({ "email": email.as_str() })),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedAdmin { email: email.into_inner(), user_id, generated_password: generated })
}
