//! Bounded, trimmed text fields (names, titles) with field errors that say the limit.

use crate::error::FieldError;

/// Trims `raw` and checks it has 1..=`max` characters.
pub fn required(raw: &str, max: usize) -> Result<String, FieldError> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(FieldError::new("", "required", "This field is required."));
    }
    bounded(v, max)
}

/// Trims `raw`; empty is allowed; at most `max` characters.
pub fn optional(raw: Option<&str>, max: usize) -> Result<Option<String>, FieldError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => bounded(v, max).map(Some),
    }
}

fn bounded(v: &str, max: usize) -> Result<String, FieldError> {
    if v.chars().count() > max {
        return Err(FieldError::new("", "too_long", format!("Use at most {max} characters.")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(FieldError::new("", "invalid_characters", "Remove control characters."));
    }
    Ok(v.to_string())
}
