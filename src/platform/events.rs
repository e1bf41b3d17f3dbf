//! The event spine. A change that others care about is recorded with [`record_event`] in the
//! same transaction as the change: the event row, its audit row, and a dispatch job commit or
//! roll back together. The dispatch job fans the event out to live notifications (cache
//! pub/sub), workflow triggers and outgoing webhooks.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    platform::jobs::{self, Job, JobContext, JobResult, NewJob, Outcome},
    state::AppState,
};

/// Who caused a change, and from where.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    /// E-mail, `api-key:<id>`, `system:<what>` or `anonymous`.
    pub label: String,
    pub workspace_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    /// SmartFlow itself (jobs, cron, webhooks received).
    pub fn system(what: &str) -> Actor {
        Actor { label: format!("system:{what}"), ..Actor::default() }
    }

    /// A visitor who is not signed in (lead forms, sign-up).
    pub fn anonymous(request_id: Option<String>, ip: Option<String>) -> Actor {
        Actor { label: "anonymous".into(), request_id, ip, ..Actor::default() }
    }
}

/// A state change. `kind` is dotted, e.g. `lead.created`, `post.published`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub kind: String,
    pub workspace_id: Option<Uuid>,
    pub subject_type: String,
    pub subject_id: String,
    pub payload: Value,
    /// Written to the audit log too (every mutating action is).
    pub audit: bool,
}

impl Event {
    pub fn new(kind: &str, subject_type: &str, subject_id: impl ToString, payload: Value) -> Event {
        Event {
            kind: kind.to_string(),
            workspace_id: None,
            subject_type: subject_type.to_string(),
            subject_id: subject_id.to_string(),
            payload,
            audit: true,
        }
    }

    pub fn workspace(mut self, id: Uuid) -> Event {
        self.workspace_id = Some(id);
        self
    }

    /// Not an action anyone took (e.g. a metric collected): no audit row.
    pub fn unaudited(mut self) -> Event {
        self.audit = false;
        self
    }
}

/// Records `event` (and its audit row and dispatch job) in the caller's transaction.
pub async fn record_event(
    conn: &mut PgConnection,
    actor: &Actor,
    event: Event,
) -> Result<i64, sqlx::Error> {
    let workspace = event.workspace_id.or(actor.workspace_id);
    let id: i64 = sqlx::query_scalar(
        "insert into smartflow_shared.events \
         (event_type, workspace_id, actor_user_id, actor_api_key_id, subject_type, subject_id, payload, request_id) \
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning id",
    )
    .bind(&event.kind)
    .bind(workspace)
    .bind(actor.user_id)
    .bind(actor.api_key_id)
    .bind(&event.subject_type)
    .bind(&event.subject_id)
    .bind(&event.payload)
    .bind(&actor.request_id)
    .fetch_one(&mut *conn)
    .await?;
    if event.audit {
        crate::platform::audit::write(
            &mut *conn,
            actor,
            workspace,
            &event.kind,
            &event.subject_type,
            &event.subject_id,
            &event.payload,
        )
        .await?;
    }
    let job = NewJob::of(&DispatchEvent { event_id: id })
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    jobs::insert(&mut *conn, job).await?;
    Ok(id)
}

/// An event as subscribers see it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct StoredEvent {
    pub id: i64,
    #[serde(rename = "type")]
    #[sqlx(rename = "event_type")]
    pub kind: String,
    pub workspace_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub subject_type: String,
    pub subject_id: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub created_at: DateTime<Utc>,
}

/// The columns of a [`StoredEvent`], for statements that read one.
macro_rules! event_columns {
    () => {
        "id, event_type, workspace_id, actor_user_id, subject_type, subject_id, payload, created_at"
    };
}

pub async fn load<'e>(
    db: impl sqlx::PgExecutor<'e>,
    id: i64,
) -> Result<Option<StoredEvent>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        event_columns!(),
        " from smartflow_shared.events where id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Something that reacts to events (the workflow engine registers one). It runs inside the
/// dispatch job: enqueue work in `conn` rather than doing slow work inline.
#[async_trait]
pub trait EventSubscriber: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn on_event(
        &self,
        state: &AppState,
        conn: &mut PgConnection,
        event: &StoredEvent,
    ) -> anyhow::Result<()>;
}

/// Subscribers registered at start-up.
#[derive(Clone, Default)]
pub struct Subscribers(Arc<RwLock<Vec<Arc<dyn EventSubscriber>>>>);

impl Subscribers {
    pub fn add(&self, s: Arc<dyn EventSubscriber>) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).push(s);
    }

    fn all(&self) -> Vec<Arc<dyn EventSubscriber>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Channel on which a workspace's live events are published.
pub fn workspace_channel(workspace: Uuid) -> String {
    format!("events:{workspace}")
}

/// Fans one event out; retried as a whole, so each target must tolerate a repeat.
#[derive(Serialize, Deserialize)]
pub struct DispatchEvent {
    pub event_id: i64,
}

#[async_trait]
impl Job for DispatchEvent {
    const KIND: &'static str = "events.dispatch";
    const QUEUE: &'static str = "events";
    const MAX_ATTEMPTS: i32 = 10;

    async fn run(self, ctx: JobContext) -> JobResult {
        let state = &ctx.state;
        let mut tx = state.db.begin().await?;
        // Delivery is at least once: this job runs again when its completion was lost. The row
        // lock makes a concurrent rerun wait, and `dispatched_at` tells it the fan-out is done.
        #[derive(sqlx::FromRow)]
        struct Locked {
            #[sqlx(flatten)]
            event: StoredEvent,
            dispatched_at: Option<DateTime<Utc>>,
        }
        let locked: Option<Locked> = sqlx::query_as(concat!(
            "select ",
            event_columns!(),
            ", dispatched_at from smartflow_shared.events where id = $1 for update"
        ))
        .bind(self.event_id)
        .fetch_optional(&mut *tx)
        .await?;
        let event = match locked {
            None => {
                return Ok(Outcome::Cancel(format!("event {} no longer exists", self.event_id)));
            }
            Some(Locked { dispatched_at: Some(_), .. }) => return Ok(Outcome::Done),
            Some(Locked { event, dispatched_at: None }) => event,
        };
        // Outgoing webhooks and subscriber work are enqueued atomically with the dispatch mark.
        crate::platform::webhooks::enqueue_deliveries(&mut tx, &state.settings.webhooks, &event)
            .await?;
        for subscriber in state.subscribers.all() {
            subscriber
                .on_event(state, &mut tx, &event)
                .await
                .map_err(|e| anyhow::anyhow!("subscriber {} failed: {e:#}", subscriber.name()))?;
        }
        sqlx::query("update smartflow_shared.events set dispatched_at = now() where id = $1")
            .bind(event.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // Live notification last: best effort, after the durable parts committed.
        if let Some(workspace) = event.workspace_id
            && let Ok(json) = serde_json::to_string(&event)
            && let Err(e) = state.cache.publish(&workspace_channel(workspace), &json).await
        {
            tracing::warn!(error = %e, event = event.id, "could not publish a live event");
        }
        Ok(Outcome::Done)
    }
}
