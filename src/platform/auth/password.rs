//! argon2id password hashing, off the async workers (it is deliberately slow).

use std::sync::OnceLock;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};

use crate::{config::AuthSettings, error::AppError};

fn hasher(settings: &AuthSettings) -> Result<Argon2<'static>, AppError> {
    let params = Params::new(
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_parallelism,
        None,
    )
    .map_err(|e| AppError::internal(anyhow::anyhow!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

pub async fn hash(settings: &AuthSettings, password: &str) -> Result<String, AppError> {
    let argon = hasher(settings)?;
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        argon
            .hash_password(password.as_bytes())
            .map(|h: PasswordHash| h.to_string())
            .map_err(|e| AppError::internal(anyhow::anyhow!("hashing failed: {e}")))
    })
    .await
    .map_err(AppError::internal)?
}

/// Checks `password` against a stored hash. With `None` (unknown user) it verifies against a
/// dummy hash so the answer takes as long as for a real account.
pub async fn verify(
    settings: &AuthSettings,
    password: &str,
    stored: Option<&str>,
) -> Result<bool, AppError> {
    let argon = hasher(settings)?;
    let known = stored.is_some();
    let stored = match stored {
        Some(s) => s.to_string(),
        None => dummy_hash(settings).await?,
    };
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&stored) else { return false };
        // Parameters come from the stored hash, so old hashes keep verifying after a change.
        known && argon.verify_password(password.as_bytes(), &parsed).is_ok()
    })
    .await
    .map_err(AppError::internal)
}

/// Whether `stored` was made otherwise than the configured argon2id cost would make it now.
/// Such a hash is replaced at the account's next sign-in, so a cost change reaches every
/// account that signs in (the PHC string carries its own parameters, so old hashes verify).
pub fn needs_rehash(settings: &AuthSettings, stored: &str) -> bool {
    let current = format!(
        "$argon2id$v=19$m={},t={},p={}$",
        settings.argon2_memory_kib, settings.argon2_iterations, settings.argon2_parallelism
    );
    !stored.starts_with(&current)
}

static DUMMY: OnceLock<String> = OnceLock::new();

/// Builds the hash that unknown accounts are checked against. Called at start-up, so no
/// sign-in (the first with an unknown address included) pays for building it.
pub async fn prepare(settings: &AuthSettings) -> Result<(), AppError> {
    if DUMMY.get().is_none() {
        let h = hash(settings, "no such user; this hash only spends time").await?;
        let _ = DUMMY.set(h);
    }
    Ok(())
}

async fn dummy_hash(settings: &AuthSettings) -> Result<String, AppError> {
    // Normally ready since start-up; tools that skip it build it here.
    prepare(settings).await?;
    DUMMY
        .get()
        .cloned()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("dummy password hash missing")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_made_at_another_cost_is_due_for_renewal() {
        let mut settings = crate::config::Settings::default().auth;
        settings.argon2_memory_kib = 64;
        settings.argon2_iterations = 1;
        let cheap = hash(&settings, "pw").await.unwrap();
        assert!(!needs_rehash(&settings, &cheap));
        settings.argon2_iterations = 2;
        assert!(needs_rehash(&settings, &cheap), "{cheap}");
        assert!(verify(&settings, "pw", Some(&cheap)).await.unwrap(), "old hashes still verify");
        assert!(needs_rehash(&settings, "not a hash"));
    }
}
