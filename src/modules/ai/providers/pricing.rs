//! What a call cost, from a versioned price table in integer micro-dollars (no float drift when
//! the usage ledger sums millions of calls).
//!
//! Prices are the providers' published standard rates per million tokens (no batch discounts,
//! no long-context surcharges, Anthropic's 5-minute cache writes). Change `PRICE_TABLE_VERSION`
//! whenever a price changes, so ledger rows say which table priced them.

use serde::{Deserialize, Serialize};

use super::{
    settings::PriceSettings,
    types::{ProviderKind, Usage},
};

pub const PRICE_TABLE_VERSION: &str = "2026-11-25";

/// USD per million tokens, in micro-dollars (1 USD = 1_000_000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPrice {
    pub input: i64,
    /// Prompt tokens read from the cache.
    pub cached_input: i64,
    /// Prompt tokens written to the cache (Anthropic charges extra; others charge `input`).
    pub cache_write: i64,
    pub output: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    pub usd_micros: i64,
    pub price_version: String,
    /// False when the model is not in the table: the cost is then 0 and should be flagged.
    pub known: bool,
}

const fn price(input: i64, cached_input: i64, cache_write: i64, output: i64) -> ModelPrice {
    ModelPrice { input, cached_input, cache_write, output }
}

/// Providers without cache-write surcharges.
const fn simple(input: i64, cached_input: i64, output: i64) -> ModelPrice {
    price(input, cached_input, input, output)
}

use ProviderKind::{Anthropic, Gemini, OpenAi};

const TABLE: &[(ProviderKind, &str, ModelPrice)] = &[
    (OpenAi, "gpt-5.4", simple(2_500_000, 250_000, 15_000_000)),
    (OpenAi, "gpt-5.4-mini", simple(750_000, 75_000, 4_500_000)),
    (OpenAi, "gpt-5.4-nano", simple(200_000, 20_000, 1_250_000)),
    (OpenAi, "gpt-5.2", simple(1_750_000, 175_000, 14_000_000)),
    (OpenAi, "gpt-5.1", simple(1_250_000, 125_000, 10_000_000)),
    (OpenAi, "gpt-5", simple(1_250_000, 125_000, 10_000_000)),
    (OpenAi, "gpt-5-mini", simple(250_000, 25_000, 2_000_000)),
    (OpenAi, "gpt-5-nano", simple(50_000, 5_000, 400_000)),
    (OpenAi, "gpt-4.1", simple(2_000_000, 500_000, 8_000_000)),
    (OpenAi, "gpt-4.1-mini", simple(400_000, 100_000, 1_600_000)),
    (OpenAi, "gpt-4.1-nano", simple(100_000, 25_000, 400_000)),
    (OpenAi, "gpt-4o", simple(2_500_000, 1_250_000, 10_000_000)),
    (OpenAi, "gpt-4o-mini", simple(150_000, 75_000, 600_000)),
    (OpenAi, "o3", simple(2_000_000, 500_000, 8_000_000)),
    (OpenAi, "o4-mini", simple(1_100_000, 275_000, 4_400_000)),
    (OpenAi, "text-embedding-3-small", simple(20_000, 20_000, 0)),
    (OpenAi, "text-embedding-3-large", simple(130_000, 130_000, 0)),
    (OpenAi, "text-embedding-ada-002", simple(100_000, 100_000, 0)),
    // Text prompt and image output tokens; image inputs (for edits) cost more and are not used.
    (OpenAi, "gpt-image-1", simple(5_000_000, 1_250_000, 40_000_000)),
    (Anthropic, "claude-opus-4-6", price(5_000_000, 500_000, 6_250_000, 25_000_000)),
    (Anthropic, "claude-opus-4-5", price(5_000_000, 500_000, 6_250_000, 25_000_000)),
    (Anthropic, "claude-opus-4-1", price(15_000_000, 1_500_000, 18_750_000, 75_000_000)),
    (Anthropic, "claude-opus-4", price(15_000_000, 1_500_000, 18_750_000, 75_000_000)),
    (Anthropic, "claude-sonnet-4-6", price(3_000_000, 300_000, 3_750_000, 15_000_000)),
    (Anthropic, "claude-sonnet-4-5", price(3_000_000, 300_000, 3_750_000, 15_000_000)),
    (Anthropic, "claude-sonnet-4", price(3_000_000, 300_000, 3_750_000, 15_000_000)),
    (Anthropic, "claude-3-7-sonnet", price(3_000_000, 300_000, 3_750_000, 15_000_000)),
    (Anthropic, "claude-haiku-4-5", price(1_000_000, 100_000, 1_250_000, 5_000_000)),
    (Anthropic, "claude-3-5-haiku", price(800_000, 80_000, 1_000_000, 4_000_000)),
    (Anthropic, "claude-3-haiku", price(250_000, 30_000, 300_000, 1_250_000)),
    // Gemini 2.5 Pro: the rate for prompts up to 200k tokens.
    (Gemini, "gemini-2.5-pro", simple(1_250_000, 125_000, 10_000_000)),
    (Gemini, "gemini-2.5-flash", simple(300_000, 30_000, 2_500_000)),
    (Gemini, "gemini-2.5-flash-lite", simple(100_000, 10_000, 400_000)),
    (Gemini, "gemini-2.5-flash-image", simple(300_000, 30_000, 30_000_000)),
    (Gemini, "gemini-2.0-flash", simple(100_000, 25_000, 400_000)),
    (Gemini, "gemini-2.0-flash-lite", simple(75_000, 75_000, 300_000)),
    (Gemini, "gemini-embedding-001", simple(150_000, 150_000, 0)),
];

/// The table's price for a model. Providers answer with versioned names
/// (`gpt-4o-2024-08-06`, `claude-sonnet-4-5-20250929`, `models/gemini-2.5-flash-001`), so a
/// table name followed by a date, a version number or `-latest` matches too. Anything else,
/// such as a newer model sharing a prefix, is unknown rather than priced like its elder.
pub fn model_price(provider: ProviderKind, model: &str) -> Option<ModelPrice> {
    let model = model.trim();
    let model = model.strip_prefix("models/").unwrap_or(model);
    TABLE
        .iter()
        .filter(|(kind, name, _)| *kind == provider && matches_model(name, model))
        .max_by_key(|(_, name, _)| name.len())
        .map(|(_, _, price)| *price)
}

fn matches_model(name: &str, model: &str) -> bool {
    if name == model {
        return true;
    }
    let Some(suffix) = model.strip_prefix(name).and_then(|s| s.strip_prefix('-')) else {
        return false;
    };
    suffix == "latest"
        || (suffix.len() >= 3
            && suffix.starts_with(|c: char| c.is_ascii_digit())
            && suffix.chars().all(|c| c.is_ascii_digit() || c == '-'))
}

/// Ledger rows priced by an `[[ai.prices]]` entry carry this instead of the table's version.
pub const CONFIGURED_PRICE_VERSION: &str = "config";

/// The configured price of `model` at the provider named `provider`, else the table's.
/// OpenAI-compatible hosts have only configured prices.
pub fn price_for(
    overrides: &[PriceSettings],
    provider: &str,
    kind: ProviderKind,
    model: &str,
) -> Option<(ModelPrice, &'static str)> {
    let name = model.trim();
    let name = name.strip_prefix("models/").unwrap_or(name);
    let configured = overrides
        .iter()
        .filter(|p| p.provider == provider && matches_model(p.model.trim(), name))
        .max_by_key(|p| p.model.trim().len())
        .map(|p| {
            let micros = |usd: f64| (usd * 1_000_000.0).round() as i64;
            ModelPrice {
                input: micros(p.input),
                cached_input: micros(p.cached_input.unwrap_or(p.input)),
                cache_write: micros(p.cache_write.unwrap_or(p.input)),
                output: micros(p.output),
            }
        });
    match configured {
        Some(price) => Some((price, CONFIGURED_PRICE_VERSION)),
        None => model_price(kind, model).map(|p| (p, PRICE_TABLE_VERSION)),
    }
}

/// The cost of `usage` with the configured prices, then the table.
pub fn cost_with(overrides: &[PriceSettings], usage: &Usage) -> Cost {
    match price_for(overrides, &usage.provider, usage.provider_kind, &usage.model) {
        Some((price, version)) => priced(price, version, usage),
        None => Cost { usd_micros: 0, price_version: PRICE_TABLE_VERSION.into(), known: false },
    }
}

fn priced(price: ModelPrice, version: &str, usage: &Usage) -> Cost {
    let tokens = |n: u64| i128::from(n);
    let cached = tokens(usage.cached_input_tokens);
    let written = tokens(usage.cache_write_input_tokens);
    let plain = (tokens(usage.input_tokens) - cached - written).max(0);
    let scaled = plain * i128::from(price.input)
        + cached * i128::from(price.cached_input)
        + written * i128::from(price.cache_write)
        + tokens(usage.output_tokens) * i128::from(price.output);
    // Prices are per million tokens; round half up to whole micro-dollars.
    let micros = (scaled + 500_000) / 1_000_000;
    Cost {
        usd_micros: i64::try_from(micros).unwrap_or(i64::MAX),
        price_version: version.into(),
        known: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(
        kind: ProviderKind,
        model: &str,
        input: u64,
        cached: u64,
        written: u64,
        output: u64,
    ) -> Usage {
        Usage {
            input_tokens: input,
            cached_input_tokens: cached,
            cache_write_input_tokens: written,
            output_tokens: output,
            ..Usage::new("p", kind, model)
        }
    }

    #[test]
    fn cached_tokens_are_billed_at_the_cached_rate() {
        let u = usage(OpenAi, "gpt-4o-mini", 1_000_000, 200_000, 0, 500_000);
        // 800k × $0.15/M + 200k × $0.075/M + 500k × $0.60/M = $0.12 + $0.015 + $0.30
        let c = cost_with(&[], &u);
        assert_eq!(
            c,
            Cost { usd_micros: 435_000, price_version: PRICE_TABLE_VERSION.into(), known: true }
        );
    }

    #[test]
    fn anthropic_cache_writes_cost_more() {
        let u = usage(Anthropic, "claude-sonnet-4-5-20250929", 10_000, 4_000, 2_000, 1_000);
        // 4k × $3 + 4k × $0.30 + 2k × $3.75 + 1k × $15, per million = 0.012 + 0.0012 + 0.0075 + 0.015
        assert_eq!(u.cost_with(&[]).usd_micros, 35_700);
        assert!(u.cost_with(&[]).known);
    }

    #[test]
    fn versioned_names_match_and_lookalikes_do_not() {
        assert_eq!(model_price(OpenAi, "gpt-4o-2024-08-06"), model_price(OpenAi, "gpt-4o"));
        assert_eq!(
            model_price(OpenAi, "gpt-4.1-mini-2025-04-14"),
            model_price(OpenAi, "gpt-4.1-mini")
        );
        assert_ne!(model_price(OpenAi, "gpt-4o-mini"), model_price(OpenAi, "gpt-4o"));
        assert_eq!(
            model_price(Anthropic, "claude-opus-4-1-20250805"),
            model_price(Anthropic, "claude-opus-4-1")
        );
        assert_eq!(
            model_price(Anthropic, "claude-3-5-haiku-latest"),
            model_price(Anthropic, "claude-3-5-haiku")
        );
        assert_eq!(
            model_price(Gemini, "models/gemini-2.5-flash-001"),
            model_price(Gemini, "gemini-2.5-flash")
        );
        // A future model must not be priced like an older one that shares its prefix.
        assert_eq!(model_price(Anthropic, "claude-opus-4-7"), None);
        assert_eq!(model_price(OpenAi, "gpt-4o-realtime-preview"), None);
        // The provider matters: the same name at another host is not priced.
        assert_eq!(model_price(Gemini, "gpt-4o"), None);
    }

    #[test]
    fn unknown_models_and_compatible_hosts_cost_zero_and_are_flagged() {
        let u = usage(ProviderKind::OpenAiCompatible, "llama3.1:8b", 1000, 0, 0, 1000);
        assert_eq!(
            u.cost_with(&[]),
            Cost { usd_micros: 0, price_version: PRICE_TABLE_VERSION.into(), known: false }
        );
        let u = usage(OpenAi, "gpt-99", 1000, 0, 0, 1000);
        assert!(!u.cost_with(&[]).known);
    }

    #[test]
    fn configured_prices_cover_compatible_hosts_and_take_precedence() {
        let overrides = vec![
            PriceSettings {
                provider: "ollama".into(),
                model: "llama3.1".into(),
                input: 0.5,
                output: 1.5,
                cached_input: None,
                cache_write: None,
            },
            PriceSettings {
                provider: "openai".into(),
                model: "gpt-4o-mini".into(),
                input: 1.0,
                output: 1.0,
                cached_input: Some(0.0),
                cache_write: None,
            },
        ];
        let mut u = usage(ProviderKind::OpenAiCompatible, "llama3.1", 1_000_000, 0, 0, 2_000_000);
        u.provider = "ollama".into();
        // $0.50 + 2 × $1.50
        assert_eq!(
            cost_with(&overrides, &u),
            Cost { usd_micros: 3_500_000, price_version: "config".into(), known: true }
        );
        // Another host with the same model name has no price.
        u.provider = "vllm".into();
        assert!(!cost_with(&overrides, &u).known);
        let mut u = usage(OpenAi, "gpt-4o-mini-2024-07-18", 1_000_000, 500_000, 0, 0);
        u.provider = "openai".into();
        assert_eq!(cost_with(&overrides, &u).usd_micros, 500_000, "cached tokens free");
        let mut u = usage(OpenAi, "gpt-4o", 1_000_000, 0, 0, 0);
        u.provider = "openai".into();
        assert_eq!(cost_with(&overrides, &u), cost_with(&[], &u), "the table otherwise");
    }

    #[test]
    fn small_calls_round_to_the_nearest_micro_dollar() {
        // 7 × $0.15/M = 1.05 µ$ → 1; 10 × $0.15/M = 1.5 µ$ → 2.
        assert_eq!(cost_with(&[], &usage(OpenAi, "gpt-4o-mini", 7, 0, 0, 0)).usd_micros, 1);
        assert_eq!(cost_with(&[], &usage(OpenAi, "gpt-4o-mini", 10, 0, 0, 0)).usd_micros, 2);
    }
}
