//! Object storage for uploaded files: a local folder by default, any S3-compatible service when
//! configured (object_store). Public media links are our own signed URLs, so they work the same
//! for both backends and expire.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use chrono::Utc;
use object_store::{
    ObjectStore, ObjectStoreExt, PutPayload, aws::AmazonS3Builder, local::LocalFileSystem,
    path::Path,
};
use uuid::Uuid;

use crate::{
    config::{StorageBackend, StorageSettings},
    platform::crypto::{constant_time_eq, hmac_sha256},
};

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    backend: StorageBackend,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("the file does not exist in storage")]
    NotFound,
    #[error("storage: {0}")]
    Other(String),
}

impl From<object_store::Error> for StorageError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => StorageError::NotFound,
            other => StorageError::Other(other.to_string()),
        }
    }
}

impl Storage {
    pub fn from_settings(s: &StorageSettings) -> anyhow::Result<Storage> {
        let store: Arc<dyn ObjectStore> = match s.backend {
            StorageBackend::Local => {
                std::fs::create_dir_all(&s.local_path).map_err(|e| {
                    anyhow::anyhow!("invalid setting `storage.local_path` ({}): {e}", s.local_path)
                })?;
                Arc::new(LocalFileSystem::new_with_prefix(&s.local_path)?)
            }
            StorageBackend::S3 => {
                let mut b = AmazonS3Builder::new()
                    .with_bucket_name(&s.s3_bucket)
                    .with_region(&s.s3_region)
                    .with_allow_http(s.s3_allow_http);
                if !s.s3_endpoint.is_empty() {
                    b = b.with_endpoint(&s.s3_endpoint);
                }
                if !s.s3_access_key_id.is_empty() {
                    b = b
                        .with_access_key_id(&s.s3_access_key_id)
                        .with_secret_access_key(s.s3_secret_access_key.expose());
                }
                Arc::new(b.build()?)
            }
        };
        Ok(Storage { store, backend: s.backend })
    }

    pub fn backend(&self) -> &'static str {
        match self.backend {
            StorageBackend::Local => "local",
            StorageBackend::S3 => "s3",
        }
    }

    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store.put(&Path::from(key), PutPayload::from(bytes)).await?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        Ok(self.store.get(&Path::from(key)).await?.bytes().await?)
    }

    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Label of the key (derived from the encryption key) that signs media links.
pub const MEDIA_KEY_LABEL: &str = "smartflow media links v1";

/// `{base_url}/media/{id}?expires=…&sig=…`: readable by anyone holding it until it expires.
pub fn signed_media_url(base_url: &str, secret: &[u8], upload: Uuid, ttl: Duration) -> String {
    let expires = Utc::now().timestamp() + ttl.as_secs() as i64;
    let sig = hex::encode(hmac_sha256(secret, format!("{upload}:{expires}").as_bytes()));
    format!("{}/media/{upload}?expires={expires}&sig={sig}", base_url.trim_end_matches('/'))
}

pub fn verify_media_signature(secret: &[u8], upload: Uuid, expires: i64, sig: &str) -> bool {
    if expires < Utc::now().timestamp() {
        return false;
    }
    let expected = hex::encode(hmac_sha256(secret, format!("{upload}:{expires}").as_bytes()));
    constant_time_eq(expected.as_bytes(), sig.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_links_verify_until_they_expire() {
        let id = Uuid::new_v4();
        let url = signed_media_url("https://x.example/", b"k", id, Duration::from_secs(60));
        let q: std::collections::HashMap<String, String> = url::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let expires: i64 = q["expires"].parse().unwrap();
        assert!(verify_media_signature(b"k", id, expires, &q["sig"]));
        assert!(!verify_media_signature(b"other", id, expires, &q["sig"]));
        assert!(!verify_media_signature(b"k", Uuid::new_v4(), expires, &q["sig"]));
        assert!(!verify_media_signature(b"k", id, expires + 1, &q["sig"]));
        assert!(!verify_media_signature(b"k", id, Utc::now().timestamp() - 1, &q["sig"]));
    }
}
