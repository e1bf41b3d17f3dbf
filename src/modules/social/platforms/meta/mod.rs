//! Meta's Graph API, shared by the Facebook Pages and Instagram adapters and by Facebook Login.

pub mod facebook;
pub mod instagram;
pub mod oauth;

use chrono::{DateTime, Utc};
use serde::{Deserialize, de::DeserializeOwned};

use super::{
    error::{ErrorClass, PlatformError},
    http::{Effect, Http, RemoteError, Reply, join, with_query},
    multipart::Multipart,
    ratelimit::meta_app_usage_percent,
    settings::MetaSettings,
};
use crate::{config::Secret, platform::crypto::hmac_sha256};

/// Usage above this share of the app's hourly budget is logged, so throttling is no surprise.
const USAGE_WARNING_PERCENT: i64 = 90;

/// Graph calls for one platform (the errors say Facebook or Instagram).
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    pub http: Http,
    /// `https://graph.facebook.com/v24.0`
    pub base: String,
    app_secret: Secret,
    appsecret_proof: bool,
}

impl Graph {
    pub fn new(http: Http, settings: &MetaSettings) -> Self {
        Graph {
            http,
            base: join(&settings.graph_base_url, &settings.graph_version),
            app_secret: settings.app_secret.clone(),
            appsecret_proof: settings.appsecret_proof,
        }
    }

    /// The URL for `path` with `params`, plus `appsecret_proof` for `token` when enabled.
    pub fn url(&self, path: &str, token: &str, params: &[(&str, String)]) -> String {
        let mut all: Vec<(&str, String)> = params.to_vec();
        if self.appsecret_proof
            && let Some(secret) = self.app_secret.get()
        {
            // Proves the call comes from the app's server, not from a leaked token alone.
            all.push((
                "appsecret_proof",
                hex::encode(hmac_sha256(secret.as_bytes(), token.as_bytes())),
            ));
        }
        with_query(&join(&self.base, path), &all)
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
        params: &[(&str, String)],
    ) -> Result<T, PlatformError> {
        let request = self.http.client.get(self.url(path, token, params)).bearer_auth(token);
        self.call(request, Effect::Read, token).await
    }

    pub async fn post_form<T: DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
        form: &[(&str, String)],
        effect: Effect,
    ) -> Result<T, PlatformError> {
        let request =
            self.http.client.post(self.url(path, token, &[])).bearer_auth(token).form(form);
        self.call(request, effect, token).await
    }

    pub async fn post_multipart<T: DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
        body: Multipart,
        effect: Effect,
    ) -> Result<T, PlatformError> {
        let (content_type, bytes) = body.finish();
        let request = self
            .http
            .client
            .post(self.url(path, token, &[]))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(bytes);
        self.call(request, effect, token).await
    }

    pub async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        effect: Effect,
        token: &str,
    ) -> Result<T, PlatformError> {
        let reply = self.http.send(request, effect, graph_error, &[token]).await?;
        if let Some(percent) = meta_app_usage_percent(&reply.headers)
            && percent >= USAGE_WARNING_PERCENT
        {
            tracing::warn!(platform = %self.http.platform, percent, "Meta app usage is close to its rate limit");
        }
        self.http.decode(&reply, effect)
    }
}

#[derive(Deserialize)]
pub(crate) struct GraphId {
    pub id: String,
}

#[derive(Deserialize)]
pub(crate) struct GraphList<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
}

/// Graph's `{"error": {"message", "type", "code", "error_subcode", "error_user_msg",
/// "is_transient", "fbtrace_id"}}`. The code decides the class: Graph answers 400 for expired
/// tokens and rate limits alike.
pub(crate) fn graph_error(reply: &Reply) -> RemoteError {
    #[derive(Deserialize)]
    struct Envelope {
        error: GraphError,
    }
    #[derive(Deserialize)]
    struct GraphError {
        #[serde(default)]
        message: String,
        #[serde(default)]
        code: Option<i64>,
        #[serde(default)]
        error_subcode: Option<i64>,
        #[serde(default)]
        error_user_msg: Option<String>,
        #[serde(default)]
        is_transient: Option<bool>,
        #[serde(default)]
        fbtrace_id: Option<String>,
    }
    let Ok(Envelope { error }) = serde_json::from_slice::<Envelope>(&reply.body) else {
        return RemoteError::default();
    };
    let code = error.code.unwrap_or(0);
    let sub = error.error_subcode.unwrap_or(0);
    let class = match (code, sub) {
        (4 | 17 | 32 | 341 | 613 | 80001..=80014, _) => Some(ErrorClass::RateLimited),
        // Instagram's 24-hour content publishing limit.
        (9, 2207042) => Some(ErrorClass::RateLimited),
        // Meta issues no refresh tokens; an invalid token needs the person to log in again.
        (102 | 190, _) => Some(ErrorClass::Auth { refreshable: false }),
        // A permission the token was not granted (or a Page role it lacks): the token still
        // works for everything else, so this never flags the account.
        (10 | 200..=299, _) => Some(ErrorClass::Permission),
        (506, _) => Some(ErrorClass::Duplicate { existing_id: None }),
        // Instagram: the container is not finished yet.
        (9007, _) => Some(ErrorClass::Transient),
        (324 | 352 | 9004 | 36000..=36003, _) | (_, 2207000..=2207999) => Some(ErrorClass::Media),
        (1 | 2, _) => Some(ErrorClass::Transient),
        _ if error.is_transient == Some(true) => Some(ErrorClass::Transient),
        (368, _) => Some(ErrorClass::Validation),
        _ => None,
    };
    let hint = match (&class, code) {
        (Some(ErrorClass::Permission), _) => Some(
            "SmartFlow lacks a permission for this Page: reconnect it and allow every permission \
             asked for."
                .to_string(),
        ),
        _ => None,
    };
    if let Some(trace) = &error.fbtrace_id {
        tracing::debug!(fbtrace_id = %trace, code, subcode = sub, "Graph API error");
    }
    RemoteError {
        message: error.error_user_msg.filter(|m| !m.is_empty()).unwrap_or(error.message),
        code: Some(if sub != 0 { format!("{code}/{sub}") } else { code.to_string() }),
        class,
        hint,
    }
}

/// Graph timestamps look like `2026-11-25T10:00:00+0000`.
pub(crate) fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| DateTime::parse_from_rfc3339(value))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A lifetime metric from an insights response (`values[0].value` or `total_value.value`).
pub(crate) fn insight(data: &[serde_json::Value], name: &str) -> Option<i64> {
    let entry = data.iter().find(|m| m.get("name").and_then(|n| n.as_str()) == Some(name))?;
    entry
        .pointer("/values/0/value")
        .or_else(|| entry.pointer("/total_value/value"))
        .and_then(serde_json::Value::as_i64)
}

/// Insights are extras: a metric Meta retired or does not offer for this post type, or one
/// the token lacks the permission for (`read_insights`, codes 10 and 200–299), must not hide
/// the counters that did load.
pub(crate) fn optional_insights(
    result: Result<GraphList<serde_json::Value>, PlatformError>,
) -> Result<Vec<serde_json::Value>, PlatformError> {
    match result {
        Ok(list) => Ok(list.data),
        Err(
            PlatformError::Validation { message, .. } | PlatformError::Permission { message, .. },
        ) => {
            tracing::debug!(%message, "insights unavailable");
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_times() {
        let t = parse_time("2026-11-25T10:00:00+0000").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-25T10:00:00+00:00");
        assert!(parse_time("2026-11-25T10:00:00Z").is_some());
    }
}
