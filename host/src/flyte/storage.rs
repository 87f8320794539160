//! Reading and writing the files of a Flyte execution by URI: a local path, `file://…` or
//! `s3://bucket/key` (object_store).
//!
//! S3 credentials and endpoint come from the environment Flyte gives task pods
//! (`FLYTE_AWS_ENDPOINT`, `FLYTE_AWS_ACCESS_KEY_ID`, `FLYTE_AWS_SECRET_ACCESS_KEY`) or the
//! standard `AWS_*` variables; an `http://` endpoint (MinIO, moto) is allowed.

use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload};

/// A storage operation that failed, naming the URI.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("`{0}`: unsupported URI scheme; use a local path, file://PATH or s3://BUCKET/KEY")]
    Scheme(String),
    #[error("`{uri}`: {message}")]
    Invalid { uri: String, message: String },
    #[error("`{uri}` does not exist")]
    NotFound { uri: String },
    #[error("`{uri}`: {source}")]
    Store {
        uri: String,
        source: object_store::Error,
    },
}

/// Where one object lives.
#[derive(Debug)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    path: StorePath,
    uri: String,
}

impl Location {
    /// Resolves `uri`.
    ///
    /// # Errors
    ///
    /// For an unknown scheme, an S3 URI without a bucket, or S3 settings that do not build a
    /// client.
    pub fn parse(uri: &str) -> Result<Self, StorageError> {
        let invalid = |message: String| StorageError::Invalid {
            uri: uri.to_string(),
            message,
        };
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("no bucket: expected s3://BUCKET/KEY".into()));
            }
            let store = s3_store(bucket).map_err(|e| invalid(e.to_string()))?;
            return Ok(Location {
                store: Arc::new(store),
                path: StorePath::from(key),
                uri: uri.to_string(),
            });
        }
        let local = uri.strip_prefix("file://").unwrap_or(uri);
        if local.contains("://") {
            return Err(StorageError::Scheme(uri.to_string()));
        }
        let absolute = std::path::absolute(local).map_err(|e| invalid(e.to_string()))?;
        let path = StorePath::from_absolute_path(&absolute).map_err(|e| invalid(e.to_string()))?;
        Ok(Location {
            store: Arc::new(LocalFileSystem::new()),
            path,
            uri: uri.to_string(),
        })
    }

    /// `prefix` joined with a file name (`s3://b/out` + `outputs.pb` → `s3://b/out/outputs.pb`).
    pub fn join(prefix: &str, name: &str) -> String {
        format!("{}/{name}", prefix.trim_end_matches('/'))
    }

    /// The whole object.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] when it does not exist, else the store's error.
    pub async fn read(&self) -> Result<Bytes, StorageError> {
        let result = match self.store.get(&self.path).await {
            Ok(result) => result.bytes().await,
            Err(e) => Err(e),
        };
        result.map_err(|source| match source {
            object_store::Error::NotFound { .. } => StorageError::NotFound {
                uri: self.uri.clone(),
            },
            source => StorageError::Store {
                uri: self.uri.clone(),
                source,
            },
        })
    }

    /// Writes the whole object at once (never a partial file: local writes go through a
    /// temporary file and a rename, S3 puts are atomic), creating parent directories.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn write(&self, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.store
            .put(&self.path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|source| StorageError::Store {
                uri: self.uri.clone(),
                source,
            })
    }
}

fn s3_store(bucket: &str) -> object_store::Result<object_store::aws::AmazonS3> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(endpoint) = var("FLYTE_AWS_ENDPOINT").or_else(|| var("AWS_ENDPOINT_URL")) {
        builder = builder
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false);
    }
    if let Some(key) = var("FLYTE_AWS_ACCESS_KEY_ID") {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = var("FLYTE_AWS_SECRET_ACCESS_KEY") {
        builder = builder.with_secret_access_key(secret);
    }
    if var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .is_none()
    {
        builder = builder.with_region("us-east-1");
    }
    builder.build()
}
