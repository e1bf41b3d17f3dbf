//! The parts of Stripe's objects SmartFlow reads. Unknown fields are ignored, so newer API
//! versions keep parsing; fields that moved between versions are read from both places.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Stripe's error object: `{"error": {"type", "code", "message", "param", …}}`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ApiError {
    /// `api_error`, `card_error`, `idempotency_error`, `invalid_request_error`…
    #[serde(rename = "type", default)]
    pub kind: String,
    pub code: Option<String>,
    pub message: Option<String>,
    pub param: Option<String>,
    pub decline_code: Option<String>,
    pub doc_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ErrorBody {
    pub error: ApiError,
}

/// An id, whether Stripe sent it as a string or as an expanded object.
fn expandable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(id)) => Some(id),
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).map(str::to_string),
        _ => None,
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    /// Where to send the customer (absent once the session is complete).
    pub url: Option<String>,
    #[serde(default, deserialize_with = "expandable")]
    pub customer: Option<String>,
    #[serde(default, deserialize_with = "expandable")]
    pub subscription: Option<String>,
    pub client_reference_id: Option<String>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
    pub mode: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PortalSession {
    pub id: String,
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Price {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionItem {
    pub price: Price,
    /// Where API versions from 2025-03 put the period.
    pub current_period_end: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub id: String,
    #[serde(default, deserialize_with = "expandable")]
    pub customer: Option<String>,
    /// `trialing`, `active`, `past_due`, `canceled`, `unpaid`, `incomplete`, `paused`…
    pub status: String,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    /// Where API versions before 2025-03 put the period.
    pub current_period_end: Option<i64>,
    pub items: List<SubscriptionItem>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

impl Subscription {
    pub fn period_end(&self) -> Option<i64> {
        self.current_period_end
            .or_else(|| self.items.data.iter().filter_map(|i| i.current_period_end).max())
    }

    pub fn price_ids(&self) -> impl Iterator<Item = &str> {
        self.items.data.iter().map(|i| i.price.id.as_str())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Invoice {
    pub id: String,
    #[serde(default, deserialize_with = "expandable")]
    pub customer: Option<String>,
    /// Before API version 2025-03.
    #[serde(default, deserialize_with = "expandable")]
    pub subscription: Option<String>,
    /// From API version 2025-03: `parent.subscription_details.subscription`.
    pub parent: Option<Value>,
    #[serde(default)]
    pub amount_due: i64,
    #[serde(default)]
    pub currency: String,
    pub hosted_invoice_url: Option<String>,
    pub attempt_count: Option<i64>,
    pub next_payment_attempt: Option<i64>,
}

impl Invoice {
    pub fn subscription_id(&self) -> Option<String> {
        self.subscription.clone().or_else(|| {
            self.parent.as_ref()?.pointer("/subscription_details/subscription").and_then(|v| {
                v.as_str().map(str::to_string).or_else(|| v.get("id")?.as_str().map(str::to_string))
            })
        })
    }
}

/// A webhook event. `data.object` is parsed according to `type` by the caller.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix seconds.
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: Value,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn periods_and_subscriptions_are_read_from_old_and_new_shapes() {
        let old: Subscription = serde_json::from_value(json!({
            "id": "sub_1", "customer": "cus_1", "status": "active", "current_period_end": 100,
            "items": { "object": "list", "data": [{ "price": { "id": "price_a" } }] }
        }))
        .unwrap();
        assert_eq!(old.period_end(), Some(100));
        let new: Subscription = serde_json::from_value(json!({
            "id": "sub_1", "customer": { "id": "cus_1", "object": "customer" }, "status": "active",
            "items": { "data": [{ "price": { "id": "price_a" }, "current_period_end": 200 }] }
        }))
        .unwrap();
        assert_eq!(new.period_end(), Some(200));
        assert_eq!(new.customer.as_deref(), Some("cus_1"));
        let invoice: Invoice = serde_json::from_value(json!({
            "id": "in_1", "customer": "cus_1", "amount_due": 4900, "currency": "usd",
            "parent": { "subscription_details": { "subscription": "sub_9" } }
        }))
        .unwrap();
        assert_eq!(invoice.subscription_id().as_deref(), Some("sub_9"));
    }
}
