//! A root directory → a one-layer OCI image in an OCI layout: layer, config and manifest,
//! streamed in one pass and bit-for-bit reproducible.

use super::compress::{Compression, HashWriter};
use super::error::{Error, Result};
use super::layout::Layout;
use super::pipe::compress_pipelined;
use super::spec::{
    self, CONFIG, Descriptor, History, ImageConfig, MANIFEST, Manifest, Platform, RootFs, RunConfig,
};
use super::tar::{Archived, TarOptions, TarStats, write_tree};
use super::time::rfc3339;
use std::collections::BTreeMap;
use std::path::Path;
use zentoo_core::site::url::redact_url;

/// Annotation: where the image's configuration comes from.
pub const SOURCE: &str = "org.opencontainers.image.source";
/// Annotation: the revision of the source.
pub const REVISION: &str = "org.opencontainers.image.revision";
/// Annotation: when (SOURCE_DATE_EPOCH).
pub const CREATED: &str = "org.opencontainers.image.created";
/// Annotation: zentoo's inputs digest of the image.
pub const INPUTS_DIGEST: &str = "dev.zentoo.inputs-digest";
/// Annotation: the tuple the image is built from.
pub const TUPLE: &str = "dev.zentoo.tuple";

/// The default `PATH` of an image.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How to make an image from a root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageOptions {
    /// OCI architecture (`amd64`, `arm64`, ...).
    pub architecture: String,
    /// CPU variant (`v8` for arm64 by default).
    pub variant: Option<String>,
    /// Layer compression (gzip or zstd).
    pub compression: Compression,
    /// The build time: mtimes are clamped to it and `created` is it.
    pub source_date_epoch: i64,
    /// `NAME=value` environment; [`DEFAULT_PATH`] when empty.
    pub env: Vec<String>,
    /// Entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Default command.
    pub cmd: Option<Vec<String>>,
    /// User (`uid[:gid]` or a name) processes run as; root when `None`.
    pub user: Option<String>,
    /// Config labels.
    pub labels: BTreeMap<String, String>,
    /// Manifest annotations ([`SOURCE`], [`REVISION`], [`INPUTS_DIGEST`], [`TUPLE`], ...);
    /// [`CREATED`] is added from `source_date_epoch`.
    pub annotations: BTreeMap<String, String>,
    /// Name of the manifest in the layout's `index.json` (`org.opencontainers.image.ref.name`).
    pub ref_name: Option<String>,
}

impl ImageOptions {
    /// Defaults for `architecture` at `source_date_epoch`: zstd, arm64 variant `v8`.
    pub fn new(architecture: &str, source_date_epoch: i64) -> Self {
        ImageOptions {
            architecture: architecture.into(),
            variant: (architecture == "arm64").then(|| "v8".into()),
            compression: Compression::Zstd,
            source_date_epoch,
            env: Vec::new(),
            entrypoint: None,
            cmd: None,
            user: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            ref_name: None,
        }
    }

    /// The platform these options describe.
    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: "linux".into(),
            variant: self.variant.clone(),
        }
    }
}

/// An image written to an OCI layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltImage {
    /// The manifest's descriptor (with platform), as recorded in `index.json`.
    pub manifest: Descriptor,
    /// The manifest's exact bytes (its digest is `manifest.digest`).
    pub manifest_bytes: Vec<u8>,
    /// The config blob.
    pub config: Descriptor,
    /// The layer blob.
    pub layer: Descriptor,
    /// sha256 of the uncompressed layer.
    pub diff_id: String,
    /// Size of the uncompressed layer.
    pub diff_size: u64,
    /// Entries and content bytes packed.
    pub stats: TarStats,
}

/// Packs `root` into a one-layer image in `layout` (see [`build_image_with`]).
pub fn build_image(root: &Path, layout: &Layout, opts: &ImageOptions) -> Result<BuiltImage> {
    build_image_with(root, layout, opts, |_| {})
}

/// Packs `root` into a one-layer image in `layout`, calling `observe` after each entry.
/// Memory stays bounded whatever the root's size: tar, digests and compression stream.
pub fn build_image_with(
    root: &Path,
    layout: &Layout,
    opts: &ImageOptions,
    observe: impl FnMut(&Archived<'_>),
) -> Result<BuiltImage> {
    let media_type = opts.compression.layer_media_type().ok_or_else(|| {
        Error::invalid("--compression", "image layers are gzip or zstd compressed")
    })?;
    let blob = layout.blob_writer()?;
    let tmp = blob.path().to_path_buf();
    let tar_opts = TarOptions {
        dot_prefix: false,
        clamp_mtime: opts.source_date_epoch,
    };
    let ((stats, diff_hex, diff_size), blob) =
        compress_pipelined(opts.compression, blob, &tmp, |chunks| {
            let mut hashed = HashWriter::<_>::new(chunks);
            let stats = write_tree(root, &mut hashed, &tmp, &tar_opts, observe)?;
            let (_, hex, size) = hashed.finish();
            Ok((stats, hex, size))
        })?;
    let (layer_digest, layer_size) = blob.commit()?;
    let layer = Descriptor {
        media_type: media_type.into(),
        digest: layer_digest,
        size: layer_size,
        platform: None,
        annotations: None,
    };
    let diff_id = format!("sha256:{diff_hex}");
    finish_image(layout, opts, layer, diff_id, diff_size, stats)
}

fn finish_image(
    layout: &Layout,
    opts: &ImageOptions,
    layer: Descriptor,
    diff_id: String,
    diff_size: u64,
    stats: TarStats,
) -> Result<BuiltImage> {
    let created = rfc3339(opts.source_date_epoch);
    // Whoever made the options (a plan, `zentoo publish --annotation`), the source is
    // recorded without a credential its URL may hold.
    let redacted = |map: &BTreeMap<String, String>| {
        let mut map = map.clone();
        if let Some(source) = map.get_mut(SOURCE) {
            *source = redact_url(source);
        }
        map
    };
    let config = ImageConfig {
        created: Some(created.clone()),
        architecture: opts.architecture.clone(),
        os: "linux".into(),
        variant: opts.variant.clone(),
        config: RunConfig {
            env: if opts.env.is_empty() {
                vec![DEFAULT_PATH.into()]
            } else {
                opts.env.clone()
            },
            entrypoint: opts.entrypoint.clone(),
            cmd: opts.cmd.clone(),
            working_dir: None,
            user: opts.user.clone(),
            labels: redacted(&opts.labels),
        },
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![diff_id.clone()],
        },
        history: vec![History {
            created: Some(created.clone()),
            created_by: Some("zentoo publish".into()),
        }],
    };
    let config_bytes = to_json(&config)?;
    let (config_digest, config_size) = layout.write_blob(&config_bytes)?;
    let config = Descriptor {
        media_type: CONFIG.into(),
        digest: config_digest,
        size: config_size,
        platform: None,
        annotations: None,
    };
    let mut annotations = redacted(&opts.annotations);
    annotations.entry(CREATED.into()).or_insert(created);
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MANIFEST.into()),
        artifact_type: None,
        config: config.clone(),
        layers: vec![layer.clone()],
        annotations: Some(annotations),
    };
    let manifest_bytes = to_json(&manifest)?;
    let (digest, size) = layout.write_blob(&manifest_bytes)?;
    let desc = Descriptor {
        media_type: MANIFEST.into(),
        digest,
        size,
        platform: Some(opts.platform()),
        annotations: None,
    };
    layout.add_manifest(&desc, opts.ref_name.as_deref())?;
    Ok(BuiltImage {
        manifest: desc,
        manifest_bytes,
        config,
        layer,
        diff_id,
        diff_size,
        stats,
    })
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::invalid("json", e.to_string()))
}

/// Reads back an image from a layout: manifest bytes, manifest and config.
pub fn read_image(
    layout: &Layout,
    ref_name: Option<&str>,
) -> Result<(Vec<u8>, Manifest, ImageConfig)> {
    let desc = layout.resolve(ref_name)?;
    let bytes = layout.read_blob(&desc.digest)?;
    if spec::sha256_digest(&bytes) != desc.digest {
        return Err(Error::invalid(
            &desc.digest,
            "manifest blob does not match its digest",
        ));
    }
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| Error::invalid(&desc.digest, e.to_string()))?;
    let config: ImageConfig =
        serde_json::from_slice(&layout.read_blob(&manifest.config.digest)?)
            .map_err(|e| Error::invalid(&manifest.config.digest, e.to_string()))?;
    Ok((bytes, manifest, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_recorded_without_its_credential() {
        let tmp = tempfile::TempDir::new().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let layout = Layout::create(&tmp.path().join("oci")).unwrap();
        let mut opts = ImageOptions::new("amd64", 1_700_000_000);
        let url = "https://zt-user:zt-pass@git.example/site.git";
        opts.annotations.insert(SOURCE.into(), url.into());
        opts.labels.insert(SOURCE.into(), url.into());
        build_image(&root, &layout, &opts).unwrap();
        let (bytes, manifest, config) = read_image(&layout, None).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("zt-pass"));
        let shown = "https://***@git.example/site.git";
        assert_eq!(manifest.annotations.unwrap()[SOURCE], shown);
        assert_eq!(config.config.labels[SOURCE], shown);
    }
}
