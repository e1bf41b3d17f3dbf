//! LinkedIn errors: `{"status", "serviceErrorCode", "code", "message"}`.

use serde::Deserialize;

use crate::modules::social::platforms::{
    error::ErrorClass,
    http::{RemoteError, Reply},
};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Body {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    service_error_code: Option<i64>,
    #[serde(default)]
    code: Option<String>,
}

pub(crate) fn parse(reply: &Reply) -> RemoteError {
    let body: Body = serde_json::from_slice(&reply.body).unwrap_or_default();
    let message = body.message.unwrap_or_default();
    let code = body.code.clone().unwrap_or_default();
    let class = if reply.status.as_u16() == 426
        || matches!(code.as_str(), "NONEXISTENT_VERSION" | "VERSION_MISSING")
    {
        Some(ErrorClass::Config)
    } else if code == "REVOKED_ACCESS_TOKEN" {
        Some(ErrorClass::Auth { refreshable: false })
    } else if matches!(code.as_str(), "INVALID_ACCESS_TOKEN" | "EXPIRED_ACCESS_TOKEN")
        || body.service_error_code == Some(65600)
    {
        Some(ErrorClass::Auth { refreshable: true })
    } else if message.to_ascii_lowercase().contains("duplicate") {
        // "Content is a duplicate of urn:li:share:7…": LinkedIn names the existing post.
        Some(ErrorClass::Duplicate { existing_id: find_urn(&message) })
    } else {
        None
    };
    let hint = match class {
        Some(ErrorClass::Config) => Some(
            "The LinkedIn API version SmartFlow uses was retired: an administrator must update \
             social.platforms.linkedin.version."
                .to_string(),
        ),
        _ => None,
    };
    RemoteError {
        message,
        code: body.service_error_code.map(|c| c.to_string()).or(body.code),
        class,
        hint,
    }
}

fn find_urn(message: &str) -> Option<String> {
    let start = message.find("urn:li:")?;
    let urn: String = message[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-'))
        .collect();
    Some(urn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_names_the_existing_post() {
        assert_eq!(
            find_urn("Content is a duplicate of urn:li:share:7012345678901234567."),
            Some("urn:li:share:7012345678901234567".into())
        );
    }
}
