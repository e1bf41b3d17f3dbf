//! Staff changes to leads, shared by the API and the admin pages: the status workflow, owner
//! and notes with their history, and erasure on request (GDPR).

use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    model::{Lead, LeadPatch, LeadStatus},
    repo,
};
use crate::{
    error::{AppError, Validator},
    platform::{
        auth::Principal,
        events::{Actor, Event, record_event},
        mail,
    },
    state::AppState,
};

/// Leads belong to the platform: their events must not reach the staff member's own workspace
/// (its webhooks and live feed), so the actor carries no workspace.
pub fn platform_actor(staff: &Principal) -> Actor {
    Actor { workspace_id: None, ..staff.actor() }
}

async fn history(
    conn: &mut PgConnection,
    lead: Uuid,
    kind: &str,
    actor: &Actor,
    data: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into smartflow_main.lead_history (lead_id, kind, actor_user_id, data) values ($1, $2, $3, $4)",
    )
    .bind(lead)
    .bind(kind)
    .bind(actor.user_id)
    .bind(data)
    .execute(conn)
    .await?;
    Ok(())
}

/// Applies `patch`; 409 for a status the workflow does not allow next.
pub async fn update(
    state: &AppState,
    staff: &Principal,
    id: Uuid,
    patch: &LeadPatch,
) -> Result<Lead, AppError> {
    let mut v = Validator::new();
    if let Some(notes) = &patch.notes
        && notes.chars().count() > 10_000
    {
        v.add("notes", "too_long", "Use at most 10,000 characters.");
    }
    if let Some(Some(owner)) = patch.owner_id {
        let is_staff: bool = sqlx::query_scalar(
            "select exists (select 1 from smartflow_main.users where id = $1 and is_staff and disabled_at is null)",
        )
        .bind(owner)
        .fetch_one(&state.db)
        .await?;
        if !is_staff {
            v.add("owner_id", "not_staff", "Choose an active staff member as the owner.");
        }
    }
    v.finish()?;

    let actor = platform_actor(staff);
    let mut tx = state.db.begin().await?;
    let current: Option<(LeadStatus, Option<Uuid>, String)> = sqlx::query_as(
        "select status, owner_id, notes from smartflow_main.leads where id = $1 for update",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let (status, owner, notes) =
        current.ok_or_else(|| AppError::not_found(format!("Lead {id}")))?;

    let new_status = patch.status.unwrap_or(status);
    if !status.can_become(new_status) {
        let allowed: Vec<&str> = status.next().iter().map(|s| s.as_str()).collect();
        return Err(AppError::Conflict(format!(
            "A {} lead cannot become {}; next it can be: {}.",
            status.as_str(),
            new_status.as_str(),
            if allowed.is_empty() {
                "nothing (it is final)".to_string()
            } else {
                allowed.join(", ")
            }
        )));
    }
    let new_owner = patch.owner_id.unwrap_or(owner);
    let new_notes =
        patch.notes.as_deref().map(str::trim).map(str::to_string).unwrap_or(notes.clone());

    let mut changes = serde_json::Map::new();
    if new_status != status {
        history(&mut tx, id, "status_changed", &actor, json!({ "from": status, "to": new_status }))
            .await?;
        changes.insert("status".into(), json!({ "from": status, "to": new_status }));
    }
    if new_owner != owner {
        history(&mut tx, id, "owner_changed", &actor, json!({ "from": owner, "to": new_owner }))
            .await?;
        changes.insert("owner_id".into(), json!({ "from": owner, "to": new_owner }));
    }
    if new_notes != notes {
        history(&mut tx, id, "notes_changed", &actor, json!({})).await?;
        changes.insert("notes".into(), json!(true));
    }
    if !changes.is_empty() {
        sqlx::query(
            "update smartflow_main.leads set status = $2, owner_id = $3, notes = $4, updated_at = now() where id = $1",
        )
        .bind(id)
        .bind(new_status)
        .bind(new_owner)
        .bind(&new_notes)
        .execute(&mut *tx)
        .await?;
        if new_status != status {
            let payload = json!({ "id": id, "from": status, "to": new_status });
            record_event(&mut tx, &actor, Event::new("lead.status_changed", "lead", id, payload))
                .await?;
        }
        let payload = json!({ "id": id, "changes": changes });
        record_event(&mut tx, &actor, Event::new("lead.updated", "lead", id, payload)).await?;
    }
    tx.commit().await?;
    repo::get(&state.db, id).await
}

/// Erases a lead and everything it said: the row, its history (cascade), and the copies of its
/// fields in past events and audit entries. What remains records only that an erasure happened.
pub async fn erase(state: &AppState, staff: &Principal, id: Uuid) -> Result<(), AppError> {
    let actor = platform_actor(staff);
    let mut tx = state.db.begin().await?;
    let deleted: Option<Uuid> =
        sqlx::query_scalar("delete from smartflow_main.leads where id = $1 returning id")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if deleted.is_none() {
        return Err(AppError::not_found(format!("Lead {id}")));
    }
    scrub(&mut tx, "lead", id).await?;
    record_event(&mut tx, &actor, Event::new("lead.erased", "lead", id, json!({ "id": id })))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Replaces the payloads that quoted a subject's personal data, and removes the e-mails about
/// it still held by the job queue (pending, failed or sent but not yet pruned).
pub async fn scrub(
    conn: &mut PgConnection,
    subject_type: &str,
    id: Uuid,
) -> Result<(), sqlx::Error> {
    let erased = json!({ "erased": true });
    sqlx::query(
        "update smartflow_shared.events set payload = $3 where subject_type = $1 and subject_id = $2",
    )
    .bind(subject_type)
    .bind(id.to_string())
    .bind(&erased)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update smartflow_shared.audit_log set details = $3 where target_type = $1 and target_id = $2",
    )
    .bind(subject_type)
    .bind(id.to_string())
    .bind(&erased)
    .execute(&mut *conn)
    .await?;
    mail::forget(conn, &format!("{subject_type}:{id}")).await?;
    Ok(())
}
