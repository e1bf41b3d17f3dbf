//! The usage ledger: one row per provider call with its tokens and its price from the
//! versioned price table, and the monthly budget checked before each call.

use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    error::AppError,
    modules::ai::providers::{CallTarget, Cost, Usage, price_for},
    platform::plans::month_start,
    state::AppState,
};

/// Who a call was made for.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallContext {
    pub workspace: Uuid,
    pub user: Option<Uuid>,
    pub agent: Option<Uuid>,
    pub message: Option<Uuid>,
}

/// Writes one ledger row, priced by `ai.prices` then the built-in table; returns the cost.
/// `estimated`: the tokens were partly estimated (a stream that broke off).
pub async fn record(
    state: &AppState,
    ctx: &CallContext,
    operation: &str,
    usage: &Usage,
    estimated: bool,
) -> Result<Cost, sqlx::Error> {
    let cost = usage.cost_with(&state.settings.ai.prices);
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    sqlx::query(
        "insert into smartflow_ai.usage_ledger (workspace_id, user_id, agent_id, message_id, \
         operation, provider, provider_kind, model, input_tokens, output_tokens, \
         cached_input_tokens, cache_write_input_tokens, cost_usd_micros, price_known, price_version, \
         estimated) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(ctx.workspace)
    .bind(ctx.user)
    .bind(ctx.agent)
    .bind(ctx.message)
    .bind(operation)
    .bind(&usage.provider)
    .bind(usage.provider_kind.as_str())
    .bind(&usage.model)
    .bind(as_i64(usage.input_tokens))
    .bind(as_i64(usage.output_tokens))
    .bind(as_i64(usage.cached_input_tokens))
    .bind(as_i64(usage.cache_write_input_tokens))
    .bind(cost.usd_micros)
    .bind(cost.known)
    .bind(&cost.price_version)
    .bind(estimated)
    .execute(&state.db)
    .await?;
    if !cost.known {
        tracing::warn!(
            provider = %usage.provider,
            model = %usage.model,
            "model has no price (ai.prices or the table); its calls are recorded at no cost"
        );
    }
    Ok(cost)
}

/// Spend of the current calendar month (UTC), in micro-dollars.
pub async fn month_spend(db: &sqlx::PgPool, workspace: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select coalesce(sum(cost_usd_micros), 0)::bigint from smartflow_ai.usage_ledger \
         where workspace_id = $1 and created_at >= $2",
    )
    .bind(workspace)
    .bind(month_start(Utc::now()))
    .fetch_one(db)
    .await
}

/// The workspace's monthly limit in micro-dollars, when it set one.
pub async fn budget_of(db: &sqlx::PgPool, workspace: Uuid) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select monthly_limit_usd_micros from smartflow_ai.budgets where workspace_id = $1",
    )
    .bind(workspace)
    .fetch_optional(db)
    .await
}

/// Refuses a call to `targets` when the workspace has a budget and either it is spent (402)
/// or a target has no price (409): a call nobody can price could spend past any budget.
pub async fn ensure_budget(
    state: &AppState,
    workspace: Uuid,
    targets: &[CallTarget],
) -> Result<(), AppError> {
    let Some(limit) = budget_of(&state.db, workspace).await? else { return Ok(()) };
    let prices = &state.settings.ai.prices;
    if let Some(t) =
        targets.iter().find(|t| price_for(prices, &t.provider, t.kind, &t.model).is_none())
    {
        return Err(AppError::Conflict(format!(
            "This workspace has a monthly AI budget, and model `{model}` at provider `{provider}` \
             has no price, so its cost could not be counted. An operator can price it with an \
             [[ai.prices]] entry (provider = \"{provider}\", model = \"{model}\", input and \
             output in USD per million tokens); or choose a priced model, or remove the budget.",
            model = t.model,
            provider = t.provider,
        )));
    }
    let spent = month_spend(&state.db, workspace).await?;
    if spent >= limit {
        return Err(AppError::PaymentRequired(format!(
            "This workspace's monthly AI budget of {} is used up ({} spent this month). An admin \
             can raise it with PUT /api/ai/budget.",
            dollars(limit),
            dollars(spent)
        )));
    }
    Ok(())
}

pub fn dollars(micros: i64) -> String {
    format!("${:.2}", micros as f64 / 1_000_000.0)
}

/// Totals over the calls of one answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct UsageTotals {
    pub calls: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    pub cost_usd_micros: i64,
    /// Providers and models that answered, e.g. `openai/gpt-4.1-mini`.
    pub models: Vec<String>,
}

impl UsageTotals {
    pub fn add(&mut self, usage: &Usage, cost: &Cost) {
        self.calls += 1;
        self.input_tokens += usage.input_tokens;
        self.output_tokens += usage.output_tokens;
        self.cached_input_tokens += usage.cached_input_tokens;
        self.cost_usd_micros += cost.usd_micros;
        let model = format!("{}/{}", usage.provider, usage.model);
        if !self.models.contains(&model) {
            self.models.push(model);
        }
    }
}
