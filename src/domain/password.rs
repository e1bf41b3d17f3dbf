//! A password chosen by a user: long enough, not absurdly long (argon2 cost), not trivial.

use secrecy::{ExposeSecret, SecretString};

use crate::error::FieldError;

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 128;

const COMMON: &[&str] = &[
    "password",
    "password1",
    "password123",
    "1234567890",
    "12345678910",
    "qwertyuiop",
    "iloveyou12",
    "letmein123",
    "welcome123",
    "administrator",
    "smartflow1",
    "0123456789",
];

pub struct NewPassword(SecretString);

impl NewPassword {
    pub fn parse(raw: &str) -> Result<NewPassword, FieldError> {
        let chars = raw.chars().count();
        if chars < MIN_LEN {
            return Err(FieldError::new(
                "",
                "too_short",
                format!("Use at least {MIN_LEN} characters."),
            ));
        }
        if chars > MAX_LEN {
            return Err(FieldError::new(
                "",
                "too_long",
                format!("Use at most {MAX_LEN} characters."),
            ));
        }
        let lower = raw.to_lowercase();
        if COMMON.contains(&lower.as_str()) || raw.chars().all(|c| raw.starts_with(c)) {
            return Err(FieldError::new(
                "",
                "too_common",
                "This password is too easy to guess; choose another.",
            ));
        }
        Ok(NewPassword(SecretString::from(raw.to_string())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::NewPassword;

    #[test]
    fn length_and_common_passwords() {
        assert!(NewPassword::parse("correct horse battery").is_ok());
        assert_eq!(NewPassword::parse("short").err().unwrap().code, "too_short");
        assert_eq!(NewPassword::parse(&"x".repeat(129)).err().unwrap().code, "too_long");
        assert_eq!(NewPassword::parse("Password123").err().unwrap().code, "too_common");
        assert_eq!(NewPassword::parse("aaaaaaaaaaaa").err().unwrap().code, "too_common");
    }
}
