//! XRPC errors: `{"error": "ExpiredToken", "message": "Token has expired"}`, often with 400
//! where other APIs would answer 401.

use serde::Deserialize;

use crate::modules::social::platforms::{
    error::ErrorClass,
    http::{RemoteError, Reply},
};

pub(super) fn xrpc_error(reply: &Reply) -> RemoteError {
    #[derive(Deserialize, Default)]
    struct Body {
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    let body: Body = serde_json::from_slice(&reply.body).unwrap_or_default();
    let name = body.error.unwrap_or_default();
    let class = match name.as_str() {
        "ExpiredToken" | "InvalidToken" => Some(ErrorClass::Auth { refreshable: true }),
        "AuthenticationRequired"
        | "AuthFactorTokenRequired"
        | "AccountTakedown"
        | "AccountDeactivated" => Some(ErrorClass::Auth { refreshable: false }),
        "RateLimitExceeded" => Some(ErrorClass::RateLimited),
        "BlobTooLarge" | "InvalidMimeType" => Some(ErrorClass::Media),
        "UpstreamFailure" | "UpstreamTimeout" | "InternalServerError" => {
            Some(ErrorClass::Transient)
        }
        _ => None,
    };
    let hint = match name.as_str() {
        "AuthenticationRequired" | "AuthFactorTokenRequired" => Some(
            "Bluesky did not accept the handle and password: connect with an app password \
             (Settings → Privacy and security → App passwords)."
                .to_string(),
        ),
        _ => None,
    };
    RemoteError {
        message: body.message.unwrap_or_else(|| name.clone()),
        code: Some(name).filter(|n| !n.is_empty()),
        class,
        hint,
    }
}
