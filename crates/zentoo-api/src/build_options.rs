//! Build options shared by a GentooImage's spec and its site's image defaults, and the kernel
//! a build reports. The variant, kernel and repairs types are the planner's own
//! ([`zentoo_core::site::options`]), so the spec and the inputs digest cannot drift apart.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use zentoo_core::site::options::{KernelSpec, Repairs, Variant};

/// `PORTAGE_TMPDIR` on a memory-backed volume (an emptyDir of medium `Memory`; a tmpfs
/// locally). Its pages count against the build container's memory limit.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TmpfsSpec {
    /// Size limit, e.g. `8Gi`.
    pub size: Quantity,
}

/// The kernel a build published.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KernelArtifact {
    /// Where the `kernel-<tuple>-<version>.tar.xz` went (a path, or an OCI reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// The kernel release (the `/lib/modules/<version>` directory name).
    pub version: String,
    /// `sha256:` digest of the tarball.
    pub digest: String,
}
