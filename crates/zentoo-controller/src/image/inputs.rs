//! The image's inputs: its spec and the controller's policy checked, its site found and
//! fetched, the image planned at the site's revision (the inputs digest it must be built at).

use super::Run;
use crate::build::plan;
use crate::error::{Error, Result};
use crate::validate;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use std::sync::Arc;
use std::time::Duration;
use zentoo_api::{GentooImage, GentooSite};
use zentoo_core::plan::ImagePlan;

/// What the image is built from.
pub(super) struct Inputs {
    /// The image's site.
    pub site: Arc<GentooSite>,
    /// The image planned at the site's revision.
    pub planned: ImagePlan,
    /// The site's revision.
    pub revision: String,
    /// The revision's commit time.
    pub epoch: i64,
}

impl Inputs {
    /// The inputs digest the image must be built at.
    pub fn desired(&self) -> &str {
        &self.planned.inputs_digest
    }
}

/// Checks the spec and the policy, finds the site and plans the image; records the inputs
/// digest in status (none when the inputs cannot be resolved).
pub(super) async fn resolve(run: &mut Run<'_>) -> Result<Inputs> {
    let image = run.image;
    validate::image(image).map_err(Error::InvalidSpec)?;
    let policy = &run.ctx.settings.policy;
    policy.image(&image.spec).map_err(Error::PolicyDenied)?;
    let (site, revision) = fetched_site(run).await?;
    let cache = run.ctx.site_cache(&run.namespace, &site.name_any());
    let (planned, epoch) = plan(image, &site, run.ctx.clone(), cache, revision.clone()).await?;
    let planned = match planned {
        Ok(p) => p,
        Err(errors) => {
            run.status.inputs_digest = None;
            let shown: Vec<String> = errors.iter().take(5).map(ToString::to_string).collect();
            return Err(Error::InputsInvalid(shown.join("; ")));
        }
    };
    run.status.inputs_digest = Some(planned.inputs_digest.clone());
    // The stage3 the build runs privileged, wherever it came from.
    policy
        .stage3(
            &stage3_field(image, &site, &planned.arch),
            &planned.inputs.spec.stage3,
        )
        .map_err(Error::PolicyDenied)?;
    Ok(Inputs {
        site,
        planned,
        revision,
        epoch,
    })
}

/// The image's site and the revision it fetched, once the policy allows the site and its
/// cache holds the revision.
async fn fetched_site(run: &Run<'_>) -> Result<(Arc<GentooSite>, String)> {
    let caches = run.ctx.caches()?;
    if !caches.ready(Duration::from_secs(30)).await {
        return Err(Error::SiteNotReady(
            "waiting for the controller's caches to fill".into(),
        ));
    }
    let site_name = &run.image.spec.site_ref.name;
    let site = caches
        .sites
        .get(&ObjectRef::<GentooSite>::new(site_name).within(&run.namespace))
        .ok_or_else(|| Error::SiteNotReady(format!("GentooSite {site_name} does not exist")))?;
    // The build mounts the site's Secrets and claims.
    run.ctx
        .settings
        .policy
        .site(&site.spec)
        .map_err(|why| Error::PolicyDenied(format!("GentooSite {site_name}: {why}")))?;
    let revision = site
        .status
        .as_ref()
        .and_then(|s| s.revision.clone())
        .ok_or_else(|| {
            Error::SiteNotReady(format!("GentooSite {site_name} has not been fetched yet"))
        })?;
    if !run.ctx.site_cache(&run.namespace, site_name).exists() {
        return Err(Error::SiteNotReady(format!(
            "GentooSite {site_name} is being fetched"
        )));
    }
    Ok((site, revision))
}

/// The field that chose the stage3 of `image` (of `arch`), for a policy message.
fn stage3_field(image: &GentooImage, site: &GentooSite, arch: &str) -> String {
    if image.spec.stage3.is_some() {
        "spec.stage3".into()
    } else if site.spec.image_defaults.stage3.contains_key(arch) {
        format!(
            "spec.stage3 (unset: GentooSite {}'s spec.imageDefaults.stage3.{arch})",
            site.name_any()
        )
    } else {
        format!("spec.stage3 (unset: the default for {arch})")
    }
}
