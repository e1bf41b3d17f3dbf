//! Removes credentials from platform responses before they are logged or stored with an error.
//! Platforms rarely echo tokens, but token endpoints and misbehaving proxies do, and an error
//! body ends up in the attempt ledger where many people can read it.

const REDACTED: &str = "[redacted]";
/// Longer bodies are cut: the start says what went wrong, the rest is noise in a ledger row.
pub(crate) const MAX_BODY_CHARS: usize = 2_000;

/// Keys whose values are credentials in JSON (`"key": "value"`) or query/form (`key=value`) text.
const SENSITIVE_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "code_verifier",
    "fb_exchange_token",
    "appsecret_proof",
    "accessJwt",
    "refreshJwt",
    "password",
    "token",
];

/// Replaces every known secret and every value of a credential-like key, then shortens.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        // Very short values would blank out ordinary words.
        if secret.len() >= 8 {
            out = out.replace(secret, REDACTED);
        }
    }
    out = redact_bearer(&out);
    for key in SENSITIVE_KEYS {
        out = redact_key(&out, key);
    }
    truncate(&out, MAX_BODY_CHARS)
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn redact_bearer(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = find_ascii_ci(rest, "bearer ") {
        let (head, tail) = rest.split_at(pos + "bearer ".len());
        out.push_str(head);
        let end =
            tail.find(|c: char| c.is_whitespace() || c == '"' || c == ',').unwrap_or(tail.len());
        if end > 0 {
            out.push_str(REDACTED);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Redacts `key": "value"`, `key":"value"` and `key=value` occurrences.
fn redact_key(text: &str, key: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = find_ascii_ci(rest, key) {
        let before_ok = rest[..pos]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric() || key == "token");
        let after = &rest[pos + key.len()..];
        let value_start = value_start(after);
        match (before_ok, value_start) {
            (true, Some((offset, quoted))) => {
                let head_len = pos + key.len() + offset;
                out.push_str(&rest[..head_len]);
                let value = &rest[head_len..];
                let end = if quoted {
                    value.find('"').unwrap_or(value.len())
                } else {
                    value
                        .find(|c: char| {
                            c == '&' || c == ',' || c == '}' || c == '"' || c.is_whitespace()
                        })
                        .unwrap_or(value.len())
                };
                if end > 0 {
                    out.push_str(REDACTED);
                }
                rest = &value[end..];
            }
            _ => {
                let step = pos + key.len();
                out.push_str(&rest[..step]);
                rest = &rest[step..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// After a key: optional closing quote, spaces, `:` or `=`, spaces, optional opening quote.
/// Returns where the value starts and whether it is quoted.
fn value_start(after: &str) -> Option<(usize, bool)> {
    let bytes = after.as_bytes();
    let mut i = 0;
    if bytes.first() == Some(&b'"') {
        i += 1;
    }
    while bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    let json = match bytes.get(i) {
        Some(b':') => true,
        Some(b'=') => false,
        _ => return None,
    };
    i += 1;
    while bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    if bytes.get(i) == Some(&b'"') {
        Some((i + 1, true))
    } else if json && matches!(bytes.get(i), Some(b'{' | b'[' | b'n' | b't' | b'f')) {
        // Objects, arrays, null and booleans are structure, not credentials.
        None
    } else {
        Some((i, false))
    }
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let n = needle.len();
    haystack
        .as_bytes()
        .windows(n)
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
        .filter(|&p| haystack.is_char_boundary(p) && haystack.is_char_boundary(p + n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_known_secrets_and_credential_values() {
        let body = r#"{"access_token":"abc.def-ghi","refresh_token": "r123","token_type":"bearer","expires_in":7200}"#;
        let out = redact(body, &[]);
        assert!(!out.contains("abc.def-ghi"), "{out}");
        assert!(!out.contains("r123"), "{out}");
        assert!(out.contains(r#""token_type":"bearer""#), "{out}");
        assert!(out.contains("7200"));

        let query = "error for url https://graph/x?client_secret=s3cr3t&access_token=EAAB&x=1";
        let out = redact(query, &[]);
        assert!(!out.contains("s3cr3t") && !out.contains("EAAB"), "{out}");
        assert!(out.contains("x=1"));

        let out = redact("header was Authorization: Bearer eyJhbGciOi.payload.sig", &[]);
        assert!(!out.contains("eyJhbGciOi"), "{out}");

        let out = redact("echo: the token SUPERSECRETVALUE is bad", &["SUPERSECRETVALUE"]);
        assert_eq!(out, "echo: the token [redacted] is bad");
    }

    #[test]
    fn keeps_ordinary_messages_and_truncates() {
        let msg = r#"{"error":{"message":"Invalid parameter","code":100}}"#;
        assert_eq!(redact(msg, &[]), msg);
        let long = "é".repeat(MAX_BODY_CHARS + 10);
        let out = redact(&long, &[]);
        assert_eq!(out.chars().count(), MAX_BODY_CHARS + 1);
    }
}
