//! From specs to plan inputs: what a GentooSite and a GentooImage ask the planner for
//! (plan options, branch prefixes, the image request and its tuple name). Pure: no client,
//! no I/O; the reconcilers, the source step and the build read specs only through here.

use kube::ResourceExt;
use zentoo_api::{GentooImage, GentooSite, annotations};
use zentoo_core::plan::{ImageRequest, Limits, PlanOptions, SpecDefaults, SpecOverrides};
use zentoo_core::site::Prefixes;

/// `spec.branches` does not name usable branch prefixes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("spec.branches: {reason}")]
pub struct BranchesError {
    /// What is wrong with them.
    pub reason: String,
}

/// Plan options from a site's image defaults and the controller's limits.
pub fn plan_options(site: &GentooSite, limits: Limits) -> PlanOptions {
    let d = &site.spec.image_defaults;
    let mut defaults = SpecDefaults {
        stage3: d.stage3.clone(),
        profile: d.profile.clone(),
        variant: d.variant.unwrap_or_default(),
        kernel: d.kernel.clone(),
        repairs: d.repairs.clone().unwrap_or_default(),
        ..SpecDefaults::default()
    };
    if let Some(snapshot) = &d.repo_snapshot {
        defaults.repo_snapshot = snapshot.clone();
    }
    PlanOptions { defaults, limits }
}

/// Branch prefixes of a site, checked.
pub fn prefixes(site: &GentooSite) -> Result<Prefixes, BranchesError> {
    let branches = &site.spec.branches;
    Prefixes::new(&branches.portage, &branches.buildhooks)
        .map_err(|reason| BranchesError { reason })
}

/// What an image asks the planner for: its tuple's parts and the spec fields that override
/// the site's defaults (`buildhooks: none` is no buildhooks).
pub fn image_request(image: &GentooImage) -> ImageRequest {
    let spec = &image.spec;
    ImageRequest {
        cpu: spec.cpu.clone(),
        portage: spec.portage.clone(),
        buildhooks: spec.buildhooks.clone().filter(|b| b != "none"),
        set: spec.set.clone(),
        spec: SpecOverrides {
            stage3: spec.stage3.clone(),
            repo_snapshot: spec.repo_snapshot.clone(),
            profile: spec.profile.clone(),
            variant: spec.variant,
            kernel: spec.kernel.clone(),
            repairs: spec.repairs.clone(),
        },
    }
}

/// The tuple an image builds, as the planner names it: the site's annotation on images it
/// made, else the image's name.
pub fn tuple_name(image: &GentooImage) -> String {
    image
        .annotations()
        .get(annotations::TUPLE)
        .cloned()
        .unwrap_or_else(|| image.name_any())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_asks_for_its_tuple_and_overrides() {
        let mut image: GentooImage = serde_json::from_value(serde_json::json!({
            "apiVersion": "zentoo.dev/v1alpha1",
            "kind": "GentooImage",
            "metadata": {"name": "demo-x", "annotations": {annotations::TUPLE: "desktop-none-kde"}},
            "spec": {"siteRef": {"name": "demo"}, "portage": "desktop", "buildhooks": "none",
                     "set": "kde", "stage3": "s3"},
        }))
        .unwrap();
        let request = image_request(&image);
        assert_eq!(
            (
                request.portage.as_str(),
                request.buildhooks,
                request.set.as_str()
            ),
            ("desktop", None, "kde")
        );
        assert_eq!(request.spec.stage3.as_deref(), Some("s3"));
        assert_eq!(tuple_name(&image), "desktop-none-kde");
        image.metadata.annotations = None;
        assert_eq!(tuple_name(&image), "demo-x");
    }

    #[test]
    fn empty_branch_prefixes_name_the_field() {
        let mut site = GentooSite::new("demo", Default::default());
        site.spec.branches.portage = " ".into();
        let e = prefixes(&site).unwrap_err();
        assert!(e.to_string().starts_with("spec.branches: "), "{e}");
    }
}
