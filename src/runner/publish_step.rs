//! The publish step of a local build: the assembled target root packed by [`crate::publish`]
//! into an OCI image (loaded into the engine, or pushed) and a stage tarball with its DIGESTS
//! and CONTENTS. CPU-bound packing runs on a blocking thread.

use super::engine::Engine;
use crate::api::build_options::KernelArtifact;
use crate::plan::build::BuildPlan;
use crate::publish::libcheck::check_libraries;
use crate::publish::registry::{Registry, RegistryConfig};
use crate::publish::{
    ImageOptions, Layout, StageOptions, build_image, engine, kernel, write_stage,
};
use anyhow::Context;
use std::path::Path;

/// What to publish.
pub struct PublishRequest<'a> {
    /// The build's plan (publish targets, annotations, arch).
    pub plan: &'a BuildPlan,
    /// The assembled target root.
    pub target_dir: &'a Path,
    /// Where the OCI layout is written (made anew).
    pub layout_dir: &'a Path,
    /// Registry settings when the plan pushes.
    pub registry: &'a RegistryConfig,
    /// Build time (commit time of the site revision).
    pub source_date_epoch: i64,
}

/// What was published.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Image reference.
    pub image: Option<String>,
    /// Manifest digest.
    pub image_digest: Option<String>,
    /// Stage tarball path.
    pub tarball: Option<String>,
    /// Stage tarball digest.
    pub tarball_digest: Option<String>,
    /// The kernel tarball, when the plan has a kernel.
    pub kernel: Option<KernelArtifact>,
}

/// The reference a locally loaded image of `tuple` gets.
pub fn local_reference(tuple: &str) -> String {
    format!("localhost/zentoo/{}:latest", tuple.to_ascii_lowercase())
}

/// Publishes the target root of `request`: pushed to the plan's reference when it has one,
/// else loaded into `engine` as [`local_reference`]; the stage tarball into the plan's dir.
pub async fn publish_target(
    engine: &Engine,
    request: &PublishRequest<'_>,
) -> anyhow::Result<Published> {
    let plan = request.plan.clone();
    let root = request.target_dir.to_path_buf();
    let layout_dir = request.layout_dir.to_path_buf();
    let epoch = request.source_date_epoch;
    let (layout, image, stage, kernel) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            if plan.publish.check_libraries {
                let report = check_libraries(&root)
                    .with_context(|| format!("checking the libraries of {}", root.display()))?;
                if !report.missing.is_empty() {
                    anyhow::bail!(
                        "{} of {} ELF files need libraries that are not in the image:\n{}",
                        report.missing.len(),
                        report.checked,
                        report.summary(20)
                    );
                }
            }
            let kernel = if plan.publish.kernel {
                let dir = match &plan.publish.tarball_dir {
                    Some(dir) => std::path::PathBuf::from(dir),
                    None => layout_dir.with_file_name("kernel"),
                };
                Some(
                    kernel::write_kernel(&root, &dir, &plan.image, epoch)
                        .with_context(|| format!("packing the kernel of {}", root.display()))?,
                )
            } else {
                None
            };
            let _ = std::fs::remove_dir_all(&layout_dir);
            let layout = Layout::create(&layout_dir)?;
            let mut opts = ImageOptions::new(&plan.publish.oci_arch, epoch);
            opts.variant = plan.publish.oci_variant.clone();
            opts.annotations = plan.publish.annotations.clone();
            opts.ref_name = Some("latest".into());
            let image = build_image(&root, &layout, &opts)
                .with_context(|| format!("packing {} into an image", root.display()))?;
            let stage = match &plan.publish.tarball_dir {
                Some(dir) => Some(
                    write_stage(
                        &root,
                        Path::new(dir),
                        &StageOptions::new(&plan.image, epoch),
                    )
                    .with_context(|| format!("packing {} into a stage tarball", root.display()))?,
                ),
                None => None,
            };
            Ok((layout, image, stage, kernel))
        })
        .await??;

    // Everything local is written before anything is pushed, and the image tag goes last:
    // a full disk or a failing registry leaves the image tag where it was.
    let kernel_dir = request.layout_dir.with_file_name("kernel-oci");
    let kernel_layout = match (&kernel, &request.plan.publish.push_image) {
        (Some(k), Some(_)) => {
            let _ = std::fs::remove_dir_all(&kernel_dir);
            Some(kernel::artifact_layout(k, &kernel_dir)?)
        }
        _ => None,
    };
    let mut kernel = kernel.map(|k| {
        let artifact = request
            .plan
            .publish
            .tarball_dir
            .is_some()
            .then(|| k.tarball.tarball.display().to_string());
        KernelArtifact {
            artifact,
            version: k.version,
            digest: k.tarball.sha256,
        }
    });
    let reference = match &request.plan.publish.push_image {
        Some(reference) => {
            let registry = Registry::new(request.registry.clone())?;
            if let (Some(k), Some(layout)) = (kernel.as_mut(), &kernel_layout) {
                let to = kernel::kernel_reference(reference);
                let digest = registry
                    .push_layout(layout, Some(kernel::KERNEL_REF), &to)
                    .await
                    .with_context(|| format!("pushing the kernel to {to}"))?;
                let _ = std::fs::remove_dir_all(&kernel_dir);
                k.artifact.get_or_insert(format!("{to}@{digest}"));
            }
            registry
                .push_layout(&layout, Some("latest"), reference)
                .await
                .with_context(|| format!("pushing {reference}"))?;
            reference.clone()
        }
        None => {
            let reference = local_reference(&request.plan.image);
            engine::load(engine.docker(), &layout, &image, &reference)
                .await
                .with_context(|| format!("loading {reference} into the engine"))?;
            reference
        }
    };
    Ok(Published {
        kernel,
        image: Some(reference),
        image_digest: Some(image.manifest.digest),
        tarball: stage.as_ref().map(|s| s.tarball.display().to_string()),
        tarball_digest: stage.map(|s| s.sha256),
    })
}
