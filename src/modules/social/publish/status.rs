//! A post's status follows its targets; cancelling what waits for a disconnected account.

use sqlx::PgConnection;
use uuid::Uuid;

use super::queue;

/// Cancels what is still waiting for an account (it was disconnected).
pub async fn cancel_for_account(
    conn: &mut PgConnection,
    account: Uuid,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "update smartflow_social.post_targets set state = 'cancelled', last_hint = $2, \
         next_attempt_at = null, updated_at = now() \
         where account_id = $1 and state in ('draft', 'scheduled') returning id, post_id",
    )
    .bind(account)
    .bind(reason)
    .fetch_all(&mut *conn)
    .await?;
    let mut posts: Vec<Uuid> = rows.iter().map(|r| r.1).collect();
    posts.sort_unstable();
    posts.dedup();
    for (target, _) in &rows {
        queue::cancel(&mut *conn, *target).await?;
    }
    for post in posts {
        refresh_post(&mut *conn, post).await?;
    }
    Ok(rows.len() as u64)
}

/// A post's status from its targets' states, and when it was first published.
pub fn derive_status(states: &[String], scheduled: bool) -> &'static str {
    let active: Vec<&str> =
        states.iter().map(String::as_str).filter(|s| *s != "cancelled").collect();
    if states.is_empty() || (!scheduled && active.iter().all(|s| *s == "draft")) {
        return if states.is_empty() || !active.is_empty() { "draft" } else { "cancelled" };
    }
    if active.is_empty() {
        return "cancelled";
    }
    let count = |s: &str| active.iter().filter(|a| **a == s).count();
    let (confirmed, failed) = (count("confirmed"), count("failed"));
    if confirmed == active.len() {
        "published"
    } else if confirmed + failed == active.len() {
        if confirmed > 0 { "partially_published" } else { "failed" }
    } else if active.iter().any(|s| matches!(*s, "claimed" | "sent" | "unconfirmed"))
        || confirmed + failed > 0
    {
        "publishing"
    } else if active.iter().all(|s| *s == "draft") {
        "draft"
    } else {
        "scheduled"
    }
}

pub async fn refresh_post(conn: &mut PgConnection, post: Uuid) -> Result<(), sqlx::Error> {
    let (states, scheduled): (Vec<String>, bool) = sqlx::query_as(
        "select coalesce(array_agg(t.state) filter (where t.id is not null), '{}'), \
                bool_or(p.scheduled_at is not null) \
         from smartflow_social.posts p left join smartflow_social.post_targets t on t.post_id = p.id \
         where p.id = $1 group by p.id",
    )
    .bind(post)
    .fetch_optional(&mut *conn)
    .await?
    .unwrap_or_default();
    sqlx::query(
        "update smartflow_social.posts set status = $2, updated_at = now(), published_at = \
         (select min(confirmed_at) from smartflow_social.post_targets where post_id = $1) \
         where id = $1",
    )
    .bind(post)
    .bind(derive_status(&states, scheduled))
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::derive_status;

    fn s(states: &[&str]) -> Vec<String> {
        states.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn post_status_follows_its_targets() {
        assert_eq!(derive_status(&s(&[]), false), "draft");
        assert_eq!(derive_status(&s(&["draft", "draft"]), false), "draft");
        assert_eq!(derive_status(&s(&["scheduled", "scheduled"]), true), "scheduled");
        assert_eq!(derive_status(&s(&["claimed", "scheduled"]), true), "publishing");
        assert_eq!(derive_status(&s(&["confirmed", "scheduled"]), true), "publishing");
        assert_eq!(derive_status(&s(&["confirmed", "cancelled"]), true), "published");
        assert_eq!(derive_status(&s(&["confirmed", "failed"]), true), "partially_published");
        assert_eq!(derive_status(&s(&["failed", "failed"]), true), "failed");
        assert_eq!(derive_status(&s(&["cancelled", "cancelled"]), true), "cancelled");
        assert_eq!(derive_status(&s(&["unconfirmed"]), true), "publishing");
    }
}
