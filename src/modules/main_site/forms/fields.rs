//! Field parsers of the public forms, each recording its error under the field's name.

use crate::{
    domain::{Email, text},
    error::{FieldError, Validator},
};

/// One line of text (names, companies): no line breaks, so it is safe in e-mail subjects.
pub fn line(
    v: &mut Validator,
    field: &str,
    raw: Option<&str>,
    max: usize,
    required: bool,
) -> Option<String> {
    let parsed = if required {
        text::required(raw.unwrap_or(""), max).map(Some)
    } else {
        text::optional(raw, max)
    };
    let parsed = parsed.and_then(|value| match value {
        Some(s) if s.contains(['\n', '\r', '\t']) => {
            Err(FieldError::new("", "invalid_characters", "Keep this on one line."))
        }
        other => Ok(other),
    });
    v.check(field, parsed).flatten()
}

/// Free text over several lines (messages).
pub fn block(
    v: &mut Validator,
    field: &str,
    raw: Option<&str>,
    max: usize,
    required: bool,
) -> Option<String> {
    let parsed = if required {
        text::required(raw.unwrap_or(""), max).map(Some)
    } else {
        text::optional(raw, max)
    };
    v.check(field, parsed).flatten()
}

pub fn email(v: &mut Validator, raw: Option<&str>) -> Option<Email> {
    v.check("email", Email::parse(raw.unwrap_or("")))
}

/// A phone number as people write it: digits with `+ ( ) - . /` and spaces, 6–20 digits.
pub fn phone(v: &mut Validator, raw: Option<&str>) -> Option<String> {
    let value = line(v, "phone", raw, 50, false)?;
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let allowed = value.chars().all(|c| c.is_ascii_digit() || " +()-./".contains(c));
    if !allowed || !(6..=20).contains(&digits) {
        v.add(
            "phone",
            "invalid_phone",
            "Enter a phone number like +1 555 010 0200, or leave it empty.",
        );
        return None;
    }
    Some(value)
}

/// A short identifier such as a lead source (`homepage`, `webinar-2026`): lower-cased.
pub fn slug(v: &mut Validator, field: &str, raw: Option<&str>, max: usize) -> Option<String> {
    let value = line(v, field, raw, max, false)?.to_ascii_lowercase();
    if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) {
        v.add(field, "invalid_format", "Use letters, digits, `-`, `_`, `.` and `:` only.");
        return None;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_parser_names_its_field() {
        let mut v = Validator::new();
        assert_eq!(line(&mut v, "name", Some("  Ada  "), 10, true).as_deref(), Some("Ada"));
        assert_eq!(line(&mut v, "company", Some("a\nb"), 10, false), None);
        assert_eq!(
            phone(&mut v, Some("+44 (0)20 7946 0000")).as_deref(),
            Some("+44 (0)20 7946 0000")
        );
        assert_eq!(phone(&mut v, Some("call me")), None);
        assert_eq!(
            slug(&mut v, "source", Some("Webinar-2026"), 100).as_deref(),
            Some("webinar-2026")
        );
        assert_eq!(slug(&mut v, "source", Some("bad source!"), 100), None);
        assert_eq!(email(&mut v, Some("nope")), None);
        let err = v.finish().unwrap_err();
        let crate::error::AppError::Validation(errors) = err else { panic!() };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["company", "phone", "source", "email"]);
    }
}
