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
    } else if reply.status.as_u16() == 403 {
        // "Not enough permissions to access: …" (`ACCESS_DENIED`, service error 100): the token
        // is fine but lacks a scope, e.g. `r_member_social`, which LinkedIn grants members'
        // apps only through its partner programs. Reads fail this way while publishing works.
        Some(ErrorClass::Permission)
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
    use bytes::Bytes;
    use reqwest::{StatusCode, header::HeaderMap};

    use super::*;

    fn class(status: u16, body: serde_json::Value) -> Option<ErrorClass> {
        let reply = Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        };
        parse(&reply).class
    }

    #[test]
    fn only_token_failures_are_auth() {
        let denied = serde_json::json!({ "status": 403, "serviceErrorCode": 100,
            "code": "ACCESS_DENIED", "message": "Not enough permissions to access: socialActions" });
        assert_eq!(class(403, denied), Some(ErrorClass::Permission));
        let expired = serde_json::json!({ "status": 401, "serviceErrorCode": 65601,
            "code": "EXPIRED_ACCESS_TOKEN", "message": "The token used in the request has expired" });
        assert_eq!(class(401, expired), Some(ErrorClass::Auth { refreshable: true }));
        let revoked = serde_json::json!({ "status": 401, "serviceErrorCode": 65602,
            "code": "REVOKED_ACCESS_TOKEN", "message": "The token used in the request has been revoked by the user" });
        assert_eq!(class(401, revoked), Some(ErrorClass::Auth { refreshable: false }));
    }

    #[test]
    fn duplicate_names_the_existing_post() {
        assert_eq!(
            find_urn("Content is a duplicate of urn:li:share:7012345678901234567."),
            Some("urn:li:share:7012345678901234567".into())
        );
    }
}
