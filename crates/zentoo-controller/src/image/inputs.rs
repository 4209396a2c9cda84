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
    /// The image planned at the site's revision (at a security update's snapshot once
    /// [`security::carry`](super::security::carry) moved it).
    pub planned: ImagePlan,
    /// The repo snapshot the image is pinned to (its own, or the site's default).
    pub pinned: String,
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
        pinned: planned.inputs.spec.repo_snapshot.clone(),
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
    // After a restart the cache starts empty: the site reconciler fetches it again.
    let cache = run.ctx.site_cache(&run.namespace, site_name);
    if !run
        .ctx
        .holds(&cache, &revision, || holds(&cache, &revision))
    {
        return Err(Error::SiteNotReady(format!(
            "GentooSite {site_name} is being fetched"
        )));
    }
    Ok((site, revision))
}

/// True when the site's cache is a repository that has commit `revision`.
fn holds(cache: &std::path::Path, revision: &str) -> bool {
    let Ok(repo) = git2::Repository::open_bare(cache) else {
        return false;
    };
    git2::Oid::from_str(revision).is_ok_and(|id| repo.find_commit(id).is_ok())
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

#[cfg(test)]
mod tests {
    use super::holds;

    #[test]
    fn a_cache_holds_a_revision_only_once_fetched() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let cache = dir.path().join("demo.git");
        let some = "0123456789abcdef0123456789abcdef01234567";
        assert!(!holds(&cache, some), "no cache yet");
        std::fs::create_dir(&cache).expect("mkdir");
        assert!(!holds(&cache, some), "an empty directory");
        let repo = git2::Repository::init_bare(&cache).expect("init");
        assert!(!holds(&cache, some), "a repository without the commit");
        let tree = repo
            .treebuilder(None)
            .and_then(|t| t.write())
            .expect("empty tree");
        let tree = repo.find_tree(tree).expect("tree");
        let who = git2::Signature::now("t", "t@example.org").expect("signature");
        let commit = repo
            .commit(None, &who, &who, "one", &tree, &[])
            .expect("commit");
        assert!(holds(&cache, &commit.to_string()), "fetched");
        assert!(!holds(&cache, "not a revision"));
    }
}
