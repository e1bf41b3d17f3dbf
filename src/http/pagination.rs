//! Cursor pagination shared by list endpoints: `limit` (1–200, default 50) and a cursor taken
//! from the last item of a full page.

use crate::error::AppError;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 200;

/// The page size asked for, or a 422 naming `limit`.
pub fn page_size(limit: Option<i64>) -> Result<i64, AppError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if (1..=MAX_PAGE_SIZE).contains(&limit) {
        Ok(limit)
    } else {
        Err(AppError::validation(
            "limit",
            "out_of_range",
            format!("Use a page size from 1 to {MAX_PAGE_SIZE}."),
        ))
    }
}

/// The cursor of the next page: the last item's, when the page is full.
pub fn next_cursor<T, C>(items: &[T], limit: i64, cursor: impl Fn(&T) -> C) -> Option<C> {
    if items.len() as i64 == limit { items.last().map(cursor) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_cursors() {
        assert_eq!(page_size(None).unwrap(), 50);
        assert_eq!(page_size(Some(200)).unwrap(), 200);
        assert!(page_size(Some(0)).is_err() && page_size(Some(201)).is_err());
        assert_eq!(next_cursor(&[1, 2, 3], 3, |v| *v), Some(3));
        assert_eq!(next_cursor(&[1, 2], 3, |v| *v), None);
    }
}
