//! An e-mail address, trimmed and lower-cased so it is unique however it was typed.

use std::fmt;

use crate::error::FieldError;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, FieldError> {
        let value = raw.trim().to_lowercase();
        let invalid = |msg: &str| FieldError::new("", "invalid_email", msg);
        if value.is_empty() {
            return Err(FieldError::new("", "required", "Enter an e-mail address."));
        }
        if value.len() > 254 {
            return Err(invalid("Use an e-mail address of at most 254 characters."));
        }
        let Some((local, domain)) = value.rsplit_once('@') else {
            return Err(invalid("Enter an e-mail address like name@example.com."));
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        if !domain_ok || !local_ok {
            return Err(invalid("Enter an e-mail address like name@example.com."));
        }
        Ok(Email(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn normalises_and_accepts_valid_addresses() {
        assert_eq!(Email::parse("  Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        assert!(Email::parse("first.last+tag@sub.example.co.uk").is_ok());
        assert!(Email::parse("josé@exämple.com").is_ok());
    }

    #[test]
    fn rejects_invalid_addresses_with_a_reason() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@.com",
            "a..b@example.com",
            "a@exa mple.com",
            "a@-x.com",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert!(!err.message.is_empty(), "{bad}");
        }
        assert_eq!(Email::parse("").unwrap_err().code, "required");
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }
}
