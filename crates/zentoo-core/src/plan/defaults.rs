//! Defaults for the build-relevant spec fields of images that set none.

use crate::site::inputs::SpecInputs;
use crate::site::options::{KernelSpec, Repairs, Variant};
use std::collections::BTreeMap;

/// Default stage3, ebuild repo snapshot, profile, variant, kernel and repairs for images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecDefaults {
    /// Stage3 image by Gentoo arch; arches not listed use `docker.io/gentoo/stage3:<arch>-openrc`.
    pub stage3: BTreeMap<String, String>,
    /// Ebuild repository snapshot.
    pub repo_snapshot: String,
    /// Portage profile by Gentoo arch; arches not listed use `default/linux/<arch>/23.0`.
    pub profile: BTreeMap<String, String>,
    /// Build variant.
    pub variant: Variant,
    /// Kernel built with every image.
    pub kernel: Option<KernelSpec>,
    /// Repairs after every build.
    pub repairs: Repairs,
}

impl Default for SpecDefaults {
    fn default() -> Self {
        SpecDefaults {
            stage3: BTreeMap::new(),
            repo_snapshot: "latest".into(),
            profile: BTreeMap::new(),
            variant: Variant::default(),
            kernel: None,
            repairs: Repairs::default(),
        }
    }
}

impl SpecDefaults {
    /// The spec fields of an image of `arch` that sets none itself.
    pub fn for_arch(&self, arch: &str) -> SpecInputs {
        SpecInputs {
            stage3: self
                .stage3
                .get(arch)
                .cloned()
                .unwrap_or_else(|| format!("docker.io/gentoo/stage3:{arch}-openrc")),
            repo_snapshot: self.repo_snapshot.clone(),
            profile: self
                .profile
                .get(arch)
                .cloned()
                .unwrap_or_else(|| format!("default/linux/{arch}/23.0")),
            variant: self.variant,
            kernel: self.kernel.clone(),
            repairs: self.repairs.clone(),
        }
    }
}
