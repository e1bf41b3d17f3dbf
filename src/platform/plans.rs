//! Plans and entitlements: the one place that decides what a workspace's plan allows.
//! Modules call [`ensure`] before creating something a plan limits.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use uuid::Uuid;

use crate::{
    config::{PlanLimits, PlanSettings},
    error::AppError,
    state::AppState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Members,
    SocialAccounts,
    ScheduledPostsPerMonth,
    AiMessagesPerMonth,
    AiImagesPerMonth,
    KnowledgeBases,
}

impl Limit {
    fn of(self, l: &PlanLimits) -> i64 {
        match self {
            Limit::Members => l.members,
            Limit::SocialAccounts => l.social_accounts,
            Limit::ScheduledPostsPerMonth => l.scheduled_posts_per_month,
            Limit::AiMessagesPerMonth => l.ai_messages_per_month,
            Limit::AiImagesPerMonth => l.ai_images_per_month,
            Limit::KnowledgeBases => l.knowledge_bases,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Limit::Members => "team members",
            Limit::SocialAccounts => "social accounts",
            Limit::ScheduledPostsPerMonth => "scheduled posts this month",
            Limit::AiMessagesPerMonth => "AI messages this month",
            Limit::AiImagesPerMonth => "AI images this month",
            Limit::KnowledgeBases => "knowledge bases",
        }
    }
}

/// Subscription states in which the paid plan applies (Stripe keeps access while it retries a
/// failed payment: `past_due`).
const ACTIVE: &[&str] = &["active", "trialing", "past_due"];

pub fn find<'a>(state: &'a AppState, id: &str) -> Option<&'a PlanSettings> {
    state.settings.billing.plans.iter().find(|p| p.id == id)
}

fn default_plan(state: &AppState) -> Result<&PlanSettings, AppError> {
    find(state, &state.settings.billing.default_plan).ok_or_else(|| {
        AppError::internal(anyhow::anyhow!("billing.default_plan is not a configured plan"))
    })
}

/// The plan that applies to `workspace` now.
pub async fn plan_of(state: &AppState, workspace: Uuid) -> Result<&PlanSettings, AppError> {
    let plan: Option<String> = sqlx::query_scalar(
        "select plan_id from smartflow_shared.subscriptions where workspace_id = $1 and status = any($2)",
    )
    .bind(workspace)
    .bind(ACTIVE)
    .fetch_optional(&state.db)
    .await?;
    match plan.as_deref().and_then(|id| find(state, id)) {
        Some(p) => Ok(p),
        None => default_plan(state),
    }
}

/// Refuses (402) when `in_use` has already reached the plan's limit.
pub async fn ensure(
    state: &AppState,
    workspace: Uuid,
    limit: Limit,
    in_use: i64,
) -> Result<(), AppError> {
    let plan = plan_of(state, workspace).await?;
    check(plan, limit, in_use)
}

pub fn check(plan: &PlanSettings, limit: Limit, in_use: i64) -> Result<(), AppError> {
    let max = limit.of(&plan.limits);
    if max < 0 || in_use < max {
        return Ok(());
    }
    Err(AppError::PaymentRequired(format!(
        "The {} plan allows {max} {}; you have used {in_use}. Upgrade at /pricing to add more.",
        plan.name,
        limit.describe()
    )))
}

/// Start of the current calendar month (UTC), for "per month" counters.
pub fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).single().unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[test]
    fn limits_and_unlimited() {
        let plans = Settings::default().billing.plans;
        let free = &plans[0];
        assert!(check(free, Limit::SocialAccounts, 0).is_ok());
        let err = check(free, Limit::SocialAccounts, 1).unwrap_err();
        assert!(
            matches!(&err, AppError::PaymentRequired(m) if m.contains("allows 1 social accounts"))
        );
        let business = plans.iter().find(|p| p.id == "business").unwrap();
        assert!(check(business, Limit::SocialAccounts, 1_000_000).is_ok());
    }

    #[test]
    fn month_start_is_the_first() {
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 13, 4, 5).unwrap();
        assert_eq!(month_start(t), Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap());
    }
}
