//! The spec flags `zentoo build` and `zentoo freshroot` share: what a GentooImage's spec or
//! its site's image defaults say in a cluster, here for every tuple built.

use crate::plan::SpecOverrides;
use crate::site::options::{KernelSpec, Repairs, Variant};
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct SpecArgs {
    /// Stage3 image for every arch, e.g. `gentoo/stage3:amd64-openrc-20261101`
    /// (default: docker.io/gentoo/stage3:<arch>-openrc).
    #[arg(long, env = "ZENTOO_STAGE3")]
    pub stage3: Option<String>,
    /// Ebuild repository snapshot: `latest`, a date (`20261101`) or a commit of the repository's
    /// git mirror; synced once into the repo volume and shared (default: latest).
    #[arg(long, env = "ZENTOO_REPO_SNAPSHOT", value_name = "SNAPSHOT")]
    pub repo_snapshot: Option<String>,
    /// Portage profile for every arch (default: default/linux/<arch>/23.0).
    #[arg(long)]
    pub profile: Option<String>,
    /// Build variant: `opt` (the cpu profile's flags) or `dbg` (`-Og -g`, FEATURES=splitdebug).
    #[arg(long, value_name = "opt|dbg")]
    pub variant: Option<Variant>,
    /// Kernel package to build with each image, e.g. `sys-kernel/gentoo-kernel`: published as
    /// `kernel-<tuple>-<version>.tar.xz` beside the stage tarball.
    #[arg(long, value_name = "ATOM")]
    pub kernel: Option<String>,
    /// The kernel's .config, a path in the portage branch (e.g. `kernel/config`).
    #[arg(long, requires = "kernel", value_name = "PATH")]
    pub kernel_config: Option<String>,
    /// Run `emerge @preserved-rebuild` after the build step's emerge.
    #[arg(long)]
    pub preserved_rebuild: bool,
    /// Run `emerge --depclean` in the assembled target root.
    #[arg(long)]
    pub depclean: bool,
    /// Fail the publish step when a library an ELF file needs is not in the image.
    #[arg(long)]
    pub check_libraries: bool,
    /// Put PORTAGE_TMPDIR on a tmpfs of this size (e.g. `8Gi`); not part of the inputs digest.
    #[arg(long, value_name = "SIZE", value_parser = tmpfs_size)]
    pub tmpfs: Option<String>,
}

fn tmpfs_size(s: &str) -> Result<String, String> {
    crate::plan::quantity::bytes(s).map(|_| s.to_string())
}

impl SpecArgs {
    /// The spec fields these flags set.
    pub fn overrides(&self) -> SpecOverrides {
        let repairs = Repairs {
            preserved_rebuild: self.preserved_rebuild,
            depclean: self.depclean,
            check_libraries: self.check_libraries,
        };
        SpecOverrides {
            stage3: self.stage3.clone(),
            repo_snapshot: self.repo_snapshot.clone(),
            profile: self.profile.clone(),
            variant: self.variant,
            kernel: self.kernel.as_ref().map(|package| KernelSpec {
                package: package.clone(),
                config: self.kernel_config.clone(),
            }),
            repairs: (!repairs.is_off()).then_some(repairs),
        }
    }
}
