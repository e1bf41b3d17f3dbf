//! Opaque cursors for keyset pagination over `(created_at, id)`, newest first: stable while
//! rows are added, and each page is one index range scan however deep the page.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::FieldError;

pub fn encode(created_at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{id}", created_at.timestamp_micros()))
}

pub fn decode(cursor: &str) -> Result<(DateTime<Utc>, Uuid), FieldError> {
    let bad = || {
        FieldError::new(
            "cursor",
            "invalid",
            "Pass the `next_cursor` of the previous page unchanged.",
        )
    };
    let raw = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (micros, id) = text.split_once('.').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
    Ok((at, Uuid::parse_str(id).map_err(|_| bad())?))
}

/// Page size from a query, 1–200, default 50.
pub fn limit(raw: Option<i64>) -> Result<i64, FieldError> {
    let limit = raw.unwrap_or(50);
    if (1..=200).contains(&limit) {
        Ok(limit)
    } else {
        Err(FieldError::new("limit", "out_of_range", "Use a page size from 1 to 200."))
    }
}

/// `text` as an ILIKE pattern matching it anywhere, with the wildcards in it taken literally.
pub fn contains_pattern(text: Option<&str>) -> Option<String> {
    let t = text.map(str::trim).filter(|t| !t.is_empty())?;
    let escaped: String = t
        .chars()
        .flat_map(|c| match c {
            '\\' | '%' | '_' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    Some(format!("%{escaped}%"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_a_field_error() {
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
        let id = Uuid::new_v4();
        assert_eq!(decode(&encode(at, id)).unwrap(), (at, id));
        assert_eq!(decode("!!").unwrap_err().field, "cursor");
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("12.not-a-uuid")).unwrap_err().code, "invalid");
    }

    #[test]
    fn wildcards_are_literal() {
        assert_eq!(contains_pattern(Some(" 50%_off\\ ")).unwrap(), "%50\\%\\_off\\\\%");
        assert_eq!(contains_pattern(Some("  ")), None);
    }
}
