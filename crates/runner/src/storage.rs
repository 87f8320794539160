//! Reading and writing the files of a Flyte execution by URI.
//!
//! A local path or `file://PATH` is a local file. Any other URI is resolved by object_store,
//! which picks the store from the URL ([`ObjectStoreScheme`]): `s3://BUCKET/KEY`,
//! `gs://BUCKET/KEY`, `az://CONTAINER/KEY` (or `abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/KEY`
//! and Azure's other spellings), `http(s)://HOST/PATH`.
//!
//! Each store takes its settings from the environment, as object_store's `from_env` builders
//! read it (`AWS_*`; `GOOGLE_*` and `SERVICE_ACCOUNT`; `AZURE_*` and `IDENTITY_ENDPOINT`). S3 also
//! reads what Flyte gives task pods (`FLYTE_AWS_ENDPOINT`, `FLYTE_AWS_ACCESS_KEY_ID`,
//! `FLYTE_AWS_SECRET_ACCESS_KEY`) and `AWS_ENDPOINT_URL`; an `http://` endpoint (MinIO, moto) is
//! allowed, and the region defaults to us-east-1.
//!
//! [`Storage`] is what the runner needs of a backend, and [`Location`] implements it for every
//! store object_store has: a scheme object_store supports is one more `object_store` feature in
//! the workspace manifest plus its environment in `store_options`; a backend object_store lacks
//! would be another implementation of [`Storage`].

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreScheme, PutPayload};
use tokio::runtime::Runtime;
use url::Url;

/// A storage operation that failed, naming the URI.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "`{0}`: unsupported URI scheme; use a local path, file://PATH, s3://BUCKET/KEY, \
         gs://BUCKET/KEY, az://CONTAINER/KEY or http(s)://HOST/PATH"
    )]
    /// A scheme no backend serves.
    Scheme(String),
    /// A URI its backend cannot use (no bucket, settings that build no client).
    #[error("`{uri}`: {message}")]
    Invalid {
        /// The URI.
        uri: String,
        /// What is wrong with it.
        message: String,
    },
    /// No object there.
    #[error("`{uri}` does not exist")]
    NotFound {
        /// The URI.
        uri: String,
    },
    /// The store failed.
    #[error("`{uri}`: {source}")]
    Store {
        /// The URI.
        uri: String,
        /// The store's error.
        source: object_store::Error,
    },
}

impl StorageError {
    /// Whether trying again could help: a missing object stays missing and an unknown scheme
    /// stays unknown; anything else (the store, its settings from the environment) may be a
    /// hiccup.
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            StorageError::NotFound { .. } | StorageError::Scheme(_)
        )
    }
}

/// What the runner needs of a stored object: all of it at once, read or written.
pub trait Storage {
    /// The whole object.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] when it does not exist, else the store's error.
    fn read(&self) -> impl Future<Output = Result<Bytes, StorageError>> + Send;

    /// Writes the whole object at once, never leaving a partial one, creating parent
    /// directories where the store has them.
    ///
    /// # Errors
    ///
    /// The store's error.
    fn write(&self, bytes: Vec<u8>) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// Where one object lives: an object_store store and the object's path in it.
#[derive(Debug)]
pub struct Location {
    store: std::sync::Arc<dyn ObjectStore>,
    path: StorePath,
    uri: String,
}

impl Location {
    /// Resolves `uri`.
    ///
    /// # Errors
    ///
    /// For a scheme object_store does not know, a bucket URI without a bucket, a URI that is
    /// not a URL, or store settings that do not build a client.
    pub fn parse(uri: &str) -> Result<Self, StorageError> {
        let invalid = |message: String| StorageError::Invalid {
            uri: uri.to_string(),
            message,
        };
        // `file://` is followed by a plain path as Flyte and people write it (possibly relative,
        // never percent-encoded), not by a URL path, so it is read as one.
        if let Some(path) = uri.strip_prefix("file://") {
            if path.contains("://") {
                return Err(StorageError::Scheme(uri.to_string()));
            }
            return Self::local(uri, path);
        }
        if !uri.contains("://") {
            return Self::local(uri, uri);
        }
        let url = Url::parse(uri).map_err(|e| invalid(format!("not a URL: {e}")))?;
        let (scheme, path) = match ObjectStoreScheme::parse(&url) {
            // A fresh in-memory store would forget a write as soon as this location is dropped.
            Ok((ObjectStoreScheme::Memory, _)) => {
                return Err(StorageError::Scheme(uri.to_string()));
            }
            Ok(parsed) => parsed,
            Err(_) if lacks_bucket(&url) => {
                return Err(invalid(format!(
                    "no bucket: expected {}://BUCKET/KEY",
                    url.scheme()
                )));
            }
            Err(_) => return Err(StorageError::Scheme(uri.to_string())),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "a `?` or `#` would end the object's key here; write them as %3F and %23".into(),
            ));
        }
        let (store, _) = object_store::parse_url_opts(&url, store_options(&scheme, &url))
            .map_err(|e| invalid(e.to_string()))?;
        let path = object_path(&url, path).map_err(|e| invalid(e.to_string()))?;
        Ok(Location {
            store: store.into(),
            path,
            uri: uri.to_string(),
        })
    }

    /// The URI it was parsed from.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The object `relative` (a `/`-separated path) under this location as a prefix, in the
    /// same store.
    pub fn child(&self, relative: &str) -> Location {
        let mut path = self.path.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            path = path.child(part);
        }
        Location {
            store: self.store.clone(),
            path,
            uri: Self::join(&self.uri, relative),
        }
    }

    /// The paths, relative to this location as a prefix, of every object under it (a
    /// FlyteDirectory or a StructuredDataset), sorted.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn list(&self) -> Result<Vec<String>, StorageError> {
        use futures_util::StreamExt;
        let mut stream = self.store.list(Some(&self.path));
        let mut found = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|source| StorageError::Store {
                uri: self.uri.clone(),
                source,
            })?;
            if let Some(parts) = meta.location.prefix_match(&self.path) {
                let relative: Vec<String> = parts.map(|p| p.as_ref().to_string()).collect();
                if !relative.is_empty() {
                    found.push(relative.join("/"));
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// Whether an object exists at exactly this location (a HEAD request: nothing is read).
    ///
    /// # Errors
    ///
    /// The store's error other than "not found".
    pub async fn is_object(&self) -> Result<bool, StorageError> {
        match self.store.head(&self.path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(StorageError::Store {
                uri: self.uri.clone(),
                source,
            }),
        }
    }

    /// The local file at `path` (absolute, or relative to the working directory).
    fn local(uri: &str, path: &str) -> Result<Self, StorageError> {
        let invalid = |e: &dyn std::fmt::Display| StorageError::Invalid {
            uri: uri.to_string(),
            message: e.to_string(),
        };
        let absolute = std::path::absolute(path).map_err(|e| invalid(&e))?;
        Ok(Location {
            store: std::sync::Arc::new(LocalFileSystem::new()),
            path: StorePath::from_absolute_path(&absolute).map_err(|e| invalid(&e))?,
            uri: uri.to_string(),
        })
    }

    /// `prefix` joined with a file name (`s3://b/out` + `outputs.pb` → `s3://b/out/outputs.pb`).
    pub fn join(prefix: &str, name: &str) -> String {
        format!("{}/{name}", prefix.trim_end_matches('/'))
    }
}

impl Storage for Location {
    async fn read(&self) -> Result<Bytes, StorageError> {
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

    /// Local writes go through a temporary file and a rename; object store puts are atomic.
    async fn write(&self, bytes: Vec<u8>) -> Result<(), StorageError> {
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

/// Reads the whole object at `uri`, blocking on `runtime`: the runner's use cases are
/// synchronous, and each reads or writes an object at a time.
///
/// # Errors
///
/// As [`Location::parse`] and [`Storage::read`].
pub fn read_blocking(runtime: &Runtime, uri: &str) -> Result<Bytes, StorageError> {
    runtime.block_on(async { Location::parse(uri)?.read().await })
}

/// Writes the whole object at `uri`, blocking on `runtime` (see [`read_blocking`]).
///
/// # Errors
///
/// As [`Location::parse`] and [`Storage::write`].
pub fn write_blocking(runtime: &Runtime, uri: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
    runtime.block_on(async { Location::parse(uri)?.write(bytes).await })
}

/// Whether object_store would know `url` if it named a bucket (`s3:///key` names none), so the
/// error can say what is missing rather than call the scheme unknown.
fn lacks_bucket(url: &Url) -> bool {
    let mut named = url.clone();
    url.host_str().is_none_or(str::is_empty)
        && named.set_host(Some("bucket")).is_ok()
        && ObjectStoreScheme::parse(&named).is_ok()
}

/// The object's path in its store, given the one [`ObjectStoreScheme::parse`] found.
///
/// object_store 0.12's [`ObjectStoreScheme::parse`] drops the first path segment of an `az://`
/// URL while its Azure builder takes the container from the host (fsspec's
/// `az://CONTAINER/KEY`, which object_store follows again after 0.12), so for `az://` the whole
/// URL path is the key.
fn object_path(url: &Url, parsed: StorePath) -> Result<StorePath, object_store::path::Error> {
    if url.scheme() == "az" {
        StorePath::from_url_path(url.path())
    } else {
        Ok(parsed)
    }
}

/// The builder settings of the store `scheme` names, from the environment: what its
/// `from_env` builder would read, and for S3 the variables Flyte sets.
fn store_options(scheme: &ObjectStoreScheme, url: &Url) -> Vec<(String, String)> {
    match scheme {
        ObjectStoreScheme::AmazonS3 => s3_options(),
        ObjectStoreScheme::GoogleCloudStorage => {
            let account = std::env::var("SERVICE_ACCOUNT").ok();
            let account = account.map(|path| ("google_service_account".to_string(), path));
            account.into_iter().chain(env_options("GOOGLE_")).collect()
        }
        ObjectStoreScheme::MicrosoftAzure => {
            let mut options = env_options("AZURE_");
            if let Ok(endpoint) = std::env::var("IDENTITY_ENDPOINT") {
                options.push(("azure_msi_endpoint".into(), endpoint));
            }
            options
        }
        // The URI says `http://`, so plain HTTP is what was asked for.
        ObjectStoreScheme::Http => {
            vec![("allow_http".into(), (url.scheme() == "http").to_string())]
        }
        _ => Vec::new(),
    }
}

/// `AWS_*` as `AmazonS3Builder::from_env` reads them, then Flyte's variables over them.
fn s3_options() -> Vec<(String, String)> {
    let mut options = env_options("AWS_");
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(endpoint) = var("FLYTE_AWS_ENDPOINT").or_else(|| var("AWS_ENDPOINT_URL")) {
        options.push((
            "aws_allow_http".into(),
            endpoint.starts_with("http://").to_string(),
        ));
        options.push(("aws_endpoint".into(), endpoint));
        options.push(("aws_virtual_hosted_style_request".into(), "false".into()));
    }
    if let Some(key) = var("FLYTE_AWS_ACCESS_KEY_ID") {
        options.push(("aws_access_key_id".into(), key));
    }
    if let Some(secret) = var("FLYTE_AWS_SECRET_ACCESS_KEY") {
        options.push(("aws_secret_access_key".into(), secret));
    }
    if var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .is_none()
    {
        options.push(("aws_region".into(), "us-east-1".into()));
    }
    options
}

/// The variables named `PREFIX…`, keyed in lower case as the `from_env` builders key them
/// (names or values that are not UTF-8 are skipped, as there).
fn env_options(prefix: &str) -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(key, _)| key.starts_with(prefix))
        .map(|(key, value)| (key.to_ascii_lowercase(), value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(uri: &str) -> String {
        Location::parse(uri)
            .unwrap_or_else(|e| panic!("{uri}: {e}"))
            .path
            .to_string()
    }

    #[test]
    fn object_store_urls_resolve_to_their_keys() {
        assert_eq!(path_of("s3://bucket/runs/1/inputs.pb"), "runs/1/inputs.pb");
        assert_eq!(path_of("s3://bucket"), "");
        assert_eq!(path_of("gs://bucket/runs/1/inputs.pb"), "runs/1/inputs.pb");
        assert_eq!(path_of("http://127.0.0.1:9/files/a.wasm"), "files/a.wasm");
        assert_eq!(path_of("https://example.com/files/a.wasm"), "files/a.wasm");
        assert_eq!(path_of("s3://bucket/with%20space"), "with space");
    }

    #[test]
    fn az_urls_keep_the_whole_path_as_the_key() {
        for uri in [
            "az://container/runs/1/inputs.pb",
            "abfs://container@account.dfs.core.windows.net/runs/1/inputs.pb",
        ] {
            let url = Url::parse(uri).unwrap();
            let (scheme, parsed) = ObjectStoreScheme::parse(&url).unwrap();
            assert_eq!(scheme, ObjectStoreScheme::MicrosoftAzure);
            assert_eq!(
                object_path(&url, parsed).unwrap().as_ref(),
                "runs/1/inputs.pb",
                "{uri}"
            );
        }
    }

    #[test]
    fn unusable_uris_say_why() {
        for uri in ["ftp://host/file", "memory:///x", "file://s3://bucket/key"] {
            let e = Location::parse(uri).unwrap_err();
            assert!(matches!(e, StorageError::Scheme(_)), "{uri}: {e}");
            assert!(!e.is_transient());
            assert!(e.to_string().contains("gs://BUCKET/KEY"), "{e}");
        }
        let e = Location::parse("s3:///key").unwrap_err();
        assert!(e.to_string().contains("no bucket"), "{e}");
        let e = Location::parse("s3://bucket/a?b").unwrap_err();
        assert!(e.to_string().contains("%3F"), "{e}");
    }

    #[test]
    fn local_paths_stay_local_paths() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub dir/a.pb");
        for uri in [
            file.display().to_string(),
            format!("file://{}", file.display()),
        ] {
            assert_eq!(
                Location::parse(&uri).unwrap().path,
                StorePath::from_absolute_path(&file).unwrap()
            );
        }
    }

    #[tokio::test]
    async fn local_files_round_trip_and_a_missing_one_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("file://{}", dir.path().join("out/outputs.pb").display());
        let location = Location::parse(&uri).unwrap();
        let e = location.read().await.unwrap_err();
        assert!(matches!(e, StorageError::NotFound { .. }), "{e}");
        assert!(!e.is_transient());
        location.write(b"bytes".to_vec()).await.unwrap();
        assert_eq!(location.read().await.unwrap(), Bytes::from_static(b"bytes"));
    }
}
