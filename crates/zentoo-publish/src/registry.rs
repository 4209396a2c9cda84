//! Pushing to an OCI registry through `oci-client`, filling its gaps: blob existence checks,
//! cross-repository mounts that fall back to an upload when declined, monolithic or chunked
//! uploads streamed from the layout, retries with backoff, and the manifest pushed only after
//! every blob is confirmed present — never a half-published tag.

use super::auth;
use super::error::{Error, Result};
use super::layout::Layout;
use super::spec::{self, Descriptor, Manifest};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How blobs are uploaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UploadMode {
    /// Monolithic up to [`MONOLITHIC_MAX`], chunked above.
    #[default]
    Auto,
    /// One `PUT` with the whole blob.
    Monolithic,
    /// `PATCH` chunks of 4 MiB, then a closing `PUT`.
    Chunked,
}

/// Largest blob [`UploadMode::Auto`] uploads in one request.
pub const MONOLITHIC_MAX: u64 = 32 << 20;

/// Blobs pushed at a time.
const PARALLEL_BLOBS: usize = 4;

/// What one push sent: layers in the image, and which of them the registry did not have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushStats {
    /// Layers of the image.
    pub layers: u32,
    /// Layers uploaded (the registry had the rest, or mounted them).
    pub layers_uploaded: u32,
    /// Layers mounted from another repository.
    pub layers_mounted: u32,
    /// Bytes uploaded: layers, config and manifest.
    pub bytes_uploaded: u64,
}

/// How a blob got into the repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlobPushed {
    Present,
    Mounted,
    Uploaded,
}

/// How to reach registries.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// `user`, `password`; when `None`, the docker config ([`Self::authfile`] or the default).
    pub creds: Option<(String, String)>,
    /// A docker `config.json`.
    pub authfile: Option<PathBuf>,
    /// Extra CA certificate (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Registries (`host:port`) reached over plain HTTP.
    pub insecure: Vec<String>,
    /// Attempts after the first for each request that can be retried.
    pub retries: u32,
    /// First backoff; doubled after each failure, at most 10 s.
    pub backoff: Duration,
    /// How blobs are uploaded.
    pub upload: UploadMode,
    /// A repository of the same registry to mount blobs from before uploading them.
    pub mount_from: Option<String>,
    /// Sign what is pushed (the image, its SBOM and provenance) with this key: an ECDSA
    /// P-256 PKCS#8 PEM file, read only when pushing.
    pub sign_key: Option<PathBuf>,
    /// Sign the `.DIGESTS` of stage and kernel tarballs with this OpenPGP secret key (armored,
    /// no passphrase), as `<tarball>.DIGESTS.asc`; it travels with `sign_key`, the other key
    /// of a publish.
    pub digests_key: Option<PathBuf>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            creds: None,
            authfile: None,
            ca_file: None,
            insecure: Vec::new(),
            retries: 4,
            backoff: Duration::from_millis(500),
            upload: UploadMode::Auto,
            mount_from: None,
            sign_key: None,
            digests_key: None,
        }
    }
}

/// A registry client: one for monolithic and one for chunked uploads (oci-client chooses per
/// client), sharing the configuration.
pub struct Registry {
    pub(crate) mono: Client,
    pub(crate) chunked: Client,
    pub(crate) config: RegistryConfig,
}

/// Installs ring as the process-wide rustls provider (kube uses ring too); idempotent.
/// rustls 0.23.48 deprecates it for lacking post-quantum key exchange; ring stays because it
/// builds the static musl binary without a C toolchain, and registry pushes need no PQ.
#[allow(deprecated)]
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Registry {
    /// A client for `config`.
    pub fn new(config: RegistryConfig) -> Result<Self> {
        install_crypto_provider();
        let mut certs = Vec::new();
        if let Some(path) = &config.ca_file {
            let data = std::fs::read(path).map_err(|e| Error::read(path, "CA file", e))?;
            certs.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        // `Client::try_from`, not `Client::new`: on a TLS set-up failure `new` falls back to a
        // default client (dropping the CA and plain-HTTP settings) whose construction panics.
        let client = |monolithic: bool| {
            Client::try_from(ClientConfig {
                protocol: if config.insecure.is_empty() {
                    ClientProtocol::Https
                } else {
                    ClientProtocol::HttpsExcept(config.insecure.clone())
                },
                extra_root_certificates: certs.clone(),
                use_monolithic_push: monolithic,
                connect_timeout: Some(Duration::from_secs(15)),
                read_timeout: Some(Duration::from_secs(300)),
                ..ClientConfig::default()
            })
            .map_err(|e| Error::invalid("registry client", format!("cannot set up: {}", chain(&e))))
        };
        Ok(Registry {
            mono: client(true)?,
            chunked: client(false)?,
            config,
        })
    }

    /// Credentials for the registry of `reference`.
    pub(crate) fn auth_for(&self, reference: &Reference) -> Result<RegistryAuth> {
        if let Some((user, password)) = &self.config.creds {
            return Ok(RegistryAuth::Basic(user.clone(), password.clone()));
        }
        match self.config.authfile.clone().or_else(auth::default_authfile) {
            Some(path) => auth::from_authfile(&path, reference.resolve_registry()),
            None => Ok(RegistryAuth::Anonymous),
        }
    }

    /// Authenticates both clients for pushing to `reference`.
    pub(crate) async fn login(&self, reference: &Reference) -> Result<()> {
        let auth = self.auth_for(reference)?;
        for client in [&self.mono, &self.chunked] {
            self.retry(reference, "auth", || {
                client.auth(reference, &auth, RegistryOperation::Push)
            })
            .await?;
        }
        Ok(())
    }

    /// Pushes the image named `ref_name` in `layout` to `reference`; returns its manifest digest.
    pub async fn push_layout(
        &self,
        layout: &Layout,
        ref_name: Option<&str>,
        reference: &str,
    ) -> Result<String> {
        Ok(self
            .push_layout_counted(layout, ref_name, reference)
            .await?
            .0)
    }

    /// [`Registry::push_layout`], also counting what went over the wire: blobs the registry
    /// had are skipped, a few blobs go up at a time, and the tag moves last.
    pub async fn push_layout_counted(
        &self,
        layout: &Layout,
        ref_name: Option<&str>,
        reference: &str,
    ) -> Result<(String, PushStats)> {
        let target = parse_ref(reference)?;
        let desc = layout.resolve(ref_name)?;
        let bytes = layout.read_blob(&desc.digest)?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(&desc.digest, e.to_string()))?;
        self.login(&target).await?;
        let mut blobs = vec![manifest.config.clone()];
        blobs.extend(manifest.layers.iter().cloned());
        let to = &target;
        let outcomes: Vec<Result<BlobPushed>> = futures::stream::iter(blobs.iter().cloned())
            .map(|blob| async move { self.ensure_blob(to, layout, &blob).await })
            .buffered(PARALLEL_BLOBS)
            .collect()
            .await;
        let mut stats = PushStats {
            layers: manifest.layers.len() as u32,
            ..PushStats::default()
        };
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let outcome = outcome?;
            let is_layer = i > 0;
            match outcome {
                BlobPushed::Present => {}
                BlobPushed::Mounted => stats.layers_mounted += u32::from(is_layer),
                BlobPushed::Uploaded => {
                    stats.layers_uploaded += u32::from(is_layer);
                    stats.bytes_uploaded += blobs[i].size;
                }
            }
        }
        // Every blob must be there before the tag moves.
        for blob in &blobs {
            if !self.exists(&target, &blob.digest).await? {
                return Err(registry_error(
                    &target,
                    format!("push blob {}", blob.digest),
                    "blob missing after upload; manifest not pushed",
                ));
            }
        }
        let digest = self.push_manifest(&target, &bytes, spec::MANIFEST).await?;
        stats.bytes_uploaded += bytes.len() as u64;
        Ok((digest, stats))
    }

    /// Pushes raw manifest `bytes` of `media_type` to `target`; returns their digest.
    pub(crate) async fn push_manifest(
        &self,
        target: &Reference,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<String> {
        let content_type = http::HeaderValue::from_str(media_type)
            .map_err(|_| Error::invalid(media_type, "not a header value"))?;
        let body = Bytes::copy_from_slice(bytes);
        self.retry(target, "push manifest", || {
            self.mono
                .push_manifest_raw(target, body.clone(), content_type.clone())
        })
        .await?;
        Ok(spec::sha256_digest(bytes))
    }

    /// Whether `digest` is in the repository of `target`.
    pub(crate) async fn exists(&self, target: &Reference, digest: &str) -> Result<bool> {
        self.retry(target, &format!("check blob {digest}"), || {
            self.mono.blob_exists(target, digest)
        })
        .await
    }

    /// Makes sure `blob` is in the repository of `target`: present, mounted, or uploaded.
    async fn ensure_blob(
        &self,
        target: &Reference,
        layout: &Layout,
        blob: &Descriptor,
    ) -> Result<BlobPushed> {
        if self.exists(target, &blob.digest).await? {
            tracing::debug!(digest = %blob.digest, "blob already present");
            return Ok(BlobPushed::Present);
        }
        if let Some(from) = &self.config.mount_from
            && self.mount(target, from, &blob.digest).await
        {
            return Ok(BlobPushed::Mounted);
        }
        let path = layout.blob_path(&blob.digest)?;
        self.upload(target, &path, &blob.digest, blob.size).await?;
        Ok(BlobPushed::Uploaded)
    }

    /// Tries a cross-repository mount from repository `from`; false when declined or failed
    /// (the caller uploads instead).
    pub(crate) async fn mount(&self, target: &Reference, from: &str, digest: &str) -> bool {
        let source = Reference::with_tag(
            target.registry().to_string(),
            from.to_string(),
            "latest".into(),
        );
        match self.mono.mount_blob(target, &source, digest).await {
            Ok(()) => true,
            Err(e) => {
                tracing::info!(%digest, from, error = %chain(&e), "mount declined; uploading");
                false
            }
        }
    }

    /// Uploads the file at `path` as blob `digest`, restarting from the beginning on failure.
    pub(crate) async fn upload(
        &self,
        target: &Reference,
        path: &Path,
        digest: &str,
        size: u64,
    ) -> Result<()> {
        let monolithic = match self.config.upload {
            UploadMode::Auto => size <= MONOLITHIC_MAX,
            UploadMode::Monolithic => true,
            UploadMode::Chunked => false,
        };
        let client = if monolithic {
            &self.mono
        } else {
            &self.chunked
        };
        self.retry(target, &format!("push blob {digest}"), || async move {
            let stream = file_stream(path.to_path_buf()).await?;
            client
                .push_blob_stream(target, stream, digest, Some(size))
                .await
        })
        .await
        .map(|_| ())
    }

    /// Runs `op` until it succeeds, it fails for good, or the retries are spent.
    pub(crate) async fn retry<T, F, Fut>(
        &self,
        target: &Reference,
        what: &str,
        mut op: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
    {
        let mut delay = self.config.backoff;
        let mut attempt = 0;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < self.config.retries && retryable(&e) => {
                    attempt += 1;
                    tracing::warn!(what, attempt, error = %chain(&e), "retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(e) => {
                    let tries = if attempt > 0 {
                        format!(" (after {} attempts)", attempt + 1)
                    } else {
                        String::new()
                    };
                    return Err(registry_error(
                        target,
                        what,
                        format!("{}{tries}", chain(&e)),
                    ));
                }
            }
        }
    }
}

/// Errors worth another try: transport failures and server errors, not refusals.
fn retryable(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::UrlParseError(_)
        | OciDistributionError::ManifestParsingError(_)
        | OciDistributionError::UnsupportedMediaTypeError(_) => false,
        OciDistributionError::ServerError { code, .. } => {
            *code >= 500 || *code == 429 || *code == 408
        }
        OciDistributionError::RequestError(r) => r
            .status()
            .is_none_or(|s| s.is_server_error() || s.as_u16() == 429),
        _ => true,
    }
}

/// An error and its causes on one line.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

pub(crate) fn registry_error(
    target: &Reference,
    operation: impl Into<String>,
    message: impl Into<String>,
) -> Error {
    Error::Registry {
        registry: format!("{}/{}", target.registry(), target.repository()),
        operation: operation.into(),
        message: message.into(),
    }
}

/// Parses an image reference.
pub fn parse_ref(reference: &str) -> Result<Reference> {
    reference
        .parse()
        .map_err(|e: oci_client::ParseError| Error::invalid(reference, e.to_string()))
}

/// The file at `path` as a stream of 1 MiB chunks.
async fn file_stream(
    path: PathBuf,
) -> Result<
    impl Stream<Item = Result<Bytes, OciDistributionError>> + Send + 'static,
    OciDistributionError,
> {
    let file = tokio::fs::File::open(&path).await?;
    Ok(futures::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 1 << 20];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), file)))
    }))
}
