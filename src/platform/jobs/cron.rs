//! Cron: entries from `[[cron.entries]]` only *enqueue* jobs. Each entry is a row whose
//! `next_at` an instance advances in one transaction (`FOR UPDATE SKIP LOCKED`) while enqueueing
//! the job with the unique key `cron:<name>@<slot>`, so N instances firing the same tick
//! produce exactly one job. Slots are computed with the entry's IANA timezone (DST-correct);
//! tokio-cron-scheduler provides the ticks, and a sweep every 10 s catches any missed one.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::{Cron, parser::CronParser};
use sqlx::PgPool;
use tokio_cron_scheduler::{Job as CronJob, JobScheduler};

use super::{JobId, JobRegistry, NewJob, insert};
use crate::config::CronEntry;

/// Standard 5-field expressions get a leading seconds field.
fn normalize(schedule: &str) -> String {
    let s = schedule.trim();
    if s.split_whitespace().count() == 5 { format!("0 {s}") } else { s.to_string() }
}

pub fn parse_schedule(schedule: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(&normalize(schedule))
        .map_err(|e| format!("`{schedule}` is not a cron expression ({e})"))
}

pub fn parse_timezone(tz: &str) -> Result<Tz, String> {
    Tz::from_str(tz)
        .map_err(|_| format!("`{tz}` is not an IANA timezone such as `Europe/Paris` or `UTC`"))
}

/// The first occurrence strictly after `after`, in the entry's timezone.
pub fn next_after(cron: &Cron, tz: Tz, after: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    cron.find_next_occurrence(&after.with_timezone(&tz), false)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("no next occurrence: {e}"))
}

/// Checks every entry (schedule, timezone, registered job kind) and stores them; entries no
/// longer configured are disabled. Errors name the entry.
pub async fn sync(
    db: &PgPool,
    entries: &[CronEntry],
    registry: &JobRegistry,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut names = Vec::new();
    for e in entries {
        let key = format!("cron.entries[{}]", e.name);
        // An entry for a module this binary was built without is off, not an error, so one
        // configuration serves every build.
        let module_missing = !registry.contains(&e.job)
            && crate::modules::module_of_job(&e.job)
                .is_some_and(|m| !crate::modules::compiled().contains(&m));
        if module_missing && e.enabled {
            tracing::info!(entry = %e.name, job = %e.job, "cron entry off: its module is not compiled in");
        }
        let enabled = e.enabled && !e.schedule.trim().is_empty() && !module_missing;
        let next_at = if enabled {
            let cron = parse_schedule(&e.schedule)
                .map_err(|m| anyhow::anyhow!("invalid setting `{key}.schedule`: {m}"))?;
            let tz = parse_timezone(&e.timezone)
                .map_err(|m| anyhow::anyhow!("invalid setting `{key}.timezone`: {m}"))?;
            if !registry.contains(&e.job) {
                anyhow::bail!(
                    "invalid setting `{key}.job`: no job kind `{}` (known: {})",
                    e.job,
                    registry.kinds().join(", ")
                );
            }
            next_after(&cron, tz, now)
                .map_err(|m| anyhow::anyhow!("invalid setting `{key}.schedule`: {m}"))?
        } else {
            now
        };
        names.push(e.name.clone());
        sqlx::query(
            r#"
            insert into smartflow_shared.cron_schedules (name, schedule, timezone, job_kind, enabled, next_at)
            values ($1, $2, $3, $4, $5, $6)
            on conflict (name) do update set
                next_at = case
                    when cron_schedules.schedule <> excluded.schedule
                      or cron_schedules.timezone <> excluded.timezone
                      or not cron_schedules.enabled
                    then excluded.next_at else cron_schedules.next_at end,
                schedule = excluded.schedule, timezone = excluded.timezone,
                job_kind = excluded.job_kind, enabled = excluded.enabled, updated_at = now()
            "#,
        )
        .bind(&e.name)
        .bind(&e.schedule)
        .bind(&e.timezone)
        .bind(&e.job)
        .bind(enabled)
        .bind(next_at)
        .execute(db)
        .await?;
    }
    sqlx::query("update smartflow_shared.cron_schedules set enabled = false, updated_at = now() where not (name = any($1))")
        .bind(&names)
        .execute(db)
        .await?;
    Ok(())
}

/// Claims every due slot and enqueues its job. Missed slots (downtime) run once, not once per
/// missed tick. Returns the (entry, job id) pairs enqueued by this call.
pub async fn tick(db: &PgPool, registry: &JobRegistry) -> anyhow::Result<Vec<(String, JobId)>> {
    let mut tx = db.begin().await?;
    let due: Vec<(String, String, String, String, serde_json::Value, DateTime<Utc>)> = sqlx::query_as(
        "select name, schedule, timezone, job_kind, args, next_at from smartflow_shared.cron_schedules \
         where enabled and next_at <= now() for update skip locked",
    )
    .fetch_all(&mut *tx)
    .await?;
    let now = Utc::now();
    let mut enqueued = Vec::new();
    for (name, schedule, timezone, kind, args, slot) in due {
        let (Ok(cron), Ok(tz)) = (parse_schedule(&schedule), parse_timezone(&timezone)) else {
            tracing::error!(entry = %name, "stored cron entry no longer parses; disabling it");
            sqlx::query(
                "update smartflow_shared.cron_schedules set enabled = false where name = $1",
            )
            .bind(&name)
            .execute(&mut *tx)
            .await?;
            continue;
        };
        let next = next_after(&cron, tz, now.max(slot)).map_err(|m| anyhow::anyhow!(m))?;
        let mut job = NewJob {
            queue: registry.queue_of(&kind).unwrap_or("default").to_string(),
            kind: kind.clone(),
            args,
            priority: 2,
            max_attempts: registry.max_attempts_of(&kind).unwrap_or(3),
            run_at: None,
            unique_key: None,
            workspace_id: None,
        };
        job = job.unique_key(format!("cron:{name}@{}", slot.to_rfc3339()));
        let id = insert(&mut tx, job).await?;
        sqlx::query(
            "update smartflow_shared.cron_schedules set next_at = $2, last_slot = $3, \
             last_job_id = coalesce($4, last_job_id), updated_at = now() where name = $1",
        )
        .bind(&name)
        .bind(next)
        .bind(slot)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if let Some(id) = id {
            tracing::info!(entry = %name, job = id, slot = %slot, "cron enqueued");
            enqueued.push((name, id));
        }
    }
    tx.commit().await?;
    Ok(enqueued)
}

/// The in-process ticker.
pub struct CronScheduler {
    scheduler: JobScheduler,
}

impl CronScheduler {
    pub async fn start(
        db: PgPool,
        entries: &[CronEntry],
        registry: JobRegistry,
    ) -> anyhow::Result<Self> {
        let scheduler = JobScheduler::new().await?;
        let mut schedules: Vec<(String, Tz)> = entries
            .iter()
            .filter(|e| e.enabled && !e.schedule.trim().is_empty())
            .filter_map(|e| Some((normalize(&e.schedule), parse_timezone(&e.timezone).ok()?)))
            .collect();
        // The sweep: missed ticks and DST changes are caught within ten seconds.
        schedules.push(("*/10 * * * * *".to_string(), Tz::UTC));
        for (schedule, tz) in schedules {
            let db = db.clone();
            let registry = registry.clone();
            let job = CronJob::new_async_tz(schedule.as_str(), tz, move |_, _| {
                let db = db.clone();
                let registry = registry.clone();
                Box::pin(async move {
                    if let Err(e) = tick(&db, &registry).await {
                        tracing::warn!(error = %e, "cron tick failed");
                    }
                })
            })?;
            scheduler.add(job).await?;
        }
        scheduler.start().await?;
        Ok(CronScheduler { scheduler })
    }

    pub async fn shutdown(mut self) {
        if let Err(e) = self.scheduler.shutdown().await {
            tracing::warn!(error = %e, "cron scheduler did not stop cleanly");
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn five_field_expressions_and_timezones() {
        let cron = parse_schedule("30 9 * * *").unwrap();
        let tz = parse_timezone("Europe/Paris").unwrap();
        // 2026-03-28 10:00 UTC is after 09:30 Paris (UTC+1) that day; next is 29 March, after
        // the switch to summer time: 09:30 Paris = 07:30 UTC.
        let after = Utc.with_ymd_and_hms(2026, 3, 28, 10, 0, 0).unwrap();
        let next = next_after(&cron, tz, after).unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 3, 29, 7, 30, 0).unwrap());
        assert!(parse_schedule("every day").is_err());
        assert!(parse_timezone("Mars/Olympus").is_err());
    }
}
