//! A multi-arch image index: one tag, one manifest per platform, each platform read from the
//! image's own config.

use super::error::{Error, Result};
use super::registry::{Registry, parse_ref, registry_error};
use super::spec::{
    self, DOCKER_MANIFEST, Descriptor, INDEX, ImageConfig, Index, MANIFEST, Manifest, Platform,
};
use oci_client::Reference;

impl Registry {
    /// Pushes an OCI image index to `reference` listing the images `from` (same registry);
    /// images of other repositories are brought in by mount or copy first. Returns the index
    /// digest.
    pub async fn push_index(&self, reference: &str, from: &[String]) -> Result<String> {
        let target = parse_ref(reference)?;
        self.login(&target).await?;
        let mut manifests: Vec<Descriptor> = Vec::new();
        for src in from {
            let source = parse_ref(src)?;
            if source.resolve_registry() != target.resolve_registry() {
                return Err(Error::invalid(
                    src,
                    format!("not in the registry of {reference}; push it there first"),
                ));
            }
            let desc = self.bring_in(&target, &source).await?;
            if let Some(dup) = manifests.iter().find(|m| m.platform == desc.platform) {
                return Err(Error::invalid(
                    src,
                    format!("same platform as {} already in the index", dup.digest),
                ));
            }
            manifests.push(desc);
        }
        let index = Index {
            schema_version: 2,
            media_type: Some(INDEX.into()),
            manifests,
            annotations: None,
        };
        let bytes = super::oci::to_json(&index)?;
        self.push_manifest(&target, &bytes, INDEX).await
    }

    /// Reads the image `source` and makes it available in the repository of `target`;
    /// returns its descriptor with the platform of its config.
    async fn bring_in(&self, target: &Reference, source: &Reference) -> Result<Descriptor> {
        let auth = self.auth_for(source)?;
        let accepted = [MANIFEST, DOCKER_MANIFEST];
        let (bytes, digest) = self
            .retry(source, "pull manifest", || {
                self.mono.pull_manifest_raw(source, &auth, &accepted)
            })
            .await?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(source.whole(), format!("not an image manifest: {e}")))?;
        let config_digest = manifest.config.digest.as_str();
        let config_bytes = self
            .retry(source, "pull config", || async {
                let mut out = Vec::new();
                self.mono.pull_blob(source, config_digest, &mut out).await?;
                Ok(out)
            })
            .await?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| Error::invalid(&manifest.config.digest, e.to_string()))?;
        if source.repository() != target.repository() {
            let mut blobs = vec![manifest.config.clone()];
            blobs.extend(manifest.layers.iter().cloned());
            for blob in &blobs {
                self.copy_blob(target, source, blob).await?;
            }
            let by_digest = Reference::with_digest(
                target.registry().to_string(),
                target.repository().to_string(),
                digest.clone(),
            );
            let media_type = manifest.media_type.as_deref().unwrap_or(MANIFEST);
            self.push_manifest(&by_digest, &bytes, media_type).await?;
        }
        Ok(Descriptor {
            media_type: manifest.media_type.unwrap_or_else(|| MANIFEST.into()),
            size: bytes.len() as u64,
            artifact_type: None,
            digest: spec::sha256_digest(&bytes),
            platform: Some(Platform {
                architecture: config.architecture,
                os: config.os,
                variant: config.variant,
            }),
            annotations: None,
        })
    }

    /// Makes `blob` of `source` present in `target`'s repository: mount, else pull and push.
    async fn copy_blob(
        &self,
        target: &Reference,
        source: &Reference,
        blob: &Descriptor,
    ) -> Result<()> {
        if self.exists(target, &blob.digest).await?
            || self.mount(target, source.repository(), &blob.digest).await
        {
            return Ok(());
        }
        let dir = tempfile_dir()?;
        let path = dir.join("blob");
        self.retry(source, &format!("pull blob {}", blob.digest), || async {
            let file = tokio::fs::File::create(&path).await?;
            self.chunked
                .pull_blob(source, blob.digest.as_str(), file)
                .await
        })
        .await?;
        let result = self.upload(target, &path, &blob.digest, blob.size).await;
        let _ = std::fs::remove_dir_all(&dir);
        result.map_err(|e| match e {
            Error::Registry { message, .. } => {
                registry_error(target, format!("copy blob {}", blob.digest), message)
            }
            other => other,
        })
    }
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "zentoo-copy-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
    Ok(dir)
}
