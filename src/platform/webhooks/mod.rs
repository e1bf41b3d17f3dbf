//! Outgoing webhooks: workspaces register endpoints for event types; each matching event is
//! delivered by a job, signed with `SmartFlow-Signature: t=…,v1=…`, retried with backoff, logged
//! per attempt, and an endpoint failing too often in a row is disabled.

pub mod routes;
pub mod signature;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    config::WebhookSettings,
    platform::{
        events::{Actor, Event, StoredEvent, record_event},
        jobs::{self, Job, JobContext, JobError, JobResult, NewJob, Outcome},
        ssrf,
    },
};

pub const SIGNATURE_HEADER: &str = "SmartFlow-Signature";
pub const EVENT_HEADER: &str = "SmartFlow-Event";
pub const DELIVERY_HEADER: &str = "SmartFlow-Delivery";

/// Context of an endpoint's secret in the cipher (binds it to its row).
pub fn secret_context(endpoint: Uuid) -> String {
    format!("webhook_endpoint:{endpoint}")
}

/// Enqueues one delivery per enabled endpoint of the event's workspace that wants this type.
/// Safe to repeat: a delivery still pending for the same event and endpoint is not enqueued
/// twice, and every attempt carries the same delivery id.
pub async fn enqueue_deliveries(
    conn: &mut PgConnection,
    settings: &WebhookSettings,
    event: &StoredEvent,
) -> Result<u64, sqlx::Error> {
    let Some(workspace) = event.workspace_id else { return Ok(0) };
    let endpoints: Vec<Uuid> = sqlx::query_scalar(
        "select id from smartflow_shared.webhook_endpoints \
         where workspace_id = $1 and enabled and ($2 = any(event_types) or '*' = any(event_types))",
    )
    .bind(workspace)
    .bind(&event.kind)
    .fetch_all(&mut *conn)
    .await?;
    let jobs = endpoints
        .iter()
        .map(|&endpoint_id| delivery_job(settings, endpoint_id, event.id, workspace))
        .collect::<Result<Vec<NewJob>, _>>()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    jobs::insert_many(conn, &jobs).await
}

/// The delivery of one event to one endpoint, as a job.
pub fn delivery_job(
    settings: &WebhookSettings,
    endpoint_id: Uuid,
    event_id: i64,
    workspace: Uuid,
) -> Result<NewJob, serde_json::Error> {
    let job =
        DeliverWebhook { endpoint_id, event_id, delivery_id: delivery_id(event_id, endpoint_id) };
    Ok(NewJob::of(&job)?.max_attempts(settings.max_attempts).workspace(workspace))
}

/// The `SmartFlow-Delivery` id of one event to one endpoint: derived from both, so a repeated
/// dispatch yields the same id and receivers can deduplicate on it.
pub fn delivery_id(event_id: i64, endpoint_id: Uuid) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"smartflow-webhook-delivery\0")
        .chain_update(event_id.to_be_bytes())
        .chain_update(endpoint_id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The JSON body receivers get.
pub fn payload(event: &StoredEvent, delivery_id: Uuid) -> serde_json::Value {
    json!({
        "id": event.id,
        "delivery_id": delivery_id,
        "type": event.kind,
        "created_at": event.created_at,
        "workspace_id": event.workspace_id,
        "subject": { "type": event.subject_type, "id": event.subject_id },
        "data": event.payload,
    })
}

/// Waits after a failed delivery, like the large webhook senders do: quick retries for a blip,
/// then hours apart, so a receiver down for a day still gets its events. With the default
/// `webhooks.max_attempts` (10) the last attempt is about 37 hours after the first.
pub const RETRY_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
];

#[derive(Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub endpoint_id: Uuid,
    pub event_id: i64,
    pub delivery_id: Uuid,
}

struct Attempt {
    succeeded: bool,
    status: Option<u16>,
    excerpt: Option<String>,
    error: Option<String>,
    gone: bool,
}

#[async_trait]
impl Job for DeliverWebhook {
    const KIND: &'static str = "webhooks.deliver";
    const QUEUE: &'static str = "webhooks";
    /// Overridden by `webhooks.max_attempts` when deliveries are enqueued.
    const MAX_ATTEMPTS: i32 = 10;

    fn backoff(attempt: i32) -> Duration {
        jobs::backoff::schedule(&RETRY_SCHEDULE, attempt, 0.1)
    }

    fn unique_key(&self) -> Option<String> {
        Some(format!("webhook:{}:{}", self.event_id, self.endpoint_id))
    }

    fn timeout() -> Duration {
        Duration::from_secs(60)
    }

    async fn run(self, ctx: JobContext) -> JobResult {
        let state = &ctx.state;
        let settings = &state.settings.webhooks;
        let endpoint: Option<(String, String, bool, i32)> = sqlx::query_as(
            "select url, secret_encrypted, enabled, consecutive_failures from smartflow_shared.webhook_endpoints where id = $1",
        )
        .bind(self.endpoint_id)
        .fetch_optional(&state.db)
        .await?;
        let Some((url, secret, enabled, _)) = endpoint else {
            return Ok(Outcome::Cancel("the endpoint was deleted".into()));
        };
        if !enabled {
            return Ok(Outcome::Cancel("the endpoint is disabled".into()));
        }
        let Some(event) = crate::platform::events::load(&state.db, self.event_id).await? else {
            return Ok(Outcome::Cancel("the event no longer exists".into()));
        };
        let secret = state
            .cipher
            .decrypt(&secret, &secret_context(self.endpoint_id))
            .map_err(JobError::permanent)?;
        let body =
            serde_json::to_vec(&payload(&event, self.delivery_id)).map_err(JobError::permanent)?;

        let started = Instant::now();
        let attempt = deliver(state, &url, &secret, &event.kind, self.delivery_id, body).await;
        let duration_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;

        let mut tx = state.db.begin().await?;
        sqlx::query(
            "insert into smartflow_shared.webhook_deliveries \
             (endpoint_id, event_id, delivery_id, event_type, attempt, succeeded, status_code, response_excerpt, error, duration_ms) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(self.endpoint_id)
        .bind(self.event_id)
        .bind(self.delivery_id)
        .bind(&event.kind)
        .bind(ctx.attempt)
        .bind(attempt.succeeded)
        .bind(attempt.status.map(i32::from))
        .bind(&attempt.excerpt)
        .bind(&attempt.error)
        .bind(duration_ms)
        .execute(&mut *tx)
        .await?;
        if attempt.succeeded {
            sqlx::query(
                "update smartflow_shared.webhook_endpoints set consecutive_failures = 0, last_success_at = now() where id = $1",
            )
            .bind(self.endpoint_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Outcome::Done);
        }
        let failures: i32 = sqlx::query_scalar(
            "update smartflow_shared.webhook_endpoints set consecutive_failures = consecutive_failures + 1, \
             last_failure_at = now() where id = $1 returning consecutive_failures",
        )
        .bind(self.endpoint_id)
        .fetch_one(&mut *tx)
        .await?;
        let reason = if attempt.gone {
            Some("the receiver answered 410 Gone".to_string())
        } else if failures >= settings.disable_after_failures {
            Some(format!("{failures} failed deliveries in a row"))
        } else {
            None
        };
        if let Some(reason) = &reason {
            sqlx::query(
                "update smartflow_shared.webhook_endpoints set enabled = false, disabled_reason = $2, updated_at = now() where id = $1",
            )
            .bind(self.endpoint_id)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
            let mut e = Event::new(
                "webhook.disabled",
                "webhook_endpoint",
                self.endpoint_id,
                json!({ "reason": reason, "url": url }),
            );
            e.workspace_id = event.workspace_id;
            record_event(&mut tx, &Actor::system("webhooks"), e).await?;
        }
        tx.commit().await?;
        let error =
            attempt.error.unwrap_or_else(|| format!("HTTP {}", attempt.status.unwrap_or(0)));
        match reason {
            Some(reason) => Ok(Outcome::Cancel(format!("{error}; endpoint disabled: {reason}"))),
            None => Err(anyhow::anyhow!("delivery failed: {error}").into()),
        }
    }
}

async fn deliver(
    state: &crate::state::AppState,
    url: &str,
    secret: &str,
    event_type: &str,
    delivery_id: Uuid,
    body: Vec<u8>,
) -> Attempt {
    let s = &state.settings.webhooks;
    let timeout = Duration::from_millis(s.timeout_ms);
    let failed = |error: String| Attempt {
        succeeded: false,
        status: None,
        excerpt: None,
        error: Some(error),
        gone: false,
    };
    if let Err(e) = ssrf::check_url(url, s.allow_private_targets, s.require_https, timeout).await {
        return failed(format!("refused target: {e}"));
    }
    let signature = signature::sign(secret.as_bytes(), Utc::now().timestamp(), &body);
    let result = state
        .outbound
        .post(url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header(EVENT_HEADER, event_type)
        .header(DELIVERY_HEADER, delivery_id.to_string())
        .body(body)
        .send()
        .await;
    match result {
        Ok(res) => {
            let status = res.status();
            let text = res.text().await.unwrap_or_default();
            let excerpt: String = text.chars().take(1_000).collect();
            Attempt {
                succeeded: status.is_success(),
                status: Some(status.as_u16()),
                excerpt: (!excerpt.is_empty()).then_some(excerpt),
                error: (!status.is_success()).then(|| format!("the receiver answered {status}")),
                gone: status.as_u16() == 410,
            }
        }
        Err(e) if e.is_timeout() => failed(format!("no answer within {} ms", s.timeout_ms)),
        Err(e) => failed(format!("could not connect: {}", without_url(&e))),
    }
}

/// reqwest errors include the URL (which may carry a token in its query); keep only the cause.
fn without_url(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = e.to_string();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_schedule_outlasts_a_day_and_a_short_outage() {
        let attempts = crate::config::Settings::default().webhooks.max_attempts;
        let waits: Vec<Duration> =
            (1..attempts).map(|a| RETRY_SCHEDULE[(a as usize - 1).min(6)]).collect();
        let span: Duration = waits.iter().sum();
        assert!(span >= Duration::from_secs(24 * 3600), "last attempt after {span:?}");
        assert!(waits[0] <= Duration::from_secs(60), "a blip is retried within a minute");
        // A receiver down for five minutes: some attempt falls between 5 and 15 minutes.
        let mut at = Duration::ZERO;
        let times: Vec<Duration> = waits
            .iter()
            .map(|w| {
                at += *w;
                at
            })
            .collect();
        assert!(times.iter().any(|t| (300..=900).contains(&t.as_secs())), "attempts at {times:?}");
        for attempt in 1..=12 {
            let d = DeliverWebhook::backoff(attempt);
            let step = RETRY_SCHEDULE[(attempt as usize - 1).min(6)];
            assert!(d >= step.mul_f64(0.9) && d <= step.mul_f64(1.1), "{attempt}: {d:?}");
        }
    }
}
