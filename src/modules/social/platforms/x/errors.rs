//! X API v2 errors: problem documents `{"title", "detail", "type", "status"}`, often with an
//! `errors` array (`[{"message"}]` or nested problems), and the v1.1 `{"errors":[{"code",
//! "message"}]}` shape some endpoints still use.

use serde::Deserialize;

use crate::modules::social::platforms::{
    error::ErrorClass,
    http::{RemoteError, Reply},
};

#[derive(Deserialize, Default)]
struct Problem {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    errors: Vec<Item>,
}

#[derive(Deserialize, Default)]
struct Item {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

pub(crate) fn parse(reply: &Reply) -> RemoteError {
    let problem: Problem = serde_json::from_slice(&reply.body).unwrap_or_default();
    let mut parts: Vec<String> = Vec::new();
    if let Some(d) = problem.detail.clone().or(problem.title.clone()) {
        parts.push(d);
    }
    for item in &problem.errors {
        if let Some(m) = item.message.clone().or(item.detail.clone())
            && !parts.contains(&m)
        {
            parts.push(m);
        }
    }
    let message = parts.join("; ");
    let kind = problem
        .kind
        .clone()
        .or_else(|| problem.errors.iter().find_map(|e| e.kind.clone()))
        .unwrap_or_default();
    let legacy_code = problem.errors.iter().find_map(|e| e.code);
    let code = kind
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty() && *s != "about:blank")
        .map(str::to_string)
        .or(legacy_code.map(|c| c.to_string()));

    let lower = message.to_ascii_lowercase();
    let class = if lower.contains("duplicate content") || legacy_code == Some(187) {
        Some(ErrorClass::Duplicate { existing_id: None })
    } else if kind.ends_with("client-forbidden") || kind.ends_with("client-not-enrolled") {
        // The X app is not attached to a project with the right access level.
        Some(ErrorClass::Config)
    } else if kind.ends_with("usage-capped") || legacy_code == Some(88) {
        Some(ErrorClass::RateLimited)
    } else if legacy_code == Some(89) {
        Some(ErrorClass::Auth { refreshable: true })
    } else if matches!(legacy_code, Some(324) | Some(325)) {
        Some(ErrorClass::Media)
    } else {
        None
    };
    let hint = match &class {
        Some(ErrorClass::Config) => Some(
            "The X app behind SmartFlow lacks the required API access: an administrator must \
             attach it to a project with write access."
                .to_string(),
        ),
        _ => None,
    };
    RemoteError { message, code, class, hint }
}
