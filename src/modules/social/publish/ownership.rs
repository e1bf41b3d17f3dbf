//! Which remote post belongs to which target. Two targets of one account may carry the same
//! text (a post scheduled twice); a remote post confirmed for one of them is never claimed by
//! the other, whether found by reconciliation or named by a platform's duplicate error.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::ledger::Target;

/// Serialises reconciliations of one account until the transaction ends, so two targets
/// with the same text cannot both claim the same remote post.
pub async fn lock_account(conn: &mut PgConnection, account: Uuid) -> Result<(), sqlx::Error> {
    crate::db::xact_lock(conn, "social.account", account).await
}

/// Remote posts of the account confirmed for other targets since `since` (not ours).
pub async fn taken_remote_ids(
    conn: &mut PgConnection,
    t: &Target,
    since: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select remote_id from smartflow_social.post_targets where account_id = $1 \
         and workspace_id = $2 and id <> $3 and state = 'confirmed' and remote_id is not null \
         and confirmed_at >= $4",
    )
    .bind(t.account_id)
    .bind(t.workspace_id)
    .bind(t.id)
    .bind(since)
    .fetch_all(conn)
    .await
}
