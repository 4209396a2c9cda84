//! The CustomResourceDefinitions, generated from the Rust types.

use super::{GentooImage, GentooSite};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// zentoo's CRDs with the file name each is kept under in `crds/`.
pub fn crds() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("gentoosites.zentoo.dev.yaml", GentooSite::crd()),
        ("gentooimages.zentoo.dev.yaml", GentooImage::crd()),
    ]
}

/// One CRD as a YAML document.
pub fn to_yaml(crd: &CustomResourceDefinition) -> anyhow::Result<String> {
    Ok(serde_saphyr::to_string(crd)?)
}
