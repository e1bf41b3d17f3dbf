//! Stripe's request encoding: `application/x-www-form-urlencoded` with nested parameters in
//! brackets (`line_items[0][price]`, `metadata[workspace_id]`).

use serde_json::Value;

/// Form parameters in the order they are added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn new() -> Self {
        Form::default()
    }

    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.push((key.into(), value.into()));
        self
    }

    /// Flattens a JSON object: objects become `[key]`, arrays `[index]`; `null` is left out
    /// (Stripe reads an empty string as "unset", which no caller here wants by accident).
    pub fn from_json(value: &Value) -> Form {
        let mut form = Form::new();
        if let Value::Object(map) = value {
            for (k, v) in map {
                flatten(&mut form, k.clone(), v);
            }
        }
        form
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn encode(&self) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            ser.append_pair(k, v);
        }
        ser.finish()
    }
}

fn flatten(form: &mut Form, key: String, value: &Value) {
    match value {
        Value::Null => {}
        Value::Bool(b) => {
            form.push(key, b.to_string());
        }
        Value::Number(n) => {
            form.push(key, n.to_string());
        }
        Value::String(s) => {
            form.push(key, s.clone());
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(form, format!("{key}[{i}]"), item);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                flatten(form, format!("{key}[{k}]"), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Form;

    #[test]
    fn nested_parameters_use_brackets() {
        let form = Form::from_json(&json!({
            "mode": "subscription",
            "line_items": [{ "price": "price_123", "quantity": 1 }],
            "metadata": { "workspace_id": "w1" },
            "allow_promotion_codes": true,
            "customer": null,
        }));
        let pairs: Vec<(&str, &str)> =
            form.pairs().iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(pairs.contains(&("line_items[0][price]", "price_123")));
        assert!(pairs.contains(&("line_items[0][quantity]", "1")));
        assert!(pairs.contains(&("metadata[workspace_id]", "w1")));
        assert!(pairs.contains(&("allow_promotion_codes", "true")));
        assert!(!pairs.iter().any(|(k, _)| *k == "customer"));
        let encoded = form.encode();
        assert!(encoded.contains("line_items%5B0%5D%5Bprice%5D=price_123"), "{encoded}");
        assert!(encoded.contains("mode=subscription"));
    }

    #[test]
    fn values_are_percent_encoded() {
        let mut form = Form::new();
        form.push("success_url", "https://x.test/ok?a=1&b={CHECKOUT_SESSION_ID}");
        assert_eq!(
            form.encode(),
            "success_url=https%3A%2F%2Fx.test%2Fok%3Fa%3D1%26b%3D%7BCHECKOUT_SESSION_ID%7D"
        );
    }
}
