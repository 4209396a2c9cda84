//! `GentooSite`: a git source and the storage shared by the builds of its tuples.

use super::build_options::{KernelSpec, Repairs, TmpfsSpec, Variant};
use super::duration::{Duration, DurationError};
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use zentoo_core::site::SiteError;

/// A site repository to follow: zentoo fetches it, plans its tuples and keeps one GentooImage
/// per good tuple, owned by the site.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "zentoo.dev",
    version = "v1alpha1",
    kind = "GentooSite",
    namespaced,
    status = "GentooSiteStatus",
    shortname = "gsite",
    category = "zentoo",
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.shortRevision"}"#,
    printcolumn = r#"{"name":"Images","type":"integer","jsonPath":".status.tuples"}"#,
    printcolumn = r#"{"name":"Errors","type":"integer","jsonPath":".status.errorCount"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct GentooSiteSpec {
    /// The git repository holding `tuples`, `sets/`, `cpus.yaml` and the config branches.
    pub source: GitSource,
    /// Prefixes of the portage and buildhooks branches.
    #[serde(default)]
    pub branches: BranchPrefixes,
    /// Volumes shared by all builds of this site.
    #[serde(default)]
    pub storage: SiteStorage,
    /// Settings for the images of this site's tuples.
    #[serde(default)]
    pub image_defaults: ImageDefaults,
    /// How the images of this site are published beyond the push: signatures.
    #[serde(default, skip_serializing_if = "SitePublish::is_empty")]
    pub publish: SitePublish,
    /// Security rebuilds: a newer repo snapshot the images follow for GLSA fixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SiteSecurity>,
    /// Stop fetching and stop starting builds; running builds finish.
    #[serde(default)]
    pub suspend: bool,
}

/// Where a site repository lives and how to reach it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GitSource {
    /// Repository URL: `https://`, `ssh://`, `git://` or `user@host:path`; `file://` or a path
    /// only when the controller runs with `--allow-local-sources`.
    pub url: String,
    /// Branch to track (holding `tuples`, `sets/`, `cpus.yaml`); default: the remote's HEAD.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// How often to look for new commits, as a duration like `5m`, `30s`, `1h`.
    #[serde(default = "default_interval")]
    #[schemars(default = "default_interval")]
    pub interval: Duration,
    /// Secret with credentials: `token` (https), or `identity` and `known_hosts` (ssh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
    /// Secret with the webhook secret under the key `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret_ref: Option<SecretRef>,
    /// Pushes (webhooks, changes of a local repository, fetch requests) within this window
    /// coalesce into one fetch and plan, as a duration like `5s`; `0s` acts on every push.
    /// Default: the controller's `--debounce` (5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debounce: Option<Duration>,
}

fn default_interval() -> Duration {
    Duration::new("5m")
}

/// Shortest poll interval.
pub const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// Longest poll interval (timers of the controller's queue hold about two years at most).
pub const MAX_INTERVAL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// `spec.source.interval` is not a poll interval.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IntervalError {
    /// Not a duration at all.
    #[error(transparent)]
    Parse(#[from] DurationError),
    /// Shorter than [`MIN_INTERVAL`].
    #[error("spec.source.interval: `{text}` is shorter than {}s", MIN_INTERVAL.as_secs())]
    TooShort {
        /// What it holds.
        text: String,
    },
    /// Longer than [`MAX_INTERVAL`].
    #[error(
        "spec.source.interval: `{text}` is longer than {}h (use webhooks to fetch sooner, \
         suspend to stop)",
        MAX_INTERVAL.as_secs() / 3600
    )]
    TooLong {
        /// What it holds.
        text: String,
    },
}

impl GitSource {
    /// The poll interval, within [`MIN_INTERVAL`] and [`MAX_INTERVAL`].
    pub fn interval(&self) -> Result<std::time::Duration, IntervalError> {
        let d = self.interval.get("spec.source.interval")?;
        let shown = || self.interval.as_str().chars().take(200).collect();
        if d < MIN_INTERVAL {
            return Err(IntervalError::TooShort { text: shown() });
        }
        if d > MAX_INTERVAL {
            return Err(IntervalError::TooLong { text: shown() });
        }
        Ok(d)
    }

    /// The debounce window, when the spec sets one.
    pub fn debounce(&self) -> Result<Option<std::time::Duration>, DurationError> {
        self.debounce
            .as_ref()
            .map(|d| d.get("spec.source.debounce"))
            .transpose()
    }
}

/// A Secret in the same namespace.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct SecretRef {
    /// The Secret's name.
    pub name: String,
}

/// Branch name prefixes.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct BranchPrefixes {
    /// Prefix of portage config branches.
    #[serde(default = "default_portage_prefix")]
    #[schemars(default = "default_portage_prefix")]
    pub portage: String,
    /// Prefix of buildhooks branches.
    #[serde(default = "default_buildhooks_prefix")]
    #[schemars(default = "default_buildhooks_prefix")]
    pub buildhooks: String,
}

fn default_portage_prefix() -> String {
    "portage/".into()
}

fn default_buildhooks_prefix() -> String {
    "buildhooks/".into()
}

impl Default for BranchPrefixes {
    fn default() -> Self {
        BranchPrefixes {
            portage: default_portage_prefix(),
            buildhooks: default_buildhooks_prefix(),
        }
    }
}

/// The site's shared volumes.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SiteStorage {
    /// Binary packages (`PKGDIR`), written by builds, read-only when assembling.
    #[serde(default)]
    pub binpkgs: VolumeSpec,
    /// Source archives (`DISTDIR`).
    #[serde(default)]
    pub distfiles: VolumeSpec,
    /// The ebuild repository (`/var/db/repos/gentoo`).
    #[serde(default)]
    pub repo: VolumeSpec,
    /// Sign every binary package builds write to `binpkgs` (GPKG signatures, Portage's
    /// `gpkg-sign`); the assemble step then takes only binpkgs signed by this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binpkg_signing: Option<BinpkgSigning>,
}

/// GPKG signing of the binary packages: a sign step after the build step, where no site code
/// runs, imports the key and signs what the build made.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BinpkgSigning {
    /// Secret with an ASCII-armored OpenPGP private key without passphrase under the key
    /// `key`; mounted into the sign step only (never where hooks run).
    pub secret_ref: SecretRef,
}

/// Publishing settings of a site's images.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SitePublish {
    /// Sign every pushed image, its SBOM and its provenance (cosign's `.sig` and `.att`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<ImageSigning>,
}

impl SitePublish {
    /// Nothing set.
    pub fn is_empty(&self) -> bool {
        self.signing.is_none()
    }
}

/// Security rebuilds of a site's images.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SiteSecurity {
    /// A newer repo snapshot than the images' own (a date, e.g. yesterday's, moved daily; or a
    /// commit of the repository's git mirror). An image whose last build one of its GLSAs
    /// affects is rebuilt at it (status `securityUpdate` says why) and stays on it while its
    /// own snapshot does not change; every other image keeps its snapshot and is not rebuilt.
    /// `latest` cannot be followed: it never moves once synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_snapshot: Option<String>,
}

/// Image signing: the push container, where no site code runs, signs with the key.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageSigning {
    /// Secret with an ECDSA P-256 private key (PKCS#8 PEM, `openssl genpkey -algorithm EC
    /// -pkeyopt ec_paramgen_curve:P-256`) under the key `key`; mounted into the push
    /// container only. Verify with its public key: `cosign verify --key`.
    pub secret_ref: SecretRef,
}

/// A shared volume: an existing claim, or one zentoo creates.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSpec {
    /// Use this PersistentVolumeClaim instead of creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_claim: Option<String>,
    /// Size of the claim zentoo creates (default: 50Gi binpkgs, 50Gi distfiles, 10Gi repo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Quantity>,
    /// Storage class of the claim zentoo creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Access mode of the claim zentoo creates (default `ReadWriteMany`, so builds of
    /// several images on several nodes share it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<String>,
}

/// Settings for the images a site's tuples make; a GentooImage's own spec wins.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageDefaults {
    /// Stage3 image by arch (`amd64`, `arm64`, ...); default `docker.io/gentoo/stage3:<arch>-openrc`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stage3: BTreeMap<String, String>,
    /// Ebuild repository snapshot: `latest`, a date (`20261101`, synced with
    /// `emerge-webrsync --revert`) or a commit of the repository's git mirror. Each is synced
    /// once into its own directory of the repo volume and shared by every build on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_snapshot: Option<String>,
    /// Portage profile by arch; default `default/linux/<arch>/23.0`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profile: BTreeMap<String, String>,
    /// Build variant: `opt` (default) or `dbg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<Variant>,
    /// Kernel built with every image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelSpec>,
    /// Repairs after every build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repairs: Option<Repairs>,
    /// `PORTAGE_TMPDIR` in memory for every build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsSpec>,
    /// Registry prefix images are pushed under, e.g. `registry.example.com/zentoo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Secret of type `kubernetes.io/dockerconfigjson` used to push images; reaches only the
    /// publish step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_secret_ref: Option<SecretRef>,
    /// Where stage tarballs go, e.g. `oci://registry.example.com/zentoo/stages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tarball: Option<String>,
    /// distcc workers for builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distcc: Option<DistccSpec>,
}

/// distcc workers that help a build compile.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DistccSpec {
    /// Worker pods per build, on nodes of the build's arch. 0 disables distcc.
    #[serde(default)]
    #[schemars(range(max = 64))]
    pub workers_per_arch: u32,
    /// Resources of each worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// What zentoo last saw of a site.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GentooSiteStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Commit of the tracked ref last planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// First 12 characters of `revision`, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_revision: Option<String>,
    /// When the remote's refs were last compared with the cache (every poll, push or
    /// request; an `ls-remote`, no download).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked: Option<Time>,
    /// When objects were last downloaded: a ref the site uses (the tracked branch, a portage
    /// or buildhooks branch) had moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fetched: Option<Time>,
    /// sha256 over the branches the site uses and their commits at the last check: it changes
    /// exactly when one of them moves (images plan again when it does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refs_digest: Option<String>,
    /// Good tuples, each with a GentooImage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuples: Option<u32>,
    /// Number of problems in `errors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_count: Option<u32>,
    /// Problems in the site repository, each naming file, line and field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<SiteError>,
    /// The value of the `zentoo.dev/reconcile-requested-at` annotation last acted on: a newer
    /// value makes the site plan its fetched revision again and re-apply its images at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// The value of the `zentoo.dev/fetch-requested-at` annotation last acted on: a newer
    /// value (set by the webhook receiver or `zentoo reconcile site --with-source`) makes
    /// the site check its repository at once, within the debounce window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_fetch_at: Option<String>,
    /// `Ready`, `Reconciling`, `Stalled` (kstatus).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    fn polled(every: &str) -> GitSource {
        GitSource {
            interval: Duration::new(every),
            ..GitSource::default()
        }
    }

    #[test]
    fn intervals_are_bounded() {
        assert_eq!(polled("90s").interval(), Ok(Std::from_secs(90)));
        for bad in [
            "0s",
            "10000000h",
            "18446744073709551615s",
            "five minutes",
            "25h",
        ] {
            let e = polled(bad).interval().unwrap_err();
            assert!(
                e.to_string().starts_with("spec.source.interval: `"),
                "{bad}: {e}"
            );
        }
    }
}
