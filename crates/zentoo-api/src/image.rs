//! `GentooImage`: one image to keep built from a site's git objects.

use super::build_options::{KernelArtifact, KernelSpec, Repairs, TmpfsSpec, Variant};
use super::site::DistccSpec;
use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use zentoo_core::plan::build::StepName;
pub use zentoo_core::plan::result::SecurityUpdate;
use zentoo_core::site::inputs::Inputs;

/// One system to keep built: a portage config, buildhooks and a package set for a cpu, from a
/// site's repository. Sites make one per tuple; users may `kubectl apply` their own.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "zentoo.dev",
    version = "v1alpha1",
    kind = "GentooImage",
    namespaced,
    status = "GentooImageStatus",
    shortname = "gimg",
    category = "zentoo",
    printcolumn = r#"{"name":"Site","type":"string","jsonPath":".spec.siteRef.name"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Digest","type":"string","jsonPath":".status.shortDigest"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Vulnerable","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Vulnerable\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct GentooImageSpec {
    /// The GentooSite (same namespace) whose repository and volumes the build uses.
    pub site_ref: SiteRef,
    /// Portage config name: branch `<portage prefix><portage>`.
    pub portage: String,
    /// Buildhooks name: branch `<buildhooks prefix><buildhooks>`; none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buildhooks: Option<String>,
    /// Package set name: file `sets/<set>` on the site's tracked branch.
    pub set: String,
    /// Cpu profile name from the site's `cpus.yaml` (or `amd64`, `arm64`); default: the
    /// site's default cpu.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Stage3 image builds start from; default from the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage3: Option<String>,
    /// Ebuild repository snapshot; default from the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_snapshot: Option<String>,
    /// Portage profile; default from the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Build variant: `opt` (the cpu profile's flags) or `dbg` (`-Og -g`,
    /// `FEATURES=splitdebug`); default from the site, else `opt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<Variant>,
    /// Kernel built with the image and published as its own artifact; default from the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelSpec>,
    /// Repairs after the build; default from the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repairs: Option<Repairs>,
    /// `PORTAGE_TMPDIR` in memory; default from the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsSpec>,
    /// distcc workers; default from the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distcc: Option<DistccSpec>,
    /// Where results are published.
    #[serde(default)]
    pub publish: PublishSpec,
    /// Start no new builds; a running one finishes.
    #[serde(default)]
    pub suspend: bool,
    /// Builds kept (Jobs and status history).
    #[serde(default = "default_history_limit")]
    #[schemars(default = "default_history_limit", range(min = 1, max = 50))]
    pub history_limit: u32,
    /// Node labels the build pod must match (beside `kubernetes.io/arch`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of the build pod and its distcc workers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Resources of the build step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

fn default_history_limit() -> u32 {
    5
}

/// A GentooSite in the same namespace.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct SiteRef {
    /// The site's name.
    pub name: String,
}

/// Publish targets of an image.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PublishSpec {
    /// OCI reference to push to, e.g. `registry.example.com/zentoo/desktop:latest`; default
    /// `<site registry>/<image name>:latest` when the site names a registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Where the stage tarball goes; default from the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tarball: Option<String>,
}

/// Phase of an image, for `kubectl get`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum Phase {
    /// Nothing decided yet.
    #[default]
    Pending,
    /// A build runs.
    Building,
    /// The last build succeeded and is current.
    Succeeded,
    /// The last build failed.
    Failed,
    /// Suspended by spec.
    Suspended,
}

/// How a build in the history ended. Serialized as its name (`Succeeded`...).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum Ending {
    /// Every step succeeded and the publish step reported what it published.
    #[default]
    Succeeded,
    /// A step failed.
    Failed,
    /// It was stopped for a build of newer inputs.
    Superseded,
    /// Its Job was deleted (not by zentoo) before it finished.
    Deleted,
}

impl Ending {
    /// The name, as in status and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Succeeded => "Succeeded",
            Ending::Failed => "Failed",
            Ending::Superseded => "Superseded",
            Ending::Deleted => "Deleted",
        }
    }
}

/// The phase of a build's pod, as Kubernetes names it.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum PodPhase {
    /// Not scheduled or not started yet (also: no pod yet).
    #[default]
    Pending,
    /// Its containers run.
    Running,
    /// Every container succeeded.
    Succeeded,
    /// A container failed.
    Failed,
    /// The node does not report it.
    Unknown,
}

impl PodPhase {
    /// The phase named `text` in a pod's status; `Unknown` for any other text.
    pub fn parse(text: &str) -> Self {
        match text {
            "Pending" => PodPhase::Pending,
            "Running" => PodPhase::Running,
            "Succeeded" => PodPhase::Succeeded,
            "Failed" => PodPhase::Failed,
            _ => PodPhase::Unknown,
        }
    }
}

/// A running build.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CurrentBuild {
    /// The build Job's name.
    pub name: String,
    /// The inputs digest it builds.
    pub inputs_digest: String,
    /// Its phase: `Pending`, `Running`.
    #[schemars(with = "String")]
    pub phase: PodPhase,
    /// The step running: `materialize`, `build`, `assemble`, `publish`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub step: Option<StepName>,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// Why it was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<BuildCause>,
    /// What it consumes, kept until it finishes: a successful build records them, so that
    /// the next build can say which of them changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Inputs>,
}

/// Why a build was started: `Created` (the image's first build), `InputsChanged` (the message
/// names what changed since the last successful build, as `zentoo plan --against` does),
/// `RebuildRequested` (the `zentoo.dev/rebuild-requested-at` annotation) or `SecurityUpdate`
/// (a GLSA of the site's followed snapshot affected the last build).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct BuildCause {
    /// CamelCase, as a condition reason.
    pub reason: String,
    /// What happened, in words.
    pub message: String,
}

/// What a successful build published.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SuccessfulBuild {
    /// The build Job's name.
    pub name: String,
    /// The inputs digest built.
    pub inputs_digest: String,
    /// The site revision it was planned at.
    pub revision: String,
    /// The image reference pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Its manifest digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// Where the stage tarball went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tarball: Option<String>,
    /// Its sha256 digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tarball_digest: Option<String>,
    /// The kernel it published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelArtifact>,
    /// Packages taken from binpkgs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binpkg_hits: Option<u32>,
    /// Packages compiled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled: Option<u32>,
    /// Layers of the pushed image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<u32>,
    /// Layers the push uploaded (the registry had the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers_uploaded: Option<u32>,
    /// Bytes the push uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_uploaded: Option<u64>,
    /// The SBOM attached to the image (`<repository>@<digest>`, or the digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<String>,
    /// The SLSA provenance attached to the image, as `sbom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<String>,
    /// The key that signed the image and its attestations (`sha256:` of its public key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    /// The GLSA audit of the image against its repo snapshot's advisories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glsa: Option<zentoo_core::plan::result::GlsaResult>,
    /// What it consumed: branch trees, set blobs, cpu profile and spec fields (the next
    /// build's cause names which of them changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Inputs>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
}

/// One finished build, for the history.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildRecord {
    /// The build Job's name.
    pub name: String,
    /// The inputs digest built.
    pub inputs_digest: String,
    /// `Succeeded`, `Failed` or `Superseded`.
    #[schemars(with = "String")]
    pub result: Ending,
    /// The failed step, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub step: Option<StepName>,
    /// What the failed step said (the end of its log), when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Why it was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<BuildCause>,
    /// The image digest it published, when it succeeded (for `zentoo diff` between builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// Packages taken from binpkgs, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binpkg_hits: Option<u32>,
    /// Packages compiled, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled: Option<u32>,
}

/// What zentoo last saw of an image.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GentooImageStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The inputs digest the image should be built at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs_digest: Option<String>,
    /// Summary for `kubectl get`.
    #[serde(default)]
    pub phase: Phase,
    /// The image digest of the last successful build, shortened for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_digest: Option<String>,
    // Boxed, as the next: the controller caches every image, and an absent build then costs
    // a pointer, not the build's size.
    /// The build running now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_build: Option<Box<CurrentBuild>>,
    /// The last build that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_build: Option<Box<SuccessfulBuild>>,
    /// Finished builds, newest first, at most `historyLimit`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<BuildRecord>,
    /// Why the image is built at a newer repo snapshot than its own: the site follows one
    /// (`spec.security.followSnapshot`) whose advisories affected the image's last build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_update: Option<SecurityUpdate>,
    /// The followed snapshot the last successful build was audited against, as
    /// `<snapshot>@<build>`: it is audited once per followed snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_checked: Option<String>,
    /// The `zentoo.dev/rebuild-requested-at` value last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_rebuild: Option<String>,
    /// The `zentoo.dev/reconcile-requested-at` value last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// `Ready`, `Reconciling`, `Stalled` (kstatus).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl GentooImageStatus {
    /// The repository the image is pushed to: the last successful build's reference without
    /// its tag.
    pub fn repository(&self) -> Option<&str> {
        let reference = self.last_successful_build.as_ref()?.image.as_deref()?;
        Some(
            reference
                .rsplit_once(':')
                .filter(|(_, tag)| !tag.contains('/'))
                .map_or(reference, |(repo, _)| repo),
        )
    }

    /// The successful builds of the history that published an image, newest first: each
    /// build's name and its image as `REPOSITORY@DIGEST`.
    pub fn published(&self) -> Vec<(&str, String)> {
        let Some(repo) = self.repository() else {
            return Vec::new();
        };
        self.history
            .iter()
            .filter_map(|h| {
                Some((
                    h.name.as_str(),
                    format!("{repo}@{}", h.image_digest.as_deref()?),
                ))
            })
            .collect()
    }
}
