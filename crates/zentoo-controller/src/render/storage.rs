//! The site's shared volumes as PersistentVolumeClaims.

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;
use zentoo_api::labels;
use zentoo_api::site::VolumeSpec;

/// The claim name of a site's volume `kind` (`binpkgs`, `distfiles`, `repo`).
pub fn claim_name(site: &str, kind: &str, spec: &VolumeSpec) -> String {
    spec.existing_claim
        .clone()
        .unwrap_or_else(|| format!("{site}-{kind}"))
}

/// The default size of a site's volume `kind`.
pub fn default_size(kind: &str) -> &'static str {
    match kind {
        "repo" => "10Gi",
        _ => "50Gi",
    }
}

/// The claim zentoo creates for volume `kind` of `site`, or `None` when the spec names an
/// existing claim. Owned by the site.
pub fn render_claim(
    site: &str,
    namespace: &str,
    kind: &str,
    spec: &VolumeSpec,
    owner: OwnerReference,
) -> Option<PersistentVolumeClaim> {
    if spec.existing_claim.is_some() {
        return None;
    }
    let size = spec
        .size
        .clone()
        .unwrap_or_else(|| Quantity(default_size(kind).into()));
    Some(PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(claim_name(site, kind, spec)),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([
                (labels::SITE.to_string(), site.to_string()),
                (labels::COMPONENT.to_string(), "storage".to_string()),
                (labels::MANAGED_BY.to_string(), "zentoo".to_string()),
            ])),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec![
                spec.access_mode
                    .clone()
                    .unwrap_or_else(|| "ReadWriteMany".into()),
            ]),
            storage_class_name: spec.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_string(), size)])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    })
}
