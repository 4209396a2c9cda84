//! Sending what [`crate::attach`] packed beside an image: the SBOM and provenance as OCI
//! referrers (plus the referrers tag schema's `sha256-<hex>` index when the registry has no
//! referrers API, and cosign's `sha256-<hex>.sbom` tag), and with a key cosign's signature
//! (`.sig`) and attestations (`.att`) tags. A signature by another key already there is kept;
//! this key's earlier one is replaced.

use crate::attach::{self, Attached, SBOM_REF, descriptor};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::registry::{Registry, parse_ref, registry_error};
use crate::sbom::Format;
use crate::sign::{self, SigningKey};
use crate::spec::{self, Descriptor, Index, Manifest};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use oci_client::Reference;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use std::collections::BTreeMap;

/// What was sent beside an image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// Referrer manifests pushed (SBOM, provenance).
    pub referrers: Vec<String>,
    /// The referrers API answered for them; else the `sha256-<hex>` index tag was written.
    pub referrers_api: bool,
    /// The `.sig` manifest digest, when signed.
    pub signature: Option<String>,
    /// The `.att` manifest digest, when signed.
    pub attestations: Option<String>,
}

/// `host/repo` of a reference: what cosign's payload names and statements' subjects carry.
pub fn repository(target: &Reference) -> String {
    format!("{}/{}", target.registry(), target.repository())
}

/// A reference to `tag` in the repository of `target`.
fn tagged(target: &Reference, tag: &str) -> Result<Reference> {
    parse_ref(&format!("{}:{tag}", repository(target)))
}

/// A reference to `digest` in the repository of `target`.
fn by_digest(target: &Reference, digest: &str) -> Result<Reference> {
    parse_ref(&format!("{}@{digest}", repository(target)))
}

/// `sha256-<hex>`: the tag cosign and the referrers tag schema derive from a digest.
pub fn digest_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

impl Registry {
    /// Sends the attachments packed into `layout` for the image `image_digest` being pushed to
    /// `reference`, and signs with `key`. Everything here goes before the image tag moves.
    pub async fn push_attachments(
        &self,
        layout: &Layout,
        reference: &str,
        image_digest: &str,
        key: Option<&SigningKey>,
    ) -> Result<Sent> {
        let target = parse_ref(reference)?;
        self.login(&target).await?;
        let attached = attach::attached(layout)?;
        let mut sent = Sent::default();
        for a in &attached {
            let to = by_digest(&target, &a.manifest.digest)?;
            self.push_layout(layout, Some(a.ref_name), &to.whole())
                .await?;
            if a.ref_name == SBOM_REF {
                let bytes = layout.read_blob(&a.manifest.digest)?;
                let tag = tagged(&target, &format!("{}.sbom", digest_tag(image_digest)))?;
                self.push_manifest(&tag, &bytes, spec::MANIFEST).await?;
            }
            sent.referrers.push(a.manifest.digest.clone());
        }
        if !attached.is_empty() {
            sent.referrers_api = self
                .index_referrers(&target, image_digest, &attached)
                .await?;
        }
        if let Some(key) = key {
            let name = repository(&target);
            let scratch = tempfile::tempdir().map_err(|e| Error::write(std::env::temp_dir(), e))?;
            sent.signature = Some(self.sign_manifest(&target, image_digest, key).await?);
            if !attached.is_empty() {
                let mut layers = Vec::new();
                for a in &attached {
                    let (predicate_type, statement) = a.statement(&name, image_digest)?;
                    layers.push(Signed {
                        media_type: sign::DSSE,
                        content: sign::dsse_envelope(key, &statement)?,
                        // cosign wants the signature annotation on every layer; an
                        // envelope carries its signature inside, so it is empty here.
                        annotations: BTreeMap::from([
                            (sign::PREDICATE_ANNOTATION.to_string(), predicate_type),
                            (sign::SIGNATURE_ANNOTATION.to_string(), String::new()),
                        ]),
                    });
                }
                sent.attestations = Some(
                    self.push_signed(&target, image_digest, "att", key, layers, scratch.path())
                        .await?,
                );
            }
        }
        Ok(sent)
    }

    /// Signs the manifest `digest` in the repository of `target` with `key` as cosign does
    /// (simple signing, the `sha256-<hex>.sig` tag); returns the signature manifest's digest.
    pub async fn sign_manifest(
        &self,
        target: &Reference,
        digest: &str,
        key: &SigningKey,
    ) -> Result<String> {
        self.login(target).await?;
        let scratch = tempfile::tempdir().map_err(|e| Error::write(std::env::temp_dir(), e))?;
        let payload = sign::simple_signing_payload(&repository(target), digest);
        let signature = key.sign(&payload)?;
        let layer = Signed {
            media_type: sign::SIMPLE_SIGNING,
            content: payload,
            annotations: BTreeMap::from([(
                sign::SIGNATURE_ANNOTATION.to_string(),
                B64.encode(signature),
            )]),
        };
        self.push_signed(target, digest, "sig", key, vec![layer], scratch.path())
            .await
    }

    /// Makes the referrers of `image_digest` list `attached`: true when the registry's
    /// referrers API already does (it indexes manifests with a `subject` itself); else the
    /// referrers tag schema's index (`sha256-<hex>`) gets them added to what it listed.
    async fn index_referrers(
        &self,
        target: &Reference,
        image_digest: &str,
        attached: &[Attached],
    ) -> Result<bool> {
        let subject = by_digest(target, image_digest)?;
        let listed = self
            .retry(target, "list referrers", || {
                self.mono.pull_referrers(&subject, None)
            })
            .await?;
        let listed: Index = serde_json::to_value(&listed)
            .and_then(serde_json::from_value)
            .map_err(|e| registry_error(target, "list referrers", e.to_string()))?;
        let has = |digest: &str| listed.manifests.iter().any(|m| m.digest == digest);
        if attached.iter().all(|a| has(&a.manifest.digest)) {
            return Ok(true);
        }
        let mut index = Index {
            schema_version: 2,
            media_type: Some(spec::INDEX.into()),
            manifests: listed.manifests.clone(),
            annotations: None,
        };
        for a in attached {
            if !has(&a.manifest.digest) {
                let mut entry = descriptor(
                    spec::MANIFEST,
                    a.manifest.digest.clone(),
                    a.manifest.size,
                    Some(a.annotations.clone()),
                );
                entry.artifact_type = Some(a.artifact_type.clone());
                index.manifests.push(entry);
            }
        }
        let bytes = serde_json::to_vec(&index)
            .map_err(|e| registry_error(target, "encode the referrers index", e.to_string()))?;
        let tag = tagged(target, &digest_tag(image_digest))?;
        self.push_manifest(&tag, &bytes, spec::INDEX).await?;
        Ok(false)
    }

    /// Writes cosign's `sha256-<hex>.<suffix>` manifest: the layers already there that another
    /// key signed (or that carry another predicate), then `layers`, each marked with `key`.
    async fn push_signed(
        &self,
        target: &Reference,
        image_digest: &str,
        suffix: &str,
        key: &SigningKey,
        layers: Vec<Signed>,
        scratch: &std::path::Path,
    ) -> Result<String> {
        let tag = tagged(target, &format!("{}.{suffix}", digest_tag(image_digest)))?;
        let key_id = key.key_id();
        let replaced = |d: &Descriptor| {
            let notes = d.annotations.as_ref();
            let mine = notes.and_then(|a| a.get(sign::KEY_ANNOTATION)) == Some(&key_id);
            let predicate = notes.and_then(|a| a.get(sign::PREDICATE_ANNOTATION));
            mine && (suffix == "sig"
                || layers
                    .iter()
                    .any(|l| l.annotations.get(sign::PREDICATE_ANNOTATION) == predicate))
        };
        let mut descriptors: Vec<Descriptor> = self
            .existing_manifest(&tag)
            .await?
            .map(|m| m.layers.into_iter().filter(|d| !replaced(d)).collect())
            .unwrap_or_default();
        let layout = Layout::create(&scratch.join(suffix))?;
        for layer in layers {
            let (digest, size) = layout.write_blob(&layer.content)?;
            let mut annotations = layer.annotations;
            annotations.insert(sign::KEY_ANNOTATION.into(), key_id.clone());
            descriptors.push(descriptor(
                layer.media_type,
                digest,
                size,
                Some(annotations),
            ));
        }
        // cosign's config: an image config whose layers are the signatures.
        let config = serde_json::json!({
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {
                "type": "layers",
                "diff_ids": descriptors.iter().map(|d| d.digest.clone()).collect::<Vec<_>>(),
            },
        });
        let config_bytes = serde_json::to_vec(&config).unwrap_or_default();
        let (config_digest, config_size) = layout.write_blob(&config_bytes)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(spec::MANIFEST.into()),
            artifact_type: None,
            config: descriptor(spec::CONFIG, config_digest, config_size, None),
            layers: descriptors,
            subject: None,
            annotations: None,
        };
        let bytes = serde_json::to_vec(&manifest)
            .map_err(|e| registry_error(target, "encode the signature", e.to_string()))?;
        let (digest, size) = layout.write_blob(&bytes)?;
        layout.add_manifest(
            &descriptor(spec::MANIFEST, digest, size, None),
            Some(suffix),
        )?;
        self.push_layout(&layout, Some(suffix), &tag.whole()).await
    }

    /// The SBOM attached to the image at `reference` (for an index, its `arch` manifest): the
    /// image digest and the document, found through the referrers API or its tag fallback.
    pub async fn attached_sbom(&self, reference: &str, arch: &str) -> Result<(String, Vec<u8>)> {
        let target = parse_ref(reference)?;
        let auth = self.auth_for(&target)?;
        let (bytes, mut digest) = self
            .retry(&target, "read the image", || {
                self.mono
                    .pull_manifest_raw(&target, &auth, &[spec::MANIFEST, spec::INDEX])
            })
            .await?;
        if let Ok(index) = serde_json::from_slice::<Index>(&bytes)
            && index.media_type.as_deref() == Some(spec::INDEX)
        {
            digest = index
                .manifests
                .iter()
                .find(|m| m.platform.as_ref().is_some_and(|p| p.architecture == arch))
                .map(|m| m.digest.clone())
                .ok_or_else(|| {
                    registry_error(
                        &target,
                        "read the image",
                        format!("the index has no {arch} image"),
                    )
                })?;
        }
        let subject = by_digest(&target, &digest)?;
        let listed = self
            .retry(&target, "list referrers", || {
                self.mono.pull_referrers(&subject, None)
            })
            .await?;
        let listed: Index = serde_json::to_value(&listed)
            .and_then(serde_json::from_value)
            .map_err(|e| registry_error(&target, "list referrers", e.to_string()))?;
        let sboms = [Format::Spdx.media_type(), Format::CycloneDx.media_type()];
        let found = listed
            .manifests
            .iter()
            .find(|m| {
                m.artifact_type
                    .as_deref()
                    .is_some_and(|t| sboms.contains(&t))
            })
            .ok_or_else(|| {
                registry_error(
                    &target,
                    "find the SBOM",
                    format!("{digest} has no SBOM attached"),
                )
            })?;
        let artifact = by_digest(&target, &found.digest)?;
        let (bytes, _) = self
            .retry(&target, "read the SBOM manifest", || {
                self.mono
                    .pull_manifest_raw(&artifact, &auth, &[spec::MANIFEST])
            })
            .await?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| registry_error(&target, "read the SBOM manifest", e.to_string()))?;
        let layer = manifest.layers.first().ok_or_else(|| {
            registry_error(&target, "read the SBOM manifest", "no layer".to_string())
        })?;
        let mut document = Vec::new();
        self.mono
            .pull_blob(&artifact, layer.digest.as_str(), &mut document)
            .await
            .map_err(|e| registry_error(&target, "read the SBOM", e.to_string()))?;
        Ok((digest, document))
    }

    /// The image manifest at `tag`, `None` when the registry has none there.
    async fn existing_manifest(&self, tag: &Reference) -> Result<Option<Manifest>> {
        let auth = self.auth_for(tag)?;
        let pulled = self
            .mono
            .pull_manifest_raw(tag, &auth, &[spec::MANIFEST])
            .await;
        match pulled {
            Ok((bytes, _)) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| registry_error(tag, "read the signatures", e.to_string())),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(registry_error(tag, "read the signatures", e.to_string())),
        }
    }
}

/// A layer to sign in: its content, media type and annotations.
struct Signed {
    media_type: &'static str,
    content: Vec<u8>,
    annotations: BTreeMap<String, String>,
}

/// The registry has no manifest there.
fn not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NotFound | OciErrorCode::NameUnknown
            )
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_tags_are_cosigns() {
        assert_eq!(digest_tag("sha256:abc"), "sha256-abc");
    }
}
